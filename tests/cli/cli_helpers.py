"""Helpers for the CLI's subprocess tests: run ``python -m zoho_convert`` against a simulator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from zoho_convert.simulator import SimulatorThread

StartSim = Callable[..., SimulatorThread]

CLI = (sys.executable, "-m", "zoho_convert")
#: Poll jobs soon: the simulator's jobs are quick, and the tests should be too.
FAST_POLL = ("--poll-interval", "0.05")
TIMEOUT = 60.0


@attrs.frozen
class RecordedRequest:
    """One API request a simulator handled (its endpoint, the path's module, the JSON body)."""

    endpoint: str
    module: str | None
    body: Any


def base_env(**variables: str) -> dict[str, str]:
    """This process's environment without any ZOHO_* variable, plus ``variables``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZOHO_")}
    env.pop("COLUMNS", None)
    env.pop("FORCE_COLOR", None)
    env.update(variables)
    return env


def sim_env(sim: SimulatorThread, **variables: str) -> dict[str, str]:
    """An environment pointing the CLI at ``sim`` with its static access token."""
    return base_env(**{"ZOHO_ACCESS_TOKEN": sim.access_token, "ZOHO_API_DOMAIN": sim.url,
                       **variables})


def oauth_env(sim: SimulatorThread, **variables: str) -> dict[str, str]:
    """An environment pointing the CLI at ``sim`` with the refresh-token flow."""
    config = sim.simulator.config
    return base_env(
        ZOHO_CLIENT_ID=config.client_id,
        ZOHO_CLIENT_SECRET=config.client_secret,
        ZOHO_REFRESH_TOKEN=config.refresh_token,
        ZOHO_ACCOUNTS_URL=sim.url,
        ZOHO_API_DOMAIN=sim.url,
        **variables,
    )


def run_cli(
    *args: str | os.PathLike[str],
    env: Mapping[str, str],
    stdin: str | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the CLI to completion and capture its output (stdin empty unless given)."""
    return subprocess.run(
        [*CLI, *map(str, args)],
        env=dict(env),
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        cwd=cwd,
    )


def start_cli(
    *args: str | os.PathLike[str],
    env: Mapping[str, str],
    cwd: Path | None = None,
    stdin: int = subprocess.DEVNULL,
) -> subprocess.Popen[str]:
    """Start the CLI in the background with its output piped."""
    return subprocess.Popen(
        [*CLI, *map(str, args)],
        env=dict(env),
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )


def wait_until(condition: Callable[[], bool], *, timeout: float = 30.0, what: str = "") -> None:
    """Poll ``condition`` every 20 ms until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.02)


def interrupt(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Send SIGINT to ``proc``, wait for it to exit, then collect its output.

    Its stdin stays open until it has exited: closing it first would end its input. Its
    outputs are drained meanwhile (a partial report can be longer than a pipe holds).
    """
    assert proc.stdout is not None and proc.stderr is not None
    outputs: dict[str, str] = {}
    readers = [
        threading.Thread(target=lambda n=name, f=pipe: outputs.__setitem__(n, f.read()))
        for name, pipe in (("out", proc.stdout), ("err", proc.stderr))
    ]
    for reader in readers:
        reader.start()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=TIMEOUT)
    if proc.stdin is not None:
        proc.stdin.close()
    for reader in readers:
        reader.join(TIMEOUT)
    proc.stdout.close()
    proc.stderr.close()
    return outputs["out"], outputs["err"]


@attrs.frozen
class Interrupted:
    """A ``convert`` with a journal interrupted (SIGINT) once some jobs finished."""

    returncode: int
    out: str
    err: str
    ids_file: Path
    journal: Path
    env: dict[str, str]


def interrupt_a_convert(sim: SimulatorThread, tmp_path: Path, ids: Sequence[str]) -> Interrupted:
    """Convert ``ids`` (Quotes to Sales_Orders, batches of 10, two connections, a journal,
    JSON out) and interrupt it once 50 records converted."""
    ids_file = write_ids(tmp_path / "ids.txt", ids)
    journal = tmp_path / "run.journal"
    env = sim_env(sim)
    proc = start_cli(
        "convert", "Quotes", "--to", "Sales_Orders", "--ids-file", ids_file,
        "--journal", journal, "--batch-size", "10", "--concurrency", "2", *FAST_POLL,
        "--json", env=env,
    )
    try:
        wait_until(lambda: converted_count(sim, "Quotes") >= 50, what="some jobs to finish")
    finally:
        out, err = interrupt(proc)
    return Interrupted(proc.returncode, out, err, ids_file, journal, env)


def converted_count(sim: SimulatorThread, module: str) -> int:
    """How many records of ``module`` the simulator has converted (read on its own loop)."""

    async def count() -> int:
        return len(sim.state.converted_ids(module))

    return sim.call(count())


def requests_served(sim: SimulatorThread) -> int:
    """Requests the simulator has answered so far (read on its own loop)."""

    async def count() -> int:
        return sim.state.stats.requests_served

    return sim.call(count())


def write_ids(path: Path, ids: Sequence[str]) -> Path:
    """Write ids one per line."""
    path.write_text("".join(f"{value}\n" for value in ids), encoding="utf-8")
    return path


def one_line(stderr: str) -> str:
    """The single line of ``stderr``; fail if it has more than one."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"expected a one-line message, got:\n{stderr}"
    return lines[0]


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    """Neither stream shows a Python traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    assert "Traceback" not in result.stdout, result.stdout
