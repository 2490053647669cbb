"""The request bodies Zoho documents, as small validators, and a recorder of what a client sends.

The facts come from Zoho's OpenAPI v8 specs (``../shared/zoho-oas``: ``inventory_mass_convert``
``Body_Wrapper``, ``mass_convert`` ``Body_Wrapper`` for Leads, ``inventory_convert``
``Inventory_Converter``, ``convert_lead`` ``Lead_Converter``) and from the seed pages (the v7
docs). The product does not ship the spec files, so the facts are written here by hand. Where the
two readings disagree a body must satisfy both (README of zoho-oas: "send a request that satisfies
both"); each such place says so in a comment naming both readings.

Every validator returns a list of problems (empty: the body conforms), each naming the JSON path
of what is wrong, so a failing test says exactly which key broke which reading.

The second half records every request a ``ZohoConvertClient`` sends (an aiohttp ``TraceConfig``
on a session handed to the client: the bytes written to the socket) and starts a simulator and a
client on one virtual clock, for the ``test_oas_*`` conformance tests.
"""

from __future__ import annotations

import contextlib
import json
import re
import types
from collections.abc import AsyncIterator, Collection, Mapping
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import attrs
from fakes import SummingTime

from zoho_convert import RetryPolicy, StaticToken, ZohoConvertClient
from zoho_convert.simulator import Simulator, SimulatorConfig
from zoho_convert.simulator.catalog import MODULES_BY_NAME, module_id

Problems = list[str]

#: The conversions of the inventory APIs (both readings): source -> targets.
INVENTORY_TARGETS: Mapping[str, frozenset[str]] = {
    "Quotes": frozenset({"Sales_Orders", "Invoices"}),
    "Sales_Orders": frozenset({"Invoices"}),
}
#: Modules a lead converts into: the seed's move_attachments_to ("either the Contacts, Deals or
#: Accounts module") and carry_over_tags keys; the OAS gives the same three (Carry_Over_Tags).
LEAD_TARGETS = frozenset({"Contacts", "Accounts", "Deals"})
#: The most ids one mass-convert call takes (seed: "upto 50 record IDs"; SDK: max_length 50).
MAX_IDS = 50
#: Deals keys the Convert Lead page calls "default mandatory"; the OAS types Deals as an open
#: Record (record.json, not copied): the page's list is the stricter reading and applies.
DEAL_MANDATORY = ("Deal_Name", "Closing_Date", "Stage", "Pipeline")

