"""Settling record by record: what the machine makes of a single convert's error
(``RunMachine.refused(..., single=True)``), and a run that settles a lost batch one record at
a time (``RecordSettler``) on a fake client that has the single convert, on virtual time.

The machine's tests feed it the events a run would publish (times are plain numbers). The run's
tests judge the report against the fake's ledger and its log of single converts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
from fake_convert_api import FakeAPI, TimedEvents, read_later

from zoho_convert.api.errors import (
    AuthenticationError,
    RateLimitError,
    RecordStateError,
    ServerError,
    TransportError,
)
from zoho_convert.api.models import ModuleRef
from zoho_convert.bulk.convert import convert_many, resume
from zoho_convert.bulk.events import (
    BatchRead,
    BatchSplit,
    BatchSubmitted,
    BatchUncertain,
    IdsAlreadyConverted,
    IdsConverted,
    IdsRejected,
    JobFinished,
    SubmitStarted,
)
from zoho_convert.bulk.isolation import error_text
from zoho_convert.bulk.ledger import MemoryLedger
from zoho_convert.bulk.machine import BatchState, RunMachine
from zoho_convert.bulk.report import RejectedId
from zoho_convert.bulk.second_look import look_again
from zoho_convert.bulk.settling import SettlePolicy

IDS = ("101", "102", "103")
PARTS = ((1, ("101",)), (2, ("102",)), (3, ("103",)))
# A record's pause is 0.05 s doubled per round, capped here at 0.3 s.
POLICY = SettlePolicy(min_wait=0.3, unknown_wait=5.0)


def server_error(status: int = 500, *, maybe_processed: bool = True) -> ServerError:
    return ServerError(status, "INTERNAL_ERROR", "try again", maybe_processed=maybe_processed)


def rate_limited() -> RateLimitError:
    return RateLimitError(429, "TOO_MANY_REQUESTS", "too many requests")


def split_for_records() -> RunMachine:
    """A machine whose batch 0 (``IDS``) lost its reply, was taken for settling once (round 1)
    and split into one part per record (``PARTS``), as ``RecordSettler`` splits it."""
    machine = RunMachine(POLICY)
    machine(BatchRead(0, IDS, 3, 3, 0))
    machine(SubmitStarted(0))
    machine(BatchUncertain(0, IDS, 2.0, True, "reply lost"))
    (taken,) = machine.settle_due(100.0)
    assert taken.rounds == 1
    machine(BatchSplit(0, PARTS, True))
    machine(SubmitStarted(1))
    return machine


def parked_record(seq: int, at: float, pause: float, error: Exception) -> BatchUncertain:
    """What a record's single convert answered with a 5xx or 429 ``at`` becomes."""
    code = getattr(error, "code", "")
    return BatchUncertain(seq, PARTS[seq - 1][1], at + pause, True, error_text(error), code, True)


def test_a_single_convert_answered_5xx_goes_again_after_a_pause_doubling_per_round() -> None:
    """A record whose single convert got a 500: parked at once-able, due 0.1 s after (round
    1), then 0.2 s (round 2), then min_wait's 0.3 s (round 3: 0.4 s capped); due then, not
    before, even while an older job runs."""
    machine = split_for_records()
    machine(BatchRead(9, ("901",), 4, 4, 0))  # a job sent before the lost one, still running
    machine(SubmitStarted(9))
    machine(BatchSubmitted(9, 1, "5009", False, 1.0, 1.5))
    for round_, at, pause in ((1, 10.0, 0.1), (2, 20.0, 0.2), (3, 30.0, 0.3)):
        assert machine.batches[1].rounds == round_
        error = server_error()
        verdict = machine.refused(1, ("101",), error, settling=True, at=at, single=True)
        assert verdict == ([parked_record(1, at, pause, error)], [])
        machine(verdict[0][0])
        assert machine.due_at(1) == at + pause
        assert machine.settle_due(at + pause - 0.01) == ()
        (taken,) = machine.settle_due(at + pause)
        assert taken.seq == 1 and taken.state is BatchState.RESUBMITTING


