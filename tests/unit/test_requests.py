"""Exact requests the client sends for every endpoint, and how it reads every seed reply."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aioresponses import CallbackResult, aioresponses
from core_helpers import (
    ACCESS_TOKEN,
    API,
    BASE,
    CONVERT_INPUT,
    CONVERT_REPLY,
    INVOICES_ID,
    LEAD_INPUT,
    LEAD_REPLY,
    MASS_CONVERT_INPUT,
    MASS_CONVERT_REPLY,
    SALES_ORDERS_ID,
    SEEDS,
    STATUS_REPLY,
    all_calls,
    body_of,
    calls,
    make_client,
    seed_json_blocks,
)

from zoho_convert import (
    CarryOverTags,
    ConvertedRecord,
    DataCenter,
    DealDetails,
    Environment,
    InvalidRequestError,
    JobNotFoundError,
    JobState,
    JobStatus,
    LeadConversion,
    ModuleRef,
    StaticToken,
    ZohoConvertClient,
)
from zoho_convert.api.lead_wire import lead_conversion_to_wire

AUTH_HEADER = f"Zoho-oauthtoken {ACCESS_TOKEN}"
JOB_ID = "2423488000000626117"


def modules_reply(api_name: str, module_id: str) -> dict[str, object]:
    return {"modules": [{"api_name": api_name, "id": module_id, "module_name": api_name}]}


def mock_module(m: aioresponses, api_name: str, module_id: str, *, repeat: bool = False) -> str:
    url = f"{BASE}/settings/modules/{api_name}"
    m.get(url, payload=modules_reply(api_name, module_id), repeat=repeat)
    return url


def assert_auth(call: object) -> None:
    assert call.kwargs["headers"]["Authorization"] == AUTH_HEADER  # type: ignore[attr-defined]


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seed pages are not beside the checkout")
def test_samples_match_the_seed_pages() -> None:
    """The samples these tests use are exactly the JSON samples of the four seed pages."""
    assert seed_json_blocks("000_") == [STATUS_REPLY]
    assert seed_json_blocks("001_") == [MASS_CONVERT_INPUT, MASS_CONVERT_REPLY]
    assert seed_json_blocks("002_") == [CONVERT_INPUT, CONVERT_REPLY]
    assert seed_json_blocks("003_") == [LEAD_INPUT, LEAD_REPLY]


async def test_module_id_gets_settings_modules_by_name(m: aioresponses) -> None:
    """module_id sends GET {api_domain}/crm/v8/settings/modules/{api_name} with the token."""
    url = mock_module(m, "Sales_Orders", SALES_ORDERS_ID)
    async with make_client() as client:
        assert await client.module_id("Sales_Orders") == SALES_ORDERS_ID
    (call,) = calls(m, "GET", url)
    assert_auth(call)
    assert call.kwargs["data"] is None


async def test_module_id_unknown_module_raises_value_error(m: aioresponses) -> None:
    """A Modules reply that does not name the module raises ValueError naming it."""
    m.get(f"{BASE}/settings/modules/Invoices", payload=modules_reply("Quotes", "1"))
    async with make_client() as client:
        with pytest.raises(ValueError, match="Invoices"):
            await client.module_id("Invoices")


async def test_mass_convert_sends_the_seed_sample_input(m: aioresponses) -> None:
    """mass_convert with assign_to and related_modules POSTs exactly the seed's sample input."""
    mock_module(m, "Sales_Orders", SALES_ORDERS_ID)
    url = f"{BASE}/Quotes/actions/mass_convert"
    m.post(url, payload=MASS_CONVERT_REPLY)
    async with make_client() as client:
        job_id = await client.mass_convert(
            "Quotes",
            ["2423488000000625004", "2423488000000625032"],
            to="Sales_Orders",
            carry_over_tags=True,
            assign_to="2423488000000483001",
            related_modules=[
                ModuleRef("Calls", "2423488000000017015"),
                ModuleRef("Tasks", "2423488000000000143"),
            ],
        )
    assert job_id == JOB_ID
    (call,) = calls(m, "POST", url)
    assert_auth(call)
    assert call.kwargs["headers"]["Content-Type"] == "application/json"
    assert body_of(call) == MASS_CONVERT_INPUT


