"""Last-bit accuracy: every loss, gradient and activation against a 256-bit mpmath reference.

The measurement lives in ``bench/accuracy.py`` (which also writes the table in
``docs/ACCURACY.md``): references written without cancellation, errors in ulp
of the exact value (float64) or of the float32-rounded value (float32), one
subnormal step below the normal range, infinities only where the true value
overflows. Inputs run from the smallest subnormal to float max, hard and soft
targets, 2 to 10 classes. Each failure message names the function, the worst
error and where it occurs. ``LOSSLAB_LONG=1`` runs the bigger grid.
"""

from __future__ import annotations

import math
import os
from functools import cache

import mpmath
import numpy as np
import pytest

from .bench_accuracy import accuracy, assert_within

SIZE = "long" if os.environ.get("LOSSLAB_LONG") else "test"
ULP_BOUND = 4.0

# Where 4 ulp is not reached (none is left): the measured worst case rounded up, per function and dtype, as
# (bound with hard targets, bound with soft targets). The reasons are in docs/ACCURACY.md
# ("Known limits"). A change that makes one of these worse fails; one that makes it better should
# lower the number here.
KNOWN_LIMITS: dict[tuple[str, str], tuple[float, float]] = {}
# Results below the normal range that may be more than one subnormal step from the rounded value.
SUBNORMAL_STEPS_OVER: set[str] = set()
# At ill-conditioned points (a soft target's terms cancel) the error is measured in ulp of the
# size of the cancelling terms instead; working precision cannot do better than a few of those.
ILL_CONDITIONED_BOUND = 8.0


def case_id(case, dtype) -> str:
    return f"{accuracy.case_label(case)}-{np.dtype(dtype).name}"


CASES = [(case, dtype) for case in accuracy.core_cases() for dtype in accuracy.DTYPES]  # atlas: test_accuracy_atlas


@cache
def inputs_for(index: int):
    case, dtype = CASES[index]
    return accuracy.build_inputs(case, dtype, SIZE)


@cache
def functions():
    return accuracy.losslab_functions()


def variants(case):
    """The separate function and, where it exists, the fused function's matching half."""
    names = [case.name]
    if case.name.endswith("_grad"):
        names.append(f"{case.name[:-5]}_and_grad[grad]")
    else:
        names.append(f"{case.name}_and_grad[loss]")
    return [n for n in names if n in functions()]


@pytest.mark.parametrize("index", range(len(CASES)), ids=[case_id(*c) for c in CASES])
def test_within_4_ulp_of_the_mpmath_reference(index):
    case, dtype = CASES[index]
    label, dtype_name = accuracy.case_label(case), np.dtype(dtype).name
    hard_bound, soft_bound = KNOWN_LIMITS.get((label, dtype_name), (ULP_BOUND, ULP_BOUND))
    for name in variants(case):
        result = accuracy.measure(functions()[name], case, inputs_for(index), dtype)
        where = f"{name}{label[len(case.name):]} in {dtype_name}"
        assert_within(result, where, hard_bound, soft_bound, case.name not in SUBNORMAL_STEPS_OVER)
        assert result.worst_ill <= ILL_CONDITIONED_BOUND, (
            f"{where}: at the {result.ill_points} ill-conditioned points the error is "
            f"{result.worst_ill:.3g} ulp of the cancelling terms (allowed {ILL_CONDITIONED_BOUND:g})"
        )


def test_every_public_loss_gradient_and_activation_is_measured():
    import losslab

    measured = {case.name for case in accuracy.cases()}
    robust = {"pseudo_huber", "cauchy", "geman_mcclure", "tukey", "barron"}  # measured by their module
    # vae_elbo is bce_with_logits plus gaussian_kl terms, both measured; ctc_alignments is no loss
    not_measured = {"softmax_naive", "sigmoid_chain", "softmax_chain", "vae_elbo", "vae_elbo_grad", "ctc_alignments"}
    public = {
        name for name in losslab.__all__
        if not name.endswith("_and_grad") and name not in not_measured and name.removesuffix("_grad") not in robust
    }
    assert len(public) >= 30
    assert public <= measured, f"not measured: {sorted(public - measured)}"


# ------------------------------------------------------------ the measurement itself


def test_ulp_error_is_measured_against_the_exact_value_in_float64():
    one = mpmath.mpf(1)
    assert accuracy.error_in_ulp(1.0 + 2**-52, one, np.float64) == (1.0, True)
    assert accuracy.error_in_ulp(1.0 + 5 * 2**-52, one, np.float64)[1] is False
    # half-way between two floats: the correctly rounded value is half an ulp away
    assert accuracy.error_in_ulp(1.0, one + mpmath.ldexp(1, -53), np.float64)[0] == 0.5


def test_float32_error_is_measured_against_the_rounded_reference():
    exact = mpmath.mpf(1) + mpmath.ldexp(1, -25)  # a quarter ulp above 1 in float32: rounds to 1
    assert accuracy.error_in_ulp(1.0, exact, np.float32) == (0.0, True)
    assert accuracy.error_in_ulp(float(np.float32(1) + np.float32(2**-23)), exact, np.float32)[0] == 1.0


def test_subnormal_results_must_be_within_one_step_and_overflow_only_past_float_max():
    step = 2.0**-1074
    exact = mpmath.mpf(3.4) * mpmath.ldexp(1, -1074)  # rounds to 3 steps
    assert accuracy.error_in_ulp(4 * step, exact, np.float64)[1] is True
    assert accuracy.error_in_ulp(5 * step, exact, np.float64)[1] is False
    assert accuracy.error_in_ulp(0.0, exact, np.float64)[1] is False  # underflow where the value is a float
    big = mpmath.mpf(2) ** 1024
    assert accuracy.error_in_ulp(math.inf, big, np.float64) == (0.0, True)
    assert accuracy.error_in_ulp(math.inf, mpmath.mpf(1e308), np.float64)[1] is False


def test_references_match_closed_forms():
    x = accuracy.X
    assert accuracy.r_sigmoid(x(0.0)) == mpmath.mpf(0.5)
    tail = accuracy.r_cross_entropy([x(40.0), x(0.0)], [1, 0])
    assert abs(tail / mpmath.log1p(mpmath.exp(-40)) - 1) < mpmath.mpf(10) ** -70
    grad = accuracy.r_bce_with_logits_grad(x(40.0), x(1.0))
    assert abs(grad.value / -(mpmath.exp(-40) / (1 + mpmath.exp(-40))) - 1) < mpmath.mpf(10) ** -70
    small = x(1e-200)
    assert abs(accuracy.r_log_cosh(small, x(0.0)) / (small**2 / 2) - 1) < mpmath.mpf(10) ** -70


def test_log_cosh_far_from_the_target_is_right_in_a_batch_that_also_holds_nan():
    import losslab

    result = losslab.log_cosh(np.array([800.0, np.nan, -25.0]), 0.0, reduction="none")
    np.testing.assert_allclose(result[[0, 2]], [800 - math.log(2), 25 - math.log(2) + math.exp(-50)], rtol=1e-15)
    assert np.isnan(result[1])
