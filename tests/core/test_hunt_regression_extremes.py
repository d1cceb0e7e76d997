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

