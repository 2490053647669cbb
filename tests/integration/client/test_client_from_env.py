"""``ZohoConvertClient.from_env()``: a working client from the ``ZOHO_*`` variables the CLI reads,
run against a real simulator; missing or ambiguous credentials refused before any request."""

from __future__ import annotations

import asyncio

import pytest
from client_helpers import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, StartEnv

from zoho_convert import ZohoConvertClient
from zoho_convert.settings import ENV_VARIABLES

TIMEOUT = 20.0


@pytest.mark.parametrize("credentials", ["access-token", "refresh-token"])
async def test_from_env_client_converts_against_the_simulator(
    env: StartEnv, credentials: str
) -> None:
    """From ZOHO_ACCESS_TOKEN (or the refresh-token trio and ZOHO_ACCOUNTS_URL) and
    ZOHO_API_DOMAIN alone: a client that converts every id, the ledger agreeing."""
    e = await env()
    variables = {"ZOHO_API_DOMAIN": e.sim.url, "ZOHO_DATA_CENTER": "eu"}
    if credentials == "access-token":
        variables["ZOHO_ACCESS_TOKEN"] = e.sim.access_token
    else:
        variables.update(
            ZOHO_CLIENT_ID=CLIENT_ID, ZOHO_CLIENT_SECRET=CLIENT_SECRET,
            ZOHO_REFRESH_TOKEN=REFRESH_TOKEN, ZOHO_ACCOUNTS_URL=e.sim.url,
        )
    ids = e.sim.state.create_records("Quotes", 120)

    # Keyword arguments add to the variables: here the test's virtual time.
    client = ZohoConvertClient.from_env(variables, sleep=e.sleeps, clock=e.clock)
    async with client:
        report = await asyncio.wait_for(
            client.convert_many("Quotes", ids, to="Sales_Orders"), TIMEOUT
        )

    assert report.ok and report.converted == 120
    assert e.converted("Quotes") == set(ids)
    # The refresh-token flow got its token from ZOHO_ACCOUNTS_URL; a static token needs none.
    refreshed = e.sim.state.stats.token_refreshes
    assert refreshed == 0 if credentials == "access-token" else refreshed >= 1


async def test_from_env_reads_os_environ_by_default(
    env: StartEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a mapping, from_env reads os.environ (as the CLI does)."""
    e = await env()
    for name in ENV_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ZOHO_ACCESS_TOKEN", e.sim.access_token)
    monkeypatch.setenv("ZOHO_API_DOMAIN", e.sim.url)

    async with ZohoConvertClient.from_env(sleep=e.sleeps, clock=e.clock) as client:
        module_id = await asyncio.wait_for(client.module_id("Sales_Orders"), TIMEOUT)

    assert module_id == e.module_id("Sales_Orders")


@pytest.mark.parametrize(
    ("variables", "words"),
    [
        ({}, "No Zoho credentials found"),
        ({"ZOHO_CLIENT_ID": CLIENT_ID, "ZOHO_CLIENT_SECRET": CLIENT_SECRET},
         "ZOHO_REFRESH_TOKEN is not set"),
        ({"ZOHO_ACCESS_TOKEN": "1000.tok", "ZOHO_CLIENT_ID": CLIENT_ID,
          "ZOHO_CLIENT_SECRET": CLIENT_SECRET, "ZOHO_REFRESH_TOKEN": REFRESH_TOKEN},
         "both ZOHO_ACCESS_TOKEN and"),
        ({"ZOHO_ACCESS_TOKEN": "1000.tok", "ZOHO_DATA_CENTER": "mars"}, "mars"),
    ],
    ids=["missing", "incomplete", "ambiguous", "unknown-data-center"],
)
async def test_from_env_refuses_missing_or_ambiguous_credentials(
    env: StartEnv, variables: dict[str, str], words: str
) -> None:
    """No credentials, an incomplete trio, a token and the trio both set, an unknown data
    center: a ValueError that says which, no secret in it, and nothing sent."""
    e = await env()
    with pytest.raises(ValueError, match=words) as caught:
        ZohoConvertClient.from_env({**variables, "ZOHO_API_DOMAIN": e.sim.url})

    for secret in (CLIENT_SECRET, REFRESH_TOKEN, "1000.tok"):
        assert secret not in str(caught.value)
    assert e.sim.state.stats.requests_served == 0
