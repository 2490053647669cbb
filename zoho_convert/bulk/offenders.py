"""Ids Zoho refused by name: the events that record them, and the parts to send next.

``RunMachine.refused`` hands here a refusal it can isolate (``isolation.is_isolatable``): the
ids Zoho named are rejected (or, refused as converted while settling, counted converted by
the lost submission), the rest goes again; a refusal that names no id is bisected. No I/O.
"""

from __future__ import annotations

from collections.abc import Callable

from zoho_convert.api.errors import APIError
from zoho_convert.bulk.events import (
    BatchGaveUp,
    BatchSplit,
    BatchUncertain,
    Event,
    IdsAlreadyConverted,
    IdsRejected,
)
from zoho_convert.bulk.isolation import REQUEST_LEVEL, locate_offenders
from zoho_convert.bulk.report import RejectedId
from zoho_convert.bulk.second_look import look_again

__all__ = ["AMBIGUOUS_WHILE_SETTLING", "Parts", "isolate"]

#: Refusals of a record that a conversion of it may itself cause: the copy it made exists
#: (``DUPLICATE_DATA``), or Zoho cannot tell (``AMBIGUITY_DURING_PROCESSING``). Of a settling
#: resubmission or check, whose earlier submission may have converted the record, they say
#: nothing sure: the record is uncertain, neither rejected (it may be converted) nor
#: converted. (``RECORD_LOCKED`` is not among them: records locked for a reason of their own,
#: approvals, are common, and reported rejected; a server that locks the records it converted
#: is a known limit, README.)
AMBIGUOUS_WHILE_SETTLING = frozenset({"DUPLICATE_DATA", "AMBIGUITY_DURING_PROCESSING"})

#: Parts of a batch to submit next: (batch number, ids).
Parts = list[tuple[int, tuple[str, ...]]]


def isolate(
    seq: int,
    part: tuple[str, ...],
    error: APIError,
    *,
    settling: bool,
    at: float,
    new_seq: Callable[[], int],
    quick_checks: bool,
    unsure: bool = False,
    check: bool = False,
    final: bool = True,
    by_record: bool = False,
) -> tuple[list[Event], Parts]:
    """The events of a refusal of ids (``at``: when it came back) and the parts to submit
    next, each numbered by ``new_seq``. ``quick_checks``: each record's single convert may
    check it, for speed too (settling record by record; not Convert Lead's checks only).
    ``unsure``: the refusal cannot tell "converted" from "refused" (a lead refused as
    invalid: Zoho moves converted leads out of Leads); ``check``: the single convert may then
    check the ids it names (else, settling, they end uncertain). ``final``: a refusal as
    converted of this settling look is final; else (it may have come while a lost job of
    these ids still ran) the whole part is looked at again a lost job's wait later
    (``second_look``): by each record's single convert if ``by_record``, else by a mass
    resubmission."""
    if settling and not final and error.code == "ID_ALREADY_CONVERTED":
        # Zoho names one converted id per refusal: the rest, most likely converted by the
        # same lost job, wait for that look too rather than each being looked at twice.
        return [look_again(seq, part, at, by_record)], []
    located = locate_offenders(error, part)
    # (Only a refusal that names its ids: one reached by bisecting may be about the request;
    # but not a single id a settling resubmission is refused for, named or not: its lost
    # submission may have converted it, so its refusal says nothing sure.)
    unsure = unsure and (isinstance(located, frozenset) or (settling and len(part) == 1))
    if len(part) == 1:
        if unsure:
            return [unsure_of(seq, part, error, at, check, settling, final)], []
        return [refusal(seq, part, error, settling)], []
    parts: Parts
    if isinstance(located, frozenset):
        refused = tuple(value for index, value in enumerate(part) if index in located)
        rest = tuple(value for index, value in enumerate(part) if index not in located)
        if unsure:
            # The named ids are split off and checked (or given up on); the rest goes
            # again as it would after any refusal of ids.
            named, parts = new_seq(), [(new_seq(), rest)] if rest else []
            split = BatchSplit(seq, ((named, refused), *parts), settling)
            looked = unsure_of(named, refused, error, at, check, settling, final)
            return [split, looked], parts
        if rest and ambiguous(error, settling):
            # The uncertain ids become a part of their own (each part's fate is one event):
            # the rest goes again.
            gone, again = new_seq(), new_seq()
            split = BatchSplit(seq, ((gone, refused), (again, rest)), settling)
            return [split, refusal(gone, refused, error, settling)], [(again, rest)]
        events: list[Event] = [refusal(seq, refused, error, settling)]
        if settling and error.code == "ID_ALREADY_CONVERTED" and rest:
            # The lost submission was processed, so most of the rest is converted too, and
            # Zoho names one converted id per refusal. Each record's single convert says at
            # once, with no job to wait for (nothing of the refused call runs: at once); else
            # the rest goes one by one, side by side (as many calls as a chain of refusals,
            # but in one round trip; each one lost again is another round).
            if quick_checks:
                checked = new_seq()
                reason = f"{refused[0]} was converted by the lost submission: checking the rest"
                events.append(BatchSplit(seq, ((checked, rest),), settling))
                # (Reached by a final look only: its rest are part of it.)
                check_rest = BatchUncertain(
                    checked, rest, at, True, reason, "", True, True, final_look=True
                )
                events.append(check_rest)
                return events, []
            parts = [(new_seq(), (value,)) for value in rest]
        else:
            parts = [(new_seq(), rest)] if rest else []
    else:
        assert located != REQUEST_LEVEL  # is_isolatable said so
        events = []
        half = len(part) // 2
        parts = [(new_seq(), part[half:]), (new_seq(), part[:half])]
    if parts:
        events.append(BatchSplit(seq, tuple(parts), settling))
    return events, parts


