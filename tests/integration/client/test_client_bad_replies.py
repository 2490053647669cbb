"""Bad replies over real HTTP: truncated JSON, HTML pages, missing keys, wrong types, unknown
statuses, counts that do not add up, empty ``data``.

Two sources of bad replies: the simulator's corrupting mode (``Faults.corrupt_rate``), and a
scripted server driven by hypothesis that sends whatever a broken proxy or a changed API might.
The parser-level fuzzing lives in ``tests/unit/test_wire.py``; here the whole client is in the
loop: status codes, content types, headers, retries, connections cut mid-body. Every call is
bounded by a timeout: a bad reply must never hang the client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from client_helpers import Scripted, ScriptedServer, StartEnv, VirtualSleep
from fakes import FakeClock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zoho_convert import (
    APIError,
    ConvertedRecord,
    JobNotFoundError,
    JobState,
    JobStatus,
    LeadConversionResult,
    ModuleRef,
    PollPolicy,
    PollTimeoutError,
    RateLimitError,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
    StaticToken,
    TransportError,
    ZohoConvertClient,
    ZohoConvertError,
)
from zoho_convert.simulator import Faults

TIMEOUT = 10.0  # seconds of real time any single call may take before we call it a hang
MAX_TRIES = 2
TARGET = ModuleRef("Sales_Orders", "2423488000000000171")
JOB_ID = "2423488000000626117"

Call = Callable[[ZohoConvertClient], Awaitable[Any]]

# name -> (HTTP method, the call)
CALLS: dict[str, tuple[str, Call]] = {
    "mass_convert_status": ("GET", lambda c: c.mass_convert_status("Quotes", JOB_ID)),
    "mass_convert_leads_status": ("GET", lambda c: c.mass_convert_leads_status(JOB_ID)),
    "module_id": ("GET", lambda c: c.module_id("Sales_Orders")),
    "mass_convert": ("POST", lambda c: c.mass_convert("Quotes", ["1", "2"], to=TARGET)),
    "mass_convert_leads": ("POST", lambda c: c.mass_convert_leads(["1", "2"])),
    "convert": ("POST", lambda c: c.convert("Quotes", "1", to=TARGET)),
    "convert_lead": ("POST", lambda c: c.convert_lead("1")),
}


async def bounded(awaitable: Awaitable[Any]) -> Any:
    """Await with a real-time bound (asyncio.wait_for: the project supports Python 3.10)."""
    return await asyncio.wait_for(awaitable, TIMEOUT)


def scripted_client(server: ScriptedServer, **kwargs: Any) -> ZohoConvertClient:
    """A client for the scripted server, on virtual time, with few tries."""
    clock = FakeClock()
    return ZohoConvertClient(
        StaticToken("1000.scripted-server-token"),
        api_domain=server.url,
        retry=kwargs.pop("retry", RetryPolicy(max_tries=MAX_TRIES, deadline=10_000)),
        sleep=VirtualSleep(clock),
        clock=clock,
        **kwargs,
    )


# -- strategies ---------------------------------------------------------------------------------

COUNT_KEYS = ("total_count", "converted_count", "not_converted_count", "failed_count")
VALID_ROW = {
    "total_count": 10,
    "converted_count": 7,
    "not_converted_count": 2,
    "failed_count": 1,
    "status": "COMPLETED",
}
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["7", "-1", "1e3", " 7", "", "IN PROGRESS", "Completed"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
status_strings = st.one_of(
    st.sampled_from(
        ["COMPLETED", "FAILED", "SCHEDULED", "IN PROGRESS", "in_progress", "Completed", "DONE",
         "SUCCESS", "error", "", "COMPLETED ", "IN-PROGRESS"]
    ),
    st.text(max_size=15),
)


@st.composite
def status_rows(draw: st.DrawFn) -> dict[str, Any]:
    """A status row near the valid one: keys dropped, retyped, renamed; counts off; odd status."""
    row: dict[str, Any] = dict(VALID_ROW)
    if draw(st.booleans()):
        counts = draw(st.lists(st.integers(0, 60), min_size=3, max_size=3))
        row.update(
            converted_count=counts[0], not_converted_count=counts[1], failed_count=counts[2],
            total_count=sum(counts) + draw(st.sampled_from([0, 0, 1, -1, 5])),
        )
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from([*COUNT_KEYS, "status"]))
        action = draw(st.sampled_from(["drop", "retype", "capitalise", "status"]))
        if action == "drop":
            row.pop(key, None)
        elif action == "retype":
            row[key] = draw(json_scalars)
        elif action == "capitalise" and key in row:
            row[key.title()] = row.pop(key)
        else:
            row["status"] = draw(status_strings)
    return row


@st.composite
def json_bodies(draw: st.DrawFn) -> Any:
    """A JSON reply: a (mutated) status envelope, another endpoint's reply, or anything at all."""
    row = draw(status_rows())
    return draw(
        st.sampled_from(
            [
                {"data": [row]},
                {"data": []},
                {"data": row},
                row,
                {"data": [row, row]},
                {"data": [None]},
                {"data": "COMPLETED"},
                {"code": "SCHEDULED", "details": {"job_id": JOB_ID}, "status": "success"},
                {"code": "SCHEDULED", "details": {}, "status": "success"},
                {"code": "SCHEDULED", "details": {"job_id": None}, "status": "success"},
                {"status": "success"},
                {"data": [{"code": "SUCCESS", "details": {"Sales_Orders": {"id": "5"}}}]},
                {"data": [{"code": "SUCCESS", "details": {"Sales_Orders": {"id": 0}}}]},
                {"data": [{"code": "SUCCESS", "details": {"Contacts": None}}]},
                {"data": [{"code": "SUCCESS", "details": []}]},
                {"modules": [{"api_name": "Sales_Orders", "id": "171"}]},
                {"modules": [{"api_name": "Sales_Orders"}]},
                {"modules": {}},
                {"code": "INTERNAL_ERROR", "status": "error"},
                {"code": 42, "status": "error", "message": None, "details": "x"},
                {"data": [{"code": "INVALID_DATA", "status": "error", "details": None}]},
            ]
        )
        | json_values
    )


