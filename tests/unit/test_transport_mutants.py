"""The transport's details that mutation testing found unpinned: the URL built from an API
domain with a path, the domain checked once, headers of a request without a body, the debug
log lines, and the aiohttp error each TransportError names."""

from __future__ import annotations

import logging
import types

import aiohttp
import pytest
from aioresponses import aioresponses
from core_helpers import (
    ACCESS_TOKEN,
    BASE,
    MASS_CONVERT_REPLY,
    STATUS_REPLY,
    TOKEN_URL,
    calls,
    make_client,
    refresh_auth,
    token_reply,
)

import zoho_convert.api.transport as transport_module
from zoho_convert import ModuleRef, RetryPolicy, ServerError, TransportError

STATUS_URL = f"{BASE}/Quotes/actions/mass_convert?job_id=1"
MASS_URL = f"{BASE}/Quotes/actions/mass_convert"
TARGET = ModuleRef("Sales_Orders", "2423488000000000171")


def connector_error() -> aiohttp.ClientConnectorError:
    key = types.SimpleNamespace(host="www.zohoapis.com", port=443, ssl=True)
    return aiohttp.ClientConnectorError(key, OSError(111, "Connection refused"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "domain", ["https://proxy.example/SANDBOX", "https://proxy.example/SANDBOX/"]
)
async def test_an_api_domain_with_a_path_keeps_it_whole(m: aioresponses, domain: str) -> None:
    """Only a trailing slash is dropped from the API domain: a proxy path ending in X stays."""
    url = "https://proxy.example/SANDBOX/crm/v8/Quotes/actions/mass_convert?job_id=1"
    m.get(url, payload=STATUS_REPLY)
    async with make_client(api_domain=domain) as client:
        status = await client.mass_convert_status("Quotes", "1")
    assert status.total_count == 10
    assert len(calls(m, "GET", url)) == 1


async def test_the_api_domain_is_checked_once_not_on_every_request(
    m: aioresponses, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hot path does not re-validate an unchanged API domain on each request."""
    checked: list[str] = []
    real_check = transport_module.check_secure_url

    def counting_check(url: str, **kwargs: object) -> None:
        checked.append(url)
        real_check(url, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(transport_module, "check_secure_url", counting_check)
    m.get(STATUS_URL, payload=STATUS_REPLY, repeat=True)
    async with make_client() as client:
        for _ in range(3):
            await client.mass_convert_status("Quotes", "1")
    assert len(calls(m, "GET", STATUS_URL)) == 3
    assert checked == ["https://www.zohoapis.com"]


async def test_a_get_sends_no_content_type_and_a_post_sends_json(m: aioresponses) -> None:
    """Content-Type: application/json goes only with a body; every request carries the token."""
    m.get(STATUS_URL, payload=STATUS_REPLY)
    m.post(MASS_URL, payload=MASS_CONVERT_REPLY)
    async with make_client() as client:
        await client.mass_convert_status("Quotes", "1")
        await client.mass_convert("Quotes", ["1"], to=TARGET)
    (get,) = calls(m, "GET", STATUS_URL)
    (post,) = calls(m, "POST", MASS_URL)
    assert get.kwargs["headers"] == {"Authorization": f"Zoho-oauthtoken {ACCESS_TOKEN}"}
    assert post.kwargs["headers"] == {
        "Content-Type": "application/json",
        "Authorization": f"Zoho-oauthtoken {ACCESS_TOKEN}",
    }


async def test_debug_logs_name_the_request_that_succeeded_and_the_one_retried(
    m: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    """At DEBUG level a retry names the path it repeats and a success names method and path."""
    caplog.set_level(logging.DEBUG, logger="zoho_convert.api.transport")
    m.get(STATUS_URL, status=500, payload={"code": "INTERNAL_ERROR", "status": "error"})
    m.get(STATUS_URL, payload=STATUS_REPLY)
    async with make_client() as client:
        await client.mass_convert_status("Quotes", "1")
    lines = [r.getMessage() for r in caplog.records if r.name == "zoho_convert.api.transport"]
    assert len(lines) == 2, lines
    assert lines[0].startswith("Quotes/actions/mass_convert failed (500 INTERNAL_ERROR); retry 1")
    assert lines[1] == "GET Quotes/actions/mass_convert ok"


async def test_a_request_that_never_connected_names_the_host_and_the_error(
    m: aioresponses,
) -> None:
    """The error a user reads says which host could not be reached and aiohttp's error."""
    m.get(STATUS_URL, exception=connector_error(), repeat=True)
    async with make_client(retry=RetryPolicy(max_tries=1)) as client:
        with pytest.raises(TransportError) as caught:
            await client.mass_convert_status("Quotes", "1")
    assert str(caught.value) == "could not connect to www.zohoapis.com: ClientConnectorError"
    assert caught.value.sent is False


async def test_a_dropped_request_names_its_path_and_the_error(m: aioresponses) -> None:
    """A connection lost after sending: the error names method, path and aiohttp's error."""
    m.post(MASS_URL, exception=aiohttp.ServerDisconnectedError())
    async with make_client() as client:
        with pytest.raises(TransportError) as caught:
            await client.mass_convert("Quotes", ["1"], to=TARGET)
    assert str(caught.value).startswith(
        "POST /crm/v8/Quotes/actions/mass_convert failed after the request was sent "
        "(ServerDisconnectedError); the request may have been processed"
    )
    assert caught.value.sent is True and caught.value.timed_out_after is None


async def test_a_request_that_timed_out_says_how_long_it_went_unanswered(
    m: aioresponses,
) -> None:
    """A POST unanswered until the attempt's timeout: the server may still act on it, so the
    error says how long the client waited (settling counts a lost job's start from there)."""
    m.post(MASS_URL, exception=TimeoutError())
    async with make_client(request_timeout=7.5) as client:
        with pytest.raises(TransportError) as caught:
            await client.mass_convert("Quotes", ["1"], to=TARGET)
    assert caught.value.sent is True and caught.value.timed_out_after == 7.5


def test_a_body_whose_ids_are_one_string_of_digits_is_encoded_as_that_string() -> None:
    """Only a list of ids takes encode_body's direct path: ids given as one string of digits
    are written as that string, as the generic encoder writes them."""
    assert transport_module.encode_body({"ids": "123", "a": 1}) == b'{"ids":"123","a":1}'


INVALID_TOKEN = {"code": "INVALID_TOKEN", "details": {}, "message": "invalid", "status": "error"}


async def test_a_token_call_that_timed_out_says_the_request_never_left(m: aioresponses) -> None:
    """The token call before a mass convert times out: the mass convert's TransportError says
    it was not sent and names no unanswered wait of its own (settling would otherwise count a
    lost job's start from the token call's timeout)."""
    m.post(TOKEN_URL, exception=TimeoutError(), repeat=True)
    async with make_client(refresh_auth(), retry=RetryPolicy(max_tries=1)) as client:
        with pytest.raises(TransportError) as caught:
            await client.mass_convert("Quotes", ["1"], to=TARGET)
    assert calls(m, "POST", MASS_URL) == []
    assert caught.value.sent is False and caught.value.timed_out_after is None
    assert caught.value.maybe_processed is False


async def test_a_token_endpoint_answering_500_says_the_request_did_nothing(
    m: aioresponses,
) -> None:
    """The token endpoint answers 500 on every try: the mass convert's ServerError says Zoho
    may not have processed it (it was never sent)."""
    m.post(TOKEN_URL, status=500, repeat=True)
    async with make_client(refresh_auth(), retry=RetryPolicy(max_tries=1)) as client:
        with pytest.raises(ServerError) as caught:
            await client.mass_convert("Quotes", ["1"], to=TARGET)
    assert calls(m, "POST", MASS_URL) == []
    assert caught.value.maybe_processed is False


async def test_a_refresh_after_a_401_that_timed_out_says_the_request_did_nothing(
    m: aioresponses,
) -> None:
    """A mass convert refused 401 INVALID_TOKEN, whose token refresh then times out: Zoho
    refused the POST, so the TransportError raised says it was not sent, with no wait."""
    m.post(TOKEN_URL, payload=token_reply(ACCESS_TOKEN))
    m.post(TOKEN_URL, exception=TimeoutError(), repeat=True)
    m.post(MASS_URL, status=401, payload=INVALID_TOKEN)
    async with make_client(refresh_auth(), retry=RetryPolicy(max_tries=1)) as client:
        with pytest.raises(TransportError) as caught:
            await client.mass_convert("Quotes", ["1"], to=TARGET)
    assert len(calls(m, "POST", MASS_URL)) == 1
    assert caught.value.sent is False and caught.value.timed_out_after is None


async def test_a_refresh_after_a_401_answered_500_says_the_request_did_nothing(
    m: aioresponses,
) -> None:
    """A mass convert refused 401 INVALID_TOKEN, whose token refresh is answered 500: the
    ServerError raised says the request may not have been processed."""
    m.post(TOKEN_URL, payload=token_reply(ACCESS_TOKEN))
    m.post(TOKEN_URL, status=500, repeat=True)
    m.post(MASS_URL, status=401, payload=INVALID_TOKEN)
    async with make_client(refresh_auth(), retry=RetryPolicy(max_tries=1)) as client:
        with pytest.raises(ServerError) as caught:
            await client.mass_convert("Quotes", ["1"], to=TARGET)
    assert caught.value.maybe_processed is False
