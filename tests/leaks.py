"""How the secrets tests search for leaked credentials: shared by unit, integration, CLI tests.

A leak is any piece of a secret, not only the whole of it: a repr that shows the first four
characters of a client secret is a leak. So the checks look for every window of ``PIECE``
characters of every secret. For that to mean anything, the tests' secrets are made by
:func:`fake_secret` from letters that never stand four in a row in ordinary text (English,
hex, numbers, JSON, Python reprs), so a piece found is a piece leaked, never a coincidence.

Imported as ``leaks``, like ``fakes``: pytest's default "prepend" import mode puts ``tests/``
(the folder of the root ``conftest.py``) on ``sys.path``.
"""

from __future__ import annotations

import random
import traceback
from collections.abc import Iterable, Iterator

PIECE = 4

# No English word, hex digit, number or keyword has four of these in a row.
RARE_LETTERS = "jkqvwxzJKQVWXZ"


def fake_secret(label: str, length: int = 32) -> str:
    """A fixed secret-like string for ``label``: rare letters only, no letter twice in a row.

    Fixed (seeded by the label) so failures reproduce; no repeated letter so that no piece is
    a run such as ``xxxx`` that a placeholder could contain.
    """
    rng = random.Random(label)
    letters: list[str] = []
    while len(letters) < length:
        letter = rng.choice(RARE_LETTERS)
        if not letters or letters[-1].lower() != letter.lower():
            letters.append(letter)
    return "".join(letters)


def pieces(secret: str, size: int = PIECE) -> set[str]:
    """Every window of ``size`` characters of ``secret`` (the secret itself if shorter)."""
    if len(secret) <= size:
        return {secret}
    return {secret[start : start + size] for start in range(len(secret) - size + 1)}


def leaked_pieces(text: str, secrets: Iterable[str], size: int = PIECE) -> set[str]:
    """The pieces of any of ``secrets`` found in ``text`` (empty when nothing leaked)."""
    wanted: set[str] = set()
    short: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        (short if len(secret) < size else wanted).update(pieces(secret, size))
    # One pass over the text's windows, not one search per piece: texts can be whole logs.
    found = wanted.intersection(text[start : start + size] for start in range(len(text)))
    return found | {secret for secret in short if secret in text}


def assert_no_secret(
    texts: Iterable[str], secrets: Iterable[str], where: str, size: int = PIECE
) -> None:
    """Fail, naming ``where`` and the pieces, if any text holds a piece of any secret.

    Args:
        texts: what to search (messages, reprs, log lines, file contents, CLI output).
        secrets: the secrets, whole; their pieces are derived here.
        where: what the texts are, for the failure message.
        size: the piece length; only lengthen it for secrets the test did not choose (tokens
            minted by the simulator are hex, whose short pieces occur in ids by chance).
    """
    secrets = list(secrets)
    for text in texts:
        found = leaked_pieces(text, secrets, size)
        assert not found, f"secret pieces {sorted(found)} leaked into {where}: {text[:300]!r}"


def exception_texts(error: BaseException) -> Iterator[str]:
    """str, repr, args, traceback and attributes of an error and of every error chained to it."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield str(current)
        yield repr(current)
        yield repr(current.args)
        yield repr(vars(current)) if hasattr(current, "__dict__") else ""
        yield "".join(traceback.format_exception(current))
        current = current.__cause__ or current.__context__
