"""Pair similarities and the relevance probabilities built on them (SPEC section 1).

Every model scores a pair by a *base similarity* ``c`` in [-1, 1] (the cosine, or the
multi-context max-cosine) and turns it into a probability of relevance ``p = s(c) ** K``:

=========  =============================================  ===================================
name       s(c)                                           why
=========  =============================================  ===================================
``lse``    ``psi = 1 - arccos(c) / pi``                   1-bit SimHash collision probability,
                                                          so psi^K is the K-bit one
``cos``    ``(1 + c) / 2``                                cosine rescaled to [0, 1]
``dch``    ``gamma / (gamma + (dims / 2) (1 - c))``       Deep Cauchy Hashing; (d/2)(1-c)
                                                          estimates the Hamming distance
``dhn``    ``sigmoid(alpha * c)``                         Deep Hashing Network (logistic)
=========  =============================================  ===================================

The loss needs ``log p`` and ``log(1 - p)``; computing them from ``p`` loses everything near 0
and 1, so each similarity returns ``log s(c)`` in a numerically stable form and
:meth:`Similarity.log_probabilities` derives both logs from it (p is clipped to
``[EPS, 1 - EPS]`` in value, not in gradient). ``c`` is clipped to
``[-1 + eps, 1 - eps]`` before ``arccos`` so values *and gradients* stay finite at c = +-1.
"""
from __future__ import annotations

import math

import tensorflow as tf

from .errors import LSEError, check_int, check_number

#: Clip for c before arccos / logs and for p before log(1 - p).
EPS = 1e-6
NORM_EPS = 1e-4


def clip_cosine(c):
    return tf.clip_by_value(c, -1.0 + EPS, 1.0 - EPS)


def angular_similarity(c):
    """psi(c) = 1 - arccos(c) / pi: probability that one random hyperplane does not split the pair."""
    return 1.0 - tf.acos(clip_cosine(c)) / math.pi


def log_angular(c):
    return tf.math.log(angular_similarity(c))


def log_rescaled_cosine(c):
    return tf.math.log((1.0 + clip_cosine(c)) / 2.0)


def log_cauchy(c, dims: float, gamma: float):
    """log(gamma / (gamma + h)), h = (dims/2)(1 - c), c clamped to <= 0.99 as DCH does (keeps
    h away from 0 so the negative log(h / (gamma + h)) is finite)."""
    h = (dims / 2.0) * (1.0 - tf.clip_by_value(c, -1.0, 0.99))
    return -tf.math.log1p(h / gamma)


def log_logistic(c, alpha: float):
    return tf.math.log_sigmoid(alpha * c)


def cosine(u, v, axis: int = -1):
    """Cosine along ``axis``; norms are floored at 1e-4 so a zero vector gives c = 0, not NaN."""
    nu = tf.maximum(tf.norm(u, axis=axis), NORM_EPS)
    nv = tf.maximum(tf.norm(v, axis=axis), NORM_EPS)
    return tf.reduce_sum(u * v, axis=axis) / (nu * nv)


def max_cosine(u, v):
    """Multi-context base similarity ``max_{l,m} cos(u^l, v^m)``.

    ``u``, ``v``: (batch, L, d). With L = 1 this is the plain cosine.
    """
    un = u / tf.maximum(tf.norm(u, axis=-1, keepdims=True), NORM_EPS)
    vn = v / tf.maximum(tf.norm(v, axis=-1, keepdims=True), NORM_EPS)
    if u.shape[1] == 1 and v.shape[1] == 1:
        return tf.reduce_sum(un[:, 0] * vn[:, 0], axis=-1)
    pairwise = tf.einsum("bld,bmd->blm", un, vn)
    return tf.reduce_max(pairwise, axis=[1, 2])


def log1mexp(x):
    """log(1 - exp(x)) for x < 0, stable on the whole range (Maechler 2012)."""
    x = tf.minimum(x, -EPS)
    return tf.where(x > -math.log(2.0),
                    tf.math.log(-tf.math.expm1(x)),
                    tf.math.log1p(-tf.exp(x)))


class Similarity:
    """A named relevance model ``p = s(c) ** k`` with its hyper-parameters.

    ``dims`` (embedding width) is used by DCH only, ``gamma`` by DCH, ``alpha`` by DHN.
    """

    NAMES = ("lse", "cos", "dch", "dhn")

    def __init__(self, name: str = "lse", k: float = 1.0, *, dims: int = 32,
                 gamma: float = 5.0, alpha: float = 5.0):
        if name not in self.NAMES:
            raise LSEError(f"unknown similarity {name!r}; choose one of {', '.join(self.NAMES)}")
        self.name, self.k = name, check_number(k, "K", positive=True)
        self.gamma = check_number(gamma, "gamma", positive=True)
        self.alpha = check_number(alpha, "alpha", positive=True)
        self.dims = check_int(dims, "dims", 1)

    def log_base(self, c):
        if self.name == "lse":
            return log_angular(c)
        if self.name == "cos":
            return log_rescaled_cosine(c)
        if self.name == "dch":
            return log_cauchy(c, self.dims, self.gamma)
        return log_logistic(c, self.alpha)

    def log_probabilities(self, c):
        """(log p, log(1 - p)) with p clipped to [EPS, 1 - EPS] in *value* only.

        The gradient is that of the unclipped log p (a straight-through clip). A plain clip
        zeroes it below EPS, and with a large K that silences exactly the positives that most
        need pulling: at K = 20 every LSE positive with c < 0 (psi^K < 1e-6: half the pairs of
        a random initialisation), at K = 10 every DCH positive with c <= 0. The loss value, and
        so the largest penalty of one pair, stays bounded by -log(EPS).
        """
        log_p = self.k * self.log_base(c)
        clipped = tf.clip_by_value(log_p, math.log(EPS), math.log1p(-EPS))
        log_p = log_p + tf.stop_gradient(clipped - log_p)
        return log_p, log1mexp(log_p)

    def probability(self, c):
        return tf.exp(self.log_probabilities(c)[0])

    def get_config(self) -> dict:
        return {"name": self.name, "k": self.k, "dims": self.dims, "gamma": self.gamma,
                "alpha": self.alpha}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"Similarity({args})"
