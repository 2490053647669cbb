"""Hunt round 9's readings of the wire, unit by unit (``tests/integration/test_hunt_round9.py``
has the runs): a status row naming its job, integral float counts, an empty 200, a 429 of any
code, a gateway's 4xx page (to a GET, to a record's single convert), a proxy's page from the
token endpoint, a lifetime as a string."""

from __future__ import annotations

from typing import Any

import pytest

from zoho_convert import (
    InvalidRequestError,
    JobState,
    RateLimitError,
    ResponseValidationError,
    ServerError,
)
from zoho_convert.api.errors import AuthenticationError, error_for
from zoho_convert.api.oauth import read_token_reply
from zoho_convert.api.replies import decode_reply
from zoho_convert.api.wire import parse_job_status
from zoho_convert.bulk.events import BatchRead, BatchUncertain, SubmitStarted
from zoho_convert.bulk.machine import RunMachine
from zoho_convert.bulk.settling import SettlePolicy

JOB = "7340011000000500013"
OTHER = "7340011000000500026"


def row(job: str | int | None, converted: Any = 10, failed: Any = 0) -> dict[str, Any]:
    """A final status row, naming ``job`` unless None."""
    body: dict[str, Any] = {
        "status": "COMPLETED",
        "total_count": 10,
        "converted_count": converted,
        "not_converted_count": 0,
        "failed_count": failed,
    }
    if job is not None:
        body["job_id"] = job
    return body


@pytest.mark.parametrize(
    "payload",
    [
        row(JOB, 7, 3),
        {"data": [row(JOB, 7, 3)]},
        {"data": [row(OTHER), row(JOB, 7, 3)]},
        {"data": [row(int(JOB), 7, 3)]},
        {"data": [row(None, 7, 3), row(None, 7, 3)]},
        {"data": [row(JOB, 7, 3), row(JOB, 7, 3)]},
        {"data": [{**row(None, 7, 3), "Job_Id": JOB}]},
    ],
)
def test_a_row_naming_the_job_or_rows_that_agree_are_read(payload: Any) -> None:
    """The row naming the polled job (as a string, a number, any key case) is its status,
    wherever it stands among rows; rows naming no job are read when they agree."""
    status = parse_job_status(payload, JOB)
    assert (status.converted_count, status.failed_count) == (7, 3)


@pytest.mark.parametrize(
    "payload",
    [
        row(OTHER),
        {"data": [row(OTHER)]},
        {"data": [row(OTHER), row(None, 7, 3)]},
        {"data": [row(None), row(None, 7, 3)]},
        {"data": [row(JOB), row(JOB, 7, 3)]},
    ],
)
def test_a_status_that_may_be_another_jobs_is_unusable(payload: Any) -> None:
    """A row naming another job, or rows that disagree with none naming the job alone,
    are not the job's status: unusable (the poller asks again), never read as its own."""
    with pytest.raises(ResponseValidationError):
        parse_job_status(payload, JOB)


def test_without_a_job_id_the_first_row_is_read_as_before() -> None:
    """Called without the job's id (a caller's own reading), the first row is read."""
    assert parse_job_status({"data": [row(OTHER, 4, 6), row(JOB)]}).converted_count == 4


@pytest.mark.parametrize(("value", "read"), [(10.0, 10), (0.0, 0), ("10", 10), (10, 10)])
def test_integral_float_counts_are_counts(value: Any, read: int) -> None:
    """JSON has one number type: ``10.0`` is the count 10."""
    status = parse_job_status(row(None, converted=value, failed=10 - read), JOB)
    assert status.converted_count == read and status.state is JobState.COMPLETED


@pytest.mark.parametrize("value", [9.5, -1.0, float("inf"), 1e30, "10.0"])
def test_other_floats_are_not_counts(value: Any) -> None:
    """A fraction, a negative, an infinity, a number past a long, or a float in a string are
    no counts."""
    with pytest.raises(ResponseValidationError):
        parse_job_status(row(None, converted=value), JOB)


@pytest.mark.parametrize("status", [200, 202])
@pytest.mark.parametrize("body", [b"", b"  \r\n"])
@pytest.mark.parametrize("is_post", [False, True])
def test_an_empty_2xx_is_unreadable_not_no_content(status: int, body: bytes, is_post: bool) -> None:
    """Only a 204 is Zoho's No Content; an empty 200 or 202 is a reply lost on the way: a POST
    so answered may have been processed."""
    assert decode_reply(204, {}, b"", is_post) is None
    with pytest.raises(ResponseValidationError) as caught:
        decode_reply(status, {}, body, is_post)
    assert caught.value.maybe_processed is is_post


