"""Round 10's combined sweep (not collected by pytest): every fault family of the earlier
hunts drawn at once, over every path, with and without a journal (cancelled mid-run, then
resumed), each run judged id by id against the server's ledger (issue 11's invariant).

Each seed picks one of two servers and draws from all its faults together:

- ``alt``: the independent server (``alt_server``) with round 8's configuration
  (``hunt_round8_sweep.draw``: job-id forms, final statuses that lie, ambiguous refusals,
  lost/dropped/throttled replies, forgotten jobs, every already-converted shape, FAILED jobs)
  merged with round 9's (``test_hunt_round9.sweep_config``: proxy pages, cut/reset/dressed
  replies, odd status rows, Retry-After and token reply shapes, a refreshing token), over
  Quotes -> Sales_Orders, Quotes -> Invoices, Sales_Orders -> Invoices and Leads;
- ``sim``: the package simulator with the Leads/Invoices sweep's case
  (``leads_sweep.draw``: processed-then-500 or dropped submits, forgotten jobs, duplicate job
  ids, malformed final statuses, FAILED jobs, 429s, token expiry, jittered job durations,
  refuse or in-job already-converted, converted leads refused INVALID_DATA), its path widened
  to Quotes -> Sales_Orders and its malformed finals to CANCELLED states.

Either may be journaled and cancelled at a drawn progress event, then resumed by another
client (the crash-resume hunt's kills are real processes: out of reach of a seeded loop;
cancellation is its in-process twin). Both servers run on a virtual clock; each run is
bounded by 20 real seconds ("the run ends").

    cd tests/integration && PYTHONPATH=../..:.. python hunt_round10_sweep.py --seeds 300

(``--first N`` to start elsewhere; ``--no-states`` for the first runs' draws, before renamed
states were added.) A seed's run is deterministic except where a journaled run is cancelled:
where a progress event falls depends on the loop's scheduling.

Prints one line per failing seed (its family, a short config, the assertion), then a
summary of violations by cause.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
import sys
import tempfile
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parent.parent)]

import leads_sweep  # noqa: E402
from alt_env import AltEnv, alt_envs  # noqa: E402
from alt_server import AltConfig, Rates  # noqa: E402
from fakes import deadline  # noqa: E402
from hunt_round8_sweep import POLL, seed_records  # noqa: E402
from hunt_round8_sweep import draw as draw8  # noqa: E402
from test_hunt_round9 import sweep_config as draw9  # noqa: E402
from test_unseen_server import judge as judge_alt  # noqa: E402
from truth import ledger, refresh_client_of  # noqa: E402

from zoho_convert import (  # noqa: E402
    ConversionReport,
    SettlePolicy,
    ZohoConvertClient,
)
from zoho_convert.api.errors import (  # noqa: E402
    APIError,
    RateLimitError,
    ServerError,
    TransportError,
)

RUN_BOUND = 20.0
PATHS = [("Quotes", "Sales_Orders"), ("Quotes", "Invoices"), ("Sales_Orders", "Invoices"),
         ("Leads", None)]
SEEN: Counter[str] = Counter()
#: Draw renamed states (off with ``--no-states``: the draws of the sweep's first runs).
OPTIONS = {"states": True}


def merge_rates(eight: Rates | None, nine: Rates | None) -> Rates:
    """Round 8's random faults of one kind with round 9's wire faults and Retry-After."""
    base = eight or Rates()
    if nine is None:
        return base
    return attrs.evolve(
        base,
        p429=max(base.p429, nine.p429),
        retry_after=nine.retry_after,
        odd=dict(nine.odd),
        p500_after=max(base.p500_after, nine.p500_after),
        pdrop_after=max(base.pdrop_after, nine.pdrop_after),
    )


def draw_alt(seed: int) -> tuple[AltConfig, dict[str, Any]]:
    """The ``alt`` family's server and run of ``seed``: rounds 8 and 9 together."""
    config8, run = draw8(seed)
    config9, options9 = draw9(seed + 10_000)
    r = random.Random(f"round10-alt:{seed}")
    module, target = r.choice(PATHS)
    kinds = set(config8.rates) | set(config9.rates)
    rates = {k: merge_rates(config8.rates.get(k), config9.rates.get(k)) for k in kinds}
    config = attrs.evolve(
        config8,
        rates=rates,
        leads_mass=module == "Leads",
        state_case=config9.state_case,
        extra_fields=config9.extra_fields,
        token_life=config9.token_life if options9["refresh"] else 1e9,
        token_shape=config9.token_shape,
        token_api_domain=config9.token_api_domain,
        duration_spread=r.choice([0.0, 0.5, 2.0]),
        # States of other names (round 6's): one no page lists for a waiting or a running
        # job, and FAILED spelled as an end of unknown outcome (CANCELLED).
        state_names=random.Random(f"round10-states:{seed}").choice(
            [{}, {}, {"SCHEDULED": "QUEUED"}, {"IN PROGRESS": "RUNNING"}, {"FAILED": "CANCELLED"}]
        ) if OPTIONS["states"] else {},
    )
    run.update(
        module=module, target=target, refresh=options9["refresh"], fleet=False,
        stop_at=r.choice([None, r.randint(1, 40), r.randint(1, 120)]),
    )
    return config, run


