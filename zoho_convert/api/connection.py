"""``Connection``: what every endpoint call shares: the session, transport, auth, limits.

The base of ``EndpointClient``: it owns the aiohttp session (or borrows the caller's), builds
the transport once, and sends one request per call through it (retries, authentication and
request slots are the transport's and the auth flow's business).
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, TypeVar

import aiohttp

from zoho_convert.api.auth import RefreshTokenAuth, StaticToken
from zoho_convert.api.credits import CreditsBook, LocalCredits
from zoho_convert.api.datacenters import DataCenter
from zoho_convert.api.limits import LocalLimiter, RequestKind, RequestLimiter
from zoho_convert.api.retry import RetryPolicy
from zoho_convert.api.timing import Clock, Sleep, Timing
from zoho_convert.api.transport import HttpTransport
from zoho_convert.api.urls import check_secure_url, redact_url

__all__ = ["Auth", "Connection"]

Auth = StaticToken | RefreshTokenAuth
Self = TypeVar("Self", bound="Connection")


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


class Connection:
    """The session, transport, auth and limits every endpoint call of a client shares.

    Args:
        auth: a ``StaticToken`` or a ``RefreshTokenAuth``.
        data_center: the account's data center (decides the default API domain).
        api_domain: overrides the API domain, e.g. ``http://127.0.0.1:8000`` for the simulator.
            When None, the domain named by the token reply is used, then the data center's.
        api_version: the CRM API version, ``v8`` (default) or ``v7``.
        session: an ``aiohttp.ClientSession`` to use; the client never closes a session it
            did not create.
        retry: the request retry policy (default ``RetryPolicy()``).
        max_concurrency: requests in flight at most, across every task using this client
            (Zoho's limit is 10 on the Standard edition).
        lead_convert_concurrency: Convert Lead calls in flight at most, inside
            ``max_concurrency`` (Zoho's sub-limit: 3 on Professional, 4 on Enterprise, 5 on
            Ultimate).
        request_timeout: seconds one request attempt may take.
        sleep: the coroutine used to wait between retries and polls (inject one in tests).
        clock: a monotonic clock for deadlines (inject one in tests).
        allow_insecure_http: send credentials over plain http:// to a non-loopback host.
        limiter: grants request slots instead of this client's own (a fleet's, shared by many
            processes); ``max_concurrency`` then only sizes the connection pool.
        credits: records the rate headers of every reply (default: this client's own
            ``LocalCredits``; a fleet's is shared by many processes).

    Raises:
        ValueError: an argument is out of range, or a URL would expose credentials.
    """

    def __init__(
        self,
        auth: Auth,
        *,
        data_center: DataCenter = DataCenter.US,
        api_domain: str | None = None,
        api_version: str = "v8",
        session: aiohttp.ClientSession | None = None,
        retry: RetryPolicy | None = None,
        max_concurrency: int = 10,
        lead_convert_concurrency: int = 3,
        request_timeout: float = 30.0,
        sleep: Sleep | None = None,
        clock: Clock | None = None,
        allow_insecure_http: bool = False,
        limiter: RequestLimiter | None = None,
        credits: CreditsBook | None = None,
    ) -> None:
        if not isinstance(auth, (StaticToken, RefreshTokenAuth)):
            raise TypeError("auth must be a StaticToken or a RefreshTokenAuth")
        _positive_int("max_concurrency", max_concurrency)
        _positive_int("lead_convert_concurrency", lead_convert_concurrency)
        if api_version not in ("v7", "v8"):
            raise ValueError(f"api_version must be 'v7' or 'v8', got {api_version!r}")
        if request_timeout <= 0:
            raise ValueError(f"request_timeout must be positive, got {request_timeout}")
        if api_domain is not None:
            check_secure_url(api_domain, allow_insecure=allow_insecure_http, what="api_domain")
        if isinstance(auth, RefreshTokenAuth):
            check_secure_url(
                auth.token_url, allow_insecure=allow_insecure_http, what="the accounts URL"
            )
        self._auth = auth
        self._data_center = data_center
        self._api_domain = api_domain
        self._api_version = api_version
        self._retry = retry or RetryPolicy()
        self._max_concurrency = max_concurrency
        self._limiter = limiter or LocalLimiter(max_concurrency, lead_convert_concurrency)
        self._credits: CreditsBook = credits or LocalCredits()
        self._request_timeout = request_timeout
        self._allow_insecure_http = allow_insecure_http
        self._timing = Timing(sleep or asyncio.sleep, clock or Timing().clock)
        self._session = session
        self._owns_session = session is None
        self._transport: HttpTransport | None = None
        self._module_ids: dict[str, str] = {}  # module ids from the Modules API, cached
        self._module_lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        domain = None if self._api_domain is None else redact_url(self._api_domain)
        return (
            f"{type(self).__name__}(auth={self._auth!r}, api_domain={domain!r}, "
            f"data_center={self._data_center.name}, max_concurrency={self._max_concurrency})"
        )

    async def __aenter__(self: Self) -> Self:
        self._http()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None
            self._transport = None

    @property
    def max_concurrency(self) -> int:
        """Requests this client keeps in flight at most."""
        return self._max_concurrency

    @property
    def request_count(self) -> int:
        """HTTP requests (attempts, retries included) sent so far to the CRM API."""
        return self._transport.requests_sent if self._transport else 0

    @property
    def api_domain(self) -> str:
        """The API domain requests go to now: the one given, else the one the last token reply
        named, else the data center's (a run's journal keeps it, so that ``resume`` refuses a
        client pointed at another data center or server). Any ``user:password@`` part is
        shown as ``***@``: the journal and errors keep it, never a credential."""
        domain = self._api_domain or self._auth.api_domain or self._data_center.api_domain()
        return redact_url(domain.rstrip("/").lower())

    @property
    def api_domain_known(self) -> bool:
        """Whether ``api_domain`` is surely where requests go: not before a refresh-token
        client given no API domain has its first token, whose reply may name another than the
        data center's (``settled_api_domain``)."""
        refreshing = isinstance(self._auth, RefreshTokenAuth)
        return self._api_domain is not None or not refreshing or self._auth.api_domain is not None

    async def settled_api_domain(self) -> str:
        """``api_domain`` once it is known: a refresh-token client given no API domain fetches
        its token first when it has none yet (one token request; nothing to the CRM API)."""
        if not self.api_domain_known and isinstance(self._auth, RefreshTokenAuth):
            await self._auth.access_token(self._http())
        return self.api_domain

    @property
    def request_timeout(self) -> float:
        """Seconds one request attempt may take."""
        return self._request_timeout

    @property
    def retry(self) -> RetryPolicy:
        """The request retry policy."""
        return self._retry

    @property
    def credits(self) -> CreditsBook:
        """The API credits Zoho last said remain (``X-API-CREDITS-REMAINING`` and kin)."""
        return self._credits

    @property
    def timing(self) -> Timing:
        """How this client waits and tells time (the ``sleep`` and ``clock`` passed in)."""
        return self._timing

    def _http(self) -> HttpTransport:
        if self._transport is None:
            if self._session is None:
                self._session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=self._max_concurrency + 2)
                )
            self._transport = HttpTransport(
                self._session,
                self._auth,
                api_domain=self._api_domain,
                default_domain=self._data_center.api_domain(),
                api_version=self._api_version,
                retry=self._retry,
                limiter=self._limiter,
                request_timeout=self._request_timeout,
                sleep=self._timing.sleep,
                clock=self._timing.clock,
                allow_insecure_http=self._allow_insecure_http,
                on_headers=self._credits.record,
            )
        return self._transport

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        kind: RequestKind = "api",
    ) -> Any:
        return await self._http().request(method, path, params=params, body=body, kind=kind)
