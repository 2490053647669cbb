"""Where the CLI finds credentials and the Zoho location: flags first, then the environment.

The flags are laid over the ``ZOHO_*`` variables and the result is read by
``zoho_convert.settings``, so the CLI and ``client_kwargs_from_env`` can never disagree.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping

from zoho_convert import DataCenter, Environment, EnvSettings, settings_from_env
from zoho_convert.cli.errors import UsageError
from zoho_convert.cli.fleet import add_fleet_arguments

__all__ = ["add_connection_arguments", "connection"]

DATA_CENTERS = ", ".join(dc.name.lower() for dc in DataCenter)
ENVIRONMENTS = tuple(env.name.lower() for env in Environment)

# flag dest -> the variable it overrides
_FLAG_VARIABLES = {
    "data_center": "ZOHO_DATA_CENTER",
    "environment": "ZOHO_ENVIRONMENT",
    "api_domain": "ZOHO_API_DOMAIN",
    "accounts_url": "ZOHO_ACCOUNTS_URL",
}


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags every command that talks to Zoho shares."""
    group = parser.add_argument_group("connection (flags override the ZOHO_* variables)")
    group.add_argument(
        "--data-center",
        metavar="DC",
        help=f"{DATA_CENTERS} (env ZOHO_DATA_CENTER; default us)",
    )
    group.add_argument(
        "--environment",
        choices=ENVIRONMENTS,
        help="the org's environment (env ZOHO_ENVIRONMENT; default production)",
    )
    group.add_argument(
        "--sandbox",
        dest="environment",
        action="store_const",
        const="sandbox",
        help="the sandbox: same as --environment sandbox",
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
    add_fleet_arguments(parser)


def connection(args: argparse.Namespace, env: Mapping[str, str]) -> EnvSettings:
    """The settings the flags and the environment give together (flags win).

    Raises:
        UsageError: credentials are missing, incomplete or ambiguous, or a setting is invalid.
    """
    merged = dict(env)
    for dest, variable in _FLAG_VARIABLES.items():
        value = getattr(args, dest, None)
        if value:
            merged[variable] = value
    # A host chosen on the command line beats one the environment chooses the other way:
    # --sandbox beats a ZOHO_API_DOMAIN left set, --api-domain a ZOHO_ENVIRONMENT.
    overridden = None
    environment_flag = getattr(args, "environment", None)
    domain_flag = getattr(args, "api_domain", None)
    if environment_flag and not domain_flag and merged.pop("ZOHO_API_DOMAIN", "").strip():
        overridden = "ZOHO_API_DOMAIN"
    # (production with an API domain was never a conflict: nothing is overridden then.)
    if (
        domain_flag
        and not environment_flag
        and merged.pop("ZOHO_ENVIRONMENT", "").strip().lower() not in ("", "production")
    ):
        overridden = "ZOHO_ENVIRONMENT"
    try:
        settings = settings_from_env(merged)
    except ValueError as error:
        raise UsageError(_flags_named(str(error), args)) from None
    if overridden is not None:
        _note_override(args, overridden, settings)
    return settings


def _note_override(args: argparse.Namespace, variable: str, settings: EnvSettings) -> None:
    """Say on stderr that a flag sent the requests elsewhere than a ``ZOHO_*`` variable says.

    ``--sandbox`` typed in a shell that still exports ``ZOHO_API_DOMAIN`` (the simulator's, a
    proxy's) silently went to Zoho's sandbox host: a user should see where the requests go.
    The variable's value is never shown (an API domain may carry a proxy's password).
    """
    if variable == "ZOHO_API_DOMAIN":
        environment = args.environment
        flag = "--sandbox" if environment == "sandbox" else f"--environment {environment}"
        where = f"Zoho's {environment} API host of the {settings.data_center.name} data center"
        if settings.api_domain is not None:  # (production's is the one a token reply names)
            where += f", {settings.api_domain}"
    else:
        flag = "--api-domain"
        where = "the --api-domain URL"
    print(
        f"zoho-convert: note: {flag} overrides {variable}: requests go to {where}",
        file=sys.stderr,
    )


def _flags_named(message: str, args: argparse.Namespace) -> str:
    """Name a flag the user typed rather than the variable it overrides."""
    for dest, variable in _FLAG_VARIABLES.items():
        if getattr(args, dest, None):
            flag = "--" + dest.replace("_", "-")
            message = message.replace(f"{variable}=", f"{flag} ").replace(variable, flag)
    return message
