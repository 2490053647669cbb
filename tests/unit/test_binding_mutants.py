"""What ``bind`` makes a Leads run's submit send (``bulk/binding.py``'s mutants): every
option of the run reaches the mass convert, and carried tags go to the modules named."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from fake_convert_api import FakeAPI

from zoho_convert.api.models import DealDetails, ModuleRef
from zoho_convert.bulk.binding import bind
from zoho_convert.bulk.spec import RunParams

DEAL = DealDetails("Renewal", "2026-12-31", "Qualification", "Standard")
CALLS = (ModuleRef("Calls", "2423488000000017015"),)
OWNER = "2423488000000483001"


class LeadsAPI(FakeAPI):
    """The fake client, noting every argument of each mass lead conversion."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[dict[str, Any]] = []

    async def mass_convert_leads(self, ids: Iterable[str | int], **options: Any) -> str:
        self.sent.append({"ids": list(ids), **options})
        return "4000"


async def submitted(run: RunParams) -> dict[str, Any]:
    """What a Leads run of ``run`` sends for one batch of two ids."""
    api = LeadsAPI()
    assert await bind(api, run).submit(["11", "12"]) == "4000"
    (call,) = api.sent
    return call


async def test_a_leads_submit_carries_every_option_of_the_run() -> None:
    """The deal, owner, related modules and attachments' module of a Leads run all reach the
    mass convert, with the batch's ids."""
    run = RunParams(
        "Leads", None, assign_to=OWNER, related_modules=CALLS, deals=DEAL,
        move_attachments_to="Contacts",
    )
    assert await submitted(run) == {
        "ids": ["11", "12"],
        "deals": DEAL,
        "assign_to": OWNER,
        "carry_over_tags": (),
        "related_modules": CALLS,
        "move_attachments_to": "Contacts",
    }


@pytest.mark.parametrize(
    ("tags", "deals", "sent"),
    [
        (("Contacts",), DEAL, ("Contacts",)),
        (("Deals", "Accounts"), None, ("Deals", "Accounts")),
        (True, None, ("Contacts", "Accounts")),
        (True, DEAL, ("Contacts", "Accounts", "Deals")),
        (False, DEAL, ()),
    ],
    ids=["named-one", "named-two", "all-no-deal", "all-with-deal", "none"],
)
async def test_a_leads_run_carries_tags_to_the_modules_it_names(
    tags: bool | tuple[str, ...], deals: DealDetails | None, sent: tuple[str, ...]
) -> None:
    """Tags named as modules go to exactly those; True means Contacts and Accounts, and Deals
    too when the run creates deals; False, none."""
    call = await submitted(RunParams("Leads", None, carry_over_tags=tags, deals=deals))
    assert call["carry_over_tags"] == sent
