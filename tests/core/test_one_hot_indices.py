"""One-hot targets take the class-index path: the indices read from the target must be the hot positions."""

from __future__ import annotations

import numpy as np
import pytest

import losslab


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7, 3), (5, 4, 10), (1, 2)])
def test_one_hot_target_equals_class_indices_bit_for_bit(dtype, shape):
    rng = np.random.default_rng(sum(shape))
    logits = rng.normal(0, 4, shape).astype(dtype)
    indices = rng.integers(0, shape[-1], shape[:-1])
    one_hot = np.eye(shape[-1], dtype=dtype)[indices]
    for name in ("cross_entropy", "cross_entropy_grad"):
        by_hot = getattr(losslab, name)(logits, one_hot, **({} if name.endswith("grad") else {"reduction": "none"}))
        by_index = getattr(losslab, name)(logits, indices, **({} if name.endswith("grad") else {"reduction": "none"}))
        assert by_hot.dtype == dtype
        np.testing.assert_array_equal(by_hot, by_index)


def test_hot_index_past_float32_integers():
    """Class 2^24 + 1 has no float32 of its own: the index must not be read through float32 arithmetic."""
    classes = 2**24 + 3
    hot = 2**24 + 1
    logits = np.zeros((1, classes), np.float32)
    target = np.zeros((1, classes), np.float32)
    target[0, hot] = 1
    grad = losslab.cross_entropy_grad(logits, target)
    assert grad[0, hot] < 0 and grad[0, hot - 1] > 0 and grad[0, hot + 1] > 0
    assert np.count_nonzero(grad < 0) == 1
