"""An in-memory stand-in for the client's mass-convert methods, running on virtual time.

It plays Zoho's rules that ``convert_many`` relies on: a batch with an invalid id is refused
whole; an already converted id refuses the whole batch (or, with
``already_converted="fail_in_job"``, fails inside the job); jobs finish after a set duration,
COMPLETED or FAILED, with failed records where the test says so. Faults are scripted per call
(by submit number, counted from 0 over every submit call the fake receives). Time is virtual:
``sleep`` parks the caller until a driver advances ``now``, so tests run instantly and
deterministically.

Two ways records convert, as the simulator's ``reserve_ids``:

- ``reserve_ids=True`` (the default): a record counts as converted in ``ledger`` as soon as
  its job is scheduled, and the ids of a running job are refused to any other call.
- ``reserve_ids=False``: a record converts only when its job finishes (at ``created +
  duration`` on the virtual clock, seen by the next request or by ``finish_jobs``). A second
  submit of an id whose job has not finished is accepted, and when both jobs finish the
  ledger counts that id converted twice: what resubmitting too early does.

Every submit call is logged in ``calls`` (``SubmitCall``: when it left, when Zoho processed
it, what became of it); hooks let a test look at the world at the moment a POST leaves
(``on_send``) or act once Zoho has processed it (``on_processed``, e.g. cancel the run as a
crash would).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Sequence
from typing import Any, Literal

import attrs
from fakes import VirtualTime

from zoho_convert.api.credits import LocalCredits
from zoho_convert.api.errors import InvalidRequestError, JobNotFoundError, RecordStateError
from zoho_convert.api.models import DealDetails, JobState, JobStatus, ModuleRef
from zoho_convert.api.timing import Timing
from zoho_convert.bulk.events import Event
from zoho_convert.bulk.ledger import ConversionLedger, NullLedger


@attrs.define(eq=False)
class FakeJob:
    """A job the fake scheduled.

    Attributes:
        number: the submit number that made it.
        ids: the ids it was given.
        converts: the ids it converts when it COMPLETES (the others fail inside it).
        created: virtual time it was scheduled (when Zoho processed the submit).
        duration: virtual seconds it runs.
        never: it never finishes.
        outcome: how it ends: COMPLETED or FAILED (a FAILED job converts nothing).
        forgotten: its status polls answer "no such job" (it still runs and converts).
        finished: it has finished (its records converted, under ``reserve_ids=False``).
    """

    number: int
    ids: list[str]
    converts: list[str]
    created: float
    duration: float
    never: bool
    outcome: JobState
    forgotten: bool = False
    finished: bool = False

    @property
    def ends_at(self) -> float:
        """Virtual time it finishes (infinite when it never does)."""
        return float("inf") if self.never else self.created + self.duration

    def final_status(self) -> JobStatus:
        """The status it reports once finished."""
        n = len(self.ids)
        if self.outcome is JobState.FAILED:
            return JobStatus(JobState.FAILED, n, 0, 0, n)
        ok = len(self.converts)
        return JobStatus(JobState.COMPLETED, n, ok, 0, n - ok)


@attrs.define(eq=False)
class SubmitCall:
    """One submit call the fake received.

    Attributes:
        number: its submit number (0 for the first call).
        ids: the ids sent.
        sent: virtual time the POST left (it holds a request slot).
        processed: virtual time Zoho processed it (after the latency); None if it never was.
        job_id: the job it made, if Zoho accepted it (even when the reply was then lost).
        refused: the error code when Zoho refused it whole.
    """

    number: int
    ids: list[str]
    sent: float = 0.0
    processed: float | None = None
    job_id: str | None = None
    refused: str | None = None


Hook = Callable[[SubmitCall], "Awaitable[None] | None"]


class FakeAPI:
    """Fake ``ZohoConvertClient`` mass-convert methods (see the module docstring).

    Args:
        time: the virtual time to run on (a new one by default).
        max_concurrency: requests in flight at most (as the client's limit).
        duration: seconds a job runs, or a function of the submit number.
        latency: seconds each request takes.
        invalid: ids that make a submit fail whole with INVALID_DATA.
        converted: ids converted before the run.
        hint: how a refusal names its offender: ``json_path``, ``id`` or ``none``.
        never_finish: submit numbers (a predicate) whose job never finishes.
        submit_faults: submit number -> error raised before Zoho processes the call.
        submit_faults_after: submit number -> error raised after Zoho processed it (the
            reply was lost).
        status_faults: status call number -> error raised instead of answering.
        reserve_ids: see the module docstring.
        already_converted: an already converted id refuses the whole call (``fail_call``)
            or fails inside the job (``fail_in_job``).
        failing_ids: ids that fail inside any job holding them (not approved, locked, ...).
        job_failures: submit number -> how many of its ids fail inside its job (its last ones).
        failed_jobs: submit numbers whose job ends FAILED (nothing converted).
        forget_jobs: submit numbers whose job Zoho forgets: every status poll of it raises
            ``JobNotFoundError`` (HTTP 204), while it still runs and converts its records.
        on_send: called with the ``SubmitCall`` when a submit's POST leaves.
        on_processed: called once Zoho processed a submit (accepted or refused), before the
            reply returns; an awaitable it returns is awaited first (one that never ends: the
            reply never comes).
    """

    def __init__(
        self,
        time: VirtualTime | None = None,
        *,
        max_concurrency: int = 10,
        duration: float | Callable[[int], float] = 1.0,
        latency: float = 0.05,
        invalid: Iterable[str] = (),
        converted: Iterable[str] = (),
        hint: str = "json_path",
        never_finish: Callable[[int], bool] = lambda n: False,
        submit_faults: dict[int, BaseException] | None = None,
        submit_faults_after: dict[int, BaseException] | None = None,
        status_faults: dict[int, BaseException] | None = None,
        reserve_ids: bool = True,
        already_converted: Literal["fail_call", "fail_in_job"] = "fail_call",
        failing_ids: Iterable[str] = (),
        job_failures: dict[int, int] | None = None,
        failed_jobs: Collection[int] = (),
        forget_jobs: Collection[int] = (),
        on_send: Hook | None = None,
        on_processed: Hook | None = None,
    ) -> None:
        self.time = time or VirtualTime()
        self.sleep = self.time.sleep
        self.clock = self.time.clock
        self.max_concurrency = max_concurrency
        self.duration = duration
        self.latency = latency
        self.invalid = set(invalid)
        self.records: Counter[str] = Counter({i: 1 for i in converted})
        self.preconverted = set(converted)
        self.hint = hint
        self.never_finish = never_finish
        self.submit_faults = submit_faults or {}
        self.submit_faults_after = submit_faults_after or {}
        self.status_faults = status_faults or {}
        self.reserve_ids = reserve_ids
        self.already_converted = already_converted
        self.failing_ids = set(failing_ids)
        self.job_failures = job_failures or {}
        self.failed_jobs = set(failed_jobs)
        self.forget_jobs = set(forget_jobs)
        self.on_send = on_send
        self.on_processed = on_processed
        # While True no job finishes: Zoho is slow. A test that kills a run with jobs surely
        # still running sets it (virtual time may jump while the run waits on its journal's
        # thread, far enough to end any job).
        self.paused = False
        self.jobs: dict[str, FakeJob] = {}
        self.calls: list[SubmitCall] = []
        self.pending: Counter[str] = Counter()  # ids held by jobs that have not finished
        self.request_count = 0
        self.submits = 0
        self.status_calls = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.submitted_batches: list[list[str]] = []
        self.module_lookups = 0
        self.lead_calls: list[dict[str, Any]] = []
        self._limit: asyncio.Semaphore | None = None

    async def _enter(self, call: SubmitCall | None = None) -> None:
        # Like the client's transport: at most max_concurrency requests in flight.
        if self._limit is None:
            self._limit = asyncio.Semaphore(self.max_concurrency)
        async with self._limit:
            self.request_count += 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            if call is not None:
                call.sent = self.now
                if self.on_send is not None:
                    self.on_send(call)
            try:
                await self.sleep(self.latency)
            finally:
                self.in_flight -= 1

    async def module_id(self, api_name: str) -> str:
        self.module_lookups += 1
        return "1000000000000000001"

    async def mass_convert(
        self,
        module: str,
        ids: Iterable[str | int],
        *,
        to: str | ModuleRef,
        carry_over_tags: bool = False,
        assign_to: str | int | None = None,
        related_modules: Sequence[ModuleRef] = (),
    ) -> str:
        return await self._schedule([str(i) for i in ids])

    async def mass_convert_leads(
        self,
        ids: Iterable[str | int],
        *,
        deals: DealDetails | None = None,
        assign_to: str | int | None = None,
        carry_over_tags: Sequence[str] = (),
        related_modules: Sequence[ModuleRef] = (),
        move_attachments_to: str | None = None,
    ) -> str:
        self.lead_calls.append({"carry_over_tags": tuple(carry_over_tags), "deals": deals})
        return await self._schedule([str(i) for i in ids])

    def _is_converted(self, value: str) -> bool:
        """Whether Zoho counts ``value`` as converted for a new submit."""
        return bool(self.records[value] or (self.reserve_ids and self.pending[value]))

    async def _schedule(self, ids: list[str]) -> str:
        assert 1 <= len(ids) <= 50
        number = self.submits
        self.submits += 1
        call = SubmitCall(number, list(ids))
        self.calls.append(call)
        await self._enter(call)
        fault = self.submit_faults.get(number)
        if fault is not None:
            raise fault
        self._advance()
        call.processed = self.now
        try:
            job_id = self._accept(number, ids)
        except InvalidRequestError as refusal:
            call.refused = refusal.code
            await self._processed(call)
            raise
        call.job_id = job_id
        await self._processed(call)
        after = self.submit_faults_after.get(number)
        if after is not None:
            raise after  # processed, but the reply is lost
        return job_id

    async def _processed(self, call: SubmitCall) -> None:
        if self.on_processed is not None:
            waiting = self.on_processed(call)
            if waiting is not None:
                await waiting

    def _accept(self, number: int, ids: list[str]) -> str:
        """Zoho's side of a submit: refuse it whole, or schedule its job."""
        for index, value in enumerate(ids):
            if value in self.invalid:
                details = {"json_path": f"$.ids[{index}]"} if self.hint == "json_path" else {}
                if self.hint == "id":
                    details = {"id": value}
                raise InvalidRequestError(400, "INVALID_DATA", "invalid id", details)
        already = {value for value in ids if self._is_converted(value)}
        if already and self.already_converted == "fail_call":
            value = next(v for v in ids if v in already)
            details = {"id": value} if self.hint != "none" else {}
            raise RecordStateError(400, "ID_ALREADY_CONVERTED", "already converted", details)
        failing = set(ids[len(ids) - self.job_failures.get(number, 0) :])
        failing |= already | (self.failing_ids & set(ids))
        outcome = JobState.FAILED if number in self.failed_jobs else JobState.COMPLETED
        converts = [] if outcome is JobState.FAILED else [v for v in ids if v not in failing]
        job_id = str(5000000000000000000 + number)
        duration = self.duration(number) if callable(self.duration) else self.duration
        job = FakeJob(
            number=number,
            ids=list(ids),
            converts=converts,
            created=self.now,
            duration=duration,
            never=self.never_finish(number),
            outcome=outcome,
            forgotten=number in self.forget_jobs,
        )
        self.jobs[job_id] = job
        self.submitted_batches.append(ids)
        self.pending.update(ids)
        if self.reserve_ids:
            self.records.update(converts)
        return job_id

    def _advance(self, until: float | None = None) -> None:
        """Finish every job whose time has come (by ``until``, default now)."""
        if self.paused:
            return
        limit = self.now if until is None else until
        for job in self.jobs.values():
            if not job.finished and job.ends_at <= limit:
                self._finish(job)

    def _finish(self, job: FakeJob) -> None:
        job.finished = True
        self.pending.subtract(job.ids)
        self.pending += Counter()  # drop the ids no job holds any more
        if not self.reserve_ids:
            self.records.update(job.converts)

    def finish_jobs(self) -> None:
        """Let every job that can finish do so, as if time ran on (before judging the ledger)."""
        self._advance(until=float("inf"))

    @property
    def now(self) -> float:
        return self.time.now

    @property
    def timing(self) -> Timing:
        return Timing(self.sleep, self.clock)

    credits = LocalCredits()
    ledger: ConversionLedger = NullLedger()

    async def job_status(self, module: str, job_id: str | int) -> JobStatus:
        return await self._status(str(job_id))

    async def mass_convert_status(self, module: str, job_id: str | int) -> JobStatus:
        return await self._status(str(job_id))

    async def mass_convert_leads_status(self, job_id: str | int) -> JobStatus:
        return await self._status(str(job_id))

    async def _status(self, job_id: str) -> JobStatus:
        number = self.status_calls
        self.status_calls += 1
        await self._enter()
        fault = self.status_faults.get(number)
        if fault is not None:
            raise fault
        self._advance()
        job = self.jobs[job_id]
        if job.forgotten:
            raise JobNotFoundError(job_id, 204, "NO_CONTENT", "Zoho has no status for this job")
        if not job.finished:
            n = len(job.ids)
            return JobStatus(JobState.IN_PROGRESS, n, 0, n, 0)
        return job.final_status()

    def converted_twice(self) -> list[str]:
        return [i for i, c in self.records.items() if c > 1]


class Crash:
    """An ``on_processed`` hook that plays a process killed while a POST was in flight.

    Once Zoho has processed a submit for which ``when(call)`` holds (its job exists, or it was
    refused), the task started by ``run`` is cancelled and that call's reply never comes, as
    if the process died before reading it: the journal keeps what it had on disk.
    """

    def __init__(self, when: Callable[[SubmitCall], bool]) -> None:
        self.when = when
        self.task: asyncio.Task[Any] | None = None
        self.call: SubmitCall | None = None

    def __call__(self, call: SubmitCall) -> Awaitable[None] | None:
        if self.call is not None or self.task is None or not self.when(call):
            return None
        self.call = call
        self.task.cancel()
        return asyncio.get_running_loop().create_future()  # the reply that never comes

    async def run(self, work: Awaitable[Any]) -> None:
        """Run ``work`` until the crash; fail if it ended any other way."""
        self.task = asyncio.ensure_future(work)
        await asyncio.wait({self.task})
        assert self.call is not None, "the crash never happened"
        assert self.task.cancelled(), self.task


async def read_later(
    api: FakeAPI, ids: Sequence[str], *, first: int, delay: float
) -> AsyncIterator[str]:
    """``ids`` as an id source whose values after the ``first`` come ``delay`` virtual
    seconds later (the batches they make are sent that much later)."""
    for value in ids[:first]:
        yield value
    await api.sleep(delay)
    for value in ids[first:]:
        yield value


class TimedEvents:
    """A progress callback keeping every event with the fake's virtual time it was published
    at."""

    def __init__(self, api: FakeAPI) -> None:
        self.api = api
        self.events: list[tuple[float, Event]] = []

    def __call__(self, event: Event) -> None:
        self.events.append((self.api.now, event))

    def of(self, kind: type) -> list[tuple[float, Any]]:
        """Each event of ``kind``, with when it was published."""
        return [(at, event) for at, event in self.events if isinstance(event, kind)]

    def times(self, kind: type, batch: int) -> list[float]:
        """When each event of ``kind`` about ``batch`` was published."""
        events = self.events
        return [t for t, e in events if isinstance(e, kind) and getattr(e, "batch", None) == batch]
