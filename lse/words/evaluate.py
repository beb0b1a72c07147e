"""The word index, and how word2hashes models are judged (SPEC section 6; the paper's 4.3).

The word index (``lse index MODEL --out INDEX``) is a directory, written atomically::

    INDEX/
      index.npz        the exact-collision :class:`lse.index.HashIndex` of the L codes per word,
                       with the vocabulary as item names
      embeddings.npy   the model's dense vectors (for the hit ratio, which ranks retrieved
                       words by cosine; optional)
      info.json        format + version, the model's name, hyper-parameters and source

A bare ``.npz`` written by :meth:`HashIndex.save` (with names) is accepted too.

Metrics (:func:`evaluate`), each over the WHOLE vocabulary (a query retrieves the union of its
L buckets, itself excluded):

- **P / R / F1** against the query's row of the training pair matrix D, for queries drawn at
  random from the vocabulary. ``f1`` is the F1 of the mean P and R (the paper's convention,
  as in :func:`lse.metrics.precision_recall_f1`'s ``f1_of_means``); ``f1_per_query`` is the
  mean of per-query F1s.
- **WP** (Wu-Palmer on WordNet 3.0): queries drawn from the WP vocabulary, retrieved sets
  restricted to it, conventions of :class:`lse.wordnet.WordNetScorer` (max over noun-noun
  and verb-verb synset pairs; undefined pairs count 0; an empty retrieved set scores 0).
  Beside it, the share of queries that retrieve anything, the WP over those, and the WP of
  random sets of the same sizes (chance level: about 0.33 on an English vocabulary), see
  :func:`wp_scores`.
- **HR@50 / HR@500** on the dataset's held-out pairs: the target is among the top n of the
  query's retrieved words ranked by dense (max-)cosine.
- **clusters**: buckets holding at least two words.

Query sets: ``report`` and ``tune`` are disjoint halves of one seeded permutation of the
candidate words (:func:`query_sets`), so hyper-parameters chosen on ``tune`` are judged on
words they never saw; ``all`` draws from every candidate (e.g. every WP word).
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import LSEError
from ..index import HashIndex
from ..io import atomic_directory

INDEX_FORMAT, INDEX_VERSION = "lse-word-index", 1
INDEX_FILE, EMBEDDINGS_FILE, INFO_FILE = "index.npz", "embeddings.npy", "info.json"
QUERY_SETS = ("report", "tune", "all")


@dataclass
class WordIndex:
    """A hash index over a vocabulary, with (optionally) the dense vectors of its model."""

    index: HashIndex
    embeddings: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    @property
    def vocab(self) -> np.ndarray:
        return self.index.names


def build_index(model) -> WordIndex:
    """The :class:`WordIndex` of a :class:`lse.words.WordModel`."""
    index = HashIndex(model.codes, model.bits, names=model.vocab)
    info = {"format": INDEX_FORMAT, "version": INDEX_VERSION, "model": model.name,
            "params": model.params, "bits": model.bits, "contexts": model.contexts}
    return WordIndex(index, model.embeddings, info)


def save_index(word_index: WordIndex, path: str | os.PathLike, *, embeddings: bool = True,
               overwrite: bool = False) -> Path:
    """Write the index directory atomically (see the module docstring)."""
    path = Path(path)
    with atomic_directory(path, overwrite=overwrite) as tmp:
        word_index.index.save(tmp / INDEX_FILE)
        info = dict(word_index.info, embeddings=bool(embeddings
                                                       and word_index.embeddings is not None))
        if info["embeddings"]:
            np.save(tmp / EMBEDDINGS_FILE, word_index.embeddings)
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return path


def load_index(path: str | os.PathLike) -> WordIndex:
    """Read an index directory (or a bare HashIndex ``.npz``); LSEError if missing/corrupt."""
    path = Path(path)
    if path.is_file():
        index, info, embeddings = HashIndex.load(path), {}, None
    elif path.is_dir():
        if not (path / INFO_FILE).is_file():
            hint = " (a model? build its index with lse index MODEL --out INDEX)" \
                if (path / "config.json").is_file() else ""
            raise LSEError(f"{path} is not an lse word index: {INFO_FILE} is missing{hint}")
        try:
            info = json.loads((path / INFO_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise LSEError(f"{path / INFO_FILE}: corrupt index info ({exc})") from None
        if not isinstance(info, dict) or info.get("format") != INDEX_FORMAT \
                or info.get("version") != INDEX_VERSION:
            raise LSEError(f"{path} is not an lse word index of version {INDEX_VERSION} "
                           f"(rebuild it with lse index)")
        index = HashIndex.load(path / INDEX_FILE)
        embeddings = None
        if info.get("embeddings"):
            try:
                embeddings = np.load(path / EMBEDDINGS_FILE, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise LSEError(f"{path / EMBEDDINGS_FILE}: unreadable ({exc})") from None
            if embeddings.ndim != 3 or embeddings.shape[0] != index.n_items:
                raise LSEError(f"{path / EMBEDDINGS_FILE}: shape {embeddings.shape} does not "
                               f"match the {index.n_items} indexed words")
    else:
        raise LSEError(f"index {path} does not exist (make one with lse index MODEL --out "
                       f"{path})")
    if index.names is None:
        raise LSEError(f"{path}: the index has no words (item names); rebuild it with lse index")
    return WordIndex(index, embeddings, info)


# --------------------------------------------------------------------------------------------
# Query sets


def query_sets(candidates, count: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Disjoint ``report`` and ``tune`` query sets of up to ``count`` words each, and ``all``.

    One permutation of ``candidates`` (seeded by ``seed``): ``report`` takes the first
    ``min(count, ceil(m / 2))`` words, ``tune`` up to ``count`` of the rest (m = number of
    candidates), so the two never overlap and each is the same for any caller. ``all`` takes
    the first ``count`` words of the permutation (every candidate when ``count >= m``); it
    overlaps both, for scoring a final model on as many words as wanted.
    """
    candidates = np.asarray(candidates, np.int64)
    if int(count) != count or count < 1:
        raise LSEError(f"the number of queries must be a positive integer (got {count})")
    order = np.random.default_rng([seed, 0x9E7]).permutation(candidates)
    first = min(int(count), math.ceil(len(order) / 2))
    return {"report": np.sort(order[:first]),
            "tune": np.sort(order[first:first + int(count)]),
            "all": np.sort(order[:int(count)])}


