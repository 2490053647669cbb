"""``zoho-convert auth check``: do these credentials work, and where do they lead?

One token refresh (for the refresh-token flow) and one Modules API call, the cheapest read
that needs a valid token; nothing is converted. Exit 0 when both succeed, 3 when Zoho refuses
the credentials, 1 when it cannot be reached. No secret is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping

from zoho_convert import EnvSettings, RefreshTokenAuth
from zoho_convert.cli.clients import open_client
from zoho_convert.cli.errors import EXIT_OK
from zoho_convert.cli.settings import connection

__all__ = ["cmd_auth_check"]

_PROBE = "Leads"  # a module every Zoho CRM org has


async def cmd_auth_check(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Refresh a token if needed, call the Modules API once, and say what answered."""
    settings = connection(args, env)
    async with open_client(args, env, settings=settings) as client:
        module_id = await client.module_id(_PROBE)
    auth = settings.auth
    refreshing = isinstance(auth, RefreshTokenAuth)
    domain = (
        settings.api_domain
        or (auth.api_domain if refreshing else None)
        or settings.data_center.api_domain(settings.environment)
    )
    result = {
        "ok": True,
        "auth": "refresh_token" if refreshing else "access_token",
        "token_url": auth.token_url if isinstance(auth, RefreshTokenAuth) else None,
        "api": f"{domain}/crm/{args.api_version}",
        "data_center": settings.data_center.name.lower(),
        "environment": settings.environment.name.lower(),
        "module": {"api_name": _PROBE, "id": module_id},
    }
    if args.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return EXIT_OK
    how = (
        f"the refresh-token flow got an access token from {result['token_url']}"
        if refreshing
        else "the access token (ZOHO_ACCESS_TOKEN) was accepted"
    )
    lines = [
        f"credentials OK: {how}",
        f"API {result['api']} answered the Modules API ({_PROBE} module id {module_id})",
        f"data center {settings.data_center.name}, {result['environment']} environment"
        + _unused_for_the_api(settings),
    ]
    sys.stdout.write("".join(line + "\n" for line in lines))
    return EXIT_OK


def _unused_for_the_api(settings: EnvSettings) -> str:
    """A note when the API domain is set explicitly (the simulator, a proxy): the data center
    and environment then choose no API host, and a bare "data center US" would say they did."""
    chosen = settings.data_center.api_domain(settings.environment)
    if settings.api_domain is None or settings.api_domain == chosen:
        return ""
    return " (they choose no API host: the API domain is set)"
