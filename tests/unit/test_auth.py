"""Authentication: the refresh-token flow, single-flight refresh, OAuth failures, static tokens."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aioresponses import CallbackResult, aioresponses
from core_helpers import (
    ACCESS_TOKEN,
    API,
    BASE,
    CLIENT_ID,
    CLIENT_SECRET,
    NEW_ACCESS_TOKEN,
    REFRESH_TOKEN,
    STATUS_REPLY,
    TOKEN_URL,
    RecordingSleep,
    calls,
    make_client,
    refresh_auth,
    token_reply,
)
from fakes import FakeClock

from zoho_convert import (
    AuthenticationError,
    DataCenter,
    RateLimitError,
    RefreshTokenAuth,
    RetryPolicy,
    ServerError,
    StaticToken,
    ZohoConvertClient,
)

STATUS_URL = f"{BASE}/Quotes/actions/mass_convert?job_id=1"
INVALID_TOKEN = {
    "code": "INVALID_TOKEN",
    "details": {},
    "message": "invalid oauth token",
    "status": "error",
}


async def yield_to_others(url: Any = None, **kwargs: Any) -> None:
    """Keep a mocked reply "in flight" while the other tasks run (no real time passes).

    aioresponses answers without suspending, so without this the "concurrent" tasks would run
    one after the other and a missing lock would go unnoticed.
    """
    for _ in range(20):
        await asyncio.sleep(0)


class FakeCRM:
    """A status endpoint that accepts only the tokens in ``valid`` and counts what it sees."""

    def __init__(self, *valid: str) -> None:
        self.valid = set(valid)
        self.seen: list[str] = []
        self.in_flight = 0
        self.peak = 0

    async def handle(self, url: Any, **kwargs: Any) -> CallbackResult:
        token = kwargs["headers"]["Authorization"].removeprefix("Zoho-oauthtoken ")
        self.seen.append(token)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await yield_to_others()
        self.in_flight -= 1
        if token in self.valid:
            return CallbackResult(status=200, payload=STATUS_REPLY)
        return CallbackResult(status=401, payload=INVALID_TOKEN)


async def test_refresh_form_goes_to_the_data_centers_token_url(m: aioresponses) -> None:
    """The token call POSTs the four form fields to the data center's /oauth/v2/token, no auth."""
    url = "https://accounts.zoho.eu/oauth/v2/token"
    m.post(url, payload=token_reply())
    m.get(STATUS_URL, payload=STATUS_REPLY)
    auth = refresh_auth(data_center=DataCenter.EU, token_timeout=12.5)
    async with make_client(auth) as client:
        await client.mass_convert_status("Quotes", "1")
    (call,) = calls(m, "POST", url)
    assert call.kwargs["data"] == {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
    }
    assert "Authorization" not in call.kwargs["headers"]
    assert call.kwargs["timeout"].total == 12.5
    (api_call,) = calls(m, "GET", STATUS_URL)
    assert api_call.kwargs["headers"]["Authorization"] == f"Zoho-oauthtoken {ACCESS_TOKEN}"


def test_default_token_url_is_us() -> None:
    """Without a data center the token URL is accounts.zoho.com's."""
    assert refresh_auth().token_url == TOKEN_URL


@pytest.mark.parametrize(
    ("accounts_url", "token_url"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/oauth/v2/token"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/oauth/v2/token"),
        ("https://proxy.example/zoho", "https://proxy.example/zoho/oauth/v2/token"),
        ("http://127.0.0.1:8000/oauth/v2/token", "http://127.0.0.1:8000/oauth/v2/token"),
        ("https://proxy.example/oauth/v2/token/", "https://proxy.example/oauth/v2/token"),
        ("https://proxy.example/X/", "https://proxy.example/X/oauth/v2/token"),
    ],
)
async def test_accounts_url_override(m: aioresponses, accounts_url: str, token_url: str) -> None:
    """accounts_url replaces the data center's server, with or without /oauth/v2/token."""
    auth = refresh_auth(data_center=DataCenter.JP, accounts_url=accounts_url)
    assert auth.token_url == token_url
    m.post(token_url, payload=token_reply())
    m.get(STATUS_URL, payload=STATUS_REPLY)
    async with make_client(auth) as client:
        await client.mass_convert_status("Quotes", "1")
    assert len(calls(m, "POST", token_url)) == 1