@st.composite
def replies(draw: st.DrawFn) -> Scripted:
    """One scripted reply: status, content type, body bytes, odd headers, or a cut connection."""
    kind = draw(st.sampled_from(["json", "json", "json", "truncated", "html", "bytes", "cut"]))
    status = draw(
        st.sampled_from([200, 200, 200, 201, 202, 204, 400, 401, 403, 404, 429, 500, 502, 503])
    )
    content_type = draw(st.sampled_from(["application/json", "text/html", "text/plain"]))
    headers: dict[str, str] = {}
    if draw(st.booleans()):
        headers["Retry-After"] = draw(
            st.sampled_from(["1", "0", "-5", "1e309", "nan", "soon", "99999", ""])
            | st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=10)
        )
    if kind == "html":
        body = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    elif kind == "bytes":
        body = draw(st.binary(max_size=64))
    else:
        body = json.dumps(draw(json_bodies())).encode()
        if kind == "truncated" and len(body) > 1:
            body = body[: draw(st.integers(1, len(body) - 1))]
    if kind == "cut":
        return Scripted(status, body, content_type, headers, short=draw(st.booleans()),
                        drop=draw(st.booleans()))
    return Scripted(status, body, content_type, headers)


# -- an independent oracle for status replies ---------------------------------------------------


def _served_row(reply: Scripted) -> dict[str, Any] | None:
    """The status row of a reply in either documented reading: wrapped in ``data`` (the v7
    page) or a bare object (the OpenAPI v8 spec); keys lower-cased."""
    payload = json.loads(reply.body)
    if not isinstance(payload, dict):
        return None
    if "data" in payload:
        rows = payload["data"]
        if not isinstance(rows, list) or not rows or not isinstance(rows[0], dict):
            return None
        payload = rows[0]
    return {str(k).lower(): v for k, v in payload.items()}


