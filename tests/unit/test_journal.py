"""The SQLite journal: private file, round trip of run state, resume on a fake client."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest
from fake_convert_api import FakeAPI

from zoho_convert.batch import convert_many, resume
from zoho_convert.errors import AuthenticationError
from zoho_convert.journal import Journal, RunParams
from zoho_convert.models import JobState, JobStatus, ModuleRef
from zoho_convert.report import RejectedId

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


async def test_state_round_trip(tmp_path: Path) -> None:
    """Batches, states, job ids, statuses and rejections read back as written."""
    journal = await Journal.create(tmp_path / "j.db", PARAMS)
    journal.add_batch(0, ["1", "2"], position=2, duplicates=0)
    journal.add_batch(1, ["3"], position=4, duplicates=1, rejected=[RejectedId("x", "C", "m")])
    await journal.mark_submitting(0)
    journal.mark_submitted(0, "99")
    journal.mark_finished(0, JobStatus(JobState.COMPLETED, 2, 2, 0, 0))
    await journal.close()
    opened = await Journal.open(tmp_path / "j.db")
    state = await opened.load()
    await opened.close()
    assert state.params == PARAMS
    assert [(b.seq, b.state, b.job_id) for b in state.batches] == [
        (0, "finished", "99"),
        (1, "pending", None),
    ]
    assert state.batches[0].status == JobStatus(JobState.COMPLETED, 2, 2, 0, 0)
    assert state.position == 4 and state.duplicates == 1 and state.local_rejected == 1
    assert state.total_in_batches == 3 and not state.input_complete


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
