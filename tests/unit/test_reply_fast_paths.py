"""The fast paths of reply reading (plain JSON dicts and lists, int counts, UTF-8 bodies,
aiohttp's header type) read exactly what the general paths read."""

from __future__ import annotations

import json
from types import MappingProxyType

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from zoho_convert.api.credits import carries_credits, parse_credits
from zoho_convert.api.errors import ResponseValidationError
from zoho_convert.api.models import JobState
from zoho_convert.api.replies import decode_reply
from zoho_convert.api.wire import parse_job_status


def _proxy(**headers: str) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict({k.replace("_", "-"): v for k, v in headers.items()}))


@pytest.mark.parametrize(
    "name",
    ["X-API-CREDITS-REMAINING", "x-ratelimit-remaining", "X-RateLimit-Limit", "x-RATELIMIT-reset"],
)
def test_aiohttp_headers_with_a_rate_header_in_any_case_carry_credits(name: str) -> None:
    headers = CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json", name: "7"}))
    assert carries_credits(headers)
    assert carries_credits(dict(headers))  # the general path agrees


def test_aiohttp_headers_without_rate_headers_carry_none() -> None:
    headers = _proxy(Content_Type="application/json", X_Request_Id="abc")
    assert not carries_credits(headers)
    assert parse_credits(headers, 0.0) is None


def test_credits_are_read_from_aiohttp_headers() -> None:
    credits = parse_credits(_proxy(x_ratelimit_remaining="12", X_RATELIMIT_LIMIT="100"), 5.0)
    assert credits is not None and (credits.remaining, credits.limit) == (12, 100)


_DONE = {"data": [{"total_count": 2, "converted_count": 2, "status": "COMPLETED"}]}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32"])
def test_a_json_reply_is_read_in_every_encoding_json_knows(encoding: str) -> None:
    raw = json.dumps(_DONE).encode(encoding)
    assert decode_reply(200, {}, raw, False) == _DONE


def test_a_utf8_reply_with_non_ascii_text_is_read() -> None:
    raw = json.dumps({"message": "Größe ✓"}, ensure_ascii=False).encode()
    assert decode_reply(200, {}, raw, False) == {"message": "Größe ✓"}


def test_a_reply_that_is_not_utf8_is_refused_as_unreadable() -> None:
    with pytest.raises(ResponseValidationError):
        decode_reply(200, {}, b'{"status": "\xff"}', False)


def test_a_status_row_in_a_read_only_mapping_reads_like_a_dict() -> None:
    row = {"total_count": 3, "converted_count": 1, "failed_count": 2, "status": "COMPLETED"}
    wrapped = {"data": (MappingProxyType(row),)}  # neither a dict nor a list
    status = parse_job_status(wrapped)
    assert status == parse_job_status({"data": [row]})
    assert (status.state, status.converted_count, status.failed_count) == (JobState.COMPLETED, 1, 2)


@pytest.mark.parametrize("count", [-1, 2**64, True, 1.5])
def test_a_count_that_is_not_a_long_is_refused(count: object) -> None:
    with pytest.raises(ResponseValidationError) as caught:
        parse_job_status({"data": [{"total_count": count, "status": "COMPLETED"}]})
    assert caught.value.field == "data[0].total_count"


def test_the_largest_count_below_the_bound_is_read() -> None:
    status = parse_job_status({"total_count": 2**64 - 1, "status": "IN PROGRESS"})
    assert status.total_count == 2**64 - 1
