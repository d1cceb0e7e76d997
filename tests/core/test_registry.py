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
from losslab import _story, links, registry

from .atlas_checks import logit_inputs, per_row, prediction_inputs

SPECS = registry.LOSSES
SPEC_IDS = [spec.key for spec in SPECS]
LINKS = ("identity", "sigmoid", "softmax")
# generative: the GAN losses of D(G(z)) = sigmoid(d); the critics' raw scores and the VAE's mean
LINKS_OF_TASK = {"regression": {"identity"}, "binary": {"sigmoid"}, "multiclass": {"softmax"},
                 "robust": {"identity"}, "counts": {"identity"}, "generative": {"sigmoid", "identity"},
                 "segmentation": {"sigmoid"}, "detection": {"identity"}, "metric": {"identity"},
                 "ranking": {"identity"}, "sequence": {"identity"}}
HARD_LABEL_SPECS = ["hinge", "squared_hinge", "exponential", "gan_discriminator", "wgan_critic",
                    "hinge_gan_discriminator", "contrastive", "cosine_embedding", "margin_ranking"]


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
    assert set(LINKS_OF_TASK) == set(registry.TASKS)


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_spec_task_and_link_are_valid_and_match(spec):
    assert spec.task in registry.TASKS
    assert spec.link in LINKS
    assert spec.link in LINKS_OF_TASK[spec.task]
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
    rng = np.random.default_rng(3)
    pred, target, _ = prediction_inputs(spec, params, rng)
    for function in (spec.loss, spec.grad):
        assert np.isfinite(np.asarray(function(pred, target, **params))).all(), (spec.key, function)
    if spec.loss_from_logit is not None:
        z, target = logit_inputs(spec, params, rng)
        for function in (spec.loss_from_logit, spec.grad_from_logit):
            assert np.isfinite(np.asarray(function(z, target, **params))).all(), (spec.key, function)
    for function in [f for f in (spec.loss, spec.grad, spec.loss_from_logit, spec.grad_from_logit) if f]:
        accepted = inspect.signature(function).parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
        assert takes_any or set(params) <= set(accepted), (spec.key, function, set(params) - set(accepted))


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_spec_losses_reject_a_misspelt_parameter(spec):
    """A misspelt parameter raises instead of being swallowed (``**params`` adapters take none)."""
    rng = np.random.default_rng(4)
    pred, target, _ = prediction_inputs(spec, spec.defaults(), rng)
    if not spec.parameters:
        return
    with pytest.raises(TypeError):
        spec.loss(pred, target, **spec.defaults(), not_a_parameter=1.0)


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_spec_losses_are_unreduced(spec):
    """One loss per element, or per row for the specs whose last axis is one sample."""
    pred, target, _ = prediction_inputs(spec, spec.defaults(), np.random.default_rng(5))
    expected_shape = pred.shape[:-1] if per_row(spec) else pred.shape
    assert np.shape(spec.loss(pred, target, **spec.defaults())) == expected_shape
    assert np.shape(spec.grad(pred, target, **spec.defaults())) == pred.shape
    if spec.loss_from_logit is not None:
        z, target = logit_inputs(spec, spec.defaults(), np.random.default_rng(5))
        assert np.shape(spec.loss_from_logit(z, target, **spec.defaults())) == expected_shape
        assert np.shape(spec.grad_from_logit(z, target, **spec.defaults())) == z.shape


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_a_single_sample_gives_a_scalar_loss(spec):
    """A 1-D input is one row for the per-row specs (a scalar loss) and 5 samples for the others."""
    pred, target, _ = prediction_inputs(spec, spec.defaults(), np.random.default_rng(6))
    row_pred, row_target = pred[0], target[0]
    loss = np.asarray(spec.loss(row_pred, row_target, **spec.defaults()))
    assert loss.shape == (() if per_row(spec) else row_pred.shape)
    np.testing.assert_array_equal(loss, np.asarray(spec.loss(pred, target, **spec.defaults()))[0])


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


def test_exactly_the_margin_and_real_or_fake_losses_require_hard_labels():
    assert sorted(s.key for s in SPECS if s.hard_labels_only) == sorted(HARD_LABEL_SPECS)


# ------------------------------------- prediction space vs logit space agree


