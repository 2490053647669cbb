"""Fixtures for the core client's integration tests: the simulator and the client on one clock.

The client's ``sleep`` advances a shared fake clock instead of waiting, and the simulator reads
the same clock, so retries, polls, job durations and token lifetimes all move in virtual time.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
from client_helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    STATIC_TOKEN,
    Env,
    StartEnv,
    VirtualSleep,
)
from fakes import FakeClock

from zoho_convert import RefreshTokenAuth, RetryPolicy, StaticToken, ZohoConvertClient
from zoho_convert.simulator import Simulator, SimulatorConfig


@pytest.fixture
def clock() -> FakeClock:
    """The virtual clock shared by the simulator, the client and its auth."""
    return FakeClock()


@pytest.fixture
def sleeper(clock: FakeClock) -> VirtualSleep:
    """The client's sleep: records each delay and advances the virtual clock by it."""
    return VirtualSleep(clock)


@pytest.fixture
async def env(clock: FakeClock, sleeper: VirtualSleep) -> AsyncIterator[StartEnv]:
    """Start a simulator (``SimulatorConfig`` overrides as kwargs) and a client pointed at it.

    ``auth="static"`` (default) uses the simulator's access token; ``auth="refresh"`` a
    ``RefreshTokenAuth`` with the distinctive test credentials, minting its first token from the
    simulator's token endpoint. Everything started is stopped after the test.
    """
    async with contextlib.AsyncExitStack() as stack:

        async def start(
            config: SimulatorConfig | None = None,
            *,
            auth: str = "static",
            api_version: str = "v8",
            retry: RetryPolicy | None = None,
            client: dict[str, Any] | None = None,
            **overrides: Any,
        ) -> Env:
            cfg = config or SimulatorConfig(
                seed=11,
                access_token=STATIC_TOKEN,
                client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET,
                refresh_token=REFRESH_TOKEN,
            )
            cfg = attrs.evolve(cfg, clock=clock, **overrides)
            sim = await stack.enter_async_context(Simulator(cfg))
            token: StaticToken | RefreshTokenAuth
            if auth == "static":
                token = StaticToken(sim.access_token)
            elif auth == "refresh":
                token = RefreshTokenAuth(
                    CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, accounts_url=sim.url, clock=clock
                )
            else:
                raise AssertionError(f"unknown auth kind {auth!r}")
            api = ZohoConvertClient(
                token,
                api_domain=sim.url,
                api_version=api_version,
                retry=retry or RetryPolicy(max_tries=6, deadline=10_000),
                sleep=sleeper,
                clock=clock,
                **(client or {}),
            )
            await stack.enter_async_context(api)
            return Env(sim=sim, client=api, auth=token, clock=clock, sleeps=sleeper)

        yield start
