"""Authentication as its own flow: a fixed token, or Zoho's OAuth refresh-token flow.

The transport asks a request's flow for the token to send, tells it which token Zoho accepted,
and hands it a 401 to decide whether to repeat the request with a new token (httpx's auth flow
and azure-core's bearer-token policy are the models). Tokens live in a ``TokenStore``: one
refresh in flight for every task of the process (or of a fleet), whose result, or error,
everyone shares: a refresh token may mint only ten access tokens per ten minutes.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from zoho_convert.api.datacenters import DataCenter
from zoho_convert.api.errors import AuthenticationError
from zoho_convert.api.oauth import read_token_reply
from zoho_convert.api.tokens import MemoryTokenStore, StoredToken, TokenStore
from zoho_convert.api.urls import redact_url

if TYPE_CHECKING:
    from zoho_convert.api.transport import HttpTransport

__all__ = ["RefreshTokenAuth", "StaticToken"]

logger = logging.getLogger("zoho_convert.api.auth")

# Per request: a bound against a server that refuses every new token. Refreshes are shared by
# every waiting task (single flight), so a request unlucky enough to see several tokens used up
# in turn (tokens that expire after a few uses) costs no extra token calls.
_MAX_REFRESHES = 8
# Per request: repeats with a token someone else refreshed while this request was in flight.
_MAX_REPLACED = 3


class StaticToken:
    """A fixed access token, e.g. one minted by another service. It cannot be refreshed.

    Args:
        access_token: the token, sent as ``Authorization: Zoho-oauthtoken <token>``.
    """

    def __init__(self, access_token: str) -> None:
        if not isinstance(access_token, str) or not access_token.strip():
            raise ValueError("StaticToken needs a non-empty access token")
        self._token = access_token.strip()
        self._flow = _StaticFlow(self._token)  # stateless: one for every request

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

    def flow(self) -> _StaticFlow:
        """One request's flow: the fixed token; a 401 is final."""
        return self._flow


