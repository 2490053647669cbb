"""Map a method and a ``/crm/{version}/...`` path to an endpoint, or to Zoho's routing error.

Routing is resolved before authentication (faults need the endpoint name) but its errors are only
sent after authentication, as Zoho checks the token first.
"""

from __future__ import annotations

import attrs

from .catalog import CONVERTIBLE, find_module
from .errors import ApiError

API_VERSIONS = frozenset({"v7", "v8"})


@attrs.frozen
class Route:
    """A resolved API call.

    Attributes:
        endpoint: One of ``config.ENDPOINT_NAMES``.
        module: Module API name from the path, when there is one (canonical spelling).
        record_id: Record id from the path (single converts), as sent.
        module_name: Raw ``{api_name}`` of ``settings/modules/{api_name}``.
    """

    endpoint: str
    module: str | None = None
    record_id: str | None = None
    module_name: str | None = None


def _method(allowed: str, method: str, route: Route) -> Route | ApiError:
    return route if method == allowed else ApiError("INVALID_REQUEST_METHOD")


def _convertible(name: str) -> str | ApiError:
    info = find_module(name)
    if info is None or info.api_name not in CONVERTIBLE:
        return ApiError("INVALID_MODULE", {"resource_path_index": 0})
    return info.api_name


def resolve(method: str, path: str) -> Route | ApiError:
    """Resolve ``method`` + ``path`` (already split from its query string)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) < 3 or parts[0] != "crm" or parts[1] not in API_VERSIONS:
        return ApiError("INVALID_URL_PATTERN")
    rest = parts[2:]
    if rest[0] == "settings":
        if rest == ["settings", "modules"]:
            return _method("GET", method, Route("modules"))
        if len(rest) == 3 and rest[1] == "modules":
            return _method("GET", method, Route("modules", module_name=rest[2]))
        if rest == ["settings", "fields"]:
            return _method("GET", method, Route("fields"))
        return ApiError("INVALID_URL_PATTERN")
    if len(rest) == 3 and rest[1:] == ["actions", "mass_convert"]:
        module = _convertible(rest[0])
        if isinstance(module, ApiError):
            return module
        lead = module == "Leads"
        if method == "POST":
            return Route("lead_mass_convert" if lead else "mass_convert", module)
        if method == "GET":
            return Route("lead_mass_convert_status" if lead else "mass_convert_status", module)
        return ApiError("INVALID_REQUEST_METHOD")
    if len(rest) == 4 and rest[2:] == ["actions", "convert"]:
        module = _convertible(rest[0])
        if isinstance(module, ApiError):
            return module
        endpoint = "lead_convert" if module == "Leads" else "convert"
        return _method("POST", method, Route(endpoint, module, record_id=rest[1]))
    return ApiError("INVALID_URL_PATTERN")
