"""The connection to Redis the fleet's parts share, and what happens when it is lost.

One choice, taken per fleet (``on_redis_loss``):

- ``"fallback"`` (default): the first command that finds Redis gone logs one warning and
  switches the whole fleet, for the rest of its life, to in-process parts (limits per
  process, a token in memory seeded with the last one known, a memory ledger, local
  credits). The run goes on degraded rather than stopping: Zoho still enforces its limits
  with 429s, which the retry policy absorbs. The fleet does not rejoin Redis by itself,
  because slots held under local limits are invisible to the other processes.
- ``"fail"``: every fleet operation raises ``FleetUnavailableError`` while Redis is gone.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable
from typing import Any, Literal, NoReturn
from urllib.parse import urlsplit

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from zoho_convert.fleet.errors import FleetUnavailableError

__all__ = ["REDIS_LOST", "OnRedisLoss", "RedisLink", "bound", "describe_url"]

logger = logging.getLogger("zoho_convert.fleet")

_NOT_STARTED = "the fleet is not started: use `async with fleet` or `await fleet.start()`"

OnRedisLoss = Literal["fallback", "fail"]

#: The exceptions that mean "Redis is not there", as opposed to a bug in a command.
REDIS_LOST: tuple[type[BaseException], ...] = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    OSError,
    asyncio.TimeoutError,
)


def describe_url(url: str) -> str:
    """``host:port`` (or the socket path) of a Redis URL: never its user or password."""
    try:
        parts = urlsplit(url)
        if parts.scheme == "unix":
            return parts.path or "<unix socket>"
        host = parts.hostname or "localhost"
        port = parts.port or 6379
    except ValueError:
        return "<unparsable Redis URL>"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _reason(error: BaseException, url: str) -> str:
    text = str(error) or type(error).__name__
    password = _password(url)
    if password:
        text = text.replace(password, "<hidden>")  # redis-py does not quote it; be sure
    return text


def _password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


class RedisLink:
    """The Redis client, the namespace, this process's identity, and the loss policy.

    Args:
        url: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` or ``unix://``.
        namespace: prefix of every key, so fleets can share one Redis.
        on_redis_loss: ``"fallback"`` or ``"fail"`` (see the module docstring).
        connect_timeout: seconds to connect before Redis counts as unreachable.
        command_timeout: seconds one command may take.
    """

    def __init__(
        self,
        url: str,
        *,
        namespace: str,
        on_redis_loss: OnRedisLoss,
        connect_timeout: float,
        command_timeout: float,
    ) -> None:
        if on_redis_loss not in ("fallback", "fail"):
            raise ValueError(f"on_redis_loss must be 'fallback' or 'fail', got {on_redis_loss!r}")
        if not namespace or not isinstance(namespace, str):
            raise ValueError("namespace must be a non-empty string")
        self._url = url
        self.where = describe_url(url)
        self.namespace = namespace
        self.on_redis_loss: OnRedisLoss = on_redis_loss
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        # host:pid names this process to people reading `fleet status`; the nonce keeps two
        # fleets of one process (or a reused pid on another container) apart.
        self.process = f"{_host()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.degraded = False
        self._redis: Redis | None = None
        self._background: set[asyncio.Task[Any]] = set()

    def __repr__(self) -> str:
        return f"RedisLink(where={self.where!r}, namespace={self.namespace!r})"

    def key(self, *parts: str) -> str:
        """A key in this fleet's namespace."""
        return ":".join((self.namespace, *parts))

    @property
    def redis(self) -> Any:
        """The client (after ``connect``).

        Typed ``Any`` on purpose: redis-py before 6 types every command as "awaitable or
        result" (one class serves both clients), which mypy refuses to await.
        """
        if self._redis is None:
            raise RuntimeError(_NOT_STARTED)
        return self._redis

    @property
    def connected(self) -> bool:
        """Whether ``connect`` succeeded (and ``close`` has not run since)."""
        return self._redis is not None

    async def connect(self) -> None:
        """Connect and check Redis answers.

        Raises:
            FleetUnavailableError: Redis cannot be reached (names host:port, never a password).
        """
        client: Redis = Redis.from_url(
            self._url,
            decode_responses=True,
            socket_connect_timeout=self._connect_timeout,
            socket_timeout=self._command_timeout,
        )
        try:
            await client.ping()
        except (redis_errors.RedisError, OSError, asyncio.TimeoutError) as error:
            await client.aclose()
            raise FleetUnavailableError(
                f"cannot reach Redis at {self.where}: {_reason(error, self._url)}; "
                "check that redis-server runs there and the fleet URL is right",
                where=self.where,
            ) from None
        self._redis = client

    def lost(self, error: BaseException) -> None:
        """React to Redis being gone, per ``on_redis_loss``.

        Raises:
            FleetUnavailableError: in ``"fail"`` mode.
        """
        reason = _reason(error, self._url)
        if self.on_redis_loss == "fail":
            raise FleetUnavailableError(
                f"lost Redis at {self.where}: {reason}", where=self.where
            ) from None
        if not self.degraded:
            self.degraded = True
            logger.warning(
                "lost Redis at %s (%s): this process now limits itself alone "
                "(in-process limits, token and ledger) until it restarts",
                self.where,
                reason,
            )

    def spawn(self, work: Awaitable[Any]) -> asyncio.Task[Any]:
        """Run ``work`` in the background, kept until done and awaited by ``close``."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def close(self, *, cancel: bool) -> None:
        """Finish (or cancel) background work, then close the client."""
        tasks = list(self._background)
        if cancel:
            for task in tasks:
                task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._redis is not None:
            client, self._redis = self._redis, None
            await client.aclose()

    def raise_unavailable(self, error: BaseException) -> NoReturn:
        """Raise ``FleetUnavailableError`` for ``error`` (used by operations without fallback)."""
        raise FleetUnavailableError(
            f"lost Redis at {self.where}: {_reason(error, self._url)}", where=self.where
        ) from None


def bound(script: AsyncScript | None) -> AsyncScript:
    """``script`` once the fleet started; the not-started error before."""
    if script is None:
        raise RuntimeError(_NOT_STARTED)
    return script


def _host() -> str:
    # Member strings use ':' and '|' as separators; a hostname has neither, but be sure.
    return socket.gethostname().replace(":", "_").replace("|", "_") or "localhost"
