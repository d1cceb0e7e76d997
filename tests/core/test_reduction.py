"""Reductions of finite losses near the largest float: the mean is finite (not inf) and nothing warns.

Found through /robust (Barron's loss at c = 1e-300 summed past the largest float before dividing);
the same path serves every loss, so each family is checked here.
"""

from __future__ import annotations

import numpy as np
import pytest

import losslab

BIG = np.finfo(np.float64).max


@pytest.mark.parametrize(("name", "pred", "target", "kwargs", "each"), [
    ("mae", [0.75 * BIG, 0.75 * BIG], [0.0, 0.0], {}, 0.75 * BIG),
    ("mse", [1e154, 1e154], [0.0, 0.0], {}, 1e308),
    ("huber", [0.75 * BIG, -0.75 * BIG], [0.0, 0.0], {"delta": 1.0}, 0.75 * BIG - 0.5),
    ("pseudo_huber", [0.75 * BIG, 0.75 * BIG], [0.0, 0.0], {"delta": 1.0}, None),
    ("barron", [1.0, 1.0], [0.0, 0.0], {"alpha": 1.02, "c": 1e-300}, None),
])
def test_mean_of_finite_losses_near_the_largest_float_is_finite(name, pred, target, kwargs, each):
    loss = getattr(losslab, name)
    per_sample = loss(np.array(pred), np.array(target), reduction="none", **kwargs)
    assert np.isfinite(per_sample).all()
    mean = loss(np.array(pred), np.array(target), reduction="mean", **kwargs)
    expected = each if each is not None else float(per_sample[0])  # equal samples: the mean is one of them
    assert np.isfinite(mean)
    np.testing.assert_allclose(mean, expected, rtol=4 * np.finfo(np.float64).eps)
    fused_loss, _ = getattr(losslab, f"{name}_and_grad")(np.array(pred), np.array(target), reduction="mean", **kwargs)
    np.testing.assert_allclose(fused_loss, expected, rtol=4 * np.finfo(np.float64).eps)


def test_sum_past_the_largest_float_is_inf_without_a_warning():
    assert losslab.mae(np.array([0.75 * BIG, 0.75 * BIG]), np.zeros(2), reduction="sum") == np.inf


def test_float32_mean_near_its_largest_float_stays_float32_and_finite():
    big32 = np.float32(0.75) * np.finfo(np.float32).max
    mean = losslab.mae(np.array([big32, big32], dtype=np.float32), np.zeros(2, dtype=np.float32))
    assert mean.dtype == np.float32 and mean == big32
