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
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZOHO_")}
    env.update(
        ZOHO_FLEET_URL=redis_url,
        # The refresh-token flow against the simulator's token endpoint (its defaults).
        ZOHO_CLIENT_ID="sim-client",
        ZOHO_CLIENT_SECRET="sim-secret",
        ZOHO_REFRESH_TOKEN="sim-refresh",
        ZOHO_ACCOUNTS_URL=sim_url,
        ZOHO_API_DOMAIN=sim_url,
        ZOHO_ARQ_QUEUE=queue,
        # Every worker at the org's full cap: the fleet keeps them all under it together.
        ZOHO_MAX_CONCURRENCY=str(CAP),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    return env


def test_arq_workers_convert_every_batch_once(redis_server: RedisServerProcess) -> None:
    """A producer enqueues 2,400 ids in 24 batches; three arq worker processes (burst mode),
    each configured with the org's full cap, convert them all: Zoho never sees more than the
    cap in flight nor answers a 429, one token serves them all, each id converts once."""
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
            for _ in range(3)
        ]
        logs = [w.communicate(timeout=120)[0] for w in workers]
        for worker, log in zip(workers, logs, strict=True):
            assert worker.returncode == 0, log[-2000:]
        state: dict[str, Any] = sim.state(jobs=False)

    quotes = state["conversions"]["Quotes"]
    assert quotes["converted"] == len(ids)
    assert quotes["max_count"] == 1
    assert 1 < state["stats"]["peak_in_flight"] <= CAP
    assert state["stats"]["rate_limited"] == 0
    assert state["stats"]["token_refreshes"] == 1
