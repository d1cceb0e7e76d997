"""/generative: GAN losses against the discriminator's logit d (or D(G(z)) = σ(d)), and the VAE KL term on μ.

The chapter's lesson in a new form. The generator's minimax loss
log(1 − D(G(z))) has dL/dd = −D(G(z)), which vanishes as d → −∞, exactly when
the discriminator confidently rejects the fakes: MSE on a sigmoid saturates the
same way. The non-saturating −log D(G(z)) has dL/dd = D − 1 → −1 there, the
BCE-like fix.

Three x axes, one variable each:

- ``logit``: the model's raw output. For the sigmoid-link losses (GAN
  discriminator and both generators) that is D's logit d; for the
  identity-link ones (WGAN critic, WGAN generator, hinge-GAN discriminator)
  the critic's raw score f, which has no sigmoid after it. Both read the
  same number: what the network outputs for the sample.
- ``prob``: D = σ(d), drawn with the registry's probability-space functions
  (``spec.loss``, ``spec.grad``: dL/dD) of the sigmoid-link losses; a critic's
  score is not a probability, so the WGAN and hinge losses are hidden there.
- ``mu``: the VAE encoder's mean μ, the only variable of the KL term
  (log σ² is a parameter). No GAN loss lives on it: it has its own control.

The position on the d axes is the "score" text box (a click on a chart
moves it); μ has its own slider. Every value drawn is the registry's
function (the core's loss through :mod:`losslab._story`).
"""

from __future__ import annotations

import numpy as np
from dash import no_update

from losslab import registry
from losslab.activations import logit, sigmoid
from losslab.dashboard import controls, curves
from losslab.dashboard.url_state import ViewState
from losslab.dashboard.views.base import (
    ClickAction,
    ViewOutput,
    chart_titles,
    gradient_check_code,
    grid_code,
)
from losslab.dashboard.views.clicks import clicked_x, prediction_from_click
from losslab.dashboard.views.family import AxisText, FamilyView, label_control, position_control

AXIS = controls.ChoiceControl(
    "axis", "x axis",
    (("logit", "logit d / critic score f"), ("prob", "D(G(z)) = σ(d)"), ("mu", "VAE encoder mean μ")),
    "logit",
)
AXIS_TITLES = {"logit": "D's logit d, or the critic's score f", "prob": "D = σ(d)", "mu": "encoder mean μ"}
GRAD_TITLES = {"logit": "dL/dd", "prob": "dL/dD", "mu": "dL/dμ"}
READOUT_SYMBOLS = {"logit": "d", "prob": "D", "mu": "μ"}
GAN_LOSSES = ("gan_discriminator", "gan_generator_minimax", "gan_generator_nonsaturating", "wgan_critic",
              "wgan_generator", "hinge_gan_discriminator")
VAE_LOSSES = ("gaussian_kl",)
#: the losses whose value depends on the sample's label (real or generated)
LABELLED_LOSSES = ("gan_discriminator", "wgan_critic", "hinge_gan_discriminator")
MINIMAX, NON_SATURATING = "gan_generator_minimax", "gan_generator_nonsaturating"
D_RANGE = (-8.0, 8.0)
MU_RANGE = (-5.0, 5.0)
CLICK_PROBABILITY_LIMIT = 1e-15


def lives_on(key: str, axis: str) -> bool:
    """Whether a loss is a function of the axis's variable."""
    if axis == "mu":
        return key in VAE_LOSSES
    if axis == "prob":
        return key in GAN_LOSSES and registry.get(key).link == "sigmoid"
    return key in GAN_LOSSES


