"""The journal's file: the lock's message, atomic creation (also racing another run, and on
a file system without hard links), and ``journal_input_complete``."""

from __future__ import annotations

import errno
import fcntl
import gc
import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_convert_api import FakeAPI

from zoho_convert import JournalInUseError, journal_input_complete
from zoho_convert.api.models import ModuleRef
from zoho_convert.bulk.convert import convert_many
from zoho_convert.bulk.events import BatchRead, InputEnded
from zoho_convert.bulk.journal import Journal
from zoho_convert.bulk.journal import _discard as discard
from zoho_convert.bulk.journal_file import create_locked, holder_id, open_locked
from zoho_convert.bulk.spec import RunParams

PARAMS = RunParams(module="Quotes", to=ModuleRef("Sales_Orders", "1"))


def in_use(path: Path, by: str) -> str:
    return (
        f"journal {path} is in use by {by}; wait for that run to end (or stop it) and "
        "resume it then"
    )


def exists(path: Path) -> str:
    return f"a journal exists at {path}: resume that run, or pick a new path"


def open_fds() -> int:
    """This process's open descriptors (after collecting garbage: an earlier test's unclosed
    object must not close its descriptor while a test counts)."""
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".creating"))


@pytest.fixture
def held_without_holder(tmp_path: Path) -> Iterator[Path]:
    """A journal that names no holder (an older one), locked by another open file."""
    path = tmp_path / "old.db"
    os.close(create_locked(path, lambda db: None))
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM run WHERE key='holder'")
    db.close()
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield path
    finally:
        os.close(fd)


async def test_a_journal_in_use_names_its_holder(tmp_path: Path) -> None:
    """A journal held by a run (even one just created) refuses resume and a new run on it,
    with the holder named in the message and the attributes."""
    path = tmp_path / "run.db"
    journal = await Journal.create(path, PARAMS)
    try:
        with pytest.raises(JournalInUseError) as opened:
            await Journal.open(path)
        with pytest.raises(JournalInUseError) as created:
            await convert_many(FakeAPI(), "Quotes", ["1"], to="Sales_Orders", journal=str(path))
        with pytest.raises(JournalInUseError) as asked:
            await journal_input_complete(path)
    finally:
        await journal.close()
    for error in (opened.value, created.value, asked.value):
        assert str(error) == in_use(path, f"process {holder_id()}")
        assert (error.path, error.holder) == (path, holder_id())


async def test_a_journal_in_use_without_a_holder_says_another_process(
    held_without_holder: Path,
) -> None:
    """A locked journal that does not say who holds it: the message says 'another process'."""
    path = held_without_holder
    with pytest.raises(JournalInUseError) as opened:
        await Journal.open(path)
    with pytest.raises(JournalInUseError) as created:
        await convert_many(FakeAPI(), "Quotes", ["1"], to="Sales_Orders", journal=str(path))
    for error in (opened.value, created.value):
        assert str(error) == in_use(path, "another process")
        assert (error.path, error.holder) == (path, None)


async def test_a_new_run_on_an_existing_journal_is_refused_by_name(tmp_path: Path) -> None:
    """An existing journal (not running), an unreadable file or a dangling link at the path:
    convert_many refuses it with FileExistsError naming the path, before any request."""
    journal = tmp_path / "run.db"
    await (await Journal.create(journal, PARAMS)).close()
    link = tmp_path / "link.db"
    link.symlink_to(tmp_path / "nowhere.db")
    api = FakeAPI()
    for path in (journal, link):
        with pytest.raises(FileExistsError) as refused:
            await convert_many(api, "Quotes", ["1"], to="Sales_Orders", journal=str(path))
        assert str(refused.value) == exists(path)
    assert api.request_count == 0


