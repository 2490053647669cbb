"""The simulated CRM's state: records, the conversion ledger, jobs, tokens and statistics.

Pure Python, no HTTP: handlers translate requests into calls on ``CrmState`` and its answers
(or ``RecordError``) into Zoho's wire format. Time comes from the configured clock only, so tests
drive job progress and token expiry without sleeping.
"""

from __future__ import annotations

import heapq
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Literal

from .catalog import MODULES_BY_NAME, find_module
from .config import SimulatorConfig
from .jobs import MALFORMATIONS, Job, JobSnapshot, Outcome
from .stats import Stats
from .tokens import TokenBook

__all__ = [
    "ConversionsView",
    "CrmState",
    "ForgottenJobError",
    "Job",
    "JobSnapshot",
    "RecordError",
    "RecordProblem",
    "Stats",
    "UnknownJobError",
]

RecordProblem = Literal[
    "INVALID_DATA",
    "NO_PERMISSION",
    "ID_ALREADY_CONVERTED",
    "NOT_APPROVED",
    "NOT_REVIEWED",
    "RECORD_LOCKED",
]


class RecordError(Exception):
    """A record cannot be converted; for a mass call, ``index`` is its position in ``ids``."""

    def __init__(self, code: RecordProblem, record_id: int, index: int = 0) -> None:
        super().__init__(f"{code} for record {record_id}")
        self.code: RecordProblem = code
        self.record_id = record_id
        self.index = index


class UnknownJobError(Exception):
    """No job with that id exists for that module."""


class ForgottenJobError(Exception):
    """The job exists (and converts its records) but its status can no longer be read."""