@pytest.mark.parametrize("code", ["LIMIT_EXCEEDED", "INVALID_DATA", "INTERNAL_ERROR", "NEW_CODE"])
def test_a_429_is_a_throttle_whatever_its_code(code: str) -> None:
    """HTTP 429 is "too many requests" whatever code its body names: a ``RateLimitError``
    keeping the code and the Retry-After, with the throttle's hint (not "send at most 50
    ids")."""
    error = error_for(429, code, "limit", retry_after=2.0)
    assert type(error) is RateLimitError and error.code == code and error.retry_after == 2.0
    assert "50" not in str(error) and not error.maybe_processed


@pytest.mark.parametrize("status", [400, 403, 404, 405, 408, 409, 410])
def test_a_4xx_page_to_a_get_is_a_server_side_failure(status: int) -> None:
    """A 4xx without Zoho's error body answering a GET is a gateway's page, not Zoho's
    refusal: ``ServerError`` (retried; no news of a polled job)."""
    with pytest.raises(ServerError) as caught:
        decode_reply(status, {}, b"<html>nginx</html>", False)
    assert caught.value.status == status and not caught.value.maybe_processed


@pytest.mark.parametrize("status", [400, 404])
def test_a_4xx_page_to_a_post_is_still_a_refusal(status: int) -> None:
    """To a POST, a 400 or 404 page stays a refusal (the bulk run decides what it means),
    and a Zoho error body to a GET stays Zoho's."""
    with pytest.raises(InvalidRequestError):
        decode_reply(status, {}, b"<html>nginx</html>", True)
    zoho = b'{"code":"INVALID_DATA","details":{},"message":"x","status":"error"}'
    with pytest.raises(InvalidRequestError):
        decode_reply(400, {}, zoho, False)


def test_a_408_to_a_post_may_have_been_processed() -> None:
    """A 408 is a proxy that gave up waiting: behind it, Zoho may have acted on the POST."""
    with pytest.raises(ServerError) as caught:
        decode_reply(408, {}, b"<html>408</html>", True)
    assert caught.value.maybe_processed


def _remember(error: AuthenticationError) -> AuthenticationError:
    raise AssertionError(f"remembered as refused credentials: {error}")


@pytest.mark.parametrize("status", [400, 401, 404, 408])
def test_a_proxys_page_from_the_token_endpoint_is_retried(status: int) -> None:
    """A 4xx from the token endpoint without an OAuth error body is a ``ServerError``
    (retried), never remembered as refused credentials."""
    with pytest.raises(ServerError):
        read_token_reply(status, None, b"<html>nginx</html>", _remember)


def test_an_oauth_error_body_under_a_4xx_is_still_a_refusal() -> None:
    """``{"error": "invalid_code"}`` under a 400 is the accounts server's refusal."""
    refused: list[AuthenticationError] = []

    def remember(error: AuthenticationError) -> AuthenticationError:
        refused.append(error)
        return error

    with pytest.raises(AuthenticationError):
        read_token_reply(400, {"error": "invalid_code"}, b"", remember)
    assert refused


@pytest.mark.parametrize(
    ("expires_in", "seconds"),
    [("60", 60.0), (" 120 ", 120.0), (90.5, 90.5), ("an hour", 3600.0), ("nan", 3600.0),
     ("-5", 3600.0), ("inf", 3600.0)],
)
def test_token_lifetimes_as_numeric_strings_are_read(expires_in: Any, seconds: float) -> None:
    """``expires_in`` written as a numeric string is read; words, NaN, a negative or an
    infinity fall back to the hour Zoho's tokens last."""
    reply = {"access_token": "1000.x", "expires_in": expires_in}
    assert read_token_reply(200, reply, b"", _remember)[1] == seconds


@pytest.mark.parametrize("status", [400, 404, 409])
def test_a_proxys_page_to_a_single_convert_is_not_the_call_refused(status: int) -> None:
    """Once requests were accepted, a 4xx page without Zoho's error body answering a record's
    single convert parks the record for another try after its pause (the single call is not
    taken for refused: that stops the record checks for the run); before any was accepted,
    it may be about the request (None: the run's usual fallback)."""
    machine = RunMachine(SettlePolicy())
    machine(BatchRead(0, ("101",), 1, 1, 0))
    machine(SubmitStarted(0))
    page = InvalidRequestError(status, f"HTTP_{status}", f"HTTP {status} without a Zoho body")
    assert machine.refused(0, ("101",), page, settling=True, at=1.0, single=True) is None
    machine.gate_open = True
    verdict = machine.refused(0, ("101",), page, settling=True, at=1.0, single=True)
    assert verdict is not None
    ((parked,), parts) = verdict
    assert isinstance(parked, BatchUncertain) and parked.at_once and parts == []
    zohos = InvalidRequestError(status, "INVALID_URL_PATTERN", "Zoho's own refusal")
    assert machine.refused(0, ("101",), zohos, settling=True, at=1.0, single=True) is None
