"""Where the access token lives: ``TokenStore``, and ``MemoryTokenStore`` for one process.

A refresh token may mint only about ten access tokens per ten minutes, so a token is minted
once and shared: by the tasks of a process (``MemoryTokenStore``), by the processes of a
machine (``zoho_convert.fleet.FileTokenStore``) or of a fleet (``RedisFleet``).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from attrs import field, frozen

__all__ = ["MemoryTokenStore", "Mint", "StoredToken", "TokenStore", "minted"]

#: Mints a new access token: returns ``(token, expires_in_seconds, api_domain or None)``.
Mint = Callable[[], Awaitable[tuple[str, float, "str | None"]]]


@frozen
class StoredToken:
    """An access token as it is shared.

    Attributes:
        token: the access token (never shown in a repr).
        expires_at: when it expires, in wall-clock epoch seconds (processes share it, so a
            monotonic clock would mean nothing to the others).
        api_domain: the API domain the token reply named, if any.
    """

    token: str = field(repr=False)
    expires_at: float
    api_domain: str | None = None

    def expires_in(self, now: float | None = None) -> float:
        """Seconds until expiry (negative once expired)."""
        return self.expires_at - (time.time() if now is None else now)

    def usable(self, now: float | None = None) -> bool:
        """Whether the token has not expired yet."""
        return self.expires_in(now) > 0


def minted(token: str, expires_in: float, api_domain: str | None, now: float) -> StoredToken:
    """The ``StoredToken`` for what a ``Mint`` returned at wall-clock time ``now``."""
    if not isinstance(token, str) or not token:
        raise ValueError("a minted access token must be a non-empty string")
    if not math.isfinite(expires_in) or expires_in <= 0:
        raise ValueError(f"a minted token's lifetime must be positive, got {expires_in!r}")
    return StoredToken(token, now + float(expires_in), api_domain)


@runtime_checkable
class TokenStore(Protocol):
    """Where the access token lives, so tasks and processes reuse it instead of minting one.

    Callers keep their own copy and come back only to start, when their copy is about to
    expire, or when Zoho refused it: ``get`` reads the shared storage every time.
    """

    async def get(self) -> StoredToken | None:
        """The current token, or None when there is none or it has expired."""
        ...

    async def put(self, token: StoredToken) -> None:
        """Store ``token`` as the current one (e.g. minted elsewhere)."""
        ...

    async def refresh(self, stale: str | None, mint: Mint) -> StoredToken:
        """The token to use instead of ``stale``, minting one only if nobody has yet.

        One caller mints at a time (in a fleet: one process); the others wait for it and
        reuse its result, or its error. When the current token is unexpired and differs from
        ``stale`` (``None`` at start: any unexpired token will do), it is returned as is.

        Raises:
            Exception: whatever ``mint`` raised; nothing is stored then.
        """
        ...


class MemoryTokenStore:
    """Keeps the token in memory: shared by the tasks of one process.

    A failed mint is shared too: callers that waited for it get its error instead of each
    minting again (a refresh token may mint only ten tokens per ten minutes).

    Args:
        clock: wall-clock epoch seconds (injectable for tests).
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._token: StoredToken | None = None
        self._lock: asyncio.Lock | None = None
        self._finished = 0
        self._failure: BaseException | None = None
        self.mints = 0

    def __repr__(self) -> str:
        return "MemoryTokenStore()"

    async def get(self) -> StoredToken | None:
        """The current token if unexpired."""
        token = self._token
        return token if token is not None and token.usable(self._clock()) else None

    async def put(self, token: StoredToken) -> None:
        """Make ``token`` the current one."""
        self._token = token

    async def refresh(self, stale: str | None, mint: Mint) -> StoredToken:
        """See ``TokenStore.refresh``."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        finished = self._finished
        async with self._lock:
            current = self._token
            if current is not None and current.token != stale and current.usable(self._clock()):
                return current
            # Someone's mint failed while we waited: share its error (single flight holds for
            # failures too).
            if self._finished != finished and self._failure is not None:
                raise self._failure
            try:
                self.mints += 1
                token, expires_in, api_domain = await mint()
                fresh = minted(token, expires_in, api_domain, self._clock())
            except Exception as error:
                self._failure = error
                raise
            finally:
                self._finished += 1
            self._failure = None
            self._token = fresh
            return fresh
