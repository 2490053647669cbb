"""No access token, refresh token or client secret leaks into errors, reprs or log records."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from aioresponses import CallbackResult, aioresponses
from core_helpers import (
    ACCESS_TOKEN,
    BASE,
    CLIENT_ID,
    MASS_CONVERT_REPLY,
    NEW_ACCESS_TOKEN,
    SECRETS,
    STATUS_REPLY,
    TOKEN_URL,
    RecordingSleep,
    calls,
    make_client,
    refresh_auth,
    token_reply,
)
from fakes import FakeClock
from leaks import exception_texts

from zoho_convert import (
    AuthenticationError,
    ModuleRef,
    RetryPolicy,
    StaticToken,
    ZohoConvertError,
)

STATUS_URL = f"{BASE}/Quotes/actions/mass_convert?job_id=1"
MASS_URL = f"{BASE}/Quotes/actions/mass_convert"
LEAD_URL = f"{BASE}/Leads/5/actions/convert"
INVALID_TOKEN = {"code": "INVALID_TOKEN", "message": "invalid oauth token", "status": "error"}
TARGET = ModuleRef("Sales_Orders", "2423488000000000171")


@pytest.fixture
def m() -> Iterator[aioresponses]:
    with aioresponses() as mocked:
        yield mocked


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def assert_no_secret_in_error(error: BaseException) -> None:
    for text in exception_texts(error):
        assert leaks(text) == [], text
    assert leaks(repr(pickle.loads(pickle.dumps(error)).__dict__)) == []


async def collect(errors: list[BaseException], coro: Any) -> None:
    try:
        await coro
    except (ZohoConvertError, ValueError) as error:
        errors.append(error)


async def run_everything(m: aioresponses) -> list[BaseException]:
    """A run with refreshes, retries, 401s and errors; returns every exception raised."""
    errors: list[BaseException] = []
    valid = {ACCESS_TOKEN}

    def crm(url: Any, **kwargs: Any) -> CallbackResult:
        token = kwargs["headers"]["Authorization"].removeprefix("Zoho-oauthtoken ")
        if token in valid:
            return CallbackResult(status=200, payload=STATUS_REPLY)
        return CallbackResult(status=401, payload=INVALID_TOKEN)

    # token endpoint: a 500, then the first token, then the refreshed one
    m.post(TOKEN_URL, status=500, body="oops")
    m.post(TOKEN_URL, payload=token_reply(ACCESS_TOKEN))
    m.post(TOKEN_URL, payload=token_reply(NEW_ACCESS_TOKEN), repeat=True)
    # status: retried on 500 and 429, then served by the token-checking callback
    m.get(STATUS_URL, status=500)
    m.get(STATUS_URL, status=429, headers={"Retry-After": "1"})
    m.get(STATUS_URL, callback=crm, repeat=True)
    # posts: a 500 (not retried), a dropped connection, an error body, a garbled reply
    m.post(MASS_URL, status=500, payload={"code": "INTERNAL_ERROR", "status": "error"})
    m.post(MASS_URL, exception=aiohttp.ServerDisconnectedError())
    m.post(MASS_URL, status=400, payload={"code": "INVALID_DATA", "status": "error"})
    m.post(MASS_URL, status=200, body="<<garbled>>")
    m.post(MASS_URL, payload=MASS_CONVERT_REPLY)
    # lead convert: always 401 INVALID_TOKEN, so one refresh then AuthenticationError
    m.post(LEAD_URL, status=401, payload=INVALID_TOKEN, repeat=True)

    clock = FakeClock()
    auth = refresh_auth(clock=clock)
    async with make_client(auth, sleep=RecordingSleep(clock), clock=clock) as client:
        await client.mass_convert_status("Quotes", "1")
        valid.clear()
        valid.add(NEW_ACCESS_TOKEN)  # the first token is revoked: 401 -> refresh -> repeat
        await client.mass_convert_status("Quotes", "1")
        for _ in range(5):
            await collect(errors, client.mass_convert("Quotes", ["1"], to=TARGET))
        await collect(errors, client.convert_lead("5"))
        texts = [repr(client), repr(auth), str(client), str(auth)]
    assert len(calls(m, "POST", MASS_URL)) == 5
    assert auth.refresh_count >= 3
    for text in texts:
        assert leaks(text) == [], text

    # OAuth failures of several kinds, each with its own client and accounts server
    failures: list[dict[str, Any]] = [
        {"payload": {"error": "invalid_code"}},
        {"payload": {"error": "invalid_client"}},
        {"payload": {"nothing": 1}},
        {"status": 401, "payload": {"error": "invalid_client"}},
        {"exception": aiohttp.ServerDisconnectedError(), "repeat": True},
    ]
    for number, failure in enumerate(failures):
        accounts = f"https://accounts{number}.example"
        m.post(f"{accounts}/oauth/v2/token", **failure)
        other_auth = refresh_auth(accounts_url=accounts)
        async with make_client(other_auth, retry=RetryPolicy(max_tries=2)) as other:
            await collect(errors, other.mass_convert_status("Quotes", "1"))
    # a static token refused
    other_domain = "https://static.example"
    m.get(
        f"{other_domain}/crm/v8/Quotes/actions/mass_convert?job_id=1",
        status=401,
        payload=INVALID_TOKEN,
    )
    async with make_client(StaticToken(ACCESS_TOKEN), api_domain=other_domain) as other:
        await collect(errors, other.mass_convert_status("Quotes", "1"))
    return errors


async def test_no_secret_in_errors_reprs_or_debug_logs(
    m: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    """Across refreshes, retries, 401s and errors nothing shown or logged holds a secret."""
    caplog.set_level(logging.DEBUG)
    errors = await run_everything(m)
    # the run did go through the paths it means to cover
    kinds = {type(error).__name__ for error in errors}
    assert {
        "ServerError",
        "TransportError",
        "InvalidRequestError",
        "ResponseValidationError",
        "AuthenticationError",
    } <= kinds
    assert sum(isinstance(e, AuthenticationError) for e in errors) >= 5
    for error in errors:
        assert_no_secret_in_error(error)
    assert caplog.records, "the run should have logged something at DEBUG"
    assert any("retry" in record.getMessage() for record in caplog.records)
    assert any("refresh" in record.getMessage() for record in caplog.records)
    for record in caplog.records:
        assert leaks(record.getMessage()) == [], record.getMessage()
        assert leaks(repr(record.args)) == [], record.args
        assert leaks(str(record.msg)) == []
        assert leaks(record.exc_text or "") == []
    assert leaks(caplog.text) == []


def test_reprs_hide_credentials() -> None:
    """repr of StaticToken, RefreshTokenAuth and the client show no credential (client id may)."""
    static = StaticToken(ACCESS_TOKEN)
    auth = refresh_auth()
    client = make_client(auth)
    for obj in (static, auth, client, make_client(static)):
        assert leaks(repr(obj)) == []
        assert leaks(str(obj)) == []
    assert CLIENT_ID in repr(auth)
    assert "hidden" in repr(static)
