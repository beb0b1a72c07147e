"""Training throughput at the paper's shape: our step vs the plain Keras path.

    .venv/bin/python benchmarks/bench_training.py            # V = 660K and 66K, both paths
    .venv/bin/python benchmarks/bench_training.py --quick    # V = 66K and 6.6K, fewer steps

Shape (the paper's word2hashes run): L = 3 contexts, d = 32, 32768 pairs per step (8192
positives + 8192 uniform hard negatives + 16384 easy negatives). The pair matrix is a synthetic
symmetric binary graph with power-law degrees (Chung-Lu style, degree exponent 2.5, like word
cooccurrence): ~16M nonzeros at V = 660K, ~1.6M at V = 66K (mean degree 24 both times).

Measured, for each V, over the same sampler and the same model class:

- **ours**: ``EmbeddingHasher.compile()`` (RowAdam, the O(batch) step of :mod:`lse.table_step`)
  trained by ``model.fit`` on ``PairSampler.dataset()``: the input pipeline (sampling with
  uniform hard negatives on tf.data's background thread) is part of every timed step;
- **plain Keras**: ``EmbeddingHasher.compile(optimizer=keras.optimizers.Adam(lr))``, same fit,
  same data: Keras's Adam densifies the sparse gradient, so each step rewrites the whole
  (V, L, d) table and both moment slots;
- the sampler alone (batches/s on one thread), to show it is not the bottleneck, and its
  hard-negative acceptance rate;
- how much memory went onto transparent huge pages while our model trained (on Linux with THP
  in ``madvise`` or ``always`` mode :mod:`lse.hugepages` backs the table and Adam's moment
  tables with them: fewer TLB misses in the step's random row accesses);
- with ``--generic``: the generic autodiff step (``PairHashModel.train_step``) with RowAdam,
  i.e. what the model cost before :mod:`lse.table_step`.

Each timing warms up first (tracing, XLA compilation, first epoch permutation), then times a
fixed number of steps; it is repeated and the best and median are reported. The machine may be
shared: the load average is printed with every figure.
"""
from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import sys
import time

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

POSITIVES, HARD, EASY = 8192, 8192, 16384
BATCH = POSITIVES + HARD + EASY


def power_law_graph(n: int, nnz: int, degree_exponent: float = 2.5, seed: int = 0):
    """Symmetric binary CSR graph, no self-loops, ~``nnz`` nonzeros, expected degrees
    ``w_i ~ i^(-1 / (degree_exponent - 1))`` (so P(degree > k) ~ k^-(degree_exponent - 1)),
    node ids shuffled. Endpoints are drawn by the analytic inverse CDF of the continuous power
    law, duplicates removed by sorting (np.unique's hash path is ~10x slower here)."""
    rng = np.random.default_rng(seed)
    a = 1.0 / (degree_exponent - 1.0)
    top = (n + 1.0) ** (1.0 - a) - 1.0
    relabel = rng.permutation(n)

    def endpoints(count):
        x = (1.0 + rng.random(count) * top) ** (1.0 / (1.0 - a))
        return relabel[np.minimum(x.astype(np.int64) - 1, n - 1)]

    want = nnz // 2  # undirected edges
    keys = np.zeros(0, np.int64)
    draw = int(want * 1.1)
    for _ in range(10):
        i, j = endpoints(draw), endpoints(draw)
        keep = i != j
        lo, hi = np.minimum(i, j)[keep], np.maximum(i, j)[keep]
        # two sorted runs: the stable sort (timsort) merges them in linear time
        keys = np.sort(np.concatenate([keys, np.sort(lo * n + hi)]), kind="stable")
        keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]
        if len(keys) >= want:
            break
        draw = int((want - len(keys)) * 2.0) + 1000  # hubs make many duplicates
    if len(keys) > want:
        keys = np.sort(rng.choice(keys, want, replace=False))
    rows, cols = keys // n, keys % n
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])
    upper = sp.csr_matrix((np.ones(len(keys), np.float32), cols, indptr), shape=(n, n))
    return (upper + upper.T).tocsr()


def load() -> str:
    return "load %.2f %.2f %.2f" % os.getloadavg()


