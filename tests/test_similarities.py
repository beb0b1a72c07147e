import math

import numpy as np
import pytest
import tensorflow as tf

from lse.errors import LSEError
from lse.losses import (EASY_NEGATIVE, HARD_NEGATIVE, POSITIVE, PairLoss, QuantizationLoss,
                        cauchy_quantization, logcosh_quantization)
from lse.similarities import Similarity, angular_similarity, log1mexp, max_cosine

SIMILARITIES = Similarity.NAMES


def test_angular_similarity_fixed_points():
    psi = angular_similarity(tf.constant([1.0, 0.0, -1.0])).numpy()
    np.testing.assert_allclose(psi, [1.0, 0.5, 0.0], atol=1e-3)
    assert psi[1] == pytest.approx(0.5, abs=1e-7)


def test_simhash_collision_rate_matches_psi():
    """One random hyperplane keeps a pair on the same side with probability psi(cos)."""
    rng = np.random.default_rng(0)
    d, pairs, planes = 16, 200, 4000
    u = rng.normal(size=(pairs, d))
    v = 0.7 * u + rng.normal(size=(pairs, d)) * rng.uniform(0.1, 2.0, (pairs, 1))
    c = np.sum(u * v, 1) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1)
    hyperplanes = rng.normal(size=(d, planes))
    collide = np.sign(u @ hyperplanes) == np.sign(v @ hyperplanes)
    empirical = collide.mean()
    predicted = angular_similarity(tf.constant(c, tf.float32)).numpy().mean()
    assert abs(empirical - predicted) < 0.01
    # and per pair the K-bit collision rate is psi^K
    k = 3
    k_bit = collide[:, : planes // k * k].reshape(pairs, -1, k).all(axis=2).mean()
    assert abs(k_bit - np.mean(angular_similarity(tf.constant(c, tf.float32)).numpy() ** k)) < 0.01


@pytest.mark.parametrize("name", SIMILARITIES)
@pytest.mark.parametrize("kind", [POSITIVE, EASY_NEGATIVE, HARD_NEGATIVE])
def test_loss_and_gradient_finite_at_extremes(name, kind):
    loss = PairLoss(name, k=2.0, beta=2.0, beta_on="hard")
    c = tf.Variable([-1.0, -0.999999, 0.0, 0.999999, 1.0])
    with tf.GradientTape() as tape:
        value = loss(tf.fill([5], kind), c)
    grad = tape.gradient(value, c)
    assert np.isfinite(value.numpy())
    assert np.all(np.isfinite(grad.numpy()))


def test_clipped_positive_keeps_its_gradient():
    """p = psi(c)^20 < EPS at c = -0.2: the loss value is clipped at -log(EPS), but the positive
    still gets the gradient of the unclipped -K log psi(c), so it is pulled towards its partner
    (a plain clip would return 0 here and the pair would never be learnt)."""
    from lse.similarities import EPS

    k, c0 = 20.0, -0.2
    c = tf.Variable([c0])
    with tf.GradientTape() as tape:
        value = PairLoss("lse", k=k)(tf.constant([POSITIVE]), c)
    grad = tape.gradient(value, c).numpy()[0]
    psi = 1 - math.acos(c0) / math.pi
    assert psi ** k < EPS
    assert value.numpy() == pytest.approx(-math.log(EPS), rel=1e-5)
    # d/dc of -K log psi(c) = -K / (pi psi sqrt(1 - c^2))
    assert grad == pytest.approx(-k / (math.pi * psi * math.sqrt(1 - c0 ** 2)), rel=1e-4)


@pytest.mark.parametrize("name", SIMILARITIES)
def test_probability_is_monotone_in_c(name):
    c = tf.constant(np.linspace(-0.99, 0.98, 50), tf.float32)
    p = Similarity(name, 2.0).probability(c).numpy()
    assert np.all(np.diff(p) > 0)
    assert np.all((p > 0) & (p < 1))


def test_probability_values():
    c = tf.constant([0.0, 0.5])
    np.testing.assert_allclose(Similarity("lse", 2).probability(c).numpy(),
                               [0.25, (1 - math.acos(0.5) / math.pi) ** 2], rtol=1e-5)
    np.testing.assert_allclose(Similarity("cos", 4).probability(c).numpy(),
                               [0.5 ** 4, 0.75 ** 4], rtol=1e-5)
    np.testing.assert_allclose(Similarity("dch", 1, dims=32, gamma=5).probability(c).numpy(),
                               [5 / (5 + 16), 5 / (5 + 8)], rtol=1e-5)
    np.testing.assert_allclose(Similarity("dhn", 1, alpha=5).probability(c).numpy(),
                               [0.5, 1 / (1 + math.exp(-2.5))], rtol=1e-5)


def test_pair_loss_weights():
    """beta multiplies every negative (beta_on='all') or only hard ones (beta_on='hard')."""
    c = tf.constant([0.3, 0.3, 0.3])
    kinds = tf.constant([POSITIVE, EASY_NEGATIVE, HARD_NEGATIVE])
    p = float(Similarity("lse", 2).probability(tf.constant([0.3])).numpy()[0])
    pos, neg = -math.log(p), -math.log(1 - p)
    all_beta = PairLoss("lse", 2, beta=3.0, beta_on="all", reduction=None)(kinds, c).numpy()
    hard_beta = PairLoss("lse", 2, beta=3.0, beta_on="hard", reduction=None)(kinds, c).numpy()
    np.testing.assert_allclose(all_beta, [pos, 3 * neg, 3 * neg], rtol=1e-4)
    np.testing.assert_allclose(hard_beta, [pos, neg, 3 * neg], rtol=1e-4)


def test_log1mexp_accuracy():
    x = np.array([-1e-5, -0.1, -0.69, -0.7, -5.0, -40.0])
    np.testing.assert_allclose(log1mexp(tf.constant(x, tf.float64)).numpy(),
                               np.log(-np.expm1(x)), rtol=1e-5, atol=1e-12)


def test_quantization_zero_at_binary_codes():
    codes = tf.constant(np.random.default_rng(0).choice([-1.0, 1.0], (4, 3, 32)), tf.float32)
    np.testing.assert_allclose(logcosh_quantization(codes).numpy(), 0.0, atol=1e-6)
    np.testing.assert_allclose(cauchy_quantization(codes).numpy(), 0.0, atol=1e-6)
    half = tf.fill([2, 1, 32], 0.5)
    assert np.all(logcosh_quantization(half).numpy() > 0.1)
    # DCH's penalty is scale-free: only unequal magnitudes cost
    uneven = tf.constant([[[0.1] * 16 + [1.0] * 16]])
    assert cauchy_quantization(half).numpy()[0] == pytest.approx(0.0, abs=1e-6)
    assert cauchy_quantization(uneven).numpy()[0] > 0.1


def test_losses_round_trip_config():
    loss = PairLoss("dch", k=3.0, beta=2.0, beta_on="hard", dims=16, gamma=20.0)
    clone = PairLoss.from_config(loss.get_config())
    assert clone.get_config() == loss.get_config()
    q = QuantizationLoss("cauchy", gamma=7.0)
    assert QuantizationLoss.from_config(q.get_config()).gamma == 7.0


def test_max_cosine_takes_best_context_pair():
    u = tf.constant([[[1.0, 0.0], [0.0, 1.0]]])
    v = tf.constant([[[-1.0, 0.0], [0.6, 0.8]]])
    assert max_cosine(u, v).numpy()[0] == pytest.approx(0.8, abs=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "bogus"}, "unknown similarity"),
    ({"name": "lse", "k": 0}, "K must be a number > 0"),
    ({"name": "lse", "k": -1}, "K must be a number > 0"),
])
def test_bad_similarity_arguments(kwargs, message):
    with pytest.raises(LSEError, match=message):
        Similarity(**kwargs)
