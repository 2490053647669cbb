"""``resume``: continue an interrupted ``convert_many`` run from its journal.

It rebuilds a ``Run`` from what the journal recorded (counts, finished jobs, the position
reached in the input) and restarts every unfinished batch. Re-exported by
``zoho_convert.batch``, where ``convert_many`` lives.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Iterable

from zoho_convert.engine import ConvertAPI, Parked, Run, check_limits, drive
from zoho_convert.idset import IdSet
from zoho_convert.journal import Journal, JournalState
from zoho_convert.polling import PollPolicy
from zoho_convert.progress import ProgressCallback
from zoho_convert.report import ConversionReport
from zoho_convert.settling import SettlePolicy

__all__ = ["resume"]


async def resume(
    api: ConvertAPI,
    journal: str,
    *,
    ids: Iterable[str | int] | AsyncIterable[str | int] | None = None,
    concurrency: int | None = None,
    poll: PollPolicy = PollPolicy(),  # noqa: B008 (immutable)
    progress: ProgressCallback | None = None,
    max_pending_jobs: int | None = None,
    settle: SettlePolicy | None = None,
) -> ConversionReport:
    """Continue an interrupted ``convert_many`` run from its journal.

    Jobs that have a job id are polled, never resubmitted. Batches never sent are submitted.
    Batches caught mid-submission (or whose submission was uncertain) are settled: resubmitted
    once a lost job has had time to finish. Zoho refuses to convert a record twice, so ids the
    lost submission did convert are counted as ``already_converted``. The report covers the
    whole run. The journal is held (locked) by this process until the run ends.

    Args:
        api: the client.
        journal: the journal path given to ``convert_many``.
        ids: when the interrupted run had not read all its input, the same ids again: the
            part already journaled is skipped and the rest is read. Without them, such a
            report has ``input_complete=False``.
        concurrency: as for ``convert_many``.
        poll: as for ``convert_many``.
        progress: as for ``convert_many``.
        max_pending_jobs: as for ``convert_many``.
        settle: as for ``convert_many``.

    Returns:
        The report of the whole run.

    Raises:
        FileNotFoundError: there is no journal at ``journal``.
        ValueError: the file is not a (complete) zoho_convert journal.
        JournalInUseError: another process is running this journal.
    """
    check_limits(concurrency, poll, max_pending_jobs, settle)
    opened = await Journal.open(journal)
    try:
        state = await opened.load()
        seen: IdSet | None = None
        if ids is not None and not state.input_complete:
            seen = IdSet()
            for chunk in await opened.iter_all_ids():
                for value in chunk:
                    seen.add(int(value))
    except BaseException:
        await opened.close()
        raise
    run = Run(
        api,
        state.params,
        concurrency=concurrency,
        poll=poll,
        progress=progress,
        journal=opened,
        max_pending_jobs=max_pending_jobs,
        settle=settle,
        # The journal's ids come from a file, not from this process's reading: the client
        # checks them before they are sent.
        ids_checked=False,
    )
    _restore(run, state)
    reading: Awaitable[None] | None = None
    if not state.input_complete:
        if ids is not None:
            run.input_complete = True
            reading = run.read(ids, seen=seen, skip=state.position)
        else:
            run.input_complete = False
    return await drive(run, _then(_resubmit(run, state), reading))


def _restore(run: Run, state: JournalState) -> None:
    """Load what earlier sessions accomplished into a run."""
    run.seq = state.next_seq
    run.total = state.total_in_batches + state.local_rejected
    run.duplicates = state.duplicates
    run.rejected.extend(state.rejected)
    run.already_ids.extend(state.already_converted_ids)
    run.lost_jobs.extend(state.lost_jobs)
    run.job_ids.update(lost.job_id for lost in state.lost_jobs)
    run.requests_earlier_sessions = state.requests
    run.longest_job_known = state.longest_job
    for batch in state.batches:
        if batch.job_id is not None:
            run.job_ids.add(batch.job_id)
        if batch.state == "finished" and batch.job_id is not None and batch.status is not None:
            run.account(
                batch.seq,
                batch.job_id,
                batch.ids,
                batch.status,
                settling=batch.settling,
                restoring=True,
            )
        elif batch.state == "uncertain_final":
            run.uncertain.extend(batch.ids)


async def _resubmit(run: Run, state: JournalState) -> None:
    """Restart the unfinished batches of a journal."""
    now = run.clock()
    for batch in state.batches:
        if batch.state in ("finished", "rejected", "uncertain_final"):
            continue
        ids = list(batch.ids)
        if batch.state in ("uncertain", "submitting"):
            # It may have reached Zoho (a submission caught mid-way, or a lost reply): settle
            # it like an uncertain batch of a live run, once no job is pending and a lost job
            # has had time to finish, so Zoho knows its records before we send them again.
            maybe_sent = batch.state == "submitting" or batch.settling
            run.to_settle.append(
                Parked(batch.seq, ids, now, maybe_sent, "parked by an earlier session")
            )
            continue
        await run.slots.acquire()
        if batch.state == "submitted" and batch.job_id is not None:
            run.spawn(
                run.run_batch(
                    batch.seq, ids, submit=False, job_id=batch.job_id, settling=batch.settling
                )
            )
        else:  # pending: never sent (a split part of a settling batch keeps its flag)
            run.spawn(run.run_batch(batch.seq, ids, submit=True, settling=batch.settling))


async def _then(first: Awaitable[None], second: Awaitable[None] | None) -> None:
    """Await ``first``, then ``second`` (the journal's batches restart before new input is read)."""
    await first
    if second is not None:
        await second
