"""Review 6 findings, over HTTP against the simulator on 127.0.0.1; reports judged id by id
against its ledger (``truth.assert_report_true``).

1. A client given no API domain takes the one its token reply names (RefreshTokenAuth). A
   run's journal kept whichever domain the client knew when the journal was created (the
   data center's default before any token, the token's after one), and resume compared it
   before fetching a token, then again after: a legitimate journal was refused, in the same
   data center, by the same client configuration.
2. An API domain carrying ``user:password@`` (a proxy's) was written whole into the journal
   and repeated in resume's refusal.
3. ``EndpointClient.wait_for_job`` polled a job whose state reads as an end of unknown outcome
   (CANCELLED) on to the poll timeout, though a run gives such a job up at once.
4. A settling Leads resubmission refused as INVALID_DATA naming no id was bisected to single
   leads, each then reported rejected though the lost submission converted it.
5. ``resume(ids=...)`` took a single str (or bytes) for its ids, read character by character,
   and sent them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from fakes import SummingTime, deadline
from truth import RETRY, assert_report_true, cancel_after_first_submission, ledger, simulator_with

from zoho_convert import (
    ModuleRef,
    PollPolicy,
    RefreshTokenAuth,
    ResponseValidationError,
    SettlePolicy,
    StaticToken,
    ZohoConvertClient,
)
from zoho_convert.simulator import Faults, Simulator, SimulatorConfig

WAIT = 30.0


def _refreshing(sim: Simulator, time_: SummingTime) -> ZohoConvertClient:
    """A client with the simulator's refresh token and no API domain: its requests go where
    the token reply says (the simulator), not to the data center's default."""
    auth = RefreshTokenAuth(
        "sim-client", "sim-secret", "sim-refresh", accounts_url=sim.url, clock=time_.clock
    )
    return ZohoConvertClient(auth, retry=RETRY, sleep=time_.sleep, clock=time_.clock)


async def _interrupted(
    client: ZohoConvertClient, ids: list[str], to: object, journal: Path
) -> None:
    """A journaled run cancelled once its first batch was submitted."""
    await cancel_after_first_submission(client, ids, journal, to=to, wait=WAIT)  # type: ignore[arg-type]


@pytest.mark.parametrize("target", ["name", "ref"])
async def test_a_refresh_token_client_resumes_its_own_journal(tmp_path: Path, target: str) -> None:
    """Finding 1: the same client configuration resumes its run (either target form: a name
    is resolved with a request, a ``ModuleRef`` sends none before the journal is made)."""
    time_ = SummingTime()
    journal = tmp_path / "run.db"
    config = SimulatorConfig(seed=3, job_duration=5.0, clock=time_.clock)
    async with Simulator(config) as sim:
        ids = sim.state.create_records("Quotes", 30)
        async with ZohoConvertClient(
            StaticToken(sim.access_token), api_domain=sim.url, retry=RETRY,
            sleep=time_.sleep, clock=time_.clock,
        ) as looker:
            ref = ModuleRef("Sales_Orders", await looker.module_id("Sales_Orders"))
        to = "Sales_Orders" if target == "name" else ref
        async with _refreshing(sim, time_) as client:
            await _interrupted(client, ids, to, journal)
        async with _refreshing(sim, time_) as client, deadline(WAIT):
            report = await client.resume(str(journal), poll=PollPolicy(initial=1.0))
        time_.now += 10_000
        assert_report_true(report, ledger(sim, "Quotes", ids))
        assert report.converted == len(ids)


async def test_an_api_domain_password_is_not_written_to_the_journal(tmp_path: Path) -> None:
    """Finding 2: the journal keeps the run's API domain without its ``user:password@``; a
    resume elsewhere names neither in its refusal."""
    time_ = SummingTime()
    journal = tmp_path / "run.db"
    async with Simulator(SimulatorConfig(seed=4, clock=time_.clock)) as sim:
        proxied = sim.url.replace("http://", "http://proxyuser:s3cr3t-pw@")
        async with ZohoConvertClient(
            StaticToken(sim.access_token), api_domain=proxied, retry=RETRY,
            sleep=time_.sleep, clock=time_.clock,
        ) as client:
            # No id: nothing is sent, the journal is made all the same.
            report = await client.convert_many(
                "Quotes", [], to=ModuleRef("Sales_Orders", "1"), journal=str(journal)
            )
        assert report.converted == 0
        with contextlib.closing(sqlite3.connect(journal)) as db:
            dumped = "\n".join(db.iterdump())
            row = db.execute("SELECT value FROM run WHERE key='params'").fetchone()
        assert "s3cr3t-pw" not in dumped
        params = json.loads(row[0])
        assert "127.0.0.1" in params["api_domain"]
        async with ZohoConvertClient(
            StaticToken(sim.access_token), api_domain="https://www.zohoapis.eu", retry=RETRY,
            sleep=time_.sleep, clock=time_.clock,
        ) as other:
            refused = r"is a run against http://\*\*\*@127\.0\.0\.1"
            with pytest.raises(ValueError, match=refused) as caught:
                await other.resume(str(journal))
        assert "s3cr3t-pw" not in str(caught.value)


