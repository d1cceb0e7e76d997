"""The curves drawn from the core's private kernels are bit for bit the public functions' curves.

``curves.py`` calls unchecked kernels (and caches curves) for the regression and
binary losses. The expected arrays here come from the registry's public
functions, called the way the dashboard called them before: loss and gradient
separately, each validating its input. Every registry loss of the swept tasks
is compared at several parameter values and targets, on both binary axes,
with ``np.array_equal`` (and equal signs of zeros), twice: the second call
answers from the cache.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from losslab import registry
from losslab.activations import logit, sigmoid, softmax, softmax_naive
from losslab.dashboard import curves

REGRESSION_KEYS = [s.key for s in registry.for_task("regression")]
BINARY_KEYS = [s.key for s in registry.for_task("binary")]
MULTICLASS_KEYS = [s.key for s in registry.for_task("multiclass")]
PARAMETER_SETS = [
    {},  # the defaults
    {"delta": 0.05, "tau": 0.01, "gamma": 0.0, "beta": 0.05, "var": 0.01},
    {"delta": 10.0, "tau": 0.99, "gamma": 5.0, "beta": 10.0, "var": 100.0},
    {"delta": 1.3, "tau": 0.3, "gamma": 0.5},
]


@pytest.fixture(autouse=True)
def _empty_cache():
    curves.cache_clear()
    yield
    curves.cache_clear()


def identical(actual, expected) -> bool:
    actual, expected = np.asarray(actual), np.asarray(expected)
    return (actual.dtype == expected.dtype and actual.shape == expected.shape
            and np.array_equal(actual, expected, equal_nan=True)
            and np.array_equal(np.signbit(actual), np.signbit(expected)))


def public_raw(spec, x, target, params):
    values = {p.name: params.get(p.name, p.default) for p in spec.parameters}
    loss_function, grad_function = curves.raw_functions(spec)
    return np.asarray(loss_function(x, target, **values)), np.asarray(grad_function(x, target, **values))


def public_binary(spec, x, axis, target, params):
    """(loss, dL/dx, dL/dz) from the registry's functions, as the dashboard computed them before."""
    values = {p.name: params.get(p.name, p.default) for p in spec.parameters}
    logits = x if axis == "logit" else logit(x)
    # on the probability axis the loss at p itself (BCE unclipped, as drawn)
    loss = np.asarray(spec.loss_from_logit(logits, target, **values) if axis == "logit"
                      else spec.loss(x, target, **values, **({"eps": 0.0} if spec.key == "bce" else {})))
    grad_logit = np.asarray(spec.grad_from_logit(logits, target, **values))
    grad = grad_logit if axis == "logit" else np.asarray(spec.grad(x, target, **values))
    return loss, grad, grad_logit


@pytest.mark.parametrize("params", PARAMETER_SETS)
@pytest.mark.parametrize(("target", "include"), [(0.0, None), (-0.0, 1.5), (0.5, 9.0), (-3.25, -3.25), (4.0, 1e6)])
def test_regression_sweeps_and_points_equal_the_public_functions(target, include, params):
    for attempt in ("computed", "cached"):
        swept = curves.sweep_regression(target, REGRESSION_KEYS, params, include=include)
        assert [c.key for c in swept] == REGRESSION_KEYS
        for curve in swept:
            spec = registry.get(curve.key)
            loss, grad = public_raw(spec, curve.grid.values(), target, params)
            assert identical(curve.loss, loss), (attempt, curve.key)
            assert identical(curve.grad, grad), (attempt, curve.key)
            assert identical(curve.grad_logit, grad), (attempt, curve.key)
    prediction = 1.5 if include is None else include
    for row in curves.regression_point(prediction, target, REGRESSION_KEYS, params):
        loss, grad = public_raw(registry.get(row.key), prediction, target, params)
        assert identical(row.loss, float(loss)) and identical(row.grad_prediction, float(grad)), row.key
        assert identical(row.grad_logit, float(grad)), row.key


