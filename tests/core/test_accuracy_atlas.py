"""Last-bit accuracy of the loss atlas (GANs, VAE KL, ranking, segmentation, boxes, embeddings, CTC, ...).

The same measurement as ``test_accuracy.py`` (``bench/accuracy.py``'s atlas
cases): a 256-bit mpmath reference of each loss written without cancellation,
gradients in closed form or, for the geometric losses and CTC, central
differences of the reference loss at 768 bits. A gradient of a vector
(a box's four coordinates, an embedding, one frame's classes) is measured
normwise: a component below half the vector's largest is reported as
ill-conditioned, in ulp of that largest component. ``LOSSLAB_LONG=1`` runs the
bigger grid.
"""

from __future__ import annotations

import os
from functools import cache

import mpmath
import numpy as np
import pytest

from .bench_accuracy import accuracy, assert_within

SIZE = "long" if os.environ.get("LOSSLAB_LONG") else "test"
ULP_BOUND = 4.0

# Where 4 ulp is not reached in float64: the worst case measured on the LOSSLAB_LONG grid (which contains
# the test grid's worst points or worse ones) rounded up, as (bound with hard targets, bound overall),
# with the reason in docs/ACCURACY.md ("The loss atlas"). None is left. float32 results (computed in
# float32; docs/ACCURACY.md lists the few inputs that go through float64) are held to 4 ulp everywhere,
# and to 1 ulp of the cancelling terms at ill-conditioned points.
KNOWN_LIMITS: dict[str, tuple[float, float]] = {}
# Known limits of the ill-conditioned points (error in ulp of the largest cancelling term / component).
ILL_CONDITIONED_LIMITS: dict[str, float] = {}
ILL_CONDITIONED_BOUND = 8.0
# results below the normal range more than one subnormal step off
SUBNORMAL_STEPS_OVER: set[str] = set()

CASES = [(case, dtype) for case in accuracy.atlas_cases() for dtype in accuracy.DTYPES]


def case_id(case, dtype) -> str:
    return f"{accuracy.case_label(case)}-{np.dtype(dtype).name}"


@cache
def functions():
    return accuracy.losslab_functions()


def variants(case):
    names = [case.name, f"{case.name[:-5]}_and_grad[grad]" if case.name.endswith("_grad")
             else f"{case.name}_and_grad[loss]"]
    return [n for n in names if n in functions()]


@pytest.mark.parametrize("index", range(len(CASES)), ids=[case_id(*c) for c in CASES])
def test_atlas_within_4_ulp_of_the_mpmath_reference(index):
    case, dtype = CASES[index]
    label, dtype_name = accuracy.case_label(case), np.dtype(dtype).name
    hard_bound, bound = KNOWN_LIMITS.get(label, (ULP_BOUND, ULP_BOUND)) if dtype == np.float64 else (ULP_BOUND,
                                                                                                        ULP_BOUND)
    inputs = accuracy.build_inputs(case, dtype, SIZE)
    assert len(inputs.exact) > 0
    for name in variants(case):
        result = accuracy.measure(functions()[name], case, inputs, dtype)
        where = f"{name}{label[len(case.name):]} in {dtype_name}"
        assert_within(result, where, hard_bound, bound, case.name not in SUBNORMAL_STEPS_OVER)
        ill_bound = ILL_CONDITIONED_LIMITS.get(label, ILL_CONDITIONED_BOUND) if dtype == np.float64 else 1.0
        assert result.worst_ill <= ill_bound, (
            f"{where}: at the {result.ill_points} ill-conditioned points the error is "
            f"{result.worst_ill:.3g} ulp of the cancelling terms (allowed {ill_bound:g})"
        )


def test_every_atlas_loss_in_the_registry_modules_is_measured():
    import losslab

    atlas = {"losslab.extra_regression", "losslab.extra_classification", "losslab.segmentation",
             "losslab.detection", "losslab.metric", "losslab.ranking", "losslab.generative", "losslab.sequence"}
    # vae_elbo is a sum of bce_with_logits and gaussian_kl terms, both measured
    public = {name for name in losslab.__all__
              if getattr(losslab, name).__module__ in atlas and not name.endswith("_and_grad")
              and name not in {"vae_elbo", "vae_elbo_grad", "ctc_alignments"}}
    measured = {case.name for case in accuracy.atlas_cases()}
    assert len(public) >= 80
    assert public <= measured, f"not measured: {sorted(public - measured)}"


# ------------------------------------------------------------ the atlas references themselves


def test_central_differences_match_a_closed_form():
    x = accuracy.X
    point = [x(1e-150), x(-2e-150), x(3e150)]
    slopes = accuracy.central_difference(lambda v: v[0] * v[2] + mpmath.sin(v[1] * 1e150), point, group=1)
    expected = [point[2], mpmath.cos(point[1] * 1e150) * 1e150, point[0]]
    for got, want in zip(slopes, expected, strict=True):
        assert abs(got / want - 1) < mpmath.mpf(10) ** -50
    # the slope of an even function at its centre is 0, not the truncation error
    assert accuracy.central_difference(lambda v: mpmath.cos(v[0]), [x(0.0)]) == [0]


def test_box_and_region_references_match_closed_forms():
    x = accuracy.X
    # unit target, prediction shifted right by 1/2: I = 1/2, U = 3/2, C = 3/2
    loss = accuracy._box_loss_exact("giou", [x(0.5), x(0), x(1.5), x(1)], [x(0), x(0), x(1), x(1)], mpmath.mpf(0))
    assert loss == mpmath.mpf(2) / 3
    # Dice of p = (1, 0), t = (1, 1), s = 1: 1 - (2 + 1)/(1 + 2 + 1) = 1/4
    reference = accuracy._segmentation_reference("soft_dice", False, False)
    assert reference(np.array([[1.0, 0.0]]), np.array([[1.0, 1.0]])) == [mpmath.mpf(1) / 4]
    # CTC of one frame and one label: -log p(label)
    log_p = [[x(np.log(0.25)), x(np.log(0.75))]]
    assert abs(accuracy._ctc_exact(log_p, [1]) + log_p[0][1]) < mpmath.mpf(10) ** -60
