"""Last-bit accuracy of the DIoU and CIoU gradients where they used to lose it (issue 16).

Two places: boxes far below ``sqrt(eps)``, where ``eps`` swamps the overlap and the
distance terms and the CIoU gradient is the aspect term's
``alpha (2 - alpha) dv``, proportional to the cube of the aspect gap (every
rounding of the gap counted three times), and boxes of about ``sqrt(eps)``
(where ``eps`` and the areas are of one size), whose IoU gradient is a product
of rounded areas and widths that the DIoU and CIoU gradients carry. The
points include the worst ones of ``bench/accuracy.py``'s test and LOSSLAB_LONG
grids (6.2 and 4.2 ulp before). The references are mpmath central differences
of the loss at 1200 bits, from ``test_margin_and_box_accuracy``; the error is
measured like ``bench/accuracy.py``'s atlas: a component at least half the
largest in ulp of itself, a smaller one in ulp of the largest.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from losslab import detection as det

from .test_margin_and_box_accuracy import box_loss_exact, box_reference

ULP_BOUND = 4.0

# the worst inputs of the atlas's grids before this fix (float64): (name, pred, target)
GRID_WORST = [
    ("ciou", [6.611702567805379e-201, -4.144724537007189e-201, 2.191594762026481e-200, 6.3100153623356336e-201],
     [6.590396306097181e-201, -4.150824611828546e-201, 2.191341618639713e-200, 6.3095550280664714e-201]),
    ("ciou", [-3.1850680453894342e-201, 1.7106498528480947e-200, 9.38999880793651e-201, 4.0521033992464164e-200],
     [-1.4099624267860221e-201, 1.6760692817958394e-200, 7.463943223793728e-201, 3.633160477927177e-200]),
    ("ciou", [7.574953305083057e-201, -1.5362172301756735e-200, 9.121541068978295e-201, 5.1949114887880647e-200],
     [7.573758394605818e-201, -1.5437003007988262e-200, 9.121616698409463e-201, 5.195311761931511e-200]),
    ("diou", [-0.00031654727265422545, -0.0023727817010258364, -7.569130029278744e-05, -0.001974164559741361],
     [-0.000316648073367917, -0.002373008837370026, -7.555001268593411e-05, -0.0019737137878675904]),
    ("diou", [-0.0005375564896955591, 0.00430321770422672, 0.0017998890914262967, 0.01871484096383081],
     [-0.0006606886879564494, 0.004404437258968149, 0.0021307607397840897, 0.013456405455447233]),
]


def atlas_error(computed, exact: list) -> float:
    """Worst error of one gradient vector: a component of at least half the largest in ulp of itself,
    a smaller one in ulp of the largest (``bench/accuracy.py``'s normwise measure)."""
    largest = max(abs(v) for v in exact)
    if largest == 0:
        return 0.0 if not np.any(computed) else float("inf")
    worst = 0.0
    for c, e in zip(np.ravel(computed), exact, strict=True):
        scale = abs(e) if 2 * abs(e) >= largest else largest
        _, exponent = mpmath.frexp(scale)
        worst = max(worst, float(abs(mpmath.mpf(float(c)) - e) / mpmath.ldexp(1, int(exponent) - 53)))
    return worst


def worst_gradient_error(name, pred, target) -> float:
    pred, target = np.atleast_2d(pred), np.atleast_2d(target)
    _, exact = box_reference(name, pred, target)
    computed = getattr(det, f"{name}_grad")(pred, target)
    fused = getattr(det, f"{name}_and_grad")(pred, target, reduction="none")[1]
    assert np.array_equal(fused, computed)
    return max(atlas_error(c, e) for c, e in zip(computed, exact, strict=True))


@pytest.mark.parametrize("name, pred, target", GRID_WORST,
                         ids=[f"{case[0]}-{i}" for i, case in enumerate(GRID_WORST)])
def test_gradients_at_the_worst_points_of_the_accuracy_grids(name, pred, target):
    worst = worst_gradient_error(name, pred, target)
    assert worst <= ULP_BOUND, f"{name}_grad: {worst:.3g} ulp"


def boxes_of(scale, noise, count, seed):
    """Random target boxes at ``scale`` and predictions ``noise`` (relative to their sides) away."""
    rng = np.random.default_rng(seed)
    corner = rng.normal(0, 2, (count, 2))
    extent = np.exp(rng.normal(0, 1, (count, 2)))
    target = np.concatenate([corner, corner + extent], axis=1)
    pred = target + noise * rng.normal(0, 1, (count, 4)) * np.concatenate([extent, extent], axis=1)
    pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2] + 1e-3 * extent)
    return pred * scale, target * scale


