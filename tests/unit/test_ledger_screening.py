"""A run screened through a conversion ledger (the fleet's, here an in-memory one): known ids
are not sent, ids another worker holds wait for it, and what it never released ends
``CLAIMED_ELSEWHERE``, never submitted by this run."""

from __future__ import annotations

import asyncio

import pytest
from fake_convert_api import FakeAPI

from zoho_convert import SettlePolicy
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
