"""What the fleet's ledger keeper does with a batch given up with no end to its lost job
(mutation testing of ``LedgerKeeper._hold``'s callers): its claims, this run's only, are
renewed for ``UNFINISHED_HOLD`` like a job given up at the poll timeout, not given back.

A memory ledger on a settable clock (``NotingLedger``). No I/O.
"""

from __future__ import annotations

import math

from noting_ledger import NotingLedger

from zoho_convert.bulk.events import BatchGaveUp
from zoho_convert.bulk.keeper import UNFINISHED_HOLD, LedgerKeeper


async def test_a_batch_given_up_with_no_end_to_its_lost_job_keeps_its_claims() -> None:
    """Ids 1, 2 claimed by this run (until 600 s), id 9 by another (until 50 s); the batch
    (1, 2, 9) given up with an unbounded lost job: 1 and 2 are held UNFINISHED_HOLD from the
    flush, nothing is given back, and 9 is left to its run."""
    ledger = NotingLedger()
    keeper = LedgerKeeper(ledger.holding("run-a"), "Quotes")
    events, _ = await keeper.screen(0, ("1", "2"), False, lambda: 1, 0.0, 600.0)
    assert events == []
    assert await ledger.holding("run-c").claim("Quotes", ("9",), 50.0) == (["9"], [])
    keeper(BatchGaveUp(0, ("1", "2", "9"), "lost", math.inf))
    await keeper.flush()
    assert (ledger.released, ledger.later) == ([], [])
    other = ledger.holding("run-b")
    ledger.now = UNFINISHED_HOLD - 1.0
    assert await other.claim("Quotes", ("1", "2", "9"), 1.0) == (["9"], ["1", "2"])
