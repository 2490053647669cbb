"""Command line of the simulator, shared by ``python -m zoho_convert.simulator`` and the product
CLI (``zoho-convert simulate``): ``add_arguments``, ``config_from_args`` and ``serve``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable

from .app import Simulator
from .config import ENDPOINT_NAMES, Faults, SimulatorConfig


def _csv(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options (port, token, seed, behaviour and faults) to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: pick a free one)")
    parser.add_argument("--token", default=None, help="access token to accept (default: generated)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument("--client-id", default="sim-client")
    parser.add_argument("--client-secret", default="sim-secret")
    parser.add_argument("--refresh-token", default="sim-refresh")
    parser.add_argument("--job-duration", type=float, default=0.0, help="seconds per job")
    parser.add_argument("--job-duration-jitter", type=float, default=0.0)
    parser.add_argument("--strict-records", action="store_true",
                        help="only ids created through /__simulator__/records exist")
    parser.add_argument("--already-converted", choices=("fail_call", "fail_in_job"),
                        default="fail_call")
    parser.add_argument("--invalid-ids", type=_csv, default=frozenset(), help="comma-separated")
    parser.add_argument("--not-approved-ids", type=_csv, default=frozenset())
    parser.add_argument("--locked-ids", type=_csv, default=frozenset())
    faults = parser.add_argument_group("faults")
    faults.add_argument("--concurrency-cap", type=int, default=None)
    faults.add_argument("--rate-429", type=float, default=0.0)
    faults.add_argument("--retry-after", type=float, default=None)
    faults.add_argument("--rate-500", type=float, default=0.0)
    faults.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    faults.add_argument("--token-max-uses", type=int, default=None)
    faults.add_argument("--token-ttl", type=float, default=None)
    faults.add_argument("--drop-rate", type=float, default=0.0)
    faults.add_argument("--fault-after-processing", action="store_true")
    faults.add_argument("--fault-endpoints", type=_csv, default=frozenset(),
                        help=f"comma-separated subset of {','.join(sorted(ENDPOINT_NAMES))}")
    faults.add_argument("--failed-job-rate", type=float, default=0.0)
    faults.add_argument("--never-finish-rate", type=float, default=0.0)
    faults.add_argument("--token-endpoint-failures", type=int, default=0)
    faults.add_argument("--corrupt-rate", type=float, default=0.0)


def config_from_args(ns: argparse.Namespace) -> SimulatorConfig:
    """Build the configuration from parsed arguments.

    Raises:
        ValueError: An option is out of range.
    """
    faults = Faults(
        concurrency_cap=ns.concurrency_cap,
        rate_429=ns.rate_429,
        retry_after=ns.retry_after,
        rate_500=ns.rate_500,
        latency=ns.latency,
        token_max_uses=ns.token_max_uses,
        token_ttl=ns.token_ttl,
        drop_rate=ns.drop_rate,
        fault_after_processing=ns.fault_after_processing,
        fault_endpoints=ns.fault_endpoints,
        failed_job_rate=ns.failed_job_rate,
        never_finish_rate=ns.never_finish_rate,
        token_endpoint_failures=ns.token_endpoint_failures,
        corrupt_rate=ns.corrupt_rate,
    )
    return SimulatorConfig(
        seed=ns.seed,
        access_token=ns.token,
        client_id=ns.client_id,
        client_secret=ns.client_secret,
        refresh_token=ns.refresh_token,
        job_duration=ns.job_duration,
        job_duration_jitter=ns.job_duration_jitter,
        strict_records=ns.strict_records,
        already_converted=ns.already_converted,
        invalid_ids=ns.invalid_ids,
        not_approved_ids=ns.not_approved_ids,
        locked_ids=ns.locked_ids,
        faults=faults,
    )


async def serve(
    config: SimulatorConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    announce: Callable[[str], object] = print,
) -> None:
    """Serve until SIGINT/SIGTERM (or cancellation), announcing ``url: ...`` and ``token: ...``.

    Args:
        config: Simulator configuration.
        host: Interface to listen on.
        port: Port to listen on (0 picks a free one; the announced URL tells which).
        announce: Called with each announcement line. The token line is the one place the
            simulator shows a token: the caller asked for it in order to use it.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        async with Simulator(config, host=host, port=port) as sim:
            announce(f"url: {sim.url}")
            announce(f"token: {sim.access_token}")
            sys.stdout.flush()  # a parent process reads these lines through a pipe
            await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def main(argv: list[str] | None = None) -> int:
    """``python -m zoho_convert.simulator``: parse arguments and serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m zoho_convert.simulator",
        description="Serve a Zoho CRM-compatible simulator on 127.0.0.1 until interrupted.",
    )
    add_arguments(parser)
    ns = parser.parse_args(argv)
    try:
        config = config_from_args(ns)
    except ValueError as exc:
        parser.error(str(exc))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config, host=ns.host, port=ns.port))
    return 0
