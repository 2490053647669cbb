"""A second look (``second_look``): ids a settling look found converted, while a lost job of
theirs may still have run, are looked at once more a lost job's wait later before they are
reported already converted; what the machine decides, event by event, what the journal keeps
of it, and a run on a fake client.

The machine's tests feed it the events a run would publish (times are plain numbers).
"""

from __future__ import annotations

from pathlib import Path

from fake_convert_api import FakeAPI
from lost_job_feed import journal_round_trip

from zoho_convert.api.errors import RateLimitError, RecordStateError, ServerError
from zoho_convert.api.models import JobState, JobStatus, ModuleRef
from zoho_convert.bulk.convert import convert_many
from zoho_convert.bulk.events import (
    BatchGaveUp,
    BatchRead,
    BatchSplit,
    BatchSubmitted,
    BatchUncertain,
    Event,
    IdsAlreadyConverted,
    IdsRejected,
    JobFinished,
    SubmitStarted,
)
from zoho_convert.bulk.machine import BatchState, RunMachine
from zoho_convert.bulk.second_look import look_again
from zoho_convert.bulk.settling import SettlePolicy
from zoho_convert.bulk.spec import RunParams

POLICY = SettlePolicy(min_wait=0.5, unknown_wait=5.0)  # (no job timed: a lost job's wait is 5 s)
IDS = ("101", "102", "103")
CONVERTED = RecordStateError(400, "ID_ALREADY_CONVERTED", "already converted", {"id": "102"})


def lost_batch(machine: RunMachine | None = None) -> RunMachine:
    """A machine whose batch 0 (``IDS``) lost its reply at 2 s and was taken to settle at
    100 s (round 1), being sent again."""
    machine = machine or RunMachine(POLICY)
    machine(BatchRead(0, IDS, 3, 3, 0))
    machine(SubmitStarted(0))
    machine(BatchUncertain(0, IDS, 2.0, True, "reply lost"))
    (taken,) = machine.settle_due(100.0)
    assert taken.seq == 0 and taken.rounds == 1
    machine(SubmitStarted(0))
    return machine


def refused(
    machine: RunMachine, seq: int, ids: tuple[str, ...], at: float, **kw: bool
) -> list[Event]:
    """The events of batch ``seq``'s settling look refused as converted ``at``, folded."""
    verdict = machine.refused(seq, ids, CONVERTED, settling=True, at=at, **kw)
    assert verdict is not None
    events, parts = verdict
    assert parts == []
    for event in events:
        machine(event)
    return events


def second_look_taken(machine: RunMachine, seq: int, at: float) -> None:
    """Take batch ``seq`` for its second look, due ``at``, and send it."""
    assert machine.settle_due(at - 0.01) == ()
    (taken,) = machine.settle_due(at)
    assert taken.seq == seq
    machine(SubmitStarted(seq))


# -- the decision ------------------------------------------------------------------------------


def test_a_mass_resubmission_refused_as_converted_is_looked_at_again_whole() -> None:
    """A settling mass resubmission refused ID_ALREADY_CONVERTED (naming one id) may have come
    while the lost job still held its ids: the whole part is parked for a second look (not
    split), a lost job's wait from the refusal; a fold of it is not a lost submission (no
    job of unknown id: a batch answered meanwhile is not suspect)."""
    machine = lost_batch()
    machine.unknown_jobs = False  # (as if the lost job's id were known: one Zoho forgot)
    machine(BatchRead(5, ("501",), 4, 4, 0))
    machine(SubmitStarted(5))
    machine(BatchSubmitted(5, 1, "5005", False, 10.0, 10.0))  # (answered meanwhile)
    assert refused(machine, 0, IDS, 10.0) == [look_again(0, IDS, 10.0, False)]
    batch = machine.batches[0]
    assert batch.state is BatchState.PARKED and batch.check_pending
    assert not machine.unknown_jobs and not machine.batches[5].suspect
    assert machine.due_at(0) == 15.0
    machine(JobFinished(5, "5005", 1, JobStatus(JobState.COMPLETED, 1, 1, 0, 0), ("501",)))
    second_look_taken(machine, 0, 15.0)
    assert machine.batches[0].rounds == 0  # (took none; the look's own rounds)


