"""A job id Zoho gave to two batches makes every batch then polled suspect (its job's counts
may be another batch's). That doubt must outlive the session: a resumed run that polls such a
batch's job again checks a job with failures record by record instead of reporting them.

The machine is fed the events a run would publish (times are plain numbers); the journal is
a real SQLite file.
"""

from __future__ import annotations

from pathlib import Path

from lost_job_feed import apply, journal_round_trip
from test_queued_jobs import PARAMS, POLICY, ids, sent

from zoho_convert.api.models import JobState, JobStatus
from zoho_convert.bulk.events import BatchRead, BatchUncertain, JobFinished, SubmitStarted
from zoho_convert.bulk.machine import RunMachine

FAILURES = JobStatus(JobState.COMPLETED, 10, 7, 0, 3)


def duplicate_of_job0(machine: RunMachine) -> BatchUncertain:
    """Batch 1 answered with batch 0's job id."""
    apply(machine, [BatchRead(1, ids(1), 20, 20, 0), SubmitStarted(1)])
    event = machine.accepted(1, ids(1), "job0", settling=False, sent_at=2.0, answered=2.1)
    assert isinstance(event, BatchUncertain)
    return event


def test_the_duplicate_names_the_batches_it_makes_suspect_and_folding_it_marks_them() -> None:
    machine = RunMachine(POLICY)
    apply(machine, sent(0, 0.0))
    event = duplicate_of_job0(machine)
    # Deciding changes nothing; folding the event does (a replayed journal folds it too).
    assert not machine.batches[0].suspect
    assert event.suspects == (0,)
    machine(event)
    assert machine.batches[0].suspect


async def test_batches_a_duplicate_job_id_made_suspect_stay_suspect_after_a_resume(
    tmp_path: Path,
) -> None:
    """Batch 0 holds job0 and is polled; batch 1 is answered with job0 too. The session dies
    while job0 is polled. Resumed, job0 ends with 3 of 10 failed: it may be batch 1's job, so
    its failures are checked, never counted failed."""
    live = RunMachine(POLICY)
    published = apply(live, sent(0, 0.0))
    published += apply(live, [duplicate_of_job0(live)])
    resumed = RunMachine(POLICY)
    apply(resumed, await journal_round_trip(tmp_path / "j.db", PARAMS, published))
    _, to_poll, parked = resumed.to_restart(100.0)
    apply(resumed, parked)
    assert [batch.seq for batch in to_poll] == [0]
    events = resumed.finished(0, "job0", FAILURES, took=0.0, by_record=True)
    assert not any(isinstance(event, JobFinished) for event in events)
    assert any(isinstance(event, BatchUncertain) and event.by_record for event in events)
