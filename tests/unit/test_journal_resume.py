"""What a journal gives back to ``resume``: a finished run's whole report, the reads as the run
published them, and parked batches that still wait for their lost job (also from a format 1
journal). Judged on the report, the fake's ledger and call log, and the journal's events."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import attrs
import pytest
from fake_convert_api import Crash, FakeAPI, SubmitCall

from zoho_convert.api.errors import ServerError
from zoho_convert.api.models import JobState, JobStatus
from zoho_convert.bulk.convert import convert_many, resume
from zoho_convert.bulk.events import BatchRead, Event, InputEnded
from zoho_convert.bulk.journal import Journal
from zoho_convert.bulk.report import ConversionReport
from zoho_convert.bulk.settling import SettlePolicy

IDS = [str(5000 + i) for i in range(300)]
BATCHES = [IDS[i : i + 50] for i in range(0, 300, 50)]
INVALID = BATCHES[2][10]  # refused by Zoho: its batch is split around it
ODD = BATCHES[5][0]  # its first job ends with counts that do not add up: a lost job
HOPELESS = BATCHES[3]  # every submission loses its reply: settling gives up
DURATION = 5.0


def lost_reply() -> ServerError:
    return ServerError(500, "INTERNAL_ERROR", "reply lost", maybe_processed=True)


class OddCounts(FakeAPI):
    """The fake, where the first job holding ``ODD`` reports counts that do not add up."""

    odd_job: str | None = None

    async def _status(self, job_id: str) -> JobStatus:
        status = await super()._status(job_id)
        if self.odd_job is None and ODD in self.jobs[job_id].ids and status.is_final:
            self.odd_job = job_id
        if job_id == self.odd_job:
            return JobStatus(JobState.COMPLETED, 50, 20, 0, 0)
        return status


def lose_hopeless(call: SubmitCall) -> None:
    if call.ids == HOPELESS:
        raise lost_reply()


def comparable(report: ConversionReport) -> ConversionReport:
    """The report with what may differ between sessions (time) or by order made equal."""
    return attrs.evolve(
        report,
        elapsed=0.0,
        rejected=tuple(sorted(report.rejected, key=lambda r: r.id)),
        jobs=tuple(sorted(report.jobs, key=lambda job: job.job_id)),
        already_converted_ids=tuple(sorted(report.already_converted_ids)),
        uncertain=tuple(sorted(report.uncertain)),
        lost_jobs=tuple(sorted(report.lost_jobs, key=lambda job: job.job_id)),
    )


async def test_a_finished_run_resumed_reads_back_its_whole_report(tmp_path: Path) -> None:
    """Every kind of outcome (failed records, a FAILED job, ids refused locally and by Zoho,
    duplicates, a lost reply settled, a forgotten job, a job with counts that do not add up,
    a batch settling gave up on), journaled and read back: the same report, nothing sent."""
    path = str(tmp_path / "run.journal")
    api = OddCounts(
        job_failures={0: 5},
        failed_jobs={1},
        invalid={INVALID},
        submit_faults_after={5: lost_reply()},
        forget_jobs={6},
        already_converted="fail_in_job",
        duration=DURATION,
        max_concurrency=1,
        on_processed=lose_hopeless,
    )
    source = ["abc", "12x", *IDS[:20], *IDS, IDS[7]]
    report = await convert_many(
        api, "Quotes", source, to="Sales_Orders", journal=path, max_pending_jobs=1,
        settle=SettlePolicy(max_rounds=2),
    )
    submits = api.submits

    again = await resume(api, path)

    assert api.submits == submits
    assert comparable(again) == comparable(report)
    assert report.total == 302 and report.duplicates == 21
    assert report.failed == 55 and report.already_converted == 100
    assert sorted(report.uncertain) == sorted(HOPELESS)
    assert {r.id: r.code for r in report.rejected} == {
        "abc": "INVALID_ID", "12x": "INVALID_ID", INVALID: "INVALID_DATA"
    }
    (forgotten, odd) = sorted(report.lost_jobs, key=lambda job: job.last_status is not None)
    assert forgotten.last_status is None and forgotten.size == 50
    assert odd.last_status == JobStatus(JobState.COMPLETED, 50, 20, 0, 0)
    assert "do not add up" in odd.reason


async def test_the_journal_replays_the_reads_as_the_run_published_them(tmp_path: Path) -> None:
    """The batches read (ids, ids read so far, input position, duplicates) and the end of the
    input come back from the journal as the run published them."""
    path = tmp_path / "run.journal"
    published: list[Event] = []
    source = ["abc", *IDS[:60], IDS[3], *IDS[60:120], IDS[100], IDS[101]]
    await convert_many(
        FakeAPI(), "Quotes", source, to="Sales_Orders", journal=str(path),
        progress=published.append,
    )
    journal = await Journal.open(path)
    try:
        _, replayed = await journal.load()
    finally:
        await journal.close()

    def reads(events: list[Event]) -> list[Event]:
        return [e for e in events if isinstance(e, (BatchRead, InputEnded))]

    assert reads(replayed) == reads(published)
    assert reads(published)[-1] == InputEnded(len(source), 3)
    assert [e.read for e in reads(published)[:-1]] == [51, 101, 121]  # type: ignore[attr-defined]


def downgrade_to_format_1(path: Path) -> None:
    """Rewrite a journal as format 1 wrote it: no settling column, no lost or already table."""
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE batch DROP COLUMN settling")
        db.execute("DROP TABLE lost")
        db.execute("DROP TABLE already")
        db.execute("UPDATE run SET value='1' WHERE key='format'")
    db.close()


@pytest.mark.parametrize("journal_format", [2, 1])
async def test_a_parked_batch_resumed_waits_for_its_lost_job(
    tmp_path: Path, journal_format: int
) -> None:
    """A run killed while a batch whose reply was lost waits to be settled: the resumed run
    resubmits it only once the lost job has ended, and counts its ids as already converted
    (every record converted once). A format 1 journal, which did not say whether a parked
    batch may have been sent, is read as: it may have."""
    path = tmp_path / "run.journal"
    lost = BATCHES[0]
    crash = Crash(lambda call: call.ids == BATCHES[2])
    api = FakeAPI(
        reserve_ids=False,
        submit_faults_after={0: lost_reply()},
        on_processed=crash,
        duration=DURATION,
    )
    # Two jobs at a time: batch 0 is parked at once, batch 2 takes its place and its POST
    # lands (then the process dies) long before the lost job ends.
    await crash.run(
        convert_many(
            api, "Quotes", IDS[:150], to="Sales_Orders", journal=str(path), max_pending_jobs=2
        )
    )
    lost_job = api.jobs[str(5000000000000000000)]
    assert not lost_job.finished and lost_job.ids == lost
    if journal_format == 1:
        downgrade_to_format_1(path)

    report = await resume(api, str(path))

    resubmitted = [call for call in api.calls[1:] if set(call.ids) & set(lost)]
    assert resubmitted and all(
        call.processed is not None and call.processed >= lost_job.ends_at for call in resubmitted
    )
    api.finish_jobs()
    assert not api.converted_twice()
    assert {i for i, n in api.records.items() if n} == set(IDS[:150])
    assert report.ok and report.accounted_for and report.total == 150
    assert sorted(report.already_converted_ids) == sorted(lost + BATCHES[2])
    assert report.converted == 50 and not report.rejected


def journal_rows(path: Path, sql: str) -> list[Any]:
    with sqlite3.connect(path) as db:
        rows = db.execute(sql).fetchall()
    db.close()
    return rows
