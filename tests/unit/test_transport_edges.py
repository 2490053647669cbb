"""The transport's edges: where requests go (an API domain named by the token reply), how long
one may take, what a retry logs, and the errors that name the setting at fault."""

from __future__ import annotations

import logging

import pytest
from aioresponses import aioresponses
from core_helpers import (
    BASE,
    STATUS_REPLY,
    TOKEN_URL,
    RecordingSleep,
    calls,
    refresh_auth,
    token_reply,
)
from fakes import FakeClock

from zoho_convert import StaticToken, ZohoConvertClient

STATUS_PATH = "/crm/v8/Quotes/actions/mass_convert?job_id=1"


def client_for(auth: object, **options: object) -> ZohoConvertClient:
    return ZohoConvertClient(auth, sleep=RecordingSleep(FakeClock()), **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("named", ["https://www.zohoapis.eu", "https://www.zohoapis.eu/"])
async def test_requests_go_to_the_api_domain_the_token_reply_names(
    m: aioresponses, named: str
) -> None:
    """With no api_domain set, the token reply's domain is used (a trailing slash dropped)."""
    m.post(TOKEN_URL, payload=token_reply(api_domain=named))
    m.get(f"https://www.zohoapis.eu{STATUS_PATH}", payload=STATUS_REPLY)
    async with client_for(refresh_auth()) as client:
        status = await client.mass_convert_status("Quotes", "1")
    assert status.total_count == 10


async def test_a_plain_http_api_domain_from_the_token_reply_is_used_when_allowed(
    m: aioresponses,
) -> None:
    """allow_insecure_http=True also covers the domain a token reply names."""
    m.post(TOKEN_URL, payload=token_reply(api_domain="http://crm.internal.example"))
    m.get(f"http://crm.internal.example{STATUS_PATH}", payload=STATUS_REPLY)
    async with client_for(refresh_auth(), allow_insecure_http=True) as client:
        await client.mass_convert_status("Quotes", "1")
    assert len(calls(m, "GET", f"http://crm.internal.example{STATUS_PATH}")) == 1


async def test_a_token_reply_naming_a_non_http_domain_is_refused_by_name(
    m: aioresponses,
) -> None:
    """The error names the setting at fault: the API domain, not the URL's owner."""
    m.post(TOKEN_URL, payload=token_reply(api_domain="ftp://crm.example"))
    async with client_for(refresh_auth()) as client:
        with pytest.raises(ValueError, match=r"^the API domain must be an http\(s\) URL"):
            await client.mass_convert_status("Quotes", "1")


async def test_each_request_is_bounded_by_request_timeout(m: aioresponses) -> None:
    """request_timeout is the total time one attempt may take."""
    m.get(f"{BASE}/Quotes/actions/mass_convert?job_id=1", payload=STATUS_REPLY)
    token = StaticToken("1000.static.token")
    async with client_for(token, api_domain="https://www.zohoapis.com", request_timeout=7.5) as c:
        await c.mass_convert_status("Quotes", "1")
    (call,) = calls(m, "GET", f"{BASE}/Quotes/actions/mass_convert?job_id=1")
    assert call.kwargs["timeout"].total == 7.5
    assert call.kwargs["allow_redirects"] is False


async def test_a_retry_is_logged_with_the_error_it_answers(
    m: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    """A retried request logs what failed (status and Zoho's code) and when it goes again."""
    caplog.set_level(logging.DEBUG, logger="zoho_convert")
    url = f"{BASE}/Quotes/actions/mass_convert?job_id=1"
    m.get(url, status=500, payload={"code": "INTERNAL_ERROR", "message": "x", "status": "error"})
    m.get(url, payload=STATUS_REPLY)
    token = StaticToken("1000.static.token")
    async with client_for(token, api_domain="https://www.zohoapis.com") as client:
        await client.mass_convert_status("Quotes", "1")
    (line,) = [r.getMessage() for r in caplog.records if "retry 1 in" in r.getMessage()]
    assert "failed (500 INTERNAL_ERROR); retry 1 in" in line


@pytest.mark.parametrize("token", ["", "   "])
def test_an_empty_static_token_is_refused_with_a_clear_message(token: str) -> None:
    """StaticToken says what it needs."""
    with pytest.raises(ValueError, match=r"^StaticToken needs a non-empty access token$"):
        StaticToken(token)
