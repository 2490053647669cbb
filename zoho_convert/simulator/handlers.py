"""HTTP <-> state: one function per endpoint, answering in Zoho's wire format.

Every handler returns ``(HTTP status, JSON body)`` or raises ``ApiError``; ``app.py`` turns that
into an aiohttp response and wraps it with authentication, fault injection and statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .catalog import MODULES, fields_json, find_module, module_json
from .errors import ApiError
from .routing import Route
from .state import CrmState, ForgottenJobError, JobSnapshot, RecordError, UnknownJobError
from .validation import (
    data_entry,
    parse_id,
    parse_json_body,
    require_object,
    validate_convert_to,
    validate_ids,
    validate_lead_convert,
    validate_lead_mass_convert,
    validate_optional_ref,
    validate_related_modules,
)

Reply = tuple[int, Any]
AUTH_PREFIX = "Zoho-oauthtoken "

# The inventory OAS answers a scheduled mass convert with 202, the Leads OAS with 200; the
# official SDK reads either.
INVENTORY_SCHEDULED_STATUS = 202
LEADS_SCHEDULED_STATUS = 200

#: Status-row keys, field -> wire name in Zoho's order: inventory (snake case), Leads (capitals).
_INVENTORY_ROW = {"total": "total_count", "converted": "converted_count",
                  "not_converted": "not_converted_count", "failed": "failed_count",
                  "status": "status"}
_LEADS_ROW = {"status": "Status", "total": "Total_Count", "converted": "Converted_Count",
              "not_converted": "Not_Converted_Count", "failed": "Failed_Count"}


def authenticate(state: CrmState, headers: Mapping[str, str]) -> None:
    """Check ``Authorization: Zoho-oauthtoken <token>`` and count one use of the token.

    Raises:
        ApiError: AUTHENTICATION_FAILURE when the header is missing or malformed,
            INVALID_TOKEN when the token is unknown, expired or used up.
    """
    header = headers.get("Authorization", "")
    if not header.startswith(AUTH_PREFIX) or not header[len(AUTH_PREFIX):].strip():
        raise ApiError("AUTHENTICATION_FAILURE")
    if not state.tokens.use(header[len(AUTH_PREFIX):].strip()):
        raise ApiError("INVALID_TOKEN")


def _record_error(
    state: CrmState, err: RecordError, *, wrapped: bool, raw_id: object = None
) -> ApiError:
    """The error naming a refused record.

    Single converts (``wrapped``) name it by ``id``. Mass converts name it by its index in
    ``ids``: ``resource_path_index`` (the OAS) or the flat ``{id, api_name, json_path}``.
    """
    rid = str(raw_id if raw_id is not None else err.record_id)
    details: dict[str, Any]
    if wrapped:
        details = {"id": rid}
    elif state.config.error_details == "oas":
        details = {"resource_path_index": err.index}
    else:
        details = {"id": rid, "api_name": "ids", "json_path": f"$.ids[{err.index}]"}
    return ApiError(err.code, details, wrapped=wrapped)


def _check_module_permission(
    state: CrmState, module: str, action: str, json_path: str | None = None
) -> None:
    """403 NO_PERMISSION when ``module`` is in ``no_permission_modules``."""
    if module not in state.config.no_permission_modules:
        return
    details: dict[str, Any] = {"permissions": [f"Crm_Implied_{action}_{module}"]}
    if json_path is not None:
        details.update({"api_name": "api_name", "json_path": json_path})
    raise ApiError("NO_PERMISSION", details)


def _submit(
    state: CrmState,
    module: str,
    target: str | None,
    ids: list[int],
    body: Mapping[str, Any],
    status: int,
) -> Reply:
    """Schedule a mass-convert job; a refused record is named as the request wrote its id."""
    try:
        job = state.submit_job(module, target, ids)
    except RecordError as err:
        raise _record_error(state, err, wrapped=False, raw_id=body["ids"][err.index]) from None
    return status, {
        "code": "SCHEDULED",
        "details": {"job_id": job.announced_id},
        "message": "Mass Convert scheduled successfully",
        "status": "success",
    }


def mass_convert(state: CrmState, route: Route, raw: bytes, query: Mapping[str, str]) -> Reply:
    """``POST {Quotes|Sales_Orders}/actions/mass_convert``."""
    assert route.module is not None
    _check_module_permission(state, route.module, "Mass_Convert")
    style = state.config.error_details
    body = require_object(parse_json_body(raw))
    target = validate_convert_to(
        route.module, body, state.org_prefix, path="$", tags_required=True, style=style
    )
    _check_module_permission(
        state, target.api_name, "Mass_Convert", "$.convert_to[0].module.api_name"
    )
    ids = validate_ids(body)
    validate_optional_ref(body, "assign_to", "$")
    validate_related_modules(body, state.org_prefix, style)
    return _submit(state, route.module, target.api_name, ids, body, INVENTORY_SCHEDULED_STATUS)


def lead_mass_convert(
    state: CrmState, route: Route, raw: bytes, query: Mapping[str, str]
) -> Reply:
    """``POST Leads/actions/mass_convert``."""
    _check_module_permission(state, "Leads", "Mass_Convert")
    body = require_object(parse_json_body(raw))
    ids = validate_lead_mass_convert(body, state.org_prefix, state.config.error_details)
    return _submit(state, "Leads", None, ids, body, LEADS_SCHEDULED_STATUS)


def _invalid_job_id() -> ApiError:
    return ApiError("INVALID_DATA", {"param_name": "job_id"}, message="The job_id is invalid")


def _poll(state: CrmState, route: Route, query: Mapping[str, str]) -> JobSnapshot | None:
    """The job's snapshot, or None for a forgotten job that answers 204."""
    assert route.module is not None
    raw = query.get("job_id")
    if raw is None or raw == "":
        raise ApiError("REQUIRED_PARAM_MISSING", {"param_name": "job_id"})
    job_id = parse_id(raw)
    if job_id is None:
        raise _invalid_job_id()
    try:
        return state.poll_job(route.module, str(job_id))
    except UnknownJobError:
        raise _invalid_job_id() from None
    except ForgottenJobError:
        if state.config.faults.forget_reply == "204":
            return None
        raise _invalid_job_id() from None


