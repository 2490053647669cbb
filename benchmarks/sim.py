"""The simulator in a child process: start it, read its URL, query its stats, stop it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from zoho_convert.simulator import SimulatorProcess

TOKEN = "1000.benchmark.token"  # the simulator's initial access token (a local fake)
CLIENT_ID = "sim-client"  # the simulator's defaults for the refresh-token grant
CLIENT_SECRET = "sim-secret"
REFRESH_TOKEN = "sim-refresh"

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class SimSettings:
    """How the simulated CRM behaves in one scenario.

    Attributes:
        latency: seconds added to every API request (L).
        job_duration: seconds a mass-convert job takes (D).
        job_duration_jitter: each job takes D +/- up to this.
        concurrency_cap: more API requests in flight than this get HTTP 429 (C).
        rate_429: probability of a random 429 per API request.
        rate_500: probability of a random 500 per API request.
        token_max_uses: an access token expires (401 INVALID_TOKEN) after this many uses.
        seed: seeds every random choice of the simulator.
    """

    latency: float = 0.0
    job_duration: float = 0.0
    job_duration_jitter: float = 0.0
    concurrency_cap: int | None = 10
    rate_429: float = 0.0
    rate_500: float = 0.0
    token_max_uses: int | None = None
    seed: int = 7
    extra: Sequence[str] = field(default=())

    def argv(self) -> list[str]:
        """Command-line options of ``python -m zoho_convert.simulator`` (``BenchSimulator``
        adds the token, host and port)."""
        args = [
            "--seed", str(self.seed),
            "--latency", repr(self.latency),
            "--job-duration", repr(self.job_duration),
            "--job-duration-jitter", repr(self.job_duration_jitter),
            "--rate-429", repr(self.rate_429),
            "--rate-500", repr(self.rate_500),
        ]
        if self.concurrency_cap is not None:
            args += ["--concurrency-cap", str(self.concurrency_cap)]
        if self.token_max_uses is not None:
            args += ["--token-max-uses", str(self.token_max_uses)]
        return args + list(self.extra)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description."""
        return {
            "latency_s": self.latency,
            "job_duration_s": self.job_duration,
            "job_duration_jitter_s": self.job_duration_jitter,
            "concurrency_cap": self.concurrency_cap,
            "rate_429": self.rate_429,
            "rate_500": self.rate_500,
            "token_max_uses": self.token_max_uses,
            "seed": self.seed,
        }


class BenchSimulator(SimulatorProcess):
    """The simulator in a child process (``zoho_convert.simulator.SimulatorProcess``) with
    ``settings``, plus what a benchmark measures of it: its ledger and its CPU time.

    Args:
        settings: the simulator's behaviour.
        startup_timeout: seconds to wait for the ``url:`` announcement.
    """

    def __init__(self, settings: SimSettings, startup_timeout: float = 30.0) -> None:
        super().__init__(settings.argv(), token=TOKEN, startup_timeout=startup_timeout)
        self.settings = settings

    def converted_ids(self, module: str = "Quotes") -> list[str]:
        """``GET /__simulator__/conversions``: every id of ``module`` converted so far."""
        data = self.get_json(f"/__simulator__/conversions?module={module}", timeout=120)
        ids: list[str] = data["converted_ids"]
        return ids

    def cpu_seconds(self) -> float | None:
        """User + system CPU seconds the simulator process used so far (Linux only)."""
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, RuntimeError):
            return None
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def summarize(state: dict[str, Any], module: str = "Quotes") -> dict[str, Any]:
    """The numbers a benchmark reports, from ``/__simulator__/state``."""
    stats = state["stats"]
    polls = list(stats.get("polls_per_job", {}).values())
    ledger = state.get("conversions", {}).get(module, {})
    return {
        "requests_served": stats["requests_served"],
        "peak_in_flight": stats["peak_in_flight"],
        "rate_limited": stats["rate_limited"],
        "responses_by_status": stats["responses_by_status"],
        "token_refreshes": stats["token_refreshes"],
        "jobs": state.get("job_count", len(polls)),
        "polls": sum(polls),
        "polls_per_job": (sum(polls) / len(polls)) if polls else None,
        "max_polls_per_job": max(polls) if polls else None,
        "ledger_converted": ledger.get("converted", 0),
        "ledger_max_count": ledger.get("max_count", 0),
        "ledger_reserved": ledger.get("reserved", 0),
    }
