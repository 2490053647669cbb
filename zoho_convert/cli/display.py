"""What the CLI shows: a live progress bar on stderr, and the report as a table or JSON.

``rich`` (the ``cli`` extra) is imported here only, so the library never needs it.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from zoho_convert.progress import (
    BatchQueued,
    BatchSubmitted,
    BatchUncertain,
    IdRejected,
    JobFinished,
    JobUnfinished,
    ProgressEvent,
)
from zoho_convert.report import ConversionReport

__all__ = ["ProgressDisplay", "print_report"]


class _RateColumn(TextColumn):
    """Records settled per second."""

    def __init__(self) -> None:
        super().__init__("")

    def render(self, task: Any) -> Any:  # rich's Task type is not generic-friendly
        # The average over the run: ids settle a job (up to 50) at a time, so rich's
        # short-window speed swings between 0 and absurd peaks.
        elapsed = task.elapsed
        if not elapsed or not task.completed:
            return "- ids/s"
        return f"{task.completed / elapsed:,.0f} ids/s"


class ProgressDisplay:
    """Turns ``convert_many`` progress events into a live progress bar on stderr.

    Shows ids settled out of ids read (the total grows while a stream is read), batches
    submitted, jobs done, converted and failed counts, the rate and the time left. Does nothing
    when ``enabled`` is False (stderr not a terminal, or ``--quiet``).
    """

    def __init__(self, *, enabled: bool, expected_total: int | None = None) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._expected = expected_total
        self.read = 0
        self.batches = 0
        self.jobs_done = 0
        self.converted = 0
        self.failed = 0
        self.rejected = 0
        self.uncertain = 0

    def __enter__(self) -> ProgressDisplay:
        if self.enabled:
            self._progress = Progress(
                TextColumn("[bold]converting"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"),
                _RateColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=Console(file=sys.stderr),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task("convert", total=self._expected, stats="")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._refresh()
            self._progress.stop()

    def __call__(self, event: ProgressEvent) -> None:
        """Take one event from ``convert_many``."""
        if isinstance(event, BatchQueued):
            self.read = max(self.read, event.read)
        elif isinstance(event, BatchSubmitted):
            self.batches += 1
        elif isinstance(event, JobFinished):
            self.jobs_done += 1
            status = event.status
            self.converted += status.converted_count or 0
            self.failed += (status.failed_count or 0) + (status.not_converted_count or 0)
        elif isinstance(event, JobUnfinished):
            self.jobs_done += 1
        elif isinstance(event, IdRejected):
            self.rejected += 1
        elif isinstance(event, BatchUncertain) and event.final:
            self.uncertain += event.size
        self._refresh()

    def _refresh(self) -> None:
        if self._progress is None or self._task is None:
            return
        settled = self.converted + self.failed + self.rejected + self.uncertain
        total = max(self._expected or 0, self.read, settled)
        stats = (
            f"batches {self.batches} · jobs done {self.jobs_done} · "
            f"[green]converted {self.converted:,}[/] · [red]failed {self.failed:,}[/]"
        )
        if self.rejected:
            stats += f" · [yellow]rejected {self.rejected:,}[/]"
        self._progress.update(self._task, completed=settled, total=total, stats=stats)


def print_report(
    report: ConversionReport, *, as_json: bool, console: Console | None = None
) -> None:
    """Print a report to stdout: a table, or the library's JSON with ``as_json``."""
    if as_json:
        sys.stdout.write(report.to_json(indent=2) + "\n")
        sys.stdout.flush()
        return
    out = console or Console(file=sys.stdout)
    target = f" → {report.to}" if report.to else ""
    # A heading line, not the table's title: a title wider than the table would wrap.
    out.print(f"{report.module}{target}: {'OK' if report.ok else 'needs attention'}", markup=False)
    table = Table()
    table.add_column("", style="bold")
    table.add_column("count", justify="right")
    rows = [
        ("ids read", report.total),
        ("converted", report.converted),
        ("failed", report.failed),
        ("not converted", report.not_converted),
        ("rejected", len(report.rejected)),
        ("uncertain", len(report.uncertain)),
        ("unfinished jobs", len(report.unfinished)),
        ("duplicates", report.duplicates),
        ("jobs", len(report.jobs)),
        ("requests", report.requests),
    ]
    for label, value in rows:
        table.add_row(label, f"{value:,}")
    table.add_row("elapsed", f"{report.elapsed:.2f} s")
    out.print(table)
    for item in report.rejected[:20]:
        out.print(f"rejected {item.id}: {item.code} {item.message}", markup=False)
    if len(report.rejected) > 20:
        out.print(f"… and {len(report.rejected) - 20} more rejected ids (see --json)")
    if report.uncertain:
        out.print(
            f"{len(report.uncertain)} ids are uncertain: check them in Zoho before converting "
            "them again (see --json for the list)"
        )
    for job_id in report.unfinished:
        out.print(
            f"job {job_id} still running: zoho-convert status {report.module} {job_id} --wait"
        )
