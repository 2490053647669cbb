"""``normalize_ids`` checks a batch of canonical id strings in one pass; whatever it accepts
that way is exactly what the per-id check would accept, unchanged."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zoho_convert.api.ids import normalize_id, normalize_ids

# Ids near every edge: empty, leading zeros, 18/19/20 digits, the largest long and one above,
# signs, spaces, non-ASCII digits, ints.
EDGES = [
    "", "0", "00", "007", "1", "9", "9" * 18, "1" * 19, "8" * 19, "9223372036854775807",
    "9223372036854775808", "9" * 19, "1" * 20, "-5", "+5", " 5", "5 ", "1 2", "٣", "²", 5, 0,
]
ids = st.one_of(
    st.sampled_from(EDGES),
    st.text(alphabet="0123456789", max_size=21),
    st.integers(min_value=-1, max_value=2**64),
)


def per_id(values: list[object]) -> list[str] | type[BaseException]:
    try:
        return [normalize_id(value) for value in values]
    except (TypeError, ValueError) as error:
        return type(error)


@given(st.lists(ids, min_size=1, max_size=50))
def test_the_batch_check_agrees_with_the_per_id_check(values: list[object]) -> None:
    """Each batch is accepted (as the same canonical strings) or refused as id by id."""
    expected = per_id(values)
    if isinstance(expected, list):
        assert normalize_ids(values, limit=50) == expected
    else:
        with pytest.raises(expected):
            normalize_ids(values, limit=50)


@pytest.mark.parametrize(
    "bad",
    [["1", ""], ["", "1"], ["12", "0"], ["1", "000"], ["9223372036854775808"], ["1" * 20],
     ["1 2"], ["12", "٣"]],
)
def test_each_kind_of_bad_id_in_a_batch_is_refused(bad: list[str]) -> None:
    """An empty id, a zero, an id beyond a long, a space or a non-ASCII digit
    anywhere in a batch of strings is refused."""
    with pytest.raises(ValueError):
        normalize_ids(bad, limit=50)


def test_canonical_ids_come_back_as_given() -> None:
    """A batch of canonical ids (19 digits included) is returned as it is."""
    values = ["5725767000000524157", "9223372036854775807", "42"]
    assert normalize_ids(values, limit=50) == values


def test_leading_zeros_are_read_as_zoho_reads_a_long() -> None:
    """An id with leading zeros in a batch comes back canonical, the others as given."""
    assert normalize_ids(["1", "012"], limit=50) == ["1", "12"]
