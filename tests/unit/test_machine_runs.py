"""What the run's state machine decides, seen from whole runs on the fake's virtual clock.

Settling a resubmission that is lost in turn, isolating offenders in small batches, giving up
on a batch Zoho never took, a settling job still running at the poll timeout, and the events
a ``progress`` callback (or a journal) gets about lost submissions and jobs: their ids, their
batch and a reason a person can read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from fake_convert_api import Crash, FakeAPI, SubmitCall

from zoho_convert.api.errors import ServerError
from zoho_convert.api.models import JobState
from zoho_convert.api.polling import PollPolicy
from zoho_convert.bulk.convert import convert_many, resume
from zoho_convert.bulk.events import (
    BatchGaveUp,
    BatchRead,
    BatchUncertain,
    Event,
    JobLost,
)
from zoho_convert.bulk.isolation import error_text
from zoho_convert.bulk.second_look import look_again
from zoho_convert.bulk.settling import SettlePolicy

IDS = [str(8000 + i) for i in range(100)]
FIRST, SECOND = IDS[:50], IDS[50:]
DURATION = 12.0
E = TypeVar("E")


def job_id(number: int) -> str:
    """The job id the fake gives the job of its submit ``number``."""
    return str(5000000000000000000 + number)


def lost_reply() -> ServerError:
    return ServerError(500, "INTERNAL_ERROR", "reply lost", maybe_processed=True)


def at_most(submits: int) -> Callable[[SubmitCall], None]:
    """An ``on_send`` hook failing the run at its submission number ``submits`` (an isolation
    that never narrows down would loop)."""

    def check(call: SubmitCall) -> None:
        if call.number >= submits:
            raise RuntimeError(f"isolation loops: {submits} submissions so far")

    return check


class Recorder:
    """A progress callback keeping every event."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type[E]) -> list[E]:
        return [event for event in self.events if isinstance(event, kind)]

    def batch_of(self, ids: list[str]) -> int:
        """The number of the batch read with ``ids``."""
        (seq,) = [e.batch for e in self.of(BatchRead) if list(e.ids) == ids]
        return seq


async def test_a_settling_resubmission_lost_again_waits_for_its_own_job() -> None:
    """A batch's reply is lost, and so is its settling resubmission's: the next resubmission
    waits for the second lost job (not only the first) to end, so nothing converts twice."""
    api = FakeAPI(
        reserve_ids=False,  # records convert when their job ends: an early resubmission doubles
        failed_jobs={0},  # the first lost job converts nothing: the second one converts all
        submit_faults_after={0: lost_reply(), 1: lost_reply()},
        duration=DURATION,
    )
    report = await convert_many(api, "Quotes", FIRST, to="Sales_Orders")
    second = api.jobs[job_id(1)]
    later = [call.processed for call in api.calls[2:] if call.processed is not None]
    assert later and min(later) >= second.ends_at
    api.finish_jobs()
    assert not api.converted_twice()
    assert report.ok and report.already_converted == 50 and report.converted == 0


async def test_a_batch_zoho_never_took_is_rejected_with_its_last_error() -> None:
    """Every submission of a batch is refused as unavailable (surely not processed): paced
    (0.1 s, doubling), using no settling round, until the settling deadline (10 s), it is
    then rejected with Zoho's code and the error's text as the reason."""
    unavailable = ServerError(503, "SERVICE_UNAVAILABLE", "try later", maybe_processed=False)
    api = FakeAPI(submit_faults={n: unavailable for n in range(100)})
    settle = SettlePolicy(max_rounds=2, deadline=10.0)
    report = await convert_many(api, "Quotes", FIRST, to="Sales_Orders", settle=settle)
    # Sent, then again 0.1, 0.3, 0.7, 1.5, 3.1, 6.3 s later (12.7 s is past the deadline).
    assert api.submits == 7
    assert {r.code for r in report.rejected} == {"SERVICE_UNAVAILABLE"}
    (message,) = {r.message for r in report.rejected}
    assert message.startswith("ServerError") and "try later" in message
    assert sorted(r.id for r in report.rejected) == sorted(FIRST)
    assert report.accounted_for and not report.uncertain


