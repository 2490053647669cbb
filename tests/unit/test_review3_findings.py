"""Findings of a third review of the fleet keeper's holds and renewals (e997b23, c4b8f0b),
pinned as strict xfails until fixed.

The machine and the keeper are fed the events a run would publish (no I/O; times are plain
numbers, the ledger's clock is settable); the resume case writes a real journal in
``tmp_path`` and runs ``FakeAPI`` (virtual time, no real sleeps).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest
from fake_convert_api import FakeAPI
from lost_job_feed import other_worker_can_claim, running
from noting_ledger import NotingLedger

from zoho_convert.api.models import JobState, JobStatus, ModuleRef
from zoho_convert.bulk.convert import resume
from zoho_convert.bulk.events import (
    BatchRead,
    BatchSubmitted,
    BatchUncertain,
    Event,
    JobFinished,
    JobUnfinished,
    LongestJob,
    SubmitStarted,
)
from zoho_convert.bulk.journal import Journal
from zoho_convert.bulk.keeper import UNFINISHED_HOLD, LedgerKeeper
from zoho_convert.bulk.machine import RunMachine
from zoho_convert.bulk.settling import SettlePolicy
from zoho_convert.bulk.spec import RunParams

POLICY = SettlePolicy(deadline=1000.0, min_wait=5.0, unknown_wait=60.0)
# A run's claims: the poll timeout (900 s by default) and two minutes (``Run.claim_ttl``).
CLAIM_TTL = 900.0 + 120.0
# (The module id FakeAPI.module_id answers: resume checks it is the run's org.)
PARAMS = RunParams(module="Quotes", to=ModuleRef("Sales_Orders", "1000000000000000001"))
FIRST = tuple(str(1000 + n) for n in range(10))
LATER = tuple(str(2000 + n) for n in range(10))


class Run:
    """A fleet run's machine and keeper (holder "run-a"), fed the same events."""

    def __init__(self) -> None:
        self.ledger = NotingLedger()
        self.machine = RunMachine(POLICY, fleet=True)
        # (As the driver makes it: the claim ttl, and the machine's lost-job plan.)
        self.keeper = LedgerKeeper(self.ledger.holding("run-a"), "Quotes", CLAIM_TTL, self.machine)

    def publish(self, events: Sequence[Event]) -> None:
        for event in events:
            self.machine(event)
            self.keeper(event)

    async def sent(self, seq: int, ids: tuple[str, ...], at: float) -> None:
        """Batch ``seq`` read, screened (claimed for ``CLAIM_TTL``) and sent at ``at``."""
        self.ledger.now = at
        self.publish([BatchRead(seq, ids, 10 * (seq + 1), 10 * (seq + 1), 0)])
        events, part = await self.keeper.screen(seq, ids, False, lambda: 99, at, CLAIM_TTL)
        assert events == [] and part == seq
        submitted = BatchSubmitted(seq, len(ids), f"job{seq}", False, at, at)
        self.publish([SubmitStarted(seq), submitted])


# -- R1: a batch held back for good by a job given up on keeps no hold ----------------------


async def test_a_batch_lost_after_a_job_given_up_on_keeps_its_claims_while_held_back() -> None:
    """Job 0 (sent at 0) and batch 1 (sent at 10, its reply lost at 20). Job 0 is given up
    on at the 900 s poll timeout, still running: batch 1's lost job may be as long, so this
    run never sends it again. At 1031 s (its claims, made at 10 s, ended at 1030 s), the run
    still going on, another worker must not be able to take batch 1's ids."""
    run = Run()
    await run.sent(0, FIRST, 0.0)
    await run.sent(1, LATER, 10.0)
    run.ledger.now = 20.0
    run.publish([BatchUncertain(1, LATER, 10.0, True, "reply lost")])
    await run.keeper.flush()
    run.ledger.now = 900.0
    run.publish([run.machine.unfinished(0, "job0", running(0), timed_out=True)])
    await run.keeper.flush()
    run.ledger.now = CLAIM_TTL + 11.0
    assert run.machine.settle_due(run.ledger.now) == ()  # (held back: never sent again)
    assert run.machine.settle_round(run.ledger.now) is None
    assert await other_worker_can_claim(run.ledger, FIRST) == []  # (held: as promised)
    assert await other_worker_can_claim(run.ledger, LATER) == []


async def test_a_batch_lost_after_an_unbounded_job_keeps_its_claims_while_held_back() -> None:
    """Job 0 (sent at 0), batch 1 (sent at 10, reply lost at 20); job 0 is seen at 100 s with
    nothing done (past the 60 s wait), then forgotten: unbounded, and batch 1 never goes
    again. At 1031 s another worker must not be able to take batch 1's ids."""
    run = Run()
    await run.sent(0, FIRST, 0.0)
    await run.sent(1, LATER, 10.0)
    run.ledger.now = 20.0
    run.publish([BatchUncertain(1, LATER, 10.0, True, "reply lost")])
    run.ledger.now = 100.0
    run.publish(run.machine.lost(0, "job0", "forgotten", seen=(running(0), 100.0)))
    await run.keeper.flush()
    run.ledger.now = CLAIM_TTL + 11.0
    assert run.machine.settle_round(run.ledger.now) is None  # (neither goes again)
    assert await other_worker_can_claim(run.ledger, FIRST) == []
    assert await other_worker_can_claim(run.ledger, LATER) == []