def served_status(reply: Scripted) -> JobStatus | None:
    """The status a clean, unambiguous status reply carries; None for anything doubtful."""
    # HTTP 204 has no body by definition: whatever the script wrote is never delivered.
    if reply.drop or reply.short or not 200 <= reply.status < 300 or reply.status == 204:
        return None
    try:
        row = _served_row(reply)
    except ValueError:
        return None
    if row is None:
        return None
    counts = {k: row.get(k) for k in COUNT_KEYS}
    # Every count is optional (Zoho's specs and SDK): missing or null is "not known".
    if row.get("status") == "error" or not all(
        v is None or (type(v) is int and 0 <= v < 2**63) for v in counts.values()
    ):
        return None
    state = {s.value: s for s in JobState}.get(row.get("status"))  # type: ignore[arg-type]
    if state is None:
        return None
    return JobStatus(state, **counts)  # type: ignore[arg-type]


def counts_as_served(reply: Scripted, status: JobStatus) -> bool:
    """Whether every count in ``status`` is literally in the served row (int or digit string),
    and a count the row lacks (or gives as null) is None."""
    row = _served_row(reply)
    assert row is not None
    def same(served: Any, read: int | None) -> bool:
        if isinstance(served, float):  # JSON's one number type: 7.0 is the count 7
            return served == read
        return str(served) == str(read)

    return all(
        (row.get(k) is None and getattr(status, k) is None) or same(row.get(k), getattr(status, k))
        for k in COUNT_KEYS
    )


# -- hypothesis: the whole client against arbitrary replies -------------------------------------


def parses_as_json(reply: Scripted) -> bool:
    """Whether the reply arrives whole, with a 2xx status and a body that is JSON."""
    if reply.drop or reply.short or not 200 <= reply.status < 300:
        return False
    if reply.status == 204:
        return True  # No Content: read as no status (a job Zoho no longer knows)
    if not reply.body.strip():
        return False  # an empty 200 is a reply lost on the way, not No Content
    try:
        json.loads(reply.body)
    except ValueError:
        return False
    return True


def check_outcome(
    name: str, reply: Scripted, server: ScriptedServer, outcome: Any, error: BaseException | None
) -> None:
    """The rules every call must obey, whatever the reply."""
    method, _ = CALLS[name]
    if error is None:
        if name.endswith("_status"):
            assert isinstance(outcome, JobStatus)
            assert counts_as_served(reply, outcome), f"{outcome} is not what the server sent"
        elif name in ("mass_convert", "mass_convert_leads"):
            assert isinstance(outcome, str) and outcome.isdigit()
        elif name == "convert":
            assert isinstance(outcome, ConvertedRecord) and outcome.module == "Sales_Orders"
        elif name == "convert_lead":
            assert isinstance(outcome, LeadConversionResult)
        else:
            assert isinstance(outcome, str) and outcome.isdigit()
        return
    if isinstance(error, ValueError) and name == "module_id":
        assert "does not exist" in str(error)  # a well-formed reply without that module
        return
    assert isinstance(error, ZohoConvertError), f"{type(error).__name__}: {error}"
    assert str(error)
    transient = isinstance(error, (RateLimitError, ServerError, ResponseValidationError,
                                   TransportError))
    if method == "GET" and transient and not parses_as_json(reply):
        # Retried: aiohttp may itself resend a GET once on a dropped keep-alive connection.
        assert MAX_TRIES <= server.requests <= 2 * MAX_TRIES
    elif isinstance(error, ResponseValidationError):
        # JSON of the wrong shape is an answer, not a transient failure: raised at once (the
        # job poller, not the request, tries again later).
        assert server.requests == 1
    elif isinstance(error, RateLimitError):
        assert server.requests == MAX_TRIES  # a 429 is safe to repeat, even for a POST
    elif method == "POST" and not (isinstance(error, TransportError) and not error.sent):
        assert server.requests == 1  # a POST that may have been processed is never repeated
    if method == "POST" and (
        isinstance(error, TransportError)
        or (isinstance(error, ServerError) and error.status >= 500)
    ):
        assert error.maybe_processed


