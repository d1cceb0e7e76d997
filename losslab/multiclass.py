r"""Multiclass losses over a class axis (``axis=-1`` by default).

Each loss sums over the class axis to one value per sample, then applies
``reduction`` over the samples. Targets are probability vectors (one-hot or
soft) shaped like the prediction; ``cross_entropy`` also takes integer class
indices shaped like the logits without the class axis. Gradients are
per class, shaped like the first argument.
"""

from __future__ import annotations

import numpy as np

from losslab import _double_word as dw
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
    if logits.dtype not in dw.DTYPES:  # longdouble: in float64, as cross_entropy_and_grad
        return reduce(_cross_entropy_kernel(logits, target, axis)[0], reduction)
    parts = SoftmaxParts.of(logits, axis)
    return reduce(_expected_minus_log_probability(target, parts, logits, axis), reduction)


def cross_entropy_grad(logits, target, *, axis: int = -1):
    r""":math:`\partial \ell / \partial z_k = \hat p_k \sum_j y_j - y_k`, which is :math:`\hat p - y` for a distribution ``y``.

    Computed as :math:`\hat p_k \sum_{j \ne k} y_j - y_k (1 - \hat p_k)` with
    :math:`1 - \hat p_k = \sum_{j \ne k} \hat p_j`: for a hard target the true
    class gets :math:`-\sum_{j \ne c} \hat p_j` exactly, never a rounded-away 0.
    For a soft target the row sums are made exact and the entries whose two terms
    nearly cancel are recomputed in double words (``_recompute_cancelling``), so the
    result stays within a few ulp there too (hard targets take the class-index path).
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
    if logits.dtype not in dw.DTYPES:  # longdouble: the double-word kernels run in float64
        return _cross_entropy_kernel(logits, target, axis)[1]
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
    # each row's one nonzero is a 1, so its dot product with 0..K-1 is its index, exactly while the
    # dtype holds every index (5x faster than flatnonzero)
    exact = target.dtype if classes <= 2 ** (np.finfo(target.dtype).nmant + 1) else np.float64
    return np.einsum("...k,k->...", target, np.arange(classes, dtype=exact)).astype(np.intp)


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


def _cross_entropy_kernel(logits: np.ndarray, target: np.ndarray, axis: int = -1, target_low=None):
    """Unchecked (per-sample loss, grad) of ``cross_entropy`` for a probability target broadcast to the logits' shape.

    ``target_low``, if given, is the rounding error of ``target`` (the exact target is
    ``target + target_low``, e.g. a label-smoothed one): the gradient is of the exact target.
    """
    if not all_finite(logits):
        return (_cross_entropy_with_infinities(logits, target, axis),
                _cross_entropy_grad_with_infinities(logits, target, axis))
    if logits.dtype not in dw.DTYPES:  # longdouble: the double-word kernels run in float64
        low = None if target_low is None else np.asarray(target_low, np.float64)
        return dw.in_float64(_cross_entropy_kernel, logits, target, axis, low)
    parts = SoftmaxParts.of(logits, axis)
    loss = _expected_minus_log_probability(target, parts, logits, axis)
    return loss, _softmax_minus_target(parts, target, axis, target_low)


def _cross_entropy_and_grad_of_double_word_target(logits, target, target_low, *, axis: int = -1):
    """Per-sample ``cross_entropy_and_grad`` for the target ``target + target_low`` (a double word), validated.

    For the losses that build their target (label smoothing): the gradient's soft-target entries
    are then as accurate as if the exact target had been passed.
    """
    logits, target, axis, logits_shape = _logits_and_distribution(logits, target, axis)
    loss, grad = _cross_entropy_kernel(logits, target, axis, np.broadcast_to(target_low, target.shape))
    return loss, sum_to_shape(grad, logits_shape)


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


def _softmax_minus_target(parts: SoftmaxParts, target: np.ndarray, axis: int, target_low=None) -> np.ndarray:
    r""":math:`\hat p_k \sum_j y_j - y_k`, exact for one-hot targets.

    Off the largest class :math:`\hat p_k \le 1/2`, so the plain form cannot cancel
    (except near a zero for a soft target). At the largest class it is written
    :math:`\hat p_t \sum_{j \ne t} y_j - y_t (1 - \hat p_t)`, with :math:`1 - \hat p_t`
    from the remainder: for a hard target that is :math:`-\sum_{j \ne t} \hat p_j`, never 0.
    The few entries of a soft target whose two terms nearly cancel are then recomputed in
    double-word arithmetic (``_recompute_cancelling``). ``target_low``: the rounding error of
    ``target`` (see ``_cross_entropy_kernel``), or None. ``parts.weights`` is overwritten.
    """
    target = np.broadcast_to(target, parts.weights.shape)
    top_target = take_class(target, parts.top, axis)
    # sum_{j != t} y_j summed without y_t: a soft target's small mass off the top class
    # would be lost to rounding in sum(y) - y_t
    target_others = target.copy()
    put_class(target_others, parts.top, 0, axis)
    top_others = class_sum(target_others, axis)
    # with one extraction (float64; float32 up to about 20 classes) the blocks of _recompute_cancelling
    # compute every entry from exact row sums, so the plain pass would be thrown away
    exact_first = dw.extraction_levels(target.shape[axis], target.dtype) == 1
    grad = np.empty(target.shape, target.dtype) if exact_first else np.divide(parts.weights, parts.total)
    if not exact_first:
        grad *= top_others + top_target
        grad -= target
    top_gain = parts.top_weight / parts.total * top_others
    top_complement = parts.rest / parts.total
    top_loss = top_target * top_complement
    top_low = None
    if target_low is not None:
        target_low = np.broadcast_to(target_low, grad.shape)
        top_low = take_class(target_low, parts.top, axis)
        top_loss += top_low * top_complement
        if not exact_first:
            grad -= target_low
    if not exact_first:
        put_class(grad, parts.top, top_gain - top_loss, axis)
    _recompute_cancelling(grad, parts, target_others, top_target, top_others, top_gain, top_loss, axis,
                          target_low, top_low, exact_first)
    return grad


# Entries whose larger term is 2 to this many times the smaller are recomputed in double words. Past 4
# the single-rounded w_k c - y_k (about 2 ulp of the larger term: the weight's exp, c, the product)
# times up to 4/3 still passed 4 ulp (4.7 between 8 and 16 on random rows), and taking those entries
# too costs nothing measurable: the test, the row sums and the block's recomputation dominate.
_CANCELLING_FACTOR = 16.0


def _recompute_cancelling(grad, parts: SoftmaxParts, target_others, top_target, top_others, top_gain, top_loss,
                          axis, target_low=None, top_low=None, exact_first=False) -> None:
    r"""Recompute in double-word arithmetic the entries of :math:`\hat p_k \sum_j y_j - y_k` whose terms nearly cancel.

    The terms are :math:`a_k = \hat p_k \sum_{j \ne k} y_j` and :math:`b_k = y_k (1 - \hat p_k)`.
    Where one is 2 to ``_CANCELLING_FACTOR`` times the other the difference multiplies the plain
    form's few ulp of rounding (the row sums, the division, the product) by up to 4 (twice the
    ratio of the larger term to the result, counting the result's possibly smaller exponent);
    within a factor 2 the point is ill-conditioned, measured against the size of its terms, and
    the plain form stays within a few of those ulp. Only those entries (soft targets: a one-hot
    row's terms never cancel) are recomputed, as :math:`w_k c - y_k` with :math:`c = \sum_j y_j / T`
    a double word from row sums exact to about :math:`u^2` (``_double_word.row_sums``), the product exact (two-product) and the
    difference by two-sum; the largest class as :math:`\hat p_t \sum_{j \ne t} y_j - y_t\,
    \text{rest}/T` in double words. What is left is the rounding of the weights themselves.
    With ``exact_first`` ``grad`` is not filled yet: every block computes all its entries from its
    exact row sums first (see ``_recompute_block``). ``grad`` is updated in place and
    ``parts.weights`` and ``target_others`` are overwritten.
    """
    classes = grad.shape[axis]
    low = () if target_low is None else (target_low,)
    if axis == grad.ndim - 1:
        matrices = [np.asarray(a).reshape(-1, classes) for a in (grad, parts.weights, target_others, *low)]
    else:
        matrices = [np.ascontiguousarray(np.moveaxis(a, axis, -1)).reshape(-1, classes)
                    for a in (grad, parts.weights, target_others, *low)]
    columns = [np.moveaxis(np.broadcast_to(a, parts.top.shape), axis, -1).reshape(-1)
               for a in (parts.top, parts.top_weight, parts.total, top_target, top_others, top_gain, top_loss)]
    low_columns = () if top_low is None else (np.moveaxis(top_low, axis, -1).reshape(-1),)
    if _recompute_rows(*matrices[:3], *columns, *(matrices[3:] + list(low_columns)),
                       exact_first=exact_first) and axis != grad.ndim - 1:
        np.moveaxis(grad, axis, -1)[...] = matrices[0].reshape(np.moveaxis(grad, axis, -1).shape)


# Entries per block of ``_recompute_rows``: the work buffers are allocated once per call and reused by
# every block (fresh temporaries of this size cost more in page faults than the arithmetic on them).
_BLOCK_ENTRIES = 65536


def _recompute_rows(grad, weights, target_others, top, top_weight, total, top_target, top_others, top_gain,
                    top_loss, target_low=None, top_low=None, *, exact_first=False) -> bool:
    """``_recompute_cancelling`` on (rows, classes) C-contiguous arrays (``target_low`` may be any view), a
    block of rows at a time."""
    count, classes = grad.shape
    factor = _CANCELLING_FACTOR
    # the largest class is tested exactly (both terms are at hand) and recomputed after the blocks
    gain_over_loss, loss_over_gain = top_gain <= factor * top_loss, top_loss <= factor * top_gain
    gain_over_loss &= ~(top_gain <= 2 * top_loss)
    loss_over_gain &= ~(top_loss <= 2 * top_gain)
    top_rows = np.flatnonzero((gain_over_loss | loss_over_gain) & (top_loss > 0))
    sums = np.zeros((4, count), dtype=grad.dtype) if top_rows.size else None  # rest and others, hi and lo
    needs_sums = np.zeros(count, dtype=bool)
    needs_sums[top_rows] = True
    step = max(1, _BLOCK_ENTRIES // max(classes, 1))
    size = min(step, count) * classes
    work = np.empty((10, size), dtype=grad.dtype)
    flags = np.empty((3, size), dtype=bool)
    changed = False
    for start in range(0, count, step):
        block = slice(start, min(start + step, count))
        changed |= _recompute_block(grad[block], weights[block], target_others[block], top[block],
                                    top_weight[block], total[block], top_target[block], top_others[block],
                                    None if sums is None else sums[:, block], bool(needs_sums[block].any()),
                                    work, flags, None if target_low is None else target_low[block],
                                    None if top_low is None else top_low[block], exact_first)
    if not top_rows.size:
        return changed
    # p_t sum_{j != t} y_j - y_t rest/T, all over 2^floor(log2 T) (exact: T in [1, 2), so the
    # two-products cannot overflow)
    rest = (sums[0][top_rows], sums[1][top_rows])
    others = (sums[2][top_rows], sums[3][top_rows])
    weight = top_weight[top_rows]
    row_total = _add_float(*rest, weight)
    power = dw.exponent_of(row_total[0])
    row_total = (row_total[0] / power, row_total[1] / power)
    weight /= power
    top_p = _divide(weight, np.zeros_like(weight), *row_total)
    gain = _product_dw(*top_p, *others)
    # R/T as (R 2^-r)/(T 2^-e) times 2^(r - e), the power of two applied last (see _fill_block)
    rest_power = np.maximum(dw.exponent_of(rest[0]), np.finfo(grad.dtype).tiny)
    complement = _divide(rest[0] / rest_power, rest[1] / rest_power, *row_total)
    loss = _product(top_target[top_rows], *complement)
    if top_low is not None:
        loss = (loss[0], loss[1] + top_low[top_rows] * complement[0])
    shift = rest_power / power
    loss = (loss[0] * shift, loss[1] * shift)
    difference, error = dw.two_sum(gain[0], -loss[0])
    error += gain[1] - loss[1]
    grad[top_rows, top[top_rows]] = difference + error
    return True


def _recompute_block(grad, weights, target_others, top, top_weight, total, top_target, top_others, sums,
                     every_row: bool, work, flags, target_low=None, top_low=None, exact_first=False) -> bool:
    r"""``_recompute_rows`` on one block of rows (the entries off the largest class); False if none needed it.

    With ``exact_first`` (one extraction: float64, and float32 up to about 20 classes) every entry
    of the block is first computed as :math:`w_k c - y_k` with :math:`c = \sum_j y_j / T` rounded
    once from the exact row sums (the largest class as :math:`w_t (O/T) - y_t (R/T)` the same way),
    where the plain :math:`(w_k / T) \sum_j y_j` would carry the rounding of both sums (several ulp
    for long rows); then the entries to recompute are chosen from those values. Otherwise ``grad``
    holds the plain form, the entries are chosen from it, and the row sums are taken only if some
    entry (or, with ``every_row``, a largest class: stored in ``sums``) needs them.
    ``work`` (10 rows) and ``flags`` (3 rows) are buffers of at least the block's size.
    """
    factor = _CANCELLING_FACTOR
    classes = grad.shape[1]
    n = grad.size
    target_high = work[0, :n].reshape(grad.shape)
    weight_high = work[9, :n].reshape(grad.shape)
    top_flat = np.arange(0, n, classes) + top
    if not exact_first:
        flat = _cancelling_entries(grad, target_others, top_flat, work[0, :n].reshape(grad.shape), flags, factor)
        m = flat.size
        if not (m or every_row):
            return False
        weight, label = work[1, :m], work[2, :m]
        np.take(weights.reshape(-1), flat, out=weight)
        np.take(target_others.reshape(-1), flat, out=label)
    weights.reshape(-1)[top_flat] = 0
    rest = dw.row_sums(weights, total, high=weight_high, low=weights)
    others = dw.row_sums(target_others, top_others, high=target_high, low=target_others)
    if target_low is not None:
        # the targets' rounding errors: in the sums (the top's own added with y_t below) and entries
        others = (others[0], others[1] + (np.einsum("rk->r", target_low) - top_low))
    if sums is not None:
        sums[0], sums[1], sums[2], sums[3] = *rest, *others
    total_dw = _add_float(*rest, top_weight)
    # T / 2^floor(log2 T) is in [1, 2): sum(y)/T itself can underflow (huge weights, small target)
    power = dw.exponent_of(total_dw[0])
    target_sum = _add_float(*others, top_target)
    if top_low is not None:
        target_sum = (target_sum[0], target_sum[1] + top_low)
    unit = (total_dw[0] / power, total_dw[1] / power)
    scale_hi, scale_lo = _divide(*target_sum, *unit)
    if exact_first:
        weight_values = np.add(weight_high, weights, out=weight_high)  # exactly the weights (the top's 0)
        target_values = np.add(target_high, target_others, out=target_high)  # exactly y (the top's 0)
        _fill_block(grad, weight_values, target_values, target_low, top_flat, scale_hi / power, power, unit,
                    rest, others, top_weight, top_target, top_low, total, target_sum)
        flat = _cancelling_entries(grad, target_values, top_flat, work[1, :n].reshape(grad.shape), flags, factor)
        m = flat.size
        weight, label = work[1, :m], work[2, :m]  # the ratios in work[1] are no longer needed
        np.take(weight_values.reshape(-1), flat, out=weight)
        np.take(target_values.reshape(-1), flat, out=label)
    if target_low is not None:
        label_low = work[8, :m]
        if target_low.flags.c_contiguous:
            np.take(target_low.reshape(-1), flat, out=label_low)
        else:
            label_low[...] = target_low[flat // classes, flat % classes]
    if not m:
        return exact_first
    row = flat // classes
    gathered, product, high, low, error = (w[:m] for w in work[3:8])
    scale_high, scale_low = _split(scale_hi)
    # w_k c - y_k with c = (scale_hi + scale_lo) 2^-floor(log2 T): the scaled weight is exact (unless
    # below the normal range) and at most 2, the scale at most the number of classes, so Dekker's
    # two-product needs no guard against overflow; in the buffers, as
    # product + error = w (scale_hi + scale_lo), then product - y + error by Knuth's two-sum
    weight /= np.take(power, row, out=gathered)
    np.multiply(weight, np.take(scale_hi, row, out=gathered), out=product)
    np.multiply(weight, dw._VELTKAMP[weight.dtype], out=high)
    np.subtract(high, weight, out=low)
    high -= low  # the high half of the weight
    np.subtract(weight, high, out=low)  # and its low half
    np.multiply(high, np.take(scale_high, row, out=gathered), out=error)
    error -= product
    low_times_scale_high = np.multiply(low, gathered, out=gathered)
    error += low_times_scale_high
    np.take(scale_low, row, out=gathered)
    high *= gathered
    error += high
    low *= gathered
    error += low
    np.take(scale_lo, row, out=gathered)
    gathered *= weight
    error += gathered
    difference = np.subtract(product, label, out=gathered)
    virtual = np.subtract(difference, product, out=high)
    np.subtract(difference, virtual, out=low)
    np.subtract(product, low, out=low)  # product - (difference - virtual)
    np.negative(label, out=label)
    label -= virtual  # -y - virtual
    low += label  # the rounding error of the difference
    low += error
    if target_low is not None:
        low -= label_low
    difference += low
    grad.reshape(-1)[flat] = difference
    return True


def _cancelling_entries(grad, targets, top_flat, ratio, flags, factor):
    """Flat indices of the block's entries off the largest class whose terms are 2 to ``factor`` times each other.

    :math:`a_k / b_k = 1 + g_k / b_k` for :math:`g_k = a_k - b_k`, and off the top
    :math:`b_k = y_k (1 - p_k)` is in :math:`[y_k/2, y_k]`: :math:`g_k / y_k` in
    :math:`(-(1 - 1/F), -1/4]` or :math:`[1/2, F - 1)` selects a superset of :math:`a_k / b_k` in
    :math:`[1/F, 1/2)` and :math:`(2, F]` (within a factor 2 the point is ill-conditioned, measured
    against the size of its terms, and a few of those ulp are all working precision allows).
    """
    selected, other, third = (f[:grad.size].reshape(grad.shape) for f in flags)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # y_k = 0 or tiny: never selected
        np.divide(grad, targets, out=ratio)
    np.greater_equal(ratio, 0.5, out=selected)
    selected &= np.less(ratio, factor - 1, out=other)
    np.greater(ratio, -(1 - 1 / factor), out=other)
    other &= np.less_equal(ratio, -0.25, out=third)
    selected |= other
    selected.reshape(-1)[top_flat] = False
    return np.flatnonzero(selected)


def _fill_block(grad, weights, targets, target_low, top_flat, scale, power, unit, rest, others, top_weight,
                top_target, top_low, plain_total, target_sum) -> None:
    """Every entry of the block from the exact row sums: ``w_k c - y_k`` off the largest class (``c = scale``
    per row), ``w_t (O/T) - y_t (R/T)`` at it, each quotient rounded once from its double word; where
    ``c`` is near the subnormal range (huge weights, a tiny target) the plain form instead."""
    info = np.finfo(grad.dtype)
    # the largest class: both quotients rounded once from the exact sums; R/T as (R 2^-r)/(T 2^-e) in
    # [1/2, 2] times 2^(r - e) applied last, so a result below the normal range is rounded once
    others_ratio = sum(_divide(*others, *unit))
    rest_power = np.maximum(dw.exponent_of(rest[0]), info.tiny)
    rest_ratio = sum(_divide(rest[0] / rest_power, rest[1] / rest_power, *unit))
    top_values = (top_weight / power) * others_ratio
    rest_share = top_target * rest_ratio
    if top_low is not None:
        rest_share += top_low * rest_ratio
    rest_share *= rest_power / power
    top_values -= rest_share
    if scale.size and np.all(np.isfinite(scale)) and scale.min() >= info.tiny * 2.0 ** (info.nmant + 2):
        np.multiply(weights, scale[:, None], out=grad)
    else:
        np.divide(weights, plain_total[:, None], out=grad)
        grad *= target_sum[0][:, None]
    grad -= targets
    if target_low is not None:
        grad -= target_low
    grad.reshape(-1)[top_flat] = top_values


def _product(value, hi, lo):
    """``value (hi + lo)`` as a double word."""
    p, e = _two_product(value, hi)
    return p, e + value * lo


_split = dw.split_unchecked  # probabilities, sums of a few of them and their ratios: no range guard
_two_product = dw.two_product_unchecked


def _product_dw(a_hi, a_lo, b_hi, b_lo):
    """``(a_hi + a_lo) (b_hi + b_lo)`` as a double word."""
    p, e = _two_product(a_hi, b_hi)
    return p, e + (a_hi * b_lo + a_lo * b_hi)


def _divide(a_hi, a_lo, b_hi, b_lo):
    """``(a_hi + a_lo) / (b_hi + b_lo)`` as a double word (one correction of the rounded quotient)."""
    q = a_hi / b_hi
    p, e = _two_product(q, b_hi)
    remainder = ((a_hi - p) - e) + a_lo - q * b_lo
    return q, remainder / b_hi


def _add_float(hi, lo, value):
    """The double word ``(hi + lo) + value``."""
    s, e = dw.two_sum(hi, value)
    return s, e + lo


def _expected_minus_log_probability(target: np.ndarray, parts: SoftmaxParts, logits: np.ndarray, axis: int):
    r""":math:`\sum_k y_k (-\log p_k)` per row of finite logits.

    Where the logits spread past float max some :math:`-\log p_k = (z_t - z_k) + \log(1 + \ldots)` is inf,
    yet a soft target's sum may be a float (``[1e308, -1e308, 0]`` against ``[0.5, 0.5, 0]`` costs 1e308):
    those rows again as :math:`2 \sum_k y_k (z_t/2 - z_k/2) + \log(1 + \ldots) \sum_k y_k` (halves of
    such logits are exact), inf only where the sum itself is past float max.
    """
    loss = _weighted_class_sum(target, parts.minus_log_probabilities(logits), axis)
    overflowed = np.isinf(loss)
    if overflowed.any():
        with np.errstate(over="ignore"):
            spread = _weighted_class_sum(target, parts.top_logit / 2 - logits / 2, axis)
            rest = _weighted_class_sum(target, np.broadcast_to(parts.log1p_rest(), target.shape), axis)
            loss = np.where(overflowed, 2 * spread + rest, loss)
    return loss


def _weighted_class_sum(target: np.ndarray, values: np.ndarray, axis: int) -> np.ndarray:
    """:math:`\\sum_k y_k v_k` over the class axis, with :math:`0 \\cdot \\infty = 0`."""
    products = target * values if all_finite(values) else weighted(target, values)
    return class_sum(products, axis, keepdims=False)


def _cross_entropy_with_infinities(logits, target, axis):
    log_probabilities = log_softmax(logits, axis=axis)
    return 0.0 - weighted(target, log_probabilities).sum(axis=axis)  # not -(...): a zero loss is +0, not -0


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
    if logits.dtype not in dw.DTYPES:  # longdouble: the double-word kernels run in float64
        return dw.in_float64(_kl_divergence_with_logits_kernel, logits, target, axis, with_grad=with_grad)
    parts = SoftmaxParts.of(logits, axis)
    terms = parts.minus_log_probabilities(logits)
    terms += log_target  # log y_k - log p_k per class: -inf for an empty class, zeroed next
    with np.errstate(invalid="ignore"):  # 0 * -inf, replaced just below
        terms *= target
    np.copyto(terms, 0, where=np.broadcast_to(target == 0, terms.shape))  # 0 log 0 = 0
    loss = class_sum(terms, axis, keepdims=False)
    if np.isinf(loss).any():  # a spread of logits past float max: the cross-entropy's rows, plus sum y log y
        overflowed = np.isinf(loss)
        entropy = _weighted_class_sum(target, np.where(target > 0, log_target, 0.0), axis)
        loss = np.where(overflowed, _expected_minus_log_probability(target, parts, logits, axis) + entropy, loss)
    return loss, (_softmax_minus_target(parts, target, axis) if with_grad else None)


def brier(prob, target, *, axis: int = -1, reduction: str = "mean"):
    r"""Multiclass Brier score, the squared error of the probability vector: :math:`\sum_k (\hat p_k - y_k)^2`.

    Each :math:`\hat p_k - y_k` is a double word (two-sum), its square exact (two-product) and the
    row's sum exact (``_sum_of_squares``), rounded once: the plain sum of :math:`K` rounded squares
    was up to 4.2 ulp off.
    """
    validate_reduction(reduction)
    prob, target, axis = _distributions(prob, target, axis, "prob")
    return reduce(_brier_loss(prob, target, axis), reduction)


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
    return _brier_loss(prob, target, axis), 2 * (prob - target)


def _brier_loss(prob: np.ndarray, target: np.ndarray, axis: int) -> np.ndarray:
    r""":math:`\sum_k (\hat p_k - y_k)^2` per sample from the double words :math:`\hat p_k - y_k`."""
    if prob.dtype not in dw.DTYPES:  # longdouble
        return dw.in_float64(_brier_loss, prob, target, axis)
    shape = prob.shape if prob.shape == target.shape else np.broadcast_shapes(prob.shape, target.shape)
    if prob.shape != shape or target.shape != shape or axis != len(shape) - 1:
        prob, target = (np.moveaxis(np.broadcast_to(a, shape), axis, -1) for a in (prob, target))
    rows_shape = prob.shape[:-1]
    prob, target = (a.reshape(-1, shape[axis]) for a in (prob, target))
    out = np.empty(prob.shape[0], prob.dtype)
    # a block of rows at a time: its temporaries stay in cache (fresh full-size ones cost page faults)
    step = max(1, _BLOCK_ENTRIES // max(shape[axis], 1))
    for start in range(0, prob.shape[0], step):
        block = slice(start, start + step)
        out[block] = _sum_of_squares(*dw.two_sum(prob[block], -target[block]))
    return out.reshape(rows_shape)


def _sum_of_squares(values: np.ndarray, low: np.ndarray, *, rescale: bool = True) -> np.ndarray:
    r"""Row sums of :math:`(v + l)^2` for the double words ``(values, low)`` (rows, classes), rounded once.

    Every :math:`v^2` is split exactly (Dekker's two-product), the row sums of the rounded squares
    are exact (``_double_word.row_sums``, the plain row sum as the bound: a rounded sum of non-negative terms is
    at least each of them) and the squares' errors and :math:`2 v l` are summed plainly, far below an
    ulp. Rows whose sum is so small that a square's error may fall below the normal range are
    scaled by a power of two first and back at the end (one rounding, also below the normal range).
    ``values`` and ``low`` may be overwritten.
    """
    if not values.size:
        return np.zeros(values.shape[0], values.dtype)
    squares, square_low = dw.square_unchecked(values)
    bound = np.einsum("rk->r", squares)
    info = np.finfo(values.dtype)
    # below tiny/eps^2 a square's error may be below the normal range, where it is not exact
    small_rows = np.flatnonzero(bound < info.tiny / info.eps**2) if rescale else ()
    small = (values[small_rows], low[small_rows]) if len(small_rows) else None
    values *= low  # 2 v l: the first-order term of the low part
    values += values
    square_low += values
    lows = np.einsum("rk->r", square_low)
    hi, lo = dw.row_sums(squares, bound, high=square_low, low=squares)
    lo += lows
    hi += lo
    if small is not None:
        hi[small_rows] = _small_sum_of_squares(*small)
    return hi


def _small_sum_of_squares(values: np.ndarray, low: np.ndarray) -> np.ndarray:
    """``_sum_of_squares`` of rows whose entries are all tiny: scaled so the largest is in [1/2, 1), summed, and
    scaled back by one ``ldexp`` (one rounding below the normal range)."""
    exponent = np.frexp(np.max(np.abs(values), axis=1))[1]  # 0 for a row of zeros
    scaled = _sum_of_squares(np.ldexp(values, -exponent[:, None]), np.ldexp(low, -exponent[:, None]), rescale=False)
    return np.ldexp(scaled, 2 * exponent)


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
    return sum_to_shape(_brier_with_logits_kernel(logits, target, axis, with_loss=False)[1], logits_shape)


def brier_with_logits_and_grad(logits, target, *, axis: int = -1, reduction: str = "mean"):
    """``(brier_with_logits(...), brier_with_logits_grad(...))`` from one validation and one softmax."""
    validate_reduction(reduction)
    logits, target, axis, logits_shape = _logits_and_distribution(logits, target, axis)
    loss, grad = _brier_with_logits_kernel(logits, target, axis)
    return reduce(loss, reduction), sum_to_shape(grad, logits_shape)


def _brier_with_logits_kernel(logits: np.ndarray, target: np.ndarray, axis: int = -1, *, with_loss: bool = True,
                              with_grad: bool = True):
    """Unchecked (per-sample loss, grad) of ``brier_with_logits`` (target broadcast to the logits' shape)."""
    if logits.dtype not in dw.DTYPES:  # longdouble
        return dw.in_float64(_brier_with_logits_kernel, logits, target, axis, with_loss=with_loss, with_grad=with_grad)
    if not all_finite(logits):
        p = softmax(logits, axis=axis)
        upstream = 2 * (p - target)
        grad = p * (upstream - (upstream * p).sum(axis=axis, keepdims=True)) if with_grad else None
        return ((p - target) ** 2).sum(axis=axis) if with_loss else None, grad
    parts = _softmax_parts(logits, axis)
    target = np.broadcast_to(target, logits.shape)
    loss = None
    if with_loss:
        rows_shape = np.delete(logits.shape, axis % logits.ndim)
        loss = _brier_softmax_loss(parts, target, axis).reshape(rows_shape)
    return loss, (_brier_softmax_grad(parts, target, axis) if with_grad else None)


def _softmax_parts(logits: np.ndarray, axis: int) -> SoftmaxParts:
    """``SoftmaxParts.of``, but the weights from ``_double_word.exp`` (within half an ulp) instead of NumPy's
    ``exp``: up to 2.4 ulp in float32, and in float64 an error that depends on the CPU NumPy dispatches to
    (its AVX-512 ``exp`` or the C library's), which the gradient's conditioning multiplies (4.65 ulp on an
    AVX2 machine at the accuracy grid's worst row, within 4 on an AVX-512 one). Every row is then shifted,
    with the shift's rounding error passed to ``exp``."""
    return SoftmaxParts.of(logits, axis, _double_word_exp_of_difference)


def _double_word_exp_of_difference(z: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """:math:`e^{z - s}` from ``z - shift`` as a double word; a spread past float max gives 0."""
    with np.errstate(over="ignore", invalid="ignore"):  # a spread past float max: -inf, whose exp is 0
        difference, error = dw.two_sum(z, -shift)
    error[~np.isfinite(error)] = 0
    if z.dtype == np.float32:
        return dw.exp(difference, error)
    high, low = dw.exp_weights(difference, error)  # about 2^-68 before the one rounding, on every CPU
    high += low
    return high


def _brier_softmax_loss(parts: SoftmaxParts, target: np.ndarray, axis: int) -> np.ndarray:
    r"""Per-row :math:`\sum_k (p_k - y_k)^2` (rows in C order of the other axes), a block of rows at a time."""
    rows = _softmax_rows(parts, target, axis)
    loss = np.empty(rows[0].shape[0], rows[0].dtype)
    step = max(1, _BLOCK_ENTRIES // max(rows[0].shape[1], 1))  # temporaries stay in cache, as brier's
    for start in range(0, loss.size, step):
        block = slice(start, start + step)
        loss[block] = _sum_of_squares(*_brier_softmax_errors_rows(*(a[block] for a in rows)))
    return loss


def _brier_softmax_errors(parts: SoftmaxParts, target: np.ndarray, axis: int):
    """``_brier_softmax_errors_rows`` of every row: :math:`p_k - y_k` as double words, shaped (rows, classes)."""
    return _brier_softmax_errors_rows(*_softmax_rows(parts, target, axis))


def _softmax_rows(parts: SoftmaxParts, target: np.ndarray, axis: int):
    """(weights, target) as (rows, classes) C-order arrays and (top, top_weight, total, rest) per row."""
    classes = parts.weights.shape[axis]
    last = axis % parts.weights.ndim == parts.weights.ndim - 1

    def rows(a):  # C order: entries are set through flat indices
        return np.ascontiguousarray(a if last else np.moveaxis(a, axis, -1)).reshape(-1, classes)

    per_row = (a.reshape(-1) if last else np.moveaxis(a, axis, -1).reshape(-1)
               for a in (parts.top, parts.top_weight, parts.total, parts.rest))
    return (rows(parts.weights), rows(target), *per_row)


def _brier_softmax_errors_rows(weights, target, top, top_weight, total, plain_rest):
    r""":math:`e_k = p_k - y_k` as double words ``(hi, lo)`` on (rows, classes) C-order arrays.

    In units :math:`u = w / 2^E` (exact) with :math:`U = R + u_t` and :math:`R = \sum_{j \ne t} u_j`
    exact row sums (``_double_word.row_sums``), :math:`p_k = u_k / U` is a double word (one correction of the
    quotient) and :math:`p_k - y_k` a two-sum; at the largest class
    :math:`e_t = p_t (1 - y_t) - y_t R / U`, so a confident right answer keeps :math:`-R/U`.
    What is left is the rounding of the weights themselves (``_softmax_parts``).
    """
    classes = weights.shape[1]
    info = np.finfo(weights.dtype)
    flat_top = np.arange(0, weights.size, classes) + top
    power = np.maximum(dw.exponent_of(total), info.tiny)
    u = weights / power[:, None]  # exact (below the normal range: far below the loss)
    top_u = top_weight / power
    top_y = target.reshape(-1)[flat_top]
    u.reshape(-1)[flat_top] = 0
    values = u.copy()
    rest = dw.row_sums(values, plain_rest / power, high=np.empty_like(u), low=values)
    unit = _add_float(*rest, top_u)
    quotient, quotient_low = _divide(u, 0, unit[0][:, None], unit[1][:, None])
    error, error_low = dw.two_sum(quotient, -target)
    error_low += quotient_low
    # e_t = p_t (1 - y_t) - y_t R/U, in double words
    top_p = _divide(top_u, 0, *unit)
    complement = dw.two_sum(np.ones_like(top_y), -top_y)
    top_error = _add_dw(_product_dw(*top_p, *complement), _negated(_product(top_y, *_divide(*rest, *unit))))
    error.reshape(-1)[flat_top] = top_error[0]
    error_low.reshape(-1)[flat_top] = top_error[1]
    return error, error_low


def _brier_softmax_grad(parts: SoftmaxParts, target: np.ndarray, axis: int) -> np.ndarray:
    r""":math:`2 p_k (e_k - m)` with :math:`e = p - y` and :math:`m = \sum_j e_j p_j`, from exact row sums.

    In units of :math:`u = w / 2^E` (:math:`U = \sum_j u_j` in [1, 2), exact scalings) the row's
    :math:`m U^2 = u_t^2 (1 - y_t) - u_t Y - R (y_t u_t + Y) + Q` and, at the largest class,
    :math:`(e_t - m) U^2 = R (u_t (1 - y_t) - y_t R) - Q + U Y`, with :math:`R = \sum_{j \ne t} u_j`,
    :math:`Q = \sum_{j \ne t} u_j^2` and :math:`Y = \sum_{j \ne t} y_j u_j` double words
    (exact products, ``_double_word.row_sums``): no term of the size of :math:`u_t` cancels, so saturated rows
    keep their tiny gradients. Every entry is then :math:`2 u_k J_k / U^2` with
    :math:`J_k = u_k - y_k U - m U` by two-sums, rounded once. The plain Jacobian product
    (``SoftmaxParts.backward``) rounds the row sums, :math:`p`, :math:`e`, the products and their
    sums: up to 7 ulp (float64) and 8 (float32) even where nothing cancels.
    Entries near the subnormal range (a tiny :math:`u_k` or result, or a row whose :math:`R^2`
    may underflow) keep ``SoftmaxParts.backward``.
    """
    shape = parts.weights.shape
    classes = shape[axis]
    last = axis == len(shape) - 1
    weights = np.ascontiguousarray(parts.weights if last else np.moveaxis(parts.weights, axis, -1))
    moved_shape = weights.shape
    target = np.ascontiguousarray(np.moveaxis(np.broadcast_to(target, shape), axis, -1)).reshape(-1, classes)
    top, top_weight, total, rest = (np.moveaxis(a, axis, -1).reshape(-1)
                                    for a in (parts.top, parts.top_weight, parts.total, parts.rest))
    weights = weights.reshape(-1, classes)
    grad = np.empty_like(weights)
    fallback = []
    # a block of rows at a time: its temporaries stay in cache (fresh full-size ones cost page faults)
    step = max(1, _BLOCK_ENTRIES // max(classes, 1))
    with np.errstate(under="ignore"):
        for start in range(0, weights.shape[0], step):
            block = slice(start, start + step)
            grad[block], risky = _brier_softmax_grad_rows(weights[block], target[block], top[block], rest[block],
                                                          top_weight[block], total[block])
            fallback.append(risky + start * classes)
    fallback = np.concatenate(fallback) if fallback else np.empty(0, dtype=np.intp)
    if fallback.size:
        error = sum(_brier_softmax_errors(parts, np.moveaxis(target.reshape(moved_shape), -1, axis), axis))
        error *= 2  # 2 (p - y), (rows, classes)
        plain = parts.backward(np.moveaxis(error.reshape(moved_shape), -1, axis), parts.weights / parts.total)
        plain = np.ascontiguousarray(plain if last else np.moveaxis(plain, axis, -1)).reshape(-1)
        grad.reshape(-1)[fallback] = plain[fallback]
    grad = grad.reshape(moved_shape)
    return grad if last else np.moveaxis(grad, -1, axis)


def _brier_softmax_grad_rows(weights, target, top, plain_rest, top_weight, total):
    """``_brier_softmax_grad`` on (rows, classes) C-contiguous arrays: (grad, flat indices of the entries
    left to ``SoftmaxParts.backward``)."""
    count, classes = weights.shape
    dtype = weights.dtype
    info = np.finfo(dtype)
    flat_top = np.arange(0, weights.size, classes) + top
    power = np.maximum(dw.exponent_of(total), info.tiny)
    u = weights / power[:, None]  # exact (below the normal range: left to the plain form)
    top_u = top_weight / power
    top_y = target.reshape(-1)[flat_top]
    u.reshape(-1)[flat_top] = 0
    # exact products u_k^2 and y_k u_k (Dekker, each factor split once); 0/1 targets need no split
    u_high, u_low = _split(u)
    squares = u * u
    squares_low = u_high * u_high
    squares_low -= squares
    squares_low += 2 * u_high * u_low
    squares_low += u_low * u_low
    hard = bool(np.all((target == 0) | (target == 1)))
    products = target * u
    if hard:
        target_split = None
        low_of_products = np.zeros(count, dtype)
    else:
        target_split = _split(target)
        products_low = target_split[0] * u_high
        products_low -= products
        products_low += target_split[0] * u_low
        products_low += target_split[1] * u_high
        products_low += target_split[1] * u_low
        low_of_products = np.einsum("rk->r", products_low)
    buffer = np.empty_like(u)
    # each row's plain sum bounds its entries (rounding is monotonic): with a bound of 2 a confident row's
    # R ~ e^-gap was no better than its plain sum (K/2 ulp)
    rest = dw.row_sums(u.copy(), plain_rest / power, high=buffer, low=u_high)
    low_of_squares = np.einsum("rk->r", squares_low)
    square_sum = dw.row_sums(squares, np.einsum("rk->r", squares), high=buffer, low=squares)
    square_sum = (square_sum[0], square_sum[1] + low_of_squares)
    target_sum = dw.row_sums(products, np.einsum("rk->r", products), high=buffer, low=products)
    target_sum = (target_sum[0], target_sum[1] + low_of_products)
    unit = _add_float(*rest, top_u)
    zero = np.zeros_like(top_u)
    # m U^2 = u_t^2 (1 - y_t) - u_t Y - R (y_t u_t + Y) + Q
    top_square = _two_product(top_u, top_u)
    top_share = _two_product(top_y, top_u)
    complement = _add_dw(top_square, _negated(_product_dw(*top_square, top_y, zero)))
    m_u2 = _add_dw(_add_dw(complement, _negated(_product(top_u, *target_sum))),
                   _add_dw(square_sum, _negated(_product_dw(*rest, *_add_dw(top_share, target_sum)))))
    m_u = _divide(*m_u2, *unit)
    # the largest class: J_t U = R (u_t (1 - y_t) - y_t R) - Q + U Y
    top_error = _add_dw(_add_dw((top_u, zero), _negated(top_share)), _negated(_product(top_y, *rest)))
    top_j = _divide(*_add_dw(_add_dw(_product_dw(*rest, *top_error), _negated(square_sum)),
                             _product_dw(*unit, *target_sum)), *unit)
    # J_k = u_k - y_k U - m U off the largest class, by two-sums
    u.reshape(-1)[flat_top] = top_u
    if hard:  # y_k U exact
        scaled_target, scaled_target_low = target * unit[0][:, None], target * unit[1][:, None]
    else:
        unit_high, unit_low = (a[:, None] for a in _split(unit[0]))
        scaled_target = target * unit[0][:, None]
        scaled_target_low = target_split[0] * unit_high
        scaled_target_low -= scaled_target
        scaled_target_low += target_split[0] * unit_low
        scaled_target_low += target_split[1] * unit_high
        scaled_target_low += target_split[1] * unit_low
        scaled_target_low += target * unit[1][:, None]
    partial, first_error = dw.two_sum(u, -m_u[0][:, None])
    j, second_error = dw.two_sum(partial, -scaled_target)
    j_low = first_error
    j_low += second_error
    j_low -= scaled_target_low
    j_low -= m_u[1][:, None]
    j += j_low
    j.reshape(-1)[flat_top] = top_j[0] + top_j[1]
    # 2 J / U^2 rounded once, times u_k
    unit_square = _product_dw(*unit, *unit)
    quotient, quotient_low = _divide(j, np.zeros_like(j), unit_square[0][:, None], unit_square[1][:, None])
    quotient += quotient_low
    quotient *= 2
    # near the subnormal range the errors of the products and quotients are no longer exact (a few
    # subnormal steps): where 2 J_k / U^2 or u_k is below 16 times the smallest normal, the plain form;
    # above it the product is rounded once (to within one step if it is below the normal range)
    small = info.tiny * 16.0
    risky = np.abs(quotient) < small
    risky |= u < small
    grad = np.multiply(quotient, u, out=quotient)
    return grad, np.flatnonzero(risky)


def _add_dw(a, b):
    """The double words' sum ``a + b`` (two-sum of the high parts)."""
    s, e = dw.two_sum(a[0], b[0])
    return s, e + (a[1] + b[1])


def _negated(a):
    return -a[0], -a[1]
