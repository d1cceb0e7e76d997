"""The robust-loss family: pseudo-Huber, Cauchy, Geman–McClure, Tukey and Barron's general loss.

Expected values come from closed forms evaluated in mpmath at 60 digits,
4th-order central differences of the loss, or the named losses Barron's loss
passes through; never from the code under test's own formulas.
"""

from __future__ import annotations

import itertools
import math
import re
import warnings

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from losslab import robust

mp.mp.dps = 60
F32 = np.float32
F64_MAX = np.finfo(np.float64).max
F32_MAX = float(np.finfo(np.float32).max)
F32_TINY = float(np.finfo(np.float32).tiny)
INF = math.inf

LOSSES = {
    "pseudo_huber": (robust.pseudo_huber, robust.pseudo_huber_grad, robust.pseudo_huber_and_grad),
    "cauchy": (robust.cauchy, robust.cauchy_grad, robust.cauchy_and_grad),
    "geman_mcclure": (robust.geman_mcclure, robust.geman_mcclure_grad, robust.geman_mcclure_and_grad),
    "tukey": (robust.tukey, robust.tukey_grad, robust.tukey_and_grad),
    "barron": (robust.barron, robust.barron_grad, robust.barron_and_grad),
}
SCALE_NAME = {"pseudo_huber": "delta", "cauchy": "c", "geman_mcclure": "c", "tukey": "c", "barron": "c"}
BARRON_ALPHAS = [2.0, 2 - 1e-15, 2 - 1e-9, 1.999, 1.5, 1.0, 0.5, 1e-9, 0.0, -1e-9, -0.5, -2.0, -10.0,
                 -1e6, -1e12, -INF]


