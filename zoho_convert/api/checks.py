"""attrs validators shared by the immutable policy objects (``RetryPolicy``, ``PollPolicy``).

Messages name the class and the field, e.g. ``PollPolicy.initial must be positive``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs

__all__ = ["at_least", "finite_positive", "is_bool", "positive"]


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


def finite_positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    """Refuse zero, negative, NaN and infinite values (an infinite wait is a hang)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{type(instance).__name__}.{attribute.name} must be a number, got {value!r}"
        )
    if not 0 < value < math.inf:
        raise ValueError(
            f"{type(instance).__name__}.{attribute.name} must be positive and finite, got {value!r}"
        )


def is_bool(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Refuse anything but True or False (``"no"`` is truthy, and would mean yes)."""
    if not isinstance(value, bool):
        raise TypeError(
            f"{type(instance).__name__}.{attribute.name} must be True or False, got {value!r}"
        )
