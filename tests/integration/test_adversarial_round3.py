"""Adversarial round 3: record checks under faults, stuck jobs, unreadable refusals (issue 11).

Each case is judged report against the simulator's ledger, id by id
(``truth.assert_report_true``). The cases marked ``xfail(strict=True)`` reproduce a report that
is not true against the ledger, or uncertainty the run could have avoided, or a run stopped by
one batch's reply; each names the seed and configuration that show it, and its reason says
where it goes wrong and a possible fix. The passing cases pin combinations that hold: the
single convert itself faulted while it checks a settling job's failures, Leads with a deal,
an owner and attachments, a crash while records are checked. Client and simulator share a
virtual clock (``SummingTime``); after a run the clock moves far ahead, so every job, even one
the run lost track of, has finished before the ledger is read.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from fakes import deadline
from truth import Simulated, assert_report_true, client_of, ledger, simulator_with

from zoho_convert import (
    ConversionReport,
    DealDetails,
    PollPolicy,
    SettlePolicy,
)
from zoho_convert.bulk.events import BatchSplit, BatchSubmitted, Event
from zoho_convert.simulator import Faults, SimulatorConfig
from zoho_convert.simulator.state import CrmState

CASE_TIMEOUT = 60.0
POLL = PollPolicy(initial=0.5, multiplier=2.0, max_interval=5.0, timeout=3_000)
SUBMIT = {"Quotes": "mass_convert", "Sales_Orders": "mass_convert", "Leads": "lead_mass_convert"}
SINGLE = {"Quotes": "convert", "Sales_Orders": "convert", "Leads": "lead_convert"}
# Where each id set starts in the list: sets never share an id's first place.
OFFSET = {"locked_ids": 1, "not_approved_ids": 2, "no_permission_ids": 4}
DEAL = DealDetails("Deal", "2030-01-01", "Qualification", "Standard (Standard)")


Env = Simulated


Start = Callable[..., Awaitable[Env]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """A simulator holding ``count`` records of ``module`` (``every``: id set name -> every
    n-th id is in it), a client for it, one clock; config and ``Faults`` fields as kwargs."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(
            module: str,
            count: int,
            *,
            seed: int,
            faults: Faults,
            every: dict[str, int] | None = None,
            **config: Any,
        ) -> Env:
            def sets(ids: list[str]) -> dict[str, frozenset[str]]:
                return {n: frozenset(ids[OFFSET[n] :: step]) for n, step in (every or {}).items()}

            # (The same seed makes the same ids: the sets are picked before it is configured.)
            picked = sets(CrmState(SimulatorConfig(seed=seed)).create_records(module, count))
            sim, vt, ids = await simulator_with(
                stack, module, count, seed=seed, faults=faults, **picked, **config
            )
            return Env(sim, await client_of(stack, sim, vt), vt, ids)

        yield make


async def convert(env: Env, module: str, **options: Any) -> ConversionReport:
    """``convert_many`` every record of ``env`` (``POLL`` unless ``poll`` is given), then move
    the clock far ahead (every job, lost or not, has then finished: the ledger is final)."""
    if module != "Leads":
        options.setdefault("to", "Sales_Orders")
    options.setdefault("poll", POLL)
    async with deadline(CASE_TIMEOUT):
        report = await env.client.convert_many(module, env.ids, **options)
    env.time.now += 10_000
    return report


def lost(
    module: str, *, singles: bool = False, kind: str = "rate_500", rate: float = 0.2, **more: Any
) -> Faults:
    """Submits (and, ``singles``, single converts) processed, then their reply lost: a 500,
    a dropped connection or a corrupt body, as ``kind`` says."""
    endpoints = {SUBMIT[module], SINGLE[module]} if singles else {SUBMIT[module]}
    return Faults(**{kind: rate}, fault_endpoints=endpoints, fault_after_processing=True, **more)


def true_to_ledger(env: Env, module: str, report: ConversionReport) -> None:
    """The report is true against the ledger, id by id."""
    assert_report_true(report, ledger(env.sim, module, env.ids))


