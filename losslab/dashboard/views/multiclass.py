"""/multiclass: softmax over editable logits, per-class charts, one logit swept, and the stability panel."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

import numpy as np
from dash import html, no_update

from losslab import registry
from losslab._validation import Interval
from losslab.dashboard import controls, curves, export, figures, ids, layout, tables
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
    task_order,
)
from losslab.dashboard.views.clicks import CLICK_DECIMALS, clicked_x

LOGITS = controls.LogitsControl("logits", "Logits z", (2.0, 1.0, 0.1, -1.0))
CLASS_INDEX = Interval(0, controls.MAX_CLASSES - 1)
PROBABILITY_GRAPH = ids.Multiclass.PROBABILITY_GRAPH
CLASS_GRAD_GRAPH = ids.Multiclass.CLASS_GRAD_GRAPH
STABILITY_TABLE = ids.Multiclass.STABILITY_TABLE
TARGET_NOTE = ids.Multiclass.TARGET_NOTE
CLASS_CONTROLS = ("true_class", "swept_class")
PROBABILITY_TITLE = "Softmax probabilities p̂"
CLASS_GRAD_TITLE = "Cross-entropy gradient (p̂ − y) / T"


class MulticlassView(View):
    name = "multiclass"
    path = "/multiclass"
    title = "Multiclass (softmax)"
    nav_title = "Multiclass"
    introduction = (
        "Edit the logits z and watch the softmax probabilities and the cross-entropy gradient p̂ − y. "
        "The sweep charts move one logit with the others fixed. The stability panel shows why softmax "
        "subtracts the largest logit first: try 1000, 999, 998."
    )
    task = "multiclass"

    @property
    def loss_keys(self) -> tuple[str, ...]:
        """The multiclass losses but label-smoothed CE: the ε control smooths every loss's target, and
        cross-entropy to the smoothed target is exactly label-smoothed CE."""
        return tuple(key for key in task_order("multiclass") if key != "label_smoothed_cross_entropy")

    numbers = (
        controls.NumberControl("true_class", "True class", 0, CLASS_INDEX, 0, controls.MAX_CLASSES - 1, 1,
                               integer=True, help="index of the correct class, from 0", has_slider=False),
        controls.NumberControl("temperature", "Softmax temperature T", 1.0, Interval(0.01, 100.0), -1.0, 1.0, 0.02,
                               log_scale=True, help="p̂ = softmax(z / T)"),
        controls.NumberControl("swept_class", "Swept logit k", 0, CLASS_INDEX, 0, controls.MAX_CLASSES - 1, 1,
                               integer=True, help="the logit the sweep charts move", has_slider=False),
        controls.NumberControl("smoothing", "Label smoothing ε", 0.0, Interval(0.0, 1.0), 0.0, 0.5, 0.01,
                               help="target y = (1 − ε)·one-hot + ε/K"),
        controls.parameter_control(registry.CLASS_WEIGHT),
    )
    extras = (LOGITS, controls.Y_SCALE, controls.GRADIENT_CHECK)
    extras_position = 0
    default_losses = ("cross_entropy", "brier")
    motion_controls = ("temperature", "smoothing", "class_weight")
    chooser_rows = (
        ("Multiclass (mutually exclusive)", "Softmax", "Categorical CE", "?losses=cross_entropy"),
        ("Soft targets (distillation, smoothed labels)", "Softmax", "KL divergence or CE",
         "?losses=kl_divergence,cross_entropy&smoothing=0.3"),
    )
    extra_outputs: ClassVar = {
        "probability_figure": ExtraOutput(PROBABILITY_GRAPH, "figure"),
        "class_grad_figure": ExtraOutput(CLASS_GRAD_GRAPH, "figure"),
        "stability": ExtraOutput(STABILITY_TABLE),
        "target_note": ExtraOutput(TARGET_NOTE),
    }

    def reconcile_link(self, state: ViewState) -> ViewState:
        """Class indices from a link must exist among the link's logits."""
        numbers = dict(state.numbers)
        notices = list(state.notices)
        classes = len(state.logits)
        for name in CLASS_CONTROLS:
            if numbers[name] >= classes:
                notices.append(f"Class {numbers[name]} does not exist with {classes} logits; using 0.")
                numbers[name] = 0
        return replace(state, numbers=numbers, notices=tuple(notices))

    corrected_controls = CLASS_CONTROLS

    def reconcile_input(self, numbers: dict, extras: dict, triggered: frozenset[str]) -> tuple[dict, dict]:
        """Removing logits moves a true class or swept logit that no longer exists to the last class."""
        logits = extras.get("logits")
        if logits is None or "logits" not in triggered:
            return numbers, {}
        last = len(logits) - 1
        notes = {}
        for name in CLASS_CONTROLS:
            if numbers.get(name) is not None and numbers[name] > last:
                notes[name] = (f"{self.number(name).label}: class {numbers[name]} went with the removed logits; "
                               f"moved to class {last}")
                numbers = {**numbers, name: last}
        return numbers, notes

    def cross_check(self, numbers: dict, extras: dict, raw_numbers: dict) -> dict[str, str]:
        """A class index must exist among the current logits; the message names the current range."""
        logits = extras.get("logits")
        if logits is None:
            return {}
        messages = {}
        for name in CLASS_CONTROLS:
            value = numbers.get(name)
            if value is None:
                value, problem = controls.parse_number(raw_numbers.get(name))
                if problem or value != int(value) or 0 <= value < len(logits):
                    continue  # not a whole number at all: the control's own message says so
            if not 0 <= value < len(logits):
                messages[name] = (f"{self.number(name).label}: class {controls.format_number(value)} does not exist "
                                  f"with {len(logits)} logits; expected a whole number from 0 to {len(logits) - 1}")
        return messages

    def build(self, state: ViewState) -> ViewOutput:
        logits = np.asarray(state.logits, dtype=np.float64)
        true_class = int(state.number("true_class"))
        swept = int(state.number("swept_class"))
        temperature = state.number("temperature")
        smoothing = state.number("smoothing")
        softmax_now = curves.softmax_state(logits, true_class, temperature, smoothing)
        chart_curves = curves.sweep_multiclass(logits, true_class, temperature, swept, state.losses, smoothing,
                                              state.numbers)
        rows = tuple(curves.multiclass_point(logits, true_class, temperature, swept, state.losses, smoothing,
                                             state.numbers))
        loss_figure, grad_figure = figure_pair(
            chart_curves, rows, task_order("multiclass"), f"logit z{swept} (others fixed)", f"dL/dz{swept}",
            float(logits[swept]), "grad_logit", f"multiclass-sweep-{state.scale}", scale=state.scale,
            check=state.check,
        )
        return ViewOutput(
            loss_figure, grad_figure,
            ReadoutTable(f"z{swept}", float(logits[swept]), f"dL/dp̂{swept}", rows, f"dL/dz{swept}",
                         note=gradient_check_note(grad_figure, state.check)),
            formulas_markdown(state.losses, link_space=True),
            self.encode_query(state),
            extras={
                "probability_figure": exported_bars(figures.class_bar_figure(
                    softmax_now.probabilities, PROBABILITY_TITLE, "p̂ₖ", true_class, swept,
                    y_range=(0, 1.1),
                ), softmax_now.probabilities, "probability", "p̂ₖ"),
                "class_grad_figure": exported_bars(figures.class_bar_figure(
                    softmax_now.grad_logit, CLASS_GRAD_TITLE, "dL/dzₖ", true_class, swept,
                    y_range=(-1.1 / temperature, 1.1 / temperature),
                ), softmax_now.grad_logit, "class_grad", "dL/dzₖ"),
                "stability_rows": stability_rows(softmax_now),
                "target_note": target_note(logits / temperature, true_class, smoothing),
            },
        )

    def output_values(self, output: ViewOutput, plan: UpdatePlan) -> dict:
        # The per-class charts depend on every logit, the swept one included: always resend (they are small).
        return {
            "probability_figure": output.probability_figure,
            "class_grad_figure": output.class_grad_figure,
            "stability": tables.stability_table(output.stability_rows),
            "target_note": output.target_note,
        }

    def plan(self, previous: ViewState | None, state: ViewState) -> UpdatePlan:
        if (previous is None or previous.view != state.view or previous.scale != state.scale
                or previous.check != state.check):
            return UpdatePlan(full=True)
        if state.losses != previous.losses:
            return UpdatePlan(full=False, replace_traces=True)
        changed = changed_numbers(previous, state)
        swept = int(state.number("swept_class"))
        if "swept_class" in changed or len(previous.logits) != len(state.logits):
            return UpdatePlan(full=True)
        others_moved = any(a != b for k, (a, b) in enumerate(zip(previous.logits, state.logits, strict=True))
                           if k != swept)
        grid_moved = (curves.multiclass_grid(previous.logits, swept)
                      != curves.multiclass_grid(state.logits, swept))  # widened to follow the swept logit
        if others_moved or grid_moved or changed & {"true_class", "temperature", "smoothing"}:
            return UpdatePlan(full=False, shift=True, redraw=frozenset(state.losses))
        weighted = {key for key in state.losses for name in changed if name in registry.get(key).defaults()}
        return UpdatePlan(full=False, redraw=frozenset(weighted))

    def export_csv(self, state: ViewState) -> str:
        """The sweep charts' curves and the two bar charts' values per class: the bars' x (the class
        index) is not the sweep's, so the CSV takes its long form (one row per curve, x, y)."""
        output = self.build(state)
        shown = {self.ids.LOSS_GRAPH: output.loss_figure, self.ids.GRAD_GRAPH: output.grad_figure,
                 PROBABILITY_GRAPH: output.probability_figure, CLASS_GRAD_GRAPH: output.class_grad_figure}
        x_title = output.loss_figure["layout"]["xaxis"]["title"]["text"]
        return export.curves_csv(self.title, self.encode_query(state), x_title, export.curve_columns(shown),
                                 export.x_titles(shown))

    def code(self, state: ViewState, output: ViewOutput | None = None) -> str:
        """The snippet, then the table printed as the CSV has it (long: the bars are on the class index)."""
        return self.code_snippet(state, output) + export.PRINT_CURVES

    def code_snippet(self, state: ViewState, output: ViewOutput | None = None) -> str:
        loss_title, grad_title = chart_titles(output or self.build(state))
        logits = np.asarray(state.logits, dtype=np.float64)
        swept, classes = int(state.number("swept_class")), len(state.logits)
        return "\n".join([
            "import numpy as np",
            "import losslab",
            "from losslab import registry",
            "",
            f"# {self.title}: each loss and dL/dz{swept} as logit z{swept} sweeps, the others fixed",
            f"logits = np.array({[float(z) for z in state.logits]!r})",
            f"T, k, c, eps = {state.number('temperature')!r}, {swept}, {int(state.number('true_class'))}, "
            f"{state.number('smoothing')!r}",
            grid_code(curves.multiclass_grid(logits, swept)),
            "batch = np.repeat(logits[None, :], x.size, axis=0)",
            "batch[:, k] = x",
            f"target = (1.0 - eps) * np.eye({classes})[c] + eps / {classes}  # label smoothing; eps = 0 is one-hot",
            "columns = {}",
            f"params = {{'class_weight': {state.number('class_weight')!r}}}",
            f"for key in {list(state.losses)!r}:",
            "    spec = registry.get(key)",
            "    kwargs = {p.name: params[p.name] for p in spec.parameters}",
            f"    columns[{loss_title!r} + ': ' + spec.label] = spec.loss_from_logit(batch / T, target, **kwargs)",
            f"    columns[{grad_title!r} + ': ' + spec.label] = "
            "spec.grad_from_logit(batch / T, target, **kwargs)[:, k] / T",
            *gradient_check_code(state, loss_title, grad_title, curves.multiclass_grid(logits, swept).step),
            "",
            "# the bar charts, at the logits as typed: p̂ = softmax(z / T) and the cross-entropy gradient per class",
            f"bars = {{{PROBABILITY_TITLE + ': p̂ₖ'!r}: losslab.softmax(logits / T),",
            f"        {CLASS_GRAD_TITLE + ': dL/dzₖ'!r}: losslab.cross_entropy_grad(logits / T, target) / T}}",
            "columns |= bars",
            "curve_x = dict.fromkeys(bars, np.arange(logits.size, dtype=np.float64))  # their x: the class index k",
        ]) + "\n"

    def panels_above_charts(self, state: ViewState, output: ViewOutput) -> list:
        return [
            html.Div(
                className="class-charts",
                children=[
                    layout.graph(PROBABILITY_GRAPH, output.probability_figure, "softmax probabilities"),
                    layout.graph(CLASS_GRAD_GRAPH, output.class_grad_figure, "gradient per class"),
                ],
            ),
            html.Section(
                className="panel stability",
                children=[
                    html.H3("Numerical stability: naive against stable softmax"),
                    html.Div(tables.stability_table(output.stability_rows), id=STABILITY_TABLE),
                ],
            ),
        ]

    def panels_below_charts(self, state: ViewState, output: ViewOutput) -> list:
        return [html.P(output.target_note, id=TARGET_NOTE, className="lesson", role="status")]

    def click_action(self) -> ClickAction:
        return ClickAction(LOGITS.input_id(self.name), logits_from_click,
                           (LOGITS.input_id(self.name), self.ids.input("swept_class")))


