"""Adversarial round 4: time, scale and policy extremes, judged report against ledger (issue 11).

Policies at their edges (a poll timeout shorter than the jobs, one settling round, one try
per request, batches of 1, one request at a time, one job pending), time shapes (jobs of 0 s,
jobs of wildly varied length, a first job far longer than the rest, a clock that jumps an
hour) and scale (empty, 1, 49, 50, 51 and 5,000 ids; generators and async iterables mixing in
repeats, ints and invalid values) are combined with lost submit replies, forgotten jobs,
malformed final statuses, 429 storms and token expiry. Each case is judged id by id against
the simulator's ledger (``truth.assert_report_true``; for a run that stopped reading, on the
ids it read, the others never converted). The cases marked ``xfail(strict=True)`` reproduce a
report that is not true against the ledger, or a record converted twice; each names the seed
and configuration that show it, and its reason says where it goes wrong and a possible fix.
Client and simulator share a virtual clock (``SummingTime``); after a run the clock moves far
ahead, so every job, even one the run lost track of or gave up on, has finished before the
ledger is read.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import SummingTime, deadline
from settling_helpers import SteppedTime, stepped_client
from truth import RETRY, Simulated, assert_report_true, ledger, simulator_with

from zoho_convert import (
    ConversionReport,
    PollPolicy,
    RefreshTokenAuth,
    RetryPolicy,
    SettlePolicy,
    StaticToken,
    ZohoConvertClient,
)
from zoho_convert.api.ids import id_problem
from zoho_convert.bulk.events import (
    BatchGaveUp,
    BatchRead,
    BatchSplit,
    Event,
    SubmitStarted,
)
from zoho_convert.simulator import Faults, Simulator, SimulatorConfig

CASE_TIMEOUT = 60.0
POLL = PollPolicy(initial=0.5, multiplier=2.0, max_interval=5.0, timeout=3_000)


Env = Simulated


Start = Callable[..., Awaitable[Env]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """A simulator holding ``count`` Quotes (config and ``Faults`` as kwargs), a client of it
    on the same clock (``retry``; ``refresh``: a refresh-token auth on that clock, for tokens
    that expire; ``sleep``: wraps the clock's sleep), and the ids."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(
            count: int,
            *,
            seed: int,
            faults: Faults | None = None,
            retry: RetryPolicy = RETRY,
            refresh: bool = False,
            sleep: Callable[[SummingTime], Callable[[float], Awaitable[None]]] | None = None,
            **config: Any,
        ) -> Env:
            sim, time, ids = await simulator_with(
                stack, "Quotes", count, seed=seed, faults=faults, **config
            )
            auth: StaticToken | RefreshTokenAuth = StaticToken(sim.access_token)
            if refresh:
                cfg = sim.config
                auth = RefreshTokenAuth(
                    cfg.client_id,
                    cfg.client_secret,
                    cfg.refresh_token,
                    accounts_url=sim.url,
                    clock=time.clock,
                )
            client = ZohoConvertClient(
                auth,
                api_domain=sim.url,
                retry=retry,
                sleep=time.sleep if sleep is None else sleep(time),
                clock=time.clock,
            )
            await stack.enter_async_context(client)
            return Env(sim, client, time, ids)

        yield make


async def convert(env: Env, ids: Any = None, **options: Any) -> ConversionReport:
    """``convert_many`` the Quotes ``ids`` (default: every record of ``env``) to Sales_Orders
    (``POLL`` unless ``poll`` is given), then move the clock far ahead: every job, lost,
    given up on or not, has then finished, and the ledger is final."""
    options.setdefault("poll", POLL)
    async with deadline(CASE_TIMEOUT):
        report = await env.client.convert_many(
            "Quotes", env.ids if ids is None else ids, to="Sales_Orders", **options
        )
    env.time.now += 100_000
    return report


def key(value: object) -> str:
    """How the report names an input value: its canonical id, or the refused value."""
    if id_problem(value) is None:
        return str(int(value))  # type: ignore[call-overload]
    return value if isinstance(value, str) else repr(value)