# -- R2: a resumed run's keeper does not know how long a seen lost job may run ---------------


class TtlLedger(NotingLedger):
    """A noting ledger that notes the ttl of every claim (its ``holding`` views share it)."""

    def __init__(self) -> None:
        super().__init__()
        self.ttls: list[float] = []

    async def claim(
        self, module: str, ids: Sequence[str], ttl: float
    ) -> tuple[list[str], list[str]]:
        self.ttls.append(ttl)
        return await super().claim(module, ids, ttl)


async def test_a_resumed_run_claims_as_long_as_a_journaled_seen_job_may_run(
    tmp_path: Path,
) -> None:
    """Session 1 saw a lost job whose pace says it may run 10 000 s, and read a batch it
    never sent. Resumed, the run claims that batch's ids (lost in its turn, they would wait
    10 000 s more than a claim's ttl) for at least the ttl and those 10 000 s."""
    path = tmp_path / "run.db"
    journal = await Journal.create(path, PARAMS)
    journal.record(BatchRead(0, FIRST, 10, 10, 0))
    journal.record(LongestJob(10_000.0, None, seen=True))
    await journal.close()
    api = FakeAPI()
    api.ledger = ledger = TtlLedger()
    report = await resume(api, str(path))
    assert report.converted == 10
    assert ledger.ttls and min(ledger.ttls) >= CLAIM_TTL + 10_000.0, ledger.ttls



async def test_a_resumed_session_that_screens_nothing_still_renews_its_claims() -> None:
    """Session 1 claimed LATER at 0 s (for 1020 s) and lost its submission. Session 2 (the
    same run's name) adopts the claims, parks the batch at 100 s, and learns that a lost job
    may run 5000 s: the batch waits that long, so at 1021 s its claims must still hold."""
    ledger = NotingLedger()
    first = LedgerKeeper(ledger.holding("run-a"), "Quotes")
    assert (await first.screen(1, LATER, False, lambda: 9, 0.0, CLAIM_TTL))[1] == 1
    resumed = LedgerKeeper(ledger.holding("run-a"), "Quotes")
    resumed.adopt(LATER)
    ledger.now = 100.0
    resumed(BatchUncertain(1, LATER, 100.0, True, "parked by an earlier session"))
    resumed(LongestJob(5000.0, None, seen=True))
    await resumed.flush()
    ledger.now = CLAIM_TTL + 1.0
    assert await other_worker_can_claim(ledger, LATER) == []

# -- R3: a renewal in flight undoes a hold or a give-back made meanwhile ---------------------


class ChunkedLedger(NotingLedger):
    """A noting ledger whose claims go in chunks of one id, awaiting each (as ``RedisLedger``
    sends chunks of 500 ids, one script call each): a claim for ``slow[0]`` seconds sends
    its first chunk, then waits for ``gate`` before the rest (another flush's calls go
    meanwhile). (Its ``holding`` views are copies: they share these objects.)"""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.slow = [-1.0]
        self.waiting = asyncio.Event()

    async def claim(
        self, module: str, ids: Sequence[str], ttl: float
    ) -> tuple[list[str], list[str]]:
        claimed: list[str] = []
        held: list[str] = []
        for n, value in enumerate(ids):
            if n == 1 and ttl == self.slow[0]:
                self.waiting.set()
                await self.gate.wait()
            got, busy = await super().claim(module, [value], ttl)
            claimed += got
            held += busy
        return claimed, held

    async def extend(self, module: str, ids: Sequence[str], ttl: float) -> None:
        for n, value in enumerate(ids):
            if n == 1 and ttl == self.slow[0]:
                self.waiting.set()
                await self.gate.wait()
            await super().extend(module, [value], ttl)


async def renewing(longer: float) -> tuple[Run, ChunkedLedger, asyncio.Task[None], asyncio.Event]:
    """A run that claimed FIRST (batch 0) and LATER (batch 1) at 0 s, then learned that a lost
    job may run ``longer`` s: the next flush's renewal is under way at 900 s, its first chunk
    sent, the rest held up."""
    run = Run()
    run.ledger = ledger = ChunkedLedger()
    run.keeper = LedgerKeeper(ledger.holding("run-a"), "Quotes")
    await run.sent(0, FIRST, 0.0)
    await run.sent(1, LATER, 0.0)
    run.keeper(LongestJob(longer, None, seen=True))
    ledger.now = 900.0
    ledger.slow[0] = CLAIM_TTL + longer
    renewal = asyncio.ensure_future(run.keeper.flush())
    await asyncio.wait_for(ledger.waiting.wait(), 5.0)
    return run, ledger, renewal, ledger.gate


