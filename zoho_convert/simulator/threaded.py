"""Run a ``Simulator`` on its own event loop in a background thread, for synchronous callers
(the official Zoho SDK, ``requests``-based code, plain pytest tests).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

from .app import Simulator
from .config import SimulatorConfig
from .state import CrmState

T = TypeVar("T")


class SimulatorThread:
    """A simulator served from a daemon thread; use as a (synchronous) context manager.

    Only touch ``state`` from the calling thread while no request is in flight (the simulator's
    loop owns it); ``call`` runs a coroutine on the simulator's loop when you need to be exact.

    Args:
        config: Simulator configuration.
        host: Interface to listen on.
        port: Port (0 picks a free one).
    """

    def __init__(
        self, config: SimulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.simulator = Simulator(config, host=host, port=port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="zoho-simulator", daemon=True
        )

    @property
    def url(self) -> str:
        """Base URL of the running simulator."""
        return self.simulator.url

    @property
    def access_token(self) -> str:
        """A valid access token."""
        return self.simulator.access_token

    @property
    def state(self) -> CrmState:
        """The simulator's ``CrmState``."""
        return self.simulator.state

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
        """Run ``coro`` on the simulator's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> None:
        """Start the thread and the server."""
        self._thread.start()
        self.call(self.simulator.start())

    def stop(self) -> None:
        """Stop the server, the loop and the thread."""
        try:
            self.call(self.simulator.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    def __enter__(self) -> SimulatorThread:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
