"""The in-process fleet parts: limiter, memory token store, ledgers, credits."""

from __future__ import annotations

import asyncio

import pytest

from zoho_convert.api.errors import (
    AuthenticationError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    TransportError,
    ZohoConvertError,
)
from zoho_convert.fleet import (
    ConversionLedger,
    CreditsBook,
    Fleet,
    LocalCredits,
    LocalFleet,
    LocalLimiter,
    MemoryLedger,
    MemoryTokenStore,
    NullLedger,
    RequestLimiter,
    StoredToken,
    TokenStore,
    parse_credits,
)
from zoho_convert.fleet.base import minted
from zoho_convert.fleet.shared_errors import describe_failure, rebuild_failure


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_local_parts_satisfy_the_protocols() -> None:
    """The defaults are what the client will accept as limiter, store, ledger and credits,
    and LocalFleet bundles them as a Fleet."""
    local = LocalFleet(4, 2)
    assert isinstance(local, Fleet)
    assert local.limiter.max_concurrency == 4
    assert isinstance(local.ledger, NullLedger)
    assert isinstance(LocalLimiter(), RequestLimiter)
    assert isinstance(MemoryTokenStore(), TokenStore)
    assert isinstance(NullLedger(), ConversionLedger)
    assert isinstance(MemoryLedger(), ConversionLedger)
    assert isinstance(LocalCredits(), CreditsBook)


async def test_local_limiter_caps_requests_in_flight() -> None:
    """30 tasks through a limiter of 4: never more than 4 inside, and 4 reached."""
    limiter = LocalLimiter(max_concurrency=4)
    inside = peak = 0

    async def call() -> None:
        nonlocal inside, peak
        async with limiter.slot("api"):
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0)
            inside -= 1

    await asyncio.gather(*(call() for _ in range(30)))
    assert peak == 4
    assert limiter.in_use() == {"api": 0, "lead_convert": 0}


async def test_local_limiter_cancelled_waiter_leaks_nothing() -> None:
    """A waiter cancelled while every slot is held leaves all slots usable afterwards."""
    limiter = LocalLimiter(max_concurrency=2)
    release = asyncio.Event()

    async def hold() -> None:
        async with limiter.slot():
            await release.wait()

    holders = [asyncio.ensure_future(hold()) for _ in range(2)]
    await asyncio.sleep(0)
    waiter = asyncio.ensure_future(hold())
    await asyncio.sleep(0)
    waiter.cancel()
    release.set()
    await asyncio.gather(*holders)
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limiter.in_use()["api"] == 0
    async with limiter.slot(), limiter.slot():
        assert limiter.in_use()["api"] == 2


async def test_local_lead_convert_holds_both_slots() -> None:
    """A Convert Lead slot holds a sub-slot and an API slot; the sub-limit caps lead calls."""
    limiter = LocalLimiter(max_concurrency=10, lead_convert_concurrency=2)
    async with limiter.slot("lead_convert"):
        assert limiter.in_use() == {"api": 1, "lead_convert": 1}
    inside = peak = 0

    async def lead() -> None:
        nonlocal inside, peak
        async with limiter.slot("lead_convert"):
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0)
            inside -= 1

    await asyncio.gather(*(lead() for _ in range(8)))
    assert peak == 2


