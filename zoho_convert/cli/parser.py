"""The command line's grammar, with the standard library's argparse.

The commands are plain subcommands with flags: argparse covers them fully, adds no dependency
to a tool that runs in cron jobs and CI images, and is what the shell completion is made from.
Handlers are named ``"module:function"`` and imported only when their command runs.
"""

from __future__ import annotations

import argparse
from typing import NoReturn

from zoho_convert import __version__
from zoho_convert.cli.fleet import add_fleet_arguments
from zoho_convert.cli.progress import MODES
from zoho_convert.cli.settings import DATA_CENTERS, add_connection_arguments

__all__ = ["HELP_FOOTER", "build_parser"]

HELP_FOOTER = f"""\
exit codes:
  0    every id converted (or the command succeeded)
  1    finished with failures, rejections, unfinished or uncertain ids; or Zoho/network error
  2    usage error or bad input (nothing was sent)
  3    authentication or permission error
  130  interrupted (Ctrl-C); with --journal, `zoho-convert resume` continues the run
  143  terminated (SIGTERM), as for Ctrl-C

environment (flags override it; `zoho-convert auth check` tests it):
  ZOHO_ACCESS_TOKEN      an OAuth access token, or else (not both) all three of
  ZOHO_CLIENT_ID         ZOHO_CLIENT_SECRET and ZOHO_REFRESH_TOKEN: tokens refreshed for you
  ZOHO_DATA_CENTER       {DATA_CENTERS} (default us)
  ZOHO_ENVIRONMENT       production, sandbox or developer (default production)
  ZOHO_API_DOMAIN        another API domain (the simulator, a proxy)
  ZOHO_ACCOUNTS_URL      another accounts (OAuth) server
  ZOHO_FLEET_URL         a Redis URL: share the org's limits, token and ledger (--fleet)
  ZOHO_FLEET_NAMESPACE   the fleet's key prefix in Redis (default zoho_convert)

shell completion: source <(zoho-convert completion bash)   (or zsh)
"""

_SUB_FOOTER = "exit codes and environment variables: zoho-convert --help"

