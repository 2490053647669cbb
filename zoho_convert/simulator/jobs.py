"""Mass-convert jobs: their fate, and their status at any clock time."""

from __future__ import annotations

import math
from typing import Literal

import attrs

JobStatusName = Literal["SCHEDULED", "IN PROGRESS", "COMPLETED", "FAILED"]
Outcome = Literal["COMPLETED", "FAILED", "NEVER"]
#: How a final status reply is broken (``Faults.malformed_final_rate``).
Malformation = Literal["over_total", "null_count", "unknown_state"]

#: ``Faults.malformed_final_kind`` -> the malformations it draws from.
MALFORMATIONS: dict[str, tuple[Malformation, ...]] = {
    "counts": ("over_total", "null_count"),
    "state": ("unknown_state",),
    "mixed": ("over_total", "null_count", "unknown_state"),
}

# Below this fraction of its duration a job still reports SCHEDULED.
_SCHEDULED_FRACTION = 0.25


@attrs.frozen
class JobSnapshot:
    """A job's counts at one instant; ``total == converted + not_converted + failed`` always.

    ``malformed`` says how the status reply must be broken (only ever set once final); the
    counts themselves stay true.
    """

    status: JobStatusName
    total: int
    converted: int
    not_converted: int
    failed: int
    malformed: Malformation | None = None

    @property
    def final(self) -> bool:
        """COMPLETED or FAILED."""
        return self.status in ("COMPLETED", "FAILED")


@attrs.define(eq=False)
class Job:
    """A mass-convert job: its accepted ids convert when it completes, polled or not.

    Attributes:
        announced_id: The job id the submit reply carried: ``job_id``, or an earlier job's id
            under ``Faults.duplicate_job_id_rate``.
        forgotten: Polls of it answer 204 / "job_id is invalid"; it still converts its records.
        malformed: How its final status reply is broken, if it is.
    """

    job_id: str
    module: str
    target: str | None
    ids: tuple[int, ...]  # pending from submission, converted at completion
    prefailed: int  # refused at submission (not approved, locked, already converted)
    submitted_at: float
    duration: float
    outcome: Outcome
    finished: bool = False
    announced_id: str = ""
    forgotten: bool = False
    malformed: Malformation | None = None

    @property
    def total(self) -> int:
        """Number of distinct ids the job was given."""
        return len(self.ids) + self.prefailed

    def snapshot(self, now: float) -> JobSnapshot:
        """The job's status at clock time ``now``."""
        total, ok = self.total, len(self.ids)
        elapsed = now - self.submitted_at
        if self.outcome != "NEVER" and elapsed >= self.duration:
            if self.outcome == "FAILED":
                return JobSnapshot("FAILED", total, 0, 0, total, self.malformed)
            return JobSnapshot("COMPLETED", total, ok, 0, self.prefailed, self.malformed)
        fraction = 0.0 if self.duration <= 0 else min(elapsed / self.duration, 1.0)
        if self.outcome == "NEVER":
            fraction = min(fraction, 0.5)  # it looks busy, and stays that way
        if fraction < _SCHEDULED_FRACTION and self.outcome != "NEVER":
            return JobSnapshot("SCHEDULED", total, 0, total, 0)
        if self.outcome == "FAILED":
            # Counts never go backwards: a doomed job shows no conversions before it fails.
            return JobSnapshot("IN PROGRESS", total, 0, total, 0)
        converted = math.floor(fraction * ok)
        failed = math.floor(fraction * self.prefailed)
        return JobSnapshot("IN PROGRESS", total, converted, total - converted - failed, failed)
