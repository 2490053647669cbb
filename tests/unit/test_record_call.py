"""The single convert a run settles records with: when ``bind`` gives one
(``Endpoints.convert_record``) and what it calls, and the client's ``convert`` with
``carry_over_tags`` (the exact request body; a bad value refused before any request)."""

from __future__ import annotations

from typing import Any

import pytest
from aioresponses import aioresponses
from core_helpers import BASE, CONVERT_REPLY, SALES_ORDERS_ID, all_calls, body_of, make_client
from fake_convert_api import FakeAPI

from zoho_convert.api.models import DealDetails, LeadConversion, ModuleRef
from zoho_convert.bulk.binding import LeadConvertAPI, RecordConvertAPI, bind
from zoho_convert.bulk.spec import RunParams

TARGET = ModuleRef("Sales_Orders", SALES_ORDERS_ID)


class SingleAPI(FakeAPI):
    """The fake client, with a single convert that notes its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.single_calls: list[tuple[str, str | int, str | ModuleRef, bool]] = []

    async def convert(
        self, module: str, record_id: str | int, *, to: str | ModuleRef, carry_over_tags: bool
    ) -> str:
        self.single_calls.append((module, record_id, to, carry_over_tags))
        return "converted"


class LeadAPI(FakeAPI):
    """The fake client, with a Convert Lead that notes its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.lead_calls: list[tuple[str | int, LeadConversion | None]] = []

    async def convert_lead(
        self, lead_id: str | int, options: LeadConversion | None = None
    ) -> str:
        self.lead_calls.append((lead_id, options))
        return "converted"


DEAL = DealDetails("Renewal", "2026-12-31", "Qualification", "Standard")


def params(**kwargs: Any) -> RunParams:
    kwargs.setdefault("module", "Quotes")
    kwargs.setdefault("to", TARGET)
    return RunParams(**kwargs)


@pytest.mark.parametrize("carry", [True, False])
async def test_bind_gives_a_single_convert_with_the_runs_options(carry: bool) -> None:
    """An inventory run without owner or related modules, record_by_record asked, on a client
    with convert: convert_record(id) calls convert(module, id, to=..., carry_over_tags=...)
    with the run's values, and returns what it answers."""
    api = SingleAPI()
    assert isinstance(api, RecordConvertAPI)
    endpoints = bind(api, params(carry_over_tags=carry), record_by_record=True)
    assert endpoints.convert_record is not None
    assert await endpoints.convert_record("42") == "converted"
    assert api.single_calls == [("Quotes", "42", TARGET, carry)]
    assert api.request_count == 0  # no mass convert, no status poll
    assert not endpoints.record_checks_only  # (it may settle a batch for speed)


@pytest.mark.parametrize("deal", [DEAL, None], ids=["deal", "no-deal"])
async def test_bind_gives_a_leads_run_convert_lead_with_its_options(
    deal: DealDetails | None,
) -> None:
    """A Leads run without related modules or carried tags, record_by_record asked, on a
    client with convert_lead: convert_record(id) converts that lead with the mass convert's
    deal, owner and attachments' module; it only checks records (never settles for speed)."""
    api = LeadAPI()
    assert isinstance(api, LeadConvertAPI)
    run = params(
        module="Leads", to=None, deals=deal, assign_to="2423488000000483001",
        move_attachments_to="Contacts",
    )
    endpoints = bind(api, run, record_by_record=True)
    assert endpoints.convert_record is not None and endpoints.record_checks_only
    assert await endpoints.convert_record("42") == "converted"
    options = LeadConversion(
        move_attachments_to="Contacts", assign_to="2423488000000483001", deals=deal
    )
    assert api.lead_calls == [("42", options)]
    assert api.request_count == 0


