"""The wire format under arbitrary input: parsers return a valid model or a clear error."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from core_helpers import CONVERT_REPLY, LEAD_INPUT, LEAD_REPLY, MASS_CONVERT_REPLY, STATUS_REPLY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zoho_convert import JobState, JobStatus, LeadConversion, ResponseValidationError
from zoho_convert.api.ids import normalize_job_id
from zoho_convert.api.lead_wire import lead_conversion_from_wire, lead_conversion_to_wire
from zoho_convert.api.wire import (
    error_in_reply,
    parse_converted_record,
    parse_job_id,
    parse_job_status,
    parse_lead_result,
    parse_modules,
)

# --- strategies ------------------------------------------------------------------------------

KEYS = st.sampled_from(
    [
        "data",
        "details",
        "job_id",
        "status",
        "Status",
        "total_count",
        "Total_Count",
        "converted_count",
        "Converted_Count",
        "not_converted_count",
        "not_converted_Count",
        "Not_Converted_Count",
        "failed_count",
        "Failed_Count",
        "modules",
        "api_name",
        "id",
        "name",
        "Sales_Orders",
        "Invoices",
        "Contacts",
        "Accounts",
        "Deals",
        "code",
        "message",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(
        ["SCHEDULED", "IN PROGRESS", "in progress", "COMPLETED", "FAILED", "", "0", "10", "-1"]
    )
    | st.text(max_size=8)
)
JSONISH = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(KEYS | st.text(max_size=5), children, max_size=6)
    ),
    max_leaves=20,
)
COUNT = st.integers(min_value=0, max_value=10**6) | st.integers(min_value=0, max_value=999).map(str)


@st.composite
def status_rows(draw: st.DrawFn) -> dict[str, Any]:
    """Status rows close to valid: right keys in either spelling, counts that may not add up."""
    capitalised = draw(st.booleans())
    names = ["total_count", "converted_count", "not_converted_count", "failed_count", "status"]
    row: dict[str, Any] = {}
    for name in names:
        if draw(st.integers(0, 9)) == 0:
            continue  # sometimes missing
        key = name.title() if capitalised else name
        if name == "not_converted_count" and not capitalised and draw(st.booleans()):
            key = "not_converted_Count"
        if name == "status":
            row[key] = draw(
                st.sampled_from([s.value for s in JobState] + ["In Progress", "done", ""]) | SCALARS
            )
        else:
            row[key] = draw(COUNT | SCALARS)
    return row


def near_valid_payloads(sample: Any) -> st.SearchStrategy[Any]:
    """The sample with one value somewhere replaced by an arbitrary JSON-ish value."""

    def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        found = [prefix]
        if isinstance(value, dict):
            for key, child in value.items():
                found += paths(child, (*prefix, key))
        elif isinstance(value, list):
            for index, child in enumerate(value):
                found += paths(child, (*prefix, index))
        return found

    def replace(path: tuple[Any, ...], new: Any) -> Any:
        if not path:
            return new
        result = copy.deepcopy(sample)
        target = result
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = new
        return result

    return st.builds(replace, st.sampled_from(paths(sample)), JSONISH)


def outcome(parser: Callable[[Any], Any], payload: Any) -> Any:
    """Call a parser; only a result or ResponseValidationError are acceptable outcomes."""
    try:
        return parser(payload)
    except ResponseValidationError as error:
        assert error.field, "a validation error names the field"
        return error


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- parse_job_status ----------------------------------------------------------------------------


def check_status(result: Any) -> None:
    if isinstance(result, ResponseValidationError):
        return
    assert isinstance(result, JobStatus)
    assert isinstance(result.state, JobState)
    counts = (result.total_count, result.converted_count, result.not_converted_count,
              result.failed_count)
    # Counts are optional (None) or non-negative ints; whether they add up is for the caller
    # to ask (counts_consistent), never a crash.
    assert all(c is None or (type(c) is int and c >= 0) for c in counts)
    if result.counts_consistent:
        assert sum(counts[1:]) == result.total_count  # type: ignore[arg-type]


@FUZZ
@given(JSONISH)
def test_parse_job_status_arbitrary(payload: Any) -> None:
    """Any JSON-ish value gives a JobStatus whose counts add up, or ResponseValidationError."""
    check_status(outcome(parse_job_status, payload))


@FUZZ
@given(status_rows(), st.booleans())
def test_parse_job_status_near_valid_rows(row: dict[str, Any], wrap_list: bool) -> None:
    """Rows with the right keys but odd values, in both spellings, never crash the parser."""
    check_status(outcome(parse_job_status, {"data": [row] if wrap_list else row}))


@FUZZ
@given(near_valid_payloads(STATUS_REPLY))
def test_parse_job_status_mutated_sample(payload: Any) -> None:
    """The seed status reply with any one value replaced never crashes the parser."""
    check_status(outcome(parse_job_status, payload))


def test_parse_job_status_keeps_counts_that_do_not_add_up() -> None:
    """A status whose counts do not add up is read as reported, flagged inconsistent."""
    row = dict(STATUS_REPLY["data"][0], converted_count=9)
    status = parse_job_status({"data": [row]})
    assert status.converted_count == 9
    assert not status.counts_consistent


@pytest.mark.parametrize("wrapped", [True, False], ids=["v7 data-wrapped", "v8 bare"])
def test_parse_job_status_reads_both_documented_shapes(wrapped: bool) -> None:
    """The v7 page's {"data":[row]} and the OpenAPI v8 bare row read the same."""
    row = STATUS_REPLY["data"][0]
    status = parse_job_status({"data": [row]} if wrapped else dict(row))
    assert status.counts_consistent
    assert status.total_count == row["total_count"]


