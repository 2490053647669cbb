"""Round 7 of the adversarial hunt: findings pinned as tests (fixed, or strict ``xfail``).

A seeded random search on what rounds 5 and 6 searched least, judged id by id against the
servers' ledgers (and, against the independent server ``alt_server``, its record of sends
while a job held the record, ``overlaps``):

- about 13,000 configurations of ``alt_server``: Leads mass converted (capitalised status
  rows, Convert Lead checks of a settling job's failures) and Quotes/Sales_Orders, under lost
  replies, forgotten jobs and in-job failures of converted ids; journaled runs cancelled at
  the n-th event of every kind (record checks, settling rounds, jobs lost or ended) and
  resumed once or twice with other policies (``record_by_record`` on/off, one round, one
  pending job), a resume without the ids, a resume after a finished one; two fleet workers
  on one ``MemoryLedger`` with overlapping lists; async input failing midway with repeats,
  integer and invalid ids, slow, journaled and resumed, in a fleet or not; and the wire
  variants of round 6 (states renamed, 202 statuses, replies inside ``data``, counts that
  go down);
- about 10,000 runs of the CLI (``cmd_convert``, and ``cmd_resume`` after a cancellation at a
  random event), in-process against the package simulator on the test's clock (lost,
  dropped, corrupt and throttled replies, FAILED and forgotten jobs, duplicate job ids,
  locked and converted records, ``zcrm_`` prefixes, repeats and invalid ids in the file),
  its JSON report and ``--failed-ids`` against the simulator's ledger;
- about 4,000 library runs against the package simulator (which refuses the records a
  running job holds, so a record sent while held shows as a false "already converted"):
  journaled runs cancelled at a random event and resumed with another policy, FAILED,
  forgotten and malformed jobs, corrupt replies; and 3,100 runs of two fleet workers on one
  ``MemoryLedger`` with overlapping lists under lost replies (``fleet_truth``).

Found: the CLI printed no report of a run stopped by its input when no job had been kept
(fixed in ``cli/commands.py``); a suspect job (answered after a lost reply) carrying the id
of another batch's job, ended long before, timed the run's jobs at 0.5 s, so a lost batch's
records were checked while its lost job still held them and reported already converted,
never converted (fixed in ``bulk/machine.py``). The known limit "Job ids Zoho gives to two
submissions" (README), not seen before, showed in 6 of 2,000 CLI runs with duplicate job
ids and FAILED jobs or locked records: pinned as a strict ``xfail``. The other failures were
known limits too (jobs queued one after another; lost jobs longer than ``unknown_wait`` or
than the margin over the few jobs measured), or none (an id converted before the run that a
stopped run never sent, reported ``NOT_SUBMITTED``: true, though the ledger holds it).
Combinations the client handles are kept at the end. Client and server share one virtual
clock (``SummingTime``): no test sleeps for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from alt_env import journaled_run
from alt_server import AltConfig, Rates
from fakes import SummingTime, deadline
from test_unseen_server import judge
from truth import RETRY, assert_report_true, client_of, ledger, simulator_with

import zoho_convert.cli.clients as cli_clients
import zoho_convert.cli.commands as cli_commands
from zoho_convert import ConversionReport, PollPolicy, SettlePolicy
from zoho_convert.bulk import events
from zoho_convert.bulk.ledger import MemoryLedger
from zoho_convert.cli.commands import cmd_convert, cmd_resume
from zoho_convert.cli.errors import InputError
from zoho_convert.cli.parser import build_parser
from zoho_convert.fleet import LocalFleet
from zoho_convert.simulator import Faults, Simulator, SimulatorConfig
from zoho_convert.simulator.state import CrmState

CASE_TIMEOUT = 10.0
POLL = PollPolicy(initial=0.5, multiplier=2.0, max_interval=5.0, timeout=3_000)


@contextlib.contextmanager
def cli_on(time: SummingTime, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI's clients on the test's virtual clock (and fast retries)."""
    patched = functools.partial(
        cli_clients.ZohoConvertClient, sleep=time.sleep, clock=time.clock, retry=RETRY
    )
    with monkeypatch.context() as patch:
        patch.setattr(cli_clients, "ZohoConvertClient", patched)
        yield