async def test_mass_convert_minimal_body_and_int_ids(m: aioresponses) -> None:
    """Without options the body has only convert_to (carry_over_tags false) and string ids."""
    mock_module(m, "Invoices", INVOICES_ID)
    url = f"{BASE}/Sales_Orders/actions/mass_convert"
    m.post(url, payload=MASS_CONVERT_REPLY)
    async with make_client() as client:
        await client.mass_convert("Sales_Orders", [2423488000000625004, "7"], to="Invoices")
    (call,) = calls(m, "POST", url)
    assert body_of(call) == {
        "convert_to": [
            {"module": {"id": INVOICES_ID, "api_name": "Invoices"}, "carry_over_tags": False}
        ],
        "ids": ["2423488000000625004", "7"],
    }


async def test_mass_convert_to_moduleref_skips_the_lookup(m: aioresponses) -> None:
    """`to` given as a ModuleRef is used as is: no Modules API call is made."""
    url = f"{BASE}/Quotes/actions/mass_convert"
    m.post(url, payload=MASS_CONVERT_REPLY)
    async with make_client() as client:
        await client.mass_convert("Quotes", ["1"], to=ModuleRef("Invoices", "555"))
    assert [(method, str(u)) for method, u, _ in all_calls(m)] == [("POST", url)]
    (call,) = calls(m, "POST", url)
    assert body_of(call)["convert_to"][0]["module"] == {"id": "555", "api_name": "Invoices"}


async def test_mass_convert_accepts_int_job_id_in_reply(m: aioresponses) -> None:
    """A job id sent as a JSON number (as the official SDK's peers do) is read as a string."""
    m.post(
        f"{BASE}/Quotes/actions/mass_convert",
        payload={"code": "SCHEDULED", "details": {"job_id": 2423488000000626117}},
    )
    async with make_client() as client:
        job = await client.mass_convert("Quotes", ["1"], to=ModuleRef("Invoices", "5"))
    assert job == JOB_ID


async def test_module_ids_are_cached_across_calls(m: aioresponses) -> None:
    """Many conversions to one module look its id up once."""
    lookup = mock_module(m, "Sales_Orders", SALES_ORDERS_ID, repeat=True)
    m.post(f"{BASE}/Quotes/actions/mass_convert", payload=MASS_CONVERT_REPLY, repeat=True)
    m.post(f"{BASE}/Quotes/9/actions/convert", payload=CONVERT_REPLY, repeat=True)
    async with make_client() as client:
        for _ in range(3):
            await client.mass_convert("Quotes", ["1"], to="Sales_Orders")
        await client.convert("Quotes", "9", to="Sales_Orders")
        assert await client.module_id("Sales_Orders") == SALES_ORDERS_ID
    assert len(calls(m, "GET", lookup)) == 1


async def test_module_ids_are_cached_for_concurrent_callers(m: aioresponses) -> None:
    """Twenty concurrent conversions to one module share a single Modules API lookup."""
    in_flight = 0

    async def slow_lookup(url: object, **kwargs: object) -> None:
        nonlocal in_flight
        in_flight += 1
        for _ in range(20):  # keep the lookup in flight while the other tasks run
            await asyncio.sleep(0)
        in_flight -= 1

    lookup = f"{BASE}/settings/modules/Sales_Orders"
    m.get(
        lookup,
        payload=modules_reply("Sales_Orders", SALES_ORDERS_ID),
        repeat=True,
        callback=slow_lookup,
    )
    url = f"{BASE}/Quotes/actions/mass_convert"
    m.post(url, payload=MASS_CONVERT_REPLY, repeat=True)
    async with make_client() as client:
        jobs = await asyncio.gather(
            *(client.mass_convert("Quotes", [str(n)], to="Sales_Orders") for n in range(1, 21))
        )
    assert jobs == [JOB_ID] * 20
    assert len(calls(m, "GET", lookup)) == 1
    assert len(calls(m, "POST", url)) == 20


