"""losslab._double_word's logarithm: ``log``, ``log1p`` and ``log_pair`` against mpmath, to the relative
accuracy a large power needs (``(1 - p)^gamma = e^(gamma log(1 - p))`` with ``gamma |log(1 - p)|`` up to
about 745: ``2^-66`` keeps that exponential within 0.1 ulp; float32: ``2^-37`` for about 104)."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from losslab import _double_word as dw

# (dtype, bits): the relative error allowed, 2^-bits
CASES = [(np.float64, 67), (np.float32, 38)]


def _exact(values):
    return sum((mpmath.mpf(float(v)) for v in values), mpmath.mpf(0))


def _worst_bits(got_hi, got_lo, exact_values):
    """The worst relative error of ``got_hi + got_lo`` as a power of two (``-inf`` if all exact)."""
    worst = mpmath.mpf(0)
    for hi, lo, exact in zip(got_hi, got_lo, exact_values, strict=True):
        got = mpmath.mpf(float(hi)) + mpmath.mpf(float(lo))
        if exact == 0:
            assert got == 0
            continue
        worst = max(worst, abs(got / exact - 1))
    return float(mpmath.log(worst, 2)) if worst else -np.inf


def _low_parts(rng, x, dtype):
    """A low part of up to half an ulp of each value, so ``(x, low)`` is a normalized double word."""
    return (x * rng.uniform(-0.5, 0.5, x.size) * np.finfo(dtype).eps).astype(dtype)


def _assert_within_bits(function, reference, high, low, dtype, bits):
    """``function`` of the double words ``high + low`` within 2^-bits relative of mpmath's ``reference``."""
    hi, lo = function(high, low)
    assert hi.dtype == lo.dtype == dtype
    with mpmath.workprec(300):
        exact = [reference(_exact(pair)) for pair in zip(high, low, strict=True)]
        assert _worst_bits(hi, lo, exact) < -bits


@pytest.mark.parametrize("dtype, bits", CASES)
def test_log_of_a_double_word_is_right_to_about_twice_the_precision(dtype, bits):
    rng = np.random.default_rng(11)
    info = np.finfo(dtype)
    top = np.log(float(info.max)) - 1
    x = np.concatenate([np.exp(rng.uniform(-top, top, 150)), 1 + rng.uniform(-0.5, 0.5, 100),
                        1 + 10.0 ** rng.uniform(-7, -1, 30), 1 - 10.0 ** rng.uniform(-7, -1, 30),
                        np.sqrt(0.5) * (1 + rng.uniform(-1e-6, 1e-6, 10)), np.sqrt(2) * (1 + rng.uniform(-1e-6, 1e-6, 10)),
                        [float(info.tiny), float(info.max), 1.0, 2.0, 0.5, 3.0, 1 + float(info.eps)]]).astype(dtype)
    low = _low_parts(rng, x, dtype)
    low[-7:] = [0, 0, 0, 0, 0, 0, -float(info.eps) / 4]
    _assert_within_bits(dw.log, mpmath.log, x, low, dtype, bits)


@pytest.mark.parametrize("dtype, bits", CASES)
def test_log1p_keeps_its_relative_accuracy_for_tiny_and_huge_arguments(dtype, bits):
    rng = np.random.default_rng(12)
    info = np.finfo(dtype)
    magnitudes = 10.0 ** rng.uniform(np.log10(float(info.tiny)), np.log10(float(info.max)) - 1, 200)
    v = np.concatenate([magnitudes, -10.0 ** rng.uniform(np.log10(float(info.tiny)), -0.01, 100),
                        rng.uniform(-0.9, 1.0, 60), [0.0, float(info.smallest_subnormal), -float(info.epsneg),
                                                    float(info.eps), 1.0, -0.5]]).astype(dtype)
    _assert_within_bits(dw.log1p, mpmath.log1p, v, _low_parts(rng, v, dtype), dtype, bits)


@pytest.mark.parametrize("dtype, bits", CASES)
def test_log1p_near_minus_one_from_a_double_word_with_a_large_low_part(dtype, bits):
    # v = -1 + d with d far below an ulp of 1: the double word (-1, d) holds it, and 1 + v = d exactly
    d = np.array([1e-30, 3e-200, 2.0**-80, 1e-300, 5e-324] if dtype == np.float64 else [1e-20, 2.0**-40, 1e-38, 1e-45])
    d = d.astype(dtype)
    hi, lo = dw.log1p(np.full(d.shape, -1, dtype), d)
    with mpmath.workprec(300):
        assert _worst_bits(hi, lo, [mpmath.log(mpmath.mpf(float(di))) for di in d]) < -bits


@pytest.mark.parametrize("dtype, bits", CASES)
def test_log_pair_uses_x_minus_one_near_one_and_x_away_from_it(dtype, bits):
    # x near 1 given only as a rounded float, with the exact x - 1 beside it (1 - q for a tiny q): the
    # logarithm follows x - 1; away from 1 (x = q) it follows x, whatever the second word says
    q = np.array([1e-17, 3e-10, 1e-3, 0.2, 0.3] if dtype == np.float64 else [1e-9, 3e-5, 1e-3, 0.2, 0.3], dtype)
    x_hi, x_lo = dw.two_sum(np.ones_like(q), -q)
    hi, lo = dw.log_pair(x_hi, x_lo, -q, np.zeros_like(q))
    with mpmath.workprec(300):
        assert _worst_bits(hi, lo, [mpmath.log1p(-mpmath.mpf(float(qi))) for qi in q]) < -bits
    x = np.array([1e-300, 1e-20, 0.25, 0.6] if dtype == np.float64 else [1e-30, 1e-20, 0.25, 0.6], dtype)
    hi, lo = dw.log_pair(x, np.zeros_like(x), x - 1, np.zeros_like(x))  # x - 1 rounded: not used here
    with mpmath.workprec(300):
        assert _worst_bits(hi, lo, [mpmath.log(mpmath.mpf(float(xi))) for xi in x]) < -bits


def test_log_is_exactly_zero_at_one_and_finite_without_warnings_at_the_ends():
    for dtype in (np.float64, np.float32):
        info = np.finfo(dtype)
        x = np.array([1.0, float(info.smallest_subnormal), float(info.max)], dtype)
        hi, lo = dw.log(x, np.zeros_like(x))
        assert hi[0] == 0 and lo[0] == 0
        assert np.isfinite(hi).all() and np.isfinite(lo).all()
        np.testing.assert_allclose(hi[1:], [np.log(float(info.smallest_subnormal)), np.log(float(info.max))], rtol=1e-6)
