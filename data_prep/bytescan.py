"""Fast path of the default tokenizer: UTF-8 bytes -> token ids, without a regex per token.

The default word pattern (:data:`data_prep.tokenize.DEFAULT_TOKEN_PATTERN`) never matches an
ASCII character other than letters, digits and the apostrophe. So the text can first be cut at
every other ASCII byte with C-speed ``bytes`` methods (``lower`` for ASCII letters, one
``translate`` mapping separators to spaces, ``split``), and the regex only needs to run once
per *distinct* raw piece that is not plain ASCII alphanumerics (pieces with apostrophes or
non-ASCII letters, a few percent of a vocabulary). A raw piece maps to zero, one or several
canonical tokens (``"'quoted'"`` -> ``quoted``; ``"x—y"`` -> ``x``, ``y``); the id stream is
expanded accordingly with one vectorised gather. The result equals the regex tokenizer's on the
decoded text (the one known difference: Python's context-dependent lower-casing of a Greek
capital final sigma directly followed by punctuation and a letter).

Undecodable bytes are all inside raw pieces (every byte >= 0x80 is kept in a piece), so they
are counted per distinct piece and multiplied by its occurrences.
"""
from __future__ import annotations

import codecs
from collections import defaultdict
from itertools import chain, islice

import numpy as np

from .readers import _counter
from .tokenize import DEFAULT_TOKEN_PATTERN, DOC, LINE, RegexTokenizer

_LINE_BYTE = b"\x1e"


def _table() -> bytes:
    """Bytes -> themselves for ASCII letters/digits, the apostrophe and non-ASCII; the line
    end -> ``\x1e`` (not whitespace to ``bytes.split``); the document marker -> itself; every
    other byte -> space."""
    keep = set(b"abcdefghijklmnopqrstuvwxyz0123456789'") | set(range(0x80, 0x100))
    table = bytearray(b if b in keep else 0x20 for b in range(256))
    table[ord("\n")] = _LINE_BYTE[0]
    table[ord(DOC)] = ord(DOC)
    return bytes(table)


_TABLE = _table()


def applies(tokenizer, encoding: str) -> bool:
    """True when ``tokenizer`` is the default lower-casing regex tokenizer on UTF-8 input."""
    try:
        utf8 = codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return False
    return (utf8 and isinstance(tokenizer, RegexTokenizer) and tokenizer.lowercase
            and tokenizer.pattern == DEFAULT_TOKEN_PATTERN)


class _Grow:
    """An append-only numpy vector with amortised O(1) appends."""

    def __init__(self, dtype):
        self.data = np.zeros(1024, dtype)
        self.n = 0

    def extend(self, values) -> None:
        values = np.asarray(values, self.data.dtype)
        while self.n + len(values) > len(self.data):
            self.data = np.concatenate([self.data, np.zeros_like(self.data)])
        self.data[self.n:self.n + len(values)] = values
        self.n += len(values)

    def view(self) -> np.ndarray:
        return self.data[:self.n]


class ByteTokenizer:
    """Stateful per shard: ``ids, bad_bytes = tok(chunk_bytes)``; :attr:`vocabulary` maps the
    canonical tokens (markers included) to those ids."""

    def __init__(self):
        self._raw: defaultdict = defaultdict()
        self._raw.default_factory = self._raw.__len__
        self._canon: defaultdict = defaultdict()
        self._canon.default_factory = self._canon.__len__
        self._regex = RegexTokenizer()
        self._length = _Grow(np.int32)   # canonical tokens per raw piece
        self._start = _Grow(np.int64)    # where they start in _flat
        self._flat = _Grow(np.int32)     # canonical ids
        self._bad = _Grow(np.int64)      # undecodable bytes per raw piece
        self._simple = True              # every raw piece is exactly one canonical token
        self._any_bad = False

    @property
    def vocabulary(self) -> dict[str, int]:
        """``{canonical token: id}`` (markers included), in id order."""
        return self._canon

    def _learn(self, pieces: list[bytes]) -> None:
        """Canonical tokens of new raw pieces. Plain ASCII alphanumeric pieces (most) are
        their own token and go through C-level ``map``s; only the rest meet the regex."""
        canon = self._canon.__getitem__
        plain = np.fromiter(map(bytes.isalnum, pieces), bool, len(pieces))
        other = np.flatnonzero(~plain).tolist()
        lengths = np.ones(len(pieces), np.int64)
        bad = np.zeros(len(pieces), np.int64)
        other_ids = []
        for i in other:
            piece = pieces[i]
            if piece == _LINE_BYTE:
                toks = [LINE]
            elif piece == b"\x1d":
                toks = [DOC]
            else:
                _counter.bad = 0
                toks = self._regex(piece.decode("utf-8", "lse-count"))
                bad[i] = _counter.bad
            lengths[i] = len(toks)
            other_ids.append(list(map(canon, toks)))
        ends = np.cumsum(lengths)
        starts = ends - lengths
        flat = np.empty(int(ends[-1]) if len(ends) else 0, np.int32)
        plain_at = np.flatnonzero(plain)
        flat[starts[plain_at]] = np.fromiter(
            map(canon, map(bytes.decode, [pieces[i] for i in plain_at.tolist()])), np.int32,
            len(plain_at))
        if other:  # one scatter for all their tokens
            at, n = starts[other], lengths[other]
            flat[np.repeat(at - (np.cumsum(n) - n), n) + np.arange(int(n.sum()))] = \
                np.fromiter(chain.from_iterable(other_ids), np.int32, int(n.sum()))
        self._length.extend(lengths)
        self._start.extend(starts + self._flat.n)
        self._flat.extend(flat)
        self._bad.extend(bad)
        self._simple = self._simple and bool((lengths == 1).all())
        self._any_bad = self._any_bad or bool(bad.any())

    def __call__(self, data: bytes) -> tuple[np.ndarray, int]:
        data = data.lower().translate(_TABLE)
        if _LINE_BYTE in data:
            data = data.replace(_LINE_BYTE, b" \x1e ")
        if b"\x1d" in data:
            data = data.replace(b"\x1d", b" \x1d ")
        pieces = data.split()
        known = len(self._raw)
        raw = np.fromiter(map(self._raw.__getitem__, pieces), np.int32, len(pieces))
        if len(self._raw) > known:  # new pieces, in id order (= the dict's insertion order)
            self._learn(list(islice(self._raw, known, None)))
        bad = int(self._bad.view()[raw].sum()) if self._any_bad else 0
        if self._simple:
            return self._flat.view()[self._start.view()[raw]], bad
        lengths = self._length.view()[raw]
        ends = np.cumsum(lengths)
        positions = np.repeat(self._start.view()[raw] - (ends - lengths), lengths)
        positions += np.arange(int(ends[-1]) if len(ends) else 0)
        return self._flat.view()[positions], bad