async def test_module_cache_is_per_module(m: aioresponses) -> None:
    """Different target modules are looked up separately, each once."""
    so = mock_module(m, "Sales_Orders", SALES_ORDERS_ID, repeat=True)
    inv = mock_module(m, "Invoices", INVOICES_ID, repeat=True)
    async with make_client() as client:
        assert await client.module_id("Invoices") == INVOICES_ID
        assert await client.module_id("Sales_Orders") == SALES_ORDERS_ID
        assert await client.module_id("Invoices") == INVOICES_ID
    assert len(calls(m, "GET", so)) == 1
    assert len(calls(m, "GET", inv)) == 1


@pytest.mark.parametrize("module", ["Quotes", "Sales_Orders"])
async def test_mass_convert_status_request_and_seed_reply(m: aioresponses, module: str) -> None:
    """mass_convert_status GETs {module}/actions/mass_convert?job_id= and reads the seed reply."""
    url = f"{BASE}/{module}/actions/mass_convert?job_id={JOB_ID}"
    m.get(url, payload=STATUS_REPLY)
    async with make_client() as client:
        status = await client.mass_convert_status(module, JOB_ID)
    assert status == JobStatus(
        state=JobState.COMPLETED,
        total_count=10,
        converted_count=10,
        not_converted_count=0,
        failed_count=0,
    )
    (call,) = calls(m, "GET", url)
    assert_auth(call)
    assert call.kwargs["params"] == {"job_id": JOB_ID}
    assert call.kwargs["data"] is None


async def test_status_in_progress_and_odd_count_spelling(m: aioresponses) -> None:
    """ "IN PROGRESS" and the page's `not_converted_Count` spelling are both understood."""
    m.get(
        f"{BASE}/Quotes/actions/mass_convert?job_id=77",
        payload={
            "data": [
                {
                    "total_count": 10,
                    "not_converted_Count": 6,
                    "failed_count": 1,
                    "converted_count": 3,
                    "status": "IN PROGRESS",
                }
            ]
        },
    )
    async with make_client() as client:
        status = await client.mass_convert_status("Quotes", 77)
    assert status.state is JobState.IN_PROGRESS
    assert not status.is_final
    assert (status.converted_count, status.not_converted_count, status.failed_count) == (3, 6, 1)


@pytest.mark.parametrize(
    ("wire", "state"),
    [
        ("SCHEDULED", JobState.SCHEDULED),
        ("IN PROGRESS", JobState.IN_PROGRESS),
        ("COMPLETED", JobState.COMPLETED),
        ("FAILED", JobState.FAILED),
    ],
)
async def test_every_status_value_parses(m: aioresponses, wire: str, state: JobState) -> None:
    """Each of the four documented status values maps to its JobState."""
    row = {
        "total_count": 2,
        "converted_count": 0,
        "not_converted_count": 2,
        "failed_count": 0,
        "status": wire,
    }
    m.get(f"{BASE}/Sales_Orders/actions/mass_convert?job_id=5", payload={"data": [row]})
    async with make_client() as client:
        assert (await client.mass_convert_status("Sales_Orders", "5")).state is state


