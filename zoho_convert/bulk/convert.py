"""``convert_many`` and ``resume``: any number of records, in batches of 50, all accounted for.

These two functions are the one declaration of the bulk call: ``ZohoConvertClient`` has them
as its methods (``client.convert_many(...)`` is ``convert_many(client, ...)``).
"""

from __future__ import annotations

import contextlib
import functools
import secrets
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from zoho_convert.api.ids import MAX_IDS_PER_CALL
from zoho_convert.api.models import DealDetails, ModuleRef
from zoho_convert.api.polling import PollPolicy
from zoho_convert.api.urls import redact_url
from zoho_convert.bulk.arguments import check_ids, check_limits, check_run
from zoho_convert.bulk.binding import MassConvertAPI, bind
from zoho_convert.bulk.driver import Run
from zoho_convert.bulk.events import BatchRead, ProgressCallback, RequestsCounted
from zoho_convert.bulk.idset import IdSet
from zoho_convert.bulk.isolation import error_text
from zoho_convert.bulk.journal import Journal
from zoho_convert.bulk.machine import RunMachine
from zoho_convert.bulk.reader import Reader
from zoho_convert.bulk.report import ConversionReport
from zoho_convert.bulk.settling import SettlePolicy
from zoho_convert.bulk.spec import RunParams

__all__ = ["convert_many", "resume"]

_DEFAULT_POLL = PollPolicy()


async def convert_many(
    api: MassConvertAPI,
    module: str,
    ids: Iterable[str | int] | AsyncIterable[str | int],
    *,
    to: str | ModuleRef | None = None,
    carry_over_tags: bool | Sequence[str] = False,
    assign_to: str | int | None = None,
    related_modules: Sequence[ModuleRef] = (),
    batch_size: int = MAX_IDS_PER_CALL,
    concurrency: int | None = None,
    poll: PollPolicy = _DEFAULT_POLL,
    progress: ProgressCallback | None = None,
    journal: str | None = None,
    deals: DealDetails | Mapping[str, Any] | None = None,
    move_attachments_to: str | None = None,
    max_pending_jobs: int | None = None,
    settle: SettlePolicy | None = None,
    min_credits: int | None = None,
) -> ConversionReport:
    """Convert any number of records through the mass-convert API and account for every id.

    The run reads ``ids`` lazily (refusing invalid values locally as ``INVALID_ID`` and
    dropping repeats), submits batches of ``batch_size`` concurrently under the client's limit,
    polls each job until it ends (the first poll timed from the jobs already finished, so a
    steady run needs about one poll per job), isolates the ids Zoho refuses (by the error's
    details, else by halving the batch), and settles batches whose outcome is unknown (a lost
    reply, a job Zoho forgot) by resubmitting them once a lost job has had time to finish: Zoho
    refuses to convert a record twice, so nothing is converted twice. Until one submission is
    accepted, batches are sent one at a time, so a request-level mistake costs one call.

    Args:
        module: ``Quotes``, ``Sales_Orders`` or ``Leads``.
        ids: the record ids, as an iterable or async iterable of str/int, read lazily.
        to: the target module (``Sales_Orders``/``Invoices``, or a ``ModuleRef``); required
            for Quotes and Sales_Orders, not used for Leads.
        carry_over_tags: inventory: carry tags over to the new records. Leads: True carries
            them to Contacts and Accounts (and Deals when ``deals`` is given), or name the
            modules. Default False everywhere.
        assign_to: the user id to own the new records.
        related_modules: related lists (Calls, Tasks, Events) to convert along.
        batch_size: ids per call, 1 to 50.
        concurrency: requests in flight at most (submissions and polls together); default
            and maximum: the client's limit.
        poll: how jobs are polled (see ``PollPolicy``).
        progress: called with every event of the run (``zoho_convert.bulk.events``), on the
            event loop: it should return quickly.
        journal: a path for a new SQLite journal, so the run can be resumed with ``resume``;
            the journal is held (locked) by this process while the run lasts.
        deals: Leads only: a deal to create for each converted lead.
        move_attachments_to: Leads only: the module that gets the leads' attachments.
        max_pending_jobs: batches in flight (submitted, not finished) at most; the default
            (50 per allowed request, at least 100) keeps the request pipe full.
        settle: how batches whose outcome is unknown are settled (default ``SettlePolicy()``).
        min_credits: stop submitting once Zoho says fewer API credits than this remain
            (``X-API-CREDITS-REMAINING``; with a fleet, as last seen by any process): the run
            returns with the rest reported ``NOT_SUBMITTED`` (resume it later).

    With a fleet (``ZohoConvertClient(..., fleet=...)``), ids the fleet's ledger knows
    converted are not sent again (they count as ``already_converted``), and ids are claimed
    while their job runs, so two workers given overlapping lists never submit one id at once.

    Returns:
        The run's ``ConversionReport``: every id read is in a job, ``rejected``,
        ``uncertain``, ``already_converted_ids`` or ``converted_by_record``.

    Raises:
        ValueError: bad arguments (module pair, batch_size, concurrency, a journal path that
            is empty or a directory), before any request.
        TypeError: ``ids`` is a single str/int or not iterable; an option of the wrong type.
        FileExistsError: the journal path exists already (resume that run instead).
        JournalInUseError: another process is running a journal at that path.
        AuthenticationError, PermissionDeniedError, InvalidRequestError: an error that
            concerns the whole run (a refused token, a wrong module id, ...), raised once the
            work in flight has settled; the exception carries the report so far as
            ``partial_report`` (so does the ``CancelledError`` of a cancelled run).
    """
    check_limits(concurrency, poll, max_pending_jobs, settle, min_credits)
    target, tags, deal = check_run(
        module,
        ids,
        to=to,
        carry_over_tags=carry_over_tags,
        assign_to=assign_to,
        related_modules=related_modules,
        batch_size=batch_size,
        journal=journal,
        deals=deals,
        move_attachments_to=move_attachments_to,
    )
    if isinstance(target, str):
        # Resolve the target's id once for the whole run (and fail early if it is unknown).
        target = ModuleRef(target, await api.module_id(target))
    params = RunParams(
        module=module,
        to=target,
        carry_over_tags=tags,
        assign_to=None if assign_to is None else str(assign_to),
        related_modules=tuple(related_modules),
        batch_size=batch_size,
        deals=deal,
        move_attachments_to=move_attachments_to,
        claims_holder=secrets.token_hex(8),
        # (Where the requests go for sure: a refresh-token client's token reply may name
        # another domain than the data center's; a run without a journal keeps none.)
        api_domain=await _settled_domain(api) if journal is not None else "",
    )
    opened = await Journal.create(journal, params) if journal is not None else None
    run = _run(
        api, params, opened, concurrency, poll, progress, max_pending_jobs, settle, min_credits
    )
    return await drive(run, run.read(Reader(batch_size), ids))


