"""Replies a proxy, a load balancer or a changed Zoho can put on the wire, for ``alt_server``.

Hunt round 9: faults at the HTTP layer that ``alt_server``'s own (500s, drops, 429s) do not
reach. Each is a name a ``Rates.odd`` draw or a ``fault_plan`` entry can give:

- served instead of the request (nothing done): ``400_html``, ``404_html`` (a proxy's or a
  misrouted balancer's refusal), ``408_html`` (a proxy timing the request out),
  ``502_html``, ``503_html``, ``504_html`` (a gateway's HTML page), ``429_html`` (a
  throttle's HTML page), ``429_data`` (Zoho's throttle error inside ``data``), ``429_plain``
  (a 429 with a text body), ``429_limit`` (a 429 whose body's code is ``LIMIT_EXCEEDED``);
- served after the request was processed (the reply lost on its way): ``408_html_after`` (a
  proxy that timed out waiting for the reply), ``502_html_after``,
  ``504_html_after``, ``200_html_after`` (a proxy's page under 200), ``200_empty_after``,
  ``truncate_after`` (the JSON cut mid-body, the connection closed), ``reset_after`` (a TCP
  reset instead of the reply);
- the right reply, dressed otherwise (every one of them a legitimate HTTP reply of the same
  JSON): ``bom`` (a UTF-8 byte-order mark first), ``text_plain`` (``Content-Type:
  text/plain``), ``gzip`` (``Content-Encoding: gzip``), ``chunked`` (chunked transfer, in
  small pieces);
- status replies only (``alt_server`` builds these, it knows the jobs): ``other_job`` (the
  status of another job of the run, its row naming that job's id: a cache or a proxy mixing
  replies), ``multi_rows`` (``data`` holding another job's row, then this one's, each named),
  ``multi_same`` (``data`` holding this job's row twice), ``float_counts`` (counts as JSON
  numbers with a fraction part of zero, ``10.0``); ``other_job_unnamed`` (another job's
  status, its row naming no job: ``UNDETECTABLE``).

Imports nothing of ``zoho_convert`` (as ``alt_server``).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import struct
from typing import Any

from aiohttp import web

__all__ = [
    "AFTER",
    "BEFORE",
    "DRESS",
    "STATUS_ONLY",
    "UNDETECTABLE",
    "after",
    "before",
    "dress",
    "float_counts",
]

BEFORE = frozenset(
    {
        "400_html",
        "404_html",
        "408_html",
        "502_html",
        "503_html",
        "504_html",
        "429_html",
        "429_data",
        "429_plain",
        "429_limit",
    }
)
AFTER = frozenset(
    {
        "408_html_after",
        "502_html_after",
        "504_html_after",
        "200_html_after",
        "200_empty_after",
        "truncate_after",
        "reset_after",
    }
)
DRESS = frozenset({"bom", "text_plain", "gzip", "chunked"})
STATUS_ONLY = frozenset({"other_job", "multi_rows", "multi_same", "float_counts"})
# Another job's status whose row names no job (a cache keyed without the query string): no
# client can tell it from the job's own (README, *Known limits*); kept out of the sweeps.
UNDETECTABLE = frozenset({"other_job_unnamed"})

_PAGE = (
    "<html><head><title>{code} {reason}</title></head><body><center><h1>{code} {reason}</h1>"
    "</center><hr><center>nginx</center></body></html>"
)
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    408: "Request Time-out",
    429: "Too Many Requests",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


def _page(status: int, headers: dict[str, str] | None = None) -> web.Response:
    text = _PAGE.format(code=status, reason=_REASONS[status])
    return web.Response(status=status, text=text, content_type="text/html", headers=headers)


def before(fault: str, retry_after: str | None) -> web.Response:
    """The reply of a fault served instead of the request (nothing was done)."""
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    if fault == "429_data":
        row = {"code": "TOO_MANY_REQUESTS", "details": {}, "message": "slow", "status": "error"}
        return web.json_response({"data": [row]}, status=429, headers=headers)
    if fault == "429_limit":
        # A throttle naming a code of Zoho's table that is no throttle under a 400 (more than
        # 50 ids): under a 429, a limit of calls reached.
        body = {"code": "LIMIT_EXCEEDED", "details": {}, "message": "limit", "status": "error"}
        return web.json_response(body, status=429, headers=headers)
    if fault == "429_plain":
        return web.Response(status=429, text="Too Many Requests", headers=headers)
    return _page(int(fault[:3]), headers)


def _body(reply: web.Response) -> bytes:
    body = reply.body
    if body is None:
        return b""  # (a 204: nothing to cut or dress)
    assert isinstance(body, bytes), "alt_server's replies are whole bytes"
    return body


async def _cut(request: web.Request) -> web.StreamResponse:
    # Nothing more is sent on this connection: the client sees it close (or reset).
    if request.transport is not None:
        request.transport.close()
    raise asyncio.CancelledError


async def after(fault: str, request: web.Request, reply: web.Response) -> web.StreamResponse:
    """What the client gets instead of ``reply`` (the request was processed)."""
    if fault in ("408_html_after", "502_html_after", "504_html_after", "200_html_after"):
        return _page(int(fault[:3]))
    if fault == "200_empty_after":
        return web.Response(status=200, body=b"", content_type="application/json")
    if fault == "reset_after":
        sock = request.transport.get_extra_info("socket") if request.transport else None
        if sock is not None:
            # SO_LINGER 0: closing sends a TCP RST, as a load balancer resetting the flow.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError
    assert fault == "truncate_after", fault
    body = _body(reply)
    response = web.StreamResponse(status=reply.status, headers={"Content-Type": "application/json"})
    response.content_length = len(body)
    await response.prepare(request)
    await response.write(body[: max(len(body) // 2, 1)])
    return await _cut(request)


async def dress(fault: str, request: web.Request, reply: web.Response) -> web.StreamResponse:
    """``reply``'s JSON, sent another legitimate way (a reply without a body, as it is)."""
    body = _body(reply)
    if not body:
        return reply
    headers = {"Content-Type": "application/json;charset=UTF-8"}
    if fault == "bom":
        body = b"\xef\xbb\xbf" + body
    elif fault == "text_plain":
        headers["Content-Type"] = "text/plain;charset=UTF-8"
    elif fault == "gzip":
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    elif fault == "chunked":
        response = web.StreamResponse(status=reply.status, headers=headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), 7):
            await response.write(body[start : start + 7])
        await response.write_eof()
        return response
    return web.Response(status=reply.status, body=body, headers=headers)


def float_counts(payload: Any) -> Any:
    """``payload`` with every count (an int or a digit string) as a float: ``10`` -> ``10.0``."""
    if isinstance(payload, list):
        return [float_counts(item) for item in payload]
    if not isinstance(payload, dict):
        return payload
    out: dict[str, Any] = {}
    for key, value in payload.items():
        if key.lower().endswith("_count") and isinstance(value, (int, str)):
            out[key] = float(value) if str(value).isdigit() else value
        else:
            out[key] = float_counts(value)
    return out


def reply_json(reply: web.Response) -> Any:
    """The JSON of one of ``alt_server``'s replies."""
    return json.loads(_body(reply))
