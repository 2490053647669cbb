"""Immutable configuration of the simulator: what the fake CRM contains and how it misbehaves.

Both classes are frozen attrs objects; derive variants with ``attrs.evolve``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal

import attrs

from .catalog import MODULES_BY_NAME

#: API credits one request costs, per endpoint (Zoho: Convert Lead 5); any other costs 1.
API_CREDIT_COSTS: dict[str, int] = {"lead_convert": 5}

#: Endpoint names that ``Faults.fault_endpoints`` may list.
ENDPOINT_NAMES: frozenset[str] = frozenset(
    {
        "mass_convert",
        "mass_convert_status",
        "convert",
        "lead_convert",
        "lead_mass_convert",
        "lead_mass_convert_status",
        "modules",
        "fields",
    }
)

AlreadyConverted = Literal["fail_call", "fail_in_job"]
StatusShape = Literal["wrapped", "bare"]
ErrorDetails = Literal["oas", "legacy"]
TokenThrottleReply = Literal["access_denied_space", "access_denied", "http_429"]
UnknownModuleReply = Literal["204", "invalid_module"]
ForgetReply = Literal["204", "invalid"]
MalformedFinalKind = Literal["counts", "state", "mixed"]
ConvertedLeads = Literal["already_converted", "invalid_in_mass", "invalid"]

_FAIL_MODES = ("fail_call", "fail_in_job")


def _rate(_instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be within [0, 1], got {value!r}")


def _non_negative(_instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


def _optional_positive(
    _instance: object, attribute: attrs.Attribute[Any], value: float | None
) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be > 0 or None, got {value!r}")


def _positive(_instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


def _id_set(values: Iterable[str | int]) -> frozenset[str]:
    # Callers naturally pass ints (as the official SDK does on the wire) or strings.
    return frozenset(str(v) for v in values)


def _endpoint_set(values: Iterable[str]) -> frozenset[str]:
    names = frozenset(values)
    unknown = names - ENDPOINT_NAMES
    if unknown:
        raise ValueError(f"unknown endpoints: {sorted(unknown)}; known: {sorted(ENDPOINT_NAMES)}")
    return names


def _module_set(values: Iterable[str]) -> frozenset[str]:
    names = frozenset(values)
    unknown = names - MODULES_BY_NAME.keys()
    if unknown:
        raise ValueError(f"unknown modules: {sorted(unknown)}; known: {sorted(MODULES_BY_NAME)}")
    return names


@attrs.frozen
class Faults:
    """Fault injection settings; everything defaults to off.

    Random faults draw from a ``random.Random`` seeded by ``SimulatorConfig.seed``, so the same
    seed and the same sequence of requests give the same faults. Job faults (forgotten jobs,
    duplicate job ids, malformed final statuses) are drawn once per scheduled job from their own
    seeded stream, so turning one on does not shift the others.

    Attributes:
        concurrency_cap: More than this many API requests in flight -> HTTP 429 TOO_MANY_REQUESTS.
        rate_429: Probability of a random HTTP 429 per API request.
        retry_after: When set, random 429s (and cap 429s) carry ``Retry-After`` with this value.
        rate_500: Probability of an HTTP 500 INTERNAL_ERROR per API request.
        latency: Seconds added to each API request (awaited with the configured sleep).
        token_max_uses: An access token is rejected (401 INVALID_TOKEN) after this many uses.
        token_ttl: An access token is rejected this many clock seconds after it was minted.
        drop_rate: Probability of closing the connection without any response.
        fault_after_processing: 500s, drops and corrupt replies happen after the request was
            processed (a mass convert is scheduled but the client never learns its job id;
            with ``fault_endpoints={"mass_convert"}``: "processed, then 500/dropped" submits).
        fault_endpoints: Endpoint names random faults apply to (see ``ENDPOINT_NAMES``);
            empty means every API endpoint.
        failed_job_rate: Probability that a mass-convert job ends FAILED (nothing converted).
        never_finish_rate: Probability that a job stays IN PROGRESS forever.
        token_endpoint_failures: The first N refresh calls answer HTTP 500.
        corrupt_rate: Probability of a corrupted reply (truncated JSON, HTML page, missing keys).
        forget_job_rate: Probability that a scheduled job is "forgotten": it still converts its
            records at its time, but every status poll of it answers as ``forget_reply`` says.
        forget_reply: How a poll of a forgotten job is answered: ``"204"`` (HTTP 204 No
            Content, empty body) or ``"invalid"`` (400 INVALID_DATA, ``{"param_name":
            "job_id"}``, "The job_id is invalid").
        duplicate_job_id_rate: Probability that a submit is processed (its job is scheduled and
            converts its records at its time) but its reply carries the job id of the latest
            earlier job of the same module, a job id the client already holds for another batch.
            Without an earlier job the true id is sent.
        malformed_final_rate: Probability that a job's status, once final, is malformed; the job
            still converts (or fails) its records normally.
        malformed_final_kind: ``"counts"`` (``converted_count`` greater than ``total_count``, or
            ``null``), ``"state"`` (an unknown status, ``"CANCELLED"``) or ``"mixed"`` (any of
            these, drawn per job).
    """

    concurrency_cap: int | None = attrs.field(default=None)
    rate_429: float = attrs.field(default=0.0, validator=_rate)
    retry_after: float | None = attrs.field(default=None)
    rate_500: float = attrs.field(default=0.0, validator=_rate)
    latency: float = attrs.field(default=0.0, validator=_non_negative)
    token_max_uses: int | None = attrs.field(default=None, validator=_optional_positive)
    token_ttl: float | None = attrs.field(default=None, validator=_optional_positive)
    drop_rate: float = attrs.field(default=0.0, validator=_rate)
    fault_after_processing: bool = False
    fault_endpoints: frozenset[str] = attrs.field(default=frozenset(), converter=_endpoint_set)
    failed_job_rate: float = attrs.field(default=0.0, validator=_rate)
    never_finish_rate: float = attrs.field(default=0.0, validator=_rate)
    token_endpoint_failures: int = attrs.field(default=0, validator=_non_negative)
    corrupt_rate: float = attrs.field(default=0.0, validator=_rate)
    forget_job_rate: float = attrs.field(default=0.0, validator=_rate)
    forget_reply: ForgetReply = attrs.field(
        default="204", validator=attrs.validators.in_(("204", "invalid"))
    )
    duplicate_job_id_rate: float = attrs.field(default=0.0, validator=_rate)
    malformed_final_rate: float = attrs.field(default=0.0, validator=_rate)
    malformed_final_kind: MalformedFinalKind = attrs.field(
        default="mixed", validator=attrs.validators.in_(("counts", "state", "mixed"))
    )

    @concurrency_cap.validator
    def _check_cap(self, _attribute: attrs.Attribute[int | None], value: int | None) -> None:
        if value is not None and value < 1:
            raise ValueError(f"concurrency_cap must be >= 1 or None, got {value!r}")

    @retry_after.validator
    def _check_retry_after(
        self, _attribute: attrs.Attribute[float | None], value: float | None
    ) -> None:
        if value is not None and value < 0:
            raise ValueError(f"retry_after must be >= 0 or None, got {value!r}")

    def applies_to(self, endpoint: str) -> bool:
        """Whether random faults may hit ``endpoint``."""
        return not self.fault_endpoints or endpoint in self.fault_endpoints


@attrs.frozen
class SimulatorConfig:
    """What the simulated CRM holds and how it behaves.

    Where Zoho's documents disagree (the v7 pages against the OpenAPI v8 specs), an option picks
    the reading to play; the defaults are the seed pages' wire where they say something, the
    OAS's otherwise.

    Attributes:
        seed: Seeds every random choice (ids, faults, job durations and outcomes).
        access_token: A valid access token to accept; generated from the seed when None.
        client_id: OAuth client id the token endpoint accepts.
        client_secret: OAuth client secret the token endpoint accepts.
        refresh_token: Refresh token the token endpoint accepts.
        job_duration: Clock seconds a mass-convert job takes; 0 means the first poll
            already reports COMPLETED.
        job_duration_jitter: Each job's duration is ``job_duration`` +/- up to this (seeded).
        strict_records: When False, any well-formed numeric id is an existing record of the
            module being converted; when True only ids made by ``create_records`` exist.
        already_converted: Mass convert of an already converted (or reserved) id either fails the
            whole call (``"fail_call"``, HTTP 400 ID_ALREADY_CONVERTED) or counts as failed inside
            the job (``"fail_in_job"``). CLI: ``--job-failure-mode refuse|in-job``.
        converted_leads: How the Leads calls refuse a lead already converted (Zoho takes a
            converted lead out of Leads): ``"already_converted"`` (ID_ALREADY_CONVERTED, the
            Convert Lead page); ``"invalid_in_mass"`` (a Leads mass convert that refuses it,
            ``already_converted="fail_call"``, says INVALID_DATA naming the id: its spec lists
            no other refusal; Convert Lead still says ID_ALREADY_CONVERTED); ``"invalid"``
            (Convert Lead says INVALID_DATA too, its spec's invalid-URL-id refusal).
        approval_errors: The same choice for NOT_APPROVED and NOT_REVIEWED ids in a mass convert
            (default ``"fail_in_job"``: they count as failed inside the job).
        invalid_ids: Ids that make a mass convert fail whole with INVALID_DATA.
        not_approved_ids: Ids refused with NOT_APPROVED (single) or failed in a job (mass).
        not_reviewed_ids: Ids refused with NOT_REVIEWED (single) or failed in a job (mass).
        no_permission_ids: Ids refused with 403 NO_PERMISSION (a mass convert fails whole).
        locked_ids: Ids refused with RECORD_LOCKED (single) or failed in a job (mass).
        no_permission_modules: Modules whose convert and mass convert (as the parent in the URL
            or as the inventory target) answer 403 NO_PERMISSION ``{"permissions": [...]}``.
        scope_mismatch_endpoints: Endpoints (``ENDPOINT_NAMES``) that answer 401
            OAUTH_SCOPE_MISMATCH to a valid token, as for a token minted without their scope.
        status_shape: The mass-convert status reply as the v7 page wraps it
            (``"wrapped"``: ``{"data": [{...}]}``) or as the OAS v8 documents it (``"bare"``:
            the object alone); for Leads too (its capitalised keys).
        error_details: ``"oas"``: id-level errors of a mass convert carry
            ``{"resource_path_index": N}`` (N: the id's index in ``ids``), a wrong module id is
            AMBIGUITY_DURING_PROCESSING ``{"ambiguity_due_to": [{"api_name", "json_path"}]}``
            and EXPECTED_FIELD_MISSING carries ``{"expected_fields": [...]}``; ``"legacy"``: the
            flat ``{"api_name", "json_path", "id"}`` forms.
        reserve_ids: True: the ids of a running job count as converted for any other call (a
            second submit of them is refused at once). False: records convert only when their
            job finishes, a second submit of an id whose job has not finished is accepted, and
            when both jobs finish the ledger counts that id converted twice.
        token_expiry_ms: Token replies carry ``expires_in_sec`` (seconds) and ``expires_in`` in
            milliseconds, as some Zoho accounts servers do.
        token_mint_limit: At most this many access tokens per ``token_mint_window`` seconds per
            refresh token; beyond it the token endpoint answers ``token_throttle_reply``.
        token_mint_window: The window of ``token_mint_limit``, in clock seconds (Zoho: 600).
        token_throttle_reply: ``"access_denied_space"`` (HTTP 200 ``{"error": "Access
            Denied"}``), ``"access_denied"`` (HTTP 200 ``{"error": "access_denied"}``) or
            ``"http_429"`` (HTTP 429 ``{"error": "too many requests"}``).
        lead_convert_concurrency: More than this many Convert Lead calls in flight at once ->
            HTTP 429 TOO_MANY_REQUESTS (Zoho's sub-concurrency limit, 3 to 5 by edition).
        unknown_module_reply: ``settings/modules/{unknown}`` answers HTTP 204 (``"204"``, the
            OAS) or 400 INVALID_MODULE (``"invalid_module"``).
        api_credits: The org's API credits (Zoho: per rolling 24 h): every API request served
            costs ``API_CREDIT_COSTS`` (1; Convert Lead 5; a 429 costs nothing) and, once half
            are used, every reply says what remains in ``X-API-CREDITS-REMAINING`` (as Zoho
            does). None: no credits counted, no header. The window never rolls (a simulator
            lives less than a day) and running out is only reported (0), never refused.
        faults: Fault injection settings.
        clock: Seconds source for job progress and token TTL (default ``time.monotonic``).
        sleep: Awaitable used for ``Faults.latency`` (default ``asyncio.sleep``); tests inject
            their own to control timing without sleeping for real.
    """

    seed: int = 0
    access_token: str | None = None
    client_id: str = "sim-client"
    client_secret: str = "sim-secret"
    refresh_token: str = "sim-refresh"
    job_duration: float = attrs.field(default=0.0, validator=_non_negative)
    job_duration_jitter: float = attrs.field(default=0.0, validator=_non_negative)
    strict_records: bool = False
    already_converted: AlreadyConverted = attrs.field(
        default="fail_call", validator=attrs.validators.in_(_FAIL_MODES)
    )
    approval_errors: AlreadyConverted = attrs.field(
        default="fail_in_job", validator=attrs.validators.in_(_FAIL_MODES)
    )
    converted_leads: ConvertedLeads = attrs.field(
        default="already_converted",
        validator=attrs.validators.in_(("already_converted", "invalid_in_mass", "invalid")),
    )
    invalid_ids: frozenset[str] = attrs.field(default=frozenset(), converter=_id_set)
    not_approved_ids: frozenset[str] = attrs.field(default=frozenset(), converter=_id_set)
    not_reviewed_ids: frozenset[str] = attrs.field(default=frozenset(), converter=_id_set)
    no_permission_ids: frozenset[str] = attrs.field(default=frozenset(), converter=_id_set)
    locked_ids: frozenset[str] = attrs.field(default=frozenset(), converter=_id_set)
    no_permission_modules: frozenset[str] = attrs.field(
        default=frozenset(), converter=_module_set
    )
    scope_mismatch_endpoints: frozenset[str] = attrs.field(
        default=frozenset(), converter=_endpoint_set
    )
    status_shape: StatusShape = attrs.field(
        default="wrapped", validator=attrs.validators.in_(("wrapped", "bare"))
    )
    error_details: ErrorDetails = attrs.field(
        default="oas", validator=attrs.validators.in_(("oas", "legacy"))
    )
    reserve_ids: bool = True
    token_expiry_ms: bool = False
    token_mint_limit: int | None = attrs.field(default=None, validator=_optional_positive)
    token_mint_window: float = attrs.field(default=600.0, validator=_positive)
    token_throttle_reply: TokenThrottleReply = attrs.field(
        default="access_denied_space",
        validator=attrs.validators.in_(("access_denied_space", "access_denied", "http_429")),
    )
    lead_convert_concurrency: int | None = attrs.field(
        default=None, validator=_optional_positive
    )
    unknown_module_reply: UnknownModuleReply = attrs.field(
        default="204", validator=attrs.validators.in_(("204", "invalid_module"))
    )
    api_credits: int | None = attrs.field(default=None, validator=_optional_positive)
    faults: Faults = attrs.field(factory=Faults)
    clock: Callable[[], float] | None = attrs.field(default=None, eq=False)
    sleep: Callable[[float], Awaitable[None]] | None = attrs.field(default=None, eq=False)

    def converted_reads_invalid(self, module: str, single: bool) -> bool:
        """Whether a converted record of ``module`` is refused as INVALID_DATA by a single
        convert (``single``) or a mass convert (``converted_leads``)."""
        reading = self.converted_leads if module == "Leads" else "already_converted"
        if single:
            return reading == "invalid"
        return reading != "already_converted" and self.already_converted == "fail_call"

    def __repr__(self) -> str:
        # Never show secrets: configs end up in logs and test failure output.
        return (
            f"SimulatorConfig(seed={self.seed!r}, access_token=<hidden>, "
            f"client_id={self.client_id!r}, job_duration={self.job_duration!r}, "
            f"strict_records={self.strict_records!r}, "
            f"already_converted={self.already_converted!r}, "
            f"status_shape={self.status_shape!r}, error_details={self.error_details!r}, "
            f"reserve_ids={self.reserve_ids!r}, faults={self.faults!r})"
        )
