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

from losslab._inputs import Inputs, check_not_nan, check_shapes_broadcast
from losslab._validation import Interval, check_in_closed_interval, validate_reduction
from losslab.activations import log_sigmoid, sigmoid
from losslab.binary import bce_and_grad, bce_with_logits_and_grad

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


class _LogitCounts(_Counts):
    """Validated logit maps, :math:`p = \\sigma(z)`, :math:`1 - p = \\sigma(-z)` and the soft counts from them."""

    __slots__ = ("complement", "logits")

    def __init__(self, logits, target, axis):
        self.inputs = Inputs({"logits": logits, "target": target})
        logit_array, target_array = self.inputs.arrays
        check_not_nan(logit_array, "logits")
        check_in_closed_interval(target_array, "target", 0.0, 1.0)
        self.shape = check_shapes_broadcast(self.inputs.arrays, ["logits", "target"])
        self.axes = _summed_axes(axis, len(self.shape))
        self.logits = np.broadcast_to(logit_array, self.shape)
        self.target = np.broadcast_to(target_array, self.shape)
        self.prob = np.asarray(sigmoid(self.logits))
        # 1 - p as sigmoid(-z), not 1 - sigmoid(z): a saturated pixel's false-negative mass keeps its digits
        self.complement = np.asarray(sigmoid(-self.logits))
        self.tp = self.region_sum(self.prob * self.target)
        self.fp = self.region_sum(self.prob * (1 - self.target))
        self.fn = self.region_sum(self.complement * self.target)

    def slope(self) -> np.ndarray:
        r""":math:`\partial p / \partial z = \sigma(z)\,\sigma(-z)`, each factor to an ulp."""
        return self.prob * self.complement

    def log_slope(self) -> np.ndarray:
        r""":math:`\log \sigma(z) + \log \sigma(-z)`: the slope's size where it underflows (-inf at z = +-inf)."""
        return np.asarray(log_sigmoid(self.logits)) + np.asarray(log_sigmoid(-self.logits))

    def log_errors(self, alpha: float, beta: float) -> np.ndarray:
        r""":math:`\log(\alpha\,\mathrm{FP} + \beta\,\mathrm{FN})` per region from logs, for errors below float64's range.

        -inf where every term is 0 (zero weights or infinite logits).
        """
        with np.errstate(divide="ignore"):  # log of a zero weight: -inf, a term that is absent
            terms = (np.log(alpha * (1 - self.target)) + np.asarray(log_sigmoid(self.logits)),
                     np.log(beta * self.target) + np.asarray(log_sigmoid(-self.logits)))
        if not self.target.size:
            return np.full(self.tp.shape, -np.inf)
        largest = np.maximum(*(term.max(axis=self.axes, keepdims=True) for term in terms))
        shift = np.where(np.isfinite(largest), largest, 0.0)
        total = sum(self.region_sum(np.exp(term - shift)) for term in terms)
        with np.errstate(divide="ignore"):  # no term at all: log 0 = -inf
            return shift + np.log(total)


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


# ------------------------------------------------------------ logit forms
# p = sigmoid(z); the counts come from sigmoid(z) and sigmoid(-z) (see _LogitCounts), and d/dz = d/dp * p (1 - p)

TINY = np.finfo(np.float64).tiny


def _overlap_with_logits(logits, target, axis, alpha, beta, smooth, want_loss, want_grad, reduction="mean"):
    """A Tversky-type ratio (Dice, IoU, Tversky) of ``sigmoid(logits)`` and its gradient in the logits."""
    counts = _LogitCounts(logits, target, axis)
    loss, grad = _tversky_parts(counts, alpha, beta, smooth)
    return counts.finish(loss, grad * counts.slope() if want_grad else None, reduction, want_loss, want_grad)


def soft_dice_with_logits(logits, target, *, smooth: float = 1.0, axis=None, reduction: str = "mean"):
    r"""``soft_dice`` of :math:`p = \sigma(z)`, with :math:`1 - p = \sigma(-z)` (see the module docstring).

    .. math:: \ell = \frac{\mathrm{FP} + \mathrm{FN}}{2\mathrm{TP} + \mathrm{FP} + \mathrm{FN} + s},\qquad
              \frac{\partial \ell}{\partial z_i} = \frac{1 - 2t_i - \ell}{\sum p + \sum t + s}\,\sigma(z_i)\,\sigma(-z_i)

    ``logits`` real (±inf allowed), ``target`` in [0, 1]; ``smooth``, ``axis``
    and ``reduction`` as in ``soft_dice``.
    """
    validate_reduction(reduction)
    return _overlap_with_logits(logits, target, axis, 0.5, 0.5, _check_smooth(smooth) / 2, True, False, reduction)


def soft_dice_with_logits_grad(logits, target, *, smooth: float = 1.0, axis=None):
    r""":math:`\partial \ell / \partial z_i` of ``soft_dice_with_logits``, shaped like ``logits``."""
    return _overlap_with_logits(logits, target, axis, 0.5, 0.5, _check_smooth(smooth) / 2, False, True)


