"""The aiohttp application: one dispatcher adding faults, auth and statistics around handlers,
plus ``Simulator``, the async context manager that serves it on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from . import handlers
from .config import API_CREDIT_COSTS, SimulatorConfig
from .errors import ApiError
from .faults import FaultDecision, FaultInjector, FaultKind, corrupt_body, retry_after_header
from .routing import Route, resolve
from .state import CrmState, UnknownJobError

TOKEN_PATH = "/oauth/v2/token"
OBSERVE_PREFIX = "/__simulator__/"


class _Dropped(Exception):
    """Raised to abandon a request after its connection was closed on purpose."""


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    if body is None:  # a handler's "no content" (204)
        return web.Response(status=status, headers=headers)
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


class SimulatorApp:
    """Request dispatch for one simulated CRM (state + fault stream + URL).

    Args:
        state: The CRM state to serve.
        sleep: Awaitable used for injected latency.
    """

    def __init__(
        self, state: CrmState, sleep: Callable[[float], Awaitable[None]] | None = None
    ) -> None:
        self.state = state
        self.url = ""  # set once the socket is bound; the token endpoint reports it
        self.injector = FaultInjector(state.config.faults, state.config.seed)
        self._sleep = sleep or state.config.sleep or asyncio.sleep

    def build(self) -> web.Application:
        """A fresh ``web.Application`` routing everything through ``dispatch``."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        return app

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        """Entry point of every request."""
        if request.path.startswith(OBSERVE_PREFIX):
            return await self._observe(request)
        stats = self.state.stats
        stats.requests_served += 1
        if request.path == TOKEN_PATH:
            stats.requests_by_endpoint["token"] += 1
            response = await self._token(request)
            stats.responses_by_status[response.status] += 1
            return response
        stats.in_flight += 1
        stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
        try:
            response = await self._api(request)
        except _Dropped:
            stats.dropped += 1
            raise asyncio.CancelledError() from None  # aiohttp closes quietly, sends nothing
        finally:
            stats.in_flight -= 1
        stats.responses_by_status[response.status] += 1
        if response.status == 429:
            stats.rate_limited += 1
        return response

    async def _api(self, request: web.Request) -> web.Response:
        cap = self.state.config.faults.concurrency_cap
        if cap is not None and self.state.stats.in_flight > cap:
            return self._too_many()
        routed = resolve(request.method, request.path)
        endpoint = routed.endpoint if isinstance(routed, Route) else "unknown"
        if endpoint != "lead_convert":
            return await self._serve(request, routed, endpoint)
        # Convert Lead has its own sub-concurrency limit inside the overall one.
        stats = self.state.stats
        stats.lead_convert_in_flight += 1
        stats.peak_lead_convert_in_flight = max(
            stats.peak_lead_convert_in_flight, stats.lead_convert_in_flight
        )
        try:
            limit = self.state.config.lead_convert_concurrency
            if limit is not None and stats.lead_convert_in_flight > limit:
                stats.requests_by_endpoint[endpoint] += 1
                return self._too_many()
            return await self._serve(request, routed, endpoint)
        finally:
            stats.lead_convert_in_flight -= 1

    async def _serve(
        self, request: web.Request, routed: Route | ApiError, endpoint: str
    ) -> web.Response:
        faults = self.state.config.faults
        if faults.latency:
            await self._sleep(faults.latency)
        self.state.stats.requests_by_endpoint[endpoint] += 1
        decision = self.injector.decide(endpoint)
        if decision.kind is FaultKind.RATE_LIMIT:
            return self._too_many()
        credits = self._charge(endpoint)
        if decision.kind is not FaultKind.NONE and not faults.fault_after_processing:
            return self._with_credits(self._fault_reply(request, decision, None), credits)
        raw = await request.read()
        status, body = self._process(request, routed, raw)
        response = _json(status, body)
        if decision.kind is not FaultKind.NONE:
            response = self._fault_reply(request, decision, response)
        return self._with_credits(response, credits)

    def _charge(self, endpoint: str) -> int | None:
        """Count a served request's API credits; what remains, once Zoho would say it."""
        total = self.state.config.api_credits
        if total is None:
            return None
        stats = self.state.stats
        stats.credits_used += API_CREDIT_COSTS.get(endpoint, 1)
        # Zoho sends X-API-CREDITS-REMAINING only once half the credits are used.
        return max(0, total - stats.credits_used) if stats.credits_used * 2 >= total else None

    @staticmethod
    def _with_credits(response: web.Response, remaining: int | None) -> web.Response:
        if remaining is not None:
            response.headers["X-API-CREDITS-REMAINING"] = str(remaining)
        return response

    def _process(
        self, request: web.Request, routed: Route | ApiError, raw: bytes
    ) -> tuple[int, Any]:
        try:
            handlers.authenticate(self.state, request.headers)
        except ApiError as err:
            return err.status, err.body()
        if isinstance(routed, ApiError):
            return routed.status, routed.body()
        return handlers.handle(self.state, routed, raw, request.query)

    def _too_many(self) -> web.Response:
        err = ApiError("TOO_MANY_REQUESTS")
        retry_after = self.state.config.faults.retry_after
        headers = None
        if retry_after is not None:
            headers = {"Retry-After": retry_after_header(retry_after)}
        return _json(err.status, err.body(), headers)

    def _fault_reply(
        self, request: web.Request, decision: FaultDecision, processed: web.Response | None
    ) -> web.Response:
        if decision.kind is FaultKind.DROP:
            if request.transport is not None:
                request.transport.close()
            raise _Dropped()
        if decision.kind is FaultKind.SERVER_ERROR:
            err = ApiError("INTERNAL_ERROR")
            return _json(err.status, err.body())
        assert decision.corruption is not None
        self.state.stats.corrupted += 1
        original_status = processed.status if processed is not None else 200
        original = processed.body if processed is not None else None
        if not isinstance(original, bytes) or not original:  # nothing processed, or a 204
            original = b'{"data":[{"status":"success"}]}'
            original_status = 200
        status, content_type, body = corrupt_body(decision.corruption, original)
        return web.Response(
            status=status or original_status, body=body, content_type=content_type
        )

    async def _token(self, request: web.Request) -> web.Response:
        if request.method != "POST":
            return _json(405, {"error": "invalid_request"})
        if self.state.tokens.take_endpoint_failure():
            self.state.stats.token_refresh_failures += 1
            return _json(500, {"error": "internal_server_error"})
        form: dict[str, str] = dict(request.query)
        posted = await request.post()
        form.update({k: v for k, v in posted.items() if isinstance(v, str)})
        status, body = handlers.token_grant(self.state, form, self.url)
        return _json(status, body)

    async def _observe(self, request: web.Request) -> web.Response:
        action = request.path[len(OBSERVE_PREFIX):].strip("/")
        state = self.state
        if action == "state" and request.method == "GET":
            include_jobs = request.query.get("jobs", "1") not in ("0", "false")
            return _json(200, state.summary(include_jobs=include_jobs))
        if action == "conversions" and request.method == "GET":
            module = request.query.get("module", "")
            counts = state.conversion_counts(module)
            return _json(200, {
                "module": module,
                "converted_ids": sorted(counts),
                "counts": dict(sorted(counts.items())),
                "repeated": {rid: n for rid, n in sorted(counts.items()) if n > 1},
            })
        if action == "forget_job" and request.method == "POST":
            try:
                payload = await request.json()
                job_id = str(payload["job_id"])
                state.forget_job(job_id)
            except (ValueError, KeyError, TypeError) as exc:
                return _json(400, {"error": f"bad request: {exc!r}"})
            except UnknownJobError:
                return _json(404, {"error": f"no job {job_id}"})
            return _json(200, {"forgotten": job_id})
        if action == "records" and request.method == "POST":
            try:
                payload = await request.json()
                ids = state.create_records(str(payload["module"]), int(payload["count"]))
            except (ValueError, KeyError, TypeError) as exc:
                return _json(400, {"error": str(exc)})
            return _json(200, {"module": payload["module"], "ids": ids})
        if action == "revoke_refresh_token" and request.method == "POST":
            state.revoke_refresh_token()
            return _json(200, {"revoked": True})
        return _json(404, {"error": f"unknown simulator path {request.path}"})


