"""Argument checks for the layers below scikit-learn: audio, segments, nn.

Those layers import neither scikit-learn nor (audio, segments) torch, so they
cannot use scikit-learn's ``validate_params``; these checks give the same
answers everywhere below it (a bool is never an integer, a number must be
finite) and messages that name the argument, repeat the value and say what
was expected. The estimators and transformers validate their parameters with
scikit-learn's own machinery (``_parameter_constraints``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection

__all__ = ["check_int", "check_option", "check_real"]


def check_int(name: str, value, *, low: int = 1, none: bool = False) -> int | None:
    """``value`` as an int ``>= low`` (``None`` passes when ``none``); bools are refused."""
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        what = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise ValueError(f"{name} must be {what}{' or None' if none else ''}, got {value!r}.")
    return int(value)


def check_real(name: str, value, *, low: float | None = None, high: float | None = None,
               low_open: bool = False, none: bool = False) -> float | None:
    """``value`` as a finite float within the bounds (``None`` passes when ``none``)."""
    if value is None and none:
        return None
    ok = (not isinstance(value, bool) and isinstance(value, numbers.Real)
          and math.isfinite(value)
          and (low is None or (value > low if low_open else value >= low))
          and (high is None or value <= high))
    if not ok:
        bounds = []
        if low is not None:
            bounds.append(f"{'>' if low_open else '>='} {low}")
        if high is not None:
            bounds.append(f"<= {high}")
        what = "a finite number" + (f" {' and '.join(bounds)}" if bounds else "")
        raise ValueError(f"{name} must be {what}{' or None' if none else ''}, got {value!r}.")
    return float(value)


def check_option(name: str, value, options: Collection):
    """``value`` if it is one of ``options``."""
    if value not in options:
        raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}.")
    return value
