"""losslab._double_word: the error-free transformations are exact, checked with Python's Fraction."""

from fractions import Fraction

import mpmath
import numpy as np
import pytest

from losslab import _double_word as dw

DTYPES = [np.float64, np.float32]


def random_floats(rng, dtype, n=400, low=-60, high=60):
    """Signed floats spread over many binades, with a few exact ties and zeros."""
    values = rng.standard_normal(n) * 2.0 ** rng.integers(low, high, n)
    values[:5] = 0.0
    return values.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_two_sum_is_exact(dtype):
    rng = np.random.default_rng(1)
    a, b = random_floats(rng, dtype), random_floats(rng, dtype)
    s, e = dw.two_sum(a, b)
    assert s.dtype == e.dtype == dtype
    for ai, bi, si, ei in zip(a, b, s, e, strict=True):
        assert Fraction(float(si)) + Fraction(float(ei)) == Fraction(float(ai)) + Fraction(float(bi))
        assert si == dtype(ai + bi)


@pytest.mark.parametrize("dtype", DTYPES)
def test_two_product_and_square_are_exact_also_near_the_top_of_the_range(dtype):
    rng = np.random.default_rng(2)
    a, b = random_floats(rng, dtype, low=-20, high=20), random_floats(rng, dtype, low=-20, high=20)
    big = np.finfo(dtype).max / 4
    a[-3:] = [big, -big / 3, big / 7]
    b[-3:] = [0.25, 1.5, -2.0]
    p, e = dw.two_product(a, b)
    q, f = dw.square(a[:-3])
    assert p.dtype == e.dtype == q.dtype == dtype
    for ai, bi, pi, ei in zip(a, b, p, e, strict=True):
        assert Fraction(float(pi)) + Fraction(float(ei)) == Fraction(float(ai)) * Fraction(float(bi))
    for ai, qi, fi in zip(a[:-3], q, f, strict=True):
        assert Fraction(float(qi)) + Fraction(float(fi)) == Fraction(float(ai)) ** 2


def relative_error(hi, lo, exact: Fraction) -> float:
    return abs(float((Fraction(float(hi)) + Fraction(float(lo)) - exact) / exact)) if exact else abs(float(hi))


@pytest.mark.parametrize("dtype", DTYPES)
def test_double_word_operations_keep_about_twice_the_working_precision(dtype):
    rng = np.random.default_rng(3)
    u = float(np.finfo(dtype).eps) / 2
    xh, yh = random_floats(rng, dtype, n=200, low=-10, high=10), random_floats(rng, dtype, n=200, low=-10, high=10)
    xl = (xh * rng.uniform(-u, u, 200)).astype(dtype)
    yl = (yh * rng.uniform(-u, u, 200)).astype(dtype)
    ys = np.where(yh == 0, dtype(1.5), yh)
    for i in range(200):
        x = Fraction(float(xh[i])) + Fraction(float(xl[i]))
        y = Fraction(float(yh[i])) + Fraction(float(yl[i]))
        h, lo = dw.multiply(xh[i:i + 1], xl[i:i + 1], yh[i:i + 1], yl[i:i + 1])
        assert relative_error(h[0], lo[0], x * y) <= 16 * u * u
        h, lo = dw.divide(xh[i:i + 1], xl[i:i + 1], ys[i:i + 1])
        assert relative_error(h[0], lo[0], x / Fraction(float(ys[i]))) <= 16 * u * u
        h, lo = dw.add(xh[i:i + 1], xl[i:i + 1], yh[i:i + 1], yl[i:i + 1])
        # an absolute bound: the sum can cancel
        assert abs(Fraction(float(h[0])) + Fraction(float(lo[0])) - (x + y)) <= 8 * u * u * (abs(x) + abs(y))
        if x > 0:
            h, lo = dw.sqrt(xh[i:i + 1], xl[i:i + 1])
            got = Fraction(float(h[0])) + Fraction(float(lo[0]))
            assert abs(float(got * got / x - 1)) <= 16 * u * u


@pytest.mark.parametrize("dtype", DTYPES)
def test_total_and_dot_are_as_if_in_twice_the_precision(dtype):
    rng = np.random.default_rng(4)
    u = float(np.finfo(dtype).eps) / 2
    a = random_floats(rng, dtype, n=3 * 64, low=-30, high=30).reshape(3, 64)
    b = random_floats(rng, dtype, n=3 * 64, low=-30, high=30).reshape(3, 64)
    a[0, 1] = -a[0, 0]  # exact cancellation inside a row
    s_hi, s_lo = dw.total(a, axis=-1)
    d_hi, d_lo = dw.dot(a.T, b.T, axis=0)
    for row in range(3):
        exact_sum = sum(Fraction(float(v)) for v in a[row])
        magnitude = sum(abs(Fraction(float(v))) for v in a[row])
        assert abs(Fraction(float(s_hi[row])) + Fraction(float(s_lo[row])) - exact_sum) <= 70 * u * u * magnitude
        exact_dot = sum(Fraction(float(x)) * Fraction(float(y)) for x, y in zip(a[row], b[row], strict=True))
        dot_magnitude = sum(abs(Fraction(float(x)) * Fraction(float(y))) for x, y in zip(a[row], b[row], strict=True))
        assert abs(Fraction(float(d_hi[row])) + Fraction(float(d_lo[row])) - exact_dot) <= 70 * u * u * dot_magnitude
    assert s_hi.dtype == d_hi.dtype == dtype


