"""Progress on stderr: a one-line bar on a terminal, a line every few seconds in a log.

``--progress auto`` (the default) draws the bar when stderr is a terminal and writes plain
lines otherwise (CI logs, systemd), ``bar``/``lines`` force one, ``none`` (or ``-q``) is
silent. The bar is designed for 80 columns and sheds its least useful parts on narrower
terminals; every count is written one way, ``4,750/20,000``. No third-party package needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

import attrs

from zoho_convert import Event, Tally

__all__ = [
    "MODES",
    "ProgressDisplay",
    "Snapshot",
    "format_duration",
    "render_bar",
    "render_line",
    "resolve_mode",
]

MODES = ("auto", "bar", "lines", "none")

_BAR_MAX = 40
_BAR_MIN = 10
_REDRAW = 0.1  # seconds between two redraws of the bar at most
_TICK = 1.0  # seconds between redraws when no event comes (the clock and the eta move on)


@attrs.frozen
class Snapshot:
    """What the progress shows at one moment."""

    settled: int
    total: int
    converted: int
    failed: int
    rejected: int
    uncertain: int
    elapsed: float
    done: bool = False

    @classmethod
    def of(cls, tally: Tally, elapsed: float, *, expected: int | None, done: bool) -> Snapshot:
        """The snapshot of ``tally`` (``expected``: the total when known in advance)."""
        settled = tally.settled
        return cls(
            settled=settled,
            total=max(expected or 0, tally.read, settled),
            converted=tally.converted + tally.already_converted,
            failed=tally.failed + tally.not_converted,
            rejected=len(tally.rejected),
            uncertain=len(tally.uncertain),
            elapsed=elapsed,
            done=done,
        )

    @property
    def fraction(self) -> float:
        """Settled out of total, 0 to 1."""
        return self.settled / self.total if self.total else 0.0

    @property
    def rate(self) -> float | None:
        """Ids settled per second over the run (ids settle a job at a time: a short window
        would swing between 0 and absurd peaks)."""
        if self.elapsed <= 0 or not self.settled:
            return None
        return self.settled / self.elapsed

    @property
    def eta(self) -> float | None:
        """Seconds left at the average rate, when there is one."""
        rate = self.rate
        if rate is None or self.done:
            return None
        return (self.total - self.settled) / rate


def format_duration(seconds: float) -> str:
    """``0:42``, ``12:05`` or ``1:02:03``."""
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def _count(snap: Snapshot) -> str:
    return f"{snap.settled:,}/{snap.total:,}"


def _problems(snap: Snapshot) -> list[str]:
    return [
        f"{label} {value:,}"
        for label, value in (
            ("failed", snap.failed),
            ("rejected", snap.rejected),
            ("uncertain", snap.uncertain),
        )
        if value
    ]


def _timing(snap: Snapshot) -> tuple[str, str]:
    rate = snap.rate
    rate_text = f"{rate:,.0f} ids/s" if rate is not None else "- ids/s"
    if snap.done:
        return rate_text, f"in {format_duration(snap.elapsed)}"
    eta = snap.eta
    return rate_text, f"eta {format_duration(eta)}" if eta is not None else "eta -"


def render_bar(snap: Snapshot, width: int, *, unicode: bool = True) -> str:
    """One line of at most ``width - 1`` columns (the last column would make terminals wrap).

    The count, the percentage and the failures always show; the bar takes the room left (10
    to 40 columns). On a narrow terminal the label goes first (when the bar would be under 20
    columns), then the rate (under 15), then the time left; the bar itself goes last.
    """
    limit = max(width - 1, 1)
    rate, timing = _timing(snap)
    # (text, the narrowest bar it may squeeze it to, and which goes first when even that fails)
    optional = [("converting", 20, 3), (rate, 15, 2), (timing, _BAR_MIN, 1)]
    fixed = [_count(snap), f"{int(snap.fraction * 100):>3}%", *_problems(snap)]
    while len(fixed) > 1 and sum(len(text) + 2 for text in fixed) - 2 > limit:
        fixed.pop()  # a very narrow terminal: drop whole parts, never cut a number

    def room(kept: list[tuple[str, int, int]]) -> int:
        texts = [text for text, _, _ in kept] + fixed
        return limit - sum(len(text) for text in texts) - 2 * len(texts)

    kept = list(optional)
    while kept and any(room(kept) < need for _, need, _ in kept):
        kept.remove(max(kept, key=lambda part: part[2]))
    width_left = room(kept)
    head = [text for text, _, _ in kept if text == "converting"]
    tail = [text for text, _, _ in kept if text != "converting"]
    if width_left >= _BAR_MIN:
        head.append(_bar(snap.fraction, min(width_left, _BAR_MAX), unicode=unicode))
    return "  ".join([*head, *fixed, *tail])[:limit]


def _bar(fraction: float, width: int, *, unicode: bool) -> str:
    full, empty = ("█", "░") if unicode else ("#", "-")
    filled = min(width, int(fraction * width))
    return full * filled + empty * (width - filled)


def render_line(snap: Snapshot) -> str:
    """A plain progress line for logs: never wrapped, never redrawn."""
    rate, timing = _timing(snap)
    line = f"zoho-convert: {_count(snap)} ids settled ({int(snap.fraction * 100)}%)"
    line += f", converted {snap.converted:,}"
    for problem in _problems(snap):
        line += f", {problem}"
    return f"{line}; {rate}, {timing}"


def resolve_mode(mode: str, stream: TextIO, *, quiet: bool = False) -> str:
    """``bar``, ``lines`` or ``none`` for ``--progress mode`` (``auto`` looks at ``stream``)."""
    if quiet:
        return "none"
    if mode != "auto":
        return mode
    dumb = os.environ.get("TERM", "") == "dumb"
    return "bar" if _isatty(stream) and not dumb else "lines"


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _width(stream: TextIO) -> int:
    """The terminal's width (asked each time: the window may be resized), COLUMNS, or 80."""
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, OSError, ValueError):
        try:
            return int(os.environ.get("COLUMNS", "80"))
        except ValueError:
            return 80