def true_to_ledger(env: Env, report: ConversionReport, values: Iterable[object] = ()) -> None:
    """The report is true against the ledger, id by id, for the distinct input ``values``
    (default: every record of ``env``), in input order; a run that stopped reading is judged
    on the ids it read, and none of the others converted."""
    keys = list(dict.fromkeys(key(v) for v in (values or env.ids)))
    counts = ledger(env.sim, "Quotes", keys)
    for value in keys:
        if id_problem(value) is not None:
            counts[value] = 0  # (the ledger reads a refused value's digits as a record)
    if report.total < len(keys):
        assert not report.input_complete
        assert not any(counts[value] for value in keys[report.total :]), "an unread id converted"
        counts = {value: counts[value] for value in keys[: report.total]}
    assert_report_true(report, counts)


def lost(rate: float = 0.2, **more: Any) -> Faults:
    """Submits and single converts processed, then their reply lost to a 500."""
    return Faults(
        rate_500=rate,
        fault_endpoints={"mass_convert", "convert"},
        fault_after_processing=True,
        **more,
    )


def submits(env: Env) -> int:
    """Mass-convert jobs the simulator scheduled."""
    return len(env.sim.state.jobs)


# -- findings: fixed (settle_plan: jobs given up on hold lost batches back; a batch lost late
# gets its first round; a 429 storm, below, uses no settling round) -------------------------

# Jobs of 1 to 39 s polled for 10 s at most: two jobs sent before a lost submission are given
# up on (unfinished) while they still run, and the one job measured took 10.5 s.
OUTLIVED: dict[str, Any] = {"job_duration": 20.0, "job_duration_jitter": 19.0}
SHORT_POLL = PollPolicy(initial=0.5, multiplier=2.0, max_interval=5.0, timeout=10.0)

async def test_jobs_given_up_at_the_poll_timeout_still_hold_back_a_lost_batch(
    start: Start,
) -> None:
    """Lost submit replies (20 %), jobs of 1 to 39 s polled for 10 s, records converted only
    when their job ends (ids of a running job not reserved): a batch lost after jobs the run
    gave up on while they ran is not resubmitted while its lost job runs (it was, at 22.6 s,
    job of 27.2 s: 50 records converted twice)."""
    env = await start(200, seed=1, faults=lost(), reserve_ids=False, **OUTLIVED)
    report = await convert(env, poll=SHORT_POLL, settle=SettlePolicy(record_by_record=False))
    true_to_ledger(env, report)


async def test_a_lost_job_that_outlives_the_poll_timeout_and_fails_is_not_claimed(
    start: Start,
) -> None:
    """Lost submit replies (20 %), jobs that end FAILED (30 %), jobs of 1 to 39 s polled for
    10 s, default Zoho behaviour (a running job's ids refused as converted): a batch lost
    after jobs the run gave up on is not checked while its lost job runs, so its records are
    not claimed converted by that job, which then fails (50 were: already_converted 50,
    ledger 0, and the run said no lost job was left to end)."""
    env = await start(200, seed=1, faults=lost(failed_job_rate=0.3), **OUTLIVED)
    report = await convert(env, poll=SHORT_POLL)
    true_to_ledger(env, report)


async def test_jobs_given_up_at_the_poll_timeout_hold_back_a_lost_batch_in_overlapping_time() -> (
    None
):
    """The same on a clock where concurrent waits overlap, as real time does (it moves only
    when no request is in flight and every task sleeps), 600 ids: a batch lost after jobs
    the run gave up on is not resubmitted while its lost job runs (it was: records
    converted twice)."""
    async with contextlib.AsyncExitStack() as stack:
        time = SteppedTime()
        config = SimulatorConfig(
            seed=1, faults=lost(), clock=time.clock, reserve_ids=False, **OUTLIVED
        )
        sim = await stack.enter_async_context(Simulator(config))
        ids = sim.state.create_records("Quotes", 600)
        client = await stepped_client(stack, sim, time, RETRY)
        async with deadline(CASE_TIMEOUT):
            report = await client.convert_many(
                "Quotes",
                ids,
                to="Sales_Orders",
                poll=SHORT_POLL,
                settle=SettlePolicy(record_by_record=False),
            )
        time.now += 100_000
        assert report.unfinished
        assert_report_true(report, ledger(sim, "Quotes", ids))


