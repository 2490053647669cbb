"""``RecordSettler`` on its own, over a real ``RunMachine`` and a fake run (``FakeRun``): what it
asks the machine, what it sends, what it publishes and when (issue 15's mutants of
``bulk/records.py``).

The fake run folds each published event into the machine and keeps it; ``post`` publishes
``SubmitStarted`` and sends, as the driver does. Times are plain numbers on a settable clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import pytest
from fakes import deadline

from zoho_convert.api.errors import PermissionDeniedError, RecordStateError, ServerError
from zoho_convert.api.models import JobState, JobStatus
from zoho_convert.bulk.events import (
    BatchRead,
    BatchSplit,
    BatchSubmitted,
    BatchUncertain,
    Event,
    IdsAlreadyConverted,
    IdsConverted,
    IdsRejected,
    InputEnded,
    JobFinished,
    LongestJob,
    SubmitStarted,
)
from zoho_convert.bulk.isolation import error_text
from zoho_convert.bulk.machine import BatchState, RunMachine
from zoho_convert.bulk.records import RecordSettler
from zoho_convert.bulk.second_look import look_again
from zoho_convert.bulk.settling import SettlePolicy
from zoho_convert.bulk.tasks import Stopped

T = TypeVar("T")
A = TypeVar("A")

POLICY = SettlePolicy(min_wait=0.3, unknown_wait=5.0)
IDS = ("101", "102", "103")


class FakeRun:
    """The run a ``RecordSettler`` settles for: the machine, the events published, a clock, the
    stop flag, and the POSTs made (seq, record)."""

    def __init__(self, machine: RunMachine) -> None:
        self.machine = machine
        self.events: list[Event] = []
        self.now = 10.0
        self.stop = False
        self.posts: list[tuple[int, Any]] = []
        self.fail_on: Callable[[Event], bool] = lambda event: False  # publishing it: OSError

    def publish(self, event: Event) -> None:
        if self.fail_on(event):
            raise OSError("journal disk full")
        self.machine(event)
        self.events.append(event)

    def publish_all(self, events: Iterable[Event]) -> None:
        for event in events:
            self.publish(event)

    def stopping(self) -> bool:
        return self.stop

    def clock(self) -> float:
        return self.now

    async def post(self, seq: int, send: Callable[[A], Awaitable[T]], arg: A) -> T:
        if self.stop:
            raise Stopped()
        self.posts.append((seq, arg))
        self.publish(SubmitStarted(seq))
        return await send(arg)

    def of(self, kind: type) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]


def parked_machine(*batches: tuple[str, ...]) -> RunMachine:
    """A machine whose batches 0, 1, ... (``batches``) each lost their reply and were taken for
    settling once (round 1, RESUBMITTING), as when the driver hands them to the settler."""
    machine = RunMachine(POLICY)
    for seq, ids in enumerate(batches):
        machine(BatchRead(seq, ids, 3 * (seq + 1), 3 * (seq + 1), 0))
        machine(SubmitStarted(seq))
        machine(BatchUncertain(seq, ids, 2.0, True, "reply lost"))
    taken = machine.settle_due(100.0)
    assert len(taken) == len(batches)
    return machine


def converting(log: list[str] | None = None) -> Callable[[str], Awaitable[object]]:
    """A single convert that converts every record (and notes each)."""

    async def convert(value: str) -> object:
        if log is not None:
            log.append(value)
        return {"id": f"9{value}"}

    return convert


async def test_a_batch_is_split_one_part_per_record_each_converted_by_its_own_call() -> None:
    """Three records: one BatchSplit (settling) into three new parts, one POST per part with its
    one record, and an IdsConverted per part; the machine holds none of them any more."""
    run = FakeRun(parked_machine(IDS))
    settler = RecordSettler(run, converting(), 2)

    await settler.settle(0)

    split = BatchSplit(0, ((1, ("101",)), (2, ("102",)), (3, ("103",))), True)
    assert run.of(BatchSplit) == [split]
    assert sorted(run.posts) == [(1, "101"), (2, "102"), (3, "103")]
    assert sorted(run.of(IdsConverted), key=lambda e: e.batch) == [
        IdsConverted(1, ("101",)),
        IdsConverted(2, ("102",)),
        IdsConverted(3, ("103",)),
    ]
    assert run.machine.batches == {}


async def test_a_two_record_batch_is_split_too() -> None:
    """Two records are two parts, both sent and converted (not one part sending its first)."""
    run = FakeRun(parked_machine(("101", "102")))
    await RecordSettler(run, converting(), 2).settle(0)
    assert run.of(BatchSplit) == [BatchSplit(0, ((1, ("101",)), (2, ("102",))), True)]
    assert sorted(run.posts) == [(1, "101"), (2, "102")]


async def test_a_one_record_batch_goes_as_itself_without_a_split() -> None:
    """A batch of one record is not split: its own number is sent and converted."""
    run = FakeRun(parked_machine(("101",)))
    await RecordSettler(run, converting(), 2).settle(0)
    assert run.of(BatchSplit) == []
    assert run.posts == [(0, "101")]
    assert run.of(IdsConverted) == [IdsConverted(0, ("101",))]


async def test_records_in_flight_are_counted_across_batches_and_released() -> None:
    """While two batches (3 and 2 records) are being settled, ``queued`` counts all 5 records
    (what ``wanted`` weighs); once both are answered it is back to 0."""
    run = FakeRun(parked_machine(IDS, ("201", "202")))
    gate = asyncio.Event()
    seen: list[int] = []
    settler: RecordSettler

    async def convert(value: str) -> object:
        seen.append(settler.queued)
        await gate.wait()
        return {}

    settler = RecordSettler(run, convert, 10)
    first = asyncio.ensure_future(settler.settle(0))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(settler.settle(1))
    for _ in range(5):
        await asyncio.sleep(0)
    assert settler.queued == 5
    gate.set()
    await asyncio.gather(first, second)
    assert seen[-1] == 5 and settler.queued == 0


@pytest.mark.parametrize(("slots", "records"), [(4, 5), (5, 6)])
async def test_no_more_calls_side_by_side_than_its_slots(slots: int, records: int) -> None:
    """Records in a run of four or five request slots: records take half of them, rounded
    down (not two and a half, which would let a third single convert go), so never more than
    two single converts are in flight (and a run of one slot still gets one)."""
    run = FakeRun(parked_machine(tuple(str(n) for n in range(1, records + 1))))
    in_flight: list[int] = []
    current = 0

    async def convert(value: str) -> object:
        nonlocal current
        current += 1
        in_flight.append(current)
        for _ in range(3):
            await asyncio.sleep(0)
        current -= 1
        return {}

    await RecordSettler(run, convert, slots).settle(0)
    assert max(in_flight) == 2 and len(run.of(IdsConverted)) == records
    assert RecordSettler(run, convert, 1).slot_count == 1


async def test_a_run_wide_error_is_raised_once_every_record_is_answered() -> None:
    """A record whose outcome cannot be recorded (the journal's disk is full) raises out of
    ``settle``, but only after every other record's call came back and was recorded, and with
    nothing left counted as queued."""
    run = FakeRun(parked_machine(IDS))
    run.fail_on = lambda event: event == IdsConverted(1, ("101",))
    slow = "103"

    async def convert(value: str) -> object:
        if value == slow:
            for _ in range(10):
                await asyncio.sleep(0)
        return {}

    settler = RecordSettler(run, convert, 3)
    with pytest.raises(OSError, match="disk full"):
        await settler.settle(0)
    assert IdsConverted(3, (slow,)) in run.events
    assert settler.queued == 0


async def test_a_stopped_run_sends_no_record_and_keeps_them_in_the_machine() -> None:
    """Once the run stops, a record that gets its slot is not sent: no POST, no outcome, and
    the machine still holds each part (reported uncertain by the run)."""
    run = FakeRun(parked_machine(IDS))
    run.stop = True
    await RecordSettler(run, converting(), 2).settle(0)
    assert run.posts == [] and run.of(IdsConverted) == []
    assert sorted(run.machine.batches) == [1, 2, 3]


async def test_a_post_stopped_before_it_left_publishes_nothing() -> None:
    """``post`` raising Stopped (min_credits ran low with the slot held): nothing published for
    the record, not parked, not converted; the run goes on to stop."""
    run = FakeRun(parked_machine(("101",)))

    async def post(seq: int, send: Any, arg: Any) -> Any:
        raise Stopped()

    run.post = post  # type: ignore[method-assign]
    await RecordSettler(run, converting(), 1).settle(0)
    assert run.events == []
    assert run.machine.batches[0].state is BatchState.RESUBMITTING


async def test_a_5xx_parks_the_record_at_once_after_its_pause_from_the_clock() -> None:
    """A single convert answered 500 by Zoho, at clock 10: the record is parked at-once-able
    (single), maybe sent, with Zoho's code, due at 10.1 (round 1's pause)."""
    run = FakeRun(parked_machine(("101",)))
    error = ServerError(500, "INTERNAL_ERROR", "try again", maybe_processed=True)

    async def convert(value: str) -> object:
        raise error

    await RecordSettler(run, convert, 1).settle(0)
    assert run.of(BatchUncertain) == [
        BatchUncertain(0, ("101",), 10.1, True, error_text(error), "INTERNAL_ERROR", True)
    ]
    assert run.machine.batches[0].state is BatchState.PARKED


async def test_a_record_already_converted_was_converted_by_the_lost_submission() -> None:
    """ID_ALREADY_CONVERTED on a settling record: parked for its second look (its lost job may
    still have held it), by record; refused so on that look, IdsAlreadyConverted (this run
    converted it), never a rejection."""
    machine = parked_machine(("101",))
    run = FakeRun(machine)

    async def convert(value: str) -> object:
        raise RecordStateError(400, "ID_ALREADY_CONVERTED", "already converted")

    settler = RecordSettler(run, convert, 1)
    await settler.settle(0)
    assert run.events[-1] == look_again(0, ("101",), run.now, True)
    assert not run.of(IdsAlreadyConverted) and not run.of(IdsRejected)
    (taken,) = machine.settle_due(run.now + machine.lost_job_wait())
    assert taken.seq == 0 and settler.wanted(0)
    await settler.settle(0)
    assert run.of(IdsAlreadyConverted) == [IdsAlreadyConverted(0, ("101",))]


async def test_a_refused_single_call_parks_every_record_for_a_mass_resubmission(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first single convert refused for the request (NO_PERMISSION): one warning naming the
    error and the fallback, the record parked at once with the reason, and the records still
    waiting for the slot parked the same way without being sent, each as a check (nothing of
    it was sent in its round: it takes no round of its own); ``wanted`` is False after."""
    run = FakeRun(parked_machine(IDS, ("201",)))
    error = PermissionDeniedError(403, "NO_PERMISSION", "permission denied")

    async def convert(value: str) -> object:
        raise error

    settler = RecordSettler(run, convert, 1)
    run.now = 12.5
    with caplog.at_level(logging.WARNING, logger="zoho_convert.bulk"):
        await settler.settle(0)

    reason = f"the single convert is refused ({error_text(error)})"
    assert settler.refusal == reason
    assert run.posts == [(2, "101")]  # the first part to get the slot; the others not sent
    parked = sorted(run.of(BatchUncertain), key=lambda e: e.batch)
    assert parked == [
        BatchUncertain(seq, (value,), 12.5, True, reason, at_once=True, by_record=True)
        for seq, value in ((2, "101"), (3, "102"), (4, "103"))
    ]
    assert {run.machine.due_at(seq) for seq in (2, 3, 4)} == {12.5}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"the single convert is refused ({error_text(error)}); settling by mass conversion"
    ]
    run.machine(InputEnded(4, 0))
    assert settler.wanted(1) is False


