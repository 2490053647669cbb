"""The settling plan at its bounds (mutation testing of ``settle_plan.py`` after the lost-job
and poll-timeout changes): a lost job's pace from a single record processed, a job of no
progress exactly as old as a lost job's wait, which batches a job given up on at the poll
timeout keeps from going again (and by how much margin), and a batch due exactly at
``now + deadline``.

Each test feeds ``RunMachine`` the events a run would publish (times are plain numbers).
"""

from __future__ import annotations

import math

from lost_job_feed import running
from test_settle_plan_edges import DONE, POLICY
from test_settle_plan_edges import parked as parked_once

from zoho_convert.bulk.events import (
    BatchGaveUp,
    BatchRead,
    BatchSubmitted,
    BatchUncertain,
    SubmitStarted,
)
from zoho_convert.bulk.ledger import CLAIMED_ELSEWHERE
from zoho_convert.bulk.machine import RunMachine


def parked(
    machine: RunMachine, seq: int, since: float, *, code: str = "", at_once: bool = False
) -> None:
    """``test_settle_plan_edges.parked``, the batch a settling one whatever parked it."""
    parked_once(machine, seq, since, code=code, at_once=at_once)
    machine.batches[seq].settling = True


def given_up_at_timeout(machine: RunMachine, seq: int, sent: float) -> None:
    """Batch ``seq`` sent at ``sent``, its job still running at the poll timeout."""
    machine(BatchRead(seq, (f"{seq}01",), seq + 1, seq + 1, 0))
    machine(SubmitStarted(seq))
    machine(BatchSubmitted(seq, 1, f"job{seq}", False, sent, sent))
    machine(machine.unfinished(seq, f"job{seq}", running(0), timed_out=True))


def test_one_record_processed_sets_the_jobs_pace() -> None:
    """Seen at 3 s with 1 of its 10 records processed: at that pace it runs 30 s (one record
    is a pace like any other, not taken for no progress: its age, 3 s)."""
    machine = RunMachine(POLICY)
    assert machine.seen_job_length(0.0, 3.0, running(1), 10) == 30.0
    assert machine.seen_job_length(0.0, 3.0, running(2), 10) == 15.0


def test_a_job_of_no_progress_exactly_as_old_as_the_wait_teaches_nothing() -> None:
    """Nothing processed, seen exactly a lost job's wait (5 s) after it was sent: it has not
    outrun the wait, and says nothing of its length (0.0); a moment older, nothing bounds
    it."""
    machine = RunMachine(POLICY)
    assert machine.seen_job_length(10.0, 15.0, running(0), 10) == 0.0
    assert machine.seen_job_length(10.0, 15.5, running(0), 10) == math.inf


def test_batches_with_no_lost_job_go_again_after_a_job_given_up_on() -> None:
    """A job given up on at the poll timeout (sent at 0 s) keeps the batches lost after it
    from going again, but not one another run held, nor one none of whose submissions can
    have started a job: both get their round, and giving up waits for neither."""
    for code, at_once in ((CLAIMED_ELSEWHERE, False), ("", True)):
        machine = RunMachine(POLICY)
        given_up_at_timeout(machine, 0, 0.0)
        assert machine.oldest_unfinished == 0.0
        parked(machine, 1, 2.0, code=code, at_once=at_once)
        plan = machine.settle_round(2.0)
        assert plan is not None and [b.seq for b in plan.batches] == [1], code
        machine(BatchUncertain(1, ("101",), 3.0, True, "lost", code, at_once))
        (gave_up,) = machine.give_up(3.0)
        assert isinstance(gave_up, BatchGaveUp) and gave_up.lost_job_end == 0.0


def test_a_batch_lost_within_the_margin_before_a_job_given_up_on_never_goes_again() -> None:
    """One job measured tightly at 4 s: a lost job is given a 4 s margin. A job given up on at
    the poll timeout was sent at 10 s; a batch lost at 7 s (within the margin before it) may
    be as long, so it never goes again and its end is unknown; one lost at 5.5 s (before
    the margin) goes, due at 5.5 + 4 + 4 s."""
    for lost_at, goes in ((7.0, False), (5.5, True)):
        machine = RunMachine(POLICY)
        machine(BatchRead(9, ("901",), 1, 1, 0))
        machine(SubmitStarted(9))
        machine(BatchSubmitted(9, 1, "job9", False, 0.0, 0.1))
        for event in machine.finished(9, "job9", DONE, took=4.0, tight=4.0):
            machine(event)
        assert machine._margin() == 4.0
        given_up_at_timeout(machine, 0, 10.0)
        parked(machine, 1, lost_at)
        plan = machine.settle_round(20.0)
        if goes:
            assert plan is not None and plan.due == 20.0 and [b.seq for b in plan.batches] == [1]
        else:
            assert plan is None
            (gave_up,) = machine.give_up(20.0)
            assert isinstance(gave_up, BatchGaveUp) and gave_up.lost_job_end == math.inf


def test_a_batch_due_exactly_at_now_plus_deadline_keeps_its_deadline_for_the_round() -> None:
    """At 0 s, batch 0 falls due at 10 s: exactly now + the 10 s deadline, so not late: its
    deadline counts from now (10 s), and batch 1, due at 11 s, waits for a round of its own
    (a round goes no later than the earliest deadline among its batches)."""
    machine = RunMachine(POLICY)
    parked(machine, 0, 5.0)  # due at 10 s
    parked(machine, 1, 6.0)  # due at 11 s
    plan = machine.settle_round(0.0)
    assert plan is not None and plan.due == 10.0
    assert [b.seq for b in plan.batches] == [0]
    assert machine.batches[0].settle_from == 10.0
    assert machine.batches[1].settle_from is None


def test_a_batch_lost_exactly_the_margin_before_a_job_given_up_on_never_goes_again() -> None:
    """As above, the batch lost at 6 s: exactly the 4 s margin before the job given up on
    (sent at 10 s). It may be as long as that job: it never goes again, its end unknown."""
    machine = RunMachine(POLICY)
    machine(BatchRead(9, ("901",), 1, 1, 0))
    machine(SubmitStarted(9))
    machine(BatchSubmitted(9, 1, "job9", False, 0.0, 0.1))
    for event in machine.finished(9, "job9", DONE, took=4.0, tight=4.0):
        machine(event)
    given_up_at_timeout(machine, 0, 10.0)
    parked(machine, 1, 6.0)
    assert machine.settle_round(20.0) is None
    (gave_up,) = machine.give_up(20.0)
    assert isinstance(gave_up, BatchGaveUp) and gave_up.lost_job_end == math.inf
