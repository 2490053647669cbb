"""Refusals that are about rights, not data: NO_PERMISSION (ids, modules), OAUTH_SCOPE_MISMATCH,
and NOT_REVIEWED records."""

from __future__ import annotations

import aiohttp
import pytest
from sim_helpers import Api, StartSim

from zoho_convert.simulator import ENDPOINT_NAMES, SimulatorConfig


async def test_no_permission_id_single_and_mass(start_sim: StartSim,
                                                session: aiohttp.ClientSession) -> None:
    """A no-permission id is refused 403 NO_PERMISSION by single convert and fails a mass call."""
    sim = await start_sim(no_permission_ids=frozenset({2423488000000999999}))
    api = Api(session, sim)
    single = await api.convert("2423488000000999999")
    assert (single.status, single.code) == (403, "NO_PERMISSION")
    ids = sim.state.create_records("Quotes", 2)
    mass = await api.mass_convert([*ids, "2423488000000999999"])
    assert (mass.status, mass.code) == (403, "NO_PERMISSION")
    assert mass.body["details"] == {"resource_path_index": 2}
    assert sim.state.converted_ids("Quotes") == set()
    assert (await api.mass_convert(ids)).status == 202


@pytest.mark.parametrize(("module", "path", "target", "json_path"), [
    ("Quotes", "Quotes/actions/mass_convert", "Sales_Orders", None),
    ("Sales_Orders", "Quotes/actions/mass_convert", "Sales_Orders",
     "$.convert_to[0].module.api_name"),
    ("Leads", "Leads/actions/mass_convert", None, None),
])
async def test_no_permission_module_mass(
    start_sim: StartSim, session: aiohttp.ClientSession, module: str, path: str,
    target: str | None, json_path: str | None
) -> None:
    """A module without permission (parent or target) answers 403 with a permissions list."""
    sim = await start_sim(no_permission_modules=frozenset({module}))
    api = Api(session, sim)
    parent = path.split("/", maxsplit=1)[0]
    ids = sim.state.create_records(parent, 1)
    body = await api.mass_body(ids, target) if target else {"ids": ids}
    reply = await api.call("POST", path, json=body)
    assert (reply.status, reply.code) == (403, "NO_PERMISSION"), reply.body
    assert isinstance(reply.body["details"]["permissions"], list)
    assert reply.body["details"]["permissions"]
    assert reply.body["details"].get("json_path") == json_path
    assert sim.state.jobs == {}


async def test_no_permission_module_single_converts(start_sim: StartSim,
                                                    session: aiohttp.ClientSession) -> None:
    """Single and lead convert of a module without permission answer 403; others still work."""
    sim = await start_sim(no_permission_modules=frozenset({"Leads", "Invoices"}))
    api = Api(session, sim)
    [lead] = sim.state.create_records("Leads", 1)
    refused = await api.call("POST", f"Leads/{lead}/actions/convert", json={"data": [{}]})
    assert (refused.status, refused.code) == (403, "NO_PERMISSION")
    [quote] = sim.state.create_records("Quotes", 1)
    assert (await api.convert(quote, target="Invoices")).code == "NO_PERMISSION"
    assert (await api.convert(quote, target="Sales_Orders")).status == 200


def test_no_permission_modules_must_be_known() -> None:
    """An unknown module name in no_permission_modules fails fast."""
    with pytest.raises(ValueError, match="unknown modules"):
        SimulatorConfig(no_permission_modules=frozenset({"Meetings"}))


async def test_scope_mismatch_endpoints(start_sim: StartSim,
                                        session: aiohttp.ClientSession) -> None:
    """Listed endpoints answer 401 OAUTH_SCOPE_MISMATCH to a valid token; others answer."""
    sim = await start_sim(scope_mismatch_endpoints=frozenset({"mass_convert_status", "convert"}))
    api = Api(session, sim)
    ids = sim.state.create_records("Quotes", 2)
    submitted = await api.mass_convert(ids[:1])
    assert submitted.status == 202
    status = await api.status(submitted.body["details"]["job_id"])
    assert (status.status, status.code) == (401, "OAUTH_SCOPE_MISMATCH")
    assert status.body["status"] == "error"
    single = await api.convert(ids[1])
    assert (single.status, single.code) == (401, "OAUTH_SCOPE_MISMATCH")
    assert sim.state.converted_ids("Quotes") == {ids[0]}
    assert (await api.call("GET", "settings/modules")).status == 200


async def test_scope_mismatch_comes_after_authentication(
    start_sim: StartSim, session: aiohttp.ClientSession
) -> None:
    """A bad token is still INVALID_TOKEN on a scope-mismatched endpoint (the token comes first)."""
    sim = await start_sim(scope_mismatch_endpoints=ENDPOINT_NAMES)
    api = Api(session, sim)
    reply = await api.call("GET", "settings/modules", headers=api.headers("1000.nope"))
    assert reply.code == "INVALID_TOKEN"


async def test_not_reviewed_single_convert(start_sim: StartSim,
                                           session: aiohttp.ClientSession) -> None:
    """A not-reviewed record is refused with NOT_REVIEWED by single convert."""
    sim = await start_sim(not_reviewed_ids=frozenset({"2423488000000999997"}))
    reply = await Api(session, sim).convert("2423488000000999997")
    assert (reply.status, reply.code) == (400, "NOT_REVIEWED")
    assert reply.body["data"][0]["details"] == {"id": "2423488000000999997"}
    assert sim.state.conversions == {}
