"""Where the input stood when values were refused, kept across a resume (mutation testing of
``Reader.take_refused``, the journal's ``refused_position`` / ``refused_duplicates`` keys and
their replay): the repeats read before a refusal are counted once, by the resumed run too;
a journal without the keys (an earlier version's) replays a position of 0, "not known".
Also the replay of a settling job's end and of a batch an earlier session parked.

FakeAPI and journals in ``tmp_path``; no real sleeps.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_convert_api import FakeAPI
from lost_job_feed import journal_round_trip

from zoho_convert.api.models import JobState, JobStatus, ModuleRef
from zoho_convert.bulk.convert import convert_many, resume
from zoho_convert.bulk.events import (
    BatchRead,
    BatchSubmitted,
    BatchUncertain,
    Event,
    IdsRefused,
    JobFinished,
    SubmitStarted,
)
from zoho_convert.bulk.journal import Journal
from zoho_convert.bulk.machine import RunMachine
from zoho_convert.bulk.reader import Reader
from zoho_convert.bulk.report import RejectedId
from zoho_convert.bulk.settling import SettlePolicy
from zoho_convert.bulk.spec import RunParams
from zoho_convert.bulk.tally import Tally

PARAMS = RunParams(module="Quotes", to=ModuleRef("Sales_Orders", "1"))
ABC = RejectedId("abc", "INVALID_ID", "x")


async def test_take_refused_says_where_the_input_stands() -> None:
    """Read "1", "1" (a repeat), "abc", 1.5 (refused, named as the report names them), "2":
    the refusals' event says 4 items were consumed, 1 of them a repeat; every refused value
    counts in the total (2 ids + 2 refused)."""
    reader = Reader(50)

    async def dispatch(batch: tuple[str, ...]) -> None:
        raise AssertionError("no batch is full")

    await reader.read(["1", "1", "abc", 1.5, "2"], dispatch, lambda: False)
    event = reader.take_refused()
    assert [item.id for item in event.rejected] == ["abc", "1.5"]
    assert all(type(item.id) is str for item in event.rejected)
    assert (event.position, event.duplicates) == (5, 1)
    assert reader.total == 4
    assert reader.take_refused() == IdsRefused((), 5, 1)  # (taken: none left)


def full_batch_then_a_repeat_and_a_refusal() -> Iterator[str]:
    """Two ids (a full batch of 2), a repeat of the first, "abc", then the input fails."""
    yield "1000"
    yield "1001"
    yield "1000"
    yield "abc"
    raise OSError("input unreadable")


async def test_a_value_refused_after_the_last_batch_is_not_refused_again_on_resume(
    tmp_path: Path,
) -> None:
    """The first session sent its one full batch, then read a repeat and "abc" and its input
    failed: no batch read after them, so only the refusal (journaled: position 4, 1 repeat)
    says how far the input was read. Resumed with the same input and one id more: 1 repeat,
    "abc" rejected once, 3 ids converted, 4 values in all. Today "abc" is rejected twice
    (total 5): the replayed batch's position 2 overrides the refusal's 4."""
    path, api = str(tmp_path / "run.db"), FakeAPI()  # (one Zoho for both sessions)
    with pytest.raises(OSError):
        await convert_many(
            api, "Quotes", full_batch_then_a_repeat_and_a_refusal(), to="Sales_Orders",
            journal=path, batch_size=2,
        )
    report = await resume(api, path, ids=["1000", "1001", "1000", "abc", "1002"])
    assert report.duplicates == 1
    assert [item.id for item in report.rejected] == ["abc"]
    assert report.converted == 3
    assert report.total == 4  # (distinct ids and refused values)


async def replayed(path: Path, events: list[Event]) -> list[Event]:
    return await journal_round_trip(path, PARAMS, events)


async def test_a_refusals_position_and_repeats_survive_the_journal(tmp_path: Path) -> None:
    """Journaled, the refusal comes back with where the input stood: 7 items, 2 repeats."""
    back = await replayed(tmp_path / "j.db", [IdsRefused((ABC,), 7, 2)])
    assert back[0] == IdsRefused((ABC,), 7, 2)


async def test_a_journal_without_the_refusals_position_replays_it_as_unknown(
    tmp_path: Path,
) -> None:
    """A journal of an earlier version kept no refused_position / refused_duplicates: the
    refusal replays with 0 for both ("not known"), moving no input position."""
    path = tmp_path / "j.db"
    await replayed(path, [IdsRefused((ABC,), 7, 2)])
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM run WHERE key IN ('refused_position', 'refused_duplicates')")
    db.close()
    opened = await Journal.open(path)
    _, back = await opened.load()
    await opened.close()
    assert back[0] == IdsRefused((ABC,), 0, 0)
    machine = RunMachine(SettlePolicy())
    machine(back[0])
    assert (machine.position, machine.duplicates) == (0, 0)


async def test_a_settling_jobs_end_replays_as_settling(tmp_path: Path) -> None:
    """A settling resubmission's job that converted its 2 records: replayed, the report's
    job is a settling one still."""
    ids = ("1", "2")
    done = JobStatus(JobState.COMPLETED, 2, 2, 0, 0)
    back = await replayed(
        tmp_path / "j.db",
        [
            BatchRead(0, ids, 2, 2, 0),
            SubmitStarted(0),
            BatchUncertain(0, ids, 1.0, True, "lost"),
            SubmitStarted(0),
            BatchSubmitted(0, 2, "j1", True, 5.0),
            JobFinished(0, "j1", 2, done, ids, True),
        ],
    )
    tally = Tally()
    for event in back:
        tally(event)
    assert [(job.job_id, job.settling) for job in tally.jobs] == [("j1", True)]
    assert tally.converted == 2


async def test_a_batch_parked_by_an_earlier_session_says_so_when_resumed(
    tmp_path: Path,
) -> None:
    """A batch parked (a lost reply) when the session stopped: the resumed run parks it
    again from its own clock, saying an earlier session parked it."""
    ids = ("1", "2")
    back = await replayed(
        tmp_path / "j.db",
        [BatchRead(0, ids, 2, 2, 0), SubmitStarted(0), BatchUncertain(0, ids, 1.0, True, "x")],
    )
    machine = RunMachine(SettlePolicy())
    for event in back:
        machine(event)
    _, _, parked = machine.to_restart(100.0)
    assert parked == [BatchUncertain(0, ids, 100.0, True, "parked by an earlier session")]
