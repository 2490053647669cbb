"""``ZohoConvertClient(fleet=RedisFleet(...))`` end to end: worker processes, a real
redis-server and the simulator over HTTP, as a fleet runs in production."""

from __future__ import annotations

import json
import math
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis
from workers import run_together

from zoho_convert import RefreshTokenAuth, ZohoConvertClient
from zoho_convert.fleet.localserver import RedisServerProcess
from zoho_convert.simulator import Faults, Simulator, SimulatorConfig, SimulatorThread, handlers

CAP = 5


def _ids(n: int, base: int = 6_100_000_000_000_000) -> list[str]:
    return [str(base + k) for k in range(n)]


@pytest.fixture
def submitted(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The ids of every mass-convert submit the simulators of this test handled, in order."""
    seen: list[list[str]] = []
    original = handlers.handle

    def spy(state: Any, route: Any, raw: bytes, query: Any) -> Any:
        if route.endpoint == "mass_convert":
            seen.append([str(i) for i in json.loads(raw).get("ids", [])])
        return original(state, route, raw, query)

    monkeypatch.setattr(handlers, "handle", spy)
    return seen


def _state(sim: SimulatorThread) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        return sim.state.summary(include_jobs=False)

    return sim.call(read())


def _workers(
    sim: SimulatorThread,
    redis_url: str | None,
    namespace: str,
    id_lists: list[list[str]],
    go: Path,
    **extra: Any,
) -> list[dict[str, Any]]:
    params = [
        {"url": redis_url, "namespace": namespace, "sim": sim.url, "limit": CAP, "ids": ids,
         **extra}
        for ids in id_lists
    ]
    return run_together("convert", params, go, timeout=120)


def _quarters(ids: list[str], parts: int = 4) -> list[list[str]]:
    share = len(ids) // parts
    return [ids[k * share : (k + 1) * share] for k in range(parts)]


def test_four_workers_share_the_org_cap_and_one_token(
    redis_server: RedisServerProcess, namespace: str, tmp_path: Path, sim_threads: Any
) -> None:
    """4 worker processes, each at the org's full cap, convert disjoint quarters of 2,000
    quotes through one fleet: Zoho never answers 429, never sees more than the cap in
    flight, mints one token for all of them, and converts every id exactly once."""
    sim = sim_threads(seed=3, job_duration=0.2, faults=Faults(concurrency_cap=CAP, latency=0.02))
    ids = _ids(2000)
    results = _workers(sim, redis_server.url, namespace, _quarters(ids), tmp_path / "go")

    state = _state(sim)
    stats = state["stats"]
    assert stats["rate_limited"] == 0
    assert 1 < stats["peak_in_flight"] <= CAP
    assert stats["token_refreshes"] == 1
    assert sum(r["mints"] for r in results) == 1
    assert state["conversions"]["Quotes"] == {"converted": 2000, "max_count": 1, "reserved": 0}
    assert all(r["ok"] and r["converted"] == 500 for r in results)


def test_a_dying_token_is_refreshed_once_for_the_whole_fleet(
    redis_server: RedisServerProcess, namespace: str, tmp_path: Path, sim_threads: Any
) -> None:
    """Zoho refuses each access token (401 INVALID_TOKEN) after 20 uses while 4 worker
    processes convert 2,000 quotes: each expiry costs the fleet one refresh, whichever
    process met it first (the others reuse the new token), and every id converts once."""
    max_uses = 20
    faults = Faults(latency=0.01, token_max_uses=max_uses)
    sim = sim_threads(seed=7, job_duration=0.2, faults=faults)
    ids = _ids(2000)
    results = _workers(sim, redis_server.url, namespace, _quarters(ids), tmp_path / "go")

    state = _state(sim)
    stats = state["stats"]
    refused = stats["responses_by_status"].get("401", 0)
    served = sum(n for name, n in stats["requests_by_endpoint"].items() if name != "token")
    expiries = math.ceil((served - refused) / max_uses) - 1
    assert expiries >= 4 and refused >= expiries
    assert stats["token_refreshes"] == sum(r["mints"] for r in results) == expiries + 1
    assert state["conversions"]["Quotes"] == {"converted": 2000, "max_count": 1, "reserved": 0}
    assert all(r["ok"] and r["converted"] == 500 for r in results)


def test_without_the_fleet_the_same_workers_overrun_the_cap(
    namespace: str, tmp_path: Path, sim_threads: Any
) -> None:
    """The control: the same 4 workers without a fleet put more than the cap in flight,
    Zoho answers 429s (absorbed by retries), and each process mints its own token."""
    sim = sim_threads(seed=3, job_duration=0.2, faults=Faults(concurrency_cap=CAP, latency=0.02))
    results = _workers(sim, None, namespace, _quarters(_ids(2000)), tmp_path / "go")

    stats = _state(sim)["stats"]
    assert stats["rate_limited"] > 0
    assert stats["peak_in_flight"] > CAP
    assert stats["token_refreshes"] == 4
    assert all(r["ok"] for r in results)


def test_a_rerun_through_the_fleet_sends_no_submit(
    redis_server: RedisServerProcess, namespace: str, tmp_path: Path, sim_threads: Any,
    submitted: list[list[str]],
) -> None:
    """Converting the same ids again with the fleet sends no mass convert at all: each
    worker reports its ids already converted, and its new process reuses the fleet's token."""
    sim = sim_threads(seed=4, job_duration=0.1)
    lists = _quarters(_ids(600), 2)
    first = _workers(sim, redis_server.url, namespace, lists, tmp_path / "go1")
    assert all(r["ok"] and r["submitted"] == 300 for r in first)
    submits = len(submitted)
    refreshes = _state(sim)["stats"]["token_refreshes"]

    again = _workers(sim, redis_server.url, namespace, lists, tmp_path / "go2")

    assert len(submitted) == submits  # not one submit
    for ids, result in zip(lists, again, strict=True):
        assert result["ok"] and result["submitted"] == 0 and result["converted"] == 0
        assert sorted(result["already_converted_ids"]) == sorted(ids)
    assert _state(sim)["stats"]["token_refreshes"] == refreshes
    assert sum(r["mints"] for r in again) == 0


def test_overlapping_lists_never_submit_one_id_at_once(
    redis_server: RedisServerProcess, namespace: str, tmp_path: Path, sim_threads: Any,
    submitted: list[list[str]],
) -> None:
    """Two workers given the same 600 ids, in opposite orders, against a Zoho that would
    convert an id twice if two jobs held it at once (reserve_ids=False): every id is submitted
    once, converted once, and each worker accounts for all 600."""
    sim = sim_threads(seed=5, job_duration=0.3, reserve_ids=False)
    ids = _ids(600)
    results = _workers(
        sim, redis_server.url, namespace, [ids, ids[::-1]], tmp_path / "go", poll=0.1
    )

    counts = Counter(i for batch in submitted for i in batch)
    assert sorted(counts) == sorted(ids)
    assert max(counts.values()) == 1
    assert _state(sim)["conversions"]["Quotes"]["max_count"] == 1
    # Who converts which id is a race (a run claims its batches as it reads them); that the
    # two lists met is certain: between them they converted each id once.
    assert sum(r["converted"] for r in results) == 600
    for result in results:
        assert result["ok"] and result["accounted_for"]
        assert result["converted"] + len(result["already_converted_ids"]) == 600


def test_redis_flushed_mid_run_loses_no_correctness(
    redis_server: RedisServerProcess, namespace: str, tmp_path: Path, sim_threads: Any
) -> None:
    """Redis loses everything (FLUSHALL) while two workers with overlapping lists run: every
    id is still converted exactly once (Zoho refuses a second conversion) and each worker's
    report accounts for every id; only the ledger's savings are lost."""
    sim = sim_threads(
        seed=6, job_duration=0.2, faults=Faults(concurrency_cap=CAP, latency=0.01)
    )
    ids = _ids(1500)
    flushed = threading.Event()
    converted_at_flush: list[int] = []

    def flush_mid_way() -> None:
        client = redis.Redis.from_url(redis_server.url)
        try:
            while not flushed.is_set():
                done = _state(sim).get("conversions", {}).get("Quotes", {}).get("converted", 0)
                if done >= 500:
                    client.flushall()
                    converted_at_flush.append(done)
                    flushed.set()
                    return
                flushed.wait(0.02)
        finally:
            client.close()

    flusher = threading.Thread(target=flush_mid_way, daemon=True)
    flusher.start()
    try:
        results = _workers(
            sim, redis_server.url, namespace, [ids, ids[::-1]], tmp_path / "go"
        )
    finally:
        flushed.set()
        flusher.join(10)

    assert converted_at_flush and converted_at_flush[0] < 1500  # it did happen mid-way
    assert _state(sim)["conversions"]["Quotes"] == {
        "converted": 1500, "max_count": 1, "reserved": 0,
    }
    for result in results:
        assert result["accounted_for"] and not result["uncertain"]
        assert {code for _, code in result["rejected"]} <= {"ID_ALREADY_CONVERTED"}
        done = result["converted"] + len(result["already_converted_ids"])
        assert done + len(result["rejected"]) == 1500


# -- credits ---------------------------------------------------------------------------------

MIN_CREDITS = 30


async def test_min_credits_stops_submitting_once_the_header_falls_below(
    make_fleet: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With 60 credits (the header appears after 30) and min_credits=30, one request at a
    time: no submit leaves after Zoho said fewer than 30 remain; the rest of the 2,000 ids
    are reported NOT_SUBMITTED and the run returns normally."""
    remaining_before: list[int] = []
    original = handlers.handle

    def spy(state: Any, route: Any, raw: bytes, query: Any) -> Any:
        if route.endpoint == "mass_convert":
            # Credits are charged before the handler runs: add this request's one back.
            remaining_before.append(60 - state.stats.credits_used + 1)
        return original(state, route, raw, query)

    monkeypatch.setattr(handlers, "handle", spy)
    fleet = make_fleet()
    await fleet.start()
    async with Simulator(SimulatorConfig(seed=7, api_credits=60)) as sim:
        auth = RefreshTokenAuth("sim-client", "sim-secret", "sim-refresh", accounts_url=sim.url)
        async with ZohoConvertClient(auth, api_domain=sim.url, fleet=fleet) as client:
            report = await client.convert_many(
                "Quotes", _ids(2000), to="Sales_Orders", concurrency=1, min_credits=MIN_CREDITS
            )
        converted = sim.state.converted_ids("Quotes")

    assert remaining_before and min(remaining_before) >= MIN_CREDITS
    not_submitted = [item.id for item in report.rejected if item.code == "NOT_SUBMITTED"]
    assert not_submitted and len(not_submitted) + report.submitted == 2000
    assert report.accounted_for
    assert len(converted) == report.converted == report.submitted
    assert not converted & set(not_submitted)
    assert (await fleet.credits.remaining() or 0) < MIN_CREDITS  # recorded fleet-wide


async def test_credits_seen_by_one_process_stop_another(make_fleet: Any) -> None:
    """Credits are fleet-wide: once one member has seen fewer than min_credits remain, a run
    of another member (another process, here another fleet instance) submits nothing."""
    async with Simulator(SimulatorConfig(seed=8, api_credits=40)) as sim:
        first, second = make_fleet(), make_fleet()
        await first.start()
        await second.start()
        auth = RefreshTokenAuth("sim-client", "sim-secret", "sim-refresh", accounts_url=sim.url)
        async with ZohoConvertClient(auth, api_domain=sim.url, fleet=first) as client:
            spent = await client.convert_many("Quotes", _ids(1000), to="Sales_Orders")
        assert spent.ok
        assert (await second.credits.remaining() or 0) < MIN_CREDITS
        submits = sim.state.stats.requests_by_endpoint["mass_convert"]

        other = RefreshTokenAuth("sim-client", "sim-secret", "sim-refresh", accounts_url=sim.url)
        async with ZohoConvertClient(other, api_domain=sim.url, fleet=second) as client:
            report = await client.convert_many(
                "Quotes", _ids(500, base=6_200_000_000_000_000), to="Sales_Orders",
                min_credits=MIN_CREDITS,
            )

        assert sim.state.stats.requests_by_endpoint["mass_convert"] == submits
    assert report.submitted == 0 and len(report.rejected) == 500
    assert {item.code for item in report.rejected} == {"NOT_SUBMITTED"}
