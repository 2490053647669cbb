"""``RunParams``: what a run converts and how, as its journal keeps it for ``resume``.

Serialised by the one converter (``zoho_convert.api.wire``); the bulk layer registers here the
hooks its types need (unions cattrs cannot guess).
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from zoho_convert.api.ids import MAX_IDS_PER_CALL
from zoho_convert.api.models import DealDetails, ModuleRef
from zoho_convert.api.wire import converter

__all__ = ["RunParams"]


@attrs.frozen
class RunParams:
    """What a run converts and how: everything ``resume`` needs to continue it.

    Attributes:
        module: the source module (``Quotes``, ``Sales_Orders`` or ``Leads``).
        to: the target module with its id (None for Leads).
        carry_over_tags: inventory: carry tags over; Leads: the modules that get the tags.
        assign_to: the user id to own the new records.
        related_modules: related lists to convert along.
        batch_size: ids per mass-convert call.
        deals: Leads only: the deal to create for each lead.
        move_attachments_to: Leads only: the module that gets the attachments.
        claims_holder: the name this run's claims in a fleet's ledger are made under (random
            per run; the journal keeps it, so that a resumed run takes back its own claims,
            those of a session that crashed included). Empty in journals written before it:
            their claims are the process's.
        api_domain: where the run's requests went (the client's API domain, once its token
            reply named it; any ``user:password@`` as ``***@``): ``resume`` refuses a client
            pointed elsewhere (another data center or server, whose job ids and records are
            not this run's). Empty in journals written before it, and for a client that does
            not say: not checked.
    """

    module: str
    to: ModuleRef | None
    carry_over_tags: bool | tuple[str, ...] = False
    assign_to: str | None = None
    related_modules: tuple[ModuleRef, ...] = ()
    batch_size: int = MAX_IDS_PER_CALL
    deals: DealDetails | None = None
    move_attachments_to: str | None = None
    claims_holder: str = ""
    api_domain: str = ""

    def to_json(self) -> str:
        """The parameters as JSON (no secret is part of them)."""
        return json.dumps(converter.unstructure(self))

    @classmethod
    def from_json(cls, text: str) -> RunParams:
        """Read parameters written by ``to_json``."""
        return converter.structure(json.loads(text), cls)


def _tags(value: Any, _: type) -> bool | tuple[str, ...]:
    return value if isinstance(value, bool) else tuple(str(name) for name in value)


def _deal(value: Any, _: type) -> DealDetails:
    return DealDetails(**value)


converter.register_structure_hook(bool | tuple[str, ...], _tags)
converter.register_structure_hook(DealDetails, _deal)
