"""zoho_convert: convert Zoho CRM records in bulk from asyncio code.

Quotes into Sales Orders or Invoices, Sales Orders into Invoices, Leads into Contacts, Accounts
and Deals: batched, retried, polled, and accounted for id by id.
"""

from zoho_convert.auth import RefreshTokenAuth, StaticToken
from zoho_convert.client import ZohoConvertClient
from zoho_convert.datacenters import DataCenter, Environment
from zoho_convert.errors import (
    APIError,
    AuthenticationError,
    InvalidRequestError,
    JobFailedError,
    JobNotFoundError,
    PermissionDeniedError,
    PollTimeoutError,
    RateLimitError,
    RecordStateError,
    ResponseValidationError,
    ServerError,
    TransportError,
    ZohoConvertError,
)
from zoho_convert.ids import InvalidIdError
from zoho_convert.journal_file import JournalInUseError
from zoho_convert.models import (
    CarryOverTags,
    ConvertedRecord,
    DealDetails,
    JobState,
    JobStatus,
    LeadConversion,
    LeadConversionResult,
    ModuleRef,
)
from zoho_convert.polling import JobPoller, PollPolicy
from zoho_convert.report import ConversionReport, JobOutcome, LostJob, RejectedId
from zoho_convert.retry import RetryPolicy
from zoho_convert.settling import SettlePolicy

__version__ = "0.1.0"

__all__ = [
    "APIError",
    "AuthenticationError",
    "CarryOverTags",
    "ConversionReport",
    "ConvertedRecord",
    "DataCenter",
    "DealDetails",
    "Environment",
    "InvalidIdError",
    "InvalidRequestError",
    "JobFailedError",
    "JobNotFoundError",
    "JobOutcome",
    "JobPoller",
    "JobState",
    "JobStatus",
    "JournalInUseError",
    "LeadConversion",
    "LeadConversionResult",
    "LostJob",
    "ModuleRef",
    "PermissionDeniedError",
    "PollPolicy",
    "PollTimeoutError",
    "RateLimitError",
    "RecordStateError",
    "RefreshTokenAuth",
    "RejectedId",
    "ResponseValidationError",
    "RetryPolicy",
    "ServerError",
    "SettlePolicy",
    "StaticToken",
    "TransportError",
    "ZohoConvertClient",
    "ZohoConvertError",
    "__version__",
]
