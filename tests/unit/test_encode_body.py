"""Request bodies are compact JSON; a mass convert's ids are written out directly, byte for byte
what the generic encoder writes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from zoho_convert.api.transport import encode_body


def _compact(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
_ids = st.lists(
    st.text(alphabet="0123456789", max_size=20)  # digits (the fast path), empty strings too
    | st.text(max_size=5)  # anything else: quotes, backslashes, non-ASCII digits
    | st.integers(),
    max_size=60,
)


@given(_ids, st.dictionaries(st.text().filter(lambda k: k != "ids"), _json_values, max_size=3))
def test_a_body_with_ids_first_encodes_as_the_generic_encoder_does(
    ids: list[Any], rest: dict[str, Any]
) -> None:
    body = {"ids": ids, **rest}
    assert encode_body(body) == _compact(body)


@given(st.dictionaries(st.text(), _json_values, max_size=4) | _json_values)
def test_any_body_reads_back_as_itself(body: Any) -> None:
    assert json.loads(encode_body(body)) == body


def test_a_mass_convert_body_is_written_directly() -> None:
    ids = [str(8604792000000000000 + i) for i in range(50)]
    target = [{"module": {"id": "1", "api_name": "Sales_Orders"}, "carry_over_tags": False}]
    body = {"ids": ids, "convert_to": target}
    assert encode_body(body) == _compact(body)
    assert encode_body({"ids": ["12", "٣"]}) == _compact({"ids": ["12", "٣"]})  # not ASCII
    assert encode_body({"ids": ['1"']}) == b'{"ids":["1\\""]}'
