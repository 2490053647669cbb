"""Every Zoho error code maps to its class through a real HTTP reply, with what a person needs."""

from __future__ import annotations

import pickle

import pytest
from aioresponses import aioresponses
from core_helpers import BASE, SEED_ERROR_CODES, SEEDS, error_codes_in_seeds, make_client

from zoho_convert import (
    APIError,
    AuthenticationError,
    InvalidRequestError,
    JobNotFoundError,
    JobState,
    JobStatus,
    ModuleRef,
    PermissionDeniedError,
    PollTimeoutError,
    RateLimitError,
    RecordStateError,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
    TransportError,
    ZohoConvertError,
)
from zoho_convert.api.errors import ERROR_CODES, error_for

EXPECTED_CLASS: dict[str, type[APIError]] = {
    "MANDATORY_NOT_FOUND": InvalidRequestError,
    "INVALID_DATA": InvalidRequestError,
    "NO_PERMISSION": PermissionDeniedError,
    "AMBIGUITY_DURING_PROCESSING": InvalidRequestError,
    "LIMIT_EXCEEDED": InvalidRequestError,
    "EXPECTED_FIELD_MISSING": InvalidRequestError,
    "INVALID_REQUEST_METHOD": InvalidRequestError,
    "INVALID_MODULE": InvalidRequestError,
    "OAUTH_SCOPE_MISMATCH": AuthenticationError,
    "AUTHENTICATION_FAILURE": AuthenticationError,
    "INVALID_URL_PATTERN": InvalidRequestError,
    "INTERNAL_ERROR": ServerError,
    "REQUIRED_PARAM_MISSING": InvalidRequestError,
    "ID_ALREADY_CONVERTED": RecordStateError,
    "NOT_APPROVED": RecordStateError,
    "NOT_REVIEWED": RecordStateError,
    "DUPLICATE_DATA": RecordStateError,
    "AUTHORIZATION_FAILED": PermissionDeniedError,
    "RECORD_LOCKED": RecordStateError,
    "INVALID_TOKEN": AuthenticationError,
    "TOO_MANY_REQUESTS": RateLimitError,
    "LIMIT_REACHED": RateLimitError,
    "INTERNAL_SERVER_ERROR": ServerError,
    # Codes Zoho's OpenAPI v8 specs add for these endpoints.
    "MAPPING_MISMATCH": InvalidRequestError,
    "NOT_ALLOWED": InvalidRequestError,
    "REQUIRED_DATA_NOT_FOUND": InvalidRequestError,
    "API_NOT_SUPPORTED": InvalidRequestError,
}

# The status each code arrives with (the seed pages' own, or Zoho's usual one).
STATUS_OF: dict[str, int] = {code: statuses[0] for code, statuses in SEED_ERROR_CODES.items()}
STATUS_OF.update(
    INVALID_TOKEN=401,
    TOO_MANY_REQUESTS=429,
    LIMIT_REACHED=400,
    INTERNAL_SERVER_ERROR=500,
    MAPPING_MISMATCH=400,
    NOT_ALLOWED=400,
    REQUIRED_DATA_NOT_FOUND=400,
    API_NOT_SUPPORTED=400,
)

# A policy with one try: these tests look at the mapping, not at retries.
ONE_TRY = RetryPolicy(max_tries=1)


def test_table_covers_every_code_of_the_seeds_plus_the_extras() -> None:
    """ERROR_CODES holds every code the seeds list, plus INVALID_TOKEN and TOO_MANY_REQUESTS."""
    assert set(SEED_ERROR_CODES) | {"INVALID_TOKEN", "TOO_MANY_REQUESTS"} <= set(ERROR_CODES)
    assert set(ERROR_CODES) == set(EXPECTED_CLASS)


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seed pages are not beside the checkout")
def test_codes_parsed_from_the_seed_pages_are_all_known() -> None:
    """Parsing the four seed files finds exactly the codes listed here, each in ERROR_CODES."""
    parsed = error_codes_in_seeds()
    assert {code: tuple(sorted(s)) for code, s in parsed.items()} == SEED_ERROR_CODES
    assert set(parsed) <= set(ERROR_CODES)


