"""/robust: fit a line through outliers with each loss, and see each point's pull on it.

A seeded data set (:func:`losslab.fitting.make_line_data`: n points on y = x
with Gaussian noise, k of them lifted by the outlier distance) is fitted by
every selected loss with :func:`losslab.fitting.fit_line`, and by the same loss
on the outlier-free data (the same points before the lift), to say how far the
outliers moved the line. Charts: the data with each loss's line (linked by x
and by hover to each point's influence |dℓ/dŷᵢ| below it), the residuals, and
one loss's curve ℓ(r) with the fit's residuals marked on it.

Motion: the answer to a change of δ, τ, c or α also carries the fits of the
losses that parameter shapes at every stop of its slider
(:func:`losslab.fitting.sweep_fit`: exact core fits, each from the same start as
a single fit; computed once per data set and other parameters, then cached).
``assets/robust.js`` swaps those lines, residuals and influence bars in as the
slider moves, with no round trip; the released value is then drawn by the
normal callback.

The losses offered are every loss with the identity link: the regression task's
(MSE, MAE, Huber, log-cosh, quantile) and the robust family's (``loss_keys``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import ClassVar

import numpy as np
from dash import Patch, html, no_update

from losslab import fitting, registry
from losslab._validation import Interval
from losslab.dashboard import controls, export, figures, ids, layout, tables
from losslab.dashboard.url_state import ViewState
from losslab.dashboard.views.base import (
    ExtraOutput,
    UpdatePlan,
    View,
    ViewOutput,
    changed_numbers,
    formulas_markdown,
    lesson_paragraph,
)

NAME = "robust"


# Colours: the default four first (blue, orange, green, pink), yellow and black for the rarely used.
COLOUR_ORDER = ("mse", "mae", "huber", "barron", "cauchy", "tukey", "geman_mcclure", "log_cosh",
                "pseudo_huber", "quantile")
# The losses fitted here: the regression and robust families' location losses, in registry order
# (Gaussian NLL is MSE over a fixed σ², smooth L1 is Huber over β: they add no fit of their own).
LOSS_KEYS = tuple(spec.key for task in ("regression", "robust") for spec in registry.for_task(task)
                  if spec.key in COLOUR_ORDER)
assert set(COLOUR_ORDER) == set(LOSS_KEYS)

DATA_CONTROLS = ("n", "noise", "k", "distance", "seed")
PARAMETERS = ("delta", "tau", "c", "alpha")
MAX_POINTS = 200  # a fit's start and MAE's exact search are O(n^2); a sweep is up to 53 fits
TRUE_SLOPE, TRUE_INTERCEPT = 1.0, 0.0
CURVE_POINTS = 201  # odd: r = 0 is on the grid
# Fits take 3 to 12 steps; a redescending loss with a tiny scale can creep for hundreds (reported as
# not converged), so the view caps them, the same for a single fit and a sweep's: a frame is the fit.
MAX_ITERATIONS = 100
OUTLIER_SYMBOL, INLIER_SYMBOL = "diamond-open", "circle"
DATA_COLOR = "#6B6B6B"


def _parameter_control(parameter: registry.Parameter, slider_min: float, slider_max: float, step: float,
                       help_text: str) -> controls.NumberControl:
    """A loss parameter with a slider whose stops are the frames the browser plays (a whole number of steps)."""
    return controls.NumberControl(parameter.name, parameter.label, parameter.default, parameter.valid,
                                  slider_min, slider_max, step, log_scale=parameter.log_scale, help=help_text)


NUMBERS = (
    controls.NumberControl("n", "Points n", 50, Interval(3, MAX_POINTS), 10, MAX_POINTS, 1, integer=True,
                           help=f"3 to {MAX_POINTS} points, x uniform in [0, 10], on the line y = x"),
    controls.NumberControl("noise", "Noise σ", 0.5, Interval(0.0, 100.0), 0.0, 3.0, 0.05,
                           help="standard deviation of the Gaussian noise on y"),
    controls.NumberControl("k", "Outliers k", 5, Interval(0, MAX_POINTS - 2), 0, 24, 1, integer=True,
                           help="points lifted off the line; at most n − 2"),
    controls.NumberControl("distance", "Outlier distance", 10.0, Interval(-1000.0, 1000.0), -20.0, 20.0, 0.5,
                           help="how far the outliers are lifted (negative: pushed down)"),
    controls.NumberControl("seed", "Seed", 0, Interval(0, 2**31 - 1), 0, 1, 1, integer=True, has_slider=False,
                           help="a whole number: the same seed, the same points"),
    _parameter_control(registry.DELTA, -1.3, 1.0, 0.05, "Huber and pseudo-Huber"),
    _parameter_control(registry.TAU, 0.05, 0.95, 0.05, "quantile: the share of points below the line"),
    _parameter_control(registry.SCALE_C, -1.3, 1.3, 0.1, "Cauchy, Geman–McClure, Tukey and Barron"),
    _parameter_control(registry.ALPHA, -10.0, 2.0, 0.25,
                       "Barron: 2 L2 · 1 pseudo-Huber · 0 Cauchy · −2 Geman–McClure · −10 near Welsch"),
)
CONTROLS = {control.name: control for control in NUMBERS}

CURVE = controls.ChoiceControl(
    "curve", "Loss curve of", tuple((key, registry.get(key).label) for key in LOSS_KEYS), "barron",
)


class RobustIds(ids.View):
    """This view's own component ids (the shared ones come from :class:`losslab.dashboard.ids.View`)."""

    def __init__(self):
        super().__init__(NAME)
        self.LESSON = f"{NAME}-lesson"
        self.RESIDUAL_GRAPH = f"{NAME}-residual-graph"
        self.CURVE_GRAPH = f"{NAME}-curve-graph"
        self.FIT_STATE = f"{NAME}-fit-state"  # what the charts show, read by assets/robust.js
        self.SWEEP = f"{NAME}-sweep"  # the fits at every stop of one slider, read by assets/robust.js


