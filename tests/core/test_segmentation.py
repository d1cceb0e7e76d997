"""Soft Dice, soft IoU, Tversky, focal Tversky and combo losses on probability maps.

PyTorch has none of these losses, so the references are the textbook formulas
(``1 - score`` from the papers) written out here, their gradients by PyTorch's
autograd and by 5-point central differences, and mpmath for nearly perfect masks.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
import torch

import losslab
from losslab import segmentation as seg

from .atlas_checks import (
    as_float32,
    assert_float32_kept,
    assert_fused_matches,
    assert_gradients_match_differences,
    assert_reductions_agree,
    relative_error,
    scaled_error,
    torch_value_and_grads,
)

RNG = np.random.default_rng(1820)
PROB = RNG.uniform(0, 1, (3, 4, 5))
HARD = (RNG.uniform(0, 1, (3, 4, 5)) > 0.6).astype(np.float64)
SOFT = RNG.uniform(0, 1, (3, 4, 5))
REL = 1e-13  # textbook 1 - score form against the errors/denominator form: a few ulp of 1


def _textbook(name, p, t, axes, smooth=1.0, alpha=0.3, beta=0.7, gamma=0.75, weight=0.5):
    """The papers' formulas, in PyTorch so that autograd gives the reference gradient."""
    tp = (p * t).sum(axes)
    fp = (p * (1 - t)).sum(axes)
    fn = ((1 - p) * t).sum(axes)
    if name == "soft_dice":
        return 1 - (2 * tp + smooth) / (p.sum(axes) + t.sum(axes) + smooth)
    if name == "soft_iou":
        return 1 - (tp + smooth) / (p.sum(axes) + t.sum(axes) - tp + smooth)
    tversky = 1 - (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)
    if name == "tversky":
        return tversky
    if name == "focal_tversky":
        return tversky**gamma
    dice = 1 - (2 * tp + smooth) / (p.sum(axes) + t.sum(axes) + smooth)
    bce = -(t * torch.log(p) + (1 - t) * torch.log(1 - p)).mean(axes)
    return weight * bce + (1 - weight) * dice


CASES = [
    ("soft_dice", {}), ("soft_dice", {"smooth": 1e-3}),
    ("soft_iou", {}), ("soft_iou", {"smooth": 5.0}),
    ("tversky", {}), ("tversky", {"alpha": 0.9, "beta": 0.1, "smooth": 0.5}),
    ("focal_tversky", {}), ("focal_tversky", {"gamma": 2.0, "alpha": 0.5, "beta": 0.5}),
    ("combo", {}), ("combo", {"alpha": 0.8, "smooth": 2.0}),
]
TEXTBOOK_NAMES = {"smooth": "smooth", "alpha": "alpha", "beta": "beta", "gamma": "gamma"}


def _textbook_params(name, params):
    out = dict(params)
    if name == "combo":
        out = {"smooth": params.get("smooth", 1.0), "weight": params.get("alpha", 0.5)}
    return out


@pytest.mark.parametrize(("name", "params"), CASES, ids=[f"{n}-{p}" for n, p in CASES])
@pytest.mark.parametrize("target", [HARD, SOFT], ids=["hard", "soft"])
def test_loss_and_gradient_equal_the_textbook_formula_and_its_autograd(name, params, target):
    prob = np.clip(PROB, 0.02, 0.98)  # inside the BCE clip of combo
    expected, (expected_grad,) = torch_value_and_grads(
        lambda p, t: _textbook(name, p, t, (1, 2), **_textbook_params(name, params)), [prob, target], [0])
    loss, grad = getattr(seg, f"{name}_and_grad")(prob, target, reduction="none", **params)
    assert loss.shape == (3,)
    assert relative_error(loss, expected) < REL
    assert scaled_error(grad, expected_grad) < REL


@pytest.mark.parametrize("name", ["soft_dice", "soft_iou", "tversky", "focal_tversky", "combo"])
def test_axis_picks_the_summed_axes(name):
    prob = np.clip(RNG.uniform(0, 1, (2, 3, 4, 4)), 0.02, 0.98)  # (N, C, H, W)
    target = (RNG.uniform(0, 1, (2, 3, 4, 4)) > 0.5).astype(float)
    per_class = getattr(seg, name)(prob, target, axis=(2, 3), reduction="none")
    assert per_class.shape == (2, 3)
    for n in range(2):
        for c in range(3):
            assert per_class[n, c] == pytest.approx(getattr(seg, name)(prob[n, c], target[n, c], axis=(0, 1)),
                                                    rel=1e-15)
    expected = _textbook(name, torch.tensor(prob), torch.tensor(target), (2, 3)).numpy()
    assert relative_error(per_class, expected) < REL
    # the default sums every axis but the first: one loss per sample
    assert getattr(seg, name)(prob, target, reduction="none").shape == (2,)
    assert np.ndim(getattr(seg, name)(prob[0, 0, 0], target[0, 0, 0], reduction="none")) == 0  # 1-D: one region


