"""Every analytic gradient against 4th-order central differences in float64.

The reference derivative of a loss is computed here from the loss alone:
    f'(x) ~ (f(x - 2h) - 8 f(x - h) + 8 f(x + h) - f(x + 2h)) / (12 h),
one coordinate at a time on the *sum* of the unreduced loss, so it also checks
that gradients of broadcast arguments are summed back to the argument's shape.
Inputs are drawn away from kinks (MAE/Huber/quantile/hinge) and clip regions (BCE).
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from numpy.testing import assert_allclose

import losslab
from losslab import links, registry

from .atlas_checks import H_LOGIT, H_PROB, logit_inputs, parameter_sets, prediction_inputs

RTOL = 1e-6
ATOL = 1e-8


def central_difference(total, x, h):
    """Gradient of the scalar function ``total`` at ``x`` by the 5-point stencil."""
    x = np.array(x, dtype=np.float64)
    grad = np.empty_like(x)
    for index in np.ndindex(x.shape):

        def at(step, index=index):
            shifted = x.copy()
            shifted[index] += step
            return float(np.sum(total(shifted)))

        grad[index] = (at(-2 * h) - 8 * at(-h) + 8 * at(h) - at(2 * h)) / (12 * h)
    return grad


def assert_gradient_matches(loss, grad, x, target, h, **params):
    """``grad(x, target)`` equals the central difference of ``sum(loss(x, target))``."""
    analytic = np.asarray(grad(x, target, **params))
    numeric = central_difference(lambda v: loss(v, target, **params), x, h)
    assert analytic.shape == np.shape(x)
    assert analytic.dtype == np.float64
    assert_allclose(analytic, numeric, rtol=RTOL, atol=ATOL)


def unreduced(function):
    def call(x, target, **params):
        return function(x, target, reduction="none", **params)

    return call


# ---------------------------------------------------------------- input makers


def residuals_away_from(rng, shape, kinks, margin=0.05, low=0.0, high=3.0):
    """Signed residuals with |r| in [low, high] and |r| at least ``margin`` from every kink."""
    out = np.empty(int(np.prod(shape)))
    filled = 0
    while filled < out.size:
        candidate = rng.uniform(low, high) * rng.choice([-1.0, 1.0])
        if all(abs(abs(candidate) - k) >= margin for k in kinks):
            out[filled] = candidate
            filled += 1
    return out.reshape(shape)


def logits_away_from(rng, shape, kinks, margin=0.05, scale=4.0):
    out = np.empty(int(np.prod(shape)))
    filled = 0
    while filled < out.size:
        candidate = rng.uniform(-scale, scale)
        if all(abs(candidate - k) >= margin for k in kinks):
            out[filled] = candidate
            filled += 1
    return out.reshape(shape)


def probabilities(rng, shape, low=0.05, high=0.95):
    return rng.uniform(low, high, shape)


def distributions(rng, shape):
    return rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])


def one_hot(rng, shape):
    return np.eye(shape[-1])[rng.integers(0, shape[-1], size=shape[:-1])]


@pytest.fixture
def rng(request):
    # a distinct stream per test, reproducible across runs (str hash() is salted)
    return np.random.default_rng(zlib.crc32(request.node.name.encode()))


# ------------------------------------------------------- registry: every spec
#
# Inputs come from atlas_checks.prediction_inputs / logit_inputs: each spec's own story variable
# (residuals, probabilities, rows, box offsets, distances, angles, score margins), away from its
# kinks; parameters at their defaults and, one at a time, at other valid values.


def _case_id(spec, params):
    return f"{spec.key}-{'-'.join(f'{k}={v}' for k, v in params.items()) or 'defaults'}"


REGISTRY_CASES = [
    pytest.param(spec, params, id=_case_id(spec, params))
    for spec in registry.LOSSES
    for params in parameter_sets(spec)
]


@pytest.mark.parametrize(("spec", "params"), REGISTRY_CASES)
def test_registry_prediction_space_gradient_matches_finite_differences(spec, params, rng):
    pred, target, h = prediction_inputs(spec, params, rng)
    assert_gradient_matches(spec.loss, spec.grad, pred, target, h, **params)


@pytest.mark.parametrize(
    ("spec", "params"),
    [case for case in REGISTRY_CASES if case.values[0].loss_from_logit is not None],
)
def test_registry_logit_space_gradient_matches_finite_differences(spec, params, rng):
    z, target = logit_inputs(spec, params, rng)
    assert_gradient_matches(spec.loss_from_logit, spec.grad_from_logit, z, target, H_LOGIT, **params)


@pytest.mark.parametrize("spec", [s for s in registry.LOSSES if s.task == "multiclass"], ids=lambda s: s.key)
def test_registry_logit_space_gradient_matches_finite_differences_for_one_hot_targets(spec, rng):
    z = rng.normal(0.0, 2.0, (5, 4))
    target = one_hot(rng, (5, 4))
    assert_gradient_matches(spec.loss_from_logit, spec.grad_from_logit, z, target, H_LOGIT, **spec.defaults())


def test_every_registry_spec_with_a_logit_link_has_logit_space_functions():
    for spec in registry.LOSSES:
        if spec.link == "identity":
            assert spec.loss_from_logit is None and spec.grad_from_logit is None, spec.key
        else:
            assert callable(spec.loss_from_logit) and callable(spec.grad_from_logit), spec.key


# ------------------------------------------------- public functions, directly


def test_mse_grad_matches_finite_differences(rng):
    pred, target = rng.normal(0, 3, (3, 4)), rng.normal(0, 3, (3, 4))
    assert_gradient_matches(unreduced(losslab.mse), losslab.mse_grad, pred, target, H_LOGIT)


def test_mae_grad_matches_finite_differences_away_from_zero_residual(rng):
    pred = rng.normal(0, 3, (3, 4))
    target = pred - residuals_away_from(rng, (3, 4), [0.0])
    assert_gradient_matches(unreduced(losslab.mae), losslab.mae_grad, pred, target, H_LOGIT)


@pytest.mark.parametrize("delta", [0.05, 0.5, 1.0, 2.5, 100.0])
def test_huber_grad_matches_finite_differences_away_from_its_kinks(delta, rng):
    pred = rng.normal(0, 2, (3, 6))
    margin = min(0.01, delta / 4)
    target = pred - residuals_away_from(rng, (3, 6), [0.0, delta], margin=margin, high=2 * delta + 1)
    assert_gradient_matches(
        unreduced(losslab.huber), losslab.huber_grad, pred, target, min(H_LOGIT, margin / 10), delta=delta
    )


def test_log_cosh_grad_matches_finite_differences_including_large_residuals(rng):
    pred = np.concatenate([rng.normal(0, 3, 8), [25.0, -30.0, 19.99, 20.01, 1e-3]])
    target = np.zeros_like(pred)
    assert_gradient_matches(unreduced(losslab.log_cosh), losslab.log_cosh_grad, pred, target, H_LOGIT)


@pytest.mark.parametrize("tau", [0.01, 0.1, 0.5, 0.73, 0.99])
def test_quantile_grad_matches_finite_differences_away_from_zero_residual(tau, rng):
    pred = rng.normal(0, 2, (3, 5))
    target = pred - residuals_away_from(rng, (3, 5), [0.0])
    assert_gradient_matches(unreduced(losslab.quantile), losslab.quantile_grad, pred, target, H_LOGIT, tau=tau)


@pytest.mark.parametrize("eps", [0.0, 1e-12, 1e-3, 0.04])
@pytest.mark.parametrize("target_kind", ["hard", "soft"])
def test_bce_grad_matches_finite_differences_outside_the_clip_region(eps, target_kind, rng):
    prob = probabilities(rng, (3, 5))
    target = rng.integers(0, 2, (3, 5)).astype(float) if target_kind == "hard" else rng.uniform(0, 1, (3, 5))
    assert_gradient_matches(unreduced(losslab.bce), losslab.bce_grad, prob, target, H_PROB, eps=eps)


@pytest.mark.parametrize("target_kind", ["hard", "soft"])
def test_bce_with_logits_grad_matches_finite_differences(target_kind, rng):
    z = rng.uniform(-8, 8, (3, 5))
    target = rng.integers(0, 2, (3, 5)).astype(float) if target_kind == "hard" else rng.uniform(0, 1, (3, 5))
    assert_gradient_matches(unreduced(losslab.bce_with_logits), losslab.bce_with_logits_grad, z, target, H_LOGIT)


def test_sigmoid_mse_grad_matches_finite_differences(rng):
    z = rng.uniform(-6, 6, (3, 5))
    target = rng.uniform(0, 1, (3, 5))
    assert_gradient_matches(unreduced(losslab.sigmoid_mse), losslab.sigmoid_mse_grad, z, target, H_LOGIT)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("alpha", [None, 0.0, 0.25, 1.0])
@pytest.mark.parametrize("target_kind", ["hard", "soft"])
def test_focal_grad_matches_finite_differences(gamma, alpha, target_kind, rng):
    z = rng.uniform(-5, 5, (3, 6))
    target = rng.integers(0, 2, (3, 6)).astype(float) if target_kind == "hard" else rng.uniform(0, 1, (3, 6))
    assert_gradient_matches(
        unreduced(losslab.focal), losslab.focal_grad, z, target, H_LOGIT, gamma=gamma, alpha=alpha
    )


def test_hinge_grad_matches_finite_differences_away_from_the_margin(rng):
    score = logits_away_from(rng, (3, 6), [-1.0, 1.0], scale=3.0)
    target = rng.choice([-1.0, 1.0], (3, 6))
    assert_gradient_matches(unreduced(losslab.hinge), losslab.hinge_grad, score, target, H_LOGIT)


@pytest.mark.parametrize("axis", [-1, 0])
def test_cross_entropy_grad_matches_finite_differences_for_soft_targets(axis, rng):
    z = rng.normal(0, 2, (4, 3))
    target = distributions(rng, (3, 4)).T if axis == 0 else distributions(rng, (4, 3))
    assert_gradient_matches(
        unreduced(losslab.cross_entropy), losslab.cross_entropy_grad, z, target, H_LOGIT, axis=axis
    )


@pytest.mark.parametrize("axis", [-1, 0])
def test_cross_entropy_grad_matches_finite_differences_for_index_targets(axis, rng):
    z = rng.normal(0, 2, (4, 3))
    classes = z.shape[axis]
    indices = rng.integers(0, classes, z.shape[1 - axis % 2])
    assert_gradient_matches(
        unreduced(losslab.cross_entropy), losslab.cross_entropy_grad, z, indices, H_LOGIT, axis=axis
    )


def test_cross_entropy_grad_matches_finite_differences_for_unnormalised_targets(rng):
    # the documented general form p * sum(y) - y
    z = rng.normal(0, 2, (4, 3))
    target = rng.uniform(0, 1, (4, 3))
    assert_gradient_matches(unreduced(losslab.cross_entropy), losslab.cross_entropy_grad, z, target, H_LOGIT)


def test_cross_entropy_from_probs_grad_matches_finite_differences(rng):
    prob, target = probabilities(rng, (4, 3)), distributions(rng, (4, 3))
    assert_gradient_matches(
        unreduced(losslab.cross_entropy_from_probs), losslab.cross_entropy_from_probs_grad, prob, target, H_PROB
    )


def test_kl_divergence_grad_matches_finite_differences(rng):
    prob, target = probabilities(rng, (4, 3)), distributions(rng, (4, 3))
    target[0] = [0.0, 0.3, 0.7]  # a zero-probability target class
    assert_gradient_matches(unreduced(losslab.kl_divergence), losslab.kl_divergence_grad, prob, target, H_PROB)


@pytest.mark.parametrize("target_kind", ["soft", "one_hot", "indices"])
def test_kl_divergence_with_logits_grad_matches_finite_differences(target_kind, rng):
    z = rng.normal(0, 2, (4, 3))
    target = {
        "soft": distributions(rng, (4, 3)),
        "one_hot": one_hot(rng, (4, 3)),
        "indices": rng.integers(0, 3, 4),
    }[target_kind]
    assert_gradient_matches(
        unreduced(losslab.kl_divergence_with_logits), losslab.kl_divergence_with_logits_grad, z, target, H_LOGIT
    )


def test_brier_grad_matches_finite_differences(rng):
    prob, target = probabilities(rng, (4, 3)), distributions(rng, (4, 3))
    assert_gradient_matches(unreduced(losslab.brier), losslab.brier_grad, prob, target, H_PROB)


@pytest.mark.parametrize("axis", [-1, 0])
def test_brier_with_logits_grad_matches_finite_differences(axis, rng):
    z = rng.normal(0, 2, (4, 3))
    target = one_hot(rng, (3, 4)).T if axis == 0 else one_hot(rng, (4, 3))
    assert_gradient_matches(
        unreduced(losslab.brier_with_logits), losslab.brier_with_logits_grad, z, target, H_LOGIT, axis=axis
    )


# ---------------------------------------------- gradients of broadcast arguments


@pytest.mark.parametrize(
    ("loss", "grad", "pred_shape", "target_shape", "maker"),
    [
        (losslab.mse, losslab.mse_grad, (3,), (4, 3), "real"),
        (losslab.mse, losslab.mse_grad, (4, 1), (4, 3), "real"),
        (losslab.log_cosh, losslab.log_cosh_grad, (1, 3), (4, 3), "real"),
        (losslab.bce_with_logits, losslab.bce_with_logits_grad, (3,), (4, 3), "unit"),
        (losslab.focal, losslab.focal_grad, (4, 1), (4, 3), "unit"),
        (losslab.sigmoid_mse, losslab.sigmoid_mse_grad, (3,), (2, 4, 3), "unit"),
        (losslab.bce, losslab.bce_grad, (1, 3), (4, 3), "unit"),
        (losslab.cross_entropy, losslab.cross_entropy_grad, (3,), (4, 3), "distribution"),
        (losslab.brier_with_logits, losslab.brier_with_logits_grad, (1, 3), (4, 3), "distribution"),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_gradient_of_a_broadcast_prediction_is_summed_back_to_its_shape(
    loss, grad, pred_shape, target_shape, maker, rng
):
    if loss is losslab.bce:
        pred, h = probabilities(rng, pred_shape), H_PROB
    else:
        pred, h = rng.normal(0, 1.5, pred_shape), H_LOGIT
    target = {
        "real": rng.normal(0, 1.5, target_shape),
        "unit": rng.uniform(0, 1, target_shape),
        "distribution": distributions(rng, target_shape),
    }[maker]
    assert_gradient_matches(unreduced(loss), grad, pred, target, h)


# ------------------------------------------------------ activations and links


def test_logsumexp_gradient_is_the_softmax(rng):
    z = rng.normal(0, 3, (3, 5))
    numeric = central_difference(lambda v: losslab.logsumexp(v, axis=-1), z, H_LOGIT)
    assert_allclose(losslab.softmax(z), numeric, rtol=RTOL, atol=ATOL)


def test_softplus_gradient_is_the_sigmoid_and_log_sigmoid_gradient_is_sigmoid_of_minus_z(rng):
    z = rng.uniform(-10, 10, 12)
    assert_allclose(losslab.sigmoid(z), central_difference(losslab.softplus, z, H_LOGIT), rtol=RTOL, atol=ATOL)
    assert_allclose(
        losslab.sigmoid(-z), central_difference(losslab.log_sigmoid, z, H_LOGIT), rtol=RTOL, atol=ATOL
    )


def test_sigmoid_gradient_is_sigmoid_times_one_minus_sigmoid(rng):
    z = rng.uniform(-10, 10, 12)
    s = losslab.sigmoid(z)
    assert_allclose(s * (1 - s), central_difference(losslab.sigmoid, z, H_LOGIT), rtol=RTOL, atol=ATOL)


def test_logit_gradient_is_one_over_p_times_one_minus_p(rng):
    p = probabilities(rng, 12)
    assert_allclose(1 / (p * (1 - p)), central_difference(losslab.logit, p, H_PROB), rtol=RTOL, atol=ATOL)


def _weighted_square(weights):
    """An arbitrary smooth probability-space loss sum(w p^2) and its gradient 2 w p."""
    return (lambda p: np.sum(weights * p**2)), (lambda p: 2 * weights * p)


@pytest.mark.parametrize("probability_loss", ["mse", "bce", "weighted_square"])
def test_sigmoid_chain_matches_finite_differences_of_the_composed_loss(probability_loss, rng):
    z = rng.uniform(-5, 5, (3, 4))
    target = rng.uniform(0, 1, (3, 4))
    if probability_loss == "mse":
        loss_p, grad_p = (lambda p: losslab.mse(p, target, reduction="sum")), (lambda p: losslab.mse_grad(p, target))
    elif probability_loss == "bce":
        loss_p = lambda p: losslab.bce(p, target, eps=0.0, reduction="sum")  # noqa: E731
        grad_p = lambda p: losslab.bce_grad(p, target, eps=0.0)  # noqa: E731
    else:
        loss_p, grad_p = _weighted_square(rng.normal(0, 1, (3, 4)))
    analytic = links.sigmoid_chain(grad_p(losslab.sigmoid(z)), z)
    numeric = central_difference(lambda v: loss_p(losslab.sigmoid(v)), z, H_LOGIT)
    assert_allclose(analytic, numeric, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("probability_loss", ["cross_entropy", "kl", "brier", "weighted_square"])
@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_chain_matches_finite_differences_of_the_composed_loss(probability_loss, axis, rng):
    z = rng.normal(0, 2, (4, 3))
    target = distributions(rng, (3, 4)).T if axis == 0 else distributions(rng, (4, 3))
    if probability_loss == "cross_entropy":
        loss_p = lambda p: losslab.cross_entropy_from_probs(p, target, axis=axis, reduction="sum")  # noqa: E731
        grad_p = lambda p: losslab.cross_entropy_from_probs_grad(p, target, axis=axis)  # noqa: E731
    elif probability_loss == "kl":
        loss_p = lambda p: losslab.kl_divergence(p, target, axis=axis, reduction="sum")  # noqa: E731
        grad_p = lambda p: losslab.kl_divergence_grad(p, target, axis=axis)  # noqa: E731
    elif probability_loss == "brier":
        loss_p = lambda p: losslab.brier(p, target, axis=axis, reduction="sum")  # noqa: E731
        grad_p = lambda p: losslab.brier_grad(p, target, axis=axis)  # noqa: E731
    else:
        loss_p, grad_p = _weighted_square(rng.normal(0, 1, (4, 3)))
    analytic = links.softmax_chain(grad_p(losslab.softmax(z, axis=axis)), z, axis=axis)
    numeric = central_difference(lambda v: loss_p(losslab.softmax(v, axis=axis)), z, H_LOGIT)
    assert_allclose(analytic, numeric, rtol=RTOL, atol=ATOL)


def test_softmax_chain_of_cross_entropy_equals_cross_entropy_grad(rng):
    z = rng.normal(0, 2, (5, 4))
    target = distributions(rng, (5, 4))
    chained = links.softmax_chain(losslab.cross_entropy_from_probs_grad(losslab.softmax(z), target), z)
    assert_allclose(chained, losslab.cross_entropy_grad(z, target), rtol=1e-10, atol=1e-14)
