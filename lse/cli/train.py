"""``lse train DATASET --model M --out MODEL``: train a word2hashes model (or an SVD baseline)."""
from __future__ import annotations

import argparse

from .common import (fraction, nonnegative_int, nonnegative_number, positive_int, positive_number,
                     probability, quiet_tensorflow)

DESCRIPTION = """\
Train a word2hashes model on a dataset directory made by `lse prepare` and save it as a model
directory (config.json, vocab.txt, embeddings.npy, codes.npy), ready for `lse index`.

Models: lse, cos, dch, dhn are multi-context embedding tables (L contexts of --dim tanh units
per word, dropout shared across the 2L vectors of a pair, base similarity = max cosine over
context pairs) trained on the dataset's pairs: batches of --positives positives, --hard hard
negatives (pairs sharing a neighbour) and --easy random negatives; Adam with a cosine-decayed
learning rate. svd-sign and svd-simhash are the dense baselines: PPMI of the raw counts,
truncated SVD to --dim dimensions, hashed by sign or by random hyperplanes (--bits, --tables).

Long runs: a checkpoint is written atomically after every epoch (to MODEL.ckpt, or
--checkpoint-dir); after an interruption (Ctrl-C, kill -9, a crash) rerun the same command with
--resume to continue after the last completed epoch. The same seed gives the same model.
Defaults for K, beta and lambda depend on the model: --params tuned (default; our grid on
enwiki + NLTK corpora, see examples/word2hashes_enwiki.py) or --params paper (Table 3)."""


