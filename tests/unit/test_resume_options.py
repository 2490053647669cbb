"""``resume`` takes ``convert_many``'s run options, checks them before opening the journal, and
reads the rest of an interrupted input without losing the first session's counts."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fake_convert_api import FakeAPI

from zoho_convert import AuthenticationError, BatchRead, BatchSubmitted, Event, SettlePolicy
from zoho_convert.api.credits import LocalCredits
from zoho_convert.bulk.convert import convert_many, resume


def ids(count: int, first: int = 1000) -> list[str]:
    return [str(first + n) for n in range(count)]


async def interrupted(path: Path, source: list[str]) -> FakeAPI:
    """A journaled run stopped by a refused token at its fifth submit, input not all read."""
    api = FakeAPI(submit_faults={4: AuthenticationError(401, "AUTHENTICATION_FAILURE", "x")})
    with pytest.raises(AuthenticationError) as stopped:
        await convert_many(
            api, "Quotes", source, to="Sales_Orders", journal=str(path), max_pending_jobs=3
        )
    assert stopped.value.partial_report.input_complete is False  # type: ignore[attr-defined]
    api.submit_faults = {}
    return api


@pytest.mark.parametrize(
    ("option", "error"),
    [
        ({"concurrency": 0}, ValueError),
        ({"max_pending_jobs": 0}, ValueError),
        ({"settle": {"max_rounds": 1}}, TypeError),
        ({"min_credits": -1}, ValueError),
    ],
)
async def test_bad_options_are_refused_before_the_journal_is_opened(
    tmp_path: Path, option: dict[str, Any], error: type[Exception]
) -> None:
    """A bad limit is the error, not the missing journal: checked before any file is touched."""
    with pytest.raises(error):
        await resume(FakeAPI(), str(tmp_path / "absent.db"), **option)


async def test_the_rest_of_the_input_is_read_with_the_first_sessions_counts(
    tmp_path: Path,
) -> None:
    """Given the same ids again, resume skips what was journaled, counts repeats across both
    sessions as duplicates, and converts every id once; the report covers the whole run."""
    path = tmp_path / "run.db"
    source = ids(1000)
    source[10:10] = ids(5)  # five repeats in the part the first session read
    source.extend(ids(3))  # three repeats, in the unread part, of ids the first session sent
    api = await interrupted(path, source)

    events: list[Event] = []
    report = await resume(api, str(path), ids=source, progress=events.append)

    assert report.total == 1000 and report.converted == 1000 and report.ok
    reads = [event.read for event in events if isinstance(event, BatchRead)]
    assert reads[-1] == 1000  # the reader's count goes on from the first session's
    assert report.duplicates == 8
    assert report.input_complete and report.accounted_for
    assert not api.converted_twice()
    sent = [value for batch in api.submitted_batches for value in batch]
    assert sorted(set(sent)) == ids(1000)


async def test_resume_honours_its_run_options(tmp_path: Path) -> None:
    """concurrency, max_pending_jobs and progress apply to the resumed session."""
    path = tmp_path / "run.db"
    source = ids(1000)
    api = await interrupted(path, source)
    api.peak_in_flight = 0
    first_job = len(api.jobs)
    events: list[Event] = []

    report = await resume(api, str(path), ids=source, max_pending_jobs=1, progress=events.append)

    assert report.ok and report.converted == 1000
    jobs = sorted(list(api.jobs.values())[first_job:], key=lambda job: job.created)
    assert all(b.created >= a.created + a.duration for a, b in itertools.pairwise(jobs))
    submitted = [event for event in events if isinstance(event, BatchSubmitted)]
    assert len(submitted) == len(jobs) > 0


async def test_resume_honours_its_concurrency(tmp_path: Path) -> None:
    """concurrency bounds the resumed session's requests in flight (the client allows 10)."""
    path = tmp_path / "run.db"
    source = ids(1000)
    api = await interrupted(path, source)
    api.peak_in_flight = 0

    report = await resume(api, str(path), ids=source, concurrency=2)

    assert report.ok and api.peak_in_flight == 2


async def test_resume_stops_submitting_below_min_credits(tmp_path: Path) -> None:
    """min_credits applies on resume: with fewer credits left, nothing more is sent and the
    unsent ids are NOT_SUBMITTED."""
    path = tmp_path / "run.db"
    source = ids(1000)
    api = await interrupted(path, source)
    api.credits = LocalCredits()
    await api.credits.record({"X-API-CREDITS-REMAINING": "5"})
    submits = api.submits

    report = await resume(api, str(path), min_credits=10)

    assert api.submits == submits
    assert report.rejected and {item.code for item in report.rejected} == {"NOT_SUBMITTED"}
    assert report.accounted_for


async def test_resume_settles_with_its_settle_policy(tmp_path: Path) -> None:
    """A batch caught mid-submission waits SettlePolicy.min_wait before it is sent again."""
    path = tmp_path / "run.db"
    api = FakeAPI()
    await convert_many(api, "Quotes", ids(100), to="Sales_Orders", journal=str(path))
    with sqlite3.connect(path) as db:
        db.execute("UPDATE batch SET state='submitting', job_id=NULL, status=NULL WHERE seq=1")
    db.close()
    resumed_at = api.now

    report = await resume(api, str(path), settle=SettlePolicy(min_wait=50.0))

    assert report.ok and not api.converted_twice()
    assert api.calls[-1].sent >= resumed_at + 50.0
