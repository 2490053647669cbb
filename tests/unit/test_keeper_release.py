"""What the fleet's ledger keeper gives back when a run stops, and when: ids never sent at
once; this run's claims on ids that may have been sent once their lost job has surely ended
(``release_later``), or never (they expire) when that is unknown; other runs' claims never.
And ``MemoryLedger.release_later`` never makes a claim last longer."""

from __future__ import annotations

import math

from noting_ledger import NotingLedger

from zoho_convert.bulk.events import RunStopped
from zoho_convert.bulk.keeper import LedgerKeeper


async def claimed_by_a_run(ledger: NotingLedger, ids: tuple[str, ...]) -> LedgerKeeper:
    """A keeper whose run screened (and so claimed) ``ids``."""
    keeper = LedgerKeeper(ledger, "Quotes")
    events, part = await keeper.screen(0, ids, False, lambda: 1, 0.0, 600.0)
    assert events == [] and part == 0
    return keeper


async def test_a_stopped_run_gives_back_its_own_claims_once_lost_jobs_surely_ended() -> None:
    """Stopped with ids never sent and ids that may have been: the first are given back at
    once, the second, of this run's claims only (not ids another run holds), 3 s on."""
    ledger = NotingLedger()
    keeper = await claimed_by_a_run(ledger, ("1", "2", "3"))
    keeper(RunStopped(not_submitted=("1",), uncertain=("2", "3", "9"), lost_jobs_end=3.0))
    await keeper.flush()
    assert ledger.released == [["1"]] and ledger.later == [(["2", "3"], 3.0)]
    ledger.now = 2.9
    assert await ledger.claim("Quotes", ("1", "2"), 60.0) == (["1"], ["2"])
    ledger.now = 3.0
    assert await ledger.claim("Quotes", ("2", "3"), 60.0) == (["2", "3"], [])


async def test_claims_of_lost_jobs_whose_end_is_unknown_expire() -> None:
    """When the run cannot say when the lost jobs end (an older job still ran), their claims
    are not given back at all: they expire, 600 s on."""
    ledger = NotingLedger()
    keeper = await claimed_by_a_run(ledger, ("2", "3"))
    keeper(RunStopped(uncertain=("2", "3"), lost_jobs_end=math.inf))
    await keeper.flush()
    assert ledger.later == [] and ledger.released == []
    ledger.now = 599.0
    assert await ledger.claim("Quotes", ("2",), 60.0) == ([], ["2"])


async def test_a_memory_ledger_gives_claims_back_later_never_extending_them() -> None:
    """``release_later`` ends a claim by then, keeps the end of one that ends sooner, and
    claims nothing that was not claimed."""
    ledger = NotingLedger()
    await ledger.claim("Quotes", ("1", "2"), 10.0)
    await ledger.release_later("Quotes", ("1",), 2.0)
    await ledger.release_later("Quotes", ("2", "5"), 100.0)
    ledger.now = 2.0
    assert await ledger.claim("Quotes", ("1", "2", "5"), 60.0) == (["1", "5"], ["2"])
    ledger.now = 10.0
    assert await ledger.claim("Quotes", ("2",), 60.0) == (["2"], [])