async def test_mass_convert_leads_request_body(m: aioresponses) -> None:
    """mass_convert_leads POSTs Leads/actions/mass_convert with ids, Deals and every option."""
    url = f"{BASE}/Leads/actions/mass_convert"
    m.post(url, payload=MASS_CONVERT_REPLY)
    async with make_client() as client:
        job = await client.mass_convert_leads(
            ["111", 222],
            deals=DealDetails(
                deal_name="test",
                closing_date="2020-10-20",
                stage="Negotiation/Review",
                pipeline="Standard (Standard)",
                amount=100,
                contact_role="5545974000000006873",
                extra={"Description": "bulk"},
            ),
            assign_to="2423488000000483001",
            carry_over_tags=["Contacts", "Deals"],
            related_modules=[ModuleRef("Calls", "2423488000000017015")],
            move_attachments_to="Contacts",
        )
    assert job == JOB_ID
    (call,) = calls(m, "POST", url)
    assert_auth(call)
    assert body_of(call) == {
        "ids": ["111", "222"],
        "assign_to": {"id": "2423488000000483001"},
        "related_modules": [{"api_name": "Calls", "id": "2423488000000017015"}],
        # Objects, as the OpenAPI v8 spec types them and the official SDK sends them.
        "carry_over_tags": [{"api_name": "Contacts"}, {"api_name": "Deals"}],
        "Deals": {
            "Deal_Name": "test",
            "Closing_Date": "2020-10-20",
            "Stage": "Negotiation/Review",
            "Pipeline": "Standard (Standard)",
            "Amount": 100,
            "Contact_Role": "5545974000000006873",
            "Description": "bulk",
        },
        "move_attachments_to": {"api_name": "Contacts"},
    }


async def test_mass_convert_leads_minimal_body(m: aioresponses) -> None:
    """Without options the Leads mass convert body is just the ids."""
    url = f"{BASE}/Leads/actions/mass_convert"
    m.post(url, payload=MASS_CONVERT_REPLY)
    async with make_client() as client:
        await client.mass_convert_leads(["3"])
    (call,) = calls(m, "POST", url)
    assert body_of(call) == {"ids": ["3"]}


async def test_mass_convert_leads_status_capitalised_keys(m: aioresponses) -> None:
    """The Leads status API's capitalised keys (Status, Total_Count, ...) are read."""
    url = f"{BASE}/Leads/actions/mass_convert?job_id={JOB_ID}"
    m.get(
        url,
        payload={
            "data": [
                {
                    "Status": "In Progress",
                    "Total_Count": 50,
                    "Converted_Count": 20,
                    "Not_Converted_Count": 25,
                    "Failed_Count": 5,
                }
            ]
        },
    )
    async with make_client() as client:
        status = await client.mass_convert_leads_status(JOB_ID)
    assert status == JobStatus(
        state=JobState.IN_PROGRESS,
        total_count=50,
        converted_count=20,
        not_converted_count=25,
        failed_count=5,
    )
    (call,) = calls(m, "GET", url)
    assert_auth(call)
    assert call.kwargs["params"] == {"job_id": JOB_ID}


async def test_convert_sends_seed_input_and_reads_seed_reply(m: aioresponses) -> None:
    """convert POSTs {module}/{id}/actions/convert with the seed input; reads the new record."""
    mock_module(m, "Sales_Orders", SALES_ORDERS_ID)
    url = f"{BASE}/Quotes/3652397000007566544/actions/convert"
    m.post(url, payload=CONVERT_REPLY)
    async with make_client() as client:
        record = await client.convert("Quotes", "3652397000007566544", to="Sales_Orders")
    assert record == ConvertedRecord(
        module="Sales_Orders", id="2423488000000619001", name="Patricia"
    )
    (call,) = calls(m, "POST", url)
    assert_auth(call)
    assert body_of(call) == CONVERT_INPUT


async def test_convert_with_moduleref_and_int_id(m: aioresponses) -> None:
    """convert accepts an int record id and a ModuleRef target, making a single request."""
    url = f"{BASE}/Sales_Orders/42/actions/convert"
    m.post(
        url,
        payload={"data": [{"code": "SUCCESS", "details": {"Invoices": {"id": 9}}}]},
    )
    async with make_client() as client:
        record = await client.convert("Sales_Orders", 42, to=ModuleRef("Invoices", INVOICES_ID))
    assert record == ConvertedRecord(module="Invoices", id="9", name=None)
    assert len(all_calls(m)) == 1
    (call,) = calls(m, "POST", url)
    assert body_of(call)["data"][0]["convert_to"][0]["module"] == {
        "id": INVOICES_ID,
        "api_name": "Invoices",
    }


