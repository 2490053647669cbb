"""Zoho's data centers: where each region's API and accounts (OAuth) servers live.

Sources: Zoho's CRM "Multi DC" page and its accounts multi-DC page
(https://www.zoho.com/accounts/protocol/oauth/multi-dc.html), which lists the accounts server
of every data center, the United Kingdom's (accounts.zoho.uk) included.
"""

from __future__ import annotations

import enum

__all__ = ["DataCenter", "Environment"]


class Environment(enum.Enum):
    """Which of an org's environments to talk to; each has its own API host."""

    PRODUCTION = "www"
    SANDBOX = "sandbox"
    DEVELOPER = "developer"


class DataCenter(enum.Enum):
    """A Zoho data center, named by region.

    Each value is ``(API domain suffix, accounts server host)``; use :meth:`api_domain` and
    :attr:`token_url` rather than the raw value.
    """

    US = ("zohoapis.com", "accounts.zoho.com")
    EU = ("zohoapis.eu", "accounts.zoho.eu")
    IN = ("zohoapis.in", "accounts.zoho.in")
    AU = ("zohoapis.com.au", "accounts.zoho.com.au")
    CN = ("zohoapis.com.cn", "accounts.zoho.com.cn")
    JP = ("zohoapis.jp", "accounts.zoho.jp")
    CA = ("zohoapis.ca", "accounts.zohocloud.ca")
    SA = ("zohoapis.sa", "accounts.zoho.sa")
    # Zoho's accounts multi-DC list documents accounts.zoho.uk; its CRM pages do not list the UK
    # API host yet, so zohoapis.uk follows the pattern of every other data center. A refreshed
    # token names its API domain, and the client uses that one when none is configured.
    UK = ("zohoapis.uk", "accounts.zoho.uk")

    def api_domain(self, environment: Environment = Environment.PRODUCTION) -> str:
        """The API domain, e.g. ``https://www.zohoapis.eu`` or ``https://sandbox.zohoapis.eu``."""
        return f"https://{environment.value}.{self.value[0]}"

    @property
    def accounts_url(self) -> str:
        """The accounts server, e.g. ``https://accounts.zoho.eu``."""
        return f"https://{self.value[1]}"

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint of this data center."""
        return f"{self.accounts_url}/oauth/v2/token"

    @classmethod
    def from_name(cls, name: str) -> DataCenter:
        """Look a data center up by its short name (``us``, ``eu``, ...), case-insensitively.

        Raises:
            ValueError: no data center has that name.
        """
        try:
            return cls[name.strip().upper()]
        except KeyError:
            names = ", ".join(dc.name.lower() for dc in cls)
            raise ValueError(
                f"unknown Zoho data center {name!r}; expected one of: {names}"
            ) from None
