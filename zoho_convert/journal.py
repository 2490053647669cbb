"""A crash-safe SQLite journal of a ``convert_many`` run, so an interrupted run can resume.

It records the run's parameters and, per batch, its ids and its state:

``pending`` (formed, not sent) -> ``submitting`` (about to be sent; durable before the POST
leaves) -> ``submitted`` (with its job id) -> ``finished`` (with the final status). A batch can
also end ``rejected`` (every id refused, see the ``rejected`` table), ``split`` (failure
isolation replaced it by smaller child batches), ``uncertain`` (parked, to be settled by
resubmission) or ``uncertain_final`` (settling gave up). A batch's ``settling`` flag says an
earlier submission of its ids may have reached Zoho. Ids found converted by such an earlier
submission are in the ``already`` table, jobs whose outcome was lost in the ``lost`` table.

The file is held by one process at a time and created atomically (see ``journal_file``). All
SQLite work happens on one dedicated thread, never on the event loop. Writes are queued
without waiting and committed in groups (one commit per drain of the queue), so a busy run
costs a few commits per batch at most; only ``mark_submitting`` waits for its commit, because
"this batch may have been sent" must be on disk before the POST is. The file is created
readable and writable by its owner only (0600) and never holds a credential: the parameters
are module names, ids and options.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import attrs

from zoho_convert.journal_file import (
    JournalInUseError,
    check_format,
    check_journal_path,
    create_locked,
    open_locked,
)
from zoho_convert.models import DealDetails, JobStatus, ModuleRef
from zoho_convert.report import LostJob, RejectedId, status_from_dict, status_to_dict

__all__ = ["BatchRecord", "Journal", "JournalInUseError", "JournalState", "RunParams"]

T = TypeVar("T")


@attrs.frozen
class RunParams:
    """What a run converts and how: everything ``resume`` needs to continue it.

    Attributes:
        module: the source module (``Quotes``, ``Sales_Orders`` or ``Leads``).
        to: the target module with its id (None for Leads).
        carry_over_tags: inventory: carry tags over; Leads: the modules that get the tags.
        assign_to: the user id to own the new records.
        related_modules: related lists to convert along.
        batch_size: ids per mass-convert call.
        deals: Leads only: the deal to create for each lead.
        move_attachments_to: Leads only: the module that gets the attachments.
    """

    module: str
    to: ModuleRef | None
    carry_over_tags: bool | tuple[str, ...] = False
    assign_to: str | None = None
    related_modules: tuple[ModuleRef, ...] = ()
    batch_size: int = 50
    deals: DealDetails | None = None
    move_attachments_to: str | None = None

    def to_json(self) -> str:
        """The parameters as JSON (no secret is part of them)."""
        data = attrs.asdict(self, recurse=True)
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> RunParams:
        """Read parameters written by ``to_json``."""
        data = json.loads(text)
        to = data["to"]
        tags = data["carry_over_tags"]
        deals = data.get("deals")
        return cls(
            module=data["module"],
            to=None if to is None else ModuleRef(**to),
            carry_over_tags=tags if isinstance(tags, bool) else tuple(tags),
            assign_to=data.get("assign_to"),
            related_modules=tuple(ModuleRef(**ref) for ref in data.get("related_modules", ())),
            batch_size=int(data["batch_size"]),
            deals=None if deals is None else DealDetails(**deals),
            move_attachments_to=data.get("move_attachments_to"),
        )


@attrs.frozen
class BatchRecord:
    """One batch row as read back from a journal."""

    seq: int
    parent: int | None
    ids: tuple[str, ...]
    state: str
    job_id: str | None
    status: JobStatus | None
    settling: bool = False


@attrs.frozen
class JournalState:
    """Everything a journal holds about a run, as ``resume`` needs it.

    Attributes:
        params: the run's parameters.
        batches: every batch that is not ``split`` (split batches live on in their children).
        rejected: every rejected id, in the order recorded.
        local_rejected: how many of ``rejected`` were refused locally (not in any batch).
        total_in_batches: ids in top-level batches (distinct ids sent or to be sent).
        position: input items consumed up to the last journaled batch.
        duplicates: duplicates seen up to that point.
        input_complete: whether the whole input was read.
        requests: requests sent by earlier sessions (as recorded when they stopped).
        next_seq: the next free batch number.
        already_converted_ids: ids found converted by the run's own earlier submission.
        lost_jobs: jobs whose outcome was lost.
        longest_job: the longest a job of the run was seen to take, in seconds.
    """

    params: RunParams
    batches: tuple[BatchRecord, ...]
    rejected: tuple[RejectedId, ...]
    local_rejected: int
    total_in_batches: int
    position: int
    duplicates: int
    input_complete: bool
    requests: int
    next_seq: int
    already_converted_ids: tuple[str, ...] = ()
    lost_jobs: tuple[LostJob, ...] = ()
    longest_job: float = 0.0


_Job = Callable[[sqlite3.Connection], Any]
# A queued job and the future waiting for it (None: nobody waits); None alone stops the thread.
_Item = tuple[_Job, "Future[Any] | None"] | None


class Journal:
    """The journal of one run, backed by a SQLite file and a writer thread.

    Create one with ``await Journal.create(path, params)`` for a new run or
    ``await Journal.open(path)`` to resume; ``await journal.close()`` when done. Either holds
    the file's lock until ``close``.
    """

    def __init__(self, path: Path, lock_fd: int) -> None:
        self.path = path
        self._lock_fd = lock_fd
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._work, name=f"zoho-convert-journal:{path.name}", daemon=True
        )
        self._failure: BaseException | None = None
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    async def create(cls, path: str | os.PathLike[str], params: RunParams) -> Journal:
        """Start the journal of a new run (complete on disk, and locked, when this returns).

        Raises:
            FileExistsError: ``path`` exists already (resume that run, or pick a new path).
            ValueError: ``path`` is empty or a directory.
        """
        where = check_journal_path(path)
        text = params.to_json()
        fd = await _finish_even_if_cancelled(
            lambda: create_locked(where, lambda db: _put(db, {"params": text})),
            undo=lambda fd: _discard(where, fd),
        )
        journal = cls(where, fd)
        journal._thread.start()
        return journal

    @classmethod
    async def open(cls, path: str | os.PathLike[str]) -> Journal:
        """Open the journal of an earlier run, to resume it.

        Raises:
            FileNotFoundError: there is no journal at ``path``.
            ValueError: the file is not a zoho_convert journal.
            JournalInUseError: another process holds the journal.
        """
        where = check_journal_path(path)
        fd = await _finish_even_if_cancelled(lambda: open_locked(where), undo=os.close)
        journal = cls(where, fd)
        journal._thread.start()
        try:
            await journal._call(check_format)
        except BaseException:
            await journal.close()
            raise
        return journal

    async def close(self) -> None:
        """Commit what is queued, stop the writer thread and release the lock."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._thread.is_alive():
                self._queue.put(None)
                # Shielded: a cancelled close must still end the thread before the lock goes.
                await asyncio.shield(asyncio.to_thread(self._thread.join))
        finally:
            if not self._thread.is_alive():
                os.close(self._lock_fd)

    # -- the writer thread -------------------------------------------------------------------

    def _work(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # WAL with synchronous=NORMAL survives a killed process (not a power cut) at a
            # fraction of the cost of FULL.
            db.execute("PRAGMA synchronous=NORMAL")
            stop = False
            while not stop:
                items = [self._queue.get()]
                while True:  # group commit: take everything queued so far
                    try:
                        items.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                done: list[tuple[Future[Any], Any, BaseException | None]] = []
                db.execute("BEGIN")
                for item in items:
                    if item is None:
                        stop = True
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
                db.execute("COMMIT")
                for future, result, error in done:
                    if future.cancelled():  # its waiter was cancelled meanwhile
                        continue
                    if error is None:
                        future.set_result(result)
                    else:
                        future.set_exception(error)
        except BaseException as exc:  # keep the loop side informed instead of hanging it
            self._failure = exc
            self._drain(exc)
        finally:
            db.close()

    def _drain(self, exc: BaseException) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None and item[1] is not None:
                item[1].set_exception(exc)

    def _post(self, job: _Job) -> None:
        if self._failure is not None:
            raise RuntimeError(f"journal {self.path} failed: {self._failure!r}")
        self._queue.put((job, None))

    async def _call(self, job: Callable[[sqlite3.Connection], T]) -> T:
        if self._failure is not None:
            raise RuntimeError(f"journal {self.path} failed: {self._failure!r}")
        future: Future[T] = Future()
        self._queue.put((job, future))
        return await asyncio.wrap_future(future)

    async def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        await self._call(lambda db: None)

    # -- what the run records ----------------------------------------------------------------

    def add_batch(
        self,
        seq: int,
        ids: Sequence[str],
        *,
        position: int | None = None,
        duplicates: int | None = None,
        rejected: Sequence[RejectedId] = (),
        parent: int | None = None,
    ) -> None:
        """Record a new batch as ``pending`` (with any local rejections read before it)."""
        row = (seq, parent, ",".join(ids), len(ids), position, duplicates)
        rows = [(None, r.id, r.code, r.message) for r in rejected]

        def job(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO batch (seq, parent, ids, size, state, position, duplicates)"
                " VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                row,
            )
            if rows:
                db.executemany("INSERT INTO rejected VALUES (?, ?, ?, ?)", rows)

        self._post(job)

    async def mark_submitting(self, seq: int) -> None:
        """Record that the batch is about to be sent; returns once that is on disk."""
        await self._call(
            lambda db: db.execute("UPDATE batch SET state='submitting' WHERE seq=?", (seq,))
        )

    def mark_pending(self, seq: int) -> None:
        """Record that a batch was not sent after all (the run stopped first)."""
        self._set_state(seq, "pending")

    def mark_submitted(self, seq: int, job_id: str) -> None:
        """Record the job id Zoho gave the batch."""
        self._post(
            lambda db: db.execute(
                "UPDATE batch SET state='submitted', job_id=? WHERE seq=?", (job_id, seq)
            )
        )

    def mark_finished(self, seq: int, status: JobStatus) -> None:
        """Record a job's final status."""
        text = json.dumps(status_to_dict(status))
        self._post(
            lambda db: db.execute(
                "UPDATE batch SET state='finished', status=? WHERE seq=?", (text, seq)
            )
        )

    def mark_split(
        self, seq: int, children: Sequence[tuple[int, Sequence[str]]], *, settling: bool
    ) -> None:
        """Record that failure isolation replaced a batch by child batches."""
        rows = [(child, seq, ",".join(ids), len(ids), int(settling)) for child, ids in children]

        def job(db: sqlite3.Connection) -> None:
            db.execute("UPDATE batch SET state='split' WHERE seq=?", (seq,))
            db.executemany(
                "INSERT INTO batch (seq, parent, ids, size, state, settling)"
                " VALUES (?, ?, ?, ?, 'pending', ?)",
                rows,
            )

        self._post(job)

    def mark_rejected(
        self, seq: int, rejected: Sequence[RejectedId], already: Sequence[str] = ()
    ) -> None:
        """Record that every id of a batch was refused (``already``: found converted by the
        run's earlier submission)."""
        rows = [(seq, r.id, r.code, r.message) for r in rejected]
        found = [(seq, value) for value in already]

        def job(db: sqlite3.Connection) -> None:
            db.execute("UPDATE batch SET state='rejected' WHERE seq=?", (seq,))
            db.executemany("INSERT INTO rejected VALUES (?, ?, ?, ?)", rows)
            db.executemany("INSERT INTO already VALUES (?, ?)", found)

        self._post(job)

    def mark_parked(self, seq: int, *, maybe_sent: bool) -> None:
        """Record that a batch waits to be settled by resubmission (``maybe_sent``: an earlier
        submission of it may have reached Zoho)."""
        flag = int(maybe_sent)
        self._post(
            lambda db: db.execute(
                "UPDATE batch SET state='uncertain', settling=MAX(settling, ?) WHERE seq=?",
                (flag, seq),
            )
        )

    def mark_uncertain_final(self, seq: int) -> None:
        """Record that settling gave up on a batch: its ids stay uncertain."""
        self._set_state(seq, "uncertain_final")

    def add_lost_job(self, seq: int, lost: LostJob) -> None:
        """Record a job whose outcome was lost (its batch is parked to be settled)."""
        status = json.dumps(status_to_dict(lost.last_status)) if lost.last_status else None
        row = (seq, lost.job_id, lost.size, lost.reason, status)
        self._post(lambda db: db.execute("INSERT INTO lost VALUES (?, ?, ?, ?, ?)", row))

    def add_local_rejected(self, rejected: Sequence[RejectedId]) -> None:
        """Record ids refused locally after the last batch (at the end of the input)."""
        rows = [(None, r.id, r.code, r.message) for r in rejected]
        self._post(lambda db: db.executemany("INSERT INTO rejected VALUES (?, ?, ?, ?)", rows))

    def set_input_complete(self, position: int, duplicates: int) -> None:
        """Record that the whole input was read."""
        values = {"input_complete": "1", "position": str(position), "duplicates": str(duplicates)}
        self._post(lambda db: _put(db, values))

    def note_longest_job(self, seconds: float) -> None:
        """Record the longest job duration seen, so a resumed run knows how long a job lost in
        a crash may still run before its ids are resubmitted."""
        self._post(lambda db: _put(db, {"longest_job": repr(float(seconds))}))

    def add_requests(self, requests: int) -> None:
        """Add this session's request count to the run's total."""

        def job(db: sqlite3.Connection) -> None:
            row = db.execute("SELECT value FROM run WHERE key='requests'").fetchone()
            _put(db, {"requests": str(int(row[0]) + requests if row else requests)})

        self._post(job)

    def _set_state(self, seq: int, state: str) -> None:
        self._post(lambda db: db.execute("UPDATE batch SET state=? WHERE seq=?", (state, seq)))

    # -- reading -----------------------------------------------------------------------------

    async def load(self) -> JournalState:
        """Read the whole run back (done on the journal's thread)."""
        return await self._call(_load)

    async def iter_all_ids(self, chunk: int = 1000) -> list[list[str]]:
        """Every id of every top-level batch, in chunks (to rebuild the duplicate filter)."""

        def job(db: sqlite3.Connection) -> list[list[str]]:
            cursor = db.execute("SELECT ids FROM batch WHERE parent IS NULL ORDER BY seq")
            return [row[0].split(",") for row in cursor]

        return await self._call(job)


async def _finish_even_if_cancelled(work: Callable[[], int], *, undo: Callable[[int], None]) -> int:
    """Run ``work`` on a thread; if the caller is cancelled meanwhile, wait for the thread and
    ``undo`` its result, so a cancelled creation leaves no file, thread or descriptor behind."""
    task = asyncio.ensure_future(asyncio.to_thread(work))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({task})
        if not task.cancelled() and task.exception() is None:
            undo(task.result())
        raise


def _discard(path: Path, fd: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    os.close(fd)


def _put(db: sqlite3.Connection, values: dict[str, str]) -> None:
    db.executemany("INSERT OR REPLACE INTO run VALUES (?, ?)", list(values.items()))


def _rows(db: sqlite3.Connection, sql: str) -> Iterator[tuple[Any, ...]]:
    with contextlib.closing(db.execute(sql)) as cursor:
        yield from cursor


def _status(text: str | None) -> JobStatus | None:
    return status_from_dict(json.loads(text)) if text else None


def _load(db: sqlite3.Connection) -> JournalState:
    run = dict(db.execute("SELECT key, value FROM run").fetchall())
    batches: list[BatchRecord] = []
    total = 0
    position = 0
    duplicates = 0
    next_seq = 0
    for seq, parent, ids, size, state, job_id, status, pos, dups, settling in _rows(
        db,
        "SELECT seq, parent, ids, size, state, job_id, status, position, duplicates, settling"
        " FROM batch ORDER BY seq",
    ):
        next_seq = max(next_seq, seq + 1)
        if parent is None:
            total += size
            if pos is not None and pos >= position:
                position, duplicates = pos, dups or 0
        if state == "split":
            continue
        batches.append(
            BatchRecord(
                seq=seq,
                parent=parent,
                ids=tuple(ids.split(",")) if ids else (),
                state=state,
                job_id=job_id,
                status=_status(status),
                settling=bool(settling),
            )
        )
    rejected = []
    local = 0
    for seq, id_, code, message in _rows(db, "SELECT seq, id, code, message FROM rejected"):
        rejected.append(RejectedId(id=id_, code=code, message=message))
        local += seq is None
    already = tuple(row[0] for row in _rows(db, "SELECT id FROM already ORDER BY rowid"))
    lost = tuple(
        LostJob(job_id=job_id, size=size, reason=reason, last_status=_status(status))
        for job_id, size, reason, status in _rows(
            db, "SELECT job_id, size, reason, status FROM lost ORDER BY rowid"
        )
    )
    complete = run.get("input_complete") == "1"
    if complete:
        position = int(run.get("position", position))
        duplicates = int(run.get("duplicates", duplicates))
    return JournalState(
        params=RunParams.from_json(run["params"]),
        batches=tuple(batches),
        rejected=tuple(rejected),
        local_rejected=local,
        total_in_batches=total,
        position=position,
        duplicates=duplicates,
        input_complete=complete,
        requests=int(run.get("requests", 0)),
        next_seq=next_seq,
        already_converted_ids=already,
        lost_jobs=lost,
        longest_job=float(run.get("longest_job", 0.0)),
    )