# -- findings (xfail strict) ------------------------------------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason=(
        "machine.RunMachine._refusal reads every ID_ALREADY_CONVERTED of a settling "
        "resubmission (and of a record's single convert) as converted by the run's lost "
        "submission; but Zoho (the simulator's default reserve_ids) refuses so the ids of a "
        "job still running too, and a lost job that never ends (stuck IN PROGRESS) holds its "
        "50 ids forever without converting them: all 50 reported already converted, ok, "
        "ledger 0. The replies cannot tell the two apart: report such ids uncertain unless "
        "the lost job surely ended (e.g. once any job of the run is seen to outlast the "
        "settle wait, or always for a refusal met while jobs of unknown fate exist), or "
        "document it as a limit beside README Guarantees 2's statistical margin"
    ),
)
async def test_ids_held_by_a_lost_job_that_never_ends_are_not_reported_converted(
    start: Start,
) -> None:
    """Submit replies lost to 500s (20 %) and jobs that never end (10 %): the ids of a lost
    job stuck in progress are refused as converted when settled, but were never converted:
    they are not reported converted by the run (50 were, ledger 0)."""
    env = await start("Quotes", 300, seed=1, faults=lost("Quotes", never_finish_rate=0.1))
    report = await convert(env, "Quotes")
    true_to_ledger(env, "Quotes", report)


async def test_a_job_stuck_on_an_unknown_state_does_not_leave_other_batches_uncertain(
    start: Start,
) -> None:
    """Submit replies lost to 500s (25 %), final statuses with an unknown state (15 %),
    settling by mass resubmission, default poll policy: batches parked while the stuck job runs
    still get their settling rounds, and none is left uncertain (100 were before the fix).
    (Seed 20 showed it first, 6 uncertain; since a lost job may wait behind a queue, that
    seed's timing draws four lost replies in a row for one single-id part, whose rounds run
    out: uncertain by design. Over seeds 1 to 60, 7 of 18,000 ids end so, 24 before.)"""
    env = await start(
        "Quotes",
        300,
        seed=23,
        faults=lost("Quotes", rate=0.25, malformed_final_rate=0.15, malformed_final_kind="state"),
    )
    report = await convert(
        env,
        "Quotes",
        batch_size=20,
        poll=PollPolicy(),
        settle=SettlePolicy(record_by_record=False),
    )
    true_to_ledger(env, "Quotes", report)
    assert report.unfinished_jobs, "no job was stuck on an unknown state"
    assert not report.uncertain


async def test_a_job_id_of_a_lost_submission_answered_to_another_batch_is_not_trusted(
    start: Start,
) -> None:
    """Submit replies lost to 500s (20 %) and duplicate job ids (20 %), locked records failed
    in jobs: a batch answered with the job id of a submission whose own reply was lost is not
    judged by that job's counts (ledger 47, report 46 today)."""
    env = await start(
        "Quotes",
        300,
        seed=24,
        faults=lost(
            "Quotes",
            singles=True,
            duplicate_job_id_rate=0.2,
            forget_job_rate=0.1,
            malformed_final_rate=0.1,
            malformed_final_kind="counts",
        ),
        every={"locked_ids": 13},
        already_converted="fail_in_job",
    )
    report = await convert(env, "Quotes")
    true_to_ledger(env, "Quotes", report)


async def test_one_unreadable_permission_refusal_does_not_stop_the_run(start: Start) -> None:
    """Records without permission (1 in 29) and submit replies corrupted (15 %): a 403
    refusing one id whose body cannot be read, after submissions were accepted, concerns its
    batch: the run goes on and leaves nothing uncertain (it stopped, 96 ids uncertain)."""
    env = await start(
        "Quotes",
        300,
        seed=11,
        faults=lost("Quotes", kind="corrupt_rate", rate=0.15),
        every={"no_permission_ids": 29},
    )
    report = await convert(env, "Quotes")
    true_to_ledger(env, "Quotes", report)
    assert not report.uncertain


# -- combinations that hold --------------------------------------------------------------------

FAULTED_CHECKS = {
    "quotes-500": ("Quotes", "rate_500", {}),
    "quotes-drop": ("Quotes", "drop_rate", {}),
    "quotes-corrupt": ("Quotes", "corrupt_rate", {}),
    "leads-500-one-at-a-time": ("Leads", "rate_500", {"lead_convert_concurrency": 1}),
    "leads-drop": ("Leads", "drop_rate", {}),
    "leads-corrupt": ("Leads", "corrupt_rate", {}),
}


