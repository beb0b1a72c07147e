"""``lse sbm``: the stochastic-block-model benchmark (the paper's Table 1)."""
from __future__ import annotations

import argparse

from .common import (fraction, nonnegative_number, output_file, positive_int, positive_number,
                     probability, quiet_tensorflow, write_json)


def register(sub) -> None:
    p = sub.add_parser(
        "sbm", help="run the stochastic-block-model benchmark (paper Table 1)",
        description="Generate stochastic-block-model graphs (factions of individuals, dense "
                    "inside a faction, sparse to nearby factions), train hashing models on their "
                    "edges with the paper's Table 1 hyper-parameters, retrieve each node's "
                    "exact-collision set and score it against the node's faction. Prints "
                    "precision / recall / F1 (mean +- std over trials) beside the paper's.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default="lse", choices=["lse", "cos", "dch", "dhn", "all"],
                   help="model to train, or all four")
    p.add_argument("--trials", type=positive_int, default=1, help="independent graphs/seeds")
    p.add_argument("--epochs", type=positive_int, default=50, help="passes over the positives")
    p.add_argument("--factions", type=positive_int, default=500, help="number of factions")
    p.add_argument("--size", type=positive_int, default=10, help="individuals per faction")
    p.add_argument("--background", type=probability, default=0.0,
                   help="edge probability between distant factions")
    p.add_argument("--seed", type=int, default=0, help="seed of the first trial (then +1, ...)")
    p.add_argument("--params", choices=["tuned", "paper"], default="tuned",
                   help="hyper-parameter table: ours, tuned for this implementation, or the "
                        "paper's Table 1 verbatim")
    p.add_argument("--k", type=positive_number, help="override K of the table")
    p.add_argument("--beta", type=nonnegative_number, help="override beta of the table")
    p.add_argument("--quantization-weight", type=nonnegative_number,
                   help="override lambda of the table")
    p.add_argument("--hard-negatives", choices=["yes", "no"], help="override the table")
    p.add_argument("--learning-rate", type=positive_number, default=0.15,
                   help="Adam's initial rate (cosine decay to 0)")
    p.add_argument("--dropout", type=fraction, default=0.1, help="shared dropout rate")
    p.add_argument("--json", metavar="PATH", type=output_file, help="also write the results as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    quiet_tensorflow()
    from ..sbm import MODELS, PAPER_TABLE1, SBMConfig, run_trial, summarize

    overrides = {}
    for key, value in (("k", args.k), ("beta", args.beta),
                       ("quantization_weight", args.quantization_weight)):
        if value is not None:
            overrides[key] = value
    if args.hard_negatives:
        overrides["hard_negatives"] = args.hard_negatives == "yes"
    config = SBMConfig(factions=args.factions, size=args.size, p_background=args.background,
                       epochs=args.epochs, learning_rate=args.learning_rate,
                       dropout=args.dropout, params=args.params, overrides=overrides)
    models = MODELS if args.model == "all" else (args.model,)
    for model in models:  # validate before any work
        config.model_params(model)
    results = {}
    for model in models:
        trials = []
        for t in range(args.trials):
            trial = run_trial(model, config, seed=args.seed + t, progress=not args.quiet)
            print(f"{model} trial {t + 1}/{args.trials}: P {trial['precision']:.3f} "
                  f"R {trial['recall']:.3f} F1 {trial['f1']:.3f} "
                  f"clusters {trial['clusters']} ({trial['seconds']:.1f} s)", flush=True)
            trials.append(trial)
        results[model] = {"params": config.model_params(model), "trials": trials,
                          "summary": summarize(trials), "paper": PAPER_TABLE1[model]["paper"]}
    print()
    print(f"SBM {args.factions} factions x {args.size}, {args.epochs} epochs, "
          f"{args.trials} trial(s), {args.params} hyper-parameters; exact-hash retrieval "
          f"(Hamming radius 0); F1 = F1 of the mean P and R (the paper's convention)")
    header = f"{'model':<6}{'K':>4}{'beta':>6}{'hard':>6}{'lambda':>8}   {'precision':>15}" \
             f"{'recall':>15}{'F1':>15}   {'paper P / R / F1':>20}{'s/trial':>9}"
    print(header)
    print("-" * len(header))
    for model, r in results.items():
        s, p = r["summary"], r["params"]
        cells = "".join(f"{s[m]['mean']:>9.3f}+-{s[m]['std']:.3f}" for m in ("precision", "recall", "f1"))
        paper = " / ".join(f"{x:.3f}" for x in r["paper"])
        print(f"{model:<6}{p['k']:>4g}{p['beta']:>6g}{'yes' if p['hard_negatives'] else 'no':>6}"
              f"{p['quantization_weight']:>8g}   {cells}   {paper:>20}{s['seconds']['mean']:>9.1f}")
    if args.json:
        write_json(args.json, {"config": {k: v for k, v in vars(config).items()},
                               "results": results})
        print(f"wrote {args.json}")
    return 0
