"""The run's state machine, driven event by event: its settling rounds, deadline and give-up,
and what it makes of a refusal that names every id of a part.

Each test feeds ``RunMachine`` the events a run would publish and checks the decision it
answers with (no I/O, no clock: times are plain numbers).
"""

from __future__ import annotations

import math

import attrs
import pytest

from zoho_convert.api.errors import (
    AuthenticationError,
    InvalidRequestError,
    PermissionDeniedError,
)
from zoho_convert.api.models import JobState, JobStatus
from zoho_convert.bulk.events import (
    BatchGaveUp,
    BatchRead,
    BatchSplit,
    BatchSubmitted,
    BatchUncertain,
    IdsRejected,
    InputEnded,
    JobFinished,
    JobLost,
    JobUnfinished,
    LongestJob,
    RunStopped,
    SubmitStarted,
)
from zoho_convert.bulk.ledger import CLAIMED_ELSEWHERE
from zoho_convert.bulk.machine import BatchState, RunMachine
from zoho_convert.bulk.report import RejectedId
from zoho_convert.bulk.settling import SettlePolicy

IDS = ("101", "102", "103")
# Every lost job is given 5 s (no job duration known yet); settling may take 10 s in all.
POLICY = SettlePolicy(deadline=10.0, min_wait=5.0, unknown_wait=5.0)


IDS_OF = [tuple(f"{seq}{value}" for value in IDS) for seq in range(3)]  # machine_with's


def machine_with(*parked: tuple[int, float]) -> RunMachine:
    """A machine holding one batch per ``(seq, since)``, each sent and then parked ``since``
    (its submission's reply was lost)."""
    machine = RunMachine(POLICY)
    for seq, since in parked:
        ids = tuple(f"{seq}{value}" for value in IDS)
        machine(BatchRead(seq, ids, 3 * (seq + 1), 3 * (seq + 1), 0))
        machine(SubmitStarted(seq))
        machine(BatchUncertain(seq, ids, since, True, "reply lost"))
    return machine


def park_again(machine: RunMachine, seq: int, since: float) -> None:
    """The batch's resubmission was lost too: parked again ``since``."""
    machine(BatchUncertain(seq, machine.batches[seq].ids, since, True, "lost again"))


def test_a_batch_taken_for_resubmission_is_no_longer_parked() -> None:
    """A due batch is taken once: it is resubmitting (not parked), so it is not taken again
    before its resubmission's outcome parks it anew."""
    machine = machine_with((0, 0.0))
    (taken,) = machine.settle_due(5.0)
    assert taken.seq == 0 and taken.state is BatchState.RESUBMITTING and taken.rounds == 1
    assert machine.settle_due(6.0) == () and machine.settle_round(6.0) is None


def test_the_settling_deadline_counts_from_the_first_resubmission() -> None:
    """Asking while a parked batch is not yet due starts no deadline, and other batches taken
    do not restart it: it counts from the batch's first resubmission (due again 10 s after
    it, it still goes; 11 s after, it does not)."""
    machine = machine_with((0, 0.0), (1, 9.0))
    assert machine.settle_due(1.0) == ()  # nothing due yet: settling has not started
    assert [b.seq for b in machine.settle_due(5.0)] == [0]  # settling starts at 5 s
    assert [b.seq for b in machine.settle_due(14.0)] == [1]  # 9 s later: within the deadline
    park_again(machine, 0, 10.0)  # due at 15 s: the deadline, the last moment to go
    assert [b.seq for b in machine.settle_due(15.0)] == [0]
    park_again(machine, 0, 11.0)  # due at 16 s: 11 s after settling started
    assert machine.settle_due(16.0) == ()


