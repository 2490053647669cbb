"""The journal's file: atomic creation, the one-process lock, and the schema.

A journal is held by one process at a time: an OS lock (``flock``) on the file, taken when it
is created or opened and held until the run closes it, released by the kernel if the process
dies. A second ``convert_many``/``resume`` on it fails at once with ``JournalInUseError``
naming the holder. Creation is atomic: the file is built under a temporary name, then linked
into place, so a journal is either complete or absent (never a 0-byte file left by a cancelled
or killed run).

Everything here is synchronous and runs on a worker thread (``journal.py`` calls it through
``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

from zoho_convert.api.errors import ZohoConvertError

__all__ = [
    "FORMAT",
    "JournalInUseError",
    "check_format",
    "check_intact",
    "check_journal_path",
    "create_locked",
    "damaged",
    "holder_id",
    "journal_input_complete",
    "open_locked",
    "refuse_existing",
]

#: The journal format this version writes; format 1 and 2 files are brought up to it when
#: opened. Format 3 added the batch state ``converted`` (a record settled by a single
#: convert), which a format 2 reader would take for a batch never sent: it refuses format 3.
FORMAT = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS run (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batch (
    seq INTEGER PRIMARY KEY,
    parent INTEGER,
    ids TEXT NOT NULL,
    size INTEGER NOT NULL,
    state TEXT NOT NULL,
    job_id TEXT,
    status TEXT,
    position INTEGER,
    duplicates INTEGER,
    settling INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS rejected (
    seq INTEGER,
    id TEXT NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS already (seq INTEGER, id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lost (
    seq INTEGER NOT NULL,
    job_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    reason TEXT NOT NULL,
    status TEXT
);
"""

# The statements (SQL keywords are not case-sensitive: no mutation of their case could change
# what is read or written, so they stay out of the functions mutmut mutates).
_WAL = "PRAGMA journal_mode=WAL"
_PUT = "INSERT OR REPLACE INTO run VALUES (?, ?)"
_HOLDER = "SELECT value FROM run WHERE key='holder'"
_INPUT_COMPLETE = "SELECT value FROM run WHERE key='input_complete'"
_FORMAT = "SELECT value FROM run WHERE key='format'"
_PARAMS = "SELECT 1 FROM run WHERE key='params'"
_QUICK_CHECK = "PRAGMA quick_check(1)"
_ADD_SETTLING = "ALTER TABLE batch ADD COLUMN settling INTEGER NOT NULL DEFAULT 0"
_PARKED_MAY_BE_SENT = "UPDATE batch SET settling=1 WHERE state IN ('uncertain', 'uncertain_final')"


class JournalInUseError(ZohoConvertError):
    """Another process holds the journal (a second ``resume`` of one run, a cron overlap).

    Attributes:
        path: the journal's path.
        holder: who holds it (``pid 1234 on host``), when the journal says.
    """

    def __init__(self, path: Path, holder: str | None) -> None:
        by = f"process {holder}" if holder else "another process"
        super().__init__(
            f"journal {path} is in use by {by}; wait for that run to end (or stop it) and "
            "resume it then"
        )
        self.path = path
        self.holder = holder


def holder_id() -> str:
    """How this process is named to another that finds the journal locked."""
    return f"{os.getpid()} on {socket.gethostname()}"


