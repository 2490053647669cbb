"""Review 6 findings, pure functions (no I/O): see also
``tests/integration/test_review6_findings_http.py``."""

from __future__ import annotations

import itertools
import json

import pytest

from zoho_convert.api.errors import InvalidRequestError, ResponseValidationError
from zoho_convert.api.wire import EndedStateError, parse_job_status
from zoho_convert.bulk.events import BatchGaveUp, BatchSplit, BatchUncertain
from zoho_convert.bulk.offenders import isolate
from zoho_convert.bulk.spec import RunParams

IDS = ("101", "102", "103", "104")
UNNAMED = InvalidRequestError(400, "INVALID_DATA", "invalid data", details={})


@pytest.mark.parametrize("check", [True, False])
def test_a_lone_lead_a_settling_resubmission_is_refused_for_unnamed_is_not_rejected(
    check: bool,
) -> None:
    """Finding 4: settling, a lone lead refused as INVALID_DATA naming no id (bisected to it)
    may be one the lost submission converted: checked by Convert Lead, else uncertain."""
    events, parts = isolate(
        7, IDS[:1], UNNAMED, settling=True, at=3.0, new_seq=itertools.count(10).__next__,
        quick_checks=False, unsure=True, check=check,
    )
    assert parts == []
    assert len(events) == 1
    if check:
        assert isinstance(events[0], BatchUncertain)
        assert events[0].by_record and events[0].maybe_sent and events[0].ids == IDS[:1]
    else:
        assert isinstance(events[0], BatchGaveUp) and events[0].ids == IDS[:1]


def test_a_settling_refusal_naming_no_id_of_several_is_still_bisected() -> None:
    """Finding 4's fix leaves bisecting alone: several ids refused unnamed are halved."""
    events, parts = isolate(
        7, IDS, UNNAMED, settling=True, at=3.0, new_seq=itertools.count(10).__next__,
        quick_checks=False, unsure=True, check=True,
    )
    assert parts == [(10, IDS[2:]), (11, IDS[:2])]
    assert events == [BatchSplit(7, tuple(parts), True)]


def test_run_params_of_the_previous_release_read_without_api_domain() -> None:
    """Journals written before ``api_domain`` existed resume: their params read, unchecked."""
    text = RunParams(module="Leads", to=None).to_json()
    old = json.loads(text)
    del old["api_domain"]
    assert RunParams.from_json(json.dumps(old)).api_domain == ""


@pytest.mark.parametrize("body", [{"status": "success"}, {"data": [{"Status": "Done"}]}])
def test_a_reply_without_counts_is_unusable_not_an_ended_job(body: object) -> None:
    """Finding 6: a reply with no count at all whose status reads as an end (a record API's
    ``{"status": "success"}``, a reply cut to its keys) is no job's status: unusable, polled
    again, not taken for a job that ended (which a run gives up on at once, its ids reported
    unfinished: test_client_bad_replies' corruption cases failed on main so)."""
    with pytest.raises(ResponseValidationError) as caught:
        parse_job_status(body, "77")
    assert not isinstance(caught.value, EndedStateError)


def test_a_status_row_with_counts_in_an_ended_state_is_still_given_up() -> None:
    """Finding 6's fix leaves a status row's ended state alone."""
    row = {"status": "CANCELLED", "total_count": 10, "converted_count": 0,
           "not_converted_count": 10, "failed_count": 0}
    with pytest.raises(EndedStateError):
        parse_job_status({"data": [row]}, "77")
