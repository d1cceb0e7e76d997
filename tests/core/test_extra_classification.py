"""Weighted and label-smoothed cross-entropy, squared hinge, exponential loss.

References: PyTorch's ``cross_entropy`` with ``weight=`` and ``label_smoothing=``
(float64, autograd); closed forms written out here for the margin losses
(PyTorch has neither); 5-point central differences.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losslab
from losslab import extra_classification as ec

from .atlas_checks import (
    TORCH_RTOL,
    as_float32,
    assert_float32_kept,
    assert_fused_matches,
    assert_gradients_match_differences,
    assert_reductions_agree,
    relative_error,
    scaled_error,
    torch_value_and_grads,
)

RNG = np.random.default_rng(1819)
LOGITS = RNG.normal(0, 3, (7, 4))
INDICES = RNG.integers(0, 4, 7)
SOFT = RNG.dirichlet(np.ones(4), 7)
WEIGHT = np.array([0.2, 1.0, 3.5, 0.0])


def _torch_ce(target, **kwargs):
    def call(z):
        t = torch.tensor(target)
        return F.cross_entropy(z, t, reduction="none", **kwargs)
    return call


# ------------------------------------------------------------ PyTorch agreement


@pytest.mark.parametrize("target", [INDICES, SOFT], ids=["indices", "probabilities"])
def test_weighted_cross_entropy_agrees_with_torch(target):
    expected, (expected_grad,) = torch_value_and_grads(
        _torch_ce(target, weight=torch.tensor(WEIGHT)), [LOGITS], [0])
    loss, grad = ec.weighted_cross_entropy_and_grad(LOGITS, target, weight=WEIGHT, reduction="none")
    assert relative_error(loss, expected) < TORCH_RTOL
    assert scaled_error(grad, expected_grad) < TORCH_RTOL
    assert relative_error(ec.weighted_cross_entropy(LOGITS, target, weight=WEIGHT, reduction="sum"),
                          expected.sum()) < TORCH_RTOL


def test_weighted_mean_is_the_mean_over_samples_and_torchs_is_the_sum_over_total_weight():
    torch_mean = F.cross_entropy(torch.tensor(LOGITS), torch.tensor(INDICES), weight=torch.tensor(WEIGHT)).item()
    total = ec.weighted_cross_entropy(LOGITS, INDICES, weight=WEIGHT, reduction="sum")
    assert total / WEIGHT[INDICES].sum() == pytest.approx(torch_mean, rel=TORCH_RTOL)
    assert ec.weighted_cross_entropy(LOGITS, INDICES, weight=WEIGHT) == pytest.approx(total / 7, rel=1e-15)


@pytest.mark.parametrize("epsilon", [0.0, 0.1, 0.45, 1.0])
@pytest.mark.parametrize("target", [INDICES, SOFT], ids=["indices", "probabilities"])
def test_label_smoothed_cross_entropy_agrees_with_torch(epsilon, target):
    expected, (expected_grad,) = torch_value_and_grads(_torch_ce(target, label_smoothing=epsilon), [LOGITS], [0])
    loss, grad = ec.label_smoothed_cross_entropy_and_grad(LOGITS, target, label_smoothing=epsilon, reduction="none")
    assert relative_error(loss, expected) < TORCH_RTOL
    assert scaled_error(grad, expected_grad) < TORCH_RTOL


def test_label_smoothing_agrees_with_torch_on_another_class_axis():
    logits = RNG.normal(0, 2, (3, 5, 2))  # classes on axis 1, as PyTorch's (N, C, d) layout
    indices = RNG.integers(0, 5, (3, 2))
    expected, (expected_grad,) = torch_value_and_grads(_torch_ce(indices, label_smoothing=0.2), [logits], [0])
    loss, grad = ec.label_smoothed_cross_entropy_and_grad(logits, indices, label_smoothing=0.2, axis=1,
                                                          reduction="none")
    assert relative_error(loss, expected) < TORCH_RTOL
    assert scaled_error(grad, expected_grad) < TORCH_RTOL


# ------------------------------------------------------------ properties


def test_unit_weights_and_zero_smoothing_are_plain_cross_entropy():
    for target in (INDICES, SOFT):
        plain = losslab.cross_entropy(LOGITS, target, reduction="none")
        np.testing.assert_allclose(ec.weighted_cross_entropy(LOGITS, target, weight=np.ones(4), reduction="none"),
                                   plain, rtol=1e-15)
        np.testing.assert_allclose(ec.label_smoothed_cross_entropy(LOGITS, target, label_smoothing=0.0,
                                                                   reduction="none"), plain, rtol=1e-15)


def test_weighted_cross_entropy_of_an_index_is_its_class_weight_times_the_cross_entropy():
    plain = losslab.cross_entropy(LOGITS, INDICES, reduction="none")
    np.testing.assert_allclose(ec.weighted_cross_entropy(LOGITS, INDICES, weight=WEIGHT, reduction="none"),
                               WEIGHT[INDICES] * plain, rtol=1e-15)
    grad = ec.weighted_cross_entropy_grad(LOGITS, INDICES, weight=WEIGHT)
    np.testing.assert_array_equal(grad[INDICES == 3], 0.0)  # weight 0: no loss, no gradient


@pytest.mark.parametrize("epsilon", [0.05, 0.1, 0.5])
def test_label_smoothing_has_a_finite_optimum_logit_gap(epsilon):
    classes = 5
    gap = math.log(1 + classes * (1 - epsilon) / epsilon)  # softmax(gap, 0, ...)_c = 1 - eps + eps/C
    logits = np.zeros((1, classes))
    logits[0, 2] = gap
    np.testing.assert_allclose(ec.label_smoothed_cross_entropy_grad(logits, np.array([2]), label_smoothing=epsilon),
                               0.0, atol=1e-15)
    # (1 - eps) CE(z, y) + eps CE(z, uniform)
    z = RNG.normal(0, 2, (4, classes))
    y = RNG.integers(0, classes, 4)
    mixed = ((1 - epsilon) * losslab.cross_entropy(z, y, reduction="none")
             + epsilon * losslab.cross_entropy(z, np.full((4, classes), 1 / classes), reduction="none"))
    np.testing.assert_allclose(ec.label_smoothed_cross_entropy(z, y, label_smoothing=epsilon, reduction="none"),
                               mixed, rtol=1e-14)


MARGINS = np.array([-800.0, -30.0, -2.0, -0.5, 0.0, 0.5, 0.999, 1.0, 1.001, 3.0, 50.0, 800.0])


def test_squared_hinge_is_the_square_of_the_hinge_and_its_gradient_is_continuous():
    for t in (1.0, -1.0):
        score = t * MARGINS  # margin t s = MARGINS
        hinge = np.maximum(0, 1 - MARGINS)
        np.testing.assert_array_equal(ec.squared_hinge(score, t, reduction="none"), hinge**2)
        np.testing.assert_array_equal(ec.squared_hinge_grad(score, t), -2 * t * hinge)
    assert ec.squared_hinge_grad(1.0, 1.0) == 0.0 and abs(ec.squared_hinge_grad(1 - 1e-9, 1.0)) < 3e-9


def test_exponential_loss_closed_form_and_half_log_odds_minimiser():
    for t in (1.0, -1.0):
        score = t * MARGINS
        with np.errstate(over="ignore"):
            expected = np.exp(-MARGINS)
        np.testing.assert_array_equal(ec.exponential(score, t, reduction="none"), expected)
        np.testing.assert_array_equal(ec.exponential_grad(score, t), -t * expected)
    # E[loss] = p e^{-s} + (1 - p) e^{s} is minimised at s = log(p / (1 - p)) / 2
    for p in (0.1, 0.5, 0.93):
        s = 0.5 * math.log(p / (1 - p))
        expected_slope = p * ec.exponential_grad(s, 1.0) + (1 - p) * ec.exponential_grad(s, -1.0)
        assert abs(expected_slope) < 1e-15


def test_every_margin_loss_bounds_the_zero_one_loss_from_above():
    m = np.linspace(-3, 3, 61)
    zero_one = (m <= 0).astype(float)
    assert np.all(ec.squared_hinge(m, 1.0, reduction="none") >= zero_one)
    assert np.all(ec.exponential(m, 1.0, reduction="none") >= zero_one)


# ------------------------------------------------------------ finite differences, fused, reductions


FD_CASES = [
    ("weighted_cross_entropy", (LOGITS, INDICES), {"weight": WEIGHT}),
    ("weighted_cross_entropy", (LOGITS, SOFT), {"weight": WEIGHT}),
    ("label_smoothed_cross_entropy", (LOGITS, INDICES), {"label_smoothing": 0.2}),
    ("label_smoothed_cross_entropy", (LOGITS, SOFT), {"label_smoothing": 0.7}),
    ("squared_hinge", (np.array([-2.0, -0.3, 0.4, 0.8, 1.5, 2.5]), np.array([1.0, -1, 1, 1, -1, 1])), {}),
    ("exponential", (np.array([-2.0, -0.3, 0.4, 0.8, 1.5, 2.5]), np.array([1.0, -1, 1, 1, -1, 1])), {}),
]


@pytest.mark.parametrize(("name", "args", "params"), FD_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(FD_CASES)])
def test_gradients_match_central_differences(name, args, params):
    assert_gradients_match_differences(getattr(ec, name), getattr(ec, f"{name}_grad"), args, [0], h=1e-4, **params)


@pytest.mark.parametrize(("name", "args", "params"), FD_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(FD_CASES)])
def test_fused_equals_separate_and_reductions_agree(name, args, params):
    loss, grad, fused = getattr(ec, name), getattr(ec, f"{name}_grad"), getattr(ec, f"{name}_and_grad")
    assert_fused_matches(loss, grad, fused, args, **params)
    assert_reductions_agree(loss, args, **params)


def test_margin_loss_gradient_of_a_broadcast_score_is_summed_back():
    score = np.array([[0.3], [-0.6]])
    labels = np.array([[1.0, -1.0, 1.0], [-1.0, -1.0, 1.0]])
    for name in ("squared_hinge", "exponential"):
        assert_gradients_match_differences(getattr(ec, name), getattr(ec, f"{name}_grad"), (score, labels), [0],
                                           h=1e-4)


# ------------------------------------------------------------ extremes, dtypes, errors


def test_extreme_logits_and_scores_without_warnings():
    logits = np.array([[1000.0, 999.0, -1e300], [-1e300, 1e300, 0.0]])
    loss = ec.label_smoothed_cross_entropy(logits, np.array([0, 1]), label_smoothing=0.1, reduction="none")
    # eps/C of the target on logits 1e300 and 2e300 below the top: huge but finite
    assert loss[0] == pytest.approx(0.1 / 3 * 1e300, rel=1e-15)
    assert loss[1] == pytest.approx(0.1 / 3 * 3e300, rel=1e-15)
    loss = ec.weighted_cross_entropy(logits, np.array([0, 1]), weight=[1.0, 2.0, 3.0], reduction="none")
    assert loss[0] == pytest.approx(math.log1p(math.exp(-1.0)), rel=1e-15) and loss[1] == 0.0
    assert ec.exponential(-1000.0, 1.0) == np.inf and ec.exponential(1000.0, 1.0) == 0.0
    assert ec.squared_hinge(-1e300, 1.0) == np.inf and ec.squared_hinge(1e300, 1.0) == 0.0


def test_float32_stays_float32():
    (logits,) = as_float32(LOGITS)
    assert_float32_kept(ec.weighted_cross_entropy, ec.weighted_cross_entropy_grad, (logits, INDICES), weight=WEIGHT)
    assert_float32_kept(ec.weighted_cross_entropy, ec.weighted_cross_entropy_grad, (logits, SOFT.astype(np.float32)),
                        weight=WEIGHT)
    assert_float32_kept(ec.label_smoothed_cross_entropy, ec.label_smoothed_cross_entropy_grad, (logits, INDICES))
    score, labels = as_float32([0.5, -2.0, 3.0], [1.0, 1.0, -1.0])
    assert_float32_kept(ec.squared_hinge, ec.squared_hinge_grad, (score, labels))
    assert_float32_kept(ec.exponential, ec.exponential_grad, (score, labels))


@pytest.mark.parametrize(("call", "match"), [
    (lambda: ec.weighted_cross_entropy(LOGITS, INDICES, weight=[1.0, 2.0]), r"one number per class, shape \(4,\)"),
    (lambda: ec.weighted_cross_entropy(LOGITS, INDICES, weight=[1.0, -2.0, 1.0, 1.0]), "weight must be >= 0, got -2.0"),
    (lambda: ec.weighted_cross_entropy(LOGITS, INDICES + 4, weight=WEIGHT), "class index .* out of range; expected 0 to 3"),
    (lambda: ec.label_smoothed_cross_entropy(LOGITS, INDICES, label_smoothing=1.5), r"label_smoothing must be in \[0, 1\], got 1.5"),
    (lambda: ec.label_smoothed_cross_entropy(LOGITS, SOFT * 2, label_smoothing=0.1), r"target probabilities must lie in \[0, 1\]"),
    (lambda: ec.label_smoothed_cross_entropy(LOGITS, INDICES[:3], label_smoothing=0.1), r"class indices with shape \(3,\)"),
    (lambda: ec.squared_hinge([1.0], [0.0]), r"target \(labels\) must be -1 or 1, got 0.0"),
    (lambda: ec.exponential([1.0], [2.0]), r"target \(labels\) must be -1 or 1, got 2.0"),
    (lambda: ec.exponential([1.0], [1.0], reduction=None), "reduction must be one of"),
])
def test_bad_input_raises_a_value_error_that_names_it(call, match):
    with pytest.raises(ValueError, match=match):
        call()
