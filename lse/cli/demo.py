"""``lse demo``: the built-in default job (no data needed)."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser(
        "demo", help="run the built-in demo (SBM benchmark, quick settings)",
        description="Run the stochastic-block-model benchmark with quick settings: one trial of "
                    "each of LSE, COS, DCH and DHN on a 500 x 10 graph, printed beside the "
                    "paper's Table 1. Needs no data.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--epochs", type=int, default=50, help="passes over the positives")
    p.set_defaults(func=run)


def run(args) -> int:
    from . import main
    return main(["sbm", "--model", "all", "--trials", "1", "--epochs", str(args.epochs)])
