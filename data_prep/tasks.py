"""The pipeline's tasks: module-level functions that run on a worker (or in-process).

Every task takes and returns small objects and keeps its bulk data in the work directory,
each file written atomically under a name derived from everything that determines its content.
A re-run with ``--resume`` therefore recognises finished work by name alone (a changed corpus
file or option changes the name), and a killed run leaves at worst some ``*.tmp`` files,
which are ignored.

Work directory files (``KEY``: fingerprints, see :func:`fingerprint`):

* ``scan-KEY.ids`` / ``scan-KEY.pkl``: a shard's local-id stream and its :class:`ShardScan`;
* ``count-KEY.json`` + ``run-KEY-N/``: a shard's symmetric scaled counts (one or more runs);
* ``block-KEY-N/``: the sum of all runs over one range of rows, only when all blocks together
  would not fit the workers' memory budget (otherwise a block stays in the memory of the worker
  that reduced it, where it is filtered);
* ``counts-KEY.npz``: the final counts (float64, isolated words pruned), laid out by the
  client and filled in place by the row blocks' tasks (:class:`~data_prep.sparse_io.CSRNpz`),
  then moved into the dataset directory.
"""
from __future__ import annotations

import hashlib
import json
import pickle
from itertools import repeat
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from lse.io import atomic_path

from .cooccur import BOUNDARY, GAP, REMOVE, CooccurrenceCounter, sum_csr
from .executor import tune_malloc
from .filtering import compress_indptr, filter_block, row_groups
from .scan import ShardScan, load_stream, scan_shard
from .sources import Shard
from .sparse_io import CSRDir, CSRNpz, save_csr_dir
from .tokenize import DOC, LINE
from .vocab import CodeTable

#: Code of a line end in ``--boundary paragraph`` mode, resolved by :func:`_paragraphs`.
_LINE = -4
#: Ids mapped to codes per step of the counting pass (bounds its memory).
_MAP_CHUNK = 1 << 20
#: Bumped whenever the layout of work-directory files changes, so old files are not reused.
WORK_FORMAT = 1


def fingerprint(*parts) -> str:
    """A short hash naming a work-directory file after everything that determines it."""
    return hashlib.sha1(repr((WORK_FORMAT, parts)).encode()).hexdigest()[:16]


def _write_pickle(obj, path: Path) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)


def _read_pickle(path: Path):
    with open(path, "rb") as fh:
        return pickle.load(fh)


# -- pass 1: scan ------------------------------------------------------------------------------
def scan_task(shard: Shard, key: str, workdir: str, tokenizer, encoding: str,
              progress=None) -> dict:
    """Scan one shard (or reuse a finished scan); return its word counts and statistics."""
    tune_malloc()
    workdir = Path(workdir)
    meta, ids = workdir / f"scan-{key}.pkl", workdir / f"scan-{key}.ids"
    if meta.exists() and ids.exists():
        scan: ShardScan = _read_pickle(meta)
        reused = True
    else:
        with atomic_path(ids) as tmp:
            scan = scan_shard(shard, tokenizer, tmp, encoding=encoding, progress=progress)
        _write_pickle(scan, meta)
        reused = False
    return {"key": key, "word_counts": scan.word_counts(), "tokens": scan.tokens,
            "bytes": scan.read.bytes, "bad_bytes": scan.read.bad_bytes,
            "documents": scan.read.documents, "seconds": scan.seconds, "reused": reused}


def word_counts_of(result: dict) -> dict:
    return result["word_counts"]


# -- pass 2: count -----------------------------------------------------------------------------
def _code_table(words: list[str], codes: dict[str, int], boundary: str,
                oov: str) -> np.ndarray:
    default = REMOVE if oov == "remove" else GAP
    table = np.fromiter(map(codes.get, words, repeat(default)), np.int32, len(words))
    line = {"line": BOUNDARY, "paragraph": _LINE, "document": REMOVE}[boundary]
    for i, w in enumerate(words):
        if w == LINE:
            table[i] = line
        elif w == DOC:
            table[i] = BOUNDARY
    return table


def _paragraphs(codes: np.ndarray, previous_was_line: bool) -> tuple[np.ndarray, bool]:
    """A line end right after another line end (a line without words) ends a paragraph;
    every other line end is dropped."""
    is_line = codes == _LINE
    before = np.empty_like(is_line)
    before[0] = previous_was_line
    before[1:] = is_line[:-1]
    codes = codes.copy()
    codes[is_line] = REMOVE
    codes[is_line & before] = BOUNDARY
    return codes, bool(is_line[-1])


