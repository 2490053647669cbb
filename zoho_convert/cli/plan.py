"""``convert --dry-run``: check everything, show the plan and its cost, convert nothing.

The input is read to its end and checked id by id, the modules are resolved through the
Modules API (read-only calls, which also prove the credentials work), and the batches, the
requests and the API credits the run would take are printed. No conversion is sent.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import AsyncIterable, Iterable, Mapping
from typing import Any

from zoho_convert import normalize_id
from zoho_convert.cli.clients import open_client, resolve_related
from zoho_convert.cli.errors import EXIT_OK
from zoho_convert.cli.inputs import open_id_source

__all__ = ["IdCount", "count_ids", "dry_run", "plan"]

_SAMPLES = 5  # invalid ids shown


class IdCount:
    """Ids of an input: distinct valid ones, invalid ones (a few shown), repeats."""

    def __init__(self) -> None:
        self.valid = 0
        self.invalid = 0
        self.duplicates = 0
        self.samples: list[tuple[str, str]] = []
        self._seen: set[int] = set()

    def add(self, value: str) -> None:
        """Count one id as read."""
        try:
            key = int(normalize_id(value))
        except (TypeError, ValueError) as problem:
            self.invalid += 1
            if len(self.samples) < _SAMPLES:
                self.samples.append((value, str(problem)))
            return
        if key in self._seen:
            self.duplicates += 1
            return
        self._seen.add(key)
        self.valid += 1


async def count_ids(ids: Iterable[str] | AsyncIterable[str]) -> IdCount:
    """Read ``ids`` to the end and count them."""
    counted = IdCount()
    if isinstance(ids, AsyncIterable):
        async for value in ids:
            counted.add(value)
    else:
        for value in ids:
            counted.add(value)
    return counted


def plan(
    counted: IdCount, *, batch_size: int, concurrency: int, lookups: int
) -> dict[str, Any]:
    """The batches, requests and credits of a run over ``counted``.

    Each batch is one submission and at least one status poll (the adaptive first poll aims
    at exactly one); Zoho charges most calls one API credit and does not list mass convert
    apart, so one credit per call is assumed.
    """
    batches = math.ceil(counted.valid / batch_size)
    last = counted.valid - (batches - 1) * batch_size if batches else 0
    requests = 2 * batches + lookups
    return {
        "batches": batches,
        "batch_size": batch_size,
        "last_batch": last,
        "concurrency": concurrency,
        "submissions": batches,
        "polls_at_least": batches,
        "module_lookups": lookups,
        "requests_about": requests,
        "credits_about": requests,
    }


async def dry_run(
    args: argparse.Namespace,
    env: Mapping[str, str],
    module: str,
    to: str | None,
    related: Iterable[tuple[str, str | None]],
) -> int:
    """Check the input and the modules of a ``convert``; print its plan."""
    ids = await open_id_source(args.ids_file, args.column)
    counted = await count_ids(ids)
    concurrency = args.concurrency or 10
    async with open_client(args, env, max_concurrency=concurrency) as client:
        modules = {}
        if to is not None:
            modules[to] = await client.module_id(to)
        for ref in await resolve_related(client, related):
            modules[ref.api_name] = ref.id
        lookups = client.request_count
    shape = plan(counted, batch_size=args.batch_size, concurrency=concurrency, lookups=lookups)
    source = "standard input" if args.ids_file == "-" else args.ids_file
    result = {
        "dry_run": True,
        "module": module,
        "to": to,
        "ids_file": source,
        "ids": {
            "to_convert": counted.valid,
            "invalid": counted.invalid,
            "duplicates": counted.duplicates,
            "invalid_examples": [
                {"id": value, "problem": problem} for value, problem in counted.samples
            ],
        },
        "module_ids": modules,
        "plan": shape,
    }
    if args.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return EXIT_OK
    target = f" → {to}" if to else ""
    lines = [
        f"dry run of {module}{target}: nothing was converted",
        f"input {source}: {counted.valid:,} ids to convert, {counted.invalid:,} invalid, "
        f"{counted.duplicates:,} duplicates",
    ]
    lines += [f"  invalid {value}: {problem}" for value, problem in counted.samples]
    if modules:
        found = ", ".join(f"{name} {module_id}" for name, module_id in modules.items())
        lines.append(f"module ids (from the Modules API): {found}")
    lines.append(
        f"plan: {shape['batches']:,} batches of up to {shape['batch_size']} ids (the last of "
        f"{shape['last_batch']:,}), {concurrency} requests in flight at most"
    )
    lines.append(
        f"cost: about {shape['requests_about']:,} requests ({shape['submissions']:,} "
        f"submissions, at least {shape['polls_at_least']:,} status polls, "
        f"{lookups} module {'lookup' if lookups == 1 else 'lookups'} made now) "
        f"and about {shape['credits_about']:,} API credits (1 per call)"
    )
    sys.stdout.write("".join(line + "\n" for line in lines))
    return EXIT_OK