@pytest.mark.parametrize("spec", [s for s in SPECS if s.link == "sigmoid"], ids=lambda s: s.key)
def test_sigmoid_spec_loss_of_the_probability_equals_loss_of_the_logit(spec):
    params = spec.defaults()
    if per_row(spec):
        z, target = logit_inputs(spec, params, np.random.default_rng(7))
    else:
        z = np.linspace(-6, 6, 13) + 0.05  # hinge kinks at +-1 avoided
        target = np.tile([0.0, 1.0], 7)[:13]
    p = special.expit(z)
    assert_allclose(spec.loss(p, target, **params), spec.loss_from_logit(z, target, **params), rtol=1e-8)
    chained = links.sigmoid_chain(spec.grad(p, target, **params), z)
    assert_allclose(chained, spec.grad_from_logit(z, target, **params), rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("spec", [s for s in SPECS if s.link == "softmax"], ids=lambda s: s.key)
def test_softmax_spec_loss_of_the_probabilities_equals_loss_of_the_logits(spec):
    rng = np.random.default_rng(9)
    z = rng.normal(0, 2, (6, 4))
    target = rng.dirichlet(np.ones(4), size=6)
    p = special.softmax(z, axis=-1)
    params = spec.defaults()
    assert_allclose(spec.loss(p, target, **params), spec.loss_from_logit(z, target, **params), rtol=1e-10)
    chained = links.softmax_chain(spec.grad(p, target, **params), z)
    assert_allclose(chained, spec.grad_from_logit(z, target, **params), rtol=1e-9, atol=1e-13)


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
        if name.endswith("_and_grad") or (name.endswith("_grad") and name.removesuffix("_grad") in losslab.__all__):
            continue  # a gradient that also offers the reduced loss's gradient (CTC) is still a gradient
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
    # CTC's gradient may also be of the reduced loss (PyTorch's per-target-length mean), as an option
    grad_params = set(inspect.signature(getattr(losslab, f"{name}_grad")).parameters) - {"reduction"}
    assert loss_params == grad_params, name


def test_every_registry_function_is_built_from_a_public_loss():
    """Each function is a public core function, a probability-space wrapper of one, the hinge's label
    mapping, or a one-variable story of losslab._story (which tests/core/test_story.py checks against
    the public function it wraps)."""
    public = {getattr(losslab, name) for name in losslab.__all__}
    stories = [value for value in vars(_story).values() if callable(value)]
    stories += [f for value in vars(_story).values() if isinstance(value, tuple) for f in value if callable(f)]
    for spec in SPECS:
        for function in (spec.loss, spec.grad, spec.loss_from_logit, spec.grad_from_logit):
            function = getattr(function, "__wrapped__", function)  # registry._float32_safe's guard
            if function is None or function.__name__.endswith("_of_probability"):
                continue
            if function.__name__.startswith("_hinge"):
                continue
            if any(function is story for story in stories):
                assert function.__module__ == "losslab._story", (spec.key, function)
                continue
            core = getattr(function, "func", function)  # _elementwise: a partial with reduction="none"
            assert core in public, (spec.key, function)


@pytest.mark.parametrize("task", registry.TASKS)
def test_a_parameter_name_means_one_parameter_within_a_task(task):
    """A view shows one slider per name: two losses of a task may share a name only for the same parameter
    (so Tversky's alpha and combo's BCE weight, or a ranking and a cosine margin, need names of their own)."""
    seen = {}
    for spec in registry.for_task(task):
        for parameter in spec.parameters:
            first = seen.setdefault(parameter.name, (spec.key, parameter))
            assert first[1] == parameter, f"{task}: {parameter.name!r} of {spec.key} differs from {first[0]}'s"


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_one_target_broadcasts_against_a_grid_of_predictions(spec):
    """The views sweep a grid of predictions against one target (one target row for the per-row specs)."""
    params = spec.defaults()
    rng = np.random.default_rng(13)
    pred, target, _ = prediction_inputs(spec, params, rng)
    calls = [(spec.loss, spec.grad, pred, target)]
    if spec.loss_from_logit is not None:
        calls.append((spec.loss_from_logit, spec.grad_from_logit, *logit_inputs(spec, params, rng)))
    for loss, grad, x, full_target in calls:
        one = full_target[0] if per_row(spec) else full_target.flat[0]
        spread = np.broadcast_to(one, x.shape).copy()
        assert_allclose(loss(x, one, **params), loss(x, spread, **params), rtol=1e-15)
        gradient = np.asarray(grad(x, one, **params))
        assert gradient.shape == x.shape
        assert_allclose(gradient, grad(x, spread, **params), rtol=1e-15)
