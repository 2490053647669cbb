"""Replies in the envelope of Zoho's record APIs (hunt round 6): a reply whose ``data`` rows
mix errors with successes (HTTP 207, multi-status) is no refusal of the whole request (Zoho
did part of it); a mass convert's success reply as the one row of ``data`` names its job."""

from __future__ import annotations

import json
from typing import Any

import pytest

from zoho_convert.api.errors import RecordStateError, ResponseValidationError
from zoho_convert.api.replies import decode_reply
from zoho_convert.api.wire import mixed_outcomes, parse_job_id

REFUSED = {
    "code": "ID_ALREADY_CONVERTED",
    "details": {"id": "5725767000001001021"},
    "message": "id already converted",
    "status": "error",
}
SCHEDULED = {
    "code": "SCHEDULED",
    "details": {"job_id": "7340011000000500000"},
    "message": "Mass Convert scheduled successfully",
    "status": "success",
}


def raw(payload: Any) -> bytes:
    return json.dumps(payload).encode()


@pytest.mark.parametrize("status", [200, 202, 207, 400])
def test_a_mass_convert_reply_mixing_a_refused_id_with_a_job_may_have_been_processed(
    status: int,
) -> None:
    """The error row first, then the job of the other ids: for a POST, maybe processed (the
    batch is settled as a lost reply), never a refusal that did nothing (its other ids would
    go again while the job holds them)."""
    with pytest.raises(ResponseValidationError) as caught:
        decode_reply(status, {}, raw({"data": [REFUSED, SCHEDULED]}), True)
    assert caught.value.maybe_processed
    assert "ID_ALREADY_CONVERTED" in str(caught.value)


def test_a_get_reply_mixing_rows_is_unreadable_but_not_processed() -> None:
    with pytest.raises(ResponseValidationError) as caught:
        decode_reply(200, {}, raw({"data": [REFUSED, SCHEDULED]}), False)
    assert not caught.value.maybe_processed


@pytest.mark.parametrize(
    "rows",
    [[REFUSED], [REFUSED, REFUSED], [REFUSED, {**REFUSED, "details": {"resource_path_index": 3}}]],
)
def test_errors_alone_are_still_a_refusal(rows: list[Any]) -> None:
    """Rows that are all errors (one per refused id, or Convert Lead's one row with 202) are
    Zoho's refusal, read from the first row, as before."""
    with pytest.raises(RecordStateError) as caught:
        decode_reply(400, {}, raw({"data": rows}), True)
    assert caught.value.code == "ID_ALREADY_CONVERTED" and not caught.value.maybe_processed


def test_a_server_error_mixing_rows_keeps_its_own_error() -> None:
    """A 5xx is a server error whatever its rows (maybe processed already, for a POST)."""
    with pytest.raises(Exception) as caught:
        decode_reply(500, {}, raw({"data": [REFUSED, SCHEDULED]}), True)
    assert not isinstance(caught.value, ResponseValidationError)


@pytest.mark.parametrize(
    ("payload", "mixed"),
    [
        ({"data": [REFUSED, SCHEDULED]}, True),
        ({"data": [SCHEDULED, REFUSED]}, True),
        ({"data": [REFUSED, {"status": "success"}, "junk"]}, True),
        ({"data": [REFUSED, REFUSED]}, False),
        ({"data": [SCHEDULED]}, False),
        ({"data": [REFUSED]}, False),
        ({"data": [REFUSED, "junk"]}, False),
        ({"data": "rows"}, False),
        (SCHEDULED, False),
        ([REFUSED, SCHEDULED], False),
    ],
)
def test_mixed_outcomes(payload: Any, mixed: bool) -> None:
    assert mixed_outcomes(payload) is mixed


@pytest.mark.parametrize("job_id", ["7340011000000500000", 7340011000000500000])
def test_a_scheduled_reply_inside_data_names_its_job(job_id: object) -> None:
    """The success reply wrapped in ``data`` (one row) is read like the bare one."""
    assert parse_job_id({"data": [{**SCHEDULED, "details": {"job_id": job_id}}]}) == str(job_id)
    assert parse_job_id(SCHEDULED) == "7340011000000500000"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"data": [SCHEDULED, SCHEDULED]}, "details"),  # two jobs? not read as one
        ({"data": []}, "details"),
        ({"data": ["junk"]}, "data[0]"),
        ({"data": [{"status": "success"}]}, "data[0].details"),
        ({"data": [{"details": {"job_id": ""}}]}, "data[0].details.job_id"),
        ({"data": [SCHEDULED], "details": {}}, "details.job_id"),  # a bare reply's details win
    ],
)
def test_a_data_wrapped_reply_without_one_job_is_unreadable(payload: Any, field: str) -> None:
    with pytest.raises(ResponseValidationError) as caught:
        parse_job_id(payload)
    assert caught.value.field == field
