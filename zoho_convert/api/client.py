"""``EndpointClient``: one async method per conversion endpoint of Zoho CRM.

It checks the caller's input before anything is sent (``requests.py`` builds the bodies),
sends one request per call (``Connection``: session, transport, auth, request slots) and reads
the reply into models. It knows nothing of runs: ``zoho_convert.ZohoConvertClient`` adds
``convert_many`` and ``resume`` on top of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from zoho_convert.api.connection import Auth, Connection
from zoho_convert.api.errors import (
    InvalidRequestError,
    JobNotFoundError,
    ResponseValidationError,
)
from zoho_convert.api.ids import normalize_id, normalize_job_id
from zoho_convert.api.lead_wire import lead_conversion_to_wire
from zoho_convert.api.models import (
    ConvertedRecord,
    DealDetails,
    JobStatus,
    LeadConversion,
    LeadConversionResult,
    ModuleRef,
    check_inventory_conversion,
)
from zoho_convert.api.polling import PollPolicy, poll_job
from zoho_convert.api.requests import (
    as_processed,
    check_lead_options,
    convert_to,
    inventory_mass_body,
    leads_mass_body,
    processed_if_unreadable,
)
from zoho_convert.api.wire import (
    parse_converted_record,
    parse_job_id,
    parse_job_status,
    parse_lead_result,
    parse_modules,
)

__all__ = ["MASS_CONVERT_SOURCES", "Auth", "EndpointClient"]

#: Modules with a mass-convert API (and jobs to poll): inventory sources, and Leads.
MASS_CONVERT_SOURCES = ("Quotes", "Sales_Orders", "Leads")


class EndpointClient(Connection):
    """An async client for Zoho CRM's conversion endpoints: one request per call.

    Use it as an async context manager; share one client (and its session) between tasks.
    Its arguments are ``Connection``'s: auth, data center, API domain, session, retry policy,
    concurrency limits, and a sleep and clock for tests.
    """

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
            related_modules: related lists (Calls, Tasks, Events) to convert along.

        Returns:
            The job id, to poll with ``mass_convert_status`` or ``wait_for_job``.

        Raises:
            ValueError: a bad module pair, no ids, more than 50, or an invalid id.
            TypeError: ids or options of the wrong type.
            APIError: Zoho refused the call; ``maybe_processed`` says if it may have run.
            TransportError: the call failed in transit; ``sent`` says if it may have run.
        """
        check_inventory_conversion(module, to.api_name if isinstance(to, ModuleRef) else to)
        body = inventory_mass_body(
            ids,
            carry_over_tags=carry_over_tags,
            assign_to=assign_to,
            related_modules=related_modules,
        )
        body["convert_to"] = convert_to(await self._target(to), carry_over_tags)
        return await self._schedule(f"{module}/actions/mass_convert", body)

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
        body = leads_mass_body(
            ids,
            deals=deals,
            assign_to=assign_to,
            carry_over_tags=carry_over_tags,
            related_modules=related_modules,
            move_attachments_to=move_attachments_to,
            module_ids=self._module_ids,
        )
        return await self._schedule("Leads/actions/mass_convert", body)

    async def job_status(self, module: str, job_id: str | int) -> JobStatus:
        """The status of a mass-convert job of ``Quotes``, ``Sales_Orders`` or ``Leads``.

        Raises:
            ValueError: ``module`` has no mass-convert jobs, or the job id is invalid.
            JobNotFoundError: Zoho no longer knows the job (HTTP 204, "The job_id is invalid",
                a reply of no row: ``{"data": []}``).
            ResponseValidationError: the reply is malformed (the message names the field).
        """
        if module not in MASS_CONVERT_SOURCES:
            raise ValueError(
                f"{module!r} has no mass-convert jobs; use one of {', '.join(MASS_CONVERT_SOURCES)}"
            )
        job = normalize_job_id(job_id)
        try:
            reply = await self._request(
                "GET", f"{module}/actions/mass_convert", params={"job_id": job}
            )
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
        if reply == {"data": []}:
            # No row at all: JSON, so a server's own answer (a proxy's lost reply is no such
            # JSON), and a status that names no job. Read as unusable, a job forgotten so was
            # polled to the poll timeout, its ids left unfinished (hunt round 11).
            raise JobNotFoundError(job, 200, "NO_CONTENT", "Zoho has no status row for this job")
        return parse_job_status(reply, job)

    async def mass_convert_status(self, module: str, job_id: str | int) -> JobStatus:
        """The status of a mass-convert job of ``Quotes`` or ``Sales_Orders`` (one request).

        Raises:
            ValueError: an unknown module or an invalid job id, before any request.
            JobNotFoundError: Zoho no longer knows the job.
            ResponseValidationError: the reply is malformed (the message names the field).
        """
        if module not in ("Quotes", "Sales_Orders"):
            raise ValueError(
                f"{module!r} has no mass inventory convert; use Quotes or Sales_Orders"
            )
        return await self.job_status(module, job_id)

    async def mass_convert_leads_status(self, job_id: str | int) -> JobStatus:
        """The status of a Leads mass-convert job (one request).

        Raises:
            ValueError: an invalid job id, before any request.
            JobNotFoundError: Zoho no longer knows the job.
        """
        return await self.job_status("Leads", job_id)

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
            JobNotFoundError: Zoho no longer knows the job.
            PollTimeoutError: the job was still running at ``poll.timeout``.
            EndedStateError: (a ``ResponseValidationError``) the job's state says it ended,
                of an outcome its status cannot tell (CANCELLED, ABORTED): it will not change
                again, so the wait stops there.
        """
        if module not in MASS_CONVERT_SOURCES:
            raise ValueError(f"{module!r} has no mass-convert jobs: Quotes, Sales_Orders, Leads")
        job = normalize_job_id(job_id)
        return await poll_job(
            lambda: self.job_status(module, job),
            job,
            poll or PollPolicy(),
            sleep=self._timing.sleep,
            clock=self._timing.clock,
        )

    async def convert(
        self,
        module: str,
        record_id: str | int,
        *,
        to: str | ModuleRef,
        carry_over_tags: bool | None = None,
    ) -> ConvertedRecord:
        """Convert one inventory record now (Quotes -> Sales_Orders/Invoices, Sales_Orders ->
        Invoices).

        Args:
            module: the source module, ``Quotes`` or ``Sales_Orders``.
            record_id: the record to convert.
            to: the target module, by API name or as a ``ModuleRef``.
            carry_over_tags: carry the record's tags over (Zoho's v8 OpenAPI spec takes it;
                the v7 page says tags are always carried); None leaves it out.

        Returns:
            The record created in the target module.

        Raises:
            ValueError: a bad module pair or record id, before any request.
            RecordStateError: the record is already converted, locked, not approved, ...
            ResponseValidationError: the success reply could not be read; its
                ``maybe_processed`` is True (the record may be converted).
        """
        check_inventory_conversion(module, to.api_name if isinstance(to, ModuleRef) else to)
        record = normalize_id(record_id)
        if carry_over_tags is not None and not isinstance(carry_over_tags, bool):
            raise TypeError(f"carry_over_tags must be True, False or None, not {carry_over_tags!r}")
        target = await self._target(to)
        body = {"data": [{"convert_to": convert_to(target, carry_over_tags)}]}
        reply = await self._request("POST", f"{module}/{record}/actions/convert", body=body)
        with processed_if_unreadable():
            return parse_converted_record(reply, target.api_name)

    async def convert_lead(
        self, lead_id: str | int, options: LeadConversion | None = None
    ) -> LeadConversionResult:
        """Convert one lead into a contact, an account and optionally a deal.

        Holds one of the client's Convert Lead slots (Zoho's sub-limit) while it runs.

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
            check_lead_options(options)
        reply = await self._request(
            "POST",
            f"Leads/{lead}/actions/convert",
            body=lead_conversion_to_wire(options, self._module_ids),
            kind="lead_convert",
        )
        with processed_if_unreadable():
            return parse_lead_result(reply)

    async def _schedule(self, path: str, body: dict[str, Any]) -> str:
        reply = await self._request("POST", path, body=body)
        try:  # processed_if_unreadable, spelt out: this runs once per batch of a bulk run
            return parse_job_id(reply)
        except ResponseValidationError as error:
            raise as_processed(error) from None
