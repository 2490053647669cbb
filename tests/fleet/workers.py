"""Run ``fleet_worker.py`` in several real processes and collect what each reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def spawn(mode: str, params: dict[str, Any]) -> subprocess.Popen[str]:
    """Start one worker process (this worktree's package first on its path)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, str(HERE / "fleet_worker.py"), mode, json.dumps(params)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def run_together(
    mode: str, params: list[dict[str, Any]], go: Path, timeout: float = 60.0
) -> list[dict[str, Any]]:
    """Start one worker per params, release them at once, and return their results."""
    # Each worker's watchdog writes what it awaits before this gives up on it.
    watchdog = max(1.0, timeout - 15.0)
    procs = [spawn(mode, {"watchdog": watchdog, **p, "go": str(go)}) for p in params]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if line != "ready":
                _, err = proc.communicate(timeout=timeout)
                raise AssertionError(f"worker did not start: {line!r} {err[-2000:]}")
        go.touch()
        results = []
        for proc in procs:
            try:
                out, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
                # The worker's watchdog wrote what each task awaits: show it.
                raise AssertionError(f"worker hung for {timeout} s:\n{err[-20000:]}") from None
            assert proc.returncode == 0, _failure(proc.returncode, err)
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _failure(returncode: int, err: str) -> str:
    """A failed worker's error line first (the one line a test summary shows), then the end
    of its stderr (the traceback), whole enough to read where it was raised."""
    lines = [line for line in err.splitlines() if line.strip()]
    last = lines[-1] if lines else "(no stderr)"
    return f"worker exited {returncode}: {last}\n{err[-8000:]}"