async def test_the_cli_prints_the_report_of_a_run_its_input_stopped_before_any_job_was_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``zoho-convert convert --json --failed-ids`` of 600 quotes whose file turns out not to
    be UTF-8 past its first 8 KB, against the package simulator answering every mass convert
    500 after processing it: the run stops reading (409 ids read); the 8 whole batches read
    go on to their end (each converted by its job, its reply lost, and its settling too): 400
    ``uncertain``, the 9 ids of the last, partial batch ``NOT_SUBMITTED``, and the input's
    error raised after. (Before the input's error let what was read go on, one batch was
    sent: 50 ``uncertain``, 359 ``NOT_SUBMITTED``.) Observed before the CLI fix: it printed
    nothing and wrote no ``--failed-ids`` (it printed a stopped run's report only when it had
    a job), so the records the server converted were listed nowhere; only "not UTF-8 text
    further on" on stderr, exit 1."""
    time = SummingTime()
    count = 600
    ids = CrmState(SimulatorConfig(seed=7)).create_records("Quotes", count)
    faults = Faults(rate_500=1.0, fault_after_processing=True, fault_endpoints={"mass_convert"})
    config = SimulatorConfig(seed=7, faults=faults, clock=time.clock, job_duration=2.0)
    ids_file = tmp_path / "ids.txt"
    ids_file.write_bytes(("\n".join(ids) + "\n").encode() + b"\xff\xfe\n")
    failed_ids = tmp_path / "failed.tsv"
    argv = ["convert", "Quotes", "--to", "Sales_Orders", "--ids-file", str(ids_file)]
    argv += ["--json", "--quiet", "--failed-ids", str(failed_ids)]
    async with Simulator(config) as sim:
        assert sim.state.create_records("Quotes", count) == ids
        env = {"ZOHO_ACCESS_TOKEN": sim.access_token, "ZOHO_API_DOMAIN": sim.url}
        with cli_on(time, monkeypatch), pytest.raises(InputError):
            async with deadline(CASE_TIMEOUT):
                await cmd_convert(build_parser().parse_args(argv), env)
        time.now += 10_000
        converted = {i for i in ids if sim.state.conversions.get(("Quotes", i), 0)}
    printed = capsys.readouterr().out
    assert printed, "the CLI printed no report"
    report = json.loads(printed)
    assert len(converted) == 400
    assert converted <= set(report["uncertain"]), "a record the server converted is unlisted"
    assert report["ok"] is False and not report["converted"]
    listed = {line.split("\t", 1)[0] for line in failed_ids.read_text().splitlines()}
    assert converted <= listed and len(listed) == report["total"] == 409


DUPLICATES = Faults(
    rate_500=0.5,
    fault_after_processing=True,
    fault_endpoints={"mass_convert"},
    duplicate_job_id_rate=0.5,
    failed_job_rate=0.5,
)


async def convert_with_duplicate_job_ids(seed: int) -> tuple[ConversionReport, dict[str, int]]:
    """20 quotes in batches of 10 against the package simulator (seeded) with half the mass
    converts processed then answered 500, half answered with the job id of the latest earlier
    job, half the jobs ending FAILED; jobs of 2 s. The report and the ledger."""
    async with contextlib.AsyncExitStack() as stack:
        sim, time, ids = await simulator_with(stack, "Quotes", 20, seed=seed, faults=DUPLICATES)
        client = await client_of(stack, sim, time)
        async with deadline(CASE_TIMEOUT):
            report = await client.convert_many(
                "Quotes", ids, to="Sales_Orders", batch_size=10, poll=POLL
            )
        time.now += 10_000
        return report, ledger(sim, "Quotes", ids)