class Untried:
    """A progress callback that lists the ids given up uncertain after a single submission
    (never resubmitted to settle them)."""

    def __init__(self) -> None:
        self.batches: dict[int, tuple[str, ...]] = {}
        self.sent: dict[str, int] = {}
        self.ids: list[str] = []

    def __call__(self, event: Event) -> None:
        if isinstance(event, BatchRead):
            self.batches[event.batch] = event.ids
        elif isinstance(event, BatchSplit):
            self.batches.update(event.parts)
        elif isinstance(event, SubmitStarted):
            for value in self.batches[event.batch]:
                self.sent[value] = self.sent.get(value, 0) + 1
        elif isinstance(event, BatchGaveUp):
            self.ids.extend(value for value in event.ids if self.sent.get(value) == 1)


async def test_a_batch_lost_at_the_end_of_a_run_of_long_jobs_gets_a_settling_round(
    start: Start,
) -> None:
    """Jobs of 350 to 650 s, one pending at a time, submit replies lost (20 %), default
    policies: the last batch, lost once every other job has ended, is resubmitted after its
    lost job's wait, not given up uncertain untried (it was: 50 ids, all converted)."""
    env = await start(300, seed=7, faults=lost(), job_duration=500.0, job_duration_jitter=150.0)
    untried = Untried()
    report = await convert(env, poll=PollPolicy(), max_pending_jobs=1, progress=untried)
    true_to_ledger(env, report)
    assert not untried.ids, f"{len(untried.ids)} ids given up without a resubmission"


# -- combinations that hold --------------------------------------------------------------------


def mixed(ids: list[str]) -> list[object]:
    """The ids with repeats (every third again, a few as ints) and values Zoho would refuse
    (not numeric, negative, zero, a float, an id with a leading zero beyond 19 digits)."""
    return [
        "abc",
        -5,
        "0",
        *ids,
        *ids[::3],
        *(int(value) for value in ids[1:4]),
        *("0" + value for value in ids[:1]),
        1.5,
    ]


async def agen(values: list[object]) -> AsyncIterator[object]:
    """``values`` as an async iterable."""
    for value in values:
        yield value


def gen(values: list[object]) -> Iterator[object]:
    """``values`` as a one-shot generator."""
    yield from values


SHAPES: dict[str, Callable[[list[object]], Any]] = {"list": list, "gen": gen, "agen": agen}


@pytest.mark.parametrize(
    ("count", "shape"),
    [(0, "list"), (1, "agen"), (49, "gen"), (50, "agen"), (51, "list"), (101, "gen")],
)
async def test_edge_sized_inputs_of_every_shape_under_lost_replies(
    start: Start, count: int, shape: str
) -> None:
    """0, 1, 49, 50, 51 or 101 ids read from a list, a generator or an async iterable, with
    repeats, ints and invalid values mixed in, submit replies lost to 500s (30 %) and
    forgotten jobs (20 %): every distinct value is in the report once, repeats counted, the
    invalid ones refused locally, and the report is true to the ledger."""
    env = await start(count, seed=count, faults=lost(0.3, forget_job_rate=0.2))
    values = mixed(env.ids)
    report = await convert(env, SHAPES[shape](values))
    true_to_ledger(env, report, values)
    refused = {item.id for item in report.rejected if item.code == "INVALID_ID"}
    assert refused == {"abc", "-5", "0", "1.5", *("0" + value for value in env.ids[:1])}
    assert report.duplicates == len(env.ids[::3]) + len(env.ids[1:4])
    assert report.total == count + len(refused)


