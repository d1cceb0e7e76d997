"""Last-bit accuracy of the Brier losses and of the class-weighted cross-entropy's smallest results.

- ``brier``: each ``p_k - y_k`` a double word, its square exact, the row sum exact, rounded once
  (the plain sum of K rounded squares was up to 4.2 ulp off);
- ``brier_with_logits``: ``p_k - y_k`` in double words from exact row sums of the softmax weights
  (4.07 ulp in float64, 5 in float32 before), and float32 weights from ``_double_word.exp``
  (NumPy's float32 ``exp`` is up to 2.4 ulp off; the loss and gradient square it: 5 ulp before);
- ``weighted_cross_entropy(_grad)``: a weight times an already rounded subnormal result was several
  subnormal steps off; those results are now rounded once.

References: exact rationals (``fractions``) for ``brier``, 300-bit mpmath for the softmax forms.
The rows are the worst points of ``bench/accuracy.py``'s LOSSLAB_LONG grid before the change.
"""

from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np
import pytest

import losslab
from losslab import _double_word as dw

mpmath.mp.prec = 300
STEP = {np.float64: mpmath.ldexp(1, -1074), np.float32: mpmath.ldexp(1, -149)}


def ulp_error(computed, exact, dtype) -> float:
    """|computed - exact| in ulp of the exact value (float64) or of the float32-rounded one (float32)."""
    if dtype == np.float32:
        rounded = np.float32(float(exact))
        return float(abs(mpmath.mpf(float(computed)) - mpmath.mpf(float(rounded)))) / float(np.spacing(abs(rounded)))
    return float(abs(mpmath.mpf(float(computed)) - exact)) / float(np.spacing(abs(float(exact))))


def subnormal_steps(computed, exact, dtype) -> float:
    """Distance of ``computed`` from the correctly rounded ``exact`` in subnormal steps."""
    step = STEP[dtype]
    return float(abs(mpmath.mpf(float(computed)) - mpmath.nint(exact / step) * step) / step)


def softmax_exact(z):
    weights = [mpmath.exp(mpmath.mpf(float(v))) for v in z]
    total = mpmath.fsum(weights)
    return [w / total for w in weights]


def brier_with_logits_exact(z, y):
    p = softmax_exact(z)
    return mpmath.fsum((pk - mpmath.mpf(float(yk))) ** 2 for pk, yk in zip(p, y, strict=True))


def brier_with_logits_grad_exact(z, y):
    p = softmax_exact(z)
    g = [2 * (pk - mpmath.mpf(float(yk))) for pk, yk in zip(p, y, strict=True)]
    mean = mpmath.fsum(gk * pk for gk, pk in zip(g, p, strict=True))
    return [pk * (gk - mean) for pk, gk in zip(p, g, strict=True)]


# ------------------------------------------------------------ brier


def test_brier_is_the_correctly_rounded_sum_of_squares():
    rng = np.random.default_rng(5)
    prob = np.vstack([np.full(7, 1 / 7), rng.dirichlet(np.ones(10), 200)[:, :7]])
    target = np.vstack([[0.7624612818548164, 0.0, 0.16580697745917936, 0.0, 0.07173174068600434, 0.0, 0.0],
                        rng.dirichlet(np.ones(7), 200)])
    loss = losslab.brier(prob, target, reduction="none")
    for p, y, got in zip(prob, target, loss, strict=True):
        exact = sum((Fraction(float(a)) - Fraction(float(b))) ** 2 for a, b in zip(p, y, strict=True))
        assert ulp_error(got, mpmath.mpf(exact.numerator) / exact.denominator, np.float64) <= 0.5 + 1e-9


def test_brier_below_the_normal_range_is_within_one_subnormal_step():
    rows = np.array([
        [1.0, 8.775310686918377e-165, 1.3118894790594976e-160, 2.3237668785677527e-161, 6.213614644167813e-161,
         6.800809459217821e-162],
        [1.0, 7.089894260405453e-161, 1.448193432660699e-161, 3.771022548583939e-163, 6.78864505566862e-162,
         2.0902613996151626e-160],
    ])
    target = np.zeros_like(rows)
    target[:, 0] = 1
    for p, got in zip(rows, losslab.brier(rows, target, reduction="none"), strict=True):
        exact = sum(Fraction(float(v)) ** 2 for v in p[1:])
        assert subnormal_steps(got, mpmath.mpf(exact.numerator) / exact.denominator, np.float64) <= 1


