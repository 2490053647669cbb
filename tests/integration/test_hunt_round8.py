"""Round 8 of the adversarial hunt: findings pinned as tests (fixed, or strict ``xfail``).

Faults added to the independent server ``alt_server`` this round, each a reading of the wire
no doc forbids: job ids that are not all digits (``job-7f3a``, ``A1B2``, ``000123`` with its
leading zeros), a submit processed whose reply's job id cannot be read (missing, empty, with
a space, over 100 characters, a list, a float, a bool), final statuses that cannot account
for their batch (COMPLETED with every count 0; a total 3 over or 1 under the batch; COMPLETED
with converted records counted not converted), and a single convert that answers a record
already converted with an ambiguous code (``DUPLICATE_DATA``, ``RECORD_LOCKED``) instead of
``ID_ALREADY_CONVERTED``. Each run is judged id by id against the server's ledger (issue 11's
invariant, ``truth.assert_report_true``) and its record of sends while a job held the record
(``overlaps``). Client and server share one virtual clock: no test sleeps for real.

Found, each reproduced here first: a job id not all digits stopped the run at its first poll
(``normalize_id`` refused it), and one with leading zeros was polled as another number (its
job lost); an unreadable job id with a space was taken as a job id and stopped the run; a
final status whose total was not the batch's size was taken as it said (COMPLETED with every
count 0: every record reported not converted, all of them converted; a total over the
batch: records the job failed reported converted); COMPLETED counting converted records as
not converted reported them not converted; a settling check answered ``DUPLICATE_DATA`` for
a record the lost submission converted reported it rejected. Fixed in ``api/ids.py``
(``normalize_job_id``), ``api/wire.py``, ``api/client.py``, ``bulk/machine.py``
(``RunMachine.finished``, ``lost_jobs.unaccountable``) and ``bulk/offenders.py``. The same
answered ``RECORD_LOCKED`` (a server that locks the records it converted) is a known limit,
pinned as a strict ``xfail``.

The sweep (``hunt_round8_sweep.py``, run as its docstring says): seeded configurations of
``alt_server`` drawing every fault above with the earlier ones (lost, dropped and throttled
replies, forgotten jobs, in-job failures and every refusal shape of converted ids, FAILED
jobs, locked and preconverted records, Leads, status and submit replies in every wire shape,
counts that go down), about a fifth of them journaled, cancelled at a random event and
resumed, a fifth two fleet workers with overlapping lists. About 7,500 runs while its draws
grew found one more: a job answering COMPLETED with every count 0 before it ran was timed
as a job of 0.5 s, the lost-job wait cut to 1 s, and records sent while the job held them
(2 seeds in 1,000 once single-batch runs and 30 s jobs were drawn; fixed: such a job times
nothing and is not seen started or ended). With the final draws and fixes: 0 failures in
4,000 seeds (102,259 ids in 3,000 of them: 5,895 lost jobs, 677 runs stopped and resumed,
573 fleet runs); with ``--known`` (``RECORD_LOCKED`` drawn too), that known limit alone, in
62 seeds of 400.
"""

from __future__ import annotations

from typing import Any

import pytest
from alt_server import BAD_JOB_IDS, AltConfig, Rates
from test_hunt_round6 import POLL, converted_and_judged

from zoho_convert import JobState

QUICK = {"token_life": 1e9, "scheduled_for": 0.2, "duration": 2.0}


@pytest.mark.parametrize("form", ["prefixed", "alnum", "zeros", "punct", "mixed"])
async def test_job_ids_that_are_not_all_digits_are_polled_as_written(alt: Any, form: str) -> None:
    """Jobs named ``job-…``, ``A…B``, ``000…``, ``j+…&x=%/#?;~`` (or a mix): every job is
    polled by the text its submit reply gave, found, and taken as it says: 60 quotes
    converted, nothing lost.
    Observed before: the first poll raised ``InvalidIdError`` ("job id 'job-…' is not
    numeric") and stopped the run; ``000…`` was polled as the number without its zeros, a job
    the server did not know: every job lost."""
    env = await alt(AltConfig(seed=801, job_id_form=form, **QUICK))
    ids = env.server.create("Quotes", 60)
    report = await converted_and_judged(env, ids, [], batch_size=10)
    assert report.ok and report.converted == 60 and not report.lost_jobs, report.to_json()


