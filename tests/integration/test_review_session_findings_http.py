"""Review of the session's engine changes (forgotten running jobs, 429 pacing, fleet holds):
what the review found, fixed and pinned over HTTP.

Client and server share one virtual clock (``alt_server`` via ``alt_envs``): no real sleeps.
Reports are judged id by id against the server's ledger.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alt_server import AltConfig
from fakes import deadline
from test_unseen_server import judge
from test_unseen_server_search import CASE_TIMEOUT, POLL, alt, options_for  # noqa: F401

from zoho_convert import ConversionReport, PollPolicy, SettlePolicy
from zoho_convert.bulk.events import BatchUncertain, JobLost
from zoho_convert.bulk.ledger import MemoryLedger
from zoho_convert.fleet import LocalFleet


@pytest.mark.parametrize("by_record", [True, False], ids=["by-record", "by-mass"])
@pytest.mark.parametrize(
    "config",
    [
        # SCHEDULED (nothing done) until 5 s, runs to 25 s, forgotten at 3 s.
        AltConfig(
            seed=901, scheduled_for=5.0, duration=20.0, forget_after=3.0, forget_from="submit"
        ),
        # IN PROGRESS from 0.5 s to 20.5 s, its counts absent until it ends (the OAS marks
        # none required: read as nothing done), forgotten at 3 s.
        AltConfig(
            seed=904,
            scheduled_for=0.5,
            duration=20.0,
            forget_after=3.0,
            forget_from="submit",
            counts="final",
        ),
    ],
    ids=["scheduled", "counts-final"],
)
async def test_a_job_seen_with_nothing_done_then_forgotten_is_not_sent_again_while_it_runs(
    alt: Any,  # noqa: F811
    by_record: bool,
    config: AltConfig,
) -> None:
    """A job seen unfinished with nothing done (SCHEDULED, or IN PROGRESS without counts)
    whose status the server forgets 3 s after submission; it runs to 20-25 s. No job has
    finished, so nothing says how long jobs take (a lost job is given ``unknown_wait``,
    60 s): none of its records is sent again while it holds them."""
    env = await alt(config)
    ids, before = env.records("Quotes", 10)
    client = await env.client()
    settle = SettlePolicy(record_by_record=by_record)
    async with deadline(CASE_TIMEOUT):
        report = await client.convert_many("Quotes", ids, **options_for("Quotes", settle=settle))
    judge(report, env.ledger("Quotes", ids), before)
    assert report.lost_jobs
    assert not env.server.overlaps, f"{len(env.server.overlaps)} records sent while held"


async def test_a_job_forgotten_while_it_runs_unbounded_keeps_its_fleet_claims(
    alt: Any,  # noqa: F811
) -> None:
    """Two workers sharing a ledger: the first's job stays SCHEDULED (nothing done) for
    4000 s and is forgotten 80 s after submission, last seen at ~78 s (past the 60 s a lost
    job is given): unbounded, its ids end uncertain, never sent again by the first. 3200 s
    after the first run began, the second worker converts the same ids: it must not send
    them while that job (4000-4010 s) may still hold them."""
    config = AltConfig(
        seed=902,
        token_life=1e9,
        scheduled_for=4000.0,
        duration=10.0,
        forget_after=80.0,
        forget_from="submit",
    )
    env = await alt(config)
    ids = env.server.create("Quotes", 10)
    shared = MemoryLedger(clock=env.time.clock)
    first = await env.client(fleet=LocalFleet(ledger=shared))
    second = await env.client(fleet=LocalFleet(ledger=shared))
    poll = PollPolicy(initial=0.5, multiplier=2.0, max_interval=5.0, timeout=3_000)
    start = env.time.now
    async with deadline(CASE_TIMEOUT):
        report = await first.convert_many("Quotes", ids, to="Sales_Orders", poll=poll)
    assert report.lost_jobs and sorted(report.uncertain) == sorted(ids)
    assert not env.server.overlaps
    env.time.now = max(env.time.now, start + 3200.0)
    async with deadline(CASE_TIMEOUT):
        later = await second.convert_many("Quotes", ids, to="Sales_Orders", poll=poll)
    assert later.accounted_for
    assert not env.server.overlaps, f"{len(env.server.overlaps)} records sent while held"


async def test_a_resumed_run_does_not_send_an_unbounded_lost_job_again(
    alt: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A journaled run whose job stays SCHEDULED for 4000 s is forgotten 80 s after its
    submission (last seen at ~78 s, nothing done: unbounded); the run is cancelled as it
    learns so, and resumed at once: none of the job's records is sent while it holds them."""
    config = AltConfig(
        seed=903,
        token_life=1e9,
        scheduled_for=4000.0,
        duration=10.0,
        forget_after=80.0,
        forget_from="submit",
    )
    env = await alt(config)
    ids, before = env.records("Quotes", 10)
    journal = str(tmp_path / "run.journal")
    client = await env.client()
    task: asyncio.Task[ConversionReport] | None = None
    unbounded: list[BatchUncertain] = []

    def progress(event: object) -> None:
        if isinstance(event, BatchUncertain) and event.unbounded:
            unbounded.append(event)
        if isinstance(event, JobLost) and task is not None:
            task.cancel()

    options = options_for("Quotes", journal=journal, progress=progress)
    task = asyncio.create_task(client.convert_many("Quotes", ids, **options))
    async with deadline(CASE_TIMEOUT):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert unbounded and not env.server.overlaps  # (never sent again in that session)
    async with deadline(CASE_TIMEOUT):
        report = await (await env.client()).resume(journal, ids=iter(ids), poll=POLL)
    judge(report, env.ledger("Quotes", ids), before)
    assert not env.server.overlaps, f"{len(env.server.overlaps)} records sent while held"
