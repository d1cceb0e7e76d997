"""losslab.precision: naive and stable forms, their exact references, and where each breaks.

Expected breakpoints come from closed forms (float max and min, powers of two), and every
claim a breakpoint makes (this float fails, its neighbour works) is checked here against a
50-digit mpmath reference with a fresh one-sample call of the form, never against the
module's own reference or error code.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

from losslab import activations, precision

mpmath.mp.dps = 50
DTYPES = ("float32", "float64")
PAIR_KEYS = tuple(precision.PAIRS)
LN2 = mpmath.log(2)
DEFAULT_GRID = precision.magnitude_grid(1e-3, 1e4)


def log_max(dtype) -> mpmath.mpf:
    return mpmath.log(mpmath.mpf(float(np.finfo(dtype).max)))


def ulps(dtype, near: float, count: int = 3) -> float:
    return count * float(np.spacing(np.asarray(abs(near), dtype)))


def mp_exact(pair: str, z, dtype) -> mpmath.mpf:
    """The pair's exact value at the float ``z`` of ``dtype``, in 50 digits, written from the definitions."""
    z = np.asarray(z, dtype)
    x = mpmath.mpf(float(z))
    if pair == "log_sigmoid":
        return -mpmath.log1p(mpmath.exp(-x))
    if pair == "bce":
        return mpmath.log1p(mpmath.exp(-x))
    if pair == "softmax":  # the logits z - 1 and z - 2 as the dtype rounds them
        z1, z2 = (mpmath.mpf(float(z - np.asarray(k, dtype))) for k in (1, 2))
        return 1 / (1 + mpmath.exp(z1 - x) + mpmath.exp(z2 - x))
    if pair == "log_cosh":
        return mpmath.log(mpmath.cosh(x))
    if pair == "cross_entropy":
        return mpmath.log1p(2 * mpmath.exp(-x))
    raise AssertionError(pair)


def mp_of_longdouble(value) -> mpmath.mpf:
    """A longdouble's exact value: split its 64-bit significand into two float64 parts."""
    mantissa, exponent = np.frexp(np.longdouble(value))
    high = np.float64(mantissa)
    low = np.float64(mantissa - np.longdouble(high))
    return (mpmath.mpf(float(high)) + mpmath.mpf(float(low))) * mpmath.mpf(2) ** int(exponent)


def single(pair: str, form: str, z, dtype) -> float:
    """The form at one z, called alone (a batch of one)."""
    return precision.get(pair).form(form).function(np.array([z], dtype))[0]


def fails_at(pair: str, form: str, kind: str, z, dtype) -> bool:
    value = single(pair, form, z, dtype)
    if not np.isfinite(value):
        return True
    exact = mp_exact(pair, z, dtype)
    if kind == "nonfinite":
        return value == 0 and exact != 0
    return abs(mpmath.mpf(float(value)) - exact) / abs(exact) > mpmath.mpf(precision.THRESHOLD)


def only(found, **fields) -> precision.Breakpoint:
    matches = [b for b in found if all(getattr(b, k) == v for k, v in fields.items())]
    assert len(matches) == 1, f"expected one breakpoint with {fields}, got {matches}"
    return matches[0]


def found_for(pair: str, form: str, dtype: str, grid=DEFAULT_GRID):
    return precision.breakpoints(pair, form, dtype, grid)


# ---------------------------------------------------------------- forms and references


