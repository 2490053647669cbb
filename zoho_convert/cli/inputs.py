"""Reading record ids for the CLI: one per line, or one CSV column; from a file or stdin.

The source is checked before anything is sent (it opens, it is not empty, the column exists);
the ids themselves are then streamed lazily, so a file of a million ids is never held in
memory. An id that is not valid is left for ``convert_many`` to report as rejected.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from zoho_convert.cli.settings import UsageError
from zoho_convert.models import LeadConversion
from zoho_convert.wire import lead_conversion_from_wire

__all__ = ["open_ids", "read_lead_options"]


def _open(path: str) -> IO[str]:
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="")
    try:
        return Path(path).open(encoding="utf-8-sig", newline="")
    except OSError as error:
        raise UsageError(f"cannot read ids file {path}: {error.strerror or error}") from None


def _lines(stream: IO[str]) -> Iterator[str]:
    for line in stream:
        text = line.strip()
        if text:
            yield text


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
            return _closing(itertools.chain([first], lines), stream)
        reader = csv.DictReader(stream)
        fields = reader.fieldnames
        if not fields:
            raise UsageError(f"{name} is empty: expected a CSV header with a {column!r} column")
        if column not in fields:
            raise UsageError(
                f"{name} has no column {column!r}; its columns are: {', '.join(fields)}"
            )
        values = (str(row.get(column) or "").strip() for row in reader)
        rows = (value for value in values if value)
        first = next(rows, None)
        if first is None:
            raise UsageError(f"{name} holds no ids in column {column!r}")
        return _closing(itertools.chain([first], rows), stream)
    except UnicodeDecodeError:
        stream.close()
        raise UsageError(f"{name} is not UTF-8 text") from None
    except csv.Error as error:
        stream.close()
        raise UsageError(f"{name} is not valid CSV: {error}") from None
    except UsageError:
        stream.close()
        raise


def _closing(ids: Iterator[str], stream: IO[str]) -> Iterator[str]:
    try:
        yield from ids
    finally:
        if stream is not sys.stdin:
            stream.close()


def read_lead_options(path: str | None) -> LeadConversion | None:
    """Read lead-conversion options from a JSON file in Zoho's Convert Lead format.

    Raises:
        UsageError: the file cannot be read, is not JSON, or the options are malformed.
    """
    if path is None:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot read options file {path}: {error.strerror or error}") from None
    try:
        payload = json.loads(text)
    except ValueError as error:
        raise UsageError(f"options file {path} is not valid JSON: {error}") from None
    try:
        return lead_conversion_from_wire(payload)
    except ValueError as error:
        raise UsageError(f"options file {path}: {error}") from None
