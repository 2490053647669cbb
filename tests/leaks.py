"""What a secrets test searches for leaked credentials, shared by the unit and integration tests.

Imported as ``leaks``, like ``fakes``: pytest's default "prepend" import mode puts ``tests/``
(the folder of the root ``conftest.py``) on ``sys.path``.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator


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