def quietly(function, *args, **kwargs):
    """Call ``function`` with every warning turned into an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return function(*args, **kwargs)


# ------------------------------------------------------------ mpmath references


def reference(name: str, r, **params) -> tuple[float, float]:
    """(loss, dloss/dr) at residual ``r`` from the textbook formula in 60-digit arithmetic.

    Differences like sqrt(1 + x) - 1 are written with mpmath's log1p/expm1 so
    that 60 digits suffice even for residuals of 1e-300.
    """
    r = mp.mpf(r)
    if name == "pseudo_huber":
        d = mp.mpf(params["delta"])
        u2 = (r / d) ** 2
        return d * d * mp.expm1(mp.log1p(u2) / 2), r / mp.sqrt(1 + u2)
    if name == "cauchy":
        c = mp.mpf(params["c"])
        return c * c / 2 * mp.log1p((r / c) ** 2), r / (1 + (r / c) ** 2)
    if name == "geman_mcclure":
        c = mp.mpf(params["c"])
        return (r * r / 2) / (1 + (r / c) ** 2), r / (1 + (r / c) ** 2) ** 2
    if name == "tukey":
        c = mp.mpf(params["c"])
        if abs(r) > c:
            return c * c / 6, mp.mpf(0)
        u2 = (r / c) ** 2
        return -c * c / 6 * mp.expm1(3 * mp.log1p(-u2)), r * (1 - u2) ** 2
    alpha, c = params["alpha"], mp.mpf(params["c"])
    u2 = (r / c) ** 2
    if alpha == 2:
        return u2 / 2, r / c**2
    if alpha == 0:
        return mp.log1p(u2 / 2), r / (c * c + r * r / 2)
    if alpha == -INF:
        return -mp.expm1(-u2 / 2), r / c**2 * mp.exp(-u2 / 2)
    a = mp.mpf(alpha)
    b = abs(a - 2)
    return b / a * mp.expm1(a / 2 * mp.log1p(u2 / b)), r / c**2 * (u2 / b + 1) ** (a / 2 - 1)


def as_float(value) -> float:
    """An mpmath value as the nearest float, with overflow to a signed inf."""
    return float(value) if abs(value) <= F64_MAX else math.copysign(INF, value)


def close(actual: float, expected: float, rtol: float, tiny: float = 1e-300) -> bool:
    """Relative closeness; below ``tiny`` (subnormal range) only a tiny absolute error is asked."""
    if abs(expected) < tiny:  # underflowing to 0, or a subnormal's few bits, is right
        return abs(actual - expected) < tiny * 1e-2 + 1e-310
    if math.isinf(expected):
        return actual == expected
    return abs(actual - expected) <= rtol * abs(expected)


def check_against_reference(name, residuals, rtol, **params):
    loss, grad = LOSSES[name][2](np.asarray(residuals, dtype=np.float64), 0.0, reduction="none", **params)
    for r, got_loss, got_grad in zip(residuals, loss, grad, strict=True):
        want_loss, want_grad = (as_float(v) for v in reference(name, r, **params))
        assert close(float(got_loss), want_loss, rtol), (name, params, r, float(got_loss), want_loss)
        assert close(float(got_grad), want_grad, rtol), (name, params, r, float(got_grad), want_grad)


MODERATE = [0.0, 1e-8, -0.004, 0.1, -0.3, 0.7, 1.0, -1.3, 2.0, 3.7, -8.0, 25.0, 1e3, -1e6]
EXTREME = [1e-300, -1e-160, 1e10, -1e77, 1e154, 1e200, -1e300, 1e305]

NAMED_CASES = [(name, {SCALE_NAME[name]: s}) for name in ("pseudo_huber", "cauchy", "geman_mcclure", "tukey")
               for s in (0.05, 1.0, 3.0, 40.0)]
BARRON_CASES = [("barron", {"alpha": a, "c": c}) for a in BARRON_ALPHAS for c in (0.3, 1.0, 7.0)]


@pytest.mark.parametrize(("name", "params"), NAMED_CASES + BARRON_CASES, ids=str)
def test_loss_and_gradient_match_the_closed_form_in_high_precision(name, params):
    scale = params.get("c", params.get("delta"))
    check_against_reference(name, [r * scale for r in MODERATE], 4e-14, **params)


@pytest.mark.parametrize(("name", "params"), NAMED_CASES + BARRON_CASES, ids=str)
def test_loss_and_gradient_stay_accurate_for_extreme_residuals(name, params):
    # 1e-300 .. 1e305: the far-out logs cost a few hundred ulps at most
    check_against_reference(name, EXTREME, 5e-13, **params)


@pytest.mark.parametrize("alpha", [1.5, 1.0, 0.0, -2.0, -INF], ids=str)
@pytest.mark.parametrize("c", [1e-200, 1e-20, 1e20, 1e200], ids=str)
def test_barron_is_accurate_for_extreme_scales(alpha, c):
    check_against_reference("barron", [c * v for v in (1e-3, 0.5, 2.0, 1e5)] + [1e-150, 1.0, 1e150], 5e-13,
                            alpha=alpha, c=c)


@pytest.mark.parametrize("name", ["cauchy", "geman_mcclure", "tukey"])
@pytest.mark.parametrize("c", [1e-200, 1e200])
def test_named_losses_are_accurate_for_extreme_scales(name, c):
    check_against_reference(name, [c * v for v in (1e-3, 0.5, 2.0)] + [1e-150, 1.0, 1e150], 5e-13, c=c)


# ------------------------------------------------------------ finite differences


def central_difference(loss, r, h, **params):
    """Elementwise 5-point stencil of an elementwise loss: f'(r) ~ (f(r-2h) - 8f(r-h) + 8f(r+h) - f(r+2h))/12h."""
    def f(step):
        return loss(r + step, 0.0, reduction="none", **params)

    return (f(-2 * h) - 8 * f(-h) + 8 * f(h) - f(2 * h)) / (12 * h)


FD_CASES = (
    [(name, {SCALE_NAME[name]: s}) for name in ("pseudo_huber", "cauchy", "geman_mcclure", "tukey")
     for s in (0.3, 1.0, 4.0)]
    + [("barron", {"alpha": a, "c": c}) for a in BARRON_ALPHAS for c in (0.5, 2.0)]
)


