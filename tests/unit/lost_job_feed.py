"""Helpers of the unit tests that feed ``RunMachine`` and ``LedgerKeeper`` the events of lost
jobs: a running job's status, events folded in order, a journal's round trip, and whether
another worker of the fleet could take ids now.

Imported as ``lost_job_feed`` (``tests/unit`` is on ``sys.path`` beside its test modules).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from noting_ledger import NotingLedger

from zoho_convert.api.models import JobState, JobStatus
from zoho_convert.bulk.events import Event
from zoho_convert.bulk.journal import Journal
from zoho_convert.bulk.machine import RunMachine
from zoho_convert.bulk.spec import RunParams


def running(converted: int, failed: int = 0, total: int | None = 10) -> JobStatus:
    """An IN PROGRESS status: ``converted`` and ``failed`` of ``total`` records (None: no
    total given; the rest of 10 not converted yet)."""
    rest = (total or 10) - converted - failed
    return JobStatus(JobState.IN_PROGRESS, total, converted, rest, failed)


def apply(machine: RunMachine, events: Sequence[Event]) -> list[Event]:
    """Fold ``events`` into ``machine`` in order; return them."""
    for event in events:
        machine(event)
    return list(events)


async def journal_round_trip(path: Path, params: RunParams, events: Sequence[Event]) -> list[Event]:
    """What a journal at ``path`` that recorded ``events`` replays (``resume``'s first step)."""
    journal = await Journal.create(path, params)
    for event in events:
        journal.record(event)
    await journal.close()
    opened = await Journal.open(path)
    _, back = await opened.load()
    await opened.close()
    return back


async def other_worker_can_claim(ledger: NotingLedger, ids: Sequence[str]) -> list[str]:
    """Which of ``ids`` another worker of the fleet (run "run-b") could claim now (given back
    at once)."""
    other = ledger.holding("run-b")
    got, _ = await other.claim("Quotes", ids, 1.0)
    await other.release("Quotes", got)
    return got
