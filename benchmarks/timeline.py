"""A timeline of one client run: every HTTP request, progress event and retry sleep, timed.

Where does a run's time go when it is slower than its fault-free twin? The recorder watches
the client from the outside, without touching ``zoho_convert``:

- every HTTP request, from an ``aiohttp.TraceConfig`` on the session handed to the client
  (start, end, method, what it was: submit, poll, token, module lookup; its status);
- every progress event of ``convert_many`` (a batch queued, submitted, parked as uncertain,
  its job finished...);
- every retry sleep the transport schedules and every token refresh, from the library's own
  log records (the transport's logger at DEBUG, auth's at INFO; both package layouts).

``analyze`` turns a recording into what a reader needs: requests in flight over time (as an
occupancy profile of the C request slots), how the wall time splits between "slots busy",
"waiting for running jobs", "retry sleeps only" and "parked batches waiting to be settled",
and the history of the batch whose job finished last (the critical path's tail).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import aiohttp

SAMPLE = 0.005  # seconds between occupancy samples


def request_kind(method: str, path: str) -> str:
    """What an HTTP request was, from its method and URL path."""
    if path.endswith("/oauth/v2/token"):
        return "token"
    if path.endswith("/actions/mass_convert"):
        return "submit" if method.upper() == "POST" else "poll"
    if "/settings/modules/" in path:
        return "module"
    return "other"


class _LogTap(logging.Handler):
    """Keeps the library's retry and refresh log records, timed."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(logging.DEBUG)
        self.recorder = recorder

    def emit(self, record: logging.LogRecord) -> None:
        rec = self.recorder
        t = rec.now()
        args = record.args if isinstance(record.args, tuple) else ()
        # http.py: "%s failed (%s); retry %d in %.2fs" (label, error, retry number, delay).
        if "retry" in record.msg and len(args) == 4:
            label, error, number, delay = args
            rec.retries.append({"t": t, "what": str(label), "error": str(error),
                                "retry": int(number), "delay": float(delay)})
        elif "refresh" in str(record.msg):
            rec.marks.append({"t": t, "mark": "refresh", "text": record.getMessage()})


class Recorder:
    """Records one run. Pass ``trace_config()`` to the session, ``progress`` to the run, and
    wrap the run in ``with recorder.logging():``.

    Args:
        clock: the clock (``time.perf_counter``); times are kept relative to ``start()``.
    """

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self.t0 = clock()
        self.requests: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.retries: list[dict[str, Any]] = []
        self.marks: list[dict[str, Any]] = []
        self.end: float | None = None

    def now(self) -> float:
        return self._clock() - self.t0

    def start(self) -> None:
        """Time zero: the call to ``convert_many``."""
        self.t0 = self._clock()

    def stop(self) -> None:
        """The run returned."""
        self.end = self.now()

    # -- HTTP ---------------------------------------------------------------------------------

    def trace_config(self) -> aiohttp.TraceConfig:
        """An ``aiohttp.TraceConfig`` that records every request of the session."""
        config = aiohttp.TraceConfig()

        async def on_start(_session: Any, ctx: SimpleNamespace, params: Any) -> None:
            ctx.record = {
                "start": self.now(), "end": None, "method": params.method,
                "kind": request_kind(params.method, params.url.path), "status": None,
            }
            self.requests.append(ctx.record)

        async def on_end(_session: Any, ctx: SimpleNamespace, params: Any) -> None:
            ctx.record["end"] = self.now()
            ctx.record["status"] = params.response.status

        async def on_error(_session: Any, ctx: SimpleNamespace, params: Any) -> None:
            ctx.record["end"] = self.now()
            ctx.record["status"] = type(params.exception).__name__

        config.on_request_start.append(on_start)
        config.on_request_end.append(on_end)
        config.on_request_exception.append(on_error)
        return config

    # -- progress events ----------------------------------------------------------------------

    def progress(self, event: Any) -> None:
        """The ``progress`` callable of ``convert_many``."""
        item: dict[str, Any] = {"t": self.now(), "event": type(event).__name__}
        for key in ("batch", "size", "job_id", "final", "reason", "count"):
            if hasattr(event, key):
                item[key] = getattr(event, key)
        status = getattr(event, "status", None)
        if status is not None:
            item["converted"] = status.converted_count
        self.events.append(item)

    # -- log records --------------------------------------------------------------------------

    def logging(self) -> _Tapped:
        """A context manager that taps the library's retry and refresh log records."""
        return _Tapped(self)

    def to_json(self) -> dict[str, Any]:
        return {"end": self.end, "requests": self.requests, "events": self.events,
                "retries": self.retries, "marks": self.marks}


