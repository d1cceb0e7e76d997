"""A control changed while nothing it moves is drawn says so, next to it, instead of looking broken.

Found on /generative (μ on the default GAN axis moved nothing) and, the same bug in every view, each
loss hyperparameter whose losses are not ticked (τ, β and σ² on /regression, γ on /binary, ...).
"""

from __future__ import annotations

from dataclasses import replace

import dash
import pytest

from losslab import registry
from losslab.dashboard import callbacks, controls, views
from losslab.dashboard.url_state import ViewState

from . import typed_values


def change(view, state, name: str, raw: str, **extra_overrides):
    numbers, losses, extras = typed_values(view, state)
    numbers[name] = raw
    extras |= extra_overrides
    return callbacks.update_view(view, numbers, losses, view.encode_query(state), frozenset({name}), **extras)


def new_value(control: controls.NumberControl, value: float) -> str:
    """A value the control accepts, different from ``value``."""
    for candidate in (control.slider_max, control.slider_min, (control.slider_min + control.slider_max) / 2):
        candidate = 10**candidate if control.log_scale else candidate
        if candidate != value and control.valid.contains(candidate):
            return controls.format_number(candidate)
    raise AssertionError(f"no other value for {control.name}")


def owners_of(view, name: str) -> tuple[str, ...]:
    return tuple(key for key in view.loss_keys if any(p.name == name for p in registry.get(key).parameters))


def with_losses(view, losses) -> ViewState:
    return replace(view.default_state(), losses=tuple(losses))


def drawing(view, name: str) -> ViewState:
    """A state that draws the losses of control ``name`` where it moves them: segmentation's α weighs the
    false positives, none of which exist on the default clean background (b = 0; it says so there)."""
    state = with_losses(view, owners_of(view, name))
    if view.name == "segmentation" and name == "alpha":
        state = replace(state, numbers={**state.numbers, "background_probability": 0.05})
    return state


# (view, control, its losses, a state drawing none of them, a state drawing them)
HYPERPARAMETERS = [
    (view, control.name, owners_of(view, control.name),
     with_losses(view, [k for k in view.default_state().losses if k not in owners_of(view, control.name)]
                 or [next(k for k in view.loss_keys if k not in owners_of(view, control.name))]),
     drawing(view, control.name))
    for view in views.VIEWS if view.loss_checklist for control in view.numbers
    if owners_of(view, control.name) and len(owners_of(view, control.name)) < len(view.loss_keys)
]
IDS = [f"{case[0].name}-{case[1]}" for case in HYPERPARAMETERS]


def test_the_cases_cover_every_view_with_a_hyperparameter_slider():
    assert {case[0].name for case in HYPERPARAMETERS} >= {
        "regression", "binary", "multiclass", "training", "robust", "segmentation", "metric", "generative"}
    assert all(set(case[0].plotted_losses(case[3])).isdisjoint(case[2]) for case in HYPERPARAMETERS)


@pytest.mark.parametrize(("view", "name", "owners", "without", "_with"), HYPERPARAMETERS, ids=IDS)
def test_a_hyperparameter_of_losses_not_ticked_says_which_loss_to_tick(view, name, owners, without, _with):
    result = change(view, without, name, new_value(view.number(name), without.number(name)))
    message = result[f"message:{name}"]
    assert message.startswith(view.number(name).label), message
    assert any(registry.get(key).label in message for key in owners), message
    assert "Losses to compare" in message or "x axis" in message, message
    assert result["loss_figure"] is not dash.no_update  # a hint, not an error: the change is applied
    assert f"{name}=" in result["query"]


DRAWN = [case for case in HYPERPARAMETERS if not set(case[0].plotted_losses(case[4])).isdisjoint(case[2])]


@pytest.mark.parametrize(("view", "name", "owners", "_without", "with_"), DRAWN,
                         ids=[f"{case[0].name}-{case[1]}" for case in DRAWN])
def test_a_hyperparameter_of_a_drawn_loss_changes_its_curve_with_no_message(view, name, owners, _without, with_):
    result = change(view, with_, name, new_value(view.number(name), with_.number(name)))
    assert result[f"message:{name}"] == ""
    assert result["loss_figure"] is not dash.no_update


def test_mu_and_log_variance_on_the_gan_axes_point_to_the_mu_axis():
    view = views.get("generative")
    default = view.default_state()
    assert default.axis == "logit"
    for name in ("mu", "logvar"):
        message = change(view, default, name, "1.25")[f"message:{name}"]
        assert "VAE KL" in message and "VAE encoder mean μ" in message, message
    on_mu = view.parse_query("?axis=mu&losses=gaussian_kl")
    assert change(view, on_mu, "mu", "1.25")["message:mu"] == ""
    assert change(view, on_mu, "logvar", "1.25")["message:logvar"] == ""
    message = change(view, on_mu, "score", "2")["message:score"]
    assert "GAN losses" in message and "logit d / critic score f" in message


def test_the_label_with_only_generator_losses_points_to_a_discriminator_loss():
    view = views.get("generative")
    default = view.default_state()
    assert set(default.losses) == {"gan_generator_minimax", "gan_generator_nonsaturating"}
    assert "discriminator" in change(view, default, "label", "1")["message:label"]
    with_critic = view.parse_query("?losses=gan_generator_minimax,wgan_critic")
    assert change(view, with_critic, "label", "1")["message:label"] == ""


def test_a_bad_value_keeps_its_error_rather_than_the_hint():
    view = views.get("binary")
    message = change(view, view.default_state(), "gamma", "-1")["message:gamma"]
    assert "out of range" in message and "tick" not in message
