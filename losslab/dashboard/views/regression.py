"""/regression: regression losses and dL/dŷ as the prediction moves around the true value."""

from __future__ import annotations

import numpy as np

from losslab import registry
from losslab.dashboard import controls, curves
from losslab.dashboard.url_state import ViewState
from losslab.dashboard.views.base import (
    ClickAction,
    ReadoutTable,
    UpdatePlan,
    View,
    ViewOutput,
    chart_titles,
    figure_pair,
    formulas_markdown,
    gradient_check_code,
    gradient_check_note,
    grid_code,
    task_order,
)
from losslab.dashboard.views.clicks import prediction_from_click


class RegressionView(View):
    name = "regression"
    path = "/regression"
    title = "Regression"
    introduction = (
        "Compare regression losses as the prediction ŷ moves around the true value y. "
        "The gradient chart shows how hard each loss pushes back: MSE grows with the error, "
        "MAE and Huber stay bounded, so outliers cannot dominate."
    )
    task = "regression"
    numbers = (
        controls.NumberControl("target", "True value y", 0.0, controls.FINITE, -5.0, 5.0, 0.1,
                               help="where the loss is zero"),
        controls.NumberControl(
            "prediction", "Current prediction ŷ", 1.5, controls.FINITE, -5.0, 5.0, 0.1,
            help="click a chart to move it", has_slider=False,
        ),
        *controls.parameters_of("regression"),
    )
    extras = (controls.Y_SCALE, controls.GRADIENT_CHECK)
    default_losses = ("mse", "mae", "huber", "log_cosh")
    motion_controls = ("target", "delta", "tau")
    chooser_rows = (
        ("Regression", "Linear", "MSE", "?losses=mse"),
        ("Robust regression", "Linear", "Huber", "?losses=mse,huber&delta=1&prediction=4"),
    )

    def build(self, state: ViewState) -> ViewOutput:
        target = state.number("target")
        prediction = state.number("prediction")
        chart_curves = curves.sweep_regression(target, state.losses, state.numbers, include=prediction)
        rows = tuple(curves.regression_point(prediction, target, state.losses, state.numbers))
        loss_figure, grad_figure = figure_pair(
            chart_curves, rows, task_order("regression"), "prediction ŷ", "dL/dŷ", prediction, "grad",
            f"regression-{state.scale}", scale=state.scale, check=state.check,
        )
        return ViewOutput(
            loss_figure, grad_figure,
            ReadoutTable("ŷ", prediction, "dL/dŷ", rows, logit_grad_label=None,  # identity link: dL/dz = dL/dŷ
                         note=gradient_check_note(grad_figure, state.check)),
            formulas_markdown(state.losses, link_space=False),
            self.encode_query(state),
        )

    def plan(self, previous: ViewState | None, state: ViewState) -> UpdatePlan:
        plan = super().plan(previous, state)
        if plan.full or plan.replace_traces:
            return plan
        before, after = self.grid(previous), self.grid(state)
        if before == after and previous.number("target") == state.number("target"):
            return plan
        # Losses of ŷ − y: a sweep that moved with y keeps its values only where every residual
        # (start + i·step) − y rounds to the same float; one that differs in its last bit redraws.
        with np.errstate(over="ignore", invalid="ignore"):
            same_residuals = np.array_equal(before.values() - previous.number("target"),
                                            after.values() - state.number("target"), equal_nan=True)
        return UpdatePlan(full=False, shift=before != after,
                          redraw=plan.redraw if same_residuals else frozenset(state.losses))

    def code_snippet(self, state: ViewState, output: ViewOutput | None = None) -> str:
        loss_title, grad_title = chart_titles(output or self.build(state))
        # every parameter of the ticked losses (smooth L1's β and Gaussian NLL's σ² too, not only δ and τ)
        params = {p.name: state.numbers[p.name] for key in state.losses for p in registry.get(key).parameters}
        return "\n".join([
            "import numpy as np",
            "from losslab import registry",
            "",
            f"# {self.title}: every selected loss and its dL/dŷ on the chart's grid of predictions ŷ",
            f"y = {state.number('target')!r}",
            f"params = {params!r}",
            grid_code(self.grid(state)),
            "columns = {}",
            f"for key in {list(state.losses)!r}:",
            "    spec = registry.get(key)",
            "    kwargs = {p.name: params[p.name] for p in spec.parameters}",
            f"    columns[{loss_title!r} + ': ' + spec.label] = spec.loss(x, y, **kwargs)",
            f"    columns[{grad_title!r} + ': ' + spec.label] = spec.grad(x, y, **kwargs)",
            *gradient_check_code(state, loss_title, grad_title, self.grid(state).step),
        ]) + "\n"

    @staticmethod
    def grid(state: ViewState) -> curves.Grid:
        return curves.regression_grid(state.number("target"), state.number("prediction"))

    def click_action(self) -> ClickAction:
        return ClickAction(self.ids.input("prediction"), lambda click: prediction_from_click(click))


VIEW = RegressionView()
