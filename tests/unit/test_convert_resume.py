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


async def test_the_rest_of_the_input_is_read_in_the_first_sessions_batch_size(
    tmp_path: Path,
) -> None:
    """batch_size is the journaled run's: resumed with the same ids, the rest of the input
    goes in batches of 10, as the first session's did."""
    path = tmp_path / "run.db"
    api = FakeAPI(submit_faults={4: AuthenticationError(401, "AUTHENTICATION_FAILURE", "x")})
    source = ids(200)
    with pytest.raises(AuthenticationError):
        await convert_many(
            api,
            "Quotes",
            source,
            to="Sales_Orders",
            journal=str(path),
            batch_size=10,
            max_pending_jobs=3,
        )
    api.submit_faults = {}
    first = len(api.calls)

    report = await resume(api, str(path), ids=source)

    assert report.ok and report.converted == 200
    assert {len(call.ids) for call in api.calls} == {10}
    assert len(api.calls) > first  # the resumed session sent the rest