HYPOTHESIS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("name", sorted(CALLS))
@HYPOTHESIS
@given(reply=replies())
async def test_any_reply_gives_a_result_as_served_or_a_clear_error(
    name: str, reply: Scripted
) -> None:
    """Whatever comes back, a call returns what was served or raises a ZohoConvertError."""
    server = ScriptedServer()
    server.reply = reply
    async with server.running(), scripted_client(server) as client:
        try:
            outcome, error = await bounded(CALLS[name][1](client)), None
        except (ZohoConvertError, ValueError, TypeError, KeyError, AttributeError) as exc:
            outcome, error = None, exc
    check_outcome(name, reply, server, outcome, error)


@HYPOTHESIS
@given(reply=replies())
async def test_clean_status_replies_are_never_refused(reply: Scripted) -> None:
    """A clean 2xx status reply is read exactly; the oracle and the client agree both ways."""
    expected = served_status(reply)
    server = ScriptedServer()
    server.reply = reply
    async with server.running(), scripted_client(server) as client:
        try:
            got: JobStatus | None = await bounded(client.mass_convert_status("Quotes", JOB_ID))
        except ZohoConvertError:
            got = None
    if expected is not None:
        assert got == expected
    if got is not None:
        assert counts_as_served(reply, got)


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({**VALID_ROW, "status": "DONE"}, "data[0].status"),
        ({**VALID_ROW, "total_count": "ten"}, "data[0].total_count"),
        ({**VALID_ROW, "total_count": -10, "converted_count": -13}, "data[0].total_count"),
        ({**VALID_ROW, "failed_count": True}, "data[0].failed_count"),
        ({**VALID_ROW, "failed_count": 1.5}, "data[0].failed_count"),
        (None, "data"),
    ],
    ids=["unknown status", "string count", "negative", "bool count", "float count", "data null"],
)
async def test_bad_status_rows_name_the_field(row: dict[str, Any] | None, field: str) -> None:
    """Each bad status row raises ResponseValidationError naming its field, at once. (No row
    at all, ``{"data": []}``, is a job Zoho no longer knows: hunt round 11.)"""
    server = ScriptedServer()
    body = {"data": None if row is None else [row]}
    server.reply = Scripted(200, json.dumps(body).encode())
    async with server.running(), scripted_client(server) as client:
        with pytest.raises(ResponseValidationError) as caught:
            await bounded(client.mass_convert_status("Quotes", JOB_ID))
    assert caught.value.field == field
    assert field in str(caught.value)
    assert server.requests == 1  # a JSON answer of the wrong shape is not retried as transient


