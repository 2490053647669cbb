"""Hunt round 10: every fault family of the earlier hunts drawn at once (``hunt_round10_sweep``).

The combined sweep draws, per seed, either the independent server (``alt_server``) with round
8's and round 9's faults together over Quotes -> Sales_Orders / Invoices, Sales_Orders ->
Invoices and Leads, or the package simulator with the Leads/Invoices sweep's faults (lost
submit replies processed then 500, forgotten jobs, duplicate job ids, malformed final statuses
with CANCELLED states, refuse or in-job already-converted, 429s, token expiry, jittered job
durations) over the same paths; either journaled, cancelled at a drawn progress event and
resumed, or not. Each report is judged id by id against the server's ledger.

What it found that is not a README known limit:

- A batch answered while another submission was in flight, whose reply was then lost, was
  taken as its own job's, though Zoho may have given it the lost job's id (seed 14322:
  Leads, journaled; 31 of 139 stop points before the fix, 0 after): another batch's counts
  were reported for it. Fixed (``RunMachine``: such a batch is suspect); reduced below.
- A lost job that outlasts the settling wait and then ends FAILED: the wait is the longest
  job measured plus a margin, and with jittered durations a lost job can take longer; the
  settling check (a record's single convert, or a resubmission) is then refused as already
  converted by a server that refuses records a running job holds so, and the job converts
  nothing after all: the report said ``already_converted`` for records no one converted.
  Fixed (``second_look``: ids found converted by a settling look are looked at once more,
  a lost job's wait later); reduced below.

Each test runs over HTTP on 127.0.0.1 on a virtual clock (no real sleeps).
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from fakes import deadline
from hunt_round10_sweep import run_alt, run_sim
from truth import assert_report_true, client_of, ledger, simulator_with

from zoho_convert import PollPolicy
from zoho_convert.simulator import Faults, SimulatorConfig
from zoho_convert.simulator.state import CrmState

POLL = PollPolicy(initial=0.5, multiplier=2.0, max_interval=5.0, timeout=3_000)


@pytest.mark.parametrize("mode", ["fail_call", "fail_in_job"])
async def test_a_lost_job_that_outlasts_its_wait_then_fails_converts_nothing(mode: str) -> None:
    """Reduced from the sweep's seeds 772 and 1786 (simulator, Invoices and Leads): 20 Quotes in
    batches of 5, a third of the submits processed then answered 500, half the jobs FAILED,
    jobs of 1 s +- 0.5 s. At seed 50 a lost job outlasts the wait measured from a shorter job;
    its record's settling single convert is refused ID_ALREADY_CONVERTED while the job holds
    it, then the job fails: the report must not say converted what the ledger lacks. (Fixed:
    such a refusal is looked at again a lost job's wait later, ``second_look``: the records
    are converted then, by this run.)"""
    async with contextlib.AsyncExitStack() as stack:
        faults = Faults(
            rate_500=0.3,
            fault_after_processing=True,
            fault_endpoints={"mass_convert"},
            failed_job_rate=0.5,
        )
        sim, time, ids = await simulator_with(
            stack, "Quotes", 20, seed=50, faults=faults, job_duration=1.0,
            job_duration_jitter=0.5, already_converted=mode,
        )
        client = await client_of(stack, sim, time)
        async with deadline(20.0):
            report = await client.convert_many(
                "Quotes", ids, to="Sales_Orders", batch_size=5, poll=POLL
            )
        time.now += 100_000
        assert_report_true(report, ledger(sim, "Quotes", ids))


@pytest.mark.parametrize("module", ["Quotes", "Leads"])
async def test_a_batch_answered_while_a_lost_submission_was_in_flight_is_suspect(
    module: str,
) -> None:
    """Reduced from the sweep's seed 14322 (Leads, journaled): batches sent together, some of
    their replies lost after Zoho processed them, and Zoho answering a tenth of the submits
    with the latest earlier job's id. A batch answered while a submission whose reply is then
    lost was still in flight may hold that lost job's id: before, it was taken as its own
    (only batches answered after the loss was known were suspect), and its job's counts,
    another batch's, were reported: at seed 113, a job of 8 conversions reported 9. Now such
    a batch is suspect: its job, not converting every record, is checked record by record
    (or its ids left uncertain where no single convert can check them: ``carry_over_tags``
    on Leads)."""
    async with contextlib.AsyncExitStack() as stack:
        count, seed = 70, 113
        faults = Faults(
            drop_rate=0.3,
            fault_after_processing=True,
            fault_endpoints={"mass_convert", "lead_mass_convert"},
            duplicate_job_id_rate=0.3,
        )
        known = CrmState(SimulatorConfig(seed=seed)).create_records(module, count)
        sim, time, ids = await simulator_with(
            stack, module, count, seed=seed, faults=faults, job_duration=5.0,
            job_duration_jitter=1.5, already_converted="fail_in_job",
            not_approved_ids=frozenset(known[5::9]),  # (failed in their jobs)
        )
        client = await client_of(stack, sim, time)
        options: dict[str, Any] = {"to": "Sales_Orders"} if module == "Quotes" else {}
        async with deadline(20.0):
            report = await client.convert_many(
                module, ids, batch_size=10, poll=POLL, carry_over_tags=True, **options
            )
        time.now += 100_000
        assert_report_true(report, ledger(sim, module, ids))


#: Seeds of the combined sweep, one of each kind: (family, seed, what it draws).
SEEDS: list[tuple[str, int, str]] = [
    ("alt", 7, "Quotes -> Invoices, journaled, cancelled and resumed; lost job longer than "
               "unknown_wait"),
    ("alt", 49, "a proxy's 400 page to the first mass convert: stopped, partial report true"),
    ("alt", 177, "the same, journaled"),
    ("alt", 2197, "the token endpoint's pages until the retries are spent"),
    ("sim", 31, "Quotes -> Sales_Orders, lost submits, CANCELLED finals, journaled"),
    ("sim", 63, "Sales_Orders -> Invoices, lost submits, CANCELLED finals, journaled"),
    ("sim", 123, "Quotes -> Invoices, lost submits, CANCELLED finals, journaled"),
    ("sim", 157, "Leads, lost submits, CANCELLED finals, journaled"),
]


@pytest.mark.parametrize(("family", "seed", "what"), SEEDS, ids=[f"{f}-{s}" for f, s, _ in SEEDS])
async def test_combined_sweep_seed_reports_true(family: str, seed: int, what: Any) -> None:
    """Seeds of the sweep (see ``SEEDS``): the report, or the partial report of a run stopped
    by design, is true to the ledger; the run ends. (Seeds whose failure is a known limit
    are not here.)"""
    found = await (run_alt(seed) if family == "alt" else run_sim(seed))
    assert found == "", found