class GenerativeView(FamilyView):
    name = "generative"
    path = "/generative"
    title = "Generative models"
    introduction = (
        "A GAN's generator is trained through the discriminator's verdict D(G(z)) = σ(d) on its fakes. "
        "The minimax loss log(1 − D(G(z))) has dL/dd = −D(G(z)): it vanishes exactly when the discriminator "
        "confidently rejects the fakes (d → −∞), early in training, as MSE on a sigmoid saturates. The "
        "non-saturating −log D(G(z)) has dL/dd = D − 1 → −1 there: the BCE-like fix. WGAN and hinge GAN use "
        "the critic's raw score f instead, drawn on the same raw-output axis. The VAE's KL term is a function "
        "of the encoder mean μ, a different variable: it has its own axis."
    )
    task = "generative"
    x_name = "score"
    x_range = D_RANGE
    label_name = "label"
    numbers = (
        position_control("score", "Discriminator logit d (critic score f)", -4.0,
                         "the network's raw output for the sample; click a chart on the d or D axis to move it"),
        label_control("Sample real (1) or generated (0)", "the discriminator's and critic's losses need it; "
                      "the generator's losses always score a generated sample", default=0),
        # Steps of 0.05: a drag's frames move only the marker (161 positions, about 0.2-0.4 s for the family),
        # and a fast hand passes twice as many positions a second as at 0.1 (issue 10's 30 repaints a second).
        controls.NumberControl("mu", "Encoder mean μ (VAE)", 1.5, controls.FINITE, -4.0, 4.0, 0.05,
                               help="the KL term's variable, drawn on the μ axis"),
        *controls.parameters_of("generative"),
    )
    extras = (AXIS, controls.Y_SCALE, controls.GRADIENT_CHECK)
    default_losses = (MINIMAX, NON_SATURATING)
    motion_controls = ("mu", "logvar")
    chooser_rows = (
        ("GAN generator", "Sigmoid (the discriminator's)", "Non-saturating −log D(G(z))",
         "?losses=gan_generator_minimax,gan_generator_nonsaturating&axis=logit&score=-4"),
        ("GAN discriminator or critic", "Sigmoid, or none (critic)", "BCE; WGAN or hinge for a critic",
         "?losses=gan_discriminator,wgan_critic,hinge_gan_discriminator&axis=logit&label=1&score=0.5"),
        ("VAE latent regulariser", "Linear (μ and log σ²)", "KL to N(0, 1), plus a reconstruction loss",
         "?losses=gaussian_kl&axis=mu&mu=1.5"),
    )

    # ---- state ---------------------------------------------------------------
    def cross_check(self, numbers: dict, extras: dict, raw_numbers: dict) -> dict[str, str]:
        d = numbers.get(self.x_name)
        if extras.get(AXIS.name) == "prob" and d is not None and not 0 < float(sigmoid(d)) < 1:
            return {self.x_name: unplaceable_message(self.number(self.x_name).label, d)}
        return {}

    def reconcile_link(self, state: ViewState) -> ViewState:
        """A link asking for the D axis at a d whose σ(d) rounds to 0 or 1 opens on the logit axis."""
        d = state.number(self.x_name)
        if state.axis != "prob" or 0 < float(sigmoid(d)) < 1:
            return state
        notice = f"{unplaceable_message(self.number(self.x_name).label, d)} Showing the logit axis."
        return ViewState(state.view, state.numbers, state.losses, {**state.extras, AXIS.name: "logit"},
                         (*state.notices, notice))

    def idle_control_notes(self, state: ViewState, triggered: frozenset[str]) -> dict[str, str]:
        """μ and log σ² move only the KL term, drawn on the μ axis; d and the label only the GAN losses
        (the label only the discriminator's and critic's: the generators always score a fake)."""
        notes = super().idle_control_notes(state, triggered)
        drawn = set(self.plotted_losses(state))
        for name in sorted(triggered & {"mu", "logvar", "score", "label"}):
            label = self.number(name).label
            if name in ("mu", "logvar") and state.axis != "mu":
                notes[name] = (f"{label} moves the VAE KL term, which is drawn against μ: choose "
                               f"“{dict(AXIS.choices)['mu']}” as the x axis to see it.")
            elif name in ("score", "label") and state.axis == "mu":
                notes[name] = (f"{label} moves the GAN losses, which are drawn against d: choose "
                               f"“{dict(AXIS.choices)['logit']}” as the x axis to see them.")
            elif name == "label" and drawn.isdisjoint(LABELLED_LOSSES):
                notes[name] = (f"{label} changes only the discriminator's and critic's losses (the generator's "
                               "always score a generated sample): tick one under “Losses to compare”.")
        return notes

    # ---- what is shown -------------------------------------------------------
    def plotted_losses(self, state: ViewState) -> tuple[str, ...]:
        return tuple(key for key in state.losses if lives_on(key, state.axis))

    def marker_x(self, state: ViewState) -> float:
        if state.axis == "mu":
            return state.number("mu")
        d = state.number(self.x_name)
        return float(sigmoid(d)) if state.axis == "prob" else d

    def grid(self, state: ViewState) -> curves.Grid:
        if state.axis == "prob":
            return curves.binary_grid("prob", self.marker_x(state))
        return curves.widened(*(MU_RANGE if state.axis == "mu" else D_RANGE), self.marker_x(state))

    def sweep(self, state: ViewState, keys) -> list[curves.Curve]:
        grid, target = self.grid(state), self.target(state)
        if state.axis != "prob":
            return curves.sweep_raw(grid, target, keys, state.numbers)
        x = grid.values()
        swept = []
        for key in keys:  # the registry's probability-space functions: loss(D) and dL/dD
            spec = registry.get(key)
            grad = np.asarray(spec.grad(x, target))
            swept.append(curves.Curve(key, spec.label, grid, np.asarray(spec.loss(x, target)), grad, grad))
        return swept

    def point(self, state: ViewState, keys) -> tuple[curves.PointValues, ...]:
        """Readout rows: loss, dL/dx along the axis, and dL/dd (the raw output's gradient; on the μ axis dL/dμ)."""
        target = self.target(state)
        if state.axis == "mu":
            return tuple(curves.raw_point(state.number("mu"), target, keys, state.numbers))
        d = state.number(self.x_name)
        raw = curves.raw_point(d, target, keys, state.numbers)
        if state.axis == "logit":
            return tuple(raw)
        p = float(sigmoid(d))
        rows = []
        for key, row in zip(keys, raw, strict=True):
            spec = registry.get(key)
            rows.append(curves.PointValues(key, row.label, float(spec.loss(p, target)), float(spec.grad(p, target)),
                                           row.grad_logit))
        return tuple(rows)

    def chart_data(self, state: ViewState, keys):
        return self.sweep(state, keys), self.point(state, keys)

    def axis_text(self, state: ViewState) -> AxisText:
        axis = state.axis
        return AxisText(AXIS_TITLES[axis], GRAD_TITLES[axis], READOUT_SYMBOLS[axis],
                        "dL/dd" if axis == "prob" else None)

    def revision(self, state: ViewState) -> str:
        return f"{self.name}-{state.axis}-{state.scale}"

    def link_space(self, state: ViewState) -> bool:
        return state.axis == "prob"

    def lesson(self, state: ViewState, rows) -> str:
        return lesson_text(state, rows)

    def losses_note(self, state: ViewState) -> str:
        return hidden_losses_note(state.losses, state.axis)

    def click_action(self) -> ClickAction:
        return ClickAction(self.ids.input(self.x_name), score_from_click, (AXIS.input_id(self.name),))

    # ---- getting results out ----------------------------------------------------
    def code_snippet(self, state: ViewState, output: ViewOutput | None = None) -> str:
        loss_title, grad_title = chart_titles(output or self.build(state))
        axis = state.axis
        keys = list(self.plotted_losses(state))
        params = {p.name: state.numbers[p.name] for key in keys for p in registry.get(key).parameters}
        if axis == "prob":
            functions = ["    # D on the axis: the probability-space loss and dL/dD",
                         "    loss, grad = spec.loss, spec.grad"]
        else:
            functions = ["    # the raw output on the axis: the logit for a sigmoid-link loss, else the value itself",
                         "    loss, grad = (spec.loss, spec.grad) if spec.link == 'identity' else (spec.loss_from_logit,"
                         " spec.grad_from_logit)"]
        return "\n".join([
            "import numpy as np",
            "from losslab import registry",
            "",
            f"# {self.title}: each loss and its derivative along the chart's x axis ({AXIS_TITLES[axis]})",
            f"target = {self.target(state)!r}  # 1: a real sample, 0: a generated one",
            f"params = {params!r}",
            grid_code(self.grid(state)),
            "columns = {}",
            f"for key in {keys!r}:",
            "    spec = registry.get(key)",
            *functions,
            "    kwargs = {p.name: params[p.name] for p in spec.parameters}",
            f"    columns[{loss_title!r} + ': ' + spec.label] = loss(x, target, **kwargs)",
            f"    columns[{grad_title!r} + ': ' + spec.label] = grad(x, target, **kwargs)",
            *gradient_check_code(state, loss_title, grad_title, self.grid(state).step),
        ]) + "\n"


