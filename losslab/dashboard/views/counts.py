"""/counts: count losses against the predicted count λ, or against the log-rate x = log λ.

Two losses for counts y ≥ 0, each on its own honest variable:

- the Poisson negative log-likelihood takes the log-rate x = log λ (the
  model's raw output, exponentiated into the mean count): e^x − y x, with
  dL/dx = e^x − y = λ − y, prediction minus target, like BCE's p̂ − y;
- MSLE takes the predicted count ŷ itself: (log(1 + ŷ) − log(1 + y))², so an
  under-prediction costs more than an over-prediction of the same size.

Axis choice: the ``count`` axis draws both against the same predicted count
(λ = e^x for the Poisson loss, ŷ = λ for MSLE); the Poisson loss is the core's
at x = log λ and its dL/dλ is the core's dL/dx divided by λ (the chain rule,
dx/dλ = 1/λ). The ``log_rate`` axis draws the Poisson loss against x with the
core's dL/dx; MSLE, a function of ŷ, is hidden there with a note. The
position is the predicted count λ > 0 (the "rate" text box; a click on either
axis moves it), the observed count y a slider.
"""

from __future__ import annotations

import math

import numpy as np
from dash import no_update

from losslab import registry
from losslab._validation import Interval
from losslab.dashboard import controls, curves
from losslab.dashboard.url_state import ViewState
from losslab.dashboard.views.base import (
    ClickAction,
    UpdatePlan,
    ViewOutput,
    chart_titles,
    gradient_check_code,
    grid_code,
)
from losslab.dashboard.views.clicks import clicked_x
from losslab.dashboard.views.family import AxisText, FamilyView

AXIS = controls.ChoiceControl("axis", "x axis", (("count", "predicted count λ = ŷ"), ("log_rate", "log-rate log λ")),
                              "count")
PANELS = controls.ChoiceControl("panels", "Panels", (("columns", "one per loss"), ("overlay", "overlaid")),
                                "columns")
AXIS_TITLES = {"count": "predicted count λ (= ŷ)", "log_rate": "predicted log-rate x = log λ"}
GRAD_TITLES = {"count": "dL/dλ", "log_rate": "dL/d log λ"}
READOUT_SYMBOLS = {"count": "λ", "log_rate": "log λ"}
LOG_RATE_LOSSES = ("poisson_nll",)  # functions of x = log λ; the others take the count itself
COUNT_LIMIT = controls.VALUE_LIMIT
COUNT_AXIS_MIN_SPAN = 10.0


def lives_on(key: str, axis: str) -> bool:
    return axis == "count" or key in LOG_RATE_LOSSES


