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


def int_rule(minimum: int) -> str:
    """The words of a :func:`check_int` rule (shared with the CLI's argparse types)."""
    return f"an integer >= {minimum}"


def check_int(value, name: str, minimum: int) -> int:
    """``value`` as an int, or an LSEError naming ``name`` unless it is an integer >= minimum."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < minimum:
        raise LSEError(f"{name} must be {int_rule(minimum)} (got {value!r})")
    return int(value)


def number_rule(*, positive: bool = False, below=None, at_most=None) -> str:
    """The words of a :func:`check_number` rule, e.g. "a number in [0, 1)" (shared with the
    CLI's argparse types, so a library call and a command line say the same thing)."""
    lower = "(" if positive else "["
    if below is not None:
        return f"a number in {lower}0, {below})"
    if at_most is not None:
        return f"a number in {lower}0, {at_most}]"
    return "a number > 0" if positive else "a number >= 0"


def check_number(value, name: str, *, positive: bool = False, below=None, at_most=None,
                 alternative: str | None = None) -> float:
    """``value`` as a float, or an LSEError naming ``name`` unless it is a finite real number,
    >= 0 (> 0 when ``positive``), < ``below`` and <= ``at_most`` when given; ``alternative``
    names another accepted value for the message (the caller has ruled it out)."""
    valid = isinstance(value, numbers.Real) and not isinstance(value, bool) \
        and bool(np.isfinite(value)) and (value > 0 if positive else value >= 0) \
        and (below is None or value < below) and (at_most is None or value <= at_most)
    if not valid:
        either = f"{alternative} or " if alternative else ""
        rule = number_rule(positive=positive, below=below, at_most=at_most)
        raise LSEError(f"{name} must be {either}{rule} (got {value!r})")
    return float(value)
