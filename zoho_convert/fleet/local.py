"""``LocalFleet``: the four shared parts kept in one process (a client without a fleet).

The in-process parts live where the client uses them; they are also what a ``RedisFleet``
falls back to when it loses Redis mid-run.
"""

from __future__ import annotations

from zoho_convert.api.credits import LocalCredits
from zoho_convert.api.limits import LocalLimiter
from zoho_convert.api.tokens import MemoryTokenStore, TokenStore
from zoho_convert.bulk.ledger import ConversionLedger, MemoryLedger, NullLedger

__all__ = [
    "LocalCredits",
    "LocalFleet",
    "LocalLimiter",
    "MemoryLedger",
    "MemoryTokenStore",
    "NullLedger",
]


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
