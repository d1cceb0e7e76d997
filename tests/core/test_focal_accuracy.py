"""Last-bit accuracy of ``focal``, ``focal_grad`` and ``sigmoid_mse(_grad)``, soft labels included.

The points are the worst ones the LOSSLAB_LONG accuracy grid found before these functions were built
from double words (up to 11.6 ulp in float64 and 15 in float32 for ``focal`` at gamma = 3.7, where
``(1 - p_t)**gamma`` multiplied the rounding of ``1 - p_t`` by gamma), plus a small random sample.
References: the mpmath ones of ``bench/accuracy.py`` (256 bits, no cancellation), errors in ulp of the
exact value (float64) or of the float32-rounded value (float32), one subnormal step below the normal
range.
"""

from __future__ import annotations

import math
import os

import mpmath
import numpy as np
import pytest

import losslab
from losslab import _double_word

from .bench_accuracy import accuracy

X = accuracy.X
STEPS = 33 if os.environ.get("LOSSLAB_LONG") else 6  # logits per label and gamma in the large-gamma tests
PARAMETERS = [{"gamma": 2.0}, {"gamma": 0.5, "alpha": 0.25}, {"gamma": 3.7, "alpha": 0.9}]

# (z, y) where the power form was worst: 4.4-11.6 ulp in float64, 4-15 in float32
WORST64 = [(-0.063978564084128456, 0.999), (2.1227756122298076, 0.999), (4.8484161947545052, 0.3),
           (1.9617476107665919, 0.9), (0.11399524348997042, 0.001), (-0.0051385298850305803, 0.999),
           (1.1221572633782411, 0.3), (0.5, 0.3), (3.0, 0.9), (-4.5898581034012622, 0.001),
           (0.4084870153597851, 0.0), (-2.7455241874197607, 0.0), (29.754299728555782, 0.3)]
WORST32 = [(-4.0897655487060547, 0.001), (3.3742282390594482, 0.999), (2.2394037246704102, 0.9),
           (3.1166377067565918, 0.999), (-15.36712646484375, 0.0), (-1.0986649990081787, 0.3),
           (0.9601631760597229, 0.3), (-4.2745456695556641, 0.3), (3.1901388168334961, 1.0), (-10.0, 0.0)]


def _points(dtype):
    rng = np.random.default_rng(27)
    z = np.concatenate([rng.normal(0, 3, 60), [-40.0, -17.0, 0.0, 25.0, 300.0, -1e30]])
    labels = rng.choice([0.3, 0.5, 0.9, 1e-3, 0.999, 0.0, 1.0], z.size)
    worst = WORST64 if dtype == np.float64 else WORST32
    z = np.concatenate([z, [p[0] for p in worst]]).astype(dtype)
    y = np.concatenate([labels, [p[1] for p in worst]]).astype(dtype)
    return z, y


def _worst(computed, reference, z, y, dtype):
    """The worst error in ulp and where, with the well-conditioned points only (as the accuracy tests)."""
    worst, where = 0.0, None
    for c, zi, yi in zip(np.ravel(computed), z, y, strict=True):
        exact = reference(X(zi), X(yi))
        exact = exact if isinstance(exact, accuracy.Exact) else accuracy.Exact(exact)
        if exact.ill_conditioned():
            continue
        error, ok = accuracy.error_in_ulp(float(c), exact.value, dtype)
        if not ok and error <= 4:  # below the normal range, more than one subnormal step off
            error = math.inf
        if error > worst:
            worst, where = error, (float(zi), float(yi))
    return worst, where


