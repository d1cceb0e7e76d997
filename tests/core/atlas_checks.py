"""Checks shared by the tests of the issue-18 loss families (generative, metric, ranking, ...), and
the inputs of every registry spec that the generic registry tests draw (prediction_inputs, ...).

Every check takes its expected values from outside the code under test: a
5-point central difference of the loss itself, PyTorch's autograd, or a
formula written out in the test.
"""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import torch

TORCH_RTOL = 1e-12  # the agreement asked of every loss PyTorch also has (float64)


def central_difference(total, x: np.ndarray, h: float) -> np.ndarray:
    """Gradient of the scalar function ``total`` at ``x``: (f(x-2h) - 8f(x-h) + 8f(x+h) - f(x+2h)) / 12h per coordinate."""
    x = np.array(x, dtype=np.float64)
    grad = np.empty_like(x)
    for index in np.ndindex(x.shape):

        def at(step, index=index):
            shifted = x.copy()
            shifted[index] += step
            return float(total(shifted))

        grad[index] = (at(-2 * h) - 8 * at(-h) + 8 * at(h) - at(2 * h)) / (12 * h)
    return grad


def assert_gradients_match_differences(loss, grad, args, differentiable, h=1e-5, rtol=1e-7, atol=1e-9, **params):
    """Each gradient ``grad(*args)[k]`` equals the central difference of ``sum(loss(*args))`` in ``args[i]``.

    ``differentiable`` lists the argument positions the gradient tuple follows (in order).
    """
    analytic = grad(*args, **params)
    if len(differentiable) == 1:
        analytic = (analytic,)
    assert len(analytic) == len(differentiable)
    for position, value in zip(differentiable, analytic, strict=True):
        def total(x, position=position):
            moved = list(args)
            moved[position] = x
            return np.sum(loss(*moved, reduction="none", **params))

        numeric = central_difference(total, args[position], h)
        value = np.asarray(value)
        assert value.shape == np.shape(args[position]), (position, value.shape)
        np.testing.assert_allclose(value, numeric, rtol=rtol, atol=atol, err_msg=f"argument {position}")


def torch_value_and_grads(function, arrays, differentiable, **kwargs):
    """PyTorch's (summed loss values as an array, gradients of their sum) for float64 copies of ``arrays``."""
    tensors = [torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=i in differentiable)
               if np.issubdtype(np.asarray(a).dtype, np.floating) else torch.tensor(np.asarray(a))
               for i, a in enumerate(arrays)]
    value = function(*tensors, **kwargs)
    value.sum().backward()
    return value.detach().numpy(), [tensors[i].grad.numpy() for i in differentiable]


def relative_error(actual, expected) -> float:
    """Largest elementwise |actual - expected| / |expected| (exact zeros must match exactly)."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    difference = np.abs(actual - expected)
    zero = expected == 0
    assert np.all(difference[zero] == 0), "a value PyTorch gives as exactly 0 is not 0"
    if zero.all():
        return 0.0
    return float(np.max(difference[~zero] / np.abs(expected[~zero])))


def scaled_error(actual, expected) -> float:
    """Largest |actual - expected| relative to the largest |expected| (for gradients whose small parts cancel)."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    largest = np.max(np.abs(expected)) if expected.size else 0.0
    if largest == 0:
        return float(np.max(np.abs(actual))) if actual.size else 0.0
    return float(np.max(np.abs(actual - expected)) / largest)


def assert_fused_matches(loss, grad, fused, args, reductions=("mean", "sum", "none"), **params):
    """``fused`` returns exactly what ``loss`` and ``grad`` return separately."""
    for reduction in reductions:
        value, gradient = fused(*args, reduction=reduction, **params)
        np.testing.assert_array_equal(value, loss(*args, reduction=reduction, **params))
        separate = grad(*args, **params)
        for g in gradient if isinstance(gradient, tuple) else (gradient,):
            assert not isinstance(g, np.ndarray) or g.flags.writeable, "a gradient is a read-only view"
        if isinstance(separate, tuple):
            assert isinstance(gradient, tuple) and len(gradient) == len(separate)
            for a, b in zip(gradient, separate, strict=True):
                np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_array_equal(gradient, separate)


def assert_reductions_agree(loss, args, **params):
    """``mean`` and ``sum`` are the mean and sum of ``none``."""
    per_sample = np.asarray(loss(*args, reduction="none", **params))
    np.testing.assert_allclose(loss(*args, reduction="sum", **params), per_sample.sum(), rtol=1e-14)
    np.testing.assert_allclose(loss(*args, reduction="mean", **params), per_sample.mean(), rtol=1e-14)