class _StaticFlow:
    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        self._token = token

    async def token(self, transport: HttpTransport) -> str:
        return self._token

    def latest(self, token: str) -> str | None:
        return token

    def expired(self, token: str, error: AuthenticationError) -> None:
        return None

    def accepted(self, token: str) -> None:
        return None

    async def refused(
        self, transport: HttpTransport, token: str, error: AuthenticationError
    ) -> bool:
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
        clock: wall-clock epoch seconds (injectable for tests); token expiry is kept in it,
            since a token may be shared with other processes.
        token_store: where the access token lives (default: in memory, for this process;
            ``zoho_convert.fleet.FileTokenStore`` shares it with the machine's processes).
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
        clock: Callable[[], float] = time.time,
        token_store: TokenStore | None = None,
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
        self._store: TokenStore = token_store or MemoryTokenStore(clock=clock)
        self._current: StoredToken | None = None
        self._refresh_at = 0.0
        self._fatal: AuthenticationError | None = None
        # The last token Zoho refused as INVALID_TOKEN: the next request refreshes first.
        self._refused: str | None = None
        # The last few tokens Zoho accepted: a refused token among them expired in use.
        self._good: collections.deque[str] = collections.deque(maxlen=8)
        # The last few tokens this client minted: only their refusal counts against the
        # credentials (a token from a shared store may have been used up by other processes).
        self._minted: collections.deque[str] = collections.deque(maxlen=8)
        # A token this client minted was accepted once: the credentials work, so a refused
        # fresh token is churn (revoked, pushed out), not a sign they stopped working.
        self._proven = False
        self.refresh_count = 0

    def __repr__(self) -> str:
        return (
            f"RefreshTokenAuth(client_id={self._client_id!r}, client_secret=<hidden>, "
            f"refresh_token=<hidden>, token_url={redact_url(self.token_url)!r})"
        )

    @property
    def api_domain(self) -> str | None:
        """The API domain named by the token reply."""
        return None if self._current is None else self._current.api_domain

    @property
    def current_token(self) -> str | None:
        """The access token in use (None before the first)."""
        return None if self._current is None else self._current.token

    def flow(self) -> _RefreshFlow:
        """One request's flow: a fresh token; on INVALID_TOKEN a shared refresh and a repeat."""
        return _RefreshFlow(self)

    def share_tokens(self, store: TokenStore) -> None:
        """Keep the access token in ``store`` from now on (a fleet's: one token for every
        process); the client does this when it is given a fleet."""
        self._store = store
        self._current = None  # the next request reads the store (or refreshes)

    async def access_token(self, transport: HttpTransport) -> str:
        """The current access token, refreshed first when missing or about to expire.

        Raises:
            AuthenticationError: Zoho refused the credentials (also for every later call that
                needs a new token: a revoked refresh token is not tried again; a token another
                client put in the shared store is still used).
            RateLimitError: the token endpoint throttled every try.
            TransportError: the accounts server could not be reached.
        """
        current = self._current
        if (
            current is not None
            and self._clock() < self._refresh_at
            and current.token != self._refused
        ):
            return current.token
        stored = await self._store.get()  # another task or process may have a newer one
        if stored is not None and stored != current:
            self._adopt(stored)
            return stored.token
        return await self.refresh(transport, None if current is None else current.token)

    async def refresh(self, transport: HttpTransport, stale: str | None) -> str:
        """Replace ``stale`` with a new token: one mint shared by every caller (of the store).

        Raises:
            AuthenticationError, RateLimitError, TransportError: as ``access_token``.
        """
        if self._fatal is not None:
            raise self._fatal

        async def mint() -> tuple[str, float, str | None]:
            return await self._mint(transport)

        fresh = await self._store.refresh(stale, mint)
        self._adopt(fresh)
        return fresh.token

    def _adopt(self, token: StoredToken) -> None:
        """Use ``token`` (unexpired: stores give only those); refresh ahead of its expiry by the
        margin, but never before half its remaining life, so a short-lived token is used."""
        now = self._clock()
        self._refused = None  # a token Zoho refused was replaced (or given back, and is tried)
        lifetime = token.expires_in(now)
        self._current = token
        self._refresh_at = now + lifetime - min(self._margin, lifetime / 2)

    async def _mint(self, transport: HttpTransport) -> tuple[str, float, str | None]:
        if self._fatal is not None:
            raise self._fatal
        form = {
            "grant_type": "refresh_token",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "refresh_token": self._refresh_token,
        }
        logger.info("refreshing the Zoho access token at %s", redact_url(self.token_url))
        self.refresh_count += 1
        grant = await transport.post_form(
            self.token_url,
            form,
            timeout=self._token_timeout,
            interpret=lambda status, payload, raw: read_token_reply(
                status, payload, raw, self._remember
            ),
        )
        self._minted.append(grant[0])
        return grant

    def _remember(self, error: AuthenticationError) -> AuthenticationError:
        self._fatal = error
        return error


class _RefreshFlow:
    """One request's authentication with a ``RefreshTokenAuth``."""

    __slots__ = ("_auth", "_refreshes", "_replaced", "_unproven")

    def __init__(self, auth: RefreshTokenAuth) -> None:
        self._auth = auth
        self._refreshes = 0
        self._replaced = 0
        self._unproven = 0  # refused tokens that no request had been accepted with

    async def token(self, transport: HttpTransport) -> str:
        return await self._auth.access_token(transport)

    def latest(self, token: str) -> str | None:
        auth = self._auth
        current = auth._current
        if current is None:
            return token
        if current.token == auth._refused:
            return None  # refused a moment ago: get the new one first (``_adopt`` clears it)
        return current.token

    def expired(self, token: str, error: AuthenticationError) -> None:
        # Only the token in use: a late refusal of one already replaced changes nothing.
        if error.code == "INVALID_TOKEN" and token == self._auth.current_token:
            self._auth._refused = token

    def accepted(self, token: str) -> None:
        if token == self._auth._refused:  # refused once, then accepted: it works after all
            self._auth._refused = None
        good = self._auth._good
        if not good or good[-1] != token:
            good.append(token)
            if token in self._auth._minted:
                self._auth._proven = True

    async def refused(
        self, transport: HttpTransport, token: str, error: AuthenticationError
    ) -> bool:
        """A 401 means Zoho did nothing, so repeating even a POST is safe."""
        if error.code != "INVALID_TOKEN":
            return False
        auth = self._auth
        current = auth.current_token
        if current is not None and current != token and self._replaced < _MAX_REPLACED:
            self._replaced += 1  # someone refreshed while we were in flight: use theirs
            return True
        # Refresh, and again for a token that had worked for someone (it expired in use) or
        # for a fresh one refused once (tokens churning fast); two tokens this client minted
        # refused before any success mean Zoho refuses the credentials, unless a token this
        # client minted was accepted before (then only _MAX_REFRESHES bounds it). A token
        # another process minted proves nothing: it may have been used up while this one stalled.
        if not auth._proven and token not in auth._good and token in auth._minted:
            self._unproven += 1
        if self._refreshes >= _MAX_REFRESHES or self._unproven >= 2:
            return False
        self._refreshes += 1
        logger.info("access token refused (INVALID_TOKEN); refreshing")
        await auth.refresh(transport, token)
        return True


def _token_url(accounts_url: str) -> str:
    url = accounts_url.rstrip("/")
    return url if url.endswith("/oauth/v2/token") else f"{url}/oauth/v2/token"
