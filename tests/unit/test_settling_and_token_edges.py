"""Behaviours a review of record-by-record settling and of the token re-read asked for: a
failed refresh is not retried per request, a spurious refusal is not refreshed on every
request, a refusal of the single call falls back to mass resubmission, and a gateway's 504
waits like a lost call."""

from __future__ import annotations

import asyncio
from typing import Any

from aioresponses import aioresponses
from core_helpers import (
    ACCESS_TOKEN,
    BASE,
    TOKEN_URL,
    RecordingSleep,
    calls,
    make_client,
    refresh_auth,
    token_reply,
)
from fakes import FakeClock
from test_auth import FakeCRM
from test_record_settler import (
    LOST,
    POLICY,
    RecordAPI,
    paced,
    server_error,
    split_for_records,
)

from zoho_convert import RefreshTokenAuth, RetryPolicy, ServerError
from zoho_convert.api.errors import (
    AuthenticationError,
    InvalidRequestError,
    PermissionDeniedError,
)
from zoho_convert.api.tokens import StoredToken
from zoho_convert.bulk.convert import convert_many
from zoho_convert.bulk.events import IdsRejected

STATUS_URL = f"{BASE}/Quotes/actions/mass_convert?job_id=1"


async def test_a_failed_refresh_in_the_slot_is_not_retried_by_the_request(
    m: aioresponses,
) -> None:
    """A request that finds its token refused once it holds its slot gets a new one outside
    the slot; when the token endpoint fails after its own retries, the request gives up like
    one whose token call failed before it queued: the request's retry loop does not run the
    whole token call's retries again (max_tries x max_tries token calls)."""
    m.post(TOKEN_URL, payload=token_reply(ACCESS_TOKEN))
    m.post(TOKEN_URL, status=500, repeat=True)
    crm = FakeCRM(ACCESS_TOKEN)
    m.get(STATUS_URL, callback=crm.handle, repeat=True)
    retry = RetryPolicy(max_tries=4, deadline=10_000)
    clock = FakeClock()
    async with make_client(
        refresh_auth(), max_concurrency=1, retry=retry, clock=clock, sleep=RecordingSleep(clock)
    ) as client:
        await client.mass_convert_status("Quotes", "1")  # the first token works
        crm.valid = set()  # ... then Zoho refuses it; the accounts server is down
        outcomes = await asyncio.gather(
            client.mass_convert_status("Quotes", "1"),
            client.mass_convert_status("Quotes", "1"),
            return_exceptions=True,
        )
    assert all(isinstance(outcome, ServerError) for outcome in outcomes)
    token_calls = len(calls(m, "POST", TOKEN_URL)) - 1
    # One refresh per request at most, each with its own 4 tries: 8 (retried by the request's
    # own retries too, it would be 4 + 4 x 4 = 20).
    assert token_calls <= 2 * retry.max_tries, token_calls


def no_permission() -> PermissionDeniedError:
    """A single convert refused for the request, not for a record (e.g. a token whose scope
    covers the mass convert only)."""
    return PermissionDeniedError(403, "NO_PERMISSION", "permission denied")


async def test_a_refusal_of_the_single_call_stops_sending_single_converts() -> None:
    """The first single convert refused for the whole request (not for its record) stops the
    run's single converts: the other records of the batch are not each sent (and refused)
    after it, only those already in flight (10 slots); the batch is settled as mass
    conversions and every record ends converted once."""
    api = RecordAPI(
        duration=lambda number: {2: 20.0, 3: 1.5}.get(number, 0.5),
        submit_faults={1: server_error()},
        record_faults={value: [no_permission()] for value in LOST},
    )
    report: Any = await convert_many(api, "Quotes", paced(api), to="Sales_Orders", settle=POLICY)
    api.finish_jobs()
    assert 1 <= len(api.singles) <= api.max_concurrency, len(api.singles)
    assert report.ok and not api.converted_twice()
    assert not report.converted_by_record


async def test_a_single_convert_the_token_may_not_make_falls_back_to_a_mass_resubmission() -> None:
    """record_by_record is on by default and only an optimisation: when Zoho refuses the
    single convert for the request (a permission the mass convert does not need), the batch
    is settled by mass resubmission, as with record_by_record=False, instead of the whole
    run stopping."""
    api = RecordAPI(
        duration=lambda number: {2: 20.0, 3: 1.5}.get(number, 0.5),
        submit_faults={1: server_error()},
        record_faults={value: [no_permission()] * 10 for value in LOST},
    )
    report: Any = await convert_many(api, "Quotes", paced(api), to="Sales_Orders", settle=POLICY)
    api.finish_jobs()
    assert report.ok and not api.converted_twice()


