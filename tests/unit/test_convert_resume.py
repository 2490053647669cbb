"""``resume`` entry points: which input it reads again, and what it does with the journal."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_convert_api import FakeAPI

from zoho_convert import AuthenticationError
from zoho_convert.bulk.convert import convert_many, resume


def ids(count: int, first: int = 1000) -> list[str]:
    return [str(first + n) for n in range(count)]


async def test_ids_given_to_a_run_that_had_read_all_its_input_are_not_read_again(
    tmp_path: Path,
) -> None:
    """The first session read its whole input before a refused token stopped it: resume
    finishes those ids and ignores the ids passed again, even ones the input never had."""
    path = tmp_path / "run.db"
    api = FakeAPI(submit_faults={1: AuthenticationError(401, "AUTHENTICATION_FAILURE", "x")})
    with pytest.raises(AuthenticationError) as stopped:
        await convert_many(api, "Quotes", ids(100), to="Sales_Orders", journal=str(path))
    assert stopped.value.partial_report.input_complete  # type: ignore[attr-defined]
    api.submit_faults = {}

    report = await resume(api, str(path), ids=ids(100) + ids(20, first=5000))

    assert report.ok and report.total == 100 and report.converted == 100
    sent = {value for batch in api.submitted_batches for value in batch}
    assert sent == set(ids(100))
