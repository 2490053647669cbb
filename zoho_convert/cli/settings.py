"""Where the CLI finds credentials and the Zoho location: flags first, then the environment.

The variable names are the ones users of Zoho tools already set: ``ZOHO_ACCESS_TOKEN``, or
``ZOHO_CLIENT_ID`` + ``ZOHO_CLIENT_SECRET`` + ``ZOHO_REFRESH_TOKEN``; ``ZOHO_DATA_CENTER``,
``ZOHO_API_DOMAIN`` and ``ZOHO_ACCOUNTS_URL``.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from zoho_convert.auth import RefreshTokenAuth, StaticToken
from zoho_convert.datacenters import DataCenter

__all__ = ["MISSING_CREDENTIALS", "UsageError", "add_connection_arguments", "client_options"]

MISSING_CREDENTIALS = (
    "No Zoho credentials found. Set ZOHO_ACCESS_TOKEN to an OAuth access token, or set all "
    "three of ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET and ZOHO_REFRESH_TOKEN (from a self client in "
    "Zoho's API console) so access tokens are refreshed for you. Set ZOHO_DATA_CENTER (us, eu, "
    "in, au, cn, jp, ca, sa) when your account is not in the US data center, or "
    "ZOHO_API_DOMAIN / ZOHO_ACCOUNTS_URL to point elsewhere (the simulator, a proxy)."
)


_OAUTH_VARIABLES = ("ZOHO_CLIENT_ID", "ZOHO_CLIENT_SECRET", "ZOHO_REFRESH_TOKEN")


class UsageError(Exception):
    """Bad input from the command line: exit code 2, with a one-line message."""


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags every command that talks to Zoho shares."""
    group = parser.add_argument_group("connection (flags override ZOHO_* variables)")
    group.add_argument(
        "--data-center",
        metavar="DC",
        help="us, eu, in, au, cn, jp, ca or sa (env ZOHO_DATA_CENTER; default us)",
    )
    group.add_argument("--api-domain", metavar="URL", help="API domain (env ZOHO_API_DOMAIN)")
    group.add_argument(
        "--accounts-url", metavar="URL", help="accounts server for OAuth (env ZOHO_ACCOUNTS_URL)"
    )
    group.add_argument(
        "--api-version", default="v8", choices=("v7", "v8"), help="CRM API version (v8)"
    )
    group.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="allow sending credentials over plain http to a non-loopback host",
    )


def _pick(flag: str | None, env: Mapping[str, str], name: str) -> str | None:
    value = flag if flag else env.get(name, "")
    return value.strip() or None


def client_options(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, Any]:
    """Build ``ZohoConvertClient`` keyword arguments from flags and the environment.

    Raises:
        UsageError: credentials are missing or a setting is invalid.
    """
    dc_name = _pick(args.data_center, env, "ZOHO_DATA_CENTER") or "us"
    try:
        data_center = DataCenter.from_name(dc_name)
    except ValueError as error:
        raise UsageError(str(error)) from None
    api_domain = _pick(args.api_domain, env, "ZOHO_API_DOMAIN")
    accounts_url = _pick(args.accounts_url, env, "ZOHO_ACCOUNTS_URL")
    access_token = env.get("ZOHO_ACCESS_TOKEN", "").strip()
    oauth = [env.get(name, "").strip() for name in _OAUTH_VARIABLES]
    auth: StaticToken | RefreshTokenAuth
    if all(oauth):
        auth = RefreshTokenAuth(
            oauth[0], oauth[1], oauth[2], data_center=data_center, accounts_url=accounts_url
        )
    elif access_token:
        auth = StaticToken(access_token)
    elif any(oauth):
        missing = [name for name, value in zip(_OAUTH_VARIABLES, oauth, strict=True) if not value]
        raise UsageError(
            f"Zoho credentials are incomplete: {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set. The refresh-token flow needs all "
            "three of ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET and ZOHO_REFRESH_TOKEN; or set "
            "ZOHO_ACCESS_TOKEN to an OAuth access token instead."
        )
    else:
        raise UsageError(MISSING_CREDENTIALS)
    return {
        "auth": auth,
        "data_center": data_center,
        "api_domain": api_domain,
        "api_version": args.api_version,
        "allow_insecure_http": args.allow_insecure_http,
    }
