"""``lse map-benchmark``: image hashing MAP@R and radius-2 precision (the paper's Table 2)."""
from __future__ import annotations

import argparse

from .benchmark_options import (add_training_arguments, int_list,
                                model_overrides)
from .common import positive_int, quiet_tensorflow, write_json


def register(sub) -> None:
    p = sub.add_parser(
        "map-benchmark", help="image hashing benchmark: MAP@R and radius-2 precision (Table 2)",
        description="Train an MLP hashing tower on the training split of a labelled IDX image "
                    "set (MNIST layout: train-images / train-labels / t10k-images / t10k-labels, "
                    "any compression) with pairs 'same class = relevant', for each model and code "
                    "length. Queries = test split, database = training split: prints MAP@R over "
                    "the Hamming ranking (R = whole database, ties in database order) and "
                    "precision / recall within Hamming radius 2, as a table shaped like the "
                    "paper's Table 2.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("data_dir", metavar="DATA_DIR", help="directory holding the IDX files")
    p.add_argument("--bits", type=int_list, default=[16, 32, 48, 64],
                   help="comma-separated code lengths")
    add_training_arguments(p, 3, "passes over the training images (each is the left of one "
                           "positive)", 0.01, 0.1, 1.0, hidden=[512], dropout=0.1)
    p.add_argument("--queries", type=positive_int,
                   help="use only the first N test images as queries (None: all of them)")
    p.add_argument("--R", type=positive_int, help="MAP@R cut-off (None: the whole database)")
    p.add_argument("--repeat", type=positive_int, default=1, metavar="N",
                   help="train every model and code length with seeds SEED .. SEED+N-1 and print "
                        "mean +- std over them and each model's per-seed MAP@R difference to "
                        "LSE at the same length; the per-seed results go to --json")
    p.set_defaults(func=run)


def run(args) -> int:
    quiet_tensorflow()
    from ..datasets import load_idx_dataset
    from ..errors import LSEError
    from ..benchmarking import format_seed_summary, summarize_seeds
    from ..image_benchmark import (MODELS, SEED_METRICS, MapBenchmarkConfig, by_model_and_bits,
                                   format_table, run_map_trial)

    data = load_idx_dataset(args.data_dir)
    config = MapBenchmarkConfig(epochs=args.epochs, hidden=tuple(args.hidden),
                                dropout=args.dropout, learning_rate=args.learning_rate,
                                warmup=args.warmup, clipnorm=args.clipnorm or None, R=args.R,
                                queries=args.queries, overrides=model_overrides(args))
    train_x, test_x = data.features("train"), data.features("test")
    if args.R is not None and args.R > len(train_x):
        raise LSEError(f"--R {args.R} exceeds the database size {len(train_x)}")
    models = MODELS if args.model == "all" else (args.model,)
    print(f"{args.data_dir}: {len(train_x)} train (database) / {len(test_x)} test (queries) "
          f"items, {train_x.shape[1]} features, {len(set(data.train_labels))} classes", flush=True)
    results = []
    for seed in range(args.seed, args.seed + args.repeat):
        for model, bits in ((model, bits) for model in models for bits in args.bits):
            r = run_map_trial(model, bits, train_x, data.train_labels, test_x, data.test_labels,
                              config, seed=seed, progress=not args.quiet)
            run_name = f"{model} {bits} bits" + (f" seed {seed}" if args.repeat > 1 else "")
            print(f"{run_name}: MAP@R {r['map']:.4f}, radius-2 precision "
                  f"{r['precision_r']:.4f} recall {r['recall_r']:.4f} "
                  f"({r['train_seconds']:.0f} s training, {r['seconds']:.0f} s total)", flush=True)
            results.append(r)
    print()
    summary = None
    if args.repeat > 1:
        summary = summarize_seeds(results, SEED_METRICS, group=by_model_and_bits)
        print(format_seed_summary(summary, SEED_METRICS))
    else:
        print(format_table(results, args.bits, config.radius))
    if args.json:
        write_json(args.json, {"data_dir": str(args.data_dir), "files": data.files,
                               "protocol": "queries = test split, database = training split, "
                                           "MAP@R over the Hamming ranking (stable ties: "
                                           "database order), R = database size unless --R",
                               "config": {k: (list(v) if isinstance(v, tuple) else v)
                                          for k, v in vars(config).items()},
                               "results": results, "seed_summary": summary})
        print(f"wrote {args.json}")
    return 0
