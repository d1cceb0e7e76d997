"""Finite extreme inputs give no NaN and no RuntimeWarning; +-inf give the right limits.

Expected values are closed forms (e.g. sigmoid(-1e300) = 0, logsumexp([M, -M]) = M,
BCE of a confident mistake = |z|) or numpy's logaddexp, never losslab's output.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal
from scipy import special

import losslab
from losslab import registry

from .atlas_checks import parameter_extremes, parameter_sets, per_row, story_points

MAGNITUDES = [1e4, 1e30, 1e300]
FLOAT_MAX = np.finfo(np.float64).max
FLOAT32_MAX = np.finfo(np.float32).max


def quietly(function, *args, **kwargs):
    """Call ``function`` with every warning turned into an error, whatever pytest's config."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return function(*args, **kwargs)


def assert_no_nan(value):
    assert not np.isnan(np.asarray(value)).any(), value


# ------------------------------------------------------------ activations


@pytest.mark.parametrize("m", MAGNITUDES)
def test_sigmoid_saturates_to_exact_zero_and_one_without_warnings(m):
    result = quietly(losslab.sigmoid, [-m, m, 0.0])
    assert_array_equal(result, [0.0, 1.0, 0.5])


@pytest.mark.parametrize("m", MAGNITUDES)
def test_log_sigmoid_is_z_for_very_negative_z_and_zero_for_very_positive_z(m):
    result = quietly(losslab.log_sigmoid, [-m, m])
    assert_allclose(result, [-m - math.exp(-m), 0.0], rtol=1e-15, atol=0)
    assert_allclose(quietly(losslab.softplus, [m, -m]), [m, 0.0], rtol=1e-15, atol=0)


@pytest.mark.parametrize("m", MAGNITUDES)
def test_softmax_of_huge_opposite_logits_puts_all_mass_on_the_largest(m):
    assert_array_equal(quietly(losslab.softmax, [m, -m, 0.0]), [1.0, 0.0, 0.0])
    assert_array_equal(quietly(losslab.softmax, [[m, m], [-m, -m]]), [[0.5, 0.5], [0.5, 0.5]])


@pytest.mark.parametrize("m", MAGNITUDES)
def test_log_softmax_and_logsumexp_are_exact_for_huge_logits(m):
    assert_allclose(quietly(losslab.log_softmax, [m, -m]), [0.0, -2 * m], rtol=1e-15, atol=0)
    assert_allclose(quietly(losslab.logsumexp, [m, -m]), m, rtol=1e-15)
    assert_allclose(quietly(losslab.logsumexp, [-m, -m]), -m + math.log(2), rtol=1e-15)
    assert_allclose(quietly(losslab.logsumexp, [m, m]), m + math.log(2), rtol=1e-15)


@pytest.mark.parametrize("m", [1e17, *MAGNITUDES[1:]])
def test_log_softmax_of_equal_huge_logits_is_minus_log_of_the_class_count(m):
    # softmax([m, m, m]) = 1/3 each, whatever m; log_softmax must not round log 3 away
    assert_allclose(quietly(losslab.log_softmax, [m, m, m]), np.full(3, -math.log(3)), rtol=1e-14)


@pytest.mark.parametrize("m", [1e17, *MAGNITUDES[1:]])
def test_cross_entropy_of_equal_huge_logits_is_log_of_the_class_count(m):
    assert_allclose(quietly(losslab.cross_entropy, [m, m, m], np.array(0)), math.log(3), rtol=1e-14)
    assert_allclose(quietly(losslab.cross_entropy, [[m, m]], [[0.5, 0.5]]), math.log(2), rtol=1e-14)


def test_softmax_is_finite_for_logits_near_float_max():
    result = quietly(losslab.softmax, [FLOAT_MAX, -FLOAT_MAX])
    assert_array_equal(result, [1.0, 0.0])


def test_logsumexp_is_finite_for_logits_near_float_max():
    assert quietly(losslab.logsumexp, [FLOAT_MAX, -FLOAT_MAX]) == FLOAT_MAX


def test_float32_softmax_is_finite_for_logits_near_float32_max():
    z = np.array([FLOAT32_MAX, -FLOAT32_MAX], dtype=np.float32)
    result = quietly(losslab.softmax, z)
    assert result.dtype == np.float32
    assert_array_equal(result, [1.0, 0.0])


