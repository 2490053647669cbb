"""Write-ahead before the POST (issue 15, point 7).

"This batch may have been sent" must be on disk before the POST leaves: a process killed
while the POST is in flight otherwise leaves a journal that says ``pending``, and the resumed
run submits the batch as new although Zoho may be converting it already. The fake's
``on_send`` hook reads the journal file with sqlite3, from its own connection, at the moment
each POST leaves: every batch it sends (whole batches, split parts, settling resubmissions,
those of a resumed run) must be there as ``submitting``.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from fake_convert_api import Crash, FakeAPI, SubmitCall

from zoho_convert.api.errors import ServerError
from zoho_convert.bulk.convert import convert_many, resume

IDS = [str(4000 + i) for i in range(300)]


class JournalAtSend:
    """An ``on_send`` hook: the journal's state of each batch when its POST leaves."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: list[tuple[int, list[str]]] = []  # (submit number, states of its rows)

    def __call__(self, call: SubmitCall) -> None:
        # A reader of its own, as another process would be; committed data only.
        uri = f"file:{self.path}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            rows = db.execute(
                "SELECT state FROM batch WHERE ids = ? AND state != 'split'",
                (",".join(call.ids),),
            ).fetchall()
        self.seen.append((call.number, [state for (state,) in rows]))

    def not_written_ahead(self) -> list[tuple[int, list[str]]]:
        """The sends whose batch was not on disk, alone, as ``submitting``."""
        return [(number, states) for number, states in self.seen if states != ["submitting"]]


async def test_every_post_leaves_after_its_batch_is_on_disk_as_submitting(
    tmp_path: Path,
) -> None:
    """Whole batches, parts split around an invalid id and settling resubmissions of a lost
    reply are each journaled as submitting before their POST leaves."""
    path = tmp_path / "run.journal"
    hook = JournalAtSend(path)
    lost = ServerError(500, "INTERNAL_ERROR", "reply lost", maybe_processed=True)
    api = FakeAPI(
        invalid={IDS[3], IDS[160]},
        submit_faults_after={2: lost},
        on_send=hook,
        max_concurrency=4,
    )
    report = await convert_many(api, "Quotes", IDS, to="Sales_Orders", journal=str(path))
    assert report.accounted_for and report.total == 300
    assert len(report.rejected) == 2 and report.already_converted == 50
    assert len(hook.seen) == api.submits > 6 + 2  # splits and resubmissions were sent too
    assert not hook.not_written_ahead()


async def test_resumed_run_writes_ahead_too(tmp_path: Path) -> None:
    """A resumed run journals each batch as submitting before its POST leaves: the batches
    never sent and the one caught mid-submission alike."""
    path = tmp_path / "run.journal"
    crash = Crash(lambda call: call.number == 2)
    api = FakeAPI(on_processed=crash)
    await crash.run(
        convert_many(
            api, "Quotes", IDS, to="Sales_Orders", journal=str(path), max_pending_jobs=1
        )
    )
    hook = JournalAtSend(path)
    api.on_send = hook
    sent_before = api.submits

    report = await resume(api, str(path), ids=IDS)  # the kill stopped its reading too

    assert report.ok and report.total == 300 and report.already_converted == 50
    assert len(hook.seen) == api.submits - sent_before > 3
    assert not hook.not_written_ahead()
