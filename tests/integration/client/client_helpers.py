"""Helpers for the core client's integration tests: virtual time, credentials, a bad server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import attrs
from aiohttp import web
from fakes import FakeClock
from leaks import fake_secret

from zoho_convert import RefreshTokenAuth, StaticToken, ZohoConvertClient
from zoho_convert.simulator import Simulator
from zoho_convert.simulator.catalog import MODULES_BY_NAME, module_id

# Credentials of rare letters: the secrets tests find any 4-character piece of them that leaks.
STATIC_TOKEN = fake_secret("integration static token")
CLIENT_ID = "1000.CLIENTIDvisibleOK"
CLIENT_SECRET = fake_secret("integration client secret")
REFRESH_TOKEN = fake_secret("integration refresh token")
SECRETS = (STATIC_TOKEN, CLIENT_SECRET, REFRESH_TOKEN)


class VirtualSleep:
    """A sleep that records its delay, advances the clock by it and only yields to the loop."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        self.clock.advance(max(delay, 0.0))
        await asyncio.sleep(0)


@attrs.define
class Env:
    """A running simulator and a client pointed at it, on one virtual clock."""

    sim: Simulator
    client: ZohoConvertClient
    auth: StaticToken | RefreshTokenAuth
    clock: FakeClock
    sleeps: VirtualSleep

    def module_id(self, api_name: str) -> str:
        """The simulated org's id of a module, read in-process (no request)."""
        return module_id(self.sim.state.org_prefix, MODULES_BY_NAME[api_name])

    def converted(self, module: str) -> set[str]:
        """Ids of ``module`` the simulator's ledger shows converted."""
        return self.sim.state.converted_ids(module)

    def times_converted(self, module: str, record_id: str) -> int:
        """How often the ledger converted one record (it never exceeds 1)."""
        return self.sim.state.conversions.get((module, record_id), 0)


#: The ``env`` fixture: ``await env(SimulatorConfig overrides..., auth=..., client={...})``.
StartEnv = Callable[..., Awaitable[Env]]


# -- a scripted server, for replies the simulator would never send -------------------------------


@attrs.define
class Scripted:
    """One reply the scripted server sends: status, content type, body, extra headers.

    ``drop=True`` closes the connection without answering; ``short=True`` promises more body
    bytes (Content-Length) than it sends, then closes: a reply truncated in transit.
    """

    status: int = 200
    body: bytes = b"{}"
    content_type: str = "application/json"
    headers: dict[str, str] = attrs.field(factory=dict)
    drop: bool = False
    short: bool = False


class ScriptedServer:
    """A tiny aiohttp server on 127.0.0.1 that answers every request with ``self.reply``.

    Args:
        route: when given, picks the reply per request (by method and path) instead.
    """

    def __init__(self, route: Callable[[str, str], Scripted] | None = None) -> None:
        self.reply = Scripted()
        self.route = route
        self.requests = 0
        self.methods: list[str] = []
        self.url = ""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        self.methods.append(request.method)
        await request.read()
        reply = self.route(request.method, request.path) if self.route else self.reply
        if reply.drop:
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError
        if reply.short:
            response = web.StreamResponse(
                status=reply.status,
                headers={"Content-Type": reply.content_type, **reply.headers},
            )
            response.content_length = len(reply.body) + 100
            await response.prepare(request)
            await response.write(reply.body)
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError
        return web.Response(
            status=reply.status,
            body=reply.body,
            headers={"Content-Type": reply.content_type, **reply.headers},
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ScriptedServer]:
        """Serve until the block ends."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server: Any = site._server
        port = server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        try:
            yield self
        finally:
            await runner.cleanup()
