"""status, convert-record, convert-lead, demo, simulate and --help as real processes."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import urllib.request
from pathlib import Path

import pytest
from cli_helpers import (
    CLI,
    FAST_POLL,
    TIMEOUT,
    StartSim,
    base_env,
    no_traceback,
    oauth_env,
    one_line,
    run_cli,
    sim_env,
    start_cli,
    wait_until,
    write_ids,
)
from fakes import FakeClock
from leaks import assert_no_secret, fake_secret

from zoho_convert import StaticToken, ZohoConvertClient
from zoho_convert.simulator import Faults, SimulatorThread

SEED_OPTIONS = Path(__file__).parent / "data" / "convertlead.json"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _submit_job(sim: SimulatorThread, ids: list[str]) -> str:
    async def submit() -> str:
        async with ZohoConvertClient(StaticToken(sim.access_token), api_domain=sim.url) as api:
            return await api.mass_convert("Quotes", ids, to="Invoices")

    return asyncio.run(submit())


def test_status_prints_a_running_job_and_wait_follows_it_to_the_end(
    start_sim: StartSim,
) -> None:
    """`status` shows a job as it is now; `status --wait` polls until it completes."""
    clock = FakeClock(0.0)  # the simulator's: jobs finish when the test says so
    sim = start_sim(seed=31, job_duration=10.0, clock=clock)
    job_id = _submit_job(sim, ["41", "42", "43"])
    env = sim_env(sim)

    now = run_cli("status", "Quotes", job_id, "--json", env=env)

    assert now.returncode == 0, now.stderr
    assert json.loads(now.stdout) == {
        "job_id": job_id, "state": "SCHEDULED", "total_count": 3, "converted_count": 0,
        "not_converted_count": 3, "failed_count": 0,
    }
    table = run_cli("status", "Quotes", job_id, env=env)
    assert "state: SCHEDULED" in table.stdout

    proc = start_cli("status", "Quotes", job_id, "--wait", *FAST_POLL, "--json", env=env)
    try:
        wait_until(lambda: sim.state.stats.polls_per_job.get(job_id, 0) >= 3, what="polls")
        clock.now = 10.0  # the job is done now
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    assert proc.returncode == 0, err
    assert json.loads(out)["state"] == "COMPLETED"
    assert json.loads(out)["converted_count"] == 3


def test_status_of_an_unknown_job_is_one_line_exit_1(sim: SimulatorThread) -> None:
    """Zoho's refusal of an unknown job id is one line on stderr and exit code 1."""
    result = run_cli("status", "Quotes", "123456", env=sim_env(sim))

    assert result.returncode == 1
    assert "INVALID_DATA" in one_line(result.stderr)
    no_traceback(result)


def test_convert_record_converts_once_then_refuses(sim: SimulatorThread) -> None:
    """convert-record prints the new record; converting it again is refused with exit 1."""
    env = sim_env(sim)

    first = run_cli("convert-record", "Quotes", "777", "--to", "Sales_Orders", "--json", env=env)

    assert first.returncode == 0, first.stderr
    record = json.loads(first.stdout)
    assert record["module"] == "Sales_Orders"
    assert record["id"].isdigit()
    assert sim.state.converted_ids("Quotes") == {"777"}

    again = run_cli("convert-record", "Quotes", "777", "--to", "Sales_Orders", env=env)

    assert again.returncode == 1
    assert "ID_ALREADY_CONVERTED" in one_line(again.stderr)
    assert again.stdout == ""


def test_convert_lead_without_options(sim: SimulatorThread) -> None:
    """convert-lead with no options creates a contact and an account, no deal: said in words."""
    result = run_cli("convert-lead", "9001", env=sim_env(sim))

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "lead 9001 converted"
    assert re.fullmatch(r"Contacts: \d+( \(.+\))?", lines[1])
    assert re.fullmatch(r"Accounts: \d+( \(.+\))?", lines[2])
    assert lines[3] == "Deals: none created"
    for python_repr in ("{", "}", "None", "'"):
        assert python_repr not in result.stdout
    assert sim.state.converted_ids("Leads") == {"9001"}