def _pick(candidates, count, seed, query_set) -> np.ndarray:
    if query_set not in QUERY_SETS:
        raise LSEError(f"query set must be one of {', '.join(QUERY_SETS)} (got {query_set!r})")
    return query_sets(candidates, count, seed)[query_set]


# --------------------------------------------------------------------------------------------
# Metrics


def check_vocabulary(word_index: WordIndex, vocab) -> None:
    """The index must list exactly the dataset's words in the dataset's order."""
    names = word_index.vocab
    if len(names) != len(vocab) or not np.array_equal(names, np.asarray(vocab, dtype=str)):
        raise LSEError(f"the index ({len(names)} words) was not built from this dataset's "
                       f"vocabulary ({len(vocab)} words); evaluate a model trained on it")


def evaluate(word_index: WordIndex, dataset, *, queries: int = 1000, wp_queries: int = 1000,
             query_set: str = "report", seed: int = 0, embeddings=None, wordnet: bool = True,
             progress: bool = False) -> dict:
    """All metrics of a word index on a loaded dataset (see the module docstring).

    ``embeddings`` (n, L, d) overrides the index's stored vectors for the hit ratio. With
    ``wordnet=False``, or when WordNet is not installed, ``wp`` is None and ``notes`` says why.
    """
    from ..metrics import hit_ratio, precision_recall_f1

    check_vocabulary(word_index, dataset.vocab)
    index, n = word_index.index, len(dataset.vocab)
    out, notes, seconds = {"query_set": query_set, "seed": seed}, [], {}

    t = time.perf_counter()
    ids = _pick(np.arange(n), queries, seed, query_set)
    retrieved = index.query_ids(ids)
    scores = precision_recall_f1(retrieved, dataset.pairs[ids], query_ids=ids)
    out.update(precision=scores["precision"], recall=scores["recall"],
               f1=scores["f1_of_means"], f1_per_query=scores["f1"], queries=len(ids),
               mean_retrieved=float(np.diff(retrieved.indptr).mean()) if len(ids) else 0.0)
    seconds["prf"] = time.perf_counter() - t

    t = time.perf_counter()
    out.update(wp=None, wp_queries=0, wp_vocabulary=None, wp_covered=None,
               wp_of_covered=None, wp_random=None)
    if wordnet:
        try:
            from ..wordnet import WordNetScorer

            scorer = WordNetScorer(dataset.vocab, progress=progress)
        except LSEError as exc:
            notes.append(f"WP not computed: {exc}")
        else:
            pool = scorer.wp_vocabulary()
            out["wp_vocabulary"] = int(len(pool))
            if len(pool) < 2:
                notes.append("WP not computed: fewer than 2 vocabulary words are in WordNet")
            else:
                wp_ids = _pick(pool, wp_queries, seed, query_set)
                out.update(wp_scores(scorer, pool, wp_ids, index.query_ids(wp_ids), seed))
    else:
        notes.append("WP not computed (disabled)")
    seconds["wp"] = time.perf_counter() - t

    t = time.perf_counter()
    vectors = embeddings if embeddings is not None else word_index.embeddings
    heldout = np.asarray(dataset.heldout, np.int64).reshape(-1, 2)
    out.update({"hr@50": None, "hr@500": None, "heldout_pairs": int(len(heldout))})
    if vectors is None:
        notes.append("HR not computed: no dense embeddings (index built with --no-embeddings; "
                     "pass --model MODEL)")
    elif len(heldout) == 0:
        notes.append("HR not computed: the dataset has no held-out pairs")
    else:
        vectors = np.asarray(vectors)
        if vectors.ndim != 3 or vectors.shape[0] != n:
            raise LSEError(f"embeddings of shape {vectors.shape} do not match the {n} words")
        hr = hit_ratio(index.query_ids(heldout[:, 0]), heldout[:, 0], heldout[:, 1], vectors,
                       n=(50, 500))
        out["hr@50"], out["hr@500"] = hr["HR@50"], hr["HR@500"]
    seconds["hr"] = time.perf_counter() - t

    stats = index.stats()
    out.update(clusters=stats["n_nonsingleton_buckets"], words=n, bits=index.dim,
               contexts=index.codes_per_item, index=stats,
               model=word_index.info.get("model"), params=word_index.info.get("params"),
               seconds={k: round(v, 3) for k, v in seconds.items()}, notes=notes)
    return out


