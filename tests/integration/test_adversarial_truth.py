"""Adversarial combinations of faults, each judged report against ledger, id by id (issue 11).

The cases marked ``xfail(strict=True)`` reproduce a report that is not true against the
simulator's ledger (or a record converted twice, or a journal left unusable): each names the
seed and configuration that shows it, and its reason says what goes wrong. The passing cases
pin combinations that hold, where a regression would be easy to make. Client and simulator
share a virtual clock (``SummingTime``); after a run the clock moves far ahead, so every job,
even one the run lost track of, has finished before the ledger is read.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from fakes import deadline
from truth import Simulated, assert_report_true, client_of, ledger, simulator_with

from zoho_convert import (
    AuthenticationError,
    ConversionReport,
    PollPolicy,
    SettlePolicy,
)
from zoho_convert.bulk.events import Event, RunStopped
from zoho_convert.simulator import Faults

CASE_TIMEOUT = 60.0
POLL = PollPolicy(initial=0.5, multiplier=2.0, max_interval=5.0, timeout=3_000)
SUBMIT = {"Quotes": "mass_convert", "Leads": "lead_mass_convert"}
SINGLE = {"Quotes": "convert", "Leads": "lead_convert"}


Env = Simulated


Start = Callable[..., Awaitable[Env]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """A simulator holding ``count`` records of ``module`` (``locked_every``: every n-th is
    locked), a client for it, one clock; config and ``Faults`` fields as kwargs."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(
            module: str,
            count: int,
            *,
            seed: int,
            faults: Faults,
            locked_every: int = 0,
            **config: Any,
        ) -> Env:
            locked = (lambda ids: ids[1::locked_every]) if locked_every else None
            sim, vt, ids = await simulator_with(
                stack, module, count, seed=seed, faults=faults, locked=locked, **config
            )
            return Env(sim, await client_of(stack, sim, vt), vt, ids)

        yield make


async def convert(env: Env, module: str, **options: Any) -> ConversionReport:
    """``convert_many`` every record of ``env``, then move the clock far ahead (every job,
    lost or not, has then finished: the ledger is final)."""
    if module != "Leads":
        options.setdefault("to", "Sales_Orders")
    async with deadline(CASE_TIMEOUT):
        report = await env.client.convert_many(module, env.ids, poll=POLL, **options)
    env.time.now += 10_000
    return report


def lost_submits(module: str, rate: float = 0.2, **more: Any) -> Faults:
    """Submits processed, then answered 500 (the job runs; its id never reaches the client)."""
    return Faults(
        rate_500=rate, fault_endpoints={SUBMIT[module]}, fault_after_processing=True, **more
    )


# Ways a run has no single convert to check a settling job's failures with.
NO_CHECK: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    # Convert Inventory Record carries no owner: the run cannot use it.
    "quotes-assign-to": ("Quotes", {"assign_to": "111"}, {}),
    "quotes-record-by-record-off": (
        "Quotes", {"settle": SettlePolicy(record_by_record=False)}, {}
    ),
    # Convert Lead names the tags to carry, the mass convert the modules: not used.
    "leads-carry-over-tags": ("Leads", {"carry_over_tags": True}, {}),
    # A token with the mass-convert scopes only: Zoho refuses the single call itself.
    "quotes-single-convert-out-of-scope": (
        "Quotes", {}, {"scope_mismatch_endpoints": {"convert"}}
    ),
    "leads-convert-lead-out-of-scope": (
        "Leads", {}, {"scope_mismatch_endpoints": {"lead_convert"}}
    ),
}


@pytest.mark.parametrize("case", sorted(NO_CHECK))
async def test_a_locked_record_in_a_settling_job_is_never_counted_converted(
    start: Start, case: str
) -> None:
    """Lost submit replies (20 %) and locked records (1 in 20) failed inside jobs, in a run
    with no single convert to check a settling job's failures: which of them the lost
    submission converted cannot be told, so they are uncertain, never counted converted (a
    locked record was: ledger 47, report 50)."""
    module, options, config = NO_CHECK[case]
    env = await start(
        module,
        300,
        seed=1,
        faults=lost_submits(module),
        locked_every=20,
        already_converted="fail_in_job",
        **config,
    )
    report = await convert(env, module, **options)
    assert_report_true(report, ledger(env.sim, module, env.ids))
    assert set(env.ids[1::20]) & set(report.uncertain), "no settling job held a locked record"
    assert not any(job.settling and not job.fully_converted for job in report.jobs)


