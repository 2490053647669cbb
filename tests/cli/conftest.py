"""Fixtures for the CLI's subprocess tests: a simulator on 127.0.0.1 and a way to run the CLI."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from cli_helpers import RecordedRequest, StartSim

from zoho_convert.simulator import SimulatorThread, handlers


@pytest.fixture(autouse=True)
def _children_get_default_sigint() -> Iterator[None]:
    """A child inherits an ignored SIGINT (pytest run in a background job): undo that here.

    Handlers are reset to the default on exec, ignored signals are not; with a Python handler
    installed in this process, every CLI process we start can be interrupted like a terminal's.
    """
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    if previous is signal.SIG_IGN:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture
def start_sim(sim_threads: StartSim) -> StartSim:
    """Start a simulator in a background thread (config fields as keyword arguments)."""
    return sim_threads


@pytest.fixture
def sim(start_sim: StartSim) -> SimulatorThread:
    """A well-behaved simulator with instant jobs."""
    return start_sim(seed=11)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[RecordedRequest]:
    """Every API request the simulators of this test handled: endpoint and JSON body."""
    requests: list[RecordedRequest] = []
    original = handlers.handle

    def spy(state: Any, route: Any, raw: bytes, query: Any) -> Any:
        body = json.loads(raw) if raw else None
        requests.append(RecordedRequest(route.endpoint, route.module, body))
        return original(state, route, raw, query)

    monkeypatch.setattr(handlers, "handle", spy)
    return requests
