"""A slow, obviously correct reference for ``lse prepare``'s counts (used by the tests).

Plain Python over plain lists: tokenize each line with the documented regex, split the text into
window segments, drop out-of-vocabulary words, then for every two tokens at distance
``k <= window`` in a segment add the exact fraction ``1/k`` to both ``X[a, b]`` and ``X[b, a]``.
Fractions are summed exactly (``fractions.Fraction``) and rounded to float64 once at the end.
"""
from __future__ import annotations

import re
from collections import Counter
from fractions import Fraction

WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def segments(documents: list[str], boundary: str) -> list[list[str]]:
    """Token lists that windows must not cross."""
    out: list[list[str]] = []
    for doc in documents:
        out.append([])
        for line in doc.split("\n"):
            toks = WORD.findall(line.lower())
            if boundary == "line" or (boundary == "paragraph" and not toks):
                out.append([])
            out[-1].extend(toks)
            if boundary == "line":
                out.append([])
    return [s for s in out if s]


def vocabulary(segs: list[list[str]], min_count: int, drop_top: int):
    counts = Counter(t for s in segs for t in s)
    ranked = sorted((w for w in counts if counts[w] >= min_count), key=lambda w: (-counts[w], w))
    dropped = set(ranked[:drop_top])
    kept = [w for w in ranked if w not in dropped]
    return kept, dropped, counts


def reference_counts(documents: list[str], *, window: int = 10, min_count: int = 1,
                     drop_top: int = 0, boundary: str = "line", oov: str = "remove"):
    """``(vocab, {(word_a, word_b): float count})``."""
    segs = segments(documents, boundary)
    kept, dropped, _ = vocabulary(segs, min_count, drop_top)
    in_vocab = set(kept)
    by_distance: Counter = Counter()  # (a, b, k) -> number of occurrences
    for seg in segs:
        if oov == "remove":
            seg = [t for t in seg if t in in_vocab or t in dropped]
        for i, a in enumerate(seg):
            for k in range(1, window + 1):
                if i + k >= len(seg):
                    break
                b = seg[i + k]
                if a in in_vocab and b in in_vocab:
                    by_distance[a, b, k] += 1
                    by_distance[b, a, k] += 1
    exact: dict = {}
    for (a, b, k), n in by_distance.items():
        exact[a, b] = exact.get((a, b), 0) + Fraction(n, k)
    return kept, {pair: float(value) for pair, value in exact.items()}