async def resume(
    api: MassConvertAPI,
    journal: str,
    *,
    ids: Iterable[str | int] | AsyncIterable[str | int] | None = None,
    concurrency: int | None = None,
    poll: PollPolicy = _DEFAULT_POLL,
    progress: ProgressCallback | None = None,
    max_pending_jobs: int | None = None,
    settle: SettlePolicy | None = None,
    min_credits: int | None = None,
) -> ConversionReport:
    """Continue an interrupted ``convert_many`` run from its journal.

    The journal's events are replayed into a fresh run. Jobs that have a job id are polled,
    never resubmitted. Batches never sent are submitted. Batches caught mid-submission (or
    whose outcome was unknown) are settled: resubmitted once a lost job has had time to
    finish; ids the lost submission did convert are counted as ``already_converted``. The
    report covers the whole run. The journal is held (locked) by this process until the run
    ends.

    Args:
        journal: the journal path given to ``convert_many``.
        ids: when the interrupted run had not read all its input, the same ids again: the
            part already journaled is skipped and the rest is read (an id in that part that
            no session read, as when other ids are given, is read too: none is dropped).
            Without them, such a report has ``input_complete=False``.
        concurrency: as for ``convert_many``.
        poll: as for ``convert_many``.
        progress: as for ``convert_many`` (this session's events).
        max_pending_jobs: as for ``convert_many``.
        settle: as for ``convert_many``.
        min_credits: as for ``convert_many``.

    Returns:
        The report of the whole run.

    Raises:
        FileNotFoundError: there is no journal at ``journal``.
        ValueError: the file is not a (complete) zoho_convert journal; or the client talks
            to another data center, server or org than the run did (nothing is sent).
        JournalInUseError: another process is running this journal.
        TypeError: ``ids`` is a single str/int or not iterable (nothing is sent).
    """
    check_limits(concurrency, poll, max_pending_jobs, settle, min_credits)
    if ids is not None:
        check_ids(ids)  # (a str would be read character by character: ids "4", "7", ...)
    opened = await Journal.open(journal)
    try:
        params, events = await opened.load()
        _check_domain(_domain(api), params, journal)  # (when known without a request)
        run = _run(
            api, params, opened, concurrency, poll, progress, max_pending_jobs, settle, min_credits
        )
        for event in events:  # what earlier sessions did: into the state and the tally only
            run.machine(event)
            run.tally(event)
        if run.machine.batches or (ids is not None and not run.machine.input_ended):
            await _check_same_org(api, params, journal)  # (a run with nothing left sends nothing)
    except BaseException:
        await opened.close()
        raise
    reading: Callable[[], Awaitable[None]] | None = None
    if ids is not None and not run.machine.input_ended:
        seen = IdSet()
        for event in events:
            if isinstance(event, BatchRead):
                for value in event.ids:
                    seen.add(int(value))
        reader = Reader(
            params.batch_size,
            seen=seen,
            skip=run.machine.position,
            total=run.tally.total,
            duplicates=run.machine.duplicates,
            refused_before={item.id for item in run.tally.rejected if item.code == "INVALID_ID"},
        )
        reading = functools.partial(run.read, reader, ids)
    return await drive(run, _restart(run, reading))


