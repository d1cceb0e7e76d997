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

Moving points: a point dragged on the data chart (assets/robust.js: it follows the pointer in the
browser) or typed as index, x, y goes into the "Moved points" control (``moved=3:4.5:7.2;10:2:-1``
in the URL) on release; the server then refits every loss to the moved data with the core. Moved
points are not inliers for the readout's RMSE; the outlier-free fit stays the fit to the seeded
points without the lift. ``code_snippet`` recomputes the CSV's columns with the public API, and the
gradient check overlays the finite difference of the curve chart's loss on its dℓ/dr chart.

The losses offered are every loss with the identity link: the regression task's
(MSE, MAE, Huber, log-cosh, quantile) and the robust family's (``loss_keys``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import ClassVar

import numpy as np
from dash import Patch, dcc, html, no_update

from losslab import fitting, registry
from losslab._validation import Interval
from losslab.dashboard import controls, export, figures, ids, layout, tables
from losslab.dashboard import ids as component_ids
from losslab.dashboard.url_state import ViewState
from losslab.dashboard.views.base import (
    ExtraOutput,
    UpdatePlan,
    View,
    ViewOutput,
    changed_numbers,
    formulas_markdown,
    gradient_check_code,
    gradient_check_note,
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
CURVE_POINTS = 201  # odd: r = 0 is on the grid (see curve_figure)
# Fits take 3 to 12 steps, at most a few dozen for a redescending loss with a tiny scale (they stop at
# the gradient's rounding level); the cap is the same for a single fit and a sweep's: a frame is the fit.
MAX_ITERATIONS = 100
OUTLIER_SYMBOL, INLIER_SYMBOL, MOVED_SYMBOL = "diamond-open", "circle", "square"
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

MAX_MOVED = 20  # the link stays well under the 2000 characters a query may have
MOVED_LIMIT = 1e6  # |x|, |y| of a moved point
MOVED_EXPECTED = (f"up to {MAX_MOVED} points as index:x:y separated by “;” (e.g. 3:4.5:7.2; 10:2:-1), "
                  f"a whole index and |x|, |y| up to 1e6; empty: no point moved")


@dataclass(frozen=True)
class MovedControl:
    """The points dragged (or typed) away from where the seed put them: ``index:x:y;...``.

    The value is a flat tuple ``(index, x, y, index, x, y, ...)`` of floats, sorted by index, so it also
    reads as a list of numbers. Parsing accepts the link's form ``3:4.5:7.2;10:2:-1`` and the same
    numbers separated by commas or spaces, three per point.
    """

    name: str = "moved"
    label: str = "Moved points"
    default: tuple[float, ...] = ()
    help: str = ("drag a point on the data chart, or type index:x:y per point, e.g. 3:4.5:7.2; 10:2:-1 "
                 "(or the numbers alone, three per point; hover a point to see its index); empty: none moved")
    has_message: bool = True

    def parse(self, raw) -> tuple[tuple[float, ...] | None, str | None]:
        return parse_moved(raw)

    def format(self, value) -> str:
        return format_moved(value)

    def display(self, value) -> str:
        return format_moved(value)

    def input_id(self, view: str) -> str:
        return component_ids.number_input(view, self.name)


def parse_moved(raw) -> tuple[tuple[float, ...] | None, str | None]:
    """``(flat tuple, None)`` or ``(None, message)`` for the moved-points text (see :class:`MovedControl`)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return (), None
    if isinstance(raw, list | tuple):
        raw = ",".join(str(v) for v in raw)
    if not isinstance(raw, str) or len(raw) > 40 * MAX_MOVED:
        return None, f"Moved points: the text is too long; expected {MOVED_EXPECTED}"
    text = raw.strip().strip(";").replace("−", "-")
    groups = [g for g in re.split(r"\s*;\s*", text)] if ";" in text or ":" in text else None
    if groups is None:  # numbers only: three per point
        numbers = [t for t in re.split(r"[,\s]+", text) if t]
        if len(numbers) % 3:
            return None, (f"Moved points: {len(numbers)} numbers is not a whole number of points (three each: "
                          f"index, x, y); expected {MOVED_EXPECTED}")
        groups = [":".join(numbers[i:i + 3]) for i in range(0, len(numbers), 3)]
    if len(groups) > MAX_MOVED:
        return None, f"Moved points: {len(groups)} points; expected {MOVED_EXPECTED}"
    moved: dict[int, tuple[float, float]] = {}
    for group in groups:
        if group.strip().startswith(":"):  # Move pressed with the point's box empty
            return None, f"Moved points: no point index in “{group.strip()}”; type the point's index (0 to n − 1) first"
        parts = [p for p in re.split(r"\s*[:,\s]\s*", group.strip()) if p]
        if len(parts) != 3:
            return None, f"Moved points: “{group}” is not index:x:y; expected {MOVED_EXPECTED}"
        index, problem = controls.parse_number(parts[0])
        if problem or index != int(index) or index < 0:
            return None, f"Moved points: the index “{parts[0]}” in “{group}” is not a whole number ≥ 0"
        if index > MAX_POINTS - 1:  # past n's own range (past the current n: kept, and noted as not applied)
            return None, (f"Moved points: the index “{parts[0]}” in “{group}” is past the last point "
                          f"({MAX_POINTS - 1}: n is at most {MAX_POINTS})")
        if int(index) in moved:
            return None, f"Moved points: point {int(index)} appears twice; give each point once"
        coordinates = []
        for axis, part in zip("xy", parts[1:], strict=True):
            value, problem = controls.parse_number(part)
            if problem:
                return None, f"Moved points: {axis} of point {int(index)}: {problem}"
            if abs(value) > MOVED_LIMIT:
                return None, f"Moved points: {axis} = {part} of point {int(index)} is beyond ±1e6"
            coordinates.append(value)
        moved[int(index)] = (coordinates[0], coordinates[1])
    return tuple(v for i in sorted(moved) for v in (float(i), *moved[i])), None


def format_moved(value) -> str:
    """The link's form: ``3:4.5:7.2;10:2:-1`` (exact numbers, shortest text)."""
    return ";".join(":".join(controls.format_number(v) for v in (int(i), x, y)) for i, x, y in moved_triples(value))


def moved_triples(value) -> list[tuple[int, float, float]]:
    flat = tuple(value or ())
    return [(int(flat[i]), float(flat[i + 1]), float(flat[i + 2])) for i in range(0, len(flat) - 2, 3)]


MOVED = MovedControl()


class RobustIds(ids.View):
    """This view's own component ids (the shared ones come from :class:`losslab.dashboard.ids.View`)."""

    def __init__(self):
        super().__init__(NAME)
        self.LESSON = f"{NAME}-lesson"
        self.RESIDUAL_GRAPH = f"{NAME}-residual-graph"
        self.CURVE_GRAPH = f"{NAME}-curve-graph"
        self.CURVE_GRAD_GRAPH = f"{NAME}-curve-grad-graph"  # dℓ/dr of the curve's loss (and the gradient check)
        self.MOVE_POINT = f"{NAME}-move-point"  # the keyboard way to move a point: its index, x and y
        self.MOVE_X = f"{NAME}-move-x"
        self.MOVE_Y = f"{NAME}-move-y"
        self.MOVE_BUTTON = f"{NAME}-move-button"
        self.RESET_POINTS = f"{NAME}-reset-points"
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
    moved: int = 0
    ignored: tuple[int, ...] = ()  # moved-point indices past n
    check_note: str = ""


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
    extras = (CURVE, MOVED, controls.GRADIENT_CHECK)
    extras_position = len(NUMBERS)
    default_losses = ("mse", "mae", "huber", "barron")
    extra_outputs: ClassVar = {
        "lesson": ExtraOutput(IDS.LESSON),
        "residual_figure": ExtraOutput(IDS.RESIDUAL_GRAPH, "figure"),
        "curve_figure": ExtraOutput(IDS.CURVE_GRAPH, "figure"),
        "curve_grad_figure": ExtraOutput(IDS.CURVE_GRAD_GRAPH, "figure"),
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
        if n is None or k is None:
            return {}
        if k > n - 2:
            return {"k": f"Outliers k: {k} is more than n − 2 = {n - 2} (two points at least stay on the line); "
                         f"expected a whole number from 0 to {n - 2}"}
        problem = moved_problem(numbers, extras.get(MOVED.name))
        return {MOVED.name: problem} if problem else {}

    def reconcile_link(self, state: ViewState) -> ViewState:
        n, k = state.number("n"), state.number("k")
        if k > n - 2:
            note = f"Outliers k: {k} is more than n − 2 = {n - 2} (from the link); using {n - 2}."
            state = replace(state, numbers={**state.numbers, "k": n - 2}, notices=(*state.notices, note))
        problem = moved_problem(state.numbers, state.extras.get(MOVED.name))
        if problem:
            state = replace(state, extras={**state.extras, MOVED.name: ()},
                            notices=(*state.notices, f"{problem} (from the link); no point moved."))
        return state

    def encode_query(self, state: ViewState) -> str:
        """The shared encoding, with the moved points readable (``moved=3:4.5:7.2;10:2:-1``; no other value
        holds a colon or semicolon) and left out when no point is moved."""
        query = super().encode_query(state).replace("%3A", ":").replace("%3B", ";")
        return re.sub(r"&moved=(?=&|$)", "", query)

    # ---- what is shown -------------------------------------------------------
    def build(self, state: ViewState) -> ViewOutput:
        data = dataset(state)
        moved = moved_mask(state)
        keys = state.losses
        fits = {key: loss_fit(state, key) for key in keys}
        clean = {key: loss_fit(state, key, clean=True) for key in keys}
        seeded_x = seeded_data(state).x
        rows = tuple(fit_row(data, fits[key], clean[key], moved, seeded_x) for key in keys)
        focus = state.curve
        focus_fit = fits[focus] if focus in fits else loss_fit(state, focus)
        curve = curve_figure(data, focus_fit, focus_params(state), moved)
        slope_figure = curve_grad_figure(curve, focus_params(state))
        checks = {}
        if state.extras.get(controls.GRADIENT_CHECK.name) == "on":
            slope_figure, checks = figures.with_gradient_check(curve, slope_figure)
            slope_figure["layout"]["meta"] = {"gradient_check": checks}
        check_note = gradient_check_note(slope_figure, state.extras.get(controls.GRADIENT_CHECK.name, "off"))
        ignored = sorted(i for i, _, _ in moved_triples(state.extras.get(MOVED.name)) if i >= data.x.size)
        return ViewOutput(
            data_figure(data, fits, moved),
            influence_figure(data, fits, state),
            FitReadout(data.x.size, int(data.is_outlier.sum()), state.number("distance"), rows,
                       int(moved.sum()), tuple(ignored), check_note),
            objective_markdown() + "\n\n---\n\n" + formulas_markdown(keys, link_space=False),
            self.encode_query(state),
            extras={
                "lesson": lesson_text(rows, data),
                "residual_figure": residual_figure(data, fits, moved),
                "curve_figure": curve,
                "curve_grad_figure": slope_figure,
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
        if (changed & set(DATA_CONTROLS) or previous.losses != state.losses
                or previous.extras.get(MOVED.name) != state.extras.get(MOVED.name)):
            return RobustPlan(full=True)
        check = controls.GRADIENT_CHECK.name
        if previous.extras.get(check) != state.extras.get(check):
            return RobustPlan(full=False, curve=True)  # only the loss-curve charts and the readout's note
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
        values["curve_grad_figure"] = output.curve_grad_figure if robust_plan.full or robust_plan.curve else no_update
        swept = robust_plan.sweep
        values["sweep"] = sweep_text(output.state, swept[0]) if swept else no_update
        return values

    def readout_component(self, output: ViewOutput) -> dict:
        return readout_table(output.readout)

    def export_csv(self, state: ViewState) -> str:
        """Per point: x, y, whether it was lifted, the true line, and per loss its line ŷ, its influence
        |dℓ/dŷ| and the residual ŷ − y, as drawn; then the curve charts' loss ℓ(r) and dℓ/dr (and the
        gradient check's finite difference) on their residual grid. Those are on another x than the
        points, so the CSV is in its long form (one row per curve, x, y)."""
        output = self.build(state)
        data = dataset(state)
        columns = {"data: y": (data.x, data.y),
                   "data: outlier (1 = lifted)": (data.x, data.is_outlier.astype(np.float64))}
        columns |= export.curve_columns({IDS.LOSS_GRAPH: output.loss_figure, IDS.GRAD_GRAPH: output.grad_figure})
        title = output.residual_figure["layout"]["title"]["text"]
        for drawn in output.residual_figure["data"]:
            columns[f"{title}: {drawn['name']}"] = (data.x, figures.decoded(drawn["y"]))
        curve_charts = {IDS.CURVE_GRAPH: output.curve_figure, IDS.CURVE_GRAD_GRAPH: output.curve_grad_figure}
        columns |= export.curve_columns(curve_charts)  # the points' residual markers left out (see Residuals)
        return export.curves_csv(self.title, self.encode_query(state), "x", columns, export.x_titles(curve_charts))

    def code(self, state: ViewState, output: ViewOutput | None = None) -> str:
        """The snippet, then the table printed as the CSV has it (long: the curve charts' x is the residual)."""
        return self.code_snippet(state, output) + export.PRINT_CURVES

    def code_snippet(self, state: ViewState, output: ViewOutput | None = None) -> str:
        """The seeded points, the moves, each loss's fit by ``fitting.fit_line``, its influence and residuals:
        the CSV's columns, recomputed with the public API."""
        output = output or self.build(state)
        titles = [figure["layout"]["title"]["text"] for figure in
                  (output.loss_figure, output.grad_figure, output.residual_figure, output.curve_figure,
                   output.curve_grad_figure)]
        drawn = output.curve_figure["data"][0]  # the residual grid the curve charts are drawn on
        n, noise, k, distance, seed = (state.number(name) for name in DATA_CONTROLS)
        moves = [t for t in moved_triples(state.extras.get(MOVED.name)) if t[0] < n]
        params = {name: state.number(name) for name in PARAMETERS}
        return "\n".join([
            "import numpy as np",
            "from losslab import fitting, registry",
            "",
            f"# {self.title}: the seeded points, each loss's fitted line, each point's pull |dℓ/dŷ| and residual",
            f"data = fitting.make_line_data({int(n)}, outliers={int(k)}, noise={noise!r}, "
            f"outlier_distance={distance!r}, slope={TRUE_SLOPE!r}, intercept={TRUE_INTERCEPT!r}, seed={int(seed)})",
            "x, y = data.x.copy(), data.y.copy()",
            f"for index, new_x, new_y in {moves!r}:  # the points you moved (index, x, y)",
            "    x[index], y[index] = new_x, new_y",
            f"params = {params!r}",
            "columns = {'data: y': y, 'data: outlier (1 = lifted)': data.is_outlier.astype(np.float64),",
            f"           {titles[0] + ': true line y = x'!r}: {TRUE_SLOPE!r} * x + {TRUE_INTERCEPT!r}}}",
            f"for key in {list(state.losses)!r}:",
            "    spec = registry.get(key)",
            "    kwargs = {name: params[name] for name in spec.defaults()}",
            f"    fit = fitting.fit_line(x, y, key, kwargs, max_iter={MAX_ITERATIONS})",
            "    line = fit.slope * x + fit.intercept",
            f"    columns[{titles[0]!r} + ': ' + spec.label] = line",
            f"    columns[{titles[1]!r} + ': ' + spec.label] = fitting.influence(x, y, fit.slope, fit.intercept, key, kwargs)",
            f"    columns[{titles[2]!r} + ': ' + spec.label] = line - y",
            "",
            f"# the curve charts: {registry.get(state.curve).label}'s loss and dℓ/dr against the residual, on the",
            "# grid they are drawn on (from ±1.1 x the largest residual of its fit, at least ±1)",
            f"r = {drawn['x0']!r} + {drawn['dx']!r} * np.arange({CURVE_POINTS}, dtype=np.float64)",
            f"spec = registry.get({state.curve!r})",
            "kwargs = {name: params[name] for name in spec.defaults()}",
            f"columns[{titles[3]!r} + ': ' + spec.label] = spec.loss(r, np.zeros_like(r), **kwargs)",
            f"columns[{titles[4]!r} + ': ' + spec.label] = spec.grad(r, np.zeros_like(r), **kwargs)",
            *gradient_check_code(state.with_extras(scale="linear"), titles[3], titles[4], drawn["dx"]),
            f"curve_x = {{name: r for name in columns if name.startswith(({titles[3] + ': '!r}, "
            f"{titles[4] + ': '!r}))}}",
        ]) + "\n"

    # ---- page ----------------------------------------------------------------
    def panels_above_charts(self, state: ViewState, output: ViewOutput) -> list:
        return [lesson_paragraph(IDS.LESSON, output.lesson)]

    def panels_below_charts(self, state: ViewState, output: ViewOutput) -> list:
        # No sweep yet: a slider's first change brings its own (a page load stays one build).
        return [
            move_panel(state),
            html.Div(
                [layout.graph(IDS.RESIDUAL_GRAPH, output.residual_figure, "residual of each point under each fit"),
                 layout.graph(IDS.CURVE_GRAPH, output.curve_figure, "one loss against the residual, with the "
                                                                   "residuals of its fit"),
                 layout.graph(IDS.CURVE_GRAD_GRAPH, output.curve_grad_figure,
                              "the derivative of that loss against the residual")],
                className="robust-charts",
            ),
            html.Div(output.fit_state, id=IDS.FIT_STATE, hidden=True),
            html.Div("", id=IDS.SWEEP, hidden=True),
        ]


def move_panel(state: ViewState) -> html.Div:
    """The keyboard way to move a point (assets/robust.js): its index, then x and y, then Move; and a reset."""
    n = int(state.number("n"))

    def box(component_id: str, label: str, **props) -> html.Label:
        return html.Label([label, dcc.Input(id=component_id, autoComplete="off", **props)], className="move-box")

    return html.Div(
        [html.Span("Move a point", className="control-label"),
         box(IDS.MOVE_POINT, "point", type="text", inputMode="numeric", spellCheck=False),
         box(IDS.MOVE_X, "x", type="text", inputMode="decimal", spellCheck=False),
         box(IDS.MOVE_Y, "y", type="text", inputMode="decimal", spellCheck=False),
         html.Button("Move", id=IDS.MOVE_BUTTON, type="button", className="export-button"),
         html.Button("Reset points", id=IDS.RESET_POINTS, type="button", className="export-button"),
         html.Small(f"Drag a point on the data chart, or type its index (0 to {n - 1}; hover a point to see it), "
                    "its new x and y, and press Move or Enter. The fits are recomputed from the moved points.",
                    className="control-help")],
        className="robust-move", role="group", **{"aria-label": "Move a point"},
    )


# ---------------------------------------------------------------- the core, cached


def data_key(state: ViewState) -> tuple:
    """The seeded data's controls and the moved points (flat tuple): everything the points depend on."""
    return (*(state.number(name) for name in DATA_CONTROLS), tuple(state.extras.get(MOVED.name, ())))


def moved_problem(numbers: dict, moved) -> str:
    """A message when the moved points leave fewer than two distinct x (no line through them), else ""."""
    triples = moved_triples(moved)
    if not triples or any(numbers.get(name) is None for name in DATA_CONTROLS):
        return ""
    seeded = _dataset(*(numbers[name] for name in DATA_CONTROLS), ())
    x = seeded.x.copy()
    for index, new_x, _ in triples:
        if index < x.size:
            x[index] = new_x
    if x.min() == x.max():
        return (f"Moved points: every point would sit at x = {controls.format_number(float(x[0]))}; "
                "a line needs at least two distinct x")
    return ""


def loss_params(state: ViewState, key: str) -> dict[str, float]:
    """The view's values of a loss's parameters (``{}`` for MSE, ``{"alpha": .., "c": ..}`` for Barron)."""
    return {name: state.number(name) for name in registry.get(key).defaults()}


def focus_params(state: ViewState) -> dict[str, float]:
    return loss_params(state, state.curve)


def swept_losses(state: ViewState, parameter: str) -> tuple[str, ...]:
    """The selected losses a parameter shapes: the lines its slider moves."""
    return tuple(key for key in state.losses if parameter in registry.get(key).defaults())


@lru_cache(maxsize=16)
def _dataset(n: int, noise: float, k: int, distance: float, seed: int, moved: tuple = ()) -> fitting.LineData:
    """The seeded points with the moved ones put where the user put them (``clean_y`` stays the seeded,
    unlifted, unmoved data: the outlier-free fit is the fit to it, at the seeded x)."""
    data = fitting.make_line_data(n, outliers=k, noise=noise, outlier_distance=distance,
                                  slope=TRUE_SLOPE, intercept=TRUE_INTERCEPT, seed=seed)
    triples = [(i, x, y) for i, x, y in moved_triples(moved) if i < n]
    if not triples:
        return data
    x, y = data.x.copy(), data.y.copy()
    for index, new_x, new_y in triples:
        x[index], y[index] = new_x, new_y
    return replace(data, x=x, y=y)


def moved_mask(state: ViewState) -> np.ndarray:
    """True for the points the user moved (indices beyond n are ignored)."""
    n = int(state.number("n"))
    mask = np.zeros(n, dtype=bool)
    for index, _, _ in moved_triples(state.extras.get(MOVED.name)):
        if index < n:
            mask[index] = True
    return mask


def seeded_data(state: ViewState) -> fitting.LineData:
    """The points before any move (their x and clean_y make the outlier-free data set)."""
    return _dataset(*data_key(state)[:-1], ())


def dataset(state: ViewState) -> fitting.LineData:
    return _dataset(*data_key(state))


@lru_cache(maxsize=256)
def _fit(data: tuple, key: str, params: tuple, clean: bool) -> fitting.LineFit:
    points = _dataset(*data[:-1], ()) if clean else _dataset(*data)
    return fitting.fit_line(points.x, points.clean_y if clean else points.y, key, dict(params),
                            max_iter=MAX_ITERATIONS)


def loss_fit(state: ViewState, key: str, *, clean: bool = False) -> fitting.LineFit:
    """``key``'s fit to the data (``clean``: to the same points without the outliers' lift)."""
    data = data_key(state)
    return _fit((*data[:-1], ()) if clean else data, key, tuple(sorted(loss_params(state, key).items())), clean)


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
    data += "&moved=" + format_moved(state.extras.get(MOVED.name))
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
        "moved": [list(t) for t in moved_triples(state.extras.get(MOVED.name)) if t[0] < state.number("n")],
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
            "influence": figures.typed_array(figures.plottable(sweep.influence).ravel()),
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


# ---------------------------------------------------------------- readout and lesson


def fit_row(data: fitting.LineData, fit: fitting.LineFit, clean: fitting.LineFit, moved=None,
            seeded_x=None) -> FitRow:
    """One loss's readout. Inliers: the points neither lifted nor moved; the gap to the outlier-free fit
    is measured over the seeded points' x."""
    moved = np.zeros(data.x.size, dtype=bool) if moved is None else moved
    inliers = ~data.is_outlier & ~moved
    seeded_x = data.x if seeded_x is None else seeded_x
    return FitRow(
        key=fit.loss, label=registry.get(fit.loss).label, slope=fit.slope, intercept=fit.intercept,
        mean_loss=fit.mean_loss,
        inlier_rmse=(fitting.line_rmse(data.x[inliers], data.y[inliers], fit.slope, fit.intercept)
                     if inliers.any() else math.nan),
        moved=fitting.line_gap(seeded_x, fit.slope, fit.intercept, clean.slope, clean.intercept),
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
    dragged = ""
    if readout.moved:
        dragged = f" {readout.moved} moved by you (not counted as inliers)."
    if readout.ignored:
        dragged += (f" Moved point(s) {', '.join(map(str, readout.ignored))} not applied: "
                    f"the indices go from 0 to {readout.n - 1}.")
    caption = tables.element(
        "Caption",
        f"Fits to {readout.n} points, {readout.k} of them lifted by {readout.distance:g} (true line y = x).{dragged} "
        "Moved by the outliers: the RMS vertical gap between the fit and the same loss's fit to the seeded "
        "points without the lift (and without your moves).",
    )
    table = tables.element("Table", [caption, tables.element("Thead", header), tables.element("Tbody", rows)],
                           className="readout-table", id=f"{NAME}-fit-table")
    if not readout.check_note:
        return table
    return tables.element("Div", [table, tables.element("P", readout.check_note, className="readout-note",
                                                        id=f"{NAME}-check-note")])


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
    low, high = float(data.x.min()), float(data.x.max())
    pad = 0.03 * (high - low) + (high - low) / data.x.size
    return [low - pad, high + pad]


def _layout(title: str, x_title: str, y_title: str, uirevision: str, x_range=None) -> dict:
    result = figures.curve_layout(title, x_title, y_title, uirevision)
    if x_range is not None:
        result["xaxis"]["range"] = x_range
    result["shapes"] = []
    return result


def _symbols(data: fitting.LineData, moved: np.ndarray | None) -> list[str]:
    moved = np.zeros(data.x.size, dtype=bool) if moved is None else moved
    return [MOVED_SYMBOL if m else OUTLIER_SYMBOL if o else INLIER_SYMBOL
            for o, m in zip(data.is_outlier, moved, strict=True)]


def _point_markers(data: fitting.LineData, moved: np.ndarray | None = None) -> dict:
    symbols = _symbols(data, moved)
    return {"symbol": symbols, "size": [7 if s == INLIER_SYMBOL else 11 for s in symbols],
            "line": {"width": 2, "color": DATA_COLOR}, "color": DATA_COLOR}


def data_figure(data: fitting.LineData, fits: dict[str, fitting.LineFit], moved: np.ndarray | None = None) -> dict:
    """The points (meta ``"data"``; outliers as open diamonds, moved points as squares; a point can be
    dragged, see assets/robust.js), the true line and each loss's line.

    A line is drawn through the points' x (its y is the fit's prediction there), so hovering a point
    reads every line at it. Lines carry ``x0``/``dx`` too (unused, x is given) so the shared patch of
    a redrawn loss, which sends y, x0 and dx, applies to them.
    """
    points = {
        "type": "scatter", "mode": "markers", "meta": "data",
        "name": "data (◇ outliers, ■ moved)" if moved is not None and moved.any() else "data (◇ outliers)",
        "x": figures.typed_array(data.x), "y": figures.typed_array(data.y), "marker": _point_markers(data, moved),
        "text": [{MOVED_SYMBOL: "moved", OUTLIER_SYMBOL: "outlier"}.get(s, "inlier") for s in _symbols(data, moved)],
        "hovertemplate": "point %{pointNumber}: (%{x:.4g}, %{y:.4g})<extra>%{text}</extra>",
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
    span = float(np.ptp(data.x)) or 1.0
    group = 0.8 * span / data.x.size  # the bars of one point share this width
    width = group / max(len(fits), 1)
    pulls = {key: fitting.influence(data.x, data.y, fit.slope, fit.intercept, key, loss_params(state, key))
             for key, fit in fits.items()}
    bars = [
        {"type": "bar", "name": registry.get(key).label, "meta": key, "x": figures.typed_array(data.x),
         "y": figures.typed_array(figures.plottable(pulls[key])), **figures.exact_values(pulls[key]),  # CSV: inf kept
         "x0": 0, "dx": 1, "width": width, "offset": -group / 2 + index * width,
         "marker": {"color": _style(key)["color"], "line": {"width": 0}},
         "hovertemplate": "|dℓ/dŷ| = %{y:.4g}"}
        for index, key in enumerate(fits)
    ]
    layout_ = _layout("Influence: each point's pull |dℓ/dŷᵢ| on the fit", "x", "|dℓ/dŷᵢ|", NAME, _x_range(data))
    layout_["barmode"] = "overlay"
    layout_["bargap"] = 0
    return figures.scalable_y({"data": bars, "layout": layout_}, also=(0.0,))  # pulls of 5e-324 at δ = 5e-324


def residual_figure(data: fitting.LineData, fits: dict[str, fitting.LineFit], moved: np.ndarray | None = None) -> dict:
    """rᵢ = ŷᵢ − yᵢ of every point under each loss's fit (outliers lifted up have r < 0)."""
    traces = [
        {"type": "scatter", "mode": "markers", "name": registry.get(key).label, "meta": key,
         "x": figures.typed_array(data.x), "y": figures.typed_array(fit.slope * data.x + fit.intercept - data.y),
         "marker": {"color": _style(key)["color"], "size": 7,
                    "symbol": _symbols(data, moved)},
         "hovertemplate": "r = %{y:.4g}"}
        for key, fit in fits.items()
    ]
    layout_ = _layout("Residuals rᵢ = ŷᵢ − yᵢ", "x", "residual r", NAME, _x_range(data))
    layout_["showlegend"] = False  # the colours are the data chart's legend; hover names each loss
    layout_["margin"]["b"] = 56
    layout_["shapes"] = [{"type": "line", "xref": "x domain", "yref": "y", "x0": 0, "x1": 1, "y0": 0, "y1": 0,
                          "line": {"color": DATA_COLOR, "width": 1}}]
    return {"data": traces, "layout": layout_}


def curve_figure(data: fitting.LineData, fit: fitting.LineFit, params: dict[str, float],
                 moved: np.ndarray | None = None) -> dict:
    """One loss ℓ(r) against the residual r = ŷ − y, with the fit's residuals marked on it (meta ``"residuals"``)."""
    spec = registry.get(fit.loss)
    prediction = fit.slope * data.x + fit.intercept
    residual = prediction - data.y
    reach = max(1.1 * float(np.max(np.abs(residual))), 1.0)
    half = (CURVE_POINTS - 1) // 2
    dx = reach / half
    x0 = -(dx * half)  # x0 + dx * half is exactly 0: r = 0 is on the grid
    grid = x0 + dx * np.arange(CURVE_POINTS, dtype=np.float64)  # the x the chart draws (and the CSV holds)
    values = spec.loss(grid, np.zeros_like(grid), **params)
    style = _style(fit.loss)
    curve = {
        "type": "scatter", "mode": "lines", "name": spec.label, "meta": fit.loss, "x0": x0, "dx": dx,
        "y": figures.typed_array(figures.plottable(values)), **figures.exact_values(values),  # CSV: past 1e303 kept
        "line": style, "hovertemplate": "ℓ(%{x:.3g}) = %{y:.4g}<extra></extra>",
    }
    marks = {
        "type": "scatter", "mode": "markers", "name": "the points' residuals", "meta": "residuals",
        "x": figures.typed_array(residual),
        "y": figures.typed_array(figures.plottable(spec.loss(prediction, data.y, **params))),
        "marker": {**_point_markers(data, moved), "line": {"width": 1.5, "color": DATA_COLOR}},
        "text": [f"point {i}" for i in range(data.x.size)],
        "hovertemplate": "%{text}: r = %{x:.4g}, ℓ = %{y:.4g}<extra></extra>",
    }
    layout_ = _layout(f"{spec.label}: loss against the residual", "residual r = ŷ − y",
                      "loss ℓ(r)", f"{NAME}-curve")
    layout_["hovermode"] = "closest"
    return figures.scalable_y({"data": [curve, marks], "layout": layout_})  # Huber at δ = 5e-324: ℓ ≤ 5.4e-323


def curve_grad_figure(curve: dict, params: dict[str, float]) -> dict:
    """dℓ/dr of the curve chart's loss on the same grid (the core's gradient): how hard a point with
    residual r pulls. The gradient check lays the curve's finite difference over it."""
    loss_trace = curve["data"][0]
    spec = registry.get(loss_trace["meta"])
    grid = loss_trace["x0"] + loss_trace["dx"] * np.arange(CURVE_POINTS, dtype=np.float64)
    trace = {key: loss_trace[key] for key in ("type", "mode", "name", "meta", "x0", "dx", "line")}
    values = spec.grad(grid, np.zeros_like(grid), **params)
    trace["y"] = figures.typed_array(figures.plottable(values))
    trace |= figures.exact_values(values)  # the CSV's values past 1e303
    trace["hovertemplate"] = "dℓ/dr(%{x:.3g}) = %{y:.4g}<extra></extra>"
    layout_ = _layout(f"{spec.label}: dℓ/dr against the residual", "residual r = ŷ − y", "dℓ/dr",
                      f"{NAME}-curve-grad")
    layout_["hovermode"] = "closest"
    return figures.scalable_y({"data": [trace], "layout": layout_})


VIEW = RobustView()
