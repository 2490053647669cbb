"""Reading record ids for the CLI: one per line, or one CSV column; from a file or stdin.

The source is checked before anything is sent (it opens, it is not empty, the column exists,
a CSV given without ``--column`` is recognised); the ids themselves are then streamed lazily,
so a file of a million ids is never held in memory. Zoho's exports write ids as
``zcrm_2423488000000626117``: the prefix is dropped. A ``--failed-ids`` file (``id<TAB>reason``)
is read back as its first column. An id that is not valid is left for ``convert_many`` to
report as rejected.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import functools
import io
import itertools
import json
import os
import shlex
import stat
import sys
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

from zoho_convert import LeadConversion, lead_conversion_from_wire, normalize_id
from zoho_convert.cli.errors import InputError, UsageError

__all__ = ["open_id_source", "open_ids", "read_lead_options", "strip_export_prefix"]


_ZCRM_PREFIX = "zcrm_"  # how Zoho's exports write a record id
_DELIMITERS = (",", ";", "\t")


def strip_export_prefix(value: str) -> str:
    """``zcrm_123`` (an id in a Zoho export) as ``123``; any other value unchanged."""
    if value[:5].lower() == _ZCRM_PREFIX:
        return value[5:]
    return value


def _delimiter(header: str) -> str | None:
    """The CSV delimiter a header line uses (the most frequent of , ; and tab), if any."""
    counts = {delimiter: header.count(delimiter) for delimiter in _DELIMITERS}
    best = max(counts, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else None


def _looks_like_a_header(line: str) -> bool:
    """A first line with a letter that is not an id (``Record Id``, ``Quote Number``)."""
    value = strip_export_prefix(line)
    return not value.isdigit() and any(ch.isalpha() for ch in value)


def _csv_hint(name: str, first: str) -> str:
    """The message for a CSV (or a header line) given without ``--column``."""
    delimiter = _delimiter(first)
    if delimiter is None:
        return (
            f"the first line of {name} is {first!r}, not an id: if it is a column header, "
            f"pass --column {shlex.quote(first)}"
        )
    columns = next(csv.reader([first], delimiter=delimiter))
    idish = [column for column in columns if "id" in column.lower().split()] or columns
    shown = ", ".join(repr(column) for column in columns)
    return (
        f"{name} looks like CSV with columns {shown}; pass --column NAME to say which holds "
        f"the ids, e.g. --column {shlex.quote(idish[0])}"
    )


def _open(path: str) -> IO[str]:
    # A pipe (stdin, a FIFO) may be read on a daemon thread that blocks in read() until the
    # process exits. Read it unbuffered, through a descriptor of its own: a buffered reader
    # holds a lock while it reads, and the interpreter aborts at exit when it meets a lock
    # held by a daemon thread (sys.stdin's buffer, flushed at exit, would be one).
    try:
        if path == "-":
            raw: IO[bytes] = open(os.dup(sys.stdin.fileno()), "rb", buffering=0)  # noqa: SIM115
        elif _is_regular_file(path):
            raw = open(path, "rb")  # noqa: SIM115 (closed by _closing)
        else:
            raw = open(path, "rb", buffering=0)  # noqa: SIM115
    except OSError as error:
        name = "standard input" if path == "-" else f"ids file {path}"
        raise UsageError(f"cannot read {name}: {error.strerror or error}") from None
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def _lines(stream: IO[str]) -> Iterator[str]:
    for line in stream:
        text = line.strip()
        if text:
            yield text


def _first_field(line: str) -> str:
    """The id of an ``id<TAB>reason`` line (a --failed-ids file)."""
    return line.split("\t", 1)[0].strip()


def _is_failed_ids_line(line: str) -> bool:
    """``6201<TAB>INVALID_DATA: …``: a --failed-ids file given back as the ids to convert."""
    return "\t" in line and strip_export_prefix(_first_field(line)).isdigit()


def open_ids(path: str, column: str | None) -> Iterator[str]:
    """Check an ids source and return a lazy iterator over its ids.

    Args:
        path: a file path, or ``-`` for standard input.
        column: the CSV column holding the ids; None for one id per line.

    Raises:
        UsageError: the source cannot be read, is empty, or lacks the column.
    """
    name = "standard input" if path == "-" else path
    stream = _open(path)
    try:
        if column is None:
            lines = _lines(stream)
            first = next(lines, None)
            if first is None:
                raise UsageError(f"{name} holds no ids")
            if _is_failed_ids_line(first):
                lines = map(_first_field, lines)
                first = _first_field(first)
            elif _delimiter(first) is not None or _looks_like_a_header(first):
                raise UsageError(_csv_hint(name, first))
            ids = map(strip_export_prefix, itertools.chain([first], lines))
            return _closing(ids, stream, name)
        header = stream.readline()
        fields = _header_fields(header)
        if not fields:
            raise UsageError(f"{name} is empty: expected a CSV header with a {column!r} column")
        if column not in fields:
            raise UsageError(
                f"{name} has no column {column!r}; its columns are: {', '.join(fields)}"
            )
        reader = csv.DictReader(stream, fieldnames=fields, delimiter=_delimiter(header) or ",")
        values = (strip_export_prefix(str(row.get(column) or "").strip()) for row in reader)
        rows = (value for value in values if value)
        first = next(rows, None)
        if first is None:
            raise UsageError(f"{name} holds no ids in column {column!r}")
        return _closing(itertools.chain([first], rows), stream, name)
    except UnicodeDecodeError:
        stream.close()
        raise UsageError(f"{name} is not UTF-8 text") from None
    except csv.Error as error:
        stream.close()
        raise UsageError(f"{name} is not valid CSV: {error}") from None
    except UsageError:
        stream.close()
        raise


def _header_fields(header: str) -> list[str]:
    """The column names of a CSV header line (comma, semicolon or tab separated)."""
    if not header.strip():
        return []
    delimiter = _delimiter(header) or ","
    return [field.strip() for field in next(csv.reader([header], delimiter=delimiter))]


def _is_regular_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True  # let open_ids say what is wrong with it


async def open_id_source(path: str, column: str | None) -> Iterable[str] | AsyncIterable[str]:
    """Like ``open_ids``, but a pipe, FIFO or terminal (stdin, ``-``) is read on a thread.

    Reading a pipe can block for as long as its writer pauses. Done on the event loop, that
    would stall the polls of running jobs and make Ctrl-C wait for the next line; a daemon
    thread hands the ids over instead (and never keeps the process alive at exit).

    Raises:
        UsageError: as ``open_ids``.
    """
    if path != "-" and _is_regular_file(path):
        return open_ids(path, column)
    handoff = _Handoff(asyncio.get_running_loop())
    threading.Thread(
        target=handoff.run,
        args=(lambda: open_ids(path, column),),
        name="zoho-convert-ids-reader",
        daemon=True,
    ).start()
    await handoff.opened
    return handoff.ids()


class _Handoff:
    """Ids read on a thread, handed to the event loop in bursts, with bounded read-ahead."""

    _LIMIT = 10_000  # ids read ahead at most

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.opened: asyncio.Future[None] = loop.create_future()
        self._ready = asyncio.Event()
        self._lock = threading.Condition()
        self._items: list[str] = []
        self._done = False
        self._error: BaseException | None = None
        self._closed = False

    def _call(self, callback: Callable[[], object]) -> None:
        # A closed loop: the run is over and nobody listens.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(callback)

    def _set_opened(self, error: BaseException | None) -> None:
        if self.opened.done():
            return
        if error is None:
            self.opened.set_result(None)
        else:
            self.opened.set_exception(error)

    def run(self, open_source: Callable[[], Iterator[str]]) -> None:
        """The thread: open and check the source, then read it to its end."""
        try:
            source = open_source()
        except BaseException as problem:
            self._call(functools.partial(self._set_opened, problem))
            return
        self._call(functools.partial(self._set_opened, None))
        error: BaseException | None = None
        try:
            for value in source:
                with self._lock:
                    while len(self._items) >= self._LIMIT and not self._closed:
                        self._lock.wait()
                    if self._closed:
                        return
                    wake = not self._items
                    self._items.append(value)
                if wake:  # one wake-up per burst, not per id
                    self._call(self._ready.set)
        except BaseException as exc:
            error = exc
        with self._lock:
            self._done = True
            self._error = error
        self._call(self._ready.set)

    async def ids(self) -> AsyncIterator[str]:
        """The ids, in order, as the thread reads them."""
        try:
            while True:
                # Clear before taking: an id added after the take sets the event again.
                self._ready.clear()
                with self._lock:
                    items, self._items = self._items, []
                    done, error = self._done, self._error
                    self._lock.notify()
                if items:
                    for value in items:
                        yield value
                    continue
                if done:
                    if error is not None:
                        raise error
                    return
                await self._ready.wait()
        finally:
            with self._lock:
                self._closed = True
                self._lock.notify()


def _closing(ids: Iterator[str], stream: IO[str], name: str) -> Iterator[str]:
    # The source was checked up front, but only its start was read: a fault further on stops
    # the run (convert_many settles what was sent) with a clear message, not a traceback.
    try:
        yield from ids
    except UnicodeDecodeError:
        raise InputError(
            f"{name} is not UTF-8 text further on; the run stopped reading there"
        ) from None
    except csv.Error as error:
        raise InputError(
            f"{name} is not valid CSV further on ({error}); the run stopped reading there"
        ) from None
    finally:
        stream.close()


def read_lead_options(path: str | None) -> LeadConversion | None:
    """Read lead-conversion options from a JSON file (``-``: stdin), Zoho's Convert Lead input.

    Raises:
        UsageError: the file cannot be read, is not JSON, or the options are malformed.
    """
    if path is None:
        return None
    try:
        if path == "-":
            text = sys.stdin.buffer.read().decode("utf-8-sig")
            path = "on standard input"
        else:
            text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as error:
        raise UsageError(f"cannot read options file {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise UsageError(f"options file {path} is not UTF-8 text") from None
    try:
        payload = json.loads(text)
    except ValueError as error:
        raise UsageError(f"options file {path} is not valid JSON: {error}") from None
    try:
        options = lead_conversion_from_wire(payload)
        # The client checks these ids too; checked here, the message names the file.
        for what in ("accounts", "contacts", "assign_to"):
            value = getattr(options, what)
            if value is not None:
                normalize_id(value, what=f"{what} id")
    except (TypeError, ValueError) as error:
        raise UsageError(f"options file {path}: {error}") from None
    return options