class CountsView(FamilyView):
    name = "counts"
    path = "/counts"
    title = "Counts"
    introduction = (
        "Counts y = 0, 1, 2, … (events, visits, photons) are modelled by a predicted mean count λ. The Poisson "
        "negative log-likelihood takes the log-rate x = log λ, the model's raw output: e^x − y·x, whose gradient "
        "e^x − y = λ − y is prediction minus target, like BCE's p̂ − y. MSLE takes the predicted count ŷ itself "
        "and squares the error of log(1 + ·): an under-prediction costs more than an over-prediction of the same "
        "size. On the count axis both are drawn against the same λ = ŷ, the Poisson gradient by the chain rule "
        "(dL/d log λ) / λ; the log-rate axis is the Poisson loss's own."
    )
    task = "counts"
    x_name = "rate"
    x_symbol = "λ"
    label_name = "count"
    numbers = (
        controls.NumberControl("rate", "Predicted count λ", 1.0, Interval(0.0, COUNT_LIMIT, low_inclusive=False),
                               -5.0, 5.0, 0.1, has_slider=False,
                               help="the model's mean count λ = e^x (x: its log-rate output); click a chart to move it"),
        controls.NumberControl("count", "Observed count y", 3, Interval(0.0, COUNT_LIMIT), 0, 20, 1, integer=True,
                               help="a whole number of events, 0 or more"),
    )
    extras = (AXIS, PANELS, controls.Y_SCALE, controls.GRADIENT_CHECK)
    default_losses = ("poisson_nll", "msle")
    charts_class = "linked-charts stacked"  # loss above gradient: room for a panel per loss
    motion_controls = ("count",)
    chooser_rows = (
        ("Count data (events per interval)", "Exponential (a log-rate output)", "Poisson NLL",
         "?losses=poisson_nll&axis=log_rate&count=3&rate=1"),
        ("Positive targets spanning orders of magnitude", "Linear (ŷ > −1)", "MSLE",
         "?losses=poisson_nll,msle&axis=count&count=10&rate=2"),
    )

    # ---- what is shown -------------------------------------------------------
    def plotted_losses(self, state: ViewState) -> tuple[str, ...]:
        return tuple(key for key in state.losses if lives_on(key, state.axis))

    def marker_x(self, state: ViewState) -> float:
        rate = state.number("rate")
        return math.log(rate) if state.axis == "log_rate" else rate

    def grid(self, state: ViewState) -> curves.Grid:
        count, rate = state.number("count"), state.number("rate")
        if state.axis == "log_rate":
            centre = math.log(max(count, 1.0))  # the Poisson loss's minimum, log y (y = 0: none)
            return curves.widened(min(-3.0, centre - 4.0), centre + 3.0, math.log(rate))
        high = max(COUNT_AXIS_MIN_SPAN, 2.0 * count + 4.0)
        if rate >= high:
            high = 1.1 * rate
        low = high / curves.POINTS  # λ > 0: the log-rate of λ = 0 is −∞
        halfway = rate / 2  # 0 for the least subnormal λ: the marker then starts the axis
        return curves.Grid.spanning(min(low, halfway if halfway > 0 else rate), high)

    def sweep(self, state: ViewState, keys) -> list[curves.Curve]:
        grid, count = self.grid(state), state.number("count")
        if state.axis == "log_rate":
            return curves.sweep_raw(grid, count, keys, state.numbers)
        rate = grid.values()
        return [curves.Curve(key, registry.get(key).label, grid, *on_count_axis(key, rate, count)) for key in keys]

    def point(self, state: ViewState, keys) -> tuple[curves.PointValues, ...]:
        """Readout rows: loss, dL/dx along the axis, and dL/d log λ (the log-rate's gradient)."""
        count, rate = state.number("count"), state.number("rate")
        if state.axis == "log_rate":
            return tuple(curves.raw_point(math.log(rate), count, keys, state.numbers))
        rows = []
        for key in keys:
            loss, grad, grad_log_rate = on_count_axis(key, rate, count)
            rows.append(curves.PointValues(key, registry.get(key).label, float(loss), float(grad),
                                           float(grad_log_rate)))
        return tuple(rows)

    def chart_data(self, state: ViewState, keys):
        return self.sweep(state, keys), self.point(state, keys)

    def axis_text(self, state: ViewState) -> AxisText:
        axis = state.axis
        return AxisText(AXIS_TITLES[axis], GRAD_TITLES[axis], READOUT_SYMBOLS[axis],
                        "dL/d log λ" if axis == "count" else None)

    def revision(self, state: ViewState) -> str:
        return f"{self.name}-{state.axis}-{state.panels}-{state.scale}"

    def panels(self, state: ViewState) -> str:
        return state.panels

    def lesson(self, state: ViewState, rows) -> str:
        return lesson_text(state, rows)

    def losses_note(self, state: ViewState) -> str:
        return hidden_losses_note(state.losses, state.axis)

    def plan(self, previous: ViewState | None, state: ViewState) -> UpdatePlan:
        plan = super().plan(previous, state)
        if plan.replace_traces and state.panels == "columns":
            return UpdatePlan(full=True)  # one subplot per loss: a new set of losses is a new set of axes
        return plan

    def click_action(self) -> ClickAction:
        return ClickAction(self.ids.input(self.x_name), rate_from_click, (AXIS.input_id(self.name),))

    # ---- getting results out ----------------------------------------------------
    def code_snippet(self, state: ViewState, output: ViewOutput | None = None) -> str:
        loss_title, grad_title = chart_titles(output or self.build(state))
        axis = state.axis
        lines = [
            "import numpy as np",
            "from losslab import registry",
            "",
            f"# {self.title}: each loss and its derivative along the chart's x axis ({AXIS_TITLES[axis]})",
            f"y = {state.number('count')!r}  # the observed count",
            grid_code(self.grid(state)),
            "columns = {}",
        ]
        for key in self.plotted_losses(state):
            label = registry.get(key).label
            loss_column, grad_column = f"{loss_title}: {label}", f"{grad_title}: {label}"
            lines.append(f"spec = registry.get({key!r})")
            if axis == "log_rate":
                lines += [f"columns[{loss_column!r}] = spec.loss(x, y)  # x is the log-rate",
                          f"columns[{grad_column!r}] = spec.grad(x, y)"]
            elif key in LOG_RATE_LOSSES:
                lines += [f"columns[{loss_column!r}] = spec.loss(np.log(x), y)  # a loss of the log-rate log λ",
                          "with np.errstate(over='ignore'):  # 1 - y/λ is past the float range for λ near 1e-308",
                          f"    columns[{grad_column!r}] = spec.grad(np.log(x), y) / x  # chain rule: d log λ / dλ = 1/λ"]
            else:
                lines += [f"columns[{loss_column!r}] = spec.loss(x, y)  # a loss of the count ŷ = λ itself",
                          f"columns[{grad_column!r}] = spec.grad(x, y)"]
        lines += gradient_check_code(state, loss_title, grad_title, self.grid(state).step)
        return "\n".join(lines) + "\n"


