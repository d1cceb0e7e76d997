"""The overlap losses compute float32 inputs in float32 (issue 16): no float64 copies or temporaries.

``assert_computed_in_float32`` compares the peak memory of a float32 call with a float64 call's (a float64
pass with one rounding at the end allocates more than the float64 call, a float32 pass about half).
Accuracy is the atlas test's (``test_accuracy_atlas.py``, float32 within 4 ulp of the float32-rounded
mpmath reference); here, the float32 extremes the native path must handle on its own (saturated and
infinite logits, subnormal probabilities, parameters near the ends of float32's range, regions of many
pixels whose sums a plain float32 sum would round) against mpmath references written out below.
"""

from __future__ import annotations

import math
import os
import warnings

import mpmath
import numpy as np
import pytest

from losslab import segmentation as seg

from .atlas_checks import assert_computed_in_float32
from .test_segmentation_extreme_parameters import PRECISION, _reference

RNG = np.random.default_rng(1616)
SHAPE = (8, 64, 64)  # 2^15 pixels in 8 regions, so the arrays dominate the peak

NAMES = ("soft_dice", "soft_iou", "tversky", "focal_tversky", "combo")


def _maps():
    prob = RNG.uniform(0, 1, SHAPE)
    logits = RNG.normal(0, 4, SHAPE)
    hard = (RNG.random(SHAPE) < 0.3).astype(np.float64)
    soft = RNG.uniform(0, 1, SHAPE)
    return prob, logits, hard, soft


def _calls():
    """The loss alone on soft targets (the soft counts) and the fused form on hard ones (the hard counts and
    gradient; ``_grad`` shares its path), and combo's fused forms on soft targets too (its tightest case)."""
    prob, logits, hard, soft = _maps()
    calls = []
    for name in NAMES:
        for suffix, maps in (("", prob), ("_with_logits", logits)):
            base = f"{name}{suffix}"
            loss, fused = getattr(seg, base), getattr(seg, f"{base}_and_grad")
            kinds = (("hard", hard), ("soft", soft)) if name == "combo" else (("hard", hard),)
            calls.append((f"{base}-soft", lambda x, t, f=loss: f(x, t, reduction="none"), (maps, soft)))
            calls += [(f"{base}_and_grad-{kind}", lambda x, t, f=fused: f(x, t, reduction="none"), (maps, target))
                      for kind, target in kinds]
    return calls


CALLS = _calls()


@pytest.mark.parametrize("index", range(len(CALLS)), ids=[c[0] for c in CALLS])
def test_every_segmentation_function_computes_float32_in_float32(index):
    name, function, args = CALLS[index]
    function.__name__ = name
    assert_computed_in_float32(function, args)


# ------------------------------------------------------------ float32's own extremes, against mpmath
TINY32, MAX32 = float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)
PROBS32 = np.array([[0.9, 0.2, 0.6, 0.05], [0.9, 0.2, 0.6, 0.05], [0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0],
                    [0.0, 0.0, 0.0, 0.0], [1e-40, 0.5, 0.25, 0.0], [1e-44, 3e-39, 0.0, 1.0]], np.float32)
PROB_TARGETS32 = np.array([[1.0, 0.0, 1.0, 0.0], [0.3, 0.7, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0],
                           [1.0, 1.0, 1.0, 1.0], [0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]], np.float32)
LOGITS32 = np.array([[2.0, -1.0, 0.5, -3.0], [2.0, -1.0, 0.5, -3.0], [100.0, -100.0, 40.0, -40.0],
                     [100.0, -90.0, -85.0, 95.0], [-1e30, -MAX32, 0.0, 3e38], [60.0, 80.0, -70.0, 20.0]], np.float32)
LOGIT_TARGETS32 = np.array([[1.0, 0.0, 1.0, 0.0], [0.3, 0.7, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 1.0],
                            [0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.9]], np.float32)


def _float32_ulp_error(actual, exact) -> float:
    """|actual - exact| in float32 ulp of the correctly rounded value (a subnormal step below the normal range)."""
    if mpmath.isinf(exact):
        return 0.0 if float(actual) == float(exact) else math.inf
    with np.errstate(over="ignore"):  # inf past float32 max, 0 below its smallest subnormal
        rounded = float(np.float32(float(exact)))
    if math.isinf(rounded):
        return 0.0 if float(actual) == rounded else math.inf
    if not math.isfinite(float(actual)):
        return math.inf
    step = max(math.ldexp(1.0, math.frexp(rounded)[1] - 24), 2.0**-149)  # float32's ulp (a subnormal step)
    return float(abs(mpmath.mpf(float(actual)) - exact) / mpmath.mpf(step))


