"""The simulated CRM's state: records, the conversion ledger, jobs, tokens and statistics.

Pure Python, no HTTP: handlers translate requests into calls on ``CrmState`` and its answers
(or ``RecordError``) into Zoho's wire format. Time comes from the configured clock only, so tests
drive job progress and token expiry without sleeping.
"""

from __future__ import annotations

import heapq
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Literal

import attrs

from .catalog import MODULES_BY_NAME, find_module
from .config import SimulatorConfig

JobStatusName = Literal["SCHEDULED", "IN PROGRESS", "COMPLETED", "FAILED"]
Outcome = Literal["COMPLETED", "FAILED", "NEVER"]
RecordProblem = Literal["INVALID_DATA", "ID_ALREADY_CONVERTED", "NOT_APPROVED", "RECORD_LOCKED"]

# Below this fraction of its duration a job still reports SCHEDULED.
_SCHEDULED_FRACTION = 0.25


class RecordError(Exception):
    """A record cannot be converted; for a mass call, ``index`` is its position in ``ids``."""

    def __init__(self, code: RecordProblem, record_id: int, index: int = 0) -> None:
        super().__init__(f"{code} for record {record_id}")
        self.code: RecordProblem = code
        self.record_id = record_id
        self.index = index


class UnknownJobError(Exception):
    """No job with that id exists for that module."""


@attrs.define
class Stats:
    """Counters for tests and benchmarks (read them; the simulator writes them).

    Attributes:
        requests_served: API and token-endpoint requests answered (or dropped).
        in_flight: API requests being handled right now.
        peak_in_flight: Highest ``in_flight`` seen.
        responses_by_status: HTTP status -> number of responses sent.
        requests_by_endpoint: Endpoint name (``"unknown"`` for unrouted paths, ``"token"``)
            -> number of requests.
        polls_per_job: Job id -> number of status polls.
        token_refreshes: Successful refresh-token grants.
        token_refresh_failures: Refused or failed token-endpoint calls.
        rate_limited: HTTP 429 responses sent.
        dropped: Connections closed without a response.
        corrupted: Corrupted replies sent.
        duplicate_attempts: Conversions refused because the record was already converted.
    """

    requests_served: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    responses_by_status: Counter[int] = attrs.field(factory=Counter)
    requests_by_endpoint: Counter[str] = attrs.field(factory=Counter)
    polls_per_job: dict[str, int] = attrs.field(factory=dict)
    token_refreshes: int = 0
    token_refresh_failures: int = 0
    rate_limited: int = 0
    dropped: int = 0
    corrupted: int = 0
    duplicate_attempts: int = 0

    def as_json(self) -> dict[str, object]:
        """A JSON-ready copy."""
        return {
            "requests_served": self.requests_served,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "responses_by_status": {str(k): v for k, v in sorted(self.responses_by_status.items())},
            "requests_by_endpoint": dict(sorted(self.requests_by_endpoint.items())),
            "polls_per_job": dict(self.polls_per_job),
            "token_refreshes": self.token_refreshes,
            "token_refresh_failures": self.token_refresh_failures,
            "rate_limited": self.rate_limited,
            "dropped": self.dropped,
            "corrupted": self.corrupted,
            "duplicate_attempts": self.duplicate_attempts,
        }


@attrs.frozen
class JobSnapshot:
    """A job's counts at one instant; ``total == converted + not_converted + failed`` always."""

    status: JobStatusName
    total: int
    converted: int
    not_converted: int
    failed: int


@attrs.define(eq=False)
class Job:
    """A mass-convert job: its reserved ids convert when it completes."""

    job_id: str
    module: str
    target: str | None
    ids: tuple[int, ...]  # reserved at submission, converted at completion
    prefailed: int  # refused at submission (not approved, locked, already converted)
    submitted_at: float
    duration: float
    outcome: Outcome
    finished: bool = False

    @property
    def total(self) -> int:
        """Number of distinct ids the job was given."""
        return len(self.ids) + self.prefailed

    def snapshot(self, now: float) -> JobSnapshot:
        """The job's status at clock time ``now``."""
        total, ok = self.total, len(self.ids)
        elapsed = now - self.submitted_at
        if self.outcome != "NEVER" and elapsed >= self.duration:
            if self.outcome == "FAILED":
                return JobSnapshot("FAILED", total, 0, 0, total)
            return JobSnapshot("COMPLETED", total, ok, 0, self.prefailed)
        fraction = 0.0 if self.duration <= 0 else min(elapsed / self.duration, 1.0)
        if self.outcome == "NEVER":
            fraction = min(fraction, 0.5)  # it looks busy, and stays that way
        if fraction < _SCHEDULED_FRACTION and self.outcome != "NEVER":
            return JobSnapshot("SCHEDULED", total, 0, total, 0)
        if self.outcome == "FAILED":
            # Counts never go backwards: a doomed job shows no conversions before it fails.
            return JobSnapshot("IN PROGRESS", total, 0, total, 0)
        converted = math.floor(fraction * ok)
        failed = math.floor(fraction * self.prefailed)
        return JobSnapshot("IN PROGRESS", total, converted, total - converted - failed, failed)


