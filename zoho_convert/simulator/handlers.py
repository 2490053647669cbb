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
from .state import CrmState, RecordError, UnknownJobError
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

# Zoho answers a scheduled mass action with 202 Accepted; the official SDK reads any status.
SCHEDULED_STATUS = 202


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


def _record_error(err: RecordError, *, wrapped: bool, raw_id: object = None) -> ApiError:
    details: dict[str, Any] = {"id": str(raw_id if raw_id is not None else err.record_id)}
    if not wrapped:
        details.update({"api_name": "ids", "json_path": f"$.ids[{err.index}]"})
    return ApiError(err.code, details, wrapped=wrapped)


def _submit(
    state: CrmState, module: str, target: str | None, ids: list[int], body: Mapping[str, Any]
) -> Reply:
    """Schedule a mass-convert job; a refused record is named as the request wrote its id."""
    try:
        job = state.submit_job(module, target, ids)
    except RecordError as err:
        raise _record_error(err, wrapped=False, raw_id=body["ids"][err.index]) from None
    return SCHEDULED_STATUS, {
        "code": "SCHEDULED",
        "details": {"job_id": job.job_id},
        "message": "Mass Convert scheduled successfully",
        "status": "success",
    }


def mass_convert(state: CrmState, route: Route, raw: bytes, query: Mapping[str, str]) -> Reply:
    """``POST {Quotes|Sales_Orders}/actions/mass_convert``."""
    assert route.module is not None
    body = require_object(parse_json_body(raw))
    target = validate_convert_to(
        route.module, body, state.org_prefix, path="$", tags_required=True
    )
    ids = validate_ids(body)
    validate_optional_ref(body, "assign_to", "$")
    validate_related_modules(body, state.org_prefix)
    return _submit(state, route.module, target.api_name, ids, body)


def lead_mass_convert(
    state: CrmState, route: Route, raw: bytes, query: Mapping[str, str]
) -> Reply:
    """``POST Leads/actions/mass_convert``."""
    body = require_object(parse_json_body(raw))
    ids = validate_lead_mass_convert(body, state.org_prefix)
    return _submit(state, "Leads", None, ids, body)


def _poll(state: CrmState, route: Route, query: Mapping[str, str]) -> Any:
    assert route.module is not None
    raw = query.get("job_id")
    if raw is None or raw == "":
        raise ApiError("REQUIRED_PARAM_MISSING", {"param_name": "job_id"})
    job_id = parse_id(raw)
    if job_id is None:
        raise ApiError("INVALID_DATA", {"param_name": "job_id"}, message="The job_id is invalid")
    try:
        return state.poll_job(route.module, str(job_id))
    except UnknownJobError:
        raise ApiError(
            "INVALID_DATA", {"param_name": "job_id"}, message="The job_id is invalid"
        ) from None


def mass_convert_status(
    state: CrmState, route: Route, raw: bytes, query: Mapping[str, str]
) -> Reply:
    """``GET {Quotes|Sales_Orders}/actions/mass_convert?job_id=``."""
    snap = _poll(state, route, query)
    return 200, {
        "data": [
            {
                "total_count": snap.total,
                "converted_count": snap.converted,
                "not_converted_count": snap.not_converted,
                "failed_count": snap.failed,
                "status": snap.status,
            }
        ]
    }


def lead_mass_convert_status(
    state: CrmState, route: Route, raw: bytes, query: Mapping[str, str]
) -> Reply:
    """``GET Leads/actions/mass_convert?job_id=`` (capitalised keys, as Zoho and its SDK use)."""
    snap = _poll(state, route, query)
    return 200, {
        "data": [
            {
                "Status": snap.status,
                "Total_Count": snap.total,
                "Converted_Count": snap.converted,
                "Not_Converted_Count": snap.not_converted,
                "Failed_Count": snap.failed,
            }
        ]
    }


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
        raise _record_error(err, wrapped=True, raw_id=route.record_id) from None


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
    entry = data_entry(parse_json_body(raw))
    target = validate_convert_to(
        route.module, entry, state.org_prefix, path="$.data[0]", tags_required=False
    )
    _convert_path_record(state, route.module, route)
    return _success(
        {target.api_name: {"name": state.fake_name(target.api_name), "id": state.new_id()}}
    )


def lead_convert(state: CrmState, route: Route, raw: bytes, query: Mapping[str, str]) -> Reply:
    """``POST Leads/{id}/actions/convert``."""
    entry = data_entry(parse_json_body(raw))
    deals = validate_lead_convert(entry)
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
    """Run the endpoint's handler; ``ApiError`` becomes its error reply."""
    try:
        return HANDLERS[route.endpoint](state, route, raw, query)
    except ApiError as err:
        return err.status, err.body()


def token_grant(state: CrmState, form: Mapping[str, str], api_domain: str) -> Reply:
    """``POST /oauth/v2/token`` with the refresh-token grant.

    Zoho answers refused grants with HTTP 200 and ``{"error": ...}``; so does this.
    """
    result = state.tokens.refresh(
        form.get("grant_type", ""),
        form.get("client_id", ""),
        form.get("client_secret", ""),
        form.get("refresh_token", ""),
    )
    if result.startswith("error:"):
        state.stats.token_refresh_failures += 1
        return 200, {"error": result.removeprefix("error:")}
    state.stats.token_refreshes += 1
    ttl = state.config.faults.token_ttl
    return 200, {
        "access_token": result,
        "api_domain": api_domain,
        "token_type": "Bearer",
        "expires_in": 3600 if ttl is None else max(1, int(ttl)),
    }
