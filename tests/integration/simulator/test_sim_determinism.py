"""Determinism: the same seed and the same requests give the same responses."""

from __future__ import annotations

from typing import Any

import aiohttp
from fakes import FakeClock
from sim_helpers import Api, StartSim

from zoho_convert.simulator import Faults, SimulatorConfig

NOISY = Faults(rate_429=0.2, rate_500=0.2, corrupt_rate=0.1, failed_job_rate=0.3,
               never_finish_rate=0.1)


async def _script(start_sim: StartSim, session: aiohttp.ClientSession, seed: int) -> list[Any]:
    clock = FakeClock()
    sim = await start_sim(SimulatorConfig(seed=seed, faults=NOISY, job_duration=2.0,
                                          job_duration_jitter=1.0, clock=clock))
    api = Api(session, sim)
    ids = sim.state.create_records("Quotes", 60)
    transcript: list[Any] = [sim.access_token, ids[:3]]
    for start in range(0, 60, 10):
        reply = await api.mass_convert(ids[start:start + 10])
        transcript.append((reply.status, reply.body))
        if reply.status == 202 and isinstance(reply.body, dict) and "details" in reply.body:
            clock.advance(1.5)
            status = await api.status(reply.body["details"]["job_id"])
            transcript.append((status.status, status.body))
    transcript.append((await api.convert(ids[0])).body)
    token = (await api.refresh()).body
    token.pop("api_domain")  # the port differs between runs; everything else must not
    transcript.append(token)
    return transcript


async def test_same_seed_same_responses(start_sim: StartSim,
                                        session: aiohttp.ClientSession) -> None:
    """Two simulators with seed 42 answer an identical request script identically."""
    first = await _script(start_sim, session, 42)
    second = await _script(start_sim, session, 42)
    assert first == second


async def test_different_seed_different_responses(start_sim: StartSim,
                                                  session: aiohttp.ClientSession) -> None:
    """Seeds 1 and 2 give different ids, tokens and fault patterns."""
    assert await _script(start_sim, session, 1) != await _script(start_sim, session, 2)


async def test_module_ids_are_stable_per_seed(start_sim: StartSim,
                                              session: aiohttp.ClientSession) -> None:
    """Module ids depend only on the seed."""
    a = await start_sim(seed=9)
    b = await start_sim(seed=9)
    c = await start_sim(seed=10)
    ids = [await Api(session, s).call("GET", "settings/modules") for s in (a, b, c)]
    assert ids[0].body == ids[1].body != ids[2].body
