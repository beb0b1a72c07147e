"""WordNet 3.0 for nltk without downloads, and fast Wu-Palmer (WP) scoring of retrieved sets.

Why this module exists
----------------------
The WP metric (SPEC section 6) needs WordNet 3.0 through nltk, but ``nltk.download`` is not
available everywhere (CI, air-gapped machines). Debian ships the same database in the apt
packages ``wordnet-base`` and ``wordnet-sense-index`` (``/usr/share/wordnet``); nltk refuses a
corpus outside its data path and needs a ``lexnames`` file Debian does not ship, so
:func:`ensure_wordnet` copies the files into a private nltk data directory and writes
``lexnames`` (from the ``lexnames(5WN)`` man page of ``wordnet-base``, or the same fixed table
built into this module when man pages were stripped from the system).

Scoring tens of thousands of queries with nltk's ``wup_similarity`` takes hours (every call
walks the hypernym graph in Python). :class:`WordNetScorer` compiles the noun and verb
hypernym graphs once into integer arrays and sparse matrices, then computes exactly what
``Synset.wup_similarity`` returns (same conventions, including its quirks) for millions of
synset pairs with vectorised scipy operations. See :class:`WordNetScorer` for the definitions.

The compiled graph is cached on disk beside the nltk data (first use ~30 s, then ~1 s).

Command line: ``python -m lse.wordnet`` sets WordNet up, compiles the graph and prints a check
value; ``--install`` first installs the apt packages when no WordNet is available (root).
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from .errors import LSEError
from .io import atomic_directory, atomic_path
from .metrics import as_binary_csr

#: Debian packages that provide WordNet 3.0 in ``/usr/share/wordnet``.
APT_PACKAGES = ("wordnet-base", "wordnet-sense-index")
DEBIAN_WORDNET_DIR = Path("/usr/share/wordnet")
LEXNAMES_MAN_PAGE = Path("/usr/share/man/man5/lexnames.5WN.gz")
#: Environment variable naming the nltk data directory this module writes to.
DATA_ENV = "LSE_NLTK_DATA"

#: The files nltk's ``WordNetCorpusReader`` opens (``lexnames`` is written, not copied).
_WORDNET_FILES = (
    "cntlist.rev", "index.sense", "index.adj", "index.adv", "index.noun", "index.verb",
    "data.adj", "data.adv", "data.noun", "data.verb", "adj.exc", "adv.exc", "noun.exc",
    "verb.exc",
)
#: WordNet 3.0 lexicographer files, in file-number order (lexnames(5WN)); used when the man
#: page is not installed. The syntactic category is implied by the prefix.
_LEXNAMES_30 = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute "
    "noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group "
    "noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant "
    "noun.possession noun.process noun.quantity noun.relation noun.shape noun.state "
    "noun.substance noun.time verb.body verb.change verb.cognition verb.communication "
    "verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion "
    "verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()
_LEX_POS_NUMBER = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}

_MISSING_HELP = (
    "WordNet 3.0 is not available to nltk. Install it with `make wordnet` (runs "
    "`python -m lse.wordnet --install`, i.e. as root `apt-get install -y "
    + " ".join(APT_PACKAGES)
    + "`), or put nltk's own 'wordnet' corpus in an nltk data directory"
)


def nltk_data_dir() -> Path:
    """The nltk data directory this module manages: ``$LSE_NLTK_DATA`` or a user cache dir."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "lse" / "nltk_data"


