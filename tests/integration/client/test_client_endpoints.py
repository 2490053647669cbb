"""The core client against the simulator over real HTTP: every endpoint and every error path.

Time is virtual: the client's sleep advances the clock the simulator reads, so job lifecycles,
retries and token lifetimes run without waiting.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from client_helpers import StartEnv

from zoho_convert import (
    AuthenticationError,
    CarryOverTags,
    DealDetails,
    InvalidRequestError,
    JobState,
    LeadConversion,
    ModuleRef,
    PollPolicy,
    RateLimitError,
    RecordStateError,
    RetryPolicy,
    ServerError,
    StaticToken,
    TransportError,
    ZohoConvertClient,
)
from zoho_convert.simulator import Faults

VERSIONS = ["v7", "v8"]
PAIRS = [("Quotes", "Sales_Orders"), ("Quotes", "Invoices"), ("Sales_Orders", "Invoices")]
DEAL = DealDetails(
    deal_name="Big deal",
    closing_date="2030-01-31",
    stage="Negotiation/Review",
    pipeline="Standard (Standard)",
    amount=1200,
)


def _counts_add_up(status: Any) -> bool:
    parts = status.converted_count + status.not_converted_count + status.failed_count
    return bool(parts == status.total_count)


def _faulty(endpoint: str, **faults: Any) -> dict[str, Any]:
    """Simulator overrides: the given faults, on one endpoint only."""
    return {"faults": Faults(fault_endpoints=frozenset({endpoint}), **faults)}


# -- endpoints ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_module_id_is_read_from_the_modules_api_and_cached(
    env: StartEnv, version: str
) -> None:
    """module_id returns the org's id for the module and asks the Modules API only once."""
    e = await env(api_version=version)
    first = await e.client.module_id("Sales_Orders")
    again = await e.client.module_id("Sales_Orders")
    assert first == again == e.module_id("Sales_Orders")
    assert e.sim.state.stats.requests_by_endpoint["modules"] == 1


async def test_module_id_of_an_unknown_module_is_an_invalid_request(env: StartEnv) -> None:
    """An unknown module name answered with Zoho's INVALID_MODULE is an InvalidRequestError."""
    e = await env(unknown_module_reply="invalid_module")
    with pytest.raises(InvalidRequestError) as caught:
        await e.client.module_id("Widgets")
    assert caught.value.code == "INVALID_MODULE"


async def test_module_id_of_an_unknown_module_answered_204_is_a_value_error(
    env: StartEnv,
) -> None:
    """An unknown module answered 204 No Content (the OpenAPI v8 spec) says it does not exist."""
    e = await env(unknown_module_reply="204")
    with pytest.raises(ValueError, match="'Widgets' does not exist"):
        await e.client.module_id("Widgets")


@pytest.mark.parametrize("version", VERSIONS)
async def test_requests_go_to_the_chosen_api_version(env: StartEnv, version: str) -> None:
    """Every request is sent under /crm/{version}/, and a caller's session is left open."""
    urls: list[str] = []

    async def on_start(_: Any, __: Any, params: aiohttp.TraceRequestStartParams) -> None:
        urls.append(str(params.url))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        e = await env(api_version=version, client={"session": session})
        ids = e.sim.state.create_records("Quotes", 2)
        job = await e.client.mass_convert("Quotes", ids, to="Sales_Orders")
        await e.client.mass_convert_status("Quotes", job)
        await e.client.close()
        assert not session.closed
    assert len(urls) == 3
    assert all(f"/crm/{version}/" in url for url in urls)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("module", "target"), PAIRS)
