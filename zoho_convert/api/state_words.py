"""Reading a job state this client does not know by its words.

Zoho documents four states (SCHEDULED, IN PROGRESS, COMPLETED, FAILED), but its OpenAPI spec
types the status as a bare string, and a server may name them otherwise. What matters to a run
is what such a state says of the job: that it runs (RUNNING, STARTED, RETRYING, and an end
still under way: STOPPING, CANCELLING), that it ended (CANCELLED, ABORTED, DONE, CLOSED: what
it did cannot be told, and it may never change again), or neither (QUEUED, PENDING,
NOT_STARTED, INCOMPLETE, a word not known: read as not started, the safe reading for the
queued-job rule: a job not known to have started proves nothing of how the server runs its
jobs). Each word is read on its own: a word saying the job runs outweighs one saying it ended
(RUNNING_WITH_ERRORS); a negation (NOT, NO, NEVER, NON) turns the word after it (NOT_DONE,
FAILED_NOT_RETRYING), a prefix its own word (INCOMPLETE, UNFINISHED, NOTRUNNING); YET anywhere
says the job has not started.
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["StateReading", "read_state_words"]

StateReading = Literal["ended", "running", "not started"]

# Stems of words that say a job runs. (INPROGRESS is IN PROGRESS as one word: its IN negates
# nothing; INPROCESS the same.)
_RUNNING = ("INPROGRESS", "INPROCESS", "RUNNING", "PROGRESS", "PROCESSING", "EXECUTING",
            "ACTIVE", "ONGOING", "STARTED", "RETRY", "RETRIES", "WORKING", "BUSY")
# Stems of words that say a job has ended (a word ending in ING says it is ending: it runs).
_ENDED = ("CANCEL", "ABORT", "TERMINAT", "ERROR", "FAIL", "DONE", "SUCCE", "FINISH", "COMPLET",
          "EXPIR", "STOP", "KILL", "REJECT", "ENDED", "CLOSED", "PROCESSED", "TIMEOUT", "TIMED")
# Ended stems a prefix turns (INCOMPLETE, UNFINISHED, NOTDONE), and the prefixes that do.
_TURNED = ("COMPLET", "FINISH", "DONE")
_PREFIXES = ("UN", "IN", "NON", "NOT")
# Words that turn the word after them.
_NEGATIONS = frozenset({"NOT", "NO", "NEVER", "NON"})


def _says(token: str) -> StateReading | None:
    """What one word says on its own (None: nothing, or the opposite of what it names)."""
    for stem in _RUNNING:
        at = token.find(stem)
        if at >= 0:
            return None if token[:at] in _PREFIXES else "running"  # (NOTRUNNING: neither)
    for stem in _ENDED:
        at = token.find(stem)
        if at < 0:
            continue
        if stem in _TURNED and token[:at] in _PREFIXES:
            return None  # (INCOMPLETE: not ended, nor known to run)
        return "running" if token.endswith("ING") else "ended"  # (STOPPING: still under way)
    return None


def read_state_words(text: str) -> StateReading | None:
    """What a state name this client does not know says of its job; None for no word."""
    words = [token for token in re.split(r"[^A-Z0-9]+", text.upper()) if token]
    tokens: list[str] = []
    for word in words:  # (IN PROCESS, IN QUEUE: one word, as INPROCESS)
        if tokens and tokens[-1] == "IN":
            tokens[-1] += word
        else:
            tokens.append(word)
    if not tokens:
        return None
    if "YET" in tokens:
        return "not started"  # (YET TO START)
    said: set[StateReading] = set()
    turned = False
    for token in tokens:
        if token in _NEGATIONS:
            turned = True
            continue
        reading = None if turned else _says(token)
        turned = False
        if reading is not None:
            said.add(reading)
    if "running" in said:
        return "running"
    return "ended" if "ended" in said else "not started"
