"""The baseline a user would pick instead of word2hashes: dense PPMI + SVD word vectors, hashed.

Dense count-based vectors are not trained for hashing; hashing them afterwards is the obvious
alternative to LSE:

1. PPMI of the dataset's raw cooccurrence counts X (the same 1/distance-weighted counts the
   pair matrix D was made from): ``PPMI_ij = max(0, log(P(i, j) / (P(i) P_alpha(j))))`` with
   ``P(i, j) = X_ij / T``, ``P(i) = r_i / T`` (r = row sums, T = total) and the context
   distribution ``P_alpha(j) = c_j^alpha / sum_k c_k^alpha`` (alpha = 1: plain PPMI; 0.75 is
   the "context distribution smoothing" of Levy, Goldberg & Dagan 2015);
2. scikit-learn's ``TruncatedSVD`` to ``dim`` dimensions: ``U S``, re-weighted to ``U S^p``
   (``eig_weight`` p; Levy et al. found p = 0 or 0.5 better than 1 for word similarity);
3. optionally centred (the mean vector subtracted), so that sign bits split the vocabulary
   instead of all agreeing on the dominant first direction;
4. hashed by sign (``svd-sign``: bit m = 1[x_m > 0], ``dim`` bits) or by SimHash (``svd-simhash``:
   bit m = 1[x . r_m > 0] for Gaussian hyperplanes r_m, ``bits`` bits, optionally ``tables``
   independent hyperplane sets = L codes per word, like LSH with L tables).

The result is a :class:`lse.words.WordModel`, so the same index and evaluation code serves it.
"""
from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from ..errors import LSEError
from ..index import pack_codes


def ppmi(counts, alpha: float = 1.0) -> sp.csr_matrix:
    """Positive PMI of a (square or rectangular) nonnegative count matrix, as CSR float64.

    Only the stored nonzeros can be positive, so the result has at most the input's sparsity.
    """
    if not alpha > 0:
        raise LSEError(f"the context smoothing exponent alpha must be > 0 (got {alpha})")
    X = sp.csr_matrix(counts, dtype=np.float64, copy=True)
    X.sum_duplicates()
    X.eliminate_zeros()
    if X.nnz == 0:
        raise LSEError("the count matrix is empty: no cooccurrences to compute PPMI from")
    if X.data.min() < 0 or not np.isfinite(X.data).all():
        raise LSEError("cooccurrence counts must be finite and nonnegative")
    total = X.data.sum()
    rows = np.asarray(X.sum(axis=1)).ravel()
    cols = np.asarray(X.sum(axis=0)).ravel() ** alpha
    context = cols / cols.sum()
    row_of = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    pmi = np.log(X.data) - np.log(total) - np.log(rows[row_of] / total) - np.log(context[X.indices])
    X.data = np.maximum(pmi, 0.0)
    X.eliminate_zeros()
    return X


def svd_vectors(matrix, dim: int = 32, eig_weight: float = 0.5, seed: int = 0,
                n_iter: int = 7) -> np.ndarray:
    """``U S^eig_weight`` of the rank-``dim`` truncated SVD (float32, (n, dim))."""
    from sklearn.decomposition import TruncatedSVD

    n = min(matrix.shape)
    if not 1 <= dim < n:
        raise LSEError(f"SVD to {dim} dimensions needs a matrix larger than that (got "
                       f"{matrix.shape}); lower --dim")
    svd = TruncatedSVD(n_components=dim, algorithm="randomized", n_iter=n_iter,
                       random_state=seed)
    us = svd.fit_transform(matrix)
    scale = np.power(np.maximum(svd.singular_values_, 1e-12), eig_weight - 1.0)
    return (us * scale).astype(np.float32)


def simhash_projection(dim: int, bits: int, tables: int = 1, seed: int = 0) -> np.ndarray:
    """Gaussian random hyperplanes, shape (tables, dim, bits)."""
    return np.random.default_rng([seed, 0x51A]).standard_normal((tables, dim, bits)).astype(np.float32)


def fit_svd_model(dataset, name: str = "svd-sign", *, dim: int = 32, bits: int | None = None,
                  tables: int = 1, alpha: float = 1.0, eig_weight: float = 0.5,
                  center: bool = True, seed: int = 0, vectors: np.ndarray | None = None):
    """An ``svd-sign`` or ``svd-simhash`` :class:`lse.words.WordModel` of a loaded dataset
    (:func:`data_prep.dataset.load_dataset` with counts). ``vectors`` reuses the output of
    :func:`svd_vectors` (e.g. when trying several hashings of one SVD)."""
    from .model_dir import WordModel

    if name not in ("svd-sign", "svd-simhash"):
        raise LSEError(f"unknown SVD model {name!r}; choose svd-sign or svd-simhash")
    if name == "svd-sign" and (bits not in (None, dim) or tables != 1):
        raise LSEError("svd-sign hashes each of the dim coordinates: it has dim bits and one "
                       "table (use svd-simhash for other bit counts or several tables)")
    bits = dim if bits is None else int(bits)
    if bits < 1 or tables < 1:
        raise LSEError("bits and tables must be >= 1")
    started = time.perf_counter()
    if vectors is None:
        if dataset.counts is None:
            raise LSEError("the SVD baselines need the dataset's raw counts (counts.npz)")
        vectors = svd_vectors(ppmi(dataset.counts, alpha), dim, eig_weight, seed)
    if vectors.shape != (len(dataset.vocab), dim):
        raise LSEError(f"SVD vectors of shape {vectors.shape} for {len(dataset.vocab)} words "
                       f"x {dim} dims")
    if center:
        vectors = vectors - vectors.mean(axis=0, keepdims=True)
    arrays = {}
    if name == "svd-sign":
        codes = pack_codes(vectors[:, None, :])
    else:
        projection = simhash_projection(dim, bits, tables, seed)
        arrays["projection"] = projection
        codes = pack_codes(np.einsum("nd,tdb->ntb", vectors, projection))
    params = {"dim": dim, "bits": bits, "tables": tables, "alpha": alpha,
              "eig_weight": eig_weight, "center": center, "seed": seed}
    training = {"seconds": round(time.perf_counter() - started, 3),
                "dataset": dataset.stats.get("corpus", {}).get("sources", [])}
    return WordModel(name, list(dataset.vocab), vectors[:, None, :], codes, bits, params=params,
                     training=training, arrays=arrays)
