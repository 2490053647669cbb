"""One fleet member in its own process, driven by the multi-process tests.

Usage: python fleet_worker.py MODE JSON_PARAMS

Prints ``ready`` once its fleet is started, waits until the file ``params["go"]`` exists (so
every worker starts at once), does its part, and prints one JSON line with its results.
Modes: ``slots`` (count peak requests in flight across the fleet), ``hold`` (take slots and
hang until killed), ``token`` (refresh the shared token from many tasks), ``filetoken`` (the
same through a FileTokenStore), ``ledger`` (convert overlapping ids through claims), ``convert``
(a ``ZohoConvertClient`` converting ids against a simulator, with a fleet or without).

A worker still running after ``params["watchdog"]`` seconds (default 90, under the tests'
120 s timeout) writes what each of its tasks awaits to stderr, which the test shows when it
gives up on the worker: a hang names its wait.
"""

from __future__ import annotations

import asyncio
import faulthandler
import json
import os
import random
import sys
import time
from typing import Any

from redis.asyncio import Redis

from zoho_convert import (
    PollPolicy,
    RefreshTokenAuth,
    SettlePolicy,
    StaticToken,
    ZohoConvertClient,
)
from zoho_convert.fleet import FileTokenStore, RedisFleet


async def _go(params: dict[str, Any]) -> None:
    print("ready", flush=True)
    go = params["go"]
    deadline = time.monotonic() + 30
    while not os.path.exists(go):  # noqa: ASYNC240 - a stat per 5 ms while idle
        if time.monotonic() > deadline:
            raise SystemExit("never told to go")
        await asyncio.sleep(0.005)


def _fleet(params: dict[str, Any]) -> RedisFleet:
    return RedisFleet(
        params["url"],
        namespace=params["namespace"],
        max_concurrency=params.get("limit", 10),
        lease=params.get("lease", 30.0),
    )


async def slots(params: dict[str, Any]) -> dict[str, Any]:
    counter = f"{params['namespace']}:test:in_flight"
    async with _fleet(params) as fleet:
        probe = Redis.from_url(params["url"], decode_responses=True)
        peak = 0
        grants = 0

        async def task() -> None:
            nonlocal peak, grants
            for _ in range(params["rounds"]):
                async with fleet.limiter.slot(params.get("kind", "api")):
                    # INCR after taking the slot and DECR before giving it back: the counter
                    # is the fleet's true number of holders at that instant.
                    now = int(await probe.incr(counter))
                    peak = max(peak, now)
                    grants += 1
                    await asyncio.sleep(params["hold"])
                    await probe.decr(counter)

        await _go(params)
        await asyncio.gather(*(task() for _ in range(params["tasks"])))
        await probe.aclose()
    return {"peak": peak, "grants": grants}


async def chaos(params: dict[str, Any]) -> dict[str, Any]:
    """Tasks that give up waiting (timeouts) or are cancelled while holding, at random."""
    counter = f"{params['namespace']}:test:in_flight"
    rng = random.Random(params["seed"])
    async with _fleet(params) as fleet:
        probe = Redis.from_url(params["url"], decode_responses=True)
        timeouts = cancelled = done = 0
        peaks: list[int] = [0]

        async def use_slot() -> None:
            async with fleet.limiter.slot():
                # INCR and DECR must both land while the slot is held, cancelled or not, or
                # the counter would drift from the true number of holders.
                try:
                    await _landed(probe.incr(counter), then=lambda now: peaks.append(int(now)))
                    await asyncio.sleep(rng.uniform(0, 0.004))
                finally:
                    await _landed(probe.decr(counter))

        async def task() -> None:
            nonlocal timeouts, cancelled, done
            rounds = params["rounds"]
            for round_ in range(rounds):
                attempt = asyncio.ensure_future(use_slot())
                # The last round waits as long as it takes: after the chaos, a slot must still
                # be had (none leaked), however loaded the machine (a busy one timed every
                # round out, and "done" was 0).
                limit = rng.uniform(0.0005, 0.006) if round_ < rounds - 1 else 30.0
                try:
                    await asyncio.wait_for(attempt, limit)
                    done += 1
                except asyncio.TimeoutError:
                    timeouts += 1  # cancelled while waiting or while holding
                except asyncio.CancelledError:
                    cancelled += 1

        await _go(params)
        await asyncio.gather(*(task() for _ in range(params["tasks"])))
        await probe.aclose()
    return {"peak": max(peaks), "timeouts": timeouts, "done": done}


async def _landed(command: Any, then: Any = None) -> None:
    """Await a Redis command to the end even if cancelled meanwhile (then re-raise)."""
    work = asyncio.ensure_future(command)
    try:
        result = await asyncio.shield(work)
    except asyncio.CancelledError:
        result = await work
        if then is not None:
            then(result)
        raise
    if then is not None:
        then(result)


async def hold(params: dict[str, Any]) -> dict[str, Any]:
    fleet = _fleet(params)
    await fleet.start()
    holding = asyncio.Event()
    taken = 0

    async def holder() -> None:
        nonlocal taken
        async with fleet.limiter.slot():
            taken += 1
            if taken == params["slots"]:
                holding.set()
            await asyncio.Event().wait()  # until the process is killed

    tasks = [asyncio.ensure_future(holder()) for _ in range(params["slots"])]
    await holding.wait()
    print(json.dumps({"process": fleet.process, "pid": os.getpid()}), flush=True)
    await asyncio.gather(*tasks)
    return {}


