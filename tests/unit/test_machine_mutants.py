"""The run's state machine, on the points its other tests leave loose: a record's pause keeps
doubling per round until min_wait caps it, a single convert whose reply could not be read is
parked without an error code, and the round trip a longest job carries is the mean of the
accepted submissions' round trips.

Each test feeds ``RunMachine`` the events a run would publish (times are plain numbers).
"""

from __future__ import annotations

import math

import pytest

from zoho_convert.api.errors import ResponseValidationError, ServerError
from zoho_convert.api.models import JobState, JobStatus
from zoho_convert.bulk.events import (
    BatchGaveUp,
    BatchRead,
    BatchSubmitted,
    BatchUncertain,
    IdsRejected,
    JobFinished,
    JobUnfinished,
    LongestJob,
    SubmitStarted,
)
from zoho_convert.bulk.isolation import error_text
from zoho_convert.bulk.machine import RunMachine
from zoho_convert.bulk.settling import SettlePolicy

# min_wait far above the pauses below, so that none of them is capped.
POLICY = SettlePolicy(min_wait=5.0, unknown_wait=5.0)


def lost_record() -> RunMachine:
    """A machine whose one-record batch 0 lost its reply (parked since 0 s)."""
    machine = RunMachine(POLICY)
    machine(BatchRead(0, ("101",), 1, 1, 0))
    machine(SubmitStarted(0))
    machine(BatchUncertain(0, ("101",), 0.0, True, "reply lost"))
    return machine


def test_a_records_pause_doubles_each_round_below_min_wait() -> None:
    """A record whose single convert gets a 500 in rounds 1, 2, 3 and 4 is parked 0.05 s times
    2, 4, 8 and 16 after the error (doubling, not growing by a step), min_wait being higher."""
    machine = lost_record()
    now = 100.0
    for round_, pause in ((1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8)):
        (taken,) = machine.settle_due(now)
        assert taken.rounds == round_
        error = ServerError(500, "INTERNAL_ERROR", "try again", maybe_processed=True)
        verdict = machine.refused(0, ("101",), error, settling=True, at=now, single=True)
        assert verdict is not None
        (event,), parts = verdict
        assert parts == [] and isinstance(event, BatchUncertain)
        assert event.since == pytest.approx(now + pause) and event.at_once
        machine(event)
        now = event.since


def test_a_single_convert_with_an_unreadable_reply_is_parked_without_a_code() -> None:
    """A single convert that Zoho answered with a success we could not read may have converted
    the record: it goes again after its pause, and its event carries no error code (Zoho
    gave none), only the reading error's text."""
    machine = lost_record()
    (taken,) = machine.settle_due(100.0)
    assert taken.rounds == 1
    error = ResponseValidationError("bad JSON", field="data[0]", maybe_processed=True)
    verdict = machine.refused(0, ("101",), error, settling=True, at=100.0, single=True)
    assert verdict == (
        [BatchUncertain(0, ("101",), 100.1, True, error_text(error), "", True)],
        [],
    )


def test_a_longest_job_carries_the_mean_round_trip_of_the_accepted_submissions() -> None:
    """Two submissions accepted 0.2 s and 0.6 s after they left: a job longer than any before
    is published with their mean round trip, 0.4 s (what a single convert is expected to
    take)."""
    machine = RunMachine(POLICY)
    for seq, (sent, answered) in enumerate(((1.0, 1.2), (2.0, 2.6))):
        ids = (f"{seq}01",)
        machine(BatchRead(seq, ids, seq + 1, seq + 1, 0))
        machine(SubmitStarted(seq))
        machine(BatchSubmitted(seq, 1, f"500{seq}", False, sent, answered))
    status = JobStatus(JobState.COMPLETED, 1, 1, 0, 0)
    events = machine.finished(0, "5000", status, took=3.0)
    assert events[0] == LongestJob(3.0, pytest.approx(0.4))
    assert events[1] == JobFinished(0, "5000", 1, status, ("001",), False)


def sending() -> RunMachine:
    """A machine whose batch 0 (ids 101, 102; never sent before) is being sent."""
    machine = RunMachine(POLICY)
    machine(BatchRead(0, ("101", "102"), 2, 2, 0))
    machine(SubmitStarted(0))
    return machine


def test_a_run_stopping_unreadable_reply_leaves_its_batch_in_flight() -> None:
    """A submission whose reply could not be read stops the run: Zoho's own refusal is not
    known, so its batch stays in flight (reported uncertain), never parked as never sent."""
    machine = sending()
    error = ResponseValidationError("error reply is not JSON")
    assert machine.stopped_by(0, error, 3.0) == []
    assert machine.batches[0].state.value == "submitting"


