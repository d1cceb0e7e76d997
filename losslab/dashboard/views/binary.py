"""/binary: binary losses against the probability p̂ or the logit z, and the chapter's BCE-versus-MSE lesson."""

from __future__ import annotations

import math
from typing import ClassVar

from dash import no_update

from losslab import registry
from losslab.dashboard import controls, curves, ids
from losslab.dashboard.url_state import ViewState
from losslab.dashboard.views.base import (
    ClickAction,
    ExtraOutput,
    ReadoutTable,
    UpdatePlan,
    View,
    ViewOutput,
    changed_numbers,
    chart_titles,
    figure_pair,
    formulas_markdown,
    gradient_check_code,
    gradient_check_note,
    grid_code,
    lesson_paragraph,
    task_order,
)
from losslab.dashboard.views.clicks import clicked_x

AXIS_TITLES = {"logit": "logit z", "prob": "predicted probability p̂"}
GRAD_TITLES = {"logit": "dL/dz", "prob": "dL/dp̂"}
AXIS = controls.ChoiceControl("axis", "x axis", (("logit", "logit z"), ("prob", "probability p̂")), "logit")
PANELS = controls.ChoiceControl("panels", "Panels", (("columns", "one per loss"), ("overlay", "overlaid")),
                                "columns")
CLICK_PROBABILITY_LIMIT = 1e-15
LESSON_ID = ids.Binary.LESSON
GRADIENT_NAMES = {"bce": "dBCE/dz", "sigmoid_mse": "dMSE/dz"}  # the chapter's names


class BinaryView(View):
    name = "binary"
    path = "/binary"
    title = "Binary classification"
    nav_title = "Binary"
    introduction = (
        "A sigmoid turns the logit z into a probability p̂. Switch the x axis between p̂ and z: "
        "measured in z, the BCE gradient is p̂ − y and never vanishes when the model is confidently wrong, "
        "while MSE on the sigmoid output flattens out. Both losses together on the z axis are the "
        "chapter's BCE-versus-MSE figure."
    )
    task = "binary"
    numbers = (
        controls.NumberControl("label", "True label y", 0.0, registry.binary.UNIT, 0.0, 1.0, 0.01,
                               help="0 or 1, or a soft label in between"),
        controls.NumberControl("probability", "Current prediction p̂", 0.99, controls.OPEN_UNIT, 0.0, 1.0, 0.01,
                               help="strictly between 0 and 1; click a chart to move it", has_slider=False),
        *controls.parameters_of("binary"),
    )
    extras = (AXIS, PANELS, controls.Y_SCALE, controls.GRADIENT_CHECK)
    extras_position = 1
    default_losses = ("bce", "sigmoid_mse")
    motion_controls = ("label", "gamma")
    chooser_rows = (
        ("Binary classification", "Sigmoid", "BCE", "?losses=bce&axis=logit"),
        ("Multilabel classification", "Sigmoid (per class)", "BCE (per class)",
         "?losses=bce,focal&axis=prob&panels=overlay&label=1&probability=0.7"),
    )
    extra_outputs: ClassVar = {"lesson": ExtraOutput(LESSON_ID)}
    charts_class = "linked-charts stacked"  # loss above gradient, like the chapter's 2x2 figure

    def build(self, state: ViewState) -> ViewOutput:
        axis = state.axis
        label = state.number("label")
        probability = state.number("probability")
        marker_x = curves.from_probability(probability, axis)
        keys = self.plotted_losses(state)
        chart_curves = curves.sweep_binary(label, axis, keys, state.numbers, include=marker_x)
        rows = tuple(curves.binary_point(marker_x, axis, label, keys, state.numbers))
        loss_figure, grad_figure = figure_pair(
            chart_curves, rows, task_order("binary"), AXIS_TITLES[axis], GRAD_TITLES[axis], marker_x,
            "grad_logit" if axis == "logit" else "grad", f"binary-{axis}-{state.panels}-{state.scale}", state.panels,
            scale=state.scale, check=state.check,
        )
        return ViewOutput(
            loss_figure, grad_figure,
            # On the z axis the charts show dL/dz; dL/dp̂ would only confuse (hinge's is 1/(p̂(1 − p̂))).
            ReadoutTable("p̂", probability, "dL/dp̂" if axis == "prob" else None, rows,
                         note=gradient_check_note(grad_figure, state.check)),
            formulas_markdown(keys, link_space=True),
            self.encode_query(state),
            extras={
                "lesson": lesson_text(probability, label, rows),
                "losses_note": hidden_losses_note(state.losses, keys, label),
            },
        )

    def plotted_losses(self, state: ViewState) -> tuple[str, ...]:
        return usable_binary_losses(state.losses, state.number("label"))

    def plan(self, previous: ViewState | None, state: ViewState) -> UpdatePlan:
        if previous is None or previous.view != state.view or previous.extras != state.extras:
            return UpdatePlan(full=True)
        if self.plotted_losses(previous) != self.plotted_losses(state):
            one_panel_each = state.panels == "columns"
            return UpdatePlan(full=one_panel_each, replace_traces=not one_panel_each)
        if self.grid(previous) != self.grid(state):  # widened to follow p̂
            return UpdatePlan(full=False, shift=True, redraw=frozenset(state.losses))
        if "label" in changed_numbers(previous, state):
            return UpdatePlan(full=False, redraw=frozenset(state.losses))
        return super().plan(previous, state)

    def code_snippet(self, state: ViewState, output: ViewOutput | None = None) -> str:
        loss_title, grad_title = chart_titles(output or self.build(state))
        axis = state.axis
        lines = [
            "import numpy as np",
            "import losslab",
            "from losslab import registry",
            "",
            f"# {self.title}: each loss and its gradient along the chart's x axis ({AXIS_TITLES[axis]})",
            f"y = {state.number('label')!r}",
            f"params = {{'gamma': {state.number('gamma')!r}}}",
            grid_code(self.grid(state)),
            *(["z = x"] if axis == "logit" else []),
            "columns = {}",
            f"for key in {list(self.plotted_losses(state))!r}:",
            "    spec = registry.get(key)",
            "    kwargs = {p.name: params[p.name] for p in spec.parameters}",
            *([f"    columns[{loss_title!r} + ': ' + spec.label] = spec.loss_from_logit(z, y, **kwargs)"]
              if axis == "logit" else [
                "    if key == 'bce':  # unclipped (eps=0): the loss keeps rising below p̂ = 1e-12",
                "        kwargs['eps'] = 0.0",
                f"    columns[{loss_title!r} + ': ' + spec.label] = spec.loss(x, y, **kwargs)  # at p̂ itself",
            ]),
            f"    columns[{grad_title!r} + ': ' + spec.label] = "
            + ("spec.grad_from_logit(z, y, **kwargs)" if axis == "logit" else "spec.grad(x, y, **kwargs)"),
            *gradient_check_code(state, loss_title, grad_title, self.grid(state).step),
        ]
        return "\n".join(lines) + "\n"

    @staticmethod
    def grid(state: ViewState) -> curves.Grid:
        axis = state.axis
        return curves.binary_grid(axis, curves.from_probability(state.number("probability"), axis))

    def panels_below_charts(self, state: ViewState, output: ViewOutput) -> list:
        return [lesson_paragraph(LESSON_ID, output.lesson)]

    def click_action(self) -> ClickAction:
        return ClickAction(self.ids.input("probability"), probability_from_click, (AXIS.input_id(self.name),))


