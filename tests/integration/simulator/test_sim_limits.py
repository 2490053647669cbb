"""Zoho's narrower limits: the token mint throttle and the Convert Lead sub-concurrency."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from fakes import FakeClock
from sim_helpers import Api, Reply, StartSim

from zoho_convert.simulator import Faults


@pytest.mark.parametrize(("reply", "status", "body"), [
    ("access_denied_space", 200, {"error": "Access Denied"}),
    ("access_denied", 200, {"error": "access_denied"}),
    ("http_429", 429, {"error": "too many requests"}),
])
async def test_token_mint_limit_throttles_per_window(
    start_sim: StartSim, session: aiohttp.ClientSession, clock: FakeClock,
    reply: str, status: int, body: dict[str, Any]
) -> None:
    """Past N tokens per window the token endpoint answers the throttle until the window moves."""
    sim = await start_sim(token_mint_limit=3, token_mint_window=600.0,
                          token_throttle_reply=reply)
    api = Api(session, sim)
    for _ in range(3):
        assert "access_token" in (await api.refresh()).body
        clock.advance(100.0)
    throttled = await api.refresh()
    assert (throttled.status, throttled.body) == (status, body)
    clock.advance(299.0)  # the first mint (at 0) is 599 s old: still inside the window
    assert "access_token" not in (await api.refresh()).body
    clock.advance(1.0)  # now it is 600 s old: out of the window, one mint is free again
    assert "access_token" in (await api.refresh()).body
    assert "access_token" not in (await api.refresh()).body
    stats = sim.state.stats
    assert (stats.token_refreshes, stats.token_throttled, stats.token_refresh_failures) == (4, 3, 0)


async def test_wrong_credentials_are_refused_before_the_throttle(
    start_sim: StartSim, session: aiohttp.ClientSession
) -> None:
    """A refused grant does not use up the allowance and is not counted as throttled."""
    sim = await start_sim(token_mint_limit=1)
    api = Api(session, sim)
    assert (await api.refresh(client_secret="nope")).body == {"error": "invalid_client"}
    assert "access_token" in (await api.refresh()).body
    assert (await api.refresh(client_secret="nope")).body == {"error": "invalid_client"}
    assert sim.state.stats.token_throttled == 0


class Gate:
    """An injectable ``sleep`` that parks requests until the test opens the gate."""

    def __init__(self, expected: int) -> None:
        self.waiting = 0
        self.expected = expected
        self.all_parked = asyncio.Event()
        self.opened = asyncio.Event()

    async def sleep(self, delay: float) -> None:
        self.waiting += 1
        if self.waiting >= self.expected:
            self.all_parked.set()
        await self.opened.wait()


async def test_lead_convert_concurrency(start_sim: StartSim,
                                        session: aiohttp.ClientSession) -> None:
    """With N=2, a third Convert Lead in flight gets 429 at once; other calls are not limited."""
    gate = Gate(expected=3)  # two lead converts + one mass convert parked
    sim = await start_sim(lead_convert_concurrency=2, faults=Faults(latency=1.0),
                          sleep=gate.sleep)
    api = Api(session, sim)
    leads = sim.state.create_records("Leads", 4)
    first = [asyncio.create_task(api.call("POST", f"Leads/{lead}/actions/convert",
                                          json={"data": [{}]})) for lead in leads[:2]]
    other = asyncio.create_task(api.mass_convert(sim.state.create_records("Quotes", 1)))
    await asyncio.wait_for(gate.all_parked.wait(), 5)
    refused: list[Reply] = [
        await asyncio.wait_for(api.call("POST", f"Leads/{lead}/actions/convert",
                                        json={"data": [{}]}), 5)
        for lead in leads[2:]
    ]
    assert [(r.status, r.code) for r in refused] == [(429, "TOO_MANY_REQUESTS")] * 2
    gate.opened.set()
    assert [r.status for r in await asyncio.gather(*first)] == [200, 200]
    assert (await other).status == 202
    stats = sim.state.stats
    assert stats.peak_lead_convert_in_flight == 3  # two parked + the one being refused
    assert stats.lead_convert_in_flight == 0
    assert sim.state.converted_ids("Leads") == set(leads[:2])
    again = await api.call("POST", f"Leads/{leads[2]}/actions/convert", json={"data": [{}]})
    assert again.status == 200  # the slots are free again


async def test_lead_convert_concurrency_is_off_by_default(
    start_sim: StartSim, session: aiohttp.ClientSession
) -> None:
    """Without the option many Convert Lead calls may be in flight at once."""
    gate = Gate(expected=6)
    sim = await start_sim(faults=Faults(latency=1.0), sleep=gate.sleep)
    api = Api(session, sim)
    tasks = [asyncio.create_task(api.call("POST", f"Leads/{lead}/actions/convert",
                                          json={"data": [{}]}))
             for lead in sim.state.create_records("Leads", 6)]
    await asyncio.wait_for(gate.all_parked.wait(), 5)
    gate.opened.set()
    assert {r.status for r in await asyncio.gather(*tasks)} == {200}
    assert sim.state.stats.peak_lead_convert_in_flight == 6
