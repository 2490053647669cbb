"""A job seen running, then forgotten by Zoho: every lost job, its own and one not seen at
all, is given as long as its pace says it may run (``SettlePlan.seen_job_length``); one that
nothing bounds never goes again, nor do batches lost after it.

The machine is fed the events a run would publish (no I/O, no clock: times are plain numbers).
"""

from __future__ import annotations

import math
from pathlib import Path

from lost_job_feed import apply, journal_round_trip, running

from zoho_convert.api.models import JobState, JobStatus, ModuleRef
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
from zoho_convert.bulk.spec import RunParams

# A lost job not seen running is given 5 s (no job duration known yet).
POLICY = SettlePolicy(deadline=1000.0, min_wait=5.0, unknown_wait=5.0)
IDS = tuple(str(100 + n) for n in range(10))


def submitted(machine: RunMachine, seq: int, sent: float) -> tuple[str, ...]:
    ids = tuple(f"{seq}-{value}" for value in IDS)
    machine(BatchRead(seq, ids, 10 * (seq + 1), 10 * (seq + 1), 0))
    machine(SubmitStarted(seq))
    machine(BatchSubmitted(seq, 10, f"job{seq}", False, sent, sent))
    return ids


def test_a_job_forgotten_after_its_pace_was_seen_waits_for_its_pace() -> None:
    """Sent at 0, seen at 30 s with 2 of 10 records converted: it may run until 150 s (at
    that pace), so its ids are not due before then, though a lost job is given 5 s."""
    machine = RunMachine(POLICY)
    submitted(machine, 0, 0.0)
    events = apply(machine, machine.lost(0, "job0", "forgotten", seen=(running(2), 30.0)))
    assert events[0] == LongestJob(150.0, None, seen=True)  # (journaled for a resumed run)
    assert events[1] == JobLost(0, "job0", 10, "forgotten", running(2))
    assert isinstance(events[2], BatchUncertain) and not events[2].unbounded
    assert machine.due_at(0) == 150.0
    assert machine.settle_due(149.0) == ()
    assert [b.seq for b in machine.settle_due(400.0)] == [0]


def test_failed_records_count_towards_its_pace() -> None:
    """Records failed inside the job were processed too: 1 converted and 1 failed of 10 at
    20 s is 100 s in all, not 200 s."""
    machine = RunMachine(POLICY)
    submitted(machine, 0, 0.0)
    events = machine.lost(0, "job0", "forgotten", seen=(running(1, failed=1), 20.0))
    assert events[0] == LongestJob(100.0, None, seen=True)


def test_a_job_seen_early_with_nothing_done_gets_a_lost_jobs_wait() -> None:
    """Seen running at 2 s with nothing processed, within a lost job's wait (5 s): nothing
    says it runs longer than others; it is due 5 s after it was answered."""
    machine = RunMachine(POLICY)
    submitted(machine, 0, 0.0)
    events = apply(machine, machine.lost(0, "job0", "forgotten", seen=(running(0), 2.0)))
    assert isinstance(events[-1], BatchUncertain) and not events[-1].unbounded
    assert machine.due_at(0) == 5.0
    assert [b.seq for b in machine.settle_due(5.0)] == [0]


def test_a_job_seen_long_with_nothing_done_never_goes_again() -> None:
    """Seen running at 30 s, far past a lost job's wait, with nothing processed: nothing
    bounds it, so its ids never go again (uncertain when settling ends, their lost job's
    end unknown), and a batch lost after it is held back as by a job given up on."""
    machine = RunMachine(POLICY)
    submitted(machine, 0, 0.0)
    events = apply(machine, machine.lost(0, "job0", "forgotten", seen=(running(0), 30.0)))
    assert isinstance(events[-1], BatchUncertain) and events[-1].unbounded
    later = submitted(machine, 1, 10.0)
    machine(BatchUncertain(1, later, 10.0, True, "reply lost"))
    assert machine.settle_due(10_000.0) == ()
    assert machine.settle_round(10_000.0) is None
    gave_up = [event for event in machine.give_up(10_000.0) if isinstance(event, BatchGaveUp)]
    assert {event.batch: event.lost_job_end for event in gave_up} == {0: math.inf, 1: math.inf}


def test_a_job_seen_with_every_record_processed_is_as_long_as_its_age() -> None:
    """Seen at 30 s, past a lost job's wait, with every record processed but not yet final:
    it is as long as its age, not unbounded."""
    machine = RunMachine(POLICY)
    submitted(machine, 0, 0.0)
    events = machine.lost(0, "job0", "forgotten", seen=(running(10), 30.0))
    assert events[0] == LongestJob(30.0, None, seen=True)
    assert isinstance(events[-1], BatchUncertain) and not events[-1].unbounded