async def test_mass_convert_job_lifecycle(
    env: StartEnv, version: str, module: str, target: str
) -> None:
    """A job goes SCHEDULED -> IN PROGRESS -> COMPLETED with counts that add up; ids convert."""
    e = await env(api_version=version, job_duration=100.0)
    ids = e.sim.state.create_records(module, 10)
    job = await e.client.mass_convert(module, ids, to=target, carry_over_tags=True)
    assert job in e.sim.state.jobs

    seen = [await e.client.mass_convert_status(module, job)]
    e.clock.advance(60)
    seen.append(await e.client.mass_convert_status(module, job))
    e.clock.advance(60)
    seen.append(await e.client.mass_convert_status(module, job))

    assert [s.state for s in seen] == [JobState.SCHEDULED, JobState.IN_PROGRESS, JobState.COMPLETED]
    assert all(s.total_count == 10 and _counts_add_up(s) for s in seen)
    assert seen[-1].converted_count == 10
    assert e.converted(module) == set(ids)


async def test_mass_convert_sends_options_the_simulator_accepts(env: StartEnv) -> None:
    """assign_to, related_modules and a ModuleRef target (no lookup) pass strict validation."""
    e = await env()
    ids = e.sim.state.create_records("Quotes", 3)
    target = ModuleRef("Invoices", e.module_id("Invoices"))
    job = await e.client.mass_convert(
        "Quotes",
        [int(ids[0]), ids[1], ids[2]],
        to=target,
        assign_to=2423488000000483001,
        related_modules=[ModuleRef("Calls", e.module_id("Calls"))],
    )
    status = await e.client.mass_convert_status("Quotes", int(job))
    assert status.state is JobState.COMPLETED and status.converted_count == 3
    assert e.sim.state.stats.requests_by_endpoint["modules"] == 0


async def test_wait_for_job_polls_to_completion_in_virtual_time(env: StartEnv) -> None:
    """wait_for_job sleeps (virtually) with backoff until the job is COMPLETED."""
    e = await env(job_duration=40.0)
    ids = e.sim.state.create_records("Quotes", 5)
    job = await e.client.mass_convert("Quotes", ids, to="Sales_Orders")
    policy = PollPolicy(initial=1.0, multiplier=2.0, max_interval=16.0, timeout=600.0)
    status = await e.client.wait_for_job("Quotes", job, poll=policy)
    assert status.state is JobState.COMPLETED and status.converted_count == 5
    assert e.sleeps.delays[:4] == [1.0, 2.0, 4.0, 8.0]
    assert e.sim.state.stats.polls_per_job[job] == len(e.sleeps.delays)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("module", "target"), PAIRS)
async def test_convert_single_record(
    env: StartEnv, version: str, module: str, target: str
) -> None:
    """convert returns the record created in the target module; the ledger converts it once."""
    e = await env(api_version=version)
    (record,) = e.sim.state.create_records(module, 1)
    created = await e.client.convert(module, record, to=target)
    assert created.module == target
    assert created.id.isdigit() and created.name
    assert e.times_converted(module, record) == 1


@pytest.mark.parametrize("version", VERSIONS)
async def test_convert_lead_with_every_option(env: StartEnv, version: str) -> None:
    """convert_lead with options links the given account and contact and creates the deal."""
    e = await env(api_version=version)
    (lead,) = e.sim.state.create_records("Leads", 1)
    options = LeadConversion(
        overwrite=True,
        notify_lead_owner=False,
        notify_new_entity_owner=True,
        move_attachments_to="Deals",
        accounts="3652397000000624046",
        contacts="3652397000000624640",
        assign_to="2423488000000483001",
        deals=DEAL,
        carry_over_tags=CarryOverTags(contacts=("vip",), accounts=("vip",), deals=("q1",)),
    )
    result = await e.client.convert_lead(lead, options)
    assert result.accounts is not None and result.accounts.id == "3652397000000624046"
    assert result.contacts is not None and result.contacts.id == "3652397000000624640"
    assert result.deals is not None and result.deals.name == "Big deal"
    assert e.times_converted("Leads", lead) == 1


async def test_convert_lead_without_options(env: StartEnv) -> None:
    """convert_lead with no options creates a contact and an account, and no deal."""
    e = await env()
    (lead,) = e.sim.state.create_records("Leads", 1)
    result = await e.client.convert_lead(int(lead))
    assert result.contacts is not None and result.accounts is not None
    assert result.deals is None


