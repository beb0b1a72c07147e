"""``lse evaluate INDEX --dataset DATASET``: P / R / F1, WP, HR@50 / HR@500, clusters."""
from __future__ import annotations

import argparse

from .common import output_file, positive_int, write_json

DESCRIPTION = """\
Score a word index against its dataset (every query retrieves over the whole vocabulary: the
union of its L buckets, itself excluded):
  P / R / F1   against the query's row of the training pairs D, on --queries random words
               (F1 = F1 of the mean P and R, the paper's convention; the mean per-query F1 is
               in the JSON as f1_per_query)
  WP           Wu-Palmer similarity on WordNet 3.0 between each of --wp-queries words (drawn
               from the words WordNet knows as nouns/verbs with hypernyms, or adjectives with
               such a noun/verb reading) and its retrieved words; word-level WP = max over
               noun-noun and verb-verb synset pairs; a pair without one counts 0; an empty
               retrieved set scores 0. Also printed: the share of queries retrieving some
               WordNet word, the WP over those, and the WP of random sets of the same sizes
               (chance level). Skipped with a note when WordNet is not installed
               (`make wordnet`).
  HR@50/500    on the dataset's held-out pairs: is the target among the top 50 / 500 of the
               query's retrieved words ranked by dense cosine (embeddings from the index, or
               --model)
  clusters     buckets holding at least two words
Query sets: --query-set report (default) and tune are disjoint halves of one permutation
(seeded by --seed): tune hyper-parameters on one, report the other. --query-set all draws
from every candidate (e.g. --wp-queries 100000 --query-set all scores every WordNet word)."""


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="score a word index: P/R/F1, WordNet WP, HR@n, clusters",
                       description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("index", metavar="INDEX", help="index directory (from lse index)")
    p.add_argument("--dataset", required=True, metavar="DATASET",
                   help="the dataset directory the model was trained on")
    p.add_argument("--model", metavar="MODEL",
                   help="model directory: its embeddings for the hit ratio (default: those "
                        "stored in the index)")
    p.add_argument("--queries", type=positive_int, default=1000,
                   help="random query words for P / R / F1 (default: 1000)")
    p.add_argument("--wp-queries", type=positive_int, default=1000,
                   help="query words for WP, from the WordNet vocabulary (default: 1000)")
    p.add_argument("--query-set", choices=("report", "tune", "all"), default="report",
                   help="which of the two disjoint query sets, or all: drawn from every "
                        "candidate word (default: report)")
    p.add_argument("--seed", type=int, default=0, help="seed of the query sets (default: 0)")
    p.add_argument("--no-wordnet", dest="wordnet", action="store_false",
                   help="skip the WP metric")
    p.add_argument("--json", metavar="PATH", type=output_file, help="write all results as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from data_prep.dataset import load_dataset

    from ..errors import LSEError
    from ..words import load_model
    from ..words.evaluate import evaluate, load_index

    word_index = load_index(args.index)
    embeddings = None
    if args.model:
        model = load_model(args.model)
        embeddings = model.embeddings
        if model.vocab != word_index.vocab.tolist():
            raise LSEError(f"{args.model} has another vocabulary than the index {args.index}")
    dataset = load_dataset(args.dataset, counts=False)
    result = evaluate(word_index, dataset, queries=args.queries, wp_queries=args.wp_queries,
                      query_set=args.query_set, seed=args.seed, embeddings=embeddings,
                      wordnet=args.wordnet, progress=True)
    print(format_result(result))
    if args.json:
        write_json(args.json, result)
        print(f"wrote {args.json}")
    return 0


def _fmt(value, digits=3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def format_result(r: dict) -> str:
    lines = [f"{r.get('model') or 'index'}: {r['words']:,} words x {r['contexts']} code(s) "
             f"of {r['bits']} bits, {r['clusters']:,} non-singleton clusters",
             f"  P {_fmt(r['precision'])}  R {_fmt(r['recall'])}  F1 {_fmt(r['f1'])} "
             f"(mean per-query F1 {_fmt(r['f1_per_query'])}; {r['queries']} {r['query_set']} "
             f"queries, {r['mean_retrieved']:.1f} words retrieved on average)",
             f"  WP {_fmt(r['wp'])} ({r['wp_queries']} queries of "
             f"{r['wp_vocabulary'] or 0:,} WordNet words; {_fmt(r['wp_covered'], 2)} of them "
             f"retrieve some, WP {_fmt(r['wp_of_covered'])} over those; random sets of the "
             f"same sizes: {_fmt(r['wp_random'])})",
             f"  HR@50 {_fmt(r['hr@50'])}  HR@500 {_fmt(r['hr@500'])} "
             f"({r['heldout_pairs']:,} held-out pairs)"]
    lines += [f"  note: {n}" for n in r["notes"]]
    return "\n".join(lines)
