# mypy: disable-error-code="import-untyped"
"""Conformance: Zoho's official ``zohocrmsdk8-0`` SDK, which nobody here wrote, works unchanged
against the simulator. Where they disagree the SDK is the evidence of the real wire format.

The SDK is synchronous and keeps global state (``Initializer``), so these tests are plain
functions and the simulator runs on its own loop in a background thread.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeClock

pytest.importorskip("zohocrmsdk")

# The SDK has no type hints; its imports are kept local to this file.
import zohocrmsdk.src.com.zoho.crm.api.convert_lead as convert_lead
import zohocrmsdk.src.com.zoho.crm.api.inventory_convert as inv_convert
import zohocrmsdk.src.com.zoho.crm.api.inventory_mass_convert as inv_mass
import zohocrmsdk.src.com.zoho.crm.api.mass_convert as lead_mass
import zohocrmsdk.src.com.zoho.crm.api.modules as sdk_modules
from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken
from zohocrmsdk.src.com.zoho.api.authenticator.store import FileStore
from zohocrmsdk.src.com.zoho.crm.api import ParameterMap
from zohocrmsdk.src.com.zoho.crm.api.dc import DataCenter
from zohocrmsdk.src.com.zoho.crm.api.initializer import Initializer
from zohocrmsdk.src.com.zoho.crm.api.record import Record
from zohocrmsdk.src.com.zoho.crm.api.sdk_config import SDKConfig
from zohocrmsdk.src.com.zoho.crm.api.util import Choice

from zoho_convert.simulator import SimulatorConfig
from zoho_convert.simulator.threaded import SimulatorThread


@pytest.fixture
def clock() -> FakeClock:
    """The simulator's clock."""
    return FakeClock(0.0)  # shared with the simulator thread (a float read is atomic)


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[SimulatorThread]:
    """A simulator in a background thread whose jobs take 3 clock seconds."""
    with SimulatorThread(SimulatorConfig(seed=11, job_duration=3.0, clock=clock)) as running:
        yield running


def _init_sdk(sim: SimulatorThread, tmp_path: Path, token: OAuthToken | None = None) -> None:
    env = DataCenter.Environment(sim.url, sim.url + "/oauth/v2/token", sim.url)
    token = token or OAuthToken(access_token=sim.access_token, find_user=False)
    tmp_path.mkdir(parents=True, exist_ok=True)
    store = FileStore(str(tmp_path / "sdk_tokens.txt"))
    resources = tmp_path / "sdk_resources"
    resources.mkdir(exist_ok=True)
    # The SDK logs request URLs at INFO; keep test output quiet (it masks the token itself).
    logging.getLogger("SDKLogger").setLevel(logging.WARNING)
    Initializer.initialize(environment=env, token=token, store=store,
                           sdk_config=SDKConfig(auto_refresh_fields=False),
                           resource_path=str(resources))


def _module_id(api_name: str) -> int:
    response = sdk_modules.ModulesOperations().get_module_by_api_name(api_name)
    assert response is not None and response.get_status_code() == 200
    wrapper = response.get_object()
    assert isinstance(wrapper, sdk_modules.ResponseWrapper), vars(wrapper)
    [module] = wrapper.get_modules()
    assert module.get_api_name() == api_name
    module_id = module.get_id()
    assert isinstance(module_id, int)
    return module_id


def _mass_body(ids: list[str], target_id: int, target: str = "Sales_Orders") -> Any:
    module = inv_mass.Module()
    module.set_api_name(target)
    module.set_id(target_id)
    convert_to = inv_mass.ConvertTo()
    convert_to.set_module(module)
    convert_to.set_carry_over_tags(True)
    body = inv_mass.BodyWrapper()
    body.set_convert_to([convert_to])
    body.set_ids([int(i) for i in ids])  # the SDK's ids are Longs: JSON numbers on the wire
    return body


def _poll_until_done(sim_clock: FakeClock, ops: Any, job_id: int, param: Any,
                     method: str) -> tuple[list[str], Any]:
    statuses = []
    for _ in range(10):
        params = ParameterMap()
        params.add(param, job_id)
        response = getattr(ops, method)(params)
        assert response is not None and response.get_status_code() == 200
        wrapper = response.get_object()
        assert isinstance(wrapper, (inv_mass.ResponseWrapper, lead_mass.ResponseWrapper)), \
            vars(wrapper)
        [row] = wrapper.get_data()
        total = row.get_total_count()
        assert total == (row.get_converted_count() + row.get_not_converted_count()
                         + row.get_failed_count())
        statuses.append(row.get_status())
        if row.get_status().upper() in ("COMPLETED", "FAILED"):
            return statuses, row
        sim_clock.now += 1.0
    raise AssertionError(f"job {job_id} never finished: {statuses}")