def probability_from_click(click_data, axis):
    """The p̂ text box value for a click at x on the z or p̂ axis (kept strictly inside (0, 1))."""
    x = clicked_x(click_data)
    if x is None:
        return no_update
    probability = curves.to_probability(x, axis if axis in dict(AXIS.choices) else AXIS.default)
    # 3 significant digits of the distance to the nearer end: 0.731, 0.0123, 0.99987 (never 0 or 1).
    distance = max(float(f"{min(probability, 1 - probability):.3g}"), CLICK_PROBABILITY_LIMIT)
    return controls.format_number(distance if probability <= 0.5 else 1 - distance)


def hidden_losses_note(selected, shown, label: float) -> str:
    hidden = [registry.get(k).label for k in selected if k not in shown]
    if not hidden:
        return ""
    return (f"{', '.join(hidden)} needs a hard label (y = 0 or 1) and is hidden while y = {label:g}. "
            "Set y to 0 or 1 to show it.")


def usable_binary_losses(keys, label: float) -> tuple[str, ...]:
    """Losses defined for this label: hinge needs a hard 0/1 label."""
    hard = label in (0.0, 1.0)
    return tuple(k for k in keys if hard or not registry.get(k).hard_labels_only)


def format_probability(p: float) -> str:
    """p̂ for reading: 3 significant digits, and p̂ near 1 as 1 − ε so it never reads as exactly 1."""
    if p > 0.999:
        return f"1 − {1 - p:.3g}"
    return f"{p:.4g}" if p >= 1e-3 else f"{p:.3g}"


def lesson_text(probability: float, label: float, rows) -> str:
    """What the current point teaches, true for any p̂, y and selection of losses.

    The chapter's comparison (|dBCE/dz| = |p̂ − y| against |dMSE/dz| = 2|p̂ − y| p̂(1 − p̂), a
    ratio of 1 / (2 p̂ (1 − p̂))) is only a lesson where the model is wrong: where it is right,
    every gradient is small and should be.
    """
    grads = {row.key: abs(row.grad_logit) for row in rows}
    point = f"At p̂ = {format_probability(probability)} and y = {label:g}"
    listed = ", ".join(f"|{GRADIENT_NAMES.get(row.key, f'dL/dz of {row.label}')}| = {abs(row.grad_logit):.3g}"
                       for row in rows)
    wrong_side = (probability - 0.5) * (label - 0.5) < 0
    right_side = (probability - 0.5) * (label - 0.5) > 0
    distance = abs(probability - label)
    if wrong_side:
        situation = "the model is confidently wrong" if distance >= 0.9 else "the model is wrong"
    elif right_side:
        situation = "the model is confidently right" if distance <= 0.1 else "the model is right"
    else:
        situation = "the model is undecided"
    if "bce" in grads and "sigmoid_mse" in grads:
        verdict = _chapter_verdict(grads["bce"], grads["sigmoid_mse"], wrong_side, right_side)
    else:
        verdict = "Tick BCE and MSE on sigmoid to see the chapter's comparison."
    return f"{point}, {situation}: {listed}. {verdict}"


def _chapter_verdict(bce: float, mse: float, wrong_side: bool, right_side: bool) -> str:
    if bce == 0:
        return "p̂ equals y: every gradient is zero."
    if right_side:
        return ("p̂ is already on the label's side: both gradients shrink as p̂ approaches y, as they should. "
                "Move p̂ towards the wrong end to see the chapter's lesson.")
    ratio = bce / mse if mse > 0 else float("inf")
    if wrong_side and ratio >= 10:
        times = f"{ratio:.3g}×" if math.isfinite(ratio) else "infinitely"
        return (f"BCE still pushes {times} harder than MSE, whose gradient has nearly vanished: "
                "the sigmoid has saturated.")
    return ("Here the two gradients are of similar size; push p̂ further towards the wrong end "
            "to see MSE's vanish.")


VIEW = BinaryView()

