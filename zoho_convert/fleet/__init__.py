"""Coordination shared by processes converting for one Zoho org.

Owns the four things Zoho limits per org rather than per process, each behind a small
protocol (``base``): the request limit (``RequestLimiter``), the access token
(``TokenStore``), the record of converted ids (``ConversionLedger``) and the API credits
(``CreditsBook``). ``local`` implements them for one process, ``filestore`` keeps a token
for the processes of one machine, and ``RedisFleet`` (extra ``redis``) shares all four
across machines.

May import: ``zoho_convert.errors``, ``zoho_convert.api.timing``, attrs, and (only in the
``redis*``/``link``/``scripts`` modules) redis-py. Imports nothing else of the client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zoho_convert.fleet.base import (
    ConversionLedger,
    Credits,
    CreditsBook,
    Fleet,
    Kind,
    Mint,
    RequestLimiter,
    StoredToken,
    TokenStore,
    parse_credits,
)
from zoho_convert.fleet.errors import FleetUnavailableError
from zoho_convert.fleet.filestore import FileTokenStore
from zoho_convert.fleet.local import (
    LocalCredits,
    LocalFleet,
    LocalLimiter,
    MemoryLedger,
    MemoryTokenStore,
    NullLedger,
)
from zoho_convert.fleet.status import FleetStatus, SlotHolder, SlotsStatus

if TYPE_CHECKING:
    from zoho_convert.fleet.redis import RedisFleet

__all__ = [
    "ConversionLedger",
    "Credits",
    "CreditsBook",
    "FileTokenStore",
    "Fleet",
    "FleetStatus",
    "FleetUnavailableError",
    "Kind",
    "LocalCredits",
    "LocalFleet",
    "LocalLimiter",
    "MemoryLedger",
    "MemoryTokenStore",
    "Mint",
    "NullLedger",
    "RedisFleet",
    "RequestLimiter",
    "SlotHolder",
    "SlotsStatus",
    "StoredToken",
    "TokenStore",
    "parse_credits",
]


def __getattr__(name: str) -> Any:
    # RedisFleet needs the optional redis-py: import it only when asked for.
    if name == "RedisFleet":
        try:
            from zoho_convert.fleet.redis import RedisFleet  # noqa: PLC0415
        except ImportError as error:
            raise ImportError(
                "RedisFleet needs redis-py: pip install 'zoho-convert[redis]'"
            ) from error
        return RedisFleet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
