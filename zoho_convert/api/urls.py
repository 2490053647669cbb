"""URLs that credentials are sent to: the https-or-loopback rule, and redaction for display.

A URL may carry a ``user:password@`` part (a proxy's, written into ``api_domain`` or the
accounts URL): it is never shown whole, in an error, a repr or a log line.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

__all__ = ["check_secure_url", "redact_url"]

# ``user:password@`` (or ``user@``) before a host: with or without a well-formed scheme.
_USERINFO = re.compile(r"[^/@\s]*@")


def redact_url(url: str) -> str:
    """``url`` with any ``user:password@`` part replaced by ``***@``, for display."""
    return _USERINFO.sub("***@", url)


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_secure_url(url: str, *, allow_insecure: bool, what: str) -> None:
    """Refuse to send credentials over plain http:// to anything but a loopback address.

    Raises:
        ValueError: the URL is not http(s), or not https (nor loopback http) and
            ``allow_insecure`` is False. The message never repeats a password in the URL.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{what} must be an http(s) URL, got {redact_url(url)!r}")
    if parts.scheme == "http" and not allow_insecure and not _is_loopback(parts.hostname):
        raise ValueError(
            f"refusing to send credentials over plain http to {parts.hostname}: use https, "
            "or pass allow_insecure_http=True if you really mean it"
        )
