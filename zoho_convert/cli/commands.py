"""The CLI's commands: each takes parsed arguments and returns an exit code.

Everything that can be checked locally (input files, module pairs, options) is checked before
the client sends its first request; a ``UsageError`` then becomes exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Awaitable, Iterable, Mapping
from typing import Any

from rich.console import Console

from zoho_convert.cli.display import ProgressDisplay, print_report
from zoho_convert.cli.inputs import InputError, open_id_source, read_lead_options
from zoho_convert.cli.settings import UsageError, client_options
from zoho_convert.client import ZohoConvertClient
from zoho_convert.errors import ZohoConvertError
from zoho_convert.ids import normalize_id
from zoho_convert.journal import Journal
from zoho_convert.models import INVENTORY_CONVERSIONS, ModuleRef, check_inventory_conversion
from zoho_convert.polling import PollPolicy
from zoho_convert.report import ConversionReport

__all__ = [
    "EXIT_AUTH",
    "EXIT_FAILURES",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "run_command",
]

EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_INTERRUPTED = 130

_MASS_SOURCES = (*INVENTORY_CONVERSIONS, "Leads")


def _show_progress(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()


def _report_exit(report: ConversionReport) -> int:
    return EXIT_OK if report.ok else EXIT_FAILURES


def _poll(args: argparse.Namespace) -> PollPolicy:
    return PollPolicy(initial=args.poll_interval)


async def _reporting_partial(
    args: argparse.Namespace, run: Awaitable[ConversionReport]
) -> ConversionReport:
    """Await a run; when a run-wide error stops it after jobs were submitted, print the
    partial report (what was converted before the error) before the error propagates."""
    try:
        report = await run
    except (ZohoConvertError, InputError) as error:
        partial = getattr(error, "partial_report", None)
        if isinstance(partial, ConversionReport) and partial.jobs:
            print_report(partial, as_json=args.json)
        raise
    return report


def _check_new_journal(path: str | None) -> None:
    """A journal is a new file: refuse an existing one (or a missing folder) before sending."""
    if path is None:
        return
    if os.path.lexists(path):
        raise UsageError(
            f"journal {path} exists already: continue that run with "
            f"`zoho-convert resume --journal {path}`, or give a new path"
        )
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"cannot create journal {path}: no folder {folder}")


def _check_module_pair(module: str, to: str | None) -> None:
    if module == "Leads":
        if to not in (None, "Contacts"):
            raise UsageError("Leads convert to Contacts, Accounts and Deals: leave out --to")
        return
    if module not in INVENTORY_CONVERSIONS:
        raise UsageError(f"unknown module {module!r}: convert one of {', '.join(_MASS_SOURCES)}")
    if to is None:
        raise UsageError(f"--to is required for {module}")
    try:
        check_inventory_conversion(module, to)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _related(values: Iterable[str]) -> tuple[ModuleRef, ...]:
    refs = []
    for value in values:
        name, sep, module_id = value.partition(":")
        if not sep or not name:
            raise UsageError(f"--related takes MODULE:ID, got {value!r}")
        try:
            refs.append(ModuleRef(api_name=name, id=normalize_id(module_id, what="module id")))
        except (TypeError, ValueError) as error:
            raise UsageError(f"--related {value}: {error}") from None
    return tuple(refs)


def _client(args: argparse.Namespace, env: Mapping[str, str], **extra: Any) -> ZohoConvertClient:
    try:
        return ZohoConvertClient(**client_options(args, env), **extra)
    except ValueError as error:
        raise UsageError(str(error)) from None


async def cmd_convert(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """``zoho-convert convert``: convert every id of a file or stdin."""
    _check_module_pair(args.module, args.to)
    related = _related(args.related or ())
    if args.assign_to is not None:
        try:
            normalize_id(args.assign_to, what="--assign-to user id")
        except ValueError as error:
            raise UsageError(str(error)) from None
    _check_new_journal(args.journal)
    ids = await open_id_source(args.ids_file, args.column)
    client = _client(args, env, max_concurrency=args.concurrency or 10)
    async with client:
        with ProgressDisplay(enabled=_show_progress(args)) as display:
            report = await _reporting_partial(
                args,
                client.convert_many(
                    args.module,
                    ids,
                    to=args.to,
                    carry_over_tags=args.carry_over_tags,
                    assign_to=args.assign_to,
                    related_modules=related,
                    batch_size=args.batch_size,
                    concurrency=args.concurrency,
                    poll=_poll(args),
                    progress=display,
                    journal=args.journal,
                ),
            )
    print_report(report, as_json=args.json)
    return _report_exit(report)


def _require_file(path: str, what: str) -> None:
    if not os.path.isfile(path):
        raise UsageError(f"no {what} at {path}")


async def _input_complete(path: str) -> bool:
    """Whether the run journaled at ``path`` had read all its ids."""
    try:
        journal = await Journal.open(path)
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot resume from {path}: {error}") from None
    except Exception:  # a file SQLite cannot open: RuntimeError or sqlite3.DatabaseError
        raise UsageError(f"cannot resume from {path}: not a zoho_convert journal") from None
    try:
        state = await journal.load()
    except Exception as error:  # a damaged file: sqlite3.DatabaseError, KeyError, ...
        raise UsageError(f"cannot resume from {path}: unreadable journal ({error})") from None
    finally:
        await journal.close()
    return state.input_complete


async def cmd_resume(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """``zoho-convert resume``: finish an interrupted run from its journal.

    A run interrupted before it had read all its ids needs its input again (``--ids-file``):
    the journal holds the ids it read, not where they came from.
    """
    _require_file(args.journal, "journal")
    if args.column is not None and args.ids_file is None:
        raise UsageError("--column needs --ids-file")
    ids = None
    if not await _input_complete(args.journal):
        if args.ids_file is None:
            raise UsageError(
                f"the run in {args.journal} stopped before reading all its ids: give its input "
                f"again with --ids-file PATH (and --column NAME for a CSV); the ids already "
                f"journaled are skipped"
            )
        ids = await open_id_source(args.ids_file, args.column)
    client = _client(args, env)
    async with client:
        with ProgressDisplay(enabled=_show_progress(args)) as display:
            report = await _reporting_partial(
                args, client.resume(args.journal, ids=ids, poll=_poll(args), progress=display)
            )
    print_report(report, as_json=args.json)
    return _report_exit(report)


async def cmd_status(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """``zoho-convert status``: print a job's status, or wait for it to finish."""
    if args.module not in _MASS_SOURCES:
        raise UsageError(
            f"unknown module {args.module!r}: expected one of {', '.join(_MASS_SOURCES)}"
        )
    try:
        job_id = normalize_id(args.job_id, what="job id")
    except ValueError as error:
        raise UsageError(str(error)) from None
    async with _client(args, env) as client:
        if args.wait:
            status = await client.wait_for_job(
                args.module,
                job_id,
                poll=PollPolicy(initial=args.poll_interval, timeout=args.timeout),
            )
        elif args.module == "Leads":
            status = await client.mass_convert_leads_status(job_id)
        else:
            status = await client.mass_convert_status(args.module, job_id)
    row = {
        "job_id": job_id,
        "state": status.state.value,
        "total_count": status.total_count,
        "converted_count": status.converted_count,
        "not_converted_count": status.not_converted_count,
        "failed_count": status.failed_count,
    }
    _print_row(row, args.json)
    finished_clean = status.is_final and status.failed_count == 0
    return EXIT_OK if finished_clean or not args.wait else EXIT_FAILURES


