"""The client against the simulator's token readings, end to end over HTTP on a virtual clock:
a token reply in milliseconds (``expires_in_sec`` + ``expires_in`` in ms) is read as seconds,
so the token is renewed before it dies (no 401); and a throttled token endpoint (Zoho's ten
tokens per ten minutes) is waited out with backoff, not taken for refused credentials."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from fakes import deadline
from oas_shapes import RETRY, SummingTime

from zoho_convert import RefreshTokenAuth, RetryPolicy, ZohoConvertClient
from zoho_convert.simulator import Faults, Simulator, SimulatorConfig

TTL = 600.0  # seconds a token lives (the simulator refuses it after)


@asynccontextmanager
async def refreshing_client(
    config: SimulatorConfig, time: SummingTime, retry: RetryPolicy = RETRY
) -> AsyncIterator[tuple[Simulator, ZohoConvertClient, RefreshTokenAuth]]:
    async with Simulator(config) as sim:
        auth = RefreshTokenAuth(
            "sim-client", "sim-secret", "sim-refresh", accounts_url=sim.url, clock=time.clock
        )
        async with ZohoConvertClient(
            auth, api_domain=sim.url, retry=retry, sleep=time.sleep, clock=time.clock
        ) as client:
            yield sim, client, auth


@pytest.mark.parametrize("millis", [False, True], ids=["seconds", "expires_in_sec+ms"])
async def test_a_token_is_renewed_before_it_dies_in_either_unit(millis: bool) -> None:
    """Two calls 400 s apart (past the 300 s refresh margin of a 600 s token): the second
    mints a new token first, so Zoho never refuses one, whichever unit the reply used."""
    time = SummingTime()
    config = SimulatorConfig(
        seed=2, clock=time.clock, token_expiry_ms=millis, faults=Faults(token_ttl=TTL)
    )
    async with refreshing_client(config, time) as (sim, client, auth):
        ids = sim.state.create_records("Quotes", 2)
        async with deadline(30):
            await client.mass_convert("Quotes", ids[:1], to="Sales_Orders")
            time.now += 400.0
            await client.mass_convert("Quotes", ids[1:], to="Sales_Orders")
            time.now += 400.0  # 800 s after the first token: it would be dead by now
            await client.mass_convert(
                "Quotes", sim.state.create_records("Quotes", 1), to="Sales_Orders"
            )
        assert sim.state.stats.responses_by_status[401] == 0
        assert sim.state.stats.token_refreshes == auth.refresh_count == 3


@pytest.mark.parametrize("reply", ["access_denied_space", "access_denied", "http_429"])
async def test_a_throttled_token_endpoint_is_waited_out(reply: str) -> None:
    """One token per 600 s window, the first one dead after 30 s: the next mint is throttled
    (in each documented spelling) and retried with backoff until the window turns; the call
    then goes through, and the credentials were never called refused."""
    time = SummingTime()
    config = SimulatorConfig(
        seed=3,
        clock=time.clock,
        token_mint_limit=1,
        token_mint_window=TTL,
        token_throttle_reply=reply,  # type: ignore[arg-type]
        faults=Faults(token_ttl=30.0),
    )
    # No jitter: full jitter's draws over 20 tries fall short of the 540 s now and then.
    retry = RetryPolicy(
        max_tries=20, initial=1.0, max_delay=120.0, deadline=100_000, jitter=False
    )
    async with refreshing_client(config, time, retry) as (sim, client, _auth):
        ids = sim.state.create_records("Quotes", 2)
        async with deadline(30):
            await client.mass_convert("Quotes", ids[:1], to="Sales_Orders")
            started = time.now
            time.now += 60.0  # the token died; the window of its mint has 540 s to go
            job = await client.mass_convert("Quotes", ids[1:], to="Sales_Orders")
        assert job
        assert sim.state.stats.token_throttled >= 1
        assert sim.state.stats.token_refreshes == 2
        assert time.now - started >= TTL  # it waited for the window, on the virtual clock
