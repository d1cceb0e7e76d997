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
    check_in_closed_interval,
    check_in_set,
    has_nan,
    prepare,
    reduce,
    sum_to_shape,
    validate_reduction,
    weighted,
)
from losslab.activations import sigmoid, softplus

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


def _clipped(prob: np.ndarray, eps: float) -> np.ndarray:
    """Clip to [eps, 1 - eps], with 1 - eps kept below 1 in the array's own precision (eps = 0: no clip)."""
    if eps == 0:
        return prob
    upper = min(np.asarray(1 - eps, prob.dtype), np.nextafter(prob.dtype.type(1), prob.dtype.type(0)))
    lower = max(np.asarray(eps, prob.dtype), np.finfo(prob.dtype).tiny)
    return np.clip(prob, lower, upper)


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
    p = _clipped(prob, eps)
    if eps > 0:  # both logs are finite: plain products
        loss = -(target * np.log(p) + (1 - target) * np.log1p(-p))
    else:
        with np.errstate(divide="ignore"):  # eps = 0 allows log(0) = -inf, weighted to 0 or inf
            loss = -(weighted(target, np.log(p)) + weighted(1 - target, np.log1p(-p)))
    return reduce(loss, reduction)


def bce_grad(prob, target, *, eps: float = 1e-12):
    r""":math:`\partial \ell / \partial \hat p = (\hat p - y) / (\hat p (1 - \hat p))`, at the clipped :math:`\hat p`."""
    eps = BCE_EPS.validate(eps, "eps")
    prob, target = _probability_and_label(prob, target)
    p = _clipped(prob, eps)
    with np.errstate(divide="ignore", invalid="ignore"):  # only reachable with eps = 0
        grad = (p - target) / (p * (1 - p))
    return sum_to_shape(grad, prob.shape)


def bce_with_logits(logits, target, *, reduction: str = "mean"):
    r"""Binary cross-entropy from the logit :math:`z`, never forming :math:`\sigma(z)`:

    .. math:: \ell = y\,\operatorname{softplus}(-z) + (1 - y)\,\operatorname{softplus}(z)

    which equals :math:`-(y \log \sigma(z) + (1-y) \log(1 - \sigma(z)))` but is
    finite for every finite ``z`` (about ``|z|`` when confidently wrong).
    """
    validate_reduction(reduction)
    logits, target = _logit_and_label(logits, target)
    if all_finite(logits):
        # softplus(z) - y z: one softplus instead of two, exact for every finite z.
        loss = np.maximum(logits, 0) - target * logits + np.log1p(np.exp(-np.abs(logits)))
    else:  # +-inf logits: the weighted form gives the limits without inf - inf
        loss = weighted(target, softplus(-logits)) + weighted(1 - target, softplus(logits))
    return reduce(loss, reduction)


def bce_with_logits_grad(logits, target):
    r""":math:`\partial \ell / \partial z = \sigma(z) - y`: the chapter's :math:`\hat p - y`, never vanishing when wrong."""
    logits, target = _logit_and_label(logits, target)
    return sum_to_shape(sigmoid(logits) - target, logits.shape)


def sigmoid_mse(logits, target, *, reduction: str = "mean"):
    r"""Squared error on the sigmoid output, :math:`\ell = (\sigma(z) - y)^2`.

    The chapter's counter-example: its gradient through the sigmoid vanishes
    when the prediction saturates, right or wrong.
    """
    validate_reduction(reduction)
    logits, target = _logit_and_label(logits, target)
    error = sigmoid(logits) - target
    return reduce(error * error, reduction)


def sigmoid_mse_grad(logits, target):
    r""":math:`\partial \ell / \partial z = 2 (\hat p - y)\,\hat p (1 - \hat p)` with :math:`\hat p = \sigma(z)`.

    :math:`\hat p (1 - \hat p)` is computed as :math:`\sigma(z)\sigma(-z)` to keep
    its tiny values when saturated.
    """
    logits, target = _logit_and_label(logits, target)
    p = sigmoid(logits)
    return sum_to_shape(2 * (p - target) * p * sigmoid(-logits), logits.shape)


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
    miss = _focal_miss(logits, target)
    loss = bce_with_logits(logits, target, reduction="none") * miss**gamma
    return reduce(loss * _class_weight(target, alpha), reduction)


def focal_grad(logits, target, *, gamma: float = 2.0, alpha: float | None = None):
    r""":math:`\partial \ell / \partial z = \alpha_t \bigl[(\hat p - y)(1-p_t)^\gamma
    + \gamma (1-p_t)^{\gamma-1} (1-2y)\,\hat p (1-\hat p)\,\mathrm{BCE}\bigr]`."""
    logits, target = _logit_and_label(logits, target)
    gamma, alpha = _focal_parameters(gamma, alpha)
    p = sigmoid(logits)
    miss = _focal_miss(logits, target)
    cross_entropy = bce_with_logits(logits, target, reduction="none")
    # gamma (1 - p_t)^(gamma - 1) p(1 - p) is written as gamma (1 - p_t)^gamma * [p(1 - p) / (1 - p_t)]:
    # the bracket lies in [0, 1] for every label, so no negative power can overflow.
    safe_miss = np.where(miss > 0, miss, 1)
    slope_ratio = np.where(miss > 0, p * sigmoid(-logits) / safe_miss, 0)
    modulation = miss**gamma
    grad = (p - target) * modulation + gamma * modulation * slope_ratio * (1 - 2 * target) * cross_entropy
    return sum_to_shape(grad * _class_weight(target, alpha), logits.shape)


def _focal_parameters(gamma, alpha):
    gamma = NON_NEGATIVE.validate(gamma, "gamma")
    alpha = None if alpha is None else UNIT.validate(alpha, "alpha")
    return gamma, alpha


def _focal_miss(logits: np.ndarray, target: np.ndarray) -> np.ndarray:
    """:math:`1 - p_t = y(1 - \\hat p) + (1 - y)\\hat p`, with :math:`1 - \\hat p = \\sigma(-z)` for precision."""
    return target * sigmoid(-logits) + (1 - target) * sigmoid(logits)


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


def _score_and_sign(score, target):
    score, target = prepare(score, target, "score", "target")
    check_in_set(target, "target (hinge labels)", (-1.0, 1.0))
    return score, target
