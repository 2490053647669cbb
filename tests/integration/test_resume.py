"""Crash and resume: a convert_many run in a subprocess is killed with SIGKILL; ``resume`` from
its journal finishes it against the same simulator (its own process, so the ledger survives)
and the ledger shows every id converted exactly once.

These tests wait for real, briefly: the simulator's jobs (or requests) take a few tenths of a
second so that the killed run is caught mid-way. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
import attrs
import pytest
from fakes import deadline

from zoho_convert import PollPolicy, StaticToken, ZohoConvertClient
from zoho_convert.bulk.report import ConversionReport
from zoho_convert.simulator import SimulatorProcess

HERE = Path(__file__).parent
TOKEN = "resume-test-token"
STEP = 0.01  # seconds between two looks at the journal
WAIT = 20.0  # bound of every wait on the subprocesses
POLL = PollPolicy(initial=0.05, max_interval=0.2, timeout=60.0)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL needs POSIX")


@attrs.define
class SimProcess:
    """A simulator in its own process and a session to look at its state."""

    url: str
    session: aiohttp.ClientSession

    async def get(self, path: str) -> Any:
        async with self.session.get(self.url + path) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def post(self, path: str, body: Any) -> Any:
        async with self.session.post(self.url + path, json=body) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def stats(self) -> dict[str, Any]:
        state = await self.get("/__simulator__/state?jobs=0")
        return dict(state["stats"], job_count=state["job_count"])


def _log(path: Path) -> BinaryIO:
    """A file for a subprocess's stderr (kept in tmp_path for when a test fails)."""
    return open(path, "wb")  # the caller closes it (with)


@contextlib.asynccontextmanager
async def _simulator(tmp_path: Path, *options: str) -> AsyncIterator[SimProcess]:
    """``python -m zoho_convert.simulator --port 0 --token T <options>``, stopped afterwards."""
    process = SimulatorProcess(
        options, token=TOKEN, startup_timeout=WAIT, stop_timeout=WAIT,
        stderr_path=tmp_path / "simulator.log",
    )
    async with process, aiohttp.ClientSession() as session:
        assert process.url.startswith("http://127.0.0.1:"), process.url
        assert process.token == TOKEN
        yield SimProcess(process.url, session)


def _journal_batches(path: Path) -> dict[int, tuple[str, str | None, tuple[str, ...]]]:
    """seq -> (state, job id, ids), read-only; empty while the journal is not set up yet."""
    if not path.exists():
        return {}
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT seq, state, job_id, ids FROM batch").fetchall()
    except sqlite3.OperationalError:  # the writer has not created the tables yet
        return {}
    return {seq: (state, job_id, tuple(ids.split(","))) for seq, state, job_id, ids in rows}


def _input_complete(path: Path) -> bool:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        row = db.execute("SELECT value FROM run WHERE key='input_complete'").fetchone()
    return bool(row and row[0] == "1")


async def _start_run(
    sim: SimProcess, tmp_path: Path, ids: list[str], *options: str
) -> tuple[asyncio.subprocess.Process, Path]:
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    journal = tmp_path / "run.journal"
    with _log(tmp_path / "run.log") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(HERE / "_run_convert.py"), sim.url, TOKEN, str(journal),
            str(ids_file), *options, stdout=asyncio.subprocess.DEVNULL, stderr=log,
        )
    return proc, journal


async def _kill(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGKILL)
    async with deadline(WAIT):
        assert await proc.wait() == -signal.SIGKILL


async def _resume(sim: SimProcess, journal: Path, ids: list[str]) -> ConversionReport:
    async with (
        ZohoConvertClient(StaticToken(TOKEN), api_domain=sim.url) as client,
        deadline(WAIT),
    ):
        # The killed run had not read all its input: pass the ids again.
        return await client.resume(str(journal), ids=iter(ids), poll=POLL)


async def _assert_converted_once(sim: SimProcess, ids: list[str]) -> None:
    ledger = await sim.get("/__simulator__/conversions?module=Quotes")
    assert sorted(ledger["converted_ids"]) == sorted(ids)
    quotes = (await sim.get("/__simulator__/state?jobs=0"))["conversions"]["Quotes"]
    assert quotes == {"converted": len(ids), "max_count": 1, "reserved": 0}