@pytest.mark.parametrize(("name", "params"), FD_CASES, ids=str)
def test_gradient_matches_fourth_order_central_differences(name, params):
    scale = params.get("c", params.get("delta"))
    rng = np.random.default_rng(7)
    r = scale * np.concatenate([rng.uniform(-8, 8, 40), [0.0, 0.01, -0.5, 1.0, 3.0, -20.0]])
    h = 1e-3 * scale
    if name == "tukey":  # its third derivative jumps at |r| = c: keep the stencil off it
        r = r[np.abs(np.abs(r) - scale) > 5 * h]
    numeric = central_difference(LOSSES[name][0], r, h, **params)
    analytic = LOSSES[name][1](r, 0.0, **params)
    assert analytic.shape == r.shape and analytic.dtype == np.float64
    assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-9 * scale)


@pytest.mark.parametrize("name", list(LOSSES))
def test_gradient_of_a_broadcast_prediction_is_summed_back_to_its_shape(name):
    pred = np.array([[0.3], [-1.2]])  # (2, 1) against a (2, 3) target
    target = np.array([[0.0, 1.0, 4.0], [2.0, -3.0, 0.5]])
    grad = LOSSES[name][1](pred, target)
    assert grad.shape == (2, 1)
    assert_allclose(grad[:, 0], LOSSES[name][1](np.broadcast_to(pred, (2, 3)), target).sum(axis=1), rtol=1e-15)
    h = 1e-4
    total = lambda p: LOSSES[name][0](p, target, reduction="sum")  # noqa: E731
    for i in range(2):
        step = np.zeros_like(pred)
        step[i, 0] = h
        numeric = (total(pred - 2 * step) - 8 * total(pred - step) + 8 * total(pred + step) - total(pred + 2 * step)) / (12 * h)
        assert grad[i, 0] == pytest.approx(numeric, rel=1e-8, abs=1e-10)


# ------------------------------------------------------------ Barron's special cases


R = np.array([0.0, 1e-6, -0.2, 0.5, 1.0, -1.7, 3.0, 10.0, -250.0, 1e8])


@pytest.mark.parametrize("k", [0.1, 1.0, 3.5])
def test_barron_at_alpha_one_is_pseudo_huber(k):
    assert_allclose(k**2 * robust.barron(R, 0.0, alpha=1.0, c=k, reduction="none"),
                    robust.pseudo_huber(R, 0.0, delta=k, reduction="none"), rtol=1e-14, atol=0)
    assert_allclose(k**2 * robust.barron_grad(R, 0.0, alpha=1.0, c=k),
                    robust.pseudo_huber_grad(R, 0.0, delta=k), rtol=1e-14, atol=0)


@pytest.mark.parametrize("k", [0.1, 1.0, 3.5])
def test_barron_at_alpha_zero_is_cauchy(k):
    assert_allclose(k**2 * robust.barron(R, 0.0, alpha=0.0, c=k, reduction="none"),
                    robust.cauchy(R, 0.0, c=math.sqrt(2) * k, reduction="none"), rtol=1e-14, atol=0)
    assert_allclose(k**2 * robust.barron_grad(R, 0.0, alpha=0.0, c=k),
                    robust.cauchy_grad(R, 0.0, c=math.sqrt(2) * k), rtol=1e-14, atol=0)


