"""Gradient-descent trajectories (losslab.training) against hand-unrolled loops, finite differences and closed forms.

Expected values never come from the code under test: trajectories are re-run
here as plain Python loops calling the registry's gradients, derivatives are
5-point central differences of the loss, surface values are per-point loops
with closed forms, and (non-)convexity is read off the surfaces numerically.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from losslab import registry, training
from losslab.training import (
    BINARY_KEYS,
    Dataset,
    descend_logit,
    descend_parameters,
    loss_surface,
    make_dataset,
    mean_loss,
)

SOFT_KEYS = tuple(k for k in BINARY_KEYS if not registry.get(k).hard_labels_only)
H = 1e-3


def central_difference(f, x, h=H):
    """f'(x) by the 4th-order 5-point stencil."""
    return (f(x - 2 * h) - 8 * f(x - h) + 8 * f(x + h) - f(x + 2 * h)) / (12 * h)


def hand_logit_descent(key, p0, y, lr, steps, **params):
    """z_0 = log(p0 / (1 - p0)); z_{t+1} = z_t - lr * grad(z_t), as a plain loop of floats."""
    spec = registry.get(key)
    z = math.log(p0) - math.log1p(-p0)
    path = [z]
    for _ in range(steps):
        z = z - lr * float(spec.grad_from_logit(z, y, **params))
        path.append(z)
    return np.array(path)


def sigmoid(z):
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def softplus(z):
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


def bce_closed_form(z, y):
    return y * softplus(-z) + (1 - y) * softplus(z)


def sigmoid_mse_closed_form(z, y):
    return (sigmoid(z) - y) ** 2


def first_index(flags):
    hits = [i for i, flag in enumerate(flags) if flag]
    return hits[0] if hits else None


def run_by_key(runs):
    return {run.key: run for run in runs}


# ------------------------------------------------------------ part 1: trajectories


CASES = [
    # (p0, y, lr, steps, params)
    (0.99, 0.0, 1.0, 100, {}),
    (0.01, 1.0, 0.5, 60, {"gamma": 0.5}),
    (0.7, 0.0, 3.0, 40, {"gamma": 3.0}),
    (0.2, 1.0, 0.05, 200, {}),
]


@pytest.mark.parametrize(("p0", "y", "lr", "steps", "params"), CASES)
def test_logit_trajectories_match_a_hand_unrolled_loop(p0, y, lr, steps, params):
    runs = descend_logit(BINARY_KEYS, start=p0, target=y, learning_rate=lr, steps=steps, params=params)
    assert [run.key for run in runs] == list(BINARY_KEYS)
    for run in runs:
        spec_params = {k: v for k, v in params.items() if k in registry.get(run.key).defaults()}
        expected = hand_logit_descent(run.key, p0, y, lr, steps, **spec_params)
        assert_allclose(run.logit, expected, rtol=1e-12, atol=1e-12, err_msg=run.key)
        assert_array_equal(run.step, np.arange(steps + 1))
        assert not run.diverged and run.diverged_at is None