async def test_a_status_of_no_row_is_a_job_zoho_no_longer_knows() -> None:
    """``{"data": []}`` (Zoho's "nothing found") raises ``JobNotFoundError``, as a 204 does,
    at once: the run settles the job as lost instead of polling it to the poll timeout."""
    server = ScriptedServer()
    server.reply = Scripted(200, json.dumps({"data": []}).encode())
    async with server.running(), scripted_client(server) as client:
        with pytest.raises(JobNotFoundError):
            await bounded(client.mass_convert_status("Quotes", JOB_ID))
    assert server.requests == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"data": [{**VALID_ROW, "converted_count": 9}]},
            JobStatus(JobState.COMPLETED, 10, 9, 2, 1),
        ),
        (
            {"data": [{k: v for k, v in VALID_ROW.items() if k != "failed_count"}]},
            JobStatus(JobState.COMPLETED, 10, 7, 2, None),
        ),
        (VALID_ROW, JobStatus(JobState.COMPLETED, 10, 7, 2, 1)),
        ({"status": "SCHEDULED"}, JobStatus(JobState.SCHEDULED)),
        (
            {"data": [{"Status": "In Progress", "Total_Count": 4, "Converted_Count": None}]},
            JobStatus(JobState.IN_PROGRESS, 4),
        ),
    ],
    ids=["counts off", "missing count", "bare object", "bare, no counts", "leads keys, null"],
)
async def test_status_replies_in_every_documented_reading_are_read(
    body: dict[str, Any], expected: JobStatus
) -> None:
    """Wrapped or bare, counts missing or not adding up: read as served, in one request."""
    server = ScriptedServer()
    server.reply = Scripted(200, json.dumps(body).encode())
    async with server.running(), scripted_client(server) as client:
        status = await bounded(client.mass_convert_status("Quotes", JOB_ID))
    assert status == expected
    assert status.counts_consistent is (expected == JobStatus(JobState.COMPLETED, 10, 7, 2, 1))
    assert server.requests == 1


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Scripted(200, b'{"data":[{"total_count":10,"conv'), ResponseValidationError),
        (Scripted(200, b"<html>oops</html>", "text/html"), ResponseValidationError),
        (Scripted(502, b"<html>502 Bad Gateway</html>", "text/html"), ServerError),
        (Scripted(503, b""), ServerError),
        (Scripted(200, b'{"data":[{"total_count":10', short=True), TransportError),
        (Scripted(200, b"", drop=True), TransportError),
    ],
    ids=["truncated json", "html 200", "html 502", "empty 503", "cut mid-body", "dropped"],
)
async def test_unreadable_post_reply_is_uncertain_and_not_repeated(
    reply: Scripted, error: type[ZohoConvertError]
) -> None:
    """An unreadable reply to a mass convert is one request, raised as maybe processed."""
    server = ScriptedServer()
    server.reply = reply
    async with server.running(), scripted_client(server) as client:
        with pytest.raises(error) as caught:
            await bounded(client.mass_convert("Quotes", ["1"], to=TARGET))
    assert caught.value.maybe_processed  # type: ignore[attr-defined]
    assert server.requests == 1


@pytest.mark.parametrize("name", ["convert", "convert_lead"])
async def test_unparseable_success_of_a_single_convert_is_maybe_processed(name: str) -> None:
    """A 200 reply to a single convert that lacks its keys may hide a conversion: say so."""
    server = ScriptedServer()
    server.reply = Scripted(200, b'{"status":"success"}')  # the simulator's "missing keys"
    async with server.running(), scripted_client(server) as client:
        with pytest.raises(ResponseValidationError) as caught:
            await bounded(CALLS[name][1](client))
    assert caught.value.maybe_processed


async def test_poller_on_garbage_forever_times_out_instead_of_hanging() -> None:
    """A status endpoint that only ever sends garbage ends in PollTimeoutError (virtual time)."""
    server = ScriptedServer()
    server.reply = Scripted(200, b'{"data":[{"status":"COMPLETED","total_count":"x"}]}')
    async with server.running(), scripted_client(server) as client:
        with pytest.raises(PollTimeoutError) as caught:
            await bounded(
                client.wait_for_job("Quotes", JOB_ID, poll=PollPolicy(initial=1, timeout=300))
            )
    assert caught.value.last_status is None
    assert server.requests >= MAX_TRIES


async def test_final_counts_that_do_not_add_up_make_a_lost_job_settled_by_resubmission() -> None:
    """A final status whose counts don't add up ends its job as lost: not polled again, its
    ids resubmitted; a resubmission answered with the same job id again stays uncertain."""
    polls: list[str] = []

    def route(method: str, path: str) -> Scripted:
        if method == "POST":
            body = {"code": "SCHEDULED", "details": {"job_id": JOB_ID}, "status": "success"}
            return Scripted(202, json.dumps(body).encode())
        polls.append(path)
        row = {**VALID_ROW, "converted_count": 3, "total_count": 3, "failed_count": 0,
               "not_converted_count": 1}
        return Scripted(200, json.dumps({"data": [row]}).encode())

    server = ScriptedServer(route)
    async with server.running(), scripted_client(server) as client:
        report = await bounded(
            client.convert_many(
                "Quotes", ["11", "12", "13"], to=TARGET, poll=PollPolicy(timeout=100)
            )
        )
    assert len(polls) == 1  # a final status is not asked for again
    assert [job.job_id for job in report.lost_jobs] == [JOB_ID]
    assert report.lost_jobs[0].last_status == JobStatus(JobState.COMPLETED, 3, 3, 1, 0)
    # Every resubmission is answered with the job id already held: never trusted.
    assert sorted(report.uncertain) == ["11", "12", "13"]
    assert report.converted == 0 and not report.ok
    assert report.accounted_for


