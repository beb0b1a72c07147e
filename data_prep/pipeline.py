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

from lse.errors import LSEError, check_int
from lse.io import atomic_directory

from . import tasks
from .cooccur import weight_scale
from .dataset import write_vocab
from .executor import make_executor, tree_reduce, tune_malloc
from .pairs import degree_summary, has_pairs, hold_out, symmetric_binary
from .sources import plan_shards
from .sparse_io import CSRDir, CSRNpz
from .tokenize import make_tokenizer
from .vocab import VocabOptions, build_vocabulary, load_stopwords, merge_counts

BOUNDARIES = ("line", "paragraph", "document")
OOV_MODES = ("remove", "gap")
#: Bytes per stored nonzero a block reducer holds (its slices of every run, pairwise sums).
_REDUCE_NNZ_BYTES = 40
#: Bytes per nonzero of a reduced block held in memory (int64 count + int32 column).
_BLOCK_NNZ_BYTES = 12


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
        check_int(self.top_k, "--top-k", 1)
        check_int(self.holdout, "--holdout", 0)
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

    @property
    def n(self) -> int:
        return int(self.bar.n) if self.bar is not None else 0

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
    tune_malloc()
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
        if own and executor is not None:  # stop the workers before touching their files
            executor.close()
            executor = None
        if not any(work.glob("scan-*.pkl")):
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"lse prepare: finished shards are kept in {work}; re-run with --resume to "
                  "reuse them", file=sys.stderr)
        raise
    finally:
        if own and executor is not None:
            executor.close()
    if not keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return stats