@pytest.mark.parametrize("version", VERSIONS)
async def test_mass_convert_leads_and_status(env: StartEnv, version: str) -> None:
    """Leads mass convert schedules a job; its capitalised status reply parses to COMPLETED."""
    e = await env(api_version=version, job_duration=10.0)
    leads = e.sim.state.create_records("Leads", 7)
    job = await e.client.mass_convert_leads(
        leads,
        deals=DEAL,
        assign_to="2423488000000483001",
        carry_over_tags=("Contacts", "Deals"),
        related_modules=[ModuleRef("Tasks", e.module_id("Tasks"))],
        move_attachments_to="Contacts",
    )
    early = await e.client.mass_convert_leads_status(job)
    assert early.state is JobState.SCHEDULED and _counts_add_up(early)
    status = await e.client.wait_for_job("Leads", job, poll=PollPolicy(initial=5.0))
    assert status.state is JobState.COMPLETED and status.converted_count == 7
    assert e.converted("Leads") == set(leads)


# -- record-state errors ------------------------------------------------------------------------


async def test_single_convert_of_a_converted_record(env: StartEnv) -> None:
    """Converting a record twice gives RecordStateError ID_ALREADY_CONVERTED; ledger stays 1."""
    e = await env()
    (record,) = e.sim.state.create_records("Quotes", 1)
    await e.client.convert("Quotes", record, to="Sales_Orders")
    with pytest.raises(RecordStateError) as caught:
        await e.client.convert("Quotes", record, to="Invoices")
    assert (caught.value.status, caught.value.code) == (400, "ID_ALREADY_CONVERTED")
    assert caught.value.hint and not caught.value.maybe_processed
    assert e.times_converted("Quotes", record) == 1


async def test_lead_convert_of_a_converted_lead(env: StartEnv) -> None:
    """Converting a lead twice gives RecordStateError ID_ALREADY_CONVERTED."""
    e = await env()
    (lead,) = e.sim.state.create_records("Leads", 1)
    await e.client.convert_lead(lead)
    with pytest.raises(RecordStateError) as caught:
        await e.client.convert_lead(lead)
    assert caught.value.code == "ID_ALREADY_CONVERTED"


@pytest.mark.parametrize("details", ["oas", "legacy"])
async def test_mass_convert_already_converted_fails_the_call(env: StartEnv, details: str) -> None:
    """already_converted='fail_call': the call fails whole and names the offending id, as
    ``resource_path_index`` (OpenAPI v8) or as ``json_path`` and ``id`` (older replies)."""
    e = await env(already_converted="fail_call", error_details=details)
    ids = e.sim.state.create_records("Quotes", 5)
    await e.client.convert("Quotes", ids[3], to="Sales_Orders")
    with pytest.raises(RecordStateError) as caught:
        await e.client.mass_convert("Quotes", ids, to="Sales_Orders")
    error = caught.value
    assert error.code == "ID_ALREADY_CONVERTED"
    if details == "oas":
        assert error.details == {"resource_path_index": 3}
    else:
        assert error.details.get("id") == ids[3]
        assert error.details.get("json_path") == "$.ids[3]"
    assert len(e.sim.state.jobs) == 0
    assert e.converted("Quotes") == {ids[3]}


async def test_mass_convert_already_converted_fails_inside_the_job(env: StartEnv) -> None:
    """already_converted='fail_in_job': the job runs; the converted id counts as failed."""
    e = await env(already_converted="fail_in_job")
    ids = e.sim.state.create_records("Quotes", 5)
    await e.client.convert("Quotes", ids[0], to="Sales_Orders")
    job = await e.client.mass_convert("Quotes", ids, to="Sales_Orders")
    status = await e.client.wait_for_job("Quotes", job)
    assert status.state is JobState.COMPLETED
    assert (status.total_count, status.converted_count, status.failed_count) == (5, 4, 1)
    assert all(e.times_converted("Quotes", i) == 1 for i in ids)


