"""Ids Zoho refused by name (``offenders.isolate``): which are rejected or counted converted
by the lost submission, and how the rest goes next, checked by the single convert when it may.

Pure function: no I/O, no clock (times are plain numbers).
"""

from __future__ import annotations

import itertools

import pytest

from zoho_convert.api.errors import InvalidRequestError
from zoho_convert.bulk.events import (
    BatchGaveUp,
    BatchSplit,
    BatchUncertain,
    IdsAlreadyConverted,
    IdsRejected,
)
from zoho_convert.bulk.offenders import isolate
from zoho_convert.bulk.report import RejectedId
from zoho_convert.bulk.second_look import look_again

IDS = ("101", "102", "103", "104")


def converted_at(index: int) -> InvalidRequestError:
    """Zoho's refusal naming the id at ``index`` as converted already (the OAS shape)."""
    return InvalidRequestError(
        400, "ID_ALREADY_CONVERTED", "already converted", details={"resource_path_index": index}
    )


def numbers() -> itertools.count[int]:
    return itertools.count(10)


def test_a_settling_refusal_has_the_rest_checked_record_by_record_when_it_may() -> None:
    """A settling resubmission, on its final look, refused because its second id is
    converted: with the single convert usable, the rest is one part parked to be checked
    record by record at once (no job of the refused call runs; a check takes no round), part
    of that final look, nothing submitted now."""
    events, parts = isolate(
        7, IDS, converted_at(1), settling=True, at=3.0, new_seq=numbers().__next__,
        quick_checks=True, final=True,
    )
    rest = ("101", "103", "104")
    reason = "102 was converted by the lost submission: checking the rest"
    assert events == [
        IdsAlreadyConverted(7, ("102",)),
        BatchSplit(7, ((10, rest),), True),
        BatchUncertain(10, rest, 3.0, True, reason, "", True, True, final_look=True),
    ]
    assert parts == []


@pytest.mark.parametrize("by_record", [True, False])
def test_a_settling_refusal_before_its_final_look_is_looked_at_again_whole(
    by_record: bool,
) -> None:
    """The same refusal on a look that may have come while the lost job still held the ids
    (not the final look): the whole part is parked for its second look (``second_look``), a
    lost job's wait from the refusal, by record or by mass as ``by_record`` says; nothing is
    split, rejected or counted converted yet."""
    events, parts = isolate(
        7, IDS, converted_at(1), settling=True, at=3.0, new_seq=numbers().__next__,
        quick_checks=True, final=False, by_record=by_record,
    )
    assert (events, parts) == ([look_again(7, IDS, 3.0, by_record)], [])


def test_without_the_single_convert_the_rest_goes_one_by_one() -> None:
    """The same refusal where the single convert may not check: the rest goes again one id
    per part, side by side."""
    events, parts = isolate(
        7, IDS, converted_at(1), settling=True, at=3.0, new_seq=numbers().__next__,
        quick_checks=False,
    )
    assert parts == [(10, ("101",)), (11, ("103",)), (12, ("104",))]
    assert events == [IdsAlreadyConverted(7, ("102",)), BatchSplit(7, tuple(parts), True)]


@pytest.mark.parametrize("checkable", [False, True])
def test_a_first_submissions_refusal_sends_the_rest_as_one_part(checkable: bool) -> None:
    """A first submission refused for a converted id (converted before the run): that id is
    rejected, the rest goes again as one part, checkable or not."""
    events, parts = isolate(
        7, IDS, converted_at(3), settling=False, at=3.0, new_seq=numbers().__next__,
        quick_checks=checkable,
    )
    rejected = IdsRejected(7, (RejectedId("104", "ID_ALREADY_CONVERTED", "already converted"),))
    assert parts == [(10, IDS[:3])]
    assert events == [rejected, BatchSplit(7, ((10, IDS[:3]),), False)]


def test_a_settling_refusal_of_the_last_id_left_leaves_nothing_to_check() -> None:
    """A settling part of two whose both ids Zoho names: all counted converted by the lost
    submission, nothing parked to check."""
    error = InvalidRequestError(
        400, "ID_ALREADY_CONVERTED", "already converted", details={"ids": list(IDS[:2])}
    )
    events, parts = isolate(
        7, IDS[:2], error, settling=True, at=3.0, new_seq=numbers().__next__, quick_checks=True
    )
    assert events == [IdsAlreadyConverted(7, IDS[:2])]
    assert parts == []


def invalid_at(index: int) -> InvalidRequestError:
    """Zoho's INVALID_DATA naming the id at ``index`` (a converted lead, gone from Leads, may
    be refused so)."""
    return InvalidRequestError(
        400, "INVALID_DATA", "invalid data", details={"resource_path_index": index}
    )


@pytest.mark.parametrize("settling", [True, False])
def test_a_lead_refused_as_invalid_is_split_off_and_checked(settling: bool) -> None:
    """``unsure`` (a Leads run) and the single convert may check: the id Zoho names is split
    off and parked to be checked at once (settling: maybe sent, no code; a first submission:
    never sent, Zoho's code kept for a give-up), the rest goes again as one part (settling,
    on its final look, the check is part of it)."""
    events, parts = isolate(
        7, IDS, invalid_at(2), settling=settling, at=3.0, new_seq=numbers().__next__,
        quick_checks=False, unsure=True, check=True,
    )
    rest = ("101", "102", "104")
    reason = "refused (INVALID_DATA), as a converted lead may be: checking it"
    code = "" if settling else "INVALID_DATA"
    assert parts == [(11, rest)]
    assert events == [
        BatchSplit(7, ((10, ("103",)), (11, rest)), settling),
        BatchUncertain(10, ("103",), 3.0, settling, reason, code, True, True, final_look=settling),
    ]


def test_a_lead_refused_as_invalid_on_settling_without_a_check_is_given_up() -> None:
    """Settling, no single convert to check: the lone id Zoho names ends uncertain (given
    up), never rejected."""
    events, parts = isolate(
        7, IDS[:1], invalid_at(0), settling=True, at=3.0, new_seq=numbers().__next__,
        quick_checks=False, unsure=True, check=False,
    )
    reason = "refused (INVALID_DATA) on settling; a lead the lost submission converted reads so"
    assert (events, parts) == ([BatchGaveUp(7, IDS[:1], reason)], [])


def test_an_invalid_data_that_names_no_id_is_bisected_even_when_unsure() -> None:
    """An INVALID_DATA naming no id (reached by bisecting, it may be about the request) is
    not taken for a converted lead: a lone id of a first submission is rejected with it, as
    before. (Settling, it is checked: ``test_review6_findings.py``.)"""
    error = InvalidRequestError(400, "INVALID_DATA", "invalid data", details={})
    events, parts = isolate(
        7, IDS[:1], error, settling=False, at=3.0, new_seq=numbers().__next__,
        quick_checks=False, unsure=True, check=True,
    )
    assert parts == []
    assert events == [IdsRejected(7, (RejectedId("101", "INVALID_DATA", "invalid data"),))]
