"""``<loss>_and_grad`` returns what ``<loss>`` and ``<loss>_grad`` return, in one validated call.

For every loss in the registry, in float32 and float64, on ordinary and extreme
inputs (huge and tiny logits, probabilities at 0 and 1, residuals near float
max, infinities where a loss accepts them), the fused loss and gradient equal
the separate calls to within one ulp, keep the dtype and shape, and reject bad
input with the separate functions' ValueError. The private kernels the
dashboard may call on validated arrays return the same unreduced values.
"""

from __future__ import annotations

import numpy as np
import pytest

import losslab
from losslab import binary, multiclass, registry, regression

DTYPES = [np.float64, np.float32]
REDUCTIONS = ["mean", "sum", "none"]


def assert_within_one_ulp(actual, expected, what: str) -> None:
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype, (what, actual.dtype, expected.dtype)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    same = (actual == expected) | (np.isnan(actual) & np.isnan(expected))
    with np.errstate(invalid="ignore", over="ignore"):
        gap = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
        allowed = np.spacing(np.maximum(np.abs(actual), np.abs(expected))).astype(np.float64)
    close = same | (np.isfinite(gap) & (gap <= allowed))
    assert close.all(), (
        f"{what}: fused and separate differ by more than one ulp at {np.argwhere(~close)[:3].tolist()}: "
        f"{actual[~close][:3]} vs {expected[~close][:3]}"
    )


def _logits(dtype):
    big = 1e30 if dtype == np.float32 else 1e300
    core = [0.0, -0.0, 1e-30, -1e-7, 0.5, -1.0, 3.0, -8.0, 17.0, -36.0, 37.0, 40.0, -40.0, 80.0,
            -100.0, 700.0, -745.0, big, -big]
    with np.errstate(over="ignore"):
        return np.array(core, dtype=dtype)


def _labels(size, dtype, soft=True):
    values = [0.0, 1.0, 0.3, 0.999, 1e-3] if soft else [0.0, 1.0]
    return np.resize(np.array(values, dtype=dtype), size)


def _probabilities(dtype):
    return np.array([0.0, 1e-300, 1e-30, 1e-12, 0.01, 0.3, 0.5, 0.7, 0.999, 1 - 1e-12, 1.0], dtype=dtype)


def _residual_pairs(dtype):
    top = float(np.finfo(dtype).max)
    pred = np.array([0.0, 1e-20, -0.3, 2.0, 25.0, -400.0, 1e6, top, -top * 0.75, 5.0], dtype=dtype)
    target = np.array([0.0, 0.0, 0.2, -1.0, 0.0, 1.0, -3e5, -top, top * 0.5, 5.0], dtype=dtype)
    return pred, target


def _class_logits(dtype):
    rng = np.random.default_rng(11)
    rows = [rng.normal(0, 3, 4) for _ in range(6)]
    rows += [[40.0, 0.0, -1.0, 2.0], [1000.0, 999.0, 998.0, -1000.0], [0.0, 0.0, 0.0, 0.0],
             [-745.0, 0.0, 3.0, 1.0], [1e30, -1e30, 0.0, 5.0], [37.5, -2.0, 0.1, 1e-9]]
    return np.array(rows, dtype=dtype)


def _class_targets(logits, kind):
    rng = np.random.default_rng(12)
    rows, classes = logits.shape
    indices = rng.integers(0, classes, rows)
    indices[6] = 0  # true class ahead by 37 or more
    if kind == "index":
        return indices
    if kind == "one_hot":
        return np.eye(classes, dtype=logits.dtype)[indices]
    return rng.dirichlet(np.ones(classes), rows).astype(logits.dtype)


def _probability_rows(dtype):
    logits = _class_logits(np.float64)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (shifted / shifted.sum(axis=-1, keepdims=True)).astype(dtype)