class _Job:
    """The phases of one ``prepare`` run; results pass between them as attributes."""

    def __init__(self, shards, config, vocab_options, tokenizer, executor, work, progress,
                 log, t_start):
        self.shards, self.config, self.vocab_options = shards, config, vocab_options
        self.tokenizer, self.ex, self.work, self.wd = tokenizer, executor, work, str(work)
        self.progress, self.log, self.t_start = progress, log, t_start
        self.times: dict[str, float] = {"startup": time.perf_counter() - t_start}

    def _follow(self, futures, bar: _Progress) -> list:
        """Wait for tasks that report progress, then set the bar to their exact total."""
        self.ex.follow(futures, bar.update if self.progress else None)
        results = self.ex.gather(futures)
        bar.update(sum(r["tokens"] for r in results) - bar.n)
        bar.close()
        return results

    def scan(self) -> None:
        """Phase 1 (scan) and 2 (vocabulary)."""
        cfg, ex = self.config, self.ex
        bar = _Progress(self.progress, "read+tokenize")
        self.scan_keys = [tasks.fingerprint(s.key(), repr(self.tokenizer), cfg.encoding)
                          for s in self.shards]
        report = ex.progress_callback(bar.update if self.progress else None)
        scans = [ex.submit(tasks.scan_task, s, k, self.wd, self.tokenizer, cfg.encoding,
                           progress=report)
                 for s, k in zip(self.shards, self.scan_keys)]
        # the merge tree is submitted before waiting: its merges run as soon as their scans end
        merged = tree_reduce(ex, merge_counts, [ex.submit(tasks.word_counts_of, f) for f in scans])
        self.scan_info = self._follow([ex.submit(_scan_info, f) for f in scans], bar)
        word_counts = merged.result()
        self.times["scan"] = time.perf_counter() - self.t_start - self.times["startup"]
        t = time.perf_counter()
        self.vocab = build_vocabulary(word_counts, self.vocab_options)
        self.vocab_key = tasks.fingerprint(self.vocab.words, list(self.vocab.dropped))
        self.tokens = sum(i["tokens"] for i in self.scan_info)
        self.times["vocabulary"] = time.perf_counter() - t
        self.log(f"lse prepare: vocabulary {len(self.vocab)} words "
                 f"({self.vocab.summary['distinct_words']} distinct, "
                 f"{len(self.vocab.dropped)} extremely common dropped)")

    def count(self) -> None:
        """Phase 3: every shard's windows into runs on disk."""
        cfg, ex = self.config, self.ex
        t = time.perf_counter()
        codes = ex.scatter(self.vocab.code_table())
        bar = _Progress(self.progress, "count windows", total=self.tokens)
        report = ex.progress_callback(bar.update if self.progress else None)
        futures = [ex.submit(tasks.count_task, sk,
                             tasks.fingerprint(sk, self.vocab_key, cfg.window, cfg.boundary,
                                               cfg.oov),
                             self.wd, codes, len(self.vocab), cfg.window, cfg.boundary, cfg.oov,
                             cfg.memory_limit, progress=report)
                   for sk in self.scan_keys]
        self.count_info = self._follow(futures, bar)
        self.run_names = [r for info in self.count_info for r in info["runs"]]
        self.times["count"] = time.perf_counter() - t

    def reduce(self) -> None:
        """Phase 4: row blocks summed over all runs, kept on the workers; marginals."""
        ex, V = self.ex, len(self.vocab)
        t = time.perf_counter()
        runs = [CSRDir(self.work / r) for r in self.run_names]
        stored = sum(r.nnz for r in runs)
        # 4 blocks per worker: shorter tail when block costs differ, and smaller temporaries
        # (measured on enwiki: 8 blocks 0.06-0.085 CPU-s each, 0.56 in all; 4 blocks 0.64)
        n_blocks = max(4 * ex.n_workers,
                       math.ceil(stored * _REDUCE_NNZ_BYTES / self.config.memory_limit))
        self.blocks = _row_blocks(runs, V, n_blocks)
        # reduced blocks stay in the workers' memory unless they would not fit the budget
        spill = self.spilled = (stored * _BLOCK_NNZ_BYTES
                                > self.config.memory_limit * ex.n_workers)
        key = tasks.fingerprint(self.vocab_key, sorted(self.run_names))
        self.reduced = [ex.submit(tasks.reduce_block_task, self.wd, self.run_names, lo, hi,
                                  f"block-{key}-{i}" if spill else None)
                        for i, (lo, hi) in enumerate(self.blocks)]
        sums = ex.gather([ex.submit(tasks.row_sums, b, self.wd) for b in self.reduced])
        self.marginals = np.concatenate([r for r, _ in sums])
        self.total = int(self.marginals.sum())
        self.nnz = sum(n for _, n in sums)
        self.times["reduce"] = time.perf_counter() - t
        if self.nnz == 0:
            raise LSEError("no two vocabulary words ever occur within one window: the corpus "
                           "is too small or --min-count / --drop-top remove too much")

    def pairs(self) -> None:
        """Phase 5: filter blocks, prune isolated words (and start writing their final counts
        on the workers), symmetrise, hold out test pairs."""
        cfg, ex, V = self.config, self.ex, len(self.vocab)
        t = time.perf_counter()
        marg = ex.scatter(self.marginals)
        self.filtered = ex.gather([ex.submit(tasks.filter_block_task, b, self.wd, lo, marg,
                                             self.total, cfg.min_pmi, cfg.top_k)
                                   for b, (lo, hi) in zip(self.reduced, self.blocks)])
        blocks = [b for b, _ in self.filtered]
        self.keep = np.ones(V, bool) if cfg.keep_isolated else has_pairs(blocks, V)
        if not self.keep.any():
            raise LSEError(f"no pair passed the atypicality filter (--min-pmi {cfg.min_pmi}); "
                           "lower --min-pmi or use a larger corpus")
        new_ids = np.full(V, -1, np.int64)
        new_ids[self.keep] = np.arange(int(self.keep.sum()))
        new = ex.scatter(new_ids)
        lengths = ex.gather([ex.submit(tasks.final_row_lengths, b, lo, hi, new, self.wd)
                             for b, (lo, hi) in zip(self.reduced, self.blocks)])
        indptr = np.zeros(int(self.keep.sum()) + 1, np.int64)
        np.cumsum(np.concatenate(lengths), out=indptr[1:])
        starts = np.cumsum([0] + [int(n.sum()) for n in lengths])
        key = tasks.fingerprint(self.vocab_key, sorted(self.run_names))
        self.npz = CSRNpz.create(self.work / f"counts-{key}.npz", (len(indptr) - 1,) * 2, indptr)
        self.final = [ex.submit(tasks.final_counts_task, b, lo, hi, new,
                                weight_scale(cfg.window), self.wd, self.npz, int(start))
                      for b, (lo, hi), start in zip(self.reduced, self.blocks, starts)]
        del self.reduced  # each block is freed once its final counts are written
        pairs = symmetric_binary(blocks)  # while the workers write the final counts
        if not self.keep.all():
            pairs = pairs[self.keep][:, self.keep].tocsr()
        self.n_pairs = pairs.nnz // 2
        self.train, self.heldout = hold_out(pairs, cfg.holdout, cfg.seed)
        self.times["filter"] = time.perf_counter() - t

    def write(self, out: Path, overwrite: bool) -> dict:
        """Phase 6: the dataset directory, atomically."""
        t = time.perf_counter()
        words = [w for w, k in zip(self.vocab.words, self.keep) if k]
        with atomic_directory(out, overwrite=overwrite) as tmp:
            write_vocab(tmp / "vocab.txt", words, self.vocab.counts[self.keep])
            sp.save_npz(tmp / "pairs.npz", self.train, compressed=False)
            np.save(tmp / "heldout.npy", self.heldout)
            self.npz.finish(self.ex.gather(self.final))
            shutil.move(self.npz.path, tmp / "counts.npz")
            self.times["write"] = time.perf_counter() - t
            self.times["total"] = time.perf_counter() - self.t_start
            stats = self.stats(len(words))
            (tmp / "stats.json").write_text(json.dumps(stats, indent=2) + "\n",
                                            encoding="utf-8")
        if len(self.heldout) < self.config.holdout:
            self.log(f"lse prepare: warning: only {len(self.heldout)} of "
                     f"{self.config.holdout} held-out pairs could be drawn (too few pairs whose "
                     "words keep another pair)")
        return stats

    def stats(self, n_words: int) -> dict:
        cfg, info, cinfo, times = self.config, self.scan_info, self.count_info, self.times
        scale = weight_scale(cfg.window)
        memory = self.ex.peak_memory()
        counting = times["count"] + times["reduce"]
        return {
            "corpus": {"shards": len(self.shards),
                       "sources": sorted({s.source for s in self.shards}),
                       "bytes_on_disk": int(sum(s.size for s in self.shards)),
                       "bytes_decoded": int(sum(i["bytes"] for i in info)),
                       "bad_bytes": int(sum(i["bad_bytes"] for i in info)),
                       "documents": int(sum(i["documents"] for i in info)),
                       "tokens": int(self.tokens),
                       "shards_reused": int(sum(i["reused"] for i in info))},
            "vocabulary": dict(self.vocab.summary,
                               isolated_removed=int(len(self.keep) - self.keep.sum()),
                               final=n_words, dropped_words=list(self.vocab.dropped)[:100]),
            "counts": {"window": cfg.window, "weight_scale": scale,
                       "pair_events": int(sum(i["events"] for i in cinfo)),
                       "runs": len(self.run_names), "row_blocks": len(self.blocks),
                       "row_blocks_spilled": bool(self.spilled),
                       "nonzeros": int(self.nnz), "total_weight": self.total / scale,
                       "shards_reused": int(sum(i["reused"] for i in cinfo))},
            "pairs": {"stored_counts": int(sum(s["nonzeros"] for _, s in self.filtered)),
                      "atypical": int(sum(s["atypical"] for _, s in self.filtered)),
                      "after_top_k": int(sum(s["top_k"] for _, s in self.filtered)),
                      "undirected_pairs": int(self.n_pairs),
                      "heldout_requested": cfg.holdout, "heldout": int(len(self.heldout)),
                      "training_pairs": int(self.train.nnz // 2),
                      "training_nonzeros": int(self.train.nnz),
                      "degree": degree_summary(self.train)},
            "config": _config_dict(cfg),
            "executor": self.ex.description,
            "time_seconds": {k: round(v, 3) for k, v in times.items()},
            "tokens_per_second": {"counting": round(self.tokens / max(counting, 1e-9)),
                                  "total": round(self.tokens / max(times["total"], 1e-9))},
            "peak_memory_bytes": dict(memory, total=int(sum(memory.values()))),
        }


def _run(shards, out, config, vocab_options, tokenizer, executor, work, overwrite, progress,
         log, t_start) -> dict:
    job = _Job(shards, config, vocab_options, tokenizer, executor, work, progress, log,
               t_start)
    job.scan()
    job.count()
    job.reduce()
    job.pairs()
    return job.write(out, overwrite)


def _scan_info(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "word_counts"}


def _config_dict(config: PrepareConfig) -> dict:
    d = asdict(config)
    d["vocab"]["stopwords"] = list(config.vocab.stopwords)
    d["nltk_data"] = list(config.nltk_data)
    return d
