"""zoho_convert: convert Zoho CRM records in bulk from asyncio code.

Quotes into Sales Orders or Invoices, Sales Orders into Invoices, Leads into Contacts, Accounts
and Deals: batched, retried, polled, and accounted for id by id.

This module is the public surface: everything a program (and the CLI) uses is exported here.
The layout behind it: ``zoho_convert.api`` (the endpoint surface: one request, one reply),
``zoho_convert.bulk`` (``convert_many`` and ``resume``: many batches, one report),
``zoho_convert.fleet`` (limits, token and ledger shared by processes), ``zoho_convert.cli``
and ``zoho_convert.simulator`` (imported on demand, not from here).
"""

from zoho_convert.api.auth import RefreshTokenAuth, StaticToken
from zoho_convert.api.client import MASS_CONVERT_SOURCES, EndpointClient
from zoho_convert.api.datacenters import DataCenter, Environment
from zoho_convert.api.errors import (
    APIError,
    AuthenticationError,
    InvalidRequestError,
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
from zoho_convert.api.ids import (
    MAX_IDS_PER_CALL,
    InvalidIdError,
    normalize_id,
    normalize_job_id,
)
from zoho_convert.api.lead_wire import lead_conversion_from_wire
from zoho_convert.api.models import (
    INVENTORY_CONVERSIONS,
    CarryOverTags,
    ConvertedRecord,
    DealDetails,
    JobState,
    JobStatus,
    LeadConversion,
    LeadConversionResult,
    ModuleRef,
    check_inventory_conversion,
)
from zoho_convert.api.polling import PollPolicy
from zoho_convert.api.retry import RetryPolicy
from zoho_convert.api.tokens import MemoryTokenStore, StoredToken, TokenStore
from zoho_convert.api.wire import EndedStateError
from zoho_convert.bulk.events import (
    BatchGaveUp,
    BatchRead,
    BatchSplit,
    BatchSubmitted,
    BatchUncertain,
    Event,
    IdsAlreadyConverted,
    IdsConverted,
    IdsRefused,
    IdsRejected,
    InputEnded,
    JobFinished,
    JobLost,
    JobsInParallel,
    JobUnfinished,
    LongestJob,
    ProgressCallback,
    RequestsCounted,
    RunStopped,
    SubmitStarted,
)
from zoho_convert.bulk.journal_file import JournalInUseError, journal_input_complete
from zoho_convert.bulk.report import ConversionReport, JobOutcome, LostJob, RejectedId
from zoho_convert.bulk.settling import SettlePolicy
from zoho_convert.bulk.tally import Tally
from zoho_convert.client import ZohoConvertClient
from zoho_convert.settings import EnvSettings, client_kwargs_from_env, settings_from_env

__version__ = "0.1.0"

__all__ = [
    "INVENTORY_CONVERSIONS",
    "MASS_CONVERT_SOURCES",
    "MAX_IDS_PER_CALL",
    "APIError",
    "AuthenticationError",
    "BatchGaveUp",
    "BatchRead",
    "BatchSplit",
    "BatchSubmitted",
    "BatchUncertain",
    "CarryOverTags",
    "ConversionReport",
    "ConvertedRecord",
    "DataCenter",
    "DealDetails",
    "EndedStateError",
    "EndpointClient",
    "EnvSettings",
    "Environment",
    "Event",
    "IdsAlreadyConverted",
    "IdsConverted",
    "IdsRefused",
    "IdsRejected",
    "InputEnded",
    "InvalidIdError",
    "InvalidRequestError",
    "JobFinished",
    "JobLost",
    "JobNotFoundError",
    "JobOutcome",
    "JobState",
    "JobStatus",
    "JobUnfinished",
    "JobsInParallel",
    "JournalInUseError",
    "LeadConversion",
    "LeadConversionResult",
    "LongestJob",
    "LostJob",
    "MemoryTokenStore",
    "ModuleRef",
    "PermissionDeniedError",
    "PollPolicy",
    "PollTimeoutError",
    "ProgressCallback",
    "RateLimitError",
    "RecordStateError",
    "RefreshTokenAuth",
    "RejectedId",
    "RequestsCounted",
    "ResponseValidationError",
    "RetryPolicy",
    "RunStopped",
    "ServerError",
    "SettlePolicy",
    "StaticToken",
    "StoredToken",
    "SubmitStarted",
    "Tally",
    "TokenStore",
    "TransportError",
    "ZohoConvertClient",
    "ZohoConvertError",
    "__version__",
    "check_inventory_conversion",
    "client_kwargs_from_env",
    "journal_input_complete",
    "lead_conversion_from_wire",
    "normalize_id",
    "normalize_job_id",
    "settings_from_env",
]
