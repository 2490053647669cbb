"""An in-memory stand-in for the client's mass-convert methods, running on virtual time.

It plays Zoho's rules that ``convert_many`` relies on: a batch with an invalid or an already
converted id is refused whole; a record is never converted twice; jobs finish after a set
duration. Faults are scripted per call. Time is virtual: ``sleep`` parks the caller until a
driver advances ``now``, so tests run instantly and deterministically.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from zoho_convert.api.errors import InvalidRequestError, RecordStateError
from zoho_convert.api.models import DealDetails, JobState, JobStatus, ModuleRef
from zoho_convert.api.timing import Timing


class VirtualTime:
    """A clock and a sleep function: time jumps to the next wake-up once all tasks idle."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._driver: asyncio.Task[None] | None = None
        self.slept = 0

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.slept += 1
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(delay, 0.0), next(self._order), future))
        if self._driver is None or self._driver.done():
            self._driver = asyncio.ensure_future(self._drive())
        await future

    async def _drive(self) -> None:
        while self._sleepers:
            for _ in range(20):  # let every runnable task reach its next sleep
                await asyncio.sleep(0)
            if not self._sleepers:
                break
            wake, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, wake)
            if not future.done():
                future.set_result(None)


class FakeAPI:
    """Fake ``ZohoConvertClient`` mass-convert methods (see the module docstring)."""

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
    ) -> None:
        self.time = time or VirtualTime()
        self.sleep = self.time.sleep
        self.clock = self.time.clock
        self.max_concurrency = max_concurrency
        self.duration = duration
        self.latency = latency
        self.invalid = set(invalid)
        self.ledger: Counter[str] = Counter({i: 1 for i in converted})
        self.preconverted = set(converted)
        self.hint = hint
        self.never_finish = never_finish
        self.submit_faults = submit_faults or {}
        self.submit_faults_after = submit_faults_after or {}
        self.status_faults = status_faults or {}
        self.jobs: dict[str, tuple[list[str], float, float, bool]] = {}
        self.request_count = 0
        self.submits = 0
        self.status_calls = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.submitted_batches: list[list[str]] = []
        self.module_lookups = 0
        self.lead_calls: list[dict[str, Any]] = []
        self._limit: asyncio.Semaphore | None = None

    async def _enter(self) -> None:
        # Like the client's transport: at most max_concurrency requests in flight.
        if self._limit is None:
            self._limit = asyncio.Semaphore(self.max_concurrency)
        async with self._limit:
            self.request_count += 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
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

    async def _schedule(self, ids: list[str]) -> str:
        assert 1 <= len(ids) <= 50
        number = self.submits
        self.submits += 1
        await self._enter()
        fault = self.submit_faults.get(number)
        if fault is not None:
            raise fault
        for index, value in enumerate(ids):
            if value in self.invalid:
                details = {"json_path": f"$.ids[{index}]"} if self.hint == "json_path" else {}
                if self.hint == "id":
                    details = {"id": value}
                raise InvalidRequestError(400, "INVALID_DATA", "invalid id", details)
        for value in ids:
            if self.ledger[value]:
                details = {"id": value} if self.hint != "none" else {}
                raise RecordStateError(400, "ID_ALREADY_CONVERTED", "already converted", details)
        job_id = str(5000000000000000000 + number)
        duration = self.duration(number) if callable(self.duration) else self.duration
        self.jobs[job_id] = (ids, self.now, duration, self.never_finish(number))
        self.submitted_batches.append(ids)
        for value in ids:
            self.ledger[value] += 1
        after = self.submit_faults_after.get(number)
        if after is not None:
            raise after  # processed, but the reply is lost
        return job_id

    @property
    def now(self) -> float:
        return self.time.now

    @property
    def timing(self) -> Timing:
        return Timing(self.sleep, self.clock)

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
        ids, created, duration, never = self.jobs[job_id]
        n = len(ids)
        if never or self.now < created + duration:
            return JobStatus(JobState.IN_PROGRESS, n, 0, n, 0)
        return JobStatus(JobState.COMPLETED, n, n, 0, 0)

    def converted_twice(self) -> list[str]:
        return [i for i, c in self.ledger.items() if c > 1]