@attrs.define
class _Token:
    minted_at: float
    uses: int = 0


class TokenBook:
    """Access tokens, the refresh-token grant and expiry by uses or by clock time."""

    def __init__(self, config: SimulatorConfig, clock: Callable[[], float]) -> None:
        self._config = config
        self._clock = clock
        self._rng = random.Random(f"tokens:{config.seed}")
        self._tokens: dict[str, _Token] = {}
        self._refresh_revoked = False
        self._endpoint_failures_left = config.faults.token_endpoint_failures
        self.initial = config.access_token or self._mint()
        self._tokens[self.initial] = _Token(clock())

    def _mint(self) -> str:
        return f"1000.{self._rng.getrandbits(128):032x}.{self._rng.getrandbits(128):032x}"

    def use(self, token: str) -> bool:
        """Count one use of ``token``; False when it is unknown, expired or used up."""
        info = self._tokens.get(token)
        if info is None:
            return False
        faults = self._config.faults
        if faults.token_ttl is not None and self._clock() - info.minted_at >= faults.token_ttl:
            return False
        if faults.token_max_uses is not None and info.uses >= faults.token_max_uses:
            return False
        info.uses += 1
        return True

    def take_endpoint_failure(self) -> bool:
        """True while the configured number of token-endpoint failures is not used up."""
        if self._endpoint_failures_left > 0:
            self._endpoint_failures_left -= 1
            return True
        return False

    def refresh(
        self, grant_type: str, client_id: str, client_secret: str, refresh_token: str
    ) -> str:
        """Mint a new access token, or return Zoho's error string (``invalid_client``...).

        Returns:
            The new token, or ``"error:<code>"`` for a refused grant.
        """
        cfg = self._config
        if grant_type != "refresh_token":
            return "error:unsupported_grant_type"
        if client_id != cfg.client_id or client_secret != cfg.client_secret:
            return "error:invalid_client"
        if refresh_token != cfg.refresh_token or self._refresh_revoked:
            return "error:invalid_code"
        token = self._mint()
        self._tokens[token] = _Token(self._clock())
        return token

    def revoke_refresh_token(self) -> None:
        """Make the refresh token useless (the token endpoint answers ``invalid_code``)."""
        self._refresh_revoked = True


class ConversionsView(Mapping[tuple[str, str], int]):
    """Read-only view: ``(module, record_id) -> times converted`` (the ledger keeps it <= 1)."""

    def __init__(self, state: CrmState) -> None:
        self._state = state

    def _ledger(self) -> dict[str, dict[int, int]]:
        self._state.advance()
        return self._state._converted

    def __getitem__(self, key: tuple[str, str]) -> int:
        module, record_id = key
        try:
            return self._ledger()[module][int(record_id)]
        except (KeyError, ValueError):
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for module, ids in self._ledger().items():
            for rid in ids:
                yield module, str(rid)

    def __len__(self) -> int:
        return sum(len(ids) for ids in self._ledger().values())


