"""A run stopped by an error (its input broke, a run-wide refusal): what the CLI prints.

``_reporting_stops`` is driven directly with hand-made reports: no server, no clock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from zoho_convert import ConversionReport
from zoho_convert.bulk.report import RejectedId
from zoho_convert.cli.commands import _reporting_stops
from zoho_convert.cli.errors import InputError


def _report(**fields: Any) -> ConversionReport:
    base: dict[str, Any] = dict(
        module="Quotes", to="Sales_Orders", total=0, converted=0, failed=0, not_converted=0,
        rejected=(), unfinished=(), uncertain=(), duplicates=0, jobs=(), requests=1,
        elapsed=1.0,
    )
    base.update(fields)
    return ConversionReport(**base)


def _stopped(report: ConversionReport, tmp_path: Path) -> Path:
    """Raise an ``InputError`` carrying ``report`` inside ``_reporting_stops``; return the
    ``--failed-ids`` path."""
    failed = tmp_path / "failed.tsv"
    args = argparse.Namespace(json=True, failed_ids=str(failed))
    error = InputError("ids.txt is not UTF-8 text further on; the run stopped reading there")
    error.partial_report = report  # type: ignore[attr-defined]

    async def run() -> None:
        async with _reporting_stops(args):
            raise error

    with pytest.raises(InputError):
        asyncio.run(run())
    return failed


NOT_SENT = RejectedId("6", "NOT_SUBMITTED", "the run stopped before sending it")


@pytest.mark.parametrize(
    "fields",
    [
        {"uncertain": ("1", "2")},
        {"converted_by_record": ("1",), "converted": 1},
        {"already_converted_ids": ("1",), "already_converted": 1},
        {"rejected": (RejectedId("1", "INVALID_DATA", "the id seems to be invalid"), NOT_SENT)},
    ],
    ids=["uncertain", "by-record", "already", "refused-by-zoho"],
)
def test_a_stopped_run_without_jobs_still_prints_what_zoho_may_have_done(
    fields: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run stopped with no job kept but ids Zoho may have converted (a lost batch left
    uncertain, records converted or found converted one at a time) or refused: the report is
    printed and ``--failed-ids`` written (before: nothing, as the report had no job)."""
    listed = {key: value for key, value in fields.items() if isinstance(value, tuple)}
    total = sum(len(value) for value in listed.values())
    failed = _stopped(_report(total=total, **fields), tmp_path)
    printed = json.loads(capsys.readouterr().out)
    assert printed["total"] == total
    assert failed.exists()


def test_a_stopped_run_that_sent_nothing_prints_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ids refused locally or never sent: the error line says it all; no report, no file."""
    invalid = RejectedId("x", "INVALID_ID", "record id 'x' is not numeric")
    failed = _stopped(_report(total=2, rejected=(invalid, NOT_SENT)), tmp_path)
    assert capsys.readouterr().out == ""
    assert not failed.exists()
