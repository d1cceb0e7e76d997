"""Poisson and Gaussian NLL in float32, computed in float32 (issue 16).

The references are mpmath closed forms at 200 bits on the exact float32 input values; a float32
result must be within 4 ulp of the reference rounded to float32 (one subnormal step below the normal
range), and where the loss's terms cancel, within 1 ulp (float32) of the largest term. Overflow to
inf only where the exact value is past float32's largest finite value (rounded: at least
``max + ulp(max)/2``).
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from losslab import extra_regression

from .atlas_checks import assert_computed_in_float32

mpmath.mp.prec = 200
F32_MAX = mpmath.mpf(float(np.finfo(np.float32).max))
OVERFLOW = F32_MAX + mpmath.mpf(2) ** 103  # max + ulp(max)/2: from here the rounded value is inf


def x(v) -> mpmath.mpf:
    return mpmath.mpf(float(v))


def ulp32(value) -> mpmath.mpf:
    """The float32 ulp at ``|value|`` (the subnormal step below the normal range; past float32 max, the ulp
    of a float32 with more exponent range: cancelling terms can exceed the range where the result does not)."""
    if value == 0:
        return mpmath.mpf(2) ** -149
    return mpmath.mpf(2) ** (max(int(mpmath.floor(mpmath.log(abs(mpmath.mpf(float(value))), 2))), -126) - 23)


def assert_close(got, exact, scale=None, where=""):
    """``got`` (float32) within 4 ulp of ``exact`` rounded to float32, or within 1 ulp of ``scale`` (the
    largest cancelling term) when given; inf exactly where ``exact`` rounds to inf."""
    got = np.float32(got)
    if abs(exact) >= OVERFLOW:
        assert np.isinf(got) and (got > 0) == (exact > 0), (where, got, exact)
        return
    assert np.isfinite(got), (where, got, exact)
    error = abs(x(got) - exact)
    if scale is not None:
        assert error <= ulp32(scale), (where, float(got), float(exact), float(error / ulp32(scale)))
    else:
        rounded = np.float32(float(exact))
        assert error <= 4 * ulp32(rounded) + abs(x(rounded) - exact), (where, float(got), float(exact))


# ------------------------------------------------------------ computed in float32

N = 1 << 15
RNG = np.random.default_rng(1616)
A, B = RNG.normal(0, 3, N), RNG.normal(0, 3, N)


def poisson_of_rate(pred, target):
    return extra_regression.poisson_nll_and_grad(pred, target, log_input=False, full=True)


@pytest.mark.parametrize(("function", "args"), [
    (extra_regression.poisson_nll, (A, np.abs(np.rint(B)))),
    (poisson_of_rate, (np.abs(A), np.abs(np.rint(B)))),
    (extra_regression.gaussian_nll, (A, B, np.abs(B))),
], ids=["poisson_nll", "poisson_nll_of_a_rate", "gaussian_nll"])
def test_the_losses_alone_and_a_rate_are_computed_in_float32(function, args):
    assert_computed_in_float32(function, args)


def test_small_inputs_are_float32_and_equal_to_the_blockwise_computation():
    """The dashboard's few hundred points are one block; large inputs go block by block: same values."""
    x_all = RNG.normal(0, 3, 5000).astype(np.float32)
    y_all = np.abs(np.rint(RNG.normal(0, 3, 5000))).astype(np.float32)
    whole = extra_regression.poisson_nll_and_grad(x_all, y_all, reduction="none")
    for start in (0, 1000, 4500):
        part = extra_regression.poisson_nll_and_grad(x_all[start:start + 300], y_all[start:start + 300],
                                                      reduction="none")
        for a, b in zip(part, whole, strict=True):
            assert a.dtype == np.float32
            np.testing.assert_array_equal(a, b[start:start + 300])


# ------------------------------------------------------------ Poisson NLL of a log-rate


def poisson_exact(rate_log, count):
    v, c = x(rate_log), x(count)
    return mpmath.exp(v) - c * v, mpmath.exp(v) - c