@pytest.mark.parametrize("params", PARAMETER_SETS)
@pytest.mark.parametrize("axis", ["prob", "logit"])
@pytest.mark.parametrize("target", [0.0, 1.0, 0.3, 0.999])
def test_binary_sweeps_equal_the_public_functions(target, axis, params):
    keys = [k for k in BINARY_KEYS if not (registry.get(k).hard_labels_only and target not in (0.0, 1.0))]
    include = {"prob": 0.999999, "logit": 12.0}[axis]
    for attempt in ("computed", "cached"):
        for curve in curves.sweep_binary(target, axis, keys, params, include=include):
            expected = public_binary(registry.get(curve.key), curve.grid.values(), axis, target, params)
            for name, got, want in zip(("loss", "grad", "grad_logit"),
                                       (curve.loss, curve.grad, curve.grad_logit), expected, strict=True):
                assert identical(got, want), (attempt, curve.key, name)


@pytest.mark.parametrize("params", PARAMETER_SETS[:3])
@pytest.mark.parametrize("target", [0.0, 1.0, 0.3])
@pytest.mark.parametrize(("axis", "point"), [("prob", 0.5), ("prob", 0.99), ("prob", 1e-9), ("prob", 1 - 1e-12),
                                             ("logit", 0.0), ("logit", -7.0), ("logit", 40.0), ("logit", 800.0)])
def test_binary_points_equal_the_public_functions(point, target, axis, params):
    keys = [k for k in BINARY_KEYS if not (registry.get(k).hard_labels_only and target not in (0.0, 1.0))]
    z = float(point if axis == "logit" else logit(point))
    p = float(sigmoid(z)) if axis == "logit" else point
    for row in curves.binary_point(point, axis, target, keys, params):
        spec = registry.get(row.key)
        values = {q.name: params.get(q.name, q.default) for q in spec.parameters}
        loss = (spec.loss_from_logit(z, target, **values) if axis == "logit" or not 0 < p < 1
                else spec.loss(p, target, **values, **({"eps": 0.0} if spec.key == "bce" else {})))
        assert identical(row.loss, float(loss)), row.key
        assert identical(row.grad_logit, float(spec.grad_from_logit(z, target, **values))), row.key
        expected = float(spec.grad(p, target, **values)) if 0 < p < 1 else math.nan
        assert identical(row.grad_prediction, expected), row.key


@pytest.mark.parametrize("params", [{}, {"class_weight": 0.0, "label_smoothing": 0.5}, {"class_weight": 20.0}])
@pytest.mark.parametrize(("logits", "true_class", "temperature", "swept", "smoothing"), [
    ([2.0, 1.0, 0.5, -1.0], 0, 1.0, 0, 0.0),
    ([2.0, 1.0, 0.5, -1.0], 2, 0.05, 1, 0.1),
    ([30.0, -30.0, 0.0], 1, 3.0, 2, 0.0),
    ([800.0, 0.0, -5.0], 0, 1.0, 1, 0.0),  # the naive softmax overflows
    ([0.0, -0.0], 1, 1.0, 0, 0.0),
])
def test_multiclass_sweeps_and_points_equal_the_public_functions(logits, true_class, temperature, swept,
                                                                  smoothing, params):
    logits = np.array(logits)
    target = curves.smoothed_target(true_class, logits.size, smoothing)
    for attempt in ("computed", "cached"):
        swept_curves = curves.sweep_multiclass(logits, true_class, temperature, swept, MULTICLASS_KEYS, smoothing,
                                               params)
        for curve in swept_curves:
            spec = registry.get(curve.key)
            values = {p.name: params.get(p.name, p.default) for p in spec.parameters}
            batch = np.repeat(logits[None, :], curve.grid.count, axis=0)
            batch[:, swept] = curve.grid.values()
            scaled = batch / temperature
            loss = np.asarray(spec.loss_from_logit(scaled, target, **values))
            grad = np.asarray(spec.grad_from_logit(scaled, target, **values))[:, swept] / temperature
            assert identical(curve.loss, loss) and identical(curve.grad, grad), (attempt, curve.key)
            assert identical(curve.grad_logit, grad), (attempt, curve.key)
        rows = curves.multiclass_point(logits, true_class, temperature, swept, MULTICLASS_KEYS, smoothing, params)
        scaled = logits / temperature
        for row in rows:
            spec = registry.get(row.key)
            values = {p.name: params.get(p.name, p.default) for p in spec.parameters}
            assert identical(row.loss, float(spec.loss_from_logit(scaled, target, **values))), row.key
            expected = float(np.asarray(spec.grad(softmax(scaled), target, **values))[swept])
            assert identical(row.grad_prediction, expected), row.key
            expected = float(np.asarray(spec.grad_from_logit(scaled, target, **values))[swept] / temperature)
            assert identical(row.grad_logit, expected), row.key
        state = curves.softmax_state(logits, true_class, temperature, smoothing)
        spec = registry.get("cross_entropy")
        assert identical(state.logits, logits) and identical(state.probabilities, softmax(scaled))
        assert identical(state.naive_probabilities, softmax_naive(scaled))
        assert identical(state.grad_logit, spec.grad_from_logit(scaled, target) / temperature)
        assert identical(state.loss, float(spec.loss_from_logit(scaled, target)))
        assert (state.temperature, state.true_class) == (temperature, true_class)