@pytest.mark.parametrize("dtype, bound", [(np.float64, 2.5), (np.float32, 3.0)])
@pytest.mark.parametrize("params", PARAMETERS, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()))
def test_focal_and_its_gradient_are_within_a_few_ulp_for_soft_and_hard_labels(params, dtype, bound):
    z, y = _points(dtype)
    loss, grad = losslab.focal_and_grad(z, y, reduction="none", **params)
    assert loss.dtype == grad.dtype == dtype
    reference = {k: v for k, v in params.items()}
    loss_error = _worst(loss, lambda a, b: accuracy.r_focal(a, b, **reference), z, y, dtype)
    grad_error = _worst(grad, lambda a, b: accuracy.r_focal_grad(a, b, **reference), z, y, dtype)
    assert loss_error[0] <= bound, f"focal {params} {np.dtype(dtype).name}: {loss_error}"
    assert grad_error[0] <= bound, f"focal_grad {params} {np.dtype(dtype).name}: {grad_error}"
    np.testing.assert_array_equal(losslab.focal(z, y, reduction="none", **params), loss)
    np.testing.assert_array_equal(losslab.focal_grad(z, y, **params), grad)


@pytest.mark.parametrize("dtype, bound", [(np.float64, 2.0), (np.float32, 2.0)])
def test_sigmoid_mse_and_its_gradient_are_within_two_ulp(dtype, bound):
    z, y = _points(dtype)
    loss, grad = losslab.sigmoid_mse_and_grad(z, y, reduction="none")
    assert loss.dtype == grad.dtype == dtype
    loss_error = _worst(loss, accuracy.r_sigmoid_mse, z, y, dtype)
    grad_error = _worst(grad, accuracy.r_sigmoid_mse_grad, z, y, dtype)
    assert loss_error[0] <= bound, f"sigmoid_mse {np.dtype(dtype).name}: {loss_error}"
    assert grad_error[0] <= bound, f"sigmoid_mse_grad {np.dtype(dtype).name}: {grad_error}"
    np.testing.assert_array_equal(losslab.sigmoid_mse(z, y, reduction="none"), loss)
    np.testing.assert_array_equal(losslab.sigmoid_mse_grad(z, y), grad)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_results_below_the_normal_range_are_within_one_subnormal_step(dtype):
    # confidently right tails whose value is below the normal range: sigma(-|z|)^2 (sigmoid_mse),
    # sigma(x)^gamma log(1 + e^-|z|) with a small gamma (focal)
    tiny = 745.0 if dtype == np.float64 else 103.0
    z = np.linspace(-tiny, -0.955 * tiny, 7).astype(dtype)
    y = np.zeros_like(z)
    for name, value, reference in [
        ("sigmoid_mse", losslab.sigmoid_mse(z / 2, y, reduction="none"), accuracy.r_sigmoid_mse),
        ("sigmoid_mse_grad", losslab.sigmoid_mse_grad(z / 2, y), accuracy.r_sigmoid_mse_grad),
    ]:
        error = _worst(value, reference, z / 2, y, dtype)
        assert error[0] <= 1, (name, error)
    for gamma in (0.01, 0.05):
        shrunk = (z / (1 + gamma)).astype(dtype)
        loss, grad = losslab.focal_and_grad(shrunk, y, gamma=gamma, reduction="none")
        assert _worst(loss, lambda a, b, g=gamma: accuracy.r_focal(a, b, gamma=g), shrunk, y, dtype)[0] <= 2
        assert _worst(grad, lambda a, b, g=gamma: accuracy.r_focal_grad(a, b, gamma=g), shrunk, y, dtype)[0] <= 2


def test_soft_label_focal_stays_finite_and_right_at_float_max_and_infinity():
    z = np.array([-np.finfo(np.float64).max, np.finfo(np.float64).max, -np.inf, np.inf, 1e300])
    y = np.full(z.shape, 0.3)
    loss, grad = losslab.focal_and_grad(z, y, gamma=2.0, reduction="none")
    finite = slice(0, 2)
    for value, reference in ((loss, accuracy.r_focal), (grad, accuracy.r_focal_grad)):
        error = _worst(value[finite], lambda a, b, r=reference: r(a, b, gamma=2.0), z[finite], y[finite], np.float64)
        assert error[0] <= 2
    assert np.isinf(loss[2:4]).all()
    np.testing.assert_allclose(grad[2:4], grad[0:2], rtol=4e-16)  # the limits at +-inf, as at +-float max
    np.testing.assert_allclose(loss[4], 0.7**2 * 0.7 * 1e300, rtol=1e-15)


