r"""Binary classification losses, from probabilities :math:`\hat p` or from logits :math:`z`.

Targets are probabilities :math:`y \in [0, 1]` (hard labels 0/1 or soft
labels), except ``hinge``, which takes labels in {-1, +1}. The ``*_with_logits``
forms and ``focal`` take the pre-sigmoid logit :math:`z` with
:math:`\hat p = \sigma(z)`; their gradients are :math:`\partial \ell / \partial z`
and stay finite for every finite ``z``.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np

from losslab import _double_word as dw
from losslab._validation import (
    BLOCK,
    Interval,
    all_finite,
    blockwise,
    check_in_closed_interval,
    check_in_set,
    fits_float32,
    has_nan,
    prepare,
    reduce,
    sum_to_shape,
    validate_reduction,
    weighted,
)
from losslab.activations import softplus

BCE_EPS = Interval(0.0, 0.5, high_inclusive=False)
NON_NEGATIVE = Interval(0.0, None)
UNIT = Interval(0.0, 1.0)


def _probability_and_label(prob, target):
    prob, target = prepare(prob, target, "prob", "target")
    check_in_closed_interval(prob, "prob", 0.0, 1.0)
    check_in_closed_interval(target, "target", 0.0, 1.0)
    return prob, target


def _logit_and_label(logits, target):
    logits, target = prepare(logits, target, "logits", "target")
    if has_nan(logits):
        raise ValueError("logits contain NaN; expected real numbers (+-inf are allowed)")
    check_in_closed_interval(target, "target", 0.0, 1.0)
    return logits, target


def _clip_bounds(dtype: np.dtype, eps: float):
    """``[eps, 1 - eps]`` in ``dtype``, with 1 - eps kept below 1 and eps above 0 in that precision; float32: the
    float32 thresholds of float64's bounds (``float64_clip``), which ``_clip_exactly32`` completes."""
    if dtype == np.float32:  # the rest (and below float32's normal range): ``_clip_exactly32``, in float64
        return _float32_thresholds(eps)
    upper = min(np.asarray(1 - eps, dtype), np.nextafter(dtype.type(1), dtype.type(0)))
    lower = max(np.asarray(eps, dtype), np.finfo(dtype).tiny)
    return lower, upper


@functools.lru_cache(maxsize=64)
def _float32_thresholds(eps: float) -> tuple:
    low32, high32 = float64_clip(eps)[2:]
    return max(low32, np.finfo(np.float32).tiny), high32


def float64_clip(eps):
    """float64's clip bounds ``[lower, upper]`` (``_clip_bounds``) and the float32 thresholds they mean: a float32
    ``p`` is below ``lower`` exactly when it is below the smallest float32 >= ``lower`` (no float32 lies between),
    and likewise above ``upper``."""
    upper = min(1 - eps, float(np.nextafter(1.0, 0.0)))
    lower = max(eps, float(np.finfo(np.float64).tiny))
    low32, high32 = np.float32(lower), np.float32(upper)
    low32 = low32 if float(low32) >= lower else np.nextafter(low32, np.float32(1))
    high32 = high32 if float(high32) <= upper else np.nextafter(high32, np.float32(0))
    return lower, upper, low32, high32


@functools.lru_cache(maxsize=64)
def _exact_sides32(eps: float) -> tuple:
    """The sides where float32's clip thresholds are not float64's bounds: ``(below, threshold, bound)``."""
    lower, upper, low32, high32 = float64_clip(eps)
    low32 = max(low32, np.finfo(np.float32).tiny)  # the kernel's: 1/p cannot overflow in it
    return tuple((below, threshold, bound) for below, threshold, bound in ((True, low32, lower), (False, high32, upper))
                 if float(threshold) != bound)


def _clip_exactly32(p, y, sides, loss=None, grad=None) -> None:
    r"""float32 BCE clips :math:`\hat p` to float64's :math:`[\epsilon, 1 - \epsilon]`, as float64 does (1 - 1e-12
    is 1 in float32, whose own bound 1 - 2^-24 would make a confident mistake cost 16.6 instead of 27.6): the
    kernel clipped to the float32 thresholds (``_clip_bounds``); on the ``sides`` where a threshold is not the
    bound itself (``_exact_sides32``), the pixels past it get, in place, the loss
    :math:`-(t \log q + (1 - t) \log(1 - q))` and gradient :math:`(q - t)/(q (1 - q))` of :math:`q`, the bound
    (or, below float32's normal range, where the kernel stops at 2^-126 so that :math:`1/\hat p` cannot overflow
    in it, :math:`\max(\hat p, \epsilon)`), in float64 from the float32 target (exact) and rounded once; a
    gradient past float32 max is -inf, its true size. Called on each block of the kernel, ``p`` and ``y``
    broadcasting to ``loss`` and ``grad``."""
    if not p.size:
        return
    for below, threshold, bound in sides:
        if not (p.min() < threshold if below else p.max() > threshold):
            continue
        shape = (loss if loss is not None else grad).shape
        past = np.broadcast_to(p < threshold if below else p > threshold, shape)
        t = np.broadcast_to(y, shape)[past].astype(np.float64)
        q = np.maximum(np.broadcast_to(p, shape)[past].astype(np.float64), bound) if below else bound
        with np.errstate(over="ignore"):  # a float64 gradient past float32 max is -inf, its true size
            if loss is not None:
                loss[past] = -(t * np.log(q) + (1 - t) * np.log1p(-q))
            if grad is not None:
                grad[past] = (q - t) / (q * (1 - q))


def bce(prob, target, *, eps: float = 1e-12, reduction: str = "mean"):
    r"""Binary cross-entropy of a probability :math:`\hat p`:

    .. math:: \ell = -\bigl(y \log \hat p + (1 - y) \log(1 - \hat p)\bigr)

    with :math:`\hat p` clipped to :math:`[\epsilon, 1 - \epsilon]` (the chapter's
    convention) so a confident mistake costs about 27.6 rather than inf.
    ``eps`` must be in [0, 0.5). Prefer ``bce_with_logits`` when you have ``z``.
    The bounds are the same real numbers in every dtype: float32 clips at float64's
    :math:`1 - \epsilon` too (:math:`1 - 10^{-12}` is 1 in float32, and its nearest
    float32, :math:`1 - 2^{-24}`, would price that mistake at 16.6).
    """
    validate_reduction(reduction)
    eps = BCE_EPS.validate(eps, "eps")
    prob, target = _probability_and_label(prob, target)
    if eps == 0:
        return reduce(_unclipped_bce_loss(prob, target), reduction)
    bounds = _clip_bounds(prob.dtype, eps)
    sides = _exact_sides32(eps) if prob.dtype == np.float32 else ()

    def loss_block(p, y, loss, q, log_miss, label_miss):
        np.clip(p, *bounds, out=q)
        _bce_loss_into(q, y, loss, log_miss, label_miss)
        if sides:
            _clip_exactly32(p, y, sides, loss=loss)

    (loss,) = blockwise(loss_block, prob, target, outputs=1, scratch=3)
    return reduce(loss, reduction)


def bce_grad(prob, target, *, eps: float = 1e-12):
    r""":math:`\partial \ell / \partial \hat p = (\hat p - y) / (\hat p (1 - \hat p))`, at the clipped :math:`\hat p`."""
    eps = BCE_EPS.validate(eps, "eps")
    prob, target = _probability_and_label(prob, target)
    if eps == 0:
        return sum_to_shape(_unclipped_bce_grad(prob, target), prob.shape)
    bounds = _clip_bounds(prob.dtype, eps)
    sides = _exact_sides32(eps) if prob.dtype == np.float32 else ()

    def grad_block(p, y, grad, spare):
        np.clip(p, *bounds, out=grad)
        _bce_grad_into(grad, y, spare)
        if sides:
            _clip_exactly32(p, y, sides, grad=grad)

    (grad,) = blockwise(grad_block, prob, target, outputs=1, scratch=1)
    return sum_to_shape(grad, prob.shape)