@pytest.mark.parametrize("k", [0.1, 1.0, 3.5])
def test_barron_at_alpha_minus_two_is_geman_mcclure(k):
    assert_allclose(k**2 * robust.barron(R, 0.0, alpha=-2.0, c=k, reduction="none"),
                    robust.geman_mcclure(R, 0.0, c=2 * k, reduction="none"), rtol=1e-14, atol=0)
    assert_allclose(k**2 * robust.barron_grad(R, 0.0, alpha=-2.0, c=k),
                    robust.geman_mcclure_grad(R, 0.0, c=2 * k), rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("k", [0.1, 1.0, 3.5])
def test_barron_at_alpha_two_is_half_the_squared_error_and_welsch_at_minus_infinity(k):
    u = R / k
    assert_allclose(robust.barron(R, 0.0, alpha=2.0, c=k, reduction="none"), u * u / 2, rtol=1e-15)
    assert_allclose(robust.barron_grad(R, 0.0, alpha=2.0, c=k), R / k**2, rtol=1e-15)
    assert_allclose(robust.barron(R, 0.0, alpha=-INF, c=k, reduction="none"), -np.expm1(-u * u / 2), rtol=1e-15)
    # the exact slope (the naive R / k^2 e^(-u^2/2) is off by about u^2/2 ulp: 0.5e-13 at k = 0.1)
    with mp.workdps(50):
        exact = [float(mp.mpf(r) / mp.mpf(k) ** 2 * mp.exp(-(mp.mpf(r) / mp.mpf(k)) ** 2 / 2))
                 for r in np.ravel(R)]
    assert_allclose(robust.barron_grad(R, 0.0, alpha=-INF, c=k), np.reshape(exact, np.shape(R)), rtol=5e-16)


@pytest.mark.parametrize(("special", "offsets"), [(0.0, [1e-300, 1e-15, 1e-9, 1e-5]),
                                                    (2.0, [-1e-15, -1e-12, -1e-9, -1e-5])])
def test_barron_is_continuous_across_alpha_zero_and_up_to_two(special, offsets):
    at = robust.barron(R, 0.0, alpha=special, reduction="none")
    at_grad = robust.barron_grad(R, 0.0, alpha=special)
    for offset in offsets:
        for alpha in (special + offset, special - offset) if special == 0 else (special + offset,):
            near = robust.barron(R, 0.0, alpha=alpha, reduction="none")
            near_grad = robust.barron_grad(R, 0.0, alpha=alpha)
            # |d rho/d alpha| <= L^2 / 4 + ... with L = log(1 + u^2/2) <= 40 here: a Lipschitz bound
            assert np.all(np.abs(near - at) <= 500 * abs(offset) * np.maximum(at, 1) + 1e-15 * at), alpha
            assert np.all(np.abs(near_grad - at_grad) <= 500 * abs(offset) * np.abs(at_grad) + 1e-300), alpha


def test_barron_tends_to_welsch_as_alpha_goes_to_minus_infinity():
    welsch = robust.barron(R, 0.0, alpha=-INF, reduction="none")
    welsch_grad = robust.barron_grad(R, 0.0, alpha=-INF)
    gaps = []
    for alpha in (-1e2, -1e4, -1e6, -1e8, -1e12, -1e300):
        near = robust.barron(R, 0.0, alpha=alpha, reduction="none")
        gaps.append(np.max(np.abs(near - welsch)))
        assert np.max(np.abs(robust.barron_grad(R, 0.0, alpha=alpha) - welsch_grad)) <= 2 / abs(alpha)
    assert all(later <= earlier for earlier, later in itertools.pairwise(gaps))
    assert gaps[0] < 0.025 and gaps[-1] == 0.0


def test_barron_is_monotone_in_alpha():
    alphas = [-INF, -1e6, -10.0, -2.0, -0.5, -1e-9, 0.0, 1e-9, 0.5, 1.0, 1.5, 2 - 1e-9, 2.0]
    values = np.stack([robust.barron(R, 0.0, alpha=a, reduction="none") for a in alphas])
    assert np.all(np.diff(values, axis=0) >= -1e-15 * values[1:])


# ------------------------------------------------------------ properties


finite_residual = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
PROPERTY_CASES = [
    ("pseudo_huber", {"delta": 0.7}), ("cauchy", {"c": 2.0}), ("geman_mcclure", {"c": 0.5}),
    ("tukey", {"c": 3.0}), ("barron", {"alpha": 0.5, "c": 1.5}), ("barron", {"alpha": -3.0, "c": 0.8}),
    ("barron", {"alpha": -INF, "c": 1.0}),
]


@pytest.mark.parametrize(("name", "params"), PROPERTY_CASES, ids=str)
@settings(max_examples=40, deadline=None, derandomize=True)
@given(pred=finite_residual, target=finite_residual)
def test_losses_are_non_negative_symmetric_and_depend_only_on_the_residual(name, params, pred, target):
    loss, grad, _ = LOSSES[name]
    value = loss(pred, target, **params)
    assert value >= 0
    assert loss(target, pred, **params) == value  # l(r) = l(-r)
    assert grad(target, pred, **params) == -grad(pred, target, **params)  # psi odd
    residual = pred - target
    assert loss(residual, 0.0, **params) == pytest.approx(value, rel=1e-9, abs=1e-300)
    assert np.sign(grad(pred, target, **params)) in (np.sign(residual), 0.0)  # pull towards the target


@pytest.mark.parametrize(("name", "params"), PROPERTY_CASES, ids=str)
def test_losses_are_zero_with_zero_gradient_at_a_perfect_prediction(name, params):
    loss, grad, _ = LOSSES[name]
    assert_array_equal(loss([0.0, 3.5, -1e300], [0.0, 3.5, -1e300], reduction="none", **params), 0.0)
    assert_array_equal(grad([0.0, 3.5, -1e300], [0.0, 3.5, -1e300], **params), 0.0)


@pytest.mark.parametrize(("name", "params"), PROPERTY_CASES, ids=str)
def test_losses_are_half_the_squared_residual_near_zero(name, params):
    scale = params.get("c", params.get("delta"))
    r = scale * np.array([1e-8, -1e-5, 1e-4])
    ratio = LOSSES[name][0](r, 0.0, reduction="none", **params) / (r * r / 2 / (scale**2 if name == "barron" else 1))
    assert_allclose(ratio, 1.0, rtol=2e-8)


def test_bounded_losses_stay_below_their_bound_and_reach_it():
    r = np.array([0.0, 0.3, 0.99, 1.0, 1.01, 5.0, 1e6, 1e300])
    c = 1.0
    tukey = robust.tukey(r, 0.0, c=c, reduction="none")
    assert np.all(tukey <= c**2 / 6) and np.all(tukey[r >= c] == c**2 / 6)
    assert_array_equal(robust.tukey_grad(r[r >= c], 0.0, c=c), 0.0)  # no pull past c
    gm = robust.geman_mcclure(r, 0.0, c=c, reduction="none")
    assert np.all(gm <= c**2 / 2) and gm[-1] == c**2 / 2
    for alpha in (-0.5, -2.0, -10.0):
        bound = (2 - alpha) / -alpha
        barron = robust.barron(r, 0.0, alpha=alpha, reduction="none")
        assert np.all(barron <= bound) and barron[-1] == pytest.approx(bound, rel=1e-14)
    assert robust.barron(1e300, 0.0, alpha=-INF) == 1.0


def test_gradients_are_bounded_where_the_theory_says():
    r = np.concatenate([np.linspace(-50, 50, 2001), [1e10, -1e300]])
    assert np.max(np.abs(robust.pseudo_huber_grad(r, 0.0, delta=2.0))) <= 2.0
    assert np.max(np.abs(robust.cauchy_grad(r, 0.0, c=2.0))) <= 1.0 + 1e-15  # c/2, at |r| = c
    assert robust.cauchy_grad(2.0, 0.0, c=2.0) == pytest.approx(1.0, rel=1e-15)
    gm_peak = 2.0 / math.sqrt(3) * (3 / 4) ** 2  # r/(1+r^2/c^2)^2 peaks at r = c/sqrt(3)
    assert np.max(np.abs(robust.geman_mcclure_grad(r, 0.0, c=2.0))) <= gm_peak * (1 + 1e-12)
    assert np.max(np.abs(robust.barron_grad(r, 0.0, alpha=1.0, c=2.0))) <= 0.5  # 1/c for alpha = 1


def test_redescending_losses_pull_less_the_further_out_a_point_is():
    r = np.linspace(5.0, 500.0, 200)
    for grad in (robust.cauchy_grad(r, 0.0, c=1.0), robust.geman_mcclure_grad(r, 0.0, c=1.0),
                 robust.barron_grad(r, 0.0, alpha=-1.0, c=1.0)):
        assert np.all(np.diff(grad) < 0)


# ------------------------------------------------------------ extreme inputs


EXTREME_INPUTS = [(1e300, 0.0), (-1e300, 0.0), (1e-300, 0.0), (0.0, -1e-300), (F64_MAX, 0.0),
                  (F64_MAX, -F64_MAX), (-F64_MAX, F64_MAX), (5e-324, 0.0)]
ALL_CASES = NAMED_CASES[::4] + [("barron", {"alpha": a, "c": 1.0}) for a in BARRON_ALPHAS]


@pytest.mark.parametrize(("name", "params"), ALL_CASES, ids=str)
def test_extreme_inputs_give_no_warning_and_no_nan(name, params):
    pred, target = np.array(EXTREME_INPUTS).T
    for function in LOSSES[name][:2]:
        kwargs = {"reduction": "none"} if function is LOSSES[name][0] else {}
        value = quietly(function, pred, target, **kwargs, **params)
        assert not np.isnan(value).any(), (function.__name__, value)
    loss, grad = quietly(LOSSES[name][2], pred, target, reduction="sum", **params)
    assert not np.isnan(loss) and not np.isnan(grad).any()


@pytest.mark.parametrize(("name", "params"), [
    ("pseudo_huber", {"delta": 1e-10}), ("pseudo_huber", {"delta": 2.0}), ("cauchy", {"c": 1.0}),
    ("cauchy", {"c": 1e-300}), ("geman_mcclure", {"c": 3.0}), ("tukey", {"c": 3.0}),
    ("barron", {"alpha": 1.5, "c": 1.0}), ("barron", {"alpha": 1.0, "c": 1e10}), ("barron", {"alpha": 0.5, "c": 1.0}),
    ("barron", {"alpha": 0.0, "c": 1.0}), ("barron", {"alpha": -2.0, "c": 1.0}), ("barron", {"alpha": -INF, "c": 1.0}),
], ids=str)
def test_residuals_past_float_max_give_their_true_values(name, params):
    # 1.7e308 - (-1.7e308) overflows, but Cauchy's log or delta |r| for a small delta is still a float
    pred, target = np.array([F64_MAX, -F64_MAX, 1e308]), np.array([-F64_MAX, F64_MAX, -1e308])
    loss, grad = quietly(LOSSES[name][2], pred, target, reduction="none", **params)
    for got_loss, got_grad, p, t in zip(loss, grad, pred, target, strict=True):
        want_loss, want_grad = (as_float(v) for v in reference(name, mp.mpf(p) - mp.mpf(t), **params))
        assert close(float(got_loss), want_loss, 5e-13), (float(got_loss), want_loss)  # logs of ~710
        assert close(float(got_grad), want_grad, 5e-13), (float(got_grad), want_grad)


def test_float32_residuals_never_overflow():
    pred, target = np.array([F32_MAX], dtype=F32), np.array([-F32_MAX], dtype=F32)
    assert robust.cauchy(pred, target).dtype == F32
    assert float(robust.cauchy(pred, target)) == pytest.approx(math.log(2 * F32_MAX), rel=1e-7)
    assert float(robust.pseudo_huber_grad(pred, target)[0]) == 1.0


@pytest.mark.parametrize(("name", "params"), [
    ("pseudo_huber", {"delta": 1e300}), ("pseudo_huber", {"delta": 1e-300}), ("cauchy", {"c": 1e-300}),
    ("cauchy", {"c": 1e300}), ("tukey", {"c": 1e300}), ("geman_mcclure", {"c": 1e-300}),
    ("barron", {"alpha": 1e-300, "c": 1.0}), ("barron", {"alpha": -1e300, "c": 1e300}),
    ("barron", {"alpha": -F64_MAX, "c": 1e-300}), ("barron", {"alpha": 2 - 2**-52, "c": 1e-300}),
    ("barron", {"alpha": 2 - 2**-52, "c": float(np.finfo(np.float64).tiny)}),
    ("barron", {"alpha": -INF, "c": float(np.finfo(np.float64).tiny)}),
    ("barron", {"alpha": 5e-324, "c": 1.0}), ("barron", {"alpha": 1.0, "c": F64_MAX}),
], ids=str)
def test_extreme_parameters_give_no_warning_and_no_nan(name, params):
    r = np.array([0.0, 5e-324, 1e-300, 1e-5, 1.0, 1e10, 1e300, -F64_MAX])
    loss, grad = quietly(LOSSES[name][2], r, 0.0, reduction="none", **params)
    assert not np.isnan(loss).any() and not np.isnan(grad).any()
    assert np.all(loss >= 0)
    assert np.all((np.sign(grad) == np.sign(r)) | (grad == 0))  # 0 where the true pull underflows


def test_huge_and_tiny_scales_match_the_closed_forms():
    assert robust.cauchy(1e300, 0.0) == pytest.approx(math.log(1e300), rel=1e-15)  # (1/2) log(1 + 1e600)
    assert robust.cauchy_grad(1e300, 0.0) == pytest.approx(1e-300, rel=1e-15)
    assert robust.pseudo_huber(1e300, 0.0, delta=1e-10) == pytest.approx(1e290, rel=1e-15)
    assert robust.pseudo_huber(1e-300, 0.0) == 0.0  # r^2/2 underflows
    assert robust.pseudo_huber_grad(1e-300, 0.0) == 1e-300
    assert robust.cauchy(1e-100, 0.0, c=1e100) == pytest.approx(5e-201, rel=1e-15)  # no spurious underflow
    assert robust.tukey(1e-100, 0.0, c=1e100) == pytest.approx(5e-201, rel=1e-15)
    assert robust.geman_mcclure(1e-100, 0.0, c=1e100) == pytest.approx(5e-201, rel=1e-15)
    u = mp.mpf(10) ** 200  # r = 1e100, c = 1e-100, alpha = 1.5: (b/alpha)((u^2/b + 1)^(alpha/2) - 1)
    assert robust.barron(1e100, 0.0, alpha=1.5, c=1e-100) == pytest.approx(
        float((mp.mpf(0.5) / 1.5) * ((u * u / 0.5 + 1) ** 0.75 - 1)), rel=1e-12)


# ------------------------------------------------------------ float32


@pytest.mark.parametrize(("name", "params"), ALL_CASES, ids=str)
def test_float32_in_gives_float32_out_within_one_rounding_of_the_exact_value(name, params):
    loss, grad, both = LOSSES[name]
    r = np.array([0.0, 1e-20, -0.3, 1.0, 2.5, -40.0, 1e20, F32_MAX], dtype=F32)
    for reduction in ("none", "mean", "sum"):
        assert quietly(loss, r, F32(0), reduction=reduction, **params).dtype == F32
    assert quietly(grad, r, F32(0), **params).dtype == F32
    value, slope = quietly(both, r, [0.0], reduction="none", **params)
    assert value.dtype == F32 and slope.dtype == F32
    for got, exact in zip(value, [reference(name, float(v), **params)[0] for v in r], strict=True):
        assert close(float(got), as_float(exact), 6e-8, F32_TINY) or abs(exact) > F32_MAX, (got, exact)
    for got, exact in zip(slope, [reference(name, float(v), **params)[1] for v in r], strict=True):
        assert close(float(got), as_float(exact), 6e-8, F32_TINY) or abs(exact) > F32_MAX, (got, exact)


@pytest.mark.parametrize(("name", "params"), [
    ("pseudo_huber", {"delta": 1e300}), ("cauchy", {"c": 1e-50}), ("tukey", {"c": 1e40}),
    ("geman_mcclure", {"c": 1e-45}), ("barron", {"alpha": -1e300, "c": 1.0}),
    ("barron", {"alpha": 1e-30, "c": 1.0}), ("barron", {"alpha": 1.0, "c": 1e-40}),
], ids=str)
def test_float32_input_with_parameters_beyond_float32_range_warns_not_and_stays_float32(name, params):
    r = np.array([0.0, 1e-30, 1.0, 3e38, -F32_MAX], dtype=F32)
    value, slope = quietly(LOSSES[name][2], r, F32(0), reduction="none", **params)
    assert value.dtype == F32 and slope.dtype == F32
    for got, exact in zip(value, [reference(name, float(v), **params)[0] for v in r], strict=True):
        assert close(float(got), as_float(exact), 6e-8, F32_TINY) or (abs(exact) > F32_MAX and got == INF), (got, exact)


# ------------------------------------------------------------ API shape


@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_and_grad_equal_the_separate_calls(name):
    loss, grad, both = LOSSES[name]
    pred = np.array([[0.0, 0.5, -3.0], [7.0, 1e-3, 2.0]])
    target = np.array([0.1, 0.5, 1.0])
    for reduction in ("mean", "sum", "none"):
        value, slope = both(pred, target, reduction=reduction)
        assert_array_equal(value, loss(pred, target, reduction=reduction))
        assert_array_equal(slope, grad(pred, target))
        assert slope.shape == pred.shape


@pytest.mark.parametrize("name", list(LOSSES))
def test_scalars_in_give_numpy_scalars_out(name):
    loss, grad, both = LOSSES[name]
    for value in (loss(1.5, 0.0), grad(1.5, 0.0), *both(np.float64(1.5), np.asarray(0.0))):
        assert np.ndim(value) == 0 and isinstance(value, np.floating)
    assert loss(1.5, 0.0) == loss([1.5], [0.0], reduction="none")[0]


def test_reductions_average_and_sum_the_elementwise_losses():
    r = np.array([0.5, -2.0, 9.0])
    each = robust.cauchy(r, 0.0, c=2.0, reduction="none")
    assert robust.cauchy(r, 0.0, c=2.0) == pytest.approx(each.mean(), rel=1e-15)
    assert robust.cauchy(r, 0.0, c=2.0, reduction="sum") == pytest.approx(each.sum(), rel=1e-15)


# ------------------------------------------------------------ validation


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, INF, "wide", None])
def test_a_bad_scale_is_rejected_with_its_name_and_value(name, bad):
    key = SCALE_NAME[name]
    valid = r"\(0, inf\)" if key == "delta" else r"\[2.22507e-308, inf\)"  # c: a normal float
    for function in LOSSES[name]:
        with pytest.raises(ValueError, match=rf"^{key} must be .*{valid}, got {re.escape(repr(bad))}$"):
            function([1.0], [0.0], **{key: bad})


