"""``lse prepare CORPUS... --out DIR``: corpus -> word-cooccurrence training dataset."""
from __future__ import annotations

import argparse
import os
import re

from ..errors import LSEError

DESCRIPTION = """\
Count word cooccurrences in a text corpus and turn them into a binary pair dataset for
word2hashes training (SPEC section 5): a symmetric window of --window words weighted by
1/distance (GloVe's definition), extremely common and rare words dropped, pairs kept when they
are atypical given the two words' marginal frequencies (PMI > --min-pmi), the top --top-k per
word by raw count, binarised and symmetrised, --holdout pairs held out for the hit-ratio test.

CORPUS: text files (plain, .gz, .bz2, .xz; WikiExtractor <doc> files), directories (read
recursively), globs, or nltk:NAME for an NLTK corpus (e.g. nltk:brown) from the NLTK data path.

Runs on a local Dask cluster with one worker per core (--workers), on an existing cluster
(--scheduler tcp://HOST:PORT; the output and work directory must then be on a filesystem every
worker can reach), or in this process (--workers 0). Results are identical in all three cases.
Finished shards are kept in DIR.work until the dataset is complete; a killed run restarted with
--resume reuses them.

Output DIR (written atomically): vocab.txt (word<TAB>count per row), pairs.npz (binary
symmetric CSR training pairs), counts.npz (float64 raw counts), heldout.npy ((n, 2) word ids),
stats.json (corpus, vocabulary, counts, pairs, degree distribution, time, peak memory).
Load it with data_prep.dataset.load_dataset(DIR)."""

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``"512MB"``, ``"2G"``, ``"1.5GiB"``, ``"65536"`` -> bytes."""
    m = _SIZE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (examples: 512MB, 2GB)")
    return int(float(m.group(1)) * 1024 ** " kmgt".index((m.group(2) or " ").lower()))


def _optional_int(text: str) -> int | None:
    return None if text.lower() in ("0", "none", "all") else int(text)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "prepare", help="corpus -> word cooccurrence pair dataset (vocab, pairs, counts)",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("corpus", nargs="+", metavar="CORPUS",
                   help="files, directories, globs or nltk:NAME")
    p.add_argument("--out", required=True, metavar="DIR", help="dataset directory to create")
    p.add_argument("--force", action="store_true", help="replace DIR if it exists")

    g = p.add_argument_group("reading")
    g.add_argument("--tokenizer", default="regex", metavar="NAME",
                   help="'regex' (default: lower-cased runs of letters/digits with internal "
                        "apostrophes, see --token-pattern) or nltk:wordpunct, nltk:treebank, "
                        "nltk:toktok, nltk:tweet, nltk:whitespace")
    g.add_argument("--token-pattern", metavar="REGEX",
                   help="word regex of the regex tokenizer (default: [^\\W_]+(?:'[^\\W_]+)*)")
    g.add_argument("--keep-case", action="store_true", help="do not lower-case the text")
    g.add_argument("--encoding", default="utf-8",
                   help="text encoding of corpus files (default: utf-8); undecodable bytes "
                        "are replaced and counted in stats.json")
    g.add_argument("--nltk-data", action="append", default=[], metavar="DIR",
                   help="NLTK data directory for nltk:NAME corpora and --stopwords "
                        "(repeatable; default: $NLTK_DATA and NLTK's standard places)")
    g.add_argument("--shard-size", type=parse_size, default="64MB", metavar="SIZE",
                   help="split uncompressed files larger than this into shards for parallel "
                        "work; also groups NLTK corpus files (default: 64MB)")

    g = p.add_argument_group("vocabulary")
    g.add_argument("--min-count", type=int, default=10,
                   help="drop words seen fewer times; they are removed from the text before "
                        "windowing, as in GloVe (default: 10)")
    g.add_argument("--max-vocab", type=_optional_int, default=200_000, metavar="N",
                   help="keep at most N words, the most frequent (0: no limit; default: "
                        "200000)")
    g.add_argument("--drop-top", type=int, default=50, metavar="N",
                   help="drop the N most frequent words as extremely common (default: 50)")
    g.add_argument("--max-frequency", type=float, metavar="F",
                   help="also drop words making up more than fraction F of all tokens")
    g.add_argument("--stopwords", metavar="LANG|FILE",
                   help="also drop these words: an NLTK stopwords language (e.g. english) or a "
                        "file with one word per line")

    g = p.add_argument_group("counting")
    g.add_argument("--window", type=int, default=10,
                   help="pairs up to this distance, weighted 1/distance (default: 10, max 20)")
    g.add_argument("--boundary", choices=("line", "paragraph", "document"), default="line",
                   help="windows never cross this: every line end (default; one paragraph per "
                        "line as in WikiExtractor output), a line without words "
                        "(paragraph; for hard-wrapped text), or a document end only")
    g.add_argument("--oov", choices=("remove", "gap"), default="remove",
                   help="out-of-vocabulary words are removed before windowing (default, like "
                        "GloVe) or kept as gaps that occupy window positions. Dropped common "
                        "words are always gaps")
    g.add_argument("--memory-limit", type=parse_size, default="1GB", metavar="SIZE",
                   help="memory budget per worker for counting and reducing; partial counts "
                        "are spilled to the work directory beyond it (default: 1GB)")

    g = p.add_argument_group("pairs")
    g.add_argument("--min-pmi", type=float, default=0.0,
                   help="keep pairs with log(X_ij T / (r_i r_j)) above this (atypical given "
                        "the marginals r; default: 0 = more often than chance)")
    g.add_argument("--top-k", type=int, default=100,
                   help="then keep each word's K pairs with the largest counts (default: 100)")
    g.add_argument("--holdout", type=int, default=4600,
                   help="pairs held out for the hit-ratio test (default: 4600)")
    g.add_argument("--seed", type=int, default=0, help="seed of the held-out draw (default: 0)")
    g.add_argument("--keep-isolated", action="store_true",
                   help="keep words left without any pair (default: remove them)")

    g = p.add_argument_group("execution")
    g.add_argument("--workers", type=int, default=None,
                   help="local Dask worker processes (default: one per core; 0: run in this "
                        "process without Dask)")
    g.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="run on this existing Dask cluster instead of a local one")
    g.add_argument("--resume", action="store_true",
                   help="reuse the shards finished by an interrupted run (in the work dir)")
    g.add_argument("--work-dir", metavar="DIR", help="work directory (default: DIR.work)")
    g.add_argument("--keep-work", action="store_true",
                   help="keep the work directory after success")
    g.add_argument("--quiet", action="store_true", help="no progress bars or messages")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.workers != 0 and not args.scheduler:  # a local cluster: start its fork server now
        from data_prep.executor import start_workers_early
        start_workers_early()  # (its imports overlap with the pipeline's imports below)
    from data_prep.pipeline import PrepareConfig, prepare
    from data_prep.vocab import VocabOptions

    nltk_data = tuple(args.nltk_data) or tuple(
        p for p in os.environ.get("NLTK_DATA", "").split(os.pathsep) if p)
    config = PrepareConfig(
        window=args.window, boundary=args.boundary, oov=args.oov,
        vocab=VocabOptions(min_count=args.min_count, max_vocab=args.max_vocab,
                           drop_top=args.drop_top, max_frequency=args.max_frequency),
        stopwords=args.stopwords, min_pmi=args.min_pmi, top_k=args.top_k,
        holdout=args.holdout, seed=args.seed, keep_isolated=args.keep_isolated,
        tokenizer=args.tokenizer, token_pattern=args.token_pattern,
        lowercase=not args.keep_case, encoding=args.encoding, shard_size=args.shard_size,
        memory_limit=args.memory_limit, nltk_data=nltk_data)
    if args.scheduler and args.workers is not None:
        raise LSEError("--workers applies to the local cluster; it cannot be combined with "
                       "--scheduler")
    stats = prepare(args.corpus, args.out, config, workers=args.workers,
                    scheduler=args.scheduler, resume=args.resume, overwrite=args.force,
                    work_dir=args.work_dir, keep_work=args.keep_work,
                    progress=not args.quiet)
    if not args.quiet:
        print(summary(stats, args.out))
    return 0


def summary(stats: dict, out) -> str:
    """A few human-readable lines from ``stats.json``."""
    c, v, n, p = stats["corpus"], stats["vocabulary"], stats["counts"], stats["pairs"]
    t, r, m = stats["time_seconds"], stats["tokens_per_second"], stats["peak_memory_bytes"]
    d = p["degree"]
    return "\n".join([
        f"wrote {out}",
        f"  corpus     {c['tokens']:,} tokens in {c['shards']} shard(s), "
        f"{c['bytes_decoded']:,} bytes, {c['bad_bytes']:,} bad bytes",
        f"  vocabulary {v['final']:,} words (of {v['distinct_words']:,} distinct; "
        f"{v['dropped_common']:,} common dropped, "
        f"{v['isolated_removed']:,} without pairs removed)",
        f"  counts     {n['nonzeros']:,} nonzeros from {n['pair_events']:,} window pairs",
        f"  pairs      {p['training_pairs']:,} training + {p['heldout']:,} held out; degree "
        f"median {d.get('median', 0):g}, mean {d.get('mean', 0):.1f}, max {d.get('max', 0)}",
        f"  time       {t['total']:.1f} s ({r['total']:,} tokens/s; counting "
        f"{r['counting']:,} tokens/s); peak memory {m['total'] / 2**30:.2f} GB (all "
        f"processes)",
    ])