def unplaceable_message(label: str, d: float) -> str:
    ends = "1" if d > 0 else "0"
    return (f"{label}: at d = {controls.format_number(d)}, D = σ(d) rounds to {ends} in double precision, so the "
            "D axis cannot place it; choose the logit axis, or a d between about −745 and 37.")


def score_from_click(click_data, axis):
    """The d text box value for a click on the d axis, or on the D axis (d = logit(D)); μ has its own slider."""
    if axis == "mu":
        return no_update
    if axis != "prob":
        return prediction_from_click(click_data)
    x = clicked_x(click_data)
    if x is None:
        return no_update
    probability = min(max(x, CLICK_PROBABILITY_LIMIT), 1 - CLICK_PROBABILITY_LIMIT)
    return controls.format_number(float(f"{float(logit(probability)):.3g}"))


def hidden_losses_note(selected, axis: str) -> str:
    hidden = [key for key in selected if not lives_on(key, axis)]
    if not hidden:
        return ""
    labels = ", ".join(registry.get(key).label for key in hidden)
    verb = "is" if len(hidden) == 1 else "are"
    if axis == "mu":
        why = "GAN losses are functions of the discriminator's output, not of the encoder mean μ"
        fix = "choose the logit or D axis to see them"
    elif all(key in VAE_LOSSES for key in hidden):
        why = "the VAE KL term is a function of the encoder mean μ, not of a discriminator's output"
        fix = "choose the μ axis to see it"
    elif axis == "prob":
        why = "a critic's raw score f has no sigmoid after it, so it is not a probability D"
        fix = "choose the logit axis to see the critic's losses (and the μ axis for the KL term)"
    else:
        why = "the VAE KL term is a function of the encoder mean μ"
        fix = "choose the μ axis to see it"
    return f"{labels} {verb} hidden on this axis: {why}; {fix}."


