"""The journal's writer (``bulk/journal_writer.py``), on what its mutants showed untested: a
call queued while the thread commits its last group (the stop already in it) is refused as
closed, not left waiting for a thread that is ending.

No real sleeps: the writer thread is held by events.
"""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path

import pytest
from fakes import deadline

from zoho_convert.bulk.journal_writer import Writer


async def test_a_call_queued_during_the_last_commit_is_refused_as_closed(tmp_path: Path) -> None:
    """The stop and a write form the writer's last group; a call queued while that write is
    committed fails with "journal ... is closed" once the thread ends, instead of hanging."""
    path = tmp_path / "run.db"
    writer = Writer(path)
    writer.start()
    first, last = threading.Event(), threading.Event()
    in_last, release = threading.Event(), threading.Event()

    def hold_first(db: object) -> None:
        first.set()
        release.wait(30)

    def hold_last(db: object) -> None:
        in_last.set()
        last.wait(30)

    held = asyncio.ensure_future(writer.call(hold_first))
    assert await asyncio.to_thread(first.wait, 30)
    writer.post(hold_last)  # queued behind the held group: the last group, with the stop
    stop = asyncio.ensure_future(writer.stop())
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.to_thread(in_last.wait, 30)
    late = asyncio.ensure_future(writer.call(lambda db: "written"))
    await asyncio.sleep(0)  # queued while the thread still commits its last group
    last.set()
    try:
        async with deadline(10):
            await held
            await stop
            with pytest.raises(RuntimeError, match=f"^{re.escape(f'journal {path} is closed')}$"):
                await late
    finally:
        late.cancel()
    assert not writer.alive