def test_no_round_starts_past_the_deadline_of_the_first() -> None:
    """Once settling started (a round planned at 0 s that goes at 5 s: the deadline is
    10 s after), a later round due past the deadline is not planned: what is still parked
    is given up."""
    machine = machine_with((0, 0.0))
    first = machine.settle_round(0.0)
    assert first is not None and first.due == 5.0 and [b.seq for b in first.batches] == [0]
    park_again(machine, 0, 11.0)  # due at 16 s: 11 s after settling started
    assert machine.settle_round(12.0) is None
    assert machine.settle_due(16.0) == ()
    # Given up at 16 s, its lost job not waited for: surely ended at 16 s (5 s after 11 s).
    assert machine.give_up(16.0) == [BatchGaveUp(0, machine.batches[0].ids, "lost again")]
    assert machine.give_up(12.0) == [BatchGaveUp(0, machine.batches[0].ids, "lost again", 4.0)]


def test_no_round_starts_once_the_deadline_has_passed() -> None:
    """A batch due before the deadline, asked about only after it (the round before ran
    long), is not resubmitted: no round starts past the deadline."""
    machine = machine_with((0, 0.0), (1, 4.0))
    first = machine.settle_round(0.0)  # settling starts when the round goes, 9 s: until 19 s
    assert first is not None and first.due == 9.0
    assert [b.seq for b in first.batches] == [0, 1]
    park_again(machine, 1, 13.5)  # due at 18.5 s
    assert machine.settle_round(19.5) is None
    again = machine.settle_round(19.0)  # at the deadline itself: still in time
    assert again is not None and [b.seq for b in again.batches] == [1]


def test_a_batch_due_past_the_deadline_still_gets_its_first_round() -> None:
    """A batch never resubmitted whose lost job's wait ends past now + deadline is not given
    up untried: its first round goes when it falls due (its deadline counts from then)."""
    machine = RunMachine(attrs.evolve(POLICY, deadline=2.0))
    machine(BatchRead(0, IDS, 3, 3, 0))
    machine(SubmitStarted(0))
    machine(BatchUncertain(0, IDS, 1.0, True, "reply lost"))  # due at 6 s
    round_ = machine.settle_round(0.0)
    assert round_ is not None and round_.due == 6.0 and [b.seq for b in round_.batches] == [0]
    assert machine.batches[0].settle_from == 6.0


def test_a_held_part_of_a_batch_out_of_rounds_is_still_looked_at() -> None:
    """A batch that used its every round, split by the ledger: the part another run holds is
    looked at again (looking is not a round), the deadline permitting."""
    machine = machine_with((0, 0.0))
    (taken,) = machine.settle_due(5.0)
    taken.rounds = POLICY.max_rounds
    machine(BatchSplit(0, ((1, IDS[:1]), (2, IDS[1:])), True))
    machine(BatchUncertain(2, IDS[1:], 6.0, True, "held", code=CLAIMED_ELSEWHERE))
    (looked,) = machine.settle_due(11.0)  # min_wait (5 s) after it was parked
    assert looked.seq == 2 and looked.looks == 1 and looked.rounds == POLICY.max_rounds
    assert machine.give_up() == []  # (nothing else parked)


def test_a_job_sent_within_the_margin_after_the_lost_one_holds_it() -> None:
    """A job sent after the lost submission's error came back, but within the margin a lost
    job is given past the longest seen, that still runs holds the batch back (it may be as
    long as the lost one: a double conversion once came of taking its shorter siblings for
    the longest); one sent past the margin does not. Ids another run holds wait for no job."""
    machine = RunMachine(attrs.evolve(POLICY, min_wait=0.1, deadline=100.0))
    done = JobStatus(JobState.COMPLETED, 1, 1, 0, 0)
    sent(machine, 0, ("001",), "5000", 0.0)
    for event in machine.finished(0, "5000", done, took=1.0, tight=1.0):
        machine(event)  # one job measured: a wait of 1 s and a margin of 1 s
    machine(JobFinished(0, "5000", 1, done, ("001",)))
    for seq, code in ((1, ""), (4, "CLAIMED_ELSEWHERE")):
        machine(BatchRead(seq, (f"{seq}01",), 2, 2, 0))
        machine(SubmitStarted(seq))
        machine(BatchUncertain(seq, (f"{seq}01",), 10.0, True, "lost", code))
    sent(machine, 2, ("201",), "5001", 10.9)  # within the margin, still running
    assert [b.seq for b in machine.settle_due(12.5)] == [4]  # held ids: looked at again
    machine(JobFinished(2, "5001", 1, done, ("201",)))
    sent(machine, 3, ("301",), "5002", 11.1)  # past the margin, still running
    assert [b.seq for b in machine.settle_due(12.5)] == [1]


