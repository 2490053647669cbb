"""The driver and a fleet's ledger: flushing the ledger after each batch is an optimisation,
so a ledger that fails to record leaves the run and its tasks unharmed."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from fake_convert_api import Crash, FakeAPI, SubmitCall

from zoho_convert import AuthenticationError
from zoho_convert.api.errors import ServerError
from zoho_convert.api.polling import PollPolicy
from zoho_convert.bulk.convert import convert_many, resume
from zoho_convert.bulk.events import BatchUncertain, Event
from zoho_convert.bulk.ledger import CLAIMED_ELSEWHERE, MemoryLedger
from zoho_convert.bulk.settling import SettlePolicy


class DownLedger(MemoryLedger):
    """A ledger that screens and claims, but whose recording of outcomes fails (its store
    went away mid-run)."""

    async def mark_converted(self, module: str, ids: Sequence[str]) -> None:
        raise ConnectionError("ledger store unreachable")

    async def release(self, module: str, ids: Sequence[str]) -> None:
        raise ConnectionError("ledger store unreachable")


async def test_a_ledger_failing_to_record_outcomes_breaks_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every flush fails: the run still converts everything, and no batch's task ends with an
    error (asyncio logs none as never retrieved)."""
    api = FakeAPI()
    api.ledger = DownLedger(clock=api.clock)
    ids = [str(9_000_000_000_000_000 + n) for n in range(120)]

    with caplog.at_level(logging.ERROR):
        report = await convert_many(api, "Quotes", ids, to="Sales_Orders")
        gc.collect()

    assert report.ok and report.converted == 120
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


class TtlLedger(MemoryLedger):
    """A memory ledger noting the lifetime asked for each claim."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ttls: list[float] = []

    async def claim(
        self, module: str, ids: Sequence[str], ttl: float
    ) -> tuple[list[str], list[str]]:
        self.ttls.append(ttl)
        return await super().claim(module, ids, ttl)


async def test_a_claim_outlives_the_longest_poll_of_its_job() -> None:
    """Ids are claimed for the poll timeout plus two minutes, and a lost job's wait on top (60 s
    while no job has ended): a worker that lost track of its job keeps others off the ids
    until that job surely ended, and a lost batch's ids while it waits for its lost job."""
    api = FakeAPI()
    api.ledger = ledger = TtlLedger(clock=api.clock)
    ids = [str(9_100_000_000_000_000 + n) for n in range(100)]

    report = await convert_many(
        api, "Quotes", ids, to="Sales_Orders", poll=PollPolicy(timeout=300.0)
    )

    assert report.ok and ledger.ttls == [480.0, 480.0]


async def test_a_stopped_run_gives_back_the_claims_of_ids_it_never_converted() -> None:
    """A refused token stops the run at its third submit: that batch's ids, claimed but never
    converted, are given back when the run ends, so another worker may claim them at once."""
    refused = AuthenticationError(401, "AUTHENTICATION_FAILURE", "token revoked")
    api = FakeAPI(submit_faults={2: refused})
    api.ledger = ledger = MemoryLedger(clock=api.clock)
    ids = [str(9_200_000_000_000_000 + n) for n in range(150)]

    with pytest.raises(AuthenticationError) as stopped:
        await convert_many(api, "Quotes", ids, to="Sales_Orders", max_pending_jobs=3)

    report = stopped.value.partial_report  # type: ignore[attr-defined]
    assert report.converted == 100
    claimed, held = await ledger.claim("Quotes", ids, 60.0)
    assert claimed == ids[100:] and held == ids[:100]
    # Refused by Zoho, that batch surely converted nothing: not submitted, not uncertain.
    assert not report.uncertain
    assert {(r.id, r.code) for r in report.rejected} == {(i, "NOT_SUBMITTED") for i in ids[100:]}


