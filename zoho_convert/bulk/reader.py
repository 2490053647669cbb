"""Reading a run's input: refuse bad values, drop duplicates, cut the rest into batches.

The per-id path is the hottest loop of a run: a plain digit string or int is handled without
calling into the validator, and ids are remembered in a compact ``IdSet``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Collection, Iterable
from typing import Any

from zoho_convert.api.ids import MAX_ID_DIGITS, id_problem
from zoho_convert.bulk.events import BatchRead, IdsRefused
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
        skip: input items already read by an earlier session (the same input, read again:
            an id among them no earlier session read is read as new).
        total: distinct ids (and refused values) read before.
        duplicates: repeats read before.
        refused_before: how earlier sessions named the values they refused (``RejectedId.id``):
            among the first ``skip`` items, an invalid value not among them is refused now.
    """

    def __init__(
        self,
        batch_size: int,
        *,
        seen: IdSet | None = None,
        skip: int = 0,
        total: int = 0,
        duplicates: int = 0,
        refused_before: Collection[str] = (),
    ) -> None:
        self.batch_size = batch_size
        self.seen = seen if seen is not None else IdSet()
        self.skip = skip
        self.position = 0  # (up to date whenever a batch is dispatched, and after ``read``)
        self.duplicates = duplicates
        self.refused: list[RejectedId] = []
        self.refused_before = frozenset(refused_before)
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

    def take_refused(self) -> IdsRefused:
        """The event of the values refused since the last one (where the input stands)."""
        refused, self.refused = tuple(self.refused), []
        return IdsRefused(refused, self.position, self.duplicates)

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
        if not isinstance(ids, AsyncIterable):
            await self._take(ids, dispatch, stop)
            return
        # Async input is read in runs of at most what the current batch still needs, so a
        # batch goes as soon as its last id arrives (a slow source is never waited on for
        # more), and each run goes through the same per-id loop as sync input.
        iterator = ids.__aiter__()
        batch = self._batch
        while not stop():
            run: list[Any] = []
            try:
                while len(run) < self.batch_size - len(batch):
                    run.append(await iterator.__anext__())
                    if stop():
                        break
            except StopAsyncIteration:
                await self._take(run, dispatch, stop)
                return
            except Exception:
                # The source failed midway: what it handed out was read, and is accounted for.
                await self._take(run, dispatch, stop)
                raise
            await self._take(run, dispatch, stop)

    async def _take(
        self,
        values: Iterable[Any],
        dispatch: Callable[[tuple[str, ...]], Awaitable[None]],
        stop: Callable[[], bool],
    ) -> None:
        """The per-id loop: check each value, drop repeats, and dispatch each full batch.

        The hottest loop of a run, kept flat and inline (no call per id but the IdSet's): a
        plain digit string or int is handled without calling into the validator. Positions
        count every value. The first ``skip`` were read by an earlier session (the same
        input, read again): they are passed over, their refusals and repeats counted then,
        but an id among them that no earlier session read, or an invalid value it did not
        refuse (the input given again is not the same), is read as new, never dropped.
        """
        size = self.batch_size
        add = self.seen.add
        max_digits = MAX_ID_DIGITS
        max_id = _MAX_ID
        skip = self.skip
        batch = self._batch
        first = self.position + 1
        position = self.position
        try:
            for position, value in enumerate(values, first):
                skipped = position <= skip
                if type(value) is str and value.isdigit() and value.isascii():
                    key = int(value) if len(value) <= max_digits else 0
                    # Canonical: "0012" is record 12 (and a duplicate of "12"). Of digit
                    # strings, those below "1" start with "0" (cheaper than value[0]).
                    text = value if value >= "1" else str(key)
                elif type(value) is int:
                    key = value
                    text = str(value)
                else:
                    key = 0
                    text = ""
                if not 0 < key <= max_id:
                    problem = id_problem(value)
                    if problem is not None:
                        described = _describe(value)
                        if skipped and described in self.refused_before:
                            continue  # (refused by the session that read it)
                        self.refused.append(RejectedId(described, "INVALID_ID", problem))
                        self._total += 1
                        continue
                    text = str(int(value))  # a str/int subclass the validator accepts
                    key = int(text)
                if not add(key):
                    self.duplicates += not skipped  # (a skipped one was counted then)
                    continue
                batch.append(text)
                if len(batch) < size:
                    continue
                full = tuple(batch)
                batch.clear()
                self.position = position
                await dispatch(full)
                if stop():
                    break
        finally:
            self.position = position
