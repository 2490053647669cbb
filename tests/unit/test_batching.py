"""convert_many's batching, isolation, settling, stopping and accounting, on a fake client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from fake_convert_api import FakeAPI
from hypothesis import given, settings
from hypothesis import strategies as st

from zoho_convert.api.errors import (
    AuthenticationError,
    InvalidRequestError,
    PermissionDeniedError,
    ServerError,
    TransportError,
)
from zoho_convert.api.ids import id_problem
from zoho_convert.api.polling import PollPolicy
from zoho_convert.bulk.convert import convert_many
from zoho_convert.bulk.events import BatchRead, BatchSubmitted, IdsRefused, IdsRejected, JobFinished
from zoho_convert.bulk.reader import Reader
from zoho_convert.bulk.report import ConversionReport
from zoho_convert.bulk.settling import SettlePolicy


def quote_ids(n: int, start: int = 1000) -> list[str]:
    return [str(start + i) for i in range(n)]


def assert_accounted(report: ConversionReport) -> None:
    assert report.accounted_for, report
    assert (
        report.submitted
        + len(report.rejected)
        + len(report.uncertain)
        + len(report.already_converted_ids)
        == report.total
    )


@pytest.mark.parametrize("size", [0, 51, -1])
async def test_bad_batch_size_refused_before_sending(size: int) -> None:
    """batch_size outside 1..50 raises ValueError before any request."""
    api = FakeAPI()
    with pytest.raises(ValueError, match="batch_size"):
        await convert_many(api, "Quotes", ["1"], to="Sales_Orders", batch_size=size)
    assert api.request_count == 0 and api.module_lookups == 0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"concurrency": 0}, ValueError),
        ({"module": "Deals"}, ValueError),
        ({"to": "Invoices", "module": "Sales_Orders"}, None),
        ({"to": "Quotes"}, ValueError),
        ({"to": None}, ValueError),
        ({"ids": "12345"}, TypeError),
        ({"ids": 12345}, TypeError),
        ({"poll": 3}, TypeError),
    ],
)
async def test_bad_arguments_refused_before_sending(kwargs: dict, error: type | None) -> None:
    """Wrong modules, pairs, concurrency or ids raise before anything is sent."""
    api = FakeAPI()
    args = {"module": "Quotes", "ids": ["1"], "to": "Sales_Orders"} | kwargs
    module, ids = args.pop("module"), args.pop("ids")
    if error is None:
        report = await convert_many(api, module, ids, **args)
        assert report.ok
        return
    with pytest.raises(error):
        await convert_many(api, module, ids, **args)
    assert api.request_count == 0


id_values = st.one_of(
    st.integers(min_value=1, max_value=400).map(str),
    st.integers(min_value=1, max_value=400),
    st.sampled_from(["", "abc", " 12", "-5", "1.5", "1" * 20, None, 1.5, True, 0, -3]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(id_values, max_size=300), st.integers(min_value=1, max_value=50))
def test_every_id_accounted_for(values: list[object], size: int) -> None:
    """Distinct valid ids are submitted exactly once; the report's counts add up."""
    api = FakeAPI()
    report = asyncio.run(
        convert_many(api, "Quotes", values, to="Sales_Orders", batch_size=size)  # type: ignore[arg-type]
    )
    valid = [str(v) for v in values if id_problem(v) is None]
    distinct = set(map(int, valid))
    invalid = len(values) - len(valid)
    submitted = [int(i) for batch in api.submitted_batches for i in batch]
    assert sorted(submitted) == sorted(distinct)
    assert all(len(batch) <= size for batch in api.submitted_batches)
    assert report.total == len(distinct) + invalid
    assert report.duplicates == len(valid) - len(distinct)
    assert report.converted == len(distinct)
    assert len(report.rejected) == invalid
    assert all(r.code == "INVALID_ID" for r in report.rejected)
    assert_accounted(report)
    assert report.ok == (invalid == 0)


