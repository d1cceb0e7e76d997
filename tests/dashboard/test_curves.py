"""Sweeps, grids and point readouts of ``losslab.curves``.

Expected values come from closed forms written in this file (numpy only) or,
where the brief asks for it, from the registry functions evaluated at the
grid points; never from pasted outputs of ``curves`` itself.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from losslab import registry
from losslab.dashboard import curves

REGRESSION_KEYS = [s.key for s in registry.for_task("regression")]
BINARY_KEYS = [s.key for s in registry.for_task("binary")]
MULTICLASS_KEYS = [s.key for s in registry.for_task("multiclass")]


# ---------------------------------------------------------------- references


def ref_regression(key: str, yhat, y, delta=1.0, tau=0.5, beta=1.0, var=1.0):
    """(loss, dL/dŷ) from the textbook formulas."""
    r = np.asarray(yhat, dtype=np.float64) - y
    if key == "mse":
        return r**2, 2 * r
    if key == "mae":
        return np.abs(r), np.sign(r)
    if key == "huber":
        small = np.abs(r) <= delta
        return np.where(small, 0.5 * r**2, delta * (np.abs(r) - 0.5 * delta)), np.clip(r, -delta, delta)
    if key == "log_cosh":
        return np.log(np.cosh(r)), np.tanh(r)
    if key == "quantile":
        e = y - np.asarray(yhat, dtype=np.float64)
        return np.maximum(tau * e, (tau - 1) * e), np.where(r < 0, -tau, 1 - tau)
    if key == "smooth_l1":  # Girshick 2015 (Fast R-CNN), PyTorch's beta
        small = np.abs(r) < beta
        return np.where(small, 0.5 * r**2 / beta, np.abs(r) - 0.5 * beta), np.where(small, r / beta, np.sign(r))
    if key == "gaussian_nll":  # PyTorch's gaussian_nll_loss, full=False
        return 0.5 * (np.log(var) + r**2 / var), r / var
    raise KeyError(key)


def sig(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def ref_binary_loss(key: str, z, y, gamma=2.0):
    """Binary loss as a function of the logit z (textbook forms)."""
    z = np.asarray(z, dtype=np.float64)
    p = sig(z)
    bce = np.logaddexp(0.0, z) - y * z
    if key == "bce":
        return bce
    if key == "sigmoid_mse":
        return (p - y) ** 2
    if key == "focal":
        miss = y * (1 - p) + (1 - y) * p  # 1 - p_t
        return bce * miss**gamma
    if key == "hinge":
        t = 2 * y - 1
        return np.maximum(0.0, 1 - t * z)
    if key == "squared_hinge":
        t = 2 * y - 1
        return np.maximum(0.0, 1 - t * z) ** 2
    if key == "exponential":
        t = 2 * y - 1
        return np.exp(-t * z)
    raise KeyError(key)


def ref_binary_grad_logit(key: str, z, y, gamma=2.0):
    z = np.asarray(z, dtype=np.float64)
    p = sig(z)
    if key == "bce":
        return p - y
    if key == "sigmoid_mse":
        return 2 * (p - y) * p * (1 - p)
    if key == "hinge":
        t = 2 * y - 1
        return np.where(t * z < 1, -t, 0.0)
    if key == "squared_hinge":
        t = 2 * y - 1
        return -2 * t * np.maximum(0.0, 1 - t * z)
    if key == "exponential":
        t = 2 * y - 1
        return -t * np.exp(-t * z)
    # focal: central finite difference of the closed form
    h = 1e-6
    return (ref_binary_loss(key, z + h, y, gamma) - ref_binary_loss(key, z - h, y, gamma)) / (2 * h)


def ref_softmax(z):
    z = np.asarray(z, dtype=np.float64)
    w = np.exp(z - z.max(axis=-1, keepdims=True))
    return w / w.sum(axis=-1, keepdims=True)


def ref_multiclass_loss(key: str, logits, true_class: int, temperature: float, class_weight=5.0,
                        label_smoothing=0.1):
    """Loss of softmax(z / T) against a one-hot target, rows of ``logits``."""
    z = np.atleast_2d(np.asarray(logits, dtype=np.float64)) / temperature
    m = z.max(axis=-1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))[:, 0]
    nll = lse - z[:, true_class]
    if key in ("cross_entropy", "kl_divergence"):  # KL(one-hot || p) = -log p_true = CE
        return nll
    if key == "brier":
        p = ref_softmax(z)
        y = np.zeros(z.shape[1])
        y[true_class] = 1
        return ((p - y) ** 2).sum(axis=-1)
    if key == "weighted_cross_entropy":  # weights (w0, 1, ..., 1)
        return (class_weight if true_class == 0 else 1.0) * nll
    if key == "label_smoothed_cross_entropy":  # CE to (1 - eps) one-hot + eps / C
        classes = z.shape[1]
        return (1 - label_smoothing) * nll + label_smoothing / classes * (lse[:, None] - z).sum(axis=-1)
    raise KeyError(key)


# ---------------------------------------------------------------- grids


@pytest.mark.parametrize("target", [0.0, -2.5, 3.0, 1e5])
def test_regression_grid_is_centred_on_target(target):
    grid = curves.regression_grid(target)
    x = grid.values()
    assert grid.count == x.size == curves.POINTS
    assert curves.POINTS % 2 == 1  # an odd count puts a grid point exactly on the target
    assert_allclose(x[0], target - 4, atol=1e-9)
    assert_allclose(x[-1], target + 4, atol=1e-9)
    assert_allclose(x[curves.POINTS // 2], target, atol=1e-9)
    assert_allclose(np.diff(x), 8 / (curves.POINTS - 1), rtol=1e-6)


def test_binary_logit_grid_spans_minus_8_to_8():
    x = curves.binary_grid("logit").values()
    assert_allclose([x[0], x[curves.POINTS // 2], x[-1]], [-8.0, 0.0, 8.0], atol=1e-12)


def test_binary_probability_grid_stays_strictly_inside_0_1():
    x = curves.binary_grid("prob").values()
    assert_allclose([x[0], x[-1]], [0.0025, 0.9975], atol=1e-12)
    assert_allclose(x[curves.POINTS // 2], 0.5, atol=1e-12)
    assert np.all((x > 0) & (x < 1))


@pytest.mark.parametrize(
    ("logits", "swept", "centre"),
    [
        ([2, 1, 0.1, -1], 0, 1.0),  # others' max is z1
        ([2, 1, 0.1, -1], 1, 2.0),
        ([2, 1, 0.1, -1], 3, 2.0),
        ([-5, -3], 0, -3.0),
        ([1000, 999, 998], 0, 999.0),
    ],
)
def test_multiclass_grid_is_centred_on_largest_other_logit(logits, swept, centre):
    x = curves.multiclass_grid(np.array(logits, dtype=float), swept).values()
    assert_allclose([x[0], x[curves.POINTS // 2], x[-1]], [centre - 10, centre, centre + 10], atol=1e-9)


def test_multiclass_grid_does_not_move_with_the_swept_logit():
    a = curves.multiclass_grid(np.array([2.0, 1.0, 0.1]), 0)
    b = curves.multiclass_grid(np.array([-7.0, 1.0, 0.1]), 0)
    assert a == b


# ---------------------------------------------------------------- regression sweeps


@pytest.mark.parametrize("target", [0.0, 1.7, -3.2])
def test_regression_sweep_matches_closed_forms(target):
    params = {"delta": 0.7, "tau": 0.2, "beta": 0.4, "var": 2.5}
    swept = curves.sweep_regression(target, REGRESSION_KEYS, params)
    assert [c.key for c in swept] == REGRESSION_KEYS
    x = curves.regression_grid(target).values()
    away = np.abs(x - target) > 1e-9  # the kink of mae/quantile
    for c in swept:
        loss, grad = ref_regression(c.key, x, target, **params)
        assert c.grid == curves.regression_grid(target)
        assert_allclose(c.loss, loss, rtol=1e-10, atol=1e-12, err_msg=c.key)
        assert_allclose(c.grad[away], grad[away], rtol=1e-10, atol=1e-12, err_msg=c.key)
        assert_allclose(c.grad_logit, c.grad, err_msg=f"{c.key}: identity link")


def test_regression_sweep_equals_registry_functions_at_grid_points():
    params = {"delta": 2.0, "tau": 0.9, "beta": 3.0, "var": 0.2}
    for c in curves.sweep_regression(0.5, REGRESSION_KEYS, params):
        spec = registry.get(c.key)
        kw = {p.name: params[p.name] for p in spec.parameters}
        x = c.grid.values()
        assert_allclose(c.loss, spec.loss(x, 0.5, **kw), rtol=0, atol=0)
        assert_allclose(c.grad, spec.grad(x, 0.5, **kw), rtol=0, atol=0)


def test_regression_sweep_uses_parameter_defaults_when_missing():
    (c,) = curves.sweep_regression(0.0, ["huber"], {})
    x = c.grid.values()
    assert_allclose(c.grad, np.clip(x, -1.0, 1.0))  # default delta = 1


# ---------------------------------------------------------------- binary sweeps


@pytest.mark.parametrize("y", [0.0, 1.0])
def test_binary_logit_sweep_matches_closed_forms(y):
    swept = curves.sweep_binary(y, "logit", BINARY_KEYS, {"gamma": 1.5})
    z = curves.binary_grid("logit").values()
    for c in swept:
        assert_allclose(c.loss, ref_binary_loss(c.key, z, y, 1.5), rtol=1e-9, atol=1e-12, err_msg=c.key)
        ref = ref_binary_grad_logit(c.key, z, y, 1.5)
        tol = 1e-6 if c.key == "focal" else 1e-10
        if c.key == "hinge":  # kink at t z = 1
            keep = np.abs((2 * y - 1) * z - 1) > 1e-9
            c_grad, ref = c.grad[keep], ref[keep]
        else:
            c_grad = c.grad
        assert_allclose(c_grad, ref, rtol=tol, atol=tol, err_msg=c.key)


@pytest.mark.parametrize("y", [0.0, 0.3, 1.0])
def test_binary_logit_sweep_grad_is_grad_from_logit(y):
    keys = [k for k in BINARY_KEYS if y in (0.0, 1.0) or not registry.get(k).hard_labels_only]
    for c in curves.sweep_binary(y, "logit", keys, {"gamma": 2.0}):
        spec = registry.get(c.key)
        z = c.grid.values()
        kw = {"gamma": 2.0} if c.key == "focal" else {}
        expected = spec.grad_from_logit(z, y, **kw)
        assert_allclose(c.grad, expected, rtol=0, atol=0, err_msg=c.key)
        assert_allclose(c.grad_logit, expected, rtol=0, atol=0, err_msg=c.key)
        assert_allclose(c.loss, spec.loss_from_logit(z, y, **kw), rtol=0, atol=0, err_msg=c.key)


@pytest.mark.parametrize("y", [0.0, 1.0])
def test_binary_probability_sweep_grad_is_dl_dp(y):
    swept = curves.sweep_binary(y, "prob", BINARY_KEYS, {"gamma": 2.0})
    p = curves.binary_grid("prob").values()
    z = np.log(p) - np.log1p(-p)
    closed = {
        "bce": (p - y) / (p * (1 - p)),
        "sigmoid_mse": 2 * (p - y),
    }
    for c in swept:
        assert_allclose(c.loss, ref_binary_loss(c.key, z, y), rtol=1e-8, atol=1e-12, err_msg=c.key)
        # dL/dz on the same axis, and the chain rule dL/dp = (dL/dz) / (p (1 - p))
        assert_allclose(c.grad_logit, registry.get(c.key).grad_from_logit(z, y), rtol=1e-9, atol=1e-12)
        via_chain = ref_binary_grad_logit(c.key, z, y) / (p * (1 - p))
        keep = np.ones_like(p, dtype=bool)
        if c.key == "hinge":
            keep = np.abs((2 * y - 1) * z - 1) > 1e-6
        tol = 1e-5 if c.key == "focal" else 1e-8
        assert_allclose(c.grad[keep], via_chain[keep], rtol=tol, atol=tol, err_msg=c.key)
        if c.key in closed:
            assert_allclose(c.grad, closed[c.key], rtol=1e-8, err_msg=c.key)


def test_binary_probability_sweep_grad_matches_finite_difference_in_p():
    """dL/dp from a central difference of the loss curve itself along the p axis."""
    (c,) = curves.sweep_binary(0.0, "prob", ["bce"], {})
    p = c.grid.values()
    h = 1e-7
    fd = (ref_binary_loss("bce", np.log((p + h) / (1 - p - h)), 0.0)
          - ref_binary_loss("bce", np.log((p - h) / (1 - p + h)), 0.0)) / (2 * h)
    assert_allclose(c.grad, fd, rtol=1e-5)


@pytest.mark.parametrize("y", [1.0, 0.3, 0.0])
@pytest.mark.parametrize("p", [1e-20, 1e-200, 5e-324, 1 - 2**-53])
def test_bce_on_the_probability_axis_below_eps_has_the_gradient_of_the_loss_drawn(p, y):
    """The loss drawn is unclipped (bce_with_logits of logit(p)); dL/dp, in the sweep and the readout, must be its
    derivative, (p - y) / (p (1 - p)) (mpmath), not the gradient of a loss clipped at 1e-12: that was flat at
    -1e12 below p = 1e-12 while the loss kept rising."""
    import mpmath

    def exact(x):
        with mpmath.workdps(50):
            q = mpmath.mpf(float(x))
            return (float((q - y) / (q * (1 - q))),  # -inf where it passes float max
                    float(-(y * mpmath.log(q) + (1 - y) * mpmath.log1p(-q))))

    (row,) = curves.binary_point(p, "prob", y, ["bce"], {})
    (curve,) = curves.sweep_binary(y, "prob", ["bce"], {}, include=p)
    end = 0 if p < 0.5 else -1  # the sweep reaches halfway to 0 or 1 past p
    for x, grad, loss in ((p, row.grad_prediction, row.loss),
                          (curve.grid.values()[end], float(curve.grad[end]), float(curve.loss[end]))):
        exact_grad, exact_loss = exact(x)
        assert grad == exact_grad or abs(grad - exact_grad) <= 4e-16 * abs(exact_grad), (x, grad, exact_grad)
        assert_allclose(loss, exact_loss, rtol=1e-13)


# ---------------------------------------------------------------- multiclass sweeps


@pytest.mark.parametrize("temperature", [1.0, 0.5, 3.0])
@pytest.mark.parametrize(("true_class", "swept"), [(0, 0), (0, 2), (3, 1)])
def test_multiclass_sweep_matches_closed_form_and_finite_difference(temperature, true_class, swept):
    logits = np.array([2.0, 1.0, 0.1, -1.0])
    out = curves.sweep_multiclass(logits, true_class, temperature, swept, MULTICLASS_KEYS)
    assert [c.key for c in out] == MULTICLASS_KEYS
    xs = curves.multiclass_grid(logits, swept).values()
    batch = np.repeat(logits[None, :], xs.size, axis=0)
    batch[:, swept] = xs
    h = 1e-5
    up, down = batch.copy(), batch.copy()
    up[:, swept] += h
    down[:, swept] -= h
    for c in out:
        assert c.grid == curves.multiclass_grid(logits, swept)
        expected = ref_multiclass_loss(c.key, batch, true_class, temperature)
        assert_allclose(c.loss, expected, rtol=1e-9, atol=1e-12, err_msg=c.key)
        fd = (ref_multiclass_loss(c.key, up, true_class, temperature)
              - ref_multiclass_loss(c.key, down, true_class, temperature)) / (2 * h)
        assert_allclose(c.grad, fd, rtol=1e-5, atol=1e-7, err_msg=f"{c.key}, T={temperature}")
        assert_allclose(c.grad_logit, c.grad)


def test_multiclass_sweep_cross_entropy_grad_is_p_minus_y_over_t():
    logits = np.array([0.5, -0.2, 1.3])
    t = 2.5
    (c,) = curves.sweep_multiclass(logits, 2, t, 1, ["cross_entropy"])
    batch = np.repeat(logits[None, :], c.grid.count, axis=0)
    batch[:, 1] = c.grid.values()
    p = ref_softmax(batch / t)
    assert_allclose(c.grad, (p[:, 1] - 0.0) / t, rtol=1e-10, atol=1e-15)


# ---------------------------------------------------------------- points and readouts


def test_regression_point_matches_closed_forms():
    params = {"delta": 0.5, "tau": 0.8}
    rows = curves.regression_point(2.0, 0.5, REGRESSION_KEYS, params)
    assert [r.key for r in rows] == REGRESSION_KEYS
    for row in rows:
        loss, grad = ref_regression(row.key, 2.0, 0.5, **params)
        assert row.label == registry.get(row.key).label
        assert row.loss == pytest.approx(float(loss), rel=1e-12)
        assert row.grad_prediction == pytest.approx(float(grad), rel=1e-12)
        assert row.grad_logit == row.grad_prediction


def test_chapter_numbers_at_p_0_99_and_y_0():
    """The chapter: |dBCE/dz| = p - y = 0.99 and |dMSE/dz| = 2 (p - y) p (1 - p) = 0.0196."""
    p, y = 0.99, 0.0
    for x, axis in ((p, "prob"), (math.log(p / (1 - p)), "logit")):
        bce, mse = (abs(row.grad_logit) for row in curves.binary_point(x, axis, y, ("bce", "sigmoid_mse"), {}))
        assert f"{bce:.4f}" == "0.9900"
        assert f"{mse:.4f}" == "0.0196"
        assert bce == pytest.approx(abs(p - y), rel=1e-10)
        assert mse == pytest.approx(abs(2 * (p - y) * p * (1 - p)), rel=1e-10)


@pytest.mark.parametrize("axis", ["prob", "logit"])
def test_binary_point_readout_at_chapter_point(axis):
    p, y = 0.99, 0.0
    x = p if axis == "prob" else math.log(p / (1 - p))
    rows = {r.key: r for r in curves.binary_point(x, axis, y, ["bce", "sigmoid_mse", "hinge"], {})}
    z = math.log(p / (1 - p))
    assert rows["bce"].loss == pytest.approx(-math.log(1 - p), rel=1e-10)
    assert rows["bce"].grad_prediction == pytest.approx((p - y) / (p * (1 - p)), rel=1e-8)
    assert rows["bce"].grad_logit == pytest.approx(p - y, rel=1e-10)
    assert rows["sigmoid_mse"].loss == pytest.approx((p - y) ** 2, rel=1e-10)
    assert rows["sigmoid_mse"].grad_prediction == pytest.approx(2 * (p - y), rel=1e-10)
    assert rows["sigmoid_mse"].grad_logit == pytest.approx(2 * (p - y) * p * (1 - p), rel=1e-8)
    assert rows["hinge"].loss == pytest.approx(1 + z, rel=1e-10)  # t = -1: max(0, 1 + z)
    assert rows["hinge"].grad_logit == pytest.approx(1.0)


def test_to_and_from_probability_are_inverse():
    for p in (0.0025, 0.3, 0.5, 0.99):
        assert curves.to_probability(p, "prob") == p
        z = curves.from_probability(p, "logit")
        assert z == pytest.approx(math.log(p / (1 - p)), rel=1e-12)
        assert curves.to_probability(z, "logit") == pytest.approx(p, rel=1e-12)


@pytest.mark.parametrize("temperature", [1.0, 0.7, 4.0])
def test_multiclass_point_readout(temperature):
    logits = np.array([2.0, 1.0, 0.1, -1.0])
    true_class, swept = 1, 2
    rows = {r.key: r for r in curves.multiclass_point(logits, true_class, temperature, swept, MULTICLASS_KEYS)}
    p = ref_softmax(logits / temperature)
    y = np.eye(4)[true_class]
    assert rows["cross_entropy"].loss == pytest.approx(-math.log(p[true_class]), rel=1e-10)
    assert rows["kl_divergence"].loss == pytest.approx(-math.log(p[true_class]), rel=1e-10)
    assert rows["brier"].loss == pytest.approx(float(((p - y) ** 2).sum()), rel=1e-10)
    assert rows["cross_entropy"].grad_logit == pytest.approx((p[swept] - y[swept]) / temperature, rel=1e-10)
    assert rows["brier"].grad_prediction == pytest.approx(2 * (p[swept] - y[swept]), rel=1e-10)
    g = 2 * (p - y)
    brier_dz = p[swept] * (g[swept] - (g * p).sum()) / temperature
    assert rows["brier"].grad_logit == pytest.approx(brier_dz, rel=1e-9)


# ---------------------------------------------------------------- softmax_state


def test_softmax_state_naive_overflows_stable_does_not():
    logits = np.array([1000.0, 999.0, 998.0])
    state = curves.softmax_state(logits, 0, 1.0)
    assert np.isnan(state.naive_probabilities).all()
    w = np.exp(np.array([0.0, -1.0, -2.0]))
    expected = w / w.sum()
    assert_allclose(state.probabilities, expected, rtol=1e-12)
    assert_allclose(state.probabilities, [0.66524096, 0.24472847, 0.09003057], atol=5e-9)
    assert_allclose(state.grad_logit, expected - [1, 0, 0], rtol=1e-12, atol=1e-15)
    assert state.loss == pytest.approx(-math.log(expected[0]), rel=1e-12)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0, 10.0])
def test_softmax_state_temperature_scales_gradient(temperature):
    logits = np.array([2.0, 1.0, 0.1, -1.0])
    state = curves.softmax_state(logits, 2, temperature)
    p = ref_softmax(logits / temperature)
    y = np.eye(4)[2]
    assert_allclose(state.probabilities, p, rtol=1e-12)
    assert_allclose(state.naive_probabilities, p, rtol=1e-12)  # small logits: naive is fine
    assert_allclose(state.grad_logit, (p - y) / temperature, rtol=1e-12, atol=1e-15)
    assert state.probabilities.sum() == pytest.approx(1.0)
    assert state.grad_logit.sum() == pytest.approx(0.0, abs=1e-12)
    assert state.true_class == 2 and state.temperature == temperature
    assert_allclose(state.logits, logits)


def _exact_binary_loss(key: str, p: float, y: float, gamma: float):
    """The loss at p itself in 60 digits (a hard label y)."""
    import mpmath

    with mpmath.workdps(60):
        p, y = mpmath.mpf(p), mpmath.mpf(y)
        # 1 - p_t and log p_t without forming 1 - p (which 60 digits would round to 1 at p = 1e-100)
        miss, log_p_t = (1 - p, mpmath.log(p)) if y == 1 else (p, mpmath.log1p(-p))
        return {"bce": -log_p_t, "sigmoid_mse": (p - y) ** 2, "focal": -(miss**gamma) * log_p_t}[key]


@pytest.mark.parametrize(("p", "y"), [(1e-100, 0.0), (1e-240, 0.0), (1e-100, 1.0), (1 - 2.0**-50, 1.0),
                                      (1 - 2.0**-50, 0.0)])
def test_probability_axis_loss_is_the_loss_at_p_itself(p, y):
    """On the probability axis the loss drawn and read out is the loss at p̂, not at its rounded logit:
    BCE at p̂ = 1e-100, y = 0 was 87 ulp off, MSE on sigmoid 152, focal 200 (loss_from_logit(logit(p)))."""
    keys, gamma = ["bce", "sigmoid_mse", "focal"], 2.0
    curves.cache_clear()
    swept = curves.sweep_binary(y, "prob", keys, {"gamma": gamma}, include=p)
    rows = curves.binary_point(p, "prob", y, keys, {"gamma": gamma})
    for curve, row in zip(swept, rows, strict=True):
        x = curve.grid.values()
        at = int(np.argmin(np.abs(x - p)))  # the grid point nearest p̂ (an end of the widened axis)
        for where, got, point in (("curve", curve.loss[at], float(x[at])), ("readout", row.loss, p)):
            exact = _exact_binary_loss(curve.key, point, y, gamma)
            ulp = np.spacing(abs(float(exact)))
            error = float(abs(got - exact)) / ulp
            assert error <= 1.0, f"{curve.key} {where} at p̂={point!r}, y={y}: {error:.1f} ulp"
