"""A resumed run whose first session refused input values but read no batch (found mutation
testing ``RunMachine.__init__``'s ``position``): the machine's input position moved only with
a batch read or the input's end, so the values that session refused were read again as new
and refused a second time, counted twice in the report. ``IdsRefused`` now carries (and the
journal keeps) where the input stood.

FakeAPI and a journal in ``tmp_path``; no real sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_convert_api import FakeAPI

from zoho_convert.bulk.convert import convert_many, resume


def invalid_then_broken() -> Iterator[str]:
    """An input whose first value is not a record id, then the iterable fails."""
    yield "abc"
    raise OSError("input unreadable")


async def test_a_resumed_runs_input_is_counted_once_when_only_refusals_were_read_before(
    tmp_path: Path,
) -> None:
    """Control: with a record id read too (a batch journaled), the value refused by the first
    session is skipped on resume: counted once."""
    path = str(tmp_path / "run.db")

    def broken() -> Iterator[str]:
        yield "abc"
        yield "1000"
        raise OSError("input unreadable")

    with pytest.raises(OSError):
        await convert_many(FakeAPI(), "Quotes", broken(), to="Sales_Orders", journal=path)
    report = await resume(FakeAPI(), path, ids=["abc", "1000", "1001"])
    assert report.total == 3 and report.converted == 2
    assert [item.id for item in report.rejected] == ["abc"]


async def test_values_refused_before_any_batch_was_read_are_not_refused_again(
    tmp_path: Path,
) -> None:
    """The first session refused "abc" and failed reading on: no batch, no input end
    journaled. Resumed with the same input ("abc", then two ids), "abc" was read by that
    session: the report counts it once (3 values, "abc" rejected once). Today: 4, twice."""
    path = str(tmp_path / "run.db")
    with pytest.raises(OSError):
        await convert_many(
            FakeAPI(), "Quotes", invalid_then_broken(), to="Sales_Orders", journal=path
        )
    report = await resume(FakeAPI(), path, ids=["abc", "1000", "1001"])
    assert report.converted == 2
    assert [item.id for item in report.rejected] == ["abc"]
    assert report.total == 3
