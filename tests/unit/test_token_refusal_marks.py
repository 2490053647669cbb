"""The mark a refused access token leaves (``expired``) and what clears it (``accepted``, a new
token): what the next request that holds a slot sends (``latest``)."""

from __future__ import annotations

from aioresponses import aioresponses
from core_helpers import (
    ACCESS_TOKEN,
    BASE,
    NEW_ACCESS_TOKEN,
    STATUS_REPLY,
    TOKEN_URL,
    make_client,
    refresh_auth,
    token_reply,
)

from zoho_convert import AuthenticationError, RefreshTokenAuth

STATUS_URL = f"{BASE}/Quotes/actions/mass_convert?job_id=1"
REFUSED = AuthenticationError(401, "INVALID_TOKEN", "invalid oauth token")


async def auth_with_a_token(m: aioresponses) -> RefreshTokenAuth:
    """A RefreshTokenAuth that minted ACCESS_TOKEN for one accepted request."""
    m.post(TOKEN_URL, payload=token_reply(ACCESS_TOKEN))
    m.get(STATUS_URL, payload=STATUS_REPLY)
    auth = refresh_auth()
    async with make_client(auth) as client:
        await client.mass_convert_status("Quotes", "1")
    return auth


async def test_a_refused_token_accepted_by_another_request_is_sent_again(
    m: aioresponses,
) -> None:
    """A token one request saw refused (INVALID_TOKEN) but another request then had accepted
    works after all: the next request sends it as it is; the acceptance of another token
    does not clear the refusal (the next request fetches a new token first)."""
    auth = await auth_with_a_token(m)
    auth.flow().expired(ACCESS_TOKEN, REFUSED)
    assert auth.flow().latest(ACCESS_TOKEN) is None  # refused a moment ago: a new one first
    auth.flow().accepted(NEW_ACCESS_TOKEN)  # another token's acceptance says nothing of it
    assert auth.flow().latest(ACCESS_TOKEN) is None
    auth.flow().accepted(ACCESS_TOKEN)  # accepted after its refusal: it works
    assert auth.flow().latest(ACCESS_TOKEN) == ACCESS_TOKEN


async def test_a_401_other_than_invalid_token_does_not_mark_the_token_refused(
    m: aioresponses,
) -> None:
    """A 401 that is not INVALID_TOKEN (e.g. a scope refusal) is about the request, not the
    token: the next request still sends the current token."""
    auth = await auth_with_a_token(m)
    scope = AuthenticationError(401, "OAUTH_SCOPE_MISMATCH", "invalid oauth scope")
    auth.flow().expired(ACCESS_TOKEN, scope)
    assert auth.flow().latest(ACCESS_TOKEN) == ACCESS_TOKEN
