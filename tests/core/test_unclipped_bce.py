"""BCE with eps = 0 (unclipped, what /binary's probability axis draws and its Show code prints) at p = 5e-324."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import losslab


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unclipped_gradient_past_float_max_is_minus_inf_without_a_warning(dtype):
    """(p - y) / (p (1 - p)) at the smallest p and y = 1 is -1/p, past float max: -inf, its true size, and no
    RuntimeWarning (Show code at p̂ = 5e-324 printed 'overflow encountered in divide')."""
    tiny = np.array([np.finfo(dtype).smallest_subnormal], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grad = losslab.bce_grad(tiny, np.ones(1, dtype=dtype), eps=0.0)
        loss = losslab.bce(tiny, np.ones(1, dtype=dtype), eps=0.0, reduction="none")
    assert grad.dtype == dtype and grad[0] == -np.inf
    assert loss[0] == pytest.approx(-np.log(float(tiny[0])), rel=1e-6)