@pytest.mark.parametrize("dtype, bits", [(np.float64, 60), (np.float32, 28)])
def test_exp_scaled_carries_e_to_the_x_to_about_twice_the_precision(dtype, bits):
    rng = np.random.default_rng(5)
    limit = 745.0 if dtype == np.float64 else 103.0
    x = np.concatenate([-rng.uniform(0, limit, 200), rng.uniform(-1, 1, 50), -(10.0 ** rng.uniform(-20, 2, 50)),
                        [0.0, -limit, -np.log(2), 88.0]]).astype(dtype)
    low = (x * dtype(2.0**-40)).astype(dtype)  # a correction of the argument, as from a two-sum
    hi, lo, power = _double_word.exp_scaled(x, low)
    assert hi.dtype == lo.dtype == dtype
    worst = mpmath.mpf(0)
    with mpmath.workprec(200):
        for xi, li, h, lw, p in zip(x, low, hi, lo, power, strict=True):
            exact = mpmath.exp(mpmath.mpf(float(xi)) + mpmath.mpf(float(li)))
            got = (mpmath.mpf(float(h)) + mpmath.mpf(float(lw))) * mpmath.mpf(2) ** int(p)
            worst = max(worst, abs(got / exact - 1))
    assert worst < mpmath.mpf(2) ** -bits, float(mpmath.log(worst, 2))


