"""A second look, over HTTP against the simulator: ids a settling look found converted, while
the lost job that holds them may still run, are looked at once more a lost job's wait later
(``zoho_convert.bulk.second_look``). Each report is judged id by id against the simulator's
ledger (``truth.assert_report_true``), on a virtual clock on 127.0.0.1.

The runs are those of ``test_hunt_round10``'s reduced case: a third of the submits processed,
then answered 500; half the jobs FAILED; jobs of 1 s +- 0.5 s, so a lost job can outlast the
wait measured from a shorter one, refusing its records as converted while it runs, then fail.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from fakes import deadline
from truth import assert_report_true, client_of, ledger, simulator_with

from zoho_convert import ConversionReport, PollPolicy, SettlePolicy
from zoho_convert.bulk.events import BatchUncertain, Event
from zoho_convert.bulk.second_look import look_again
from zoho_convert.simulator import Faults, Simulator

POLL = PollPolicy(initial=0.5, multiplier=2.0, max_interval=5.0, timeout=3_000)
LOST_AFTER = Faults(
    rate_500=0.3,
    fault_after_processing=True,
    fault_endpoints={"mass_convert", "lead_mass_convert"},
    failed_job_rate=0.5,
)


async def simulated(
    stack: contextlib.AsyncExitStack, module: str, seed: int, **config: Any
) -> tuple[Simulator, Any, list[str]]:
    """20 records of ``module`` in a simulator with ``LOST_AFTER``'s faults and jittered jobs
    (``config``: more of its fields)."""
    return await simulator_with(
        stack, module, 20, seed=seed, faults=LOST_AFTER, job_duration=1.0,
        job_duration_jitter=0.5, **config,
    )


#: Why a batch is parked for its second look.
SECOND_LOOK = look_again(0, (), 0.0, False).reason


def looked_again(events: list[Event]) -> set[str]:
    """The ids parked for a second look (found converted by a settling look)."""
    parked = (e for e in events if isinstance(e, BatchUncertain) and e.reason == SECOND_LOOK)
    return {i for e in parked for i in e.ids}


def converted_now(report: ConversionReport) -> set[str]:
    """Ids the report says this run converted one by one."""
    return set(report.converted_by_record)


async def test_a_run_stopped_while_records_await_their_second_look_resumes_truly(
    tmp_path: Path,
) -> None:
    """Journaled, the run is stopped as its first records are parked for their second look
    (refused as converted while their lost job ran); resumed, each still gets that look, by
    its single convert: their lost job FAILED meanwhile, so they are converted then, by this
    run (not reported already converted); the report is true to the ledger."""
    async with contextlib.AsyncExitStack() as stack:
        sim, time, ids = await simulated(stack, "Quotes", 50)
        client = await client_of(stack, sim, time)
        journal = str(tmp_path / "run.journal")
        first: list[Event] = []

        def stop_at_second_look(event: Event) -> None:
            first.append(event)
            if looked_again([event]) and not run.done():
                asyncio.get_running_loop().call_soon(run.cancel)

        async with deadline(20.0):
            run = asyncio.ensure_future(
                client.convert_many(
                    "Quotes", ids, to="Sales_Orders", batch_size=5, poll=POLL, journal=journal,
                    progress=stop_at_second_look,
                )
            )
            await asyncio.wait({run})
            assert run.cancelled(), "no record was parked for a second look"
            waiting = looked_again(first)
            assert waiting
            resumed: list[Event] = []
            report = await client.resume(journal, ids=ids, poll=POLL, progress=resumed.append)
        time.now += 100_000
        counts = ledger(sim, "Quotes", ids)
        assert_report_true(report, counts)
        assert report.accounted_for and not report.uncertain
        # Still parked for it when resumed, by record, they get it, and it finds them unconverted.
        last = (e for e in resumed if isinstance(e, BatchUncertain) and e.final_look)
        assert waiting <= {i for e in last if e.by_record for i in e.ids}
        assert waiting <= converted_now(report)
        assert not waiting & set(report.already_converted_ids)


async def test_leads_settled_by_mass_resubmission_look_again_by_mass() -> None:
    """Leads with ``SettlePolicy(record_by_record=False)``: a settling mass resubmission refused
    as converted while the lost job held the ids is resubmitted once more a lost job's wait
    later (no Convert Lead); the lost job having failed, that job converts the lead: the
    report is true to the ledger, and no lead is converted twice."""
    async with contextlib.AsyncExitStack() as stack:
        sim, time, ids = await simulated(stack, "Leads", 169, already_converted="fail_call")
        client = await client_of(stack, sim, time)
        events: list[Event] = []
        async with deadline(20.0):
            report = await client.convert_many(
                "Leads", ids, batch_size=5, poll=POLL, progress=events.append,
                settle=SettlePolicy(record_by_record=False),
            )
        time.now += 100_000
        counts = ledger(sim, "Leads", ids)
        assert_report_true(report, counts)
        assert report.converted_by_record == ()  # (no Convert Lead)
        waiting = looked_again(events)
        assert waiting, "no lead was looked at again"
        # A lead the first look found "converted" that the lost job did not convert after all.
        saved = {i for i in waiting if counts[i] == 1} - set(report.already_converted_ids)
        assert saved, "no lead was converted on its second look"


async def test_a_submission_lost_before_processing_costs_no_second_look() -> None:
    """Submits answered 500 before the simulator processed them (as in the S4 benchmark): the
    first look converts their records, so no record is looked at twice; the report is true."""
    async with contextlib.AsyncExitStack() as stack:
        faults = Faults(rate_500=0.3, fault_endpoints={"mass_convert"}, failed_job_rate=0.5)
        sim, time, ids = await simulator_with(
            stack, "Quotes", 40, seed=50, faults=faults, job_duration=1.0,
            job_duration_jitter=0.5,
        )
        client = await client_of(stack, sim, time)
        events: list[Event] = []
        async with deadline(20.0):
            report = await client.convert_many(
                "Quotes", ids, to="Sales_Orders", batch_size=5, poll=POLL, progress=events.append
            )
        time.now += 100_000
        assert_report_true(report, ledger(sim, "Quotes", ids))
        assert report.converted_by_record, "no batch was lost"
        assert not looked_again(events)
