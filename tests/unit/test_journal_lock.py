"""A journal is held by one process at a time, and is either complete or absent."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import threading
from pathlib import Path

import pytest
from fake_convert_api import FakeAPI
from fakes import deadline

from zoho_convert import JournalInUseError
from zoho_convert.api.models import ModuleRef
from zoho_convert.bulk.convert import convert_many, resume
from zoho_convert.bulk.events import BatchSubmitted
from zoho_convert.bulk.journal import Journal
from zoho_convert.bulk.spec import RunParams

PARAMS = RunParams(module="Quotes", to=ModuleRef("Sales_Orders", "1"))
ROOT = Path(__file__).resolve().parents[2]

HOLDER = """
import asyncio, sys
from zoho_convert.bulk.journal import Journal

async def main() -> None:
    journal = await Journal.open(sys.argv[1])
    print("held", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def ids(n: int) -> list[str]:
    return [str(1000 + i) for i in range(n)]


def journal_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("zoho-convert-journal")]


def temporary_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".creating")]


def open_fds() -> int:
    """This process's open descriptors (after collecting garbage: an earlier test's unclosed
    object must not close its descriptor while a test counts)."""
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


async def test_a_second_process_cannot_take_a_journal_in_use(tmp_path: Path) -> None:
    """While one process holds a journal, resume and convert_many on it fail at once naming
    that process; once it dies (killed: no cleanup), the kernel frees it and resume works."""
    path = tmp_path / "run.db"
    api = FakeAPI()
    await convert_many(api, "Quotes", ids(60), to="Sales_Orders", journal=str(path))
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLDER,
        str(path),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert holder.stdout is not None
        line = await asyncio.wait_for(holder.stdout.readline(), 30)
        assert line.strip() == b"held"
        submits = api.submits
        with pytest.raises(JournalInUseError, match=f"in use by process {holder.pid} on "):
            await resume(api, str(path))
        with pytest.raises(JournalInUseError, match=str(holder.pid)):
            await convert_many(api, "Quotes", ids(10), to="Sales_Orders", journal=str(path))
        assert api.submits == submits  # nothing was sent
    finally:
        holder.send_signal(signal.SIGKILL)
        await holder.wait()
    report = await resume(api, str(path))
    assert report.ok and report.total == 60


async def test_one_process_cannot_run_a_journal_twice(tmp_path: Path) -> None:
    """Two resumes of one journal in one process: the second fails while the first runs."""
    path = str(tmp_path / "run.db")
    api = FakeAPI(duration=30.0)
    running = asyncio.Event()

    def progress(event: object) -> None:
        if isinstance(event, BatchSubmitted):
            running.set()

    first = asyncio.ensure_future(
        convert_many(api, "Quotes", ids(100), to="Sales_Orders", journal=path, progress=progress)
    )
    async with deadline(30):
        await running.wait()
    with pytest.raises(JournalInUseError):
        await resume(api, path)
    async with deadline(30):
        report = await first
    assert report.ok


@pytest.mark.parametrize("steps", range(0, 40, 3))
async def test_cancelled_creation_leaves_nothing_behind(tmp_path: Path, steps: int) -> None:
    """Cancelled at any point of Journal.create: no thread, no descriptor, no temporary file;
    the journal is either complete (it can be opened and holds the run) or absent."""
    path = tmp_path / "run.db"
    fds = open_fds()
    task = asyncio.ensure_future(Journal.create(path, PARAMS))
    for _ in range(steps):
        await asyncio.sleep(0)
    task.cancel()
    outcome = (await asyncio.gather(task, return_exceptions=True))[0]
    if isinstance(outcome, Journal):
        await outcome.close()
    else:
        assert isinstance(outcome, asyncio.CancelledError)
    assert journal_threads() == []
    assert open_fds() == fds
    assert temporary_files(tmp_path) == []
    if path.exists():
        opened = await Journal.open(path)
        try:
            params, _ = await opened.load()
            assert params == PARAMS
        finally:
            await opened.close()
    assert journal_threads() == []


@pytest.mark.parametrize("steps", range(0, 40, 4))
async def test_cancelled_open_releases_the_journal(tmp_path: Path, steps: int) -> None:
    """Cancelled at any point of Journal.open: no thread or descriptor stays, the lock is free."""
    path = tmp_path / "run.db"
    await (await Journal.create(path, PARAMS)).close()
    fds = open_fds()
    task = asyncio.ensure_future(Journal.open(path))
    for _ in range(steps):
        await asyncio.sleep(0)
    task.cancel()
    outcome = (await asyncio.gather(task, return_exceptions=True))[0]
    if isinstance(outcome, Journal):
        await outcome.close()
    assert journal_threads() == []
    assert open_fds() == fds
    await (await Journal.open(path)).close()  # not left locked
