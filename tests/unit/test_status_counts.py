"""A final job status that leaves out its zero counts (Zoho's OpenAPI spec marks no count
required): ``JobStatus.filled`` reads an absent count as 0 only when the present ones add up
to the total, so a status whose missing count was not 0 stays inconsistent (a lost job)."""

from __future__ import annotations

import pytest

from zoho_convert.api.models import JobState, JobStatus

DONE = JobState.COMPLETED


@pytest.mark.parametrize(
    ("given", "filled"),
    [
        (JobStatus(DONE, 50, 50), JobStatus(DONE, 50, 50, 0, 0)),
        (JobStatus(DONE, 50, 48, None, 2), JobStatus(DONE, 50, 48, 0, 2)),
        (JobStatus(JobState.FAILED, 50, None, None, 50), JobStatus(JobState.FAILED, 50, 0, 0, 50)),
    ],
)
def test_absent_counts_that_must_be_zero_are_read_as_zero(
    given: JobStatus, filled: JobStatus
) -> None:
    """The present counts add up to the total: the absent ones were 0."""
    assert given.filled() == filled and filled.counts_consistent


@pytest.mark.parametrize(
    "given",
    [
        JobStatus(DONE, 50, 48),  # 2 records unaccounted for: the absent count was not 0
        JobStatus(DONE, None, 50, 0, 0),  # no total to add up to
        JobStatus(DONE, 50, 40, 5, 4),  # all present, not adding up: left as it is
    ],
)
def test_counts_that_cannot_be_filled_stay_as_reported(given: JobStatus) -> None:
    """Anything else is kept as reported, and stays inconsistent."""
    assert given.filled() == given and not given.counts_consistent
