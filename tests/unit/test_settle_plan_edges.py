"""The settling plan, on the points its other tests leave loose (mutation testing of
``settle_plan.py``): the margin of two measured jobs, a round cut short by an earlier batch's
deadline, when a stopped run's lost jobs surely end, and what a give-up says of batches with
no lost job of this run.

Each test feeds ``RunMachine`` the events a run would publish (times are plain numbers).
"""

from __future__ import annotations

import math

import pytest

from zoho_convert.api.models import JobState, JobStatus
from zoho_convert.bulk.events import (
    BatchGaveUp,
    BatchRead,
    BatchSubmitted,
    BatchUncertain,
    SubmitStarted,
)
from zoho_convert.bulk.ledger import CLAIMED_ELSEWHERE
from zoho_convert.bulk.machine import RunMachine
from zoho_convert.bulk.settling import SettlePolicy

# Every lost job is given 5 s (no job measured); settling of one batch may take 10 s.
POLICY = SettlePolicy(deadline=10.0, min_wait=5.0, unknown_wait=5.0)
DONE = JobStatus(JobState.COMPLETED, 1, 1, 0, 0)


def parked(
    machine: RunMachine, seq: int, since: float, *, code: str = "", at_once: bool = False
) -> None:
    """Batch ``seq`` (one id) read, sent, and parked ``since`` (a lost reply, unless
    ``at_once``: surely not sent; ``code``: why)."""
    ids = (f"{seq}01",)
    machine(BatchRead(seq, ids, seq + 1, seq + 1, 0))
    machine(SubmitStarted(seq))
    machine(BatchUncertain(seq, ids, since, not at_once, "lost", code, at_once))


def test_two_jobs_measured_widen_their_spread_threefold() -> None:
    """With two jobs measured (3 s and 4 s), the margin is their spread widened by
    (n + 1) / (n - 1) = 3, plus the longest over n: 3 + 2 = 5 s."""
    machine = RunMachine(POLICY)
    for seq, took in ((0, 3.0), (1, 4.0)):
        machine(BatchRead(seq, (f"{seq}01",), seq + 1, seq + 1, 0))
        machine(SubmitStarted(seq))
        machine(BatchSubmitted(seq, 1, f"500{seq}", False, 0.0, 0.1))
        machine.finished(seq, f"500{seq}", DONE, took=took, tight=took)
    assert machine._margin() == pytest.approx(5.0)


def test_a_round_stops_at_an_earlier_batchs_deadline() -> None:
    """A round takes the batches due by the earliest deadline among them: one due at exactly
    that deadline goes with it; one due later waits for a round of its own (the first round
    is not lost for it)."""
    for later_due, expected in ((7.0, [0, 1]), (8.0, [0])):
        machine = RunMachine(POLICY)
        parked(machine, 0, 0.0)  # due at 5 s
        machine.batches[0].settle_from = -3.0  # its settling began at -3 s: deadline 7 s
        parked(machine, 1, later_due - 5.0)  # due at later_due; its deadline 0 + 10 s
        plan = machine.settle_round(0.0)
        assert plan is not None
        assert [b.seq for b in plan.batches] == expected
        assert plan.due == (later_due if expected == [0, 1] else 5.0)


def test_a_running_settling_job_is_not_a_lost_job() -> None:
    """A stopped run whose only active batch is a settling resubmission still being polled
    has no lost job to wait for: its job is unfinished, reported so (no wait added)."""
    machine = RunMachine(POLICY)
    machine(BatchRead(0, ("001",), 1, 1, 0))
    machine(SubmitStarted(0))
    machine(BatchSubmitted(0, 1, "5000", True, 10.0, 10.1))
    assert machine.lost_jobs_end(12.0) == 12.0


def test_ids_held_elsewhere_do_not_hide_a_later_lost_job() -> None:
    """Of a batch another run held (no job of this run) and a later batch with a lost reply,
    the lost one's job sets when the stopped run's lost jobs surely end."""
    machine = RunMachine(POLICY)
    parked(machine, 0, 1.0, code=CLAIMED_ELSEWHERE)
    parked(machine, 1, 2.0)
    assert machine.lost_jobs_end(3.0) == 7.0  # 2 s + the 5 s wait


def test_a_job_sent_with_the_lost_one_leaves_its_end_unknown() -> None:
    """A job sent at the very moment a lost reply's submission left, still running when the
    run stopped, may be as long as the lost job: when that one ends is unknown."""
    machine = RunMachine(POLICY)
    machine(BatchRead(0, ("001",), 1, 1, 0))
    machine(SubmitStarted(0))
    machine(BatchSubmitted(0, 1, "5000", False, 2.0, 2.1))
    parked(machine, 1, 2.0)
    assert machine.lost_jobs_end(3.0) == math.inf


@pytest.mark.parametrize(("code", "at_once"), [(CLAIMED_ELSEWHERE, False), ("", True)])
def test_giving_up_on_a_batch_with_no_lost_job_of_this_run_waits_for_none(
    code: str, at_once: bool
) -> None:
    """A settling batch given up on whose ids another run held, or none of whose submissions
    can have started a job, has no lost job of this run to wait for: its end is 0 s away;
    a batch with a lost reply says when its job surely ended."""
    machine = RunMachine(POLICY)
    parked(machine, 0, 1.0, code=code, at_once=at_once)
    machine.batches[0].settling = True
    parked(machine, 1, 1.0)
    events = machine.give_up(2.0)
    assert [(e.batch, e.lost_job_end) for e in events if isinstance(e, BatchGaveUp)] == [
        (0, 0.0),
        (1, 4.0),  # 1 s + the 5 s wait, from 2 s
    ]


def test_batches_falling_due_late_together_go_in_one_round() -> None:
    """Two batches never resubmitted, both due past now + deadline and a moment apart: one
    round takes both when the later is due (the first's deadline counting from its round),
    rather than the second waiting out the first round."""
    machine = RunMachine(POLICY)
    parked(machine, 0, 95.0)  # due at 100 s
    parked(machine, 1, 96.0)  # due at 101 s
    plan = machine.settle_round(0.0)
    assert plan is not None and plan.due == 101.0
    assert [b.seq for b in plan.batches] == [0, 1]