@pytest.mark.parametrize("code", sorted(EXPECTED_CLASS))
def test_every_code_has_a_resolution_hint(code: str) -> None:
    """Each code in the table carries a non-empty resolution hint."""
    cls, hint = ERROR_CODES[code]
    assert cls is EXPECTED_CLASS[code]
    assert hint.strip()


def error_body(code: str) -> dict[str, object]:
    return {
        "code": code,
        "details": {"api_name": "ids", "json_path": "$.ids[0]"},
        "message": f"message for {code}",
        "status": "error",
    }


@pytest.mark.parametrize("wrapped", [False, True], ids=["top-level", "in-data0"])
@pytest.mark.parametrize("code", sorted(EXPECTED_CLASS))
async def test_code_maps_to_class_through_http(m: aioresponses, code: str, wrapped: bool) -> None:
    """A Zoho error reply (top level or inside data[0]) raises the code's class with every field."""
    status = STATUS_OF[code]
    body = {"data": [error_body(code)]} if wrapped else error_body(code)
    url = f"{BASE}/Quotes/1/actions/convert"
    m.post(url, status=status, payload=body, headers={"X-REQUEST-ID": "req-42"})
    async with make_client(retry=ONE_TRY) as client:
        with pytest.raises(APIError) as caught:
            await client.convert("Quotes", "1", to=ModuleRef("Sales_Orders", "2"))
    error = caught.value
    assert type(error) is EXPECTED_CLASS[code]
    assert error.status == status
    assert error.code == code
    assert error.message == f"message for {code}"
    assert dict(error.details) == {"api_name": "ids", "json_path": "$.ids[0]"}
    assert error.request_id == "req-42"
    text = str(error)
    assert code in text
    assert str(status) in text
    assert f"message for {code}" in text
    assert "json_path" in text
    assert ERROR_CODES[code][1] in text
    assert error.hint == ERROR_CODES[code][1]


@pytest.mark.parametrize("code", sorted(EXPECTED_CLASS))
async def test_error_inside_data0_of_a_200_reply(m: aioresponses, code: str) -> None:
    """An error row inside data[0] of an HTTP 200 reply still raises the code's class."""
    m.post(f"{BASE}/Leads/1/actions/convert", status=200, payload={"data": [error_body(code)]})
    async with make_client(retry=ONE_TRY) as client:
        with pytest.raises(APIError) as caught:
            await client.convert_lead("1")
    assert isinstance(caught.value, EXPECTED_CLASS[code])
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, InvalidRequestError),
        (404, InvalidRequestError),
        (409, InvalidRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
    ],
)
async def test_unknown_code_falls_back_by_status(
    m: aioresponses, status: int, cls: type[APIError]
) -> None:
    """A code Zoho never documented is classed by its HTTP status, and keeps its own code."""
    m.get(
        f"{BASE}/Quotes/actions/mass_convert?job_id=1",
        status=status,
        payload=error_body("SOMETHING_NEW"),
    )
    async with make_client(retry=ONE_TRY) as client:
        with pytest.raises(APIError) as caught:
            await client.mass_convert_status("Quotes", "1")
    assert type(caught.value) is cls
    assert caught.value.code == "SOMETHING_NEW"
    assert caught.value.status == status


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, InvalidRequestError), (403, PermissionDeniedError), (404, InvalidRequestError),
     (408, ServerError), (502, ServerError)],
)
async def test_non_json_error_reply_is_classed_by_status(
    m: aioresponses, status: int, cls: type[APIError]
) -> None:
    """An error reply to a POST that is not JSON (a proxy's HTML page) raises by HTTP status;
    a 408 is a proxy's timeout, after which Zoho may have acted."""
    m.post(f"{BASE}/Quotes/1/actions/convert", status=status, body="<html>oops</html>")
    async with make_client(retry=ONE_TRY) as client:
        with pytest.raises(cls) as caught:
            await client.convert("Quotes", "1", to=ModuleRef("Sales_Orders", "2"))
    assert caught.value.status == status
    assert "oops" in str(caught.value)
    assert caught.value.maybe_processed == (status >= 500 or status == 408)


