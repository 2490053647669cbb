"""The simulator in a child process: start it, read its URL, query its stats, stop it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

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
        """Command-line options of ``python -m zoho_convert.simulator``."""
        args = [
            "--token", TOKEN,
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


class SimulatorProcess:
    """``python -m zoho_convert.simulator`` in a child process, as a context manager.

    Args:
        settings: the simulator's behaviour.
        startup_timeout: seconds to wait for the ``url:`` announcement.
    """

    def __init__(self, settings: SimSettings, startup_timeout: float = 30.0) -> None:
        self.settings = settings
        self.startup_timeout = startup_timeout
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> SimulatorProcess:
        cmd = [sys.executable, "-m", "zoho_convert.simulator", "--port", "0"]
        cmd += self.settings.argv()
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
        )
        assert self._proc.stdout is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            line = self._proc.stdout.readline()
            if not line:
                err = self._proc.stderr.read() if self._proc.stderr else ""
                raise RuntimeError(f"the simulator exited before announcing its URL:\n{err}")
            if line.startswith("url:"):
                self.url = line.split(":", 1)[1].strip()
                break
        if not self.url:
            self.stop()
            raise RuntimeError("the simulator did not announce its URL in time")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def state(self) -> dict[str, Any]:
        """``GET /__simulator__/state`` without the per-job list."""
        with urllib.request.urlopen(f"{self.url}/__simulator__/state?jobs=0", timeout=60) as r:
            data: dict[str, Any] = json.load(r)
        return data

    def converted_ids(self, module: str = "Quotes") -> list[str]:
        """``GET /__simulator__/conversions``: every id of ``module`` converted so far."""
        url = f"{self.url}/__simulator__/conversions?module={module}"
        with urllib.request.urlopen(url, timeout=120) as r:
            ids: list[str] = json.load(r)["converted_ids"]
        return ids

    def cpu_seconds(self) -> float | None:
        """User + system CPU seconds the simulator process used so far (Linux only)."""
        if self._proc is None:
            return None
        try:
            with open(f"/proc/{self._proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK

    def stop(self) -> None:
        """Stop the simulator (SIGTERM, then SIGKILL if it lingers)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


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
