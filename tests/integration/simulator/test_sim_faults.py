"""Every configurable fault, seen from a plain aiohttp client over real HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from fakes import FakeClock
from sim_helpers import Api, Reply, StartSim

from zoho_convert.simulator import Faults


class Gate:
    """An injectable ``sleep`` that parks requests until the test opens the gate."""

    def __init__(self, expected: int) -> None:
        self.waiting = 0
        self.expected = expected
        self.all_parked = asyncio.Event()
        self.opened = asyncio.Event()
        self.delays: list[float] = []

    async def sleep(self, delay: float) -> None:
        self.delays.append(delay)
        self.waiting += 1
        if self.waiting >= self.expected:
            self.all_parked.set()
        await self.opened.wait()


async def test_concurrency_cap_answers_429(start_sim: StartSim,
                                           session: aiohttp.ClientSession) -> None:
    """With cap=2, two requests in flight are served and the other three get 429 at once."""
    gate = Gate(expected=2)
    sim = await start_sim(faults=Faults(concurrency_cap=2, latency=1.0), sleep=gate.sleep)
    api = Api(session, sim)
    tasks = [asyncio.create_task(api.call("GET", "settings/modules")) for _ in range(5)]
    await asyncio.wait_for(gate.all_parked.wait(), 5)
    pending = set(tasks)
    finished: list[Reply] = []
    while len(finished) < 3:
        done, pending = await asyncio.wait(pending, timeout=5,
                                           return_when=asyncio.FIRST_COMPLETED)
        assert done, "rejected requests should not wait for the gate"
        finished += [t.result() for t in done]
    assert [(r.status, r.code) for r in finished] == [(429, "TOO_MANY_REQUESTS")] * 3
    assert "Retry-After" not in finished[0].headers
    gate.opened.set()
    served = await asyncio.gather(*pending)
    assert [r.status for r in served] == [200, 200]
    stats = sim.state.stats
    assert stats.rate_limited == 3
    assert stats.peak_in_flight == 3  # two parked + the one being refused at that moment
    assert gate.delays == [1.0, 1.0]


@pytest.mark.parametrize(("retry_after", "header"), [(None, None), (2.0, "2"), (0.5, "0.5")])
async def test_random_429_with_and_without_retry_after(
    start_sim: StartSim, session: aiohttp.ClientSession, retry_after: float | None,
    header: str | None
) -> None:
    """rate_429=1 answers 429 TOO_MANY_REQUESTS, with Retry-After only when configured."""
    sim = await start_sim(faults=Faults(rate_429=1.0, retry_after=retry_after))
    reply = await Api(session, sim).mass_convert(["1"])
    assert (reply.status, reply.code) == (429, "TOO_MANY_REQUESTS")
    assert reply.headers.get("Retry-After") == header
    assert sim.state.jobs == {}


async def test_random_500_does_not_process(start_sim: StartSim,
                                           session: aiohttp.ClientSession) -> None:
    """rate_500=1 answers 500 INTERNAL_ERROR before processing: no job is created."""
    sim = await start_sim(faults=Faults(rate_500=1.0))
    api = Api(session, sim)
    reply = await api.call("POST", "Quotes/actions/mass_convert", json={})
    assert (reply.status, reply.code) == (500, "INTERNAL_ERROR")
    assert sim.state.jobs == {}


async def test_fault_after_processing_leaves_an_uncertain_job(
    start_sim: StartSim, session: aiohttp.ClientSession
) -> None:
    """With fault_after_processing the job exists but the client only sees a 500."""
    sim = await start_sim(faults=Faults(rate_500=1.0, fault_after_processing=True,
                                        fault_endpoints=frozenset({"mass_convert"})))
    api = Api(session, sim)
    reply = await api.mass_convert(["11", "12"])
    assert reply.status == 500
    assert len(sim.state.jobs) == 1
    assert sim.state.converted_ids("Quotes") == {"11", "12"}
    again = await api.mass_convert(["11", "12"])
    assert again.status == 500  # faults still hit; the ledger below is what matters
    assert max(sim.state.conversions.values()) == 1
    assert sim.state.stats.duplicate_attempts == 2


async def test_connection_drop_is_a_disconnect_not_a_500(
    start_sim: StartSim, session: aiohttp.ClientSession
) -> None:
    """drop_rate=1 closes the connection without a response: the client sees a disconnect."""
    sim = await start_sim(faults=Faults(drop_rate=1.0))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await Api(session, sim).mass_convert(["1"])
    assert sim.state.stats.dropped == 1
    assert sim.state.jobs == {}


async def test_drop_after_processing(start_sim: StartSim, session: aiohttp.ClientSession) -> None:
    """A drop after processing schedules the job although the client never hears back."""
    sim = await start_sim(faults=Faults(drop_rate=1.0, fault_after_processing=True,
                                        fault_endpoints=frozenset({"mass_convert"})))
    api = Api(session, sim)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.call("POST", "Quotes/actions/mass_convert",
                       json=await api.mass_body(["21"]))
    assert len(sim.state.jobs) == 1


async def test_fault_endpoints_limit_where_faults_hit(
    start_sim: StartSim, session: aiohttp.ClientSession
) -> None:
    """Faults limited to the status endpoint leave mass convert itself alone."""
    sim = await start_sim(faults=Faults(rate_500=1.0,
                                        fault_endpoints=frozenset({"mass_convert_status"})))
    api = Api(session, sim)
    reply = await api.mass_convert(["1"])
    assert reply.status == 202
    assert (await api.status(reply.body["details"]["job_id"])).status == 500


async def test_token_endpoint_and_observability_are_not_hit_by_random_faults(
    start_sim: StartSim, session: aiohttp.ClientSession
) -> None:
    """Random faults spare /oauth/v2/token and /__simulator__/."""
    sim = await start_sim(faults=Faults(rate_500=0.5, drop_rate=0.5))
    api = Api(session, sim)
    assert (await api.refresh()).status == 200
    assert (await api.call("GET", "/__simulator__/state", auth=False)).status == 200


async def test_token_expires_after_max_uses(start_sim: StartSim,
                                            session: aiohttp.ClientSession) -> None:
    """token_max_uses=3: the 4th use answers 401 INVALID_TOKEN; a refreshed token works again."""
    sim = await start_sim(faults=Faults(token_max_uses=3))
    api = Api(session, sim)
    for _ in range(3):
        assert (await api.call("GET", "settings/modules")).status == 200
    expired = await api.call("GET", "settings/modules")
    assert expired.status == 401
    assert expired.body == {"code": "INVALID_TOKEN", "details": {},
                            "message": "invalid oauth token", "status": "error"}
    api.token = (await api.refresh()).body["access_token"]
    assert (await api.call("GET", "settings/modules")).status == 200


async def test_token_expires_after_ttl(start_sim: StartSim, clock: FakeClock,
                                       session: aiohttp.ClientSession) -> None:
    """token_ttl=60: a token is refused 60 clock seconds after it was minted."""
    sim = await start_sim(faults=Faults(token_ttl=60.0))
    api = Api(session, sim)
    clock.advance(59.0)
    assert (await api.call("GET", "settings/modules")).status == 200
    clock.advance(1.0)
    assert (await api.call("GET", "settings/modules")).code == "INVALID_TOKEN"
    refreshed = await api.refresh()
    assert refreshed.body["expires_in"] == 60
    api.token = refreshed.body["access_token"]
    assert (await api.call("GET", "settings/modules")).status == 200


async def test_token_endpoint_failures(start_sim: StartSim,
                                       session: aiohttp.ClientSession) -> None:
    """token_endpoint_failures=2: the first two refreshes answer HTTP 500, the third works."""
    sim = await start_sim(faults=Faults(token_endpoint_failures=2))
    api = Api(session, sim)
    assert [(await api.refresh()).status for _ in range(3)] == [500, 500, 200]
    assert sim.state.stats.token_refreshes == 1


async def test_revoked_refresh_token(api: Api) -> None:
    """After revoke_refresh_token the grant answers invalid_code; existing tokens still work."""
    api.sim.state.revoke_refresh_token()
    reply = await api.refresh()
    assert (reply.status, reply.body) == (200, {"error": "invalid_code"})
    assert (await api.call("GET", "settings/modules")).status == 200


async def test_corrupt_replies_come_in_every_flavour(
    start_sim: StartSim, session: aiohttp.ClientSession
) -> None:
    """corrupt_rate=1 breaks every reply: truncated JSON, an HTML page, or missing keys."""
    sim = await start_sim(faults=Faults(corrupt_rate=1.0), seed=5)
    api = Api(session, sim)
    kinds = set()
    for _ in range(30):
        reply = await api.call("GET", "settings/modules")
        if reply.status == 502:
            assert reply.headers["Content-Type"].startswith("text/html")
            kinds.add("html")
        elif isinstance(reply.body, bytes):
            kinds.add("truncated")
        else:
            assert "modules" not in reply.body
            kinds.add("missing")
    assert kinds == {"html", "truncated", "missing"}
    assert sim.state.stats.corrupted == 30


async def test_latency_uses_the_injected_sleep(start_sim: StartSim,
                                               session: aiohttp.ClientSession) -> None:
    """latency is awaited through the configured sleep function, once per API request."""
    delays: list[float] = []

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)

    sim = await start_sim(faults=Faults(latency=0.25), sleep=fake_sleep)
    api = Api(session, sim)
    await api.call("GET", "settings/modules")
    await api.refresh()
    assert delays == [0.25]


@pytest.mark.parametrize("kwargs", [{"rate_429": 1.5}, {"latency": -1.0},
                                    {"concurrency_cap": 0}, {"fault_endpoints": {"nope"}},
                                    {"token_max_uses": 0}])
def test_faults_reject_nonsense(kwargs: dict[str, Any]) -> None:
    """Out-of-range fault settings fail fast with ValueError."""
    with pytest.raises(ValueError):
        Faults(**kwargs)
