"""The client against an independent Zoho-like server (``alt_server``): report against ledger.

``alt_server.AltServer`` reads the seed pages and the OpenAPI v8 specs literally and picks,
wherever they leave room, other choices than our simulator: bare status objects with counts as
strings or absent, title-case states, extra keys, numeric job ids, 200 on submit, records
converted one by one while a job runs (never reserved by a pending job), FAILED after
converting some, already-converted ids failed in the job or refused in several documented
shapes, forgotten jobs, errors inside ``data`` with 202, tokens that die early. Every run is
judged id by id against that server's own ledger (``truth.assert_report_true``). Client and
server share one virtual clock (``SummingTime``): no test sleeps for real.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
from alt_env import AltEnv, alt_envs
from alt_server import AltConfig, AltServer, Rates
from fakes import SummingTime, deadline
from truth import assert_report_true

from zoho_convert import (
    ConversionReport,
    PollPolicy,
    ZohoConvertClient,
)
from zoho_convert.api.errors import RecordStateError
from zoho_convert.api.models import JobState

POLL = PollPolicy(initial=0.5, multiplier=2.0, max_interval=5.0, timeout=3_000)
CASE_TIMEOUT = 30.0


@attrs.define
class Alt:
    """A server, a client of it, their clock."""

    server: AltServer
    client: ZohoConvertClient
    time: SummingTime


@pytest.fixture
async def alt() -> AsyncIterator[Any]:
    """Start an ``AltServer`` with a config, and a client of it on one virtual clock."""
    async with alt_envs(AltEnv) as start:

        async def make(config: AltConfig, *, refresh: bool = False, **options: Any) -> Alt:
            env = await start(config)
            return Alt(env.server, await env.client(refresh=refresh, **options), env.time)

        yield make


async def run_many(
    env: Alt,
    count: int,
    *,
    preconverted: int = 0,
    locked: int = 0,
    **options: Any,
) -> tuple[ConversionReport, dict[str, int], list[str]]:
    """Convert ``count`` new Quotes (``preconverted`` of the first ones converted before the
    run; ``locked`` of the last ones locked), end every job, return the report, the ledger
    and the preconverted ids."""
    ids = env.server.create("Quotes", count)
    before = ids[3 : 3 + 7 * preconverted : 7]
    env.server.preconvert("Quotes", before)
    env.server.locked.update(ids[-2 : -2 - 11 * locked : -11])
    options.setdefault("poll", POLL)
    async with deadline(CASE_TIMEOUT):
        report = await env.client.convert_many("Quotes", ids, to="Sales_Orders", **options)
    env.time.now += 100_000
    return report, env.server.counts("Quotes", ids), before


def judge(report: ConversionReport, counts: dict[str, int], before: list[str]) -> None:
    """Issue 11's invariant, per id against the ledger: no id reported converted that the
    ledger does not hold; none it holds reported failed, not converted or rejected other than
    as already converted; uncertain and unfinished ids listed; nothing converted twice
    (``truth.assert_report_true``, accepting an id converted before the run reported
    ``already_converted``: a batch whose submit reply was lost cannot tell "before the run"
    from "by the lost submission", both the same refusal on the wire)."""
    assert_report_true(report, counts, preconverted=before, either_converter=True)


SHAPES = {
    "bare-title-str": AltConfig(),
    "data-upper-int-202-strid": AltConfig(
        status_wrap="data",
        state_case="upper",
        counts="int",
        submit_http=202,
        job_id_number=False,
        extra_fields=False,
        not_converted_key="not_converted_count",
    ),
    "counts-only-when-final": AltConfig(counts="final"),
    "long-scheduled": AltConfig(scheduled_for=40.0, duration=30.0),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
async def test_status_shapes_report_true(alt: Any, name: str) -> None:
    """Each documented status shape (bare/data, case, string counts, counts absent until the
    job ends) gives a report true to the ledger, every record converted once."""
    env = await alt(SHAPES[name])
    report, counts, before = await run_many(env, 260)
    judge(report, counts, before)
    assert report.ok and report.converted == 260, report.to_json()


@pytest.mark.parametrize("failed_state", ["completed", "failed_if_any", "failed_if_all"])
@pytest.mark.parametrize("already", ["in_job", "refuse_index", "refuse_id", "refuse_data"])
async def test_preconverted_and_locked(alt: Any, already: str, failed_state: str) -> None:
    """Already-converted ids (failed in the job, or refused in each documented shape) and locked
    ids failed inside jobs that end COMPLETED or FAILED after converting the others: the report
    still matches the ledger, id by id."""
    env = await alt(AltConfig(already=already, failed_state=failed_state))  # type: ignore[arg-type]
    report, counts, before = await run_many(env, 200, preconverted=6, locked=4)
    judge(report, counts, before)
    assert sum(counts.values()) == 200 - 4
    assert report.converted + report.already_converted + len(report.converted_by_record) >= 190


async def test_forgotten_jobs(alt: Any) -> None:
    """Jobs whose status is forgotten soon after they end (400 "The job_id is invalid") are
    settled; the report stays true and leaves nothing uncertain."""
    env = await alt(AltConfig(forget_after=0.5, scheduled_for=0.2, duration=0.5))
    report, counts, before = await run_many(env, 150)
    judge(report, counts, before)
    assert report.lost_jobs and not report.uncertain


async def test_jobs_forgotten_as_they_end(alt: Any) -> None:
    """A server that keeps a job's status only while the job runs (forgotten as it ends: the
    docs give no retention) still leaves no id uncertain: each record's single convert says
    whether it is converted."""
    env = await alt(AltConfig(forget_after=0.0, scheduled_for=0.2, duration=0.5))
    report, counts, before = await run_many(env, 150)
    judge(report, counts, before)
    held = sum(counts.values())
    assert not report.uncertain, f"{len(report.uncertain)} of 150 uncertain, ledger {held}"


async def test_completed_without_zero_counts(alt: Any) -> None:
    """A COMPLETED status that leaves out its zero counts (the OAS marks no key required) is
    not taken for a success nor a failure it did not state: the report stays true, nothing
    uncertain."""
    env = await alt(AltConfig(counts="nonzero"))
    report, counts, before = await run_many(env, 120, preconverted=2)
    judge(report, counts, before)
    assert not report.uncertain


async def test_forgotten_jobs_204(alt: Any) -> None:
    """The same with 204 No Content for a forgotten job."""
    env = await alt(AltConfig(forget_after=0.0, forget_reply="204", duration=0.5))
    report, counts, before = await run_many(env, 150)
    judge(report, counts, before)


FAULTS = {
    "429-no-retry-after": {"submit": Rates(p429=0.3), "status": Rates(p429=0.3)},
    "429-retry-after": {
        "submit": Rates(p429=0.3, retry_after="2"),
        "status": Rates(p429=0.2, retry_after="1"),
    },
    "500-before": {"submit": Rates(p500_before=0.2), "status": Rates(p500_before=0.2)},
    "500-after-html": {"submit": Rates(p500_after=0.15, http_500_body=False)},
    "drops": {
        "submit": Rates(pdrop_before=0.1, pdrop_after=0.1),
        "status": Rates(pdrop_before=0.1),
    },
    "single-faults": {
        "submit": Rates(p500_after=0.2),
        "single": Rates(p500_after=0.1, pdrop_after=0.1, p429=0.1),
    },
}


@pytest.mark.parametrize("name", sorted(FAULTS))
@pytest.mark.parametrize("already", ["in_job", "refuse_index"])
async def test_faults_report_true(alt: Any, name: str, already: str) -> None:
    """Under each kind of fault, on a server that fails already-converted ids in the job or
    refuses them, the report matches the ledger id by id."""
    config = AltConfig(seed=7, already=already, rates=FAULTS[name])  # type: ignore[arg-type]
    env = await alt(config)
    report, counts, before = await run_many(env, 300, preconverted=3, locked=2)
    judge(report, counts, before)


async def test_token_dies_early(alt: Any) -> None:
    """An access token that dies long before its expires_in is refreshed and the run goes on;
    no token or secret appears in the report."""
    env = await alt(AltConfig(token_life=3.0, token_ms=True), refresh=True)
    report, counts, before = await run_many(env, 200)
    judge(report, counts, before)
    assert report.ok
    text = report.to_json() + repr(env.client)
    assert env.server.client_secret not in text and env.server.refresh_token not in text
    assert not any(token in text for token in env.server.tokens)
    assert sum(1 for _, path in env.server.requests if path == "/oauth/v2/token") >= 2


async def test_single_convert_shapes(alt: Any) -> None:
    """Single inventory convert and Convert Lead: success read, and an error inside ``data``
    with HTTP 202 (the Convert Lead OAS) raised as the record's state, not taken as success."""
    env = await alt(AltConfig(single_errors="data"))
    quote, done = env.server.create("Quotes", 2)
    env.server.preconvert("Quotes", [done])
    record = await env.client.convert("Quotes", quote, to="Invoices")
    assert record.module == "Invoices" and env.server.ledger[("Quotes", quote)] == 1
    with pytest.raises(RecordStateError) as caught:
        await env.client.convert("Quotes", done, to="Invoices")
    assert caught.value.code == "ID_ALREADY_CONVERTED"
    lead, locked = env.server.create("Leads", 2)
    env.server.locked.add(locked)
    result = await env.client.convert_lead(lead)
    assert result.contacts is not None and env.server.ledger[("Leads", lead)] == 1
    with pytest.raises(RecordStateError) as caught:
        await env.client.convert_lead(locked)
    assert caught.value.code == "RECORD_LOCKED"
    assert ("Leads", locked) not in env.server.ledger


