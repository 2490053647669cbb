"""Hunt round 8, decision by decision (no I/O): final statuses that cannot account for their
batch, and refusals of a settling record that say nothing sure of it.

The same findings over HTTP, judged against a server's ledger:
``tests/integration/test_hunt_round8.py``.
"""

from __future__ import annotations

import pytest
from test_queued_jobs import POLICY as QUEUE_POLICY
from test_queued_jobs import apply, lost, sent
from test_unreadable_job import _Always, _Run

from zoho_convert import SettlePolicy
from zoho_convert.api.errors import RecordStateError
from zoho_convert.api.models import JobState, JobStatus
from zoho_convert.bulk.events import (
    BatchGaveUp,
    BatchRead,
    BatchSplit,
    BatchSubmitted,
    BatchUncertain,
    IdsAlreadyConverted,
    IdsRejected,
    JobFinished,
    JobLost,
    LongestJob,
    SubmitStarted,
)
from zoho_convert.bulk.job_watch import JobWatch
from zoho_convert.bulk.lost_jobs import unaccountable
from zoho_convert.bulk.machine import RunMachine

IDS = ("101", "102", "103", "104")
POLICY = SettlePolicy(deadline=10.0, min_wait=5.0, unknown_wait=5.0)

C, F = JobState.COMPLETED, JobState.FAILED
LIES = {
    "COMPLETED with every count 0": JobStatus(C, 0, 0, 0, 0),
    "a total over the batch": JobStatus(C, 7, 7, 0, 0),
    "a total under the batch": JobStatus(C, 3, 3, 0, 0),
    "FAILED counting none": JobStatus(F, 0, 0, 0, 0),
    "COMPLETED with records not converted": JobStatus(C, 4, 2, 2, 0),
    "COMPLETED, one not converted, one failed": JobStatus(C, 4, 2, 1, 1),
    "counts that do not add up": JobStatus(C, 4, 4, 0, 1),
}
TRUE = {
    "all converted": JobStatus(C, 4, 4, 0, 0),
    "some failed": JobStatus(C, 4, 3, 0, 1),
    "FAILED, none converted": JobStatus(F, 4, 0, 0, 4),
    "FAILED, some never tried": JobStatus(F, 4, 1, 3, 0),
}


def machine_with_job(settling: bool = False) -> RunMachine:
    """A machine whose batch 0 (``IDS``) went at 1.0 s and was answered at 1.5 s, job 5000."""
    machine = RunMachine(POLICY)
    machine(BatchRead(0, IDS, 4, 4, 0))
    machine(SubmitStarted(0))
    machine(BatchSubmitted(0, 4, "5000", settling, 1.0, 1.5))
    return machine


@pytest.mark.parametrize("status", LIES.values(), ids=LIES.keys())
@pytest.mark.parametrize("settling", [False, True])
def test_a_final_status_that_cannot_account_for_its_batch_loses_the_job(
    status: JobStatus, settling: bool
) -> None:
    """Each shape ends the job lost, the status kept on it, and parks its ids to be settled
    (a settling job's to be checked record by record): never a JobFinished, whose counts
    the report would take as the records' fate."""
    machine = machine_with_job(settling)
    machine(LongestJob(5.0))
    events = machine.finished(0, "5000", status, took=0.5, tight=0.5, by_record=True)
    reason = unaccountable(status, 4)
    assert reason
    text = f"job 5000 lost: {reason}"
    assert events == [
        JobLost(0, "5000", 4, reason, status),
        BatchUncertain(0, IDS, 1.5, True, text, "", False, settling),
    ]
    # Its 0.5 s measures no job (it may have said so before it ran): the lost-job wait stays
    # the 5 s job's.
    assert machine.tight_jobs == 0 and machine.longest_job_tight == 0.0
    for event in events:
        machine(event)
    assert machine.due_at(0) >= 1.5 + 5.0


@pytest.mark.parametrize("status", TRUE.values(), ids=TRUE.keys())
def test_a_final_status_that_accounts_for_its_batch_is_taken_as_it_says(
    status: JobStatus,
) -> None:
    """A first submission's job whose final counts account for every record it was sent
    finishes with them (issue 10: the wire's word, where it can be true)."""
    machine = machine_with_job()
    assert unaccountable(status, 4) == ""
    events = machine.finished(0, "5000", status, took=3.0)
    assert events[-1] == JobFinished(0, "5000", 4, status, IDS, False)


def refused(code: str, index: int | None = None) -> RecordStateError:
    """Zoho's refusal ``code``, naming the id at ``index`` (None: naming none)."""
    details = {} if index is None else {"resource_path_index": index}
    return RecordStateError(400, code, f"{code} message", details)