def test_sdk_mass_converts_120_quotes_in_3_batches(
    sim: SimulatorThread, clock: FakeClock, tmp_path: Path
) -> None:
    """The SDK mass-converts 120 quotes in batches of 40, polls each job to COMPLETED."""
    _init_sdk(sim, tmp_path)
    quotes = sim.state.create_records("Quotes", 120)
    target_id = _module_id("Sales_Orders")
    ops = inv_mass.InventoryMassConvertOperations("Quotes")
    job_ids = []
    for start in range(0, 120, 40):
        response = ops.mass_inventory_convert(_mass_body(quotes[start:start + 40], target_id))
        assert response is not None and response.get_status_code() == 202
        scheduled = response.get_object()
        assert isinstance(scheduled, inv_mass.SuccessResponse), vars(scheduled)
        assert scheduled.get_code().get_value() == "SCHEDULED"
        assert scheduled.get_status().get_value() == "success"
        job_ids.append(scheduled.get_details()["job_id"])
    assert all(isinstance(j, int) for j in job_ids)
    seen = []
    for job_id in job_ids:
        statuses, row = _poll_until_done(clock, ops, job_id,
                                         inv_mass.GetScheduledJobsDetailsParam.job_id,
                                         "get_scheduled_jobs_details")
        seen.append(statuses)
        assert statuses[-1] == "COMPLETED"
        assert (row.get_total_count(), row.get_converted_count()) == (40, 40)
    # The first job was watched from the start; by then the clock had finished the others.
    assert seen[0][0] == "SCHEDULED" and "IN PROGRESS" in seen[0]
    assert sim.state.converted_ids("Quotes") == set(quotes)
    assert set(sim.state.conversions.values()) == {1}
    assert sim.state.stats.polls_per_job[str(job_ids[0])] >= 3


def test_sdk_reads_mass_convert_errors(sim: SimulatorThread, tmp_path: Path) -> None:
    """The SDK parses the simulator's ID_ALREADY_CONVERTED and LIMIT_EXCEEDED as APIException."""
    _init_sdk(sim, tmp_path)
    quotes = sim.state.create_records("Quotes", 51)
    target_id = _module_id("Invoices")
    ops = inv_mass.InventoryMassConvertOperations("Quotes")
    too_many = ops.mass_inventory_convert(_mass_body(quotes, target_id, "Invoices"))
    error = too_many.get_object()
    assert isinstance(error, inv_mass.APIException)
    assert error.get_code().get_value() == "LIMIT_EXCEEDED"
    assert ops.mass_inventory_convert(_mass_body(quotes[:2], target_id, "Invoices")) \
        .get_status_code() == 202
    again = ops.mass_inventory_convert(_mass_body(quotes[:2], target_id, "Invoices"))
    error = again.get_object()
    assert again.get_status_code() == 400
    assert isinstance(error, inv_mass.APIException)
    assert error.get_code().get_value() == "ID_ALREADY_CONVERTED"
    assert error.get_details()["resource_path_index"] == 0  # the OAS's id-level details


def _single_body(target: str, target_id: int) -> Any:
    module = inv_convert.Module()
    module.set_api_name(target)
    module.set_id(target_id)
    convert_to = inv_convert.ConvertTo()
    convert_to.set_module(module)
    converter = inv_convert.InventoryConverter()
    converter.set_convert_to([convert_to])
    body = inv_convert.BodyWrapper()
    body.set_data([converter])
    return body


def test_sdk_single_inventory_convert(sim: SimulatorThread, tmp_path: Path) -> None:
    """The SDK converts one quote and reads the new Sales Order; a repeat is a record error."""
    _init_sdk(sim, tmp_path)
    [quote] = sim.state.create_records("Quotes", 1)
    body = _single_body("Sales_Orders", _module_id("Sales_Orders"))
    ops = inv_convert.InventoryConvertOperations(int(quote), "Quotes")
    response = ops.convert_inventory(body)
    assert response is not None and response.get_status_code() == 200
    wrapper = response.get_object()
    assert isinstance(wrapper, inv_convert.ActionWrapper), vars(wrapper)
    [success] = wrapper.get_data()
    assert isinstance(success, inv_convert.SuccessResponse), vars(success)
    assert success.get_code().get_value() == "SUCCESS"
    created = success.get_details()["Sales_Orders"]
    assert isinstance(created.get_id(), int) and created.get_name()
    assert sim.state.conversions[("Quotes", quote)] == 1

    again = ops.convert_inventory(body)
    [error] = again.get_object().get_data()
    assert isinstance(error, inv_convert.APIException)
    assert error.get_code().get_value() == "ID_ALREADY_CONVERTED"
    assert sim.state.conversions[("Quotes", quote)] == 1


