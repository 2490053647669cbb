"""Settling sooner without settling early (issue 11, speed under faults).

A run times a job from when its accepted submission left (its request slot held), not from
when it began to wait for a slot; settling waits for the longest job measured that way, and
only with polls that left when asked. A parked batch goes again as soon as it is due, while
the other jobs still run; one that surely never reached Zoho goes at once. None of it may
resubmit a lost batch before its lost job ended: each case checks the fake's ledger
(``reserve_ids=False``: an early resubmission converts records twice) and the virtual time at
which Zoho processed every resubmission.

The fake marks each request's departure the way the client's transport does
(``zoho_convert.api.timing.mark_sent``, its slot held), so queueing for a slot costs virtual
time here as it costs real time against Zoho.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fake_convert_api import FakeAPI, FakeJob, SubmitCall, TimedEvents, read_later

from zoho_convert.api.errors import RateLimitError, ServerError, TransportError
from zoho_convert.api.models import JobState, JobStatus
from zoho_convert.api.polling import PlainSchedule, PollPolicy, poll_job
from zoho_convert.api.timing import Clock, forget_sent, last_sent, mark_sent
from zoho_convert.bulk.convert import convert_many
from zoho_convert.bulk.events import (
    BatchRead,
    BatchSplit,
    BatchSubmitted,
    BatchUncertain,
    Event,
    JobFinished,
    LongestJob,
    SubmitStarted,
)
from zoho_convert.bulk.machine import RunMachine
from zoho_convert.bulk.report import ConversionReport
from zoho_convert.bulk.settling import PollTimer, SettlePolicy

DURATION = 1.0
LATENCY = 0.05


class _MarkingSlots(asyncio.Semaphore):
    """The fake's request slots, marking each request's departure once its slot is held."""

    def __init__(self, value: int, clock: Clock) -> None:
        super().__init__(value)
        self._clock = clock

    async def __aenter__(self) -> None:
        await super().__aenter__()
        mark_sent(self._clock())


class MarkingAPI(FakeAPI):
    """``FakeAPI`` whose requests mark their departure as the client's transport does."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.slots = _MarkingSlots(self.max_concurrency, self.clock)
        self._limit = self.slots

    async def hold_slots(self, at: float, seconds: float) -> None:
        """From virtual time ``at``, hold every request slot for ``seconds`` (another
        process of the org busy with the org's request limit)."""
        await self.sleep(at - self.now)
        for _ in range(self.max_concurrency):
            await self.slots.acquire()
        await self.sleep(seconds)
        for _ in range(self.max_concurrency):
            self.slots.release()


def quote_ids(n: int) -> list[str]:
    return [str(7000 + i) for i in range(n)]


def lost_reply() -> ServerError:
    return ServerError(500, "INTERNAL_ERROR", "reply lost", maybe_processed=True)


def first_job(api: FakeAPI, ids: list[str]) -> FakeJob:
    jobs = [job for job in api.jobs.values() if set(job.ids) == set(ids)]
    assert jobs, "no job was made for these ids"
    return min(jobs, key=lambda job: job.created)


def assert_resubmitted_after(api: FakeAPI, job: FakeJob) -> list[SubmitCall]:
    """Every later submission of the job's ids reached Zoho at or after the job's end."""
    later = [call for call in api.calls[job.number + 1 :] if set(call.ids) & set(job.ids)]
    assert later, "the lost batch was never resubmitted"
    early = [c.processed for c in later if c.processed is not None and c.processed < job.ends_at]
    assert not early, f"resubmitted at {early}, before the lost job ended at {job.ends_at}"
    return later


def assert_once(api: FakeAPI, report: ConversionReport, count: int) -> None:
    api.finish_jobs()
    assert not api.converted_twice()
    assert report.ok and report.total == count
    assert report.converted + report.already_converted == count


async def run_queued(api: FakeAPI, recorder: TimedEvents, count: int) -> ConversionReport:
    return await convert_many(api, "Quotes", quote_ids(count), to="Sales_Orders", progress=recorder)