@pytest.mark.parametrize("code", ["DUPLICATE_DATA", "AMBIGUITY_DURING_PROCESSING"])
def test_an_ambiguous_refusal_of_a_settling_record_check_is_uncertain(code: str) -> None:
    """A record's single convert while settling answered ``code`` (which a conversion of the
    record by its lost submission may itself cause): the record is given up on, uncertain,
    never rejected. The same refusal of a first submission rejects it."""
    machine = machine_with_job()
    machine(BatchUncertain(0, IDS, 1.5, True, "lost", "", True, True))
    machine(BatchSplit(0, ((1, ("101",)), (2, ("102",))), True))
    verdict = machine.refused(1, ("101",), refused(code, 0), settling=True, at=3.0, single=True)
    assert verdict is not None
    events, parts = verdict
    assert parts == [] and len(events) == 1
    assert isinstance(events[0], BatchGaveUp) and events[0].ids == ("101",)
    assert code in events[0].reason
    first = RunMachine(POLICY)
    first(BatchRead(0, ("101",), 1, 1, 0))
    verdict = first.refused(0, ("101",), refused(code, 0), settling=False, at=3.0)
    assert verdict is not None and isinstance(verdict[0][0], IdsRejected)


def test_an_ambiguous_refusal_naming_one_id_of_a_settling_batch_parts_it_out() -> None:
    """A settling mass resubmission refused ``DUPLICATE_DATA`` naming its 2nd id: that id
    becomes a part of its own, given up on (uncertain), the rest a part sent again. The
    machine folds the events (the split's parent found, the given-up part gone)."""
    machine = machine_with_job()
    machine(BatchUncertain(0, IDS, 1.5, True, "lost", "", False))
    machine(SubmitStarted(0))
    verdict = machine.refused(0, IDS, refused("DUPLICATE_DATA", 1), settling=True, at=9.0)
    assert verdict is not None
    events, parts = verdict
    rest = ("101", "103", "104")
    assert events[0] == BatchSplit(0, ((1, ("102",)), (2, rest)), True)
    assert isinstance(events[1], BatchGaveUp) and events[1].batch == 1
    assert parts == [(2, rest)]
    for event in events:
        machine(event)
    assert set(machine.batches) == {2} and machine.batches[2].settling


def test_a_refusal_as_converted_of_a_settling_record_is_still_already_converted() -> None:
    """``ID_ALREADY_CONVERTED`` of a settling record check (its final look, as a settling
    job's check is: ``second_look``) still reads converted by the lost submission (unchanged
    by the ambiguous codes)."""
    machine = machine_with_job()
    machine(BatchUncertain(0, IDS, 1.5, True, "lost", "", True, True, final_look=True))
    machine(BatchSplit(0, ((1, ("101",)),), True))
    error = refused("ID_ALREADY_CONVERTED")
    verdict = machine.refused(1, ("101",), error, settling=True, at=3.0, single=True)
    assert verdict is not None and verdict[0] == [IdsAlreadyConverted(1, ("101",))]


def test_a_locked_record_of_a_settling_check_is_still_rejected() -> None:
    """``RECORD_LOCKED`` of a settling record check rejects the record (records locked for a
    reason of their own are common; a server that locks the records it converted is a known
    limit: ``test_hunt_round8.py``'s strict xfail)."""
    machine = machine_with_job()
    machine(BatchUncertain(0, IDS, 1.5, True, "lost", "", True, True))
    machine(BatchSplit(0, ((1, ("101",)),), True))
    error = refused("RECORD_LOCKED", 0)
    verdict = machine.refused(1, ("101",), error, settling=True, at=3.0, single=True)
    assert verdict is not None
    assert [type(event) for event in verdict[0]] == [IdsRejected]


async def test_the_watch_takes_no_sighting_from_a_final_status_that_cannot_account() -> None:
    """Batch 0's job, sent at 0 s, answers COMPLETED with every count 0 at its first poll
    (0.5 s), before it ran: the machine learns nothing of when it ran or ended (no running
    time, no end that a lost batch queued behind it would be timed from, no start), so batch
    1, lost at 1 s, keeps the wait a queue behind an unknown job gives (``unknown_wait``)."""
    machine = RunMachine(QUEUE_POLICY)
    apply(machine, sent(0, 0.0) + lost(1, 1.0))
    due_before = machine.due_at(1)
    run = _Run(machine)

    async def call() -> JobStatus:
        return JobStatus(JobState.COMPLETED, 0, 0, 0, 0)

    watch = JobWatch(lambda: 0.5, _Always(), run, 0, True, call)
    watch.due(0.5)
    watch.polled(0.5, 0.5, await watch.poll())
    assert machine.longest_running == 0.0
    apply(machine, machine.finished(0, "job0", await call(), took=0.5, tight=0.5))
    assert machine.longest_job == 0.0 and machine.tight_jobs == 0
    assert machine.due_at(1) == due_before == 1.0 + QUEUE_POLICY.unknown_wait