class CrmState:
    """Everything the simulated CRM remembers between requests.

    Args:
        config: The simulator configuration (seed, id sets, job timing, faults).
    """

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.clock: Callable[[], float] = config.clock or time.monotonic
        # A 7-digit prefix below 9,000,000 keeps 19-digit ids under 2**63 - 1 (a Zoho long).
        seed = config.seed
        self.org_prefix = str(random.Random(f"org:{seed}").randrange(1_000_000, 9_000_000))
        self._next_serial = 1_000_000  # below this: module and field ids
        self._job_rng = random.Random(f"jobs:{seed}")
        self._name_rng = random.Random(f"names:{seed}")
        self.stats = Stats()
        self.tokens = TokenBook(config, self.clock)
        self._invalid = _int_ids(config.invalid_ids)
        self._not_approved = _int_ids(config.not_approved_ids)
        self._locked = _int_ids(config.locked_ids)
        self._created: dict[str, set[int]] = {}
        self._owner: dict[int, str] = {}
        self._converted: dict[str, dict[int, int]] = {}
        self._reserved: dict[str, dict[int, str]] = {}
        self.jobs: dict[str, Job] = {}
        self._due: list[tuple[float, int, str]] = []  # (due time, serial, job id) heap
        self.conversions: Mapping[tuple[str, str], int] = ConversionsView(self)

    # -- ids and records ------------------------------------------------------------------

    def new_id(self) -> str:
        """A fresh 19-digit id in this org (records, jobs and converted records share them)."""
        serial = self._next_serial
        self._next_serial += 1
        return f"{self.org_prefix}{serial:012d}"

    def create_records(self, module: str, count: int) -> list[str]:
        """Create ``count`` records in ``module`` and return their ids (deterministic per seed).

        Raises:
            ValueError: ``module`` is not a module of the simulated org, or ``count`` < 0.
        """
        info = find_module(module)
        if info is None:
            raise ValueError(f"unknown module {module!r}; known: {sorted(MODULES_BY_NAME)}")
        if count < 0:
            raise ValueError("count must be >= 0")
        ids = [self.new_id() for _ in range(count)]
        bucket = self._created.setdefault(info.api_name, set())
        for rid in ids:
            bucket.add(int(rid))
            self._owner[int(rid)] = info.api_name
        return ids

    def converted_ids(self, module: str) -> set[str]:
        """Ids of ``module`` converted so far."""
        self.advance()
        return {str(rid) for rid in self._converted.get(module, {})}

    def reserved_ids(self, module: str) -> set[str]:
        """Ids of ``module`` held by jobs that have not finished."""
        self.advance()
        return {str(rid) for rid in self._reserved.get(module, {})}

    def revoke_refresh_token(self) -> None:
        """From now on the token endpoint refuses the refresh token (``invalid_code``)."""
        self.tokens.revoke_refresh_token()

    def record_problem(self, module: str, rid: int) -> RecordProblem | None:
        """Why ``rid`` of ``module`` cannot be converted now, or None if it can."""
        owner = self._owner.get(rid)
        if rid in self._invalid or (owner is not None and owner != module):
            return "INVALID_DATA"
        if self.config.strict_records and owner is None:
            return "INVALID_DATA"
        if rid in self._converted.get(module, ()) or rid in self._reserved.get(module, ()):
            return "ID_ALREADY_CONVERTED"
        if rid in self._not_approved:
            return "NOT_APPROVED"
        if rid in self._locked:
            return "RECORD_LOCKED"
        return None

    def _mark_converted(self, module: str, rid: int) -> None:
        ledger = self._converted.setdefault(module, {})
        ledger[rid] = ledger.get(rid, 0) + 1

    def fake_name(self, module: str) -> str:
        """A plausible record name for a converted record."""
        info = find_module(module)
        label = info.singular_label if info else module
        return f"{label} {self._name_rng.randrange(1000, 10000)}"

    # -- single conversions ---------------------------------------------------------------

    def convert_one(self, module: str, rid: int) -> None:
        """Convert one record now.

        Raises:
            RecordError: The record is invalid, already converted, not approved or locked.
        """
        self.advance()
        problem = self.record_problem(module, rid)
        if problem is not None:
            if problem == "ID_ALREADY_CONVERTED":
                self.stats.duplicate_attempts += 1
            raise RecordError(problem, rid)
        self._mark_converted(module, rid)

    # -- mass conversions and jobs --------------------------------------------------------

    def submit_job(self, module: str, target: str | None, ids: list[int]) -> Job:
        """Validate ``ids`` as one mass-convert call and schedule a job for them.

        Duplicated ids in one call count once. Invalid ids fail the whole call; already converted
        ids fail it too under ``already_converted="fail_call"``; otherwise refused ids are
        counted as failed inside the job. Accepted ids are reserved until the job finishes.

        Raises:
            RecordError: The call fails as a whole; nothing was reserved or converted.
        """
        self.advance()
        unique = list(dict.fromkeys(ids))
        problems: list[tuple[int, int, RecordProblem | None]] = [
            (index, rid, self.record_problem(module, rid)) for index, rid in enumerate(unique)
        ]
        for _, rid, problem in problems:
            if problem == "INVALID_DATA":
                raise RecordError(problem, rid, ids.index(rid))
        duplicates = [(i, rid) for i, rid, p in problems if p == "ID_ALREADY_CONVERTED"]
        self.stats.duplicate_attempts += len(duplicates)
        if duplicates and self.config.already_converted == "fail_call":
            _, rid = duplicates[0]
            raise RecordError("ID_ALREADY_CONVERTED", rid, ids.index(rid))
        accepted = tuple(rid for _, rid, p in problems if p is None)
        job_id = self.new_id()
        duration, outcome = self._draw_job_fate()
        job = Job(
            job_id=job_id,
            module=module,
            target=target,
            ids=accepted,
            prefailed=len(unique) - len(accepted),
            submitted_at=self.clock(),
            duration=duration,
            outcome=outcome,
        )
        self.jobs[job_id] = job
        reserved = self._reserved.setdefault(module, {})
        for rid in accepted:
            reserved[rid] = job_id
        if outcome != "NEVER":
            heapq.heappush(self._due, (job.submitted_at + duration, int(job_id), job_id))
        return job

    def _draw_job_fate(self) -> tuple[float, Outcome]:
        cfg, faults = self.config, self.config.faults
        # Always draw both numbers so that one setting does not shift the others' streams.
        jitter = self._job_rng.uniform(-1.0, 1.0) * cfg.job_duration_jitter
        roll = self._job_rng.random()
        duration = max(0.0, cfg.job_duration + jitter)
        if roll < faults.never_finish_rate:
            return duration, "NEVER"
        if roll < faults.never_finish_rate + faults.failed_job_rate:
            return duration, "FAILED"
        return duration, "COMPLETED"

    def advance(self) -> None:
        """Finish every job whose time has come: convert its ids or release them if FAILED."""
        now = self.clock()
        while self._due and self._due[0][0] <= now:
            _, _, job_id = heapq.heappop(self._due)
            self._finish(self.jobs[job_id])

    def _finish(self, job: Job) -> None:
        reserved = self._reserved.get(job.module, {})
        for rid in job.ids:
            reserved.pop(rid, None)
            if job.outcome == "COMPLETED":
                self._mark_converted(job.module, rid)
        job.finished = True

    def poll_job(self, module: str, job_id: str) -> JobSnapshot:
        """Status of a job of ``module``; counts the poll.

        Raises:
            UnknownJobError: No such job for that module.
        """
        self.advance()
        job = self.jobs.get(job_id)
        if job is None or job.module != module:
            raise UnknownJobError(job_id)
        self.stats.polls_per_job[job_id] = self.stats.polls_per_job.get(job_id, 0) + 1
        return job.snapshot(self.clock())

    # -- observability --------------------------------------------------------------------

    def summary(self, include_jobs: bool = True) -> dict[str, object]:
        """JSON-ready view of the state for ``GET /__simulator__/state``."""
        self.advance()
        now = self.clock()
        conversions = {
            module: {
                "converted": len(ledger),
                "max_count": max(ledger.values(), default=0),
                "reserved": len(self._reserved.get(module, {})),
            }
            for module, ledger in self._converted.items()
        }
        for module, reserved in self._reserved.items():
            conversions.setdefault(
                module, {"converted": 0, "max_count": 0, "reserved": len(reserved)}
            )
        result: dict[str, object] = {
            "stats": self.stats.as_json(),
            "conversions": conversions,
            "job_count": len(self.jobs),
            "records_created": {m: len(ids) for m, ids in self._created.items()},
        }
        if include_jobs:
            jobs = []
            for job in self.jobs.values():
                snap = job.snapshot(now)
                jobs.append(
                    {
                        "job_id": job.job_id,
                        "module": job.module,
                        "target": job.target,
                        "status": snap.status,
                        "total_count": snap.total,
                        "converted_count": snap.converted,
                        "not_converted_count": snap.not_converted,
                        "failed_count": snap.failed,
                        "polls": self.stats.polls_per_job.get(job.job_id, 0),
                    }
                )
            result["jobs"] = jobs
        return result


def _int_ids(values: frozenset[str]) -> frozenset[int]:
    return frozenset(int(v) for v in values if v.strip().isdigit())