async def test_progress_hears_which_ids_a_lost_reply_and_a_lost_job_left_uncertain() -> None:
    """The progress callback is told, for a lost reply and for a job Zoho forgot, which batch
    and ids are parked and why (the error; the lost job's id and Zoho's answer); and, found
    converted, that each is parked for its second look (``second_look``)."""
    recorder = Recorder()
    lost = lost_reply()
    api = FakeAPI(submit_faults_after={0: lost}, forget_jobs={1})
    report = await convert_many(
        api, "Quotes", IDS, to="Sales_Orders", progress=recorder, max_pending_jobs=1
    )
    assert report.ok and report.already_converted == 100
    first, second = recorder.batch_of(FIRST), recorder.batch_of(SECOND)
    parked = [(e.batch, list(e.ids), e.reason) for e in recorder.of(BatchUncertain)]
    lost_text = f"job {job_id(1)} lost: Zoho no longer knows the job (204 NO_CONTENT)"
    assert error_text(lost).startswith("ServerError: HTTP 500 INTERNAL_ERROR: reply lost")
    look = look_again(first, tuple(FIRST), 0.0, False).reason
    assert parked == [
        (first, FIRST, error_text(lost)),
        (second, SECOND, lost_text),
        (first, FIRST, look),
        (second, SECOND, look),
    ]
    assert recorder.of(JobLost) == [
        JobLost(second, job_id(1), 50, "Zoho no longer knows the job (204 NO_CONTENT)")
    ]


async def test_a_lost_job_is_journaled_for_the_next_session(tmp_path: Path) -> None:
    """A job Zoho forgot is journaled with its batch: resuming the finished run reports it
    among the lost jobs again."""
    path = str(tmp_path / "run.journal")
    api = FakeAPI(forget_jobs={0})
    report = await convert_many(api, "Quotes", FIRST, to="Sales_Orders", journal=path)
    assert [lost.job_id for lost in report.lost_jobs] == [job_id(0)]
    again = await resume(api, path)
    assert [(lost.job_id, lost.size) for lost in again.lost_jobs] == [(job_id(0), 50)]
    assert again.ok and again.already_converted == 50


async def test_a_settling_job_unfinished_at_the_poll_timeout_is_reported_as_settling() -> None:
    """A settling resubmission whose job is still running at the poll timeout is reported as
    a settling job (its failed records would be the lost submission's conversions)."""
    api = FakeAPI(
        submit_faults_after={0: lost_reply()},
        failed_jobs={0},
        never_finish=lambda n: n == 1,
    )
    poll = PollPolicy(initial=1.0, timeout=30.0, adaptive=False)
    report = await convert_many(api, "Quotes", FIRST, to="Sales_Orders", poll=poll)
    assert sorted(report.unfinished) == sorted(FIRST)
    (job,) = report.jobs
    assert job.job_id == job_id(1) and job.settling
    assert job.status is not None and job.status.state is JobState.IN_PROGRESS


async def test_one_offender_in_a_batch_of_two_rejects_it_alone() -> None:
    """In a batch of two, Zoho names the one invalid id: only it is rejected, the other id
    is submitted again and converts."""
    ids = IDS[:4]
    api = FakeAPI(invalid={ids[3]})
    report = await convert_many(api, "Quotes", ids, to="Sales_Orders", batch_size=2)
    assert [r.id for r in report.rejected] == [ids[3]] and report.converted == 3
    assert [call.ids for call in api.calls] == [ids[:2], ids[2:], [ids[2]]]


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        # ABCD refused: CD (refused: D refused, C accepted) and AB accepted.
        (4, [[0, 1, 2, 3], [2, 3], [0, 1], [3], [2]]),
        # ABC refused: BC (refused: C refused, B accepted) and A accepted.
        (3, [[0, 1, 2], [1, 2], [0], [2], [1]]),
    ],
    ids=["four", "three"],
)
async def test_isolation_without_a_hint_halves_the_batch(
    size: int, expected: list[list[int]]
) -> None:
    """Zoho refuses a batch without naming the offender (its last id): the run halves it,
    and halves the refused half again, down to the offender alone, which alone is rejected."""
    ids = IDS[:size]
    api = FakeAPI(invalid={ids[-1]}, hint="none", on_send=at_most(2 * size))
    report = await convert_many(api, "Quotes", ids, to="Sales_Orders")
    assert [[ids.index(v) for v in call.ids] for call in api.calls] == expected
    assert [r.id for r in report.rejected] == [ids[-1]]
    assert report.converted == size - 1 and report.ok is False and report.accounted_for


