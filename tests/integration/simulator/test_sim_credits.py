"""API credits: what requests cost, and the X-API-CREDITS-REMAINING header once half are used."""

from __future__ import annotations

import argparse

import aiohttp
from sim_helpers import Api, StartSim

from zoho_convert.simulator import Faults
from zoho_convert.simulator.cli import add_arguments, config_from_args

HEADER = "X-API-CREDITS-REMAINING"


async def test_remaining_credits_are_sent_once_half_are_used(
    start_sim: StartSim, session: aiohttp.ClientSession
) -> None:
    """With 10 credits, the first 4 replies carry no header; from the 5th on each says what
    remains, down to 0 (and on past it: reported, not refused)."""
    sim = await start_sim(api_credits=10)
    api = Api(session, sim)
    seen = []
    for _ in range(12):
        reply = await api.mass_convert([str(7_000_000 + len(seen))])
        assert reply.status == 202
        seen.append(reply.headers.get(HEADER))
    assert seen == [None] * 4 + ["5", "4", "3", "2", "1", "0", "0", "0"]
    assert sim.state.stats.credits_used == 12


async def test_no_credits_configured_sends_no_header(
    start_sim: StartSim, session: aiohttp.ClientSession
) -> None:
    """By default the simulator counts no credits and sends no credits header."""
    sim = await start_sim()
    reply = await Api(session, sim).mass_convert(["7000001"])
    assert reply.status == 202
    assert HEADER not in reply.headers
    assert sim.state.stats.credits_used == 0


async def test_convert_lead_costs_five_and_a_429_costs_nothing(
    start_sim: StartSim, session: aiohttp.ClientSession
) -> None:
    """Convert Lead costs 5 credits, as Zoho charges it; a request answered 429 costs none."""
    sim = await start_sim(api_credits=100)
    api = Api(session, sim)
    lead = sim.state.create_records("Leads", 1)[0]
    reply = await api.call("POST", f"Leads/{lead}/actions/convert", json={"data": [{}]})
    assert reply.status == 200, reply.body
    assert sim.state.stats.credits_used == 5

    limited = await start_sim(api_credits=100, faults=Faults(rate_429=1.0))
    assert (await Api(session, limited).mass_convert(["7000002"])).status == 429
    assert limited.state.stats.credits_used == 0


def test_api_credits_option_on_the_command_line() -> None:
    """--api-credits N sets SimulatorConfig.api_credits (default: none)."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert config_from_args(parser.parse_args(["--api-credits", "5000"])).api_credits == 5000
    assert config_from_args(parser.parse_args([])).api_credits is None