async def test_async_iterable_is_read() -> None:
    """ids may come from an async iterable."""

    async def source() -> AsyncIterator[int]:
        for i in range(1000, 1120):
            yield i

    api = FakeAPI()
    report = await convert_many(api, "Quotes", source(), to="Invoices")
    assert report.ok and report.converted == 120 and len(report.jobs) == 3


async def test_ids_are_read_lazily() -> None:
    """A generator is read only as far as the pending-job bound needs, not up front."""
    api = FakeAPI(duration=5.0)
    consumed = 0
    first_submit_seen_at: list[int] = []

    def source() -> Iterator[str]:
        nonlocal consumed
        for value in quote_ids(5000):
            consumed += 1
            if api.submits and not first_submit_seen_at:
                first_submit_seen_at.append(consumed)
            yield value

    report = await convert_many(api, "Quotes", source(), to="Sales_Orders", max_pending_jobs=2)
    assert report.ok and report.converted == 5000
    assert first_submit_seen_at[0] <= 3 * 50 + 1


@pytest.mark.parametrize("hint", ["json_path", "id", "none"])
async def test_offenders_isolated_and_others_convert(hint: str) -> None:
    """Invalid and already converted ids are split out with their codes; the rest convert."""
    ids = quote_ids(120)
    api = FakeAPI(invalid={ids[3], ids[77]}, converted={ids[10], ids[60], ids[119]}, hint=hint)
    report = await convert_many(api, "Quotes", ids, to="Sales_Orders")
    codes = {r.id: r.code for r in report.rejected}
    assert codes == {
        ids[3]: "INVALID_DATA",
        ids[77]: "INVALID_DATA",
        ids[10]: "ID_ALREADY_CONVERTED",
        ids[60]: "ID_ALREADY_CONVERTED",
        ids[119]: "ID_ALREADY_CONVERTED",
    }
    assert report.converted == 115
    assert not api.converted_twice()
    assert_accounted(report)


async def test_error_blaming_the_request_stops_the_run() -> None:
    """INVALID_DATA whose json_path points outside the ids concerns the run: it is raised."""
    bad = InvalidRequestError(400, "INVALID_DATA", "bad module", {"json_path": "$.convert_to"})
    api = FakeAPI(submit_faults={0: bad})
    with pytest.raises(InvalidRequestError) as caught:
        await convert_many(api, "Quotes", quote_ids(60), to="Sales_Orders")
    partial = caught.value.partial_report  # type: ignore[attr-defined]
    assert partial.accounted_for


@pytest.mark.parametrize(
    "error",
    [
        AuthenticationError(401, "AUTHENTICATION_FAILURE", "no"),
        PermissionDeniedError(403, "NO_PERMISSION", "no"),
        InvalidRequestError(400, "INVALID_MODULE", "no"),
    ],
)
async def test_run_wide_error_stops_after_in_flight_work(error: Exception) -> None:
    """A run-wide error is raised once in-flight jobs settled; the partial report adds up."""
    api = FakeAPI(submit_faults={3: error})
    with pytest.raises(type(error)) as caught:
        await convert_many(
            api, "Quotes", quote_ids(2000), to="Sales_Orders", max_pending_jobs=3
        )
    partial = caught.value.partial_report  # type: ignore[attr-defined]
    assert partial.accounted_for
    assert partial.converted == sum(len(b) for b in api.submitted_batches)
    assert not partial.input_complete and not partial.ok
    assert api.submits < 40  # stopped reading early


async def test_error_of_one_split_part_lets_its_siblings_finish() -> None:
    """A run-wide error while polling one part of a split batch: the other parts' jobs finish
    and are reported, and no poller is left running."""
    ids = quote_ids(50)
    api = FakeAPI(
        invalid={ids[7]},
        hint="none",  # no hint: the batch is bisected into several accepted parts
        duration=lambda n: 3.0,
        status_faults={0: AuthenticationError(401, "INVALID_TOKEN", "expired")},
    )
    with pytest.raises(AuthenticationError) as caught:
        await convert_many(api, "Quotes", ids, to="Sales_Orders", poll=PollPolicy(initial=1.0))
    partial = caught.value.partial_report  # type: ignore[attr-defined]
    assert len(api.jobs) > 1
    assert {job.job_id for job in partial.jobs} == set(api.jobs)
    assert partial.accounted_for
    finished = [job for job in partial.jobs if job.status is not None]
    assert len(finished) == len(api.jobs) - 1  # only the poller that met the error stopped
    assert partial.converted == sum(job.size for job in finished)
    await asyncio.sleep(0)
    others = {task for task in asyncio.all_tasks() if task is not asyncio.current_task()}
    assert all(task.done() or task is api.time._driver for task in others)