async def test_mass_convert_of_a_job_still_running_counts_as_converted(env: StartEnv) -> None:
    """Ids held by a running job are refused by a second mass convert (no double conversion)."""
    e = await env(job_duration=50.0)
    ids = e.sim.state.create_records("Quotes", 3)
    await e.client.mass_convert("Quotes", ids, to="Sales_Orders")
    with pytest.raises(RecordStateError) as caught:
        await e.client.mass_convert("Quotes", ids[:1], to="Invoices")
    assert caught.value.code == "ID_ALREADY_CONVERTED"


@pytest.mark.parametrize("details", ["oas", "legacy"])
async def test_invalid_ids_fail_a_mass_convert_with_invalid_data(
    env: StartEnv, details: str
) -> None:
    """An invalid id fails the whole mass convert with INVALID_DATA (not a record-state error)."""
    bad = "1234567890123"
    e = await env(invalid_ids={bad}, error_details=details)
    ids = e.sim.state.create_records("Quotes", 2)
    with pytest.raises(InvalidRequestError) as caught:
        await e.client.mass_convert("Quotes", [ids[0], bad, ids[1]], to="Sales_Orders")
    assert caught.value.code == "INVALID_DATA"
    assert not isinstance(caught.value, RecordStateError)
    if details == "oas":
        assert caught.value.details == {"resource_path_index": 1}
    else:
        assert caught.value.details.get("json_path") == "$.ids[1]"
    assert len(e.sim.state.jobs) == 0


async def test_single_convert_of_an_invalid_id(env: StartEnv) -> None:
    """A single convert of an invalid id gives INVALID_DATA and converts nothing."""
    bad = "1234567890123"
    e = await env(invalid_ids={bad})
    with pytest.raises(InvalidRequestError) as caught:
        await e.client.convert("Quotes", bad, to="Sales_Orders")
    assert caught.value.code == "INVALID_DATA"
    assert e.converted("Quotes") == set()


@pytest.mark.parametrize("module", ["Quotes", "Leads"])
async def test_unknown_job_id_is_invalid_data(env: StartEnv, module: str) -> None:
    """Polling a job id the CRM never issued gives INVALID_DATA."""
    e = await env()
    with pytest.raises(InvalidRequestError) as caught:
        if module == "Leads":
            await e.client.mass_convert_leads_status("2423488000000626117")
        else:
            await e.client.mass_convert_status(module, "2423488000000626117")
    assert caught.value.code == "INVALID_DATA"


async def test_job_of_another_module_is_unknown(env: StartEnv) -> None:
    """A Quotes job polled as a Sales_Orders job is INVALID_DATA."""
    e = await env()
    ids = e.sim.state.create_records("Quotes", 1)
    job = await e.client.mass_convert("Quotes", ids, to="Sales_Orders")
    with pytest.raises(InvalidRequestError) as caught:
        await e.client.mass_convert_status("Sales_Orders", job)
    assert caught.value.code == "INVALID_DATA"


@pytest.mark.parametrize(
    ("setting", "code"), [("not_approved_ids", "NOT_APPROVED"), ("locked_ids", "RECORD_LOCKED")]
)
async def test_single_and_lead_convert_refused_by_record_state(
    env: StartEnv, setting: str, code: str
) -> None:
    """NOT_APPROVED and RECORD_LOCKED records raise RecordStateError with that code."""
    quote, lead = "1111111111111", "2222222222222"
    e = await env(**{setting: {quote, lead}})
    with pytest.raises(RecordStateError) as inventory:
        await e.client.convert("Quotes", quote, to="Sales_Orders")
    with pytest.raises(RecordStateError) as leads:
        await e.client.convert_lead(lead)
    assert inventory.value.code == leads.value.code == code
    assert inventory.value.hint and leads.value.hint  # the docs' resolution is carried


