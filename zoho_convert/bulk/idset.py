"""A compact set of record ids, so duplicate detection over millions of ids stays cheap.

``convert_many`` remembers every id it has read to drop duplicates; this is that memory.
Internal to ``zoho_convert``: not part of the public API.
"""

from __future__ import annotations

from array import array

__all__ = ["IdSet"]


class IdSet:
    """A set of positive 64-bit ints in one flat array: 8-16 bytes per id, not ~80.

    Remembering every id read is what duplicate detection costs; a Python ``set`` of ints
    would take ~80 MB for a million ids. Open addressing with linear probing over an
    ``array('q')`` (0 marks an empty slot; ids are positive) keeps it to ~16 MB.
    """

    __slots__ = ("_limit", "_mask", "_shift", "_size", "_table")

    def __init__(self, bits: int = 12) -> None:
        self._table = array("q", bytes(8 << bits))
        self._mask = (1 << bits) - 1
        self._shift = 64 - bits
        self._limit = (1 << bits) * 6 // 10
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, key: int) -> bool:
        """Add ``key`` (1..2**63-1); return False if it was there already."""
        # Called once per id read: attributes are read into locals once, and the probe loop
        # runs only on a collision (an empty slot ends it; ids are never 0).
        table = self._table
        mask = self._mask
        # Fibonacci hashing spreads sequential ids (Zoho's are) across the table.
        slot = ((key * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) >> self._shift
        value = table[slot]
        while value:
            if value == key:
                return False
            slot = (slot + 1) & mask
            value = table[slot]
        table[slot] = key
        size = self._size + 1
        self._size = size
        if size > self._limit:
            self._grow()
        return True

    def _grow(self) -> None:
        old = self._table
        self.__init__(64 - self._shift + 1)  # type: ignore[misc]
        add = self.add
        for value in old:
            if value:
                add(value)