# ------------------------------------------------------------ properties


def test_tversky_contains_dice_and_iou():
    for smooth in (1e-6, 1.0, 3.0):
        np.testing.assert_allclose(seg.tversky(PROB, SOFT, alpha=0.5, beta=0.5, smooth=smooth / 2, reduction="none"),
                                   seg.soft_dice(PROB, SOFT, smooth=smooth, reduction="none"), rtol=1e-15)
        np.testing.assert_allclose(seg.tversky(PROB, SOFT, alpha=1.0, beta=1.0, smooth=smooth, reduction="none"),
                                   seg.soft_iou(PROB, SOFT, smooth=smooth, reduction="none"), rtol=1e-15)
    np.testing.assert_allclose(seg.focal_tversky(PROB, SOFT, gamma=1.0, reduction="none"),
                               seg.tversky(PROB, SOFT, reduction="none"), rtol=1e-15)
    np.testing.assert_allclose(seg.focal_tversky_grad(PROB, SOFT, gamma=1.0), seg.tversky_grad(PROB, SOFT), rtol=1e-15)


def test_iou_and_dice_are_monotone_in_each_other():
    tiny = 1e-300  # J = D / (2 - D) exactly without smoothing
    dice_score = 1 - seg.soft_dice(PROB, HARD, smooth=tiny, reduction="none")
    iou_score = 1 - seg.soft_iou(PROB, HARD, smooth=tiny, reduction="none")
    np.testing.assert_allclose(iou_score, dice_score / (2 - dice_score), rtol=1e-14)


def test_focal_tversky_raises_small_losses_when_gamma_is_below_one():
    tversky = seg.tversky(PROB, HARD, reduction="none")
    assert np.all(seg.focal_tversky(PROB, HARD, gamma=0.75, reduction="none") > tversky)
    assert np.all(seg.focal_tversky(PROB, HARD, gamma=2.0, reduction="none") < tversky)


def test_combo_mixes_mean_bce_and_dice():
    prob = np.clip(PROB, 0.01, 0.99)
    dice = seg.soft_dice(prob, HARD, reduction="none")
    bce = losslab.bce(prob, HARD, reduction="none").mean(axis=(1, 2))
    np.testing.assert_allclose(seg.combo(prob, HARD, alpha=0.0, reduction="none"), dice, rtol=1e-15)
    np.testing.assert_allclose(seg.combo(prob, HARD, alpha=1.0, reduction="none"), bce, rtol=1e-14)
    np.testing.assert_allclose(seg.combo(prob, HARD, alpha=0.3, reduction="none"), 0.3 * bce + 0.7 * dice, rtol=1e-14)


@pytest.mark.parametrize("name", ["soft_dice", "soft_iou", "tversky", "focal_tversky"])
def test_perfect_masks_cost_nothing_and_every_loss_lies_in_zero_one(name):
    np.testing.assert_array_equal(getattr(seg, name)(HARD, HARD, reduction="none"), 0.0)
    empty = np.zeros((2, 6))
    np.testing.assert_array_equal(getattr(seg, name)(empty, empty, reduction="none"), 0.0)  # smoothing: 0/0 avoided
    for prob in (PROB, 1 - HARD):
        loss = getattr(seg, name)(prob, HARD, reduction="none")
        assert np.all((loss >= 0) & (loss <= 1))


def test_an_empty_target_makes_any_prediction_costly_and_a_small_object_counts_fully():
    target = np.zeros(100)
    target[:2] = 1  # a two-pixel object in a hundred-pixel image
    missed = np.zeros(100)
    assert seg.soft_dice(missed, target, smooth=1e-6) == pytest.approx(1.0, rel=1e-6)  # missed completely
    assert losslab.bce(np.full(100, 1e-3), target) < 0.15  # while the mean BCE of a timid map is small