def register(sub) -> None:
    from ..words import MODELS

    p = sub.add_parser("train", help="train a word2hashes model (lse, cos, dch, dhn, svd-*)",
                       description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", metavar="DATASET", help="dataset directory (from lse prepare)")
    p.add_argument("--model", required=True, choices=MODELS, help="model to train")
    p.add_argument("--out", required=True, metavar="MODEL", help="model directory to create")
    p.add_argument("--force", action="store_true", help="replace MODEL if it exists")
    p.add_argument("--seed", type=int, default=0, help="seed of sampling, initialisation, "
                   "dropout and SVD (default: 0)")
    p.add_argument("--dim", type=positive_int, default=32,
                   help="embedding width = bits per code for lse/cos/dch/dhn/svd-sign "
                        "(default: 32)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or messages")

    g = p.add_argument_group("lse, cos, dch, dhn")
    g.add_argument("--epochs", type=positive_int, default=20,
                   help="passes over the positive pairs (default: 20)")
    g.add_argument("--resume", action="store_true",
                   help="continue an interrupted run from its last checkpoint")
    g.add_argument("--contexts", "-L", type=positive_int, default=3,
                   help="L: embeddings, codes and clusters per word (default: 3)")
    g.add_argument("--params", choices=("tuned", "paper"), default="tuned",
                   help="table of per-model defaults for K, beta and lambda: tuned (lse 8 / 1 "
                        "/ 0.01, cos 16 / 1 / 0.01, dch 4 / 1 / 0.01, dhn 16 / 4 / 0.1) or "
                        "paper (Table 3: lse 8 / 4 / 0.3, cos 16 / 2 / 0.3, dch 4 / 4 / 3, "
                        "dhn 12 / 1 / 0.3) (default: tuned)")
    g.add_argument("--k", type=positive_number,
                   help="concentration K: p = s(c)^K (default: --params)")
    g.add_argument("--beta", type=nonnegative_number,
                   help="weight of negative pairs (default: --params)")
    g.add_argument("--quantization-weight", "--lambda", dest="quantization_weight",
                   type=nonnegative_number,
                   help="lambda, weight of the quantization loss (mean over coordinates; "
                        "default: --params)")
    g.add_argument("--beta-on", choices=("all", "hard"), default="all",
                   help="beta weighs every negative, or hard negatives only (default: all)")
    g.add_argument("--no-hard-negatives", dest="hard_negatives", action="store_false",
                   help="fill the hard-negative slots with random pairs")
    g.add_argument("--hard-sampling", choices=("uniform", "walk"), default="uniform",
                   help="hard negatives uniform over the set (default) or raw two-hop walks "
                        "(cheaper, biased to pairs with many shared neighbours)")
    g.add_argument("--positives", type=positive_int, default=8192,
                   help="positive pairs per batch (default: 8192)")
    g.add_argument("--hard", type=nonnegative_int, default=8192, help="hard negatives per batch "
                   "(default: 8192)")
    g.add_argument("--easy", type=nonnegative_int, default=16384, help="random negatives per batch "
                   "(default: 16384)")
    g.add_argument("--learning-rate", type=positive_number, default=0.1,
                   help="initial Adam rate, cosine-decayed to 0 (default: 0.1)")
    g.add_argument("--dropout", type=fraction, default=0.1, help="shared dropout rate "
                   "(default: 0.1)")
    g.add_argument("--init-scale", type=positive_number, default=0.05,
                   help="half-width of the uniform initialisation (default: 0.05)")
    g.add_argument("--quantization-ramp", type=probability, default=0.0,
                   help="grow lambda linearly from 0 over this fraction of the epochs "
                        "(default: 0, constant)")
    g.add_argument("--gamma", type=positive_number, default=5.0, help="DCH's gamma (default: 5)")
    g.add_argument("--alpha", type=positive_number, default=5.0, help="DHN's alpha (default: 5)")
    g.add_argument("--checkpoint-dir", metavar="DIR",
                   help="where the per-epoch checkpoints go (default: MODEL.ckpt)")
    g.add_argument("--keep-checkpoints", action="store_true",
                   help="keep the checkpoint directory after success")
    g.add_argument("--tensorboard", metavar="DIR", help="also write TensorBoard logs to DIR")

    g = p.add_argument_group("svd-sign, svd-simhash")
    g.add_argument("--bits", type=positive_int,
                   help="svd-simhash: bits per code (default: --dim)")
    g.add_argument("--tables", type=positive_int, default=1,
                   help="svd-simhash: independent hyperplane sets = codes per word (default: 1)")
    g.add_argument("--ppmi-alpha", type=positive_number, default=1.0,
                   help="context distribution smoothing of PPMI (default: 1 = plain PPMI; "
                        "0.75 is common)")
    g.add_argument("--eig-weight", type=float, default=0.5,
                   help="vectors = U S^p with this p (default: 0.5)")
    g.add_argument("--no-center", dest="center", action="store_false",
                   help="do not subtract the mean vector before hashing")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import LSEError
    from ..words import SVD_MODELS

    if args.model in SVD_MODELS:
        return _run_svd(args)
    quiet_tensorflow()
    from ..words.train import PARAMS, TrainConfig, train_model

    if args.hard < 0 or args.easy < 0:
        raise LSEError("--hard and --easy must be >= 0")
    table = PARAMS[args.params][args.model]
    given = {"k": args.k, "beta": args.beta, "quantization_weight": args.quantization_weight}
    chosen = {key: table[key] if value is None else value for key, value in given.items()}
    config = TrainConfig(
        model=args.model, dim=args.dim, contexts=args.contexts, **chosen, beta_on=args.beta_on,
        hard_negatives=args.hard_negatives, hard_sampling=args.hard_sampling,
        positives=args.positives, hard=args.hard, easy=args.easy, epochs=args.epochs,
        learning_rate=args.learning_rate, dropout=args.dropout, init_scale=args.init_scale,
        quantization_ramp=args.quantization_ramp, gamma=args.gamma, alpha=args.alpha,
        seed=args.seed)
    log = (lambda *a: None) if args.quiet else print
    model = train_model(args.dataset, config, args.out, resume=args.resume,
                        overwrite=args.force, checkpoint_dir=args.checkpoint_dir,
                        keep_checkpoints=args.keep_checkpoints,
                        tensorboard_dir=args.tensorboard, progress=not args.quiet, log=log)
    log(_summary(model, args.out))
    return 0


def _run_svd(args) -> int:
    from data_prep.dataset import load_dataset

    from ..errors import LSEError
    from ..words import save_model
    from ..words.svd import fit_svd_model

    from pathlib import Path
    if Path(args.out).exists() and not args.force:
        raise LSEError(f"{args.out} already exists; choose another --out or pass --force")
    if not args.quiet:
        print(f"lse train: PPMI + truncated SVD to {args.dim} dimensions ...", flush=True)
    dataset = load_dataset(args.dataset)
    model = fit_svd_model(dataset, args.model, dim=args.dim, bits=args.bits, tables=args.tables,
                          alpha=args.ppmi_alpha, eig_weight=args.eig_weight, center=args.center,
                          seed=args.seed)
    save_model(model, args.out, overwrite=args.force)
    if not args.quiet:
        print(_summary(model, args.out))
    return 0


def _summary(model, out) -> str:
    from ..metrics import count_clusters

    seconds = model.training.get("seconds", 0.0)
    return (f"wrote {out}: {model.name}, {len(model.vocab):,} words x {model.contexts} "
            f"code(s) of {model.bits} bits, {count_clusters(model.codes):,} non-singleton "
            f"clusters; trained in {seconds:.1f} s")
