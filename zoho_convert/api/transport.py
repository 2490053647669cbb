"""The HTTP layer: one request to Zoho, retried under ``RetryPolicy``, within a request slot.

The only module that touches aiohttp's client. It sends what it is given and reports the
reply; authentication is the auth flow's business (``auth.py``): the transport asks it for the
token to send, tells it which token worked, and hands it a 401 to decide whether the request
is repeated with a new token.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

import aiohttp

from zoho_convert.api.credits import carries_credits
from zoho_convert.api.errors import (
    APIError,
    AuthenticationError,
    RateLimitError,
    ResponseValidationError,
    TransportError,
    ZohoConvertError,
)
from zoho_convert.api.limits import RequestKind, RequestLimiter
from zoho_convert.api.replies import decode_reply, host_of, path_of, short_error
from zoho_convert.api.retry import RetryPolicy, should_retry
from zoho_convert.api.timing import Clock, Sleep, mark_sent
from zoho_convert.api.urls import check_secure_url

__all__ = ["AuthFlow", "HttpTransport", "RequestAuth", "encode_body"]

logger = logging.getLogger("zoho_convert.api.transport")

T = TypeVar("T")

_NOT_SENT_ERRORS = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
_JSON_HEADERS = {"Content-Type": "application/json"}
# One encoder for every body: json.dumps(..., separators=...) builds a new one per call.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))
_NO_HEADERS: dict[str, str] = {}


def encode_body(body: Any) -> bytes:
    """A request body as compact JSON (UTF-8).

    A list of digit strings under ``"ids"`` (every mass convert's 50 ids) is written out
    directly: digits need no escaping, and the generic encoder spends ~7 us on 50 of them,
    once per batch. Anything else, and any other id, goes through the encoder.
    """
    if type(body) is dict and type(ids := body.get("ids")) is list and ids:
        try:
            digits = "".join(ids)  # TypeError unless every id is a str
        except TypeError:
            digits = "-"
        if digits.isascii() and digits.isdigit():
            rest = {key: value for key, value in body.items() if key != "ids"}
            # The other keys' object, less its "{", follows the ids.
            tail = "," + _COMPACT_JSON.encode(rest)[1:] if rest else "}"
            return ('{"ids":["' + '","'.join(ids) + '"]' + tail).encode()
    return _COMPACT_JSON.encode(body).encode()


class _TokenDue(Exception):
    """A request got its slot, but its token must be replaced first (not a request error, so
    not retried: the token call has retries of its own)."""


class AuthFlow(Protocol):
    """One request's authentication (httpx's auth flow, azure-core's bearer policy in spirit)."""

    async def token(self, transport: HttpTransport) -> str:
        """The access token to send (minting or refreshing one first if needed)."""

    def latest(self, token: str) -> str | None:
        """The token to send now that the request holds its slot: the one that replaced
        ``token`` while the request waited, if any; None when a new one must be fetched
        first (the current one was refused a moment ago, see ``expired``)."""

    def expired(self, token: str, error: AuthenticationError) -> None:
        """Zoho refused ``token`` (said while the refused request still holds its slot, so
        the request that takes the slot next does not send it)."""

    def accepted(self, token: str) -> None:
        """Zoho accepted a request sent with ``token``."""

    async def refused(
        self, transport: HttpTransport, token: str, error: AuthenticationError
    ) -> bool:
        """Zoho answered 401 to ``token``: True to repeat the request with a new token."""


class RequestAuth(Protocol):
    """What the transport needs from an auth object (``StaticToken``, ``RefreshTokenAuth``)."""

    @property
    def api_domain(self) -> str | None:
        """The API domain learnt from the token reply, if any."""

    def flow(self) -> AuthFlow:
        """A new flow for one request."""


def _not_sent(error: ZohoConvertError) -> None:
    """Mark an error of the token call, which failed before this request left (or after
    Zoho refused it), as not sent: whatever the token POST may have done, this request did
    nothing, so its error must not say it may have been processed (a mass convert would be
    settled as possibly converted)."""
    if isinstance(error, TransportError):
        error.sent, error.timed_out_after = False, None
    elif isinstance(error, (APIError, ResponseValidationError)):
        error.maybe_processed = False


class HttpTransport:
    """Sends requests to one Zoho API domain, each attempt within a request slot.

    Args:
        session: the aiohttp session to use (owned by the caller of this class).
        auth: where access tokens come from.
        api_domain: a fixed API domain (``https://www.zohoapis.com``); None to take the one the
            token reply names, falling back to ``default_domain``.
        default_domain: the data center's API domain.
        api_version: ``v8`` (or ``v7``).
        retry: the retry policy.
        limiter: grants request slots (the concurrency limit and the Convert Lead sub-limit).
        request_timeout: seconds one attempt may take.
        sleep: how to wait between tries (injectable so tests never sleep).
        clock: a monotonic clock, for the retry deadline.
        allow_insecure_http: allow credentials over http:// to non-loopback hosts.
        on_headers: awaited with the headers of every API reply that carries rate headers
            (``credits.carries_credits``).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        auth: RequestAuth,
        *,
        api_domain: str | None,
        default_domain: str,
        api_version: str,
        retry: RetryPolicy,
        limiter: RequestLimiter,
        request_timeout: float,
        sleep: Sleep,
        clock: Clock,
        allow_insecure_http: bool,
        on_headers: Callable[[Mapping[str, str]], Awaitable[None]] | None = None,
    ) -> None:
        self._session = session
        self._auth = auth
        self._api_domain = api_domain
        self._default_domain = default_domain
        self._api_version = api_version
        self.retry = retry
        self._limiter = limiter
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self.sleep = sleep
        self.clock = clock
        self._allow_insecure = allow_insecure_http
        self._on_headers = on_headers
        self.requests_sent = 0
        # The domain base_url last checked, and its URL: the domain rarely changes (a token
        # reply may name another), so each new one is checked once, not on every request.
        self._checked: tuple[str, str] | None = None

    def base_url(self) -> str:
        """``{api_domain}/crm/{version}``, using the token reply's domain when none was set."""
        domain = self._api_domain or self._auth.api_domain or self._default_domain
        checked = self._checked
        if checked is None or checked[0] != domain:
            check_secure_url(domain, allow_insecure=self._allow_insecure, what="the API domain")
            checked = (domain, f"{domain.rstrip('/')}/crm/{self._api_version}")
            self._checked = checked
        return checked[1]

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        kind: RequestKind,
    ) -> Any:
        """Send one API request and return its decoded JSON (None for 204 No Content).

        Retries what ``should_retry`` allows, within the policy's tries and deadline (a GET is
        repeatable, a POST only when it surely never arrived). A 401 goes to the auth flow,
        which may refresh the token; the request is then sent again (Zoho did nothing).
        ``kind`` names the request slot each attempt holds (the caller always knows it).

        Raises:
            APIError: Zoho answered with an error (the matching subclass).
            TransportError: no usable response arrived.
            ResponseValidationError: the reply was not the JSON Zoho promises.
        """
        data = None if body is None else encode_body(body)
        headers = _JSON_HEADERS if data is not None else _NO_HEADERS
        flow = self._auth.flow()
        while True:
            # The token first: its reply may name the API domain the URL must use. A failed
            # token call raises here, after its own retries: repeating this request would not
            # mend it.
            try:
                sent = [await flow.token(self)]  # the token the last attempt carried
            except ZohoConvertError as error:
                _not_sent(error)
                raise
            try:
                reply = await self._retrying(
                    self._attempt,
                    method,
                    f"{self.base_url()}/{path}",
                    headers,
                    params,
                    data,
                    kind,
                    flow,
                    sent,
                    repeatable=method == "GET",
                    label=path,
                )
            except _TokenDue:
                continue
            except AuthenticationError as error:
                try:
                    if await flow.refused(self, sent[0], error):
                        continue
                except ZohoConvertError as failed:  # (a refresh that failed: Zoho did nothing)
                    _not_sent(failed)
                    raise
                raise
            flow.accepted(sent[0])
            if logger.isEnabledFor(logging.DEBUG):  # the hot path formats nothing
                logger.debug("%s %s ok", method, path)
            return reply

    async def _attempt(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None,
        data: bytes | None,
        kind: RequestKind,
        flow: AuthFlow,
        sent: list[str],
    ) -> Any:
        async with self._limiter.slot(kind):
            # The token is read again with the slot held: a request that queued for its slot
            # behind many others would otherwise carry a token that expired meanwhile, be
            # refused, and queue again.
            token = flow.latest(sent[0])
            if token is None:
                raise _TokenDue()  # fetched outside the slot, and outside the retries
            sent[0] = token
            authorized = {**headers, "Authorization": f"Zoho-oauthtoken {token}"}
            self.requests_sent += 1
            # Leaves now, its slot held: a run times jobs and polls from here (not from
            # before the wait for a slot or a retry's sleep).
            mark_sent(self.clock())
            status, reply_headers, raw = await self._exchange(
                method, url, headers=authorized, params=params, data=data, timeout=self._timeout
            )
            if status == 401:  # (rare) read now, its slot held, so the next one knows
                try:
                    decode_reply(status, reply_headers, raw, method == "POST")
                except AuthenticationError as error:
                    flow.expired(token, error)
                    raise
        if self._on_headers is not None and carries_credits(reply_headers):
            await self._on_headers(reply_headers)
        return decode_reply(status, reply_headers, raw, method == "POST")

    async def post_form(
        self,
        url: str,
        form: Mapping[str, str],
        *,
        timeout: float,
        interpret: Callable[[int, Any, bytes], T],
    ) -> T:
        """POST a form (the OAuth token call) and return what ``interpret`` makes of the reply.

        ``interpret(status, json_or_None, raw_body)`` reads the reply and raises to refuse it.
        The call is repeatable (a token minted twice is only a token), so a ``RateLimitError``,
        ``ServerError``, ``TransportError`` or unreadable reply is retried under the retry
        policy; anything else is final. Sends no Authorization header, never logs the form.
        """
        check_secure_url(url, allow_insecure=self._allow_insecure, what="the accounts URL")
        client_timeout = aiohttp.ClientTimeout(total=timeout)

        async def attempt() -> T:
            status, _, raw = await self._exchange(
                "POST", url, headers={}, params=None, data=form, timeout=client_timeout
            )
            try:
                payload = json.loads(raw)
            except (ValueError, UnicodeDecodeError):  # an empty or non-JSON body too
                payload = None
            return interpret(status, payload, raw)

        result: T = await self._retrying(attempt, repeatable=True, label="the token call")
        return result

    async def _retrying(
        self,
        attempt: Callable[..., Awaitable[Any]],
        *args: Any,
        repeatable: bool,
        label: str,
    ) -> Any:
        """Run ``attempt(*args)`` until it succeeds or ``should_retry`` says stop, within the
        policy's tries and total deadline (no sleep may end past it).

        ``args`` rather than a closure: API requests pass a bound method and their arguments,
        so the hot path makes no function object per request.
        """
        started = self.clock()
        tries = 0
        while True:
            tries += 1
            try:
                return await attempt(*args)
            except ZohoConvertError as error:
                if not should_retry(error, repeatable=repeatable) or tries >= self.retry.max_tries:
                    raise
                retry_after = error.retry_after if isinstance(error, RateLimitError) else None
                delay = self.retry.delay(tries, retry_after)
                if self.clock() + delay - started > self.retry.deadline:
                    raise
                logger.debug(
                    "%s failed (%s); retry %d in %.2fs", label, short_error(error), tries, delay
                )
                await self.sleep(delay)

    async def _exchange(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None,
        data: bytes | Mapping[str, str] | None,
        timeout: aiohttp.ClientTimeout,
    ) -> tuple[int, Mapping[str, str], bytes]:
        """One HTTP exchange: the status, headers and raw body, or ``TransportError``."""
        try:
            async with self._session.request(
                method,
                url,
                headers=headers,
                params=params,
                data=data,
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                raw = await response.read()
                return response.status, response.headers, raw
        except _NOT_SENT_ERRORS as error:
            raise TransportError(
                f"could not connect to {host_of(url)}: {type(error).__name__}", sent=False
            ) from None
        # On Python 3.10 asyncio.TimeoutError is not the built-in TimeoutError: catch both.
        except (aiohttp.ClientError, asyncio.TimeoutError, TimeoutError) as error:
            timed_out = isinstance(error, (asyncio.TimeoutError, TimeoutError))
            raise TransportError(
                f"{method} {path_of(url)} failed after the request was sent "
                f"({type(error).__name__}); the request may have been processed",
                sent=True,
                timed_out_after=timeout.total if timed_out else None,
            ) from None
