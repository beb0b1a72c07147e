"""``prepare``: corpus -> dataset directory, on this process or a Dask cluster.

Phases (each a set of independent tasks; see :mod:`data_prep.tasks`):

1. **scan** every shard: tokenize once, count words, keep the token stream as local ids;
2. **vocabulary**: word counts reduced pairwise (a tree) on the workers, filtered on the client;
3. **count** every shard's windows into symmetric sparse runs (bounded memory);
4. **reduce** by row block: each block task sums its rows of every run, so the full matrix is
   never gathered into one process, and returns only its row sums (the marginals);
5. **filter** each block where it lies (atypicality + top-k) into small binary blocks, which the
   client stacks, symmetrises, prunes of isolated words and splits into training / held-out
   pairs; the counts are streamed block by block into ``counts.npz``.

The result does not depend on the number of workers or on the reduction order (exact integer
weights, deterministic tie-breaking): a job on a Dask cluster gives the same bytes as
``--workers 0``.
"""
from __future__ import annotations

import json
import math
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from lse.errors import LSEError
from lse.io import atomic_directory

from . import tasks
from .cooccur import weight_scale
from .dataset import write_vocab
from .executor import InProcess, make_executor, tree_reduce
from .pairs import degree_summary, hold_out, symmetric_binary
from .sources import plan_shards
from .sparse_io import CSRDir, write_npz
from .tokenize import make_tokenizer
from .vocab import VocabOptions, build_vocabulary, load_stopwords, merge_counts

BOUNDARIES = ("line", "paragraph", "document")
OOV_MODES = ("remove", "gap")
#: Bytes per stored nonzero a block reducer holds (its slices of every run, pairwise sums).
_REDUCE_NNZ_BYTES = 40


@dataclass(frozen=True)
class PrepareConfig:
    """Every option of ``lse prepare`` that changes the dataset (see its ``--help``)."""

    window: int = 10
    boundary: str = "line"
    oov: str = "remove"
    vocab: VocabOptions = field(default_factory=VocabOptions)
    stopwords: str | None = None
    min_pmi: float = 0.0
    top_k: int = 100
    holdout: int = 4600
    seed: int = 0
    keep_isolated: bool = False
    tokenizer: str = "regex"
    token_pattern: str | None = None
    lowercase: bool = True
    encoding: str = "utf-8"
    shard_size: int = 64 << 20
    memory_limit: int = 1 << 30
    nltk_data: tuple[str, ...] = ()

    def __post_init__(self):
        weight_scale(self.window)  # validates the window
        if self.boundary not in BOUNDARIES:
            raise LSEError(f"--boundary must be one of {', '.join(BOUNDARIES)}")
        if self.oov not in OOV_MODES:
            raise LSEError(f"--oov must be one of {', '.join(OOV_MODES)}")
        if self.top_k < 1:
            raise LSEError(f"--top-k must be >= 1 (got {self.top_k})")
        if self.holdout < 0:
            raise LSEError(f"--holdout must be >= 0 (got {self.holdout})")
        if self.memory_limit < 32 << 20:
            raise LSEError(f"--memory-limit must be at least 32MB (got {self.memory_limit})")


class _Progress:
    """A tqdm bar over tokens (shows tokens/s), or nothing."""

    def __init__(self, enabled: bool, desc: str, total: int | None = None):
        self.bar = None
        if enabled:
            from tqdm import tqdm
            self.bar = tqdm(desc=desc, total=total, unit="tok", unit_scale=True,
                            file=sys.stderr, dynamic_ncols=True, mininterval=0.5)

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _row_blocks(runs: list[CSRDir], n_rows: int, n_blocks: int) -> list[tuple[int, int]]:
    """Split rows into ``n_blocks`` ranges with about the same number of stored entries."""
    per_row = np.zeros(n_rows, np.int64)
    for r in runs:
        per_row += np.diff(np.asarray(r.indptr))
    cum = np.cumsum(per_row)
    total = int(cum[-1]) if n_rows else 0
    cuts = np.searchsorted(cum, np.linspace(0, total, n_blocks + 1)[1:-1], side="right")
    bounds = sorted(set([0, *cuts.tolist(), n_rows]))
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def prepare(corpus: list[str], out: str | Path, config: PrepareConfig | None = None, *,
            workers: int | None = None, scheduler: str | None = None, resume: bool = False,
            overwrite: bool = False, work_dir: str | Path | None = None,
            keep_work: bool = False, progress: bool = True, executor=None) -> dict:
    """Prepare a dataset from ``corpus`` into directory ``out``; return the statistics.

    ``workers=0`` runs in this process; otherwise a local Dask cluster with ``workers``
    processes (default: one per core) or, with ``scheduler``, an existing cluster. ``executor``
    (an object from :mod:`data_prep.executor`) overrides both and is not closed.
    """
    config = config or PrepareConfig()
    t_start = time.perf_counter()
    out = Path(out)
    if out.exists() and not overwrite:
        raise LSEError(f"{out} already exists; choose another --out or pass --force")
    work = Path(work_dir) if work_dir else out.with_name(out.name + ".work")
    shards = plan_shards(corpus, shard_size=config.shard_size, nltk_data=config.nltk_data)
    tokenizer = make_tokenizer(config.tokenizer, pattern=config.token_pattern,
                               lowercase=config.lowercase)
    vocab_options = config.vocab
    if config.stopwords:
        vocab_options = replace(vocab_options, stopwords=vocab_options.stopwords
                                + load_stopwords(config.stopwords, config.nltk_data))
    if work.exists() and not resume:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    own = executor is None
    log = (lambda msg: print(msg, file=sys.stderr, flush=True)) if progress else (lambda m: None)
    try:
        if own:
            executor = make_executor(workers, scheduler, worker_memory="auto")
        log(f"lse prepare: {len(shards)} shard(s) on {executor.description}; work directory "
            f"{work}")
        executor.check_shared_path(str(work))
        stats = _run(shards, out, config, vocab_options, tokenizer, executor, work, overwrite,
                     progress, log, t_start)
    except BaseException:
        if not any(work.glob("scan-*.pkl")):
            shutil.rmtree(work, ignore_errors=True)
        elif progress:
            print(f"lse prepare: finished shards are kept in {work}; re-run with --resume to "
                  "reuse them", file=sys.stderr)
        raise
    finally:
        if own and executor is not None:
            executor.close()
    if not keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return stats


