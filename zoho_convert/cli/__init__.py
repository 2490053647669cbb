"""The ``zoho-convert`` command line (also ``python -m zoho_convert``).

It needs no third-party package beyond the library's (``--fleet`` needs the ``redis`` extra).

May import: the public surface (``zoho_convert``), ``zoho_convert.fleet`` and
``zoho_convert.simulator``; nothing else of the library. Nothing imports the CLI but
``python -m zoho_convert`` and the ``zoho-convert`` entry point. The parts:

- ``parser``: the commands and their flags (argparse); ``completion``: bash/zsh scripts of it;
- ``runner``: the event loop, SIGTERM, and the exit code of every outcome (``errors``);
- ``settings``: credentials and location from flags and ``ZOHO_*`` variables;
- ``inputs``: ids from a file, a CSV column or stdin; ``modules``: module names;
- ``commands``, ``plan`` (``--dry-run``), ``auth_check``, ``demo``: the commands;
- ``fleet``: ``--fleet`` (``zoho_convert.fleet.RedisFleet``), ``--token-file`` and
  ``fleet status``;
- ``progress`` (the bar and progress lines) and ``output`` (the report, ``--failed-ids``).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]


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
    from zoho_convert.cli.parser import build_parser  # noqa: PLC0415 (keeps import cheap)
    from zoho_convert.cli.runner import run  # noqa: PLC0415

    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    return run(args, os.environ)
