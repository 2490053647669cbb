"""The CLI's commands that convert: each takes parsed arguments and returns an exit code.

Everything that can be checked locally (input files, module pairs, options, output paths) is
checked before the client sends its first request; a ``UsageError`` then becomes exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from zoho_convert import (
    ConversionReport,
    JournalInUseError,
    PollPolicy,
    SettlePolicy,
    ZohoConvertClient,
    ZohoConvertError,
    journal_input_complete,
    normalize_id,
    normalize_job_id,
)
from zoho_convert.cli.clients import display_for, open_client, related_modules, resolve_related
from zoho_convert.cli.errors import EXIT_FAILURES, EXIT_OK, InputError, UsageError
from zoho_convert.cli.inputs import open_id_source, read_lead_options
from zoho_convert.cli.modules import MASS_SOURCES, canonical_module, check_pair
from zoho_convert.cli.output import print_report, print_row, write_failed_ids
from zoho_convert.cli.progress import ProgressDisplay

__all__ = [
    "check_new_journal",
    "check_output_file",
    "cmd_convert",
    "cmd_convert_lead",
    "cmd_convert_record",
    "cmd_resume",
    "cmd_status",
]


def _report_exit(report: ConversionReport) -> int:
    return EXIT_OK if report.ok else EXIT_FAILURES


def _poll(args: argparse.Namespace) -> PollPolicy:
    return PollPolicy(initial=args.poll_interval)


def _settle(args: argparse.Namespace) -> SettlePolicy | None:
    return SettlePolicy(record_by_record=False) if args.settle_by_mass else None


def check_new_journal(path: str | None) -> None:
    """A journal is a new file: refuse an existing one, or a path it cannot be created at.

    Raises:
        UsageError: before anything is sent.
    """
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
    # Try it: a read-only or special folder (/proc) says no now rather than mid-run.
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError as error:
        raise UsageError(f"cannot create journal {path}: {error.strerror or error}") from None
    os.close(fd)
    os.unlink(path)


def check_output_file(path: str | None, flag: str) -> None:
    """A file the run will write (``--failed-ids``): its folder exists and it can be written.

    Raises:
        UsageError: before anything is sent.
    """
    if path is None:
        return
    if os.path.isdir(path):
        raise UsageError(f"{flag} {path} is a folder")
    existed = os.path.lexists(path)
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as error:
        raise UsageError(f"cannot write {flag} {path}: {error.strerror or error}") from None
    if not existed:
        os.unlink(path)


def _check_run_options(args: argparse.Namespace) -> None:
    if args.assign_to is not None:
        try:
            normalize_id(args.assign_to, what="--assign-to user id")
        except ValueError as error:
            raise UsageError(str(error)) from None
    check_new_journal(args.journal)
    check_output_file(args.failed_ids, "--failed-ids")


def _finish(
    args: argparse.Namespace, report: ConversionReport, *, interrupted: bool = False
) -> None:
    """Print the report and write ``--failed-ids``."""
    if args.failed_ids:
        write_failed_ids(args.failed_ids, report)
    print_report(report, as_json=args.json, interrupted=interrupted, failed_ids=args.failed_ids)


@asynccontextmanager
async def _reporting_stops(
    args: argparse.Namespace,
    client: ZohoConvertClient,
    display: ProgressDisplay,
    target: tuple[str, str | None] | None,
) -> AsyncIterator[None]:
    """Report what a run did when it stops early, then let the error go on up.

    A run-wide error (authentication, permission, …) carries the report so far as
    ``partial_report``; so does the cancellation of an interrupted run (Ctrl-C, SIGTERM).
    """
    try:
        yield
    except asyncio.CancelledError as error:
        partial = getattr(error, "partial_report", None)
        if target is not None and isinstance(partial, ConversionReport):
            _finish(args, partial, interrupted=True)
        raise
    except (ZohoConvertError, InputError) as error:
        partial = getattr(error, "partial_report", None)
        if isinstance(partial, ConversionReport) and _reached_zoho(partial):
            _finish(args, partial)
        raise


_LOCAL_CODES = frozenset({"NOT_SUBMITTED", "INVALID_ID"})  # refused before anything was sent


def _reached_zoho(report: ConversionReport) -> bool:
    """Whether a stopped run's report holds an id Zoho may have done something with.

    Not only a job: a batch whose submission was lost and never settled (``uncertain``, maybe
    converted), records converted or found converted one at a time, and ids Zoho refused all
    need the report printed (and ``--failed-ids`` written), or the user never learns of them.
    A report of ids refused locally or never sent says nothing an error line does not.
    """
    return bool(
        report.jobs
        or report.uncertain
        or report.converted_by_record
        or report.already_converted
        or report.lost_jobs
        or any(item.code not in _LOCAL_CODES for item in report.rejected)
    )


async def cmd_convert(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """``zoho-convert convert``: convert every id of a file or stdin."""
    module, to = check_pair(args.module, args.to)
    related = related_modules(args.related or ())
    _check_run_options(args)
    if args.dry_run:
        from zoho_convert.cli.plan import dry_run  # noqa: PLC0415 (only for --dry-run)

        return await dry_run(args, env, module, to, related)
    ids = await open_id_source(args.ids_file, args.column)
    async with open_client(args, env, max_concurrency=args.concurrency or 10) as client:
        refs = await resolve_related(client, related)
        display = display_for(args)
        async with _reporting_stops(args, client, display, (module, to)), display:
            report = await client.convert_many(
                module,
                ids,
                to=to,
                carry_over_tags=args.carry_over_tags,
                assign_to=args.assign_to,
                related_modules=refs,
                batch_size=args.batch_size,
                concurrency=args.concurrency,
                poll=_poll(args),
                settle=_settle(args),
                progress=display,
                journal=args.journal,
            )
    _finish(args, report)
    return _report_exit(report)


def _require_file(path: str, what: str) -> None:
    if not os.path.isfile(path):
        raise UsageError(f"no {what} at {path}")


async def _input_complete(path: str) -> bool:
    """Whether the run journaled at ``path`` had read all its ids."""
    try:
        return await journal_input_complete(path)
    except (OSError, ValueError, JournalInUseError) as error:
        raise UsageError(f"cannot resume from {path}: {error}") from None
    except Exception as error:  # a damaged file: sqlite3.DatabaseError, ...
        raise UsageError(f"cannot resume from {path}: unreadable journal ({error})") from None


async def cmd_resume(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """``zoho-convert resume``: finish an interrupted run from its journal.

    A run interrupted before it had read all its ids needs its input again (``--ids-file``):
    the journal holds the ids it read, not where they came from.
    """
    _require_file(args.journal, "journal")
    if args.column is not None and args.ids_file is None:
        raise UsageError("--column needs --ids-file")
    check_output_file(args.failed_ids, "--failed-ids")
    ids = None
    if not await _input_complete(args.journal):
        if args.ids_file is None:
            raise UsageError(
                f"the run in {args.journal} stopped before reading all its ids: give its input "
                f"again with --ids-file PATH (and --column NAME for a CSV); the ids already "
                f"journaled are skipped"
            )
        ids = await open_id_source(args.ids_file, args.column)
    async with open_client(args, env) as client:
        display = display_for(args)
        async with _reporting_stops(args, client, display, None), display:
            report = await client.resume(
                args.journal, ids=ids, poll=_poll(args), settle=_settle(args), progress=display
            )
    _finish(args, report)
    return _report_exit(report)


async def cmd_status(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """``zoho-convert status``: print a job's status, or wait for it to finish."""
    module = canonical_module(args.module, MASS_SOURCES, verb="expected")
    try:
        job_id = normalize_job_id(args.job_id)
    except ValueError as error:
        raise UsageError(str(error)) from None
    async with open_client(args, env) as client:
        if args.wait:
            status = await client.wait_for_job(
                module,
                job_id,
                poll=PollPolicy(initial=args.poll_interval, timeout=args.timeout),
            )
        elif module == "Leads":
            status = await client.mass_convert_leads_status(job_id)
        else:
            status = await client.mass_convert_status(module, job_id)
    row = {
        "job_id": job_id,
        "state": status.state.value,
        "total_count": status.total_count,
        "converted_count": status.converted_count,
        "not_converted_count": status.not_converted_count,
        "failed_count": status.failed_count,
    }
    print_row(row, args.json)
    finished_clean = status.is_final and status.failed_count == 0
    return EXIT_OK if finished_clean or not args.wait else EXIT_FAILURES


