"""``lse query INDEX WORD...``: print each word's clusters (the paper's Table 7)."""
from __future__ import annotations

import argparse

from .common import output_file, positive_int, write_json


def register(sub) -> None:
    p = sub.add_parser(
        "query", help="show the hash clusters of words",
        description="Look words up in a word index and print each of their L clusters (the "
                    "words sharing that hash code): size and sample siblings, most similar "
                    "first by dense cosine when the index has embeddings. The retrieved set of "
                    "a word is the union of its clusters.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("index", metavar="INDEX", help="index directory (from lse index)")
    p.add_argument("words", nargs="+", metavar="WORD", help="words to look up")
    p.add_argument("--samples", type=positive_int, default=10, help="siblings shown per cluster")
    p.add_argument("--json", metavar="PATH", type=output_file, help="also write the clusters as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..words.evaluate import load_index, word_clusters

    results = word_clusters(load_index(args.index), args.words, samples=args.samples)
    for r in results:
        print(f"{r['word']}  ({r['retrieved']:,} words retrieved)")
        for c in r["clusters"]:
            if "same_as_context" in c:
                print(f"  {c['context']}. same cluster as {c['same_as_context']}")
                continue
            more = ", ..." if c["size"] - 1 > len(c["siblings"]) else ""
            siblings = ", ".join(c["siblings"]) + more if c["siblings"] else "(alone)"
            print(f"  {c['context']}. {c['size']:>6,} words  {siblings}")
    if args.json:
        write_json(args.json, results)
        print(f"wrote {args.json}")
    return 0
