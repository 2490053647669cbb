"""The HTTP layer: one request to Zoho, with authentication, retries, a concurrency limit and
error mapping. The only module that touches aiohttp's client.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import aiohttp

from zoho_convert.errors import (
    APIError,
    AuthenticationError,
    RateLimitError,
    ResponseValidationError,
    TransportError,
    ZohoConvertError,
    error_for,
)
from zoho_convert.retry import RetryPolicy, parse_retry_after, should_retry
from zoho_convert.timing import Clock, Sleep
from zoho_convert.urls import check_secure_url
from zoho_convert.wire import error_in_reply

__all__ = ["HttpTransport", "TokenSource", "check_secure_url"]

logger = logging.getLogger("zoho_convert.http")

T = TypeVar("T")


class TokenSource(Protocol):
    """What the transport needs from an auth object (see ``auth.py``)."""

    @property
    def api_domain(self) -> str | None:
        """The API domain learnt from the token reply, if any."""

    async def access_token(self, transport: HttpTransport) -> str:
        """A valid access token, refreshing first if it is about to expire."""

    async def refresh(self, transport: HttpTransport, stale: str) -> str:
        """A new access token to replace ``stale`` (one refresh shared by all callers)."""

    @property
    def current_token(self) -> str | None:
        """The token handed out last, without refreshing (None before the first)."""

    def can_refresh(self) -> bool:
        """Whether ``refresh`` can mint a new token at all."""


# Per request: a bound against a server that refuses every new token. Refreshes are shared by
# every waiting task (single flight), so a request unlucky enough to see several tokens used up
# in turn (tokens that expire after a few uses) costs no extra token calls.
_MAX_REFRESHES = 8

_NOT_SENT_ERRORS = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)

_JSON_HEADERS = {"Content-Type": "application/json"}
_NO_HEADERS: dict[str, str] = {}


class HttpTransport:
    """Sends requests to one Zoho API domain under a shared concurrency limit.

    Args:
        session: the aiohttp session to use (owned by the caller of this class).
        auth: where access tokens come from.
        api_domain: a fixed API domain (``https://www.zohoapis.com``); None to take the one the
            token reply names, falling back to ``default_domain``.
        default_domain: the data center's API domain.
        api_version: ``v8`` (or ``v7``).
        retry: the retry policy.
        max_concurrency: requests in flight at most, across every task using this transport.
        lead_convert_concurrency: Convert Lead calls in flight at most (Zoho's sub-limit inside
            ``max_concurrency``: 3 on Professional, 4 on Enterprise, 5 on Ultimate).
        request_timeout: seconds one attempt may take.
        sleep: how to wait between tries (injectable so tests never sleep).
        clock: a monotonic clock, for the retry deadline.
        allow_insecure_http: allow credentials over http:// to non-loopback hosts.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        auth: TokenSource,
        *,
        api_domain: str | None,
        default_domain: str,
        api_version: str,
        retry: RetryPolicy,
        max_concurrency: int,
        request_timeout: float,
        sleep: Sleep,
        clock: Clock,
        allow_insecure_http: bool = False,
        lead_convert_concurrency: int = 3,
    ) -> None:
        self._session = session
        self._auth = auth
        self._api_domain = api_domain
        self._default_domain = default_domain
        self._api_version = api_version
        self.retry = retry
        self.max_concurrency = max_concurrency
        self._limit = asyncio.Semaphore(max_concurrency)
        self._lead_limit = asyncio.Semaphore(min(lead_convert_concurrency, max_concurrency))
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self.sleep = sleep
        self.clock = clock
        self._allow_insecure = allow_insecure_http
        self._rand = random.Random()
        self.requests_sent = 0
        # The last few tokens Zoho accepted: a refused token among them expired in use.
        self._good_tokens: collections.deque[str] = collections.deque(maxlen=8)
        # The domain base_url last checked, and its URL: the domain rarely changes (a token
        # reply may name another), so each new one is checked once, not on every request.
        self._checked_domain: str | None = None
        self._base_url = ""

    def base_url(self) -> str:
        """``{api_domain}/crm/{version}``, using the token reply's domain when none was set."""
        domain = self._api_domain or self._auth.api_domain or self._default_domain
        if domain != self._checked_domain:
            check_secure_url(domain, allow_insecure=self._allow_insecure, what="the API domain")
            self._base_url = f"{domain.rstrip('/')}/crm/{self._api_version}"
            self._checked_domain = domain
        return self._base_url

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        lead_convert: bool = False,
    ) -> Any:
        """Send one API request and return its decoded JSON (None for an empty reply or 204).

        Retries what ``should_retry`` allows, within the policy's tries and deadline; on a 401
        INVALID_TOKEN refreshes the token once and repeats the request once. A Convert Lead call
        (``lead_convert``) also holds one of the Convert Lead slots.

        Raises:
            APIError: Zoho answered with an error (the matching subclass).
            TransportError: no usable response arrived.
            ResponseValidationError: the reply was not the JSON Zoho promises.
        """
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = _JSON_HEADERS if data is not None else _NO_HEADERS
        try:
            if lead_convert:
                # The sub-slot first: waiting for it must not hold one of the general slots.
                async with self._lead_limit:
                    return await self._retrying(
                        method, path, self._authorized, method, path, params, data, headers
                    )
            return await self._retrying(
                method, path, self._authorized, method, path, params, data, headers
            )
        except _TokenFailure as failure:
            raise failure.error from None

    async def _authorized(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        data: bytes | None,
        headers: Mapping[str, str],
    ) -> Any:
        """One try of an API request, refreshing the token on INVALID_TOKEN: once, or again for
        a token that had worked and expired in use (at most three times), plus repeats for a
        token that another task replaced meanwhile.

        A 401 means Zoho did nothing, so repeating even a POST is safe. The token is read only
        once a slot under the concurrency limit is held: a request queued behind others must
        not carry a token that dies while it waits.
        """
        refreshes = 0
        unproven = 0  # refused tokens that no request had been accepted with
        replaced_repeats = 0
        while True:
            used = ""
            try:
                async with self._limit:
                    # The token first: its reply may name the API domain the URL must use.
                    try:
                        used = await self._auth.access_token(self)
                    except ZohoConvertError as error:
                        raise _TokenFailure(error) from None
                    self.requests_sent += 1
                    reply = await self._send(
                        method,
                        f"{self.base_url()}/{path}",
                        headers={**headers, "Authorization": f"Zoho-oauthtoken {used}"},
                        params=params,
                        data=data,
                        timeout=self._timeout,
                    )
                    if not self._good_tokens or self._good_tokens[-1] != used:
                        self._good_tokens.append(used)
                    if logger.isEnabledFor(logging.DEBUG):  # the hot path formats nothing
                        logger.debug("%s %s ok", method, path)
                    return reply
            except AuthenticationError as error:
                if error.code != "INVALID_TOKEN" or not self._auth.can_refresh():
                    raise
                current = self._auth.current_token
                if current is not None and current != used and replaced_repeats < 3:
                    replaced_repeats += 1  # someone refreshed while we were in flight
                    continue
                # Refresh, and again for a token that had worked for someone (it expired in
                # use) or for a fresh one refused once (tokens churning fast); two fresh
                # tokens refused mean Zoho refuses the credentials.
                if used not in self._good_tokens:
                    unproven += 1
                if refreshes >= _MAX_REFRESHES or unproven >= 2:
                    raise
                refreshes += 1
                logger.info("access token refused (INVALID_TOKEN); refreshing")
                try:
                    await self._auth.refresh(self, used)
                except ZohoConvertError as refresh_error:
                    raise _TokenFailure(refresh_error) from None

    async def post_form(
        self,
        url: str,
        form: Mapping[str, str],
        *,
        timeout: float,
        interpret: Callable[[int, Any, bytes], T],
    ) -> T:
        """POST a form (the OAuth token call) and return what ``interpret`` makes of the reply.

        ``interpret(status, json_or_None, raw_body)`` reads the reply and raises to refuse it;
        a ``RateLimitError``, ``ServerError`` or ``TransportError`` is retried under the retry
        policy (a token call that failed minted nothing we could use), anything else is final.
        Sends no Authorization header and never logs the form.
        """
        check_secure_url(url, allow_insecure=self._allow_insecure, what="the accounts URL")
        client_timeout = aiohttp.ClientTimeout(total=timeout)

        async def attempt() -> T:
            status, _, raw = await self._exchange(
                "POST", url, headers={}, params=None, data=form, timeout=client_timeout
            )
            try:
                payload = json.loads(raw) if raw.strip() else None
            except (ValueError, UnicodeDecodeError):
                payload = None
            return interpret(status, payload, raw)

        result: T = await self._retrying("GET", "oauth token", attempt)
        return result

    async def _retrying(
        self,
        decide_as: str,
        label: str,
        attempt: Callable[..., Awaitable[Any]],
        *args: Any,
    ) -> Any:
        """Run ``attempt(*args)`` until it succeeds or ``should_retry(decide_as, …)`` says stop,
        within the policy's tries and total deadline (no sleep may end past it).

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
                if not should_retry(decide_as, error) or tries >= self.retry.max_tries:
                    raise
                retry_after = error.retry_after if isinstance(error, RateLimitError) else None
                delay = self.retry.delay(tries, retry_after, self._rand.random)
                if self.clock() + delay - started > self.retry.deadline:
                    raise
                logger.debug(
                    "%s failed (%s); retry %d in %.2fs", label, _short(error), tries, delay
                )
                await self.sleep(delay)

    async def _send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None,
        data: bytes | None,
        timeout: aiohttp.ClientTimeout,
    ) -> Any:
        status, reply_headers, raw = await self._exchange(
            method, url, headers=headers, params=params, data=data, timeout=timeout
        )
        return _decode(status, reply_headers, raw, method.upper() == "POST")

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
                f"could not connect to {_host(url)}: {type(error).__name__}", sent=False
            ) from None
        # On Python 3.10 asyncio.TimeoutError is not the built-in TimeoutError: catch both.
        except (aiohttp.ClientError, asyncio.TimeoutError, TimeoutError) as error:
            raise TransportError(
                f"{method} {_path(url)} failed after the request was sent "
                f"({type(error).__name__}); the request may have been processed",
                sent=True,
            ) from None


class _TokenFailure(Exception):
    """Carries an error of the token call past the API request's retry loop: the token call
    has its own retries, and repeating the API request cannot fix an OAuth failure."""

    def __init__(self, error: ZohoConvertError) -> None:
        super().__init__(str(error))
        self.error = error


def _decode(status: int, headers: Mapping[str, str], raw: bytes, is_post: bool) -> Any:
    """Turn a reply into JSON, or raise the error it carries."""
    request_id = headers.get("X-REQUEST-ID") or headers.get("x-request-id")
    maybe_processed = is_post and status >= 500
    if status == 204 or (not raw.strip() and status < 300):
        return None  # No Content: the caller decides what an empty answer means
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        payload = None
        if status < 400:
            raise ResponseValidationError(
                f"HTTP {status} reply is not JSON ({_snippet(raw)})",
                field="<body>",
                maybe_processed=is_post,
            ) from None
    found = error_in_reply(payload)
    if status >= 400 or found is not None:
        retry_after = parse_retry_after(headers.get("Retry-After"))
        if found is None:
            code = "TOO_MANY_REQUESTS" if status == 429 else f"HTTP_{status}"
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


def _snippet(raw: bytes) -> str:
    text = raw[:80].decode("utf-8", "replace").replace("\n", " ")
    return repr(text) if raw else "empty body"


def _short(error: BaseException) -> str:
    if isinstance(error, APIError):
        return f"{error.status} {error.code}"
    return type(error).__name__


def _host(url: str) -> str:
    # hostname, not netloc: a user:password written into a URL never reaches an error text.
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def _path(url: str) -> str:
    return urlsplit(url).path
