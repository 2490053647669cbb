"""`zoho-convert convert`, run as a real process against the simulator over real HTTP."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from cli_helpers import (
    FAST_POLL,
    RecordedRequest,
    StartSim,
    no_traceback,
    one_line,
    run_cli,
    sim_env,
    write_ids,
)

from zoho_convert.simulator import Faults, SimulatorThread
from zoho_convert.simulator.catalog import find_module, module_id


def _ledger_counts(sim: SimulatorThread, module: str) -> Counter[str]:
    return Counter({rid: n for (mod, rid), n in sim.state.conversions.items() if mod == module})


def test_convert_json_report_matches_the_simulator_ledger(
    start_sim: StartSim, tmp_path: Path
) -> None:
    """--json prints the library's report, and it agrees id for id with the simulator's ledger."""
    sim = start_sim(seed=3, strict_records=True)
    ids = sim.state.create_records("Quotes", 120)
    ids_file = write_ids(tmp_path / "ids.txt", ids)

    result = run_cli(
        "convert", "Quotes", "--to", "Sales_Orders", "--ids-file", ids_file, "--json",
        *FAST_POLL, env=sim_env(sim),
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert (report["module"], report["to"]) == ("Quotes", "Sales_Orders")
    assert (report["total"], report["converted"], report["failed"]) == (120, 120, 0)
    assert report["rejected"] == report["uncertain"] == report["unfinished"] == []
    assert report["input_complete"] is True
    ledger = _ledger_counts(sim, "Quotes")
    assert set(ledger) == set(ids)
    assert set(ledger.values()) == {1}
    # Every job of the report is a job the simulator ran, and together they hold every id.
    jobs = {job["job_id"]: job for job in report["jobs"]}
    assert len(jobs) == 3
    assert set(jobs) == set(sim.state.jobs)
    simulated = [str(rid) for job_id in jobs for rid in sim.state.jobs[job_id].ids]
    assert sorted(simulated) == sorted(ids)
    for job_id, job in jobs.items():
        assert job["status"]["state"] == "COMPLETED"
        assert job["status"]["converted_count"] == len(sim.state.jobs[job_id].ids)
        assert sim.state.jobs[job_id].target == "Sales_Orders"


def test_convert_prints_a_table_by_default(sim: SimulatorThread, tmp_path: Path) -> None:
    """Without --json the report is a table on stdout, and a piped stderr stays empty."""
    ids_file = write_ids(tmp_path / "ids.txt", [str(n) for n in range(1000, 1075)])

    result = run_cli(
        "convert", "Quotes", "--to", "Invoices", "--ids-file", ids_file,
        *FAST_POLL, env=sim_env(sim),
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == "Quotes → Invoices: OK"
    rows = dict(re.fullmatch(r"  (\S.*?)\s+(\S+( s)?)", line).group(1, 2) for line in lines[1:])
    assert rows["ids read"] == "75"
    assert rows["converted"] == "75"
    assert rows["jobs"] == "2"
    assert len(sim.state.converted_ids("Quotes")) == 75


def test_convert_reads_a_csv_column(sim: SimulatorThread, tmp_path: Path) -> None:
    """--column takes the ids from that CSV column (quoted fields, BOM, blank cells skipped)."""
    csv_file = tmp_path / "quotes.csv"
    csv_file.write_text(
        "\ufeffSubject,Quote Id,Owner\n"
        '"Desk, large",5001,Ann\n'
        "Chair,5002,Bob\n"
        "No id,,Cy\n"
        "Lamp,5003,Dee\n",
        encoding="utf-8",
    )

    result = run_cli(
        "convert", "Quotes", "--to", "Sales_Orders", "--ids-file", csv_file,
        "--column", "Quote Id", "--json", *FAST_POLL, env=sim_env(sim),
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["converted"] == 3
    assert sim.state.converted_ids("Quotes") == {"5001", "5002", "5003"}


def test_convert_reads_ids_from_standard_input(sim: SimulatorThread) -> None:
    """`--ids-file -` reads the ids from stdin."""
    ids = [str(n) for n in range(7000, 7060)]

    result = run_cli(
        "convert", "Sales_Orders", "--to", "Invoices", "--ids-file", "-", "--json",
        env=sim_env(sim), stdin="\n".join(ids) + "\n",
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["module"], report["to"], report["converted"]) == ("Sales_Orders", "Invoices", 60)
    assert sim.state.converted_ids("Sales_Orders") == set(ids)


def test_convert_sends_the_options_given_on_the_command_line(
    sim: SimulatorThread, recorded: list[RecordedRequest], tmp_path: Path
) -> None:
    """--batch-size, --concurrency, --related, --assign-to and --carry-over-tags reach the wire."""
    ids = [str(n) for n in range(9000, 9040)]
    calls = find_module("Calls")
    tasks = find_module("Tasks")
    assert calls is not None and tasks is not None
    calls_id = module_id(sim.state.org_prefix, calls)
    tasks_id = module_id(sim.state.org_prefix, tasks)

    result = run_cli(
        "convert", "Quotes", "--to", "Sales_Orders", "--ids-file",
        write_ids(tmp_path / "ids.txt", ids), "--batch-size", "7", "--concurrency", "2",
        "--related", f"Calls:{calls_id}", f"Tasks:{tasks_id}", "--assign-to", "4150868000000225013",
        "--carry-over-tags", "--json", *FAST_POLL, env=sim_env(sim),
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["converted"] == 40
    submissions = [r.body for r in recorded if r.endpoint == "mass_convert"]
    assert sorted(len(body["ids"]) for body in submissions) == [5, 7, 7, 7, 7, 7]
    assert sorted(i for body in submissions for i in body["ids"]) == ids
    for body in submissions:
        assert body["assign_to"] == {"id": "4150868000000225013"}
        assert body["related_modules"] == [
            {"api_name": "Calls", "id": calls_id},
            {"api_name": "Tasks", "id": tasks_id},
        ]
        (convert_to,) = body["convert_to"]
        assert convert_to["module"]["api_name"] == "Sales_Orders"
        assert convert_to["carry_over_tags"] is True
    assert sim.state.stats.peak_in_flight <= 2


def test_convert_leaves_tags_and_owner_alone_by_default(
    sim: SimulatorThread, recorded: list[RecordedRequest], tmp_path: Path
) -> None:
    """Without the flags, batches are 50 ids, tags are not carried over and no owner is set."""
    ids = [str(n) for n in range(9100, 9160)]

    result = run_cli(
        "convert", "Quotes", "--to", "Sales_Orders", "--ids-file",
        write_ids(tmp_path / "ids.txt", ids), "--json", *FAST_POLL, env=sim_env(sim),
    )

    assert result.returncode == 0, result.stderr
    submissions = [r.body for r in recorded if r.endpoint == "mass_convert"]
    assert sorted(len(body["ids"]) for body in submissions) == [10, 50]
    for body in submissions:
        assert "assign_to" not in body and "related_modules" not in body
        assert body["convert_to"][0]["carry_over_tags"] is False


def test_convert_leads(
    sim: SimulatorThread, recorded: list[RecordedRequest], tmp_path: Path
) -> None:
    """`convert Leads` uses the Leads mass-convert API; no --to is needed."""
    ids = [str(n) for n in range(8000, 8055)]

    result = run_cli(
        "convert", "Leads", "--ids-file", write_ids(tmp_path / "leads.txt", ids), "--json",
        *FAST_POLL, env=sim_env(sim),
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["module"], report["to"], report["converted"]) == ("Leads", None, 55)
    assert sim.state.converted_ids("Leads") == set(ids)
    assert {r.endpoint for r in recorded} == {"lead_mass_convert", "lead_mass_convert_status"}


def test_rejected_ids_exit_1_and_are_listed(start_sim: StartSim, tmp_path: Path) -> None:
    """Invalid and already-converted ids make the run exit 1; the rest is converted once."""
    sim = start_sim(seed=5, invalid_ids={"6003"})
    ids = [str(n) for n in range(6000, 6030)]
    ids_file = write_ids(tmp_path / "ids.txt", [*ids, "not-an-id"])
    first = run_cli(
        "convert", "Quotes", "--to", "Sales_Orders", "--ids-file",
        write_ids(tmp_path / "first.txt", ["6010", "6011"]), *FAST_POLL, env=sim_env(sim),
    )
    assert first.returncode == 0, first.stderr

    result = run_cli(
        "convert", "Quotes", "--to", "Sales_Orders", "--ids-file", ids_file, "--json",
        *FAST_POLL, env=sim_env(sim),
    )

    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False
    codes = {item["id"]: item["code"] for item in report["rejected"]}
    assert codes == {
        "6003": "INVALID_DATA",
        "6010": "ID_ALREADY_CONVERTED",
        "6011": "ID_ALREADY_CONVERTED",
        "not-an-id": "INVALID_ID",
    }
    assert report["converted"] == 27
    assert sim.state.converted_ids("Quotes") == set(ids) - {"6003"}
    assert set(_ledger_counts(sim, "Quotes").values()) == {1}

    table = run_cli(
        "convert", "Quotes", "--to", "Sales_Orders", "--ids-file", ids_file,
        *FAST_POLL, env=sim_env(sim),
    )
    assert table.returncode == 1
    assert "needs attention" in table.stdout
    assert "rejected 6003: INVALID_DATA" in table.stdout


def test_failed_jobs_exit_1(start_sim: StartSim, tmp_path: Path) -> None:
    """Jobs that end FAILED make the run exit 1 and count as failed."""
    sim = start_sim(seed=5, faults=Faults(failed_job_rate=1.0))
    ids_file = write_ids(tmp_path / "ids.txt", [str(n) for n in range(100, 160)])

    result = run_cli(
        "convert", "Quotes", "--to", "Sales_Orders", "--ids-file", ids_file, "--json",
        *FAST_POLL, env=sim_env(sim),
    )

    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert (report["converted"], report["failed"]) == (0, 60)
    assert {job["status"]["state"] for job in report["jobs"]} == {"FAILED"}
    assert sim.state.converted_ids("Quotes") == set()


def test_a_run_wide_api_error_is_one_line_and_exit_1(sim: SimulatorThread, tmp_path: Path) -> None:
    """A related module id Zoho refuses stops the run: exit 1, one line, no traceback."""
    result = run_cli(
        "convert", "Quotes", "--to", "Sales_Orders", "--ids-file",
        write_ids(tmp_path / "ids.txt", ["1", "2"]), "--related", "Calls:12345",
        *FAST_POLL, env=sim_env(sim),
    )

    assert result.returncode == 1
    no_traceback(result)
    assert "AMBIGUITY_DURING_PROCESSING" in one_line(result.stderr)
    assert sim.state.converted_ids("Quotes") == set()


def test_module_names_in_any_case(sim: SimulatorThread, tmp_path: Path) -> None:
    """`convert quotes --to "sales orders"` is Quotes → Sales_Orders."""
    ids = [str(n) for n in range(9300, 9310)]

    result = run_cli(
        "convert", "quotes", "--to", "sales orders", "--ids-file",
        write_ids(tmp_path / "ids.txt", ids), "--json", *FAST_POLL, env=sim_env(sim),
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["module"], report["to"], report["converted"]) == ("Quotes", "Sales_Orders", 10)


def test_zoho_export_ids_and_semicolon_csv(sim: SimulatorThread, tmp_path: Path) -> None:
    """Ids written zcrm_123 (Zoho's exports) lose the prefix, in lists and semicolon CSVs."""
    listed = write_ids(tmp_path / "ids.txt", ["zcrm_9401", "zcrm_9402", "9403"])
    semicolons = tmp_path / "export.csv"
    semicolons.write_text("Record Id;Subject\nzcrm_9404;Desk\nzcrm_9405;Chair\n")

    first = run_cli(
        "convert", "Quotes", "--to", "Invoices", "--ids-file", listed, "--json", *FAST_POLL,
        env=sim_env(sim),
    )
    second = run_cli(
        "convert", "Quotes", "--to", "Invoices", "--ids-file", semicolons, "--column",
        "Record Id", "--json", *FAST_POLL, env=sim_env(sim),
    )

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert sim.state.converted_ids("Quotes") == {"9401", "9402", "9403", "9404", "9405"}


def test_related_modules_by_name_are_looked_up(
    sim: SimulatorThread, recorded: list[RecordedRequest], tmp_path: Path
) -> None:
    """`--related Calls` needs no id: it is looked up in the Modules API, as --to is."""
    calls = find_module("Calls")
    assert calls is not None

    result = run_cli(
        "convert", "Quotes", "--to", "Sales_Orders", "--ids-file",
        write_ids(tmp_path / "ids.txt", ["9501", "9502"]), "--related", "Calls", "--json",
        *FAST_POLL, env=sim_env(sim),
    )

    assert result.returncode == 0, result.stderr
    (body,) = [r.body for r in recorded if r.endpoint == "mass_convert"]
    assert body["related_modules"] == [
        {"api_name": "Calls", "id": module_id(sim.state.org_prefix, calls)}
    ]


def test_failed_ids_file_lists_every_id_needing_attention(
    start_sim: StartSim, tmp_path: Path
) -> None:
    """--failed-ids: one `id<TAB>reason` line per failed-job, rejected or uncertain id."""
    sim = start_sim(seed=8, invalid_ids={"6101"}, faults=Faults(failed_job_rate=0.5))
    ids = [str(n) for n in range(6100, 6140)]
    failed_ids = tmp_path / "failed.tsv"

    result = run_cli(
        "convert", "Quotes", "--to", "Sales_Orders", "--ids-file",
        write_ids(tmp_path / "ids.txt", [*ids, "bad-id"]), "--batch-size", "5",
        "--failed-ids", failed_ids, "--json", *FAST_POLL, env=sim_env(sim),
    )

    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    rows = list(csv.reader(failed_ids.read_text().splitlines(), delimiter="\t"))
    assert all(len(row) == 2 and row[1] for row in rows)
    listed = {row[0]: row[1] for row in rows}
    assert len(listed) == len(rows)  # each id once
    failed_jobs = [job for job in report["jobs"] if job["status"]["state"] == "FAILED"]
    assert failed_jobs  # the seed fails some jobs
    for job in failed_jobs:
        for value in job["ids"]:
            assert listed[value].startswith(f"job {job['job_id']} FAILED")
    for item in report["rejected"]:
        assert listed[item["id"]].startswith(item["code"])
    assert listed["bad-id"].startswith("INVALID_ID")
    converted = sim.state.converted_ids("Quotes")
    assert set(listed) | converted == {*ids, "bad-id"}
    assert not set(listed) & converted


def test_text_report_lines_are_never_wrapped(start_sim: StartSim, tmp_path: Path) -> None:
    """A rejection line longer than the terminal (COLUMNS=20) is still one line, for grep."""
    sim = start_sim(seed=9, invalid_ids={"6201"})
    failed_ids = tmp_path / "failed.tsv"

    result = run_cli(
        "convert", "Quotes", "--to", "Sales_Orders", "--ids-file",
        write_ids(tmp_path / "ids.txt", ["6200", "6201", "6202"]), "--failed-ids", failed_ids,
        *FAST_POLL, env=sim_env(sim, COLUMNS="20"),
    )

    assert result.returncode == 1
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("rejected ")]
    assert line.startswith("rejected 6201: INVALID_DATA ")
    assert len(line) > 20
    assert result.stdout.splitlines()[-1] == f"1 id needs attention: listed in {failed_ids}"
    assert failed_ids.read_text().startswith("6201\tINVALID_DATA: ")


