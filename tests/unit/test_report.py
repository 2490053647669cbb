"""ConversionReport: ok, the accounting invariant, JSON, and what it keeps."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from zoho_convert.api.models import JobState, JobStatus
from zoho_convert.bulk.report import ConversionReport, JobOutcome, RejectedId

DONE = JobStatus(JobState.COMPLETED, 50, 50, 0, 0)


def make(**changes: object) -> ConversionReport:
    fields: dict[str, object] = {
        "module": "Quotes", "to": "Sales_Orders", "total": 100, "converted": 100, "failed": 0,
        "not_converted": 0, "rejected": (), "unfinished": (), "uncertain": (), "duplicates": 0,
        "jobs": (JobOutcome("1", 50, DONE), JobOutcome("2", 50, DONE)), "requests": 4,
        "elapsed": 1.5,
    }
    fields.update(changes)
    return ConversionReport(**fields)  # type: ignore[arg-type]


def test_ok_when_everything_converted() -> None:
    """A run that converted every id is ok and accounted for."""
    report = make()
    assert report.ok and report.accounted_for and report.submitted == 100


def test_not_ok_with_anything_to_act_on() -> None:
    """Rejected, uncertain, unfinished, failed or unread input each make ok False."""
    rejected = (RejectedId("1", "INVALID_ID", "x"),)
    assert not make(total=101, rejected=rejected).ok
    assert not make(total=101, uncertain=("5",)).ok
    assert not make(unfinished=("2",)).ok
    assert not make(failed=1, converted=99).ok
    assert not make(input_complete=False).ok


def test_json_round_trip() -> None:
    """to_json gives plain JSON with every field and the ok flag."""
    data = json.loads(make(rejected=(RejectedId("7", "X", "m"),), total=101).to_json())
    assert data["ok"] is False
    assert data["rejected"] == [{"id": "7", "code": "X", "message": "m"}]
    assert data["jobs"][0]["status"]["state"] == "COMPLETED"


@given(
    st.lists(st.integers(min_value=1, max_value=50), max_size=30),
    st.integers(min_value=0, max_value=20),
    st.integers(min_value=0, max_value=20),
)
def test_invariant_counts_add_up(sizes: list[int], rejected: int, uncertain: int) -> None:
    """accounted_for holds exactly when jobs + rejected + uncertain == total."""
    jobs = tuple(JobOutcome(str(i), n, None) for i, n in enumerate(sizes))
    total = sum(sizes) + rejected + uncertain
    report = make(
        jobs=jobs,
        total=total,
        rejected=tuple(RejectedId(str(i), "X", "m") for i in range(rejected)),
        uncertain=tuple(str(i) for i in range(uncertain)),
    )
    assert report.accounted_for
    assert not make(jobs=jobs, total=total + 1).accounted_for


def test_fully_converted_jobs_keep_no_ids() -> None:
    """Only jobs needing attention keep ids, so large reports stay small."""
    assert JobOutcome("1", 50, DONE).fully_converted
    partial = JobStatus(JobState.COMPLETED, 50, 49, 0, 1)
    assert not JobOutcome("2", 50, partial, ("1",)).fully_converted