async def test_job_counts_for_more_ids_than_submitted_are_not_trusted() -> None:
    """A COMPLETED status whose total is not the batch size never inflates report.converted."""

    def route(method: str, path: str) -> Scripted:
        if method == "POST":
            body = {"code": "SCHEDULED", "details": {"job_id": JOB_ID}, "status": "success"}
            return Scripted(202, json.dumps(body).encode())
        row = {"total_count": 50, "converted_count": 50, "not_converted_count": 0,
               "failed_count": 0, "status": "COMPLETED"}
        return Scripted(200, json.dumps({"data": [row]}).encode())

    server = ScriptedServer(route)
    async with server.running(), scripted_client(server) as client:
        report = await bounded(client.convert_many("Quotes", ["11", "12", "13"], to=TARGET))
    assert report.accounted_for
    assert report.converted <= report.total


# -- the simulator's corrupting mode ------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["mass_convert_status", "lead_mass_convert_status", "modules"])
async def test_always_corrupt_get_is_retried_then_a_clear_error(
    env: StartEnv, endpoint: str
) -> None:
    """A GET whose every reply is corrupt raises clearly after at most max_tries requests."""
    e = await env(
        retry=RetryPolicy(max_tries=4, deadline=10_000),
        faults=Faults(corrupt_rate=1.0, fault_endpoints=frozenset({endpoint})),
    )
    calls: dict[str, Call] = {
        "mass_convert_status": lambda c: c.mass_convert_status("Quotes", JOB_ID),
        "lead_mass_convert_status": lambda c: c.mass_convert_leads_status(JOB_ID),
        "modules": lambda c: c.module_id("Invoices"),
    }
    with pytest.raises((ResponseValidationError, ServerError)) as caught:
        await bounded(calls[endpoint](e.client))
    assert str(caught.value)
    served = e.sim.state.stats.requests_by_endpoint[endpoint]
    assert 1 <= served <= 4 and e.sim.state.stats.corrupted == served
    # Unreadable replies (truncated JSON, HTML) were retried; the last one is what was raised.
    assert served == 4 or isinstance(caught.value, ResponseValidationError)


@pytest.mark.parametrize("after", [False, True])
@pytest.mark.parametrize("endpoint", ["mass_convert", "lead_mass_convert"])
async def test_corrupt_mass_convert_reply_is_uncertain(
    env: StartEnv, endpoint: str, after: bool
) -> None:
    """A corrupt mass-convert reply: one request, maybe_processed; a job exists iff it ran."""
    e = await env(
        faults=Faults(
            corrupt_rate=1.0, fault_endpoints=frozenset({endpoint}), fault_after_processing=after
        )
    )
    for attempt in range(6):  # several draws, to meet each corruption flavour
        module = "Leads" if endpoint == "lead_mass_convert" else "Quotes"
        ids = e.sim.state.create_records(module, 3)
        with pytest.raises((ResponseValidationError, ServerError)) as caught:
            if module == "Leads":
                await bounded(e.client.mass_convert_leads(ids))
            else:
                await bounded(e.client.mass_convert("Quotes", ids, to="Sales_Orders"))
        assert caught.value.maybe_processed
        assert e.sim.state.stats.requests_by_endpoint[endpoint] == attempt + 1
    assert len(e.sim.state.jobs) == (6 if after else 0)


