"""smooth_l1, gaussian_nll, poisson_nll and msle: PyTorch agreement, finite differences, properties, extremes.

References: PyTorch's ``smooth_l1_loss``, ``gaussian_nll_loss`` and ``poisson_nll_loss``
(float64, autograd); scipy's Poisson log-pmf; mpmath for MSLE; 5-point central differences.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
import torch.nn.functional as F
from scipy import stats

import losslab
from losslab import extra_regression as er

from .atlas_checks import (
    TORCH_RTOL,
    as_float32,
    assert_float32_kept,
    assert_fused_matches,
    assert_gradients_match_differences,
    assert_reductions_agree,
    relative_error,
    torch_value_and_grads,
)

RNG = np.random.default_rng(1818)
PRED = RNG.normal(0, 3, (6, 5))
TARGET = RNG.normal(0, 3, (6, 5))


# ------------------------------------------------------------ PyTorch agreement


@pytest.mark.parametrize("beta", [0.0, 0.3, 1.0, 4.0])
def test_smooth_l1_agrees_with_torch(beta):
    expected, (expected_grad,) = torch_value_and_grads(
        lambda p, t: F.smooth_l1_loss(p, t, beta=beta, reduction="none"), [PRED, TARGET], [0])
    loss, grad = er.smooth_l1_and_grad(PRED, TARGET, beta=beta, reduction="none")
    assert relative_error(loss, expected) < TORCH_RTOL
    assert relative_error(grad, expected_grad) < TORCH_RTOL
    for reduction in ("mean", "sum"):
        reference = F.smooth_l1_loss(*map(_tensor, (PRED, TARGET)), beta=beta, reduction=reduction).item()
        assert er.smooth_l1(PRED, TARGET, beta=beta, reduction=reduction) == pytest.approx(reference, rel=TORCH_RTOL)


def _tensor(a):
    import torch

    return torch.tensor(np.asarray(a, dtype=np.float64))


VARIANCES = {
    "elementwise": RNG.uniform(0.05, 4, (6, 5)),
    "one per row": RNG.uniform(0.05, 4, (6,)),  # PyTorch's "one dimension short" rule
    "row column": RNG.uniform(0.05, 4, (6, 1)),
}


@pytest.mark.parametrize("var_shape", list(VARIANCES))
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("eps", [1e-6, 0.1])
def test_gaussian_nll_agrees_with_torch(var_shape, full, eps):
    var = VARIANCES[var_shape]
    var = np.where(var < eps, 2 * eps, var)  # above the clamp, where the two gradients coincide
    expected, (g_pred, g_var) = torch_value_and_grads(
        lambda p, t, v: F.gaussian_nll_loss(p, t, v, full=full, eps=eps, reduction="none"), [PRED, TARGET, var], [0, 2])
    loss, (d_pred, d_var) = er.gaussian_nll_and_grad(PRED, TARGET, var, full=full, eps=eps, reduction="none")
    assert relative_error(loss, expected) < TORCH_RTOL
    assert relative_error(d_pred, g_pred) < TORCH_RTOL
    assert d_var.shape == var.shape
    assert relative_error(d_var, g_var) < 2e-12  # summed over up to 5 elements whose terms cancel
    reference = F.gaussian_nll_loss(*map(_tensor, (PRED, TARGET, var)), full=full, eps=eps).item()
    assert er.gaussian_nll(PRED, TARGET, var, full=full, eps=eps) == pytest.approx(reference, rel=TORCH_RTOL)


def test_gaussian_nll_clamps_the_variance_like_torch_but_its_gradient_is_the_clamped_losss():
    pred, target, var = np.array([0.5, 0.5]), np.array([0.0, 0.0]), np.array([1e-8, 0.0])
    expected, (_, torch_var_grad) = torch_value_and_grads(
        lambda p, t, v: F.gaussian_nll_loss(p, t, v, reduction="none"), [pred, target, var], [0, 2])
    loss, (_, d_var) = er.gaussian_nll_and_grad(pred, target, var, reduction="none")
    assert relative_error(loss, expected) < TORCH_RTOL
    np.testing.assert_array_equal(d_var, 0.0)  # the loss is flat in var below eps
    assert np.all(np.abs(torch_var_grad) > 1e10)  # PyTorch passes the gradient at eps through the clamp


@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [False, True])
def test_poisson_nll_agrees_with_torch(log_input, full):
    counts = RNG.poisson(4.0, (6, 5)).astype(np.float64)
    counts[0, :3] = [0.0, 1.0, 2.5]  # around PyTorch's y > 1 switch for the Stirling term
    pred = RNG.normal(1, 1, (6, 5)) if log_input else RNG.uniform(0.01, 8, (6, 5))
    expected, (expected_grad,) = torch_value_and_grads(
        lambda p, t: F.poisson_nll_loss(p, t, log_input=log_input, full=full, reduction="none"), [pred, counts], [0])
    loss, grad = er.poisson_nll_and_grad(pred, counts, log_input=log_input, full=full, reduction="none")
    assert relative_error(loss, expected) < TORCH_RTOL
    assert relative_error(grad, expected_grad) < TORCH_RTOL


# ------------------------------------------------------------ properties


@pytest.mark.parametrize("beta", [0.2, 1.0, 5.0])
def test_smooth_l1_is_huber_over_beta_with_a_gradient_bounded_by_one(beta):
    r = np.linspace(-20, 20, 81)
    np.testing.assert_allclose(er.smooth_l1(r, 0.0, beta=beta, reduction="none"),
                               losslab.huber(r, 0.0, delta=beta, reduction="none") / beta, rtol=1e-14)
    assert np.all(np.abs(er.smooth_l1_grad(r, 0.0, beta=beta)) <= 1)


def test_smooth_l1_with_beta_zero_is_the_l1_loss():
    np.testing.assert_array_equal(er.smooth_l1(PRED, TARGET, beta=0.0, reduction="none"), np.abs(PRED - TARGET))
    np.testing.assert_array_equal(er.smooth_l1_grad(PRED, TARGET, beta=0.0), np.sign(PRED - TARGET))


def test_gaussian_nll_is_half_the_squared_error_at_unit_variance_and_prefers_var_equal_r_squared():
    r = np.array([-3.0, -0.5, 0.25, 2.0])
    np.testing.assert_allclose(er.gaussian_nll(r, 0.0, 1.0, reduction="none"), r * r / 2, rtol=1e-15)
    np.testing.assert_allclose(er.gaussian_nll(r, 0.0, 1.0, full=True, reduction="none"),
                               -stats.norm.logpdf(r), rtol=1e-14)
    _, d_var = er.gaussian_nll_grad(r, 0.0, r * r)
    np.testing.assert_allclose(d_var, 0.0, atol=1e-15)  # the optimum variance is r^2


def test_poisson_nll_is_minimised_at_rate_equal_count_and_full_is_close_to_the_exact_log_pmf():
    counts = np.array([0.0, 1.0, 3.0, 10.0, 250.0])
    rates = np.where(counts > 0, counts, 1e-3)
    # e^{log y} - y: zero up to the rounding of log y, about y * 1e-16 * |log y|
    assert np.all(np.abs(er.poisson_nll_grad(np.log(counts[1:]), counts[1:])) <= 1e-15 * counts[1:] * 7)
    np.testing.assert_allclose(er.poisson_nll_grad(counts[1:], counts[1:], log_input=False), 0.0, atol=1e-8)
    full = er.poisson_nll(np.log(rates), counts, full=True, reduction="none")
    exact = -stats.poisson.logpmf(counts, rates)
    # Stirling's log y! is off by about 1/(12 y) for y > 1; no term for y <= 1 (log 0! = log 1! = 0)
    np.testing.assert_allclose(full[:2], exact[:2], rtol=1e-12)
    assert np.all(np.abs(full[2:] - exact[2:]) < 1 / (12 * counts[2:]))
    stirling = counts * np.log(counts, where=counts > 0, out=np.zeros(5)) - counts + 0.5 * np.log(2 * np.pi * np.maximum(counts, 1))
    np.testing.assert_allclose(full - er.poisson_nll(np.log(rates), counts, reduction="none"),
                               np.where(counts > 1, stirling, 0.0), rtol=1e-13, atol=1e-15)


def _msle_reference(p, y):
    mp.mp.dps = 50
    return float((mp.log1p(mp.mpf(p)) - mp.log1p(mp.mpf(y))) ** 2)


@pytest.mark.parametrize(("p", "y"), [(0.0, 0.0), (1.0, 1.0 + 2**-40), (3.0, 2.999999), (1e-300, 0.0), (0.5, -0.5),
                                      (1e300, 0.0), (0.0, 1e300), (-0.999999, 5.0), (7.0, 1.0), (99.0, 100.0)])
def test_msle_is_accurate_including_nearly_right_predictions(p, y):
    assert er.msle(p, y) == pytest.approx(_msle_reference(p, y), rel=4e-15, abs=0)
    mp.mp.dps = 50
    exact_grad = float(2 * (mp.log1p(mp.mpf(p)) - mp.log1p(mp.mpf(y))) / (1 + mp.mpf(p)))
    assert er.msle_grad(p, y) == pytest.approx(exact_grad, rel=4e-15, abs=0)


@pytest.mark.parametrize(("p", "y"), [(1e300, 1e299), (1e299, 1e300), (3e200, 1e200), (1e20, 4e19), (1e100, 1e10),
                                      (5e307, 1e300), (1e300, -0.9999999), (8.0, 1.0)])
def test_msle_keeps_its_digits_when_both_logs_are_large(p, y):
    """log1p(p) - log1p(y) of two large arguments loses the digits of a difference far smaller than
    either log (e.g. 690.8 - 688.5): about 50 ulp before the log of the ratio was used."""
    mp.mp.dps = 60
    exact = mp.log1p(mp.mpf(p)) - mp.log1p(mp.mpf(y))
    assert er.msle(p, y) == pytest.approx(float(exact**2), rel=4 * 2.0**-52, abs=0)
    assert er.msle_grad(p, y) == pytest.approx(float(2 * exact / (1 + mp.mpf(p))), rel=4 * 2.0**-52, abs=0)


def test_msle_costs_under_prediction_more_than_over_prediction():
    assert er.msle(5.0, 10.0) > er.msle(15.0, 10.0)
    np.testing.assert_allclose(er.msle(PRED.clip(-0.9), TARGET.clip(-0.9), reduction="none"),
                               (np.log1p(PRED.clip(-0.9)) - np.log1p(TARGET.clip(-0.9))) ** 2, rtol=1e-10)


# ------------------------------------------------------------ finite differences, fused, reductions


POSITIVE = RNG.uniform(0.1, 5, (4, 3))
FD_CASES = [
    ("smooth_l1", (PRED[:3], PRED[:3] - np.array([0.1, -0.4, 0.7, -2.0, 3.0])), [0], {"beta": 1.0}),
    ("smooth_l1", (PRED[:3], PRED[:3] - np.array([0.1, -0.4, 0.7, -2.0, 3.0])), [0], {"beta": 0.25}),
    ("gaussian_nll", (PRED[:3], TARGET[:3], VARIANCES["elementwise"][:3]), [0, 2], {}),
    ("gaussian_nll", (PRED[:3], TARGET[:3], VARIANCES["one per row"][:3]), [0, 2], {"full": True}),
    ("gaussian_nll", (PRED[:3], TARGET[:3], 0.7), [0, 2], {}),
    ("poisson_nll", (PRED[:3] / 3, RNG.poisson(2, (3, 5)).astype(float)), [0], {}),
    ("poisson_nll", (POSITIVE, RNG.poisson(2, (4, 3)).astype(float)), [0], {"log_input": False, "full": True}),
    ("msle", (POSITIVE, RNG.uniform(0, 5, (4, 3))), [0], {}),
]


@pytest.mark.parametrize(("name", "args", "differentiable", "params"), FD_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(FD_CASES)])
def test_gradients_match_central_differences(name, args, differentiable, params):
    loss, grad = getattr(er, name), getattr(er, f"{name}_grad")
    assert_gradients_match_differences(loss, grad, args, differentiable, h=1e-4, **params)


@pytest.mark.parametrize(("name", "args", "differentiable", "params"), FD_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(FD_CASES)])
def test_fused_equals_separate_and_reductions_agree(name, args, differentiable, params):
    loss, grad, fused = getattr(er, name), getattr(er, f"{name}_grad"), getattr(er, f"{name}_and_grad")
    assert_fused_matches(loss, grad, fused, args, **params)
    assert_reductions_agree(loss, args, **params)


def test_gradient_of_a_broadcast_prediction_is_summed_back():
    pred = np.array([[0.3], [2.0]])
    target = RNG.uniform(0, 4, (2, 3))
    for name, params in [("smooth_l1", {"beta": 0.5}), ("msle", {}), ("poisson_nll", {})]:
        assert_gradients_match_differences(getattr(er, name), getattr(er, f"{name}_grad"), (pred, target), [0],
                                           h=1e-4, **params)


# ------------------------------------------------------------ extremes, dtypes, errors


def test_extremes_give_true_values_or_true_infinities_without_warnings():
    assert er.smooth_l1(1e308, -1e308) == np.inf
    assert er.smooth_l1(1e300, 0.0, beta=1e200) == pytest.approx(1e300 - 0.5e200, rel=1e-15)
    assert er.smooth_l1_grad(1e-300, 0.0, beta=1e-200) == pytest.approx(1e-100, rel=1e-15)
    assert er.poisson_nll(800.0, 3.0) == np.inf
    assert er.poisson_nll(-1e300, 3.0) == pytest.approx(3e300, rel=1e-15)
    assert er.poisson_nll(-800.0, 0.0) == 0.0
    assert er.poisson_nll(0.0, 1e300, log_input=False, full=True) > 0
    assert er.gaussian_nll(1e200, 0.0, 1e-300) == np.inf
    assert er.gaussian_nll(1e200, 0.0, 1e300) == pytest.approx(0.5 * (math.log(1e300) + 1e100), rel=1e-15)
    assert er.msle(1e308, 0.0) == pytest.approx(math.log(1e308) ** 2, rel=1e-15)
    assert np.isfinite(er.msle_grad(-1 + 1e-15, 1e300))


def test_float32_stays_float32():
    pred, target, var, positive = as_float32(PRED, TARGET, VARIANCES["elementwise"], POSITIVE)
    assert_float32_kept(er.smooth_l1, er.smooth_l1_grad, (pred, target))
    assert_float32_kept(er.gaussian_nll, er.gaussian_nll_grad, (pred, target, var), n_grads=2)
    assert_float32_kept(er.poisson_nll, er.poisson_nll_grad, (pred, np.abs(target)))
    assert_float32_kept(er.msle, er.msle_grad, (positive, positive[::-1]))
    assert er.smooth_l1(np.float32(3e38), np.float32(-3e38)) == np.inf  # the float64 value, rounded once


@pytest.mark.parametrize(("call", "match"), [
    (lambda: er.smooth_l1(1.0, 0.0, beta=-1), r"beta must be in \[0, inf\), got -1"),
    (lambda: er.smooth_l1([1.0, 2.0], [0.0, 1.0, 2.0]), r"pred with shape \(2,\) and target with shape \(3,\)"),
    (lambda: er.gaussian_nll([1.0], [0.0], [-0.5]), "var must be at least 0, got -0.5"),
    (lambda: er.gaussian_nll([1.0], [0.0], [1.0], eps=0), r"eps must be in \(0, inf\), got 0"),
    (lambda: er.gaussian_nll([1.0], [0.0], [1.0], full=1), "full must be True or False, got 1"),
    (lambda: er.gaussian_nll(np.zeros((2, 3)), np.zeros((2, 3)), np.ones(4)), r"var with shape \(4,\)"),
    (lambda: er.poisson_nll([1.0], [-1.0]), r"target \(counts\) must be at least 0, got -1.0"),
    (lambda: er.poisson_nll([-0.5], [1.0], log_input=False), r"pred \(a rate\) must be at least 0, got -0.5"),
    (lambda: er.poisson_nll([np.inf], [1.0]), "log_rate must be finite numbers, got inf"),
    (lambda: er.msle([-1.0], [0.0]), "pred must be greater than -1, got -1.0"),
    (lambda: er.msle([0.0], [np.nan]), "target must be greater than -1, got nan"),
    (lambda: er.msle([0.0], [0.0], reduction="total"), "reduction must be one of"),
])
def test_bad_input_raises_a_value_error_that_names_it(call, match):
    with pytest.raises(ValueError, match=match):
        call()
