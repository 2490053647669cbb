"""Request-level retry policy: which failures to retry, and how long to wait before each try.

The decisions are pure functions (no I/O, no clock reads of their own) so they can be tested
as a table. ``transport.py`` applies them.
"""

from __future__ import annotations

import email.utils
import math
import random
from collections.abc import Callable
from datetime import datetime, timezone

import attrs

from zoho_convert.api.checks import at_least, positive
from zoho_convert.api.errors import (
    RateLimitError,
    ResponseValidationError,
    ServerError,
    TransportError,
    ZohoConvertError,
)

__all__ = ["RetryPolicy", "parse_retry_after", "should_retry"]


@attrs.frozen
class RetryPolicy:
    """How a single request is retried after a transient failure.

    Retries 429, 5xx and transport failures with exponential backoff and full jitter. A
    Retry-After header is honoured (up to ``max_retry_after``) when present. A POST that may
    have reached the server is not repeated (see ``should_retry``). Change a policy with
    ``attrs.evolve``.

    The defaults start small and try often: a lone 429 or 500 (most are) is repeated within
    about 0.1 s, while the request slot it left would otherwise sit idle; the backoff bases
    still add up to 12.7 s over the 7 retries (0.1, 0.2, ..., 6.4 s; full jitter draws each
    sleep below its base), so a server that stays throttled is given as long as before.

    Attributes:
        max_tries: attempts in all, the first included.
        initial: the backoff base delay, in seconds.
        multiplier: the growth factor of the delay between tries.
        max_delay: cap of one backoff delay, in seconds.
        max_retry_after: cap of a server-requested Retry-After delay, in seconds.
        deadline: total seconds one request may take across its tries; no retry starts a sleep
            that would end past it.
        jitter: apply full jitter (a uniform draw in ``[0, delay]``), as AWS recommends, so
            that many clients throttled together do not retry together.
    """

    max_tries: int = attrs.field(default=8, validator=at_least(1))
    initial: float = attrs.field(default=0.1, validator=positive)
    multiplier: float = attrs.field(default=2.0, validator=positive)
    max_delay: float = attrs.field(default=30.0, validator=positive)
    max_retry_after: float = attrs.field(default=60.0, validator=positive)
    deadline: float = attrs.field(default=120.0, validator=positive)
    jitter: bool = True

    def delay(
        self,
        retry_number: int,
        retry_after: float | None = None,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """Seconds to wait before retry number ``retry_number`` (1 for the first retry).

        Args:
            retry_number: which retry this is, counting from 1.
            retry_after: the server's Retry-After, in seconds, if it sent one.
            rand: a uniform [0, 1) source, injectable for tests.
        """
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        # initial * multiplier**(n-1), capped; computed in the log domain so a huge retry
        # number never overflows a float.
        exponent = max(retry_number - 1, 0) * math.log(self.multiplier)
        if exponent >= math.log(self.max_delay / self.initial):
            base = self.max_delay
        else:
            base = min(self.initial * math.exp(exponent), self.max_delay)
        return base * rand() if self.jitter else base


def should_retry(error: ZohoConvertError, *, repeatable: bool) -> bool:
    """Decide whether a failed request may be sent again.

    - 429: always: Zoho refused the call before doing anything.
    - 5xx, transport failures and unreadable replies: when the request is ``repeatable`` (a
      GET, or a token call: minting twice costs nothing but a token), or, for one that is not
      (a mass convert), only when it provably never reached the server
      (``TransportError.sent`` is False): repeating a mass convert that Zoho did process would
      start a second job.
    - anything else (4xx, authentication): never; the caller must change something.
    """
    if isinstance(error, RateLimitError):
        return True
    if isinstance(error, TransportError):
        return repeatable or not error.sent
    if isinstance(error, (ServerError, ResponseValidationError)):
        return repeatable
    return False


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Read a Retry-After header: delta seconds or an HTTP date; None when absent or unreadable.

    A date in the past gives 0.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            return None
        return max(seconds, 0.0)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = now or datetime.now(timezone.utc)
    return max((when - current).total_seconds(), 0.0)
