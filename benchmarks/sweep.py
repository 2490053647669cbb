"""S4 and its fault-free twin over several simulator seeds: is a change to the engine a gain?

``python -m benchmarks.sweep [--seeds 1-8] [--n 10000] [--timeline DIR] [--json FILE]``

One S4 run says little about a change: which requests the seeded faults hit depends on the
seed, and one unlucky late 500 decides the makespan. This runs, per seed, the twin then S4
(back to back, so both see the same machine load) and prints each pair, the ratio S4 / twin,
the uncertain ids and the median ratio. Nothing is asserted. The ``zoho_convert`` measured is
whichever ``python`` imports (``PYTHONPATH``); the first line says which.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
from typing import Any

from benchmarks.cli import plan
from benchmarks.scenarios import execute


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        if "-" in part:
            lo, hi = part.split("-", 1)
            out += range(int(lo), int(hi) + 1)
        elif part.strip():
            out.append(int(part))
    return out


def _load() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    """Run the sweep and print its table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sweep", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="1-8", help="e.g. 1-8 or 3,7,11 (default 1-8)")
    parser.add_argument("--n", type=int, default=10_000, help="quotes per run (default 10,000)")
    parser.add_argument("--timeline", default=None,
                        help="write each run's timeline to this directory")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    parser.add_argument("--retry-initial", type=float, default=None,
                        help="RetryPolicy.initial of the client (default: the library's)")
    args = parser.parse_args(argv)

    import zoho_convert  # noqa: PLC0415 (only to say which copy is measured)

    print(f"zoho_convert from {os.path.dirname(zoho_convert.__file__)}", file=sys.stderr)
    base = {r.role: r for r in plan(False, True, {"s4"})}
    rows: list[dict[str, Any]] = []
    print(f"{'seed':>4} {'twin s':>7} {'S4 s':>7} {'ratio':>6} {'uncert':>6} {'correct':>7}"
          f" {'500s':>4} {'429s':>4}  load", file=sys.stderr)
    for seed in _seeds(args.seeds):
        pair: dict[str, dict[str, Any]] = {}
        for role in ("twin", ""):
            run = base[role]
            sim = dataclasses.replace(run.sim, seed=seed)
            timeline = None
            if args.timeline:
                os.makedirs(args.timeline, exist_ok=True)
                timeline = os.path.join(args.timeline,
                                        f"s4{'_' + role if role else ''}_seed{seed}.txt")
            pair[role or "s4"] = execute(dataclasses.replace(
                run, sim=sim, n=args.n, timeline=timeline, retry_initial=args.retry_initial))
        s4, twin = pair["s4"], pair["twin"]
        statuses = s4["server"]["responses_by_status"]
        row = {
            "seed": seed, "twin_s": twin["wall_s"], "s4_s": s4["wall_s"],
            "ratio": s4["wall_s"] / twin["wall_s"],
            "uncertain": s4["client_report"]["uncertain"], "correct": s4["correct"],
            "ok": s4["client_report"]["ok"], "load": _load(),
            "http_500": statuses.get("500", 0), "http_429": s4["server"]["rate_limited"],
            "requests": s4["server"]["requests_served"],
        }
        rows.append(row)
        print(f"{seed:>4} {row['twin_s']:7.2f} {row['s4_s']:7.2f} {row['ratio']:6.2f} "
              f"{row['uncertain']:>6} {'yes' if row['correct'] else 'NO':>7} "
              f"{row['http_500']:>4} {row['http_429']:>4}  {row['load']}", file=sys.stderr)
    ratios = [r["ratio"] for r in rows]
    print(f"median ratio {statistics.median(ratios):.2f} (min {min(ratios):.2f}, "
          f"max {max(ratios):.2f}); within 1.3: {sum(r <= 1.3 for r in ratios)}/{len(ratios)}; "
          f"uncertain ids in all: {sum(r['uncertain'] for r in rows)}; "
          f"not correct: {sum(not r['correct'] for r in rows)}", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