def _reference_errors_over_denominator(p, t, alpha, beta, smooth):
    mp.mp.dps = 40
    tp = mp.fsum(mp.mpf(a) * mp.mpf(b) for a, b in zip(p, t, strict=True))
    fp = mp.fsum(mp.mpf(a) * (1 - mp.mpf(b)) for a, b in zip(p, t, strict=True))
    fn = mp.fsum((1 - mp.mpf(a)) * mp.mpf(b) for a, b in zip(p, t, strict=True))
    errors = alpha * fp + beta * fn
    return float(errors / (tp + errors + smooth))


@pytest.mark.parametrize("delta", [1e-15, 1e-10, 1e-5])
def test_a_nearly_perfect_mask_keeps_the_digits_of_its_small_loss(delta):
    t = np.array([1.0, 1.0, 0.0, 1.0, 0.0, 0.0])
    p = np.array([1 - delta, 1.0, delta, 1 - 2 * delta, 0.0, 3 * delta])
    for name, alpha, beta, smooth in [("soft_dice", 0.5, 0.5, 0.5), ("soft_iou", 1.0, 1.0, 1.0),
                                      ("tversky", 0.3, 0.7, 1.0)]:
        expected = _reference_errors_over_denominator(p, t, alpha, beta, smooth)
        got = getattr(seg, name)(p, t) if name != "tversky" else seg.tversky(p, t, alpha=alpha, beta=beta)
        assert got == pytest.approx(expected, rel=1e-14), name  # 1 - score would keep log10(1/delta) fewer digits


# ------------------------------------------------------------ finite differences, fused, reductions


