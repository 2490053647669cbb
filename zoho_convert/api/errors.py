"""The error tree of zoho_convert, and the table that maps Zoho error codes onto it.

Local misuse (a bad module pair, a bad id, a bad policy value) is not in this tree: it raises
``ValueError``/``TypeError`` (``InvalidIdError`` is a ``ValueError``) before any request.

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
└── PollTimeoutError          a job outlived the poll deadline
```

No error text ever includes a credential: messages are built only from Zoho's reply and our
own words, never from request headers or bodies that could carry a token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from zoho_convert.api.hints import HINTS

if TYPE_CHECKING:
    from zoho_convert.api.models import JobStatus

__all__ = [
    "ERROR_CODES",
    "APIError",
    "AuthenticationError",
    "InvalidRequestError",
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
        partial_report: set by ``convert_many`` and ``resume`` on the error that stopped a run
            (and on the ``CancelledError`` of a cancelled run): the ``ConversionReport`` of
            what the run did before it stopped. None on an error raised before the run started
            (e.g. the target module's id lookup) and on errors of single calls. (Typed ``Any``:
            the endpoint layer that defines the errors knows nothing of runs.)
    """

    partial_report: Any = None

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
        timed_out_after: for a request that timed out, the seconds it went unanswered (the
            attempt's timeout): the server may still be working on it, and act on it later.
            None for any other failure.
    """

    def __init__(
        self, message: str, *, sent: bool, timed_out_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.sent = sent
        self.timed_out_after = timed_out_after

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
        self.hint = HINTS.get(code, "")
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
    """Zoho failed on its side (5xx INTERNAL_ERROR), or something in front of it answered
    instead: a 408, or, to a GET, a 4xx page without Zoho's error body (a proxy's, a
    balancer's). Retried where repeating is safe."""


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


# Zoho error code -> error class; with the documentation's resolution (``hints.py``), the
# table ``ERROR_CODES`` that callers can read.
_CLASSES: dict[str, type[APIError]] = {
    "MANDATORY_NOT_FOUND": InvalidRequestError,
    "INVALID_DATA": InvalidRequestError,
    "NO_PERMISSION": PermissionDeniedError,
    "AMBIGUITY_DURING_PROCESSING": InvalidRequestError,
    "LIMIT_EXCEEDED": InvalidRequestError,
    "EXPECTED_FIELD_MISSING": InvalidRequestError,
    "INVALID_REQUEST_METHOD": InvalidRequestError,
    "INVALID_MODULE": InvalidRequestError,
    "OAUTH_SCOPE_MISMATCH": AuthenticationError,
    "AUTHENTICATION_FAILURE": AuthenticationError,
    "INVALID_TOKEN": AuthenticationError,
    "INVALID_URL_PATTERN": InvalidRequestError,
    "INTERNAL_ERROR": ServerError,
    "INTERNAL_SERVER_ERROR": ServerError,
    "REQUIRED_PARAM_MISSING": InvalidRequestError,
    "ID_ALREADY_CONVERTED": RecordStateError,
    "NOT_APPROVED": RecordStateError,
    "NOT_REVIEWED": RecordStateError,
    "DUPLICATE_DATA": RecordStateError,
    "AUTHORIZATION_FAILED": PermissionDeniedError,
    "RECORD_LOCKED": RecordStateError,
    "TOO_MANY_REQUESTS": RateLimitError,
    "LIMIT_REACHED": RateLimitError,
    "MAPPING_MISMATCH": InvalidRequestError,
    "NOT_ALLOWED": InvalidRequestError,
    "REQUIRED_DATA_NOT_FOUND": InvalidRequestError,
    "API_NOT_SUPPORTED": InvalidRequestError,
}

ERROR_CODES: dict[str, tuple[type[APIError], str]] = {
    code: (cls, HINTS[code]) for code, cls in _CLASSES.items()
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
    cls = _CLASSES.get(code) or _class_for_status(status)
    # HTTP 429 says "too many requests" (RFC 6585) whatever code its body names (a gateway's,
    # or LIMIT_EXCEEDED, which under a 400 means more than 50 ids): Zoho did nothing, and a
    # throttle is retried, never taken for a refused request.
    throttled = status == 429 and not issubclass(cls, RateLimitError)
    if throttled:
        cls = RateLimitError
    if issubclass(cls, RateLimitError):
        error = cls(
            status,
            code,
            message,
            details,
            request_id=request_id,
            maybe_processed=maybe_processed,
            retry_after=retry_after,
        )
        if throttled:  # (the hint of a throttle, not of the code it named)
            error.hint = HINTS["TOO_MANY_REQUESTS"]
            error.args = (error._describe(),)
        return error
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
