"""Global vocabulary: merge per-shard counts, then drop rare and extremely common words.

Three kinds of words come out of :func:`build_vocabulary`:

* **kept** words get ids ``0..V-1`` in order of decreasing count (ties: by word), so the most
  frequent words have the smallest ids (the counter keeps a dense table for them);
* **dropped common** words (the ``drop_top`` most frequent, those above ``max_frequency`` of all
  tokens, stopwords) still occupy their window positions but form no pairs: the paper counts
  first and removes extremely common terms from the matrix afterwards, which is the same thing;
* every other word (count below ``min_count``, or beyond ``max_vocab``) is **out of
  vocabulary** and, as in GloVe, removed from the token stream before windowing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lse.errors import LSEError, check_int, check_number

#: Code of a dropped common word in the id map (a gap: occupies a position, forms no pair).
GAP = -1


class WordCounts:
    """Words with their counts, cheap to ship between Dask processes.

    Pickled as one NUL-joined string plus an int64 array (readers replace NUL bytes, so no
    token contains one), and with an O(1) ``__sizeof__``: Dask sizes every task result, and
    sizing a dict of a million words item by item costs more than merging it.
    """

    __slots__ = ("words", "counts")

    def __init__(self, words: list[str], counts):
        self.words = list(words)
        self.counts = np.asarray(counts, np.int64)

    @classmethod
    def from_dict(cls, mapping: dict[str, int]) -> "WordCounts":
        return cls(list(mapping), np.fromiter(mapping.values(), np.int64, len(mapping)))

    def as_dict(self) -> dict[str, int]:
        return dict(zip(self.words, self.counts.tolist()))

    def __len__(self) -> int:
        return len(self.words)

    def __getstate__(self):
        return "\0".join(self.words), self.counts

    def __setstate__(self, state):
        joined, self.counts = state
        self.words = joined.split("\0") if joined else []

    def __sizeof__(self) -> int:
        return 64 * len(self.words) + self.counts.nbytes


def merge_counts(a: WordCounts, b: WordCounts) -> WordCounts:
    """Sum two word counts (the tree-reduction step of the vocabulary pass)."""
    if len(a) < len(b):
        a, b = b, a
    out = a.as_dict()
    get = out.get
    for word, n in zip(b.words, b.counts.tolist()):
        out[word] = get(word, 0) + n
    return WordCounts.from_dict(out)


@dataclass(frozen=True)
class VocabOptions:
    """Which words become rows of the matrix (see the module docstring)."""

    min_count: int = 10
    max_vocab: int | None = 200_000
    drop_top: int = 50
    max_frequency: float | None = None
    stopwords: tuple[str, ...] = ()

    def __post_init__(self):
        check_int(self.min_count, "--min-count", 1)
        if self.max_vocab is not None:
            check_int(self.max_vocab, "--max-vocab", 1)
        check_int(self.drop_top, "--drop-top", 0)
        if self.max_frequency is not None:
            check_number(self.max_frequency, "--max-frequency", positive=True, at_most=1)


@dataclass
class Vocabulary:
    """Kept words (id order) and their counts, the dropped common words, and a summary."""

    words: list[str]
    counts: np.ndarray
    dropped: dict[str, int] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.words)

    def code_table(self) -> "CodeTable":
        return CodeTable(self.words, list(self.dropped))


class CodeTable:
    """What the counting tasks need of the vocabulary: word -> id (kept) or :data:`GAP`
    (dropped common). Shipped compactly (like :class:`WordCounts`); the dictionary is built
    once per process that receives it."""

    __slots__ = ("words", "dropped", "_codes")

    def __init__(self, words: list[str], dropped: list[str]):
        self.words, self.dropped, self._codes = list(words), list(dropped), None

    def codes(self) -> dict[str, int]:
        """``{word: id}`` for kept words and ``{word: GAP}`` for dropped common words."""
        if self._codes is None:
            out = dict.fromkeys(self.dropped, GAP)
            out.update(zip(self.words, range(len(self.words))))
            self._codes = out
        return self._codes

    def __getstate__(self):
        return "\0".join(self.words), "\0".join(self.dropped)

    def __setstate__(self, state):
        self.words, self.dropped = ([] if not s else s.split("\0") for s in state)
        self._codes = None

    def __sizeof__(self) -> int:
        return 64 * (len(self.words) + len(self.dropped))


def load_stopwords(spec: str, nltk_data: tuple[str, ...] = ()) -> tuple[str, ...]:
    """A stopword list: a file (one word per line) or an NLTK stopwords language name."""
    path = Path(spec)
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise LSEError(f"cannot read stopword file {spec}: {exc}") from None
        return tuple(w.strip().lower() for w in text.splitlines() if w.strip())
    from .sources import nltk_corpus

    reader = nltk_corpus("stopwords", tuple(nltk_data))
    if spec not in reader.fileids():
        raise LSEError(f"--stopwords {spec!r} is neither a file nor an NLTK stopwords language "
                       f"({', '.join(reader.fileids()[:8])}, ...)")
    return tuple(reader.words(spec))


def build_vocabulary(word_counts: WordCounts | dict[str, int],
                     options: VocabOptions) -> Vocabulary:
    """Apply ``options`` to corpus-wide counts; :class:`LSEError` if nothing is left."""
    if isinstance(word_counts, dict):
        word_counts = WordCounts.from_dict(word_counts)
    total = int(word_counts.counts.sum())
    if total == 0:
        raise LSEError("the corpus contains no tokens (empty files, or nothing the tokenizer "
                       "recognises as a word)")
    words = np.array(word_counts.words, dtype=object)
    counts = word_counts.counts
    # candidates: only frequent-enough words need sorting (rare ones are out of vocabulary)
    cand = np.flatnonzero(counts >= options.min_count)
    order = sorted(cand.tolist(), key=lambda i: (-counts[i], words[i]))
    common = set(order[:options.drop_top])
    if options.max_frequency is not None:
        common.update(i for i in order if counts[i] > options.max_frequency * total)
    stop = set(options.stopwords)
    common.update(i for i in order if words[i] in stop)
    kept = [i for i in order if i not in common]
    if options.max_vocab is not None:
        kept = kept[:options.max_vocab]
    summary = {"distinct_words": len(word_counts), "tokens": int(total),
               "words_min_count": len(order), "dropped_common": len(common),
               "vocabulary": len(kept),
               "token_coverage": float(counts[kept].sum() / total) if kept else 0.0}
    if not kept:
        raise LSEError(
            f"the vocabulary is empty after filtering: {len(word_counts)} distinct words, "
            f"{len(order)} with count >= --min-count {options.min_count}, of which "
            f"{len(common)} dropped as extremely common (--drop-top {options.drop_top}, "
            f"--max-frequency, --stopwords); lower --min-count or --drop-top")
    return Vocabulary([words[i] for i in kept], counts[kept].copy(),
                      {words[i]: int(counts[i]) for i in order if i in common},
                      summary)