def on_count_axis(key: str, rate, count):
    """``(loss, dL/dλ, dL/d log λ)`` of a counts loss at the predicted count λ: a log-rate loss at x = log λ
    with dL/dλ = (dL/dx) / λ; a loss of the count itself at ŷ = λ with dL/d log λ = (dL/dŷ) λ."""
    spec = registry.get(key)
    if key in LOG_RATE_LOSSES:
        log_rate = np.log(rate)
        grad_log_rate = np.asarray(spec.grad(log_rate, count))
        with np.errstate(over="ignore"):  # dL/dλ = 1 - y/λ is past the float range for λ near 1e-308 and below
            grad_rate = grad_log_rate / rate
        return np.asarray(spec.loss(log_rate, count)), grad_rate, grad_log_rate
    grad = np.asarray(spec.grad(rate, count))
    return np.asarray(spec.loss(rate, count)), grad, grad * rate


def rate_from_click(click_data, axis):
    """The λ text box value for a click on the count axis, or at x = log λ on the log-rate axis (3 digits)."""
    x = clicked_x(click_data)
    if x is None:
        return no_update
    rate = math.exp(min(x, math.log(COUNT_LIMIT))) if axis == "log_rate" else x
    if not rate > 0:
        return no_update
    return controls.format_number(min(float(f"{rate:.3g}"), COUNT_LIMIT))


def hidden_losses_note(selected, axis: str) -> str:
    hidden = [registry.get(key).label for key in selected if not lives_on(key, axis)]
    if not hidden:
        return ""
    return (f"{', '.join(hidden)} is hidden on the log-rate axis: it is a function of the predicted count ŷ "
            "itself, not of a log-rate; choose the count axis to compare it with the Poisson NLL.")


def lesson_text(state: ViewState, rows) -> str:
    """What the current point teaches, true for every λ, y, axis and selection of losses."""
    rate, count = state.number("rate"), state.number("count")
    point = f"At λ = {rate:.4g} (log λ = {math.log(rate):.4g}) and y = {count:g}"
    by_key = {row.key: row for row in rows}
    parts = []
    if "poisson_nll" in by_key:
        parts.append(_poisson_part(rate, count, by_key["poisson_nll"].grad_logit))
    if "msle" in by_key:
        parts.append(_msle_part(rate, count, by_key["msle"].loss))
    if not parts:
        return (f"{point}: no ticked loss lives on this axis. Tick the Poisson NLL, or choose the count axis "
                "for MSLE.")
    return f"{point}: " + " ".join(parts)


def _poisson_part(rate: float, count: float, grad_log_rate: float) -> str:
    if rate > count:
        how = "positive: λ overshoots y, and a gradient step lowers the log-rate"
    elif rate < count:
        how = (f"negative: λ undershoots y, and a gradient step raises the log-rate; it is never below "
               f"−y = {-count + 0.0:g}, however small λ is")
    else:
        how = "zero up to rounding: λ = y is the loss's minimum"
    return (f"Poisson NLL's dL/d log λ = e^x − y = λ − y is {grad_log_rate + 0.0:.3g}, prediction minus target "
            f"like BCE's p̂ − y: {how}.")


def _msle_part(rate: float, count: float, loss: float) -> str:
    error = rate - count
    if error == 0:
        return "MSLE: λ = y, so its loss and gradient are 0."
    mirror = count - error  # the same error on the other side of y
    if mirror <= -1:
        return (f"MSLE: this over-prediction by {error:.4g} costs {loss:.3g}; an under-prediction as large would "
                f"be ŷ = {mirror:.4g}, below −1, where log(1 + ŷ) does not exist: MSLE's cost of under-predicting "
                "grows without bound as ŷ → −1.")
    mirror_loss = float(registry.get("msle").loss(mirror, count))
    (under, under_loss), (over, over_loss) = sorted([(rate, loss), (mirror, mirror_loss)])
    size = f"{abs(error):.4g}"
    costs = (f"MSLE: predicting {under:.6g} (under by {size}) costs {under_loss:.3g}, predicting {over:.6g} "
             f"(over by as much) costs {over_loss:.3g}")
    if not over_loss > 0:
        return f"{costs}: both squares underflow, the error is too small to tell them apart."
    ratio = under_loss / over_loss
    if ratio > 1.001:
        return (f"{costs}: under-prediction costs {ratio:.3g}× as much, because log(1 + ·) stretches the "
                "small values.")
    return (f"{costs}: nearly the same, since for an error this small next to 1 + y MSLE is close to the squared "
            "relative error, which is symmetric; the asymmetry grows with the error.")


VIEW = CountsView()
