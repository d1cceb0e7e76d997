r"""Overlap losses for segmentation: soft Dice, soft IoU (Jaccard), Tversky, focal Tversky and combo.

Inputs are probability maps :math:`p \in [0, 1]` (after the sigmoid) and
target masks :math:`t \in [0, 1]` (0/1 or soft), shaped alike (or
broadcastable). An overlap loss is not elementwise: it compares *sums* over
a region, by default every axis except the first (one loss per sample of a
batch ``(N, ...)``; a 1-D input is one sample). ``axis`` picks the summed
axes instead: for ``(N, C, H, W)`` maps, ``axis=(2, 3)`` gives one loss per
sample and class; the reduction then runs over what is left. With the soft
counts

.. math:: \mathrm{TP} = \sum p\,t,\qquad \mathrm{FP} = \sum p\,(1 - t),\qquad
          \mathrm{FN} = \sum (1 - p)\,t

every loss here is a ratio of them with a smoothing constant :math:`s > 0`
(``smooth``, default 1) added to numerator and denominator, as in most
libraries: it makes an empty target with an empty prediction a perfect 0
instead of :math:`0/0`, and softens the loss of very small objects.

Each loss is written as (errors) / (denominator), with the errors
:math:`\mathrm{FP} + \mathrm{FN} = \sum p(1 - t) + t(1 - p)` summed from terms
:math:`\ge 0`, never as :math:`1 - \text{score}`: a nearly perfect mask keeps
the digits of its small loss. Gradients are :math:`\partial \ell / \partial p`
for every pixel, shaped like ``prob`` (the loss of a region depends on all its
pixels; the gradient is that of the *sum* of the unreduced losses).
The region's counts are summed exactly and combined in double-word
arithmetic, so Dice, IoU and Tversky and their gradients are within about an
ulp of the exact values (their logit forms and focal Tversky within about 3),
at about twice the time of plain sums.

float32 inputs are computed in float32 (float32 arrays only, no float64
copies), by the same algorithms in float32's terms: the region sums are exact
there too (the extraction is repeated on its leftovers while they could still
reach float32's last bit), the region's quantities are float32 double words
(48 bits), a parameter enters as a float32 double word (0.3 is not a float32),
the sigmoids come from ``_double_word.exp`` (NumPy's float32 ``exp`` is up to
2.4 ulp off, ``exp2`` and ``pow`` about one), the scaled paths below start at
float32's thresholds (2^-64 instead of 2^-960, :math:`|z| > 78` instead of
700, parameters outside [2^-20, 2^20] instead of [2^-100, 2^100]), a soft
target's gradient is :math:`g_0 - t_i c` per pixel from two region double
words, and the large temporaries are few or taken in blocks, so a call holds
about half the memory of the float64 call. Combo clips its BCE at float64's
:math:`[\epsilon, 1 - \epsilon]` as ``binary.bce`` does in every dtype (:math:`1 - 10^{-12}`
is 1 in float32) and forms the logit form's :math:`\sigma(z) - t` from
double-word sigmoids. On the accuracy grids the results are within 3 ulp of
the correctly rounded float32 values (2 but for focal Tversky's gradients). A parameter that is neither 0 nor a
normal float32 (``smooth = 1e-300``, ``alpha = 1e39``) has no float32 value:
such a call computes its float32 maps in float64 and rounds once.

Every valid parameter value works, from 0 (``alpha``, ``beta``) or 5e-324
(``smooth``, ``gamma``) to float max: far from 1 the region's quantities are
carried as double-word mantissas with an integer exponent (see "parameters far
from 1" below), so a result over- or underflows only where its true value is
outside the float range. Focal Tversky's :math:`T^\gamma` is taken from
:math:`\log(1 - H/D)` where :math:`T` rounds to 1, so a huge γ still sees the
distance of :math:`T` from 1.

Each loss also has a logit form, ``*_with_logits(logits, target, ...)``, for
maps :math:`p = \sigma(z)`, with gradients :math:`\partial \ell / \partial z`.
It is not the probability form applied to :math:`\sigma(z)`: there
:math:`1 - p` rounds to 0 once :math:`z > 37`, so a saturated, nearly perfect
mask loses its false negatives (the loss and the gradient of every pixel
round to 0, and focal Tversky's :math:`T^{\gamma - 1}` becomes infinite).
Here :math:`1 - p` is :math:`\sigma(-z)`, so every count keeps its relative
accuracy, and :math:`\partial p / \partial z = \sigma(z)\,\sigma(-z)`.
"""

from __future__ import annotations

import numpy as np

from losslab import _double_word as dw
from losslab._double_word import add, multiply, two_product, two_sum
from losslab._inputs import Inputs, check_not_nan, check_shapes_broadcast
from losslab._validation import Interval, check_in_closed_interval, fits_float32, validate_reduction
from losslab.binary import bce_and_grad, bce_with_logits, bce_with_logits_and_grad, float64_clip

POSITIVE = Interval(0.0, None, low_inclusive=False)
NON_NEGATIVE = Interval(0.0, None)
UNIT = Interval(0.0, 1.0)


class _Limits:
    """The thresholds of the scaled paths for one working dtype (float64's are the float64 code's constants;
    float32's sit as far inside float32's narrower exponent range, see "parameters far from 1")."""

    __slots__ = ("dtype", "far_logit", "logit_cap", "moderate", "moderate_gamma", "pow_small", "scaled_below")

    def __init__(self, dtype, scaled_below, far_logit, moderate, pow_small):
        self.dtype = dtype
        self.scaled_below = dtype.type(scaled_below) if dtype == np.float32 else scaled_below
        self.far_logit = far_logit
        self.logit_cap = 7.0e5  # J < 2^21: exact in either dtype
        self.moderate = moderate
        self.moderate_gamma = (moderate[0], 4.0)
        self.pow_small = pow_small


#: float64: regions below 2^-960 (62 bits above the normal range) are summed scaled, sigma(-|z|) is split into
#: mantissa and power of two beyond |z| = 700 (e^-700 ~ 2^-1010), parameters in [2^-100, 2^100] are moderate;
#: float32: 2^-64 (62 bits above 2^-126), |z| = 78 (e^-78 ~ 2^-112.5), [2^-20, 2^20] (alpha (TP + s), D and
#: 1/D of a region of up to 2^24 pixels stay 2^40 inside float32's range)
_LIMITS = {np.dtype(np.float64): _Limits(np.dtype(np.float64), 2.0**-960, 700.0, (2.0**-100, 2.0**100), 2.0**-1000),
           np.dtype(np.float32): _Limits(np.dtype(np.float32), 2.0**-64, 78.0, (2.0**-20, 2.0**20), 2.0**-104)}


def _word(value: float, dtype) -> tuple:
    """A parameter as a double word of the working dtype: ``(value, 0.0)`` in float64 (the float itself), in
    float32 its float32 rounding and the rest (0.3 is not a float32; its rounding would be half an ulp of every
    count it weighs)."""
    if dtype != np.float32:
        return value, 0.0
    high = np.float32(value)
    return high, np.float32(value - float(high))


def _native(maps, *parameters) -> bool:
    """Whether float32 maps may be computed in float32: every parameter is 0 or a normal float32
    (``fits_float32``); a float64 array does not ask (the check costs several microseconds a call)."""
    dtype = getattr(maps, "dtype", None)
    return (dtype is not None and dtype == np.float64) or fits_float32(*parameters)


def _summed_axes(axis, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(1, ndim)) if ndim > 1 else tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    normalized = []
    for a in axes:
        if not isinstance(a, int | np.integer) or not -ndim <= a < ndim:
            raise ValueError(f"axis {a!r} is out of range for maps with {ndim} dimension(s)")
        normalized.append(int(a) % ndim)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"axis {axis!r} repeats an axis")
    return tuple(normalized)


class _Counts:
    """Validated maps and their soft counts over the summed axes (kept as length-1 axes)."""

    __slots__ = ("axes", "fn", "fp", "inputs", "prob", "shape", "target", "tp")

    def __init__(self, prob, target, axis, sums: bool = True, native: bool = True):
        self.inputs = Inputs({"prob": prob, "target": target}, native=native)
        prob_array, target_array = self.inputs.arrays
        check_in_closed_interval(prob_array, "prob", 0.0, 1.0)
        check_in_closed_interval(target_array, "target", 0.0, 1.0)
        self.shape = check_shapes_broadcast(self.inputs.arrays, ["prob", "target"])
        self.axes = _summed_axes(axis, len(self.shape))
        self.prob = np.broadcast_to(prob_array, self.shape)
        self.target = np.broadcast_to(target_array, self.shape)
        if sums:
            self.add_sums()

    def add_sums(self) -> None:
        """The plain soft counts (``_OverlapRatio`` has their double words)."""
        self.tp = self.region_sum(self.prob * self.target)
        self.fp = self.region_sum(self.prob * (1 - self.target))
        self.fn = self.region_sum(self.complement_values() * self.target)

    def complement_values(self) -> np.ndarray:
        return 1 - self.prob

    def release(self) -> None:
        """Drop the per-pixel quantities the counts were formed from (the maps are kept)."""

    def far_counts(self, fp, fn):
        r"""FP and FN (double words) scaled; a region whose FP terms are all below 2^-960 (subnormal
        probabilities) sums them from :math:`p\,2^K` (exact), and likewise FN from :math:`t\,2^K`: the
        products :math:`p (1 - t)` would otherwise round to the subnormal grid."""
        out, changed = [], False
        for small, other, sums in ((self.prob, 1 - self.target, fp), (self.target, 1 - self.prob, fn)):
            exact = _scaled(*sums)
            if not np.any(sums[0] < _LIMITS[sums[0].dtype].scaled_below):  # a sum is at least its largest term
                out.append(exact)
                continue
            largest = self.region_max(np.where(other > 0, small, 0.0))
            scale = np.where((largest < _LIMITS[largest.dtype].scaled_below) & (largest > 0), -np.frexp(largest)[1], 0)
            if not np.any(scale):
                out.append(exact)
                continue
            far = _scaled(self.region_sum(np.ldexp(np.where(other > 0, small, 0.0), scale) * other))
            out.append(tuple(np.where(scale > 0, f, e)
                             for f, e in zip((far[0], far[1], far[2] - scale), exact, strict=True)))
            changed = True
        return (*out, changed)

    def ratio(self, alpha, beta, smooth, scaled: bool = False, halved: bool = False,
              far_terms: bool = False) -> _OverlapRatio:
        """Tversky's ratio of every region, to the last bit (``1 - p`` exactly, with its rounding error).

        ``scaled`` forces the scaled quantities; ``halved``: the smoothing is ``smooth / 2`` (Dice's),
        kept exact where that underflows; ``far_terms``: a region whose error terms are all far below the
        normal range is summed scaled (focal Tversky has its own far path)."""
        return _OverlapRatio(self, None, None, alpha, beta, smooth, scaled, halved, far_terms)

    def region_sum(self, values: np.ndarray) -> np.ndarray:
        return values.sum(axis=self.axes, keepdims=True)

    def region_max(self, values: np.ndarray) -> np.ndarray:
        """The largest value of each region (0 for an empty one)."""
        return np.max(values, axis=self.axes, keepdims=True, initial=0)

    def region_min(self, values: np.ndarray) -> np.ndarray:
        """The smallest integer of each region (``values``' largest possible for an empty one)."""
        return np.min(values, axis=self.axes, keepdims=True, initial=np.iinfo(values.dtype).max)

    def per_region(self, values: np.ndarray) -> np.ndarray:
        """Drop the summed (length-1) axes: one value per region."""
        return np.squeeze(values, axis=self.axes) if self.axes else values

    def finish(self, loss, grad, reduction, want_loss, want_grad):
        loss_value = self.inputs.finish_loss(self.per_region(loss), reduction) if want_loss else None
        grad_value = self.inputs.finish_grad(np.broadcast_to(grad, self.shape), 0) if want_grad else None
        if want_loss and want_grad:
            return loss_value, grad_value
        return loss_value if want_loss else grad_value


