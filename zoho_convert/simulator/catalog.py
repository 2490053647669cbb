"""The static shape of the simulated org: modules, valid conversions and module metadata.

Pure data and pure functions; ids are derived from an org prefix so that they are stable per seed.
"""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class ModuleInfo:
    """One CRM module as ``GET settings/modules`` describes it."""

    api_name: str
    singular_label: str
    plural_label: str
    index: int  # position in the org; the module id is derived from it


MODULES: tuple[ModuleInfo, ...] = (
    ModuleInfo("Leads", "Lead", "Leads", 2),
    ModuleInfo("Contacts", "Contact", "Contacts", 3),
    ModuleInfo("Accounts", "Account", "Accounts", 5),
    ModuleInfo("Deals", "Deal", "Deals", 7),
    ModuleInfo("Tasks", "Task", "Tasks", 143),
    # Zoho's Meetings module has the API name "Events" (the OAS and the SDK spell it so).
    ModuleInfo("Events", "Meeting", "Meetings", 145),
    ModuleInfo("Calls", "Call", "Calls", 147),
    ModuleInfo("Quotes", "Quote", "Quotes", 169),
    ModuleInfo("Sales_Orders", "Sales Order", "Sales Orders", 171),
    ModuleInfo("Invoices", "Invoice", "Invoices", 173),
)
MODULES_BY_NAME: dict[str, ModuleInfo] = {m.api_name: m for m in MODULES}

#: Parent module -> modules it may be converted to (one target per call).
INVENTORY_CONVERSIONS: dict[str, frozenset[str]] = {
    "Quotes": frozenset({"Sales_Orders", "Invoices"}),
    "Sales_Orders": frozenset({"Invoices"}),
}
#: Modules whose records the lead/mass-convert endpoints may name as related modules.
RELATED_MODULES: frozenset[str] = frozenset({"Tasks", "Calls", "Events"})
#: Modules a lead converts into (lead mass convert's ``carry_over_tags``/``move_attachments_to``).
LEAD_TARGETS: frozenset[str] = frozenset({"Contacts", "Accounts", "Deals"})
#: Modules with a convert / mass_convert action.
CONVERTIBLE: frozenset[str] = frozenset({"Quotes", "Sales_Orders", "Leads"})


def module_id(org_prefix: str, module: ModuleInfo) -> str:
    """Deterministic 19-digit id of ``module`` in the org identified by ``org_prefix``."""
    return f"{org_prefix}{module.index:012d}"


def find_module(name: str) -> ModuleInfo | None:
    """Look a module up by API name, case-insensitively as Zoho does in URLs."""
    found = MODULES_BY_NAME.get(name)
    if found is not None:
        return found
    lowered = name.lower()
    return next((m for m in MODULES if m.api_name.lower() == lowered), None)


def module_json(org_prefix: str, module: ModuleInfo) -> dict[str, Any]:
    """The ``settings/modules`` entry for ``module`` (the keys the official SDK reads)."""
    return {
        "api_name": module.api_name,
        "id": module_id(org_prefix, module),
        "module_name": module.api_name,
        "singular_label": module.singular_label,
        "plural_label": module.plural_label,
        "api_supported": True,
        "generated_type": "default",
        "creatable": True,
        "editable": True,
        "deletable": True,
        "viewable": True,
        "convertable": module.api_name in CONVERTIBLE,
        "visible": True,
        "status": "visible",
        "sequence_number": module.index,
    }


def _field(
    org_prefix: str,
    seq: int,
    api_name: str,
    label: str,
    data_type: str,
    json_type: str,
    **extra: Any,
) -> dict[str, Any]:
    field: dict[str, Any] = {
        "api_name": api_name,
        "field_label": label,
        "display_label": label,
        "data_type": data_type,
        "json_type": json_type,
        "id": f"{org_prefix}{900000 + seq:012d}",
        "system_mandatory": False,
        "custom_field": False,
        "visible": True,
        "read_only": False,
        "field_read_only": False,
        "length": 120,
        "sequence_number": seq,
    }
    field.update(extra)
    return field


def _picklist(values: list[str]) -> list[dict[str, Any]]:
    return [
        {"display_value": v, "actual_value": v, "sequence_number": i, "type": "used"}
        for i, v in enumerate(values, start=1)
    ]


DEAL_STAGES: list[str] = [
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
]
PIPELINES: list[str] = ["Standard (Standard)"]


def fields_json(org_prefix: str, module: ModuleInfo) -> list[dict[str, Any]]:
    """A small, plausible ``settings/fields`` list the official SDK can parse.

    Deliberately free of lookup fields: the SDK follows lookups by fetching the looked-up
    module's fields too, which adds requests without teaching us anything.
    """
    name_field = "Deal_Name" if module.api_name == "Deals" else "Name"
    fields = [
        _field(org_prefix, 1, name_field, f"{module.singular_label} Name", "text", "string",
               system_mandatory=True),
        _field(org_prefix, 2, "Description", "Description", "textarea", "string", length=32000),
    ]
    if module.api_name == "Deals":
        fields += [
            _field(org_prefix, 3, "Closing_Date", "Closing Date", "date", "string",
                   system_mandatory=True),
            _field(org_prefix, 4, "Stage", "Stage", "picklist", "string", system_mandatory=True,
                   pick_list_values=_picklist(DEAL_STAGES)),
            _field(org_prefix, 5, "Pipeline", "Pipeline", "picklist", "string",
                   system_mandatory=True, pick_list_values=_picklist(PIPELINES)),
            _field(org_prefix, 6, "Amount", "Amount", "currency", "double", length=16),
        ]
    return fields