def _run(shards, out, config, vocab_options, tokenizer, executor, work, overwrite, progress,
         log, t_start) -> dict:
    wd = str(work)
    times: dict[str, float] = {"startup": time.perf_counter() - t_start}
    local = isinstance(executor, InProcess)

    # 1. scan ------------------------------------------------------------------------------
    t = time.perf_counter()
    bar = _Progress(progress, "read+tokenize")
    scan_keys = [tasks.fingerprint(s.key(), repr(tokenizer), config.encoding) for s in shards]
    scans = [executor.submit(tasks.scan_task, s, k, wd, tokenizer, config.encoding,
                             progress=bar.update if local else None)
             for s, k in zip(shards, scan_keys)]
    infos = [executor.submit(_scan_info, f) for f in scans]
    for f in executor.as_completed(infos):
        if not local:
            bar.update(f.result()["tokens"])
    bar.close()
    scan_info = executor.gather(infos)
    counts_f = tree_reduce(executor, merge_counts,
                           [executor.submit(tasks.word_counts_of, f) for f in scans])
    word_counts = counts_f.result()
    del scans, counts_f
    times["scan"] = time.perf_counter() - t

    # 2. vocabulary ------------------------------------------------------------------------
    t = time.perf_counter()
    vocab = build_vocabulary(word_counts, vocab_options)
    del word_counts
    V = len(vocab)
    vocab_key = tasks.fingerprint(vocab.words, list(vocab.dropped))
    codes = executor.scatter(vocab.code_table())
    times["vocabulary"] = time.perf_counter() - t
    log(f"lse prepare: vocabulary {V} words ({vocab.summary['distinct_words']} distinct, "
        f"{len(vocab.dropped)} extremely common dropped)")

    # 3. count -----------------------------------------------------------------------------
    t = time.perf_counter()
    tokens = sum(i["tokens"] for i in scan_info)
    bar = _Progress(progress, "count windows", total=tokens)
    counted = [executor.submit(tasks.count_task, sk,
                               tasks.fingerprint(sk, vocab_key, config.window, config.boundary,
                                                 config.oov),
                               wd, codes, V, config.window, config.boundary, config.oov,
                               config.memory_limit, progress=bar.update if local else None)
               for sk in scan_keys]
    for f in executor.as_completed(counted):
        if not local:
            bar.update(f.result()["tokens"])
    bar.close()
    count_info = executor.gather(counted)
    run_names = [r for info in count_info for r in info["runs"]]
    times["count"] = time.perf_counter() - t

    # 4. reduce by row block ---------------------------------------------------------------
    t = time.perf_counter()
    runs = [CSRDir(work / r) for r in run_names]
    stored = sum(r.nnz for r in runs)
    n_blocks = max(2 * executor.n_workers,
                   math.ceil(stored * _REDUCE_NNZ_BYTES / config.memory_limit))
    blocks = _row_blocks(runs, V, n_blocks)
    del runs
    block_key = tasks.fingerprint(vocab_key, sorted(run_names))
    reduced = [executor.submit(tasks.reduce_block_task, wd, run_names, lo, hi)
               for lo, hi in blocks]
    sums = executor.gather([executor.submit(tasks.row_sums, b) for b in reduced])
    marginals = np.concatenate([r for r, _ in sums])
    total = int(marginals.sum())
    nnz = sum(n for _, n in sums)
    times["reduce"] = time.perf_counter() - t
    if nnz == 0:
        raise LSEError("no two vocabulary words ever occur within one window: the corpus is "
                       "too small or --min-count / --drop-top remove too much")

    # 5. filter, symmetrise, hold out ------------------------------------------------------
    t = time.perf_counter()
    marg_f = executor.scatter(marginals)
    filtered = executor.gather([executor.submit(tasks.filter_block_task, b, lo, marg_f, total,
                                                config.min_pmi, config.top_k)
                                for b, (lo, hi) in zip(reduced, blocks)])
    pairs = symmetric_binary([b for b, _ in filtered])
    degree = np.asarray(pairs.getnnz(axis=1))
    keep = np.ones(V, bool) if config.keep_isolated else degree > 0
    if not keep.any():
        raise LSEError(f"no pair passed the atypicality filter (--min-pmi {config.min_pmi}); "
                       "lower --min-pmi or use a larger corpus")
    new_ids = np.full(V, -1, np.int64)
    new_ids[keep] = np.arange(int(keep.sum()))
    if not keep.all():
        pairs = pairs[keep][:, keep].tocsr()
    n_pairs_before = pairs.nnz // 2
    train, heldout = hold_out(pairs, config.holdout, config.seed)
    times["filter"] = time.perf_counter() - t

    # 6. write -----------------------------------------------------------------------------
    t = time.perf_counter()
    scale = weight_scale(config.window)
    new_f = executor.scatter(new_ids)
    names = executor.gather([executor.submit(tasks.final_counts_task, b, lo, hi, new_f, scale,
                                             wd, f"counts-{block_key}-{i}")
                             for i, (b, (lo, hi)) in enumerate(zip(reduced, blocks))])
    del reduced
    count_blocks = [CSRDir(work / n) for n in names]
    words = [w for w, k in zip(vocab.words, keep) if k]
    stats = {
        "corpus": {"shards": len(shards), "sources": sorted({s.source for s in shards}),
                   "bytes_on_disk": int(sum(s.size for s in shards)),
                   "bytes_decoded": int(sum(i["bytes"] for i in scan_info)),
                   "bad_bytes": int(sum(i["bad_bytes"] for i in scan_info)),
                   "documents": int(sum(i["documents"] for i in scan_info)),
                   "tokens": int(tokens),
                   "shards_reused": int(sum(i["reused"] for i in scan_info))},
        "vocabulary": dict(vocab.summary, isolated_removed=int(V - keep.sum()),
                           final=len(words), dropped_words=list(vocab.dropped)[:100]),
        "counts": {"window": config.window, "weight_scale": scale,
                   "pair_events": int(sum(i["events"] for i in count_info)),
                   "runs": len(run_names), "row_blocks": len(blocks), "nonzeros": int(nnz),
                   "total_weight": total / scale,
                   "shards_reused": int(sum(i["reused"] for i in count_info))},
        "pairs": {"stored_counts": int(sum(s["nonzeros"] for _, s in filtered)),
                  "atypical": int(sum(s["atypical"] for _, s in filtered)),
                  "after_top_k": int(sum(s["top_k"] for _, s in filtered)),
                  "undirected_pairs": int(n_pairs_before),
                  "heldout_requested": config.holdout, "heldout": int(len(heldout)),
                  "training_pairs": int(train.nnz // 2), "training_nonzeros": int(train.nnz),
                  "degree": degree_summary(train)},
        "config": _config_dict(config),
        "executor": executor.description,
    }
    with atomic_directory(out, overwrite=overwrite) as tmp:
        write_vocab(tmp / "vocab.txt", words, vocab.counts[keep])
        write_npz(tmp / "counts.npz", count_blocks)
        sp.save_npz(tmp / "pairs.npz", train, compressed=False)
        np.save(tmp / "heldout.npy", heldout)
        times["write"] = time.perf_counter() - t
        times["total"] = time.perf_counter() - t_start
        memory = executor.peak_memory()
        stats["time_seconds"] = {k: round(v, 3) for k, v in times.items()}
        counting = times["count"] + times["reduce"]
        stats["tokens_per_second"] = {"counting": round(tokens / max(counting, 1e-9)),
                                      "total": round(tokens / max(times["total"], 1e-9))}
        stats["peak_memory_bytes"] = dict(memory, total=int(sum(memory.values())))
        (tmp / "stats.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    if len(heldout) < config.holdout:
        log(f"lse prepare: warning: only {len(heldout)} of {config.holdout} held-out pairs "
            "could be drawn (too few pairs whose words keep another pair)")
    return stats


def _scan_info(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "word_counts"}


def _config_dict(config: PrepareConfig) -> dict:
    d = asdict(config)
    d["vocab"]["stopwords"] = list(config.vocab.stopwords)
    d["nltk_data"] = list(config.nltk_data)
    return d