# ------------------------------------------------------------ brier_with_logits (float64)

ROWS64 = [
    ([-53.904138410581794, -48.731707804629494, -89.9041384105818, -46.96441041423021, -48.67664388970132,
      -52.4417695388511, -49.746075333422624, -50.77765305183418, -48.11804471518601],
     [0.044866427878305554, 0.027116551458692788, 0.06914780951792958, 0.020150267848542593, 0.32518268193170374,
      0.06637314066801105, 0.06402931180390375, 0.11168490580529777, 0.2714489030876132]),
    ([997.6821113915646, 999.4772602486856, 1002.6467668290193, 1002.978715450118, 1000.3376540482084,
      1003.978715450118, 999.4722861319494, 998.2521869392879], [0, 0, 0, 0, 0, 1, 0, 0]),
    ([150.74846093836217, 50.35378141982402, 47.24886052866266, 49.51937729363231, 50.74846093836217,
      47.045601621092885], [1, 0, 0, 0, 0, 0]),
]


@pytest.mark.parametrize(("z", "y"), ROWS64)
def test_brier_with_logits_is_within_2_ulp_where_the_plain_sum_was_4(z, y):
    got = losslab.brier_with_logits(np.array([z]), np.array([y], float), reduction="none")[0]
    assert ulp_error(got, brier_with_logits_exact(z, y), np.float64) <= 2


# ------------------------------------------------------------ float32: computed in float32

ROWS32 = [
    ([40.19137954711914, 0.19137951731681824], [1, 0]),
    ([-9.53984546661377, -49.53984451293945], [1, 0]),
    ([-2.7955102920532227, 10.921981811523438], [0, 1]),
    ([0.4389134645462036, 2.524162769317627, 4.5407023429870605, 3.5407023429870605],
     [0.0, 0.0, 0.8182368278503418, 0.1817631870508194]),
    ([-7.368350982666016, -55.02301025390625, -49.15285873413086, -48.07094192504883, -47.368350982666016],
     [1, 0, 0, 0, 0]),
    ([-0.6624355316162109, -1.7026532888412476, -1.5552780628204346, 35.33756637573242, -0.9130780100822449,
      -0.8908018469810486], [0, 0, 0, 1, 0, 0]),
]


@pytest.mark.parametrize(("z", "y"), ROWS32)
def test_float32_brier_with_logits_and_its_gradient_are_within_2_ulp(z, y):
    logits, target = np.array([z], np.float32), np.array([y], np.float32)
    loss, grad = losslab.brier_with_logits_and_grad(logits, target, reduction="none")
    assert loss.dtype == grad.dtype == np.float32
    # the exact values of the float32 inputs
    exact_z, exact_y = [float(v) for v in logits[0]], [float(v) for v in target[0]]
    assert ulp_error(loss[0], brier_with_logits_exact(exact_z, exact_y), np.float32) <= 2
    for got, exact in zip(grad[0], brier_with_logits_grad_exact(exact_z, exact_y), strict=True):
        assert ulp_error(got, exact, np.float32) <= 2


def test_float32_brier_with_logits_grad_below_the_normal_range_is_within_one_subnormal_step():
    logits = np.array([[1004.7271118164062, 996.8038330078125, 1002.2352905273438, 916.8038330078125]], np.float32)
    target = np.array([[0.0, 0.9332557320594788, 0.06674426794052124, 0.0]], np.float32)
    grad = losslab.brier_with_logits_grad(logits, target)[0]
    exact = brier_with_logits_grad_exact([float(v) for v in logits[0]], [float(v) for v in target[0]])
    assert abs(exact[3]) < np.finfo(np.float32).tiny
    assert subnormal_steps(grad[3], exact[3], np.float32) <= 1