@pytest.mark.parametrize("case", sorted(FAULTED_CHECKS))
async def test_single_converts_whose_replies_are_lost_check_a_settling_job_truly(
    start: Start, case: str
) -> None:
    """Replies of submits and of the single converts checking a settling job's failures lost
    after processing (20 %), locked records failed in jobs: true to the ledger, none uncertain."""
    module, kind, config = FAULTED_CHECKS[case]
    env = await start(
        module,
        300,
        seed=3,
        faults=lost(module, singles=True, kind=kind, failed_job_rate=0.2),
        every={"locked_ids": 20},
        already_converted="fail_in_job",
        **config,
    )
    report = await convert(env, module)
    true_to_ledger(env, module, report)
    assert report.already_converted and not report.uncertain


async def test_leads_with_a_deal_an_owner_and_attachments_settle_truly(start: Start) -> None:
    """Leads with a deal, an owner and attachments moved, Convert Lead limited to 2 at once,
    lost replies on both converts, FAILED jobs, locked and not approved leads: true to the
    ledger, none uncertain."""
    env = await start(
        "Leads",
        200,
        seed=5,
        faults=lost("Leads", singles=True, failed_job_rate=0.2),
        every={"locked_ids": 13, "not_approved_ids": 17},
        already_converted="fail_in_job",
        lead_convert_concurrency=2,
    )
    report = await convert(
        env, "Leads", deals=DEAL, assign_to="111", move_attachments_to="Contacts"
    )
    true_to_ledger(env, "Leads", report)
    assert {item.code for item in report.rejected} >= {"RECORD_LOCKED", "NOT_APPROVED"}
    assert not report.uncertain


async def test_sales_orders_to_invoices_with_tags_under_lost_checks(start: Start) -> None:
    """Sales_Orders to Invoices carrying tags, replies of submits and single converts lost to
    500s or corrupted, FAILED jobs, locked records failed in jobs: true to the ledger."""
    env = await start(
        "Sales_Orders",
        200,
        seed=4,
        faults=Faults(
            rate_500=0.2,
            corrupt_rate=0.1,
            fault_endpoints={"mass_convert", "convert"},
            fault_after_processing=True,
            failed_job_rate=0.2,
        ),
        every={"locked_ids": 13},
        already_converted="fail_in_job",
    )
    report = await convert(env, "Sales_Orders", to="Invoices", carry_over_tags=True)
    true_to_ledger(env, "Sales_Orders", report)
    assert not report.uncertain


@pytest.mark.parametrize("module", ["Quotes", "Leads"])
async def test_a_crash_while_records_are_checked_resumes_truly(
    start: Start, tmp_path: Path, module: str
) -> None:
    """Lost replies on submits and single converts (20 %), locked records failed in jobs; the
    run is cancelled as it starts checking a settling job's records one by one, and resumed:
    the final report is true to the ledger, none uncertain."""
    env = await start(
        module,
        300,
        seed=2,
        faults=lost(module, singles=True),
        every={"locked_ids": 19},
        already_converted="fail_in_job",
    )
    journal = str(tmp_path / "run.journal")
    options: dict[str, Any] = {} if module == "Leads" else {"to": "Sales_Orders"}

    settling_jobs: set[int] = set()  # (a job whose batch may be another's is checked too)

    def crash_on_checks(event: Event) -> None:
        if isinstance(event, BatchSubmitted) and event.settling:
            settling_jobs.add(event.batch)
        if isinstance(event, BatchSplit) and event.batch in settling_jobs and not first.done():
            asyncio.get_running_loop().call_soon(first.cancel)

    async with deadline(CASE_TIMEOUT):
        first = asyncio.ensure_future(
            env.client.convert_many(
                module, env.ids, poll=POLL, journal=journal, progress=crash_on_checks, **options
            )
        )
        await asyncio.wait({first})
        assert first.cancelled(), "the run never checked records one by one"
        report = await env.client.resume(journal, ids=env.ids, poll=POLL)
    env.time.now += 10_000
    true_to_ledger(env, module, report)
    assert report.input_complete and not report.uncertain
