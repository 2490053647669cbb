"""Fixtures for the fleet tests: a real redis-server on 127.0.0.1, and fleet worker processes.

No fakeredis, no mocks: every fleet test talks to a redis-server binary. Without the binary
the tests are skipped with the reason, except in CI (``CI`` set), where they fail: CI must
run them (``.ci/run`` installs redis-server).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from zoho_convert.fleet.localserver import RedisServerProcess, find_redis_server

pytest.importorskip("redis", reason="the fleet tests need redis-py (the dev extra installs it)")

from zoho_convert.fleet import RedisFleet


def _need_redis_server() -> None:
    if find_redis_server() is not None:
        return
    reason = "redis-server is not installed (apt-get install redis-server)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must run the fleet tests")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServerProcess]:
    """One redis-server for the session; tests keep apart by namespace."""
    _need_redis_server()
    with RedisServerProcess() as server:
        yield server


@pytest.fixture
def own_redis() -> Iterator[Callable[[], RedisServerProcess]]:
    """Start redis-servers of the test's own (to kill them); all stopped after the test."""
    _need_redis_server()
    servers: list[RedisServerProcess] = []

    def start() -> RedisServerProcess:
        server = RedisServerProcess().start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def namespace() -> str:
    """A namespace no other test uses."""
    return f"zc-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def make_fleet(
    redis_server: RedisServerProcess, namespace: str
) -> AsyncIterator[Callable[..., RedisFleet]]:
    """Build started-on-demand fleets on the session server, closed after the test."""
    fleets: list[RedisFleet] = []

    def make(**options: object) -> RedisFleet:
        options.setdefault("namespace", namespace)
        fleet = RedisFleet(redis_server.url, **options)  # type: ignore[arg-type]
        fleets.append(fleet)
        return fleet

    yield make
    for fleet in fleets:
        await fleet.close()
