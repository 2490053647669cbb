"""A job seen running, then forgotten by Zoho: its ids wait as long as its pace says it may
still run (``SettlePlan.seen_running_until``), batches lost after it wait for it too, and a
job not seen at all is given as long.

The machine is fed the events a run would publish (no I/O, no clock: times are plain numbers).
"""

from __future__ import annotations

import math

from zoho_convert.api.models import JobState, JobStatus
from zoho_convert.bulk.events import (
    BatchGaveUp,
    BatchRead,
    BatchSubmitted,
    BatchUncertain,
    Event,
    JobLost,
    LongestJob,
    SubmitStarted,
)
from zoho_convert.bulk.machine import RunMachine
from zoho_convert.bulk.settling import PollTimer, SettlePolicy

# A lost job not seen running is given 5 s (no job duration known yet).
POLICY = SettlePolicy(deadline=1000.0, min_wait=5.0, unknown_wait=5.0)
IDS = tuple(str(100 + n) for n in range(10))


def running(converted: int, failed: int = 0, total: int | None = 10) -> JobStatus:
    return JobStatus(JobState.IN_PROGRESS, total, converted, 10 - converted - failed, failed)


def submitted(machine: RunMachine, seq: int, sent: float) -> tuple[str, ...]:
    ids = tuple(f"{seq}-{value}" for value in IDS)
    machine(BatchRead(seq, ids, 10 * (seq + 1), 10 * (seq + 1), 0))
    machine(SubmitStarted(seq))
    machine(BatchSubmitted(seq, 10, f"job{seq}", False, sent, sent))
    return ids


def apply(machine: RunMachine, events: list[Event]) -> list[Event]:
    for event in events:
        machine(event)
    return events


def test_a_job_forgotten_after_its_pace_was_seen_waits_for_its_pace() -> None:
    """Sent at 0, seen at 30 s with 2 of 10 records converted: it may run until 150 s (at
    that pace), so its ids are not due before then, though a lost job is given 5 s."""
    machine = RunMachine(POLICY)
    submitted(machine, 0, 0.0)
    events = apply(machine, machine.lost(0, "job0", "forgotten", seen=(running(2), 30.0)))
    assert events[0] == LongestJob(150.0, 0.0)  # (journaled: a resumed run waits as long)
    assert events[1] == JobLost(0, "job0", 10, "forgotten", running(2))
    uncertain = events[2]
    assert isinstance(uncertain, BatchUncertain) and uncertain.runs_until == 150.0
    assert machine.due_at(0) >= 150.0
    assert machine.settle_due(149.0) == ()
    assert [b.seq for b in machine.settle_due(400.0)] == [0]


def test_failed_records_count_towards_its_pace() -> None:
    """Records failed inside the job were processed too: 1 converted and 1 failed of 10 at
    20 s is 100 s in all, not 200 s."""
    machine = RunMachine(POLICY)
    submitted(machine, 0, 0.0)
    events = machine.lost(0, "job0", "forgotten", seen=(running(1, failed=1), 20.0))
    assert isinstance(events[-1], BatchUncertain) and events[-1].runs_until == 100.0


def test_a_job_seen_early_with_nothing_done_gets_a_lost_jobs_wait() -> None:
    """Seen running at 2 s with nothing processed, within a lost job's wait (5 s): nothing
    says it runs longer than others; it is due 5 s after it was answered."""
    machine = RunMachine(POLICY)
    submitted(machine, 0, 0.0)
    events = apply(machine, machine.lost(0, "job0", "forgotten", seen=(running(0), 2.0)))
    assert isinstance(events[-1], BatchUncertain) and events[-1].runs_until == 0.0
    assert machine.due_at(0) == 5.0
    assert [b.seq for b in machine.settle_due(5.0)] == [0]


