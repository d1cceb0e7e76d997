r"""Multiclass losses over a class axis (``axis=-1`` by default).

Each loss sums over the class axis to one value per sample, then applies
``reduction`` over the samples. Targets are probability vectors (one-hot or
soft) shaped like the prediction; ``cross_entropy`` also takes integer class
indices shaped like the logits without the class axis. Gradients are
per class, shaped like the first argument.
"""

from __future__ import annotations

import numpy as np

from losslab._validation import (
    all_finite,
    as_float_array,
    check_broadcast,
    check_in_closed_interval,
    has_nan,
    normalize_axis,
    prepare,
    reduce,
    result_dtype,
    sum_to_shape,
    validate_reduction,
    weighted,
)
from losslab.activations import log_softmax, softmax


def _class_axis(array: np.ndarray, axis: int, name: str) -> int:
    axis = normalize_axis(axis, array.ndim, name)
    if array.shape[axis] == 0:
        raise ValueError(f"{name} has an empty class axis (shape {array.shape}); expected at least one class")
    return axis


def _logits_and_distribution(logits, target, axis: int):
    """Logits and a probability target, both broadcast to one shape (class indices become one-hot).

    Returns ``(logits, target, axis, logits_shape)``; gradients are summed back to
    ``logits_shape``, the shape the caller passed.
    """
    dtype = result_dtype(logits, target)
    logits_array = as_float_array(logits, "logits", dtype)
    target_array = np.asarray(target)
    if has_nan(logits_array):
        raise ValueError("logits contain NaN; expected real numbers (+-inf are allowed)")
    if np.issubdtype(target_array.dtype, np.integer) and target_array.ndim == logits_array.ndim - 1:
        axis = _class_axis(logits_array, axis, "logits")
        return logits_array, _one_hot(target_array, logits_array, axis), axis, logits_array.shape
    target_array = as_float_array(target, "target", dtype)
    shape = check_broadcast(logits_array, target_array, "logits", "target")
    axis = _class_axis(np.broadcast_to(target_array, shape), axis, "logits")
    check_in_closed_interval(target_array, "target probabilities", 0.0, 1.0)
    return (np.broadcast_to(logits_array, shape), np.broadcast_to(target_array, shape), axis,
            logits_array.shape)


def _one_hot(indices: np.ndarray, logits: np.ndarray, axis: int) -> np.ndarray:
    _check_indices(indices, logits, axis)
    positions = np.expand_dims(indices, axis)
    one_hot = np.zeros(logits.shape, logits.dtype)
    np.put_along_axis(one_hot, positions, 1, axis=axis)
    return one_hot


def _check_indices(indices: np.ndarray, logits: np.ndarray, axis: int) -> None:
    classes = logits.shape[axis]
    expected_shape = logits.shape[:axis] + logits.shape[axis + 1 :]
    if indices.shape != expected_shape:
        raise ValueError(
            f"class indices with shape {indices.shape} do not match logits with shape {logits.shape}; "
            f"expected shape {expected_shape} (the logits without the class axis)"
        )
    if indices.size and 0 <= indices.min() and indices.max() < classes:
        return
    bad = (indices < 0) | (indices >= classes)
    if bad.any():
        raise ValueError(f"class index {indices[bad].ravel()[0].item()} is out of range; expected 0 to {classes - 1}")