def as_float32(*arrays):
    return [np.asarray(a, dtype=np.float32) for a in arrays]


def assert_float32_kept(loss, grad, args, n_grads=1, **params):
    """float32 in, float32 out, for the loss (every reduction) and every gradient."""
    for reduction in ("mean", "sum", "none"):
        assert np.asarray(loss(*args, reduction=reduction, **params)).dtype == np.float32
    gradients = grad(*args, **params)
    gradients = gradients if isinstance(gradients, tuple) else (gradients,)
    assert len(gradients) == n_grads
    for g in gradients:
        assert np.asarray(g).dtype == np.float32


# ------------------------------------------------------------ inputs for every registry spec
#
# The generic registry tests (finite differences, dtypes, scalars, extremes) draw their inputs
# here, so that a new spec gets inputs of its own story variable, away from its kinks, instead
# of being skipped. ``spec.loss(x, target, **params)`` is elementwise except for the per-row
# specs, whose last axis is one distribution, region or list.

H_LOGIT = 1e-3  # finite-difference step for unbounded arguments (residuals, logits, offsets)
H_PROB = 1e-4  # step for probabilities kept in [0.05, 0.95]

ROW_TASKS = ("multiclass", "segmentation")
ROW_KEYS = ("listnet",)
# Parameter values to try besides the default, where the slider's ends are not enough.
PARAMETER_ALTERNATIVES = {
    ("huber", "delta"): [0.3, 4.0], ("pseudo_huber", "delta"): [0.3, 4.0], ("quantile", "tau"): [0.1, 0.85],
    ("focal", "gamma"): [0.0, 0.5, 3.5], ("barron", "alpha"): [2.0, 0.0, -2.0, -20.0],
    **{(key, "c"): [0.3, 4.0] for key in ("cauchy", "geman_mcclure", "tukey", "barron")},  # residuals reach 6
    ("smooth_l1", "beta"): [0.0, 0.05, 3.0], ("tversky", "alpha"): [0.0, 1.0, 2.0],
    ("tversky", "beta"): [0.0, 1.0, 2.0], ("focal_tversky", "gamma"): [0.25, 1.0, 3.0],
    ("weighted_cross_entropy", "class_weight"): [0.0, 1.0, 20.0],
    ("label_smoothed_cross_entropy", "label_smoothing"): [0.0, 0.5, 1.0],
}


def per_row(spec) -> bool:
    """Whether the spec's last axis is one sample (a class distribution, a region, a list)."""
    return spec.task in ROW_TASKS or spec.key in ROW_KEYS


def parameter_sets(spec) -> list[dict]:
    """The defaults, then one parameter at a time moved to other values: listed ones or the slider's ends."""
    sets = [spec.defaults()]
    for parameter in spec.parameters:
        values = PARAMETER_ALTERNATIVES.get((spec.key, parameter.name),
                                            [parameter.slider_min, parameter.slider_max])
        for value in values:
            assert parameter.valid.contains(value), (spec.key, parameter.name, value)
            if value != parameter.default:
                sets.append({**spec.defaults(), parameter.name: value})
    return sets


def parameter_extremes(spec) -> list[dict]:
    """Each parameter at the ends of its valid range (closed ends themselves, open ones approached)."""
    sets = []
    for parameter in spec.parameters:
        interval = parameter.valid
        ends = []
        if interval.low is None:
            ends.append(-1e6)
        else:
            ends.append(interval.low if interval.low_inclusive else interval.low + max(abs(interval.low), 1.0) * 1e-6)
        if interval.high is None:
            ends.append(1e6)
        else:
            ends.append(interval.high if interval.high_inclusive else interval.high - max(abs(interval.high), 1.0) * 1e-6)
        for value in ends:
            assert interval.contains(value), (spec.key, parameter.name, value)
            sets.append({**spec.defaults(), parameter.name: value})
    return sets


def away_from(rng, shape, kinks, low, high, margin=0.05, signed=False):
    """Uniform values in [low, high] at least ``margin`` from every kink; if ``signed``, times a random sign."""
    out = np.empty(int(np.prod(shape)))
    filled = 0
    while filled < out.size:
        candidate = rng.uniform(low, high)
        if all(abs(candidate - k) >= margin for k in kinks):
            out[filled] = candidate * (rng.choice([-1.0, 1.0]) if signed else 1.0)
            filled += 1
    return out.reshape(shape)


