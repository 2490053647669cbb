"""Bad input: exit code 2, one clear line on stderr, and nothing sent to Zoho."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import attrs
import pytest
from cli_helpers import (
    base_env,
    no_traceback,
    one_line,
    requests_served,
    run_cli,
    sim_env,
    write_ids,
)
from leaks import assert_no_secret, fake_secret

from zoho_convert.simulator import SimulatorConfig, SimulatorThread

SEED_OPTIONS = Path(__file__).parent / "data" / "convertlead.json"


def _make_files(tmp_path: Path) -> Path:
    write_ids(tmp_path / "ids.txt", ["1001", "1002"])
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.txt").write_text("\n   \n\n")
    (tmp_path / "quotes.csv").write_text("Subject,Quote Id\nDesk,1001\n")
    (tmp_path / "semicolons.csv").write_text("Record Id;Subject\nzcrm_1001;Desk\n")
    (tmp_path / "header.txt").write_text("Record Id\n1001\n1002\n")
    (tmp_path / "header-only.csv").write_text("Subject,Quote Id\n")
    (tmp_path / "latin1.txt").write_bytes(b"1001\n\xe9\xe9\n")
    unreadable = tmp_path / "unreadable.txt"
    unreadable.write_text("1001\n")
    unreadable.chmod(0)
    (tmp_path / "bad.json").write_text('{"data": [')
    (tmp_path / "unknown-key.json").write_text('{"data": [{"overwrite": true, "colour": "red"}]}')
    (tmp_path / "deals.json").write_text('{"data": [{"Deals": {"Deal_Name": "x"}}]}')
    (tmp_path / "bad-id.json").write_text('{"data": [{"Accounts": {"id": "abc"}}]}')
    (tmp_path / "existing.journal").write_text("")
    return tmp_path


CONVERT = ("convert", "Quotes", "--to", "Sales_Orders")

# (arguments, words the one-line message must contain)
CASES = [
    pytest.param(
        (*CONVERT, "--ids-file", "missing.txt"), ("cannot read", "missing.txt"), id="no-file"
    ),
    pytest.param(
        (*CONVERT, "--ids-file", "unreadable.txt"), ("cannot read", "unreadable.txt"),
        id="unreadable-file",
        marks=pytest.mark.skipif(os.geteuid() == 0, reason="root reads a mode-0 file"),
    ),
    pytest.param((*CONVERT, "--ids-file", "."), ("cannot read",), id="a-directory"),
    pytest.param((*CONVERT, "--ids-file", "empty.txt"), ("empty.txt", "no ids"), id="empty-file"),
    pytest.param((*CONVERT, "--ids-file", "blank.txt"), ("no ids",), id="blank-lines-only"),
    pytest.param(
        (*CONVERT, "--ids-file", "latin1.txt"), ("latin1.txt", "UTF-8"), id="not-utf8"
    ),
    pytest.param(
        (*CONVERT, "--ids-file", "quotes.csv", "--column", "Id"),
        ("no column 'Id'", "Subject, Quote Id"),
        id="csv-without-column",
    ),
    pytest.param(
        (*CONVERT, "--ids-file", "quotes.csv"),
        ("quotes.csv looks like CSV with columns 'Subject', 'Quote Id'", "--column 'Quote Id'"),
        id="csv-given-as-a-list",
    ),
    pytest.param(
        (*CONVERT, "--ids-file", "semicolons.csv"),
        ("looks like CSV with columns 'Record Id', 'Subject'", "--column 'Record Id'"),
        id="semicolon-csv-given-as-a-list",
    ),
    pytest.param(
        (*CONVERT, "--ids-file", "header.txt"),
        ("first line of header.txt is 'Record Id', not an id", "--column 'Record Id'"),
        id="one-column-csv-given-as-a-list",
    ),
    pytest.param(
        (*CONVERT, "--ids-file", "header-only.csv", "--column", "Quote Id"),
        ("no ids in column",),
        id="csv-without-rows",
    ),
    pytest.param(
        (*CONVERT, "--ids-file", "empty.txt", "--column", "Quote Id"),
        ("empty", "CSV header"),
        id="csv-empty",
    ),
    pytest.param(
        ("convert", "Potentials", "--to", "Deals", "--ids-file", "ids.txt"),
        ("unknown module 'Potentials'",),
        id="unknown-module",
    ),
    pytest.param(
        ("convert", "Qoutes", "--to", "Invoices", "--ids-file", "ids.txt"),
        ("unknown module 'Qoutes' (did you mean Quotes?)", "Quotes, Sales_Orders, Leads"),
        id="misspelt-module",
    ),
    pytest.param(
        ("convert", "Quotes", "--to", "Invoice", "--ids-file", "ids.txt"),
        ("unknown module 'Invoice' (did you mean Invoices?)", "Quotes converts to"),
        id="misspelt-target",
    ),
    pytest.param(
        ("convert", "Sales_Orders", "--to", "Quotes", "--ids-file", "ids.txt"),
        ("Sales_Orders cannot be converted to 'Quotes'",),
        id="invalid-pair",
    ),
    pytest.param(
        ("convert", "Quotes", "--ids-file", "ids.txt"), ("--to is required",), id="missing-to"
    ),
    pytest.param(
        ("convert", "Leads", "--to", "Deals", "--ids-file", "ids.txt"),
        ("leave out --to",),
        id="leads-with-to",
    ),
    pytest.param(
        (*CONVERT, "--ids-file", "ids.txt", "--batch-size", "0"),
        ("--batch-size", "positive"),
        id="batch-size-0",
    ),
    pytest.param(
        (*CONVERT, "--ids-file", "ids.txt", "--batch-size", "51"),
        ("--batch-size", "at most 50"),
        id="batch-size-51",
    ),
    pytest.param(
        (*CONVERT, "--ids-file", "ids.txt", "--concurrency", "0"),
        ("--concurrency",),
        id="concurrency-0",
    ),
    pytest.param(
        (*CONVERT, "--ids-file", "ids.txt", "--related", ":123"),
        ("--related takes MODULE or MODULE:ID",),
        id="related-without-a-name",
    ),
    pytest.param(
        (*CONVERT, "--ids-file", "ids.txt", "--related", "Calls:twelve"),
        ("--related Calls:twelve", "not numeric"),
        id="related-bad-id",
    ),
    pytest.param(
        (*CONVERT, "--ids-file", "ids.txt", "--assign-to", "bob"),
        ("--assign-to", "not numeric"),
        id="assign-to-not-an-id",
    ),
    pytest.param(
        (*CONVERT, "--ids-file", "ids.txt", "--journal", "existing.journal"),
        ("exists already", "zoho-convert resume --journal existing.journal"),
        id="journal-exists",
    ),
    pytest.param(
        (*CONVERT, "--ids-file", "ids.txt", "--journal", "no/such/folder/j"),
        ("cannot create journal",),
        id="journal-folder-missing",
    ),
    pytest.param(
        (*CONVERT, "--ids-file", "ids.txt", "--journal", "/proc/run.db"),
        ("cannot create journal /proc/run.db",),
        id="journal-where-no-file-can-be",
    ),
    pytest.param(
        (*CONVERT, "--ids-file", "ids.txt", "--failed-ids", "no/such/folder/f.tsv"),
        ("cannot write --failed-ids no/such/folder/f.tsv",),
        id="failed-ids-folder-missing",
    ),
    pytest.param(
        (*CONVERT, "--ids-file", "ids.txt", "--sandbox", "--api-domain", "https://x.example"),
        ("--api-domain", "--environment sandbox", "set one"),
        id="sandbox-and-api-domain",
    ),
    pytest.param(("status", "Contacts", "123"), ("unknown module 'Contacts'",), id="status-module"),
    pytest.param(("status", "Quotes", "job 7"), ("job id 'job 7'",), id="status-job-id"),
    pytest.param(
        ("convert-record", "Quotes", "12", "--to", "Deals"),
        ("cannot be converted to 'Deals'",),
        id="record-invalid-pair",
    ),
    pytest.param(
        ("convert-record", "Leads", "12", "--to", "Contacts"), ("convert-lead",), id="record-lead"
    ),
    pytest.param(("convert-lead", "L-1"), ("lead id 'L-1'",), id="lead-id"),
    pytest.param(
        ("convert-lead", "12", "--options-file", "bad.json"),
        ("bad.json", "not valid JSON"),
        id="options-bad-json",
    ),
    pytest.param(
        ("convert-lead", "12", "--options-file", "unknown-key.json"),
        ("unknown-key.json", "colour", "unknown key"),
        id="options-unknown-key",
    ),
    pytest.param(
        ("convert-lead", "12", "--options-file", "deals.json"),
        ("deals.json", "Deals", "missing mandatory", "Closing_Date", "Stage", "Pipeline"),
        id="options-deals-missing-keys",
    ),
    pytest.param(
        ("convert-lead", "12", "--options-file", "bad-id.json"),
        ("bad-id.json", "'abc' is not numeric"),
        id="options-bad-id",
    ),
    pytest.param(
        ("convert-lead", "12", "--options-file", "-"),
        ("options file on standard input is not valid JSON",),
        id="options-stdin-empty",
    ),
    pytest.param(
        ("convert-lead", "12", "--options-file", "missing.json"),
        ("cannot read options file missing.json",),
        id="options-missing",
    ),
    pytest.param(("resume", "--journal", "missing.journal"), ("no journal",), id="no-journal"),
    pytest.param(
        ("resume", "--journal", "ids.txt"), ("cannot resume from ids.txt",), id="not-a-journal"
    ),
]


@attrs.frozen
class _Outcomes:
    results: dict[tuple[str, ...], subprocess.CompletedProcess[str]]
    requests_served: int


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of good and bad input files."""
    return _make_files(tmp_path_factory.mktemp("inputs"))