def test_poisson_near_its_optimum_keeps_the_digits_of_the_cancelling_terms():
    # x near log y: e^x - y cancels; y near e: e^x - y x = y (1 - log y) cancels too
    points = []
    for count in (1.0, 2.0, np.e, 2.7, 3.0, 7.0, 100.0, 1e6, 3e30):
        centre = np.float32(np.log(np.float32(count)))
        points += [(v, np.float32(count)) for v in centre + np.float32(1e-6) * np.arange(-8, 9, dtype=np.float32)]
    x_all = np.array([p[0] for p in points], np.float32)
    y_all = np.array([p[1] for p in points], np.float32)
    loss, grad = extra_regression.poisson_nll_and_grad(x_all, y_all, reduction="none")
    for v, c, got_loss, got_grad in zip(x_all, y_all, loss, grad, strict=True):
        exact_loss, exact_grad = poisson_exact(v, c)
        rate = mpmath.exp(x(v))
        assert_close(got_loss, exact_loss, max(rate, abs(x(c) * x(v))), f"loss at {v}, {c}")
        assert_close(got_grad, exact_grad, max(rate, x(c)), f"grad at {v}, {c}")
        # and within 4 ulp of itself where the terms do not cancel to below half the largest
        if 2 * abs(exact_loss) >= max(rate, abs(x(c) * x(v))):
            assert_close(got_loss, exact_loss, where=f"loss at {v}, {c}")
        if 2 * abs(exact_grad) >= max(rate, x(c)):
            assert_close(got_grad, exact_grad, where=f"grad at {v}, {c}")


def test_poisson_overflows_only_where_the_exact_value_does():
    # e^90 is past float32 max but e^90 - 1e37 * 90 is not; e^88.72 is just below max; below x = -104 e^x
    # is under half the smallest subnormal and the loss is -y x, which overflows for y = 1e37, x = -1e3
    x_all = np.array([90.0, 89.0, 88.72, 88.73, 50.0, -87.0, -100.0, -103.9, -104.5, -1e3, -1e3, 3e38, -3e38],
                     np.float32)
    y_all = np.array([1e37, 1e37, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 1e-45, 1e37, 3.0, 1e38, 1e-3], np.float32)
    loss, grad = extra_regression.poisson_nll_and_grad(x_all, y_all, reduction="none")
    for v, c, got_loss, got_grad in zip(x_all, y_all, loss, grad, strict=True):
        exact_loss, exact_grad = poisson_exact(v, c)
        assert_close(got_loss, exact_loss, where=f"loss at {v}, {c}")
        assert_close(got_grad, exact_grad, where=f"grad at {v}, {c}")


def test_poisson_full_keeps_its_digits_where_stirling_cancels_the_loss():
    """At x = log y the loss y - y log y and Stirling's (y + 1/2) log y - y + log(2 pi)/2 cancel to
    about log(2 pi y)/2; near y = 1 Stirling's own terms cancel to -0.08."""
    counts = np.array([1.0 + 2.0**-20, 1.5, 3.0, 1000.0, 123456.0, 3e15, 1e30], np.float32)
    rates = np.log(counts).astype(np.float32)
    loss = extra_regression.poisson_nll(rates, counts, full=True, reduction="none")
    for v, c, got in zip(rates, counts, loss, strict=True):
        y = x(c)
        stirling = (y + mpmath.mpf(0.5)) * mpmath.log(y) - y + mpmath.log(2 * mpmath.pi) / 2
        exact = mpmath.exp(x(v)) - y * x(v) + stirling
        assert_close(got, exact, max(mpmath.exp(x(v)), y * abs(x(v)), abs(stirling)), f"full loss at {c}")


