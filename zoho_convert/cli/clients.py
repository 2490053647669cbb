"""The client and the display a command works with, from its flags and the environment."""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from zoho_convert import (
    EnvSettings,
    ModuleRef,
    RefreshTokenAuth,
    ZohoConvertClient,
    normalize_id,
)
from zoho_convert.cli.errors import UsageError
from zoho_convert.cli.fleet import new_fleet, token_store
from zoho_convert.cli.progress import ProgressDisplay, resolve_mode
from zoho_convert.cli.settings import connection
from zoho_convert.fleet import Fleet

__all__ = ["display_for", "make_client", "open_client", "related_modules", "resolve_related"]


def display_for(args: argparse.Namespace, expected_total: int | None = None) -> ProgressDisplay:
    """The progress display ``--progress``, ``--quiet`` and stderr call for."""
    mode = resolve_mode(args.progress, sys.stderr, quiet=args.quiet)
    return ProgressDisplay(
        mode, expected_total=expected_total, interval=args.progress_interval
    )


def make_client(
    args: argparse.Namespace,
    env: Mapping[str, str],
    *,
    settings: EnvSettings | None = None,
    fleet: Fleet | None = None,
    **extra: Any,
) -> ZohoConvertClient:
    """The client the flags and the environment (or ``settings`` read from them) describe,
    in ``fleet`` when given, keeping its token in ``--token-file`` when given.

    Raises:
        UsageError: missing credentials or a setting the client refuses.
    """
    settings = settings if settings is not None else connection(args, env)
    store = token_store(args, settings, in_fleet=fleet is not None)
    if store is not None:
        assert isinstance(settings.auth, RefreshTokenAuth)  # token_store checked it
        settings.auth.share_tokens(store)
    try:
        return ZohoConvertClient(
            **settings.client_kwargs(),
            api_version=args.api_version,
            allow_insecure_http=args.allow_insecure_http,
            fleet=fleet,
            **extra,
        )
    except ValueError as error:
        # The library speaks to Python callers; name the flag a CLI user would pass.
        raise UsageError(
            str(error).replace("pass allow_insecure_http=True", "pass --allow-insecure-http")
        ) from None


@asynccontextmanager
async def open_client(
    args: argparse.Namespace,
    env: Mapping[str, str],
    *,
    settings: EnvSettings | None = None,
    **extra: Any,
) -> AsyncIterator[ZohoConvertClient]:
    """``make_client``'s client, open; with ``--fleet`` (or ``ZOHO_FLEET_URL``), in that fleet,
    joined once every local check passed and left when the client is closed.

    Raises:
        UsageError: as ``make_client``; a fleet URL that is not a Redis URL.
        FleetUnavailableError: the fleet's Redis cannot be reached.
    """
    fleet = new_fleet(args, env, max_concurrency=extra.get("max_concurrency", 10))
    client = make_client(args, env, settings=settings, fleet=fleet, **extra)
    if fleet is None:
        async with client:
            yield client
        return
    await fleet.start()
    try:
        async with client:
            yield client
    finally:
        await fleet.close()


def related_modules(values: Iterable[str]) -> list[tuple[str, str | None]]:
    """``--related`` values as ``(module, id or None)``: ``Calls`` or ``Calls:4150868000000225``.

    Raises:
        UsageError: an empty module name or an invalid id.
    """
    refs: list[tuple[str, str | None]] = []
    for value in values:
        name, sep, module_id = value.partition(":")
        name = name.strip()
        if not name:
            raise UsageError(f"--related takes MODULE or MODULE:ID, got {value!r}")
        if not sep:
            refs.append((name, None))
            continue
        try:
            refs.append((name, normalize_id(module_id.strip(), what="module id")))
        except (TypeError, ValueError) as error:
            raise UsageError(f"--related {value}: {error}") from None
    return refs


async def resolve_related(
    client: ZohoConvertClient, refs: Iterable[tuple[str, str | None]]
) -> tuple[ModuleRef, ...]:
    """``ModuleRef`` for each ``--related`` value, looking up the ids not given (cached)."""
    resolved = []
    for name, given in refs:
        module_id = given if given is not None else await client.module_id(name)
        resolved.append(ModuleRef(api_name=name, id=module_id))
    return tuple(resolved)