RESUME_HELP = """\
continue an interrupted run from its journal (`convert --journal PATH`).

Jobs Zoho already accepted are polled, never submitted again; batches never sent are sent;
a batch caught mid-submission is sent once more (Zoho refuses to convert a record twice, so
nothing is converted twice). The report covers the whole run.

When the run was interrupted before it had read all its ids, give the same input again with
--ids-file (and --column): the ids already journaled are skipped and the rest is read (a file
of other ids, such as only those not read yet, loses none). Without it, resume stops with exit
code 2 and says so. The message printed on Ctrl-C shows the exact
command.
"""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (the usage block is in --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


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


def _settle_by_mass(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--settle-by-mass",
        action="store_true",
        help="settle lost submissions by mass resubmission only, never one record at a time "
        "with the single convert call (fewer API credits; tags exactly as the run says)",
    )


def _output(parser: argparse.ArgumentParser, *, progress: bool = False) -> None:
    group = parser.add_argument_group("output")
    group.add_argument("--json", action="store_true", help="print the result as JSON")
    group.add_argument("-v", "--verbose", action="store_true", help="log requests and retries")
    if not progress:
        parser.set_defaults(quiet=False)
        return
    group.add_argument("-q", "--quiet", action="store_true", help="no progress (--progress none)")
    group.add_argument(
        "--progress",
        choices=MODES,
        default="auto",
        help="a bar on a terminal, a line every few seconds otherwise (auto); or force one",
    )
    group.add_argument(
        "--progress-interval",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="seconds between two progress lines (5)",
    )


def _failed_ids(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--failed-ids",
        metavar="FILE",
        help="write every id that needs attention to FILE: id<TAB>reason, one per line",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    from zoho_convert.simulator import cli as simulator_cli  # noqa: PLC0415 (simulate only)

    parser = _Parser(
        prog="zoho-convert",
        description="Convert Zoho CRM records in bulk: Quotes, Sales Orders and Leads.",
        epilog=HELP_FOOTER,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, help_text: str, handler: str, group: argparse._SubParsersAction[_Parser] = sub
    ) -> argparse.ArgumentParser:
        p = group.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=_SUB_FOOTER,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(handler=handler)
        return p

    p = command("demo", "convert simulated quotes with no Zoho account (starts the simulator)",
                "demo:cmd_demo")
    p.add_argument("--records", type=int, default=5000, help="quotes to create (5000)")
    p.add_argument("--concurrency", type=int, default=10, help="requests in flight (10)")
    p.add_argument("--faults", action="store_true", help="inject 429s, 500s and token expiry")
    _output(p, progress=True)

    p = command("convert", "convert every id of a file (or stdin) with mass convert jobs",
                "commands:cmd_convert")
    p.add_argument("module", help="Quotes, Sales_Orders or Leads (any case)")
    p.add_argument("--to", help="target module: Sales_Orders or Invoices (not for Leads)")
    p.add_argument(
        "--ids-file",
        metavar="PATH",
        required=True,
        help="ids one per line (zcrm_ prefixes dropped), or a CSV with --column; - reads stdin",
    )
    p.add_argument("--column", help="read ids from this CSV column (comma, semicolon or tab)")
    p.add_argument(
        "--carry-over-tags", action="store_true", help="carry tags over (default: not)"
    )
    p.add_argument("--assign-to", metavar="USER_ID", help="owner of the new records")
    p.add_argument(
        "--related",
        nargs="+",
        metavar="MODULE[:ID]",
        help="related lists to convert along (module ids are looked up when not given)",
    )
    p.add_argument("--batch-size", type=_batch_size, default=50, help="ids per job (50, the most)")
    p.add_argument("--concurrency", type=_positive_int, help="requests in flight (10)")
    p.add_argument(
        "--journal",
        metavar="PATH",
        help="record progress in this new file, so `zoho-convert resume` can finish the run",
    )
    _failed_ids(p)
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="check the input and resolve the modules, print the plan and its cost; "
        "convert nothing",
    )
    _poll_interval(p)
    _settle_by_mass(p)
    add_connection_arguments(p)
    _output(p, progress=True)

    p = command("status", "print a mass-convert job's status", "commands:cmd_status")
    p.add_argument("module", help="Quotes, Sales_Orders or Leads (any case)")
    p.add_argument(
        "job_id",
        help="a mass convert's job id (a report's `still running` line, or its jobs in --json)",
    )
    p.add_argument("--wait", action="store_true", help="wait until the job finishes")
    p.add_argument(
        "--timeout", type=_seconds, default=600.0, help="seconds --wait waits at most (600)"
    )
    _poll_interval(p)
    add_connection_arguments(p)
    _output(p)

    p = command("resume", "continue an interrupted run from its journal", "commands:cmd_resume")
    p.description = RESUME_HELP
    p.add_argument("--journal", metavar="PATH", required=True, help="the run's journal")
    p.add_argument(
        "--ids-file",
        metavar="PATH",
        help="the interrupted run's input again (- for standard input), when it was not all read",
    )
    p.add_argument("--column", help="the CSV column, as given to convert")
    _failed_ids(p)
    _poll_interval(p)
    _settle_by_mass(p)
    add_connection_arguments(p)
    _output(p, progress=True)

    p = command("convert-lead", "convert one lead into a contact, account and deal",
                "commands:cmd_convert_lead")
    p.add_argument("lead_id")
    p.add_argument(
        "--options-file",
        metavar="PATH",
        help="Convert Lead options: Zoho's Convert Lead input JSON; - reads stdin",
    )
    add_connection_arguments(p)
    _output(p)

    p = command("convert-record", "convert one Quote or Sales Order now",
                "commands:cmd_convert_record")
    p.add_argument("module", help="Quotes or Sales_Orders")
    p.add_argument("record_id")
    p.add_argument("--to", required=True, help="Sales_Orders or Invoices")
    add_connection_arguments(p)
    _output(p)

    auth = sub.add_parser(
        "auth", help="check credentials", description="check credentials", epilog=_SUB_FOOTER
    )
    auth_sub = auth.add_subparsers(dest="auth_command", required=True, metavar="COMMAND")
    p = command(
        "check",
        "refresh a token and call the Modules API once: do the credentials work, and where?",
        "auth_check:cmd_auth_check",
        auth_sub,
    )
    add_connection_arguments(p)
    _output(p)

    fleet = sub.add_parser(
        "fleet",
        help="look at a fleet of processes sharing one org through Redis",
        description="look at a fleet of processes sharing one org through Redis",
        epilog=_SUB_FOOTER,
    )
    fleet_sub = fleet.add_subparsers(dest="fleet_command", required=True, metavar="COMMAND")
    p = command(
        "status",
        "slots in use and by whom, token expiry (never the token), ledger size, last credits",
        "fleet:cmd_fleet_status",
        fleet_sub,
    )
    add_fleet_arguments(p, token_file=False)
    _output(p)

    p = command("simulate", "run the Zoho simulator on 127.0.0.1 until Ctrl-C",
                "demo:cmd_simulate")
    simulator_cli.add_arguments(p)
    p.description = (
        "Run the Zoho simulator on 127.0.0.1 until Ctrl-C. It prints its URL and access token; "
        "its OAuth token endpoint (URL/oauth/v2/token) accepts client id "
        f"{p.get_default('client_id')!r}, client secret {p.get_default('client_secret')!r} "
        f"and refresh token {p.get_default('refresh_token')!r} unless --client-id, "
        "--client-secret and --refresh-token say otherwise."
    )
    p.set_defaults(quiet=True, verbose=False, json=False)

    p = command("completion", "print a shell completion script (bash or zsh)",
                "completion:cmd_completion")
    p.add_argument("shell", choices=("bash", "zsh"))
    p.set_defaults(quiet=True, verbose=False, json=False)
    return parser
