"""The refresh-token flow's decisions at their limits: when a token is refreshed, adopted from
the store, repeated with, or given up on; what a token call sends and logs."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aioresponses import aioresponses
from core_helpers import (
    ACCESS_TOKEN,
    BASE,
    CLIENT_SECRET,
    NEW_ACCESS_TOKEN,
    REFRESH_TOKEN,
    STATUS_REPLY,
    TOKEN_URL,
    calls,
    make_client,
    refresh_auth,
    token_reply,
)
from fakes import FakeClock

from zoho_convert import (
    AuthenticationError,
    DataCenter,
    MemoryTokenStore,
    RefreshTokenAuth,
    StoredToken,
)
from zoho_convert.api.errors import error_for

STATUS_URL = f"{BASE}/Quotes/actions/mass_convert?job_id=1"


NO_TRANSPORT: Any = None  # CountingAuth never calls the network


def invalid_token() -> AuthenticationError:
    error = error_for(401, "INVALID_TOKEN", "invalid oauth token", {})
    assert isinstance(error, AuthenticationError)
    return error


class CountingAuth(RefreshTokenAuth):
    """Refreshes without a network: each refresh makes the next token ``t1``, ``t2``, ..."""

    def __init__(self) -> None:
        super().__init__("id", "secret", "refresh")
        self.refreshed: list[str | None] = []

    async def refresh(self, transport: Any, stale: str | None) -> str:
        self.refreshed.append(stale)
        token = f"t{len(self.refreshed)}"
        self._minted.append(token)  # each refresh mints (only minted tokens count as fresh)
        self._adopt(StoredToken(token, expires_at=float("inf")))
        return token


@pytest.mark.parametrize("field", ["client_id", "client_secret", "refresh_token"])
def test_a_missing_credential_is_named(field: str) -> None:
    """The error says which credential is empty."""
    values = {"client_id": "id", "client_secret": "secret", "refresh_token": "refresh"}
    values[field] = "  "
    with pytest.raises(ValueError, match=f"RefreshTokenAuth needs a non-empty {field}$"):
        RefreshTokenAuth(**values)


def test_the_data_center_is_kept() -> None:
    """The auth remembers its data center (the token URL follows it)."""
    auth = refresh_auth(data_center=DataCenter.EU)
    assert auth.data_center is DataCenter.EU
    assert auth.token_url == "https://accounts.zoho.eu/oauth/v2/token"


async def test_by_default_a_token_is_refreshed_five_minutes_before_it_expires(
    m: aioresponses,
) -> None:
    """Default margin 300 s: an hour's token is reused at 3,299 s and replaced at 3,300 s; the
    token call's default timeout is 30 s."""
    clock = FakeClock(start=0.0)
    m.post(TOKEN_URL, payload=token_reply(ACCESS_TOKEN, expires_in=3600))
    m.post(TOKEN_URL, payload=token_reply(NEW_ACCESS_TOKEN, expires_in=3600))
    m.get(STATUS_URL, payload=STATUS_REPLY, repeat=True)
    auth = refresh_auth(clock=clock)
    async with make_client(auth) as client:
        await client.mass_convert_status("Quotes", "1")
        clock.advance(3299.0)
        await client.mass_convert_status("Quotes", "1")
        assert auth.current_token == ACCESS_TOKEN
        clock.advance(1.0)
        await client.mass_convert_status("Quotes", "1")
    assert auth.current_token == NEW_ACCESS_TOKEN
    first = calls(m, "POST", TOKEN_URL)[0]
    assert first.kwargs["timeout"].total == 30.0


async def test_a_short_lived_token_is_used_for_half_its_life(m: aioresponses) -> None:
    """A token shorter than twice the margin is refreshed at half its life, not at once."""
    clock = FakeClock(start=0.0)
    m.post(TOKEN_URL, payload=token_reply(ACCESS_TOKEN, expires_in=200))
    m.post(TOKEN_URL, payload=token_reply(NEW_ACCESS_TOKEN, expires_in=200))
    m.get(STATUS_URL, payload=STATUS_REPLY, repeat=True)
    auth = refresh_auth(clock=clock)  # margin 300 s > the token's 200 s
    async with make_client(auth) as client:
        await client.mass_convert_status("Quotes", "1")
        clock.advance(99.0)
        await client.mass_convert_status("Quotes", "1")
        assert len(calls(m, "POST", TOKEN_URL)) == 1
        clock.advance(1.0)
        await client.mass_convert_status("Quotes", "1")
    assert len(calls(m, "POST", TOKEN_URL)) == 2


