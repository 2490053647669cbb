"""The fleet's one error: the shared store (Redis) cannot be used."""

from __future__ import annotations

from zoho_convert.api.errors import ZohoConvertError

__all__ = ["FleetUnavailableError"]


class FleetUnavailableError(ZohoConvertError):
    """Redis could not be reached at start, or was lost mid-run with ``on_redis_loss="fail"``.

    Attributes:
        where: ``host:port`` (or the socket path) of the Redis server; never a password.
    """

    def __init__(self, message: str, *, where: str) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
