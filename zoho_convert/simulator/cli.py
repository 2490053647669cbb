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


# --job-failure-mode spells SimulatorConfig.already_converted as issue and docs talk about it.
_JOB_FAILURE_MODES = {"refuse": "fail_call", "in-job": "fail_in_job"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options (port, token, seed, behaviour and faults) to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: pick a free one)")
    parser.add_argument("--token", default=None, help="access token to accept (default: generated)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument("--client-id", default="sim-client", help="OAuth client id (sim-client)")
    parser.add_argument("--client-secret", default="sim-secret", help="(default sim-secret)")
    parser.add_argument("--refresh-token", default="sim-refresh", help="(default sim-refresh)")
    parser.add_argument("--job-duration", type=float, default=0.0, help="seconds per job (0)")
    parser.add_argument("--job-duration-jitter", type=float, default=0.0,
                        help="each job lasts --job-duration +/- up to this (seeded)")
    parser.add_argument("--strict-records", action="store_true",
                        help="only ids created through /__simulator__/records exist")
    parser.add_argument("--already-converted", choices=("fail_call", "fail_in_job"),
                        default="fail_call",
                        help="an already converted id in a mass convert fails the call "
                             "(default) or fails inside the job")
    parser.add_argument("--job-failure-mode", choices=tuple(_JOB_FAILURE_MODES), default=None,
                        help="the same as --already-converted: refuse = fail_call, "
                             "in-job = fail_in_job (overrides it)")
    parser.add_argument("--converted-leads", default="already_converted",
                        choices=("already_converted", "invalid_in_mass", "invalid"),
                        help="how a lead already converted is refused: ID_ALREADY_CONVERTED "
                             "(default), INVALID_DATA by the Leads mass convert, or by both "
                             "Leads calls")
    parser.add_argument("--approval-errors", choices=("fail_call", "fail_in_job"),
                        default="fail_in_job",
                        help="NOT_APPROVED/NOT_REVIEWED ids in a mass convert fail the call or "
                             "(default) fail inside the job")
    parser.add_argument("--no-reserve-ids", dest="reserve_ids", action="store_false",
                        help="records convert only when their job finishes; a second submit of "
                             "an id whose job has not finished is accepted (and converts again)")
    parser.add_argument("--invalid-ids", type=_csv, default=frozenset(),
                        help="comma-separated ids that fail a mass convert whole (INVALID_DATA)")
    parser.add_argument("--not-approved-ids", type=_csv, default=frozenset(),
                        help="ids refused NOT_APPROVED (see --approval-errors)")
    parser.add_argument("--not-reviewed-ids", type=_csv, default=frozenset(),
                        help="ids refused NOT_REVIEWED (see --approval-errors)")
    parser.add_argument("--no-permission-ids", type=_csv, default=frozenset(),
                        help="ids refused with 403 NO_PERMISSION")
    parser.add_argument("--locked-ids", type=_csv, default=frozenset(),
                        help="ids refused RECORD_LOCKED (single) or failed in a job (mass)")
    parser.add_argument("--no-permission-modules", type=_csv, default=frozenset(),
                        help="modules whose convert/mass convert answer 403 NO_PERMISSION")
    parser.add_argument("--scope-mismatch-endpoints", type=_csv, default=frozenset(),
                        help="endpoints answering 401 OAUTH_SCOPE_MISMATCH, comma-separated "
                             f"subset of {','.join(sorted(ENDPOINT_NAMES))}")
    wire = parser.add_argument_group("wire readings (where Zoho's documents disagree)")
    wire.add_argument("--status-shape", choices=("wrapped", "bare"), default="wrapped",
                      help='job status as {"data":[{...}]} (v7 page, default) or the bare '
                           "object (OAS v8)")
    wire.add_argument("--error-details", choices=("oas", "legacy"), default="oas",
                      help="error details as the OAS gives them (resource_path_index, "
                           "ambiguity_due_to, expected_fields; default) or the flat "
                           "api_name/json_path/id forms")
    wire.add_argument("--unknown-module-reply", choices=("204", "invalid_module"),
                      default="204",
                      help="settings/modules/{unknown}: 204 No Content (default) or "
                           "INVALID_MODULE")
    wire.add_argument("--token-expiry-ms", action="store_true",
                      help="token replies carry expires_in_sec and expires_in in milliseconds")
    limits = parser.add_argument_group("limits")
    limits.add_argument("--token-mint-limit", type=int, default=None, metavar="N",
                        help="at most N access tokens per window per refresh token (Zoho: 10)")
    limits.add_argument("--token-mint-window", type=float, default=600.0, metavar="SECONDS",
                        help="the window of --token-mint-limit (default 600)")
    limits.add_argument("--token-throttle-reply",
                        choices=("access_denied_space", "access_denied", "http_429"),
                        default="access_denied_space",
                        help='past the limit: HTTP 200 {"error":"Access Denied"} (default), '
                             'HTTP 200 {"error":"access_denied"} or HTTP 429')
    limits.add_argument("--lead-convert-concurrency", type=int, default=None, metavar="N",
                        help="more than N Convert Lead calls in flight -> 429")
    limits.add_argument("--api-credits", type=int, default=None, metavar="N",
                        help="the org's API credits: each request costs 1 (Convert Lead 5); "
                             "once half are used, replies carry X-API-CREDITS-REMAINING")
    faults = parser.add_argument_group("faults")
    faults.add_argument("--concurrency-cap", type=int, default=None,
                        help="more than this many API requests in flight -> 429")
    faults.add_argument("--rate-429", type=float, default=0.0, metavar="RATE",
                        help="share of API requests answered 429 at random (0 to 1)")
    faults.add_argument("--retry-after", type=float, default=None, metavar="SECONDS",
                        help="429s carry Retry-After with this value (default: none)")
    faults.add_argument("--rate-500", type=float, default=0.0, metavar="RATE",
                        help="share of API requests answered 500 INTERNAL_ERROR (0 to 1)")
    faults.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    faults.add_argument("--token-max-uses", type=int, default=None, metavar="N",
                        help="an access token is refused (401 INVALID_TOKEN) after N uses")
    faults.add_argument("--token-ttl", type=float, default=None, metavar="SECONDS",
                        help="an access token is refused this long after it was minted")
    faults.add_argument("--drop-rate", type=float, default=0.0, metavar="RATE",
                        help="share of API requests whose connection closes with no reply")
    faults.add_argument("--fault-after-processing", action="store_true",
                        help="500s, drops and corrupt replies come after processing (with "
                             "--fault-endpoints mass_convert: processed, then 500/dropped)")
    faults.add_argument("--fault-endpoints", type=_csv, default=frozenset(),
                        help=f"comma-separated subset of {','.join(sorted(ENDPOINT_NAMES))}")
    faults.add_argument("--failed-job-rate", type=float, default=0.0, metavar="RATE",
                        help="share of jobs that end FAILED, converting nothing")
    faults.add_argument("--never-finish-rate", type=float, default=0.0, metavar="RATE",
                        help="share of jobs that stay IN PROGRESS forever")
    faults.add_argument("--token-endpoint-failures", type=int, default=0, metavar="N",
                        help="the first N token refreshes answer 500")
    faults.add_argument("--corrupt-rate", type=float, default=0.0, metavar="RATE",
                        help="share of replies corrupted (cut JSON, an HTML page, keys missing)")
    faults.add_argument("--forget-jobs", type=float, default=0.0, metavar="RATE",
                        help="share of jobs whose status polls fail (they still convert)")
    faults.add_argument("--forget-reply", choices=("204", "invalid"), default="204",
                        help='a forgotten job\'s poll: 204 No Content (default) or 400 '
                             '"The job_id is invalid"')
    faults.add_argument("--duplicate-job-ids", type=float, default=0.0, metavar="RATE",
                        help="share of submits answered with an earlier job's id")
    faults.add_argument("--malformed-final", type=float, default=0.0, metavar="RATE",
                        help="share of jobs whose final status is malformed")
    faults.add_argument("--malformed-final-kind", choices=("counts", "state", "mixed"),
                        default="mixed",
                        help="counts that do not add up, an unknown state, or either (default)")


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
        forget_job_rate=ns.forget_jobs,
        forget_reply=ns.forget_reply,
        duplicate_job_id_rate=ns.duplicate_job_ids,
        malformed_final_rate=ns.malformed_final,
        malformed_final_kind=ns.malformed_final_kind,
    )
    already_converted = ns.already_converted
    if ns.job_failure_mode is not None:
        already_converted = _JOB_FAILURE_MODES[ns.job_failure_mode]
    return SimulatorConfig(
        seed=ns.seed,
        access_token=ns.token,
        client_id=ns.client_id,
        client_secret=ns.client_secret,
        refresh_token=ns.refresh_token,
        job_duration=ns.job_duration,
        job_duration_jitter=ns.job_duration_jitter,
        strict_records=ns.strict_records,
        already_converted=already_converted,
        approval_errors=ns.approval_errors,
        converted_leads=ns.converted_leads,
        reserve_ids=ns.reserve_ids,
        invalid_ids=ns.invalid_ids,
        not_approved_ids=ns.not_approved_ids,
        not_reviewed_ids=ns.not_reviewed_ids,
        no_permission_ids=ns.no_permission_ids,
        locked_ids=ns.locked_ids,
        no_permission_modules=ns.no_permission_modules,
        scope_mismatch_endpoints=ns.scope_mismatch_endpoints,
        status_shape=ns.status_shape,
        error_details=ns.error_details,
        unknown_module_reply=ns.unknown_module_reply,
        token_expiry_ms=ns.token_expiry_ms,
        token_mint_limit=ns.token_mint_limit,
        token_mint_window=ns.token_mint_window,
        token_throttle_reply=ns.token_throttle_reply,
        lead_convert_concurrency=ns.lead_convert_concurrency,
        api_credits=ns.api_credits,
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
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(config, host=ns.host, port=ns.port))
    except OSError as error:
        # A port in use, an address not of this machine: one line, as `zoho-convert
        # simulate` says it, not a traceback.
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 1
    return 0