def _wide(reference, gamma):
    """``reference(z, y, gamma=gamma)`` with 256 bits more than 1 - p_t needs to be exact (1 - 1e-300, or
    1 - e^-700), where the references' 256 bits would round it to 1 (and a gamma of 1e300 or more makes that
    1 - 1e-300 count)."""

    def exact(z, y):
        small = min(abs(float(y)), abs(1 - float(y))) or 1.0
        bits = 256 + max(0, int(-math.log2(small)), int(1.45 * abs(float(z))))
        with mpmath.workprec(min(bits, 2400)):
            value = reference(z, y, gamma=gamma)
        return value

    return exact


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_soft_label_focal_is_right_for_a_huge_gamma_where_one_minus_p_t_rounds_to_one(dtype):
    # A label near 0 or 1 and a confidently wrong logit: 1 - p_t = 1 - e^-|z| rounds to 1, its low part
    # is -e^-|z|, and (1 - p_t)^gamma = e^(-gamma e^-|z|) is anything from 1 to 0 for a typed gamma of 1e8
    # to 1e300 (the binary view takes any gamma >= 0). Expanding the power to first order in the low part
    # gave 1 - gamma e^-|z|: a negative loss (-1154.9 for 8.8e-13 at z = 38, y = 1e-300, gamma = 1e18).
    tiny = np.finfo(dtype).tiny
    labels = [1e-300, 5e-324, 1e-17, 1 - 2.0**-53] if dtype == np.float64 else [1e-30, float(tiny), 1e-8, 1 - 2.0**-24]
    far = 37.0 if dtype == np.float64 else 16.0  # where e^-|z| falls below half an ulp of 1
    # e^-|z| below the normal range, where a gamma near float max brings its lost digits back
    beyond = [700.0, 712.5, 716.0] if dtype == np.float64 else [80.0, 88.5, 90.0]
    for gamma in (1e8, 1e14, 1e16, 1e18, 1e300, float(np.finfo(np.float64).max)):
        # the reference's power with a 1000-bit integer gamma is slow: there the transition is far out anyway
        spread = np.linspace(far - 4, far + 12, STEPS) if gamma < 1e100 else []
        z = np.concatenate([spread, [far - 0.56, 0.5], beyond])
        # past 1e100 only a label as small as 1/gamma leaves a modulation that is not 0 (float32: none)
        for label in labels if gamma < 1e100 else labels[:2] if dtype == np.float64 else labels[1:2]:
            y = np.full(z.size, label, dtype=dtype)
            sign = 1 if label < 0.5 else -1  # a confident mistake: z on the far side of the label
            points = (sign * z).astype(dtype)
            loss, grad = losslab.focal_and_grad(points, y, gamma=gamma, reduction="none")
            loss_error = _worst(loss, _wide(accuracy.r_focal, gamma), points, y, dtype)
            grad_error = _worst(grad, _wide(accuracy.r_focal_grad, gamma), points, y, dtype)
            assert loss_error[0] <= 4, f"focal gamma={gamma} y={label}: {loss_error}"
            assert grad_error[0] <= 4, f"focal_grad gamma={gamma} y={label}: {grad_error}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_hard_label_focal_is_right_for_a_large_gamma(dtype):
    # Labels 0 and 1: (1 - p_t)^gamma = e^(gamma log sigma(x)), x = z or -z, with log sigma(x) = min(x, 0) -
    # log(1 + e^-|z|). A rounded log1p(e^-|z|) (half an ulp, 1.7 in float32) put gamma times that error into
    # the exponent: 6.8 ulp at gamma = 50, 41 at 1e4 and 272 at 1e8 in float64, 10 at 1e8 in float32, and a
    # gamma of float max overflowed (an inf gradient where the modulation is 0).
    # and where sigma(x)^gamma = e^(-gamma e^-|z|) goes from 0 to 1: |z| about log(gamma)
    far = 37.0 if dtype == np.float64 else 17.0  # where e^-|z| falls below half an ulp of 1
    spread = np.linspace(-far - 8, far + 8, STEPS + 1)
    for gamma in (50.0, 1e4, 1e8, 1e14, 1e18, 1e300, float(np.finfo(np.float64).max)):
        # the reference's power with a 1000-bit integer gamma is slow: a few points besides the transition
        for label in (0.0, 1.0):
            sign = 1 if label == 0 else -1  # the transition is at a confident mistake: sigma(z) near 1 for label 0
            transition = sign * (math.log(gamma) + np.array([-2.0, 0.5, 3.0]))
            others = np.concatenate([spread, [0.7, -5.5, sign * (far - 1.5)]]) if gamma < 1e100 else [sign * far]
            z = np.concatenate([others, [-0.3], transition]).astype(dtype)
            y = np.full(z.size, label, dtype=dtype)
            loss, grad = losslab.focal_and_grad(z, y, gamma=gamma, reduction="none")
            assert loss.dtype == grad.dtype == dtype
            loss_error = _worst(loss, _wide(accuracy.r_focal, gamma), z, y, dtype)
            grad_error = _worst(grad, _wide(accuracy.r_focal_grad, gamma), z, y, dtype)
            assert loss_error[0] <= 4, f"focal gamma={gamma} y={label}: {loss_error}"
            assert grad_error[0] <= 4, f"focal_grad gamma={gamma} y={label}: {grad_error}"


