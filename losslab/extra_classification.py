r"""More classification losses: class-weighted and label-smoothed cross-entropy, squared hinge, exponential.

``weighted_cross_entropy`` and ``label_smoothed_cross_entropy`` are PyTorch's
``cross_entropy`` with ``weight=`` and with ``label_smoothing=``: logits with a
class axis (``axis=-1``), targets as integer class indices (shaped like the
logits without the class axis) or probability vectors; one loss per sample,
then ``reduction``; gradients :math:`\partial \ell / \partial z`, shaped like
the logits. They are built on ``losslab.cross_entropy`` and keep its accuracy.

``squared_hinge`` and ``exponential`` are margin losses of a raw score
:math:`s` for a label :math:`t \in \{-1, +1\}`, like ``losslab.hinge``, as
functions of the margin :math:`m = t s`: hinge :math:`\max(0, 1 - m)`, squared
hinge :math:`\max(0, 1 - m)^2`, exponential :math:`e^{-m}`, logistic
:math:`\log(1 + e^{-m})` (BCE). All are convex upper bounds of the 0-1 loss
:math:`[m \le 0]` (the squared hinge and the exponential up to a constant).
float32 is computed in float32, with no float64 array: the cross-entropy variants on ``losslab.multiclass``'s
float32 kernels (the class-index kernel for weighted class indices; for probability and smoothed targets the
softmax weights from ``_double_word.exp``, within half an ulp, and the gradient entries whose two terms nearly
cancel recomputed in double words from ``exp_scaled`` weights, so they stay within an ulp of those terms), with
the class weights and the smoothed target as float32 double words (``label_smoothing`` as a float32 pair, about
48 of its bits) and the results below the normal range recomputed scaled by :math:`2^{64}` (:math:`2^{128}` in
float64); the squared hinge in plain float32 (:math:`t s` exact, two roundings); the exponential loss by
``_double_word.exp`` (half an ulp, where NumPy's float32 ``exp`` is up to 2.4 off), a block at a time. A class
weight or ``label_smoothing`` that is not 0 or a normal float32 value (1e39, 1e-300) sends float32 inputs to
float64, rounded once at the end, as do logits whose finite values in one sample span more than float32 max
(their log-probabilities, and losses that are finite, would overflow float32) and any other float dtype
(longdouble). The double-word exps make
float32 six to ten times slower than float64 (which is computed as before).
"""

from __future__ import annotations

import numpy as np

from losslab import _double_word as dw
from losslab._inputs import Inputs, check_finite, check_labels, check_shapes_broadcast
from losslab._validation import (
    Interval,
    all_finite,
    all_fit_float32,
    as_float_array,
    check_in_closed_interval,
    fits_float32,
    normalize_axis,
    reduce,
    result_dtype,
    sum_to_shape,
    validate_reduction,
)
from losslab.activations import SoftmaxParts, put_class, take_class
from losslab.multiclass import (
    _check_indices,
    _cross_entropy_and_grad_of_double_word_target,
    _cross_entropy_kernel,
    _double_word_exp_of_difference,
    _expected_minus_log_probability,
    _logits_and_distribution,
    _one_hot,
    _softmax_minus_target,
    cross_entropy_and_grad,
)

UNIT = Interval(0.0, 1.0)


# ------------------------------------------------------------ cross-entropy variants


def _is_index_target(target, logits: np.ndarray) -> bool:
    array = np.asarray(target)
    return np.issubdtype(array.dtype, np.integer) and array.ndim == logits.ndim - 1


def _logits_and_target(logits, target, *, float32: bool = True):
    """Logits in the working dtype plus the output dtype; an index target stays integer.

    The working dtype is the output dtype for float32 and float64 (unless ``float32`` is False: a
    parameter that float32 cannot hold), float64 for any other float (longdouble)."""
    index = _is_index_target(target, np.asarray(logits))
    dtype = result_dtype(logits) if index else result_dtype(logits, target)
    working = dtype if dtype in dw.DTYPES and (float32 or dtype == np.float64) else np.dtype(np.float64)
    logits_array = as_float_array(logits, "logits", dtype)
    if index:
        target_array = np.asarray(target)
    else:
        target_array = as_float_array(target, "target", dtype).astype(working, copy=False)
    return logits_array.astype(working, copy=False), target_array, dtype, index


