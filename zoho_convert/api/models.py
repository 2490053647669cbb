"""Immutable models of what zoho_convert sends and receives.

Models never parse JSON themselves: ``wire.py`` holds the one cattrs converter that does.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attrs

from zoho_convert.api.ids import normalize_id

__all__ = [
    "INVENTORY_CONVERSIONS",
    "CarryOverTags",
    "ConvertedRecord",
    "DealDetails",
    "JobState",
    "JobStatus",
    "LeadConversion",
    "LeadConversionResult",
    "ModuleRef",
    "check_inventory_conversion",
    "check_related_module",
]

# The conversions the mass and single inventory convert APIs allow: source -> targets.
INVENTORY_CONVERSIONS: Mapping[str, tuple[str, ...]] = {
    "Quotes": ("Sales_Orders", "Invoices"),
    "Sales_Orders": ("Invoices",),
}


def check_inventory_conversion(module: str, to: str) -> None:
    """Refuse a module pair Zoho cannot convert, before any request is sent.

    Raises:
        ValueError: ``module`` is not an inventory source or ``to`` is not one of its targets.
    """
    targets = INVENTORY_CONVERSIONS.get(module)
    if targets is None:
        sources = ", ".join(INVENTORY_CONVERSIONS)
        raise ValueError(f"{module!r} cannot be converted; the source must be one of: {sources}")
    if to not in targets:
        raise ValueError(
            f"{module} cannot be converted to {to!r}; valid targets: {', '.join(targets)}"
        )


class JobState(enum.Enum):
    """The state of a mass-convert job, as Zoho spells it on the wire."""

    SCHEDULED = "SCHEDULED"
    IN_PROGRESS = "IN PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"

    @classmethod
    def from_wire(cls, text: object) -> JobState | None:
        """Read a state as Zoho writes it, case-insensitively ("In Progress", "IN_PROGRESS"
        too); None for anything else."""
        if isinstance(text, str):
            return _STATES.get(text.strip().upper().replace("_", " "))
        return None

    @property
    def is_final(self) -> bool:
        """True for COMPLETED and FAILED: the job will not change again."""
        return self in (JobState.COMPLETED, JobState.FAILED)


_STATES = {state.value: state for state in JobState}


@attrs.frozen
class JobStatus:
    """A mass-convert job's progress, as Zoho reported it.

    Every count is optional, as in Zoho's specs and its SDK: a job that is still SCHEDULED may
    be reported without counts. A final status whose counts are missing or do not add up is
    kept as it was reported (``counts_consistent`` is False) rather than refused: the caller
    decides what to trust (``convert_many`` settles such a job's records by resubmission).

    Attributes:
        state: the job's state.
        total_count: records scheduled for conversion.
        converted_count: records converted.
        not_converted_count: records not (yet) converted.
        failed_count: records that failed to convert.
    """

    state: JobState
    total_count: int | None = None
    converted_count: int | None = None
    not_converted_count: int | None = None
    failed_count: int | None = None

    @property
    def is_final(self) -> bool:
        """True once the job is COMPLETED or FAILED."""
        return self.state.is_final

    def filled(self) -> JobStatus:
        """This status with its absent counts read as 0 when the total is given and the present
        counts already add up to it (Zoho's OpenAPI spec marks no count required, so a reply
        may leave out its zeros; an absent count read as 0 adds up only if it was 0)."""
        counts = (self.converted_count, self.not_converted_count, self.failed_count)
        if self.total_count is None or None not in counts:
            return self
        if sum(count or 0 for count in counts) != self.total_count:
            return self
        converted, not_converted, failed = (count or 0 for count in counts)
        return attrs.evolve(
            self,
            converted_count=converted,
            not_converted_count=not_converted,
            failed_count=failed,
        )

    @property
    def counts_consistent(self) -> bool:
        """Whether every count is present and converted + not converted + failed = total."""
        total = self.total_count
        converted = self.converted_count
        not_converted = self.not_converted_count
        failed = self.failed_count
        if total is None or converted is None or not_converted is None or failed is None:
            return False
        return converted + not_converted + failed == total


@attrs.frozen
class ModuleRef:
    """A CRM module named by its API name and its id (from the Modules API)."""

    api_name: str
    id: str


def check_related_module(ref: object) -> ModuleRef:
    """Check a ``related_modules`` item before anything is sent.

    Raises:
        TypeError: ``ref`` is not a ``ModuleRef``.
        ValueError: it has no API name or its id is not a valid id.
    """
    if not isinstance(ref, ModuleRef):
        raise TypeError(f"related_modules takes ModuleRef items, not {type(ref).__name__}")
    if not isinstance(ref.api_name, str) or not ref.api_name.strip():
        raise ValueError("related_modules: a ModuleRef needs a module api_name")
    normalize_id(ref.id, what="related module id")
    return ref


@attrs.frozen
class ConvertedRecord:
    """A record created (or linked) by a conversion.

    Attributes:
        module: the module the record lives in, e.g. ``Sales_Orders``.
        id: its record id.
        name: its display name, when Zoho sent one.
    """

    module: str
    id: str
    name: str | None = None


@attrs.frozen
class DealDetails:
    """The deal to create while converting a lead.

    ``deal_name``, ``closing_date`` (``YYYY-MM-DD``), ``stage`` and ``pipeline`` are mandatory in
    Zoho's layout; ``pipeline`` is the pipeline's name (``"Standard (Standard)"``) or Zoho's
    object form (``{"name": ..., "id": ...}``). ``extra`` carries any other Deals field by its
    API name. ``DealDetails.from_json`` reads Zoho's own ``Deals`` JSON object.
    """

    deal_name: str
    closing_date: str
    stage: str
    pipeline: str | Mapping[str, Any]
    amount: float | int | None = None
    contact_role: str | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict)

    @classmethod
    def from_json(cls, value: object) -> DealDetails:
        """Read a deal written as Zoho's ``Deals`` object (``Deal_Name``, ``Closing_Date``,
        ``Stage``, ``Pipeline``, ``Amount``, ``Contact_Role`` and any other field).

        Raises:
            ValueError: the object lacks a mandatory key or has a value of the wrong type; the
                message names the key.
        """
        if not isinstance(value, Mapping):
            raise ValueError(f"Deals: expected a JSON object, got {type(value).__name__}")
        deal = dict(value)
        pipeline = deal.pop("Pipeline", None)
        if isinstance(pipeline, Mapping):
            if not isinstance(pipeline.get("name"), str) and pipeline.get("id") is None:
                pipeline = None
        elif not isinstance(pipeline, str) or not pipeline:
            pipeline = None
        required = {"Deal_Name": "deal_name", "Closing_Date": "closing_date", "Stage": "stage"}
        missing = [key for key in required if not isinstance(deal.get(key), str)]
        if pipeline is None:
            missing.append("Pipeline")
        if missing:
            raise ValueError(f"Deals: missing mandatory key(s) {', '.join(missing)}")
        fields: dict[str, Any] = {attr: deal.pop(key) for key, attr in required.items()}
        amount = deal.pop("Amount", None)
        if amount is not None and (
            isinstance(amount, bool) or not isinstance(amount, (int, float))
        ):
            raise ValueError(f"Deals.Amount: expected a number, got {amount!r}")
        role = deal.pop("Contact_Role", None)
        if isinstance(role, Mapping):
            role = role.get("id")
        if role is not None and (isinstance(role, bool) or not isinstance(role, (str, int))):
            raise ValueError("Deals.Contact_Role: expected a contact role id")
        assert pipeline is not None
        return cls(
            **fields,
            pipeline=pipeline,
            amount=amount,
            contact_role=None if role is None else str(role),
            extra=deal,
        )


def deal_or_none(value: object) -> DealDetails | None:
    """Accept a ``DealDetails``, Zoho's ``Deals`` JSON object, or None (attrs converter)."""
    if value is None or isinstance(value, DealDetails):
        return value
    if isinstance(value, Mapping):
        return DealDetails.from_json(value)
    raise TypeError(
        f"deals must be a DealDetails (or Zoho's Deals JSON object), not {type(value).__name__}"
    )


