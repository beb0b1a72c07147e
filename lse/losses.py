"""Training losses (SPEC section 2) as Keras ``Loss`` objects.

Pair loss
    ``l = - y log p - beta (1 - y) log(1 - p)`` with ``p = s(c) ** K`` from
    :class:`lse.similarities.Similarity`. ``y_true`` is the *pair kind* produced by
    :mod:`lse.sampling` (``POSITIVE = 1``, ``EASY_NEGATIVE = 0``, ``HARD_NEGATIVE = 2``) so that
    the loss alone decides the weights: ``beta_on="all"`` weights every negative by beta (the
    paper's main text), ``beta_on="hard"`` weights hard negatives only and keeps easy negatives
    at 1 (the appendix variant). ``y_pred`` is the base similarity c of the pair.

Quantization losses (per item, averaged over contexts) push every coordinate of the tanh
    embedding towards +-1 so that ``sign`` loses little: DHN's ``log cosh(|u_d| - 1)`` (averaged
    over coordinates, see :func:`logcosh_quantization`) and DCH's Cauchy form
    ``log(1 + (d/2)(1 - cos(|u|, 1)) / gamma)``.
"""
from __future__ import annotations

import math

import keras
import tensorflow as tf

from .errors import LSEError, check_number
from .sampling import EASY_NEGATIVE, HARD_NEGATIVE, POSITIVE  # noqa: F401 (re-exported)
from .similarities import NORM_EPS, Similarity


def pair_weights(kinds, beta: float, beta_on: str):
    """(labels y, weights) of a batch of pair kinds."""
    kinds = tf.cast(kinds, tf.int32)
    y = tf.cast(tf.equal(kinds, POSITIVE), tf.float32)
    if beta_on == "all":
        negative_weight = tf.fill(tf.shape(y), float(beta))
    else:
        negative_weight = tf.where(tf.equal(kinds, HARD_NEGATIVE), float(beta), 1.0)
    return y, tf.where(y > 0, 1.0, negative_weight)


@keras.saving.register_keras_serializable(package="lse")
class PairLoss(keras.losses.Loss):
    """Weighted binary cross-entropy of a pair under a hashing similarity (LSE, COS, DCH, DHN).

    Args:
        similarity: ``"lse"``, ``"cos"``, ``"dch"`` or ``"dhn"``.
        k: exponent K of ``p = s(c) ** K`` (for LSE: the number of SimHash bits that must agree).
        beta: weight of negative pairs.
        beta_on: ``"all"`` (every negative) or ``"hard"`` (hard negatives only).
        dims, gamma, alpha: see :class:`lse.similarities.Similarity`.
    """

    def __init__(self, similarity: str = "lse", k: float = 2.0, beta: float = 1.0,
                 beta_on: str = "all", dims: int = 32, gamma: float = 5.0, alpha: float = 5.0,
                 name: str = "pair_loss", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if beta_on not in ("all", "hard"):
            raise LSEError(f"beta_on must be 'all' or 'hard' (got {beta_on!r})")
        self.beta, self.beta_on = check_number(beta, "beta"), beta_on
        self.similarity = Similarity(similarity, k, dims=dims, gamma=gamma, alpha=alpha)

    def call(self, y_true, y_pred):
        y, weight = pair_weights(tf.reshape(y_true, [-1]), self.beta, self.beta_on)
        log_p, log_1mp = self.similarity.log_probabilities(tf.reshape(y_pred, [-1]))
        return -weight * (y * log_p + (1.0 - y) * log_1mp)

    def get_config(self) -> dict:
        config = super().get_config()
        sim = self.similarity.get_config()
        config.update(similarity=sim["name"], k=sim["k"], dims=sim["dims"], gamma=sim["gamma"],
                      alpha=sim["alpha"], beta=self.beta, beta_on=self.beta_on)
        return config


def logcosh_quantization(u):
    """DHN's quantization penalty per item: log cosh(|u_d| - 1) averaged over the d coordinates
    (and the L contexts); u is (..., L, d).

    The DHN paper sums over coordinates; we average, so that lambda means the same thing for any
    code length and sits on the same scale as DCH's Cauchy penalty (a per-item scalar). With the
    sum, the paper's lambda values (0.1-0.3) saturate tanh at random signs before the pair loss
    has organised the embeddings, and nothing is learnt (measured on the SBM benchmark).
    """
    x = tf.abs(u) - 1.0
    # log cosh(x) = |x| + log1p(exp(-2|x|)) - log 2, stable for any x
    ax = tf.abs(x)
    per_coordinate = ax + tf.math.softplus(-2.0 * ax) - math.log(2.0)
    return tf.reduce_mean(per_coordinate, axis=[-2, -1])


def cauchy_quantization(u, gamma: float = 5.0):
    """DCH's quantization penalty per item: log(1 + (d/2)(1 - cos(|u|, 1)) / gamma)."""
    d = tf.cast(tf.shape(u)[-1], u.dtype)
    au = tf.abs(u)
    cos_to_ones = tf.reduce_sum(au, axis=-1) / (
        tf.maximum(tf.norm(au, axis=-1), NORM_EPS) * tf.sqrt(d))
    per_context = tf.math.log1p((d / 2.0) * (1.0 - cos_to_ones) / gamma)
    return tf.reduce_mean(per_context, axis=-1)


QUANTIZATIONS = ("logcosh", "cauchy", "none")


@keras.saving.register_keras_serializable(package="lse")
class QuantizationLoss(keras.losses.Loss):
    """Quantization loss of embeddings ``y_pred`` (batch, [L,] d); ``y_true`` is ignored.

    ``kind="logcosh"`` is DHN's (used by LSE, COS and DHN), ``kind="cauchy"`` is DCH's.
    """

    def __init__(self, kind: str = "logcosh", gamma: float = 5.0,
                 name: str = "quantization_loss", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if kind not in QUANTIZATIONS:
            raise LSEError(f"unknown quantization {kind!r}; choose one of {QUANTIZATIONS}")
        self.kind, self.gamma = kind, float(gamma)

    def call(self, y_true, y_pred):
        u = tf.convert_to_tensor(y_pred)
        if u.shape.rank == 2:
            u = u[:, None, :]
        if self.kind == "logcosh":
            return logcosh_quantization(u)
        if self.kind == "cauchy":
            return cauchy_quantization(u, self.gamma)
        return tf.zeros(tf.shape(u)[:1], u.dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(kind=self.kind, gamma=self.gamma)
        return config


def default_quantization(similarity: str) -> str:
    """The paper's pairing: DCH uses its own Cauchy quantization, every other model DHN's."""
    return "cauchy" if similarity == "dch" else "logcosh"