@pytest.mark.parametrize("pair", PAIR_KEYS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_form_computes_in_its_input_dtype_without_warnings(pair, dtype):
    z = precision.signed_grid(precision.magnitude_grid(1e-10, 1e4, 5).astype(dtype))
    for form in precision.get(pair).forms:
        values = form.function(z)  # a RuntimeWarning would fail the test (pyproject: error::RuntimeWarning)
        assert values.dtype == np.dtype(dtype), f"{form.label}: {values.dtype}"
        assert values.shape == z.shape


def test_the_chapters_softmax_example():
    z = np.array([1000.0])
    assert np.isnan(precision.softmax_first_naive(z)[0])
    assert precision.softmax_first(z)[0] == pytest.approx(0.66524096, abs=5e-9)


@pytest.mark.skipif(not precision.EXTENDED, reason="np.longdouble is float64 on this platform")
@pytest.mark.parametrize("pair", PAIR_KEYS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_exact_references_agree_with_mpmath_to_extended_precision(pair, dtype):
    z = precision.signed_grid(precision.magnitude_grid(1e-10, 1e4, 4).astype(dtype))
    exact = precision.get(pair).exact(z)
    assert exact.dtype == np.longdouble
    worst = max(abs(mp_of_longdouble(e) - mp_exact(pair, x, dtype)) / abs(mp_exact(pair, x, dtype))
                for x, e in zip(z, exact, strict=True))
    # 64-bit significand: half an ulp is 5.4e-20; a few roundings in exp, log1p and sums
    assert worst < 1e-18, f"{pair} {dtype}: worst relative error of the reference {float(worst):.3g}"


def test_relative_error_is_measured_against_the_exact_value():
    exact = np.array([1.0, 2.0, -4.0, 1.0, 1.0, 1.0, 0.0, 0.0], np.longdouble)
    values = np.array([1.5, 2.0, -3.0, np.inf, np.nan, 1e200, 0.0, 1.0])
    errors = precision.relative_error(values, exact)
    assert errors.dtype == np.float64
    assert errors.tolist() == [0.5, 0.0, 0.25, math.inf, math.inf, pytest.approx(1e200), 0.0,
                               precision.LARGEST_ERROR]


def test_relative_error_keeps_digits_that_float64_would_lose():
    # 1 + 2^-60 is a longdouble but not a float64: the error of the float64 1.0 is 2^-60, not 0
    exact = np.longdouble(1) + np.longdouble(2.0) ** -60
    error = precision.relative_error(np.array([1.0]), np.array([exact]))[0]
    assert error == pytest.approx(2.0 ** -60, rel=1e-3)


def test_relative_errors_beyond_every_float_are_capped():
    exact = np.array([np.longdouble(10) ** -400])
    assert precision.relative_error(np.array([1.0]), exact)[0] == precision.LARGEST_ERROR


def test_magnitude_grid_is_even_in_log_and_includes_both_ends():
    grid = precision.magnitude_grid(1e-3, 1e4, 60)
    assert grid.size == 7 * 60 + 1
    assert grid[0] == pytest.approx(1e-3, rel=1e-15) and grid[-1] == pytest.approx(1e4, rel=1e-15)
    np.testing.assert_allclose(np.diff(np.log10(grid)), 1 / 60, rtol=1e-9)


@pytest.mark.parametrize(("low", "high", "per_decade"), [(0, 1, 60), (1, 1, 60), (2, 1, 60), (1e-3, math.inf, 60),
                                                         (1e-3, 10, 0)])
def test_magnitude_grid_names_a_bad_range(low, high, per_decade):
    with pytest.raises(ValueError, match=r"z_min|per_decade"):
        precision.magnitude_grid(low, high, per_decade)


def test_unknown_pair_form_and_dtype_are_named():
    with pytest.raises(ValueError, match=r"'sigmoid'.*log_sigmoid"):
        precision.get("sigmoid")
    with pytest.raises(ValueError, match="'clever'"):
        precision.get("bce").form("clever")
    with pytest.raises(ValueError, match="'float16'"):
        precision.dtype_of("float16")
    with pytest.raises(ValueError, match="'huge'"):
        precision.fails("huge", np.ones(1), np.ones(1))


# ---------------------------------------------------------------- one sample at a time


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_per_row_path_split_is_losslabs_own_rule(dtype):
    info = np.finfo(dtype)
    edges = [float(np.log(info.tiny)), float(np.log(info.max)), -float(np.log(info.max))]
    z = np.array([e + d for e in edges for d in np.linspace(-4, 4, 161)] + [0.0, -5e3, 5e3, 1e30, -1e30], dtype)
    for logits_of in (precision.chapter_logits, precision.one_against_two_logits):
        low, high = precision._unshifted_interval(logits_of, np.dtype(dtype))
        ends = np.array([low, high], dtype)
        points = np.concatenate([z, ends, np.nextafter(ends, np.array([-np.inf, np.inf], dtype))])  # both sides
        expected = [activations._exp_stays_normal(logits_of(np.asarray(v, dtype)), 3) for v in points]
        assert precision.takes_unshifted_path(points, logits_of).tolist() == expected
        assert any(expected) and not all(expected)


@pytest.mark.parametrize("pair", ["softmax", "cross_entropy"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_a_value_does_not_depend_on_the_other_z_in_the_batch(pair, dtype):
    """losslab's softmax picks a path per call; the forms give each z what a call with it alone gives."""
    info = np.finfo(dtype)
    edge = float(np.log(info.max) - np.log(3) - 1)
    z = np.array([*np.linspace(edge - 30, edge + 2, 200), -2e3, 9.3, 10.39, 31.6, 1e4], dtype)
    for form in precision.get(pair).forms:
        batch = form.function(z)
        alone = [form.function(z[i : i + 1])[0] for i in range(z.size)]
        np.testing.assert_array_equal(batch, np.array(alone, dtype), err_msg=form.label)


# ---------------------------------------------------------------- breakpoints at closed forms


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_then_log_is_minus_inf_where_exp_minus_z_overflows(dtype):
    found = only(found_for("log_sigmoid", "naive", dtype), side=-1, kind="nonfinite")
    threshold = -float(log_max(dtype))  # exp(-z) > float max: sigma = 0, log = -inf
    assert found.value == -math.inf and found.edge == "outer"
    assert found.z < threshold <= found.last_good_z + ulps(dtype, threshold, 1)
    assert abs(found.z - threshold) <= ulps(dtype, threshold)
    with np.errstate(over="ignore"):
        assert np.isinf(np.exp(-np.asarray(found.z, dtype)))
    assert not found.unavoidable  # log sigma(z) is about z there, an ordinary number


@pytest.mark.parametrize(("dtype", "bits"), [("float32", 24), ("float64", 53)])
def test_sigmoid_then_log_is_zero_where_sigma_rounds_to_one(dtype, bits):
    found = only(found_for("log_sigmoid", "naive", dtype), side=1, kind="nonfinite")
    threshold = float(bits * LN2)  # 1 + e^-z rounds to 1 once e^-z <= 2^-bits
    assert found.value == 0 and found.edge == "outer"
    assert abs(found.z - threshold) <= ulps(dtype, threshold)
    assert not found.unavoidable


@pytest.mark.parametrize(("dtype", "bits"), [("float32", 24), ("float64", 53)])
def test_sigmoid_then_log_loses_three_digits_where_the_rounding_of_sigma_reaches_1e3_of_the_tail(dtype, bits):
    found = only(found_for("log_sigmoid", "naive", dtype), side=1, kind="inaccurate")
    # sigma(z) = 1 - e^-z is rounded to a multiple of 2^-bits (half that in error): the log's relative error
    # is up to 2^-(bits+1) / e^-z, so it passes 1e-3 near e^-z = 2^-(bits+1) / 1e-3, and before sigma reaches 1
    loose = float(-mpmath.log(mpmath.mpf(2) ** -(bits + 1) / precision.THRESHOLD))
    assert loose - 1.0 < found.z < float(bits * LN2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_naive_log_cosh_overflows_where_cosh_does(dtype):
    threshold = float(log_max(dtype) + LN2)  # cosh z = e^z / 2 (1 + e^-2z) > float max
    for side in (-1, 1):
        found = only(found_for("log_cosh", "naive", dtype), side=side, kind="nonfinite")
        assert found.value == math.inf and found.edge == "outer"
        assert abs(found.z - side * threshold) <= ulps(dtype, threshold)


@pytest.mark.parametrize(("dtype", "bits", "grid"), [
    ("float32", 24, precision.magnitude_grid(1e-5, 10)),
    ("float64", 53, precision.magnitude_grid(1e-10, 10)),
])
def test_naive_log_cosh_is_zero_near_zero_where_cosh_rounds_to_one(dtype, bits, grid):
    found = only(found_for("log_cosh", "naive", dtype, grid), side=1, kind="nonfinite")
    assert found.value == 0 and found.edge == "inner"
    assert found.last_good_z > found.z
    # cosh z = 1 + z^2/2 rounds to 1 once z^2/2 is at most half an ulp of 1 (2^-bits); NumPy's cosh is
    # accurate to an ulp or so (SIMD code on some CPUs), which moves the point by less than a factor 2
    half_ulp = 2.0 ** -bits
    assert half_ulp / 2 <= found.z**2 / 2 <= 4 * half_ulp
    assert np.cosh(np.asarray(found.z, dtype)) == 1 and np.cosh(np.asarray(found.last_good_z, dtype)) > 1


@pytest.mark.parametrize("dtype", DTYPES)
def test_naive_softmax_is_zero_where_the_sum_of_exponentials_overflows(dtype):
    found = only(found_for("softmax", "naive", dtype), side=1, kind="nonfinite")
    # e^z (1 + e^-1 + e^-2) > float max, while e^z alone is still finite: p0 = finite / inf = 0
    threshold = float(log_max(dtype) - mpmath.log(1 + mpmath.exp(-1) + mpmath.exp(-2)))
    assert found.value == 0
    assert abs(found.z - threshold) <= ulps(dtype, threshold, 4)
    assert found.last_good_value == pytest.approx(0.6652409557748219, rel=1e-6)


@pytest.mark.parametrize(("dtype", "exponent"), [("float32", 150), ("float64", 1075)])
def test_naive_softmax_is_nan_where_every_exponential_underflows(dtype, exponent):
    found = only(found_for("softmax", "naive", dtype), side=-1, kind="nonfinite")
    threshold = float(-exponent * LN2)  # e^z < half the smallest subnormal: 0 / 0
    assert math.isnan(found.value)
    assert abs(found.z - threshold) <= ulps(dtype, threshold)
    # just before, e^(z-1) and e^(z-2) have underflowed first and p0 has drifted up to 1
    assert found.last_good_value == 1


@pytest.mark.parametrize(("dtype", "exponent", "bits"), [("float32", 149, 25), ("float64", 1074, 54)])
def test_cross_entropy_from_probabilities_is_inf_and_zero_where_p0_underflows_and_rounds_to_one(dtype, exponent,
                                                                                                 bits):
    found = found_for("cross_entropy", "naive", dtype)
    wrong = only(found, side=-1, kind="nonfinite")
    # p0 = e^z / (e^z + 2) < half the smallest subnormal: log 0
    assert wrong.value == math.inf
    assert wrong.z == pytest.approx(float(-exponent * LN2), rel=1e-6)
    right = only(found, side=1, kind="nonfinite")
    # e^z + 2 can round to e^z only once 2 is half an ulp of e^z (e^z >= 2^bits): p0 = 1, log 1 = 0.
    # Past that, ties to even decide, float by float: the first failing float may lie a few further out.
    assert right.value == 0
    threshold = float(bits * LN2)
    assert threshold - ulps(dtype, threshold) <= right.z <= threshold * (1 + 5e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_from_probabilities_is_capped_by_the_chapters_clip(dtype):
    found = only(found_for("bce", "naive", dtype), side=-1, kind="inaccurate")
    cap = -mpmath.log(mpmath.mpf(float(np.asarray(1e-12, dtype))))  # -log eps: 27.63
    # the capped value is 1e-3 below the true softplus(-z) where softplus(-z) = cap / (1 - 1e-3)
    threshold = float(-mpmath.log(mpmath.exp(cap / (1 - mpmath.mpf(precision.THRESHOLD))) - 1))
    assert found.value == pytest.approx(float(cap), rel=1e-6)
    assert found.z == pytest.approx(threshold, rel=1e-5)
    assert not any(b.kind == "nonfinite" for b in found_for("bce", "naive", dtype))  # the clip hides every inf


def test_stable_log_sigmoid_returns_zero_only_where_float64_cannot_hold_the_answer():
    found = only(found_for("log_sigmoid", "stable", "float64"), side=1, kind="nonfinite")
    assert found.unavoidable
    assert abs(mp_exact("log_sigmoid", found.z, np.float64)) <= mpmath.mpf(2) ** -1075  # rounds to 0
    assert found.z == pytest.approx(float(1075 * LN2), rel=1e-9)


# ---------------------------------------------------------------- every breakpoint's claim


ALL_BREAKPOINTS = [
    b
    for pair in PAIR_KEYS
    for dtype in DTYPES
    for form in ("naive", "stable")
    for b in precision.breakpoints(pair, form, dtype, DEFAULT_GRID)
]


@pytest.mark.parametrize("found", ALL_BREAKPOINTS, ids=lambda b: f"{b.pair}-{b.form}-{b.dtype}-{b.side}-{b.kind}")
def test_every_breakpoint_straddles_the_failure_to_the_float(found):
    dtype = np.dtype(found.dtype)
    assert found.edge in ("outer", "inner")  # every form works somewhere in the default range
    toward_good = math.copysign(math.inf, found.last_good_z - found.z)
    assert np.nextafter(np.asarray(found.z, dtype), dtype.type(toward_good)) == found.last_good_z
    assert fails_at(found.pair, found.form, found.kind, found.z, dtype)
    assert not fails_at(found.pair, found.form, found.kind, found.last_good_z, dtype)
    assert found.value == pytest.approx(single(found.pair, found.form, found.z, dtype), nan_ok=True)
    exact_rounded = float(np.asarray(float(mp_exact(found.pair, found.z, dtype)), dtype))
    beyond = (not math.isfinite(exact_rounded) or exact_rounded == 0
              or abs(mpmath.mpf(exact_rounded) / mp_exact(found.pair, found.z, dtype) - 1) > precision.THRESHOLD)
    assert found.unavoidable == beyond


@pytest.mark.parametrize("pair", PAIR_KEYS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_stable_forms_break_only_where_no_float_holds_the_exact_value(pair, dtype):
    stable = [b for b in ALL_BREAKPOINTS if (b.pair, b.form, b.dtype) == (pair, "stable", dtype)]
    naive = [b for b in ALL_BREAKPOINTS if (b.pair, b.form, b.dtype) == (pair, "naive", dtype)]
    assert all(b.unavoidable for b in stable), stable
    assert any(not b.unavoidable for b in naive), naive


def test_a_sweep_holds_both_forms_errors_and_the_range_of_the_dtype():
    grid = precision.magnitude_grid(1e-3, 1e3, 20)
    sweep = precision.sweep("log_sigmoid", "float32", grid)
    assert sweep.z.dtype == np.float32 and sweep.z.size == 2 * grid.size
    assert np.all(np.diff(sweep.z) > 0) and sweep.z[0] == -sweep.z[-1]
    assert set(sweep.values) == set(sweep.errors) == {"naive", "stable"}
    # -e^-z fits float32 to 1e-3 while half its subnormal spacing, 2^-150, is below 1e-3 of it (z < 97.06);
    # past z = 150 ln 2 (103.97) it rounds to 0. In between, it depends on how close the nearest float lies.
    limit = float(-mpmath.log(mpmath.mpf(2) ** -150 / precision.THRESHOLD))
    assert sweep.representable[sweep.z < limit].all()
    assert not sweep.representable[sweep.z > float(150 * LN2)].any()
    assert sweep.breakpoints == (*found_for("log_sigmoid", "naive", "float32", grid),
                                 *found_for("log_sigmoid", "stable", "float32", grid))
