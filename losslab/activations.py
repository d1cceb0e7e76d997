"""Output activations (links) and their inverses, stable for every finite input.

All functions accept array-likes, keep float32 as float32, compute ints,
lists and scalars in float64, and return the input's shape (``logsumexp``
drops the class axis unless ``keepdims``). ``+inf`` and ``-inf`` give their
limits; none of them emits a RuntimeWarning.
"""

from __future__ import annotations

import numpy as np

from losslab._validation import (
    all_finite,
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

    Computed from :math:`t = e^{-|z|}`, which never overflows:
    :math:`\sigma(-|z|) = t / (1 + t)` and :math:`\sigma(|z|) = 1 - \sigma(-|z|)`,
    so the result is within about an ulp for every finite ``z`` (tails
    included, down to the subnormals) and is 0 or 1 at -inf or +inf.
    Derivative: :math:`\sigma'(z) = \sigma(z)\,(1 - \sigma(z))`.
    """
    z = _float_input(z, "z")
    return _scalar_or_array(_sigmoid_minus_label(z, 0))


def _small_sigmoid(z: np.ndarray) -> np.ndarray:
    r""":math:`\sigma(-|z|) = e^{-|z|} / (1 + e^{-|z|})`, in (0, 1/2]: the tail that keeps its digits."""
    t = np.copysign(z, -1, out=np.empty_like(z))  # -|z|; out=: in place, also for 0-d input
    np.exp(t, out=t)
    return np.divide(t, t + 1, out=t)


def _sigmoid_minus_label(z: np.ndarray, y) -> np.ndarray:
    r""":math:`\sigma(z) - y` without cancelling away the tails.

    With :math:`s = \sigma(-|z|)` it is :math:`(1 - y) - s` for :math:`z \ge 0`
    and :math:`s - y` for :math:`z < 0`: for a hard label the difference of
    nearly equal numbers (:math:`\sigma(40) - 1`) never forms, so
    :math:`\sigma(z) - 1 = -\sigma(-z) \approx -e^{-z}` keeps every digit.
    ``signbit`` rather than ``z >= 0`` picks the branch so that -0.0 gets the
    same branch from both of its uses.
    """
    positive = ~np.signbit(z)
    out = np.subtract(positive, y, dtype=z.dtype)
    out -= np.copysign(_small_sigmoid(z), z)
    return out


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
    Computed as :math:`\pm\log\bigl(1 + |2p - 1| / \min(p, 1 - p)\bigr)`, the sign of
    :math:`2p - 1`: near :math:`p = 1/2`, where :math:`\log p - \log(1 - p)` would
    cancel, :math:`2p - 1` and :math:`\min(p, 1 - p)` are exact in floating point.
    """
    p = _float_input(p, "p")
    check_in_closed_interval(p, "p", 0.0, 1.0)
    centred = 2 * p - 1  # exact for p >= 1/4 (Sterbenz); the sign of the logit
    with np.errstate(divide="ignore", over="ignore"):  # p = 0 or 1: the intended +-inf
        smaller = np.subtract(1, p, out=np.empty_like(p))  # out=: arrays also for 0-d input
        np.minimum(smaller, p, out=smaller)
        np.abs(smaller, out=smaller)  # p = -0.0 is 0: 1/+0 = inf, where 1/-0 = -inf made log1p NaN
        gap = np.abs(centred, out=np.empty_like(p))
        gap /= smaller
        value = np.log1p(gap, out=gap)
        np.copysign(value, centred, out=value)
        if p.size and p.min() < 1 / np.finfo(p.dtype).max:  # 1/p overflows for subnormal p
            tiny = p < 1 / np.finfo(p.dtype).max  # ... where the two logs cannot cancel
            value[tiny] = np.log(p[tiny]) - np.log1p(-p[tiny])
    return _scalar_or_array(value)


def logsumexp(z, axis: int = -1, keepdims: bool = False):
    r""":math:`\log \sum_k e^{z_k}` over ``axis``, as :math:`z_t + \log(1 + \sum_{k \ne t} e^{z_k - z_t})`.

    :math:`t` is a largest entry, so nothing overflows and a row dominated by
    one entry keeps the tiny remainder (``log1p`` rather than ``log``).
    A row containing +inf gives +inf; a row of only -inf gives -inf.
    Shape: ``z``'s shape without ``axis`` (kept with length 1 if ``keepdims``).
    Accurate to a few ulp except where the result is near 0 with a negative
    largest entry (e.g. ``[-0.5, -0.6]``): there the two terms cancel and the
    error is a few ulp of :math:`|z_t|` instead.
    """
    z = _float_input(z, "z")
    axis = _class_axis(z, axis)
    if not all_finite(z):
        return _scalar_or_array(_logsumexp_with_infinities(z, axis, keepdims))
    parts = SoftmaxParts.of(z, axis)
    total = parts.top_logit + parts.log1p_rest()
    return _scalar_or_array(total if keepdims else np.squeeze(total, axis=axis))


def softmax(z, axis: int = -1):
    r""":math:`\mathrm{softmax}(z)_k = e^{z_k} / \sum_j e^{z_j}`, within a few ulp for every finite ``z``.

    When every :math:`e^{z_k}` is a normal float and the sum cannot overflow
    (logits between about -708 and 700 in float64, -87 and 85 in float32) the
    exponentials are taken as they are; otherwise each row is shifted by its
    maximum, with the rounding error of :math:`z_k - \max_j z_j` carried into
    the exponential (it would cost :math:`|z_k - \max z|` half-ulps in the
    tails). ``softmax_naive`` shows the overflow the shift avoids, e.g. for
    ``[1000, 999, 998]``. Rows containing +inf share the probability equally
    among their +inf entries. Same shape as ``z``.
    """
    z = _float_input(z, "z")
    axis = _class_axis(z, axis)
    if not all_finite(z):
        return _scalar_or_array(_softmax_with_infinities(z, axis))
    # total = w_t + (sum of the others), the big weight added last: a plain sum over the row rounds
    # e^z + 1 + 1 twice where e^z + 2 is exact, and p then rounds to 1 a little early
    parts = SoftmaxParts.of(z, axis)
    return _scalar_or_array(np.divide(parts.weights, parts.total, out=parts.weights))


def log_softmax(z, axis: int = -1):
    r""":math:`\log \mathrm{softmax}(z)_k = (z_k - z_t) - \log(1 + \sum_{j \ne t} e^{z_j - z_t})`, :math:`t` a largest entry.

    Both terms are :math:`\le 0`, so nothing cancels: the largest class keeps
    its tiny :math:`-\sum_{j \ne t} p_j` and the smallest its huge negative value.
    """
    z = _float_input(z, "z")
    axis = _class_axis(z, axis)
    if not all_finite(z):
        return _scalar_or_array(_log_softmax_with_infinities(z, axis))
    parts = SoftmaxParts.of(z, axis)
    with np.errstate(over="ignore"):  # a spread beyond float max: -inf is the rounded answer
        out = z - parts.top_logit
    out -= parts.log1p_rest()
    return _scalar_or_array(out)


class SoftmaxParts:
    r"""The pieces every softmax-based function is built from, for finite logits.

    - ``weights``: :math:`w_k = e^{z_k - s}` to within about an ulp, where the shift
      :math:`s` is 0 when :math:`e^{z}` stays normal and the sum cannot overflow,
      else the row maximum less a headroom (the rounding error of :math:`z_k - s`
      compensated);
    - ``top``: the index of one largest entry per row (keepdims);
    - ``top_logit``, ``top_weight``: :math:`z_t` and :math:`w_t`;
    - ``rest``: :math:`\sum_{k \ne t} w_k`, summed without :math:`w_t` so nothing is lost to it;
    - ``total``: :math:`w_t + \text{rest}`.

    Then :math:`p_k = w_k / \text{total}`, :math:`1 - p_t = \text{rest} / \text{total}` and
    :math:`-\log p_k = (z_t - z_k) + \log(1 + \text{rest} / w_t)`, all free of cancellation.
    ``weights`` may be overwritten by the caller once it is used.
    """

    __slots__ = ("axis", "rest", "top", "top_logit", "top_weight", "total", "weights")

    @classmethod
    def of(cls, z: np.ndarray, axis: int, exp_of_difference=None) -> SoftmaxParts:
        """The parts of ``z``'s softmax along ``axis``. ``exp_of_difference(z, shift)``, if given, makes
        every weight, with every row shifted as the rows that must be are below (a caller with a more
        accurate ``exp`` than NumPy's; the Brier losses in float32)."""
        parts = cls()
        parts.axis = axis
        parts.top = np.expand_dims(z.argmax(axis=axis), axis)
        parts.top_logit = take_class(z, parts.top, axis)
        if exp_of_difference is None and _exp_stays_normal(z, z.shape[axis]):
            parts.weights = np.exp(z)
        else:
            # Shift so the largest weight is e^headroom rather than 1: weights down to tiny * e^-headroom
            # stay normal, so a ratio in the subnormal range is rounded once, not built from subnormals.
            headroom = _headroom(z.dtype, z.shape[axis])
            shift = parts.top_logit - headroom
            # a huge z_t rounds the shift (ulp(z_t) > 1): where that made room for more than the
            # headroom, e^(z_t - shift) could overflow, so shift by z_t itself
            np.copyto(shift, parts.top_logit, where=(parts.top_logit - shift) > headroom)
            if exp_of_difference is None:
                # rows that need no shift keep none: z - 0 is exact, so their weights are plain exp(z)
                low, high = _normal_exp_range(z.dtype, z.shape[axis])
                row_min = z.min(axis=axis, keepdims=True)
                with np.errstate(over="ignore"):  # a spread past float max is inf: not a row to leave unshifted
                    spread = parts.top_logit - row_min
                unshifted = (row_min >= low) & (parts.top_logit <= high) & (spread <= high)
                np.copyto(shift, 0, where=unshifted)
                exp_of_difference = _compensated_exp_of_difference
            parts.weights = exp_of_difference(z, shift)
        parts.top_weight = take_class(parts.weights, parts.top, axis)
        put_class(parts.weights, parts.top, 0, axis)
        parts.rest = class_sum(parts.weights, axis)
        put_class(parts.weights, parts.top, parts.top_weight, axis)
        parts.total = parts.top_weight + parts.rest
        return parts

    def log1p_rest(self) -> np.ndarray:
        r""":math:`\log(1 + \text{rest}/w_t) = -\log p_t`."""
        return np.log1p(self.rest / self.top_weight)

    def complements(self) -> np.ndarray:
        r""":math:`1 - p_k`: :math:`(\text{total} - w_k)/\text{total}`, exact enough since :math:`w_k \le \text{total}/2` off the top, and :math:`\text{rest}/\text{total}` at the top."""
        out = self.total - self.weights
        out /= self.total
        put_class(out, self.top, self.rest / self.total, self.axis)
        return out

    def backward(self, upstream: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
        r"""Through the softmax Jacobian: :math:`p_k (g_k - \sum_j g_j p_j)` for :math:`g` = ``upstream``.

        At the largest class, whose own term can dominate the sum, it is
        :math:`p_t (g_t (1 - p_t) - \sum_{j \ne t} g_j p_j)`, the sum taken without the term, so a
        saturated row keeps its tiny gradient. Near the subnormal range the final product is
        taken as :math:`w (\ldots) / \text{total}` with exact power-of-two scalings, so it is
        rounded at most twice and never from a subnormal factor.
        ``upstream`` is overwritten.
        """
        axis = self.axis
        top_upstream = take_class(upstream, self.top, axis)
        # sums in units of the weights (normal numbers) rather than of p (maybe subnormal)
        flow = upstream * self.weights
        put_class(flow, self.top, 0, axis)
        others_of_top = class_sum(flow, axis)
        inner = np.subtract(upstream, (others_of_top + top_upstream * self.top_weight) / self.total, out=upstream)
        put_class(inner, self.top, (top_upstream * self.rest - others_of_top) / self.total, axis)
        result = inner * probabilities
        if result.size and np.abs(result).min() < np.finfo(result.dtype).tiny * 2.0**64:
            _scaled_product(inner, self.weights, self.total, out=result)
        return result

    def minus_log_probabilities(self, z: np.ndarray) -> np.ndarray:
        r""":math:`-\log p_k = (z_t - z_k) + \log(1 + \text{rest}/w_t)`: two terms :math:`\ge 0`."""
        with np.errstate(over="ignore"):  # a spread beyond float max: inf is the rounded answer
            out = self.top_logit - z
        out += self.log1p_rest()
        return out


def _scaled_product(values: np.ndarray, weights: np.ndarray, total: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``values * weights / total`` without a subnormal intermediate that the result does not have.

    ``total = m 2^e`` with ``m`` in [0.5, 1): scaling by ``2^-e`` is exact, applied to the weights
    before the product where it scales up and after it where it scales down.
    """
    mantissa, exponent = np.frexp(total)
    up = np.ldexp(np.ones_like(mantissa), np.maximum(-exponent, 0))
    down = np.ldexp(np.ones_like(mantissa), np.minimum(-exponent, 0))
    np.multiply(weights, up, out=out)
    out *= values
    out *= down
    out /= mantissa
    return out


def take_class(a: np.ndarray, positions: np.ndarray, axis: int) -> np.ndarray:
    """``np.take_along_axis(a, positions, axis)``, by flat indexing when the class axis is last (several times faster)."""
    flat = _flat_positions(a, positions, axis)
    if flat is None:
        return np.take_along_axis(a, positions, axis=axis)
    return a.reshape(-1)[flat].reshape(positions.shape)


def put_class(a: np.ndarray, positions: np.ndarray, values, axis: int) -> None:
    """``np.put_along_axis(a, positions, values, axis)``, by flat indexing when the class axis is last."""
    flat = _flat_positions(a, positions, axis)
    if flat is None:
        np.put_along_axis(a, positions, values, axis=axis)
        return
    a.reshape(-1)[flat] = np.broadcast_to(values, positions.shape).reshape(-1)


def _flat_positions(a: np.ndarray, positions: np.ndarray, axis: int):
    if axis % a.ndim != a.ndim - 1 or not a.flags.c_contiguous or positions.shape[:-1] != a.shape[:-1]:
        return None
    classes = a.shape[-1]
    return np.arange(0, a.size, classes) + positions.reshape(-1)


def class_sum(x: np.ndarray, axis: int, keepdims: bool = True) -> np.ndarray:
    """Sum over the class axis (``einsum`` is several times faster than ``sum`` on a short last axis)."""
    if axis % x.ndim == x.ndim - 1:
        total = np.einsum("...k->...", x)
        return total[..., None] if keepdims else total
    return x.sum(axis=axis, keepdims=keepdims)


def _headroom(dtype: np.dtype, classes: int) -> float:
    """The largest ``h`` with ``classes * e^h`` below float max (with a margin): about 706 in float64."""
    return float(np.floor(np.log(np.finfo(dtype).max) - np.log(classes) - 1))


def _normal_exp_range(dtype: np.dtype, classes: int) -> tuple[float, float]:
    """Logits whose ``exp`` is a normal float and whose row sums (and ratios) cannot overflow."""
    info = np.finfo(dtype)
    return float(np.log(info.tiny)), float(np.log(info.max) - np.log(classes) - 1)


def _exp_stays_normal(z: np.ndarray, classes: int) -> bool:
    """True if every ``exp(z)`` is a normal float and no row sum of ``classes`` of them, nor a ratio of two, can overflow."""
    if not z.size:
        return True
    low, high = _normal_exp_range(z.dtype, classes)
    smallest, largest = z.min(), z.max()
    return bool(smallest >= low and largest <= high and float(largest) - float(smallest) <= high)


def _compensated_exp_of_difference(z: np.ndarray, shift: np.ndarray) -> np.ndarray:
    r""":math:`e^{z - s}` with the rounding error of :math:`z - s` put back.

    :math:`d = \mathrm{fl}(z - s)` is off by up to half an ulp of :math:`d`, which
    :math:`e^d` turns into a relative error of :math:`|d|/2` ulp (hundreds of ulp
    for :math:`d \approx -700`). Knuth's two-sum gives that error :math:`\epsilon`
    exactly, and :math:`e^{d + \epsilon} = e^d (1 + \epsilon)` to working precision.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # a spread beyond the float range: exp(-inf) = 0
        difference = z - shift
        error = _two_sum_error(z, -shift, difference)
        error[~np.isfinite(error)] = 0  # only where exp(difference) is 0 anyway
        weights = np.exp(difference)
        weights += weights * error
    return weights


def _two_sum_error(a: np.ndarray, b: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Knuth's two-sum: the exact rounding error of ``total = fl(a + b)``, with no assumption on sizes."""
    b_virtual = total - a
    a_virtual = total - b_virtual
    return (a - a_virtual) + (b - b_virtual)


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


def _logsumexp_with_infinities(z: np.ndarray, axis: int, keepdims: bool) -> np.ndarray:
    shift = _finite_row_max(z, axis)
    with np.errstate(divide="ignore", over="ignore"):  # all -inf row: log(0) = -inf is the answer
        total = np.log(np.exp(_shifted(z, shift)).sum(axis=axis, keepdims=True)) + shift
    return total if keepdims else np.squeeze(total, axis=axis)


def _softmax_with_infinities(z: np.ndarray, axis: int) -> np.ndarray:
    shift = _finite_row_max(z, axis)
    with np.errstate(invalid="ignore"):  # a row of only -inf has no softmax: NaN
        weights = np.exp(_shifted(z, shift))
        probabilities = weights / weights.sum(axis=axis, keepdims=True)
    return _split_among_infinite(z, axis, probabilities, log=False)


def _log_softmax_with_infinities(z: np.ndarray, axis: int) -> np.ndarray:
    shifted = _shifted(z, _finite_row_max(z, axis))
    with np.errstate(invalid="ignore", divide="ignore"):  # +inf rows, replaced just below
        log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return _split_among_infinite(z, axis, log_probabilities, log=True)


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