@pytest.mark.parametrize("case", sorted(NO_CHECK))
async def test_a_settling_job_that_ends_failed_is_never_counted_converted(
    start: Start, case: str
) -> None:
    """Lost submit replies (30 %) and jobs that end FAILED (50 %), with no single convert to
    check a settling job's failures: a FAILED settling job whose lost predecessor FAILED too
    converted nothing, and is not reported converted (it was: ledger 0, report 50 or 1): its
    ids are uncertain."""
    module, options, config = NO_CHECK[case]
    env = await start(
        module, 300, seed=2, faults=lost_submits(module, 0.3, failed_job_rate=0.5), **config
    )
    report = await convert(env, module, **options)
    assert_report_true(report, ledger(env.sim, module, env.ids))
    assert report.uncertain
    assert not any(job.settling and not job.fully_converted for job in report.jobs)


async def test_a_run_cancelled_while_its_journal_closes_can_be_resumed_in_process(
    start: Start, tmp_path: Path
) -> None:
    """A run cancelled at its very end (while it closes its journal: a caller's timeout
    expiring then) releases the journal's lock: the same process can resume it."""
    env = await start("Quotes", 100, seed=3, faults=Faults())
    journal = str(tmp_path / "run.journal")

    def cancel_at_the_end(event: Event) -> None:
        if isinstance(event, RunStopped):
            asyncio.get_running_loop().call_soon(task.cancel)

    async with deadline(CASE_TIMEOUT):
        task = asyncio.ensure_future(
            env.client.convert_many(
                "Quotes", env.ids, to="Sales_Orders", poll=POLL, journal=journal,
                progress=cancel_at_the_end,
            )
        )
        await asyncio.wait({task})
        assert task.cancelled()
        report = await env.client.resume(journal, poll=POLL)
    env.time.now += 10_000
    assert_report_true(report, ledger(env.sim, "Quotes", env.ids))
    assert report.ok


async def test_jobs_of_widely_varied_length_never_convert_a_record_twice(start: Start) -> None:
    """Lost submit replies (15 %), jobs of 0.2 to 3.8 s converting only when they end, ids of a
    running job not reserved: no record is converted twice (a batch was, when a lost job's
    margin trusted the spread of a handful of durations)."""
    env = await start(
        "Quotes",
        300,
        seed=40,
        faults=lost_submits("Quotes", 0.15),
        job_duration_jitter=1.8,
        reserve_ids=False,
    )
    report = await convert(env, "Quotes")
    assert_report_true(report, ledger(env.sim, "Quotes", env.ids))


@pytest.mark.xfail(
    strict=True,
    reason=(
        "machine.RunMachine._refusal reads every ID_ALREADY_CONVERTED of a settling "
        "resubmission (mass or single) as converted by the run's lost submission "
        "(IdsAlreadyConverted); a record converted before the run, in a batch whose lost "
        "submission was refused whole, is then reported converted by the run, although its "
        "siblings converting fresh on settling show that submission converted nothing"
    ),
)
async def test_a_record_converted_before_the_run_is_not_claimed_by_a_lost_submission(
    start: Start,
) -> None:
    """Default settings, a list holding records converted before the run (1 in 13) and
    submit replies lost to 500s (20 %): a record converted before the run is reported
    rejected as already converted, never as converted by the run's own lost submission."""
    env = await start("Quotes", 100, seed=2, faults=lost_submits("Quotes"))
    before = env.ids[7::13]
    for value in before:
        env.sim.state.convert_one("Quotes", int(value))
    report = await convert(env, "Quotes")
    assert_report_true(report, ledger(env.sim, "Quotes", env.ids), preconverted=before)


