"""The ``zoho-convert`` command line (also ``python -m zoho_convert``).

Arguments are parsed with the standard library's argparse: the commands are plain
subcommands with flags, argparse covers them fully, and it adds no dependency to a tool that
runs in cron jobs and CI images.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shlex
import sys
from collections.abc import Sequence
from typing import NoReturn

from zoho_convert import __version__
from zoho_convert.cli.settings import UsageError, add_connection_arguments

__all__ = ["build_parser", "main"]

EXIT_CODES_HELP = """\
exit codes:
  0    every id converted (or the command succeeded)
  1    finished with failures, rejections, unfinished or uncertain ids; or Zoho/network error
  2    usage error or bad input file (nothing was sent)
  3    authentication or permission error
  130  interrupted (Ctrl-C); with --journal, `zoho-convert resume` continues the run

credentials come from the environment: ZOHO_ACCESS_TOKEN, or ZOHO_CLIENT_ID +
ZOHO_CLIENT_SECRET + ZOHO_REFRESH_TOKEN; location from ZOHO_DATA_CENTER (us, eu, in, au, cn,
jp, ca, sa), ZOHO_API_DOMAIN and ZOHO_ACCOUNTS_URL.
"""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (the usage block is in --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


RESUME_HELP = """\
continue an interrupted run from its journal (`convert --journal PATH`).

Jobs Zoho already accepted are polled, never submitted again; batches never sent are sent;
a batch caught mid-submission is sent once more (Zoho refuses to convert a record twice, so
nothing is converted twice). The report covers the whole run.

