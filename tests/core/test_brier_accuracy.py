"""brier_with_logits_grad (and its fused twin) within 4 ulp of an 80-digit mpmath reference.

The plain softmax Jacobian product rounded the row sums, p, p - y, the products and their sums,
and reached 6.2 ulp (float64) and 8 ulp (float32) on the accuracy grid's rows even where nothing
cancels (the rows below are those worst points). The gradient is now formed from exact row sums
in double words (``multiclass._brier_softmax_grad``). References: ``p_k (g_k - sum_j g_j p_j)``
with ``g = 2 (p - y)``, every step in 80 digits; float32 against the float32-rounded reference,
computed in float32.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

import losslab

ULP_BOUND = 4.0


def reference(z, y) -> list:
    """The exact gradient of sum_k (p_k - y_k)^2 with p = softmax(z), in 80 digits."""
    with mpmath.workdps(80):
        z = [mpmath.mpf(float(v)) for v in z]
        y = [mpmath.mpf(float(v)) for v in y]
        top = max(z)
        weights = [mpmath.exp(v - top) for v in z]
        total = mpmath.fsum(weights)
        p = [w / total for w in weights]
        g = [2 * (pk - yk) for pk, yk in zip(p, y, strict=True)]
        s = mpmath.fsum(gk * pk for gk, pk in zip(g, p, strict=True))
        return [pk * (gk - s) for pk, gk in zip(p, g, strict=True)]


def ulp_error(computed: float, exact, dtype) -> float:
    """Error in ulp of the exact value (float64) or of the float32-rounded one (float32)."""
    if dtype == np.float64:
        nearest = float(exact)
        ulp = math.ldexp(1.0, math.frexp(nearest)[1] - 53) if nearest else 2.0**-1074
        return float(abs(mpmath.mpf(computed) - exact)) / max(ulp, 2.0**-1074)
    rounded = float(np.float32(float(exact)))
    ulp = math.ldexp(1.0, math.frexp(rounded)[1] - 24) if rounded else 2.0**-149
    return abs(computed - rounded) / max(ulp, 2.0**-149)


def worst(function, z, y, dtype) -> tuple[float, int]:
    z = np.asarray(z, dtype=dtype)
    y = np.asarray(y, dtype=dtype)
    got = function(z, y)
    if isinstance(got, tuple):
        got = got[1]
    exact = reference(z, y)
    errors = [ulp_error(float(c), e, dtype) for c, e in zip(got, exact, strict=True)]
    return max(errors), int(np.argmax(errors))


# rows of the accuracy grid (bench/accuracy.py, test size) where the plain form was worst: (dtype, z, y)
WORST_ROWS = [
    (np.float64, [1.6511628511156045, 1.6511628512156045, -0.4917277344364679, -2.9430134938968675,
                  -0.8480655289993132, -2.801458455460957, -1.9997083751904872],
     [0.21426173715960015, 0.007096622971027214, 0.02937820141198157, 0.040068479696675076,
      0.0805302559106108, 0.40631049485847887, 0.22235420799162642]),
    (np.float64, [1.6511628511156045, -2.9430134939968675, -0.4917277344364679, -2.9430134938968675,
                  -0.8480655289993132, -2.801458455460957, -1.9997083751904872],
     [0.4919008511443928, 0.19732137564298008, 0.17172094772836208, 0.00011925621523783123,
      0.038582281862157286, 0.010733953411427181, 0.08962133399544261]),
    (np.float64, [-1e30, -50.4909684914041, -46.946486132479144, -49.753997860490244, -50.77443406223765,
                  -50.10702590254095, -48.95184619450235, -49.406975842269105],
     [0.0, 0.0, 0.0, 0.11507469419640538, 0.596154473622282, 0.0, 0.10926461938009524, 0.17950621280121737]),
    (np.float64, [0.20089019407634767, -2.8062704042465834, -0.6829027329965975, -1.5534802201756226,
                  -2.086969951142914, -3.569963202011282, 0.012740021771124257, -43.56996320201128,
                  -3.0181282686282445],
     [0.11657630411340714, 0.22524889154605476, 0.37632165424795927, 0.0067082116160883925,
      0.06160617292331706, 0.13448389778519315, 0.0024540677315082974, 0.016831690346815593,
      0.059769109689656534]),
    (np.float64, [49.720888317059995, 51.026285167788025, 50.45486472980716, 39.720888317059995],
     [0.0, 0.0, 0.0, 1.0]),
    (np.float32, [43.76240158081055, 47.43539810180664, 52.410160064697266, 50.155723571777344,
                  47.2352294921875, 48.07432556152344, 50.80488204956055, 49.19462585449219, -1e30],
     [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]),
    # not here: float32 rows whose weights e^(z - s) are themselves 1 to 2.4 ulp off (numpy's float32
    # exp), which the gradient's conditioning multiplies past 4 ulp (SoftmaxParts, not this form)
]

FUNCTIONS = [losslab.brier_with_logits_grad, losslab.brier_with_logits_and_grad]


@pytest.mark.parametrize("function", FUNCTIONS, ids=["grad", "and_grad"])
@pytest.mark.parametrize("row", range(len(WORST_ROWS)))
def test_the_grids_worst_rows_are_within_4_ulp(row, function):
    dtype, z, y = WORST_ROWS[row]
    error, where = worst(function, z, y, dtype)
    assert error <= ULP_BOUND, f"row {row} ({np.dtype(dtype).name}): {error:.2f} ulp at class {where}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["hard", "soft"])
def test_random_rows_are_within_4_ulp_off_genuine_cancellation(dtype, kind):
    """Random rows of 2 to 10 classes; where the exact result is below half its terms' size (a genuine
    zero nearby) the error is measured in ulp of that size instead."""
    rng = np.random.default_rng(16 if kind == "hard" else 61)
    bad = []
    for _ in range(60):
        classes = int(rng.integers(2, 11))
        z = (rng.normal(size=classes) * rng.choice([0.5, 3.0, 20.0])).astype(dtype)
        y = (np.eye(classes)[rng.integers(classes)] if kind == "hard"
             else rng.dirichlet(np.ones(classes))).astype(dtype)
        got = losslab.brier_with_logits_grad(z, y)
        with mpmath.workdps(80):
            exact = reference(z, y)
            zz = [mpmath.mpf(float(v)) for v in z]
            weights = [mpmath.exp(v - max(zz)) for v in zz]
            p = [w / mpmath.fsum(weights) for w in weights]
            y_exact = [mpmath.mpf(float(v)) for v in y]
            # as bench/accuracy.py: p - y may itself cancel, so each |g_j| counts at its terms' size
            g_size = [2 * max(pk * (1 - yk), yk * (1 - pk), abs(pk - yk)) for pk, yk in zip(p, y_exact, strict=True)]
            for k in range(classes):
                size = p[k] * (g_size[k] * (1 - p[k]) + mpmath.fsum(g_size[j] * p[j] for j in range(classes) if j != k))
                error = ulp_error(float(got[k]), exact[k], dtype)
                if abs(exact[k]) * 2 < size:  # ill-conditioned: in ulp of the terms' size
                    error *= float(abs(exact[k]) / size) if exact[k] else 0.0
                if error > ULP_BOUND:
                    bad.append((round(error, 2), z.tolist(), y.tolist(), k))
    assert not bad, f"{len(bad)} entries above {ULP_BOUND} ulp, worst {max(bad)}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_saturated_rows_keep_their_tiny_gradients(dtype):
    # p_1 = e^-30: the gradient is about 2 p_1^2 (in float32 still normal), all of it from the row's tail
    z = np.array([[30.0, 0.0, -1.0], [0.0, 30.0, 29.0]], dtype=dtype)
    y = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=dtype)
    got = losslab.brier_with_logits_grad(z, y)
    for row in range(2):
        exact = reference(z[row], y[row])
        errors = [ulp_error(float(c), e, dtype) for c, e in zip(got[row], exact, strict=True)]
        assert max(errors) <= ULP_BOUND, (row, errors)


def test_fused_gradient_equals_the_separate_one_and_any_class_axis():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(5, 6, 4)) * 4
    y = rng.dirichlet(np.ones(6), size=(5, 4)).transpose(0, 2, 1)
    grad = losslab.brier_with_logits_grad(z, y, axis=1)
    _, fused = losslab.brier_with_logits_and_grad(z, y, axis=1)
    np.testing.assert_array_equal(grad, fused)
    last = losslab.brier_with_logits_grad(np.moveaxis(z, 1, -1), np.moveaxis(y, 1, -1))
    np.testing.assert_array_equal(grad, np.moveaxis(last, -1, 1))
