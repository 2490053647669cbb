"""What ``convert_many`` sends for its options, and which of its limits it refuses up front."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aioresponses import aioresponses
from core_helpers import BASE, make_client
from fake_convert_api import FakeAPI
from yarl import URL

from zoho_convert import ModuleRef
from zoho_convert.bulk.convert import convert_many

TARGET = ModuleRef("Sales_Orders", "2423488000000000171")
SUBMIT_URL = f"{BASE}/Quotes/actions/mass_convert"


def completed(size: int) -> dict[str, Any]:
    status = {"total_count": size, "converted_count": size, "not_converted_count": 0}
    return {"data": [{**status, "failed_count": 0, "status": "COMPLETED"}]}


async def test_every_batch_carries_the_runs_options() -> None:
    """batch_size cuts the ids; each POST carries the owner (an int sent as an id string),
    the related modules and the tags option."""
    with aioresponses() as m:
        m.post(SUBMIT_URL, payload={"details": {"job_id": "71"}, "status": "success"})
        m.post(SUBMIT_URL, payload={"details": {"job_id": "72"}, "status": "success"})
        m.get(f"{SUBMIT_URL}?job_id=71", payload=completed(2))
        m.get(f"{SUBMIT_URL}?job_id=72", payload=completed(1))
        async with make_client() as client:
            report = await client.convert_many(
                "Quotes",
                ["11", "12", "13"],
                to=TARGET,
                batch_size=2,
                assign_to=2423488000000000123,
                related_modules=[ModuleRef("Calls", "2423488000000000999")],
                carry_over_tags=True,
            )
        bodies = [json.loads(call.kwargs["data"]) for call in m.requests[("POST", URL(SUBMIT_URL))]]
    assert report.converted == 3 and report.ok
    assert sorted(len(body["ids"]) for body in bodies) == [1, 2]
    for body in bodies:
        assert body["assign_to"] == {"id": "2423488000000000123"}
        assert body["related_modules"] == [{"api_name": "Calls", "id": "2423488000000000999"}]
        assert body["convert_to"][0]["carry_over_tags"] is True


@pytest.mark.parametrize(
    ("option", "error", "message"),
    [
        ({"min_credits": -1}, ValueError, "min_credits"),
        ({"min_credits": True}, ValueError, "min_credits"),
        ({"settle": {"max_rounds": 2}}, TypeError, "settle must be a SettlePolicy"),
    ],
)
async def test_bad_run_limits_are_refused_before_any_request(
    option: dict[str, Any], error: type[Exception], message: str
) -> None:
    """min_credits and settle are checked like the other limits, before anything is sent."""
    api = FakeAPI()
    with pytest.raises(error, match=message):
        await convert_many(api, "Quotes", ["1"], to="Sales_Orders", **option)
    assert api.request_count == 0 and api.module_lookups == 0
