"""More of what a Zoho-compatible server may do, for hunt round 11: ``MoreServer`` is an
``alt_server.AltServer`` with the behaviours of ``MoreConfig`` (``alt_server.py`` is long
enough: new behaviour lives here).

Each is a reading the seed pages, Zoho's OpenAPI v8 specs or ZOHO_FACTS leave open:

- ``replay``: a proxy in front of the server that sends one mass-convert submit twice (it
  timed out waiting and tried again, as some gateways do with any request): two jobs of the
  same ids. The client gets one reply: the first job's (``"first"``), or the second's, the
  first having converted the records before it (``"second"``: the client's job fails them
  all inside itself), or the second's when the second job, a moment later but faster,
  converts some records before the first does (``"race"``). The server still never converts
  a record twice (Zoho refuses a second conversion): the ledger stays true; only the job the
  client polls tells another story.
- ``single_refusal``: every single convert (Convert Inventory Record) from a clock time on
  answered with one JSON error about the call, not the record: ``404 INVALID_URL_PATTERN``
  (the call not served here), ``400 API_NOT_SUPPORTED``, ``403 NO_PERMISSION`` (the seed's
  note: a profile given *Mass Convert* but not *Convert*), with details ``{}`` or, as the OAS
  writes id-level errors (and Convert Lead's 202 does every error),
  ``{"resource_path_index": 0}``; or ``401 OAUTH_SCOPE_MISMATCH`` (a token without
  ``ZohoCRM.modules.Quotes.CREATE``, the seed's resolution).
- ``single_already_http``: the HTTP status of a single convert's refusal of a converted
  record (``AltConfig.single_already``, with ``single_errors="top"``): the seed's table gives
  ``DUPLICATE_DATA`` under **HTTP 401**.
- fault names (``fault_plan``, ``Rates.odd``) ``401_auth_failure`` and ``401_scope``: one
  request refused ``401 AUTHENTICATION_FAILURE`` / ``401 OAUTH_SCOPE_MISMATCH`` (an
  accounts-server blip, a scope check of a node behind the balancer), nothing done;
  ``status_scope_from``: every status poll from that clock time on refused ``401
  OAUTH_SCOPE_MISMATCH`` (the status page's: a token without the ``READ`` scope, revoked).
- ``status_lag``: status replies served from a cache: the job as it was ``status_lag``
  seconds before (``status_lag_random``: up to that, drawn per reply, as from several cache
  nodes, so a status can step back).
- ``forget_reply`` beyond ``AltConfig``'s: a forgotten job's status answered 200 with ``{}``
  (``"empty_object"``) or ``{"data": []}`` (``"empty_data"``), as record APIs answer for no
  rows.

Imports nothing of ``zoho_convert`` (as ``alt_server``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Literal

import attrs
from aiohttp import web
from alt_server import AltConfig, AltServer, Job

__all__ = ["MORE_FAULTS", "MoreConfig", "MoreServer"]

#: Fault names of this module (``fault_plan`` entries, ``Rates.odd`` keys): nothing done.
MORE_FAULTS = {
    "401_auth_failure": ("AUTHENTICATION_FAILURE", "Authentication failed"),
    "401_scope": ("OAUTH_SCOPE_MISMATCH", "Unauthorized"),
}

_MORE_FAULT = web.RequestKey("more_fault", str)  # (one request's fault of ``MORE_FAULTS``)

#: Single-convert refusals of the call (``MoreConfig.single_refusal``): HTTP, code, details.
SINGLE_REFUSALS: dict[str, tuple[int, str, dict[str, Any]]] = {
    "url_pattern": (404, "INVALID_URL_PATTERN", {}),
    "not_supported": (400, "API_NOT_SUPPORTED", {}),
    "no_permission": (403, "NO_PERMISSION", {}),
    "no_permission_index": (403, "NO_PERMISSION", {"resource_path_index": 0}),
    "scope": (401, "OAUTH_SCOPE_MISMATCH", {}),
}


@attrs.frozen
class MoreConfig:
    """Round 11's behaviours (see the module's docstring); the defaults add none.

    Attributes:
        base: the ``AltConfig`` of everything else.
        replay_plan: per submit served (the ``n``-th the plan's ``n``-th entry): ``"first"``,
            ``"second"``, ``"race"`` or None (no replay); past it, none.
        replay_delay: clock seconds between the two jobs of a replayed submit.
        single_refusal: a key of ``SINGLE_REFUSALS``, or None.
        single_refused_from: clock time from which ``single_refusal`` applies.
        single_already_http: HTTP status of a top-level refusal of a converted record.
        status_scope_from: clock time from which every status poll is refused 401
            ``OAUTH_SCOPE_MISMATCH`` (None: never).
        status_lag: seconds a status reply lags behind the job.
        status_lag_random: the lag drawn per reply, up to ``status_lag``.
        forget_empty: how a forgotten job's status is answered, overriding the base's
            ``forget_reply``: ``"empty_object"``, ``"empty_data"`` or None (the base's).
    """

    base: AltConfig = attrs.field(factory=AltConfig)
    replay_plan: Sequence[Literal["first", "second", "race"] | None] = ()
    replay_delay: float = 0.5
    single_refusal: str | None = None
    single_refused_from: float = 0.0
    single_already_http: int = 400
    status_scope_from: float | None = None
    status_lag: float = 0.0
    status_lag_random: bool = False
    forget_empty: Literal["empty_object", "empty_data"] | None = None


class MoreServer(AltServer):
    """``AltServer`` with ``MoreConfig``'s behaviours: ``async with MoreServer(more, clock)``."""

    def __init__(self, more: MoreConfig, clock: Callable[[], float]) -> None:
        super().__init__(more.base, clock)
        self.more = more
        self.submits = 0  # submits scheduled (``replay_plan``'s index)
        self.replays: list[tuple[int, int, str]] = []  # (job polled, its twin, how)
        self.singles_refused = 0  # single converts refused by ``single_refusal``
        self.singles_served = 0  # single converts answered otherwise

    # -- one request refused 401 ----------------------------------------------------------
    def _fault(self, kind: str, request: web.Request) -> str | None:
        fault = super()._fault(kind, request)
        if fault in MORE_FAULTS:
            request[_MORE_FAULT] = fault  # (per request: POSTs await their body meanwhile)
            return None
        return fault

    def _refused_401(self, request: web.Request) -> web.Response | None:
        fault = request.get(_MORE_FAULT)
        if fault is None:
            return None
        code, message = MORE_FAULTS[fault]
        return self._error(401, code, message)

    # -- a submit replayed -----------------------------------------------------------------
    def _submit(self, request: web.Request, body: Any) -> web.Response:
        return self._refused_401(request) or super()._submit(request, body)

    def _scheduled(self, module: str, values: list[str]) -> web.Response:
        reply = super()._scheduled(module, values)
        index, self.submits = self.submits, self.submits + 1
        plan = self.more.replay_plan
        how = plan[index] if index < len(plan) else None
        if how is None:
            return reply
        assert self.config.job_id_form == "number", "replays name jobs by number"
        first = max(self.jobs.values(), key=lambda job: job.job_id)
        delay = self.more.replay_delay
        if how == "race":
            # Sent a moment later, but quicker: it overtakes the first job midway.
            start = first.start + delay
            end = max(first.start + (first.end - first.start) / 2, start + 0.1)
        else:
            start, end = first.start + delay, first.end + delay
        twin = Job(self._next_job, module, list(values), start, end, submitted=self.clock())
        self._next_job += 13
        self.jobs[twin.job_id] = twin
        self.replays.append((first.job_id, twin.job_id, how))
        if how == "first":
            return reply
        self.replays[-1] = (twin.job_id, first.job_id, how)
        assert reply.text is not None
        payload = json.loads(reply.text)
        details = (payload["data"][0] if "data" in payload else payload)["details"]
        old = details.get("job_id")
        if isinstance(old, bool) or str(old) != str(first.job_id):
            return reply  # (its job id unreadable, ``BAD_JOB_IDS``: no job to swap)
        details["job_id"] = twin.job_id if isinstance(old, int) else str(twin.job_id)
        return web.json_response(payload, status=reply.status)

    # -- single converts refused -----------------------------------------------------------
    def _single(self, request: web.Request, body: Any) -> web.Response:
        refused = self._refused_401(request)
        if refused is not None:
            return refused
        name = self.more.single_refusal
        inventory = request.match_info.get("module", "Leads") != "Leads"
        if name is not None and inventory and self.clock() >= self.more.single_refused_from:
            http, code, details = SINGLE_REFUSALS[name]
            self.singles_refused += 1
            return self._error(http, code, "refused", details)
        self.singles_served += 1
        return super()._single(request, body)

    def _single_error(self, http: int, code: str, message: str) -> web.Response:
        if code == self.config.single_already and self.config.single_errors == "top":
            http = self.more.single_already_http
        return super()._single_error(http, code, message)

    # -- status polls: refused, cached, forgotten --------------------------------------------
    def _status(self, request: web.Request, body: Any) -> web.Response:
        refused = self._refused_401(request)
        if refused is not None:
            return refused
        scope_from = self.more.status_scope_from
        if scope_from is not None and self.clock() >= scope_from:
            return self._error(401, "OAUTH_SCOPE_MISMATCH", "Unauthorized")
        empty = self.more.forget_empty
        if empty is not None and self._forgotten(request):
            return web.json_response({} if empty == "empty_object" else {"data": []})
        return super()._status(request, body)

    def _forgotten(self, request: web.Request) -> bool:
        job = self._job_named(request.query.get("job_id", ""))
        after = self.config.forget_after
        if job is None or job.module != request.match_info["module"]:
            return True
        return after is not None and self.clock() >= self._kept_from(job) + after

    def _status_body(self, job: Job, now: float) -> dict[str, Any]:
        lag = self.more.status_lag
        if self.more.status_lag_random:
            lag *= self.random.random()
        if lag <= 0:
            return super()._status_body(job, now)
        seen = now - lag
        # The job as the cache saw it: the records done by then (they are done in order).
        done = dict(
            (value, ok) for k, (value, ok) in enumerate(job.results.items()) if job.due(k) <= seen
        )
        return super()._status_body(attrs.evolve(job, results=done), seen)
