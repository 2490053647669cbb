"""The CLI against the independent server (``alt_server``): its JSON report and exit code
judged id by id against that server's ledger, for ``convert`` and ``resume``.

The server runs on its own event loop in a thread, on the real clock (the CLI is a process of
its own); its jobs take a tenth of a second, so each run lasts about a second.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cli_helpers import FAST_POLL, base_env, run_cli

sys.path.insert(0, str(Path(__file__).parents[1] / "integration"))
from alt_server import AltConfig, AltServer, Rates
from test_unseen_server import judge

from zoho_convert import PollPolicy, StaticToken, ZohoConvertClient
from zoho_convert.bulk.events import BatchSubmitted

FAST = dict(scheduled_for=0.05, duration=0.1, token_life=1e9)


class AltThread:
    """An ``AltServer`` served from a thread of its own, on the real clock."""

    def __init__(self, config: AltConfig) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = AltServer(config, time.monotonic)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def call(self, work: Any) -> Any:
        """Run ``work()`` (a coroutine function or a plain one) on the server's loop."""

        async def wrapped() -> Any:
            result = work()
            return await result if asyncio.iscoroutine(result) else result

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout=30)

    def __enter__(self) -> AltThread:
        self.thread.start()
        self.call(self.server.__aenter__)
        return self

    def __exit__(self, *exc: object) -> None:
        self.call(lambda: self.server.__aexit__(None, None, None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def alt_thread() -> Iterator[Any]:
    """Start ``AltThread``s (stopped at the end)."""
    started: list[AltThread] = []

    def start(config: AltConfig) -> AltThread:
        server = AltThread(config).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__()


def prepare(alt: AltThread, tmp_path: Path, count: int, pre: int, locked: int) -> Any:
    """``count`` quotes in an ids file; ``pre`` converted before the run, ``locked`` locked."""

    def make() -> tuple[list[str], list[str]]:
        ids = alt.server.create("Quotes", count)
        before = ids[3 : 3 + 7 * pre : 7]
        alt.server.preconvert("Quotes", before)
        alt.server.locked.update(ids[-2 : -2 - 11 * locked : -11])
        return ids, before

    ids, before = alt.call(make)
    path = tmp_path / "ids.txt"
    path.write_text("\n".join(ids) + "\n")
    return ids, before, path


def from_json(text: str) -> Any:
    """The CLI's JSON report, read into the attributes ``judge`` looks at."""
    data = json.loads(text)
    unfinished = set(data.get("unfinished_jobs", ()))
    jobs = [
        SimpleNamespace(
            job_id=job["job_id"],
            ids=tuple(job["ids"]),
            finished=job["job_id"] not in unfinished,
            settling=job.get("settling", False),
            status=None if job["status"] is None else SimpleNamespace(**job["status"]),
            size=job["size"],
        )
        for job in data["jobs"]
    ]
    rejected = [SimpleNamespace(id=r["id"], code=r["code"]) for r in data["rejected"]]
    placed = (
        sum(job.size for job in jobs)
        + len(rejected)
        + len(data["uncertain"])
        + len(data["already_converted_ids"])
        + len(data["converted_by_record"])
    )
    return SimpleNamespace(
        total=data["total"],
        accounted_for=placed == data["total"],
        rejected=rejected,
        already_converted_ids=data["already_converted_ids"],
        uncertain=data["uncertain"],
        converted_by_record=data["converted_by_record"],
        jobs=jobs,
        converted=data["converted"],
        already_converted=data["already_converted"],
        ok=data["ok"],
    )


def env_of(alt: AltThread) -> dict[str, str]:
    """The CLI's environment: the server's URL and its static token."""
    return base_env(ZOHO_ACCESS_TOKEN=alt.server.access_token, ZOHO_API_DOMAIN=alt.server.url)


def ledger(alt: AltThread, ids: list[str]) -> dict[str, int]:
    """The server's ledger of ``ids`` once every job ended."""
    counts: dict[str, int] = alt.call(lambda: alt.server.counts("Quotes", ids))
    return counts


@pytest.mark.parametrize(
    ("pre", "locked", "code"), [(0, 0, 0), (3, 2, 1)], ids=["clean", "pre-and-locked"]
)
def test_cli_convert_report_and_exit_code_true(
    alt_thread: Any, tmp_path: Path, pre: int, locked: int, code: int
) -> None:
    """``convert --json`` against alt_server (bare title-case statuses, string counts,
    numeric job ids, 200 on submit, 429s and 500s): the JSON report matches the ledger id by
    id and the exit code says whether every id converted."""
    rates = {"submit": Rates(p429=0.2, p500_before=0.1), "status": Rates(p500_before=0.2)}
    alt = alt_thread(AltConfig(seed=2, rates=rates, **FAST))  # type: ignore[arg-type]
    ids, before, path = prepare(alt, tmp_path, 160, pre, locked)
    done = run_cli(
        "convert",
        "Quotes",
        "--to",
        "Sales_Orders",
        "--ids-file",
        path,
        "--json",
        "-q",
        *FAST_POLL,
        env=env_of(alt),
    )
    assert done.returncode == code, done.stderr
    report = from_json(done.stdout)
    judge(report, ledger(alt, ids), before)
    assert report.ok is (code == 0)
    assert alt.server.access_token not in done.stdout + done.stderr


def test_cli_resume_report_true(alt_thread: Any, tmp_path: Path) -> None:
    """A journaled run cancelled after its second job id, resumed with ``zoho-convert resume
    --json``: the whole run's report matches the ledger and the exit code is 0."""
    alt = alt_thread(AltConfig(seed=6, **FAST))  # type: ignore[arg-type]
    ids, before, path = prepare(alt, tmp_path, 300, 0, 0)
    journal = tmp_path / "run.db"

    async def first_session() -> None:
        async with ZohoConvertClient(
            StaticToken(alt.server.access_token), api_domain=alt.server.url
        ) as client:
            task: asyncio.Task[Any] | None = None
            seen = 0

            def progress(event: object) -> None:
                nonlocal seen
                seen += isinstance(event, BatchSubmitted)
                if seen == 2 and task is not None:
                    task.cancel()

            task = asyncio.create_task(
                client.convert_many(
                    "Quotes",
                    ids,
                    to="Sales_Orders",
                    journal=str(journal),
                    progress=progress,
                    poll=PollPolicy(initial=0.05, max_interval=0.1, timeout=30),
                    max_pending_jobs=2,
                )
            )
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(first_session())
    done = run_cli(
        "resume",
        "--journal",
        journal,
        "--ids-file",
        path,
        "--json",
        "-q",
        *FAST_POLL,
        env=env_of(alt),
    )
    assert done.returncode == 0, done.stderr
    report = from_json(done.stdout)
    judge(report, ledger(alt, ids), before)
    assert report.total == 300
