"""Review 4 of the engine changes since fd3890a (suspect job ids, unusable statuses, unknown
state names, queued jobs): each finding pinned as a strict xfail that names the code path and
a suggested fix. The machine is fed the events a run would publish (times are plain numbers).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lost_job_feed import apply, journal_round_trip
from test_queued_jobs import DONE, PARAMS, POLICY, ids, lost, sent

from zoho_convert.api.errors import ResponseValidationError
from zoho_convert.api.models import JobState, JobStatus
from zoho_convert.api.wire import parse_job_status
from zoho_convert.bulk.events import (
    BatchRead,
    BatchSubmitted,
    Event,
    JobFinished,
    JobsInParallel,
    SubmitStarted,
)
from zoho_convert.bulk.machine import RunMachine


def read(seq: int) -> list[Event]:
    return [BatchRead(seq, ids(seq), 10 * (seq + 1), 10 * (seq + 1), 0), SubmitStarted(seq)]


def due(machine: RunMachine, now: float) -> list[int]:
    return [batch.seq for batch in machine.settle_due(now)]


# -- 1. suspect job ids are not journaled -------------------------------------------------------


async def test_a_suspect_job_is_still_suspect_after_a_resume(tmp_path: Path) -> None:
    """Batch 0's submit reply is lost (a job of unknown id may exist); batch 1 is answered
    after it: suspect (its job id may be batch 0's job). The session dies while batch 1's job
    is polled. The resumed run polls it again; it ends with 3 of 10 records failed: that job
    may be batch 0's, so its failures must be checked, not counted failed."""
    live = RunMachine(POLICY)
    published = apply(live, lost(0, 1.0) + read(1))
    accepted = live.accepted(1, ids(1), "job1", settling=False, sent_at=2.0, answered=2.1)
    published += apply(live, [accepted])
    assert live.batches[1].suspect  # (in the session that saw the lost reply)
    resumed = RunMachine(POLICY)
    apply(resumed, await journal_round_trip(tmp_path / "j.db", PARAMS, published))
    _, to_poll, parked = resumed.to_restart(100.0)
    apply(resumed, parked)
    assert [batch.seq for batch in to_poll] == [1]
    failures = JobStatus(JobState.COMPLETED, 10, 7, 0, 3)
    events = resumed.finished(1, "job1", failures, took=0.0, by_record=True)
    assert not any(isinstance(event, JobFinished) for event in events)


# -- 2. the word list of unknown state names ----------------------------------------------------


@pytest.mark.parametrize("name", ["NOT_STARTED", "Yet to start", "RESCHEDULED"])
def test_a_state_saying_the_job_has_not_started_reads_as_scheduled(name: str) -> None:
    status = parse_job_status({"status": name, "total_count": 10, "converted_count": 0})
    assert status.state is JobState.SCHEDULED


def test_a_lost_job_last_seen_not_started_still_waits_in_its_queue() -> None:
    machine = RunMachine(POLICY)
    apply(machine, sent(0, 0.0) + sent(3, 0.5))
    machine.job_started(0, 2.0)
    machine.job_ended(0, 30.0, 29.5)
    apply(machine, machine.finished(0, "job0", DONE, took=30.0, tight=30.0))
    seen = parse_job_status({"status": "NOT_STARTED", "total_count": 10, "converted_count": 0})
    apply(machine, machine.lost(3, "job3", "forgotten", seen=(seen, 10.0)))
    assert machine.due_at(3) >= 89.5


@pytest.mark.parametrize("name", ["INCOMPLETE", "NOT_COMPLETED", "UNFINISHED"])
def test_a_state_saying_the_job_has_not_ended_reads_as_unfinished(name: str) -> None:
    try:
        status = parse_job_status({"status": name, "total_count": 10, "converted_count": 2})
    except ResponseValidationError:
        pytest.fail(f"{name!r} read as a state that cannot be used (an end)")
    assert not status.is_final


# -- 3. a suspect job's sightings -----------------------------------------------------------------


def test_a_suspect_jobs_start_proves_no_jobs_side_by_side() -> None:
    """Batch 0's reply is lost at 0.2 s (its job, of unknown id, reached the server first);
    batch 1 is sent at 0.3 s; batch 2, sent at 1 s, is answered with a job id the run never
    held: suspect, it may be batch 0's job. Seen started at 2 s, while batch 1's job is still
    scheduled at 3 s: a server running jobs one at a time in the order they came (batch 0's,
    then 1's) shows exactly that, so nothing proves jobs run side by side."""
    machine = RunMachine(POLICY)
    apply(machine, lost(0, 0.2) + sent(1, 0.3, 0.4) + read(2))
    apply(machine, [machine.accepted(2, ids(2), "jobZ", settling=False, sent_at=1.0, answered=1.1)])
    assert machine.batches[2].suspect
    machine.job_started(2, 2.0)
    assert machine.job_running(2, 2.0, 1.9, 2.0) == []
    assert machine.job_running(1, None, 3.0, 3.1) != [JobsInParallel()]


# -- 4. a suspect batch parked from when it was sent ----------------------------------------------


def test_a_suspect_batch_is_held_back_by_a_job_sent_while_it_was_in_flight() -> None:
    """Batch 0's reply is lost (job ids in doubt). Batch 3's job, sent at 9 s, ends at 20 s.
    Batch 1 leaves at 10 s and is answered at 11 s (suspect); batch 2 leaves at 10.5 s, so it
    may have reached the server before batch 1 and queue ahead of it; it is seen started at
    21 s and still runs. Batch 1's polled job ends at 21.5 s with failures: its own job (of
    unknown id) may wait behind batch 2's, so its records are not checked while that runs."""
    machine = RunMachine(POLICY)
    apply(machine, lost(0, 0.2) + sent(3, 9.0, 9.1) + read(1) + sent(2, 10.5, 10.6))
    accepted = machine.accepted(1, ids(1), "jobX", settling=False, sent_at=10.0, answered=11.0)
    apply(machine, [accepted])
    assert isinstance(accepted, BatchSubmitted) and machine.batches[1].suspect
    machine.job_started(3, 12.0)
    machine.job_ended(3, 20.0, None)
    apply(machine, machine.finished(3, "job3", DONE, took=11.0))
    machine.job_started(2, 21.0)
    apply(machine, machine.job_running(2, 21.0, 21.2, 21.3))
    failures = JobStatus(JobState.COMPLETED, 10, 7, 0, 3)
    apply(machine, machine.finished(1, "jobX", failures, took=10.5, by_record=True))
    assert 1 not in due(machine, 21.5)



# -- 5. a resumed session forgets the queue ----------------------------------------------


async def test_a_resumed_run_still_queues_a_lost_job_behind_a_re_polled_job(
    tmp_path: Path,
) -> None:
    """Session 1: batch 0's job sent at 0 s; batch 1's reply lost at 1 s (its job queued
    behind batch 0's). It dies. Resumed at 100 s, batch 0's job is polled again: seen running
    at 101 s, done at 300 s. Batch 1's job starts when batch 0's ends (300 s) on a server that
    runs jobs one at a time: its records must not go again at 300 s."""
    live = RunMachine(POLICY)
    published = apply(live, sent(0, 0.0) + lost(1, 1.0))
    resumed = RunMachine(POLICY)
    apply(resumed, await journal_round_trip(tmp_path / "j.db", PARAMS, published))
    _, to_poll, parked = resumed.to_restart(100.0)
    apply(resumed, parked)
    assert [batch.seq for batch in to_poll] == [0]
    resumed.job_started(0, 101.0)
    resumed.job_ended(0, 300.0, None)
    apply(resumed, resumed.finished(0, "job0", DONE, took=0.0))
    assert 1 not in due(resumed, 300.0)