@pytest.mark.parametrize("setting", ["not_approved_ids", "locked_ids"])
async def test_mass_convert_fails_unconvertible_records_inside_the_job(
    env: StartEnv, setting: str
) -> None:
    """In a mass convert, not approved or locked records count as failed in the job."""
    blocked = "1111111111111"
    e = await env(**{setting: {blocked}})
    ids = e.sim.state.create_records("Quotes", 3)
    job = await e.client.mass_convert("Quotes", [*ids, blocked], to="Sales_Orders")
    status = await e.client.wait_for_job("Quotes", job)
    assert (status.total_count, status.converted_count, status.failed_count) == (4, 3, 1)


# -- authentication -----------------------------------------------------------------------------


async def test_static_token_refused_is_an_authentication_error(env: StartEnv) -> None:
    """A StaticToken refused with INVALID_TOKEN raises AuthenticationError; nothing refreshes."""
    e = await env(faults=Faults(token_max_uses=1))
    await e.client.module_id("Sales_Orders")
    with pytest.raises(AuthenticationError) as caught:
        await e.client.mass_convert_status("Quotes", "2423488000000626117")
    assert (caught.value.status, caught.value.code) == (401, "INVALID_TOKEN")
    assert e.sim.state.stats.requests_by_endpoint["token"] == 0


async def test_refresh_token_auth_mints_a_token_and_refreshes_on_invalid_token(
    env: StartEnv,
) -> None:
    """RefreshTokenAuth gets a first token, then refreshes once per INVALID_TOKEN and goes on."""
    e = await env(auth="refresh", faults=Faults(token_max_uses=2))
    ids = e.sim.state.create_records("Quotes", 4)
    for record in ids:
        await e.client.convert("Quotes", record, to="Sales_Orders")
    # 1 lookup + 4 converts = 5 uses at 2 per token: tokens minted at uses 1, 3 and 5.
    assert e.sim.state.stats.token_refreshes == 3
    assert e.auth.refresh_count == 3  # type: ignore[union-attr]
    assert e.converted("Quotes") == set(ids)
    assert e.sim.state.stats.responses_by_status[401] == 2


async def test_refresh_before_expiry_uses_the_virtual_clock(env: StartEnv) -> None:
    """A token with a short TTL is refreshed ahead of expiry: no 401 is ever served."""
    e = await env(auth="refresh", faults=Faults(token_ttl=100.0))
    ids = e.sim.state.create_records("Quotes", 6)
    for record in ids:
        e.clock.advance(40)
        await e.client.convert("Quotes", record, to="Sales_Orders")
    assert e.sim.state.stats.responses_by_status[401] == 0
    assert e.sim.state.stats.token_refreshes >= 3
    assert e.converted("Quotes") == set(ids)


async def test_revoked_refresh_token_is_an_authentication_error(env: StartEnv) -> None:
    """invalid_code from the token endpoint is an AuthenticationError, remembered afterwards."""
    e = await env(auth="refresh", faults=Faults(token_max_uses=1))
    await e.client.module_id("Sales_Orders")
    e.sim.state.revoke_refresh_token()
    with pytest.raises(AuthenticationError) as caught:
        await e.client.mass_convert_status("Quotes", "2423488000000626117")
    assert caught.value.code == "invalid_code"
    assert "refresh token" in str(caught.value)
    token_calls = e.sim.state.stats.requests_by_endpoint["token"]
    with pytest.raises(AuthenticationError):
        await e.client.mass_convert_status("Quotes", "2423488000000626117")
    assert e.sim.state.stats.requests_by_endpoint["token"] == token_calls


async def test_wrong_client_secret_is_invalid_client(env: StartEnv) -> None:
    """A client secret the accounts server does not know: AuthenticationError invalid_client."""
    e = await env(auth="refresh", client_secret="the-server-expects-another-secret")
    with pytest.raises(AuthenticationError) as caught:
        await e.client.module_id("Sales_Orders")
    assert caught.value.code == "invalid_client"
    assert e.sim.state.stats.requests_by_endpoint["modules"] == 0


