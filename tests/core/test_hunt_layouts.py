"""A loss's values do not depend on how its input arrays are laid out in memory.

The class-axis kernels write corrections through flat views (``grad.reshape(-1)[i] = ...``);
on a Fortran-ordered or strided input that view is a copy and the write was lost:
``cross_entropy_grad`` of a Fortran-ordered array returned 0.069 where ``p - y`` is 0.117.
Every layout must give the C-ordered array's results bit for bit, and those are checked
against the naive formulas (moderate logits, where the naive forms are accurate).
"""

from __future__ import annotations

import numpy as np
import pytest

import losslab

LAYOUTS = {
    "fortran": np.asfortranarray,
    "strided": lambda a: np.repeat(a, 2, axis=0)[::2],
    "reversed": lambda a: a[::-1].copy()[::-1],
    "transposed-copy": lambda a: np.ascontiguousarray(a.T).T,
}


def _naive_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _inputs():
    rng = np.random.default_rng(61)
    logits = rng.normal(size=(6, 4)) * 3
    one_hot = np.eye(4)[[0, 1, 2, 3, 1, 0]]
    soft = rng.dirichlet(np.ones(4), size=6)
    return logits, one_hot, soft


def _cases():
    logits, one_hot, soft = _inputs()
    weight = np.array([1.0, 2.0, 3.0, 4.0])
    smoothed = 0.8 * one_hot + 0.2 / 4
    p = _naive_softmax(logits)
    return {
        "cross_entropy one-hot": (losslab.cross_entropy_and_grad, (logits, one_hot), {}, p - one_hot),
        "cross_entropy soft": (losslab.cross_entropy_and_grad, (logits, soft), {}, p - soft),
        "label_smoothed_cross_entropy": (losslab.label_smoothed_cross_entropy_and_grad, (logits, one_hot),
                                         {"label_smoothing": 0.2}, p - smoothed),
        "weighted_cross_entropy": (losslab.weighted_cross_entropy_and_grad, (logits, one_hot), {"weight": weight},
                                   p * (one_hot @ weight)[:, None] - weight * one_hot),
        "kl_divergence_with_logits": (losslab.kl_divergence_with_logits_and_grad, (logits, soft), {}, p - soft),
        "listnet": (losslab.listnet_and_grad, (logits, soft * 5), {}, p - _naive_softmax(soft * 5)),
    }


CASES = _cases()


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("case", list(CASES))
def test_class_axis_losses_and_gradients_do_not_depend_on_the_memory_layout(case, layout):
    function, args, params, expected_grad = CASES[case]
    name = function.__name__.removesuffix("_and_grad")
    separate_loss, separate_grad = getattr(losslab, name), getattr(losslab, name + "_grad")
    laid_out = [LAYOUTS[layout](a) for a in args]
    loss, grad = function(*laid_out, **params, reduction="none")
    c_loss, c_grad = function(*args, **params, reduction="none")
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(grad, c_grad)
    np.testing.assert_array_equal(loss, c_loss)
    np.testing.assert_array_equal(separate_grad(*laid_out, **params), c_grad)
    np.testing.assert_array_equal(separate_loss(*laid_out, **params, reduction="none"), c_loss)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_log_softmax_and_softmax_chain_do_not_depend_on_the_memory_layout(layout):
    logits, _, soft = _inputs()
    logits = logits * 10
    shifted = logits - logits.max(axis=-1, keepdims=True)
    expected = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    np.testing.assert_allclose(losslab.log_softmax(LAYOUTS[layout](logits)), expected, rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(losslab.log_softmax(LAYOUTS[layout](logits)), losslab.log_softmax(logits))
    chained = losslab.softmax_chain(LAYOUTS[layout](soft), LAYOUTS[layout](logits))
    np.testing.assert_array_equal(chained, losslab.softmax_chain(soft, logits))
