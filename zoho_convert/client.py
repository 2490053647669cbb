"""``ZohoConvertClient``: one async method per conversion endpoint of Zoho CRM.

The client builds request bodies, validates input before anything is sent and parses replies
into models. Retries, authentication and the concurrency limit live in ``http.py``; batching
and polling of many jobs live in ``batch.py`` and ``polling.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

import aiohttp

from zoho_convert import batch
from zoho_convert.auth import RefreshTokenAuth, StaticToken
from zoho_convert.datacenters import DataCenter
from zoho_convert.errors import InvalidRequestError, JobNotFoundError, ResponseValidationError
from zoho_convert.http import HttpTransport
from zoho_convert.ids import normalize_id, normalize_ids
from zoho_convert.models import (
    ConvertedRecord,
    DealDetails,
    JobStatus,
    LeadConversion,
    LeadConversionResult,
    ModuleRef,
    check_inventory_conversion,
    check_related_module,
    deal_or_none,
)
from zoho_convert.polling import PollPolicy, poll_job
from zoho_convert.progress import ProgressCallback
from zoho_convert.report import ConversionReport
from zoho_convert.retry import RetryPolicy
from zoho_convert.settling import SettlePolicy
from zoho_convert.timing import Clock, Sleep
from zoho_convert.urls import check_secure_url, redact_url
from zoho_convert.wire import (
    deal_to_wire,
    lead_conversion_to_wire,
    module_ref_to_wire,
    parse_converted_record,
    parse_job_id,
    parse_job_status,
    parse_lead_result,
    parse_modules,
)

__all__ = ["MAX_IDS_PER_CALL", "ZohoConvertClient"]

#: Zoho converts at most 50 records per mass-convert call.
MAX_IDS_PER_CALL = 50

_LEAD_TARGETS = ("Contacts", "Accounts", "Deals")

Auth = StaticToken | RefreshTokenAuth

_DEFAULT_POLL = PollPolicy()


class ZohoConvertClient:
    """An async client for Zoho CRM's conversion APIs.

    Use it as an async context manager; share one client (and its session) between tasks::

        async with ZohoConvertClient(StaticToken(token)) as client:
            job_id = await client.mass_convert("Quotes", ids, to="Sales_Orders")

    Args:
        auth: a ``StaticToken`` or a ``RefreshTokenAuth``.
        data_center: the account's data center (decides the default API domain).
        api_domain: overrides the API domain, e.g. ``http://127.0.0.1:8000`` for the simulator.
            When None, the domain named by the token reply is used, then the data center's.
        api_version: the CRM API version, ``v8`` (default) or ``v7``.
        session: an ``aiohttp.ClientSession`` to use; the client never closes a session it
            did not create.
        retry: the request retry policy (default ``RetryPolicy()``).
        max_concurrency: requests in flight at most, across every task using this client
            (Zoho's limit is 10 on the Standard edition).
        lead_convert_concurrency: Convert Lead calls in flight at most, inside
            ``max_concurrency`` (Zoho's sub-limit: 3 on Professional, 4 on Enterprise, 5 on
            Ultimate).
        request_timeout: seconds one request attempt may take.
        sleep: the coroutine used to wait between retries and polls (inject one in tests).
        clock: a monotonic clock for deadlines (inject one in tests).
        allow_insecure_http: send credentials over plain http:// to a non-loopback host.

    Raises:
        ValueError: an argument is out of range, or a URL would expose credentials.
    """

    def __init__(
        self,
        auth: Auth,
        *,
        data_center: DataCenter = DataCenter.US,
        api_domain: str | None = None,
        api_version: str = "v8",
        session: aiohttp.ClientSession | None = None,
        retry: RetryPolicy | None = None,
        max_concurrency: int = 10,
        lead_convert_concurrency: int = 3,
        request_timeout: float = 30.0,
        sleep: Sleep | None = None,
        clock: Clock | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        if not isinstance(auth, (StaticToken, RefreshTokenAuth)):
            raise TypeError("auth must be a StaticToken or a RefreshTokenAuth")
        if (
            isinstance(max_concurrency, bool)
            or not isinstance(max_concurrency, int)
            or (max_concurrency < 1)
        ):
            raise ValueError(f"max_concurrency must be a positive int, got {max_concurrency!r}")
        if (
            isinstance(lead_convert_concurrency, bool)
            or not isinstance(lead_convert_concurrency, int)
            or lead_convert_concurrency < 1
        ):
            raise ValueError(
                f"lead_convert_concurrency must be a positive int, got {lead_convert_concurrency!r}"
            )
        if api_version not in ("v7", "v8"):
            raise ValueError(f"api_version must be 'v7' or 'v8', got {api_version!r}")
        if request_timeout <= 0:
            raise ValueError(f"request_timeout must be positive, got {request_timeout}")
        if api_domain is not None:
            check_secure_url(api_domain, allow_insecure=allow_insecure_http, what="api_domain")
        if isinstance(auth, RefreshTokenAuth):
            check_secure_url(
                auth.token_url, allow_insecure=allow_insecure_http, what="the accounts URL"
            )
        self._auth = auth
        self._data_center = data_center
        self._api_domain = api_domain
        self._api_version = api_version
        self._retry = retry or RetryPolicy()
        self._max_concurrency = max_concurrency
        self._lead_convert_concurrency = lead_convert_concurrency
        self._request_timeout = request_timeout
        self._allow_insecure_http = allow_insecure_http
        self.sleep: Sleep = sleep or asyncio.sleep
        self.clock: Clock = clock or time.monotonic
        self._session = session
        self._owns_session = session is None
        self._transport: HttpTransport | None = None
        self._module_ids: dict[str, str] = {}
        self._module_lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return (
            f"ZohoConvertClient(auth={self._auth!r}, "
            f"api_domain={None if self._api_domain is None else redact_url(self._api_domain)!r}, "
            f"data_center={self._data_center.name}, max_concurrency={self._max_concurrency})"
        )

    async def __aenter__(self) -> ZohoConvertClient:
        self._http()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None
            self._transport = None

    @property
    def max_concurrency(self) -> int:
        """Requests this client keeps in flight at most."""
        return self._max_concurrency

    @property
    def request_count(self) -> int:
        """HTTP requests (attempts, retries included) sent so far to the CRM API."""
        return self._transport.requests_sent if self._transport else 0

    @property
    def retry(self) -> RetryPolicy:
        """The request retry policy."""
        return self._retry

    def _http(self) -> HttpTransport:
        if self._transport is None:
            if self._session is None:
                self._session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=self._max_concurrency + 2)
                )
            self._transport = HttpTransport(
                self._session,
                self._auth,
                api_domain=self._api_domain,
                default_domain=self._data_center.api_domain(),
                api_version=self._api_version,
                retry=self._retry,
                max_concurrency=self._max_concurrency,
                lead_convert_concurrency=self._lead_convert_concurrency,
                request_timeout=self._request_timeout,
                sleep=self.sleep,
                clock=self.clock,
                allow_insecure_http=self._allow_insecure_http,
            )
        return self._transport

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        lead_convert: bool = False,
    ) -> Any:
        return await self._http().request(
            method, path, params=params, body=body, lead_convert=lead_convert
        )

    async def module_id(self, api_name: str) -> str:
        """The id of a module (needed in ``convert_to``), from the Modules API; cached.

        Raises:
            ValueError: the module does not exist in this org.
            APIError: Zoho refused the request.
        """
        if api_name in self._module_ids:
            return self._module_ids[api_name]
        if self._module_lock is None:
            self._module_lock = asyncio.Lock()
        async with self._module_lock:  # one lookup for many concurrent callers
            if api_name not in self._module_ids:
                reply = await self._request("GET", f"settings/modules/{api_name}")
                # 204 No Content is how the OpenAPI v8 spec answers an unknown module.
                for ref in parse_modules(reply) if reply is not None else ():
                    self._module_ids.setdefault(ref.api_name, ref.id)
                if api_name not in self._module_ids:
                    raise ValueError(f"module {api_name!r} does not exist in this Zoho org")
            return self._module_ids[api_name]

    async def _target(self, to: str | ModuleRef) -> ModuleRef:
        if isinstance(to, ModuleRef):
            # A caller-made ModuleRef skips the lookup, so its id is checked like any other.
            return ModuleRef(to.api_name, normalize_id(to.id, what="target module id"))
        return ModuleRef(api_name=to, id=await self.module_id(to))

    async def mass_convert(
        self,
        module: str,
        ids: Iterable[str | int],
        *,
        to: str | ModuleRef,
        carry_over_tags: bool = False,
        assign_to: str | int | None = None,
        related_modules: Sequence[ModuleRef] = (),
    ) -> str:
        """Schedule one mass-convert job of at most 50 inventory records.

        Args:
            module: the source module, ``Quotes`` or ``Sales_Orders``.
            ids: 1 to 50 record ids.
            to: the target module, by API name or as a ``ModuleRef``.
            carry_over_tags: carry the records' tags over to the new records.
            assign_to: the user id to own the new records (default: the source's owner).
            related_modules: related lists (Calls, Tasks, ...) to convert along.

        Returns:
            The job id, to poll with ``mass_convert_status`` or ``wait_for_job``.

        Raises:
            ValueError: a bad module pair, no ids, more than 50, or an invalid id.
            TypeError: ids or options of the wrong type.
            APIError: Zoho refused the call; ``maybe_processed`` says if it may have run.
            TransportError: the call failed in transit; ``sent`` says if it may have run.
        """
        if not isinstance(carry_over_tags, bool):
            raise TypeError(f"carry_over_tags must be True or False, not {carry_over_tags!r}")
        target_name = to.api_name if isinstance(to, ModuleRef) else to
        check_inventory_conversion(module, target_name)
        body = self._mass_body(ids, assign_to, related_modules)
        target = await self._target(to)
        body["convert_to"] = [
            {
                "module": {"id": target.id, "api_name": target.api_name},
                "carry_over_tags": carry_over_tags,
            }
        ]
        return await self._schedule(f"{module}/actions/mass_convert", body)

    async def mass_convert_status(self, module: str, job_id: str | int) -> JobStatus:
        """The status of a mass-convert job of ``Quotes`` or ``Sales_Orders`` (one request).

        Args:
            module: the job's source module, ``Quotes`` or ``Sales_Orders``.
            job_id: the id ``mass_convert`` returned.

        Returns:
            The job's state and counts.

        Raises:
            ValueError: an unknown module or an invalid job id, before any request.
            InvalidRequestError: Zoho does not know the job (INVALID_DATA).
            ResponseValidationError: the reply is malformed (the message names the field).
        """
        if module not in ("Quotes", "Sales_Orders"):
            raise ValueError(
                f"{module!r} has no mass inventory convert; use Quotes or Sales_Orders"
            )
        return await self._status(f"{module}/actions/mass_convert", job_id)

    async def mass_convert_leads(
        self,
        ids: Iterable[str | int],
        *,
        deals: DealDetails | Mapping[str, Any] | None = None,
        assign_to: str | int | None = None,
        carry_over_tags: Sequence[str] = (),
        related_modules: Sequence[ModuleRef] = (),
        move_attachments_to: str | None = None,
    ) -> str:
        """Schedule one mass conversion of at most 50 leads (Zoho's Leads mass-convert API).

        Args:
            ids: 1 to 50 lead ids.
            deals: a deal to create for each converted lead (a ``DealDetails``, or Zoho's
                ``Deals`` JSON object).
            assign_to: the user id to own the new records.
            carry_over_tags: the modules (Contacts, Accounts, Deals) that get the lead's tags.
            related_modules: related lists to carry over.
            move_attachments_to: the module (Contacts, Accounts, Deals) that gets attachments.

        Returns:
            The job id, to poll with ``mass_convert_leads_status``.

        Raises:
            ValueError: no ids, more than 50, an invalid id, or an unknown module name.
            TypeError: ``deals`` is neither a ``DealDetails`` nor a JSON object.
        """
        for name in carry_over_tags:
            if name not in _LEAD_TARGETS:
                raise ValueError(f"carry_over_tags: {name!r} is not one of {_LEAD_TARGETS}")
        if move_attachments_to is not None and move_attachments_to not in _LEAD_TARGETS:
            raise ValueError(f"move_attachments_to must be one of {_LEAD_TARGETS}")
        deal = deal_or_none(deals)
        body = self._mass_body(ids, assign_to, related_modules)
        known = self._module_ids
        if carry_over_tags:
            # Objects, not names: the OpenAPI v8 spec types carry_over_tags as [{api_name, id}]
            # and the official SDK sends [{"api_name": "Contacts"}].
            body["carry_over_tags"] = [module_ref_to_wire(name, known) for name in carry_over_tags]
        if deal is not None:
            body["Deals"] = deal_to_wire(deal)
        if move_attachments_to is not None:
            body["move_attachments_to"] = module_ref_to_wire(move_attachments_to, known)
        return await self._schedule("Leads/actions/mass_convert", body)

    async def mass_convert_leads_status(self, job_id: str | int) -> JobStatus:
        """The status of a Leads mass-convert job (one request).

        Args:
            job_id: the id ``mass_convert_leads`` returned.

        Returns:
            The job's state and counts.

        Raises:
            ValueError: an invalid job id, before any request.
            InvalidRequestError: Zoho does not know the job (INVALID_DATA).
        """
        return await self._status("Leads/actions/mass_convert", job_id)

    async def convert(
        self, module: str, record_id: str | int, *, to: str | ModuleRef
    ) -> ConvertedRecord:
        """Convert one inventory record now (Quotes -> Sales_Orders/Invoices, Sales_Orders ->
        Invoices).

        Args:
            module: the source module, ``Quotes`` or ``Sales_Orders``.
            record_id: the record to convert.
            to: the target module, by API name or as a ``ModuleRef``.

        Returns:
            The record created in the target module.

        Raises:
            ValueError: a bad module pair or record id, before any request.
            RecordStateError: the record is already converted, locked, not approved, ...
            ResponseValidationError: the success reply could not be read; its
                ``maybe_processed`` is True (the record may be converted).
        """
        target_name = to.api_name if isinstance(to, ModuleRef) else to
        check_inventory_conversion(module, target_name)
        record = normalize_id(record_id)
        target = await self._target(to)
        body = {
            "data": [{"convert_to": [{"module": {"id": target.id, "api_name": target.api_name}}]}]
        }
        reply = await self._request("POST", f"{module}/{record}/actions/convert", body=body)
        with _processed_if_unreadable():
            return parse_converted_record(reply, target.api_name)

    async def convert_lead(
        self, lead_id: str | int, options: LeadConversion | None = None
    ) -> LeadConversionResult:
        """Convert one lead into a contact, an account and optionally a deal.

        Args:
            lead_id: the lead to convert.
            options: the Convert Lead options (existing account/contact, deal, owner, tags...).

        Returns:
            The records created or linked.

        Raises:
            ValueError: an invalid lead id or option, before any request.
            RecordStateError: the lead is already converted, locked, not approved, ...
            ResponseValidationError: the success reply could not be read; its
                ``maybe_processed`` is True (the lead may be converted).
        """
        lead = normalize_id(lead_id, what="lead id")
        if options is not None:
            _check_lead_options(options)
        reply = await self._request(
            "POST",
            f"Leads/{lead}/actions/convert",
            body=lead_conversion_to_wire(options, self._module_ids),
            lead_convert=True,
        )
        with _processed_if_unreadable():
            return parse_lead_result(reply)

    def _mass_body(
        self,
        ids: Iterable[str | int],
        assign_to: str | int | None,
        related_modules: Sequence[ModuleRef],
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"ids": normalize_ids(ids, limit=MAX_IDS_PER_CALL)}
        if assign_to is not None:
            body["assign_to"] = {"id": normalize_id(assign_to, what="assign_to user id")}
        if related_modules:
            body["related_modules"] = [_related(ref) for ref in related_modules]
        return body

    async def _schedule(self, path: str, body: dict[str, Any]) -> str:
        reply = await self._request("POST", path, body=body)
        with _processed_if_unreadable():
            return parse_job_id(reply)

    async def _status(self, path: str, job_id: str | int) -> JobStatus:
        job = normalize_id(job_id, what="job id")
        try:
            reply = await self._request("GET", path, params={"job_id": job})
        except InvalidRequestError as error:
            if error.code == "INVALID_DATA":  # "The job_id is invalid": the id was well formed
                raise JobNotFoundError(
                    job,
                    error.status,
                    error.code,
                    error.message,
                    error.details,
                    request_id=error.request_id,
                ) from None
            raise
        if reply is None:
            # 204 No Content, as the official SDK's samples show for an unknown or expired job.
            raise JobNotFoundError(job, 204, "NO_CONTENT", "Zoho has no status for this job")
        return parse_job_status(reply)

    # -- many records: thin wrappers over batch.py and polling.py ------------------------------

    async def convert_many(
        self,
        module: str,
        ids: Iterable[str | int] | AsyncIterable[str | int],
        *,
        to: str | ModuleRef | None,
        carry_over_tags: bool | Sequence[str] = False,
        assign_to: str | int | None = None,
        related_modules: Sequence[ModuleRef] = (),
        batch_size: int = MAX_IDS_PER_CALL,
        concurrency: int | None = None,
        poll: PollPolicy = _DEFAULT_POLL,
        progress: ProgressCallback | None = None,
        journal: str | None = None,
        deals: DealDetails | None = None,
        move_attachments_to: str | None = None,
        max_pending_jobs: int | None = None,
        settle: SettlePolicy | None = None,
    ) -> ConversionReport:
        """Convert any number of records in batches of at most 50 and account for every id.

        Delegates to ``zoho_convert.batch.convert_many`` with this client, which documents
        every argument.

        Returns:
            The run's ``ConversionReport``.
        """
        return await batch.convert_many(
            self,
            module,
            ids,
            to=to,
            carry_over_tags=carry_over_tags,
            assign_to=assign_to,
            related_modules=related_modules,
            batch_size=batch_size,
            concurrency=concurrency,
            poll=poll,
            progress=progress,
            journal=journal,
            deals=deals,
            move_attachments_to=move_attachments_to,
            max_pending_jobs=max_pending_jobs,
            settle=settle,
        )

    async def wait_for_job(
        self, module: str, job_id: str | int, *, poll: PollPolicy | None = None
    ) -> JobStatus:
        """Poll one mass-convert job (``Quotes``, ``Sales_Orders`` or ``Leads``) until it ends.

        Args:
            module: the job's source module.
            job_id: the job's id.
            poll: the schedule and deadline (default ``PollPolicy()``).

        Returns:
            The final status (COMPLETED or FAILED).

        Raises:
            ValueError: ``module`` has no mass-convert jobs, or the job id is invalid.
            PollTimeoutError: the job was still running at ``poll.timeout``.
        """
        job = normalize_id(job_id, what="job id")
        if module == "Leads":
            return await poll_job(
                lambda: self.mass_convert_leads_status(job),
                job,
                poll or _DEFAULT_POLL,
                sleep=self.sleep,
                clock=self.clock,
            )
        if module not in ("Quotes", "Sales_Orders"):
            raise ValueError(f"{module!r} has no mass-convert jobs: Quotes, Sales_Orders, Leads")
        return await poll_job(
            lambda: self.mass_convert_status(module, job),
            job,
            poll or _DEFAULT_POLL,
            sleep=self.sleep,
            clock=self.clock,
        )

    async def resume(
        self,
        journal: str,
        *,
        ids: Iterable[str | int] | AsyncIterable[str | int] | None = None,
        concurrency: int | None = None,
        poll: PollPolicy = _DEFAULT_POLL,
        progress: ProgressCallback | None = None,
        max_pending_jobs: int | None = None,
        settle: SettlePolicy | None = None,
    ) -> ConversionReport:
        """Continue an interrupted ``convert_many`` run from its journal.

        Delegates to ``zoho_convert.batch.resume`` with this client, which documents every
        argument.

        Returns:
            The report of the whole run.
        """
        return await batch.resume(
            self,
            journal,
            ids=ids,
            concurrency=concurrency,
            poll=poll,
            progress=progress,
            max_pending_jobs=max_pending_jobs,
            settle=settle,
        )


@contextlib.contextmanager
def _processed_if_unreadable() -> Iterator[None]:
    """Mark a reply we cannot read as possibly processed: Zoho answered a POST with success,
    so it may have converted the records even though we cannot tell what it did."""
    try:
        yield
    except ResponseValidationError as error:
        raise ResponseValidationError(
            error.message, field=error.field, maybe_processed=True
        ) from None


def _related(ref: ModuleRef) -> dict[str, str]:
    check_related_module(ref)
    return {"api_name": ref.api_name, "id": ref.id}


def _check_lead_options(options: LeadConversion) -> None:
    if not isinstance(options, LeadConversion):
        raise TypeError(f"options must be a LeadConversion, not {type(options).__name__}")
    for name in ("accounts", "contacts", "assign_to"):
        value = getattr(options, name)
        if value is not None:
            normalize_id(value, what=f"{name} id")
    if options.move_attachments_to not in (None, *_LEAD_TARGETS):
        raise ValueError(f"move_attachments_to must be one of {_LEAD_TARGETS}")
