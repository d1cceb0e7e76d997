"""What each view shows for a given state: figures, readout rows, formulas, text.

Pure functions of a ``ViewState`` (no Dash): the callbacks call these and
only wrap the result. Everything here is unit-tested without a browser.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from losslab import curves, figures, registry
from losslab.dashboard.url_state import ViewState, encode_query

AXIS_TITLES = {"logit": "logit z", "prob": "predicted probability p̂"}
GRAD_TITLES = {"logit": "dL/dz", "prob": "dL/dp̂"}


@dataclass(frozen=True)
class ReadoutTable:
    """Rows of (loss label, loss, dL/d prediction, dL/dz) at the current point."""

    prediction_label: str
    prediction_value: float
    grad_label: str
    rows: tuple[curves.PointValues, ...]
    logit_grad_label: str = "dL/dz"


@dataclass(frozen=True)
class ViewOutput:
    loss_figure: dict
    grad_figure: dict
    readout: ReadoutTable
    formulas: str
    query: str
    lesson: str = ""
    probability_figure: dict | None = None
    class_grad_figure: dict | None = None
    stability_rows: tuple[tuple[str, str, str], ...] = ()
    losses_note: str = ""


def formulas_markdown(keys, link_space: bool) -> str:
    """Display-math blocks for each loss and its derivative(s), rendered by MathJax in the page."""
    blocks = []
    for key in keys:
        spec = registry.get(key)
        lines = [f"**{spec.label}** — {spec.summary}", f"$$\n{spec.latex_loss}\n$$", f"$$\n{spec.latex_grad}\n$$"]
        if link_space and spec.latex_grad_logit:
            lines.append(f"$$\n{spec.latex_grad_logit}\n$$")
        blocks.append("\n\n".join(lines))
    return "\n\n---\n\n".join(blocks)


def _figure_pair(chart_curves, rows, order, x_title, grad_title, marker_x, marker_grad, revision, panels="overlay"):
    """Loss and gradient charts; ``marker_grad`` names the readout field matching the gradient's axis."""
    loss_figure = figures.curve_figure(
        chart_curves, "loss", x_title=x_title, y_title="loss L", title="Loss",
        order=order, marker_x=marker_x, marker_ys=figures.readout_values(rows, "loss"), uirevision=revision,
        panels=panels,
    )
    grad_figure = figures.curve_figure(
        chart_curves, "grad", x_title=x_title, y_title=grad_title, title=f"Gradient {grad_title}",
        order=order, marker_x=marker_x, marker_ys=figures.readout_values(rows, marker_grad),
        uirevision=revision, panels=panels,
    )
    return loss_figure, grad_figure


def regression_view(state: ViewState) -> ViewOutput:
    target = state.number("target")
    prediction = state.number("prediction")
    order = [s.key for s in registry.for_task("regression")]
    chart_curves = curves.sweep_regression(target, state.losses, state.numbers)
    rows = tuple(curves.regression_point(prediction, target, state.losses, state.numbers))
    loss_figure, grad_figure = _figure_pair(
        chart_curves, rows, order, "prediction ŷ", "dL/dŷ", prediction, "grad", "regression"
    )
    return ViewOutput(
        loss_figure, grad_figure,
        ReadoutTable("ŷ", prediction, "dL/dŷ", rows),
        formulas_markdown(state.losses, link_space=False),
        encode_query(state),
    )


def binary_view(state: ViewState) -> ViewOutput:
    axis = state.axis
    label = state.number("label")
    probability = state.number("probability")
    marker_x = curves.from_probability(probability, axis)
    order = [s.key for s in registry.for_task("binary")]
    keys = usable_binary_losses(state.losses, label)
    chart_curves = curves.sweep_binary(label, axis, keys, state.numbers)
    rows = tuple(curves.binary_point(marker_x, axis, label, keys, state.numbers))
    loss_figure, grad_figure = _figure_pair(
        chart_curves, rows, order, AXIS_TITLES[axis], GRAD_TITLES[axis], marker_x,
        "grad_logit" if axis == "logit" else "grad", f"binary-{axis}-{state.panels}", state.panels,
    )
    return ViewOutput(
        loss_figure, grad_figure,
        ReadoutTable("p̂", probability, "dL/dp̂", rows),
        formulas_markdown(keys, link_space=True),
        encode_query(state),
        lesson=chapter_lesson_text(curves.chapter_lesson(marker_x, axis, label)),
        losses_note=_hidden_losses_note(state.losses, keys, label),
    )


