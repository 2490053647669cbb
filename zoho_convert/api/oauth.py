"""Zoho's OAuth token endpoint: reading its replies.

Every way the accounts server answers a refresh-token grant, in one place: a token (its
lifetime in seconds, or in milliseconds when ``expires_in_sec`` is there), refused credentials
(HTTP 200 with ``{"error": ...}``), a throttle (``Access Denied`` and its spellings), a 5xx.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zoho_convert.api.errors import (
    AuthenticationError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
)

__all__ = ["Remember", "read_token_reply"]

#: Records refused credentials (so they are not tried again) and returns the error to raise.
Remember = Callable[[AuthenticationError], AuthenticationError]

_DEFAULT_EXPIRES_IN = 3600.0  # Some token replies lack expires_in; Zoho's tokens last an hour.

_OAUTH_ERRORS = {
    "invalid_code": (
        "Zoho refused the refresh token (invalid_code): it is wrong, revoked, or was issued by "
        "another data center. Generate a new refresh token in the Zoho API console and check "
        "that the data center (ZOHO_DATA_CENTER) matches the account's."
    ),
    "invalid_client": (
        "Zoho refused the client (invalid_client): the client id or client secret is wrong, "
        "or the client belongs to another data center. Check ZOHO_CLIENT_ID, "
        "ZOHO_CLIENT_SECRET and ZOHO_DATA_CENTER."
    ),
    "invalid_client_secret": (
        "Zoho refused the client secret (invalid_client_secret): check ZOHO_CLIENT_SECRET."
    ),
}

# How Zoho's accounts server says "too many tokens, not now" (its docs spell one "Access Denied").
_THROTTLE_WORDS = ("access denied", "access_denied", "too many requests", "too_many_requests")


def _is_throttle(text: object) -> bool:
    if isinstance(text, bytes):
        text = text[:512].decode("utf-8", "replace")
    return isinstance(text, str) and any(word in text.lower() for word in _THROTTLE_WORDS)


def read_token_reply(
status: int, payload: Any, raw: bytes, remember: Remember
) -> tuple[str, float, str | None]:
    """Read one token reply; raise what the transport's retry loop should see.

    A throttled call (``Access Denied``, ``access_denied``, ``too many requests``, HTTP 429)
    raises ``RateLimitError`` and a 5xx ``ServerError``, both retried with backoff; refused
    credentials raise ``AuthenticationError``, remembered so they are not tried again.
    """
    oauth_error = payload.get("error") if isinstance(payload, dict) else None
    if status == 429 or _is_throttle(oauth_error) or (status >= 400 and _is_throttle(raw)):
        raise RateLimitError(
            status,
            "TOKEN_THROTTLED",
            "the accounts server throttled the token request (Zoho allows about 10 access "
            "tokens per 10 minutes per refresh token); retrying later",
        )
    if status >= 500:
        raise ServerError(status, "TOKEN_ENDPOINT_ERROR", f"HTTP {status} from the token call")
    if status >= 400 and oauth_error is None:
        # No OAuth error body ({"error": ...}): a proxy's or a balancer's page (400, 404, 408),
        # not the accounts server refusing the credentials. Retried like a 5xx; never
        # remembered as refused credentials (that would stop every later refresh).
        raise ServerError(
            status,
            "TOKEN_ENDPOINT_ERROR",
            f"HTTP {status} from the token call without an OAuth error body",
        )
    if status >= 400:
        code = str(oauth_error)  # (one without an OAuth error body was retried above)
        raise remember(
            AuthenticationError(
                status,
                code,
                _OAUTH_ERRORS.get(
                    code, f"the token endpoint refused the refresh (HTTP {status})"
                ),
            )
        )
    return _parse_token_reply(payload, remember)


def _parse_token_reply(
    reply: Any, remember: Remember
) -> tuple[str, float, str | None]:
    if not isinstance(reply, dict):
        raise ResponseValidationError("token reply is not a JSON object", field="<body>")
    oauth_error = reply.get("error")
    if oauth_error is not None:
        # Zoho answers OAuth failures with HTTP 200 and {"error": "..."}.
        code = str(oauth_error)
        message = _OAUTH_ERRORS.get(
            code, f"Zoho refused the token request ({code}); check the OAuth credentials"
        )
        raise remember(AuthenticationError(200, code, message))
    token = reply.get("access_token")
    if not isinstance(token, str) or not token:
        raise ResponseValidationError("token reply has no access token", field="access_token")
    return token, _expires_in(reply), _text(reply.get("api_domain"))


def _seconds(value: object) -> float | None:
    if isinstance(value, str):
        # A lifetime written as a numeric string ("3600"): JSON types it loosely elsewhere too
        # (counts, ids); words ("an hour") are no lifetime.
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        return None
    return float(value) if value != float("inf") else None


def _expires_in(reply: dict[str, Any]) -> float:
    # Two readings: expires_in in seconds (the usual reply), or, when the reply also carries
    # expires_in_sec, expires_in in milliseconds (the official SDK reads it so).
    if "expires_in_sec" in reply:
        seconds = _seconds(reply["expires_in_sec"])
        if seconds is None:
            millis = _seconds(reply.get("expires_in"))
            seconds = None if millis is None else millis / 1000.0
        return seconds or _DEFAULT_EXPIRES_IN
    return _seconds(reply.get("expires_in")) or _DEFAULT_EXPIRES_IN


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
