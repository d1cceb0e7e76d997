"""Checks shared by the tests of the issue-18 loss families (generative, metric, ranking, ...).

Every check takes its expected values from outside the code under test: a
5-point central difference of the loss itself, PyTorch's autograd, or a
formula written out in the test.
"""

from __future__ import annotations

import numpy as np
import torch

TORCH_RTOL = 1e-12  # the agreement asked of every loss PyTorch also has (float64)


def central_difference(total, x: np.ndarray, h: float) -> np.ndarray:
    """Gradient of the scalar function ``total`` at ``x``: (f(x-2h) - 8f(x-h) + 8f(x+h) - f(x+2h)) / 12h per coordinate."""
    x = np.array(x, dtype=np.float64)
    grad = np.empty_like(x)
    for index in np.ndindex(x.shape):

        def at(step, index=index):
            shifted = x.copy()
            shifted[index] += step
            return float(total(shifted))

        grad[index] = (at(-2 * h) - 8 * at(-h) + 8 * at(h) - at(2 * h)) / (12 * h)
    return grad


def assert_gradients_match_differences(loss, grad, args, differentiable, h=1e-5, rtol=1e-7, atol=1e-9, **params):
    """Each gradient ``grad(*args)[k]`` equals the central difference of ``sum(loss(*args))`` in ``args[i]``.

    ``differentiable`` lists the argument positions the gradient tuple follows (in order).
    """
    analytic = grad(*args, **params)
    if len(differentiable) == 1:
        analytic = (analytic,)
    assert len(analytic) == len(differentiable)
    for position, value in zip(differentiable, analytic, strict=True):
        def total(x, position=position):
            moved = list(args)
            moved[position] = x
            return np.sum(loss(*moved, reduction="none", **params))

        numeric = central_difference(total, args[position], h)
        value = np.asarray(value)
        assert value.shape == np.shape(args[position]), (position, value.shape)
        np.testing.assert_allclose(value, numeric, rtol=rtol, atol=atol, err_msg=f"argument {position}")


def torch_value_and_grads(function, arrays, differentiable, **kwargs):
    """PyTorch's (summed loss values as an array, gradients of their sum) for float64 copies of ``arrays``."""
    tensors = [torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=i in differentiable)
               if np.issubdtype(np.asarray(a).dtype, np.floating) else torch.tensor(np.asarray(a))
               for i, a in enumerate(arrays)]
    value = function(*tensors, **kwargs)
    value.sum().backward()
    return value.detach().numpy(), [tensors[i].grad.numpy() for i in differentiable]


def relative_error(actual, expected) -> float:
    """Largest elementwise |actual - expected| / |expected| (exact zeros must match exactly)."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    difference = np.abs(actual - expected)
    zero = expected == 0
    assert np.all(difference[zero] == 0), "a value PyTorch gives as exactly 0 is not 0"
    if zero.all():
        return 0.0
    return float(np.max(difference[~zero] / np.abs(expected[~zero])))


def scaled_error(actual, expected) -> float:
    """Largest |actual - expected| relative to the largest |expected| (for gradients whose small parts cancel)."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    largest = np.max(np.abs(expected)) if expected.size else 0.0
    if largest == 0:
        return float(np.max(np.abs(actual))) if actual.size else 0.0
    return float(np.max(np.abs(actual - expected)) / largest)


def assert_fused_matches(loss, grad, fused, args, reductions=("mean", "sum", "none"), **params):
    """``fused`` returns exactly what ``loss`` and ``grad`` return separately."""
    for reduction in reductions:
        value, gradient = fused(*args, reduction=reduction, **params)
        np.testing.assert_array_equal(value, loss(*args, reduction=reduction, **params))
        separate = grad(*args, **params)
        for g in gradient if isinstance(gradient, tuple) else (gradient,):
            assert not isinstance(g, np.ndarray) or g.flags.writeable, "a gradient is a read-only view"
        if isinstance(separate, tuple):
            assert isinstance(gradient, tuple) and len(gradient) == len(separate)
            for a, b in zip(gradient, separate, strict=True):
                np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_array_equal(gradient, separate)


def assert_reductions_agree(loss, args, **params):
    """``mean`` and ``sum`` are the mean and sum of ``none``."""
    per_sample = np.asarray(loss(*args, reduction="none", **params))
    np.testing.assert_allclose(loss(*args, reduction="sum", **params), per_sample.sum(), rtol=1e-14)
    np.testing.assert_allclose(loss(*args, reduction="mean", **params), per_sample.mean(), rtol=1e-14)


def as_float32(*arrays):
    return [np.asarray(a, dtype=np.float32) for a in arrays]


def assert_float32_kept(loss, grad, args, n_grads=1, **params):
    """float32 in, float32 out, for the loss (every reduction) and every gradient."""
    for reduction in ("mean", "sum", "none"):
        assert np.asarray(loss(*args, reduction=reduction, **params)).dtype == np.float32
    gradients = grad(*args, **params)
    gradients = gradients if isinstance(gradients, tuple) else (gradients,)
    assert len(gradients) == n_grads
    for g in gradients:
        assert np.asarray(g).dtype == np.float32