IDS = RobustIds()


@dataclass(frozen=True)
class RobustPlan(UpdatePlan):
    """An :class:`UpdatePlan` plus the parameters whose sweep this response sends (those that changed),
    and whether the loss-curve chart changes (its loss, or one of that loss's parameters)."""

    sweep: tuple[str, ...] = ()
    curve: bool = True


@dataclass(frozen=True)
class FitRow:
    """One loss's fit, as the readout shows it."""

    key: str
    label: str
    slope: float
    intercept: float
    mean_loss: float
    inlier_rmse: float
    moved: float
    iterations: int
    grad_norm: float
    converged: bool
    method: str


@dataclass(frozen=True)
class FitReadout:
    n: int
    k: int
    distance: float
    rows: tuple[FitRow, ...]


class RobustView(View):
    name = NAME
    path = "/robust"
    title = "Robust regression"
    nav_title = "Robust fit"
    introduction = (
        "Fit a line y = a·x + b through points with outliers by minimising the mean of each loss. "
        "Each point pulls on the line with its gradient dℓ/dŷᵢ: the bars show how hard. MSE's pull grows "
        "with the residual, so a few far points drag its line; Huber's and MAE's pull is capped; Cauchy, "
        "Geman–McClure and Tukey let far points go. Barron's α slides through them all "
        "(2: L2, 1: pseudo-Huber, 0: Cauchy, −2: Geman–McClure); its slider replays exact fits in your browser."
    )
    task = "robust"
    loss_keys = LOSS_KEYS
    numbers = NUMBERS
    extras = (CURVE,)
    extras_position = len(NUMBERS)
    default_losses = ("mse", "mae", "huber", "barron")
    extra_outputs: ClassVar = {
        "lesson": ExtraOutput(IDS.LESSON),
        "residual_figure": ExtraOutput(IDS.RESIDUAL_GRAPH, "figure"),
        "curve_figure": ExtraOutput(IDS.CURVE_GRAPH, "figure"),
        "fit_state": ExtraOutput(IDS.FIT_STATE),
        "sweep": ExtraOutput(IDS.SWEEP),
    }
    charts_class = "linked-charts stacked"  # the influence bars right below their points
    chooser_rows = (
        ("Line fit through outliers", "Linear", "Huber, Cauchy, Tukey (Barron's α)", "?losses=mse,huber,cauchy,tukey&k=10"),
    )

    @property
    def ids(self) -> RobustIds:
        return IDS

    # ---- state ---------------------------------------------------------------
    def cross_check(self, numbers: dict, extras: dict, raw_numbers: dict) -> dict[str, str]:
        n, k = numbers.get("n"), numbers.get("k")
        if n is None or k is None or k <= n - 2:
            return {}
        return {"k": f"Outliers k: {k} is more than n − 2 = {n - 2} (two points at least stay on the line); "
                     f"expected a whole number from 0 to {n - 2}"}

    def reconcile_link(self, state: ViewState) -> ViewState:
        n, k = state.number("n"), state.number("k")
        if k <= n - 2:
            return state
        note = f"Outliers k: {k} is more than n − 2 = {n - 2} (from the link); using {n - 2}."
        return replace(state, numbers={**state.numbers, "k": n - 2}, notices=(*state.notices, note))

    # ---- what is shown -------------------------------------------------------
    def build(self, state: ViewState) -> ViewOutput:
        data = dataset(state)
        keys = state.losses
        fits = {key: loss_fit(state, key) for key in keys}
        clean = {key: loss_fit(state, key, clean=True) for key in keys}
        rows = tuple(fit_row(data, fits[key], clean[key]) for key in keys)
        focus = state.curve
        focus_fit = fits[focus] if focus in fits else loss_fit(state, focus)
        return ViewOutput(
            data_figure(data, fits),
            influence_figure(data, fits, state),
            FitReadout(data.x.size, int(data.is_outlier.sum()), state.number("distance"), rows),
            objective_markdown() + "\n\n---\n\n" + formulas_markdown(keys, link_space=False),
            self.encode_query(state),
            extras={
                "lesson": lesson_text(rows, data),
                "residual_figure": residual_figure(data, fits),
                "curve_figure": curve_figure(data, focus_fit, focus_params(state)),
                "fit_state": fit_state_text(state, self.encode_query(state)),
                "state": state,
            },
        )

    def plan(self, previous: ViewState | None, state: ViewState) -> RobustPlan:
        """Data or losses changed: everything anew. A parameter changed: only its losses' lines, bars and
        residuals (patches of y), the curve chart if it shows one of those losses, and that parameter's
        sweep for the browser. The curve choice: only the curve chart."""
        if previous is None or previous.view != state.view:
            return RobustPlan(full=True)
        changed = changed_numbers(previous, state)
        if changed & set(DATA_CONTROLS) or previous.losses != state.losses:
            return RobustPlan(full=True)
        moved = [name for name in PARAMETERS if name in changed]
        return RobustPlan(
            full=False,
            redraw=frozenset(key for key in state.losses if any(name in loss_params(state, key) for name in moved)),
            sweep=tuple(name for name in moved if swept_losses(state, name)),
            curve=previous.curve != state.curve or any(name in focus_params(state) for name in moved),
        )

    def output_values(self, output: ViewOutput, plan: UpdatePlan) -> dict:
        robust_plan = plan if isinstance(plan, RobustPlan) else RobustPlan(full=True)
        values = {key: output.extras[key] for key in ("lesson", "fit_state")}
        if robust_plan.full:
            values["residual_figure"] = output.residual_figure
        elif robust_plan.redraw:
            values["residual_figure"] = patched_y(output.residual_figure, robust_plan.redraw)
        else:
            values["residual_figure"] = no_update
        values["curve_figure"] = output.curve_figure if robust_plan.full or robust_plan.curve else no_update
        swept = robust_plan.sweep
        values["sweep"] = sweep_text(output.state, swept[0]) if swept else no_update
        return values

    def readout_component(self, output: ViewOutput) -> dict:
        return readout_table(output.readout)

    def export_csv(self, state: ViewState) -> str:
        """One row per point: x, y, whether it was lifted, the true line, and per loss its line ŷ,
        its influence |dℓ/dŷ| and the residual ŷ − y, as drawn (every chart's curves share the points' x)."""
        output = self.build(state)
        data = dataset(state)
        columns = {"data: y": (data.x, data.y),
                   "data: outlier (1 = lifted)": (data.x, data.is_outlier.astype(np.float64))}
        columns |= export.curve_columns({IDS.LOSS_GRAPH: output.loss_figure, IDS.GRAD_GRAPH: output.grad_figure})
        title = output.residual_figure["layout"]["title"]["text"]
        for drawn in output.residual_figure["data"]:
            columns[f"{title}: {drawn['name']}"] = (data.x, figures.decoded(drawn["y"]))
        return export.curves_csv(self.title, self.encode_query(state), "x", columns)

    # ---- page ----------------------------------------------------------------
    def panels_above_charts(self, state: ViewState, output: ViewOutput) -> list:
        return [lesson_paragraph(IDS.LESSON, output.lesson)]

    def panels_below_charts(self, state: ViewState, output: ViewOutput) -> list:
        # No sweep yet: a slider's first change brings its own (a page load stays one build).
        return [
            html.Div(
                [layout.graph(IDS.RESIDUAL_GRAPH, output.residual_figure, "residual of each point under each fit"),
                 layout.graph(IDS.CURVE_GRAPH, output.curve_figure, "one loss against the residual, with the "
                                                                   "residuals of its fit")],
                className="robust-charts",
            ),
            html.Div(output.fit_state, id=IDS.FIT_STATE, hidden=True),
            html.Div("", id=IDS.SWEEP, hidden=True),
        ]


