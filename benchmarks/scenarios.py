"""The scenarios, the theoretical limit, and one measured run (simulator + client processes)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from benchmarks import output, profiling, timeline
from benchmarks.child import ID_BASE
from benchmarks.sim import (
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    TOKEN,
    BenchSimulator,
    SimSettings,
    summarize,
)

BATCH = 50
LEDGER_CHECK_MAX = 100_000  # above this, trust the ledger's counts (max_count, converted)


def batches(n: int) -> int:
    """B = ceil(N / 50): mass-convert calls needed at least."""
    return math.ceil(n / BATCH)


def t_min(n: int, latency: float, cap: int, duration: float) -> float:
    """The issue's limit: T_min = 2*B*L/C + D (B submissions and B polls through C slots,
    plus one job's duration)."""
    return 2 * batches(n) * latency / cap + duration


def t_bound(n: int, latency: float, cap: int, duration: float) -> float:
    """A tighter lower bound than T_min, because jobs run while other batches are submitted.

    Requests: 2*B round trips through C slots take 2*B*L/C. Critical path: the last of B
    submissions cannot start before (B-1)*L/C, then its round trip L, the job's D, and a
    poll round trip L. Plus the module-id lookup (one round trip) before the first batch.
    """
    b = batches(n)
    return latency + max(2 * b * latency / cap, (b - 1) * latency / cap + 2 * latency + duration)


@dataclass(frozen=True)
class Run:
    """One client against one fresh simulator.

    Attributes:
        scenario: the scenario's key (``s1``, ``s2``, ...).
        client: ``zc`` (zoho_convert) or ``sdk`` (zohocrmsdk8-0 with a thread pool).
        n: ids to convert.
        sim: the simulator's settings.
        concurrency: the client's concurrency (C).
        poll_initial: zc: ``PollPolicy.initial`` (None: the default policy).
        retry_initial: zc: ``RetryPolicy.initial`` (None: the default policy).
        refresh: zc: authenticate with ``RefreshTokenAuth`` (token expiry scenarios).
        profile: profile the client with py-spy; write the summary to this path (and the
            collapsed stacks to ``<path>.raw``).
        role: ``twin`` for the fault-free twin of a fault scenario (same N, L, D and auth,
            no faults), whose makespan the fault row is compared with; else empty.
        timeline: record every request, progress event and retry sleep of the client and
            write their analysis to this path (the raw recording to ``<path>.raw``).
    """

    scenario: str
    client: str
    n: int
    sim: SimSettings
    concurrency: int = 10
    poll_initial: float | None = None
    refresh: bool = False
    profile: str | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    role: str = ""
    timeline: str | None = None
    retry_initial: float | None = None

    @property
    def t_min(self) -> float:
        return t_min(self.n, self.sim.latency, self.concurrency, self.sim.job_duration)

    @property
    def t_bound(self) -> float:
        return t_bound(self.n, self.sim.latency, self.concurrency, self.sim.job_duration)