def test_convert_lead_reads_its_options_from_standard_input(sim: SimulatorThread) -> None:
    """`--options-file -` reads Zoho's Convert Lead JSON from stdin, as --ids-file - does."""
    options = SEED_OPTIONS.read_text(encoding="utf-8")

    result = run_cli(
        "convert-lead", "3652397000007566545", "--options-file", "-", "--json",
        env=sim_env(sim), stdin=options,
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Deals"]["name"] == "test"


def test_bad_token_exits_3(sim: SimulatorThread, tmp_path: Path) -> None:
    """A refused access token (401) is an authentication error: exit 3, one line."""
    ids_file = write_ids(tmp_path / "ids.txt", ["1", "2"])
    for module in ("Quotes", "Leads"):
        target = ("--to", "Invoices") if module == "Quotes" else ()
        result = run_cli(
            "convert", module, *target, "--ids-file", ids_file,
            env=sim_env(sim, ZOHO_ACCESS_TOKEN="1000.wrong.token"),
        )
        assert result.returncode == 3, result.stderr
        assert "INVALID_TOKEN" in one_line(result.stderr)
        no_traceback(result)
    assert sim.state.converted_ids("Quotes") == set()


def test_revoked_refresh_token_exits_3(sim: SimulatorThread) -> None:
    """A refresh token Zoho refuses (invalid_code) is an authentication error: exit 3."""
    sim.state.revoke_refresh_token()

    result = run_cli("convert-record", "Quotes", "5", "--to", "Invoices", env=oauth_env(sim))

    assert result.returncode == 3
    assert "invalid_code" in one_line(result.stderr)


# Even the client id is treated as secret here: the CLI has no reason to print it.
SECRETS = {
    "ZOHO_CLIENT_ID": fake_secret("cli client id"),
    "ZOHO_CLIENT_SECRET": fake_secret("cli client secret"),
    "ZOHO_REFRESH_TOKEN": fake_secret("cli refresh token"),
}
CLI_ACCESS_TOKEN = fake_secret("cli access token")
CLI_BAD_TOKEN = fake_secret("cli bad access token")
CLI_WRONG_SECRET = fake_secret("cli wrong client secret")


def test_no_secret_in_any_output_even_verbose(start_sim: StartSim, tmp_path: Path) -> None:
    """With --verbose, on success and on every error path, no secret reaches stdout/stderr."""
    # Access tokens that wear out after 25 uses: the OAuth run refreshes a few times.
    sim = start_sim(
        seed=33, client_id=SECRETS["ZOHO_CLIENT_ID"],
        client_secret=SECRETS["ZOHO_CLIENT_SECRET"],
        refresh_token=SECRETS["ZOHO_REFRESH_TOKEN"], access_token=CLI_ACCESS_TOKEN,
        faults=Faults(token_max_uses=25),
    )
    ids_file = write_ids(tmp_path / "ids.txt", [str(n) for n in range(10, 130)])
    oauth = base_env(ZOHO_ACCOUNTS_URL=sim.url, ZOHO_API_DOMAIN=sim.url, **SECRETS)
    convert = ("convert", "Quotes", "--to", "Invoices", "--ids-file", ids_file, "--batch-size",
               "5", *FAST_POLL, "--verbose")
    runs = [
        run_cli(*convert, "--json", env=oauth),
        run_cli(*convert, env=sim_env(sim)),
        run_cli(*convert, env=sim_env(sim, ZOHO_ACCESS_TOKEN=CLI_BAD_TOKEN)),
        run_cli(*convert, env={**oauth, "ZOHO_CLIENT_SECRET": CLI_WRONG_SECRET}),
    ]
    sim.state.revoke_refresh_token()
    runs.append(run_cli(*convert, env=oauth))

    # OAuth: refreshed as tokens wear out, exit 0. The static token wears out: exit 3. A wrong
    # static token, a wrong client secret, a revoked refresh token: exit 3.
    assert [run.returncode for run in runs] == [0, 3, 3, 3, 3], runs[0].stderr
    assert sim.state.stats.token_refreshes > 1
    secrets = [*SECRETS.values(), CLI_ACCESS_TOKEN, CLI_BAD_TOKEN, CLI_WRONG_SECRET]
    minted = {str(token) for token in sim.state.tokens._tokens} - set(secrets)
    assert minted
    for run in runs:
        no_traceback(run)
        # Any 4 characters of a chosen secret; 8 of a minted (hex) token, whose shorter pieces
        # occur in record ids by chance.
        assert_no_secret([run.stdout, run.stderr], secrets, "the CLI output")
        assert_no_secret([run.stdout, run.stderr], minted, "the CLI output", size=8)
    assert "refreshing the Zoho access token" in runs[0].stderr  # --verbose does log


@pytest.mark.parametrize("flag", ["-v", "--verbose"])
def test_short_v_flag_logs_like_verbose(sim: SimulatorThread, tmp_path: Path, flag: str) -> None:
    """`-v` is `--verbose`: each request is logged on stderr; without it, none is."""
    ids = write_ids(tmp_path / "ids.txt", ["8801", "8802"])
    others = write_ids(tmp_path / "others.txt", ["8803", "8804"])
    convert = ("convert", "Quotes", "--to", "Invoices", *FAST_POLL, "--ids-file")

    verbose = run_cli(*convert, ids, flag, env=sim_env(sim))
    quiet = run_cli(*convert, others, env=sim_env(sim))

    assert (verbose.returncode, quiet.returncode) == (0, 0), verbose.stderr
    logged = verbose.stderr.splitlines()
    for request in ("GET settings/modules/Invoices ok", "POST Quotes/actions/mass_convert ok"):
        assert any(line.endswith(f"DEBUG {request}") for line in logged), verbose.stderr
    assert "DEBUG" not in quiet.stderr
    assert sim.state.converted_ids("Quotes") == {"8801", "8802", "8803", "8804"}


def test_demo_json_and_table(tmp_path: Path) -> None:
    """`demo --records 200` converts them all: --json is the report, the table names the ledger."""
    as_json = run_cli("demo", "--records", "200", "--json", env=base_env())

    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert (report["total"], report["converted"], report["ok"]) == (200, 200, True)
    assert as_json.stderr == ""

    table = run_cli("demo", "--records", "120", "--faults", env=base_env())

    assert table.returncode == 0, table.stderr
    assert "Quotes → Sales_Orders: OK" in table.stdout
    assert "faults on" in table.stderr
    assert "Simulator ledger: 120 quotes converted" in table.stderr
    # The lines around the bar fit the 80 columns it is drawn for (a wrapped first line did not).
    assert max(len(line) for line in table.stderr.splitlines()) <= 80, table.stderr


def test_demo_rejects_zero_records() -> None:
    """`demo --records 0` is a usage error."""
    result = run_cli("demo", "--records", "0", env=base_env())

    assert result.returncode == 2
    assert "--records" in one_line(result.stderr)


def test_simulate_serves_until_sigint() -> None:
    """`simulate --port 0 --token T` prints its URL and token, serves, and exits 0 on SIGINT."""
    proc = start_cli("simulate", "--port", "0", "--token", "T-sim", env=base_env())
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().removeprefix("url: ")
        assert proc.stdout.readline().strip() == "token: T-sim"
        assert url.startswith("http://127.0.0.1:")
        request = urllib.request.Request(
            url + "/crm/v8/settings/modules/Quotes",
            headers={"Authorization": "Zoho-oauthtoken T-sim"},
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            assert json.load(response)["modules"][0]["api_name"] == "Quotes"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_help_documents_the_exit_codes_once() -> None:
    """--help lists every exit code and variable; a command's help points there, not repeats."""
    main_help = run_cli("--help", env=base_env())
    assert main_help.returncode == 0
    for code in ("0 ", "1 ", "2 ", "3 ", "130", "143"):
        assert f"\n  {code}" in main_help.stdout
    for name in ("ZOHO_ACCESS_TOKEN", "ZOHO_ENVIRONMENT", "uk", "completion"):
        assert name in main_help.stdout
    for command in (("convert",), ("resume",), ("status",), ("auth", "check")):
        result = run_cli(*command, "--help", env=base_env())
        assert result.returncode == 0
        assert "exit codes and environment variables: zoho-convert --help" in result.stdout
        assert "\n  130" not in result.stdout
    resume = run_cli("resume", "--help", env=base_env()).stdout
    assert "--ids-file" in resume and "skipped" in resume
    simulate = run_cli("simulate", "--help", env=base_env()).stdout
    assert "'sim-client'" in simulate and "'sim-secret'" in simulate and "'sim-refresh'" in simulate


def _convert_args(tmp_path: Path, first: int, count: int = 120) -> tuple[str, ...]:
    ids_file = write_ids(tmp_path / f"{first}.txt", [str(n) for n in range(first, first + count)])
    return ("convert", "Quotes", "--to", "Invoices", "--ids-file", str(ids_file), *FAST_POLL,
            "--json")


def _on_a_terminal(args: tuple[str, ...], env: dict[str, str], columns: int) -> tuple[str, str]:
    """Run the real CLI with stderr on a pseudo-terminal ``columns`` wide; return (stdout, tty)."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    proc = subprocess.Popen(
        [*CLI, *args], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=terminal,
    )
    os.close(terminal)
    seen = b""
    while True:  # read the terminal until the process closes it
        ready, _, _ = select.select([controller], [], [], TIMEOUT)
        assert ready, "the CLI wrote nothing for a long time"
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        seen += chunk
    os.close(controller)
    out, _ = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0
    return out.decode(), seen.decode("utf-8", "replace")


def test_progress_bar_fits_80_columns_on_a_terminal(
    start_sim: StartSim, tmp_path: Path
) -> None:
    """On an 80-column terminal every frame of the bar fits in 79 columns, counts as 1,234/5,678."""
    sim = start_sim(seed=12, job_duration=0.05)
    args = _convert_args(tmp_path, 10_000, count=2_000)

    out, shown = _on_a_terminal(args, sim_env(sim), columns=80)

    assert json.loads(out)["converted"] == 2_000  # the report still goes to stdout
    frames = [ANSI.sub("", frame) for frame in re.split(r"[\r\n]", shown)]
    frames = [frame for frame in frames if frame.strip()]
    assert frames, shown
    assert max(len(frame) for frame in frames) <= 79
    assert frames[-1].startswith("converting  █")
    assert "2,000/2,000  100%" in frames[-1]
    for frame in frames:
        count = re.search(r"(\S+)/(\S+)", frame)
        assert count is not None, frame
        for number in count.groups():
            assert re.fullmatch(r"\d{1,3}(,\d{3})*", number), frame


def test_progress_bar_sheds_parts_on_a_narrow_terminal_and_none_when_quiet(
    sim: SimulatorThread, tmp_path: Path
) -> None:
    """At 40 columns the bar still fits (the label goes); -q and --progress none draw nothing."""
    _, narrow = _on_a_terminal(_convert_args(tmp_path, 3000), sim_env(sim), columns=40)
    frames = [f for f in (ANSI.sub("", f) for f in re.split(r"[\r\n]", narrow)) if f.strip()]
    assert frames and max(len(frame) for frame in frames) <= 39
    assert "120/120" in frames[-1] and "converting" not in frames[-1]

    _, quiet = _on_a_terminal((*_convert_args(tmp_path, 4000), "-q"), sim_env(sim), columns=80)
    assert quiet == ""
    _, none = _on_a_terminal(
        (*_convert_args(tmp_path, 5000), "--progress", "none"), sim_env(sim), columns=80
    )
    assert none == ""


def test_progress_lines_when_stderr_is_not_a_terminal(
    start_sim: StartSim, tmp_path: Path
) -> None:
    """A piped stderr gets a plain line every --progress-interval, never a bar; short runs none."""
    quick = run_cli(*_convert_args(tmp_path, 500), env=sim_env(start_sim(seed=13)))
    assert quick.returncode == 0
    assert quick.stderr == ""  # done before the first line was due

    sim = start_sim(seed=14, job_duration=0.3)
    result = run_cli(
        *_convert_args(tmp_path, 700, count=300), "--batch-size", "10", "--concurrency", "2",
        "--progress-interval", "0.2", env=sim_env(sim),
    )

    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) >= 2
    for line in lines:
        assert re.fullmatch(
            r"zoho-convert: [\d,]+/[\d,]+ ids settled \(\d+%\), converted [\d,]+; .+", line
        ), line
    assert "\r" not in result.stderr and "\x1b" not in result.stderr
    assert lines[-1].startswith("zoho-convert: 300/300 ids settled (100%), converted 300;")


def test_runs_without_rich_installed(tmp_path: Path) -> None:
    """With rich unimportable, --help, --version and demo work: the CLI needs no extra."""
    blocker = tmp_path / "blocker" / "rich"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('rich is not installed')\n")
    path = os.pathsep.join([str(tmp_path / "blocker"), os.environ.get("PYTHONPATH", "")])
    env = base_env(PYTHONPATH=path)

    for args in (("--help",), ("--version",), ("convert", "--help")):
        result = run_cli(*args, env=env)
        assert result.returncode == 0, result.stderr
    demo = run_cli("demo", "--records", "60", "--json", env=env)

    assert demo.returncode == 0, demo.stderr
    assert json.loads(demo.stdout)["converted"] == 60
    no_traceback(demo)


def test_python_dash_m_and_the_script_agree() -> None:
    """`zoho-convert` on PATH is the same program as `python -m zoho_convert`."""
    script = Path(sys.executable).with_name("zoho-convert")
    result = subprocess.run(
        [script, "--version"], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert result.returncode == 0
    assert result.stdout == run_cli("--version", env=base_env()).stdout


def test_status_help_says_what_a_job_id_is_and_how_long_wait_waits() -> None:
    """`status --help` names where a job id comes from and --timeout's default; `convert
    --help` gives --batch-size's default."""
    status = " ".join(run_cli("status", "--help", env=base_env()).stdout.split())
    assert "job_id a mass convert's job id (a report's `still running` line" in status
    assert "--timeout TIMEOUT seconds --wait waits at most (600)" in status
    convert = " ".join(run_cli("convert", "--help", env=base_env()).stdout.split())
    assert "--batch-size BATCH_SIZE ids per job (50, the most)" in convert
