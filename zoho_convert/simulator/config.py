"""Immutable configuration of the simulator: what the fake CRM contains and how it misbehaves.

Both classes are frozen attrs objects; derive variants with ``attrs.evolve``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal

import attrs

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


def _id_set(values: Iterable[str | int]) -> frozenset[str]:
    # Callers naturally pass ints (as the official SDK does on the wire) or strings.
    return frozenset(str(v) for v in values)


def _endpoint_set(values: Iterable[str]) -> frozenset[str]:
    names = frozenset(values)
    unknown = names - ENDPOINT_NAMES
    if unknown:
        raise ValueError(
            f"unknown fault endpoints: {sorted(unknown)}; known: {sorted(ENDPOINT_NAMES)}"
        )
    return names


@attrs.frozen
class Faults:
    """Fault injection settings; everything defaults to off.

    Random faults draw from a ``random.Random`` seeded by ``SimulatorConfig.seed``, so the same
    seed and the same sequence of requests give the same faults.

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
            processed (a mass convert is scheduled but the client never learns its job id).
        fault_endpoints: Endpoint names random faults apply to (see ``ENDPOINT_NAMES``);
            empty means every API endpoint.
        failed_job_rate: Probability that a mass-convert job ends FAILED (nothing converted).
        never_finish_rate: Probability that a job stays IN PROGRESS forever.
        token_endpoint_failures: The first N refresh calls answer HTTP 500.
        corrupt_rate: Probability of a corrupted reply (truncated JSON, HTML page, missing keys).
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
            the job (``"fail_in_job"``).
        invalid_ids: Ids that make a mass convert fail whole with INVALID_DATA.
        not_approved_ids: Ids refused with NOT_APPROVED (single) or failed in a job (mass).
        locked_ids: Ids refused with RECORD_LOCKED (single) or failed in a job (mass).
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
        default="fail_call", validator=attrs.validators.in_(("fail_call", "fail_in_job"))
    )
    invalid_ids: frozenset[str] = attrs.field(default=frozenset(), converter=_id_set)
    not_approved_ids: frozenset[str] = attrs.field(default=frozenset(), converter=_id_set)
    locked_ids: frozenset[str] = attrs.field(default=frozenset(), converter=_id_set)
    faults: Faults = attrs.field(factory=Faults)
    clock: Callable[[], float] | None = attrs.field(default=None, eq=False)
    sleep: Callable[[float], Awaitable[None]] | None = attrs.field(default=None, eq=False)

    def __repr__(self) -> str:
        # Never show secrets: configs end up in logs and test failure output.
        return (
            f"SimulatorConfig(seed={self.seed!r}, access_token=<hidden>, "
            f"client_id={self.client_id!r}, job_duration={self.job_duration!r}, "
            f"strict_records={self.strict_records!r}, "
            f"already_converted={self.already_converted!r}, faults={self.faults!r})"
        )
