"""`zoho-convert auth check` and the location flags (--sandbox, ZOHO_ENVIRONMENT, uk)."""

from __future__ import annotations

import argparse
import json

import pytest
from cli_helpers import (
    RecordedRequest,
    no_traceback,
    oauth_env,
    one_line,
    run_cli,
    sim_env,
)

from zoho_convert import settings_from_env
from zoho_convert.cli.auth_check import _unused_for_the_api
from zoho_convert.cli.settings import connection
from zoho_convert.simulator import SimulatorThread


def test_auth_check_with_the_refresh_token_flow(
    sim: SimulatorThread, recorded: list[RecordedRequest]
) -> None:
    """One token refresh and one Modules call; it says what answered, and shows no secret."""
    config = sim.simulator.config

    result = run_cli("auth", "check", env=oauth_env(sim, ZOHO_DATA_CENTER="eu"))

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"credentials OK: the refresh-token flow got an access token from {sim.url}/oauth/v2/token"
    )
    assert lines[1].startswith(f"API {sim.url}/crm/v8 answered the Modules API (Leads module id ")
    # ZOHO_API_DOMAIN (the simulator) chose the API host, not the data center: it says so.
    assert lines[2] == (
        "data center EU, production environment (they choose no API host: the API domain is set)"
    )
    assert sim.state.stats.token_refreshes == 1
    assert [r.endpoint for r in recorded] == ["modules"]
    for secret in (config.client_id, config.client_secret, config.refresh_token):
        assert secret not in result.stdout + result.stderr


def test_auth_check_json_with_an_access_token(sim: SimulatorThread) -> None:
    """--json says which credentials, data center and environment were used."""
    result = run_cli("auth", "check", "--json", env=sim_env(sim, ZOHO_DATA_CENTER="uk"))

    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["ok"] is True
    assert (out["auth"], out["token_url"]) == ("access_token", None)
    assert (out["data_center"], out["environment"]) == ("uk", "production")
    assert out["api"] == f"{sim.url}/crm/v8"
    assert out["module"]["api_name"] == "Leads" and out["module"]["id"].isdigit()


def test_auth_check_with_refused_credentials_exits_3(sim: SimulatorThread) -> None:
    """A refused access token or a revoked refresh token: exit 3, one line, no traceback."""
    bad = run_cli("auth", "check", env=sim_env(sim, ZOHO_ACCESS_TOKEN="1000.wrong"))
    assert bad.returncode == 3
    assert "INVALID_TOKEN" in one_line(bad.stderr)
    assert bad.stdout == ""

    sim.state.revoke_refresh_token()
    revoked = run_cli("auth", "check", env=oauth_env(sim))
    assert revoked.returncode == 3
    assert "invalid_code" in one_line(revoked.stderr)
    no_traceback(revoked)


def test_sandbox_environment_names_its_host_and_a_flag_can_point_elsewhere(
    sim: SimulatorThread,
) -> None:
    """ZOHO_ENVIRONMENT=sandbox is reported; --api-domain on the command line overrides it."""
    env = sim_env(sim, ZOHO_ENVIRONMENT="sandbox", ZOHO_DATA_CENTER="eu")
    env.pop("ZOHO_API_DOMAIN")

    result = run_cli("auth", "check", "--json", "--api-domain", sim.url, env=env)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["api"] == f"{sim.url}/crm/v8"

    conflict = run_cli("auth", "check", env={**env, "ZOHO_API_DOMAIN": sim.url})
    assert conflict.returncode == 2
    assert "ZOHO_API_DOMAIN and ZOHO_ENVIRONMENT=sandbox" in one_line(conflict.stderr)
    assert sim.state.stats.requests_served == 1  # the first check's Modules call only


def test_unknown_environment_is_a_usage_error(sim: SimulatorThread) -> None:
    """--environment takes production, sandbox or developer."""
    result = run_cli("auth", "check", "--environment", "staging", env=sim_env(sim))

    assert result.returncode == 2
    assert "staging" in one_line(result.stderr)


def _location(environment: str | None, api_domain: str | None) -> argparse.Namespace:
    return argparse.Namespace(environment=environment, api_domain=api_domain)


def test_a_flag_that_overrides_a_location_variable_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--sandbox in a shell exporting ZOHO_API_DOMAIN (the simulator's) goes to Zoho's sandbox
    host: a note on stderr says so, naming the host but not the variable's value."""
    proxy = "https://user:s3cret@proxy.example"
    env = {"ZOHO_ACCESS_TOKEN": "t", "ZOHO_API_DOMAIN": proxy, "ZOHO_DATA_CENTER": "eu"}

    settings = connection(_location("sandbox", None), env)

    err = capsys.readouterr().err
    assert settings.api_domain == "https://sandbox.zohoapis.eu"
    assert err == (
        "zoho-convert: note: --sandbox overrides ZOHO_API_DOMAIN: requests go to Zoho's "
        "sandbox API host of the EU data center, https://sandbox.zohoapis.eu\n"
    )
    assert "s3cret" not in err

    connection(
        _location(None, "http://127.0.0.1:9"),
        {"ZOHO_ACCESS_TOKEN": "t", "ZOHO_ENVIRONMENT": "developer"},
    )
    assert capsys.readouterr().err == (
        "zoho-convert: note: --api-domain overrides ZOHO_ENVIRONMENT: requests go to the "
        "--api-domain URL\n"
    )


@pytest.mark.parametrize(
    ("flags", "env"),
    [
        (("sandbox", None), {"ZOHO_API_DOMAIN": " "}),
        ((None, "http://127.0.0.1:9"), {"ZOHO_ENVIRONMENT": "production"}),
        (("sandbox", None), {}),
        ((None, None), {"ZOHO_API_DOMAIN": "http://127.0.0.1:9"}),
    ],
)
def test_no_note_when_nothing_is_overridden(
    capsys: pytest.CaptureFixture[str],
    flags: tuple[str | None, str | None],
    env: dict[str, str],
) -> None:
    """A blank variable, or one the flag agrees with, is not overridden: no note."""
    connection(_location(*flags), {"ZOHO_ACCESS_TOKEN": "t", **env})
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("env", "note"),
    [
        ({}, False),
        ({"ZOHO_ENVIRONMENT": "sandbox", "ZOHO_DATA_CENTER": "eu"}, False),
        ({"ZOHO_API_DOMAIN": "https://www.zohoapis.com"}, False),
        ({"ZOHO_API_DOMAIN": "http://127.0.0.1:8000"}, True),
    ],
)
def test_auth_check_notes_a_data_center_that_chose_no_api_host(
    env: dict[str, str], note: bool
) -> None:
    """Only an API domain other than the data center's own makes the data center moot."""
    settings = settings_from_env({"ZOHO_ACCESS_TOKEN": "t", **env})
    assert bool(_unused_for_the_api(settings)) is note
