"""The four things processes converting for one Zoho org share, as small protocols.

Zoho's limits belong to the org, not to a process: requests in flight, the Convert Lead
sub-limit, API credits, and the access tokens one refresh token may mint. The client talks to
each through one of these protocols; ``zoho_convert.fleet.local`` implements them for one
process, ``FileTokenStore`` for the processes of one machine, and ``RedisFleet`` for a fleet.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Literal, Protocol, runtime_checkable

from attrs import field, frozen

__all__ = [
    "ConversionLedger",
    "Credits",
    "CreditsBook",
    "Fleet",
    "Kind",
    "Mint",
    "RequestLimiter",
    "StoredToken",
    "TokenStore",
    "parse_credits",
]

#: What a request needs a slot for: any API call, or a Convert Lead call, which holds both a
#: Convert Lead sub-slot and an API slot (Zoho counts it against both limits).
Kind = Literal["api", "lead_convert"]

#: Mints a new access token: returns ``(token, expires_in_seconds, api_domain or None)``.
Mint = Callable[[], Awaitable[tuple[str, float, "str | None"]]]


@runtime_checkable
class RequestLimiter(Protocol):
    """Bounds the requests in flight: per process, or across a fleet."""

    def slot(self, kind: Kind = "api") -> AbstractAsyncContextManager[None]:
        """Hold one slot of ``kind`` for the duration of an ``async with`` block.

        A task cancelled while it waits for a slot, or while it holds one, never leaks it.
        """
        ...


@frozen
class StoredToken:
    """An access token as the processes of a fleet share it.

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
    """Where the access token lives, so processes reuse it instead of each minting one.

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
        reuse its result. When the current token is unexpired and differs from ``stale``
        (``None`` at start: any unexpired token will do), it is returned without minting.

        Args:
            stale: the token the caller found expired, about to expire, or refused.
            mint: called to mint a new token when one is needed.

        Raises:
            Exception: whatever ``mint`` raised; nothing is stored then.
        """
        ...


@runtime_checkable
class ConversionLedger(Protocol):
    """Which ids are known converted, and which are being converted right now.

    An optimisation, never what exactly-once rests on: Zoho refuses a second conversion, so
    a ledger that forgot everything costs requests, not correctness. ``module`` is an opaque
    key, e.g. the source module's API name.
    """

    async def filter_known(self, module: str, ids: Sequence[str]) -> tuple[list[str], list[str]]:
        """Split ``ids`` into ``(new_ids, already_converted_ids)``, each in input order."""
        ...

    async def claim(
        self, module: str, ids: Sequence[str], ttl: float
    ) -> tuple[list[str], list[str]]:
        """Claim ``ids`` for ``ttl`` seconds: ``(claimed, held_by_others)``, in input order.

        Two claims never hold one id at once, even two of the same process: an id already
        claimed and unexpired is held by others. So is an id recorded converted since the
        caller's ``filter_known`` (checked atomically with the claim): look at the held ids
        again later, with ``filter_known`` first.
        """
        ...

    async def release(self, module: str, ids: Sequence[str]) -> None:
        """Give back this caller's claims on ``ids`` (others' claims are left alone)."""
        ...

    async def mark_converted(self, module: str, ids: Sequence[str]) -> None:
        """Record ``ids`` as converted (and drop any claim on them)."""
        ...


@frozen
class Credits:
    """The last rate headers Zoho sent.

    Attributes:
        remaining: API credits left (``X-API-CREDITS-REMAINING``, else
            ``X-RATELIMIT-REMAINING``), None when not sent.
        limit: ``X-RATELIMIT-LIMIT`` when sent.
        reset: ``X-RATELIMIT-RESET`` as sent (Zoho does not document its unit).
        seen_at: when they were seen, wall-clock epoch seconds.
    """

    remaining: int | None
    limit: int | None
    reset: float | None
    seen_at: float


@runtime_checkable
class CreditsBook(Protocol):
    """Records the rate headers of every reply, and says how many credits remain."""

    async def record(self, headers: Mapping[str, str]) -> None:
        """Note the rate headers in ``headers`` (a reply without any changes nothing)."""
        ...

    async def remaining(self) -> int | None:
        """Credits left as last seen, or None when Zoho has not said."""
        ...

    async def last(self) -> Credits | None:
        """Everything last seen, or None."""
        ...


@runtime_checkable
class Fleet(Protocol):
    """The four shared parts together: what ``ZohoConvertClient(..., fleet=...)`` takes.

    ``RedisFleet`` shares them across processes; ``LocalFleet`` keeps them in one process.
    """

    @property
    def limiter(self) -> RequestLimiter:
        """Bounds the requests in flight."""
        ...

    @property
    def tokens(self) -> TokenStore:
        """Holds the access token."""
        ...

    @property
    def ledger(self) -> ConversionLedger:
        """Knows the converted ids."""
        ...

    @property
    def credits(self) -> CreditsBook:
        """Knows the credits left."""
        ...


_REMAINING = ("x-api-credits-remaining", "x-ratelimit-remaining")


def parse_credits(headers: Mapping[str, str], now: float) -> Credits | None:
    """The rate headers in ``headers`` (any case), or None when there are none."""
    lowered = {str(k).lower(): v for k, v in headers.items()}
    remaining = next(
        (n for n in (_int(lowered.get(name)) for name in _REMAINING) if n is not None), None
    )
    limit = _int(lowered.get("x-ratelimit-limit"))
    reset = _float(lowered.get("x-ratelimit-reset"))
    if remaining is None and limit is None and reset is None:
        return None
    return Credits(remaining, limit, reset, now)


def _int(value: object) -> int | None:
    number = _float(value)
    return None if number is None else int(number)


def _float(value: object) -> float | None:
    if value is None:
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None  # a header we cannot read is a header we did not get
    return number if math.isfinite(number) else None
