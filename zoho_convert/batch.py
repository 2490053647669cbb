"""``convert_many``: convert any number of records in batches of at most 50, and account for all.

The pipeline, per run:

1. **Read** ids lazily from an iterable or async iterable; refuse invalid ones locally
   (reported as ``rejected`` with code ``INVALID_ID``), drop duplicates (counted), cut the rest
   into batches of ``batch_size``.
2. **Submit** each batch as one mass-convert call. Requests (submissions and polls) share the
   ``concurrency`` limit; jobs pending at once are bounded separately (``max_pending_jobs``),
   so memory is bounded by the batches in flight, not by the number of ids.
3. **Poll** each job until COMPLETED or FAILED (``polling.poll_job``); the first poll is timed
   from the durations of the jobs already finished, so a steady run needs about one poll per
   job.
4. **Isolate** offending ids when Zoho refuses a whole batch because of some of them
   (INVALID_DATA, ID_ALREADY_CONVERTED, ...): use the error's hint (``json_path`` or ``id``)
   when it has one, else split the batch in halves, until the offenders stand alone.
5. **Settle** uncertain submissions (5xx or dropped connection after sending) once no job of
   the run is pending: resubmit them once. Zoho refuses to convert a record twice, so this
   cannot convert anything twice; isolation sorts out ids that the lost job did convert.
6. **Report** counts from the jobs' final statuses, and ids only where someone must act.

Errors that concern the whole run (authentication, permission, invalid module, ...) stop it
with that error once in-flight work has settled; the partial report is attached to the
exception as ``partial_report``. With a journal, every step is recorded so ``resume`` can
continue an interrupted run without converting anything twice.

This module knows nothing about HTTP: it drives any object shaped like ``ConvertAPI``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from array import array
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

import attrs

from zoho_convert.errors import (
    APIError,
    InvalidRequestError,
    PollTimeoutError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    TransportError,
)
from zoho_convert.ids import MAX_ID_DIGITS, id_problem, normalize_id
from zoho_convert.journal import Journal, JournalState, RunParams
from zoho_convert.models import (
    INVENTORY_CONVERSIONS,
    DealDetails,
    JobStatus,
    ModuleRef,
    check_inventory_conversion,
    check_related_module,
)
from zoho_convert.polling import Clock, DurationEstimator, PollPolicy, Sleep, poll_job
from zoho_convert.progress import (
    BatchQueued,
    BatchSubmitted,
    BatchUncertain,
    IdRejected,
    JobFinished,
    JobUnfinished,
    ProgressCallback,
    ProgressEvent,
)
from zoho_convert.report import ConversionReport, JobOutcome, RejectedId

__all__ = ["MAX_BATCH_SIZE", "ConvertAPI", "convert_many", "resume", "split_batches"]

logger = logging.getLogger(__name__)

#: Zoho converts at most 50 records per mass-convert call.
MAX_BATCH_SIZE = 50
_MAX_ID = 2**63 - 1  # Zoho ids are positive 64-bit longs
_LEAD_TAG_MODULES = ("Contacts", "Accounts")

# Codes with which Zoho refuses a whole batch because of some of its ids: isolate them.
ISOLATE_CODES = frozenset(
    {
        "INVALID_DATA",
        "ID_ALREADY_CONVERTED",
        "NOT_APPROVED",
        "NOT_REVIEWED",
        "RECORD_LOCKED",
        "DUPLICATE_DATA",
        "AMBIGUITY_DURING_PROCESSING",
    }
)
_JSON_PATH_ID = re.compile(r"^\$\.ids\[(\d+)\]")


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


class _IdSet:
    """A set of positive 64-bit ints in one flat array: 8-16 bytes per id, not ~80.

    Remembering every id read is what duplicate detection costs; a Python ``set`` of ints
    would take ~80 MB for a million ids. Open addressing with linear probing over an
    ``array('q')`` (0 marks an empty slot; ids are positive) keeps it to ~16 MB.
    """

    __slots__ = ("_limit", "_mask", "_shift", "_size", "_table")

    def __init__(self, bits: int = 12) -> None:
        self._table = array("q", bytes(8 << bits))
        self._mask = (1 << bits) - 1
        self._shift = 64 - bits
        self._limit = (1 << bits) * 6 // 10
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, key: int) -> bool:
        """Add ``key`` (1..2**63-1); return False if it was there already."""
        table = self._table
        mask = self._mask
        # Fibonacci hashing spreads sequential ids (Zoho's are) across the table.
        slot = ((key * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) >> self._shift
        while True:
            value = table[slot]
            if value == key:
                return False
            if value == 0:
                table[slot] = key
                self._size += 1
                if self._size > self._limit:
                    self._grow()
                return True
            slot = (slot + 1) & mask

    def _grow(self) -> None:
        old = self._table
        self.__init__(64 - self._shift + 1)  # type: ignore[misc]
        for value in old:
            if value:
                self.add(value)


def split_batches(ids: Iterable[str], size: int) -> Iterator[list[str]]:
    """Cut ``ids`` into consecutive lists of at most ``size`` (a pure helper, for tests/CLI).

    Raises:
        ValueError: ``size`` is not between 1 and 50.
    """
    _check_batch_size(size)
    batch: list[str] = []
    for value in ids:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _check_batch_size(size: object) -> int:
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"batch_size must be an int, not {type(size).__name__}")
    if not 1 <= size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_SIZE}, got {size}")
    return size


def _describe(value: object) -> str:
    return value if isinstance(value, str) else repr(value)


def _error_text(error: BaseException) -> str:
    # Our errors never carry credentials (errors.py builds messages from replies only).
    return f"{type(error).__name__}: {error}"


def _uncertain(error: BaseException) -> bool:
    """Whether a failed submission may nevertheless have been processed by Zoho."""
    if isinstance(error, (TransportError, APIError, ResponseValidationError)):
        return bool(error.maybe_processed)
    return False


def _retry_later(error: BaseException) -> bool:
    """A submission that surely did nothing, after the client's retries gave up."""
    return isinstance(error, (TransportError, RateLimitError, ServerError))