def test_parse_job_status_missing_counts_are_none() -> None:
    """A SCHEDULED status without counts (all optional, as in the SDK) reads as None counts."""
    status = parse_job_status({"Status": "SCHEDULED", "Total_Count": None})
    assert status == JobStatus(JobState.SCHEDULED)
    assert not status.counts_consistent


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (
            {"total_count": 1, "converted_count": 1, "not_converted_count": 0, "failed_count": 0},
            "status",
        ),
        (
            {
                "total_count": "1" * 5000,
                "converted_count": 0,
                "not_converted_count": 0,
                "failed_count": 0,
                "status": "FAILED",
            },
            "total_count",
        ),
        (
            {
                "total_count": True,
                "converted_count": 0,
                "not_converted_count": 0,
                "failed_count": 0,
                "status": "FAILED",
            },
            "total_count",
        ),
    ],
)
def test_parse_job_status_names_the_bad_field(row: dict[str, Any], field: str) -> None:
    """A missing status or a malformed count raises ResponseValidationError naming that key."""
    for payload, prefix in (({"data": [row]}, "data[0]."), (row, "")):
        with pytest.raises(ResponseValidationError) as caught:
            parse_job_status(payload)
        assert caught.value.field == prefix + field


def test_parse_job_status_numeric_strings() -> None:
    """Counts sent as numeric strings are read as ints."""
    row = {
        "Total_Count": "3",
        "Converted_Count": "1",
        "Not_Converted_Count": "1",
        "Failed_Count": "1",
        "Status": "completed",
    }
    assert parse_job_status({"data": [row]}) == JobStatus(JobState.COMPLETED, 3, 1, 1, 1)


# --- JobState.from_wire --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "state"),
    [
        ("SCHEDULED", JobState.SCHEDULED),
        ("scheduled", JobState.SCHEDULED),
        ("IN PROGRESS", JobState.IN_PROGRESS),
        ("In Progress", JobState.IN_PROGRESS),
        ("in progress", JobState.IN_PROGRESS),
        ("IN_PROGRESS", JobState.IN_PROGRESS),
        (" Completed ", JobState.COMPLETED),
        ("failed", JobState.FAILED),
    ],
)
def test_job_state_parse_case_insensitive(text: str, state: JobState) -> None:
    """A state is read ignoring case, surrounding space, and _ for space."""
    assert JobState.from_wire(text) is state
    assert parse_job_status({"status": text}).state is state