def test_a_batch_sent_again_forgets_why_it_was_parked() -> None:
    """A batch held by another run, then let through and caught mid-submission by a crash,
    is resumed as a lost submission (waiting for its job), not as held ids."""
    machine = RunMachine(POLICY)
    machine(BatchRead(0, ("001",), 1, 1, 0))
    machine(BatchUncertain(0, ("001",), 1.0, False, "held", "CLAIMED_ELSEWHERE"))
    machine(SubmitStarted(0))
    _, _, events = machine.to_restart(50.0)
    assert events == [BatchUncertain(0, ("001",), 50.0, True, "held", "", False)]


def test_a_round_takes_the_batches_due_before_the_deadline_and_leaves_the_rest() -> None:
    """One parked batch due past the deadline (counted from now, when a round would take it)
    does not hold back a round of the others: the round takes those due by then
    (resubmitted when the last of them is due); the late one goes in a round of its own,
    its own deadline counting from when that round takes it."""
    machine = machine_with((0, 0.0), (1, 3.0), (2, 6.0))  # due at 5, 8 and 11 s
    round_ = machine.settle_round(0.0)
    assert round_ is not None and round_.due == 8.0
    assert [b.seq for b in round_.batches] == [0, 1]
    late = machine.settle_round(9.0)
    assert late is not None and late.due == 11.0 and [b.seq for b in late.batches] == [2]
    assert machine.give_up() == []


def test_a_reply_lost_long_after_another_batch_settled_is_still_settled() -> None:
    """Each batch has its own settling deadline: a batch lost 100 s after another one was
    resubmitted (far past that one's deadline) is resubmitted when due, and so is a part
    split off it; the first batch, due again past its own deadline, is not."""
    machine = machine_with((0, 0.0), (1, 100.0))
    assert [b.seq for b in machine.settle_due(5.0)] == [0]
    park_again(machine, 0, 11.0)  # due at 16 s: past its deadline (15 s)
    assert [b.seq for b in machine.settle_due(105.0)] == [1]
    machine(BatchSplit(1, ((3, IDS_OF[1][:1]), (4, IDS_OF[1][1:])), True))
    machine(BatchUncertain(4, IDS_OF[1][1:], 110.0, True, "lost again"))
    assert [b.seq for b in machine.settle_due(115.0)] == [4]  # 10 s after 1 first went
    assert machine.settle_round(116.0) is None


def test_a_round_due_exactly_at_the_deadline_still_goes() -> None:
    """The deadline is the last moment a resubmission may start: a round due exactly then
    is planned."""
    machine = machine_with((0, 0.0))
    assert machine.settle_round(0.0) is not None
    park_again(machine, 0, 5.0)  # due at 10 s: the deadline
    second = machine.settle_round(6.0)
    assert second is not None and second.due == 10.0 and second.batches[0].rounds == 2


def test_give_up_ends_every_parked_batch_and_only_those() -> None:
    """Settling gives up on each parked batch, wherever it stands among the others (a batch
    whose job still runs is left to its poller): each ends uncertain with its reason."""
    machine = RunMachine(POLICY)
    machine(BatchRead(0, ("901", "902"), 2, 2, 0))  # first in line, its job still running
    machine(SubmitStarted(0))
    machine(BatchSubmitted(0, 2, "5000", False, 0.0, 0.1))
    for seq in (1, 2):
        ids = (f"{seq}01", f"{seq}02")
        machine(BatchRead(seq, ids, 2 + 2 * seq, 2 + 2 * seq, 0))
        machine(SubmitStarted(seq))
        machine(BatchUncertain(seq, ids, 0.0, True, f"reply {seq} lost"))
    assert machine.give_up(5.0) == [
        BatchGaveUp(1, ("101", "102"), "reply 1 lost"),
        BatchGaveUp(2, ("201", "202"), "reply 2 lost"),
    ]