def _offender(error: APIError, part: Sequence[str]) -> int | bool | None:
    """Locate the offending id from the error's details.

    Returns:
        its index in ``part``; None when the details give no usable hint (bisect); False when
        they point at something other than the ids (the error concerns the whole run).
    """
    details = error.details
    path = details.get("json_path")
    if isinstance(path, str):
        match = _JSON_PATH_ID.match(path)
        if match is None:
            return False if path.startswith("$.") and not path.startswith("$.ids") else None
        index = int(match.group(1))
        return index if index < len(part) else None
    ident = details.get("id")
    if isinstance(ident, (str, int)) and not isinstance(ident, bool):
        text = str(ident)
        for index, value in enumerate(part):
            if value == text:
                return index
    return None


def _is_isolatable(error: BaseException) -> bool:
    return isinstance(error, InvalidRequestError) and error.code in ISOLATE_CODES


@attrs.define
class _Accepted:
    seq: int
    ids: list[str]
    job_id: str


class _Run:
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
    ) -> None:
        limit = api.max_concurrency
        if concurrency is None:
            concurrency = limit
        self.api = api
        self.params = params
        self.poll = poll
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
        self.rejected: list[RejectedId] = []
        self.uncertain: list[str] = []
        self.unfinished: list[str] = []
        self.jobs: list[JobOutcome] = []
        self.not_submitted: list[str] = []
        self.to_settle: list[tuple[int, list[str], float]] = []
        self.pending_jobs = 0
        self.input_complete = True
        self._submit, self._status = self._endpoints(api, params)

    @staticmethod
    def _endpoints(
        api: ConvertAPI, params: RunParams
    ) -> tuple[Callable[[list[str]], Awaitable[str]], Callable[[str], Awaitable[JobStatus]]]:
        # Bind the options once, not per call.
        if params.module == "Leads":
            tags = params.carry_over_tags
            lead_tags: tuple[str, ...] = (
                tags
                if isinstance(tags, tuple)
                else ((*_LEAD_TAG_MODULES, *(("Deals",) if params.deals else ())) if tags else ())
            )

            def submit_lead(ids: list[str]) -> Awaitable[str]:
                return api.mass_convert_leads(
                    ids,
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
                ids,
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
        seen: _IdSet | None = None,
        skip: int = 0,
    ) -> None:
        """Read ids, refuse bad ones, drop duplicates, and dispatch full batches."""
        seen = seen if seen is not None else _IdSet()
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
                text = value
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
                accepted = [_Accepted(seq, ids, job_id)]
            if len(accepted) == 1:
                await self.await_job(accepted[0])
            elif accepted:
                await asyncio.gather(*(self.await_job(item) for item in accepted))
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # a run-wide error, or a bug: stop the run with it
            if self.fatal is None:
                self.fatal = error
        finally:
            self.slots.release()

    async def send(self, seq: int, ids: list[str]) -> str:
        if self.requests is None:
            return await self._submit(ids)
        async with self.requests:
            if self.journal is not None:
                await self.journal.mark_submitting(seq)
            return await self._submit(ids)

    async def submit_isolating(
        self, seq: int, ids: list[str], *, settling: bool
    ) -> list[_Accepted]:
        """Submit a batch; split out ids Zoho refuses until the rest is accepted."""
        accepted: list[_Accepted] = []
        work = [(seq, ids)]
        journal = self.journal
        while work:
            part_seq, part = work.pop()
            if self.fatal is not None:
                self.stop_part(part_seq, part, settling=settling)
                continue
            try:
                job_id = await self.send(part_seq, part)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if _is_isolatable(error) and _offender(error, part) is not False:  # type: ignore[arg-type]
                    assert isinstance(error, APIError)
                    work.extend(self.isolate(part_seq, part, error, settling=settling))
                elif _uncertain(error) or _retry_later(error):
                    self.defer(part_seq, part, error, settling=settling)
                else:
                    # A run-wide error (authentication, permission, invalid module, ...).
                    self.stop_part(part_seq, part, settling=settling)
                    raise
                continue
            if journal is not None:
                journal.mark_submitted(part_seq, job_id)
            if self.progress is not None:
                self.emit(BatchSubmitted(batch=part_seq, size=len(part), job_id=job_id))
            accepted.append(_Accepted(part_seq, part, job_id))
        return accepted

    def stop_part(self, seq: int, part: list[str], *, settling: bool) -> None:
        """Account for a part the stopping run will not submit (now).

        A part being settled was sent once already and may have converted: it stays
        uncertain (resume resubmits it once). Any other part was never sent.
        """
        if settling:
            self.uncertain.extend(part)
            if self.journal is not None:
                self.journal.mark_uncertain(seq, final=False)
            return
        self.not_submitted.extend(part)
        if self.journal is not None:
            self.journal.mark_pending(seq)

    def isolate(
        self, seq: int, part: list[str], error: APIError, *, settling: bool
    ) -> list[tuple[int, list[str]]]:
        """Split a refused batch; return the parts to submit again."""
        where = _offender(error, part)  # never False here: the caller checked
        message = error.message
        if settling and error.code == "ID_ALREADY_CONVERTED":
            message += " (probably by this run's earlier submission whose reply was lost)"
        if len(part) == 1:
            item = self.reject(part[0], error.code, message)
            if self.journal is not None:
                self.journal.mark_rejected(seq, [item])
            return []
        if isinstance(where, int):
            item = self.reject(part[where], error.code, message)
            rest = part[:where] + part[where + 1 :]
            children = [(self.next_seq(), rest)]
            if self.journal is not None:
                self.journal.mark_rejected(seq, [item])
                self.journal.mark_split(seq, children)
            return children
        half = len(part) // 2
        children = [(self.next_seq(), part[half:]), (self.next_seq(), part[:half])]
        if self.journal is not None:
            self.journal.mark_split(seq, children)
        return children

    def defer(self, seq: int, part: list[str], error: Exception, *, settling: bool) -> None:
        """Park a batch whose submission failed or may have been processed."""
        reason = _error_text(error)
        if not settling:
            self.to_settle.append((seq, part, self.clock()))
            if self.journal is not None:
                self.journal.mark_uncertain(seq, final=False)
        elif _uncertain(error):
            self.uncertain.extend(part)
            if self.journal is not None:
                self.journal.mark_uncertain(seq, final=True)
        else:
            # Surely not processed, twice: nothing converted; say why, so someone can retry.
            code = error.code if isinstance(error, APIError) else type(error).__name__
            items = [self.reject(value, code, reason) for value in part]
            if self.journal is not None:
                self.journal.mark_rejected(seq, items)
            return
        if self.progress is not None:
            self.emit(BatchUncertain(batch=seq, size=len(part), final=settling, reason=reason))

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
            self.jobs.append(JobOutcome(job_id, len(item.ids), last, tuple(item.ids)))
            if self.progress is not None:
                self.emit(JobUnfinished(item.seq, job_id, len(item.ids), timeout.last_status))
            return
        except BaseException:
            self.pending_jobs -= 1
            # Could not learn its fate (the run is stopping): it is still unfinished for us.
            self.unfinished.append(job_id)
            self.jobs.append(JobOutcome(job_id, len(item.ids), None, tuple(item.ids)))
            raise
        self.pending_jobs -= 1
        if adaptive:
            estimator.observe(seen[0] == 1, seen[1], self.pending_jobs + 1, seen[2])
        size = len(item.ids)
        counted = status if status.total_count == size else _fit_to_batch(status, size, job_id)
        self.converted += counted.converted_count
        self.failed += counted.failed_count
        self.not_converted += counted.not_converted_count
        outcome = JobOutcome(job_id, size, status)
        if not outcome.fully_converted:
            outcome = JobOutcome(job_id, len(item.ids), status, tuple(item.ids))
        self.jobs.append(outcome)
        if self.journal is not None:
            self.journal.mark_finished(item.seq, status)
        if self.progress is not None:
            self.emit(JobFinished(item.seq, job_id, len(item.ids), status))

    # -- the whole run -----------------------------------------------------------------------

    async def wait_idle(self) -> None:
        while self.tasks:
            await asyncio.wait(set(self.tasks))

    async def settle(self) -> None:
        """Resubmit, once, the batches whose submission outcome is unknown."""
        while self.to_settle and self.fatal is None:
            parked, self.to_settle = self.to_settle, []
            # A lost job may still be running: give it the longest duration seen so far to
            # finish, so that Zoho knows its records as converted before we resubmit them.
            wait = max(self.estimator.max_seen, self.poll.initial)
            latest = max(when for _, _, when in parked)
            delay = latest + wait - self.clock()
            if delay > 0:
                await self.sleep(delay)
            for seq, ids, _ in parked:
                await self.slots.acquire()
                self.spawn(self.run_batch(seq, ids, submit=True, settling=True))
            await self.wait_idle()

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
            reason = _error_text(self.fatal) if self.fatal else "the run stopped"
            for value in self.not_submitted:
                self.rejected.append(RejectedId(value, "NOT_SUBMITTED", reason))
            self.not_submitted = []
        if self.to_settle:
            for _, ids, _ in self.to_settle:
                self.uncertain.extend(ids)
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
        )