def wp_scores(scorer, pool, query_ids, retrieved, seed: int = 0) -> dict:
    """WP of retrieved sets, with what it takes to read it.

    ``wp`` is the metric; ``wp_covered`` the share of queries retrieving at least one other
    WP-vocabulary word (the others score 0), ``wp_of_covered`` the mean WP over those; and
    ``wp_random`` the WP of chance: the same number of WP-vocabulary words per query drawn at
    random (seeded). Two random WordNet words are far from unrelated under Wu-Palmer (they
    share the top of the hierarchy), so the gain over ``wp_random`` is what the model adds.
    """
    import scipy.sparse as sp

    wp, per_query = scorer.score(query_ids, retrieved)
    in_pool = np.zeros(retrieved.shape[1], bool)
    in_pool[pool] = True
    rows = np.repeat(np.arange(len(query_ids)), np.diff(retrieved.indptr))
    keep = in_pool[retrieved.indices] & (retrieved.indices != query_ids[rows])
    sizes = np.bincount(rows[keep], minlength=len(query_ids))
    covered = sizes > 0
    rng = np.random.default_rng([seed, 0x3A9])
    rand_rows = np.repeat(np.arange(len(query_ids)), sizes)
    rand_cols = rng.choice(pool, len(rand_rows))
    random_sets = sp.csr_matrix((np.ones(len(rand_rows), bool), (rand_rows, rand_cols)),
                                shape=retrieved.shape)
    return {"wp": wp, "wp_queries": int(len(query_ids)), "wp_covered": float(covered.mean()),
            "wp_of_covered": float(per_query[covered].mean()) if covered.any() else 0.0,
            "wp_random": scorer.score(query_ids, random_sets)[0]}


# --------------------------------------------------------------------------------------------
# Clusters of a word (lse query)


def word_clusters(word_index: WordIndex, words, samples: int = 10) -> list[dict]:
    """Each word's L clusters: size, code and up to ``samples`` siblings (like the paper's
    Table 7). Siblings are ordered by dense cosine to the word when the index has embeddings,
    else by vocabulary order (most frequent first). Unknown words raise one LSEError."""
    from ..metrics import max_cosine_similarity

    index = word_index.index
    ids = index.ids_for(list(words))
    similarity = None if word_index.embeddings is None else max_cosine_similarity(
        word_index.embeddings)
    results = []
    for word, item in zip(words, ids):
        clusters, seen = [], {}
        union = set()
        for context, bucket in enumerate(index.item_buckets[item]):
            members = index.bucket_items[index.bucket_offsets[bucket]:
                                         index.bucket_offsets[bucket + 1]]
            siblings = members[members != item]
            union.update(siblings.tolist())
            if similarity is not None and len(siblings):
                sims = similarity(np.full(len(siblings), item), siblings)
                siblings = siblings[np.lexsort((siblings, -sims))]
            entry = {"context": context + 1, "size": int(len(members)),
                     "code": index.bucket_codes[bucket].tobytes().hex(),
                     "siblings": [str(index.names[s]) for s in siblings[:samples]]}
            if int(bucket) in seen:
                entry["same_as_context"] = seen[int(bucket)]
            seen.setdefault(int(bucket), context + 1)
            clusters.append(entry)
        results.append({"word": word, "id": int(item), "clusters": clusters,
                        "retrieved": len(union)})
    return results
