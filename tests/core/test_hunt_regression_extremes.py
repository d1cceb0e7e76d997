"""Huber and Poisson NLL where an intermediate overflows but the inputs are finite (helper-61's hunt).

The exact values come from Python's fractions (exact rational arithmetic) and mpmath, not from losslab.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import losslab

FLOAT64_MAX = float(np.finfo(np.float64).max)
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _exact_huber(pred: float, target: float, delta: float) -> Fraction:
    r = abs(Fraction(pred) - Fraction(target))
    a = min(r, Fraction(delta))
    return a * (r - a / 2)


def _rounded(value: Fraction, dtype) -> float:
    """``value`` correctly rounded to ``dtype`` (inf past its range)."""
    with np.errstate(over="ignore"):
        return float(np.asarray(float(value) if value < Fraction(FLOAT64_MAX) else np.inf).astype(dtype))


@pytest.mark.parametrize("delta", [1e300, 1e200, 2e154, 1e100, 1.0, 1e-300, 5e-324])
@pytest.mark.parametrize("pred, target", [(1e300, -FLOAT64_MAX), (FLOAT64_MAX, -FLOAT64_MAX / 2), (-FLOAT64_MAX, 1e308)])
def test_huber_of_a_residual_past_float_max_is_inf_or_its_exact_value_never_nan(pred, target, delta):
    expected = _rounded(_exact_huber(pred, target, delta), np.float64)
    for loss in (losslab.huber(pred, target, delta=delta, reduction="none"),
                 losslab.huber_and_grad(np.array([pred]), np.array([target]), delta=delta, reduction="none")[0][0]):
        assert not np.isnan(loss)
        if np.isinf(expected):
            assert loss == np.inf
        else:
            assert abs(loss - expected) <= 2 * np.spacing(expected)


@pytest.mark.parametrize("delta", [1e300, 3e38, 1e20, 1.0, 0.1, 1e-30])
def test_float32_huber_of_a_residual_past_float32_max_is_inf_or_its_exact_value(delta):
    pred = np.array([FLOAT32_MAX, 3e38], np.float32)
    target = -pred
    expected = [_rounded(_exact_huber(float(p), float(t), delta), np.float32) for p, t in zip(pred, target, strict=True)]
    loss, grad = losslab.huber_and_grad(pred, target, delta=delta, reduction="none")
    assert loss.dtype == np.float32
    assert not np.isnan(loss).any()
    assert not np.isnan(grad).any()
    np.testing.assert_array_max_ulp(loss, np.array(expected, np.float32), maxulp=1)
    np.testing.assert_array_equal(losslab.huber(pred, target, delta=delta, reduction="none"), loss)


def _exact_poisson(x: float, y: float, full: bool):
    import mpmath

    x, y = mpmath.mpf(x), mpmath.mpf(y)
    with mpmath.workprec(4000):  # e^x - y x for x up to 1e20 needs no more: the sign and size is all we keep
        value = mpmath.exp(x) - y * x if x < 10_000 else mpmath.inf
        if full and y > 1 and mpmath.isfinite(value):
            value += y * mpmath.log(y) - y + mpmath.log(2 * mpmath.pi * y) / 2
        return value


POISSON_OVERFLOWS = [(710.0, 1.7e308), (720.0, 1.7e308), (1e20, 1e300), (709.9, 1.7e308), (712.0, 1e306),
                     (1e300, FLOAT64_MAX)]


@pytest.mark.parametrize("full", [False, True])
def test_poisson_nll_where_e_to_the_x_and_y_x_both_overflow_is_its_exact_value_or_signed_inf(full):
    x, y = (np.array(column) for column in zip(*POISSON_OVERFLOWS, strict=True))
    loss, grad = losslab.poisson_nll_and_grad(x, y, full=full, reduction="none")
    np.testing.assert_array_equal(losslab.poisson_nll(x, y, full=full, reduction="none"), loss)
    assert not np.isnan(loss).any(), loss
    np.testing.assert_array_equal(grad, np.inf)  # e^x - y with e^x past float max
    for value, a, b in zip(loss, x, y, strict=True):
        exact = _exact_poisson(a, b, full)
        if abs(exact) > FLOAT64_MAX:
            assert value == (np.inf if exact > 0 else -np.inf), (a, b, value, exact)
        else:  # full: y x, y log y and e^x cancel by about 500 here (ill-conditioned in x and y)
            assert abs(value - float(exact)) <= 1e-11 * abs(float(exact)), (a, b, value, exact)


def _exact_quantile(pred: float, target: float, tau: float) -> Fraction:
    shortfall = Fraction(target) - Fraction(pred)
    return max(Fraction(tau) * shortfall, (Fraction(tau) - 1) * shortfall)


@pytest.mark.parametrize(("name", "parameter", "exact"), [("huber", "delta", _exact_huber),
                                                         ("quantile", "tau", _exact_quantile)])
@pytest.mark.parametrize("value", [1e-45, 1e-40, 1e-300])
def test_float32_huber_and_quantile_with_a_parameter_float32_cannot_hold_are_rounded_once(name, parameter, exact,
                                                                                        value):
    # delta = 1e-45 as float32 is 1.4e-45: the float32 computation was 79 ulp off (quantile's tau: 35)
    pred = np.array([1.5, -2.0, 1e30, 0.25], np.float32)
    target = np.array([-1.0, 2.5, -1e30, 0.5], np.float32)
    expected = np.array([_rounded(exact(float(p), float(t), value), np.float32) for p, t in
                         zip(pred, target, strict=True)], np.float32)
    loss, _ = getattr(losslab, f"{name}_and_grad")(pred, target, **{parameter: value}, reduction="none")
    separate = getattr(losslab, name)(pred, target, **{parameter: value}, reduction="none")
    for result in (loss, separate):
        assert result.dtype == np.float32
        np.testing.assert_array_max_ulp(result, expected, maxulp=1)