@pytest.mark.parametrize("name", ["cauchy", "geman_mcclure", "tukey", "barron"])
def test_a_subnormal_scale_c_is_rejected_but_the_smallest_normal_one_works(name):
    with pytest.raises(ValueError, match=r"^c must be in \[2.22507e-308, inf\), got 1e-310$"):
        LOSSES[name][0]([1.0], [0.0], c=1e-310)
    smallest = float(np.finfo(np.float64).tiny)
    loss, grad = quietly(LOSSES[name][2], [0.0, smallest, 1.0, 1e300], 0.0, reduction="none", c=smallest)
    assert not np.isnan(loss).any() and not np.isnan(grad).any()  # barron: u = 1e300/c truly overflows


@pytest.mark.parametrize("bad", [2.5, INF, math.nan, "flat", None, 1e300])
def test_a_bad_alpha_is_rejected_with_its_value_and_the_valid_range(bad):
    for function in LOSSES["barron"]:
        with pytest.raises(ValueError, match=rf"^alpha must be .*\[-inf, 2\].*, got {re.escape(repr(bad))}$"):
            function([1.0], [0.0], alpha=bad)


@pytest.mark.parametrize("name", list(LOSSES))
def test_bad_reduction_shapes_and_strings_are_rejected(name):
    loss, _, both = LOSSES[name]
    for function in (loss, both):
        with pytest.raises(ValueError, match=r"reduction must be one of \('mean', 'sum', 'none'\), got 'avg'"):
            function([1.0], [0.0], reduction="avg")
    for function in LOSSES[name]:
        with pytest.raises(ValueError, match=r"\(3,\).*\(2,\).*broadcast"):
            function([1.0, 2.0, 3.0], [0.0, 1.0])
        with pytest.raises(ValueError, match="pred must be numbers"):
            function("abc", [0.0])
        with pytest.raises(ValueError, match="target must be real numbers"):
            function([1.0], [1j])


def test_nan_propagates_without_a_warning():
    for name, (loss, grad, _) in LOSSES.items():
        params = {"alpha": -2.0} if name == "barron" else {}
        assert np.isnan(quietly(loss, [math.nan, 1.0], 0.0, reduction="none", **params)[0])
        assert np.isnan(quietly(grad, [math.nan, 1.0], 0.0, **params)[0])