def test_float32_exp_is_within_half_an_ulp_and_computed_in_float32():
    rng = np.random.default_rng(7)
    z = np.concatenate([rng.uniform(-87, 88.7, 20000), rng.uniform(-1, 1, 2000)]).astype(np.float32)
    got = dw.exp(z)
    assert got.dtype == np.float32
    exact = np.exp(z.astype(np.float64))  # float64's exp: about 2^-29 of a float32 ulp
    error = np.abs(got - exact) / np.spacing(exact.astype(np.float32)).astype(np.float64)
    assert error.max() <= 0.501
    # NumPy's own float32 exp is up to 2.4 ulp off on these points: the reason for dw.exp
    assert (np.abs(np.exp(z) - exact) / np.spacing(exact.astype(np.float32))).max() > 1.5
    edges = dw.exp(np.array([89.0, 1e30, -104.0, -1e30, 0.0, -np.inf], np.float32))
    np.testing.assert_array_equal(edges, [np.inf, np.inf, 0, 0, 1, 0])
    # lo is a correction: e^(hi + lo) for a double word
    hi, lo = np.float32(-50.5), np.float32(3e-7)
    exact = mpmath.exp(mpmath.mpf(float(hi)) + mpmath.mpf(float(lo)))
    assert ulp_error(dw.exp(np.array([hi]), np.array([lo]))[0], exact, np.float32) <= 0.5


# ------------------------------------------------------------ layouts


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_brier_losses_agree_across_axis_and_memory_order(dtype):
    rng = np.random.default_rng(9)
    z = rng.normal(0, 3, (6, 4)).astype(dtype)
    target = rng.dirichlet(np.ones(4), 6).astype(dtype)
    prob = losslab.softmax(z)
    for function, first in ((losslab.brier, prob), (losslab.brier_with_logits, z)):
        expected = function(first, target, reduction="none")
        np.testing.assert_array_equal(function(np.asfortranarray(first), np.asfortranarray(target),
                                               reduction="none"), expected)
        np.testing.assert_array_equal(function(first.T, target.T, axis=0, reduction="none"), expected)
    grad = losslab.brier_with_logits_grad(z, target)
    np.testing.assert_array_equal(losslab.brier_with_logits_grad(np.asfortranarray(z), target), grad)
    np.testing.assert_array_equal(losslab.brier_with_logits_grad(z.T, target.T, axis=0), grad.T)


# ------------------------------------------------------------ weighted cross-entropy below the normal range


def _weighted_exact(z, y, weight):
    """Loss and gradient of sum_k w_k y_k (-log p_k) at 300 bits."""
    p = softmax_exact(z)
    q = [mpmath.mpf(float(w)) * mpmath.mpf(float(t)) for w, t in zip(weight, y, strict=True)]
    top = int(np.argmax(z))
    rest = mpmath.fsum(pk for k, pk in enumerate(p) if k != top)
    log_rest = mpmath.log1p(rest / p[top])
    z_top = mpmath.mpf(float(z[top]))
    loss = mpmath.fsum(qk * ((z_top - mpmath.mpf(float(zk))) + log_rest) for qk, zk in zip(q, z, strict=True))
    # p_k sum_j q_j - q_k as p_k sum_{j != k} q_j - q_k sum_{j != k} p_j: nothing cancels at 300 bits
    grad = [p[k] * mpmath.fsum(q[:k] + q[k + 1:]) - q[k] * mpmath.fsum(p[:k] + p[k + 1:]) for k in range(len(p))]
    return loss, grad


@pytest.mark.parametrize("target_kind", ["index", "one_hot", "soft"])
def test_weighted_cross_entropy_results_below_the_normal_range_are_within_one_subnormal_step(target_kind):
    gaps = np.linspace(740, 746, 25)
    logits = np.stack([np.zeros_like(gaps), -gaps, -gaps - 1], axis=1)
    weight = np.array([5.0, 1.0, 0.3])
    rows = np.zeros((len(gaps), 3))
    rows[:, 0] = 1
    if target_kind == "soft":
        rows[:, 0], rows[:, 2] = 0.75, 0.25
    target = np.zeros(len(gaps), int) if target_kind == "index" else rows
    loss, grad = losslab.weighted_cross_entropy_and_grad(logits, target, weight=weight, reduction="none")
    subnormal = 0
    for z, y, got_loss, got_grad in zip(logits, rows, loss, grad, strict=True):
        exact_loss, exact_grad = _weighted_exact(z, y, weight)
        for got, exact in ((got_loss, exact_loss), *zip(got_grad, exact_grad, strict=True)):
            if abs(exact) < np.finfo(np.float64).tiny:
                subnormal += 1
                assert subnormal_steps(got, exact, np.float64) <= 1, (z.tolist(), float(got), exact)
            else:
                assert ulp_error(got, exact, np.float64) <= 4
    assert subnormal >= 25