@pytest.mark.parametrize(
    "error",
    [server_error(503, maybe_processed=False), rate_limited()],
    ids=["503", "429"],
)
def test_a_single_convert_refused_for_now_is_parked_with_a_pause_too(error: Exception) -> None:
    """A 503 that surely did nothing, or a 429 after the client's retries: parked at once-able
    with the record's pause (0.1 s in round 1), with Zoho's code."""
    machine = split_for_records()
    verdict = machine.refused(1, ("101",), error, settling=True, at=10.0, single=True)
    assert verdict == ([parked_record(1, 10.0, 0.1, error)], [])


@pytest.mark.parametrize("sent", [True, False], ids=["maybe-sent", "never-sent"])
def test_a_single_convert_lost_on_the_wire_waits_like_a_lost_job(sent: bool) -> None:
    """A TransportError on a single convert: not at once (no pause timer), parked as settling;
    when it may have reached Zoho, from when its error came back."""
    machine = split_for_records()
    error = TransportError("connection dropped", sent=sent)
    verdict = machine.refused(1, ("101",), error, settling=True, at=10.0, single=True)
    assert verdict is not None
    (event,), parts = verdict
    assert parts == [] and isinstance(event, BatchUncertain)
    assert (event.batch, event.ids, event.maybe_sent, event.at_once) == (1, ("101",), True, False)
    if sent:
        assert event.since == 10.0
    else:
        assert event.since == machine.batches[1].since


def test_a_record_refused_as_converted_was_converted_by_the_lost_submission() -> None:
    """ID_ALREADY_CONVERTED on a settling record: looked at again (its lost job may still have
    held it), by its single convert, a lost job's wait later, in no round of its own; refused
    so again, already converted (by this run's lost submission), not rejected, and nothing
    left to send."""
    machine = split_for_records()
    error = RecordStateError(400, "ID_ALREADY_CONVERTED", "already converted", {"id": "101"})
    verdict = machine.refused(1, ("101",), error, settling=True, at=10.0, single=True)
    assert verdict == ([look_again(1, ("101",), 10.0, True)], [])
    machine(verdict[0][0])
    assert machine.due_at(1) == 10.0 + machine.lost_job_wait() == 15.0  # (unknown_wait)
    assert machine.settle_due(14.9) == ()
    (taken,) = machine.settle_due(15.0)
    assert taken.seq == 1 and taken.rounds == 0  # (the second look's own rounds)
    machine(SubmitStarted(1))
    verdict = machine.refused(1, ("101",), error, settling=True, at=15.1, single=True)
    assert verdict == ([IdsAlreadyConverted(1, ("101",))], [])


def test_a_record_refused_for_its_state_is_rejected_with_zohos_code() -> None:
    """NOT_APPROVED on a settling record: rejected with Zoho's code and message."""
    machine = split_for_records()
    error = RecordStateError(400, "NOT_APPROVED", "the record is not approved")
    verdict = machine.refused(1, ("101",), error, settling=True, at=10.0, single=True)
    rejected = (RejectedId("101", "NOT_APPROVED", "the record is not approved"),)
    assert verdict == ([IdsRejected(1, rejected)], [])


def test_a_request_level_error_on_a_single_convert_stops_the_run() -> None:
    """A refused token on a single convert concerns every request: None (the run stops)."""
    machine = split_for_records()
    error = AuthenticationError(401, "INVALID_TOKEN", "invalid oauth token")
    assert machine.refused(1, ("101",), error, settling=True, at=10.0, single=True) is None


def test_a_mass_resubmission_answered_5xx_still_waits_for_its_job() -> None:
    """single=False is unchanged: a settling mass convert answered with a 500 may have started
    a job, so it is parked from its error on, not at once and with no pause; a 429 keeps the
    earlier lost job's wait."""
    machine = RunMachine(POLICY)
    machine(BatchRead(0, IDS, 3, 3, 0))
    machine(SubmitStarted(0))
    machine(BatchUncertain(0, IDS, 2.0, True, "reply lost"))
    machine.settle_due(100.0)
    error = server_error()
    verdict = machine.refused(0, IDS, error, settling=True, at=10.0)
    assert verdict == (
        [BatchUncertain(0, IDS, 10.0, True, error_text(error), "INTERNAL_ERROR", False)],
        [],
    )
    limited = rate_limited()
    verdict = machine.refused(0, IDS, limited, settling=True, at=10.0)
    assert verdict == (
        [BatchUncertain(0, IDS, 2.0, True, error_text(limited), "TOO_MANY_REQUESTS", False)],
        [],
    )