@pytest.mark.parametrize("form", ["prefixed", "alnum", "zeros", "punct"])
async def test_one_job_of_any_id_is_waited_for_by_the_endpoint_calls(alt: Any, form: str) -> None:
    """``mass_convert`` returns the job id as the server wrote it, and ``wait_for_job`` and
    ``mass_convert_status`` poll it as written (before: ``InvalidIdError``, or ``000…`` sent
    without its zeros and answered "The job_id is invalid")."""
    env = await alt(AltConfig(seed=806, job_id_form=form, **QUICK))
    ids = env.server.create("Quotes", 3)
    client = await env.client()
    job_id = await client.mass_convert("Quotes", ids, to="Sales_Orders")
    assert job_id == next(iter(env.server.jobs.values())).wire_id
    status = await client.wait_for_job("Quotes", job_id, poll=POLL)
    assert status.state is JobState.COMPLETED and status.converted_count == 3
    again = await client.mass_convert_status("Quotes", job_id)
    assert again == status


@pytest.mark.parametrize("bad", sorted(BAD_JOB_IDS))
async def test_a_submit_reply_with_an_unreadable_job_id_is_settled_like_a_lost_reply(
    alt: Any, bad: str
) -> None:
    """The second of six submits is processed but its reply's job id cannot be read (left out,
    empty, with a space, 101 characters, a list, a float, a bool): the run goes on, the
    batch is settled like a submission whose reply was lost (its job converted its records:
    found converted by the settling check), and the report is true id by id. Observed before:
    a job id with a space or of 101 characters was taken as an id, and its first poll stopped
    the run (``InvalidIdError``)."""
    config = AltConfig(seed=802, fault_plan={"submit": [None, bad]}, **QUICK)
    env = await alt(config)
    ids = env.server.create("Quotes", 60)
    report = await converted_and_judged(env, ids, [], batch_size=10)
    assert ("submit", bad) in env.server.faults
    assert report.converted + report.already_converted == 60 and not report.uncertain


LIES = ["zeros", "total_over", "total_under", "nc_completed"]


@pytest.mark.parametrize("lie", LIES)
@pytest.mark.parametrize("locked", [False, True])
async def test_a_final_status_that_cannot_account_for_its_batch_is_settled(
    alt: Any, lie: str, locked: bool
) -> None:
    """Jobs 2 and 4 of six end with a final status that cannot account for their batch (see
    ``AltConfig.final_lies``), with or without a locked record in each (failed inside its
    job): neither a false success nor a false failure; the job is listed lost and its
    records settled (found converted, or the locked one rejected or uncertain). Observed
    before (unlocked): ``zeros`` reported 20 records not converted, all converted;
    ``nc_completed`` 10 not converted, all converted; ``total_over`` reported the locked
    records converted."""
    config = AltConfig(seed=803, final_lie_plan=[None, lie, None, lie], **QUICK)
    env = await alt(config)
    ids = env.server.create("Quotes", 60)
    if locked:
        env.server.locked.update({ids[12], ids[33]})
    report = await converted_and_judged(env, ids, [], batch_size=10)
    assert {job.size for job in report.lost_jobs} == {10} and len(report.lost_jobs) == 2
    assert not report.not_converted and not report.failed
    settled = report.converted + report.already_converted
    assert settled == 60 - 2 * locked, report.to_json()


async def convert_with_a_lost_batch(alt: Any, code: str, already: str) -> Any:
    """40 quotes in batches of 10, the 2nd submit processed then answered 500 (its job
    converts its 10 records); the single convert answers a converted record ``code``. The
    report (judged against the ledger) and the ids."""
    config = AltConfig(
        seed=804,
        single_already=code,
        already=already,
        fault_plan={"submit": [None, "500_after"]},
        **QUICK,
    )
    env = await alt(config)
    ids = env.server.create("Quotes", 40)
    return await converted_and_judged(env, ids, [], batch_size=10), ids


