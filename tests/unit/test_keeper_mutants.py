"""``LedgerKeeper`` (``bulk/keeper.py``), what its mutants showed untested: which refused ids
it records converted and which it gives back, that a release the ledger failed keeps what was
queued meanwhile, and what it says of ids another worker holds (journaled and reported).

No I/O but the journal's file; virtual time.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from fake_convert_api import FakeAPI
from fakes import VirtualTime
from noting_ledger import NotingLedger

from zoho_convert import ServerError, SettlePolicy
from zoho_convert.bulk.convert import convert_many, resume
from zoho_convert.bulk.events import (
    BatchGaveUp,
    BatchSplit,
    BatchUncertain,
    IdsRejected,
    RunStopped,
)
from zoho_convert.bulk.keeper import LedgerKeeper
from zoho_convert.bulk.ledger import CLAIMED_ELSEWHERE, MemoryLedger
from zoho_convert.bulk.report import RejectedId

IDS = [str(7_100_000_000_000_000 + n) for n in range(100)]
TTL = 600.0


async def screened(keeper: LedgerKeeper, ids: Sequence[str], seq: int = 0) -> int:
    """Screen a fresh batch of ``ids`` (all new): the part to submit, its ids now claimed."""
    numbers = itertools.count(1000 + seq * 10)
    events, part = await keeper.screen(seq, tuple(ids), False, lambda: next(numbers), 0.0, TTL)
    assert part == seq and not events  # nothing known nor held: the batch goes whole
    return part


async def free(ledger: MemoryLedger, ids: Sequence[str]) -> bool:
    """Whether another worker could claim every one of ``ids`` now (then gives them back)."""
    claimed, held = await ledger.claim("Quotes", ids, 1.0)
    await ledger.release("Quotes", claimed)
    return not held


def refused(seq: int, ids: Sequence[str]) -> IdsRejected:
    """Zoho refused ``ids`` of batch ``seq`` as invalid: never converted, free to retry."""
    return IdsRejected(seq, tuple(RejectedId(value, "INVALID_DATA", "invalid id") for value in ids))


async def test_ids_refused_as_converted_are_recorded_and_other_refusals_given_back() -> None:
    """Ids Zoho refused with ID_ALREADY_CONVERTED are recorded converted in the ledger;
    ids refused for any other reason are not, and their claims are given back."""
    ledger = MemoryLedger(clock=VirtualTime().clock)
    keeper = LedgerKeeper(ledger, "Quotes")
    await screened(keeper, IDS[:4])
    items = (
        RejectedId(IDS[0], "ID_ALREADY_CONVERTED", "already converted"),
        RejectedId(IDS[1], "INVALID_DATA", "invalid id"),
    )

    keeper(IdsRejected(0, items))
    await keeper.flush()

    assert await ledger.filter_known("Quotes", IDS[:4]) == (IDS[1:4], [IDS[0]])
    assert await free(ledger, [IDS[1]])
    assert not await free(ledger, IDS[2:4])  # still this run's, their fate unknown


async def test_a_run_with_a_fleet_ledger_records_ids_zoho_found_converted_before_it() -> None:
    """End to end: an id converted before the run (Zoho refuses it) ends in the ledger as
    converted, beside the ids the run converted; an invalid id is left free to retry."""
    api = FakeAPI(converted=[IDS[5]], invalid=[IDS[60]])
    ledger = MemoryLedger(clock=api.clock)
    api.ledger = ledger

    report = await convert_many(api, "Quotes", IDS, to="Sales_Orders")

    assert {(item.id, item.code) for item in report.rejected} == {
        (IDS[5], "ID_ALREADY_CONVERTED"),
        (IDS[60], "INVALID_DATA"),
    }
    new, known = await ledger.filter_known("Quotes", IDS)
    assert new == [IDS[60]] and len(known) == 99
    assert await free(ledger, [IDS[60]])


async def test_a_fleet_run_whose_settling_gives_up_reports_its_ids_uncertain() -> None:
    """With a fleet ledger, a batch whose every submission lost its reply ends uncertain when
    settling's rounds are used up: reported so, and never recorded converted in the ledger."""
    lost = {n: ServerError(500, "INTERNAL_ERROR", "boom", maybe_processed=True) for n in (1, 2)}
    api = FakeAPI(submit_faults_after=lost, duration=5.0, already_converted="fail_in_job")
    ledger = MemoryLedger(clock=api.clock)
    api.ledger = ledger

    report = await convert_many(
        api, "Quotes", IDS, to="Sales_Orders", settle=SettlePolicy(max_rounds=1)
    )

    assert sorted(report.uncertain) == IDS[50:] and report.converted == 50
    assert await ledger.filter_known("Quotes", IDS) == (IDS[50:], IDS[:50])


