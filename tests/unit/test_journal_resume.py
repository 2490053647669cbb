"""What a journal gives back to ``resume``: a finished run's whole report, the reads as the run
published them, and parked batches that still wait for their lost job (also from a format 1
journal). Judged on the report, the fake's ledger and call log, and the journal's events."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import attrs
import pytest
from fake_convert_api import Crash, FakeAPI, SubmitCall

from zoho_convert.api.errors import ServerError
from zoho_convert.api.models import JobState, JobStatus
from zoho_convert.bulk.convert import convert_many, resume
from zoho_convert.bulk.events import BatchRead, BatchSubmitted, Event, InputEnded
from zoho_convert.bulk.journal import Journal
from zoho_convert.bulk.report import ConversionReport
from zoho_convert.bulk.settling import SettlePolicy

IDS = [str(5000 + i) for i in range(300)]
BATCHES = [IDS[i : i + 50] for i in range(0, 300, 50)]
INVALID = BATCHES[2][10]  # refused by Zoho: its batch is split around it
ODD = BATCHES[5][0]  # its first job ends with counts that do not add up: a lost job
HOPELESS = BATCHES[3]  # every submission loses its reply: settling gives up
DURATION = 5.0
# The dying session: virtual time may jump while the journal writes (its thread runs outside
# the event loop), past the wait for a lost job of unknown length; the parked batch must not
# be resubmitted before the crash.
NOT_BEFORE_THE_CRASH = SettlePolicy(unknown_wait=1e6)


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
    third = await resume(api, path)  # the requests of every session add up, once each
    assert comparable(third) == comparable(report)
    assert report.total == 302 and report.duplicates == 21
    assert report.failed == 55 and report.already_converted == 0
    # The lost reply's and the forgotten job's batches, resubmitted, fail inside their jobs:
    # with no single convert to tell who converted them, uncertain; and settling gave up on one.
    settled = {*api.calls[5].ids, *api.calls[6].ids}
    assert set(report.uncertain) == settled | set(HOPELESS) and len(report.uncertain) == 150
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
    resubmits it only once the lost job has ended, and counts its ids as already converted,
    not rejected (every record converted once). A format 1 journal, which did not say whether
    a parked batch may have been sent, is read as: it may have."""
    path = tmp_path / "run.journal"
    lost = BATCHES[0]
    # Two batches sent at once: batch 0's reply is lost (it is parked), batch 1's POST lands
    # and the process dies before reading the reply.
    crash = Crash(lambda call: call.ids == BATCHES[1])
    api = FakeAPI(
        reserve_ids=False,
        submit_faults_after={0: lost_reply()},
        on_processed=crash,
        duration=DURATION,
    )
    api.paused = True  # no job ends before the crash (time may jump while the journal writes)
    await crash.run(
        convert_many(
            api, "Quotes", IDS[:150], to="Sales_Orders", journal=str(path), max_pending_jobs=2,
            settle=NOT_BEFORE_THE_CRASH,
        )
    )
    api.paused = False
    assert journal_requests(path) == api.request_count  # the dying session's, too
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
    assert sorted(report.already_converted_ids) == sorted(lost + BATCHES[1])
    assert report.converted == 50 and not report.rejected
    again = await resume(api, str(path))  # the requests of every session, each once
    assert again.requests == report.requests == api.request_count


def journal_requests(path: Path) -> int:
    with sqlite3.connect(path) as db:
        (value,) = db.execute("SELECT value FROM run WHERE key='requests'").fetchone()
    db.close()
    return int(value)


