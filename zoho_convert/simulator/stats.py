"""Counters the simulator keeps for tests and benchmarks."""

from __future__ import annotations

from collections import Counter

import attrs


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
        token_throttled: Token-endpoint calls refused by the mint limit (not counted in
            ``token_refresh_failures``).
        lead_convert_in_flight: Convert Lead calls being handled right now.
        peak_lead_convert_in_flight: Highest ``lead_convert_in_flight`` seen (a call refused by
            ``lead_convert_concurrency`` counts while it is being refused).
        forgotten_polls: Status polls of forgotten jobs (answered 204 or "job_id is invalid").
        duplicate_job_ids: Submit replies that carried an earlier job's id.
        malformed_statuses: Malformed final status replies sent.
        credits_used: API credits the requests served cost (``SimulatorConfig.api_credits``).
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
    token_throttled: int = 0
    lead_convert_in_flight: int = 0
    peak_lead_convert_in_flight: int = 0
    forgotten_polls: int = 0
    duplicate_job_ids: int = 0
    malformed_statuses: int = 0
    credits_used: int = 0

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
            "token_throttled": self.token_throttled,
            "lead_convert_in_flight": self.lead_convert_in_flight,
            "peak_lead_convert_in_flight": self.peak_lead_convert_in_flight,
            "forgotten_polls": self.forgotten_polls,
            "duplicate_job_ids": self.duplicate_job_ids,
            "malformed_statuses": self.malformed_statuses,
            "credits_used": self.credits_used,
        }
