"""Fleet mode with arq: a producer enqueues batches of ids, worker processes convert them.

The recipe of the README's "Fleet mode" section (the README quotes this file, and
``tests/docs/test_readme.py`` checks the quote), run as it is by
``tests/fleet/test_fleet_arq_recipe.py``. arq's queue and the fleet share one Redis::

    export ZOHO_FLEET_URL=redis://127.0.0.1:6379/0 ZOHO_CLIENT_ID=... (or ZOHO_ACCESS_TOKEN)
    python arq_recipe.py worker            # as many as you like, on any hosts
    python arq_recipe.py enqueue ids.txt   # a producer: batches of ids become jobs

Settings come from the environment: ``ZOHO_FLEET_URL``, the credentials and location the CLI
reads (``ZOHO_CLIENT_ID``/``ZOHO_CLIENT_SECRET``/``ZOHO_REFRESH_TOKEN`` or
``ZOHO_ACCESS_TOKEN``, ``ZOHO_DATA_CENTER``, ``ZOHO_API_DOMAIN``, ...), ``ZOHO_MAX_CONCURRENCY``
(the org's limit, default 10) and ``ZOHO_ARQ_QUEUE`` (default ``arq:queue``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from arq import create_pool, run_worker
from arq.connections import RedisSettings

from zoho_convert import ZohoConvertClient
from zoho_convert.fleet import RedisFleet
from zoho_convert.settings import client_kwargs_from_env

FLEET_URL = os.environ.get("ZOHO_FLEET_URL", "redis://127.0.0.1:6379/0")
QUEUE = os.environ.get("ZOHO_ARQ_QUEUE", "arq:queue")
ORG_LIMIT = int(os.environ.get("ZOHO_MAX_CONCURRENCY", "10"))  # the org's, not a process's


async def startup(ctx: dict[str, Any]) -> None:
    """One fleet member and one client per worker process, shared by all its jobs."""
    fleet = RedisFleet(FLEET_URL, max_concurrency=ORG_LIMIT)  # every worker: the full limit
    await fleet.start()
    client = ZohoConvertClient(**client_kwargs_from_env(), fleet=fleet, max_concurrency=ORG_LIMIT)
    await client.__aenter__()
    ctx["fleet"], ctx["client"] = fleet, client


async def shutdown(ctx: dict[str, Any]) -> None:
    """Close the client, then leave the fleet."""
    await ctx["client"].close()
    await ctx["fleet"].close()


async def convert_batch(ctx: dict[str, Any], module: str, ids: list[str], to: str) -> dict:
    """One arq job: convert a batch of ids and return the report's counts."""
    report = await ctx["client"].convert_many(module, ids, to=to)
    return {"converted": report.converted, "skipped": report.already_converted,
            "rejected": len(report.rejected), "uncertain": len(report.uncertain)}  # fmt: skip


class WorkerSettings:
    """``arq arq_recipe.WorkerSettings`` (or ``python arq_recipe.py worker``)."""

    functions = [convert_batch]
    on_startup, on_shutdown = startup, shutdown
    redis_settings = RedisSettings.from_dsn(FLEET_URL)
    queue_name = QUEUE
    max_jobs = 4  # batches at once per process; the fleet bounds the requests of all of them


async def enqueue(ids: list[str], module: str = "Quotes", to: str = "Sales_Orders",
                  batch: int = 500) -> list[str]:  # fmt: skip
    """The producer: one job per ``batch`` ids; returns the job ids."""
    redis = RedisSettings.from_dsn(FLEET_URL)
    async with await create_pool(redis, default_queue_name=QUEUE) as pool:
        jobs = [await pool.enqueue_job("convert_batch", module, ids[i : i + batch], to)
                for i in range(0, len(ids), batch)]  # fmt: skip
    return [job.job_id for job in jobs if job is not None]  # None: a repeated explicit job id


def main(argv: list[str]) -> int:
    """``worker [--burst]`` runs a worker; ``enqueue FILE`` enqueues the ids in FILE."""
    if argv[:1] == ["worker"]:
        run_worker(WorkerSettings, burst="--burst" in argv)  # type: ignore[arg-type]
        return 0
    if argv[:1] == ["enqueue"] and len(argv) == 2:
        with open(argv[1], encoding="utf-8") as lines:
            ids = [line.strip() for line in lines if line.strip()]
        batch = int(os.environ.get("ZOHO_BATCH", "500"))
        print(json.dumps(asyncio.run(enqueue(ids, batch=batch))))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
