"""The refresh-token flow's details that mutation testing found unpinned: a refused refresh
token still lets its client use a token another client put in the shared store."""

from __future__ import annotations

import pytest
from aioresponses import aioresponses
from core_helpers import (
    ACCESS_TOKEN,
    BASE,
    STATUS_REPLY,
    TOKEN_URL,
    calls,
    make_client,
    refresh_auth,
    token_reply,
)
from fakes import FakeClock

from zoho_convert import AuthenticationError, MemoryTokenStore

STATUS_URL = f"{BASE}/Quotes/actions/mass_convert?job_id=1"


async def test_a_revoked_refresh_token_still_uses_a_token_shared_by_another_client(
    m: aioresponses,
) -> None:
    """Credentials rotated across clients sharing a store: the client whose refresh token Zoho
    refused is never let mint again, yet uses the token the client with new ones stored."""
    clock = FakeClock(start=0.0)
    store = MemoryTokenStore(clock=clock)
    m.post(TOKEN_URL, payload={"error": "invalid_code"})
    m.post(TOKEN_URL, payload=token_reply(ACCESS_TOKEN))
    m.get(STATUS_URL, payload=STATUS_REPLY, repeat=True)
    revoked = refresh_auth(clock=clock, token_store=store)
    rotated = refresh_auth(clock=clock, token_store=store)
    async with make_client(revoked) as client:
        with pytest.raises(AuthenticationError):
            await client.mass_convert_status("Quotes", "1")
    async with make_client(rotated) as client:
        await client.mass_convert_status("Quotes", "1")
    async with make_client(revoked) as client:
        status = await client.mass_convert_status("Quotes", "1")
    assert status.total_count == 10
    assert revoked.current_token == ACCESS_TOKEN
    assert (revoked.refresh_count, rotated.refresh_count) == (1, 1)
    assert len(calls(m, "POST", TOKEN_URL)) == 2