async def test_a_token_another_client_stored_is_used_without_a_token_call(
    m: aioresponses,
) -> None:
    """Two auths sharing a store: the second uses the first one's token (one mint in all)."""
    clock = FakeClock(start=0.0)
    store = MemoryTokenStore(clock=clock)
    m.post(TOKEN_URL, payload=token_reply(ACCESS_TOKEN), repeat=True)
    m.get(STATUS_URL, payload=STATUS_REPLY, repeat=True)
    first = refresh_auth(clock=clock, token_store=store)
    second = refresh_auth(clock=clock, token_store=store)
    async with make_client(first) as client:
        await client.mass_convert_status("Quotes", "1")
    async with make_client(second) as client:
        await client.mass_convert_status("Quotes", "1")
    assert second.current_token == ACCESS_TOKEN
    assert (first.refresh_count, second.refresh_count) == (1, 0)
    assert len(calls(m, "POST", TOKEN_URL)) == 1


async def test_sharing_a_store_drops_the_token_held_so_far(m: aioresponses) -> None:
    """After ``share_tokens`` the next request uses the store's token, not the one minted before."""
    clock = FakeClock(start=0.0)
    m.post(TOKEN_URL, payload=token_reply(ACCESS_TOKEN))
    m.get(STATUS_URL, payload=STATUS_REPLY, repeat=True)
    auth = refresh_auth(clock=clock)
    store = MemoryTokenStore(clock=clock)
    await store.put(StoredToken(NEW_ACCESS_TOKEN, expires_at=3600.0))
    async with make_client(auth) as client:
        await client.mass_convert_status("Quotes", "1")
        assert auth.current_token == ACCESS_TOKEN
        auth.share_tokens(store)
        await client.mass_convert_status("Quotes", "1")
    assert auth.current_token == NEW_ACCESS_TOKEN
    sent = [call.kwargs["headers"]["Authorization"] for call in calls(m, "GET", STATUS_URL)]
    assert sent == [f"Zoho-oauthtoken {ACCESS_TOKEN}", f"Zoho-oauthtoken {NEW_ACCESS_TOKEN}"]
    assert len(calls(m, "POST", TOKEN_URL)) == 1


