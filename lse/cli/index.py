"""``lse index MODEL --out INDEX``: build the exact-hash index of a word model."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser(
        "index", help="build the hash index of a trained word model",
        description="Put every word's L codes into an exact-collision hash table (the "
                    "retrieved set of a word is the union of its L buckets) and write the index "
                    "directory INDEX (index.npz, the model's dense embeddings for the hit "
                    "ratio, info.json), atomically. Query it with lse query, score it with "
                    "lse evaluate.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="model directory (from lse train)")
    p.add_argument("--out", required=True, metavar="INDEX", help="index directory to create")
    p.add_argument("--force", action="store_true", help="replace INDEX if it exists")
    p.add_argument("--no-embeddings", dest="embeddings", action="store_false",
                   help="leave the dense embeddings out (smaller; lse evaluate then needs "
                        "--model for the hit ratio)")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from ..errors import LSEError
    from ..words import load_model
    from ..words.evaluate import build_index, save_index

    if Path(args.out).exists() and not args.force:
        raise LSEError(f"{args.out} already exists; choose another --out or pass --force")
    word_index = build_index(load_model(args.model))
    save_index(word_index, args.out, embeddings=args.embeddings, overwrite=args.force)
    s = word_index.index.stats()
    print(f"wrote {args.out}: {s['n_items']:,} words x {s['codes_per_item']} code(s) of "
          f"{s['dim']} bits in {s['n_buckets']:,} buckets, {s['n_nonsingleton_buckets']:,} "
          f"non-singleton (largest {s['largest_bucket']:,} words; "
          f"{s['items_in_nonsingleton_buckets']:,} words share a bucket)")
    return 0