class _Tapped:
    # The transport's and auth's loggers, before and after the package moved into api/.
    _NAMES = (
        ("zoho_convert.http", logging.DEBUG),
        ("zoho_convert.api.transport", logging.DEBUG),
        ("zoho_convert.auth", logging.INFO),
        ("zoho_convert.api.auth", logging.INFO),
    )

    def __init__(self, recorder: Recorder) -> None:
        self.handler = _LogTap(recorder)
        self.saved: list[tuple[logging.Logger, int, bool]] = []

    def __enter__(self) -> None:
        for name, level in self._NAMES:
            log = logging.getLogger(name)
            self.saved.append((log, log.level, log.propagate))
            log.setLevel(level)
            log.propagate = False
            log.addHandler(self.handler)

    def __exit__(self, *exc: object) -> None:
        for log, level, propagate in self.saved:
            log.removeHandler(self.handler)
            log.setLevel(level)
            log.propagate = propagate


# -- analysis -----------------------------------------------------------------------------------


def _intervals_of_batches(events: list[dict[str, Any]], end: float
                          ) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(jobs running, batches parked) as [start, end) intervals, from the progress events."""
    running: dict[str, float] = {}
    jobs: list[tuple[float, float]] = []
    parked_since: dict[int, float] = {}
    parked: list[tuple[float, float]] = []
    for ev in events:
        kind, t = ev["event"], ev["t"]
        if kind == "BatchSubmitted":
            running[ev["job_id"]] = t
            if ev["batch"] in parked_since:
                parked.append((parked_since.pop(ev["batch"]), t))
        elif kind in ("JobFinished", "JobUnfinished", "JobLost"):
            start = running.pop(ev["job_id"], None)
            if start is not None:
                jobs.append((start, t))
        elif kind == "BatchGaveUp" and ev["batch"] in parked_since:
            parked.append((parked_since.pop(ev["batch"]), t))
        elif kind == "BatchUncertain":
            if ev.get("final"):
                if ev["batch"] in parked_since:
                    parked.append((parked_since.pop(ev["batch"]), t))
            elif ev["batch"] not in parked_since:
                parked_since[ev["batch"]] = t
    jobs += [(s, end) for s in running.values()]
    parked += [(s, end) for s in parked_since.values()]
    return jobs, parked


def _count_at(intervals: list[tuple[float, float]], times: list[float]) -> list[int]:
    """How many intervals hold each sample time (a sweep: O((n + m) log n))."""
    edges = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    out, level, i = [], 0, 0
    for t in times:
        while i < len(edges) and edges[i][0] <= t:
            level += edges[i][1]
            i += 1
        out.append(level)
    return out


def analyze(data: dict[str, Any], concurrency: int) -> dict[str, Any]:
    """Where a recorded run's wall time went."""
    requests = [r for r in data["requests"] if r["end"] is not None]
    end = data["end"] or max((r["end"] for r in requests), default=0.0)
    steps = int(end / SAMPLE) + 1
    times = [i * SAMPLE for i in range(steps)]
    inflight = _count_at([(r["start"], r["end"]) for r in requests], times)
    sleeps = _count_at([(x["t"], x["t"] + x["delay"]) for x in data["retries"]], times)
    jobs, parked = _intervals_of_batches(data["events"], end)
    running = _count_at(jobs, times)
    waiting = _count_at(parked, times)

    states: Counter[str] = Counter()
    for n, s, j, p in zip(inflight, sleeps, running, waiting, strict=True):
        if n >= concurrency:
            states["all C slots busy"] += 1
        elif n > 0:
            states["some slots busy"] += 1
        elif s:
            states["nothing in flight: retry sleeps only"] += 1
        elif p and not j:
            states["nothing in flight: parked batches wait to be settled, no job running"] += 1
        elif j:
            states["nothing in flight: waiting for running jobs"] += 1
        else:
            states["nothing in flight, nothing pending"] += 1
    busy = sum(inflight) * SAMPLE
    by_kind: Counter[str] = Counter(r["kind"] for r in requests)
    by_status: Counter[str] = Counter(f"{r['kind']} {r['status']}" for r in requests
                                      if r["status"] != 200)
    retry_sleep = sum(x["delay"] for x in data["retries"])
    idle_during_sleeps = sum(
        max(concurrency - n, 0) * SAMPLE for n, s in zip(inflight, sleeps, strict=True) if s
    )
    finished = [e for e in data["events"] if e["event"] == "JobFinished"]
    last = max(finished, key=lambda e: e["t"]) if finished else None
    history = [e for e in data["events"] if last is not None and e.get("batch") == last["batch"]]
    first_parked = min((s for s, _ in parked), default=None)
    last_parked = max((s for s, _ in parked), default=None)
    main_done = max((e["t"] for e in finished if not _settling_batch(e, data["events"])),
                    default=None)
    return {
        "wall_s": end,
        "requests": dict(by_kind),
        "non_200": dict(by_status),
        "slot_seconds_used": busy,
        "slot_occupancy": busy / (concurrency * end) if end else None,
        "states_s": {k: v * SAMPLE for k, v in states.most_common()},
        "retries": len(data["retries"]),
        "retry_sleep_s": retry_sleep,
        "idle_slot_s_during_retry_sleeps": idle_during_sleeps,
        "token_refreshes": sum(1 for m in data["marks"] if "refreshing the Zoho" in m["text"]),
        "parked_batches": len(parked),
        "first_parked_at": first_parked,
        "last_parked_at": last_parked,
        "last_first_submission_job_done_at": main_done,
        "last_job": last,
        "last_job_history": history,
        "occupancy_100ms": _buckets(times, inflight, 0.1),
    }