def test_sdk_lead_convert_with_deal(sim: SimulatorThread, tmp_path: Path) -> None:
    """The SDK reads Deals' fields, converts a lead with a deal, reads Contacts/Accounts/Deals."""
    _init_sdk(sim, tmp_path)
    [lead] = sim.state.create_records("Leads", 1)
    deal = Record()
    deal.add_key_value("Deal_Name", "SDK deal")
    deal.add_key_value("Closing_Date", datetime.date(2030, 1, 31))
    deal.add_key_value("Stage", Choice("Qualification"))
    deal.add_key_value("Pipeline", Choice("Standard (Standard)"))
    deal.add_key_value("Amount", 1000.0)
    converter = convert_lead.LeadConverter()
    converter.set_overwrite(True)
    converter.set_notify_lead_owner(False)
    converter.set_notify_new_entity_owner(False)
    converter.set_deals(deal)
    body = convert_lead.BodyWrapper()
    body.set_data([converter])
    response = convert_lead.ConvertLeadOperations(int(lead)).convert_lead(body)
    assert response is not None and response.get_status_code() == 200
    wrapper = response.get_object()
    assert isinstance(wrapper, convert_lead.ActionWrapper), vars(wrapper)
    [success] = wrapper.get_data()
    assert isinstance(success, convert_lead.SuccessResponse), vars(success)
    details = success.get_details()
    assert set(details) == {"Contacts", "Accounts", "Deals"}
    assert isinstance(details["Contacts"].get_id(), int)
    assert sim.state.converted_ids("Leads") == {lead}
    assert sim.state.stats.requests_by_endpoint["fields"] >= 1  # the SDK read Deals' fields


def test_sdk_lead_mass_convert_and_status(
    sim: SimulatorThread, clock: FakeClock, tmp_path: Path
) -> None:
    """The SDK's lead mass convert schedules a job whose capitalised status row it parses."""
    _init_sdk(sim, tmp_path)
    leads = sim.state.create_records("Leads", 5)
    body = lead_mass.BodyWrapper()
    body.set_ids([int(i) for i in leads])
    assign = lead_mass.AssignTo()
    assign.set_id(2423488000000483001)
    body.set_assign_to(assign)
    ops = lead_mass.MassConvertOperations()
    response = ops.mass_convert(body)
    assert response is not None and response.get_status_code() == 200  # Leads OAS: 200
    scheduled = response.get_object()
    assert isinstance(scheduled, lead_mass.SuccessResponse), vars(scheduled)
    job_id = scheduled.get_details()["job_id"]
    statuses, row = _poll_until_done(clock, ops, job_id, lead_mass.GetJobStatusParam.job_id,
                                     "get_job_status")
    assert statuses[-1] == "COMPLETED" and row.get_converted_count() == 5
    assert sim.state.converted_ids("Leads") == set(leads)


def test_sdk_refreshes_its_token_against_the_simulator(
    sim: SimulatorThread, tmp_path: Path
) -> None:
    """With only a refresh token, the SDK gets an access token from /oauth/v2/token and uses it."""
    token = OAuthToken(client_id="sim-client", client_secret="sim-secret",
                       refresh_token="sim-refresh", find_user=False)
    _init_sdk(sim, tmp_path, token)
    assert isinstance(_module_id("Invoices"), int)
    assert sim.state.stats.token_refreshes == 1


@pytest.fixture
def legacy_sim() -> Iterator[SimulatorThread]:
    """A simulator answering error details in the older flat form."""
    # The SDK (8.0) maps the OAS's nested "ambiguity_due_to" (and "expected_fields",
    # "limit_due_to") to a class it lacks (ApinameJsonpathDetails) and raises KeyError, so it
    # can only read the flat form; the nested form is tested in tests/integration/simulator.
    config = SimulatorConfig(seed=11, error_details="legacy")
    with SimulatorThread(config) as running:
        yield running


def test_sdk_reads_auth_and_ambiguity_errors(legacy_sim: SimulatorThread,
                                             tmp_path: Path) -> None:
    """The SDK parses INVALID_TOKEN (401) and a flat AMBIGUITY_DURING_PROCESSING body."""
    sim = legacy_sim
    _init_sdk(sim, tmp_path)
    [quote] = sim.state.create_records("Quotes", 1)
    ops = inv_mass.InventoryMassConvertOperations("Quotes")
    ambiguous = ops.mass_inventory_convert(_mass_body([quote], _module_id("Invoices")))
    error = ambiguous.get_object()
    assert isinstance(error, inv_mass.APIException), vars(error)
    assert error.get_code().get_value() == "AMBIGUITY_DURING_PROCESSING"
    _init_sdk(sim, tmp_path / "other", OAuthToken(access_token="1000.wrong", find_user=False))
    rejected = ops.mass_inventory_convert(_mass_body([quote], 1))
    assert rejected.get_status_code() == 401
    error = rejected.get_object()
    assert isinstance(error, inv_mass.APIException), vars(error)
    assert error.get_code().get_value() == "INVALID_TOKEN"
    assert sim.state.conversions == {}
