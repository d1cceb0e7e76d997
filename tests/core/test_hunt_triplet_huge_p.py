"""triplet_margin with a huge norm degree p (helper-61's hunt).

Past p of about 1e19 the largest entry's ratio r = 1 + (its low part)/M made r^p = e^(p log r) overflow:
losses were off by up to 2.2 (the margin where the max-norm gives 0.5), with RuntimeWarnings, and
p = 1e300 warned 'overflow encountered in multiply'. The p-norm of such p is the max-norm to far
below an ulp, and its slopes are 1 on the largest entry, 0 elsewhere.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import losslab


@pytest.mark.parametrize("p", [1e17, 3e19, 1e30, 1e300, 1.7976931348623157e308])
def test_triplet_margin_with_a_huge_p_is_the_max_norm_triplet_without_warnings(p):
    rng = np.random.default_rng(61)
    anchor, positive, negative = (rng.normal(size=(6, 3)) for _ in range(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, (g_a, g_p, g_n) = losslab.triplet_margin_and_grad(anchor, positive, negative, p=p, reduction="none")
        separate = losslab.triplet_margin(anchor, positive, negative, p=p, reduction="none")
    a_p, a_n = anchor - positive + 1e-6, anchor - negative + 1e-6
    slack = 1 + np.abs(a_p).max(axis=-1) - np.abs(a_n).max(axis=-1)
    np.testing.assert_allclose(loss, np.maximum(slack, 0), rtol=1e-15, atol=0)
    np.testing.assert_array_equal(separate, loss)

    def max_slope(v):  # d max|v| / dv: the sign on the largest entry
        slope = np.zeros_like(v)
        rows = np.arange(len(v))
        top = np.abs(v).argmax(axis=-1)
        slope[rows, top] = np.sign(v[rows, top])
        return slope

    active = (slack > 0)[:, None]
    np.testing.assert_allclose(g_p, np.where(active, -max_slope(a_p), 0.0), rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(g_n, np.where(active, max_slope(a_n), 0.0), rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(g_a, np.where(active, max_slope(a_p) - max_slope(a_n), 0.0), rtol=1e-15, atol=1e-300)