async def _drive(run: _Run, reading: Awaitable[None] | None) -> ConversionReport:
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
    converted = min(status.converted_count, size)
    failed = min(status.failed_count, size - converted)
    return attrs.evolve(
        status,
        total_count=size,
        converted_count=converted,
        failed_count=failed,
        not_converted_count=size - converted - failed,
    )


def _check_run_options(
    assign_to: object, related_modules: Sequence[ModuleRef], journal: str | None
) -> None:
    """Refuse bad run options before the module lookup, the first request of a run."""
    if assign_to is not None:
        normalize_id(assign_to, what="assign_to user id")
    for ref in related_modules:
        check_related_module(ref)
    if journal is not None and os.path.lexists(journal):
        raise FileExistsError(f"a journal exists at {journal}: resume that run, or pick a new path")


def _check_common(concurrency: object, poll: object, max_pending_jobs: object) -> None:
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


async def convert_many(
    api: ConvertAPI,
    module: str,
    ids: Iterable[str | int] | AsyncIterable[str | int],
    *,
    to: str | ModuleRef | None,
    carry_over_tags: bool | Sequence[str] = True,
    assign_to: str | int | None = None,
    related_modules: Sequence[ModuleRef] = (),
    batch_size: int = MAX_BATCH_SIZE,
    concurrency: int | None = None,
    poll: PollPolicy = PollPolicy(),  # noqa: B008 (immutable)
    progress: ProgressCallback | None = None,
    journal: str | None = None,
    deals: DealDetails | None = None,
    move_attachments_to: str | None = None,
    max_pending_jobs: int | None = None,
) -> ConversionReport:
    """Convert any number of records through the mass-convert API and account for every id.

    Args:
        api: the client (``ZohoConvertClient`` or anything shaped like ``ConvertAPI``).
        module: ``Quotes``, ``Sales_Orders`` or ``Leads``.
        ids: the record ids, as an iterable or async iterable of str/int, read lazily.
        to: the target module (``Sales_Orders``/``Invoices``, or a ``ModuleRef``); ignored
            (may be None) for Leads.
        carry_over_tags: inventory: carry tags over to the new records. Leads: True carries
            them to Contacts and Accounts (and Deals when ``deals`` is given), or name the
            modules.
        assign_to: the user id to own the new records.
        related_modules: related lists (Calls, Tasks, ...) to convert along.
        batch_size: ids per call, 1 to 50.
        concurrency: requests in flight at most (submissions and polls together); default
            and maximum: the client's limit.
        poll: how jobs are polled (see ``PollPolicy``).
        progress: called with each progress event (see ``zoho_convert.progress``).
        journal: a path for a new SQLite journal, so the run can be resumed with ``resume``.
        deals: Leads only: a deal to create for each converted lead.
        move_attachments_to: Leads only: the module that gets the leads' attachments.
        max_pending_jobs: batches in flight (submitted, not finished) at most; the default
            (50 per allowed request, at least 100) keeps the request pipe full.

    Returns:
        The run's ``ConversionReport``.

    Raises:
        ValueError: bad arguments (module pair, batch_size, concurrency), before any request.
        TypeError: ``ids`` is a single str/int or not iterable.
        FileExistsError: the journal path exists already (resume that run instead).
        AuthenticationError, PermissionDeniedError, InvalidRequestError: an error that
            concerns the whole run, raised once in-flight work settled; the exception carries
            the report so far as ``partial_report``.
    """
    _check_batch_size(batch_size)
    _check_common(concurrency, poll, max_pending_jobs)
    _check_run_options(assign_to, related_modules, journal)
    if isinstance(ids, (str, bytes, int)) or not isinstance(ids, (Iterable, AsyncIterable)):
        raise TypeError(f"ids must be an iterable of ids, not {type(ids).__name__}")
    if module == "Leads":
        target: ModuleRef | None = None
        if not isinstance(carry_over_tags, bool):
            carry_over_tags = tuple(carry_over_tags)
    else:
        if module not in INVENTORY_CONVERSIONS:
            raise ValueError(
                f"{module!r} cannot be mass converted; use Quotes, Sales_Orders or Leads"
            )
        if to is None:
            raise ValueError(f"'to' is required to convert {module}")
        name = to.api_name if isinstance(to, ModuleRef) else to
        check_inventory_conversion(module, name)
        if not isinstance(carry_over_tags, bool):
            raise TypeError("carry_over_tags must be a bool for inventory modules")
        if deals is not None or move_attachments_to is not None:
            raise ValueError("deals and move_attachments_to apply to Leads only")
        # Resolve the target's id once for the whole run (and fail early if it is unknown).
        target = to if isinstance(to, ModuleRef) else ModuleRef(name, await api.module_id(name))
    params = RunParams(
        module=module,
        to=target,
        carry_over_tags=carry_over_tags,
        assign_to=None if assign_to is None else str(assign_to),
        related_modules=tuple(related_modules),
        batch_size=batch_size,
        deals=deals,
        move_attachments_to=move_attachments_to,
    )
    opened = await Journal.create(journal, params) if journal is not None else None
    run = _Run(
        api,
        params,
        concurrency=concurrency,
        poll=poll,
        progress=progress,
        journal=opened,
        max_pending_jobs=max_pending_jobs,
    )
    return await _drive(run, run.read(ids))


