"""``lse label-benchmark``: extreme multi-label retrieval by hash lookup vs dense scoring."""
from __future__ import annotations

import argparse

from .common import nonnegative_int, nonnegative_number, positive_int, quiet_tensorflow, write_json
from .benchmark_options import add_training_arguments, model_overrides, radius_list


def register(sub) -> None:
    p = sub.add_parser(
        "label-benchmark", help="extreme multi-label benchmark: hashed label retrieval vs dense",
        description="Train instance/label hashing models on an XC-format training file (header "
                    "'N F L', then 'l1,l2 f:v f:v' per item; plain, .gz, .bz2 or .xz) and "
                    "retrieve labels for every item of the test file: labels whose code collides "
                    "with the item's, ranked by the model's dense score, beside exact dense "
                    "top-k with the same model and a one-vs-rest linear model. Prints P@1/3/5, "
                    "nDCG@5, PSP@1/3/5 and R@5 on all / head / torso / tail labels, and the "
                    "query throughput of hashed vs dense retrieval.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("train", metavar="TRAIN", help="XC-format training file")
    p.add_argument("test", metavar="TEST", nargs="?",
                   help="XC-format test file (omit it with --validation)")
    add_training_arguments(p, 20, "passes over the (instance, label) positives", None, 0.1, 1.0)
    p.add_argument("--bits", type=positive_int, default=32,
                   help="code length; LSE's and DCH's K follow it (validated at 16, 32 and 64 "
                        "bits: LSE 16 / 24 / 32, DCH 14 / 14 / 10; the nearest otherwise)")
    p.add_argument("--contexts", type=positive_int, default=1, metavar="L",
                   help="embeddings (and codes) per document and per label, scored by their "
                        "max-cosine; a document's candidates are the union of its L buckets")
    p.add_argument("--hard", type=nonnegative_int,
                   help="override the co-occurring hard negative labels per batch of every "
                        "model (None: each model's tuned value)")
    p.add_argument("--mined", type=nonnegative_int,
                   help="override the mined hard negative labels per batch of every model: "
                        "each a random one of the 8 labels the model itself scores highest "
                        "among those the document lacks, re-mined before every epoch (None: "
                        "each model's tuned value)")
    p.add_argument("--mining-radius", type=nonnegative_int, metavar="R",
                   help="mine those negatives among the labels within Hamming radius R of the "
                        "document's code (a hash-index lookup, for label sets too large to "
                        "score every label each epoch) instead of among all labels (default)")
    p.add_argument("--radius", type=nonnegative_int, default=0,
                   help="Hamming radius of the label lookup")
    p.add_argument("--max-radius", type=nonnegative_int,
                   help="fall back up to this radius for items with no candidate label")
    p.add_argument("--curve-radii", type=radius_list, default=[0, 1, 2], metavar="R,R,...",
                   help="also report hashed P@1 and mean candidates at each of these radii "
                        "alone: each model's quality / candidates trade-off (where two models' "
                        "curves overlap, they compare at equal candidate counts)")
    p.add_argument("--prior-weight", type=nonnegative_number, default=0.0, metavar="W",
                   help="rank a document's labels (hashed and dense alike; the candidates do "
                        "not change) by cosine + W * log(1 + training frequency of the label): "
                        "a popularity prior; P@k rises, PSP@k falls (validated for LSE and DCH: "
                        "0.002, +0.015 to +0.023 P@1 on Delicious, none on Bibtex)")
    p.add_argument("--validation", type=float, metavar="FRACTION",
                   help="evaluate on a seeded random FRACTION of TRAIN held out (split seed "
                        "--split-seed), trained on the rest, instead of on TEST: for choosing "
                        "settings without ever looking at a test file")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the --validation split")
    p.add_argument("--no-linear", action="store_true", help="skip the one-vs-rest linear model")
    p.add_argument("--repeat", type=positive_int, default=1, metavar="N",
                   help="train every model with seeds SEED .. SEED+N-1 and print mean +- std "
                        "over them and each model's per-seed difference to LSE (a few seeds "
                        "cannot rank close models); the per-seed tables go to --json")
    p.set_defaults(func=run)


def run(args) -> int:
    quiet_tensorflow()
    from ..datasets import read_xc
    from ..errors import LSEError
    from ..benchmarking import format_seed_summary, summarize_seeds
    from ..label_benchmark import (MODELS, SEED_METRICS, LabelBenchmarkConfig, format_table,
                                   run_label_trial, run_linear_reference)

    if args.max_radius is not None and args.max_radius < args.radius:
        raise LSEError(f"--max-radius must be >= --radius (got {args.max_radius} < {args.radius})")
    if (args.test is None) == (args.validation is None):
        raise LSEError("give either a TEST file or --validation FRACTION (not both)")
    if args.validation is None:
        train, test = read_xc(args.train), read_xc(args.test)
    else:
        train, test = read_xc(args.train).split(args.validation, seed=args.split_seed)
    if train.X.shape[1] != test.X.shape[1] or train.Y.shape[1] != test.Y.shape[1]:
        raise LSEError(f"{args.train} has {train.X.shape[1]} features / {train.Y.shape[1]} labels "
                       f"but {args.test} has {test.X.shape[1]} / {test.Y.shape[1]}")
    config = LabelBenchmarkConfig(dim=args.bits, contexts=args.contexts, epochs=args.epochs,
                                  warmup=args.warmup, clipnorm=args.clipnorm or None,
                                  radius=args.radius, max_radius=args.max_radius,
                                  mining_radius=args.mining_radius,
                                  curve_radii=tuple(args.curve_radii),
                                  prior_weight=args.prior_weight,
                                  overrides=model_overrides(args, "hard", "mined",
                                                            "learning_rate", "hidden", "dropout"))
    n, f, l = train.shape
    evaluated = "test" if args.validation is None else "held-out validation"
    print(f"{args.train}: {n} train / {test.X.shape[0]} {evaluated} items, {f} features, {l} labels",
          flush=True)
    if args.prior_weight:
        print(f"labels ranked by cosine + {args.prior_weight:g} x log(1 + training frequency), "
              "hashed and dense alike", flush=True)
    models = MODELS if args.model == "all" else (args.model,)
    seeds = range(args.seed, args.seed + args.repeat)
    results = []
    for seed, model in ((seed, model) for seed in seeds for model in models):
        r = run_label_trial(model, train, test, config, seed=seed, progress=not args.quiet)
        h, d = r["hashed"]["all"], r["dense"]["all"]
        run_name = f"{model} seed {seed}" if args.repeat > 1 else model
        print(f"{run_name}: hashed P@1 {h['P@1']:.4f} P@5 {h['P@5']:.4f} | dense P@1 "
              f"{d['P@1']:.4f} P@5 {d['P@5']:.4f} ({r['train_seconds']:.0f} s training)",
              flush=True)
        results.append(r)
    linear = None
    if not args.no_linear:
        linear = run_linear_reference(train, test, config)
        print(f"linear one-vs-rest: P@1 {linear['dense']['all']['P@1']:.4f} "
              f"({linear['train_seconds']:.0f} s training)", flush=True)
    print()
    summary = summarize_seeds(results, SEED_METRICS) if args.repeat > 1 else None
    print(format_table(results, linear) if summary is None
          else format_seed_summary(summary, SEED_METRICS))
    if args.json:
        write_json(args.json, {"train": str(args.train), "test": str(test.path),
                               "config": {k: (list(v) if isinstance(v, tuple) else v)
                                          for k, v in vars(config).items()},
                               "results": results, "linear": linear, "seed_summary": summary})
        print(f"wrote {args.json}")
    return 0