async def test_a_job_is_timed_from_when_its_submission_left_not_while_it_queued() -> None:
    """With 40 batches through 4 request slots, each BatchSubmitted is stamped with the time
    its POST left (slot held), not the time the batch began to wait for a slot."""
    api = MarkingAPI(max_concurrency=4, latency=LATENCY, duration=DURATION)
    recorder = TimedEvents(api)
    report = await run_queued(api, recorder, 2000)
    assert report.ok
    sent = {call.job_id: call.sent for call in api.calls}
    submitted = [(t, e) for t, e in recorder.events if isinstance(e, BatchSubmitted)]
    assert len(submitted) == 40
    assert all(e.at == sent[e.job_id] for _, e in submitted)
    queued = [e.at - recorder.times(SubmitStarted, e.batch)[0] for _, e in submitted]
    assert max(queued) >= 0.35  # the last batches waited that long for a slot


async def test_settling_waits_for_the_job_not_for_the_slot_queue() -> None:
    """The first batch's reply is lost: it is resubmitted once its job ended, sooner than a
    job duration plus the slot queueing other batches met; every record converts once."""
    api = MarkingAPI(
        max_concurrency=4,
        latency=LATENCY,
        duration=DURATION,
        reserve_ids=False,
        submit_faults_after={0: lost_reply()},
    )
    recorder = TimedEvents(api)
    report = await run_queued(api, recorder, 2000)
    lost = first_job(api, quote_ids(50))
    assert_resubmitted_after(api, lost)
    assert_once(api, report, 2000)
    submitted = [(t, e) for t, e in recorder.events if isinstance(e, BatchSubmitted)]
    queueing = max(e.at - recorder.times(SubmitStarted, e.batch)[0] for _, e in submitted)
    assert queueing >= 0.35
    parked = recorder.times(BatchUncertain, 0)[0]
    again = recorder.times(SubmitStarted, 0)[1]
    assert again - parked < DURATION + queueing


async def test_a_poll_that_queued_for_a_slot_does_not_stretch_settling_waits() -> None:
    """The first job's finishing poll waits 2 s for a request slot (the job seems to take
    3 s); the second job's poll leaves when asked. The third batch's reply is lost: it is
    resubmitted once its job ended, after the tightly measured duration and its margin
    (twice it: one job was measured tightly), not after the loose 3 s."""
    api = MarkingAPI(
        max_concurrency=1,
        latency=LATENCY,
        duration=DURATION,
        reserve_ids=False,
        submit_faults_after={2: lost_reply()},
    )
    recorder = TimedEvents(api)
    poll = PollPolicy(initial=0.25, multiplier=1.0, max_interval=0.25, adaptive=False)
    work = convert_many(
        api, "Quotes", quote_ids(150), to="Sales_Orders", progress=recorder, poll=poll,
        max_pending_jobs=1,
    )
    report, _ = await asyncio.gather(work, api.hold_slots(at=1.0, seconds=2.0))
    assert_resubmitted_after(api, first_job(api, quote_ids(150)[100:]))
    assert_once(api, report, 150)
    loose = max(e.seconds for _, e in recorder.events if isinstance(e, LongestJob))
    assert loose >= 3.0  # the late poll: the journaled, loose bound
    parked = recorder.times(BatchUncertain, 2)[0]
    again = recorder.times(SubmitStarted, 2)[1]
    assert again - parked < 2 * DURATION + 0.5 < loose


async def test_a_parked_batch_goes_again_before_every_first_job_ended() -> None:
    """A batch parked early (lost reply) is resubmitted as soon as it is due, while the
    jobs of later batches still run, not after all of them ended."""
    api = MarkingAPI(
        max_concurrency=4,
        latency=LATENCY,
        duration=DURATION,
        reserve_ids=False,
        submit_faults_after={0: lost_reply()},
    )
    recorder = TimedEvents(api)
    report = await run_queued(api, recorder, 2000)
    assert_resubmitted_after(api, first_job(api, quote_ids(50)))
    assert_once(api, report, 2000)
    again = recorder.times(SubmitStarted, 0)[1]
    ends = [t for t, e in recorder.events if isinstance(e, JobFinished) and e.batch]
    # (Refused as converted, it waits for its second look, ``second_look``: its records no
    # longer crowd the request slots then, so the other jobs end sooner than they did.)
    assert again < max(ends) and len([t for t in ends if t > again]) >= 10


