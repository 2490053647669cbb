"""Fixtures for the simulator's integration tests: start simulators, talk to them over HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import attrs
import pytest
from fakes import FakeClock
from sim_helpers import Api, StartSim

from zoho_convert.simulator import Simulator, SimulatorConfig


@pytest.fixture
def clock() -> FakeClock:
    """A hand-driven clock for job progress and token TTL."""
    return FakeClock()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session (the client library is deliberately not used here)."""
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def start_sim(clock: FakeClock) -> AsyncIterator[StartSim]:
    """Start simulators with ``SimulatorConfig`` overrides; all are stopped after the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(config: SimulatorConfig | None = None, **overrides: Any) -> Simulator:
            cfg = config or SimulatorConfig(clock=clock)
            if overrides:
                cfg = attrs.evolve(cfg, **overrides)
            return await stack.enter_async_context(Simulator(cfg))

        yield start


@pytest.fixture
async def sim(start_sim: StartSim) -> Simulator:
    """A well-behaved simulator on the fake clock."""
    return await start_sim()


@pytest.fixture
def api(session: aiohttp.ClientSession, sim: Simulator) -> Api:
    """HTTP helper bound to the default simulator."""
    return Api(session, sim)
