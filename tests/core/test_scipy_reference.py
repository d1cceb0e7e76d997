"""losslab agrees with independent references: scipy.special, Decimal arithmetic
and the torchvision focal-loss formula written out here."""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose
from scipy import special

import losslab

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)
EXTREME = np.array(
    [-1e300, -1e30, -1e4, -745.0, -710.0, -40.0, -1.0, -1e-300, 0.0, 1e-300, 1e-8, 2.5, 40.0, 710.0, 745.0, 1e4, 1e30, 1e300]
)
RNG = np.random.default_rng(20240501)
RANDOM = RNG.normal(0, 10, (6, 7))

real_arrays = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=6),
    elements=st.floats(-800, 800, allow_nan=False),
)


# ------------------------------------------------------------ activations


@pytest.mark.parametrize("z", [EXTREME, RANDOM], ids=["extreme", "random"])
def test_sigmoid_agrees_with_scipy_expit(z):
    # scipy flushes sigmoid(-710) and below to 0; e^z / (1 + e^z) is subnormal there
    assert_allclose(losslab.sigmoid(z), special.expit(z), rtol=1e-15, atol=1e-300)


def test_sigmoid_keeps_subnormal_values_for_very_negative_logits():
    assert_allclose(losslab.sigmoid([-710.0, -745.0]), [math.exp(-710.0), math.exp(-745.0)], rtol=1e-15, atol=0)


@pytest.mark.parametrize("z", [EXTREME, RANDOM], ids=["extreme", "random"])
def test_log_sigmoid_agrees_with_scipy_log_expit(z):
    assert_allclose(losslab.log_sigmoid(z), special.log_expit(z), rtol=1e-15, atol=0)


@pytest.mark.parametrize("z", [EXTREME, RANDOM], ids=["extreme", "random"])
def test_softplus_agrees_with_minus_log_expit_of_minus_z(z):
    assert_allclose(losslab.softplus(z), -special.log_expit(-z), rtol=1e-15, atol=0)


def test_logit_agrees_with_scipy_logit():
    p = np.concatenate([RNG.uniform(0, 1, 20), [1e-300, 1e-10, 0.5, 1 - 1e-10]])
    assert_allclose(losslab.logit(p), special.logit(p), rtol=1e-12, atol=0)


@SETTINGS
@given(real_arrays, st.sampled_from([0.0, 1e3, -1e3, 1e300]))
def test_softmax_log_softmax_and_logsumexp_agree_with_scipy(z, offset):
    shifted = z + offset if offset != 1e300 else z * 1e297
    assert_allclose(losslab.softmax(shifted), special.softmax(shifted, axis=-1), rtol=1e-12, atol=1e-300)
    assert_allclose(losslab.log_softmax(shifted), special.log_softmax(shifted, axis=-1), rtol=1e-12, atol=1e-12)
    assert_allclose(losslab.logsumexp(shifted), special.logsumexp(shifted, axis=-1), rtol=1e-14, atol=1e-13)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_family_agrees_with_scipy_along_every_axis(axis):
    z = RNG.normal(0, 50, (3, 4, 5))
    assert_allclose(losslab.softmax(z, axis=axis), special.softmax(z, axis=axis), rtol=1e-12, atol=1e-300)
    assert_allclose(losslab.log_softmax(z, axis=axis), special.log_softmax(z, axis=axis), rtol=1e-12, atol=1e-12)
    assert_allclose(losslab.logsumexp(z, axis=axis), special.logsumexp(z, axis=axis), rtol=1e-14)


# ------------------------------------------------------------ regression


@pytest.mark.parametrize("delta", [1e-3, 0.3, 1.0, 7.0, 1e6])
def test_huber_agrees_with_scipy_special_huber(delta):
    residual = np.concatenate([RANDOM.ravel(), EXTREME[2:-2], [delta, -delta, delta * 0.999, delta * 1.001]])
    pred, target = residual + 3.0, np.full_like(residual, 3.0)
    expected = special.huber(delta, pred - target)
    assert_allclose(losslab.huber(pred, target, delta=delta, reduction="none"), expected, rtol=1e-13, atol=0)


def _log_cosh_decimal(r: float) -> float:
    """log(cosh r) in 80-digit decimal arithmetic."""
    with localcontext() as context:
        context.prec = 80
        x = Decimal(r)
        return float(((x.exp() + (-x).exp()) / 2).ln())


