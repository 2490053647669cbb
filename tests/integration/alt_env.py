"""Clients of the independent server (``alt_server``) on one virtual clock, for its tests.

``alt_server`` imports nothing of the package; this is where its tests make clients of it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import attrs
from alt_server import AltServer
from fakes import SummingTime
from truth import RETRY

from zoho_convert import ConversionReport, RefreshTokenAuth, StaticToken, ZohoConvertClient

__all__ = ["AltEnv", "alt_envs"]


@attrs.define
class AltEnv:
    """A server on a virtual clock, and a way to make clients of it (one per "process")."""

    server: AltServer
    time: SummingTime
    stack: contextlib.AsyncExitStack

    async def client(
        self, *, token: str | None = None, refresh: bool = False, **options: Any
    ) -> ZohoConvertClient:
        """A new client of the server (a static token unless ``refresh``; ``RETRY`` unless
        ``options`` say)."""
        auth: Any = StaticToken(token or self.server.access_token)
        if refresh:
            auth = RefreshTokenAuth(
                self.server.client_id,
                self.server.client_secret,
                self.server.refresh_token,
                accounts_url=self.server.url,
                clock=self.time.clock,
                refresh_margin=0.0,
            )
        options.setdefault("retry", RETRY)
        client = ZohoConvertClient(
            auth,
            api_domain=self.server.url,
            sleep=self.time.sleep,
            clock=self.time.clock,
            **options,
        )
        return await self.stack.enter_async_context(client)


E = TypeVar("E", bound=AltEnv)


@contextlib.asynccontextmanager
async def alt_envs(
    kind: type[E], server: Callable[[Any, Callable[[], float]], AltServer] = AltServer
) -> AsyncIterator[Callable[[Any], Awaitable[E]]]:
    """Start servers (``server``: ``AltServer`` or a subclass, made of a config and a clock)
    with a config, each on its own virtual clock, as ``kind``; all are stopped on exit."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(config: Any) -> E:
            time = SummingTime()
            started = await stack.enter_async_context(server(config, time.clock))
            return kind(started, time, stack)

        yield make


def journaled_run(
    client: ZohoConvertClient, ids: list[str], journal: str, progress: Any, **options: Any
) -> asyncio.Task[ConversionReport]:
    """A journaled run of ``ids`` (Quotes to Sales_Orders in batches of 10) as a task, for a
    test to cancel at an event its ``progress`` sees."""
    run = client.convert_many(
        "Quotes", ids, to="Sales_Orders", batch_size=10, journal=journal, progress=progress,
        **options,
    )
    return asyncio.create_task(run)
