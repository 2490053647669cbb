"""Where records converted one at a time while settling (``IdsConverted``) end up: the report
(converted, listed in ``converted_by_record``, accounted for), a fleet's ledger (recorded
converted), and the journal (state ``converted``, format 3, read back on resume; a format 2
journal brought up to 3)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import attrs
from fake_convert_api import FakeAPI

from zoho_convert.api.models import JobState, JobStatus, ModuleRef
from zoho_convert.bulk.convert import resume
from zoho_convert.bulk.events import (
    BatchRead,
    BatchSplit,
    BatchSubmitted,
    BatchUncertain,
    Event,
    IdsAlreadyConverted,
    IdsConverted,
    InputEnded,
    JobFinished,
    LongestJob,
    SubmitStarted,
)
from zoho_convert.bulk.journal import Journal
from zoho_convert.bulk.journal_file import FORMAT
from zoho_convert.bulk.keeper import LedgerKeeper
from zoho_convert.bulk.ledger import MemoryLedger
from zoho_convert.bulk.machine import RunMachine
from zoho_convert.bulk.report import ConversionReport
from zoho_convert.bulk.settling import SettlePolicy
from zoho_convert.bulk.spec import RunParams
from zoho_convert.bulk.tally import Tally

IDS = ("101", "102", "103", "104")
PARTS = ((1, ("101",)), (2, ("102",)), (3, ("103",)), (4, ("104",)))
PARAMS = RunParams(module="Quotes", to=ModuleRef("Sales_Orders", "1"))


def settled_by_record() -> list[Event]:
    """A batch whose reply was lost, settled record by record (one part per record): three
    records converted now, one refused as converted by the lost submission."""
    return [
        BatchRead(0, IDS, 4, 4, 0),
        SubmitStarted(0),
        BatchUncertain(0, IDS, 1.0, True, "reply lost"),
        BatchSplit(0, PARTS, True),
        SubmitStarted(1),
        IdsConverted(1, ("101",)),
        SubmitStarted(2),
        IdsAlreadyConverted(2, ("102",)),
        SubmitStarted(3),
        IdsConverted(3, ("103",)),
        SubmitStarted(4),
        IdsConverted(4, ("104",)),
        InputEnded(4, 0),
    ]


def report_of(events: list[Event]) -> ConversionReport:
    tally = Tally()
    for event in events:
        tally(event)
    return tally.report(module="Quotes", to="Sales_Orders", requests=0, elapsed=0.0)


def test_records_converted_by_record_count_as_converted_and_are_listed() -> None:
    """IdsConverted: its ids count as converted, are listed in converted_by_record (in the
    order converted), and with the already converted one account for every id: ok."""
    report = report_of(settled_by_record())
    assert report.converted == 3 and report.converted_by_record == ("101", "103", "104")
    assert report.already_converted_ids == ("102",) and report.already_converted == 1
    assert report.submitted == 0 and report.total == 4
    assert report.accounted_for and report.ok


def test_an_id_only_converted_by_record_is_accounted_for_by_that_alone() -> None:
    """A report whose every id was converted by record (in no job, nowhere else): accounted
    for; without its IdsConverted it is not (the invariant counts the list)."""
    events: list[Event] = [BatchRead(0, ("7",), 1, 1, 0), IdsConverted(0, ("7",))]
    assert report_of(events).accounted_for
    assert not report_of(events[:1]).accounted_for


def test_the_report_dict_includes_the_records_converted_by_record() -> None:
    """to_dict (the JSON the CLI prints) lists converted_by_record and counts them in
    converted."""
    data = report_of(settled_by_record()).to_dict()
    assert data["converted_by_record"] == ["101", "103", "104"]
    assert data["converted"] == 3 and data["ok"] is True


async def test_the_ledger_records_ids_converted_by_record_as_converted() -> None:
    """The keeper marks an IdsConverted's ids converted in the fleet's ledger (another worker
    then skips them); a parked id beside them that surely never reached Zoho is released, one
    whose submission may have (its job may run) stays claimed."""
    ledger = MemoryLedger(clock=lambda: 0.0)
    keeper = LedgerKeeper(ledger, "Quotes")
    seqs = iter(range(1, 10))
    events, part = await keeper.screen(0, IDS, False, lambda: next(seqs), 0.0, 60.0)
    assert (events, part) == ([], 0)  # all claimed by this run

    keeper(IdsConverted(1, ("101", "103")))
    keeper(BatchUncertain(2, ("102",), 1.0, False, "refused: 429"))
    keeper(BatchUncertain(3, ("104",), 1.0, True, "reply lost"))
    await keeper.flush()

    assert await ledger.filter_known("Quotes", IDS) == (["102", "104"], ["101", "103"])
    claimed, held = await ledger.claim("Quotes", IDS, 60.0)
    assert claimed == ["102"] and held == ["101", "103", "104"]  # 104: still this run's


class FlakyReleaseLedger(MemoryLedger):
    """A ledger whose next ``release`` fails (a third-party ledger that raises)."""

    fail_release = False

    async def release(self, module: str, ids: Sequence[str]) -> None:
        if self.fail_release:
            self.fail_release = False
            raise ConnectionError("ledger unreachable")
        await super().release(module, ids)


async def test_a_record_parked_a_moment_ago_is_not_held_by_its_own_claim() -> None:
    """Screening ids this run gave back but has not sent yet gives them back first: the run
    claims them again (not CLAIMED_ELSEWHERE); a release that fails then is not fatal, and
    the ids are given back with the next flush."""
    ledger = FlakyReleaseLedger(clock=lambda: 0.0)
    keeper = LedgerKeeper(ledger, "Quotes")
    seqs = iter(range(1, 10))
    assert await keeper.screen(0, IDS, True, lambda: next(seqs), 0.0, 60.0) == ([], 0)

    keeper(BatchUncertain(5, ("102",), 1.0, True, "500 on its single convert", at_once=True))
    assert await keeper.screen(5, ("102",), True, lambda: next(seqs), 1.1, 60.0) == ([], 5)

    keeper(BatchUncertain(5, ("102",), 1.2, True, "500 again", at_once=True))
    ledger.fail_release = True
    events, part = await keeper.screen(5, ("102",), True, lambda: next(seqs), 1.3, 60.0)
    assert part == -1 and events[-1].code == "CLAIMED_ELSEWHERE"  # still its own claim
    await keeper.flush()  # the release is sent now
    claimed, held = await ledger.claim("Quotes", ("102",), 60.0)
    assert claimed == ["102"] and held == []


def batch_states(path: Path) -> dict[int, str]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT seq, state FROM batch").fetchall()
    db.close()
    return dict(rows)


def run_value(path: Path, key: str) -> str:
    with sqlite3.connect(path) as db:
        (value,) = db.execute("SELECT value FROM run WHERE key=?", (key,)).fetchone()
    db.close()
    return str(value)


async def journaled(path: Path, events: list[Event]) -> None:
    journal = await Journal.create(path, PARAMS)
    for event in events:
        journal.record(event)
    await journal.close()


async def test_the_journal_writes_records_converted_by_record_as_converted(
    tmp_path: Path,
) -> None:
    """Each part converted by record is written in state 'converted', the one refused as
    already converted as rejected (with its id in the 'already' table), the batch split; the
    journal is format 3."""
    path = tmp_path / "run.journal"
    await journaled(path, settled_by_record())
    assert FORMAT == 3 and run_value(path, "format") == "3"
    assert batch_states(path) == {
        0: "split",
        1: "converted",
        2: "rejected",
        3: "converted",
        4: "converted",
    }


async def test_a_reopened_journal_replays_the_records_converted_by_record(
    tmp_path: Path,
) -> None:
    """Read back, the journal gives each part's IdsConverted again; resumed, the run sends
    nothing and reports them converted by record, every id accounted for."""
    path = tmp_path / "run.journal"
    await journaled(path, settled_by_record())
    journal = await Journal.open(path)
    try:
        _, replayed = await journal.load()
    finally:
        await journal.close()
    converted = [event for event in replayed if isinstance(event, IdsConverted)]
    assert converted == [
        IdsConverted(1, ("101",)),
        IdsConverted(3, ("103",)),
        IdsConverted(4, ("104",)),
    ]

    api = FakeAPI()
    report = await resume(api, str(path))

    assert api.request_count == 0
    assert report.converted == 3 and report.converted_by_record == ("101", "103", "104")
    assert report.already_converted_ids == ("102",)
    assert report.accounted_for and report.ok


def finished_run() -> list[Event]:
    """A run of one batch converted in its job (what a format 2 journal could hold)."""
    done = JobStatus(JobState.COMPLETED, 4, 4, 0, 0)
    return [
        BatchRead(0, IDS, 4, 4, 0),
        SubmitStarted(0),
        BatchSubmitted(0, 4, "5000", False, 0.0, 0.1),
        JobFinished(0, "5000", 4, done, IDS),
        InputEnded(4, 0),
    ]


async def test_a_format_2_journal_opens_and_is_brought_up_to_format_3(tmp_path: Path) -> None:
    """A journal written as format 2 (before the state 'converted') opens, says format 3 from
    then on, and resumes to the report a format 3 journal of the same run gives."""
    old, new = tmp_path / "old.journal", tmp_path / "new.journal"
    await journaled(old, finished_run())
    await journaled(new, finished_run())
    with sqlite3.connect(old) as db:
        db.execute("UPDATE run SET value='2' WHERE key='format'")
    db.close()
    assert run_value(old, "format") == "2"

    api = FakeAPI()
    report = await resume(api, str(old))

    assert run_value(old, "format") == "3"
    assert api.request_count == 0
    assert report.converted == 4 and report.ok
    expected = await resume(api, str(new))
    assert attrs.evolve(report, elapsed=0.0) == attrs.evolve(expected, elapsed=0.0)


async def test_the_journal_keeps_the_round_trip_with_the_longest_job(tmp_path: Path) -> None:
    """The mean submit round trip goes into the journal with the longest job, and a machine
    replaying it uses it until it measures its own (an older journal has none: None)."""
    path = tmp_path / "run.journal"
    await journaled(path, [LongestJob(2.0, 0.05), LongestJob(2.5, 0.07)])
    journal = await Journal.open(path)
    try:
        _, replayed = await journal.load()
    finally:
        await journal.close()
    assert [e for e in replayed if isinstance(e, LongestJob)] == [LongestJob(2.5, 0.07)]
    machine = RunMachine(SettlePolicy())
    for event in replayed:
        machine(event)
    assert (machine.round_trip_sum, machine.round_trips) == (0.07, 1)
    machine(LongestJob(3.0, 0.5))  # a later one, once a trip is known, changes nothing
    assert (machine.round_trip_sum, machine.round_trips) == (0.07, 1)

    older = tmp_path / "older.journal"
    await journaled(older, [LongestJob(2.0)])
    journal = await Journal.open(older)
    try:
        _, replayed = await journal.load()
    finally:
        await journal.close()
    assert [e for e in replayed if isinstance(e, LongestJob)] == [LongestJob(2.0, None)]