def test_poisson_of_a_rate_keeps_its_digits_where_it_cancels():
    """lambda - y log(lambda + eps) and 1 - y/(lambda + eps) near lambda = y (the gradient) and near
    lambda = y log lambda (the loss, y near e), across the range, with ``full``; eps rounded to float32."""
    rng = np.random.default_rng(20)
    counts = np.float32(rng.uniform(1, 1e6, 40))
    rates = [counts * np.float32(1 + rng.uniform(-1e-5, 1e-5, 40))]
    e_counts = np.float32(np.e * (1 + rng.uniform(-1e-3, 1e-3, 40)))  # lambda = y log lambda at lambda = y = e
    rates.append(e_counts * np.float32(1 + rng.uniform(-1e-4, 1e-4, 40)))
    wide = np.float32(10.0 ** rng.uniform(-45, 38, (2, 40)))
    rate = np.concatenate([*rates, wide[0], [0.0, 1e-8, 1e37, 1e-3, 3e38]]).astype(np.float32)
    count = np.concatenate([counts, e_counts, wide[1], [3.0, 0.0, 1e37, 5.3e37, 3e38]]).astype(np.float32)
    eps = x(np.float32(1e-8))
    for full in (False, True):
        loss, grad = extra_regression.poisson_nll_and_grad(rate, count, log_input=False, full=full, reduction="none")
        assert loss.dtype == grad.dtype == np.float32
        for lam, c, got_loss, got_grad in zip(rate, count, loss, grad, strict=True):
            y, shifted = x(c), x(lam) + eps
            stirling = (y + mpmath.mpf(0.5)) * mpmath.log(y) - y + mpmath.log(2 * mpmath.pi) / 2 if full and y > 1 else 0
            exact_loss, exact_grad = x(lam) - y * mpmath.log(shifted) + stirling, 1 - y / shifted
            where = f"({lam}, {c}, full={full})"
            loss_scale = max(x(lam), abs(y * mpmath.log(shifted)), abs(stirling))
            assert_close(got_loss, exact_loss, loss_scale, "loss " + where)
            assert_close(got_grad, exact_grad, max(1, y / shifted), "grad " + where)
            if 2 * abs(exact_loss) >= loss_scale:
                assert_close(got_loss, exact_loss, where="loss " + where)
            if 2 * abs(exact_grad) >= max(1, y / shifted):
                assert_close(got_grad, exact_grad, where="grad " + where)


# ------------------------------------------------------------ Gaussian NLL


def gaussian_exact(pred, target, var, eps):
    v = max(x(var), x(np.float32(eps)))  # the clamp, at float32's eps
    r = x(pred) - x(target)
    loss = (mpmath.log(v) + r * r / v) / 2
    var_grad = (v - r * r) / (2 * v * v) if x(var) > x(eps) else mpmath.mpf(0)
    return loss, r / v, var_grad, max(abs(mpmath.log(v)), r * r / v) / 2, max(v, r * r) / (2 * v * v)


def check_gaussian(pred, target, var, eps=1e-6, cancelling=False):
    pred, target, var = (np.array(a, np.float32) for a in (pred, target, var))
    loss, (pred_grad, var_grad) = extra_regression.gaussian_nll_and_grad(pred, target, var, eps=eps,
                                                                          reduction="none")
    for i in range(pred.size):
        exact_loss, exact_pred, exact_var, loss_scale, var_scale = gaussian_exact(pred[i], target[i], var[i], eps)
        where = f"({pred[i]}, {target[i]}, {var[i]})"
        assert_close(loss[i], exact_loss, loss_scale if cancelling else None, "loss " + where)
        assert_close(pred_grad[i], exact_pred, None, "dpred " + where)
        assert_close(var_grad[i], exact_var, var_scale if cancelling else None, "dvar " + where)


