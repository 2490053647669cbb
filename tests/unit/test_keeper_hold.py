"""What the fleet's ledger keeper does with a job given up on at the poll timeout, and with a
job that did not convert every record (mutation testing of ``bulk/keeper.py``): the first's
claims, this run's only, are renewed for ``UNFINISHED_HOLD``; the second's are given back.

A memory ledger on a settable clock (``NotingLedger``), its claims made under the run's name
(``holding``) as ``convert_many`` makes them. No I/O.
"""

from __future__ import annotations

from noting_ledger import NotingLedger

from zoho_convert.api.models import JobState, JobStatus
from zoho_convert.bulk.events import JobFinished, JobUnfinished
from zoho_convert.bulk.keeper import UNFINISHED_HOLD, LedgerKeeper
from zoho_convert.bulk.ledger import MemoryLedger

TTL = 600.0


async def claimed(ledger: MemoryLedger, ids: tuple[str, ...]) -> LedgerKeeper:
    """A keeper whose run (holder "run-a") screened, and so claimed, ``ids`` at 0 s."""
    keeper = LedgerKeeper(ledger.holding("run-a"), "Quotes")
    events, part = await keeper.screen(0, ids, False, lambda: 1, 0.0, TTL)
    assert events == [] and part == 0
    return keeper


async def held(ledger: MemoryLedger, ids: tuple[str, ...]) -> list[str]:
    """Which of ``ids`` another worker cannot claim now (the ones it could are given back)."""
    other = ledger.holding("run-b")
    got, busy = await other.claim("Quotes", ids, 1.0)
    await other.release("Quotes", got)
    return busy


async def test_a_job_given_up_at_the_poll_timeout_keeps_this_runs_claims_for_a_day() -> None:
    """Job 1 (ids 1, 2) given up on at the poll timeout: its claims, ending at 600 s, are
    renewed at once to end UNFINISHED_HOLD later; id 9 in it, another run's claim (ending at
    50 s), is left to that run. Job 2 (id 3), left unfinished because the run stopped,
    keeps its claim as it was."""
    ledger = NotingLedger()
    keeper = await claimed(ledger, ("1", "2", "3"))
    assert await ledger.holding("run-c").claim("Quotes", ("9",), 50.0) == (["9"], [])
    keeper(JobUnfinished(0, "job1", 3, None, ("1", "2", "9"), timed_out=True))
    keeper(JobUnfinished(1, "job2", 1, None, ("3",)))
    await keeper.flush()
    assert ledger.released == []  # (nothing given back)
    ledger.now = 51.0
    assert await held(ledger, ("1", "2", "3", "9")) == ["1", "2", "3"]
    ledger.now = 601.0
    assert await held(ledger, ("1", "2", "3")) == ["1", "2"]
    ledger.now = UNFINISHED_HOLD - 1.0
    assert await held(ledger, ("1", "2")) == ["1", "2"]
    ledger.now = UNFINISHED_HOLD + 1.0
    assert await held(ledger, ("1", "2")) == []


async def test_renewed_once_per_give_up() -> None:
    """The ids to hold on to are renewed at the flush after the give-up, not again at the
    next: a later flush leaves the claims' end where it was."""
    ledger = NotingLedger()
    keeper = await claimed(ledger, ("1",))
    keeper(JobUnfinished(0, "job1", 1, None, ("1",), timed_out=True))
    await keeper.flush()
    ledger.now = 100.0
    await keeper.flush()
    ledger.now = UNFINISHED_HOLD + 1.0
    assert await held(ledger, ("1",)) == []


async def test_a_job_that_failed_records_gives_their_claims_back() -> None:
    """A finished job that converted 1 of its 3 records: its ids are not recorded converted,
    and this run's claims on them are given back (another worker may try them)."""
    ledger = NotingLedger()
    keeper = await claimed(ledger, ("1", "2", "3"))
    status = JobStatus(JobState.COMPLETED, 3, 1, 0, 2)
    keeper(JobFinished(0, "job1", 3, status, ("1", "2", "3"), False))
    await keeper.flush()
    assert ledger.released == [["1", "2", "3"]]
    assert await ledger.filter_known("Quotes", ("1", "2", "3")) == (["1", "2", "3"], [])
    assert await held(ledger, ("1", "2", "3")) == []  # (at 0 s: their claims ended at 600 s)
