"""The box losses compute float32 in float32 (issue 16): no float64 copies or temporaries, and within
4 ulp of the float32-rounded exact value also where the boxes' sides span float32's whole range.

float32 has 24 bits and exponents from 2^-149 (subnormal) to 2^128, so a float32 pair is scaled and
split into ordinary and extreme pairs at its own limits (``detection.FORMATS``); the gradients of the
IoU and GIoU losses are formed in float32 double words and rounded once. References: the losses written
out in mpmath (``test_box_extreme_shapes.exact_loss``) and their central differences at 1200 bits, at the
exact float32 inputs.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest

from losslab import detection as det

from .atlas_checks import assert_computed_in_float32
from .test_box_extreme_shapes import random_extreme_pairs
from .test_box_extreme_shapes import reference as box_reference

ULP_BOUND = 4.0
KINDS = ("iou_loss", "giou", "diou", "ciou")
OVERFLOW32 = mp.ldexp(1, 128) * (1 - mp.ldexp(1, -25))  # the values float32 rounds to inf


def reference(kind, pred, target, eps):
    """(loss, [d loss / d pred_k]) as mpf: ``test_box_extreme_shapes``'s reference at 1200 bits, enough for
    float32's range of 2^277."""
    return box_reference(kind, pred, target, eps, precision=1200)


def ulps32(value, exact) -> float:
    """|value - exact| in float32 ulp of the exact value (2^-149 below the normal range)."""
    if abs(exact) >= OVERFLOW32:  # rounds to +-inf
        return 0.0 if value == (np.inf if exact > 0 else -np.inf) else np.inf
    if exact == 0:
        return float(abs(mp.mpf(float(value))) / mp.ldexp(1, -149))
    _, exponent = mp.frexp(exact)
    ulp = mp.ldexp(1, max(int(exponent) - 24, -149))
    return float(abs(mp.mpf(float(value)) - exact) / ulp)


def random_boxes(count, seed):
    """Predictions from nearly equal to disjoint around random target boxes (sides within a factor 20)."""
    rng = np.random.default_rng(seed)
    corner = rng.normal(0, 2, (count, 2))
    extent = np.exp(rng.normal(0, 1, (count, 2)))
    target = np.concatenate([corner, corner + extent], axis=1)
    pred = target + rng.normal(0, 0.3, (count, 4)) * np.concatenate([extent, extent], axis=1)
    pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2] + 1e-3 * extent)
    return pred, target


@pytest.mark.parametrize("suffix", ["", "_grad", "_and_grad"])
@pytest.mark.parametrize("kind", KINDS)
def test_box_losses_compute_float32_in_float32(kind, suffix):
    # 2^13 boxes (2^15 coordinates): before, every one of these allocated 1.03 to 1.22 times the float64 peak
    pred, target = random_boxes(2**13, seed=3)
    assert_computed_in_float32(getattr(det, kind + suffix), (pred, target))


def f32(values):
    return np.array(values, dtype=np.float32)


# (what the pair is, pred, target, eps) in float32; no edge on an edge of the other box
PAIRS = [
    ("area 1, aspect 1e-38, inside the unit square in x", [1e-30, -1e19, 1e-19, 1e19], [0.0, 0.0, 1.0, 1.0], 1e-7),
    ("smallest subnormal width, height 3e38", [1.4e-45, -1.5e38, 4.2e-45, 1.5e38], [0.0, 0.0, 1.0, 1.0], 1e-7),
    ("the same, eps = 0", [1.4e-45, -1.5e38, 4.2e-45, 1.5e38], [0.0, 0.0, 1.0, 1.0], 0.0),
    ("aspect 1e38 beside the unit square", [2.0, 1e-19, 1e19, 2e-19], [0.0, 0.0, 1.0, 1.0], 1e-7),
    ("a box 1e-38 the size of its target, inside", [1e-38, 2e-38, 4e-38, 3e-38], [0.0, 0.0, 1.0, 1.0], 0.0),
    ("subnormal boxes, eps = 0 (gradients past float32 max: inf)", [3e-44, 1e-44, 9e-44, 6e-44],
     [1e-44, 2e-44, 7e-44, 8e-44], 0.0),
    ("a sliver at the end of a huge box", [-1e38, -1e38, 1e38, 1e38],
     [1e38 * (1 - 2.0**-20), 1e-38, 1e38 * (1 - 2.0**-22), 3e-38], 1e-7),
    ("boxes of 1e30 far from the origin", [2.0**100, 2.0**100 + 2.0**78, 2.0**100 + 2.0**80, 2.0**100 + 2.0**81],
     [2.0**100 + 2.0**77, 2.0**100, 2.0**100 + 2.0**80 + 3 * 2.0**77, 2.0**100 + 2.0**80], 1e-7),
    ("boxes of side 1e3 at 1e10 (sides a few ulp of their position)", [2.0**33, 2.0**33, 2.0**33 + 3 * 2.0**10,
                                                                        2.0**33 + 2.0**11],
     [2.0**33 + 2.0**10, 2.0**33 - 2.0**10, 2.0**33 + 5 * 2.0**10, 2.0**33 + 3 * 2.0**11], 1e-7),
    ("boxes of 1e-30 with eps = 1e-7 (gradient i_h/eps)", [-5.0e-30, 5.0e-32, 6.7e-30, 1.1e-30],
     [-1.3e-30, -7.0e-31, 3.7e-30, 1.3e-30], 1e-7),
    ("boxes of 1e-15 with eps = 1e-7 (I h / eps^2 below the normal range in the scaled units)",
     [1e-15, 1e-15, 5e-15, 4e-15], [0.0, 0.0, 8e-15, 8e-15], 1e-7),
    ("a thin box far beside a tall one", [-3.75e-17, 271127.6, -3.7e-17, 272403.66], [5e-27, 0.0, 4.1e-17, 358014.9],
     1e-7),
    ("a box 2^-30 wide inside", [2.0**-31, 0.25, 3 * 2.0**-31, 0.5], [-1.0, 0.0, 1.0, 1.0], 1e-7),
    ("a box of sides 2^-30 inside, eps = 0", [2.0**-31, 2.0**-31, 3 * 2.0**-31, 2.0**-29], [-1.0, -1.0, 1.0, 1.0],
     0.0),
    ("a tall box 2^-28 wide beside a thin one", [-(2.0**-28), -1.0, 0.0, 1.0], [2.0**-29, -0.5, 2.0**-27, 0.5], 0.0),
    ("right edges 2^-23 apart", [-1.0, -1.0, 1.0 + 2.0**-23, 1.0], [-0.5, -2.0, 1.0, 3.0], 1e-7),
    ("eps = 1e30 on unit boxes", [0.25, 0.0, 1.5, 1.0], [0.0, 0.5, 1.0, 2.0], 1e30),
]