def bce_and_grad(prob, target, *, eps: float = 1e-12, reduction: str = "mean"):
    """``(bce(...), bce_grad(...))`` from one validation and one clipped :math:`\\hat p`."""
    validate_reduction(reduction)
    eps = BCE_EPS.validate(eps, "eps")
    prob, target = _probability_and_label(prob, target)
    loss, grad = _bce_kernel(prob, target, eps=eps)
    return reduce(loss, reduction), sum_to_shape(grad, prob.shape)


def _bce_kernel(prob: np.ndarray, target: np.ndarray, *, eps: float = 1e-12):
    """Unchecked (loss, grad) of ``bce``, unreduced; ``prob``/``target`` must be validated float arrays."""
    if eps == 0:
        return _unclipped_bce_loss(prob, target), _unclipped_bce_grad(prob, target)
    dtype = np.result_type(prob, target)
    bounds = _clip_bounds(dtype, eps)
    sides = _exact_sides32(eps) if dtype == np.float32 else ()

    def block(p, y, loss, grad, log_miss, label_miss):
        q = np.clip(p, *bounds, out=grad)  # the clipped p, then the gradient in place
        _bce_loss_into(q, y, loss, log_miss, label_miss)
        _bce_grad_into(q, y, log_miss)
        if sides:
            _clip_exactly32(p, y, sides, loss=loss, grad=grad)

    return blockwise(block, prob, target, outputs=2, scratch=2)


def _bce_loss_into(q, target, loss, log_miss, label_miss) -> None:
    r"""``loss[:] = -(y log q + (1 - y) log(1 - q))`` for a clipped ``q`` (eps > 0: both logs finite).

    Written as :math:`(y - 1)\log(1 - q) - y \log q`: the same two products and sum,
    negated exactly (:math:`y - 1 = -(1 - y)`), without a separate negation pass.
    """
    np.log(q, out=loss)
    loss *= target
    np.negative(q, out=log_miss)
    np.log1p(log_miss, out=log_miss)
    np.subtract(target, 1, out=label_miss)
    log_miss *= label_miss
    np.subtract(log_miss, loss, out=loss)


def _bce_grad_into(q, target, spare) -> None:
    """``q[:] = (q - y) / (q (1 - q))``: the gradient at the clipped ``q``, in place."""
    np.subtract(1, q, out=spare)
    spare *= q
    np.subtract(q, target, out=q)
    q /= spare


def _unclipped_bce_loss(p: np.ndarray, target: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):  # eps = 0 allows log(0) = -inf, weighted to 0 or inf
        return -(weighted(target, np.log(p)) + weighted(1 - target, np.log1p(-p)))


def _unclipped_bce_grad(p: np.ndarray, target: np.ndarray) -> np.ndarray:
    # eps = 0: infinite or NaN at p = 0 and 1; past float max (p = 5e-324, y = 1) -inf, its true size
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return (p - target) / (p * (1 - p))


def bce_with_logits(logits, target, *, reduction: str = "mean"):
    r"""Binary cross-entropy from the logit :math:`z`, never forming :math:`\sigma(z)`:

    .. math:: \ell = y\,\operatorname{softplus}(-z) + (1 - y)\,\operatorname{softplus}(z)

    which equals :math:`-(y \log \sigma(z) + (1-y) \log(1 - \sigma(z)))` but is
    finite for every finite ``z`` (about ``|z|`` when confidently wrong).
    Computed as :math:`([z > 0] - y)\,z + \log(1 + e^{-|z|})`, two terms
    :math:`\ge 0`: exact to a few ulp for every ``z`` and every label, including
    the confidently right tail :math:`\approx e^{-|z|}` and soft labels near 1.
    """
    validate_reduction(reduction)
    logits, target = _logit_and_label(logits, target)

    def loss_block(z, y, loss, decay):
        if not all_finite(z):
            loss[...] = _bce_with_logits_loss(z, y, *_logit_terms(z, y))
            return
        # the same arithmetic as _bce_with_logits_loss, with one scratch array when only the loss is wanted
        np.copysign(z, -1, out=decay)  # -|z|
        np.exp(decay, out=decay)
        np.subtract(z > 0, y, out=loss, dtype=loss.dtype)
        loss *= z
        loss += np.log1p(decay, out=decay)

    (loss,) = blockwise(loss_block, logits, target, outputs=1, scratch=1)
    return reduce(loss, reduction)


def bce_with_logits_grad(logits, target):
    r""":math:`\partial \ell / \partial z = \sigma(z) - y`: the chapter's :math:`\hat p - y`, never vanishing when wrong.

    Formed without cancellation (:math:`\sigma(z) - 1 = -\sigma(-z)`), so the
    confidently right tail is :math:`\approx -e^{-z}`, not 0.
    """
    logits, target = _logit_and_label(logits, target)

    def grad_block(z, y, grad, decay, spare):
        _logit_terms_into(z, y, decay, grad)
        _subtract_signed_small_sigmoid(z, grad, decay, spare)

    (grad,) = blockwise(grad_block, logits, target, outputs=1, scratch=2)
    return sum_to_shape(grad, logits.shape)


def bce_with_logits_and_grad(logits, target, *, reduction: str = "mean"):
    """``(bce_with_logits(...), bce_with_logits_grad(...))`` from one validation and one :math:`e^{-|z|}`."""
    validate_reduction(reduction)
    logits, target = _logit_and_label(logits, target)
    loss, grad = _bce_with_logits_kernel(logits, target)
    return reduce(loss, reduction), sum_to_shape(grad, logits.shape)


def _bce_with_logits_kernel(logits: np.ndarray, target: np.ndarray):
    """Unchecked (loss, grad) of ``bce_with_logits``, unreduced; inputs must be validated float arrays."""
    return blockwise(_bce_with_logits_block, logits, target, outputs=2, scratch=2)


def _bce_with_logits_block(z, y, loss, grad, decay, spare) -> None:
    """One piece of :func:`_bce_with_logits_kernel`: the arithmetic of :func:`_bce_with_logits_loss`
    and :func:`_sigmoid_minus_label_from`, in place."""
    _logit_terms_into(z, y, decay, grad)  # grad holds [z >= 0] - y until the end
    if all_finite(z):
        np.multiply(grad, z, out=loss)
        loss += np.log1p(decay, out=spare)
    else:
        loss[...] = _bce_with_logits_loss(z, y, decay, grad)
    _subtract_signed_small_sigmoid(z, grad, decay, spare)


def _logit_terms(logits: np.ndarray, target: np.ndarray):
    r"""The intermediates every logit loss shares: :math:`e^{-|z|}` and :math:`[z \ge 0] - y`.

    ``signbit`` decides :math:`z \ge 0` so that -0.0 takes one branch everywhere.
    """
    shape = np.broadcast_shapes(logits.shape, target.shape)
    decay = np.empty_like(logits)  # out=: arrays also for 0-d input
    slope_sign = np.empty(shape, logits.dtype)
    _logit_terms_into(logits, target, decay, slope_sign)
    return decay, slope_sign


def _logit_terms_into(logits, target, decay, slope_sign) -> None:
    """:func:`_logit_terms` written into ``decay`` and ``slope_sign``."""
    np.copysign(logits, -1, out=decay)  # -|z|
    np.exp(decay, out=decay)
    np.subtract(~np.signbit(logits), target, out=slope_sign, dtype=slope_sign.dtype)


def _bce_with_logits_loss(logits, target, decay, slope_sign) -> np.ndarray:
    if all_finite(logits):
        # softplus(z) - y z = ([z >= 0] - y) z + log1p(e^-|z|): both terms >= 0, so a soft label
        # near 1 keeps its digits ((1 - y) z, not z - y z) and the right tail is log1p(e^-|z|).
        loss = slope_sign * logits
        loss += np.log1p(decay)
        return loss
    # +-inf logits: the weighted form gives the limits without 0 * inf
    return weighted(target, softplus(-logits)) + weighted(1 - target, softplus(logits))


