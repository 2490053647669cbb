"""The journal's writer thread: a failure reaches every waiter, a cancelled waiter harms
nothing, a cancelled creation is undone (no real sleeps: threads are held by events)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from fakes import deadline

from zoho_convert.bulk.journal_writer import Writer, finish_even_if_cancelled


class Gate:
    """A job (or work) that blocks its thread until the test opens the gate."""

    def __init__(self, then: Any = None) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()
        self.then = then

    def __call__(self, *args: Any) -> Any:
        self.entered.set()
        self.opened.wait(30)
        return self.then(*args) if callable(self.then) else self.then

    async def reached(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 30)


def close_connection(db: sqlite3.Connection) -> None:
    """Lose the connection mid-transaction: its COMMIT fails, as a failed disk would."""
    db.close()


def thread_errors(monkeypatch: pytest.MonkeyPatch) -> list[BaseException | None]:
    """The errors that end threads from now on (none is expected of the writer's)."""
    errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    return errors


async def test_a_failed_commit_fails_every_waiter_instead_of_hanging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a group of writes cannot be committed, the waiters of that group and of the
    writes queued meanwhile all get the error; later writes raise; stop ends the thread
    cleanly."""
    errors = thread_errors(monkeypatch)
    writer = Writer(tmp_path / "run.db")
    writer.start()
    gate = Gate(close_connection)
    first = asyncio.ensure_future(writer.call(gate))
    await gate.reached()
    queued = [asyncio.ensure_future(writer.call(lambda db, n=n: n)) for n in range(3)]
    await asyncio.sleep(0)  # they are queued while the thread still writes the first group
    gate.opened.set()
    async with deadline(10):
        outcomes = await asyncio.gather(first, *queued, return_exceptions=True)
    assert [type(o) for o in outcomes] == [sqlite3.ProgrammingError] * 4
    with pytest.raises(RuntimeError, match=r"journal .*run\.db failed: ProgrammingError"):
        writer.post(lambda db: None)
    with pytest.raises(RuntimeError, match="failed"):
        await writer.call(lambda db: None)
    async with deadline(10):
        await writer.stop()
    assert not writer.alive and errors == []


async def test_a_commit_that_fails_with_the_stop_queued_still_ends_the_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal is closed while its last writes are queued and their commit fails: the
    close ends the writer thread instead of waiting forever for more work."""
    errors = thread_errors(monkeypatch)
    writer = Writer(tmp_path / "run.db")
    writer.start()
    gate = Gate()
    held = asyncio.ensure_future(writer.call(gate))
    await gate.reached()  # the failing write and the stop form the next group
    writer.post(close_connection)
    stop = asyncio.ensure_future(writer.stop())
    await asyncio.sleep(0)
    gate.opened.set()
    try:
        async with deadline(10):
            await held
            await stop
    finally:
        writer._queue.put(None)  # if it still waits, free it: the test fails, not hangs
    assert not writer.alive and errors == []
    with pytest.raises(RuntimeError, match="failed: ProgrammingError"):
        writer.post(lambda db: None)


async def test_a_write_queued_while_the_writer_stops_is_still_committed(tmp_path: Path) -> None:
    """A write queued after the stop was asked for, but before the thread took its last
    group, is committed with that group, not dropped."""
    writer = Writer(tmp_path / "run.db")
    writer.start()
    await writer.call(lambda db: db.execute("CREATE TABLE t (n INTEGER)"))
    gate = Gate()
    held = asyncio.ensure_future(writer.call(gate))
    await gate.reached()  # the stop and the write form the last group, in that order
    stop = asyncio.ensure_future(writer.stop())
    await asyncio.sleep(0)
    writer.post(lambda db: db.execute("INSERT INTO t VALUES (2)"))
    gate.opened.set()
    async with deadline(10):
        await held
        await stop
    assert not writer.alive
    with sqlite3.connect(tmp_path / "run.db") as db:
        assert db.execute("SELECT n FROM t").fetchall() == [(2,)]
    db.close()


async def test_a_writer_that_cannot_open_its_file_fails_its_waiters(tmp_path: Path) -> None:
    """A journal whose folder vanished: the queued flush fails instead of waiting forever."""
    writer = Writer(tmp_path / "gone" / "run.db")
    flush = asyncio.ensure_future(writer.flush())
    await asyncio.sleep(0)
    writer.start()
    async with deadline(10):
        with pytest.raises(sqlite3.OperationalError):
            await flush
        await writer.stop()
    assert not writer.alive


async def test_a_cancelled_waiter_leaves_the_writer_working(tmp_path: Path) -> None:
    """A caller cancelled while its write runs: the write is still committed, and the
    writer goes on serving later writes."""
    writer = Writer(tmp_path / "run.db")
    writer.start()
    await writer.call(lambda db: db.execute("CREATE TABLE t (n INTEGER)"))
    gate = Gate(lambda db: db.execute("INSERT INTO t VALUES (1)"))
    waiter = asyncio.ensure_future(writer.call(gate))
    await gate.reached()
    waiter.cancel()
    gate.opened.set()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    async with deadline(10):
        rows = await writer.call(lambda db: db.execute("SELECT n FROM t").fetchall())
        await writer.stop()
    assert rows == [(1,)]


async def test_a_failed_post_fails_the_next_write_naming_the_error(tmp_path: Path) -> None:
    """A queued write that fails is reported by the next write (post or call), with its
    error, and the writes committed with it stay."""
    writer = Writer(tmp_path / "run.db")
    writer.start()
    await writer.call(lambda db: db.execute("CREATE TABLE t (n INTEGER)"))
    gate = Gate()
    held = asyncio.ensure_future(writer.call(gate))
    await gate.reached()  # the next writes form one group
    writer.post(lambda db: db.execute("INSERT INTO t VALUES (1)"))
    writer.post(lambda db: db.execute("INSERT INTO missing VALUES (1)"))
    writer.post(lambda db: db.execute("INSERT INTO nowhere VALUES (1)"))
    own = asyncio.ensure_future(writer.call(lambda db: db.execute("SELECT * FROM t2")))
    await asyncio.sleep(0)
    gate.opened.set()
    await held
    with pytest.raises(sqlite3.OperationalError, match="no such table: t2"):
        await own  # queued before the failure: its own outcome
    with pytest.raises(RuntimeError, match="no such table: missing"):
        writer.post(lambda db: None)
    with pytest.raises(RuntimeError, match="no such table: missing"):
        await writer.flush()
    await writer.stop()
    with sqlite3.connect(tmp_path / "run.db") as db:
        assert db.execute("SELECT n FROM t").fetchall() == [(1,)]


async def test_cancelled_work_is_undone_once_it_finishes() -> None:
    """Cancelled (twice) while its work runs on a thread: the caller is cancelled only once
    the work is done, and its result is undone."""
    gate = Gate(7)
    undone: list[int] = []
    task = asyncio.ensure_future(finish_even_if_cancelled(gate, undo=undone.append))
    await gate.reached()
    task.cancel()
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.sleep(0)
    assert not task.done()  # it waits for the thread
    gate.opened.set()
    async with deadline(10):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert undone == [7]


async def test_cancelled_work_that_failed_has_nothing_to_undo() -> None:
    """Cancelled while its work runs, and the work then fails: nothing is undone."""

    def fail() -> int:
        raise OSError("disk full")

    gate = Gate(fail)
    undone: list[int] = []
    task = asyncio.ensure_future(finish_even_if_cancelled(gate, undo=undone.append))
    await gate.reached()
    task.cancel()
    gate.opened.set()
    async with deadline(10):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert undone == []


async def test_uncancelled_work_returns_its_result() -> None:
    """Not cancelled: the work's result is returned and nothing is undone."""
    undone: list[int] = []
    assert await finish_even_if_cancelled(lambda: 5, undo=undone.append) == 5
    assert undone == []


async def test_the_writer_thread_is_named_after_its_journal_and_never_keeps_a_process(
    tmp_path: Path,
) -> None:
    """While it runs, the writer's thread is named after the journal's file (a dump of a hung
    process says whose it is) and is a daemon (a journal left open never keeps the process
    alive); it is gone once stopped."""
    writer = Writer(tmp_path / "run.db")
    writer.start()
    await writer.flush()
    (thread,) = [t for t in threading.enumerate() if t.name == "zoho-convert-journal:run.db"]
    assert thread.daemon and writer.alive
    await writer.stop()
    assert not thread.is_alive() and not writer.alive


async def test_a_stopped_writer_refuses_new_work_instead_of_losing_it_or_hanging(
    tmp_path: Path,
) -> None:
    """After ``stop``, a write is refused (not silently dropped) and a call raises at once
    (not waiting forever for the thread that ended); what was queued before is on disk."""
    writer = Writer(tmp_path / "w.db")
    writer.start()
    writer.post(lambda db: db.execute("CREATE TABLE t (x INTEGER)"))
    await writer.stop()
    with pytest.raises(RuntimeError, match="is closed"):
        writer.post(lambda db: db.execute("INSERT INTO t VALUES (1)"))
    async with deadline(5.0):
        with pytest.raises(RuntimeError, match="is closed"):
            await writer.call(lambda db: None)
    with sqlite3.connect(tmp_path / "w.db") as db:
        assert db.execute("SELECT count(*) FROM t").fetchone() == (0,)
    db.close()