def count_task(scan_key: str, key: str, workdir: str, codes: CodeTable, vocab_size: int,
               window: int, boundary: str, oov: str, memory_limit: int,
               progress=None) -> dict:
    """Count one shard's windows into one or more run directories (or reuse them)."""
    tune_malloc()
    workdir = Path(workdir)
    done = workdir / f"count-{key}.json"
    if done.exists():
        info = json.loads(done.read_text())
        if all((workdir / r).is_dir() for r in info["runs"]):
            return dict(info, reused=True)
    scan: ShardScan = _read_pickle(workdir / f"scan-{scan_key}.pkl")
    table = _code_table(scan.words, codes.codes(), boundary, oov)
    runs: list[str] = []

    def spill(matrix: sp.csr_matrix) -> None:
        name = f"run-{key}-{len(runs)}"
        save_csr_dir(matrix, workdir / name)
        runs.append(name)

    counter = CooccurrenceCounter(vocab_size, window, memory_limit=memory_limit, spill=spill)
    stream = load_stream(workdir / f"scan-{scan_key}.ids", scan.n_ids)
    was_line = False
    markers = [i for i, w in enumerate(scan.words) if w in (LINE, DOC)]
    for lo in range(0, len(stream), _MAP_CHUNK):
        ids = stream[lo:lo + _MAP_CHUNK]
        chunk = table[ids]
        if boundary == "paragraph":
            chunk, was_line = _paragraphs(chunk, was_line)
        counter.feed(chunk)
        if progress is not None:
            progress(len(ids) - sum(int(np.count_nonzero(ids == m)) for m in markers))
    del stream
    last = counter.flush()
    if last.nnz or not runs:
        spill(last)
    info = {"runs": runs, "events": int(counter.events), "tokens": scan.tokens,
            "scale": counter.L}
    with atomic_path(done) as tmp:
        Path(tmp).write_text(json.dumps(info))
    return dict(info, reused=False)


# -- reduce, filter, final counts ----------------------------------------------------------------
def reduce_block_task(workdir: str, runs: list[str], lo: int, hi: int,
                      spill_as: str | None = None) -> sp.csr_matrix | str:
    """Rows ``lo:hi`` of the sum of every run. The block normally stays in the memory of the
    worker that made it (the filter and final-count tasks of the block run there); with
    ``spill_as`` (when all blocks together would not fit the workers' memory budget) it is
    written to ``workdir/spill_as`` and only that name is returned."""
    tune_malloc()
    workdir = Path(workdir)
    block = sum_csr(CSRDir(workdir / r).rows(lo, hi) for r in runs)
    if spill_as is None:
        return block
    save_csr_dir(block, workdir / spill_as)
    return spill_as


def _block(block: sp.csr_matrix | str, workdir: str) -> sp.csr_matrix:
    return CSRDir(Path(workdir) / block).load() if isinstance(block, str) else block


def row_sums(block: sp.csr_matrix | str, workdir: str) -> tuple[np.ndarray, int]:
    block = _block(block, workdir)
    return np.asarray(block.sum(axis=1), np.int64).ravel(), int(block.nnz)


def filter_block_task(block: sp.csr_matrix | str, workdir: str, lo: int,
                      marginals: np.ndarray, total: int, min_pmi: float,
                      top_k: int) -> tuple[sp.csr_matrix, dict]:
    tune_malloc()
    return filter_block(_block(block, workdir), lo, marginals, total, min_pmi=min_pmi,
                        top_k=top_k)


def _kept_entries(block: sp.csr_matrix, lo: int, hi: int, new_ids: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which entries of rows ``lo:hi`` survive the pruning of isolated words: the entry mask,
    the mask of kept rows and the kept rows' entry counts."""
    kept_rows = new_ids[lo:hi] >= 0
    keep = np.empty(block.nnz, bool)
    for r0, r1 in row_groups(block.indptr):
        a, b = block.indptr[r0], block.indptr[r1]
        np.greater_equal(new_ids[block.indices[a:b]], 0, out=keep[a:b])
    for row in np.flatnonzero(~kept_rows):  # isolated words are few
        keep[block.indptr[row]:block.indptr[row + 1]] = False
    lengths = np.diff(compress_indptr(block.indptr, keep))[kept_rows]
    return keep, kept_rows, lengths


def final_row_lengths(block: sp.csr_matrix | str, lo: int, hi: int, new_ids: np.ndarray,
                      workdir: str) -> np.ndarray:
    """Entries per kept row of ``lo:hi`` in the final counts (to lay out ``counts.npz``)."""
    tune_malloc()
    return _kept_entries(_block(block, workdir), lo, hi, new_ids.astype(np.int32))[2]


def final_counts_task(block: sp.csr_matrix | str, lo: int, hi: int, new_ids: np.ndarray,
                      scale: int, workdir: str, npz: CSRNpz, start: int) -> tuple[int, int, int]:
    """Write the rows of the kept words in ``lo:hi`` into ``npz`` from entry ``start`` on,
    columns renumbered to the kept vocabulary, data as float64 counts (scaled integers /
    ``scale``), range of rows by range of rows (see :func:`~data_prep.filtering.row_groups`);
    return the part for :meth:`CSRNpz.finish`."""
    tune_malloc()
    block = _block(block, workdir)
    new_ids = new_ids.astype(np.int32)
    keep = _kept_entries(block, lo, hi, new_ids)[0]

    def pieces():
        for r0, r1 in row_groups(block.indptr):
            a, b = block.indptr[r0], block.indptr[r1]
            k = keep[a:b]
            yield new_ids[block.indices[a:b][k]], block.data[a:b][k] / scale

    return npz.write_part(start, pieces())
