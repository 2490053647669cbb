"""Crash-and-resume hunt (issue 11): runs killed (SIGKILL), terminated or interrupted at chosen
points, resumed (and killed again), against the simulator; each report judged id by id
against the simulator's ledger (``truth.assert_report_true``).

The CLI runs as a real subprocess against a simulator served from a thread of this process
(its ledger read directly). No test sleeps to wait for a state: each polls the journal file
or the ledger with a deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from fakes import SummingTime, deadline
from truth import RETRY, assert_report_true, cancel_after_first_submission

from zoho_convert import StaticToken, ZohoConvertClient
from zoho_convert.api.wire import converter
from zoho_convert.bulk.report import ConversionReport
from zoho_convert.simulator import Simulator, SimulatorConfig, SimulatorThread

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="signals need POSIX")

CLI = (sys.executable, "-m", "zoho_convert")
FAST = ("--poll-interval", "0.05", "--progress", "none", "--json")
WAIT = 30.0  # bound of every wait on a subprocess or a state


# -- helpers ------------------------------------------------------------------------------


def _env(sim: SimulatorThread) -> dict[str, str]:
    """This process's environment pointed at ``sim`` (no other ZOHO_* variable)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZOHO_")}
    env.update(ZOHO_ACCESS_TOKEN=sim.access_token, ZOHO_API_DOMAIN=sim.url)
    return env


def _start(args: Sequence[object], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *map(str, args)], env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _run(args: Sequence[object], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *map(str, args)], env=env, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=WAIT * 2, check=False,
    )


def _until(
    condition: Callable[[], bool], what: str, proc: subprocess.Popen[str] | None = None
) -> bool:
    """Poll ``condition`` (every 10 ms) until it holds (True), or ``proc`` has exited (False);
    fail after ``WAIT`` seconds."""
    end = time.monotonic() + WAIT
    while not condition():
        if proc is not None and proc.poll() is not None:
            return False
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.01)
    return True


def _batches(journal: Path) -> dict[int, tuple[str, str | None]]:
    """seq -> (state, job id), read-only; empty while the journal is not in place."""
    if not journal.exists():
        return {}
    try:
        with contextlib.closing(sqlite3.connect(f"file:{journal}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT seq, state, job_id FROM batch").fetchall()
    except sqlite3.OperationalError:
        return {}
    return {seq: (state, job_id) for seq, state, job_id in rows}


def _kill(proc: subprocess.Popen[str], sig: signal.Signals = signal.SIGKILL) -> tuple[str, str]:
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=WAIT)
    return out, err


def _counts(sim: SimulatorThread, module: str, ids: Sequence[str]) -> dict[str, int]:
    """The ledger for ``ids``, once every job the simulator holds has reached its end."""

    async def read() -> dict[str, int]:
        sim.state.advance()
        return {i: sim.state.conversions.get((module, i), 0) for i in ids}

    return sim.call(read())


def _served(sim: SimulatorThread) -> int:
    async def read() -> int:
        return sim.state.stats.requests_served

    return sim.call(read())


def _report(text: str) -> ConversionReport:
    data = json.loads(text)
    for extra in ("ok", "unfinished_jobs", "interrupted"):
        data.pop(extra, None)
    return converter.structure(data, ConversionReport)


def _records(sim: SimulatorThread, count: int) -> list[str]:
    async def create() -> list[str]:
        return sim.state.create_records("Quotes", count)

    return sim.call(create())


# -- another data center, another org --------------------------------------------------------