@pytest.mark.parametrize("y", [0.0, 0.3, 0.5, 0.8])
def test_soft_label_trajectories_match_a_hand_unrolled_loop(y):
    runs = descend_logit(SOFT_KEYS, start=0.9, target=y, learning_rate=2.0, steps=50)
    for run in runs:
        assert_allclose(run.logit, hand_logit_descent(run.key, 0.9, y, 2.0, 50), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("y", [0.0, 0.4, 1.0])
def test_probability_and_loss_along_the_logit_path_match_closed_forms(y):
    runs = run_by_key(descend_logit(("bce", "sigmoid_mse"), start=0.95, target=y, steps=30))
    for key, closed_form in (("bce", bce_closed_form), ("sigmoid_mse", sigmoid_mse_closed_form)):
        run = runs[key]
        assert_allclose(run.probability, [sigmoid(z) for z in run.logit], rtol=1e-14)
        assert_allclose(run.loss, [closed_form(z, y) for z in run.logit], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("y", "params"), [(0.0, {}), (1.0, {"gamma": 1.0}), (0.25, {"gamma": 4.0})])
def test_logit_gradient_norm_matches_finite_differences_of_the_loss(y, params):
    keys = BINARY_KEYS if y in (0.0, 1.0) else SOFT_KEYS
    runs = descend_logit(keys, start=0.97 if y < 0.5 else 0.03, target=y, learning_rate=0.7,
                         steps=40, params=params)
    for run in runs:
        spec = registry.get(run.key)
        values = {k: v for k, v in params.items() if k in spec.defaults()}
        for t in range(0, 41, 4):
            z = float(run.logit[t])
            if spec.key == "hinge" and abs(abs(z) - 1) < 10 * H:  # the kink at t z = 1
                continue
            numeric = central_difference(lambda v, spec=spec, values=values: float(
                spec.loss_from_logit(v, y, **values)), z)
            assert run.grad_norm[t] == pytest.approx(abs(numeric), rel=1e-6, abs=1e-9), (run.key, t)


def test_the_run_keeps_the_signed_gradient_it_used_and_its_magnitude():
    (run,) = descend_logit(("bce",), start=0.99, target=0.0, learning_rate=1.0, steps=30)
    assert_allclose(run.gradient, [sigmoid(z) - 0.0 for z in run.logit], rtol=1e-13)  # dBCE/dz = σ(z) − y
    assert_array_equal(run.grad_norm, np.abs(run.gradient))
    assert_allclose(run.logit[1:], run.logit[:-1] - 1.0 * run.gradient[:-1], rtol=1e-15)
    assert not run.gradient.flags.writeable


# ------------------------------------------------------------ gradient check


EPS_CBRT = np.finfo(np.float64).eps ** (1 / 3)


def two_point_difference(loss, z):
    """(ℓ(z + h) − ℓ(z − h)) / ((z + h) − (z − h)) with h = ε^(1/3) max(1, |z|), written out here."""
    h = EPS_CBRT * max(1.0, abs(z))
    return (loss(z + h) - loss(z - h)) / ((z + h) - (z - h))


@pytest.mark.parametrize(("p0", "y", "lr", "steps", "params"), CASES)
def test_gradient_check_differences_match_the_closed_form_derivative(p0, y, lr, steps, params):
    runs = run_by_key(descend_logit(("bce", "sigmoid_mse", "focal"), start=p0, target=y, learning_rate=lr,
                                    steps=steps, params=params))
    derivatives = {"bce": lambda z: sigmoid(z) - y, "sigmoid_mse": lambda z: 2 * (sigmoid(z) - y) * sigmoid(z) * (1 - sigmoid(z))}
    closed = {"bce": lambda z: bce_closed_form(z, y), "sigmoid_mse": lambda z: sigmoid_mse_closed_form(z, y)}
    for key, run in runs.items():
        check = training.gradient_check(run, target=y, params=params)
        assert (check.key, check.label) == (key, run.label)
        assert check.checked.all() and check.finite_difference.shape == (steps + 1,)
        assert_array_equal(check.gradient, run.gradient)
        assert check.relative_difference < 1e-8, (key, check.relative_difference)
        scale = np.max(np.abs(run.gradient))
        if key in derivatives:
            exact = np.array([derivatives[key](z) for z in run.logit])
            assert np.max(np.abs(check.finite_difference - exact)) < 1e-8 * scale, key
            by_hand = np.array([two_point_difference(closed[key], float(z)) for z in run.logit])
            assert np.max(np.abs(check.finite_difference - by_hand)) < 1e-8 * scale, key
            misfit = np.max(np.abs(by_hand - run.gradient)) / scale
            assert check.relative_difference == pytest.approx(misfit, rel=0.5, abs=1e-10)


def test_gradient_check_catches_a_wrong_gradient():
    import dataclasses

    (run,) = descend_logit(("sigmoid_mse",), start=0.99, target=0.0, steps=60)
    assert training.gradient_check(run, target=0.0).relative_difference < 1e-8
    halved = dataclasses.replace(run, gradient=run.gradient * 0.5)
    # |d − g/2| peaks at max|g|/2, and the scale is the run's own (halved) largest gradient: 1
    assert training.gradient_check(halved, target=0.0).relative_difference == pytest.approx(1.0, rel=1e-6)
    # the loss of another label: BCE's gradient for y = 0 against BCE's loss for y = 1 misses by 1 (σ − 0 vs σ − 1)
    (bce,) = descend_logit(("bce",), start=0.99, target=0.0, steps=10)
    assert training.gradient_check(bce, target=1.0).relative_difference == pytest.approx(1 / 0.99, rel=1e-6)


def test_gradient_check_sees_a_step_on_the_hinge_kink():
    # y = 1 (sign +1): z0 = -1, dL/dz = -1 for z < 1, so z1 = 0 and z2 = 1, the kink, where the
    # difference straddles it: (0 − h) / 2h = −1/2 against a one-sided gradient of 0 or −1.
    (run,) = descend_logit(("hinge",), start=1 / (1 + math.e), target=1.0, learning_rate=1.0, steps=3)
    assert run.logit[2] == pytest.approx(1.0, abs=1e-12)
    check = training.gradient_check(run, target=1.0)
    assert check.finite_difference[2] == pytest.approx(-0.5, abs=1e-6)
    assert check.relative_difference == pytest.approx(0.5, abs=1e-6)
    assert_allclose(check.finite_difference[:2], [-1.0, -1.0], rtol=1e-9)


def test_gradient_check_stops_at_divergence_without_nan_or_warning():
    runs = run_by_key(descend_logit(("bce", "sigmoid_mse"), start=0.99, target=0.0, learning_rate=1e7, steps=20))
    bce = training.gradient_check(runs["bce"], target=0.0)
    assert runs["bce"].diverged_at == 1
    assert_array_equal(bce.checked, np.arange(21) <= 1)  # the steps drawn: 0 and the step of divergence
    assert np.isnan(bce.finite_difference[2:]).all() and np.isfinite(bce.finite_difference[:2]).all()
    assert bce.relative_difference < 1e-8
    mse = training.gradient_check(runs["sigmoid_mse"], target=0.0)
    assert mse.checked.all() and mse.relative_difference < 1e-8
    # held at -inf: nothing there to check (z ± h is not a number line any more)
    (focal,) = descend_logit(("focal",), start=0.99, target=0.0, learning_rate=np.finfo(np.float64).max, steps=5)
    check = training.gradient_check(focal, target=0.0)
    assert_array_equal(check.checked, [True, False, False, False, False, False])
    assert check.relative_difference < 1e-8


@pytest.mark.parametrize(("key", "kwargs", "fragments"), [
    ("bce", {"target": 1.5}, ("target", "1.5")),
    ("bce", {"target": 0.0, "params": {"beta": 1.0}}, ("beta",)),
    ("hinge", {"target": 0.3}, ("Hinge", "0.3")),
])
def test_bad_gradient_check_input_raises_a_value_error_naming_it(key, kwargs, fragments):
    (run,) = descend_logit((key,), start=0.9, target=1.0, steps=3)
    with pytest.raises(ValueError) as error:
        training.gradient_check(run, **kwargs)
    assert all(fragment in str(error.value) for fragment in fragments), str(error.value)


def test_readouts_are_the_first_steps_found_on_the_hand_unrolled_path():
    for y, p0 in ((0.0, 0.99), (1.0, 0.02), (0.2, 0.9), (0.9, 0.3)):
        keys = BINARY_KEYS if y in (0.0, 1.0) else SOFT_KEYS
        for run in descend_logit(keys, start=p0, target=y, learning_rate=0.8, steps=300):
            z = hand_logit_descent(run.key, p0, y, 0.8, 300)
            p = [sigmoid(v) for v in z]
            spec = registry.get(run.key)
            loss = [float(spec.loss_from_logit(v, y, **spec.defaults())) for v in z]
            on_label_side = [q < 0.5 for q in p] if y < 0.5 else [q > 0.5 for q in p]
            assert run.steps_to_cross == first_index(on_label_side), (run.key, y)
            assert run.steps_to_tenth_loss == first_index([v <= 0.1 * loss[0] for v in loss]), (run.key, y)


def test_readouts_are_zero_when_the_start_is_already_right_and_none_for_a_label_of_one_half():
    (run,) = descend_logit(("bce",), start=0.2, target=0.0, steps=5)
    assert run.steps_to_cross == 0
    (run,) = descend_logit(("bce",), start=0.9, target=0.5, steps=50)
    assert run.steps_to_cross is None
    (run,) = descend_logit(("bce",), start=0.5, target=1.0, steps=5)  # exactly 0.5 is on neither side
    assert run.probability[0] == 0.5 and run.steps_to_cross == 1


def test_readouts_say_never_when_the_steps_run_out():
    runs = run_by_key(descend_logit(("bce", "sigmoid_mse"), start=0.99, target=0.0, learning_rate=0.01, steps=10))
    assert runs["sigmoid_mse"].steps_to_cross is None
    assert runs["sigmoid_mse"].steps_to_tenth_loss is None


def test_defaults_reproduce_the_chapter_bce_recovers_in_a_few_steps_mse_takes_many_times_more():
    runs = run_by_key(descend_logit())
    assert set(runs) == set(BINARY_KEYS)
    lr, steps = training.DEFAULT_LOGIT_LEARNING_RATE, training.DEFAULT_LOGIT_STEPS
    crossings = {}
    for key in ("bce", "sigmoid_mse"):
        p = [sigmoid(z) for z in hand_logit_descent(key, 0.99, 0.0, lr, steps)]
        crossings[key] = first_index([q < 0.5 for q in p])
        assert runs[key].steps_to_cross == crossings[key]
    assert crossings["bce"] <= 10
    assert crossings["sigmoid_mse"] >= 5 * crossings["bce"]
    assert runs["sigmoid_mse"].steps_to_tenth_loss is not None  # MSE gets there within the default steps
    assert runs["sigmoid_mse"].steps_to_tenth_loss >= 5 * runs["bce"].steps_to_tenth_loss


def test_logit_runs_are_float64_read_only_arrays_even_for_float32_inputs():
    runs = descend_logit(start=np.float32(0.9), target=np.float32(0.0), learning_rate=np.float32(0.5),
                         steps=np.int32(20))
    for run in runs:
        for name in ("logit", "probability", "loss", "grad_norm"):
            array = getattr(run, name)
            assert array.dtype == np.float64 and array.shape == (21,), name
            with pytest.raises(ValueError, match="read-only"):
                array[0] = 1.0
        assert run.step.dtype == np.int64


def test_a_zero_gradient_holds_the_logit_still():
    (run,) = descend_logit(("hinge",), start=0.99, target=0.0, learning_rate=1.0, steps=30)
    stop = first_index([g == 0 for g in run.grad_norm])
    assert stop is not None and stop < 10
    assert (run.logit[stop:] == run.logit[stop]).all()
    assert_allclose(run.logit, hand_logit_descent("hinge", 0.99, 0.0, 1.0, 30), rtol=1e-12)


# ------------------------------------------------------------ part 1: divergence


def test_a_huge_learning_rate_diverges_and_holds_without_nan():
    runs = run_by_key(descend_logit(start=0.99, target=0.0, learning_rate=1e7, steps=20))
    for key in ("bce", "focal", "hinge"):
        run = runs[key]
        assert run.diverged and run.diverged_at == 1, key
        assert abs(run.logit[1]) > training.DIVERGENCE_LIMIT
        for name in ("logit", "probability", "loss", "grad_norm"):
            array = getattr(run, name)
            assert not np.isnan(array).any()
            assert (array[1:] == array[1]).all(), (key, name)
    # dMSE/dz is small enough that this step stays within the limit: a real, finite run.
    mse = runs["sigmoid_mse"]
    assert not mse.diverged and mse.diverged_at is None
    assert_allclose(mse.logit, hand_logit_descent("sigmoid_mse", 0.99, 0.0, 1e7, 20), rtol=1e-12)


@pytest.mark.parametrize(("p0", "y", "infinity"), [(0.99, 0.0, -np.inf), (0.01, 1.0, np.inf)])
def test_an_overflowing_step_gives_infinite_values_never_nan_or_a_warning(p0, y, infinity):
    # |dfocal/dz| = 1.06 > 1 here, so the largest float as learning rate overflows the step.
    (run,) = descend_logit(("focal",), start=p0, target=y, learning_rate=np.finfo(np.float64).max, steps=5)
    assert run.diverged and run.diverged_at == 1
    assert (run.logit[1:] == infinity).all()
    assert (run.probability[1:] == y).all() and (run.loss[1:] == 0).all() and (run.grad_norm[1:] == 0).all()


def test_a_soft_label_run_past_the_limit_holds_huge_finite_values():
    (run,) = descend_logit(("focal",), start=0.99, target=0.3, learning_rate=np.finfo(np.float64).max, steps=5)
    assert run.diverged and run.diverged_at == 1
    assert (run.logit[1:] < -1e307).all() and np.isfinite(run.logit).all()
    assert not any(np.isnan(getattr(run, name)).any() for name in ("logit", "probability", "loss", "grad_norm"))
    assert (run.loss[1:] > 1e300).all()


def test_a_non_finite_gradient_stops_the_run_where_it_happens():
    def gradient(theta):
        return np.array([np.inf]) if theta[0] < 0.5 else np.array([1.0])

    descent = training._gradient_descent(gradient, lambda thetas: thetas[:, 0] ** 2, np.array([2.0]), 0.6, 10)
    assert descent.diverged_at == 3
    assert_allclose(descent.parameters[:, 0], [2.0, 1.4, 0.8] + [0.2] * 8, rtol=1e-15)
    assert (descent.gradients[3:, 0] == np.inf).all()
    assert_allclose(descent.loss, descent.parameters[:, 0] ** 2)


# ------------------------------------------------------------ part 1: validation


@pytest.mark.parametrize(
    ("kwargs", "fragments"),
    [
        ({"learning_rate": 0.0}, ["learning_rate", "(0, inf)", "0.0"]),
        ({"learning_rate": -1}, ["learning_rate", "(0, inf)", "-1"]),
        ({"learning_rate": float("nan")}, ["learning_rate", "(0, inf)", "nan"]),
        ({"learning_rate": float("inf")}, ["learning_rate", "(0, inf)", "inf"]),
        ({"learning_rate": "fast"}, ["learning_rate", "'fast'"]),
        ({"steps": 0}, ["steps", "integer in [1, 1000]", "0"]),
        ({"steps": 1001}, ["steps", "integer in [1, 1000]", "1001"]),
        ({"steps": 10.5}, ["steps", "integer in [1, 1000]", "10.5"]),
        ({"steps": float("nan")}, ["steps", "integer in [1, 1000]", "nan"]),
        ({"steps": True}, ["steps", "integer in [1, 1000]", "True"]),
        ({"start": 0.0}, ["start", "(0, 1)", "0.0"]),
        ({"start": 1.0}, ["start", "(0, 1)", "1.0"]),
        ({"start": 1.5}, ["start", "(0, 1)", "1.5"]),
        ({"start": float("nan")}, ["start", "(0, 1)", "nan"]),
        ({"target": -0.1}, ["target", "[0, 1]", "-0.1"]),
        ({"target": float("nan")}, ["target", "[0, 1]", "nan"]),
        ({"keys": ("bce", "hinge"), "target": 0.3}, ["Hinge", "hard label", "0.3"]),
        ({"keys": ("bce", "mse")}, ["'mse'", "bce", "sigmoid_mse", "focal", "hinge"]),
        ({"keys": ("bce", "bce")}, ["'bce'", "once"]),
        ({"keys": "bce"}, ["string", "'bce'"]),
        ({"params": {"gama": 2.0}}, ["'gama'", "gamma"]),
        ({"params": {"gamma": -1.0}}, ["gamma", "[0, inf)", "-1.0"]),
        ({"params": {"gamma": float("nan")}}, ["gamma", "nan"]),
    ],
)
def test_bad_logit_descent_input_raises_a_value_error_naming_value_and_range(kwargs, fragments):
    kwargs = dict(kwargs)
    keys = kwargs.pop("keys", BINARY_KEYS if "target" not in kwargs else SOFT_KEYS)
    with pytest.raises(ValueError) as error:
        descend_logit(keys, **kwargs)
    for fragment in fragments:
        assert fragment in str(error.value), (fragment, str(error.value))


def test_integral_floats_are_accepted_as_step_counts_and_an_empty_selection_gives_no_runs():
    (run,) = descend_logit(("bce",), steps=12.0)
    assert run.logit.shape == (13,)
    assert descend_logit((), steps=5) == ()


# ------------------------------------------------------------ part 2: dataset


def test_the_dataset_follows_its_documented_recipe():
    for points, separation, noise, seed in ((40, 2.0, 0.1, 0), (7, 0.0, 0.5, 3), (500, 10.0, 0.0, 2**32 - 1)):
        data = make_dataset(points=points, separation=separation, label_noise=noise, seed=seed)
        rng = np.random.default_rng(seed)
        true_label = np.array([0.0] * (points // 2) + [1.0] * (points - points // 2))
        assert_allclose(data.x, rng.standard_normal(points) + (true_label - 0.5) * separation, rtol=1e-15)
        flipped = np.zeros(points, dtype=bool)
        flipped[rng.choice(points, size=round(noise * points), replace=False)] = True
        assert_array_equal(data.flipped, flipped)
        assert data.flipped.sum() == round(noise * points)
        assert_array_equal(data.y, np.where(flipped, 1 - true_label, true_label))
        assert data.x.dtype == data.y.dtype == np.float64


def test_the_dataset_is_deterministic_per_seed_and_separates_when_asked():
    assert_array_equal(make_dataset(seed=5).x, make_dataset(seed=5).x)
    assert not np.array_equal(make_dataset(seed=5).x, make_dataset(seed=6).x)
    wide = make_dataset(points=100, separation=10.0, label_noise=0.0, seed=1)
    assert_array_equal(wide.x > 0, wide.y == 1)


@pytest.mark.parametrize(
    ("kwargs", "fragments"),
    [
        ({"points": 1}, ["points", "integer in [2, 500]", "1"]),
        ({"points": 501}, ["points", "501"]),
        ({"points": 20.5}, ["points", "20.5"]),
        ({"separation": -1.0}, ["separation", "[0, 10]", "-1.0"]),
        ({"separation": float("nan")}, ["separation", "nan"]),
        ({"label_noise": 0.6}, ["label_noise", "[0, 0.5]", "0.6"]),
        ({"seed": -1}, ["seed", "integer", "-1"]),
        ({"seed": 1.5}, ["seed", "1.5"]),
    ],
)
def test_bad_dataset_controls_raise_a_value_error_naming_value_and_range(kwargs, fragments):
    with pytest.raises(ValueError) as error:
        make_dataset(**kwargs)
    for fragment in fragments:
        assert fragment in str(error.value), (fragment, str(error.value))


def test_a_hand_made_dataset_is_validated():
    with pytest.raises(ValueError, match=r"0 or 1, got 0\.5"):
        Dataset(x=[0.0, 1.0], y=[0.0, 0.5], flipped=[False, False])
    with pytest.raises(ValueError, match="one length"):
        Dataset(x=[0.0, 1.0], y=[0.0], flipped=[False, False])
    with pytest.raises(ValueError, match="finite"):
        Dataset(x=[0.0, np.nan], y=[0.0, 1.0], flipped=[False, False])


# ------------------------------------------------------------ part 2: surfaces


@pytest.fixture(scope="module")
def dataset():
    return make_dataset()


def hand_mean_loss(key, data, w, b, **params):
    """Per-point loop: closed forms for BCE and MSE on the sigmoid, scalar registry calls for the rest."""
    spec = registry.get(key)
    total = 0.0
    for xi, yi in zip(data.x.tolist(), data.y.tolist(), strict=True):
        z = w * xi + b
        if key == "bce":
            total += bce_closed_form(z, yi)
        elif key == "sigmoid_mse":
            total += sigmoid_mse_closed_form(z, yi)
        else:
            total += float(spec.loss_from_logit(z, yi, **params))
    return total / data.x.size


def test_surface_values_match_a_per_point_loop_at_grid_points(dataset):
    surfaces = loss_surface(dataset, BINARY_KEYS, w_range=(-8.0, 6.0), b_range=(-3.0, 5.0), resolution=41)
    rng = np.random.default_rng(0)
    for surface in surfaces:
        assert surface.loss.shape == (41, 41) and surface.w.shape == surface.b.shape == (41,)
        assert surface.w[0] == -8.0 and surface.w[-1] == 6.0 and surface.b[0] == -3.0 and surface.b[-1] == 5.0
        for i, j in [(0, 0), (40, 0), (0, 40), (17, 29), *rng.integers(0, 41, size=(4, 2)).tolist()]:
            expected = hand_mean_loss(surface.key, dataset, surface.w[j], surface.b[i])
            assert surface.loss[i, j] == pytest.approx(expected, rel=1e-12), (surface.key, i, j)


def test_surface_is_the_same_when_computed_in_many_small_chunks(dataset, monkeypatch):
    whole = loss_surface(dataset, BINARY_KEYS, resolution=31)
    monkeypatch.setattr(training, "SURFACE_CHUNK_ELEMENTS", 7 * dataset.x.size + 3)
    chunked = loss_surface(dataset, BINARY_KEYS, resolution=31)
    for a, b in zip(whole, chunked, strict=True):
        assert_array_equal(a.loss, b.loss)


def test_default_surface_grid_is_121_by_121_with_zero_on_both_axes(dataset):
    bce, mse = loss_surface(dataset)
    assert (bce.key, mse.key) == ("bce", "sigmoid_mse")
    assert bce.loss.shape == mse.loss.shape == (121, 121)
    assert 0.0 in bce.w and 0.0 in bce.b
    assert bce.loss.dtype == np.float64 and np.isfinite(bce.loss).all() and np.isfinite(mse.loss).all()


def test_mean_loss_broadcasts_w_against_b(dataset):
    w = np.array([-1.0, 0.5, 2.0])
    b = np.array([[0.0], [1.5]])
    values = mean_loss(dataset, "focal", w, b, params={"gamma": 1.5})
    assert values.shape == (2, 3)
    assert values[1, 2] == pytest.approx(hand_mean_loss("focal", dataset, 2.0, 1.5, gamma=1.5), rel=1e-12)


def hessian_by_finite_differences(dataset, key, w, b, h=H):
    """The 2x2 Hessian of the surface at (w, b) from a 3x3 patch of loss_surface."""
    patch = loss_surface(dataset, [key], w_range=(w - h, w + h), b_range=(b - h, b + h), resolution=3)[0].loss
    d_ww = (patch[1, 2] - 2 * patch[1, 1] + patch[1, 0]) / h**2
    d_bb = (patch[2, 1] - 2 * patch[1, 1] + patch[0, 1]) / h**2
    d_wb = (patch[2, 2] - patch[2, 0] - patch[0, 2] + patch[0, 0]) / (4 * h * h)
    return np.array([[d_ww, d_wb], [d_wb, d_bb]])


def test_mse_on_sigmoid_is_not_convex_its_hessian_has_a_negative_eigenvalue_on_the_plateau(dataset):
    w, b = training.DEFAULT_PARAMETER_START
    mse_eigenvalues = np.linalg.eigvalsh(hessian_by_finite_differences(dataset, "sigmoid_mse", w, b))
    bce_eigenvalues = np.linalg.eigvalsh(hessian_by_finite_differences(dataset, "bce", w, b))
    # Rounding in a second difference at h = 1e-3 is about 1e-16 / 1e-6 = 1e-10: far below these.
    assert mse_eigenvalues[0] < -1e-2
    assert bce_eigenvalues[0] > 1e-4


def midpoint_gaps(loss, rng, chords):
    """(L(a) + L(b)) / 2 - L((a + b) / 2) for random chords between grid points with a grid midpoint."""
    n = loss.shape[0]
    a = rng.integers(0, n, size=(chords, 2))
    b = rng.integers(0, n, size=(chords, 2))
    b += (b - a) % 2  # same parity as a in each coordinate: the midpoint is a grid point
    b = np.where(b >= n, b - 2, b)
    mid = (a + b) // 2
    return (loss[a[:, 0], a[:, 1]] + loss[b[:, 0], b[:, 1]]) / 2 - loss[mid[:, 0], mid[:, 1]]


def test_bce_surface_is_midpoint_convex_along_random_chords_and_mse_is_not(dataset):
    bce, mse = loss_surface(dataset)
    bce_gaps = midpoint_gaps(bce.loss, np.random.default_rng(1), 4000)
    mse_gaps = midpoint_gaps(mse.loss, np.random.default_rng(1), 4000)
    assert bce_gaps.min() >= -1e-12 * bce.loss.max()
    assert mse_gaps.min() < -1e-2  # a chord well below the surface: clearly not convex
    assert (mse_gaps < -1e-3).mean() > 0.05


def test_mse_surface_has_plateaus_that_bce_does_not(dataset):
    bce, mse = loss_surface(dataset)
    step = bce.w[1] - bce.w[0]
    flat = {}
    for surface in (bce, mse):
        d_b, d_w = np.gradient(surface.loss, step)
        flat[surface.key] = (np.hypot(d_w, d_b) < 1e-3).mean()
    assert flat["bce"] == 0.0
    assert flat["sigmoid_mse"] > 0.01


@pytest.mark.parametrize(
    ("kwargs", "fragments"),
    [
        ({"w_range": (1.0, 1.0)}, ["w_range", "low < high", "(1.0, 1.0)"]),
        ({"b_range": (2.0, -2.0)}, ["b_range", "(2.0, -2.0)"]),
        ({"w_range": (float("nan"), 1.0)}, ["w_range", "nan"]),
        ({"b_range": (0.0, 2e6)}, ["b_range", "2000000.0"]),
        ({"w_range": 5.0}, ["w_range", "5.0"]),
        ({"resolution": 1}, ["resolution", "integer in [2, 401]", "1"]),
        ({"resolution": 402}, ["resolution", "402"]),
        ({"keys": ("bce", "cross_entropy")}, ["'cross_entropy'"]),
    ],
)
def test_bad_surface_input_raises_a_value_error_naming_value_and_range(dataset, kwargs, fragments):
    kwargs = dict(kwargs)
    keys = kwargs.pop("keys", ("bce",))
    with pytest.raises(ValueError) as error:
        loss_surface(dataset, keys, **kwargs)
    for fragment in fragments:
        assert fragment in str(error.value), (fragment, str(error.value))


# ------------------------------------------------------------ part 2: paths


def hand_parameter_descent(key, data, start, lr, steps, **params):
    """(w, b) -= lr * (mean(g_i x_i), mean(g_i)), with g_i from scalar registry calls."""
    spec = registry.get(key)
    w, b = start
    path = [(w, b)]
    xs, ys = data.x.tolist(), data.y.tolist()
    for _ in range(steps):
        slopes = [float(spec.grad_from_logit(w * xi + b, yi, **params)) for xi, yi in zip(xs, ys, strict=True)]
        grad_w = sum(g * xi for g, xi in zip(slopes, xs, strict=True)) / len(xs)
        grad_b = sum(slopes) / len(xs)
        w, b = w - lr * grad_w, b - lr * grad_b
        path.append((w, b))
    return np.array(path)


def hand_gradient_is_finite(key, data, w, b, **params):
    spec = registry.get(key)
    with np.errstate(over="ignore", invalid="ignore"):
        slopes = [float(spec.grad_from_logit(w * xi + b, yi, **params)) for xi, yi in zip(data.x, data.y, strict=True)]
    return all(math.isfinite(g) for g in slopes) and math.isfinite(sum(g * xi for g, xi in zip(slopes, data.x, strict=True)))


@pytest.mark.parametrize(("start", "lr"), [(training.DEFAULT_PARAMETER_START, 1.0), ((3.0, -5.0), 2.5)])
def test_parameter_paths_match_a_hand_unrolled_loop(dataset, start, lr):
    paths = descend_parameters(dataset, BINARY_KEYS, start=start, learning_rate=lr, steps=25,
                               params={"gamma": 1.0})
    converged = 0
    for path in paths:
        params = {"gamma": 1.0} if path.key == "focal" else {}
        with np.errstate(over="ignore", invalid="ignore"):  # the hand loop runs on past a divergence
            expected = hand_parameter_descent(path.key, dataset, start, lr, 25, **params)
        # Divergence (module docstring): the first step past |1e6| or not finite, or whose gradient is
        # not finite; the run holds there.
        end = next((t for t, (w, b) in enumerate(expected)
                    if not (math.isfinite(w) and math.isfinite(b) and max(abs(w), abs(b)) <= 1e6)
                    or not hand_gradient_is_finite(path.key, dataset, w, b, **params)), None)
        if end is not None:  # exponential's gradient e^{|z|} throws it far on the first steps
            assert path.diverged_at == end, path.key
            expected[end:] = expected[end]
        else:
            assert not path.diverged and path.diverged_at is None
            converged += 1
        assert_allclose(path.w, expected[:, 0], rtol=1e-10, atol=1e-12, err_msg=path.key)
        assert_allclose(path.b, expected[:, 1], rtol=1e-10, atol=1e-12, err_msg=path.key)
        shown = expected[: 26 if end is None else end][::5]
        losses = [hand_mean_loss(path.key, dataset, w, b, **params) for w, b in shown]
        assert_allclose(path.loss[: 26 if end is None else end][::5], losses, rtol=1e-10)
    assert converged >= 4  # BCE, MSE on the sigmoid, focal and hinge at least


def test_path_gradients_match_finite_differences_of_the_surface(dataset):
    for path in descend_parameters(dataset, ("bce", "sigmoid_mse", "focal"), steps=60):
        for t in (0, 1, 5, 20, 60):
            w, b = float(path.w[t]), float(path.b[t])
            patch = loss_surface(dataset, [path.key], w_range=(w - 2 * H, w + 2 * H),
                                 b_range=(b - 2 * H, b + 2 * H), resolution=5)[0].loss
            numeric_w = (patch[2, 0] - 8 * patch[2, 1] + 8 * patch[2, 3] - patch[2, 4]) / (12 * H)
            numeric_b = (patch[0, 2] - 8 * patch[1, 2] + 8 * patch[3, 2] - patch[4, 2]) / (12 * H)
            assert path.grad_w[t] == pytest.approx(numeric_w, rel=1e-6, abs=1e-9), (path.key, t)
            assert path.grad_b[t] == pytest.approx(numeric_b, rel=1e-6, abs=1e-9), (path.key, t)


def test_each_path_step_is_the_learning_rate_times_the_recorded_gradient(dataset):
    for path in descend_parameters(dataset, learning_rate=0.3, steps=40):
        assert_allclose(path.w[1:], path.w[:-1] - 0.3 * path.grad_w[:-1], rtol=1e-15, atol=1e-15)
        assert_allclose(path.b[1:], path.b[:-1] - 0.3 * path.grad_b[:-1], rtol=1e-15, atol=1e-15)
        assert path.w.shape == path.loss.shape == path.grad_b.shape == path.step.shape == (41,)
        assert path.w.dtype == np.float64


def test_from_the_default_plateau_start_bce_reaches_its_minimum_and_mse_stalls(dataset):
    bce_path, mse_path = descend_parameters(dataset)
    bce_surface, mse_surface = loss_surface(dataset)
    # BCE is within 1% of its minimum on the grid in a few dozen steps ...
    assert first_index(bce_path.loss <= 1.01 * bce_surface.loss.min()) < 30
    # ... while MSE on the sigmoid is still on its plateau, far above its own minimum.
    assert mse_path.loss[-1] > 0.4 > 2 * mse_surface.loss.min()


def test_a_huge_learning_rate_diverges_the_path_and_holds_without_nan(dataset):
    for path in descend_parameters(dataset, BINARY_KEYS, learning_rate=1e9, steps=10):
        assert path.diverged and path.diverged_at == 1, path.key
        for name in ("w", "b", "loss", "grad_w", "grad_b"):
            array = getattr(path, name)
            assert not np.isnan(array).any(), (path.key, name)
            assert (array[1:] == array[1]).all(), (path.key, name)
        assert max(abs(path.w[1]), abs(path.b[1])) > training.DIVERGENCE_LIMIT


def test_an_overflowing_path_step_gives_no_nan_and_no_warning(dataset):
    for path in descend_parameters(dataset, BINARY_KEYS, learning_rate=np.finfo(np.float64).max, steps=3):
        assert path.diverged
        assert not any(np.isnan(getattr(path, n)).any() for n in ("w", "b", "loss", "grad_w", "grad_b"))


@pytest.mark.parametrize(
    ("kwargs", "fragments"),
    [
        ({"start": (float("nan"), 0.0)}, ["start", "(w, b)", "nan"]),
        ({"start": (1.0,)}, ["start", "(1.0,)"]),
        ({"start": (2e6, 0.0)}, ["start", "1e+06", "2000000.0"]),
        ({"start": "ab"}, ["start", "'ab'"]),
        ({"learning_rate": 0.0}, ["learning_rate", "(0, inf)"]),
        ({"steps": 1001}, ["steps", "[1, 1000]", "1001"]),
    ],
)
def test_bad_path_input_raises_a_value_error_naming_value_and_range(dataset, kwargs, fragments):
    with pytest.raises(ValueError) as error:
        descend_parameters(dataset, **kwargs)
    for fragment in fragments:
        assert fragment in str(error.value), (fragment, str(error.value))
