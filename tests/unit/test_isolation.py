"""Reading a refused submission: which ids Zoho refused, or whether it refused the request."""

from __future__ import annotations

from typing import Any

import pytest

from zoho_convert.api.errors import TransportError, error_for
from zoho_convert.bulk.isolation import (
    REQUEST_LEVEL,
    error_text,
    is_isolatable,
    locate_offenders,
    maybe_processed,
)

PART = [str(1000 + n) for n in range(50)]


def refusal(code: str, details: dict[str, Any], status: int = 400) -> Any:
    return error_for(status, code, "refused", details)


@pytest.mark.parametrize(
    ("code", "details", "located"),
    [
        # OpenAPI v8: the index of the id in ``ids``, as an int or a numeric string.
        ("ID_ALREADY_CONVERTED", {"resource_path_index": 7}, {7}),
        ("NOT_APPROVED", {"resource_path_index": "3"}, {3}),
        ("NOT_REVIEWED", {"resource_path_index": 49}, {49}),
        ("INVALID_DATA", {"resource_path_index": 0}, {0}),
        # Older replies: json_path and/or the id itself; a list of ids.
        ("INVALID_DATA", {"api_name": "ids", "json_path": "$.ids[12]"}, {12}),
        ("ID_ALREADY_CONVERTED", {"id": "1020"}, {20}),
        ("ID_ALREADY_CONVERTED", {"ids": ["1001", 1002, "9"]}, {1, 2}),
        # No usable hint: bisect.
        ("INVALID_DATA", {}, None),
        ("ID_ALREADY_CONVERTED", {"resource_path_index": 50}, None),
        ("INVALID_DATA", {"json_path": "$.ids"}, None),
        ("INVALID_DATA", {"json_path": "$.ids[50]"}, None),  # one past the last id
        # About the request, not an id (nested details read too).
        (
            "AMBIGUITY_DURING_PROCESSING",
            {"ambiguity_due_to": [{"api_name": "id", "json_path": "$.convert_to[0].module.id"}]},
            REQUEST_LEVEL,
        ),
        (
            "EXPECTED_FIELD_MISSING",
            {"expected_fields": [{"api_name": "convert_to", "json_path": "$.convert_to"}]},
            REQUEST_LEVEL,
        ),
        ("INVALID_DATA", {"api_name": "assign_to", "json_path": "$.assign_to.id"}, REQUEST_LEVEL),
        ("INVALID_DATA", {"api_name": "carry_over_tags"}, REQUEST_LEVEL),
        ("INVALID_DATA", {"json_path": "$.Deals.Pipeline"}, REQUEST_LEVEL),
        ("INVALID_DATA", {"param_name": "job_id"}, REQUEST_LEVEL),
        ("NO_PERMISSION", {"resource_path_index": 4}, {4}),
    ],
)
def test_offenders_are_read_from_every_documented_detail_form(
    code: str, details: dict[str, Any], located: Any
) -> None:
    """resource_path_index, json_path $.ids[N], id, ids: the refused ids; a path elsewhere in
    the body (nested in ambiguity_due_to/expected_fields too): the request."""
    status = 403 if code == "NO_PERMISSION" else 400
    found = locate_offenders(refusal(code, details, status), PART)
    assert found == (frozenset(located) if isinstance(located, set) else located)


@pytest.mark.parametrize(
    ("code", "details", "status", "isolatable"),
    [
        ("ID_ALREADY_CONVERTED", {"resource_path_index": 1}, 400, True),
        ("INVALID_DATA", {}, 400, True),  # bisect
        ("INVALID_DATA", {"json_path": "$.convert_to[0].module.id"}, 400, False),
        ("AMBIGUITY_DURING_PROCESSING", {}, 400, False),  # a module id, not a record id
        ("AMBIGUITY_DURING_PROCESSING", {"json_path": "$.ids[2]"}, 400, True),
        ("NO_PERMISSION", {"resource_path_index": 2}, 403, True),
        ("NO_PERMISSION", {"permissions": ["Crm_Implied_Mass_Convert_Quotes"]}, 403, False),
        ("EXPECTED_FIELD_MISSING", {}, 400, False),
        ("LIMIT_EXCEEDED", {"limit": 50}, 400, False),
        ("INTERNAL_ERROR", {}, 500, False),
    ],
)
def test_only_id_level_refusals_are_isolated(
    code: str, details: dict[str, Any], status: int, isolatable: bool
) -> None:
    """A refusal is isolated only when it concerns ids; a request-level one stops the run."""
    assert is_isolatable(refusal(code, details, status), PART) is isolatable


def test_the_reason_names_the_error_class() -> None:
    """The report's reason says which kind of error kept the ids from converting."""
    reason = error_text(refusal("INVALID_DATA", {}))
    assert reason.startswith("InvalidRequestError: ")


def test_only_a_reply_we_lost_may_have_been_processed() -> None:
    """A transport error after sending may have converted; one before sending did not, nor
    did an error that is not Zoho's (a bug of ours stops the run; it is not a lost reply)."""
    assert maybe_processed(TransportError("reset", sent=True)) is True
    assert maybe_processed(TransportError("refused", sent=False)) is False
    assert maybe_processed(ValueError("ours")) is False