def _hidden_losses_note(selected, shown, label: float) -> str:
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


def multiclass_view(state: ViewState) -> ViewOutput:
    logits = np.asarray(state.logits, dtype=np.float64)
    true_class = int(state.number("true_class"))
    swept = int(state.number("swept_class"))
    temperature = state.number("temperature")
    order = [s.key for s in registry.for_task("multiclass")]
    softmax_now = curves.softmax_state(logits, true_class, temperature)
    chart_curves = curves.sweep_multiclass(logits, true_class, temperature, swept, state.losses)
    rows = tuple(curves.multiclass_point(logits, true_class, temperature, swept, state.losses))
    x_title = f"logit z{swept} (others fixed)"
    loss_figure, grad_figure = _figure_pair(
        chart_curves, rows, order, x_title, f"dL/dz{swept}", float(logits[swept]), "grad_logit",
        "multiclass-sweep",
    )
    return ViewOutput(
        loss_figure, grad_figure,
        ReadoutTable(f"z{swept}", float(logits[swept]), f"dL/dp̂{swept}", rows, f"dL/dz{swept}"),
        formulas_markdown(state.losses, link_space=True),
        encode_query(state),
        probability_figure=figures.class_bar_figure(
            softmax_now.probabilities, "Softmax probabilities p̂", "p̂ₖ", true_class, swept, y_range=(0, 1.1)
        ),
        class_grad_figure=figures.class_bar_figure(
            softmax_now.grad_logit, "Cross-entropy gradient (p̂ − y) / T", "dL/dzₖ", true_class, swept,
            y_range=(-1.1 / temperature, 1.1 / temperature),
        ),
        stability_rows=stability_rows(softmax_now),
    )


def stability_rows(state: curves.SoftmaxState) -> tuple[tuple[str, str, str], ...]:
    """(class, naive softmax, stable softmax) as text, so NaN shows as 'nan'."""
    return tuple(
        (str(k), _probability_text(naive), _probability_text(stable))
        for k, (naive, stable) in enumerate(zip(state.naive_probabilities, state.probabilities, strict=True))
    )


def _probability_text(value: float) -> str:
    return f"{value:.8f}" if np.isfinite(value) else str(value)


VIEW_BUILDERS = {"regression": regression_view, "binary": binary_view, "multiclass": multiclass_view}


@dataclass(frozen=True)
class UpdatePlan:
    """What a control change redraws, so callbacks can send only that.

    ``full``: rebuild the figures (axes or subplots changed). ``replace_traces``:
    a new set of curves on the same axes, so the layout (and the user's zoom)
    stays. Otherwise the marker always moves; ``shift`` moves every curve
    sideways (x0 only); ``redraw`` lists the losses whose curve values changed.
    """

    full: bool
    shift: bool = False
    redraw: frozenset[str] = frozenset()
    replace_traces: bool = False


def update_plan(previous: ViewState | None, state: ViewState) -> UpdatePlan:
    if previous is None or previous.view != state.view:
        return UpdatePlan(full=True)
    if previous.axis != state.axis or previous.panels != state.panels:
        return UpdatePlan(full=True)
    if _plotted_losses(previous) != _plotted_losses(state):
        one_panel_each = state.view == "binary" and state.panels == "columns"
        return UpdatePlan(full=one_panel_each, replace_traces=not one_panel_each)
    changed = {name for name, value in state.numbers.items() if previous.numbers.get(name) != value}
    if state.view == "multiclass":
        return _multiclass_plan(previous, state, changed)
    redraw = {key for key in state.losses for name in changed if name in registry.get(key).defaults()}
    if state.view == "binary" and "label" in changed:
        redraw = set(state.losses)
    return UpdatePlan(full=False, shift="target" in changed, redraw=frozenset(redraw))


def _plotted_losses(state: ViewState) -> tuple[str, ...]:
    if state.view == "binary":
        return usable_binary_losses(state.losses, state.number("label"))
    return state.losses


def _multiclass_plan(previous: ViewState, state: ViewState, changed: set[str]) -> UpdatePlan:
    swept = int(state.number("swept_class"))
    if "swept_class" in changed or len(previous.logits) != len(state.logits):
        return UpdatePlan(full=True)
    others_moved = any(a != b for k, (a, b) in enumerate(zip(previous.logits, state.logits, strict=True))
                       if k != swept)
    if others_moved or changed & {"true_class", "temperature"}:
        return UpdatePlan(full=False, shift=True, redraw=frozenset(state.losses))
    return UpdatePlan(full=False)
