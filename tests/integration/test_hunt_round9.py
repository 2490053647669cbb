"""Round 9 of the adversarial hunt: the HTTP layer, what a proxy or a load balancer in front of
Zoho (or a changed Zoho) can put on the wire, and the report's truth under it.

``alt_wire`` adds to the independent server ``alt_server`` the replies earlier rounds did not
send: a gateway's HTML pages (400, 404, 408, 502, 503, 504) before or after the request was
processed; 200 with an HTML page or an empty body after processing; JSON cut mid-body and the
connection closed; a TCP reset after processing; the right JSON with a UTF-8 byte-order mark,
as ``text/plain``, gzip-encoded or chunked; 429s whose body is HTML, text, Zoho's error inside
``data`` or names another code (``LIMIT_EXCEEDED``); status replies naming another job of the
run, holding several rows, or giving counts as ``10.0``; token replies whose ``expires_in`` is
a string, a float, absent or words, or whose ``api_domain`` ends in ``/``. Each fault alone
(on the submit, the status poll, the single convert and the token call) and a seeded random
sweep mixing them (``sweep_config``: 680 configurations, with odd Retry-After values, lost
replies, every already-converted shape, forgotten jobs, locked and converted records; a run
stopped by an error judged by its partial report) were judged id by id against the server's
ledger.

Found, each fixed in the reading layer (``zoho_convert/api/``) and pinned below:

- a status reply naming another job (``job_id`` in its row), or holding that job's row before
  this one's, was read as this job's: records a job failed were reported converted
  (``wire.parse_job_status`` now reads only a row naming the job, or rows naming none that
  agree; anything else is an unusable reply, polled again);
- an empty 200 to a status poll was read as Zoho's 204, "job no longer known": every job so
  answered once was lost and settled by resubmission (``replies.decode_reply``: only a 204 is
  No Content; an empty 2xx is unreadable);
- a 429 whose body named a code of Zoho's table that is not a throttle (``LIMIT_EXCEEDED``)
  stopped the whole run with ``InvalidRequestError`` and the hint "send at most 50 ids"
  (``errors.error_for``: a 429 is a ``RateLimitError`` whatever its code);
- a 408, or a 4xx page without Zoho's error body answering a status poll, stopped the whole run
  (``replies.decode_reply``: a ``ServerError``, retried, no news of the job; a 408 to a POST
  may have been processed, so its batch is settled);
- a proxy's 400, 404 or 408 page from the token endpoint was taken for refused credentials
  and stopped the run (``oauth.read_token_reply``: retried like a 5xx);
- counts written ``10.0`` made every status unusable, the run ending at the poll timeout
  (``wire._count`` reads an integral float), and an ``expires_in`` written ``"3600"`` was
  ignored (``oauth._seconds`` reads numeric strings);
- in the engine: a batch paced after 429s waited out a Retry-After of years (``1e9``, a date
  in 2099), then was rejected ``TOO_MANY_REQUESTS`` (``bulk/settle_plan.py``,
  ``SettlePlan.throttled``: honoured up to the batch's settling deadline); a 404 page
  answering a record's single convert was taken for Zoho refusing the single call, which
  stopped the record checks for the run and left later settling jobs' records uncertain
  (``bulk/machine.py``, ``RunMachine.refused``: the record goes again after a short pause).

Not findings: every other shape above ended true to the ledger (kept at the end). Uncertain
ids in the sweep came from settling rounds or deadlines used up on this clock (concurrent
sleeps add up on ``SummingTime``) and from multi-status (207) replies, which are settled as
lost replies by design (round 6); none was reported falsely. Runs stopped by a 400 or 404
page to a first mass convert (it may be about the request: by design), or by a 404 page to a
later one (review 2 kept the refusals taken for a batch's ids to 400 and 403), had true
partial reports, but for an id converted before the run that the stopped run never sent,
reported ``NOT_SUBMITTED`` (or, given up after 429s, ``TOO_MANY_REQUESTS``): true, though the
ledger holds it (round 7's note). Client and server share
one virtual clock (``SummingTime``); only ``test_slow_polls_past_the_timeout`` waits for real
(aiohttp's timeout).
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from alt_server import AltConfig, Rates
from alt_wire import AFTER, BEFORE, DRESS, STATUS_ONLY
from fakes import deadline
from test_unseen_server import judge

from zoho_convert import ConversionReport, InvalidRequestError, PollPolicy

CASE_TIMEOUT = 30.0
POLL = PollPolicy(initial=0.5, multiplier=2.0, max_interval=5.0, timeout=3_000)


async def judged(
    alt: Any,
    config: AltConfig,
    *,
    count: int = 60,
    preconverted: int = 2,
    locked: int = 0,
    refresh: bool = False,
    client_options: dict[str, Any] | None = None,
    **options: Any,
) -> tuple[ConversionReport, Any]:
    """Convert ``count`` new Quotes (the ids at 3 and 10 converted before the run, unless
    ``preconverted`` says fewer; ``locked`` of the last ones locked) in batches of 10 unless
    ``options`` say, end every job, and judge the report id by id against the server's
    ledger. Returns the report and the environment."""
    env = await alt(config)
    ids = env.server.create("Quotes", count)
    before = [ids[k] for k in (3, 10)[:preconverted]]
    env.server.preconvert("Quotes", before)
    env.server.locked.update(ids[-2 : -2 - 11 * locked : -11])
    client = await env.client(refresh=refresh, **(client_options or {}))
    options.setdefault("batch_size", 10)
    async with deadline(CASE_TIMEOUT):
        report = await client.convert_many("Quotes", ids, to="Sales_Orders", poll=POLL, **options)
    env.time.now += 100_000
    judge(report, env.server.counts("Quotes", ids), before)
    return report, env


def odd(kind: str, fault: str, rate: float, **config: Any) -> AltConfig:
    """A config serving ``fault`` (of ``alt_wire``) to a ``rate`` of the requests of ``kind``."""
    config.setdefault("token_life", 1e9)
    return AltConfig(rates={kind: Rates(odd={fault: rate})}, **config)


# -- findings, fixed ---------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["other_job", "multi_rows"])
async def test_a_status_naming_another_job_is_never_read_as_this_ones(
    alt: Any, fault: str
) -> None:
    """60 Quotes in batches of 10 (two converted before the run: failed inside their jobs),
    30 % of the status replies being another job's row, named (``other_job``), or that row
    then this job's (``multi_rows``): each job's report is its own. Observed before (seed 1):
    a batch holding a record converted before the run was reported fully converted by the
    status of another job (9 converted reported 10: "reported converted, ledger 1" for the
    record converted before the run)."""
    report, env = await judged(alt, odd("status", fault, 0.3, seed=1))
    assert ("status", fault) in env.server.faults
    assert report.converted == 58 and report.failed == 2


async def test_an_empty_200_to_a_poll_is_not_a_job_zoho_forgot(alt: Any) -> None:
    """30 % of the status polls answered 200 with an empty body (a proxy's lost reply): the
    jobs are polled again and read. Observed before (seed 2): all 6 jobs taken for jobs Zoho
    no longer knew (as a 204 says), each settled by resubmission: all 60 records reported
    ``already_converted`` by their lost jobs, none converted, in 99 requests."""
    report, env = await judged(alt, odd("status", "200_empty_after", 0.3, seed=2))
    assert ("status", "200_empty_after") in env.server.faults
    assert not report.lost_jobs and report.converted == 58 and not report.already_converted


@pytest.mark.parametrize("kind", ["submit", "status"])
async def test_a_429_whose_body_names_another_code_is_a_throttle(alt: Any, kind: str) -> None:
    """30 % of the submits (or polls) answered HTTP 429 with Zoho's error body naming
    ``LIMIT_EXCEEDED`` (more than 50 ids, under a 400): retried as the throttle a 429 is.
    Observed before: the first one stopped the run with ``InvalidRequestError`` "HTTP 429
    LIMIT_EXCEEDED ... Resolution: send at most 50 record ids"."""
    report, env = await judged(alt, odd(kind, "429_limit", 0.3, seed=0))
    assert (kind, "429_limit") in env.server.faults
    assert report.converted == 58 and not report.uncertain


@pytest.mark.parametrize(
    ("kind", "fault"),
    [
        ("status", "400_html"),
        ("status", "404_html"),
        ("status", "408_html"),
        ("submit", "408_html"),
        ("submit", "408_html_after"),
    ],
)
async def test_a_proxys_4xx_page_does_not_stop_the_run(alt: Any, kind: str, fault: str) -> None:
    """30 % of the polls answered by a proxy's 400, 404 or 408 page, or of the submits by its
    408 (before, or after the submit was processed: the batch is settled as a lost reply):
    the run goes on and its report is true. Observed before: the first one stopped the run
    with ``InvalidRequestError`` "HTTP 4xx without a Zoho error body"."""
    report, env = await judged(alt, odd(kind, fault, 0.3, seed=0))
    assert (kind, fault) in env.server.faults
    claimed = _claimed_preconverted(report, env)
    assert report.converted + report.already_converted - claimed == 58 and not report.uncertain


@pytest.mark.parametrize("fault", ["400_html", "404_html", "408_html"])
async def test_a_proxys_page_from_the_token_endpoint_is_not_a_refused_refresh(
    alt: Any, fault: str
) -> None:
    """Access tokens that die after 2 s and 40 % of the token calls answered by a proxy's
    400, 404 or 408 page (no OAuth error body): the refresh is retried. Observed before: the
    first such page was remembered as refused credentials and stopped the run with
    ``AuthenticationError`` "the token endpoint refused the refresh"."""
    config = AltConfig(seed=0, token_life=2.0, rates={"token": Rates(odd={fault: 0.4})})
    report, env = await judged(alt, config, refresh=True)
    assert ("token", fault) in env.server.faults
    assert report.converted == 58


async def test_integral_float_counts_are_read(alt: Any) -> None:
    """Every status reply gives its counts as ``10.0`` (JSON has one number type; JSON
    Schema's ``integer`` admits it): read as counts. Observed before: every status unusable,
    every job polled until the poll timeout and its 10 ids left unfinished."""
    report, _ = await judged(alt, odd("status", "float_counts", 1.0, seed=0, counts="int"))
    assert report.converted == 58 and report.failed == 2 and not report.unfinished


@pytest.mark.parametrize("retry_after", ["1e9", "Wed, 21 Oct 2099 07:28:00 GMT"])
async def test_a_retry_after_of_years_holds_a_batch_no_longer_than_its_deadline(
    alt: Any, retry_after: str
) -> None:
    """10 Quotes, the first submit's 8 tries answered 429 with a Retry-After of 31 years (or a
    date in 2099): the client's retries wait 60 s each (``RetryPolicy.max_retry_after``),
    the batch is then paced to its settling deadline (900 s), no further, goes again and
    converts. Observed before: the run slept until the Retry-After (1e9 s of its clock;
    with the date, until 2099), then rejected all 10 ids ``TOO_MANY_REQUESTS``, nothing
    converted (found in the sweep, seed 241: 3.7e9 s over its batches, a record converted
    before the run among those rejected)."""
    config = AltConfig(
        seed=8,
        token_life=1e9,
        rates={"submit": Rates(retry_after=retry_after)},
        fault_plan={"submit": ["429"] * 8},
    )
    began = 1000.0
    report, env = await judged(alt, config, count=10, preconverted=0)
    assert report.converted == 10
    assert env.time.now - 100_000 - began < 3_000, "the Retry-After held the run past the deadline"


async def test_a_404_page_to_a_single_convert_does_not_stop_the_record_checks(alt: Any) -> None:
    """20 Quotes in batches of 10, the second submit processed and its reply lost (500), so
    its records are settled one by one with the single convert; the first single convert is
    answered by a balancer's 404 page (no Zoho error body): that record goes again, and the
    single convert is still used. Observed before (sweep seed 194: 36 ids uncertain): the
    page was taken for Zoho refusing the single call itself, record checks stopped for the
    run, the records went by mass resubmission, whose job failed those the lost job had
    converted, and with no single convert to tell which, they ended ``uncertain``."""
    config = AltConfig(
        seed=9,
        token_life=1e9,
        fault_plan={"submit": [None, "500_after"], "single": ["404_html"]},
    )
    report, env = await judged(alt, config, count=20, preconverted=0)
    assert ("single", "404_html") in env.server.faults
    assert not report.uncertain
    assert report.converted + report.already_converted + len(report.converted_by_record) == 20


@pytest.mark.xfail(
    strict=True,
    reason=(
        "README known limit 'Another job's status that names no job': a status reply of "
        "another job whose row names no job (a cache keyed on the path without the query "
        "string) cannot be told from the polled job's own when the two jobs are of one size: "
        "here each batch's polls were answered with the other's final status: batch 1's 10 "
        "converted records were reported failed, and batch 2's 10 locked records, which its "
        "job failed, reported converted. "
        "No reading of the wire can mend it; a client could only cross-check a suspect job "
        "record by record, as it does for suspect jobs (a single convert per record)"
    ),
)
async def test_another_jobs_status_naming_no_job_cannot_be_told_apart(alt: Any) -> None:
    """20 Quotes in batches of 10, the second batch's records all locked (failed in its job),
    every status poll after the first two answered with the other job's row naming no job:
    the report should say batch 1's records converted and batch 2's failed."""
    config = AltConfig(
        seed=10,
        token_life=1e9,
        extra_fields=False,
        rates={"status": Rates(odd={"other_job_unnamed": 1.0})},
        fault_plan={"status": [None, None]},
    )
    env = await alt(config)
    ids = env.server.create("Quotes", 20)
    env.server.locked.update(ids[10:])
    client = await env.client()
    async with deadline(CASE_TIMEOUT):
        report = await client.convert_many(
            "Quotes", ids, to="Sales_Orders", poll=POLL, batch_size=10
        )
    env.time.now += 100_000
    judge(report, env.server.counts("Quotes", ids), [])


# -- combinations the client handles ------------------------------------------------------------


def _alone() -> list[tuple[str, str]]:
    cases = [(kind, f) for f in sorted(BEFORE | AFTER | DRESS) for kind in ("submit", "status")]
    cases += [("status", f) for f in sorted(STATUS_ONLY)]
    return [case for case in cases if case != ("submit", "404_html")]  # (stops: below)


@pytest.mark.parametrize(("kind", "fault"), _alone(), ids=str)
async def test_each_wire_fault_alone_reports_true(alt: Any, kind: str, fault: str) -> None:
    """Each fault of ``alt_wire`` served to 30 % of the submits or polls after the first
    submit (a refusal of the first one may be about the request: it stops the run, by
    design) (jobs failing the records converted before the run, two locked records): true
    to the ledger, every record converted (by its job, or by a lost submission and so
    reported ``already_converted``) but those, nothing uncertain."""
    config = odd(kind, fault, 0.3, seed=3, fault_plan={"submit": [None]})
    report, env = await judged(alt, config, locked=2)
    assert (kind, fault) in env.server.faults
    claimed = _claimed_preconverted(report, env)
    assert report.converted + report.already_converted - claimed == 56 and not report.uncertain


def _claimed_preconverted(report: ConversionReport, env: Any) -> int:
    """How many of ``judged``'s records converted before the run the report counts converted
    by a lost submission: a suspect batch's failed record checked and refused as converted
    cannot be told from one its lost job converted (README, *Known limits*: "Converted
    before the run, or by this run?"); batches answered while a lost submission was in flight
    are suspect since hunt round 10."""
    before = {env.server.records["Quotes"][k] for k in (3, 10)}
    return len(before & set(report.already_converted_ids))


async def test_a_404_page_to_a_mass_convert_stops_the_run_with_a_true_partial_report(
    alt: Any,
) -> None:
    """A balancer's 404 page answering the fourth submit (after three were accepted) stops
    the run, as review 2 chose (only an unreadable 400 or 403 is taken for the batch's ids,
    ``bulk.isolation.unreadable_refusal``): the error says what came back, and its partial
    report is true to the ledger (the refused batch not submitted; none of its ids
    converted)."""
    plan = {"submit": [None] * 3 + ["404_html"]}
    env = await alt(AltConfig(seed=7, token_life=1e9, fault_plan=plan))
    ids = env.server.create("Quotes", 60)
    client = await env.client()
    with pytest.raises(InvalidRequestError, match="HTTP 404 without a Zoho error body") as caught:
        async with deadline(CASE_TIMEOUT):
            await client.convert_many(
                "Quotes", ids, to="Sales_Orders", poll=POLL, batch_size=10, max_pending_jobs=1
            )
    report = caught.value.partial_report
    assert isinstance(report, ConversionReport)
    env.time.now += 100_000
    read, unread = ids[: report.total], ids[report.total :]
    judge(report, env.server.counts("Quotes", read), [])
    assert not any(env.server.counts("Quotes", unread).values()), "an id never read converted"
    assert report.converted == 30 and report.total > 30


RETRY_AFTER = ["0.5", "-1", "86400", "1e9", "Wed, 21 Oct 2015 07:28:00 GMT",
               "Wed, 21 Oct 2099 07:28:00 GMT", "2.5"]


@pytest.mark.parametrize("retry_after", RETRY_AFTER)
async def test_429s_of_every_shape_with_odd_retry_after(alt: Any, retry_after: str) -> None:
    """429s as a page, as text, inside ``data`` and with another code, on submits, polls and
    single converts, with a Retry-After fractional, negative, huge, or a date past or far
    ahead: the report true, nothing uncertain. (A request's retries wait at most
    ``RetryPolicy.max_retry_after``; a batch paced after its retries honours the header up
    to its settling deadline, as review 5 chose.)"""
    shapes = {"429_html": 0.1, "429_plain": 0.1, "429_data": 0.1, "429_limit": 0.1}
    rates = {kind: Rates(odd=shapes, retry_after=retry_after) for kind in ("submit", "status")}
    report, env = await judged(alt, AltConfig(seed=4, token_life=1e9, rates=rates))
    assert env.server.faults
    assert report.converted == 58 and not report.uncertain


@pytest.mark.parametrize(
    "shape", ["expires_str", "expires_float", "no_expires", "expires_junk", "domain_slash"]
)
async def test_token_replies_of_odd_shapes_during_a_run(alt: Any, shape: str) -> None:
    """Tokens that die after 2 s, token replies whose ``expires_in`` is a string, a float,
    absent or words, or whose ``api_domain`` ends in ``/``, token calls answered by a
    gateway's page, cut, or dressed otherwise: the run refreshes and goes on."""
    plan = {"token": ["502_html", None, "truncate_after", "gzip", None, "bom", "404_html"]}
    config = AltConfig(seed=5, token_life=2.0, token_shape=shape, fault_plan=plan)
    report, env = await judged(alt, config, refresh=True)
    assert report.converted == 58
    assert any(kind == "token" for kind, _ in env.server.faults)


async def test_slow_polls_past_the_timeout(alt: Any) -> None:
    """A third of the polls (and a tenth of the submits, processed) answered after the
    client's request timeout (real time: aiohttp's): polls are repeated, the lost submits
    settled, the report true."""
    rates = {
        "status": Rates(pslow_after=0.3, slow=0.3),
        "submit": Rates(pslow_after=0.1, slow=0.3),
    }
    config = AltConfig(seed=6, token_life=1e9, rates=rates)
    report, env = await judged(
        alt, config, count=20, client_options={"request_timeout": 0.15}
    )
    assert ("status", "slow_after") in env.server.faults
    assert report.converted + report.already_converted == 18 and not report.uncertain


def sweep_config(seed: int) -> tuple[AltConfig, dict[str, Any]]:
    """One configuration of the round's random sweep: wire faults of ``alt_wire`` mixed on
    every kind of request with lost replies, 429s with odd Retry-After values, the server's
    readings (status wrap, state case, counts, already-converted shapes, FAILED states,
    forgotten jobs, token shapes), batch sizes and record counts drawn from ``seed``."""
    draw = random.Random(seed)
    retry_after = [None, None, "0.5", "-1", "86400", "1e9", "Wed, 21 Oct 2099 07:28:00 GMT"]

    def mix(pool: frozenset[str], total: float) -> dict[str, float]:
        names = draw.sample(sorted(pool), k=min(len(pool), draw.randint(1, 4)))
        return {name: total / len(names) for name in names}

    http = BEFORE | AFTER | DRESS
    rates = {
        "submit": Rates(
            p429=draw.choice([0, 0.1, 0.3]),
            p500_after=draw.choice([0, 0.1]),
            pdrop_after=draw.choice([0, 0.05]),
            retry_after=draw.choice(retry_after),
            odd=mix(http, draw.choice([0.1, 0.2, 0.4])),
        ),
        "status": Rates(
            p429=draw.choice([0, 0.1]),
            retry_after=draw.choice(retry_after),
            odd=mix(http | STATUS_ONLY, draw.choice([0.1, 0.3, 0.5])),
        ),
        "single": Rates(odd=mix(http, draw.choice([0, 0.1, 0.3]))),
        "token": Rates(odd=mix(http, draw.choice([0, 0.2, 0.4]))),
    }
    config = AltConfig(
        seed=seed,
        rates=rates,
        status_wrap=draw.choice(["bare", "data"]),
        state_case=draw.choice(["upper", "title"]),
        counts=draw.choice(["int", "str", "final", "nonzero"]),
        extra_fields=draw.choice([True, False]),
        already=draw.choice(["in_job", "refuse_index", "refuse_id", "refuse_data", "partial_207"]),
        failed_state=draw.choice(["completed", "failed_if_any", "failed_if_all"]),
        forget_after=draw.choice([None, None, 5.0, 30.0]),
        forget_reply=draw.choice(["invalid_data", "204", "data_error"]),
        token_life=draw.choice([1e9, 3600.0]),
        token_shape=draw.choice(
            ["plain", "expires_str", "expires_float", "no_expires", "expires_junk", "domain_slash"]
        ),
        token_api_domain=draw.choice([True, False]),
        duration=draw.choice([1.0, 4.0, 10.0]),
        scheduled_for=draw.choice([0.2, 1.0]),
    )
    options = {
        "batch_size": draw.choice([1, 7, 10, 25, 50]),
        "count": draw.choice([20, 60, 120]),
        "refresh": draw.random() < 0.5,
        "locked": draw.randint(0, 2),
    }
    return config, options


@pytest.mark.parametrize("seed", [0, 12, 128, 163, 194, 241, 490])
async def test_sweep_mixing_wire_faults_reports_true(alt: Any, seed: int) -> None:
    """Seeds of the round's sweep (``sweep_config``): 194 and 241 found the last two
    findings; 128 and 490 leave many ids uncertain (up to half the submits lost, jobs
    forgotten soon after they end, settling rounds and deadlines spent on a clock where
    concurrent waits add up); the others end settled. The report is true to the ledger id
    by id, whatever it could settle."""
    config, options = sweep_config(seed)
    count, batch_size = options.pop("count"), options.pop("batch_size")
    report, _ = await judged(alt, config, count=count, batch_size=batch_size, **options)
    assert report.accounted_for