def test_dry_run_plans_and_converts_nothing(
    sim: SimulatorThread, recorded: list[RecordedRequest], tmp_path: Path
) -> None:
    """--dry-run reads and checks every id, resolves the modules, prints the plan; no convert."""
    ids = [str(n) for n in range(9600, 9723)]  # 123 ids
    ids_file = write_ids(tmp_path / "ids.txt", [*ids, "oops", ids[0]])

    text = run_cli(
        "convert", "Quotes", "--to", "Invoices", "--ids-file", ids_file, "--dry-run",
        "--related", "Calls", env=sim_env(sim),
    )
    as_json = run_cli(
        "convert", "Quotes", "--to", "Invoices", "--ids-file", ids_file, "--dry-run",
        "--batch-size", "20", "--json", env=sim_env(sim),
    )

    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[0] == "dry run of Quotes → Invoices: nothing was converted"
    assert "123 ids to convert, 1 invalid, 1 duplicates" in text.stdout
    assert "3 batches of up to 50 ids (the last of 23)" in text.stdout
    assert (
        "about 8 requests (3 submissions, at least 3 status polls, 2 module lookups made now)"
        in text.stdout
    )
    plan = json.loads(as_json.stdout)
    assert plan["dry_run"] is True
    assert plan["ids"]["to_convert"] == 123
    assert plan["ids"]["invalid_examples"][0]["id"] == "oops"
    assert (plan["plan"]["batches"], plan["plan"]["last_batch"]) == (7, 3)
    assert plan["module_ids"]["Invoices"].isdigit()
    assert {r.endpoint for r in recorded} == {"modules"}
    assert sim.state.converted_ids("Quotes") == set()