async def test_a_refusal_is_noted_once_from_the_first_record_refused() -> None:
    """Two records refused side by side: the reason stays the first one's (the second error's
    text does not replace it), and both are parked with it."""
    run = FakeRun(parked_machine(("101", "102")))
    errors = {
        "101": PermissionDeniedError(403, "NO_PERMISSION", "first"),
        "102": PermissionDeniedError(403, "NO_PERMISSION", "second"),
    }

    async def convert(value: str) -> object:
        if value == "102":
            await asyncio.sleep(0)
        raise errors[value]

    settler = RecordSettler(run, convert, 2)
    await settler.settle(0)
    reason = f"the single convert is refused ({error_text(errors['101'])})"
    assert settler.refusal == reason
    assert {event.reason for event in run.of(BatchUncertain)} == {reason}


def estimating_machine(longest: float) -> RunMachine:
    """Batch 0 accepted with a half-second round trip (its job of ``longest`` seconds done),
    batch 1 (``IDS``) parked after a lost reply, the input ended."""
    machine = RunMachine(SettlePolicy(min_wait=8.0, unknown_wait=8.0))
    machine(BatchRead(0, ("001",), 1, 1, 0))
    machine(SubmitStarted(0))
    machine(BatchSubmitted(0, 1, "5000", False, 1.0, 1.5))
    machine(LongestJob(longest))
    machine(JobFinished(0, "5000", 1, JobStatus(JobState.COMPLETED, 1, 1, 0, 0), ("001",)))
    machine(BatchRead(1, IDS, 4, 4, 0))
    machine(SubmitStarted(1))
    machine(BatchUncertain(1, IDS, 2.0, True, "reply lost"))
    machine(InputEnded(4, 0))
    return machine


