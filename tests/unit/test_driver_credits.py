"""``min_credits`` in the driver: the floor is read with a request slot held, so batches queued
behind the slots stop too once Zoho says the credits ran low."""

from __future__ import annotations

from fake_convert_api import FakeAPI, SubmitCall

from zoho_convert.api.credits import LocalCredits
from zoho_convert.bulk.convert import convert_many


async def test_batches_queued_for_a_slot_stop_once_credits_run_low() -> None:
    """At the client's full concurrency (2), min_credits alone gives the run slots of its own:
    once the third submit's reply says 5 credits remain, only the submit already holding the
    other slot leaves; the 16 batches queued behind them are NOT_SUBMITTED."""
    api = FakeAPI(max_concurrency=2)
    api.credits = LocalCredits()
    await api.credits.record({"X-API-CREDITS-REMAINING": "1000"})

    async def run_low(call: SubmitCall) -> None:
        if call.number == 2:
            await api.credits.record({"X-API-CREDITS-REMAINING": "5"})

    api.on_processed = run_low
    ids = [str(3000 + n) for n in range(1000)]

    report = await convert_many(api, "Quotes", ids, to="Sales_Orders", min_credits=10)

    assert api.submits == 4
    assert report.submitted == 200 and report.converted == 200
    not_submitted = [item for item in report.rejected if item.code == "NOT_SUBMITTED"]
    assert len(not_submitted) == report.total - 200 and report.accounted_for
    assert "min_credits" in not_submitted[0].message


async def test_without_min_credits_low_credits_stop_nothing() -> None:
    """A client that saw only 5 credits remain still converts a run given no min_credits: the
    floor is not consulted at all."""
    api = FakeAPI()
    api.credits = LocalCredits()
    await api.credits.record({"X-API-CREDITS-REMAINING": "5"})

    report = await convert_many(
        api, "Quotes", [str(3000 + n) for n in range(100)], to="Sales_Orders"
    )

    assert report.ok and report.converted == 100 and api.submits == 2


async def test_without_min_credits_a_run_with_its_own_slots_reads_no_floor() -> None:
    """A run at a lower concurrency than the client's (so with request slots of its own) and
    no min_credits converts everything though the client saw only 5 credits remain."""
    api = FakeAPI(max_concurrency=4)
    api.credits = LocalCredits()
    await api.credits.record({"X-API-CREDITS-REMAINING": "5"})

    report = await convert_many(
        api, "Quotes", [str(3000 + n) for n in range(100)], to="Sales_Orders", concurrency=2
    )

    assert report.ok and report.converted == 100 and api.submits == 2