def format_probability(d: float) -> str:
    """D = σ(d) for reading: 3 significant digits, and D near 1 as 1 − σ(−d) so it never reads as exactly 1."""
    p = float(sigmoid(d))
    if p > 0.999:
        return f"1 − {float(sigmoid(-d)):.3g}"
    return f"{p:.3g}"


def _number(value: float) -> str:
    return f"{value + 0.0:.3g}"  # + 0.0: a gradient of -0.0 reads as 0


def lesson_text(state: ViewState, rows) -> str:
    """What the current point teaches, true for every state (axis, d, label, μ, log σ², losses)."""
    if state.axis == "mu":
        return _vae_lesson(state, rows)
    d = state.number("score")
    D = float(sigmoid(d))
    point = f"At d = {d:g}, D = σ(d) = {format_probability(d)}"
    grads = {row.key: row.grad_logit for row in rows}
    if MINIMAX in grads and NON_SATURATING in grads:
        verdict = _generator_verdict(D, grads[MINIMAX], grads[NON_SATURATING])
        if state.axis == "prob":
            slope = next(row.grad_prediction for row in rows if row.key == MINIMAX)
            verdict += (f" (On this D axis the minimax slope dL/dD = −1/(1 − D) is {_number(slope)}: it is the "
                        "sigmoid's factor D(1 − D) in dL/dd that vanishes.)")
        return f"{point}: {verdict}"
    if not rows:
        return f"{point}. No ticked loss lives on this axis; tick a GAN loss."
    listed = ", ".join(f"{row.label} {_number(row.grad_logit)}" for row in rows)
    discriminator = ""
    if "gan_discriminator" in grads:
        label = state.number("label")
        discriminator = (f" The GAN discriminator's dL/dd = D − y = {_number(grads['gan_discriminator'])} (y = {label}): "
                         "BCE's prediction minus target, which does not vanish while it misjudges the sample.")
    return (f"{point}: dL/dd (or dL/df) is {listed}.{discriminator} Tick both generator losses to see the "
            "chapter's lesson: log(1 − D(G(z))) saturates where the discriminator confidently rejects the fakes, "
            "−log D(G(z)) does not.")