def test_cross_entropy_is_zero_for_a_right_answer_at_float_max():
    logits = [FLOAT_MAX, -FLOAT_MAX]
    assert quietly(losslab.cross_entropy, logits, [1.0, 0.0]) == 0.0
    assert_array_equal(quietly(losslab.cross_entropy_grad, logits, [1.0, 0.0]), [0.0, 0.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_and_float64_activations_of_1e30_are_nan_free(dtype):
    z = np.array([-1e30, -30.0, 0.0, 30.0, 1e30], dtype=dtype)
    for function in (losslab.sigmoid, losslab.log_sigmoid, losslab.softplus, losslab.softmax, losslab.log_softmax):
        result = quietly(function, z)
        assert result.dtype == dtype
        assert_no_nan(result)
    assert_allclose(quietly(losslab.sigmoid, z), special.expit(z.astype(np.float64)), rtol=1e-6, atol=0)


# ------------------------------------------------------------ binary losses


@pytest.mark.parametrize("m", MAGNITUDES)
@pytest.mark.parametrize("y", [0.0, 0.3, 1.0])
def test_bce_with_logits_is_finite_and_linear_in_a_huge_logit(m, y):
    z = np.array([-m, m])
    loss = quietly(losslab.bce_with_logits, z, y, reduction="none")
    # y softplus(-z) + (1 - y) softplus(z), softplus(x) = logaddexp(0, x)
    expected = y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z)
    assert_allclose(loss, expected, rtol=1e-14)
    grad = quietly(losslab.bce_with_logits_grad, z, y)
    assert_allclose(grad, [0.0 - y, 1.0 - y], rtol=1e-15, atol=0)


@pytest.mark.parametrize("m", MAGNITUDES)
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("alpha", [None, 0.25])
def test_focal_and_its_gradient_are_nan_free_for_huge_logits(m, gamma, alpha):
    z = np.array([-m, -m, m, m, -m, m])
    y = np.array([0.0, 1.0, 0.0, 1.0, 0.4, 0.4])
    loss = quietly(losslab.focal, z, y, gamma=gamma, alpha=alpha, reduction="none")
    grad = quietly(losslab.focal_grad, z, y, gamma=gamma, alpha=alpha)
    assert np.isfinite(loss).all() and np.isfinite(grad).all()
    weight = np.ones(6) if alpha is None else alpha * y + (1 - alpha) * (1 - y)
    # confident right answers cost nothing; confident wrong ones cost alpha_t * |z|
    assert loss[0] == 0 and loss[3] == 0
    assert_allclose(loss[[1, 2]], weight[[1, 2]] * m, rtol=1e-15)
    # a wrong, saturated prediction keeps a gradient of alpha_t * (p - y)
    assert_allclose(grad[[1, 2]], weight[[1, 2]] * np.array([-1.0, 1.0]), rtol=1e-15)
    assert grad[0] == 0 and grad[3] == 0


@pytest.mark.parametrize("m", MAGNITUDES)
def test_sigmoid_mse_is_bounded_and_its_gradient_vanishes_when_saturated(m):
    z = np.array([-m, m, -m, m])
    y = np.array([0.0, 0.0, 1.0, 1.0])
    assert_array_equal(quietly(losslab.sigmoid_mse, z, y, reduction="none"), [0.0, 1.0, 1.0, 0.0])
    grad = quietly(losslab.sigmoid_mse_grad, z, y)
    assert_no_nan(grad)
    assert (np.abs(grad) < 1e-4).all()  # the chapter's point: it vanishes when wrong too


# ------------------------------------------------------------ multiclass


@pytest.mark.parametrize("m", MAGNITUDES)
def test_cross_entropy_of_huge_logits_is_finite_and_its_gradient_is_p_minus_y(m):
    z = np.array([[m, -m, 0.0], [m, -m, 0.0]])
    y = np.array([[0.0, 1.0, 0.0], [0.2, 0.3, 0.5]])
    loss = quietly(losslab.cross_entropy, z, y, reduction="none")
    assert_allclose(loss, [2 * m, 0.3 * 2 * m + 0.5 * m], rtol=1e-14)
    grad = quietly(losslab.cross_entropy_grad, z, y)
    assert_allclose(grad, np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]) - y, rtol=1e-15, atol=0)
    indices = quietly(losslab.cross_entropy, z, np.array([1, 0]), reduction="none")
    assert_allclose(indices, [2 * m, 0.0], rtol=1e-15, atol=0)