@pytest.mark.parametrize(
    "value", ["DONE", "", "  ", "CANCELLED", "Aborted", "COMPLETEDX", None, 3, ["FAILED"]]
)
def test_job_state_unknown_names_the_value(value: Any) -> None:
    """An unknown state that may say the job ended (or is no word) raises
    ResponseValidationError whose text names the value."""
    assert JobState.from_wire(value) is None
    with pytest.raises(ResponseValidationError) as caught:
        parse_job_status({"status": value})
    assert repr(value) in str(caught.value)
    assert caught.value.field == "status"


@pytest.mark.parametrize(
    ("value", "state"),
    [
        ("RUNNING", JobState.IN_PROGRESS),
        ("IN-PROGRESS", JobState.IN_PROGRESS),
        ("Processing", JobState.IN_PROGRESS),
        ("QUEUED", JobState.SCHEDULED),
        ("pending", JobState.SCHEDULED),
        ("Waiting", JobState.SCHEDULED),
    ],
)
def test_a_state_of_another_name_not_saying_the_job_ended_reads_as_unfinished(
    value: str, state: JobState
) -> None:
    """A state this client does not know that does not say the job ended is read as IN
    PROGRESS, or as SCHEDULED when it says the job waits (not started: a job queued behind it
    has not started either): either way its job still holds back what was sent after it
    (hunt round 6)."""
    assert JobState.from_wire(value) is None
    status = parse_job_status({"status": value, "total_count": 3, "converted_count": 0})
    assert status.state is state
    assert not status.is_final


@pytest.mark.parametrize(
    ("name", "state"),
    [
        ("RUNNING", JobState.IN_PROGRESS),
        ("Processing", JobState.IN_PROGRESS),
        ("ACTIVE", JobState.IN_PROGRESS),
        ("NEW", JobState.SCHEDULED),
        ("ACCEPTED", JobState.SCHEDULED),
        ("NOT_STARTED", JobState.SCHEDULED),
        ("not running", JobState.SCHEDULED),
        ("INCOMPLETE", JobState.SCHEDULED),
        ("Unfinished", JobState.SCHEDULED),
        ("NOT DONE", JobState.SCHEDULED),
        ("JOB_DONE", None),
        ("Cancelled by user", None),
        ("FAILURE", None),
    ],
)
def test_a_state_of_another_name_is_read_by_its_words(name: str, state: JobState | None) -> None:
    """What an unknown state says decides: running (IN PROGRESS), ended (unusable: None), or
    neither, a negated word included (SCHEDULED: not known to have started)."""
    row = {"status": name, "total_count": 3, "converted_count": 0}
    if state is None:
        with pytest.raises(ResponseValidationError):
            parse_job_status(row)
    else:
        assert parse_job_status(row).state is state


@given(st.text(max_size=20))
def test_job_state_parse_never_crashes(text: str) -> None:
    """Any text parses to a JobState or raises ResponseValidationError."""
    try:
        state = parse_job_status({"status": text}).state
    except ResponseValidationError as error:
        assert repr(text) in str(error)
    else:
        assert isinstance(state, JobState)


def test_job_state_is_final() -> None:
    """Only COMPLETED and FAILED are final."""
    assert [s for s in JobState if s.is_final] == [JobState.COMPLETED, JobState.FAILED]


# --- the other parsers ---------------------------------------------------------------------------


@FUZZ
@given(JSONISH | near_valid_payloads(MASS_CONVERT_REPLY))
def test_parse_job_id_arbitrary(payload: Any) -> None:
    """parse_job_id returns a non-empty string that polls send back as it is (a job id
    ``normalize_job_id`` takes unchanged), or raises ResponseValidationError."""
    result = outcome(parse_job_id, payload)
    if not isinstance(result, ResponseValidationError):
        assert isinstance(result, str)
        assert result
        assert normalize_job_id(result) == result


