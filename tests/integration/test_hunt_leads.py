"""The truth hunt on the conversion paths other than Quotes -> Sales_Orders: Leads (with a
deal, an owner, an attachments' module), Sales_Orders -> Invoices and Quotes -> Invoices,
``convert_many`` fed by async generators, and ids that repeat inside one run.

Each test runs the client against the package simulator over HTTP on 127.0.0.1, on one
virtual clock (``SummingTime``: no test sleeps for real), and judges the report id by id
against the simulator's ledger (``truth.assert_report_true``: nothing reported converted that
the ledger lacks, nothing the ledger holds reported failed, rejected or not converted other
than already converted, nothing converted twice, uncertain ids listed).

Found by the seeded sweep of ``leads_sweep.py`` (6,000 cases over these paths, mixing lost
submit replies, forgotten jobs, duplicate job ids, malformed final statuses, FAILED jobs,
429/500 on every call, token expiry, converted, locked and unapproved records, streams and
repeats, and the simulator's ``converted_leads`` readings) and by reading the Leads specs
against the engine:

- A converted lead is gone from Leads: the Leads mass convert's spec lists no refusal but
  INVALID_DATA, and Convert Lead's has an invalid-URL-id refusal beside ID_ALREADY_CONVERTED.
  A settling resubmission (or a Convert Lead check of a settling job's failures) refused so
  named a lead its lost submission converted: the report said ``rejected INVALID_DATA``, a
  false failure (the simulator plays it with ``converted_leads``: 291 of the sweep's first
  3,000 cases before the fix, 0 after). Fixed in ``bulk/offenders.py``: such a lead is
  checked by Convert Lead (refused as converted: already converted), else ``uncertain``; a
  lead a first submission is refused for so is checked too (refused as converted: rejected
  ``ID_ALREADY_CONVERTED``).
- The other failures (16 of the 3,000 cases run after the fix) were the README's known
  limits: a suspect job (answered after a lost reply or a duplicate job id) that converted
  every record is taken as the batch's own, though it may be another batch's (15: 13 Leads,
  2 Invoices); a lost job three times longer than the one job measured before it (1).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest
from fakes import deadline
from leads_sweep import DEAL, POLL
from truth import assert_report_true, client_of, ledger, refresh_client_of, simulator_with

from zoho_convert import ConversionReport
from zoho_convert.simulator import Faults

CASE_TIMEOUT = 20.0


def lost_submits(endpoint: str, rate: float = 0.3) -> Faults:
    """Submits processed, then answered 500 (``rate`` of them)."""
    return Faults(rate_500=rate, fault_after_processing=True, fault_endpoints={endpoint})


async def stream(values: Iterable[Any]) -> AsyncIterator[Any]:
    """The ids as an async generator (``convert_many`` reads it lazily)."""
    for value in values:
        yield value


async def run(
    module: str,
    count: int,
    *,
    seed: int,
    before: int = 0,
    feed: Any = None,
    locked: int = 0,
    faults: Faults | None = None,
    config: dict[str, Any] | None = None,
    **options: Any,
) -> tuple[ConversionReport, dict[str, int], list[str]]:
    """``count`` records of ``module`` in a simulator (jobs of 2 s), ``before`` of them
    converted before the run and ``locked`` others locked, converted by ``convert_many`` in
    batches of 10 (``feed`` maps the ids to what the run is given; ``options``: its other
    options) with a client that refreshes its token. The report, the ledger and the ids
    converted before the run."""
    async with contextlib.AsyncExitStack() as stack:
        sim, time, ids = await simulator_with(
            stack, module, count, seed=seed, faults=faults,
            locked=lambda ids: ids[5 :: max(1, count // locked)][:locked] if locked else (),
            **(config or {}),
        )
        converted = ids[3 :: max(1, count // before)][:before] if before else []
        for value in converted:
            sim.state.convert_one(module, int(value))
        client = await refresh_client_of(stack, sim, time)
        given = ids if feed is None else feed(ids)
        async with deadline(CASE_TIMEOUT):
            report = await client.convert_many(
                module, given, batch_size=10, poll=POLL, **options
            )
        time.now += 100_000
        return report, ledger(sim, module, ids), converted


READINGS = [("invalid_in_mass", "fail_call"), ("invalid", "fail_call"), ("invalid", "fail_in_job")]


@pytest.mark.parametrize(("reading", "mode"), READINGS, ids=["-".join(r) for r in READINGS])
async def test_a_converted_lead_refused_as_invalid_on_settling_is_never_reported_failed(
    reading: str, mode: str
) -> None:
    """100 leads (with a deal), a third of the Leads mass converts processed then answered
    500; the simulator refuses a converted lead as INVALID_DATA naming it: the Leads mass
    convert (``fail_call``: by ``resource_path_index``; ``fail_in_job``: it fails it inside
    the job instead), and with ``invalid`` Convert Lead too (by ``id``). A settling
    resubmission, or a Convert Lead check of a settling job's failures, refused so names a
    lead its lost submission converted: before the fix, reported ``rejected INVALID_DATA``
    (a false failure, 10 to 20 leads). Now each lead so named is checked by Convert Lead
    (not again when Convert Lead said it): refused as converted, it is already converted;
    refused as invalid, it is ``uncertain``. Never rejected."""
    report, counts, _ = await run(
        "Leads",
        100,
        seed=31,
        faults=lost_submits("lead_mass_convert"),
        config={"converted_leads": reading, "already_converted": mode},
        deals=DEAL,
    )
    assert sum(counts.values()) == 100
    assert_report_true(report, counts)
    assert not report.rejected
    if reading == "invalid":
        assert report.uncertain and not report.already_converted
    else:
        assert report.already_converted >= 10 and not report.uncertain


async def test_a_lead_converted_before_the_run_refused_as_invalid_is_checked_by_convert_lead() -> (
    None
):
    """60 leads, 6 of them converted before the run, no fault; the Leads mass convert refuses
    a converted lead as INVALID_DATA (``invalid_in_mass``), Convert Lead as
    ID_ALREADY_CONVERTED. Before, each was reported ``rejected INVALID_DATA`` (the ledger
    holds it); now Convert Lead checks it: rejected ``ID_ALREADY_CONVERTED``, as a lead
    converted before the run is, and nothing else is sent one by one."""
    report, counts, before = await run(
        "Leads", 60, seed=32, before=6, config={"converted_leads": "invalid_in_mass"}
    )
    assert_report_true(report, counts, preconverted=before)
    assert {item.id: item.code for item in report.rejected} == dict.fromkeys(
        before, "ID_ALREADY_CONVERTED"
    )
    assert report.converted == 54 and not report.uncertain


async def test_without_convert_lead_a_lead_refused_as_invalid_on_settling_is_uncertain() -> None:
    """The run carries tags (Convert Lead names tags, the mass convert modules: no check),
    a third of the Leads mass converts processed then answered 500, converted leads refused
    as INVALID_DATA: a settling resubmission's refusal cannot say whether the lost
    submission converted the lead, so it ends ``uncertain`` (before: ``rejected
    INVALID_DATA``, a false failure); no Convert Lead is sent."""
    async with contextlib.AsyncExitStack() as stack:
        sim, time, ids = await simulator_with(
            stack, "Leads", 80, seed=33, faults=lost_submits("lead_mass_convert"),
            converted_leads="invalid_in_mass",
        )
        client = await client_of(stack, sim, time)
        async with deadline(CASE_TIMEOUT):
            report = await client.convert_many(
                "Leads", ids, batch_size=10, poll=POLL, carry_over_tags=True
            )
        time.now += 100_000
        counts = ledger(sim, "Leads", ids)
        assert sim.state.stats.requests_by_endpoint.get("lead_convert", 0) == 0
    assert_report_true(report, counts)
    assert not report.rejected and report.uncertain


# -- combinations the client handles ------------------------------------------------------


def with_repeats(ids: list[str]) -> list[Any]:
    """The ids, each fifth given again further on (as an int), one given three times."""
    feed: list[Any] = list(ids)
    for k in range(0, len(ids), 5):
        feed.insert(min(len(feed), k + 23), int(ids[k]))
    return [*feed, ids[7], ids[7]]


@pytest.mark.parametrize("module", ["Sales_Orders", "Quotes"])
@pytest.mark.parametrize("mode", ["fail_call", "fail_in_job"], ids=["refuse", "in-job"])
async def test_invoices_from_an_async_stream_with_repeats_under_lost_replies(
    module: str, mode: str
) -> None:
    """``module`` -> Invoices, 90 records (3 converted before the run) read from an async
    generator that repeats a fifth of them (as ints) and one three times, a third of the mass
    converts processed then answered 500 and a fifth of the single converts too, a tenth of
    the jobs forgotten (400 "The job_id is invalid"): each record converted once, each id
    reported once (``duplicates`` counts the repeats), true to the ledger id by id."""
    faults = Faults(
        rate_500=0.3,
        fault_after_processing=True,
        fault_endpoints={"mass_convert", "convert"},
        forget_job_rate=0.1,
        forget_reply="invalid",
    )
    report, counts, before = await run(
        module,
        90,
        seed=34,
        before=3,
        feed=lambda ids: stream(with_repeats(ids)),
        faults=faults,
        config={"already_converted": mode},
        to="Invoices",
    )
    assert report.total == 90 and report.duplicates == 20
    assert_report_true(report, counts, preconverted=before, either_converter=True)
    assert sum(counts.values()) - len(before) >= 80


@pytest.mark.parametrize("mode", ["fail_call", "fail_in_job"], ids=["refuse", "in-job"])
async def test_leads_with_a_deal_and_owner_from_a_stream_under_every_fault(mode: str) -> None:
    """100 leads (4 converted before the run, 3 locked) converted with a deal, an owner and
    the attachments moved to Deals, read from an async generator with repeats; lost submits,
    Convert Lead answered 500 now and then, forgotten jobs, duplicate job ids, malformed
    final statuses, FAILED jobs, 429s and token expiry: true to the ledger id by id, each
    lead converted at most once and reported once."""
    faults = Faults(
        rate_500=0.2,
        rate_429=0.1,
        fault_after_processing=True,
        fault_endpoints={"lead_mass_convert", "lead_convert"},
        forget_job_rate=0.1,
        duplicate_job_id_rate=0.1,
        malformed_final_rate=0.1,
        failed_job_rate=0.1,
        token_ttl=20.0,
    )
    report, counts, before = await run(
        "Leads",
        100,
        seed=35,
        before=4,
        locked=3,
        feed=lambda ids: stream(with_repeats(ids)),
        faults=faults,
        config={"already_converted": mode, "lead_convert_concurrency": 3},
        deals=DEAL,
        assign_to="4150868000001248015",
        move_attachments_to="Deals",
    )
    assert report.total == 100 and report.duplicates == 22
    assert_report_true(report, counts, preconverted=before, either_converter=True)