def test_naive_sum_would_fail_the_same_bound():
    """The bound above is tight enough to tell double-word sums from plain ones."""
    a = np.array([1.0, 1e-17, -1.0, 1e-17])
    s_hi, s_lo = dw.total(a)
    assert float(s_hi) + float(s_lo) == pytest.approx(2e-17, rel=1e-15, abs=0)
    running = 0.0
    for value in a:  # the same order, one rounding per step
        running += float(value)
    assert running != pytest.approx(2e-17, rel=1e-3, abs=0)


def test_the_unchecked_float64_forms_are_exact_in_their_range_and_equal_the_checked_ones():
    rng = np.random.default_rng(5)
    a, b = random_floats(rng, np.float64, low=-200, high=200), random_floats(rng, np.float64, low=-200, high=200)
    high, low = dw.split_unchecked(a)
    assert np.array_equal(high + low, a) and np.array_equal(high, dw._split(a)[0])
    p, e = dw.two_product_unchecked(a, b)
    q, f = dw.square_unchecked(a)
    assert np.array_equal(p, dw.two_product(a, b)[0]) and np.array_equal(e, dw.two_product(a, b)[1])
    assert np.array_equal(q, dw.square(a)[0]) and np.array_equal(f, dw.square(a)[1])
    for ai, bi, pi, ei in zip(a, b, p, e, strict=True):
        assert Fraction(float(pi)) + Fraction(float(ei)) == Fraction(float(ai)) * Fraction(float(bi))


@pytest.mark.parametrize(("function", "dtype", "bound"), [
    (dw.exp_scaled, np.float64, 2.0**-62), (dw.exp_scaled, np.float32, 2.0**-29),
    (dw.exp_double_word, np.float64, 2.0**-68), (dw.exp_double_word, np.float32, 2.0**-34),
], ids=["exp_scaled-float64", "exp_scaled-float32", "exp_double_word-float64", "exp_double_word-float32"])
def test_scaled_exponentials_are_good_to_their_stated_bounds_with_a_low_part(function, dtype, bound):
    """e^(x + x_low) = (hi + lo) 2^q against mpmath (the binary losses' e^-|z| take exp_scaled, ListNet's
    softmax weights exp_double_word: 2^-62.5 and 2^-68.7 measured, 2^-30.1 and 2^-34.7 in float32); past
    the float range the bound clips x, and 2^q sends the result to 0 or inf."""
    rng = np.random.default_rng(65)
    limit = 700 if dtype == np.float64 else 87
    x = np.concatenate([rng.uniform(-limit, limit, 300), rng.uniform(-1, 1, 100),
                        [0.0, -1e-300, 1e-300, -0.0108]]).astype(dtype)
    x_low = (x * np.finfo(dtype).eps / 4 * rng.uniform(-1, 1, x.size)).astype(dtype)  # a difference's error
    hi, lo, power = function(x, x_low)
    assert hi.dtype == lo.dtype == dtype and power.dtype == np.int32
    with mpmath.workprec(200):
        for v, v_low, head, tail, q in zip(x, x_low, hi, lo, power, strict=True):
            exact = mpmath.exp(mpmath.mpf(float(v)) + mpmath.mpf(float(v_low)))
            got = (mpmath.mpf(float(head)) + mpmath.mpf(float(tail))) * mpmath.mpf(2) ** int(q)
            assert abs(got / exact - 1) < bound, (v, v_low)
            assert 0.99 < head < 2.01  # about [1, 2): the table's 2^(k/N) times e^r, |r| <= ln2/2N
    far = np.array([-1e4, -3e38, 1e4, 3e38], dtype)
    hi, lo, power = function(far, np.zeros(4, dtype))
    with np.errstate(over="ignore", under="ignore"):
        assert np.ldexp(hi, power).tolist() == [0.0, 0.0, np.inf, np.inf]


@pytest.mark.parametrize("function", [dw.exp_scaled, dw.exp_double_word])
@pytest.mark.parametrize("dtype", DTYPES)
def test_scaled_exponentials_of_a_scalar_are_those_of_a_one_element_array(function, dtype):
    """A 0-d argument (with or without a low part) gives 0-d results, the same bits as the array form."""
    x, x_low = dtype(-3.7), dtype(1e-8 * np.finfo(dtype).eps)
    for low in (None, x_low):
        scalar = function(x, low)
        array = function(np.array([x]), None if low is None else np.array([low]))
        for one, other in zip(scalar, array, strict=True):
            assert np.ndim(one) == 0 and np.asarray(one).dtype == other.dtype
            assert np.asarray(one).tobytes() == other[0].tobytes()
    with mpmath.workprec(100):
        hi, lo, q = function(x)
        exact = mpmath.exp(mpmath.mpf(float(x)))
        assert abs((mpmath.mpf(float(hi)) + mpmath.mpf(float(lo))) * mpmath.mpf(2) ** int(q) / exact - 1) < 2.0**-29