@pytest.mark.parametrize(("name", "params"), CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_gradients_match_central_differences(name, params):
    prob = np.clip(RNG.uniform(0, 1, (2, 3, 3)), 0.05, 0.95)
    for target in (HARD[:2, :3, :3], SOFT[:2, :3, :3]):
        assert_gradients_match_differences(getattr(seg, name), getattr(seg, f"{name}_grad"), (prob, target), [0],
                                           h=1e-4, **params)


@pytest.mark.parametrize(("name", "params"), CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_fused_equals_separate_and_reductions_agree(name, params):
    args = (np.clip(PROB, 0.02, 0.98), SOFT)
    loss, grad, fused = getattr(seg, name), getattr(seg, f"{name}_grad"), getattr(seg, f"{name}_and_grad")
    assert_fused_matches(loss, grad, fused, args, **params)
    assert_reductions_agree(loss, args, **params)


def test_a_prediction_broadcast_against_several_targets_gets_the_summed_gradient():
    prob = np.clip(RNG.uniform(0, 1, (1, 2, 3)), 0.05, 0.95)  # one map scored against three masks
    target = HARD[:, :2, :3]
    for name in ("soft_dice", "tversky", "combo"):
        assert_gradients_match_differences(getattr(seg, name), getattr(seg, f"{name}_grad"), (prob, target), [0],
                                           h=1e-4)


# ------------------------------------------------------------ extremes, dtypes, errors


def test_focal_tversky_at_a_perfect_mask_has_an_infinite_or_zero_gradient_without_warnings():
    grad = seg.focal_tversky_grad(HARD[0], HARD[0], gamma=0.75)
    assert np.all(np.isinf(grad[HARD[0] == 1]) & (grad[HARD[0] == 1] < 0))  # more foreground: steeply down
    assert np.all(np.isinf(grad[HARD[0] == 0]) & (grad[HARD[0] == 0] > 0))
    np.testing.assert_array_equal(seg.focal_tversky_grad(HARD[0], HARD[0], gamma=2.0), 0.0)


def test_extreme_smoothing_and_empty_maps_without_warnings():
    for name in ("soft_dice", "soft_iou", "tversky", "focal_tversky", "combo"):
        loss, grad = getattr(seg, f"{name}_and_grad")(PROB, HARD, smooth=1e300)
        bce_part = 0.5 * losslab.bce(PROB, HARD) if name == "combo" else 0.0  # only Dice's term vanishes
        assert loss == pytest.approx(bce_part, rel=1e-14, abs=1e-200)  # (focal Tversky: (1e-300)^0.75)
        assert np.isfinite(grad).all()
        loss, grad = getattr(seg, f"{name}_and_grad")(PROB, HARD, smooth=1e-300)
        assert np.isfinite(loss) and np.isfinite(grad).all()
        loss, grad = getattr(seg, f"{name}_and_grad")(np.zeros((2, 3)), np.zeros((2, 3)), smooth=1e-300)
        assert loss == (0.0 if name != "combo" else pytest.approx(0.5 * 1e-12, rel=1e-3))
    assert seg.soft_dice(np.zeros((2, 0)), np.zeros((2, 0)), reduction="none").tolist() == [0.0, 0.0]


def test_float32_stays_float32():
    prob, target = as_float32(np.clip(PROB, 0.02, 0.98), SOFT)
    for name in ("soft_dice", "soft_iou", "tversky", "focal_tversky", "combo"):
        assert_float32_kept(getattr(seg, name), getattr(seg, f"{name}_grad"), (prob, target))


@pytest.mark.parametrize(("call", "match"), [
    (lambda: seg.soft_dice([0.5, 1.2], [0.0, 1.0]), r"prob must lie in \[0, 1\], got 1.2"),
    (lambda: seg.soft_iou([0.5, 0.2], [0.0, -1.0]), r"target must lie in \[0, 1\], got -1.0"),
    (lambda: seg.soft_dice([0.5], [1.0], smooth=0), r"smooth must be in \(0, inf\), got 0"),
    (lambda: seg.tversky([0.5], [1.0], alpha=-0.1), r"alpha must be in \[0, inf\), got -0.1"),
    (lambda: seg.focal_tversky([0.5], [1.0], gamma=0), r"gamma must be in \(0, inf\), got 0"),
    (lambda: seg.combo([0.5], [1.0], alpha=2), r"alpha must be in \[0, 1\], got 2"),
    (lambda: seg.soft_dice(PROB, HARD, axis=3), "axis 3 is out of range for maps with 3 dimension"),
    (lambda: seg.soft_dice(PROB, HARD, axis=(1, -2)), r"axis \(1, -2\) repeats an axis"),
    (lambda: seg.soft_dice(PROB, HARD[:, :2]), r"prob with shape \(3, 4, 5\) and target with shape \(3, 2, 5\)"),
])
def test_bad_input_raises_a_value_error_that_names_it(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------ logit forms

NAMES = ["soft_dice", "soft_iou", "tversky", "focal_tversky", "combo"]


def _with_logits(name, suffix=""):
    return getattr(seg, f"{name}_with_logits{suffix}")


@pytest.mark.parametrize(("name", "params"), CASES, ids=[f"{n}-{p}" for n, p in CASES])
@pytest.mark.parametrize("target", [HARD, SOFT], ids=["hard", "soft"])
def test_logit_forms_equal_the_textbook_formula_of_the_sigmoid_and_its_autograd(name, params, target):
    logits = RNG.uniform(-4, 4, PROB.shape)

    def textbook_of_logits(z, t):
        return _textbook(name, torch.sigmoid(z), t, (1, 2), **_textbook_params(name, params))

    expected, (expected_grad,) = torch_value_and_grads(textbook_of_logits, [logits, target], [0])
    loss, grad = _with_logits(name, "_and_grad")(logits, target, reduction="none", **params)
    assert relative_error(loss, expected) < REL
    assert scaled_error(grad, expected_grad) < REL
    assert_fused_matches(_with_logits(name), _with_logits(name, "_grad"), _with_logits(name, "_and_grad"),
                         (logits, target), **params)
    assert_reductions_agree(_with_logits(name), (logits, target), **params)


def _mp_reference(name, z, t, params, dps):
    """(loss, d loss / dz) in mpmath: the papers' 1 - score forms of p = 1/(1 + e^-z), differentiated by mp.diff."""
    smooth = mp.mpf(params.get("smooth", 1.0))
    alpha, beta = mp.mpf(params.get("alpha", 0.3)), mp.mpf(params.get("beta", 0.7))
    gamma = mp.mpf(params.get("gamma", 0.75))

    def loss(zs):
        p = [1 / (1 + mp.exp(-mp.mpf(v))) for v in zs]
        ts = [mp.mpf(v) for v in t]
        tp = mp.fsum(a * b for a, b in zip(p, ts, strict=True))
        fp = mp.fsum(a * (1 - b) for a, b in zip(p, ts, strict=True))
        fn = mp.fsum((1 - a) * b for a, b in zip(p, ts, strict=True))
        dice = 1 - (2 * tp + smooth) / (mp.fsum(p) + mp.fsum(ts) + smooth)
        if name == "soft_dice":
            return dice
        if name == "soft_iou":
            return 1 - (tp + smooth) / (mp.fsum(p) + mp.fsum(ts) - tp + smooth)
        if name == "combo":
            weight = mp.mpf(params.get("alpha", 0.5))
            bce = -mp.fsum(b * mp.log(a) + (1 - b) * mp.log(1 - a) for a, b in zip(p, ts, strict=True)) / len(p)
            return weight * bce + (1 - weight) * dice
        tversky = 1 - (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)
        return tversky if name == "tversky" else tversky**gamma

    with mp.workdps(dps):
        value = loss(z)
        grad = []
        for i in range(len(z)):
            def moved(x, i=i):
                return loss([x if j == i else v for j, v in enumerate(z)])
            grad.append(float(mp.diff(moved, mp.mpf(z[i]))))
        return float(value), np.array(grad)


SATURATED_ROWS = [
    # near-perfect masks (1 - sigmoid(z) rounds to 0 in float64 past z ~ 37) and fully saturated ones
    (np.array([40.0, 40.0, -40.0]), np.array([1.0, 1.0, 0.0])),
    (np.array([40.0, 40.0, -800.0]), np.array([1.0, 1.0, 0.0])),
    (np.array([800.0, 800.0, -800.0]), np.array([1.0, 1.0, 0.0])),
    (np.array([25.0, 38.0, -30.0, -50.0]), np.array([1.0, 1.0, 0.0, 0.0])),
    (np.array([12.0, 45.0, -9.0, 60.0]), np.array([1.0, 1.0, 0.0, 1.0])),
    (np.array([36.0, -36.0, 2.0]), np.array([1.0, 0.0, 0.3])),  # with a soft pixel
]
SATURATED_CASES = [("soft_dice", {}), ("soft_iou", {}), ("tversky", {}), ("tversky", {"alpha": 0.0, "beta": 1.0}),
                   ("focal_tversky", {}), ("focal_tversky", {"gamma": 0.25}), ("focal_tversky", {"gamma": 2.0}),
                   ("focal_tversky", {"alpha": 0.0}), ("combo", {}), ("combo", {"alpha": 0.0})]


@pytest.mark.parametrize(("name", "params"), SATURATED_CASES, ids=[f"{n}-{p}" for n, p in SATURATED_CASES])
@pytest.mark.parametrize("row", range(len(SATURATED_ROWS)))
def test_logit_forms_keep_their_digits_on_saturated_and_nearly_perfect_rows(name, params, row):
    """mpmath (1000 digits past |z| = 100), from the 1 - score forms; through sigmoid(z) the digits were lost."""
    z, t = SATURATED_ROWS[row]
    expected_loss, expected_grad = _mp_reference(name, z, t, params, dps=1000 if np.abs(z).max() > 100 else 100)
    loss, grad = _with_logits(name, "_and_grad")(z, t, **params)
    # the log path (|z| > ~708) carries an error of about |z| ulp in its exponent
    rtol = 1e-15 * max(16, np.abs(z).max())
    np.testing.assert_allclose(loss, expected_loss, rtol=rtol, atol=0)
    np.testing.assert_allclose(grad, expected_grad, rtol=rtol, atol=1e-300 if np.abs(z).max() > 700 else 0)
    np.testing.assert_array_equal(_with_logits(name)(z, t, **params), loss)
    np.testing.assert_array_equal(_with_logits(name, "_grad")(z, t, **params), grad)


def test_logit_forms_at_infinite_logits_are_the_limits_without_warnings():
    z, t = np.array([np.inf, np.inf, -np.inf]), np.array([1.0, 1.0, 0.0])
    for name in NAMES:
        loss, grad = _with_logits(name, "_and_grad")(z, t)
        assert loss == 0.0, name
        np.testing.assert_array_equal(grad, 0.0)
    # focal Tversky with the whole row's errors weighted 0 (alpha = 0, no foreground): T = 0 exactly, gradient 0
    loss, grad = seg.focal_tversky_with_logits_and_grad(np.array([3.0, -2.0]), np.zeros(2), alpha=0.0)
    assert loss == 0.0
    np.testing.assert_array_equal(grad, 0.0)


def test_logit_forms_keep_float32_and_reject_nan_logits():
    logits, target = as_float32(RNG.uniform(-4, 4, (3, 4, 5)), SOFT)
    for name in NAMES:
        assert_float32_kept(_with_logits(name), _with_logits(name, "_grad"), (logits, target))
        with pytest.raises(ValueError, match="logits contain NaN"):
            _with_logits(name)([0.5, np.nan], [0.0, 1.0])
        with pytest.raises(ValueError, match=r"target must lie in \[0, 1\], got 2.0"):
            _with_logits(name, "_grad")([0.5, 1.0], [0.0, 2.0])
