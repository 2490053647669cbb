"""Hunt round 11's findings, unit by unit (``tests/integration/test_hunt_round11.py`` has the
runs): a single convert's NO_PERMISSION is the call's refusal, never its record's, even when
it names the record; a status reply of no row is a job Zoho no longer knows."""

from __future__ import annotations

from typing import Any

import pytest

from zoho_convert import (
    JobNotFoundError,
    PermissionDeniedError,
    ResponseValidationError,
    StaticToken,
    ZohoConvertClient,
)
from zoho_convert.bulk.events import BatchRead, IdsRejected, SubmitStarted
from zoho_convert.bulk.isolation import about_the_call
from zoho_convert.bulk.machine import RunMachine
from zoho_convert.bulk.settling import SettlePolicy

NAMING = {"resource_path_index": 0}


@pytest.mark.parametrize("details", [{}, NAMING, {"id": "101"}])
def test_a_single_converts_no_permission_is_about_the_call(details: dict[str, Any]) -> None:
    """Whatever its details, a NO_PERMISSION of a single convert says nothing of its record's
    fate: ``refused`` gives it to the run (None), which stops using the single call; a mass
    convert's naming an id is still that id's refusal."""
    error = PermissionDeniedError(403, "NO_PERMISSION", "permission denied", details)
    assert about_the_call(error, ("101",))
    machine = RunMachine(SettlePolicy())
    machine(BatchRead(0, ("101", "102"), 1, 2, 0))
    machine(SubmitStarted(0))
    assert machine.refused(0, ("101",), error, settling=True, at=1.0, single=True) is None
    if details:
        verdict = machine.refused(0, ("101", "102"), error, settling=False, at=1.0)
        assert verdict is not None
        rejected = [r.id for e in verdict[0] if isinstance(e, IdsRejected) for r in e.rejected]
        assert rejected == ["101"]


def test_record_refusals_of_a_single_convert_are_still_the_records() -> None:
    """A refusal naming the record for a reason of its own (RECORD_LOCKED, NOT_APPROVED) is
    not about the call."""
    for code in ("RECORD_LOCKED", "NOT_APPROVED", "ID_ALREADY_CONVERTED"):
        error = PermissionDeniedError(400, code, "refused", NAMING)
        assert not about_the_call(error, ("101",))


class _Replying(ZohoConvertClient):
    """A client whose requests all get one reply (no HTTP)."""

    reply: Any = None

    async def _request(self, *args: Any, **kwargs: Any) -> Any:
        return self.reply


@pytest.mark.parametrize(
    ("reply", "raised"),
    [({"data": []}, JobNotFoundError), ({}, ResponseValidationError)],
)
async def test_a_status_of_no_row_is_a_job_zoho_no_longer_knows(
    reply: Any, raised: type[Exception]
) -> None:
    """``{"data": []}`` (no row: Zoho's "nothing found") is a forgotten job, as a 204 is;
    ``{}`` says nothing: unusable, polled again."""
    client = _Replying(StaticToken("t"), api_domain="https://www.zohoapis.com")
    client.reply = reply
    try:
        with pytest.raises(raised):
            await client.job_status("Quotes", "7340011000000500013")
    finally:
        await client.close()
