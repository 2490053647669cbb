"""Bad input is refused locally, before any request is sent."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aioresponses import aioresponses
from core_helpers import make_client
from fake_convert_api import FakeAPI

from zoho_convert import (
    DealDetails,
    InvalidIdError,
    LeadConversion,
    ModuleRef,
    PollPolicy,
    RetryPolicy,
    StaticToken,
    ZohoConvertClient,
)
from zoho_convert.bulk.convert import convert_many, resume

Call = Callable[[ZohoConvertClient], Awaitable[Any]]
TARGET = ModuleRef("Sales_Orders", "2423488000000000171")
IDS = ["2423488000000625004"]


def mass(ids: Any = IDS, module: Any = "Quotes", to: Any = "Sales_Orders", **kw: Any) -> Call:
    return lambda client: client.mass_convert(module, ids, to=to, **kw)


def lead(options: Any) -> Call:
    return lambda client: client.convert_lead("3652397000007566544", options)


BAD_CALLS: list[tuple[str, Call, type[Exception]]] = [
    ("empty id list", mass([]), ValueError),
    ("51 ids", mass([str(n) for n in range(1, 52)]), ValueError),
    ("51 ids, ModuleRef target", mass([str(n) for n in range(1, 52)], to=TARGET), ValueError),
    ("non-numeric id", mass(["abc"]), InvalidIdError),
    ("20-digit id", mass(["12345678901234567890"]), InvalidIdError),
    ("19 digits past a long", mass(["9999999999999999999"]), InvalidIdError),
    ("leading space", mass([" 123"]), InvalidIdError),
    ("trailing newline", mass(["123\n"]), InvalidIdError),
    ("empty string id", mass([""]), InvalidIdError),
    ("non-ascii digits", mass(["١٢٣"]), InvalidIdError),
    ("negative int", mass([-5]), InvalidIdError),
    ("zero", mass([0]), InvalidIdError),
    ("zero string", mass(["000"]), InvalidIdError),
    ("float", mass([1.5]), TypeError),
    ("None id", mass([None]), TypeError),
    ("bool id", mass([True]), TypeError),
    ("one bad id among good", mass(["1", "2", "x3"]), InvalidIdError),
    ("bare string instead of a list", mass("2423488000000625004"), TypeError),
    ("bare int instead of a list", mass(2423488000000625004), TypeError),
    ("None instead of a list", mass(None), TypeError),
    ("Quotes -> Quotes", mass(to="Quotes"), ValueError),
    ("Sales_Orders -> Sales_Orders", mass(module="Sales_Orders", to="Sales_Orders"), ValueError),
    ("Sales_Orders -> Quotes", mass(module="Sales_Orders", to="Quotes"), ValueError),
    ("Invoices as source", mass(module="Invoices", to="Sales_Orders"), ValueError),
    ("Leads as inventory source", mass(module="Leads", to="Contacts"), ValueError),
    ("lowercase module", mass(module="quotes"), ValueError),
    ("ModuleRef of a wrong target", mass(to=ModuleRef("Quotes", "1")), ValueError),
    ("ModuleRef target with a bad id", mass(to=ModuleRef("Sales_Orders", "x")), InvalidIdError),
    ("ModuleRef target with no id", mass(to=ModuleRef("Invoices", "")), InvalidIdError),
    (
        "convert: ModuleRef target with a bad id",
        lambda c: c.convert("Quotes", "1", to=ModuleRef("Invoices", "-1")),
        InvalidIdError,
    ),
    ("bad assign_to", mass(assign_to="bob"), InvalidIdError),
    ("bool assign_to", mass(assign_to=True), TypeError),
    ("related module not a ModuleRef", mass(related_modules=["Calls"]), TypeError),
    (
        "related module as a dict",
        mass(related_modules=[{"api_name": "Calls", "id": "1"}]),
        TypeError,
    ),
    ("related module bad id", mass(related_modules=[ModuleRef("Calls", "x")]), InvalidIdError),
    ("convert: Invoices source", lambda c: c.convert("Invoices", "1", to="Quotes"), ValueError),
    ("convert: Quotes -> Quotes", lambda c: c.convert("Quotes", "1", to="Quotes"), ValueError),
    ("convert: bad id", lambda c: c.convert("Quotes", "1a", to="Invoices"), InvalidIdError),
    ("convert: None id", lambda c: c.convert("Quotes", None, to="Invoices"), TypeError),
    ("status: Leads module", lambda c: c.mass_convert_status("Leads", "1"), ValueError),
    ("status: Invoices module", lambda c: c.mass_convert_status("Invoices", "1"), ValueError),
    ("status: bad job id", lambda c: c.mass_convert_status("Quotes", "job 1"), InvalidIdError),
    ("status: long job id", lambda c: c.mass_convert_status("Quotes", "7" * 101), InvalidIdError),
    ("status: tab job id", lambda c: c.mass_convert_status("Quotes", "7\t1"), InvalidIdError),
    ("status: zero job id", lambda c: c.mass_convert_status("Quotes", 0), InvalidIdError),
    ("status: empty job id", lambda c: c.mass_convert_status("Quotes", ""), InvalidIdError),
    ("status: None job id", lambda c: c.mass_convert_status("Quotes", None), TypeError),
    ("leads status: bad job id", lambda c: c.mass_convert_leads_status("1 2"), InvalidIdError),
    ("leads status: float job id", lambda c: c.mass_convert_leads_status(1.0), TypeError),
    ("lead: bad lead id", lambda c: c.convert_lead("abc"), InvalidIdError),
    ("lead: negative lead id", lambda c: c.convert_lead(-1), InvalidIdError),
    ("lead: options not LeadConversion", lead({"overwrite": True}), TypeError),
    ("lead: bad account id", lead(LeadConversion(accounts="acme")), InvalidIdError),
    ("lead: bad contact id", lead(LeadConversion(contacts="12x")), InvalidIdError),
    ("lead: bad assign_to", lead(LeadConversion(assign_to="")), InvalidIdError),
    ("lead: move to Leads", lead(LeadConversion(move_attachments_to="Leads")), ValueError),
    ("lead: move to lowercase", lead(LeadConversion(move_attachments_to="deals")), ValueError),
    ("leads mass: empty", lambda c: c.mass_convert_leads([]), ValueError),
    ("leads mass: 51 ids", lambda c: c.mass_convert_leads(range(1, 52)), ValueError),
    ("leads mass: bad id", lambda c: c.mass_convert_leads(["x"]), InvalidIdError),
    (
        "leads mass: bad carry_over_tags",
        lambda c: c.mass_convert_leads(["1"], carry_over_tags=["Leads"]),
        ValueError,
    ),
    (
        "leads mass: bad move_attachments_to",
        lambda c: c.mass_convert_leads(["1"], move_attachments_to="Quotes"),
        ValueError,
    ),
    (
        "leads mass: bad assign_to",
        lambda c: c.mass_convert_leads(["1"], assign_to="x"),
        InvalidIdError,
    ),
]


@pytest.mark.parametrize(
    ("call", "error"), [(c, e) for _, c, e in BAD_CALLS], ids=[n for n, _, _ in BAD_CALLS]
)
async def test_bad_input_raises_before_any_request(
    m: aioresponses, call: Call, error: type[Exception]
) -> None:
    """The bad call raises the expected error and sends nothing (not even a module lookup)."""
    async with make_client() as client:
        with pytest.raises(error):
            await call(client)
        assert client.request_count == 0
    assert m.requests == {}


def test_invalid_id_error_is_a_value_error() -> None:
    """InvalidIdError is a ValueError, so callers catching ValueError see bad ids too."""
    assert issubclass(InvalidIdError, ValueError)


async def test_bad_id_message_names_the_id(m: aioresponses) -> None:
    """The error for a bad id names the offending value."""
    async with make_client() as client:
        with pytest.raises(InvalidIdError, match="abc"):
            await client.mass_convert("Quotes", ["1", "abc"], to="Invoices")


async def test_fifty_ids_are_fine(m: aioresponses) -> None:
    """Exactly 50 ids is the limit, not past it: the call is sent."""
    m.post(
        "https://www.zohoapis.com/crm/v8/Quotes/actions/mass_convert",
        payload={"details": {"job_id": "9"}, "status": "success"},
    )
    async with make_client() as client:
        job = await client.mass_convert("Quotes", [str(n) for n in range(1, 51)], to=TARGET)
    assert job == "9"


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "10", None])
def test_max_concurrency_must_be_a_positive_int(value: Any) -> None:
    """max_concurrency 0, negative or not an int is refused when the client is made."""
    with pytest.raises(ValueError, match="max_concurrency"):
        ZohoConvertClient(StaticToken("t"), max_concurrency=value)


@pytest.mark.parametrize("version", ["v6", "8", "", "V8"])
def test_api_version_must_be_known(version: str) -> None:
    """Only v7 and v8 are accepted."""
    with pytest.raises(ValueError, match="api_version"):
        ZohoConvertClient(StaticToken("t"), api_version=version)


def test_auth_must_be_an_auth_object() -> None:
    """A bare token string instead of an auth object is a TypeError."""
    with pytest.raises(TypeError):
        ZohoConvertClient("1000.token")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_tries": 0},
        {"max_tries": -1},
        {"initial": 0},
        {"initial": -0.5},
        {"multiplier": -2},
        {"max_delay": -1},
        {"max_retry_after": -5},
        {"deadline": 0},
        {"deadline": -10},
    ],
)
def test_retry_policy_refuses_nonsense(kwargs: dict[str, float]) -> None:
    """RetryPolicy refuses zero tries and zero or negative delays, caps and deadlines."""
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        RetryPolicy(**kwargs)


def test_deal_details_mandatory_keys() -> None:
    """DealDetails needs its four mandatory keys."""
    with pytest.raises(TypeError):
        DealDetails(deal_name="x", closing_date="2020-01-01", stage="s")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": float("inf")},
        {"max_interval": float("inf")},
        {"timeout": float("inf")},
        {"initial": float("nan")},
        {"multiplier": float("inf")},
    ],
    ids=["initial inf", "max_interval inf", "timeout inf", "initial nan", "multiplier inf"],
)
def test_poll_policy_refuses_waits_that_never_end(kwargs: dict[str, float]) -> None:
    """PollPolicy refuses infinite (or NaN) intervals and timeouts: an infinite wait is a hang."""
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        PollPolicy(**kwargs)


@pytest.mark.parametrize("value", ["no", 0, None])
def test_poll_policy_adaptive_must_be_a_bool(value: Any) -> None:
    """PollPolicy(adaptive='no') is refused: a truthy string would mean yes."""
    with pytest.raises(TypeError, match="adaptive"):
        PollPolicy(adaptive=value)


@pytest.mark.parametrize(
    ("journal", "error", "message"),
    [("", ValueError, "empty"), (".", ValueError, "directory")],
    ids=["empty path", "a directory"],
)
async def test_unusable_journal_path_is_refused_before_anything(
    tmp_path: Any, journal: str, error: type[Exception], message: str
) -> None:
    """journal='' or a directory is a clear ValueError before any request or file."""
    api = FakeAPI()
    path = str(tmp_path) if journal == "." else journal
    with pytest.raises(error, match=message):
        await convert_many(api, "Quotes", ["1"], to="Sales_Orders", journal=path)
    assert api.request_count == 0 and api.module_lookups == 0
    assert list(tmp_path.iterdir()) == []


async def test_bad_target_module_ref_is_refused_before_the_journal_is_made(tmp_path: Any) -> None:
    """ModuleRef('Sales_Orders', 'abc') is refused before a journal file or a request."""
    api = FakeAPI()
    with pytest.raises(InvalidIdError, match="target module id"):
        await convert_many(
            api,
            "Quotes",
            ["1"],
            to=ModuleRef("Sales_Orders", "abc"),
            journal=str(tmp_path / "run.db"),
        )
    assert api.request_count == 0
    assert list(tmp_path.iterdir()) == []


async def test_resume_of_a_journal_without_parameters_is_a_clear_error(tmp_path: Any) -> None:
    """A journal file holding no run parameters is refused with a ValueError, not a KeyError."""
    path = tmp_path / "run.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE run (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO run VALUES ('format', '2')")
    db.close()
    with pytest.raises(ValueError, match="no run parameters"):
        await resume(FakeAPI(), str(path))


async def test_ids_with_leading_zeros_are_sent_canonical() -> None:
    """'0012' is record 12: sent as '12', and a duplicate of 12 in the same run."""
    api = FakeAPI()
    report = await convert_many(api, "Quotes", ["0012", "12", 13], to="Sales_Orders")
    assert api.submitted_batches == [["12", "13"]]
    assert report.duplicates == 1 and report.ok
    with aioresponses() as m:
        m.post(
            "https://www.zohoapis.com/crm/v8/Quotes/actions/mass_convert",
            payload={"details": {"job_id": "9"}, "status": "success"},
        )
        async with make_client() as client:
            await client.mass_convert("Quotes", ["007"], to=TARGET)
        (call,) = next(iter(m.requests.values()))
    assert call.kwargs["data"] == b'{"ids":["7"],"convert_to":' + (
        b'[{"module":{"id":"2423488000000000171","api_name":"Sales_Orders"},'
        b'"carry_over_tags":false}]}'
    )