async def test_a_token_call_is_logged_with_its_url_and_no_secret(
    m: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    """The log says a refresh happened and where, never the credentials or the token."""
    caplog.set_level(logging.INFO, logger="zoho_convert")
    m.post(TOKEN_URL, payload=token_reply())
    m.get(STATUS_URL, payload=STATUS_REPLY)
    async with make_client(refresh_auth()) as client:
        await client.mass_convert_status("Quotes", "1")
    messages = [record.getMessage() for record in caplog.records]
    assert f"refreshing the Zoho access token at {TOKEN_URL}" in messages
    for secret in (CLIENT_SECRET, REFRESH_TOKEN, ACCESS_TOKEN):
        assert not any(secret in message for message in messages)


async def test_a_request_repeats_with_a_token_someone_else_refreshed_three_times_at_most(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 401 for a token already replaced by another task repeats with the new one, without a
    refresh; from the fourth such 401 of one request on, the request refreshes itself."""
    caplog.set_level(logging.INFO, logger="zoho_convert")
    auth = CountingAuth()
    await auth.refresh(None, None)  # the current token is t1
    flow = auth.flow()
    for _ in range(3):
        assert await flow.refused(NO_TRANSPORT, "old", invalid_token()) is True
    assert auth.refreshed == [None]
    assert not caplog.records
    assert await flow.refused(NO_TRANSPORT, "old", invalid_token()) is True
    assert auth.refreshed == [None, "old"]
    assert [record.getMessage() for record in caplog.records] == [
        "access token refused (INVALID_TOKEN); refreshing"
    ]


async def test_a_request_refreshes_eight_times_at_most_for_tokens_that_expire_in_use() -> None:
    """Tokens that worked and then were refused are refreshed, eight times per request; the
    ninth refusal is final (a bound against a server that refuses every token)."""
    auth = CountingAuth()
    await auth.refresh(None, None)
    flow = auth.flow()
    for _ in range(8):
        token = auth.current_token
        assert token is not None
        flow.accepted(token)  # it worked for someone, then Zoho refused it
        assert await flow.refused(NO_TRANSPORT, token, invalid_token()) is True
    token = auth.current_token
    assert token is not None
    flow.accepted(token)
    assert await flow.refused(NO_TRANSPORT, token, invalid_token()) is False
    assert len(auth.refreshed) == 1 + 8


async def test_two_fresh_tokens_refused_in_a_row_are_refused_credentials() -> None:
    """Before any token this client minted was accepted, a fresh token refused gets one
    refresh; a second one refused is final (Zoho refuses the credentials)."""
    auth = CountingAuth()
    await auth.refresh(None, None)
    flow = auth.flow()
    assert await flow.refused(NO_TRANSPORT, "t1", invalid_token()) is True
    assert await flow.refused(NO_TRANSPORT, "t2", invalid_token()) is False
    assert auth.refreshed == [None, "t1"]


async def test_fresh_tokens_refused_after_one_worked_are_churn() -> None:
    """Once a token this client minted was accepted, the credentials are proven: fresh
    tokens refused in a row (revoked, pushed out by the refresh token's other clients) are
    refreshed again, up to the refreshes one request may make."""
    auth = CountingAuth()
    await auth.refresh(None, None)
    flow = auth.flow()
    assert await flow.refused(NO_TRANSPORT, "t1", invalid_token()) is True
    flow.accepted("t2")
    assert await flow.refused(NO_TRANSPORT, "t2", invalid_token()) is True
    assert await flow.refused(NO_TRANSPORT, "t3", invalid_token()) is True
    assert auth.refreshed == [None, "t1", "t2", "t3"]
    for n in range(4, 9):  # (8 refreshes in all for one request: _MAX_REFRESHES)
        assert await flow.refused(NO_TRANSPORT, f"t{n}", invalid_token()) is True
    assert await flow.refused(NO_TRANSPORT, "t9", invalid_token()) is False


async def test_other_auth_errors_are_final_without_a_refresh() -> None:
    """Only INVALID_TOKEN is worth a refresh; a scope mismatch is not."""
    auth = CountingAuth()
    await auth.refresh(None, None)
    error = error_for(401, "OAUTH_SCOPE_MISMATCH", "scope", {})
    assert isinstance(error, AuthenticationError)
    assert await auth.flow().refused(NO_TRANSPORT, "t1", error) is False
    assert auth.refreshed == [None]


async def test_a_retried_token_call_is_logged_as_the_token_call(
    m: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    """A 500 from the token endpoint is retried, and the log names the token call (not a URL
    with credentials, nor the form)."""
    caplog.set_level(logging.DEBUG, logger="zoho_convert")
    m.post(TOKEN_URL, status=500, body="")
    m.post(TOKEN_URL, payload=token_reply())
    m.get(STATUS_URL, payload=STATUS_REPLY)
    async with make_client(refresh_auth()) as client:
        await client.mass_convert_status("Quotes", "1")
    retries = [r.getMessage() for r in caplog.records if "retry 1" in r.getMessage()]
    assert len(retries) == 1 and retries[0].startswith("the token call failed (")


async def test_plain_http_accounts_server_allowed_when_the_caller_says_so(
    m: aioresponses,
) -> None:
    """allow_insecure_http=True lets the token call go to a plain-http accounts server."""
    url = "http://accounts.internal.example/oauth/v2/token"
    m.post(url, payload=token_reply())
    m.get(STATUS_URL, payload=STATUS_REPLY)
    auth = refresh_auth(accounts_url="http://accounts.internal.example")
    async with make_client(auth, allow_insecure_http=True) as client:
        await client.mass_convert_status("Quotes", "1")
    assert len(calls(m, "POST", url)) == 1


async def test_a_token_url_changed_to_plain_http_later_is_still_refused(
    m: aioresponses,
) -> None:
    """Credentials never leave over plain http, even to a token URL set after the client was
    made: the token call itself refuses it, naming the accounts URL."""
    auth = refresh_auth()
    async with make_client(auth) as client:
        auth.token_url = "http://accounts.internal.example/oauth/v2/token"
        with pytest.raises(ValueError, match=r"^refusing to send credentials over plain http"):
            await client.mass_convert_status("Quotes", "1")
        auth.token_url = "ftp://accounts.internal.example/oauth/v2/token"
        with pytest.raises(ValueError, match=r"^the accounts URL must be an http\(s\) URL"):
            await client.mass_convert_status("Quotes", "1")
    assert not m.requests
