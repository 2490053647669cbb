"""Access tokens of the simulated org: the refresh-token grant, expiry and the mint throttle."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from typing import Literal

import attrs

from .config import SimulatorConfig

#: What ``TokenBook.refresh`` answers instead of a token.
GrantRefusal = Literal[
    "unsupported_grant_type", "invalid_client", "invalid_code", "throttled"
]


@attrs.frozen
class Grant:
    """The outcome of one refresh-token grant: a new token, or why there is none."""

    token: str | None = None
    refusal: GrantRefusal | None = None


@attrs.define
class _Token:
    minted_at: float
    uses: int = 0


class TokenBook:
    """Access tokens, the refresh-token grant and expiry by uses or by clock time.

    Args:
        config: Credentials, expiry faults and the mint limit.
        clock: Seconds source for token age and the mint window.
    """

    def __init__(self, config: SimulatorConfig, clock: Callable[[], float]) -> None:
        self._config = config
        self._clock = clock
        self._rng = random.Random(f"tokens:{config.seed}")
        self._tokens: dict[str, _Token] = {}
        self._refresh_revoked = False
        self._endpoint_failures_left = config.faults.token_endpoint_failures
        self._minted: dict[str, deque[float]] = {}  # refresh token -> mint times in the window
        self.initial = config.access_token or self._mint()
        self._tokens[self.initial] = _Token(clock())

    def _mint(self) -> str:
        return f"1000.{self._rng.getrandbits(128):032x}.{self._rng.getrandbits(128):032x}"

    def use(self, token: str) -> bool:
        """Count one use of ``token``; False when it is unknown, expired or used up."""
        info = self._tokens.get(token)
        if info is None:
            return False
        faults = self._config.faults
        if faults.token_ttl is not None and self._clock() - info.minted_at >= faults.token_ttl:
            return False
        if faults.token_max_uses is not None and info.uses >= faults.token_max_uses:
            return False
        info.uses += 1
        return True

    def take_endpoint_failure(self) -> bool:
        """True while the configured number of token-endpoint failures is not used up."""
        if self._endpoint_failures_left > 0:
            self._endpoint_failures_left -= 1
            return True
        return False

    def _throttled(self, refresh_token: str) -> bool:
        """Whether ``refresh_token`` has minted its allowance within the window already."""
        limit = self._config.token_mint_limit
        if limit is None:
            return False
        now = self._clock()
        minted = self._minted.setdefault(refresh_token, deque())
        while minted and minted[0] <= now - self._config.token_mint_window:
            minted.popleft()
        if len(minted) >= limit:
            return True
        minted.append(now)
        return False

    def refresh(
        self, grant_type: str, client_id: str, client_secret: str, refresh_token: str
    ) -> Grant:
        """Mint a new access token, or say why not (Zoho's error strings, or ``throttled``)."""
        cfg = self._config
        if grant_type != "refresh_token":
            return Grant(refusal="unsupported_grant_type")
        if client_id != cfg.client_id or client_secret != cfg.client_secret:
            return Grant(refusal="invalid_client")
        if refresh_token != cfg.refresh_token or self._refresh_revoked:
            return Grant(refusal="invalid_code")
        if self._throttled(refresh_token):
            return Grant(refusal="throttled")
        token = self._mint()
        self._tokens[token] = _Token(self._clock())
        return Grant(token=token)

    def revoke_refresh_token(self) -> None:
        """Make the refresh token useless (the token endpoint answers ``invalid_code``)."""
        self._refresh_revoked = True
