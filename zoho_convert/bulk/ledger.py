"""The conversion ledger: which ids are known converted, and which are being converted now.

``convert_many`` skips ids the ledger knows converted (reporting them as already converted)
and claims the others while their job runs, so two workers given overlapping lists never
submit an id at the same time. An optimisation, never what exactly-once rests on: Zoho
refuses a second conversion. ``NullLedger`` (no fleet) remembers nothing; ``MemoryLedger``
serves the runs of one process; a fleet shares one through Redis.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

__all__ = ["CLAIMED_ELSEWHERE", "ConversionLedger", "MemoryLedger", "NullLedger"]

#: The code of ids a run parks because another run holds them (a claim in the ledger): looked
#: at again while settling, rejected with it if still held when settling ends.
CLAIMED_ELSEWHERE = "CLAIMED_ELSEWHERE"


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
        claimed and unexpired is held by others (but see ``holding``: a run's own claim is
        claimed again, its end moved on, never sooner). So is an id recorded converted since the
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

    # Optional (the ledgers here have them; a ledger without ``release_later`` lets those
    # claims expire, one without ``holding`` keeps a stopped run's claims from its resumption):
    #
    # async def extend(self, module: str, ids: Sequence[str], ttl: float) -> None:
    #     """Make this caller's unexpired claims on ``ids`` last at least ``ttl`` seconds from
    #     now (a claim ending later keeps its end; an id it no longer holds is never claimed).
    #     A run keeps the ids of a lost job claimed while it waits for that job."""
    #
    # async def release_later(self, module: str, ids: Sequence[str], delay: float) -> None:
    #     """Give back this caller's claims on ``ids`` ``delay`` seconds from now (a claim
    #     that ends sooner keeps its end). A run that stops while a submission of theirs may
    #     have reached Zoho gives them back once that job has surely ended."""
    #
    # def holding(self, holder: str) -> ConversionLedger:
    #     """The same ledger, its claims made under ``holder`` (a run's name, which its
    #     journal keeps): only they are released by it, and an id ``holder`` holds is
    #     claimed again (renewed), not held, so a resumed run takes back its own claims."""


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

    async def release_later(self, module: str, ids: Sequence[str], delay: float) -> None:
        """Nothing to release."""

    async def extend(self, module: str, ids: Sequence[str], ttl: float) -> None:
        """Nothing to extend."""

    def holding(self, holder: str) -> NullLedger:
        """Itself: it holds no claims."""
        return self


class MemoryLedger:
    """A ledger for the runs of one process, kept in memory (lost when the process ends).

    Args:
        clock: a monotonic clock for claim expiry (injectable for tests).
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._converted: dict[str, set[str]] = {}
        self._claims: dict[str, dict[str, tuple[float, str]]] = {}  # id -> (end, holder)
        self._holder = ""  # whose claims this view makes ("": the process's own)

    def holding(self, holder: str) -> MemoryLedger:
        """This ledger (the same ids and claims), its claims made under ``holder`` (see
        ``ConversionLedger``)."""
        view = copy.copy(self)
        view._holder = holder
        return view

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
        now, holder = self._clock(), self._holder
        claims = self._claims.setdefault(module, {})
        claimed: list[str] = []
        held: list[str] = []
        known = self._converted.get(module, set())
        for record_id in ids:
            end, by = claims.get(record_id, (now, ""))
            if (end > now and not (holder and by == holder)) or record_id in known:
                held.append(record_id)
            else:  # (claimed again by its holder: moved on, never sooner)
                claims[record_id] = (max(end, now + ttl), holder)
                claimed.append(record_id)
        return claimed, held

    async def release(self, module: str, ids: Sequence[str]) -> None:
        """See ``ConversionLedger.release``."""
        claims = self._claims.get(module, {})
        for record_id in ids:
            if self._mine(claims.get(record_id)):
                del claims[record_id]

    async def mark_converted(self, module: str, ids: Sequence[str]) -> None:
        """See ``ConversionLedger.mark_converted``."""
        self._converted.setdefault(module, set()).update(ids)
        claims = self._claims.get(module, {})
        for record_id in ids:
            claims.pop(record_id, None)  # (whoever held it: converted, it is free of claims)

    async def release_later(self, module: str, ids: Sequence[str], delay: float) -> None:
        """Give back this caller's claims on ``ids`` ``delay`` seconds from now (a claim
        that ends sooner keeps its end; see the comment in ``ConversionLedger``)."""
        claims = self._claims.get(module, {})
        ends = self._clock() + delay
        for record_id in ids:
            claim = claims.get(record_id)
            if self._mine(claim):
                assert claim is not None
                claims[record_id] = (min(claim[0], ends), claim[1])

    async def extend(self, module: str, ids: Sequence[str], ttl: float) -> None:
        """Make this caller's unexpired claims on ``ids`` last at least ``ttl`` seconds from
        now (see the comment in ``ConversionLedger``)."""
        claims, now = self._claims.get(module, {}), self._clock()
        for record_id in ids:
            claim = claims.get(record_id)
            if self._mine(claim) and claim is not None and claim[0] > now:
                claims[record_id] = (max(claim[0], now + ttl), claim[1])

    def _mine(self, claim: tuple[float, str] | None) -> bool:
        return claim is not None and claim[1] == self._holder
