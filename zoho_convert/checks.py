"""attrs validators shared by the immutable policy objects (``RetryPolicy``, ``PollPolicy``).

Messages name the class and the field, e.g. ``PollPolicy.initial must be positive``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

__all__ = ["at_least", "positive"]


def positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    """Refuse zero, negative and NaN values."""
    if not value > 0:  # also refuses NaN
        raise ValueError(
            f"{type(instance).__name__}.{attribute.name} must be positive, got {value!r}"
        )


def at_least(bound: float) -> Callable[[object, attrs.Attribute[Any], float], None]:
    """A validator refusing values below ``bound`` (and NaN)."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
        if not value >= bound:
            raise ValueError(
                f"{type(instance).__name__}.{attribute.name} must be at least {bound:g}, "
                f"got {value!r}"
            )

    return check