async def test_token_refreshed_before_expiry_with_margin(m: aioresponses) -> None:
    """A token is reused until expires_in - margin, then refreshed before it is used again."""
    clock = FakeClock(start=0.0)
    m.post(TOKEN_URL, payload=token_reply(ACCESS_TOKEN, expires_in=3600))
    m.post(TOKEN_URL, payload=token_reply(NEW_ACCESS_TOKEN, expires_in=3600))
    crm = FakeCRM(ACCESS_TOKEN, NEW_ACCESS_TOKEN)
    m.get(STATUS_URL, callback=crm.handle, repeat=True)
    auth = refresh_auth(refresh_margin=300.0, clock=clock)
    async with make_client(auth) as client:
        await client.mass_convert_status("Quotes", "1")
        clock.advance(3299.0)  # 1 s before the margin starts
        await client.mass_convert_status("Quotes", "1")
        assert len(calls(m, "POST", TOKEN_URL)) == 1
        clock.advance(1.0)  # the margin: refresh ahead of expiry
        await client.mass_convert_status("Quotes", "1")
    assert len(calls(m, "POST", TOKEN_URL)) == 2
    assert crm.seen == [ACCESS_TOKEN, ACCESS_TOKEN, NEW_ACCESS_TOKEN]
    assert auth.refresh_count == 2


async def test_missing_expires_in_assumes_an_hour(m: aioresponses) -> None:
    """A token reply without expires_in is taken to last 3600 s."""
    clock = FakeClock(start=0.0)
    reply = token_reply()
    del reply["expires_in"]
    m.post(TOKEN_URL, payload=reply, repeat=True)
    m.get(STATUS_URL, payload=STATUS_REPLY, repeat=True)
    auth = refresh_auth(refresh_margin=60.0, clock=clock)
    async with make_client(auth) as client:
        await client.mass_convert_status("Quotes", "1")
        clock.advance(3539.0)
        await client.mass_convert_status("Quotes", "1")
        assert len(calls(m, "POST", TOKEN_URL)) == 1
        clock.advance(1.0)
        await client.mass_convert_status("Quotes", "1")
    assert len(calls(m, "POST", TOKEN_URL)) == 2


async def test_hundred_concurrent_401s_share_one_refresh(m: aioresponses) -> None:
    """100 concurrent requests that all meet an expired token cause ONE refresh; all succeed."""
    m.post(TOKEN_URL, payload=token_reply(ACCESS_TOKEN), callback=yield_to_others)
    m.post(TOKEN_URL, payload=token_reply(NEW_ACCESS_TOKEN), callback=yield_to_others)
    crm = FakeCRM(ACCESS_TOKEN)
    m.get(STATUS_URL, callback=crm.handle, repeat=True)
    auth = refresh_auth()
    async with make_client(auth, max_concurrency=10) as client:
        await client.mass_convert_status("Quotes", "1")  # holds the first token now
        assert len(calls(m, "POST", TOKEN_URL)) == 1
        crm.valid = {NEW_ACCESS_TOKEN}  # Zoho revokes the first token under us
        results = await asyncio.gather(
            *(client.mass_convert_status("Quotes", "1") for _ in range(100))
        )
    assert len(results) == 100
    assert all(status.total_count == 10 for status in results)
    assert len(calls(m, "POST", TOKEN_URL)) == 2  # the first token, then exactly one refresh
    assert auth.refresh_count == 2
    assert crm.seen.count(NEW_ACCESS_TOKEN) == 100
    assert crm.peak == 10  # the requests really were in flight together


async def test_hundred_concurrent_first_calls_share_one_token_call(m: aioresponses) -> None:
    """100 concurrent first requests (no token yet) make a single token call."""
    m.post(TOKEN_URL, payload=token_reply(ACCESS_TOKEN), callback=yield_to_others)
    m.get(STATUS_URL, callback=FakeCRM(ACCESS_TOKEN).handle, repeat=True)
    async with make_client(refresh_auth()) as client:
        await asyncio.gather(*(client.mass_convert_status("Quotes", "1") for _ in range(100)))
    assert len(calls(m, "POST", TOKEN_URL)) == 1


