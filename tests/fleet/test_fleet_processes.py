"""The fleet's promises across several real processes sharing one real redis-server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import redis
from workers import run_together, spawn

from zoho_convert.fleet import FileTokenStore, RedisFleet
from zoho_convert.fleet.localserver import RedisServerProcess


def test_org_cap_is_never_exceeded_across_four_processes(
    redis_server: RedisServerProcess, namespace: str, tmp_path: Path
) -> None:
    """4 processes x 6 tasks contend for 5 slots: at no instant do more than 5 hold one."""
    params = {"url": redis_server.url, "namespace": namespace, "limit": 5}
    work = {"tasks": 6, "rounds": 15, "hold": 0.003}
    results = run_together("slots", [{**params, **work}] * 4, tmp_path / "go")

    assert sum(r["grants"] for r in results) == 4 * 6 * 15
    peak = max(r["peak"] for r in results)
    assert 1 < peak <= 5, peak
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    assert client.zcard(f"{namespace}:slots:api:holders") == 0  # everything given back
    client.close()


def test_timeouts_and_cancellations_leak_no_slot_across_processes(
    redis_server: RedisServerProcess, namespace: str, tmp_path: Path
) -> None:
    """3 processes whose tasks time out at random while waiting or holding: the cap holds
    throughout, and once they are done no slot is held and no place is queued."""
    params = {"url": redis_server.url, "namespace": namespace, "limit": 3}
    work = {"tasks": 8, "rounds": 25}
    results = run_together(
        "chaos", [{**params, **work, "seed": k} for k in range(3)], tmp_path / "go"
    )

    assert max(r["peak"] for r in results) <= 3
    assert sum(r["timeouts"] for r in results) > 0  # the chaos did happen
    assert all(r["done"] >= work["tasks"] for r in results)  # each task's last round at least
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    assert client.zcard(f"{namespace}:slots:api:holders") == 0
    assert client.zcard(f"{namespace}:slots:api:waiters") == 0
    assert client.zcard(f"{namespace}:slots:api:waiter_leases") == 0
    assert client.get(f"{namespace}:test:in_flight") == "0"  # the measurement did not drift
    client.close()


def test_lead_convert_sub_limit_is_fleet_wide(
    redis_server: RedisServerProcess, namespace: str, tmp_path: Path
) -> None:
    """Convert Lead calls from 3 processes never exceed the fleet's sub-limit of 3."""
    params = {"url": redis_server.url, "namespace": namespace, "limit": 10}
    work = {"tasks": 4, "rounds": 10, "hold": 0.003, "kind": "lead_convert"}
    results = run_together("slots", [{**params, **work}] * 3, tmp_path / "go")

    assert sum(r["grants"] for r in results) == 3 * 4 * 10
    assert max(r["peak"] for r in results) <= 3


async def test_slots_of_a_killed_process_come_back_within_the_lease(
    redis_server: RedisServerProcess, namespace: str
) -> None:
    """A process SIGKILLed while holding every slot: its slots are free again after its lease,
    and while it lived its leases were renewed past their first end."""
    lease = 2.0  # short, but with slack for the renewal (every lease / 3) on a busy machine
    proc = spawn(
        "hold",
        {"url": redis_server.url, "namespace": namespace, "limit": 3, "lease": lease, "slots": 3},
    )
    try:
        assert proc.stdout is not None
        holder = json.loads(proc.stdout.readline())
        async with RedisFleet(
            redis_server.url, namespace=namespace, max_concurrency=3, lease=lease
        ) as fleet:
            await asyncio.sleep(lease * 1.5)  # past the first lease: only renewal keeps them held
            status = await fleet.status()
            assert status.slots["api"].in_use == 3
            assert {h.process for h in status.slots["api"].holders} == {holder["process"]}

            os.kill(holder["pid"], signal.SIGKILL)
            proc.communicate(timeout=30)
            killed_at = time.monotonic()

            async def take_all() -> None:
                async with fleet.limiter.slot(), fleet.limiter.slot(), fleet.limiter.slot():
                    status = await fleet.status()
                    assert {h.process for h in status.slots["api"].holders} == {fleet.process}

            await asyncio.wait_for(take_all(), timeout=lease * 10)
            # The slots came back because the lease ended, not because of a clean release.
            assert time.monotonic() - killed_at > lease / 3
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)  # reaps it and closes its pipes


def test_one_token_refresh_for_many_processes(
    redis_server: RedisServerProcess, namespace: str, tmp_path: Path
) -> None:
    """4 processes x 8 tasks ask for a token at once: one mint, everyone gets that token;
    then all refresh that token as stale: exactly one more mint, shared again."""
    params = {"url": redis_server.url, "namespace": namespace, "tasks": 8}
    first = run_together("token", [params] * 4, tmp_path / "go1")
    assert sum(r["mints"] for r in first) == 1
    tokens = {t for r in first for t in r["tokens"]}
    assert len(tokens) == 1
    (stale,) = tokens

    second = run_together("token", [{**params, "stale": stale}] * 4, tmp_path / "go2")
    assert sum(r["mints"] for r in second) == 1
    renewed = {t for r in second for t in r["tokens"]}
    assert len(renewed) == 1
    assert renewed != tokens


def test_file_token_store_one_mint_for_many_processes(tmp_path: Path) -> None:
    """4 processes sharing a token file mint once; the file is readable by its owner only."""
    path = tmp_path / "token.json"
    results = run_together(
        "filetoken", [{"path": str(path), "tasks": 5}] * 4, tmp_path / "go"
    )
    assert sum(r["mints"] for r in results) == 1
    assert len({t for r in results for t in r["tokens"]}) == 1
    assert path.stat().st_mode & 0o777 == 0o600


async def test_file_token_store_reused_by_the_next_run(tmp_path: Path) -> None:
    """A second 'CLI run' (a new store on the same file) reuses the token: no mint."""
    path = tmp_path / "token.json"
    results = run_together("filetoken", [{"path": str(path), "tasks": 1}], tmp_path / "go")
    (token,) = results[0]["tokens"]

    async def never() -> tuple[str, float, str | None]:
        raise AssertionError("a fresh token in the file must be reused")

    reused = await FileTokenStore(path).refresh(None, never)
    assert reused.token == token


def test_ledger_claims_never_overlap(
    redis_server: RedisServerProcess, namespace: str, tmp_path: Path
) -> None:
    """4 workers given overlapping lists of the same 300 ids submit each id exactly once."""
    ids = [str(4_000_000_000_000_000 + n) for n in range(300)]
    params = [
        {
            "url": redis_server.url,
            "namespace": namespace,
            "batch": 10,
            "ids": ids[k * 50 :] + ids[: k * 50],  # same ids, each worker starting elsewhere
        }
        for k in range(4)
    ]
    results = run_together("ledger", params, tmp_path / "go")

    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    submitted = client.lrange(f"{namespace}:test:submitted", 0, -1)
    client.close()
    counts = Counter(submitted)
    assert sorted(counts) == sorted(ids)
    assert max(counts.values()) == 1
    assert sum(len(r["submitted"]) for r in results) == len(ids)
    assert sum(1 for r in results if r["submitted"]) >= 2  # the work really was shared

