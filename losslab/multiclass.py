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
from losslab.activations import (
    SoftmaxParts,
    _exp_stays_normal,
    class_sum,
    log_softmax,
    put_class,
    softmax,
    take_class,
)


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

    Written without cancellation: with class indices, :math:`\ell = \log(1 +
    \sum_{j \ne c} e^{z_j - z_c})`, so a true class ahead by :math:`\Delta` costs
    :math:`\approx e^{-\Delta}` rather than 0; with probability targets each
    :math:`-\log p_k = (z_t - z_k) + \log(1 + \sum_{j \ne t} e^{z_j - z_t})` (:math:`t` the
    largest class) is a sum of two terms :math:`\ge 0`. Logits like [1000, 999, 998]
    are fine; classes with :math:`y_k = 0` contribute 0 even if :math:`z_k = -\infty`.
    ``target``: probabilities shaped like ``logits``, or integer class indices
    shaped like ``logits`` without ``axis``.
    """
    validate_reduction(reduction)
    fast = _finite_logits_and_indices(logits, target, axis)
    if fast is not None:
        loss, _ = _cross_entropy_index_kernel(*fast, with_grad=False)
        return reduce(loss, reduction)
    logits, target, axis, _logits_shape = _logits_and_distribution(logits, target, axis)
    if not all_finite(logits):
        return reduce(_cross_entropy_with_infinities(logits, target, axis), reduction)
    indices = _one_hot_indices(target, logits, axis)
    if indices is not None:
        return reduce(_cross_entropy_index_kernel(logits, indices, axis, with_grad=False)[0], reduction)
    parts = SoftmaxParts.of(logits, axis)
    return reduce(_weighted_class_sum(target, parts.minus_log_probabilities(logits), axis), reduction)


def cross_entropy_grad(logits, target, *, axis: int = -1):
    r""":math:`\partial \ell / \partial z_k = \hat p_k \sum_j y_j - y_k`, which is :math:`\hat p - y` for a distribution ``y``.

    Computed as :math:`\hat p_k \sum_{j \ne k} y_j - y_k (1 - \hat p_k)` with
    :math:`1 - \hat p_k = \sum_{j \ne k} \hat p_j`: for a hard target the true
    class gets :math:`-\sum_{j \ne c} \hat p_j` exactly, never a rounded-away 0.
    """
    fast = _finite_logits_and_indices(logits, target, axis)
    if fast is not None:
        return _cross_entropy_index_kernel(*fast, with_loss=False)[1]
    logits, target, axis, logits_shape = _logits_and_distribution(logits, target, axis)
    return sum_to_shape(_cross_entropy_grad_of(logits, target, axis), logits_shape)


def _cross_entropy_grad_of(logits: np.ndarray, target: np.ndarray, axis: int) -> np.ndarray:
    if not all_finite(logits):
        return _cross_entropy_grad_with_infinities(logits, target, axis)
    indices = _one_hot_indices(target, logits, axis)
    if indices is not None:
        return _cross_entropy_index_kernel(logits, indices, axis, with_loss=False)[1]
    return _softmax_minus_target(SoftmaxParts.of(logits, axis), target, axis)


def _one_hot_indices(target: np.ndarray, logits: np.ndarray, axis: int):
    """The class indices of a one-hot target (each row a single 1, zeros elsewhere), else None.

    One-hot rows then take the class-index path, which needs no row maximum. Only for
    a target shaped like the logits with the class axis last (two cheap passes to check).
    """
    classes = logits.shape[axis]
    if target.shape != logits.shape or axis != logits.ndim - 1 or not target.flags.c_contiguous:
        return None
    rows = target.size // classes
    if np.count_nonzero(target) != rows:
        return None
    totals = class_sum(target, axis, keepdims=False)
    if rows and not (totals.min() == 1 and totals.max() == 1):
        return None
    return (np.flatnonzero(target) % classes).reshape(logits.shape[:-1])


def cross_entropy_and_grad(logits, target, *, axis: int = -1, reduction: str = "mean"):
    """``(cross_entropy(...), cross_entropy_grad(...))`` from one validation and one softmax."""
    validate_reduction(reduction)
    fast = _finite_logits_and_indices(logits, target, axis)
    if fast is not None:
        loss, grad = _cross_entropy_index_kernel(*fast)
        return reduce(loss, reduction), grad
    logits, target, axis, logits_shape = _logits_and_distribution(logits, target, axis)
    indices = _one_hot_indices(target, logits, axis) if all_finite(logits) else None
    if indices is not None:
        loss, grad = _cross_entropy_index_kernel(logits, indices, axis)
    else:
        loss, grad = _cross_entropy_kernel(logits, target, axis)
    return reduce(loss, reduction), sum_to_shape(grad, logits_shape)


def _cross_entropy_kernel(logits: np.ndarray, target: np.ndarray, axis: int = -1):
    """Unchecked (per-sample loss, grad) of ``cross_entropy`` for a probability target broadcast to the logits' shape."""
    if not all_finite(logits):
        return (_cross_entropy_with_infinities(logits, target, axis),
                _cross_entropy_grad_with_infinities(logits, target, axis))
    parts = SoftmaxParts.of(logits, axis)
    loss = _weighted_class_sum(target, parts.minus_log_probabilities(logits), axis)
    return loss, _softmax_minus_target(parts, target, axis)