class Simulator:
    """A Zoho-compatible CRM served over real HTTP on 127.0.0.1, as an async context manager.

    Example:
        >>> async with Simulator(SimulatorConfig(seed=1)) as sim:  # doctest: +SKIP
        ...     ids = sim.state.create_records("Quotes", 120)
        ...     # point a client at sim.url with sim.access_token

    Args:
        config: What the CRM holds and how it misbehaves (default: a well-behaved CRM).
        host: Interface to listen on.
        port: Port to listen on; 0 picks a free one (see ``url``).
    """

    def __init__(
        self, config: SimulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or SimulatorConfig()
        self.state = CrmState(self.config)
        self.host = host
        self.port = port
        self._app = SimulatorApp(self.state)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Base URL: API domain and accounts server (token endpoint at ``{url}/oauth/v2/token``)."""
        if not self._app.url:
            raise RuntimeError("the simulator is not started")
        return self._app.url

    @property
    def access_token(self) -> str:
        """The initially valid access token (the configured one, or one made from the seed)."""
        return self.state.tokens.initial

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint."""
        return self.url + TOKEN_PATH

    async def start(self) -> None:
        """Bind and start serving (idempotent)."""
        if self._runner is not None:
            return
        runner = web.AppRunner(self._app.build(), handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        server = site._server
        assert server is not None
        sockets: list[socket.socket] = list(getattr(server, "sockets", []))
        self.port = sockets[0].getsockname()[1]
        self._app.url = f"http://{self.host}:{self.port}"
        self._runner = runner

    async def stop(self) -> None:
        """Stop serving and close open connections; the state is kept (idempotent)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def restart(self) -> None:
        """Stop and listen again on the same port, keeping all state (a server restart)."""
        await self.stop()
        await self.start()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def __repr__(self) -> str:
        where = self._app.url or "not started"
        return f"<Simulator {where} seed={self.config.seed}>"