_ID = re.compile(r"[0-9]{1,19}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


# -- small checks ----------------------------------------------------------------------------


def _is_id(value: object) -> bool:
    # OAS: ids are "type": "string"; seed: "long or string" (inventory) and "Accepted data type
    # is 'string'" (module id, inventory convert page): a numeric string satisfies every reading.
    return isinstance(value, str) and _ID.fullmatch(value) is not None and int(value) > 0


def _object(value: object, path: str, problems: Problems) -> Mapping[str, Any] | None:
    if isinstance(value, Mapping):
        return value
    problems.append(f"{path}: expected a JSON object, got {_show(value)}")
    return None


def _array(value: object, path: str, problems: Problems) -> list[Any] | None:
    if isinstance(value, list):
        return value
    problems.append(f"{path}: expected a JSON array, got {_show(value)}")
    return None


def _only_keys(obj: Mapping[str, Any], allowed: Collection[str], path: str,
               problems: Problems) -> None:
    """Keys neither reading documents (strict in what we send: Zoho may refuse them)."""
    for key in obj:
        if key not in allowed:
            problems.append(f"{path}.{key}: not a documented key (documented: {sorted(allowed)})")


def _bool(obj: Mapping[str, Any], key: str, path: str, problems: Problems, *,
          required: bool = False) -> None:
    if key not in obj:
        if required:
            problems.append(f"{path}.{key}: mandatory boolean missing")
        return
    if not isinstance(obj[key], bool):
        problems.append(f"{path}.{key}: expected a boolean, got {_show(obj[key])}")


def _id(obj: Mapping[str, Any], key: str, path: str, problems: Problems, *,
        required: bool = True) -> str | None:
    if key not in obj:
        if required:
            problems.append(f"{path}.{key}: mandatory id missing")
        return None
    value = obj[key]
    if not _is_id(value):
        problems.append(f"{path}.{key}: expected an id as a numeric string, got {_show(value)}")
        return None
    return str(value)


def _name(obj: Mapping[str, Any], key: str, path: str, problems: Problems, *,
          one_of: Collection[str] | None = None) -> str | None:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        problems.append(f"{path}.{key}: expected a non-empty string, got {_show(value)}")
        return None
    if one_of is not None and value not in one_of:
        problems.append(f"{path}.{key}: {value!r} is not one of {sorted(one_of)}")
    return value


def _module_id_matches(api_name: str | None, given: str | None, path: str,
                       module_ids: Mapping[str, str], problems: Problems) -> None:
    """A module id sent must be that module's id from the Modules API (when the test knows it)."""
    if api_name is None or given is None:
        return
    expected = module_ids.get(api_name)
    if expected is not None and given != expected:
        problems.append(f"{path}.id: {given} is not the Modules API id of {api_name} ({expected})")


def _show(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, bytes) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- pieces shared by several bodies -------------------------------------------------------------


def _ids(body: Mapping[str, Any], problems: Problems) -> None:
    """``ids``: mandatory, 1..50, numeric strings (OAS ``items: string``; seed: long or string)."""
    if "ids" not in body:
        problems.append("$.ids: mandatory key missing")
        return
    ids = _array(body["ids"], "$.ids", problems)
    if ids is None:
        return
    if not 1 <= len(ids) <= MAX_IDS:
        problems.append(f"$.ids: expected 1 to {MAX_IDS} ids, got {len(ids)}")
    for index, value in enumerate(ids):
        if not _is_id(value):
            problems.append(f"$.ids[{index}]: expected a numeric string id, got {_show(value)}")
    if len(set(map(str, ids))) != len(ids):
        problems.append("$.ids: an id is repeated")


def _assign_to(obj: Mapping[str, Any], path: str, problems: Problems) -> None:
    """``assign_to``: ``{"id"}`` (seed sample; OAS: ``id`` required, ``api_name`` allowed)."""
    if "assign_to" not in obj:
        return
    ref = _object(obj["assign_to"], f"{path}.assign_to", problems)
    if ref is not None:
        _only_keys(ref, ("id", "api_name", "name", "email"), f"{path}.assign_to", problems)
        _id(ref, "id", f"{path}.assign_to", problems)


def _related_modules(body: Mapping[str, Any], module_ids: Mapping[str, str],
                     problems: Problems) -> None:
    """``related_modules``: ``[{api_name, id}]``; the OAS makes both nullable and optional, the
    seed says "the API name and ID of the related modules" (its sample has both): send both."""
    if "related_modules" not in body:
        return
    items = _array(body["related_modules"], "$.related_modules", problems)
    for index, item in enumerate(items or ()):
        path = f"$.related_modules[{index}]"
        ref = _object(item, path, problems)
        if ref is None:
            continue
        _only_keys(ref, ("api_name", "id"), path, problems)
        name = _name(ref, "api_name", path, problems)
        given = _id(ref, "id", path, problems)
        _module_id_matches(name, given, path, module_ids, problems)


def _lead_module_ref(value: object, path: str, module_ids: Mapping[str, str],
                     expect_ids: Collection[str], problems: Problems) -> None:
    """A lead target named as an object: ``{"api_name", "id"?}``.

    Seed (Convert Lead page): ``{"api_name": "Deals"}``; OAS: ``{api_name, id}`` (``id`` required
    in convert_lead.json's ``move_attachments_to``); SDK: ``[{"api_name": "Contacts"}]``. Both
    readings hold when ``api_name`` is always sent and ``id`` whenever the module id is known
    (``expect_ids``: modules whose id the client had from the Modules API).
    """
    ref = _object(value, path, problems)
    if ref is None:
        return
    _only_keys(ref, ("api_name", "id"), path, problems)
    name = _name(ref, "api_name", path, problems, one_of=LEAD_TARGETS)
    given = _id(ref, "id", path, problems, required=name in expect_ids)
    _module_id_matches(name, given, path, module_ids, problems)


def _deals(obj: Mapping[str, Any], path: str, problems: Problems) -> None:
    """``Deals``: an open Record in the OAS; the page's four mandatory keys, typed."""
    if "Deals" not in obj:
        return
    deal = _object(obj["Deals"], f"{path}.Deals", problems)
    if deal is None:
        return
    where = f"{path}.Deals"
    for key in DEAL_MANDATORY:
        if deal.get(key) in (None, "", {}):
            problems.append(f"{where}.{key}: mandatory key missing")
    closing = deal.get("Closing_Date")
    if closing is not None and not (isinstance(closing, str) and _DATE.fullmatch(closing)):
        problems.append(f"{where}.Closing_Date: expected YYYY-MM-DD, got {_show(closing)}")
    for key in ("Deal_Name", "Stage"):
        if key in deal and not isinstance(deal[key], str):
            problems.append(f"{where}.{key}: expected a string, got {_show(deal[key])}")
    pipeline = deal.get("Pipeline")
    # Seed sample: "Pipeline": "Standard (Standard)"; the v8 record API writes a picklist as an
    # object {"name", "id"}: either is a Pipeline.
    if isinstance(pipeline, Mapping):
        if not isinstance(pipeline.get("name"), str) and not _is_id(pipeline.get("id")):
            problems.append(f"{where}.Pipeline: an object needs a name or an id")
    elif pipeline is not None and not isinstance(pipeline, str):
        problems.append(f"{where}.Pipeline: expected a string or an object, got {_show(pipeline)}")
    amount = deal.get("Amount")
    if amount is not None and (isinstance(amount, bool) or not isinstance(amount, (int, float))):
        problems.append(f"{where}.Amount: expected a number, got {_show(amount)}")
    if "Contact_Role" in deal and not _is_id(deal["Contact_Role"]):
        problems.append(
            f"{where}.Contact_Role: expected a contact role id string, "
            f"got {_show(deal['Contact_Role'])}"
        )


def _convert_to(obj: Mapping[str, Any], path: str, source: str | None,
                module_ids: Mapping[str, str], problems: Problems, *,
                tags_required: bool) -> None:
    """``convert_to``: one ``{"module": {"api_name", "id"}, "carry_over_tags"?}``.

    Both readings: ``module`` with ``api_name`` and ``id`` (strings) is mandatory; one target per
    call (seed: "One module for conversion per action"; SDK: max_length 1).
    """
    where = f"{path}.convert_to"
    if "convert_to" not in obj:
        problems.append(f"{where}: mandatory key missing")
        return
    items = _array(obj["convert_to"], where, problems)
    if items is None:
        return
    if len(items) != 1:
        problems.append(f"{where}: expected exactly one target, got {len(items)}")
    for index, item in enumerate(items):
        item_path = f"{where}[{index}]"
        entry = _object(item, item_path, problems)
        if entry is None:
            continue
        _only_keys(entry, ("module", "carry_over_tags"), item_path, problems)
        # Inventory mass convert: mandatory in the OAS (ConvertTo.required) and on the seed page
        # ("carry_over_tags boolean, mandatory", placed in convert_to[0] by its sample).
        # Single convert: optional (OAS Inventory_Converter requires only module).
        _bool(entry, "carry_over_tags", item_path, problems, required=tags_required)
        if "module" not in entry:
            problems.append(f"{item_path}.module: mandatory key missing")
            continue
        module = _object(entry["module"], f"{item_path}.module", problems)
        if module is None:
            continue
        mod_path = f"{item_path}.module"
        _only_keys(module, ("api_name", "id"), mod_path, problems)
        targets = INVENTORY_TARGETS.get(source) if source else None
        all_targets = frozenset().union(*INVENTORY_TARGETS.values())
        name = _name(module, "api_name", mod_path, problems, one_of=targets or all_targets)
        given = _id(module, "id", mod_path, problems)
        _module_id_matches(name, given, mod_path, module_ids, problems)


def _data_row(body: object, problems: Problems) -> Mapping[str, Any] | None:
    """The one object of a ``{"data": [ {...} ]}`` body (single convert, Convert Lead)."""
    top = _object(body, "$", problems)
    if top is None:
        return None
    _only_keys(top, ("data",), "$", problems)
    if "data" not in top:
        problems.append("$.data: mandatory key missing (the body is wrapped in data)")
        return None
    rows = _array(top["data"], "$.data", problems)
    if rows is None:
        return None
    if len(rows) != 1:
        problems.append(f"$.data: expected exactly one object, got {len(rows)}")
        return None
    return _object(rows[0], "$.data[0]", problems)


# -- the four request bodies ---------------------------------------------------------------------

_INVENTORY_MASS_KEYS = ("convert_to", "assign_to", "related_modules", "ids")


def inventory_mass_convert(
    body: object, *, source: str | None = None, module_ids: Mapping[str, str] | None = None
) -> Problems:
    """``POST {Quotes|Sales_Orders}/actions/mass_convert``: inventory_mass_convert.json
    ``Body_Wrapper`` (required ``convert_to``, ``ids``) and the Mass Convert Inventory page.

    Args:
        body: the decoded JSON body.
        source: the module in the URL, to check the target is one of its targets.
        module_ids: the org's module ids (Modules API): every module id sent must match.
    """
    problems: Problems = []
    top = _object(body, "$", problems)
    if top is None:
        return problems
    known = module_ids or {}
    _only_keys(top, _INVENTORY_MASS_KEYS, "$", problems)
    _convert_to(top, "$", source, known, problems, tags_required=True)
    _ids(top, problems)
    _assign_to(top, "$", problems)
    _related_modules(top, known, problems)
    return problems


_LEAD_MASS_KEYS = (
    "Deals", "move_attachments_to", "assign_to", "carry_over_tags", "related_modules",
    "portal_user_type", "ids", "apply_assignment_threshold",
)


def lead_mass_convert(
    body: object,
    *,
    module_ids: Mapping[str, str] | None = None,
    expect_ids: Collection[str] = (),
) -> Problems:
    """``POST Leads/actions/mass_convert``: mass_convert.json ``Body_Wrapper``.

    ``carry_over_tags`` is an array of objects ``{api_name, id?}`` (the OAS items are
    ``move_attachments_to`` objects; the SDK sends ``[{"api_name": "Contacts"}]``), never an
    array of module names.

    Args:
        body: the decoded JSON body.
        module_ids: the org's module ids (Modules API): every module id sent must match.
        expect_ids: modules whose id the client knew: their references must carry the id.
    """
    problems: Problems = []
    top = _object(body, "$", problems)
    if top is None:
        return problems
    known = module_ids or {}
    _only_keys(top, _LEAD_MASS_KEYS, "$", problems)
    _ids(top, problems)
    _deals(top, "$", problems)
    _assign_to(top, "$", problems)
    _related_modules(top, known, problems)
    if "move_attachments_to" in top:
        _lead_module_ref(top["move_attachments_to"], "$.move_attachments_to", known,
                         expect_ids, problems)
    if "carry_over_tags" in top:
        tags = _array(top["carry_over_tags"], "$.carry_over_tags", problems)
        names = []
        for index, tag in enumerate(tags or ()):
            _lead_module_ref(tag, f"$.carry_over_tags[{index}]", known, expect_ids, problems)
            if isinstance(tag, Mapping):
                names.append(tag.get("api_name"))
        if len(set(map(str, names))) != len(names):
            problems.append("$.carry_over_tags: a module is named twice")
    _bool(top, "apply_assignment_threshold", "$", problems)
    if "portal_user_type" in top:
        portal = _object(top["portal_user_type"], "$.portal_user_type", problems)
        if portal is not None:
            _only_keys(portal, ("api_name", "id"), "$.portal_user_type", problems)
            _id(portal, "id", "$.portal_user_type", problems, required=False)
    return problems


def inventory_convert(
    body: object, *, source: str | None = None, module_ids: Mapping[str, str] | None = None
) -> Problems:
    """``POST {Quotes|Sales_Orders}/{id}/actions/convert``: inventory_convert.json
    ``Inventory_Converter`` inside ``{"data": [...]}`` (the OAS request body has no schema; the
    seed page's sample wraps it in ``data``).
    """
    problems: Problems = []
    row = _data_row(body, problems)
    if row is None:
        return problems
    _only_keys(row, ("convert_to",), "$.data[0]", problems)
    _convert_to(row, "$.data[0]", source, module_ids or {}, problems, tags_required=False)
    return problems


_LEAD_CONVERT_KEYS = (
    "overwrite", "notify_lead_owner", "notify_new_entity_owner", "move_attachments_to",
    "Accounts", "Contacts", "assign_to", "Deals", "add_to_existing_record", "carry_over_tags",
)


def lead_convert(
    body: object,
    *,
    module_ids: Mapping[str, str] | None = None,
    expect_ids: Collection[str] = (),
) -> Problems:
    """``POST Leads/{id}/actions/convert``: convert_lead.json ``Lead_Converter`` inside
    ``{"data": [...]}`` (the Convert Lead page's sample) and the page's key list.

    The OAS marks ``Accounts``, ``Contacts``, ``assign_to`` and ``add_to_existing_record``
    required; the page calls every key optional (a new account has no id to send). Read
    together: a plain conversion may omit them (the page), while a body that asks to
    ``add_to_existing_record`` is the OAS's form and carries all four.

    Args:
        body: the decoded JSON body.
        module_ids: the org's module ids (Modules API): a module id sent must match.
        expect_ids: modules whose id the client knew: ``move_attachments_to`` carries it.
    """
    problems: Problems = []
    row = _data_row(body, problems)
    if row is None:
        return problems
    path = "$.data[0]"
    known = module_ids or {}
    _only_keys(row, _LEAD_CONVERT_KEYS, path, problems)
    for key in ("overwrite", "notify_lead_owner", "notify_new_entity_owner"):
        _bool(row, key, path, problems)
    if "add_to_existing_record" in row and row["add_to_existing_record"] is not True:
        # OAS: "type": "boolean", "enum": [true] (the SDK's Choice of one value): absent means
        # no, and false is outside the enum.
        problems.append(
            f"{path}.add_to_existing_record: the only documented value is true, "
            f"got {_show(row['add_to_existing_record'])}"
        )
    if row.get("add_to_existing_record") is True:
        for key in ("Accounts", "Contacts", "assign_to"):
            if key not in row:
                problems.append(
                    f"{path}.{key}: required beside add_to_existing_record "
                    "(Lead_Converter.required)"
                )
    if "move_attachments_to" in row:
        _lead_module_ref(row["move_attachments_to"], f"{path}.move_attachments_to", known,
                         expect_ids, problems)
    for key in ("Accounts", "Contacts"):
        if key in row:
            # OAS: an open Record; seed: "Pass the unique and valid account ID".
            ref = _object(row[key], f"{path}.{key}", problems)
            if ref is not None:
                _id(ref, "id", f"{path}.{key}", problems)
    _assign_to(row, path, problems)
    _deals(row, path, problems)
    if "carry_over_tags" in row:
        # Both readings: {"Contacts": [tag names], "Accounts": [...], "Deals": [...]}.
        tags = _object(row["carry_over_tags"], f"{path}.carry_over_tags", problems)
        for module, names in (tags or {}).items():
            where = f"{path}.carry_over_tags.{module}"
            if module not in LEAD_TARGETS:
                problems.append(f"{where}: not one of {sorted(LEAD_TARGETS)}")
            items = _array(names, where, problems)
            for index, name in enumerate(items or ()):
                if not isinstance(name, str) or not name:
                    problems.append(f"{where}[{index}]: expected a tag name, got {_show(name)}")
    return problems


# -- a request as sent, and which shape applies to it --------------------------------------------


@attrs.frozen
class SentRequest:
    """One HTTP request as the client wrote it (the body is the bytes sent on the socket)."""

    method: str
    path: str
    query: Mapping[str, str]
    content_type: str | None
    body: bytes

    @property
    def api_path(self) -> str:
        """The path below ``/crm/{version}/`` (``Quotes/actions/mass_convert``), else the path."""
        match = re.fullmatch(r"/crm/v[0-9]+/(.*)", self.path)
        return match.group(1) if match else self.path

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


_MASS = re.compile(r"(Quotes|Sales_Orders|Leads)/actions/mass_convert")
_SINGLE = re.compile(r"(Quotes|Sales_Orders|Leads)/([^/]+)/actions/convert")


def request_problems(
    request: SentRequest,
    *,
    module_ids: Mapping[str, str] | None = None,
    expect_ids: Collection[str] = (),
) -> Problems:
    """Check one request against the shape its endpoint documents.

    POSTs must be JSON bodies of the four conversion endpoints; GETs (status polls, Modules
    API) carry no body, and a status poll a numeric ``job_id``.
    """
    where = f"{request.method} {request.api_path}"
    if request.method == "GET":
        problems = [f"body {request.body[:40]!r} on a GET"] if request.body else []
        if _MASS.fullmatch(request.api_path) and not _is_id(request.query.get("job_id")):
            problems.append(f"job_id: expected a numeric string, got {request.query!r}")
        return [f"{where}: {p}" for p in problems]
    if request.method != "POST":
        return [f"{where}: no conversion endpoint takes {request.method}"]
    if request.content_type != "application/json":
        return [f"{where}: Content-Type {request.content_type!r}, expected application/json"]
    try:
        body = request.json()
    except ValueError:
        return [f"{where}: the body is not JSON: {request.body[:60]!r}"]
    mass = _MASS.fullmatch(request.api_path)
    single = _SINGLE.fullmatch(request.api_path)
    if mass and mass.group(1) == "Leads":
        problems = lead_mass_convert(body, module_ids=module_ids, expect_ids=expect_ids)
    elif mass:
        problems = inventory_mass_convert(body, source=mass.group(1), module_ids=module_ids)
    elif single and not _is_id(single.group(2)):
        problems = [f"record id {single.group(2)!r} in the URL is not an id"]
    elif single and single.group(1) == "Leads":
        problems = lead_convert(body, module_ids=module_ids, expect_ids=expect_ids)
    elif single:
        problems = inventory_convert(body, source=single.group(1), module_ids=module_ids)
    else:
        problems = ["not a documented conversion endpoint"]
    return [f"{where}: {p}" for p in problems]


def assert_conforms(
    requests: Collection[SentRequest],
    *,
    module_ids: Mapping[str, str] | None = None,
    expect_ids: Collection[str] = (),
) -> None:
    """Fail with every problem of every request (there must be at least one request)."""
    assert requests, "no request was recorded"
    problems = [
        p for r in requests
        for p in request_problems(r, module_ids=module_ids, expect_ids=expect_ids)
    ]
    assert not problems, "requests off the documented shapes:\n" + "\n".join(problems)


class WireRecorder:
    """Records every request an aiohttp session sends, with the body bytes as written.

    ``on_request_chunk_sent`` reports each chunk the request writer sends; the chunks of one
    request are kept in its trace context and stored when its response (or error) arrives.
    """

    def __init__(self) -> None:
        self.requests: list[SentRequest] = []
        self.trace_config = aiohttp.TraceConfig()
        self.trace_config.on_request_start.append(self._start)
        self.trace_config.on_request_chunk_sent.append(self._chunk)
        self.trace_config.on_request_end.append(self._end)
        self.trace_config.on_request_exception.append(self._end)

    async def _start(self, _session: aiohttp.ClientSession, ctx: types.SimpleNamespace,
                     params: aiohttp.TraceRequestStartParams) -> None:
        ctx.chunks = []
        ctx.content_type = params.headers.get("Content-Type")

    async def _chunk(self, _session: aiohttp.ClientSession, ctx: types.SimpleNamespace,
                     params: aiohttp.TraceRequestChunkSentParams) -> None:
        ctx.chunks.append(params.chunk)

    async def _end(self, _session: aiohttp.ClientSession, ctx: types.SimpleNamespace,
                   params: Any) -> None:
        url = params.url
        self.requests.append(
            SentRequest(
                method=params.method,
                path=url.path,
                query=dict(parse_qsl(url.query_string)),
                content_type=ctx.content_type,
                body=b"".join(ctx.chunks),
            )
        )

    def posts(self, api_path: str) -> list[SentRequest]:
        """The POSTs sent to one path below ``/crm/{version}/``."""
        return [r for r in self.requests if r.method == "POST" and r.api_path == api_path]

    def clear(self) -> None:
        """Forget what was recorded (e.g. the setup's requests)."""
        self.requests.clear()


# -- a simulator and a client on one virtual clock -----------------------------------------------




#: Request retries that never give up on a well-behaved simulator (delays are virtual anyway).
RETRY = RetryPolicy(max_tries=12, initial=0.01, max_delay=1.0, deadline=100_000)


@attrs.frozen
class Env:
    """A simulator, a client pointed at it, the recorder of the client's requests, the time."""

    sim: Simulator
    client: ZohoConvertClient
    wire: WireRecorder
    time: SummingTime

    def module_id(self, api_name: str) -> str:
        """The simulated org's id of a module (read in-process, no request)."""
        return module_id(self.sim.state.org_prefix, MODULES_BY_NAME[api_name])

    def module_ids(self) -> dict[str, str]:
        """Every module's id in the simulated org."""
        return {name: self.module_id(name) for name in MODULES_BY_NAME}

    def submits(self, module: str = "Quotes") -> int:
        """Mass-convert submits the simulator served for ``module`` (its POSTs)."""
        return len(self.wire.posts(f"{module}/actions/mass_convert"))


@contextlib.asynccontextmanager
async def running(
    config: SimulatorConfig, *, time: SummingTime | None = None, **client: Any
) -> AsyncIterator[Env]:
    """Serve ``config`` (on the virtual clock) and a client with a recording session.

    Args:
        config: the simulator's configuration; its clock is replaced by the virtual one.
        time: the virtual time to share (default: a new one).
        client: ``ZohoConvertClient`` keyword arguments (``retry`` defaults to ``RETRY``,
            ``sleep`` and ``clock`` to the virtual time's).
    """
    time = time or SummingTime()
    wire = WireRecorder()
    config = attrs.evolve(config, clock=time.clock)
    client.setdefault("retry", RETRY)
    client.setdefault("sleep", time.sleep)
    client.setdefault("clock", time.clock)
    async with Simulator(config) as sim, aiohttp.ClientSession(
        trace_configs=[wire.trace_config]
    ) as session:
        api = ZohoConvertClient(
            StaticToken(sim.access_token), api_domain=sim.url, session=session, **client
        )
        async with api:
            yield Env(sim=sim, client=api, wire=wire, time=time)
