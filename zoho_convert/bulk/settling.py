"""``SettlePolicy``: how hard a run tries to learn the fate of batches whose submission is unknown.

A submission whose reply was lost (a 5xx or a dropped connection after the POST left), a job
Zoho forgot, a job id Zoho gave two batches, a crash mid-submission: each leaves a batch whose
records may or may not have converted. ``convert_many`` settles such a batch by resubmitting
it once the lost job has had time to finish: Zoho refuses (or fails inside the job) a second
conversion of a record, so the resubmission converts exactly what the lost one did not.
Settling runs in rounds, until every batch is settled, the round limit or the deadline.
"""

from __future__ import annotations

import attrs

from zoho_convert.api.checks import at_least, finite_positive

__all__ = ["SettlePolicy"]


@attrs.frozen
class SettlePolicy:
    """Rounds of resubmission for batches whose outcome is unknown.

    Change a policy with ``attrs.evolve``.

    Attributes:
        max_rounds: resubmission rounds at most; a batch still unsettled after them is
            reported ``uncertain`` (or, if none of its submissions can have reached Zoho,
            ``rejected`` with the last error).
        deadline: seconds settling may take in all (from the first round); no round starts
            after it.
        min_wait: seconds a lost job is given to finish before its ids are resubmitted, at
            least (the run waits for the longest job duration it has seen, when longer).
        unknown_wait: seconds a lost job is given when no job of the run has finished yet, so
            nothing is known of how long jobs take (resubmitting while the lost job still runs
            could convert its records twice).
    """

    max_rounds: int = attrs.field(default=6, validator=at_least(1))
    deadline: float = attrs.field(default=900.0, validator=finite_positive)
    min_wait: float = attrs.field(default=1.0, validator=finite_positive)
    unknown_wait: float = attrs.field(default=60.0, validator=finite_positive)
