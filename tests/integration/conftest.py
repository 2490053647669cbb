"""Fixtures for convert_many's integration tests: a simulator over real HTTP and a client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from alt_env import AltEnv, alt_envs
from fakes import no_wait

from zoho_convert import RetryPolicy, StaticToken, ZohoConvertClient
from zoho_convert.simulator import Simulator, SimulatorConfig

SimAndClient = tuple[Simulator, ZohoConvertClient]


@pytest.fixture
async def sim_client() -> AsyncIterator[Callable[..., Awaitable[SimAndClient]]]:
    """Start a simulator (config overrides as kwargs) and a client pointed at it."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(
            config: SimulatorConfig | None = None, *, max_concurrency: int = 10, **client: Any
        ) -> SimAndClient:
            sim = await stack.enter_async_context(Simulator(config or SimulatorConfig()))
            api = ZohoConvertClient(
                StaticToken(sim.access_token),
                api_domain=sim.url,
                max_concurrency=max_concurrency,
                retry=RetryPolicy(max_tries=10, deadline=10_000),
                sleep=no_wait,
                **client,
            )
            await stack.enter_async_context(api)
            return sim, api

        yield start


@pytest.fixture
async def alt() -> AsyncIterator[Any]:
    """Start an ``AltServer`` (the independent server) with a config on a virtual clock:
    ``await alt(config)`` gives an ``AltEnv``. (Modules with an environment of their own
    override it.)"""
    async with alt_envs(AltEnv) as make:
        yield make
