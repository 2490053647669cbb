"""A convert_many run with a journal, as its own process, for the crash-and-resume tests.

Usage: python _run_convert.py URL TOKEN JOURNAL IDS_FILE [--batch-size N] [--concurrency N]
       [--max-pending-jobs N]

Reads the ids lazily from IDS_FILE (one per line), converts Quotes to Sales_Orders against the
simulator at URL and prints the report as JSON when it finishes (the tests kill it before).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterator

from zoho_convert import PollPolicy, StaticToken, ZohoConvertClient


def _ids(path: str) -> Iterator[str]:
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield line.strip()


async def _main(ns: argparse.Namespace) -> None:
    async with ZohoConvertClient(StaticToken(ns.token), api_domain=ns.url) as client:
        report = await client.convert_many(
            "Quotes",
            _ids(ns.ids_file),
            to="Sales_Orders",
            batch_size=ns.batch_size,
            concurrency=ns.concurrency,
            max_pending_jobs=ns.max_pending_jobs,
            poll=PollPolicy(initial=0.05, max_interval=0.2, timeout=60.0),
            journal=ns.journal,
        )
    print(report.to_json(), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("journal")
    parser.add_argument("ids_file")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--max-pending-jobs", type=int, default=None)
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
