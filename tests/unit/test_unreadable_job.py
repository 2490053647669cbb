"""A job whose status Zoho answers with something that cannot be used (a state of no known
word, a count that is no count), polled on to the poll timeout: no sign that a job still
runs. (A state whose words say the job ended, CANCELLED, is given up on at once:
``test_exactly_once.py``.) It holds no parked batch back, and given up on, it does not keep
them from ever going again; what it was last seen doing bounds the lost jobs instead
(``LostJobs.unreadable``, ``job_watch.JobWatch``).

The machine is fed the events a run would publish (times are plain numbers).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import pytest
from lost_job_feed import apply, journal_round_trip, running

from zoho_convert.api.errors import ResponseValidationError, ServerError
from zoho_convert.api.models import JobState, JobStatus, ModuleRef
from zoho_convert.bulk.events import (
    BatchRead,
    BatchSubmitted,
    BatchUncertain,
    Event,
    LongestJob,
    SubmitStarted,
)
from zoho_convert.bulk.job_watch import JobWatch
from zoho_convert.bulk.machine import RunMachine
from zoho_convert.bulk.settling import SettlePolicy
from zoho_convert.bulk.spec import RunParams

# Every lost job is given 5 s (no job measured, no margin).
POLICY = SettlePolicy(deadline=1000.0, min_wait=5.0, unknown_wait=5.0)
IDS = tuple(str(100 + n) for n in range(10))
PARAMS = RunParams(module="Quotes", to=ModuleRef("Sales_Orders", "1"))


# Batch 0's job sent at 0 s, still polled; batch 1's reply lost at 1 s (due at 6 s).
STUCK_AND_LOST: list[Event] = [
    BatchRead(0, IDS, 10, 10, 0),
    SubmitStarted(0),
    BatchSubmitted(0, 10, "job0", False, 0.0, 0.0),
    BatchRead(1, ("201",), 11, 11, 0),
    SubmitStarted(1),
    BatchUncertain(1, ("201",), 1.0, True, "lost"),
]


def stuck_and_lost() -> RunMachine:
    """A machine fed ``STUCK_AND_LOST``."""
    machine = RunMachine(POLICY)
    apply(machine, STUCK_AND_LOST)
    return machine


def due(machine: RunMachine, now: float) -> list[int]:
    return [batch.seq for batch in machine.settle_due(now)]


def given_up(machine: RunMachine) -> None:
    machine(machine.unfinished(0, "job0", None, timed_out=True))


def test_a_job_answering_an_unusable_status_holds_no_batch_back() -> None:
    """While batch 0's job answers running, batch 1 (lost after it was sent) is held back past
    its due time; once it answers a status that cannot be used (never seen running), batch 1
    goes when due. Given up on at the poll timeout, it is still reported unfinished, but
    leaves no batch outlived: nothing says a job runs that long."""
    machine = stuck_and_lost()
    assert due(machine, 6.0) == []  # (held back: a job sent before it still runs)
    assert apply(machine, machine.unreadable(0, None)) == []  # (nothing seen: nothing learned)
    assert due(machine, 5.9) == []  # (its own wait still counts)
    assert due(machine, 6.0) == [1]
    given_up(machine)
    assert machine.oldest_unfinished == math.inf
    assert machine.never_again() == []


def test_given_up_on_while_it_ran_it_still_keeps_batches_from_going() -> None:
    """The same job last seen running (no unusable status) when given up on: batch 1 is held
    back, then outlived (never goes again, as before)."""
    machine = stuck_and_lost()
    given_up(machine)
    assert machine.oldest_unfinished == 0.0
    assert machine.never_again() == [("201",)]
    assert machine.settle_round(100.0) is None


def test_what_it_was_seen_doing_bounds_the_lost_jobs() -> None:
    """Seen at 4 s with 2 of its 10 records processed, then unusable: at that pace a job runs
    20 s, so every lost job is given 20 s (a LongestJob seen): batch 1 goes at 21 s."""
    machine = stuck_and_lost()
    events = apply(machine, machine.unreadable(0, (running(2), 4.0)))
    assert events == [LongestJob(20.0, None, seen=True)]
    assert due(machine, 20.9) == []
    assert due(machine, 21.0) == [1]


async def test_what_it_was_seen_doing_survives_a_resume(tmp_path: Path) -> None:
    """The pace it showed is journaled (a LongestJob seen); whether its status could be used
    is not: a resumed session polls the job again (timed from then), and it holds batch 1 back
    until a poll of that session finds its status unusable again."""
    machine = stuck_and_lost()
    events = STUCK_AND_LOST + apply(machine, machine.unreadable(0, (running(2), 4.0)))
    resumed = RunMachine(POLICY)
    apply(resumed, await journal_round_trip(tmp_path / "j.db", PARAMS, events))
    assert resumed.longest_seen_running == 20.0
    _, to_poll, parked = resumed.to_restart(100.0)
    assert [batch.seq for batch in to_poll] == [0] and not to_poll[0].unreadable
    apply(resumed, parked)
    assert due(resumed, 121.0) == []  # (held back: its job, polled again, may still run)
    resumed.unreadable(0, None)
    assert due(resumed, 121.0) == [1]  # (its lost job given the journaled 20 s)


@pytest.mark.parametrize(
    "seen", [(running(0), 5.5), (running(2), None)], ids=["idle-past-the-wait", "resumed"]
)
def test_a_job_its_pace_cannot_bound_is_held_to_be_running(
    seen: tuple[JobStatus, float | None],
) -> None:
    """Seen with nothing processed past a lost job's wait, or seen by a resumed session (its
    age unknown): nothing bounds how long it runs: it holds batch 1 back as a running job
    does, and given up on, keeps it from ever going again."""
    machine = stuck_and_lost()
    assert machine.unreadable(0, seen) == []
    assert due(machine, 100.0) == []
    given_up(machine)
    assert machine.never_again() == [("201",)]


def test_a_usable_status_again_holds_batches_back_again() -> None:
    """Unusable, then running again: the job holds batch 1 back again."""
    machine = stuck_and_lost()
    machine.unreadable(0, None)
    machine.unreadable(0, (running(0), 5.0), unusable=False)
    assert due(machine, 6.0) == []
    given_up(machine)
    assert machine.oldest_unfinished == 0.0


class _Run:
    """The run a ``JobWatch`` tells (``driver.Run``'s machine, publish_all, settle_now)."""

    def __init__(self, machine: RunMachine) -> None:
        self.machine = machine
        self.settled: list[list[int]] = []

    def publish_all(self, events: Iterable[Event]) -> None:
        apply(self.machine, list(events))

    def settle_now(self, now: float) -> None:
        self.settled.append(due(self.machine, now))


class _Always:
    def wait(self, elapsed: float) -> float:
        return 0.0

    def due(self, elapsed: float) -> bool:
        return True

    def polled(self, started: float, ended: float, status: JobStatus | None) -> None:
        pass


async def test_the_watch_tells_the_machine_which_statuses_can_be_used() -> None:
    """Polls at 3, 7, 8, 9 s: running (nothing processed yet, within a lost job's wait:
    nothing learned); an unknown state; a 5xx (no news); running again. Batch 1 (due at 6 s)
    is held back by the running job, goes once its status cannot be used (a 5xx changes
    nothing), and the watch tells the machine when a usable status comes again."""
    machine = stuck_and_lost()
    run = _Run(machine)
    now = [3.0]
    replies: list[JobStatus | Exception] = [
        JobStatus(JobState.IN_PROGRESS),
        ResponseValidationError("unknown job status '???'", field="status"),
        ServerError(500, "INTERNAL_ERROR", "oops"),
        JobStatus(JobState.IN_PROGRESS),
    ]

    async def call() -> JobStatus:
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    watch = JobWatch(lambda: now[0], _Always(), run, 0, True, call)
    unusable: list[bool] = []
    for at in (3.0, 7.0, 8.0, 9.0):
        now[0] = at
        watch.due(at)
        try:
            status: JobStatus | None = await watch.poll()
        except (ResponseValidationError, ServerError):
            status = None
        if at == 8.0:
            machine(BatchRead(2, ("301",), 12, 12, 0))  # (another lost batch, due at 13 s)
            machine(SubmitStarted(2))
            machine(BatchUncertain(2, ("301",), 8.0, True, "lost"))
        watch.polled(at, at, status)
        unusable.append(machine.batches[0].unreadable)
    assert unusable == [False, True, True, False]
    assert run.settled == [[], [1], [], []]
    assert due(machine, 13.0) == []  # (held back by the job running again)