def cases(dtype):
    """(id, name, first, second, params) for every registry loss (and index/soft variants)."""
    z = _logits(dtype)
    p = _probabilities(dtype)
    pred, target = _residual_pairs(dtype)
    logits = _class_logits(dtype)
    probs = _probability_rows(dtype)
    out = [
        ("mse", "mse", pred, target, {}),
        ("mae", "mae", pred, target, {}),
        ("huber", "huber", pred, target, {"delta": 1.0}),
        ("huber-small-delta", "huber", pred, target, {"delta": 0.05}),
        ("log_cosh", "log_cosh", pred, target, {}),
        ("quantile", "quantile", pred, target, {"tau": 0.1}),
        ("bce", "bce", p, _labels(p.size, dtype), {}),
        ("bce-eps0", "bce", p, _labels(p.size, dtype, soft=False), {"eps": 0.0}),
        ("bce_with_logits", "bce_with_logits", z, _labels(z.size, dtype), {}),
        ("bce_with_logits-inf", "bce_with_logits", np.array([np.inf, -np.inf, 2.0], dtype), np.array([1.0, 0.0, 0.5], dtype), {}),
        ("sigmoid_mse", "sigmoid_mse", z, _labels(z.size, dtype), {}),
        ("focal", "focal", z, _labels(z.size, dtype), {"gamma": 2.0}),
        ("focal-alpha", "focal", z, _labels(z.size, dtype), {"gamma": 0.5, "alpha": 0.25}),
        ("hinge", "hinge", z, np.resize(np.array([-1.0, 1.0], dtype), z.size), {}),
        ("cross_entropy-index", "cross_entropy", logits, _class_targets(logits, "index"), {}),
        ("cross_entropy-one-hot", "cross_entropy", logits, _class_targets(logits, "one_hot"), {}),
        ("cross_entropy-soft", "cross_entropy", logits, _class_targets(logits, "soft"), {}),
        ("cross_entropy-inf", "cross_entropy", np.array([[np.inf, 0.0, -np.inf]], dtype), np.array([0]), {}),
        ("cross_entropy_from_probs", "cross_entropy_from_probs", probs, _class_targets(logits, "one_hot"), {}),
        ("kl_divergence", "kl_divergence", probs, _class_targets(logits, "soft"), {}),
        ("kl_divergence_with_logits", "kl_divergence_with_logits", logits, _class_targets(logits, "soft"), {}),
        ("kl_divergence_with_logits-one-hot", "kl_divergence_with_logits", logits, _class_targets(logits, "one_hot"), {}),
        ("brier", "brier", probs, _class_targets(logits, "soft"), {}),
        ("brier_with_logits", "brier_with_logits", logits, _class_targets(logits, "one_hot"), {}),
        ("brier_with_logits-soft", "brier_with_logits", logits, _class_targets(logits, "soft"), {}),
    ]
    return out


ALL_CASES = [(dtype, *case) for dtype in DTYPES for case in cases(dtype)]
IDS = [f"{np.dtype(c[0]).name}-{c[1]}" for c in ALL_CASES]


def registry_function_names() -> set[str]:
    """The public names behind every prediction- and logit-space entry of the registry."""
    names = set()
    for spec in registry.LOSSES:
        for function in (spec.loss, spec.loss_from_logit):
            name = getattr(function, "__name__", "")
            if hasattr(losslab, name):
                names.add(name)
    return names


CORE_MODULES = {"losslab.regression", "losslab.binary", "losslab.multiclass"}


def test_every_registry_loss_has_a_fused_form():
    for name in registry_function_names():
        assert callable(getattr(losslab, f"{name}_and_grad", None)), f"losslab.{name}_and_grad is missing"


def test_every_core_loss_in_the_registry_is_covered_by_these_tests():
    covered = {case[1] for case in cases(np.float64)}
    core = {n for n in registry_function_names() if getattr(losslab, n).__module__ in CORE_MODULES}
    assert core, "no core loss found in the registry"
    assert core <= covered, f"no fused test case for {sorted(core - covered)}"


