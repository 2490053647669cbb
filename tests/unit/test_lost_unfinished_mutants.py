"""What the machine says of a job given up on or lost, and when a poll tells the run (mutation
testing of ``machine.py``'s ``unfinished`` and ``lost`` and ``settling.PollTimer``): the event
of a job given up on carries both whether it was a settling job's and whether the poll timeout
gave it up (the keeper renews its claims on the latter only); a lost job's pace no longer than
the longest job journaled journals nothing; every poll but one finding the job done is the
run's heartbeat, one that got no answer included.

The machine is fed the events a run would publish (no I/O, no clock: times are plain numbers).
"""

from __future__ import annotations

from lost_job_feed import running

from zoho_convert.api.models import JobState, JobStatus
from zoho_convert.bulk.events import (
    BatchRead,
    BatchSubmitted,
    BatchUncertain,
    JobLost,
    JobUnfinished,
    LongestJob,
    SubmitStarted,
)
from zoho_convert.bulk.machine import RunMachine
from zoho_convert.bulk.settling import PollTimer, SettlePolicy

POLICY = SettlePolicy(deadline=1000.0, min_wait=5.0, unknown_wait=5.0)
IDS = tuple(str(100 + n) for n in range(10))


def submitted(machine: RunMachine, seq: int, *, settling: bool, sent: float = 0.0) -> None:
    machine(BatchRead(seq, IDS, 10, 10, 0))
    machine(SubmitStarted(seq))
    machine(BatchSubmitted(seq, 10, f"job{seq}", settling, sent, sent))


def test_a_job_given_up_on_says_whether_it_settled_and_whether_it_timed_out() -> None:
    """A settling job given up on at the poll timeout, a first one at the poll timeout, and a
    first one when the run stopped: each event says which, its ids and its last status."""
    for settling, timed_out in ((True, True), (False, True), (False, False), (True, False)):
        machine = RunMachine(POLICY)
        submitted(machine, 0, settling=settling)
        event = machine.unfinished(0, "job0", running(3), timed_out=timed_out)
        assert event == JobUnfinished(0, "job0", 10, running(3), IDS, settling, timed_out)
    stopped = RunMachine(POLICY)
    submitted(stopped, 0, settling=False)
    event = stopped.unfinished(0, "job0", None)  # (not told: the run stopped)
    assert isinstance(event, JobUnfinished) and event.timed_out is False


def test_a_lost_jobs_pace_no_longer_than_the_longest_job_journals_nothing() -> None:
    """A lost job seen before may run 30 s. Seen at 3 s with 1 of 10 records processed, a
    lost job may run 30 s: no longer, so no LongestJob is journaled; seen at 3.1 s, 31 s is."""
    machine = RunMachine(POLICY)
    machine(LongestJob(30.0, None, seen=True))
    submitted(machine, 0, settling=False)
    events = machine.lost(0, "job0", "forgotten", seen=(running(1), 3.0))
    assert [type(e) for e in events] == [JobLost, BatchUncertain]
    longer = RunMachine(POLICY)
    longer(LongestJob(30.0, None, seen=True))
    submitted(longer, 0, settling=False)
    events = longer.lost(0, "job0", "forgotten", seen=(running(1), 3.1))
    assert isinstance(events[0], LongestJob) and events[0].seconds == 31.0


class _Always:
    """A schedule that always polls (``PollTimer`` hands every call on to it)."""

    def wait(self, elapsed: float) -> float:
        return 0.0

    def due(self, elapsed: float) -> bool:
        return True

    def polled(self, started: float, ended: float, status: JobStatus | None) -> None:
        pass


def test_every_poll_but_one_finding_the_job_done_tells_the_run() -> None:
    """A poll answered with the job running tells the run (at the run's clock), and so does
    one that got no answer (its job may still run); one that found the job done does not
    (the run asks about its end once it is recorded)."""
    now = [1.0]
    told: list[float] = []
    timer = PollTimer(lambda: now[0], _Always(), told.append)
    timer.due(0.0)
    timer.polled(0.0, 0.0, running(1))
    now[0] = 2.0
    timer.due(1.0)
    timer.polled(1.0, 1.0, None)
    now[0] = 3.0
    timer.due(2.0)
    timer.polled(2.0, 2.0, JobStatus(JobState.COMPLETED, 10, 10, 0, 0))
    assert told == [1.0, 2.0]