class ConversionsView(Mapping[tuple[str, str], int]):
    """Read-only view: ``(module, record_id) -> times converted`` (1, unless ids are unreserved)."""

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
        self._job_fault_rng = random.Random(f"job-faults:{seed}")
        self._name_rng = random.Random(f"names:{seed}")
        self.stats = Stats()
        self.tokens = TokenBook(config, self.clock)
        self._invalid = _int_ids(config.invalid_ids)
        self._not_approved = _int_ids(config.not_approved_ids)
        self._not_reviewed = _int_ids(config.not_reviewed_ids)
        self._no_permission = _int_ids(config.no_permission_ids)
        self._locked = _int_ids(config.locked_ids)
        self._created: dict[str, set[int]] = {}
        self._owner: dict[int, str] = {}
        self._converted: dict[str, dict[int, int]] = {}
        # module -> id -> number of unfinished jobs holding it
        self._pending: dict[str, Counter[int]] = {}
        self.jobs: dict[str, Job] = {}
        self._latest_job: dict[str, str] = {}  # module -> id of its latest job
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
        """Ids of ``module`` held by jobs that have not finished (whatever ``reserve_ids``)."""
        self.advance()
        return {str(rid) for rid in self._pending.get(module, {})}

    def conversion_counts(self, module: str) -> dict[str, int]:
        """Id -> times converted, for the ids of ``module`` converted at least once."""
        self.advance()
        return {str(rid): n for rid, n in self._converted.get(module, {}).items()}

    def revoke_refresh_token(self) -> None:
        """From now on the token endpoint refuses the refresh token (``invalid_code``)."""
        self.tokens.revoke_refresh_token()

    def record_problem(self, module: str, rid: int, single: bool = False) -> RecordProblem | None:
        """Why ``rid`` of ``module`` cannot be converted now (by a ``single`` convert or a
        mass convert), or None if it can."""
        owner = self._owner.get(rid)
        if rid in self._invalid or (owner is not None and owner != module):
            return "INVALID_DATA"
        if self.config.strict_records and owner is None:
            return "INVALID_DATA"
        if rid in self._no_permission:
            return "NO_PERMISSION"
        if rid in self._converted.get(module, ()):
            invalid = self.config.converted_reads_invalid(module, single)
            return "INVALID_DATA" if invalid else "ID_ALREADY_CONVERTED"
        if self.config.reserve_ids and rid in self._pending.get(module, ()):
            return "ID_ALREADY_CONVERTED"
        if rid in self._not_approved:
            return "NOT_APPROVED"
        if rid in self._not_reviewed:
            return "NOT_REVIEWED"
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
            RecordError: The record is invalid, not permitted, already converted, not approved,
                not reviewed or locked.
        """
        self.advance()
        problem = self.record_problem(module, rid, single=True)
        if problem is not None:
            if problem == "ID_ALREADY_CONVERTED":
                self.stats.duplicate_attempts += 1
            raise RecordError(problem, rid)
        self._mark_converted(module, rid)

    # -- mass conversions and jobs --------------------------------------------------------

    def submit_job(self, module: str, target: str | None, ids: list[int]) -> Job:
        """Validate ``ids`` as one mass-convert call and schedule a job for them.

        Duplicated ids in one call count once. Invalid and not permitted ids fail the whole
        call; already converted ids fail it too under ``already_converted="fail_call"``, not
        approved / not reviewed ones under ``approval_errors="fail_call"``; otherwise refused
        ids are counted as failed inside the job. Accepted ids are pending until the job
        finishes (and, with ``reserve_ids``, count as converted for every other call).

        Raises:
            RecordError: The call fails as a whole (its ``index`` is the first position of the
                offending id in ``ids``); nothing was scheduled or converted.
        """
        self.advance()
        unique = list(dict.fromkeys(ids))
        problems = {rid: self.record_problem(module, rid) for rid in unique}
        self._refuse_call(ids, problems, ("INVALID_DATA", "NO_PERMISSION"))
        self.stats.duplicate_attempts += sum(
            1 for p in problems.values() if p == "ID_ALREADY_CONVERTED"
        )
        cfg = self.config
        if cfg.already_converted == "fail_call":
            self._refuse_call(ids, problems, ("ID_ALREADY_CONVERTED",))
        if cfg.approval_errors == "fail_call":
            self._refuse_call(ids, problems, ("NOT_APPROVED", "NOT_REVIEWED"))
        accepted = tuple(rid for rid in unique if problems[rid] is None)
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
            announced_id=job_id,
        )
        self._draw_job_faults(job)
        self.jobs[job_id] = job
        self._latest_job[module] = job_id
        self._pending.setdefault(module, Counter()).update(accepted)
        if outcome != "NEVER":
            heapq.heappush(self._due, (job.submitted_at + duration, int(job_id), job_id))
        return job

    @staticmethod
    def _refuse_call(
        ids: list[int],
        problems: Mapping[int, RecordProblem | None],
        codes: tuple[RecordProblem, ...],
    ) -> None:
        """Raise for the first id (in ``ids`` order) with the first of ``codes`` found."""
        for code in codes:
            for rid, problem in problems.items():
                if problem == code:
                    raise RecordError(code, rid, ids.index(rid))

    def _draw_job_faults(self, job: Job) -> None:
        faults = self.config.faults
        # Always draw all four numbers so that one setting does not shift the others' streams.
        forget, duplicate, malformed, flavour = (self._job_fault_rng.random() for _ in range(4))
        job.forgotten = forget < faults.forget_job_rate
        earlier = self._latest_job.get(job.module)
        if duplicate < faults.duplicate_job_id_rate and earlier is not None:
            job.announced_id = earlier
            self.stats.duplicate_job_ids += 1
        if malformed < faults.malformed_final_rate:
            kinds = MALFORMATIONS[faults.malformed_final_kind]
            job.malformed = kinds[int(flavour * len(kinds))]

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
        pending = self._pending.get(job.module, Counter())
        for rid in job.ids:
            pending[rid] -= 1
            if pending[rid] <= 0:
                del pending[rid]
            if job.outcome == "COMPLETED":
                # No re-check here: without reserve_ids, two jobs holding one id both convert it,
                # and the ledger's count of 2 is what a test of double submission looks for.
                self._mark_converted(job.module, rid)
        job.finished = True

    def poll_job(self, module: str, job_id: str) -> JobSnapshot:
        """Status of a job of ``module``; counts the poll.

        Raises:
            UnknownJobError: No such job for that module.
            ForgottenJobError: The job is forgotten (see ``forget_job``).
        """
        self.advance()
        job = self.jobs.get(job_id)
        if job is None or job.module != module:
            raise UnknownJobError(job_id)
        self.stats.polls_per_job[job_id] = self.stats.polls_per_job.get(job_id, 0) + 1
        if job.forgotten:
            self.stats.forgotten_polls += 1
            raise ForgottenJobError(job_id)
        return job.snapshot(self.clock())

    def forget_job(self, job_id: str) -> None:
        """From now on every status poll of ``job_id`` fails; the job still converts its records.

        Raises:
            UnknownJobError: No such job.
        """
        job = self.jobs.get(str(job_id))
        if job is None:
            raise UnknownJobError(job_id)
        job.forgotten = True

    # -- observability --------------------------------------------------------------------

    def summary(self, include_jobs: bool = True) -> dict[str, object]:
        """JSON-ready view of the state for ``GET /__simulator__/state``."""
        self.advance()
        now = self.clock()
        conversions = {
            module: {
                "converted": len(ledger),
                "max_count": max(ledger.values(), default=0),
                "reserved": len(self._pending.get(module, {})),
            }
            for module, ledger in self._converted.items()
        }
        for module, pending in self._pending.items():
            conversions.setdefault(
                module, {"converted": 0, "max_count": 0, "reserved": len(pending)}
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
                        "announced_id": job.announced_id,
                        "forgotten": job.forgotten,
                        "malformed": job.malformed,
                    }
                )
            result["jobs"] = jobs
        return result


def _int_ids(values: frozenset[str]) -> frozenset[int]:
    return frozenset(int(v) for v in values if v.strip().isdigit())
