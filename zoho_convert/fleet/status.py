"""What ``RedisFleet.status()`` reports: slots in use and by whom, token expiry (never the
token), ledger size and the last credits seen. Every field is JSON-able via ``to_dict``."""

from __future__ import annotations

from typing import Any

import attrs
from attrs import frozen

from zoho_convert.fleet.base import Credits

__all__ = ["FleetStatus", "SlotHolder", "SlotsStatus", "parse_member"]


@frozen
class SlotHolder:
    """One slot held.

    Attributes:
        holder: ``host:pid:task`` of the task holding it.
        process: ``host:pid:nonce`` of its fleet (one per ``RedisFleet`` instance).
        lease_left: seconds until its lease ends unless renewed.
    """

    holder: str
    process: str
    lease_left: float


@frozen
class SlotsStatus:
    """One fleet-wide limit.

    Attributes:
        limit: the size the fleet's processes configured (the last to start wins).
        in_use: slots held now.
        waiting: tasks queued for a slot.
        holders: who holds them.
    """

    limit: int | None
    in_use: int
    waiting: int
    holders: tuple[SlotHolder, ...]


@frozen
class FleetStatus:
    """A snapshot of a fleet.

    Attributes:
        redis: ``host:port`` of its Redis (never a password).
        namespace: its key prefix.
        degraded: whether this process lost Redis and runs on in-process parts.
        slots: per limit (``api``, ``lead_convert``).
        token_expires_at: the shared token's expiry, epoch seconds, None without a token.
        token_expires_in: seconds left then.
        api_domain: the API domain stored with the token.
        ledger: converted ids recorded, per module.
        credits: the last rate headers any process saw.
    """

    redis: str
    namespace: str
    degraded: bool
    slots: dict[str, SlotsStatus]
    token_expires_at: float | None
    token_expires_in: float | None
    api_domain: str | None
    ledger: dict[str, int]
    credits: Credits | None

    @property
    def ledger_size(self) -> int:
        """Converted ids recorded, all modules together."""
        return sum(self.ledger.values())

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``json.dumps``."""
        data = attrs.asdict(self)
        data["ledger_size"] = self.ledger_size
        return data


def parse_member(member: str, lease_left: float) -> SlotHolder:
    """A ``SlotHolder`` from a semaphore member ``host:pid:nonce|task|serial``."""
    process, _, rest = member.partition("|")
    task = rest.rpartition("|")[0] or rest
    host_pid = process.rsplit(":", 1)[0] if process.count(":") >= 2 else process
    return SlotHolder(holder=f"{host_pid}:{task}", process=process, lease_left=lease_left)
