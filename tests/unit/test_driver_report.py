"""The report the driver hands back: what the run was, how long it took, and why ids that
were never sent stayed unsent."""

from __future__ import annotations

import pytest
from fake_convert_api import FakeAPI

from zoho_convert import AuthenticationError
from zoho_convert.bulk.convert import convert_many


def quote_ids(count: int, first: int = 2000) -> list[str]:
    return [str(first + n) for n in range(count)]


async def test_the_report_names_the_modules_and_times_the_run_on_the_runs_clock() -> None:
    """A run started at virtual time 100: the report names the source and target modules and
    gives the time the run took (its end minus its start)."""
    api = FakeAPI(duration=2.0)
    api.time.now = 100.0

    report = await convert_many(api, "Quotes", quote_ids(60), to="Sales_Orders")

    assert report.ok and report.module == "Quotes" and report.to == "Sales_Orders"
    assert api.now > 102.0
    assert report.elapsed == pytest.approx(api.now - 100.0)


async def test_ids_never_sent_give_the_error_that_stopped_the_run() -> None:
    """A refused token stops the run: the ids read but never sent are NOT_SUBMITTED with the
    error's type and message as the reason."""
    refused = AuthenticationError(401, "AUTHENTICATION_FAILURE", "token revoked")
    api = FakeAPI(submit_faults={2: refused})

    with pytest.raises(AuthenticationError) as stopped:
        await convert_many(api, "Quotes", quote_ids(1000), to="Sales_Orders", max_pending_jobs=3)

    report = stopped.value.partial_report  # type: ignore[attr-defined]
    unsent = [item for item in report.rejected if item.code == "NOT_SUBMITTED"]
    assert unsent and report.accounted_for
    assert {item.message for item in unsent} == {f"AuthenticationError: {refused}"}
    assert "token revoked" in unsent[0].message