def test_a_refusal_naming_every_id_of_a_part_submits_nothing_more() -> None:
    """Zoho refuses a part naming each of its ids: they are all rejected with Zoho's code, and
    no part is left to submit (not even an empty one)."""
    machine = RunMachine(POLICY)
    machine(BatchRead(0, IDS[:2], 2, 2, 0))
    error = InvalidRequestError(400, "INVALID_DATA", "invalid ids", {"ids": list(IDS[:2])})
    verdict = machine.refused(0, IDS[:2], error, settling=False, at=1.0)
    assert verdict is not None
    events, parts = verdict
    rejected = tuple(RejectedId(value, "INVALID_DATA", "invalid ids") for value in IDS[:2])
    assert events == [IdsRejected(0, rejected)] and parts == []


def sent(machine: RunMachine, seq: int, ids: tuple[str, ...], job: str, at: float) -> None:
    """Read, sent and accepted at ``at`` (answered 0.5 s later) with job ``job``."""
    machine(BatchRead(seq, ids, len(ids), len(ids), 0))
    machine(SubmitStarted(seq))
    machine(BatchSubmitted(seq, len(ids), job, False, at, at + 0.5))


def test_a_job_id_given_twice_parks_the_second_batch() -> None:
    """Zoho answers a second batch with a job id it gave the first: the second is parked from
    when that answer came, saying why; a new job id is an ordinary acceptance."""
    machine = RunMachine(POLICY)
    sent(machine, 0, IDS, "5000", 1.0)
    machine(BatchRead(1, ("201",), 4, 4, 0))
    reason = "Zoho answered with job id 5000, already given to another batch"
    twice = machine.accepted(1, ("201",), "5000", settling=False, sent_at=2.0, answered=2.5)
    assert twice == BatchUncertain(1, ("201",), 2.5, True, reason, suspects=(0,))
    fresh = machine.accepted(1, ("201",), "5001", settling=True, sent_at=2.0, answered=2.5)
    assert fresh == BatchSubmitted(1, 1, "5001", True, 2.0, 2.5)


def test_a_final_status_with_odd_counts_makes_the_job_lost() -> None:
    """A final status whose counts do not add up ends the job as lost (its ids parked from
    when Zoho accepted it); so does one that adds up to another total than the records sent
    (hunt round 8: before, it finished the job, with a warning, its counts clipped)."""
    machine = RunMachine(POLICY)
    sent(machine, 0, IDS, "5000", 1.0)
    odd = JobStatus(JobState.COMPLETED, 3, 3, 0, 1)
    events = machine.finished(0, "5000", odd, took=4.0, tight=3.0)
    reason = "its final status has counts that are missing or do not add up"
    assert events == [  # (untimed: such a status may come before the job ran, round 8)
        JobLost(0, "5000", 3, reason, odd),
        BatchUncertain(0, IDS, 1.5, True, f"job 5000 lost: {reason}"),
    ]
    # (Not measured tightly: a status that cannot account for its batch may come before the
    # job ran, hunt round 8.)
    assert machine.longest_job_tight == 0.0 and machine.tight_jobs == 0
    sent(machine, 1, IDS[:2], "5001", 2.0)
    machine(LongestJob(4.0))
    other = JobStatus(JobState.COMPLETED, 3, 3, 0, 0)
    events = machine.finished(1, "5001", other, took=4.0)
    reason = "its final status counts 3 records, not the 2 sent"
    assert events == [
        JobLost(1, "5001", 2, reason, other),
        BatchUncertain(1, IDS[:2], 2.5, True, f"job 5001 lost: {reason}"),
    ]