def test_parse_job_id_seed_and_int() -> None:
    """The seed reply's job id is read; a job id sent as a number is read as its string."""
    assert parse_job_id(MASS_CONVERT_REPLY) == "2423488000000626117"
    assert parse_job_id({"details": {"job_id": 5}}) == "5"
    with pytest.raises(ResponseValidationError, match=r"details\.job_id"):
        parse_job_id({"details": {"job_id": ""}})


@FUZZ
@given(JSONISH | near_valid_payloads(CONVERT_REPLY), st.sampled_from(["Sales_Orders", "Invoices"]))
def test_parse_converted_record_arbitrary(payload: Any, to: str) -> None:
    """parse_converted_record returns a record in module `to` or raises a validation error."""
    result = outcome(lambda p: parse_converted_record(p, to), payload)
    if not isinstance(result, ResponseValidationError):
        assert result.module == to
        assert isinstance(result.id, str)
        assert result.id
        assert result.name is None or isinstance(result.name, str)


def test_parse_converted_record_wrong_module() -> None:
    """A reply that names another module's record is refused, naming the expected path."""
    with pytest.raises(ResponseValidationError, match=r"details\.Invoices"):
        parse_converted_record(CONVERT_REPLY, "Invoices")


@FUZZ
@given(JSONISH | near_valid_payloads(LEAD_REPLY))
def test_parse_lead_result_arbitrary(payload: Any) -> None:
    """parse_lead_result returns at least one record, each in its module, or a validation error."""
    result = outcome(parse_lead_result, payload)
    if not isinstance(result, ResponseValidationError):
        records = {"Contacts": result.contacts, "Accounts": result.accounts, "Deals": result.deals}
        assert any(records.values())
        for module, record in records.items():
            if record is not None:
                assert record.module == module
                assert isinstance(record.id, str)
                assert record.id


MODULES_REPLY = {
    "modules": [
        {"api_name": "Sales_Orders", "id": "2423488000000000171"},
        {"api_name": "Invoices", "id": 2423488000000000200},
    ]
}


@FUZZ
@given(JSONISH | near_valid_payloads(MODULES_REPLY))
def test_parse_modules_arbitrary(payload: Any) -> None:
    """parse_modules returns ModuleRefs with str names and ids, or a validation error."""
    result = outcome(parse_modules, payload)
    if not isinstance(result, ResponseValidationError):
        for ref in result:
            assert isinstance(ref.api_name, str)
            assert ref.api_name
            assert isinstance(ref.id, str)
            assert ref.id


def test_parse_modules_sample() -> None:
    """The Modules reply gives (api_name, id) pairs, ids as strings."""
    assert [(r.api_name, r.id) for r in parse_modules(MODULES_REPLY)] == [
        ("Sales_Orders", "2423488000000000171"),
        ("Invoices", "2423488000000000200"),
    ]


@FUZZ
@given(JSONISH)
def test_error_in_reply_never_crashes(payload: Any) -> None:
    """error_in_reply returns None or an ErrorBody with a str code, message and a mapping."""
    found = error_in_reply(payload)
    if found is not None:
        assert isinstance(found.code, str)
        assert isinstance(found.message, str)
        assert hasattr(found.details, "keys")


@pytest.mark.parametrize(
    "number",
    [10**5000, -(10**5000), "1" * 5000, 2**64, -(2**64), "9" * 20],
    ids=["huge", "huge-negative", "huge-string", "2**64", "-2**64", "20-digit-string"],
)
def test_oversized_numbers_are_validation_errors(number: object) -> None:
    """Numbers past any long (some past Python's int/str digit limit) are validation errors."""
    row = dict(STATUS_REPLY["data"][0], total_count=number)
    with pytest.raises(ResponseValidationError, match="total_count"):
        parse_job_status({"data": [row]})
    if number in (2**64, "9" * 20):
        # A job id is any text of at most 100 characters (``normalize_job_id``): as written.
        assert parse_job_id({"details": {"job_id": number}}) == str(number)
    else:
        with pytest.raises(ResponseValidationError, match="job_id"):
            parse_job_id({"details": {"job_id": number}})
    with pytest.raises(ResponseValidationError, match=r"modules\[0\]\.id"):
        parse_modules({"modules": [{"api_name": "X", "id": number}]})
    with pytest.raises(ResponseValidationError, match=r"Sales_Orders\.id"):
        parse_converted_record(
            {"data": [{"details": {"Sales_Orders": {"id": number}}}]}, "Sales_Orders"
        )


