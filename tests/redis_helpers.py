"""A real redis-server for the tests that need one (fleet, CLI, README examples).

Imported as ``redis_helpers`` (``tests/`` is on ``sys.path``, see ``fakes``).
"""

from __future__ import annotations

import os

import pytest

from zoho_convert.fleet.localserver import find_redis_server


def need_redis_server(what: str) -> None:
    """Skip the test when redis-server is not installed, or fail in CI (``CI`` set), which
    must run ``what``."""
    if find_redis_server() is not None:
        return
    reason = "redis-server is not installed (apt-get install redis-server)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must run {what}")
    pytest.skip(reason)
