"""word2hashes on real text: a Table-3-like comparison of LSE, COS, DCH, DHN and SVD + hashing.

    python examples/word2hashes_enwiki.py [--data ../shared/data/text] [--work DIR]

1. prepares the cooccurrence dataset of the Wikipedia parts + NLTK corpora in DATA (``lse
   prepare``; skipped when WORK/dataset exists);
2. trains every neural model (multi-context, L = 3, 32 bits) on the same small grid of
   (K, beta, lambda) with the same epoch budget, and the PPMI + SVD baselines (32 bits, by sign
   and by SimHash) on their own small grid (context smoothing, eigenvalue weight, centring,
   SimHash tables);
3. picks each model's best grid point by WP + F1 on the TUNING query set, retrains that point
   with the final epoch budget (the same for every neural model; the grid's short budget only
   ranks the points), and scores it on the disjoint REPORT query set: P / R / F1, WP, HR@50,
   HR@500, clusters, training time;
4. writes WORK/results.json (the table, every grid point, the settings) and
   WORK/comparison.png (F1 and WP per model; the tuning grid as F1 vs WP).

Trained models are kept in WORK/models/ and reused when the script is run again (an interrupted
run continues where it stopped). Sized for a 2-core machine: about an hour from scratch with the
defaults (48 grid runs of 20-60 s, 4 final runs of 2-3 min, measured with other jobs running).
``--quick`` runs a minutes-long smoke version (1 grid point, 1 epoch).
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "text"
NLTK_CORPORA = ("brown", "gutenberg", "reuters", "movie_reviews", "abc", "webtext",
                "state_union", "inaugural", "treebank", "conll2000")
NEURAL = ("lse", "cos", "dch", "dhn")
#: The same grid for every neural model (the paper's Figure 3 kind of grid, cut to fit 2
#: cores): K x beta x lambda. Our quantization loss is a mean over coordinates (DCH's Cauchy
#: one is per item), so lambda is on its own scale.
GRID = {"k": (4.0, 8.0, 16.0), "beta": (1.0, 4.0), "quantization_weight": (0.01, 0.1)}
#: The SVD baselines' grid: PPMI context smoothing, U S^p weight, centring, SimHash tables.
SVD_GRID = {"alpha": (1.0, 0.75), "eig_weight": (0.0, 0.5, 1.0), "center": (True, False)}
SIMHASH_TABLES = (1, 3)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="directory with enwiki/*.xz and nltk_data/")
    p.add_argument("--work", type=Path, default=Path("word2hashes_enwiki"),
                   help="dataset, models and results go here")
    p.add_argument("--dataset", type=Path, help="use this prepared dataset instead of "
                   "WORK/dataset")
    p.add_argument("--max-vocab", type=int, default=10000, help="lse prepare --max-vocab")
    p.add_argument("--top-k", type=int, default=20, help="lse prepare --top-k (pairs per word)")
    p.add_argument("--epochs", type=int, default=5,
                   help="epoch budget of every grid point (ranks the grid)")
    p.add_argument("--final-epochs", type=int, default=20,
                   help="epoch budget of every neural model's chosen point (reported)")
    p.add_argument("--positives", type=int, default=1024,
                   help="positives per batch (+ as many hard and twice as many easy negatives)")
    p.add_argument("--queries", type=int, default=3000,
                   help="queries per query set (P / R / F1 and WP)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--models", default=",".join(NEURAL + ("svd-sign", "svd-simhash")),
                   help="comma-separated models to compare")
    p.add_argument("--quick", action="store_true", help="smoke run: one grid point, 1 epoch")
    return p.parse_args(argv)


def prepare_dataset(args) -> Path:
    from lse.cli import main as lse

    path = args.dataset or args.work / "dataset"
    if path.is_dir():
        print(f"dataset: {path} (already prepared)")
        return path
    enwiki = sorted((args.data / "enwiki").glob("*.xz"))
    nltk_data = args.data / "nltk_data"
    if not enwiki or not nltk_data.is_dir():
        sys.exit(f"no corpus in {args.data} (expected enwiki/*.xz and nltk_data/); pass --data")
    argv = ["prepare", *map(str, enwiki), *(f"nltk:{c}" for c in NLTK_CORPORA),
            "--nltk-data", str(nltk_data), "--out", str(path), "--max-vocab",
            str(args.max_vocab), "--top-k", str(args.top_k), "--seed", str(args.seed)]
    print("$ lse " + " ".join(argv), flush=True)
    if lse(argv) != 0:
        sys.exit("lse prepare failed")
    return path


def grid_points(grid: dict):
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        yield dict(zip(keys, values))


def slug(model: str, params: dict) -> str:
    return model + "".join(f"_{k[:1]}{v:g}" if not isinstance(v, bool) else f"_{k[:1]}{int(v)}"
                           for k, v in params.items())


def summary(r: dict) -> dict:
    keys = ("precision", "recall", "f1", "f1_per_query", "wp", "wp_random", "hr@50", "hr@500",
            "clusters", "mean_retrieved", "queries", "wp_queries")
    return {k: r[k] for k in keys}


def run_neural(model: str, params: dict, args, dataset_path: Path, epochs: int):
    from lse.words import load_model
    from lse.words.evaluate import build_index
    from lse.words.train import TrainConfig, train_model

    name = slug(model, params) + ("" if epochs == args.epochs else f"_e{epochs}")
    out = args.work / "models" / name
    config = TrainConfig(model=model, epochs=epochs, positives=args.positives,
                         hard=args.positives, easy=2 * args.positives, seed=args.seed, **params)
    if (out / "config.json").is_file():
        trained = load_model(out, verify=False)
    else:
        trained = train_model(dataset_path, config, out, resume=True, overwrite=True,
                              progress=False, log=lambda *a: None)
    return build_index(trained), trained.training["seconds"], trained.params


class SVDCache:
    """PPMI + SVD once per (alpha, eig_weight); the hashings reuse the vectors."""

    def __init__(self, dataset, seed):
        self.dataset, self.seed, self.vectors, self.seconds = dataset, seed, {}, {}

    def get(self, alpha, eig_weight):
        from lse.words.svd import ppmi, svd_vectors

        key = (alpha, eig_weight)
        if key not in self.vectors:
            started = time.perf_counter()
            self.vectors[key] = svd_vectors(ppmi(self.dataset.counts, alpha), 32, eig_weight,
                                            self.seed)
            self.seconds[key] = time.perf_counter() - started
        return self.vectors[key], self.seconds[key]


def run_svd(model: str, params: dict, args, cache: SVDCache):
    from lse.words.evaluate import build_index
    from lse.words.svd import fit_svd_model

    vectors, svd_seconds = cache.get(params["alpha"], params["eig_weight"])
    started = time.perf_counter()
    fitted = fit_svd_model(cache.dataset, model, dim=32, seed=args.seed, vectors=vectors,
                           **params)
    return build_index(fitted), svd_seconds + time.perf_counter() - started, fitted.params


def plot(results: dict, grid_rows: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(results)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, metric, title in ((axes[0], "f1", "F1 (report queries)"),
                              (axes[1], "wp", "WP (report queries)")):
        values = [results[m]["report"][metric] or 0.0 for m in models]
        bars = ax.bar(models, values, color=["C3" if m == "lse" else "C0" for m in models])
        ax.bar_label(bars, fmt="%.3f", fontsize=8)
        ax.set_title(title)
        ax.tick_params(axis="x", rotation=30)
    ax = axes[2]
    for i, m in enumerate(models):
        pts = [(r["tune"]["f1"], r["tune"]["wp"] or 0.0) for r in grid_rows if r["model"] == m]
        ax.scatter(*zip(*pts), label=m, s=18, color=f"C{i}", alpha=0.7)
    ax.set_xlabel("F1 (tuning queries)")
    ax.set_ylabel("WP (tuning queries)")
    ax.set_title("every grid point")
    ax.legend(fontsize=8)
    fig.suptitle("word2hashes on enwiki + NLTK corpora: exact-hash retrieval, 32 bits")
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)


def main(argv=None) -> int:
    args = parse_args(argv)
    from data_prep.dataset import load_dataset

    from lse.io import atomic_path
    from lse.words.evaluate import evaluate

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    grid = {k: v[:1] for k, v in GRID.items()} if args.quick else GRID
    svd_grid = {k: v[:1] for k, v in SVD_GRID.items()} if args.quick else SVD_GRID
    if args.quick:
        args.epochs = args.final_epochs = 1
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    dataset_path = prepare_dataset(args)
    dataset = load_dataset(dataset_path)
    print(f"dataset: {len(dataset.vocab):,} words, {dataset.pairs.nnz:,} training pairs, "
          f"{len(dataset.heldout):,} held out", flush=True)
    cache = SVDCache(dataset, args.seed)
    evaluate_args = dict(queries=args.queries, wp_queries=args.queries, seed=args.seed)

    grid_rows, results = [], {}
    for model in models:
        if model in NEURAL:
            points = list(grid_points(grid))
        else:
            tables = (1,) if model == "svd-sign" else SIMHASH_TABLES
            points = [dict(p, tables=t) for p in grid_points(svd_grid) for t in tables]
        best = None
        for params in points:
            if model in NEURAL:
                word_index, seconds, full = run_neural(model, params, args, dataset_path,
                                                       args.epochs)
            else:
                word_index, seconds, full = run_svd(model, params, args, cache)
            t0 = time.perf_counter()
            tune = evaluate(word_index, dataset, query_set="tune", **evaluate_args)
            row = {"model": model, "grid": params, "params": full,
                   "train_seconds": round(seconds, 1), "tune": summary(tune)}
            grid_rows.append(row)
            score = tune["f1"] + (tune["wp"] or 0.0)
            print(f"{model:<12} {json.dumps(params):<62} tune F1 {tune['f1']:.3f} WP "
                  f"{tune['wp'] or 0:.3f} clusters {tune['clusters']:>6} train {seconds:6.1f} s"
                  f" (+{time.perf_counter() - t0:.0f} s eval)", flush=True)
            if best is None or score > best[0]:
                best = (score, row, word_index)
        _, row, word_index = best
        seconds, epochs = row["train_seconds"], None
        if model in NEURAL and args.final_epochs != args.epochs:
            epochs = args.final_epochs
            word_index, seconds, _ = run_neural(model, row["grid"], args, dataset_path, epochs)
            print(f"{model:<12} chosen point retrained for {epochs} epochs in {seconds:.1f} s",
                  flush=True)
        report = evaluate(word_index, dataset, query_set="report", **evaluate_args)
        results[model] = {"grid": row["grid"], "params": row["params"], "final_epochs": epochs,
                          "train_seconds": round(seconds, 1), "tune": row["tune"],
                          "report": summary(report)}

    print_table(results, args)
    payload = {"settings": {k: str(v) if isinstance(v, Path) else v
                            for k, v in vars(args).items()},
               "dataset": {"path": str(dataset_path), "words": len(dataset.vocab),
                           "training_pairs": int(dataset.pairs.nnz),
                           "heldout": int(len(dataset.heldout))},
               "grid": {"neural": grid, "svd": svd_grid, "simhash_tables": SIMHASH_TABLES},
               "selection": "max WP + F1 on the tuning query set (grid at --epochs); the "
                            "chosen point retrained for --final-epochs; reported on the "
                            "disjoint report query set",
               "table": results, "grid_results": grid_rows,
               "total_seconds": round(time.perf_counter() - started, 1)}
    with atomic_path(args.work / "results.json") as tmp:
        tmp.write_text(json.dumps(payload, indent=2) + "\n")
    with atomic_path(args.work / "comparison.png") as tmp:
        plot(results, grid_rows, tmp)
    print(f"wrote {args.work / 'results.json'} and {args.work / 'comparison.png'} "
          f"({payload['total_seconds'] / 60:.1f} min in all)")
    return 0


def print_table(results: dict, args) -> None:
    print(f"\nTable-3-like comparison: 32-bit codes, exact-hash retrieval over the whole "
          f"vocabulary; best grid point ({args.epochs} epochs) by WP + F1 on the tuning "
          f"queries, retrained for {args.final_epochs} epochs (every neural model), scored on "
          f"the report queries")
    header = (f"{'model':<12}{'setting':<44}{'P':>7}{'R':>7}{'F1':>7}{'WP':>7}{'HR@50':>7}"
              f"{'HR@500':>8}{'clusters':>10}{'train s':>9}")
    print(header)
    print("-" * len(header))
    for model, r in results.items():
        g = r["grid"]
        setting = " ".join(f"{k[:5]}={v:g}" if not isinstance(v, bool) else f"{k[:6]}={v}"
                           for k, v in g.items())
        t = r["report"]
        print(f"{model:<12}{setting:<44}{t['precision']:>7.3f}{t['recall']:>7.3f}"
              f"{t['f1']:>7.3f}{t['wp'] or 0:>7.3f}{t['hr@50']:>7.3f}{t['hr@500']:>8.3f}"
              f"{t['clusters']:>10,}{r['train_seconds']:>9.1f}")


if __name__ == "__main__":
    sys.exit(main())