def cross_entropy(logits, target, *, axis: int = -1, reduction: str = "mean"):
    r"""Categorical cross-entropy from logits, :math:`\ell = -\sum_k y_k \log \mathrm{softmax}(z)_k`.

    Uses ``log_softmax`` (log-sum-exp), so logits like [1000, 999, 998] are
    fine; classes with :math:`y_k = 0` contribute 0 even if :math:`z_k = -\infty`.
    ``target``: probabilities shaped like ``logits``, or integer class indices
    shaped like ``logits`` without ``axis``.
    """
    validate_reduction(reduction)
    fast = _finite_logits_and_indices(logits, target, axis)
    if fast is not None:
        logits, indices, axis = fast
        # With class indices, -log softmax(z)_y = log sum exp(z - m) - (z_y - m): a gather
        # instead of a one-hot product, and still exact for huge equal logits.
        shifted = logits - logits.max(axis=axis, keepdims=True)
        picked = np.take_along_axis(shifted, np.expand_dims(indices, axis), axis=axis)
        per_sample = np.squeeze(np.log(np.exp(shifted).sum(axis=axis, keepdims=True)) - picked, axis=axis)
        return reduce(per_sample, reduction)
    logits, target, axis, _logits_shape = _logits_and_distribution(logits, target, axis)
    log_probabilities = log_softmax(logits, axis=axis)
    if all_finite(log_probabilities):  # no -inf to multiply by a zero target: a plain product
        per_sample = -(target * log_probabilities).sum(axis=axis)
    else:
        per_sample = -weighted(target, log_probabilities).sum(axis=axis)
    return reduce(per_sample, reduction)


def cross_entropy_grad(logits, target, *, axis: int = -1):
    r""":math:`\partial \ell / \partial z_k = \hat p_k \sum_j y_j - y_k`, which is :math:`\hat p - y` for a distribution ``y``."""
    fast = _finite_logits_and_indices(logits, target, axis)
    if fast is not None:
        logits, indices, axis = fast
        grad = softmax(logits, axis=axis)
        positions = np.expand_dims(indices, axis)
        np.put_along_axis(grad, positions, np.take_along_axis(grad, positions, axis=axis) - 1, axis=axis)
        return grad
    logits, target, axis, logits_shape = _logits_and_distribution(logits, target, axis)
    grad = softmax(logits, axis=axis) * target.sum(axis=axis, keepdims=True) - target
    return sum_to_shape(grad, logits_shape)


def _finite_logits_and_indices(logits, target, axis: int):
    """``(logits, indices, axis)`` when ``target`` is class indices and every logit is finite, else None."""
    target_array = np.asarray(target)
    if not np.issubdtype(target_array.dtype, np.integer):
        return None
    logits_array = as_float_array(logits, "logits", result_dtype(logits))
    if target_array.ndim != logits_array.ndim - 1 or not all_finite(logits_array):
        return None
    axis = _class_axis(logits_array, axis, "logits")
    _check_indices(target_array, logits_array, axis)
    return logits_array, target_array, axis


def _distributions(pred, target, axis: int, pred_name: str = "pred"):
    pred, target = prepare(pred, target, pred_name, "target")
    shape = np.broadcast_shapes(pred.shape, target.shape)
    axis = _class_axis(np.broadcast_to(target, shape), axis, pred_name)
    check_in_closed_interval(pred, pred_name, 0.0, 1.0)
    check_in_closed_interval(target, "target", 0.0, 1.0)
    return pred, target, axis


def cross_entropy_from_probs(prob, target, *, axis: int = -1, reduction: str = "mean"):
    r"""Cross-entropy of predicted probabilities, :math:`\ell = -\sum_k y_k \log \hat p_k` (inf if a target class has :math:`\hat p_k = 0`)."""
    validate_reduction(reduction)
    prob, target, axis = _distributions(prob, target, axis, "prob")
    with np.errstate(divide="ignore"):
        per_sample = -weighted(target, np.log(prob)).sum(axis=axis)
    return reduce(per_sample, reduction)


def cross_entropy_from_probs_grad(prob, target, *, axis: int = -1):
    r""":math:`\partial \ell / \partial \hat p_k = -y_k / \hat p_k` (0 where :math:`y_k = 0`)."""
    prob, target, axis = _distributions(prob, target, axis, "prob")
    with np.errstate(divide="ignore", over="ignore"):  # 1/p̂ for a denormal p̂ is rightly inf
        grad = -weighted(target, 1 / prob)
    return sum_to_shape(grad, prob.shape)