def test_resume_against_another_data_center_is_refused_before_anything_is_sent(
    sim_threads: Callable[..., SimulatorThread], tmp_path: Path
) -> None:
    """A journal resumed against another API domain exits 2 naming both; nothing is sent there,
    the journal is left as it was, and resuming where the run was then finishes it, once."""
    from zoho_convert.simulator import Faults  # noqa: PLC0415

    # (Requests of 20 ms one at a time, jobs of 0.05-0.55 s: some jobs end while others run
    # for about half a second, a window the journal is read in even on a loaded machine.)
    home = sim_threads(seed=1, job_duration=0.3, job_duration_jitter=0.25, strict_records=True,
                faults=Faults(latency=0.02))
    elsewhere = sim_threads(seed=2, job_duration=0.3, strict_records=True)
    ids = _records(home, 100)
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    journal = tmp_path / "run.db"
    proc = _start(
        ["convert", "Quotes", "--to", "Sales_Orders", "--ids-file", ids_file, "--journal",
         journal, "--batch-size", "10", "--concurrency", "1", *FAST], _env(home),
    )
    try:
        # A job finished (its length journaled: a batch caught mid-submission waits that
        # long on resume, not the minute of a run that never saw a job end) and one running.
        states = lambda: {state for state, _ in _batches(journal).values()}  # noqa: E731
        assert _until(lambda: {"finished", "submitted"} <= states(), "a job ended, one runs", proc)
    finally:
        _kill(proc)
    before = _batches(journal)

    refused = _run(["resume", "--journal", journal, "--ids-file", ids_file, *FAST],
                   _env(elsewhere))

    assert refused.returncode == 2, refused.stderr
    assert refused.stdout == ""
    assert refused.stderr.strip() == (
        f"zoho-convert: error: journal {journal} is a run against {home.url}, but this client "
        f"talks to {elsewhere.url}: resume it with the data center (or API domain) of that run"
    )
    assert _served(elsewhere) == 0
    assert _batches(journal) == before

    resumed = _run(["resume", "--journal", journal, "--ids-file", ids_file, *FAST], _env(home))

    assert resumed.returncode == 0, resumed.stderr
    assert_report_true(_report(resumed.stdout), _counts(home, "Quotes", ids))


async def test_resume_in_another_org_at_the_same_address_is_refused(tmp_path: Path) -> None:
    """A server restarted as another org (its module ids differ) at the run's address: resume
    raises ValueError after one Modules call, before any poll or submission."""
    time_ = SummingTime()
    journal = tmp_path / "run.db"
    first = Simulator(SimulatorConfig(seed=1, job_duration=100.0, clock=time_.clock))
    async with first:
        url, port = first.url, int(first.url.rsplit(":", 1)[1])
        ids = first.state.create_records("Quotes", 20)
        async with ZohoConvertClient(
            StaticToken(first.access_token), api_domain=url, retry=RETRY, sleep=time_.sleep,
            clock=time_.clock,
        ) as client:
            await cancel_after_first_submission(client, ids, journal, wait=WAIT)
    other = Simulator(
        SimulatorConfig(seed=2, access_token=first.access_token, clock=time_.clock), port=port
    )
    async with other, ZohoConvertClient(
        StaticToken(first.access_token), api_domain=url, retry=RETRY, sleep=time_.sleep,
        clock=time_.clock,
    ) as client:
        assert other.url == url
        with pytest.raises(ValueError, match="is a run in another Zoho org: module Sales_Orders"):
            async with deadline(WAIT):
                await client.resume(str(journal))
        assert other.state.stats.requests_served == 1  # the Modules call, nothing else


# -- a damaged journal, a lost write-ahead file -------------------------------------------------