class ProgressDisplay:
    """Shows a run's progress on ``stream``; use as ``async with``, pass as ``progress=``.

    Args:
        mode: ``bar``, ``lines`` or ``none`` (see ``resolve_mode``).
        stream: where to write (stderr).
        expected_total: the number of ids, when known in advance (the demo).
        interval: seconds between two lines in ``lines`` mode.
        clock: a monotonic clock (injectable for tests).
    """

    def __init__(
        self,
        mode: str,
        *,
        stream: TextIO | None = None,
        expected_total: int | None = None,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mode = mode
        self.tally = Tally()
        self._stream = stream if stream is not None else sys.stderr
        self._expected = expected_total
        self._interval = interval
        self._clock = clock
        self._started = clock()
        self._drawn_at: float | None = None
        self._lines = 0
        self._ticker: asyncio.Task[None] | None = None
        encoding = getattr(self._stream, "encoding", None) or "ascii"
        self._unicode = "█░".encode(encoding, "replace") == "█░".encode(encoding, "ignore")

    @property
    def elapsed(self) -> float:
        """Seconds since the display was made."""
        return self._clock() - self._started

    def snapshot(self, *, done: bool = False) -> Snapshot:
        """The counts as they stand."""
        return Snapshot.of(self.tally, self.elapsed, expected=self._expected, done=done)

    def __call__(self, event: Event) -> None:
        """Take one event from the run."""
        self.tally(event)
        self.tick()

    def tick(self, *, force: bool = False) -> None:
        """Redraw the bar, or write a line when one is due."""
        now = self._clock()
        if self.mode == "bar":
            if force or self._drawn_at is None or now - self._drawn_at >= _REDRAW:
                self._drawn_at = now
                line = render_bar(self.snapshot(), _width(self._stream), unicode=self._unicode)
                self._write(f"\r{line}\x1b[K")
        elif self.mode == "lines":
            last = self._started if self._drawn_at is None else self._drawn_at
            if force or now - last >= self._interval:
                self._drawn_at = now
                self._lines += 1
                self._write(render_line(self.snapshot()) + "\n")

    def finish(self) -> None:
        """Draw the final state: the bar's last frame, or a last line if any was written."""
        if self.mode == "bar":
            line = render_bar(self.snapshot(done=True), _width(self._stream), unicode=self._unicode)
            self._write(f"\r{line}\x1b[K\n")
        elif self.mode == "lines" and self._lines:
            self._write(render_line(self.snapshot(done=True)) + "\n")

    def _write(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # a closed terminal must not end the run
            self._stream.write(text)
            self._stream.flush()

    async def _tick_forever(self) -> None:
        # Jobs can run for minutes without an event: the clock, the eta and the lines go on.
        period = _TICK if self.mode == "bar" else min(_TICK, self._interval)
        while True:
            await asyncio.sleep(period)
            self.tick()

    async def __aenter__(self) -> ProgressDisplay:
        if self.mode != "none":
            self.tick(force=self.mode == "bar")
            self._ticker = asyncio.create_task(self._tick_forever())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        self.finish()