def _cross_entropy_index_kernel(logits: np.ndarray, indices: np.ndarray, axis: int = -1, *,
                                with_loss: bool = True, with_grad: bool = True):
    r"""Unchecked (per-sample loss, grad) of ``cross_entropy`` with class indices and finite logits.

    :math:`\ell = \log(1 + T/w_c)` and :math:`\partial \ell/\partial z = (w_k / (w_c + T))_k` with
    :math:`-T/(w_c + T)` at the true class, where :math:`w = e^{z}` and :math:`T = \sum_{k \ne c} w_k`
    is summed without :math:`w_c`. No row maximum is needed while :math:`e^{z}` stays normal;
    otherwise rows are shifted by their maximum (see ``SoftmaxParts``).
    """
    positions = np.expand_dims(indices, axis)
    loss = grad = None
    if _exp_stays_normal(logits, logits.shape[axis]):
        weights = np.exp(logits)
        true_weight = take_class(weights, positions, axis)
        put_class(weights, positions, 0, axis)
        others = class_sum(weights, axis)
        if with_loss:
            loss = np.squeeze(np.log1p(others / true_weight), axis=axis)
        if with_grad:
            total = true_weight + others
            grad = np.divide(weights, total, out=weights)
            put_class(grad, positions, -(others / total), axis)
        return loss, grad
    parts = SoftmaxParts.of(logits, axis)
    if with_loss:
        minus_log_p = parts.minus_log_probabilities(logits)
        loss = np.squeeze(take_class(minus_log_p, positions, axis), axis=axis)
    if with_grad:
        complement = take_class(parts.complements(), positions, axis)
        grad = np.divide(parts.weights, parts.total, out=parts.weights)
        put_class(grad, positions, -complement, axis)
    return loss, grad


def _softmax_minus_target(parts: SoftmaxParts, target: np.ndarray, axis: int) -> np.ndarray:
    r""":math:`\hat p_k \sum_j y_j - y_k`, exact for one-hot targets.

    Off the largest class :math:`\hat p_k \le 1/2`, so the plain form cannot cancel
    (except near a zero for a soft target). At the largest class it is written
    :math:`\hat p_t \sum_{j \ne t} y_j - y_t (1 - \hat p_t)`, with :math:`1 - \hat p_t`
    from the remainder: for a hard target that is :math:`-\sum_{j \ne t} \hat p_j`, never 0.
    """
    target = np.broadcast_to(target, parts.weights.shape)
    top_target = take_class(target, parts.top, axis)
    # sum_{j != t} y_j summed without y_t: a soft target's small mass off the top class
    # would be lost to rounding in sum(y) - y_t
    target_others = target.copy()
    put_class(target_others, parts.top, 0, axis)
    top_others = class_sum(target_others, axis)
    target_total = top_others + top_target
    grad = np.divide(parts.weights, parts.total, out=parts.weights)
    grad *= target_total
    grad -= target
    top_grad = parts.top_weight / parts.total * top_others
    top_grad -= top_target * (parts.rest / parts.total)
    put_class(grad, parts.top, top_grad, axis)
    return grad


def _weighted_class_sum(target: np.ndarray, values: np.ndarray, axis: int) -> np.ndarray:
    """:math:`\\sum_k y_k v_k` over the class axis, with :math:`0 \\cdot \\infty = 0`."""
    products = target * values if all_finite(values) else weighted(target, values)
    return class_sum(products, axis, keepdims=False)


