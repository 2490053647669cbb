"""Run one parsed command: the event loop, SIGTERM, and the exit code of every outcome.

Each failure is one line on stderr, never a traceback. Ctrl-C (SIGINT) and SIGTERM stop a run
the same way: in-flight requests are cancelled, the journal's last write completes, the report
so far is printed, and the resume command is shown; the exit code is 130 or 143.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import shlex
import signal
import sys
from collections.abc import Mapping

from zoho_convert import (
    AuthenticationError,
    JournalInUseError,
    PermissionDeniedError,
    ZohoConvertError,
)
from zoho_convert.cli.errors import (
    EXIT_AUTH,
    EXIT_FAILURES,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    InputError,
    Terminated,
    UsageError,
)

__all__ = ["resume_hint", "run"]


def _error(text: str) -> None:
    print(f"zoho-convert: {text}", file=sys.stderr)


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Run the command ``args`` names; return its exit code."""
    try:
        return asyncio.run(_run_command(args, env))
    except UsageError as error:
        _error(f"error: {error}")
        return EXIT_USAGE
    except (ValueError, TypeError, JournalInUseError) as error:
        # Local checks raise these before anything is sent: bad input (or a journal another
        # process is running), not a failed run.
        _error(f"error: {error}")
        return EXIT_USAGE
    except InputError as error:
        # The ids source broke after part of it was converted: the run stopped early.
        _error(f"error: {error}")
        return EXIT_FAILURES
    except (AuthenticationError, PermissionDeniedError) as error:
        _error(str(error))
        return EXIT_AUTH
    except ZohoConvertError as error:
        _error(str(error))
        return EXIT_FAILURES
    except OSError as error:
        # A journal that cannot be written, a broken pipe, ...: one line, no traceback.
        _error(f"error: {error}")
        return EXIT_FAILURES
    except KeyboardInterrupt:
        _error(f"interrupted{resume_hint(args)}")
        return EXIT_INTERRUPTED
    except Terminated:
        _error(f"terminated{resume_hint(args)}")
        return EXIT_TERMINATED


async def _run_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Await the command's handler; SIGTERM cancels it as Ctrl-C does."""
    module_name, _, function = args.handler.partition(":")
    handler = getattr(importlib.import_module(f"zoho_convert.cli.{module_name}"), function)
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    terminated = False

    def on_sigterm() -> None:
        nonlocal terminated
        if not terminated and task is not None:  # a second SIGTERM must not cut the cleanup
            terminated = True
            task.cancel()

    installed = False
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
        installed = True
    try:
        code: int = await handler(args, env)
        return code
    except asyncio.CancelledError:
        if terminated:
            raise Terminated() from None
        raise
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGTERM)


def resume_hint(args: argparse.Namespace) -> str:
    """How to continue an interrupted run, as a shell command."""
    if args.command not in ("convert", "resume") or getattr(args, "dry_run", False):
        return ""
    journal = getattr(args, "journal", None)
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
