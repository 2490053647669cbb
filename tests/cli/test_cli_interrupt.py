"""Ctrl-C during a run with --journal, then `zoho-convert resume` finishing it."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
from collections import Counter
from pathlib import Path

from cli_helpers import (
    FAST_POLL,
    TIMEOUT,
    StartSim,
    converted_count,
    interrupt,
    interrupt_a_convert,
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
    stopped = interrupt_a_convert(sim, tmp_path, ids)
    err, ids_file, journal, env = stopped.err, stopped.ids_file, stopped.journal, stopped.env

    assert stopped.returncode == 130, err
    so_far = json.loads(stopped.out)  # the report of what was done before the interrupt
    assert so_far["interrupted"] is True and so_far["ok"] is False
    assert so_far["input_complete"] is False
    assert so_far["converted"] <= converted_count(sim, "Quotes")
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
    # refuses it as converted (by the first submission): counted as already converted.
    assert report["rejected"] == []
    assert report["converted"] + report["already_converted"] == len(ids)
    assert report["ok"] and resumed.returncode == 0
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
    assert json.loads(out)["interrupted"] is True

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

    def polled() -> bool:
        # Polled: the run has the job's id (a job made but not yet answered is uncertain).
        return len(sim.state.jobs) == 1 and bool(sim.state.stats.polls_per_job)

    try:
        wait_until(polled, what="the job to be submitted and polled")
    finally:
        out, err = interrupt(proc)

    assert proc.returncode == 130
    assert out.splitlines()[0] == "Quotes → Invoices: interrupted"
    (job_id,) = sim.state.jobs
    assert f"job {job_id} still running: zoho-convert status Quotes {job_id} --wait" in out
    assert "--journal PATH" in one_line(err)


def test_ctrl_c_without_journal_prints_the_report_so_far_as_json(
    start_sim: StartSim, tmp_path: Path
) -> None:
    """Ctrl-C with --json and no journal: what converted, and which jobs still run, on stdout."""
    # Seed 27 makes one job of the eight never finish: the run waits on it until Ctrl-C.
    sim = start_sim(seed=27, job_duration=0.02, faults=Faults(never_finish_rate=0.3))
    ids = [str(n) for n in range(2000, 2400)]
    proc = start_cli(
        "convert", "Quotes", "--to", "Invoices", "--ids-file",
        write_ids(tmp_path / "ids.txt", ids), *FAST_POLL, "--json", env=sim_env(sim),
    )

    def finished_jobs_polled() -> bool:
        async def check() -> bool:
            jobs = sim.state.jobs.values()
            done = [job for job in jobs if job.outcome == "COMPLETED"]
            polls = sim.state.stats.polls_per_job
            return len(jobs) == 8 and all(polls.get(job.job_id, 0) for job in done)

        return sim.call(check())

    try:
        wait_until(lambda: converted_count(sim, "Quotes") == 350, what="seven jobs done")
        wait_until(finished_jobs_polled, what="the client to poll them")
    finally:
        out, err = interrupt(proc)

    assert proc.returncode == 130, err
    so_far = json.loads(out)
    assert so_far["interrupted"] is True and so_far["total"] == 400
    (never,) = [job.job_id for job in sim.state.jobs.values() if job.outcome == "NEVER"]
    assert never in so_far["unfinished_jobs"]
    # Every job is either seen done (its 50 ids converted) or still running: nothing is lost.
    assert so_far["converted"] + len(so_far["unfinished"]) == 400
    assert so_far["converted"] > 0
    assert "nothing can be resumed" in one_line(err)


def test_sigterm_stops_like_ctrl_c_exit_143_and_resume_finishes(
    start_sim: StartSim, tmp_path: Path
) -> None:
    """SIGTERM: the journal is closed cleanly, the resume command printed, exit 143."""
    sim = start_sim(seed=25, job_duration=0.5, faults=Faults(latency=0.02))
    ids = [str(n) for n in range(400_000, 402_000)]
    ids_file = write_ids(tmp_path / "ids.txt", ids)
    journal = tmp_path / "term.journal"
    env = sim_env(sim)
    proc = start_cli(
        "convert", "Quotes", "--to", "Invoices", "--ids-file", ids_file, "--journal", journal,
        "--batch-size", "10", "--concurrency", "2", *FAST_POLL, env=env,
    )
    try:
        wait_until(lambda: converted_count(sim, "Quotes") >= 50, what="some jobs to finish")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=TIMEOUT)

    assert proc.returncode == 143, err
    assert out.splitlines()[0] == "Quotes → Invoices: interrupted"
    assert one_line(err) == (
        f"zoho-convert: terminated; resume with: zoho-convert resume --journal {journal} "
        f"--ids-file {ids_file}"
    )
    resumed = run_cli(
        "resume", "--journal", journal, "--ids-file", ids_file, *FAST_POLL, "--json", env=env
    )
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["total"] == len(ids)
    assert report["rejected"] == [] and report["ok"]
    ledger = _ledger(sim, "Quotes")
    assert set(ledger) == set(ids)
    assert set(ledger.values()) == {1}


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
