"""Observability: state inspectable in-process and over HTTP at /__simulator__/, plus restart."""

from __future__ import annotations

import aiohttp
from leaks import assert_no_secret, fake_secret
from sim_helpers import Api, StartSim

from zoho_convert.simulator import Simulator, SimulatorConfig


async def test_in_process_stats(api: Api) -> None:
    """Requests served, statuses, polls per job and per-endpoint counts are recorded."""
    ids = api.sim.state.create_records("Quotes", 2)
    job_id = (await api.mass_convert(ids)).body["details"]["job_id"]
    await api.status(job_id)
    await api.status(job_id)
    await api.call("GET", "/crm/v8/nowhere")
    stats = api.sim.state.stats
    assert stats.requests_served == 4
    assert stats.responses_by_status == {202: 1, 200: 2, 404: 1}
    assert stats.polls_per_job == {job_id: 2}
    assert stats.requests_by_endpoint["mass_convert_status"] == 2
    assert stats.peak_in_flight == 1 and stats.in_flight == 0


async def test_state_over_http(api: Api) -> None:
    """GET /__simulator__/state reports stats, conversion summary and jobs without auth."""
    ids = api.sim.state.create_records("Quotes", 3)
    job_id = (await api.mass_convert(ids)).body["details"]["job_id"]
    await api.status(job_id)
    reply = await api.call("GET", "/__simulator__/state", auth=False)
    assert reply.status == 200
    assert reply.body["stats"]["polls_per_job"] == {job_id: 1}
    assert reply.body["conversions"]["Quotes"] == {"converted": 3, "max_count": 1, "reserved": 0}
    [job] = reply.body["jobs"]
    assert job["job_id"] == job_id and job["status"] == "COMPLETED"
    brief = await api.call("GET", "/__simulator__/state", params={"jobs": "0"}, auth=False)
    assert "jobs" not in brief.body and brief.body["job_count"] == 1
    # observability requests are not API requests
    assert api.sim.state.stats.requests_served == 2


async def test_create_records_and_list_conversions_over_http(api: Api) -> None:
    """POST /__simulator__/records creates ids; GET /__simulator__/conversions lists converted."""
    made = await api.call("POST", "/__simulator__/records",
                          json={"module": "Quotes", "count": 3}, auth=False)
    assert made.status == 200
    ids = made.body["ids"]
    assert len(ids) == 3 and all(len(i) == 19 for i in ids)
    await api.convert(ids[0])
    listed = await api.call("GET", "/__simulator__/conversions",
                            params={"module": "Quotes"}, auth=False)
    assert listed.body == {"module": "Quotes", "converted_ids": [ids[0]],
                           "counts": {ids[0]: 1}, "repeated": {}}
    bad = await api.call("POST", "/__simulator__/records",
                         json={"module": "Nope", "count": 1}, auth=False)
    assert bad.status == 400


async def test_revoke_over_http(api: Api) -> None:
    """POST /__simulator__/revoke_refresh_token makes the refresh grant fail."""
    reply = await api.call("POST", "/__simulator__/revoke_refresh_token", auth=False)
    assert reply.status == 200
    assert (await api.refresh()).body == {"error": "invalid_code"}


async def test_restart_keeps_state_and_port(api: Api, session: aiohttp.ClientSession) -> None:
    """restart() re-listens on the same port with the same ledger, jobs and tokens."""
    sim = api.sim
    url = sim.url
    [rid] = sim.state.create_records("Quotes", 1)
    assert (await api.convert(rid)).status == 200
    await sim.restart()
    assert sim.url == url
    again = await api.convert(rid)
    assert again.code == "ID_ALREADY_CONVERTED"


async def test_stopped_simulator_refuses_connections(start_sim: StartSim,
                                                     session: aiohttp.ClientSession) -> None:
    """Between stop() and start() the port refuses connections, like a server that is down."""
    sim = await start_sim()
    api = Api(session, sim)
    await sim.stop()
    try:
        await api.call("GET", "settings/modules")
    except aiohttp.ClientConnectionError:
        pass
    else:
        raise AssertionError("a stopped simulator should not answer")
    await sim.start()
    assert (await api.call("GET", "settings/modules")).status == 200


def test_config_repr_hides_secrets() -> None:
    """The config's repr never shows tokens or the client secret."""
    secrets = [fake_secret(f"sim {name}") for name in ("token", "secret", "refresh")]
    config = SimulatorConfig(
        access_token=secrets[0], client_secret=secrets[1], refresh_token=secrets[2]
    )
    assert_no_secret([repr(config), str(config)], secrets, "a repr")


async def test_repr_and_unstarted_url() -> None:
    """An unstarted simulator has no URL yet and says so."""
    sim = Simulator()
    assert "not started" in repr(sim)
    try:
        _ = sim.url
    except RuntimeError:
        pass
    else:
        raise AssertionError("url of an unstarted simulator")
