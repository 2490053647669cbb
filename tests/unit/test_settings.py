"""client_kwargs_from_env / settings_from_env: the ZOHO_* variables the CLI reads, for code."""

from __future__ import annotations

import pytest

from zoho_convert import DataCenter, Environment, RefreshTokenAuth, StaticToken
from zoho_convert.settings import (
    ENV_VARIABLES,
    MISSING_CREDENTIALS,
    client_kwargs_from_env,
    settings_from_env,
)

OAUTH = {
    "ZOHO_CLIENT_ID": "1000.ID",
    "ZOHO_CLIENT_SECRET": "secret-value-123",
    "ZOHO_REFRESH_TOKEN": "1000.refresh.value-456",
}


def test_access_token_alone_gives_a_static_token_in_the_us() -> None:
    """ZOHO_ACCESS_TOKEN alone: a StaticToken, the US data center, the token reply's domain."""
    kwargs = client_kwargs_from_env({"ZOHO_ACCESS_TOKEN": " 1000.tok "})

    assert set(kwargs) == {"auth", "data_center", "api_domain"}
    assert isinstance(kwargs["auth"], StaticToken)
    assert kwargs["auth"].current_token == "1000.tok"
    assert kwargs["data_center"] is DataCenter.US
    assert kwargs["api_domain"] is None


def test_refresh_token_trio_uses_the_data_centers_accounts_server() -> None:
    """The three OAuth variables give RefreshTokenAuth at the data center's token URL."""
    settings = settings_from_env({**OAUTH, "ZOHO_DATA_CENTER": "EU"})

    assert isinstance(settings.auth, RefreshTokenAuth)
    assert settings.auth.token_url == "https://accounts.zoho.eu/oauth/v2/token"
    assert settings.data_center is DataCenter.EU
    assert settings.environment is Environment.PRODUCTION


def test_accounts_url_and_api_domain_override_the_data_center() -> None:
    """ZOHO_ACCOUNTS_URL and ZOHO_API_DOMAIN point the client elsewhere (the simulator)."""
    settings = settings_from_env(
        {**OAUTH, "ZOHO_ACCOUNTS_URL": "http://127.0.0.1:9", "ZOHO_API_DOMAIN": "http://127.0.0.1:9"}
    )

    assert isinstance(settings.auth, RefreshTokenAuth)
    assert settings.auth.token_url == "http://127.0.0.1:9/oauth/v2/token"
    assert settings.api_domain == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("name", "host"),
    [("sandbox", "https://sandbox.zohoapis.eu"), ("Developer", "https://developer.zohoapis.eu")],
)
def test_environment_chooses_the_sandbox_or_developer_host(name: str, host: str) -> None:
    """ZOHO_ENVIRONMENT=sandbox|developer sets the API domain (a token reply names production)."""
    settings = settings_from_env(
        {"ZOHO_ACCESS_TOKEN": "t", "ZOHO_DATA_CENTER": "eu", "ZOHO_ENVIRONMENT": name}
    )

    assert settings.environment is Environment[name.upper()]
    assert settings.api_domain == host


def test_uk_data_center_has_zohos_uk_hosts() -> None:
    """ZOHO_DATA_CENTER=uk: accounts.zoho.uk for tokens, zohoapis.uk for the API."""
    settings = settings_from_env({**OAUTH, "ZOHO_DATA_CENTER": "uk"})

    assert settings.data_center is DataCenter.UK
    assert isinstance(settings.auth, RefreshTokenAuth)
    assert settings.auth.token_url == "https://accounts.zoho.uk/oauth/v2/token"
    assert DataCenter.UK.api_domain() == "https://www.zohoapis.uk"


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({}, ("No Zoho credentials found", "ZOHO_ACCESS_TOKEN", "ZOHO_REFRESH_TOKEN")),
        ({"ZOHO_ACCESS_TOKEN": "   "}, ("No Zoho credentials found",)),
        (
            {"ZOHO_CLIENT_ID": "1000.ID", "ZOHO_CLIENT_SECRET": "secret-value-123"},
            ("ZOHO_REFRESH_TOKEN is not set",),
        ),
        (
            {"ZOHO_ACCESS_TOKEN": "1000.tok", **OAUTH},
            ("both ZOHO_ACCESS_TOKEN and", "ZOHO_CLIENT_ID", "unset one"),
        ),
        (
            {"ZOHO_ACCESS_TOKEN": "1000.tok", "ZOHO_REFRESH_TOKEN": "1000.refresh.value-456"},
            ("both ZOHO_ACCESS_TOKEN and ZOHO_REFRESH_TOKEN",),
        ),
        ({"ZOHO_ACCESS_TOKEN": "t", "ZOHO_DATA_CENTER": "mars"}, ("mars", "uk")),
        ({"ZOHO_ACCESS_TOKEN": "t", "ZOHO_ENVIRONMENT": "staging"}, ("staging", "sandbox")),
        (
            {"ZOHO_ACCESS_TOKEN": "t", "ZOHO_ENVIRONMENT": "sandbox", "ZOHO_API_DOMAIN": "x"},
            ("ZOHO_API_DOMAIN", "ZOHO_ENVIRONMENT=sandbox", "set one"),
        ),
    ],
)
def test_bad_settings_are_refused_by_name_without_secrets(
    env: dict[str, str], words: tuple[str, ...]
) -> None:
    """Missing, incomplete or ambiguous credentials and unknown names: a ValueError naming them."""
    with pytest.raises(ValueError) as caught:
        client_kwargs_from_env(env)

    message = str(caught.value)
    for word in words:
        assert word in message
    for secret in (*OAUTH.values(), "1000.tok"):
        assert secret not in message


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no mapping given, os.environ is read."""
    for name in ENV_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ZOHO_ACCESS_TOKEN", "from-os-environ")

    auth = client_kwargs_from_env()["auth"]

    assert isinstance(auth, StaticToken)
    assert auth.current_token == "from-os-environ"


def test_missing_credentials_message_lists_every_data_center() -> None:
    """The one-paragraph help names every data center the library knows."""
    for dc in DataCenter:
        assert dc.name.lower() in MISSING_CREDENTIALS