async def test_token_endpoint_failures_are_retried(env: StartEnv) -> None:
    """Two token-endpoint 500s are retried under the retry policy; the call then succeeds."""
    e = await env(auth="refresh", faults=Faults(token_endpoint_failures=2))
    assert await e.client.module_id("Invoices") == e.module_id("Invoices")
    assert e.sim.state.stats.token_refresh_failures == 2
    assert e.sim.state.stats.token_refreshes == 1


async def test_unknown_access_token_is_an_authentication_error(env: StartEnv) -> None:
    """A token the CRM never issued is refused with INVALID_TOKEN as an AuthenticationError."""
    e = await env()
    stranger = ZohoConvertClient(
        StaticToken("1000.not-a-token-the-crm-knows"),
        api_domain=e.sim.url,
        sleep=e.sleeps,
        clock=e.clock,
    )
    async with stranger:
        with pytest.raises(AuthenticationError) as caught:
            await stranger.module_id("Quotes")
    assert caught.value.code == "INVALID_TOKEN"


# -- rate limits --------------------------------------------------------------------------------


@pytest.mark.parametrize("retry_after", [None, 7.0])
async def test_persistent_429_raises_rate_limit_error_after_max_tries(
    env: StartEnv, retry_after: float | None
) -> None:
    """Always 429: RateLimitError after max_tries tries; waits follow Retry-After or backoff."""
    policy = RetryPolicy(max_tries=4, initial=0.5, max_delay=8.0, deadline=10_000)
    faults = _faulty("mass_convert_status", rate_429=1.0, retry_after=retry_after)
    e = await env(retry=policy, **faults)
    with pytest.raises(RateLimitError) as caught:
        await e.client.mass_convert_status("Quotes", "2423488000000626117")
    assert caught.value.retry_after == retry_after
    assert e.sim.state.stats.requests_by_endpoint["mass_convert_status"] == 4
    assert len(e.sleeps.delays) == 3
    if retry_after is None:
        assert all(0 <= d <= cap for d, cap in zip(e.sleeps.delays, [1.0, 2.0, 4.0], strict=True))
    else:
        assert e.sleeps.delays == [7.0, 7.0, 7.0]


async def test_retry_after_is_capped_by_the_policy(env: StartEnv) -> None:
    """A huge Retry-After waits only max_retry_after."""
    policy = RetryPolicy(max_tries=2, max_retry_after=3.0, deadline=10_000)
    e = await env(retry=policy, **_faulty("modules", rate_429=1.0, retry_after=3600.0))
    with pytest.raises(RateLimitError):
        await e.client.module_id("Quotes")
    assert e.sleeps.delays == [3.0]


@pytest.mark.parametrize("retry_after", [None, 2.0])
async def test_random_429s_are_retried_until_success(
    env: StartEnv, retry_after: float | None
) -> None:
    """Random 429s on GET and POST are retried; one wait per 429 served; one job per call."""
    policy = RetryPolicy(max_tries=30, deadline=100_000)
    e = await env(retry=policy, faults=Faults(rate_429=0.5, retry_after=retry_after))
    ids = e.sim.state.create_records("Quotes", 20)
    jobs = []
    for part in (ids[:10], ids[10:]):
        jobs.append(await e.client.mass_convert("Quotes", part, to="Sales_Orders"))
        await e.client.mass_convert_status("Quotes", jobs[-1])
    assert len(e.sim.state.jobs) == 2
    assert e.sim.state.stats.rate_limited > 0
    assert len(e.sleeps.delays) == e.sim.state.stats.rate_limited
    if retry_after is not None:
        assert set(e.sleeps.delays) == {2.0}


async def test_concurrency_cap_429s_are_absorbed(env: StartEnv) -> None:
    """Past the simulator's cap, 429s are retried; every conversion happens exactly once."""
    e = await env(
        retry=RetryPolicy(max_tries=50, deadline=100_000),
        faults=Faults(concurrency_cap=2, latency=0.001),
        client={"max_concurrency": 8},
    )
    ids = e.sim.state.create_records("Quotes", 16)
    results = await asyncio.gather(
        *(e.client.convert("Quotes", i, to="Sales_Orders") for i in ids)
    )
    assert len({r.id for r in results}) == 16
    assert all(e.times_converted("Quotes", i) == 1 for i in ids)