@pytest.mark.parametrize("request_timeout", [0.0, 3.0])
async def test_a_run_cancelled_mid_submission_keeps_the_claims_of_the_ids_in_flight(
    request_timeout: float,
) -> None:
    """Cancelled while its second batch's POST was in flight (Zoho processed it, the reply
    never came): the run gives back at once the claims of the batch it never sent, and those
    of the batch in flight only once its job has surely ended (the longest job seen, 1.1 s,
    and a margin; started up to the client's request timeout after the stop), not when the
    claims would expire (7 minutes on)."""
    ids = [str(9_250_000_000_000_000 + n) for n in range(150)]
    crash = Crash(lambda call: call.ids == ids[50:100])
    api = FakeAPI(on_processed=crash)
    api.request_timeout = request_timeout  # type: ignore[attr-defined]
    later = [0.0]  # seconds past the run's clock, for the ledger (claims expire on it)
    api.ledger = ledger = MemoryLedger(clock=lambda: api.clock() + later[0])
    poll = PollPolicy(timeout=300.0)  # claims last 420 s and a lost job's wait

    await crash.run(
        convert_many(api, "Quotes", ids, to="Sales_Orders", max_pending_jobs=1, poll=poll)
    )

    assert await ledger.claim("Quotes", ids, 60.0) == (ids[100:], ids[:100])
    later[0] = request_timeout + 1.5
    assert await ledger.claim("Quotes", ids[50:100], 60.0) == ([], ids[50:100])
    later[0] = request_timeout + 2.5
    assert await ledger.claim("Quotes", ids[50:100], 60.0) == (ids[50:100], [])


async def test_a_ledger_failing_at_the_end_of_a_stopped_run_keeps_the_runs_error() -> None:
    """The ledger cannot record the last releases of a run a refused token stopped: the run
    still raises the refused token (with its report), not the ledger's failure."""
    refused = AuthenticationError(401, "AUTHENTICATION_FAILURE", "token revoked")
    api = FakeAPI(submit_faults={2: refused})
    api.ledger = DownLedger(clock=api.clock)
    ids = [str(9_300_000_000_000_000 + n) for n in range(150)]

    with pytest.raises(AuthenticationError) as stopped:
        await convert_many(api, "Quotes", ids, to="Sales_Orders", max_pending_jobs=3)

    assert stopped.value.partial_report.converted == 100  # type: ignore[attr-defined]