async def resume(
    api: ConvertAPI,
    journal: str,
    *,
    ids: Iterable[str | int] | AsyncIterable[str | int] | None = None,
    concurrency: int | None = None,
    poll: PollPolicy = PollPolicy(),  # noqa: B008 (immutable)
    progress: ProgressCallback | None = None,
    max_pending_jobs: int | None = None,
) -> ConversionReport:
    """Continue an interrupted ``convert_many`` run from its journal.

    Jobs that have a job id are polled, never resubmitted. Batches never sent are submitted.
    Batches caught mid-submission (or whose submission was uncertain) are resubmitted once:
    Zoho refuses to convert a record twice, and failure isolation reports any id the lost
    submission did convert as ``ID_ALREADY_CONVERTED``. The report covers the whole run.

    Args:
        api: the client.
        journal: the journal path given to ``convert_many``.
        ids: when the interrupted run had not read all its input, the same ids again: the
            part already journaled is skipped and the rest is read. Without them, such a
            report has ``input_complete=False``.
        concurrency: as for ``convert_many``.
        poll: as for ``convert_many``.
        progress: as for ``convert_many``.
        max_pending_jobs: as for ``convert_many``.

    Returns:
        The report of the whole run.

    Raises:
        FileNotFoundError: there is no journal at ``journal``.
    """
    _check_common(concurrency, poll, max_pending_jobs)
    opened = await Journal.open(journal)
    try:
        state = await opened.load()
        seen: _IdSet | None = None
        if ids is not None and not state.input_complete:
            seen = _IdSet()
            for chunk in await opened.iter_all_ids():
                for value in chunk:
                    seen.add(int(value))
    except BaseException:
        await opened.close()
        raise
    run = _Run(
        api,
        state.params,
        concurrency=concurrency,
        poll=poll,
        progress=progress,
        journal=opened,
        max_pending_jobs=max_pending_jobs,
    )
    _restore(run, state)
    reading: Awaitable[None] | None = None
    if not state.input_complete:
        if ids is not None:
            run.input_complete = True
            reading = run.read(ids, seen=seen, skip=state.position)
        else:
            run.input_complete = False
    return await _drive(run, _then(_resubmit(run, state), reading))