def test_a_job_seen_long_with_nothing_done_never_goes_again() -> None:
    """Seen running at 30 s, far past a lost job's wait, with nothing processed: nothing
    bounds it, so its ids never go again (uncertain when settling ends, their lost job's
    end unknown), and a batch lost after it is held back as by a job given up on."""
    machine = RunMachine(POLICY)
    submitted(machine, 0, 0.0)
    events = apply(machine, machine.lost(0, "job0", "forgotten", seen=(running(0), 30.0)))
    assert isinstance(events[-1], BatchUncertain) and events[-1].runs_until == math.inf
    later = submitted(machine, 1, 10.0)
    machine(BatchUncertain(1, later, 10.0, True, "reply lost"))
    assert machine.settle_due(10_000.0) == ()
    assert machine.settle_round(10_000.0) is None
    gave_up = [event for event in machine.give_up(10_000.0) if isinstance(event, BatchGaveUp)]
    assert {event.batch: event.lost_job_end for event in gave_up} == {0: math.inf, 1: math.inf}


def test_a_job_re_polled_by_a_resumed_session_has_no_pace() -> None:
    """A job sent by an earlier session (when it was sent unknown) seen running and then
    forgotten: its pace cannot be told, so its ids never go again."""
    machine = RunMachine(POLICY)
    submitted(machine, 0, 0.0)
    events = machine.lost(0, "job0", "forgotten", seen=(running(5), None))
    assert not any(isinstance(event, LongestJob) for event in events)
    assert isinstance(events[-1], BatchUncertain) and events[-1].runs_until == math.inf


def test_a_batch_lost_after_a_slow_job_waits_for_it() -> None:
    """A batch whose reply was lost after a job seen running slowly (until 150 s by its
    pace) was sent may have a job as slow: it does not go before 150 s either, while the
    run goes on (``settle_due``) or once nothing runs (``settle_round``); one lost before
    that job was sent goes after a lost job's wait."""
    machine = RunMachine(POLICY)
    earlier = submitted(machine, 2, 0.0)
    machine(BatchUncertain(2, earlier, 0.0, True, "reply lost"))
    submitted(machine, 0, 1.0)
    apply(machine, machine.lost(0, "job0", "forgotten", seen=(running(2), 31.0)))
    later = submitted(machine, 1, 40.0)
    machine(BatchUncertain(1, later, 40.0, True, "reply lost"))
    # The lost job not seen is given as long as the slow one may have run (150 s).
    assert machine.due_at(1) >= 190.0
    assert [b.seq for b in machine.settle_due(150.0)] == [2]
    settle = machine.settle_round(151.0)
    assert settle is not None and settle.due >= 190.0
    assert {b.seq for b in settle.batches} == {0, 1}


def test_the_wait_a_seen_job_gives_others_holds_without_its_status() -> None:
    """A job not seen at all after one seen running for 40 s (2 of 10 done: 200 s by its
    pace) is given 200 s: the run's only evidence of how long its jobs take."""
    machine = RunMachine(POLICY)
    submitted(machine, 0, 0.0)
    apply(machine, machine.lost(0, "job0", "forgotten", seen=(running(2), 40.0)))
    submitted(machine, 1, 300.0)
    apply(machine, machine.lost(1, "job1", "forgotten"))
    assert machine.due_at(1) == 500.0


def test_the_poll_timer_remembers_the_last_unfinished_status() -> None:
    """``PollTimer`` keeps the last unfinished status a poll answered and when; none when
    it was not timed (a job of an earlier session)."""
    now = [5.0]
    timer = PollTimer(lambda: now[0], _Always())
    assert timer.seen_running(True) is None
    timer.due(0.0)
    timer.polled(0.0, 0.0, running(1))
    now[0] = 7.0
    timer.due(2.0)
    timer.polled(2.0, 2.0, None)  # an unusable answer: not a sighting
    assert timer.seen_running(True) == (running(1), 5.0)
    assert timer.seen_running(False) == (running(1), None)
    timer.due(3.0)
    timer.polled(3.0, 3.0, JobStatus(JobState.COMPLETED, 10, 10, 0, 0))
    assert timer.seen_running(True) == (running(1), 5.0)  # a final status is no sighting


class _Always:
    def wait(self, elapsed: float) -> float:
        return 1.0

    def due(self, elapsed: float) -> bool:
        return True

    def polled(self, started: float, ended: float, status: JobStatus | None) -> None:
        return None