# ---------------------------------------------------------------- the core, cached


def data_key(state: ViewState) -> tuple:
    return tuple(state.number(name) for name in DATA_CONTROLS)


def loss_params(state: ViewState, key: str) -> dict[str, float]:
    """The view's values of a loss's parameters (``{}`` for MSE, ``{"alpha": .., "c": ..}`` for Barron)."""
    return {name: state.number(name) for name in registry.get(key).defaults()}


def focus_params(state: ViewState) -> dict[str, float]:
    return loss_params(state, state.curve)


def swept_losses(state: ViewState, parameter: str) -> tuple[str, ...]:
    """The selected losses a parameter shapes: the lines its slider moves."""
    return tuple(key for key in state.losses if parameter in registry.get(key).defaults())


@lru_cache(maxsize=16)
def _dataset(n: int, noise: float, k: int, distance: float, seed: int) -> fitting.LineData:
    return fitting.make_line_data(n, outliers=k, noise=noise, outlier_distance=distance,
                                  slope=TRUE_SLOPE, intercept=TRUE_INTERCEPT, seed=seed)


def dataset(state: ViewState) -> fitting.LineData:
    return _dataset(*data_key(state))


@lru_cache(maxsize=256)
def _fit(data: tuple, key: str, params: tuple, clean: bool) -> fitting.LineFit:
    points = _dataset(*data)
    return fitting.fit_line(points.x, points.clean_y if clean else points.y, key, dict(params),
                            max_iter=MAX_ITERATIONS)