@pytest.mark.parametrize("batch_size", [1, 49, 50])
async def test_one_request_and_one_job_at_a_time_under_lost_replies(
    start: Start, batch_size: int
) -> None:
    """Batches of 1, 49 or 50, one request in flight and one job pending at most, submit
    replies lost (25 %), forgotten jobs (15 %) and malformed final counts (15 %), jobs of
    0 to 4 s: true to the ledger, lost replies settled, nothing left uncertain."""
    env = await start(
        120,
        seed=batch_size + 100,
        faults=lost(
            0.25, forget_job_rate=0.15, malformed_final_rate=0.15, malformed_final_kind="counts"
        ),
        job_duration_jitter=2.0,
    )
    report = await convert(env, batch_size=batch_size, concurrency=1, max_pending_jobs=1)
    true_to_ledger(env, report)
    assert report.already_converted or report.converted_by_record or report.lost_jobs
    assert not report.uncertain


async def test_jobs_that_outlive_the_poll_timeout_are_polled_again_on_resume(
    start: Start, tmp_path: Path
) -> None:
    """Jobs of 20 to 40 s polled for 5 s, a 429 storm (40 %) and tokens that expire every
    30 s: every job is reported unfinished (never failed, never resubmitted); a resume while
    some still run leaves those unfinished, and one after they ended reports every record
    converted, true to the ledger, with no job submitted twice."""
    env = await start(
        260,
        seed=7,
        faults=Faults(rate_429=0.4, token_ttl=30.0),
        refresh=True,
        job_duration=30.0,
        job_duration_jitter=10.0,
    )
    journal = str(tmp_path / "run.journal")
    short = PollPolicy(initial=1.0, multiplier=2.0, max_interval=5.0, timeout=5.0)
    async with deadline(CASE_TIMEOUT):
        first = await env.client.convert_many(
            "Quotes", env.ids, to="Sales_Orders", poll=short, journal=journal
        )
        assert sorted(first.unfinished) == sorted(env.ids)
        assert first.converted == first.failed == 0 and not first.rejected
        again = await env.client.resume(journal, poll=short)
        assert again.unfinished and again.converted + len(again.unfinished) == len(env.ids)
        env.time.now += 60.0  # every job has ended now
        report = await env.client.resume(journal, poll=short)
    env.time.now += 100_000
    true_to_ledger(env, report)
    assert report.ok and report.converted == len(env.ids)
    assert submits(env) == len(report.jobs) == 6


async def test_jobs_of_no_duration_polled_at_once_under_every_job_fault(start: Start) -> None:
    """Jobs that are done at once (0 s), polled after 1 ms without learning, lost submit
    replies (20 %), forgotten jobs (20 %, "job_id is invalid"), malformed final counts (20 %)
    and FAILED jobs (20 %): true to the ledger."""
    env = await start(
        400,
        seed=11,
        faults=lost(
            forget_job_rate=0.2,
            forget_reply="invalid",
            malformed_final_rate=0.2,
            malformed_final_kind="counts",
            failed_job_rate=0.2,
        ),
        job_duration=0.0,
    )
    poll = PollPolicy(initial=0.001, multiplier=3.0, max_interval=30.0, adaptive=False)
    report = await convert(env, poll=poll)
    true_to_ledger(env, report)
    assert report.lost_jobs and report.failed


async def test_a_429_storm_does_not_use_up_the_settling_rounds(start: Start) -> None:
    """One try per request (``RetryPolicy(max_tries=1)``, the run itself resubmitting),
    60 % 429s on submits and single converts, and their replies lost to 500s (10 %): no
    batch is given up uncertain right after a 429 while its settling deadline has time
    left (a 429 uses no settling round: it goes again, paced; before, 115 ids were, 131 of
    500 uncertain in all, every one converted)."""
    env = await start(
        500,
        seed=35,
        faults=Faults(
            rate_429=0.6,
            rate_500=0.1,
            fault_endpoints={"mass_convert", "convert"},
            fault_after_processing=True,
        ),
        retry=RetryPolicy(max_tries=1),
    )
    throttled: list[str] = []

    def given_up(event: Event) -> None:
        if isinstance(event, BatchGaveUp) and event.reason.startswith("RateLimitError"):
            throttled.extend(event.ids)

    report = await convert(env, progress=given_up)
    true_to_ledger(env, report)
    assert not throttled, f"{len(throttled)} ids given up after a 429"


