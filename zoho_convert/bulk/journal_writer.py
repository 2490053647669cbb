"""The journal's writer: one thread owns the SQLite connection, writes are group-committed.

All SQLite work happens on this thread, never on the event loop. Writes are queued without
waiting and committed in groups (one commit per drain of the queue), so a busy run costs a
few commits per batch at most; ``flush`` waits for everything queued so far to be on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["Writer", "finish_even_if_cancelled"]

T = TypeVar("T")

_Job = Callable[[sqlite3.Connection], Any]
# A queued job and the future waiting for it (None: nobody waits); None alone stops the thread.
_Item = tuple[_Job, "Future[Any] | None"] | None

# The statements (SQL keywords are not case-sensitive: no mutation of their case could change
# what is written, so they stay out of the functions mutmut mutates).
_SYNCHRONOUS = "PRAGMA synchronous=NORMAL"
_BEGIN = "BEGIN"
_COMMIT = "COMMIT"


class Writer:
    """The thread that owns a journal's SQLite connection.

    If the thread cannot write (the file or its disk failed), every waiting and later
    ``call`` fails with that error and ``post`` raises ``RuntimeError``: nothing hangs.

    Args:
        path: the journal file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._work, name=f"zoho-convert-journal:{path.name}", daemon=True
        )
        self._failure: BaseException | None = None
        self._synced_folder = False

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    async def stop(self) -> None:
        """Commit what is queued and end the thread. A cancelled stop still waits for the
        thread to end (a commit takes milliseconds) before it raises the cancellation, so
        the caller can release the file's lock at once: the same process may resume."""
        if self._thread.is_alive():
            self._queue.put(None)
            joined = asyncio.ensure_future(asyncio.to_thread(self._thread.join))
            await _outlasting_cancellation(joined)

    def _work(self) -> None:
        group: list[_Item] = []
        try:
            # Autocommit mode: the transactions are the explicit BEGIN ... COMMIT of _commit.
            # The connection never leaves this thread (Python's same-thread check holds).
            with contextlib.closing(sqlite3.connect(self.path, isolation_level=None)) as db:
                # A journal is in WAL mode from its creation (``create_locked``; not set here,
                # so a file that turns out not to be a journal is left as it was). WAL with
                # synchronous=NORMAL survives a killed process (not a power cut) at a fraction
                # of the cost of FULL.
                db.execute(_SYNCHRONOUS)
                while None not in group:
                    group = [self._queue.get()]
                    while True:  # group commit: take everything queued so far
                        try:
                            group.append(self._queue.get_nowait())
                        except queue.Empty:
                            break
                    self._commit(db, group)
            closed = RuntimeError(f"journal {self.path} is closed")
            while True:  # queued after the last group (a race with stop): refuse, not hang
                try:
                    _fail(self._queue.get_nowait(), closed)
                except queue.Empty:
                    break
        except BaseException as exc:  # keep the loop side informed instead of hanging it
            self._failure = exc
            self._refuse(group, exc)

    def _commit(self, db: sqlite3.Connection, group: list[_Item]) -> None:
        """Run a group of jobs in one transaction, then answer their waiters."""
        done: list[tuple[Future[Any], Any, BaseException | None]] = []
        db.execute(_BEGIN)
        for item in group:
            if item is None:
                continue
            job, future = item
            try:
                result = job(db)
            except BaseException as exc:
                if future is None:
                    self._failure = self._failure or exc
                else:
                    done.append((future, None, exc))
                continue
            if future is not None:
                done.append((future, result, None))
        db.execute(_COMMIT)
        if any(item is not None and item[0] is _durable for item in group):
            self._sync()
        for future, result, error in done:
            _settle(future, result, error)

    def _sync(self) -> None:
        """Force what is committed to the disk itself. synchronous=NORMAL leaves a commit in
        the OS's cache, safe from a killed process but not from a power cut or a host that
        dies: the row saying a batch is being sent must outlive both, or a resumed run takes
        the batch for one never sent (and the records its lost POST converted for records
        converted before the run)."""
        wal = self.path.with_name(f"{self.path.name}-wal")
        target = wal if wal.exists() else self.path  # (a journal not in WAL mode: its file)
        _fsync(target)
        if not self._synced_folder:  # the WAL file's own entry, once (it is new per session)
            self._synced_folder = True
            _fsync(self.path.parent)

    def _refuse(self, group: list[_Item], exc: BaseException) -> None:
        """Fail the waiters of the group that failed, then of every later job until ``stop``
        (a job queued while the failure was not yet seen must not wait forever)."""
        for item in group:
            _fail(item, exc)
        stopping = None in group
        while not stopping:
            item = self._queue.get()
            _fail(item, exc)
            stopping = item is None

    def post(self, job: _Job) -> None:
        """Queue a write; do not wait for it."""
        self._check()
        self._queue.put((job, None))

    async def call(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``job`` on the thread and return its result once committed."""
        self._check()
        future: Future[T] = Future()
        self._queue.put((job, future))
        return await asyncio.wrap_future(future)

    async def flush(self, *, durable: bool = False) -> None:
        """Wait until everything queued so far is committed (``durable``: and on the disk
        itself, so that a power cut does not lose it)."""
        await self.call(_durable if durable else _barrier)

    def _check(self) -> None:
        """Refuse new work once the writer failed or was stopped (a write would be lost, a
        call would wait forever for a thread that is gone)."""
        if self._failure is not None:
            raise RuntimeError(f"journal {self.path} failed: {self._failure!r}")
        thread = self._thread
        if thread.ident is not None and not thread.is_alive():  # started, and ended (stopped)
            raise RuntimeError(f"journal {self.path} is closed")


async def finish_even_if_cancelled(work: Callable[[], int], *, undo: Callable[[int], None]) -> int:
    """Run ``work`` on a thread; if the caller is cancelled meanwhile, wait for the thread and
    ``undo`` its result, so a cancelled creation leaves no file, thread or descriptor behind."""
    task = asyncio.ensure_future(asyncio.to_thread(work))
    try:
        return await _outlasting_cancellation(task)
    except asyncio.CancelledError:
        if not task.cancelled() and task.exception() is None:
            undo(task.result())
        raise


async def _outlasting_cancellation(task: asyncio.Future[T]) -> T:
    """``task``'s result; if the caller is cancelled meanwhile, wait for ``task`` to end
    (cancelled again meanwhile too) and then raise the cancellation."""
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({task})
        raise


def _barrier(db: sqlite3.Connection) -> None:
    """A job that does nothing: once it is committed, every job queued before it is."""


def _durable(db: sqlite3.Connection) -> None:
    """A barrier after whose commit the file is synced (``Writer.flush(durable=True)``)."""


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fail(item: _Item, exc: BaseException) -> None:
    if item is not None and item[1] is not None:
        _settle(item[1], None, exc)


def _settle(future: Future[Any], result: Any, error: BaseException | None) -> None:
    # A waiter cancelled meanwhile has cancelled its future: it wants no answer.
    with contextlib.suppress(InvalidStateError):
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