def test_cached_curves_are_read_only_and_keyed_by_every_input():
    first = {c.key: c for c in curves.sweep_regression(0.5, ["huber", "mse"], {"delta": 1.0})}
    with pytest.raises(ValueError, match="read-only"):
        first["huber"].loss[0] = 1.0
    again = {c.key: c for c in curves.sweep_regression(0.5, ["huber", "mse"], {"delta": 1.0})}
    assert again["huber"] is first["huber"]  # a revisited value is a lookup
    other = {c.key: c for c in curves.sweep_regression(0.5, ["huber", "mse"], {"delta": 2.0})}
    assert other["mse"] is first["mse"]  # delta is not an MSE parameter
    assert not np.array_equal(other["huber"].loss, first["huber"].loss)
    # -0.0 == 0.0 as a key, but the zero residual at x = -0.0 keeps the sign the public function gives it
    grid = curves.Grid(-0.0, 0.5, 3)
    for target in (0.0, -0.0):
        (curve,) = curves.sweep_raw(grid, target, ["mse"], {})
        assert identical(curve.grad, public_raw(registry.get("mse"), grid.values(), target, {})[1])
    plain, scaled = (curves.sweep_binary(1.0, "logit", ["focal"], {"gamma": g})[0] for g in (0.0, 2.0))
    assert not np.array_equal(plain.loss, scaled.loss)
    logits = np.array([2.0, 1.0, 0.5])
    (ce,) = curves.sweep_multiclass(logits, 0, 1.0, 0, ["cross_entropy"])
    with pytest.raises(ValueError, match="read-only"):
        ce.grad[0] = 1.0
    logits[1] = 1.5  # the caller changing its array afterwards changes nothing cached
    (moved,) = curves.sweep_multiclass(logits, 0, 1.0, 0, ["cross_entropy"])
    assert moved is not ce and not np.array_equal(moved.loss, ce.loss)
    assert curves.sweep_multiclass([2.0, 1.0, 0.5], 0, 1.0, 0, ["cross_entropy"])[0] is ce
    for changed in ((1, 1.0, 0, 0.0), (0, 2.0, 0, 0.0), (0, 1.0, 1, 0.0), (0, 1.0, 0, 0.2)):
        true_class, temperature, swept, smoothing = changed
        (other,) = curves.sweep_multiclass([2.0, 1.0, 0.5], true_class, temperature, swept, ["cross_entropy"],
                                           smoothing)
        assert other is not ce, changed


@pytest.mark.parametrize(("call", "named"), [
    (lambda: curves.sweep_regression(0.0, ["huber"], {"delta": -1.0}), "delta"),
    (lambda: curves.regression_point(1.0, 0.0, ["quantile"], {"tau": 1.5}), "tau"),
    (lambda: curves.sweep_binary(1.0, "logit", ["focal"], {"gamma": -2.0}), "gamma"),
    (lambda: curves.sweep_binary(1.5, "logit", ["bce"], {}), "target"),
    (lambda: curves.binary_point(0.3, "prob", 0.5, ["hinge"], {}), "hinge labels"),
])
def test_values_the_controls_would_refuse_still_raise_a_value_error(call, named):
    with pytest.raises(ValueError, match=named):
        call()