@pytest.mark.parametrize("settling", [False, True])
@pytest.mark.parametrize("by_record", [False, True])
def test_a_settling_job_lost_too_is_checked_record_by_record(
    settling: bool, by_record: bool
) -> None:
    """A lost job parks its ids to wait for it; a settling job lost as well (a server that
    forgets jobs as they end would lose every one) has its records checked one by one once
    that wait is over, when the single convert is usable: a check, taking no round."""
    machine = RunMachine(POLICY)
    machine(BatchRead(0, IDS, 3, 3, 0))
    machine(SubmitStarted(0))
    machine(BatchSubmitted(0, 3, "5000", settling, 1.0, 1.5))
    events = machine.lost(0, "5000", "forgotten", by_record=by_record)
    check = settling and by_record
    assert events == [
        JobLost(0, "5000", 3, "forgotten"),
        BatchUncertain(0, IDS, 1.5, True, "job 5000 lost: forgotten", "", False, check),
    ]
    for event in events:
        machine(event)
    batch = machine.batches[0]
    assert (batch.by_record, batch.check_pending) == (check, check)
    assert machine.settle_due(6.0) == ()  # its lost job's wait (5 s from 1.5 s) first
    (taken,) = machine.settle_due(6.5)
    assert taken.rounds == (0 if check else 1)


def test_a_parked_batch_waits_while_an_older_job_runs() -> None:
    """A parked batch is not due while a job sent no later than its lost submission still
    runs; one none of whose submissions can have reached Zoho goes at once regardless."""
    machine = RunMachine(POLICY)
    sent(machine, 0, ("901",), "5000", 1.0)  # still running
    for seq, since, at_once in ((1, 2.0, False), (2, 2.0, True)):
        machine(BatchRead(seq, (f"{seq}01",), 3, 3, 0))
        machine(SubmitStarted(seq))
        machine(BatchUncertain(seq, (f"{seq}01",), since, not at_once, "lost", "", at_once))
    assert [b.seq for b in machine.settle_due(2.0)] == [2]  # at once: no wait, no cohort
    assert machine.settle_due(8.0) == ()  # due at 7 s, but the job sent at 1 s still runs
    machine(JobFinished(0, "5000", 1, JobStatus(JobState.COMPLETED, 1, 1, 0, 0)))
    assert [b.seq for b in machine.settle_due(8.0)] == [1]


def test_a_batch_sent_after_the_lost_one_does_not_hold_it() -> None:
    """Only a job sent no later than the lost submission holds a parked batch back: one sent
    after it does not, and the batch goes once its wait is over."""
    machine = RunMachine(POLICY)
    machine(BatchRead(1, ("101",), 1, 1, 0))
    machine(SubmitStarted(1))
    machine(BatchUncertain(1, ("101",), 2.0, True, "lost"))
    sent(machine, 2, ("201",), "5000", 2.0)  # sent at the same time: holds it
    assert machine.settle_due(7.0) == ()
    machine(JobFinished(2, "5000", 1, JobStatus(JobState.COMPLETED, 1, 1, 0, 0)))
    sent(machine, 3, ("301",), "5001", 2.5)  # sent later: does not
    assert machine.settle_due(6.9) == ()  # not yet due: 2 s + the 5 s wait
    assert [b.seq for b in machine.settle_due(7.0)] == [1]


def test_settling_waits_for_the_longest_job_measured_tightly_when_known() -> None:
    """A lost job is given the longest tightly measured job duration to finish and a margin
    (how much those durations varied, widened by (n + 1) / (n - 1) for n of them, and the
    longest over their number), else the longest loosely bounded one, and never less than
    min_wait."""
    machine = machine_with((0, 0.0))
    machine(LongestJob(8.0))
    assert machine.settle_due(7.9) == () and machine.settle_round(0.0) is not None
    assert machine.batches[0].state is BatchState.RESUBMITTING
    for tight, due in (
        ((4.0,), 8.0),  # one job measured: the margin is as long again
        ((6.0,) * 6, 7.0),  # six: a sixth of it
        ((4.0, 5.0, 5.0, 5.0, 5.0), 7.5),  # varied by 1 s: 1.5 s over five, and a fifth of 5 s
    ):
        machine = machine_with((0, 0.0))
        machine(LongestJob(8.0))
        machine.longest_job_tight, machine.shortest_job_tight = max(tight), min(tight)
        machine.tight_jobs = len(tight)
        round_ = machine.settle_round(0.0)
        assert round_ is not None and round_.due == due
    machine = machine_with((0, 0.0))
    machine(LongestJob(0.5))
    round_ = machine.settle_round(0.0)
    assert round_ is not None and round_.due == 5.0  # min_wait


