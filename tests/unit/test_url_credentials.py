"""A ``user:password@`` written into ``api_domain`` or an accounts URL never reaches an error.

Real sockets on 127.0.0.1 (a closed port, a server that hangs up), no mocks: the error texts
are the ones a user would see.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator

import pytest
from aioresponses import aioresponses
from core_helpers import ACCESS_TOKEN, SECRETS, TOKEN_URL, make_client, refresh_auth, token_reply
from leaks import assert_no_secret, exception_texts, fake_secret

from zoho_convert import (
    RefreshTokenAuth,
    RetryPolicy,
    StaticToken,
    TransportError,
    ZohoConvertClient,
)

PASSWORD = fake_secret("password written into a URL")
ONE_TRY = RetryPolicy(max_tries=1)


def with_password(url: str) -> str:
    """``url`` with ``user:PASSWORD@`` written in front of its host."""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://user:{PASSWORD}@{rest}"


def assert_password_hidden(error: BaseException) -> None:
    assert_no_secret(exception_texts(error), [PASSWORD, *SECRETS], "an exception")


@pytest.fixture
def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def hang_up_port() -> AsyncIterator[int]:
    """A 127.0.0.1 server that reads a request and closes the connection without a reply."""

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    async with server:
        yield int(server.sockets[0].getsockname()[1])


# -- refused before anything is sent -----------------------------------------------------------


def test_refused_plain_http_api_domain_hides_the_password() -> None:
    """A plain-http api_domain with credentials is refused; the error names the host only."""
    with pytest.raises(ValueError, match=r"plain http to crm\.example\.com") as caught:
        ZohoConvertClient(
            StaticToken(ACCESS_TOKEN), api_domain=with_password("http://crm.example.com")
        )
    assert_password_hidden(caught.value)


def test_refused_plain_http_accounts_url_hides_the_password() -> None:
    """A plain-http accounts URL with credentials is refused; the error names the host only."""
    auth = refresh_auth(accounts_url=with_password("http://accounts.example.com"))
    with pytest.raises(ValueError, match=r"plain http to accounts\.example\.com") as caught:
        ZohoConvertClient(auth, api_domain="https://www.zohoapis.com")
    assert_password_hidden(caught.value)


async def test_token_reply_naming_a_plain_http_domain_with_a_password_hides_it(
    m: aioresponses,
) -> None:
    """A token reply whose api_domain is plain http with credentials: refused, password unseen."""
    m.post(TOKEN_URL, payload=token_reply(api_domain=with_password("http://crm.example.com")))
    async with ZohoConvertClient(refresh_auth(), retry=ONE_TRY) as client:
        with pytest.raises(ValueError, match=r"plain http to crm\.example\.com") as caught:
            await client.module_id("Quotes")
    assert_password_hidden(caught.value)


# -- transport errors ------------------------------------------------------------------------


async def test_refused_connection_to_the_accounts_url_hides_the_password(
    closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Connection refused at http://user:pw@127.0.0.1:PORT: a TransportError naming host and
    port, with no piece of the password in it or in any DEBUG log line about it."""
    caplog.set_level(logging.DEBUG)
    auth = refresh_auth(accounts_url=with_password(f"http://127.0.0.1:{closed_port}"))
    async with make_client(auth, retry=ONE_TRY) as client:
        with pytest.raises(TransportError) as caught:
            await client.module_id("Quotes")
    assert f"could not connect to 127.0.0.1:{closed_port}" in str(caught.value)
    assert caught.value.sent is False
    assert_password_hidden(caught.value)
    # The token URL itself is logged (see the xfail below); every other line must be clean.
    others = [r for r in caplog.records if not r.getMessage().startswith("refreshing")]
    assert_no_secret([r.getMessage() for r in others], [PASSWORD], "a log record")


async def test_hang_up_by_the_accounts_url_hides_the_password(hang_up_port: int) -> None:
    """A token call cut off after it was sent: the TransportError names the path only."""
    auth = refresh_auth(accounts_url=with_password(f"http://127.0.0.1:{hang_up_port}"))
    async with make_client(auth, retry=ONE_TRY) as client:
        with pytest.raises(TransportError) as caught:
            await client.module_id("Quotes")
    assert "POST /oauth/v2/token failed after the request was sent" in str(caught.value)
    assert_password_hidden(caught.value)


async def test_api_domain_with_a_password_at_a_closed_port_hides_it(closed_port: int) -> None:
    """http://user:pw@127.0.0.1:PORT as api_domain: whatever the call raises hides the password."""
    api_domain = with_password(f"http://127.0.0.1:{closed_port}")
    async with make_client(StaticToken(ACCESS_TOKEN), api_domain=api_domain, retry=ONE_TRY) as c:
        # aiohttp refuses credentials in the URL beside an Authorization header (a ValueError)
        # before it connects; a TransportError would do as well. Neither may show the password.
        with pytest.raises((ValueError, TransportError)) as caught:
            await c.module_id("Quotes")
    assert_password_hidden(caught.value)


# -- leaks found: to be fixed in zoho_convert (see each reason) ---------------------------------

REDACT = (
    "URL credentials are shown whole: zoho_convert should drop the user:password@ part of a URL "
    "wherever it shows one (check_secure_url's message, the reprs, the refresh log line)"
)


@pytest.mark.parametrize("url", ["ftp://user:{}@crm.example.com", "https//user:{}@crm.example"])
def test_a_url_that_is_not_http_is_refused_without_its_password(url: str) -> None:
    """'api_domain must be an http(s) URL, got …' does not repeat the password."""
    with pytest.raises(ValueError, match="http") as caught:
        ZohoConvertClient(StaticToken(ACCESS_TOKEN), api_domain=url.format(PASSWORD))
    assert_password_hidden(caught.value)


def test_reprs_hide_a_password_in_the_api_domain_or_accounts_url() -> None:
    """repr of the client and of RefreshTokenAuth show no piece of a URL password."""
    auth = RefreshTokenAuth(
        "1000.CLIENTID", "secret", "refresh", accounts_url=with_password("https://a.example")
    )
    client = ZohoConvertClient(auth, api_domain=with_password("https://crm.example.com"))
    assert_no_secret([repr(auth), repr(client)], [PASSWORD], "a repr")


async def test_refresh_log_line_hides_a_password_in_the_accounts_url(
    closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """'refreshing the Zoho access token at …' does not log the URL's password."""
    caplog.set_level(logging.DEBUG)
    auth = refresh_auth(accounts_url=with_password(f"http://127.0.0.1:{closed_port}"))
    async with make_client(auth, retry=ONE_TRY) as client:
        with pytest.raises(TransportError):
            await client.module_id("Quotes")
    assert any(r.getMessage().startswith("refreshing") for r in caplog.records)
    assert_no_secret([caplog.text], [PASSWORD], "a log record")
