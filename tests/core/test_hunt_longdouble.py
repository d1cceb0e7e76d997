"""Soft-target cross-entropy and KL from logits accept longdouble, as the rest of the core does (helper-61's hunt).

Their soft-target gradients recompute cancelling entries in double words, whose tables know float32 and
float64 only: a longdouble input raised ``KeyError: dtype('float128')``. Like the other double-word kernels
(``_double_word.in_float64``) they now compute in float64 and return longdouble.
"""

from __future__ import annotations

import numpy as np
import pytest

import losslab


@pytest.mark.parametrize("name", ["cross_entropy", "kl_divergence_with_logits"])
def test_soft_target_losses_from_logits_compute_longdouble_in_float64(name):
    rng = np.random.default_rng(61)
    logits, target = rng.normal(size=(6, 4)) * 3, rng.dirichlet(np.ones(4), size=6)
    loss, grad = getattr(losslab, f"{name}_and_grad")(logits.astype(np.longdouble), target.astype(np.longdouble),
                                                      reduction="none")
    loss64, grad64 = getattr(losslab, f"{name}_and_grad")(logits, target, reduction="none")
    assert loss.dtype == grad.dtype == np.longdouble
    np.testing.assert_array_equal(loss.astype(np.float64), loss64)
    np.testing.assert_array_equal(grad.astype(np.float64), grad64)
    wide = logits.astype(np.longdouble), target.astype(np.longdouble)
    np.testing.assert_array_equal(getattr(losslab, name)(*wide, reduction="none"), loss)
    np.testing.assert_array_equal(getattr(losslab, f"{name}_grad")(*wide), grad)
    # and the float64 results are the naive formulas' to within their rounding (moderate logits)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    np.testing.assert_allclose(grad64, shifted / shifted.sum(axis=-1, keepdims=True) - target, rtol=1e-12, atol=1e-15)
