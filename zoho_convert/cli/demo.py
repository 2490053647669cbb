"""``zoho-convert demo`` and ``zoho-convert simulate``: the product working with no Zoho account.

The demo starts the simulator in-process on 127.0.0.1, creates quotes in it and converts them
through ``convert_many`` exactly as a real run would, OAuth refresh included.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping

from zoho_convert import RefreshTokenAuth, ZohoConvertClient
from zoho_convert.cli.clients import display_for
from zoho_convert.cli.errors import EXIT_FAILURES, EXIT_OK, UsageError
from zoho_convert.cli.output import print_report
from zoho_convert.simulator import Faults, Simulator, SimulatorConfig
from zoho_convert.simulator import cli as simulator_cli

__all__ = ["cmd_demo", "cmd_simulate", "demo_config"]

# Faults that make the retries visible without drowning the run: throttling, server errors
# (on polls and, after processing, on submissions) and access tokens that expire mid-run.
DEMO_FAULTS = Faults(
    concurrency_cap=10,
    rate_429=0.05,
    rate_500=0.02,
    token_max_uses=100,
)


def demo_config(*, faults: bool, seed: int = 7) -> SimulatorConfig:
    """The simulator settings of the demo: steady one-second jobs, optionally faults."""
    return SimulatorConfig(
        seed=seed,
        job_duration=1.0,
        job_duration_jitter=0.2,
        faults=DEMO_FAULTS if faults else Faults(concurrency_cap=10),
    )


def _say(args: argparse.Namespace, text: str) -> None:
    """A line of commentary on stderr (not with --json or --quiet)."""
    if not args.json and not args.quiet:
        print(text, file=sys.stderr)


async def cmd_demo(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Convert ``--records`` simulated quotes to Sales Orders and print the report."""
    if args.records < 1:
        raise UsageError("--records must be at least 1")
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    config = demo_config(faults=args.faults)
    async with Simulator(config) as sim:
        ids = sim.state.create_records("Quotes", args.records)
        auth = RefreshTokenAuth(
            config.client_id, config.client_secret, config.refresh_token, accounts_url=sim.url
        )
        # Two lines that each fit the 80 columns the progress bar is drawn for.
        _say(
            args,
            f"Simulator on {sim.url}"
            + (" (faults on: 429s, 500s, token expiry)" if args.faults else ""),
        )
        _say(
            args,
            f"converting {len(ids):,} quotes to Sales Orders, "
            f"{args.concurrency} requests in flight",
        )
        async with ZohoConvertClient(
            auth, api_domain=sim.url, max_concurrency=args.concurrency
        ) as client, display_for(args, expected_total=len(ids)) as display:
            report = await client.convert_many(
                "Quotes", ids, to="Sales_Orders", carry_over_tags=False, progress=display
            )
        print_report(report, as_json=args.json)
        converted = len(sim.state.converted_ids("Quotes"))
        _say(args, f"Simulator ledger: {converted:,} quotes converted")
    return EXIT_OK if report.ok else EXIT_FAILURES


async def cmd_simulate(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Run the simulator in the foreground until interrupted."""
    try:
        config = simulator_cli.config_from_args(args)
    except ValueError as error:
        raise UsageError(str(error)) from None
    await simulator_cli.serve(config, host=args.host, port=args.port)
    return EXIT_OK
