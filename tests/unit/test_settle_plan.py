"""When the machine settles a parked batch record by record (``SettlePlan.by_record``), driven
event by event: each condition that rules it out, and the estimate it rests on (the records
queued, the batch's own, one poll per running job, ``slots`` at a time, times the mean round
trip of the accepted submissions, against the longest job).

No I/O, no clock: times are plain numbers, chosen as exact binary fractions so that the
estimate's boundary is met exactly.
"""

from __future__ import annotations

from typing import Any

import pytest

from zoho_convert.api.models import JobState, JobStatus
from zoho_convert.bulk.events import (
    BatchRead,
    BatchSubmitted,
    BatchUncertain,
    InputEnded,
    JobFinished,
    LongestJob,
    SubmitStarted,
)
from zoho_convert.bulk.machine import RunMachine
from zoho_convert.bulk.settling import SettlePolicy

POLICY = SettlePolicy(min_wait=8.0, unknown_wait=8.0)
LOST = ("901", "902", "903")  # the parked batch (number 1): three records
DONE = JobStatus(JobState.COMPLETED, 1, 1, 0, 0)


def accepted(machine: RunMachine, seq: int, at: float, answered: float | None) -> None:
    """Batch ``seq`` (one id) read and sent at ``at``, Zoho's job id back at ``answered``
    (None: replayed from a journal, not timed)."""
    machine(BatchRead(seq, (f"{seq}01",), seq + 1, seq + 1, 0))
    machine(SubmitStarted(seq))
    machine(BatchSubmitted(seq, 1, f"500{seq}", False, at, answered))


def parked(machine: RunMachine, *, maybe_sent: bool = True) -> None:
    """Batch 1 (``LOST``) read, sent, and parked: its reply was lost (``maybe_sent``), or it
    surely never reached Zoho."""
    machine(BatchRead(1, LOST, 4, 4, 0))
    machine(SubmitStarted(1))
    machine(BatchUncertain(1, LOST, 2.0, maybe_sent, "reply lost", "", not maybe_sent))


def settling_machine(longest: float = 4.0) -> RunMachine:
    """A machine where batch 0 was accepted with a half-second round trip and its job (of
    ``longest`` seconds) finished, batch 1 is parked and the input has ended: record by record
    pays as soon as its records take less than ``longest``."""
    machine = RunMachine(POLICY)
    accepted(machine, 0, 1.0, 1.5)
    machine(LongestJob(longest))
    machine(JobFinished(0, "5000", 1, DONE, ("001",)))
    parked(machine)
    machine(InputEnded(4, 0))
    return machine


def test_a_parked_batch_goes_record_by_record_when_its_records_beat_a_job() -> None:
    """Three records, one slot, half a second each: 1.5 s, less than the 4 s job: True."""
    machine = settling_machine()
    assert machine.by_record(1, 0, 1) is True


def test_a_batch_none_of_whose_submissions_can_have_reached_zoho_goes_as_a_job() -> None:
    """A parked batch that surely never reached Zoho (not settling) is resubmitted whole:
    False, though its records would beat a job."""
    machine = RunMachine(POLICY)
    accepted(machine, 0, 1.0, 1.5)
    machine(LongestJob(4.0))
    machine(JobFinished(0, "5000", 1, DONE, ("001",)))
    parked(machine, maybe_sent=False)
    machine(InputEnded(4, 0))
    assert machine.by_record(1, 0, 1) is False
    machine(BatchUncertain(1, LOST, 3.0, True, "reply lost"))  # now it may have been sent
    assert machine.by_record(1, 0, 1) is True


def test_not_before_the_input_ended() -> None:
    """While the input is still being read (first submissions want every slot): False; once
    it ended: True."""
    machine = RunMachine(POLICY)
    accepted(machine, 0, 1.0, 1.5)
    machine(LongestJob(4.0))
    parked(machine)
    assert machine.by_record(1, 0, 1) is False
    machine(InputEnded(4, 0))
    assert machine.by_record(1, 0, 1) is True


def test_not_before_a_round_trip_was_measured() -> None:
    """No submission accepted in this session (only one replayed from a journal, untimed):
    the cost of a record is unknown, False; the first timed acceptance makes it True."""
    machine = RunMachine(POLICY)
    accepted(machine, 0, 1.0, None)  # replayed: no round trip
    machine(LongestJob(4.0))
    machine(JobFinished(0, "5000", 1, DONE, ("001",)))
    parked(machine)
    machine(InputEnded(4, 0))
    assert (machine.round_trips, machine.by_record(1, 0, 1)) == (0, False)
    accepted(machine, 2, 5.0, 5.5)
    assert machine.by_record(1, 0, 1) is True