def _subtract_signed_small_sigmoid(logits, slope_sign, decay, spare) -> None:
    r"""``slope_sign -= copysign(σ(-|z|), z)``, turning :math:`[z \ge 0] - y` into :math:`\sigma(z) - y`
    (see :func:`_sigmoid_minus_label_from`); ``decay`` becomes :math:`\pm\sigma(-|z|)`."""
    np.add(decay, 1, out=spare)
    decay /= spare
    np.copysign(decay, logits, out=decay)
    slope_sign -= decay


def _small_sigmoid_from(decay: np.ndarray) -> np.ndarray:
    r""":math:`\sigma(-|z|) = t / (1 + t)` with :math:`t = e^{-|z|}`."""
    return decay / (decay + 1)


def _sigmoid_minus_label_from(logits, decay, slope_sign) -> np.ndarray:
    r""":math:`\sigma(z) - y = ([z \ge 0] - y) - \operatorname{copysign}(\sigma(-|z|), z)`: no cancellation for hard labels."""
    return slope_sign - np.copysign(_small_sigmoid_from(decay), logits)


def sigmoid_mse(logits, target, *, reduction: str = "mean"):
    r"""Squared error on the sigmoid output, :math:`\ell = (\sigma(z) - y)^2`.

    The chapter's counter-example: its gradient through the sigmoid vanishes
    when the prediction saturates, right or wrong. :math:`\sigma(z) - y` is
    formed as a double word (see :func:`_sigmoid_mse_kernel`) before it is
    squared, so the loss is within about an ulp, tails included.
    """
    validate_reduction(reduction)
    logits, target = _logit_and_label(logits, target)
    loss, _ = _sigmoid_mse_kernel(logits, target, with_grad=False)
    return reduce(loss, reduction)


def sigmoid_mse_grad(logits, target):
    r""":math:`\partial \ell / \partial z = 2 (\hat p - y)\,\hat p (1 - \hat p)` with :math:`\hat p = \sigma(z)`.

    :math:`\hat p - y` is formed without cancellation and :math:`\hat p (1 - \hat p)`
    as :math:`\sigma(-|z|)\,(1 - \sigma(-|z|))`, from double words, so both tails keep
    their tiny values and the result is within about 1.5 ulp.
    """
    logits, target = _logit_and_label(logits, target)
    _, grad = _sigmoid_mse_kernel(logits, target, with_loss=False)
    return sum_to_shape(grad, logits.shape)


def sigmoid_mse_and_grad(logits, target, *, reduction: str = "mean"):
    """``(sigmoid_mse(...), sigmoid_mse_grad(...))`` from one validation and one :math:`\\sigma(z) - y`."""
    validate_reduction(reduction)
    logits, target = _logit_and_label(logits, target)
    loss, grad = _sigmoid_mse_kernel(logits, target)
    return reduce(loss, reduction), sum_to_shape(grad, logits.shape)


def _in_pieces(kernel, logits: np.ndarray, target: np.ndarray, with_grad: bool, **options):
    """``kernel(logits, target, with_grad=..., **options)`` through :func:`blockwise`: the double-word
    kernels make about 250 temporaries, which in pieces of :data:`BLOCK` elements stay in the cache and
    are not fresh pages each time (2.5 to 3 times faster at 10^6 elements). Each element is computed on its
    own, so the pieces' results are the whole call's. ``with_loss=False`` in ``options``: no loss."""
    with_loss = options.get("with_loss", True)

    def block(z, y, *outs):
        loss, grad = kernel(z, y, with_grad=with_grad, **options)
        if with_loss:
            outs[0][...] = loss
        if with_grad:
            outs[-1][...] = grad

    outs = blockwise(block, logits, target, outputs=int(with_loss) + int(with_grad))
    return (outs[0] if with_loss else None), (outs[-1] if with_grad else None)


def _sigmoid_mse_kernel(logits: np.ndarray, target: np.ndarray, *, with_loss: bool = True, with_grad: bool = True):
    r"""Unchecked (loss, grad) of ``sigmoid_mse``, unreduced (None for the one not asked for).

    With :math:`t = e^{-|z|}` from :func:`losslab._double_word.exp_scaled` (``np.exp`` is up to an ulp
    off, two in float32), :math:`\sigma(-|z|) = t/(1 + t)` (the quotient and its exact remainder) and
    :math:`\sigma(|z|) = 1 - \sigma(-|z|)` are double words, and so is :math:`d = \sigma(z) - y = ([z \ge 0] - y) \mp \sigma(-|z|)`
    (:math:`1 - y` exact). The loss :math:`d^2` is the square of the double word (within about an ulp) and
    the gradient :math:`2 d\,\sigma(-|z|)\,\sigma(|z|)` the product of the three rounded factors with their
    low parts to first order (two roundings, within about 1.5 ulp); where
    :math:`[z \ge 0] = y` (a hard label on its side) :math:`d = \mp\sigma(-|z|)` is kept with its power of
    two apart (past :math:`|z| \approx 300`, 40 in float32), applied last, so a result below the normal
    range is within a subnormal step. Soft labels near
    :math:`\sigma(z) = y` cancel: there the error is an ulp or so of the larger term. About 3 times the
    time of the plain form at 301 elements, 8 times at 10,000 (about 60 NumPy calls instead of 10).
    """
    if logits.dtype not in dw.DTYPES:  # longdouble
        return dw.in_float64(_sigmoid_mse_kernel, logits, target, with_loss=with_loss, with_grad=with_grad)
    if max(logits.size, target.size) > BLOCK:
        return _in_pieces(_sigmoid_mse_whole, logits, target, with_grad, with_loss=with_loss)
    return _sigmoid_mse_whole(logits, target, with_loss=with_loss, with_grad=with_grad)


def _sigmoid_mse_whole(logits: np.ndarray, target: np.ndarray, *, with_loss: bool, with_grad: bool):
    a = np.abs(logits)
    positive = ~np.signbit(logits)
    t_hi, t_lo, power = dw.exp_scaled(-a)  # t = (t_hi + t_lo) 2^power
    # past |z| ~ 350 (40 in float32) results may fall below the normal range: then sigma(-|z|) is kept
    # times 2^-power and a result where d = -+sigma(-|z|) exactly gets its power of two last
    scaled = bool(a.size) and a.max() > _SCALED_FROM[logits.dtype.itemsize]
    abs_hi, abs_lo = np.ldexp(t_hi, power), np.ldexp(t_lo, power)
    if not scaled:
        t_hi, t_lo = abs_hi, abs_lo
    w_hi = abs_hi + 1
    w_lo = abs_lo + (abs_hi - (w_hi - 1))  # 1 + t, exactly
    # sigma(-|z|) = t / (1 + t) as a double word: the quotient and its exact remainder
    s_hi = t_hi / w_hi
    p, e = dw.two_product_unchecked(s_hi, w_hi)
    s_lo = (((t_hi - p) - e) + (t_lo - s_hi * w_lo)) / w_hi
    if scaled:
        s_abs_hi, s_abs_lo = np.ldexp(s_hi, power), np.ldexp(s_lo, power)
    else:
        s_abs_hi, s_abs_lo = s_hi, s_lo
    # d = ([z >= 0] - y) - copysign(sigma(-|z|), z); 1 - y rounds for y < 1/2, its error is kept
    step_hi = np.subtract(positive, target, dtype=logits.dtype)
    step_lo = (positive - step_hi) - target
    sign = np.subtract(1, 2 * positive, dtype=logits.dtype)
    d_hi, d_lo = dw.add_unchecked(step_hi, step_lo, sign * s_abs_hi, sign * s_abs_lo)
    shift = 0
    if scaled:
        tail = step_hi == 0  # d = -+sigma(-|z|) exactly, kept times 2^-power
        shift = np.where(tail, power, 0)
        d_hi = np.where(tail, sign * s_hi, d_hi)
        d_lo = np.where(tail, sign * s_lo, d_lo)
    loss = grad = None
    if with_loss:
        loss = d_hi * d_hi  # d^2 from the double word: the square's rounding and one more
        loss += 2 * d_hi * d_lo
        if scaled:
            loss = np.ldexp(loss, 2 * shift)
    if with_grad:
        u_hi = 1 - s_abs_hi  # sigma(|z|): 1 - s exact as a double word (s <= 1/2)
        u_lo = ((1 - u_hi) - s_abs_hi) - s_abs_lo
        # 2 d s (1 - s): the product of the three floats (two roundings) and the low parts to first order
        slope = s_hi * u_hi
        grad = slope * d_hi
        low = s_lo * u_hi
        low += s_hi * u_lo
        low = low * d_hi  # d may have the broadcast shape of the label
        low += d_lo * slope
        grad += low
        grad *= 2
        if scaled:
            grad = np.ldexp(grad, shift + power)
    return loss, grad