async def test_a_job_id_the_run_never_held_but_another_batch_owns_is_not_trusted(
    start: Start,
) -> None:
    """Duplicate job ids (15 %) with locked records (1 in 19) failed inside jobs: a reply
    carrying the job id of a batch whose own reply was a duplicate (so the run never held
    that id) is not read as this batch's job (ledger 47, report 48 today)."""
    env = await start(
        "Quotes",
        300,
        seed=23,
        faults=Faults(duplicate_job_id_rate=0.15),
        locked_every=19,
        already_converted="fail_in_job",
    )
    report = await convert(env, "Quotes")
    assert_report_true(report, ledger(env.sim, "Quotes", env.ids))


async def test_one_unreadable_refusal_does_not_stop_the_run(start: Start) -> None:
    """Submit replies corrupted after processing (10 %): a refusal whose body cannot be read
    (a 400 without Zoho's error body) concerns one batch, not the run: the run goes on and
    leaves no id uncertain (it stopped with InvalidRequestError, 3 ids uncertain)."""
    env = await start(
        "Quotes",
        300,
        seed=1,
        faults=Faults(
            corrupt_rate=0.1, fault_endpoints={"mass_convert"}, fault_after_processing=True
        ),
    )
    report = await convert(env, "Quotes")
    assert_report_true(report, ledger(env.sim, "Quotes", env.ids))
    assert not report.uncertain


async def test_a_run_stopped_mid_way_under_lost_replies_reports_truly(start: Start) -> None:
    """Submit replies lost to 500s (20 %), then the token loses the scope of both converting
    calls mid-run: the run stops, and its partial report is true against the ledger (parked ids
    uncertain, running jobs unfinished, none claimed converted)."""
    env = await start("Quotes", 300, seed=3, faults=lost_submits("Quotes"))
    seen = 0

    def revoke_scope(event: Event) -> None:
        nonlocal seen
        seen += 1
        if seen == 40:
            env.sim.state.config = attrs.evolve(
                env.sim.state.config, scope_mismatch_endpoints={"mass_convert", "convert"}
            )

    with pytest.raises(AuthenticationError) as stopped:
        await convert(env, "Quotes", progress=revoke_scope)
    env.time.now += 10_000
    report = stopped.value.partial_report
    assert isinstance(report, ConversionReport)
    assert report.uncertain or report.unfinished or report.rejected
    assert_report_true(report, ledger(env.sim, "Quotes", env.ids))


async def test_repeated_crashes_and_resumes_under_lost_replies_and_failed_jobs(
    start: Start, tmp_path: Path
) -> None:
    """Lost submit replies (20 %), jobs that end FAILED (30 %) and locked records failed in
    jobs; the run is cancelled twice and resumed from its journal each time: the final
    report is true against the ledger and nothing converts twice."""
    env = await start(
        "Quotes",
        300,
        seed=2,
        faults=lost_submits("Quotes", failed_job_rate=0.3),
        locked_every=19,
        already_converted="fail_in_job",
    )
    journal = str(tmp_path / "run.journal")
    cancels = 0
    running: list[asyncio.Future[ConversionReport]] = []
    # The test's clock adds up the sleeps of concurrent tasks (``SummingTime``): with hundreds
    # of polls sleeping side by side it runs far ahead of a real one, and the default settling
    # deadline (900 s) ran out before some batches' last rounds, depending on how the tasks
    # interleaved (their ids ended uncertain, about one run in twenty).
    settle = SettlePolicy(deadline=86_400.0)
    for stop_at in (40, 90, None):
        count = 0

        def stop(event: Event, stop_at: int | None = stop_at) -> None:
            nonlocal count
            count += 1
            if count == stop_at:
                asyncio.get_running_loop().call_soon(running[-1].cancel)

        async with deadline(CASE_TIMEOUT):
            if stop_at == 40:
                call = env.client.convert_many(
                    "Quotes", env.ids, to="Sales_Orders", poll=POLL, journal=journal,
                    progress=stop, settle=settle,
                )
            else:
                call = env.client.resume(
                    journal, ids=env.ids, poll=POLL, progress=stop, settle=settle
                )
            task = asyncio.ensure_future(call)
            running.append(task)
            await asyncio.wait({task})
        if task.cancelled():
            cancels += 1
            continue
        report = task.result()
    assert cancels == 2
    env.time.now += 10_000
    assert_report_true(report, ledger(env.sim, "Quotes", env.ids))
    assert report.input_complete and not report.uncertain