def test_a_single_convert_answered_by_a_gateway_timeout_waits_like_a_lost_one() -> None:
    """A 504 without a Zoho error body is a proxy's answer, not Zoho's: the convert behind it
    may still be running, so the record is parked like a dropped call (not at once, no
    0.1 s pause), as a TransportError would be."""
    machine = split_for_records()
    error = ServerError(504, "HTTP_504", "HTTP 504 without a Zoho error body", maybe_processed=True)
    verdict = machine.refused(1, ("101",), error, settling=True, at=10.0, single=True)
    assert verdict is not None
    (event,), _ = verdict
    assert not event.at_once and event.since == 10.0


class RefusesOnce(FakeCRM):
    """``FakeCRM`` that refuses the next request (``refuse_next``) whatever its token."""

    refuse_next = False

    async def handle(self, url: Any, **kwargs: Any) -> Any:
        if not self.refuse_next:
            return await super().handle(url, **kwargs)
        self.refuse_next = False
        valid, self.valid = self.valid, set()
        try:
            return await super().handle(url, **kwargs)
        finally:
            self.valid = valid


async def test_a_token_refused_once_and_then_accepted_is_not_refreshed_on_every_request(
    m: aioresponses,
) -> None:
    """An accounts server that answers a refresh with the token still in use (some do while
    it is valid), and one spurious INVALID_TOKEN: the refresh that follows brings the same
    token back, which Zoho then accepts. Later requests use it: they do not each mint a
    token because it was refused once (a new token clears the refusal, and so does an
    acceptance)."""
    m.post(TOKEN_URL, payload=token_reply(ACCESS_TOKEN), repeat=True)
    crm = RefusesOnce(ACCESS_TOKEN)
    m.get(STATUS_URL, callback=crm.handle, repeat=True)
    async with make_client(refresh_auth(), max_concurrency=1) as client:
        await client.mass_convert_status("Quotes", "1")
        crm.refuse_next = True
        for _ in range(10):
            await client.mass_convert_status("Quotes", "1")
    assert crm.seen.count(ACCESS_TOKEN) == 12  # the first, the refused one, 10 accepted
    # The first token and the refresh after the 401: not one more per request.
    assert len(calls(m, "POST", TOKEN_URL)) == 2, len(calls(m, "POST", TOKEN_URL))


def test_an_invalid_data_of_a_single_convert_counts_for_its_record_only_when_it_names_it() -> None:
    """A single convert's INVALID_DATA that names its record (``{"id": ...}``) rejects that
    record; one naming nothing may be about the request (the record's fate is unknown): it
    is not read as the record's refusal, so the run falls back to mass resubmission."""
    machine = split_for_records()
    named = InvalidRequestError(400, "INVALID_DATA", "invalid data", {"id": "101"})
    verdict = machine.refused(1, ("101",), named, settling=True, at=10.0, single=True)
    assert verdict is not None
    (event,), _ = verdict
    assert isinstance(event, IdsRejected) and event.rejected[0].code == "INVALID_DATA"
    bare = InvalidRequestError(400, "INVALID_DATA", "invalid data")
    assert machine.refused(2, ("102",), bare, settling=True, at=10.0, single=True) is None
    # A mass convert's bare INVALID_DATA of one id still isolates it, as before.
    mass = machine.refused(2, ("102",), bare, settling=True, at=10.0)
    assert mass is not None and isinstance(mass[0][0], IdsRejected)


def test_a_late_refusal_of_an_old_token_does_not_unmark_the_current_one() -> None:
    """The current token is refused (marked: the next request fetches a new one first); a
    request still in flight with the token before it is refused afterwards: the current
    token stays marked, and a new one clears the mark."""
    auth = RefreshTokenAuth("id", "secret", "refresh", clock=lambda: 1000.0)
    auth._adopt(StoredToken("1000.current", 4600.0))
    flow = auth.flow()
    invalid = AuthenticationError(401, "INVALID_TOKEN", "invalid oauth token")
    flow.expired("1000.current", invalid)
    assert flow.latest("1000.current") is None
    auth.flow().expired("1000.older", invalid)
    assert flow.latest("1000.current") is None
    auth._adopt(StoredToken("1000.next", 4600.0))
    assert flow.latest("1000.current") == "1000.next"
