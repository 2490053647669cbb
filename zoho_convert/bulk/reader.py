"""Reading a run's input: refuse bad values, drop duplicates, cut the rest into batches.

The per-id path is the hottest loop of a run: a plain digit string or int is handled without
calling into the validator, and ids are remembered in a compact ``IdSet``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import Any

from zoho_convert.api.ids import MAX_ID_DIGITS, id_problem
from zoho_convert.bulk.events import BatchRead
from zoho_convert.bulk.idset import IdSet
from zoho_convert.bulk.report import RejectedId

__all__ = ["Reader"]

_MAX_ID = 2**63 - 1  # Zoho ids are positive 64-bit longs


def _describe(value: object) -> str:
    """How a refused input value is named in the report (a str as is, anything else repr'd)."""
    return value if isinstance(value, str) else repr(value)


class Reader:
    """Turns input values into full batches of canonical, distinct ids.

    Args:
        batch_size: ids per batch.
        seen: the ids read before (a resumed run's), to drop their repeats.
        skip: input items already read by an earlier session (the same input, read again).
        total: distinct ids (and refused values) read before.
        duplicates: repeats read before.
    """

    def __init__(
        self,
        batch_size: int,
        *,
        seen: IdSet | None = None,
        skip: int = 0,
        total: int = 0,
        duplicates: int = 0,
    ) -> None:
        self.batch_size = batch_size
        self.seen = seen if seen is not None else IdSet()
        self.skip = skip
        self.position = 0  # (up to date whenever a batch is dispatched, and after ``read``)
        self.duplicates = duplicates
        self.refused: list[RejectedId] = []
        self._batch: list[str] = []
        # ``total`` counts the ids in ``seen``: the per-id path then counts nothing itself.
        self._total = total - len(self.seen)

    @property
    def total(self) -> int:
        """Distinct ids and refused values read so far (earlier sessions' included)."""
        return self._total + len(self.seen)

    def batch_read(self, seq: int, ids: tuple[str, ...]) -> BatchRead:
        """The event of a batch formed from what was read so far."""
        return BatchRead(seq, ids, self.total, self.position, self.duplicates)

    def take_refused(self) -> tuple[RejectedId, ...]:
        refused, self.refused = tuple(self.refused), []
        return refused

    def take_partial(self) -> tuple[str, ...]:
        partial = tuple(self._batch)
        self._batch.clear()  # in place: ``read`` keeps appending to this list
        return partial

    async def read(
        self,
        ids: Iterable[Any] | AsyncIterable[Any],
        dispatch: Callable[[tuple[str, ...]], Awaitable[None]],
        stop: Callable[[], bool],
    ) -> None:
        """Read ``ids``, handing each full batch to ``dispatch``, until the end or ``stop()``.

        Raises:
            Exception: whatever the caller's iterable raised.
        """
        size = self.batch_size
        add = self.seen.add
        max_digits = MAX_ID_DIGITS
        skip = self.skip
        batch = self._batch

        # One function for sync and async input, kept flat and cheap: the per-id path only
        # checks, drops repeats and appends (positions are counted by the loops below, and
        # totals by the IdSet). It returns the batch once it is full.
        def take(value: Any) -> tuple[str, ...] | None:
            if type(value) is str and value.isdigit() and value.isascii():
                key = int(value) if len(value) <= max_digits else 0
                # Canonical: "0012" is record 12 (and a duplicate of "12"). Of digit strings,
                # those below "1" start with "0" (one comparison: cheaper than value[0]).
                text = value if value >= "1" else str(key)
            elif type(value) is int:
                key = value
                text = str(value)
            else:
                key = 0
                text = ""
            if not 0 < key <= _MAX_ID:
                problem = id_problem(value)
                if problem is not None:
                    self.refused.append(RejectedId(_describe(value), "INVALID_ID", problem))
                    self._total += 1
                    return None
                text = str(int(value))  # a str/int subclass the validator accepts
                key = int(text)
            if not add(key):
                self.duplicates += 1
                return None
            batch.append(text)
            if len(batch) < size:
                return None
            full = tuple(batch)
            batch.clear()
            return full

        position = self.position
        try:
            if isinstance(ids, AsyncIterable):
                iterator = ids.__aiter__()
                while not stop():
                    try:
                        value = await iterator.__anext__()
                    except StopAsyncIteration:
                        break
                    position += 1
                    if position > skip and (full := take(value)) is not None:
                        self.position = position
                        await dispatch(full)
            else:
                first = position + 1
                for position, value in enumerate(ids, first):
                    if position > skip and (full := take(value)) is not None:
                        self.position = position
                        await dispatch(full)
                        if stop():
                            break
        finally:
            self.position = position
