"""The write-ahead before each POST survives a power cut, not only a killed process.

A journal commits with ``synchronous=NORMAL``: a commit reaches the OS's cache, which a killed
process cannot lose but a power cut (a host or VM that dies) can. The row saying a batch is
being sent is what makes a resumed run settle the batch instead of submitting it as never
sent (whose records its lost POST converted would then read as converted before the run).
Here a power cut is played at the moment each POST leaves: the journal as the disk holds it
(its file, and its write-ahead log as far as it was last synced) must show the batch
``submitting``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest
from fake_convert_api import FakeAPI, SubmitCall

from zoho_convert.api.errors import ServerError
from zoho_convert.bulk.convert import convert_many

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/fd")

IDS = [str(7000 + i) for i in range(120)]
REAL_FSYNC = os.fsync


class PowerCut:
    """Spies ``fsync`` (how much of each file is surely on disk) and, as each POST leaves,
    reads the journal as a power cut would leave it."""

    def __init__(self, path: Path, scratch: Path) -> None:
        self.path, self.scratch = path, scratch
        self.synced: dict[str, int] = {}  # file -> bytes of it surely on disk
        self.seen: list[tuple[int, list[str]]] = []

    def fsync(self, fd: int) -> None:
        name = os.readlink(f"/proc/self/fd/{fd}")
        size = os.fstat(fd).st_size
        REAL_FSYNC(fd)
        self.synced[name] = size

    def __call__(self, call: SubmitCall) -> None:
        copy = self.scratch / f"cut-{call.number}"
        copy.mkdir()
        shutil.copy(self.path, copy / self.path.name)  # (written at creation, synced then)
        wal = self.path.with_name(f"{self.path.name}-wal")
        kept = self.synced.get(str(wal.resolve()), 0)
        with open(wal, "rb") as source, open(copy / wal.name, "wb") as target:
            target.write(source.read(kept))
        with contextlib.closing(sqlite3.connect(copy / self.path.name)) as db:
            rows = db.execute(
                "SELECT state FROM batch WHERE ids = ? AND state != 'split'",
                (",".join(call.ids),),
            ).fetchall()
        self.seen.append((call.number, [state for (state,) in rows]))


async def test_every_post_leaves_after_its_batch_is_synced_as_submitting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At each POST (first submissions and a settling resubmission of a lost reply), a power
    cut leaves a journal that holds the batch as submitting."""
    path = tmp_path / "run.journal"
    cut = PowerCut(path, tmp_path)
    monkeypatch.setattr(os, "fsync", cut.fsync)
    lost = ServerError(500, "INTERNAL_ERROR", "reply lost", maybe_processed=True)
    api = FakeAPI(submit_faults_after={1: lost}, on_send=cut, max_concurrency=2)

    report = await convert_many(
        api, "Quotes", IDS, to="Sales_Orders", batch_size=20, journal=str(path)
    )

    assert report.accounted_for and report.already_converted == 20
    assert len(cut.seen) == api.submits >= 7
    assert [seen for seen in cut.seen if seen[1] != ["submitting"]] == []
