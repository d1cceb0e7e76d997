"""/binary: binary losses against the probability p̂ or the logit z, and the chapter's BCE-versus-MSE lesson."""

from __future__ import annotations

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
    figure_pair,
    formulas_markdown,
    lesson_paragraph,
    task_order,
)
from losslab.dashboard.views.clicks import clicked_x

AXIS_TITLES = {"logit": "logit z", "prob": "predicted probability p̂"}
GRAD_TITLES = {"logit": "dL/dz", "prob": "dL/dp̂"}
AXIS = controls.ChoiceControl("axis", "x axis", (("logit", "logit z"), ("prob", "probability p̂")), "logit")
PANELS = controls.ChoiceControl("panels", "Panels", (("columns", "one per loss"), ("overlay", "overlaid")),
                                "columns")
CLICK_PROBABILITY_LIMIT = 1e-6
LESSON_ID = ids.Binary.LESSON


class BinaryView(View):
    name = "binary"
    path = "/binary"
    title = "Binary classification"
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
    extras = (AXIS, PANELS)
    extras_position = 1
    default_losses = ("bce", "sigmoid_mse")
    chooser_rows = (
        ("Binary classification", "Sigmoid", "BCE", "?losses=bce&axis=logit"),
        ("Multilabel classification", "Sigmoid (per class)", "BCE (per class)", "?losses=bce,focal&axis=prob"),
    )
    extra_outputs: ClassVar = {"lesson": ExtraOutput(LESSON_ID)}
    charts_class = "linked-charts stacked"  # loss above gradient, like the chapter's 2x2 figure

    def build(self, state: ViewState) -> ViewOutput:
        axis = state.axis
        label = state.number("label")
        probability = state.number("probability")
        marker_x = curves.from_probability(probability, axis)
        keys = self.plotted_losses(state)
        chart_curves = curves.sweep_binary(label, axis, keys, state.numbers)
        rows = tuple(curves.binary_point(marker_x, axis, label, keys, state.numbers))
        loss_figure, grad_figure = figure_pair(
            chart_curves, rows, task_order("binary"), AXIS_TITLES[axis], GRAD_TITLES[axis], marker_x,
            "grad_logit" if axis == "logit" else "grad", f"binary-{axis}-{state.panels}", state.panels,
        )
        return ViewOutput(
            loss_figure, grad_figure,
            ReadoutTable("p̂", probability, "dL/dp̂", rows),
            formulas_markdown(keys, link_space=True),
            self.encode_query(state),
            extras={
                "lesson": chapter_lesson_text(curves.chapter_lesson(marker_x, axis, label)),
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
        plan = super().plan(previous, state)
        if "label" in changed_numbers(previous, state):
            return UpdatePlan(full=False, redraw=frozenset(state.losses))
        return plan

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
    limit = CLICK_PROBABILITY_LIMIT
    return controls.format_number(min(max(round(probability, 6), limit), 1 - limit))


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


def chapter_lesson_text(lesson: curves.ChapterLesson) -> str:
    ratio = lesson.bce_grad_logit / lesson.mse_grad_logit if lesson.mse_grad_logit > 0 else float("inf")
    verdict = (
        "BCE's gradient is still strong while MSE's nearly vanishes: the sigmoid has saturated."
        if ratio >= 10
        else "Here the two gradients are of similar size; push p̂ towards the wrong end to see MSE's vanish."
    )
    return (
        f"At p̂ = {lesson.probability:.4g} and y = {lesson.target:g}: "
        f"|dBCE/dz| = {lesson.bce_grad_logit:.4f} against |dMSE/dz| = {lesson.mse_grad_logit:.4f}. {verdict}"
    )


VIEW = BinaryView()

