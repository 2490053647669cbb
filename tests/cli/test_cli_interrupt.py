"""Ctrl-C during a run with --journal, then `zoho-convert resume` finishing it."""

from __future__ import annotations

import json
import shlex
import subprocess
from collections import Counter
from pathlib import Path

from cli_helpers import (
    FAST_POLL,
    StartSim,
    converted_count,
    interrupt,
    no_traceback,
    one_line,
    requests_served,
    run_cli,
    sim_env,
    start_cli,
    wait_until,
    write_ids,
)

from zoho_convert.simulator import Faults, SimulatorThread


def _ledger(sim: SimulatorThread, module: str) -> Counter[str]:
    return Counter({rid: n for (mod, rid), n in sim.state.conversions.items() if mod == module})


def test_sigint_mid_run_exits_130_and_resume_finishes_it(
    start_sim: StartSim, tmp_path: Path
) -> None:
    """SIGINT mid-run exits 130 with a resume command; that command converts the rest, once."""
    # Half-second jobs and slow requests through two connections: a run of some seconds.
    sim = start_sim(seed=21, job_duration=0.5, faults=Faults(latency=0.02))
    ids = [str(n) for n in range(100_000, 103_000)]
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

    assert proc.returncode == 130, err
    assert out == ""
    hint = one_line(err)
    assert hint.startswith("zoho-convert: interrupted; resume with: zoho-convert resume")
    assert len(_ledger(sim, "Quotes")) < len(ids)
    command = shlex.split(hint.split("resume with: ", 1)[1])
    assert command == [
        "zoho-convert", "resume", "--journal", str(journal), "--ids-file", str(ids_file)
    ]

    resumed = run_cli(*command[1:], *FAST_POLL, "--json", env=env)

    assert resumed.returncode in (0, 1), resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["total"] == len(ids) and report["input_complete"] is True
    # A batch whose request was in flight at the interrupt is sent again on resume; Zoho
    # refuses it as converted (by the first submission), so it can show up as rejected.
    assert {item["code"] for item in report["rejected"]} <= {"ID_ALREADY_CONVERTED"}
    assert report["converted"] + len(report["rejected"]) == len(ids)
    assert resumed.returncode == (0 if report["ok"] else 1)
    ledger = _ledger(sim, "Quotes")
    assert set(ledger) == set(ids)
    assert set(ledger.values()) == {1}


def test_sigint_while_stdin_is_still_open_then_resume_from_stdin(
    start_sim: StartSim, tmp_path: Path
) -> None:
    """Ctrl-C while waiting on stdin stops at once; resume wants the input again and gets it."""
    sim = start_sim(seed=22)
    ids = [str(n) for n in range(200_000, 201_000)]
    journal = tmp_path / "stdin.journal"
    env = sim_env(sim)
    proc = start_cli(
        "convert", "Quotes", "--to", "Invoices", "--ids-file", "-", "--journal", journal,
        "--batch-size", "10", *FAST_POLL, "--json", env=env, stdin=subprocess.PIPE,
    )
    try:
        assert proc.stdin is not None
        proc.stdin.write("\n".join(ids[:400]) + "\n")
        proc.stdin.flush()  # and keep it open: the producer is "still working"
        wait_until(lambda: converted_count(sim, "Quotes") == 400, what="the first 400 ids")
    finally:
        out, err = interrupt(proc)
    assert out == ""

    assert proc.returncode == 130, err
    assert one_line(err) == (
        f"zoho-convert: interrupted; resume with: zoho-convert resume --journal {journal} "
        "--ids-file - (with the same ids on standard input)"
    )
    before = requests_served(sim)

    without_input = run_cli("resume", "--journal", journal, env=env)

    assert without_input.returncode == 2
    assert "--ids-file" in one_line(without_input.stderr)
    assert requests_served(sim) == before

    resumed = run_cli(
        "resume", "--journal", journal, "--ids-file", "-", *FAST_POLL, "--json",
        env=env, stdin="\n".join(ids) + "\n",
    )

    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert (report["total"], report["converted"], report["rejected"]) == (1000, 1000, [])
    ledger = _ledger(sim, "Quotes")
    assert set(ledger) == set(ids)
    assert set(ledger.values()) == {1}


def test_sigint_without_journal_says_nothing_can_be_resumed(
    start_sim: StartSim, tmp_path: Path
) -> None:
    """Without --journal, Ctrl-C still exits 130 cleanly and says how to make runs resumable."""
    sim = start_sim(seed=23, job_duration=30.0)
    proc = start_cli(
        "convert", "Quotes", "--to", "Invoices", "--ids-file",
        write_ids(tmp_path / "ids.txt", ["11", "12"]), *FAST_POLL, env=sim_env(sim),
    )
    try:
        wait_until(lambda: len(sim.state.jobs) == 1, what="the job to be submitted")
    finally:
        out, err = interrupt(proc)

    assert proc.returncode == 130
    assert out == ""
    assert "--journal PATH" in one_line(err)


def test_resume_of_a_finished_run_reports_it_again(sim: SimulatorThread, tmp_path: Path) -> None:
    """Resuming a run that had finished sends nothing new and reports the same counts."""
    ids_file = write_ids(tmp_path / "ids.txt", [str(n) for n in range(300, 330)])
    journal = tmp_path / "done.journal"
    env = sim_env(sim)
    first = run_cli(
        "convert", "Quotes", "--to", "Invoices", "--ids-file", ids_file, "--journal", journal,
        *FAST_POLL, "--json", env=env,
    )
    assert first.returncode == 0, first.stderr
    before = requests_served(sim)

    again = run_cli("resume", "--journal", journal, "--json", env=env)

    assert again.returncode == 0, again.stderr
    no_traceback(again)
    assert json.loads(again.stdout)["converted"] == 30
    assert requests_served(sim) == before
