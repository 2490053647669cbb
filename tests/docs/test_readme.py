"""Every README example runs: Python blocks against the simulator, CLI lines through the parser,
and the contributor walk-through as a shell script (from `zoho-convert demo` on)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import shlex
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from readme import README, Block, block_under, blocks
from redis_helpers import need_redis_server

from zoho_convert import ZohoConvertClient
from zoho_convert.cli.parser import build_parser
from zoho_convert.settings import ENV_VARIABLES, client_kwargs_from_env
from zoho_convert.simulator import SimulatorConfig, SimulatorThread
from zoho_convert.simulator import cli as simulator_cli

TIMEOUT = 120.0


def _run(block: Block) -> dict[str, Any]:
    """Execute a block as a module would run, and return its namespace."""
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(block.code, f"README.md ({block.heading})", "exec"), namespace)
    return namespace


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    """A simulator with instant jobs, in a thread."""
    with SimulatorThread(SimulatorConfig(seed=17)) as simulator:
        yield simulator


@pytest.fixture
def zoho_env(sim: SimulatorThread, monkeypatch: pytest.MonkeyPatch) -> SimulatorThread:
    """ZOHO_* variables for the refresh-token flow against ``sim``, as a deployment sets them."""
    for name in ENV_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    config = sim.simulator.config
    monkeypatch.setenv("ZOHO_CLIENT_ID", config.client_id)
    monkeypatch.setenv("ZOHO_CLIENT_SECRET", config.client_secret)
    monkeypatch.setenv("ZOHO_REFRESH_TOKEN", config.refresh_token)
    monkeypatch.setenv("ZOHO_DATA_CENTER", "eu")
    monkeypatch.setenv("ZOHO_ACCOUNTS_URL", sim.url)
    monkeypatch.setenv("ZOHO_API_DOMAIN", sim.url)
    return sim


# -- the Python examples, each run by the test that names it ---------------------------------

EXAMPLES = {
    "service": "async def convert_quotes(",
    "worker": "async def worker(",
    "progress": "async def convert_with_progress(",
    "pytest": "@pytest.mark.zoho_simulator(",
    "process": "SimulatorProcess(",
    "fleet": "async def convert_in_fleet(",
    "arq": "class WorkerSettings",
}


def _example(name: str) -> Block:
    (block,) = [b for b in blocks("python") if EXAMPLES[name] in b.code]
    return block


def test_every_python_example_is_run_by_a_test() -> None:
    """Each ```python block of the README is one of the examples the tests below run."""
    found = blocks("python")
    assert found
    for block in found:
        names = [name for name, marker in EXAMPLES.items() if marker in block.code]
        assert len(names) == 1, f"README block under {block.heading!r} is run by no test"
    assert len(found) == len(EXAMPLES)


async def test_service_example_converts_and_prints_the_report(
    zoho_env: SimulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    """convert_quotes reads ZOHO_* as a deployment would; it prints counts, and JSON on trouble."""
    convert_quotes = _run(_example("service"))["convert_quotes"]
    quotes = zoho_env.state.create_records("Quotes", 120)

    await convert_quotes(quotes)
    assert capsys.readouterr().out == "120 converted; 0 rejected\n"
    assert zoho_env.state.converted_ids("Quotes") == set(quotes)

    await convert_quotes([quotes[0], "not-an-id"])
    out = capsys.readouterr().out
    assert out.startswith("0 converted; 2 rejected\n{")
    assert '"ok": false' in out


async def _main(batches: list[Any]) -> None:
    main: Callable[[list[Any]], Any] = _run(_example("worker"))["main"]
    await asyncio.wait_for(main(batches), TIMEOUT)  # a hung queue.join() fails, not hangs


async def test_worker_example_converts_every_batch(zoho_env: SimulatorThread) -> None:
    """Four workers sharing one client convert every queued batch."""
    orders = zoho_env.state.create_records("Sales_Orders", 300)
    batches = [orders[n : n + 40] for n in range(0, 300, 40)]

    await _main(batches)

    assert zoho_env.state.converted_ids("Sales_Orders") == set(orders)


async def test_progress_example_follows_the_run_to_the_reports_counts(
    zoho_env: SimulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    """The live tally ends where the report does: every id settled, each converted once."""
    convert_with_progress = _run(_example("progress"))["convert_with_progress"]
    quotes = zoho_env.state.create_records("Quotes", 120)
    async with ZohoConvertClient(**client_kwargs_from_env()) as client:
        tally = await convert_with_progress(client, quotes)

    assert (tally.settled, tally.read, tally.converted) == (120, 120, 120)
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "120/120 settled, 120 converted"
    assert zoho_env.state.converted_ids("Quotes") == set(quotes)


async def test_worker_example_survives_refused_credentials_and_bad_input(
    zoho_env: SimulatorThread,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A refused token fails each batch, a bad batch raises: main still returns, all logged."""
    orders = zoho_env.state.create_records("Sales_Orders", 20)
    for name in ("ZOHO_CLIENT_ID", "ZOHO_CLIENT_SECRET", "ZOHO_REFRESH_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("ZOHO_ACCESS_TOKEN", "1000.revoked.token")
    caplog.set_level(logging.ERROR, logger="conversions")

    await _main([orders[:10], "12345", orders[10:]])  # a str is not a batch: TypeError

    messages = [record.getMessage() for record in caplog.records]
    assert sum("INVALID_TOKEN" in message for message in messages) == 2
    assert any(record.exc_info and record.exc_info[0] is TypeError for record in caplog.records)
    assert len(messages) == 3
    assert zoho_env.state.converted_ids("Sales_Orders") == set()


def test_pytest_example_passes_in_a_plain_project(tmp_path: Path) -> None:
    """The README's test passes in a project with no pytest-asyncio and no pytest settings."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_example.py").write_text(_example("pytest").code)
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # no pytest-asyncio, no others
    # An installed zoho-convert loads the plugin through its pytest11 entry point; with
    # autoload off (and from a checkout), -p does what that entry point does.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "zoho_convert.testing", "--strict-markers",
         "-p", "no:cacheprovider", "test_example.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_pytest_plugin_is_registered_by_the_package() -> None:
    """pyproject declares the pytest11 entry point that makes the fixtures appear on install."""
    pyproject = (README.parent / "pyproject.toml").read_text(encoding="utf-8")

    # tomllib is 3.11+ and the project supports 3.10: read the table's lines.
    table = pyproject.split("[project.entry-points.pytest11]\n", 1)[1].split("\n\n", 1)[0]
    assert table.strip() == '"zoho_convert.testing" = "zoho_convert.testing"'


def test_simulator_process_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """The SimulatorProcess example starts the simulator, reads its state and stops it."""
    _run(_example("process"))

    assert capsys.readouterr().out.strip().isdigit()


# -- fleet mode: the example against a real redis-server, the arq excerpt against its recipe --


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A throwaway redis-server (skipped without the binary, except in CI)."""
    pytest.importorskip("redis", reason="fleet mode needs redis-py (the dev extra has it)")
    from zoho_convert.fleet.localserver import RedisServerProcess  # noqa: PLC0415

    need_redis_server("the fleet examples")
    with RedisServerProcess() as server:
        yield server.url


async def test_fleet_example_converts_then_skips_what_the_fleet_knows(
    zoho_env: SimulatorThread,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """convert_in_fleet converts 120 quotes; run again, it submits nothing and says they were
    already converted; both runs share one token through Redis."""
    monkeypatch.setenv("ZOHO_FLEET_URL", redis_url)
    convert_in_fleet = _run(_example("fleet"))["convert_in_fleet"]
    quotes = zoho_env.state.create_records("Quotes", 120)

    await convert_in_fleet(quotes)
    assert capsys.readouterr().out == "120 converted; 0 already converted\n"
    submits = zoho_env.state.stats.requests_by_endpoint["mass_convert"]

    await convert_in_fleet(quotes)
    assert capsys.readouterr().out == "0 converted; 120 already converted\n"
    assert zoho_env.state.stats.requests_by_endpoint["mass_convert"] == submits
    assert zoho_env.state.converted_ids("Quotes") == set(quotes)
    assert zoho_env.state.stats.token_refreshes == 1


def _code_lines(text: str) -> list[str]:
    """The code of each line: comments, blank lines and ``...`` dropped, spaces collapsed."""
    lines = []
    for line in text.splitlines():
        code = line.split("  #", 1)[0].strip()
        if code and not code.startswith("#") and code != "...":
            lines.append(" ".join(code.split()))
    return lines


def test_arq_excerpt_is_the_recipes_own_code() -> None:
    """Every line of the README's arq excerpt is a line of tests/fleet/arq_recipe.py (the
    recipe its test runs with worker processes), in the recipe's order."""
    recipe = _code_lines((README.parent / "tests" / "fleet" / "arq_recipe.py").read_text())
    excerpt = _code_lines(_example("arq").code)
    assert len(excerpt) >= 20
    position = 0
    for line in excerpt:
        assert line in recipe[position:], f"not in arq_recipe.py (or out of order): {line}"
        position = recipe.index(line, position) + 1


# -- the shell examples ---------------------------------------------------------------------

_COMMAND = re.compile(
    r"(?:^|[\s(|])((?:zoho-convert|python -m zoho_convert\.simulator)\b[^|#)&>;]*)"
)


def _commands() -> Iterator[tuple[Block, list[str]]]:
    for block in blocks("sh"):
        for line in block.code.replace("\\\n", " ").splitlines():
            for match in _COMMAND.finditer(line):
                yield block, shlex.split(match.group(1))


def test_every_cli_line_of_the_readme_parses() -> None:
    """Each zoho-convert (and simulator) command line in a ```sh block is accepted by the parser."""
    parser = build_parser()
    simulator = argparse.ArgumentParser()
    simulator_cli.add_arguments(simulator)
    seen = 0
    for block, words in _commands():
        seen += 1
        try:
            if words[0] == "zoho-convert":
                parser.parse_args(words[1:])
            else:
                simulator.parse_args(words[3:])
        except SystemExit:
            pytest.fail(f"README ({block.heading}): {shlex.join(words)} does not parse")
    assert seen >= 20


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


_SETUP = ("git clone ", "python3 -m venv ", "python -m pytest")  # a fresh clone: done by CI


def test_contributor_walkthrough_runs(tmp_path: Path) -> None:
    """The walk-through works as written: demo, simulate, auth check, --dry-run, a convert."""
    block = block_under("Contributing: a fresh clone, step by step", "sh")
    port = _free_port()
    lines = [line for line in block.code.splitlines() if not line.startswith(_SETUP)]
    assert [line.split()[0] for line in lines][:2] == ["zoho-convert", "zoho-convert"]
    script = ["set -euo pipefail", "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT"]
    for line in lines:
        script.append(line.replace("8000", str(port)))
        if " simulate " in line:  # a person waits for it to start; a script must ask
            script.append(
                f'until "$PYTHON" -c "import socket; socket.create_connection((\'127.0.0.1\', '
                f'{port}), 0.2)" 2>/dev/null; do sleep 0.05; done'
            )
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZOHO_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHON"] = sys.executable

    result = subprocess.run(
        ["bash", "-c", "\n".join(script)], cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=TIMEOUT, check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Quotes → Sales_Orders: OK" in out.split("credentials OK")[0]  # the demo's report
    assert "credentials OK: the access token (ZOHO_ACCESS_TOKEN) was accepted" in out
    assert "dry run of Quotes → Sales_Orders: nothing was converted" in out
    assert "plan: 10 batches of up to 50 ids" in out and "about 21 requests" in out
    assert out.rstrip().splitlines()[0] == "Quotes → Sales_Orders: OK"
    final = out.split("nothing was converted")[1]
    assert "Quotes → Sales_Orders: OK" in final and "ids read           500" in final
    assert (tmp_path / "failed.tsv").read_text() == ""
    assert (tmp_path / "run.db").exists()
