"""A fleet's token churning under a stalled process: the tokens other processes minted and
used up while it stalled are no evidence that Zoho refuses its credentials.

Deterministic form of a race the multi-process test
``test_a_dying_token_is_refreshed_once_for_the_whole_fleet`` met under load: a worker paused
for a few hundred milliseconds while the others used up two tokens, then gave up its run with
``AuthenticationError: HTTP 401 INVALID_TOKEN``.
"""

from __future__ import annotations

from typing import Any

import pytest

from zoho_convert import RefreshTokenAuth, ZohoConvertClient
from zoho_convert.fleet import RedisFleet
from zoho_convert.simulator import Faults, Simulator, SimulatorConfig

#: Zoho refuses a token after this many uses (the simulator's stand-in for a token that dies).
USES = 2


async def test_tokens_others_used_up_during_a_stall_do_not_end_the_request(
    make_fleet: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process refused the fleet's token X, and while it paused before refreshing, another
    process replaced X by Y and used Y up: its request refreshes once more (minting Z) and
    succeeds, instead of taking two refused tokens it never minted for refused credentials."""
    async with Simulator(SimulatorConfig(seed=9, faults=Faults(token_max_uses=USES))) as sim:
        here: RedisFleet = make_fleet()
        other: RedisFleet = make_fleet()
        await here.start()
        await other.start()

        def credentials() -> RefreshTokenAuth:
            return RefreshTokenAuth("sim-client", "sim-secret", "sim-refresh", accounts_url=sim.url)

        theirs = credentials()

        async def their_request() -> None:
            # A new client each time: it reads the fleet's token (module ids are cached).
            async with ZohoConvertClient(theirs, api_domain=sim.url, fleet=other) as client:
                await client.module_id("Quotes")

        for _ in range(USES):  # the other process mints X and uses it up
            await their_request()

        original = here.tokens.refresh
        stalled = []

        async def stall_then_refresh(stale: str | None, mint: Any) -> Any:
            if not stalled:  # this process pauses; the other one churns through Y meanwhile
                stalled.append(stale)
                for _ in range(USES):
                    await their_request()
            return await original(stale, mint)

        monkeypatch.setattr(here.tokens, "refresh", stall_then_refresh)
        mine = credentials()
        async with ZohoConvertClient(mine, api_domain=sim.url, fleet=here) as client:
            module_id = await client.module_id("Quotes")

        stats = sim.state.stats
    assert module_id and stalled and stalled[0] is not None  # it met the refused X
    assert theirs.refresh_count == 2  # X and Y
    assert mine.refresh_count == 1  # Z: one mint, after two refusals of tokens it never minted
    assert stats.token_refreshes == 3
    assert stats.responses_by_status[401] == 3  # X (theirs), X and Y (mine)