def batch_rows(path: Path) -> dict[int, tuple[str, int, str | None]]:
    """The journal's batches on disk: state, settling flag and job id by number."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT seq, state, settling, job_id FROM batch").fetchall()
    db.close()
    return {seq: (state, settling, job_id) for seq, state, settling, job_id in rows}


async def test_a_settling_job_running_at_the_crash_is_polled_and_never_counts_failed(
    tmp_path: Path,
) -> None:
    """Killed while the settling job of a lost reply runs: the journal holds it submitted and
    settling; the resumed run polls it (never resubmits it) and never counts the records
    failing in it as failed: with no single convert to tell whether the lost submission
    converted them, they are uncertain."""
    path = tmp_path / "run.journal"

    def duration(number: int) -> float:  # the settling job is still running at the crash
        return 10 * DURATION if number and api.calls[number].ids == BATCHES[0] else DURATION

    api = FakeAPI(
        submit_faults_after={0: lost_reply()}, already_converted="fail_in_job", duration=duration
    )

    def die_once_settling_submitted(event: Event) -> None:
        if isinstance(event, BatchSubmitted) and event.settling:
            run.cancel()  # the process dies just after the journal recorded it

    run = asyncio.ensure_future(
        convert_many(
            api, "Quotes", IDS[:150], to="Sales_Orders", journal=str(path),
            progress=die_once_settling_submitted,
        )
    )
    await asyncio.wait({run})
    assert run.cancelled()
    settling_job = next(c.job_id for c in api.calls[1:] if c.ids == BATCHES[0])
    assert batch_rows(path)[0] == ("submitted", 1, settling_job)
    sent = [call.ids for call in api.calls]

    report = await resume(api, str(path))

    assert [call.ids for call in api.calls[: len(sent)]] == sent
    assert BATCHES[0] not in [call.ids for call in api.calls[len(sent) :]]
    assert report.failed == 0 and sorted(report.uncertain) == sorted(BATCHES[0]), report
    assert report.converted == 100 and report.accounted_for


async def test_a_batch_parked_after_its_job_was_lost_is_settled_once(tmp_path: Path) -> None:
    """Killed while a batch whose job Zoho forgot waits to be settled: the journal holds it
    parked, with the lost job's id; the resumed run settles it (its ids already converted) and
    reports the lost job once."""
    path = tmp_path / "run.journal"
    crash = Crash(lambda call: call.ids == BATCHES[2])
    api = FakeAPI(forget_jobs={0}, duration=DURATION, on_processed=crash)
    api.paused = True
    await crash.run(
        convert_many(
            api, "Quotes", IDS[:150], to="Sales_Orders", journal=str(path), max_pending_jobs=2,
            settle=NOT_BEFORE_THE_CRASH,
        )
    )
    api.paused = False
    lost_job = api.calls[0].job_id
    assert batch_rows(path)[0] == ("uncertain", 1, lost_job)

    report = await resume(api, str(path))

    assert [job.job_id for job in report.lost_jobs] == [lost_job]
    assert sorted(report.already_converted_ids) == sorted(BATCHES[0] + BATCHES[2])
    assert report.converted == 50 and report.ok and report.accounted_for
    api.finish_jobs()
    assert not api.converted_twice()


@pytest.mark.parametrize("outcome", ["converted", "failed"])
async def test_a_journaled_job_zoho_forgot_before_the_resume_is_settled(
    tmp_path: Path, outcome: str
) -> None:
    """Killed with a job journaled as submitted; Zoho then forgets it (its poll raises
    JobNotFoundError): the resumed run reports it lost, settles its ids by what the ledger
    holds (converted by it: already converted; FAILED: converted now, not failed) and goes on."""
    path = tmp_path / "run.journal"
    crash = Crash(lambda call: call.ids == BATCHES[1])
    failed_jobs = {0} if outcome == "failed" else set()
    api = FakeAPI(duration=DURATION, failed_jobs=failed_jobs, on_processed=crash)
    api.paused = True  # the job is still running when the run dies
    await crash.run(
        convert_many(
            api, "Quotes", IDS[:150], to="Sales_Orders", journal=str(path), max_pending_jobs=2
        )
    )
    api.paused = False
    forgotten = api.calls[0].job_id
    assert forgotten is not None and batch_rows(path)[0] == ("submitted", 0, forgotten)
    api.jobs[forgotten].forgotten = True

    report = await resume(api, str(path), ids=IDS[:150])

    assert [(job.job_id, job.last_status) for job in report.lost_jobs] == [(forgotten, None)]
    assert "no longer knows the job" in report.lost_jobs[0].reason
    settled_as_converted = BATCHES[1] + (BATCHES[0] if outcome == "converted" else [])
    assert sorted(report.already_converted_ids) == sorted(settled_as_converted)
    assert report.converted == 150 - len(settled_as_converted)
    assert report.failed == 0 and report.ok and report.accounted_for
    api.finish_jobs()
    assert {i: api.records[i] for i in IDS[:150]} == dict.fromkeys(IDS[:150], 1)


class RefusedBatch(dict[int, BaseException]):
    """``FakeAPI.submit_faults`` refusing every submission of ``ids`` with ``error``."""

    def __init__(self, api: FakeAPI, ids: list[str], error: BaseException) -> None:
        super().__init__()
        self.api, self.ids, self.error = api, ids, error

    def get(self, number: int, default: Any = None) -> Any:
        return self.error if self.api.calls[number].ids == self.ids else default


@pytest.mark.parametrize("refused_again", [False, True], ids=["accepted", "refused-again"])
async def test_a_resumed_run_sends_a_never_sent_batch_at_once(
    tmp_path: Path, refused_again: bool
) -> None:
    """Killed while one batch waits because Zoho was unavailable (never sent) and another's
    POST had landed; resumed with a settling deadline shorter than the wait for a lost job
    of unknown length. The first goes again at once, as the resumed session's first call
    (nothing of it can be running). Accepted, its job shows how long jobs take: the second
    is settled within the deadline, found converted by its landed POST. Refused on every try
    (paced, using no round), the first is rejected with Zoho's code at its deadline; the
    second, which may have reached Zoho, still gets its one round once its lost job's wait
    is over (the deadline counts from a batch's first resubmission), and is found
    converted."""
    path = tmp_path / "run.journal"
    crash = Crash(lambda call: call.ids == BATCHES[1])
    unavailable = ServerError(503, "SERVICE_UNAVAILABLE", "try later", maybe_processed=False)
    api = FakeAPI(submit_faults={0: unavailable}, duration=DURATION, on_processed=crash)
    if refused_again:
        api.submit_faults = RefusedBatch(api, BATCHES[0], unavailable)
    await crash.run(
        convert_many(
            api, "Quotes", IDS[:100], to="Sales_Orders", journal=str(path), max_pending_jobs=2
        )
    )
    assert batch_rows(path)[0] == ("uncertain", 0, None)
    resumed_at = api.now

    settle = SettlePolicy(deadline=20.0, max_rounds=1)
    report = await resume(api, str(path), settle=settle)

    again = api.calls[2]
    assert again.ids == BATCHES[0] and again.sent == resumed_at
    if refused_again:
        assert {(r.id, r.code) for r in report.rejected} == {
            (i, "SERVICE_UNAVAILABLE") for i in BATCHES[0]
        }
        assert sorted(report.already_converted_ids) == sorted(BATCHES[1])
        assert not report.uncertain and report.converted == 0
        tries = [call.sent for call in api.calls if call.ids == BATCHES[0]]
        assert len(tries) > 3 and tries[-1] <= resumed_at + settle.deadline  # (paced)
        settled = [call for call in api.calls if call.ids == BATCHES[1]][1]
        assert settled.sent >= resumed_at + settle.unknown_wait
    else:
        assert report.ok and report.converted == 50
        assert sorted(report.already_converted_ids) == sorted(BATCHES[1])
    assert report.accounted_for
    api.finish_jobs()
    assert not api.converted_twice()