def test_a_damaged_journal_is_refused_in_one_line_before_anything_is_sent(
    sim_threads: Callable[..., SimulatorThread], tmp_path: Path
) -> None:
    """A journal file damaged where its batches are (a bad copy, a failing disk): resume exits
    2 with one line saying it is damaged, no traceback, nothing sent."""
    sim = sim_threads(seed=3)
    ids = _records(sim, 30)
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    journal = tmp_path / "run.db"
    first = _run(["convert", "Quotes", "--to", "Sales_Orders", "--ids-file", ids_file,
                  "--journal", journal, "--batch-size", "10", *FAST], _env(sim))
    assert first.returncode == 0, first.stderr
    with contextlib.closing(sqlite3.connect(journal)) as db:
        (page,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name='batch'").fetchone()
        (size,) = db.execute("PRAGMA page_size").fetchone()
    with open(journal, "r+b") as file:  # the batches' page lost; the run's own rows still read
        file.seek((page - 1) * size)
        file.write(bytes(size))
    before = _served(sim)

    resumed = _run(["resume", "--journal", journal, *FAST], _env(sim))

    assert resumed.returncode == 2, resumed.stderr
    assert resumed.stdout == ""
    (line,) = resumed.stderr.splitlines()
    assert line.startswith(
        f"zoho-convert: error: cannot resume from {journal}: a damaged journal ("
    )
    assert line.endswith("it cannot be resumed; its ids may have been sent, so convert them "
                         "again in a new run (Zoho refuses the ones already converted)")
    assert _served(sim) == before


# -- killed, terminated, interrupted at chosen points, under faults ---------------------------


def _at(journal: Path, state: str) -> Callable[[], bool]:
    return lambda: any(s == state for s, _ in _batches(journal).values())


def _held_by(journal: Path, pid: int) -> Callable[[], bool]:
    """Whether process ``pid`` has opened the journal (its signal handlers are in place by
    then: a signal during Python's start-up ends a process that has done nothing yet)."""

    def held() -> bool:
        with contextlib.closing(sqlite3.connect(f"file:{journal}?mode=ro", uri=True)) as db:
            row = db.execute("SELECT value FROM run WHERE key='holder'").fetchone()
        return bool(row) and str(row[0]).startswith(f"{pid} on ")

    return held


@pytest.mark.parametrize("mode", ["refuse", "in-job"])
def test_kills_at_each_phase_then_resumes_under_lost_replies_and_429s(
    sim_threads: Callable[..., SimulatorThread], tmp_path: Path, mode: str
) -> None:
    """SIGKILL mid-submission, then resumes killed (SIGKILL), terminated (143, the report so
    far) and interrupted (130, likewise) mid-way, then one to the end: under lost submit
    replies (processed, then 500) and 429s, its report is true to the ledger per id and
    nothing is converted twice."""
    from zoho_convert.simulator import Faults  # noqa: PLC0415

    # (Each request takes 20 ms, one at a time: a run of some seconds, caught at each phase.)
    faults = Faults(rate_500=0.3, rate_429=0.1, fault_after_processing=True,
                    fault_endpoints=frozenset({"mass_convert"}), latency=0.02)
    sim = sim_threads(seed=5, job_duration=0.3, faults=faults,
               already_converted="fail_call" if mode == "refuse" else "fail_in_job")
    ids = _records(sim, 200)
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    journal = tmp_path / "run.db"
    env = _env(sim)
    resume = ["resume", "--journal", journal, "--ids-file", ids_file, *FAST]

    proc = _start(["convert", "Quotes", "--to", "Sales_Orders", "--ids-file", ids_file,
                   "--journal", journal, "--batch-size", "10", "--concurrency", "1", *FAST], env)
    try:
        # (After a job ended: its length, journaled, bounds a lost job's wait on resume; a
        # run that never saw one waits SettlePolicy.unknown_wait, a minute.)
        _until(lambda: _at(journal, "finished")() and _at(journal, "submitting")(),
               "a job ended and a batch mid-submission")
    finally:
        _kill(proc)
    for sig, code in [
        (signal.SIGKILL, -signal.SIGKILL),
        (signal.SIGTERM, 143),
        (signal.SIGINT, 130),
        (signal.SIGKILL, -signal.SIGKILL),
    ]:
        proc = _start(resume, env)
        try:
            running = (
                _until(_held_by(journal, proc.pid), "the resume to open the journal", proc)
                and (served := _served(sim)) >= 0
                # (its Modules call, then polls, submissions, settling: under way)
                and _until(lambda: _served(sim) >= served + 4, "the resumed run to send", proc)
            )
        finally:
            out, err = _kill(proc, sig)
        if not running and proc.returncode in (0, 1):  # (it ended before the signal came)
            break
        assert proc.returncode == code, err
        if sig is not signal.SIGKILL:
            assert json.loads(out)["interrupted"] is True  # the whole run's report so far
            (line,) = err.splitlines()
            assert line.endswith(f"resume with: zoho-convert resume --journal {journal} "
                                 f"--ids-file {ids_file}")

    final = _run(resume, env)

    assert final.returncode in (0, 1), final.stderr
    report = _report(final.stdout)
    assert report.input_complete and not report.unfinished
    assert_report_true(report, _counts(sim, "Quotes", ids))
