"""The compact id set behind duplicate detection: every repeat is seen, across every growth."""

from __future__ import annotations

import random

from fake_convert_api import FakeAPI
from hypothesis import given, settings
from hypothesis import strategies as st

from zoho_convert.bulk.convert import convert_many
from zoho_convert.bulk.idset import IdSet

MAX_ID = 2**63 - 1
ZOHO_LIKE = 2423488000000000171  # Zoho's ids are large and sequential

# The table starts at 4,096 slots and grows at 60 % full: after 2,457 ids, then 4,915, 9,830,
# 19,660 and 39,321. 50,000 ids go through five growths.
MANY = 50_000


def check_every_repeat_is_seen(ids: list[int]) -> None:
    """Add ``ids`` (distinct), then add each again: all first adds True, all repeats False."""
    seen = IdSet()
    assert [seen.add(key) for key in ids] == [True] * len(ids)
    assert len(seen) == len(ids)
    repeats = ids[:]
    random.Random(len(ids)).shuffle(repeats)
    new_again = [key for key in repeats if seen.add(key)]
    assert new_again == [], f"{len(new_again)} repeats taken for new ids, e.g. {new_again[:5]}"
    assert len(seen) == len(ids)
    # Nor does the set claim ids it never held: fresh ids are still new after the growths.
    fresh = [max(ids) + 1 + n for n in range(100)]
    assert all(seen.add(key) for key in fresh)
    assert len(seen) == len(ids) + len(fresh)


def test_sequential_ids_are_remembered_through_five_growths() -> None:
    """50,000 sequential Zoho-like ids, then every one again: each repeat is seen."""
    check_every_repeat_is_seen([ZOHO_LIKE + n for n in range(MANY)])


def test_random_ids_are_remembered_through_five_growths() -> None:
    """50,000 random ids over the whole 63-bit range, then every one again: each repeat is seen."""
    rng = random.Random(15)
    ids = list({rng.randint(1, MAX_ID) for _ in range(MANY)})
    check_every_repeat_is_seen(ids)


def test_repeats_are_seen_right_after_each_growth() -> None:
    """The ids added so far are all still there at the moment of every growth."""
    seen = IdSet()
    added: list[int] = []
    growths = 0
    capacity = len(seen._table)
    for n in range(1, 12_000):
        assert seen.add(ZOHO_LIKE + n)
        added.append(ZOHO_LIKE + n)
        if len(seen._table) != capacity:  # it has just grown: everything must have moved over
            growths += 1
            capacity = len(seen._table)
            assert not any(seen.add(key) for key in added)
            assert len(seen) == len(added)
    assert growths >= 2  # the ids above did go through growths


def test_the_extreme_ids_are_kept() -> None:
    """1 and 2**63-1, the smallest and largest ids, are remembered like any other."""
    seen = IdSet(bits=1)
    assert seen.add(1) and seen.add(MAX_ID)
    assert not seen.add(1) and not seen.add(MAX_ID)
    assert len(seen) == 2


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.integers(min_value=1, max_value=MAX_ID),
            st.integers(min_value=1, max_value=300),  # small range: many repeats
            st.integers(min_value=ZOHO_LIKE, max_value=ZOHO_LIKE + 300),
        ),
        max_size=600,
    ),
    st.integers(min_value=1, max_value=6),
)
def test_idset_behaves_like_a_set(keys: list[int], bits: int) -> None:
    """From any starting size, add returns what a Python set says is new, and len agrees."""
    seen = IdSet(bits=bits)
    model: set[int] = set()
    for key in keys:
        assert seen.add(key) == (key not in model), key
        model.add(key)
        assert len(seen) == len(model)
    assert not any(seen.add(key) for key in model)


async def test_convert_many_drops_every_repeat_of_thousands_of_ids() -> None:
    """6,000 ids read twice: each converted once, 6,000 duplicates reported, nothing lost."""
    ids = [str(ZOHO_LIKE + n) for n in range(6_000)]
    again = ids[:]
    random.Random(6).shuffle(again)
    api = FakeAPI(duration=0.0, latency=0.0)
    report = await convert_many(api, "Quotes", ids + again, to="Sales_Orders")
    assert report.duplicates == 6_000
    assert (report.total, report.converted) == (6_000, 6_000)
    assert report.ok and report.accounted_for
    assert api.converted_twice() == []
    assert sum(len(batch) for batch in api.submitted_batches) == 6_000
