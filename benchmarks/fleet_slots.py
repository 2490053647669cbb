"""``python -m benchmarks.fleet_slots [--n 5000] [--json]``: the cost of one fleet slot.

Starts a throwaway redis-server on 127.0.0.1, then times ``async with fleet.limiter.slot()``
(one acquire script call + one release script call) N times in a row, uncontended, and
reports the median and p99 in milliseconds next to a bare ``PING`` round trip for scale.
Issue 14's target: a median of at most 1 ms on loopback Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from typing import Any

from zoho_convert.fleet import RedisFleet
from zoho_convert.fleet.localserver import RedisServerProcess, find_redis_server

TARGET_MEDIAN_MS = 1.0


def _percentile(sorted_ms: list[float], fraction: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * fraction))]


async def measure(url: str, n: int, warmup: int = 200) -> dict[str, Any]:
    """Time ``n`` uncontended slot acquire+release pairs and ``n`` PINGs."""
    async with RedisFleet(url, namespace="bench-fleet-slots", max_concurrency=10) as fleet:
        slot_ms: list[float] = []
        for i in range(warmup + n):
            start = time.perf_counter()
            async with fleet.limiter.slot():
                pass
            if i >= warmup:
                slot_ms.append((time.perf_counter() - start) * 1000)
        redis = fleet.limiter.semaphores["api"].link.redis
        ping_ms: list[float] = []
        for _ in range(n):
            start = time.perf_counter()
            await redis.ping()
            ping_ms.append((time.perf_counter() - start) * 1000)
    slot_ms.sort()
    ping_ms.sort()
    return {
        "n": n,
        "slot_median_ms": round(statistics.median(slot_ms), 4),
        "slot_p99_ms": round(_percentile(slot_ms, 0.99), 4),
        "ping_median_ms": round(statistics.median(ping_ms), 4),
        "target_median_ms": TARGET_MEDIAN_MS,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the measurement and print it (a table, or JSON with ``--json``)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fleet_slots")
    parser.add_argument("--n", type=int, default=5000, help="acquire+release pairs to time")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    if find_redis_server() is None:
        print("redis-server is not installed (apt-get install redis-server)", file=sys.stderr)
        return 2
    with RedisServerProcess() as server:
        result = asyncio.run(measure(server.url, args.n))
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"fleet slot acquire+release on loopback Redis, {result['n']} in a row:\n"
            f"  median {result['slot_median_ms']:.3f} ms, p99 {result['slot_p99_ms']:.3f} ms "
            f"(target: median <= {TARGET_MEDIAN_MS} ms)\n"
            f"  for scale, a bare PING: median {result['ping_median_ms']:.3f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
