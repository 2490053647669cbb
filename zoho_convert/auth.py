"""Access tokens: a fixed token, or Zoho's OAuth refresh-token flow with a single-flight refresh.

Zoho lets one refresh token mint only ten access tokens per ten minutes, so every task of a
client shares one refresh in flight: whoever finds the token stale refreshes it, everyone
else waits for that refresh and uses its result.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from zoho_convert.datacenters import DataCenter
from zoho_convert.errors import (
    AuthenticationError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    ZohoConvertError,
)
from zoho_convert.urls import redact_url

if TYPE_CHECKING:
    from zoho_convert.http import HttpTransport

__all__ = ["RefreshTokenAuth", "StaticToken"]

logger = logging.getLogger("zoho_convert.auth")

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


class StaticToken:
    """A fixed access token, e.g. one minted by another service. It cannot be refreshed.

    Args:
        access_token: the token, sent as ``Authorization: Zoho-oauthtoken <token>``.
    """

    def __init__(self, access_token: str) -> None:
        if not isinstance(access_token, str) or not access_token.strip():
            raise ValueError("StaticToken needs a non-empty access token")
        self._token = access_token.strip()

    def __repr__(self) -> str:
        return "StaticToken(access_token=<hidden>)"

    @property
    def api_domain(self) -> str | None:
        """A static token carries no API domain."""
        return None

    @property
    def current_token(self) -> str:
        """The fixed token."""
        return self._token

    async def access_token(self, transport: HttpTransport) -> str:
        """The fixed token."""
        return self._token

    async def refresh(self, transport: HttpTransport, stale: str) -> str:
        """A static token cannot be refreshed.

        Raises:
            AuthenticationError: always.
        """
        raise AuthenticationError(
            401,
            "INVALID_TOKEN",
            "the access token was refused and cannot be refreshed; "
            "pass a new one or use RefreshTokenAuth",
        )

    def can_refresh(self) -> bool:
        """False: there is nothing to refresh with."""
        return False


class RefreshTokenAuth:
    """Zoho's OAuth refresh-token flow, refreshed before expiry and on INVALID_TOKEN.

    Args:
        client_id: the OAuth client id from Zoho's API console.
        client_secret: the client secret (never logged, never shown in a repr or error).
        refresh_token: the refresh token (never logged, never shown in a repr or error).
        data_center: where the account lives; decides the token URL.
        accounts_url: overrides the data center's accounts server (the simulator, a proxy);
            either a base URL or the full ``…/oauth/v2/token`` URL.
        refresh_margin: refresh this many seconds before the token expires.
        token_timeout: seconds one token call may take.
        clock: a monotonic clock (injectable for tests).
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        *,
        data_center: DataCenter = DataCenter.US,
        accounts_url: str | None = None,
        refresh_margin: float = 300.0,
        token_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for name, value in (
            ("client_id", client_id),
            ("client_secret", client_secret),
            ("refresh_token", refresh_token),
        ):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"RefreshTokenAuth needs a non-empty {name}")
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self.data_center = data_center
        self.token_url = _token_url(accounts_url) if accounts_url else data_center.token_url
        self._margin = refresh_margin
        self._token_timeout = token_timeout
        self._clock = clock
        self._token: str | None = None
        self._refresh_at = 0.0
        self._api_domain: str | None = None
        self._lock: asyncio.Lock | None = None
        self._fatal: AuthenticationError | None = None
        self._last_failure: ZohoConvertError | None = None
        self._refreshes_finished = 0
        self.refresh_count = 0

    def __repr__(self) -> str:
        return (
            f"RefreshTokenAuth(client_id={self._client_id!r}, client_secret=<hidden>, "
            f"refresh_token=<hidden>, token_url={redact_url(self.token_url)!r})"
        )

    @property
    def api_domain(self) -> str | None:
        """The API domain named by the last token reply."""
        return self._api_domain

    @property
    def current_token(self) -> str | None:
        """The last access token minted (None before the first refresh)."""
        return self._token

    def can_refresh(self) -> bool:
        """True: a refresh token can mint new access tokens."""
        return True

    def _fresh(self) -> bool:
        return self._token is not None and self._clock() < self._refresh_at

    async def access_token(self, transport: HttpTransport) -> str:
        """The current access token, refreshed first when missing or about to expire."""
        if self._fresh():
            assert self._token is not None
            return self._token
        return await self.refresh(transport, self._token or "")

    async def refresh(self, transport: HttpTransport, stale: str) -> str:
        """Replace ``stale`` with a new token; concurrent callers share one token call.

        Raises:
            AuthenticationError: Zoho refused the credentials (also for every later call: a
                revoked refresh token is not tried again).
            TransportError: the accounts server could not be reached.
        """
        if self._lock is None:
            self._lock = asyncio.Lock()
        finished = self._refreshes_finished
        async with self._lock:
            if self._fatal is not None:
                raise self._fatal
            # Someone refreshed while we waited for the lock: use their token.
            if self._token is not None and self._token != stale and self._fresh():
                return self._token
            # Someone's refresh failed while we waited: share its error rather than repeat the
            # call once per waiting task (single flight holds for failures too).
            if self._refreshes_finished != finished and self._last_failure is not None:
                raise self._last_failure
            try:
                token = await self._call_token_endpoint(transport)
            except ZohoConvertError as error:
                self._last_failure = error
                raise
            else:
                self._last_failure = None
            finally:
                self._refreshes_finished += 1
            return token

    async def _call_token_endpoint(self, transport: HttpTransport) -> str:
        form = {
            "grant_type": "refresh_token",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "refresh_token": self._refresh_token,
        }
        logger.info("refreshing the Zoho access token at %s", redact_url(self.token_url))
        self.refresh_count += 1
        token, expires_in, api_domain = await transport.post_form(
            self.token_url, form, timeout=self._token_timeout, interpret=self._read_token_reply
        )
        self._token = token
        # Refresh ahead of expiry, but never so early that a short-lived token is never used.
        self._refresh_at = self._clock() + expires_in - min(self._margin, expires_in / 2)
        if api_domain:
            self._api_domain = api_domain
        return token

    def _read_token_reply(
        self, status: int, payload: Any, raw: bytes
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
        if status >= 400:
            code = str(oauth_error) if oauth_error is not None else f"HTTP_{status}"
            raise self._remember(
                AuthenticationError(
                    status,
                    code,
                    _OAUTH_ERRORS.get(
                        code, f"the token endpoint refused the refresh (HTTP {status})"
                    ),
                )
            )
        return _parse_token_reply(payload, self._remember)

    def _remember(self, error: AuthenticationError) -> AuthenticationError:
        self._fatal = error
        return error


def _token_url(accounts_url: str) -> str:
    url = accounts_url.rstrip("/")
    return url if url.endswith("/oauth/v2/token") else f"{url}/oauth/v2/token"


def _parse_token_reply(
    reply: Any, remember: Callable[[AuthenticationError], AuthenticationError]
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