# (z, y, gamma) through every branch of the large-gamma forms: soft labels (the double-word log; a subnormal
# e^-|z| in the gradient; p_t below 2^-1000 with gamma near float max; a tiny c_u + c_s t beside a
# subnormal e^-|z|, the binary view's readout at p = 5e-324, y = 1e-300), hard labels (the double-word
# log1p; a subnormal e^-|z| with gamma near float max) and both labels mixed
LARGE_GAMMA_BRANCHES = [(3.0, 0.3, 50.0), (38.0, 1e-300, 1e18), (716.0, 5e-324, np.finfo(np.float64).max),
                        (712.5, 5e-324, np.finfo(np.float64).max), (-744.44007192138122, 1e-300, 702.194247058345),
                        (-87.3, 1e-30, 1e300), (3.0, 1.0, 50.0), (712.5, 0.0, np.finfo(np.float64).max),
                        (-712.5, 1.0, np.finfo(np.float64).max), (-0.5, 1 - 2.0**-53, 1e8),
                        (-100.0, 1.0, 1e38), (-1e30, 1.0, 1e300), (1e30, 1e-8, np.finfo(np.float64).max),
                        (3.4028234663852886e38, 0.0, np.finfo(np.float64).max)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_large_gamma_forms_take_scalars_and_0d_arrays(dtype):
    # 0-d inputs (the view's readout) give NumPy scalars, on which an in-place step (np.copyto) failed, and
    # a 0-d scaled e^-|z| took the unscaled path (2 float32 ulp at z = -100, gamma = 1e38) or warned (a NumPy
    # scalar product of 0 and inf at |z| = 1e30)
    for z, y, gamma in LARGE_GAMMA_BRANCHES:
        row_loss, row_grad = losslab.focal_and_grad(np.array([z], dtype), np.array([y], dtype), gamma=float(gamma),
                                                    reduction="none")
        for zs, ys in ((dtype(z), dtype(y)), (np.array(z, dtype), np.array(y, dtype))):
            loss, grad = losslab.focal_and_grad(zs, ys, gamma=float(gamma), reduction="none")
            assert np.shape(loss) == np.shape(grad) == ()
            assert loss.dtype == grad.dtype == dtype
            np.testing.assert_array_equal([loss, grad], [row_loss[0], row_grad[0]])
            assert losslab.focal(zs, ys, gamma=float(gamma), reduction="none") == loss
            assert losslab.focal_grad(zs, ys, gamma=float(gamma)) == grad
    mixed = np.array([p[1] for p in LARGE_GAMMA_BRANCHES], dtype)
    for gamma in (50.0, float(np.finfo(np.float64).max)):  # hard and soft labels in one call
        loss, grad = losslab.focal_and_grad(np.full(mixed.shape, 712.5, dtype), mixed, gamma=gamma, reduction="none")
        for k, y in enumerate(mixed):
            single = losslab.focal_and_grad(dtype(712.5), y, gamma=gamma, reduction="none")
            np.testing.assert_array_equal([loss[k], grad[k]], single)


def test_the_readout_point_of_a_tiny_label_and_a_subnormal_probability_is_right():
    z, y, gamma = np.float64(-744.44007192138122), np.float64(1e-300), 702.194247058345
    loss, grad = losslab.focal_and_grad(z, y, gamma=gamma, reduction="none")
    points = np.array([z]), np.array([y])
    assert _worst(np.array([loss]), _wide(accuracy.r_focal, gamma), *points, np.float64)[0] <= 4
    assert _worst(np.array([grad]), _wide(accuracy.r_focal_grad, gamma), *points, np.float64)[0] <= 4


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("gamma", [4.5, 5.0, 8.5, 9.999999999999998, 10.0])
def test_focal_is_within_four_ulp_for_a_gamma_between_the_slider_and_the_log_form(gamma, dtype):
    # The float forms' error grows with gamma (about 0.15 gamma ulp for labels 0 and 1): 5.2 and 5.9 ulp
    # at gamma = 10 and just below it (helper-57's review), where the double-word log took over only above 10.
    rng = np.random.default_rng(31)
    z = np.concatenate([rng.normal(0, 2, 48), [0.0048191232082873585, -0.0048191232082873585]]).astype(dtype)
    y = np.concatenate([rng.choice([0.0, 1.0, 0.3, 0.999], 48), [0.0, 1.0]]).astype(dtype)
    loss, grad = losslab.focal_and_grad(z, y, gamma=gamma, reduction="none")
    loss_error = _worst(loss, lambda a, b: accuracy.r_focal(a, b, gamma=gamma), z, y, dtype)
    grad_error = _worst(grad, lambda a, b: accuracy.r_focal_grad(a, b, gamma=gamma), z, y, dtype)
    assert loss_error[0] <= 4, f"focal gamma={gamma}: {loss_error}"
    assert grad_error[0] <= 4, f"focal_grad gamma={gamma}: {grad_error}"
