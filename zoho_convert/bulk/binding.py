"""The one narrow protocol through which the bulk layer reaches the endpoints, bound once.

``bind`` is the one place that decides between the inventory and the Leads mass-convert APIs:
it returns ``Endpoints``, one value that knows its submit and status calls and its limits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

import attrs

from zoho_convert.api.credits import CreditsBook
from zoho_convert.api.models import DealDetails, JobStatus, ModuleRef
from zoho_convert.api.timing import Timing
from zoho_convert.bulk.ledger import ConversionLedger, NullLedger
from zoho_convert.bulk.spec import RunParams

__all__ = ["LEAD_TAG_MODULES", "Endpoints", "MassConvertAPI", "bind"]

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


@attrs.frozen
class Endpoints:
    """A run's calls, bound to its parameters once (not per batch).

    Attributes:
        ledger: the ids known converted, or None when the client's ledger remembers nothing
            (then a run does no ledger work at all).
    """

    submit: Callable[[Sequence[str]], Awaitable[str]]
    status: Callable[[str], Awaitable[JobStatus]]
    max_concurrency: int
    timing: Timing
    request_count: Callable[[], int]
    credits: CreditsBook
    ledger: ConversionLedger | None


def bind(api: MassConvertAPI, params: RunParams) -> Endpoints:
    """The submit and status calls of a run of ``params`` on ``api``."""
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
    return Endpoints(
        submit, status, api.max_concurrency, api.timing, request_count, api.credits, ledger
    )
