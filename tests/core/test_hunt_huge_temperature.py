"""A two-product with float max, and InfoNCE at a temperature near float max (helper-61's hunt).

Veltkamp's split of float max rounded its high half up to 2^1024 (inf), so ``two_product(0.5, max)``
had a NaN error term, and ``info_nce`` at ``temperature=1.7976931348623157e308`` returned NaN
(with a RuntimeWarning) where the loss is log 6 to the last bit.
"""

from __future__ import annotations

import math
import warnings
from fractions import Fraction

import numpy as np
import pytest

import losslab
from losslab import _double_word as dw


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("factor", [0.5, -0.3, 0.99, 1e-30])
def test_two_product_with_the_largest_float_is_exact(dtype, factor):
    top = np.finfo(dtype).max
    a, b = np.array([factor, top], dtype), np.array([top, factor], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        product, error = dw.two_product(a, b)
        high, low = dw._split(np.array([top, -top], dtype))
    for i in range(2):
        assert Fraction(float(product[i])) + Fraction(float(error[i])) == Fraction(float(a[i])) * Fraction(float(b[i]))
    assert [Fraction(float(h)) + Fraction(float(v)) for h, v in zip(high, low, strict=True)] == [
        Fraction(float(top)), -Fraction(float(top))]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("temperature", [1.7976931348623157e308, 1e308, 1e39])
def test_info_nce_at_a_temperature_near_float_max_is_log_of_the_key_count(dtype, temperature):
    rng = np.random.default_rng(61)
    query, keys = rng.normal(size=(6, 3)).astype(dtype), rng.normal(size=(6, 3)).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, (grad_query, grad_keys) = losslab.info_nce_and_grad(query, keys, temperature=temperature,
                                                                  reduction="none")
        separate = losslab.info_nce(query, keys, temperature=temperature, reduction="none")
    # the logits are cos / tau, below 1e-307: every row's loss is log 6 to far below an ulp
    np.testing.assert_array_equal(loss, np.full(6, math.log(6), dtype))
    np.testing.assert_array_equal(separate, loss)
    assert np.isfinite(grad_query).all() and np.isfinite(grad_keys).all()
