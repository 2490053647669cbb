"""The progress display in-process, with a fake clock: bar layout, line timing, the tally."""

from __future__ import annotations

import io
import re

import pytest
from fakes import FakeClock

from zoho_convert import (
    BatchGaveUp,
    BatchRead,
    BatchSubmitted,
    BatchUncertain,
    IdsAlreadyConverted,
    IdsRefused,
    JobFinished,
    JobState,
    JobStatus,
    JobUnfinished,
    RejectedId,
    Tally,
)
from zoho_convert.cli.progress import (
    ProgressDisplay,
    Snapshot,
    format_duration,
    render_bar,
    render_line,
    resolve_mode,
)

NUMBER = r"\d{1,3}(,\d{3})*"

SNAPSHOTS = [
    Snapshot(0, 0, 0, 0, 0, 0, 0.0),
    Snapshot(4_750, 20_000, 4_700, 50, 0, 0, 12.3),
    Snapshot(999_950, 1_000_000, 990_000, 5_000, 4_950, 0, 123.0),
    Snapshot(1_000_000, 1_000_000, 900_000, 50_000, 40_000, 10_000, 4_000.0, done=True),
]


def _status(state: JobState, converted: int, failed: int = 0) -> JobStatus:
    total = converted + failed
    return JobStatus(state, total, converted, 0, failed)


@pytest.mark.parametrize("width", [200, 120, 80, 60, 40, 24])
@pytest.mark.parametrize("snap", SNAPSHOTS)
def test_bar_fits_the_width_and_keeps_the_count_whole(snap: Snapshot, width: int) -> None:
    """Every frame fits in width - 1 columns and shows settled/total as 4,750/20,000."""
    line = render_bar(snap, width)

    assert len(line) <= width - 1
    assert f"{snap.settled:,}/{snap.total:,}" in line
    for number in re.findall(r"[\d,]*\d", line):
        assert re.fullmatch(NUMBER, number), line


def test_bar_at_80_columns_shows_everything_a_run_usually_needs() -> None:
    """At 80 columns a typical run shows the bar, the count, %, failures, rate and eta."""
    line = render_bar(SNAPSHOTS[1], 80)

    assert re.fullmatch(
        r"█+░+  4,750/20,000   23%  failed 50  386 ids/s  eta 0:39", line
    ), line
    assert "converting" in render_bar(SNAPSHOTS[1], 100)
    assert "#" in render_bar(SNAPSHOTS[1], 80, unicode=False)


def test_failures_outlast_the_rate_and_the_eta_on_narrow_terminals() -> None:
    """What went wrong is dropped last: at 60 columns, failed and rejected counts stay."""
    line = render_bar(SNAPSHOTS[2], 60)

    assert "failed 5,000" in line and "rejected 4,950" in line
    assert "ids/s" not in line


def test_progress_line_is_plain_and_complete() -> None:
    """A log line: no control characters, every count, the rate and the time left or taken."""
    assert render_line(SNAPSHOTS[1]) == (
        "zoho-convert: 4,750/20,000 ids settled (23%), converted 4,700, failed 50; "
        "386 ids/s, eta 0:39"
    )
    assert render_line(SNAPSHOTS[3]).endswith("250 ids/s, in 1:06:40")


def test_durations() -> None:
    """Durations read m:ss, then h:mm:ss."""
    assert [format_duration(s) for s in (0, 59.4, 61, 3600, 3725)] == [
        "0:00", "0:59", "1:01", "1:00:00", "1:02:05"
    ]


def test_tally_counts_events() -> None:
    """The run's events fold into the counts the display shows."""
    tally = Tally()
    for event in [
        BatchRead(1, ids(50, 0), 50, 50, 0),
        BatchRead(2, ids(50, 50), 101, 101, 0),
        BatchSubmitted(1, 50, "11"),
        BatchSubmitted(2, 50, "12"),
        IdsRefused((RejectedId("abc", "INVALID_ID", "record id 'abc' is not numeric"),)),
        JobFinished(1, "11", 50, _status(JobState.COMPLETED, 48, 2)),
        BatchUncertain(3, ids(50, 100), 0.0, False, "HTTP 500"),
    ]:
        tally(event)

    assert (tally.read, tally.converted, tally.failed, tally.settled) == (101, 48, 2, 51)
    tally(JobUnfinished(2, "12", 50, None))
    tally(BatchGaveUp(3, ids(50, 100), "HTTP 500"))
    tally(IdsAlreadyConverted(4, ids(2, 150)))
    assert len(tally.uncertain) == 50 and tally.jobs_done == 1
    snapshot = Snapshot.of(tally, 1.0, expected=None, done=False)
    assert (snapshot.converted, snapshot.uncertain, snapshot.rejected) == (50, 50, 1)
    assert (snapshot.settled, snapshot.total) == (103, 103)


def ids(n: int, start: int) -> tuple[str, ...]:
    return tuple(str(1000 + start + i) for i in range(n))


def test_lines_mode_writes_a_line_per_interval_and_a_last_one() -> None:
    """In lines mode a line is written when the interval has passed, and a final one at the end."""
    clock = FakeClock(100.0)
    out = io.StringIO()
    display = ProgressDisplay("lines", stream=out, interval=5.0, clock=clock)

    display(BatchRead(1, ids(50, 0), 50, 50, 0))
    clock.now = 104.9
    display.tick()
    assert out.getvalue() == ""
    clock.now = 105.0
    display(JobFinished(1, "1", 50, _status(JobState.COMPLETED, 50)))
    clock.now = 109.0
    display.tick()
    display.finish()

    lines = out.getvalue().splitlines()
    assert lines == [
        "zoho-convert: 50/50 ids settled (100%), converted 50; 10 ids/s, eta 0:00",
        "zoho-convert: 50/50 ids settled (100%), converted 50; 6 ids/s, in 0:09",
    ]


def test_lines_mode_writes_nothing_for_a_run_shorter_than_the_interval() -> None:
    """A quick run in a log: no progress line at all (the report says it all)."""
    clock = FakeClock(0.0)
    out = io.StringIO()
    display = ProgressDisplay("lines", stream=out, interval=5.0, clock=clock)
    display(BatchRead(1, ids(50, 0), 50, 50, 0))
    clock.now = 1.0
    display.finish()

    assert out.getvalue() == ""


def test_bar_mode_redraws_in_place_at_most_ten_times_a_second() -> None:
    """The bar is redrawn with a carriage return, throttled, and ends with a newline."""
    clock = FakeClock(0.0)
    out = io.StringIO()
    display = ProgressDisplay("bar", stream=out, clock=clock, expected_total=100)

    display.tick(force=True)
    display(BatchRead(1, ids(50, 0), 50, 50, 0))  # within 0.1 s: not drawn
    clock.now = 0.5
    display(JobFinished(1, "1", 50, _status(JobState.COMPLETED, 50)))
    display.finish()

    frames = out.getvalue().split("\r")[1:]
    assert len(frames) == 3
    assert "50/100" in frames[1]
    assert frames[2].endswith("\x1b[K\n") and "50/100" in frames[2]


def test_mode_auto_is_a_bar_on_terminals_and_lines_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """auto: a bar on a terminal (unless TERM=dumb), lines on a pipe; quiet wins over all."""

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("TERM", "xterm")
    assert resolve_mode("auto", Tty()) == "bar"
    assert resolve_mode("auto", io.StringIO()) == "lines"
    assert resolve_mode("bar", io.StringIO()) == "bar"
    assert resolve_mode("bar", Tty(), quiet=True) == "none"
    monkeypatch.setenv("TERM", "dumb")
    assert resolve_mode("auto", Tty()) == "lines"
