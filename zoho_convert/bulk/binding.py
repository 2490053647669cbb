"""The one narrow protocol through which the bulk layer reaches the endpoints, bound once.

``bind`` is the one place that decides between the inventory and the Leads mass-convert APIs:
it returns ``Endpoints``, one value that knows its submit and status calls and its limits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs

from zoho_convert.api.credits import CreditsBook
from zoho_convert.api.models import DealDetails, JobStatus, LeadConversion, ModuleRef
from zoho_convert.api.timing import Timing
from zoho_convert.bulk.ledger import ConversionLedger, NullLedger
from zoho_convert.bulk.spec import RunParams

__all__ = [
    "LEAD_TAG_MODULES",
    "Endpoints",
    "LeadConvertAPI",
    "MassConvertAPI",
    "RecordConvertAPI",
    "bind",
]

#: Where a Leads run with ``carry_over_tags=True`` carries the leads' tags (and to Deals when
#: it creates deals).
LEAD_TAG_MODULES = ("Contacts", "Accounts")


class MassConvertAPI(Protocol):
    """What a run needs of a client (``ZohoConvertClient`` has it; tests use fakes)."""

    @property
    def timing(self) -> Timing:
        """How the client waits and tells time: a run waits the same way."""

    @property
    def max_concurrency(self) -> int:
        """Requests the client keeps in flight at most."""

    @property
    def request_count(self) -> int:
        """HTTP requests sent so far."""

    @property
    def credits(self) -> CreditsBook:
        """The API credits Zoho last said remain."""

    @property
    def ledger(self) -> ConversionLedger:
        """The ids known converted (a ``NullLedger`` remembers nothing)."""

    async def module_id(self, api_name: str) -> str:
        """The id of a module."""

    async def mass_convert(
        self,
        module: str,
        ids: Iterable[str | int],
        *,
        to: str | ModuleRef,
        carry_over_tags: bool = ...,
        assign_to: str | int | None = ...,
        related_modules: Sequence[ModuleRef] = ...,
    ) -> str:
        """Schedule a mass inventory conversion; returns the job id."""

    async def mass_convert_leads(
        self,
        ids: Iterable[str | int],
        *,
        deals: DealDetails | None = ...,
        assign_to: str | int | None = ...,
        carry_over_tags: Sequence[str] = ...,
        related_modules: Sequence[ModuleRef] = ...,
        move_attachments_to: str | None = ...,
    ) -> str:
        """Schedule a mass lead conversion; returns the job id."""

    async def job_status(self, module: str, job_id: str | int) -> JobStatus:
        """The status of a mass-convert job."""


@runtime_checkable
class RecordConvertAPI(Protocol):
    """The single Convert Inventory Record call, with which a run may settle a batch record
    by record (``ZohoConvertClient`` has it; a client without it settles by mass conversion)."""

    async def convert(
        self, module: str, record_id: str | int, *, to: str | ModuleRef, carry_over_tags: bool
    ) -> object:
        """Convert one inventory record now."""


@runtime_checkable
class LeadConvertAPI(Protocol):
    """The single Convert Lead call, with which a Leads run checks the records a settling
    job did not convert (``ZohoConvertClient`` has it)."""

    async def convert_lead(
        self, lead_id: str | int, options: LeadConversion | None = None
    ) -> object:
        """Convert one lead now."""


@attrs.frozen
class Endpoints:
    """A run's calls, bound to its parameters once (not per batch).

    Attributes:
        ledger: the ids known converted, or None when the client's ledger remembers nothing
            (then a run does no ledger work at all).
        request_timeout: seconds one request attempt may take (0 when the client does not
            say): how long after a run stopped a POST it had in flight may still be acted on.
        convert_record: one record's single convert with the run's options, or None.
        record_checks_only: ``convert_record`` only checks the records a settling job did
            not convert, never settles a batch in a mass resubmission's place (Convert Lead:
            5 API credits a call, and Zoho lets only 3 to 5 run at once).
        claims_held: ``ledger`` makes this run's claims under its own name
            (``RunParams.claims_holder``): those an earlier session of it left are its own.
    """

    submit: Callable[[Sequence[str]], Awaitable[str]]
    status: Callable[[str], Awaitable[JobStatus]]
    max_concurrency: int
    timing: Timing
    request_count: Callable[[], int]
    credits: CreditsBook
    ledger: ConversionLedger | None
    convert_record: Callable[[str], Awaitable[object]] | None = None
    request_timeout: float = 0.0
    record_checks_only: bool = False
    claims_held: bool = False


def bind(api: MassConvertAPI, params: RunParams, *, record_by_record: bool = False) -> Endpoints:
    """The submit and status calls of a run of ``params`` on ``api``; with
    ``record_by_record``, also the single convert of one record, when ``api`` has it and the
    run's options are ones it can carry (see ``SettlePolicy.record_by_record``)."""
    module = params.module
    submit: Callable[[Sequence[str]], Awaitable[str]]
    if module == "Leads":
        tags = params.carry_over_tags
        lead_tags: tuple[str, ...] = (
            tags
            if isinstance(tags, tuple)
            else ((*LEAD_TAG_MODULES, *(("Deals",) if params.deals else ())) if tags else ())
        )

        def submit(ids: Sequence[str]) -> Awaitable[str]:
            return api.mass_convert_leads(
                ids,
                deals=params.deals,
                assign_to=params.assign_to,
                carry_over_tags=lead_tags,
                related_modules=params.related_modules,
                move_attachments_to=params.move_attachments_to,
            )

    else:
        assert params.to is not None
        to = params.to
        carry = bool(params.carry_over_tags)

        def submit(ids: Sequence[str]) -> Awaitable[str]:
            return api.mass_convert(
                module,
                ids,
                to=to,
                carry_over_tags=carry,
                assign_to=params.assign_to,
                related_modules=params.related_modules,
            )

    def status(job_id: str) -> Awaitable[JobStatus]:
        return api.job_status(module, job_id)

    def request_count() -> int:
        count: Any = api.request_count
        return int(count)

    ledger = None if isinstance(api.ledger, NullLedger) else api.ledger
    # The run's claims under its own name, when the ledger can (``holding`` is optional).
    holding = getattr(ledger, "holding", None) if params.claims_holder else None
    if holding is not None:
        ledger = holding(params.claims_holder)
    single = _record_call(api, params) if record_by_record else None
    timeout = float(getattr(api, "request_timeout", 0.0))  # (a test's fake may not say)
    return Endpoints(
        submit,
        status,
        api.max_concurrency,
        api.timing,
        request_count,
        api.credits,
        ledger,
        single,
        timeout,
        module == "Leads",
        holding is not None,
    )