# -- a run on a fake client with the single convert -------------------------------------------


@attrs.define
class SingleCall:
    """One single convert the fake received: when it left, the record, and what it answered."""

    at: float
    id: str
    outcome: str


class RecordAPI(FakeAPI):
    """``FakeAPI`` with the single Convert Inventory Record call: converts a record at once,
    refuses one already converted (ID_ALREADY_CONVERTED) or not approved (NOT_APPROVED), and
    raises the errors ``record_faults`` scripts for a record, one per call, first."""

    def __init__(
        self,
        *,
        record_faults: dict[str, list[Exception]] | None = None,
        not_approved: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.record_faults = {key: list(value) for key, value in (record_faults or {}).items()}
        self.not_approved = set(not_approved)
        self.singles: list[SingleCall] = []

    async def convert(
        self, module: str, record_id: str | int, *, to: str | ModuleRef, carry_over_tags: bool
    ) -> dict[str, str]:
        value = str(record_id)
        call = SingleCall(self.now, value, "")
        self.singles.append(call)
        await self._enter()
        faults = self.record_faults.get(value)
        if faults:
            error = faults.pop(0)
            call.outcome = type(error).__name__
            raise error
        if value in self.not_approved:
            call.outcome = "NOT_APPROVED"
            raise RecordStateError(400, "NOT_APPROVED", "the record is not approved")
        if self._is_converted(value):
            call.outcome = "ID_ALREADY_CONVERTED"
            raise RecordStateError(400, "ID_ALREADY_CONVERTED", "already converted")
        self.records[value] += 1
        call.outcome = "converted"
        return {"id": f"9{value}"}

    def calls_of(self, value: str) -> list[SingleCall]:
        return [call for call in self.singles if call.id == value]


QUOTES = [str(7000 + n) for n in range(200)]
LOST = QUOTES[50:100]  # batch 1: its submit's reply says it may have gone through; it did not
EARLIER = LOST[:2]  # converted before the run (by someone else)
UNAPPROVED = LOST[2]  # its single convert is refused NOT_APPROVED
FLAKY = LOST[3]  # its first single convert is answered 500
LONG_JOB = 20.0  # batch 2's job: still running while batch 1 is settled


def scenario(**kwargs: Any) -> RecordAPI:
    """Four batches: 0's job ends at once; 1's submit is answered with a maybe-processed 500
    (Zoho in fact dropped it); 2 (read later) runs 20 s; 3 runs 1.5 s."""
    durations = {0: 0.5, 2: LONG_JOB, 3: 1.5}
    return RecordAPI(
        duration=lambda number: durations.get(number, 0.5),
        converted=EARLIER,
        submit_faults={1: server_error()},
        not_approved=(UNAPPROVED,),
        record_faults={FLAKY: [server_error()]},
        **kwargs,
    )


def paced(api: FakeAPI) -> AsyncIterator[str]:
    """The ids, the last two batches read 1.5 s later (so they leave well after batch 1's
    error came back, more than the margin a lost job is given past the longest seen: their
    jobs do not hold batch 1 back)."""

    return read_later(api, QUOTES, first=100, delay=1.5)


async def test_a_lost_batch_is_settled_one_record_at_a_time() -> None:
    """The parked batch is split into one part per record, each converted once by a single
    convert (no mass resubmission): records converted before are already converted (found so
    by two single converts, a lost job's wait apart), the unapproved one rejected, the rest
    converted by record; the report accounts for every id and matches the fake's ledger."""
    api = scenario()
    recorder = TimedEvents(api)

    report = await convert_many(
        api, "Quotes", paced(api), to="Sales_Orders", progress=recorder, settle=POLICY
    )

    assert api.submits == 4  # no mass resubmission of batch 1
    ((_, split),) = recorder.of(BatchSplit)
    assert split.batch == 1 and split.settling
    assert sorted(ids for _, ids in split.parts) == sorted((value,) for value in LOST)
    assert sorted(call.id for call in api.singles) == sorted([*LOST, FLAKY, *EARLIER])
    for value in EARLIER:
        first, second = api.calls_of(value)
        assert first.outcome == second.outcome == "ID_ALREADY_CONVERTED"
        assert second.at - first.at >= POLICY.min_wait
    assert [call.outcome for call in api.calls_of(FLAKY)] == ["ServerError", "converted"]
    by_record = [value for value in LOST if value not in (*EARLIER, UNAPPROVED)]
    assert sorted(report.converted_by_record) == sorted(by_record)
    assert sorted(report.already_converted_ids) == sorted(EARLIER)
    assert report.rejected == (
        RejectedId(UNAPPROVED, "NOT_APPROVED", "the record is not approved"),
    )
    assert report.converted == 150 + len(by_record) and report.accounted_for
    assert report.total == 200 and not report.uncertain
    api.finish_jobs()
    assert not api.converted_twice()
    assert {value for value, count in api.records.items() if count} == set(QUOTES) - {UNAPPROVED}


async def test_a_record_answered_5xx_goes_again_after_its_pause_while_a_job_runs() -> None:
    """The flaky record's single convert is answered 500: it is parked at once-able, due
    0.1 s later (round 1), and goes again then (as soon as a record slot frees), woken by a
    timer: no job ends between the two calls, batch 2's 20 s job still runs."""
    api = scenario()
    recorder = TimedEvents(api)

    report = await convert_many(
        api, "Quotes", paced(api), to="Sales_Orders", progress=recorder, settle=POLICY
    )

    first, second = api.calls_of(FLAKY)
    ((parked_at, parked),) = [
        (at, event) for at, event in recorder.of(BatchUncertain) if event.ids == (FLAKY,)
    ]
    assert parked.at_once and parked.since == pytest.approx(parked_at + 0.1)
    # Due at ``since``; the other records of the batch hold the slots until 0.25 s after
    # the first calls (50 records, 10 slots, 0.05 s each).
    assert parked.since <= second.at <= first.at + 0.25 + 1e-9
    ended = [at for at, _ in recorder.of(JobFinished)]
    assert not [at for at in ended if parked_at <= at <= second.at]
    assert max(ended) > LONG_JOB > second.at  # batch 2's job still ran
    assert FLAKY in report.converted_by_record


async def test_with_a_fleet_ledger_a_record_answered_5xx_still_goes_after_its_pause() -> None:
    """With a fleet's ledger, the flaky record goes again once its pause is over (as soon as a
    record slot frees), not after the next job's end: its own claim does not hold it back."""
    api = scenario()
    api.ledger = MemoryLedger(clock=api.clock)
    recorder = TimedEvents(api)

    report = await convert_many(
        api, "Quotes", paced(api), to="Sales_Orders", progress=recorder, settle=POLICY
    )

    first, second = api.calls_of(FLAKY)
    assert second.at <= first.at + 0.25 + 1e-9, [
        event for _, event in recorder.events if getattr(event, "code", "") == "CLAIMED_ELSEWHERE"
    ]
    assert FLAKY in report.converted_by_record


async def test_a_journaled_run_settled_by_record_resumes_to_the_same_report(
    tmp_path: Any,
) -> None:
    """Settled record by record with a journal: resuming the finished run sends nothing and
    reads back the same converted_by_record, converted count and accounting."""
    api = scenario()
    path = str(tmp_path / "run.journal")
    report = await convert_many(
        api, "Quotes", paced(api), to="Sales_Orders", journal=path, settle=POLICY
    )
    requests = api.request_count

    again = await resume(api, path)

    assert api.request_count == requests
    assert sorted(again.converted_by_record) == sorted(report.converted_by_record)
    assert again.converted == report.converted and again.accounted_for
    assert sorted(again.already_converted_ids) == sorted(report.already_converted_ids)


async def test_without_record_by_record_the_lost_batch_goes_as_a_mass_convert() -> None:
    """SettlePolicy(record_by_record=False): no single convert; the lost batch is resubmitted
    as one mass convert, and its records converted in a job."""
    api = scenario()
    report = await convert_many(
        api,
        "Quotes",
        paced(api),
        to="Sales_Orders",
        settle=attrs.evolve(POLICY, record_by_record=False),
    )
    assert api.singles == [] and api.submits > 4
    assert report.converted_by_record == () and report.accounted_for


async def test_each_part_is_one_single_convert_carrying_the_runs_options() -> None:
    """IdsConverted comes once per part, each with its one record; the convert calls carry
    the run's source module, target and carry_over_tags."""
    seen: list[tuple[str, str, Any, bool]] = []

    class Noting(RecordAPI):
        async def convert(
            self, module: str, record_id: str | int, *, to: str | ModuleRef, carry_over_tags: bool
        ) -> dict[str, str]:
            seen.append((module, str(record_id), to, carry_over_tags))
            return await super().convert(module, record_id, to=to, carry_over_tags=carry_over_tags)

    api = Noting(
        duration=lambda number: {2: LONG_JOB, 3: 1.5}.get(number, 0.5),
        submit_faults={1: server_error()},
    )
    recorder = TimedEvents(api)
    await convert_many(
        api,
        "Quotes",
        paced(api),
        to="Sales_Orders",
        carry_over_tags=True,
        progress=recorder,
        settle=POLICY,
    )
    converted = [event for _, event in recorder.of(IdsConverted)]
    assert sorted(event.ids for event in converted) == sorted((value,) for value in LOST)
    assert len({event.batch for event in converted}) == len(LOST)
    assert {(module, carry) for module, _, _, carry in seen} == {("Quotes", True)}
    assert {to.api_name for _, _, to, _ in seen} == {"Sales_Orders"}


@pytest.mark.parametrize("rounds", [6, 1])
@pytest.mark.parametrize("mode", ["fail_call", "fail_in_job"])
async def test_a_settling_jobs_failures_are_checked_one_record_at_a_time(
    mode: str, rounds: int
) -> None:
    """A lost reply (Zoho did convert the batch, but for one unapproved record that fails in
    any job) settled by a mass resubmission (more input still to come): that job fails the
    unapproved record, and, in ``fail_in_job`` mode, the converted ones too. Its counts cannot
    say which is which, so each record it did not convert is checked by its single convert
    (part of the resubmission's round: with one round allowed, still checked): the
    unapproved one is rejected NOT_APPROVED, never counted converted by the lost submission;
    the rest are already converted."""
    batch = QUOTES[:50]
    unapproved = batch[7]
    api = RecordAPI(
        duration=lambda number: 20.0 if number == 1 else 0.5,
        submit_faults_after={0: server_error()},
        failing_ids=(unapproved,),
        not_approved=(unapproved,),
        already_converted=mode,
    )

    async def ids() -> AsyncIterator[str]:
        """The lost batch, a batch whose 20 s job polls meanwhile 1 s later, and one more
        batch 30 s in (so the input has not ended when the lost batch is due, at 5 s)."""
        async for value in read_later(api, QUOTES[:100], first=50, delay=1.0):
            yield value
        await api.sleep(29.0)
        for value in QUOTES[100:150]:
            yield value

    settle = attrs.evolve(POLICY, max_rounds=rounds)
    report = await convert_many(api, "Quotes", ids(), to="Sales_Orders", settle=settle)

    assert [call.ids for call in api.calls].count(batch) == 2  # resubmitted by mass once
    not_approved = RejectedId(unapproved, "NOT_APPROVED", "the record is not approved")
    assert report.rejected == (not_approved,) and report.failed == 0
    assert sorted(report.already_converted_ids) == sorted(set(batch) - {unapproved})
    assert report.already_converted == 49 and report.converted == 100
    assert report.accounted_for and not report.uncertain
    api.finish_jobs()
    assert not api.converted_twice() and api.records[unapproved] == 0