async def test_local_limiter_refuses_bad_sizes_and_kinds() -> None:
    """Sizes must be positive ints and kinds 'api' or 'lead_convert'."""
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            LocalLimiter(max_concurrency=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kind"):
        async with LocalLimiter().slot("bulk"):  # type: ignore[arg-type]
            pass


async def test_memory_store_one_mint_for_many_tasks() -> None:
    """Ten tasks refreshing at once share one mint and one token."""
    store = MemoryTokenStore()
    calls = 0

    async def mint() -> tuple[str, float, str | None]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        return f"token-{calls}", 3600.0, "https://www.zohoapis.eu"

    tokens = await asyncio.gather(*(store.refresh(None, mint) for _ in range(10)))
    assert calls == 1
    assert {t.token for t in tokens} == {"token-1"}
    assert tokens[0].api_domain == "https://www.zohoapis.eu"


async def test_memory_store_stale_token_already_replaced_is_not_minted_again() -> None:
    """Refreshing a stale token someone already replaced returns the replacement."""
    clock = FakeClock()
    store = MemoryTokenStore(clock=clock)
    await store.put(StoredToken("new", clock.now + 600))

    async def mint() -> tuple[str, float, str | None]:
        raise AssertionError("must not mint")

    assert (await store.refresh("old", mint)).token == "new"
    assert (await store.refresh(None, mint)).token == "new"


async def test_memory_store_mints_for_the_current_or_an_expired_token() -> None:
    """The stale token itself, or an expired one, is replaced by a mint."""
    clock = FakeClock()
    store = MemoryTokenStore(clock=clock)
    await store.put(StoredToken("a", clock.now + 60))
    n = 0

    async def mint() -> tuple[str, float, str | None]:
        nonlocal n
        n += 1
        return f"m{n}", 100.0, None

    assert (await store.refresh("a", mint)).token == "m1"
    clock.now += 101  # m1 expired
    assert await store.get() is None
    fresh = await store.refresh(None, mint)
    assert fresh.token == "m2"
    assert fresh.expires_at == clock.now + 100


async def test_memory_store_failed_mint_is_shared_not_repeated() -> None:
    """Tasks that waited for a mint that failed get its error; nobody mints twice."""
    store = MemoryTokenStore()
    calls = 0

    async def mint() -> tuple[str, float, str | None]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        raise RuntimeError("accounts server said no")

    results = await asyncio.gather(
        *(store.refresh(None, mint) for _ in range(5)), return_exceptions=True
    )
    assert calls == 1
    assert all(isinstance(r, RuntimeError) for r in results)
    assert await store.get() is None


async def test_tokens_never_show_in_reprs() -> None:
    """A stored token's repr and the stores' reprs never contain the token."""
    store = MemoryTokenStore()
    secret = "1000.secret-access-token.abcdef"
    await store.put(StoredToken(secret, 2_000_000_000.0, None))
    token = await store.get()
    assert token is not None
    for text in (repr(token), str(token), repr(store)):
        assert secret not in text


def test_minted_refuses_bad_replies() -> None:
    """A mint must return a non-empty token and a positive, finite lifetime."""
    for token, expires_in in (("", 10.0), ("t", 0.0), ("t", -5.0), ("t", float("nan"))):
        with pytest.raises(ValueError):
            minted(token, expires_in, None, 0.0)


async def test_null_ledger_remembers_nothing() -> None:
    """Without a fleet every id is new and every claim succeeds."""
    ledger = NullLedger()
    await ledger.mark_converted("Quotes", ["1"])
    assert await ledger.filter_known("Quotes", ["1", "2"]) == (["1", "2"], [])
    assert await ledger.claim("Quotes", ["1"], 10) == (["1"], [])
    assert await ledger.claim("Quotes", ["1"], 10) == (["1"], [])


async def test_memory_ledger_claims_release_and_expiry() -> None:
    """Claims are exclusive until released, expired or converted; converted ids are known."""
    clock = FakeClock(0.0)
    ledger = MemoryLedger(clock=clock)
    assert await ledger.claim("Quotes", ["1", "2"], 10) == (["1", "2"], [])
    assert await ledger.claim("Quotes", ["2", "3"], 10) == (["3"], ["2"])
    assert await ledger.claim("Sales_Orders", ["2"], 10) == (["2"], [])  # modules apart
    await ledger.release("Quotes", ["2"])
    assert await ledger.claim("Quotes", ["2"], 10) == (["2"], [])
    clock.now = 11.0
    assert await ledger.claim("Quotes", ["1"], 10) == (["1"], [])  # the claim had expired
    await ledger.mark_converted("Quotes", ["1"])
    assert await ledger.filter_known("Quotes", ["3", "1"]) == (["3"], ["1"])
    assert await ledger.claim("Quotes", ["1"], 10) == ([], ["1"])
    assert ledger.size() == {"Quotes": 1}


async def test_memory_ledger_claims_held_by_a_run_are_its_own() -> None:
    """A view ``holding`` a run's name claims under it: another holder, and the process's own
    claims, are held; the same holder (a resumed run, a new view) claims its ids again,
    renewed; each releases (now or later) only its own claims; converted drops any claim."""
    clock = FakeClock(0.0)
    ledger = MemoryLedger(clock=clock)
    run, other = ledger.holding("run-a"), ledger.holding("run-b")
    assert await run.claim("Quotes", ["1", "2", "3"], 10) == (["1", "2", "3"], [])
    assert await other.claim("Quotes", ["1", "4"], 10) == (["4"], ["1"])
    assert await ledger.claim("Quotes", ["2", "5"], 10) == (["5"], ["2"])
    assert await run.claim("Quotes", ["5"], 10) == ([], ["5"])  # the process's: held
    clock.now = 5.0
    resumed = ledger.holding("run-a")
    assert await resumed.claim("Quotes", ["1", "2", "4"], 10) == (["1", "2"], ["4"])
    clock.now = 12.0  # the first claims' end; the renewed ones last until 15 s
    assert await other.claim("Quotes", ["1", "3"], 10) == (["3"], ["1"])
    await other.release("Quotes", ["1", "2"])  # not its claims: nothing happens
    await ledger.release("Quotes", ["1"])
    await other.release_later("Quotes", ["2"], 0.0)
    assert await other.claim("Quotes", ["1", "2"], 10) == ([], ["1", "2"])
    await resumed.release("Quotes", ["1"])
    await resumed.release_later("Quotes", ["2"], 0.0)
    assert await other.claim("Quotes", ["1", "2"], 10) == (["1", "2"], [])
    await run.mark_converted("Quotes", ["4"])  # other's claim: converted, it is dropped
    assert await other.filter_known("Quotes", ["4", "6"]) == (["6"], ["4"])
    assert await NullLedger().holding("run-a").claim("Quotes", ["1"], 10) == (["1"], [])


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-API-CREDITS-REMAINING": "4200"}, (4200, None, None)),
        ({"x-ratelimit-remaining": "90", "X-RateLimit-Limit": "100"}, (90, 100, None)),
        (
            {"X-API-CREDITS-REMAINING": "7", "X-RATELIMIT-REMAINING": "90",
             "X-RATELIMIT-RESET": "30"},
            (7, None, 30.0),
        ),
        ({"X-RATELIMIT-LIMIT": "100"}, (None, 100, None)),
        ({"X-API-CREDITS-REMAINING": "lots", "X-RATELIMIT-LIMIT": "inf"}, None),
        ({"Content-Type": "application/json"}, None),
    ],
)  # fmt: skip
def test_parse_credits(headers: dict[str, str], expected: tuple[object, ...] | None) -> None:
    """Credit headers are read in any case; credits beat the rate limit; junk is ignored."""
    credits = parse_credits(headers, now=5.0)
    if expected is None:
        assert credits is None
    else:
        assert credits is not None
        assert (credits.remaining, credits.limit, credits.reset) == expected
        assert credits.seen_at == 5.0