@pytest.mark.parametrize("m", MAGNITUDES)
def test_kl_and_brier_with_logits_are_nan_free_for_huge_logits(m):
    z = np.array([m, -m, 0.0])
    y = np.array([0.5, 0.25, 0.25])
    for function in (losslab.kl_divergence_with_logits, losslab.brier_with_logits):
        assert np.isfinite(quietly(function, z, y))
    for function in (losslab.kl_divergence_with_logits_grad, losslab.brier_with_logits_grad):
        assert np.isfinite(quietly(function, z, y)).all()


# ------------------------------------------------------------ regression


@pytest.mark.parametrize("m", [*MAGNITUDES, 1e308])
def test_log_cosh_is_the_absolute_residual_minus_log_two_for_huge_residuals(m):
    residual = np.array([m, -m])
    loss = quietly(losslab.log_cosh, residual, 0.0, reduction="none")
    assert_allclose(loss, m - math.log(2), rtol=1e-15)
    assert_array_equal(quietly(losslab.log_cosh_grad, residual, 0.0), [1.0, -1.0])


@pytest.mark.parametrize("m", MAGNITUDES)
def test_bounded_gradient_regression_losses_stay_finite_for_huge_residuals(m):
    pred, target = np.array([m, -m]), np.zeros(2)
    assert_allclose(quietly(losslab.mae, pred, target, reduction="none"), [m, m], rtol=0)
    assert_allclose(quietly(losslab.huber, pred, target, reduction="none"), [m - 0.5, m - 0.5], rtol=1e-15)
    assert_array_equal(quietly(losslab.huber_grad, pred, target, delta=2.0), [2.0, -2.0])
    assert_allclose(quietly(losslab.quantile, pred, target, tau=0.9, reduction="none"), [0.1 * m, 0.9 * m], rtol=1e-15)


def test_mse_beyond_float_max_is_inf_without_warnings():
    assert quietly(losslab.mse, 1e200, -1e200) == np.inf
    assert quietly(losslab.mse_grad, 1e300, -1e300) == 2e300 * 2


# ------------------------------------------------------------ infinities


def test_sigmoid_family_limits_at_infinity():
    inf = np.inf
    assert_array_equal(quietly(losslab.sigmoid, [-inf, inf]), [0.0, 1.0])
    assert_array_equal(quietly(losslab.log_sigmoid, [-inf, inf]), [-inf, 0.0])
    assert_array_equal(quietly(losslab.softplus, [-inf, inf]), [0.0, inf])
    assert_array_equal(quietly(losslab.logit, [0.0, 1.0]), [-inf, inf])


def test_softmax_with_one_infinite_logit_puts_all_mass_on_it():
    inf = np.inf
    assert_array_equal(quietly(losslab.softmax, [0.0, inf, -3.0]), [0.0, 1.0, 0.0])
    assert_array_equal(quietly(losslab.softmax, [inf, -inf]), [1.0, 0.0])
    assert_array_equal(quietly(losslab.softmax, [inf, inf, 1.0, -inf]), [0.5, 0.5, 0.0, 0.0])
    assert_array_equal(quietly(losslab.log_softmax, [0.0, inf]), [-inf, 0.0])
    assert quietly(losslab.logsumexp, [0.0, inf]) == inf


def test_softmax_with_an_infinite_logit_next_to_a_large_finite_one_warns_nothing():
    assert_array_equal(quietly(losslab.softmax, [np.inf, 1000.0, 0.0]), [1.0, 0.0, 0.0])


def test_logsumexp_with_an_infinite_logit_next_to_a_large_finite_one_warns_nothing():
    assert quietly(losslab.logsumexp, [np.inf, 1000.0]) == np.inf


def test_negative_infinite_logits_get_zero_mass_and_an_all_minus_inf_row_has_logsumexp_minus_inf():
    inf = np.inf
    assert_allclose(quietly(losslab.softmax, [-inf, 0.0, 0.0]), [0.0, 0.5, 0.5], rtol=1e-15)
    assert_allclose(quietly(losslab.log_softmax, [-inf, 0.0, 0.0]), [-inf, -math.log(2), -math.log(2)], rtol=1e-15)
    assert quietly(losslab.logsumexp, [-inf, -inf]) == -inf


