"""Review 5 of fc2dbc3 (unknown job states read by their words, the suspect flag journaled),
23494f0 (the input failing midway) and 979b5ad (first submissions refused with a 429 paced).
Its findings, each fixed since, are plain tests (they failed before: state words read one by
one, running outweighing ended; a first paced submission's deadline counting from its first
refusal). The machine is fed the events a run would publish, and a
``JobWatch`` is polled on plain numbers for time.
"""

from __future__ import annotations

import pytest
from lost_job_feed import apply
from test_queued_jobs import DONE, POLICY, lost, sent
from test_settle_throttled import IDS, goes_at, too_many
from test_settle_throttled import POLICY as PACED
from test_unreadable_job import _Always, _Run, due, stuck_and_lost

from zoho_convert.api.errors import ResponseValidationError
from zoho_convert.api.models import JobState, JobStatus
from zoho_convert.api.state_words import read_state_words
from zoho_convert.api.wire import parse_job_status
from zoho_convert.bulk.events import BatchRead, SubmitStarted
from zoho_convert.bulk.job_watch import JobWatch
from zoho_convert.bulk.machine import RunMachine


def status(name: str, converted: int = 0) -> JobStatus:
    return parse_job_status({"status": name, "total_count": 10, "converted_count": converted})


# -- 1. a job saying it still runs, with an end word in its name, read as ended ------------------


@pytest.mark.parametrize(
    "name", ["RUNNING_WITH_ERRORS", "ERROR_RETRYING", "STOPPING", "CANCELLING", "ABORTING"]
)
def test_a_job_saying_it_still_runs_holds_a_lost_batch_back(name: str) -> None:
    """Batch 0's job (sent at 0 s) answers ``name``; batch 1's reply was lost at 1 s (due at
    6 s on its own): while batch 0's job may still run, batch 1 is held back."""
    machine = stuck_and_lost()
    try:
        status(name, converted=3)
    except ResponseValidationError:  # (what JobWatch then tells the machine)
        apply(machine, machine.unreadable(0, None))
    assert due(machine, 6.0) == []


# -- 2. a job saying it runs, in words the list lacks, read as not started ------------------------


async def _time_job(name: str) -> RunMachine:
    """Batch 0's job, sent at 0 s, answers ``name`` at 10 s and 50 s, done at 100 s (polls
    leaving when asked: timed tightly); batch 1's reply was lost at 1 s, so on a server running
    jobs one at a time its job starts when batch 0's ends, and may run as long."""
    machine = RunMachine(POLICY)
    apply(machine, sent(0, 0.0, 0.1) + lost(1, 1.0))
    replies = [status(name), status(name, converted=5), DONE]
    now = [0.0]

    async def call() -> JobStatus:
        return replies.pop(0)

    watch = JobWatch(lambda: now[0], _Always(), _Run(machine), 0, True, call)
    for at in (10.0, 50.0, 100.0):
        now[0] = at
        watch.due(at)
        watch.polled(at, at, await watch.poll())
    apply(machine, machine.finished(0, "job0", DONE, took=100.0, tight=100.0))
    return machine


async def test_a_running_job_is_timed_from_its_submission() -> None:
    """The documented IN PROGRESS: the job ran up to 100 s, batch 1 is due no sooner than
    batch 0's end, 100 s more and the margin (300 s)."""
    machine = await _time_job("IN PROGRESS")
    assert machine.longest_running == 100.0
    assert machine.due_at(1) >= 300.0


@pytest.mark.parametrize("name", ["STARTED", "RETRYING", "WORKING", "IN_PROCESS"])
async def test_a_job_running_under_another_name_is_timed_from_its_submission(name: str) -> None:
    machine = await _time_job(name)
    assert machine.longest_running == 100.0
    assert machine.due_at(1) >= 300.0


# Fixed here (api/state_words.py): INPROGRESS is IN PROGRESS, not 'IN' + 'PROGRESS' negated;
# NOT glued to a word negates it as NOT_ does (NOTCOMPLETED read as an end, unusable, held no
# lost batch back, review 4's INCOMPLETE fault; NOTRUNNING read as running could prove jobs
# side by side).
@pytest.mark.parametrize(
    ("name", "reading"),
    [
        ("INPROGRESS", "running"),
        ("InProgress", "running"),
        ("NOTCOMPLETED", "not started"),
        ("NOTDONE", "not started"),
        ("NOTRUNNING", "not started"),
        ("NOTSTARTED", "not started"),
    ],
)
def test_glued_words_are_read_as_written(name: str, reading: str) -> None:
    assert read_state_words(name) == reading


async def test_inprogress_is_timed_as_in_progress() -> None:
    machine = await _time_job("INPROGRESS")
    assert machine.longest_running == 100.0
    assert machine.due_at(1) >= 300.0


# -- 3. a job saying it ended, in words the list lacks, polled to the poll timeout -------------


@pytest.mark.parametrize(
    "name",
    ["ENDED", "CLOSED", "PROCESSED", "TIMED_OUT", "UNSUCCESSFUL", "FAILED_NOT_RETRYING",
     "COMPLETED_NO_ERRORS"],
)
def test_a_job_saying_it_ended_is_not_read_as_waiting(name: str) -> None:
    try:
        state = status(name).state
    except ResponseValidationError:
        return  # (an end: cannot be used, holds nothing back)
    assert state is not JobState.SCHEDULED


# -- 4. a first submission paced past its settling deadline ----------------------------------


def test_a_first_submission_is_not_paced_past_its_deadline() -> None:
    """Batch 0's first submission is refused at 1 s with a 429 and Retry-After 86400 s; the
    settling deadline is 20 s: nothing of it goes a day later."""
    machine = RunMachine(PACED)
    machine(BatchRead(0, IDS, 3, 3, 0))
    machine(SubmitStarted(0))
    verdict = machine.refused(0, IDS, too_many(86_400.0), settling=False, at=1.0)
    assert verdict is not None
    apply(machine, verdict[0])
    due_at = goes_at(machine, 1.0)
    assert due_at is None or due_at <= 1.0 + PACED.deadline