When the run was interrupted before it had read all its ids, give the same input again with
--ids-file (and --column): the ids already journaled are skipped and the rest is read. Without
it, resume stops with exit code 2 and says so. The message printed on Ctrl-C shows the exact
command.
"""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _batch_size(text: str) -> int:
    value = _positive_int(text)
    if value > 50:
        raise argparse.ArgumentTypeError(f"Zoho converts at most 50 ids per call, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    return value


def _poll_interval(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--poll-interval",
        type=_seconds,
        default=1.0,
        metavar="SECONDS",
        help="wait before a job's first poll (1.0); later waits grow 1.5x up to 30 s",
    )


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--verbose", action="store_true", help="log requests and retries")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    from zoho_convert.cli import commands, demo  # noqa: PLC0415 (rich loads only when needed)
    from zoho_convert.simulator import cli as simulator_cli  # noqa: PLC0415

    parser = _Parser(
        prog="zoho-convert",
        description="Convert Zoho CRM records in bulk: Quotes, Sales Orders and Leads.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EXIT_CODES_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    p = command("demo", "convert simulated quotes with no Zoho account (starts the simulator)")
    p.add_argument("--records", type=int, default=5000, help="quotes to create (5000)")
    p.add_argument("--concurrency", type=int, default=10, help="requests in flight (10)")
    p.add_argument("--faults", action="store_true", help="inject 429s, 500s and token expiry")
    _common(p)
    p.set_defaults(handler=demo.cmd_demo)

    p = command("convert", "convert every id of a file (or stdin) with mass convert jobs")
    p.add_argument("module", help="Quotes, Sales_Orders or Leads")
    p.add_argument("--to", help="target module: Sales_Orders or Invoices (not for Leads)")
    p.add_argument(
        "--ids-file",
        metavar="PATH",
        required=True,
        help="ids one per line, or a CSV with --column; - reads standard input",
    )
    p.add_argument("--column", help="read ids from this CSV column")
    p.add_argument("--carry-over-tags", action="store_true", help="carry tags over")
    p.add_argument("--assign-to", metavar="USER_ID", help="owner of the new records")
    p.add_argument(
        "--related", nargs="+", metavar="MODULE:ID", help="related lists to convert along"
    )
    p.add_argument("--batch-size", type=_batch_size, default=50, help="ids per job (max 50)")
    p.add_argument("--concurrency", type=_positive_int, help="requests in flight (10)")
    p.add_argument(
        "--journal",
        metavar="PATH",
        help="record progress in this new file, so `zoho-convert resume` can finish the run",
    )
    _poll_interval(p)
    add_connection_arguments(p)
    _common(p)
    p.set_defaults(handler=commands.cmd_convert)

    p = command("status", "print a mass-convert job's status")
    p.add_argument("module", help="Quotes, Sales_Orders or Leads")
    p.add_argument("job_id")
    p.add_argument("--wait", action="store_true", help="wait until the job finishes")
    p.add_argument("--timeout", type=_seconds, default=600.0, help="seconds to wait at most")
    _poll_interval(p)
    add_connection_arguments(p)
    _common(p)
    p.set_defaults(handler=commands.cmd_status)

    p = command("resume", "continue an interrupted run from its journal")
    p.description = RESUME_HELP
    p.add_argument("--journal", metavar="PATH", required=True, help="the run's journal")
    p.add_argument(
        "--ids-file",
        metavar="PATH",
        help="the interrupted run's input again (- for standard input), when it was not all read",
    )
    p.add_argument("--column", help="the CSV column, as given to convert")
    _poll_interval(p)
    add_connection_arguments(p)
    _common(p)
    p.set_defaults(handler=commands.cmd_resume)

    p = command("convert-lead", "convert one lead into a contact, account and deal")
    p.add_argument("lead_id")
    p.add_argument("--options-file", metavar="PATH", help="Convert Lead options as JSON")
    add_connection_arguments(p)
    _common(p)
    p.set_defaults(handler=commands.cmd_convert_lead)

    p = command("convert-record", "convert one Quote or Sales Order now")
    p.add_argument("module", help="Quotes or Sales_Orders")
    p.add_argument("record_id")
    p.add_argument("--to", required=True, help="Sales_Orders or Invoices")
    add_connection_arguments(p)
    _common(p)
    p.set_defaults(handler=commands.cmd_convert_record)

    p = command("simulate", "run the Zoho simulator on 127.0.0.1 until Ctrl-C")
    simulator_cli.add_arguments(p)
    p.set_defaults(handler=demo.cmd_simulate, quiet=True, verbose=False, json=False)
    return parser


def _configure_logging(verbose: bool) -> None:
    if verbose:
        logging.basicConfig(
            level=logging.DEBUG,
            stream=sys.stderr,
            format="%(asctime)s %(name)s %(levelname)s %(message)s",
        )
        # aiohttp's own loggers could print request details; keep them quiet, and asyncio's
        # "Using selector" chatter too.
        logging.getLogger("aiohttp").setLevel(logging.WARNING)
        logging.getLogger("asyncio").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code."""
    from zoho_convert.cli.commands import (  # noqa: PLC0415
        EXIT_AUTH,
        EXIT_FAILURES,
        EXIT_INTERRUPTED,
        EXIT_USAGE,
        run_command,
    )
    from zoho_convert.cli.inputs import InputError  # noqa: PLC0415
    from zoho_convert.errors import (  # noqa: PLC0415
        AuthenticationError,
        PermissionDeniedError,
        ZohoConvertError,
    )

    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(getattr(args, "verbose", False))
    try:
        return asyncio.run(run_command(args, os.environ))
    except (UsageError, ValueError, TypeError) as error:
        # Local checks raise these before anything is sent: bad input, not a failed run.
        print(f"zoho-convert: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except InputError as error:
        # The ids source broke after part of it was converted: the run stopped early.
        print(f"zoho-convert: error: {error}", file=sys.stderr)
        return EXIT_FAILURES
    except (AuthenticationError, PermissionDeniedError) as error:
        print(f"zoho-convert: {error}", file=sys.stderr)
        return EXIT_AUTH
    except ZohoConvertError as error:
        print(f"zoho-convert: {error}", file=sys.stderr)
        return EXIT_FAILURES
    except OSError as error:
        # A journal that cannot be written, a broken pipe, ...: one line, no traceback.
        print(f"zoho-convert: error: {error}", file=sys.stderr)
        return EXIT_FAILURES
    except KeyboardInterrupt:
        print(f"zoho-convert: interrupted{_resume_hint(args)}", file=sys.stderr)
        return EXIT_INTERRUPTED


def _resume_hint(args: argparse.Namespace) -> str:
    """How to continue an interrupted run, as a shell command."""
    journal = getattr(args, "journal", None)
    if args.command not in ("convert", "resume"):
        return ""
    if not journal:
        return "; nothing can be resumed (run convert with --journal PATH for that)"
    words = ["zoho-convert", "resume", "--journal", journal]
    # The run may not have read all its ids: resume reads the rest from the same input.
    if getattr(args, "ids_file", None):
        words += ["--ids-file", args.ids_file]
        if args.column:
            words += ["--column", args.column]
    hint = f"; resume with: {shlex.join(words)}"
    if getattr(args, "ids_file", None) == "-":
        hint += " (with the same ids on standard input)"
    return hint
