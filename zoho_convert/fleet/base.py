"""The four things processes converting for one Zoho org share, and the ``Fleet`` of them.

Zoho's limits belong to the org, not to a process: requests in flight, the Convert Lead
sub-limit, API credits, and the access tokens one refresh token may mint. Each has a small
protocol where the client uses it: ``RequestLimiter`` (``zoho_convert.api.limits``),
``TokenStore`` (``zoho_convert.api.tokens``), ``CreditsBook`` (``zoho_convert.api.credits``)
and ``ConversionLedger`` (``zoho_convert.bulk.ledger``). A ``Fleet`` bundles the four:
``LocalFleet`` for one process, ``RedisFleet`` for many.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from zoho_convert.api.credits import Credits, CreditsBook, parse_credits
from zoho_convert.api.limits import RequestKind, RequestLimiter, check_kind
from zoho_convert.api.tokens import Mint, StoredToken, TokenStore, minted
from zoho_convert.bulk.ledger import ConversionLedger

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
    "check_kind",
    "minted",
    "parse_credits",
]

#: What a request needs a slot for (``"api"`` or ``"lead_convert"``).
Kind = RequestKind


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
