"""The simulator's command line: every option reaches the configuration, and a served simulator
behaves as its options say."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
from typing import Any

import aiohttp
import pytest

from zoho_convert.simulator.cli import add_arguments, config_from_args, serve
from zoho_convert.simulator.cli import main as simulator_main


def _config(*argv: str) -> Any:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return config_from_args(parser.parse_args(list(argv)))


def test_defaults() -> None:
    """Without options the served simulator plays the default readings."""
    cfg = _config()
    assert (cfg.status_shape, cfg.error_details, cfg.reserve_ids) == ("wrapped", "oas", True)
    assert (cfg.already_converted, cfg.approval_errors) == ("fail_call", "fail_in_job")
    assert (cfg.token_expiry_ms, cfg.token_mint_limit, cfg.lead_convert_concurrency) == (
        False, None, None)
    assert cfg.unknown_module_reply == "204"
    assert cfg.faults.forget_job_rate == cfg.faults.duplicate_job_id_rate == 0.0


@pytest.mark.parametrize(("argv", "field", "value"), [
    (["--status-shape", "bare"], "status_shape", "bare"),
    (["--error-details", "legacy"], "error_details", "legacy"),
    (["--job-failure-mode", "in-job"], "already_converted", "fail_in_job"),
    (["--already-converted", "fail_in_job", "--job-failure-mode", "refuse"],
     "already_converted", "fail_call"),
    (["--approval-errors", "fail_call"], "approval_errors", "fail_call"),
    (["--no-reserve-ids"], "reserve_ids", False),
    (["--token-expiry-ms"], "token_expiry_ms", True),
    (["--token-mint-limit", "10"], "token_mint_limit", 10),
    (["--token-mint-window", "60"], "token_mint_window", 60.0),
    (["--token-throttle-reply", "http_429"], "token_throttle_reply", "http_429"),
    (["--lead-convert-concurrency", "3"], "lead_convert_concurrency", 3),
    (["--no-permission-ids", "1,2"], "no_permission_ids", frozenset({"1", "2"})),
    (["--no-permission-modules", "Quotes,Leads"], "no_permission_modules",
     frozenset({"Quotes", "Leads"})),
    (["--scope-mismatch-endpoints", "convert"], "scope_mismatch_endpoints",
     frozenset({"convert"})),
    (["--not-reviewed-ids", "7"], "not_reviewed_ids", frozenset({"7"})),
    (["--unknown-module-reply", "invalid_module"], "unknown_module_reply", "invalid_module"),
])
def test_options_reach_the_config(argv: list[str], field: str, value: Any) -> None:
    """Each behaviour option sets its SimulatorConfig field."""
    assert getattr(_config(*argv), field) == value


@pytest.mark.parametrize(("argv", "field", "value"), [
    (["--forget-jobs", "0.2"], "forget_job_rate", 0.2),
    (["--forget-reply", "invalid"], "forget_reply", "invalid"),
    (["--duplicate-job-ids", "0.1"], "duplicate_job_id_rate", 0.1),
    (["--malformed-final", "0.3"], "malformed_final_rate", 0.3),
    (["--malformed-final-kind", "state"], "malformed_final_kind", "state"),
    (["--fault-after-processing"], "fault_after_processing", True),
    (["--fault-endpoints", "mass_convert"], "fault_endpoints", frozenset({"mass_convert"})),
])
def test_fault_options_reach_the_faults(argv: list[str], field: str, value: Any) -> None:
    """Each fault option sets its Faults field."""
    assert getattr(_config(*argv).faults, field) == value


@pytest.mark.parametrize("argv", [["--scope-mismatch-endpoints", "nope"],
                                  ["--no-permission-modules", "Meetings"],
                                  ["--forget-jobs", "2"], ["--token-mint-limit", "0"]])
def test_nonsense_is_refused(argv: list[str]) -> None:
    """Out-of-range or unknown values fail with ValueError (the CLI turns it into a usage error)."""
    with pytest.raises(ValueError):
        _config(*argv)


def test_help_documents_every_new_option(capsys: pytest.CaptureFixture[str]) -> None:
    """--help lists each option of the wire readings, limits and job faults."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    text = capsys.readouterr().out
    for flag in ("--status-shape", "--error-details", "--job-failure-mode", "--no-reserve-ids",
                 "--token-expiry-ms", "--token-mint-limit", "--token-throttle-reply",
                 "--lead-convert-concurrency", "--no-permission-ids", "--no-permission-modules",
                 "--scope-mismatch-endpoints", "--not-reviewed-ids", "--forget-jobs",
                 "--forget-reply", "--duplicate-job-ids", "--malformed-final",
                 "--malformed-final-kind", "--fault-after-processing", "--approval-errors",
                 "--unknown-module-reply"):
        assert flag in text


async def test_served_simulator_follows_its_options() -> None:
    """`serve` from parsed options answers bare statuses, legacy details and in-job failures."""
    config = _config("--token", "dev-token", "--status-shape", "bare",
                     "--error-details", "legacy", "--job-failure-mode", "in-job")
    lines: list[str] = []
    announced = asyncio.Event()

    def announce(line: str) -> None:
        lines.append(line)
        if line.startswith("token:"):
            announced.set()

    task = asyncio.create_task(serve(config, announce=announce))
    try:
        await asyncio.wait_for(announced.wait(), 10)
        url = lines[0].removeprefix("url: ")
        headers = {"Authorization": "Zoho-oauthtoken dev-token"}
        async with aiohttp.ClientSession(url, headers=headers) as http:
            async with http.get("/crm/v8/settings/modules/Sales_Orders") as resp:
                module_id = (await resp.json())["modules"][0]["id"]
            body = {"convert_to": [{"module": {"api_name": "Sales_Orders", "id": module_id},
                                    "carry_over_tags": False}], "ids": ["11", "12"]}
            async with http.post("/crm/v8/Quotes/actions/mass_convert", json=body) as resp:
                assert resp.status == 202
                job_id = (await resp.json())["details"]["job_id"]
            async with http.post("/crm/v8/Quotes/actions/mass_convert", json=body) as resp:
                assert resp.status == 202  # in-job: the already converted ids fail in the job
                second = (await resp.json())["details"]["job_id"]
            async with http.get("/crm/v8/Quotes/actions/mass_convert",
                                params={"job_id": second}) as resp:
                row = await resp.json()
            assert row == {"total_count": 2, "converted_count": 0, "not_converted_count": 0,
                           "failed_count": 2, "status": "COMPLETED"}
            body["convert_to"][0]["module"]["id"] = job_id  # not the module's id
            body["ids"] = ["13"]
            async with http.post("/crm/v8/Quotes/actions/mass_convert", json=body) as resp:
                details = (await resp.json())["details"]
            assert details == {"api_name": "id", "json_path": "$.convert_to[0].module.id"}
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_a_port_in_use_is_one_line_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m zoho_convert.simulator --port P` with P taken says so in one line, exit 1."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = simulator_main(["--port", str(port), "--token", "t"])
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err
    assert err.count("\n") == 1
    assert err.startswith("python -m zoho_convert.simulator: error: ")
    assert "address already in use" in err


def test_every_option_says_what_it_does() -> None:
    """`simulate --help` explains each option (a bare `--rate-429 RATE_429` left a newcomer to
    guess its scale and default)."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    silent = [
        action.option_strings[0]
        for action in parser._actions
        if action.option_strings and action.option_strings[0] != "-h" and not action.help
    ]
    assert silent == []