def lexnames_text(man_page: str | os.PathLike = LEXNAMES_MAN_PAGE) -> str:
    """Contents of WordNet's ``lexnames`` file: ``NN<TAB>name<TAB>pos-number`` per line.

    Parsed from the ``lexnames(5WN)`` man page when it exists (lines starting with two digits
    and a tab), else taken from the built-in WordNet 3.0 table. Numbers must run 00..44.
    """
    man_page = Path(man_page)
    if man_page.is_file():
        with gzip.open(man_page, "rt", encoding="utf-8", errors="replace") as fh:
            rows = [line.split("\t") for line in fh if re.match(r"^[0-9]{2}\t", line)]
        names = [row[1].strip() for row in rows]
        if [int(row[0]) for row in rows] != list(range(len(rows))) or len(names) != 45:
            raise LSEError(f"{man_page}: expected lexicographer files 00..44, got {len(rows)}")
    else:
        names = list(_LEXNAMES_30)
    lines = [f"{i:02d}\t{name}\t{_LEX_POS_NUMBER[name.split('.')[0]]}" for i, name in enumerate(names)]
    return "\n".join(lines) + "\n"


def _build_corpus(source: Path, target: Path) -> None:
    """Copy Debian's WordNet files to ``target`` (an nltk ``corpora/wordnet``) atomically."""
    missing = [name for name in _WORDNET_FILES if not (source / name).is_file()]
    if missing:
        raise LSEError(f"{source} lacks {', '.join(missing)}. " + _MISSING_HELP)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_directory(target, overwrite=True) as tmp:
        for name in _WORDNET_FILES:
            shutil.copyfile(source / name, tmp / name)
        (tmp / "lexnames").write_text(lexnames_text(), encoding="utf-8")


def _find_wordnet():
    """The path pointer of the WordNet nltk would load (directory or zip), or None."""
    import nltk

    for resource in ("corpora/wordnet", "corpora/wordnet.zip/wordnet/"):
        try:
            return nltk.data.find(resource)
        except LookupError:
            pass
    return None


def wordnet_root(source: str | os.PathLike = DEBIAN_WORDNET_DIR):
    """Locate WordNet for nltk, setting WordNet 3.0 up from Debian's files if needed.

    Order: a WordNet nltk already finds (its data path, ``$NLTK_DATA``); else the copy in
    :func:`nltk_data_dir`; else build that copy from ``source`` (``/usr/share/wordnet``).
    Returns nltk's path pointer (cheap: the reader is not loaded). Raises one
    :class:`LSEError` saying how to install WordNet when none of these exists.
    """
    import nltk

    root = _find_wordnet()
    if root is None:
        data_dir = str(nltk_data_dir())
        corpus = Path(data_dir) / "corpora" / "wordnet"
        if not (corpus / "lexnames").is_file():
            source = Path(source)
            if not source.is_dir():
                raise LSEError(f"no WordNet in nltk's data path nor in {source}. " + _MISSING_HELP)
            _build_corpus(source, corpus)
        if data_dir not in nltk.data.path:
            nltk.data.path.insert(0, data_dir)
        root = _find_wordnet()
        if root is None:  # pragma: no cover - the copy above exists
            raise LSEError(f"nltk could not find WordNet in {corpus}. " + _MISSING_HELP)
    return root


def ensure_wordnet(source: str | os.PathLike = DEBIAN_WORDNET_DIR):
    """Return nltk's WordNet reader (``nltk.corpus.wordnet``, loaded); see :func:`wordnet_root`."""
    wordnet_root(source)
    from nltk.corpus import wordnet

    wordnet.ensure_loaded()
    return wordnet