def test_not_while_a_first_submission_waits_for_a_slot() -> None:
    """Another batch read and not yet sent (a first submission): False; once it is sent:
    True. A settling batch waiting to go again does not hold it back."""
    machine = settling_machine()
    machine(BatchRead(2, ("301",), 5, 5, 0))
    assert machine.by_record(1, 0, 1) is False
    machine(SubmitStarted(2))
    machine(BatchUncertain(2, ("301",), 3.0, True, "reply lost"))  # parked, settling
    assert machine.by_record(1, 0, 1) is True


def test_the_estimate_counts_the_records_queued_before_it() -> None:
    """With one slot at 0.5 s a record: 4 queued + 3 own = 3.5 s < 4 s, True; 5 queued makes
    4 s, not less than the 4 s job, False."""
    machine = settling_machine()
    assert machine.by_record(1, 4, 1) is True
    assert machine.by_record(1, 5, 1) is False


def test_the_estimate_counts_one_poll_per_running_job() -> None:
    """Each job still running takes a slot for its poll: with 4 records queued, one running
    job tips 3.5 s to 4 s (False); it ending makes it True again."""
    machine = settling_machine()
    accepted(machine, 2, 3.0, 3.5)  # running (round trips still half a second)
    assert machine.by_record(1, 4, 1) is False
    assert machine.by_record(1, 3, 1) is True
    machine(JobFinished(2, "5002", 1, DONE, ("201",)))
    assert machine.by_record(1, 4, 1) is True


def test_the_estimate_rounds_up_to_whole_rounds_of_slots() -> None:
    """Two slots, 7 requests against a 2 s job: four rounds of half a second are 2 s, not
    less (False); 6 requests are three rounds, 1.5 s (True)."""
    machine = settling_machine(longest=2.0)
    assert machine.by_record(1, 4, 2) is False
    assert machine.by_record(1, 3, 2) is True


def test_the_round_trip_is_the_mean_of_the_accepted_submissions() -> None:
    """Round trips of 0.5 s and 1.5 s: a mean of 1 s a record. Three records take 3 s against
    a 4 s job (True); with one queued, 4 s (False)."""
    machine = settling_machine()
    accepted(machine, 2, 3.0, 4.5)
    machine(JobFinished(2, "5002", 1, DONE, ("201",)))
    assert (machine.round_trips, machine.round_trip_sum) == (2, 2.0)
    assert machine.by_record(1, 0, 1) is True
    assert machine.by_record(1, 1, 1) is False


def test_the_job_it_must_beat_is_the_tightest_known_then_min_wait() -> None:
    """The job compared with: the longest measured tightly, else the longest loosely bounded,
    else min_wait (no job finished yet)."""
    machine = settling_machine(longest=4.0)
    assert machine.by_record(1, 4, 1) is True  # 3.5 s < 4 s (loosely bounded)
    accepted(machine, 2, 3.0, 3.5)
    for event in machine.finished(2, "5002", DONE, took=4.0, tight=3.0):
        machine(event)
    assert machine.by_record(1, 4, 1) is False  # 3.5 s, not less than 3 s (tight)
    assert machine.by_record(1, 2, 1) is True  # 2.5 s < 3 s

    def no_job_finished(min_wait: float) -> RunMachine:
        machine = RunMachine(SettlePolicy(min_wait=min_wait))
        accepted(machine, 0, 1.0, 1.5)  # still running: one poll
        parked(machine)
        machine(InputEnded(4, 0))
        return machine

    assert no_job_finished(2.0).by_record(1, 0, 1) is False  # 4 requests, 2 s: not less
    assert no_job_finished(2.5).by_record(1, 0, 1) is True


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_record_by_record_must_be_a_bool(value: Any) -> None:
    """SettlePolicy(record_by_record=...) takes True or False only: anything else is a
    TypeError; the default is True."""
    with pytest.raises(TypeError, match="record_by_record"):
        SettlePolicy(record_by_record=value)
    assert SettlePolicy().record_by_record is True
    assert SettlePolicy(record_by_record=False).record_by_record is False