# --- lead_conversion_from_wire -----------------------------------------------------------------


def test_lead_conversion_round_trips_the_seed_input() -> None:
    """The seed's lead-convert input reads into LeadConversion and writes back unchanged."""
    options = lead_conversion_from_wire(LEAD_INPUT)
    assert isinstance(options, LeadConversion)
    assert lead_conversion_to_wire(options) == LEAD_INPUT
    assert lead_conversion_to_wire(lead_conversion_from_wire(LEAD_INPUT["data"][0])) == LEAD_INPUT
    assert options.deals is not None
    assert options.deals.amount == 20000000
    assert options.carry_over_tags is not None
    assert options.carry_over_tags.contacts == ("tag1", "tag2")


@pytest.mark.parametrize(
    ("payload", "key"),
    [
        ({"overwrite": "yes"}, "overwrite"),
        ({"notify_lead_owner": 1}, "notify_lead_owner"),
        ({"notify_new_entity_owner": None}, "notify_new_entity_owner"),
        ({"move_attachments_to": {"api_name": "Leads"}}, "move_attachments_to"),
        ({"move_attachments_to": "Quotes"}, "move_attachments_to"),
        ({"Accounts": [1]}, "Accounts"),
        ({"Contacts": {"id": None}}, "Contacts"),
        ({"assign_to": True}, "assign_to"),
        ({"Deals": "big deal"}, "Deals"),
        ({"Deals": {"Deal_Name": "x", "Stage": "s", "Pipeline": "p"}}, "Closing_Date"),
        (
            {
                "Deals": {
                    "Deal_Name": "x",
                    "Closing_Date": "2020-01-01",
                    "Stage": "s",
                    "Pipeline": "p",
                    "Amount": "lots",
                }
            },
            "Deals.Amount",
        ),
        ({"carry_over_tags": ["tag1"]}, "carry_over_tags"),
        ({"carry_over_tags": {"Contacts": "tag1"}}, "carry_over_tags.Contacts"),
        ({"carry_over_tags": {"Deals": [1]}}, "carry_over_tags.Deals"),
        ({"Overwrite": True}, "Overwrite"),
        ({"data": []}, "data"),
        ({"data": [{}, {}]}, "data"),
        ([], "<options>"),
        ("options", "<options>"),
    ],
)
def test_lead_conversion_from_wire_names_the_bad_key(payload: Any, key: str) -> None:
    """Malformed options raise ValueError whose message names the offending key."""
    with pytest.raises(ValueError) as caught:
        lead_conversion_from_wire(payload)
    assert key in str(caught.value)


LEAD_KEYS = st.sampled_from(
    [
        "overwrite",
        "notify_lead_owner",
        "notify_new_entity_owner",
        "move_attachments_to",
        "Accounts",
        "Contacts",
        "assign_to",
        "Deals",
        "carry_over_tags",
        "Deal_Name",
        "Closing_Date",
        "Stage",
        "Pipeline",
        "Amount",
        "Contact_Role",
        "api_name",
        "id",
        "data",
    ]
)
LEAD_JSONISH = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(LEAD_KEYS, children, max_size=6)
    ),
    max_leaves=20,
)


@FUZZ
@given(LEAD_JSONISH | near_valid_payloads(LEAD_INPUT) | near_valid_payloads(LEAD_INPUT["data"][0]))
def test_lead_conversion_from_wire_arbitrary(payload: Any) -> None:
    """Any JSON-ish options give a LeadConversion that writes back, or a ValueError."""
    try:
        options = lead_conversion_from_wire(payload)
    except ValueError as error:
        assert "lead conversion options" in str(error)
        return
    assert isinstance(options, LeadConversion)
    lead_conversion_to_wire(options)
