"""``convert_many``: convert any number of records in batches of at most 50, and account for all.

The pipeline, per run:

1. **Read** ids lazily from an iterable or async iterable; refuse invalid ones locally
   (reported as ``rejected`` with code ``INVALID_ID``), drop duplicates (counted), cut the rest
   into batches of ``batch_size``.
2. **Submit** each batch as one mass-convert call. Requests (submissions and polls) share the
   ``concurrency`` limit; jobs pending at once are bounded separately (``max_pending_jobs``),
   so memory is bounded by the batches in flight, not by the number of ids.
3. **Poll** each job until COMPLETED or FAILED (``polling.poll_job``); the first poll is timed
   from the durations of the jobs already finished, so a steady run needs about one poll per
   job.
4. **Isolate** offending ids when Zoho refuses a whole batch because of some of them
   (INVALID_DATA, ID_ALREADY_CONVERTED, ...): use the error's hint (``json_path`` or ``id``)
   when it has one, else split the batch in halves, until the offenders stand alone.
5. **Settle** uncertain submissions (5xx or dropped connection after sending) once no job of
   the run is pending: resubmit them once. Zoho refuses to convert a record twice, so this
   cannot convert anything twice; isolation sorts out ids that the lost job did convert.
6. **Report** counts from the jobs' final statuses, and ids only where someone must act.

Errors that concern the whole run (authentication, permission, invalid module, ...) stop it
with that error once in-flight work has settled; the partial report is attached to the
exception as ``partial_report``. With a journal, every step is recorded so ``resume`` can
continue an interrupted run without converting anything twice.

Nothing here knows about HTTP: the run drives any object shaped like ``ConvertAPI``. This
module checks the arguments and starts the run; the parts live beside it:

- ``engine``: ``Run``, the state and steps of one run (reading to reporting);
- ``isolation``: what a failed submission means (isolate, settle later, or stop the run);
- ``idset``: the compact set of ids read so far, for duplicate detection;
- ``resume``: ``resume``, re-exported here, which rebuilds a run from its journal.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from zoho_convert.engine import ConvertAPI, Run, check_limits, drive
from zoho_convert.ids import normalize_id
from zoho_convert.journal import Journal, RunParams
from zoho_convert.journal_file import check_journal_path, refuse_existing
from zoho_convert.models import (
    INVENTORY_CONVERSIONS,
    DealDetails,
    ModuleRef,
    check_inventory_conversion,
    check_related_module,
    deal_or_none,
)
from zoho_convert.polling import PollPolicy
from zoho_convert.progress import ProgressCallback
from zoho_convert.report import ConversionReport
from zoho_convert.resume import resume
from zoho_convert.settling import SettlePolicy

__all__ = ["MAX_BATCH_SIZE", "ConvertAPI", "convert_many", "resume", "split_batches"]

#: Zoho converts at most 50 records per mass-convert call.
MAX_BATCH_SIZE = 50


def split_batches(ids: Iterable[str], size: int) -> Iterator[list[str]]:
    """Cut ``ids`` into consecutive lists of at most ``size`` (a pure helper, for tests/CLI).

    Raises:
        ValueError: ``size`` is not between 1 and 50.
    """
    _check_batch_size(size)
    batch: list[str] = []
    for value in ids:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _check_batch_size(size: object) -> int:
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"batch_size must be an int, not {type(size).__name__}")
    if not 1 <= size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_SIZE}, got {size}")
    return size


def _check_run_options(
    assign_to: object, related_modules: Sequence[ModuleRef], journal: str | None
) -> None:
    """Refuse bad run options before the module lookup, the first request of a run."""
    if assign_to is not None:
        normalize_id(assign_to, what="assign_to user id")
    for ref in related_modules:
        check_related_module(ref)
    if journal is not None:
        refuse_existing(check_journal_path(journal))


async def convert_many(
    api: ConvertAPI,
    module: str,
    ids: Iterable[str | int] | AsyncIterable[str | int],
    *,
    to: str | ModuleRef | None,
    carry_over_tags: bool | Sequence[str] = False,
    assign_to: str | int | None = None,
    related_modules: Sequence[ModuleRef] = (),
    batch_size: int = MAX_BATCH_SIZE,
    concurrency: int | None = None,
    poll: PollPolicy = PollPolicy(),  # noqa: B008 (immutable)
    progress: ProgressCallback | None = None,
    journal: str | None = None,
    deals: DealDetails | Mapping[str, Any] | None = None,
    move_attachments_to: str | None = None,
    max_pending_jobs: int | None = None,
    settle: SettlePolicy | None = None,
) -> ConversionReport:
    """Convert any number of records through the mass-convert API and account for every id.

    Args:
        api: the client (``ZohoConvertClient`` or anything shaped like ``ConvertAPI``).
        module: ``Quotes``, ``Sales_Orders`` or ``Leads``.
        ids: the record ids, as an iterable or async iterable of str/int, read lazily.
        to: the target module (``Sales_Orders``/``Invoices``, or a ``ModuleRef``); ignored
            (may be None) for Leads.
        carry_over_tags: inventory: carry tags over to the new records. Leads: True carries
            them to Contacts and Accounts (and Deals when ``deals`` is given), or name the
            modules.
        assign_to: the user id to own the new records.
        related_modules: related lists (Calls, Tasks, ...) to convert along.
        batch_size: ids per call, 1 to 50.
        concurrency: requests in flight at most (submissions and polls together); default
            and maximum: the client's limit.
        poll: how jobs are polled (see ``PollPolicy``).
        progress: called with each progress event (see ``zoho_convert.progress``).
        journal: a path for a new SQLite journal, so the run can be resumed with ``resume``.
        deals: Leads only: a deal to create for each converted lead.
        move_attachments_to: Leads only: the module that gets the leads' attachments.
        max_pending_jobs: batches in flight (submitted, not finished) at most; the default
            (50 per allowed request, at least 100) keeps the request pipe full.
        settle: how batches whose outcome is unknown (a lost reply, a lost job) are settled
            by resubmission (default ``SettlePolicy()``).

    Returns:
        The run's ``ConversionReport``.

    Raises:
        ValueError: bad arguments (module pair, batch_size, concurrency), before any request.
        TypeError: ``ids`` is a single str/int or not iterable.
        FileExistsError: the journal path exists already (resume that run instead).
        JournalInUseError: another process is running a journal at that path.
        AuthenticationError, PermissionDeniedError, InvalidRequestError: an error that
            concerns the whole run, raised once in-flight work settled; the exception carries
            the report so far as ``partial_report``.
    """
    _check_batch_size(batch_size)
    check_limits(concurrency, poll, max_pending_jobs, settle)
    deals = deal_or_none(deals)
    if isinstance(to, ModuleRef):
        to = ModuleRef(to.api_name, normalize_id(to.id, what="target module id"))
    _check_run_options(assign_to, related_modules, journal)
    if isinstance(ids, (str, bytes, int)) or not isinstance(ids, (Iterable, AsyncIterable)):
        raise TypeError(f"ids must be an iterable of ids, not {type(ids).__name__}")
    if module == "Leads":
        target: ModuleRef | None = None
        if not isinstance(carry_over_tags, bool):
            carry_over_tags = tuple(carry_over_tags)
    else:
        if module not in INVENTORY_CONVERSIONS:
            raise ValueError(
                f"{module!r} cannot be mass converted; use Quotes, Sales_Orders or Leads"
            )
        if to is None:
            raise ValueError(f"'to' is required to convert {module}")
        name = to.api_name if isinstance(to, ModuleRef) else to
        check_inventory_conversion(module, name)
        if not isinstance(carry_over_tags, bool):
            raise TypeError("carry_over_tags must be a bool for inventory modules")
        if deals is not None or move_attachments_to is not None:
            raise ValueError("deals and move_attachments_to apply to Leads only")
        # Resolve the target's id once for the whole run (and fail early if it is unknown).
        target = to if isinstance(to, ModuleRef) else ModuleRef(name, await api.module_id(name))
    params = RunParams(
        module=module,
        to=target,
        carry_over_tags=carry_over_tags,
        assign_to=None if assign_to is None else str(assign_to),
        related_modules=tuple(related_modules),
        batch_size=batch_size,
        deals=deals,
        move_attachments_to=move_attachments_to,
    )
    opened = await Journal.create(journal, params) if journal is not None else None
    run = Run(
        api,
        params,
        concurrency=concurrency,
        poll=poll,
        progress=progress,
        journal=opened,
        max_pending_jobs=max_pending_jobs,
        settle=settle,
    )
    return await drive(run, run.read(ids))