async def test_a_batch_caught_mid_submission_is_parked_then_settled_on_resume(
    tmp_path: Path,
) -> None:
    """Resumed after a crash while a batch's POST was in flight, the run tells the progress
    callback that batch is parked by an earlier session (with its ids); with a settling
    deadline shorter than a lost job's wait, it still gets its first round once that wait is
    over (the deadline counts from then), and its landed POST shows: already converted (found
    so twice, a lost job's wait apart: ``second_look``)."""
    path = str(tmp_path / "run.journal")
    crash = Crash(lambda call: call.ids == SECOND)
    api = FakeAPI(duration=DURATION, on_processed=crash)
    await crash.run(
        convert_many(api, "Quotes", IDS, to="Sales_Orders", journal=path, max_pending_jobs=1)
    )
    resumed_at = api.now
    recorder = Recorder()
    report = await resume(api, path, progress=recorder, settle=SettlePolicy(deadline=5.0))
    reason = "parked by an earlier session"
    seq = 1  # the second batch read
    parked, looked = recorder.of(BatchUncertain)
    assert parked == BatchUncertain(seq, tuple(SECOND), parked.since, True, reason)
    assert looked == look_again(seq, tuple(SECOND), looked.since, False)  # (``second_look``)
    assert not recorder.of(BatchGaveUp)
    first, again = [call for call in api.calls if call.ids == SECOND][-2:]
    assert first.sent >= resumed_at + DURATION  # (after its lost job's wait)
    assert again.sent >= first.sent + DURATION  # (a lost job's wait after its first look)
    assert sorted(report.already_converted_ids) == sorted(SECOND) and report.converted == 50
    assert not report.rejected and not report.uncertain and report.ok


async def test_parts_split_off_a_settling_batch_keep_its_rounds() -> None:
    """A settling resubmission refused as converted is looked at again (that second look has
    rounds of its own), refused so again and split into its ids; a part lost, then lost again
    on its resubmission, has used the look's one round (max_rounds=1): it is not resubmitted
    once more but ends uncertain (splitting never buys more resubmissions)."""
    part_again = 3 + len(FIRST) - 1  # (after the 49 parts: calls 3 to 51)
    lost_part = {3: lost_reply(), part_again: lost_reply()}
    api = FakeAPI(submit_faults_after={0: lost_reply()}, submit_faults=lost_part)
    report = await convert_many(
        api, "Quotes", FIRST, to="Sales_Orders", settle=SettlePolicy(max_rounds=1)
    )
    assert api.calls[1].ids == api.calls[2].ids == FIRST  # (the second look)
    (lost,) = api.calls[3].ids
    assert report.uncertain == (lost,)
    assert [call.number for call in api.calls if lost in call.ids] == [0, 1, 2, 3, part_again]
    assert sorted(report.already_converted_ids) == sorted(set(FIRST) - {lost})
    assert report.accounted_for and not report.ok


async def test_a_run_whose_input_failed_at_once_resumes_from_its_first_id(
    tmp_path: Path,
) -> None:
    """The input fails before any batch was read: resumed with the input, the run reads it
    from its first id on, counting no duplicates."""
    path = str(tmp_path / "run.journal")

    def unreadable() -> Iterator[str]:
        raise OSError("input unreadable")
        yield ""  # a generator

    api = FakeAPI()
    with pytest.raises(OSError, match="input unreadable"):
        await convert_many(api, "Quotes", unreadable(), to="Sales_Orders", journal=path)
    report = await resume(api, path, ids=FIRST)
    assert report.total == 50 and report.converted == 50 and report.duplicates == 0
    assert report.ok and report.input_complete