class StallingLedger(MemoryLedger):
    """A memory ledger whose next release waits for ``go``, then fails (its store away)."""

    def __init__(self, clock: VirtualTime) -> None:
        super().__init__(clock=clock.clock)
        self.stall = False
        self.stalled = asyncio.Event()
        self.go = asyncio.Event()

    async def release(self, module: str, ids: Sequence[str]) -> None:
        if not self.stall:
            return await super().release(module, ids)
        self.stall = False
        self.stalled.set()
        await self.go.wait()
        raise ConnectionError("ledger store unreachable")


async def test_a_failed_early_release_keeps_what_was_given_back_meanwhile() -> None:
    """screen's early release fails after other claims were given back while it waited:
    both the failed ones and those are sent with the next flush, none lost."""
    ledger = StallingLedger(VirtualTime())
    keeper = LedgerKeeper(ledger, "Quotes")
    await screened(keeper, IDS[:3])
    await screened(keeper, IDS[3:6], seq=1)
    keeper(refused(0, IDS[:3]))  # queued, sent by the next screen
    ledger.stall = True

    screening = asyncio.ensure_future(
        keeper.screen(2, tuple(IDS[6:9]), False, lambda: 2000, 0.0, TTL)
    )
    await ledger.stalled.wait()
    keeper(refused(1, IDS[3:6]))  # another batch's, meanwhile
    ledger.go.set()
    assert await screening == ([], 2)
    await keeper.flush()

    assert await free(ledger, IDS[:6])
    assert not await free(ledger, IDS[6:9])


@pytest.mark.parametrize("settling", [False, True])
async def test_ids_another_worker_holds_are_parked_as_never_sent_by_this_run(
    settling: bool,
) -> None:
    """Ids the ledger says another worker holds are split off and parked CLAIMED_ELSEWHERE,
    saying why, and as sent before only when their batch was settling."""
    ledger = MemoryLedger(clock=VirtualTime().clock)
    await ledger.claim("Quotes", IDS[1:3], TTL)  # the other worker
    keeper = LedgerKeeper(ledger, "Quotes")
    numbers = iter((10, 11))

    events, part = await keeper.screen(0, tuple(IDS[:4]), settling, lambda: next(numbers), 7.0, TTL)

    parts = ((10, (IDS[0], IDS[3])), (11, tuple(IDS[1:3])))
    reason = "another worker of the fleet holds these ids"
    uncertain = BatchUncertain(11, tuple(IDS[1:3]), 7.0, settling, reason, CLAIMED_ELSEWHERE)
    assert events == [BatchSplit(0, parts, settling), uncertain]
    assert part == 10


