"""What the benchmark protocols (:mod:`lse.image_benchmark`, :mod:`lse.label_benchmark`) share.

Each benchmark keeps its own table of per-model settings, tuned on its own validation data;
this module resolves a model's row against the command line's overrides, so both read the
table the same way and reject an unknown model with the same message. It also summarizes
repeated runs over seeds (``--repeat``), the same way for both.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .errors import LSEError


def select_params(table: dict, model: str, overrides: dict) -> dict:
    """``table[model]`` updated with ``overrides``; an unknown model is an :class:`LSEError`."""
    if model not in table:
        raise LSEError(f"unknown model {model!r}; choose one of {', '.join(table)} or all")
    return {**table[model], **overrides}


@dataclass(frozen=True)
class SeedMetric:
    """A number read off every run's result dict, to summarize over seeds."""
    name: str                       # JSON key; column title with "_" as a space
    value: Callable[[dict], float]
    digits: int = 3


def by_model(result: dict) -> tuple:
    """Group runs by model only (the first element of a group key is always the model)."""
    return (result["model"],)


def summarize_seeds(results: list[dict], metrics: list[SeedMetric],
                    group: Callable[[dict], tuple] = by_model, reference: str = "lse") -> dict:
    """Mean and spread over seeds per group of runs, and paired differences to ``reference``.

    Why: one seed, or a few, cannot rank two close models. On Bibtex, LSE and DCH came out in
    opposite orders over 3 and over 8 seeds, and tied over 16; the comparison to read is the
    per-seed difference on the *same* seeds with its standard error.

    ``results``: one result dict per run, each with ``model`` and ``seed``. ``group`` maps a
    run to its group key, a tuple starting with the model (e.g. ``(model, "32 bits")``); the
    group's name is the key joined by spaces. Per group: the seeds and the mean / std (ddof 0)
    of every metric. Per group of another model whose reference group (same key, model
    ``reference``) shares at least two seeds with it: the mean of ``reference - model`` in
    ``metrics[0]`` over the shared seeds, its standard error (std with ddof 1 / sqrt(n)) and
    the number of seeds where the reference is ahead.
    """
    runs: dict = {}
    for r in results:
        runs.setdefault(group(r), {})[r["seed"]] = r

    def spread(values):
        return {"mean": float(np.mean(values)), "std": float(np.std(values))}

    def name(key):
        return " ".join(str(part) for part in key)

    groups = {name(key): {"seeds": sorted(by_seed),
                          **{m.name: spread([m.value(by_seed[s]) for s in sorted(by_seed)])
                             for m in metrics}}
              for key, by_seed in runs.items()}
    paired = {}
    compared = metrics[0]
    for key, by_seed in runs.items():
        ref = runs.get((reference, *key[1:]))
        if key[0] == reference or ref is None:
            continue
        seeds = sorted(set(by_seed) & set(ref))
        if len(seeds) < 2:
            continue
        diff = np.array([compared.value(ref[s]) - compared.value(by_seed[s]) for s in seeds])
        paired[name(key)] = {"reference": name((reference, *key[1:])), "metric": compared.name,
                             "seeds": seeds, "mean_difference": float(diff.mean()),
                             "std_error": float(diff.std(ddof=1) / np.sqrt(len(diff))),
                             "reference_ahead": int((diff > 0).sum())}
    return {"models": groups, "paired": paired}


def format_seed_summary(summary: dict, metrics: list[SeedMetric]) -> str:
    """The table of :func:`summarize_seeds`: a row per group, then the paired differences."""
    def title(group):  # "dch 32 bits" -> "DCH 32 bits"
        model, _, rest = group.partition(" ")
        return f"{model.upper()} {rest}".rstrip()

    width = max([12] + [len(g) + 2 for g in summary["models"]])
    head = f"{'over seeds':<{width}}{'n':>4}" + "".join(f"{m.name.replace('_', ' '):>18}"
                                                       for m in metrics)
    lines = [head, "-" * len(head)]
    for group, s in summary["models"].items():
        cells = "".join(f"{s[m.name]['mean']:>10.{m.digits}f} +- {s[m.name]['std']:<4.{m.digits}f}"
                        for m in metrics)
        lines.append(f"{title(group):<{width}}{len(s['seeds']):>4}{cells}")
    for group, p in summary["paired"].items():
        lines.append(f"{title(p['reference'])} - {title(group)} {p['metric'].replace('_', ' ')} "
                     f"per seed: {p['mean_difference']:+.4f} +- {p['std_error']:.4f} "
                     f"(std. error), {p['reference'].split()[0].upper()} ahead on "
                     f"{p['reference_ahead']} of {len(p['seeds'])} seeds")
    return "\n".join(lines)