async def test_a_parked_batch_goes_again_when_due_even_if_no_job_ends_then() -> None:
    """The second batch's reply is lost. The first batch's job ends before the lost one is
    due; the third batch (read later, so sent after the lost reply) runs 20 s, polled every
    0.25 s. The lost batch goes again at the first poll after its wait is over, not when the
    next job ends. (Read 1 s later: sent after the lost reply by more than the margin a lost
    job is given past the longest seen, so the 20 s job does not count as the lost one's
    twin.)"""
    ids = quote_ids(150)
    durations = {0: 0.5, 2: 20.0}
    api = MarkingAPI(
        latency=LATENCY,
        duration=lambda number: durations.get(number, DURATION),
        reserve_ids=False,
        submit_faults_after={1: lost_reply()},
    )
    recorder = TimedEvents(api)
    poll = PollPolicy(initial=0.25, multiplier=1.0, max_interval=0.25, adaptive=False)
    report = await convert_many(
        api,
        "Quotes",
        read_later(api, ids, first=100, delay=1.0),
        to="Sales_Orders",
        progress=recorder,
        poll=poll,
    )
    assert_resubmitted_after(api, first_job(api, ids[50:100]))
    assert_once(api, report, 150)
    parked = recorder.times(BatchUncertain, 1)[0]  # (then its second look's: ``second_look``)
    again = recorder.times(SubmitStarted, 1)[1]
    assert recorder.times(JobFinished, 0)[0] < parked + SettlePolicy().min_wait
    started = recorder.times(SubmitStarted, 2)[0]
    assert parked + SettlePolicy().min_wait <= again <= 3.0 and started < again  # not at 20 s


@pytest.mark.parametrize(
    ("error", "waits"),
    [
        (RateLimitError(429, "TOO_MANY_REQUESTS", "too many requests"), False),
        (TransportError("connection refused", sent=False), False),
        (TransportError("connection reset", sent=True), True),
    ],
    ids=["429", "not-sent", "maybe-sent"],
)
async def test_a_batch_surely_never_sent_goes_again_after_a_short_pace(
    error: Exception, waits: bool
) -> None:
    """The only batch fails to submit: if the request surely never reached Zoho it goes
    again after the first pace (0.1 s: no job to wait for); if it may have (a dropped
    connection), only after min_wait."""
    api = MarkingAPI(reserve_ids=False, submit_faults={0: error})
    recorder = TimedEvents(api)
    settle = SettlePolicy(min_wait=5.0, unknown_wait=5.0)
    report = await convert_many(
        api, "Quotes", quote_ids(50), to="Sales_Orders", progress=recorder, settle=settle
    )
    assert_once(api, report, 50)
    delay = recorder.times(SubmitStarted, 0)[1] - recorder.times(BatchUncertain, 0)[0]
    if waits:
        assert delay >= 5.0
    else:
        assert delay == pytest.approx(0.1)


async def test_a_refused_resubmission_does_not_wait_again_for_the_lost_job() -> None:
    """A lost batch, resubmitted once its job had time to end, is refused with a 429 (Zoho
    did nothing): it goes again after the first throttle pause (0.1 s), not another lost
    job's wait, since that wait is over."""

    def throttle(call: SubmitCall) -> None:
        if call.number == 1:
            raise RateLimitError(429, "TOO_MANY_REQUESTS", "too many requests")

    api = MarkingAPI(reserve_ids=False, submit_faults_after={0: lost_reply()}, on_send=throttle)
    recorder = TimedEvents(api)
    settle = SettlePolicy(min_wait=5.0, unknown_wait=5.0)
    report = await convert_many(
        api, "Quotes", quote_ids(50), to="Sales_Orders", progress=recorder, settle=settle
    )
    assert_resubmitted_after(api, first_job(api, quote_ids(50)))
    assert_once(api, report, 50)
    assert report.already_converted == 50
    parked, throttled = recorder.times(BatchUncertain, 0)[:2]  # (then its second look's)
    starts = recorder.times(SubmitStarted, 0)
    assert starts[1] - parked >= 5.0 and starts[2] - throttled == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (RateLimitError(429, "TOO_MANY_REQUESTS", "too many requests"), "TOO_MANY_REQUESTS"),
        (TransportError("connection refused", sent=False), "NOT_SUBMITTED"),
    ],
    ids=["429", "not-sent"],
)
async def test_giving_up_on_a_never_sent_batch_rejects_it_with_zohos_code(
    error: Exception, code: str
) -> None:
    """A batch refused on every try, paced until its settling deadline, is rejected with
    Zoho's code (TOO_MANY_REQUESTS), or NOT_SUBMITTED when Zoho never answered; not an error
    class. (The other batch goes at the second call.)"""
    api = MarkingAPI(submit_faults={n: error for n in range(100) if n != 1})
    settle = SettlePolicy(max_rounds=1, deadline=5.0)
    report = await convert_many(
        api, "Quotes", quote_ids(100), to="Sales_Orders", settle=settle
    )
    assert api.submits > 3  # (paced tries use no round)
    assert {r.code for r in report.rejected} == {code}
    assert {r.id for r in report.rejected} == set(quote_ids(50))
    assert report.converted == 50 and not report.uncertain and report.accounted_for