async def test_lost_reply_settled_by_resubmission() -> None:
    """A processed submission whose reply was lost is resubmitted; its records, refused as
    converted, count as already converted by this run (not rejected); nothing twice."""
    lost = ServerError(500, "INTERNAL_ERROR", "boom", maybe_processed=True)
    api = FakeAPI(submit_faults_after={1: lost})
    report = await convert_many(api, "Quotes", quote_ids(150), to="Sales_Orders")
    assert not api.converted_twice()
    assert report.uncertain == () and report.rejected == ()
    assert report.already_converted == 50
    assert sorted(report.already_converted_ids) == sorted(api.submitted_batches[1])
    assert report.converted == 100
    assert report.ok
    assert_accounted(report)


async def test_unsent_failure_converts_on_settle() -> None:
    """A submission that never reached Zoho converts when resubmitted after the jobs."""
    api = FakeAPI(submit_faults={0: TransportError("reset", sent=True)})
    report = await convert_many(api, "Quotes", quote_ids(100), to="Sales_Orders")
    assert report.ok and report.converted == 100
    assert not api.converted_twice()


async def test_unsettled_stays_uncertain() -> None:
    """If every settling resubmission is uncertain too, the ids end in report.uncertain."""
    faults = {n: TransportError("reset", sent=True) for n in (0, 2, 3)}
    api = FakeAPI(submit_faults=faults)
    report = await convert_many(
        api, "Quotes", quote_ids(100), to="Sales_Orders", settle=SettlePolicy(max_rounds=2)
    )
    assert len(report.uncertain) == 50
    assert report.converted == 50
    assert api.submits == 4  # the first try and two settling rounds
    assert_accounted(report)


async def test_never_finishing_job_is_unfinished() -> None:
    """A job outliving the poll timeout is reported unfinished with its id (virtual time)."""
    api = FakeAPI(never_finish=lambda n: n == 1)
    poll = PollPolicy(initial=1, timeout=60)
    report = await convert_many(api, "Quotes", quote_ids(150), to="Sales_Orders", poll=poll)
    assert len(report.unfinished_jobs) == 1
    job = next(j for j in report.jobs if j.job_id == report.unfinished_jobs[0])
    assert report.unfinished == job.ids
    assert len(job.ids) == 50 and not job.finished
    assert report.converted == 100 and not report.ok
    assert api.time.now >= 60
    assert_accounted(report)


async def test_concurrency_bounds_requests() -> None:
    """A concurrency below the client's limit bounds submissions and polls together."""
    api = FakeAPI(max_concurrency=10)
    report = await convert_many(api, "Quotes", quote_ids(3000), to="Sales_Orders", concurrency=3)
    assert report.ok
    assert api.peak_in_flight <= 3


@pytest.mark.parametrize(("duration", "pending", "limit"), [(1.0, None, 1.1), (2.7, None, 2.0),
                                                           (2.7, 50, 2.0), (0.0, None, 1.1)])
async def test_adaptive_polling_keeps_polls_per_job_low(
    duration: float, pending: int | None, limit: float
) -> None:
    """With steady job durations, polls land when jobs are done: at most ~2 polls per job."""
    api = FakeAPI(duration=duration)
    report = await convert_many(
        api, "Quotes", quote_ids(20000), to="Sales_Orders", max_pending_jobs=pending
    )
    assert report.ok
    assert api.status_calls / len(report.jobs) <= limit