def huge_pages_mb() -> float | None:
    """MB of this process's memory on transparent huge pages (lse.hugepages backs the table
    and the optimizer's moment tables with them), or None where /proc does not say."""
    try:
        with open("/proc/self/smaps_rollup") as f:
            for line in f:
                if line.startswith("AnonHugePages:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


class StepClock:
    """Keras callback: wall and CPU time at the end of every training step."""

    def __init__(self):
        import keras

        outer = self

        class _Clock(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                outer.wall.append(time.perf_counter())
                outer.cpu.append(resource.getrusage(resource.RUSAGE_SELF))

        self.callback = _Clock()
        self.wall, self.cpu = [], []

    def per_step(self, first: int, last: int) -> tuple[float, float]:
        """(wall, cpu) seconds per step between the ends of steps ``first`` and ``last``."""
        steps = last - first
        a, b = self.cpu[first], self.cpu[last]
        cpu = (b.ru_utime + b.ru_stime) - (a.ru_utime + a.ru_stime)
        return (self.wall[last] - self.wall[first]) / steps, cpu / steps


def time_training(model, sampler, warmup: int, steps: int, repeats: int):
    """Fit ``model`` on ``sampler.dataset()`` for warmup + repeats x steps steps in one run;
    return the per-step (wall, cpu) of each timed block of ``steps`` steps."""
    clock = StepClock()
    total = warmup + repeats * steps
    model.fit(sampler.dataset(), epochs=1, steps_per_epoch=total, verbose=0, shuffle=False,
              callbacks=[clock.callback])
    return [clock.per_step(warmup - 1 + r * steps, warmup - 1 + (r + 1) * steps)
            for r in range(repeats)]


def time_sampler(sampler, batches: int) -> tuple[float, float]:
    """Seconds per batch of the sampler alone (after its first batch), and its acceptance."""
    it = sampler.batches()
    next(it)  # epoch permutation, lazy index structures
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    return (time.perf_counter() - start) / batches, sampler._acceptance


def summary(label: str, timings) -> dict:
    walls = [w for w, _ in timings]
    cpus = [c for _, c in timings]
    best, median = min(walls), statistics.median(walls)
    blocks = ", ".join(f"{w * 1e3:.0f}" for w in walls)
    print(f"  {label:<13} best {best * 1e3:7.1f} ms/step = {BATCH / best:>9,.0f} pairs/s; "
          f"median {median * 1e3:7.1f} ms/step = {BATCH / median:>9,.0f} pairs/s; "
          f"CPU {statistics.median(cpus) * 1e3:6.1f} ms/step; blocks [{blocks}] ms ({load()})",
          flush=True)
    return {"best": best, "median": median}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vocab", type=int, nargs="+", default=[660_000, 66_000],
                        help="vocabulary sizes V (first = the paper's)")
    parser.add_argument("--degree", type=float, default=24.2, help="mean degree of the graph")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per repeat (ours)")
    parser.add_argument("--repeats", type=int, default=3, help="timed blocks (ours)")
    parser.add_argument("--keras-steps", type=int, default=5,
                        help="timed steps per repeat (plain Keras)")
    parser.add_argument("--keras-repeats", type=int, default=2, help="timed blocks (Keras)")
    parser.add_argument("--no-keras", action="store_true", help="skip the plain Keras path")
    parser.add_argument("--generic", action="store_true",
                        help="also time the generic autodiff step (PairHashModel.train_step) "
                             "with RowAdam, i.e. without lse.table_step")
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--quick", action="store_true",
                        help="V = 66K and 6.6K, few steps (a smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.vocab, args.warmup, args.steps, args.repeats = [66_000, 6_600], 3, 5, 2
        args.keras_steps, args.keras_repeats = 2, 1

    import keras
    import tensorflow as tf

    from lse.models import EmbeddingHasher, PairHashModel
    from lse.sampling import PairSampler

    class GenericStep(EmbeddingHasher):
        train_step = PairHashModel.train_step

    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPUs; "
          f"batch {POSITIVES} + {HARD} hard + {EASY} easy = {BATCH} pairs, L = 3, d = 32 "
          f"({load()})", flush=True)
    results = {}
    for V in args.vocab:
        start = time.perf_counter()
        D = power_law_graph(V, int(V * args.degree))
        made = time.perf_counter() - start
        degree = np.diff(D.indptr)
        start = time.perf_counter()
        sampler = PairSampler(D, POSITIVES, HARD, EASY, seed=0)
        built = time.perf_counter() - start
        per_batch, acceptance = time_sampler(sampler, 10)
        print(f"\nV = {V:,}: graph {D.nnz:,} nonzeros, max degree {degree.max():,} "
              f"(made in {made:.1f} s); sampler set-up {built:.1f} s, "
              f"{per_batch * 1e3:.0f} ms per batch alone, hard-negative acceptance "
              f"{acceptance:.1%}", flush=True)
        row = {}
        keras.utils.set_random_seed(0)
        gc.collect()  # earlier models' tables (and their huge pages) go first
        huge_before = huge_pages_mb()
        model = EmbeddingHasher(V, 32, contexts=3, seed=0)
        model.compile(learning_rate=args.learning_rate)
        row["ours"] = summary("ours", time_training(model, sampler, args.warmup, args.steps,
                                                    args.repeats))
        if huge_before is not None:
            print(f"  {'':<13} huge pages: +{huge_pages_mb() - huge_before:,.0f} MB in the "
                  f"process while training (the table and its two Adam moment tables: "
                  f"{3 * 4 * np.prod(model.table.shape) / 2**20:,.0f} MB)", flush=True)
        del model
        if args.generic:
            keras.utils.set_random_seed(0)
            model = GenericStep(V, 32, contexts=3, seed=0)
            model.compile(learning_rate=args.learning_rate)
            row["generic"] = summary("generic step", time_training(
                model, sampler, 2, args.keras_steps, args.keras_repeats))
            del model
        if not args.no_keras:
            keras.utils.set_random_seed(0)
            model = EmbeddingHasher(V, 32, contexts=3, seed=0)
            model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
            row["keras"] = summary("plain Keras", time_training(
                model, sampler, 2, args.keras_steps, args.keras_repeats))
            del model
            print(f"  speed-up over plain Keras: {row['keras']['median'] / row['ours']['median']:.1f}x"
                  f" (median), {row['keras']['best'] / row['ours']['best']:.1f}x (best)")
        results[V] = row
    if len(args.vocab) > 1:
        big, small = args.vocab[0], args.vocab[1]
        ratio = results[big]["ours"]["median"] / results[small]["ours"]["median"]
        best = results[big]["ours"]["best"] / results[small]["ours"]["best"]
        print(f"\nstep time V = {big:,} / V = {small:,}: {ratio:.2f} (median), {best:.2f} (best)"
              f" -- 1 means the step does not depend on V")
        if "keras" in results[big]:
            k = results[big]["keras"]["median"] / results[small]["keras"]["median"]
            print(f"plain Keras, same ratio: {k:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
