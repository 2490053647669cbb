"""``SettlePlan.due_at`` for each kind of parked batch (issue 15's mutants of
``bulk/settle_plan.py``): one parked for a lost job's sake falls due a job's wait after it
surely started; one parked at once (a record's single convert, a submission that surely did
nothing) at its own time.

No I/O, no clock: times are plain numbers.
"""

from __future__ import annotations

from zoho_convert.bulk.events import BatchRead, BatchUncertain, LongestJob, SubmitStarted
from zoho_convert.bulk.machine import RunMachine
from zoho_convert.bulk.settling import SettlePolicy

POLICY = SettlePolicy(min_wait=3.0, unknown_wait=20.0)


def parked(machine: RunMachine, seq: int, since: float, *, at_once: bool) -> None:
    """Batch ``seq`` read, sent and parked ``since`` (its reply lost, or ``at_once``)."""
    machine(BatchRead(seq, (f"{seq}01",), seq + 1, seq + 1, 0))
    machine(SubmitStarted(seq))
    machine(BatchUncertain(seq, (f"{seq}01",), since, True, "reply lost", "", at_once))


def test_a_batch_parked_for_a_lost_job_falls_due_a_jobs_wait_later() -> None:
    """A lost reply at 10: due at 10 + unknown_wait (no job seen yet), then 10 + the longest
    job once one finished (8 s), never sooner than min_wait; at once: due at its own time."""
    machine = RunMachine(POLICY)
    parked(machine, 0, 10.0, at_once=False)
    parked(machine, 1, 12.5, at_once=True)
    assert machine.due_at(0) == 30.0
    machine(LongestJob(8.0))
    assert machine.due_at(0) == 18.0
    assert machine.due_at(1) == 12.5
    quick = RunMachine(POLICY)
    parked(quick, 0, 10.0, at_once=False)
    quick(LongestJob(1.0))
    assert quick.due_at(0) == 13.0


def test_a_settling_round_may_start_at_the_deadline_itself() -> None:
    """Settling started at 0 with a 30 s deadline: a batch parked again to go at once at 30
    gets its round at 30 (the deadline is not past yet); one parked again at 30.5 is not."""
    machine = RunMachine(SettlePolicy(deadline=30.0, min_wait=3.0, unknown_wait=20.0))
    parked(machine, 0, 0.0, at_once=True)
    first = machine.settle_round(0.0)
    assert first is not None and first.due == 0.0 and machine.batches[0].settle_from == 0.0

    for since, expected in ((30.0, 30.0), (30.5, None)):
        machine(SubmitStarted(0))
        machine(BatchUncertain(0, ("001",), since, True, "refused", "", True))
        again = machine.settle_round(since)
        assert (again and again.due) == expected
        assert machine.batches[0].rounds == 2  # taken at 30, not at 30.5
