"""The loss registry: unique keys, valid tasks/links/parameters, LaTeX, grouping,
and consistency between its prediction-space and logit-space functions."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import special

import losslab
from losslab import links, registry

SPECS = registry.LOSSES
SPEC_IDS = [spec.key for spec in SPECS]
LINKS = ("identity", "sigmoid", "softmax")
LINK_OF_TASK = {"regression": "identity", "binary": "sigmoid", "multiclass": "softmax", "robust": "identity"}


def test_registry_keys_are_unique_and_indexed():
    keys = [spec.key for spec in SPECS]
    assert len(keys) == len(set(keys))
    assert set(registry.BY_KEY) == set(keys)
    for spec in SPECS:
        assert registry.get(spec.key) is spec


def test_registry_covers_the_core_losses_of_every_task():
    keys = {spec.key for spec in SPECS}
    assert {"mse", "mae", "huber", "bce", "cross_entropy", "kl_divergence"} <= keys
    assert {spec.task for spec in SPECS} == set(registry.TASKS)


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_spec_task_and_link_are_valid_and_match(spec):
    assert spec.task in registry.TASKS
    assert spec.link in LINKS
    assert spec.link == LINK_OF_TASK[spec.task]
    assert re.fullmatch(r"[a-z][a-z0-9_]*", spec.key)
    assert spec.label.strip() and spec.summary.strip()


def _balanced(latex: str) -> bool:
    depth = 0
    for character in re.sub(r"\\[{}]", "", latex):
        depth += {"{": 1, "}": -1}.get(character, 0)
        if depth < 0:
            return False
    return depth == 0 and latex.count(r"\begin{") == latex.count(r"\end{")


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_spec_latex_is_present_and_well_formed(spec):
    formulas = [spec.latex_loss, spec.latex_grad]
    if spec.link in ("sigmoid", "softmax"):
        assert spec.latex_grad_logit is not None
        formulas.append(spec.latex_grad_logit)
    for formula in formulas:
        assert isinstance(formula, str) and formula.strip(), spec.key
        assert _balanced(formula), (spec.key, formula)
    assert r"\ell" in spec.latex_loss
    assert r"\partial" in spec.latex_grad


@pytest.mark.parametrize("spec", [s for s in SPECS if s.parameters], ids=lambda s: s.key)
def test_spec_parameters_have_defaults_inside_their_valid_interval_and_slider(spec):
    names = [p.name for p in spec.parameters]
    assert len(names) == len(set(names))
    for parameter in spec.parameters:
        assert parameter.valid.contains(parameter.default), parameter
        assert parameter.slider_min < parameter.slider_max, parameter
        assert parameter.slider_min <= parameter.default <= parameter.slider_max, parameter
        assert parameter.valid.contains(parameter.slider_min), parameter
        assert parameter.valid.contains(parameter.slider_max), parameter
        if parameter.log_scale:
            assert parameter.slider_min > 0, parameter
        assert parameter.label.strip() and parameter.latex.strip()
        assert parameter.latex in spec.latex_loss, (parameter.latex, spec.latex_loss)
        assert parameter.validate(parameter.default) == parameter.default


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_spec_functions_accept_the_spec_parameters_as_keywords(spec):
    params = spec.defaults()
    assert params == {p.name: p.default for p in spec.parameters}
    functions = [spec.loss, spec.grad, spec.loss_from_logit, spec.grad_from_logit]
    for function in [f for f in functions if f is not None]:
        pred = np.array([[0.2, 0.5, 0.3]]) if spec.task == "multiclass" else np.array([0.2, 0.6])
        target = np.array([[0.0, 1.0, 0.0]]) if spec.task == "multiclass" else np.array([0.0, 1.0])
        result = np.asarray(function(pred, target, **params))
        assert np.isfinite(result).all(), (spec.key, function)


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_spec_losses_are_unreduced(spec):
    if spec.task == "multiclass":
        pred = np.full((5, 3), 1 / 3)
        target = np.eye(3)[[0, 1, 2, 0, 1]]
        expected_shape = (5,)
    else:
        pred = np.linspace(0.1, 0.9, 5)
        target = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
        expected_shape = (5,)
    assert np.shape(spec.loss(pred, target, **spec.defaults())) == expected_shape
    assert np.shape(spec.grad(pred, target, **spec.defaults())) == pred.shape
    if spec.loss_from_logit is not None:
        assert np.shape(spec.loss_from_logit(pred, target, **spec.defaults())) == expected_shape
        assert np.shape(spec.grad_from_logit(pred, target, **spec.defaults())) == pred.shape


def test_for_task_groups_every_spec_once_in_registry_order():
    regrouped = []
    for task in registry.TASKS:
        group = registry.for_task(task)
        assert group, task
        assert all(spec.task == task for spec in group)
        assert list(group) == [spec for spec in SPECS if spec.task == task]
        regrouped.extend(group)
    assert sorted(s.key for s in regrouped) == sorted(SPEC_IDS)
    assert {s.key for s in registry.for_task("regression")} >= {"mse", "mae", "huber"}
    assert {s.key for s in registry.for_task("binary")} >= {"bce"}
    assert {s.key for s in registry.for_task("multiclass")} >= {"cross_entropy"}
    assert {s.key for s in registry.for_task("robust")} >= {"pseudo_huber", "cauchy", "geman_mcclure", "tukey", "barron"}


def test_only_hinge_requires_hard_labels():
    assert [s.key for s in SPECS if s.hard_labels_only] == ["hinge"]


# ------------------------------------- prediction space vs logit space agree


@pytest.mark.parametrize("spec", [s for s in SPECS if s.link == "sigmoid"], ids=lambda s: s.key)
def test_sigmoid_spec_loss_of_the_probability_equals_loss_of_the_logit(spec):
    z = np.linspace(-6, 6, 13) + 0.05  # hinge kinks at +-1 avoided
    target = np.tile([0.0, 1.0], 7)[:13]
    p = special.expit(z)
    params = spec.defaults()
    assert_allclose(spec.loss(p, target, **params), spec.loss_from_logit(z, target, **params), rtol=1e-8)
    chained = links.sigmoid_chain(spec.grad(p, target, **params), z)
    assert_allclose(chained, spec.grad_from_logit(z, target, **params), rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("spec", [s for s in SPECS if s.link == "softmax"], ids=lambda s: s.key)
def test_softmax_spec_loss_of_the_probabilities_equals_loss_of_the_logits(spec):
    rng = np.random.default_rng(9)
    z = rng.normal(0, 2, (6, 4))
    target = rng.dirichlet(np.ones(4), size=6)
    p = special.softmax(z, axis=-1)
    assert_allclose(spec.loss(p, target), spec.loss_from_logit(z, target), rtol=1e-10)
    chained = links.softmax_chain(spec.grad(p, target), z)
    assert_allclose(chained, spec.grad_from_logit(z, target), rtol=1e-9, atol=1e-13)


def test_registry_bce_and_cross_entropy_logit_gradients_are_p_minus_y():
    z = np.array([-3.0, 0.0, 2.0])
    y = np.array([1.0, 0.3, 0.0])
    assert_allclose(registry.get("bce").grad_from_logit(z, y), special.expit(z) - y, rtol=1e-14)
    zz = np.array([[1.0, 2.0, 3.0]])
    yy = np.array([[0.2, 0.3, 0.5]])
    assert_allclose(registry.get("cross_entropy").grad_from_logit(zz, yy), special.softmax(zz, axis=-1) - yy, rtol=1e-13)


def test_registry_hinge_maps_binary_labels_to_plus_minus_one():
    hinge = registry.get("hinge")
    z = np.array([0.5, 0.5, 2.0, -2.0])
    y = np.array([1.0, 0.0, 1.0, 0.0])
    assert_allclose(hinge.loss_from_logit(z, y), [0.5, 1.5, 0.0, 0.0])
    assert_allclose(hinge.grad_from_logit(z, y), [-1.0, 1.0, 0.0, 0.0])


# ------------------------------------------------------------ public API


def _reduced_losses():
    """Public losses: functions with a ``reduction``, except the ``*_and_grad`` pairs."""
    names = []
    for name in losslab.__all__:
        function = getattr(losslab, name)
        if name.endswith("_and_grad"):
            continue
        if callable(function) and "reduction" in inspect.signature(function).parameters:
            names.append(name)
    return names


def test_every_public_loss_and_grad_pair_has_its_loss_and_grad():
    for name in [n for n in losslab.__all__ if n.endswith("_and_grad")]:
        base = name.removesuffix("_and_grad")
        assert base in _reduced_losses() and f"{base}_grad" in losslab.__all__, name
        together = set(inspect.signature(getattr(losslab, name)).parameters)
        assert together == set(inspect.signature(getattr(losslab, base)).parameters), name


def test_every_name_in_all_exists_and_is_unique():
    assert len(losslab.__all__) == len(set(losslab.__all__))
    for name in losslab.__all__:
        assert callable(getattr(losslab, name)), name


def test_every_public_loss_has_a_grad_partner_and_every_grad_has_a_loss():
    losses = _reduced_losses()
    assert len(losses) >= 15
    for name in losses:
        assert f"{name}_grad" in losslab.__all__, name
        assert callable(getattr(losslab, f"{name}_grad"))
    for name in losslab.__all__:
        if name.endswith("_grad") and not name.endswith("_and_grad"):
            assert name.removesuffix("_grad") in losses, name


@pytest.mark.parametrize("name", _reduced_losses())
def test_public_loss_and_grad_share_their_keyword_parameters(name):
    loss_params = set(inspect.signature(getattr(losslab, name)).parameters) - {"reduction"}
    grad_params = set(inspect.signature(getattr(losslab, f"{name}_grad")).parameters)
    assert loss_params == grad_params, name


def test_every_registry_function_is_built_from_a_public_loss():
    public = {getattr(losslab, name) for name in losslab.__all__}
    for spec in SPECS:
        for function in (spec.grad, spec.grad_from_logit):
            if function is None or function.__name__.endswith("_of_probability"):
                continue
            if function.__name__.startswith("_hinge"):
                continue
            assert function in public, (spec.key, function)
