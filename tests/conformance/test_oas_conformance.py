"""Conformance: every request body the client sends fits Zoho's documented shapes, in every
reading the simulator plays.

The real ``ZohoConvertClient`` runs against the simulator over HTTP on 127.0.0.1, once per
reading: the status reply wrapped in ``data`` (the v7 page) or bare (the OAS v8), crossed with
error details as the OAS gives them (``resource_path_index``, nested ``ambiguity_due_to``) or in
the older flat form. Every request is recorded as written to the socket and checked against the
validators of ``oas_shapes`` (both readings of Zoho's docs at once); the outcomes are checked
against the simulator's ledger. Time is virtual: polls and jobs cost no real time.
"""

from __future__ import annotations

import pytest
from fakes import deadline
from oas_shapes import Env, assert_conforms, running

from zoho_convert import (
    CarryOverTags,
    DealDetails,
    JobState,
    LeadConversion,
    ModuleRef,
    PollPolicy,
)
from zoho_convert.simulator import SimulatorConfig

READINGS = [
    pytest.param(shape, details, id=f"{shape}-{details}")
    for shape in ("wrapped", "bare")
    for details in ("oas", "legacy")
]

DEAL = DealDetails(
    deal_name="Renewal",
    closing_date="2030-01-31",
    stage="Negotiation/Review",
    pipeline="Standard (Standard)",
    amount=1200,
    contact_role="5545974000000006873",
)
USER = "2423488000000483001"
POLL = PollPolicy(initial=2.0, multiplier=2.0, max_interval=30.0, timeout=3600.0)
LEAD_TARGETS = ("Contacts", "Accounts", "Deals")


def _config(shape: str, details: str, **overrides: object) -> SimulatorConfig:
    return SimulatorConfig(
        seed=5, status_shape=shape, error_details=details, job_duration=20.0,  # type: ignore[arg-type]
        **overrides,  # type: ignore[arg-type]
    )


async def _related(e: Env) -> list[ModuleRef]:
    """Tasks, Calls and Events with their Modules API ids, as a caller would look them up."""
    names = ("Tasks", "Calls", "Events")
    return [ModuleRef(name, await e.client.module_id(name)) for name in names]


def _each_converted_once(e: Env, module: str, ids: list[str]) -> None:
    ledger = {i: e.sim.state.conversions.get((module, i), 0) for i in ids}
    assert set(ledger.values()) == {1}, {i: n for i, n in ledger.items() if n != 1}


def _recorded_every_submit(e: Env, module: str, endpoint: str) -> None:
    """The recorder saw each submit the simulator served (it cannot miss a body)."""
    assert e.submits(module) == e.sim.state.stats.requests_by_endpoint[endpoint] > 0


@pytest.mark.parametrize(("shape", "details"), READINGS)
async def test_convert_many_quotes_to_sales_orders(shape: str, details: str) -> None:
    """convert_many with every inventory option sends conforming bodies and converts each id
    once; a second run over a converted id is refused for that id only, still conforming."""
    async with deadline(30), running(_config(shape, details)) as e:
        ids = e.sim.state.create_records("Quotes", 120)
        related = await _related(e)
        report = await e.client.convert_many(
            "Quotes", ids, to="Sales_Orders", carry_over_tags=True, assign_to=USER,
            related_modules=related, poll=POLL,
        )
        assert report.ok and report.converted == 120, report.to_dict()
        _each_converted_once(e, "Quotes", ids)
        assert e.submits("Quotes") == 3  # 50 + 50 + 20: nothing resubmitted

        fresh = e.sim.state.create_records("Quotes", 9)
        again = await e.client.convert_many(
            "Quotes", [*fresh[:4], ids[0], *fresh[4:]], to="Sales_Orders",
            carry_over_tags=False, related_modules=related, poll=POLL,
        )
        assert [(r.id, r.code) for r in again.rejected] == [(ids[0], "ID_ALREADY_CONVERTED")]
        assert again.converted == 9 and again.accounted_for
        _each_converted_once(e, "Quotes", [*ids, *fresh])

        _recorded_every_submit(e, "Quotes", "mass_convert")
        assert_conforms(e.wire.requests, module_ids=e.module_ids())


