"""The CLI in a fleet: `--fleet` / ZOHO_FLEET_URL, `--token-file`, and `zoho-convert fleet status`,
each driven through the real `zoho-convert` process against a real redis-server."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import (
    FAST_POLL,
    TIMEOUT,
    StartSim,
    no_traceback,
    oauth_env,
    one_line,
    run_cli,
    sim_env,
    start_cli,
    write_ids,
)
from redis_helpers import need_redis_server

from zoho_convert.cli.parser import build_parser
from zoho_convert.fleet.localserver import RedisServerProcess
from zoho_convert.simulator import Faults, SimulatorThread

pytest.importorskip("redis", reason="--fleet needs redis-py (the dev extra installs it)")

from zoho_convert.fleet import RedisFleet

CAP = 4


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A throwaway redis-server for this module (skipped without the binary, except in CI)."""
    need_redis_server("the fleet tests")
    with RedisServerProcess() as server:
        yield server.url


_DATABASES = itertools.count(1)


@pytest.fixture
def fleet_url(redis_url: str) -> str:
    """The module's Redis with a database of the test's own (so the tests' fleets never meet)."""
    return f"{redis_url.rsplit('/', 1)[0]}/{next(_DATABASES) % 16}"


def _minted(sim: SimulatorThread) -> set[str]:
    """Every access token the simulator minted or accepts (none may ever be printed)."""
    return {str(token) for token in sim.state.tokens._tokens}


def _convert(ids_file: Path, *extra: str) -> tuple[str, ...]:
    return ("convert", "Quotes", "--to", "Sales_Orders", "--ids-file", str(ids_file),
            *FAST_POLL, *extra)  # fmt: skip


def test_every_command_that_talks_to_zoho_takes_the_fleet_flags() -> None:
    """Each command with the connection flags also has --fleet, --fleet-namespace and
    --token-file; `fleet status` has --fleet and --json."""
    parser = build_parser()

    def commands(p: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple]:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield (*path, name), sub
                    yield from commands(sub, (*path, name))

    talking = 0
    for path, sub in commands(parser):
        flags = {o for a in sub._actions for o in a.option_strings}
        if "--api-domain" in flags:
            talking += 1
            assert {"--fleet", "--fleet-namespace", "--token-file"} <= flags, path
    assert talking == 6  # convert, status, resume, convert-lead, convert-record, auth check
    args = parser.parse_args(["fleet", "status", "--fleet", "redis://h:6379/0", "--json"])
    assert (args.fleet, args.json) == ("redis://h:6379/0", True)


def test_a_rerun_in_the_fleet_skips_what_the_ledger_knows(
    sim: SimulatorThread, fleet_url: str, tmp_path: Path
) -> None:
    """A convert with --fleet records its ids; the same convert again (ZOHO_FLEET_URL this
    time) sends no mass convert and reports every id already converted."""
    ids_file = write_ids(tmp_path / "ids.txt", [str(n) for n in range(5000, 5300)])

    first = run_cli(*_convert(ids_file, "--fleet", fleet_url), env=sim_env(sim))
    assert first.returncode == 0, first.stderr
    submits = sim.state.stats.requests_by_endpoint["mass_convert"]

    again = run_cli(*_convert(ids_file), env=sim_env(sim, ZOHO_FLEET_URL=fleet_url))
    assert again.returncode == 0, again.stderr
    assert sim.state.stats.requests_by_endpoint["mass_convert"] == submits
    lines = again.stdout.splitlines()
    assert lines[0] == "Quotes → Sales_Orders: OK"
    assert "  already converted    300" in lines
    assert "  converted              0" in lines

    as_json = run_cli(*_convert(ids_file, "--json", "--fleet", fleet_url), env=sim_env(sim))
    report = json.loads(as_json.stdout)
    assert (report["already_converted"], report["ok"]) == (300, True)


def test_two_cli_runs_in_one_fleet_keep_under_the_org_cap(
    start_sim: StartSim, fleet_url: str, tmp_path: Path
) -> None:
    """Two convert processes started together, each with --concurrency at the org's cap,
    never put more than the cap in flight (no 429) and share one token."""
    sim = start_sim(seed=41, job_duration=0.1, faults=Faults(concurrency_cap=CAP, latency=0.02))
    env = oauth_env(sim, ZOHO_FLEET_URL=fleet_url)
    files = [write_ids(tmp_path / f"ids{k}.txt", [str(k * 1000 + n) for n in range(500)])
             for k in (1, 2)]  # fmt: skip
    procs = [
        start_cli(*_convert(ids_file, "--concurrency", str(CAP), "-q"), env=env)
        for ids_file in files
    ]
    outputs = [proc.communicate(timeout=TIMEOUT) for proc in procs]

    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    stats = sim.state.stats
    assert stats.rate_limited == 0
    assert stats.peak_in_flight <= CAP
    assert stats.token_refreshes == 1
    assert len(sim.state.converted_ids("Quotes")) == 1000


def test_token_file_lets_the_next_run_reuse_the_token(
    sim: SimulatorThread, tmp_path: Path
) -> None:
    """Two runs with --token-file mint one token between them; the file is 0600 and no
    output shows a token."""
    token_file = tmp_path / "zoho-token.json"
    env = oauth_env(sim)

    runs = [run_cli("auth", "check", "--token-file", token_file, env=env) for _ in range(2)]
    ids_file = write_ids(tmp_path / "ids.txt", ["7001", "7002"])
    runs.append(run_cli(*_convert(ids_file, "--token-file", str(token_file)), env=env))

    assert [run.returncode for run in runs] == [0, 0, 0], runs[-1].stderr
    assert sim.state.stats.token_refreshes == 1
    assert token_file.stat().st_mode & 0o777 == 0o600
    for run in runs:
        for token in _minted(sim):
            assert token not in run.stdout + run.stderr