class _LogitCounts(_Counts):
    """Validated logit maps, :math:`p = \\sigma(z)`, :math:`1 - p = \\sigma(-z)` and the soft counts from them."""

    __slots__ = ("complement", "far", "logits", "parts")

    def __init__(self, logits, target, axis, sums: bool = True, native: bool = True):
        self.inputs = Inputs({"logits": logits, "target": target}, native=native)
        logit_array, target_array = self.inputs.arrays
        check_not_nan(logit_array, "logits")
        check_in_closed_interval(target_array, "target", 0.0, 1.0)
        self.shape = check_shapes_broadcast(self.inputs.arrays, ["logits", "target"])
        self.axes = _summed_axes(axis, len(self.shape))
        self.logits = np.broadcast_to(logit_array, self.shape)
        self.target = np.broadcast_to(target_array, self.shape)
        # 1 - p as sigmoid(-z), not 1 - sigmoid(z): a saturated pixel's false-negative mass keeps its digits
        self.prob, self.complement, self.parts = _sigmoid_pair(self.logits)
        self.far = None
        if sums:
            self.add_sums()

    def far_parts(self):
        r"""``(z < 0, sigma(|z|), m, J)`` with :math:`\sigma(-|z|) = m\,2^{-J}` (see ``_small_sigmoid``), once."""
        if self.far is None:
            negative = self.logits < 0
            mantissa, exponent = _small_sigmoid(self.logits, np.where(negative, self.prob, self.complement))
            self.far = negative, np.where(negative, self.complement, self.prob), mantissa, exponent
        return self.far

    def far_counts(self, fp, fn):
        r"""FP and FN (double words) scaled; where every positive term of a region is :math:`\sigma(-|z|)` of a
        logit beyond 700, they are summed as :math:`m\,2^{K - J}` (``K`` their smallest ``J``), so the
        terms that round to 0 or lose their digits below the normal range still count."""
        out, changed = [], False
        for first, sums in ((True, fp), (False, fn)):
            exact = _scaled(*sums)
            if not np.any(sums[0] < _LIMITS[sums[0].dtype].scaled_below):  # a sum is at least its largest term
                out.append(exact)
                continue
            negative, big, mantissa, exponent = self.far_parts()
            weight, small = (1 - self.target, negative) if first else (self.target, ~negative)
            terms = weight * np.where(small, mantissa, big)
            term_exponent = np.where(small, exponent, 0)
            unset = np.iinfo(np.int64).max
            smallest = self.region_min(np.where(terms > 0, term_exponent, unset))
            smallest = np.where(smallest == unset, 0, smallest)
            if not np.any(smallest > 0):
                out.append(exact)
                continue
            far = _scaled(self.region_sum(np.ldexp(terms, smallest - term_exponent)))
            out.append(tuple(np.where(smallest > 0, f, e)
                             for f, e in zip((far[0], far[1], far[2] - smallest), exact, strict=True)))
            changed = True
        return (*out, changed)

    def has_far_logits(self) -> bool:
        r"""Whether some :math:`\sigma(-|z|)` is below 2^-960 (see ``scaled_slope``)."""
        return bool(np.any(self.parts[0] < _LIMITS[self.parts[0].dtype].scaled_below))

    def scaled_slope(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r""":math:`\sigma(z)\sigma(-z)` as ``(value, correction, J)``: ``value + correction`` times :math:`2^{-J}`."""
        value, correction = self.accurate_slope()
        _, big, mantissa, exponent = self.far_parts()
        far = exponent > 0
        if np.any(far):
            value, correction = np.where(far, big * mantissa, value), np.where(far, 0.0, correction)
        return value, correction, exponent

    def accurate_slope(self) -> tuple[np.ndarray, np.ndarray]:
        r""":math:`\sigma(z)\sigma(-z)` as ``(value, correction)``, about an ulp (see ``_accurate_slope``)."""
        return _accurate_slope(*self.parts)

    def complement_values(self) -> np.ndarray:
        return self.complement

    def release(self) -> None:
        self.prob = self.complement = self.parts = self.far = None

    def ratio(self, alpha, beta, smooth, scaled: bool = False, halved: bool = False,
              far_terms: bool = False) -> _OverlapRatio:
        return _OverlapRatio(self, self.complement, None, alpha, beta, smooth, scaled, halved, far_terms)

    def slope(self) -> np.ndarray:
        r""":math:`\partial p / \partial z = \sigma(z)\,\sigma(-z)`, each factor to an ulp."""
        return self.prob * self.complement


def _tversky_parts(counts: _Counts, alpha: float, beta: float, smooth: float):
    r"""Tversky's loss :math:`A / D` and its gradient, :math:`A = \alpha\,\mathrm{FP} + \beta\,\mathrm{FN}`, :math:`D = \mathrm{TP} + A + s`.

    :math:`\partial A/\partial p = \alpha(1 - t) - \beta t`, :math:`\partial D/\partial p = t + \partial A/\partial p`,
    so :math:`\partial \ell/\partial p = (\partial A/\partial p - \ell\,\partial D/\partial p)/D
    = (\partial A/\partial p\,(\mathrm{TP} + s) - A\,t)/D^2`, the form used: for a poor mask
    :math:`\ell` is close to 1 and :math:`1 - \ell` (in the first form) would carry the rounding of
    :math:`\ell` magnified by :math:`1/(1 - \ell)`; here :math:`\mathrm{TP} + s` is a sum of terms
    :math:`\ge 0`, and for a hard target the two terms have the same sign.
    """
    errors = alpha * counts.fp + beta * counts.fn
    hits = counts.tp + smooth
    denominator = hits + errors
    loss = errors / denominator
    t = counts.target
    d_errors = alpha * (1 - t) - beta * t
    grad = (d_errors * hits - errors * t) / denominator / denominator  # D^2 in two steps: no early under/overflow
    return loss, grad


# ------------------------------------------------------------ the overlap ratio to the last bits
# (a_i (TP + s) - A t_i) / D^2 in working precision rounds the region's sums, a_i = alpha (1 - t_i)
# - beta t_i (which cancels for soft targets), the difference and D twice: up to 6-7 ulp. Here the
# sums are exact (exact products, Rump-Ogita-Oishi extraction), the per-region quantities are double
# words (two-sum and Dekker's two-product, losslab._double_word), and the gradient is rounded once
# at the end. combo keeps the plain _tversky_parts: its Dice term is within 4 ulp of its own.


def _quick_two_sum(a, b):
    """``a + b = s + e`` exactly for ``|a| >= |b|``; ``e`` is 0 where ``s`` is not finite."""
    s = a + b
    with np.errstate(invalid="ignore"):
        e = b - (s - a)
    return s, np.where(np.isfinite(s), e, 0.0)


def _dw_divide(x_hi, x_lo, y_hi, y_lo):
    """``(x_hi + x_lo) / (y_hi + y_lo)`` as a double word (one correction of the rounded quotient)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        q = x_hi / y_hi
        p, e = two_product(q, y_hi)
        remainder = (((x_hi - p) - e) + x_lo) - q * y_lo
        return _quick_two_sum(q, np.where(np.isfinite(q), remainder / y_hi, 0.0))


def _exact_total(values: np.ndarray, lows, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    r"""The sum of ``values`` (>= 0) plus the small ``lows`` (or 0) over ``axes``, as a double word, keepdims.

    Rump, Ogita and Oishi's extraction ("Accurate floating-point summation", 2008): with
    :math:`\sigma = 2^k \ge 2 n \max_i x_i` per region, :math:`h_i = (\sigma + x_i) - \sigma` is
    :math:`x_i` cut to the multiples of :math:`\mathrm{ulp}(\sigma)`, so :math:`\sum h_i` is exact in
    any order (every partial sum is such a multiple below :math:`2^{53}\,\mathrm{ulp}(\sigma)`), and
    :math:`l_i = x_i - h_i` is exact and tiny: :math:`\sum l_i` (and ``lows``) added plainly are off
    by an ulp of an ulp of the sum. Three operations a pixel and two NumPy sums.

    In float32 an ulp of the sum is 2^-24 of it, and the leftovers (each below :math:`2^{-24} \sigma`, up to
    :math:`2 n^2 \max_i x_i` together) are not always small enough beside the sum for a plain sum of them: they
    are extracted again (up to three more times) until :math:`n \max_i |l_i|` is below :math:`2^{-12}` of the
    sum, so their plain sum's rounding (at most about :math:`20 u\,n \max_i |l_i|`) is below :math:`2^{-31}` of it.
    """
    count = 1
    for a in axes:
        count *= values.shape[a]
    bits = max(count, 1).bit_length() + 1
    largest = np.max(values, axis=axes, keepdims=True, initial=0.0)
    # 2^k >= 2 n max: frexp gives max < 2^e, and n <= 2^bit_length(n)
    sigma = np.ldexp(values.dtype.type(1.0), np.frexp(largest)[1] + bits)
    part = np.add(sigma, values, out=np.empty(np.shape(values), values.dtype))  # one scratch array, reused
    part -= sigma
    high = part.sum(axis=axes, keepdims=True)
    np.subtract(values, part, out=part)
    extra = None
    if values.dtype == np.float32:
        extra = _extract_again(part, high, count, bits, axes)
    if lows is not None:
        part += lows
    if extra is None:
        return two_sum(high, part.sum(axis=axes, keepdims=True))
    high, low = two_sum(high, extra[0])
    return dw.fast_two_sum_unchecked(high, low + (extra[1] + part.sum(axis=axes, keepdims=True)))


def _extract_again(part, high, count, bits, axes):
    """float32's further extractions of the leftovers ``part`` (in place): their exact sum as ``(hi, lo)``, or None."""
    extracted, extracted_low, chunk = None, None, None
    for _ in range(3):
        biggest = np.maximum(np.max(part, axis=axes, keepdims=True, initial=0.0),
                             -np.min(part, axis=axes, keepdims=True, initial=0.0))  # max |l| with no temporary
        if not np.any(biggest * np.float32(count) > np.abs(high) * np.float32(2.0**-12)):
            break
        sigma = np.ldexp(np.float32(1.0), np.frexp(biggest)[1] + bits)
        chunk = np.add(sigma, part, out=chunk)
        chunk -= sigma
        part -= chunk
        total = chunk.sum(axis=axes, keepdims=True)  # exact: multiples of ulp(sigma), below sigma
        if extracted is None:
            extracted, extracted_low = total, np.zeros_like(total)
        else:
            extracted, error = two_sum(extracted, total)
            extracted_low += error
    return None if extracted is None else (extracted, extracted_low)


def _soft_counts_float32(p, t, axes, complement=None):
    r"""TP, FP and FN of float32 maps and soft targets, each exact as a double word, with at most six maps alive
    (float32 maps are the large ones): :math:`p t = P + E` (Dekker), and per pixel :math:`p(1 - t) = p - p t` and
    :math:`(1 - p)\,t = t - p t`, where :math:`p - P` and :math:`t - P` are fast two-sums (:math:`P \le p, t`);
    for logits :math:`\sigma(-z)\,t` from its own product (``complement``: :math:`1 - p` is not :math:`\sigma(-z)`)."""
    product, error = _product_float32(p, t)
    tp = _exact_total(product, error, axes)
    counts = []
    for whole in (p, t) if complement is None else (p,):
        difference = whole - product
        low = whole - difference
        low -= product  # whole - P = difference + low exactly
        low -= error
        counts.append(_exact_total(difference, low, axes))
        del difference, low
    if complement is not None:
        del product, error
        counts.append(_exact_total(*_product_float32(complement, t), axes))
    return tp, *counts


def _product_float32(a, b):
    """Dekker's exact ``a b = p + e`` of float32 maps in [0, 1], in place: six maps at most (``dw.two_product``
    holds eight)."""
    constant = dw._VELTKAMP[np.dtype(np.float32)]  # 2^12 + 1: Veltkamp's split of a float32
    product = a * b
    a_high = a * constant
    a_high -= a_high - a
    b_high = b * constant
    b_high -= b_high - b
    error = a_high * b_high
    error -= product
    b_low = b - b_high
    error += a_high * b_low
    np.subtract(a, a_high, out=a_high)  # now a's low half
    error += a_high * b_high
    error += a_high * b_low
    return product, error


def _sigmoid_pair(z: np.ndarray):
    r"""``(sigma(z), sigma(-z), (w, S, s))`` from one exponential, each sigmoid within about an ulp.

    :math:`w = e^{-|z|}`, :math:`1 + w = S + s` exactly (two-sum, :math:`1 \ge w`), and
    :math:`\sigma(|z|) = 1/(S + s)`, :math:`\sigma(-|z|) = w/(S + s)`, each one division corrected by
    :math:`(1 - s/S)`: the rounding of :math:`1 + w` does not enter. The parts give the slope too.
    """
    # float32's np.exp is up to 2.4 ulp off, which every count of a saturated map would carry: dw.exp is within half
    w = np.exp(-np.abs(z)) if z.dtype != np.float32 else dw.exp_by_blocks(-np.abs(z), _EXP_BLOCK)
    one_plus = 1.0 + w
    error = w - (one_plus - 1.0)
    correction = error / one_plus
    big = 1.0 / one_plus
    big -= big * correction
    small = w / one_plus
    small -= small * correction
    positive = z >= 0
    return np.where(positive, big, small), np.where(positive, small, big), (w, one_plus, error)


#: dw.exp's temporaries are about 18 arrays of its argument's size: a large map is taken in blocks
_EXP_BLOCK = 1 << 13


def _accurate_slope(w, one_plus, error) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`\sigma(z)\sigma(-z) = w / (1 + w)^2` as ``(value, correction)``, :math:`1 + w = S + s`: about an ulp.

    One division by :math:`P = \mathrm{fl}(S^2)`, whose error is exact too: :math:`S^2 = P + e`
    (Dekker's product of the Veltkamp halves of :math:`S \in [1, 2]`), so :math:`(1 + w)^2 = P + e +
    2 S s` to working precision and the correction is :math:`-\text{value}\,(e + 2 S s)/P`. The
    product of two rounded sigmoids would be up to 3 ulp off.
    """
    high, low = dw.split_unchecked(one_plus)  # Veltkamp's split of S (2^27 + 1 in float64, 2^12 + 1 in float32)
    product = one_plus * one_plus
    product_error = ((high * high - product) + 2.0 * high * low) + low * low
    value = w / product
    return value, -value * ((product_error + 2.0 * one_plus * error) / product)


class _OverlapRatio:
    r"""Tversky's ratio :math:`T = A/D` of every region and :math:`\partial T/\partial p_i` to about an ulp.

    :math:`\mathrm{TP} = \sum p t`, :math:`\mathrm{FP} = \sum p (1 - t)`, :math:`\mathrm{FN} = \sum q t`
    (``q`` is :math:`1 - p`, exactly: with its rounding error for probabilities, :math:`\sigma(-z)` for
    logits) are double words (``_exact_total``), and so are :math:`H = \mathrm{TP} + s`,
    :math:`A = \alpha\,\mathrm{FP} + \beta\,\mathrm{FN}`, :math:`D = H + A` and :math:`1/D`. For a hard
    target the gradient takes two values per region, :math:`\alpha H / D^2` (t = 0) and
    :math:`-(\beta H + A)/D^2` (t = 1), each a double word; for a soft one
    :math:`a_i = \alpha(1 - t_i) - \beta t_i` and :math:`a_i H - A t_i` are double words per pixel
    (``a_i`` cancels when :math:`\alpha(1 - t) \approx \beta t`, e.g. t = 0.3 with the default
    weights, and the difference cancels for soft targets too).
    """

    def __init__(self, counts, complement, complement_low, alpha, beta, smooth, scaled=False, halved=False,
                 far_terms=False):
        p, t, axes = counts.prob, counts.target, counts.axes
        dtype = p.dtype
        limits = _LIMITS[dtype]
        self.t, self.alpha, self.beta = t, _word(alpha, dtype), _word(beta, dtype)
        self.one = t == 1
        self.hard = bool(np.all(self.one | (t == 0)))
        if self.hard:  # p t, p (1 - t) = p - p t and q t are exact
            hits = p * t
            tp = _exact_total(hits, None, axes)
            fp = _exact_total(np.subtract(p, hits, out=np.empty_like(hits)), None, axes)
            if complement is None:  # probabilities: q t = t - p t, with its rounding error (exact: Sterbenz)
                misses = t - hits
                misses_low = np.subtract(t, misses, out=np.empty_like(misses))
                misses_low -= hits
                fn = _exact_total(misses, misses_low, axes)
            else:
                fn = _exact_total(complement * t, None, axes)
        elif dtype == np.float32:
            tp, fp, fn = _soft_counts_float32(p, t, axes, complement)
        else:  # the products' rounding errors (two-product) go into the low parts
            if complement is None:  # 1 - p and its rounding error: both subtractions exact (Sterbenz)
                complement = 1 - p
                complement_low = (1 - complement) - p
            tp = _exact_total(*two_product(p, t), axes)
            rest, rest_low = two_sum(1.0, -t)  # 1 - t exactly
            fp_hi, fp_lo = two_product(p, rest)
            fp = _exact_total(fp_hi, fp_lo + p * rest_low, axes)
            fn_hi, fn_lo = two_product(complement, t)
            fn = _exact_total(fn_hi, fn_lo if complement_low is None else fn_lo + complement_low * t, axes)
        self.scaled = None
        if scaled or not _moderate(alpha, beta, smooth / 2 if halved else smooth, limits):  # "parameters far from 1"
            self._scale(tp, *counts.far_counts(fp, fn)[:2], smooth, halved)
            return
        self.hits = add(*tp, *_word(smooth / 2 if halved else smooth, dtype))
        self.errors = add(*multiply(*fp, *self.alpha), *multiply(*fn, *self.beta))
        if far_terms and np.any(self.errors[0] < limits.scaled_below):
            # every error term of a region far below the normal range (saturated logits, subnormal
            # probabilities): they may round to 0 while alpha FP / s is an ordinary number
            far_fp, far_fn, changed = counts.far_counts(fp, fn)
            if changed:
                self._scale(tp, far_fp, far_fn, smooth, halved)
                return
        self.denominator = add(*self.hits, *self.errors)
        self.inverse = _dw_divide(1.0, 0.0, *self.denominator)

    def _scale(self, tp, fp, fn, smooth, halved):
        """Carry the region's quantities scaled (see "parameters far from 1")."""
        mantissa, low, exponent = _scaled(*_word(smooth, tp[0].dtype), dtype=tp[0].dtype)
        self.scaled = _ScaledOverlap(_scaled(*tp), fp, fn, self.alpha, self.beta, (mantissa, low, exponent - halved))

    def loss(self) -> np.ndarray:
        return self.loss_word()[0]

    def loss_word(self) -> tuple:
        """The loss as a double word (the scaled path's rounded value and 0)."""
        if self.scaled is not None:
            return self.scaled.loss(), 0.0
        return _dw_divide(*self.errors, *self.denominator)

    def _over_square(self, numerator):
        """``numerator / D^2`` as a double word, ``1/D`` applied twice (``1/D^2`` could overflow)."""
        return multiply(*multiply(*numerator, *self.inverse), *self.inverse)

    def grad(self, slope=None, factor=None, word: bool = False):
        r""":math:`\partial T/\partial p_i`, times the region's ``factor`` and the pixel's ``slope`` (value,
        correction) if given, rounded once; 0 where :math:`\partial T/\partial p_i` is 0 (whatever the factor).

        The factor (focal Tversky's :math:`\gamma T^{\gamma - 1}`, up to 1e75 or more for a tiny
        :math:`T`) is applied before the slope, so :math:`\partial T \cdot` slope cannot pass through the
        subnormal range on its way to a normal result. ``word``: as an unrounded ``(high, low)`` (the scaled
        path's rounded value and 0), for a caller that adds another term first.
        """
        if self.scaled is not None:
            if slope is not None and len(slope) == 2:
                slope = (*slope, 0)
            grad = self.scaled.grad(self.t, self.one, self.hard, slope, factor)
            return (grad, 0.0) if word else grad
        if self.hard:
            negative_errors = (-self.errors[0], -self.errors[1])
            background = self._over_square(multiply(*self.hits, *self.alpha))
            minus_beta = (-self.beta[0], -self.beta[1] if self.beta[1] else 0.0)  # float64: -beta and +0.0, as before
            foreground = self._over_square(add(*multiply(*self.hits, *minus_beta), *negative_errors))
            if factor is not None:
                background, foreground = (_times_factor(*part, factor) for part in (background, foreground))
            if slope is None and not word:
                return np.where(self.one, foreground[0], background[0])
            high = np.where(self.one, foreground[0], background[0])
            low = np.where(self.one, foreground[1], background[1])
        elif self.t.dtype == np.float32 and (factor is None or np.all(np.isfinite(factor))):
            high, low = _linear_grad_of(self, factor)
            if slope is None:
                return (high, low) if word else high + low
        else:
            t = self.t
            rest, rest_low = two_sum(1.0, -t)
            beta_t = two_product(-self.beta[0], t)
            if self.beta[1] != 0:  # float32's beta has a low part
                beta_t = (beta_t[0], beta_t[1] - self.beta[1] * t)
            d_errors = add(*multiply(rest, rest_low, *self.alpha), *beta_t)
            # (a_i H/D - t_i E/D)/D: H/D and E/D are at most 1, so a tiny a_i or t_i times a tiny D does not
            # pass through the subnormal range (a_i H - t_i E came out 1e-320 for a gradient of 1e-280)
            hits, errors = multiply(*self.hits, *self.inverse), multiply(*self.errors, *self.inverse)
            numerator = add(*multiply(*d_errors, *hits), *multiply(*errors, -t, 0.0))
            high, low = multiply(*numerator, *self.inverse)
            if factor is not None:
                high, low = _times_factor(high, low, factor)
            if slope is None:
                return (high, low) if word else high
        # (high + low)(s + c) = high s + (low s + high c), rounded twice: about an ulp beside the slope's;
        # + 0.0 turns the -0.0 of a negative gradient times a slope of 0 (an infinite logit) into 0; an
        # infinite focal factor times a slope of 0 (NaN) is only where focal Tversky's far path replaces it
        if slope is None:
            return high, low
        with np.errstate(invalid="ignore"):
            if word:
                return high * slope[0], low * slope[0] + high * slope[1]
            return high * slope[0] + (low * slope[0] + high * slope[1]) + 0.0


def _linear_grad_of(ratio: _OverlapRatio, factor):
    r"""float32's soft-target :math:`\partial T/\partial p_i = g_0 - t_i c` (times ``factor``), unrounded.

    :math:`a_i H - A t_i = \alpha H - t_i((\alpha + \beta) H + A)`, so with the region's double words
    :math:`g_0 = \alpha H/D^2` and :math:`c = ((\alpha + \beta) H + A)/D^2` (no cancellation in either) a pixel
    costs one two-product and one two-sum, where the float64 form's per-pixel :math:`a_i`, :math:`a_i H - A t_i`
    and :math:`1/D^2` in double words take about three times the time and twice the memory (float32 maps are the
    large ones). The cancellation of :math:`g_0` against :math:`t_i c` is kept to about :math:`2^{-44}` of them."""
    g0 = ratio._over_square(multiply(*ratio.hits, *ratio.alpha))
    weights = _word(float(ratio.alpha[0]) + float(ratio.alpha[1]) + float(ratio.beta[0]) + float(ratio.beta[1]),
                    np.float32)
    c = ratio._over_square(add(*multiply(*ratio.hits, *weights), *ratio.errors))
    if factor is not None:
        g0, c = (_times_factor(*part, factor) for part in (g0, c))
    # t c = P + E (Dekker; c's halves are the region's) and g0 - P = high + low (Knuth), in place: maps are large
    t, (c_high, c_low) = ratio.t, dw.split_unchecked(np.asarray(c[0]))
    product = t * c[0]
    t_high = t * dw._VELTKAMP[np.dtype(np.float32)]
    t_high -= t_high - t
    error = t_high * c_high
    error -= product
    error += t_high * c_low
    np.subtract(t, t_high, out=t_high)  # t's low half
    error += t_high * c_high
    error += t_high * c_low
    error += t * c[1]
    del t_high
    high = g0[0] - product
    virtual = high - g0[0]  # -P as the sum saw it
    low = high - virtual
    np.subtract(g0[0], low, out=low)  # g0's part of the rounding error
    product += virtual
    low -= product  # and -P's: -(P + virtual)
    low -= error
    low += g0[1]
    return high, low


def _times_factor(high, low, factor):
    """The double word ``high + low`` times the float ``factor``; 0 where ``high`` is 0 (also for an infinite factor)."""
    infinite = ~np.isfinite(factor)  # T = 0 with gamma < 1: the gradient is +-inf where dT is not 0
    with np.errstate(invalid="ignore", over="ignore"):
        product = multiply(high, low, np.where(infinite, 1.0, factor), 0.0)
        high_product = np.where(infinite, high * factor, product[0])
    zero = high == 0
    return np.where(zero, 0.0, high_product), np.where(zero | infinite, 0.0, product[1])


def _finish_ratio(counts, ratio: _OverlapRatio, reduction, want_loss, want_grad, slope=None):
    """A Tversky-type loss (Dice, IoU, Tversky) and its gradient from ``ratio``, reduced and shaped."""
    return counts.finish(ratio.loss() if want_loss else None, ratio.grad(slope) if want_grad else None,
                         reduction, want_loss, want_grad)


def _check_smooth(smooth) -> float:
    return POSITIVE.validate(smooth, "smooth")


# ------------------------------------------------------------ parameters far from 1
# alpha and beta may be anything from 0 to float max and smooth anything from 5e-324 to float max. Far
# from 1, alpha FP, alpha (TP + s), 1/D or D^2 overflow or underflow (or 1/D is subnormal, with few
# digits) while the loss and its gradient are ordinary numbers. Outside [2^-100, 2^100] (float32:
# [2^-20, 2^20], where alpha (TP + s), D and 1/D of 2^24 pixels keep 2^40 from the range's ends) a region's
# quantities are therefore carried as a double-word mantissa and an integer exponent: (hi, lo, e) is
# (hi + lo) 2^e with hi in [1/2, 1) (or 0). The ratio and its gradient are rounded once, by ldexp, at
# the end, so they over- or underflow only where the true value is outside the float range (a result
# below the normal range within a subnormal step). Inside that range the plain double words above are
# used (bit for bit as before; the scaled path costs a few dozen extra NumPy calls per call).
# What can still lose digits: a soft target whose two gradient terms (1 - t) alpha H and t (beta H + A)
# cancel beyond double-word precision (a one-pixel region with a soft target and a tiny smooth and beta:
# the same as on the plain path); focal Tversky of logits with gamma >> 1 (the rounded sigmoids' ulp
# times gamma); |z| > 7e5 counted as 7e5 (only gamma below about 1e-6 can tell); and T^gamma below
# 2^-4000 (gamma in the thousands), whose gradient is then 0 even where gamma T^(gamma - 1) dT is not.
# In float32 a gamma that is not a float32 (0.3) also takes the scaled path, which carries its low part.

# (_LIMITS: alpha, beta (or 0) and smooth inside [2^-100, 2^100] keep the plain double words; gamma inside
# [2^-100, 4] keeps focal Tversky's T^gamma from the rounded T, whose error grows like gamma ulp)
#: the exponent of "no term": below any real one
_NO_EXPONENT = -(2**40)
#: the exponent that stands for an infinite factor (focal Tversky's gamma T^(gamma - 1) at T = 0, gamma < 1)
_INFINITE_EXPONENT = 2**20


def _moderate_gamma(gamma, limits: _Limits) -> bool:
    """gamma in [2^-100, 4] (float32: [2^-20, 4]) with gamma - 1 exact (the plain factor's T^(gamma - 1) would
    carry its rounding times |log T|: 27 ulp at gamma = 1e-5, T = 1e-48); in float32 gamma must be a float32."""
    low, high = limits.moderate_gamma
    if limits.dtype == np.float32:
        return low <= gamma <= high and float(np.float32(gamma)) == gamma and float(np.float32(gamma) - 1) == gamma - 1
    return low <= gamma <= high and two_sum(gamma, -1.0)[1] == 0


def _moderate(alpha, beta, smooth, limits: _Limits) -> bool:
    low, high = limits.moderate
    return all(value == 0 or low <= value <= high for value in (alpha, beta)) and low <= smooth <= high


def _scaled(hi, lo=0.0, dtype=None):
    """``hi + lo`` as ``(mantissa_hi, mantissa_lo, exponent)``, the mantissa in [1/2, 1) (0 for 0), in ``dtype``
    (default: ``hi``'s; a Python float is float64)."""
    mantissa, exponent = np.frexp(np.asarray(hi, dtype=dtype))
    return mantissa, np.ldexp(np.asarray(lo, mantissa.dtype), -exponent), exponent.astype(np.int64)


def _renormalized(hi, lo, exponent):
    mantissa, shift = np.frexp(hi)
    return mantissa, np.ldexp(lo, -shift), exponent + shift


def _scaled_product(x, y):
    return _renormalized(*multiply(x[0], x[1], y[0], y[1]), x[2] + y[2])


def _scaled_quotient(x, y):
    """``x / y`` for ``y`` not 0."""
    return _renormalized(*_dw_divide(x[0], x[1], y[0], y[1]), x[2] - y[2])


def _common_exponent(x, y):
    """The larger exponent of two scaled numbers, ignoring zeros (0 if both are 0)."""
    exponent = np.maximum(np.where(x[0] != 0, x[2], _NO_EXPONENT), np.where(y[0] != 0, y[2], _NO_EXPONENT))
    return np.where(exponent == _NO_EXPONENT, 0, exponent)


def _aligned(x, exponent):
    """The mantissa of ``x`` as a double word times 2^-exponent (parts far below the larger term round away)."""
    return np.ldexp(x[0], x[2] - exponent), np.ldexp(x[1], x[2] - exponent)


def _scaled_sum(x, y):
    exponent = _common_exponent(x, y)
    return _renormalized(*add(*_aligned(x, exponent), *_aligned(y, exponent)), exponent)


def _unscaled(x):
    """The float nearest the scaled number (the high part rounded once; +-inf past float max)."""
    with np.errstate(over="ignore"):
        return np.ldexp(x[0], x[2])


class _ScaledOverlap:
    r"""Tversky's :math:`T = A/D`, :math:`1 - T = H/D` and :math:`\partial T/\partial p` of every region, scaled.

    ``tp``, ``fp``, ``fn`` and ``smooth`` are scaled; ``alpha`` and ``beta`` any valid floats.
    The gradient of a pixel is :math:`(1 - t_i)\,g_0 + t_i\,g_1` with the region's
    :math:`g_0 = \alpha H/D^2` and :math:`g_1 = -(\beta H + A)/D^2` (the two values of a hard target).
    """

    def __init__(self, tp, fp, fn, alpha, beta, smooth):
        weight_fp, weight_fn = _scaled(*alpha), _scaled(*beta)
        hits = _scaled_sum(tp, smooth)
        errors = _scaled_sum(_scaled_product(weight_fp, fp), _scaled_product(weight_fn, fn))
        denominator = _scaled_sum(hits, errors)
        square = _scaled_product(denominator, denominator)
        self.ratio = _scaled_quotient(errors, denominator)
        self.complement = _scaled_quotient(hits, denominator)
        self.background = _scaled_quotient(_scaled_product(weight_fp, hits), square)
        hi, lo, exponent = _scaled_quotient(_scaled_sum(_scaled_product(weight_fn, hits), errors), square)
        self.foreground = (-hi, -lo, exponent)

    def loss(self) -> np.ndarray:
        return _unscaled(self.ratio)

    def grad(self, t, one, hard, slope=None, factor=None) -> np.ndarray:
        """As ``_OverlapRatio.grad``; ``factor`` is scaled, ``slope`` is (value, correction, exponent)."""
        background, foreground = self.background, self.foreground
        if factor is not None:
            background, foreground = _scaled_product(background, factor), _scaled_product(foreground, factor)
        if hard and slope is None:  # each of the region's two values rounded once, then placed
            return np.where(one, _unscaled(foreground), _unscaled(background))
        if hard:
            high, low, exponent = (np.where(one, f, b) for f, b in zip(foreground, background, strict=True))
        else:  # (1 - t) g0 + t g1 in double words: the two terms cancel where alpha (1 - t) H ~ t (beta H + A)
            exponent = _common_exponent(background, foreground)
            rest, rest_low = two_sum(1.0, -t)
            high, low = add(*multiply(rest, rest_low, *_aligned(background, exponent)),
                            *multiply(t, 0.0, *_aligned(foreground, exponent)))
            # a hard pixel of a soft map takes its own term at its own exponent: aligned, g0 may have
            # rounded away beside a g1 2^1000 times larger (beta = 1e300, alpha = 1e-300)
            zero = t == 0
            high, low, exponent = (np.where(one, f, np.where(zero, b, m)) for f, b, m in
                                   zip(foreground, background, (high, low, exponent), strict=True))
        with np.errstate(over="ignore"):
            if slope is None:
                return np.ldexp(high, exponent)
            value, correction, slope_exponent = slope
            # + 0.0: the -0.0 of a negative gradient times a slope of 0 (an infinite logit) is 0
            return np.ldexp(high * value + (low * value + high * correction), exponent - slope_exponent) + 0.0


def _scaled_pow(base, gamma):
    """``base ** gamma`` for ``base`` in [1/2, 1], scaled; below 2^-1000 as ``(base ** (gamma / 2^j)) ** (2^j)``
    (j <= 3, squared in double words), which keeps its digits where the plain power is subnormal."""
    power = base**gamma
    result = _scaled(power)
    below = _LIMITS[power.dtype].pow_small  # 2^-1000 (float32: 2^-104)
    small = power < below
    if np.any(small):
        halvings, root = 1, base ** (gamma / 2)
        while halvings < 3 and np.any(small & (root < below)):
            halvings += 1
            root = base ** (gamma / 2**halvings)
        squared = _scaled(root)
        for _ in range(halvings):
            squared = _scaled_product(squared, squared)
        result = tuple(np.where(small, q, r) for q, r in zip(squared, result, strict=True))
    return result


def _scaled_exp_of_negative(argument):
    r""":math:`e^{-a}` of a scaled double word :math:`a \ge 0`, scaled: :math:`2^{-k} e^{-a + k \log 2}`
    (Cody-Waite, ``k`` an integer), so a result below the normal range keeps its digits."""
    shift = np.minimum(argument[2], 12)  # a >= 2^11: e^-a is 0 in any result
    a_hi, a_lo = np.ldexp(argument[0], shift), np.ldexp(argument[1], shift)
    if a_hi.dtype == np.float32:
        whole = np.floor(a_hi * np.float32(1 / np.log(2.0)))
        return _renormalized(dw.exp(*_ln2_multiple_minus(whole, a_hi, a_lo)), np.float32(0.0),
                             -whole.astype(np.int64))
    whole = np.floor(a_hi / np.log(2.0))
    high, low = two_sum(whole * _LN2_HI - a_hi, whole * _LN2_LO - a_lo)
    return _renormalized(np.exp(high) * (1.0 + low), 0.0, -whole.astype(np.int64))


#: ln 2 as three float32 parts (the first its float32 rounding), for the reductions of float32 arguments
def _ln2_parts32():
    c1 = np.float32(np.log(2.0))
    c2 = np.float32(np.log(2.0) - float(c1))  # float64's ln 2 (53 bits) less c1 is exact
    return c1, c2, np.float32(np.log(2.0) - float(c1) - float(c2))


_LN2_32 = _ln2_parts32()


def _ln2_multiple_minus(whole, x_hi, x_lo=None):
    r""":math:`J \log 2 - (x_{hi} + x_{lo})` as a float32 double word, for integers :math:`J < 2^{24}` near
    :math:`x/\log 2`: :math:`J c_1` is exact as a two-product, its high part minus :math:`x` exact (Sterbenz),
    and the rest (below :math:`2^{-24} J`) is added with an error far below the result's ulp."""
    c1, c2, c3 = _LN2_32
    product, error = dw.two_product_unchecked(whole, c1)
    tail = error + whole * c2 + whole * c3
    if x_lo is not None:
        tail -= x_lo
    return two_sum(product - x_hi, tail)


def _exp2_of_negative(fraction, correction):
    r""":math:`2^{-f} e^{c}` for a small :math:`f` and correction :math:`c`: float64's ``exp2`` and ``exp``;
    float32's ``exp2`` is up to an ulp off, so there :math:`e^{c - f \log 2}` by ``dw.exp`` (half an ulp)."""
    if fraction.dtype != np.float32:
        return np.exp2(-fraction) * np.exp(correction)
    c1, c2, _ = _LN2_32
    high, low = dw.two_product_unchecked(-fraction, c1)
    low += correction - fraction * c2
    return dw.exp(high, low)


def _scaled_focal_factor(ratio: _ScaledOverlap, gamma: float):
    r"""``(T^gamma, gamma T^(gamma - 1))`` of every region, both scaled, for any gamma > 0.

    For :math:`T = m\,2^{-K}` below 1/2, :math:`T^\gamma = m^\gamma\,2^{-K\gamma}` with :math:`K\gamma
    = n + f` split exactly (Dekker's product; 0 once :math:`K\gamma > 4000`) and :math:`m^\gamma` from
    the double word :math:`m` as :math:`\mathrm{pow}(m_{hi}, \gamma)\,e^{\gamma m_{lo}/m_{hi}}`. Above
    1/2, the same from :math:`T` itself while :math:`1 - T = H/D \ge 2^{-30}` (then :math:`T^\gamma`
    is 0 unless :math:`\gamma < 2^{40}`), and below that :math:`T^\gamma = e^{\gamma \log(1 - u)}`,
    :math:`u = H/D`, with :math:`\log(1 - u) = -u(1 + u/2 + u^2/3)` and :math:`\gamma u` in double
    words: the rounded :math:`T` is 1 there, which ``T ** gamma`` would keep for any gamma.
    """
    m_hi, m_lo, exponent = ratio.ratio
    dtype = m_hi.dtype
    gamma_hi, gamma_lo = _word(gamma, dtype)  # float32: gamma's rounding is carried, times log T
    zero = m_hi == 0
    near_one = exponent >= 0
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        # below 1/2: T^gamma = m^gamma 2^-(n + f); from 1/2 up (K = 0): pow of the double word T itself
        scale = np.maximum(-exponent, 0).astype(dtype)
        # float32: gamma beyond 2^64 makes K gamma > 4000 for every K >= 1 just as well (and dw's split of a float32
        # near its max overflows)
        high, low = two_product(scale, dtype.type(min(gamma_hi, 2.0**64) if dtype == np.float32 else gamma_hi))
        if gamma_lo:
            low = low + scale * gamma_lo
        beyond = high > 4000.0  # T^gamma < 2^-3000 (m^gamma <= 1): 0
        whole = np.rint(np.minimum(high, 4000.0))
        fraction = np.where(beyond, 0.0, (high - whole) + low)
        base = np.where(zero, 0.5, np.ldexp(m_hi, np.maximum(exponent, 0)))
        base_low = np.ldexp(m_lo, np.maximum(exponent, 0))
        power = _scaled_pow(base, gamma_hi)
        lifted = gamma * (base_low / base)  # (1 + lo/hi)^gamma
        if gamma_lo:
            lifted = lifted + gamma_lo * np.log(base)
        correction = np.where(beyond | (power[0] == 0), 0.0, lifted)
        power = _scaled_product(power, (_exp2_of_negative(fraction, correction), 0.0, -whole.astype(np.int64)))
        # 1 - T below 2^-30: exp(gamma log(1 - u)), -gamma u (1 + u/2 + u^2/3) as a scaled double word
        u = _unscaled(ratio.complement)
        series = 1.0 + u * (0.5 + u / 3.0)
        scaled_gamma = _scaled(gamma_hi, gamma_lo, dtype)
        from_log = _scaled_exp_of_negative(
            _scaled_product(_scaled_product(scaled_gamma, ratio.complement), (series, 0.0, 0)))
        from_log_here = near_one & (ratio.complement[2] <= -30)
        power = tuple(np.where(zero, 0, np.where(from_log_here, g, p)) for g, p in zip(from_log, power, strict=True))
    # gamma T^(gamma - 1) = gamma T^gamma / T; at T = 0 it is 0 (gamma > 1), 1 (gamma = 1) or infinite
    denominator = (np.where(zero, 0.5, m_hi), np.where(zero, 0.0, m_lo), exponent)
    factor = _scaled_product(scaled_gamma, _scaled_quotient(power, denominator))
    at_zero = (_scaled(0.0 if gamma > 1 else 1.0, dtype=dtype) if gamma >= 1
               else (dtype.type(0.5), dtype.type(0.0), _INFINITE_EXPONENT))
    factor = tuple(np.where(zero, z, f) for z, f in zip(at_zero, factor, strict=True))
    return power, factor


# ------------------------------------------------------------ focal Tversky far below the normal range
# T = A / D with A below float64's normal range (saturated logits, subnormal probabilities) has few
# significant bits or none, while T^gamma (gamma < 1) and the gradient's T^(gamma - 1) are ordinary
# numbers. The counts are then carried as A 2^K (K an integer), and the powers of 2 split off exactly.

# (the thresholds are per dtype, in _LIMITS: regions whose largest term is below scaled_below are summed scaled
# by a power of two; beyond far_logit sigma(-|z|) is carried as a mantissa and a power of two; |z| is capped at
# logit_cap = 7e5 for that power (J < 2^21, so J ln2_hi is exact), e^-700000 being 0 in any result)
# Cody and Waite's split of log 2 (fdlibm's): _LN2_HI has 32 significant bits, so J _LN2_HI is exact
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10


def _small_sigmoid(z: np.ndarray, small: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""``(m, J)`` with :math:`\sigma(-|z|) = m\,2^{-J}` to working precision, ``m`` a normal float.

    ``J = 0`` and ``m`` the plain :math:`\sigma(-|z|)` for :math:`|z| \le 700`; beyond,
    :math:`\sigma(-|z|) = e^{-|z|}` (the 1 + e^{-|z|} of the denominator rounds to 1) and
    :math:`e^{-|z|} = 2^{-J} e^{r}` with :math:`J = \mathrm{rint}(|z|/\log 2)` and
    :math:`r = -|z| + J \log 2` formed exactly (Cody-Waite: :math:`J\,\log 2_{hi}` is exact and
    :math:`-|z| + J \log 2_{hi}` is Sterbenz-exact; the two-sum's error goes into :math:`e^r (1 + \epsilon)`).
    ``small`` is :math:`\sigma(-|z|)` as computed (the smaller of the two sigmoids); ``m = 0`` at an
    infinite logit.
    """
    size = np.abs(z)
    limits = _LIMITS[size.dtype]
    mantissa = np.array(small, dtype=size.dtype)
    exponent = np.zeros(size.shape, dtype=np.int64)
    far = (size > limits.far_logit) & np.isfinite(size)
    if np.any(far):
        capped = np.minimum(size[far], limits.logit_cap)
        if capped.dtype == np.float32:  # |z| > 78: J ln 2 - |z| in float32 double words, e^r by dw.exp
            whole = np.rint(capped * np.float32(1 / np.log(2.0)))
            mantissa[far] = dw.exp(*_ln2_multiple_minus(whole, capped))
        else:
            whole = np.rint(capped / np.log(2.0))
            high, low = two_sum(whole * _LN2_HI - capped, whole * _LN2_LO)
            mantissa[far] = np.exp(high) * (1 + low)
        exponent[far] = whole.astype(np.int64)
    mantissa[np.isinf(size)] = 0.0
    return mantissa, exponent


class _FocalPower:
    r""":math:`T^\gamma` and :math:`\gamma T^{\gamma-1} \partial T/\partial p_i` from a region's scaled counts.

    ``errors`` is :math:`A\,2^K` (per region), ``scale`` the integer :math:`K \ge 0`. With
    :math:`D = (\mathrm{TP} + s) + A` and :math:`R = A 2^K / D`, :math:`T = R\,2^{-K}` and
    :math:`T^\gamma = R^\gamma\,2^{-K\gamma}`, where :math:`K\gamma = n + f` is split exactly
    (Dekker's two-product, :math:`n` an integer, :math:`|f| \le 1/2`): :math:`T^\gamma =
    \mathrm{ldexp}(R^\gamma 2^{-f}, -n)`, a few roundings whatever :math:`K`. Taking the powers
    from :math:`\log T` instead makes the rounding of :math:`\log T` (size :math:`|\log T|`, up to
    hundreds) their relative error. At :math:`K = 0` it is exactly ``(A/D)**gamma``.
    """

    def __init__(self, errors, scale, tp, smooth, gamma):
        self.scale = scale
        self.scaled = bool(np.any(scale))
        self.hits = tp + smooth
        self.errors = np.ldexp(errors, -scale) if self.scaled else errors  # A (perhaps rounded to 0 beside TP + s)
        self.denominator = self.hits + self.errors
        self.ratio = errors / self.denominator
        self.gamma = gamma
        self.whole, self.factor = 0, 1.0
        if self.scaled:
            high, low = two_product(scale.astype(errors.dtype), errors.dtype.type(gamma))
            whole = np.rint(high)
            self.factor = _exp2_of_negative((high - whole) + low, 0.0)  # 2^-f, exactly 1 where K = 0
            self.whole = whole.astype(np.int64)

    def loss(self) -> np.ndarray:
        if not self.scaled:
            return self.ratio**self.gamma
        return np.ldexp(self.ratio**self.gamma * self.factor, -self.whole)

    def grad(self, d_errors, t, slope, slope_exponent) -> np.ndarray:
        r""":math:`\gamma T^{\gamma-1} (a_i (\mathrm{TP}+s) - A t_i)/D^2` times the slope :math:`m_i 2^{-J_i}`.

        ``d_errors`` is :math:`a_i = \alpha(1 - t_i) - \beta t_i`. Where :math:`a_i = 0` only
        :math:`-\gamma T^\gamma t_i / D` is left, formed from :math:`T^\gamma`: :math:`A t_i` may be
        below the float range there. 0 where :math:`\partial T/\partial p_i` or the slope is 0.
        """
        gamma, ratio, denominator = self.gamma, self.ratio, self.denominator
        numerator = d_errors * self.hits - self.errors * t
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # gamma T^(gamma - 1) dT: at T = 0 the factor is 0 (gamma > 1), 1 (gamma = 1) or infinite
            # (gamma < 1: the loss rises like T^gamma, with a vertical tangent)
            grad = gamma * ratio ** (gamma - 1) * self.factor * (numerator / denominator / denominator) * slope
            if self.scaled or np.any(slope_exponent):
                grad = np.ldexp(grad, self.scale - self.whole - slope_exponent)
            if self.scaled:
                only_second = -gamma * ratio**gamma * self.factor * (t / denominator) * slope
                grad = np.where(d_errors == 0, np.ldexp(only_second, -self.whole - slope_exponent), grad)
        return np.where((numerator == 0) | (slope == 0), 0.0, grad)


# ------------------------------------------------------------ soft Dice


def _dice(prob, target, axis, smooth, want_loss, want_grad, reduction="mean"):
    smooth = _check_smooth(smooth)
    counts = _Counts(prob, target, axis, sums=False, native=_native(prob, smooth))
    # Dice = (2TP + s)/(2TP + FP + FN + s): Tversky with alpha = beta = 1/2 and smoothing s/2
    return _finish_ratio(counts, counts.ratio(0.5, 0.5, smooth, halved=True, far_terms=True), reduction, want_loss,
                         want_grad)


def soft_dice(prob, target, *, smooth: float = 1.0, axis=None, reduction: str = "mean"):
    r"""Soft Dice loss: one minus the soft Dice coefficient (F1 score) of a probability map.

    .. math:: \ell = 1 - \frac{2\sum p t + s}{\sum p + \sum t + s}
              = \frac{\mathrm{FP} + \mathrm{FN}}{2\mathrm{TP} + \mathrm{FP} + \mathrm{FN} + s}

    .. math:: \frac{\partial \ell}{\partial p_i} = \frac{1 - 2t_i - \ell}{\sum p + \sum t + s}

    Insensitive to the size of the background, which is why it suits small
    foreground objects where pixel-wise BCE is dominated by easy background.
    The denominator uses :math:`\sum p + \sum t` (Sudre et al. 2017), not
    Milletari et al.'s squares. ``smooth`` :math:`s > 0` (default 1).
    Milletari, Navab and Ahmadi, "V-Net", 3DV 2016; Dice, "Measures of the
    amount of ecologic association between species", Ecology 1945.
    """
    validate_reduction(reduction)
    return _dice(prob, target, axis, smooth, True, False, reduction)


def soft_dice_grad(prob, target, *, smooth: float = 1.0, axis=None):
    r""":math:`(1 - 2t_i - \ell) / (\sum p + \sum t + s)` for every pixel, shaped like ``prob``."""
    return _dice(prob, target, axis, smooth, False, True)


def soft_dice_and_grad(prob, target, *, smooth: float = 1.0, axis=None, reduction: str = "mean"):
    """``(soft_dice(...), soft_dice_grad(...))`` from one validation and one set of counts."""
    validate_reduction(reduction)
    return _dice(prob, target, axis, smooth, True, True, reduction)


# ------------------------------------------------------------ soft IoU


def _iou(prob, target, axis, smooth, want_loss, want_grad, reduction="mean"):
    smooth = _check_smooth(smooth)
    counts = _Counts(prob, target, axis, sums=False, native=_native(prob, smooth))
    # Jaccard = (TP + s)/(TP + FP + FN + s): Tversky with alpha = beta = 1
    return _finish_ratio(counts, counts.ratio(1.0, 1.0, smooth, far_terms=True), reduction, want_loss, want_grad)


def soft_iou(prob, target, *, smooth: float = 1.0, axis=None, reduction: str = "mean"):
    r"""Soft IoU (Jaccard) loss: one minus the soft intersection over union.

    .. math:: \ell = 1 - \frac{\sum p t + s}{\sum p + \sum t - \sum p t + s}
              = \frac{\mathrm{FP} + \mathrm{FN}}{\mathrm{TP} + \mathrm{FP} + \mathrm{FN} + s}

    .. math:: \frac{\partial \ell}{\partial p_i} = \frac{1 - 2t_i - \ell\,(1 - t_i)}{U + s},
              \qquad U = \sum p + \sum t - \sum p t

    The IoU :math:`J` and Dice :math:`D` are monotone in each other
    (:math:`J = D/(2 - D)` without smoothing), so they rank masks alike; the IoU
    punishes a poor mask more. ``smooth`` :math:`s > 0` (default 1). Rahman and
    Wang, "Optimizing Intersection-over-Union in Deep Neural Networks for
    Image Segmentation", ISVC 2016; Jaccard, "The distribution of the flora in
    the alpine zone", New Phytologist 1912.
    """
    validate_reduction(reduction)
    return _iou(prob, target, axis, smooth, True, False, reduction)


def soft_iou_grad(prob, target, *, smooth: float = 1.0, axis=None):
    r""":math:`(1 - 2t_i - \ell(1 - t_i)) / (U + s)` for every pixel, shaped like ``prob``."""
    return _iou(prob, target, axis, smooth, False, True)


def soft_iou_and_grad(prob, target, *, smooth: float = 1.0, axis=None, reduction: str = "mean"):
    """``(soft_iou(...), soft_iou_grad(...))`` from one validation and one set of counts."""
    validate_reduction(reduction)
    return _iou(prob, target, axis, smooth, True, True, reduction)


# ------------------------------------------------------------ Tversky and focal Tversky


def _tversky(prob, target, axis, alpha, beta, smooth, want_loss, want_grad, reduction="mean"):
    alpha = NON_NEGATIVE.validate(alpha, "alpha")
    beta = NON_NEGATIVE.validate(beta, "beta")
    smooth = _check_smooth(smooth)
    counts = _Counts(prob, target, axis, sums=False, native=_native(prob, alpha, beta, smooth))
    return _finish_ratio(counts, counts.ratio(alpha, beta, smooth, far_terms=True), reduction, want_loss,
                         want_grad)


def tversky(prob, target, *, alpha: float = 0.3, beta: float = 0.7, smooth: float = 1.0, axis=None,
            reduction: str = "mean"):
    r"""Tversky loss: Dice with separate weights for false positives (α) and false negatives (β).

    .. math:: \ell = 1 - \frac{\mathrm{TP} + s}{\mathrm{TP} + \alpha\,\mathrm{FP} + \beta\,\mathrm{FN} + s}
              = \frac{\alpha\,\mathrm{FP} + \beta\,\mathrm{FN}}{\mathrm{TP} + \alpha\,\mathrm{FP} + \beta\,\mathrm{FN} + s}

    .. math:: \frac{\partial \ell}{\partial p_i} = \frac{a_i - \ell\,(t_i + a_i)}{\mathrm{TP} + \alpha\,\mathrm{FP} + \beta\,\mathrm{FN} + s},
              \qquad a_i = \alpha(1 - t_i) - \beta t_i

    :math:`\beta > \alpha` costs a missed foreground pixel more than a false
    alarm, trading precision for recall on small lesions. α = β = 1/2 is Dice
    (with smoothing :math:`s/2`), α = β = 1 the IoU. ``alpha``, ``beta`` >= 0
    (defaults 0.3 and 0.7, the paper's best); ``smooth`` > 0 (default 1).
    Salehi, Erdogmus and Gholipour, "Tversky loss function for image
    segmentation using 3D fully convolutional deep networks", MLMI 2017;
    Tversky, "Features of similarity", Psychological Review 1977.
    """
    validate_reduction(reduction)
    return _tversky(prob, target, axis, alpha, beta, smooth, True, False, reduction)


def tversky_grad(prob, target, *, alpha: float = 0.3, beta: float = 0.7, smooth: float = 1.0, axis=None):
    r""":math:`(a_i - \ell(t_i + a_i)) / (\mathrm{TP} + \alpha\mathrm{FP} + \beta\mathrm{FN} + s)`, :math:`a_i = \alpha(1 - t_i) - \beta t_i`."""
    return _tversky(prob, target, axis, alpha, beta, smooth, False, True)


def tversky_and_grad(prob, target, *, alpha: float = 0.3, beta: float = 0.7, smooth: float = 1.0, axis=None,
                     reduction: str = "mean"):
    """``(tversky(...), tversky_grad(...))`` from one validation and one set of counts."""
    validate_reduction(reduction)
    return _tversky(prob, target, axis, alpha, beta, smooth, True, True, reduction)


def _focal_tversky(prob, target, axis, alpha, beta, gamma, smooth, want_loss, want_grad, reduction="mean"):
    alpha = NON_NEGATIVE.validate(alpha, "alpha")
    beta = NON_NEGATIVE.validate(beta, "beta")
    gamma = POSITIVE.validate(gamma, "gamma")
    smooth = _check_smooth(smooth)
    counts = _Counts(prob, target, axis, sums=False, native=_native(prob, alpha, beta, gamma, smooth))
    ratio = counts.ratio(alpha, beta, smooth, scaled=not _moderate_gamma(gamma, _LIMITS[counts.prob.dtype]))
    loss, grad = _focal_from_ratio(ratio, gamma, want_grad)
    limits = _LIMITS[counts.prob.dtype]
    if ratio.scaled is None and np.any(ratio.errors[0] < limits.scaled_below):
        # probabilities below the normal range have few significant bits, and so have T and its sums:
        # such a region's false counts are summed from p 2^K and t 2^K (exact), K to bring its largest up
        counts.add_sums()
        p, t = counts.prob, counts.target
        fp_counted, fn_counted = alpha * (1 - t) > 0, beta * (1 - p) > 0
        largest = np.maximum(counts.region_max(np.where(fp_counted, p, 0)),
                             counts.region_max(np.where(fn_counted, t, 0)))
        scale = np.where(largest < limits.scaled_below, -np.frexp(largest)[1], 0)
        if np.any(scale):
            with np.errstate(over="ignore", invalid="ignore"):  # terms that do not count (0 weight) are dropped
                fp = counts.region_sum(np.where(fp_counted, np.ldexp(p, scale) * (1 - t), 0.0))
                fn = counts.region_sum(np.where(fn_counted, np.ldexp(t, scale) * (1 - p), 0.0))
            power = _FocalPower(np.where(scale > 0, alpha * fp + beta * fn, 0.0), scale, counts.tp, smooth, gamma)
            loss = np.where(scale > 0, power.loss(), loss)
            if want_grad:
                grad = np.where(scale > 0, power.grad(alpha * (1 - t) - beta * t, t, 1.0, 0), grad)
    return counts.finish(loss if want_loss else None, grad, reduction, want_loss, want_grad)


def _focal_from_ratio(ratio: _OverlapRatio, gamma: float, want_grad: bool, slope=None):
    r"""``(T^gamma, gamma T^(gamma - 1) dT)`` from Tversky's ratio (``dT`` times the ``slope`` for logits).

    At :math:`T = 0` the factor :math:`\gamma T^{\gamma - 1}` is 0 (γ > 1), 1 (γ = 1) or infinite
    (γ < 1: the loss rises like :math:`T^\gamma`, with a vertical tangent); a pixel whose
    :math:`\partial T` is 0 gets 0.
    """
    if ratio.scaled is not None:
        power, factor = _scaled_focal_factor(ratio.scaled, gamma)
        return _unscaled(power), ratio.grad(slope, factor) if want_grad else None
    base = ratio.loss()
    loss = base**gamma
    if not want_grad:
        return loss, None
    with np.errstate(divide="ignore"):  # 0 ** (gamma - 1) = inf for gamma < 1
        factor = gamma * base ** (gamma - 1)
    return loss, ratio.grad(slope, factor)


def focal_tversky(prob, target, *, alpha: float = 0.3, beta: float = 0.7, gamma: float = 0.75,
                  smooth: float = 1.0, axis=None, reduction: str = "mean"):
    r"""Focal Tversky loss: the Tversky loss raised to a power γ.

    .. math:: \ell = T^{\gamma},\qquad \frac{\partial \ell}{\partial p_i} = \gamma\,T^{\gamma - 1}\,\frac{\partial T}{\partial p_i}

    with :math:`T` the Tversky loss (see ``tversky``). γ < 1 raises small
    losses (:math:`T^{0.75} > T`) and steepens them, so hard, poorly segmented
    regions are not drowned out once most regions are nearly right; γ = 1 is
    Tversky. Abraham and Khan, "A Novel Focal Tversky Loss Function with
    Improved Attention U-Net for Lesion Segmentation", ISBI 2019, who write the
    exponent as :math:`1/\gamma` with their best :math:`\gamma = 4/3`: the
    default ``gamma = 0.75`` here is that exponent (as in
    ``segmentation_models_pytorch``, whose ``gamma`` is the exponent itself).
    ``gamma`` > 0; at a perfect region (:math:`T = 0`) with γ < 1 the
    gradient is infinite (the loss has a vertical tangent there), returned as
    ±inf. A region whose false counts fall below the normal range (probabilities
    below it, e.g. 1e-310 on the background) is summed scaled by a power of two,
    so :math:`T`, which is then below the range too, keeps its digits in
    :math:`T^\gamma` (see ``focal_tversky_with_logits``). ``alpha``, ``beta``,
    ``smooth`` as in ``tversky``.
    """
    validate_reduction(reduction)
    return _focal_tversky(prob, target, axis, alpha, beta, gamma, smooth, True, False, reduction)


def focal_tversky_grad(prob, target, *, alpha: float = 0.3, beta: float = 0.7, gamma: float = 0.75,
                       smooth: float = 1.0, axis=None):
    r""":math:`\gamma T^{\gamma - 1} \partial T / \partial p_i`, shaped like ``prob``."""
    return _focal_tversky(prob, target, axis, alpha, beta, gamma, smooth, False, True)


def focal_tversky_and_grad(prob, target, *, alpha: float = 0.3, beta: float = 0.7, gamma: float = 0.75,
                           smooth: float = 1.0, axis=None, reduction: str = "mean"):
    """``(focal_tversky(...), focal_tversky_grad(...))`` from one validation and one set of counts."""
    validate_reduction(reduction)
    return _focal_tversky(prob, target, axis, alpha, beta, gamma, smooth, True, True, reduction)


# ------------------------------------------------------------ combo


def _combo(prob, target, axis, alpha, smooth, eps, want_loss, want_grad, reduction="mean"):
    alpha = UNIT.validate(alpha, "alpha")
    smooth = _check_smooth(smooth)
    counts = _Counts(prob, target, axis, sums=False, native=_native(prob, alpha, smooth, eps))
    if counts.prob.dtype == np.float32:
        ratio = counts.ratio(0.5, 0.5, smooth, halved=True, far_terms=True)
        return _combo_float32(counts, ratio, lambda: bce_and_grad(counts.prob, counts.target, eps=eps, reduction="none"), alpha,
                              lambda: None, reduction, want_loss, want_grad, float64_clip(eps)[2:] if eps else None)
    counts.add_sums()
    if _moderate(0.5, 0.5, smooth / 2, _LIMITS[counts.prob.dtype]):
        dice_loss, dice_grad_ = _tversky_parts(counts, 0.5, 0.5, smooth / 2)
    else:  # see "parameters far from 1"
        ratio = counts.ratio(0.5, 0.5, smooth, halved=True)
        dice_loss, dice_grad_ = ratio.loss(), ratio.grad()
    # the pixel-wise BCE, averaged over the same region as the Dice term
    cross_entropy, cross_entropy_grad = bce_and_grad(counts.prob, counts.target, eps=eps, reduction="none")
    pixels = int(np.prod([counts.shape[a] for a in counts.axes]))
    mean_bce = counts.region_sum(cross_entropy) / max(pixels, 1)
    loss = alpha * mean_bce + (1 - alpha) * dice_loss
    # alpha = 1 drops the Dice term (its gradient is infinite for an empty region with a tiny smooth)
    grad = alpha * cross_entropy_grad / max(pixels, 1) + ((1 - alpha) * dice_grad_ if alpha != 1 else 0.0)
    return counts.finish(loss, grad, reduction, want_loss, want_grad)


def _combo_float32(counts, ratio, cross_entropy_of, alpha, slope_of, reduction, want_loss, want_grad, clip=None):
    """combo in float32: the region's BCE mean from its exact sum (``_region_mean``) and Dice's accurate ratio
    (``slope``: the logit form's), each pair of terms added in double words and rounded once (the plain float32
    sums and products of the float64 form would leave about 3 ulp). ``cross_entropy_of()`` gives the BCE and its
    gradient and ``slope_of()`` Dice's slope (None for probabilities); the BCE is formed after Dice's gradient, and
    the pixels are combined in blocks, so that the call holds fewer float32 maps at once than the float64 form holds
    float64 ones."""
    count = max(int(np.prod([counts.shape[a] for a in counts.axes])), 1)
    weight, rest = _word(alpha, np.float32), _word(1 - alpha, np.float32)
    loss = grad = dice = None
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):  # an infinite term: the plain sum below
        if want_grad and alpha != 1:  # alpha = 1 drops the Dice term (infinite for an empty region, tiny smooth)
            dice = ratio.grad(slope_of(), word=True)
        counts.release()  # the probabilities are not needed beyond the counts and Dice's gradient
        cross_entropy, cross_entropy_grad = cross_entropy_of()
        if want_loss:
            mean = _region_mean(counts, cross_entropy, np.float32(count))
            dice_loss = ratio.loss_word()
            loss = add(*multiply(*mean, *weight), *multiply(*dice_loss, *rest))[0]
            plain = weight[0] * mean[0] + rest[0] * dice_loss[0]
            loss = np.where(np.isfinite(loss), loss, plain)
        del cross_entropy
        if want_grad:
            grad = _combo_grad_float32(counts, _word(alpha / count, np.float32), rest, dice, cross_entropy_grad, clip)
    return counts.finish(loss, grad, reduction, want_loss, want_grad)


#: the combination's temporaries (about 20 arrays of a block) stay below a map of 2^15 pixels' worth
_COMBINE_BLOCK = 1 << 11


def _combo_grad_float32(counts, share, rest, dice, cross_entropy_grad, clip):
    r""":math:`(\alpha/n)\,g_i + (1 - \alpha)\,d_i` in double words, rounded once, in blocks of 2^11 pixels.

    The two terms cancel for a soft target, and a rounded :math:`g_i` (about an ulp from ``binary``) would be most
    of float32's ulp of them, so :math:`g_i` is formed here as a double word: for logits
    :math:`\sigma(z) - t = (1 - t)\,\sigma(z) - t\,\sigma(-z)` from double-word sigmoids (``dw.exp_scaled``),
    for probabilities :math:`(p - t)/(p(1 - p))` from an exact :math:`p - t` and :math:`p(1 - p)`; a pixel
    float64 would clip (below ``clip[0]`` or above ``clip[1]``, float32 thresholds) keeps the given gradient."""
    shape = counts.shape
    flat = [None if part is None else (part if np.ndim(part) == 0 else np.ravel(np.broadcast_to(part, shape)))
            for part in ((None, None) if dice is None else dice)]
    logits = isinstance(counts, _LogitCounts)
    sources = ((np.ravel(counts.logits), np.ravel(counts.target)) if logits else
               (np.ravel(cross_entropy_grad), np.ravel(counts.prob), np.ravel(counts.target)))
    out = np.empty(int(np.prod(shape)), np.float32)
    for start in range(0, out.size, _COMBINE_BLOCK):
        block = slice(start, start + _COMBINE_BLOCK)
        if logits:
            g = _sigmoid_minus_target(*(a[block] for a in sources))
        else:
            g = _bce_grad_word(*(a[block] for a in sources), clip)
        high, low = dw.multiply_unchecked(*g, *share)
        if flat[0] is not None:
            dice_hi, dice_lo = (part if np.ndim(part) == 0 else part[block] for part in flat)
            dice_hi, dice_lo = dw.multiply_unchecked(dice_hi, dice_lo, *rest)
            plain = high + dice_hi
            high, rounding = two_sum(high, dice_hi)
            low += dice_lo
            low += rounding
            high += low
            out[block] = np.where(np.isfinite(high), high, plain)
        else:
            out[block] = high + low
    return out.reshape(shape)


def _bce_grad_word(given, p, t, clip):
    """The BCE gradient :math:`(p - t)/(p(1 - p))` of float32 probabilities as a double word (``given`` where
    float64 clips ``p``, and where the quotient is not finite: p = 0 or 1 with eps = 0)."""
    difference = two_sum(p, -t)
    complement = two_sum(np.float32(1.0), -p)
    quotient = dw.divide_unchecked(*difference, *dw.multiply_unchecked(p, np.float32(0.0), *complement))
    keep = ~np.isfinite(quotient[0])
    if clip is not None:
        keep |= (p < clip[0]) | (p > clip[1])
    return np.where(keep, given, quotient[0]), np.where(keep, np.float32(0.0), quotient[1])


def _sigmoid_minus_target(z, t):
    r""":math:`\sigma(z) - t = (1 - t)\,\sigma(z) - t\,\sigma(-z)` of float32 values as a double word:
    :math:`w = e^{-|z|}` a double word (``dw.exp_scaled``, about :math:`2^{-29}`), :math:`1 + w = S + s`,
    :math:`\sigma(|z|) = 1/(S + s)` and :math:`\sigma(-|z|) = w/(S + s)` each one corrected division."""
    hi, lo, power = dw.exp_scaled(-np.abs(z))
    w, w_low = np.ldexp(hi, power), np.ldexp(lo, power)  # w <= 1
    total, total_low = two_sum(np.float32(1.0), w)
    total_low += w_low
    big = dw.divide_unchecked(np.float32(1.0), np.float32(0.0), total, total_low)
    small = dw.divide_unchecked(w, w_low, total, total_low)
    positive = z >= 0
    above = (np.where(positive, big[0], small[0]), np.where(positive, big[1], small[1]))  # sigma(z)
    below = (np.where(positive, small[0], big[0]), np.where(positive, small[1], big[1]))  # sigma(-z)
    rest, rest_low = two_sum(np.float32(1.0), -t)
    first = dw.multiply_unchecked(rest, rest_low, *above)
    second = dw.multiply_unchecked(t, np.float32(0.0), *below)
    return dw.add_unchecked(*first, -second[0], -second[1])


def _region_mean(counts, values, pixels):
    """The mean of float32 ``values >= 0`` over each region as a double word: the exact total of the values scaled
    by a power of two that brings the region's largest to [1/2, 1) (exact; ``_exact_total``'s 2 n max then stays in
    range), divided and scaled back (inf only past float32 max). A region holding inf: its plain mean. ``values``
    (the caller's own scratch) is overwritten."""
    largest = counts.region_max(values)
    if not np.all(np.isfinite(largest)):
        return counts.region_sum(values) / pixels, np.zeros_like(largest)
    shift = np.frexp(largest)[1]
    total = _exact_total(np.ldexp(values, -shift, out=values), None, counts.axes)
    high, low = dw.divide(*total, pixels)
    with np.errstate(over="ignore"):
        return np.ldexp(high, shift), np.ldexp(low, shift)


def combo(prob, target, *, alpha: float = 0.5, smooth: float = 1.0, eps: float = 1e-12, axis=None,
          reduction: str = "mean"):
    r"""Combo loss: a weighted sum of the pixel-mean binary cross-entropy and the soft Dice loss.

    .. math:: \ell = \alpha\,\frac{1}{n}\sum_i \mathrm{BCE}(p_i, t_i) + (1 - \alpha)\,\ell_{\mathrm{Dice}}

    .. math:: \frac{\partial \ell}{\partial p_i} = \frac{\alpha}{n}\,\frac{p_i - t_i}{p_i(1 - p_i)}
              + (1 - \alpha)\,\frac{\partial \ell_{\mathrm{Dice}}}{\partial p_i}

    over the :math:`n` pixels of each region. BCE gives smooth, well-scaled
    per-pixel gradients; Dice counters the imbalance between a small object
    and a large background. ``alpha`` in [0, 1] weighs the BCE (default 1/2);
    ``smooth`` is Dice's (default 1); ``eps`` clips :math:`p` to
    :math:`[\epsilon, 1 - \epsilon]` inside the BCE as ``losslab.bce`` does.
    Taghanaki et al., "Combo loss: Handling input and output imbalance in
    multi-organ segmentation", CMIG 2019 (whose BCE term has an extra
    false-negative weight β, here 1/2: the plain BCE up to a factor 2, and
    which subtracts the Dice coefficient rather than adding the Dice loss, the
    same up to a constant).
    """
    validate_reduction(reduction)
    return _combo(prob, target, axis, alpha, smooth, eps, True, False, reduction)


def combo_grad(prob, target, *, alpha: float = 0.5, smooth: float = 1.0, eps: float = 1e-12, axis=None):
    r""":math:`\tfrac{\alpha}{n} \partial \mathrm{BCE}/\partial p_i + (1 - \alpha) \partial \ell_{\mathrm{Dice}}/\partial p_i`, shaped like ``prob``."""
    return _combo(prob, target, axis, alpha, smooth, eps, False, True)


def combo_and_grad(prob, target, *, alpha: float = 0.5, smooth: float = 1.0, eps: float = 1e-12, axis=None,
                   reduction: str = "mean"):
    """``(combo(...), combo_grad(...))`` from one validation and one set of counts."""
    validate_reduction(reduction)
    return _combo(prob, target, axis, alpha, smooth, eps, True, True, reduction)


# ------------------------------------------------------------ logit forms
# p = sigmoid(z); the counts come from sigmoid(z) and sigmoid(-z) (see _LogitCounts), and d/dz = d/dp * p (1 - p)


def _overlap_with_logits(logits, target, axis, alpha, beta, smooth, want_loss, want_grad, reduction="mean",
                         halved=False):
    """A Tversky-type ratio (Dice, IoU, Tversky) of ``sigmoid(logits)`` and its gradient in the logits.

    ``halved``: the smoothing is ``smooth / 2`` (Dice's)."""
    counts = _LogitCounts(logits, target, axis, sums=False, native=_native(logits, alpha, beta, smooth))
    # a logit beyond about 665 has a slope sigma(z) sigma(-z) below 2^-960 (0 beyond 745), whose gradient
    # alpha H / D^2 times the slope can still be an ordinary number: scaled, with the slope's power of two
    ratio = counts.ratio(alpha, beta, smooth, scaled=want_grad and counts.has_far_logits(), halved=halved,
                         far_terms=True)
    slope = None
    if want_grad:
        slope = counts.accurate_slope() if ratio.scaled is None else counts.scaled_slope()
    return _finish_ratio(counts, ratio, reduction, want_loss, want_grad, slope=slope)


def soft_dice_with_logits(logits, target, *, smooth: float = 1.0, axis=None, reduction: str = "mean"):
    r"""``soft_dice`` of :math:`p = \sigma(z)`, with :math:`1 - p = \sigma(-z)` (see the module docstring).

    .. math:: \ell = \frac{\mathrm{FP} + \mathrm{FN}}{2\mathrm{TP} + \mathrm{FP} + \mathrm{FN} + s},\qquad
              \frac{\partial \ell}{\partial z_i} = \frac{1 - 2t_i - \ell}{\sum p + \sum t + s}\,\sigma(z_i)\,\sigma(-z_i)

    ``logits`` real (±inf allowed), ``target`` in [0, 1]; ``smooth``, ``axis``
    and ``reduction`` as in ``soft_dice``.
    """
    validate_reduction(reduction)
    return _overlap_with_logits(logits, target, axis, 0.5, 0.5, _check_smooth(smooth), True, False, reduction,
                                halved=True)


def soft_dice_with_logits_grad(logits, target, *, smooth: float = 1.0, axis=None):
    r""":math:`\partial \ell / \partial z_i` of ``soft_dice_with_logits``, shaped like ``logits``."""
    return _overlap_with_logits(logits, target, axis, 0.5, 0.5, _check_smooth(smooth), False, True, halved=True)


def soft_dice_with_logits_and_grad(logits, target, *, smooth: float = 1.0, axis=None, reduction: str = "mean"):
    """``(soft_dice_with_logits(...), soft_dice_with_logits_grad(...))`` from one set of counts."""
    validate_reduction(reduction)
    return _overlap_with_logits(logits, target, axis, 0.5, 0.5, _check_smooth(smooth), True, True, reduction,
                                halved=True)


def soft_iou_with_logits(logits, target, *, smooth: float = 1.0, axis=None, reduction: str = "mean"):
    r"""``soft_iou`` of :math:`p = \sigma(z)`, with :math:`1 - p = \sigma(-z)` (see the module docstring).

    .. math:: \ell = \frac{\mathrm{FP} + \mathrm{FN}}{\mathrm{TP} + \mathrm{FP} + \mathrm{FN} + s},\qquad
              \frac{\partial \ell}{\partial z_i} = \frac{1 - 2t_i - \ell\,(1 - t_i)}{U + s}\,\sigma(z_i)\,\sigma(-z_i)

    ``logits`` real (±inf allowed), ``target`` in [0, 1]; the rest as in ``soft_iou``.
    """
    validate_reduction(reduction)
    return _overlap_with_logits(logits, target, axis, 1.0, 1.0, _check_smooth(smooth), True, False, reduction)


def soft_iou_with_logits_grad(logits, target, *, smooth: float = 1.0, axis=None):
    r""":math:`\partial \ell / \partial z_i` of ``soft_iou_with_logits``, shaped like ``logits``."""
    return _overlap_with_logits(logits, target, axis, 1.0, 1.0, _check_smooth(smooth), False, True)


def soft_iou_with_logits_and_grad(logits, target, *, smooth: float = 1.0, axis=None, reduction: str = "mean"):
    """``(soft_iou_with_logits(...), soft_iou_with_logits_grad(...))`` from one set of counts."""
    validate_reduction(reduction)
    return _overlap_with_logits(logits, target, axis, 1.0, 1.0, _check_smooth(smooth), True, True, reduction)


def _tversky_logits(logits, target, axis, alpha, beta, smooth, want_loss, want_grad, reduction="mean"):
    alpha = NON_NEGATIVE.validate(alpha, "alpha")
    beta = NON_NEGATIVE.validate(beta, "beta")
    return _overlap_with_logits(logits, target, axis, alpha, beta, _check_smooth(smooth), want_loss, want_grad,
                                reduction)


def tversky_with_logits(logits, target, *, alpha: float = 0.3, beta: float = 0.7, smooth: float = 1.0, axis=None,
                        reduction: str = "mean"):
    r"""``tversky`` of :math:`p = \sigma(z)`, with :math:`1 - p = \sigma(-z)` (see the module docstring).

    .. math:: \ell = \frac{\alpha\,\mathrm{FP} + \beta\,\mathrm{FN}}{\mathrm{TP} + \alpha\,\mathrm{FP} + \beta\,\mathrm{FN} + s},\qquad
              \frac{\partial \ell}{\partial z_i} = \frac{a_i - \ell\,(t_i + a_i)}{\mathrm{TP} + \alpha\,\mathrm{FP} + \beta\,\mathrm{FN} + s}\,\sigma(z_i)\,\sigma(-z_i)

    with :math:`a_i = \alpha(1 - t_i) - \beta t_i`. ``logits`` real (±inf
    allowed), ``target`` in [0, 1]; the rest as in ``tversky``.
    """
    validate_reduction(reduction)
    return _tversky_logits(logits, target, axis, alpha, beta, smooth, True, False, reduction)


def tversky_with_logits_grad(logits, target, *, alpha: float = 0.3, beta: float = 0.7, smooth: float = 1.0,
                             axis=None):
    r""":math:`\partial \ell / \partial z_i` of ``tversky_with_logits``, shaped like ``logits``."""
    return _tversky_logits(logits, target, axis, alpha, beta, smooth, False, True)


def tversky_with_logits_and_grad(logits, target, *, alpha: float = 0.3, beta: float = 0.7, smooth: float = 1.0,
                                 axis=None, reduction: str = "mean"):
    """``(tversky_with_logits(...), tversky_with_logits_grad(...))`` from one set of counts."""
    validate_reduction(reduction)
    return _tversky_logits(logits, target, axis, alpha, beta, smooth, True, True, reduction)


def _focal_tversky_logits(logits, target, axis, alpha, beta, gamma, smooth, want_loss, want_grad, reduction="mean"):
    alpha = NON_NEGATIVE.validate(alpha, "alpha")
    beta = NON_NEGATIVE.validate(beta, "beta")
    gamma = POSITIVE.validate(gamma, "gamma")
    smooth = _check_smooth(smooth)
    counts = _LogitCounts(logits, target, axis, sums=False, native=_native(logits, alpha, beta, gamma, smooth))
    ratio = counts.ratio(alpha, beta, smooth, scaled=not _moderate_gamma(gamma, _LIMITS[counts.logits.dtype]))
    if ratio.scaled is not None:  # its far logits are scaled by their own powers of two
        loss, grad = _focal_from_ratio(ratio, gamma, want_grad, counts.scaled_slope() if want_grad else None)
        return counts.finish(loss if want_loss else None, grad, reduction, want_loss, want_grad)
    accurate_slope = counts.accurate_slope() if want_grad else None
    loss, grad = _focal_from_ratio(ratio, gamma, want_grad, accurate_slope)
    scaled_below = _LIMITS[counts.logits.dtype].scaled_below
    far = accurate_slope[0] < scaled_below if want_grad else False
    if np.any(ratio.errors[0] < scaled_below) or np.any(far):
        # a pixel with |z| > 700 has sigma(-|z|) near or below the normal range: it is carried as
        # mantissa 2^-J (see _small_sigmoid), and a region whose every error term is that small has its
        # counts summed times 2^K, K the smallest J among them (T^gamma is then normal where T is not)
        counts.add_sums()
        t, z = counts.target, counts.logits
        negative = z < 0
        big = np.where(negative, counts.complement, counts.prob)  # sigma(|z|)
        mantissa, exponent = _small_sigmoid(z, np.where(negative, counts.prob, counts.complement))
        fp_terms = alpha * (1 - t) * np.where(negative, mantissa, big)  # alpha (1 - t) sigma(z)
        fn_terms = beta * t * np.where(negative, big, mantissa)  # beta t sigma(-z)
        fp_exponent = np.where(negative, exponent, 0)
        fn_exponent = np.where(negative, 0, exponent)
        unset = np.iinfo(np.int64).max
        scale = np.minimum(counts.region_min(np.where(fp_terms > 0, fp_exponent, unset)),
                           counts.region_min(np.where(fn_terms > 0, fn_exponent, unset)))
        scale = np.where(scale == unset, 0, scale)
        scaled_errors = (counts.region_sum(np.ldexp(fp_terms, scale - fp_exponent))
                         + counts.region_sum(np.ldexp(fn_terms, scale - fn_exponent)))
        power = _FocalPower(np.where(scale > 0, scaled_errors, alpha * counts.fp + beta * counts.fn), scale,
                            counts.tp, smooth, gamma)
        loss = np.where(scale > 0, power.loss(), loss)
        if want_grad:
            # p (1 - p) = sigma(|z|) sigma(-|z|) = big mantissa 2^-J; 0 at an infinite logit (its limit)
            scaled_grad = power.grad(alpha * (1 - t) - beta * t, t, big * mantissa, exponent)
            if t.dtype == np.float32:  # the plain float32 counts above are a few ulp off: see _far_slope_grad
                scaled_grad = np.where(scale > 0, scaled_grad, _far_slope_grad(ratio, gamma, big, mantissa, exponent))
            grad = np.where((scale > 0) | far, scaled_grad, grad)
    return counts.finish(loss if want_loss else None, grad, reduction, want_loss, want_grad)


def _far_slope_grad(ratio: _OverlapRatio, gamma: float, big, mantissa, exponent) -> np.ndarray:
    r"""float32's focal Tversky gradient of a pixel whose slope :math:`\sigma(|z|)\,m\,2^{-J}` is far below the
    normal range, in a region that is not scaled: the accurate ratio's :math:`\gamma T^{\gamma - 1}\,\partial T`
    (a double word) times :math:`\sigma(|z|)\,m` (a two-product), rounded once by the ``ldexp``."""
    base = ratio.loss()
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # as in _focal_from_ratio
        factor = gamma * base ** (gamma - 1)
        high, low = ratio.grad(None, factor, word=True)
        slope, slope_low = dw.two_product_unchecked(big, mantissa)
        product, error = two_product(high, slope)
        error += low * slope + high * slope_low
        return np.ldexp(product + error, -exponent) + 0.0


def focal_tversky_with_logits(logits, target, *, alpha: float = 0.3, beta: float = 0.7, gamma: float = 0.75,
                              smooth: float = 1.0, axis=None, reduction: str = "mean"):
    r"""``focal_tversky`` of :math:`p = \sigma(z)`, with :math:`1 - p = \sigma(-z)` (see the module docstring).

    .. math:: \ell = T^{\gamma},\qquad
              \frac{\partial \ell}{\partial z_i} = \gamma\,T^{\gamma - 1}\,\frac{\partial T}{\partial p_i}\,\sigma(z_i)\,\sigma(-z_i)

    with :math:`T` the Tversky loss. A saturated, nearly perfect region has a
    tiny :math:`T` and a large :math:`T^{\gamma-1}` (γ < 1); its gradient
    stays finite and keeps its digits: where :math:`T` or
    :math:`\sigma(z)\sigma(-z)` falls below the normal range
    (:math:`|z| \gtrsim 708` in float64, 87 in float32) they are carried as a mantissa and a power of
    two, :math:`\sigma(-|z|) = e^{-|z|} = m\,2^{-J}` and :math:`T = R\,2^{-K}`, and
    :math:`T^\gamma = R^\gamma 2^{-K\gamma}` with :math:`K\gamma` split exactly
    into an integer and a fraction (a few ulp; powers taken from logarithms
    would carry the rounding of :math:`|\log T|`, hundreds of ulp). At an
    infinite logit the gradient is its limit, 0. ``logits`` real (±inf
    allowed), ``target`` in [0, 1]; the rest as in ``focal_tversky``.
    """
    validate_reduction(reduction)
    return _focal_tversky_logits(logits, target, axis, alpha, beta, gamma, smooth, True, False, reduction)


def focal_tversky_with_logits_grad(logits, target, *, alpha: float = 0.3, beta: float = 0.7, gamma: float = 0.75,
                                   smooth: float = 1.0, axis=None):
    r""":math:`\partial \ell / \partial z_i` of ``focal_tversky_with_logits``, shaped like ``logits``."""
    return _focal_tversky_logits(logits, target, axis, alpha, beta, gamma, smooth, False, True)


def focal_tversky_with_logits_and_grad(logits, target, *, alpha: float = 0.3, beta: float = 0.7,
                                       gamma: float = 0.75, smooth: float = 1.0, axis=None,
                                       reduction: str = "mean"):
    """``(focal_tversky_with_logits(...), focal_tversky_with_logits_grad(...))`` from one set of counts."""
    validate_reduction(reduction)
    return _focal_tversky_logits(logits, target, axis, alpha, beta, gamma, smooth, True, True, reduction)


def _combo_logits(logits, target, axis, alpha, smooth, want_loss, want_grad, reduction="mean"):
    alpha = UNIT.validate(alpha, "alpha")
    smooth = _check_smooth(smooth)
    counts = _LogitCounts(logits, target, axis, sums=False, native=_native(logits, alpha, smooth))
    if counts.logits.dtype == np.float32:
        ratio = counts.ratio(0.5, 0.5, smooth, scaled=want_grad and counts.has_far_logits(), halved=True,
                             far_terms=True)
        def slope_of():
            return counts.accurate_slope() if ratio.scaled is None else counts.scaled_slope()

        def cross_entropy_of():  # the exact BCE of the logits; its gradient is formed in _combo_grad_float32
            return bce_with_logits(counts.logits, counts.target, reduction="none") if want_loss else None, None

        return _combo_float32(counts, ratio, cross_entropy_of, alpha, slope_of, reduction, want_loss, want_grad)
    counts.add_sums()
    if _moderate(0.5, 0.5, smooth / 2, _LIMITS[counts.logits.dtype]) and not (want_grad and counts.has_far_logits()):
        dice_loss, dice_grad_ = _tversky_parts(counts, 0.5, 0.5, smooth / 2)
        dice_term = (1 - alpha) * dice_grad_ * counts.slope() if want_grad else None
    else:  # see "parameters far from 1"
        ratio = counts.ratio(0.5, 0.5, smooth, scaled=True, halved=True)
        dice_loss = ratio.loss()
        dice_term = (1 - alpha) * ratio.grad(counts.scaled_slope()) if want_grad else None
    # the exact BCE of the logits (softplus form, no clipping), averaged over the Dice term's region
    cross_entropy, cross_entropy_grad = bce_with_logits_and_grad(counts.logits, counts.target, reduction="none")
    pixels = max(int(np.prod([counts.shape[a] for a in counts.axes])), 1)
    with np.errstate(over="ignore"):  # a region's BCE sum past float max: its mean is taken term by term below
        total = counts.region_sum(cross_entropy)
    mean = np.where(np.isfinite(total), total / pixels, counts.region_sum(cross_entropy / pixels))
    loss = alpha * mean + (1 - alpha) * dice_loss
    # alpha = 1 drops the Dice term (its gradient is infinite for an empty region with a tiny smooth)
    grad = alpha * cross_entropy_grad / pixels + (dice_term if alpha != 1 else 0.0) if want_grad else None
    return counts.finish(loss, grad, reduction, want_loss, want_grad)


def combo_with_logits(logits, target, *, alpha: float = 0.5, smooth: float = 1.0, axis=None,
                      reduction: str = "mean"):
    r"""``combo`` of :math:`p = \sigma(z)`, with the BCE taken from the logits (``bce_with_logits``).

    .. math:: \ell = \alpha\,\frac{1}{n}\sum_i \mathrm{BCE}(z_i, t_i) + (1 - \alpha)\,\ell_{\mathrm{Dice}},\qquad
              \frac{\partial \ell}{\partial z_i} = \frac{\alpha}{n}\,(\sigma(z_i) - t_i)
              + (1 - \alpha)\,\frac{\partial \ell_{\mathrm{Dice}}}{\partial p_i}\,\sigma(z_i)\,\sigma(-z_i)

    Unlike ``combo`` there is no ``eps``: the BCE is exact for every logit
    (about :math:`|z|` when confidently wrong), not clipped at
    :math:`p \in [\epsilon, 1 - \epsilon]`, and the Dice term's counts use
    :math:`1 - p = \sigma(-z)`. ``logits`` real (±inf allowed), ``target`` in
    [0, 1]; ``alpha``, ``smooth``, ``axis`` and ``reduction`` as in ``combo``.
    """
    validate_reduction(reduction)
    return _combo_logits(logits, target, axis, alpha, smooth, True, False, reduction)


def combo_with_logits_grad(logits, target, *, alpha: float = 0.5, smooth: float = 1.0, axis=None):
    r""":math:`\partial \ell / \partial z_i` of ``combo_with_logits``, shaped like ``logits``."""
    return _combo_logits(logits, target, axis, alpha, smooth, False, True)


def combo_with_logits_and_grad(logits, target, *, alpha: float = 0.5, smooth: float = 1.0, axis=None,
                               reduction: str = "mean"):
    """``(combo_with_logits(...), combo_with_logits_grad(...))`` from one set of counts."""
    validate_reduction(reduction)
    return _combo_logits(logits, target, axis, alpha, smooth, True, True, reduction)