def test_log_cosh_agrees_with_high_precision_decimal_arithmetic():
    residuals = [1e-300, 1e-20, 1e-8, 1e-4, 0.1, 0.5, 1.0, 5.0, 19.999, 20.0, 20.001, 37.0, 400.0, 5000.0, -3.0, -25.0]
    expected = [_log_cosh_decimal(r) for r in residuals]
    actual = losslab.log_cosh(np.array(residuals), 0.0, reduction="none")
    assert_allclose(actual, expected, rtol=4e-16, atol=0)


def test_quantile_mse_mae_agree_with_their_closed_forms():
    pred, target = RANDOM, RNG.normal(0, 10, RANDOM.shape)
    u = target - pred
    for tau in (0.1, 0.5, 0.9):
        expected = np.where(u >= 0, tau * u, (tau - 1) * u)
        assert_allclose(losslab.quantile(pred, target, tau=tau, reduction="none"), expected, rtol=1e-15)
    assert_allclose(losslab.quantile(pred, target, tau=0.5, reduction="none"), 0.5 * np.abs(u), rtol=1e-15)
    assert_allclose(losslab.mse(pred, target, reduction="none"), u**2, rtol=1e-15)
    assert_allclose(losslab.mae(pred, target, reduction="none"), np.abs(u), rtol=1e-15)


# ------------------------------------------------------------ binary


def test_bce_agrees_with_scipy_xlogy_outside_the_clip_region():
    p = np.concatenate([RNG.uniform(1e-6, 1 - 1e-6, 30), [1e-10, 0.5, 1 - 1e-10]])
    y = np.concatenate([RNG.uniform(0, 1, 15), RNG.integers(0, 2, 15), [0.0, 1.0, 1.0]])
    expected = -(special.xlogy(y, p) + special.xlog1py(1 - y, -p))
    assert_allclose(losslab.bce(p, y, reduction="none"), expected, rtol=1e-12)
    assert_allclose(losslab.bce(p, y), expected.mean(), rtol=1e-12)


def test_bce_with_logits_agrees_with_scipy_log_expit():
    z = np.concatenate([EXTREME, RANDOM.ravel()])
    for y in (0.0, 0.25, 1.0):
        expected = -(y * special.log_expit(z) + (1 - y) * special.log_expit(-z))
        assert_allclose(losslab.bce_with_logits(z, y, reduction="none"), expected, rtol=1e-14, atol=0)


def test_bce_of_a_probability_matches_bce_with_logits_of_its_logit():
    z = RNG.uniform(-20, 20, 40)
    y = RNG.uniform(0, 1, 40)
    assert_allclose(
        losslab.bce(special.expit(z), y, reduction="none"),
        losslab.bce_with_logits(z, y, reduction="none"),
        rtol=1e-7,
    )


def _torchvision_focal(inputs, targets, gamma, alpha):
    """torchvision.ops.sigmoid_focal_loss, written out with scipy in place of torch."""
    p = special.expit(inputs)
    ce_loss = -(targets * special.log_expit(inputs) + (1 - targets) * special.log_expit(-inputs))
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return loss


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 5.0])
@pytest.mark.parametrize("alpha", [-1, 0.0, 0.25, 0.75, 1.0])
def test_focal_agrees_with_the_torchvision_formula_for_hard_labels(gamma, alpha):
    z = RNG.uniform(-12, 12, 50)
    y = RNG.integers(0, 2, 50).astype(np.float64)
    expected = _torchvision_focal(z, y, gamma, alpha)
    actual = losslab.focal(z, y, gamma=gamma, alpha=None if alpha < 0 else alpha, reduction="none")
    assert_allclose(actual, expected, rtol=1e-9, atol=1e-300)
    assert_allclose(
        losslab.focal(z, y, gamma=gamma, alpha=None if alpha < 0 else alpha), expected.mean(), rtol=1e-9
    )


def test_focal_with_gamma_zero_and_no_alpha_is_bce_with_logits():
    z, y = RANDOM, RNG.uniform(0, 1, RANDOM.shape)
    assert_allclose(
        losslab.focal(z, y, gamma=0.0, reduction="none"),
        losslab.bce_with_logits(z, y, reduction="none"),
        rtol=1e-15,
    )


