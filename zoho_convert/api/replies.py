"""Reading Zoho's replies: JSON, or the error a reply carries (the matching ``APIError``).

Pure functions of a status, headers and body; ``transport.py`` applies them to each reply.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from zoho_convert.api.errors import APIError, ResponseValidationError, ServerError, error_for
from zoho_convert.api.retry import parse_retry_after
from zoho_convert.api.wire import error_in_reply, mixed_outcomes

__all__ = ["decode_reply", "host_of", "path_of", "short_error"]


def _json(raw: bytes) -> Any:
    # Zoho writes UTF-8: an object decoded first spares json's encoding sniffing, once per
    # reply. (UTF-16/32 text, "{" then a NUL byte, and anything else still goes through it.)
    if raw[:1] == b"{" and raw[1:2] != b"\x00":
        return json.loads(raw.decode())
    return json.loads(raw)


def decode_reply(status: int, headers: Mapping[str, str], raw: bytes, is_post: bool) -> Any:
    """Turn a reply into JSON (None for 204 No Content), or raise the error
    it carries: the ``APIError`` subclass its code (or status) calls for."""
    request_id = headers.get("X-REQUEST-ID") or headers.get("x-request-id")
    # A 408 is a proxy's "no answer in time" (RFC 9110: repeatable), like a gateway's 504:
    # behind it, Zoho may have acted on a POST.
    maybe_processed = is_post and (status >= 500 or status == 408)
    if status == 204:
        return None  # No Content: the caller decides what an empty answer means
    if not raw.strip() and status < 300:
        # An empty 200 or 202 is not Zoho's No Content (204: a job it no longer knows) but a
        # reply lost on the way (a proxy's, cut short): unreadable, so a GET is repeated and a
        # POST may have been processed.
        raise ResponseValidationError(
            f"HTTP {status} reply is empty", field="<body>", maybe_processed=is_post
        )
    try:
        payload = _json(raw)
    except (ValueError, UnicodeDecodeError):
        payload = None
        if status < 400:
            raise ResponseValidationError(
                f"HTTP {status} reply is not JSON ({_snippet(raw)})",
                field="<body>",
                maybe_processed=is_post,
            ) from None
    found = error_in_reply(payload)
    if found is not None and status < 500 and mixed_outcomes(payload):
        # Some rows succeeded: Zoho did part of what was asked (a mass convert refusing some
        # ids may have scheduled a job of the others), so this is not a refusal that did
        # nothing. What it did cannot be read: for a POST, it may have been processed.
        raise ResponseValidationError(
            f"HTTP {status} reply mixes errors ({found.code}) with successes",
            field="data",
            maybe_processed=is_post,
        )
    if status >= 400 or found is not None:
        retry_after = parse_retry_after(headers.get("Retry-After"))
        if found is None:
            code = "TOO_MANY_REQUESTS" if status == 429 else f"HTTP_{status}"
            if _not_zohos_answer(status, is_post):
                raise ServerError(
                    status,
                    code,
                    f"HTTP {status} without a Zoho error body, from something in front of "
                    f"Zoho ({_snippet(raw)})",
                    request_id=request_id,
                    maybe_processed=maybe_processed,
                )
            raise error_for(
                status,
                code,
                f"HTTP {status} without a Zoho error body ({_snippet(raw)})",
                request_id=request_id,
                maybe_processed=maybe_processed,
                retry_after=retry_after,
            )
        raise error_for(
            status,
            found.code,
            found.message,
            found.details,
            request_id=request_id,
            maybe_processed=maybe_processed,
            retry_after=retry_after,
        )
    return payload


def _not_zohos_answer(status: int, is_post: bool) -> bool:
    """Whether an error reply without Zoho's error body is a gateway's or a proxy's page, not
    Zoho's answer: a 408 (the proxy gave up waiting), or any 4xx but 401 and 429 to a GET (a
    status poll or a lookup Zoho answered before: a misrouted or filtering balancer). Read
    as a server-side failure: a GET is repeated, and a poll says nothing of its job. (To a
    POST, a 400 or 403 page stays a refusal: ``bulk.isolation.unreadable_refusal``.)"""
    if status == 408:
        return True
    return not is_post and 400 <= status < 500 and status not in (401, 429)


def _snippet(raw: bytes) -> str:
    text = raw[:80].decode("utf-8", "replace").replace("\n", " ")
    return repr(text) if raw else "empty body"


def short_error(error: BaseException) -> str:
    if isinstance(error, APIError):
        return f"{error.status} {error.code}"
    return type(error).__name__


def host_of(url: str) -> str:
    # hostname, not netloc: a user:password written into a URL never reaches an error text.
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def path_of(url: str) -> str:
    return urlsplit(url).path