def _cross_entropy_with_infinities(logits, target, axis):
    log_probabilities = log_softmax(logits, axis=axis)
    return -weighted(target, log_probabilities).sum(axis=axis)


def _cross_entropy_grad_with_infinities(logits, target, axis):
    return softmax(logits, axis=axis) * target.sum(axis=axis, keepdims=True) - target


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
    return reduce(_cross_entropy_from_probs_loss(prob, target, axis), reduction)


def cross_entropy_from_probs_grad(prob, target, *, axis: int = -1):
    r""":math:`\partial \ell / \partial \hat p_k = -y_k / \hat p_k` (0 where :math:`y_k = 0`)."""
    prob, target, axis = _distributions(prob, target, axis, "prob")
    return sum_to_shape(_minus_target_over_prob(prob, target), prob.shape)


def cross_entropy_from_probs_and_grad(prob, target, *, axis: int = -1, reduction: str = "mean"):
    """``(cross_entropy_from_probs(...), cross_entropy_from_probs_grad(...))`` from one validation."""
    validate_reduction(reduction)
    prob, target, axis = _distributions(prob, target, axis, "prob")
    loss, grad = _cross_entropy_from_probs_kernel(prob, target, axis)
    return reduce(loss, reduction), sum_to_shape(grad, prob.shape)


def _cross_entropy_from_probs_kernel(prob: np.ndarray, target: np.ndarray, axis: int = -1):
    """Unchecked (per-sample loss, grad) of ``cross_entropy_from_probs``; inputs must be validated float arrays."""
    return _cross_entropy_from_probs_loss(prob, target, axis), _minus_target_over_prob(prob, target)


def _cross_entropy_from_probs_loss(prob, target, axis):
    with np.errstate(divide="ignore"):
        return -weighted(target, np.log(prob)).sum(axis=axis)


def _minus_target_over_prob(prob, target):
    r""":math:`-y/\hat p`, 0 where :math:`y = 0` (also at :math:`\hat p = 0`); one division, so
    :math:`y/\hat p` overflows only where the true value does (:math:`1/\hat p` alone can overflow first)."""
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # y > 0 = p̂: rightly -inf
        ratio = np.divide(target, prob)
    if not all_finite(ratio):
        np.copyto(ratio, 0, where=np.broadcast_to(target == 0, ratio.shape))  # 0/0: an empty class
    return np.negative(ratio, out=ratio)


def kl_divergence(pred, target, *, axis: int = -1, reduction: str = "mean"):
    r"""Kullback-Leibler divergence :math:`\mathrm{KL}(y \,\|\, \hat p) = \sum_k y_k \log(y_k / \hat p_k)`.

    ``pred`` and ``target`` are probability vectors; :math:`0 \log 0 = 0`, and a
    class with :math:`y_k > 0 = \hat p_k` makes the divergence inf. Each term's
    log is :math:`\log(1 + (y_k - \hat p_k)/\hat p_k)` when :math:`y_k/\hat p_k` is
    within a factor 2 of 1 (the difference is then exact), so a prediction close
    to its target keeps the digits of its tiny divergence terms.
    """
    validate_reduction(reduction)
    pred, target, axis = _distributions(pred, target, axis)
    return reduce(_kl_divergence_loss(pred, target, axis), reduction)


def kl_divergence_grad(pred, target, *, axis: int = -1):
    r""":math:`\partial\,\mathrm{KL} / \partial \hat p_k = -y_k / \hat p_k` (0 where :math:`y_k = 0`)."""
    pred, target, axis = _distributions(pred, target, axis)
    return sum_to_shape(_minus_target_over_prob(pred, target), pred.shape)


def kl_divergence_and_grad(pred, target, *, axis: int = -1, reduction: str = "mean"):
    """``(kl_divergence(...), kl_divergence_grad(...))`` from one validation."""
    validate_reduction(reduction)
    pred, target, axis = _distributions(pred, target, axis)
    loss, grad = _kl_divergence_kernel(pred, target, axis)
    return reduce(loss, reduction), sum_to_shape(grad, pred.shape)


def _kl_divergence_kernel(pred: np.ndarray, target: np.ndarray, axis: int = -1):
    """Unchecked (per-sample loss, grad) of ``kl_divergence``; inputs must be validated float arrays."""
    return _kl_divergence_loss(pred, target, axis), _minus_target_over_prob(pred, target)


