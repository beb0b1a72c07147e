"""What the benchmark protocols (:mod:`lse.image_benchmark`, :mod:`lse.label_benchmark`) share.

Each benchmark keeps its own table of per-model settings, tuned on its own validation data;
this module only resolves a model's row against the command line's overrides, so both read
the table the same way and reject an unknown model with the same message.
"""
from __future__ import annotations

from .errors import LSEError


def select_params(table: dict, model: str, overrides: dict) -> dict:
    """``table[model]`` updated with ``overrides``; an unknown model is an :class:`LSEError`."""
    if model not in table:
        raise LSEError(f"unknown model {model!r}; choose one of {', '.join(table)} or all")
    return {**table[model], **overrides}
