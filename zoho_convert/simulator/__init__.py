"""A Zoho CRM-compatible HTTP server for tests, demos, benchmarks and offline integration work.

It speaks Zoho's wire format for mass/single inventory convert, lead convert and lead mass
convert, the modules/fields metadata and the OAuth refresh-token grant, plays either reading
where Zoho's v7 pages and OpenAPI v8 specs disagree (``SimulatorConfig.status_shape``,
``error_details``...), keeps a ledger of how often each record converted (at most once unless
``reserve_ids=False`` lets two jobs hold one id), and injects seeded, deterministic faults. It
imports nothing from the client side of ``zoho_convert``.

Example:
    >>> from zoho_convert.simulator import Simulator, SimulatorConfig, Faults
    >>> async def demo() -> None:  # doctest: +SKIP
    ...     cfg = SimulatorConfig(seed=7, faults=Faults(rate_429=0.1))
    ...     async with Simulator(cfg) as sim:
    ...         ids = sim.state.create_records("Quotes", 120)
    ...         ...  # call sim.url with "Authorization: Zoho-oauthtoken " + sim.access_token

``SimulatorThread`` serves it from a background thread for synchronous code, and
``SimulatorProcess`` runs ``python -m zoho_convert.simulator`` as a child process.
"""

from .app import Simulator
from .config import ENDPOINT_NAMES, Faults, SimulatorConfig
from .process import SimulatorProcess
from .state import CrmState, Job, JobSnapshot, Stats
from .threaded import SimulatorThread

__all__ = [
    "ENDPOINT_NAMES",
    "CrmState",
    "Faults",
    "Job",
    "JobSnapshot",
    "Simulator",
    "SimulatorConfig",
    "SimulatorProcess",
    "SimulatorThread",
    "Stats",
]