async def test_one_settling_round_with_no_time_leaves_uncertain_not_failed(start: Start) -> None:
    """One settling round, a settling deadline of 1 ms and a minimum wait of 1 ms, submit and
    single-convert replies lost (40 %): what cannot be settled is uncertain, never failed or
    rejected, and the report is true to the ledger."""
    env = await start(400, seed=13, faults=lost(0.4), job_duration_jitter=1.5)
    settle = SettlePolicy(max_rounds=1, deadline=0.001, min_wait=0.001)
    report = await convert(env, settle=settle)
    true_to_ledger(env, report)
    assert report.uncertain and not report.rejected and not report.failed


async def test_thousands_of_ids_under_every_fault_at_once(start: Start) -> None:
    """5,000 ids (with repeats and invalid values) from an async iterable, submit replies
    lost (15 %), forgotten jobs (5 %), malformed final counts (5 %), FAILED jobs (5 %), 30 %
    429s, tokens expiring every 40 s and jobs of 0 to 6 s: true to the ledger, and almost
    nothing left uncertain."""
    env = await start(
        5000,
        seed=14,
        faults=Faults(
            rate_500=0.15,
            rate_429=0.3,
            fault_endpoints={"mass_convert", "convert"},
            fault_after_processing=True,
            forget_job_rate=0.05,
            malformed_final_rate=0.05,
            malformed_final_kind="counts",
            failed_job_rate=0.05,
            token_ttl=40.0,
        ),
        refresh=True,
        job_duration=3.0,
        job_duration_jitter=3.0,
    )
    values = mixed(env.ids)
    report = await convert(env, agen(values))
    true_to_ledger(env, report, values)
    assert report.lost_jobs and report.already_converted
    assert len(report.uncertain) <= 0.005 * len(env.ids)


async def test_min_credits_reached_while_batches_settle(start: Start) -> None:
    """API credits running low (``min_credits``) while submit replies are lost (25 %): the
    run stops submitting, parked batches (maybe converted) are uncertain, never
    NOT_SUBMITTED; the ids never sent are NOT_SUBMITTED and unconverted, the rest of the
    input unread and unconverted."""
    env = await start(4000, seed=15, faults=lost(0.25), api_credits=100)
    report = await convert(env, min_credits=45)
    true_to_ledger(env, report)
    assert not report.input_complete and report.uncertain
    assert {item.code for item in report.rejected} == {"NOT_SUBMITTED"}


async def test_a_first_job_far_longer_than_the_rest_under_lost_replies(start: Start) -> None:
    """The run's first job takes 500 s, the others 1 to 3 s, submit replies lost (25 %),
    Zoho refusing the ids of a running job as converted (its default): nothing converts
    twice and the report is true to the ledger."""
    env = await start(600, seed=16, faults=lost(0.25), job_duration_jitter=1.0)
    fate = env.sim.state._draw_job_fate
    drawn = 0

    def first_is_long() -> Any:
        nonlocal drawn
        duration, outcome = fate()
        drawn += 1
        return (duration + 500.0 if drawn == 1 else duration), outcome

    env.sim.state._draw_job_fate = first_is_long  # type: ignore[method-assign]
    report = await convert(env)
    true_to_ledger(env, report)
    assert report.already_converted or report.converted_by_record


async def test_a_clock_that_jumps_an_hour_mid_run(start: Start) -> None:
    """The machine sleeps an hour in the middle of a run (the clock jumps 3,600 s at the
    20th sleep: every job ends, settling waits and poll deadlines pass), with submit replies
    lost (25 %) and jobs of 1 to 7 s: true to the ledger."""

    def jumpy(time: SummingTime) -> Callable[[float], Awaitable[None]]:
        sleeps = 0

        async def sleep(delay: float) -> None:
            nonlocal sleeps
            sleeps += 1
            if sleeps == 20:
                time.now += 3_600.0
            await time.sleep(delay)

        return sleep

    env = await start(
        500, seed=17, faults=lost(0.25), sleep=jumpy, job_duration=4.0, job_duration_jitter=3.0
    )
    report = await convert(env, poll=PollPolicy(timeout=600.0))
    true_to_ledger(env, report)