async def test_hundred_concurrent_after_clock_expiry_share_one_refresh(m: aioresponses) -> None:
    """After the token expires by the clock, 100 concurrent requests trigger one refresh."""
    clock = FakeClock(start=0.0)
    m.post(TOKEN_URL, payload=token_reply(ACCESS_TOKEN), callback=yield_to_others)
    m.post(TOKEN_URL, payload=token_reply(NEW_ACCESS_TOKEN), callback=yield_to_others)
    crm = FakeCRM(ACCESS_TOKEN, NEW_ACCESS_TOKEN)
    m.get(STATUS_URL, callback=crm.handle, repeat=True)
    async with make_client(refresh_auth(clock=clock)) as client:
        await client.mass_convert_status("Quotes", "1")
        clock.advance(7200.0)
        await asyncio.gather(*(client.mass_convert_status("Quotes", "1") for _ in range(100)))
    assert len(calls(m, "POST", TOKEN_URL)) == 2
    assert crm.seen[1:] == [NEW_ACCESS_TOKEN] * 100


async def test_invalid_token_after_the_refresh_raises(m: aioresponses) -> None:
    """A 401 INVALID_TOKEN right after the one refresh raises AuthenticationError: no loop."""
    m.post(TOKEN_URL, payload=token_reply(ACCESS_TOKEN))
    m.post(TOKEN_URL, payload=token_reply(NEW_ACCESS_TOKEN), repeat=True)
    crm = FakeCRM()  # refuses every token
    m.get(STATUS_URL, callback=crm.handle, repeat=True)
    async with make_client(refresh_auth()) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.mass_convert_status("Quotes", "1")
    assert caught.value.code == "INVALID_TOKEN"
    assert caught.value.status == 401
    assert crm.seen == [ACCESS_TOKEN, NEW_ACCESS_TOKEN]
    assert len(calls(m, "POST", TOKEN_URL)) == 2


async def test_a_fresh_token_refused_once_gets_one_more_refresh(m: aioresponses) -> None:
    """Fast token churn: a token that worked expires, its fresh replacement is refused before
    any success with it; one more refresh-and-repeat is allowed (two fresh refusals in a row
    would mean refused credentials)."""
    third = NEW_ACCESS_TOKEN[::-1]
    m.post(TOKEN_URL, payload=token_reply(ACCESS_TOKEN))
    m.post(TOKEN_URL, payload=token_reply(NEW_ACCESS_TOKEN))
    m.post(TOKEN_URL, payload=token_reply(third))
    crm = FakeCRM(ACCESS_TOKEN, third)
    m.get(STATUS_URL, callback=crm.handle, repeat=True)
    async with make_client(refresh_auth()) as client:
        await client.mass_convert_status("Quotes", "1")  # the first token works
        crm.valid.discard(ACCESS_TOKEN)  # ... then expires; its replacement churns at once
        status = await client.mass_convert_status("Quotes", "1")
    assert status.total_count == 10
    assert crm.seen == [ACCESS_TOKEN, ACCESS_TOKEN, NEW_ACCESS_TOKEN, third]
    assert len(calls(m, "POST", TOKEN_URL)) == 3


async def test_invalid_token_refresh_repeats_a_post_once(m: aioresponses) -> None:
    """A POST refused with INVALID_TOKEN is repeated once with the new token (Zoho did nothing)."""
    url = f"{BASE}/Leads/5/actions/convert"
    m.post(TOKEN_URL, payload=token_reply(ACCESS_TOKEN))
    m.post(TOKEN_URL, payload=token_reply(NEW_ACCESS_TOKEN))
    m.post(url, status=401, payload=INVALID_TOKEN)
    m.post(url, payload={"data": [{"code": "SUCCESS", "details": {"Contacts": {"id": "8"}}}]})
    async with make_client(refresh_auth()) as client:
        result = await client.convert_lead("5")
    assert result.contacts is not None
    first, second = calls(m, "POST", url)
    assert first.kwargs["headers"]["Authorization"] == f"Zoho-oauthtoken {ACCESS_TOKEN}"
    assert second.kwargs["headers"]["Authorization"] == f"Zoho-oauthtoken {NEW_ACCESS_TOKEN}"


async def test_other_401_codes_do_not_refresh(m: aioresponses) -> None:
    """A 401 OAUTH_SCOPE_MISMATCH is raised at once: a refresh would not add scopes."""
    m.post(TOKEN_URL, payload=token_reply(), repeat=True)
    m.get(STATUS_URL, status=401, payload={"code": "OAUTH_SCOPE_MISMATCH", "status": "error"})
    async with make_client(refresh_auth()) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.mass_convert_status("Quotes", "1")
    assert caught.value.code == "OAUTH_SCOPE_MISMATCH"
    assert len(calls(m, "POST", TOKEN_URL)) == 1


