"""One exception type for every problem the *user* can fix.

The CLI turns an :class:`LSEError` into a one-line message and a non-zero exit code, never a
traceback. Library callers get an ordinary exception (a ``ValueError`` subclass, so code that
already validates with ``ValueError`` keeps working). :func:`check_int` and
:func:`check_number` are the checks of user-given parameters, so that a string or None is
refused with the parameter's name instead of failing later as a bare ``TypeError``.
"""
from __future__ import annotations

import numbers

import numpy as np


class LSEError(ValueError):
    """Bad input, a missing resource, or a corrupt file: the message says which and how to fix it."""


def check_int(value, name: str, minimum: int) -> int:
    """``value`` as an int, or an LSEError naming ``name`` unless it is an integer >= minimum."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < minimum:
        raise LSEError(f"{name} must be an integer >= {minimum} (got {value!r})")
    return int(value)


def check_number(value, name: str, *, positive: bool = False, below=None,
                 alternative: str | None = None) -> None:
    """An LSEError naming ``name`` unless ``value`` is a finite real number, >= 0 (> 0 when
    ``positive``) and < ``below`` when given; ``alternative`` names another accepted value
    for the message (the caller has ruled it out)."""
    valid = isinstance(value, numbers.Real) and not isinstance(value, bool) \
        and bool(np.isfinite(value)) and (value > 0 if positive else value >= 0) \
        and (below is None or value < below)
    if not valid:
        wanted = ("> 0" if positive else ">= 0") if below is None \
            else f"in {'(' if positive else '['}0, {below})"
        either = f"{alternative} or " if alternative else ""
        raise LSEError(f"{name} must be {either}a number {wanted} (got {value!r})")
