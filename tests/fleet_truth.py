"""The reports of several runs of one fleet judged against the simulator's ledger, id by id.

Imported as ``fleet_truth`` (``tests/`` is on ``sys.path``, see ``fakes``). In a fleet an id
may be converted by another run than the one reporting it, before or after that run's own
job: the simulator's jobs say which conversion came first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from zoho_convert import ConversionReport
from zoho_convert.bulk.ledger import CLAIMED_ELSEWHERE
from zoho_convert.simulator import Simulator


def assert_fleet_true(
    sim: Simulator,
    reports: Sequence[ConversionReport],
    lists: Sequence[Sequence[str]],
    module: str = "Quotes",
) -> None:
    """Each run's report (``reports[i]`` of the ids ``lists[i]``) against the ledger, per id.

    - no record converted twice;
    - every id a run was given is in exactly one place of its report;
    - an id reported converted (in a fully converted job, or one at a time), already
      converted, or refused ``ID_ALREADY_CONVERTED`` is in the ledger (converted by this run
      or another); one rejected for any other reason but ``CLAIMED_ELSEWHERE`` is not;
    - a finished job whose ids are kept says of them what the ledger does: its converted
      count (plus its failures, for a settling job) is the number of its ids converted by the
      time it ended (by it, or by another run's job that ended first: a record converted
      before its job ran is never one the job "failed").
    """
    every = {i for ids in lists for i in ids}
    counts = {i: sim.state.conversions.get((module, i), 0) for i in every}
    assert max(counts.values(), default=0) <= 1, "a record was converted twice"
    converted_at: dict[str, float] = {}
    ended: dict[str, float] = {}
    for job in sim.state.jobs.values():
        end = job.submitted_at + job.duration
        ended[job.job_id] = end
        if job.outcome == "COMPLETED":
            for rid in job.ids:
                converted_at[str(rid)] = min(converted_at.get(str(rid), math.inf), end)
    for run, (report, ids) in enumerate(zip(reports, lists, strict=True)):
        assert report.total == len(set(ids)), f"run {run}: an id given is not in its report"
        assert report.accounted_for, f"run {run}: an id is missing, or listed twice"
        listed: set[str] = set()
        for item in report.rejected:
            listed.add(item.id)
            if item.code == "ID_ALREADY_CONVERTED":
                assert counts[item.id] == 1, f"run {run}: {item.id} refused as converted"
            elif item.code != CLAIMED_ELSEWHERE:
                assert counts[item.id] == 0, f"run {run}: {item.id} {item.code}, converted"
        for value in report.already_converted_ids:
            listed.add(value)
            assert counts[value] == 1, f"run {run}: {value} already converted, ledger 0"
        listed.update(report.uncertain)
        for job in report.jobs:
            listed.update(job.ids)
            if job.ids and job.finished:
                assert job.status is not None
                converted = job.status.converted_count or 0
                failed = job.status.failed_count or 0
                end = ended.get(job.job_id, math.inf)
                by_then = sum(
                    1 for i in job.ids if counts[i] and converted_at.get(i, math.inf) <= end
                )
                expected = converted + (failed if job.settling else 0)
                assert by_then == expected, (
                    f"run {run}: job {job.job_id}: ledger {by_then}, report {expected}"
                )
        for value in set(ids) - listed:
            assert counts[value] == 1, f"run {run}: {value} reported converted, ledger 0"