def test_on_its_second_look_a_refusal_as_converted_is_final() -> None:
    """Refused as converted on its second look, the named id is already converted and the rest
    checked at once by the single convert (as before the second look), still that look."""
    machine = lost_batch()
    refused(machine, 0, IDS, 10.0, quick_checks=True)
    second_look_taken(machine, 0, 15.0)
    events = refused(machine, 0, IDS, 15.5, quick_checks=True)
    assert events[0] == IdsAlreadyConverted(0, ("102",))
    (split,) = [e for e in events if isinstance(e, BatchSplit)]
    ((checked, rest),) = split.parts
    assert rest == ("101", "103") and checked in machine.final_looks
    machine(BatchSplit(checked, ((7, ("101",)), (8, ("103",))), True))  # (one by one)
    machine(SubmitStarted(7))
    assert refused(machine, 7, ("101",), 15.6, single=True) == [IdsAlreadyConverted(7, ("101",))]


def test_a_single_convert_refused_as_converted_is_looked_at_again_by_record() -> None:
    """A record's single convert refused as converted: parked for a second look by its single
    convert (``by_record``) a lost job's wait later; refused again, already converted."""
    machine = lost_batch()
    machine(BatchSplit(0, ((1, ("101",)),), True))
    machine(SubmitStarted(1))
    assert refused(machine, 1, ("101",), 10.0, single=True) == [
        look_again(1, ("101",), 10.0, True)
    ]
    assert machine.batches[1].by_record
    second_look_taken(machine, 1, 15.0)
    assert refused(machine, 1, ("101",), 15.1, single=True) == [IdsAlreadyConverted(1, ("101",))]


def test_a_split_part_inherits_its_final_look_and_an_ended_batch_drops_it() -> None:
    """Split on its final look, each part's next look is final too (part of the same look),
    its second look's own rounds given already: a part parked otherwise, then for a second
    look again, keeps the rounds it used. A batch that ends (split, finished) drops it."""
    machine = lost_batch()
    refused(machine, 0, IDS, 10.0)
    second_look_taken(machine, 0, 15.0)
    machine(BatchSplit(0, ((1, ("101",)), (2, ("102", "103"))), True))
    assert machine.final_looks == {1, 2}
    machine.batches[1].rounds = 2  # (as if it had used two rounds since)
    machine(BatchUncertain(1, ("101",), 16.0, True, "reply lost"))  # (a job of it may run)
    assert machine.final_looks == {2}
    machine(look_again(1, ("101",), 17.0, True))
    assert machine.final_looks == {1, 2} and machine.batches[1].rounds == 2
    machine(SubmitStarted(2))
    machine(BatchSubmitted(2, 2, "5002", True, 15.5, 15.6))
    done = JobStatus(JobState.COMPLETED, 2, 2, 0, 0)
    machine(JobFinished(2, "5002", 2, done, ("102", "103"), True))
    assert machine.final_looks == {1}


def test_a_first_submission_refused_as_converted_needs_no_second_look() -> None:
    """A first submission's refusal as converted (nothing of this run may hold the ids): the id
    was converted before the run, rejected with Zoho's code, at once."""
    machine = RunMachine(POLICY)
    machine(BatchRead(0, ("102",), 1, 1, 0))
    machine(SubmitStarted(0))
    verdict = machine.refused(0, ("102",), CONVERTED, settling=False, at=1.0)
    assert verdict is not None
    ((event,), _) = verdict
    assert isinstance(event, IdsRejected) and event.rejected[0].code == "ID_ALREADY_CONVERTED"