def loss_fit(state: ViewState, key: str, *, clean: bool = False) -> fitting.LineFit:
    """``key``'s fit to the data (``clean``: to the same points without the outliers' lift)."""
    return _fit(data_key(state), key, tuple(sorted(loss_params(state, key).items())), clean)


def slider_stops(control: controls.NumberControl) -> tuple[list[float], list[float]]:
    """Every slider position and the value it puts in the text box (4 significant digits, as
    assets/losslab.js writes it), so a frame is the fit the server makes once the slider is released."""
    count = math.floor((control.slider_max - control.slider_min) / control.step + 1e-9) + 1
    positions = [round(control.slider_min + i * control.step, 10) for i in range(count)]
    values = [float(f"{(10.0 ** p if control.log_scale else p):.4g}") for p in positions]
    return positions, values


@lru_cache(maxsize=16)
def _sweep(data: tuple, key: str, parameter: str, params: tuple) -> fitting.FitSweep:
    points = _dataset(*data)
    _, values = slider_stops(CONTROLS[parameter])
    return fitting.sweep_fit(points.x, points.y, key, parameter, values, dict(params), max_iter=MAX_ITERATIONS)


def loss_sweep(state: ViewState, key: str, parameter: str) -> fitting.FitSweep:
    others = tuple(sorted((name, value) for name, value in loss_params(state, key).items() if name != parameter))
    return _sweep(data_key(state), key, parameter, others)


def sweep_token(state: ViewState, parameter: str) -> str:
    """Everything a parameter's sweep depends on but the parameter: the browser plays a sweep only
    while the charts show a state with the same token."""
    keys = swept_losses(state, parameter)
    if not keys:
        return ""
    data = "&".join(f"{name}={controls.format_number(state.number(name))}" for name in DATA_CONTROLS)
    losses = ";".join(
        key + "".join(f":{name}={controls.format_number(value)}"
                      for name, value in sorted(loss_params(state, key).items()) if name != parameter)
        for key in keys
    )
    return f"{data}|{losses}"