@pytest.mark.parametrize(
    ("oauth_error", "advice"),
    [
        ("invalid_code", "refresh token"),
        ("invalid_client", "client"),
    ],
)
async def test_oauth_error_in_http_200_is_fatal_and_remembered(
    m: aioresponses, oauth_error: str, advice: str
) -> None:
    """HTTP 200 {"error": ...} raises an actionable AuthenticationError; no second token call."""
    m.post(TOKEN_URL, payload={"error": oauth_error}, repeat=True)
    m.get(STATUS_URL, payload=STATUS_REPLY, repeat=True)
    async with make_client(refresh_auth()) as client:
        for _ in range(3):
            with pytest.raises(AuthenticationError) as caught:
                await client.mass_convert_status("Quotes", "1")
            assert caught.value.code == oauth_error
            text = str(caught.value)
            assert oauth_error in text
            assert advice in text
            assert "ZOHO_" in text or "Generate" in text or "Check" in text
    assert len(calls(m, "POST", TOKEN_URL)) == 1
    assert calls(m, "GET", STATUS_URL) == []


async def test_token_endpoint_4xx_is_an_authentication_error(m: aioresponses) -> None:
    """A token endpoint that answers 400 raises AuthenticationError and is not asked again."""
    m.post(TOKEN_URL, status=400, payload={"error": "invalid_client"}, repeat=True)
    async with make_client(refresh_auth()) as client:
        for _ in range(2):
            with pytest.raises(AuthenticationError):
                await client.mass_convert_status("Quotes", "1")
    assert len(calls(m, "POST", TOKEN_URL)) == 1


async def test_throttled_token_endpoint_is_not_remembered_as_fatal(m: aioresponses) -> None:
    """A 429 from the token endpoint (retries spent) fails this call only; the next one works."""
    m.post(TOKEN_URL, status=429, payload={"error": "too many requests"})
    m.post(TOKEN_URL, payload=token_reply())
    m.get(STATUS_URL, payload=STATUS_REPLY, repeat=True)
    async with make_client(refresh_auth(), retry=RetryPolicy(max_tries=1)) as client:
        with pytest.raises(RateLimitError):
            await client.mass_convert_status("Quotes", "1")
        status = await client.mass_convert_status("Quotes", "1")
    assert status.total_count == 10
    assert len(calls(m, "POST", TOKEN_URL)) == 2


@pytest.mark.parametrize(
    "throttled",
    [
        {"payload": {"error": "access_denied"}},
        {"payload": {"error": "Access Denied"}},
        {"status": 400, "body": "Access Denied"},
        {"status": 429, "payload": {"error": "too many requests"}},
        {"status": 400, "payload": {"error": "Access Denied", "error_description": "slow"}},
    ],
    ids=["access_denied", "Access Denied", "400 text", "429 too many requests", "400 json"],
)
async def test_token_endpoint_throttle_is_retried_with_backoff(
    m: aioresponses, throttled: dict[str, Any]
) -> None:
    """A throttled token call (every documented spelling) is temporary: backed off, retried."""
    m.post(TOKEN_URL, **throttled)
    m.post(TOKEN_URL, **throttled)
    m.post(TOKEN_URL, payload=token_reply())
    m.get(STATUS_URL, payload=STATUS_REPLY)
    sleep = RecordingSleep(FakeClock())
    async with make_client(refresh_auth(), sleep=sleep) as client:
        status = await client.mass_convert_status("Quotes", "1")
    assert status.total_count == 10
    assert len(calls(m, "POST", TOKEN_URL)) == 3
    assert len(sleep.delays) == 2


async def test_token_endpoint_throttled_throughout_is_not_remembered_as_fatal(
    m: aioresponses,
) -> None:
    """A throttle that outlasts the retries raises RateLimitError; a later refresh is tried."""
    tries = RetryPolicy().max_tries  # the default policy's, every one throttled
    m.post(TOKEN_URL, payload={"error": "Access Denied"}, repeat=tries)
    m.post(TOKEN_URL, payload=token_reply())
    m.get(STATUS_URL, payload=STATUS_REPLY, repeat=True)
    async with make_client(refresh_auth()) as client:
        with pytest.raises(RateLimitError, match="throttled"):
            await client.mass_convert_status("Quotes", "1")
        status = await client.mass_convert_status("Quotes", "1")
    assert status.total_count == 10
    assert len(calls(m, "POST", TOKEN_URL)) == tries + 1