def test_a_second_look_answered_5xx_or_429_is_still_the_final_look() -> None:
    """A second look's single convert answered 500 by Zoho, or a mass one refused 429 (surely
    nothing of either runs): still the final look; a mass one answered 500 (a job of it may
    run, as a lost job) too, but not before two lost jobs' waits from then (the waits a first
    and a second look would give that job), and as a lost submission (a job of unknown id)."""
    machine = lost_batch()
    machine(BatchSplit(0, ((1, ("101",)), (2, ("102", "103"))), True))
    machine(SubmitStarted(1))
    machine(SubmitStarted(2))
    refused(machine, 1, ("101",), 10.0, single=True)
    refused(machine, 2, ("102", "103"), 10.0)
    assert [b.seq for b in machine.settle_due(15.0)] == [1, 2]
    machine(SubmitStarted(1))
    machine(SubmitStarted(2))
    error = ServerError(500, "INTERNAL_ERROR", "oops", maybe_processed=True)
    (pause,) = machine.refused(1, ("101",), error, settling=True, at=15.1, single=True)[0]
    (paced,) = machine.refused(
        2, ("102", "103"), RateLimitError(429, "TOO_MANY_REQUESTS", "slow"), settling=True, at=15.1
    )[0]
    assert isinstance(pause, BatchUncertain) and pause.at_once and pause.final_look
    assert isinstance(paced, BatchUncertain) and paced.final_look
    machine(pause)
    machine(paced)
    assert 1 in machine.final_looks and 2 in machine.final_looks
    machine.unknown_jobs = False
    assert 2 in [b.seq for b in machine.settle_due(20.0)]
    machine(SubmitStarted(2))
    (lost,) = machine.refused(2, ("102", "103"), error, settling=True, at=21.0)[0]
    assert isinstance(lost, BatchUncertain) and lost.final_look
    machine(lost)
    assert 2 in machine.final_looks and machine.unknown_jobs
    assert machine.due_at(2) == 21.0 + 2 * machine.lost_job_wait()


def test_a_settling_jobs_failures_are_checked_a_lost_jobs_wait_after_its_answer() -> None:
    """A settling job that failed records (maybe held by its lost predecessor, still running):
    its records are checked by the single convert a lost job's wait after its answer, that
    check final; a settling job of a second look has them checked at once; a suspect one's
    (its job may be another's) a lost job's wait after its answer too, final."""
    partly = JobStatus(JobState.COMPLETED, 3, 2, 0, 1)
    machine = lost_batch()
    machine.unknown_jobs = False  # (as if the lost job's id were known: not suspect)
    machine(BatchSubmitted(0, 3, "5000", True, 100.0, 100.5))
    check = machine.finished(0, "5000", partly, took=2.0, by_record=True)[-1]
    assert isinstance(check, BatchUncertain)
    assert (check.since, check.at_once, check.by_record, check.final_look) == (
        100.5, False, True, True
    )
    machine = lost_batch()
    machine.unknown_jobs = False
    refused(machine, 0, IDS, 10.0)
    second_look_taken(machine, 0, 15.0)
    machine(BatchSubmitted(0, 3, "5001", True, 15.0, 15.5))
    check = machine.finished(0, "5001", partly, took=2.0, by_record=True)[-1]
    assert isinstance(check, BatchUncertain) and check.at_once and check.final_look
    machine = lost_batch()  # (its lost reply: a job of unknown id may exist, it is suspect)
    machine(BatchSubmitted(0, 3, "5002", True, 100.0, 100.5))
    check = machine.finished(0, "5002", partly, took=2.0, by_record=True)[-1]
    assert isinstance(check, BatchUncertain) and check.since == 100.5
    assert not check.at_once and check.final_look


def test_a_second_look_does_not_hold_an_earlier_batch_in_its_round() -> None:
    """Once no job runs, a batch due soon (a record's pause) goes in a round of its own, not
    held back until a second look due a lost job's wait later."""
    machine = lost_batch()
    machine(BatchSplit(0, ((1, ("101",)), (2, ("102",))), True))
    machine(SubmitStarted(1))
    machine(SubmitStarted(2))
    refused(machine, 1, ("101",), 10.0, single=True)  # (second look due at 15 s)
    error = ServerError(500, "INTERNAL_ERROR", "oops", maybe_processed=True)
    (pause,) = machine.refused(2, ("102",), error, settling=True, at=10.0, single=True)[0]
    machine(pause)
    first = machine.settle_round(10.0)
    assert first is not None and [b.seq for b in first.batches] == [2] and first.due < 11.0
    second = machine.settle_round(11.0)
    assert second is not None and [b.seq for b in second.batches] == [1] and second.due == 15.0


