"""Seeded fault decisions: which request gets a 429, a 500, a dropped connection or garbage.

One ``random.Random(seed)`` stream, consumed once per faultable request in arrival order, so the
same seed and the same request sequence give the same faults.
"""

from __future__ import annotations

import enum
import json
import random

import attrs

from .config import Faults


class FaultKind(enum.Enum):
    """What goes wrong with one request."""

    NONE = "none"
    RATE_LIMIT = "429"
    SERVER_ERROR = "500"
    DROP = "drop"
    CORRUPT = "corrupt"


class CorruptionKind(enum.Enum):
    """How a corrupted reply is broken."""

    TRUNCATED_JSON = "truncated_json"
    HTML_PAGE = "html_page"
    MISSING_KEYS = "missing_keys"


@attrs.frozen
class FaultDecision:
    """The fault (if any) for one request and, for corruption, its flavour."""

    kind: FaultKind
    corruption: CorruptionKind | None = None


NO_FAULT = FaultDecision(FaultKind.NONE)


class FaultInjector:
    """Draws seeded fault decisions for API requests.

    Args:
        faults: The fault settings.
        seed: Seed of the decision stream.
    """

    def __init__(self, faults: Faults, seed: int) -> None:
        self.faults = faults
        self._rng = random.Random(f"faults:{seed}")

    def decide(self, endpoint: str) -> FaultDecision:
        """Decide the fate of one request to ``endpoint`` (an ``ENDPOINT_NAMES`` name)."""
        f = self.faults
        if not (f.drop_rate or f.rate_500 or f.rate_429 or f.corrupt_rate):
            return NO_FAULT
        if not f.applies_to(endpoint):
            return NO_FAULT
        roll = self._rng.random()
        flavour = self._rng.random()  # drawn every time so streams stay aligned
        threshold = f.drop_rate
        if roll < threshold:
            return FaultDecision(FaultKind.DROP)
        threshold += f.rate_500
        if roll < threshold:
            return FaultDecision(FaultKind.SERVER_ERROR)
        threshold += f.rate_429
        if roll < threshold:
            return FaultDecision(FaultKind.RATE_LIMIT)
        threshold += f.corrupt_rate
        if roll < threshold:
            kinds = list(CorruptionKind)
            return FaultDecision(FaultKind.CORRUPT, kinds[int(flavour * len(kinds))])
        return NO_FAULT


def retry_after_header(value: float) -> str:
    """``Retry-After`` as delay-seconds: an integer when whole, else a decimal."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def corrupt_body(kind: CorruptionKind, body: bytes) -> tuple[int | None, str, bytes]:
    """Break a reply.

    Args:
        kind: How to break it.
        body: The JSON body that would have been sent.

    Returns:
        ``(status or None to keep the original, content type, body)``.
    """
    if kind is CorruptionKind.TRUNCATED_JSON:
        return None, "application/json", body[: max(1, len(body) // 2)]
    if kind is CorruptionKind.HTML_PAGE:
        page = (
            b"<html><head><title>502 Bad Gateway</title></head>"
            b"<body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"
        )
        return 502, "text/html", page
    return None, "application/json", json.dumps({"status": "success"}).encode()
