"""The access token is read again once a request holds its request slot, over real HTTP.

With one request slot and access tokens that expire after 10 uses, requests queued for the
slot while a token expires would each carry the expired token, be refused (401), and queue
again: one 401 per queued request. Read with the slot held, they carry the token that
replaced it; and a refused request marks its token refused before it gives up its slot, so
the request that takes the slot next waits for the new token instead of sending the dead one.
A client middleware makes the timing deterministic: API requests wait while a token call is
in flight (an accounts server slower than the API).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import attrs
import pytest
from fakes import deadline, no_wait

from zoho_convert import PollPolicy, RefreshTokenAuth, RetryPolicy, ZohoConvertClient
from zoho_convert.simulator import Faults, Simulator, SimulatorConfig

CASE_TIMEOUT = 60.0
USES = 10
POLL = PollPolicy(initial=0.01, max_interval=0.01, adaptive=False)


@attrs.define
class SlowAccounts:
    """A client middleware: an API request waits while a token call is in flight."""

    calls: int = 0
    idle: asyncio.Event = attrs.Factory(asyncio.Event)

    async def __call__(
        self,
        request: aiohttp.ClientRequest,
        handler: Callable[[aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]],
    ) -> aiohttp.ClientResponse:
        if not request.url.path.endswith("/oauth/v2/token"):
            if self.calls:
                await self.idle.wait()
            return await handler(request)
        self.calls += 1
        self.idle.clear()
        try:
            return await handler(request)
        finally:
            self.calls -= 1
            if not self.calls:
                self.idle.set()


@attrs.frozen
class Env:
    sim: Simulator
    client: ZohoConvertClient

    @property
    def expiries(self) -> int:
        """Tokens the simulator had to replace (the first one was no expiry)."""
        return self.sim.state.stats.token_refreshes - 1

    @property
    def refused(self) -> int:
        """401 replies the simulator sent."""
        return self.sim.state.stats.responses_by_status[401]


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    """A simulator whose access tokens expire after 10 uses, and a one-slot client that
    refreshes them at the simulator's token endpoint."""
    async with contextlib.AsyncExitStack() as stack:
        config = SimulatorConfig(seed=5, faults=Faults(token_max_uses=USES))
        sim = await stack.enter_async_context(Simulator(config))
        session = await stack.enter_async_context(
            aiohttp.ClientSession(middlewares=(SlowAccounts(),))
        )
        auth = RefreshTokenAuth(
            config.client_id, config.client_secret, config.refresh_token, accounts_url=sim.url
        )
        client = ZohoConvertClient(
            auth, api_domain=sim.url, session=session, max_concurrency=1, sleep=no_wait,
            retry=RetryPolicy(max_tries=4, deadline=1_000),
        )
        await stack.enter_async_context(client)
        yield Env(sim, client)


async def single_converts(env: Env, count: int) -> list[str]:
    ids = env.sim.state.create_records("Quotes", count)
    async with deadline(CASE_TIMEOUT):
        await asyncio.gather(*(env.client.convert("Quotes", i, to="Sales_Orders") for i in ids))
    return ids


async def test_queued_single_converts_do_not_each_meet_an_expired_token(env: Env) -> None:
    """30 single converts queued for one request slot, tokens lasting 10 uses: one 401 per
    expired token, not one per request queued behind; every record converted once."""
    ids = await single_converts(env, 30)
    assert env.expiries == 3  # 31 uses (the target module's id, 30 converts)
    assert env.refused == env.expiries
    assert all(env.sim.state.conversions.get(("Quotes", i), 0) == 1 for i in ids)


async def test_a_one_slot_run_does_not_meet_each_expired_token_per_request(env: Env) -> None:
    """A convert_many of 1,000 ids through one request slot (submits and polls queued
    together), tokens lasting 10 uses: one 401 per expired token; the run ok."""
    ids = env.sim.state.create_records("Quotes", 1000)
    async with deadline(CASE_TIMEOUT):
        report = await env.client.convert_many("Quotes", ids, to="Sales_Orders", poll=POLL)
    assert env.expiries >= 3  # 20 submits, their polls: several tokens
    assert env.refused == env.expiries
    assert report.ok and report.converted == len(ids)
