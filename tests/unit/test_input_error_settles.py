"""The caller's input fails midway: reading stops, but what was read goes on to its end
(submitted, polled, a lost reply settled), and the input's error is raised after, with the
report as ``partial_report`` (round 7 of the hunt: a lost batch was left ``uncertain`` though
the run could still settle it). FakeAPI on virtual time."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fake_convert_api import FakeAPI

from zoho_convert import ServerError, SettlePolicy
from zoho_convert.bulk.convert import convert_many

IDS = [str(7_300_000_000_000_000 + n) for n in range(120)]


async def breaking_input(good: int) -> AsyncIterator[str]:
    """The first ``good`` ids, then the source breaks."""
    for value in IDS[:good]:
        yield value
    raise OSError("the source broke")


@pytest.mark.parametrize("by_record", [True, False], ids=["by-record", "by-mass"])
async def test_a_lost_batch_read_before_the_input_failed_is_settled(by_record: bool) -> None:
    """110 ids read (2 whole batches and 10 more), the first batch's reply lost after Zoho
    processed it: the input's OSError is raised once that batch is settled (found converted,
    none left uncertain); the 10 ids of the partial batch are not submitted (a resumed run
    sends them)."""
    lost = ServerError(500, "INTERNAL_ERROR", "reply lost", maybe_processed=True)
    api = FakeAPI(submit_faults_after={0: lost}, duration=5.0)
    settle = SettlePolicy(record_by_record=by_record)
    with pytest.raises(OSError, match="the source broke") as caught:
        await convert_many(api, "Quotes", breaking_input(110), to="Sales_Orders", settle=settle)
    report = caught.value.partial_report  # type: ignore[attr-defined]
    assert not report.uncertain and report.accounted_for and not report.input_complete
    assert report.converted + report.already_converted == 100
    assert {item.id for item in report.rejected} == set(IDS[100:110])
    assert {item.code for item in report.rejected} == {"NOT_SUBMITTED"}
    assert not api.converted_twice()
    assert all(api.records[value] == 1 for value in IDS[:100])
