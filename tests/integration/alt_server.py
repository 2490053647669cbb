"""An independent Zoho-like server for tests: the spec texts read literally, other choices.

Written apart from ``zoho_convert.simulator`` (it imports nothing from ``zoho_convert``) to
rehearse a server nobody on the team has seen: where the seed pages and Zoho's OpenAPI v8
specs leave room, it chooses differently from our simulator (see ``AltConfig``). Its
``ledger`` counts every conversion per (module, id): the truth a report is judged against.

Jobs convert their records one by one over their running time, polled or not (Zoho works
asynchronously); a record already converted (by anyone, even another pending job) or locked
fails inside the job, or, as ``AltConfig.already`` says, makes the submit refuse. Time is a
clock passed in, so tests move it by hand.

It can also misbehave where no doc says a server may not (hunt round 8): job ids that are
not all digits (``job_id_form``), a submit reply's job id that cannot be read
(``BAD_JOB_IDS``), final statuses that cannot account for their batch (``final_lies``), and
an ambiguous single-convert refusal of a converted record (``single_already``).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import alt_wire
import attrs
from aiohttp import web

__all__ = ["AltConfig", "AltServer", "Job", "Rates"]

# The seed page's spelling of the four states (COMPLETED, SCHEDULED, IN PROGRESS, FAILED);
# the status page's key spelling is not_converted_Count.
_STATES = ("SCHEDULED", "IN PROGRESS", "COMPLETED", "FAILED")
TARGET_IDS = {
    "Sales_Orders": "5725767000000000411",
    "Invoices": "5725767000000000425",
    "Quotes": "5725767000000000397",
    "Leads": "5725767000000000133",
}


@attrs.frozen
class Rates:
    """Random faults of one kind of request (probabilities per request)."""

    p429: float = 0.0
    retry_after: str | None = None  # Retry-After header on 429s; None: none (Zoho's norm)
    p500_before: float = 0.0  # 500 INTERNAL_ERROR, nothing done
    p500_after: float = 0.0  # the request was processed, then 500
    pdrop_before: float = 0.0  # connection closed, nothing done
    pdrop_after: float = 0.0  # processed, then the connection closed
    http_500_body: bool = True  # a Zoho error body on the 500 (else an HTML page)
    pslow_after: float = 0.0  # processed, then the reply waits ``slow`` real seconds
    slow: float = 0.0
    p200_error: float = 0.0  # HTTP 200 with a Zoho error body (INTERNAL_ERROR), nothing done
    p401: float = 0.0  # the token is revoked now: 401 INVALID_TOKEN (a token dying early)
    # Wire faults of ``alt_wire`` (a gateway's pages, cut or dressed replies, odd status
    # rows): name -> probability, drawn after the faults above.
    odd: Mapping[str, float] = attrs.field(factory=dict)
    pbad_job_id: float = 0.0  # submit processed, the reply's job id unreadable (``BAD_JOB_IDS``)


@attrs.frozen
class AltConfig:
    """How this server reads the spec where it leaves room.

    Attributes:
        seed: seeds the faults.
        status_wrap: ``"bare"`` (the OAS v8 Status schema) or ``"data"`` (the v7 page).
        state_case: ``"upper"`` (the page: "IN PROGRESS") or ``"title"`` ("In Progress").
        counts: ``"int"``, ``"str"`` (numeric strings) or ``"final"`` (absent until the job
            ends; the OAS marks none ``required``) or ``"nonzero"`` (zero counts omitted).
        not_converted_key: ``not_converted_Count`` (the page's key list) or the sample's.
        extra_fields: add keys no doc lists (``job_id``, ``created_time``, ``module``).
        submit_http: 202 (OAS) or 200.
        job_id_number: the job id as a JSON number (the SDK sends it so) instead of a string.
        scheduled_for: clock seconds a job stays SCHEDULED before it starts.
        duration: clock seconds a job takes to convert its records, one by one.
        already: an already-converted id in a submit: ``"in_job"`` (counted failed in the
            job), ``"refuse_index"`` (400 ID_ALREADY_CONVERTED ``{resource_path_index}``, the
            OAS), ``"refuse_id"`` (``{id}``), ``"refuse_data"`` (``{"data": [per-id errors]}``),
            ``"refuse_path"`` (``{api_name: ids, json_path: $.ids[N]}``, older replies),
            ``"partial_207"`` (the others scheduled in a job, HTTP 207 with a ``data`` row per
            refused id, then the job's success row: the multi-status shape of Zoho's record
            APIs).
        failed_state: a job with failures ends ``"completed"`` (COMPLETED, counts say how many
            failed), ``"failed_if_any"`` (FAILED after converting the others) or
            ``"failed_if_all"``.
        forget_after: a job's status is forgotten this long after it ends (None: never).
        forget_from: ``forget_after`` counts from the job's ``"end"`` or from its ``"submit"``
            (a status kept a fixed time after scheduling: a long job is forgotten as it runs).
        forget_reply: ``"invalid_data"`` (the page: 400 INVALID_DATA "The job_id is invalid",
            details ``{}``) or ``"204"`` (the SDK's samples).
        single_errors: single/lead convert errors at ``"top"`` level (HTTP 400) or inside
            ``"data"`` with HTTP 202 (the Convert Lead OAS).
        token_life: clock seconds an access token really lasts (the reply says 3600).
        token_ms: the token reply carries ``expires_in_sec`` and ``expires_in`` in ms.
        queue: jobs of a module run one after another (each starts when the one before
            ends), so a job's wait grows with the queue ahead of it.
        rates: faults per kind: ``submit``, ``status``, ``single``, ``lead``, ``modules``,
            ``token`` (the accounts server: a 429 or an error under 200 is its throttle,
            ``Access Denied``; a 401 there is no fault).
        leads_mass: serve the Leads mass convert (``Leads/actions/mass_convert``, the OAS
            mass_convert.json: 200 on submit, status rows in ``data`` with capitalised keys).
            Off: INVALID_MODULE, as before.
        token_api_domain: the token reply carries ``api_domain`` (the OAuth page lists it;
            off: a reply without it).
        counts_wobble: an IN PROGRESS status reports a converted count drawn at random up to
            the true one, so counts can go down between two polls (nothing forbids it).
        revoke_at: clock time from which every access token minted so far is refused (401
            INVALID_TOKEN); None: never.
        duration_spread: each job takes ``duration`` plus a random extra up to
            ``duration_spread`` times it (jobs of varied length; 0: all alike).
        state_names: states renamed on the wire (the OAS types ``status`` as a bare string:
            ``{"SCHEDULED": "QUEUED"}`` names a state no page lists).
        status_http: the HTTP status of a status reply (200; the OAS allows no other, a
            gateway might say 202).
        submit_wrap: the submit's success reply ``"bare"`` (OAS, page) or inside ``"data"``
            (the shape of Zoho's record APIs).
        token_shape: the token reply's ``expires_in`` as a numeric string, a float, absent,
            or words; or its ``api_domain`` ending in ``/`` (``"plain"``: as the page shows).
        fault_plan: scripted faults per kind, for deterministic tests: the ``n``-th request
            of a kind gets the plan's ``n``-th entry (a fault's name: ``"429"``,
            ``"500_before"``, ``"500_after"``, ``"drop_before"``, ``"drop_after"``,
            ``"200_error"``, ``"401"``, or for submits one of ``BAD_JOB_IDS``: processed, its
            reply's job id unreadable; or None: no fault); past its plan, ``rates`` draws.
        job_id_form: how job ids are written (Zoho documents numeric strings; nothing stops
            a server from other text): ``"number"`` (``job_id_number`` says JSON number or
            string), ``"prefixed"`` (``job-7f3a…``), ``"alnum"`` (``A1B2…``), ``"zeros"``
            (digits with leading zeros, which a status poll must send back as written),
            ``"punct"`` (``j+1&x=%/#…``: characters a query string must escape), or
            ``"mixed"`` (each job one of these at random). A status poll finds a job only
            by the exact text it was given.
        final_lies: how a job's final status misreports it, per job by ``final_lie_plan`` (the
            ``n``-th job the plan's ``n``-th entry) then drawn at ``final_lie_rate`` among
            ``final_lie_kinds``: ``"zeros"`` (COMPLETED, every count 0), ``"total_over"``
            (total and converted 3 more than the job's records), ``"total_under"`` (total
            and converted 1 fewer), ``"nc_completed"`` (COMPLETED, half the converted
            records counted not converted), ``"early_zeros"`` (COMPLETED with every count 0 from
            the first poll, while the job has yet to run). The records converted are those
            the job did.
        single_already: the code a single convert (Convert Inventory Record, Convert Lead)
            answers for a record already converted: ``ID_ALREADY_CONVERTED`` (the docs), or
            an ambiguous one such as ``DUPLICATE_DATA`` (the converted record's copy exists)
            or ``RECORD_LOCKED`` (a converted record locked).
    """

    seed: int = 0
    status_wrap: Literal["bare", "data"] = "bare"
    state_case: Literal["upper", "title"] = "title"
    counts: Literal["int", "str", "final", "nonzero", "null"] = "str"
    not_converted_key: str = "not_converted_Count"
    extra_fields: bool = True
    submit_http: int = 200
    job_id_number: bool = True
    scheduled_for: float = 1.0
    duration: float = 4.0
    already: Literal[
        "in_job", "refuse_index", "refuse_id", "refuse_data", "refuse_path", "partial_207"
    ] = "in_job"
    failed_state: Literal["completed", "failed_if_any", "failed_if_all"] = "completed"
    forget_after: float | None = None
    forget_reply: Literal["invalid_data", "204", "data_error"] = "invalid_data"
    forget_from: Literal["end", "submit"] = "end"
    single_errors: Literal["top", "data", "bare202"] = "data"
    token_life: float = 3600.0
    token_ms: bool = False
    queue: bool = False
    rates: Mapping[str, Rates] = attrs.field(factory=dict)
    leads_mass: bool = False
    token_api_domain: bool = True
    counts_wobble: bool = False
    revoke_at: float | None = None
    fault_plan: Mapping[str, Sequence[str | None]] = attrs.field(factory=dict)
    duration_spread: float = 0.0
    state_names: Mapping[str, str] = attrs.field(factory=dict)
    status_http: int = 200
    submit_wrap: Literal["bare", "data"] = "bare"
    token_shape: Literal[
        "plain", "expires_str", "expires_float", "no_expires", "expires_junk", "domain_slash"
    ] = "plain"
    job_id_form: Literal["number", "prefixed", "alnum", "zeros", "punct", "mixed"] = "number"
    final_lie_plan: Sequence[str | None] = ()
    final_lie_rate: float = 0.0
    final_lie_kinds: Sequence[str] = ("zeros", "total_over", "total_under", "nc_completed")
    single_already: str = "ID_ALREADY_CONVERTED"


#: Unreadable job ids of a submit reply (``fault_plan``'s names, ``Rates.pbad_job_id``).
BAD_JOB_IDS: Mapping[str, Any] = {
    "no_job_id": None,  # the key left out
    "empty_job_id": "",
    "spaced_job_id": "73400 11000",
    "long_job_id": "7" * 101,
    "list_job_id": [7340011],
    "float_job_id": 7340011.5,
    "bool_job_id": True,
}


@attrs.define
class Job:
    """One mass-convert job: its records convert one by one over its running time."""

    job_id: int
    module: str
    ids: list[str]
    start: float
    end: float
    results: dict[str, bool] = attrs.field(factory=dict)  # id -> converted (False: failed)
    submitted: float = 0.0  # when the submit was served
    wire_id: str = ""  # the job id as the submit reply wrote it ("": ``str(job_id)``)
    lie: str | None = None  # how its final status misreports it (``AltConfig.final_lies``)

    def due(self, index: int) -> float:
        """When the ``index``-th record is converted (or failed)."""
        return self.start + (self.end - self.start) * (index + 1) / len(self.ids)


class AltServer:
    """The server: ``async with AltServer(config, clock) as server``; ``server.url``."""

    def __init__(self, config: AltConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self.clock = clock
        self.random = random.Random(config.seed)
        self.records: dict[str, list[str]] = {}
        self.ledger: dict[tuple[str, str], int] = {}
        self.locked: set[str] = set()
        self.jobs: dict[int, Job] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request served
        self.faults: list[tuple[str, str]] = []  # (kind, fault) of every fault served
        # (kind, id) of every record sent to be converted while a job still holds it unconverted
        # (submitted, not yet reached): on a server that lets two jobs convert one record,
        # a second conversion. This server refuses it; the list only says it happened.
        self.overlaps: list[tuple[str, str]] = []
        self.client_id, self.client_secret, self.refresh_token = "alt-id", "alt-sec", "alt-ref"
        self.tokens: dict[str, float] = {}  # access token -> when it dies
        self.access_token = self._mint()
        self.revoked = False  # config.revoke_at has taken effect
        self._planned: dict[str, int] = {}  # requests of each kind served (``fault_plan``)
        self._bad_job_id: str | None = None  # the unreadable job id the submit served answers
        self._next_job = 7_340_011_000_000_500_000
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- records and the ledger ----------------------------------------------------------
    def create(self, module: str, count: int) -> list[str]:
        """Make ``count`` records of ``module``; returns their ids (19-digit strings)."""
        made = self.records.setdefault(module, [])
        base = 5_725_767_000_001_000_000 + 1000 * len(self.records) + len(made)
        ids = [str(base + 7 * k) for k in range(count)]
        made.extend(ids)
        return ids

    def preconvert(self, module: str, ids: list[str]) -> None:
        """Mark ``ids`` converted before any run (the ledger counts them once)."""
        for value in ids:
            self.ledger[(module, value)] = 1

    def counts(self, module: str, ids: list[str]) -> dict[str, int]:
        """The ledger for ``ids`` once every job has run (moves no clock: ends all jobs)."""
        self.finish_all()
        return {i: self.ledger.get((module, i), 0) for i in ids}

    def finish_all(self) -> None:
        """Run every job to its end (as if its time were up)."""
        self._advance(float("inf"))

    def _converted(self, module: str, value: str) -> bool:
        return self.ledger.get((module, value), 0) > 0

    def _convert(self, module: str, value: str) -> bool:
        # Zoho refuses a second conversion of a record: the ledger never counts 2 by our doing.
        if self._converted(module, value) or value in self.locked:
            return False
        self.ledger[(module, value)] = 1
        return True

    def _advance(self, now: float) -> None:
        # Records convert in the order their time comes, across all jobs.
        due = [
            (job.due(k), job.job_id, k)
            for job in self.jobs.values()
            for k in range(len(job.results), len(job.ids))
            if job.due(k) <= now
        ]
        for _, job_id, k in sorted(due):
            job = self.jobs[job_id]
            value = job.ids[k]
            job.results[value] = self._convert(job.module, value)

    # -- wire helpers -------------------------------------------------------------------
    @staticmethod
    def _error(http: int, code: str, message: str, details: Any = None) -> web.Response:
        body = {"code": code, "details": details or {}, "message": message, "status": "error"}
        return web.json_response(body, status=http)

    def _state(self, name: str) -> str:
        name = self.config.state_names.get(name, name)
        if self.config.state_case == "title":
            return name.title()
        return name

    def _count(self, value: int) -> Any:
        return str(value) if self.config.counts == "str" else value

    def mint_token(self) -> str:
        """A new access token (as if minted by another client), alive ``token_life``."""
        return self._mint()

    def _mint(self) -> str:
        token = f"1000.alt{self.random.getrandbits(64):016x}.tok"
        self.tokens[token] = self.clock() + self.config.token_life
        return token

    def _fault(self, kind: str, request: web.Request) -> str | None:
        plan = self.config.fault_plan.get(kind, ())
        served = self._planned[kind] = self._planned.get(kind, 0) + 1
        if served <= len(plan):
            fault = plan[served - 1]
            if fault is not None:
                self.faults.append((kind, fault))
            return fault
        rates = self.config.rates.get(kind)
        if rates is None:
            return None
        draw = self.random.random()
        for name, p in (
            ("429", rates.p429),
            ("500_before", rates.p500_before),
            ("500_after", rates.p500_after),
            ("drop_before", rates.pdrop_before),
            ("drop_after", rates.pdrop_after),
            ("slow_after", rates.pslow_after),
            ("200_error", rates.p200_error),
            ("401", rates.p401),
            *rates.odd.items(),
            ("bad_job_id", rates.pbad_job_id),
        ):
            if draw < p:
                served = self.random.choice(sorted(BAD_JOB_IDS)) if name == "bad_job_id" else name
                self.faults.append((kind, served))
                return served
            draw -= p
        return None

    def _faulted(self, kind: str, fault: str) -> web.Response:
        rates = self.config.rates.get(kind, Rates())
        if fault == "429":
            headers = {"X-RATELIMIT-LIMIT": "10", "X-RATELIMIT-REMAINING": "0"}
            if rates.retry_after is not None:
                headers["Retry-After"] = rates.retry_after
            body = {
                "code": "TOO_MANY_REQUESTS",
                "details": {},
                "message": "too many requests",
                "status": "error",
            }
            return web.json_response(body, status=429, headers=headers)
        if rates.http_500_body:
            return self._error(500, "INTERNAL_ERROR", "Internal Server Error")
        return web.Response(
            status=500, text="<html><body>500</body></html>", content_type="text/html"
        )

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)

    async def _serve(
        self,
        kind: str,
        request: web.Request,
        handler: Callable[[web.Request, Any], web.Response],
    ) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        self._advance(self.clock())
        revoke = self.config.revoke_at
        if revoke is not None and self.clock() >= revoke and not self.revoked:
            # Every token minted so far dies (an admin revoking the app's tokens, say).
            self.revoked = True
            for minted, dies in self.tokens.items():
                self.tokens[minted] = min(dies, revoke)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Zoho-oauthtoken ")
        if not auth.startswith("Zoho-oauthtoken ") or token not in self.tokens:
            return self._error(401, "AUTHENTICATION_FAILURE", "Authentication failed")
        if self.tokens[token] <= self.clock():
            return self._error(401, "INVALID_TOKEN", "invalid oauth token")
        fault = self._fault(kind, request)
        if fault == "drop_before":
            return self._drop(request)
        if fault in ("429", "500_before"):
            return self._faulted(kind, fault)
        if fault == "200_error":
            return self._error(200, "INTERNAL_ERROR", "Internal Server Error")
        if fault in alt_wire.BEFORE:
            return alt_wire.before(fault, self.config.rates.get(kind, Rates()).retry_after)
        if fault == "401":
            self.tokens[token] = self.clock()
            return self._error(401, "INVALID_TOKEN", "invalid oauth token")
        body: Any = None
        if request.method == "POST":
            try:
                body = await request.json()
            except ValueError:
                return self._error(400, "INVALID_DATA", "body is not JSON")
        # (Set only while the handler runs, synchronously: no other request's can see it.)
        self._bad_job_id = fault if fault in BAD_JOB_IDS else None
        try:
            reply = handler(request, body)
        finally:
            self._bad_job_id = None
        odd_status = alt_wire.STATUS_ONLY | alt_wire.UNDETECTABLE
        if fault in odd_status and kind == "status" and reply.status == 200:
            reply = self._odd_status(fault, request, reply)
        if fault in alt_wire.AFTER:
            return await alt_wire.after(fault, request, reply)
        if fault in alt_wire.DRESS:
            return await alt_wire.dress(fault, request, reply)
        if fault == "drop_after":
            return self._drop(request)
        if fault == "500_after":
            return self._faulted(kind, fault)
        if fault == "slow_after":
            # Real time: the client's request timeout is aiohttp's, not the virtual clock's.
            await asyncio.sleep(self.config.rates.get(kind, Rates()).slow)
        return reply

    # -- endpoints ----------------------------------------------------------------------
    def _submit(self, request: web.Request, body: Any) -> web.Response:
        module = request.match_info["module"]
        if module == "Leads" and self.config.leads_mass:
            return self._submit_leads(body)
        if module not in ("Quotes", "Sales_Orders"):
            return self._error(400, "INVALID_MODULE", "The module name given seems to be invalid")
        if not isinstance(body, dict):
            return self._error(400, "INVALID_DATA", "invalid data")
        convert_to = body.get("convert_to")
        if not isinstance(convert_to, list) or not convert_to:
            return self._error(
                400,
                "EXPECTED_FIELD_MISSING",
                "Specify atleast one field",
                {"expected_fields": [{"api_name": "convert_to", "json_path": "$.convert_to"}]},
            )
        target = convert_to[0].get("module") if isinstance(convert_to[0], dict) else None
        if not isinstance(target, dict) or TARGET_IDS.get(target.get("api_name", "")) != str(
            target.get("id")
        ):
            return self._error(
                400,
                "INVALID_DATA",
                "invalid data",
                {"api_name": "module", "json_path": "$.convert_to[0].module"},
            )
        return self._schedule_ids(module, body.get("ids"))

    def _submit_leads(self, body: Any) -> web.Response:
        # The Leads mass convert (OAS mass_convert.json): ids, and options this server ignores.
        return self._schedule_ids("Leads", body.get("ids") if isinstance(body, dict) else None)

    def _schedule_ids(self, module: str, ids: Any) -> web.Response:
        """Schedule a job of ``ids`` (each a string or a long), or refuse a missing or too
        long list."""
        if not isinstance(ids, list) or not ids:
            return self._error(
                400,
                "MANDATORY_NOT_FOUND",
                "required field not found",
                {"api_name": "ids", "json_path": "$.ids"},
            )
        if len(ids) > 50:
            return self._error(400, "LIMIT_EXCEEDED", "Limit has been exceed", {"limit": 50})
        return self._schedule(module, [str(v) for v in ids])

    def _schedule(self, module: str, values: list[str]) -> web.Response:
        known = set(self.records.get(module, ()))
        for index, value in enumerate(values):
            if value not in known:
                return self._error(
                    400, "INVALID_DATA", "invalid data", {"resource_path_index": index}
                )
        refused = [i for i, v in enumerate(values) if self._converted(module, v)]
        if refused and self.config.already == "partial_207" and len(refused) < len(values):
            return self._partial(module, values, refused)
        if refused and self.config.already != "in_job":
            return self._refuse(values, refused)
        return self._scheduled(module, values)

    def _partial(self, module: str, values: list[str], refused: list[int]) -> web.Response:
        """Schedule the ids not refused; 207 with a row per refused id, then the job's."""
        rows = self._refused_rows(values, refused)
        kept = [v for i, v in enumerate(values) if i not in set(refused)]
        scheduled = self._scheduled(module, kept)
        assert scheduled.text is not None
        rows.append(json.loads(scheduled.text))
        return web.json_response({"data": rows}, status=207)

    def _scheduled(self, module: str, values: list[str]) -> web.Response:
        self._note_overlaps("submit", module, values)
        start = self.clock() + self.config.scheduled_for
        if self.config.queue:
            ends = [job.end for job in self.jobs.values() if job.module == module]
            start = max([start, *ends])
        duration = self.config.duration
        if self.config.duration_spread:
            duration += duration * self.config.duration_spread * self.random.random()
        job = Job(self._next_job, module, values, start, start + duration, submitted=self.clock())
        self._next_job += 13
        self.jobs[job.job_id] = job
        job.lie = self._lie()
        job_id: Any = job.job_id if self.config.job_id_number else str(job.job_id)
        if self.config.job_id_form != "number":
            job.wire_id = job_id = self._wire_id(job.job_id)
        if self._bad_job_id is not None:
            job_id = BAD_JOB_IDS[self._bad_job_id]
        reply: dict[str, Any] = {
            "code": "SCHEDULED",
            "details": {"job_id": job_id},
            "message": "Mass Convert scheduled successfully",
            "status": "success",
        }
        if job_id is None:
            del reply["details"]["job_id"]
        if self.config.submit_wrap == "data":
            reply = {"data": [reply]}
        return web.json_response(reply, status=self.config.submit_http)

    def _wire_id(self, number: int) -> str:
        form = self.config.job_id_form
        if form == "mixed":
            form = self.random.choice(("prefixed", "alnum", "zeros", "punct", "digits"))
        if form == "prefixed":
            return f"job-{number:x}"
        if form == "alnum":
            return f"A{number:X}B"
        if form == "zeros":
            return f"000{number}"
        if form == "punct":
            return f"j+{number % 100_000}&x=%/#?;~"
        return str(number)

    def _lie(self) -> str | None:
        made = len(self.jobs) - 1  # this job's index among the jobs made
        plan = self.config.final_lie_plan
        if made < len(plan):
            return plan[made]
        if self.config.final_lie_rate and self.random.random() < self.config.final_lie_rate:
            return self.random.choice(list(self.config.final_lie_kinds))
        return None

    def _note_overlaps(self, kind: str, module: str, values: list[str]) -> None:
        wanted = set(values)
        for job in self.jobs.values():
            if job.module == module and len(job.results) < len(job.ids):
                held = set(job.ids[len(job.results) :]) & wanted
                self.overlaps.extend((kind, value) for value in sorted(held))

    def _refuse(self, values: list[str], refused: list[int]) -> web.Response:
        message = "id already converted"
        if self.config.already == "refuse_index":
            return self._error(
                400, "ID_ALREADY_CONVERTED", message, {"resource_path_index": refused[0]}
            )
        if self.config.already == "refuse_path":
            details = {"api_name": "ids", "json_path": f"$.ids[{refused[0]}]"}
            return self._error(400, "ID_ALREADY_CONVERTED", message, details)
        if self.config.already == "refuse_id":
            return self._error(400, "ID_ALREADY_CONVERTED", message, {"id": values[refused[0]]})
        return web.json_response({"data": self._refused_rows(values, refused)}, status=400)

    @staticmethod
    def _refused_rows(values: list[str], refused: list[int]) -> list[dict[str, Any]]:
        return [
            {
                "code": "ID_ALREADY_CONVERTED",
                "details": {"id": values[i]},
                "message": "id already converted",
                "status": "error",
            }
            for i in refused
        ]

    def _status(self, request: web.Request, _: Any) -> web.Response:
        raw = request.query.get("job_id")
        if not raw:
            return self._error(
                400,
                "REQUIRED_PARAM_MISSING",
                "Required parameter is missing",
                {"param_name": "job_id"},
            )
        job = self._job_named(raw)
        now = self.clock()
        forgotten = (
            job is not None
            and self.config.forget_after is not None
            and now >= self._kept_from(job) + self.config.forget_after
        )
        if job is None or job.module != request.match_info["module"] or forgotten:
            if self.config.forget_reply == "204":
                return web.Response(status=204)
            if self.config.forget_reply == "data_error":
                row = {
                    "code": "INVALID_DATA",
                    "details": {"param_name": "job_id"},
                    "message": "The job_id is invalid",
                    "status": "error",
                }
                return web.json_response({"data": [row]}, status=200)
            return self._error(400, "INVALID_DATA", "The job_id is invalid")
        return web.json_response(self._status_body(job, now), status=self.config.status_http)

    def _job_named(self, raw: str) -> Job | None:
        """The job whose id is ``raw`` exactly as its submit reply wrote it."""
        if self.config.job_id_form == "number":
            return self.jobs.get(int(raw)) if raw.isdigit() and raw[0] != "0" else None
        return self._by_wire.get(raw)

    @property
    def _by_wire(self) -> dict[str, Job]:
        return {job.wire_id or str(job.job_id): job for job in self.jobs.values()}

    def _odd_status(self, fault: str, request: web.Request, reply: web.Response) -> web.Response:
        """A status reply of ``alt_wire.STATUS_ONLY``'s shapes (each row names its job)."""
        payload = alt_wire.reply_json(reply)
        if fault == "float_counts":
            return web.json_response(alt_wire.float_counts(payload), status=reply.status)
        own = self._job_named(request.query["job_id"])
        assert own is not None
        now = self.clock()
        others = [job for job in self.jobs.values() if job.module == own.module and job is not own]
        if fault == "multi_same" or not others:
            rows = [self._named_row(own, now)] * 2
        else:
            other = self._named_row(self.random.choice(others), now)
            rows = [other] if fault.startswith("other_job") else [other, self._named_row(own, now)]
        if fault == "other_job_unnamed":
            rows = [{k: v for k, v in rows[0].items() if k != "job_id"}]
        bare = self.config.status_wrap == "bare" and own.module != "Leads"
        if fault in ("other_job", "other_job_unnamed") and bare:
            return web.json_response(rows[0], status=reply.status)
        return web.json_response({"data": rows}, status=reply.status)

    def _named_row(self, job: Job, now: float) -> dict[str, Any]:
        body = self._status_body(job, now)
        row = dict(body["data"][0] if "data" in body else body)
        row["job_id"] = job.wire_id or str(job.job_id)
        return row

    def _kept_from(self, job: Job) -> float:
        return job.submitted if self.config.forget_from == "submit" else job.end

    def _status_body(self, job: Job, now: float) -> dict[str, Any]:
        total = len(job.ids)
        converted = sum(job.results.values())
        failed = len(job.results) - converted
        done = len(job.results) == total
        if now < job.start:
            state = "SCHEDULED"
        elif not done:
            state = "IN PROGRESS"
        elif failed and (
            self.config.failed_state == "failed_if_any"
            or (self.config.failed_state == "failed_if_all" and not converted)
        ):
            state = "FAILED"
        else:
            state = "COMPLETED"
        if self.config.counts_wobble and not done:
            converted = self.random.randint(0, converted)
        not_converted = total - converted - failed
        if job.lie == "early_zeros":
            done = True
        if done and job.lie is not None:
            state, total, converted, not_converted, failed = _lied(
                job.lie, state, total, converted, failed
            )
        row: dict[str, Any] = {"status": self._state(state)}
        counts = {
            "total_count": total,
            "converted_count": converted,
            self.config.not_converted_key: not_converted,
            "failed_count": failed,
        }
        for key, value in counts.items():
            if self.config.counts == "final" and not done:
                continue
            if self.config.counts == "nonzero" and value == 0 and key != "total_count":
                continue
            if self.config.counts == "null" and not done:
                row[key] = None
                continue
            row[key] = self._count(value)
        if self.config.extra_fields:
            row.update(
                job_id=job.wire_id or str(job.job_id),
                module={"api_name": job.module},
                created_time="2026-12-01T06:00:00+00:00",
            )
        if job.module == "Leads":
            # The Leads status (OAS mass_convert.json): capitalised keys, always in data.
            capital = {
                "status": "Status",
                "total_count": "Total_Count",
                "converted_count": "Converted_Count",
                self.config.not_converted_key: "Not_Converted_Count",
                "failed_count": "Failed_Count",
            }
            lead_row = {capital.get(key, key): value for key, value in row.items()}
            return {"data": [lead_row]}
        return {"data": [row]} if self.config.status_wrap == "data" else row

    def _single_error(self, http: int, code: str, message: str) -> web.Response:
        if self.config.single_errors == "bare202":
            # The Convert Lead OAS: 202 with a bare error, details {resource_path_index}.
            body = {
                "code": code,
                "details": {"resource_path_index": 0},
                "message": message,
                "status": "error",
            }
            return web.json_response(body, status=202)
        if self.config.single_errors == "data":
            row = {"code": code, "details": {}, "message": message, "status": "error"}
            return web.json_response({"data": [row]}, status=202)
        return self._error(http, code, message)

    def _single(self, request: web.Request, body: Any) -> web.Response:
        module = request.match_info.get("module", "Leads")
        record = request.match_info["record"]
        if record not in self.records.get(module, ()):
            return self._single_error(400, "INVALID_DATA", "the given id seems to be invalid")
        target = None
        if module != "Leads":
            try:
                target = body["data"][0]["convert_to"][0]["module"]["api_name"]
            except (KeyError, IndexError, TypeError):
                return self._error(400, "MANDATORY_NOT_FOUND", "required field not found")
        if self._converted(module, record):
            code = self.config.single_already
            return self._single_error(400, code, f"{code}: the record is converted already")
        if record in self.locked:
            return self._single_error(400, "RECORD_LOCKED", "the record is locked")
        self._note_overlaps("single", module, [record])
        self._convert(module, record)
        made = str(int(record) + 1)
        if module == "Leads":
            details = {
                "Contacts": {"name": "C", "id": made},
                "Accounts": {"name": "A", "id": str(int(record) + 2)},
                "Deals": None,
            }
        else:
            details = {str(target): {"name": "N", "id": made}}
        row = {
            "code": "SUCCESS",
            "details": details,
            "message": "The record has been converted successfully",
            "status": "success",
        }
        return web.json_response({"data": [row]})

    def _modules(self, request: web.Request, _: Any) -> web.Response:
        name = request.match_info["name"]
        if name not in TARGET_IDS:
            return web.Response(status=204)
        return web.json_response(
            {"modules": [{"api_name": name, "id": TARGET_IDS[name], "module_name": name}]}
        )

    async def _token(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        form = await request.post()
        fault = self._fault("token", request)
        if fault in alt_wire.BEFORE:
            return alt_wire.before(fault, self.config.rates.get("token", Rates()).retry_after)
        if fault in ("429", "200_error"):
            # The accounts server's throttle: HTTP 400 (or 200) and "Access Denied".
            body = {
                "error": "Access Denied",
                "error_description": "You have made too many requests continuously. "
                "Please try again after some time.",
                "status": "failure",
            }
            return web.json_response(body, status=400 if fault == "429" else 200)
        if fault in ("500_before", "500_after"):
            return self._faulted("token", fault)  # a minted token lost with the reply: unused
        if fault in ("drop_before", "drop_after"):
            return self._drop(request)
        if (
            form.get("grant_type"),
            form.get("client_id"),
            form.get("client_secret"),
            form.get("refresh_token"),
        ) != ("refresh_token", self.client_id, self.client_secret, self.refresh_token):
            return web.json_response({"error": "invalid_code"})  # HTTP 200, as Zoho does
        token = self._mint()
        reply: dict[str, Any] = {"access_token": token, "token_type": "Bearer"}
        if self.config.token_api_domain:
            reply["api_domain"] = self.url
        if self.config.token_ms:
            reply.update(expires_in=3_600_000, expires_in_sec=3600)
        else:
            reply["expires_in"] = 3600
        shape = self.config.token_shape
        if shape == "expires_str":
            reply["expires_in"] = str(reply["expires_in"])
        elif shape == "expires_float":
            reply["expires_in"] = float(reply["expires_in"])
        elif shape == "no_expires":
            reply.pop("expires_in")
        elif shape == "expires_junk":
            reply["expires_in"] = "an hour"
        elif shape == "domain_slash" and "api_domain" in reply:
            reply["api_domain"] += "/"
        if fault in alt_wire.AFTER:  # a token minted, its reply lost: never used
            return await alt_wire.after(fault, request, web.json_response(reply))
        if fault in alt_wire.DRESS:
            return await alt_wire.dress(fault, request, web.json_response(reply))
        return web.json_response(reply)

    # -- lifecycle ----------------------------------------------------------------------
    def app(self) -> web.Application:
        """The aiohttp application."""

        def route(kind: str, handler: Callable[[web.Request, Any], web.Response]) -> Any:
            async def serve(request: web.Request) -> web.Response:
                return await self._serve(kind, request, handler)

            return serve

        app = web.Application()
        base = "/crm/{version}"
        app.router.add_post(base + "/{module}/actions/mass_convert", route("submit", self._submit))
        app.router.add_get(base + "/{module}/actions/mass_convert", route("status", self._status))
        app.router.add_post(base + "/Leads/{record}/actions/convert", self._lead_route())
        app.router.add_post(
            base + "/{module}/{record}/actions/convert", route("single", self._single)
        )
        app.router.add_get(base + "/settings/modules/{name}", route("modules", self._modules))
        app.router.add_post("/oauth/v2/token", self._token)
        return app

    def _lead_route(self) -> Any:
        async def serve(request: web.Request) -> web.Response:
            return await self._serve("lead", request, self._single)

        return serve

    async def __aenter__(self) -> AltServer:
        self._runner = web.AppRunner(self.app())
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def _lied(
    lie: str, state: str, total: int, converted: int, failed: int
) -> tuple[str, int, int, int, int]:
    """A final status misreported as ``lie`` says (``AltConfig.final_lies``): state, total,
    converted, not converted, failed."""
    if lie in ("zeros", "early_zeros"):
        return "COMPLETED", 0, 0, 0, 0
    if lie == "total_over":
        return state, total + 3, converted + 3, 0, failed
    if lie == "total_under":
        return state, total - 1, max(converted - 1, 0), 0, failed - (converted == 0)
    if lie == "nc_completed":
        hidden = max(1, converted // 2) if converted else 0
        return "COMPLETED", total, converted - hidden, hidden, failed
    raise ValueError(lie)
