r"""/metric: metric-learning losses, each against the variable it reads.

Contrastive and triplet margin read a **distance** (the pair's d; the
anchor-negative d(a, n) with d(a, p) a parameter), cosine embedding the
**angle** θ between two embeddings, InfoNCE the **similarity** s⁺ of the
positive against 15 negatives of similarity s⁻. These are different
variables, so the view never draws them on one axis: an "x axis" choice picks
the variable, and the ticked losses that do not live on it are hidden with a
note under the checklist.

The current point x is one control read on the chosen axis (a click on a chart
moves it): a distance from 0 to 100, an angle from 0 to π or a similarity from
−1 to 1. Every value drawn is the registry's function (the core loss through
the one-variable adapters of :mod:`losslab._story`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

from dash import no_update

from losslab import registry
from losslab._story import INFO_NCE_NEGATIVES
from losslab._validation import Interval
from losslab.dashboard import controls, curves
from losslab.dashboard.url_state import ViewState
from losslab.dashboard.views.base import (
    ClickAction,
    ViewOutput,
    chart_titles,
    gradient_check_code,
    grid_code,
)
from losslab.dashboard.views.clicks import CLICK_DECIMALS, clicked_x
from losslab.dashboard.views.family import AxisText, FamilyView, label_control


@dataclass(frozen=True)
class MetricAxis:
    """One variable a metric loss can be drawn against."""

    key: str
    losses: tuple[str, ...]
    title: str
    grad_title: str
    symbol: str
    #: what x is on this axis, for messages ("a distance")
    what: str
    valid: Interval
    span: tuple[float, float]


AXES = {
    "distance": MetricAxis(
        "distance", ("contrastive", "triplet_margin"),
        "distance d (triplet: d(a, n))", "dL/dd", "d",
        "a distance", Interval(0.0, 100.0), (0.0, 4.0)),
    "angle": MetricAxis(
        "angle", ("cosine_embedding",), "angle θ (radians)", "dL/dθ", "θ",
        "an angle between two vectors (radians)", Interval(0.0, math.pi), (0.0, math.pi)),
    "similarity": MetricAxis(
        "similarity", ("info_nce",), "similarity s⁺ of the positive", "dL/ds⁺", "s⁺",
        "a cosine similarity", Interval(-1.0, 1.0), (-1.0, 1.0)),
}
AXIS = controls.ChoiceControl("axis", "x axis", tuple((key, f"{a.key} {a.symbol}") for key, a in AXES.items()),
                              "distance")
AXIS_OF_LOSS = {key: axis.key for axis in AXES.values() for key in axis.losses}
#: valid on every axis, so a link or an axis change rarely has to move it
DEFAULT_X = 0.5
X_VALID = Interval(-1.0, 100.0)  # the union of the axes' ranges; each axis checks its own (cross_check)
DISTANCE_SPAN = AXES["distance"].span[1]
DISTANCE_START = 1e-3  # the distance grid's first point, as a fraction of its span


def _parameter(name: str, valid: Interval | None = None, label: str | None = None, help_text: str = ""):
    """The registry's slider for a metric parameter, with the view's own range for typed values
    (a value far past the slider gets a message) and label."""
    spec = next(p for s in registry.for_task("metric") for p in s.parameters if p.name == name)
    control = controls.parameter_control(spec)
    return replace(control, valid=valid or control.valid, label=label or control.label, help=help_text)


X_CONTROL = controls.NumberControl(
    "x", "Current x (d, θ or s⁺)", DEFAULT_X, X_VALID, -1.0, 100.0, 0.1, has_slider=False,
    help="read on the chosen x axis: a distance from 0 to 100, an angle from 0 to π (radians) or a "
         "similarity from −1 to 1; click a chart to move it")


class MetricView(FamilyView):
    name = "metric"
    path = "/metric"
    title = "Metric learning"
    introduction = (
        "Metric learning trains embeddings so that similar things land close together. Contrastive and "
        "triplet losses read the distance between embeddings, cosine embedding the angle θ between them and "
        "InfoNCE the similarity s⁺ of the positive against 15 negatives: pick the x axis to see each against "
        "its own variable. Positive pairs are pulled in at every distance; negative pairs are pushed only "
        "until the margin, and a satisfied triplet costs nothing and teaches nothing. InfoNCE's temperature τ "
        "sets how close to the positive a negative must come before it matters."
    )
    task = "metric"
    x_name = "x"
    label_name = "label"
    numbers = (
        X_CONTROL,
        label_control("Pair similar (1) or dissimilar (0)",
                      "contrastive and cosine embedding: 1 a positive pair, 0 a negative pair", default=0),
        _parameter("margin", Interval(0.01, 100.0), "Margin m (contrastive, triplet)",
                   "a dissimilar pair is pushed until d ≥ m; a triplet until d(a, n) ≥ d(a, p) + m"),
        _parameter("positive_distance", Interval(0.0, 100.0), help_text="triplet: the anchor-positive distance"),
        _parameter("cosine_margin", help_text="cosine embedding: a dissimilar pair is pushed until cos θ ≤ m"),
        _parameter("temperature", Interval(0.001, 100.0), help_text="InfoNCE: divides every similarity"),
        _parameter("negative_similarity", help_text="InfoNCE: the similarity s⁻ of each of the 15 negatives"),
    )
    extras = (AXIS, controls.Y_SCALE, controls.GRADIENT_CHECK)
    default_losses = ("contrastive", "triplet_margin")
    motion_controls = ("label", "margin", "positive_distance", "cosine_margin", "temperature", "negative_similarity")
    corrected_controls = ("x",)
    chooser_rows = (
        ("Metric learning (pairs or triplets)", "Linear (embedding)", "Contrastive or triplet margin",
         "?axis=distance&losses=contrastive,triplet_margin&label=0&x=0.5"),
        ("Similarity of pairs by angle", "Linear (embedding), compared by cosine", "Cosine embedding",
         "?axis=angle&losses=cosine_embedding&label=1&x=1"),
        ("Self-supervised contrastive learning", "Linear, L2-normalised (embedding)", "InfoNCE",
         "?axis=similarity&losses=info_nce&x=0.5"),
    )

    # ---- what is drawn ---------------------------------------------------------------
    def plotted_losses(self, state: ViewState) -> tuple[str, ...]:
        axis = AXES[state.axis]
        return tuple(key for key in state.losses if key in axis.losses)

    def grid(self, state: ViewState) -> curves.Grid:
        axis = AXES[state.axis]
        x = state.number(self.x_name)
        if axis.key == "distance":
            high = distance_span(state.numbers, x)
            # From just right of d = 0: there the two points coincide and the core's gradient is the
            # subgradient 0 (no direction to push), which a curve would draw as a false jump to 0.
            return curves.Grid.spanning(DISTANCE_START * high, high)
        if axis.valid.contains(x):  # the whole range of the variable, ends included
            return curves.Grid.spanning(*axis.span)
        return curves.widened(*axis.span, x)  # not reached from the page: cross_check keeps x on its axis

    def chart_data(self, state: ViewState, keys):
        target, grid = self.target(state), self.grid(state)
        chart_curves = [cached_curve(key, grid, target, parameter_values(key, state.numbers)) for key in keys]
        return chart_curves, tuple(curves.raw_point(self.marker_x(state), target, keys, state.numbers))

    def axis_text(self, state: ViewState) -> AxisText:
        axis = AXES[state.axis]
        return AxisText(axis.title, axis.grad_title, axis.symbol)

    def revision(self, state: ViewState) -> str:
        return f"{self.name}-{state.axis}-{state.scale}"

    def losses_note(self, state: ViewState) -> str:
        return hidden_losses_note(state)

    def click_action(self) -> ClickAction:
        return ClickAction(self.ids.input(self.x_name), x_from_click, (AXIS.input_id(self.name),))

    def lesson(self, state: ViewState, rows) -> str:
        return lesson_text(state, rows)

    # ---- one x read on three axes ------------------------------------------------------
    def cross_check(self, numbers: dict, extras: dict, raw_numbers: dict) -> dict[str, str]:
        """x must lie on the chosen axis (a similarity from −1 to 1, ...)."""
        axis = AXES.get(extras.get(AXIS.name))
        x = numbers.get(self.x_name)
        if axis is None or x is None or axis.valid.contains(x):
            return {}
        return {self.x_name: off_axis_message(x, axis)}

    def reconcile_input(self, numbers: dict, extras: dict, triggered: frozenset[str]) -> tuple[dict, dict]:
        """A new x axis moves an x that is not on it (a distance of 3 is no similarity) to 0.5."""
        axis = AXES.get(extras.get(AXIS.name))
        x = numbers.get(self.x_name)
        if AXIS.name not in triggered or axis is None or x is None or axis.valid.contains(x):
            return numbers, {}
        note = (f"{X_CONTROL.label}: {controls.format_number(x)} is not {axis.what}; "
                f"moved to {controls.format_number(DEFAULT_X)}")
        return {**numbers, self.x_name: DEFAULT_X}, {self.x_name: note}

    def reconcile_link(self, state: ViewState) -> ViewState:
        axis = AXES[state.axis]
        x = state.number(self.x_name)
        if axis.valid.contains(x):
            return state
        notice = f"{off_axis_message(x, axis)} (from the link); using {controls.format_number(DEFAULT_X)}."
        return replace(state, numbers={**state.numbers, self.x_name: DEFAULT_X},
                       notices=(*state.notices, notice))

    def code_snippet(self, state: ViewState, output: ViewOutput | None = None) -> str:
        loss_title, grad_title = chart_titles(output or self.build(state))
        keys = list(self.plotted_losses(state))
        params = {p.name: state.numbers[p.name] for key in keys for p in registry.get(key).parameters}
        return "\n".join([
            "import numpy as np",
            "from losslab import registry",
            "",
            f"# {self.title}: each loss and its derivative along the chart's x axis ({AXES[state.axis].title})",
            f"label = {state.number(self.label_name)!r}  # 1: a similar pair, 0: a dissimilar one",
            f"params = {params!r}",
            grid_code(self.grid(state)),
            "columns = {}",
            f"for key in {keys!r}:",
            "    spec = registry.get(key)",
            "    kwargs = {p.name: params[p.name] for p in spec.parameters}",
            f"    columns[{loss_title!r} + ': ' + spec.label] = spec.loss(x, label, **kwargs)",
            f"    columns[{grad_title!r} + ': ' + spec.label] = spec.grad(x, label, **kwargs)",
            *gradient_check_code(state, loss_title, grad_title, self.grid(state).step),
        ]) + "\n"


def off_axis_message(x: float, axis: MetricAxis) -> str:
    return (f"{X_CONTROL.label}: {controls.format_number(x)} is not {axis.what} (the x axis is {axis.key}); "
            f"expected {controls.range_in_words(axis.valid)}")


def distance_span(numbers, x: float) -> float:
    """The distance axis's right end: 4, or the next 4·2^k that shows the margins' kinks with room (the
    contrastive margin m and the triplet's d(a, p) + m) and the current x, so the axis rescales in steps."""
    need = max(1.25 * (numbers["margin"] + numbers["positive_distance"]), 1.1 * x)
    high = DISTANCE_SPAN
    while high < need:
        high *= 2
    return high


def parameter_values(key: str, numbers) -> tuple[tuple[str, float], ...]:
    return tuple((p.name, numbers[p.name]) for p in registry.get(key).parameters)


@lru_cache(maxsize=64)
def cached_curve(key: str, grid: curves.Grid, target: float, params: tuple[tuple[str, float], ...]) -> curves.Curve:
    """One loss swept over ``grid`` (``curves.sweep_raw``), kept for repeated states: a slider's
    frames recompute only the losses that depend on it (InfoNCE costs one core call per point)."""
    return curves.sweep_raw(grid, target, [key], dict(params))[0]


def hidden_losses_note(state: ViewState) -> str:
    """The ticked losses that live on another axis, and how to see them."""
    hidden = [key for key in state.losses if AXIS_OF_LOSS[key] != state.axis]
    if not hidden:
        return ""
    parts = [f"{registry.get(key).label} against the {AXIS_OF_LOSS[key]} {AXES[AXIS_OF_LOSS[key]].symbol}"
             for key in hidden]
    return (f"Not drawn on the {state.axis} axis: {', '.join(parts)}. "
            "Choose that x axis to see {}.".format("it" if len(hidden) == 1 else "them"))


# ---- the lesson line ------------------------------------------------------------------


def lesson_text(state: ViewState, rows) -> str:
    """What the current point teaches, for every loss drawn; true for every state.

    Where a loss is exactly flat is read from the core's own values (a loss of exactly 0), so the
    sentence and the readout cannot disagree at a margin's edge.
    """
    axis = AXES[state.axis]
    if not rows:
        names = " or ".join(registry.get(key).label for key in axis.losses)
        return f"None of the ticked losses is drawn against the {axis.key}: tick {names}, or choose another x axis."
    sentences = [_SENTENCES[row.key](state, row) for row in rows]
    return " ".join(sentences)


def _contrastive(state: ViewState, row) -> str:
    d, m = state.number("x"), state.number("margin")
    if state.number("label") == 1:
        if d == 0:
            return "Contrastive, similar pair at d = 0: the pair coincides; loss 0 and gradient 0."
        return (f"Contrastive, similar pair: pulled in at every distance, dL/dd = d = {row.grad_prediction:.3g} "
                f"> 0, so a gradient step shrinks d; only d = 0 is free.")
    if row.loss == 0:
        return (f"Contrastive, dissimilar pair at d = {d:g} ≥ m = {m:g}: past the margin it costs nothing and "
                "gets no push (loss 0, gradient 0): negative pairs are pushed only until the margin.")
    if d == 0:
        return (f"Contrastive, dissimilar pair at d = 0: the embeddings coincide; the loss is m²/2 = {row.loss:.3g} "
                "but a push has no direction yet, so the gradient is the subgradient 0.")
    return (f"Contrastive, dissimilar pair inside the margin (d = {d:g} < m = {m:g}): pushed apart with "
            f"dL/dd = −(m − d) = {row.grad_prediction:.3g}, a push that fades to 0 at d = m.")


def _triplet(state: ViewState, row) -> str:
    d, m, positive = state.number("x"), state.number("margin"), state.number("positive_distance")
    needed = f"d(a, p) + m = {positive + m:g}"
    if row.loss == 0:
        return (f"Triplet: d(a, n) = {d:g} ≥ {needed}, the triplet is satisfied: it costs nothing and its "
                "gradient is exactly 0, so it teaches nothing (hence mining for hard triplets).")
    if d == 0:
        return (f"Triplet: the negative sits on the anchor (d(a, n) = 0): the loss is {row.loss:.3g} but a push "
                "has no direction yet, so the gradient is the subgradient 0.")
    return (f"Triplet: d(a, n) = {d:g} < {needed}, violated by {row.loss:.3g}: dL/dd(a, n) = "
            f"{row.grad_prediction:g} pushes the negative away at full strength until it is m farther than the "
            "positive.")


def _cosine(state: ViewState, row) -> str:
    theta, m = state.number("x"), state.number("cosine_margin")
    cosine = math.cos(theta)
    if state.number("label") == 1:
        if theta == 0:
            return "Cosine embedding, similar pair at θ = 0: aligned; loss 0 and gradient 0."
        return (f"Cosine embedding, similar pair: pulled towards θ = 0 with dL/dθ = sin θ = "
                f"{row.grad_prediction:.3g}; the pull is strongest at θ = π/2 and fades near θ = 0 and near θ = π, "
                "where an opposite pair has the largest loss, 2, and almost no pull.")
    if row.loss == 0:
        return (f"Cosine embedding, dissimilar pair: cos θ = {cosine:.3g} ≤ m = {m:g}, past the margin: it costs "
                "nothing and gets no push; negative pairs are pushed only until the margin.")
    if row.grad_prediction == 0:
        return (f"Cosine embedding, dissimilar pair at θ = {theta:g}: the loss is {row.loss:.3g} but cos θ is "
                "flat here, so dL/dθ = −sin θ = 0: a pair pointing the same way gets no push to start with.")
    return (f"Cosine embedding, dissimilar pair with cos θ = {cosine:.3g} > m = {m:g}: pushed apart with "
            f"dL/dθ = −sin θ = {row.grad_prediction:.3g} until cos θ falls to m (θ = arccos m = "
            f"{math.acos(m):.3g}).")


def _info_nce(state: ViewState, row) -> str:
    s, tau, negative = state.number("x"), state.number("temperature"), state.number("negative_similarity")
    lead = (s - negative) / tau
    return (f"InfoNCE at τ = {tau:g}: the positive's lead over each of the {INFO_NCE_NEGATIVES} negatives is "
            f"(s⁺ − s⁻)/τ = {lead:.3g} temperatures, so its softmax probability p is {positive_probability(lead)} "
            f"and dL/ds⁺ = −(1 − p)/τ = {row.grad_prediction:.3g}; p is 1/2 at s⁺ = s⁻ + τ ln {INFO_NCE_NEGATIVES} = "
            f"{negative + tau * math.log(INFO_NCE_NEGATIVES):.3g}, and the curves bend within a few τ of it. A "
            "negative's weight falls by a factor e for every τ it lies below the positive: a small τ makes only the "
            "negatives close to the positive (the hard ones) matter, a large τ spreads the weight over all of them.")


def positive_probability(lead: float) -> str:
    """The positive's softmax probability among 1 + 15 keys, from its lead in temperatures, for reading:
    3 significant digits, and near 1 as 1 − ε so it never reads as exactly 1."""
    n = INFO_NCE_NEGATIVES
    if lead >= 0:  # e^(-lead) <= 1: no overflow
        rest = n * math.exp(-lead)
        p, q = 1 / (1 + rest), rest / (1 + rest)
    else:  # e^lead <= 1
        share = math.exp(lead)
        p, q = share / (share + n), n / (share + n)
    if p > 0.999:
        return f"1 − {q:.3g}" if q > 0 else "1 − (below 1e-300)"
    return f"{p:.3g}" if p > 0 else "below 1e-300"


_SENTENCES = {"contrastive": _contrastive, "triplet_margin": _triplet, "cosine_embedding": _cosine,
              "info_nce": _info_nce}



def x_from_click(click_data, axis):
    """The x box's value for a click: the clicked x, kept on the chosen axis (a chart with no curve of its
    axis is ranged around its marker by Plotly, so a click can fall left of 0 or past π)."""
    x = clicked_x(click_data)
    if x is None:
        return no_update
    valid = AXES.get(axis, AXES[AXIS.default]).valid
    return controls.format_number(round(min(max(x, valid.low), valid.high), CLICK_DECIMALS))

VIEW = MetricView()
