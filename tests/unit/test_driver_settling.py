"""How the driver settles parked batches once no job runs: it sleeps until a round is due,
however short the wait, and resubmits only then."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable

from fake_convert_api import FakeAPI, SubmitCall

from zoho_convert.api.errors import ServerError, TransportError
from zoho_convert.bulk.convert import convert_many
from zoho_convert.bulk.settling import SettlePolicy


def quote_ids(count: int, first: int = 8000) -> list[str]:
    return [str(first + n) for n in range(count)]


def lost_reply() -> ServerError:
    return ServerError(500, "INTERNAL_ERROR", "reply lost", maybe_processed=True)


async def test_a_settling_round_due_within_a_second_still_waits_for_it() -> None:
    """A lost reply settled with half-second waits: the resubmission reaches Zoho only once the
    lost job (0.4 s) ended and the wait passed, so no record converts twice."""
    api = FakeAPI(reserve_ids=False, duration=0.4, submit_faults_after={0: lost_reply()})
    settle = SettlePolicy(min_wait=0.5, unknown_wait=0.5)

    report = await convert_many(api, "Quotes", quote_ids(50), to="Sales_Orders", settle=settle)

    lost, again = api.calls[0], api.calls[1]
    assert lost.processed is not None and again.processed is not None
    # Parked when the lost reply came back (one latency after it was processed).
    assert again.processed >= lost.processed + api.latency + 0.5
    api.finish_jobs()
    assert not api.converted_twice()
    assert report.ok and report.already_converted == 50


async def test_a_submit_that_timed_out_waits_for_a_job_the_server_starts_later() -> None:
    """A submit unanswered for 3 s, the client's timeout: the server, still at work on it,
    starts its job 2 s after the client gave up. The batch goes again only once such a job
    has had its time (from 3 s after the timeout, not from the timeout), so no record
    converts twice."""
    timed_out = TransportError("POST timed out", sent=True, timed_out_after=3.0)
    api = FakeAPI(reserve_ids=False, duration=0.4, submit_faults_after={0: timed_out})

    def start_late(call: SubmitCall) -> None:
        if call.job_id is not None and call.number == 0:
            api.jobs[call.job_id].created = api.now + 2.0  # (the fake answers at once)

    api.on_processed = start_late
    settle = SettlePolicy(min_wait=0.5, unknown_wait=0.5)

    report = await convert_many(api, "Quotes", quote_ids(50), to="Sales_Orders", settle=settle)

    api.finish_jobs()
    assert not api.converted_twice()
    lost, again = api.calls[0], api.calls[1]
    assert lost.processed is not None and again.processed is not None
    assert again.sent >= lost.processed + 3.0 + 0.5 - 1e-9  # (its error came back then)
    assert report.ok and report.already_converted == 50


async def test_a_run_longer_than_the_settling_deadline_settles_a_reply_lost_late() -> None:
    """Settling may take 20 s per batch; the input comes in over 90 s, a batch every 10 s.
    The first batch's reply is lost at once, the ninth's 80 s in: both are settled (the
    deadline is each batch's own, not one clock started by the first batch's settling),
    nothing is left uncertain."""
    api = FakeAPI(reserve_ids=False)
    settle = SettlePolicy(deadline=20.0, min_wait=0.5, unknown_wait=3.0)
    ids = quote_ids(500)
    to_lose = {ids[0], ids[400]}  # the first and the ninth batch: their replies, once

    def lose(call: SubmitCall) -> Awaitable[None] | None:
        if call.job_id is None or call.ids[0] not in to_lose:
            return None
        to_lose.discard(call.ids[0])

        async def lost() -> None:
            raise lost_reply()

        return lost()

    api.on_processed = lose

    async def paced() -> AsyncIterator[str]:
        for start in range(0, 500, 50):
            if start:
                await api.sleep(10.0)
            for value in ids[start : start + 50]:
                yield value

    report = await convert_many(api, "Quotes", paced(), to="Sales_Orders", settle=settle)

    assert not to_lose
    assert report.ok and report.already_converted == 100 and not report.uncertain
    api.finish_jobs()
    assert not api.converted_twice()