async def test_a_journaled_run_parks_and_reports_ids_another_worker_holds(
    tmp_path: Path,
) -> None:
    """With a journal, ids another worker holds throughout are journaled as parked and end
    rejected CLAIMED_ELSEWHERE with the reason; resuming the finished journal says the same."""
    path = str(tmp_path / "run.db")
    api = FakeAPI()
    ledger = MemoryLedger(clock=api.clock)
    api.ledger = ledger
    held = IDS[10:20]
    await ledger.claim("Quotes", held, 10_000.0)  # the other worker
    settle = SettlePolicy(max_rounds=2, min_wait=5.0)

    report = await convert_many(api, "Quotes", IDS, to="Sales_Orders", settle=settle, journal=path)
    again = await resume(api, path)

    for each in (report, again):
        assert sorted(item.id for item in each.rejected) == sorted(held)
        assert {item.message for item in each.rejected} == {
            "another worker of the fleet holds these ids"
        }
        assert each.converted == 90 and each.accounted_for


class NoLaterLedger(MemoryLedger):
    """A ledger that cannot give claims back later (``release_later`` is optional)."""

    def __init__(self) -> None:
        super().__init__(clock=VirtualTime().clock)

    def __getattribute__(self, name: str) -> Any:
        if name == "release_later":
            raise AttributeError(name)
        return super().__getattribute__(name)


async def test_a_given_up_batch_gives_its_claims_back_once_its_lost_job_ended() -> None:
    """Settling gave up on a batch whose lost job ends 0.5 s on: its ids (this run's claims
    only) are given back later with that delay, not at once; a later stop naming them again
    gives nothing back twice."""
    ledger = NotingLedger()
    keeper = LedgerKeeper(ledger, "Quotes")
    await screened(keeper, IDS[:3])
    keeper(BatchGaveUp(0, (*IDS[:3], IDS[50]), "rounds ran out", lost_job_end=0.5))
    await keeper.flush()
    assert ledger.later == [(IDS[:3], 0.5)] and ledger.released == []
    keeper(RunStopped(uncertain=tuple(IDS[:3]), lost_jobs_end=2.0))
    await keeper.flush()
    assert ledger.later == [(IDS[:3], 0.5)] and ledger.released == []


async def test_each_flush_gives_back_later_with_the_longest_delay_since_the_last() -> None:
    """Two batches given up before one flush go with the longer of their delays; a batch
    given up after that flush goes with its own, shorter one."""
    ledger = NotingLedger()
    keeper = LedgerKeeper(ledger, "Quotes")
    await screened(keeper, IDS[:3])
    keeper(BatchGaveUp(0, (IDS[0],), "rounds ran out", lost_job_end=3.0))
    keeper(BatchGaveUp(1, (IDS[1],), "rounds ran out", lost_job_end=0.5))
    await keeper.flush()
    keeper(BatchGaveUp(2, (IDS[2],), "deadline", lost_job_end=0.25))
    await keeper.flush()
    assert ledger.later == [([IDS[0], IDS[1]], 3.0), ([IDS[2]], 0.25)]


@pytest.mark.parametrize("ledger_kind", [NotingLedger, NoLaterLedger])
async def test_claims_whose_lost_job_already_ended_are_given_back_at_once(
    ledger_kind: type[NotingLedger | NoLaterLedger],
) -> None:
    """A stop whose lost jobs have surely ended (no delay) gives this run's claims back at
    once, also on a ledger that cannot give them back later: another worker may take them."""
    ledger = ledger_kind()
    keeper = LedgerKeeper(ledger, "Quotes")
    await screened(keeper, IDS[:2])
    keeper(RunStopped(uncertain=tuple(IDS[:2]), lost_jobs_end=0.0))
    await keeper.flush()
    assert await free(ledger, IDS[:2])


async def test_without_release_later_claims_of_lost_jobs_are_left_to_expire() -> None:
    """On a ledger that cannot give claims back later, ids whose lost job may still run keep
    their claims (they expire): not given back at once, nothing raised."""
    ledger = NoLaterLedger()
    keeper = LedgerKeeper(ledger, "Quotes")
    await screened(keeper, IDS[:2])
    keeper(RunStopped(uncertain=tuple(IDS[:2]), lost_jobs_end=3.0))
    await keeper.flush()
    assert not await free(ledger, IDS[:2])
