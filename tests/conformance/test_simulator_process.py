"""The simulator's process entry point: start it, read its URL, make a request, SIGINT it."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from zoho_convert.simulator import SimulatorProcess


def test_module_entry_point_serves_and_exits_cleanly_on_sigint() -> None:
    """`python -m zoho_convert.simulator --port 0 --token T` prints url/token, serves, exits 0."""
    with SimulatorProcess(["--seed", "3"], token="tok-123") as sim:
        # SimulatorProcess read these from the process's `url:` and `token:` lines.
        assert sim.url.startswith("http://127.0.0.1:"), sim.url
        assert sim.token == "tok-123"
        request = urllib.request.Request(
            sim.url + "/crm/v8/settings/modules/Quotes",
            headers={"Authorization": "Zoho-oauthtoken tok-123"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            assert json.load(response)["modules"][0]["api_name"] == "Quotes"
        assert sim.state(jobs=False)["stats"]["requests_served"] == 1
        assert sim.returncode is None
    # Leaving the context sent SIGINT; it had to exit by itself (a kill gives -SIGKILL).
    assert sim.returncode == 0, sim.stderr_text()
    assert "Traceback" not in sim.stderr_text()


def test_entry_point_rejects_nonsense_options() -> None:
    """An out-of-range fault option is a usage error (exit status 2), not a traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "zoho_convert.simulator", "--rate-429", "2"],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert result.returncode == 2
    assert "rate_429" in result.stderr and "Traceback" not in result.stderr


def test_helper_reports_a_process_that_exits_before_announcing() -> None:
    """SimulatorProcess raises with the child's stderr when the simulator exits at startup."""
    sim = SimulatorProcess(["--rate-429", "2"])
    with pytest.raises(RuntimeError, match=r"exited before announcing(?s:.*)rate_429"):
        sim.start()
    assert sim.returncode == 2


def test_helper_sets_host_port_and_token_itself() -> None:
    """SimulatorProcess refuses --host/--port/--token in args: it chooses them."""
    for option in ("--port", "--host=0.0.0.0", "--token"):
        with pytest.raises(ValueError, match="set by SimulatorProcess"):
            SimulatorProcess([option, "1"])


async def test_helper_as_async_context_manager_with_a_generated_token(tmp_path: Path) -> None:
    """`async with` starts and stops it too; the generated token and stderr file are exposed."""
    log = tmp_path / "simulator.log"
    async with SimulatorProcess(stderr_path=log) as sim:
        assert sim.token and sim.pid > 0
        assert sim.state()["job_count"] == 0
    assert sim.returncode == 0
    assert log.exists() and sim.stderr_text() == log.read_text()
