"""convert_many against the simulator over real HTTP: accounting, isolation, limits."""

from __future__ import annotations

from zoho_convert.simulator import Faults, SimulatorConfig


async def test_ten_thousand_ids_under_cap_and_faults(sim_client) -> None:  # type: ignore[no-untyped-def]
    """10,000 ids, cap 10, random 429/500: every id accounted for, ledger matches, none twice."""
    config = SimulatorConfig(
        seed=4, faults=Faults(concurrency_cap=10, rate_429=0.05, rate_500=0.02)
    )
    sim, client = await sim_client(config)
    ids = sim.state.create_records("Quotes", 10_000)
    report = await client.convert_many("Quotes", ids, to="Sales_Orders")
    assert report.accounted_for
    assert report.total == 10_000
    ledger = {i: sim.state.conversions.get(("Quotes", i), 0) for i in ids}
    assert max(ledger.values()) <= 1
    assert report.converted == sum(ledger.values())
    assert report.converted + len(report.rejected) + len(report.uncertain) >= 10_000 - sum(
        j.size for j in report.jobs if not j.fully_converted
    )
    assert sim.state.stats.peak_in_flight <= 10


async def test_invalid_and_already_converted_isolated(sim_client) -> None:  # type: ignore[no-untyped-def]
    """A batch with invalid and already-converted ids: the others convert; offenders reported."""
    bad = "1234567890123"
    sim, client = await sim_client(SimulatorConfig(seed=1, invalid_ids={bad}))
    ids = sim.state.create_records("Quotes", 100)
    first = await client.convert_many("Quotes", ids[:2], to="Sales_Orders")
    assert first.ok
    report = await client.convert_many("Quotes", [*ids[:60], bad, *ids[60:]], to="Sales_Orders")
    codes = {r.id: r.code for r in report.rejected}
    assert codes[ids[0]] == "ID_ALREADY_CONVERTED" and codes[ids[1]] == "ID_ALREADY_CONVERTED"
    assert codes[bad] == "INVALID_DATA"
    assert report.accounted_for
    assert report.converted == 98
    assert all(sim.state.conversions.get(("Quotes", i), 0) == 1 for i in ids)