@pytest.mark.parametrize(("shape", "details"), READINGS)
@pytest.mark.parametrize("ids_known", [False, True], ids=["names-only", "ids-known"])
async def test_convert_many_leads(shape: str, details: str, ids_known: bool) -> None:
    """convert_many of Leads with a deal (Pipeline), tags, attachments, owner and related lists
    sends OAS-shaped bodies (module references as objects, with their id once known)."""
    async with deadline(30), running(_config(shape, details)) as e:
        leads = e.sim.state.create_records("Leads", 70)
        related = await _related(e)
        if ids_known:
            for name in LEAD_TARGETS:
                await e.client.module_id(name)
        report = await e.client.convert_many(
            "Leads", leads, to=None, deals=DEAL, carry_over_tags=True,
            move_attachments_to="Deals", assign_to=USER, related_modules=related, poll=POLL,
        )
        assert report.ok and report.converted == 70, report.to_dict()
        _each_converted_once(e, "Leads", leads)

        _recorded_every_submit(e, "Leads", "lead_mass_convert")
        expect = LEAD_TARGETS if ids_known else ()
        assert_conforms(e.wire.requests, module_ids=e.module_ids(), expect_ids=expect)
        for body in (r.json() for r in e.wire.posts("Leads/actions/mass_convert")):
            tags = {t["api_name"] for t in body["carry_over_tags"]}
            assert tags == set(LEAD_TARGETS)  # Contacts and Accounts, and Deals with a deal
            assert body["Deals"]["Pipeline"] == "Standard (Standard)"
            assert ("id" in body["move_attachments_to"]) is ids_known


@pytest.mark.parametrize(("shape", "details"), READINGS)
async def test_mass_convert_and_wait_for_job(shape: str, details: str) -> None:
    """mass_convert (Quotes and Sales_Orders) then wait_for_job: conforming bodies and polls,
    each status shape read through to COMPLETED."""
    async with deadline(30), running(_config(shape, details)) as e:
        quotes = e.sim.state.create_records("Quotes", 50)
        orders = e.sim.state.create_records("Sales_Orders", 7)
        related = await _related(e)
        first = await e.client.mass_convert(
            "Quotes", quotes, to="Invoices", carry_over_tags=True, assign_to=USER,
            related_modules=related,
        )
        second = await e.client.mass_convert("Sales_Orders", orders, to="Invoices")
        early = await e.client.mass_convert_status("Quotes", first)
        assert early.state is JobState.SCHEDULED
        done = [
            await e.client.wait_for_job("Quotes", first, poll=POLL),
            await e.client.wait_for_job("Sales_Orders", second, poll=POLL),
        ]
        assert [(s.state, s.converted_count, s.total_count) for s in done] == [
            (JobState.COMPLETED, 50, 50), (JobState.COMPLETED, 7, 7)
        ]
        _each_converted_once(e, "Quotes", quotes)
        _each_converted_once(e, "Sales_Orders", orders)
        polls = [r for r in e.wire.requests if r.method == "GET" and "job_id" in r.query]
        assert len(polls) >= 3 and {r.query["job_id"] for r in polls} == {first, second}
        assert_conforms(e.wire.requests, module_ids=e.module_ids())


