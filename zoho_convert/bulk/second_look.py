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

Which batches' next look is final (``FinalLooks``) is journaled with each parked batch
(``BatchUncertain.final_look``): a resumed run gives a batch awaiting its second look that
look, from when it resumed; one caught sending it (a job of it may run), two lost jobs' waits
from then.
"""

from __future__ import annotations

from collections.abc import Iterable

from zoho_convert.bulk.events import BatchUncertain
from zoho_convert.bulk.settle_plan import Batch

__all__ = ["FinalLooks", "look_again"]


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


class FinalLooks:
    """The batches whose next look is final (``BatchUncertain.final_look``): refused or failed
    as converted in it, their ids are reported already converted. Split parts inherit it
    (they are part of the same look). Folded from the run's events by ``RunMachine``."""

    __slots__ = ("_renewed", "_seqs")

    def __init__(self) -> None:
        self._seqs: set[int] = set()
        self._renewed: set[int] = set()  # batches whose second look had its own rounds

    def __contains__(self, seq: int) -> bool:
        return seq in self._seqs

    def parked(self, event: BatchUncertain, batch: Batch) -> None:
        """Fold a batch parked (``batch``, as ``event`` parks it): whether its next look is
        final, and whether it is parked for a check (``check_pending``): to have its records
        checked (``by_record``), or for its second look. Either finishes the round before
        it (it takes none of its own). What befalls the second look (single converts
        answered 5xx, say) has the rounds of a settling of its own, once per batch (a
        server that loses and refuses by turns still has the run end)."""
        seq = event.batch
        if not event.final_look:
            self._seqs.discard(seq)  # (a lost job of it may run: a look is not final yet)
        elif seq not in self._seqs:
            self._seqs.add(seq)
            batch.check_pending = True
            if seq not in self._renewed:
                self._renewed.add(seq)
                batch.rounds = 0
            return
        batch.check_pending = event.by_record

    def split(self, parent: int, parts: Iterable[tuple[int, tuple[str, ...]]]) -> None:
        """Fold a batch split into ``parts``: each inherits its parent's."""
        for seqs in (self._seqs, self._renewed):
            if parent in seqs:
                seqs.update(seq for seq, _ in parts)
