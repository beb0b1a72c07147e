"""Options shared by the benchmark commands (``map-benchmark``, ``label-benchmark``): models,
training length and optimisation, per-model overrides, output; and their checks."""
from __future__ import annotations

import argparse

from .common import (fraction, nonnegative_number, output_file, positive_int,
                     positive_number)


def int_list(text: str, minimum: int = 1) -> list[int]:
    """Comma-separated integers >= ``minimum`` (an argparse ``type``)."""
    rule = f"comma-separated integers >= {minimum}"
    try:
        values = [int(b) for b in text.split(",") if b.strip()]
    except ValueError:
        values = []
    if not values or min(values) < minimum:
        raise argparse.ArgumentTypeError(f"must be {rule} (got {text!r})")
    return values


def radius_list(text: str) -> list[int]:
    """Comma-separated Hamming radii (integers >= 0)."""
    return int_list(text, minimum=0)


def add_training_arguments(p, epochs: int, epochs_help: str, learning_rate: float | None,
                           warmup: float, clipnorm: float, hidden: list | None = None,
                           dropout: float | None = None) -> None:
    """Options shared by the benchmark commands: models, training length and settings, output.

    A default of None (``learning_rate``, ``hidden``, ``dropout``) means each model's tuned
    value, filled in by the benchmark from its per-model table."""
    p.add_argument("--model", default="all", choices=["lse", "cos", "dch", "dhn", "all"],
                   help="hashing model, or all four")
    p.add_argument("--epochs", type=positive_int, default=epochs, help=epochs_help)
    tuned = "; None: each model's tuned value"
    p.add_argument("--hidden", type=int_list, default=hidden,
                   help="hidden layer widths of the tower, e.g. 1024 or 512,512"
                        + ("" if hidden else tuned))
    p.add_argument("--dropout", type=fraction, default=dropout,
                   help="rate of the dropout mask shared by both halves of a pair"
                        + ("" if dropout is not None else tuned))
    p.add_argument("--learning-rate", type=positive_number, default=learning_rate,
                   help="Adam's peak rate (after the warm-up; cosine decay to 0)"
                        + ("" if learning_rate else tuned))
    p.add_argument("--warmup", type=fraction, default=warmup,
                   help="fraction of the steps with a linear learning-rate warm-up from 0")
    p.add_argument("--clipnorm", type=nonnegative_number, default=clipnorm,
                   help="clip each variable's gradient to this norm (0: no clipping)")
    p.add_argument("--k", type=positive_number, help="override K of every model")
    p.add_argument("--beta", type=nonnegative_number,
                   help="override beta (weight of negatives) of every model")
    p.add_argument("--beta-on", choices=["all", "hard"],
                   help="override where beta applies: every negative, or hard negatives only")
    p.add_argument("--quantization", choices=["logcosh", "cauchy", "none"],
                   help="override the quantization loss: DHN's log cosh(|u| - 1) or DCH's Cauchy")
    p.add_argument("--quantization-weight", type=nonnegative_number,
                   help="override lambda of every model")
    p.add_argument("--seed", type=int, default=0, help="seed of sampling and initialisation")
    p.add_argument("--json", metavar="PATH", type=output_file, help="also write the results as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def model_overrides(args, *names) -> dict:
    """The per-model settings given on the command line (``--k`` ...), for ``select_params``."""
    given = ("k", "beta", "beta_on", "quantization", "quantization_weight") + names
    values = {name: getattr(args, name) for name in given}
    return {name: tuple(value) if isinstance(value, list) else value
            for name, value in values.items() if value is not None}