def fit_state_text(state: ViewState, query: str) -> str:
    """What the charts show, for assets/robust.js: the parameters' values and each one's sweep token."""
    return json.dumps({
        "query": query,
        "values": {name: state.number(name) for name in PARAMETERS},
        "tokens": {name: sweep_token(state, name) for name in PARAMETERS},
    })


def sweep_text(state: ViewState, parameter: str) -> str:
    """The fits of the losses ``parameter`` shapes at every stop of its slider, as JSON for assets/robust.js.

    Slopes and intercepts are exact (JSON floats round-trip); the influence bars of frame f are
    row f of a float64 typed array (frames x points).
    """
    positions, values = slider_stops(CONTROLS[parameter])
    data = dataset(state)
    losses = {}
    for key in swept_losses(state, parameter):
        sweep = loss_sweep(state, key, parameter)
        losses[key] = {
            "slope": _finite_list(sweep.slope),
            "intercept": _finite_list(sweep.intercept),
            "influence": figures.typed_array(_plottable(sweep.influence).ravel()),
        }
    return json.dumps({
        "parameter": parameter,
        "token": sweep_token(state, parameter),
        "log": CONTROLS[parameter].log_scale,
        "step": CONTROLS[parameter].step,
        "positions": positions,
        "values": values,
        "x": figures.typed_array(data.x),
        "y": figures.typed_array(data.y),
        "losses": losses,
    })


def _finite_list(values: np.ndarray) -> list:
    return [float(v) if math.isfinite(v) else None for v in values]


def _plottable(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values), values, np.nan)


# ---------------------------------------------------------------- readout and lesson


def fit_row(data: fitting.LineData, fit: fitting.LineFit, clean: fitting.LineFit) -> FitRow:
    inliers = ~data.is_outlier
    return FitRow(
        key=fit.loss, label=registry.get(fit.loss).label, slope=fit.slope, intercept=fit.intercept,
        mean_loss=fit.mean_loss,
        inlier_rmse=fitting.line_rmse(data.x[inliers], data.y[inliers], fit.slope, fit.intercept),
        moved=fitting.line_gap(data.x, fit.slope, fit.intercept, clean.slope, clean.intercept),
        iterations=fit.iterations, grad_norm=fit.grad_norm, converged=fit.converged, method=fit.method,
    )


def iterations_text(row: FitRow) -> str:
    if row.method == "exact":
        return f"exact ({row.iterations} search steps)"
    return f"{row.iterations}" + ("" if row.converged else " (not converged)")


def readout_table(readout: FitReadout) -> dict:
    header = tables.element("Tr", [tables.element("Th", text) for text in (
        "loss", "slope a", "intercept b", "mean loss", "RMSE on the inliers", "moved by the outliers",
        "iterations", "‖∇F‖")])
    rows = [
        tables.element("Tr", [tables.element("Td", text) for text in (
            row.label, tables.number_text(row.slope), tables.number_text(row.intercept),
            tables.number_text(row.mean_loss), tables.number_text(row.inlier_rmse), tables.number_text(row.moved),
            iterations_text(row), f"{row.grad_norm:.1e}")],
            data_loss=row.key, className="" if row.converged else "not-converged")
        for row in readout.rows
    ]
    caption = tables.element(
        "Caption",
        f"Fits to {readout.n} points, {readout.k} of them lifted by {readout.distance:g} (true line y = x). "
        "Moved: the RMS vertical gap between the fit and the same loss's fit without the lift.",
    )
    return tables.element("Table", [caption, tables.element("Thead", header), tables.element("Tbody", rows)],
                          className="readout-table", id=f"{NAME}-fit-table")


def _significant(value: float) -> str:
    return f"{value:.3g}"


def lesson_text(rows: tuple[FitRow, ...], data: fitting.LineData) -> str:
    """Which selected loss the outliers moved most and which least, in one sentence."""
    k = int(data.is_outlier.sum())
    if k == 0:
        return "No outliers: every line is its own outlier-free fit. Raise k to lift some points."
    share = f"{k} of {data.x.size} points"
    if len(rows) == 1:
        row = rows[0]
        return f"With {share} lifted, {row.label}'s line moved {_significant(row.moved)} from its outlier-free fit."
    ordered = sorted(rows, key=lambda row: row.moved)
    least, most = ordered[0], ordered[-1]
    return (f"With {share} lifted, {most.label}'s line moved {_significant(most.moved)} from its outlier-free "
            f"fit, {least.label}'s only {_significant(least.moved)}.")


