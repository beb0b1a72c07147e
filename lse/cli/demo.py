"""``lse demo``: the main job on built-in data — word2hashes end to end.

prepare the shipped public-domain corpus -> train an LSE word2hashes model (L = 3 hashes per
word) -> build the exact-hash index -> print the clusters of a few query words -> evaluate
(P / R / F1 against the cooccurrence pairs, Wu-Palmer on WordNet when installed, clusters).
Each step is the ordinary ``lse`` command a user would type; the outputs stay in ``--dir`` so
they can be inspected or queried again (``lse query DIR/index WORD``).
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from .common import positive_int

#: Query words shown by default: common enough in the demo corpus to have rich contexts.
DEFAULT_WORDS = ("king", "ship", "war", "love", "sea", "gold", "congress", "horse")


def register(sub) -> None:
    p = sub.add_parser(
        "demo", help="run the built-in demo: word2hashes on a shipped corpus",
        description="Prepare the public-domain corpus shipped with lse (13 Project Gutenberg "
                    "books, the State of the Union and inaugural addresses; 1.6M tokens), train "
                    "an LSE word2hashes model (3 hashes of 32 bits per word), build the "
                    "exact-hash index, print the clusters of a few words and evaluate them. "
                    "About 2 minutes on 2 cores. Needs no download.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dir", default="lse-demo", help="working directory for the outputs")
    p.add_argument("--epochs", type=positive_int, default=None,
                   help="training epochs (default: %(default)s = 16 for word2hashes, where 8 "
                        "gave F1 0.10 and 16 F1 0.13; the SBM benchmark's own with --sbm)")
    p.add_argument("--words", nargs="+", default=list(DEFAULT_WORDS), help="query words")
    p.add_argument("--fresh", action="store_true", help="redo every step (default: reuse "
                   "the dataset of an earlier demo run)")
    p.add_argument("--sbm", action="store_true",
                   help="run the stochastic-block-model benchmark instead (one trial of each "
                        "model, paper Table 1)")
    p.set_defaults(func=run)


def _step(title: str) -> float:
    print(f"\n== {title}", flush=True)
    return time.perf_counter()


def run(args) -> int:
    from . import main
    from ..errors import LSEError

    if args.sbm:
        epochs = [] if args.epochs is None else ["--epochs", str(args.epochs)]
        return main(["sbm", "--model", "all", "--trials", "1", *epochs])
    if args.epochs is None:
        args.epochs = 16
    corpus = sorted(str(p) for p in (Path(__file__).parents[1] / "demo_data").glob("*.xz"))
    if not corpus:
        raise LSEError("the demo corpus (lse/demo_data/*.xz) is missing from this installation")
    work = Path(args.dir)
    if args.fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    dataset, model, index = work / "dataset", work / "model", work / "index"
    report = work / "evaluation.json"
    start = time.perf_counter()

    t = _step(f"1/5 prepare {len(corpus)} public-domain texts -> {dataset}")
    if dataset.exists():
        print(f"reusing {dataset} (pass --fresh to rebuild)")
    else:
        code = main(["prepare", *corpus, "--out", str(dataset), "--min-count", "10",
                     "--top-k", "40", "--holdout", "1000"])
        if code:
            return code
    print(f"({time.perf_counter() - t:.0f} s)")

    t = _step(f"2/5 train LSE word2hashes, L = 3 x 32 bits, {args.epochs} epochs -> {model}")
    code = main(["train", str(dataset), "--model", "lse", "--out", str(model), "--force",
                 "--epochs", str(args.epochs), "--positives", "2048", "--hard", "2048",
                 "--easy", "4096"])
    if code:
        return code
    print(f"({time.perf_counter() - t:.0f} s)")

    t = _step(f"3/5 build the exact-hash index -> {index}")
    code = main(["index", str(model), "--out", str(index), "--force"])
    if code:
        return code

    _step("4/5 clusters of the query words (each word has 3 hashes = 3 clusters)")
    from ..words.evaluate import load_index
    vocabulary = set(load_index(index).vocab)
    words = [w for w in args.words if w in vocabulary]
    missing = [w for w in args.words if w not in vocabulary]
    if missing:
        print(f"(not in the vocabulary, skipped: {', '.join(missing)})")
    if words:
        code = main(["query", str(index), *words, "--samples", "8"])
        if code:
            return code

    t = _step("5/5 evaluate: P / R / F1 against the training pairs, Wu-Palmer on WordNet")
    code = main(["evaluate", str(index), "--dataset", str(dataset), "--json", str(report)])
    if code:
        return code
    scores = json.loads(report.read_text())
    wp = "n/a (run `sudo make wordnet`)" if scores.get("wp") is None else f"{scores['wp']:.3f}"
    print(f"\nDemo done in {time.perf_counter() - start:.0f} s: F1 {scores['f1']:.3f}, "
          f"WP {wp}, {scores['clusters']} clusters over {scores['words']} words. "
          f"Outputs in {work}/; try `lse query {index} WORD`.")
    return 0
