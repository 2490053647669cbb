"""A batch answered while another submission was in flight is suspect once that submission
turns out lost: Zoho may have given it the lost job's id, so its job's counts may be the lost
batch's. That doubt must reach the journal: a session stopped (or killed) afterwards, or
while the submission was still in flight, resumes with the batch's job checked, never taken
at its word when it did not convert every record.

The machine is fed the events a run would publish (times are plain numbers); the journal is
a real SQLite file.
"""

from __future__ import annotations

from pathlib import Path

from lost_job_feed import apply, journal_round_trip
from test_queued_jobs import PARAMS, POLICY, ids

from zoho_convert.api.errors import ServerError
from zoho_convert.api.models import JobState, JobStatus
from zoho_convert.bulk.events import (
    BatchRead,
    BatchSubmitted,
    BatchUncertain,
    Event,
    JobFinished,
    SubmitStarted,
)
from zoho_convert.bulk.machine import RunMachine

FAILURES = JobStatus(JobState.COMPLETED, 10, 7, 0, 3)
LOST_REPLY = ServerError(500, "INTERNAL_ERROR", "Internal Server Error", maybe_processed=True)


def batch_1_answered_while_batch_0_in_flight() -> list[Event]:
    """Batches 0 and 1 sent side by side; 1 answered with a job id first, 0 still in flight."""
    return [
        BatchRead(0, ids(0), 10, 10, 0),
        BatchRead(1, ids(1), 20, 20, 0),
        SubmitStarted(0),
        SubmitStarted(1),
        BatchSubmitted(1, 10, "job1", False, 1.0, 1.1),
    ]


def checked_not_counted(machine: RunMachine, seq: int) -> None:
    """Batch ``seq``'s job ends with 3 of 10 failed: its records are checked one by one (a
    ``BatchUncertain`` to settle by record), never reported failed by number."""
    events = machine.finished(seq, f"job{seq}", FAILURES, took=0.0, by_record=True)
    assert not any(isinstance(event, JobFinished) for event in events)
    assert any(isinstance(event, BatchUncertain) and event.by_record for event in events)


def test_the_lost_submission_names_the_batches_answered_meanwhile() -> None:
    machine = RunMachine(POLICY)
    apply(machine, batch_1_answered_while_batch_0_in_flight())
    decided = machine.refused(0, ids(0), LOST_REPLY, settling=False, at=1.5)
    assert decided is not None
    (parked,) = decided[0]
    assert isinstance(parked, BatchUncertain) and parked.maybe_sent
    assert parked.suspects == (1,)
    assert not machine.batches[1].suspect  # (deciding changes nothing; folding does)
    machine(parked)
    assert machine.batches[1].suspect


def test_a_batch_answered_before_the_submission_left_is_not_named() -> None:
    machine = RunMachine(POLICY)
    apply(machine, [BatchRead(0, ids(0), 10, 10, 0), BatchRead(1, ids(1), 20, 20, 0)])
    apply(machine, [SubmitStarted(1), BatchSubmitted(1, 10, "job1", False, 1.0, 1.1)])
    apply(machine, [SubmitStarted(0)])
    decided = machine.refused(0, ids(0), LOST_REPLY, settling=False, at=1.5)
    assert decided is not None
    (parked,) = decided[0]
    assert isinstance(parked, BatchUncertain) and parked.suspects == ()


async def test_the_doubt_a_lost_submission_cast_outlives_the_session(tmp_path: Path) -> None:
    """Batch 0's reply is lost after batch 1 was answered; the session stops while job1 is
    polled. Resumed, job1 ends with failures: it may be batch 0's job, so they are checked."""
    live = RunMachine(POLICY)
    published = apply(live, batch_1_answered_while_batch_0_in_flight())
    decided = live.refused(0, ids(0), LOST_REPLY, settling=False, at=1.5)
    assert decided is not None
    published += apply(live, decided[0])
    resumed = RunMachine(POLICY)
    apply(resumed, await journal_round_trip(tmp_path / "j.db", PARAMS, published))
    _, to_poll, parked = resumed.to_restart(100.0)
    apply(resumed, parked)
    assert [batch.seq for batch in to_poll] == [1]
    checked_not_counted(resumed, 1)


async def test_a_session_stopped_mid_submission_resumes_with_its_polled_jobs_suspect(
    tmp_path: Path,
) -> None:
    """The session stops while batch 0 is still being sent (its reply never came), batch 1
    answered meanwhile: the journal keeps the order batches were sent and answered in, so the
    resumed run doubts job1, and so does a second resume."""
    journal = tmp_path / "j.db"
    first = apply(RunMachine(POLICY), batch_1_answered_while_batch_0_in_flight())
    second = RunMachine(POLICY)
    replayed = await journal_round_trip(journal, PARAMS, first)
    apply(second, replayed)
    _, to_poll, parked = second.to_restart(100.0)
    assert [batch.seq for batch in to_poll] == [1]
    assert [event.suspects for event in parked if isinstance(event, BatchUncertain)] == [(1,)]
    apply(second, parked)
    assert second.batches[1].suspect
    # Stopped again before job1 ended: the third session doubts it too.
    third = RunMachine(POLICY)
    apply(third, await journal_round_trip(tmp_path / "k.db", PARAMS, [*replayed, *parked]))
    third.to_restart(200.0)
    checked_not_counted(third, 1)


async def test_a_batch_answered_before_the_stopped_submission_left_is_taken_at_its_word(
    tmp_path: Path,
) -> None:
    """Batch 1 was answered before batch 0 was sent; the session stops with batch 0 in flight.
    Batch 1's job cannot be batch 0's: resumed, its failures are its own (counted, not
    checked)."""
    events: list[Event] = [
        BatchRead(0, ids(0), 10, 10, 0),
        BatchRead(1, ids(1), 20, 20, 0),
        SubmitStarted(1),
        BatchSubmitted(1, 10, "job1", False, 1.0, 1.1),
        SubmitStarted(0),
    ]
    resumed = RunMachine(POLICY)
    apply(resumed, await journal_round_trip(tmp_path / "j.db", PARAMS, events))
    assert not resumed.batches[1].suspect
    _, _, parked = resumed.to_restart(100.0)
    apply(resumed, parked)
    assert not resumed.batches[1].suspect
    events = resumed.finished(1, "job1", FAILURES, took=0.0, by_record=True)
    assert any(isinstance(event, JobFinished) for event in events)