def objective_markdown() -> str:
    return (
        "**The fit** minimises the mean loss over the slope a and intercept b (IRLS finished by Newton steps, "
        "run to convergence; MAE and quantile by an exact search over the lines through two points)\n\n"
        "$$\nF(a, b) = \\frac1n \\sum_{i=1}^n \\ell(\\hat y_i - y_i),\\qquad \\hat y_i = a x_i + b\n$$\n\n"
        "and each point's pull on the line is its influence "
        "$\\left|\\partial \\ell / \\partial \\hat y_i\\right|$: at the fit the signed pulls balance, "
        "$\\sum_i \\partial \\ell / \\partial \\hat y_i \\,(x_i, 1) = 0$."
    )


# ---------------------------------------------------------------- figures


def patched_y(figure: dict, keys: frozenset[str]) -> dict:
    """A patch (in wire form) carrying only the y of the traces of ``keys``."""
    patch = Patch()
    for index, drawn in enumerate(figure["data"]):
        if drawn.get("meta") in keys:
            patch["data"][index]["y"] = drawn["y"]
    return patch.to_plotly_json()


def _style(key: str) -> dict:
    return figures.style_for(key, COLOUR_ORDER)


def _x_range(data: fitting.LineData) -> list[float]:
    """The same x range on the data, influence and residual charts, so points and bars line up."""
    low, high = float(data.x[0]), float(data.x[-1])
    pad = 0.03 * (high - low) + (high - low) / data.x.size
    return [low - pad, high + pad]


def _layout(title: str, x_title: str, y_title: str, uirevision: str, x_range=None) -> dict:
    result = figures.curve_layout(title, x_title, y_title, uirevision)
    if x_range is not None:
        result["xaxis"]["range"] = x_range
    result["shapes"] = []
    return result


def _point_markers(data: fitting.LineData) -> dict:
    outlier = data.is_outlier
    return {"symbol": [OUTLIER_SYMBOL if o else INLIER_SYMBOL for o in outlier],
            "size": [11 if o else 7 for o in outlier], "line": {"width": 2, "color": DATA_COLOR},
            "color": DATA_COLOR}


def data_figure(data: fitting.LineData, fits: dict[str, fitting.LineFit]) -> dict:
    """The points (meta ``"data"``; outliers as open diamonds), the true line and each loss's line.

    A line is drawn through the points' x (its y is the fit's prediction there), so hovering a point
    reads every line at it. Lines carry ``x0``/``dx`` too (unused, x is given) so the shared patch of
    a redrawn loss, which sends y, x0 and dx, applies to them.
    """
    points = {
        "type": "scatter", "mode": "markers", "name": "data (◇ outliers)", "meta": "data",
        "x": figures.typed_array(data.x), "y": figures.typed_array(data.y), "marker": _point_markers(data),
        "text": ["outlier" if o else "inlier" for o in data.is_outlier],
        "hovertemplate": "point %{pointNumber}: y = %{y:.4g}<extra>%{text}</extra>",
    }
    true_line = {  # through the points' x as well, so every curve of the view shares one x (one CSV table)
        "type": "scatter", "mode": "lines", "name": "true line y = x", "meta": "true", "hoverinfo": "skip",
        "x": figures.typed_array(data.x), "y": figures.typed_array(TRUE_SLOPE * data.x + TRUE_INTERCEPT),
        "line": {"color": DATA_COLOR, "width": 1.5, "dash": "dot"},
    }
    lines = [
        {"type": "scatter", "mode": "lines", "name": registry.get(key).label, "meta": key,
         "x": figures.typed_array(data.x), "y": figures.typed_array(fit.slope * data.x + fit.intercept),
         "x0": 0, "dx": 1, "line": _style(key), "hovertemplate": "ŷ = %{y:.4g}"}
        for key, fit in fits.items()
    ]
    layout_ = _layout("Data and each loss's fitted line", "x", "y", NAME, _x_range(data))
    return {"data": [points, true_line, *lines], "layout": layout_}