async def test_each_batch_gets_its_own_settling_rounds() -> None:
    """Rounds are counted per batch: a batch whose every submission is lost uses its
    max_rounds while the run goes on and ends uncertain; a batch lost later, once, still
    gets its own resubmission and converts."""
    ids = quote_ids(1200)
    always, once = set(ids[:50]), set(ids[1000:1050])
    failed_once: list[int] = []

    def drop(call: SubmitCall) -> None:  # the connection drops once the POST has left
        if set(call.ids) == always or (set(call.ids) == once and not failed_once):
            if set(call.ids) == once:
                failed_once.append(call.number)
            raise TransportError("connection reset", sent=True)

    api = MarkingAPI(on_send=drop, duration=DURATION)
    report = await convert_many(
        api, "Quotes", ids, to="Sales_Orders", max_pending_jobs=2, settle=SettlePolicy(max_rounds=2)
    )
    tries = {
        name: [c.number for c in api.calls if set(c.ids) == part]
        for name, part in (("always", always), ("once", once))
    }
    assert len(tries["always"]) == 3  # the first submission and two settling rounds
    assert len(tries["once"]) == 2
    assert tries["always"][-1] < tries["once"][0]  # its rounds were used up first
    assert set(report.uncertain) == always
    assert report.converted == 1150 and not report.rejected and report.accounted_for
    api.finish_jobs()
    assert not api.converted_twice()


def test_a_parked_batch_waits_while_an_older_job_still_runs() -> None:
    """Early in a run the longest job seen is the fastest few: a parked batch is not due
    while a job sent no later than its lost submission is still being polled."""
    machine = RunMachine(SettlePolicy(min_wait=1.0))
    done = JobStatus(JobState.COMPLETED, 1, 1, 0, 0)
    events: list[Event] = [BatchRead(n, (str(n),), n + 1, n + 1, 0) for n in range(3)]
    events += [
        BatchSubmitted(0, 1, "j0", at=0.0, answered=0.05),
        BatchSubmitted(1, 1, "j1", at=0.0, answered=0.05),
        BatchUncertain(2, ("2",), 0.1, True, "ServerError: reply lost"),
    ]
    for event in events:
        machine(event)
    for event in machine.finished(0, "j0", done, took=1.0, tight=1.0):
        machine(event)
    machine(JobFinished(0, "j0", 1, done, ("0",)))
    assert machine.settle_due(5.0) == ()  # j1, as old as the lost one, still runs
    machine(JobFinished(1, "j1", 1, done, ("1",)))
    # Due 0.1 s + 1.0 s, and a margin as long again: one job was measured.
    assert [batch.seq for batch in machine.settle_due(2.0)] == []
    assert [batch.seq for batch in machine.settle_due(2.1)] == [2]
    assert machine.settle_due(2.2) == ()  # taken once


def test_a_lost_job_waits_from_its_acceptance_and_split_parts_keep_their_rounds() -> None:
    """A job Zoho forgot started before its acceptance came back: its batch is settled from
    then (not from when the request left). Parts split off a settling batch inherit the
    rounds it used, so splitting never buys more resubmissions."""
    machine = RunMachine(SettlePolicy(max_rounds=2))
    start: list[Event] = [
        BatchRead(0, ("1", "2"), 2, 2, 0),
        BatchSubmitted(0, 2, "j0", at=10.0, answered=10.4),
    ]
    for event in start:
        machine(event)
    events = machine.lost(0, "j0", "Zoho no longer knows the job")
    uncertain = events[-1]
    assert isinstance(uncertain, BatchUncertain) and uncertain.since == 10.4
    assert uncertain.maybe_sent and not uncertain.at_once
    for event in events:
        machine(event)
    (taken,) = machine.settle_due(100.0)
    assert taken.rounds == 1
    machine(BatchSplit(0, ((1, ("1",)), (2, ("2",))), settling=True))
    assert [machine.batches[n].rounds for n in (1, 2)] == [1, 1]