async def cmd_convert_record(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """``zoho-convert convert-record``: convert one Quote or Sales Order now."""
    _check_module_pair(args.module, args.to)
    if args.module == "Leads":
        raise UsageError("use convert-lead for a lead")
    try:
        record_id = normalize_id(args.record_id)
    except ValueError as error:
        raise UsageError(str(error)) from None
    async with _client(args, env) as client:
        record = await client.convert(args.module, record_id, to=args.to)
    _print_row({"module": record.module, "id": record.id, "name": record.name}, args.json)
    return EXIT_OK


async def cmd_convert_lead(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """``zoho-convert convert-lead``: convert one lead, with options from a JSON file."""
    try:
        lead_id = normalize_id(args.lead_id, what="lead id")
    except ValueError as error:
        raise UsageError(str(error)) from None
    options = read_lead_options(args.options_file)
    async with _client(args, env) as client:
        result = await client.convert_lead(lead_id, options)
    row = {
        module: None if record is None else {"id": record.id, "name": record.name}
        for module, record in (
            ("Contacts", result.contacts),
            ("Accounts", result.accounts),
            ("Deals", result.deals),
        )
    }
    _print_row(row, args.json)
    return EXIT_OK


def _print_row(row: Mapping[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(row, indent=2) + "\n")
        return
    console = Console(file=sys.stdout)
    for key, value in row.items():
        console.print(f"{key}: {value}", markup=False)


async def run_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Run the command ``args`` names; return its exit code."""
    handler = args.handler
    code: int = await handler(args, env)
    return code
