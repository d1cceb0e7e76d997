r"""Binary classification losses, from probabilities :math:`\hat p` or from logits :math:`z`.

Targets are probabilities :math:`y \in [0, 1]` (hard labels 0/1 or soft
labels), except ``hinge``, which takes labels in {-1, +1}. The ``*_with_logits``
forms and ``focal`` take the pre-sigmoid logit :math:`z` with
:math:`\hat p = \sigma(z)`; their gradients are :math:`\partial \ell / \partial z`
and stay finite for every finite ``z``.
"""

from __future__ import annotations

import numpy as np

from losslab._validation import (
    Interval,
    all_finite,
    blockwise,
    check_in_closed_interval,
    check_in_set,
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
    """``[eps, 1 - eps]`` in ``dtype``, with 1 - eps kept below 1 and eps above 0 in that precision."""
    upper = min(np.asarray(1 - eps, dtype), np.nextafter(dtype.type(1), dtype.type(0)))
    lower = max(np.asarray(eps, dtype), np.finfo(dtype).tiny)
    return lower, upper


def bce(prob, target, *, eps: float = 1e-12, reduction: str = "mean"):
    r"""Binary cross-entropy of a probability :math:`\hat p`:

    .. math:: \ell = -\bigl(y \log \hat p + (1 - y) \log(1 - \hat p)\bigr)

    with :math:`\hat p` clipped to :math:`[\epsilon, 1 - \epsilon]` (the chapter's
    convention) so a confident mistake costs about 27.6 rather than inf.
    ``eps`` must be in [0, 0.5). Prefer ``bce_with_logits`` when you have ``z``.
    """
    validate_reduction(reduction)
    eps = BCE_EPS.validate(eps, "eps")
    prob, target = _probability_and_label(prob, target)
    if eps == 0:
        return reduce(_unclipped_bce_loss(prob, target), reduction)
    bounds = _clip_bounds(prob.dtype, eps)

    def loss_block(p, y, loss, q, log_miss, label_miss):
        np.clip(p, *bounds, out=q)
        _bce_loss_into(q, y, loss, log_miss, label_miss)

    (loss,) = blockwise(loss_block, prob, target, outputs=1, scratch=3)
    return reduce(loss, reduction)


def bce_grad(prob, target, *, eps: float = 1e-12):
    r""":math:`\partial \ell / \partial \hat p = (\hat p - y) / (\hat p (1 - \hat p))`, at the clipped :math:`\hat p`."""
    eps = BCE_EPS.validate(eps, "eps")
    prob, target = _probability_and_label(prob, target)
    if eps == 0:
        return sum_to_shape(_unclipped_bce_grad(prob, target), prob.shape)
    bounds = _clip_bounds(prob.dtype, eps)

    def grad_block(p, y, grad, spare):
        np.clip(p, *bounds, out=grad)
        _bce_grad_into(grad, y, spare)

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
    bounds = _clip_bounds(np.result_type(prob, target), eps)

    def block(p, y, loss, grad, log_miss, label_miss):
        q = np.clip(p, *bounds, out=grad)  # the clipped p, then the gradient in place
        _bce_loss_into(q, y, loss, log_miss, label_miss)
        _bce_grad_into(q, y, log_miss)

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
    with np.errstate(divide="ignore", invalid="ignore"):  # eps = 0: infinite or NaN at p = 0 and 1
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
    when the prediction saturates, right or wrong.
    """
    validate_reduction(reduction)
    logits, target = _logit_and_label(logits, target)
    decay, slope_sign = _logit_terms(logits, target)
    error = _sigmoid_minus_label_from(logits, decay, slope_sign)
    return reduce(error * error, reduction)


def sigmoid_mse_grad(logits, target):
    r""":math:`\partial \ell / \partial z = 2 (\hat p - y)\,\hat p (1 - \hat p)` with :math:`\hat p = \sigma(z)`.

    :math:`\hat p - y` is formed without cancellation and :math:`\hat p (1 - \hat p)`
    as :math:`\sigma(-|z|)\,(1 - \sigma(-|z|))`, so both tails keep their tiny values.
    """
    logits, target = _logit_and_label(logits, target)
    decay, slope_sign = _logit_terms(logits, target)
    return sum_to_shape(_sigmoid_mse_grad(logits, decay, slope_sign), logits.shape)


def sigmoid_mse_and_grad(logits, target, *, reduction: str = "mean"):
    """``(sigmoid_mse(...), sigmoid_mse_grad(...))`` from one validation and one :math:`\\sigma(z) - y`."""
    validate_reduction(reduction)
    logits, target = _logit_and_label(logits, target)
    loss, grad = _sigmoid_mse_kernel(logits, target)
    return reduce(loss, reduction), sum_to_shape(grad, logits.shape)


def _sigmoid_mse_kernel(logits: np.ndarray, target: np.ndarray):
    """Unchecked (loss, grad) of ``sigmoid_mse``, unreduced; inputs must be validated float arrays."""
    decay, slope_sign = _logit_terms(logits, target)
    small = _small_sigmoid_from(decay)
    error = slope_sign - np.copysign(small, logits)
    return error * error, _sigmoid_mse_grad_from(error, small)


def _sigmoid_mse_grad(logits, decay, slope_sign) -> np.ndarray:
    small = _small_sigmoid_from(decay)
    return _sigmoid_mse_grad_from(slope_sign - np.copysign(small, logits), small)


def _sigmoid_mse_grad_from(error: np.ndarray, small: np.ndarray) -> np.ndarray:
    # 2 (p - y) * s * (1 - s), largest factors first so a subnormal result is rounded once
    grad = 2 * error
    grad *= 1 - small
    grad *= small
    return grad


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
    Labels 0 and 1 take :func:`_focal_hard` (finite logits, ``gamma > 0``), soft labels :func:`_focal_any`.
    """
    if gamma > 0 and all_finite(logits):
        hard = (target == 0) | (target == 1)
        if hard.all():
            return _focal_hard(logits, target, gamma, alpha, with_grad)
        if hard.any():
            loss, grad = _focal_hard(logits, target, gamma, alpha, with_grad)
            soft_loss, soft_grad = _focal_any(logits, target, gamma, alpha, with_grad)
            return np.where(hard, loss, soft_loss), (np.where(hard, grad, soft_grad) if with_grad else None)
    return _focal_any(logits, target, gamma, alpha, with_grad)


def _focal_hard(logits: np.ndarray, target: np.ndarray, gamma: float, alpha: float | None, with_grad: bool):
    r"""``focal`` for labels 0 and 1 and finite logits, with :math:`(1 - p_t)^\gamma` to about an ulp.

    Here :math:`1 - p_t = \sigma(x)` with :math:`x = z` (label 0) or :math:`-z` (label 1), and
    :math:`\gamma \log \sigma(x) = \gamma \min(x, 0) - \gamma \log(1 + e^{-|z|})`. Both products are
    split exactly into a float and its rounding error (Dekker's two-product), and so is their
    difference (two-sum): :math:`(1 - p_t)^\gamma = e^{E} (1 + c)` with :math:`E` a float and
    :math:`c` the tiny sum of the three errors. ``(1 - p_t)**gamma`` instead multiplies the ulp or so
    of :math:`1 - p_t`'s rounding by :math:`\gamma`, and ``exp`` of a rounded :math:`\gamma \log(1 - p_t)`
    is off by :math:`|\gamma \log(1 - p_t)|/2` ulp. The BCE is :math:`\max(x, 0) + \log(1 + e^{-|z|})`
    (two terms :math:`\ge 0`), and the gradient
    :math:`\pm(1 - p_t)^\gamma (\sigma(x) + \gamma \sigma(-x)\,\mathrm{BCE})` (``-`` for label 1)
    a sum of positive terms.
    """
    dtype = logits.dtype.type
    g = dtype(gamma)
    g_rest = dtype(gamma - float(g))  # float32: gamma = g + g_rest to about 48 bits
    x = np.where(target == 1, -logits, logits)
    decay = np.exp(-np.abs(x))
    log_tail = np.log1p(decay)
    low = np.minimum(x, 0)
    with np.errstate(over="ignore", invalid="ignore"):  # gamma x below -float max: a modulation of 0
        head, head_error = _scalar_two_product(g, low)
        tail, tail_error = _scalar_two_product(g, log_tail)
        if g_rest:
            head_error += g_rest * low
            tail_error += g_rest * log_tail
        exponent = head - tail
        back = exponent - head  # Knuth's two-sum of head and -tail
        rounding = (head - (exponent - back)) - (tail + back)
        correction = (head_error - tail_error) + rounding
        # far below -745, e^exponent is 0 and the correction (up to half an ulp of gamma x) must not be inf
        correction = np.where(exponent > -2000, correction, 0)
        modulation = np.exp(exponent)
        modulation = modulation + modulation * correction
    cross_entropy = np.maximum(x, 0) + log_tail  # -log p_t = softplus(x)
    weight = _class_weight(target, alpha)
    loss = cross_entropy * modulation * weight
    if not with_grad:
        return loss, None
    small = decay / (1 + decay)  # sigma(-|x|)
    large = 1 / (1 + decay)  # sigma(|x|)
    positive = x >= 0
    bracket = np.where(positive, large, small) + g * np.where(positive, small, large) * cross_entropy
    grad = np.where(target == 1, -modulation, modulation) * bracket
    return loss, grad * weight


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
    g_big = g * factor
    g_high = g_big - (g_big - g)
    g_low = g - g_high
    scaled = a * scale
    big = scaled * factor
    a_high = (big - (big - scaled)) / scale
    a_low = a - a_high
    p = g * a
    return p, ((g_high * a_high - p) + g_high * a_low + g_low * a_high) + g_low * a_low


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
    grad = error * modulation + gamma * modulation * slope_ratio * (1 - 2 * target) * cross_entropy
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
