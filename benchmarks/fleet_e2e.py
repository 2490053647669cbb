"""``python -m benchmarks.fleet_e2e [--n 8000] [--workers 4] [--quick] [--json]``: issue 14.

W worker processes share N quotes (disjoint slices) against the simulator with an org cap of
10 that answers 429 above it, L = 50 ms, D = 1 s, each with ``max_concurrency=10`` and a
``RefreshTokenAuth`` against the simulator's token endpoint:

- ``one process``: a single process converts all N (the makespan to compare with);
- ``no fleet``: the W processes limit only themselves (the 429s and makespan of today);
- ``fleet``: the W processes share a ``RedisFleet`` (targets: 0 concurrency 429s, peak in
  flight <= 10, 1 token refresh, makespan <= 1.25x one process);
- ``fleet re-run``: the same N again through the same fleet (target: 0 submits).

Exits 1 when a run is not correct (an id not converted, or converted twice; a re-run that
submits); it asserts no timing.

Each worker is its own process and starts on one signal (a file appearing), after its imports
and connections; the makespan runs from the first worker's start to the last one's end.
Prints a table (or JSON) and the machine's load (``os.getloadavg``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.sim import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, BenchSimulator, SimSettings
from benchmarks.sim import summarize as summarize_sim

ID_BASE = 2_000_000_000_000_000_000
SETTINGS = SimSettings(latency=0.05, job_duration=1.0, concurrency_cap=10)
CONCURRENCY = 10


# -- one worker process -------------------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    """Convert ids [start, start + n) and print what happened as one JSON line."""
    import asyncio  # noqa: PLC0415 - the child's imports are its own

    from zoho_convert import RefreshTokenAuth, ZohoConvertClient  # noqa: PLC0415
    from zoho_convert.fleet import RedisFleet  # noqa: PLC0415

    async def main() -> dict[str, Any]:
        auth = RefreshTokenAuth(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, accounts_url=args.url)
        fleet = RedisFleet(args.fleet, max_concurrency=CONCURRENCY) if args.fleet else None
        options: dict[str, Any] = {"fleet": fleet} if fleet is not None else {}
        if fleet is not None:
            await fleet.start()
        try:
            async with ZohoConvertClient(
                auth, api_domain=args.url, max_concurrency=CONCURRENCY, **options
            ) as client:
                ids = [str(ID_BASE + i) for i in range(args.start, args.start + args.n)]
                while not os.path.exists(args.go):  # noqa: ASYNC110, ASYNC240 - a start line
                    await asyncio.sleep(0.002)
                started = time.time()
                report = await client.convert_many("Quotes", ids, to="Sales_Orders")
                ended = time.time()
        finally:
            if fleet is not None:
                await fleet.close()
        return {
            "started": started,
            "ended": ended,
            "converted": report.converted,
            "rejected": len(report.rejected),
            "uncertain": len(report.uncertain),
            "requests": report.requests,
            "submitted": report.submitted,
            "already_converted": report.already_converted,
        }

    print(json.dumps(asyncio.run(main())), flush=True)


# -- the runs -----------------------------------------------------------------------------


def _run_workers(
    sim_url: str, n: int, workers: int, fleet_url: str | None, start: int = 0
) -> list[dict[str, Any]]:
    go = Path(tempfile.mkdtemp(prefix="zc-fleet-e2e-")) / "go"
    share = n // workers
    procs = []
    for k in range(workers):
        command = [sys.executable, "-m", "benchmarks.fleet_e2e", "child", "--url", sim_url]
        command += ["--start", str(start + k * share), "--n", str(share), "--go", str(go)]
        command += ["--fleet", fleet_url] if fleet_url else []
        procs.append(subprocess.Popen(command, stdout=subprocess.PIPE, text=True))
    time.sleep(3.0)  # let every worker import and connect, so all start on the same signal
    go.touch()
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"a worker failed (exit {proc.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def _row(name: str, results: list[dict[str, Any]], sim: dict[str, Any]) -> dict[str, Any]:
    return {
        "run": name,
        "processes": len(results),
        "makespan_s": round(
            max(r["ended"] for r in results) - min(r["started"] for r in results), 3
        ),
        "converted": sum(r["converted"] for r in results),
        "submitted": sum(r["submitted"] for r in results),
        "already_converted": sum(r["already_converted"] for r in results),
        "requests": sum(r["requests"] for r in results),
        "submits": sim["submits"],
        "rate_limited_429": sim["rate_limited"],
        "peak_in_flight": sim["peak_in_flight"],
        "token_refreshes": sim["token_refreshes"],
        "ledger_max_count": sim["ledger_max_count"],
    }


def _sim_numbers(sim: BenchSimulator) -> dict[str, Any]:
    state = sim.state(jobs=False)
    numbers = summarize_sim(state)
    numbers["submits"] = state["stats"]["requests_by_endpoint"].get("mass_convert", 0)
    return numbers


def run_all(n: int, workers: int) -> list[dict[str, Any]]:
    """Every run of the benchmark, each against a fresh simulator (the re-run: the fleet's)."""
    from zoho_convert.fleet.localserver import RedisServerProcess  # noqa: PLC0415

    rows = []
    with BenchSimulator(SETTINGS) as sim:
        rows.append(_row("one process", _run_workers(sim.url, n, 1, None), _sim_numbers(sim)))
    with BenchSimulator(SETTINGS) as sim:
        rows.append(_row("no fleet", _run_workers(sim.url, n, workers, None), _sim_numbers(sim)))
    with BenchSimulator(SETTINGS) as sim, RedisServerProcess() as redis:
        first = _run_workers(sim.url, n, workers, redis.url)
        before = _sim_numbers(sim)
        rows.append(_row("fleet", first, before))
        again = _run_workers(sim.url, n, workers, redis.url)
        after = _sim_numbers(sim)
        row = _row("fleet re-run", again, after)
        # The re-run's own share of the simulator's counters.
        for key, stat in (
            ("rate_limited_429", "rate_limited"),
            ("token_refreshes", "token_refreshes"),
            ("submits", "submits"),
        ):
            row[key] = after[stat] - before[stat]
        rows.append(row)
    alone = rows[0]["makespan_s"]
    for row in rows[1:]:
        row["makespan_vs_one_process"] = round(row["makespan_s"] / alone, 2) if alone else None
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, as ``child``, one worker) and print the results."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fleet_e2e")
    sub = parser.add_subparsers(dest="command")
    one = sub.add_parser("child")
    one.add_argument("--url", required=True)
    one.add_argument("--start", type=int, required=True)
    one.add_argument("--n", type=int, required=True)
    one.add_argument("--go", required=True)
    one.add_argument("--fleet")
    parser.add_argument("--n", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="800 quotes: checks the harness")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "child":
        child(args)
        return 0
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    n = 800 if args.quick else args.n
    rows = run_all(n, args.workers)
    if args.json:
        print(json.dumps({"load_before": load, "runs": rows}, indent=2))
    else:
        print(f"load average before the runs (1, 5, 15 min): {load}")
        for row in rows:
            print("  ".join(f"{k}={v}" for k, v in row.items()))
    wrong = [row["run"] for row in rows if not correct(row, n)]
    if wrong:
        print(f"NOT CORRECT: {', '.join(wrong)}", file=sys.stderr)
    return 1 if wrong else 0


def correct(row: dict[str, Any], n: int) -> bool:
    """Every id converted exactly once (a re-run: every id skipped, nothing submitted)."""
    if row["ledger_max_count"] != 1:
        return False
    if row["run"] == "fleet re-run":
        return bool(row["already_converted"] == n and row["submits"] == 0)
    return bool(row["converted"] == n)


if __name__ == "__main__":
    raise SystemExit(main())
