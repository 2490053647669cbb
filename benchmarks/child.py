"""The client side of one benchmark run, in its own process so its CPU and RSS are its own.

``python -m benchmarks.child zc|sdk --url URL --n N --result FILE [...]`` converts N quotes
to sales orders against the simulator at URL and writes one JSON object to FILE: wall time
and CPU seconds of the run itself, peak RSS of the process, and what the client reported.

- ``zc``: ``ZohoConvertClient.convert_many`` over a generator of N ids (never a list).
- ``sdk``: the official ``zohocrmsdk8-0`` used the way its users do today: a pool of C
  threads, each taking the next batch of 50, submitting it and polling its job every second
  until it is COMPLETED or FAILED.
"""

# Imports are lazy on purpose: each client process loads only its own library, so its RSS
# and start-up are its own.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections.abc import Iterator
from typing import Any

#: Ids start here: 19 digits, like Zoho's, and well away from the simulator's own ids.
ID_BASE = 1_000_000_000_000_000_000


def id_stream(n: int) -> Iterator[str]:
    """N distinct numeric ids, produced lazily."""
    base = ID_BASE
    for i in range(n):
        yield str(base + i)


def current_rss_mb() -> float:
    """Resident set size right now (Linux /proc), in MB."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError):
        return float("nan")


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (10**6 bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is in KiB on Linux, in bytes on macOS.
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6


def _usage() -> tuple[float, float]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime, ru.ru_stime


# -- zoho_convert -----------------------------------------------------------------------------


def run_zc(args: argparse.Namespace) -> dict[str, Any]:
    """Convert N ids with ``convert_many``; measure the run."""
    import asyncio
    import contextlib

    import aiohttp

    from zoho_convert import (
        PollPolicy,
        RefreshTokenAuth,
        RetryPolicy,
        StaticToken,
        ZohoConvertClient,
    )

    rss_base = current_rss_mb()
    if args.refresh:
        auth: Any = RefreshTokenAuth(
            args.client_id, args.client_secret, args.refresh_token, accounts_url=args.url
        )
    else:
        auth = StaticToken(args.token)
    poll = PollPolicy() if args.poll_initial is None else PollPolicy(initial=args.poll_initial)
    recorder = None
    if args.timeline:
        from benchmarks.timeline import Recorder

        recorder = Recorder()

    async def main() -> dict[str, Any]:
        if recorder is None:
            return await convert(None)
        # The client's own connector settings, plus the tracing hooks (closed here: the client
        # never closes a session it did not create).
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=args.concurrency + 2),
            trace_configs=[recorder.trace_config()],
        ) as session:
            return await convert(session)

    async def convert(session: Any) -> dict[str, Any]:
        retry = None if args.retry_initial is None else RetryPolicy(initial=args.retry_initial)
        async with ZohoConvertClient(
            auth, api_domain=args.url, max_concurrency=args.concurrency, session=session,
            retry=retry,
        ) as client:
            ids = id_stream(args.n)
            progress = recorder.progress if recorder is not None else None
            tap = recorder.logging() if recorder is not None else contextlib.nullcontext()
            u0, s0 = _usage()
            c0 = time.process_time()
            t0 = time.perf_counter()
            with tap:
                if recorder is not None:
                    recorder.start()
                report = await client.convert_many(
                    "Quotes", ids, to="Sales_Orders", poll=poll, progress=progress
                )
                if recorder is not None:
                    recorder.stop()
            wall = time.perf_counter() - t0
            cpu = time.process_time() - c0
            u1, s1 = _usage()
            return {
                "wall_s": wall,
                "cpu_s": cpu,
                "cpu_user_s": u1 - u0,
                "cpu_sys_s": s1 - s0,
                "report": {
                    "ok": report.ok,
                    "accounted_for": report.accounted_for,
                    "total": report.total,
                    "converted": report.converted,
                    "failed": report.failed,
                    "not_converted": report.not_converted,
                    "rejected": len(report.rejected),
                    "uncertain": len(report.uncertain),
                    "unfinished": len(report.unfinished),
                    "duplicates": report.duplicates,
                    "jobs": len(report.jobs),
                    "requests": report.requests,
                    "elapsed": report.elapsed,
                    "rejected_codes": sorted({r.code for r in report.rejected}),
                    # Ids only where someone must act: few, so the parent can check them.
                    "uncertain_ids": list(report.uncertain[:10_000]),
                    "rejected_ids": [r.id for r in report.rejected[:10_000]],
                },
            }

    result = asyncio.run(main())
    if recorder is not None:
        with open(args.timeline, "w") as f:
            json.dump(recorder.to_json(), f)
    result["rss_base_mb"] = rss_base
    result["rss_peak_mb"] = peak_rss_mb()
    return result


# -- the official SDK -------------------------------------------------------------------------


def _module_id(url: str, token: str, api_name: str) -> int:
    """Look the target module's id up once (SDK users keep it in their configuration)."""
    import urllib.request

    request = urllib.request.Request(
        f"{url}/crm/v8/settings/modules/{api_name}",
        headers={"Authorization": f"Zoho-oauthtoken {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return int(json.load(reply)["modules"][0]["id"])


def run_sdk(args: argparse.Namespace) -> dict[str, Any]:
    """Convert N ids with the official SDK: C threads, each submit-then-poll-every-second."""
    import tempfile
    import threading

    from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken
    from zohocrmsdk.src.com.zoho.api.authenticator.store.file_store import FileStore
    from zohocrmsdk.src.com.zoho.crm.api import ParameterMap
    from zohocrmsdk.src.com.zoho.crm.api.dc import DataCenter
    from zohocrmsdk.src.com.zoho.crm.api.initializer import Initializer
    from zohocrmsdk.src.com.zoho.crm.api.inventory_mass_convert import (
        BodyWrapper,
        ConvertTo,
        InventoryMassConvertOperations,
        Module,
        SuccessResponse,
    )
    from zohocrmsdk.src.com.zoho.crm.api.inventory_mass_convert.inventory_mass_convert_operations import (  # noqa: E501
        GetScheduledJobsDetailsParam,
    )

    rss_base = current_rss_mb()
    url = args.url
    workdir = tempfile.mkdtemp(prefix="zc-bench-sdk-")
    environment = DataCenter.Environment(url, f"{url}/oauth/v2/token", url)
    # One Initializer for the process: the SDK keeps it in a class attribute that every
    # thread falls back to (Initializer.LOCAL only matters after switch_user), so the C
    # worker threads share it as SDK users' thread pools do.
    Initializer.initialize(
        environment=environment,
        token=OAuthToken(access_token=args.token, find_user=False),
        store=FileStore(os.path.join(workdir, "tokens.csv")),
        resource_path=workdir,  # the SDK's default logger: nothing is written
    )
    target_id = _module_id(url, args.token, "Sales_Orders")

    lock = threading.Lock()
    batches = _batches(id_stream(args.n), 50)
    totals = {"converted": 0, "failed": 0, "not_converted": 0, "jobs": 0, "submit_errors": 0,
              "poll_errors": 0, "lost_batches": 0, "calls": 0}
    poll_interval = args.sdk_poll_interval

    def submit(ops: Any, ids: list[int]) -> int | None:
        body = BodyWrapper()
        convert_to = ConvertTo()
        module = Module()
        module.set_api_name("Sales_Orders")
        module.set_id(target_id)
        convert_to.set_module(module)
        convert_to.set_carry_over_tags(True)
        body.set_convert_to([convert_to])
        body.set_ids(ids)
        # The SDK has no retry: users wrap it in a small loop of their own.
        for _attempt in range(5):
            response = ops.mass_inventory_convert(body)
            with lock:
                totals["calls"] += 1
            obj = response.get_object() if response is not None else None
            if isinstance(obj, SuccessResponse):
                return int(obj.get_details()["job_id"])
            with lock:
                totals["submit_errors"] += 1
            time.sleep(1.0)
        return None

    def poll(ops: Any, job_id: int) -> Any:
        while True:
            time.sleep(poll_interval)
            params = ParameterMap()
            params.add(GetScheduledJobsDetailsParam.job_id, job_id)
            response = ops.get_scheduled_jobs_details(params)
            with lock:
                totals["calls"] += 1
            obj = response.get_object() if response is not None else None
            data = getattr(obj, "get_data", None)
            if data is None:
                with lock:
                    totals["poll_errors"] += 1
                continue
            status = data()[0]
            if str(status.get_status()) in ("COMPLETED", "FAILED"):
                return status

    def worker() -> None:
        ops = InventoryMassConvertOperations("Quotes")
        while True:
            with lock:
                batch = next(batches, None)
            if batch is None:
                return
            job_id = submit(ops, batch)
            if job_id is None:
                with lock:
                    totals["lost_batches"] += 1
                continue
            status = poll(ops, job_id)
            with lock:
                totals["jobs"] += 1
                totals["converted"] += int(status.get_converted_count() or 0)
                totals["failed"] += int(status.get_failed_count() or 0)
                totals["not_converted"] += int(status.get_not_converted_count() or 0)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.concurrency)]
    u0, s0 = _usage()
    c0 = time.process_time()
    t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    u1, s1 = _usage()
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu_user_s": u1 - u0,
        "cpu_sys_s": s1 - s0,
        "rss_base_mb": rss_base,
        "rss_peak_mb": peak_rss_mb(),
        "report": {
            "ok": totals["converted"] == args.n,
            "accounted_for": totals["lost_batches"] == 0,
            "total": args.n,
            "converted": totals["converted"],
            "failed": totals["failed"],
            "not_converted": totals["not_converted"],
            "jobs": totals["jobs"],
            "requests": totals["calls"],
            "submit_errors": totals["submit_errors"],
            "poll_errors": totals["poll_errors"],
            "lost_batches": totals["lost_batches"],
        },
    }


def _batches(ids: Iterator[str], size: int) -> Iterator[list[int]]:
    batch: list[int] = []
    for value in ids:
        batch.append(int(value))  # the SDK sends ids as JSON numbers
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run one client, write its JSON result."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.child")
    parser.add_argument("client", choices=("zc", "sdk"))
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", default="")
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--poll-initial", type=float, default=None)
    parser.add_argument("--sdk-poll-interval", type=float, default=1.0)
    parser.add_argument("--retry-initial", type=float, default=None,
                        help="zc: RetryPolicy.initial (default: the library's)")
    parser.add_argument("--refresh", action="store_true", help="zc: use RefreshTokenAuth")
    parser.add_argument("--client-id", default="")
    parser.add_argument("--client-secret", default="")
    parser.add_argument("--refresh-token", default="")
    parser.add_argument("--result", required=True)
    parser.add_argument("--timeline", default=None,
                        help="zc: record every request, event and retry sleep to this JSON file")
    args = parser.parse_args(argv)
    result = run_zc(args) if args.client == "zc" else run_sdk(args)
    result["client"] = args.client
    result["n"] = args.n
    with open(args.result, "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