@pytest.mark.parametrize("status", [400, 403, 404, 405, 408, 409, 502])
async def test_a_proxy_page_to_a_get_is_a_server_side_failure(
    m: aioresponses, status: int
) -> None:
    """A 4xx page without Zoho's error body answering a status poll (a proxy's, a misrouting
    balancer's) is no answer of Zoho's: a ``ServerError``, retried like a 5xx, never an
    ``InvalidRequestError`` that stops a run (hunt round 9: one 400 or 404 page to one poll
    stopped the whole run)."""
    url = f"{BASE}/Quotes/actions/mass_convert?job_id=1"
    m.get(url, status=status, body="<html>oops</html>")
    m.get(url, payload={"status": "COMPLETED", "total_count": 1, "converted_count": 1})
    async with make_client(retry=RetryPolicy(max_tries=2, initial=0.001)) as client:
        status_read = await client.mass_convert_status("Quotes", "1")
    assert status_read.converted_count == 1


def test_unknown_code_direct_fallbacks() -> None:
    """error_for with an unknown code falls back on the status: an error body in a 2xx reply
    (Convert Lead answers some with 202) is a refusal like a 4xx; no hint is invented."""
    assert type(error_for(418, "TEAPOT", "x")) is InvalidRequestError
    assert type(error_for(202, "ODD", "x")) is InvalidRequestError
    assert error_for(200, "ODD", "x").hint == ""


def test_rate_limit_error_carries_retry_after() -> None:
    """error_for passes Retry-After to a RateLimitError."""
    error = error_for(429, "TOO_MANY_REQUESTS", "slow down", retry_after=7.0)
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 7.0


def test_hierarchy() -> None:
    """The tree of DESIGN.md: every error is a ZohoConvertError, RecordStateError is a 4xx."""
    for cls in (
        TransportError,
        ResponseValidationError,
        APIError,
        PollTimeoutError,
    ):
        assert issubclass(cls, ZohoConvertError)
    for cls in (
        AuthenticationError,
        PermissionDeniedError,
        RateLimitError,
        ServerError,
        InvalidRequestError,
    ):
        assert issubclass(cls, APIError)
    assert issubclass(RecordStateError, InvalidRequestError)
    assert issubclass(JobNotFoundError, InvalidRequestError)


STATUS = JobStatus(
    state=JobState.FAILED, total_count=3, converted_count=1, not_converted_count=0, failed_count=2
)


@pytest.mark.parametrize(
    "error",
    [
        *(error_for(STATUS_OF[code], code, "msg", {"k": "v"}) for code in sorted(EXPECTED_CLASS)),
        error_for(429, "TOO_MANY_REQUESTS", "m", retry_after=3.5, request_id="r"),
        error_for(500, "INTERNAL_ERROR", "m", maybe_processed=True),
        TransportError("connection reset", sent=True),
        ResponseValidationError("bad", field="data[0].status", maybe_processed=True),
        JobNotFoundError("99", 204, "NO_CONTENT", "gone"),
        PollTimeoutError("99", STATUS),
        PollTimeoutError("99", None),
    ],
    ids=lambda e: type(e).__name__ + ":" + getattr(e, "code", ""),
)
def test_errors_pickle(error: ZohoConvertError) -> None:
    """Every error survives pickling with its class, text and attributes (for worker pools)."""
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    attributes = (
        "status",
        "code",
        "message",
        "details",
        "request_id",
        "maybe_processed",
        "retry_after",
        "sent",
        "field",
        "job_id",
        "status",
        "last_status",
    )
    for name in attributes:
        if hasattr(error, name):
            assert getattr(copy, name) == getattr(error, name), name


def test_maybe_processed_is_in_the_text() -> None:
    """A 5xx to a POST says in its text that Zoho may have processed the request."""
    error = error_for(500, "INTERNAL_ERROR", "boom", maybe_processed=True)
    assert error.maybe_processed
    assert "may have been processed" in str(error)
    assert "may have been processed" not in str(error_for(500, "INTERNAL_ERROR", "boom"))
