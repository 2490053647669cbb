"""``ZohoConvertClient``: the endpoints of Zoho CRM's conversion APIs, and bulk conversion.

The endpoint methods (one request each) come from ``zoho_convert.api.EndpointClient``; the
bulk methods are ``zoho_convert.bulk.convert.convert_many`` and ``resume`` themselves, bound
as methods (one declaration, one docstring: ``help(client.convert_many)`` shows it all).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoho_convert.api.client import EndpointClient
from zoho_convert.bulk.convert import convert_many, resume
from zoho_convert.settings import client_kwargs_from_env

__all__ = ["ZohoConvertClient"]


class ZohoConvertClient(EndpointClient):
    """An async client for Zoho CRM's conversion APIs.

    Use it as an async context manager; share one client (and its session) between tasks::

        async with ZohoConvertClient(StaticToken(token)) as client:
            report = await client.convert_many("Quotes", ids, to="Sales_Orders")

    The constructor's arguments are ``EndpointClient``'s (auth, data center, API domain,
    session, retry policy, concurrency limits, sleep and clock for tests).
    """

    convert_many = convert_many
    resume = resume

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> ZohoConvertClient:
        """A client configured from the ``ZOHO_*`` variables the CLI reads (see
        ``zoho_convert.settings``); keyword arguments override or add to them.

        Raises:
            ValueError: no credentials, ambiguous credentials, or an unknown data center.
        """
        return cls(**{**client_kwargs_from_env(environ), **overrides})