async def test_a_suspect_job_found_failed_does_not_time_the_lost_jobs() -> None:
    """Both first submissions processed, their replies lost (both jobs FAILED); 60 s later
    batch A's resubmission is answered with the job id of batch B's first job (ended FAILED
    long before, found so at its first poll, 0.5 s later), B's resubmission is lost again
    (its job runs from 1060.5 to 1062.5 s and fails). Observed before: A's borrowed job timed
    the run's jobs at 0.5 s, so B's records were checked by single converts at 1061.5 s while
    its lost job still held them; the simulator refused them as converted: all 20 reported
    ``already_converted``, ``ok`` true, while 10 were never converted. (Fixed in
    ``bulk/machine.py``, ``RunMachine.finished``: a suspect job the run does not take as its
    own times nothing.)"""
    report, counts = await convert_with_duplicate_job_ids(2)
    assert_report_true(report, counts)
    assert sum(counts.values()) == 20 and report.converted + report.already_converted == 20


@pytest.mark.xfail(
    strict=True,
    reason=(
        "README known limit 'Job ids Zoho gives to two submissions', reproduced: "
        "bulk/machine.py RunMachine.finished takes a suspect batch's job that converted every "
        "record as its own (JobFinished), though its id may be a lost submission's job. Here "
        "batch A's resubmission is lost (its job converts A's 10 records) and batch B's "
        "resubmission is answered with A's lost job's id while B's own job FAILED: B's 10 "
        "records are reported converted, never converted. Suggested fix: check a suspect "
        "job's records one by one also when it converted them all, once the batch's own job "
        "has surely ended (a refusal as converted then reads already converted, the rest "
        "converted now), at a single convert per record of each suspect job"
    ),
)
async def test_a_suspect_job_that_converted_every_record_may_be_another_batchs() -> None:
    """Seed 24 of the case above: batch B (ids 10-19) is reported converted by job 24, which
    converted batch A's records (A's resubmission, whose reply was lost); B's own job 25 ended
    FAILED. The ledger holds none of B's records."""
    report, counts = await convert_with_duplicate_job_ids(24)
    assert_report_true(report, counts)


# -- combinations the client handles ------------------------------------------------------

LOST = Rates(p500_after=0.3, pdrop_after=0.1, p429=0.1)


async def test_leads_in_job_failures_of_converted_leads_checked_by_convert_lead(alt: Any) -> None:
    """60 Leads (3 converted before the run), batches of 7, a job failing converted leads
    inside it and ending FAILED when any failed, submits lost (500 or dropped after
    processing), statuses forgotten 0.5 s after their jobs end (the error inside ``data``),
    Convert Lead errors inside ``data`` with HTTP 202 and some lost: the report is true id by
    id, no lead sent while a job holds it, and the settling jobs' failures were checked with
    Convert Lead (so none of the leads the lost jobs converted is reported failed)."""
    config = AltConfig(
        seed=701,
        token_life=1e9,
        leads_mass=True,
        already="in_job",
        failed_state="failed_if_any",
        forget_after=0.5,
        forget_reply="data_error",
        single_errors="data",
        scheduled_for=0.2,
        duration=2.0,
        rates={"submit": LOST, "lead": Rates(p500_after=0.1, pdrop_after=0.1)},
    )
    env = await alt(config)
    ids = env.server.create("Leads", 60)
    before = [ids[3], ids[20], ids[41]]
    env.server.preconvert("Leads", before)
    client = await env.client()
    async with deadline(CASE_TIMEOUT):
        report = await client.convert_many("Leads", ids, batch_size=7, poll=POLL)
    env.time.now += 100_000
    judge(report, env.server.counts("Leads", ids), before)
    assert not env.server.overlaps, f"{len(env.server.overlaps)} records sent while held"
    assert ("submit", "500_after") in env.server.faults or ("submit", "drop_after") in (
        env.server.faults
    )
    assert any(path.endswith("/actions/convert") for _, path in env.server.requests)