async def cmd_convert_record(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """``zoho-convert convert-record``: convert one Quote or Sales Order now."""
    if canonical_module(args.module, MASS_SOURCES) == "Leads":
        raise UsageError("use convert-lead for a lead")
    module, to = check_pair(args.module, args.to)
    assert to is not None  # check_pair requires --to for inventory modules
    try:
        record_id = normalize_id(args.record_id)
    except ValueError as error:
        raise UsageError(str(error)) from None
    async with open_client(args, env) as client:
        record = await client.convert(module, record_id, to=to)
    print_row({"module": record.module, "id": record.id, "name": record.name}, args.json)
    return EXIT_OK


async def cmd_convert_lead(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """``zoho-convert convert-lead``: convert one lead, with options from a JSON file."""
    try:
        lead_id = normalize_id(args.lead_id, what="lead id")
    except ValueError as error:
        raise UsageError(str(error)) from None
    options = read_lead_options(args.options_file)
    async with open_client(args, env) as client:
        result = await client.convert_lead(lead_id, options)
    records = (
        ("Contacts", result.contacts), ("Accounts", result.accounts), ("Deals", result.deals)
    )
    if args.json:
        print_row(
            {
                module: None if record is None else {"id": record.id, "name": record.name}
                for module, record in records
            },
            True,
        )
        return EXIT_OK
    lines = [f"lead {lead_id} converted"]
    for module, record in records:
        if record is None:
            lines.append(f"{module}: none created")
        else:
            name = f" ({record.name})" if record.name else ""
            lines.append(f"{module}: {record.id}{name}")
    sys.stdout.write("".join(line + "\n" for line in lines))
    return EXIT_OK
