"""A client middleware that logs every converting POST on the real connection to the
simulator, and a shared virtual clock, for the settling tests.

Imported as ``settling_helpers`` (``tests/integration`` is on ``sys.path`` beside its test
modules, as ``truth`` is).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import aiohttp
import attrs
from fakes import SummingTime, VirtualTime

from zoho_convert import RetryPolicy, StaticToken, ZohoConvertClient
from zoho_convert.simulator import Simulator

Handler = Callable[[aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]]
Kind = Literal["mass", "single"]


class SteppedTime(VirtualTime):
    """One clock for the client and the simulator that moves only when nothing else can: no
    request is in flight (``Wire`` counts them) and every task sleeps."""

    def __init__(self) -> None:
        super().__init__(start=1000.0)


@attrs.define
class Post:
    """A converting POST as the middleware saw it: a mass convert (``ids``: its batch) or a
    single convert (``ids``: its one record), its JSON body, and what came back (the HTTP
    status, ``"dropped"`` when the connection closed without a reply, ``"crashed"`` when
    the run's task was cancelled while it was in flight)."""

    at: float
    kind: Kind
    ids: list[str]
    body: dict[str, Any]
    outcome: int | str = 0

    @property
    def lost(self) -> bool:
        """Whether the run never learnt what became of this POST."""
        return self.outcome != 200 and self.outcome != 202 and not (
            isinstance(self.outcome, int) and 400 <= self.outcome < 500
        )


@attrs.define
class Wire:
    """A client middleware: counts requests in flight (the clock stands still meanwhile),
    logs every converting POST, and can lose some mass-convert POSTs on purpose.

    ``drop_after`` / ``drop_before``: numbers (from 1) of mass-convert POSTs whose connection
    drops after the simulator processed them, or before they reach it (the client cannot
    tell these apart: both are sent and never answered). ``crash_at``: the number of the
    mass-convert POST while which the run "dies" (``crash_task`` is cancelled), before the
    simulator sees it when ``crash_before``, else after it processed it.

    ``time`` stamps each POST. A ``VirtualTime`` (``SteppedTime``) stands still while a
    request is in flight; a ``SummingTime`` moves only when a task sleeps, so it needs no count.
    """

    time: VirtualTime | SummingTime
    drop_after: frozenset[int] = frozenset()
    drop_before: frozenset[int] = frozenset()
    crash_at: int = 0
    crash_before: bool = False
    crash_task: asyncio.Task[Any] | None = None
    posts: list[Post] = attrs.Factory(list)

    @property
    def mass(self) -> list[Post]:
        """The mass-convert POSTs, in order."""
        return [post for post in self.posts if post.kind == "mass"]

    @property
    def single(self) -> list[Post]:
        """The single-convert POSTs, in order."""
        return [post for post in self.posts if post.kind == "single"]

    async def __call__(
        self, request: aiohttp.ClientRequest, handler: Handler
    ) -> aiohttp.ClientResponse:
        if isinstance(self.time, SummingTime):
            return await self._logged(request, handler)
        self.time.in_flight += 1
        try:
            return await self._logged(request, handler)
        finally:
            self.time.in_flight -= 1

    async def _logged(
        self, request: aiohttp.ClientRequest, handler: Handler
    ) -> aiohttp.ClientResponse:
        path = request.url.path
        if request.method != "POST" or not path.endswith(("/mass_convert", "/actions/convert")):
            return await handler(request)
        payload = request.body
        raw = payload if isinstance(payload, bytes) else await payload.as_bytes()
        body = json.loads(raw)
        if path.endswith("/mass_convert"):
            post = Post(self.time.now, "mass", [str(i) for i in body["ids"]], body)
        else:
            post = Post(self.time.now, "single", [path.split("/")[-3]], body)  # …/{id}/actions/…
        self.posts.append(post)
        number = len(self.mass)
        if post.kind == "mass" and number == self.crash_at and self.crash_before:
            return await self._crash(post)
        if post.kind == "mass" and number in self.drop_before:
            post.outcome = "dropped"
            raise aiohttp.ServerDisconnectedError()
        try:
            response = await handler(request)  # the simulator has processed it now
        except aiohttp.ClientError:
            post.outcome = "dropped"
            raise
        post.outcome = response.status
        if post.kind == "mass" and number == self.crash_at:
            response.release()
            return await self._crash(post)
        if post.kind == "mass" and number in self.drop_after:
            response.release()
            post.outcome = "dropped"
            raise aiohttp.ServerDisconnectedError()
        return response

    async def _crash(self, post: Post) -> aiohttp.ClientResponse:
        assert self.crash_task is not None
        post.outcome = "crashed"
        self.crash_task.cancel()  # the process dies before it reads the reply
        await asyncio.get_running_loop().create_future()
        raise AssertionError("unreachable")


async def stepped_client(
    stack: contextlib.AsyncExitStack, sim: Simulator, time: SteppedTime, retry: RetryPolicy
) -> ZohoConvertClient:
    """A client of ``sim`` on ``time``, its session's requests counted by a ``Wire`` so that
    the clock stands still while any is in flight."""
    wire = Wire(time)
    session = await stack.enter_async_context(aiohttp.ClientSession(middlewares=(wire,)))
    client = ZohoConvertClient(
        StaticToken(sim.access_token),
        api_domain=sim.url,
        session=session,
        retry=retry,
        sleep=time.sleep,
        clock=time.clock,
    )
    return await stack.enter_async_context(client)


def lost_job_end(sim: Simulator, ids: list[str]) -> float | None:
    """When the simulator's first job holding exactly ``ids`` ended (None: it made none)."""
    jobs = [job for job in sim.state.jobs.values() if {str(i) for i in job.ids} == set(ids)]
    if not jobs:
        return None
    first = min(jobs, key=lambda job: job.submitted_at)
    return float(first.submitted_at + first.duration)
