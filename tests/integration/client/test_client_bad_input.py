"""Bad input against a real simulator: every way a caller can get it wrong.

Each mistake either raises a clear error before anything reaches the server (the simulator's
``requests_served`` stays 0), or, for ids inside a ``convert_many`` stream, is reported as
rejected (``INVALID_ID``) while the good ids convert (the issue-4 contract). An id source that
fails midway stops the run cleanly, with what was submitted accounted for.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from client_helpers import Env, StartEnv

from zoho_convert import (
    DealDetails,
    InvalidIdError,
    InvalidRequestError,
    LeadConversion,
    ModuleRef,
    PollPolicy,
    ZohoConvertClient,
)

TIMEOUT = 20.0

Call = Callable[[ZohoConvertClient, Env], Awaitable[Any]]


def many(ids: Any = ("2423488000000625004",), module: str = "Quotes", **kw: Any) -> Call:
    """convert_many with the given arguments (target Sales_Orders unless given)."""
    kw.setdefault("to", None if module == "Leads" else "Sales_Orders")
    return lambda client, _: client.convert_many(module, ids, **kw)


def poll_policy(**kw: Any) -> Call:
    """Build a PollPolicy (that is where a bad interval is caught) and pass it to convert_many."""
    return lambda client, _: client.convert_many(
        "Quotes", ["1"], to="Sales_Orders", poll=PollPolicy(**kw)
    )


def mass(ids: Any, **kw: Any) -> Call:
    kw.setdefault("to", "Sales_Orders")
    return lambda client, _: client.mass_convert("Quotes", ids, **kw)


# name, call, error: each must raise before the simulator sees a single request.
RAISES: list[tuple[str, Call, type[Exception]]] = [
    # convert_many: arguments
    ("many: unknown module", many(module="Widgets"), ValueError),
    ("many: lowercase module", many(module="quotes"), ValueError),
    ("many: Invoices as source", many(module="Invoices", to="Sales_Orders"), ValueError),
    ("many: Quotes -> Quotes", many(to="Quotes"), ValueError),
    ("many: Sales_Orders -> Quotes", many(module="Sales_Orders", to="Quotes"), ValueError),
    ("many: Sales_Orders -> Sales_Orders", many(module="Sales_Orders", to="Sales_Orders"),
     ValueError),
    ("many: unknown target", many(to="Widgets"), ValueError),
    ("many: ModuleRef of a wrong target", many(to=ModuleRef("Quotes", "1")), ValueError),
    ("many: no target", many(to=None), ValueError),
    ("many: batch_size 0", many(batch_size=0), ValueError),
    ("many: batch_size 51", many(batch_size=51), ValueError),
    ("many: batch_size negative", many(batch_size=-1), ValueError),
    ("many: batch_size float", many(batch_size=10.0), TypeError),
    ("many: batch_size bool", many(batch_size=True), TypeError),
    ("many: concurrency 0", many(concurrency=0), ValueError),
    ("many: concurrency negative", many(concurrency=-3), ValueError),
    ("many: concurrency bool", many(concurrency=True), ValueError),
    ("many: max_pending_jobs 0", many(max_pending_jobs=0), ValueError),
    ("many: poll not a policy", many(poll=5.0), TypeError),
    ("many: poll initial negative", poll_policy(initial=-1.0), ValueError),
    ("many: poll initial 0", poll_policy(initial=0.0), ValueError),
    ("many: poll max_interval negative", poll_policy(max_interval=-5.0), ValueError),
    ("many: poll timeout negative", poll_policy(timeout=-1.0), ValueError),
    ("many: poll multiplier below 1", poll_policy(multiplier=0.5), ValueError),
    ("many: poll initial NaN", poll_policy(initial=float("nan")), ValueError),
    ("many: ids a bare string", many(ids="2423488000000625004"), TypeError),
    ("many: ids a bare int", many(ids=2423488000000625004), TypeError),
    ("many: ids bytes", many(ids=b"2423488000000625004"), TypeError),
    ("many: ids None", many(ids=None), TypeError),
    ("many: ids not iterable", many(ids=object()), TypeError),
    ("many: carry_over_tags a string", many(carry_over_tags="yes"), TypeError),
    ("many: deals for Quotes", many(deals=DealDetails("d", "2030-01-01", "s", "p")), ValueError),
    ("many: move_attachments_to for Quotes", many(move_attachments_to="Deals"), ValueError),
    # the endpoint methods, over a real server this time
    ("mass: no ids", mass([]), ValueError),
    ("mass: 51 ids", mass([str(n) for n in range(1, 52)]), ValueError),
    ("mass: None id", mass([None]), TypeError),
    ("mass: float id", mass([2423488000000625004.0]), TypeError),
    ("mass: bool id", mass([True]), TypeError),
    ("mass: negative id", mass([-7]), InvalidIdError),
    ("mass: zero", mass([0]), InvalidIdError),
    ("mass: whitespace", mass([" 2423488000000625004"]), InvalidIdError),
    ("mass: inner whitespace", mass(["2423488 000000625004"]), InvalidIdError),
    ("mass: 20 digits", mass(["12345678901234567890"]), InvalidIdError),
    ("mass: past a long", mass(["9999999999999999999"]), InvalidIdError),
    ("mass: non-ascii digits", mass(["١٢٣"]), InvalidIdError),
    ("mass: ids a bare string", mass("2423488000000625004"), TypeError),
    ("mass: Quotes -> Quotes", mass(["1"], to="Quotes"), ValueError),
    ("mass: bad assign_to", mass(["1"], assign_to="bob"), InvalidIdError),
    ("mass: related module a str", mass(["1"], related_modules=["Calls"]), TypeError),
    ("convert: bad record id", lambda c, _: c.convert("Quotes", "12a", to="Invoices"),
     InvalidIdError),
    ("convert: None record id", lambda c, _: c.convert("Quotes", None, to="Invoices"), TypeError),
    ("convert: bad pair", lambda c, _: c.convert("Sales_Orders", "1", to="Quotes"), ValueError),
    ("status: Leads module", lambda c, _: c.mass_convert_status("Leads", "1"), ValueError),
    ("status: job id with a space", lambda c, _: c.mass_convert_status("Quotes", "1 2"),
     InvalidIdError),
    ("status: float job id", lambda c, _: c.mass_convert_leads_status(1.0), TypeError),
    ("wait: unknown module", lambda c, _: c.wait_for_job("Invoices", "1"), ValueError),
    ("lead: negative id", lambda c, _: c.convert_lead(-1), InvalidIdError),
    ("lead: options a dict", lambda c, _: c.convert_lead("1", {"overwrite": True}), TypeError),
    ("lead: bad account id", lambda c, _: c.convert_lead("1", LeadConversion(accounts="acme")),
     InvalidIdError),
    ("lead: move to Leads",
     lambda c, _: c.convert_lead("1", LeadConversion(move_attachments_to="Leads")), ValueError),
    ("leads mass: 51 ids", lambda c, _: c.mass_convert_leads(range(1, 52)), ValueError),
    ("leads mass: bad tags", lambda c, _: c.mass_convert_leads(["1"], carry_over_tags=["Leads"]),
     ValueError),
]


@pytest.mark.parametrize(
    ("call", "error"), [(c, e) for _, c, e in RAISES], ids=[n for n, _, _ in RAISES]
)
async def test_bad_input_raises_before_any_request(
    env: StartEnv, call: Call, error: type[Exception]
) -> None:
    """The mistake raises a clear error and the simulator never sees a request."""
    e = await env()
    with pytest.raises(error) as caught:
        await asyncio.wait_for(call(e.client, e), TIMEOUT)
    assert str(caught.value)
    assert e.sim.state.stats.requests_served == 0


LATE: list[tuple[str, dict[str, Any], type[Exception]]] = [
    ("journal path exists", {"journal": "EXISTING"}, FileExistsError),
    ("assign_to not an id", {"assign_to": "bob"}, ValueError),
    ("related module a str", {"related_modules": ["Calls"]}, TypeError),
]


@pytest.mark.parametrize(
    ("kwargs", "error"), [(k, e) for _, k, e in LATE], ids=[n for n, _, _ in LATE]
)
async def test_bad_run_options_raise_before_the_module_lookup(
    env: StartEnv, tmp_path: Any, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    """A bad journal path, assign_to or related module raises before any request."""
    if kwargs.get("journal") == "EXISTING":
        existing = tmp_path / "run.journal"
        existing.write_bytes(b"someone else's file")
        kwargs = {"journal": str(existing)}
    e = await env()
    with pytest.raises(error):
        await asyncio.wait_for(
            e.client.convert_many("Quotes", ["2423488000000625004"], to="Sales_Orders", **kwargs),
            TIMEOUT,
        )
    assert e.sim.state.stats.requests_served == 0


async def test_bad_run_options_never_convert_anything(env: StartEnv, tmp_path: Any) -> None:
    """A bad journal path, assign_to or related module raises and converts nothing."""
    existing = tmp_path / "run.journal"
    existing.write_bytes(b"someone else's file")
    e = await env()
    ids = e.sim.state.create_records("Quotes", 3)
    for kwargs, error in (
        ({"journal": str(existing)}, FileExistsError),
        ({"assign_to": "bob"}, ValueError),
        ({"related_modules": ["Calls"]}, TypeError),
    ):
        with pytest.raises(error):
            await asyncio.wait_for(
                e.client.convert_many("Quotes", ids, to="Sales_Orders", **kwargs), TIMEOUT
            )
    assert existing.read_bytes() == b"someone else's file"
    assert e.sim.state.stats.requests_by_endpoint["mass_convert"] == 0
    assert e.converted("Quotes") == set()


# -- bad ids inside a convert_many stream: reported, not sent, and the rest converts -------------

BAD_IDS: list[tuple[str, Any]] = [
    ("None", None),
    ("float", 2423488000000625004.0),
    ("small float", 1.5),
    ("bool", True),
    ("bytes", b"2423488000000625004"),
    ("negative int", -5),
    ("zero", 0),
    ("negative string", "-5"),
    ("empty string", ""),
    ("spaces only", "   "),
    ("leading space", " 2423488000000625004"),
    ("trailing newline", "2423488000000625004\n"),
    ("inner space", "2423488 000000625004"),
    ("letters", "abc"),
    ("hex", "0x1F"),
    ("exponent", "1e18"),
    ("20 digits", "12345678901234567890"),
    ("past a long", "9999999999999999999"),
    ("int past a long", 2**63),
    ("non-ascii digits", "١٢٣"),
    ("a list", ["2423488000000625004"]),
    ("a dict", {"id": "2423488000000625004"}),
]


@pytest.mark.parametrize("source", ["list", "generator", "async generator"])
async def test_bad_ids_in_a_stream_are_rejected_and_the_rest_converts(
    env: StartEnv, source: str
) -> None:
    """Each bad id is reported INVALID_ID (never sent); the good ids convert; all accounted."""
    e = await env()
    good = e.sim.state.create_records("Quotes", 60)
    mixed: list[Any] = []
    for index, (_, bad) in enumerate(BAD_IDS):
        mixed.extend([good[index], bad])
    mixed.extend(good[len(BAD_IDS):])

    ids: Any = mixed
    if source == "generator":
        ids = iter(mixed)
    elif source == "async generator":

        async def agen() -> AsyncIterator[Any]:
            for value in mixed:
                yield value

        ids = agen()
    report = await asyncio.wait_for(
        e.client.convert_many("Quotes", ids, to="Sales_Orders", poll=PollPolicy(initial=1)),
        TIMEOUT,
    )
    assert report.accounted_for
    assert report.total == 60 + len(BAD_IDS)
    assert report.converted == 60 and e.converted("Quotes") == set(good)
    assert len(report.rejected) == len(BAD_IDS)
    assert {r.code for r in report.rejected} == {"INVALID_ID"}
    assert all(r.message for r in report.rejected)
    assert e.sim.state.stats.requests_by_endpoint["mass_convert"] == 2  # 60 good ids, 2 batches


async def test_duplicate_ids_are_sent_once_and_counted(env: StartEnv) -> None:
    """The same id as str, as int and repeated is submitted once; each repeat is counted."""
    e = await env()
    ids = e.sim.state.create_records("Quotes", 5)
    stream = [*ids, ids[0], int(ids[0]), ids[1], int(ids[4])]
    report = await asyncio.wait_for(
        e.client.convert_many("Quotes", stream, to="Sales_Orders"), TIMEOUT
    )
    assert report.ok and report.total == 5 and report.duplicates == 4
    assert report.converted == 5
    assert e.sim.state.stats.duplicate_attempts == 0  # nothing was sent twice


@pytest.mark.parametrize("source", ["list", "generator", "async generator"])
async def test_empty_input_sends_nothing(env: StartEnv, source: str) -> None:
    """No ids: an empty report, and (with a ModuleRef target) not a single request."""
    e = await env()

    async def agen() -> AsyncIterator[str]:
        for value in ():
            yield value

    ids: Any = {"list": [], "generator": iter(()), "async generator": agen()}[source]
    target = ModuleRef("Sales_Orders", e.module_id("Sales_Orders"))
    report = await asyncio.wait_for(e.client.convert_many("Quotes", ids, to=target), TIMEOUT)
    assert (report.total, report.converted, report.jobs, report.rejected) == (0, 0, (), ())
    assert report.accounted_for
    assert e.sim.state.stats.requests_served == 0


@pytest.mark.parametrize("source", ["generator", "async generator"])
async def test_id_source_failing_midway_stops_cleanly(env: StartEnv, source: str) -> None:
    """An id source raising midway: the run raises that error; what was read is accounted for."""
    e = await env(job_duration=5.0)
    ids = e.sim.state.create_records("Quotes", 130)

    class SourceBroke(Exception):
        pass

    def gen() -> Iterator[str]:
        yield from ids
        raise SourceBroke("the export file is truncated")

    async def agen() -> AsyncIterator[str]:
        for value in ids:
            yield value
        raise SourceBroke("the export file is truncated")

    source_ids: Any = gen() if source == "generator" else agen()
    with pytest.raises(SourceBroke) as caught:
        await asyncio.wait_for(
            e.client.convert_many(
                "Quotes", source_ids, to="Sales_Orders", poll=PollPolicy(initial=1)
            ),
            TIMEOUT,
        )
    report = caught.value.partial_report  # type: ignore[attr-defined]
    assert report.total == 130 and report.accounted_for
    assert not report.input_complete and not report.ok
    not_sent = {r.id for r in report.rejected if r.code == "NOT_SUBMITTED"}
    assert len(not_sent) + report.submitted == 130
    assert not_sent  # the last, partial batch was never sent
    # The jobs that were submitted finished and are counted; nothing else was converted.
    assert report.converted == len(e.converted("Quotes")) == report.submitted
    assert not not_sent & e.converted("Quotes")
    await asyncio.sleep(0)
    assert not [
        t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()
        and "convert" in repr(t.get_coro())
    ]


@pytest.mark.parametrize("reply", ["204", "invalid_module"])
async def test_unknown_module_name_for_module_id_is_a_clear_error(
    env: StartEnv, reply: str
) -> None:
    """A target the org does not have (204 as in the OpenAPI v8 spec, or INVALID_MODULE) is
    a clear error that names the module, before any conversion is sent."""
    e = await env(unknown_module_reply=reply)
    with pytest.raises((ValueError, InvalidRequestError)) as caught:
        await asyncio.wait_for(e.client.module_id("Widgets"), TIMEOUT)
    if reply == "204":
        assert "'Widgets' does not exist" in str(caught.value)
    else:
        assert "INVALID_MODULE" in str(caught.value)
    assert e.sim.state.stats.requests_by_endpoint["mass_convert"] == 0