async def test_single_job_status_reads(alt: Any) -> None:
    """mass_convert and wait_for_job read a numeric job id and a title-case, string-count
    bare status; a job FAILED after converting some says so in its counts."""
    env = await alt(AltConfig(failed_state="failed_if_any"))
    ids = env.server.create("Quotes", 10)
    env.server.locked.add(ids[4])
    job = await env.client.mass_convert("Quotes", ids, to="Sales_Orders")
    status = await env.client.wait_for_job("Quotes", job, poll=POLL)
    assert status.state is JobState.FAILED
    assert (status.converted_count, status.failed_count) == (9, 1)
    assert sum(env.server.counts("Quotes", ids).values()) == 9


async def test_slow_replies_past_the_timeout(alt: Any) -> None:
    """Submits processed but answered after the client's request timeout (real time: the
    timeout is aiohttp's) are settled; the report matches the ledger, nothing twice."""
    rates = {"submit": Rates(pslow_after=0.5, slow=0.4), "single": Rates(pslow_after=0.1, slow=0.4)}
    env = await alt(AltConfig(seed=3, rates=rates), request_timeout=0.25)
    report, counts, before = await run_many(env, 200, preconverted=2, locked=1)
    judge(report, counts, before)
    assert ("submit", "slow_after") in env.server.faults


@pytest.mark.parametrize("already", ["in_job", "refuse_data"])
async def test_queued_jobs_with_lost_submits(alt: Any, already: str) -> None:
    """Jobs queued one after another (a lost submit's job may start long after the jobs the
    run has seen end) with 20 % of submits processed then answered 500: the settling never
    makes the report false."""
    rates = {"submit": Rates(p500_after=0.2, pdrop_after=0.05)}
    config = AltConfig(seed=11, queue=True, duration=3.0, already=already, rates=rates)  # type: ignore[arg-type]
    env = await alt(config)
    report, counts, before = await run_many(env, 500, preconverted=3, locked=2)
    judge(report, counts, before)
    assert ("submit", "500_after") in env.server.faults