@mpmath.workprec(PRECISION)
def _worst32(name, logits, params, tolerance=4.0):
    x, target = (LOGITS32, LOGIT_TARGETS32) if logits else (PROBS32, PROB_TARGETS32)
    base = f"{name}_with_logits" if logits else name
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, grad = getattr(seg, f"{base}_and_grad")(x, target, reduction="none", **params)
        assert getattr(seg, f"{base}_grad")(x, target, **params).tobytes() == grad.tobytes()
    assert loss.dtype == np.float32 and grad.dtype == np.float32
    losses, grads = _reference(name, x.astype(np.float64), target.astype(np.float64), logits, params)
    bad = []
    for row in range(len(x)):
        if not _float32_ulp_error(loss[row], losses[row]) <= tolerance:
            bad.append(("loss", row, float(loss[row]), mpmath.nstr(losses[row], 8)))
        for i, g in enumerate(grads[row]):
            if not _float32_ulp_error(grad[row, i], g) <= tolerance:
                bad.append(("grad", row, i, float(grad[row, i]), mpmath.nstr(g, 8)))
    assert not bad, f"{base}{params}: {bad[:6]}"


# the first few run in the suite (a few seconds), all with LOSSLAB_LONG=1; the last ones are not float32 values
# (those calls go to float64 and round once: still within 4 ulp and silent)
LONG = bool(os.environ.get("LOSSLAB_LONG"))
EXTREMES32 = [{"smooth": TINY32}, {"alpha": MAX32, "smooth": 1e-30}, {"smooth": 1e-300}]
EXTREMES32 += [{}, {"smooth": 1e-30}, {"smooth": 1e30}, {"smooth": MAX32}, {"alpha": 0.0}, {"alpha": TINY32},
               {"alpha": 1e-30, "beta": 1e30}, {"beta": MAX32, "alpha": TINY32}, {"alpha": 1e30, "smooth": TINY32},
               {"alpha": 1e39}, {"beta": 5e-324}] if LONG else []
FOCAL32 = [{"gamma": g} for g in (0.3, MAX32, 1e-300)]
FOCAL32 += [{"gamma": g} for g in (TINY32, 1e-5, 4.5, 1e30)] + [
    {"gamma": 0.75, "smooth": TINY32}, {"gamma": 0.75, "alpha": 1e30, "smooth": 1e-30}, {"gamma": 3.0, "beta": MAX32},
    {"gamma": 1e39}] if LONG else []
SMOOTH32 = [TINY32, MAX32] + ([1e-30, 1.0, 1e30, 1e-300] if LONG else [])


@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("params", EXTREMES32, ids=lambda p: "-".join(f"{k}={v:g}" for k, v in p.items()) or "default")
def test_tversky_in_float32_within_4_ulp_at_float32_extremes(params, logits):
    _worst32("tversky", logits, params)


@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("params", FOCAL32, ids=lambda p: "-".join(f"{k}={v:g}" for k, v in p.items()))
def test_focal_tversky_in_float32_within_4_ulp_at_float32_extremes(params, logits):
    _worst32("focal_tversky", logits, params)


@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("name", ["soft_dice", "soft_iou"])
@pytest.mark.parametrize("smooth", SMOOTH32)
def test_dice_and_iou_in_float32_within_4_ulp_at_float32_extremes(name, smooth, logits):
    _worst32(name, logits, {"smooth": smooth})


def test_dice_of_a_large_region_sums_its_small_terms_exactly_in_float32():
    # one pixel at 1 and 32767 in [2^-8, 2^-7], all background: the extraction's first pass (sigma = 2^18, whose
    # ulp is 2^-5) leaves every small term whole, and a plain float32 sum of them is up to a few ulp off (2 ulp of
    # the gradient here without the further extractions). Dice (s = 1) is FP / (FP + 1) with gradient
    # 1 / (FP + 1)^2 on every pixel; FP exact in Fractions.
    from fractions import Fraction

    small = np.random.default_rng(4).uniform(2.0**-8, 2.0**-7, 32767).astype(np.float32)
    prob = np.concatenate([np.ones(1, np.float32), small])
    loss, grad = seg.soft_dice_and_grad(prob, np.zeros_like(prob), reduction="none")
    errors = sum(Fraction(float(v)) for v in prob)
    assert loss == np.float32(float(errors / (errors + 1)))
    assert np.all(grad == np.float32(float(1 / (errors + 1) ** 2)))
