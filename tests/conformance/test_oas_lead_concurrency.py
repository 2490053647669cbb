"""Convert Lead sub-concurrency: Zoho allows only 3 to 5 Convert Lead calls in flight (by
edition) inside the overall limit; past it, HTTP 429. The client keeps its own Convert Lead
limit (default 3), so 20 concurrent ``convert_lead`` calls never meet a 429 from an org that
allows 3, while a client allowed 5 does (and still finishes, retrying them).

No real time passes: the simulator holds each Convert Lead call at a gate (its injected latency)
until no further call arrives, so calls overlap as much as the client lets them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fakes import deadline
from oas_shapes import SummingTime, assert_conforms, running

from zoho_convert.simulator import Faults, SimulatorConfig, Stats

CALLS = 20
ORG_LIMIT = 3


class Gate:
    """The simulator's latency sleep: holds Convert Lead calls until no new call has reached
    the simulator for ``quiet_turns`` turns of the event loop, then lets the group through.

    Every call the client has in flight reaches the simulator within a few turns (loopback),
    so a group is all the client sends at once: held ones plus any refused with 429.
    """

    def __init__(self, quiet_turns: int = 50) -> None:
        self.quiet_turns = quiet_turns
        self.stats: Stats | None = None  # the simulator's, set once it runs
        self.held = 0
        self.groups: list[int] = []
        self._open = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None

    def _arrivals(self) -> int:
        assert self.stats is not None
        return self.stats.requests_by_endpoint["lead_convert"]  # served and refused

    async def sleep(self, _delay: float) -> None:
        self.held += 1
        opened = self._open
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._open_when_quiet())
        await opened.wait()

    async def after_current_group(self) -> None:
        """Wait until the calls held now are let through (at once when none is held)."""
        if self._watcher is not None:
            await self._open.wait()

    async def _open_when_quiet(self) -> None:
        seen = -1
        while self._arrivals() != seen:
            seen = self._arrivals()
            for _ in range(self.quiet_turns):
                await asyncio.sleep(0)  # one turn of the loop, no time
        self.groups.append(self.held)
        self.held = 0
        opened, self._open = self._open, asyncio.Event()
        self._watcher = None
        opened.set()


async def _convert_20_leads(client_limit: int | None) -> tuple[dict[str, int], Gate]:
    """20 concurrent convert_lead calls against an org allowing 3; the simulator's stats."""
    gate = Gate()
    config = SimulatorConfig(
        seed=8, lead_convert_concurrency=ORG_LIMIT, faults=Faults(latency=1.0), sleep=gate.sleep
    )
    options: dict[str, Any] = {}
    if client_limit is not None:
        options["lead_convert_concurrency"] = client_limit
    time = SummingTime()

    async def backoff(delay: float) -> None:
        # A client backing off after a 429 waits (virtually) while the held calls are served,
        # as it would in real time; without this it would retry in a tight loop.
        await time.sleep(delay)
        await gate.after_current_group()

    async with deadline(30), running(
        config, time=time, sleep=backoff, max_concurrency=10, **options
    ) as e:
        gate.stats = e.sim.state.stats
        leads = e.sim.state.create_records("Leads", CALLS)
        results = await asyncio.gather(*(e.client.convert_lead(lead) for lead in leads))
        assert all(r.contacts is not None for r in results)
        ledger = {i: e.sim.state.conversions.get(("Leads", i), 0) for i in leads}
        assert set(ledger.values()) == {1}  # every lead converted, once
        assert_conforms(e.wire.requests)
        stats = e.sim.state.stats
        return {
            "429": stats.responses_by_status[429],
            "rate_limited": stats.rate_limited,
            "peak": stats.peak_lead_convert_in_flight,
            "calls": stats.requests_by_endpoint["lead_convert"],
        }, gate


async def test_default_client_stays_under_an_org_limit_of_3() -> None:
    """With the default lead_convert_concurrency (3): no 429, at most 3 Convert Leads in
    flight, and 3 were in flight at once (the limit was reached, not dodged)."""
    stats, gate = await _convert_20_leads(None)
    assert stats["429"] == stats["rate_limited"] == 0
    assert stats["peak"] == ORG_LIMIT
    assert stats["calls"] == CALLS  # no call had to be repeated
    assert sum(gate.groups) == CALLS and max(gate.groups) == ORG_LIMIT


@pytest.mark.parametrize("limit", [4, 5])
async def test_a_client_allowed_more_than_the_org_meets_429s_and_finishes(limit: int) -> None:
    """A client allowed 4 or 5 Convert Leads in flight against an org allowing 3 does get 429s
    (so the check above can fail), and still converts every lead once by retrying them."""
    stats, _gate = await _convert_20_leads(limit)
    assert stats["429"] > 0 and stats["rate_limited"] == stats["429"]
    assert stats["peak"] > ORG_LIMIT
    assert stats["calls"] == CALLS + stats["429"]  # each refused call was repeated