def test_settling_waits_for_the_tight_longest_job_when_one_was_measured() -> None:
    """The settling wait is the longest job measured tightly; the loose one (journaled)
    stands in until a job was measured tightly."""
    machine = RunMachine(SettlePolicy(min_wait=0.5))
    done = JobStatus(JobState.COMPLETED, 1, 1, 0, 0)
    start: list[Event] = [
        BatchRead(0, ("0",), 1, 1, 0),
        BatchRead(1, ("1",), 2, 2, 0),
        BatchSubmitted(0, 1, "j0", at=0.0, answered=0.05),
        BatchUncertain(1, ("1",), 0.0, True, "ServerError: reply lost"),
    ]
    for event in start:
        machine(event)
    for event in machine.finished(0, "j0", done, took=3.0, tight=None):  # a late poll
        machine(event)
    machine(JobFinished(0, "j0", 1, done, ("0",)))
    assert machine.longest_job == 3.0 and machine.settle_due(2.9) == ()
    machine.longest_job_tight = 1.2
    assert [batch.seq for batch in machine.settle_due(1.2)] == [1]


async def test_a_poll_that_queued_for_its_slot_times_its_job_loosely() -> None:
    """PollTimer: a poll that left at once is tight; one that waited 0.5 s for a slot (or
    slept between retries) is not, for a 1 s job. It times the polls ``poll_job`` makes."""
    now = [100.0]

    def clock() -> float:
        return now[0]

    answers = iter([(0.0, True), (0.5, True)])

    async def fetch() -> JobStatus:
        waited, done = next(answers)
        now[0] += waited  # waited for a slot (or slept between retries), then left
        mark_sent(now[0])
        now[0] += 0.1
        return JobStatus(state=JobState.COMPLETED if done else JobState.IN_PROGRESS)

    class Told:
        def __init__(self) -> None:
            self.seen: list[JobStatus | None] = []

        def wait(self, elapsed: float) -> float:
            return 0.0

        def due(self, elapsed: float) -> bool:
            return True

        def polled(self, started: float, ended: float, status: JobStatus | None) -> None:
            self.seen.append(status)

    inner = Told()
    timer = PollTimer(clock, inner)
    policy = PollPolicy()

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    await poll_job(fetch, "1", policy, sleep=sleep, clock=clock, schedule=timer)
    assert timer.lag == 0.0 and timer.tight(1.0)
    assert [s.state for s in inner.seen if s] == [JobState.COMPLETED]  # handed on
    await poll_job(fetch, "1", policy, sleep=sleep, clock=clock, schedule=timer)
    assert timer.lag == pytest.approx(0.5) and not timer.tight(1.0)
    assert timer.tight(20.0)  # 0.5 s late on a 20 s job: within 5 %
    timer.due(0.0)
    timer.polled(0.0, 0.0, None)  # a poll that got no answer leaves the last lag alone
    assert timer.lag == pytest.approx(0.5)


async def test_the_send_mark_belongs_to_the_task_that_sent() -> None:
    """``last_sent`` sees the current task's requests only, and forgets them on demand."""
    forget_sent()

    async def other() -> None:
        mark_sent(42.0)

    await asyncio.ensure_future(other())
    assert last_sent(-1.0) == -1.0
    mark_sent(7.0)
    assert last_sent(-1.0) == 7.0
    forget_sent()
    assert last_sent(-1.0) == -1.0


@pytest.mark.parametrize(("lag", "took"), [(0.02, 0.1), (0.5, 10.0)])
def test_a_poll_exactly_at_its_allowance_still_times_its_job_tightly(
    lag: float, took: float
) -> None:
    """PollTimer.tight's bounds are inclusive: 20 ms late, or 5 % of the job late, is prompt;
    any later is not."""
    timer = PollTimer(lambda: 0.0, PlainSchedule(PollPolicy()))
    assert timer.lag == 0.0 and timer.tight(took)  # no poll yet: nothing late
    timer.lag = lag
    assert timer.tight(took)
    timer.lag = lag * 1.01
    assert not timer.tight(took)