def test_a_run_stopping_gateway_reply_leaves_its_batch_in_flight() -> None:
    """A submission answered by a gateway's 504 (not by Zoho: a job may be starting behind
    it) stays in flight when it stops the run, even when not marked maybe processed."""
    machine = sending()
    error = ServerError(504, "GATEWAY_TIMEOUT", "upstream timed out", maybe_processed=False)
    assert machine.stopped_by(0, error, 3.0) == []
    assert machine.batches[0].state.value == "submitting"


# -- a job's end: what its events say (mutation testing of machine.finished and lost) -----------


IDS3 = ("101", "102", "103")
PARTLY = JobStatus(JobState.COMPLETED, 3, 2, 0, 1)  # two converted, one failed


def submitted(*, settling: bool, fleet: bool = False) -> RunMachine:
    """A machine whose batch 0 (three ids) was accepted as job 5000 at 1 s (answered 1.5 s)."""
    machine = RunMachine(POLICY, fleet=fleet)
    machine(BatchRead(0, IDS3, 3, 3, 0))
    machine(SubmitStarted(0))
    machine(BatchSubmitted(0, 3, "5000", settling, 1.0, 1.5))
    return machine



@pytest.mark.parametrize(
    ("settling", "fleet", "kind"), [(True, False, "settling job"), (False, True, "job")]
)
def test_an_unclear_jobs_check_says_what_it_converted(
    settling: bool, fleet: bool, kind: str
) -> None:
    """A settling job (or a fleet run's) that converted 2 of 3 records: its records are
    parked to be checked one by one, saying how many of how many it converted; that check is
    their final look. A fleet's first job's, at once (no lost job of the run holds them); a
    settling job's, a lost job's wait after its answer (its failures may be records its lost
    predecessor still held: ``second_look``)."""
    machine = submitted(settling=settling, fleet=fleet)
    events = machine.finished(0, "5000", PARTLY, took=2.0, by_record=True)
    reason = f"{kind} 5000 converted 2 of 3 records; each is checked by its single convert"
    since, at_once = (1.5, False) if settling else (1.0, True)
    check = BatchUncertain(0, IDS3, since, True, reason, "", at_once, True, final_look=True)
    assert events[-1] == check


def test_an_unclear_job_without_the_single_convert_is_given_up_saying_why() -> None:
    """The same settling job where the single convert is not usable: its ids are given up,
    the reason saying that which of them converted cannot be told."""
    machine = submitted(settling=True)
    events = machine.finished(0, "5000", PARTLY, took=2.0)  # (by_record: False by default)
    reason = (
        "settling job 5000 converted 2 of 3 records; which of the rest an earlier submission "
        "converted cannot be told without the single convert"
    )
    assert events[-1] == BatchGaveUp(0, IDS3, reason)


def test_a_settling_job_that_converted_everything_finishes_as_settling() -> None:
    """A settling job that converted every record finishes, marked settling (its report
    entry says its records went again)."""
    machine = submitted(settling=True)
    done = JobStatus(JobState.COMPLETED, 3, 3, 0, 0)
    assert machine.finished(0, "5000", done, took=2.0)[-1] == JobFinished(
        0, "5000", 3, done, IDS3, True
    )


def test_a_settling_job_with_odd_counts_is_lost_and_checked_when_it_may_be() -> None:
    """A settling job whose final counts do not add up is lost; with the single convert
    usable its records are checked one by one after its wait, else resubmitted (a lost
    job's default: no check)."""
    odd = JobStatus(JobState.COMPLETED, 3, 3, 0, 1)
    reason = "job 5000 lost: its final status has counts that are missing or do not add up"
    for by_record in (True, False):
        machine = submitted(settling=True)
        *_, parked = machine.finished(0, "5000", odd, took=2.0, by_record=by_record)
        assert parked == BatchUncertain(0, IDS3, 1.5, True, reason, "", False, by_record)
    machine = submitted(settling=True)
    *_, parked = machine.lost(0, "5000", "forgotten")
    assert isinstance(parked, BatchUncertain) and not parked.by_record


def test_events_of_batches_already_gone_are_folded_without_error() -> None:
    """Events naming a batch the machine no longer holds (a journal replaying a session that
    ended it already) change nothing and raise nothing."""
    machine = RunMachine(POLICY)
    status = JobStatus(JobState.COMPLETED, 1, 1, 0, 0)
    machine(JobUnfinished(7, "5000", 1, None, ("101",), False))
    machine(JobFinished(7, "5000", 1, status, ("101",), False))
    machine(IdsRejected(7, ()))
    assert machine.batches == {} and machine.oldest_unfinished == math.inf
    assert machine.last_refused is None