def _restore(run: _Run, state: JournalState) -> None:
    """Load what earlier sessions accomplished into a run."""
    run.seq = state.next_seq
    run.total = state.total_in_batches + state.local_rejected
    run.duplicates = state.duplicates
    run.rejected.extend(state.rejected)
    run.requests_earlier_sessions = state.requests
    for batch in state.batches:
        if batch.state == "finished" and batch.job_id is not None and batch.status is not None:
            status = batch.status
            run.converted += status.converted_count
            run.failed += status.failed_count
            run.not_converted += status.not_converted_count
            outcome = JobOutcome(batch.job_id, len(batch.ids), status)
            if not outcome.fully_converted:
                outcome = JobOutcome(batch.job_id, len(batch.ids), status, batch.ids)
            run.jobs.append(outcome)
        elif batch.state == "uncertain_final":
            run.uncertain.extend(batch.ids)


async def _resubmit(run: _Run, state: JournalState) -> None:
    """Restart the unfinished batches of a journal."""
    for batch in state.batches:
        if batch.state in ("finished", "rejected", "uncertain_final"):
            continue
        ids = list(batch.ids)
        if batch.state == "uncertain":
            run.to_settle.append((batch.seq, ids, 0.0))
            continue
        await run.slots.acquire()
        if batch.state == "submitted" and batch.job_id is not None:
            run.spawn(run.run_batch(batch.seq, ids, submit=False, job_id=batch.job_id))
        else:  # pending, or submitting (caught mid-submission): send it (again, once)
            settling = batch.state == "submitting"  # it may have reached Zoho already
            run.spawn(run.run_batch(batch.seq, ids, submit=True, settling=settling))


async def _then(first: Awaitable[None], second: Awaitable[None] | None) -> None:
    await first
    if second is not None:
        await second
