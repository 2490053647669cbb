"""Settling's finer points: a round skips a batch too late for it without holding back the
others; a batch to be checked record by record stays so through a split, and falls back to
jobs when Zoho refuses the single convert; the check needs no round or deadline of its own;
a mass convert whose token call failed was never sent (helper-33's review)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import pytest
from aioresponses import aioresponses
from core_helpers import MASS_CONVERT_REPLY, TOKEN_URL, calls, make_client, refresh_auth
from fake_convert_api import read_later
from test_machine_decisions import IDS_OF, machine_with, park_again
from test_record_settler import POLICY, QUOTES, RecordAPI, server_error

from zoho_convert import ModuleRef, RetryPolicy, TransportError
from zoho_convert.api.errors import PermissionDeniedError
from zoho_convert.bulk.convert import convert_many
from zoho_convert.bulk.events import BatchSplit, BatchUncertain
from zoho_convert.bulk.settling import SettlePolicy

MASS_URL = "https://www.zohoapis.com/crm/v8/Quotes/actions/mass_convert"
TARGET = ModuleRef("Sales_Orders", "2423488000000000171")


def test_a_batch_too_late_at_the_front_does_not_hold_back_a_round_of_the_others() -> None:
    """A batch due again just past its own deadline sorts first; a batch lost later, due
    well within its own, still goes in the round (the loop skips the late one, it does not
    stop at it)."""
    machine = machine_with((0, 0.0), (1, 20.0))
    assert [b.seq for b in machine.settle_due(5.0)] == [0]  # 0's deadline: 15 s
    park_again(machine, 0, 11.0)  # due at 16 s: too late for it
    round_ = machine.settle_round(16.0)
    assert round_ is not None and [b.seq for b in round_.batches] == [1]
    assert round_.due == 25.0


def test_parts_of_a_batch_to_settle_record_by_record_settle_record_by_record() -> None:
    """A batch parked to be checked record by record (its settling job did not convert every
    record) keeps that through a split (the fleet's ledger screening it, say): each part is
    settled by single converts too, even before the input has ended."""
    machine = machine_with((0, 0.0))
    machine(BatchUncertain(0, IDS_OF[0], 6.0, True, "settling job 2 of 3", "", True, True))
    machine(BatchSplit(0, ((5, IDS_OF[0][:1]), (6, IDS_OF[0][1:])), True))
    assert machine.batches[6].by_record
    assert machine.by_record(6, queued=0, slots=4)


def lost_then_more() -> tuple[RecordAPI, AsyncIterator[str]]:
    """The first batch processed but answered 500 (Zoho converted it); a second batch 1 s
    later (its 20 s job does not hold the first back), more input 30 s in, so the first's
    settling goes as a mass resubmission, whose job fails every record inside it."""
    api = RecordAPI(
        duration=lambda number: 20.0 if number == 1 else 0.5,
        submit_faults_after={0: server_error()},
        already_converted="fail_in_job",
    )

    async def ids() -> AsyncIterator[str]:
        async for value in read_later(api, QUOTES[:100], first=50, delay=1.0):
            yield value
        await api.sleep(29.0)
        for value in QUOTES[100:150]:
            yield value

    return api, ids()


async def test_a_refused_single_convert_falls_back_to_jobs_without_looping() -> None:
    """The settling job fails all 50 records (converted by the lost submission): each is to be
    checked by its single convert, but Zoho refuses that call (403). The records go back to
    one mass resubmission, whose job fails them too: with no check left, they are uncertain
    (never failed, never counted converted), none converted twice, and not parked record by
    record again and again until the rounds run out."""
    api, ids = lost_then_more()
    api.record_faults = {
        value: [PermissionDeniedError(403, "NO_PERMISSION", "no")] for value in QUOTES[:50]
    }

    report = await convert_many(api, "Quotes", ids, to="Sales_Orders", settle=POLICY)

    assert sorted(report.uncertain) == sorted(QUOTES[:50]) and report.failed == 0
    assert report.already_converted == 0 and report.converted == 100
    sends = Counter(value for call in api.calls for value in call.ids)
    # the lost submission, the settling job, one more (alone) after the refusal
    assert {sends[value] for value in QUOTES[:50]} == {3}
    api.finish_jobs()
    assert not api.converted_twice()


async def test_a_settling_job_in_its_last_round_keeps_what_it_learned() -> None:
    """With one settling round allowed (and a deadline shorter than the settling job), the
    settling job fails all 50 records inside the job (the lost submission converted them):
    each is still checked by its single convert (no round or deadline of its own), so all 50
    end already converted, none uncertain."""
    api, ids = lost_then_more()
    settle = SettlePolicy(max_rounds=1, min_wait=0.3, unknown_wait=5.0, deadline=0.1)

    report = await convert_many(api, "Quotes", ids, to="Sales_Orders", settle=settle)

    api.finish_jobs()
    assert not api.converted_twice()
    assert report.already_converted == 50, f"{len(report.uncertain)} uncertain"
    assert not report.uncertain


async def test_a_mass_convert_whose_token_call_timed_out_was_never_sent(
    m: aioresponses,
) -> None:
    """The token refresh before a mass convert times out (each try): the mass convert never
    left, so its error must say it was not sent; ``sent=True`` (the token POST's) makes the
    batch uncertain and settled, and a settling job's in-job failures of Leads (no single
    convert) count as converted by this run: a false success for a locked record."""
    m.post(TOKEN_URL, exception=TimeoutError(), repeat=True)
    m.post(MASS_URL, payload=MASS_CONVERT_REPLY, repeat=True)
    retry = RetryPolicy(max_tries=2)
    async with make_client(refresh_auth(), retry=retry) as client:
        with pytest.raises(TransportError) as caught:
            await client.mass_convert("Quotes", ["1"], to=TARGET)
    assert calls(m, "POST", MASS_URL) == []
    assert caught.value.sent is False, "the mass convert never left, yet sent=True"