def _status_reply(state: CrmState, snap: JobSnapshot | None, names: dict[str, str]) -> Reply:
    """A status reply whose row uses ``names`` (field -> wire key); 204 for None."""
    if snap is None:
        return 204, None
    values: dict[str, Any] = {
        "total": snap.total,
        "converted": snap.converted,
        "not_converted": snap.not_converted,
        "failed": snap.failed,
        "status": snap.status,
    }
    if snap.malformed is not None and snap.final:
        state.stats.malformed_statuses += 1
        if snap.malformed == "over_total":
            values["converted"] = snap.total + 1
        elif snap.malformed == "null_count":
            values["converted"] = None
        else:
            values["status"] = "CANCELLED"
    row = {wire: values[field] for field, wire in names.items()}
    # The v7 page wraps the row in "data"; the v8 OAS documents the bare object.
    return 200, (row if state.config.status_shape == "bare" else {"data": [row]})


def mass_convert_status(
    state: CrmState, route: Route, raw: bytes, query: Mapping[str, str]
) -> Reply:
    """``GET {Quotes|Sales_Orders}/actions/mass_convert?job_id=``."""
    return _status_reply(state, _poll(state, route, query), _INVENTORY_ROW)


def lead_mass_convert_status(
    state: CrmState, route: Route, raw: bytes, query: Mapping[str, str]
) -> Reply:
    """``GET Leads/actions/mass_convert?job_id=`` (capitalised keys, as Zoho and its SDK use)."""
    return _status_reply(state, _poll(state, route, query), _LEADS_ROW)


def _path_record(route: Route) -> int:
    rid = parse_id(route.record_id)
    if rid is None:
        raise ApiError("INVALID_DATA", {"id": route.record_id}, wrapped=True,
                       message="the related id given seems to be invalid")
    return rid


def _convert_path_record(state: CrmState, module: str, route: Route) -> None:
    """Convert the record the URL names, or raise the error Zoho would."""
    rid = _path_record(route)
    try:
        state.convert_one(module, rid)
    except RecordError as err:
        raise _record_error(state, err, wrapped=True, raw_id=route.record_id) from None


def _success(details: dict[str, Any]) -> Reply:
    return 200, {
        "data": [
            {
                "code": "SUCCESS",
                "details": details,
                "message": "The record has been converted successfully",
                "status": "success",
            }
        ]
    }


def convert(state: CrmState, route: Route, raw: bytes, query: Mapping[str, str]) -> Reply:
    """``POST {Quotes|Sales_Orders}/{id}/actions/convert``."""
    assert route.module is not None
    _check_module_permission(state, route.module, "Convert")
    entry = data_entry(parse_json_body(raw))
    target = validate_convert_to(
        route.module, entry, state.org_prefix, path="$.data[0]", tags_required=False,
        style=state.config.error_details,
    )
    _check_module_permission(
        state, target.api_name, "Convert", "$.data[0].convert_to[0].module.api_name"
    )
    _convert_path_record(state, route.module, route)
    return _success(
        {target.api_name: {"name": state.fake_name(target.api_name), "id": state.new_id()}}
    )