@pytest.fixture(scope="module")
def bad_input_outcomes(files: Path) -> Iterator[_Outcomes]:
    """Every bad-input case run once, several at a time, against one simulator."""
    with SimulatorThread(SimulatorConfig(seed=1)) as sim:
        cases = [
            tuple(case.values[0])  # type: ignore[arg-type]
            for case in CASES
            if not any(mark.name == "skipif" and mark.args[0] for mark in case.marks)
        ]
        with ThreadPoolExecutor(max_workers=6) as pool:
            runs = pool.map(lambda args: run_cli(*args, env=sim_env(sim), cwd=files), cases)
            results = dict(zip(cases, runs, strict=True))
        yield _Outcomes(results, requests_served(sim))


@pytest.mark.parametrize(("args", "words"), CASES)
def test_bad_input_exits_2_with_one_line_and_sends_nothing(
    bad_input_outcomes: _Outcomes, args: tuple[str, ...], words: tuple[str, ...]
) -> None:
    """Each bad input is refused locally: exit 2, one clear line, no request reaches Zoho."""
    result = bad_input_outcomes.results[args]

    assert result.returncode == 2, (result.stdout, result.stderr)
    line = one_line(result.stderr)
    assert line.startswith("zoho-convert")
    assert "error:" in line
    for word in words:
        assert word in line
    assert result.stdout == ""
    no_traceback(result)
    assert bad_input_outcomes.requests_served == 0


