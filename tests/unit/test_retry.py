"""Request retries: the pure decisions as tables, then end to end through the client."""

from __future__ import annotations

import types
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import aiohttp
import attrs
import pytest
from aioresponses import aioresponses
from core_helpers import (
    BASE,
    MASS_CONVERT_REPLY,
    STATUS_REPLY,
    RecordingSleep,
    calls,
    make_client,
)
from fakes import FakeClock

from zoho_convert import (
    AuthenticationError,
    InvalidRequestError,
    ModuleRef,
    RateLimitError,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
    TransportError,
)
from zoho_convert.api.errors import ZohoConvertError, error_for
from zoho_convert.api.retry import parse_retry_after, should_retry

STATUS_URL = f"{BASE}/Quotes/actions/mass_convert?job_id=1"
MASS_URL = f"{BASE}/Quotes/actions/mass_convert"
TARGET = ModuleRef("Sales_Orders", "2423488000000000171")


def api(status: int, code: str = "SOME_CODE") -> ZohoConvertError:
    return error_for(status, code, "m")


def connector_error() -> aiohttp.ClientConnectorError:
    key = types.SimpleNamespace(host="www.zohoapis.com", port=443, ssl=True)
    return aiohttp.ClientConnectorError(key, OSError(111, "Connection refused"))  # type: ignore[arg-type]


# --- should_retry as a table -------------------------------------------------------------------

RETRY_TABLE = [
    # (error, GET retries?, POST retries?)
    (api(429, "TOO_MANY_REQUESTS"), True, True),
    (api(500, "INTERNAL_ERROR"), True, False),
    (api(502), True, False),
    (api(503), True, False),
    (api(400, "INVALID_DATA"), False, False),
    (api(401, "AUTHENTICATION_FAILURE"), False, False),
    (api(401, "INVALID_TOKEN"), False, False),
    (api(403, "NO_PERMISSION"), False, False),
    (api(400, "ID_ALREADY_CONVERTED"), False, False),
    (TransportError("refused", sent=False), True, True),
    (TransportError("reset", sent=True), True, False),
    (ResponseValidationError("garbled", field="<body>"), True, False),
]


@pytest.mark.parametrize(
    ("error", "get", "post"),
    RETRY_TABLE,
    ids=lambda v: (
        f"{type(v).__name__}:{getattr(v, 'status', getattr(v, 'sent', ''))}"
        if isinstance(v, ZohoConvertError)
        else str(v)
    ),
)
def test_should_retry_table(error: ZohoConvertError, get: bool, post: bool) -> None:
    """A repeatable request (a GET, the token call) retries 429, 5xx, transport and
    unreadable replies; a mass convert POST only 429 and what was never sent."""
    assert should_retry(error, repeatable=True) is get
    assert should_retry(error, repeatable=False) is post


def test_error_classes_match_the_table_statuses() -> None:
    """The table's errors are of the classes the decisions depend on."""
    assert isinstance(api(429, "TOO_MANY_REQUESTS"), RateLimitError)
    assert isinstance(api(502), ServerError)
    assert isinstance(api(401, "INVALID_TOKEN"), AuthenticationError)
    assert isinstance(api(400, "INVALID_DATA"), InvalidRequestError)


# --- Retry-After -------------------------------------------------------------------------------

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", 7.0),
        ("  12 ", 12.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        (format_datetime(NOW - timedelta(hours=2), usegmt=True), 0.0),
        ("Sat, 01 Mar 2025 12:01:00 GMT", 60.0),
        ("Sat, 01 Mar 2025 12:01:30 -0000", 90.0),  # no zone: read as UTC
        (None, None),
        ("", None),
        ("   ", None),
        ("soon", None),
        ("Mon, 99 Foo 2025 99:99:99 GMT", None),
        ("nan", None),
        ("inf", None),
        ("1e400", None),
        ("86400000", 86400000.0),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    """Retry-After: seconds, float, HTTP date (future/past), absent, empty, garbage, huge."""
    assert parse_retry_after(header, now=NOW) == expected


def test_an_http_date_is_read_against_the_current_utc_time() -> None:
    """Without an explicit ``now``, a date two minutes ahead waits about two minutes."""
    header = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=120), usegmt=True)
    delay = parse_retry_after(header)
    assert delay is not None
    assert 100.0 <= delay <= 120.0


