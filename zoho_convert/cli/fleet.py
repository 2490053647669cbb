"""The CLI's fleet parts: ``--fleet`` (processes sharing one org through Redis), ``--token-file``
(the runs of one machine sharing one access token) and ``zoho-convert fleet status``.

A command that talks to Zoho joins the fleet for its run (``new_fleet``, started by
``clients.open_client``): the org's request limit, the access token, the conversion ledger
and the credits seen are then shared with every process using the same Redis and namespace.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from zoho_convert import EnvSettings, RefreshTokenAuth
from zoho_convert.cli.errors import EXIT_OK, UsageError
from zoho_convert.fleet import FileTokenStore, FleetStatus

if TYPE_CHECKING:
    from zoho_convert.fleet import RedisFleet

__all__ = [
    "FLEET_VARIABLES",
    "add_fleet_arguments",
    "cmd_fleet_status",
    "new_fleet",
    "status_lines",
    "token_store",
]

#: The variables the fleet flags override: flag dest -> variable.
FLEET_VARIABLES = {"fleet": "ZOHO_FLEET_URL", "fleet_namespace": "ZOHO_FLEET_NAMESPACE"}
DEFAULT_NAMESPACE = "zoho_convert"
_SCHEMES = ("redis", "rediss", "unix")


def add_fleet_arguments(parser: argparse.ArgumentParser, *, token_file: bool = True) -> None:
    """``--fleet`` and ``--fleet-namespace`` (and, for commands that talk to Zoho,
    ``--token-file``)."""
    group = parser.add_argument_group("fleet: processes sharing one Zoho org")
    group.add_argument(
        "--fleet",
        metavar="REDIS_URL",
        help="share the org's request limit (--concurrency is then org-wide), access token, "
        "ledger of converted ids and API credits with every process using this Redis "
        "(env ZOHO_FLEET_URL)",
    )
    group.add_argument(
        "--fleet-namespace",
        metavar="NAME",
        help=f"the fleet's key prefix in Redis (env ZOHO_FLEET_NAMESPACE; "
        f"default {DEFAULT_NAMESPACE})",
    )
    if token_file:
        group.add_argument(
            "--token-file",
            metavar="PATH",
            help="keep the access token in this file (mode 0600), so later runs and cron "
            "jobs on this machine reuse it instead of minting one each (refresh-token flow)",
        )


def _setting(args: argparse.Namespace, env: Mapping[str, str], dest: str) -> str | None:
    value = getattr(args, dest, None) or env.get(FLEET_VARIABLES[dest], "").strip()
    return value or None


def _where(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[str, str] | None:
    """The fleet's Redis URL and namespace, or None without a fleet.

    Raises:
        UsageError: the URL is not a Redis URL (it is never echoed: it may hold a password).
    """
    url = _setting(args, env, "fleet")
    if url is None:
        return None
    flag = "--fleet" if getattr(args, "fleet", None) else "ZOHO_FLEET_URL"
    try:
        scheme = urlsplit(url).scheme
    except ValueError:
        scheme = ""
    if scheme not in _SCHEMES:
        raise UsageError(
            f"{flag} takes a Redis URL: redis://[[user]:password@]host[:port][/db], "
            "rediss://… or unix://…"
        )
    return url, _setting(args, env, "fleet_namespace") or DEFAULT_NAMESPACE


def new_fleet(
    args: argparse.Namespace, env: Mapping[str, str], *, max_concurrency: int = 10
) -> RedisFleet | None:
    """The fleet ``--fleet``/``ZOHO_FLEET_URL`` names (not started), or None.

    Raises:
        UsageError: not a Redis URL, or redis-py is not installed.
    """
    where = _where(args, env)
    if where is None:
        return None
    try:
        from zoho_convert.fleet import RedisFleet  # noqa: PLC0415 - needs the redis extra
    except ImportError as error:
        raise UsageError(f"--fleet: {error}") from None
    url, namespace = where
    try:
        return RedisFleet(url, namespace=namespace, max_concurrency=max_concurrency)
    except ValueError as error:
        raise UsageError(f"--fleet: {error}") from None


def token_store(
    args: argparse.Namespace, settings: EnvSettings, *, in_fleet: bool
) -> FileTokenStore | None:
    """The ``FileTokenStore`` of ``--token-file``, or None.

    Raises:
        UsageError: with ``--fleet`` (the fleet shares the token already), with an access
            token (nothing to refresh), or a path the file cannot be created at.
    """
    path = getattr(args, "token_file", None)
    if not path:
        return None
    if in_fleet:
        raise UsageError(
            "--token-file and --fleet both keep the access token: the fleet shares it with "
            "every process already; drop --token-file"
        )
    if not isinstance(settings.auth, RefreshTokenAuth):
        raise UsageError(
            "--token-file keeps the tokens the refresh-token flow mints (ZOHO_CLIENT_ID, "
            "ZOHO_CLIENT_SECRET, ZOHO_REFRESH_TOKEN); an access token is used as given"
        )
    if os.path.isdir(path):
        raise UsageError(f"--token-file {path} is a folder")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"cannot keep the token in {path}: no folder {folder}")
    return FileTokenStore(path)


# -- zoho-convert fleet status ----------------------------------------------------------------


async def cmd_fleet_status(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """``zoho-convert fleet status``: slots in use and by whom, token expiry (never the
    token), ledger size, last credits seen. Reads only: it does not join the fleet."""
    fleet = new_fleet(args, env)
    if fleet is None:
        raise UsageError(
            "fleet status needs the fleet's Redis: --fleet redis://HOST:PORT/DB "
            "(or ZOHO_FLEET_URL)"
        )
    try:
        status = await fleet.status()
    finally:
        await fleet.close()
    if args.json:
        sys.stdout.write(json.dumps(status.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write("".join(line + "\n" for line in status_lines(status, time.time())))
    return EXIT_OK


def _seconds(value: float) -> str:
    value = abs(value)
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.0f} min"
    return f"{value / 3600:.1f} h"


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def status_lines(status: FleetStatus, now: float) -> Iterator[str]:
    """The text of ``fleet status``: one fact per line, holders indented under their limit."""
    state = " (this process lost Redis)" if status.degraded else ""
    yield f"fleet {status.namespace} at {status.redis}{state}"
    for name, slots in status.slots.items():
        limit = "?" if slots.limit is None else f"{slots.limit:,}"
        yield f"{name} slots: {slots.in_use:,} of {limit} in use, {slots.waiting:,} waiting"
        for holder in slots.holders:
            yield f"  {holder.holder}  lease {holder.lease_left:.1f} s  process {holder.process}"
    if status.token_expires_at is None:
        yield "token: none stored (the next request mints one)"
    else:
        left = status.token_expires_at - now
        when = f"expires in {_seconds(left)}" if left > 0 else f"expired {_seconds(left)} ago"
        domain = f"; API domain {status.api_domain}" if status.api_domain else ""
        yield f"token: {when} ({_utc(status.token_expires_at)}){domain}"
    modules = ", ".join(f"{module} {count:,}" for module, count in status.ledger.items())
    yield f"ledger: {status.ledger_size:,} converted ids" + (f" ({modules})" if modules else "")
    credits = status.credits
    if credits is None or credits.remaining is None:
        yield "credits: none seen (Zoho sends X-API-CREDITS-REMAINING once half are used)"
    else:
        of = f" of {credits.limit:,}" if credits.limit is not None else ""
        ago = f"{_seconds(now - credits.seen_at)} ago ({_utc(credits.seen_at)})"
        yield f"credits: {credits.remaining:,}{of} remaining, seen {ago}"
