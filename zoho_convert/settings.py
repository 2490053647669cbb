"""Client settings from ``ZOHO_*`` environment variables: the ones the CLI reads, for code too.

=========================  ====================================================================
``ZOHO_ACCESS_TOKEN``      an OAuth access token (``StaticToken``), or else all three of:
``ZOHO_CLIENT_ID``         the refresh-token flow (``RefreshTokenAuth``): a self client's id,
``ZOHO_CLIENT_SECRET``     its secret
``ZOHO_REFRESH_TOKEN``     and a refresh token
``ZOHO_DATA_CENTER``       us (default), eu, in, au, cn, jp, ca, sa or uk
``ZOHO_ENVIRONMENT``       production (default), sandbox or developer: the API host to talk to
``ZOHO_API_DOMAIN``        an API domain of your choice (the simulator, a proxy)
``ZOHO_ACCOUNTS_URL``      an accounts (OAuth) server of your choice
=========================  ====================================================================

Setting both an access token and the refresh-token trio is refused: which one would be used
is not obvious, so neither is guessed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import attrs

from zoho_convert.api.auth import RefreshTokenAuth, StaticToken
from zoho_convert.api.datacenters import DataCenter, Environment

__all__ = [
    "ENV_VARIABLES",
    "MISSING_CREDENTIALS",
    "EnvSettings",
    "client_kwargs_from_env",
    "settings_from_env",
]

#: Every variable read here, in the order the documentation lists them.
ENV_VARIABLES = (
    "ZOHO_ACCESS_TOKEN",
    "ZOHO_CLIENT_ID",
    "ZOHO_CLIENT_SECRET",
    "ZOHO_REFRESH_TOKEN",
    "ZOHO_DATA_CENTER",
    "ZOHO_ENVIRONMENT",
    "ZOHO_API_DOMAIN",
    "ZOHO_ACCOUNTS_URL",
)

_OAUTH_VARIABLES = ("ZOHO_CLIENT_ID", "ZOHO_CLIENT_SECRET", "ZOHO_REFRESH_TOKEN")

_DATA_CENTERS = ", ".join(dc.name.lower() for dc in DataCenter)
_ENVIRONMENTS = ", ".join(env.name.lower() for env in Environment)

MISSING_CREDENTIALS = (
    "No Zoho credentials found. Set ZOHO_ACCESS_TOKEN to an OAuth access token, or set all "
    "three of ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET and ZOHO_REFRESH_TOKEN (from a self client in "
    f"Zoho's API console) so access tokens are refreshed for you. Set ZOHO_DATA_CENTER "
    f"({_DATA_CENTERS}) when your account is not in the US data center, or "
    "ZOHO_API_DOMAIN / ZOHO_ACCOUNTS_URL to point elsewhere (the simulator, a proxy)."
)


@attrs.frozen
class EnvSettings:
    """Where and how to reach Zoho, as read from the environment.

    Attributes:
        auth: a ``StaticToken`` or a ``RefreshTokenAuth`` (their reprs hide every secret).
        data_center: the account's data center.
        environment: production, sandbox or developer.
        api_domain: the API domain to use; None lets the client take the one the token reply
            names, then the data center's production host.
        accounts_url: the accounts server given explicitly, if any.
    """

    auth: StaticToken | RefreshTokenAuth
    data_center: DataCenter
    environment: Environment
    api_domain: str | None
    accounts_url: str | None

    def client_kwargs(self) -> dict[str, Any]:
        """``ZohoConvertClient`` keyword arguments: ``auth``, ``data_center``, ``api_domain``."""
        return {"auth": self.auth, "data_center": self.data_center, "api_domain": self.api_domain}


def _get(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name, "").strip() or None


def _environment(env: Mapping[str, str]) -> Environment:
    name = _get(env, "ZOHO_ENVIRONMENT")
    if name is None:
        return Environment.PRODUCTION
    try:
        return Environment[name.upper()]
    except KeyError:
        raise ValueError(
            f"unknown ZOHO_ENVIRONMENT {name!r}; expected one of: {_ENVIRONMENTS}"
        ) from None


def _auth(
    env: Mapping[str, str], data_center: DataCenter, accounts_url: str | None
) -> StaticToken | RefreshTokenAuth:
    access_token = _get(env, "ZOHO_ACCESS_TOKEN")
    oauth = [_get(env, name) for name in _OAUTH_VARIABLES]
    given = [name for name, value in zip(_OAUTH_VARIABLES, oauth, strict=True) if value]
    if access_token and given:
        raise ValueError(
            f"both ZOHO_ACCESS_TOKEN and {' and '.join(given)} are set: unset one. Keep "
            "ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET and ZOHO_REFRESH_TOKEN for tokens refreshed for "
            "you, or ZOHO_ACCESS_TOKEN alone for a token you got elsewhere."
        )
    if access_token:
        return StaticToken(access_token)
    client_id, client_secret, refresh_token = oauth
    if client_id and client_secret and refresh_token:
        return RefreshTokenAuth(
            client_id, client_secret, refresh_token, data_center=data_center,
            accounts_url=accounts_url,
        )
    if given:
        missing = [name for name in _OAUTH_VARIABLES if name not in given]
        raise ValueError(
            f"Zoho credentials are incomplete: {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set. The refresh-token flow needs all "
            "three of ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET and ZOHO_REFRESH_TOKEN; or set "
            "ZOHO_ACCESS_TOKEN to an OAuth access token instead."
        )
    raise ValueError(MISSING_CREDENTIALS)


def settings_from_env(environ: Mapping[str, str] | None = None) -> EnvSettings:
    """Read the ``ZOHO_*`` variables (see the module's docstring); blank values count as unset.

    Args:
        environ: the variables to read; ``os.environ`` when None.

    Returns:
        The settings, credentials included.

    Raises:
        ValueError: credentials are missing, incomplete or ambiguous (an access token and the
            refresh-token variables both set); an unknown data center or environment; or
            ``ZOHO_API_DOMAIN`` set together with a sandbox or developer environment. The
            message names the variables and never contains a secret.
    """
    env = os.environ if environ is None else environ
    data_center = DataCenter.from_name(_get(env, "ZOHO_DATA_CENTER") or "us")
    environment = _environment(env)
    api_domain = _get(env, "ZOHO_API_DOMAIN")
    if environment is not Environment.PRODUCTION:
        if api_domain is not None:
            raise ValueError(
                f"ZOHO_API_DOMAIN and ZOHO_ENVIRONMENT={environment.name.lower()} both choose "
                "the API host: set one of them"
            )
        # A token reply names the production host: a sandbox needs its own, explicitly.
        api_domain = data_center.api_domain(environment)
    accounts_url = _get(env, "ZOHO_ACCOUNTS_URL")
    return EnvSettings(
        auth=_auth(env, data_center, accounts_url),
        data_center=data_center,
        environment=environment,
        api_domain=api_domain,
        accounts_url=accounts_url,
    )


def client_kwargs_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for ``ZohoConvertClient`` from the ``ZOHO_*`` variables.

    ``ZohoConvertClient(**client_kwargs_from_env(), max_concurrency=15)`` builds the client
    the CLI would build from the same environment; add any other argument beside it.

    Args:
        environ: the variables to read; ``os.environ`` when None.

    Returns:
        ``auth``, ``data_center`` and ``api_domain``.

    Raises:
        ValueError: as ``settings_from_env``.
    """
    return settings_from_env(environ).client_kwargs()