def test_policy_caps_retry_after() -> None:
    """A huge Retry-After is capped at max_retry_after; a small one is used as is."""
    policy = RetryPolicy(max_retry_after=60.0)
    assert policy.delay(1, retry_after=86400000.0) == 60.0
    assert policy.delay(1, retry_after=2.5) == 2.5
    assert policy.delay(1, retry_after=-1.0) == 0.0
    assert RetryPolicy(max_retry_after=5).delay(3, retry_after=9.0) == 5.0


def test_retry_after_ignores_jitter() -> None:
    """A server-requested delay is honoured exactly, not jittered."""
    assert RetryPolicy().delay(1, retry_after=4.0, rand=lambda: 0.0) == 4.0


# --- backoff and jitter -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry_number", "base"),
    [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 16.0), (7, 30.0), (8, 30.0), (20, 30.0)],
)
def test_backoff_base_doubles_up_to_the_cap(retry_number: int, base: float) -> None:
    """Without jitter the delay is initial * 2**(n-1), capped at max_delay."""
    policy = RetryPolicy(initial=0.5, multiplier=2.0, max_delay=30.0, jitter=False)
    assert policy.delay(retry_number) == pytest.approx(base)


@pytest.mark.parametrize("retry_number", range(1, 12))
@pytest.mark.parametrize("draw", [0.0, 0.25, 0.5, 0.999999])
def test_full_jitter_bounds(retry_number: int, draw: float) -> None:
    """With full jitter the delay is base * rand: within [0, base], never above max_delay."""
    policy = RetryPolicy(initial=0.5, max_delay=30.0)
    base = min(0.5 * 2 ** (retry_number - 1), 30.0)
    delay = policy.delay(retry_number, rand=lambda: draw)
    assert 0.0 <= delay <= base <= policy.max_delay
    assert delay == pytest.approx(base * draw)


def test_jitter_upper_bound_reaches_the_base() -> None:
    """rand -> 1 gives the full base delay: the draw scales the base, it does not shift it."""
    policy = RetryPolicy(initial=1.0, max_delay=8.0)
    assert [policy.delay(n, rand=lambda: 1.0) for n in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, 8.0]


def test_policy_is_immutable() -> None:
    """RetryPolicy is frozen; change it with attrs.evolve."""
    policy = RetryPolicy()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        policy.max_tries = 9  # type: ignore[misc]
    assert attrs.evolve(policy, max_tries=9).max_tries == 9


def test_default_policy() -> None:
    """Defaults: 8 tries, 0.1 s initial, 30 s cap, full jitter, a cap on Retry-After, a deadline."""
    policy = RetryPolicy()
    assert (policy.max_tries, policy.initial, policy.max_delay, policy.jitter) == (
        8,
        0.1,
        30.0,
        True,
    )
    assert policy.max_retry_after > 0
    assert policy.deadline > 0


# --- deadline and max_tries, through the client --------------------------------------------------


async def test_deadline_no_sleep_ends_past_it(m: aioresponses) -> None:
    """With the clock injected, no retry sleeps past the deadline: tries stop before it."""
    m.get(STATUS_URL, status=500, repeat=True)
    clock = FakeClock(start=50.0)
    sleep = RecordingSleep(clock)
    policy = RetryPolicy(max_tries=10, initial=1.0, max_delay=8.0, deadline=10.0, jitter=False)
    async with make_client(sleep=sleep, clock=clock, retry=policy) as client:
        with pytest.raises(ServerError):
            await client.mass_convert_status("Quotes", "1")
    # 1 + 2 + 4 = 7 s slept; the next wait (8 s) would end at 15 s > 10 s, so it gives up.
    assert sleep.delays == [1.0, 2.0, 4.0]
    assert clock.now - 50.0 <= policy.deadline
    assert len(calls(m, "GET", STATUS_URL)) == 4


async def test_deadline_counts_time_spent_in_requests(m: aioresponses) -> None:
    """Time that passes outside sleep (slow replies) also counts against the deadline."""
    clock = FakeClock(start=0.0)

    def slow_reply(url: object, **kwargs: object) -> None:
        clock.advance(4.0)  # each attempt takes 4 s

    m.get(STATUS_URL, status=503, repeat=True, callback=slow_reply)
    sleep = RecordingSleep(clock)
    policy = RetryPolicy(max_tries=10, initial=1.0, max_delay=1.0, deadline=10.0, jitter=False)
    async with make_client(sleep=sleep, clock=clock, retry=policy) as client:
        with pytest.raises(ServerError):
            await client.mass_convert_status("Quotes", "1")
    # t=4 sleep 1 -> t=5; t=9 would sleep to 10 -> allowed; t=14 stop.
    assert sleep.delays == [1.0, 1.0]
    assert len(calls(m, "GET", STATUS_URL)) == 3


