"""Findings of a review of 72a61ce, 62e8e8a, 7ebd3df and 2aac00d (met_others, resume's skip
range, unreadable 403s): each case once reproduced a report that was not true, or another
unreadable refusal than a 400 or 403 taken for its batch's ids."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from fake_convert_api import FakeAPI

from zoho_convert.api.errors import InvalidRequestError
from zoho_convert.bulk.convert import convert_many
from zoho_convert.bulk.events import BatchRead, SubmitStarted
from zoho_convert.bulk.isolation import unreadable_refusal
from zoho_convert.bulk.ledger import MemoryLedger
from zoho_convert.bulk.machine import RunMachine
from zoho_convert.bulk.settling import SettlePolicy

SHARED = ("101", "102", "103", "104")


async def later(api: FakeAPI, ids: tuple[str, ...], delay: float) -> AsyncIterator[str]:
    """``ids``, given ``delay`` virtual seconds after the run started."""
    await api.sleep(delay)
    for value in ids:
        yield value


async def test_ids_another_run_converted_in_part_and_let_go_are_never_counted_failed() -> None:
    """Two runs of one fleet: one converts 4 ids, one locked (its job converts 3, fails 1,
    and gives all 4 back); the other, given the same 4 ids a moment later, screens them once
    they are free, and Zoho fails inside its job the 3 the first run converted: it must not
    report them failed (it reported 4 failed, ledger 3)."""
    api = FakeAPI(duration=1.0, already_converted="fail_in_job", failing_ids={"104"})
    api.ledger = MemoryLedger(clock=api.clock)
    _, second = await asyncio.gather(
        convert_many(api, "Quotes", SHARED, to="Sales_Orders", batch_size=4),
        convert_many(api, "Quotes", later(api, SHARED, 5.0), to="Sales_Orders", batch_size=4),
    )
    api.finish_jobs()
    converted = {i for i in SHARED if api.records[i]}
    assert converted == {"101", "102", "103"}
    assert second.failed <= 1, f"{second.failed} failed, of which {len(converted)} converted"


@pytest.mark.parametrize("status", [404, 413])
def test_only_an_unreadable_400_or_403_is_taken_for_its_batchs_ids(status: int) -> None:
    """An unreadable 404 (or 413) after a submission was accepted is not one of the refusals
    taken for the batch's ids: it stops the run (``refused`` says None), as before 2aac00d."""
    error = InvalidRequestError(status, f"HTTP_{status}", f"HTTP {status} without a Zoho body")
    machine = RunMachine(SettlePolicy())
    machine(BatchRead(0, ("101",), 1, 1, 0))
    machine(SubmitStarted(0))
    machine.gate_open = True
    assert not unreadable_refusal(error)
    assert machine.refused(0, ("101",), error, settling=False, at=1.0) is None