STOPS = [
    (events.IdsAlreadyConverted, 1),
    (events.IdsAlreadyConverted, 8),
    (events.BatchUncertain, 1),
    (events.JobFinished, 2),
    (events.LongestJob, 1),
    (events.SubmitStarted, 4),
]


@pytest.mark.parametrize(("kind", "nth"), STOPS, ids=[f"{k.__name__}-{n}" for k, n in STOPS])
async def test_a_run_cancelled_while_settling_resumed_twice_with_other_policies(
    alt: Any, tmp_path: Path, kind: type, nth: int
) -> None:
    """40 Quotes in batches of 10 (2 converted before the run, failed inside the jobs), the
    2nd and 3rd submits processed then lost, settled record by record: the journaled run is
    cancelled at the ``nth`` event of ``kind`` (a record check's answer, a lost batch given
    up, a job's end, ...), resumed by mass resubmission in one round and cancelled at
    its first event of a settled batch or job, then resumed again record by record, and the
    finished journal resumed once more: each report is true to the ledger id by id, the
    last two alike, and no record is sent while a job holds it."""
    config = AltConfig(
        seed=702,
        token_life=1e9,
        already="in_job",
        scheduled_for=0.2,
        duration=2.0,
        fault_plan={"submit": [None, "500_after", "drop_after"]},
    )
    env = await alt(config)
    ids = env.server.create("Quotes", 40)
    before = [ids[4], ids[27]]
    env.server.preconvert("Quotes", before)
    journal = str(tmp_path / "run.db")
    seen = 0
    task: asyncio.Task[ConversionReport] | None = None

    def stop_at(wanted: type, count: int) -> Any:
        def progress(event: object) -> None:
            nonlocal seen
            if isinstance(event, wanted):
                seen += 1
                if seen == count and task is not None:
                    task.cancel()

        return progress

    first = await env.client()
    async with deadline(CASE_TIMEOUT):
        task = journaled_run(first, ids, journal, stop_at(kind, nth), poll=POLL)
        with contextlib.suppress(asyncio.CancelledError):
            await task
        stopped_first = task.cancelled()
        seen = 0
        by_mass = SettlePolicy(record_by_record=False, max_rounds=1)
        task = asyncio.create_task(
            (await env.client()).resume(
                journal, ids=iter(ids), poll=POLL, settle=by_mass,
                progress=stop_at(events.JobFinished, 1),
            )
        )
        with contextlib.suppress(asyncio.CancelledError):
            await task
        env.time.now += 30.0
        report = await (await env.client()).resume(journal, ids=iter(ids), poll=POLL)
        again = await (await env.client()).resume(journal, poll=POLL)
    env.time.now += 100_000
    counts = env.server.counts("Quotes", ids)
    judge(report, counts, before)
    judge(again, counts, before)
    assert stopped_first, "the first session ended before the event"
    assert not env.server.overlaps, f"{len(env.server.overlaps)} records sent while held"
    assert again.converted == report.converted and again.uncertain == report.uncertain