def lead_convert(state: CrmState, route: Route, raw: bytes, query: Mapping[str, str]) -> Reply:
    """``POST Leads/{id}/actions/convert``."""
    _check_module_permission(state, "Leads", "Convert")
    entry = data_entry(parse_json_body(raw))
    deals = validate_lead_convert(entry, state.org_prefix, state.config.error_details)
    _convert_path_record(state, "Leads", route)
    details: dict[str, Any] = {}
    for module in ("Contacts", "Accounts"):
        given = entry.get(module)
        given_id = parse_id(given.get("id")) if isinstance(given, dict) else None
        details[module] = {
            "name": state.fake_name(module),
            "id": str(given_id) if given_id is not None else state.new_id(),
        }
    if deals is not None:
        details["Deals"] = {"name": str(deals["Deal_Name"]), "id": state.new_id()}
    return _success(details)


def modules(state: CrmState, route: Route, raw: bytes, query: Mapping[str, str]) -> Reply:
    """``GET settings/modules`` and ``GET settings/modules/{api_name}``."""
    if route.module_name is None:
        return 200, {"modules": [module_json(state.org_prefix, m) for m in MODULES]}
    info = find_module(route.module_name)
    if info is None:
        # The OAS answers an unknown module with 204 No Content; older replies said INVALID_MODULE.
        if state.config.unknown_module_reply == "204":
            return 204, None
        raise ApiError("INVALID_MODULE", {"resource_path_index": 2})
    return 200, {"modules": [module_json(state.org_prefix, info)]}


def fields(state: CrmState, route: Route, raw: bytes, query: Mapping[str, str]) -> Reply:
    """``GET settings/fields?module=X`` (the official SDK reads Deals' fields for lead convert)."""
    name = query.get("module")
    if not name:
        raise ApiError("REQUIRED_PARAM_MISSING", {"param_name": "module"})
    info = find_module(name)
    if info is None:
        raise ApiError("INVALID_MODULE", {"param_name": "module"})
    return 200, {"fields": fields_json(state.org_prefix, info)}


Handler = Callable[[CrmState, Route, bytes, Mapping[str, str]], Reply]

HANDLERS: dict[str, Handler] = {
    "mass_convert": mass_convert,
    "mass_convert_status": mass_convert_status,
    "convert": convert,
    "lead_convert": lead_convert,
    "lead_mass_convert": lead_mass_convert,
    "lead_mass_convert_status": lead_mass_convert_status,
    "modules": modules,
    "fields": fields,
}


def handle(state: CrmState, route: Route, raw: bytes, query: Mapping[str, str]) -> Reply:
    """Run the endpoint's handler; ``ApiError`` becomes its error reply.

    A reply body of None means "no body" (HTTP 204).
    """
    if route.endpoint in state.config.scope_mismatch_endpoints:
        err = ApiError("OAUTH_SCOPE_MISMATCH")
        return err.status, err.body()
    try:
        return HANDLERS[route.endpoint](state, route, raw, query)
    except ApiError as err:
        return err.status, err.body()


_THROTTLE_REPLIES: dict[str, Reply] = {
    "access_denied_space": (200, {"error": "Access Denied"}),
    "access_denied": (200, {"error": "access_denied"}),
    "http_429": (429, {"error": "too many requests"}),
}


def token_grant(state: CrmState, form: Mapping[str, str], api_domain: str) -> Reply:
    """``POST /oauth/v2/token`` with the refresh-token grant.

    Zoho answers refused grants with HTTP 200 and ``{"error": ...}``; so does this. Past the
    mint limit it answers ``token_throttle_reply``.
    """
    grant = state.tokens.refresh(
        form.get("grant_type", ""),
        form.get("client_id", ""),
        form.get("client_secret", ""),
        form.get("refresh_token", ""),
    )
    if grant.refusal == "throttled":
        state.stats.token_throttled += 1
        return _THROTTLE_REPLIES[state.config.token_throttle_reply]
    if grant.token is None:
        state.stats.token_refresh_failures += 1
        return 200, {"error": grant.refusal}
    state.stats.token_refreshes += 1
    ttl = state.config.faults.token_ttl
    seconds = 3600 if ttl is None else max(1, int(ttl))
    body: dict[str, Any] = {
        "access_token": grant.token,
        "api_domain": api_domain,
        "token_type": "Bearer",
        "expires_in": seconds,
    }
    if state.config.token_expiry_ms:
        # Some accounts servers send seconds in expires_in_sec and milliseconds in expires_in.
        body["expires_in_sec"] = seconds
        body["expires_in"] = seconds * 1000
    return 200, body
