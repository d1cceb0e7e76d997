"""Output activations (links) and their inverses, stable for every finite input.

All functions accept array-likes, keep float32 as float32, compute ints,
lists and scalars in float64, and return the input's shape (``logsumexp``
drops the class axis unless ``keepdims``). ``+inf`` and ``-inf`` give their
limits; none of them emits a RuntimeWarning.
"""

from __future__ import annotations

import numpy as np

from losslab._validation import (
    as_float_array,
    check_in_closed_interval,
    normalize_axis,
    result_dtype,
)


def _float_input(x, name: str) -> np.ndarray:
    return as_float_array(x, name, result_dtype(x))


def _scalar_or_array(array: np.ndarray):
    return array[()] if array.ndim == 0 else array


def sigmoid(z):
    r"""Logistic function :math:`\sigma(z) = 1 / (1 + e^{-z})`.

    Computed from :math:`e^{-|z|}`, which never overflows, so the result is
    exact to rounding for every finite ``z`` and is 0 or 1 at -inf or +inf.
    Derivative: :math:`\sigma'(z) = \sigma(z)\,(1 - \sigma(z))`.
    """
    z = _float_input(z, "z")
    decay = np.exp(-np.abs(z))
    return _scalar_or_array(np.where(z >= 0, 1, decay) / (1 + decay))


def log_sigmoid(z):
    r""":math:`\log \sigma(z) = \min(z, 0) - \log(1 + e^{-|z|})`, exact for large ``|z|``."""
    z = _float_input(z, "z")
    return _scalar_or_array(np.minimum(z, 0) - np.log1p(np.exp(-np.abs(z))))


def softplus(z):
    r""":math:`\log(1 + e^{z}) = \max(z, 0) + \log(1 + e^{-|z|}) = -\log \sigma(-z)`."""
    z = _float_input(z, "z")
    return _scalar_or_array(np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))))


def logit(p):
    r"""Inverse of the sigmoid, :math:`\log p - \log(1 - p)`, for ``p`` in [0, 1].

    ``logit(0) = -inf`` and ``logit(1) = +inf``; values outside [0, 1] raise.
    """
    p = _float_input(p, "p")
    check_in_closed_interval(p, "p", 0.0, 1.0)
    with np.errstate(divide="ignore"):  # log(0) is the intended -inf at the ends
        return _scalar_or_array(np.log(p) - np.log1p(-p))


def logsumexp(z, axis: int = -1, keepdims: bool = False):
    r""":math:`\log \sum_k e^{z_k}` over ``axis``, shifted by the maximum so nothing overflows.

    A row containing +inf gives +inf; a row of only -inf gives -inf.
    Shape: ``z``'s shape without ``axis`` (kept with length 1 if ``keepdims``).
    """
    z = _float_input(z, "z")
    axis = _class_axis(z, axis)
    shift = _finite_row_max(z, axis)
    with np.errstate(divide="ignore", over="ignore"):  # all -inf row: log(0) = -inf is the answer
        total = np.log(np.exp(_shifted(z, shift)).sum(axis=axis, keepdims=True)) + shift
    return _scalar_or_array(total if keepdims else np.squeeze(total, axis=axis))


def softmax(z, axis: int = -1):
    r""":math:`\mathrm{softmax}(z)_k = e^{z_k - m} / \sum_j e^{z_j - m}` with :math:`m = \max_j z_j`.

    Subtracting the maximum leaves the result unchanged and keeps every
    exponent at most 0, so large logits such as [1000, 999, 998] work
    (``softmax_naive`` shows the overflow this avoids). Rows containing +inf
    share the probability equally among their +inf entries. Same shape as ``z``.
    """
    z = _float_input(z, "z")
    axis = _class_axis(z, axis)
    shift = _finite_row_max(z, axis)
    with np.errstate(invalid="ignore"):  # a row of only -inf has no softmax: NaN
        weights = np.exp(_shifted(z, shift))
        probabilities = weights / weights.sum(axis=axis, keepdims=True)
    return _scalar_or_array(_split_among_infinite(z, axis, probabilities, log=False))


def log_softmax(z, axis: int = -1):
    r""":math:`\log \mathrm{softmax}(z)_k = z_k - \mathrm{logsumexp}(z)`, exact for very negative entries."""
    z = _float_input(z, "z")
    axis = _class_axis(z, axis)
    # Shift first, then subtract log(sum(exp)) of the shifted values: subtracting a
    # full logsumexp from huge equal logits would cancel away every digit.
    shifted = _shifted(z, _finite_row_max(z, axis))
    with np.errstate(invalid="ignore", divide="ignore"):  # +inf rows, replaced just below
        log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return _scalar_or_array(_split_among_infinite(z, axis, log_probabilities, log=True))


def softmax_naive(z, axis: int = -1):
    r"""The textbook form :math:`e^{z_k} / \sum_j e^{z_j}`, without the max shift.

    Deliberately unstable and kept only to show why the shift matters:
    ``e^{1000}`` overflows to inf and inf / inf is NaN, so
    ``softmax_naive([1000, 999, 998])`` is ``[nan, nan, nan]``. The overflow
    warnings are silenced because the NaN is the point.
    """
    z = _float_input(z, "z")
    axis = _class_axis(z, axis)
    with np.errstate(over="ignore", invalid="ignore"):
        weights = np.exp(z)
        return _scalar_or_array(weights / weights.sum(axis=axis, keepdims=True))


def _class_axis(z: np.ndarray, axis: int) -> int:
    axis = normalize_axis(axis, z.ndim, "z")
    if z.shape[axis] == 0:
        raise ValueError(f"z has an empty class axis (shape {z.shape}, axis {axis}); expected at least one class")
    return axis


def _finite_row_max(z: np.ndarray, axis: int) -> np.ndarray:
    """The largest finite entry of each row (0 if none): shifting by it keeps every finite exponent <= 0."""
    row_max = z.max(axis=axis, keepdims=True)
    if np.isfinite(row_max).all():  # the usual case: no +inf anywhere, no row of only -inf
        return row_max
    row_max = np.where(np.isfinite(z), z, -np.inf).max(axis=axis, keepdims=True)
    return np.where(np.isfinite(row_max), row_max, 0)


def _shifted(z: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``z - shift``; a spread beyond the float range gives -inf, whose exp is the right 0."""
    with np.errstate(over="ignore", invalid="ignore"):
        return z - shift


def _split_among_infinite(z: np.ndarray, axis: int, values: np.ndarray, *, log: bool) -> np.ndarray:
    """Overwrite rows that contain +inf: equal mass on the +inf entries, none elsewhere."""
    if not z.size or z.max() < np.inf:  # the common case, in one pass (np.isposinf is slow)
        return values
    is_posinf = np.isposinf(z)
    row_has_posinf = is_posinf.any(axis=axis, keepdims=True)
    if not row_has_posinf.any():
        return values
    count = np.maximum(is_posinf.sum(axis=axis, keepdims=True), 1).astype(z.dtype)
    if log:
        limit = np.where(is_posinf, -np.log(count), -np.inf)
    else:
        limit = np.where(is_posinf, 1 / count, 0)
    return np.where(row_has_posinf, limit, values).astype(z.dtype, copy=False)
