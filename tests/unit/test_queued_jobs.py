"""A lost job that may wait in a queue (``queued_jobs.QueuedJobs``): on a server that runs a
module's jobs one after another, it starts only when the jobs sent before it have ended. Until
the run sees jobs run side by side (``JobsInParallel``), its records are due no sooner than the
latest end of those jobs plus the longest running time seen and the margin; a job sent after
it seen started bounds it sooner.

The machine is fed the events a run would publish, and what the polls saw (times are plain
numbers).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lost_job_feed import apply, journal_round_trip, running
from test_unreadable_job import _Always, _Run

from zoho_convert.api.models import JobState, JobStatus, ModuleRef
from zoho_convert.bulk.events import (
    BatchRead,
    BatchSubmitted,
    BatchUncertain,
    Event,
    JobsInParallel,
    SubmitStarted,
)
from zoho_convert.bulk.job_watch import JobWatch
from zoho_convert.bulk.machine import RunMachine
from zoho_convert.bulk.settling import SettlePolicy
from zoho_convert.bulk.spec import RunParams

POLICY = SettlePolicy(deadline=1000.0, min_wait=5.0, unknown_wait=5.0)
PARAMS = RunParams(module="Quotes", to=ModuleRef("Sales_Orders", "1"))
DONE = JobStatus(JobState.COMPLETED, 10, 10, 0, 0)


def ids(seq: int) -> tuple[str, ...]:
    return tuple(f"{seq}-{n}" for n in range(10))


def sent(seq: int, at: float, answered: float | None = None) -> list[Event]:
    """The events of batch ``seq`` sent at ``at``, its job accepted at ``answered``."""
    answer = at + 0.1 if answered is None else answered
    return [
        BatchRead(seq, ids(seq), 10 * (seq + 1), 10 * (seq + 1), 0),
        SubmitStarted(seq),
        BatchSubmitted(seq, 10, f"job{seq}", False, at, answer),
    ]


def lost(seq: int, at: float) -> list[Event]:
    """The events of batch ``seq`` whose submit reply was lost at ``at``."""
    return [
        BatchRead(seq, ids(seq), 10 * (seq + 1), 10 * (seq + 1), 0),
        SubmitStarted(seq),
        BatchUncertain(seq, ids(seq), at, True, "reply lost"),
    ]


def queued() -> RunMachine:
    """Batch 0's job, sent at 0 s, is seen scheduled by a poll that left at 0.5 s, running at
    2 s, done at 30 s (timed tightly: 30 s; it ran 29.5 s at most); batch 1's reply was lost
    at 1 s. A lost job is given 30 s and the margin (30 s: one job measured): 61 s."""
    machine = RunMachine(POLICY)
    apply(machine, sent(0, 0.0) + lost(1, 1.0))
    machine.job_started(0, 2.0)
    machine.job_ended(0, 30.0, 29.5)
    apply(machine, machine.finished(0, "job0", DONE, took=30.0, tight=30.0))
    return machine


def due(machine: RunMachine, now: float) -> list[int]:
    return [batch.seq for batch in machine.settle_due(now)]


def test_a_lost_job_is_given_its_running_time_after_the_jobs_sent_before_it() -> None:
    """Batch 1's lost job may have waited in a queue behind batch 0's (sent before it), and
    started when it ended (30 s): it is given the longest running time seen (29.5 s) and the
    margin after that, 89.5 s, not its own wait from when it was sent (61 s)."""
    machine = queued()
    assert machine.due_at(1) == 30.0 + 29.5 + 30.0
    assert machine.lost_job_wait() == 89.5 - 1.0  # (a fleet's claims outlast it)
    assert due(machine, 89.4) == []
    assert due(machine, 89.5) == [1]


def test_a_job_sent_after_the_lost_reply_seen_started_bounds_it() -> None:
    """Batch 2, sent at 40 s (after batch 1's reply was lost: behind its lost job in a queue),
    is seen started at 70 s: a queue has run batch 1's lost job by then, so it goes at 70 s,
    not at 89.5 s. A job sent before it, seen started, says nothing of it."""
    machine = queued()
    apply(machine, sent(3, 0.5))
    machine.job_started(3, 50.0)  # (sent before batch 1's reply was lost: ahead of it)
    assert machine.due_at(1) == 89.5
    apply(machine, sent(2, 40.0))
    machine.job_started(2, 70.0)
    assert machine.due_at(1) == 70.0
    apply(machine, machine.finished(3, "job3", DONE, took=50.0, tight=None))
    assert due(machine, 69.9) == []
    assert due(machine, 70.0) == [1]


def test_jobs_seen_running_at_once_end_the_queue_rule() -> None:
    """Batch 0's job is seen running by polls answered at 2 s and leaving at 4 s; batch 2's
    by a poll that left at 3 s and came back at 3.1 s: both ran then. The run publishes
    ``JobsInParallel`` (once), and a lost job is given its own wait only (batch 1: 61 s)."""
    machine = RunMachine(POLICY)
    apply(machine, sent(0, 0.0) + lost(1, 1.0) + sent(2, 1.5))
    assert machine.job_running(0, 2.0, 1.9, 2.0) == []
    assert machine.job_running(2, 3.1, 3.0, 3.1) == []
    assert apply(machine, machine.job_running(0, 2.0, 4.0, 4.1)) == [JobsInParallel()]
    assert machine.parallel
    assert machine.job_running(2, 3.1, 5.0, 5.1) == []
    machine.job_ended(0, 30.0, 29.5)
    apply(machine, machine.finished(0, "job0", DONE, took=30.0, tight=30.0))
    assert machine.due_at(1) == 61.0


def test_sightings_one_after_another_prove_nothing() -> None:
    """Batch 0's job seen running at 2 s (and not again), batch 2's (sent at 0.5 s, before
    batch 1's reply was lost) at 4.6 s, after batch 0's last poll left: a queue may have run
    them one after the other. Batch 1 still waits for its running time after batch 0's job
    (89.5 s)."""
    machine = RunMachine(POLICY)
    apply(machine, sent(0, 0.0) + lost(1, 1.0) + sent(2, 0.5))
    machine.job_started(0, 2.0)
    assert machine.job_running(0, 2.0, 1.9, 2.0) == []
    machine.job_started(2, 4.6)
    assert machine.job_running(2, 4.6, 4.5, 4.6) == []
    machine.job_ended(0, 30.0, 29.5)
    apply(machine, machine.finished(0, "job0", DONE, took=30.0, tight=30.0))
    assert not machine.parallel
    assert machine.due_at(1) == 89.5


@pytest.mark.parametrize(("later_sent", "proof"), [(1.5, True), (0.05, False)])
def test_a_job_that_came_later_seen_started_first_ends_the_queue_rule(
    later_sent: float, proof: bool
) -> None:
    """Batch 2's job, sent at 1.5 s (after batch 0's was answered at 0.1 s: it reached the
    server later), is seen started at 2 s; a poll of batch 0's job leaving at 3 s finds it
    not started: a queue would have started batch 0's first. Sent at 0.05 s, before batch 0's
    answer, it may have come first: nothing is proven."""
    machine = RunMachine(POLICY)
    apply(machine, sent(0, 0.0) + sent(2, later_sent))
    machine.job_started(2, 2.0)
    events = machine.job_running(0, None, 3.0, 3.1)
    assert events == ([JobsInParallel()] if proof else [])


def test_a_lost_job_seen_running_waits_in_no_queue() -> None:
    """Batch 3's job, sent at 0.5 s, is seen running at 10 s, then Zoho forgets it: it has
    started, so only its own wait counts (from its acceptance, 0.6 s: 60.6 s); batch 1, lost
    at 1 s and never seen, waits its running time after batch 0's job (89.5 s)."""
    machine = queued()
    apply(machine, sent(3, 0.5))
    apply(machine, machine.lost(3, "job3", "forgotten", seen=(running(5), 10.0)))
    assert machine.due_at(3) == 0.6 + 60.0
    assert machine.due_at(1) == 89.5


async def test_jobs_seen_side_by_side_survive_a_resume(tmp_path: Path) -> None:
    """``JobsInParallel`` is journaled: a resumed run knows the server runs jobs side by side
    and gives a lost job its own wait only."""
    events = sent(0, 0.0) + lost(1, 1.0) + [JobsInParallel()]
    resumed = RunMachine(POLICY)
    replayed = await journal_round_trip(tmp_path / "j.db", PARAMS, events)
    assert JobsInParallel() in replayed
    apply(resumed, replayed)
    assert resumed.parallel


async def test_the_watch_tells_the_machine_what_each_poll_saw() -> None:
    """Polls at 0.5 s (scheduled), 2 s and 4 s (running), 30 s (done) of batch 0's job, sent
    at 0 s: the machine learns it ran 29.5 s at most (from the last poll that found it not
    started), ended by 30 s, and started by 2 s: batch 1, lost at 1 s, is due at 89.5 s."""
    machine = RunMachine(POLICY)
    apply(machine, sent(0, 0.0) + lost(1, 1.0))
    run = _Run(machine)
    now = [0.0]
    states = [JobState.SCHEDULED, JobState.IN_PROGRESS, JobState.IN_PROGRESS, JobState.COMPLETED]

    async def call() -> JobStatus:
        state = states.pop(0)
        return DONE if state is JobState.COMPLETED else JobStatus(state, 10, 0, 10, 0)

    watch = JobWatch(lambda: now[0], _Always(), run, 0, True, call)
    for at in (0.5, 2.0, 4.0, 30.0):
        now[0] = at
        watch.due(at)
        watch.polled(at, at, await watch.poll())
    assert machine.longest_running == 29.5
    apply(machine, machine.finished(0, "job0", DONE, took=30.0, tight=30.0))
    assert machine.due_at(1) == 89.5
