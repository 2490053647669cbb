"""pytest fixtures for your own test suite: a Zoho simulator per test, and a client bound to it.

Installed with zoho-convert as a pytest plugin (the ``pytest11`` entry point ``zoho_convert``),
so the fixtures are there in any project that has zoho-convert installed; where the entry
point is not installed (a checkout on ``PYTHONPATH``), add ``pytest_plugins =
["zoho_convert.testing"]`` to your top-level ``conftest.py``. It needs no pytest-asyncio: the
simulator serves from a thread of its own, and the client is made here but opened by your test
in whatever event loop it runs (``asyncio.run``, pytest-asyncio, anyio).

Fixtures:
    zoho_simulator: a started ``SimulatorThread`` (``.url``, ``.access_token``, ``.state``),
        stopped after the test. Configure it per test with the marker
        ``@pytest.mark.zoho_simulator(seed=1, faults=Faults(rate_429=0.05))`` (the
        ``SimulatorConfig`` fields), or for a whole module or folder by overriding the
        ``zoho_simulator_config`` fixture.
    zoho_client: a ``ZohoConvertClient`` pointed at ``zoho_simulator`` with its access token,
        not yet opened: use it as ``async with zoho_client as client: ...`` inside the test.

Example::

    import asyncio

    def test_quotes_become_sales_orders(zoho_simulator, zoho_client):
        quotes = zoho_simulator.state.create_records("Quotes", 120)

        async def convert():
            async with zoho_client as client:
                return await client.convert_many("Quotes", quotes, to="Sales_Orders")

        assert asyncio.run(convert()).ok
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # imported when a fixture runs: loading the plugin stays cheap
    from zoho_convert import ZohoConvertClient
    from zoho_convert.simulator import SimulatorConfig, SimulatorThread

__all__ = ["zoho_client", "zoho_simulator", "zoho_simulator_config"]

_MARKER = "zoho_simulator"


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``zoho_simulator`` marker (so ``--strict-markers`` accepts it)."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(**fields): configure this test's zoho_simulator (SimulatorConfig fields)",
    )


@pytest.fixture
def zoho_simulator_config(request: pytest.FixtureRequest) -> SimulatorConfig:
    """The simulator's configuration: the ``zoho_simulator`` marker's fields, or the defaults.

    Override this fixture in a ``conftest.py`` to configure every test below it.
    """
    from zoho_convert.simulator import SimulatorConfig  # noqa: PLC0415 (see TYPE_CHECKING)

    marker = request.node.get_closest_marker(_MARKER)
    if marker is None:
        return SimulatorConfig()
    if marker.args:
        raise pytest.UsageError(
            f"@pytest.mark.{_MARKER} takes SimulatorConfig fields as keywords, e.g. seed=1"
        )
    return SimulatorConfig(**marker.kwargs)


@pytest.fixture
def zoho_simulator(zoho_simulator_config: SimulatorConfig) -> Iterator[SimulatorThread]:
    """A Zoho simulator on 127.0.0.1 (a free port), serving from a thread for this test."""
    from zoho_convert.simulator import SimulatorThread  # noqa: PLC0415 (see TYPE_CHECKING)

    with SimulatorThread(zoho_simulator_config) as sim:
        yield sim


@pytest.fixture
def zoho_client(zoho_simulator: SimulatorThread) -> ZohoConvertClient:
    """A client for ``zoho_simulator`` (its static access token); open it with ``async with``."""
    from zoho_convert import StaticToken, ZohoConvertClient  # noqa: PLC0415

    return ZohoConvertClient(
        StaticToken(zoho_simulator.access_token), api_domain=zoho_simulator.url
    )
