"""The driver (``bulk/driver.py``), on what its mutants showed untested: a batch parked to go
again at once is resubmitted by its own timer, not at the next poll of a running job; and a
batch whose refusal stops the run is published parked with the refusal's code, text and time.

FakeAPI on virtual time.
"""

from __future__ import annotations

import pytest
from fake_convert_api import FakeAPI

from zoho_convert import AuthenticationError, ServerError
from zoho_convert.api.polling import PollPolicy
from zoho_convert.bulk.convert import convert_many
from zoho_convert.bulk.events import BatchUncertain, Event
from zoho_convert.bulk.isolation import error_text

IDS = [str(7_200_000_000_000_000 + n) for n in range(100)]


async def test_a_batch_parked_to_go_at_once_is_resubmitted_before_the_next_poll() -> None:
    """A submission refused with a 503 that surely did nothing goes again at once, on its own
    timer: not 30 s later at the next poll of the one job still running."""
    busy = ServerError(503, "SERVICE_UNAVAILABLE", "busy", maybe_processed=False)
    api = FakeAPI(duration=100.0, submit_faults={1: busy})
    poll = PollPolicy(initial=30.0, max_interval=30.0, adaptive=False)

    report = await convert_many(api, "Quotes", IDS, to="Sales_Orders", poll=poll)

    refused, again = api.calls[1], api.calls[2]
    assert refused.job_id is None and again.ids == refused.ids == IDS[50:]
    assert refused.sent is not None and again.sent is not None
    assert again.sent - refused.sent < 1.0
    assert report.ok and report.converted == 100


async def test_a_refusal_that_stops_the_run_publishes_its_batch_parked_with_it() -> None:
    """A submission refused with AUTHENTICATION_FAILURE stops the run: its batch is published
    parked as never sent, since the refusal came back, with Zoho's code and the error's
    text; the report has its ids NOT_SUBMITTED."""
    refused = AuthenticationError(401, "AUTHENTICATION_FAILURE", "credentials refused")
    api = FakeAPI(submit_faults={1: refused})
    events: list[Event] = []

    with pytest.raises(AuthenticationError) as stopped:
        await convert_many(api, "Quotes", IDS, to="Sales_Orders", progress=events.append)

    (parked,) = [event for event in events if isinstance(event, BatchUncertain)]
    assert (parked.batch, parked.ids, parked.maybe_sent, parked.at_once) == (
        1,
        tuple(IDS[50:]),
        False,
        True,
    )
    assert (parked.code, parked.reason) == ("AUTHENTICATION_FAILURE", error_text(refused))
    sent = api.calls[1].sent
    assert sent is not None and parked.since == pytest.approx(sent + api.latency)
    report = stopped.value.partial_report  # type: ignore[attr-defined]
    assert {(item.id, item.code) for item in report.rejected} == {
        (value, "NOT_SUBMITTED") for value in IDS[50:]
    }