# |z| from which sigmoid_mse's results may be below the normal range (float64, float32 by item size)
_SCALED_FROM = {8: 300.0, 4: 40.0}


def focal(logits, target, *, gamma: float = 2.0, alpha: float | None = None, reduction: str = "mean"):
    r"""Focal loss of Lin et al. (2017) from logits, as in torchvision's ``sigmoid_focal_loss``:

    .. math:: \ell = \alpha_t\,(1 - p_t)^\gamma\,\mathrm{BCE}(z, y),\quad
              p_t = y \hat p + (1 - y)(1 - \hat p),\quad \alpha_t = \alpha y + (1 - \alpha)(1 - y)

    ``gamma >= 0`` down-weights easy examples (``gamma = 0`` is BCE);
    ``alpha`` in [0, 1] balances the classes, ``None`` (default) means no weighting.
    """
    validate_reduction(reduction)
    logits, target = _logit_and_label(logits, target)
    gamma, alpha = _focal_parameters(gamma, alpha)
    loss, _ = _focal_kernel(logits, target, gamma=gamma, alpha=alpha, with_grad=False)
    return reduce(loss, reduction)


def focal_grad(logits, target, *, gamma: float = 2.0, alpha: float | None = None):
    r""":math:`\partial \ell / \partial z = \alpha_t \bigl[(\hat p - y)(1-p_t)^\gamma
    + \gamma (1-p_t)^{\gamma-1} (1-2y)\,\hat p (1-\hat p)\,\mathrm{BCE}\bigr]`."""
    logits, target = _logit_and_label(logits, target)
    gamma, alpha = _focal_parameters(gamma, alpha)
    _, grad = _focal_kernel(logits, target, gamma=gamma, alpha=alpha)
    return sum_to_shape(grad, logits.shape)


def focal_and_grad(logits, target, *, gamma: float = 2.0, alpha: float | None = None, reduction: str = "mean"):
    """``(focal(...), focal_grad(...))`` from one validation and one set of sigmoids."""
    validate_reduction(reduction)
    logits, target = _logit_and_label(logits, target)
    gamma, alpha = _focal_parameters(gamma, alpha)
    loss, grad = _focal_kernel(logits, target, gamma=gamma, alpha=alpha)
    return reduce(loss, reduction), sum_to_shape(grad, logits.shape)


def _focal_kernel(logits: np.ndarray, target: np.ndarray, *, gamma: float = 2.0, alpha: float | None = None,
                  with_grad: bool = True):
    """Unchecked (loss, grad) of ``focal``, unreduced (grad None if not ``with_grad``).

    ``logits``/``target`` must be validated float arrays, ``gamma``/``alpha`` validated floats.
    With ``gamma > 0``, finite logits take :func:`_focal_hard` (labels 0 and 1) or :func:`_focal_soft`;
    ``gamma = 0`` and +-inf logits :func:`_focal_any`. Inputs past :data:`BLOCK` elements go in pieces
    (:func:`_in_pieces`).
    """
    # longdouble, or float32 with a gamma that is not a normal float32 value: in float64, rounded once
    if logits.dtype not in dw.DTYPES or (logits.dtype == np.float32 and not fits_float32(gamma)):
        return dw.in_float64(_focal_kernel, logits, target, gamma=gamma, alpha=alpha, with_grad=with_grad)
    if gamma > 0 and max(logits.size, target.size) > BLOCK:
        return _in_pieces(_focal_whole, logits, target, with_grad, gamma=gamma, alpha=alpha)
    return _focal_whole(logits, target, gamma=gamma, alpha=alpha, with_grad=with_grad)


def _focal_whole(logits: np.ndarray, target: np.ndarray, *, gamma: float, alpha: float | None, with_grad: bool):
    if gamma == 0:
        return _focal_any(logits, target, gamma, alpha, with_grad)
    if all_finite(logits):
        return _focal_finite(logits, target, gamma, alpha, with_grad)
    finite = np.isfinite(logits)
    loss, grad = _focal_finite(np.where(finite, logits, 0), target, gamma, alpha, with_grad)
    limit_loss, limit_grad = _focal_any(logits, target, gamma, alpha, with_grad)
    return np.where(finite, loss, limit_loss), (np.where(finite, grad, limit_grad) if with_grad else None)


def _focal_finite(logits: np.ndarray, target: np.ndarray, gamma: float, alpha: float | None, with_grad: bool):
    hard = (target == 0) | (target == 1)
    if hard.all():
        return _focal_hard(logits, target, gamma, alpha, with_grad)
    if hard.any():
        loss, grad = _focal_hard(logits, target, gamma, alpha, with_grad)
        soft_loss, soft_grad = _focal_soft(logits, target, gamma, alpha, with_grad)
        return np.where(hard, loss, soft_loss), (np.where(hard, grad, soft_grad) if with_grad else None)
    return _focal_soft(logits, target, gamma, alpha, with_grad)