def install_wordnet(*, update: bool = True) -> None:
    """Install the Debian WordNet packages with apt-get (needs root and a Debian system)."""
    if shutil.which("apt-get") is None:
        raise LSEError("apt-get not found: install WordNet 3.0 for nltk another way "
                       "(e.g. nltk's 'wordnet' corpus in $NLTK_DATA)")
    if os.geteuid() != 0:
        raise LSEError("installing WordNet needs root: run `sudo apt-get install -y "
                       + " ".join(APT_PACKAGES) + "` (or `sudo make wordnet`)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    commands = [["apt-get", "update"]] if update else []
    commands.append(["apt-get", "install", "-y", "--no-install-recommends", *APT_PACKAGES])
    for command in commands:
        if subprocess.run(command, env=env).returncode != 0:
            raise LSEError(f"`{' '.join(command)}` failed (see its output above)")


# --------------------------------------------------------------------------------------------
# Wu-Palmer similarity, compiled for speed
# --------------------------------------------------------------------------------------------
#: nltk's name for the virtual root it adds above the verb taxonomies (``simulate_root``).
FAKE_ROOT = "*ROOT*"
#: Bump when the compiled format or its semantics change (invalidates on-disk caches).
_CACHE_FORMAT = 1


def _gather(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the entries of CSR ``rows`` in ``indices``, and which row each came from."""
    counts = indptr[rows + 1] - indptr[rows]
    owner = np.repeat(np.arange(len(rows)), counts)
    shift = indptr[rows] - (np.cumsum(counts) - counts)
    return owner, np.arange(int(counts.sum()), dtype=np.int64) + np.repeat(shift, counts)


def _cross(indptr: np.ndarray, indices: np.ndarray, rows_a: np.ndarray, rows_b: np.ndarray):
    """All (x, y) with x in CSR row ``rows_a[p]`` and y in row ``rows_b[p]``, for every p.

    Returns (owner p, x, y) grouped by p in order: the synset pairs of word pairs.
    """
    na = indptr[rows_a + 1] - indptr[rows_a]
    nb = indptr[rows_b + 1] - indptr[rows_b]
    sizes = na * nb
    owner = np.repeat(np.arange(len(rows_a)), sizes)
    local = np.arange(int(sizes.sum()), dtype=np.int64) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    nb_e = nb[owner]
    return owner, indices[indptr[rows_a][owner] + local // nb_e], indices[indptr[rows_b][owner] + local % nb_e]


def _lookup(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``matrix[rows[k], cols[k]]`` for every k, as a flat array (0 where nothing is stored)."""
    if len(rows) == 0:
        return np.zeros(0, matrix.dtype)
    return np.asarray(matrix[rows, cols]).ravel()


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    a = np.sort(a)
    return a[np.concatenate([[True], a[1:] != a[:-1]])] if len(a) else a


def _csr_lists(lists) -> tuple[np.ndarray, np.ndarray]:
    """(indptr, indices) of a list of integer lists."""
    indptr = np.concatenate([[0], np.cumsum([len(x) for x in lists])]).astype(np.int64)
    indices = np.fromiter((i for x in lists for i in x), dtype=np.int64, count=int(indptr[-1]))
    return indptr, indices


class WupGraph:
    """WordNet's noun and verb hypernym graphs, compiled to compute nltk's ``wup_similarity``.

    What nltk's ``Synset.wup_similarity(other)`` (``simulate_root=True``) computes, and what
    :meth:`wup` reproduces exactly for two synsets of the same part of speech:

    * ancestors ``A(s)``: ``s`` and everything reachable by hypernym and instance-hypernym
      links; for verbs (``_needs_root``) also a virtual root ``*ROOT*`` placed one step beyond
      the farthest ancestor (``d(s, root) = max_{a in A(s)} d(s, a) + 1``, ``d`` = shortest
      number of links);
    * lowest common subsumer: among ``A(s1) & A(s2)`` those with the largest ``min_depth``
      (nltk uses ``use_min_depth=True``), sorted by name; ``s1`` itself if it is one of them,
      else the first. Because of multiple inheritance this need not be ``s1`` even when
      ``s1 == s2``: ``wup(person.n.01, person.n.01) = 0.857``;
    * ``depth = max_depth(lcs) + 1`` (the virtual root has depth 1),
      ``len_i = shortest_path_distance(s_i, lcs) + depth`` where the path distance is the
      minimum over common ancestors x of ``d(s_i, x) + d(lcs, x)``;
    * ``wup = 2 depth / (len_1 + len_2)``.

    Synset ids are sorted by nltk's subsumer preference (``min_depth`` descending, then name),
    so the subsumer is the *first* column of the sparse intersection of two ancestor rows: a
    batch of a million pairs costs two row gathers, one sparse product and a few lookups.

    A graph built by :meth:`from_nltk` also holds the WP lemma table: for every WordNet lemma
    name that qualifies for the WP vocabulary (see :class:`WordNetScorer`), its noun and verb
    synset ids (:meth:`senses`).
    """

    def __init__(self, names, is_verb, path_table, min_depth, max_depth):
        self.names = np.asarray(names, dtype=object)
        self.is_verb = np.asarray(is_verb, dtype=bool)
        #: ``path_table[s, a] = shortest_path_distance(s, a) + 1`` for every ancestor a of s.
        self.path_table = path_table
        self.min_depth = np.asarray(min_depth)
        self.max_depth = np.asarray(max_depth)
        self.index = {name: i for i, name in enumerate(self.names)}
        #: True for synsets with at least one hypernym (the WP vocabulary criterion).
        self.has_hypernym = np.diff(path_table.indptr) > 1 + self.is_verb
        self.set_lemmas([], [], [])

    def set_lemmas(self, lemmas, noun_senses, verb_senses) -> None:
        """Attach the WP lemma table: lemma names and their noun / verb synset id lists."""
        self.lemmas = list(lemmas)
        self.lemma_row = {lemma: i for i, lemma in enumerate(self.lemmas)}
        self.sense_tables = tuple(
            senses if isinstance(senses, tuple) else _csr_lists(senses)
            for senses in (noun_senses, verb_senses))

    @classmethod
    def from_nltk(cls, wordnet) -> "WupGraph":
        """Compile the noun and verb synsets and the WP lemma table of an nltk WordNet reader."""
        synsets = list(wordnet.all_synsets("n")) + list(wordnet.all_synsets("v"))
        names = [s.name() for s in synsets]
        index = {name: i for i, name in enumerate(names)}
        edges = [(i, index[h.name()]) for i, s in enumerate(synsets)
                 for h in s.hypernyms() + s.instance_hypernyms()]
        child, parent = np.array(edges, dtype=np.int64).T
        is_verb = np.array([s.pos() == "v" for s in synsets] + [True])
        graph = cls.compile(names + [FAKE_ROOT], is_verb, child, parent)
        lemmas, nouns, verbs = [], [], []
        candidates = set()
        for pos in ("n", "v", "a"):
            candidates.update(wordnet.all_lemma_names(pos))
        for lemma in sorted(candidates):
            senses = [graph.ids(dict.fromkeys(s.name() for s in wordnet.synsets(lemma, pos)))
                      for pos in ("n", "v")]
            if any(graph.has_hypernym[ids].any() for ids in senses):
                lemmas.append(lemma)
                nouns.append(senses[0])
                verbs.append(senses[1])
        graph.set_lemmas(lemmas, nouns, verbs)
        return graph

    @classmethod
    def compile(cls, names, is_verb, child, parent) -> "WupGraph":
        """Build from a hypernym edge list; the last name must be the virtual root ``*ROOT*``."""
        n = len(names)
        fake = n - 1
        is_verb = np.asarray(is_verb, dtype=bool)
        parents = sp.csr_matrix((np.ones(len(child), bool), (child, parent)), shape=(n, n))
        # Breadth-first closure: (s, a, d) with d = shortest number of links from s up to a.
        src = np.arange(fake, dtype=np.int64)
        keys, dists = [src * n + src], [np.zeros(fake, np.int64)]
        seen = keys[0]
        front_src, front = src, src
        depth = 0
        while len(front):
            depth += 1
            owner, pos = _gather(parents.indptr, front)
            new = _sorted_unique(front_src[owner] * n + parents.indices[pos])
            where = np.minimum(np.searchsorted(seen, new), len(seen) - 1)
            new = new[seen[where] != new]
            seen = np.sort(np.concatenate([seen, new]), kind="stable")
            keys.append(new)
            dists.append(np.full(len(new), depth, np.int64))
            front_src, front = np.divmod(new, n)
        keys, dists = np.concatenate(keys), np.concatenate(dists)
        src, anc = np.divmod(keys, n)
        # Depths as nltk defines them (without the virtual root).
        is_root = np.diff(parents.indptr) == 0
        min_depth = np.full(n, np.iinfo(np.int64).max)
        np.minimum.at(min_depth, src[is_root[anc]], dists[is_root[anc]])
        max_depth = np.zeros(n, np.int64)
        for _ in range(n):
            updated = max_depth.copy()
            np.maximum.at(updated, child, max_depth[parent] + 1)
            if np.array_equal(updated, max_depth):
                break
            max_depth = updated
        farthest = np.zeros(n, np.int64)
        np.maximum.at(farthest, src, dists)
        # The virtual root above every verb (and itself); nltk gives it min/max depth 0.
        verbs = np.flatnonzero(is_verb[:fake])
        src = np.concatenate([src, verbs, [fake]])
        anc = np.concatenate([anc, np.full(len(verbs), fake), [fake]])
        dists = np.concatenate([dists, farthest[verbs] + 1, [0]])
        min_depth[fake] = max_depth[fake] = 0
        order = np.lexsort((anc, src))
        src, anc, dists = src[order], anc[order], dists[order]
        keys = src * n + anc
        indptr = np.concatenate([[0], np.cumsum(np.bincount(src, minlength=n))])
        # shortest_path_distance(s, a) for a in A(s): min over x in A(a) of d(s, x) + d(a, x).
        path = np.empty(len(keys), np.int64)
        for lo in range(0, len(keys), 1 << 20):
            rows = np.arange(lo, min(lo + (1 << 20), len(keys)))
            owner, pos = _gather(indptr, anc[rows])
            through = dists[np.searchsorted(keys, src[rows][owner] * n + anc[pos])] + dists[pos]
            starts = np.concatenate([[0], np.cumsum(indptr[anc[rows] + 1] - indptr[anc[rows]])[:-1]])
            path[rows] = np.minimum.reduceat(through, starts)
        # Relabel by subsumer preference: larger min_depth first, then name (nltk sorts by name).
        name_rank = np.empty(n, np.int64)
        name_rank[sorted(range(n), key=names.__getitem__)] = np.arange(n)
        order = np.lexsort((name_rank, -min_depth))
        new_id = np.empty(n, np.int64)
        new_id[order] = np.arange(n)
        table = sp.csr_matrix((path.astype(np.int32) + 1, (new_id[src], new_id[anc])), shape=(n, n))
        table.sort_indices()
        return cls(np.asarray(names, dtype=object)[order], is_verb[order], table,
                   min_depth[order], max_depth[order])

    # -- persistence: compiling takes ~30 s (nltk parses every synset); loading ~1 s
    def save(self, path) -> None:
        """Write the graph and lemma table to ``path`` (.npz, atomically)."""
        (nouns_ptr, nouns), (verbs_ptr, verbs) = self.sense_tables
        arrays = dict(
            format=np.array(_CACHE_FORMAT), is_verb=self.is_verb, min_depth=self.min_depth,
            max_depth=self.max_depth, table_data=self.path_table.data,
            table_indices=self.path_table.indices, table_indptr=self.path_table.indptr,
            names=np.frombuffer("\n".join(self.names).encode(), np.uint8),
            lemmas=np.frombuffer("\n".join(self.lemmas).encode(), np.uint8),
            nouns_ptr=nouns_ptr, nouns=nouns, verbs_ptr=verbs_ptr, verbs=verbs)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, path) -> "WupGraph":
        with np.load(path) as z:
            if int(z["format"]) != _CACHE_FORMAT:
                raise LSEError(f"{path}: compiled WordNet of another format version")
            names = bytes(z["names"]).decode().split("\n")
            table = sp.csr_matrix((z["table_data"], z["table_indices"], z["table_indptr"]),
                                  shape=(len(names), len(names)))
            graph = cls(names, z["is_verb"], table, z["min_depth"], z["max_depth"])
            lemmas = bytes(z["lemmas"]).decode().split("\n") if z["lemmas"].size else []
            graph.set_lemmas(lemmas, (z["nouns_ptr"], z["nouns"]), (z["verbs_ptr"], z["verbs"]))
        return graph

    # -- queries
    def ids(self, names) -> np.ndarray:
        """Synset ids of nltk synset names (``'dog.n.01'``)."""
        try:
            return np.array([self.index[name] for name in names], dtype=np.int64)
        except KeyError as err:
            raise LSEError(f"unknown noun/verb synset {err.args[0]!r}") from None

    def wup(self, s1, s2) -> np.ndarray:
        """``synset(s1).wup_similarity(synset(s2))`` for id arrays; NaN where nltk gives None."""
        return self.wup_both(np.asarray(s1, np.int64), np.asarray(s2, np.int64))[0]

    def wup_both(self, s1: np.ndarray, s2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(wup(s1, s2), wup(s2, s1)): they differ only in nltk's "self is the subsumer" rule."""
        if np.any(self.is_verb[s1] != self.is_verb[s2]):
            raise LSEError("wup is computed for synset pairs of the same part of speech only")
        table = self.path_table
        common = table[s1].multiply(table[s2]).tocsr()
        common.sort_indices()
        found = np.diff(common.indptr) > 0
        first = np.zeros(len(s1), np.int64)
        first[found] = common.indices[common.indptr[:-1][found]]
        best = self.min_depth[first]

        def subsumer(a, b):  # nltk: a itself if a is among the deepest common ancestors
            own = found & (self.min_depth[a] == best)
            own[own] = _lookup(table, b[own], a[own]) > 0
            return np.where(own, a, first)

        def score(sub, k):
            depth = self.max_depth[sub] + 1.0
            lengths = _lookup(table, s1[k], sub) + _lookup(table, s2[k], sub) - 2.0
            return np.where(found[k], 2.0 * depth / (lengths + 2.0 * depth), np.nan)

        sub_ab, sub_ba = subsumer(s1, s2), subsumer(s2, s1)
        forward = score(sub_ab, slice(None))
        backward = forward.copy()
        differ = np.flatnonzero(sub_ab != sub_ba)
        backward[differ] = score(sub_ba[differ], differ)
        return forward, backward


def _cache_file(root) -> Path:
    """Cache path for the compiled graph of a WordNet (nltk path pointer), keyed by its files
    and nltk's version."""
    import nltk

    source = Path(getattr(root, "path", None) or root.zipfile.filename)
    files = [source / name for name in (*_WORDNET_FILES, "lexnames")] if source.is_dir() else [source]
    stats = [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.exists()]
    key = repr((_CACHE_FORMAT, nltk.__version__, str(source), stats))
    return nltk_data_dir() / f"lse-wup-{hashlib.sha1(key.encode()).hexdigest()[:16]}.npz"


_GRAPHS: dict[str, WupGraph] = {}


def wup_graph(wordnet=None, *, cache: bool = True) -> WupGraph:
    """The compiled graph of a WordNet reader (default: nltk's, set up by :func:`wordnet_root`).

    Kept in memory per WordNet location and, with ``cache``, on disk beside
    :func:`nltk_data_dir` (rebuilt automatically when the WordNet files or nltk change), so
    only the first use pays the ~30 s of compiling.
    """
    root = wordnet.root if wordnet is not None else wordnet_root()
    memo = str(root)
    if memo in _GRAPHS:
        return _GRAPHS[memo]
    path = _cache_file(root) if cache else None
    graph = None
    if path is not None and path.is_file():
        try:
            graph = WupGraph.load(path)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # corrupt: rebuild
            graph = None
    if graph is None:
        graph = WupGraph.from_nltk(wordnet if wordnet is not None else ensure_wordnet())
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                graph.save(path)
            except OSError:  # read-only cache dir: keep working without it
                pass
    _GRAPHS[memo] = graph
    return graph


class WordNetScorer:
    """The WP metric (SPEC section 6) for a model vocabulary.

    Conventions (the paper leaves them open; these are ours):

    * **WP vocabulary**: model words that are WordNet lemma names of a noun, verb or adjective
      (exact, case-sensitive match: WordNet lemmas are lower case, multi-word ones joined by
      ``_``) and have at least one noun or verb synset with a hypernym (or instance
      hypernym). Adjectives have no hypernyms in WordNet, so an adjective counts only through
      a noun or verb reading ("red" stays, via red.n.01; "happy" goes). A word's synsets are
      ``wn.synsets(word, 'n') + wn.synsets(word, 'v')`` (nltk's usual lookup, which adds the
      senses of base forms found by morphy: "glasses" includes glass.n.01).
    * **WP(w, v)** = max over noun-noun and verb-verb synset pairs of nltk's
      ``s_w.wup_similarity(s_v)`` (w's synset is ``self``; nltk is not exactly symmetric).
      Adjective and adverb synsets and cross-part-of-speech pairs are not used: nltk would
      score them through its virtual root (any two adjectives get 0.5), which measures
      nothing. A pair without a same-POS synset pair has no WP ("missing").
    * **score**: for a query w with retrieved set V(w) (restricted to the WP vocabulary, which
      equals indexing only the WP vocabulary as the paper does; self removed), the mean of
      WP(w, v) over V(w), missing pairs counting ``missing`` (default 0; ``None`` leaves
      them out of the mean); an empty V(w) scores 0; the reported figure is the mean over
      queries.
    """

    def __init__(self, vocab, *, wordnet=None, missing: float | None = 0.0,
                 chunk_pairs: int = 1 << 21, progress: bool = True, cache: bool = True):
        self.vocab = list(vocab)
        self.missing = missing
        self.chunk_pairs = int(chunk_pairs)
        self.progress = progress
        self.graph = graph = wup_graph(wordnet, cache=cache)
        rows = np.array([graph.lemma_row.get(word, -1) for word in self.vocab], dtype=np.int64)
        self._in_wp = rows >= 0
        self._senses = []
        known = rows[self._in_wp]
        for indptr, indices in graph.sense_tables:  # re-index the lemma tables by vocab id
            counts = np.zeros(len(rows), np.int64)
            counts[self._in_wp] = indptr[known + 1] - indptr[known]
            self._senses.append((np.concatenate([[0], np.cumsum(counts)]),
                                 indices[_gather(indptr, known)[1]]))

    def wp_vocabulary(self) -> np.ndarray:
        """Ids (positions in ``vocab``) of the words in the WP vocabulary, ascending."""
        return np.flatnonzero(self._in_wp)

    def pair_similarity(self, i: int, j: int) -> float | None:
        """WP(vocab[i], vocab[j]); None when undefined (a word outside the WP vocabulary, or
        no noun-noun / verb-verb synset pair)."""
        value = self.pair_similarities([i], [j])[0]
        return None if np.isnan(value) else float(value)

    def pair_similarities(self, w, v) -> np.ndarray:
        """WP(vocab[w[k]], vocab[v[k]]) for id arrays; NaN where undefined.

        Unordered pairs are deduplicated (both directions come from one sparse intersection).
        """
        w, v = np.asarray(w, np.int64).ravel(), np.asarray(v, np.int64).ravel()
        n = max(len(self.vocab), 1)
        keys, inverse = np.unique(np.minimum(w, v) * n + np.maximum(w, v), return_inverse=True)
        low, high = np.divmod(keys, n)
        forward, backward = self._word_pairs(low, high)
        return np.where(w <= v, forward[inverse], backward[inverse])

    def _word_pairs(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        size = sum((ip[a + 1] - ip[a]) * (ip[b + 1] - ip[b]) for ip, _ in self._senses)
        ends = np.searchsorted(np.cumsum(size), np.arange(self.chunk_pairs, size.sum(), self.chunk_pairs))
        edges = np.unique(np.concatenate([[0], ends + 1, [len(a)]]).clip(0, len(a)))
        forward = np.full(len(a), np.nan)
        backward = np.full(len(a), np.nan)
        chunks = list(zip(edges[:-1], edges[1:]))
        for lo, hi in tqdm(chunks, desc="WP pairs", unit="chunk",
                           disable=not self.progress or len(chunks) < 4):
            for indptr, indices in self._senses:
                owner, s1, s2 = _cross(indptr, indices, a[lo:hi], b[lo:hi])
                if len(owner) == 0:
                    continue
                fwd, bwd = self.graph.wup_both(s1, s2)
                starts = np.flatnonzero(np.concatenate([[True], owner[1:] != owner[:-1]]))
                rows = lo + owner[starts]
                forward[rows] = np.fmax(forward[rows], np.fmax.reduceat(fwd, starts))
                backward[rows] = np.fmax(backward[rows], np.fmax.reduceat(bwd, starts))
        return forward, backward

    def score(self, query_ids, retrieved) -> tuple[float, np.ndarray]:
        """(mean WP over queries, per-query WP) of retrieved sets.

        ``retrieved``: (n_queries, len(vocab)) sparse matrix, row q = items retrieved for
        ``query_ids[q]``. Every query must be in the WP vocabulary.
        """
        query_ids = np.asarray(query_ids, np.int64).ravel()
        retrieved = as_binary_csr(retrieved, shape=(len(query_ids), len(self.vocab)),
                                  name="retrieved")
        outside = np.flatnonzero(~self._in_wp[query_ids])
        if len(outside):
            raise LSEError(f"{len(outside)} of {len(query_ids)} queries are not in the WP "
                           f"vocabulary (first: {self.vocab[query_ids[outside[0]]]!r}); draw "
                           "queries from wp_vocabulary()")
        rows = np.repeat(np.arange(len(query_ids)), np.diff(retrieved.indptr))
        cols = retrieved.indices.astype(np.int64)
        keep = self._in_wp[cols] & (cols != query_ids[rows])
        rows, cols = rows[keep], cols[keep]
        values = self.pair_similarities(query_ids[rows], cols)
        if self.missing is None:
            rows, values = rows[~np.isnan(values)], values[~np.isnan(values)]
        else:
            values = np.where(np.isnan(values), self.missing, values)
        counts = np.bincount(rows, minlength=len(query_ids))
        sums = np.bincount(rows, weights=values, minlength=len(query_ids))
        per_query = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
        return (float(per_query.mean()) if len(per_query) else 0.0), per_query


def main(argv: list[str] | None = None) -> int:
    """``python -m lse.wordnet [--install]``: set WordNet up, compile the WP graph, check it."""
    parser = argparse.ArgumentParser(
        prog="python -m lse.wordnet",
        description="Set up WordNet 3.0 for nltk without downloads (from Debian's packages), "
                    "compile and cache the Wu-Palmer graph, and check WP(dog.n.01, cat.n.01).")
    parser.add_argument("--install", action="store_true",
                        help="if no WordNet is available, install the apt packages "
                             f"{' '.join(APT_PACKAGES)} first (needs root)")
    args = parser.parse_args(argv)
    try:
        if args.install and _find_wordnet() is None and not (DEBIAN_WORDNET_DIR / "data.noun").is_file():
            install_wordnet()
        wn = ensure_wordnet()
        graph = wup_graph(wn)
    except LSEError as err:
        print(f"lse: error: {err}", file=sys.stderr)
        return 2
    value = wn.synset("dog.n.01").wup_similarity(wn.synset("cat.n.01"))
    fast = graph.wup(*graph.ids(["dog.n.01", "cat.n.01"])[:, None])[0]
    print(f"WordNet {wn.get_version()} ready for nltk (root {wn.root}); "
          f"WP(dog.n.01, cat.n.01) = {value:.3f} (nltk), {fast:.3f} (compiled); "
          f"{len(graph.lemmas):,} lemmas qualify for the WP vocabulary")
    return 0


if __name__ == "__main__":
    sys.exit(main())
