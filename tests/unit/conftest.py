"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aioresponses import aioresponses


@pytest.fixture
def m() -> Iterator[aioresponses]:
    """Mocked HTTP for the test (aioresponses): what the client's session sends and gets."""
    with aioresponses() as mocked:
        yield mocked