def test_hinge_agrees_with_its_closed_form():
    s = RANDOM
    t = RNG.choice([-1.0, 1.0], s.shape)
    assert_allclose(losslab.hinge(s, t, reduction="none"), np.maximum(0.0, 1.0 - t * s), rtol=1e-15)


# ------------------------------------------------------------ multiclass


def test_cross_entropy_agrees_with_scipy_log_softmax():
    z = RNG.normal(0, 5, (8, 5))
    y = RNG.dirichlet(np.ones(5), size=8)
    expected = -(y * special.log_softmax(z, axis=-1)).sum(axis=-1)
    assert_allclose(losslab.cross_entropy(z, y, reduction="none"), expected, rtol=1e-13)
    indices = RNG.integers(0, 5, 8)
    by_index = -special.log_softmax(z, axis=-1)[np.arange(8), indices]
    # scipy's lse - z_c cancels on a confident row (a loss near 1e-4 loses ~11 digits there), so the
    # rows are compared to scipy within its own error, and to 60-digit mpmath within 4 ulp.
    got = losslab.cross_entropy(z, indices, reduction="none")
    assert_allclose(got, by_index, rtol=1e-9)
    mpmath.mp.dps = 60
    for row, c, value in zip(z, indices, got, strict=True):
        exact = mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(float(v)) - mpmath.mpf(float(row[c]))) for v in row))
        assert abs(value - float(exact)) <= 4 * np.spacing(float(exact)), (row, c, value, exact)


def test_cross_entropy_from_probs_agrees_with_scipy_xlogy():
    p = RNG.dirichlet(np.ones(4), size=6)
    y = RNG.dirichlet(np.ones(4), size=6)
    y[0] = [0.0, 0.0, 1.0, 0.0]
    expected = -special.xlogy(y, p).sum(axis=-1)
    assert_allclose(losslab.cross_entropy_from_probs(p, y, reduction="none"), expected, rtol=1e-14)


def test_kl_divergence_agrees_with_scipy_rel_entr_and_kl_div():
    p = RNG.dirichlet(np.ones(4), size=6)
    y = RNG.dirichlet(np.ones(4), size=6)
    y[0] = [0.0, 0.5, 0.5, 0.0]  # 0 log 0 = 0
    expected = special.rel_entr(y, p).sum(axis=-1)
    assert_allclose(losslab.kl_divergence(p, y, reduction="none"), expected, rtol=1e-12, atol=1e-16)
    # for normalised p and y, the extra -y + p terms of kl_div sum to zero
    assert_allclose(losslab.kl_divergence(p, y, reduction="none"), special.kl_div(y, p).sum(axis=-1), rtol=1e-10, atol=1e-15)


def test_kl_divergence_is_infinite_when_the_target_has_mass_the_prediction_lacks():
    y, p = np.array([0.5, 0.5]), np.array([1.0, 0.0])
    assert losslab.kl_divergence(p, y) == special.rel_entr(y, p).sum() == np.inf


def test_kl_divergence_with_logits_agrees_with_rel_entr_of_the_softmax():
    z = RNG.normal(0, 3, (6, 4))
    y = RNG.dirichlet(np.ones(4), size=6)
    y[1] = [0.0, 1.0, 0.0, 0.0]
    expected = special.rel_entr(y, special.softmax(z, axis=-1)).sum(axis=-1)
    assert_allclose(losslab.kl_divergence_with_logits(z, y, reduction="none"), expected, rtol=1e-10, atol=1e-14)


def test_kl_divergence_is_cross_entropy_minus_target_entropy():
    z = RNG.normal(0, 3, (6, 4))
    y = RNG.dirichlet(np.ones(4), size=6)
    entropy = special.entr(y).sum(axis=-1)
    assert_allclose(
        losslab.kl_divergence_with_logits(z, y, reduction="none"),
        losslab.cross_entropy(z, y, reduction="none") - entropy,
        rtol=1e-10,
        atol=1e-14,
    )


def test_brier_agrees_with_its_closed_form_on_probabilities_and_softmax():
    z = RNG.normal(0, 3, (6, 4))
    y = np.eye(4)[RNG.integers(0, 4, 6)]
    p = special.softmax(z, axis=-1)
    assert_allclose(losslab.brier(p, y, reduction="none"), ((p - y) ** 2).sum(axis=-1), rtol=1e-14)
    assert_allclose(losslab.brier_with_logits(z, y, reduction="none"), ((p - y) ** 2).sum(axis=-1), rtol=1e-12)
