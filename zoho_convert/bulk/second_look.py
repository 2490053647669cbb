"""A second look: ids a settling look found converted while a lost job of theirs may still
have run are looked at once more before they are reported converted. No I/O.

A lost submission's job is given the longest job measured and a margin to finish
(``SettlePlan._wait``); a job of a varying length can take longer. A server that refuses (or
fails inside a job) the ids a running job holds as ``ID_ALREADY_CONVERTED`` then answers a
settling look (a record's single convert, a mass resubmission, a settling job's failures) as
if the lost job had converted them, and if that job then ends FAILED, nothing did: the report
said "already converted" of records no one converted (README, *Known limits*).

No bound on the lost job's end is sound: Zoho says nothing of the job (its id was lost),
documents no longest duration, runs jobs side by side (a job sent after it, ended, says
nothing of it), and a job's final status may come before it ran (hunt round 8). So every
such answer is confirmed by one more look, a lost job's wait after it: a record's single
convert where the run has it, else (Leads; ``record_by_record=False``) a mass resubmission
of just those ids. Refused (or failed) as converted again, the ids are reported already
converted; converted now, the lost job failed: converted by this run; refused for a reason
of their own, as any settling refusal is. A settling resubmission refused as converted
waits for that look whole (Zoho names one converted id per refusal); a settling job's
failures are checked a lost job's wait after its answer, that check being the second look.
Only ids answered "converted" pay: a lost submission Zoho did not process (a 5xx before it)
has its records converted by the first look, with no second.

A second look by mass resubmission whose reply is lost may have started a job (its ids were
free, then): the next look is final too, but comes two lost jobs' waits after it, the waits a
first and a second look would give that job. The second look takes no settling round of its
own, and has a settling's rounds for what befalls it, once per batch.

Which batches' next look is final (``Batch.final_look``) is journaled with each parked batch
(``BatchUncertain.final_look``): a resumed run gives a batch awaiting its second look that
look, from when it resumed; one caught sending it (a job of it may run), two lost jobs' waits
from then.
"""

from __future__ import annotations

from zoho_convert.bulk.events import BatchUncertain
from zoho_convert.bulk.settle_plan import Batch

__all__ = ["fold_final_look", "look_again"]


def look_again(seq: int, ids: tuple[str, ...], at: float, by_record: bool) -> BatchUncertain:
    """Ids a settling look found converted ``at`` (when its answer came), that look perhaps
    made while a lost job of theirs still ran (it holds them; ending FAILED, it converts
    nothing): parked for a second look, a lost job's wait from then, whose answer is final.
    ``by_record``: that look goes by each record's single convert (it answers at once, and
    starts no job that a lost reply would leave running), else by a mass resubmission of
    ``ids``."""
    reason = (
        "found converted while a lost job of its may still have run: looked at again once "
        "that job has surely ended"
    )
    code = "ID_ALREADY_CONVERTED"  # (Zoho's refusal: nothing of it runs)
    return BatchUncertain(seq, ids, at, True, reason, code, False, by_record, final_look=True)


def fold_final_look(batch: Batch, event: BatchUncertain) -> None:
    """Fold a batch parked (``batch``, as ``event`` parks it): whether its next look is final
    (``Batch.final_look``: refused or failed as converted in it, its ids are reported already
    converted; split parts inherit it, as part of the same look, and it ends with the batch),
    and whether it is parked for a check (``check_pending``): to have its records checked
    (``by_record``), or for its second look. Either finishes the round before it (it takes
    none of its own). What befalls the second look (single converts answered 5xx, say) has
    the rounds of a settling of its own, once per batch (``Batch.rounds_renewed``: a server
    that loses and refuses by turns still has the run end)."""
    if not event.final_look:
        batch.final_look = False  # (a lost job of it may run: a look is not final yet)
    elif not batch.final_look:
        batch.final_look = batch.check_pending = True
        if not batch.rounds_renewed:
            batch.rounds_renewed, batch.rounds = True, 0
        return
    batch.check_pending = event.by_record