def test_minus_infinite_logit_of_a_zero_target_class_gives_finite_cross_entropy():
    z = np.array([-np.inf, 0.5, -1.0])
    y = np.array([0.0, 0.3, 0.7])
    finite_part = special.log_softmax(z[1:])
    expected = -(0.3 * finite_part[0] + 0.7 * finite_part[1])
    assert_allclose(quietly(losslab.cross_entropy, z, y), expected, rtol=1e-14)
    grad = quietly(losslab.cross_entropy_grad, z, y)
    assert_no_nan(grad)
    assert grad[0] == 0
    assert_allclose(grad[1:], special.softmax(z[1:]) - y[1:], rtol=1e-13)
    # the same through index targets and the KL / Brier variants
    assert np.isfinite(quietly(losslab.cross_entropy, z, np.array(2)))
    assert np.isfinite(quietly(losslab.kl_divergence_with_logits, z, y))
    assert_no_nan(quietly(losslab.kl_divergence_with_logits_grad, z, y))
    assert_no_nan(quietly(losslab.brier_with_logits_grad, z, y))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_sure_right_answer_beside_minus_infinite_logits_costs_plus_zero(dtype):
    # -log 1 is +0: a -0 shows as "-0" in the dashboard's readout (InfoNCE at a temperature of 5e-324)
    for target in (np.array([0]), np.array([[1.0, 0.0]], dtype)):
        loss = quietly(losslab.cross_entropy, np.array([[0.0, -np.inf]], dtype), target, reduction="none")
        assert loss[0] == 0 and not np.signbit(loss[0]), loss


def test_minus_infinite_logit_of_the_target_class_costs_infinity():
    assert quietly(losslab.cross_entropy, [-np.inf, 0.0], [1.0, 0.0]) == np.inf


def test_bce_with_logits_limits_at_infinite_logits():
    inf = np.inf
    assert_array_equal(quietly(losslab.bce_with_logits, [inf, -inf], [1.0, 0.0], reduction="none"), [0.0, 0.0])
    assert_array_equal(quietly(losslab.bce_with_logits, [-inf, inf], [1.0, 0.0], reduction="none"), [inf, inf])
    assert_array_equal(quietly(losslab.bce_with_logits_grad, [inf, -inf, inf], [1.0, 0.0, 0.0]), [0.0, 0.0, 1.0])


def test_bce_without_clipping_is_infinite_for_either_certain_mistake():
    # -(y log p + (1 - y) log(1 - p)) is symmetric under p -> 1 - p, y -> 1 - y
    assert quietly(losslab.bce, 0.0, 1.0, eps=0.0) == np.inf
    assert quietly(losslab.bce, 1.0, 0.0, eps=0.0) == np.inf


def test_bce_gradient_without_clipping_is_infinite_for_either_certain_mistake():
    assert quietly(losslab.bce_grad, 0.0, 1.0, eps=0.0) == -np.inf
    assert quietly(losslab.bce_grad, 1.0, 0.0, eps=0.0) == np.inf


def test_bce_with_default_clipping_costs_about_27_6_for_a_certain_mistake_either_way():
    # the chapter's eps = 1e-12: -log(1e-12) = 27.631...
    expected = -math.log(1e-12)
    assert_allclose(quietly(losslab.bce, 0.0, 1.0), expected, rtol=1e-12)
    assert_allclose(quietly(losslab.bce, 1.0, 0.0), expected, rtol=1e-4)  # 1 - 1e-12 rounds


# ------------------------------------------------------------ any finite input


def _finite_arrays(bound):
    return hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=5),
        elements=st.floats(-bound, bound, allow_nan=False, allow_infinity=False),
    )


@settings(max_examples=60, deadline=None, derandomize=True)
@given(_finite_arrays(FLOAT_MAX), st.sampled_from([0.0, 0.35, 1.0]), st.sampled_from([0.0, 0.5, 2.0]))
def test_elementwise_logit_functions_are_nan_free_and_silent_for_any_finite_logit(z, y, gamma):
    for result in (
        quietly(losslab.sigmoid, z),
        quietly(losslab.log_sigmoid, z),
        quietly(losslab.softplus, z),
        quietly(losslab.bce_with_logits, z, y, reduction="none"),
        quietly(losslab.bce_with_logits_grad, z, y),
        quietly(losslab.focal, z, y, gamma=gamma, alpha=0.25, reduction="none"),
        quietly(losslab.focal_grad, z, y, gamma=gamma, alpha=0.25),
        quietly(losslab.sigmoid_mse, z, y, reduction="none"),
        quietly(losslab.sigmoid_mse_grad, z, y),
    ):
        assert_no_nan(result)
    assert np.isfinite(quietly(losslab.bce_with_logits_grad, z, y)).all()
    assert np.isfinite(quietly(losslab.focal_grad, z, y, gamma=gamma)).all()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(_finite_arrays(1e300))