async def test_two_fleet_workers_with_overlapping_lists_one_losing_its_replies(alt: Any) -> None:
    """Two workers of one fleet (a ``MemoryLedger`` on the test's clock) convert 40 Quotes
    each, 20 of them shared (the second's list reversed), at once; every submit of the first
    worker is processed then lost or dropped (its fault plan), none of the second's; jobs of
    2 s, converted records failed inside a job. Each report is true id by id (an id the other
    worker converted: already converted, or held: ``CLAIMED_ELSEWHERE``), no record is
    converted twice or sent while a job holds it."""
    config = AltConfig(
        seed=703,
        token_life=1e9,
        already="in_job",
        scheduled_for=0.2,
        duration=2.0,
        fault_plan={"submit": ["500_after", "drop_after", "500_after", "drop_after"]},
    )
    env = await alt(config)
    ids = env.server.create("Quotes", 60)
    lists = [ids[:40], list(reversed(ids[20:]))]
    shared = MemoryLedger(clock=env.time.clock)
    clients = [await env.client(fleet=LocalFleet(ledger=shared)) for _ in lists]
    async with deadline(CASE_TIMEOUT):
        reports = await asyncio.gather(
            *(
                client.convert_many(
                    "Quotes", values, to="Sales_Orders", batch_size=10, poll=POLL
                )
                for client, values in zip(clients, lists, strict=True)
            )
        )
    env.time.now += 100_000
    counts = env.server.counts("Quotes", ids)
    assert set(counts.values()) == {1}, "a record converted twice, or never"
    for report, values in zip(reports, lists, strict=True):
        assert report.accounted_for and report.total == len(values)
        said_done = set(values) - set(report.uncertain) - {
            item.id for item in report.rejected
        } - {i for job in report.jobs for i in job.ids}
        assert all(counts[i] == 1 for i in said_done)
        assert {item.code for item in report.rejected} <= {"CLAIMED_ELSEWHERE"}
    assert not env.server.overlaps, f"{len(env.server.overlaps)} records sent while held"
    assert ("submit", "500_after") in env.server.faults


class Broke(Exception):
    """The caller's id source failed."""


async def test_async_input_failing_midway_journaled_then_resumed(
    alt: Any, tmp_path: Path
) -> None:
    """An async source of 45 Leads (ids as ints and strings, 5 repeats, an invalid id) that
    raises after 30 values, batches of 7, the 2nd submit processed then lost: the run stops
    reading and sending (the ids read but not sent are ``NOT_SUBMITTED``), every id read is
    accounted for; the journal resumed with the whole source again sends the rest and
    settles the lost batch: the report is true to the ledger id by id, nothing sent while
    held."""
    config = AltConfig(
        seed=704,
        token_life=1e9,
        leads_mass=True,
        already="in_job",
        scheduled_for=0.2,
        duration=2.0,
        fault_plan={"submit": [None, "500_after"]},
    )
    env = await alt(config)
    ids = env.server.create("Leads", 40)
    feed: list[Any] = []
    for k, value in enumerate(ids):
        feed.append(int(value) if k % 3 == 0 else value)
        if k % 8 == 7:
            feed.append(ids[k - 4])
    feed.insert(12, "12ab")
    fail_at: int | None = 30

    async def source() -> AsyncIterator[Any]:
        for k, value in enumerate(feed):
            if k == fail_at:
                raise Broke()
            yield value

    journal = str(tmp_path / "run.db")
    async with deadline(CASE_TIMEOUT):
        with pytest.raises(Broke) as stopped:
            await (await env.client()).convert_many(
                "Leads", source(), batch_size=7, poll=POLL, journal=journal
            )
        partial: ConversionReport = stopped.value.partial_report  # type: ignore[attr-defined]
        assert partial.accounted_for and not partial.input_complete
        assert any(item.code == "NOT_SUBMITTED" for item in partial.rejected)
        fail_at = None
        report = await (await env.client()).resume(journal, ids=source(), poll=POLL)
    env.time.now += 100_000
    assert [item.id for item in report.rejected] == ["12ab"]
    valid = attrs.evolve(report, rejected=(), total=report.total - 1)
    judge(valid, env.server.counts("Leads", ids), [])
    assert report.input_complete and report.converted + report.already_converted == 40
    assert not env.server.overlaps, f"{len(env.server.overlaps)} records sent while held"
    assert env.server.faults == [("submit", "500_after")]


