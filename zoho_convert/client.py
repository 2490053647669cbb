"""``ZohoConvertClient``: the endpoints of Zoho CRM's conversion APIs, and bulk conversion.

The endpoint methods (one request each) come from ``zoho_convert.api.EndpointClient``; the
bulk methods are ``zoho_convert.bulk.convert.convert_many`` and ``resume`` themselves, bound
as methods (one declaration, one docstring: ``help(client.convert_many)`` shows it all).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoho_convert.api.auth import RefreshTokenAuth
from zoho_convert.api.client import Auth, EndpointClient
from zoho_convert.bulk.convert import convert_many, resume
from zoho_convert.bulk.ledger import ConversionLedger, NullLedger
from zoho_convert.fleet.base import Fleet
from zoho_convert.settings import client_kwargs_from_env

__all__ = ["ZohoConvertClient"]


class ZohoConvertClient(EndpointClient):
    """An async client for Zoho CRM's conversion APIs.

    Use it as an async context manager; share one client (and its session) between tasks::

        async with ZohoConvertClient(StaticToken(token)) as client:
            report = await client.convert_many("Quotes", ids, to="Sales_Orders")

    Args:
        auth: a ``StaticToken`` or a ``RefreshTokenAuth``.
        fleet: share the org's limits with other processes (``zoho_convert.fleet.RedisFleet``):
            its request limit replaces this client's own (``max_concurrency`` is then
            org-wide, for every process of the fleet), a ``RefreshTokenAuth`` keeps its access
            token in the fleet (one token, one refresh at a time, for every process), credits
            are recorded fleet-wide, and ``convert_many`` skips the ids the fleet's ledger
            knows converted. The caller starts and closes the fleet, as with a session.
        **options: ``EndpointClient``'s arguments (data center, API domain, session, retry
            policy, concurrency limits, sleep and clock for tests, ...).
    """

    convert_many = convert_many
    resume = resume

    def __init__(self, auth: Auth, *, fleet: Fleet | None = None, **options: Any) -> None:
        if fleet is not None:
            options.setdefault("limiter", fleet.limiter)
            options.setdefault("credits", fleet.credits)
        super().__init__(auth, **options)
        if fleet is not None and isinstance(auth, RefreshTokenAuth):
            auth.share_tokens(fleet.tokens)
        self._ledger: ConversionLedger = fleet.ledger if fleet is not None else NullLedger()

    @property
    def ledger(self) -> ConversionLedger:
        """The ids known converted (the fleet's; without a fleet, it remembers nothing)."""
        return self._ledger

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
