"""The SQLite journal: private file, round trip of run state, resume on a fake client."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest
from fake_convert_api import FakeAPI

from zoho_convert.api.errors import AuthenticationError
from zoho_convert.api.models import JobState, JobStatus, ModuleRef
from zoho_convert.bulk.convert import convert_many, resume
from zoho_convert.bulk.events import (
    BatchRead,
    BatchSplit,
    BatchSubmitted,
    BatchUncertain,
    Event,
    IdsRefused,
    IdsRejected,
    JobFinished,
    LongestJob,
    RequestsCounted,
    SubmitStarted,
)
from zoho_convert.bulk.journal import Journal
from zoho_convert.bulk.machine import BatchState, RunMachine
from zoho_convert.bulk.report import RejectedId
from zoho_convert.bulk.settling import SettlePolicy
from zoho_convert.bulk.spec import RunParams
from zoho_convert.bulk.tally import Tally

PARAMS = RunParams(module="Quotes", to=ModuleRef("Sales_Orders", "1"), carry_over_tags=True)


def ids(n: int) -> list[str]:
    return [str(1000 + i) for i in range(n)]


async def test_journal_file_is_private_and_refuses_reuse(tmp_path: Path) -> None:
    """The journal is created 0600 and an existing path is never adopted."""
    path = tmp_path / "run.db"
    journal = await Journal.create(path, PARAMS)
    await journal.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with pytest.raises(FileExistsError):
        await Journal.create(path, PARAMS)


async def test_journal_replays_what_it_recorded(tmp_path: Path) -> None:
    """The events a journal replays rebuild the same report and the same batch states as the
    events the run published (the journal is a subscriber, resume a replay)."""
    status = JobStatus(JobState.COMPLETED, 2, 2, 0, 0)
    events: list[Event] = [
        BatchRead(0, ("1", "2"), 2, 2, 0),
        IdsRefused((RejectedId("x", "INVALID_ID", "m"),)),
        BatchRead(1, ("3", "4", "5"), 6, 5, 1),
        SubmitStarted(0),
        BatchSubmitted(0, 2, "99", False, 10.0),
        JobFinished(0, "99", 2, status, ("1", "2"), False),
        SubmitStarted(1),
        IdsRejected(1, (RejectedId("3", "INVALID_DATA", "bad"),)),
        BatchSplit(1, ((2, ("4", "5")),), False),
        SubmitStarted(2),
        BatchUncertain(2, ("4", "5"), 11.0, True, "lost"),
        LongestJob(3.5),
        RequestsCounted(7),
    ]
    journal = await Journal.create(tmp_path / "j.db", PARAMS)
    for event in events:
        journal.record(event)
    await journal.close()
    opened = await Journal.open(tmp_path / "j.db")
    params, replayed = await opened.load()
    await opened.close()
    assert params == PARAMS

    def fold(stream: list[Event]) -> tuple[Any, dict[int, Any], float]:
        tally, machine = Tally(), RunMachine(SettlePolicy())
        for event in stream:
            machine(event)
            tally(event)
        report = tally.report(module="Quotes", to="Sales_Orders", requests=0, elapsed=0.0)
        states = {seq: (b.state, b.ids, b.settling) for seq, b in machine.batches.items()}
        return report, states, machine.longest_job

    assert fold(replayed) == fold(events)
    report, states, longest = fold(replayed)
    assert report.total == 6 and report.converted == 2 and report.requests == 7
    assert [r.id for r in report.rejected] == ["x", "3"]
    assert states == {2: (BatchState.PARKED, ("4", "5"), True)} and longest == 3.5


async def test_journal_never_holds_the_token(tmp_path: Path) -> None:
    """No credential can reach the journal: it stores parameters and ids only."""
    path = tmp_path / "j.db"
    await convert_many(FakeAPI(), "Quotes", ids(120), to="Sales_Orders", journal=str(path))
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())  # noqa: ASYNC240 (test)
    assert b"oauthtoken" not in raw.lower() and b"secret" not in raw.lower()


async def test_resume_after_run_wide_stop(tmp_path: Path) -> None:
    """A run stopped by a run-wide error resumes from its journal and converts the rest once."""
    path = str(tmp_path / "j.db")
    api = FakeAPI(submit_faults={4: AuthenticationError(401, "AUTHENTICATION_FAILURE", "x")})
    source = ids(1000)
    with pytest.raises(AuthenticationError):
        await convert_many(api, "Quotes", source, to="Sales_Orders", journal=path,
                           max_pending_jobs=3)
    api.submit_faults = {}
    report = await resume(api, path, ids=source)
    assert report.ok, report
    assert report.total == 1000 and report.converted == 1000
    assert not api.converted_twice()
    assert report.accounted_for


async def test_resume_of_batch_caught_mid_submission(tmp_path: Path) -> None:
    """A batch journaled as submitting is resubmitted once; Zoho refuses what it converted."""
    path = str(tmp_path / "j.db")
    api = FakeAPI()
    report = await convert_many(api, "Quotes", ids(100), to="Sales_Orders", journal=path)
    assert report.ok
    # Pretend the process died right after sending batch 1 (reply lost): back to submitting.
    with sqlite3.connect(path) as db:
        db.execute("UPDATE batch SET state='submitting', job_id=NULL, status=NULL WHERE seq=1")
    resumed = await resume(api, path)
    assert not api.converted_twice()
    assert resumed.accounted_for
    assert resumed.converted == 50
    assert resumed.already_converted == 50 and not resumed.rejected
    assert sorted(resumed.already_converted_ids) == ids(100)[50:]
    assert resumed.ok


async def test_resume_polls_submitted_jobs_without_resubmitting(tmp_path: Path) -> None:
    """A batch with a job id is polled on resume, never sent again."""
    path = str(tmp_path / "j.db")
    api = FakeAPI()
    await convert_many(api, "Quotes", ids(100), to="Sales_Orders", journal=path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE batch SET state='submitted', status=NULL WHERE seq=0")
    submits = api.submits
    resumed = await resume(api, path)
    assert api.submits == submits
    assert resumed.ok and resumed.converted == 100