def test_a_failed_ids_file_is_read_back_as_ids(sim: SimulatorThread, tmp_path: Path) -> None:
    """`--ids-file failed.tsv` converts the ids of a --failed-ids file (its first column)."""
    failed = tmp_path / "failed.tsv"
    failed.write_text("9701\tjob 55 FAILED: 0 of 2 converted\nzcrm_9702\tINVALID_DATA: x, y\n")

    result = run_cli(
        "convert", "Quotes", "--to", "Invoices", "--ids-file", failed, "--json", *FAST_POLL,
        env=sim_env(sim),
    )

    assert result.returncode == 0, result.stderr
    assert sim.state.converted_ids("Quotes") == {"9701", "9702"}


@pytest.mark.parametrize("by_mass", [True, False], ids=["--settle-by-mass", "default"])
def test_settle_by_mass_never_sends_a_single_convert(
    start_sim: StartSim, tmp_path: Path, by_mass: bool
) -> None:
    """Submissions whose reply is lost (processed, then 500) are settled one record at a time
    with the single convert call by default, and only by mass resubmission with
    --settle-by-mass; either way every record is converted once and the run is ok."""
    sim = start_sim(
        seed=4,
        job_duration=0.3,
        faults=Faults(rate_500=0.3, fault_after_processing=True, fault_endpoints={"mass_convert"}),
    )
    ids = sim.state.create_records("Quotes", 500)
    ids_file = write_ids(tmp_path / "ids.txt", ids)
    flag = ("--settle-by-mass",) if by_mass else ()

    result = run_cli(
        "convert", "Quotes", "--to", "Sales_Orders", "--ids-file", ids_file, "--json",
        *flag, *FAST_POLL, env=sim_env(sim),
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["already_converted"] > 0  # some replies were lost
    singles = sim.state.stats.requests_by_endpoint.get("convert", 0)
    assert (singles == 0) if by_mass else (singles > 0)
    assert not report["converted_by_record"]  # the lost submissions had converted them all
    ledger = _ledger_counts(sim, "Quotes")
    assert set(ledger) == set(ids) and set(ledger.values()) == {1}
