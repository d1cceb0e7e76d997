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
float32 inputs are computed in float64 and rounded once.
"""

from __future__ import annotations

import numpy as np

from losslab._inputs import Inputs, check_shapes_broadcast
from losslab._validation import Interval, check_in_closed_interval, validate_reduction
from losslab.binary import bce_and_grad

POSITIVE = Interval(0.0, None, low_inclusive=False)
NON_NEGATIVE = Interval(0.0, None)
UNIT = Interval(0.0, 1.0)


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

    def __init__(self, prob, target, axis):
        self.inputs = Inputs({"prob": prob, "target": target})
        prob_array, target_array = self.inputs.arrays
        check_in_closed_interval(prob_array, "prob", 0.0, 1.0)
        check_in_closed_interval(target_array, "target", 0.0, 1.0)
        self.shape = check_shapes_broadcast(self.inputs.arrays, ["prob", "target"])
        self.axes = _summed_axes(axis, len(self.shape))
        self.prob = np.broadcast_to(prob_array, self.shape)
        self.target = np.broadcast_to(target_array, self.shape)
        self.tp = self.region_sum(self.prob * self.target)
        self.fp = self.region_sum(self.prob * (1 - self.target))
        self.fn = self.region_sum((1 - self.prob) * self.target)

    def region_sum(self, values: np.ndarray) -> np.ndarray:
        return values.sum(axis=self.axes, keepdims=True)

    def per_region(self, values: np.ndarray) -> np.ndarray:
        """Drop the summed (length-1) axes: one value per region."""
        return np.squeeze(values, axis=self.axes) if self.axes else values

    def finish(self, loss, grad, reduction, want_loss, want_grad):
        loss_value = self.inputs.finish_loss(self.per_region(loss), reduction) if want_loss else None
        grad_value = self.inputs.finish_grad(np.broadcast_to(grad, self.shape), 0) if want_grad else None
        if want_loss and want_grad:
            return loss_value, grad_value
        return loss_value if want_loss else grad_value


def _tversky_parts(counts: _Counts, alpha: float, beta: float, smooth: float):
    r"""Tversky's loss :math:`A / D` and its gradient, :math:`A = \alpha\,\mathrm{FP} + \beta\,\mathrm{FN}`, :math:`D = \mathrm{TP} + A + s`.

    :math:`\partial A/\partial p = \alpha(1 - t) - \beta t`, :math:`\partial D/\partial p = t + \partial A/\partial p`,
    so :math:`\partial \ell/\partial p = (\partial A/\partial p - \ell\,\partial D/\partial p)/D`.
    """
    errors = alpha * counts.fp + beta * counts.fn
    denominator = counts.tp + errors + smooth
    loss = errors / denominator
    t = counts.target
    d_errors = alpha * (1 - t) - beta * t
    grad = (d_errors - loss * (t + d_errors)) / denominator
    return loss, grad


def _check_smooth(smooth) -> float:
    return POSITIVE.validate(smooth, "smooth")


# ------------------------------------------------------------ soft Dice


def _dice(prob, target, axis, smooth, want_loss, want_grad, reduction="mean"):
    smooth = _check_smooth(smooth)
    counts = _Counts(prob, target, axis)
    # Dice = (2TP + s)/(2TP + FP + FN + s): Tversky with alpha = beta = 1/2 and smoothing s/2
    loss, grad = _tversky_parts(counts, 0.5, 0.5, smooth / 2)
    return counts.finish(loss, grad, reduction, want_loss, want_grad)


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
    counts = _Counts(prob, target, axis)
    # Jaccard = (TP + s)/(TP + FP + FN + s): Tversky with alpha = beta = 1
    loss, grad = _tversky_parts(counts, 1.0, 1.0, smooth)
    return counts.finish(loss, grad, reduction, want_loss, want_grad)


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
    counts = _Counts(prob, target, axis)
    loss, grad = _tversky_parts(counts, alpha, beta, smooth)
    return counts.finish(loss, grad, reduction, want_loss, want_grad)


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
    counts = _Counts(prob, target, axis)
    base, base_grad = _tversky_parts(counts, alpha, beta, smooth)
    loss = base**gamma
    grad = None
    if want_grad:
        with np.errstate(divide="ignore", invalid="ignore"):
            # gamma L^(gamma - 1) dL; at L = 0 the factor is 0 (gamma > 1), 1 (gamma = 1) or
            # infinite (gamma < 1: the loss rises like L^gamma, with a vertical tangent)
            factor = np.where(base > 0, gamma * loss / np.where(base > 0, base, 1),
                              0.0 if gamma > 1 else (1.0 if gamma == 1 else np.inf))
            grad = np.where(base_grad == 0, 0.0, factor * base_grad)
    return counts.finish(loss, grad, reduction, want_loss, want_grad)


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
    ±inf. ``alpha``, ``beta``, ``smooth`` as in ``tversky``.
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
    counts = _Counts(prob, target, axis)
    dice_loss, dice_grad_ = _tversky_parts(counts, 0.5, 0.5, smooth / 2)
    # the pixel-wise BCE, averaged over the same region as the Dice term
    cross_entropy, cross_entropy_grad = bce_and_grad(counts.prob, counts.target, eps=eps, reduction="none")
    pixels = int(np.prod([counts.shape[a] for a in counts.axes]))
    mean_bce = counts.region_sum(cross_entropy) / max(pixels, 1)
    loss = alpha * mean_bce + (1 - alpha) * dice_loss
    grad = alpha * cross_entropy_grad / max(pixels, 1) + (1 - alpha) * dice_grad_
    return counts.finish(loss, grad, reduction, want_loss, want_grad)


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
