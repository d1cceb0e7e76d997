"""float32 in gives float32 out; ints, bools, lists and Python scalars compute in float64."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

import losslab
from losslab import links, registry

from .atlas_checks import logit_inputs, prediction_inputs

F32 = np.float32


def _cases(dtype):
    """(name, loss, grad, first, second, params) for every public loss, inputs in ``dtype``."""
    rng = np.random.default_rng(0)
    real = rng.normal(size=(3, 4)).astype(dtype)
    real2 = rng.normal(size=(3, 4)).astype(dtype)
    prob = rng.uniform(0.05, 0.95, (3, 4)).astype(dtype)
    label = rng.uniform(0, 1, (3, 4)).astype(dtype)
    sign = rng.choice([-1.0, 1.0], (3, 4)).astype(dtype)
    dist = rng.dirichlet(np.ones(4), size=3).astype(dtype)
    dist2 = rng.dirichlet(np.ones(4), size=3).astype(dtype)
    return [
        ("mse", losslab.mse, losslab.mse_grad, real, real2, {}),
        ("mae", losslab.mae, losslab.mae_grad, real, real2, {}),
        ("huber", losslab.huber, losslab.huber_grad, real, real2, {"delta": 0.5}),
        ("log_cosh", losslab.log_cosh, losslab.log_cosh_grad, real * 30, real2, {}),
        ("quantile", losslab.quantile, losslab.quantile_grad, real, real2, {"tau": 0.3}),
        ("bce", losslab.bce, losslab.bce_grad, prob, label, {}),
        ("bce_with_logits", losslab.bce_with_logits, losslab.bce_with_logits_grad, real, label, {}),
        ("sigmoid_mse", losslab.sigmoid_mse, losslab.sigmoid_mse_grad, real, label, {}),
        ("focal", losslab.focal, losslab.focal_grad, real, label, {"gamma": 0.5, "alpha": 0.25}),
        ("hinge", losslab.hinge, losslab.hinge_grad, real, sign, {}),
        ("cross_entropy", losslab.cross_entropy, losslab.cross_entropy_grad, real, dist, {}),
        ("cross_entropy_index", losslab.cross_entropy, losslab.cross_entropy_grad, real, np.array([0, 3, 1]), {}),
        ("cross_entropy_from_probs", losslab.cross_entropy_from_probs, losslab.cross_entropy_from_probs_grad, dist2, dist, {}),
        ("kl_divergence", losslab.kl_divergence, losslab.kl_divergence_grad, dist2, dist, {}),
        ("kl_divergence_with_logits", losslab.kl_divergence_with_logits, losslab.kl_divergence_with_logits_grad, real, dist, {}),
        ("brier", losslab.brier, losslab.brier_grad, dist2, dist, {}),
        ("brier_with_logits", losslab.brier_with_logits, losslab.brier_with_logits_grad, real, dist, {}),
    ]


FLOAT32_CASES = _cases(F32)
CASE_IDS = [case[0] for case in FLOAT32_CASES]


@pytest.mark.parametrize(("name", "loss", "grad", "first", "second", "params"), FLOAT32_CASES, ids=CASE_IDS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_float32_inputs_give_a_float32_loss(name, loss, grad, first, second, params, reduction):
    result = loss(first, second, reduction=reduction, **params)
    assert result.dtype == F32, (name, reduction, result.dtype)


@pytest.mark.parametrize(("name", "loss", "grad", "first", "second", "params"), FLOAT32_CASES, ids=CASE_IDS)
def test_float32_inputs_give_a_float32_gradient_of_the_same_shape(name, loss, grad, first, second, params):
    result = grad(first, second, **params)
    assert result.dtype == F32, (name, result.dtype)
    assert result.shape == first.shape


@pytest.mark.parametrize(("name", "loss", "grad", "first", "second", "params"), FLOAT32_CASES, ids=CASE_IDS)
def test_float32_results_are_close_to_the_float64_results(name, loss, grad, first, second, params):
    as64 = second.astype(np.float64) if second.dtype.kind == "f" else second
    assert_allclose(loss(first, second, **params), loss(first.astype(np.float64), as64, **params), rtol=2e-5)
    assert_allclose(
        grad(first, second, **params), grad(first.astype(np.float64), as64, **params), rtol=1e-4, atol=1e-6
    )


@pytest.mark.parametrize(("name", "loss", "grad", "first", "second", "params"), _cases(np.float64), ids=CASE_IDS)
def test_float64_inputs_give_float64_results(name, loss, grad, first, second, params):
    assert loss(first, second, **params).dtype == np.float64
    assert grad(first, second, **params).dtype == np.float64


@pytest.mark.parametrize(
    "function",
    [losslab.sigmoid, losslab.log_sigmoid, losslab.softplus, losslab.softmax, losslab.log_softmax,
     losslab.logsumexp, losslab.softmax_naive],
    ids=lambda f: f.__name__,
)
def test_activations_keep_float32_and_compute_ints_and_lists_in_float64(function):
    z32 = np.array([[-3.0, 0.0, 2.5], [100.0, -100.0, 1.0]], dtype=F32)
    assert function(z32).dtype == F32
    assert np.asarray(function([[-3, 0, 2], [1, 2, 3]])).dtype == np.float64
    assert np.asarray(function(np.array([1, 2, 3], dtype=np.int32))).dtype == np.float64
    assert np.asarray(function([True, False])).dtype == np.float64


def test_logit_keeps_float32_and_computes_lists_in_float64():
    assert losslab.logit(np.array([0.25, 0.5], dtype=F32)).dtype == F32
    assert np.asarray(losslab.logit([0.25, 0.5])).dtype == np.float64
    assert np.asarray(losslab.logit(0)).dtype == np.float64


def test_elementwise_activations_of_python_scalars_are_float64_scalars():
    for function in (losslab.sigmoid, losslab.log_sigmoid, losslab.softplus):
        value = function(1)
        assert np.ndim(value) == 0 and np.asarray(value).dtype == np.float64


def test_links_keep_float32():
    z = np.array([[0.5, -1.0, 2.0]], dtype=F32)
    g = np.array([[1.0, 2.0, 3.0]], dtype=F32)
    assert links.sigmoid_chain(g, z).dtype == F32
    assert links.softmax_chain(g, z).dtype == F32
    assert np.asarray(links.sigmoid_chain([1, 2], [0, 1])).dtype == np.float64
    assert np.asarray(links.softmax_chain([1, 2], [0, 1])).dtype == np.float64


def _int_cases():
    return [
        (losslab.mse, losslab.mse_grad, [1, 2, 3], [0, 2, 5], {}),
        (losslab.mae, losslab.mae_grad, [1, 2, 3], [0, 2, 5], {}),
        (losslab.huber, losslab.huber_grad, [1, 2, 3], [0, 2, 5], {}),
        (losslab.log_cosh, losslab.log_cosh_grad, [1, 2, 3], [0, 2, 5], {}),
        (losslab.quantile, losslab.quantile_grad, [1, 2, 3], [0, 2, 5], {}),
        (losslab.bce, losslab.bce_grad, [0, 1, 1], [0, 1, 0], {}),
        (losslab.bce_with_logits, losslab.bce_with_logits_grad, [1, -2, 3], [True, False, True], {}),
        (losslab.sigmoid_mse, losslab.sigmoid_mse_grad, [1, -2, 3], [1, 0, 1], {}),
        (losslab.focal, losslab.focal_grad, [1, -2, 3], [1, 0, 1], {}),
        (losslab.hinge, losslab.hinge_grad, [1, -2, 3], [1, -1, -1], {}),
        (losslab.cross_entropy, losslab.cross_entropy_grad, [[1, 2, 3]], [[0, 0, 1]], {}),
        (losslab.cross_entropy, losslab.cross_entropy_grad, [[1, 2, 3], [0, 0, 0]], [2, 0], {}),
        (losslab.cross_entropy_from_probs, losslab.cross_entropy_from_probs_grad, [[0, 1]], [[0, 1]], {}),
        (losslab.kl_divergence, losslab.kl_divergence_grad, [[0, 1]], [[0, 1]], {}),
        (losslab.kl_divergence_with_logits, losslab.kl_divergence_with_logits_grad, [[1, 2]], [[0, 1]], {}),
        (losslab.brier, losslab.brier_grad, [[0, 1]], [[1, 0]], {}),
        (losslab.brier_with_logits, losslab.brier_with_logits_grad, [[1, 2]], [[1, 0]], {}),
    ]


@pytest.mark.parametrize(("loss", "grad", "first", "second", "params"), _int_cases(), ids=lambda v: getattr(v, "__name__", ""))
def test_int_and_list_inputs_compute_in_float64(loss, grad, first, second, params):
    assert np.asarray(loss(first, second, **params)).dtype == np.float64
    assert np.asarray(loss(first, second, reduction="none", **params)).dtype == np.float64
    result = np.asarray(grad(first, second, **params))
    assert result.dtype == np.float64
    assert result.shape == np.shape(first)


def test_python_scalar_inputs_give_float64_scalars():
    for value in (
        losslab.mse(1, 2), losslab.mse_grad(1, 2), losslab.huber(3, 0.5), losslab.bce(0.5, 1),
        losslab.bce_with_logits(2, 1), losslab.focal(2.0, 0), losslab.focal_grad(2.0, 0),
        losslab.hinge(0.5, -1), losslab.quantile(1, 2, reduction="none"),
    ):
        assert np.ndim(value) == 0
        assert np.asarray(value).dtype == np.float64
    assert losslab.mse(1, 3) == 4.0
    assert losslab.mse_grad(1, 3) == -4.0


def test_float32_prediction_with_python_list_target_stays_float32():
    pred = np.array([0.5, 1.5], dtype=F32)
    assert losslab.mse(pred, [1, 2]).dtype == F32
    assert losslab.bce_with_logits_grad(pred, [1, 0]).dtype == F32
    assert losslab.cross_entropy(np.array([[0.5, 1.5]], dtype=F32), [1]).dtype == F32


def test_float32_mixed_with_float64_promotes_to_float64():
    assert losslab.mse(np.ones(2, F32), np.ones(2)).dtype == np.float64


@pytest.mark.parametrize("spec", registry.LOSSES, ids=lambda s: s.key)
def test_registry_functions_keep_float32(spec):
    """float32 in, float32 out, for every registry function, close to the float64 result."""
    params = spec.defaults()
    rng = np.random.default_rng(8)
    pairs = [(spec.loss, spec.grad, *prediction_inputs(spec, params, rng)[:2])]
    if spec.loss_from_logit is not None:
        pairs.append((spec.loss_from_logit, spec.grad_from_logit, *logit_inputs(spec, params, rng)))
    for loss, grad, x, target in pairs:
        x32, target32 = x.astype(F32), target.astype(F32)
        value, gradient = np.asarray(loss(x32, target32, **params)), np.asarray(grad(x32, target32, **params))
        assert value.dtype == F32, (spec.key, loss, value.dtype)
        assert gradient.dtype == F32, (spec.key, grad, gradient.dtype)
        assert gradient.shape == x.shape
        as64 = x32.astype(np.float64), target32.astype(np.float64)
        assert_allclose(value, loss(*as64, **params), rtol=1e-4, atol=1e-5, err_msg=spec.key)
        assert_allclose(gradient, grad(*as64, **params), rtol=1e-3, atol=1e-4, err_msg=spec.key)


@pytest.mark.parametrize("spec", registry.LOSSES, ids=lambda s: s.key)
def test_registry_functions_compute_lists_in_float64(spec):
    params = spec.defaults()
    x, target, _ = prediction_inputs(spec, params, np.random.default_rng(9))
    assert np.asarray(spec.loss(x.tolist(), target.tolist(), **params)).dtype == np.float64
    assert np.asarray(spec.grad(x.tolist(), target.tolist(), **params)).dtype == np.float64