def _cross_entropy_and_grad(logits, target, axis: int, target_low=None):
    """Per-sample ``cross_entropy_and_grad`` (for the target ``target + target_low`` if ``target_low`` is
    given): ``losslab.multiclass``'s, but in float32 from softmax weights by ``_double_word.exp`` (half an
    ulp; NumPy's float32 ``exp`` is up to 2.4 off, which the gradient's cancelling terms would keep)."""
    if np.asarray(logits).dtype != np.float32:
        if target_low is None:
            return cross_entropy_and_grad(logits, target, axis=axis, reduction="none")
        return _cross_entropy_and_grad_of_double_word_target(logits, target, target_low, axis=axis)
    logits, target, axis, logits_shape = _logits_and_distribution(logits, target, axis)
    if target_low is not None:
        target_low = np.broadcast_to(target_low, target.shape)
    if not all_finite(logits):
        return _cross_entropy_kernel(logits, target, axis, target_low)
    parts = SoftmaxParts.of(logits, axis, _exp_of_difference32)  # multiclass._softmax_parts, by blocks
    loss = _expected_minus_log_probability(target, parts, logits, axis)
    grad = _softmax_minus_target(parts, target, axis, target_low)
    if target_low is not None or not _all_hard(target):  # multiclass is exact for 0/1 targets
        _recompute_cancelling32(grad, logits, target, target_low, axis)
    return loss, sum_to_shape(grad, logits_shape)


def _index_cross_entropy32(logits: np.ndarray, indices: np.ndarray, axis: int):
    r"""float32 per-sample cross-entropy and gradient for class indices and finite logits: multiclass's
    class-index forms, :math:`-\log p_c = (z_t - z_c) + \log(1 + R/w_t)` and :math:`(p_k)_k` with
    :math:`-(1 - p_c)` at the true class, from softmax weights by ``_double_word.exp`` (half an ulp; NumPy's
    float32 ``exp`` is up to 2.4 off, which left gradients 4 ulp off), a block of rows at a time."""
    _check_indices(indices, logits, axis)
    positions = np.expand_dims(indices, axis)
    parts = SoftmaxParts.of(logits, axis, _exp_of_difference32)
    true_weight = take_class(parts.weights, positions, axis)
    with np.errstate(over="ignore"):  # a spread past float max: inf, the rounded loss
        gap = parts.top_logit - take_class(logits, positions, axis)
    loss = np.squeeze(gap + parts.log1p_rest(), axis=axis)
    at_top = positions == parts.top
    complement = np.where(at_top, parts.rest, parts.total - true_weight) / parts.total
    grad = np.divide(parts.weights, parts.total, out=parts.weights)
    put_class(grad, positions, -complement, axis)
    return loss, grad