def exported_bars(figure: dict, values: np.ndarray, meta: str, name: str) -> dict:
    """A bar chart whose bars "Download CSV" holds: a ``meta`` and ``name`` (the column "<title>: <name>";
    hover shows neither), and the exact values wherever the drawn ones have gaps (``figures.exact_values``)."""
    bars = figure["data"][0]
    bars.update(meta=meta, name=name, **figures.exact_values(values))
    return figure


def logits_from_click(click_data, logits_text: str | None, swept_raw):
    """The logits text with the swept logit moved to the clicked x (no_update if anything is invalid)."""
    x = clicked_x(click_data)
    logits, problem = controls.parse_logits(logits_text)
    swept, swept_problem = VIEW.number("swept_class").parse(swept_raw)
    if x is None or problem or swept_problem or swept >= len(logits):
        return no_update
    moved = list(logits)
    moved[swept] = round(x, CLICK_DECIMALS)
    return controls.format_logits(moved)


def target_note(scaled_logits: np.ndarray, true_class: int, smoothing: float) -> str:
    """The target, its entropy, and KL = CE − H(y) with the numbers at the current logits."""
    target = curves.smoothed_target(true_class, scaled_logits.size, smoothing)
    entropy = curves.target_entropy(target)
    cross_entropy = float(registry.get("cross_entropy").loss_from_logit(scaled_logits, target))
    divergence = float(registry.get("kl_divergence").loss_from_logit(scaled_logits, target))
    shown = ", ".join(f"{v:.3g}" for v in target)
    kind = "one-hot" if smoothing == 0 else f"smoothed with ε = {smoothing:g}"
    return (f"Target y = [{shown}] ({kind}); its entropy H(y) = {entropy:.4g} nats. "
            f"KL(y ‖ p̂) = CE − H(y): {divergence:.4g} = {cross_entropy:.4g} − {entropy:.4g}"
            + (", so with a one-hot target KL and cross-entropy are the same curve." if smoothing == 0 else "."))


def stability_rows(state: curves.SoftmaxState) -> tuple[tuple[str, str, str], ...]:
    """(class, naive softmax, stable softmax) as text, so NaN shows as 'nan'."""
    return tuple(
        (str(k), _probability_text(naive), _probability_text(stable))
        for k, (naive, stable) in enumerate(zip(state.naive_probabilities, state.probabilities, strict=True))
    )


def _probability_text(value: float) -> str:
    return f"{value:.8f}" if np.isfinite(value) else str(value)


VIEW = MulticlassView()
