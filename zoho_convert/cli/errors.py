"""The CLI's exit codes and the exceptions that choose them."""

from __future__ import annotations

__all__ = [
    "EXIT_AUTH",
    "EXIT_FAILURES",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "InputError",
    "Terminated",
    "UsageError",
]

EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM


class UsageError(Exception):
    """Bad input from the command line: exit code 2, with a one-line message."""


class InputError(Exception):
    """The ids source broke after the run had started (exit code 1: part of it was sent)."""


class Terminated(Exception):
    """The process got SIGTERM and stopped the way Ctrl-C stops it (exit code 143)."""