@pytest.mark.parametrize("scale", [1e-200, 1e-30])
@pytest.mark.parametrize("noise", [1e-6, 1e-3, 0.3])
def test_ciou_grad_of_boxes_far_below_sqrt_eps(scale, noise):
    # eps swamps the overlap and the distance: the gradient is the aspect term's, the gap cubed
    pred, target = boxes_of(scale, noise, 12, seed=7)
    worst = worst_gradient_error("ciou", pred, target)
    assert worst <= ULP_BOUND, f"ciou_grad: {worst:.3g} ulp"


@pytest.mark.parametrize("name", ["diou", "ciou"])
@pytest.mark.parametrize("noise", [1e-9, 1e-3, 0.3])
def test_gradients_of_boxes_about_sqrt_eps(name, noise):
    # areas and eps of one size: the IoU gradient's rounded areas and widths count
    pred, target = boxes_of(1e-3, noise, 12, seed=8)
    worst = worst_gradient_error(name, pred, target)
    assert worst <= ULP_BOUND, f"{name}_grad: {worst:.3g} ulp"


def test_ciou_grad_of_tiny_boxes_keeps_its_aspect_term_for_a_huge_eps():
    # eps = 1e300 keeps the pair's scaling from enlarging boxes of 1e-200: w^2 + h^2 used to underflow
    # to 0 and drop the aspect term (the whole gradient, about 1e-102). The loss is 1 + 1e-300-ish, so
    # the reference's central differences need about 1200 bits beyond the step: 3000 bits here
    pred, target = boxes_of(1e-200, 0.3, 4, seed=9)
    computed = det.ciou_grad(pred, target, eps=1e300)
    worst = 0.0
    with mpmath.workprec(3000):
        eps = mpmath.mpf(1e300)
        for box, goal, grad in zip(pred, target, computed, strict=True):
            b, g = [mpmath.mpf(float(v)) for v in box], [mpmath.mpf(float(v)) for v in goal]
            step = mpmath.ldexp(max(abs(v) for v in b), -300)
            exact = []
            for i in range(4):
                up, down = list(b), list(b)
                up[i] += step
                down[i] -= step
                exact.append((box_loss_exact("ciou", up, g, eps) - box_loss_exact("ciou", down, g, eps)) / (2 * step))
            worst = max(worst, atlas_error(grad, exact))
    assert worst <= ULP_BOUND, f"ciou_grad: {worst:.3g} ulp"


def test_the_double_word_arctangent_carries_about_ten_more_bits():
    # CIoU's gradient counts its aspect gap three times: det._arctan2_double must be far below an ulp
    rng = np.random.default_rng(11)
    n = 3000
    y = rng.normal(0, 1, n) * 10.0 ** rng.uniform(-12, 3, n)
    x = np.abs(rng.normal(0, 1, n)) * 10.0 ** rng.uniform(-3, 3, n)
    x[:8], y[8:16] = 0.0, 0.0  # the axes
    x[16:40] = np.abs(y[16:40]) * (1 + rng.normal(0, 1e-9, 24))  # about 45 degrees: the swap's edge
    x[40:80] = np.abs(y[40:80]) / (np.arange(40) % 33 / 32 + 1 / 128)  # the table's edges (u = k/32 +- 1/64)
    y_low, x_low = y * rng.uniform(-1, 1, n) * 2.0**-54, x * rng.uniform(-1, 1, n) * 2.0**-54
    high, low = det._arctan2_double(y, y_low, x, x_low)
    worst = 0.0
    with mpmath.workprec(300):
        for i in range(n):
            exact = mpmath.atan2(mpmath.mpf(y[i]) + mpmath.mpf(y_low[i]), mpmath.mpf(x[i]) + mpmath.mpf(x_low[i]))
            if exact != 0:
                worst = max(worst, float(abs(mpmath.mpf(high[i]) + mpmath.mpf(low[i]) - exact) / abs(exact)))
    assert worst < 2.0**-62, f"relative error {worst:.3g}"
