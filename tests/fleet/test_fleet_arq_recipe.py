"""The README's arq recipe, run for real: redis-server, the simulator, two worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from zoho_convert.fleet.localserver import RedisServerProcess
from zoho_convert.simulator import SimulatorProcess

arq = pytest.importorskip("arq", reason="the arq recipe test needs arq (the dev extra has it)")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TOKEN = "arq-recipe-token"
CAP = 6


def _env(redis_url: str, sim_url: str, queue: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ZOHO_FLEET_URL=redis_url,
        ZOHO_ACCESS_TOKEN=TOKEN,
        ZOHO_API_DOMAIN=sim_url,
        ZOHO_ARQ_QUEUE=queue,
        # Half the org's cap each: without the fleet wiring yet, two workers must not
        # exceed it between them (with it: the fleet enforces CAP across both).
        ZOHO_MAX_CONCURRENCY=str(CAP // 2),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    return env


def test_arq_workers_convert_every_batch_once(redis_server: RedisServerProcess) -> None:
    """A producer enqueues 2,400 ids in 24 batches; two arq worker processes (burst mode)
    convert them all, never above the org's cap; each id is converted exactly once."""
    queue = f"arq:test:{uuid.uuid4().hex[:8]}"
    ids = [str(3_000_000_000_000_000 + n) for n in range(2400)]
    with SimulatorProcess(
        ["--seed", "1", "--latency", "0.02", "--job-duration", "0.2",
         "--concurrency-cap", str(CAP)],
        token=TOKEN,
    ) as sim:  # fmt: skip
        env = _env(redis_server.url, sim.url, queue)
        producer = subprocess.run(
            [sys.executable, str(HERE / "arq_recipe.py"), "enqueue", "/dev/stdin"],
            input="\n".join(ids),
            capture_output=True,
            text=True,
            env={**env, "ZOHO_BATCH": "100"},
            timeout=60,
            check=False,
        )
        assert producer.returncode == 0, producer.stderr[-2000:]
        workers = [
            subprocess.Popen(
                [sys.executable, str(HERE / "arq_recipe.py"), "worker", "--burst"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
            )
            for _ in range(2)
        ]
        logs = [w.communicate(timeout=120)[0] for w in workers]
        for worker, log in zip(workers, logs, strict=True):
            assert worker.returncode == 0, log[-2000:]
        state: dict[str, Any] = sim.state(jobs=False)

    quotes = state["conversions"]["Quotes"]
    assert quotes["converted"] == len(ids)
    assert quotes["max_count"] == 1
    assert state["stats"]["peak_in_flight"] <= CAP
    assert state["stats"]["rate_limited"] == 0
