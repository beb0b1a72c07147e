"""A scikit-learn estimator: hash instances and labels from features, predict by hash lookup.

:class:`LSEClassifier` trains an :class:`lse.models.InstanceLabelHasher` (an MLP instance tower
against a label-embedding table) on (instance, label) pairs from ``y``
(:class:`lse.features.LabelPairSampler`), then

- ``transform(X)`` gives the instances' binary codes (packed bytes, or one 0/1 column per bit),
  so it can feed a Hamming-space nearest-neighbour step in a ``Pipeline``;
- ``predict(X)`` looks the instance's code up in a hash table of the label codes
  (:class:`lse.label_retrieval.HashedRetriever`), ranks the colliding labels by the dense score
  and returns the best class (single-label ``y``) or an indicator matrix of the ``top_k`` best
  labels (multi-label ``y``); ``predict_topk`` returns the ranked label indices themselves.

Single-label targets are any class labels (ints, strings); multi-label targets are 0/1
indicator matrices (dense or sparse). ``X`` may be dense or scipy sparse (bag-of-words rows are
fed to the network batch by batch, never densified as a whole).

Training is deterministic for a given ``random_state`` (seeded initialisers, seeded sampler,
dropout keyed by step), which is what sklearn's idempotence checks expect. Short fits (few
optimizer steps, as on toy data) run eagerly, since compiling the train step would cost more
than it saves.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from .errors import LSEError, check_int, check_number

__all__ = ["LSEClassifier"]

#: Below this many optimizer steps, fit runs the train step eagerly: tracing the step costs
#: ~3 s, an eager step of a small tower ~45 ms (measured on 2 cores).
EAGER_STEPS = 64

#: ``mined_ratio="auto"``: this share of mined negatives for multi-label targets, none for
#: single-label ones. On the validation splits of Bibtex and Delicious (estimator defaults
#: otherwise, 3 seeds) exact-collision P@1 rises from 0.461 / 0.404 without mining to 0.508 /
#: 0.494 at 0.25, 0.540 / 0.519 at 0.5 and 0.559 / 0.539 at 1, and falls at 2 (0.549 / 0.492,
#: one Delicious seed at 0.451); on digits (10 classes) mining changes nothing (0.963 / 0.960
#: at 0.25) but triples the fit time.
AUTO_MINED_RATIO = 1.0


class LSEClassifier(ClassifierMixin, TransformerMixin, BaseEstimator):
    """Hashing classifier / transformer on features (see the module docstring).

    Args:
        dim: code length in bits (embedding width).
        similarity: ``"lse"``, ``"cos"``, ``"dch"`` or ``"dhn"`` (SPEC section 1).
        k, beta, quantization_weight, dropout: of the pair objective (see
            :class:`lse.models.PairHashModel`).
        hidden: hidden layer widths of the instance tower (an int: one layer).
        epochs: passes over the (instance, label) positives.
        batch_size: positives per batch; the batch adds ``negative_ratio`` x as many random
            wrong labels for those instances and as many random instances without those labels.
        mined_ratio: adds ``mined_ratio`` x ``batch_size`` *mined* negative labels per batch:
            for an instance, one of the 8 labels the model itself scores highest among those it
            does not have, re-mined before every epoch (0: none). ``"auto"``:
            :data:`AUTO_MINED_RATIO` for multi-label ``y``, where the labels a model confuses
            are what limits P@k, and none for single-label ``y``, where random wrong classes
            already cover the few there are (the ratio used is ``mined_ratio_`` after fit).
        mining_radius: None mines among every label; an integer R only among the labels within
            Hamming radius R of the instance's code (a hash lookup: for very many labels).
        learning_rate: peak Adam rate: a linear warm-up over the first ``warmup`` fraction of
            the steps, then cosine decay to 0 (:func:`lse.optimizers.warmup_cosine`).
        warmup: fraction of the steps in warm-up (0: plain cosine decay).
        clipnorm: each variable's gradient is clipped to this norm (None: no clipping); with
            the warm-up, this keeps the first steps from throwing the tower far off (the
            settings of ``lse label-benchmark``).
        top_k: labels returned per instance by ``predict`` for multi-label targets.
        radius, max_radius: Hamming radius of the label lookup, and the largest radius a query
            without any colliding label falls back to (None: no fallback).
        exhaustive_fallback: a query that still has no candidate label is answered by scoring
            every label (so ``predict`` always answers); False leaves it empty.
        prior_weight: labels are ranked by cosine + ``prior_weight`` x log(1 + the label's
            training frequency) (:func:`lse.label_retrieval.popularity_prior`; the candidates
            do not change). Read at prediction time, so it can be tuned on held-out data with
            ``set_params`` after one fit; 0 (default): cosine alone.
        code_format: ``"packed"`` (uint8, ceil(dim / 8) bytes per row, the layout of
            :mod:`lse.index`) or ``"bits"`` (uint8 0/1, one column per bit).
        random_state: int seed (None draws one).
        verbose: show a training progress bar.
    """

    def __init__(self, dim: int = 32, similarity: str = "lse", k: float = 4.0, beta: float = 1.0,
                 quantization_weight: float = 0.1, dropout: float = 0.1, hidden=(256,),
                 epochs: int = 10, batch_size: int = 256, negative_ratio: float = 1.0,
                 mined_ratio="auto", mining_radius: int | None = None,
                 learning_rate: float = 0.03, warmup: float = 0.1,
                 clipnorm: float | None = 1.0, top_k: int = 5, radius: int = 0,
                 max_radius: int | None = None, exhaustive_fallback: bool = True,
                 prior_weight: float = 0.0, code_format: str = "packed", random_state=0,
                 verbose: bool = False):
        self.dim = dim
        self.similarity = similarity
        self.k = k
        self.beta = beta
        self.quantization_weight = quantization_weight
        self.dropout = dropout
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.negative_ratio = negative_ratio
        self.mined_ratio = mined_ratio
        self.mining_radius = mining_radius
        self.learning_rate = learning_rate
        self.warmup = warmup
        self.clipnorm = clipnorm
        self.top_k = top_k
        self.radius = radius
        self.max_radius = max_radius
        self.exhaustive_fallback = exhaustive_fallback
        self.prior_weight = prior_weight
        self.code_format = code_format
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------------------ checks
    def _hidden_widths(self) -> tuple[int, ...]:
        """``hidden`` as a tuple of checked widths (a single int is one layer)."""
        return tuple(check_int(width, "hidden width", 1)
                     for width in np.atleast_1d(np.asarray(self.hidden, dtype=object)))

    def _check_params(self) -> None:
        for name in ("dim", "epochs", "batch_size", "top_k"):
            check_int(getattr(self, name), name, 1)
        self._hidden_widths()
        check_int(self.radius, "radius", 0)
        for name in ("max_radius", "mining_radius"):
            if getattr(self, name) is not None:
                check_int(getattr(self, name), name, 0)
        if self.code_format not in ("packed", "bits"):
            raise LSEError(f"code_format must be 'packed' or 'bits' (got {self.code_format!r})")
        for name in ("beta", "negative_ratio", "quantization_weight", "prior_weight"):
            check_number(getattr(self, name), name)
        for name in ("k", "learning_rate"):
            check_number(getattr(self, name), name, positive=True)
        for name in ("dropout", "warmup"):
            check_number(getattr(self, name), name, below=1)
        if not (isinstance(self.mined_ratio, str) and self.mined_ratio == "auto"):
            check_number(self.mined_ratio, "mined_ratio", alternative="'auto'")
        if self.clipnorm is not None:
            check_number(self.clipnorm, "clipnorm", positive=True, alternative="None")

    def _targets(self, y):
        """(indicator CSR (n, n_classes), multilabel flag); sets ``classes_``."""
        from .features import as_label_matrix

        if sp.issparse(y) or (np.ndim(y) == 2 and np.shape(y)[1] > 1):
            if type_of_target(y) != "multilabel-indicator":
                raise LSEError("a 2-D y must be a 0/1 multi-label indicator matrix "
                               f"(got {type_of_target(y)})")
            Y = as_label_matrix(y, name="y")
            self.classes_ = np.arange(Y.shape[1])
            return Y, True
        y = np.asarray(y)
        if y.ndim == 2:
            warnings.warn("A column-vector y was passed when a 1d array was expected; it is "
                          "raveled.", DataConversionWarning, stacklevel=3)
            y = y.ravel()
        check_classification_targets(y)
        self.classes_, ids = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise LSEError(f"LSEClassifier needs at least 2 classes in y (got 1 class: "
                           f"{self.classes_[0]!r})")
        return as_label_matrix(ids.astype(np.int64), len(self.classes_)), False

    # --------------------------------------------------------------------------------- fit
    def fit(self, X, y):
        """Train on features ``X`` (n, F) and targets ``y`` (class labels, or a 0/1 matrix)."""
        from .features import FeaturePairs, FeatureTable, LabelIds, LabelPairSampler
        from .label_retrieval import HashedRetriever
        from .models import InstanceLabelHasher
        from .optimizers import RowAdam, warmup_cosine
        from .training import train

        self._check_params()
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=np.float32,
                             multi_output=True, y_numeric=False)
        Y, self.multilabel_ = self._targets(y)
        self.mined_ratio_ = float(self.mined_ratio) if self.mined_ratio != "auto" \
            else AUTO_MINED_RATIO if self.multilabel_ else 0.0
        seed = int(check_random_state(self.random_state).randint(2 ** 30))
        negatives = int(round(self.negative_ratio * self.batch_size))
        sampler = LabelPairSampler(Y, self.batch_size, negatives, negatives, seed=seed,
                                   mined=int(round(self.mined_ratio_ * self.batch_size)))
        pairs = FeaturePairs(sampler, FeatureTable(X, "X"), LabelIds(Y.shape[1]),
                             mining_radius=self.mining_radius)
        model = InstanceLabelHasher(
            X.shape[1], Y.shape[1], dim=self.dim, hidden=self._hidden_widths(),
            similarity=self.similarity, k=self.k, beta=self.beta,
            quantization_weight=self.quantization_weight, dropout=self.dropout, seed=seed)
        steps = self.epochs * sampler.steps_per_epoch
        schedule = warmup_cosine(self.learning_rate, steps, self.warmup)
        model.compile(optimizer=RowAdam(schedule, clipnorm=self.clipnorm),
                      run_eagerly=steps < EAGER_STEPS)
        train(model, pairs, self.epochs, progress=bool(self.verbose))
        self.model_ = model
        self.label_counts_ = np.asarray(Y.sum(axis=0)).ravel()
        self.label_embeddings_ = model.encode(None, side="right")[:, 0]
        self.retriever_ = HashedRetriever(self.label_embeddings_)
        self._n_features_out = self.dim if self.code_format == "bits" else -(-self.dim // 8)
        return self

    # --------------------------------------------------------------------------- outputs
    def _features(self, X):
        check_is_fitted(self)
        return validate_data(self, X, accept_sparse="csr", dtype=np.float32, reset=False)

    def embed(self, X) -> np.ndarray:
        """Dense tanh embeddings (n, dim) of the instances."""
        return self.model_.encode(self._features(X))[:, 0]

    def transform(self, X) -> np.ndarray:
        """Binary codes of the instances: packed uint8 (n, ceil(dim/8)) or 0/1 bits (n, dim)."""
        from .index import pack_codes

        emb = self.embed(X)
        return (emb > 0).astype(np.uint8) if self.code_format == "bits" else pack_codes(emb)

    def predict_topk(self, X, k: int | None = None) -> np.ndarray:
        """(n, k) indices into ``classes_`` of the best labels among those whose code collides
        with the instance's (see ``radius`` / ``max_radius``), by dense score (plus the prior,
        see ``prior_weight``); -1 pads."""
        from .label_retrieval import dense_topk, popularity_prior, rank_candidates

        k = self.top_k if k is None else int(k)
        check_number(self.prior_weight, "prior_weight")
        bias = (popularity_prior(self.label_counts_, self.prior_weight)
                if self.prior_weight else None)
        emb = self.embed(X)
        found, _ = self.retriever_.candidates(emb, self.radius, self.max_radius)
        top = rank_candidates(found, emb, self.retriever_.items, k, item_bias=bias)
        if self.exhaustive_fallback:
            empty = np.flatnonzero(np.diff(found.indptr) == 0)
            if len(empty):
                top[empty] = dense_topk(emb[empty], self.retriever_.items, k, item_bias=bias)
        return top

    def predict(self, X):
        """Single-label: the best class per instance. Multi-label: a 0/1 indicator matrix of
        the ``top_k`` best labels per instance."""
        check_is_fitted(self)
        if not self.multilabel_:
            top = self.predict_topk(X, 1)[:, 0]
            return self.classes_[np.maximum(top, 0)]
        top = self.predict_topk(X)
        out = np.zeros((len(top), len(self.classes_)), np.int64)
        rows = np.repeat(np.arange(len(top)), top.shape[1])
        ok = top.ravel() >= 0
        out[rows[ok], top.ravel()[ok]] = 1
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self)
        prefix = "bit" if self.code_format == "bits" else "byte"
        return np.array([f"{prefix}{i}" for i in range(self._n_features_out)], dtype=object)

    # ----------------------------------------------------------------------------- sklearn
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_label = True
        tags.transformer_tags.preserves_dtype = []
        tags.non_deterministic = False
        return tags

    def __getstate__(self):
        """Pickle the Keras model as (config, weights): plain data, no compiled state."""
        state = self.__dict__.copy()
        model = state.pop("model_", None)
        if model is not None:
            state["_model_state"] = (model.get_config(), model.get_weights())
        return state

    def __setstate__(self, state):
        saved = state.pop("_model_state", None)
        self.__dict__.update(state)
        if saved is not None:
            from .models import InstanceLabelHasher

            config, weights = saved
            model = InstanceLabelHasher.from_config(config)
            model.set_weights(weights)
            self.model_ = model