def _record_call(
    api: MassConvertAPI, params: RunParams
) -> Callable[[str], Awaitable[object]] | None:
    """One record's single convert, with the run's options; None when the call cannot carry
    them or ``api`` lacks it (a test's fake)."""
    if params.module == "Leads":
        return _lead_call(api, params)
    to = params.to
    if to is None or params.assign_to is not None or params.related_modules:
        return None  # (Convert Inventory Record has neither an owner nor related lists)
    if not isinstance(api, RecordConvertAPI):
        return None
    single: RecordConvertAPI = api
    module, carry = params.module, bool(params.carry_over_tags)

    def convert(record_id: str) -> Awaitable[object]:
        return single.convert(module, record_id, to=to, carry_over_tags=carry)

    return convert


def _lead_call(api: MassConvertAPI, params: RunParams) -> Callable[[str], Awaitable[object]] | None:
    """One lead's Convert Lead with the mass conversion's options: its deal, owner and
    attachments' module. None with related modules (Convert Lead has none) or carried tags
    (Convert Lead names the tags to carry, the mass convert the modules that get them all)."""
    if params.related_modules or params.carry_over_tags or not isinstance(api, LeadConvertAPI):
        return None
    single: LeadConvertAPI = api
    options = LeadConversion(
        move_attachments_to=params.move_attachments_to,
        assign_to=params.assign_to,
        deals=params.deals,
    )

    def convert(lead_id: str) -> Awaitable[object]:
        return single.convert_lead(lead_id, options)

    return convert