def hard_labels(rng, shape):
    return rng.integers(0, 2, shape).astype(np.float64)


def labels(spec, rng, shape):
    """0/1 labels for the specs that need them, labels in [0, 1] otherwise."""
    return hard_labels(rng, shape) if spec.hard_labels_only else rng.uniform(0.0, 1.0, shape)


def mask_rows(rng, shape):
    """Target masks: hard rows with at least one 0 and one 1, then soft rows in [0, 1]."""
    target = rng.uniform(0.0, 1.0, shape)
    for row in range(0, shape[0], 2):
        hard = np.zeros(shape[-1])
        hard[rng.permutation(shape[-1])[: rng.integers(1, shape[-1])]] = 1.0
        target[row] = hard
    return target


def box_kinks(params) -> list[float]:
    """Offsets where the predicted box's edge crosses the unit square's (IoU and enclosing box kinks)."""
    width = math.sqrt(params.get("aspect", 1.0))
    return [(width - 1) / 2, (1 - width) / 2, (1 + width) / 2, -(1 + width) / 2]


def prediction_inputs(spec, params, rng):
    """``(x, target, h)`` in the spec's prediction space, away from kinks and clip regions."""
    key, task = spec.key, spec.task
    if task in ("regression", "robust"):
        kinks = {"mae": [0.0], "quantile": [0.0], "huber": [0.0, params.get("delta")],
                 "tukey": [params.get("c")],  # its third derivative jumps at |r| = c
                 "smooth_l1": [0.0, params.get("beta")]}.get(key, [])
        pred = rng.normal(0.0, 2.0, (4, 5))
        residual = away_from(rng, (4, 5), kinks, 0.0, 6.0, signed=True)  # |r| away from the kinks
        return pred, pred - residual, H_LOGIT
    if task == "counts":
        if key == "poisson_nll":  # a log-rate and counts
            return rng.normal(0.0, 1.5, (4, 5)), rng.poisson(3.0, (4, 5)).astype(np.float64), H_LOGIT
        return rng.uniform(0.0, 10.0, (4, 5)), rng.uniform(0.0, 10.0, (4, 5)), H_LOGIT
    if spec.link == "sigmoid" and task != "segmentation":
        if key in ("hinge", "squared_hinge"):  # kinks of max(0, 1 - t z) at z = +-1, i.e. p = sigmoid(+-1)
            prob = 1 / (1 + np.exp(-away_from(rng, (4, 5), [-1.0, 1.0], -2.9, 2.9)))
        else:
            prob = rng.uniform(0.05, 0.95, (4, 5))
        return prob, labels(spec, rng, (4, 5)), H_PROB
    if task == "multiclass":
        return rng.uniform(0.05, 0.95, (4, 3)), rng.dirichlet(np.ones(3), size=4), H_PROB
    if task == "segmentation":
        return rng.uniform(0.05, 0.95, (4, 5)), mask_rows(rng, (4, 5)), H_PROB
    if task == "generative":  # critics' raw scores and the encoder's mean
        kinks = [-1.0, 1.0] if key == "hinge_gan_discriminator" else []
        return away_from(rng, (4, 5), kinks, -3.0, 3.0), labels(spec, rng, (4, 5)), H_LOGIT
    if task == "detection":
        return away_from(rng, (4, 5), box_kinks(params), -2.5, 2.5), np.zeros((4, 5)), H_LOGIT
    if key == "contrastive":  # a distance > 0, away from the margin
        return away_from(rng, (4, 5), [params["margin"]], 0.05, 6.0), hard_labels(rng, (4, 5)), H_LOGIT
    if key == "triplet_margin":  # the anchor-negative distance, away from m + d(a, p)
        kink = params["margin"] + params["positive_distance"]
        return away_from(rng, (4, 5), [kink], 0.05, kink + 3.0), np.zeros((4, 5)), H_LOGIT
    if key == "cosine_embedding":  # the angle, away from 0, pi and arccos(m)
        kink = math.acos(params["cosine_margin"])
        return away_from(rng, (4, 5), [kink], 0.05, math.pi - 0.05), hard_labels(rng, (4, 5)), H_LOGIT
    if key == "info_nce":  # the positive's similarity (fewer: one core call each); steps scale with the temperature
        return rng.uniform(-1.0, 1.0, (2, 5)), np.zeros((2, 5)), H_LOGIT * min(1.0, params["temperature"])
    if key == "margin_ranking":  # the score margin, away from t (x1 - x2) = m
        m = params["margin"]
        return away_from(rng, (4, 5), [m, -m], -4.0, 4.0), hard_labels(rng, (4, 5)), H_LOGIT
    if key == "bpr":
        return rng.normal(0.0, 3.0, (4, 5)), np.zeros((4, 5)), H_LOGIT
    if key == "listnet":  # rows of scores against rows of relevance labels
        return rng.normal(0.0, 2.0, (4, 4)), rng.uniform(0.0, 3.0, (4, 4)), H_LOGIT
    if key == "ctc":  # the moving logit of the 4-frame example (the target is fixed inside the story)
        return rng.normal(0.0, 2.0, (4, 5)), np.zeros((4, 5)), H_LOGIT
    raise AssertionError(f"no inputs for registry spec {key!r} (task {task!r}): add them here")


