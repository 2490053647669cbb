"""Findings of a review of one session's changes (f83368c..): each case once reproduced a
report that was not true, or an id that was dropped."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fake_convert_api import FakeAPI

from zoho_convert.api.models import JobState, JobStatus
from zoho_convert.bulk.convert import convert_many, resume
from zoho_convert.bulk.events import (
    BatchRead,
    BatchSubmitted,
    BatchUncertain,
    Event,
    RunStopped,
    SubmitStarted,
)
from zoho_convert.bulk.ledger import CLAIMED_ELSEWHERE, MemoryLedger
from zoho_convert.bulk.machine import RunMachine
from zoho_convert.bulk.reader import Reader
from zoho_convert.bulk.settling import SettlePolicy
from zoho_convert.bulk.tally import Tally

IDS = ("101", "102", "103", "104")


def met_another_run_and_half_converted() -> tuple[RunMachine, Tally]:
    """A batch first parked because another run held its ids, then claimed and submitted: its
    job converted 2 of its 4 records (the other 2 failed: maybe converted by that run), so
    the machine parks it to have each record checked by its single convert."""
    machine, tally = RunMachine(SettlePolicy(), fleet=True), Tally()

    def publish(event: Event) -> None:
        machine(event)
        tally(event)

    publish(BatchRead(0, IDS, 4, 4, 0))
    publish(BatchUncertain(0, IDS, 0.0, False, "held", code=CLAIMED_ELSEWHERE))
    publish(SubmitStarted(0))
    publish(BatchSubmitted(0, 4, "5000", False, 1.0, 1.5))
    half = JobStatus(JobState.COMPLETED, 4, 2, 0, 2)
    for event in machine.finished(0, "5000", half, took=2.0, by_record=True):
        publish(event)
    return machine, tally


def test_a_checked_batch_whose_job_ran_is_never_reported_not_submitted() -> None:
    """A batch that met another run, whose job converted 2 of 4 records and which waits for
    its single-convert checks when the run stops: none of its ids is reported as never
    submitted (its job ran: they are uncertain)."""
    machine, tally = met_another_run_and_half_converted()
    (stopped,) = [e for e in machine.stopped("cancelled", 3.0) if isinstance(e, RunStopped)]
    tally(stopped)
    assert stopped.not_submitted == ()
    assert set(stopped.uncertain) == set(IDS)


async def test_resume_remembers_that_a_batch_met_another_run(tmp_path: Path) -> None:
    """Run B finds its 50 ids held by run A and is stopped while they are parked; A converts
    25 of them (its job fails the rest) and gives its claims back; B resumes: the 25 its job
    fails inside (Zoho: already converted) are never reported failed (in one session they
    are uncertain: no single convert can check them)."""
    ids = [str(9_280_000_000_000_000 + n) for n in range(50)]
    api = FakeAPI(already_converted="fail_in_job")
    api.ledger = ledger = MemoryLedger(clock=api.clock)
    other = ledger.holding("run-a")
    assert await other.claim("Quotes", ids, 600.0) == (ids, [])
    journal = str(tmp_path / "run.journal")
    running: list[asyncio.Future[Any]] = []

    def stop_when_held(event: Event) -> None:
        if isinstance(event, BatchUncertain) and event.code == CLAIMED_ELSEWHERE:
            asyncio.get_running_loop().call_soon(running[0].cancel)

    running.append(
        asyncio.ensure_future(
            convert_many(
                api, "Quotes", ids, to="Sales_Orders", journal=journal, progress=stop_when_held
            )
        )
    )
    await asyncio.wait(running)
    assert running[0].cancelled()
    for value in ids[:25]:  # run A's job converted these, failed the rest
        api.records[value] += 1
    await other.release("Quotes", ids)  # (not fully converted: A gives every claim back)

    report = await resume(api, journal, ids=ids)

    api.finish_jobs()
    assert report.failed == 0
    assert not api.converted_twice()


class Id(str):
    """An id as some sources hand them out: a ``str`` subclass (``numpy.str_`` is one)."""


async def test_reader_reads_a_new_plain_id_in_the_skip_range() -> None:
    """Control: a resume given other ids than the first input reads a new plain digit string
    among its first ``skip`` items (the lead's fix)."""
    batches: list[tuple[str, ...]] = []

    async def dispatch(batch: tuple[str, ...]) -> None:
        batches.append(batch)

    reader = Reader(50, skip=2)
    await reader.read(["11", "12", "13"], dispatch, lambda: False)
    assert reader.take_partial() == ("11", "12", "13")


async def test_reader_reads_a_new_str_subclass_id_in_the_skip_range() -> None:
    """A resume given other ids (a ``str`` subclass, as a numpy array of strings yields)
    reads each id among its first ``skip`` items that no earlier session read: none is
    dropped."""

    async def dispatch(batch: tuple[str, ...]) -> None:
        raise AssertionError("no full batch expected")

    reader = Reader(50, skip=2)
    await reader.read([Id("11"), Id("12"), Id("13")], dispatch, lambda: False)
    assert reader.take_partial() == ("11", "12", "13")


async def test_reader_refuses_a_new_invalid_value_in_the_skip_range() -> None:
    """A resume given other input whose first items hold an invalid value no session read:
    that value is listed as refused, not silently dropped."""

    async def dispatch(batch: tuple[str, ...]) -> None:
        raise AssertionError("no full batch expected")

    reader = Reader(50, skip=2)
    await reader.read(["11", "x1", "13"], dispatch, lambda: False)
    assert reader.take_partial() == ("11", "13")
    assert [r.id for r in reader.take_refused().rejected] == ["x1"]