@pytest.mark.parametrize("kind", ["missing", "a file", "read-only"])
async def test_a_new_journal_in_a_folder_it_cannot_be_made_in_is_refused_before_any_request(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A journal path whose folder is missing, is a file, or cannot be written: convert_many
    refuses it with a ValueError naming the folder, before any request (the target module's
    id is resolved before the journal is made) and before any file is made."""
    folders = {"missing": tmp_path / "nope", "a file": tmp_path / "file", "read-only": tmp_path}
    folder = folders[kind]
    if kind == "a file":
        folder.write_text("")
    if kind == "read-only":  # (root may write anywhere: a chmod cannot show it)
        access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: p != tmp_path and access(p, mode))
    api = FakeAPI()
    with pytest.raises(ValueError) as refused:
        journal = str(folder / "r.db")
        await convert_many(api, "Quotes", ["1"], to="Sales_Orders", journal=journal)
    said = "cannot be written" if kind == "read-only" else "does not exist: create it first"
    assert str(refused.value).startswith(f"journal folder {folder} {said}")
    assert api.request_count == 0
    assert os.listdir(tmp_path) == (["file"] if kind == "a file" else [])


async def test_an_unreadable_file_at_the_path_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that cannot be opened to check its lock is still there: FileExistsError."""
    path = tmp_path / "run.db"
    path.write_bytes(b"someone else's")
    real_open = os.open

    def unreadable(name: Any, *args: Any, **kwargs: Any) -> int:
        if Path(name) == path:
            raise PermissionError(errno.EACCES, "Permission denied", str(name))
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(os, "open", unreadable)
    fds = open_fds()
    with pytest.raises(FileExistsError) as refused:
        await convert_many(FakeAPI(), "Quotes", ["1"], to="Sales_Orders", journal=str(path))
    assert str(refused.value) == exists(path)
    assert open_fds() == fds
    assert path.read_bytes() == b"someone else's"


def test_creation_refuses_an_existing_path_before_building_anything(tmp_path: Path) -> None:
    """create_locked on an existing file: FileExistsError at once, nothing built, nothing
    left behind, the file untouched."""
    path = tmp_path / "run.db"
    path.write_bytes(b"mine")
    built: list[object] = []
    with pytest.raises(FileExistsError) as refused:
        create_locked(path, built.append)
    assert str(refused.value) == exists(path)
    assert built == [] and leftovers(tmp_path) == [] and path.read_bytes() == b"mine"


@pytest.mark.parametrize("hard_links", [True, False], ids=["link", "rename"])
def test_creation_never_replaces_a_file_that_appeared_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hard_links: bool
) -> None:
    """Another run creates the journal while this one builds it: this one fails with
    FileExistsError naming the path, the other's file is untouched, nothing is left behind."""
    path = tmp_path / "run.db"
    if not hard_links:
        monkeypatch.setattr(os, "link", no_hard_links)

    def race(db: sqlite3.Connection) -> None:
        path.write_bytes(b"the other run's journal")

    fds = open_fds()
    with pytest.raises(FileExistsError) as refused:
        create_locked(path, race)
    assert str(refused.value).startswith(f"a journal exists at {path}")
    assert path.read_bytes() == b"the other run's journal"
    assert leftovers(tmp_path) == [] and open_fds() == fds


def no_hard_links(source: Any, target: Any) -> None:
    raise OSError(errno.EPERM, "Operation not permitted")


async def test_creation_without_hard_links_moves_the_journal_into_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a file system without hard links the complete journal is renamed into place: it
    opens with its parameters, is private, and no temporary file stays."""
    path = tmp_path / "run.db"
    monkeypatch.setattr(os, "link", no_hard_links)
    journal = await Journal.create(path, PARAMS)
    await journal.close()
    assert leftovers(tmp_path) == [] and path.stat().st_mode & 0o777 == 0o600
    opened = await Journal.open(path)
    try:
        params, events = await opened.load()
    finally:
        await opened.close()
    assert (params, events) == (PARAMS, [])


def test_a_failed_creation_leaves_nothing(tmp_path: Path) -> None:
    """When building the journal fails, its error comes out and no journal, temporary file or
    descriptor is left."""

    def broken(db: sqlite3.Connection) -> None:
        raise ValueError("bad parameters")

    fds = open_fds()
    with pytest.raises(ValueError, match="bad parameters"):
        create_locked(tmp_path / "run.db", broken)
    assert list(tmp_path.iterdir()) == [] and open_fds() == fds


async def test_input_complete_says_whether_the_run_read_all_its_input(tmp_path: Path) -> None:
    """journal_input_complete: False for a run still reading, True once its input ended;
    the journal is free again afterwards."""
    path = tmp_path / "run.db"
    journal = await Journal.create(path, PARAMS)
    journal.record(BatchRead(0, ("1", "2"), 2, 2, 0))
    await journal.close()
    assert await journal_input_complete(str(path)) is False
    journal = await Journal.open(path)
    journal.record(InputEnded(2, 0))
    await journal.close()
    assert await journal_input_complete(path) is True
    os.close(open_locked(path))  # not left locked


async def test_input_complete_of_a_journal_that_never_recorded_it(tmp_path: Path) -> None:
    """A journal without an input_complete entry (an older one) has not read all its input."""
    path = tmp_path / "run.db"
    await (await Journal.create(path, PARAMS)).close()
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM run WHERE key='input_complete'")
    db.close()
    assert await journal_input_complete(path) is False


async def test_input_complete_refuses_what_is_not_a_journal(
    tmp_path: Path, held_without_holder: Path
) -> None:
    """journal_input_complete: no file is FileNotFoundError, a foreign file ValueError, a
    held journal JournalInUseError."""
    with pytest.raises(FileNotFoundError, match="no journal at"):
        await journal_input_complete(tmp_path / "missing.db")
    foreign = tmp_path / "notes.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    db.close()
    with pytest.raises(ValueError, match="not a zoho_convert journal"):
        await journal_input_complete(foreign)
    with pytest.raises(JournalInUseError):
        await journal_input_complete(held_without_holder)


def sqlite_file(path: Path, *statements: str) -> Path:
    with sqlite3.connect(path) as db:
        for statement in statements:
            db.execute(statement)
    db.close()
    return path


RUN_TABLE = "CREATE TABLE run (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
PARAMS_ROW = "INSERT INTO run VALUES ('params', '{}')"


@pytest.mark.parametrize(
    ("statements", "message"),
    [
        (["CREATE TABLE notes (text TEXT)"], "not a zoho_convert journal"),
        ([RUN_TABLE, PARAMS_ROW], "not a zoho_convert journal (or an unsupported format)"),
        (
            [RUN_TABLE, PARAMS_ROW, "INSERT INTO run VALUES ('format', 'two')"],
            "not a zoho_convert journal (or an unsupported format)",
        ),
        (
            [RUN_TABLE, PARAMS_ROW, "INSERT INTO run VALUES ('format', '4')"],
            "not a zoho_convert journal (or an unsupported format)",
        ),
        (
            [RUN_TABLE, "INSERT INTO run VALUES ('format', '2')"],
            "an incomplete journal: it holds no run parameters",
        ),
    ],
    ids=["foreign", "no-format", "format-two", "format-4", "no-params"],
)
async def test_a_database_that_is_not_a_journal_is_refused_by_name(
    tmp_path: Path, statements: list[str], message: str
) -> None:
    """A SQLite file that is not a journal of a supported format: ValueError saying which, and
    the file is left as it was and unlocked."""
    path = sqlite_file(tmp_path / "other.db", *statements)
    before = path.read_bytes()
    with pytest.raises(ValueError) as refused:
        await Journal.open(path)
    assert str(refused.value) == message
    assert path.read_bytes() == before
    os.close(open_locked(path))


async def test_a_file_that_is_not_sqlite_is_refused_by_name(tmp_path: Path) -> None:
    """A file that is not a SQLite database at all: ValueError naming it, nothing opened."""
    path = tmp_path / "notes.txt"
    path.write_text("a shopping list\n" * 4)
    fds = open_fds()
    with pytest.raises(ValueError) as refused:
        await Journal.open(path)
    assert str(refused.value) == f"{path} is not a zoho_convert journal"
    assert open_fds() == fds


async def test_a_lock_the_file_system_refuses_is_reported_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file system without locks (flock fails with ENOLCK): that error, no descriptor kept."""
    path = tmp_path / "run.db"
    await (await Journal.create(path, PARAMS)).close()

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    fds = open_fds()
    with pytest.raises(OSError, match="No locks available"):
        open_locked(path)
    assert open_fds() == fds


