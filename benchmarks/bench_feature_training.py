"""Two-tower training throughput: distinct feature rows per batch vs one row per pair.

    .venv/bin/python benchmarks/bench_feature_training.py                 # Delicious, 200 steps
    .venv/bin/python benchmarks/bench_feature_training.py --data bibtex --steps 100

Why: :class:`lse.features.LabelPairSampler` pairs every positive's instance with its negative
labels as well (a random label, a co-occurring one, a mined one), so about half the rows of a
batch repeat. :class:`lse.features.FeaturePairs` sends each distinct row once with the pairs'
positions, and the models run the instance tower on those rows only
(:func:`lse.models._per_pair`). This script times the two input forms in one run, on the
label benchmark's LSE setting (:data:`lse.label_benchmark.MODEL_PARAMS`: 512 positives + 512
random labels + 512 random instances + 461 co-occurring + 51 co-occurring-until-mined labels per
batch, a 1024-unit tower, 32 bits). Data: an XC-format training file, by default
``../shared/data/multilabel/delicious_train.txt.xz``.

Measured, each form from the same sampler and the same initial weights:

- ms per training step via ``model.fit`` on the sampler's ``tf.data`` pipeline (sampling and
  feature gathering run on tf.data's background thread, as in real training), best and median
  of ``--repeats`` timings of ``--steps`` steps after a warm-up;
- the rows the tower sees per batch (distinct / all).

The machine may be shared: the load average is printed; compare the ratio, not the rates.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
                    "multilabel")


def build(train, distinct: bool, seed: int = 0):
    """(compiled model, sampler) at the label benchmark's LSE setting."""
    from lse.label_benchmark import LabelBenchmarkConfig, build_trial, prepare_features
    from lse.optimizers import RowAdam

    config = LabelBenchmarkConfig()
    settings, sampler, model = build_trial("lse", prepare_features(train.X), train.Y, config,
                                           seed, distinct=distinct)
    model.compile(optimizer=RowAdam(settings["learning_rate"], clipnorm=config.clipnorm))
    return model, sampler


def time_steps(model, sampler, steps: int, repeats: int) -> list[float]:
    """Seconds per step of ``repeats`` fits of ``steps`` steps each, after one warm-up fit."""
    def fit():
        start = time.perf_counter()
        model.fit(sampler.dataset(epochs=None).take(steps), epochs=1, steps_per_epoch=steps,
                  verbose=0, shuffle=False)
        return (time.perf_counter() - start) / steps

    fit()  # tracing, first batches
    return [fit() for _ in range(repeats)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="delicious", help="bibtex or delicious (in --dir)")
    parser.add_argument("--dir", default=DATA, help="folder of the XC-format files")
    parser.add_argument("--steps", type=int, default=200, help="steps per timing")
    parser.add_argument("--repeats", type=int, default=3, help="timings per input form")
    parser.add_argument("--threads", type=int, help="TensorFlow's intra- and inter-op threads "
                                                    "(default: TensorFlow's choice)")
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    from lse.datasets import read_xc

    path = os.path.join(args.dir, f"{args.data}_train.txt.xz")
    if not os.path.exists(path):
        sys.exit(f"bench_feature_training: {path} not found (pass --dir)")
    train = read_xc(path)
    print(f"{path}: {train.shape[0]} instances, {train.shape[1]} features, "
          f"{train.shape[2]} labels; {args.steps} steps x {args.repeats} timings per form, "
          f"{args.threads or 'default'} TensorFlow threads")
    results = {}
    for distinct in (True, False):
        keras.utils.set_random_seed(0)
        model, sampler = build(train, distinct)
        pairs, _ = next(sampler.sampler.epoch_batches(0))
        rows = len(np.unique(pairs[:, 0])) if distinct else len(pairs)
        times = time_steps(model, sampler, args.steps, args.repeats)
        name = "distinct rows" if distinct else "row per pair"
        results[distinct] = min(times)
        print(f"{name:>14}: {1000 * min(times):6.1f} ms/step best, "
              f"{1000 * statistics.median(times):6.1f} median; tower rows per batch {rows} of "
              f"{len(pairs)}; load average {os.getloadavg()[0]:.2f}", flush=True)
        keras.backend.clear_session()
    print(f"speed-up of distinct rows: x{results[False] / results[True]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
