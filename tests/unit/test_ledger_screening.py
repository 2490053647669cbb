"""A run screened through a conversion ledger (the fleet's, here an in-memory one): known ids
are not sent, ids another worker holds wait for it, and what it never released ends
``CLAIMED_ELSEWHERE``, never submitted by this run."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from typing import Any

import pytest
from fake_convert_api import FakeAPI

from zoho_convert import ServerError, SettlePolicy
from zoho_convert.bulk.convert import convert_many
from zoho_convert.bulk.ledger import MemoryLedger

IDS = [str(7_000_000_000_000_000 + n) for n in range(100)]


async def test_ids_another_worker_holds_end_claimed_elsewhere_unsent() -> None:
    """Ids claimed by another worker for longer than settling lasts are rejected
    CLAIMED_ELSEWHERE (with the reason), and no submit of this run carries them."""
    api = FakeAPI()
    ledger = MemoryLedger(clock=api.clock)
    api.ledger = ledger
    held = IDS[10:20]
    assert await ledger.claim("Quotes", held, 10_000.0) == (held, [])  # the other worker

    report = await convert_many(
        api, "Quotes", IDS, to="Sales_Orders", settle=SettlePolicy(max_rounds=2, min_wait=5.0)
    )

    sent = {value for batch in api.submitted_batches for value in batch}
    assert not sent & set(held)
    assert sorted(item.id for item in report.rejected) == sorted(held)
    assert {item.code for item in report.rejected} == {"CLAIMED_ELSEWHERE"}
    assert all("another worker" in item.message for item in report.rejected)
    assert report.converted == 90 and report.accounted_for


async def other_worker(api: FakeAPI, ledger: MemoryLedger, held: list[str], *, converts: bool):
    """Another run holding ``held``: its job ends 3 s later, converting them or not."""
    await ledger.claim("Quotes", held, 600.0)
    await api.sleep(3.0)
    if converts:
        await ledger.mark_converted("Quotes", held)
    else:
        await ledger.release("Quotes", held)


@pytest.mark.parametrize("converts", [True, False])
async def test_ids_another_worker_held_are_settled_by_its_outcome(converts: bool) -> None:
    """Ids another run holds wait for it: converted by it, they are reported already
    converted and never sent; given back, this run converts them itself. Once each."""
    api = FakeAPI()
    ledger = MemoryLedger(clock=api.clock)
    api.ledger = ledger
    held = IDS[:50]
    other = asyncio.ensure_future(other_worker(api, ledger, held, converts=converts))
    await asyncio.sleep(0)

    report = await convert_many(api, "Quotes", IDS, to="Sales_Orders")
    await other

    sent = [value for batch in api.submitted_batches for value in batch]
    assert report.ok and report.accounted_for
    if converts:
        assert not set(sent) & set(held)
        assert sorted(report.already_converted_ids) == sorted(held)
        assert report.converted == 50
    else:
        assert sorted(sent) == sorted(IDS)  # each once
        assert report.converted == 100


async def test_a_lost_reply_is_settled_through_the_ledger_as_this_runs_own() -> None:
    """A resubmission after a lost reply, screened again by the ledger, still settles: the
    ids its lost job converted count as already converted, not rejected; nothing twice."""
    api = FakeAPI(
        submit_faults_after={1: ServerError(500, "INTERNAL_ERROR", "boom", maybe_processed=True)}
    )
    api.ledger = MemoryLedger(clock=api.clock)

    report = await convert_many(api, "Quotes", IDS, to="Sales_Orders")

    assert report.ok and not report.rejected
    assert report.already_converted == 50 and report.converted == 50
    assert not api.converted_twice()


class TakenMeanwhile(MemoryLedger):
    """A ledger where another run claims ``taken`` as soon as this run gives them back."""

    def __init__(self, taken: list[str], clock: Any) -> None:
        super().__init__(clock=clock)
        self.taken = taken

    async def release(self, module: str, ids: Sequence[str]) -> None:
        await super().release(module, ids)
        if set(self.taken) & set(ids):
            await self.claim(module, self.taken, 2.0)  # the other run: a short job


async def test_a_lost_reply_split_by_the_ledger_still_settles_as_this_runs_own() -> None:
    """After a lost reply, another run takes some of the parked ids: the rest is resubmitted
    as settling, so what the lost job converted counts as already converted (not rejected),
    and the taken ids are looked at again once that run gives them back."""
    lost_batch = IDS[50:]
    api = FakeAPI(
        submit_faults_after={1: ServerError(500, "INTERNAL_ERROR", "boom", maybe_processed=True)},
        already_converted="fail_call",  # the resubmission is refused as converted
    )
    api.ledger = TakenMeanwhile(lost_batch[:10], api.clock)

    report = await convert_many(api, "Quotes", IDS, to="Sales_Orders")

    assert not report.rejected
    assert report.already_converted == 50 and report.converted == 50 and report.ok
    assert not api.converted_twice()


def gaps(times: list[float]) -> list[float]:
    """Seconds between successive times."""
    return [round(later - earlier, 6) for earlier, later in itertools.pairwise(times)]


class CountingLedger(MemoryLedger):
    """A memory ledger that notes when each claim was asked for (the run's clock)."""

    def __init__(self, clock: Any) -> None:
        super().__init__(clock=clock)
        self.claims_at: list[float] = []

    async def claim(
        self, module: str, ids: Sequence[str], ttl: float
    ) -> tuple[list[str], list[str]]:
        self.claims_at.append(self._clock())
        return await super().claim(module, ids, ttl)


async def test_ids_another_worker_holds_are_looked_at_again_soon_without_using_rounds() -> None:
    """Every id is held by another worker (so no job of this run ever ends to say how long
    jobs take): they are looked at again after min_wait, doubling up to the unknown job's
    wait, not only after it (60 s); looking again uses no settling round. Converted by the
    other worker 10 s in, they are reported already converted soon after, never sent."""
    api = FakeAPI()
    ledger = CountingLedger(api.clock)
    api.ledger = ledger
    held = IDS[:50]

    async def the_other_worker() -> None:
        await ledger.claim("Quotes", held, 600.0)
        await api.sleep(10.0)
        await ledger.mark_converted("Quotes", held)

    other = asyncio.ensure_future(the_other_worker())
    await asyncio.sleep(0)
    settle = SettlePolicy(max_rounds=1, min_wait=1.0, unknown_wait=60.0)
    report = await convert_many(api, "Quotes", held, to="Sales_Orders", settle=settle)
    await other

    assert not api.submitted_batches
    assert sorted(report.already_converted_ids) == sorted(held) and report.ok
    mine = ledger.claims_at[1:]  # (the first is the other worker's)
    assert gaps(mine) == [1.0, 2.0, 4.0]  # looked at 0, 1, 3 and 7 s in; converted by 15 s
    assert report.elapsed < 16.0


async def test_ids_held_past_the_deadline_are_looked_at_up_to_a_jobs_wait_apart() -> None:
    """Held for longer than settling lasts: looked at again with waits doubling from min_wait
    up to the unknown job's wait (never longer), until the deadline; then CLAIMED_ELSEWHERE."""
    api = FakeAPI()
    ledger = CountingLedger(api.clock)
    api.ledger = ledger
    held = IDS[:50]
    await ledger.claim("Quotes", held, 10_000.0)
    settle = SettlePolicy(max_rounds=1, min_wait=1.0, unknown_wait=6.0, deadline=30.0)

    report = await convert_many(api, "Quotes", held, to="Sales_Orders", settle=settle)

    mine = ledger.claims_at[1:]
    waits = gaps(mine)
    assert waits[:3] == [1.0, 2.0, 4.0] and set(waits[3:]) == {6.0} and len(waits) >= 5
    # Settling's deadline counts from its first round: its first look again.
    assert mine[-1] - mine[1] <= 30.0 < mine[-1] + 6.0 - mine[1]
    assert {item.code for item in report.rejected} == {"CLAIMED_ELSEWHERE"}
    assert report.accounted_for and not api.submitted_batches


class Rival(MemoryLedger):
    """A ledger where another run claims whatever this run gives back, the moment it does."""

    def __init__(self, clock: Any) -> None:
        super().__init__(clock=clock)
        self.taken: dict[str, float] = {}  # id -> when the other run claimed it

    async def release(self, module: str, ids: Sequence[str]) -> None:
        await super().release(module, ids)
        claimed, _ = await self.claim(module, ids, 0.5)  # the other run: sends them at once
        self.taken.update(dict.fromkeys(claimed, self._clock()))


async def test_a_lost_submissions_ids_stay_claimed_while_its_job_may_run() -> None:
    """A submission whose reply was lost keeps its ids claimed until its lost job has had its
    time: another worker can take them only then (before, it could send them beside the
    lost job, and a Zoho that does not reserve a running job's ids would convert them twice)."""
    lost = ServerError(500, "INTERNAL_ERROR", "boom", maybe_processed=True)
    api = FakeAPI(submit_faults_after={1: lost}, duration=5.0)
    ledger = Rival(api.clock)
    api.ledger = ledger

    await convert_many(api, "Quotes", IDS, to="Sales_Orders")

    lost_job = next(job for job in api.jobs.values() if set(job.ids) == set(IDS[50:]))
    assert ledger.taken  # given back in the end (the rival claimed them then)
    assert min(ledger.taken.values()) >= lost_job.ends_at