async def test_local_credits_keep_the_last_seen() -> None:
    """A reply without rate headers does not erase what an earlier reply said."""
    book = LocalCredits(clock=FakeClock(9.0))
    assert await book.remaining() is None
    await book.record({"X-API-CREDITS-REMAINING": "500"})
    await book.record({"Content-Type": "application/json"})
    assert await book.remaining() == 500
    last = await book.last()
    assert last is not None
    assert last.seen_at == 9.0


@pytest.mark.parametrize(
    "error",
    [
        AuthenticationError(200, "invalid_code", "Zoho refused the refresh token"),
        RateLimitError(429, "TOO_MANY_REQUESTS", "slow down"),
        ServerError(500, "INTERNAL_ERROR", "oops"),
        TransportError("cannot reach accounts.zoho.com:443", sent=True),
        ResponseValidationError("token reply has no access token"),
    ],
)
def test_failed_refresh_travels_as_the_same_error(error: ZohoConvertError) -> None:
    """Zoho errors of a failed refresh are rebuilt in another process with class and fields."""
    rebuilt = rebuild_failure(describe_failure(error))
    assert type(rebuilt) is type(error)
    assert str(rebuilt) == str(error)
    if isinstance(error, TransportError):
        assert isinstance(rebuilt, TransportError)
        assert rebuilt.sent is error.sent


def test_foreign_failure_travels_as_its_class_name_only() -> None:
    """An error not written by zoho_convert may hold anything: only its class name travels."""
    fields = describe_failure(KeyError("1000.maybe-a-secret"))
    assert "secret" not in repr(fields)
    rebuilt = rebuild_failure(fields)
    assert type(rebuilt) is ZohoConvertError
    assert "KeyError" in str(rebuilt)
