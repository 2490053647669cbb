"""A settling submission Zoho surely did nothing with (a 429 after the client's retries, a
request that never left) uses no settling round and is paced (``SettlePlan.throttled``): it
goes again after 0.1 s, doubling for each such refusal in a row up to ``min_wait``, never
sooner than Zoho's Retry-After, until its settling deadline; a 5xx or a lost reply (Zoho may
have converted records) still uses its round.

Driven event by event (no I/O, no clock: times are plain numbers, the paces exact binary
sums where compared exactly).
"""

from __future__ import annotations

import pytest

from zoho_convert.api.errors import RateLimitError, ServerError, TransportError
from zoho_convert.bulk.events import (
    BatchGaveUp,
    BatchRead,
    BatchSplit,
    BatchSubmitted,
    BatchUncertain,
    SubmitStarted,
)
from zoho_convert.bulk.machine import BatchState, RunMachine
from zoho_convert.bulk.settling import SettlePolicy

IDS = ("101", "102", "103")
# One settling round; a lost job is given 1 s; the pace is capped at min_wait's 1 s.
POLICY = SettlePolicy(max_rounds=1, deadline=20.0, min_wait=1.0, unknown_wait=1.0)


def too_many(retry_after: float | None = None) -> RateLimitError:
    return RateLimitError(429, "TOO_MANY_REQUESTS", "too many requests", retry_after=retry_after)


# Zoho surely did nothing with these (a 429; a request that never left; a 503 before any work).
NOTHING_DONE = [
    too_many(),
    TransportError("connection refused", sent=False),
    ServerError(503, "INTERNAL_ERROR", "try again", maybe_processed=False),
]
# Zoho may have converted records: a 500 after the POST left, a reply lost on the wire.
MAYBE_DONE = [
    ServerError(500, "INTERNAL_ERROR", "try again", maybe_processed=True),
    TransportError("connection reset", sent=True),
]


def lost_and_taken(policy: SettlePolicy = POLICY) -> RunMachine:
    """Batch 0 (``IDS``) sent, its reply lost at 0 s, taken for its one settling round at 1 s
    (its lost job's wait) and being sent again."""
    machine = RunMachine(policy)
    machine(BatchRead(0, IDS, 3, 3, 0))
    machine(SubmitStarted(0))
    machine(BatchUncertain(0, IDS, 0.0, True, "reply lost"))
    round_ = machine.settle_round(0.0)
    assert round_ is not None and round_.due == 1.0 and machine.batches[0].rounds == 1
    machine(SubmitStarted(0))
    return machine


def refuse(
    machine: RunMachine, error: Exception, at: float, *, seq: int = 0, single: bool = False
) -> None:
    """Batch ``seq``'s submission (a record's single convert: ``single``) is refused ``at``."""
    ids = machine.batches[seq].ids
    verdict = machine.refused(seq, ids, error, settling=True, at=at, single=single)
    assert verdict is not None and verdict[1] == []
    for event in verdict[0]:
        machine(event)


def goes_at(machine: RunMachine, now: float) -> float | None:
    """When the next settling round goes (taking it, and sending its batch again)."""
    round_ = machine.settle_round(now)
    if round_ is None:
        return None
    for batch in round_.batches:
        machine(SubmitStarted(batch.seq))
    return round_.due


@pytest.mark.parametrize("error", NOTHING_DONE, ids=["429", "never-sent", "503-unprocessed"])
def test_a_refusal_zoho_did_nothing_with_uses_no_settling_round(error: Exception) -> None:
    """Out of rounds (one, used), a settling resubmission refused for now goes again, and
    again, in its round (it used none), until its deadline (20 s from its round at 1 s)."""
    machine = lost_and_taken()
    at, dues = 2.0, []
    refuse(machine, error, at)
    while (due := goes_at(machine, at)) is not None:
        assert machine.batches[0].rounds == 1
        at = due + 0.5  # (sent at once, refused half a second later)
        dues.append(due)
        refuse(machine, error, at)
    # Paced (0.1, 0.2, 0.4 s, doubling) until the deadline, 21 s.
    assert dues == pytest.approx([2.1, 2.8, 3.7, 5.0, 7.1, 10.8, 17.7])
    assert dues[-1] <= 21.0 < at + 12.8
    (gave_up,) = machine.give_up(at)
    assert isinstance(gave_up, BatchGaveUp) and gave_up.ids == IDS


@pytest.mark.parametrize("error", MAYBE_DONE, ids=["500", "lost-reply"])
def test_a_5xx_or_a_lost_reply_after_a_429_still_uses_the_round(error: Exception) -> None:
    """A 429 gives the round back (the batch goes again); the 5xx or lost reply of that next
    try may have converted records: its round is used, the batch (out of rounds) given up."""
    machine = lost_and_taken()
    refuse(machine, too_many(), 2.0)
    assert goes_at(machine, 2.0) == pytest.approx(2.1)  # (paced)
    refuse(machine, error, 3.0)
    assert machine.settle_round(3.0) is None and machine.settle_due(100.0) == ()
    assert [type(event) for event in machine.give_up(100.0)] == [BatchGaveUp]