@pytest.mark.parametrize(
    ("reply", "lifetime"),
    [
        ({"expires_in": 3600}, 3600.0),
        ({"expires_in": 3_600_000, "expires_in_sec": 3600}, 3600.0),
        ({"expires_in": 120_000, "expires_in_sec": None}, 120.0),
        ({}, 3600.0),
    ],
    ids=["seconds", "milliseconds with expires_in_sec", "ms, expires_in_sec null", "missing"],
)
async def test_token_lifetime_read_in_both_documented_units(
    m: aioresponses, reply: dict[str, Any], lifetime: float
) -> None:
    """expires_in is seconds, or milliseconds when the reply carries expires_in_sec: a token
    is refreshed ahead of its real expiry, not kept 1,000 times too long."""
    clock = FakeClock()
    body = {k: v for k, v in token_reply().items() if k != "expires_in"}
    m.post(TOKEN_URL, payload={**body, **reply}, repeat=True)
    m.get(STATUS_URL, payload=STATUS_REPLY, repeat=True)
    auth = refresh_auth(clock=clock, refresh_margin=60.0)
    async with make_client(auth) as client:
        await client.mass_convert_status("Quotes", "1")
        clock.advance(lifetime - 61.0)  # just before the margin: the token is still used
        await client.mass_convert_status("Quotes", "1")
        assert len(calls(m, "POST", TOKEN_URL)) == 1
        clock.advance(2.0)  # inside the margin: refreshed ahead of expiry
        await client.mass_convert_status("Quotes", "1")
    assert len(calls(m, "POST", TOKEN_URL)) == 2


async def test_token_endpoint_500_twice_then_ok(m: aioresponses) -> None:
    """Two 500s from the token endpoint are retried (sleep injected), then the call works."""
    m.post(TOKEN_URL, status=500)
    m.post(TOKEN_URL, status=500)
    m.post(TOKEN_URL, payload=token_reply())
    m.get(STATUS_URL, payload=STATUS_REPLY)
    sleep = RecordingSleep(FakeClock())
    async with make_client(refresh_auth(), sleep=sleep) as client:
        status = await client.mass_convert_status("Quotes", "1")
    assert status.total_count == 10
    assert len(calls(m, "POST", TOKEN_URL)) == 3
    assert len(sleep.delays) == 2


async def test_token_endpoint_always_500_raises_server_error_not_fatal(m: aioresponses) -> None:
    """A token endpoint that keeps failing raises ServerError; a later call tries again."""
    m.post(TOKEN_URL, status=500, repeat=True)
    async with make_client(refresh_auth()) as client:
        with pytest.raises(ServerError):
            await client.mass_convert_status("Quotes", "1")
        first = len(calls(m, "POST", TOKEN_URL))
        with pytest.raises(ServerError):
            await client.mass_convert_status("Quotes", "1")
    assert first == client.retry.max_tries
    assert len(calls(m, "POST", TOKEN_URL)) == 2 * first


async def test_api_domain_adopted_from_token_reply(m: aioresponses) -> None:
    """Without api_domain the client uses the domain the token reply names."""
    eu = "https://www.zohoapis.eu/crm/v8/Quotes/actions/mass_convert?job_id=1"
    m.post(TOKEN_URL, payload=token_reply(api_domain="https://www.zohoapis.eu"))
    m.get(eu, payload=STATUS_REPLY)
    async with ZohoConvertClient(refresh_auth(), sleep=RecordingSleep()) as client:
        await client.mass_convert_status("Quotes", "1")
    assert len(calls(m, "GET", eu)) == 1


async def test_api_domain_set_by_caller_wins(m: aioresponses) -> None:
    """An explicit api_domain is kept even when the token reply names another."""
    m.post(TOKEN_URL, payload=token_reply(api_domain="https://www.zohoapis.eu"))
    m.get(STATUS_URL, payload=STATUS_REPLY)
    async with make_client(refresh_auth(), api_domain=API) as client:
        await client.mass_convert_status("Quotes", "1")
    assert len(calls(m, "GET", STATUS_URL)) == 1