def kl_divergence(pred, target, *, axis: int = -1, reduction: str = "mean"):
    r"""Kullback-Leibler divergence :math:`\mathrm{KL}(y \,\|\, \hat p) = \sum_k y_k (\log y_k - \log \hat p_k)`.

    ``pred`` and ``target`` are probability vectors; :math:`0 \log 0 = 0`, and a
    class with :math:`y_k > 0 = \hat p_k` makes the divergence inf.
    """
    validate_reduction(reduction)
    pred, target, axis = _distributions(pred, target, axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_sample = weighted(target, np.log(target) - np.log(pred)).sum(axis=axis)
    return reduce(per_sample, reduction)


def kl_divergence_grad(pred, target, *, axis: int = -1):
    r""":math:`\partial\,\mathrm{KL} / \partial \hat p_k = -y_k / \hat p_k` (0 where :math:`y_k = 0`)."""
    pred, target, axis = _distributions(pred, target, axis)
    with np.errstate(divide="ignore", over="ignore"):  # 1/p̂ for a denormal p̂ is rightly inf
        grad = -weighted(target, 1 / pred)
    return sum_to_shape(grad, pred.shape)


def kl_divergence_with_logits(logits, target, *, axis: int = -1, reduction: str = "mean"):
    r""":math:`\mathrm{KL}(y \,\|\, \mathrm{softmax}(z))`, computed with ``log_softmax``."""
    validate_reduction(reduction)
    logits, target, axis, _logits_shape = _logits_and_distribution(logits, target, axis)
    with np.errstate(divide="ignore"):  # log 0 of an empty class, weighted to 0
        log_target = np.log(target)
    per_sample = weighted(target, log_target - np.where(target > 0, log_softmax(logits, axis=axis), 0)).sum(axis=axis)
    return reduce(per_sample, reduction)


def kl_divergence_with_logits_grad(logits, target, *, axis: int = -1):
    r""":math:`\partial\,\mathrm{KL} / \partial z_k = \hat p_k \sum_j y_j - y_k`, the same as cross-entropy's."""
    return cross_entropy_grad(logits, target, axis=axis)


def brier(prob, target, *, axis: int = -1, reduction: str = "mean"):
    r"""Multiclass Brier score, the squared error of the probability vector: :math:`\sum_k (\hat p_k - y_k)^2`."""
    validate_reduction(reduction)
    prob, target, axis = _distributions(prob, target, axis, "prob")
    return reduce(((prob - target) ** 2).sum(axis=axis), reduction)


def brier_grad(prob, target, *, axis: int = -1):
    r""":math:`\partial \ell / \partial \hat p_k = 2 (\hat p_k - y_k)`."""
    prob, target, axis = _distributions(prob, target, axis, "prob")
    return sum_to_shape(2 * (prob - target), prob.shape)


def brier_with_logits(logits, target, *, axis: int = -1, reduction: str = "mean"):
    r"""Brier score of :math:`\mathrm{softmax}(z)`: MSE through softmax, whose gradient vanishes at saturation."""
    validate_reduction(reduction)
    logits, target, axis, _logits_shape = _logits_and_distribution(logits, target, axis)
    return reduce(((softmax(logits, axis=axis) - target) ** 2).sum(axis=axis), reduction)


def brier_with_logits_grad(logits, target, *, axis: int = -1):
    r"""Through the softmax Jacobian: :math:`\partial \ell / \partial z_k = \hat p_k (g_k - \sum_j g_j \hat p_j)` with :math:`g = 2(\hat p - y)`."""
    logits, target, axis, logits_shape = _logits_and_distribution(logits, target, axis)
    p = softmax(logits, axis=axis)
    upstream = 2 * (p - target)
    grad = p * (upstream - (upstream * p).sum(axis=axis, keepdims=True))
    return sum_to_shape(grad, logits_shape)