def _settling_batch(event: dict[str, Any], events: list[dict[str, Any]]) -> bool:
    """Whether a JobFinished belongs to a batch that was parked before (a resubmission)."""
    return any(e["event"] == "BatchUncertain" and e["batch"] == event["batch"]
               and e["t"] <= event["t"] for e in events)


def _buckets(times: list[float], values: list[int], width: float) -> list[float]:
    out: list[float] = []
    per = max(round(width / SAMPLE), 1)
    for i in range(0, len(values), per):
        chunk = values[i:i + per]
        out.append(sum(chunk) / len(chunk))
    return out


def render(title: str, analysis: dict[str, Any], concurrency: int) -> str:
    """A text report of ``analyze``'s result, with an ASCII profile of slots in flight."""
    a = analysis
    lines = [title, "", f"wall {a['wall_s']:.2f} s; requests {a['requests']}; "
             f"non-200 {a['non_200'] or 'none'}",
             f"slot occupancy {a['slot_occupancy']:.0%} of {concurrency} slots "
             f"({a['slot_seconds_used']:.2f} slot-s used)",
             f"retry sleeps: {a['retries']} ({a['retry_sleep_s']:.2f} s in all; "
             f"{a['idle_slot_s_during_retry_sleeps']:.2f} slot-s left idle meanwhile); "
             f"token calls (the first included): {a['token_refreshes']}",
             f"parked (uncertain) batches: {a['parked_batches']}; first parked at "
             + ("-" if a["first_parked_at"] is None else f"{a['first_parked_at']:.2f} s")
             + ("" if a["last_parked_at"] is None else
                f", last at {a['last_parked_at']:.2f} s (the run ended "
                f"{a['wall_s'] - a['last_parked_at']:.2f} s later)")
             + "; last job of a first submission done at "
             + ("-" if a["last_first_submission_job_done_at"] is None
                else f"{a['last_first_submission_job_done_at']:.2f} s"),
             "", "Wall time by state (5 ms samples):"]
    for state, seconds in a["states_s"].items():
        lines.append(f"  {seconds:6.2f} s  {100 * seconds / a['wall_s']:5.1f}%  {state}")
    if a["last_job"] is not None:
        lines += ["", f"The job that finished last (batch {a['last_job']['batch']}), "
                  "its batch's history:"]
        for ev in a["last_job_history"]:
            extra = ev.get("reason") or ev.get("job_id") or ""
            lines.append(f"  {ev['t']:6.2f} s  {ev['event']}  {extra}"[:160])
    lines += ["", f"Requests in flight per 100 ms (0..{concurrency}, one row per second):"]
    lines += _ascii(a["occupancy_100ms"], concurrency)
    return "\n".join(lines) + "\n"


def _ascii(buckets: list[float], concurrency: int) -> list[str]:
    glyphs = " .:-=+*#%@"
    out = []
    for second in range(0, len(buckets), 10):
        row = buckets[second:second + 10]
        cells = "".join(glyphs[min(int(v / concurrency * (len(glyphs) - 1) + 0.5),
                                   len(glyphs) - 1)] for v in row)
        avg = sum(row) / len(row)
        out.append(f"  {second / 10:5.1f} s |{cells:<10}| avg {avg:4.1f}")
    return out


def write(data: dict[str, Any], path: str, title: str, concurrency: int) -> dict[str, Any]:
    """Write the analysis to ``path`` (text) and the raw recording to ``<path>.raw`` (JSON;
    git ignores it); return the analysis."""
    analysis = analyze(data, concurrency)
    with open(path, "w") as f:
        f.write(render(title, analysis, concurrency))
    with open(path + ".raw", "w") as f:
        json.dump(data, f)
    return analysis
