"""Soft-target overlap gradients whose numerator would pass through the subnormal range (helper-61's hunt).

Tversky with alpha = 0, beta = 1, p = [1e-300, 1], t = [0, 1e-300], smooth 1e-20: dT/dp_2 = -t_2/D = -1e-280,
but ``a_i H - t_i E`` (about 1e-320, subnormal) was formed before the division by D^2 and kept 5 digits
(-9.99989e-281). Exact values from Python's fractions.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import losslab


def _exact_tversky_grad(p, t, alpha, beta, smooth):
    p, t = [Fraction(x) for x in p], [Fraction(x) for x in t]
    alpha, beta, smooth = Fraction(alpha), Fraction(beta), Fraction(smooth)
    tp = sum(a * b for a, b in zip(p, t, strict=True))
    fp = sum(a * (1 - b) for a, b in zip(p, t, strict=True))
    fn = sum((1 - a) * b for a, b in zip(p, t, strict=True))
    d = tp + alpha * fp + beta * fn + smooth
    return [-(b * d - (tp + smooth) * (b + alpha * (1 - b) - beta * b)) / d**2 for b in t]


@pytest.mark.parametrize(("p", "t", "alpha", "beta", "smooth"), [
    ([1e-300, 1.0], [0.0, 1e-300], 0.0, 1.0, 1e-20),
    ([1e-300, 1.0, 0.5], [0.0, 1e-300, 1e-290], 0.0, 1.0, 1e-20),
    ([0.25, 1.0], [0.5, 1e-300], 0.3, 0.7, 1e-30),
])
def test_tversky_gradient_keeps_its_digits_where_its_numerator_is_subnormal(p, t, alpha, beta, smooth):
    grad = losslab.tversky_grad(np.array([p]), np.array([t]), alpha=alpha, beta=beta, smooth=smooth, axis=-1)[0]
    expected = _exact_tversky_grad(p, t, alpha, beta, smooth)
    scale = max(abs(float(e)) for e in expected)
    for value, exact in zip(grad, expected, strict=True):
        assert abs(Fraction(float(value)) - exact) <= 2 * Fraction(float(np.spacing(scale))), (value, float(exact))