def _focal_hard(logits: np.ndarray, target: np.ndarray, gamma: float, alpha: float | None, with_grad: bool):
    r"""``focal`` for labels 0 and 1 and finite logits, each result rounded once from double words.

    Here :math:`1 - p_t = \sigma(x)` with :math:`x = z` (label 0) or :math:`-z` (label 1), and
    :math:`\gamma \log \sigma(x) = \gamma \min(x, 0) - \gamma \log(1 + t)`, :math:`t = e^{-|z|}`. Both
    products are split exactly into a float and its rounding error (Dekker's two-product), and so is
    their difference (two-sum): :math:`(1 - p_t)^\gamma = e^{E + c}` with :math:`E` a float and :math:`c`
    the tiny sum of the errors, taken by :func:`losslab._double_word.exp_scaled` as a double word and a
    power of two. ``(1 - p_t)**gamma`` instead multiplies the ulp or so of :math:`1 - p_t`'s rounding by
    :math:`\gamma`, and ``exp`` of a rounded :math:`\gamma \log(1 - p_t)` is off by
    :math:`|\gamma \log(1 - p_t)|/2` ulp. :math:`t` is a double word too (``np.exp`` is up to an ulp
    off, 2 in float32); in float32 ``log1p``'s rounding (up to 1.7 ulp), which :math:`\gamma` would
    multiply, is corrected by one Newton step, :math:`\log(1 + t) = L + ((1 + t) e^{-L} - 1)`
    (float64's half an ulp costs about :math:`0.15\gamma` ulp of the modulation); above
    :data:`_LOG_POWER_FROM` :math:`\log(1 + t)` is :func:`losslab._double_word.log1p` of the double word
    :math:`t` instead (about :math:`2^{-69}` relative; gamma may be anything up to float max). The BCE is :math:`\max(x, 0) + \log(1 + t)` (two
    terms :math:`\ge 0`), and the gradient :math:`\pm(1 - p_t)^\gamma (\sigma(x) + \gamma \sigma(-x)\,
    \mathrm{BCE})` (``-`` for label 1) a sum of positive terms; the power of two of
    :math:`(1 - p_t)^\gamma` is applied last, so a result below the normal range is rounded once.
    """
    dtype = logits.dtype.type
    g = dtype(gamma)
    g_rest = dtype(gamma - float(g))  # float32: gamma = g + g_rest to about 48 bits
    x = np.where(target == 1, -logits, logits)
    a = np.abs(x)
    t_scaled_hi, t_scaled_lo, power = dw.exp_scaled(-a)
    t_hi = np.ldexp(t_scaled_hi, power)  # the absolute t: its low part may underflow, where it no longer counts
    t_lo = np.ldexp(t_scaled_lo, power)
    # ... except where a huge gamma multiplies it: t below 2^-1000 (float32: 2^-120) is kept scaled there
    below = None
    if gamma > _LOG_POWER_FROM and power.size and power.min() < _TINY_POWER[logits.dtype.itemsize]:
        below = power < _TINY_POWER[logits.dtype.itemsize]
    w_hi, w_lo = dw.fast_two_sum_unchecked(dtype(1), t_hi)  # 1 + t
    w_lo += t_lo
    if gamma > _LOG_POWER_FROM:  # log(1 + t) to about 2^-69 relative (2^-40 in float32): gamma multiplies its error
        log_tail, delta = dw.log1p(t_hi, t_lo)
        ce_low = delta
    elif logits.dtype.itemsize == 8:  # log1p within about half an ulp: t's low part to first order
        log_tail = np.log1p(t_hi)
        delta = ce_low = t_lo / w_hi
    else:  # float32's log1p is up to 1.7 ulp off, which gamma would multiply: one Newton step
        log_tail, delta = _log1p_newton(t_hi, w_hi, w_lo)
        ce_low = _log1p_low(t_hi, t_lo / w_hi, delta)
    low = np.minimum(x, 0)
    with np.errstate(over="ignore", invalid="ignore"):  # gamma x below -float max: a modulation of 0
        head, head_error = _scalar_two_product(g, low)
        tail, tail_error = _scalar_two_product(g, log_tail)
        tail_error += g * delta
        if g_rest:
            head_error += g_rest * low
            tail_error += g_rest * log_tail
        if below is not None:  # gamma log(1 + t) = gamma t for t below 2^-1000, from t's scaled digits
            g_mantissa, k = math.frexp(float(g))
            p, e = _scalar_two_product(dtype(g_mantissa), t_scaled_hi)
            e += dtype(g_mantissa) * t_scaled_lo
            with np.errstate(under="ignore"):
                tail = np.where(below, np.ldexp(p, power + k), tail)
                tail_error = np.where(below, np.ldexp(e, power + k), tail_error)
        exponent = head - tail
        back = exponent - head  # Knuth's two-sum of head and -tail
        rounding = (head - (exponent - back)) - (tail + back)
        correction = (head_error - tail_error) + rounding
        # far below -745, e^exponent is 0 and the correction (up to half an ulp of gamma x) must not be inf
        correction = np.where(exponent > -2000, correction, 0).astype(logits.dtype, copy=False)
    mod_hi, mod_lo, mod_power = dw.exp_scaled(exponent, correction)  # (1 - p_t)^gamma / 2^mod_power
    if alpha is not None:
        weight_hi, weight_lo = _class_weight_double_word(target, alpha, logits.dtype)
        mod_hi, mod_lo = dw.multiply_unchecked(mod_hi, mod_lo, weight_hi, weight_lo)
    # BCE = max(x, 0) + log(1 + t); logits past 2^995 (2^114 in float32), where Veltkamp's split would
    # overflow, carry it times 2^-64 (2^-32), exactly, and the results are scaled back
    unscale = 64 if logits.dtype.itemsize == 8 else 32
    huge = bool(a.size) and a.max() > _SPLIT_LIMIT[logits.dtype.itemsize]
    ce_hi, ce_lo = dw.fast_two_sum_unchecked(np.maximum(x, 0), log_tail) if not huge else (None, None)
    if huge:
        ce_hi, ce_lo = dw.add_unchecked(np.ldexp(np.maximum(x, 0), -unscale), 0 * a,
                                        np.ldexp(log_tail, -unscale), 0 * a)
    ce_lo += np.ldexp(ce_low, -unscale) if huge else ce_low
    loss = _round_scaled_product(mod_hi, mod_lo, ce_hi, ce_lo, mod_power + unscale if huge else mod_power)
    if not with_grad:
        return loss, None
    s_hi, s_lo = dw.divide_unchecked(t_hi, t_lo, w_hi, w_lo)  # sigma(-|x|) = t / (1 + t)
    u_hi = 1 - s_hi  # sigma(|x|) = 1 - sigma(-|x|), exact as a double word (s <= 1/2)
    u_lo = ((1 - u_hi) - s_hi) - s_lo
    positive = x >= 0
    big_hi, big_lo = np.where(positive, u_hi, s_hi), np.where(positive, u_lo, s_lo)  # sigma(x)
    small_hi, small_lo = np.where(positive, s_hi, u_hi), np.where(positive, s_lo, u_lo)  # sigma(-x)
    slope_hi, slope_lo = dw.multiply_unchecked(small_hi, small_lo, ce_hi, ce_lo)
    shift = unscale if huge else 0
    if below is not None:  # sigma(-x) = t (1 - t) = t there (x >= 0): the slope t BCE from t's scaled digits
        scaled_hi, scaled_lo = dw.multiply_unchecked(t_scaled_hi, t_scaled_lo, ce_hi, ce_lo)
        below &= positive
        slope_hi, slope_lo = np.where(below, scaled_hi, slope_hi), np.where(below, scaled_lo, slope_lo)
        shift = np.where(below, power + shift, shift).astype(np.int32)
    bracket_hi, bracket_lo, shift = _plus_gamma_times(big_hi, big_lo, g, g_rest, slope_hi, slope_lo, shift)
    grad = _round_scaled_product(mod_hi, mod_lo, bracket_hi, bracket_lo, mod_power + shift)
    return loss, np.where(target == 1, -grad, grad)


def _log1p_newton(t, w_hi, w_lo):
    r""":math:`\log(1 + t) = L + \delta` for :math:`t \in [0, 1]` and :math:`1 + t = w_{hi} + w_{lo}`, with
    :math:`L` = ``log1p(t)`` and one Newton step :math:`\delta = (1 + t) e^{-L} - 1` from
    :func:`losslab._double_word.exp_scaled`: about ``2^-62`` absolute (``2^-29`` in float32), where ``log1p``
    is up to an ulp off (1.7 in float32)."""
    log_tail = np.log1p(t)
    back_hi, back_lo, back_power = dw.exp_scaled(-log_tail)
    p, e = dw.two_product_unchecked(w_hi, back_hi)
    e += w_hi * back_lo + w_lo * back_hi
    delta = np.ldexp(p, back_power)
    delta -= 1  # exact (Sterbenz)
    delta += np.ldexp(e, back_power)
    return log_tail, delta


def _log1p_low(t, first_order, delta):
    """The low part of ``log1p(t)`` for a relative accuracy: the Newton step where ``log1p(t)`` is large
    enough that its absolute accuracy is a relative one, else ``log1p``'s own (within about half an ulp for
    small ``t``) with ``t``'s low part to first order."""
    threshold = 2.0**-6 if t.dtype.itemsize == 8 else 2.0**-4
    return np.where(t > threshold, delta, first_order)