def test_a_batch_out_of_rounds_is_not_resubmitted_but_given_up() -> None:
    """A batch resubmitted max_rounds times and parked again is not taken again: settling
    gives up on it (rejected with Zoho's last code when none of its submissions can have
    reached Zoho, NOT_SUBMITTED when Zoho never answered)."""
    machine = RunMachine(attrs.evolve(POLICY, max_rounds=1))
    for seq, code in ((0, "TOO_MANY_REQUESTS"), (1, "")):
        machine(BatchRead(seq, (f"{seq}01",), 1, 1, 0))
        machine(BatchUncertain(seq, (f"{seq}01",), 0.0, False, f"refused {seq}", code, True))
    round_ = machine.settle_round(0.0)
    assert round_ is not None and [b.seq for b in round_.batches] == [0, 1]
    for seq, code in ((0, "TOO_MANY_REQUESTS"), (1, "")):
        machine(BatchUncertain(seq, (f"{seq}01",), 1.0, False, f"again {seq}", code, True))
    assert machine.settle_round(1.0) is None and machine.settle_due(1.0) == ()
    assert machine.give_up() == [
        IdsRejected(0, (RejectedId("001", "TOO_MANY_REQUESTS", "again 0"),)),
        IdsRejected(1, (RejectedId("101", "NOT_SUBMITTED", "again 1"),)),
    ]


def test_a_stopped_run_tells_what_was_never_sent_and_what_may_have_been() -> None:
    """When the run stops: a running job is unfinished, a batch being sent or settling is
    uncertain, a batch only read (or parked, never sent) is not submitted."""
    machine = RunMachine(POLICY)
    sent(machine, 0, ("001",), "5000", 1.0)
    machine(BatchRead(1, ("101",), 2, 2, 0))
    machine(SubmitStarted(1))
    machine(BatchRead(2, ("201",), 3, 3, 0))
    machine(BatchRead(3, ("301",), 4, 4, 0))
    machine(BatchUncertain(3, ("301",), 1.0, True, "lost"))
    machine(BatchRead(4, ("401",), 5, 5, 0))
    machine(BatchUncertain(4, ("401",), 1.0, False, "refused", "", True))
    # (Job 0, sent before them, still runs: when their lost jobs end is unknown.)
    assert machine.stopped("credits ran low", 2.0) == [
        JobUnfinished(0, "5000", 1, None, ("001",), False),
        RunStopped(("201", "401"), ("101", "301"), "credits ran low", math.inf),
    ]


def test_a_stopped_run_says_when_its_lost_jobs_have_surely_ended() -> None:
    """Stopped at 3 s (a lost job is given 5 s): a batch parked at 2 s for a lost reply is
    due at 7 s; a batch being sent may have landed at 3 s: 8 s; a batch taken to go again
    is due already; so is a batch only read."""
    assert machine_with((0, 2.0)).stopped("", 3.0)[-1] == RunStopped((), IDS_OF[0], "", 4.0)
    machine = machine_with((0, 2.0), (1, 0.0))
    machine(SubmitStarted(1))
    assert machine.stopped("", 3.0)[-1] == RunStopped((), (*IDS_OF[0], *IDS_OF[1]), "", 5.0)
    machine = machine_with((0, 0.0))
    machine.settle_due(5.0)
    machine(BatchRead(1, ("111",), 4, 4, 0))
    assert machine.stopped("", 6.0)[-1] == RunStopped(("111",), IDS_OF[0], "", 0.0)
    machine = machine_with((0, 0.0), (1, 2.0))
    (round_,) = [machine.settle_round(3.0)]  # taken for a round due at 7 s, sleeping
    assert round_ is not None and round_.due == 7.0
    assert machine.stopped("", 3.0)[-1] == RunStopped((), (*IDS_OF[0], *IDS_OF[1]), "", 4.0)


