"""The driver of a run: it performs the I/O the state machine's decisions call for.

It reads the input into batches, submits them (each through the gate until one is accepted),
polls their jobs, resubmits uncertain batches as they fall due (asked after every poll and
job end, then in rounds once no job runs), and publishes every outcome as an event to the run's
subscribers: the state machine first, then the tally (the report), the journal and the
caller's progress callback. What an outcome *means* is the machine's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import Any, TypeVar

from zoho_convert.api.errors import JobNotFoundError, PollTimeoutError
from zoho_convert.api.models import JobStatus
from zoho_convert.api.polling import PlainSchedule, PollPolicy, poll_job
from zoho_convert.api.timing import forget_sent, last_sent
from zoho_convert.bulk.adaptive import AdaptiveSchedule, DurationEstimator
from zoho_convert.bulk.binding import Endpoints
from zoho_convert.bulk.credits_floor import CreditsFloor
from zoho_convert.bulk.events import (
    BatchSubmitted,
    BatchUncertain,
    Event,
    InputEnded,
    ProgressCallback,
    SubmitStarted,
)
from zoho_convert.bulk.job_watch import JobWatch
from zoho_convert.bulk.journal import Journal
from zoho_convert.bulk.keeper import LedgerKeeper
from zoho_convert.bulk.machine import RunMachine
from zoho_convert.bulk.reader import Reader
from zoho_convert.bulk.records import RecordSettler
from zoho_convert.bulk.report import ConversionReport
from zoho_convert.bulk.spec import RunParams
from zoho_convert.bulk.tally import Tally
from zoho_convert.bulk.tasks import Stopped, all_to_end, cancel_all, within

__all__ = ["Run"]

logger = logging.getLogger("zoho_convert.bulk")

T = TypeVar("T")
A = TypeVar("A")


class Run:
    """One run (one ``convert_many`` or ``resume`` session): its subscribers and its I/O."""

    def __init__(
        self,
        endpoints: Endpoints,
        spec: RunParams,
        machine: RunMachine,
        *,
        concurrency: int | None,
        poll: PollPolicy,
        progress: ProgressCallback | None,
        journal: Journal | None,
        max_pending_jobs: int | None,
        min_credits: int | None = None,
    ) -> None:
        limit = endpoints.max_concurrency
        if concurrency is None:
            concurrency = limit
        self.endpoints = endpoints
        self.spec = spec
        self.machine = machine
        self.tally = Tally()
        self.poll, self.progress, self.journal = poll, progress, journal
        self.sleep, self.clock = endpoints.timing.sleep, endpoints.timing.clock
        # A run holds request slots of its own when the caller asked for fewer than the client
        # has; when journaled (a batch journaled "submitting" holds its slot, so after a crash it
        # is not mistaken for one queued); with min_credits. Else None: no ``async with`` per call.
        bounded = concurrency < limit or journal is not None or min_credits is not None
        self.requests = asyncio.Semaphore(concurrency) if bounded else None
        pending = max_pending_jobs or max(100, 50 * min(concurrency, limit))
        self.slots = asyncio.Semaphore(pending)
        self.estimator = DurationEstimator()
        self.tasks: set[asyncio.Task[None]] = set()
        self.timers: set[asyncio.Task[None]] = set()  # wake-ups of parked batches (not waited)
        self.fatal: BaseException | None = None
        self.input_error: BaseException | None = None  # raised once what was read has ended
        self.started = self.clock()
        self.requests_before = endpoints.request_count()
        self._gate = asyncio.Lock()
        self.floor = None if min_credits is None else CreditsFloor(endpoints.credits, min_credits)
        self.halted = ""  # why the run stopped submitting on purpose (credits ran low)
        # A claim outlives the job it covers: the longest a job is polled, and a margin.
        self.claim_ttl = ttl = poll.timeout + 120.0
        ledger = endpoints.ledger
        self.keeper = None if ledger is None else LedgerKeeper(ledger, spec.module, ttl, machine)
        single, slots = endpoints.convert_record, min(concurrency, limit)
        self.records = None if single is None else RecordSettler(
            self, single, slots, checks_only=endpoints.record_checks_only
        )

    # -- events ---------------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        """Hand one event to every subscriber (the machine first: the others may ask it)."""
        self.machine(event)
        if type(event) is BatchUncertain and event.at_once:
            self.wake_when_due(event.batch)
        self.tally(event)
        if self.journal is not None:
            self.journal.record(event)
        if self.keeper is not None:
            self.keeper(event)
        if self.progress is not None:
            try:
                self.progress(event)
            except Exception:  # a broken progress bar must not break a conversion run
                logger.exception("progress callback raised; ignoring")

    def publish_all(self, events: Iterable[Event]) -> None:
        for event in events:
            self.publish(event)

    # -- reading ----------------------------------------------------------------------------

    async def read(self, reader: Reader, ids: Iterable[Any] | AsyncIterable[Any]) -> None:
        """Read the input into batches and start each; stop reading when the run stops."""

        async def dispatch(batch: tuple[str, ...]) -> None:
            if reader.refused:
                self.publish(reader.take_refused())
            seq = self.machine.new_seq()
            self.publish(reader.batch_read(seq, batch))
            await self.slots.acquire()
            self.spawn(self.run_batch(seq, submit=True))
            await asyncio.sleep(0)  # let the batch start now, not after the whole input

        try:
            await reader.read(ids, dispatch, self.stopping)
        except Exception as error:
            self.input_error = error  # stop reading; what was read still goes to its end
        last = reader.take_partial()
        if self.stopping() or self.input_error is not None:
            # Read but not sent: journaled and reported as not submitted (resume sends them).
            if reader.refused:
                self.publish(reader.take_refused())
            if last:
                self.publish(reader.batch_read(self.machine.new_seq(), last))
            return
        if last:
            await dispatch(last)
        if reader.refused:
            self.publish(reader.take_refused())
        self.publish(InputEnded(reader.position, reader.duplicates))

    @property
    def checkable(self) -> bool:
        """Whether the single convert may check records (Zoho has not refused the call)."""
        return self.records is not None and self.records.usable

    @property
    def quick_checks(self) -> bool:
        """Whether the single convert may check records for speed too (not Convert Lead)."""
        return self.checkable and not self.endpoints.record_checks_only

    def stopping(self) -> bool:
        """Whether the run stopped (an error) or stopped submitting (credits ran low)."""
        return self.fatal is not None or bool(self.halted)

    def spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -- one batch --------------------------------------------------------------------------

    async def run_batch(self, seq: int, *, submit: bool) -> None:
        """Submit a batch (isolating ids Zoho refuses) and wait for its jobs; or, ``submit``
        False, wait for the job it has (submitted by an earlier session: not timed)."""
        try:
            accepted: list[int] = [] if submit else [seq]
            part = seq if not submit or self.keeper is None else await self.through_ledger(seq)
            if submit and part >= 0:
                if self.records is not None and self.records.wanted(part):
                    await self.records.settle(part)
                else:
                    await self.submit_isolating(part, accepted)
            await all_to_end(self.await_job(part, timed=submit) for part in accepted)
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # a run-wide error, or a bug: stop the run with it
            if self.fatal is None:
                self.fatal = error
        finally:
            self.slots.release()
            if self.keeper is not None:
                with contextlib.suppress(Exception):  # an optimisation: never fatal
                    await self.keeper.flush()

    async def through_ledger(self, seq: int) -> int:
        """The part of a batch the fleet's ledger lets through, -1 for none (``screen``)."""
        assert self.keeper is not None
        batch = self.machine.batches[seq]
        events, part = await self.keeper.screen(
            seq, batch.ids, batch.settling, self.machine.new_seq, self.clock(), self.claim_ttl
        )
        self.publish_all(events)
        return part

    async def submit_isolating(self, seq: int, accepted: list[int]) -> None:
        """Submit a batch, splitting out ids Zoho refuses until the rest is accepted (the parts
        side by side); the parts with a job go to ``accepted``."""
        parts = await self.submit_part(seq, accepted)
        if parts:
            await all_to_end(self.submit_isolating(part, accepted) for part in parts)

    async def submit_part(self, seq: int, accepted: list[int]) -> list[int]:
        """Submit one part; return the parts to submit next when Zoho refused some ids."""
        batch = self.machine.batches[seq]
        if self.stopping():  # (min_credits is read in _post, with the request slot held)
            return []  # not sent: the machine still holds it (not submitted, or parked)
        settling = batch.settling
        # The job's clock starts when the accepted request left (the transport marks it, its
        # slot held), not while it waited for a slot or slept between retries.
        forget_sent()
        queued_at = self.clock()
        try:
            if self.machine.gate_open:
                job_id = await self.post(seq, self.endpoints.submit, batch.ids)
            else:
                job_id = await self.through_gate(seq, batch.ids)
        except Stopped:
            return []
        except Exception as error:
            at = self.clock()
            verdict = self.machine.refused(
                seq, batch.ids, error, settling=settling, at=at, quick_checks=self.quick_checks,
                checks=self.checkable,
            )
            if verdict is None:
                # The same request would fail for every batch: the run stops now (parts of
                # this batch still being sent must not wait for it), this batch noted as never
                # sent if it surely was not.
                if self.fatal is None:
                    self.fatal = error
                self.publish_all(self.machine.stopped_by(seq, error, at))
                raise
            events, parts = verdict
            self.publish_all(events)
            return [part for part, _ in parts]
        sent_at, answered = last_sent(queued_at), self.clock()
        event = self.machine.accepted(
            seq, batch.ids, job_id, settling=settling, sent_at=sent_at, answered=answered
        )
        self.publish(event)
        if type(event) is BatchSubmitted:
            accepted.append(seq)
        return []

    async def through_gate(self, seq: int, ids: tuple[str, ...]) -> str:
        """Submit one part while no submission has been accepted yet: one at a time."""
        async with self._gate:
            if self.stopping():
                raise Stopped()
            if not self.machine.gate_open:
                return await self.post(seq, self.endpoints.submit, ids)
        return await self.post(seq, self.endpoints.submit, ids)

    async def post(self, seq: int, send: Callable[[A], Awaitable[T]], arg: A) -> T:
        """Make one converting POST of a batch, ``send(arg)``: journaled first, ``min_credits``
        permitting (else ``Stopped``). (A function and its argument: no closure per batch.)"""
        if self.requests is None:  # the client's slots only: no journal, no min_credits
            self.publish(SubmitStarted(seq))
            return await send(arg)
        async with self.requests:
            floor = self.floor
            if floor is not None:  # ``min_credits`` remain, or the run halts (``halted``)
                if not self.stopping():
                    self.halted = await floor.breached()  # one read per POST, its slot held
                if self.stopping():
                    raise Stopped()  # read with the slot held: batches queued behind stop too
            self.publish(SubmitStarted(seq))
            if self.journal is not None:  # (a journaled run has its own request slots)
                await self.journal.flush()  # on disk before the POST leaves
            return await send(arg)

    async def await_job(self, seq: int, *, timed: bool) -> None:
        """Poll one job to its end, publish what became of it, and resubmit the parked
        batches now due. ``timed``: the job was submitted in this session (its duration can
        be measured)."""
        batch = self.machine.batches[seq]
        job_id = batch.job_id
        assert job_id is not None
        call: Callable[[], Awaitable[JobStatus]] = functools.partial(self.endpoints.status, job_id)
        if self.requests is not None:  # within the run's own request slots too
            call = functools.partial(within, self.requests, call)
        # A job an earlier session sent is timed from the resume: no duration, so it learns on
        # an estimator of its own (a lost job's wait must not shrink to its seeming length).
        estimator = self.estimator if timed else DurationEstimator()
        poll = self.poll
        schedule = AdaptiveSchedule(poll, estimator) if poll.adaptive else PlainSchedule(poll)
        # The schedule, how late each poll left, whether Zoho's status could be used, and
        # after each poll what fell due.
        timer = JobWatch(self.clock, schedule, self, seq, timed, call)
        estimator.pending += 1
        try:
            status = await poll_job(
                timer.poll, job_id, self.poll, sleep=self.sleep, clock=self.clock, schedule=timer
            )
        except PollTimeoutError as timeout:
            self.publish(self.machine.unfinished(seq, job_id, timeout.last_status, timed_out=True))
        except JobNotFoundError as lost:
            reason = f"Zoho no longer knows the job ({lost.status} {lost.code})"
            seen, by_record = timer.seen_running(timed), self.checkable  # (its pace: its wait)
            self.publish_all(self.machine.lost(seq, job_id, reason, seen=seen, by_record=by_record))
        except BaseException:
            # Could not learn its fate (the run is stopping): it is still unfinished for us.
            self.publish(self.machine.unfinished(seq, job_id, None))
            raise
        else:
            took = self.clock() - batch.since
            tight = took if timed and timer.tight(took) else None
            loose = max(estimator.max_seen, took) if timed else 0.0
            finished = self.machine.finished(
                seq, job_id, status, took=loose, tight=tight, by_record=self.checkable
            )
            self.publish_all(finished)
        finally:
            estimator.pending -= 1
        self.settle_now(self.clock())

    # -- the whole run ----------------------------------------------------------------------

    async def wait_idle(self) -> None:
        while self.tasks:
            await asyncio.wait(set(self.tasks))

    def settle_now(self, now: float) -> None:
        """Resubmit the parked batches due by ``now`` (``RunMachine.settle_due``)."""
        if not self.stopping():
            for due in self.machine.settle_due(now):
                self.spawn(self.resubmit(due.seq))

    def wake_when_due(self, seq: int) -> None:
        """Resubmit a batch parked ``at_once`` once due, even if no job is polled then (one
        parked for a lost job's sake waits a job's duration: the polls of running jobs ask
        meanwhile, and the settling rounds once none runs)."""
        due = self.machine.due_at(seq)

        async def settle_when_due() -> None:
            await self.sleep(max(0.0, due - self.clock()))
            self.settle_now(max(self.clock(), due))  # (a timer may wake just before its time)

        timer = asyncio.ensure_future(settle_when_due())
        self.timers.add(timer)
        timer.add_done_callback(self.timers.discard)

    async def resubmit(self, seq: int) -> None:
        """Resubmit a parked batch the machine took for it (spawned: waits for a slot)."""
        await self.slots.acquire()  # released by run_batch
        await self.run_batch(seq, submit=True)

    async def settle(self) -> None:
        """Once no job runs, resubmit in rounds what is still parked (see ``SettlePolicy``;
        a batch that fell due while jobs ran went at the next poll or job end)."""
        while not self.stopping():
            plan = self.machine.settle_round(self.clock())
            if plan is None:
                break
            delay = plan.due - self.clock()
            if delay > 0:
                await self.sleep(delay)
            for batch in plan.batches:
                self.spawn(self.resubmit(batch.seq))
            await self.wait_idle()
        if not self.stopping():
            self.publish_all(self.machine.give_up(self.clock()))

    async def execute(self, reading: Awaitable[None] | None) -> None:
        if reading is not None:
            await reading
        await self.wait_idle()
        await self.settle()
        await cancel_all(self.timers)

    async def abort(self) -> None:
        """Cancel everything in flight and wait until it is gone."""
        await cancel_all(self.timers)
        await cancel_all(self.tasks)

    def report(self) -> ConversionReport:
        """The report of the run as it stands."""
        return self.tally.report(
            module=self.spec.module,
            to=None if self.spec.to is None else self.spec.to.api_name,
            requests=self.endpoints.request_count() - self.requests_before,
            elapsed=self.clock() - self.started,
        )