def check_journal_path(path: str | os.PathLike[str]) -> Path:
    """Refuse a journal path that can never be a journal file, before any file is made.

    Raises:
        TypeError: ``path`` is not a str or path.
        ValueError: it is empty or a directory.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"journal must be a path, not {type(path).__name__}")
    if not os.fspath(path):
        raise ValueError("journal path is empty: give a file name such as run.db")
    resolved = Path(path)
    if resolved.is_dir():
        raise ValueError(f"journal path {resolved} is a directory: give a file name in it")
    return resolved


def refuse_existing(path: Path) -> None:
    """Refuse to start a new run on a journal path that exists.

    Raises:
        JournalInUseError: a running process holds the journal there.
        FileExistsError: a journal (or any file) is there: resume that run, or pick a new path.
        ValueError: nothing is there, but its folder is missing or cannot be written.
    """
    if not (path.exists() or path.is_symlink()):
        _refuse_unwritable_folder(path)
        return
    if path.is_file():
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            pass  # unreadable: whether a run holds it cannot be told, but it is there
        else:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                raise JournalInUseError(path, _read_holder(path)) from None
            finally:
                os.close(fd)
    raise FileExistsError(f"a journal exists at {path}: resume that run, or pick a new path")


def _refuse_unwritable_folder(path: Path) -> None:
    """Refuse a new journal's path whose folder is missing or cannot be written, before any
    request (the journal is made only once the run's target module is resolved).

    Raises:
        ValueError: the folder does not exist, is not a folder, or cannot be written.
    """
    folder = path.parent
    if not folder.is_dir():
        raise ValueError(
            f"journal folder {folder} does not exist: create it first, or give another path"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"journal folder {folder} cannot be written: give another path")


def _schema(db: sqlite3.Connection) -> None:
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)


def create_locked(path: Path, init: Callable[[sqlite3.Connection], None]) -> int:
    """Create a complete journal at ``path`` and return a descriptor holding its lock.

    Raises:
        FileExistsError: ``path`` exists already.
        OSError: the file cannot be made there (named by ``path``).
    """
    if path.exists() or path.is_symlink():
        raise FileExistsError(f"a journal exists at {path}: resume that run, or pick a new path")
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.creating")
    # O_EXCL: never adopt someone else's file; 0600: the journal names records of customers.
    try:
        fd = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    except OSError as error:  # (named by the journal's path, not the temporary file's)
        raise OSError(error.errno, f"cannot create a journal at {path}: {error.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the lock follows the inode into place
        # One transaction (committed when the block ends); the file is not in place before.
        with contextlib.closing(sqlite3.connect(temporary)) as db, db:
            db.execute(_WAL)
            _schema(db)
            db.executemany(_PUT, [("format", str(FORMAT)), ("holder", holder_id())])
            init(db)
        _link_into_place(temporary, path)
    except BaseException:
        os.close(fd)
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return fd


def _link_into_place(temporary: Path, path: Path) -> None:
    try:
        os.link(temporary, path)  # atomic, and never replaces a file that appeared meanwhile
    except FileExistsError:
        raise FileExistsError(
            f"a journal exists at {path}: resume that run, or pick a new path"
        ) from None
    except OSError:
        # A file system without hard links: a rename is atomic too, checked just before.
        if path.exists():
            raise FileExistsError(f"a journal exists at {path}") from None
        os.rename(temporary, path)


def open_locked(path: Path) -> int:
    """Open an existing journal's file and take its lock; return the descriptor.

    Raises:
        FileNotFoundError: there is no journal at ``path``.
        ValueError: the file is not a zoho_convert journal.
        JournalInUseError: another process holds it.
    """
    if not path.is_file():
        raise FileNotFoundError(f"no journal at {path}")
    with path.open("rb") as file:
        if file.read(16) != b"SQLite format 3\x00":
            raise ValueError(f"{path} is not a zoho_convert journal")
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise JournalInUseError(path, _read_holder(path)) from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_holder(path: Path) -> str | None:
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=1.0)) as db:
            row = db.execute(_HOLDER).fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


def check_format(db: sqlite3.Connection) -> None:
    """Refuse a file that is not a journal; bring a format 1 or 2 journal up to this format.

    Raises:
        ValueError: not a zoho_convert journal, an unsupported format, or no run parameters.
    """
    try:
        row = db.execute(_FORMAT).fetchone()
        params = db.execute(_PARAMS).fetchone()
    except sqlite3.OperationalError as exc:  # (no such table: another database)
        raise ValueError("not a zoho_convert journal") from exc
    except sqlite3.DatabaseError as exc:  # (malformed: a journal, or not, damaged)
        raise damaged(exc) from exc
    if row is None or not str(row[0]).isdigit() or int(row[0]) not in (1, 2, FORMAT):
        raise ValueError("not a zoho_convert journal (or an unsupported format)")
    if params is None:
        raise ValueError("an incomplete journal: it holds no run parameters")
    check_intact(db)
    if int(row[0]) == 1:
        db.execute(_ADD_SETTLING)
        # Format 1 did not say whether a parked batch may have been sent: assume it may have.
        db.execute(_PARKED_MAY_BE_SENT)
        _schema(db)
    db.executemany(_PUT, [("format", str(FORMAT)), ("holder", holder_id())])


def check_intact(db: sqlite3.Connection) -> None:
    """Refuse a journal whose file is damaged (cut short, overwritten), before it is replayed:
    rows it lost could make a batch sent (or converted) seem never sent.

    Raises:
        ValueError: SQLite finds the file damaged.
    """
    try:
        found = db.execute(_QUICK_CHECK).fetchone()
    except sqlite3.DatabaseError as exc:
        raise damaged(exc) from exc
    if found is None or found[0] != "ok":
        raise damaged(None if found is None else found[0])


def damaged(error: object) -> ValueError:
    """The error of a journal SQLite cannot read whole."""
    return ValueError(
        f"a damaged journal ({_said(error)}): it cannot be resumed; its ids may have been sent, so "
        "convert them again in a new run (Zoho refuses the ones already converted)"
    )


def _said(error: object) -> str:
    return " ".join(str(error).replace("***", "").split())  # (SQLite's can span lines)


def _input_complete(path: Path) -> bool:
    fd = open_locked(path)
    try:
        with contextlib.closing(sqlite3.connect(path)) as db:
            check_format(db)
            row = db.execute(_INPUT_COMPLETE).fetchone()
            db.commit()
    finally:
        os.close(fd)
    return row is not None and row[0] == "1"


async def journal_input_complete(path: str | os.PathLike[str]) -> bool:
    """Whether the run journaled at ``path`` had read all its input (if not, ``resume`` wants
    the same ids again).

    Raises:
        FileNotFoundError: there is no journal at ``path``.
        ValueError: the file is not a (complete) zoho_convert journal.
        JournalInUseError: another process is running the journal.
    """
    return await asyncio.to_thread(_input_complete, check_journal_path(path))
