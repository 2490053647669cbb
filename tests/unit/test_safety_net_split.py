"""Journal totals after a split (issue 15, point 2).

A batch split by failure isolation (an invalid id refused whole; a settling resubmission
refused as already converted) lives on in the journal as child batches. A run killed after
such a split and resumed must still count each distinct id once: ``total`` is the number of
ids read, never inflated by the children, and ``accounted_for`` holds. Judged on the report
and the fake's ledger only.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_convert_api import Crash, FakeAPI, SubmitCall

from zoho_convert.api.errors import ServerError
from zoho_convert.bulk.convert import convert_many, resume
from zoho_convert.bulk.report import ConversionReport

IDS = [str(8000 + i) for i in range(150)]
INVALID = IDS[17]


def assert_once(api: FakeAPI, ids: set[str]) -> None:
    """The fake's ledger holds exactly ``ids``, each converted once."""
    api.finish_jobs()
    assert not api.converted_twice()
    assert {i for i, n in api.records.items() if n} == ids


def assert_whole(report: ConversionReport) -> None:
    assert report.total == len(IDS), report.total
    assert report.input_complete
    assert report.accounted_for, report
    assert not report.uncertain and not report.unfinished


@pytest.mark.parametrize("hint", ["none", "json_path"], ids=["halving", "located"])
async def test_resumed_split_by_an_invalid_id_counts_each_id_once(
    tmp_path: Path, hint: str
) -> None:
    """A batch split around an invalid id, then a kill and a resume: total is the distinct
    ids (not the children added up), every id is accounted for, the invalid one rejected."""
    path = str(tmp_path / "run.journal")
    # One batch at a time: batch 0 is split (in halves when Zoho names no offender) and
    # finished, then the process dies as batch 2's POST lands.
    crash = Crash(lambda call: IDS[100] in call.ids)
    api = FakeAPI(invalid={INVALID}, hint=hint, on_processed=crash, duration=3.0)
    await crash.run(
        convert_many(api, "Quotes", IDS, to="Sales_Orders", journal=path, max_pending_jobs=1)
    )
    refused = [call for call in api.calls if call.refused == "INVALID_DATA"]
    assert refused and (hint == "json_path" or len(refused) > 2)  # it did split

    report = await resume(api, path)

    assert_whole(report)
    assert [(r.id, r.code) for r in report.rejected] == [(INVALID, "INVALID_DATA")]
    assert sorted(report.already_converted_ids) == IDS[100:]  # the POST that landed
    assert report.converted == 99 and report.failed == 0
    assert_once(api, set(IDS) - {INVALID})


async def test_resumed_settling_split_counts_each_id_once(tmp_path: Path) -> None:
    """A lost reply's settling resubmission is refused as already converted and split id by
    id; killed midway through those ids and resumed, the run still totals the distinct ids and
    accounts for each, the lost batch as already converted."""
    path = str(tmp_path / "run.journal")
    lost = ServerError(500, "INTERNAL_ERROR", "reply lost", maybe_processed=True)
    singles: list[SubmitCall] = []

    def tenth_single(call: SubmitCall) -> bool:
        if len(call.ids) == 1:
            singles.append(call)
        return len(singles) == 10

    crash = Crash(tenth_single)
    api = FakeAPI(submit_faults_after={1: lost}, on_processed=crash, duration=3.0)
    await crash.run(convert_many(api, "Quotes", IDS, to="Sales_Orders", journal=path))
    lost_ids = api.calls[1].ids
    assert len(singles) == 10

    report = await resume(api, path)

    assert_whole(report)
    assert not report.rejected and report.failed == 0
    assert report.converted == 100
    assert sorted(report.already_converted_ids) == sorted(lost_ids)
    assert report.already_converted == 50
    assert report.ok
    assert_once(api, set(IDS))

    # The journal is complete now: resuming it again reads the same totals back.
    again = await resume(api, path)
    assert_whole(again)
    assert (again.converted, again.already_converted, again.ok) == (100, 50, True)
