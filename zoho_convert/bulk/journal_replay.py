"""Reading a journal back as the events that rebuild its run (``resume`` replays them).

Rows are read in batch order; each batch's row yields the events that brought it to its state,
as the run published them: a top-level batch's ``BatchRead``, a split's ``BatchSplit`` (whose
parts are the child rows), then what became of it. Runs on the journal's writer thread.
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from zoho_convert.api.models import JobStatus
from zoho_convert.api.wire import converter
from zoho_convert.bulk.events import (
    BatchGaveUp,
    BatchRead,
    BatchSplit,
    BatchSubmitted,
    BatchUncertain,
    Event,
    IdsAlreadyConverted,
    IdsConverted,
    IdsRefused,
    IdsRejected,
    InputEnded,
    JobFinished,
    JobLost,
    JobsInParallel,
    LongestJob,
    RequestsCounted,
    SubmitStarted,
)
from zoho_convert.bulk.report import RejectedId
from zoho_convert.bulk.spec import RunParams

__all__ = ["replay"]


# The queries, in one place (SQL keywords are not case-sensitive: no mutation of their case
# could change what is read, so they stay out of the functions mutmut mutates).
_RUN = "SELECT key, value FROM run"
_REJECTED = "SELECT seq, id, code, message FROM rejected"
_ALREADY = "SELECT seq, id FROM already ORDER BY rowid"
_BATCHES = (
    "SELECT seq, parent, ids, state, job_id, status, position, duplicates, settling"
    " FROM batch ORDER BY seq"
)
_LOST = "SELECT seq, job_id, size, reason, status FROM lost ORDER BY rowid"
# Why a batch was given up on is in no report (its ids are ``uncertain``).
_GAVE_UP = "settling gave up in an earlier session"
_PARKED = "parked by an earlier session"


def _rows(db: sqlite3.Connection, sql: str) -> Iterator[tuple[Any, ...]]:
    with contextlib.closing(db.execute(sql)) as cursor:
        yield from cursor


def _ids(text: str) -> tuple[str, ...]:
    return tuple(text.split(","))  # a batch holds one id at least


def _status(text: str | None) -> JobStatus | None:
    return None if text is None else converter.structure(json.loads(text), JobStatus)


def replay(db: sqlite3.Connection) -> tuple[RunParams, list[Event]]:
    """The run's parameters and its events, from a journal's rows."""
    run = dict(db.execute(_RUN).fetchall())
    rejected: dict[int | None, list[RejectedId]] = defaultdict(list)
    for seq, id_, code, message in _rows(db, _REJECTED):
        rejected[seq].append(RejectedId(id_, code, message))
    already: dict[int, list[str]] = defaultdict(list)
    for seq, id_ in _rows(db, _ALREADY):
        already[seq].append(id_)
    rows = list(_rows(db, _BATCHES))
    parts: dict[int, list[tuple[int, tuple[str, ...]]]] = defaultdict(list)
    for seq, parent, ids, *_ in rows:
        if parent is not None:
            parts[parent].append((seq, _ids(ids)))
    # A batch answered after one still being sent when the run stopped may hold that one's
    # job id (Zoho may give a job's id to the next submission): its job is suspect.
    order = _orders(run)
    sending_since = min((order.get(row[0], -1) for row in rows if row[3] == "submitting"),
                        default=math.inf)
    refused = rejected.pop(None, [])
    at = int(run.get("refused_position", 0)), int(run.get("refused_duplicates", 0))
    events: list[Event] = [IdsRefused(tuple(refused), *at)] if refused else []
    read = len(refused)
    for seq, parent, ids, state, job_id, status, position, duplicates, settling in rows:
        batch_ids = _ids(ids)
        if parent is None:
            read += len(batch_ids)
            events.append(BatchRead(seq, batch_ids, read, position, duplicates))
        events.extend(
            _outcome(
                seq,
                batch_ids,
                state,
                job_id,
                _status(status),
                bool(settling),
                f"suspect:{seq}" in run or order.get(seq, -1) > sending_since,
                run.get(f"look:{seq}"),
                rejected[seq],
                already[seq],
                parts[seq],
            )
        )
    for seq, job_id, size, reason, status in _rows(db, _LOST):
        events.append(JobLost(seq, job_id, size, reason, _status(status)))
    if "longest_job" in run:
        trip = run.get("round_trip")
        events.append(LongestJob(float(run["longest_job"]), None if trip is None else float(trip)))
    if "longest_seen" in run:
        events.append(LongestJob(float(run["longest_seen"]), None, seen=True))
    if run.get("jobs_in_parallel") == "1":
        events.append(JobsInParallel())
    if "requests" in run:
        events.append(RequestsCounted(int(run["requests"])))
    if run.get("input_complete") == "1":
        events.append(InputEnded(int(run["position"]), int(run["duplicates"])))
    return RunParams.from_json(run["params"]), events


def _orders(run: dict[str, str]) -> dict[int, int]:
    """Each batch's place in the order batches were last sent or answered (``order:{seq}``
    run keys; none in a journal written before they were kept)."""
    prefix = "order:"
    return {int(k[len(prefix):]): int(v) for k, v in run.items() if k.startswith(prefix)}


def _outcome(
    seq: int,
    ids: tuple[str, ...],
    state: str,
    job_id: str | None,
    status: JobStatus | None,
    settling: bool,
    suspect: bool,
    look: str | None,
    rejected: list[RejectedId],
    already: list[str],
    parts: list[tuple[int, tuple[str, ...]]],
) -> Iterator[Event]:
    """The events after a batch was read (or split off) that brought it to ``state``."""
    if rejected:
        yield IdsRejected(seq, tuple(rejected))
    if already:
        yield IdsAlreadyConverted(seq, tuple(already))
    if state == "split":
        yield BatchSplit(seq, tuple(parts), settling)
    elif state == "submitting":
        yield SubmitStarted(seq)
    elif state in ("submitted", "finished"):
        assert job_id is not None  # written with the state
        yield BatchSubmitted(seq, len(ids), job_id, settling, suspect=suspect)
        if status is not None:  # written with the finished state only
            yield JobFinished(seq, job_id, len(ids), status, ids, settling)
    elif state == "converted":
        yield IdsConverted(seq, ids)
    elif state in ("uncertain", "uncertain_unbounded"):
        unbounded = state == "uncertain_unbounded"
        # (Parked for its final look, ``look`` says how it goes: "record" or "mass".)
        final, by_record = look is not None, look == "record"
        yield BatchUncertain(
            seq, ids, 0.0, settling, _PARKED, "", False, by_record, unbounded, final_look=final
        )
    elif state == "uncertain_final":
        yield BatchGaveUp(seq, ids, _GAVE_UP)