@attrs.frozen
class CarryOverTags:
    """Tags of the lead to carry over to each created record, per module."""

    contacts: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    deals: tuple[str, ...] = ()


@attrs.frozen
class LeadConversion:
    """The options of a lead conversion (every input key of Zoho's Convert Lead API).

    Attributes:
        overwrite: overwrite the account name of an existing contact with the lead's company.
        notify_lead_owner: e-mail the lead owner about the conversion.
        notify_new_entity_owner: e-mail the owner of the new contact/account.
        move_attachments_to: API name of the module (Contacts, Accounts, Deals) that gets the
            lead's attachments.
        accounts: id of an existing account to associate instead of creating one.
        contacts: id of an existing contact to associate instead of creating one.
        assign_to: id of the user who will own the new contact and account.
        deals: a deal to create for the account.
        carry_over_tags: tags to carry over, per created module.
        add_to_existing_record: add the lead to the existing contact/account given in
            ``contacts``/``accounts`` (Zoho's OpenAPI v8 option).
    """

    overwrite: bool | None = None
    notify_lead_owner: bool | None = None
    notify_new_entity_owner: bool | None = None
    move_attachments_to: str | None = None
    accounts: str | None = None
    contacts: str | None = None
    assign_to: str | None = None
    deals: DealDetails | None = attrs.field(default=None, converter=deal_or_none)
    carry_over_tags: CarryOverTags | None = None
    add_to_existing_record: bool | None = None


@attrs.frozen
class LeadConversionResult:
    """What a lead conversion created or linked: a contact, usually an account, maybe a deal."""

    contacts: ConvertedRecord | None = None
    accounts: ConvertedRecord | None = None
    deals: ConvertedRecord | None = None