def test_a_slow_job_seen_outweighs_the_jobs_measured_tightly() -> None:
    """Jobs measured tightly (1 s) are the run's usual measure of a lost job's wait, but a
    job seen running at a pace of 150 s shows jobs can take that long: its lost job is
    given 150 s and the margin (1 s: the one tight job over its count)."""
    machine = RunMachine(POLICY)
    submitted(machine, 3, 0.0)
    done = JobStatus(JobState.COMPLETED, 10, 10, 0, 0)
    apply(machine, machine.finished(3, "job3", done, took=1.0, tight=1.0))
    submitted(machine, 1, 5.0)
    machine(BatchUncertain(1, IDS, 5.0, True, "reply lost"))
    assert machine.due_at(1) == 10.0  # (min_wait: a lost job of this run is given 5 s)
    submitted(machine, 0, 10.0)
    apply(machine, machine.lost(0, "job0", "forgotten", seen=(running(2), 40.0)))
    assert machine.due_at(0) == 10.0 + 150.0 + 1.0
    assert machine.due_at(1) == 5.0 + 150.0 + 1.0


def test_a_job_seen_shorter_than_the_longest_journals_nothing() -> None:
    """A job seen running no longer than the longest a job seen before may run adds no
    ``LongestJob``."""
    machine = RunMachine(POLICY)
    machine(LongestJob(500.0, None, seen=True))
    submitted(machine, 0, 0.0)
    events = machine.lost(0, "job0", "forgotten", seen=(running(2), 30.0))
    assert [type(event) for event in events] == [JobLost, BatchUncertain]


def test_a_job_re_polled_by_a_resumed_session_has_no_pace() -> None:
    """A job sent by an earlier session (when it was sent unknown) seen running and then
    forgotten: its pace cannot be told, so its ids never go again."""
    machine = RunMachine(POLICY)
    submitted(machine, 0, 0.0)
    events = machine.lost(0, "job0", "forgotten", seen=(running(5), None))
    assert not any(isinstance(event, LongestJob) for event in events)
    assert isinstance(events[-1], BatchUncertain) and events[-1].unbounded


def test_other_lost_jobs_are_given_as_long_as_a_slow_one_seen() -> None:
    """Lost replies before and after a job seen running slowly (150 s by its pace): their
    lost jobs may be as slow, so each is given 150 s from its own loss, while the run goes
    on (``settle_due``) or once nothing runs (``settle_round``)."""
    machine = RunMachine(POLICY)
    earlier = submitted(machine, 2, 0.0)
    machine(BatchUncertain(2, earlier, 0.0, True, "reply lost"))
    submitted(machine, 0, 1.0)
    apply(machine, machine.lost(0, "job0", "forgotten", seen=(running(2), 31.0)))
    later = submitted(machine, 1, 40.0)
    machine(BatchUncertain(1, later, 40.0, True, "reply lost"))
    assert [machine.due_at(seq) for seq in (2, 0, 1)] == [150.0, 151.0, 190.0]
    assert machine.settle_due(149.0) == ()
    assert [b.seq for b in machine.settle_due(150.0)] == [2]
    settle = machine.settle_round(151.0)  # (a round goes when the last of it is due)
    assert settle is not None and settle.due == 190.0
    assert [b.seq for b in settle.batches] == [0, 1]


def test_a_job_not_seen_is_given_as_long_as_one_seen() -> None:
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


async def test_a_seen_length_and_an_idle_sighting_survive_a_resume(tmp_path: Path) -> None:
    """Journaled and replayed: the length a seen job may run (every lost job of the resumed
    run is given as long, not the measured 3.5 s), and a batch whose lost job was last seen
    with nothing done, which the resumed run never sends again (how long that job ran, it
    cannot tell), nor the batches it parks with it (when they were lost, it cannot tell
    either)."""
    params = RunParams(module="Quotes", to=ModuleRef("Sales_Orders", "1"))
    idle_ids, paced_ids = ("1", "2"), ("3", "4")
    events: list[Event] = [
        BatchRead(0, idle_ids, 2, 2, 0),
        BatchRead(1, paced_ids, 4, 4, 0),
        SubmitStarted(0),
        SubmitStarted(1),
        BatchSubmitted(0, 2, "j0", False, 1.0),
        BatchSubmitted(1, 2, "j1", False, 1.0),
        LongestJob(3.5),
        LongestJob(150.0, None, seen=True),
        JobLost(0, "j0", 2, "forgotten", running(0, total=2)),
        BatchUncertain(0, idle_ids, 1.0, True, "lost"),
        JobLost(1, "j1", 2, "forgotten", running(1, total=2)),
        BatchUncertain(1, paced_ids, 1.0, True, "lost"),
    ]
    replayed = await journal_round_trip(tmp_path / "j.db", params, events)
    machine = RunMachine(POLICY)
    for event in replayed:
        machine(event)
    assert (machine.longest_job, machine.longest_seen_running) == (3.5, 150.0)
    _, _, parked = machine.to_restart(1000.0)
    apply(machine, parked)
    assert machine.due_at(1) == 1150.0
    assert machine.settle_due(2000.0) == () and machine.settle_round(2000.0) is None
    gave_up = [e for e in machine.give_up(2000.0) if isinstance(e, BatchGaveUp)]
    assert [(e.batch, e.lost_job_end) for e in gave_up] == [(0, math.inf), (1, math.inf)]