async def test_run_killed_mid_way_resumes_to_each_id_converted_once(tmp_path: Path) -> None:
    """A run SIGKILLed mid-way resumes from its journal: each id converted once, all accounted."""
    async with _simulator(tmp_path, "--job-duration", "0.3") as sim:
        ids = (await sim.post("/__simulator__/records", {"module": "Quotes", "count": 1000}))[
            "ids"
        ]
        # At most 3 jobs pending: the run is still reading its input when it is killed.
        proc, journal = await _start_run(sim, tmp_path, ids, "--max-pending-jobs", "3")
        async with deadline(WAIT):
            while True:
                states = Counter(s for s, _, _ in _journal_batches(journal).values())
                if states["finished"] >= 3 and states["submitted"] and states["pending"]:
                    break
                assert proc.returncode is None, (tmp_path / "run.log").read_text()
                await asyncio.sleep(STEP)
        await _kill(proc)

        at_kill = _journal_batches(journal)
        states = Counter(state for state, _, _ in at_kill.values())
        assert states["finished"] >= 3 and states["submitted"] and states["pending"]
        assert not _input_complete(journal)
        known_jobs = {job_id for _, job_id, _ in at_kill.values() if job_id is not None}
        before = await sim.get("/__simulator__/conversions?module=Quotes")
        assert len(before["converted_ids"]) < len(ids)

        report = await _resume(sim, journal, ids)

        await _assert_converted_once(sim, ids)
        assert report.total == len(ids) and report.input_complete and report.accounted_for
        assert not report.unfinished and not report.uncertain
        reported_jobs = {job.job_id for job in report.jobs}
        assert known_jobs <= reported_jobs  # journaled jobs were polled, never resubmitted
        # A submission the kill caught in flight may have reached the simulator: its ids are
        # then refused as already converted (by that lost job), never converted twice.
        lost_jobs = (await sim.stats())["job_count"] - len(reported_jobs)
        assert not report.rejected
        assert len(report.already_converted_ids) == 50 * lost_jobs
        assert report.converted + report.already_converted == len(ids)
        assert report.ok


@pytest.mark.parametrize("landed", [False, True], ids=["post-lost", "post-landed"])
async def test_run_killed_mid_submission_resumes_without_converting_twice(
    tmp_path: Path, landed: bool
) -> None:
    """A run killed while a batch's POST is in flight resumes; that batch converts exactly once."""
    # Every API request takes 0.4 s in the simulator and the run sends one request at a time,
    # so a batch journaled "submitting" while the simulator holds one request it has not yet
    # counted as a mass convert is that batch's POST, caught in flight by the kill. The
    # simulator then drops it (aiohttp fails the body read of a request whose connection is
    # gone). "post-landed" replays that POST before resuming, as a server that processed it
    # would have: the journal cannot tell these two apart, and resume must handle both.
    async with _simulator(tmp_path, "--latency", "0.4") as sim:
        ids = (await sim.post("/__simulator__/records", {"module": "Quotes", "count": 40}))[
            "ids"
        ]
        proc, journal = await _start_run(
            sim, tmp_path, ids,
            "--batch-size", "5", "--concurrency", "1", "--max-pending-jobs", "1",
        )
        async with deadline(WAIT):
            while True:
                batches = _journal_batches(journal)
                submitting = [seq for seq, (s, _, _) in batches.items() if s == "submitting"]
                if submitting and submitting[0] >= 2:
                    caught = submitting[0]
                    stats = await sim.stats()
                    sent = stats["requests_by_endpoint"].get("mass_convert", 0)
                    if stats["in_flight"] == 1 and sent == caught:
                        break
                assert proc.returncode is None, (tmp_path / "run.log").read_text()
                await asyncio.sleep(STEP)
        await _kill(proc)

        async with deadline(WAIT):  # the orphaned POST ends its latency and is dropped
            while True:
                if not (await sim.stats())["in_flight"]:
                    break
                await asyncio.sleep(STEP)
        assert (await sim.stats())["job_count"] == caught
        at_kill = _journal_batches(journal)
        assert [at_kill[seq][0] for seq in range(caught)] == ["finished"] * caught
        state, job_id, lost_ids = at_kill[caught]
        assert state == "submitting" and job_id is None
        assert not _input_complete(journal)
        if landed:
            async with ZohoConvertClient(StaticToken(TOKEN), api_domain=sim.url) as client:
                await client.mass_convert("Quotes", lost_ids, to="Sales_Orders")

        report = await _resume(sim, journal, ids)

        await _assert_converted_once(sim, ids)
        assert report.total == len(ids) and report.input_complete and report.accounted_for
        assert not report.unfinished and not report.uncertain
        batches_sent = len(ids) // 5
        if landed:
            # Sent again; the simulator refused each id as already converted (by the landed
            # POST's job): converted by this run's earlier submission, and the report says so.
            assert sorted(report.already_converted_ids) == sorted(lost_ids)
            assert not report.rejected and report.ok
            assert report.converted == len(ids) - len(lost_ids)
            assert len(report.jobs) == batches_sent - 1
            assert (await sim.stats())["job_count"] == batches_sent
        else:
            assert report.ok and report.converted == len(ids)
            # Settled as a mass convert (a job), or record by record (no job), as the run
            # judged faster (``SettlePolicy.record_by_record``): either way once per id.
            by_record = sorted(report.converted_by_record)
            assert by_record in ([], sorted(lost_ids))
            jobs = batches_sent - (1 if by_record else 0)
            assert len(report.jobs) == jobs
            assert (await sim.stats())["job_count"] == jobs
