"""A crash-safe SQLite journal of a run, so an interrupted run can resume.

The journal is a subscriber of the run's events: each event updates the run's parameters and,
per batch, its ids and its state:

``pending`` (formed, not sent) -> ``submitting`` (about to be sent; durable before the POST
leaves) -> ``submitted`` (with its job id) -> ``finished`` (with the final status). A batch can
also end ``converted`` (one record settled by the single convert call), ``rejected`` (every id
refused, see the ``rejected`` table), ``split`` (failure isolation, or settling record by
record, replaced it by smaller child batches), ``uncertain`` (parked, to be settled by
resubmission; ``uncertain_unbounded`` when its lost job, seen running, may run for any time:
it never goes again) or ``uncertain_final`` (settling gave up). A batch's ``settling`` flag says an
earlier submission of its ids may have reached Zoho. Ids found converted by such a submission
are in the ``already`` table, jobs whose outcome was lost in the ``lost`` table.

``resume`` replays a journal's rows as events into a fresh run (``journal_replay``). The file
is held by one process at a time and created atomically (``journal_file``); one thread writes
it (``journal_writer``). It is private to its owner (0600) and never holds a credential.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoho_convert.api.models import JobStatus
from zoho_convert.api.wire import converter
from zoho_convert.bulk.events import (
    BatchGaveUp,
    BatchRead,
    BatchSplit,
    BatchSubmitted,
    BatchUncertain,
    Event,
    IdsAlreadyConverted,
    IdsConverted,
    IdsRefused,
    IdsRejected,
    InputEnded,
    JobFinished,
    JobLost,
    JobsInParallel,
    LongestJob,
    RequestsCounted,
    SubmitStarted,
)
from zoho_convert.bulk.journal_file import (
    JournalInUseError,
    check_format,
    check_journal_path,
    create_locked,
    damaged,
    open_locked,
)
from zoho_convert.bulk.journal_replay import replay
from zoho_convert.bulk.journal_writer import Writer, finish_even_if_cancelled
from zoho_convert.bulk.spec import RunParams

__all__ = ["Journal", "JournalInUseError"]

_Sql = Callable[[sqlite3.Connection], object]


class Journal:
    """The journal of one run, backed by a SQLite file and a writer thread.

    Create one with ``await Journal.create(path, params)`` for a new run or
    ``await Journal.open(path)`` to resume; ``await journal.close()`` when done. Either holds
    the file's lock until ``close``.
    """

    def __init__(self, path: Path, lock_fd: int) -> None:
        self._lock_fd = lock_fd
        self._writer = Writer(path)
        self._closed = False

    @classmethod
    async def create(cls, path: str | os.PathLike[str], params: RunParams) -> Journal:
        """Start the journal of a new run (complete on disk, and locked, when this returns).

        Raises:
            FileExistsError: ``path`` exists already (resume that run, or pick a new path).
            ValueError: ``path`` is empty or a directory.
        """
        where = check_journal_path(path)
        text = params.to_json()
        fd = await finish_even_if_cancelled(
            lambda: create_locked(where, lambda db: _put(db, {"params": text})),
            undo=lambda fd: _discard(where, fd),
        )
        journal = cls(where, fd)
        journal._writer.start()
        return journal

    @classmethod
    async def open(cls, path: str | os.PathLike[str]) -> Journal:
        """Open the journal of an earlier run, to resume it.

        Raises:
            FileNotFoundError: there is no journal at ``path``.
            ValueError: the file is not a (complete) zoho_convert journal.
            JournalInUseError: another process holds the journal.
        """
        where = check_journal_path(path)
        fd = await finish_even_if_cancelled(lambda: open_locked(where), undo=os.close)
        journal = cls(where, fd)
        journal._writer.start()
        try:
            await journal._writer.call(check_format)
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
            await self._writer.stop()
        finally:
            if not self._writer.alive:
                os.close(self._lock_fd)

    async def flush(self) -> None:
        """Wait until everything recorded so far is on disk, synced: a power cut (not only a
        killed process) keeps it. A run calls it before each converting POST leaves."""
        await self._writer.flush(durable=True)

    async def load(self) -> tuple[RunParams, list[Event]]:
        """The run's parameters, and the events that rebuild what earlier sessions did.

        Raises:
            ValueError: the journal is damaged (SQLite cannot read it whole).
        """
        try:
            return await self._writer.call(replay)
        except sqlite3.DatabaseError as exc:  # (``open`` checked it; damage found only now)
            raise damaged(exc) from exc

    def record(self, event: Event) -> None:
        """Write one event of the run (queued; ``flush`` waits for it to be on disk)."""
        write = _WRITERS.get(type(event))
        if write is not None:
            self._writer.post(write(event))


def _discard(path: Path, fd: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    os.close(fd)


# The statements, in one place (SQL keywords are not case-sensitive: no mutation of their case
# could change what is written, so they stay out of the functions mutmut mutates).
_PUT = "INSERT OR REPLACE INTO run VALUES (?, ?)"
_REQUESTS = "SELECT value FROM run WHERE key='requests'"
_ORDER_START = "INSERT OR IGNORE INTO run VALUES ('order', '0')"
_ORDER_NEXT = "UPDATE run SET value=CAST(value AS INTEGER) + 1 WHERE key='order'"
_ORDER_OF = "INSERT OR REPLACE INTO run SELECT 'order:' || ?, value FROM run WHERE key='order'"
_READ = (
    "INSERT INTO batch (seq, parent, ids, size, state, position, duplicates)"
    " VALUES (?, NULL, ?, ?, 'pending', ?, ?)"
)
_PART = (
    "INSERT INTO batch (seq, parent, ids, size, state, settling)"
    " VALUES (?, ?, ?, ?, 'pending', ?)"
)
_SPLIT = "UPDATE batch SET state='split' WHERE seq=?"
_REFUSED = "UPDATE batch SET state='rejected' WHERE seq=?"
_UNCERTAIN = "UPDATE batch SET state=?, settling=MAX(settling, ?) WHERE seq=?"
_REJECTED = "INSERT INTO rejected VALUES (?, ?, ?, ?)"
_ALREADY = "INSERT INTO already VALUES (?, ?)"
_LOST = "INSERT INTO lost VALUES (?, ?, ?, ?, ?)"
_UNKEY = "DELETE FROM run WHERE key=?"


def _put(db: sqlite3.Connection, values: dict[str, str]) -> None:
    db.executemany(_PUT, list(values.items()))


def _state(seq: int, state: str, **columns: Any) -> _Sql:
    names = "".join(f", {name}=?" for name in columns)
    values = (state, *columns.values(), seq)
    return lambda db: db.execute(f"UPDATE batch SET state=?{names} WHERE seq=?", values)


def _json(status: JobStatus) -> str:
    return json.dumps(converter.unstructure(status))


def _inserts(*statements: tuple[str, Any]) -> _Sql:
    """Run statements in order: one row (a tuple) each, or many (a list)."""

    def job(db: sqlite3.Connection) -> None:
        for sql, rows in statements:
            if isinstance(rows, list):
                db.executemany(sql, rows)
            else:
                db.execute(sql, rows)

    return job


def _batch_read(event: BatchRead) -> _Sql:
    row = (event.batch, ",".join(event.ids), len(event.ids), event.position, event.duplicates)
    return _inserts((_READ, row))


def _split(event: BatchSplit) -> _Sql:
    flag = int(event.settling)
    rows = [(seq, event.batch, ",".join(ids), len(ids), flag) for seq, ids in event.parts]
    return _inserts((_SPLIT, (event.batch,)), (_PART, rows))


def _refused(event: IdsRejected | IdsAlreadyConverted) -> _Sql:
    rows: tuple[str, list[tuple[Any, ...]]]
    if isinstance(event, IdsRejected):
        rows = (_REJECTED, [(event.batch, r.id, r.code, r.message) for r in event.rejected])
    else:
        rows = (_ALREADY, [(event.batch, value) for value in event.ids])
    return _inserts((_REFUSED, (event.batch,)), rows)


def _lost(event: JobLost) -> _Sql:
    status = None if event.last_status is None else _json(event.last_status)
    return _inserts((_LOST, (event.batch, event.job_id, event.size, event.reason, status)))


def _requests(event: RequestsCounted) -> _Sql:
    def job(db: sqlite3.Connection) -> None:
        row = db.execute(_REQUESTS).fetchone()
        _put(db, {"requests": str(int(row[0]) + event.requests if row else event.requests)})

    return job


def _refused_at_read(event: IdsRefused) -> _Sql:
    rows = _inserts((_REJECTED, [(None, r.id, r.code, r.message) for r in event.rejected]))
    read = {"refused_position": str(event.position), "refused_duplicates": str(event.duplicates)}

    def job(db: sqlite3.Connection) -> None:
        rows(db)
        _put(db, read)  # (a run stopped before a batch resumes past them)

    return job


def _input_ended(event: InputEnded) -> _Sql:
    position, duplicates = str(event.position), str(event.duplicates)
    values = {"input_complete": "1", "position": position, "duplicates": duplicates}
    return lambda db: _put(db, values)


def _in_order(seq: int, write: _Sql) -> _Sql:
    """``write``, and the run key ``order:{seq}`` set to the next number of a counter kept in
    the journal across sessions: when a batch was last sent, or answered. A batch answered
    after one still being sent when the run stopped may hold that one's job id
    (``journal_replay``: it is suspect). (A run key: no column for it in format 3.)"""

    def ordered(db: sqlite3.Connection) -> None:
        write(db)
        db.execute(_ORDER_START)
        db.execute(_ORDER_NEXT)
        db.execute(_ORDER_OF, (seq,))

    return ordered


def _submit_started(event: SubmitStarted) -> _Sql:
    return _in_order(event.batch, _state(event.batch, "submitting"))


def _submitted(event: BatchSubmitted) -> _Sql:
    submitted = _state(event.batch, "submitted", job_id=event.job_id, settling=int(event.settling))
    if not event.suspect:
        return _in_order(event.batch, submitted)

    def suspect(db: sqlite3.Connection) -> None:  # (a run key: no column for it in format 3)
        submitted(db)
        _put(db, {f"suspect:{event.batch}": "1"})

    return _in_order(event.batch, suspect)


def _uncertain(event: BatchUncertain) -> _Sql:
    state = "uncertain_unbounded" if event.unbounded else "uncertain"
    # Whether its next look is final (``second_look``), and whether it goes by record: a run
    # key, as a suspect's (no column for it in format 3; a run of an earlier version ignores
    # it, looking once), gone when parked otherwise.
    look, how = f"look:{event.batch}", "record" if event.by_record else "mass"
    statements: list[tuple[str, Any]] = [
        (_UNCERTAIN, (state, int(event.maybe_sent), event.batch)),
        (_PUT, (look, how)) if event.final_look else (_UNKEY, (look,)),
    ]
    if event.suspects:
        # The batches its job id may be held by (a duplicate, a loss or a stop while in flight):
        # the run keys a suspect submission writes.
        statements.append((_PUT, [(f"suspect:{seq}", "1") for seq in event.suspects]))
    return _inserts(*statements)


def _gave_up(event: BatchGaveUp) -> _Sql:
    return _state(event.batch, "uncertain_final")


def _converted(event: IdsConverted) -> _Sql:
    return _state(event.batch, "converted")


def _finished(event: JobFinished) -> _Sql:
    return _state(event.batch, "finished", status=_json(event.status))


def _longest(event: LongestJob) -> _Sql:
    if event.seen:
        seen = {"longest_seen": repr(float(event.seconds))}
        return lambda db: _put(db, seen)
    values = {"longest_job": repr(float(event.seconds))}
    if event.round_trip is not None:
        values["round_trip"] = repr(float(event.round_trip))
    return lambda db: _put(db, values)


def _in_parallel(_: JobsInParallel) -> _Sql:
    return lambda db: _put(db, {"jobs_in_parallel": "1"})


_WRITERS: dict[type, Callable[[Any], _Sql]] = {
    IdsRefused: _refused_at_read,
    BatchRead: _batch_read,
    InputEnded: _input_ended,
    SubmitStarted: _submit_started,
    BatchSubmitted: _submitted,
    BatchSplit: _split,
    IdsRejected: _refused,
    IdsAlreadyConverted: _refused,
    BatchUncertain: _uncertain,
    BatchGaveUp: _gave_up,
    JobFinished: _finished,
    IdsConverted: _converted,
    JobLost: _lost,
    LongestJob: _longest,
    JobsInParallel: _in_parallel,
    RequestsCounted: _requests,
}