async def test_leads_use_the_leads_api() -> None:
    """module='Leads' goes through the Leads mass-convert calls; to may be None."""
    api = FakeAPI()
    report = await convert_many(api, "Leads", quote_ids(60), to=None, carry_over_tags=True)
    assert report.ok and report.to is None and len(api.lead_calls) == 2
    assert api.lead_calls[0]["carry_over_tags"] == ("Contacts", "Accounts")
    await convert_many(api, "Leads", quote_ids(10, start=5000), to=None)
    assert api.lead_calls[-1]["carry_over_tags"] == ()  # tags are carried over on request only


async def test_progress_events() -> None:
    """Progress gets batch queued/submitted, job finished with counts, and rejections."""
    events: list[object] = []
    api = FakeAPI(invalid={"1003"})
    await convert_many(
        api, "Quotes", [*quote_ids(100), "x"], to="Sales_Orders", progress=events.append
    )
    kinds = {type(e) for e in events}
    assert {BatchRead, BatchSubmitted, JobFinished, IdsRejected, IdsRefused} <= kinds
    finished = [e for e in events if isinstance(e, JobFinished)]
    assert sum(e.status.converted_count for e in finished) == 99


async def test_broken_progress_callback_does_not_break_the_run() -> None:
    """An exception in the progress callable is logged and ignored."""

    def explode(event: object) -> None:
        raise RuntimeError("bar broke")

    report = await convert_many(
        FakeAPI(), "Quotes", quote_ids(60), to="Sales_Orders", progress=explode
    )
    assert report.ok


async def test_cancellation_leaves_no_task_behind() -> None:
    """Cancelling the awaiting task cancels every batch task and poller promptly."""
    api = FakeAPI(duration=50.0)
    before = asyncio.all_tasks()
    task = asyncio.ensure_future(convert_many(api, "Quotes", quote_ids(5000), to="Sales_Orders"))
    for _ in range(200):
        await asyncio.sleep(0)
    assert api.submits > 0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(30):
        await asyncio.sleep(0)
    left = [
        t for t in asyncio.all_tasks() - before
        if not t.done() and "VirtualTime._drive" not in repr(t.get_coro())
    ]
    assert left == []


async def test_iterable_failing_midway_stops_cleanly() -> None:
    """An input that raises midway stops the run with its error; what was sent is accounted."""

    def source() -> Iterator[str]:
        yield from quote_ids(130)
        raise OSError("cursor lost")

    api = FakeAPI()
    with pytest.raises(OSError, match="cursor lost") as caught:
        await convert_many(api, "Quotes", source(), to="Sales_Orders")
    partial = caught.value.partial_report  # type: ignore[attr-defined]
    assert partial.accounted_for and partial.total == 130
    # Batches sent before the input failed convert; the rest is reported not submitted.
    assert partial.converted in (50, 100)
    assert {r.code for r in partial.rejected} == {"NOT_SUBMITTED"}
    assert partial.converted + len(partial.rejected) == 130


@given(
    st.lists(st.integers(min_value=0, max_value=300), max_size=400),
    st.integers(min_value=1, max_value=50),
)
def test_reader_puts_each_distinct_id_in_exactly_one_batch(values: list[int], size: int) -> None:
    """Every distinct valid id lands in exactly one batch, in input order; no batch exceeds
    the size and only the last is short; refused values and repeats are counted."""
    reader = Reader(size)
    batches: list[tuple[str, ...]] = []

    async def dispatch(batch: tuple[str, ...]) -> None:
        batches.append(batch)

    asyncio.run(reader.read([str(v) for v in values], dispatch, lambda: False))
    last = reader.take_partial()
    if last:
        batches.append(last)
    expected = list(dict.fromkeys(str(v) for v in values if v > 0))
    assert [i for batch in batches for i in batch] == expected
    assert all(len(batch) == size for batch in batches[:-1])
    assert all(1 <= len(batch) <= size for batch in batches)
    assert len(reader.refused) == values.count(0)
    assert reader.duplicates == sum(1 for v in values if v > 0) - len(expected)