def soft_dice_with_logits_and_grad(logits, target, *, smooth: float = 1.0, axis=None, reduction: str = "mean"):
    """``(soft_dice_with_logits(...), soft_dice_with_logits_grad(...))`` from one set of counts."""
    validate_reduction(reduction)
    return _overlap_with_logits(logits, target, axis, 0.5, 0.5, _check_smooth(smooth) / 2, True, True, reduction)


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
    counts = _LogitCounts(logits, target, axis)
    base, base_grad = _tversky_parts(counts, alpha, beta, smooth)
    slope = counts.slope()
    # T or p(1 - p) below the normal range (every pixel saturated, |z| > ~708): T^gamma and
    # T^(gamma - 1) p (1 - p) are formed from logs, where they may be far larger than T or p (1 - p)
    logged = (base < TINY) | (want_grad & (slope < TINY))
    log_base = None
    denominator = counts.tp + alpha * counts.fp + beta * counts.fn + smooth
    if logged.any():
        log_base = counts.log_errors(alpha, beta) - np.log(denominator)
    loss = base**gamma
    if log_base is not None:
        loss = np.where(base < TINY, np.exp(gamma * log_base), loss)
    grad = None
    if want_grad:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # discarded where logged
            grad = gamma * base ** (gamma - 1) * base_grad * slope
        if log_base is not None:
            grad = np.where(logged, _focal_grad_from_logs(counts, alpha, beta, gamma, base, log_base, denominator),
                            grad)
        grad = np.where(base_grad == 0, 0.0, grad)
    return counts.finish(loss, grad, reduction, want_loss, want_grad)


def _focal_grad_from_logs(counts: _LogitCounts, alpha, beta, gamma, base, log_base, denominator):
    r""":math:`\gamma T^{\gamma-1} (\partial T/\partial p)\,p(1-p)` with :math:`T` and :math:`p(1-p)` as logs.

    :math:`\partial T/\partial p_i = (a_i (1 - T) - T t_i)/D` splits it into
    :math:`a_i (1 - T) T^{\gamma-1} p(1-p)` and :math:`t_i T^{\gamma} p(1-p)`, each a single exp.
    A pixel with :math:`a_i = 0` has no first term (at :math:`T = 0` exactly, :math:`a_i = 0` for
    every pixel), and an infinite logit has slope 0: both give 0, not :math:`0 \cdot \infty`.
    """
    t = counts.target
    a = alpha * (1 - t) - beta * t
    log_slope = counts.log_slope()
    with np.errstate(invalid="ignore", over="ignore"):  # 0 * inf and inf - inf are masked below
        first_log = (0.0 if gamma == 1 else (gamma - 1) * log_base) + log_slope
        first = np.where(a == 0, 0.0, a * (1 - base) * np.exp(first_log))
        second = t * np.exp(gamma * log_base + log_slope)
        grad = gamma * (first - second) / denominator
    return np.where(np.isneginf(log_slope), 0.0, grad)


def focal_tversky_with_logits(logits, target, *, alpha: float = 0.3, beta: float = 0.7, gamma: float = 0.75,
                              smooth: float = 1.0, axis=None, reduction: str = "mean"):
    r"""``focal_tversky`` of :math:`p = \sigma(z)`, with :math:`1 - p = \sigma(-z)` (see the module docstring).

    .. math:: \ell = T^{\gamma},\qquad
              \frac{\partial \ell}{\partial z_i} = \gamma\,T^{\gamma - 1}\,\frac{\partial T}{\partial p_i}\,\sigma(z_i)\,\sigma(-z_i)

    with :math:`T` the Tversky loss. A saturated, nearly perfect region has a
    tiny :math:`T` and a large :math:`T^{\gamma-1}` (γ < 1); its gradient
    stays finite and keeps its digits: where :math:`T` or
    :math:`\sigma(z)\sigma(-z)` falls below float64's normal range
    (:math:`|z| \gtrsim 708`) the powers are taken from logarithms. At an
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
    counts = _LogitCounts(logits, target, axis)
    dice_loss, dice_grad_ = _tversky_parts(counts, 0.5, 0.5, smooth / 2)
    # the exact BCE of the logits (softplus form, no clipping), averaged over the Dice term's region
    cross_entropy, cross_entropy_grad = bce_with_logits_and_grad(counts.logits, counts.target, reduction="none")
    pixels = max(int(np.prod([counts.shape[a] for a in counts.axes])), 1)
    with np.errstate(over="ignore"):  # a region's BCE sum past float max: its mean is taken term by term below
        total = counts.region_sum(cross_entropy)
    mean = np.where(np.isfinite(total), total / pixels, counts.region_sum(cross_entropy / pixels))
    loss = alpha * mean + (1 - alpha) * dice_loss
    grad = alpha * cross_entropy_grad / pixels + (1 - alpha) * dice_grad_ * counts.slope() if want_grad else None
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