async def test_wait_for_job_stops_at_a_state_that_reads_as_an_end(tmp_path: Path) -> None:
    """Finding 3: ``wait_for_job`` on a job whose state reads as an end of unknown outcome
    (CANCELLED) says so at that status, as a run gives such a job up, instead of polling on
    to the poll timeout (15 minutes by default) and calling it unfinished."""
    time_ = SummingTime()
    faults = Faults(malformed_final_rate=1.0, malformed_final_kind="state")
    config = SimulatorConfig(seed=5, job_duration=2.0, faults=faults, clock=time_.clock)
    async with Simulator(config) as sim, ZohoConvertClient(
        StaticToken(sim.access_token), api_domain=sim.url, retry=RETRY,
        sleep=time_.sleep, clock=time_.clock,
    ) as client:
        ids = sim.state.create_records("Quotes", 5)
        job_id = await client.mass_convert("Quotes", ids, to="Sales_Orders")
        began = time_.now
        with pytest.raises(ResponseValidationError, match="CANCELLED"):
            async with deadline(WAIT):
                await client.wait_for_job("Quotes", job_id, poll=PollPolicy())
        assert time_.now - began < 60.0
        assert sim.state.stats.polls_per_job[job_id] <= 4


@contextlib.asynccontextmanager
async def _details_stripped(upstream: str) -> AsyncIterator[str]:
    """A proxy on 127.0.0.1 in front of ``upstream`` that passes every call on, but answers an
    INVALID_DATA refusal of the Leads mass convert with its details emptied (a server that
    does not say which id it refused). Yields its URL."""
    session = aiohttp.ClientSession()

    async def forward(request: web.Request) -> web.Response:
        headers = {
            key: value for key, value in request.headers.items()
            if key.lower() in ("authorization", "content-type")
        }
        async with session.request(
            request.method, upstream + request.path_qs, headers=headers, data=await request.read()
        ) as reply:
            raw = await reply.read()
            kept = {
                key: value for key, value in reply.headers.items()
                if key.lower() in ("content-type", "retry-after", "x-request-id")
            }
        mass = request.method == "POST" and request.path.endswith("Leads/actions/mass_convert")
        if mass and b"INVALID_DATA" in raw:
            body = json.loads(raw)
            body["details"] = {}
            raw = json.dumps(body).encode()
        return web.Response(status=reply.status, body=raw, headers=kept)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
        await session.close()


@pytest.mark.parametrize("record_by_record", [True, False])
async def test_a_lead_refused_as_invalid_unnamed_on_settling_is_never_rejected(
    record_by_record: bool,
) -> None:
    """Finding 4: a settling Leads resubmission refused as INVALID_DATA without naming the id
    (its details empty) is bisected down to single leads; each was then reported ``rejected
    INVALID_DATA`` though the lost submission converted it (a false failure against the
    ledger). A lead gone from Leads reads so: settling, a single lead so refused is checked by
    Convert Lead (refused as converted: already converted), else ``uncertain``."""
    faults = Faults(
        rate_500=0.3, fault_after_processing=True, fault_endpoints={"lead_mass_convert"}
    )
    async with contextlib.AsyncExitStack() as stack:
        sim, time_, ids = await simulator_with(
            stack, "Leads", 60, seed=41, faults=faults,
            converted_leads="invalid_in_mass", already_converted="fail_call",
        )
        url = await stack.enter_async_context(_details_stripped(sim.url))
        client = await stack.enter_async_context(ZohoConvertClient(
            StaticToken(sim.access_token), api_domain=url, retry=RETRY,
            sleep=time_.sleep, clock=time_.clock,
        ))
        async with deadline(WAIT):
            report = await client.convert_many(
                "Leads", ids, batch_size=10, poll=PollPolicy(initial=0.5, timeout=3_000),
                settle=SettlePolicy(record_by_record=record_by_record),
            )
        time_.now += 100_000
        counts = ledger(sim, "Leads", ids)
        assert sim.state.stats.requests_by_endpoint.get("lead_mass_convert", 0) > 6
        assert_report_true(report, counts)
        assert not report.rejected


@pytest.mark.parametrize("bad", ["4700933000001000010", 4700933000001000010, b"42"])
async def test_resume_refuses_ids_that_are_one_id_before_anything_is_sent(
    tmp_path: Path, bad: object
) -> None:
    """Finding 5: ``resume(ids=...)`` took a single str for its ids, read character by
    character: ids ``4``, ``7``, ``0``, ... were sent (and the journal's input marked read),
    where ``convert_many`` refuses such ids with TypeError before anything is sent."""
    time_ = SummingTime()
    journal = tmp_path / "run.db"
    async with Simulator(SimulatorConfig(seed=6, job_duration=5.0, clock=time_.clock)) as sim:
        ids = sim.state.create_records("Quotes", 20)
        blocked = asyncio.Event()

        async def first_half() -> AsyncIterator[str]:
            for value in ids[:10]:
                yield value
            await blocked.wait()  # (the input is never read to its end: resume needs ids)

        async with ZohoConvertClient(
            StaticToken(sim.access_token), api_domain=sim.url, retry=RETRY,
            sleep=time_.sleep, clock=time_.clock,
        ) as client:
            await _interrupted(client, first_half(), "Sales_Orders", journal)  # type: ignore[arg-type]
            served = sim.state.stats.requests_served
            with pytest.raises(TypeError, match="ids must be an iterable of ids"):
                async with deadline(WAIT):
                    await client.resume(str(journal), ids=bad)  # type: ignore[arg-type]
            assert sim.state.stats.requests_served == served
            async with deadline(WAIT):
                report = await client.resume(str(journal), ids=ids)
        time_.now += 10_000
        assert_report_true(report, ledger(sim, "Quotes", ids))
        assert report.total == len(ids) and report.input_complete
