"""The shape of a family view: one task's losses against the one variable that tells its story.

Segmentation, detection, metric learning, ranking, GANs and counts each have
their own view module; most draw their task's losses along one axis, the
model's raw output x for that family (a box's offset, a distance, a score
margin, the discriminator's logit): loss and dL/dx charts, a marker at the
current x (click a chart to move it), a 0/1 label where the family has one,
one control per hyperparameter, the readout, the gradient check, CSV and code.
A family module subclasses :class:`FamilyView` and sets the class attributes;
it overrides ``build`` (or adds panels) only where its story needs more.

Every value drawn is the registry's function (``curves.raw_functions``): the
core loss, through the one-variable adapters of :mod:`losslab._story`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from losslab import registry
from losslab.dashboard import controls, curves
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
from losslab.dashboard.views.clicks import prediction_from_click

ATLAS = "Loss atlas"  # the navigation menu of the family views


@dataclass(frozen=True)
class AxisText:
    """How the chart's x axis and its derivative are named: axis titles, the readout's symbol for x,
    and the readout's dL/dz column (None: no such column)."""

    x_title: str
    grad_title: str
    symbol: str
    logit_grad_label: str | None = None


class FamilyView(View):
    """A view of one registry task along one axis; subclasses set the class attributes below."""

    #: the number control holding the current x (its slider is off: a click on a chart moves it)
    x_name: str = "x"
    #: the axis's default span; the grid widens to include a typed x outside it
    x_range: tuple[float, float] = (-4.0, 4.0)
    x_title: str = "x"
    grad_title: str = "dL/dx"
    #: the readout's name for x
    x_symbol: str = "x"
    #: the number control holding the 0/1 label, or None: the family's losses take no label
    label_name: str | None = None
    #: the target passed to the losses when the family has no label control
    fixed_target: float = 0.0
    extras = (controls.Y_SCALE, controls.GRADIENT_CHECK)
    extra_outputs: ClassVar[dict[str, ExtraOutput]] = {}
    nav_group = ATLAS

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.extra_outputs = {"lesson": ExtraOutput(f"{cls.name}-lesson")}

    def target(self, state: ViewState) -> float:
        return state.number(self.label_name) if self.label_name else self.fixed_target

    def grid(self, state: ViewState) -> curves.Grid:
        return curves.widened(*self.x_range, state.number(self.x_name))

    def build(self, state: ViewState) -> ViewOutput:
        keys = self.plotted_losses(state)
        marker_x = self.marker_x(state)
        chart_curves, rows = self.chart_data(state, keys)
        axis = self.axis_text(state)
        loss_figure, grad_figure = figure_pair(
            chart_curves, rows, task_order(self.task), axis.x_title, axis.grad_title, marker_x, "grad",
            self.revision(state), self.panels(state), scale=state.scale, check=state.check,
        )
        return ViewOutput(
            loss_figure, grad_figure,
            ReadoutTable(axis.symbol, marker_x, axis.grad_title, rows, logit_grad_label=axis.logit_grad_label,
                         note=gradient_check_note(grad_figure, state.check)),
            formulas_markdown(keys, link_space=self.link_space(state)),
            self.encode_query(state),
            extras={"lesson": self.lesson(state, rows), "losses_note": self.losses_note(state)},
        )

    # ---- the hooks a family overrides ------------------------------------------------
    def marker_x(self, state: ViewState) -> float:
        """Where the current point sits on the chart's x axis."""
        return state.number(self.x_name)

    def chart_data(self, state: ViewState, keys) -> tuple[list[curves.Curve], tuple[curves.PointValues, ...]]:
        """The swept curves and the readout rows at the current point (the registry's raw-output functions)."""
        target = self.target(state)
        return (curves.sweep_raw(self.grid(state), target, keys, state.numbers),
                tuple(curves.raw_point(self.marker_x(state), target, keys, state.numbers)))

    def axis_text(self, state: ViewState) -> AxisText:
        return AxisText(self.x_title, self.grad_title, self.x_symbol)

    def revision(self, state: ViewState) -> str:
        """Plotly's uirevision: a new value resets the user's zoom (a new axis, a new scale)."""
        return f"{self.name}-{state.scale}"

    def panels(self, state: ViewState) -> str:
        return "overlay"

    def link_space(self, state: ViewState) -> bool:
        """Whether the formulas show the derivative in the logit as well."""
        return False

    def losses_note(self, state: ViewState) -> str:
        """Why a ticked loss is not drawn (e.g. it lives on another axis); empty if all are."""
        return ""

    def lesson(self, state: ViewState, rows: tuple[curves.PointValues, ...]) -> str:
        """The sentence under the charts: what the current point teaches (override per family)."""
        return ""

    def plan(self, previous: ViewState | None, state: ViewState) -> UpdatePlan:
        plan = super().plan(previous, state)
        if plan.full or plan.replace_traces:
            return plan
        if self.grid(previous) != self.grid(state):  # widened to follow a typed x
            return UpdatePlan(full=False, shift=True, redraw=frozenset(state.losses))
        if self.label_name and self.label_name in changed_numbers(previous, state):
            return UpdatePlan(full=False, redraw=frozenset(state.losses))
        return plan

    def panels_below_charts(self, state: ViewState, output: ViewOutput) -> list:
        return [lesson_paragraph(self.extra_outputs["lesson"].component_id, output.lesson)]

    def click_action(self) -> ClickAction:
        return ClickAction(self.ids.input(self.x_name), prediction_from_click)

    def code_snippet(self, state: ViewState, output: ViewOutput | None = None) -> str:
        loss_title, grad_title = chart_titles(output or self.build(state))
        keys = list(self.plotted_losses(state))
        params = {p.name: state.numbers[p.name] for key in keys for p in registry.get(key).parameters}
        return "\n".join([
            "import numpy as np",
            "from losslab import registry",
            "",
            f"# {self.title}: each loss and its derivative along the chart's x axis ({self.x_title})",
            f"target = {self.target(state)!r}",
            f"params = {params!r}",
            grid_code(self.grid(state)),
            "columns = {}",
            f"for key in {keys!r}:",
            "    spec = registry.get(key)",
            "    # the loss against the model's raw output: the logit where a sigmoid follows it",
            "    loss, grad = (spec.loss, spec.grad) if spec.link == 'identity' else (spec.loss_from_logit,"
            " spec.grad_from_logit)",
            "    kwargs = {p.name: params[p.name] for p in spec.parameters}",
            f"    columns[{loss_title!r} + ': ' + spec.label] = loss(x, target, **kwargs)",
            f"    columns[{grad_title!r} + ': ' + spec.label] = grad(x, target, **kwargs)",
            *gradient_check_code(state, loss_title, grad_title, self.grid(state).step),
        ]) + "\n"


def label_control(label: str, help_text: str, default: int = 1) -> controls.NumberControl:
    """The family's 0/1 label (a pair similar or not, a sample real or generated, ...)."""
    return controls.NumberControl("label", label, default, registry.binary.UNIT, 0, 1, 1, integer=True,
                                  help=help_text)


def position_control(name: str, label: str, default: float, help_text: str,
                     valid=controls.FINITE) -> controls.NumberControl:
    """The current x: typed, or set by a click on a chart (no slider)."""
    return controls.NumberControl(name, label, default, valid, -5.0, 5.0, 0.1, help=help_text, has_slider=False)
