"""``min_credits`` against the simulator's API credits: batches queued for a request slot stop
too, not only the ones read after Zoho said the credits ran low."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from zoho_convert.simulator import SimulatorConfig, handlers

CREDITS = 150  # Zoho's header appears once half are used: at 75 left
MIN_CREDITS = 100
CONCURRENCY = 10


@pytest.mark.parametrize("in_flight", [1, CONCURRENCY])
async def test_a_run_stops_submitting_once_fewer_than_min_credits_remain(
    sim_client: Callable[..., Awaitable[Any]], monkeypatch: pytest.MonkeyPatch, in_flight: int
) -> None:
    """100 batches queued for 1 or 10 request slots: once a reply says fewer than 100 credits
    remain, only the submits already holding a slot leave; ids read but not sent
    are NOT_SUBMITTED, the rest of the input is left unread, and the report matches the
    simulator's ledger."""
    remaining_at_submit: list[int] = []
    original = handlers.handle

    def spy(state: Any, route: Any, raw: bytes, query: Any) -> Any:
        if route.endpoint == "mass_convert":
            # Credits are charged before the handler runs: add this request's one back.
            remaining_at_submit.append(CREDITS - state.stats.credits_used + 1)
        return original(state, route, raw, query)

    monkeypatch.setattr(handlers, "handle", spy)
    sim, client = await sim_client(
        SimulatorConfig(seed=3, api_credits=CREDITS), max_concurrency=CONCURRENCY
    )
    ids = [str(6_100_000_000_000_000 + n) for n in range(5000)]

    report = await client.convert_many(
        "Quotes", ids, to="Sales_Orders", min_credits=MIN_CREDITS, concurrency=in_flight
    )

    # Once a reply said 75 remain (fewer than 100), only submits already holding a slot leave.
    after_the_header = [left for left in remaining_at_submit if left < CREDITS // 2]
    assert len(after_the_header) <= in_flight
    not_submitted = {item.id for item in report.rejected if item.code == "NOT_SUBMITTED"}
    assert not_submitted
    assert len(not_submitted) + report.submitted == report.total
    assert report.accounted_for
    # Ids the run never read are not in the report, and it says the input was not all read.
    assert report.input_complete is (report.total == len(ids))
    assert report.submitted <= 50 * (CREDITS // 2 + in_flight)
    assert "min_credits" in next(
        item.message for item in report.rejected if item.code == "NOT_SUBMITTED"
    )
    converted = sim.state.converted_ids("Quotes")
    assert len(converted) == report.converted == report.submitted
    assert not converted & not_submitted