def logit_inputs(spec, params, rng):
    """``(z, target)`` in logit space for a spec with a sigmoid or softmax link."""
    if spec.task == "multiclass":
        return rng.normal(0.0, 2.0, (4, 3)), rng.dirichlet(np.ones(3), size=4)
    if spec.task == "segmentation":
        return rng.normal(0.0, 1.5, (4, 5)), mask_rows(rng, (4, 5))
    kinks = [-1.0, 1.0] if spec.key in ("hinge", "squared_hinge") else []
    return away_from(rng, (4, 5), kinks, -4.0, 4.0), labels(spec, rng, (4, 5))


def story_points(spec) -> list[tuple[float, float]]:
    """(x, target) scalar points of an elementwise spec: ordinary values, both sides of kinks, the extremes."""
    task, key = spec.task, spec.key
    binary_labels = [0.0, 1.0]
    if spec.link == "sigmoid":  # the logit
        xs = [0.0, -1.0, 1.0, 2.5, -20.0, 40.0, 800.0, -800.0, 1e300, -1e300]
    elif task == "counts":
        xs = [0.0, 0.5, 3.0, 40.0, 700.0, 1e6, 1e300] + ([-3.0, -800.0, -1e300] if key == "poisson_nll" else [])
        return [(x, y) for x in xs for y in (0.0, 2.0, 1e6)]
    elif task == "detection":
        xs = [0.0, 0.3, -0.3, 1.0, 1.5, -2.0, 100.0, 1e6, -1e300, 1e300]
    elif key in ("contrastive", "triplet_margin"):
        xs = [0.0, 1e-300, 0.5, 1.0, 2.0, 100.0, 1e150, 1e300]
    elif key == "cosine_embedding":
        xs = [0.0, 1e-8, 0.5, math.pi / 2, 2.0, math.pi, 10.0, 1e6]
    elif key == "info_nce":
        xs = [0.0, 1.0, -1.0, 0.999, 30.0, -30.0, 1e6, -1e6]
    else:  # residual-like: regression, robust, critics, ranking margins
        xs = [0.0, 0.5, -1.0, 1.0, 19.9, 20.0, 100.0, -800.0, 1e300, -1e300]
    if task in ("regression", "robust"):
        return [(x, y) for x in xs for y in (0.0, 1.0, -100.0)]
    return [(x, y) for x in xs for y in binary_labels]


def peak_bytes(function, args) -> int:
    """The peak of the memory NumPy allocates during ``function(*args)`` (``tracemalloc``), after one
    warm-up call for caches and lazy imports."""
    function(*args)
    tracemalloc.start()
    try:
        function(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def assert_computed_in_float32(function, args) -> None:
    """A call on float32 copies of the float64 arrays ``args`` returns float32 and allocates under 0.75
    times the float64 call's peak: no float64 copies or temporaries (its boolean masks are the same size
    in both, so a float32 computation lands near 0.5; computed in float64 and rounded once, 1.1 to 1.8).
    Use arrays of at least 2^15 elements so the arrays, not Python objects, dominate."""
    float32_args = tuple(a.astype(np.float32) if isinstance(a, np.ndarray) and a.dtype == np.float64 else a
                         for a in args)
    result = function(*float32_args)
    parts = result if isinstance(result, tuple) else (result,)
    for part in parts:
        for array in part if isinstance(part, tuple) else (part,):
            assert np.asarray(array).dtype == np.float32, f"{function.__name__} returned {np.asarray(array).dtype}"
    ratio = peak_bytes(function, float32_args) / peak_bytes(function, args)
    assert ratio < 0.75, f"{function.__name__}: a float32 call allocates {ratio:.2f} times a float64 call's peak"
