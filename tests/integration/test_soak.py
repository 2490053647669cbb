"""Soak: one long convert_many run under faults, watching for leaks of connections, tasks, memory.

100,000 ids (``ZOHO_SOAK_IDS`` overrides) against the simulator over real HTTP, with random
429s, 500s and dropped connections, a concurrency cap of 10 and access tokens that expire
mid-run. At 25%, 50%, 75% and 100% of the run it samples open connections to the simulator,
tasks, file descriptors and memory; the run must account for every id, convert none twice, and
show no growth between the samples beyond fixed bounds.

Two runs, because measuring disturbs what is measured: ``rss`` watches the resident set size
with nothing else attached (about 4 s here); ``heap`` traces the Python heap with tracemalloc
and splits it into the client's share and the simulator's (whose ledger rightly grows with
every id converted). Tracing slows everything several times over, so that run converts a
quarter of the ids (about 12 s here on a loaded machine).

Kept out of quick runs with ``-m "not soak"``; both run in well under 2 minutes on the 2-core
development machine.
"""

from __future__ import annotations

import asyncio
import gc
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
from fakes import SummingTime, deadline

from zoho_convert import PollPolicy, RefreshTokenAuth, RetryPolicy, ZohoConvertClient
from zoho_convert.bulk.events import Event, JobFinished
from zoho_convert.simulator import Faults, Simulator, SimulatorConfig

# -- helpers (kept here: tests/integration/conftest.py belongs to another file) ---------------

SOAK_IDS = int(os.environ.get("ZOHO_SOAK_IDS", "100000"))

#: Upper bound of the whole run, so that a hang fails instead of stalling CI.
SOAK_TIMEOUT = 110.0

MB = 2**20

# Bounds on memory growth between the 25% sample and the end of the run. Both the RSS and the
# whole heap include the simulator's ledger (a few MB per 100k ids); the client's own heap
# (everything not allocated by simulator code) is bounded by the work in flight.
MAX_RSS_GROWTH = 20 * MB
MAX_HEAP_GROWTH = 20 * MB
MAX_CLIENT_HEAP = 16 * MB
MAX_CLIENT_HEAP_GROWTH = 2 * MB




