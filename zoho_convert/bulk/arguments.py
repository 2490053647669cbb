"""The arguments of ``convert_many`` and ``resume``, checked before any request or file."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from typing import Any

from zoho_convert.api.ids import MAX_IDS_PER_CALL, normalize_id
from zoho_convert.api.models import (
    INVENTORY_CONVERSIONS,
    DealDetails,
    ModuleRef,
    check_inventory_conversion,
    check_related_module,
    deal_or_none,
)
from zoho_convert.api.polling import PollPolicy
from zoho_convert.bulk.journal_file import check_journal_path, refuse_existing
from zoho_convert.bulk.settling import SettlePolicy

__all__ = ["check_ids", "check_limits", "check_run"]


def check_limits(
    concurrency: object,
    poll: object,
    max_pending_jobs: object,
    settle: object,
    min_credits: object = None,
) -> None:
    """Refuse bad limits of a run (shared by ``convert_many`` and ``resume``)."""
    if min_credits is not None and (
        isinstance(min_credits, bool) or not isinstance(min_credits, int) or min_credits < 0
    ):
        raise ValueError(f"min_credits must be a non-negative int or None, got {min_credits!r}")
    if settle is not None and not isinstance(settle, SettlePolicy):
        raise TypeError(f"settle must be a SettlePolicy, not {type(settle).__name__}")
    if concurrency is not None and (
        isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
    ):
        raise ValueError(f"concurrency must be a positive int or None, got {concurrency!r}")
    if not isinstance(poll, PollPolicy):
        raise TypeError(f"poll must be a PollPolicy, not {type(poll).__name__}")
    if max_pending_jobs is not None and (
        isinstance(max_pending_jobs, bool)
        or not isinstance(max_pending_jobs, int)
        or max_pending_jobs < 1
    ):
        raise ValueError(f"max_pending_jobs must be a positive int, got {max_pending_jobs!r}")


def check_run(
    module: str,
    ids: object,
    *,
    to: str | ModuleRef | None,
    carry_over_tags: bool | Sequence[str],
    assign_to: str | int | None,
    related_modules: Sequence[ModuleRef],
    batch_size: object,
    journal: str | None,
    deals: DealDetails | Mapping[str, Any] | None,
    move_attachments_to: str | None,
) -> tuple[ModuleRef | str | None, bool | tuple[str, ...], DealDetails | None]:
    """Refuse a bad run before anything is sent or written.

    Returns:
        the target (a checked ``ModuleRef``, a module name still to look up, or None for
        Leads), the tags option as journaled, and the deal as a ``DealDetails``.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise TypeError(f"batch_size must be an int, not {type(batch_size).__name__}")
    if not 1 <= batch_size <= MAX_IDS_PER_CALL:
        raise ValueError(f"batch_size must be between 1 and {MAX_IDS_PER_CALL}, got {batch_size}")
    deal = deal_or_none(deals)
    if isinstance(to, ModuleRef):
        to = ModuleRef(to.api_name, normalize_id(to.id, what="target module id"))
    if assign_to is not None:
        normalize_id(assign_to, what="assign_to user id")
    for ref in related_modules:
        check_related_module(ref)
    if journal is not None:
        refuse_existing(check_journal_path(journal))
    check_ids(ids)
    if module == "Leads":
        tags = carry_over_tags if isinstance(carry_over_tags, bool) else tuple(carry_over_tags)
        return None, tags, deal
    if module not in INVENTORY_CONVERSIONS:
        raise ValueError(f"{module!r} cannot be mass converted; use Quotes, Sales_Orders or Leads")
    if to is None:
        raise ValueError(f"'to' is required to convert {module}")
    check_inventory_conversion(module, to.api_name if isinstance(to, ModuleRef) else to)
    if not isinstance(carry_over_tags, bool):
        raise TypeError("carry_over_tags must be a bool for inventory modules")
    if deal is not None or move_attachments_to is not None:
        raise ValueError("deals and move_attachments_to apply to Leads only")
    return to, carry_over_tags, None


def check_ids(ids: object) -> None:
    """Refuse ids that are not a collection of ids (one id, a str read character by character
    as ids), before anything is sent.

    Raises:
        TypeError: ``ids`` is a single str, bytes or int, or not (async) iterable.
    """
    if isinstance(ids, (str, bytes, int)) or not isinstance(ids, (Iterable, AsyncIterable)):
        raise TypeError(f"ids must be an iterable of ids, not {type(ids).__name__}")
