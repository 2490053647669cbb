"""Review of the session's engine changes (forgotten running jobs, 429 pacing): what the
review found, fixed and pinned on ``RunMachine``, fed event by event (times are plain
numbers, no I/O).
"""

from __future__ import annotations

from lost_job_feed import apply

from zoho_convert.api.errors import RateLimitError
from zoho_convert.api.models import JobState, JobStatus
from zoho_convert.bulk.events import (
    BatchGaveUp,
    BatchRead,
    BatchSubmitted,
    BatchUncertain,
    SubmitStarted,
)
from zoho_convert.bulk.machine import RunMachine
from zoho_convert.bulk.settling import SettlePolicy

IDS = tuple(str(100 + n) for n in range(10))


def submitted(machine: RunMachine, seq: int, sent: float, answered: float) -> tuple[str, ...]:
    ids = tuple(f"{seq}-{value}" for value in IDS)
    machine(BatchRead(seq, ids, 10 * (seq + 1), 10 * (seq + 1), 0))
    machine(SubmitStarted(seq))
    machine(BatchSubmitted(seq, 10, f"job{seq}", False, sent, answered))
    return ids


def status(state: JobState, converted: int, total: int | None = 10) -> JobStatus:
    return JobStatus(state, total, converted, 10 - converted, 0)


def test_a_job_seen_with_nothing_done_does_not_shorten_the_unknown_wait() -> None:
    """No job has finished (a lost job is given ``unknown_wait``, 60 s); a job seen
    SCHEDULED at 0.5 s with nothing done, then forgotten, says nothing of how long jobs
    take: it, and a reply lost beside it, still wait 60 s."""
    machine = RunMachine(SettlePolicy())
    submitted(machine, 0, 0.0, 0.1)
    seen = (status(JobState.SCHEDULED, 0), 0.5)
    apply(machine, machine.lost(0, "job0", "forgotten", seen=seen))
    other = submitted(machine, 1, 0.2, 0.3)
    machine(BatchUncertain(1, other, 0.3, True, "reply lost"))
    assert (machine.due_at(0), machine.due_at(1)) == (60.1, 60.3)
    assert machine.settle_due(30.0) == ()


def test_a_batch_lost_after_an_unbounded_job_was_sent_is_held_back() -> None:
    """Job 0 sent at 0, accepted at 2.0 (a slow reply); batch 1's reply lost at 1.0; job 0
    seen at 100 s with nothing done (past the 60 s wait), then forgotten: unbounded, and
    batch 1, lost after job 0 was sent, never goes again (as after a job given up on at the
    poll timeout)."""
    machine = RunMachine(SettlePolicy())
    submitted(machine, 0, 0.0, 2.0)
    other = tuple(f"1-{value}" for value in IDS)
    machine(BatchRead(1, other, 20, 20, 0))
    machine(SubmitStarted(1))  # (sent at 0.5: its 500 comes back at 1.0)
    machine(BatchUncertain(1, other, 1.0, True, "reply lost"))
    events = apply(
        machine, machine.lost(0, "job0", "forgotten", seen=(status(JobState.SCHEDULED, 0), 100.0))
    )
    assert isinstance(events[-1], BatchUncertain) and events[-1].unbounded
    assert machine.settle_due(1000.0) == ()
    assert machine.settle_round(1000.0) is None


def test_a_long_429_storm_paces_without_overflowing() -> None:
    """A settling batch refused with a 429 at every resubmission (no Retry-After) until
    its deadline, with min_wait 0.05 s: it goes again paced, with no round used, its pace
    growing to 30 s (about 40 requests in 900 s, not one a second), and ends uncertain when
    the deadline passes; the pace of a 2,000th 429 in a row raises nothing (it overflowed a
    float at the 1,025th)."""
    machine = RunMachine(SettlePolicy(min_wait=0.05, deadline=900.0, record_by_record=False))
    ids = tuple(f"0-{value}" for value in IDS)
    machine(BatchRead(0, ids, 10, 10, 0))
    machine(SubmitStarted(0))
    machine(BatchUncertain(0, ids, 0.0, True, "reply lost"))
    now, sent = 0.0, 0
    while (settle := machine.settle_round(now)) is not None:
        now = settle.due
        for batch in settle.batches:
            machine(SubmitStarted(batch.seq))
            sent += 1
            refusal = RateLimitError(429, "TOO_MANY_REQUESTS", "too many requests")
            verdict = machine.refused(batch.seq, batch.ids, refusal, settling=True, at=now)
            assert verdict is not None
            apply(machine, verdict[0])
        now += 0.01
    assert 30 < sent < 50
    assert [type(event) for event in machine.give_up(now)] == [BatchGaveUp]
    for _ in range(2000):
        again = machine.throttled(0, now)
    assert again == now + 30.0