@pytest.mark.parametrize("already", ["in_job", "refuse_index"])
async def test_a_duplicate_data_refusal_of_a_settling_check_is_uncertain_not_rejected(
    alt: Any, already: str
) -> None:
    """The single convert answers a converted record ``DUPLICATE_DATA`` (the copy its
    conversion made exists) instead of ``ID_ALREADY_CONVERTED``. Settled record by record
    (or, when a mass resubmission is refused as converted naming one id, the rest checked
    one by one), the lost batch's records end uncertain (listed), never rejected. Observed
    before: reported rejected ``DUPLICATE_DATA``, all of them converted."""
    report, ids = await convert_with_a_lost_batch(alt, "DUPLICATE_DATA", already)
    assert not report.rejected, report.to_json()
    lost = set(report.uncertain) | set(report.already_converted_ids)
    assert lost == set(ids[10:20]) and report.converted == 30 and report.uncertain


@pytest.mark.xfail(
    strict=True,
    reason=(
        "README known limit 'A server that locks the records it converted': a settling "
        "check answered RECORD_LOCKED rejects the record (bulk/offenders.py refusal), true "
        "of a record locked for a reason of its own (approvals: common, and pinned by "
        "test_exactly_once.py and test_adversarial_round3.py), false of one the lost "
        "submission converted and the server then locked; the wire does not tell them apart. "
        "Reading it uncertain would leave every locked record of a lost batch uncertain"
    ),
)
async def test_a_record_the_lost_submission_converted_then_locked_is_not_rejected(
    alt: Any,
) -> None:
    """As above with ``RECORD_LOCKED``: the lost batch's 10 records, all converted by its
    lost job, are reported rejected ``RECORD_LOCKED`` (seed 804)."""
    report, _ = await convert_with_a_lost_batch(alt, "RECORD_LOCKED", "in_job")
    assert not report.rejected


# -- combinations the client handles ------------------------------------------------------


async def test_every_round8_fault_at_once_with_lost_replies(alt: Any) -> None:
    """Mixed job ids, unreadable job ids, lying final statuses and ambiguous single-convert
    refusals at once, with lost and dropped replies and 429s on submits and polls: the
    report is true id by id, nothing sent while a job holds it."""
    config = AltConfig(
        seed=805,
        job_id_form="mixed",
        final_lie_rate=0.3,
        single_already="DUPLICATE_DATA",
        rates={
            "submit": Rates(p500_after=0.15, pdrop_after=0.05, p429=0.1, pbad_job_id=0.1),
            "status": Rates(p500_before=0.1, p429=0.1),
            "single": Rates(p500_after=0.1),
        },
        **QUICK,
    )
    env = await alt(config)
    ids = env.server.create("Quotes", 200)
    await converted_and_judged(env, ids, [], batch_size=10)


async def test_a_job_that_says_completed_before_it_runs_times_no_job(alt: Any) -> None:
    """The one job of the run answers COMPLETED with every count 0 from its first poll (0.5 s
    after it was sent), while it runs from 1 s to 41 s: lost, and settled once it has surely
    ended. Observed before: taken for a job measured to last 0.5 s (the first job timed), it
    cut the lost-job wait from ``unknown_wait`` (60 s) to 1 s, and its 10 records were
    converted one by one at 1.5 s while the job held them (on a server that lets two jobs
    convert a record, twice). Fixed in ``bulk/machine.py`` (such a job is not timed) and
    ``bulk/job_watch.py`` (nor seen started or ended)."""
    config = AltConfig(
        seed=807, token_life=1e9, scheduled_for=1.0, duration=40.0, final_lie_plan=["early_zeros"]
    )
    env = await alt(config)
    ids = env.server.create("Quotes", 10)
    report = await converted_and_judged(env, ids, [], batch_size=10)
    assert len(report.lost_jobs) == 1
    assert report.converted + report.already_converted == 10