@pytest.mark.parametrize(
    ("run", "record_by_record"),
    [
        (params(module="Leads", to=None, carry_over_tags=True), True),
        (params(module="Leads", to=None, carry_over_tags=("Contacts",)), True),
        (params(module="Leads", to=None, related_modules=(ModuleRef("Calls", "1"),)), True),
        (params(module="Leads", to=None), False),
        (params(assign_to="2423488000000483001"), True),
        (params(related_modules=(ModuleRef("Calls", "2423488000000017015"),)), True),
        (params(), False),
    ],
    ids=[
        "leads-tags", "leads-tag-modules", "leads-related", "leads-not-asked",
        "assign_to", "related_modules", "not-asked",
    ],
)
def test_bind_gives_no_single_convert_where_it_cannot_carry_the_run(
    run: RunParams, record_by_record: bool
) -> None:
    """Leads with carried tags or related modules, an inventory run with an owner or related
    modules (the single convert cannot carry them), or record_by_record not asked:
    convert_record is None, though the client has both single converts."""

    class BothAPI(SingleAPI, LeadAPI):
        pass

    endpoints = bind(BothAPI(), run, record_by_record=record_by_record)
    assert endpoints.convert_record is None


async def test_bind_carries_the_clients_request_timeout() -> None:
    """A run learns how long one request may take from the client (how late a POST in
    flight when it stopped may still start a job); 0 for a client that does not say."""
    async with make_client(request_timeout=12.5) as client:
        assert bind(client, params()).request_timeout == 12.5
    assert bind(FakeAPI(), params()).request_timeout == 0.0


def test_bind_gives_no_single_convert_for_a_client_without_one() -> None:
    """A client without convert (a mass-convert-only fake): convert_record is None; the same
    run on a client with it has one; bind's default asks for none."""
    assert not isinstance(FakeAPI(), RecordConvertAPI)
    assert bind(FakeAPI(), params(), record_by_record=True).convert_record is None
    assert bind(SingleAPI(), params(), record_by_record=True).convert_record is not None
    assert bind(SingleAPI(), params()).convert_record is None


def mock_convert(m: aioresponses, record: str = "42") -> str:
    url = f"{BASE}/Quotes/{record}/actions/convert"
    m.post(url, payload=CONVERT_REPLY)
    return url


@pytest.mark.parametrize("carry", [True, False])
async def test_convert_sends_carry_over_tags_in_convert_to(m: aioresponses, carry: bool) -> None:
    """convert(..., carry_over_tags=True/False) puts it beside the module in convert_to[0]."""
    mock_convert(m)
    async with make_client() as client:
        await client.convert("Quotes", "42", to=TARGET, carry_over_tags=carry)
    ((_, _, call),) = all_calls(m)
    assert body_of(call) == {
        "data": [
            {
                "convert_to": [
                    {
                        "module": {"id": SALES_ORDERS_ID, "api_name": "Sales_Orders"},
                        "carry_over_tags": carry,
                    }
                ]
            }
        ]
    }


async def test_convert_without_carry_over_tags_leaves_it_out(m: aioresponses) -> None:
    """carry_over_tags=None (the default): convert_to[0] holds the module only."""
    mock_convert(m)
    async with make_client() as client:
        await client.convert("Quotes", "42", to=TARGET, carry_over_tags=None)
    ((_, _, call),) = all_calls(m)
    assert body_of(call)["data"][0]["convert_to"] == [
        {"module": {"id": SALES_ORDERS_ID, "api_name": "Sales_Orders"}}
    ]


@pytest.mark.parametrize("value", ["yes", 1, 0, "true"])
async def test_convert_refuses_a_carry_over_tags_that_is_not_a_bool(
    m: aioresponses, value: Any
) -> None:
    """A non-bool carry_over_tags: TypeError naming it, before any request (not even the
    target module's id lookup)."""
    mock_convert(m)
    async with make_client() as client:
        with pytest.raises(TypeError, match="carry_over_tags"):
            await client.convert("Quotes", "42", to="Sales_Orders", carry_over_tags=value)
    assert all_calls(m) == []