def unsure_of(
    seq: int,
    ids: tuple[str, ...],
    error: APIError,
    at: float,
    check: bool,
    settling: bool,
    final: bool = False,
) -> Event:
    """Ids refused with an error that a converted record may also get (INVALID_DATA for a
    lead gone from Leads): checked one by one at once by the single convert (``check``;
    refused as converted, it tells: by the lost submission when ``settling``, else before
    the run), else (settling) uncertain. Never rejected while settling: the lost submission
    may have converted them. ``final``: the refusal came in a settling batch's final look
    (``second_look``), which the check is part of."""
    if not check:
        why = f"refused ({error.code}) on settling; a lead the lost submission converted reads so"
        return BatchGaveUp(seq, ids, why)
    why = f"refused ({error.code}), as a converted lead may be: checking it"
    code, last = ("", final) if settling else (error.code, False)
    return BatchUncertain(seq, ids, at, settling, why, code, True, True, final_look=last)


def ambiguous(error: APIError, settling: bool) -> bool:
    """Whether a refusal says nothing sure of whether the records were converted
    (``AMBIGUOUS_WHILE_SETTLING``)."""
    return settling and error.code in AMBIGUOUS_WHILE_SETTLING


def refusal(seq: int, ids: tuple[str, ...], error: APIError, settling: bool) -> Event:
    """The event of ids Zoho refused with ``error``."""
    if ambiguous(error, settling):
        reason = (
            f"{error.code} while settling: {error.message or 'refused'}; an earlier submission "
            "of it, whose outcome is unknown, may have converted it"
        )
        return BatchGaveUp(seq, ids, reason)
    if settling and error.code == "ID_ALREADY_CONVERTED":
        # Resubmitted because an earlier submission's reply was lost: that submission
        # converted them. Converted by this run, so neither rejected nor failed.
        return IdsAlreadyConverted(seq, ids)
    return IdsRejected(seq, tuple(RejectedId(i, error.code, error.message) for i in ids))