def _domain(api: MassConvertAPI) -> str:
    """The API domain ``api`` talks to, or "" when it does not say (a test's fake) or does
    not know yet (a refresh-token client before its first token: ``_settled_domain``)."""
    domain = getattr(api, "api_domain", None)
    known = getattr(api, "api_domain_known", True)
    return domain if isinstance(domain, str) and known is True else ""


async def _settled_domain(api: MassConvertAPI) -> str:
    """The API domain ``api`` talks to, fetching a token first if it takes its domain from
    the token reply and has none yet; "" when it does not say."""
    settle = getattr(api, "settled_api_domain", None)
    if settle is None:
        return _domain(api)
    domain = await settle()
    return domain if isinstance(domain, str) else ""


async def _check_same_org(api: MassConvertAPI, params: RunParams, journal: str) -> None:
    """Refuse to resume a run against another data center, server or org than its own.

    There, its job ids are unknown (each would be settled as lost, its records resubmitted
    where they are not) and its records are not the run's: nothing must be sent or journaled.

    Raises:
        ValueError: the client talks to another API domain than the run did, or the run's
            target module has another id there (another org).
    """
    # (The domain once known: a refresh-token client's comes with its first token.)
    _check_domain(await _settled_domain(api), params, journal)
    to = params.to
    if to is not None and to.id:
        found = await api.module_id(to.api_name)
        if found != to.id:
            raise ValueError(
                f"journal {journal} is a run in another Zoho org: module {to.api_name} has the "
                f"id {to.id} there but {found} here; resume it with that org's credentials"
            )


def _check_domain(here: str, params: RunParams, journal: str) -> None:
    # (Redacted again: a journal of a build that kept a proxy's password must not show it.)
    there = redact_url(params.api_domain)
    if there and here and here != there:
        raise ValueError(
            f"journal {journal} is a run against {there}, but this client talks to "
            f"{here}: resume it with the data center (or API domain) of that run"
        )


def _run(
    api: MassConvertAPI,
    params: RunParams,
    journal: Journal | None,
    concurrency: int | None,
    poll: PollPolicy,
    progress: ProgressCallback | None,
    max_pending_jobs: int | None,
    settle: SettlePolicy | None,
    min_credits: int | None,
) -> Run:
    """A run of ``params`` on ``api`` (its limits as ``convert_many`` and ``resume`` take)."""
    settle = settle or SettlePolicy()
    endpoints = bind(api, params, record_by_record=settle.record_by_record)
    fleet = endpoints.ledger is not None
    machine = RunMachine(
        settle,
        in_flight_grace=endpoints.request_timeout,
        fleet=fleet,
        gone_when_converted=params.module == "Leads",
    )
    return Run(
        endpoints,
        params,
        machine,
        concurrency=concurrency,
        poll=poll,
        progress=progress,
        journal=journal,
        max_pending_jobs=max_pending_jobs,
        min_credits=min_credits,
    )


async def _restart(run: Run, reading: Callable[[], Awaitable[None]] | None) -> None:
    """Restart the journal's unfinished batches, then read the rest of the input (if given)."""
    if run.keeper is not None and run.endpoints.claims_held:
        # Claims the earlier sessions made under this run's name are its own (the ledger
        # releases only its holder's claims).
        for batch in run.machine.batches.values():
            run.keeper.adopt(batch.ids)
    to_submit, to_poll, parked = run.machine.to_restart(run.clock())
    run.publish_all(parked)
    for batch in to_poll:
        await run.slots.acquire()
        run.spawn(run.run_batch(batch.seq, submit=False))
    for batch in to_submit:
        await run.slots.acquire()
        run.spawn(run.run_batch(batch.seq, submit=True))
    if reading is not None:
        await reading()


async def drive(run: Run, work: Awaitable[None]) -> ConversionReport:
    """Run to the end and return, or raise, its outcome.

    Raises:
        BaseException: the run-wide error that stopped the run (or the cancellation), with the
            report so far as ``partial_report``.
    """
    journal = run.journal
    try:
        try:
            await run.execute(work)
            outcome = run.fatal or run.input_error
        except BaseException as error:
            # Cancelled (or a bug): stop every request and poller before leaving. The journal
            # keeps each batch's last state, so the run can be resumed.
            outcome = error
            await run.abort()
        reason = run.halted if outcome is None else error_text(outcome)
        run.publish_all(run.machine.stopped(reason, run.clock()))
        if run.keeper is not None:
            with contextlib.suppress(Exception):
                await run.keeper.flush()
        report = run.report()
        if journal is not None:
            journal.record(RequestsCounted(report.requests - run.tally.requests_earlier))
    finally:
        if journal is not None:
            await journal.close()
    if outcome is not None:
        with contextlib.suppress(AttributeError):  # a type refusing new attributes (frozen)
            outcome.partial_report = report  # type: ignore[attr-defined]
        raise outcome
    return report