@pytest.mark.parametrize("max_tries", [1, 2, 5])
async def test_tries_bounded_by_max_tries(m: aioresponses, max_tries: int) -> None:
    """A request that keeps failing is tried exactly max_tries times, sleeping in between."""
    m.get(STATUS_URL, status=500, repeat=True)
    sleep = RecordingSleep(FakeClock())
    policy = RetryPolicy(max_tries=max_tries, deadline=1e9)
    async with make_client(sleep=sleep, retry=policy) as client:
        with pytest.raises(ServerError):
            await client.mass_convert_status("Quotes", "1")
    assert len(calls(m, "GET", STATUS_URL)) == max_tries
    assert len(sleep.delays) == max_tries - 1
    assert all(0.0 <= d <= policy.max_delay for d in sleep.delays)


# --- end to end ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 500},
        {"status": 502, "body": "<html>bad gateway</html>"},
        {"status": 503},
        {"status": 429, "payload": {"code": "TOO_MANY_REQUESTS", "status": "error"}},
        {"status": 200, "body": "not json"},
        {"exception": aiohttp.ServerDisconnectedError()},
        {"exception": connector_error()},
        {"exception": TimeoutError()},
    ],
    ids=["500", "502", "503", "429", "bad-json", "disconnect", "refused", "timeout"],
)
async def test_get_retried_then_succeeds(m: aioresponses, failure: dict[str, object]) -> None:
    """A GET that fails transiently twice is retried and returns the third reply."""
    m.get(STATUS_URL, **failure)  # type: ignore[arg-type]
    m.get(STATUS_URL, **failure)  # type: ignore[arg-type]
    m.get(STATUS_URL, payload=STATUS_REPLY)
    sleep = RecordingSleep(FakeClock())
    async with make_client(sleep=sleep) as client:
        status = await client.mass_convert_status("Quotes", "1")
    assert status.total_count == 10
    assert len(calls(m, "GET", STATUS_URL)) == 3
    assert len(sleep.delays) == 2


async def test_get_not_retried_on_4xx(m: aioresponses) -> None:
    """A 400 is the caller's to fix: raised after one try, no sleep."""
    m.get(STATUS_URL, status=400, payload={"code": "INVALID_DATA", "status": "error"})
    m.get(STATUS_URL, payload=STATUS_REPLY)
    sleep = RecordingSleep(FakeClock())
    async with make_client(sleep=sleep) as client:
        with pytest.raises(InvalidRequestError):
            await client.mass_convert_status("Quotes", "1")
    assert len(calls(m, "GET", STATUS_URL)) == 1
    assert sleep.delays == []


async def test_post_retried_on_429(m: aioresponses) -> None:
    """A POST refused with 429 was not processed, so it is repeated."""
    m.post(MASS_URL, status=429, payload={"code": "TOO_MANY_REQUESTS", "status": "error"})
    m.post(MASS_URL, payload=MASS_CONVERT_REPLY)
    sleep = RecordingSleep(FakeClock())
    async with make_client(sleep=sleep) as client:
        job = await client.mass_convert("Quotes", ["1"], to=TARGET)
    assert job == MASS_CONVERT_REPLY["details"]["job_id"]
    assert len(calls(m, "POST", MASS_URL)) == 2
    assert len(sleep.delays) == 1


async def test_post_not_retried_on_500(m: aioresponses) -> None:
    """A POST answered 500 may have run: raised at once as ServerError(maybe_processed=True)."""
    m.post(MASS_URL, status=500, payload={"code": "INTERNAL_ERROR", "status": "error"})
    m.post(MASS_URL, payload=MASS_CONVERT_REPLY)
    sleep = RecordingSleep(FakeClock())
    async with make_client(sleep=sleep) as client:
        with pytest.raises(ServerError) as caught:
            await client.mass_convert("Quotes", ["1"], to=TARGET)
    assert caught.value.maybe_processed is True
    assert "may have been processed" in str(caught.value)
    assert len(calls(m, "POST", MASS_URL)) == 1
    assert sleep.delays == []