def test_gaussian_in_float32_overflows_only_where_the_exact_loss_does():
    # r = 4e38 (itself past float32 max) and v = 2.42e38: the loss is 3.3e38, r (r/v) is 6.6e38;
    # r = 2.57e19, v = 1: r^2 is past max, the loss is 3.3e38; v = 0.97: the loss is just past max
    pred = [2e38, 2e38, 2.57e19, 2.57e19, 2.6e19, 3e38, 1.8e19, -1e38]
    target = [-2e38, -2e38, 0.0, 0.0, 0.0, -3e38, 0.0, 1e38]
    var = [2.42e38, 2.3e38, 1.0, 0.97, 0.97, 3.4e38, 1e-6, 1e38]
    check_gaussian(pred, target, var)
    loss = extra_regression.gaussian_nll(np.float32(pred), np.float32(target), np.float32(var), reduction="none")
    assert np.isfinite(loss[[0, 2]]).all() and loss[0] > 3.2e38 and loss[2] > 3.2e38
    assert np.isinf(loss[[4, 5, 6]]).all()


def test_gaussian_near_its_optimum_keeps_the_digits_of_the_cancelling_terms():
    # log v = -r^2/v (the loss near 0) and r^2 = v (dvar near 0), for v from 1e-4 to 0.99
    rng = np.random.default_rng(17)
    var = np.float32(np.exp(rng.uniform(np.log(1e-4), np.log(0.99), 60)))
    r_loss = np.sqrt(-var.astype(np.float64) * np.log(var.astype(np.float64))) * (1 + rng.uniform(-1e-6, 1e-6, 60))
    r_var = np.sqrt(var.astype(np.float64)) * (1 + rng.uniform(-1e-6, 1e-6, 60))
    target = np.float32(rng.uniform(-3, 3, 120))
    pred = target + np.float32(np.concatenate([r_loss, r_var]))
    check_gaussian(pred, target, np.concatenate([var, var]), cancelling=True)


def test_gaussian_across_the_float32_range():
    rng = np.random.default_rng(18)
    magnitudes = np.float32(10.0 ** rng.uniform(-44, 38, (3, 80)))
    signs = rng.choice([-1.0, 1.0], (2, 80))
    pred, target = np.float32(magnitudes[0] * signs[0]), np.float32(magnitudes[1] * signs[1])
    # the clamp at a tiny eps, v = 1 (r^2/2 alone, subnormal for tiny r) and v near 1 (log v near 0)
    var = np.concatenate([magnitudes[2, :60], [1.0] * 10, np.float32(1 + rng.uniform(-0.2, 0.2, 10))])
    check_gaussian(pred, target, var, eps=1e-37)
    check_gaussian(pred, target, var)
    tiny = np.float32([1e-20, 3e-23, 1e-25, 0.0])  # r^2/2 below the normal range: one subnormal step
    check_gaussian(tiny, np.zeros(4), np.ones(4))


def test_gaussian_full_and_infinite_inputs_follow_the_formula():
    loss = extra_regression.gaussian_nll(np.float32([0.5, np.inf, 1.0]), np.float32([0.0, 1.0, 0.0]),
                                         np.float32([0.3, 1.0, np.inf]), full=True, reduction="none")
    exact = (mpmath.log(x(np.float32(0.3))) + mpmath.mpf(0.25) / x(np.float32(0.3)) + mpmath.log(2 * mpmath.pi)) / 2
    assert_close(loss[0], exact)
    assert np.isinf(loss[1]) and np.isinf(loss[2])


def test_the_double_word_logarithm_is_good_to_2_to_the_minus_28():
    rng = np.random.default_rng(19)
    v = np.concatenate([np.float32(10.0 ** rng.uniform(-45, 38, 300)), np.float32(1 + rng.uniform(-0.3, 0.3, 300)),
                        np.float32([1.0, 1 - 2.0**-24, 1 + 2.0**-23, 0.875, 1.125, 1.1250001, 0.8749999])])
    hi, lo = extra_regression._log_double_word(v)
    for value, head, tail in zip(v, hi, lo, strict=True):
        exact = mpmath.log(x(value))
        if exact == 0:
            assert head == 0 and tail == 0
            continue
        assert abs((x(head) + x(tail)) / exact - 1) < mpmath.mpf(2) ** -28, value
