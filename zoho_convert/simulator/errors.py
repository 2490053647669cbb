"""Zoho's error envelope: ``{"code","details","message","status":"error"}`` with its HTTP status."""

from __future__ import annotations

from typing import Any

# code -> (HTTP status, Zoho's message). Messages follow what Zoho and its SDK's enums say.
ERRORS: dict[str, tuple[int, str]] = {
    "MANDATORY_NOT_FOUND": (400, "required field not found"),
    "INVALID_DATA": (400, "invalid data"),
    "EXPECTED_FIELD_MISSING": (400, "The 'convert_to' JSON array is missing or empty"),
    "LIMIT_EXCEEDED": (400, "Limit has been exceeded"),
    "AMBIGUITY_DURING_PROCESSING": (400, "ambiguity during processing"),
    "ID_ALREADY_CONVERTED": (400, "id already converted"),
    "NOT_APPROVED": (400, "cannot convert record that is not approved yet"),
    "NOT_REVIEWED": (400, "Specified parent record has not been reviewed"),
    "NO_PERMISSION": (403, "permission denied"),
    "RECORD_LOCKED": (400, "You cannot perform this operation as the record is locked."),
    "REQUIRED_PARAM_MISSING": (400, "One of the expected parameter is missing"),
    "INVALID_REQUEST_METHOD": (400, "The http request method type is not a valid one"),
    "INVALID_MODULE": (400, "the module name given seems to be invalid"),
    "INVALID_URL_PATTERN": (404, "Please check if the URL trying to access is a correct one"),
    "AUTHENTICATION_FAILURE": (401, "Authentication failed"),
    "INVALID_TOKEN": (401, "invalid oauth token"),
    "OAUTH_SCOPE_MISMATCH": (401, "invalid oauth scope to access this URL"),
    "TOO_MANY_REQUESTS": (
        429,
        "You have exceeded the concurrency limit or the number of API requests allowed",
    ),
    "INTERNAL_ERROR": (500, "Internal Server Error"),
}


class ApiError(Exception):
    """An error reply in Zoho's envelope.

    Args:
        code: Zoho error code (a key of ``ERRORS``).
        details: The ``details`` object (which field, which id...).
        wrapped: Send it inside ``{"data":[...]}`` as Zoho does for record-level failures of
            ``data``-wrapped calls (single convert, lead convert).
        message: Overrides the standard message.
    """

    def __init__(
        self,
        code: str,
        details: dict[str, Any] | None = None,
        *,
        wrapped: bool = False,
        message: str | None = None,
    ) -> None:
        status, default_message = ERRORS[code]
        super().__init__(code)
        self.code = code
        self.status = status
        self.details: dict[str, Any] = details or {}
        self.wrapped = wrapped
        self.message = message or default_message

    def body(self) -> dict[str, Any]:
        """The JSON body to send."""
        error = {
            "code": self.code,
            "details": self.details,
            "message": self.message,
            "status": "error",
        }
        return {"data": [error]} if self.wrapped else error