def test_a_server_that_loses_and_refuses_by_turns_still_has_the_run_end() -> None:
    """Each mass resubmission of the batch lost (its job may run: the look is not final), each
    next refused as converted (looked at again): each round is at most a resubmission and
    its second look, and the second look's own rounds come once: with every round used, the
    batch goes no more and ends uncertain."""
    machine = lost_batch(RunMachine(SettlePolicy(max_rounds=2, min_wait=0.5, unknown_wait=5.0)))
    lost = ServerError(500, "INTERNAL_ERROR", "oops", maybe_processed=True)
    now, sends = 10.0, 0
    while (plan := machine.settle_round(now)) is not None or sends == 0:
        if plan is not None:
            now = plan.due
            machine(SubmitStarted(0))
        sends += 1
        assert sends < 20, "the batch goes again and again"
        if 0 in machine.final_looks or sends % 2:
            events = machine.refused(0, IDS, lost, settling=True, at=now + 0.1)
        else:
            events = machine.refused(0, IDS, CONVERTED, settling=True, at=now + 0.1)
        assert events is not None
        for event in events[0]:
            machine(event)
    assert sends <= 2 * 2 * 2  # (max_rounds twice, each with its second look)
    (gave_up,) = machine.give_up(now)
    assert isinstance(gave_up, BatchGaveUp) and gave_up.ids == IDS


# -- the journal and resume --------------------------------------------------------------------


PARAMS = RunParams(module="Quotes", to=ModuleRef("Sales_Orders", "1"))


async def replayed(path: Path, events: list[Event]) -> list[Event]:
    return await journal_round_trip(path, PARAMS, events)


async def test_a_batch_awaiting_its_second_look_is_journaled_so(tmp_path: Path) -> None:
    """Parked for its second look (by record), the journal replays it so: a resumed run gives
    it that look, by record, a lost job's wait from when it resumed; parked otherwise since
    (a lost job of its may run), it replays without it."""
    events: list[Event] = [
        BatchRead(0, ("1",), 1, 1, 0),
        BatchRead(1, ("2",), 2, 2, 0),
        SubmitStarted(0),
        BatchUncertain(0, ("1",), 3.0, True, "lost"),
        look_again(0, ("1",), 9.0, True),
        SubmitStarted(1),
        look_again(1, ("2",), 9.0, False),
        BatchUncertain(1, ("2",), 12.0, True, "lost again"),
    ]
    back = await replayed(tmp_path / "j.db", events)
    parked = {e.batch: e for e in back if isinstance(e, BatchUncertain)}
    assert (parked[0].final_look, parked[0].by_record) == (True, True)
    assert (parked[1].final_look, parked[1].by_record) == (False, False)
    machine = RunMachine(POLICY)
    for event in back:
        machine(event)
    _, _, restarted = machine.to_restart(50.0)
    again = {e.batch: e for e in restarted if isinstance(e, BatchUncertain)}
    assert again[0].final_look and again[0].by_record and again[0].since == 50.0
    assert not again[1].final_look
    for event in restarted:
        machine(event)
    assert 0 in machine.final_looks and machine.due_at(0) == 55.0


def test_a_batch_caught_sending_its_second_look_looks_two_waits_later_on_resume() -> None:
    """Stopped while its second look was being sent (a mass one may have started a job), the
    resumed run gives it its final look two lost jobs' waits from when it resumed (the waits
    a first and a second look would give that job)."""
    machine = lost_batch()
    refused(machine, 0, IDS, 10.0)
    second_look_taken(machine, 0, 15.0)
    _, _, restarted = machine.to_restart(20.0)
    (event,) = restarted
    assert isinstance(event, BatchUncertain) and event.final_look
    machine(event)
    assert machine.due_at(0) == 20.0 + 2 * machine.lost_job_wait()


# -- a run on a fake client --------------------------------------------------------------------


async def test_a_lost_batch_found_converted_is_confirmed_by_a_second_resubmission() -> None:
    """A reply lost after Zoho converted the batch: the settling resubmission is refused as
    converted, the batch is resubmitted once more a lost job's wait later (no single convert
    here), refused again: already converted, each record converted once."""
    lost = ServerError(500, "INTERNAL_ERROR", "reply lost", maybe_processed=True)
    api = FakeAPI(submit_faults_after={0: lost})
    ids = [str(8000 + n) for n in range(10)]
    report = await convert_many(api, "Quotes", ids, to="Sales_Orders", batch_size=10)
    first, second = api.calls[1], api.calls[2]
    assert first.ids == second.ids == ids
    assert second.sent - first.sent >= POLICY.min_wait
    assert sorted(report.already_converted_ids) == sorted(ids) and report.ok
    api.finish_jobs()
    assert not api.converted_twice()
