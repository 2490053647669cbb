"""In-process implementations of the fleet protocols: one process, no coordination beyond it.

These are the defaults of a client without a fleet (today's behaviour) and what a
``RedisFleet`` falls back to when it loses Redis mid-run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager

from zoho_convert.fleet.base import (
    ConversionLedger,
    Credits,
    Kind,
    Mint,
    StoredToken,
    TokenStore,
    minted,
    parse_credits,
)

__all__ = [
    "LocalCredits",
    "LocalFleet",
    "LocalLimiter",
    "MemoryLedger",
    "MemoryTokenStore",
    "NullLedger",
]


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def check_kind(kind: object) -> Kind:
    """``kind`` if it names a slot kind; ValueError otherwise."""
    if kind == "api":
        return "api"
    if kind == "lead_convert":
        return "lead_convert"
    raise ValueError(f"slot kind must be 'api' or 'lead_convert', got {kind!r}")


class LocalLimiter:
    """Bounds requests in flight within one process, with asyncio semaphores.

    Args:
        max_concurrency: API calls in flight at most.
        lead_convert_concurrency: Convert Lead calls in flight at most (each also holds an
            API slot).
    """

    def __init__(self, max_concurrency: int = 10, lead_convert_concurrency: int = 3) -> None:
        self.max_concurrency = _positive_int("max_concurrency", max_concurrency)
        self.lead_convert_concurrency = _positive_int(
            "lead_convert_concurrency", lead_convert_concurrency
        )
        # asyncio.Semaphore binds to the running loop on first use, not here (Python >= 3.10).
        self._api = asyncio.Semaphore(max_concurrency)
        self._lead = asyncio.Semaphore(lead_convert_concurrency)

    def __repr__(self) -> str:
        return (
            f"LocalLimiter(max_concurrency={self.max_concurrency}, "
            f"lead_convert_concurrency={self.lead_convert_concurrency})"
        )

    def in_use(self) -> dict[str, int]:
        """Slots held right now, per limit."""
        return {
            "api": self.max_concurrency - self._api._value,
            "lead_convert": self.lead_convert_concurrency - self._lead._value,
        }

    @asynccontextmanager
    async def slot(self, kind: Kind = "api") -> AsyncIterator[None]:
        """Hold a slot of ``kind`` (``"lead_convert"`` holds a sub-slot and an API slot).

        The Convert Lead sub-slot is taken first, so a call waiting for it holds no API slot.
        """
        if check_kind(kind) == "lead_convert":
            async with self._lead, self._api:
                yield
        else:
            async with self._api:
                yield


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
        self._lock = asyncio.Lock()
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
        finished = self._finished
        async with self._lock:
            current = self._token
            if current is not None and current.token != stale and current.usable(self._clock()):
                return current
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


class NullLedger:
    """Remembers nothing: every id is new and every claim succeeds (a client without a fleet)."""

    def __repr__(self) -> str:
        return "NullLedger()"

    async def filter_known(self, module: str, ids: Sequence[str]) -> tuple[list[str], list[str]]:
        """All ids are new."""
        return list(ids), []

    async def claim(
        self, module: str, ids: Sequence[str], ttl: float
    ) -> tuple[list[str], list[str]]:
        """Every id is claimed."""
        return list(ids), []

    async def release(self, module: str, ids: Sequence[str]) -> None:
        """Nothing to release."""

    async def mark_converted(self, module: str, ids: Sequence[str]) -> None:
        """Nothing is recorded."""


class MemoryLedger:
    """A ledger for the runs of one process, kept in memory (lost when the process ends).

    Args:
        clock: a monotonic clock for claim expiry (injectable for tests).
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._converted: dict[str, set[str]] = {}
        self._claims: dict[str, dict[str, float]] = {}

    def __repr__(self) -> str:
        return f"MemoryLedger(modules={sorted(self._converted)})"

    def size(self) -> dict[str, int]:
        """Converted ids known, per module."""
        return {module: len(ids) for module, ids in self._converted.items()}

    async def filter_known(self, module: str, ids: Sequence[str]) -> tuple[list[str], list[str]]:
        """See ``ConversionLedger.filter_known``."""
        known = self._converted.get(module, set())
        return [i for i in ids if i not in known], [i for i in ids if i in known]

    async def claim(
        self, module: str, ids: Sequence[str], ttl: float
    ) -> tuple[list[str], list[str]]:
        """See ``ConversionLedger.claim``."""
        now = self._clock()
        claims = self._claims.setdefault(module, {})
        claimed: list[str] = []
        held: list[str] = []
        known = self._converted.get(module, set())
        for record_id in ids:
            if claims.get(record_id, now) > now or record_id in known:
                held.append(record_id)
            else:
                claims[record_id] = now + ttl
                claimed.append(record_id)
        return claimed, held

    async def release(self, module: str, ids: Sequence[str]) -> None:
        """See ``ConversionLedger.release``."""
        claims = self._claims.get(module, {})
        for record_id in ids:
            claims.pop(record_id, None)

    async def mark_converted(self, module: str, ids: Sequence[str]) -> None:
        """See ``ConversionLedger.mark_converted``."""
        self._converted.setdefault(module, set()).update(ids)
        await self.release(module, ids)


class LocalCredits:
    """Keeps the last rate headers this process saw.

    Args:
        clock: wall-clock epoch seconds (injectable for tests).
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._last: Credits | None = None

    def __repr__(self) -> str:
        return f"LocalCredits(last={self._last!r})"

    async def record(self, headers: Mapping[str, str]) -> None:
        """See ``CreditsBook.record``."""
        credits = parse_credits(headers, self._clock())
        if credits is not None:
            self._last = credits

    async def remaining(self) -> int | None:
        """See ``CreditsBook.remaining``."""
        return None if self._last is None else self._last.remaining

    async def last(self) -> Credits | None:
        """See ``CreditsBook.last``."""
        return self._last


class LocalFleet:
    """The four parts for one process: what a client without a fleet uses (today's behaviour).

    Args:
        max_concurrency: API calls in flight at most.
        lead_convert_concurrency: Convert Lead calls in flight at most.
        tokens: where the token lives (default: memory; ``FileTokenStore`` to share it with
            the other processes of the machine).
        ledger: the conversion ledger (default: ``NullLedger``, which remembers nothing).
    """

    def __init__(
        self,
        max_concurrency: int = 10,
        lead_convert_concurrency: int = 3,
        *,
        tokens: TokenStore | None = None,
        ledger: ConversionLedger | None = None,
    ) -> None:
        self.limiter = LocalLimiter(max_concurrency, lead_convert_concurrency)
        self.tokens: TokenStore = tokens if tokens is not None else MemoryTokenStore()
        self.ledger: ConversionLedger = ledger if ledger is not None else NullLedger()
        self.credits = LocalCredits()

    def __repr__(self) -> str:
        return f"LocalFleet({self.limiter!r}, tokens={self.tokens!r}, ledger={self.ledger!r})"