async def test_corrupt_single_convert_after_processing_is_flagged_when_readable(
    env: StartEnv,
) -> None:
    """Corrupt single converts after processing: each raises clearly; the records converted."""
    e = await env(
        faults=Faults(
            corrupt_rate=1.0, fault_endpoints=frozenset({"convert"}), fault_after_processing=True
        )
    )
    ids = e.sim.state.create_records("Quotes", 8)
    for record in ids:
        with pytest.raises((ResponseValidationError, ServerError)):
            await bounded(e.client.convert("Quotes", record, to="Sales_Orders"))
    assert e.converted("Quotes") == set(ids)
    assert e.sim.state.stats.requests_by_endpoint["convert"] == 8  # never repeated


async def _convert_many_under(e: Any, module: str) -> Any:
    """Run convert_many on 400 fresh records; return the report (partial if the run stopped)."""
    ids = e.sim.state.create_records(module, 400)
    try:
        report = await bounded(
            e.client.convert_many(
                module, ids, to=None if module == "Leads" else "Sales_Orders", batch_size=20,
                poll=PollPolicy(initial=1.0, timeout=3_000),
            )
        )
    except ZohoConvertError as stopped:
        # A corrupted 4xx carries no Zoho code we know, so the run may stop on it (cleanly).
        assert isinstance(stopped, APIError) and stopped.code.startswith("HTTP_4")
        report = stopped.partial_report  # type: ignore[attr-defined]
    assert e.sim.state.stats.corrupted > 0
    assert report.accounted_for and report.total == 400
    assert all(e.times_converted(module, i) <= 1 for i in ids)
    # Counts come from the jobs as the simulator ran them: never more than it converted.
    for job in report.jobs:
        assert job.status is not None
        truth = e.sim.state.jobs[job.job_id].snapshot(e.clock())
        assert (job.status.total_count, job.status.converted_count) == (
            truth.total,
            truth.converted,
        )
    assert report.converted <= len(e.converted(module))
    return report


@pytest.mark.parametrize("module", ["Quotes", "Leads"])
async def test_convert_many_under_corruption_accounts_for_every_id(
    env: StartEnv, module: str
) -> None:
    """convert_many with 25% corrupt replies: every id accounted for, counts equal the ledger."""
    e = await env(
        retry=RetryPolicy(max_tries=8, deadline=100_000),
        job_duration=3.0,
        faults=Faults(corrupt_rate=0.25),
    )
    report = await _convert_many_under(e, module)
    assert report.converted == len(e.converted(module))
    assert not {r.id for r in report.rejected} & e.converted(module)


@pytest.mark.parametrize("module", ["Quotes", "Leads"])
async def test_convert_many_under_corruption_after_processing_never_overcounts(
    env: StartEnv, module: str
) -> None:
    """Corrupt replies after processing (lost job ids): accounted for, never over-counted."""
    e = await env(
        retry=RetryPolicy(max_tries=8, deadline=100_000),
        job_duration=3.0,
        faults=Faults(corrupt_rate=0.25, fault_after_processing=True),
    )
    report = await _convert_many_under(e, module)
    ledger = e.converted(module)
    settled = set(report.already_converted_ids)
    assert settled and settled <= ledger  # lost jobs' records, found by settling
    assert not any(r.code == "ID_ALREADY_CONVERTED" for r in report.rejected)


async def test_uncertain_batch_stopped_while_settling_stays_uncertain() -> None:
    """A batch whose first send was lost, then refused run-wide on resend, is uncertain."""
    posts: list[str] = []

    def route(method: str, path: str) -> Scripted:
        posts.append(method)
        if len(posts) == 1:
            return Scripted(drop=True)  # the first submission may have been processed
        body = {"code": "INVALID_TOKEN", "status": "error", "message": "invalid oauth token"}
        return Scripted(401, json.dumps(body).encode())

    ids = ["11", "12", "13", "14", "15"]
    server = ScriptedServer(route)
    async with server.running(), scripted_client(server) as client:
        with pytest.raises(APIError) as caught:
            await bounded(client.convert_many("Quotes", ids, to=TARGET))
    report = caught.value.partial_report  # type: ignore[attr-defined]
    assert posts == ["POST", "POST"]
    assert report.accounted_for
    assert sorted(report.uncertain) == ids
    assert not report.rejected
