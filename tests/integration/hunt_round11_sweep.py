"""Round 11's sweep (not collected by pytest): round 10's draws of the independent server
(``hunt_round10_sweep.draw_alt``: rounds 8 and 9 together, every path, journaled runs
cancelled and resumed) with round 11's behaviours (``alt_more``) drawn on top: submits
replayed by a proxy, the single convert refused for the call (in every shape, from the start
or from a drawn time), a converted record's single convert refused ``DUPLICATE_DATA`` under
HTTP 401, lone 401s of other codes than ``INVALID_TOKEN`` on submits, polls and single
converts, status replies served by a cache lagging behind the job, forgotten jobs answered
200 with ``{}`` or ``{"data": []}``. Each report (or, for a run stopped by an error, its
partial report) is judged id by id against the server's ledger.

    cd tests/integration && PYTHONPATH=../..:.. python hunt_round11_sweep.py --seeds 300

Replays whose client gets the second job's reply are the README known limit "A proxy that
replays a submission": drawn only with ``--known``. Prints one line per failing seed, then a
summary.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

import attrs

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parent.parent)]

import hunt_round10_sweep as ten  # noqa: E402
from alt_env import AltEnv, alt_envs  # noqa: E402
from alt_more import SINGLE_REFUSALS, MoreConfig, MoreServer  # noqa: E402
from alt_server import Rates  # noqa: E402
from fakes import deadline  # noqa: E402
from hunt_round8_sweep import POLL, seed_records  # noqa: E402
from test_unseen_server import judge  # noqa: E402

from zoho_convert import (  # noqa: E402
    ConversionReport,
    SettlePolicy,
    ZohoConvertClient,
)

OPTIONS = {"known": False}
SEEN: Counter[str] = Counter()


def draw(seed: int) -> tuple[MoreConfig, dict[str, Any]]:
    """Round 10's ``alt`` draw of ``seed``, with round 11's behaviours on top."""
    config, run = ten.draw_alt(seed)
    r = random.Random(f"round11:{seed}")
    hows = ["first", "second", "race"] if OPTIONS["known"] else ["first"]
    replays = (
        [r.choice([None, None, *hows]) for _ in range(12)]
        if config.job_id_form == "number" and r.random() < 0.4
        else []
    )
    odd: dict[str, dict[str, float]] = {}
    if r.random() < 0.3:
        # (A lone 401 of another code stops the run on a submit or a poll: seldom drawn there.)
        kinds = ["single"] + (r.sample(["submit", "status"], 1) if r.random() < 0.25 else [])
        for kind in kinds:
            rate = r.choice([0.1, 0.3]) if kind == "single" else 0.02
            odd[kind] = {r.choice(["401_auth_failure", "401_scope"]): rate}
    rates = dict(config.rates)
    for kind, faults in odd.items():
        rate = rates.get(kind, Rates())
        rates[kind] = attrs.evolve(rate, odd={**rate.odd, **faults})
    already_401 = r.random() < 0.3
    if already_401:
        config = attrs.evolve(config, single_already="DUPLICATE_DATA", single_errors="top")
    forget_empty = r.choice([None, None, "empty_object", "empty_data"])
    more = MoreConfig(
        base=attrs.evolve(config, rates=rates),
        replay_plan=replays,
        replay_delay=r.choice([0.1, 0.5, 3.0]),
        single_refusal=r.choice([None, None, *sorted(SINGLE_REFUSALS)]),
        single_refused_from=1000.0 + r.choice([0.0, 5.0, 30.0]),
        single_already_http=401 if already_401 else 400,
        status_lag=r.choice([0.0, 0.0, 2.0, 10.0]),
        status_lag_random=r.random() < 0.5,
        forget_empty=forget_empty if config.forget_after is not None else None,
    )
    return more, run


async def run(seed: int) -> str:
    """Seed ``seed``'s run: "" when its report is true, else what went wrong."""
    more, drawn = draw(seed)
    config = more.base
    async with alt_envs(AltEnv, MoreServer) as make:
        env = await make(more)
        module = drawn["module"]
        ids, before = seed_records(env, drawn)
        settle = SettlePolicy(record_by_record=drawn["record_by_record"])
        options: dict[str, Any] = {
            "batch_size": drawn["batch_size"],
            "poll": POLL,
            "settle": settle,
        }
        if drawn["target"]:
            options["to"] = drawn["target"]

        async def client() -> ZohoConvertClient:
            return await env.client(
                max_concurrency=drawn["max_concurrency"], refresh=drawn["refresh"]
            )

        def later() -> None:
            env.time.now += 1.0

        try:
            async with deadline(ten.RUN_BOUND):
                report = await ten.journaled(client, module, ids, drawn["stop_at"], options, later)
        except Exception as error:
            env.time.now += 100_000

            def partial(r: ConversionReport) -> None:
                judge(*ten.unsent_before(r, env.server.counts(module, ids[: r.total]), before))

            found = ten.stopped(error, partial)
            if found.startswith("raised AuthenticationError"):
                SEEN["stopped by design: a 401 of another code than INVALID_TOKEN"] += 1
                return ""  # (its partial report judged true: ``stopped`` says so first)
            return found
        env.time.now += 100_000
        ten.note(report)
        try:
            judge(report, env.server.counts(module, ids), before)
        except AssertionError as error:
            return f"{error}".splitlines()[0] or traceback.format_exc(limit=1)
        server = env.server
        assert isinstance(server, MoreServer)
        SEEN["replayed submits"] += len(server.replays)
        if server.overlaps:
            longest = config.scheduled_for + config.duration * (1 + config.duration_spread)
            why = "jobs longer than SettlePolicy.unknown_wait" if longest > 60 else "NEW"
            SEEN[f"runs sending records while held ({why})"] += 1
            if why == "NEW":
                print(
                    f"seed {seed} (note): {len(server.overlaps)} records sent while held, "
                    f"jobs of at most {longest:.0f} s, lag {more.status_lag}",
                    flush=True,
                )
    return ""


def shown(seed: int) -> str:
    more, drawn = draw(seed)
    fields = (
        "replay_plan",
        "single_refusal",
        "single_already_http",
        "status_lag",
        "status_lag_random",
        "forget_empty",
    )
    return f"run={drawn} more={ {k: getattr(more, k) for k in fields} }"


async def sweep(seeds: range) -> int:
    failed = 0
    for seed in seeds:
        try:
            found = await run(seed)
        except Exception as error:  # (the driver's own failure is reported, not hidden)
            found = f"driver {type(error).__name__}: {error}"
        if found:
            failed += 1
            print(f"seed {seed}: {found}\n    {shown(seed)}", flush=True)
    seen = {**ten.SEEN, **SEEN}
    print(f"{failed} of {len(seeds)} seeds failed; met and reported: {seen}", flush=True)
    return failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=300)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--known", action="store_true", help="draw known-limit replays too")
    args = parser.parse_args()
    OPTIONS["known"] = args.known
    logging.basicConfig(level=logging.ERROR)  # (not the single convert's refusal, per run)
    failed = asyncio.run(sweep(range(args.first, args.first + args.seeds)))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