def sample_lead_conversion() -> LeadConversion:
    return LeadConversion(
        overwrite=True,
        notify_lead_owner=True,
        notify_new_entity_owner=True,
        move_attachments_to="Deals",
        accounts="3652397000000624046",
        contacts="3652397000000624640",
        deals=DealDetails(
            deal_name="test",
            closing_date="2020-10-20",
            stage="Negotiation/Review",
            pipeline="Standard (Standard)",
            amount=20000000,
            contact_role="5545974000000006873",
        ),
        carry_over_tags=CarryOverTags(
            contacts=("tag1", "tag2"), accounts=("tag1",), deals=("tag1",)
        ),
    )


async def test_convert_lead_sends_every_seed_key_and_reads_reply(m: aioresponses) -> None:
    """convert_lead POSTs Leads/{id}/actions/convert with the seed's exact input, reads all 3."""
    url = f"{BASE}/Leads/3652397000007566544/actions/convert"
    m.post(url, payload=LEAD_REPLY)
    async with make_client() as client:
        result = await client.convert_lead("3652397000007566544", sample_lead_conversion())
    (call,) = calls(m, "POST", url)
    assert_auth(call)
    assert body_of(call) == LEAD_INPUT
    assert result.contacts == ConvertedRecord("Contacts", "3652397000007603014", "Paul Daly")
    assert result.accounts == ConvertedRecord("Accounts", "3652397000000624046", "Zylker")
    assert result.deals == ConvertedRecord("Deals", "3652397000007603019", "test")


async def test_convert_lead_assign_to_and_no_options(m: aioresponses) -> None:
    """assign_to is sent as {"id"}; no options sends {"data":[{}]}; a result without a deal."""
    url = f"{BASE}/Leads/5/actions/convert"
    reply = {"data": [{"code": "SUCCESS", "details": {"Contacts": {"id": "8", "name": "P"}}}]}
    m.post(url, payload=reply, repeat=True)
    async with make_client() as client:
        plain = await client.convert_lead(5)
        await client.convert_lead("5", LeadConversion(assign_to="2423488000000483001"))
    first, second = calls(m, "POST", url)
    assert body_of(first) == {"data": [{}]}
    assert body_of(second) == {"data": [{"assign_to": {"id": "2423488000000483001"}}]}
    assert plain.contacts == ConvertedRecord("Contacts", "8", "P")
    assert plain.accounts is None
    assert plain.deals is None


def test_lead_conversion_to_wire_matches_the_seed() -> None:
    """The wire writer turns the sample LeadConversion into the seed's input, key for key."""
    assert lead_conversion_to_wire(sample_lead_conversion()) == LEAD_INPUT


async def test_api_version_v7(m: aioresponses) -> None:
    """api_version="v7" puts /crm/v7/ in every URL."""
    url = f"{API}/crm/v7/Quotes/actions/mass_convert?job_id=1"
    m.get(url, payload=STATUS_REPLY)
    async with make_client(api_version="v7") as client:
        await client.mass_convert_status("Quotes", "1")
    assert len(calls(m, "GET", url)) == 1


@pytest.mark.parametrize("data_center", list(DataCenter))
async def test_client_uses_the_data_centers_api_domain(
    m: aioresponses, data_center: DataCenter
) -> None:
    """Without api_domain a static-token client talks to its data center's production host."""
    url = f"{data_center.api_domain()}/crm/v8/Quotes/actions/mass_convert?job_id=1"
    m.get(url, payload=STATUS_REPLY)
    async with ZohoConvertClient(
        StaticToken(ACCESS_TOKEN), data_center=data_center, sleep=asyncio.sleep
    ) as client:
        await client.mass_convert_status("Quotes", "1")
    assert len(calls(m, "GET", url)) == 1


