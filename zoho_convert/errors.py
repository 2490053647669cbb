"""The error tree of zoho_convert, and the table that maps Zoho error codes onto it.

Errors are split by phase and by cause, so a caller can catch exactly what it can handle:

```
ZohoConvertError
├── TransportError            no usable response; .sent tells whether the request left us
├── ResponseValidationError   Zoho answered, but not in a shape we understand
├── APIError                  Zoho answered with an error code
│   ├── AuthenticationError   401 (and OAuth failures that arrive as HTTP 200)
│   ├── PermissionDeniedError 403 NO_PERMISSION, AUTHORIZATION_FAILED
│   ├── RateLimitError        429 TOO_MANY_REQUESTS
│   ├── ServerError           5xx
│   └── InvalidRequestError   other 4xx
│       ├── RecordStateError  the record cannot be converted in its present state
│       └── JobNotFoundError  a status poll found no such job (HTTP 204, or "job_id is invalid")
├── JobFailedError            a mass-convert job ended FAILED
└── PollTimeoutError          a job outlived the poll deadline
```

No error text ever includes a credential: messages are built only from Zoho's reply and our
own words, never from request headers or bodies that could carry a token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoho_convert.models import JobStatus
    from zoho_convert.report import ConversionReport

__all__ = [
    "ERROR_CODES",
    "APIError",
    "AuthenticationError",
    "InvalidRequestError",
    "JobFailedError",
    "JobNotFoundError",
    "PermissionDeniedError",
    "PollTimeoutError",
    "RateLimitError",
    "RecordStateError",
    "ResponseValidationError",
    "ServerError",
    "TransportError",
    "ZohoConvertError",
    "error_for",
]


class ZohoConvertError(Exception):
    """Base class of every error zoho_convert raises on purpose.

    Attributes:
        partial_report: set by ``convert_many`` and ``resume`` on the error that stopped a run:
            the ``ConversionReport`` of what the run did before it stopped. None on an error
            raised before the run started (e.g. the target module's id lookup) and on errors of
            single calls.
    """

    partial_report: ConversionReport | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword-only or extra arguments, so the default reduce (cls(*args))
        # cannot rebuild them: restore args and every attribute without calling __init__.
        return (_rebuild_error, (type(self), self.args), self.__dict__.copy())


def _rebuild_error(cls: type[ZohoConvertError], args: tuple[Any, ...]) -> ZohoConvertError:
    error = cls.__new__(cls)
    error.args = args
    return error


class TransportError(ZohoConvertError):
    """No usable HTTP response: connection refused or reset, timeout, dropped connection.

    Attributes:
        sent: True when the request may have reached the server before the failure, so a
            non-idempotent call (a mass convert) may have been processed.
    """

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.message = message
        self.sent = sent

    @property
    def maybe_processed(self) -> bool:
        """Whether the server may have acted on the request."""
        return self.sent


class ResponseValidationError(ZohoConvertError):
    """Zoho's reply could not be understood: bad JSON, a missing key, a wrong type.

    Attributes:
        field: the dotted path of the offending field, e.g. ``data[0].status``.
        maybe_processed: True when the request was a POST that Zoho answered with success
            (so it may have acted) but whose reply we could not read.
    """

    def __init__(
        self, message: str, *, field: str | None = None, maybe_processed: bool = False
    ) -> None:
        text = f"{message} (field: {field})" if field else message
        if maybe_processed:
            text += "; the request may have been processed by Zoho"
        super().__init__(text)
        self.message = message
        self.field = field
        self.maybe_processed = maybe_processed


class APIError(ZohoConvertError):
    """Zoho answered with an error.

    Attributes:
        status: the HTTP status code.
        code: Zoho's error code, e.g. ``INVALID_DATA``.
        message: Zoho's message.
        details: Zoho's ``details`` object (may be empty).
        request_id: a request id from the reply headers, when Zoho sent one.
        maybe_processed: True when the server may have acted on the request anyway (a POST
            answered with a 5xx), so repeating it blindly could act twice.
        hint: the resolution the Zoho documentation gives for this code.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        *,
        request_id: str | None = None,
        maybe_processed: bool = False,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.details: Mapping[str, Any] = dict(details or {})
        self.request_id = request_id
        self.maybe_processed = maybe_processed
        self.hint = ERROR_CODES.get(code, _UNKNOWN)[1]
        super().__init__(self._describe())

    def _describe(self) -> str:
        text = f"HTTP {self.status} {self.code}: {self.message}"
        if self.details:
            text += f" {dict(self.details)!r}"
        if self.hint:
            text += f". Resolution: {self.hint}"
        if self.maybe_processed:
            text += ". The request may have been processed by Zoho."
        return text


class AuthenticationError(APIError):
    """The credentials were refused: missing, expired after a refresh, revoked, or lacking scope."""


class PermissionDeniedError(APIError):
    """The user or the module lacks a permission (403 NO_PERMISSION, AUTHORIZATION_FAILED)."""


class RateLimitError(APIError):
    """Too many requests in flight or too many credits used (429 TOO_MANY_REQUESTS).

    Attributes:
        retry_after: seconds the server asked us to wait, when it sent a Retry-After header.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        *,
        request_id: str | None = None,
        maybe_processed: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            status,
            code,
            message,
            details,
            request_id=request_id,
            maybe_processed=maybe_processed,
        )
        self.retry_after = retry_after


class ServerError(APIError):
    """Zoho failed on its side (5xx INTERNAL_ERROR)."""


class InvalidRequestError(APIError):
    """Zoho refused the request as malformed or impossible (4xx other than auth/permission)."""


class RecordStateError(InvalidRequestError):
    """A record cannot be converted in its present state (already converted, locked, ...)."""


class JobNotFoundError(InvalidRequestError):
    """Zoho does not know the job any more: its status poll answered HTTP 204 No Content, or
    400 INVALID_DATA "The job_id is invalid" (an expired job, another org or data center).

    ``convert_many`` treats such a job as lost: its records may or may not have converted, so
    they are settled by resubmission (Zoho refuses to convert a record twice).

    Attributes:
        job_id: the job's id.
    """

    def __init__(
        self,
        job_id: str,
        status: int,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        *,
        request_id: str | None = None,
    ) -> None:
        self.job_id = job_id
        super().__init__(status, code, message, details, request_id=request_id)


class JobFailedError(ZohoConvertError):
    """A mass-convert job ended in the FAILED state.

    Attributes:
        job_id: the job's id.
        status: the job's final status.
    """

    def __init__(self, job_id: str, status: JobStatus) -> None:
        super().__init__(
            f"job {job_id} FAILED: {status.failed_count} of {status.total_count} records failed"
        )
        self.job_id = job_id
        self.status = status


class PollTimeoutError(ZohoConvertError):
    """A job was still unfinished when the poll deadline passed.

    Attributes:
        job_id: the job's id, to poll again later.
        last_status: the last status seen, if any poll succeeded.
    """

    def __init__(self, job_id: str, last_status: JobStatus | None) -> None:
        state = last_status.state.value if last_status else "unknown"
        super().__init__(
            f"job {job_id} still unfinished (last state: {state}) when the poll timeout passed; "
            "poll it again later with wait_for_job"
        )
        self.job_id = job_id
        self.last_status = last_status


_UNKNOWN: tuple[type[APIError], str] = (APIError, "")

# Zoho error code -> (error class, the documentation's resolution). Built from the four seed
# pages, plus INVALID_TOKEN / TOO_MANY_REQUESTS and the two codes the official SDK adds.
ERROR_CODES: dict[str, tuple[type[APIError], str]] = {
    "MANDATORY_NOT_FOUND": (
        InvalidRequestError,
        "specify all the mandatory fields in the input body (ids, convert_to, carry_over_tags, "
        "module)",
    ),
    "INVALID_DATA": (
        InvalidRequestError,
        "check the record ids, the job id, the data types and the module names in the request",
    ),
    "NO_PERMISSION": (
        PermissionDeniedError,
        "enable permission for the parent and child modules in Organize Modules and in the "
        "profile's Convert / Mass Convert permissions",
    ),
    "AMBIGUITY_DURING_PROCESSING": (
        InvalidRequestError,
        "the module id given in convert_to does not belong to that module; pass the target "
        "module's own id from the Modules API",
    ),
    "LIMIT_EXCEEDED": (
        InvalidRequestError,
        "send at most 50 record ids in one mass convert call",
    ),
    "EXPECTED_FIELD_MISSING": (
        InvalidRequestError,
        "the convert_to array must be present and not empty",
    ),
    "INVALID_REQUEST_METHOD": (
        InvalidRequestError,
        "use the HTTP method the endpoint documents",
    ),
    "INVALID_MODULE": (
        InvalidRequestError,
        "specify a valid module API name (Quotes, Sales_Orders, Leads)",
    ),
    "OAUTH_SCOPE_MISMATCH": (
        AuthenticationError,
        "generate a token with the required scopes, e.g. ZohoCRM.mass_convert.Quotes.CREATE and "
        "ZohoCRM.mass_convert.Quotes.READ",
    ),
    "AUTHENTICATION_FAILURE": (
        AuthenticationError,
        "pass a valid access token in the Authorization header",
    ),
    "INVALID_TOKEN": (
        AuthenticationError,
        "the access token is expired or revoked; refresh it with the refresh token",
    ),
    "INVALID_URL_PATTERN": (
        InvalidRequestError,
        "the request URL is incorrect; check the API domain, version and path",
    ),
    "INTERNAL_ERROR": (
        ServerError,
        "unexpected error on Zoho's side; retry later or contact Zoho support",
    ),
    "INTERNAL_SERVER_ERROR": (
        ServerError,
        "unexpected error on Zoho's side; retry later or contact Zoho support",
    ),
    "REQUIRED_PARAM_MISSING": (
        InvalidRequestError,
        "the job_id parameter is missing; specify a valid job id",
    ),
    "ID_ALREADY_CONVERTED": (
        RecordStateError,
        "the record has already been converted; leave it out",
    ),
    "NOT_APPROVED": (
        RecordStateError,
        "the record is still in an approval process; convert it once it is approved",
    ),
    "NOT_REVIEWED": (
        RecordStateError,
        "the record is still in a review process; convert it once it is reviewed",
    ),
    "DUPLICATE_DATA": (
        RecordStateError,
        "a record with the same unique field value already exists in the target module",
    ),
    "AUTHORIZATION_FAILED": (
        PermissionDeniedError,
        "the user lacks the privilege to create records; ask your Zoho administrator",
    ),
    "RECORD_LOCKED": (
        RecordStateError,
        "the record is locked; wait until it is unlocked and try again",
    ),
    "TOO_MANY_REQUESTS": (
        RateLimitError,
        "too many requests in flight for your edition; back off and retry",
    ),
    "LIMIT_REACHED": (
        RateLimitError,
        "the API credit or mass-convert limit is reached; wait and retry later",
    ),
    # Codes Zoho's OpenAPI v8 specs add for these endpoints.
    "MAPPING_MISMATCH": (
        InvalidRequestError,
        "the Deals Stage does not belong to the given Pipeline; pass a Stage of that Pipeline",
    ),
    "NOT_ALLOWED": (
        InvalidRequestError,
        "the operation is not allowed on this record or module; see the details for the reason",
    ),
    "REQUIRED_DATA_NOT_FOUND": (
        InvalidRequestError,
        "a value the request depends on is missing; see the details for the field",
    ),
    "API_NOT_SUPPORTED": (
        InvalidRequestError,
        "this API version does not support the call; use the supported_version in the details",
    ),
}


def error_for(
    status: int,
    code: str,
    message: str,
    details: Mapping[str, Any] | None = None,
    *,
    request_id: str | None = None,
    maybe_processed: bool = False,
    retry_after: float | None = None,
) -> APIError:
    """Build the error that matches a Zoho error reply.

    The code decides the class when Zoho's table knows it; otherwise the HTTP status does.

    Args:
        status: the HTTP status code.
        code: Zoho's error code.
        message: Zoho's message.
        details: Zoho's details object.
        request_id: a request id from the reply headers.
        maybe_processed: whether the server may have acted on the request.
        retry_after: the Retry-After delay, for 429 replies.

    Returns:
        An instance of the matching APIError subclass.
    """
    cls = ERROR_CODES.get(code, _UNKNOWN)[0]
    if cls is APIError:
        cls = _class_for_status(status)
    if issubclass(cls, RateLimitError):
        return cls(
            status,
            code,
            message,
            details,
            request_id=request_id,
            maybe_processed=maybe_processed,
            retry_after=retry_after,
        )
    return cls(
        status, code, message, details, request_id=request_id, maybe_processed=maybe_processed
    )


def _class_for_status(status: int) -> type[APIError]:
    if status < 400:
        # An error body in a 2xx reply (Convert Lead answers some errors with 202): Zoho refused
        # the request, so it is a refusal like a 4xx one.
        return InvalidRequestError
    if status == 401:
        return AuthenticationError
    if status == 403:
        return PermissionDeniedError
    if status == 429:
        return RateLimitError
    if status >= 500:
        return ServerError
    if 400 <= status < 500:
        return InvalidRequestError
    return APIError