@pytest.mark.parametrize(
    ("extra", "env_kind", "message"),
    [
        ((), "token", "--token-file keeps the tokens the refresh-token flow mints"),
        (("--fleet", "redis://127.0.0.1:6379/0"), "oauth", "--token-file and --fleet"),
    ],
)
def test_token_file_refused_where_it_means_nothing(
    sim: SimulatorThread, tmp_path: Path, extra: tuple[str, ...], env_kind: str, message: str
) -> None:
    """--token-file with an access token, or with a fleet (which shares the token already):
    exit 2 with one line, before anything is sent."""
    env = sim_env(sim) if env_kind == "token" else oauth_env(sim)
    result = run_cli("auth", "check", "--token-file", tmp_path / "t.json", *extra, env=env)

    assert result.returncode == 2
    assert message in one_line(result.stderr)
    assert sim.state.stats.requests_served == 0
    assert not (tmp_path / "t.json").exists()


def test_fleet_status_shows_slots_holders_token_ledger_and_credits(
    start_sim: StartSim, fleet_url: str, tmp_path: Path
) -> None:
    """After a run in the fleet, and while another member holds a slot: the text and the JSON
    show that holder (host:pid:task), the token's expiry but never the token, the ledger's
    size and the credits Zoho last reported."""
    sim = start_sim(seed=42, api_credits=20)
    ids_file = write_ids(tmp_path / "ids.txt", [str(n) for n in range(8000, 8250)])
    # One request at a time: the credits recorded last are the last Zoho sent.
    run = run_cli(*_convert(ids_file, "--fleet", fleet_url, "--concurrency", "1"),
                  env=oauth_env(sim))  # fmt: skip
    assert run.returncode == 0, run.stderr
    remaining = 20 - sim.state.stats.credits_used

    async def status_while_holding() -> tuple[str, list[str], str, str]:
        async with RedisFleet(fleet_url, max_concurrency=10) as member:
            async with member.limiter.slot():
                text = run_cli("fleet", "status", env=sim_env(sim, ZOHO_FLEET_URL=fleet_url))
                as_json = run_cli("fleet", "status", "--fleet", fleet_url, "--json",
                                  env=sim_env(sim))  # fmt: skip
            holder = member.process.rsplit(":", 1)[0]
        for result in (text, as_json):
            assert result.returncode == 0, result.stderr
            no_traceback(result)
        return text.stdout, text.stdout.splitlines(), as_json.stdout, holder

    out, lines, raw, holder = asyncio.run(status_while_holding())

    assert lines[0].startswith("fleet zoho_convert at 127.0.0.1:")
    assert lines[1] == "api slots: 1 of 10 in use, 0 waiting"
    assert lines[2].startswith(f"  {holder}:")
    assert lines[3] == "lead_convert slots: 0 of 3 in use, 0 waiting"
    assert lines[4].startswith("token: expires in ") and sim.url in lines[4]
    assert lines[5] == "ledger: 250 converted ids (Quotes 250)"
    assert lines[6].startswith(f"credits: {remaining:,} remaining, seen ")
    status = json.loads(raw)
    assert status["ledger_size"] == 250 and status["ledger"] == {"Quotes": 250}
    assert status["credits"]["remaining"] == remaining
    assert status["slots"]["api"]["in_use"] == 1
    assert status["slots"]["api"]["holders"][0]["holder"].startswith(f"{holder}:")
    assert status["token_expires_at"] > time.time()
    for token in _minted(sim):
        assert token not in out + raw


def test_fleet_status_needs_a_reachable_redis(sim: SimulatorThread) -> None:
    """No fleet URL: exit 2. A URL that is not Redis: exit 2, not echoed. Redis not there:
    exit 1 naming host:port, never the password. One line each, no traceback."""
    missing = run_cli("fleet", "status", env=sim_env(sim))
    assert missing.returncode == 2
    assert "--fleet redis://" in one_line(missing.stderr)

    wrong = run_cli(
        "fleet", "status", "--fleet", "https://user:pw-1@example.test", env=sim_env(sim)
    )
    assert wrong.returncode == 2
    assert "pw-1" not in one_line(wrong.stderr)

    unreachable = "redis://:pw-2@127.0.0.1:1/0"
    gone = run_cli("fleet", "status", env=sim_env(sim, ZOHO_FLEET_URL=unreachable))
    assert gone.returncode == 1
    line = one_line(gone.stderr)
    assert "127.0.0.1:1" in line and "pw-2" not in line
    for result in (missing, wrong, gone):
        no_traceback(result)
        assert result.stdout == ""


def test_a_convert_whose_fleet_is_unreachable_sends_nothing(
    sim: SimulatorThread, tmp_path: Path
) -> None:
    """convert --fleet with Redis not there: exit 1 with one line, no request to Zoho."""
    ids_file = write_ids(tmp_path / "ids.txt", ["9001"])
    result = run_cli(*_convert(ids_file, "--fleet", "redis://127.0.0.1:1/0"), env=sim_env(sim))

    assert result.returncode == 1
    assert "cannot reach Redis at 127.0.0.1:1" in one_line(result.stderr)
    assert sim.state.stats.requests_served == 0