# -- server errors and dropped connections ------------------------------------------------------


async def test_500_on_get_is_retried_until_success(env: StartEnv) -> None:
    """Random 500s on the status GET are retried; the status comes back right."""
    e = await env(
        retry=RetryPolicy(max_tries=30, deadline=100_000),
        **_faulty("mass_convert_status", rate_500=0.6),
    )
    ids = e.sim.state.create_records("Quotes", 3)
    job = await e.client.mass_convert("Quotes", ids, to="Sales_Orders")
    for _ in range(5):
        status = await e.client.mass_convert_status("Quotes", job)
        assert status.converted_count == 3
    served_500 = e.sim.state.stats.responses_by_status[500]
    assert served_500 > 0 and len(e.sleeps.delays) == served_500


async def test_500_on_get_gives_up_after_max_tries(env: StartEnv) -> None:
    """Always 500 on a GET: ServerError after max_tries; a GET never counts as maybe processed."""
    e = await env(retry=RetryPolicy(max_tries=3), **_faulty("mass_convert_status", rate_500=1.0))
    with pytest.raises(ServerError) as caught:
        await e.client.mass_convert_status("Quotes", "2423488000000626117")
    assert caught.value.code == "INTERNAL_ERROR" and not caught.value.maybe_processed
    assert e.sim.state.stats.requests_by_endpoint["mass_convert_status"] == 3


@pytest.mark.parametrize("endpoint", ["mass_convert", "convert", "lead_convert"])
async def test_500_on_post_is_raised_once_with_maybe_processed(
    env: StartEnv, endpoint: str
) -> None:
    """A 500 on a POST is not repeated: ServerError(maybe_processed=True) after one request."""
    e = await env(**_faulty(endpoint, rate_500=1.0))
    quotes = e.sim.state.create_records("Quotes", 2)
    (lead,) = e.sim.state.create_records("Leads", 1)
    with pytest.raises(ServerError) as caught:
        if endpoint == "mass_convert":
            await e.client.mass_convert("Quotes", quotes, to="Sales_Orders")
        elif endpoint == "convert":
            await e.client.convert("Quotes", quotes[0], to="Sales_Orders")
        else:
            await e.client.convert_lead(lead)
    assert caught.value.maybe_processed
    assert "may have been processed" in str(caught.value)
    assert e.sim.state.stats.requests_by_endpoint[endpoint] == 1
    assert e.sleeps.delays == []


async def test_dropped_connection_on_get_is_retried(env: StartEnv) -> None:
    """Dropped connections on the status GET are retried until a reply gets through."""
    e = await env(
        retry=RetryPolicy(max_tries=30, deadline=100_000),
        **_faulty("mass_convert_status", drop_rate=0.6),
    )
    ids = e.sim.state.create_records("Quotes", 2)
    job = await e.client.mass_convert("Quotes", ids, to="Invoices")
    for _ in range(4):
        assert (await e.client.mass_convert_status("Quotes", job)).converted_count == 2
    # aiohttp itself resends an idempotent request once when a reused connection drops, so
    # a drop costs our retry policy at most one wait.
    assert 0 < len(e.sleeps.delays) <= e.sim.state.stats.dropped


async def test_dropped_connection_on_get_gives_up_as_transport_error(env: StartEnv) -> None:
    """Always dropped: TransportError(sent=True) after max_tries attempts."""
    e = await env(retry=RetryPolicy(max_tries=3), **_faulty("modules", drop_rate=1.0))
    with pytest.raises(TransportError) as caught:
        await e.client.module_id("Quotes")
    assert caught.value.sent
    assert len(e.sleeps.delays) == 2
    assert 3 <= e.sim.state.stats.dropped <= 6  # aiohttp may resend a GET once per attempt


