"""Settling record by record: a parked batch converted one record at a time with the single
convert call (Convert Inventory Record; for Leads, Convert Lead), ``SettlePolicy.record_by_record``.

A single convert answers at once (no job to wait for), and refuses a record the lost
submission converted as ``ID_ALREADY_CONVERTED``: each record's fate is known one by one. It
takes one request slot per record, though, so the machine chooses it only when the records
would be done before a mass resubmission's job (``SettlePlan.by_record``), or to check the
records a settling job did not convert (the only use Leads make of it: Convert Lead costs 5
credits and runs at most 3 to 5 at a time). It is only a faster or surer way: when Zoho
refuses the single call itself (a permission or a body the mass convert does not need), the
run stops using it and settles by mass resubmission, as it would without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Protocol, TypeVar

from zoho_convert.bulk.events import BatchSplit, BatchUncertain, Event, IdsConverted
from zoho_convert.bulk.isolation import error_text
from zoho_convert.bulk.machine import RunMachine
from zoho_convert.bulk.tasks import Stopped, all_to_end

__all__ = ["RecordSettler", "RunPort"]

logger = logging.getLogger("zoho_convert.bulk")

T = TypeVar("T")
A = TypeVar("A")


class RunPort(Protocol):
    """What settling record by record needs of the run (``driver.Run`` has it)."""

    machine: RunMachine

    def publish(self, event: Event) -> None:
        """Hand one event to every subscriber."""

    def publish_all(self, events: Iterable[Event]) -> None:
        """Hand each event to every subscriber."""

    def stopping(self) -> bool:
        """Whether the run stopped."""

    def clock(self) -> float:
        """The run's clock."""

    async def post(self, seq: int, send: Callable[[A], Awaitable[T]], arg: A) -> T:
        """Make one converting POST of a batch (journaled first, ``min_credits`` permitting);
        raises ``Stopped`` when it was not sent."""


class RecordSettler:
    """Converts the records of parked batches one at a time, half the run's request slots
    side by side.

    Args:
        run: the run whose batches these are.
        convert: the single convert of one record, with the run's options.
        slots: the run's request slots. Records take half of them at most: polls and mass
            resubmissions queue for the same slots, and a job's poll or a batch's POST held
            up behind a row of records makes the run longer than the records save (S4 over
            16 seeds: median 1.52 x its twin with half, 1.58 with all).
        checks_only: settle record by record only the batches whose records a settling job
            did not convert (``Endpoints.record_checks_only``), never for speed.
    """

    def __init__(
        self,
        run: RunPort,
        convert: Callable[[str], Awaitable[object]],
        slots: int,
        *,
        checks_only: bool = False,
    ) -> None:
        self.run = run
        self.convert = convert
        self.checks_only = checks_only
        self.slot_count = max(1, slots // 2)
        self.slots = asyncio.Semaphore(self.slot_count)
        self.queued = 0  # records taken for conversion and not yet answered
        self.refusal = ""  # why Zoho refused the single call itself: no longer used, if set

    @property
    def usable(self) -> bool:
        """Whether the single call may still be used (Zoho has not refused it as a request)."""
        return not self.refusal

    def wanted(self, seq: int) -> bool:
        """Whether to settle this batch record by record now (``SettlePlan.by_record``)."""
        if not self.usable:
            return False
        machine = self.run.machine
        if self.checks_only:
            return machine.batches[seq].by_record
        return machine.by_record(seq, self.queued, self.slot_count)

    async def settle(self, seq: int) -> None:
        """Convert each record of a parked batch (each its own part, so each has its own
        fate), side by side."""
        machine = self.run.machine
        ids = machine.batches[seq].ids
        parts: tuple[tuple[int, tuple[str, ...]], ...] = ((seq, ids),)
        if len(ids) > 1:
            parts = tuple((machine.new_seq(), (value,)) for value in ids)
            self.run.publish(BatchSplit(seq, parts, True))
        self.queued += len(parts)
        # A lone record (one tried before, due again after its pause) does not queue behind
        # the records of the batches being settled: at most the transport's slot waits.
        slots = self.slots if len(parts) > 1 else contextlib.nullcontext()
        try:  # (a run-wide error is raised once every record has recorded its outcome)
            await all_to_end(self._convert(part, slots) for part, _ in parts)
        finally:
            self.queued -= len(parts)

    async def _convert(self, seq: int, slots: AbstractAsyncContextManager[object]) -> None:
        run = self.run
        ids = run.machine.batches[seq].ids
        try:
            async with slots:
                if run.stopping():
                    return  # not sent: the machine still holds it (reported uncertain)
                if self.refusal:
                    return self._park(seq)  # not sent: the single call is refused
                await run.post(seq, self.convert, ids[0])
        except Stopped:
            return
        except Exception as error:
            # (A check of ids a first submission was refused for, as a converted lead may
            # be, is not settling: refused as converted, they were so before the run.)
            settling = run.machine.batches[seq].settling
            verdict = run.machine.refused(
                seq, ids, error, settling=settling, at=run.clock(), single=True
            )
            if verdict is not None:
                run.publish_all(verdict[0])  # one record: refused, or parked (never split)
                return
            # The same single call would fail for every record: settle as mass conversions.
            if not self.refusal:
                logger.warning(
                    "the single convert is refused (%s); settling by mass conversion",
                    error_text(error),
                )
                self.refusal = f"the single convert is refused ({error_text(error)})"
            return self._park(seq)
        run.publish(IdsConverted(seq, ids))

    def _park(self, seq: int) -> None:
        """Park a record for a mass resubmission, at once (its lost job's wait is over). Nothing
        of it was sent in this round: like a check, it takes no round of its own (and no
        further check follows, the single call being refused). On its final look
        (``second_look``), it still is: nothing of it was sent."""
        run = self.run
        batch = run.machine.batches[seq]
        ids, final = batch.ids, batch.final_look
        refused = BatchUncertain(
            seq, ids, run.clock(), True, self.refusal, "", True, True, final_look=final
        )
        run.publish(refused)