API_SUFFIXES = {
    DataCenter.US: ("zohoapis.com", "accounts.zoho.com"),
    DataCenter.EU: ("zohoapis.eu", "accounts.zoho.eu"),
    DataCenter.IN: ("zohoapis.in", "accounts.zoho.in"),
    DataCenter.AU: ("zohoapis.com.au", "accounts.zoho.com.au"),
    DataCenter.CN: ("zohoapis.com.cn", "accounts.zoho.com.cn"),
    DataCenter.JP: ("zohoapis.jp", "accounts.zoho.jp"),
    DataCenter.CA: ("zohoapis.ca", "accounts.zohocloud.ca"),
    DataCenter.SA: ("zohoapis.sa", "accounts.zoho.sa"),
    DataCenter.UK: ("zohoapis.uk", "accounts.zoho.uk"),
}


def test_every_data_center_is_listed() -> None:
    """The DataCenter enum covers exactly US, EU, IN, AU, CN, JP, CA, SA and UK."""
    assert set(DataCenter) == set(API_SUFFIXES)


@pytest.mark.parametrize("data_center", list(DataCenter))
@pytest.mark.parametrize(
    ("environment", "prefix"),
    [
        (Environment.PRODUCTION, "www"),
        (Environment.SANDBOX, "sandbox"),
        (Environment.DEVELOPER, "developer"),
    ],
)
def test_data_center_urls(data_center: DataCenter, environment: Environment, prefix: str) -> None:
    """Each data center and environment gives ZOHO_FACTS' API host and accounts token URL."""
    api, accounts = API_SUFFIXES[data_center]
    assert data_center.api_domain(environment) == f"https://{prefix}.{api}"
    assert data_center.accounts_url == f"https://{accounts}"
    assert data_center.token_url == f"https://{accounts}/oauth/v2/token"


def test_data_center_from_name() -> None:
    """from_name is case-insensitive and names the valid choices for an unknown name."""
    assert DataCenter.from_name(" eu ") is DataCenter.EU
    with pytest.raises(ValueError, match="us, eu"):
        DataCenter.from_name("mars")


async def test_caller_session_is_not_closed(m: aioresponses) -> None:
    """A session the caller passes in is used and left open; one the client makes is closed."""
    m.get(f"{BASE}/Quotes/actions/mass_convert?job_id=1", payload=STATUS_REPLY, repeat=True)
    async with aiohttp.ClientSession() as session:
        async with make_client(session=session) as client:
            await client.mass_convert_status("Quotes", "1")
        assert not session.closed
    async with make_client() as client:
        await client.mass_convert_status("Quotes", "1")
        own = client._session
    assert own is not None
    assert own.closed


async def test_max_concurrency_bounds_requests_in_flight(m: aioresponses) -> None:
    """With max_concurrency=3, 30 concurrent calls never have more than 3 requests in flight."""
    in_flight = 0
    peak = 0

    async def slow_status(url: object, **kwargs: object) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(10):  # yield to the other tasks; no real time passes
            await asyncio.sleep(0)
        in_flight -= 1

    m.get(
        f"{BASE}/Quotes/actions/mass_convert?job_id=1",
        payload=STATUS_REPLY,
        repeat=True,
        callback=slow_status,
    )
    async with make_client(max_concurrency=3) as client:
        assert client.max_concurrency == 3
        await asyncio.gather(*(client.mass_convert_status("Quotes", "1") for _ in range(30)))
        assert client.request_count == 30
    assert peak == 3


async def test_leads_module_refs_carry_the_module_id_when_it_is_known(m: aioresponses) -> None:
    """carry_over_tags and move_attachments_to name the module's id once the Modules API told
    it (OpenAPI v8: {api_name, id}); without a lookup they send api_name alone."""
    url = f"{BASE}/Leads/actions/mass_convert"
    m.get(
        f"{BASE}/settings/modules/Contacts",
        payload={"modules": [{"api_name": "Contacts", "id": "3000000000000000003"}]},
    )
    m.post(url, payload=MASS_CONVERT_REPLY, repeat=True)
    async with make_client() as client:
        await client.module_id("Contacts")
        await client.mass_convert_leads(
            ["3"], carry_over_tags=["Contacts", "Accounts"], move_attachments_to="Contacts"
        )
    (call,) = calls(m, "POST", url)
    body = body_of(call)
    assert body["carry_over_tags"] == [
        {"api_name": "Contacts", "id": "3000000000000000003"},
        {"api_name": "Accounts"},
    ]
    assert body["move_attachments_to"] == {"api_name": "Contacts", "id": "3000000000000000003"}