def influence_figure(data: fitting.LineData, fits: dict[str, fitting.LineFit], state: ViewState) -> dict:
    """Each point's pull |dℓ/dŷᵢ| at each loss's fit: a bar per point and loss, under the point."""
    span = float(data.x[-1] - data.x[0])
    group = 0.8 * span / data.x.size  # the bars of one point share this width
    width = group / max(len(fits), 1)
    bars = [
        {"type": "bar", "name": registry.get(key).label, "meta": key, "x": figures.typed_array(data.x),
         "y": figures.typed_array(_plottable(fitting.influence(data.x, data.y, fit.slope, fit.intercept, key,
                                                               loss_params(state, key)))),
         "x0": 0, "dx": 1, "width": width, "offset": -group / 2 + index * width,
         "marker": {"color": _style(key)["color"], "line": {"width": 0}},
         "hovertemplate": "|dℓ/dŷ| = %{y:.4g}"}
        for index, (key, fit) in enumerate(fits.items())
    ]
    layout_ = _layout("Influence: each point's pull |dℓ/dŷᵢ| on the fit", "x", "|dℓ/dŷᵢ|", NAME, _x_range(data))
    layout_["barmode"] = "overlay"
    layout_["bargap"] = 0
    return {"data": bars, "layout": layout_}


def residual_figure(data: fitting.LineData, fits: dict[str, fitting.LineFit]) -> dict:
    """rᵢ = ŷᵢ − yᵢ of every point under each loss's fit (outliers lifted up have r < 0)."""
    traces = [
        {"type": "scatter", "mode": "markers", "name": registry.get(key).label, "meta": key,
         "x": figures.typed_array(data.x), "y": figures.typed_array(fit.slope * data.x + fit.intercept - data.y),
         "marker": {"color": _style(key)["color"], "size": 7,
                    "symbol": [OUTLIER_SYMBOL if o else INLIER_SYMBOL for o in data.is_outlier]},
         "hovertemplate": "r = %{y:.4g}"}
        for key, fit in fits.items()
    ]
    layout_ = _layout("Residuals rᵢ = ŷᵢ − yᵢ", "x", "residual r", NAME, _x_range(data))
    layout_["showlegend"] = False  # the colours are the data chart's legend; hover names each loss
    layout_["margin"]["b"] = 56
    layout_["shapes"] = [{"type": "line", "xref": "x domain", "yref": "y", "x0": 0, "x1": 1, "y0": 0, "y1": 0,
                          "line": {"color": DATA_COLOR, "width": 1}}]
    return {"data": traces, "layout": layout_}


def curve_figure(data: fitting.LineData, fit: fitting.LineFit, params: dict[str, float]) -> dict:
    """One loss ℓ(r) against the residual r = ŷ − y, with the fit's residuals marked on it (meta ``"residuals"``)."""
    spec = registry.get(fit.loss)
    prediction = fit.slope * data.x + fit.intercept
    residual = prediction - data.y
    reach = max(1.1 * float(np.max(np.abs(residual))), 1.0)
    grid = np.linspace(-reach, reach, CURVE_POINTS)
    style = _style(fit.loss)
    curve = {
        "type": "scatter", "mode": "lines", "name": spec.label, "meta": fit.loss,
        "x0": float(grid[0]), "dx": float(grid[1] - grid[0]),
        "y": figures.typed_array(_plottable(spec.loss(grid, np.zeros_like(grid), **params))),
        "line": style, "hovertemplate": "ℓ(%{x:.3g}) = %{y:.4g}<extra></extra>",
    }
    marks = {
        "type": "scatter", "mode": "markers", "name": "the points' residuals", "meta": "residuals",
        "x": figures.typed_array(residual),
        "y": figures.typed_array(_plottable(spec.loss(prediction, data.y, **params))),
        "marker": {"color": DATA_COLOR, "size": [11 if o else 7 for o in data.is_outlier],
                   "symbol": [OUTLIER_SYMBOL if o else INLIER_SYMBOL for o in data.is_outlier],
                   "line": {"width": 1.5, "color": DATA_COLOR}},
        "text": [f"point {i}" for i in range(data.x.size)],
        "hovertemplate": "%{text}: r = %{x:.4g}, ℓ = %{y:.4g}<extra></extra>",
    }
    layout_ = _layout(f"{spec.label}: loss against the residual", "residual r = ŷ − y",
                      "loss ℓ(r)", f"{NAME}-curve")
    layout_["hovermode"] = "closest"
    return {"data": [curve, marks], "layout": layout_}


VIEW = RobustView()
