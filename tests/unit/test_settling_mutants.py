"""``SettlePolicy.wait`` (``bulk/settling.py``), on what its mutants showed untested: asked
without a margin, a lost job is given exactly the longest job seen (at least min_wait).

No I/O, no clock: times are plain numbers.
"""

from __future__ import annotations

from zoho_convert import SettlePolicy


def test_a_lost_jobs_wait_without_a_margin_is_the_longest_job_seen() -> None:
    """No margin given: the wait is the longest job seen (8 s), min_wait when shorter (2 s
    under 3 s), unknown_wait when no job finished yet; a margin adds to the longest job."""
    policy = SettlePolicy(min_wait=3.0, unknown_wait=20.0)
    assert policy.wait(8.0) == 8.0
    assert policy.wait(2.0) == 3.0
    assert policy.wait(0.0) == 20.0
    assert policy.wait(8.0, 1.5) == 9.5