def _kl_divergence_loss(pred, target, axis):
    shape = np.broadcast_shapes(pred.shape, target.shape)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        ratio = np.divide(target, pred, out=np.empty(shape, pred.dtype))
        # Sterbenz: within a factor 2, y - p is exact, so log1p keeps a tiny log ratio's digits;
        # elsewhere |log(y/p)| > log 2 and the rounding of y/p is harmless.
        close = (ratio >= 0.5) & (ratio <= 2)
        far = (target > 0) & ~close
        log_ratio = np.zeros(shape, pred.dtype)  # 0 where y = 0: 0 log 0 = 0
        np.log(ratio, out=log_ratio, where=far)
        np.subtract(target, pred, out=ratio, where=close)
        np.divide(ratio, pred, out=ratio, where=close)
        np.log1p(ratio, out=log_ratio, where=close)
        if not all_finite(log_ratio):  # y/p over- or underflowed, or p = 0 < y (rightly inf)
            bad = ~np.isfinite(log_ratio) & (np.broadcast_to(pred, shape) > 0)
            log_ratio[bad] = (np.log(np.broadcast_to(target, shape)[bad])
                              - np.log(np.broadcast_to(pred, shape)[bad]))
        return class_sum(target * log_ratio, axis, keepdims=False)


def kl_divergence_with_logits(logits, target, *, axis: int = -1, reduction: str = "mean"):
    r""":math:`\mathrm{KL}(y \,\|\, \mathrm{softmax}(z)) = \sum_k y_k (\log y_k - \log \hat p_k)`, with the cross-entropy's :math:`-\log \hat p_k`."""
    validate_reduction(reduction)
    logits, target, axis, _logits_shape = _logits_and_distribution(logits, target, axis)
    return reduce(_kl_divergence_with_logits_kernel(logits, target, axis, with_grad=False)[0], reduction)


def kl_divergence_with_logits_grad(logits, target, *, axis: int = -1):
    r""":math:`\partial\,\mathrm{KL} / \partial z_k = \hat p_k \sum_j y_j - y_k`, the same as cross-entropy's."""
    return cross_entropy_grad(logits, target, axis=axis)


def kl_divergence_with_logits_and_grad(logits, target, *, axis: int = -1, reduction: str = "mean"):
    """``(kl_divergence_with_logits(...), kl_divergence_with_logits_grad(...))`` from one validation and one softmax."""
    validate_reduction(reduction)
    logits, target, axis, logits_shape = _logits_and_distribution(logits, target, axis)
    if _one_hot_indices(target, logits, axis) is not None and all_finite(logits):
        # a one-hot target: log y = 0, so KL is the cross-entropy, by the class-index path
        loss = _kl_divergence_with_logits_kernel(logits, target, axis, with_grad=False)[0]
        grad = _cross_entropy_grad_of(logits, target, axis)
    else:
        loss, grad = _kl_divergence_with_logits_kernel(logits, target, axis)
    return reduce(loss, reduction), sum_to_shape(grad, logits_shape)


def _kl_divergence_with_logits_kernel(logits: np.ndarray, target: np.ndarray, axis: int = -1, *, with_grad: bool = True):
    """Unchecked (per-sample loss, grad) of ``kl_divergence_with_logits`` (target broadcast to the logits' shape)."""
    with np.errstate(divide="ignore"):  # log 0 of an empty class, weighted to 0
        log_target = np.log(target)
    if not all_finite(logits):
        log_p = np.where(target > 0, log_softmax(logits, axis=axis), 0)
        loss = weighted(target, log_target - log_p).sum(axis=axis)
        grad = _cross_entropy_grad_with_infinities(logits, target, axis) if with_grad else None
        return loss, grad
    parts = SoftmaxParts.of(logits, axis)
    terms = parts.minus_log_probabilities(logits)
    terms += log_target  # log y_k - log p_k per class: -inf for an empty class, zeroed next
    with np.errstate(invalid="ignore"):  # 0 * -inf, replaced just below
        terms *= target
    np.copyto(terms, 0, where=np.broadcast_to(target == 0, terms.shape))  # 0 log 0 = 0
    loss = class_sum(terms, axis, keepdims=False)
    return loss, (_softmax_minus_target(parts, target, axis) if with_grad else None)


