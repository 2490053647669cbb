"""A failed token refresh, written to Redis and raised again in the processes that waited.

Only zoho_convert's own errors travel, as plain fields (never pickle: Redis content must not
become code). Their messages are secret-free by design (``zoho_convert.errors``). Any other
exception travels as its class name only, since its text was not written with secrets in mind.
"""

from __future__ import annotations

from zoho_convert.api.errors import (
    APIError,
    AuthenticationError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    TransportError,
    ZohoConvertError,
)

__all__ = ["describe_failure", "rebuild_failure"]

_API_ERRORS: dict[str, type[APIError]] = {
    cls.__name__: cls
    for cls in (APIError, AuthenticationError, PermissionDeniedError, RateLimitError, ServerError)
}


def describe_failure(error: BaseException) -> dict[str, str]:
    """The fields that let another process raise an equivalent error."""
    if isinstance(error, APIError) and type(error).__name__ in _API_ERRORS:
        return {
            "error": type(error).__name__,
            "status": str(error.status),
            "code": error.code,
            "message": error.message,
        }
    if isinstance(error, TransportError):
        return {"error": "TransportError", "message": error.message, "sent": str(int(error.sent))}
    if isinstance(error, ResponseValidationError):
        return {"error": "ResponseValidationError", "message": error.message}
    return {"error": "other", "message": type(error).__name__}


def rebuild_failure(fields: dict[str, str]) -> ZohoConvertError:
    """The error another process's failed refresh described (see ``describe_failure``)."""
    kind = fields.get("error", "other")
    message = fields.get("message", "")
    api_error = _API_ERRORS.get(kind)
    if api_error is not None:
        try:
            status = int(fields.get("status", "0"))
        except ValueError:
            status = 0
        return api_error(status, fields.get("code", ""), message)
    if kind == "TransportError":
        return TransportError(message, sent=fields.get("sent") == "1")
    if kind == "ResponseValidationError":
        return ResponseValidationError(message)
    return ZohoConvertError(f"another process's token refresh failed ({message or 'error'})")