@pytest.mark.parametrize("endpoint", ["mass_convert", "convert", "lead_mass_convert"])
async def test_dropped_connection_on_post_is_not_repeated(env: StartEnv, endpoint: str) -> None:
    """A POST whose connection drops raises TransportError(sent=True) after one attempt."""
    e = await env(**_faulty(endpoint, drop_rate=1.0))
    quotes = e.sim.state.create_records("Quotes", 2)
    leads = e.sim.state.create_records("Leads", 2)
    with pytest.raises(TransportError) as caught:
        if endpoint == "mass_convert":
            await e.client.mass_convert("Quotes", quotes, to="Sales_Orders")
        elif endpoint == "convert":
            await e.client.convert("Quotes", quotes[0], to="Sales_Orders")
        else:
            await e.client.mass_convert_leads(leads)
    assert caught.value.sent and caught.value.maybe_processed
    assert e.sim.state.stats.requests_by_endpoint[endpoint] == 1
    assert e.sim.state.stats.dropped == 1
    assert len(e.sim.state.jobs) == 0  # dropped before processing: nothing happened


async def test_connection_refused_is_transport_error_not_sent(env: StartEnv) -> None:
    """No server listening: TransportError(sent=False), retried even for a POST."""
    e = await env(retry=RetryPolicy(max_tries=3))
    ids = e.sim.state.create_records("Quotes", 1)
    target = ModuleRef("Sales_Orders", e.module_id("Sales_Orders"))
    await e.sim.stop()
    with pytest.raises(TransportError) as caught:
        await e.client.mass_convert("Quotes", ids, to=target)
    assert not caught.value.sent and not caught.value.maybe_processed
    assert len(e.sleeps.delays) == 2  # three attempts: safe, since nothing reached a server


@pytest.mark.parametrize("fault", [{"rate_500": 1.0}, {"drop_rate": 1.0}])
async def test_fault_after_processing_mass_convert_leaves_a_job(
    env: StartEnv, fault: dict[str, float]
) -> None:
    """A 500 or drop after processing: the client gets an uncertain error, yet the job exists."""
    e = await env(
        job_duration=5.0, **_faulty("mass_convert", fault_after_processing=True, **fault)
    )
    ids = e.sim.state.create_records("Quotes", 4)
    with pytest.raises((ServerError, TransportError)) as caught:
        await e.client.mass_convert("Quotes", ids, to="Sales_Orders")
    assert caught.value.maybe_processed
    assert len(e.sim.state.jobs) == 1
    (job,) = e.sim.state.jobs.values()
    assert sorted(str(i) for i in job.ids) == sorted(ids)
    # Repeating would be refused: the lost job holds (then converts) the records.
    e.clock.advance(10)
    assert e.converted("Quotes") == set(ids)
    assert e.sim.state.stats.requests_by_endpoint["mass_convert"] == 1


async def test_fault_after_processing_single_convert_converts_the_record(env: StartEnv) -> None:
    """A dropped single convert after processing: TransportError(sent=True), record converted."""
    e = await env(**_faulty("convert", drop_rate=1.0, fault_after_processing=True))
    (record,) = e.sim.state.create_records("Quotes", 1)
    with pytest.raises(TransportError) as caught:
        await e.client.convert("Quotes", record, to="Sales_Orders")
    assert caught.value.sent
    assert e.times_converted("Quotes", record) == 1


async def test_fault_after_processing_on_get_is_harmless(env: StartEnv) -> None:
    """A 500 after a status GET was processed is retried; polling is idempotent."""
    e = await env(
        retry=RetryPolicy(max_tries=40, deadline=100_000),
        **_faulty("mass_convert_status", rate_500=0.5, fault_after_processing=True),
    )
    ids = e.sim.state.create_records("Quotes", 2)
    job = await e.client.mass_convert("Quotes", ids, to="Sales_Orders")
    status = await e.client.mass_convert_status("Quotes", job)
    assert status.converted_count == 2