class TimedLedger(MemoryLedger):
    """A memory ledger noting when (the run's clock) each id was recorded converted."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(clock=clock)
        self.now = clock
        self.marked_at: dict[str, float] = {}

    async def mark_converted(self, module: str, ids: Sequence[str]) -> None:
        self.marked_at.update(dict.fromkeys(ids, self.now()))
        await super().mark_converted(module, ids)


async def test_a_batchs_outcome_reaches_the_ledger_when_its_job_ends() -> None:
    """The fleet learns a batch converted once its job ends (1 s), not when the run ends (the
    other batch's job takes 30 s): other workers stop waiting for those ids then."""
    api = FakeAPI(duration=lambda job: 1.0 if job == 0 else 30.0)
    api.ledger = ledger = TimedLedger(api.clock)
    ids = [str(9_000_000_000_000_000 + n) for n in range(100)]

    report = await convert_many(api, "Quotes", ids, to="Sales_Orders")

    assert report.ok and report.elapsed >= 30.0
    first, second = ids[:50], ids[50:]
    assert max(ledger.marked_at[i] for i in first) < 5.0
    assert min(ledger.marked_at[i] for i in second) >= 30.0


class FourMethodLedger:
    """A ledger of the four methods ``ConversionLedger`` requires, without the optional
    ``release_later`` (a ledger of the caller's own making)."""

    def __init__(self, inner: MemoryLedger) -> None:
        self.filter_known = inner.filter_known
        self.claim = inner.claim
        self.release = inner.release
        self.mark_converted = inner.mark_converted


async def test_claims_in_flight_expire_when_the_ledger_cannot_give_them_back_later() -> None:
    """The same cancelled run with a ledger that has no ``release_later``: the claims of the
    batch in flight are kept until they expire (as a crashed worker's), never given back
    while its job may run."""
    ids = [str(9_260_000_000_000_000 + n) for n in range(150)]
    crash = Crash(lambda call: call.ids == ids[50:100])
    api = FakeAPI(on_processed=crash)
    later = [0.0]
    inner = MemoryLedger(clock=lambda: api.clock() + later[0])
    api.ledger = FourMethodLedger(inner)
    poll = PollPolicy(timeout=300.0)  # claims last 420 s and a lost job's wait

    await crash.run(
        convert_many(api, "Quotes", ids, to="Sales_Orders", max_pending_jobs=1, poll=poll)
    )

    later[0] = 400.0
    assert await inner.claim("Quotes", ids[50:], 60.0) == (ids[100:], ids[50:100])
    later[0] = 430.0  # (420 s, and a lost job's wait: 1 s, once the first jobs ended)
    assert await inner.claim("Quotes", ids[50:100], 60.0) == (ids[50:100], [])


def quote_ids(count: int, first: int) -> list[str]:
    return [str(first + n) for n in range(count)]


async def test_cancelled_in_a_settling_rounds_sleep_keeps_claims_of_its_lost_job() -> None:
    """The only batch's reply is lost (its job runs 30 s); no job has finished, so settling
    gives the lost job 60 s and its round sleeps until then, the batch already taken. The run
    is cancelled at 10 s: the claims must not be given back before the lost job surely ended
    (another worker would send the ids while it runs)."""
    ids = quote_ids(50, 7_200_000)
    lost = ServerError(500, "INTERNAL_ERROR", "reply lost", maybe_processed=True)
    api = FakeAPI(duration=30.0, submit_faults_after={0: lost})
    api.ledger = ledger = MemoryLedger(clock=api.clock)
    poll = PollPolicy(timeout=300.0)  # claims last 420 s and a lost job's wait

    task = asyncio.ensure_future(convert_many(api, "Quotes", ids, to="Sales_Orders", poll=poll))
    await api.sleep(10.0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

    assert api.jobs[api.calls[0].job_id or ""].ends_at > api.now + 15.0  # still running
    assert await ledger.claim("Quotes", ids, 60.0) == ([], ids)


async def test_a_stopped_run_keeps_claims_while_a_job_older_than_the_lost_runs() -> None:
    """The first job took 1 s, the next ones take 30 s. The third batch's reply is lost; the
    run itself would not resubmit it while the second job (sent before it) runs, since the
    lost job may run as long. Cancelled at 10 s, the run must not give its claims back at
    once either (another worker would send them while the lost job runs)."""
    ids = quote_ids(150, 7_300_000)
    lost = ServerError(500, "INTERNAL_ERROR", "reply lost", maybe_processed=True)
    api = FakeAPI(duration=lambda n: 1.0 if n == 0 else 30.0, submit_faults_after={2: lost})
    api.ledger = ledger = MemoryLedger(clock=api.clock)
    poll = PollPolicy(timeout=300.0)

    task = asyncio.ensure_future(convert_many(api, "Quotes", ids, to="Sales_Orders", poll=poll))
    await api.sleep(10.0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

    lost_ids = api.calls[2].ids
    assert api.jobs[api.calls[2].job_id or ""].ends_at > api.now + 15.0  # still running
    await api.sleep(0.5)  # (a moment after the stop)
    claimed, _ = await ledger.claim("Quotes", lost_ids, 60.0)
    assert claimed == [], "claims of a batch whose lost job runs were given back"


async def test_a_given_up_batch_keeps_its_claims_while_its_last_job_may_run() -> None:
    """One settling round allowed: the batch's reply is lost, then its resubmission's too
    (its 5 s job running): settling gives up on it at once, its ids uncertain. Their claims
    are given back only once that last job has surely ended (a lost job's wait: 6 s), not
    when the run gives up (another worker would send them beside it)."""
    ids = quote_ids(50, 7_400_000)
    lost = ServerError(500, "INTERNAL_ERROR", "reply lost", maybe_processed=True)
    api = FakeAPI(
        duration=5.0,
        submit_faults_after={0: lost, 1: lost},
        already_converted="fail_in_job",
        reserve_ids=False,
    )
    later = [0.0]
    api.ledger = ledger = MemoryLedger(clock=lambda: api.clock() + later[0])
    settle = SettlePolicy(max_rounds=1, min_wait=1.0, unknown_wait=6.0)

    report = await convert_many(api, "Quotes", ids, to="Sales_Orders", settle=settle)

    assert sorted(report.uncertain) == ids and len(api.calls) == 2
    last_job_ends = api.jobs[api.calls[1].job_id or ""].ends_at
    later[0] = last_job_ends - api.now  # the last job ends: still held
    assert await ledger.claim("Quotes", ids, 60.0) == ([], ids)
    later[0] = 6.0
    assert await ledger.claim("Quotes", ids, 60.0) == (ids, [])


class KilledLedger(MemoryLedger):
    """A memory ledger whose worker process is killed (``dead``): from then on it gives no
    claim back, as a worker killed with SIGKILL never does (its views share the flag)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dead = [False]

    async def release(self, module: str, ids: Sequence[str]) -> None:
        if not self.dead[0]:
            await super().release(module, ids)

    async def release_later(self, module: str, ids: Sequence[str], delay: float) -> None:
        if not self.dead[0]:
            await super().release_later(module, ids, delay)


async def test_a_resumed_run_takes_back_the_claims_its_killed_session_left(
    tmp_path: Path,
) -> None:
    """A worker killed while its second batch's POST was in flight (Zoho processed it) leaves
    its claims behind, unexpired (7 minutes). Resumed from its journal, the run recognises
    them as its own (the journal keeps the name they were made under): the batch is settled
    as soon as its lost job's wait is over, found converted, never parked as held by another
    worker; another run's claims on the same ledger still hold."""
    ids = [str(9_260_000_000_000_000 + n) for n in range(150)]
    journal = str(tmp_path / "run.journal")
    crash = Crash(lambda call: call.ids == ids[50:100])
    api = FakeAPI()
    api.ledger = ledger = KilledLedger(clock=api.clock)

    def killed(call: SubmitCall) -> Awaitable[None] | None:
        if crash.when(call):
            ledger.dead[0] = True
        return crash(call)

    api.on_processed = killed
    poll = PollPolicy(timeout=300.0)  # claims last 420 s and a lost job's wait
    await crash.run(
        convert_many(
            api, "Quotes", ids, to="Sales_Orders", max_pending_jobs=1, poll=poll,
            journal=journal,
        )
    )
    assert await ledger.claim("Quotes", ids[50:100], 60.0) == ([], ids[50:100])  # left behind
    assert await ledger.claim("Quotes", ids[100:], 2000.0) == (ids[100:], [])  # another run's
    ledger.dead[0] = False
    resumed_at = api.clock()
    events: list[Event] = []

    report = await resume(api, journal, ids=ids, poll=poll, progress=events.append)

    held = [e for e in events if isinstance(e, BatchUncertain) and e.code == CLAIMED_ELSEWHERE]
    assert {i for e in held for i in e.ids} == set(ids[100:])  # only the other run's
    again = [call for call in api.calls[2:] if set(call.ids) & set(ids[50:100])]
    assert again and again[0].sent < resumed_at + 120.0  # not when the claims expired
    assert sorted(report.already_converted_ids) == ids[50:100]
    assert report.converted == 50
    assert {r.code for r in report.rejected} == {CLAIMED_ELSEWHERE}
    assert not report.uncertain and report.accounted_for
    api.finish_jobs()
    assert not api.converted_twice()