def test_a_post_in_flight_when_the_run_stopped_may_start_a_job_a_request_timeout_later() -> None:
    """The client's requests may take 30 s: a POST in flight when the run stopped may start
    its job up to 30 s on (a server still at work on it), and that job is given the lost job's
    wait (5 s) from then."""
    machine = RunMachine(POLICY, in_flight_grace=30.0)
    machine(BatchRead(0, ("001",), 1, 1, 0))
    machine(SubmitStarted(0))
    assert machine.stopped("", 3.0)[-1] == RunStopped((), ("001",), "", 35.0)


def test_a_stopped_run_cannot_say_when_a_lost_job_ends_while_an_older_job_ran() -> None:
    """A job sent before a lost submission (or within the margin after it) had not ended when
    the run stopped, at the poll timeout or on the stop: the lost job may run as long, so when
    it ends is unknown. A job sent well after it says nothing of it."""
    machine = machine_with((2, 1.0))
    sent(machine, 0, ("001",), "5000", 0.5)
    machine(JobUnfinished(0, "5000", 1, None, ("001",), False))
    assert machine.stopped("", 3.0)[-1].lost_jobs_end == math.inf
    machine = machine_with((2, 1.0))
    sent(machine, 0, ("001",), "5000", 1.5)  # (no job measured: no margin)
    assert machine.stopped("", 3.0)[-1].lost_jobs_end == 3.0


def test_a_submission_that_stops_the_run_is_never_sent_only_if_surely_so() -> None:
    """A refusal Zoho answered, of a batch sent once, parks it as never sent (not submitted,
    its claims given back); one Zoho may have processed, or a settling batch's (an earlier
    submission may have landed), is left in flight: uncertain when the run stops."""
    refused = AuthenticationError(401, "INVALID_TOKEN", "invalid oauth token")
    maybe = AuthenticationError(401, "INVALID_TOKEN", "invalid oauth token", maybe_processed=True)
    machine = machine_with((2, 0.0))
    for seq in (0, 1):
        machine(BatchRead(seq, (f"{seq}01",), seq + 1, seq + 1, 0))
        machine(SubmitStarted(seq))
    machine(SubmitStarted(2))  # a settling resubmission
    (parked,) = machine.stopped_by(0, refused, 3.0)
    assert parked == BatchUncertain(0, ("001",), 3.0, False, parked.reason, "INVALID_TOKEN", True)
    assert machine.stopped_by(1, maybe, 3.0) == [] and machine.stopped_by(2, refused, 3.0) == []
    assert machine.stopped_by(1, RuntimeError("the client's own, after Zoho's reply"), 3.0) == []
    machine(parked)
    assert machine.stopped("", 3.0) == [
        RunStopped(("001",), (*machine.batches[2].ids, "101"), "", 5.0)
    ]


def test_a_resumed_run_restarts_each_batch_from_its_state() -> None:
    """Resumed: read batches are submitted, submitted ones polled (timed from now), and those
    caught mid-submission or parked are parked from now: to wait for a lost job if one of
    their submissions may have reached Zoho, else to go again at once, Zoho's code kept."""
    machine = RunMachine(POLICY)
    machine(BatchRead(0, ("001",), 1, 1, 0))
    sent(machine, 1, ("101",), "5000", 1.0)
    machine(BatchRead(2, ("201",), 3, 3, 0))
    machine(SubmitStarted(2))
    machine(BatchRead(3, ("301",), 4, 4, 0))
    machine(BatchUncertain(3, ("301",), 1.0, False, "refused", "TOO_MANY_REQUESTS", True))
    to_submit, to_poll, events = machine.to_restart(50.0)
    assert [b.seq for b in to_submit] == [0]
    assert [(b.seq, b.since, b.answered) for b in to_poll] == [(1, 50.0, 50.0)]
    assert events == [
        BatchUncertain(2, ("201",), 50.0, True, "parked by an earlier session"),
        BatchUncertain(3, ("301",), 50.0, False, "refused", "TOO_MANY_REQUESTS", True),
    ]


