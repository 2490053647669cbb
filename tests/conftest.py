"""Shared test configuration."""

from __future__ import annotations

import inspect
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import aioresponses.core
import pytest
import pytest_timeout
from aiohttp import ClientResponse


class _NoUploadWriter:
    """Stands in for the request's stream writer: a mocked request uploads nothing."""

    output_size = 0


# Shim for an upstream gap: aioresponses 0.7.9 builds ClientResponse without the `stream_writer`
# argument that aiohttp 3.14 requires (aioresponses issue #289). aiohttp 3.14 is a security
# release, so we keep it and supply the argument here. Remove once aioresponses ships a fix.
if "stream_writer" in inspect.signature(ClientResponse.__init__).parameters:

    class _ShimmedClientResponse(ClientResponse):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("stream_writer", _NoUploadWriter())
            super().__init__(*args, **kwargs)

    aioresponses.core.ClientResponse = _ShimmedClientResponse  # type: ignore[misc]


# pytest-timeout's "signal" method fails a test that overruns by raising inside it, and the run
# goes on. But the engine under test catches BaseException in its tasks (to stop a run with the
# error), so a looping bug there can swallow that raise and hang the run for ever. A backstop:
# a test still running this long after its timeout is named on stderr, every thread's stack is
# dumped, and the process exits 1 (CI fails with the test's name instead of timing out).
_BACKSTOP_GRACE = float(os.environ.get("ZOHO_CONVERT_TEST_BACKSTOP", "30"))
_backstops: dict[str, threading.Timer] = {}


def _give_up(item: pytest.Item, settings: Any) -> None:
    capture = item.config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.suspend_global_capture(in_=True)
    item.config.get_terminal_writer().line(
        f"\n\nTIMEOUT: {item.nodeid} still running {_BACKSTOP_GRACE:.0f} s after its timeout "
        "(the timeout's failure was swallowed); stacks follow, then exit 1"
    )
    pytest_timeout.timeout_timer(item, settings)  # dumps every thread's stack, os._exit(1)


def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> None:
    """Arm the backstop beside pytest-timeout's own timer (returns None: its timer runs too)."""
    if settings.timeout and settings.timeout > 0:
        seconds = settings.timeout + _BACKSTOP_GRACE
        timer = threading.Timer(seconds, _give_up, (item, settings))
        timer.daemon = True
        timer.start()
        _backstops[item.nodeid] = timer


def pytest_timeout_cancel_timer(item: pytest.Item) -> None:
    """Disarm the backstop (returns None: pytest-timeout cancels its own timer too)."""
    timer = _backstops.pop(item.nodeid, None)
    if timer is not None:
        timer.cancel()


@pytest.fixture
def sim_threads() -> Iterator[Callable[..., Any]]:
    """Start Zoho simulators in background threads on 127.0.0.1 (a ``SimulatorConfig``, or its
    fields as keyword arguments); each is stopped after the test."""
    from zoho_convert.simulator import SimulatorConfig, SimulatorThread  # noqa: PLC0415

    started: list[SimulatorThread] = []

    def start(config: SimulatorConfig | None = None, **fields: Any) -> SimulatorThread:
        sim = SimulatorThread(config or SimulatorConfig(**fields))
        sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()