def brier(prob, target, *, axis: int = -1, reduction: str = "mean"):
    r"""Multiclass Brier score, the squared error of the probability vector: :math:`\sum_k (\hat p_k - y_k)^2`."""
    validate_reduction(reduction)
    prob, target, axis = _distributions(prob, target, axis, "prob")
    return reduce(((prob - target) ** 2).sum(axis=axis), reduction)


def brier_grad(prob, target, *, axis: int = -1):
    r""":math:`\partial \ell / \partial \hat p_k = 2 (\hat p_k - y_k)`."""
    prob, target, axis = _distributions(prob, target, axis, "prob")
    return sum_to_shape(2 * (prob - target), prob.shape)


def brier_and_grad(prob, target, *, axis: int = -1, reduction: str = "mean"):
    """``(brier(...), brier_grad(...))`` from one validation and one :math:`\\hat p - y`."""
    validate_reduction(reduction)
    prob, target, axis = _distributions(prob, target, axis, "prob")
    loss, grad = _brier_kernel(prob, target, axis)
    return reduce(loss, reduction), sum_to_shape(grad, prob.shape)


def _brier_kernel(prob: np.ndarray, target: np.ndarray, axis: int = -1):
    """Unchecked (per-sample loss, grad) of ``brier``; inputs must be validated float arrays."""
    error = prob - target
    return (error**2).sum(axis=axis), 2 * error


def brier_with_logits(logits, target, *, axis: int = -1, reduction: str = "mean"):
    r"""Brier score of :math:`\mathrm{softmax}(z)`: MSE through softmax, whose gradient vanishes at saturation.

    :math:`\hat p_k - y_k` is formed as :math:`\hat p_k (1 - y_k) - y_k (1 - \hat p_k)`, so a
    confidently right one-hot row keeps its tiny loss :math:`\approx 2 (1 - \hat p_c)^2`.
    """
    validate_reduction(reduction)
    logits, target, axis, _logits_shape = _logits_and_distribution(logits, target, axis)
    return reduce(_brier_with_logits_kernel(logits, target, axis, with_grad=False)[0], reduction)


def brier_with_logits_grad(logits, target, *, axis: int = -1):
    r"""Through the softmax Jacobian: :math:`\partial \ell / \partial z_k = \hat p_k (g_k - \sum_j g_j \hat p_j)` with :math:`g = 2(\hat p - y)`.

    Written as :math:`\hat p_k \bigl(g_k (1 - \hat p_k) - \sum_{j \ne k} g_j \hat p_j\bigr)`, the
    largest class's sum taken without its own term, so saturated rows keep their tiny gradients.
    """
    logits, target, axis, logits_shape = _logits_and_distribution(logits, target, axis)
    return sum_to_shape(_brier_with_logits_kernel(logits, target, axis)[1], logits_shape)


def brier_with_logits_and_grad(logits, target, *, axis: int = -1, reduction: str = "mean"):
    """``(brier_with_logits(...), brier_with_logits_grad(...))`` from one validation and one softmax."""
    validate_reduction(reduction)
    logits, target, axis, logits_shape = _logits_and_distribution(logits, target, axis)
    loss, grad = _brier_with_logits_kernel(logits, target, axis)
    return reduce(loss, reduction), sum_to_shape(grad, logits_shape)


def _brier_with_logits_kernel(logits: np.ndarray, target: np.ndarray, axis: int = -1, *, with_grad: bool = True):
    """Unchecked (per-sample loss, grad) of ``brier_with_logits`` (target broadcast to the logits' shape)."""
    if not all_finite(logits):
        p = softmax(logits, axis=axis)
        upstream = 2 * (p - target)
        grad = p * (upstream - (upstream * p).sum(axis=axis, keepdims=True)) if with_grad else None
        return ((p - target) ** 2).sum(axis=axis), grad
    parts = SoftmaxParts.of(logits, axis)
    target = np.broadcast_to(target, logits.shape)
    p = parts.weights / parts.total
    top_p = take_class(p, parts.top, axis)
    top_target = take_class(target, parts.top, axis)
    top_complement = parts.rest / parts.total
    error = p - target  # off the largest class p <= 1/2: no cancellation for a one-hot target
    # at the largest class p - y = p (1 - y) - y (1 - p): a confident right answer keeps -(1 - p)
    top_error = top_p * (1 - top_target) - top_target * top_complement
    put_class(error, parts.top, top_error, axis)
    loss = class_sum(error * error, axis, keepdims=False)
    if not with_grad:
        return loss, None
    return loss, parts.backward(np.multiply(error, 2, out=error), p)