@pytest.mark.parametrize(("dtype", "case_id", "name", "first", "second", "params"), ALL_CASES, ids=IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_fused_equals_the_separate_calls_within_one_ulp(dtype, case_id, name, first, second, params, reduction):
    loss = getattr(losslab, name)(first, second, reduction=reduction, **params)
    grad = getattr(losslab, f"{name}_grad")(first, second, **params)
    fused_loss, fused_grad = getattr(losslab, f"{name}_and_grad")(first, second, reduction=reduction, **params)
    assert_within_one_ulp(fused_loss, loss, f"{case_id} loss ({reduction})")
    assert_within_one_ulp(fused_grad, grad, f"{case_id} grad")


@pytest.mark.parametrize(("dtype", "case_id", "name", "first", "second", "params"), ALL_CASES, ids=IDS)
def test_fused_keeps_the_dtype_and_the_prediction_shape(dtype, case_id, name, first, second, params):
    loss, grad = getattr(losslab, f"{name}_and_grad")(first, second, **params)
    assert np.asarray(loss).dtype == dtype
    assert grad.dtype == dtype
    assert grad.shape == np.shape(first)
    assert np.ndim(loss) == 0  # reduction="mean" by default


def test_fused_gradient_is_summed_to_the_prediction_shape_when_the_target_broadcasts():
    pred = np.array([[0.5], [2.0]])
    target = np.array([[0.0, 1.0, 3.0]])
    loss, grad = losslab.mse_and_grad(pred, target, reduction="none")
    assert loss.shape == (2, 3)
    np.testing.assert_array_equal(grad, [[2 * (0.5 - 0) + 2 * (0.5 - 1) + 2 * (0.5 - 3)],
                                         [2 * (2 - 0) + 2 * (2 - 1) + 2 * (2 - 3)]])


def test_fused_cross_entropy_tail_is_not_zero():
    # the true class 40 ahead: loss log1p(e^-40) ~ e^-40, gradient -e^-40 at the true class
    loss, grad = losslab.cross_entropy_and_grad(np.array([[40.0, 0.0]]), np.array([0]), reduction="none")
    np.testing.assert_allclose(loss, [np.exp(-40.0)], rtol=1e-15)
    np.testing.assert_allclose(grad, [[-np.exp(-40.0) / (1 + np.exp(-40.0)), np.exp(-40.0) / (1 + np.exp(-40.0))]],
                               rtol=1e-15)


@pytest.mark.parametrize(
    ("function", "args", "kwargs", "named"),
    [
        (losslab.mse_and_grad, ("a", 1.0), {}, "pred"),
        (losslab.huber_and_grad, (1.0, 0.0), {"delta": 0}, "delta"),
        (losslab.quantile_and_grad, (1.0, 0.0), {"tau": 1.5}, "tau"),
        (losslab.bce_and_grad, (1.5, 1.0), {}, "prob"),
        (losslab.bce_and_grad, (0.5, 1.0), {"eps": 0.7}, "eps"),
        (losslab.bce_with_logits_and_grad, (0.5, 2.0), {}, "target"),
        (losslab.bce_with_logits_and_grad, (np.nan, 1.0), {}, "logits"),
        (losslab.focal_and_grad, (0.5, 1.0), {"gamma": -1}, "gamma"),
        (losslab.hinge_and_grad, (0.5, 0.0), {}, "hinge labels"),
        (losslab.cross_entropy_and_grad, ([[1.0, 2.0]], [5]), {}, "class index 5"),
        (losslab.cross_entropy_and_grad, ([[1.0, 2.0]], [[0.5, 1.5]]), {}, "target"),
        (losslab.kl_divergence_and_grad, ([[0.5, 1.5]], [[0.5, 0.5]]), {}, "pred"),
        (losslab.brier_with_logits_and_grad, ([[1.0, 2.0]], [[1.0, 0.0, 0.0]]), {}, "shape"),
        (losslab.sigmoid_mse_and_grad, (0.5, 1.0), {"reduction": "avg"}, "reduction"),
    ],
)
def test_fused_rejects_bad_input_with_a_value_error_naming_it(function, args, kwargs, named):
    with pytest.raises(ValueError, match=named):
        function(*args, **kwargs)


# ------------------------------------------------------------ private kernels for validated input

KERNELS = [
    ("mse", regression._mse_kernel, {}),
    ("mae", regression._mae_kernel, {}),
    ("huber", regression._huber_kernel, {"delta": 0.5}),
    ("log_cosh", regression._log_cosh_kernel, {}),
    ("quantile", regression._quantile_kernel, {"tau": 0.3}),
    ("bce", binary._bce_kernel, {"eps": 1e-12}),
    ("bce_with_logits", binary._bce_with_logits_kernel, {}),
    ("sigmoid_mse", binary._sigmoid_mse_kernel, {}),
    ("focal", binary._focal_kernel, {"gamma": 2.0, "alpha": 0.25}),
    ("hinge", binary._hinge_kernel, {}),
]


@pytest.mark.parametrize(("name", "kernel", "params"), KERNELS, ids=[k[0] for k in KERNELS])
@pytest.mark.parametrize("dtype", DTYPES)
def test_elementwise_kernels_return_the_unreduced_fused_values(name, kernel, params, dtype):
    if name in {"bce"}:
        first, second = _probabilities(dtype), _labels(11, dtype)
    elif name == "hinge":
        first, second = _logits(dtype), np.resize(np.array([-1.0, 1.0], dtype), 19)
    elif name in {"bce_with_logits", "sigmoid_mse", "focal"}:
        first, second = _logits(dtype), _labels(19, dtype)
    else:
        first, second = _residual_pairs(dtype)
    loss, grad = kernel(first, second, **params)
    expected_loss, expected_grad = getattr(losslab, f"{name}_and_grad")(first, second, reduction="none", **params)
    np.testing.assert_array_equal(loss, expected_loss)
    np.testing.assert_array_equal(grad, expected_grad)
    assert loss.dtype == grad.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("name", "kernel", "first_kind", "target_kind"),
    [
        ("cross_entropy", multiclass._cross_entropy_kernel, "logits", "soft"),
        ("cross_entropy", multiclass._cross_entropy_index_kernel, "logits", "index"),
        ("cross_entropy_from_probs", multiclass._cross_entropy_from_probs_kernel, "probs", "one_hot"),
        ("kl_divergence", multiclass._kl_divergence_kernel, "probs", "soft"),
        ("kl_divergence_with_logits", multiclass._kl_divergence_with_logits_kernel, "logits", "soft"),
        ("brier", multiclass._brier_kernel, "probs", "soft"),
        ("brier_with_logits", multiclass._brier_with_logits_kernel, "logits", "one_hot"),
    ],
)
def test_class_axis_kernels_return_the_unreduced_fused_values(dtype, name, kernel, first_kind, target_kind):
    logits = _class_logits(dtype)
    first = logits if first_kind == "logits" else _probability_rows(dtype)
    target = _class_targets(logits, target_kind)
    loss, grad = kernel(first, target, -1)
    expected_loss, expected_grad = getattr(losslab, f"{name}_and_grad")(first, target, reduction="none")
    np.testing.assert_array_equal(loss, expected_loss)
    np.testing.assert_array_equal(grad, expected_grad)
