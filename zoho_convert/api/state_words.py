"""Reading a job state this client does not know by its words.

Zoho documents four states (SCHEDULED, IN PROGRESS, COMPLETED, FAILED), but its OpenAPI spec
types the status as a bare string, and a server may name them otherwise. What matters to a run
is what such a state says of the job: that it ended (CANCELLED, ABORTED, DONE: what it did
cannot be told, and it may never change again), that it runs (RUNNING, PROCESSING), or
neither (QUEUED, PENDING, NOT_STARTED, NEW: read as not started, which is the safe reading:
a job not known to have started proves nothing of how the server runs its jobs). A word said
not to hold (NOT_COMPLETED, INCOMPLETE, UNFINISHED, YET TO START) says neither.
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["StateReading", "read_state_words"]

StateReading = Literal["ended", "running", "not started"]

# Stems of words that say a job has ended.
_ENDED = ("CANCEL", "ABORT", "TERMINAT", "ERROR", "FAIL", "DONE", "SUCCE", "FINISH",
          "COMPLET", "EXPIR", "STOP", "KILL", "REJECT")
# Stems of words that say a job runs.
# (INPROGRESS is IN PROGRESS written as one word: its IN negates nothing.)
_RUNNING = ("RUNNING", "PROGRESS", "INPROGRESS", "PROCESSING", "EXECUTING", "ACTIVE", "ONGOING")
# Words that say the rest does not hold, and prefixes that make a word its opposite.
_NEGATIONS = frozenset({"NOT", "NO", "YET", "NEVER", "NON"})
# (NOT too: NOTDONE, NOTRUNNING say what NOT_DONE, NOT_RUNNING do.)
_NEGATING_PREFIXES = ("UN", "IN", "NON", "NOT")


def _holds(token: str, stems: tuple[str, ...]) -> bool:
    """Whether ``token`` is, or ends in, one of ``stems`` not made its opposite by a prefix."""
    for stem in stems:
        at = token.find(stem)
        if at >= 0 and token[:at] not in _NEGATING_PREFIXES:
            return True
    return False


def read_state_words(text: str) -> StateReading | None:
    """What a state name this client does not know says of its job; None for no word."""
    tokens = [token for token in re.split(r"[^A-Z0-9]+", text.upper()) if token]
    if not tokens:
        return None
    if _NEGATIONS.intersection(tokens):
        return "not started"  # (not done, not running, yet to start: nothing proven)
    if any(_holds(token, _ENDED) for token in tokens):
        return "ended"
    if any(_holds(token, _RUNNING) for token in tokens):
        return "running"
    return "not started"