async def test_static_token_is_sent_and_cannot_refresh(m: aioresponses) -> None:
    """A StaticToken is sent as is; a 401 INVALID_TOKEN raises AuthenticationError at once."""
    m.get(STATUS_URL, status=401, payload=INVALID_TOKEN, repeat=True)
    async with make_client(StaticToken(ACCESS_TOKEN)) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.mass_convert_status("Quotes", "1")
    assert caught.value.status == 401
    (call,) = calls(m, "GET", STATUS_URL)
    assert call.kwargs["headers"]["Authorization"] == f"Zoho-oauthtoken {ACCESS_TOKEN}"


@pytest.mark.parametrize("bad", ["", "   ", None, 123])
def test_auth_needs_non_empty_strings(bad: Any) -> None:
    """Empty or non-string credentials are refused when the auth object is made."""
    with pytest.raises(ValueError):
        StaticToken(bad)
    with pytest.raises(ValueError):
        RefreshTokenAuth(CLIENT_ID, bad, REFRESH_TOKEN)
    with pytest.raises(ValueError):
        RefreshTokenAuth(CLIENT_ID, CLIENT_SECRET, bad)


@pytest.mark.parametrize(
    "domain", ["http://www.zohoapis.com", "http://10.0.0.5:8000", "http://example.com"]
)
def test_plain_http_api_domain_refused(domain: str) -> None:
    """Credentials over http:// to a non-loopback host are refused unless explicitly allowed."""
    with pytest.raises(ValueError, match="http"):
        ZohoConvertClient(StaticToken(ACCESS_TOKEN), api_domain=domain)
    ZohoConvertClient(StaticToken(ACCESS_TOKEN), api_domain=domain, allow_insecure_http=True)


def test_plain_http_accounts_url_refused() -> None:
    """An http:// accounts server that is not loopback is refused unless explicitly allowed."""
    auth = refresh_auth(accounts_url="http://accounts.example.com")
    with pytest.raises(ValueError, match="http"):
        ZohoConvertClient(auth, api_domain=API)
    ZohoConvertClient(auth, api_domain=API, allow_insecure_http=True)


@pytest.mark.parametrize(
    "domain", ["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"]
)
async def test_loopback_http_allowed(m: aioresponses, domain: str) -> None:
    """Plain http to a loopback address (the simulator) is allowed, for API and token calls."""
    auth = refresh_auth(accounts_url=domain)
    m.post(f"{domain}/oauth/v2/token", payload=token_reply(api_domain=domain))
    url = f"{domain}/crm/v8/Quotes/actions/mass_convert?job_id=1"
    m.get(url, payload=STATUS_REPLY)
    async with make_client(auth, api_domain=domain) as client:
        await client.mass_convert_status("Quotes", "1")
    assert len(calls(m, "GET", url)) == 1


async def test_token_reply_http_domain_not_used_for_credentials(m: aioresponses) -> None:
    """A token reply naming a plain-http, non-loopback API domain is refused, not called."""
    m.post(TOKEN_URL, payload=token_reply(api_domain="http://evil.example.com"))
    async with ZohoConvertClient(refresh_auth(), sleep=RecordingSleep()) as client:
        with pytest.raises(ValueError, match="http"):
            await client.mass_convert_status("Quotes", "1")
    assert [key for key in m.requests if key[0] == "GET"] == []


async def test_concurrent_callers_share_a_failed_refresh(m: aioresponses) -> None:
    """When the one refresh in flight fails, the tasks waiting on it get its error, not retries."""
    m.post(TOKEN_URL, status=500, repeat=True, callback=yield_to_others)
    m.get(STATUS_URL, payload=STATUS_REPLY, repeat=True)
    auth = refresh_auth()
    # All 20 must hold a request slot at once to wait on the same refresh: the token is read
    # only once a slot is held.
    async with make_client(auth, retry=RetryPolicy(max_tries=2), max_concurrency=20) as client:
        results = await asyncio.gather(
            *(client.mass_convert_status("Quotes", "1") for _ in range(20)),
            return_exceptions=True,
        )
        assert all(isinstance(result, ServerError) for result in results)
        assert len(calls(m, "POST", TOKEN_URL)) == 2  # one refresh, retried once by the policy
        # A later call, after the failure, tries the token endpoint again.
        with pytest.raises(ServerError):
            await client.mass_convert_status("Quotes", "1")
    assert len(calls(m, "POST", TOKEN_URL)) == 4
