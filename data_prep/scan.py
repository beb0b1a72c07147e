"""First pass over one shard: word counts, plus the shard's token stream as local integer ids.

Reading and tokenizing is the expensive part of a pass over text (decompression, regex, one
string object per token), so it is done once: every token is replaced by an id in a vocabulary
local to the shard (first-seen order, assigned by a ``defaultdict`` whose default factory is its
own ``len``: a dictionary lookup per token, all in C) and the ids are appended to a raw ``int32``
file. The counting pass maps these local ids to global ids with one array lookup instead of
reading and tokenizing the text again. The stream costs 4 bytes per token on disk (less than the
xz-compressed text) and is read back in chunks through a memory map.

With the default tokenizer on UTF-8 files, tokenizing goes through :mod:`data_prep.bytescan`
(bytes methods instead of a regex per token; same tokens).
"""
from __future__ import annotations

import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import bytescan
from .readers import ReadStats, read_bytes, read_text
from .sources import Shard
from .tokenize import MARKERS
from .vocab import WordCounts


@dataclass
class ShardScan:
    """Result of :func:`scan_shard`: the local vocabulary (id order) with counts."""

    words: list[str]
    counts: np.ndarray            # int64, counts[i] = occurrences of words[i] (markers too)
    n_ids: int                    # length of the id stream (tokens + markers)
    tokens: int                   # word tokens (markers excluded)
    read: ReadStats = field(default_factory=ReadStats)
    seconds: float = 0.0

    def word_counts(self) -> WordCounts:
        """Word counts without the boundary markers."""
        drop = [i for i, w in enumerate(self.words) if w in MARKERS]
        if not drop:
            return WordCounts(self.words, self.counts)
        mask = np.ones(len(self.words), bool)
        mask[drop] = False
        return WordCounts([w for w, k in zip(self.words, mask) if k], self.counts[mask])


def scan_shard(shard: Shard, tokenizer, ids_path: str | os.PathLike, *,
               encoding: str = "utf-8", chunk_bytes: int = 4 << 20,
               progress=None) -> ShardScan:
    """Tokenize ``shard``; write its local-id stream to ``ids_path``; return the counts.

    ``progress(tokens)`` is called after every chunk (for a progress bar).
    """
    t0 = time.perf_counter()
    stats = ReadStats()
    if not shard.is_nltk and bytescan.applies(tokenizer, encoding):
        fast = bytescan.ByteTokenizer()

        def chunks():
            for data in read_bytes(shard, encoding=encoding, chunk_bytes=chunk_bytes,
                                   stats=stats):
                ids, bad = fast(data)
                stats.bad_bytes += bad
                yield ids

        counts, n_ids = _write_stream(chunks(), ids_path, progress, fast.vocabulary)
        words = list(fast.vocabulary)
    else:
        local: defaultdict = defaultdict()
        local.default_factory = local.__len__
        lookup = local.__getitem__

        def chunks():
            for text in read_text(shard, encoding=encoding, chunk_bytes=chunk_bytes,
                                  stats=stats):
                toks = tokenizer(text)
                yield np.fromiter(map(lookup, toks), dtype=np.int32, count=len(toks))

        counts, n_ids = _write_stream(chunks(), ids_path, progress, local)
        words = list(local)
    markers = sum(int(counts[i]) for i, w in enumerate(words) if w in MARKERS)
    return ShardScan(words, counts, n_ids, n_ids - markers, stats, time.perf_counter() - t0)


def _write_stream(chunks, ids_path, progress, vocab: dict) -> tuple[np.ndarray, int]:
    """Append every chunk of ids to ``ids_path``; return the id counts and the length.
    ``vocab`` is the (growing) ``{token: id}`` local vocabulary."""
    counts = np.zeros(0, np.int64)
    n_ids = 0
    with open(ids_path, "wb") as out:
        for ids in chunks:
            ids.tofile(out)
            n_ids += len(ids)
            size = max(len(vocab), len(counts))
            chunk_counts = np.bincount(ids, minlength=size).astype(np.int64)
            if progress is not None:
                markers = sum(int(chunk_counts[vocab[m]]) for m in MARKERS if m in vocab)
                progress(len(ids) - markers)
            chunk_counts[:len(counts)] += counts
            counts = chunk_counts
    return counts, n_ids


def load_stream(ids_path: str | os.PathLike, n_ids: int) -> np.ndarray:
    """The local-id stream written by :func:`scan_shard`, memory-mapped (read-only)."""
    if n_ids == 0:
        return np.zeros(0, np.int32)
    size = Path(ids_path).stat().st_size
    if size != 4 * n_ids:
        raise OSError(f"{ids_path}: {size} bytes, expected {4 * n_ids}")
    return np.memmap(ids_path, dtype=np.int32, mode="r", shape=(n_ids,))
