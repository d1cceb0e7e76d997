"""Soft-target cross-entropies of logits spread past float max (helper-61's hunt).

``-log p_k = (z_t - z_k) + ...`` overflows for such a row, yet a soft target's weighted sum of
them may be a float: ``cross_entropy([1e308, -1e308, 0], [0.5, 0.5, 0])`` is 1e308, not inf.
Expected values from mpmath at 4000 bits.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

import losslab


def _exact_cross_entropy(logits, target) -> mpmath.mpf:
    with mpmath.workprec(4000):
        z = [mpmath.mpf(float(v)) for v in logits]
        top = max(z)
        log_total = top + mpmath.log(sum(mpmath.exp(v - top) for v in z))
        return sum(mpmath.mpf(float(y)) * (log_total - v) for y, v in zip(target, z, strict=True) if y)


def _exact_entropy(target) -> mpmath.mpf:
    return sum(mpmath.mpf(float(y)) * mpmath.log(mpmath.mpf(float(y))) for y in target if y)


def _rows(dtype):
    big = float(np.finfo(dtype).max) * 0.9
    logits = np.array([[big, -big, 0.0], [big, -big, big], [-big, 1.0, big]], dtype)
    target = np.array([[0.5, 0.5, 0.0], [0.25, 0.5, 0.25], [0.125, 0.0, 0.875]], dtype)
    return logits, target


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["cross_entropy", "kl_divergence_with_logits", "weighted_cross_entropy"])
def test_soft_target_losses_of_logits_spread_past_float_max_are_their_finite_values(name, dtype):
    logits, target = _rows(dtype)
    params = {"weight": np.ones(3, dtype)} if name == "weighted_cross_entropy" else {}
    loss, _ = getattr(losslab, f"{name}_and_grad")(logits, target, **params, reduction="none")
    separate = getattr(losslab, name)(logits, target, **params, reduction="none")
    for row, value in enumerate(loss):
        exact = _exact_cross_entropy(logits[row], target[row])
        if name == "kl_divergence_with_logits":
            exact += _exact_entropy(target[row])
        expected = np.asarray(float(exact)).astype(dtype)
        assert np.isfinite(expected)
        np.testing.assert_array_max_ulp(np.asarray(value), expected, maxulp=2)
    np.testing.assert_array_equal(separate, loss)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_label_smoothed_cross_entropy_of_logits_spread_past_float_max_is_finite(dtype):
    logits = _rows(dtype)[0][:1]
    smoothing = 1e-10
    loss = losslab.label_smoothed_cross_entropy(logits, np.array([0]), label_smoothing=smoothing, reduction="none")
    with mpmath.workprec(4000):
        smoothed = [(1 - mpmath.mpf(smoothing)) + mpmath.mpf(smoothing) / 3] + [mpmath.mpf(smoothing) / 3] * 2
        exact = _exact_cross_entropy(logits[0], [float(s) for s in smoothed])
    np.testing.assert_allclose(loss, float(exact), rtol=1e-6)  # the smoothed target's own rounding aside


def test_listnet_and_next_token_cross_entropy_of_logits_spread_past_float_max_are_finite():
    logits = _rows(np.float64)[0][:1]
    with mpmath.workprec(4000):
        third = mpmath.mpf(1) / 3
        uniform = _exact_cross_entropy(logits[0], [1.0, 1.0, 1.0]) * third  # relevance all equal: a uniform target
        smoothed = [(1 - mpmath.mpf(1e-10)) + mpmath.mpf(1e-10) / 3] + [mpmath.mpf(1e-10) / 3] * 2
        next_token = _exact_cross_entropy(logits[0], [float(s) for s in smoothed])
    np.testing.assert_allclose(losslab.listnet(logits, np.zeros((1, 3)), reduction="none"), float(uniform), rtol=1e-15)
    np.testing.assert_allclose(losslab.next_token_cross_entropy(logits[None], np.array([[0]]), label_smoothing=1e-10,
                                                                reduction="none"), [[float(next_token)]], rtol=1e-6)