def rss() -> int:
    """Resident set size of this process, in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def open_fds() -> int:
    """File descriptors open in this process (sockets included)."""
    return len(os.listdir("/proc/self/fd"))


def tcp_connections_to(port: int) -> int:
    """Established TCP connections whose remote end is ``port`` on this host (client side)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            remote, state = fields[2], fields[3]
            if state == "01" and int(remote.rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


@attrs.frozen
class Sample:
    """What is open and allocated at one point of the run."""

    label: str
    connections: int
    tasks: int
    fds: int
    rss: int
    heap: int  # 0 unless tracing
    client_heap: int  # the part not allocated by simulator code; 0 unless tracing


_NOT_SIMULATOR = (tracemalloc.Filter(False, "*/zoho_convert/simulator/*"),)


def take_sample(label: str, port: int, *, attribute: bool = True) -> Sample:
    """Sample the process; with tracemalloc on, ``attribute`` also splits the heap (slow)."""
    gc.collect()
    heap = client_heap = 0
    if tracemalloc.is_tracing():
        heap = tracemalloc.get_traced_memory()[0]
    if tracemalloc.is_tracing() and attribute:
        snapshot = tracemalloc.take_snapshot().filter_traces(_NOT_SIMULATOR)
        client_heap = sum(stat.size for stat in snapshot.statistics("filename"))
    return Sample(
        label=label,
        connections=tcp_connections_to(port),
        tasks=len(asyncio.all_tasks()),
        fds=open_fds(),
        rss=rss(),
        heap=heap,
        client_heap=client_heap,
    )


def quartile_sampler(
    total: int, port: int, samples: list[Sample]
) -> Callable[[Event], None]:
    """A progress callback sampling when 25%, 50% and 75% of the ids are in finished jobs."""
    done = 0

    def progress(event: Event) -> None:
        nonlocal done
        if not isinstance(event, JobFinished):
            return
        done += event.size
        while len(samples) < 3 and done >= total * (len(samples) + 1) / 4:
            label = f"{25 * (len(samples) + 1)}%"
            # Splitting the heap takes a snapshot of every trace: only at 25% (and 100%).
            samples.append(take_sample(label, port, attribute=not samples))

    return progress


# -- the soak ------------------------------------------------------------------------------------


@pytest.mark.soak
@pytest.mark.timeout(600)  # a long run by design: more than the suite's 60 s per test
@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("memory", ["rss", "heap"])
async def test_soak_no_growth_in_connections_tasks_or_memory(memory: str) -> None:
    """100k ids under 429s/500s/drops/token expiry: all accounted, none twice, nothing grows."""
    count = SOAK_IDS if memory == "rss" else SOAK_IDS // 4
    config = SimulatorConfig(
        seed=21,
        job_duration=0.0,
        faults=Faults(
            concurrency_cap=10,
            rate_429=0.02,
            rate_500=0.01,
            drop_rate=0.005,
            # A token serves 300 requests: it expires about a dozen times in a 100k run.
            token_max_uses=300,
        ),
    )
    tasks_at_start = len(asyncio.all_tasks())
    fds_at_start = open_fds()
    samples: list[Sample] = []
    if memory == "heap":
        tracemalloc.start()
    try:
        async with Simulator(config) as sim:
            ids = sim.state.create_records("Quotes", count)
            vt = SummingTime()
            auth = RefreshTokenAuth(
                config.client_id, config.client_secret, config.refresh_token, accounts_url=sim.url
            )
            async with ZohoConvertClient(
                auth,
                api_domain=sim.url,
                max_concurrency=10,
                retry=RetryPolicy(max_tries=8, initial=0.001, max_delay=0.01, deadline=10_000),
                sleep=vt.sleep,
                clock=vt.clock,
            ) as client:
                async with deadline(SOAK_TIMEOUT):
                    report = await client.convert_many(
                        "Quotes",
                        ids,
                        to="Sales_Orders",
                        poll=PollPolicy(initial=0.01, max_interval=0.1, timeout=1e6),
                        progress=quartile_sampler(count, sim.port, samples),
                    )
                samples.append(take_sample("100%", sim.port))
                in_flight_at_end = sim.state.stats.in_flight
            stats = sim.state.stats
            ledger = [sim.state.conversions.get(("Quotes", i), 0) for i in ids]
            uncertain_converted = sum(
                sim.state.conversions.get(("Quotes", i), 0) for i in report.uncertain
            )
    finally:
        tracemalloc.stop()

    for sample in samples:
        print(sample)  # shown with -s: the numbers behind the bounds below
    assert [s.label for s in samples] == ["25%", "50%", "75%", "100%"]

    # Every id accounted for, none converted twice, the ledger agrees with the report.
    assert report.total == count
    assert report.accounted_for
    assert max(ledger) <= 1
    assert uncertain_converted == 0  # every fault struck before Zoho processed the request
    assert report.converted == sum(ledger)
    assert report.converted + len(report.uncertain) + len(report.rejected) == count
    assert report.converted >= count * 0.99
    # The faults really happened.
    requests = count // 25  # about one submission and one poll per 50 ids
    assert stats.rate_limited > requests * 0.01
    assert stats.responses_by_status[500] > requests * 0.005
    assert stats.dropped > 0
    assert stats.token_refreshes >= count // 25 // 300
    assert stats.peak_in_flight <= 10

    first, end = samples[0], samples[-1]
    # Connections: never more than the client's pool (max_concurrency + 2), none in use at the
    # end, the server has nothing in flight; the pool does not grow across the run.
    assert all(s.connections <= 12 for s in samples)
    assert in_flight_at_end == 0
    assert end.connections <= max(first.connections, 12)
    # Tasks: bounded while running (one per pending job at most, plus the server's), back to
    # the start once the client and the simulator are closed.
    assert all(s.tasks <= 600 for s in samples)
    assert end.tasks <= 12 + 2 + tasks_at_start  # keep-alive handlers of the server, at most
    assert len(asyncio.all_tasks()) == tasks_at_start
    # File descriptors: besides the connections' two ends (both in this process), no growth
    # across the run, and all closed at the end.
    assert end.fds - 2 * end.connections <= first.fds - 2 * first.connections + 2
    assert open_fds() <= fds_at_start
    # Memory: bounded growth between 25% and 100% (the simulator's ledger is in it too); the
    # client's own heap stays bounded by the work in flight and is back down at the end.
    if memory == "rss":
        assert end.rss - first.rss < MAX_RSS_GROWTH
    else:
        # (RSS is not checked here: tracemalloc's tables and snapshots inflate it.)
        assert end.heap - first.heap < MAX_HEAP_GROWTH
        assert first.client_heap < MAX_CLIENT_HEAP and end.client_heap < MAX_CLIENT_HEAP
        assert end.client_heap - first.client_heap < MAX_CLIENT_HEAP_GROWTH