async def run_alt(seed: int) -> str:
    config, run = draw_alt(seed)
    async with alt_envs(AltEnv) as make:
        env = await make(config)
        module = run["module"]
        ids, before = seed_records(env, run)
        settle = SettlePolicy(record_by_record=run["record_by_record"])
        options: dict[str, Any] = {"batch_size": run["batch_size"], "poll": POLL, "settle": settle}
        if run["target"]:
            options["to"] = run["target"]

        async def client() -> ZohoConvertClient:
            return await env.client(max_concurrency=run["max_concurrency"], refresh=run["refresh"])

        try:
            async with deadline(RUN_BOUND):
                report = await journaled(client, module, ids, run["stop_at"], options,
                                         lambda: env.time.__setattr__("now", env.time.now + 1.0))
        except Exception as error:  # a run that stops is a finding too (unless by design)
            env.time.now += 100_000
            return stopped(error, lambda r: judge_alt(
                *unsent_before(r, env.server.counts(module, ids[: r.total]), before)))
        env.time.now += 100_000
        note(report)
        try:
            judge_alt(report, env.server.counts(module, ids), before)
        except AssertionError as error:
            return f"{error}".splitlines()[0] or traceback.format_exc(limit=1)
        if env.server.overlaps:
            # Not issue 11's invariant (the ledger holds each id once), but a Zoho that
            # converted held records twice would not: counted apart, with what explains it.
            longest = config.scheduled_for + config.duration * (1 + config.duration_spread)
            why = "jobs longer than SettlePolicy.unknown_wait" if longest > 60 else "NEW"
            SEEN[f"runs sending records while held ({why})"] += 1
            if why == "NEW":
                print(f"seed {seed} [alt] (note): {len(env.server.overlaps)} records sent "
                      f"while held, jobs of at most {longest:.0f} s", flush=True)
    return ""


def unsent_before(
    report: ConversionReport, counts: dict[str, int], before: list[str]
) -> tuple[ConversionReport, dict[str, int], list[str]]:
    """A partial report's judgement, the ids it read only: a record converted before the
    run and never sent (``NOT_SUBMITTED``, the run stopped first) is true, and the judge,
    which takes every rejection other than ``ID_ALREADY_CONVERTED`` for "not converted",
    leaves it out."""
    unsent = {r.id for r in report.rejected if r.code == "NOT_SUBMITTED"} & set(before)
    kept = tuple(r for r in report.rejected if r.id not in unsent)
    report = attrs.evolve(report, rejected=kept, total=report.total - len(unsent))
    counts = {i: n for i, n in counts.items() if i not in unsent}
    return report, counts, [i for i in before if i in counts]


