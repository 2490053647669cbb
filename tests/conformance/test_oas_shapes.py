"""The shape validators of ``oas_shapes`` accept Zoho's own samples and reject wrong bodies.

Each validator is shown failing on bodies that break one documented fact, so the conformance
tests built on them can fail.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from oas_shapes import (
    SentRequest,
    assert_conforms,
    inventory_convert,
    inventory_mass_convert,
    lead_convert,
    lead_mass_convert,
    request_problems,
)

Body = dict[str, Any]

# Module ids of a made-up org, for the checks that a module id is the Modules API's.
MODULE_IDS = {
    "Sales_Orders": "2423488000000000171",
    "Invoices": "2423488000000000172",
    "Calls": "2423488000000017015",
    "Tasks": "2423488000000000143",
    "Events": "2423488000000000144",
    "Contacts": "2423488000000000101",
    "Accounts": "2423488000000000102",
    "Deals": "2423488000000000103",
}

# The Mass Convert Inventory page's sample input, verbatim.
INVENTORY_MASS_SAMPLE: Body = {
    "convert_to": [
        {"module": {"id": "2423488000000000171", "api_name": "Sales_Orders"},
         "carry_over_tags": True}
    ],
    "assign_to": {"id": "2423488000000483001"},
    "related_modules": [
        {"api_name": "Calls", "id": "2423488000000017015"},
        {"api_name": "Tasks", "id": "2423488000000000143"},
    ],
    "ids": ["2423488000000625004", "2423488000000625032"],
}

# A Leads mass convert as the OAS Body_Wrapper and the official SDK write it.
LEAD_MASS_SAMPLE: Body = {
    "ids": ["2423488000000625004", "2423488000000625032"],
    "Deals": {"Deal_Name": "test", "Closing_Date": "2020-10-20", "Stage": "Negotiation/Review",
              "Pipeline": "Standard (Standard)", "Amount": 20000},
    "assign_to": {"id": "2423488000000483001"},
    "carry_over_tags": [{"api_name": "Contacts"}, {"api_name": "Deals",
                                                   "id": "2423488000000000103"}],
    "related_modules": [{"api_name": "Tasks", "id": "2423488000000000143"}],
    "move_attachments_to": {"api_name": "Deals", "id": "2423488000000000103"},
}

# The Convert Inventory Records page's sample input, verbatim.
INVENTORY_CONVERT_SAMPLE: Body = {
    "data": [{"convert_to": [{"module": {"id": "2423488000000000171",
                                         "api_name": "Sales_Orders"}}]}]
}

# The Convert Lead page's sample input, verbatim.
LEAD_CONVERT_SAMPLE: Body = {
    "data": [
        {
            "overwrite": True,
            "notify_lead_owner": True,
            "notify_new_entity_owner": True,
            "move_attachments_to": {"api_name": "Deals"},
            "Accounts": {"id": "3652397000000624046"},
            "Contacts": {"id": "3652397000000624640"},
            "Deals": {
                "Deal_Name": "test",
                "Closing_Date": "2020-10-20",
                "Stage": "Negotiation/Review",
                "Amount": 20000000,
                "Pipeline": "Standard (Standard)",
                "Contact_Role": "5545974000000006873",
            },
            "carry_over_tags": {"Contacts": ["tag1", "tag2"], "Accounts": ["tag1"],
                                "Deals": ["tag1"]},
        }
    ]
}


def _changed(sample: Body, change: Callable[[Body], object]) -> Body:
    body = copy.deepcopy(sample)
    change(body)
    return body


def _mass_inv(body: Body) -> list[str]:
    return inventory_mass_convert(body, source="Quotes", module_ids=MODULE_IDS)


def _mass_lead(body: Body) -> list[str]:
    return lead_mass_convert(body, module_ids=MODULE_IDS)


def _single_inv(body: Body) -> list[str]:
    return inventory_convert(body, source="Quotes", module_ids=MODULE_IDS)


def _single_lead(body: Body) -> list[str]:
    return lead_convert(body, module_ids=MODULE_IDS)


# -- Zoho's samples pass -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "sample"),
    [
        (_mass_inv, INVENTORY_MASS_SAMPLE),
        (_mass_lead, LEAD_MASS_SAMPLE),
        (_single_inv, INVENTORY_CONVERT_SAMPLE),
        (_single_lead, LEAD_CONVERT_SAMPLE),
    ],
    ids=["inventory mass", "lead mass", "inventory single", "lead"],
)
def test_zohos_own_samples_conform(check: Callable[[Body], list[str]], sample: Body) -> None:
    """The seed pages' sample inputs (and the SDK's Leads body) pass their validator."""
    assert check(sample) == []


def test_a_minimal_lead_convert_conforms() -> None:
    """Convert Lead with no options (``{"data": [{}]}``): every key is optional on the page."""
    assert lead_convert({"data": [{}]}) == []


# -- inventory mass convert ----------------------------------------------------------------------

INVENTORY_MASS_WRONG: dict[str, tuple[Callable[[Body], object], str]] = {
    "carry_over_tags missing": (lambda b: b["convert_to"][0].pop("carry_over_tags"),
                                "$.convert_to[0].carry_over_tags"),
    "carry_over_tags a string": (lambda b: b["convert_to"][0].update(carry_over_tags="true"),
                                 "$.convert_to[0].carry_over_tags"),
    "ids as numbers": (lambda b: b.update(ids=[2423488000000625004]), "$.ids[0]"),
    "ids empty": (lambda b: b.update(ids=[]), "$.ids"),
    "51 ids": (lambda b: b.update(ids=[str(10**15 + i) for i in range(51)]), "$.ids"),
    "ids missing": (lambda b: b.pop("ids"), "$.ids"),
    "id not numeric": (lambda b: b.update(ids=["Q-1"]), "$.ids[0]"),
    "id repeated": (lambda b: b.update(ids=["1234", "1234"]), "$.ids"),
    "module without id": (lambda b: b["convert_to"][0]["module"].pop("id"),
                          "$.convert_to[0].module.id"),
    "module id a number": (lambda b: b["convert_to"][0]["module"].update(
        id=2423488000000000171), "$.convert_to[0].module.id"),
    "module without api_name": (lambda b: b["convert_to"][0]["module"].pop("api_name"),
                                "$.convert_to[0].module.api_name"),
    "module id of another module": (lambda b: b["convert_to"][0]["module"].update(
        id=MODULE_IDS["Invoices"]), "$.convert_to[0].module.id"),
    "target not a Quotes target": (lambda b: b["convert_to"][0]["module"].update(
        api_name="Quotes"), "$.convert_to[0].module.api_name"),
    "convert_to an object": (lambda b: b.update(convert_to=b["convert_to"][0]), "$.convert_to"),
    "two targets": (lambda b: b["convert_to"].append(b["convert_to"][0]), "$.convert_to"),
    "convert_to missing": (lambda b: b.pop("convert_to"), "$.convert_to"),
    "assign_to without id": (lambda b: b.update(assign_to={"name": "Patricia"}),
                             "$.assign_to.id"),
    "assign_to a bare id": (lambda b: b.update(assign_to="2423488000000483001"), "$.assign_to"),
    "related module without id": (lambda b: b["related_modules"][0].pop("id"),
                                  "$.related_modules[0].id"),
    "related module of another id": (lambda b: b["related_modules"][0].update(
        id=MODULE_IDS["Tasks"]), "$.related_modules[0].id"),
    "related_modules names only": (lambda b: b.update(related_modules=["Calls"]),
                                   "$.related_modules[0]"),
    "a Leads key": (lambda b: b.update(Deals={}), "$.Deals"),
}


@pytest.mark.parametrize("case", INVENTORY_MASS_WRONG, ids=str)
def test_inventory_mass_convert_rejects(case: str) -> None:
    """A mass inventory convert body that breaks one documented fact is refused, by path."""
    change, path = INVENTORY_MASS_WRONG[case]
    problems = _mass_inv(_changed(INVENTORY_MASS_SAMPLE, change))
    assert any(p.startswith(path) for p in problems), problems


def test_inventory_mass_convert_rejects_a_non_object() -> None:
    """A body that is not a JSON object is refused."""
    assert inventory_mass_convert([INVENTORY_MASS_SAMPLE]) != []


# -- Leads mass convert --------------------------------------------------------------------------

LEAD_MASS_WRONG: dict[str, tuple[Callable[[Body], object], str]] = {
    "carry_over_tags as names": (lambda b: b.update(carry_over_tags=["Contacts", "Accounts"]),
                                 "$.carry_over_tags[0]"),
    "carry_over_tags a boolean": (lambda b: b.update(carry_over_tags=True),
                                  "$.carry_over_tags"),
    "carry_over_tags of Leads": (lambda b: b["carry_over_tags"].append({"api_name": "Leads"}),
                                 "$.carry_over_tags[2].api_name"),
    "carry_over_tags twice": (lambda b: b["carry_over_tags"].append({"api_name": "Contacts"}),
                              "$.carry_over_tags"),
    "carry_over_tags wrong id": (lambda b: b["carry_over_tags"][1].update(
        id=MODULE_IDS["Accounts"]), "$.carry_over_tags[1].id"),
    "move_attachments_to a name": (lambda b: b.update(move_attachments_to="Deals"),
                                   "$.move_attachments_to"),
    "move_attachments_to without api_name": (lambda b: b["move_attachments_to"].pop(
        "api_name"), "$.move_attachments_to.api_name"),
    "Deals without Pipeline": (lambda b: b["Deals"].pop("Pipeline"), "$.Deals.Pipeline"),
    "Deals closing date": (lambda b: b["Deals"].update(Closing_Date="20/10/2020"),
                           "$.Deals.Closing_Date"),
    "Deals amount a string": (lambda b: b["Deals"].update(Amount="20000"), "$.Deals.Amount"),
    "ids missing": (lambda b: b.pop("ids"), "$.ids"),
    "ids as numbers": (lambda b: b.update(ids=[1, 2]), "$.ids[0]"),
    "assign_to id a number": (lambda b: b.update(assign_to={"id": 2423488000000483001}),
                              "$.assign_to.id"),
    "related module name only": (lambda b: b["related_modules"][0].pop("id"),
                                 "$.related_modules[0].id"),
    "an inventory key": (lambda b: b.update(convert_to=[]), "$.convert_to"),
}


@pytest.mark.parametrize("case", LEAD_MASS_WRONG, ids=str)
def test_lead_mass_convert_rejects(case: str) -> None:
    """A Leads mass convert body that breaks one documented fact is refused, by path."""
    change, path = LEAD_MASS_WRONG[case]
    problems = _mass_lead(_changed(LEAD_MASS_SAMPLE, change))
    assert any(p.startswith(path) for p in problems), problems


def test_lead_mass_convert_wants_the_id_of_a_module_the_client_knew() -> None:
    """With the module id known, ``{"api_name"}`` alone falls short of the OAS reading."""
    body = _changed(LEAD_MASS_SAMPLE, lambda b: b["move_attachments_to"].pop("id"))
    assert lead_mass_convert(body, module_ids=MODULE_IDS) == []
    problems = lead_mass_convert(body, module_ids=MODULE_IDS, expect_ids={"Deals"})
    assert any(p.startswith("$.move_attachments_to.id") for p in problems), problems
    problems = lead_mass_convert(body, module_ids=MODULE_IDS, expect_ids={"Contacts"})
    assert any(p.startswith("$.carry_over_tags[0].id") for p in problems), problems


# -- single inventory convert --------------------------------------------------------------------

INVENTORY_CONVERT_WRONG: dict[str, tuple[Callable[[Body], object], str]] = {
    "not wrapped in data": (lambda b: b.update(convert_to=b.pop("data")[0]["convert_to"]),
                            "$.data"),
    "two rows": (lambda b: b["data"].append(b["data"][0]), "$.data"),
    "module without api_name": (lambda b: b["data"][0]["convert_to"][0]["module"].pop(
        "api_name"), "$.data[0].convert_to[0].module.api_name"),
    "module id a number": (lambda b: b["data"][0]["convert_to"][0]["module"].update(id=171),
                           "$.data[0].convert_to[0].module.id"),
    "carry_over_tags a string": (lambda b: b["data"][0]["convert_to"][0].update(
        carry_over_tags="yes"), "$.data[0].convert_to[0].carry_over_tags"),
    "convert_to missing": (lambda b: b["data"][0].pop("convert_to"), "$.data[0].convert_to"),
    "ids in the body": (lambda b: b["data"][0].update(ids=["1"]), "$.data[0].ids"),
}


@pytest.mark.parametrize("case", INVENTORY_CONVERT_WRONG, ids=str)
def test_inventory_convert_rejects(case: str) -> None:
    """A single inventory convert body that breaks one documented fact is refused, by path."""
    change, path = INVENTORY_CONVERT_WRONG[case]
    problems = _single_inv(_changed(INVENTORY_CONVERT_SAMPLE, change))
    assert any(p.startswith(path) for p in problems), problems


# -- Convert Lead --------------------------------------------------------------------------------


def _row(change: Callable[[Body], object]) -> Callable[[Body], object]:
    return lambda b: change(b["data"][0])


LEAD_CONVERT_WRONG: dict[str, tuple[Callable[[Body], object], str]] = {
    "not wrapped in data": (lambda b: b.update(b.pop("data")[0]), "$.data"),
    "add_to_existing_record false": (_row(lambda r: r.update(add_to_existing_record=False)),
                                     "$.data[0].add_to_existing_record"),
    "add_to_existing_record without assign_to": (
        _row(lambda r: r.update(add_to_existing_record=True)), "$.data[0].assign_to"),
    "move_attachments_to id only": (_row(lambda r: r.update(
        move_attachments_to={"id": MODULE_IDS["Deals"]})),
        "$.data[0].move_attachments_to.api_name"),
    "move_attachments_to Leads": (_row(lambda r: r.update(
        move_attachments_to={"api_name": "Leads"})), "$.data[0].move_attachments_to.api_name"),
    "move_attachments_to another id": (_row(lambda r: r["move_attachments_to"].update(
        id=MODULE_IDS["Contacts"])), "$.data[0].move_attachments_to.id"),
    "carry_over_tags as a list": (_row(lambda r: r.update(carry_over_tags=["tag1"])),
                                  "$.data[0].carry_over_tags"),
    "carry_over_tags a tag string": (_row(lambda r: r.update(
        carry_over_tags={"Contacts": "tag1"})), "$.data[0].carry_over_tags.Contacts"),
    "Accounts id a number": (_row(lambda r: r.update(Accounts={"id": 3652397000000624046})),
                             "$.data[0].Accounts.id"),
    "Contacts a bare id": (_row(lambda r: r.update(Contacts="3652397000000624640")),
                           "$.data[0].Contacts"),
    "overwrite a string": (_row(lambda r: r.update(overwrite="true")), "$.data[0].overwrite"),
    "Deals without Stage": (_row(lambda r: r["Deals"].pop("Stage")), "$.data[0].Deals.Stage"),
    "Contact_Role a number": (_row(lambda r: r["Deals"].update(Contact_Role=5545974000000006873)),
                              "$.data[0].Deals.Contact_Role"),
    "a mass-convert key": (_row(lambda r: r.update(ids=["1"])), "$.data[0].ids"),
}


@pytest.mark.parametrize("case", LEAD_CONVERT_WRONG, ids=str)
def test_lead_convert_rejects(case: str) -> None:
    """A Convert Lead body that breaks one documented fact is refused, by path."""
    change, path = LEAD_CONVERT_WRONG[case]
    problems = _single_lead(_changed(LEAD_CONVERT_SAMPLE, change))
    assert any(p.startswith(path) for p in problems), problems


def test_lead_convert_accepts_add_to_existing_record_with_its_keys() -> None:
    """``add_to_existing_record: true`` with Accounts, Contacts and assign_to conforms."""
    body = _changed(LEAD_CONVERT_SAMPLE, _row(lambda r: r.update(
        add_to_existing_record=True, assign_to={"id": "2423488000000483001"})))
    assert _single_lead(body) == []


# -- one request, by its endpoint ----------------------------------------------------------------


def _post(path: str, body: object, content_type: str | None = "application/json") -> SentRequest:
    return SentRequest("POST", f"/crm/v8/{path}", {}, content_type, json.dumps(body).encode())


def test_requests_are_checked_by_endpoint() -> None:
    """Each POST is checked with its endpoint's validator; a GET poll needs a numeric job_id."""
    good = [
        _post("Quotes/actions/mass_convert", INVENTORY_MASS_SAMPLE),
        _post("Leads/actions/mass_convert", LEAD_MASS_SAMPLE),
        _post("Quotes/2423488000000625004/actions/convert", INVENTORY_CONVERT_SAMPLE),
        _post("Leads/2423488000000625004/actions/convert", LEAD_CONVERT_SAMPLE),
        SentRequest("GET", "/crm/v8/Quotes/actions/mass_convert", {"job_id": "123"}, None, b""),
        SentRequest("GET", "/crm/v8/settings/modules/Tasks", {}, None, b""),
    ]
    assert_conforms(good, module_ids=MODULE_IDS)
    # The same bodies sent to the other endpoints do not pass.
    swapped = [
        _post("Leads/actions/mass_convert", INVENTORY_MASS_SAMPLE),
        _post("Quotes/actions/mass_convert", LEAD_MASS_SAMPLE),
        _post("Leads/2423488000000625004/actions/convert", INVENTORY_CONVERT_SAMPLE),
        _post("Sales_Orders/2423488000000625004/actions/convert", LEAD_CONVERT_SAMPLE),
    ]
    for request in swapped:
        assert request_problems(request), request.api_path


