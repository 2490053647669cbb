"""``NotingLedger``: a memory ledger on a settable clock that notes what a run gives back.

Imported as ``noting_ledger`` (``tests/unit`` is on ``sys.path`` beside its test modules).
"""

from __future__ import annotations

from collections.abc import Sequence

from zoho_convert.bulk.ledger import MemoryLedger


class NotingLedger(MemoryLedger):
    """A memory ledger noting each ``release`` and ``release_later`` call; its claims expire
    on ``now`` (0 until a test moves it)."""

    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(clock=lambda: self.now)
        self.released: list[list[str]] = []
        self.later: list[tuple[list[str], float]] = []

    async def release(self, module: str, ids: Sequence[str]) -> None:
        self.released.append(list(ids))
        await super().release(module, ids)

    async def release_later(self, module: str, ids: Sequence[str], delay: float) -> None:
        self.later.append((list(ids), delay))
        await super().release_later(module, ids, delay)