def test_class_axis_functions_are_nan_free_and_silent_for_logits_up_to_1e300(z):
    y = np.zeros(z.shape)
    y[..., -1] = 1.0
    for result in (
        quietly(losslab.softmax, z),
        quietly(losslab.log_softmax, z),
        quietly(losslab.logsumexp, z),
        quietly(losslab.cross_entropy, z, y, reduction="none"),
        quietly(losslab.cross_entropy_grad, z, y),
        quietly(losslab.brier_with_logits_grad, z, y),
    ):
        assert np.isfinite(result).all()
    assert_allclose(np.sum(quietly(losslab.softmax, z), axis=-1), 1.0, rtol=1e-14)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(_finite_arrays(5e299), _finite_arrays(5e299))
def test_log_cosh_is_finite_and_silent_for_residuals_up_to_1e300(pred, target):
    if pred.shape != target.shape:
        target = target.ravel()[0]
    loss = quietly(losslab.log_cosh, pred, target, reduction="none")
    assert np.isfinite(loss).all() and (loss >= 0).all()
    assert (np.abs(quietly(losslab.log_cosh_grad, pred, target)) <= 1).all()


# ------------------------------------------------------------ every registry spec, every parameter extreme
#
# Each spec's story variable at its extremes (logits and residuals up to +-1e300, probabilities
# 0 and 1, box offsets far away, distances 0 and huge, angles 0 and pi, huge score margins),
# with each parameter at its defaults, at the slider's ends and at the ends of its valid range.
# Nothing may warn and nothing may be NaN; infinity only where the loss truly is infinite.

PROBABILITY_EXTREMES = [0.0, 1e-300, 1e-12, 0.3, 0.5, 1 - 1e-12, 1.0]
# d loss / d p of a logit-space loss is (d loss / d z) / (p (1 - p)): defined for 0 < p < 1 only
# (links.grad_on_probability); the losses themselves take p = 0 and 1.
OPEN_PROBABILITY_EXTREMES = PROBABILITY_EXTREMES[1:-1]


SEGMENTATION_KEYS = ["soft_dice", "soft_iou", "tversky", "focal_tversky", "combo"]


def test_focal_tversky_logit_gradient_of_a_saturated_perfect_mask_is_tiny():
    """mpmath (60 digits) at z = (20, 20, -20), t = (1, 1, 0): the limits of what float64 can follow."""
    spec = registry.get("focal_tversky")
    z, t = np.array([20.0, 20.0, -20.0]), np.array([1.0, 1.0, 0.0])
    expected = [-6.170053108047379e-08, -6.170053108047379e-08, 2.6443084704652794e-08]
    assert_allclose(quietly(spec.grad_from_logit, z, t, **spec.defaults()), expected, rtol=1e-14)


@pytest.mark.parametrize("key", SEGMENTATION_KEYS)
@pytest.mark.parametrize("z", [(40.0, 40.0, -800.0), (40.0, 40.0, -40.0), (800.0, 800.0, -800.0)])
def test_segmentation_logit_forms_keep_their_digits_when_every_pixel_saturates(key, z):
    """Through sigmoid(z), 1 - p rounded to 0: focal Tversky's gradient at (40, 40, -800) was (-inf, -inf, NaN)
    with a RuntimeWarning (mpmath: (-1.98e-14, -1.98e-14, 7e-345)), the others' losses and gradients lost the
    false negatives. Reference: mpmath (1000 digits) from the 1 - score forms."""
    from .test_segmentation import _mp_reference

    spec = registry.get(key)
    z, t = np.array(z), np.array([1.0, 1.0, 0.0])
    params = spec.defaults()
    core_params = {("alpha" if name == "bce_weight" else name): value for name, value in params.items()}
    expected_loss, expected_grad = _mp_reference(key, z, t, core_params, dps=1000)
    gradient = quietly(spec.grad_from_logit, z, t, **params)
    rtol = 1e-15 * max(16, np.abs(z).max())
    assert_allclose(quietly(spec.loss_from_logit, z, t, **params), expected_loss, rtol=rtol, atol=0)
    assert_allclose(gradient, expected_grad, rtol=rtol, atol=1e-300)