async def test_a_renewal_under_way_does_not_shorten_a_hold_made_meanwhile() -> None:
    """The renewal (for 1020 s + 5000 s) is under way when batch 1's job is given up on at
    the poll timeout (900 s): its ids are held for a day. At 900 + 1020 + 5000 + 1 s another
    worker must still not be able to take them."""
    run, ledger, renewal, gate = await renewing(5000.0)
    run.keeper(JobUnfinished(1, "job1", 10, running(0), LATER, timed_out=True))
    await run.keeper.flush()  # (batch 1's run_batch: the hold goes at once)
    gate.set()
    await renewal
    ledger.now = 900.0 + CLAIM_TTL + 5000.0 + 1.0
    assert ledger.now < 900.0 + UNFINISHED_HOLD
    assert await other_worker_can_claim(ledger, LATER) == []


async def test_a_renewal_under_way_does_not_take_back_ids_given_back_meanwhile() -> None:
    """The renewal is under way when batch 1's job ends with records failed: its ids are
    given back (another worker may try them). Once the renewal is done, another worker must
    be able to take them."""
    run, ledger, renewal, gate = await renewing(5000.0)
    failed = JobStatus(JobState.COMPLETED, 10, 0, 0, 10)
    run.keeper(JobFinished(1, "job1", 10, failed, LATER, False))
    await run.keeper.flush()
    assert ledger.released == [list(LATER)]
    gate.set()
    await renewal
    assert await other_worker_can_claim(ledger, LATER) == list(LATER)


# -- R4: a lost batch waits longer than its claims last ----------------------------------------


async def test_a_lost_batch_keeps_its_claims_until_it_falls_due() -> None:
    """Job 0 (sent at 0) took 600 s, measured tightly: a lost job is now given 1200 s.
    Batch 1 (claimed and sent at 700 s) loses its reply: it falls due at 1900 s. At 1721 s
    (its claims ended at 1720 s) the run still holds it back; another worker must not be
    able to take its ids."""
    run = Run()
    await run.sent(0, FIRST, 0.0)
    run.ledger.now = 600.0
    done = JobStatus(JobState.COMPLETED, 10, 10, 0, 0)
    run.publish(run.machine.finished(0, "job0", done, took=600.0, tight=600.0))
    await run.keeper.flush()
    await run.sent(1, LATER, 700.0)
    run.ledger.now = 710.0
    run.publish([BatchUncertain(1, LATER, 700.0, True, "reply lost")])
    await run.keeper.flush()
    assert run.machine.due_at(1) == 1900.0
    run.ledger.now = 700.0 + CLAIM_TTL + 1.0
    assert run.machine.settle_due(run.ledger.now) == ()  # (held back: not due yet)
    assert await other_worker_can_claim(run.ledger, LATER) == []


# -- R5: a flush whose first call fails drops the give-backs queued with it --------------------


class FailingMarkLedger(NotingLedger):
    """A noting ledger whose next ``mark_converted`` fails while ``failures`` holds an error
    (shared by its ``holding`` views, which are copies)."""

    def __init__(self) -> None:
        super().__init__()
        self.failures: list[Exception] = []

    async def mark_converted(self, module: str, ids: Sequence[str]) -> None:
        if self.failures:
            raise self.failures.pop()
        await super().mark_converted(module, ids)


async def test_a_failed_flush_sends_its_give_backs_with_the_next() -> None:
    """Batch 0's job converts every record, batch 1's fails every record: the flush after
    them fails on its first call (the ledger unreachable a moment). The next flush must
    record batch 0 converted and give batch 1's claims back (another worker may retry them
    before they expire)."""
    run = Run()
    run.ledger = ledger = FailingMarkLedger()
    run.keeper = LedgerKeeper(ledger.holding("run-a"), "Quotes")
    await run.sent(0, FIRST, 0.0)
    await run.sent(1, LATER, 0.0)
    run.ledger.now = 60.0
    run.keeper(JobFinished(0, "job0", 10, JobStatus(JobState.COMPLETED, 10, 10, 0, 0), FIRST))
    run.keeper(JobFinished(1, "job1", 10, JobStatus(JobState.COMPLETED, 10, 0, 0, 10), LATER))
    ledger.failures.append(ConnectionError("ledger unreachable"))
    with pytest.raises(ConnectionError):
        await run.keeper.flush()
    await run.keeper.flush()  # (the next batch's: the ledger answers again)
    assert await ledger.filter_known("Quotes", FIRST) == ([], list(FIRST))
    assert await other_worker_can_claim(ledger, LATER) == list(LATER)
