"""Whose job a job id is: once a job of unknown id may exist (a submission's reply was lost,
or Zoho answered a batch with a job id the run already held), a later reply may carry that
job's id, and the counts polled are then another batch's. A job of such a ``suspect`` batch
that did not convert every record is checked record by record, and only once the batch's own
job (sent with it, of unknown id) has surely ended; a job that converted every record, or
one of a batch answered before any such doubt, is taken as it says.

Driven event by event, no I/O; times are plain numbers.
"""

from __future__ import annotations

from zoho_convert.api.models import JobState, JobStatus
from zoho_convert.bulk.events import (
    BatchRead,
    BatchUncertain,
    Event,
    JobFinished,
    LongestJob,
    SubmitStarted,
)
from zoho_convert.bulk.machine import RunMachine
from zoho_convert.bulk.settling import SettlePolicy

POLICY = SettlePolicy(deadline=100.0, min_wait=5.0, unknown_wait=5.0)


def ids_of(seq: int) -> tuple[str, ...]:
    return tuple(f"{seq}0{n}" for n in range(4))


def done(converted: int, failed: int = 0) -> JobStatus:
    return JobStatus(JobState.COMPLETED, 4, converted, 4 - converted - failed, failed)


def send(machine: RunMachine, seq: int) -> None:
    machine(BatchRead(seq, ids_of(seq), 4 * (seq + 1), 4 * (seq + 1), 0))
    machine(SubmitStarted(seq))


def accept(machine: RunMachine, seq: int, job_id: str, at: float) -> None:
    event = machine.accepted(seq, ids_of(seq), job_id, settling=False, sent_at=at, answered=at)
    machine(event)


def outcome(events: list[Event]) -> Event:
    """The job's outcome (the ``LongestJob`` a first job's duration brings aside)."""
    (last,) = [event for event in events if not isinstance(event, LongestJob)]
    return last


def lose_reply(machine: RunMachine, seq: int, at: float) -> None:
    machine(BatchUncertain(seq, ids_of(seq), at, True, "HTTP 500: may have been processed"))


def test_a_job_with_failures_is_taken_as_it_says_while_no_job_id_is_in_doubt() -> None:
    machine = RunMachine(POLICY)
    send(machine, 0)
    accept(machine, 0, "J0", 1.0)
    event = outcome(machine.finished(0, "J0", done(3, failed=1), took=2.0, by_record=True))
    assert isinstance(event, JobFinished)


def test_after_a_lost_reply_a_job_with_failures_is_checked_once_its_own_job_has_ended() -> None:
    machine = RunMachine(POLICY)
    send(machine, 0)
    lose_reply(machine, 0, 1.0)  # (job of unknown id: a later reply may carry its id)
    send(machine, 1)
    accept(machine, 1, "J1", 2.0)
    parked = outcome(machine.finished(1, "J1", done(3, failed=1), took=2.0, by_record=True))
    assert isinstance(parked, BatchUncertain)
    assert parked.by_record and parked.maybe_sent
    # Not at once: its own job, sent at 2.0 and of unknown id if J1 is not it, may still run.
    assert not parked.at_once and parked.since == 2.0
    machine(parked)
    assert all(batch.seq != 1 for batch in machine.settle_due(2.0 + 4.9))
    assert [batch.seq for batch in machine.settle_due(2.0 + 5.0) if batch.seq == 1] == [1]


def test_after_a_lost_reply_a_job_that_converted_every_record_is_trusted() -> None:
    machine = RunMachine(POLICY)
    send(machine, 0)
    lose_reply(machine, 0, 1.0)
    send(machine, 1)
    accept(machine, 1, "J1", 2.0)
    event = outcome(machine.finished(1, "J1", done(4), took=2.0, by_record=True))
    assert isinstance(event, JobFinished)


def test_a_job_id_answered_twice_makes_the_batches_still_polled_suspect() -> None:
    """Batch 0 holds J0 and is polled; batch 1 is answered with J0 too: 1 is parked, and 0's
    job may be 1's (or any lost reply's): its failures are checked, not reported."""
    machine = RunMachine(POLICY)
    send(machine, 0)
    accept(machine, 0, "J0", 1.0)
    send(machine, 1)
    duplicate = machine.accepted(1, ids_of(1), "J0", settling=False, sent_at=2.0, answered=2.0)
    assert isinstance(duplicate, BatchUncertain)
    machine(duplicate)
    event = outcome(machine.finished(0, "J0", done(2, failed=2), took=2.0, by_record=True))
    assert isinstance(event, BatchUncertain) and event.by_record and not event.at_once
    # And any batch answered from now on is suspect too.
    send(machine, 2)
    accept(machine, 2, "J2", 3.0)
    assert machine.batches[2].suspect


def test_without_the_single_convert_a_suspect_job_with_failures_leaves_its_ids_uncertain() -> None:
    machine = RunMachine(POLICY)
    send(machine, 0)
    lose_reply(machine, 0, 1.0)
    send(machine, 1)
    accept(machine, 1, "J1", 2.0)
    event = outcome(machine.finished(1, "J1", done(3, failed=1), took=2.0, by_record=False))
    assert type(event).__name__ == "BatchGaveUp"


def test_a_suspect_job_not_taken_as_its_own_does_not_time_the_lost_jobs() -> None:
    """A suspect batch's job found FAILED at its first poll (0.5 s) may be another batch's
    job, ended long before: its 0.5 s is no bound on how long this run's jobs take, so it
    publishes no ``LongestJob`` (before: it did, and a batch lost after it was checked by
    single converts 1 s later, while its lost job still held its records: refused as
    converted, reported converted, never converted). One it takes as its own (every record
    converted) still times the run's jobs."""
    machine = RunMachine(POLICY)
    send(machine, 0)
    lose_reply(machine, 0, 1.0)
    send(machine, 1)
    accept(machine, 1, "J1", 61.0)
    failed = JobStatus(JobState.FAILED, 4, 0, 0, 4)
    events = machine.finished(1, "J1", failed, took=0.5, tight=0.5, by_record=True)
    assert not [event for event in events if isinstance(event, LongestJob)]
    assert machine.longest_job_tight == 0.0 and machine.tight_jobs == 0
    send(machine, 2)
    accept(machine, 2, "J2", 62.0)
    events = machine.finished(2, "J2", done(4), took=2.0, tight=2.0, by_record=True)
    assert [event.seconds for event in events if isinstance(event, LongestJob)] == [2.0]