def _extreme_rows(spec):
    """(prediction-space rows, logit-space rows, targets) for a per-row spec."""
    if spec.key == "listnet":
        scores = np.array([[1e300, -1e300, 0.0, 1.0], [800.0, 799.0, -800.0, 0.0], [0.0, 0.0, 0.0, 0.0],
                           [-1e300, -1e300, -1e300, 5.0]])
        relevance = np.array([[0.0, 1.0, 2.0, 3.0], [1e300, 0.0, 0.0, -1e300], [5.0, 5.0, 5.0, 5.0],
                              [-800.0, 0.0, 1.0, 2.0]])
        return scores, None, relevance
    width = 3 if spec.task == "multiclass" else 4
    probs = np.array([[1.0, 0.0, 0.0, 0.0], [1e-300, 1 - 1e-12, 1e-12, 0.5], [0.5, 0.5, 0.5, 0.5],
                      [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])[:, :width]
    logits = np.array([[1e300, -1e300, 0.0, 2.0], [800.0, -800.0, 40.0, -40.0], [0.0, 0.0, 0.0, 0.0],
                       [-1e300, -1e300, -1e300, -1e300], [1e300, 1e300, 1e300, 1e300]])[:, :width]
    if spec.task == "multiclass":
        probs = probs / np.maximum(probs.sum(-1, keepdims=True), 1e-300)
        probs[3] = [0.2, 0.3, 0.5]
        targets = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.2, 0.3, 0.5], [0.0, 1.0, 0.0], [1 / 3] * 3])
    else:
        targets = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0],
                            [1.0, 1.0, 1.0, 1.0], [0.3, 0.7, 0.0, 1.0]])
    return probs, logits, targets


def _extreme_inputs(spec):
    """[(function, x, target)] at the extremes of the spec's story variable."""
    if per_row(spec):
        probs, logits, targets = _extreme_rows(spec)
        out = [(spec.loss, probs, targets), (spec.grad, probs, targets)]
        if spec.loss_from_logit is not None:
            out += [(spec.loss_from_logit, logits, targets), (spec.grad_from_logit, logits, targets)]
        return out
    points = story_points(spec)
    x = np.array([p[0] for p in points])
    target = np.array([p[1] for p in points])
    if spec.loss_from_logit is None:
        return [(spec.loss, x, target), (spec.grad, x, target)]
    probs, open_probs = np.array(PROBABILITY_EXTREMES * 2), np.array(OPEN_PROBABILITY_EXTREMES * 2)
    labels = np.repeat([0.0, 1.0], len(PROBABILITY_EXTREMES))
    open_labels = np.repeat([0.0, 1.0], len(OPEN_PROBABILITY_EXTREMES))
    return [(spec.loss_from_logit, x, target), (spec.grad_from_logit, x, target),
            (spec.loss, probs, labels), (spec.grad, open_probs, open_labels)]


def _extreme_cases():
    for spec in registry.LOSSES:
        seen = []
        for params in [*parameter_sets(spec), *parameter_extremes(spec)]:
            if params not in seen:
                seen.append(params)
                label = "-".join(f"{k}={v:g}" for k, v in params.items()) or "defaults"
                yield pytest.param(spec, params, id=f"{spec.key}-{label}")


@pytest.mark.parametrize(("spec", "params"), list(_extreme_cases()))
def test_registry_functions_are_silent_and_nan_free_at_extreme_inputs_and_parameters(spec, params):
    for function, x, target in _extreme_inputs(spec):
        result = np.asarray(quietly(function, x, target, **params))
        bad = np.isnan(result)
        assert not bad.any(), (
            f"{spec.key}.{function.__name__}{params}: NaN at x = {x[bad.any(-1) if per_row(spec) else bad][:4]}"
        )


def test_a_probability_of_negative_zero_is_zero():
    """-0.0 is in [0, 1] and is 0: logit gives -inf as at 0.0. min(1 - p, p) kept the sign, and
    log1p(1 / -0.0) = log1p(-inf) was NaN with a RuntimeWarning, in logit and in every
    probability-space loss built on it (the GAN losses, hinge, exponential, focal on p)."""
    for dtype in (np.float64, np.float32):
        p = np.array([-0.0, 0.0, 0.5], dtype=dtype)
        np.testing.assert_array_equal(losslab.logit(p), np.array([-np.inf, -np.inf, 0.0], dtype=dtype))
    from losslab import registry

    for spec in registry.LOSSES:
        if spec.link != "sigmoid":
            continue
        target = np.array([1.0, 0.0])
        params = dict(spec.defaults) if isinstance(spec.defaults, dict) else {}
        for function in (spec.loss, spec.grad):
            np.testing.assert_array_equal(function(np.array([-0.0, -0.0]), target, **params),
                                          function(np.array([0.0, 0.0]), target, **params), err_msg=spec.key)
