"""CPU profiles of the client side with py-spy (sampling, idle time excluded), summarised.

``py-spy record --format raw`` writes collapsed stacks (``frame;frame;... count``); this
module turns them into what a reader needs: where the CPU goes by layer (aiohttp, asyncio,
json, cattrs, zoho_convert modules...), the functions with the most self time, and the
zoho_convert functions with the most inclusive time. Only samples taken inside the event loop
(the conversion itself) count; interpreter start-up and imports are left out.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]*?)(?::(?P<line>\d+))?\)$")


def py_spy() -> str | None:
    """The py-spy executable (next to this interpreter, or on PATH), or None."""
    beside = os.path.join(os.path.dirname(sys.executable), "py-spy")
    if os.path.exists(beside):
        return beside
    return shutil.which("py-spy")


def wrap(cmd: list[str], raw_path: str, rate: int = 1000) -> list[str]:
    """``cmd`` run under ``py-spy record``, writing collapsed stacks to ``raw_path``."""
    exe = py_spy()
    assert exe is not None
    return [exe, "record", "--rate", str(rate), "--format", "raw", "--output", raw_path,
            "--nonblocking", "--", *cmd]


def _frames(stack: str) -> list[tuple[str, str]]:
    out = []
    for part in stack.split(";"):
        match = _FRAME.match(part)
        if match is None:
            out.append((part, ""))
        else:
            out.append((match.group("func"), match.group("file")))
    return out


def _layer(func: str, file: str) -> str:
    if file.startswith("zoho_convert/"):
        return file[:-3] if file.endswith(".py") else file
    for prefix in ("aiohttp", "asyncio", "json", "cattrs", "attr", "backoff", "yarl",
                   "multidict", "logging", "selectors", "socket", "ssl", "http"):
        if file.startswith(prefix + "/") or file.startswith(prefix + ".") or file == prefix:
            return prefix
    if not file:
        return func  # a native frame, e.g. <built-in>
    return file.split("/", 1)[0]


def summarize(raw_path: str, title: str, top: int = 25) -> str:
    """A text summary of a py-spy raw profile."""
    stacks: list[tuple[list[tuple[str, str]], int]] = []
    with open(raw_path) as f:
        for raw_line in f:
            line = raw_line.rstrip("\n")
            if not line:
                continue
            stack, _, count = line.rpartition(" ")
            frames = _frames(stack)
            if not any(func.endswith("run_forever") for func, _ in frames):
                continue  # start-up, imports, shutdown
            stacks.append((frames, int(count)))
    total = sum(count for _, count in stacks) or 1
    by_layer: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        func, file = frames[-1]
        by_layer[_layer(func, file)] += count
        self_time[f"{func} ({file})"] += count
        seen: set[str] = set()
        for func, file in frames:
            if file.startswith("zoho_convert/"):
                key = f"{file}:{func}"
                if key not in seen:
                    seen.add(key)
                    inclusive[key] += count
    lines = [title, f"{total} CPU samples inside the event loop (idle excluded)", ""]
    lines += _table("CPU by layer (self time of the leaf frame)", by_layer, total, top)
    lines += _table("Top functions by self time", self_time, total, top)
    lines += _table("zoho_convert functions by inclusive time", inclusive, total, top)
    return "\n".join(lines) + "\n"


def _table(title: str, counts: Counter[str], total: int, top: int) -> Iterable[str]:
    yield title
    for name, count in counts.most_common(top):
        yield f"  {100 * count / total:5.1f}%  {name}"
    yield ""


def run_profiled(
    cmd: list[str], raw_path: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` under py-spy."""
    return subprocess.run(wrap(cmd, raw_path), capture_output=True, text=True, timeout=timeout,
                          check=False)