def _generator_verdict(D: float, minimax: float, non_saturating: float) -> str:
    if D < 0.1:
        stance = "the discriminator confidently rejects a fake it scores so"
    elif D < 0.5:
        stance = "the discriminator rejects a fake it scores so"
    elif D == 0.5:
        stance = "the discriminator cannot tell a fake it scores so from a real sample"
    elif D <= 0.9:
        stance = "a fake scored so fools the discriminator"
    else:
        stance = "a fake scored so fools the discriminator confidently"
    gradients = (f"{stance}. The minimax generator's dL/dd = −D(G(z)) is {_number(minimax)}, the non-saturating "
                 f"one's D(G(z)) − 1 is {_number(non_saturating)}.")
    mm, ns = abs(minimax), abs(non_saturating)
    if mm == 0:
        return (f"{gradients} The minimax gradient has vanished entirely (D underflows to 0): the generator "
                "learns nothing from this fake, while the non-saturating loss still pushes it with all its "
                "strength. That is MSE-on-a-sigmoid's saturation again, and −log D(G(z)) the BCE-like fix.")
    if ns == 0:
        return (f"{gradients} The non-saturating gradient underflows to 0: the fake already fools the "
                "discriminator completely; the saturation that hurts is the minimax loss's at the other end.")
    ratio = ns / mm  # e^(−d), computed from the core's two gradients
    if D < 0.1:
        return (f"{gradients} The non-saturating loss pushes {ratio:.3g}× harder: log(1 − D(G(z))) saturates "
                "exactly when the discriminator confidently rejects the fakes, as MSE on a sigmoid does, and "
                "−log D(G(z)) is the BCE-like fix, its gradient → −1.")
    if ratio > 1.001:
        return (f"{gradients} The non-saturating loss pushes {ratio:.3g}× harder; move d left, where the "
                "discriminator rejects the fakes confidently, to see the minimax gradient vanish.")
    if ratio >= 0.999:
        return (f"{gradients} The two gradients are about equal here; move d left, where the discriminator "
                "rejects the fakes confidently, to see the minimax gradient vanish.")
    times = f"{1 / ratio:.3g}×"
    return (f"{gradients} Here the minimax gradient is the larger ({times}): the non-saturating one fades as D → 1, "
            "once the fake fools the discriminator. The saturation that hurts is the minimax loss's, early in "
            "training, when the discriminator rejects the fakes; move d left to see it.")


def _vae_lesson(state: ViewState, rows) -> str:
    mu, logvar = state.number("mu"), state.number("logvar")
    point = f"At μ = {mu:g} with log σ² = {logvar:g}"
    row = next((r for r in rows if r.key == "gaussian_kl"), None)
    if row is None:
        return f"{point}: tick the VAE KL term, the only loss on the μ axis."
    floor = float(registry.get("gaussian_kl").loss(0.0, None, logvar=logvar))
    return (f"{point}: the KL term is {row.loss:.4g} and dL/dμ = μ = {row.grad_prediction + 0.0:.4g}. It pulls the "
            "encoder mean to 0 like a squared error with target 0, and never saturates; log σ² only adds "
            f"½(e^(log σ²) − 1 − log σ²) = {floor:.4g}, the KL at μ = 0, which is 0 at σ² = 1.")


VIEW = GenerativeView()
