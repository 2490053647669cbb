"""How long a lost job seen running may run, when its status leaves out its total or gives
one other than the batch's size (mutation testing of ``lost_jobs.py``): the status's total
counts when given, the batch's size when not.

The machine is fed the events a run would publish (no I/O, no clock: times are plain numbers).
"""

from __future__ import annotations

from zoho_convert.api.models import JobState, JobStatus
from zoho_convert.bulk.events import BatchRead, BatchSubmitted, LongestJob, SubmitStarted
from zoho_convert.bulk.machine import RunMachine
from zoho_convert.bulk.settling import SettlePolicy

POLICY = SettlePolicy(deadline=1000.0, min_wait=5.0, unknown_wait=5.0)
IDS = tuple(str(100 + n) for n in range(10))


def submitted(machine: RunMachine) -> None:
    machine(BatchRead(0, IDS, 10, 10, 0))
    machine(SubmitStarted(0))
    machine(BatchSubmitted(0, 10, "job0", False, 0.0, 0.0))


def test_a_sighting_without_a_total_is_paced_on_the_batchs_size() -> None:
    """Seen at 4 s with 2 records converted and no total count: the batch's 10 records at
    that pace take 20 s."""
    machine = RunMachine(POLICY)
    submitted(machine)
    status = JobStatus(JobState.IN_PROGRESS, None, 2, None, 0)
    events = machine.lost(0, "job0", "forgotten", seen=(status, 4.0))
    assert events[0] == LongestJob(20.0, None, seen=True)


def test_a_sighting_with_a_total_is_paced_on_that_total() -> None:
    """Seen at 4 s with 5 of 20 records converted (Zoho's total, not the batch's 10): 16 s."""
    machine = RunMachine(POLICY)
    submitted(machine)
    status = JobStatus(JobState.IN_PROGRESS, 20, 5, 15, 0)
    assert machine.seen_job_length(0.0, 4.0, status, 10) == 16.0
    events = machine.lost(0, "job0", "forgotten", seen=(status, 4.0))
    assert events[0] == LongestJob(16.0, None, seen=True)


def test_a_seen_length_under_a_second_is_journaled() -> None:
    """Seen at 0.25 s with 5 of 10 records converted: it may run 0.5 s, longer than the
    none seen before (0 s): journaled, however short."""
    machine = RunMachine(POLICY)
    submitted(machine)
    status = JobStatus(JobState.IN_PROGRESS, 10, 5, 5, 0)
    events = machine.lost(0, "job0", "forgotten", seen=(status, 0.25))
    assert events[0] == LongestJob(0.5, None, seen=True)
