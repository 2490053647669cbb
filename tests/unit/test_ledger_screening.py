"""A run screened through a conversion ledger (the fleet's, here an in-memory one): known ids
are not sent, ids another worker holds wait for it, and what it never released ends
``CLAIMED_ELSEWHERE``, never submitted by this run."""

from __future__ import annotations

import asyncio
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
        already_converted="fail_in_job",  # the resubmission's job fails what was converted
    )
    api.ledger = TakenMeanwhile(lost_batch[:10], api.clock)

    report = await convert_many(api, "Quotes", IDS, to="Sales_Orders")

    assert not report.rejected
    assert report.already_converted == 50 and report.converted == 50 and report.ok
    assert not api.converted_twice()
