"""How the driver reports a run that stops: what it publishes, when, and what it raises."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from fake_convert_api import FakeAPI, TimedEvents

from zoho_convert.api.errors import AuthenticationError
from zoho_convert.bulk.convert import convert_many, resume
from zoho_convert.bulk.events import Event, JobFinished, JobUnfinished, RunStopped
from zoho_convert.fleet.errors import FleetUnavailableError


def quote_ids(count: int, first: int = 4000) -> list[str]:
    return [str(first + n) for n in range(count)]


async def test_a_job_whose_poll_stopped_the_run_is_reported_unfinished_at_once() -> None:
    """A refused token on one job's poll stops the run: that job is published unfinished when
    its poll failed (not when the run ends), while the other job is still polled to its end."""
    refused = AuthenticationError(401, "INVALID_TOKEN", "token refused")
    api = FakeAPI(duration=lambda n: 1.0 if n == 0 else 5.0, status_faults={0: refused})
    seen = TimedEvents(api)

    with pytest.raises(AuthenticationError) as stopped:
        await convert_many(api, "Quotes", quote_ids(100), to="Sales_Orders", progress=seen)

    assert all(isinstance(event, Event) for _, event in seen.events)
    kinds = [(type(event), getattr(event, "batch", None)) for _, event in seen.events]
    unfinished = kinds.index((JobUnfinished, 0))
    assert unfinished < kinds.index((JobFinished, 1)) < kinds.index((RunStopped, None))
    assert kinds.count((JobUnfinished, 0)) == 1
    at = seen.events[unfinished][0]
    assert at < 2.0 < seen.events[-1][0]
    report = stopped.value.partial_report  # type: ignore[attr-defined]
    assert report.converted == 50 and sorted(report.unfinished) == quote_ids(50)


async def test_a_completed_run_ends_with_a_bare_run_stopped_event() -> None:
    """The last event of a run that converted everything says nothing went unsent, nothing is
    uncertain, and gives no reason (an empty text, not None)."""
    events: list[Event] = []

    report = await convert_many(
        FakeAPI(), "Quotes", quote_ids(60), to="Sales_Orders", progress=events.append
    )

    assert report.ok
    assert events[-1] == RunStopped((), (), "")
    assert events[-1].reason == ""


@attrs.frozen
class FrozenError(Exception):
    """An exception type that refuses new attributes (a frozen attrs class)."""

    detail: str


async def test_an_error_that_refuses_the_partial_report_is_raised_as_it_is() -> None:
    """The caller's iterable raises an exception that cannot take ``partial_report``: the run
    still stops with that very exception."""

    def source() -> Iterator[str]:
        yield from quote_ids(10)
        raise FrozenError("the export is frozen")

    with pytest.raises(FrozenError) as stopped:
        await convert_many(FakeAPI(), "Quotes", source(), to="Sales_Orders")

    assert stopped.value.detail == "the export is frozen"
    assert not hasattr(stopped.value, "partial_report")


async def test_a_part_refused_with_a_run_wide_error_stops_the_run_at_once() -> None:
    """A batch split in halves: one half's submit is refused with a revoked token while the
    other's reply is still on its way. The run stops there: the refused half, parked as never
    sent, is not sent again meanwhile, and is reported not submitted."""
    ids = quote_ids(54)
    refused = AuthenticationError(401, "INVALID_TOKEN", "token refused")
    api = FakeAPI(invalid={ids[-1]}, hint="none", submit_faults={2: refused})
    api.on_processed = lambda call: api.sleep(1.0) if call.number == 3 else None

    with pytest.raises(AuthenticationError) as stopped:
        await convert_many(api, "Quotes", ids, to="Sales_Orders")

    assert [call.ids for call in api.calls] == [ids[:50], ids[50:], ids[52:], ids[50:52]]
    report = stopped.value.partial_report  # type: ignore[attr-defined]
    assert {(r.id, r.code) for r in report.rejected} == {(i, "NOT_SUBMITTED") for i in ids[52:]}
    assert report.converted == 50 and report.unfinished == tuple(ids[50:52])
    assert not report.uncertain


async def test_a_submission_zoho_processed_then_a_local_error_is_not_reported_never_sent(
    tmp_path: Path,
) -> None:
    """Zoho accepts the second batch (its job runs), then the client raises an error of its
    own (Redis lost while recording the reply's credit headers, ``on_redis_loss="fail"``).
    That batch may have been converted: it must be reported uncertain, not NOT_SUBMITTED, and
    ``resume`` must settle it (converted by this run), not send it as new and report Zoho's
    ID_ALREADY_CONVERTED refusal as a rejection."""
    ids = quote_ids(100, 7_100_000)
    lost = FleetUnavailableError("lost Redis at r:6379", where="r:6379")
    api = FakeAPI(submit_faults_after={1: lost})
    path = str(tmp_path / "run.db")

    with pytest.raises(FleetUnavailableError) as stopped:
        await convert_many(api, "Quotes", ids, to="Sales_Orders", journal=path)

    assert api.calls[1].job_id is not None  # Zoho processed it: its job converts the batch
    report = stopped.value.partial_report  # type: ignore[attr-defined]
    not_submitted = {r.id for r in report.rejected if r.code == "NOT_SUBMITTED"}
    assert not (not_submitted & set(api.calls[1].ids)), "processed ids reported NOT_SUBMITTED"

    api.submit_faults_after = {}
    resumed = await resume(api, path)
    assert not resumed.rejected and not resumed.uncertain
    assert resumed.converted + resumed.already_converted == 100
    assert api.converted_twice() == []