def execute(run: Run, timeout: float = 900.0) -> dict[str, Any]:
    """Start a simulator, run the client in a child process, collect every number."""
    with BenchSimulator(run.sim) as sim, tempfile.TemporaryDirectory() as tmp:
        result_path = os.path.join(tmp, "result.json")
        cmd = [
            sys.executable, "-m", "benchmarks.child", run.client,
            "--url", sim.url, "--token", TOKEN, "--n", str(run.n),
            "--concurrency", str(run.concurrency), "--result", result_path,
        ]
        if run.poll_initial is not None:
            cmd += ["--poll-initial", repr(run.poll_initial)]
        if run.retry_initial is not None:
            cmd += ["--retry-initial", repr(run.retry_initial)]
        raw_timeline = os.path.join(tmp, "timeline.json")
        if run.timeline:
            cmd += ["--timeline", raw_timeline]
        if run.refresh:
            cmd += ["--refresh", "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET,
                    "--refresh-token", REFRESH_TOKEN]
        sim_cpu_before = sim.cpu_seconds()
        started = time.perf_counter()
        if run.profile:
            raw = run.profile + ".raw"
            proc = profiling.run_profiled(cmd, raw, timeout)
        else:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  check=False)
        process_wall = time.perf_counter() - started
        if proc.returncode != 0:
            raise RuntimeError(
                f"{run.scenario}/{run.client} (n={run.n}) failed with exit code "
                f"{proc.returncode}:\n{proc.stderr[-4000:]}"
            )
        with open(result_path) as f:
            child: dict[str, Any] = json.load(f)
        if run.profile:
            title = (f"py-spy CPU profile: {run.scenario.upper()} {run.client}, N={run.n:,}, "
                     f"{run.sim.describe()}")
            with open(run.profile, "w") as f:
                f.write(profiling.summarize(raw, title))
        slots = None
        if run.timeline:
            with open(raw_timeline) as f:
                recorded = json.load(f)
            title = (f"Timeline of {run.scenario.upper()}{' ' + run.role if run.role else ''} "
                     f"(zoho_convert, N={run.n:,}; "
                     f"{output.settings_text(run.sim.describe())}, seed {run.sim.seed})")
            slots = timeline.write(recorded, run.timeline, title, run.concurrency)
            slots.pop("occupancy_100ms", None)
            slots.pop("last_job_history", None)
        sim_cpu_after = sim.cpu_seconds()
        server = summarize(sim.state(jobs=False))
        if run.n <= LEDGER_CHECK_MAX:
            server.update(_check_ledger(sim.converted_ids(), child["report"], run.n))
    row: dict[str, Any] = {
        "scenario": run.scenario,
        "client": run.client,
        "n": run.n,
        "batches": batches(run.n),
        "concurrency": run.concurrency,
        "sim": run.sim.describe(),
        "t_min_s": run.t_min,
        "t_bound_s": run.t_bound,
        "wall_s": child["wall_s"],
        "ratio_t_min": child["wall_s"] / run.t_min if run.t_min > 0 else None,
        "ratio_t_bound": child["wall_s"] / run.t_bound if run.t_bound > 0 else None,
        "cpu_s": child["cpu_s"],
        "cpu_user_s": child["cpu_user_s"],
        "cpu_sys_s": child["cpu_sys_s"],
        "cpu_us_per_id": child["cpu_s"] / run.n * 1e6 if run.n else None,
        "rss_base_mb": child["rss_base_mb"],
        "rss_peak_mb": child["rss_peak_mb"],
        "process_wall_s": process_wall,
        "sim_cpu_s": (
            sim_cpu_after - sim_cpu_before
            if sim_cpu_after is not None and sim_cpu_before is not None
            else None
        ),
        "client_report": child["report"],
        "server": server,
        "poll_initial": run.poll_initial,
        "retry_initial": run.retry_initial,
        "note": run.note,
        "role": run.role,
        "timeline": slots,
    }
    row["correct"] = _correct(row)
    row["all_converted"] = server["ledger_converted"] == run.n
    return row


def _check_ledger(converted: list[str], report: dict[str, Any], n: int) -> dict[str, Any]:
    """Compare the simulator's list of converted ids with what was sent and reported."""
    ledger = set(converted)
    ours = sum(1 for i in ledger if ID_BASE <= int(i) < ID_BASE + n)
    uncertain = set(report.get("uncertain_ids", ()))
    rejected = set(report.get("rejected_ids", ()))
    return {
        "ledger_ids_checked": True,
        "ledger_foreign_ids": len(ledger) - ours,
        "uncertain_converted": len(uncertain & ledger),
        "rejected_converted": len(rejected & ledger),
    }


def _correct(row: dict[str, Any]) -> bool:
    """Every id accounted for, and the client's counts match the simulator's ledger, where no
    id was converted twice and none is left reserved by an unfinished job.

    Ids the client reports as ``uncertain`` (or rejected) are accounted for: they are not
    required to be converted, only reported (see ``all_converted``).
    """
    report, server = row["client_report"], row["server"]
    return bool(
        report.get("accounted_for")
        and report.get("total") == row["n"]
        and report.get("converted") == server["ledger_converted"]
        and server["ledger_max_count"] <= 1
        and server["ledger_reserved"] == 0
        and server.get("ledger_foreign_ids", 0) == 0
        and server.get("rejected_converted", 0) == 0
    )
