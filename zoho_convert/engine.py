"""The engine of one ``convert_many`` or ``resume`` run: read, submit, isolate, poll, settle.

``Run`` holds a run's mutable state and drives any object shaped like ``ConvertAPI``; the
steps it takes are described in ``zoho_convert.batch``, which validates the arguments and
builds it. It knows nothing about HTTP. Internal to ``zoho_convert``: not part of the public
API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

import attrs

from zoho_convert.errors import APIError, JobNotFoundError, PollTimeoutError
from zoho_convert.ids import MAX_ID_DIGITS, CheckedIds, id_problem
from zoho_convert.idset import IdSet
from zoho_convert.isolation import (
    REQUEST_LEVEL,
    error_text,
    is_isolatable,
    locate_offenders,
    maybe_processed,
    retry_later,
)
from zoho_convert.journal import Journal, RunParams
from zoho_convert.models import DealDetails, JobStatus, ModuleRef
from zoho_convert.polling import DurationEstimator, PollPolicy, poll_job
from zoho_convert.progress import (
    AlreadyConverted,
    BatchQueued,
    BatchSubmitted,
    BatchUncertain,
    IdRejected,
    JobFinished,
    JobLost,
    JobUnfinished,
    ProgressCallback,
    ProgressEvent,
)
from zoho_convert.report import ConversionReport, JobOutcome, LostJob, RejectedId
from zoho_convert.settling import SettlePolicy
from zoho_convert.timing import Clock, Sleep

__all__ = ["ConvertAPI", "Run", "check_limits", "drive"]

# The name users configure (and had before the engine moved out of batch.py).
logger = logging.getLogger("zoho_convert.batch")

_MAX_ID = 2**63 - 1  # Zoho ids are positive 64-bit longs
_LEAD_TAG_MODULES = ("Contacts", "Accounts")


class ConvertAPI(Protocol):
    """The part of ``ZohoConvertClient`` that ``convert_many`` drives."""

    sleep: Sleep
    clock: Clock

    @property
    def max_concurrency(self) -> int:
        """Requests the client keeps in flight at most."""

    @property
    def request_count(self) -> int:
        """HTTP requests sent so far."""

    async def module_id(self, api_name: str) -> str:
        """The id of a module."""

    async def mass_convert(
        self,
        module: str,
        ids: Iterable[str | int],
        *,
        to: str | ModuleRef,
        carry_over_tags: bool = ...,
        assign_to: str | int | None = ...,
        related_modules: Sequence[ModuleRef] = ...,
    ) -> str:
        """Schedule a mass inventory conversion; returns the job id."""

    async def mass_convert_status(self, module: str, job_id: str | int) -> JobStatus:
        """The status of a mass inventory conversion job."""

    async def mass_convert_leads(
        self,
        ids: Iterable[str | int],
        *,
        deals: DealDetails | None = ...,
        assign_to: str | int | None = ...,
        carry_over_tags: Sequence[str] = ...,
        related_modules: Sequence[ModuleRef] = ...,
        move_attachments_to: str | None = ...,
    ) -> str:
        """Schedule a mass lead conversion; returns the job id."""

    async def mass_convert_leads_status(self, job_id: str | int) -> JobStatus:
        """The status of a mass lead conversion job."""


def _describe(value: object) -> str:
    """How a refused input value is named in the report (a str as is, anything else repr'd)."""
    return value if isinstance(value, str) else repr(value)


def _as_is(ids: list[str]) -> list[str]:
    return ids


@attrs.define
class _Accepted:
    """A part of a batch that Zoho accepted as a job."""

    seq: int
    ids: list[str]
    job_id: str
    settling: bool = False
    submitted_at: float = 0.0


@attrs.define
class Parked:
    """A batch waiting to be settled by resubmission.

    Attributes:
        since: when the submission (or lost job) that left it unsettled was sent: a lost job
            is given time to finish from then on.
        maybe_sent: an earlier submission of these ids may have reached Zoho; False when every
            attempt surely did nothing (a 429 or a connection refused, after the retries).
        reason: the last error, for the report.
    """

    seq: int
    ids: list[str]
    since: float
    maybe_sent: bool
    reason: str


class _Stopped(Exception):
    """The run stopped while a batch waited to be submitted: it was not sent."""


class Run:
    """The mutable state of one run (one ``convert_many`` or ``resume`` call)."""

    def __init__(
        self,
        api: ConvertAPI,
        params: RunParams,
        *,
        concurrency: int | None,
        poll: PollPolicy,
        progress: ProgressCallback | None,
        journal: Journal | None,
        max_pending_jobs: int | None,
        settle: SettlePolicy | None = None,
        ids_checked: bool = True,
    ) -> None:
        """Set up a run; ``ids_checked`` says every id it submits went through ``read``."""
        limit = api.max_concurrency
        if concurrency is None:
            concurrency = limit
        self.api = api
        self.params = params
        self.poll = poll
        self.settle_policy = settle or SettlePolicy()
        self.progress = progress
        self.journal = journal
        self.sleep = api.sleep
        self.clock = api.clock
        # The client already bounds its requests in flight; add our own bound only when the
        # caller asked for fewer. Held across the client's retry waits, which is fine: the
        # point of a lower limit is to leave capacity to someone else.
        # A journaled run always holds its own slot before marking a batch "submitting", so a
        # batch queued for a slot is not mistaken, after a crash, for one that was sent.
        bounded = concurrency < limit or journal is not None
        self.requests = asyncio.Semaphore(concurrency) if bounded else None
        pending = max_pending_jobs or max(100, 50 * min(concurrency, limit))
        self.slots = asyncio.Semaphore(pending)
        self.estimator = DurationEstimator()
        self.tasks: set[asyncio.Task[None]] = set()
        self.fatal: BaseException | None = None
        self.started = self.clock()
        self.requests_before = api.request_count
        self.requests_earlier_sessions = 0
        self.seq = 0
        self.total = 0
        self.duplicates = 0
        self.converted = 0
        self.failed = 0
        self.not_converted = 0
        self.already_in_jobs = 0
        self.already_ids: list[str] = []
        self.rejected: list[RejectedId] = []
        self.uncertain: list[str] = []
        self.unfinished: list[str] = []
        self.jobs: list[JobOutcome] = []
        self.lost_jobs: list[LostJob] = []
        self.job_ids: set[str] = set()
        self.not_submitted: list[str] = []
        self.to_settle: list[Parked] = []
        self.pending_jobs = 0
        self.input_complete = True
        self.longest_job_known = 0.0  # from earlier sessions (journal), for settling waits
        # Until one submission proves the request acceptable, batches go one at a time: a
        # request-level mistake (a wrong module id) then costs one call, not one per batch.
        self.gate_open = False
        self._gate: asyncio.Lock | None = None
        self._submit, self._status = self._endpoints(api, params, ids_checked)

    @staticmethod
    def _endpoints(
        api: ConvertAPI, params: RunParams, ids_checked: bool
    ) -> tuple[Callable[[list[str]], Awaitable[str]], Callable[[str], Awaitable[JobStatus]]]:
        # Bind the options once, not per call. Ids that read() checked are sent as
        # CheckedIds, which the client does not check one by one again (that second check
        # was most of the CPU a batch cost).
        wrap: Callable[[list[str]], list[str]] = CheckedIds if ids_checked else _as_is
        if params.module == "Leads":
            tags = params.carry_over_tags
            lead_tags: tuple[str, ...] = (
                tags
                if isinstance(tags, tuple)
                else ((*_LEAD_TAG_MODULES, *(("Deals",) if params.deals else ())) if tags else ())
            )

            def submit_lead(ids: list[str]) -> Awaitable[str]:
                return api.mass_convert_leads(
                    wrap(ids),
                    deals=params.deals,
                    assign_to=params.assign_to,
                    carry_over_tags=lead_tags,
                    related_modules=params.related_modules,
                    move_attachments_to=params.move_attachments_to,
                )

            return submit_lead, api.mass_convert_leads_status

        module = params.module
        assert params.to is not None
        to = params.to
        carry = bool(params.carry_over_tags)

        def submit(ids: list[str]) -> Awaitable[str]:
            return api.mass_convert(
                module,
                wrap(ids),
                to=to,
                carry_over_tags=carry,
                assign_to=params.assign_to,
                related_modules=params.related_modules,
            )

        def status(job_id: str) -> Awaitable[JobStatus]:
            return api.mass_convert_status(module, job_id)

        return submit, status

    # -- events ------------------------------------------------------------------------------

    def emit(self, event: ProgressEvent) -> None:
        if self.progress is None:
            return
        try:
            self.progress(event)
        except Exception:  # a broken progress bar must not break a conversion run
            logger.exception("progress callback raised; ignoring")

    def reject(self, value: str, code: str, message: str) -> RejectedId:
        item = RejectedId(id=value, code=code, message=message)
        self.rejected.append(item)
        if self.progress is not None:
            self.emit(IdRejected(id=value, code=code, message=message))
        return item

    def next_seq(self) -> int:
        seq = self.seq
        self.seq += 1
        return seq

    # -- reading -----------------------------------------------------------------------------

    async def read(
        self,
        ids: Iterable[Any] | AsyncIterable[Any],
        *,
        seen: IdSet | None = None,
        skip: int = 0,
    ) -> None:
        """Read ids, refuse bad ones, drop duplicates, and dispatch full batches."""
        seen = seen if seen is not None else IdSet()
        size = self.params.batch_size
        batch: list[str] = []
        local: list[RejectedId] = []
        position = 0
        add = seen.add
        max_digits = MAX_ID_DIGITS

        # One function for sync and async input; the per-id path is kept flat and cheap: a
        # plain digit string or int is handled without calling into the validator. It
        # returns the batch once it is full.
        def take(value: Any) -> list[str] | None:
            nonlocal batch, position
            position += 1
            if position <= skip:
                return None
            if type(value) is str and value.isdigit() and value.isascii():
                key = int(value) if len(value) <= max_digits else 0
                # Canonical: "0012" is record 12 (and a duplicate of "12").
                text = value if value[0] != "0" else str(key)
            elif type(value) is int:
                key = value
                text = str(value)
            else:
                key = 0
                text = ""
            if not 0 < key <= _MAX_ID:
                problem = id_problem(value)
                if problem is not None:
                    local.append(self.reject(_describe(value), "INVALID_ID", problem))
                    self.total += 1
                    return None
                text = str(int(value))  # a str/int subclass the validator accepts
                key = int(text)
            if not add(key):
                self.duplicates += 1
                return None
            self.total += 1
            batch.append(text)
            if len(batch) < size:
                return None
            full, batch = batch, []
            return full

        try:
            if isinstance(ids, AsyncIterable):
                iterator = ids.__aiter__()
                while self.fatal is None:
                    try:
                        value = await iterator.__anext__()
                    except StopAsyncIteration:
                        break
                    full = take(value)
                    if full is not None:
                        await self.dispatch(full, position, local)
            else:
                for value in ids:
                    full = take(value)
                    if full is not None:
                        await self.dispatch(full, position, local)
                        if self.fatal is not None:
                            break
        except Exception as error:
            # The caller's iterable failed midway: stop reading, settle what was sent.
            if self.fatal is None:
                self.fatal = error
        if self.fatal is not None:
            self.input_complete = False
            self.not_submitted.extend(batch)
            return
        if batch:
            await self.dispatch(batch, position, local)
        elif local and self.journal is not None:
            self.journal.add_local_rejected(list(local))
        if self.journal is not None:
            self.journal.set_input_complete(position, self.duplicates)

    async def dispatch(self, batch: list[str], position: int, local: list[RejectedId]) -> None:
        seq = self.next_seq()
        if self.journal is not None:
            self.journal.add_batch(
                seq, batch, position=position, duplicates=self.duplicates, rejected=list(local)
            )
        if self.progress is not None:
            self.emit(BatchQueued(batch=seq, size=len(batch), read=self.total))
        local.clear()
        await self.slots.acquire()
        self.spawn(self.run_batch(seq, batch, submit=True))
        # Let the batch start now rather than after the whole input was read.
        await asyncio.sleep(0)

    def spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -- one batch ---------------------------------------------------------------------------

    async def run_batch(
        self,
        seq: int,
        ids: list[str],
        *,
        submit: bool,
        job_id: str | None = None,
        settling: bool = False,
    ) -> None:
        try:
            if submit:
                accepted = await self.submit_isolating(seq, ids, settling=settling)
            else:
                assert job_id is not None
                accepted = [_Accepted(seq, ids, job_id, settling, self.clock())]
            if len(accepted) == 1:
                await self.await_job(accepted[0])
            elif accepted:
                # Every part's poller runs to its end (each records its outcome) before an
                # error of one stops the run: a plain gather would leave the others running.
                outcomes = await asyncio.gather(
                    *(self.await_job(item) for item in accepted), return_exceptions=True
                )
                for outcome in outcomes:
                    if isinstance(outcome, BaseException):
                        raise outcome
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # a run-wide error, or a bug: stop the run with it
            if self.fatal is None:
                self.fatal = error
        finally:
            self.slots.release()

    async def send(self, seq: int, ids: list[str]) -> str:
        """Submit one part, through the gate while no submission has been accepted yet."""
        if self.gate_open:
            return await self._post(seq, ids)
        if self._gate is None:
            self._gate = asyncio.Lock()
        async with self._gate:
            if self.fatal is not None:
                raise _Stopped()
            if not self.gate_open:
                try:
                    job_id = await self._post(seq, ids)
                except Exception as error:
                    # A refusal of some ids shows the request itself is acceptable.
                    self.gate_open = is_isolatable(error, ids)
                    raise
                self.gate_open = True
                return job_id
        return await self._post(seq, ids)

    async def _post(self, seq: int, ids: list[str]) -> str:
        if self.requests is None:
            return await self._submit(ids)
        async with self.requests:
            if self.journal is not None:
                await self.journal.mark_submitting(seq)
            return await self._submit(ids)

    async def submit_isolating(
        self, seq: int, ids: list[str], *, settling: bool
    ) -> list[_Accepted]:
        """Submit a batch; split out ids Zoho refuses until the rest is accepted.

        The parts of a split batch are submitted concurrently (each holds a request slot only
        while it is sent), so isolating offenders costs round trips side by side, not in a row.
        """
        accepted: list[_Accepted] = []

        async def attempt(part_seq: int, part: list[str]) -> None:
            children = await self.submit_part(part_seq, part, settling, accepted)
            if len(children) == 1:
                await attempt(*children[0])
            elif children:
                outcomes = await asyncio.gather(
                    *(attempt(*child) for child in children), return_exceptions=True
                )
                for outcome in outcomes:
                    if isinstance(outcome, BaseException):
                        raise outcome

        await attempt(seq, ids)
        return accepted

    async def submit_part(
        self, seq: int, part: list[str], settling: bool, accepted: list[_Accepted]
    ) -> list[tuple[int, list[str]]]:
        """Submit one part; return the parts to submit next when Zoho refused some ids."""
        if self.fatal is not None:
            self.stop_part(seq, part, settling=settling)
            return []
        sent_at = self.clock()
        try:
            job_id = await self.send(seq, part)
        except asyncio.CancelledError:
            raise
        except _Stopped:
            self.stop_part(seq, part, settling=settling)
            return []
        except Exception as error:
            if is_isolatable(error, part):
                assert isinstance(error, APIError)
                return self.isolate(seq, part, error, settling=settling)
            if maybe_processed(error) or retry_later(error):
                self.park(
                    seq,
                    part,
                    since=sent_at,
                    maybe_sent=settling or maybe_processed(error),
                    reason=error_text(error),
                )
                return []
            # A run-wide error (authentication, permission, a request-level refusal such as a
            # wrong module id, ...): the same request would fail for every batch.
            self.stop_part(seq, part, settling=settling)
            raise
        if job_id in self.job_ids:
            # Zoho gave this batch a job id the run already holds for another: its status
            # would be the other batch's. What became of this one is unknown: settle it.
            self.park(
                seq,
                part,
                since=sent_at,
                maybe_sent=True,
                reason=f"Zoho answered with job id {job_id}, already given to another batch",
            )
            return []
        self.job_ids.add(job_id)
        if self.journal is not None:
            self.journal.mark_submitted(seq, job_id)
        if self.progress is not None:
            self.emit(BatchSubmitted(batch=seq, size=len(part), job_id=job_id))
        accepted.append(_Accepted(seq, part, job_id, settling, sent_at))
        return []

    def stop_part(self, seq: int, part: list[str], *, settling: bool) -> None:
        """Account for a part the stopping run will not submit (now).

        A part being settled was sent once already and may have converted: it stays
        uncertain (resume settles it). Any other part was never sent.
        """
        if settling:
            self.uncertain.extend(part)
            if self.journal is not None:
                self.journal.mark_parked(seq, maybe_sent=True)
            return
        self.not_submitted.extend(part)
        if self.journal is not None:
            self.journal.mark_pending(seq)

    def isolate(
        self, seq: int, part: list[str], error: APIError, *, settling: bool
    ) -> list[tuple[int, list[str]]]:
        """Split a refused batch; return the parts to submit again."""
        located = locate_offenders(error, part)
        if len(part) == 1:
            self.refuse(seq, part, error, settling=settling)
            return []
        if isinstance(located, frozenset):
            refused = [value for index, value in enumerate(part) if index in located]
            rest = [value for index, value in enumerate(part) if index not in located]
            self.refuse(seq, refused, error, settling=settling)
            if settling and error.code == "ID_ALREADY_CONVERTED":
                # The lost submission was processed, so most of the rest is converted too, and
                # Zoho names one converted id per refusal: try the rest one by one, side by
                # side (as many calls as a chain of refusals, but in one round trip).
                children = [(self.next_seq(), [value]) for value in rest]
            else:
                children = [(self.next_seq(), rest)] if rest else []
        else:
            assert located != REQUEST_LEVEL  # the caller checked is_isolatable
            half = len(part) // 2
            children = [(self.next_seq(), part[half:]), (self.next_seq(), part[:half])]
        if self.journal is not None and children:
            self.journal.mark_split(seq, children, settling=settling)
        return children

    def refuse(self, seq: int, values: list[str], error: APIError, *, settling: bool) -> None:
        """Account for ids Zoho refused: rejected, or found converted by the run itself."""
        if settling and error.code == "ID_ALREADY_CONVERTED":
            # Resubmitted because an earlier submission's reply was lost: that submission
            # converted them. Converted by this run, so neither rejected nor failed.
            self.already_ids.extend(values)
            if self.journal is not None:
                self.journal.mark_rejected(seq, [], already=values)
            if self.progress is not None:
                self.emit(AlreadyConverted(batch=seq, count=len(values)))
            return
        items = [self.reject(value, error.code, error.message) for value in values]
        if self.journal is not None:
            self.journal.mark_rejected(seq, items)

    def park(
        self, seq: int, part: list[str], *, since: float, maybe_sent: bool, reason: str
    ) -> None:
        """Park a batch whose outcome is unknown (or whose submission failed): it will be
        settled by resubmission once no job is pending."""
        self.to_settle.append(Parked(seq, part, since, maybe_sent, reason))
        if self.journal is not None:
            self.journal.mark_parked(seq, maybe_sent=maybe_sent)
        if self.progress is not None:
            self.emit(BatchUncertain(batch=seq, size=len(part), final=False, reason=reason))

    async def await_job(self, item: _Accepted) -> None:
        """Poll one job to its end and account for it."""
        status_call = self._status
        job_id = item.job_id
        requests = self.requests

        async def fetch() -> JobStatus:
            if requests is None:
                return await status_call(job_id)
            async with requests:
                return await status_call(job_id)

        adaptive = self.poll.adaptive
        estimator = self.estimator
        seen = [0, 0.0, 0.0]  # polls, elapsed at the last poll, elapsed at the one before

        def record(polls: int, elapsed: float) -> None:
            seen[0] = polls
            seen[2] = seen[1]
            seen[1] = elapsed

        self.pending_jobs += 1
        try:
            status = await poll_job(
                fetch,
                job_id,
                self.poll,
                sleep=self.sleep,
                clock=self.clock,
                estimator=estimator if adaptive else None,
                record=record,
            )
        except PollTimeoutError as timeout:
            self.pending_jobs -= 1
            self.unfinished.append(job_id)
            last = timeout.last_status
            self.jobs.append(
                JobOutcome(job_id, len(item.ids), last, tuple(item.ids), item.settling)
            )
            if self.progress is not None:
                self.emit(JobUnfinished(item.seq, job_id, len(item.ids), timeout.last_status))
            return
        except JobNotFoundError as lost:
            self.pending_jobs -= 1
            self.lose(item, f"Zoho no longer knows the job ({lost.status} {lost.code})", None)
            return
        except BaseException:
            self.pending_jobs -= 1
            # Could not learn its fate (the run is stopping): it is still unfinished for us.
            self.unfinished.append(job_id)
            self.jobs.append(
                JobOutcome(job_id, len(item.ids), None, tuple(item.ids), item.settling)
            )
            raise
        self.pending_jobs -= 1
        if adaptive:
            estimator.observe(seen[0] == 1, seen[1], self.pending_jobs + 1, seen[2])
        longest = max(estimator.max_seen, self.clock() - item.submitted_at)
        if longest > self.longest_job_known:
            self.longest_job_known = longest
            if self.journal is not None:
                self.journal.note_longest_job(longest)
        if not status.counts_consistent:
            # A final status that cannot be counted ends the job with what it says (kept on the
            # lost job); which of its records converted is settled by resubmission.
            self.lose(item, "its final status has counts that are missing or do not add up", status)
            return
        self.account(item.seq, job_id, item.ids, status, settling=item.settling)

    def account(
        self,
        seq: int,
        job_id: str,
        ids: Sequence[str],
        status: JobStatus,
        *,
        settling: bool,
        restoring: bool = False,
    ) -> None:
        """Count a finished job (``restoring``: read back from the journal, not new)."""
        size = len(ids)
        counted = status if status.total_count == size else _fit_to_batch(status, size, job_id)
        assert counted.counts_consistent
        self.converted += counted.converted_count or 0
        self.not_converted += counted.not_converted_count or 0
        if settling:
            # Failed inside the job of a settling resubmission: converted by the lost one.
            self.already_in_jobs += counted.failed_count or 0
        else:
            self.failed += counted.failed_count or 0
        outcome = JobOutcome(job_id, size, status, settling=settling)
        if not outcome.fully_converted:
            outcome = JobOutcome(job_id, size, status, tuple(ids), settling)
        self.jobs.append(outcome)
        if restoring:
            return
        if self.journal is not None:
            self.journal.mark_finished(seq, status)
        if self.progress is not None:
            self.emit(JobFinished(seq, job_id, size, status))

    def lose(self, item: _Accepted, reason: str, last: JobStatus | None) -> None:
        """A job whose outcome cannot be read: record it and settle its ids."""
        lost = LostJob(item.job_id, len(item.ids), reason, last)
        self.lost_jobs.append(lost)
        if self.journal is not None:
            self.journal.add_lost_job(item.seq, lost)
        if self.progress is not None:
            self.emit(JobLost(item.seq, item.job_id, len(item.ids), reason))
        self.park(
            item.seq,
            item.ids,
            since=item.submitted_at,
            maybe_sent=True,
            reason=f"job {item.job_id} lost: {reason}",
        )

    # -- the whole run -----------------------------------------------------------------------

    async def wait_idle(self) -> None:
        while self.tasks:
            await asyncio.wait(set(self.tasks))

    async def settle(self) -> None:
        """Resubmit, in rounds, the batches whose outcome is unknown (see ``SettlePolicy``)."""
        policy = self.settle_policy
        started = self.clock()
        rounds = 0
        while self.to_settle and self.fatal is None and rounds < policy.max_rounds:
            parked = self.to_settle
            # A lost job may still be running: give it the longest duration seen to finish, so
            # that Zoho knows its records as converted before they are sent again.
            wait = max(self.longest_job_known, policy.min_wait)
            due = max(item.since for item in parked) + wait
            if due - started > policy.deadline:
                break
            delay = due - self.clock()
            if delay > 0:
                await self.sleep(delay)
            rounds += 1
            self.to_settle = []
            for item in parked:
                await self.slots.acquire()
                self.spawn(
                    self.run_batch(item.seq, item.ids, submit=True, settling=item.maybe_sent)
                )
            await self.wait_idle()
        if self.fatal is None:
            self.give_up_settling()

    def give_up_settling(self) -> None:
        """Settling is over: what is still parked ends uncertain (or, if it was never sent,
        rejected with the last error)."""
        parked, self.to_settle = self.to_settle, []
        for item in parked:
            if item.maybe_sent:
                self.uncertain.extend(item.ids)
                if self.journal is not None:
                    self.journal.mark_uncertain_final(item.seq)
            else:
                code = item.reason.split(":", 1)[0]
                items = [self.reject(value, code, item.reason) for value in item.ids]
                if self.journal is not None:
                    self.journal.mark_rejected(item.seq, items)
            if self.progress is not None:
                self.emit(
                    BatchUncertain(
                        batch=item.seq, size=len(item.ids), final=True, reason=item.reason
                    )
                )

    async def execute(self, reading: Awaitable[None] | None) -> None:
        if reading is not None:
            await reading
        await self.wait_idle()
        await self.settle()

    async def abort(self) -> None:
        """Cancel everything in flight and wait until it is gone."""
        for task in self.tasks:
            task.cancel()
        while self.tasks:
            await asyncio.wait(set(self.tasks))

    def report(self) -> ConversionReport:
        if self.not_submitted:
            # Only when the run stopped early: never sent, never converted by this run.
            reason = error_text(self.fatal) if self.fatal else "the run stopped"
            for value in self.not_submitted:
                self.rejected.append(RejectedId(value, "NOT_SUBMITTED", reason))
            self.not_submitted = []
        if self.to_settle:
            # The run stopped before settling (the journal keeps them parked for resume).
            for item in self.to_settle:
                if item.maybe_sent:
                    self.uncertain.extend(item.ids)
                else:
                    for value in item.ids:
                        self.rejected.append(RejectedId(value, "NOT_SUBMITTED", item.reason))
            self.to_settle = []
        to = self.params.to
        return ConversionReport(
            module=self.params.module,
            to=to.api_name if to is not None else None,
            total=self.total,
            converted=self.converted,
            failed=self.failed,
            not_converted=self.not_converted,
            rejected=tuple(self.rejected),
            unfinished=tuple(self.unfinished),
            uncertain=tuple(self.uncertain),
            duplicates=self.duplicates,
            jobs=tuple(self.jobs),
            requests=self.requests_earlier_sessions + self.api.request_count - self.requests_before,
            elapsed=self.clock() - self.started,
            input_complete=self.input_complete,
            already_converted=len(self.already_ids) + self.already_in_jobs,
            already_converted_ids=tuple(self.already_ids),
            lost_jobs=tuple(self.lost_jobs),
        )


async def drive(run: Run, reading: Awaitable[None] | None) -> ConversionReport:
    """Run to the end (``reading`` feeds it new batches) and return, or raise, its outcome.

    Raises:
        BaseException: the run-wide error that stopped the run, with ``partial_report``.
    """
    journal = run.journal
    try:
        try:
            await run.execute(reading)
        except BaseException:
            # Cancelled (or a bug): stop every request and poller before leaving. The journal
            # keeps each batch's last state, so the run can be resumed.
            await run.abort()
            raise
        report = run.report()
        if journal is not None:
            journal.add_requests(report.requests - run.requests_earlier_sessions)
    finally:
        if journal is not None:
            await journal.close()
    if run.fatal is not None:
        error = run.fatal
        with contextlib.suppress(AttributeError):  # an exception type with __slots__
            error.partial_report = report  # type: ignore[attr-defined]
        raise error
    return report


def _fit_to_batch(status: JobStatus, size: int, job_id: str) -> JobStatus:
    """Counts to add up for a job whose total is not the number of ids we sent.

    Zoho's counts cannot be trusted then, so none may count more than ``size``; the job's
    outcome keeps its ids (it is not ``fully_converted``) so someone can check them.
    """
    logger.warning(
        "job %s reports %d records but %d were submitted; its ids are kept in the report",
        job_id,
        status.total_count,
        size,
    )
    converted = min(status.converted_count or 0, size)
    failed = min(status.failed_count or 0, size - converted)
    return attrs.evolve(
        status,
        total_count=size,
        converted_count=converted,
        failed_count=failed,
        not_converted_count=size - converted - failed,
    )


def check_limits(
    concurrency: object, poll: object, max_pending_jobs: object, settle: object = None
) -> None:
    """Refuse bad ``Run`` limits, before any request (shared by convert_many and resume)."""
    if settle is not None and not isinstance(settle, SettlePolicy):
        raise TypeError(f"settle must be a SettlePolicy, not {type(settle).__name__}")
    if concurrency is not None and (
        isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
    ):
        raise ValueError(f"concurrency must be a positive int or None, got {concurrency!r}")
    if not isinstance(poll, PollPolicy):
        raise TypeError(f"poll must be a PollPolicy, not {type(poll).__name__}")
    if max_pending_jobs is not None and (
        isinstance(max_pending_jobs, bool)
        or not isinstance(max_pending_jobs, int)
        or max_pending_jobs < 1
    ):
        raise ValueError(f"max_pending_jobs must be a positive int, got {max_pending_jobs!r}")