def _exp_of_difference32(z: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``multiclass._double_word_exp_of_difference`` a block of rows (first axis) at a time: its dozen
    temporaries stay small next to the float32 arrays."""
    out = np.empty(np.broadcast_shapes(z.shape, shift.shape), z.dtype)
    if out.ndim < 2:
        out[...] = _double_word_exp_of_difference(z, shift)
        return out
    step = max(1, _EXP_BLOCK // max(1, out[0].size if len(out) else 1))  # an empty batch: no blocks
    for start in range(0, out.shape[0], step):
        rows = slice(start, start + step)
        out[rows] = _double_word_exp_of_difference(z[rows], shift if shift.shape[0] == 1 else shift[rows])
    return out


def _recompute_cancelling32(grad, logits, target, target_low, axis: int) -> None:
    r"""float32: recompute, in place, the entries whose two terms :math:`\hat p_k Q` and :math:`q_k` nearly
    cancel (:math:`Q = \sum_j q_j`), as :math:`(w_k Q - q_k W) / W` in double words, with
    :math:`w_k = e^{z_k - z_t}` from ``_double_word.exp_scaled`` (about :math:`2^{-29}`) and
    :math:`W = \sum_j w_j`. ``multiclass`` computes them from the rounded float32 weights, whose half-ulp
    errors (and the division's) are up to 1.5 ulp of the cancelling terms: here they are well below one."""
    classes = grad.shape[axis]
    moved = np.moveaxis(grad, axis, -1)
    flat = moved.reshape(-1, classes)
    targets = np.moveaxis(np.broadcast_to(target, grad.shape), axis, -1).reshape(-1, classes)
    # every entry below half the larger term has |result| < q_k; up to 4 q_k, where q_k > p_k Q / 5, the
    # float32 terms' errors are still amplified (up to 1.25 times)
    cancel = np.abs(flat) < 4 * targets
    rows = np.flatnonzero(cancel.any(axis=1))
    if not rows.size:
        return
    logit_rows = np.moveaxis(logits, axis, -1).reshape(-1, classes)
    low_rows = None if target_low is None else \
        np.moveaxis(np.broadcast_to(target_low, grad.shape), axis, -1).reshape(-1, classes)
    step = max(1, _EXP_BLOCK // classes)  # a block of rows at a time: a dozen double-word temporaries
    for start in range(0, rows.size, step):
        chunk = rows[start:start + step]
        value = _softmax_minus_target_dw(logit_rows[chunk], targets[chunk],
                                         None if low_rows is None else low_rows[chunk])
        block = flat[chunk]
        take = cancel[chunk]
        block[take] = value[take]
        if np.shares_memory(flat, grad):
            flat[chunk] = block
        else:
            moved[np.unravel_index(chunk, moved.shape[:-1])] = block


def _softmax_minus_target_dw(z: np.ndarray, q_hi: np.ndarray, q_lo) -> np.ndarray:
    """(rows, classes) float32: :math:`(w_k Q - q_k W) / W`, rounded once (see ``_recompute_cancelling32``)."""
    w_hi, w_lo = dw.shifted_exp_rows(z, dw.exp_scaled)
    high, low = np.empty_like(w_hi), np.empty_like(w_hi)  # row_sums' scratch
    # row sums of non-negative values, exact to about u^2, vectorised over the classes
    total_hi, total_lo = dw.row_sums(w_hi.copy(), w_hi.max(axis=1), high=high, low=low)
    total_lo += w_lo.sum(axis=1)
    mass_hi, mass_lo = dw.row_sums(q_hi.copy(), q_hi.max(axis=1), high=high, low=low)
    if q_lo is None:
        q_lo = np.zeros_like(q_hi)
    else:
        mass_lo += q_lo.sum(axis=1)
    gain = dw.multiply(w_hi, w_lo, mass_hi[:, None], mass_lo[:, None])
    cost = dw.multiply(q_hi, q_lo, total_hi[:, None], total_lo[:, None])
    numerator = dw.add(*gain, -cost[0], -cost[1])
    value, low = dw.divide(*numerator, total_hi[:, None])
    return value + (low - value * (total_lo / total_hi)[:, None])


def _class_weights(weight, logits: np.ndarray, axis: int) -> np.ndarray:
    """``weight`` as float64, validated, shaped to broadcast along the class axis."""
    array = as_float_array(weight, "weight", np.dtype(np.float64))
    classes = logits.shape[axis]
    if array.shape != (classes,):
        raise ValueError(f"weight must be one number per class, shape ({classes},); got shape {array.shape}")
    check_finite(array, "weight")
    if array.size and array.min() < 0:
        raise ValueError(f"weight must be >= 0, got {array[array < 0][0].item()!r}")
    shape = [1] * logits.ndim
    shape[axis] = classes
    return array.reshape(shape)


def _finish(dtype, loss, grad, reduction, want_loss, want_grad):
    with np.errstate(over="ignore"):  # a float64 value past float32 max becomes inf, its true size
        loss_value = reduce(np.asarray(loss).astype(dtype, copy=False), reduction) if want_loss else None
        grad_value = np.asarray(grad).astype(dtype, copy=False) if want_grad else None
    if want_loss and want_grad:
        return loss_value, grad_value
    return loss_value if want_loss else grad_value


def _weighted_cross_entropy(logits, target, weight, axis, want_loss, want_grad, reduction="mean"):
    raw_logits, raw_target = logits, target
    logits, target, dtype, index = _logits_and_target(logits, target)
    axis = normalize_axis(axis, logits.ndim, "logits")
    weights = _class_weights(weight, logits, axis)
    if logits.dtype == np.float32:
        if not all_fit_float32(weights) or _spans_past_float32(logits, axis):
            # a weight float32 cannot hold (1e39, 1e-300), or log-probabilities past float32's range:
            # these inputs in float64, rounded once
            logits, target, dtype, index = _logits_and_target(raw_logits, raw_target, float32=False)
        else:
            weights = weights.astype(np.float32)
    if index:
        # one weight per sample: w at the true class; cross_entropy checks the indices first
        if logits.dtype == np.float32 and all_finite(logits):
            loss, grad = _index_cross_entropy32(logits, target, axis)
        else:  # multiclass's class-index kernel: no cancellation to guard, and no one-hot copy
            loss, grad = cross_entropy_and_grad(logits, target, axis=axis, reduction="none")
        sample_weight = np.take_along_axis(
            np.broadcast_to(weights, logits.shape), np.expand_dims(target, axis), axis=axis)
        with np.errstate(over="ignore"):  # past float max only where the true value is
            loss, grad = loss * np.squeeze(sample_weight, axis=axis), grad * sample_weight
        _round_small_results_once(logits, target, weights, axis, loss, grad, index=True)
        return _finish(dtype, loss, grad, reduction, want_loss, want_grad)
    # probability targets: sum_k w_k y_k (-log p_k) = W * CE(z, w y / W) with W = max w, so the
    # scaled target stays in [0, 1] as cross_entropy asks
    largest = weights.dtype.type(weights.max()) if weights.size else weights.dtype.type(0)
    low = None
    if largest > 0 and not _all_hard(target):
        # w y / W as a double word: its rounding error is passed along, so the gradient's entries where
        # p_k sum(w y / W) and w_k y_k / W nearly cancel are those of the exact scaled target (a 0/1
        # target has no such entries: it keeps the plain path and its speed)
        # (w / W) y: w / W <= 1 as a double word per class (cheap), then one guard-free two-product
        share_hi, share_lo = dw.divide(weights, np.zeros_like(weights), largest)
        scaled, low = dw.two_product_unchecked(target, share_hi)
        low += target * share_lo
    else:
        scaled = weights * target / largest if largest > 0 else np.zeros_like(target)
    if low is not None and np.any(low):
        loss, grad = _cross_entropy_and_grad(logits, scaled, axis, low)
    else:  # exact (one-hot rows keep the class-index path)
        loss, grad = _cross_entropy_and_grad(logits, scaled, axis)
    with np.errstate(over="ignore"):  # float32: past float max only where the true value is
        loss, grad = largest * loss, largest * grad
    if largest > 0:
        _round_small_results_once(logits, target, weights, axis, loss, grad, index=False)
    return _finish(dtype, loss, grad, reduction, want_loss, want_grad)


def _spans_past_float32(logits: np.ndarray, axis: int) -> bool:
    r"""True if some sample's finite float32 logits span more than float32 max: its log-probabilities
    :math:`z_k - \log\sum_j e^{z_j}` (and the loss, even where the true loss is finite) overflow float32."""
    if logits.dtype != np.float32 or logits.size == 0:
        return False
    with np.errstate(over="ignore", invalid="ignore"):  # inf or NaN spreads are looked at below
        spread = logits.max(axis=axis) - logits.min(axis=axis)
    if np.isfinite(spread).all():
        return False
    finite = np.isfinite(logits)  # rows with infinite logits: their finite logits' spread
    with np.errstate(over="ignore"):
        top = np.where(finite, logits, -np.inf).max(axis=axis)
        bottom = np.where(finite, logits, np.inf).min(axis=axis)
        return bool(np.any(np.isinf(top - bottom) & np.isfinite(top) & np.isfinite(bottom)))


# results are recomputed in units of 2^-SCALE: subnormal ones are then normal numbers, and so are their
# double words' low parts, until the last rounding (float32's 23 subnormal bits and 24-bit low parts: 2^64)
_SCALE = {np.dtype(np.float64): 128, np.dtype(np.float32): 64}
# log1p(x) is x to the last bit below these (and x stays normal)
_TINY_RATIO = {np.dtype(np.float64): 2.0**-900, np.dtype(np.float32): 2.0**-100}


def _round_small_results_once(logits, target, weights, axis, loss, grad, *, index: bool) -> None:
    r"""Recompute, in place, the results near or below the normal range so each is rounded once.

    ``loss`` and ``grad`` are a weight times a cross-entropy (or its gradient) that was already
    rounded: below the normal range that rounding is to a subnormal step, which the weight (up to
    ``max(weight)`` / its smallest value) multiplies, several steps off. The rows that hold a result
    below ``2 max(w, 1)`` times the smallest normal (or 0) are recomputed with the weighted target
    :math:`q = w y` scaled by :math:`2^{128}`, where they are normal numbers:
    :math:`\ell = \sum_k q_k (z_t - z_k) + (\sum_k q_k) \log(1 + R/w_t)` (:math:`R/w_t` itself
    where its ``log1p`` would be below the normal range) and
    :math:`\partial_k = w_k c - q_k` with :math:`c = \sum_j q_j / T` in double words (the largest
    class as :math:`(w_t \sum_{j \ne t} q_j - q_t R) / T`), then scaled back by one ``ldexp``.
    """
    info = np.finfo(loss.dtype)
    limit = 2.0 * float(info.tiny) * max(float(weights.max()), 1.0)
    magnitude = np.abs(grad)
    if not (magnitude.size and magnitude.min() < limit) and not (loss.size and np.abs(loss).min() < limit):
        return  # the usual case: nothing near the subnormal range
    classes = logits.shape[axis]
    small = magnitude < limit
    small_loss = np.abs(loss) < limit
    rows_mask = np.moveaxis(small, axis, -1).reshape(-1, classes).any(axis=1) | small_loss.reshape(-1)
    if not rows_mask.any():
        return
    rows = np.flatnonzero(rows_mask)
    z = np.moveaxis(logits, axis, -1).reshape(-1, classes)[rows]
    class_weight = np.moveaxis(np.broadcast_to(weights, logits.shape), axis, -1).reshape(-1, classes)[rows]
    if index:
        y = np.zeros_like(z)
        np.put_along_axis(y, target.reshape(-1, 1)[rows], 1.0, axis=1)
    else:
        y = np.moveaxis(np.broadcast_to(target, logits.shape), axis, -1).reshape(-1, classes)[rows]
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):  # past the range: kept below
        scale = _SCALE[z.dtype]
        new_loss, new_grad = _scaled_weighted_cross_entropy(z, y, np.ldexp(class_weight, scale))
        new_loss, new_grad = np.ldexp(new_loss, -scale), np.ldexp(new_grad, -scale)
    loss_rows = loss.reshape(-1)  # a view: loss is a fresh C-order array
    take = small_loss.reshape(-1)[rows] & np.isfinite(new_loss)
    loss_rows[rows[take]] = new_loss[take]
    moved = np.moveaxis(grad, axis, -1)
    old_grad = moved.reshape(-1, classes)[rows]
    take = np.moveaxis(small, axis, -1).reshape(-1, classes)[rows] & np.isfinite(new_grad)
    old_grad[take] = new_grad[take]
    flat = moved.reshape(-1, classes)
    if np.shares_memory(flat, grad):
        flat[rows] = old_grad
    else:
        moved[np.unravel_index(rows, moved.shape[:-1])] = old_grad


def _scaled_weighted_cross_entropy(z, y, scaled_weight):
    """Per-row loss and gradient of the target ``scaled_weight * y`` (rows, classes), in double words."""
    parts = SoftmaxParts.of(z, -1)
    rows = np.arange(z.shape[0])
    top = parts.top[:, 0]
    target, target_low = dw.two_product_unchecked(scaled_weight, y)
    weights = parts.weights.copy()
    top_weight = parts.top_weight[:, 0]
    weights[rows, top] = 0
    rest = dw.total(weights)
    total = dw.add(*rest, top_weight, np.zeros_like(top_weight))
    target_sum = dw.total(target)
    target_sum = (target_sum[0], target_sum[1] + target_low.sum(axis=1))
    # off the largest class: w_k c - q_k with c = sum(q) / T
    c_hi, c_lo = dw.divide(*target_sum, total[0])
    c_lo -= c_hi * (total[1] / total[0])  # the low part of T, to first order
    grad, grad_low = dw.two_product_unchecked(weights, c_hi[:, None])
    grad_low += weights * c_lo[:, None]
    grad, error = dw.two_sum(grad, -target)
    grad_low += error - target_low
    grad += grad_low
    # at the largest class: (w_t sum_{j != t} q_j - q_t R) / T
    top_target, top_low = target[rows, top], target_low[rows, top]
    others = dw.add(*target_sum, -top_target, -top_low)
    gain = dw.multiply(top_weight, np.zeros_like(top_weight), *others)
    cost = dw.multiply(top_target, top_low, *rest)
    numerator = dw.add(*gain, -cost[0], -cost[1])
    top_grad = dw.divide(*numerator, total[0])
    grad[rows, top] = top_grad[0] + (top_grad[1] - top_grad[0] * total[1] / total[0])
    # the loss: sum_k q_k (z_t - z_k) + sum(q) log1p(R / w_t), with log1p(x) = x below 2^-900
    gaps = parts.top_logit - z
    terms = np.where(target > 0, target * gaps, 0)
    ratio = rest[0] / top_weight
    tiny_ratio = ratio < _TINY_RATIO[z.dtype]
    log_term = np.where(tiny_ratio, (target_sum[0] * rest[0]) / top_weight, target_sum[0] * np.log1p(ratio))
    loss = dw.total(np.concatenate([terms, log_term[:, None]], axis=1))
    return loss[0] + loss[1], grad


def _all_hard(target: np.ndarray) -> bool:
    """True if every target entry is 0 or 1 (one-hot rows, multi-hot labels)."""
    hard = target == 0
    hard |= target == 1
    return bool(hard.all())


def weighted_cross_entropy(logits, target, *, weight, axis: int = -1, reduction: str = "mean"):
    r"""Cross-entropy with a weight per class (PyTorch's ``cross_entropy(..., weight=weight)``).

    .. math:: \ell = -\sum_k w_k\, y_k \log \operatorname{softmax}(z)_k,\qquad
              \frac{\partial \ell}{\partial z_j} = \hat p_j \sum_k w_k y_k - w_j y_j

    For a class index :math:`c` this is :math:`w_c \cdot \mathrm{CE}` with
    gradient :math:`w_c(\hat p - e_c)`: rare classes can be given more weight
    (e.g. inverse frequency) so that they are not ignored. ``weight``: one
    number >= 0 per class (shape ``(classes,)``), keyword, required.
    ``target``: class indices or probability vectors, as ``cross_entropy``.

    Reduction: ``"mean"`` is the mean over samples, as everywhere in losslab.
    PyTorch's ``"mean"`` with class indices divides by :math:`\sum_i w_{c_i}`
    instead (a weighted mean); ``reduction="sum"`` divided by that total gives
    it. ``"none"`` and ``"sum"`` agree with PyTorch directly. Cost-sensitive
    learning: Elkan, "The Foundations of Cost-Sensitive Learning", IJCAI 2001;
    King and Zeng, "Logistic Regression in Rare Events Data", Political
    Analysis 2001 (weighting to correct for class imbalance).
    """
    validate_reduction(reduction)
    return _weighted_cross_entropy(logits, target, weight, axis, True, False, reduction)


def weighted_cross_entropy_grad(logits, target, *, weight, axis: int = -1):
    r""":math:`\partial \ell / \partial z_j = \hat p_j \sum_k w_k y_k - w_j y_j` (:math:`w_c(\hat p - e_c)` for an index)."""
    return _weighted_cross_entropy(logits, target, weight, axis, False, True)


def weighted_cross_entropy_and_grad(logits, target, *, weight, axis: int = -1, reduction: str = "mean"):
    """``(weighted_cross_entropy(...), weighted_cross_entropy_grad(...))`` from one softmax."""
    validate_reduction(reduction)
    return _weighted_cross_entropy(logits, target, weight, axis, True, True, reduction)


def _label_smoothed(logits, target, label_smoothing, axis, want_loss, want_grad, reduction="mean"):
    epsilon = UNIT.validate(label_smoothing, "label_smoothing")
    raw_logits, raw_target = logits, target
    # an epsilon float32 cannot hold (1e-300): float32 inputs in float64, rounded once
    logits, target, dtype, index = _logits_and_target(logits, target, float32=fits_float32(epsilon))
    axis = normalize_axis(axis, logits.ndim, "logits")
    if _spans_past_float32(logits, axis):  # log-probabilities past float32's range: in float64, rounded once
        logits, target, dtype, index = _logits_and_target(raw_logits, raw_target, float32=False)
    classes = logits.shape[axis]
    if classes == 0:
        raise ValueError(f"logits has an empty class axis (shape {logits.shape}); expected at least one class")
    if index:
        target = _one_hot(target, logits, axis)
    else:
        check_in_closed_interval(target, "target probabilities", 0.0, 1.0)
    # PyTorch's smoothing: y (1 - eps) + eps / C, then the cross-entropy to that target
    if epsilon == 0:
        loss, grad = _cross_entropy_and_grad(logits, target, axis)
        return _finish(dtype, loss, grad, reduction, want_loss, want_grad)
    smoothed, low = _smoothed_target(target, epsilon, classes, index)
    # the gradient p sum(q) - q is of the exact smoothed target (its rounding error passed along): where
    # p_k sum(q) and q_k nearly cancel, an ulp of q_k would be several of the result
    loss, grad = _cross_entropy_and_grad(logits, smoothed, axis, low)
    return _finish(dtype, loss, grad, reduction, want_loss, want_grad)


def _smoothed_target(target: np.ndarray, epsilon: float, classes: int, one_hot: bool):
    """``y (1 - eps) + eps / C`` as a double word ``(rounded, error)`` (two-sum, two-product, one division),
    in ``target``'s dtype (float32: ``eps`` as a pair of float32 values, about 48 of its bits)."""
    kind = target.dtype.type
    eps_hi = kind(epsilon)
    eps_lo = kind(epsilon - float(eps_hi))  # 0 in float64
    keep = dw.two_sum(kind(1.0), -eps_hi)  # 1 - eps_hi, exactly
    keep = (keep[0], keep[1] - eps_lo)
    share = dw.divide(eps_hi, eps_lo, kind(classes))
    if one_hot:  # two values: eps / C and 1 - eps + eps / C
        hi, lo = dw.two_sum(keep[0], share[0])
        lo += keep[1] + share[1]
        hi, lo = hi + lo, lo - ((hi + lo) - hi)
        chosen = target > 0
        return np.where(chosen, hi, share[0]), np.where(chosen, lo, share[1])
    product, error = dw.two_product(target, keep[0])
    error += target * keep[1]
    hi, rounding = dw.two_sum(product, share[0])
    rounding += error + share[1]
    total = hi + rounding
    return total, rounding - (total - hi)


def label_smoothed_cross_entropy(logits, target, *, label_smoothing: float = 0.1, axis: int = -1,
                                 reduction: str = "mean"):
    r"""Cross-entropy to a smoothed target (PyTorch's ``cross_entropy(..., label_smoothing=ε)``).

    .. math:: q = (1 - \varepsilon)\,y + \varepsilon / C,\qquad
              \ell = -\sum_k q_k \log \operatorname{softmax}(z)_k,\qquad
              \frac{\partial \ell}{\partial z} = \hat p\,\textstyle\sum_k q_k - q

    (:math:`\hat p - q` for a probability vector :math:`y`.) With a one-hot
    target the optimum is no longer an infinite logit gap but
    :math:`\hat p_c = 1 - \varepsilon + \varepsilon/C`, a gap of
    :math:`\log\bigl(1 + C(1 - \varepsilon)/\varepsilon\bigr)`, which keeps the
    model from becoming over-confident. It equals
    :math:`(1 - \varepsilon)\,\mathrm{CE}(z, y) + \varepsilon\,\mathrm{CE}(z, \text{uniform})`.
    Szegedy et al., "Rethinking the Inception Architecture", CVPR 2016,
    section 7; the label-smoothed next-token loss of Vaswani et al. 2017.
    ``label_smoothing`` in [0, 1] (default 0.1; 0 is plain cross-entropy);
    ``target``: class indices or probability vectors, as ``cross_entropy``.
    No class weights (PyTorch's combination of the two is not reproduced).
    """
    validate_reduction(reduction)
    return _label_smoothed(logits, target, label_smoothing, axis, True, False, reduction)


def label_smoothed_cross_entropy_grad(logits, target, *, label_smoothing: float = 0.1, axis: int = -1):
    r""":math:`\hat p \sum_k q_k - q` with :math:`q = (1 - \varepsilon) y + \varepsilon / C`."""
    return _label_smoothed(logits, target, label_smoothing, axis, False, True)


def label_smoothed_cross_entropy_and_grad(logits, target, *, label_smoothing: float = 0.1, axis: int = -1,
                                          reduction: str = "mean"):
    """``(label_smoothed_cross_entropy(...), label_smoothed_cross_entropy_grad(...))`` from one softmax."""
    validate_reduction(reduction)
    return _label_smoothed(logits, target, label_smoothing, axis, True, True, reduction)


# ------------------------------------------------------------ margin losses


def _score_and_sign(score, target) -> tuple[Inputs, np.ndarray]:
    # float32 natively: t s is exact, 1 - t s one rounding (exact near the hinge), its square one more
    inputs = Inputs({"score": score, "target": target}, native=True)
    scores, labels = inputs.arrays
    check_labels(labels, "target (labels)", (-1.0, 1.0))
    check_shapes_broadcast(inputs.arrays, ["score", "target"])
    with np.errstate(invalid="ignore"):  # NaN scores propagate, as in NumPy
        return inputs, labels * scores


def _margin_result(inputs: Inputs, loss, grad, reduction, want_loss, want_grad):
    loss_value = inputs.finish_loss(loss, reduction) if want_loss else None
    grad_value = inputs.finish_grad(grad, 0) if want_grad else None
    if want_loss and want_grad:
        return loss_value, grad_value
    return loss_value if want_loss else grad_value


def _squared_hinge(score, target, want_loss, want_grad, reduction="mean"):
    inputs, margin = _score_and_sign(score, target)
    slack = np.maximum(1 - margin, 0)
    with np.errstate(over="ignore"):  # past float max only where the true square is
        loss = slack * slack if want_loss else None
        grad = -2 * inputs.arrays[1] * slack if want_grad else None
    return _margin_result(inputs, loss, grad, reduction, want_loss, want_grad)


def squared_hinge(score, target, *, reduction: str = "mean"):
    r"""Squared hinge loss of a raw score :math:`s` for a label :math:`t \in \{-1, +1\}`.

    .. math:: \ell = \max(0,\ 1 - t s)^2,\qquad
              \frac{\partial \ell}{\partial s} = -2t\,\max(0,\ 1 - t s)

    The L2-SVM loss: like the hinge it is 0 once the margin :math:`t s` reaches
    1, but it is differentiable there, and it punishes large violations
    quadratically (so it is less robust to mislabelled points). As scikit-learn's
    ``LinearSVC(loss="squared_hinge")`` and Keras' ``squared_hinge``. Lee and
    Mangasarian, "SSVM: A Smooth Support Vector Machine", 2001.
    """
    validate_reduction(reduction)
    return _squared_hinge(score, target, True, False, reduction)


def squared_hinge_grad(score, target):
    r""":math:`-2t \max(0, 1 - t s)`: continuous, 0 once the margin reaches 1."""
    return _squared_hinge(score, target, False, True)


def squared_hinge_and_grad(score, target, *, reduction: str = "mean"):
    """``(squared_hinge(...), squared_hinge_grad(...))`` from one validation and one margin."""
    validate_reduction(reduction)
    return _squared_hinge(score, target, True, True, reduction)


def _exponential(score, target, want_loss, want_grad, reduction="mean"):
    inputs, margin = _score_and_sign(score, target)
    with np.errstate(over="ignore"):  # e^{-m} past float max for m < -709: inf, its true size
        value = dw.exp_by_blocks(-margin, _EXP_BLOCK) if margin.dtype == np.float32 else np.exp(-margin)
        grad = -inputs.arrays[1] * value if want_grad else None
    return _margin_result(inputs, value if want_loss else None, grad, reduction, want_loss, want_grad)


#: elements per block of _double_word.exp_by_blocks: its scratch arrays stay small next to the input
_EXP_BLOCK = 1024


def exponential(score, target, *, reduction: str = "mean"):
    r"""Exponential loss of a raw score :math:`s` for a label :math:`t \in \{-1, +1\}`: AdaBoost's loss.

    .. math:: \ell = e^{-t s},\qquad \frac{\partial \ell}{\partial s} = -t\,e^{-t s}

    Smooth and convex, but a confidently wrong score costs exponentially (one
    mislabelled point can dominate), where BCE's cost grows linearly. Its
    population minimiser is half the log-odds, :math:`s = \tfrac12 \log(p/(1 - p))`.
    Freund and Schapire, "A decision-theoretic generalization of on-line
    learning and an application to boosting", 1997; Friedman, Hastie and
    Tibshirani, "Additive logistic regression", Ann. Statist. 2000.
    Overflows to inf for a margin below about -709, where the true value does.
    """
    validate_reduction(reduction)
    return _exponential(score, target, True, False, reduction)


def exponential_grad(score, target):
    r""":math:`-t\,e^{-t s}`: as large as the loss itself."""
    return _exponential(score, target, False, True)


def exponential_and_grad(score, target, *, reduction: str = "mean"):
    """``(exponential(...), exponential_grad(...))`` from one validation and one exponential."""
    validate_reduction(reduction)
    return _exponential(score, target, True, True, reduction)