def test_lead_conversion_sends_add_to_existing_record_and_a_known_module_id() -> None:
    """add_to_existing_record (OpenAPI v8) is sent; move_attachments_to keeps the seed's
    {api_name} and adds the id when known."""
    options = LeadConversion(
        contacts="3652397000000624640", add_to_existing_record=True, move_attachments_to="Deals"
    )
    row = lead_conversion_to_wire(options, {"Deals": "3000000000000000007"})["data"][0]
    assert row["add_to_existing_record"] is True
    assert row["move_attachments_to"] == {"api_name": "Deals", "id": "3000000000000000007"}
    assert lead_conversion_to_wire(options)["data"][0]["move_attachments_to"] == {
        "api_name": "Deals"
    }


def test_deals_given_as_zoho_json_are_read_and_anything_else_is_refused() -> None:
    """A deal written as Zoho's Deals object (Pipeline as a name or an object) is accepted;
    another type is a TypeError naming DealDetails, at construction."""
    deal = {
        "Deal_Name": "d",
        "Closing_Date": "2026-12-01",
        "Stage": "Qualification",
        "Pipeline": {"name": "Standard (Standard)", "id": "3000000000000000101"},
        "Amount": 10,
    }
    options = LeadConversion(deals=deal)  # type: ignore[arg-type]
    assert isinstance(options.deals, DealDetails)
    assert lead_conversion_to_wire(options)["data"][0]["Deals"]["Pipeline"] == deal["Pipeline"]
    with pytest.raises(TypeError, match="DealDetails"):
        LeadConversion(deals=["d"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Pipeline"):
        LeadConversion(deals={k: v for k, v in deal.items() if k != "Pipeline"})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "reply",
    [
        {"status": 204},
        {
            "status": 400,
            "payload": {
                "code": "INVALID_DATA",
                "details": {"param_name": "job_id"},
                "message": "The job_id is invalid",
                "status": "error",
            },
        },
    ],
    ids=["204 No Content", "400 job_id is invalid"],
)
async def test_status_of_a_job_zoho_forgot_is_job_not_found(
    m: aioresponses, reply: dict[str, Any]
) -> None:
    """A status poll answered 204 (or "The job_id is invalid") raises JobNotFoundError for that
    job at once: no retry, and wait_for_job does not poll until its timeout."""
    url = f"{BASE}/Quotes/actions/mass_convert?job_id={JOB_ID}"
    m.get(url, repeat=True, **reply)
    async with make_client() as client:
        with pytest.raises(JobNotFoundError) as caught:
            await client.wait_for_job("Quotes", JOB_ID)
    assert caught.value.job_id == JOB_ID
    assert isinstance(caught.value, InvalidRequestError)
    assert len(calls(m, "GET", url)) == 1


async def test_convert_lead_calls_hold_the_convert_lead_sub_limit(m: aioresponses) -> None:
    """At most lead_convert_concurrency Convert Lead calls are in flight, inside the overall
    limit: other calls still use the remaining slots."""
    in_flight = 0
    peak = 0

    async def slow(url: Any, **kwargs: Any) -> CallbackResult:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(5):
            await asyncio.sleep(0)
        in_flight -= 1
        return CallbackResult(payload=LEAD_REPLY)

    for n in range(12):
        m.post(f"{BASE}/Leads/{1000 + n}/actions/convert", callback=slow)
    async with make_client(max_concurrency=10, lead_convert_concurrency=3) as client:
        await asyncio.gather(*(client.convert_lead(1000 + n) for n in range(12)))
    assert peak == 3