def test_wanted_weighs_its_own_slots_and_the_records_queued() -> None:
    """Three records at half a second against a 2 s job: one record slot (a run of two request
    slots, records take half) and none queued, 1.5 s (yes); one queued, 2 s (no); two record
    slots with one queued, 1 s (yes); a refused single call, no."""
    machine = estimating_machine(2.0)
    settler = RecordSettler(FakeRun(machine), converting(), 2)
    assert settler.wanted(1) is True
    settler.queued = 1
    assert settler.wanted(1) is False
    assert RecordSettler(FakeRun(machine), converting(), 4).wanted(1) is True
    other = RecordSettler(FakeRun(machine), converting(), 4)
    other.queued = 1
    assert other.wanted(1) is True
    other.refusal = "the single convert is refused (PermissionDeniedError: ...)"
    assert other.wanted(1) is False


async def test_a_lone_record_does_not_queue_behind_the_records_being_settled() -> None:
    """A one-record batch (a record tried before, due again after its pause) goes while every
    record slot is held by the records of other batches; a batch of several waits for them."""
    run = FakeRun(parked_machine(("7",), ("8", "9")))
    settler = RecordSettler(run, converting(), 2)  # one record slot
    await settler.slots.acquire()  # held by another batch's records
    try:
        async with deadline(5.0):
            await settler.settle(0)
        assert run.of(IdsConverted) == [IdsConverted(0, ("7",))]
        waiting = asyncio.ensure_future(settler.settle(1))
        for _ in range(5):
            await asyncio.sleep(0)
        assert not waiting.done()  # its two records queue for the slot
    finally:
        settler.slots.release()
    async with deadline(5.0):
        await waiting
    assert len(run.of(IdsConverted)) == 3