def test_missing_credentials_is_one_paragraph_naming_the_variables(
    sim: SimulatorThread, files: Path
) -> None:
    """Without credentials: exit 2 and one paragraph naming exactly the variables to set."""
    result = run_cli(
        *CONVERT, "--ids-file", "ids.txt", env=base_env(ZOHO_API_DOMAIN=sim.url), cwd=files
    )

    assert result.returncode == 2
    paragraph = one_line(result.stderr)
    for name in (
        "ZOHO_ACCESS_TOKEN", "ZOHO_CLIENT_ID", "ZOHO_CLIENT_SECRET", "ZOHO_REFRESH_TOKEN",
        "ZOHO_DATA_CENTER",
    ):
        assert name in paragraph
    assert requests_served(sim) == 0


def test_incomplete_oauth_variables_name_the_missing_one(
    sim: SimulatorThread, files: Path
) -> None:
    """Two of the three refresh-token variables: the message names the third."""
    secret = fake_secret("cli incomplete client secret")
    env = base_env(
        ZOHO_API_DOMAIN=sim.url, ZOHO_CLIENT_ID="id-1", ZOHO_CLIENT_SECRET=secret
    )

    result = run_cli("convert-record", "Quotes", "5", "--to", "Invoices", env=env, cwd=files)

    assert result.returncode == 2
    line = one_line(result.stderr)
    assert "ZOHO_REFRESH_TOKEN is not set" in line
    assert_no_secret([result.stdout, result.stderr], [secret], "the CLI output")
    assert requests_served(sim) == 0


def test_unknown_data_center_is_a_usage_error(sim: SimulatorThread, files: Path) -> None:
    """ZOHO_DATA_CENTER must name a data center."""
    result = run_cli(
        *CONVERT, "--ids-file", "ids.txt", env=sim_env(sim, ZOHO_DATA_CENTER="mars"), cwd=files
    )

    assert result.returncode == 2
    assert "mars" in one_line(result.stderr)
    assert requests_served(sim) == 0


def test_seed_options_file_is_accepted(sim: SimulatorThread) -> None:
    """The seed's Convert Lead sample input converts the lead, with a deal named "test"."""
    result = run_cli(
        "convert-lead", "3652397000007566544", "--options-file", SEED_OPTIONS, "--json",
        env=sim_env(sim),
    )

    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["Accounts"]["id"] == "3652397000000624046"
    assert out["Contacts"]["id"] == "3652397000000624640"
    assert out["Deals"]["name"] == "test"
    assert sim.state.converted_ids("Leads") == {"3652397000007566544"}


def test_access_token_and_refresh_token_together_are_refused(
    sim: SimulatorThread, files: Path
) -> None:
    """Both kinds of credentials set: exit 2 naming them, rather than silently picking one."""
    env = sim_env(
        sim, ZOHO_CLIENT_ID="id-1", ZOHO_CLIENT_SECRET="secret-1", ZOHO_REFRESH_TOKEN="refresh-1"
    )

    result = run_cli(*CONVERT, "--ids-file", "ids.txt", env=env, cwd=files)

    assert result.returncode == 2
    line = one_line(result.stderr)
    assert "both ZOHO_ACCESS_TOKEN and ZOHO_CLIENT_ID" in line and "unset one" in line
    for secret in ("secret-1", "refresh-1", sim.access_token):
        assert secret not in line
    assert requests_served(sim) == 0


def test_plain_http_is_refused_with_the_cli_flag_named(sim: SimulatorThread, files: Path) -> None:
    """An http:// API domain off loopback: exit 2, and the advice names --allow-insecure-http."""
    result = run_cli(
        *CONVERT, "--ids-file", "ids.txt", "--api-domain", "http://zoho.example",
        env=sim_env(sim), cwd=files,
    )

    assert result.returncode == 2
    line = one_line(result.stderr)
    assert "--allow-insecure-http" in line
    assert "allow_insecure_http=True" not in line
    assert requests_served(sim) == 0