async def _mint_many(store: Any, params: dict[str, Any]) -> dict[str, Any]:
    async def mint() -> tuple[str, float, str | None]:
        await asyncio.sleep(0.1)  # a token call takes a while: others must wait, not mint
        return f"token-{os.getpid()}-{time.monotonic_ns()}", 3600.0, "https://api.example"

    await _go(params)
    results = await asyncio.gather(
        *(store.refresh(params.get("stale"), mint) for _ in range(params["tasks"]))
    )
    return {"tokens": sorted({r.token for r in results}), "mints": store.mints}


async def token(params: dict[str, Any]) -> dict[str, Any]:
    async with _fleet(params) as fleet:
        return await _mint_many(fleet.tokens, params)


async def filetoken(params: dict[str, Any]) -> dict[str, Any]:
    return await _mint_many(FileTokenStore(params["path"]), params)


async def ledger(params: dict[str, Any]) -> dict[str, Any]:
    submitted = f"{params['namespace']}:test:submitted"
    module = "Quotes"
    async with _fleet(params) as fleet:
        probe = Redis.from_url(params["url"], decode_responses=True)
        todo: list[str] = list(params["ids"])
        mine: list[str] = []
        await _go(params)
        while todo:
            batch, todo = todo[: params["batch"]], todo[params["batch"] :]
            new, _known = await fleet.ledger.filter_known(module, batch)
            claimed, held = await fleet.ledger.claim(module, new, ttl=30.0)
            if claimed:
                # "Submit": recorded fleet-wide, so the test sees every id submitted by anyone.
                await probe.rpush(submitted, *claimed)
                mine.extend(claimed)
                await asyncio.sleep(0.002)
                await fleet.ledger.mark_converted(module, claimed)
            todo.extend(held)  # another worker is on them: look again later
            if held and not claimed:
                await asyncio.sleep(0.005)
        await probe.aclose()
    return {"submitted": mine}


async def convert(params: dict[str, Any]) -> dict[str, Any]:
    """``convert_many`` of ``params["ids"]`` through a client with the fleet at ``url`` (none
    when ``url`` is null), authenticated by the refresh-token flow against the simulator
    (``params["token"]``: a static access token instead)."""
    sim = params["sim"]
    auth: StaticToken | RefreshTokenAuth
    if params.get("token"):
        auth = StaticToken(params["token"])
    else:
        auth = RefreshTokenAuth("sim-client", "sim-secret", "sim-refresh", accounts_url=sim)
    fleet = _fleet(params) if params.get("url") else None
    if fleet is not None:
        await fleet.start()
    options: dict[str, Any] = {} if fleet is None else {"fleet": fleet}
    try:
        async with ZohoConvertClient(
            auth, api_domain=sim, max_concurrency=params.get("limit", 10), **options
        ) as client:
            await _go(params)
            report = await client.convert_many(
                "Quotes",
                params["ids"],
                to="Sales_Orders",
                poll=PollPolicy(initial=params.get("poll", 0.05)),
                min_credits=params.get("min_credits"),
                settle=SettlePolicy(unknown_wait=params.get("unknown_wait", 60.0)),
            )
    finally:
        if fleet is not None:
            await fleet.close()
    return {
        "total": report.total,
        "converted": report.converted,
        "submitted": report.submitted,
        "already_converted_ids": list(report.already_converted_ids),
        "rejected": [[item.id, item.code] for item in report.rejected],
        "uncertain": list(report.uncertain),
        "ok": report.ok,
        "accounted_for": report.accounted_for,
        "mints": auth.refresh_count if isinstance(auth, RefreshTokenAuth) else 0,
    }


MODES = {
    "chaos": chaos,
    "slots": slots,
    "hold": hold,
    "token": token,
    "filetoken": filetoken,
    "ledger": ledger,
    "convert": convert,
}


def _awaits(task: asyncio.Task[Any]) -> list[str]:
    """Where ``task`` waits: each coroutine of its await chain, innermost last."""
    lines: list[str] = []
    link: Any = task.get_coro()
    while link is not None:
        frame = getattr(link, "cr_frame", None) or getattr(link, "ag_frame", None)
        if frame is None:
            lines.append(f"    on {link!r:.200}")
            break
        lines.append(f"    {frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
        link = getattr(link, "cr_await", None) or getattr(link, "ag_await", None)
    return lines


async def _watchdog(after: float) -> None:
    await asyncio.sleep(after)
    dump = [f"worker {os.getpid()} still running after {after} s; its tasks await:"]
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            dump += [f"  {task.get_name()}", *_awaits(task)]
    print("\n".join(dump), file=sys.stderr, flush=True)


async def _watched(mode: str, params: dict[str, Any]) -> dict[str, Any]:
    after = float(params.get("watchdog", 90.0))
    faulthandler.dump_traceback_later(after + 5)  # the threads, if the loop itself is stuck
    dog = asyncio.ensure_future(_watchdog(after))
    try:
        return await MODES[mode](params)
    finally:
        dog.cancel()
        faulthandler.cancel_dump_traceback_later()


def main() -> None:
    mode, raw = sys.argv[1], sys.argv[2]
    result = asyncio.run(_watched(mode, json.loads(raw)))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
