"""Findings of a review of cfdd039..8b5802a (lost jobs seen running, ``unbounded``, the
fleet keeper's holds, ``IdsRefused.position``), fixed and pinned here.

The machine and the keeper are fed the events a run would publish (no I/O; times are plain
numbers, the ledger's clock is settable); the journal cases write and replay a real journal in
``tmp_path``; the resume case runs ``FakeAPI`` (no real sleeps).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from fake_convert_api import FakeAPI
from lost_job_feed import apply, journal_round_trip, other_worker_can_claim, running
from noting_ledger import NotingLedger

from zoho_convert.api.models import JobStatus, ModuleRef
from zoho_convert.bulk.convert import convert_many, resume
from zoho_convert.bulk.events import (
    BatchRead,
    BatchSubmitted,
    BatchUncertain,
    Event,
    JobUnfinished,
    SubmitStarted,
)
from zoho_convert.bulk.keeper import UNFINISHED_HOLD, LedgerKeeper
from zoho_convert.bulk.machine import RunMachine
from zoho_convert.bulk.settling import SettlePolicy
from zoho_convert.bulk.spec import RunParams

# A lost job not seen running is given 60 s (no job duration known yet), as by default.
POLICY = SettlePolicy(deadline=1000.0, min_wait=5.0, unknown_wait=60.0)
# A run's claims: the poll timeout (900 s by default) and two minutes (``Run.claim_ttl``).
CLAIM_TTL = 900.0 + 120.0
PARAMS = RunParams(module="Quotes", to=ModuleRef("Sales_Orders", "1"))


def submitted(machine: RunMachine, seq: int, ids: tuple[str, ...], sent: float) -> list[Event]:
    events: list[Event] = [
        BatchRead(seq, ids, 10 * (seq + 1), 10 * (seq + 1), 0),
        SubmitStarted(seq),
        BatchSubmitted(seq, len(ids), f"job{seq}", False, sent, sent),
    ]
    return apply(machine, events)


async def replayed(tmp_path: Path, events: list[Event]) -> RunMachine:
    """A fresh machine fed what a journal of ``events`` replays (``resume``'s first step)."""
    machine = RunMachine(POLICY)
    apply(machine, await journal_round_trip(tmp_path / "j.db", PARAMS, events))
    return machine


# -- F1: unbounded is lost by a second resume ------------------------------------------------


async def test_a_re_polled_job_seen_with_progress_stays_unbounded_after_another_resume(
    tmp_path: Path,
) -> None:
    """Session 2 re-polls a job session 1 sent (when it was sent: unknown), sees it running
    with 5 of 10 records done, then Zoho forgets it: nothing bounds it, so session 2 never
    sends its ids again. Session 2 stops; session 3 resumes the journal: it must not send
    them either (it does, 60 s after it resumed: the job may still hold them)."""
    ids = tuple(str(1000 + n) for n in range(10))
    session2 = RunMachine(POLICY)
    events = submitted(session2, 0, ids, 0.0)
    lost = apply(session2, session2.lost(0, "job0", "forgotten", seen=(running(5), None)))
    uncertain = lost[-1]
    assert isinstance(uncertain, BatchUncertain) and uncertain.unbounded
    assert session2.settle_round(10_000.0) is None  # (session 2: never again)
    session3 = await replayed(tmp_path, events + lost)
    _, _, parked = session3.to_restart(5000.0)
    apply(session3, parked)
    assert session3.settle_round(5000.0) is None, "sent again by the third session"


# -- F2: batches lost after an unbounded job are not held back after a resume ----------------


async def test_a_batch_lost_after_an_unbounded_job_stays_held_back_after_a_resume(
    tmp_path: Path,
) -> None:
    """Session 1: job 0 (sent at 0) seen at 90 s with nothing done, then forgotten:
    unbounded. Batch 1, sent at 10 s, lost its reply: its lost job may be as long, so session
    1 never sends it again. Resumed, batch 1 must stay held back (today it goes 60 s after
    the resume)."""
    first, later = tuple(str(1000 + n) for n in range(10)), tuple(str(2000 + n) for n in range(10))
    session1 = RunMachine(POLICY)
    events = submitted(session1, 0, first, 0.0)
    events += submitted(session1, 1, later, 10.0)
    events += apply(session1, [BatchUncertain(1, later, 10.0, True, "reply lost")])
    events += apply(session1, session1.lost(0, "job0", "forgotten", seen=(running(0), 90.0)))
    assert session1.settle_round(10_000.0) is None  # (session 1: neither goes again)
    session2 = await replayed(tmp_path, events)
    _, _, parked = session2.to_restart(5000.0)
    apply(session2, parked)
    round_ = session2.settle_round(5000.0)
    assert round_ is None, f"batches {[b.seq for b in round_.batches]} sent again at {round_.due}"


# -- F3/F4: a fleet's claims expire while a lost job's ids are held back ---------------------


async def claimed_and_lost(seen: JobStatus, seen_at: float) -> tuple[
    NotingLedger, LedgerKeeper, RunMachine, tuple[str, ...]
]:
    """A run (holder "run-a") claims 10 ids at 0 s for ``CLAIM_TTL``, sends them at 0 s; a
    poll sees the job ``seen`` at ``seen_at``, then Zoho forgets it."""
    ledger = NotingLedger()
    keeper = LedgerKeeper(ledger.holding("run-a"), "Quotes")
    ids = tuple(str(1000 + n) for n in range(10))
    events, part = await keeper.screen(0, ids, False, lambda: 1, 0.0, CLAIM_TTL)
    assert events == [] and part == 0
    machine = RunMachine(POLICY, fleet=True)
    for event in submitted(machine, 0, ids, 0.0):
        keeper(event)
    ledger.now = seen_at
    for event in apply(machine, machine.lost(0, "job0", "forgotten", seen=(seen, seen_at))):
        keeper(event)
    await keeper.flush()
    return ledger, keeper, machine, ids


async def test_an_unbounded_lost_jobs_claims_hold_while_the_run_goes_on() -> None:
    """Seen at 100 s with nothing done (past the 60 s a lost job is given), then forgotten:
    its ids never go again. At 1021 s the run still goes on (other batches): another worker
    must not be able to claim them (today it can: their claims ended at 1020 s)."""
    ledger, _, machine, ids = await claimed_and_lost(running(0), 100.0)
    assert machine.batches[0].unbounded
    ledger.now = CLAIM_TTL + 1.0
    assert machine.settle_due(ledger.now) == ()  # (this run will not send them)
    assert await other_worker_can_claim(ledger, ids) == []


async def test_a_lost_job_given_a_long_wait_by_its_pace_keeps_its_claims_for_it() -> None:
    """Seen at 100 s with 1 of 100 records done: it may run 10 000 s by its pace, so this
    run holds its ids back until then. At 1021 s another worker must not be able to claim
    them (today it can: their claims ended at 1020 s)."""
    ledger, _, machine, ids = await claimed_and_lost(running(1, total=100), 100.0)
    assert machine.due_at(0) >= 10_000.0
    ledger.now = CLAIM_TTL + 1.0
    assert machine.settle_due(ledger.now) == ()
    assert await other_worker_can_claim(ledger, ids) == []


async def test_an_unbounded_lost_jobs_claims_hold_when_the_run_stops() -> None:
    """The run is stopped at 200 s with the unbounded batch parked: the job may run on for
    any time, so its claims must hold past 1020 s (they expire)."""
    ledger, keeper, machine, ids = await claimed_and_lost(running(0), 100.0)
    ledger.now = 200.0
    for event in apply(machine, machine.stopped("cancelled", 200.0)):
        keeper(event)
    await keeper.flush()
    ledger.now = CLAIM_TTL + 1.0
    assert await other_worker_can_claim(ledger, ids) == []


# -- F5: refusals after the last batch are counted twice by a resume -------------------------


def one_id_then_invalid_then_broken() -> Iterator[str]:
    """A record id (a batch of one), then a value that is no record id, then a failure."""
    yield "1000"
    yield "abc"
    raise OSError("input unreadable")


async def test_a_value_refused_after_the_last_batch_is_counted_once_on_resume(
    tmp_path: Path,
) -> None:
    """Session 1 reads "1000" (batch 0, position 1), refuses "abc" (position 2), and the
    input fails. Resumed with the same input and one id more: 3 values, "abc" rejected once
    (today: total 4, "abc" twice)."""
    path = str(tmp_path / "run.db")
    with pytest.raises(OSError):
        await convert_many(
            FakeAPI(), "Quotes", one_id_then_invalid_then_broken(), to="Sales_Orders",
            journal=path, batch_size=1,
        )
    report = await resume(FakeAPI(), path, ids=["1000", "abc", "1001"])
    assert [item.id for item in report.rejected] == ["abc"]
    assert report.total == 3


# -- F6: a ledger error in one flush drops the holds queued with it --------------------------


class FlakyLedger(NotingLedger):
    """A noting ledger whose next claim for ``UNFINISHED_HOLD`` (a renewal) fails, once
    ``failures`` holds an error (shared by its ``holding`` views, which are copies)."""

    def __init__(self) -> None:
        super().__init__()
        self.failures: list[Exception] = []

    async def claim(
        self, module: str, ids: Sequence[str], ttl: float
    ) -> tuple[list[str], list[str]]:
        if self.failures and ttl == UNFINISHED_HOLD:
            raise self.failures.pop()
        return await super().claim(module, ids, ttl)


async def test_a_failed_renewal_is_tried_again_at_the_next_flush() -> None:
    """Job 0 (ids 1000-1009) is given up on at the poll timeout; the flush after it fails to
    renew the claims (the ledger unreachable a moment), the next flush (after another batch)
    finds the ledger answering: job 0's claims must be renewed then (today they expire at
    1020 s)."""
    ledger = FlakyLedger()
    keeper = LedgerKeeper(ledger.holding("run-a"), "Quotes")
    ids = tuple(str(1000 + n) for n in range(10))
    assert (await keeper.screen(0, ids, False, lambda: 2, 0.0, CLAIM_TTL))[1] == 0
    ledger.now = 900.0
    keeper(JobUnfinished(0, "job0", 10, None, ids, timed_out=True))
    ledger.failures.append(ConnectionError("ledger unreachable"))
    with pytest.raises(ConnectionError):
        await keeper.flush()
    await keeper.flush()  # (the next batch's: the ledger answers again)
    ledger.now = CLAIM_TTL + 1.0
    assert await other_worker_can_claim(ledger, ids) == []


async def test_ids_claimed_after_a_slow_job_was_seen_are_claimed_as_much_longer() -> None:
    """Once a lost job seen running may run 10 000 s (1 of 100 records at 100 s), ids this run
    claims afterwards are claimed that much longer too: lost in their turn, they wait as
    long, and another worker must not take them meanwhile (at 1021 s + 10 000 s - 1)."""
    ledger, keeper, _, _ = await claimed_and_lost(running(1, total=100), 100.0)
    later = tuple(str(2000 + n) for n in range(10))
    ledger.now = 200.0
    events, part = await keeper.screen(1, later, False, lambda: 2, 200.0, CLAIM_TTL)
    assert events == [] and part == 1
    ledger.now = 200.0 + CLAIM_TTL + 9_999.0
    assert await other_worker_can_claim(ledger, later) == []
    ledger.now = 200.0 + CLAIM_TTL + 10_001.0
    assert await other_worker_can_claim(ledger, later) == list(later)