def stopped(error: Exception, judge: Callable[[ConversionReport], None]) -> str:
    """What a run that raised ``error`` says: "" when it stopped by design (README: a proxy's
    400 page before any submit was accepted, or a 404 page, to a mass convert; retries spent
    on one call) with a true partial report, else the finding."""
    partial = getattr(error, "partial_report", None)
    if isinstance(partial, ConversionReport):
        read = partial.total
        try:
            judge(partial)
        except AssertionError as wrong:
            return f"partial report of {type(error).__name__} ({read} ids): {wrong}"
    text = f"{type(error).__name__}: {error}"
    if isinstance(error, APIError) and error.code in ("HTTP_400", "HTTP_404"):
        SEEN[f"stopped by design: a {error.code} page to a mass convert"] += 1
        return ""
    if isinstance(error, (ServerError, RateLimitError, TransportError)):
        SEEN["stopped by design: retries spent on one call"] += 1
        return ""
    return f"raised {text}"


async def journaled(
    client: Callable[[], Awaitable[ZohoConvertClient]],
    module: str,
    ids: Any,
    stop_at: int | None,
    options: dict[str, Any],
    between: Callable[[], None],
) -> ConversionReport:
    """One plain run (``stop_at`` None), or a journaled run cancelled at its ``stop_at``-th
    progress event and resumed by another client with the ids: that report."""
    first = await client()
    if stop_at is None:
        return await first.convert_many(module, ids, **options)
    with tempfile.TemporaryDirectory() as folder:
        journal = str(Path(folder) / "run.db")
        seen = 0
        task: asyncio.Task[ConversionReport] | None = None

        def progress(_: object) -> None:
            nonlocal seen
            seen += 1
            if seen == stop_at and task is not None:
                task.cancel()

        task = asyncio.create_task(
            first.convert_many(module, ids, journal=journal, progress=progress, **options)
        )
        with contextlib.suppress(asyncio.CancelledError):
            done = await task
            if not task.cancelled():
                SEEN["journaled, ended before the stop"] += 1
                return done
        SEEN["journaled, cancelled and resumed"] += 1
        between()
        resumed = await client()
        return await resumed.resume(
            journal, ids=iter(ids), poll=options["poll"], settle=options.get("settle")
        )


def draw_sim(seed: int) -> tuple[leads_sweep.Case, int | None]:
    """The ``sim`` family's case of ``seed``: the Leads/Invoices sweep's, every path, CANCELLED
    finals among the malformed ones, and a stop point (None: no journal)."""
    case = leads_sweep.draw(seed)
    r = random.Random(f"round10-sim:{seed}")
    module, target = r.choice(PATHS)
    if module != case.module:
        options = {k: v for k, v in case.options.items() if k in ("carry_over_tags", "assign_to")}
        if target:
            options["to"] = target
        elif r.random() < 0.5:
            options["deals"] = leads_sweep.DEAL
        config = dict(case.config)
        if module != "Leads":
            config.pop("converted_leads", None)
            config.pop("lead_convert_concurrency", None)
        faults = dict(case.faults)
        if "fault_endpoints" in faults:
            faults["fault_endpoints"] = {leads_sweep.SUBMIT[module]} | (
                {leads_sweep.SINGLE[module]} if len(faults["fault_endpoints"]) > 1 else set()
            )
        case = attrs.evolve(case, module=module, options=options, config=config, faults=faults)
    faults = dict(case.faults)
    if faults.get("malformed_final_rate") or r.random() < 0.3:
        faults.setdefault("malformed_final_rate", r.choice([0.1, 0.3]))
        faults["malformed_final_kind"] = r.choice(["counts", "state", "mixed"])
    if r.random() < 0.3:
        faults["rate_429"] = max(faults.get("rate_429", 0.0), 0.2)
    if r.random() < 0.2:
        faults["token_ttl"] = r.choice([5.0, 30.0])
    case = attrs.evolve(case, faults=faults)
    stop_at = r.choice([None, r.randint(1, 30), r.randint(1, 100)])
    return case, stop_at


