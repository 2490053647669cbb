"""``error.partial_report`` against a real simulator: None when nothing ran, the report so far
(every id accounted for) when a run stops midway."""

from __future__ import annotations

import asyncio

import pytest
from client_helpers import StartEnv

from zoho_convert import (
    AuthenticationError,
    ConversionReport,
    PollPolicy,
    RefreshTokenAuth,
    StaticToken,
    ZohoConvertClient,
    ZohoConvertError,
)
from zoho_convert.api.client import Auth
from zoho_convert.simulator import Faults

TIMEOUT = 20.0


@pytest.mark.parametrize("refused", ["access-token", "refresh-token"])
async def test_partial_report_is_none_when_the_first_request_is_refused(
    env: StartEnv, refused: str
) -> None:
    """Credentials refused at the module-id lookup (the run's first request): the
    AuthenticationError has ``partial_report`` None (declared on the class), nothing is sent."""
    e = await env()
    auth: Auth = (
        StaticToken("1000.not-the-simulators-token")
        if refused == "access-token"
        else RefreshTokenAuth("1000.CLIENTIDvisibleOK", "wrong-secret", "wrong-refresh",
                              accounts_url=e.sim.url, clock=e.clock)
    )
    ids = e.sim.state.create_records("Quotes", 60)
    async with ZohoConvertClient(auth, api_domain=e.sim.url, sleep=e.sleeps, clock=e.clock) as c:
        with pytest.raises(AuthenticationError) as caught:
            await asyncio.wait_for(c.convert_many("Quotes", ids, to="Sales_Orders"), TIMEOUT)

    assert "partial_report" in vars(ZohoConvertError)  # an attribute of every error, not a hasattr
    assert caught.value.partial_report is None
    assert e.sim.state.stats.requests_by_endpoint["mass_convert"] == 0
    assert e.converted("Quotes") == set()


async def test_partial_report_accounts_for_every_id_when_a_run_stops_midway(
    env: StartEnv,
) -> None:
    """An access token refused after some batches were sent: the AuthenticationError carries
    the report so far, every id read in it once, and it agrees with the simulator's ledger."""
    e = await env(faults=Faults(token_max_uses=12), job_duration=1.0)
    ids = e.sim.state.create_records("Quotes", 400)

    with pytest.raises(AuthenticationError) as caught:
        await asyncio.wait_for(
            e.client.convert_many(
                "Quotes", ids, to="Sales_Orders", batch_size=10, poll=PollPolicy(initial=0.5)
            ),
            TIMEOUT,
        )

    report = caught.value.partial_report
    assert isinstance(report, ConversionReport)
    assert report.accounted_for and not report.ok
    assert 0 < report.submitted < report.total <= len(ids)
    converted = e.converted("Quotes")
    assert 0 < len(converted) < len(ids)  # the run did stop midway
    not_sent = {r.id for r in report.rejected if r.code == "NOT_SUBMITTED"}
    assert not_sent and not not_sent & converted  # nothing reported unsent was converted
    assert report.converted <= len(converted)  # no false success
    # Each submitted id is in a finished job's counts or listed as unfinished.
    counted = report.converted + report.failed + report.not_converted
    assert counted + len(report.unfinished) == report.submitted
    assert set(report.unfinished) <= set(ids)
