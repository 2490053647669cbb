"""Shared test configuration."""

from __future__ import annotations

import inspect
from typing import Any

import aioresponses.core
from aiohttp import ClientResponse


class _NoUploadWriter:
    """Stands in for the request's stream writer: a mocked request uploads nothing."""

    output_size = 0


# Shim for an upstream gap: aioresponses 0.7.9 builds ClientResponse without the `stream_writer`
# argument that aiohttp 3.14 requires (aioresponses issue #289). aiohttp 3.14 is a security
# release, so we keep it and supply the argument here. Remove once aioresponses ships a fix.
if "stream_writer" in inspect.signature(ClientResponse.__init__).parameters:

    class _ShimmedClientResponse(ClientResponse):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("stream_writer", _NoUploadWriter())
            super().__init__(*args, **kwargs)

    aioresponses.core.ClientResponse = _ShimmedClientResponse  # type: ignore[misc]
