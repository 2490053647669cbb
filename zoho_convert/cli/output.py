"""What the CLI prints on stdout: the report as text or JSON, and the ids that need attention.

Text output is plain lines: machine-readable lines (``rejected <id>: <code> …``, ``job <id>:
…``) are written whole, never wrapped at the terminal's width, so grep and cut work on them.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Mapping
from typing import Any, TextIO

from zoho_convert import ConversionReport, JobState

__all__ = [
    "failed_id_rows",
    "print_report",
    "print_row",
    "write_failed_ids",
]

_SHOWN_REJECTED = 20  # rejected ids listed in the text report; all are in --json/--failed-ids
_SPACES = re.compile(r"\s+")


def _one_line(text: str) -> str:
    """A message as one line without tabs: the second column of a TSV file, a report line."""
    return _SPACES.sub(" ", text).strip()


def print_report(
    report: ConversionReport,
    *,
    as_json: bool,
    interrupted: bool = False,
    failed_ids: str | None = None,
    out: TextIO | None = None,
) -> None:
    """Print a report on stdout: a summary, or the library's JSON with ``as_json``.

    Args:
        report: the report.
        as_json: print ``report.to_json()`` (plus ``"interrupted": true`` when interrupted).
        interrupted: the run was stopped part-way; the report holds what was done so far.
        failed_ids: the ``--failed-ids`` path, named in the text when ids need attention.
        out: where to print (stdout).
    """
    out = out if out is not None else sys.stdout
    if as_json:
        data = report.to_dict()
        if interrupted:
            data["interrupted"] = True
        out.write(json.dumps(data, indent=2) + "\n")
        out.flush()
        return
    out.write("".join(line + "\n" for line in _summary(report, interrupted, failed_ids)))
    out.flush()


def _summary(report: ConversionReport, interrupted: bool, failed_ids: str | None) -> Iterator[str]:
    target = f" → {report.to}" if report.to else ""
    verdict = "interrupted" if interrupted else "OK" if report.ok else "needs attention"
    yield f"{report.module}{target}: {verdict}"
    rows = [
        ("ids read", f"{report.total:,}"),
        ("converted", f"{report.converted:,}"),
        ("failed", f"{report.failed:,}"),
        ("not converted", f"{report.not_converted:,}"),
        ("rejected", f"{len(report.rejected):,}"),
        ("uncertain", f"{len(report.uncertain):,}"),
        ("unfinished jobs", f"{len(report.unfinished_jobs):,}"),
        ("duplicates", f"{report.duplicates:,}"),
        ("jobs", f"{len(report.jobs):,}"),
        ("requests", f"{report.requests:,}"),
        ("elapsed", f"{report.elapsed:.2f} s"),
    ]
    if report.already_converted:
        # Skipped (a fleet's ledger knew them) or found converted while settling.
        rows.insert(2, ("already converted", f"{report.already_converted:,}"))
    width = max(len(value) for _, value in rows)
    labels = max(16, *(len(label) + 1 for label, _ in rows))
    for label, value in rows:
        yield f"  {label:<{labels}}{value:>{width}}"
    for job in report.jobs:
        if job.finished and not job.fully_converted and job.status is not None:
            status = job.status
            yield (
                f"job {job.job_id}: {status.state.value}, {job.size:,} ids: "
                f"{status.converted_count or 0:,} converted, {status.failed_count or 0:,} failed, "
                f"{status.not_converted_count or 0:,} not converted"
            )
    for item in report.rejected[:_SHOWN_REJECTED]:
        yield f"rejected {item.id}: {item.code} {_one_line(item.message)}"
    if len(report.rejected) > _SHOWN_REJECTED:
        more = len(report.rejected) - _SHOWN_REJECTED
        yield f"… and {more:,} more rejected ids (all in --json and --failed-ids)"
    if report.uncertain:
        yield (
            f"{len(report.uncertain):,} ids are uncertain: their submission may have reached "
            "Zoho; check them before converting them again"
        )
    for job_id in report.unfinished_jobs:
        yield f"job {job_id} still running: zoho-convert status {report.module} {job_id} --wait"
    needing = sum(1 for _ in failed_id_rows(report))
    if needing and not interrupted:
        where = f"listed in {failed_ids}" if failed_ids else "--failed-ids FILE lists them"
        yield f"{needing:,} {'id needs' if needing == 1 else 'ids need'} attention: {where}"


def _job_reason(state: JobState | None, converted: int, failed: int, size: int) -> str:
    if state is None:
        return "still running"  # the row reads "job <id> still running"
    return (
        f"{state.value}: {converted:,} of {size:,} converted, {failed:,} failed; "
        "which ids Zoho does not say"
    )


def failed_id_rows(report: ConversionReport) -> Iterator[tuple[str, str]]:
    """``(id, reason)`` for every id that needs a person or another run.

    The ids of jobs that failed, left records unconverted or did not finish; rejected ids
    (with Zoho's code); uncertain ids.
    """
    for job in report.jobs:
        if not job.ids or job.fully_converted:
            continue
        status = job.status
        if status is None:
            reason = _job_reason(None, 0, 0, job.size)
        elif not status.is_final:
            reason = f"unfinished at the poll timeout ({status.state.value})"
        else:
            reason = _job_reason(
                status.state, status.converted_count or 0, status.failed_count or 0, job.size
            )
        for value in job.ids:
            yield value, f"job {job.job_id} {reason}"
    for item in report.rejected:
        yield item.id, _one_line(f"{item.code}: {item.message}")
    for value in report.uncertain:
        yield value, "uncertain: the submission may have reached Zoho; check before converting"


def write_failed_ids(path: str, report: ConversionReport) -> int:
    """Write ``id<TAB>reason`` lines for ``failed_id_rows``; return how many.

    Raises:
        OSError: the file cannot be written.
    """
    count = 0
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for value, reason in failed_id_rows(report):
            out.write(f"{_one_line(value)}\t{reason}\n")
            count += 1
    return count


def print_row(row: Mapping[str, Any], as_json: bool) -> None:
    """Print ``key: value`` lines, or the row as JSON."""
    if as_json:
        sys.stdout.write(json.dumps(row, indent=2) + "\n")
        return
    sys.stdout.write("".join(f"{key}: {value}\n" for key, value in row.items()))