async def test_the_cli_interrupted_then_resumed_reports_true_against_the_simulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``zoho-convert convert --journal --json`` of 60 quotes (2 converted before the run, a
    repeat, a ``zcrm_`` prefix, an invalid id in the file), a third of the mass converts
    processed then answered 500, jobs of 2 s, cancelled at its 12th event (as Ctrl-C does),
    then ``zoho-convert resume --settle-by-mass``: the interrupted run's report and the
    resumed one are printed whole, and the resumed JSON is true to the simulator's ledger id
    by id; ``--failed-ids`` lists the invalid id."""
    time = SummingTime()
    ids = CrmState(SimulatorConfig(seed=705)).create_records("Quotes", 60)
    before = [ids[5], ids[33]]
    faults = Faults(rate_500=0.3, fault_after_processing=True, fault_endpoints={"mass_convert"})
    config = SimulatorConfig(seed=705, faults=faults, clock=time.clock, job_duration=2.0)
    lines = [*ids[:20], "zcrm_" + ids[20], *ids[21:], ids[7], "12ab"]
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(lines) + "\n")
    journal, failed = tmp_path / "run.db", tmp_path / "failed.tsv"
    reports: list[ConversionReport] = []
    shown = cli_commands.print_report

    def keep(report: ConversionReport, **options: Any) -> None:
        reports.append(report)
        shown(report, **options)

    monkeypatch.setattr(cli_commands, "print_report", keep)
    seen = 0
    task: asyncio.Future[int] | None = None
    base = cli_commands.display_for

    def cutting(args: Any) -> Any:
        display = base(args)

        def counted(event: object) -> None:
            nonlocal seen
            seen += 1
            if seen == 12 and task is not None:
                task.cancel()
            display(event)

        return _Counted(display, counted)

    monkeypatch.setattr(cli_commands, "display_for", cutting)
    common = ["--json", "--quiet", "--failed-ids", str(failed)]
    convert = ["convert", "Quotes", "--to", "Sales_Orders", "--ids-file", str(ids_file)]
    resume = ["resume", "--journal", str(journal), "--ids-file", str(ids_file)]
    async with Simulator(config) as sim:
        assert sim.state.create_records("Quotes", 60) == ids
        for value in before:
            sim.state._mark_converted("Quotes", int(value))
        env = {"ZOHO_ACCESS_TOKEN": sim.access_token, "ZOHO_API_DOMAIN": sim.url}
        with cli_on(time, monkeypatch):
            async with deadline(CASE_TIMEOUT):
                argv = [*convert, "--journal", str(journal), *common]
                task = asyncio.ensure_future(cmd_convert(build_parser().parse_args(argv), env))
                with pytest.raises(asyncio.CancelledError):
                    await task
                task = None
                argv = [*resume, *common, "--settle-by-mass"]
                code = await cmd_resume(build_parser().parse_args(argv), env)
        time.now += 10_000
        counts = ledger(sim, "Quotes", ids)
    printed = capsys.readouterr().out
    assert len(reports) == 2 and printed.count('"total"') == 2
    final = reports[-1]
    last = json.loads(printed[printed.rindex("\n{") + 1 :])
    assert last == json.loads(json.dumps(final.to_dict()))
    local = [item for item in final.rejected if item.code == "INVALID_ID"]
    assert [item.id for item in local] == ["12ab"]
    kept = tuple(item for item in final.rejected if item.code != "INVALID_ID")
    judged = attrs.evolve(final, rejected=kept, total=final.total - 1)
    assert_report_true(judged, counts, preconverted=before, either_converter=True)
    assert code == 1 and "12ab" in failed.read_text()
    assert sim.state.stats.responses_by_status.get(500)


class _Counted:
    """A progress display whose events go through ``counted`` (which passes them on)."""

    def __init__(self, display: Any, counted: Any) -> None:
        self._display, self._counted = display, counted

    def __call__(self, event: object) -> None:
        self._counted(event)

    async def __aenter__(self) -> Any:
        await self._display.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> Any:
        return await self._display.__aexit__(*exc)