def test_undoing_a_creation_whose_file_is_gone_still_releases_it(tmp_path: Path) -> None:
    """The undo of a cancelled creation finds the journal removed already: no error, and its
    descriptor (its lock) is released all the same."""
    path = tmp_path / "run.db"
    fd = create_locked(path, lambda db: None)
    path.unlink()
    fds = open_fds()
    discard(path, fd)
    assert open_fds() == fds - 1


def test_creation_never_adopts_a_file_at_its_temporary_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone planted a link at the temporary name the creation will use: the creation fails
    rather than write through it, and the link's target is untouched."""
    target = tmp_path / "elsewhere.txt"
    target.write_text("precious")
    fixed = uuid.UUID(int=7)
    monkeypatch.setattr(uuid, "uuid4", lambda: fixed)
    planted = tmp_path / f".run.db.{fixed.hex}.creating"
    planted.symlink_to(target)
    with pytest.raises(FileExistsError):
        create_locked(tmp_path / "run.db", lambda db: None)
    assert target.read_text() == "precious"
    assert not (tmp_path / "run.db").exists()


async def test_closing_a_journal_twice_releases_its_lock_once(tmp_path: Path) -> None:
    """A second close (a run closing a journal an error path closed already) does nothing:
    no error, and no descriptor of anything else is closed in its place."""
    path = tmp_path / "run.db"
    journal = await Journal.create(path, PARAMS)
    await journal.close()
    fds = open_fds()
    other = os.open(path, os.O_RDONLY)  # may take the number the lock had
    try:
        await journal.close()
        assert open_fds() == fds + 1
        os.fstat(other)
    finally:
        os.close(other)
    os.close(open_locked(path))  # released


@pytest.mark.parametrize("kind", ["empty", "directory", "not a path"])
async def test_a_path_that_can_never_be_a_journal_is_refused_by_name(
    tmp_path: Path, kind: str
) -> None:
    """An empty path, a directory or a value that is not a path: resume and
    journal_input_complete refuse it with a message saying what to give instead."""
    path: Any = {"empty": "", "directory": tmp_path, "not a path": 7}[kind]
    error, message = {
        "empty": (ValueError, "journal path is empty: give a file name such as run.db"),
        "directory": (
            ValueError, f"journal path {tmp_path} is a directory: give a file name in it"
        ),
        "not a path": (TypeError, "journal must be a path, not int"),
    }[kind]
    with pytest.raises(error) as opened:
        await Journal.open(path)
    with pytest.raises(error) as asked:
        await journal_input_complete(path)
    assert str(opened.value) == str(asked.value) == message
    assert os.listdir(tmp_path) == []