async def run_sim(seed: int) -> str:
    case, stop_at = draw_sim(seed)
    async with contextlib.AsyncExitStack() as stack:
        sim, time, ids, before = await leads_sweep.seeded_simulator(stack, case)

        async def client() -> ZohoConvertClient:
            return await refresh_client_of(stack, sim, time)

        feed = leads_sweep.feed_of(case, ids)
        source: Any = leads_sweep.stream(feed) if case.as_stream and stop_at is None else feed
        options: dict[str, Any] = {
            "batch_size": case.batch_size, "poll": POLL,
            "settle": SettlePolicy(**case.settle) if case.settle else None, **case.options,
        }

        def later() -> None:
            time.now += 1.0

        distinct = list(dict.fromkeys(str(value) for value in feed))

        def partial(report: ConversionReport) -> None:
            read = distinct[: report.total]
            leads_sweep.judge(
                *unsent_before(report, ledger(sim, case.module, read), before), case)

        try:
            async with deadline(RUN_BOUND):
                report = await journaled(client, case.module, source, stop_at, options, later)
        except Exception as error:
            time.now += 100_000
            return stopped(error, partial)
        time.now += 100_000
        note(report)
        try:
            leads_sweep.judge(report, ledger(sim, case.module, ids), before, case)
        except AssertionError as error:
            return f"{error}".splitlines()[0] or traceback.format_exc(limit=1)
    return ""


def note(report: ConversionReport) -> None:
    for name, value in (
        ("ids", report.total),
        ("lost jobs", len(report.lost_jobs)),
        ("uncertain", len(report.uncertain)),
        ("already converted", report.already_converted),
        ("rejected", len(report.rejected)),
    ):
        SEEN[name] += value


def family(seed: int) -> str:
    return "alt" if random.Random(f"round10:{seed}").random() < 0.6 else "sim"


def cause(seed: int, found: str) -> str:
    """A violation's cause: its message with ids and numbers blanked, and what explains it
    where a README "Known limits of the report" entry does."""
    text = re.sub(r"\d+", "N", found)[:80]
    duplicates = family(seed) == "sim" and draw_sim(seed)[0].faults.get("duplicate_job_id_rate")
    if duplicates and "reported converted" in found:
        return f"known limit (job ids Zoho gives to two submissions): {text}"
    if "is not converted by the run" in found and family(seed) == "sim":
        case = draw_sim(seed)[0]
        if case.faults.get("failed_job_rate") and case.config.get("job_duration_jitter"):
            return f"known limit (a lost job outlasting its wait, then FAILED): {text}"
    return f"NEW: {text}"


def shown(seed: int) -> str:
    if family(seed) == "alt":
        config, run = draw_alt(seed)
        keys = ("job_id_form", "final_lie_rate", "single_already", "already", "failed_state",
                "forget_after", "duration", "token_shape")
        return f"run={run} server={ {k: getattr(config, k) for k in keys} }"
    case, stop_at = draw_sim(seed)
    return f"stop_at={stop_at} {case}"


async def sweep(seeds: range) -> int:
    causes: Counter[str] = Counter()
    for seed in seeds:
        kind = family(seed)
        SEEN[f"{kind} runs"] += 1
        try:
            found = await (run_alt(seed) if kind == "alt" else run_sim(seed))
        except Exception as error:  # (the driver's own failure is reported, not hidden)
            found = f"driver {type(error).__name__}: {error}"
        if found:
            causes[f"{kind}: {cause(seed, found)}"] += 1
            print(f"seed {seed} [{kind}]: {found}\n    {shown(seed)}", flush=True)
    new = sum(n for c, n in causes.items() if ": NEW:" in c)
    print(f"{sum(causes.values())} of {len(seeds)} seeds failed, {new} not a known limit; "
          f"by cause: {dict(causes)}; met and reported: {dict(SEEN)}", flush=True)
    return new


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=300)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--no-states", action="store_true", help="no renamed states")
    args = parser.parse_args()
    OPTIONS["states"] = not args.no_states
    failed = asyncio.run(sweep(range(args.first, args.first + args.seeds)))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
