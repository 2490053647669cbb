"""Round 2 against the independent server (``alt_server``): resume, Leads, fleets, hostile
statuses and tokens, each report judged id by id against that server's ledger.

Round 1 (``test_unseen_server.py``) judged single runs. Here a journaled run is cancelled or
stopped at several points under lost replies and forgotten jobs and then resumed (by a new
client, as a new process would), two resumes race for one journal, Leads go through the
Leads mass convert with Convert Lead checks in each documented reply shape, two fleet runs
share a ``RedisLedger`` on overlapping ids, and statuses and tokens take the liberties the
specs leave (counts that go down, long SCHEDULED, errors under HTTP 200, Retry-After dates,
tokens revoked mid-run, a token reply without ``api_domain``). Client and server share one
virtual clock (``SummingTime``): no test sleeps for real.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
from alt_env import AltEnv, alt_envs
from alt_server import AltConfig, Rates
from fakes import deadline
from test_unseen_server import POLL, judge

from zoho_convert import (
    AuthenticationError,
    ConversionReport,
    JournalInUseError,
    ZohoConvertClient,
)
from zoho_convert.bulk.events import (
    BatchSubmitted,
    BatchUncertain,
    JobFinished,
    SubmitStarted,
)

CASE_TIMEOUT = 30.0


Env = AltEnv


@pytest.fixture
async def alt() -> AsyncIterator[Any]:
    """Start an ``AltServer`` with a config on a virtual clock."""
    async with alt_envs(Env) as make:
        yield make


def ids_of(env: Env, module: str, count: int, preconverted: int = 0, locked: int = 0) -> Any:
    """``count`` new records of ``module``; some converted before the run, some locked."""
    ids = env.server.create(module, count)
    before = ids[3 : 3 + 7 * preconverted : 7]
    env.server.preconvert(module, before)
    env.server.locked.update(ids[-2 : -2 - 11 * locked : -11])
    return ids, before


def final_counts(env: Env, module: str, ids: Sequence[str]) -> dict[str, int]:
    """The ledger once every job has had its time."""
    env.time.now += 100_000
    return env.server.counts(module, list(ids))


async def stopped_run(
    env: Env,
    client: ZohoConvertClient,
    ids: Sequence[str],
    journal: str,
    *,
    point: Callable[[object], bool],
    nth: int,
    module: str = "Quotes",
    **options: Any,
) -> tuple[ConversionReport | None, bool]:
    """A journaled ``convert_many`` cancelled at the ``nth`` event ``point`` picks; returns
    its (partial) report and whether it was cancelled (False: it ended first)."""
    seen = 0
    task: asyncio.Task[ConversionReport] | None = None

    def progress(event: object) -> None:
        nonlocal seen
        if point(event):
            seen += 1
            if seen == nth and task is not None:
                task.cancel()

    if module != "Leads":
        options.setdefault("to", "Sales_Orders")
    options.setdefault("poll", POLL)
    task = asyncio.create_task(
        client.convert_many(module, ids, journal=journal, progress=progress, **options)
    )
    try:
        return await task, False
    except asyncio.CancelledError as error:
        if not task.cancelled():
            raise
        return getattr(error, "partial_report", None), True


def judge_partial(report: ConversionReport, counts: dict[str, int], before: list[str]) -> None:
    """What an interrupted session said must hold once everything ended: no id it reported
    converted (a finished job's count, converted by record) missing from the ledger, none it
    rejected with Zoho's code converted."""
    pre = set(before)
    for value in report.converted_by_record:
        assert counts[value] == 1 and value not in pre
    for item in report.rejected:
        if item.code == "ID_ALREADY_CONVERTED":
            assert counts[item.id] == 1
        elif item.code != "NOT_SUBMITTED":
            assert counts[item.id] == 0, f"{item.id} rejected {item.code}, yet converted"
    for value in report.already_converted_ids:
        assert counts[value] == 1
    for job in report.jobs:
        if job.finished and job.ids and job.status is not None:
            held = sum(counts[i] for i in job.ids if job.settling or i not in pre)
            claimed = job.status.converted_count or 0
            assert held >= claimed, f"job {job.job_id}: ledger {held}, said {claimed}"


LOSSY = {
    "submit": Rates(p500_after=0.2, pdrop_after=0.1, p500_before=0.05),
    "status": Rates(p500_before=0.1, pdrop_before=0.05),
    "single": Rates(p500_after=0.1),
}


def of(kind: type) -> Callable[[object], bool]:
    """Events of type ``kind``."""
    return lambda event: isinstance(event, kind)


POINTS: dict[str, tuple[Callable[[object], bool], int]] = {
    "first-submit-started": (of(SubmitStarted), 1),
    "fourth-submit-started": (of(SubmitStarted), 4),
    "third-job-id": (of(BatchSubmitted), 3),
    "first-lost-reply": (of(BatchUncertain), 1),
    "second-job-finished": (of(JobFinished), 2),
    "first-settling-job": (lambda e: isinstance(e, BatchSubmitted) and e.settling, 1),
    "first-settling-job-ended": (lambda e: isinstance(e, JobFinished) and e.settling, 1),
}


@pytest.mark.parametrize("gap", [0.0, 5_000.0], ids=["at-once", "jobs-forgotten"])
@pytest.mark.parametrize("point", sorted(POINTS))
@pytest.mark.parametrize("already", ["in_job", "refuse_index"])
async def test_stopped_then_resumed_report_true(
    alt: Any, tmp_path: Path, point: str, gap: float, already: str
) -> None:
    """A journaled run under lost replies and forgotten jobs, cancelled at several points and
    resumed by a new client (at once, or after its jobs were forgotten): the resumed report
    covers the whole run and matches the ledger id by id, nothing converted twice."""
    config = AltConfig(
        seed=len(point) * 7 + int(gap),
        already=already,  # type: ignore[arg-type]
        forget_after=60.0,
        token_life=1e9,
        rates=LOSSY,
        # (The third submit's reply is lost for sure, and the four after it are answered:
        # which requests the random faults hit depends on their order of arrival, so a run
        # could end before its first lost reply, or its third job id.)
        fault_plan={"submit": [None, None, "500_after", None, None, None, None]},
    )
    env = await alt(config)
    ids, before = ids_of(env, "Quotes", 400, preconverted=3, locked=2)
    journal = str(tmp_path / "run.db")
    pick, nth = POINTS[point]
    async with deadline(CASE_TIMEOUT):
        partial, stopped = await stopped_run(
            env, await env.client(), ids, journal, point=pick, nth=nth, max_pending_jobs=4
        )
        env.time.now += gap
        if stopped:
            report = await (await env.client()).resume(journal, ids=iter(ids), poll=POLL)
        else:
            assert partial is not None
            report = partial
    counts = final_counts(env, "Quotes", ids)
    judge(report, counts, before)
    assert report.input_complete
    assert stopped or point.startswith("first-settling"), "the run ended before the point"
    if partial is not None:
        judge_partial(partial, counts, before)


async def test_resumed_twice_report_true(alt: Any, tmp_path: Path) -> None:
    """A run cancelled, its resume cancelled too, then resumed again: the third session's
    report matches the ledger, nothing converted twice."""
    env = await alt(AltConfig(seed=5, forget_after=30.0, rates=LOSSY))
    ids, before = ids_of(env, "Quotes", 400, preconverted=2, locked=1)
    journal = str(tmp_path / "run.db")
    async with deadline(CASE_TIMEOUT):
        _, stopped = await stopped_run(
            env,
            await env.client(),
            ids,
            journal,
            point=of(BatchSubmitted),
            nth=3,
            max_pending_jobs=3,
        )
        assert stopped
        client = await env.client()
        seen = 0
        task: asyncio.Task[ConversionReport] | None = None

        def progress(event: object) -> None:
            nonlocal seen
            if isinstance(event, (JobFinished, BatchSubmitted)):
                seen += 1
                if seen == 2 and task is not None:
                    task.cancel()

        task = asyncio.create_task(
            client.resume(journal, ids=iter(ids), poll=POLL, progress=progress, max_pending_jobs=3)
        )
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert task.cancelled() or task.result().input_complete
        env.time.now += 200.0
        report = await (await env.client()).resume(journal, ids=iter(ids), poll=POLL)
    judge(report, final_counts(env, "Quotes", ids), before)
    assert report.input_complete


async def test_stopped_by_a_revoked_token_then_resumed(alt: Any, tmp_path: Path) -> None:
    """A run stopped by a token revoked mid-run (AuthenticationError, with the report so far)
    is resumed with a new token: the report matches the ledger, nothing converted twice."""
    env = await alt(AltConfig(seed=9, revoke_at=1006.0, rates=LOSSY))
    ids, before = ids_of(env, "Quotes", 400, preconverted=2)
    journal = str(tmp_path / "run.db")
    async with deadline(CASE_TIMEOUT):
        client = await env.client()
        with pytest.raises(AuthenticationError) as caught:
            await client.convert_many(
                "Quotes", ids, to="Sales_Orders", journal=journal, poll=POLL, max_pending_jobs=3
            )
        partial = caught.value.partial_report
        fresh = await env.client(token=env.server.mint_token())
        report = await fresh.resume(journal, ids=iter(ids), poll=POLL)
    counts = final_counts(env, "Quotes", ids)
    judge_partial(partial, counts, before)
    judge(report, counts, before)
    assert sum(counts.values()) == 400


async def test_two_resumes_race_one_is_refused(alt: Any, tmp_path: Path) -> None:
    """Two resumes of one journal at once (a cron overlap): one is refused with
    JournalInUseError, the other's report matches the ledger, nothing converted twice."""
    env = await alt(AltConfig(seed=13, rates=LOSSY))
    ids, before = ids_of(env, "Quotes", 300, preconverted=2)
    journal = str(tmp_path / "run.db")
    async with deadline(CASE_TIMEOUT):
        _, stopped = await stopped_run(
            env,
            await env.client(),
            ids,
            journal,
            point=of(BatchSubmitted),
            nth=2,
            max_pending_jobs=2,
        )
        assert stopped
        first, second = await env.client(), await env.client()
        outcomes = await asyncio.gather(
            first.resume(journal, ids=iter(ids), poll=POLL),
            second.resume(journal, ids=iter(ids), poll=POLL),
            return_exceptions=True,
        )
    refused = [o for o in outcomes if isinstance(o, JournalInUseError)]
    reports = [o for o in outcomes if isinstance(o, ConversionReport)]
    assert len(refused) == 1 and len(reports) == 1, outcomes
    judge(reports[0], final_counts(env, "Quotes", ids), before)


async def run_once(
    env: Env,
    module: str,
    ids: Sequence[str],
    client: ZohoConvertClient | None = None,
    **options: Any,
) -> ConversionReport:
    """One ``convert_many`` of ``ids`` (to Sales_Orders unless Leads)."""
    if module != "Leads":
        options.setdefault("to", "Sales_Orders")
    options.setdefault("poll", POLL)
    client = client or await env.client()
    async with deadline(CASE_TIMEOUT):
        return await client.convert_many(module, ids, **options)


LEAD_FAULTS = {
    "none": {},
    "lost-submits": {"submit": Rates(p500_after=0.25, pdrop_after=0.1)},
    "lost-submits-and-checks": {
        "submit": Rates(p500_after=0.25, pdrop_after=0.1),
        "lead": Rates(p500_after=0.15, p429=0.1, pdrop_before=0.05),
    },
}


@pytest.mark.parametrize("faults", sorted(LEAD_FAULTS))
@pytest.mark.parametrize("shape", ["top", "data", "bare202"])
@pytest.mark.parametrize("already", ["in_job", "refuse_index", "refuse_data"])
async def test_leads_report_true(alt: Any, faults: str, shape: str, already: str) -> None:
    """Leads through the Leads mass convert (capitalised status keys in ``data``), with
    preconverted and locked leads and lost replies, their Convert Lead checks answered in each
    documented shape (HTTP 400 top level, 202 inside ``data``, 202 bare with
    ``resource_path_index``): the report matches the ledger id by id."""
    config = AltConfig(
        seed=len(faults) + len(shape),
        leads_mass=True,
        single_errors=shape,  # type: ignore[arg-type]
        already=already,  # type: ignore[arg-type]
        rates=LEAD_FAULTS[faults],
    )
    env = await alt(config)
    ids, before = ids_of(env, "Leads", 250, preconverted=4, locked=3)
    report = await run_once(env, "Leads", ids)
    judge(report, final_counts(env, "Leads", ids), before)
    assert sum(env.server.ledger.values()) == 250 - 3


async def test_leads_resumed_report_true(alt: Any, tmp_path: Path) -> None:
    """A Leads run cancelled after its first lost reply and resumed: the report matches the
    ledger, nothing converted twice."""
    rates = {"submit": Rates(p500_after=0.3), "lead": Rates(p500_after=0.1)}
    env = await alt(AltConfig(seed=4, leads_mass=True, single_errors="bare202", rates=rates))
    ids, before = ids_of(env, "Leads", 300, preconverted=2, locked=2)
    journal = str(tmp_path / "run.db")
    async with deadline(CASE_TIMEOUT):
        _, stopped = await stopped_run(
            env,
            await env.client(),
            ids,
            journal,
            point=of(BatchUncertain),
            nth=1,
            module="Leads",
            max_pending_jobs=3,
        )
        assert stopped
        report = await (await env.client()).resume(journal, ids=iter(ids), poll=POLL)
    judge(report, final_counts(env, "Leads", ids), before)


HOSTILE = {
    "counts-go-down": AltConfig(counts_wobble=True, counts="int", duration=30.0),
    "scheduled-long": AltConfig(scheduled_for=900.0, duration=20.0),
    "status-200-error-body": AltConfig(rates={"status": Rates(p200_error=0.3)}),
    "submit-200-error-body": AltConfig(rates={"submit": Rates(p200_error=0.2)}),
    "retry-after-date": AltConfig(
        rates={
            "status": Rates(p429=0.3, retry_after="Wed, 21 Oct 2026 07:28:00 GMT"),
            "submit": Rates(p429=0.2, retry_after="Wed, 21 Oct 2026 07:28:00 GMT"),
        }
    ),
    "retry-after-garbage": AltConfig(
        rates={
            "status": Rates(p429=0.3, retry_after="soon"),
            "submit": Rates(p429=0.2, retry_after="-5"),
        }
    ),
    "retry-after-long": AltConfig(rates={"status": Rates(p429=0.2, retry_after="120")}),
    "html-500-on-status": AltConfig(rates={"status": Rates(p500_before=0.3, http_500_body=False)}),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_hostile_statuses_report_true(alt: Any, name: str) -> None:
    """Liberties a hostile server may take with statuses and throttling (counts that go down
    while a job runs, SCHEDULED for minutes, an error body under HTTP 200, Retry-After as a
    date or garbage, HTML 500s on polls): the report matches the ledger id by id."""
    env = await alt(attrs.evolve(HOSTILE[name], seed=21))
    ids, before = ids_of(env, "Quotes", 300, preconverted=3, locked=2)
    report = await run_once(env, "Quotes", ids)
    judge(report, final_counts(env, "Quotes", ids), before)
    assert not report.unfinished


@pytest.mark.parametrize("api_domain", [True, False], ids=["api-domain", "no-api-domain"])
async def test_tokens_revoked_mid_run_are_refreshed(alt: Any, api_domain: bool) -> None:
    """401 INVALID_TOKEN mid-run on tokens that should still live (revoked on the server), and
    token replies with or without ``api_domain``: the refresh-token client refreshes and
    goes on; the report matches the ledger; no secret appears in it."""
    rates = {"submit": Rates(p401=0.15), "status": Rates(p401=0.1), "single": Rates(p401=0.1)}
    env = await alt(AltConfig(seed=17, token_api_domain=api_domain, rates=rates))
    ids, before = ids_of(env, "Quotes", 300, preconverted=2)
    report = await run_once(env, "Quotes", ids, await env.client(refresh=True))
    judge(report, final_counts(env, "Quotes", ids), before)
    assert not report.uncertain and report.converted == 298, report.to_json()
    assert ("submit", "401") in env.server.faults and ("status", "401") in env.server.faults
    text = report.to_json()
    assert env.server.client_secret not in text and env.server.refresh_token not in text
    assert not any(token in text for token in env.server.tokens)


async def test_static_token_revoked_mid_run_stops_with_a_true_partial_report(alt: Any) -> None:
    """A static token revoked mid-run stops the run with AuthenticationError; its partial
    report says nothing false against the ledger and lists every id."""
    env = await alt(AltConfig(seed=3, revoke_at=1005.0, rates=LOSSY))
    ids, before = ids_of(env, "Quotes", 400, preconverted=2)
    with pytest.raises(AuthenticationError) as caught:
        await run_once(env, "Quotes", ids, max_pending_jobs=3)
    partial: ConversionReport = caught.value.partial_report
    counts = final_counts(env, "Quotes", ids)
    judge_partial(partial, counts, before)
    assert partial.accounted_for


async def test_fleet_runs_on_overlapping_ids_report_true(alt: Any) -> None:
    """Two runs sharing a RedisLedger (a real redis-server) convert overlapping lists against
    alt_server with lost replies: nothing is converted twice, neither report says a record
    converted that the ledger lacks or fails one it holds (other than as held elsewhere),
    and between them every record the ledger holds is reported."""
    pytest.importorskip("redis")
    from redis_helpers import need_redis_server  # noqa: PLC0415

    from zoho_convert.fleet import RedisFleet  # noqa: PLC0415
    from zoho_convert.fleet.localserver import RedisServerProcess  # noqa: PLC0415

    need_redis_server("the fleet tests")
    rates = {"submit": Rates(p500_after=0.15, pdrop_after=0.05), "status": Rates(p500_before=0.1)}
    env = await alt(AltConfig(seed=31, token_life=1e9, rates=rates))
    ids, before = ids_of(env, "Quotes", 450, preconverted=2, locked=1)
    with RedisServerProcess() as redis:
        fleets = [RedisFleet(redis.url, namespace="alt-round2") for _ in range(2)]
        try:
            for fleet in fleets:
                await fleet.start()
            clients = [await env.client(fleet=fleet) for fleet in fleets]
            async with deadline(CASE_TIMEOUT):
                first, second = await asyncio.gather(
                    run_once(env, "Quotes", ids[:300], clients[0]),
                    run_once(env, "Quotes", ids[150:], clients[1]),
                )
        finally:
            for fleet in fleets:
                await fleet.close()
    counts = final_counts(env, "Quotes", ids)
    assert max(counts.values()) <= 1, "a record was converted twice"
    pre = set(before)
    reported: set[str] = set()
    for report, part in ((first, ids[:300]), (second, ids[150:])):
        assert report.accounted_for and report.total == len(part)
        judge_partial(report, counts, before)
        for item in report.rejected:
            assert item.code != "CLAIMED_ELSEWHERE" or counts[item.id] == 1
        reported |= set(report.already_converted_ids) | set(report.converted_by_record)
        reported |= set(report.uncertain)
        listed = {i for job in report.jobs for i in job.ids} | {r.id for r in report.rejected}
        for job in report.jobs:  # judge_partial checked the job's count against the ledger
            if job.finished and job.status is not None and job.status.converted_count:
                reported.update(job.ids)
        reported |= {i for i in part if i not in listed and i not in pre}
    missing = [i for i, c in counts.items() if c and i not in pre and i not in reported]
    assert not missing, f"{len(missing)} converted records no report claims"