def assert_within_4_ulp(kind, label, pred, target, eps, loss, grad):
    exact_value, exact_grad = reference(kind, pred.tolist(), target.tolist(), eps)
    errors = [ulps32(loss, exact_value)] + [ulps32(g, e) for g, e in zip(grad, exact_grad, strict=True)]
    assert max(errors) <= ULP_BOUND, (
        f"{kind} ({label}): loss {float(loss)!r} (exact {mp.nstr(exact_value, 10)}), gradient {grad.tolist()} "
        f"(exact {[mp.nstr(x, 10) for x in exact_grad]}): {errors} ulp")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("label", "pred", "target", "eps"), PAIRS, ids=[p[0] for p in PAIRS])
def test_float32_box_losses_of_extreme_shapes_within_4_ulp(kind, label, pred, target, eps):
    pred, target = f32(pred), f32(target)
    kinks = np.isin(pred[0::2], target[0::2]).any() or np.isin(pred[1::2], target[1::2]).any()
    assert not kinks, "an edge on an edge of the other box (a kink)"
    loss, grad = getattr(det, f"{kind}_and_grad")(pred, target, eps=eps, reduction="none")
    assert loss.dtype == np.float32 and grad.dtype == np.float32
    assert_within_4_ulp(kind, label, pred, target, eps, loss, grad)


def random_extreme_pairs32(count, seed):
    """float32 boxes with corners and sides of random magnitudes 1e-44..1e37, beside random other boxes."""
    return random_extreme_pairs(count, seed, np.float32, corners=(-44, 37), sides=(-44, 37))


@pytest.mark.parametrize("kind", KINDS)
def test_float32_box_losses_of_random_extreme_pairs_within_4_ulp(kind):
    pairs = random_extreme_pairs32(6, seed=12)
    pred, target = np.array([p for p, _ in pairs]), np.array([t for _, t in pairs])
    loss, grad = getattr(det, f"{kind}_and_grad")(pred, target, reduction="none")
    for i, (p, t) in enumerate(pairs):
        assert_within_4_ulp(kind, f"pair {i}", p, t, 1e-7, loss[i], grad[i])


@pytest.mark.parametrize("kind", KINDS)
def test_float32_results_match_the_separate_calls_and_a_batch(kind):
    pred, target = random_boxes(40, seed=4)
    pred = np.concatenate([pred, f32([[1e-30, -1e19, 1e-19, 1e19], [1.4e-45, -1.5e38, 4.2e-45, 1.5e38]])])
    target = np.concatenate([target, f32([[0.0, 0.0, 1.0, 1.0]] * 2)])
    pred, target = pred.astype(np.float32), target.astype(np.float32)
    loss, grad = getattr(det, f"{kind}_and_grad")(pred, target, reduction="none")
    assert np.array_equal(loss, getattr(det, kind)(pred, target, reduction="none"))
    assert np.array_equal(grad, getattr(det, f"{kind}_grad")(pred, target))
    for i in (0, 17, 40, 41):
        alone_loss, alone_grad = getattr(det, f"{kind}_and_grad")(pred[i], target[i], reduction="none")
        assert alone_loss == loss[i] and np.array_equal(alone_grad, grad[i])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("eps", [1e-300, 1e300])
def test_an_eps_outside_float32s_range_is_computed_in_float64(kind, eps):
    # float32 cannot hold it (0 or inf): the float64 route, rounded once to float32
    pred, target = random_boxes(5, seed=6)
    pred, target = pred.astype(np.float32), target.astype(np.float32)
    loss, grad = getattr(det, f"{kind}_and_grad")(pred, target, eps=eps, reduction="none")
    loss64, grad64 = getattr(det, f"{kind}_and_grad")(pred.astype(np.float64), target.astype(np.float64), eps=eps,
                                                     reduction="none")
    assert loss.dtype == np.float32 and grad.dtype == np.float32
    assert np.array_equal(loss, loss64.astype(np.float32)) and np.array_equal(grad, grad64.astype(np.float32))