@pytest.mark.parametrize(
    "exception", [aiohttp.ServerDisconnectedError(), TimeoutError(), aiohttp.ClientPayloadError()]
)
async def test_post_not_retried_after_sending(m: aioresponses, exception: Exception) -> None:
    """A POST whose connection dropped after sending raises TransportError(sent=True), once."""
    m.post(MASS_URL, exception=exception)
    m.post(MASS_URL, payload=MASS_CONVERT_REPLY)
    sleep = RecordingSleep(FakeClock())
    async with make_client(sleep=sleep) as client:
        with pytest.raises(TransportError) as caught:
            await client.mass_convert("Quotes", ["1"], to=TARGET)
    assert caught.value.sent is True
    assert caught.value.maybe_processed is True
    assert len(calls(m, "POST", MASS_URL)) == 1
    assert sleep.delays == []


async def test_post_retried_when_it_never_connected(m: aioresponses) -> None:
    """A POST that never connected (ClientConnectorError) provably did nothing: repeated."""
    m.post(MASS_URL, exception=connector_error())
    m.post(MASS_URL, payload=MASS_CONVERT_REPLY)
    sleep = RecordingSleep(FakeClock())
    async with make_client(sleep=sleep) as client:
        job = await client.mass_convert("Quotes", ["1"], to=TARGET)
    assert job == MASS_CONVERT_REPLY["details"]["job_id"]
    assert len(calls(m, "POST", MASS_URL)) == 2


async def test_never_connected_gives_up_with_sent_false(m: aioresponses) -> None:
    """When every try fails to connect the TransportError says the request was never sent."""
    m.post(MASS_URL, exception=connector_error(), repeat=True)
    async with make_client(retry=RetryPolicy(max_tries=3)) as client:
        with pytest.raises(TransportError) as caught:
            await client.mass_convert("Quotes", ["1"], to=TARGET)
    assert caught.value.sent is False
    assert len(calls(m, "POST", MASS_URL)) == 3


async def test_post_unreadable_success_not_retried(m: aioresponses) -> None:
    """A POST answered 200 with a body we cannot read is not repeated and says it may have run."""
    m.post(MASS_URL, status=200, body="<<not json>>")
    m.post(MASS_URL, payload=MASS_CONVERT_REPLY)
    async with make_client() as client:
        with pytest.raises(ResponseValidationError) as caught:
            await client.mass_convert("Quotes", ["1"], to=TARGET)
    assert caught.value.maybe_processed is True
    assert len(calls(m, "POST", MASS_URL)) == 1


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_retry_after_is_honoured(m: aioresponses, method: str) -> None:
    """A 429's Retry-After is the exact sleep before the next try, for GET and POST."""
    error = {"code": "TOO_MANY_REQUESTS", "status": "error", "message": "slow"}
    sleep = RecordingSleep(FakeClock())
    async with make_client(sleep=sleep) as client:
        if method == "GET":
            m.get(STATUS_URL, status=429, payload=error, headers={"Retry-After": "3"})
            m.get(STATUS_URL, payload=STATUS_REPLY)
            await client.mass_convert_status("Quotes", "1")
        else:
            m.post(MASS_URL, status=429, payload=error, headers={"Retry-After": "2.5"})
            m.post(MASS_URL, payload=MASS_CONVERT_REPLY)
            await client.mass_convert("Quotes", ["1"], to=TARGET)
    assert sleep.delays == [3.0 if method == "GET" else 2.5]


async def test_huge_retry_after_is_capped(m: aioresponses) -> None:
    """A huge Retry-After sleeps only max_retry_after."""
    m.get(STATUS_URL, status=429, headers={"Retry-After": "86400"})
    m.get(STATUS_URL, payload=STATUS_REPLY)
    sleep = RecordingSleep(FakeClock())
    policy = RetryPolicy(max_retry_after=7.0, deadline=100.0)
    async with make_client(sleep=sleep, retry=policy) as client:
        await client.mass_convert_status("Quotes", "1")
    assert sleep.delays == [7.0]


async def test_rate_limit_error_after_last_try_carries_retry_after(m: aioresponses) -> None:
    """When 429s outlast max_tries the RateLimitError raised carries the server's Retry-After."""
    m.get(STATUS_URL, status=429, headers={"Retry-After": "4"}, repeat=True)
    async with make_client(retry=RetryPolicy(max_tries=2)) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.mass_convert_status("Quotes", "1")
    assert caught.value.retry_after == 4.0
    assert caught.value.code == "TOO_MANY_REQUESTS"
