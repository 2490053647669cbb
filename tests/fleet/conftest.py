"""Fixtures for the fleet tests: a real redis-server on 127.0.0.1, and fleet worker processes.

No fakeredis, no mocks: every fleet test talks to a redis-server binary. Without the binary
the tests are skipped with the reason, except in CI (``CI`` set), where they fail: CI must
run them (``.ci/run`` installs redis-server).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from redis_helpers import need_redis_server

from zoho_convert.fleet.localserver import RedisServerProcess

pytest.importorskip("redis", reason="the fleet tests need redis-py (the dev extra installs it)")

from zoho_convert.fleet import RedisFleet


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServerProcess]:
    """One redis-server for the session; tests keep apart by namespace."""
    need_redis_server("the fleet tests")
    with RedisServerProcess() as server:
        yield server


@pytest.fixture
def own_redis() -> Iterator[Callable[[], RedisServerProcess]]:
    """Start redis-servers of the test's own (to kill them); all stopped after the test."""
    need_redis_server("the fleet tests")
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
