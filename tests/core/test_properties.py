"""Hypothesis properties: non-negativity, zero at a perfect prediction, p - y
gradients, Huber's limits and reductions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose
from scipy import special

import losslab
from losslab import links, registry

from .atlas_checks import logit_inputs, parameter_sets, per_row, prediction_inputs

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
logit_values = st.floats(-30, 30, allow_nan=False, allow_infinity=False)
unit = st.floats(0.0, 1.0, allow_nan=False)
inner_unit = st.floats(1e-3, 1 - 1e-3)
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5)


@st.composite
def pairs(draw, elements=finite, target_elements=finite):
    shape = draw(shapes)
    pred = draw(hnp.arrays(np.float64, shape, elements=elements))
    target = draw(hnp.arrays(np.float64, shape, elements=target_elements))
    return pred, target


@st.composite
def logits_and_distribution(draw, min_classes=1):
    batch = draw(st.integers(1, 4))
    classes = draw(st.integers(min_classes, 5))
    z = draw(hnp.arrays(np.float64, (batch, classes), elements=logit_values))
    raw = draw(hnp.arrays(np.float64, (batch, classes), elements=st.floats(0.0, 1.0)))
    raw[:, 0] += 1e-3  # at least one positive weight per row
    return z, raw / raw.sum(axis=-1, keepdims=True)


@st.composite
def two_distributions(draw):
    batch = draw(st.integers(1, 4))
    classes = draw(st.integers(1, 5))
    a = draw(hnp.arrays(np.float64, (batch, classes), elements=st.floats(1e-6, 1.0)))
    b = draw(hnp.arrays(np.float64, (batch, classes), elements=st.floats(0.0, 1.0)))
    b[:, 0] += 1e-3
    return a / a.sum(axis=-1, keepdims=True), b / b.sum(axis=-1, keepdims=True)


# ------------------------------------------------------------- non-negativity


@SETTINGS
@given(pairs())
def test_regression_losses_are_non_negative(data):
    pred, target = data
    for loss in (
        losslab.mse(pred, target, reduction="none"),
        losslab.mae(pred, target, reduction="none"),
        losslab.huber(pred, target, delta=0.7, reduction="none"),
        losslab.log_cosh(pred, target, reduction="none"),
        losslab.quantile(pred, target, tau=0.2, reduction="none"),
    ):
        assert (loss >= 0).all()


@SETTINGS
@given(pairs(elements=unit, target_elements=unit), pairs(elements=logit_values, target_elements=unit))
def test_binary_losses_are_non_negative(probability_pair, logit_pair):
    prob, y = probability_pair
    z, t = logit_pair
    assert (losslab.bce(prob, y, reduction="none") >= 0).all()
    assert (losslab.bce_with_logits(z, t, reduction="none") >= 0).all()
    assert (losslab.sigmoid_mse(z, t, reduction="none") >= 0).all()
    for gamma in (0.0, 0.5, 2.0):
        assert (losslab.focal(z, t, gamma=gamma, alpha=0.25, reduction="none") >= 0).all()
    assert (losslab.hinge(z, np.where(t > 0.5, 1.0, -1.0), reduction="none") >= 0).all()


@SETTINGS
@given(logits_and_distribution(), two_distributions())
def test_multiclass_losses_are_non_negative(logit_case, probability_case):
    z, y = logit_case
    p, q = probability_case
    assert (losslab.cross_entropy(z, y, reduction="none") >= 0).all()
    assert (losslab.brier_with_logits(z, y, reduction="none") >= 0).all()
    assert (losslab.cross_entropy_from_probs(p, q, reduction="none") >= 0).all()
    assert (losslab.brier(p, q, reduction="none") >= 0).all()
    # Gibbs' inequality; allow only rounding below zero
    assert (losslab.kl_divergence(p, q, reduction="none") >= -1e-12).all()
    assert (losslab.kl_divergence_with_logits(z, y, reduction="none") >= -1e-12).all()


# ------------------------------------------------------ zero at a perfect fit


@SETTINGS
@given(hnp.arrays(np.float64, shapes, elements=finite), st.floats(0.01, 0.99), st.floats(0.01, 100))
def test_regression_losses_are_zero_at_a_perfect_prediction(y, tau, delta):
    assert (losslab.mse(y, y, reduction="none") == 0).all()
    assert (losslab.mae(y, y, reduction="none") == 0).all()
    assert (losslab.huber(y, y, delta=delta, reduction="none") == 0).all()
    assert (losslab.log_cosh(y, y, reduction="none") == 0).all()
    assert (losslab.quantile(y, y, tau=tau, reduction="none") == 0).all()
    assert (losslab.mse_grad(y, y) == 0).all()
    assert (losslab.huber_grad(y, y, delta=delta) == 0).all()
    assert (losslab.log_cosh_grad(y, y) == 0).all()


@SETTINGS
@given(two_distributions())
def test_kl_divergence_of_a_distribution_with_itself_is_zero(case):
    p, _ = case
    assert_allclose(losslab.kl_divergence(p, p, reduction="none"), 0.0, atol=1e-15)
    assert_allclose(losslab.brier(p, p, reduction="none"), 0.0, atol=0)
    assert_allclose(losslab.kl_divergence_with_logits(np.log(p), p, reduction="none"), 0.0, atol=1e-12)


def test_bce_with_logits_tends_to_zero_only_in_the_limit_of_a_confident_right_answer():
    z = np.array([1.0, 5.0, 20.0, 40.0, 800.0, np.inf])
    positive = losslab.bce_with_logits(z, 1.0, reduction="none")
    negative = losslab.bce_with_logits(-z, 0.0, reduction="none")
    assert_allclose(positive, np.log1p(np.exp(-z)), rtol=1e-14, atol=0)
    assert_allclose(negative, positive, rtol=0, atol=0)
    assert (positive[:4] > 0).all()  # never exactly zero at finite z until it underflows
    assert (np.diff(positive) <= 0).all()  # monotone in the confidence
    assert positive[-2] == 0 and positive[-1] == 0


def test_multiclass_cross_entropy_tends_to_zero_as_the_right_logit_dominates():
    gaps = np.array([1.0, 10.0, 40.0, 800.0])
    logits = np.stack([gaps, np.zeros_like(gaps), np.zeros_like(gaps)], axis=-1)
    loss = losslab.cross_entropy(logits, np.zeros(4, dtype=int), reduction="none")
    # z_k - logsumexp(z) is accurate to rounding of |z|, not relative to the tiny result
    assert_allclose(loss, np.log1p(2 * np.exp(-gaps)), rtol=1e-10, atol=1e-13)
    assert (loss >= 0).all() and loss[-1] == 0


def test_hinge_is_zero_beyond_the_margin_and_focal_zero_at_infinite_confidence():
    assert losslab.hinge([1.0, 3.0, -2.0], [1, 1, -1], reduction="sum") == 0
    assert losslab.focal([np.inf, -np.inf], [1.0, 0.0], reduction="sum") == 0


# ---------------------------------------------------- the p - y gradient


@SETTINGS
@given(logits_and_distribution())
def test_cross_entropy_gradient_through_softmax_is_p_minus_y(case):
    z, y = case
    expected = special.softmax(z, axis=-1) - y
    assert_allclose(losslab.cross_entropy_grad(z, y), expected, rtol=1e-9, atol=1e-15)
    assert_allclose(losslab.kl_divergence_with_logits_grad(z, y), expected, rtol=1e-9, atol=1e-15)


@SETTINGS
@given(pairs(elements=logit_values, target_elements=unit))
def test_bce_gradient_through_sigmoid_is_p_minus_y(case):
    z, y = case
    assert_allclose(losslab.bce_with_logits_grad(z, y), special.expit(z) - y, rtol=1e-12, atol=1e-15)
    # gamma = 0, no alpha: focal is BCE
    assert_allclose(losslab.focal_grad(z, y, gamma=0.0), special.expit(z) - y, rtol=1e-12, atol=1e-15)


@SETTINGS
@given(pairs(elements=st.floats(-15, 15), target_elements=unit))
def test_chained_bce_probability_gradient_is_p_minus_y(case):
    z, y = case
    p = special.expit(z)
    chained = links.sigmoid_chain(losslab.bce_grad(p, y, eps=0.0), z)
    assert_allclose(chained, p - y, rtol=1e-8, atol=1e-12)


@SETTINGS
@given(logits_and_distribution())
def test_chained_cross_entropy_probability_gradient_is_p_minus_y(case):
    z, y = case
    z = np.clip(z, -15, 15)  # keep every probability well above zero
    p = special.softmax(z, axis=-1)
    chained = links.softmax_chain(losslab.cross_entropy_from_probs_grad(p, y), z)
    assert_allclose(chained, p - y, rtol=1e-8, atol=1e-12)


# ----------------------------------------------------------- Huber's limits


@SETTINGS
@given(pairs(elements=st.floats(-1e3, 1e3), target_elements=st.floats(-1e3, 1e3)))
def test_huber_with_a_large_delta_is_half_the_squared_error(case):
    pred, target = case
    assert_allclose(
        losslab.huber(pred, target, delta=1e6, reduction="none"),
        0.5 * losslab.mse(pred, target, reduction="none"),
        rtol=1e-12,
        atol=0,
    )
    assert_allclose(losslab.huber_grad(pred, target, delta=1e6), 0.5 * losslab.mse_grad(pred, target), rtol=1e-12)


@SETTINGS
@given(
    pairs(elements=st.floats(-100, 100), target_elements=st.floats(-100, 100)),
    st.sampled_from([1e-3, 1e-6, 1e-9]),
)
def test_huber_with_a_small_delta_is_delta_times_the_absolute_error(case, delta):
    pred, target = case
    residual = np.abs(pred - target)
    keep = residual > 1e-2
    huber = losslab.huber(pred, target, delta=delta, reduction="none")
    mae = losslab.mae(pred, target, reduction="none")
    # huber / delta = |r| - delta / 2, a relative error of at most delta / (2 |r|)
    assert_allclose(huber[keep] / delta, mae[keep], rtol=delta / 2 / 1e-2 * 1.01, atol=0)
    grad = losslab.huber_grad(pred, target, delta=delta)
    assert_allclose(grad[keep] / delta, losslab.mae_grad(pred, target)[keep], rtol=1e-15)


# ---------------------------------------------------------------- reductions


def _reduction_cases():
    rng = np.random.default_rng(7)
    pred, target = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    prob, label = rng.uniform(0.05, 0.95, (4, 5)), rng.uniform(0, 1, (4, 5))
    z = rng.normal(size=(4, 5))
    sign = rng.choice([-1.0, 1.0], (4, 5))
    dist = rng.dirichlet(np.ones(5), size=4)
    return [
        ("mse", losslab.mse, pred, target, {}),
        ("mae", losslab.mae, pred, target, {}),
        ("huber", losslab.huber, pred, target, {"delta": 0.5}),
        ("log_cosh", losslab.log_cosh, pred, target, {}),
        ("quantile", losslab.quantile, pred, target, {"tau": 0.3}),
        ("bce", losslab.bce, prob, label, {}),
        ("bce_with_logits", losslab.bce_with_logits, z, label, {}),
        ("sigmoid_mse", losslab.sigmoid_mse, z, label, {}),
        ("focal", losslab.focal, z, label, {"gamma": 1.5, "alpha": 0.25}),
        ("hinge", losslab.hinge, z, sign, {}),
        ("cross_entropy", losslab.cross_entropy, z, dist, {}),
        ("cross_entropy_indices", losslab.cross_entropy, z, np.array([0, 4, 2, 1]), {}),
        ("cross_entropy_from_probs", losslab.cross_entropy_from_probs, dist[::-1], dist, {}),
        ("kl_divergence", losslab.kl_divergence, dist[::-1], dist, {}),
        ("kl_divergence_with_logits", losslab.kl_divergence_with_logits, z, dist, {}),
        ("brier", losslab.brier, dist[::-1], dist, {}),
        ("brier_with_logits", losslab.brier_with_logits, z, dist, {}),
    ]


CLASS_AXIS = {
    "cross_entropy", "cross_entropy_indices", "cross_entropy_from_probs", "kl_divergence",
    "kl_divergence_with_logits", "brier", "brier_with_logits",
}


@pytest.mark.parametrize(("name", "loss", "pred", "target", "params"), _reduction_cases(), ids=lambda v: v if isinstance(v, str) else "")
def test_sum_and_mean_reductions_agree_with_the_unreduced_losses(name, loss, pred, target, params):
    none = loss(pred, target, reduction="none", **params)
    expected_shape = (4,) if name in CLASS_AXIS else (4, 5)
    assert none.shape == expected_shape
    assert_allclose(loss(pred, target, reduction="sum", **params), np.sum(none), rtol=1e-13)
    assert_allclose(loss(pred, target, reduction="mean", **params), np.mean(none), rtol=1e-13)
    assert_allclose(loss(pred, target, **params), np.mean(none), rtol=1e-13)
    assert np.ndim(loss(pred, target, reduction="mean", **params)) == 0


def test_class_axis_losses_sum_over_classes_before_reducing():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(2, 3, 4))
    y = rng.dirichlet(np.ones(4), size=(2, 3))
    per_class = -y * special.log_softmax(z, axis=-1)
    none = losslab.cross_entropy(z, y, reduction="none")
    assert none.shape == (2, 3)
    assert_allclose(none, per_class.sum(axis=-1), rtol=1e-13)
    assert_allclose(losslab.cross_entropy(z, y), per_class.sum(axis=-1).mean(), rtol=1e-13)
    assert_allclose(losslab.cross_entropy(z, y, reduction="sum"), per_class.sum(), rtol=1e-13)


@pytest.mark.parametrize(
    "loss",
    [
        losslab.cross_entropy, losslab.kl_divergence_with_logits, losslab.brier_with_logits,
    ],
    ids=lambda f: f.__name__,
)
def test_axis_zero_treats_columns_as_samples_for_logit_losses(loss):
    rng = np.random.default_rng(11)
    z = rng.normal(size=(3, 5))  # 3 classes down axis 0, 5 samples
    y = rng.dirichlet(np.ones(3), size=5).T
    along_zero = loss(z, y, axis=0, reduction="none")
    assert along_zero.shape == (5,)
    assert_allclose(along_zero, loss(z.T, y.T, reduction="none"), rtol=1e-13)


@pytest.mark.parametrize(
    "loss",
    [losslab.cross_entropy_from_probs, losslab.kl_divergence, losslab.brier],
    ids=lambda f: f.__name__,
)
def test_axis_zero_treats_columns_as_samples_for_probability_losses(loss):
    rng = np.random.default_rng(12)
    p = rng.dirichlet(np.ones(3), size=5).T
    y = rng.dirichlet(np.ones(3), size=5).T
    along_zero = loss(p, y, axis=0, reduction="none")
    assert along_zero.shape == (5,)
    assert_allclose(along_zero, loss(p.T, y.T, reduction="none"), rtol=1e-13)


@pytest.mark.parametrize(
    ("function", "reference"),
    [
        (losslab.softmax, special.softmax),
        (losslab.log_softmax, special.log_softmax),
        (losslab.logsumexp, special.logsumexp),
    ],
    ids=lambda f: getattr(f, "__name__", ""),
)
def test_activations_accept_axis_zero(function, reference):
    z = np.random.default_rng(5).normal(size=(3, 4))
    assert_allclose(function(z, axis=0), reference(z, axis=0), rtol=1e-13)
    assert np.shape(function(z, axis=0)) == np.shape(reference(z, axis=0))


def test_cross_entropy_index_targets_with_axis_zero_equal_one_hot_targets():
    z = np.random.default_rng(2).normal(size=(3, 4))  # 3 classes, 4 samples
    indices = np.array([2, 0, 1, 2])
    one_hot = np.eye(3)[indices].T
    assert_allclose(
        losslab.cross_entropy(z, indices, axis=0, reduction="none"),
        losslab.cross_entropy(z, one_hot, axis=0, reduction="none"),
        rtol=1e-14,
    )
    assert_allclose(losslab.cross_entropy_grad(z, indices, axis=0), special.softmax(z, axis=0) - one_hot, rtol=1e-12, atol=1e-15)


def test_logsumexp_keepdims_keeps_the_class_axis_with_length_one():
    z = np.arange(12.0).reshape(3, 4)
    assert losslab.logsumexp(z).shape == (3,)
    assert losslab.logsumexp(z, keepdims=True).shape == (3, 1)
    assert losslab.logsumexp(z, axis=0, keepdims=True).shape == (1, 4)


def test_shared_logits_broadcast_against_a_batch_of_targets():
    # one row of logits used for every sample: the broadcast check accepts it,
    # and each sample's loss is the CE of uniform softmax = log 3
    logits = np.full(3, 0.3)
    target = np.full((4, 3), 1 / 3)
    assert_allclose(losslab.cross_entropy(logits, target, reduction="none"), np.full(4, np.log(3)), rtol=1e-14)
    assert_allclose(losslab.cross_entropy_grad(logits, target), np.zeros(3), atol=1e-15)


def test_integer_one_hot_targets_of_full_shape_equal_class_indices():
    z = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]])
    assert_allclose(
        losslab.cross_entropy(z, np.array([[0, 0, 1], [1, 0, 0]]), reduction="none"),
        losslab.cross_entropy(z, np.array([2, 0]), reduction="none"),
        rtol=1e-15,
    )


def test_kink_subgradients_follow_the_documented_conventions():
    assert losslab.mae_grad(2.0, 2.0) == 0.0
    for tau in (0.1, 0.5, 0.8):
        assert_allclose(losslab.quantile_grad(2.0, 2.0, tau=tau), 0.5 - tau, rtol=1e-15)
        assert_allclose(losslab.quantile_grad([3.0, 1.0], 2.0, tau=tau), [1 - tau, -tau], rtol=1e-15)
    assert_allclose(losslab.hinge_grad([1.0, -1.0, 0.999], [1.0, -1.0, 1.0]), [0.0, 0.0, -1.0])
    assert losslab.huber_grad(3.0, 2.0, delta=1.0) == 1.0


# ------------------------------------------------------------ every registry spec

# Losses that may be negative: -log-likelihoods of densities (Gaussian NLL with sigma^2 < 1, Poisson
# NLL without its Stirling term), the minimax generator's log(1 - D) <= 0 and the critics' raw scores;
# each with a point where it is, in closed form: (function, x, target, params, value).
SIGNED = {
    "gaussian_nll": ("loss", 0.0, 0.0, {"var": 0.01}, 0.5 * math.log(0.01)),
    "poisson_nll": ("loss", math.log(3.0), 3.0, {}, 3.0 - 3.0 * math.log(3.0)),
    "gan_generator_minimax": ("loss_from_logit", 0.0, 0.0, {}, math.log(0.5)),
    "wgan_critic": ("loss", 1.5, 1.0, {}, -1.5),
    "wgan_generator": ("loss", 1.5, 0.0, {}, -1.5),
}


def _registry_evaluations(spec, seed):
    """[(function name, params, x, target, loss values)] of a spec on its inputs, for each parameter set."""
    rng = np.random.default_rng(seed)
    out = []
    for params in parameter_sets(spec):
        x, target, _ = prediction_inputs(spec, params, rng)
        if spec.task == "multiclass":  # KL >= 0 and the like hold for distributions
            x = x / x.sum(axis=-1, keepdims=True)
        out.append(("loss", params, x, target, np.asarray(spec.loss(x, target, **params))))
        if spec.loss_from_logit is not None:
            z, target = logit_inputs(spec, params, rng)
            out.append(("loss_from_logit", params, z, target, np.asarray(spec.loss_from_logit(z, target, **params))))
    return out


@pytest.mark.parametrize("spec", registry.LOSSES, ids=lambda s: s.key)
def test_registry_losses_are_non_negative_unless_signed(spec):
    values = np.concatenate([v.ravel() for *_, v in _registry_evaluations(spec, 31)])
    assert np.isfinite(values).all()
    if spec.key in SIGNED:
        name, x, target, params, expected = SIGNED[spec.key]
        value = getattr(spec, name)(np.array([x]), np.array([target]), **{**spec.defaults(), **params})
        assert expected < 0
        assert_allclose(value, [expected], rtol=1e-14)
    else:
        assert values.min() >= 0, (spec.key, values.min())


@pytest.mark.parametrize("spec", registry.LOSSES, ids=lambda s: s.key)
def test_each_registry_sample_depends_only_on_its_own_prediction_and_target(spec):
    """Reordering the samples (rows, for the per-row specs) reorders the losses and gradients, nothing else."""
    for name, params, x, target, values in _registry_evaluations(spec, 37):
        function = getattr(spec, name)
        grad = spec.grad if name == "loss" else spec.grad_from_logit
        order = np.random.default_rng(41).permutation(x.shape[0])  # the first axis: samples or rows
        np.testing.assert_allclose(function(x[order], target[order], **params), values[order], rtol=1e-15)
        np.testing.assert_allclose(grad(x[order], target[order], **params), grad(x, target, **params)[order],
                                   rtol=1e-15)
        if not per_row(spec):  # and within a row of elementwise specs
            flipped = x[:, ::-1], target[:, ::-1]
            np.testing.assert_allclose(function(*flipped, **params), values[:, ::-1], rtol=1e-15)