@pytest.mark.parametrize(
    "request_",
    [
        _post("Quotes/actions/mass_convert", INVENTORY_MASS_SAMPLE, content_type="text/plain"),
        SentRequest("POST", "/crm/v8/Quotes/actions/mass_convert", {}, "application/json",
                    b"{not json"),
        _post("Quotes/actions/convert", INVENTORY_CONVERT_SAMPLE),
        _post("Quotes/Q-1/actions/convert", INVENTORY_CONVERT_SAMPLE),
        SentRequest("GET", "/crm/v8/Quotes/actions/mass_convert", {}, None, b""),
        SentRequest("GET", "/crm/v8/Leads/actions/mass_convert", {"job_id": "1"}, None, b"{}"),
        SentRequest("PUT", "/crm/v8/Quotes/actions/mass_convert", {}, None, b""),
    ],
    ids=["content type", "not JSON", "no record id", "record id not an id", "poll without job_id",
         "GET with a body", "PUT"],
)
def test_request_problems_catch_what_is_not_a_body_shape(request_: SentRequest) -> None:
    """Wrong content type, unreadable JSON, a bad URL id, a poll without job_id are refused."""
    assert request_problems(request_)
    with pytest.raises(AssertionError):
        assert_conforms([request_])


def test_no_request_recorded_does_not_conform() -> None:
    """An empty recording fails: a recorder that saw nothing proves nothing."""
    with pytest.raises(AssertionError, match="no request"):
        assert_conforms([])