@pytest.mark.parametrize(("shape", "details"), READINGS)
async def test_mass_convert_leads_and_status(shape: str, details: str) -> None:
    """mass_convert_leads with every option, then its status (capitalised keys, either shape)
    until COMPLETED: conforming bodies, each lead converted once."""
    async with deadline(30), running(_config(shape, details)) as e:
        leads = e.sim.state.create_records("Leads", 12)
        related = await _related(e)
        await e.client.module_id("Contacts")
        job = await e.client.mass_convert_leads(
            leads, deals=DEAL, assign_to=USER, carry_over_tags=("Contacts", "Deals"),
            related_modules=related, move_attachments_to="Contacts",
        )
        early = await e.client.mass_convert_leads_status(job)
        assert early.state is JobState.SCHEDULED
        e.time.now += 60  # the job's 20 s pass
        status = await e.client.mass_convert_leads_status(job)
        assert (status.state, status.converted_count, status.total_count) == (
            JobState.COMPLETED, 12, 12
        )
        _each_converted_once(e, "Leads", leads)
        assert_conforms(e.wire.requests, module_ids=e.module_ids(), expect_ids={"Contacts"})
        [body] = [r.json() for r in e.wire.posts("Leads/actions/mass_convert")]
        assert body["carry_over_tags"][0] == {
            "api_name": "Contacts", "id": e.module_id("Contacts")
        }


@pytest.mark.parametrize(("shape", "details"), READINGS)
async def test_single_inventory_convert(shape: str, details: str) -> None:
    """convert of each inventory pair sends a data-wrapped Inventory_Converter body."""
    async with deadline(30), running(_config(shape, details)) as e:
        pairs = [("Quotes", "Sales_Orders"), ("Quotes", "Invoices"), ("Sales_Orders", "Invoices")]
        for module, target in pairs:
            (record,) = e.sim.state.create_records(module, 1)
            created = await e.client.convert(module, record, to=target)
            assert created.module == target and created.id
            _each_converted_once(e, module, [record])
        ref = ModuleRef("Invoices", e.module_id("Invoices"))
        (record,) = e.sim.state.create_records("Quotes", 1)
        assert (await e.client.convert("Quotes", record, to=ref)).module == "Invoices"
        assert_conforms(e.wire.requests, module_ids=e.module_ids())


def _every_option(e: Env) -> LeadConversion:
    return LeadConversion(
        overwrite=True,
        notify_lead_owner=True,
        notify_new_entity_owner=False,
        move_attachments_to="Deals",
        accounts=e.sim.state.create_records("Accounts", 1)[0],
        contacts=e.sim.state.create_records("Contacts", 1)[0],
        assign_to=USER,
        deals=DEAL,
        carry_over_tags=CarryOverTags(contacts=("vip",), accounts=("vip", "2030"), deals=("q1",)),
        add_to_existing_record=True,
    )


@pytest.mark.parametrize(("shape", "details"), READINGS)
@pytest.mark.parametrize("ids_known", [False, True], ids=["names-only", "ids-known"])
async def test_convert_lead_with_every_option(shape: str, details: str, ids_known: bool) -> None:
    """convert_lead with every LeadConversion option (add_to_existing_record too), and with
    none, sends data-wrapped Lead_Converter bodies; each lead converts once."""
    async with deadline(30), running(_config(shape, details)) as e:
        if ids_known:
            await e.client.module_id("Deals")
        leads = e.sim.state.create_records("Leads", 2)
        options = _every_option(e)
        result = await e.client.convert_lead(leads[0], options)
        assert result.accounts is not None and result.accounts.id == options.accounts
        assert result.contacts is not None and result.contacts.id == options.contacts
        assert result.deals is not None and result.deals.name == "Renewal"
        bare = await e.client.convert_lead(leads[1])
        assert bare.contacts is not None and bare.deals is None
        _each_converted_once(e, "Leads", leads)
        expect = {"Deals"} if ids_known else set()
        assert_conforms(e.wire.requests, module_ids=e.module_ids(), expect_ids=expect)
        sent = e.wire.posts(f"Leads/{leads[0]}/actions/convert")[0].json()["data"][0]
        assert sent["add_to_existing_record"] is True
        assert ("id" in sent["move_attachments_to"]) is ids_known


async def test_convert_lead_never_sends_add_to_existing_record_false() -> None:
    """add_to_existing_record=False is sent as no key at all: the OAS enum has true only."""
    async with deadline(30), running(_config("wrapped", "oas")) as e:
        (lead,) = e.sim.state.create_records("Leads", 1)
        await e.client.convert_lead(lead, LeadConversion(add_to_existing_record=False))
        assert_conforms(e.wire.requests, module_ids=e.module_ids())