def _scalar_two_product(g, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dekker's two-product of a scalar ``g >= 0`` and an array: ``g a = p + e`` exactly (NumPy has no FMA).

    Veltkamp's split puts half the significand in each part; arrays with values near float max are
    scaled by a power of two first (exact), so the split cannot overflow.
    """
    info = np.finfo(a.dtype)
    half = (info.nmant + 2) // 2
    factor = a.dtype.type(2.0**half + 1)
    scale = a.dtype.type(1)
    if a.size and np.abs(a).max() > info.max / 2.0 ** (half + 1):
        scale = a.dtype.type(2.0 ** -(half + 1))
    g_high, g_low = _scalar_halves(float(g), a.dtype)
    scaled = a * scale
    big = scaled * factor
    a_high = (big - (big - scaled)) / scale
    a_low = a - a_high
    p = g * a
    return p, ((g_high * a_high - p) + g_high * a_low + g_low * a_high) + g_low * a_low


@functools.lru_cache(maxsize=64)
def _scalar_halves(g: float, dtype: np.dtype):
    """Veltkamp's halves of a float ``g`` of ``dtype`` (``g = high + low`` exactly, each with half the
    significand), as exact rationals: no overflow for ``g`` near float max (a typed gamma)."""
    value = Fraction(g)
    if value == 0:
        return dtype.type(0), dtype.type(0)
    info = np.finfo(dtype)
    keep = info.nmant + 1 - (info.nmant + 2) // 2  # the high half's bits
    unit = Fraction(2) ** (math.frexp(g)[1] - keep)
    high = round(value / unit) * unit
    if high > Fraction(float(info.max)):  # g within half a unit of 2^emax: truncated (low then takes a bit more)
        high = (value // unit) * unit
    return dtype.type(float(high)), dtype.type(float(value - high))


def _gamma_times_tiny_p_t(exponent, correction, cs_hi, cs_lo, cu_hi, cu_lo, q_hi, g, g_rest, t_scaled):
    r"""``(exponent, correction)`` of :func:`_soft_modulation` with :math:`-\gamma p_t = -\gamma (c_s + c_u t)`
    where :math:`p_t < 2^{-1000}` (float32: :math:`2^{-120}`): there :math:`\log(1 - p_t) = -p_t` and
    :math:`1 + t = 1` to far below an ulp, and gamma times each term is a two-product of mantissas with the
    powers of two applied after it (the terms' subnormal roundings would cost up to :math:`\gamma 2^{-1075}`)."""
    t_hi, t_lo, power = t_scaled
    below = q_hi < 2.0 ** _TINY_POWER[q_hi.dtype.itemsize]
    dtype = q_hi.dtype.type
    g_mantissa, k = math.frexp(float(g))
    g_mantissa = dtype(g_mantissa)
    mantissa, j = np.frexp(cs_hi)
    first, first_error = _scalar_two_product(g_mantissa, mantissa)
    first_error += g_mantissa * np.ldexp(cs_lo, -j)
    product_hi, product_lo = dw.multiply_unchecked(cu_hi, cu_lo, t_hi, t_lo)  # c_u t / 2^power
    second, second_error = _scalar_two_product(g_mantissa, product_hi)
    second_error += g_mantissa * product_lo
    with np.errstate(under="ignore", over="ignore", invalid="ignore"):  # only the selected ones count
        j += k
        power = power + k
        first, first_error = np.ldexp(first, j), np.ldexp(first_error, j)
        second, second_error = np.ldexp(second, power), np.ldexp(second_error, power)
        total, total_error = dw.two_sum(first, second)
        total_error += first_error + second_error
        if g_rest:
            total_error += g_rest * q_hi
    return np.where(below, -total, exponent), np.where(below, -total_error, correction)


def _soft_modulation(cu_hi, cu_lo, cs_hi, cs_lo, t_hi, t_lo, w_hi, w_lo, m_hi, m_lo, g, g_rest, t_scaled):
    r""":math:`(1 - p_t)^\gamma = e^{\gamma \log(1 - p_t)}` of :func:`_focal_soft` for a large gamma, as
    ``(hi, lo, power)`` (:func:`losslab._double_word.exp_scaled`): the error of the exponential is gamma times
    the logarithm's absolute error, and :math:`\gamma |\log(1 - p_t)| \le 745` wherever the power is not 0,
    so the logarithm is a double word (:func:`losslab._double_word.log_pair`, about :math:`2^{-69}` relative)
    and the exponent an exact two-product. Where :math:`p_t` is below :math:`2^{-1000}` (a subnormal label or
    :math:`e^{-|z|}`, whose lost digits a gamma past :math:`2^{1000}` would bring back), the exponent is
    :math:`-\gamma (c_s + c_u t)` from the scaled digits of :math:`c_s` and ``t_scaled`` (exp_scaled's
    ``(hi, lo, power)`` of :math:`t`)."""
    # p_t = 1 - m = (c_s + c_u t) / (1 + t) too: where m is near 1 it has lost p_t's digits, which
    # log(1 - p_t) = log1p(-p_t) needs
    p, e = dw.two_product_unchecked(cu_hi, t_hi)
    e += cu_hi * t_lo + cu_lo * t_hi
    k_hi, k_lo = dw.add_unchecked(cs_hi, cs_lo, p, e)
    q_hi, q_lo = dw.divide_unchecked(k_hi, k_lo, w_hi, w_lo)
    log_hi, log_lo = dw.log_pair(m_hi, m_lo, -q_hi, -q_lo)
    # (1 - p_t)^gamma = e^(gamma log(1 - p_t)) = (mod_hi + mod_lo) 2^mod_power
    with np.errstate(over="ignore", invalid="ignore"):  # gamma log(1 - p_t) below -float max: a modulation of 0
        exponent, correction = _scalar_two_product(g, log_hi)
        correction += g * log_lo
        if g_rest:
            correction += g_rest * log_hi
        info = np.finfo(m_hi.dtype)
        if float(g) > 2.0 ** (info.maxexp - 30) and q_hi.size and q_hi.min() < 2.0 ** _TINY_POWER[info.dtype.itemsize]:
            exponent, correction = _gamma_times_tiny_p_t(exponent, correction, cs_hi, cs_lo, cu_hi, cu_lo, q_hi, g,
                                                         g_rest, t_scaled)
        exponent = np.where(m_hi > 0, exponent, -np.inf)  # m = 0 only for a hard label (from _focal_hard)
        # far below -745, e^exponent is 0 and the correction (up to half an ulp of the exponent) must not be inf
        correction = np.where(exponent > -2000, correction, 0).astype(m_hi.dtype, copy=False)
    return dw.exp_scaled(exponent, correction)


def _focal_soft(logits: np.ndarray, target: np.ndarray, gamma: float, alpha: float | None, with_grad: bool):
    r"""``focal`` for finite logits and any labels in [0, 1], from double words, rounded once at the end.

    With :math:`a = |z|`, :math:`t = e^{-a}`, :math:`u = \sigma(a) = 1/(1 + t)` and
    :math:`(c_u, c_s) = (1 - y, y)` for :math:`z \ge 0`, :math:`(y, 1 - y)` otherwise:

    - :math:`1 - p_t = u\,(c_u + c_s t)` and :math:`\mathrm{BCE} = c_u a + \log(1 + t)`, sums of terms
      :math:`\ge 0`;
    - the gradient is :math:`\pm\alpha_t (1 - p_t)^\gamma \bigl[(c_u - s) + \gamma\,(c_u - c_s)\,
      \mathrm{BCE}\, s/(c_u + c_s t)\bigr]` with :math:`s = t u = \sigma(-a)` (``+`` for :math:`z \ge 0`).

    :math:`t` comes from :func:`losslab._double_word.exp_scaled` (``np.exp`` is up to an ulp off, which
    :math:`\gamma` multiplies), :math:`1 - y`, :math:`\alpha_t` and every sum and product are double
    words, and :math:`(1 - p_t)^\gamma = m^\gamma (1 + \gamma\,m_{lo}/m)` for :math:`1 - p_t = m + m_{lo}`:
    the power of the rounded :math:`m` is the one rounding that is left (half an ulp in float64, one in
    float32), where ``(1 - p_t)**gamma`` multiplies the ulp or two of :math:`1 - p_t` by :math:`\gamma`.
    That first-order form fails once :math:`\gamma\,m_{lo}/m` is not tiny (gamma past about :math:`2^{26}`;
    4096 in float32): above :data:`_LOG_POWER_FROM` the modulation is :math:`e^{\gamma \log(1 - p_t)}` from
    :func:`_soft_modulation`.
    ``log1p`` of :math:`t` in the BCE (half an ulp) is the other; float32's ``log1p``, up to 1.7 ulp off, gets
    one Newton step (:func:`_log1p_newton`). The price is about 250 NumPy calls where the power form took
    about 25: 3.5 to 5 times its time at 301 elements, 6 to 9 times at 10,000.
    """
    dtype = logits.dtype.type
    a = np.abs(logits)
    positive = ~np.signbit(logits)
    t_scaled_hi, t_scaled_lo, power = dw.exp_scaled(-a)
    t_hi = np.ldexp(t_scaled_hi, power)  # the absolute t: its low part may underflow, where it no longer counts
    t_lo = np.ldexp(t_scaled_lo, power)
    w_hi, w_lo = dw.fast_two_sum_unchecked(dtype(1), t_hi)  # 1 + t
    w_lo += t_lo
    # 1 - y as a double word (exact): 1 - y rounds for y < 1/2
    y = target
    ybar_hi = 1 - y
    ybar_lo = (1 - ybar_hi) - y
    cu_hi, cu_lo = np.where(positive, ybar_hi, y), np.where(positive, ybar_lo, 0).astype(logits.dtype, copy=False)
    cs_hi, cs_lo = np.where(positive, y, ybar_hi), np.where(positive, 0, ybar_lo).astype(logits.dtype, copy=False)
    # h = c_u + c_s t, then 1 - p_t = h / (1 + t)
    p, e = dw.two_product_unchecked(cs_hi, t_hi)
    e += cs_hi * t_lo + cs_lo * t_hi
    h_hi, h_lo = dw.add_unchecked(cu_hi, cu_lo, p, e)
    m_hi, m_lo = dw.divide_unchecked(h_hi, h_lo, w_hi, w_lo)
    g = dtype(gamma)
    g_rest = dtype(gamma - float(g))
    if gamma > _LOG_POWER_FROM:
        mod_hi, mod_lo, mod_power = _soft_modulation(cu_hi, cu_lo, cs_hi, cs_lo, t_hi, t_lo, w_hi, w_lo, m_hi, m_lo,
                                                     g, g_rest, (t_scaled_hi, t_scaled_lo, power))
    else:  # m^gamma (1 + gamma m_lo/m): the power of the float m, corrected to first order for m_lo and gamma's rest
        with np.errstate(divide="ignore", invalid="ignore"):  # m = 0 only for a hard label (from _focal_hard)
            mod_hi = np.power(m_hi, g)
            mod_lo = m_lo / m_hi
            mod_lo *= g
            if g_rest:
                mod_lo += g_rest * np.log(m_hi)
            mod_lo *= mod_hi
        mod_power = 0
    # BCE = c_u a + log(1 + t)
    # logits past 2^995 (2^114 in float32), where Veltkamp's split would overflow: BCE is carried times
    # 2^-64 (2^-32), exactly, and the results scaled back
    unscale = 64 if logits.dtype.itemsize == 8 else 32
    huge = bool(a.size) and a.max() > _SPLIT_LIMIT[logits.dtype.itemsize]
    if huge:
        a = np.ldexp(a, -unscale)
    b_hi, b_lo = dw.two_product_unchecked(cu_hi, a)
    b_lo += cu_lo * a
    if logits.dtype.itemsize == 8:  # float64's log1p is within about half an ulp: t's low part to first order
        log_tail = np.log1p(t_hi)
        tail_lo = t_lo / w_hi
    else:  # float32's is up to 1.7 ulp off: one Newton step where log1p(t) is not small
        log_tail, delta = _log1p_newton(t_hi, w_hi, w_lo)
        tail_lo = _log1p_low(t_hi, t_lo / w_hi, delta)
    if huge:
        log_tail = np.ldexp(log_tail, -unscale)
        tail_lo = np.ldexp(tail_lo, -unscale)
    b_hi, b_lo = dw.add_unchecked(b_hi, b_lo, log_tail, tail_lo)
    scaled_hi, scaled_lo = mod_hi, mod_lo  # alpha_t (1 - p_t)^gamma
    if alpha is not None:
        weight_hi, weight_lo = _class_weight_double_word(y, alpha, logits.dtype)
        scaled_hi, scaled_lo = dw.multiply_unchecked(mod_hi, mod_lo, weight_hi, weight_lo)
    loss = _round_scaled_product(scaled_hi, scaled_lo, b_hi, b_lo, mod_power + unscale if huge else mod_power)
    if not with_grad:
        return loss, None
    s_hi, s_lo = dw.divide_unchecked(t_hi, t_lo, w_hi, w_lo)  # sigma(-a)
    with np.errstate(divide="ignore", invalid="ignore"):  # h = 0 only for a hard label (taken from _focal_hard)
        ratio_hi, ratio_lo = dw.divide_unchecked(s_hi, s_lo, h_hi, h_lo)  # s / (c_u + c_s t), in [0, 1]
    spread_hi, spread_lo = dw.two_sum(cu_hi, -cs_hi)  # c_u - c_s = +-(1 - 2y)
    spread_lo += cu_lo - cs_lo
    second_hi, second_lo = dw.multiply_unchecked(ratio_hi, ratio_lo, spread_hi, spread_lo)
    second_hi, second_lo = dw.multiply_unchecked(second_hi, second_lo, b_hi, b_lo)
    first_hi, first_lo = dw.add_unchecked(cu_hi, cu_lo, -s_hi, -s_lo)  # c_u - s = +-(sigma(z) - y)
    shift = unscale if huge else 0
    tiny_power = _TINY_POWER[logits.dtype.itemsize]
    if gamma > _LOG_POWER_FROM and power.size and power.min() < tiny_power:
        # s = t below 2^-1000 (float32: 2^-120), whose digits a huge gamma brings back: from t's scaled digits,
        # where h = c_u + c_s t >= 1/2 (else s/h is not tiny, or the modulation m^gamma <= 2^-gamma makes
        # gamma s/h negligible beside c_u - s); elsewhere h is replaced by 1, so the scaled quotient stays small
        below = (power < tiny_power) & (h_hi >= 0.5)
        tiny_hi, tiny_lo = dw.divide_unchecked(t_scaled_hi, t_scaled_lo, np.where(below, h_hi, dtype(1)),
                                               np.where(below, h_lo, dtype(0)))
        tiny_hi, tiny_lo = dw.multiply_unchecked(tiny_hi, tiny_lo, spread_hi, spread_lo)
        tiny_hi, tiny_lo = dw.multiply_unchecked(tiny_hi, tiny_lo, b_hi, b_lo)
        second_hi, second_lo = np.where(below, tiny_hi, second_hi), np.where(below, tiny_lo, second_lo)
        shift = np.where(below, power + shift, shift).astype(np.int32)
    bracket_hi, bracket_lo, shift = _plus_gamma_times(first_hi, first_lo, g, g_rest, second_hi, second_lo, shift)
    grad = _round_scaled_product(scaled_hi, scaled_lo, bracket_hi, bracket_lo, mod_power + shift)
    return loss, np.where(positive, grad, -grad)


# gamma above which the modulation (1 - p_t)^gamma is e^(gamma log(1 - p_t)) from a double-word log (the
# rounding of a float log, or the first-order correction of a power, grows with gamma); up to it the
# float forms, whose error (about 0.15 gamma ulp for labels 0 and 1) stays within the accuracy tests' bounds
_LOG_POWER_FROM = 10.0

# e^-|z| below 2^this is kept as a scaled double word where gamma multiplies it (float64, float32 by item size)
_TINY_POWER = {8: -1000, 4: -120}

# Veltkamp's split of values up to this size cannot overflow (float64, float32 by item size)
_SPLIT_LIMIT = {8: 2.0**995, 4: 2.0**114}


def _round_scaled_product(x_hi, x_lo, y_hi, y_lo, power) -> np.ndarray:
    """``(x_hi + x_lo)(y_hi + y_lo) 2^power`` with the product rounded once and the power of two applied last
    (a result below the normal range is rounded once more, within a subnormal step; one past float max is inf)."""
    if isinstance(power, int) and power == 0:  # the float forms of gamma <= _LOG_POWER_FROM: no scaling
        return _round_product(x_hi, x_lo, y_hi, y_lo)
    with np.errstate(over="ignore"):
        return np.ldexp(_round_product(x_hi, x_lo, y_hi, y_lo), power)


def _plus_gamma_times(first_hi, first_lo, g, g_rest, second_hi, second_lo, shift):
    r"""``(first + gamma second 2^shift) 2^-S`` as a double word and ``S`` (0, or an int32 array), for
    ``gamma = g + g_rest`` (a float, and float32's rest), :math:`0 \le` ``second`` a normal double word (or 0) and
    ``shift`` an int or an int32 array: ``S > 0`` only where ``gamma second`` would come within :math:`2^{34}` of
    float max (a typed gamma can be float max), and then ``first`` (at most 1) is negligible beside it. The
    caller multiplies by :math:`2^S` last, after the modulation, which may be far below 1. An array ``shift``
    carries a second below the normal range (a subnormal ``e^-|z|`` would have lost the digits that a
    gamma near float max brings back)."""
    info = np.finfo(second_hi.dtype)
    # gamma second 2^(shift - S) stays below 2^top, where Veltkamp's split of the bracket cannot overflow
    # (_SPLIT_LIMIT); second 2^(shift - S) stays normal
    top = info.maxexp - 34
    largest = float(np.abs(second_hi).max()) if second_hi.size else 0.0
    if isinstance(shift, int) and float(g) * largest * 2.0**shift < 2.0**top:  # also False for inf
        if shift:
            second_hi, second_lo = np.ldexp(second_hi, shift), np.ldexp(second_lo, shift)
        p, e = _scalar_two_product(g, second_hi)
        e += g * second_lo + g_rest * second_hi
        return *dw.add_unchecked(first_hi, first_lo, p, e), 0
    # gamma = g' 2^k and second = m 2^j with g', m in [1/2, 1): their two-product is exact whatever the
    # sizes, and the powers of two are applied after it
    g_mantissa, k = math.frexp(float(g))
    dtype = second_hi.dtype.type
    g_mantissa, g_rest = dtype(g_mantissa), dtype(math.ldexp(float(g_rest), -k))
    mantissa, j = np.frexp(second_hi)
    mantissa_lo = np.ldexp(second_lo, -j)
    j += shift
    j += k
    scale = np.maximum(j - top, 0).astype(np.int32)
    j -= scale
    p, e = _scalar_two_product(g_mantissa, mantissa)
    e += g_mantissa * mantissa_lo + g_rest * mantissa
    with np.errstate(under="ignore"):  # a product below the normal range is negligible beside first
        p, e = np.ldexp(p, j), np.ldexp(e, j)
    first_hi, first_lo = np.ldexp(first_hi, -scale), np.ldexp(first_lo, -scale)
    return *dw.add_unchecked(first_hi, first_lo, p, e), scale


def _round_product(x_hi, x_lo, y_hi, y_lo) -> np.ndarray:
    """``(x_hi + x_lo)(y_hi + y_lo)`` rounded once (to within a hair of half an ulp), for values in range."""
    p, e = dw.two_product_unchecked(x_hi, y_hi)
    e += x_hi * y_lo + x_lo * y_hi
    p += e
    return p


def _class_weight_double_word(target, alpha: float | None, dtype: np.dtype):
    r""":math:`\alpha_t = (1 - \alpha) + (2\alpha - 1)\,y` as a double word (``alpha`` None: 1).

    The constants are exact rationals of the float ``alpha``, cut into a float and its rest.
    """
    one = np.ones((), dtype)
    if alpha is None:
        return one, one * 0
    rest_hi, rest_lo, slope_hi, slope_lo = _class_weight_constants(alpha, dtype)
    p, e = _scalar_two_product(slope_hi, target) if slope_hi >= 0 else _scalar_two_product(-slope_hi, -target)
    e += slope_lo * target
    return dw.add_unchecked(rest_hi * one, rest_lo * one, p, e)


@functools.lru_cache(maxsize=64)
def _class_weight_constants(alpha: float, dtype: np.dtype):
    """``1 - alpha`` and ``2 alpha - 1`` as double words of ``dtype`` (exact rationals of the float ``alpha``)."""
    return (*_constant_double_word(1 - Fraction(alpha), dtype), *_constant_double_word(2 * Fraction(alpha) - 1, dtype))


def _constant_double_word(value: Fraction, dtype: np.dtype):
    high = dtype.type(float(value))
    return high, dtype.type(float(value - Fraction(float(high))))


def _focal_any(logits: np.ndarray, target: np.ndarray, gamma: float, alpha: float | None, with_grad: bool):
    """``focal`` for any labels in [0, 1] and logits (``+-inf`` included): ``(1 - p_t)**gamma``."""
    decay, slope_sign = _logit_terms(logits, target)
    small = _small_sigmoid_from(decay)
    signed_small = np.copysign(small, logits)
    positive = ~np.signbit(logits)
    prob = positive - signed_small  # sigma(z), from sigma(-|z|) without cancellation
    prob_other = ~positive + signed_small  # sigma(-z)
    # 1 - p_t = y sigma(-z) + (1 - y) sigma(z): two terms >= 0
    miss = target * prob_other + (1 - target) * prob
    cross_entropy = _bce_with_logits_loss(logits, target, decay, slope_sign)
    weight = _class_weight(target, alpha)
    modulation = miss**gamma
    loss = cross_entropy * modulation * weight
    if not with_grad:
        return loss, None
    # gamma (1 - p_t)^(gamma - 1) p(1 - p) is written as gamma (1 - p_t)^gamma * [p(1 - p) / (1 - p_t)]:
    # the bracket lies in [0, 1] for every label, so no negative power can overflow.
    with np.errstate(divide="ignore", invalid="ignore"):  # miss = 0 only where the bracket's factor is 0
        slope_ratio = np.where(miss > 0, prob * prob_other / miss, 0)
    error = slope_sign - signed_small  # sigma(z) - y
    with np.errstate(invalid="ignore"):  # z = +-inf: p (1 - p) BCE -> 0 (e^-|z| |z|), not 0 * inf
        slope_term = gamma * modulation * slope_ratio * (1 - 2 * target) * cross_entropy
    grad = error * modulation + np.where(slope_ratio > 0, slope_term, 0)
    return loss, grad * weight


def _focal_parameters(gamma, alpha):
    gamma = NON_NEGATIVE.validate(gamma, "gamma")
    alpha = None if alpha is None else UNIT.validate(alpha, "alpha")
    return gamma, alpha


def _class_weight(target: np.ndarray, alpha: float | None):
    if alpha is None:
        return np.ones((), target.dtype)
    return alpha * target + (1 - alpha) * (1 - target)


def hinge(score, target, *, reduction: str = "mean"):
    r"""Hinge loss of a raw score :math:`s` for a label :math:`t \in \{-1, +1\}`: :math:`\max(0, 1 - t s)`."""
    validate_reduction(reduction)
    score, target = _score_and_sign(score, target)
    return reduce(np.maximum(0, 1 - target * score), reduction)


def hinge_grad(score, target):
    r""":math:`\partial \ell / \partial s = -t` inside the margin (:math:`t s < 1`), else 0."""
    score, target = _score_and_sign(score, target)
    grad = np.where(target * score < 1, -target, 0).astype(score.dtype, copy=False)
    return sum_to_shape(grad, score.shape)


def hinge_and_grad(score, target, *, reduction: str = "mean"):
    """``(hinge(...), hinge_grad(...))`` from one validation and one margin :math:`t s`."""
    validate_reduction(reduction)
    score, target = _score_and_sign(score, target)
    loss, grad = _hinge_kernel(score, target)
    return reduce(loss, reduction), sum_to_shape(grad, score.shape)


def _hinge_kernel(score: np.ndarray, target: np.ndarray):
    """Unchecked (loss, grad) of ``hinge``, unreduced; ``target`` must be validated labels in {-1, +1}."""
    slack = 1 - target * score
    grad = np.where(slack > 0, -target, 0).astype(score.dtype, copy=False)
    return np.maximum(0, slack), grad


def _score_and_sign(score, target):
    score, target = prepare(score, target, "score", "target")
    check_in_set(target, "target (hinge labels)", (-1.0, 1.0))
    return score, target