def test_the_pace_doubles_per_refusal_in_a_row() -> None:
    """0.1, 0.2, 0.4, 0.8, 1.6 s after each 429 in a row (past min_wait's 0.5 s: the pace
    grows to 30 s); not due a moment before, due then. A job in between starts the pace
    afresh."""
    policy = SettlePolicy(max_rounds=2, deadline=50.0, min_wait=0.5, unknown_wait=1.0)
    machine = lost_and_taken(policy)
    at = 4.0
    for pause in (0.1, 0.2, 0.4, 0.8, 1.6):
        refuse(machine, too_many(), at)
        assert machine.settle_due(at + pause - 0.01) == ()
        (taken,) = machine.settle_due(at + pause)
        assert taken.seq == 0 and taken.state is BatchState.RESUBMITTING
        machine(SubmitStarted(0))
        at += 1.0
    # Accepted, then its job lost: the next 429 is the first in a row again.
    machine(BatchSubmitted(0, 3, "7001", True, at, at))
    machine(BatchUncertain(0, IDS, at, True, "job lost"))
    assert goes_at(machine, at) == at + 1.0  # its lost job's wait, its second round
    refuse(machine, too_many(), at + 2.0)
    assert goes_at(machine, at + 2.0) == at + 2.0 + 0.1


def test_retry_after_is_honoured_above_the_pace_and_never_shortens_it() -> None:
    """Zoho's Retry-After (3 s) is waited, though above min_wait's cap (1 s); one of 0 s
    does not send the batch at once: the pace (0.1 s) still holds."""
    machine = lost_and_taken()
    refuse(machine, too_many(retry_after=3.0), 2.0)
    assert machine.settle_due(4.9) == ()
    assert goes_at(machine, 2.0) == 5.0
    refuse(machine, too_many(retry_after=0.0), 6.0)
    assert goes_at(machine, 6.0) == pytest.approx(6.2)  # (the second in a row: 0.2 s)


def records(*, check: bool) -> RunMachine:
    """Batch 0 (``IDS``) lost, taken for its one round (or, ``check``: a settling job of it
    converted only some records, which are checked: no round), split into one part per
    record (1, 2, 3) for their single converts, record 1 being sent."""
    machine = lost_and_taken()
    if check:
        machine(BatchSubmitted(0, 3, "7001", True, 1.0, 1.5))
        machine(BatchUncertain(0, IDS, 1.5, True, "job converted 1 of 3", "", True, True))
        (taken,) = machine.settle_due(2.0)
        assert taken.rounds == 1  # (the check took no round)
    parts = tuple((seq, (value,)) for seq, value in enumerate(IDS, 1))
    machine(BatchSplit(0, parts, True))
    machine(SubmitStarted(1))
    return machine


@pytest.mark.parametrize("check", [False, True], ids=["round", "check"])
def test_a_records_single_convert_refused_with_a_429_goes_again_in_its_round(
    check: bool,
) -> None:
    """A record (its batch out of rounds, or checked after a settling job) whose single
    convert got a 429 goes again, paced (0.1, then 0.2 s), taking no round; a 500 of it then
    (the record may be converted) uses the round: it is out of rounds."""
    machine = records(check=check)
    for at, pause in ((3.0, 0.1), (4.0, 0.2)):
        refuse(machine, too_many(), at, seq=1, single=True)
        parked = machine.batches[1]
        assert parked.since == pytest.approx(at + pause) and parked.rounds == 1
        assert machine.due_at(1) == parked.since
        assert machine.settle_due(parked.since - 0.01) == ()
        (taken,) = machine.settle_due(parked.since)
        assert taken.seq == 1 and taken.rounds == 1
        machine(SubmitStarted(1))
    refuse(machine, MAYBE_DONE[0], 5.0, seq=1, single=True)
    assert machine.settle_due(100.0) == ()


def test_a_batch_refused_before_it_reached_zoho_is_paced_then_gets_every_settling_round() -> None:
    """A first submission refused with 429s (5, which Zoho did nothing with) is paced as a
    settling one (0.1 s, doubling; hunt round 6: unpaced, a storm gave it up at once) and
    uses no round; once its next try's reply is lost it is a settling batch with all 6
    settling rounds (seed 2 of the storm left 50 ids uncertain when the 429s used them)."""
    policy = SettlePolicy(max_rounds=6, deadline=1000.0, min_wait=1.0, unknown_wait=1.0)
    machine = RunMachine(policy)
    machine(BatchRead(0, IDS, 3, 3, 0))
    now = 0.0
    for pause in (0.1, 0.2, 0.4, 0.8, 1.6):
        machine(SubmitStarted(0))
        verdict = machine.refused(0, IDS, too_many(), settling=False, at=now)
        assert verdict is not None
        for event in verdict[0]:
            machine(event)
        assert machine.settle_due(now) == () and machine.due_at(0) == now + pause
        now += pause
        assert [b.seq for b in machine.settle_due(now)] == [0]
    assert machine.batches[0].rounds == 0
    machine(SubmitStarted(0))
    verdict = machine.refused(0, IDS, MAYBE_DONE[0], settling=False, at=now)
    assert verdict is not None
    for event in verdict[0]:
        machine(event)
    assert machine.batches[0].settling and machine.batches[0].rounds == 0
    for round_ in range(6):
        now += 10.0
        assert [b.seq for b in machine.settle_due(now)] == [0], f"round {round_ + 1}"
        machine(SubmitStarted(0))
        refuse(machine, MAYBE_DONE[0], now)
    now += 10.0
    assert machine.settle_due(now) == ()


@pytest.mark.parametrize(("min_wait", "cap"), [(1.0, 30.0), (45.0, 45.0)])
def test_the_pace_grows_to_30_s_or_min_wait_if_longer(min_wait: float, cap: float) -> None:
    """A storm of 429s that lasts makes one request per batch every 30 s at most (or every
    ``min_wait``, if longer), not one a second until the deadline."""
    machine = RunMachine(SettlePolicy(min_wait=min_wait, unknown_wait=max(min_wait, 60.0)))
    machine(BatchRead(0, IDS, 3, 3, 0))
    pauses = [machine.throttled(0, 0.0) for _ in range(12)]
    assert pauses[:3] == pytest.approx([0.1, 0.2, 0.4])
    assert pauses[-1] == cap and max(pauses) == cap