def test_folding_keeps_the_numbers_and_the_input_position() -> None:
    """Folding events keeps the next free batch number past every batch read or split off,
    the input's position and duplicates, and the gate open once Zoho took or refused ids."""
    machine = RunMachine(POLICY)
    machine(BatchRead(4, IDS, 3, 7, 2))
    assert (machine.next_seq, machine.position, machine.duplicates) == (5, 7, 2)
    assert not machine.gate_open
    machine(BatchSplit(4, ((9, IDS[:1]), (6, IDS[1:])), True))
    assert machine.next_seq == 10 and machine.new_seq() == 10 and machine.next_seq == 11
    assert {s: (b.ids, b.settling) for s, b in machine.batches.items()} == {
        9: (IDS[:1], True),
        6: (IDS[1:], True),
    }
    machine(IdsRejected(9, ()))
    assert machine.gate_open and 9 not in machine.batches
    machine(InputEnded(12, 3))
    assert (machine.position, machine.duplicates, machine.input_ended) == (12, 3, True)


def test_a_job_accepted_at_an_unknown_time_is_settled_from_when_it_was_sent() -> None:
    """When Zoho's acceptance time is unknown (an older journal), a lost job is settled from
    when its request left."""
    machine = RunMachine(POLICY)
    machine(BatchRead(0, IDS, 3, 3, 0))
    machine(BatchSubmitted(0, 3, "5000", False, 4.0))
    assert machine.lost(0, "5000", "gone")[-1] == BatchUncertain(
        0, IDS, 4.0, True, "job 5000 lost: gone"
    )


def test_a_job_id_lost_in_an_earlier_session_is_not_trusted_again() -> None:
    """Replayed from a journal, a lost job's id (its batch parked, no longer submitted) is
    still known: Zoho giving it to another batch parks that batch."""
    machine = RunMachine(POLICY)
    machine(BatchRead(0, IDS, 3, 3, 0))
    machine(BatchUncertain(0, IDS, 0.0, True, "parked by an earlier session"))
    machine(JobLost(0, "5000", 3, "Zoho no longer knows the job"))
    machine(BatchRead(1, ("201",), 4, 4, 0))
    verdict = machine.accepted(1, ("201",), "5000", settling=False, sent_at=1.0, answered=1.5)
    assert isinstance(verdict, BatchUncertain) and verdict.maybe_sent


@pytest.mark.parametrize("status", [400, 403])
@pytest.mark.parametrize("single", [False, True], ids=["mass", "single"])
def test_an_unreadable_refusal_stops_the_run_only_before_any_request_was_accepted(
    single: bool, status: int
) -> None:
    """A 400 or 403 whose body is not Zoho's error (cut short): before any submission was
    accepted it may be about the request, so it stops the run (None); once one was, it is
    taken for its ids' and the batch goes again (at once, or after a record's pause: nothing
    of it was processed), keeping the code to reject it with if it never goes through."""
    machine = machine_with((0, 0.0))
    machine(SubmitStarted(0))
    kind = InvalidRequestError if status == 400 else PermissionDeniedError
    code = f"HTTP_{status}"
    unreadable = kind(status, code, f"HTTP {status} without a Zoho error body")
    assert machine.refused(0, IDS_OF[0], unreadable, settling=False, at=3.0, single=single) is None
    machine.gate_open = True
    verdict = machine.refused(0, IDS_OF[0], unreadable, settling=False, at=3.0, single=single)
    assert verdict is not None
    ((parked,), parts) = verdict
    assert isinstance(parked, BatchUncertain) and parts == []
    assert (parked.ids, parked.code, parked.at_once) == (IDS_OF[0], code, True)
    assert parked.since == (3.0 + machine.record_pause(0) if single else 3.0)
    assert parked.maybe_sent is single  # (a record parked with a pause: as Zoho answered it)
    other = InvalidRequestError(400, "MANDATORY_NOT_FOUND", "a field is missing")
    assert machine.refused(0, IDS_OF[0], other, settling=False, at=3.0, single=single) is None
