"""The overlap losses at the extremes of their parameters' valid ranges, against mpmath.

The dashboard's text boxes accept any valid value (alpha = 1e300, smooth = 5e-324, gamma = 1.7e308, ...).
There ``alpha FP``, ``alpha (TP + s)``, ``1/D`` or ``D^2`` leave the float range while the loss and its
gradient are ordinary numbers. Each result must be within 4 ulp of the correctly rounded value (a
subnormal one within a step), +-inf or 0 only where the true value is outside the float range, never
NaN, and silent (pytest turns RuntimeWarnings into errors). The references are the closed forms
summed in mpmath at 400 bits (the forms have no cancellation but the soft-target gradient's, which loses far fewer than 300 bits here).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

from losslab import segmentation

PRECISION = 400
X = mpmath.mpf
TINY, SMALL, LARGE, HUGE = 5e-324, 1e-300, 1e300, 1.7e308

PROBS = np.array([[0.9, 0.2, 0.6, 0.05], [0.9, 0.2, 0.6, 0.05], [0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0],
                  [0.0, 0.0, 0.0, 0.0], [1e-300, 0.5, 0.25, 0.0]])
PROB_TARGETS = np.array([[1.0, 0.0, 1.0, 0.0], [0.3, 0.7, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0],
                         [1.0, 1.0, 1.0, 1.0], [0.0, 1.0, 1.0, 0.0]])
LOGITS = np.array([[2.0, -1.0, 0.5, -3.0], [2.0, -1.0, 0.5, -3.0], [800.0, -800.0, 40.0, -40.0],
                   [800.0, -760.0, -745.0, 750.0], [-1e300, -1e300, 0.0, 1e300]])
LOGIT_TARGETS = np.array([[1.0, 0.0, 1.0, 0.0], [0.3, 0.7, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 1.0],
                          [0.0, 1.0, 0.0, 1.0]])

WEIGHTS = {"soft_dice": (0.5, 0.5, 0.5), "soft_iou": (1.0, 1.0, 1.0)}  # alpha, beta, factor of smooth


def _sigmoid(z):
    return 1 / (1 + mpmath.exp(-z))


def _reference(name, x, target, logits, params):
    """``(losses, gradients)`` of every row, exact (mpmath), for the Tversky family and focal Tversky."""
    alpha, beta, factor = WEIGHTS.get(name, (params.get("alpha", 0.3), params.get("beta", 0.7), 1.0))
    alpha, beta = X(alpha), X(beta)
    smooth = X(factor) * X(params.get("smooth", 1.0))
    losses, grads = [], []
    for row, trow in zip(x, target, strict=True):
        t = [X(v) for v in trow]
        if logits:
            p = [_sigmoid(X(v)) for v in row]
            q = [_sigmoid(-X(v)) for v in row]
            slopes = [a * b for a, b in zip(p, q, strict=True)]
        else:
            p = [X(v) for v in row]
            q = [1 - v for v in p]
            slopes = [X(1)] * len(p)
        tp = mpmath.fsum(a * b for a, b in zip(p, t, strict=True))
        fp = mpmath.fsum(a * (1 - b) for a, b in zip(p, t, strict=True))
        fn = mpmath.fsum(a * b for a, b in zip(q, t, strict=True))
        hits, errors = tp + smooth, alpha * fp + beta * fn
        denominator = hits + errors
        ratio = errors / denominator
        d_ratio = [((1 - ti) * alpha * hits - ti * (beta * hits + errors)) / denominator**2 for ti in t]
        if name == "focal_tversky":
            gamma = X(params["gamma"])
            # T^gamma from log1p(-H/D) near T = 1: T itself would need 1000 bits there (1 - 1e-300)
            power = mpmath.exp(gamma * mpmath.log1p(-hits / denominator)) if ratio > 0.5 else ratio**gamma
            losses.append(power)
            if ratio == 0:
                factor = mpmath.inf if gamma < 1 else (X(1) if gamma == 1 else X(0))
            else:
                factor = gamma * power / ratio
            grads.append([factor * g * s if g * s != 0 else X(0) for g, s in zip(d_ratio, slopes, strict=True)])
        else:
            losses.append(ratio)
            grads.append([g * s for g, s in zip(d_ratio, slopes, strict=True)])
    return losses, grads


def _ulp_error(actual: float, exact) -> float:
    """|actual - exact| in ulp of the correctly rounded exact value (a subnormal step below the normal range)."""
    if mpmath.isinf(exact):
        return 0.0 if actual == float(exact) else math.inf
    rounded = float(exact)  # mpmath rounds to nearest: inf past float max, 0 below the smallest subnormal
    if math.isinf(rounded):
        return 0.0 if actual == rounded else math.inf
    if not math.isfinite(actual):
        return math.inf
    step = math.ulp(rounded) if rounded != 0 else 5e-324
    return float(abs(X(actual) - exact) / X(step))


@mpmath.workprec(PRECISION)
def _worst(name, x, target, logits, params, tolerance=4.0):
    function = getattr(segmentation, f"{name}_with_logits" if logits else name)
    gradient = getattr(segmentation, f"{name}_with_logits_grad" if logits else f"{name}_grad")
    loss = function(x, target, reduction="none", **params)
    grad = gradient(x, target, **params)
    losses, grads = _reference(name, x, target, logits, params)
    worst = []
    for row in range(len(x)):
        worst.append(("loss", row, None, _ulp_error(float(loss[row]), losses[row]), float(loss[row]), losses[row]))
        for i, g in enumerate(grads[row]):
            worst.append(("grad", row, i, _ulp_error(float(grad[row, i]), g), float(grad[row, i]), g))
    bad = [(kind, row, i, error, actual, mpmath.nstr(exact, 6)) for kind, row, i, error, actual, exact in worst
           if not error <= tolerance]
    assert not bad, f"{name}{params}: {bad[:6]}"


SINGLE = [({"alpha": v}) for v in (0.0, TINY, SMALL, LARGE, HUGE)]
SINGLE += [({"beta": v}) for v in (0.0, TINY, SMALL, LARGE, HUGE)]
SINGLE += [({"smooth": v}) for v in (TINY, SMALL, LARGE, HUGE)]
PAIRS = [{"alpha": 0.0, "smooth": TINY}, {"alpha": LARGE, "smooth": LARGE}, {"alpha": SMALL, "beta": LARGE},
         {"alpha": SMALL, "smooth": LARGE}, {"alpha": SMALL, "smooth": SMALL}, {"alpha": HUGE, "beta": HUGE},
         {"alpha": LARGE, "smooth": TINY}, {"beta": HUGE, "smooth": SMALL}, {"alpha": TINY, "smooth": TINY},
         {"alpha": 0.0, "beta": SMALL, "smooth": TINY}]


def _label(params):
    return "-".join(f"{k}={v:g}" for k, v in params.items())


@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("params", SINGLE + PAIRS, ids=_label)
def test_tversky_within_4_ulp_at_extreme_weights_and_smoothing(params, logits):
    x, target = (LOGITS, LOGIT_TARGETS) if logits else (PROBS, PROB_TARGETS)
    _worst("tversky", x, target, logits, params)


@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("name", ["soft_dice", "soft_iou"])
@pytest.mark.parametrize("smooth", [TINY, SMALL, LARGE, HUGE])
def test_dice_and_iou_within_4_ulp_at_extreme_smoothing(name, smooth, logits):
    x, target = (LOGITS, LOGIT_TARGETS) if logits else (PROBS, PROB_TARGETS)
    _worst(name, x, target, logits, {"smooth": smooth})


FOCAL = [{"gamma": v} for v in (TINY, SMALL, 1e-5, 4.5, 1000.0, LARGE, HUGE)]
FOCAL += [{"gamma": 0.75, **p} for p in SINGLE[::2] + PAIRS]
FOCAL += [{"gamma": LARGE, "smooth": SMALL}, {"gamma": HUGE, "smooth": TINY}, {"gamma": TINY, "alpha": LARGE},
          {"gamma": SMALL, "smooth": LARGE}, {"gamma": 2.5e9, "smooth": 1e-10}, {"gamma": 3.0, "alpha": LARGE}]


@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("params", FOCAL, ids=_label)
def test_focal_tversky_within_4_ulp_at_extreme_parameters(params, logits):
    x, target = (LOGITS, LOGIT_TARGETS) if logits else (PROBS, PROB_TARGETS)
    # sigma(z) is rounded (an ulp) before T is formed, and T^1000 multiplies that by 1000: the logit form
    # is within about gamma ulp for large gamma (a known limit, docs/ACCURACY.md); the probability form 4
    tolerance = 2.0 * params["gamma"] if logits and params["gamma"] == 1000.0 else 4.0
    _worst("focal_tversky", x, target, logits, params, tolerance)


@mpmath.workprec(PRECISION)
def test_focal_tversky_power_of_a_ratio_that_rounds_to_one():
    # s = 1e-300 beside FN = 4: T = 1 - u with u = s / (0.7 * 4 + s), which rounds to 1; with gamma = 1e300
    # the true T^gamma is exp(1e300 log(1 - u)) = exp(-1e300 / 2.8e300), not 1^gamma = 1
    loss = segmentation.focal_tversky(np.zeros(4), np.ones(4), gamma=1e300, smooth=1e-300, reduction="none")
    u = X(1e-300) / (X(0.7) * 4 + X(1e-300))
    assert _ulp_error(float(loss), mpmath.exp(X(1e300) * mpmath.log1p(-u))) <= 4


@pytest.mark.parametrize("bce_weight", [0.0, TINY, SMALL, 1.0])
@pytest.mark.parametrize("smooth", [TINY, SMALL, LARGE, HUGE])
@mpmath.workprec(PRECISION)
def test_combo_dice_term_at_extreme_smoothing(smooth, bce_weight):
    # with alpha = 0 the combo loss is the Dice loss itself; with alpha = 1 it is the pixel-mean BCE
    # alone (the Dice term's gradient, infinite for an empty region at s = 5e-324, must not make NaN)
    losses, grads = _reference("soft_dice", PROBS, PROB_TARGETS, False, {"smooth": smooth})
    loss = segmentation.combo(PROBS, PROB_TARGETS, alpha=bce_weight, smooth=smooth, reduction="none")
    grad = segmentation.combo_grad(PROBS, PROB_TARGETS, alpha=bce_weight, smooth=smooth)
    logit_grad = segmentation.combo_with_logits_grad(LOGITS, LOGIT_TARGETS, alpha=bce_weight, smooth=smooth)
    assert not np.isnan(grad).any() and not np.isnan(logit_grad).any()
    if bce_weight == 0:
        for row in range(len(PROBS)):
            assert _ulp_error(float(loss[row]), losses[row]) <= 4
            for i, g in enumerate(grads[row]):
                assert _ulp_error(float(grad[row, i]), g) <= 4, (row, i, grad[row, i], mpmath.nstr(g, 8))
    if bce_weight == 1:
        assert np.isfinite(grad).all() and np.isfinite(logit_grad).all()


def test_empty_region_with_the_smallest_smooth_has_an_infinite_gradient():
    # p = t = 0: D = s = 5e-324 and dT/dp = alpha s / s^2 = 0.3 / 5e-324, beyond float max: +inf, not NaN
    grad = segmentation.tversky_grad(np.zeros(4), np.zeros(4), smooth=TINY)
    assert np.all(grad == np.inf)
    assert np.all(segmentation.tversky_grad(np.zeros(4), np.zeros(4), alpha=0.0, smooth=TINY) == 0)


def test_extreme_parameters_keep_float32():
    x, target = PROBS.astype(np.float32), PROB_TARGETS.astype(np.float32)
    for params in ({"alpha": HUGE, "smooth": LARGE}, {"smooth": TINY}, {"gamma": HUGE}):
        grad = segmentation.focal_tversky_grad(x, target, **params)
        assert grad.dtype == np.float32 and not np.isnan(grad).any()


@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("params", [{"alpha": 1e30}, {"alpha": 1e30, "smooth": 1e-30}, {"alpha": LARGE}],
                         ids=_label)
def test_a_region_whose_every_error_term_is_below_the_float_range_keeps_them(params, logits):
    # sigma(-800) = e^-800 and 5e-324 * 0.3 round to 0, but alpha e^-800 / s is an ordinary number
    if logits:
        x, target = np.array([[-800.0, -1e300, 30.0], [-760.0, -1e300, 800.0]]), np.array([[0.0, 0.0, 1.0],
                                                                                         [0.3, 0.0, 1.0]])
    else:
        x, target = np.array([[5e-324, 0.0, 1.0], [1e-310, 0.0, 1.0]]), np.array([[0.7, 0.0, 1.0],
                                                                                [0.0, 0.0, 1.0]])
    _worst("tversky", x, target, logits, params)
