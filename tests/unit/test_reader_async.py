"""The reader takes async input through the same per-id loop as sync input, in runs of at
most what the current batch still needs: a batch goes when its last id arrives, a stop is
seen between values, and every value is read exactly once (positions included)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zoho_convert.bulk.reader import Reader


async def _read(
    reader: Reader, values: list[str], stop_after: int | None = None
) -> tuple[list[tuple[str, ...]], int]:
    """Read ``values`` as an async source; return the batches dispatched and the values the
    source handed out (a stop is raised once ``stop_after`` values were handed out)."""
    batches: list[tuple[str, ...]] = []
    handed = 0

    async def source() -> AsyncIterator[str]:
        nonlocal handed
        for value in values:
            handed += 1
            yield value

    async def dispatch(batch: tuple[str, ...]) -> None:
        batches.append(batch)

    def stop() -> bool:
        return stop_after is not None and handed >= stop_after

    await reader.read(source(), dispatch, stop)
    return batches, handed


@given(
    st.lists(st.integers(min_value=0, max_value=300), max_size=300),
    st.integers(min_value=1, max_value=50),
    st.integers(min_value=0, max_value=40),
)
def test_async_input_reads_like_sync_input(values: list[int], size: int, skip: int) -> None:
    """Same batches, refusals, repeats and position as the same values read from a list."""
    texts = [str(v) for v in values]
    sync_reader, async_reader = Reader(size, skip=skip), Reader(size, skip=skip)
    sync_batches: list[tuple[str, ...]] = []

    async def dispatch(batch: tuple[str, ...]) -> None:
        sync_batches.append(batch)

    asyncio.run(sync_reader.read(texts, dispatch, lambda: False))
    async_batches, handed = asyncio.run(_read(async_reader, texts))
    assert async_batches == sync_batches
    assert async_reader.take_partial() == sync_reader.take_partial()
    assert async_reader.position == sync_reader.position == len(values) == handed
    assert async_reader.duplicates == sync_reader.duplicates
    assert async_reader.refused == sync_reader.refused
    assert async_reader.total == sync_reader.total


async def test_a_full_batch_goes_before_the_source_is_asked_for_more() -> None:
    """With a repeat early on, the batch fills one value into a second run: it is dispatched
    then, not after the source handed out a whole batch's worth more."""
    values = ["1", "1"] + [str(i) for i in range(2, 51)] + [str(i) for i in range(51, 200)]
    asked_after_dispatch: list[int] = []
    handed = 0
    batches: list[tuple[str, ...]] = []

    async def source() -> AsyncIterator[str]:
        nonlocal handed
        for value in values:
            if batches and not asked_after_dispatch:
                asked_after_dispatch.append(handed)
            handed += 1
            yield value

    async def dispatch(batch: tuple[str, ...]) -> None:
        batches.append(batch)

    await Reader(50).read(source(), dispatch, lambda: len(batches) == 1)
    assert batches == [tuple(str(i) for i in range(1, 51))]
    assert asked_after_dispatch == []  # never asked again: the stop was seen first
    assert handed == 51  # the 51st value completed the batch; nothing more was pulled


async def test_a_stop_ends_reading_between_values() -> None:
    """A stop raised while a run of values is being gathered: nothing more is pulled, and
    what was pulled is read (a partial batch, its position counted)."""
    reader = Reader(50)
    batches, handed = await _read(reader, [str(i) for i in range(1, 200)], stop_after=60)
    assert handed == 60
    assert batches == [tuple(str(i) for i in range(1, 51))]
    assert reader.take_partial() == tuple(str(i) for i in range(51, 61))
    assert reader.position == 60


async def test_values_handed_out_before_the_source_failed_are_read() -> None:
    """An async source that raises midway: the values it handed out in the current run are
    read (counted, their position too), then its error goes to the caller."""

    class Broke(Exception):
        pass

    async def source() -> AsyncIterator[str]:
        for i in range(1, 71):
            yield str(i)
        raise Broke()

    batches: list[tuple[str, ...]] = []

    async def dispatch(batch: tuple[str, ...]) -> None:
        batches.append(batch)

    reader = Reader(50)
    with pytest.raises(Broke):
        await reader.read(source(), dispatch, lambda: False)
    assert len(batches) == 1
    assert reader.take_partial() == tuple(str(i) for i in range(51, 71))
    assert reader.position == 70 and reader.total == 70
