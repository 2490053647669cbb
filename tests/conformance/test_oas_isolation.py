"""Isolation cost: what one bad id, or one bad request, costs in mass-convert submits.

When Zoho refuses a whole mass-convert call because of one id, its error names the id (the OAS:
``{"resource_path_index": N}``; the older form: ``{"id"}``/``{"json_path": "$.ids[N]"}``), so the
client drops that id and resubmits the rest: 2 submits, not a bisection. An error about the
request itself (a wrong target module id: AMBIGUITY_DURING_PROCESSING) stops the run at once,
with every id accounted for. Each case runs in both error-detail readings of the simulator, and
every body sent still fits the documented shapes.
"""

from __future__ import annotations

from typing import Any

import pytest
from fakes import deadline
from oas_shapes import Env, assert_conforms, running

from zoho_convert import InvalidRequestError, ModuleRef, PollPolicy
from zoho_convert.simulator import CrmState, SimulatorConfig

DETAILS = ["oas", "legacy"]
POLL = PollPolicy(initial=1.0, multiplier=2.0, max_interval=10.0, timeout=3600.0)
BAD_ID = "1234567890123"


def _submits(e: Env) -> int:
    """Mass-convert POSTs the simulator served; the recorder saw the same number."""
    served = e.sim.state.stats.requests_by_endpoint["mass_convert"]
    assert served == e.submits("Quotes")
    return served


# Each id-level refusal the simulator can make fail a whole call, with the config that makes it.
ID_REFUSALS: dict[str, dict[str, Any]] = {
    "ID_ALREADY_CONVERTED": {},
    "INVALID_DATA": {},
    "NOT_APPROVED": {"approval_errors": "fail_call"},
    "NOT_REVIEWED": {"approval_errors": "fail_call"},
    "NO_PERMISSION": {},
}
_ID_SETS = {
    "INVALID_DATA": "invalid_ids",
    "NOT_APPROVED": "not_approved_ids",
    "NOT_REVIEWED": "not_reviewed_ids",
    "NO_PERMISSION": "no_permission_ids",
}


@pytest.mark.parametrize("details", DETAILS)
@pytest.mark.parametrize("position", [0, 23, 49])
@pytest.mark.parametrize("code", ID_REFUSALS)
async def test_one_refused_id_in_a_batch_of_50_costs_at_most_2_submits(
    details: str, position: int, code: str
) -> None:
    """One already-converted (or invalid, not approved, not reviewed, not permitted) id among
    50 costs at most 2 submits; it alone is rejected with its code, the 49 others convert."""
    async with deadline(30):
        # Record ids are deterministic per seed: learn the 50 the simulator will create.
        ids = CrmState(SimulatorConfig(seed=9)).create_records("Quotes", 50)
        bad = ids[position]
        extra = dict(ID_REFUSALS[code])
        if code in _ID_SETS:
            extra[_ID_SETS[code]] = {bad}
        config = SimulatorConfig(seed=9, error_details=details, **extra)  # type: ignore[arg-type]
        async with running(config) as e:
            assert e.sim.state.create_records("Quotes", 50) == ids
            if code == "ID_ALREADY_CONVERTED":
                e.sim.state.convert_one("Quotes", int(bad))
            report = await e.client.convert_many("Quotes", ids, to="Sales_Orders", poll=POLL)
            assert _submits(e) <= 2
            assert [(r.id, r.code) for r in report.rejected] == [(bad, code)]
            assert report.converted == 49 and report.accounted_for
            ledger = {i: e.sim.state.conversions.get(("Quotes", i), 0) for i in ids}
            expected_bad = 1 if code == "ID_ALREADY_CONVERTED" else 0
            assert ledger.pop(bad) == expected_bad
            assert set(ledger.values()) == {1}
            assert_conforms(e.wire.requests, module_ids=e.module_ids())


@pytest.mark.parametrize("details", DETAILS)
async def test_an_invalid_id_unknown_to_the_org_costs_at_most_2_submits(details: str) -> None:
    """An id the org never had (INVALID_DATA) among 50 real ones: at most 2 submits."""
    async with deadline(30), running(
        SimulatorConfig(seed=4, error_details=details, invalid_ids={BAD_ID})  # type: ignore[arg-type]
    ) as e:
        ids = e.sim.state.create_records("Quotes", 49)
        report = await e.client.convert_many(
            "Quotes", [*ids[:30], BAD_ID, *ids[30:]], to="Sales_Orders", poll=POLL
        )
        assert _submits(e) <= 2
        assert [(r.id, r.code) for r in report.rejected] == [(BAD_ID, "INVALID_DATA")]
        assert report.converted == 49 and report.accounted_for
        assert_conforms(e.wire.requests, module_ids=e.module_ids())


@pytest.mark.parametrize("details", DETAILS)
async def test_a_wrong_target_module_id_stops_1000_ids_within_2_submits(details: str) -> None:
    """A target ModuleRef with another module's id (AMBIGUITY_DURING_PROCESSING) stops a run of
    1,000 ids after at most 2 submits; the partial report accounts for every id it read (none
    converted, each NOT_SUBMITTED or refused) and says the input was not read to its end."""
    async with deadline(30), running(
        SimulatorConfig(seed=6, error_details=details)  # type: ignore[arg-type]
    ) as e:
        ids = e.sim.state.create_records("Quotes", 1000)
        wrong = ModuleRef("Sales_Orders", e.module_id("Invoices"))
        with pytest.raises(InvalidRequestError) as caught:
            await e.client.convert_many("Quotes", ids, to=wrong, poll=POLL)
        error = caught.value
        assert error.code == "AMBIGUITY_DURING_PROCESSING"
        assert _submits(e) <= 2
        report = error.partial_report
        assert report is not None
        assert report.accounted_for and report.converted == 0 and not report.jobs
        rejected = {r.id: r.code for r in report.rejected}
        assert len(rejected) == len(report.rejected)  # no id twice
        read = set(rejected) | set(report.uncertain)
        assert len(read) == report.total
        # The run stopped reading: what it read is the input's head, the rest is flagged.
        assert read == set(ids[: report.total])
        assert report.total == 1000 or not report.input_complete
        assert "NOT_SUBMITTED" in rejected.values()
        assert set(rejected.values()) <= {"NOT_SUBMITTED", "AMBIGUITY_DURING_PROCESSING"}
        assert not e.sim.state.converted_ids("Quotes")
        assert_conforms(e.wire.requests, module_ids={})  # the wrong id is the test's own
