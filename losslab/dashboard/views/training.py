"""/training: each binary loss driving gradient descent, on one logit and on logistic regression's (w, b).

Part 1 runs :func:`losslab.training.descend_logit` for every selected loss and
charts z_t (or p̂_t), the loss and |dL/dz| over the steps t. Part 2 draws the
mean BCE and MSE-on-sigmoid surfaces of a seeded 1-D dataset
(:func:`losslab.training.loss_surface`) with each loss's descent path
(:func:`losslab.training.descend_parameters`). Every trajectory is computed
in one request and sent whole; ``assets/training.js`` plays it back in the
browser (Play, Pause, Step and a step slider) with no server request, and
writes a click on a surface into the start boxes.

Both parts share the learning rate η and the number of steps T. Results of
the core are cached per input (they are read-only), and a change that only
concerns one part leaves the other part's figures alone (:class:`TrainingPlan`).

The gradient check (``check=on``) lays over the |dL/dz| chart, per loss, the
central finite difference of the loss at each z_t (:func:`losslab.training.gradient_check`,
computed on the server), and the readout gives the largest relative difference.
Download CSV holds every plotted trajectory over the steps t = 0..T (see
:meth:`TrainingView.motion_figures`); Show code recomputes it with the public API.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import numpy as np
from dash import dcc, html, no_update

from losslab import registry, training
from losslab._validation import Interval
from losslab.dashboard import controls, figures, ids, layout, tables
from losslab.dashboard.url_state import ViewState
from losslab.dashboard.views.base import (
    ExtraOutput,
    UpdatePlan,
    View,
    ViewOutput,
    changed_numbers,
    formulas_markdown,
    task_order,
)
from losslab.dashboard.views.binary import hidden_losses_note, usable_binary_losses

NAME = "training"
LEARNING_RATE = Interval(0.0, 1e9, low_inclusive=False)
# The start point must lie on the drawn surfaces, so a click can set it and the path starts in view.
START_POINT = Interval(training.DEFAULT_W_RANGE[0], training.DEFAULT_W_RANGE[1])
# 61 x 61 keeps a surface at 29 KB of float64 (about 40 KB as base64); odd, so w = 0 and b = 0 are grid points.
SURFACE_RESOLUTION = 61
SURFACE_KEYS = ("bce", "sigmoid_mse")

# The path overlay is a picture on top of the surface: no toolbar, no hover, no pointer events.
PATH_GRAPH_CONFIG = {"staticPlot": True, "responsive": True, "displaylogo": False}

LOGIT_CONTROLS = frozenset({"start", "label", "lr", "steps", "gamma"})
DATASET_CONTROLS = frozenset({"points", "separation", "noise", "seed"})
PATH_CONTROLS = DATASET_CONTROLS | {"lr", "steps", "w0", "b0"}

TRAJECTORY = controls.ChoiceControl(
    "trajectory", "Trajectory chart", (("prob", "probability p̂ₜ"), ("logit", "logit zₜ")), "prob"
)
TRAJECTORY_TITLES = {"prob": "p̂ₜ", "logit": "zₜ"}
# Where the prediction changes side: p̂ = 0.5, that is z = 0.
THRESHOLDS = {"prob": 0.5, "logit": 0.0}


class TrainingIds(ids.View):
    """This view's own component ids (the shared ones come from :class:`losslab.dashboard.ids.View`)."""

    def __init__(self):
        super().__init__(NAME)
        self.LOGIT_READOUT = f"{NAME}-logit-readout"
        self.LOGIT_PLAYBACK = f"{NAME}-logit-playback"
        self.LANDSCAPE = f"{NAME}-landscape"
        self.LANDSCAPE_PLAYBACK = f"{NAME}-landscape-playback"
        self.SURFACE_GRAPHS = {key: f"{NAME}-{key.replace('_', '-')}-surface-graph" for key in SURFACE_KEYS}
        self.PATH_GRAPHS = {key: f"{NAME}-{key.replace('_', '-')}-path-graph" for key in SURFACE_KEYS}

    def playback_part(self, bar: str, part: str) -> str:
        """``training-logit-playback-slider`` and the like: one id per part of a playback bar."""
        return f"{bar}-{part}"


IDS = TrainingIds()


@dataclass(frozen=True)
class TrainingPlan(UpdatePlan):
    """An :class:`UpdatePlan` for part 1's charts plus what part 2 needs.

    ``landscape``: ``"full"`` (the dataset changed: new surfaces and paths), ``"paths"``
    (the same surfaces, new descent paths) or ``"none"``.
    """

    landscape: str = "full"


class TrainingView(View):
    name = NAME
    path = "/training"
    title = "Training"
    introduction = (
        "Gradient descent on one logit, z ← z − η·dL/dz, from a confidently wrong start (p̂₀ = 0.99 with y = 0). "
        "BCE's gradient p̂ − y stays strong there, so p̂ crosses 0.5 within a few steps; MSE on the sigmoid "
        "output crawls, because its gradient 2(p̂ − y)·p̂(1 − p̂) vanishes where the sigmoid saturates. "
        "Below, the same lesson on logistic regression's loss landscape. Each run is computed once per change; "
        "Play, Step and the step slider replay it in your browser."
    )
    task = "binary"
    numbers = (
        controls.NumberControl("start", "Start probability p̂₀", training.DEFAULT_START_PROBABILITY,
                               training.START_PROBABILITY, 0.01, 0.99, 0.01,
                               help="p̂₀ = σ(z₀), strictly between 0 and 1"),
        controls.NumberControl("label", "True label y", training.DEFAULT_TARGET, training.TARGET, 0.0, 1.0, 0.01,
                               help="0 or 1, or a soft label in between"),
        controls.NumberControl("lr", "Learning rate η", training.DEFAULT_LOGIT_LEARNING_RATE, LEARNING_RATE,
                               -2.0, 2.0, 0.01, log_scale=True, help="greater than 0; used by both parts"),
        controls.NumberControl("steps", "Steps T", training.DEFAULT_LOGIT_STEPS, training.STEPS, 1, 1000, 1,
                               integer=True, help="1 to 1000; used by both parts"),
        *controls.parameters_of("binary"),
        controls.NumberControl("points", "Data points n", training.DEFAULT_POINTS, training.POINTS, 2, 500, 1,
                               integer=True, help="half in each class"),
        controls.NumberControl("separation", "Class separation", training.DEFAULT_SEPARATION, training.SEPARATION,
                               0.0, 10.0, 0.1, help="distance between the two class means of x"),
        controls.NumberControl("noise", "Label noise", training.DEFAULT_LABEL_NOISE, training.LABEL_NOISE,
                               0.0, 0.5, 0.01, help="share of labels flipped"),
        controls.NumberControl("seed", "Seed", training.DEFAULT_SEED, training.SEED, 0, 1, 1, integer=True,
                               has_slider=False, help="a whole number: the same seed, the same data"),
        controls.NumberControl("w0", "Start weight w₀", training.DEFAULT_PARAMETER_START[0], START_POINT,
                               -8.0, 8.0, 0.1, has_slider=False, help="−8 to 8; or click a surface"),
        controls.NumberControl("b0", "Start bias b₀", training.DEFAULT_PARAMETER_START[1], START_POINT,
                               -8.0, 8.0, 0.1, has_slider=False, help="−8 to 8; or click a surface"),
    )
    extras = (TRAJECTORY, controls.GRADIENT_CHECK)
    extras_position = 5  # after focal γ: the last control of part 1
    default_losses = ("bce", "sigmoid_mse")
    extra_outputs: ClassVar = {
        "logit_readout": ExtraOutput(IDS.LOGIT_READOUT),
        **{f"surface:{key}": ExtraOutput(graph_id, "figure") for key, graph_id in IDS.SURFACE_GRAPHS.items()},
        **{f"path:{key}": ExtraOutput(graph_id, "figure") for key, graph_id in IDS.PATH_GRAPHS.items()},
    }
    charts_class = "linked-charts stacked"

    @property
    def ids(self) -> TrainingIds:
        return IDS

    # ---- what is shown -------------------------------------------------------
    def plotted_losses(self, state: ViewState) -> tuple[str, ...]:
        return usable_binary_losses(state.losses, state.number("label"))

    def build(self, state: ViewState) -> ViewOutput:
        numbers = state.numbers
        keys = self.plotted_losses(state)
        runs = logit_runs(keys, numbers["start"], numbers["label"], numbers["lr"], numbers["steps"],
                          numbers["gamma"])
        checks = (logit_checks(keys, numbers["start"], numbers["label"], numbers["lr"], numbers["steps"],
                               numbers["gamma"]) if state.check == "on" else None)
        dataset, surfaces = landscape(numbers["points"], numbers["separation"], numbers["noise"], numbers["seed"])
        paths = parameter_paths(numbers["points"], numbers["separation"], numbers["noise"], numbers["seed"],
                                float(numbers["w0"]).hex(), float(numbers["b0"]).hex(), numbers["lr"], numbers["steps"])
        logit_token = self._token(state, LOGIT_CONTROLS, with_losses=True)
        path_token = self._token(state, PATH_CONTROLS, with_losses=False)
        trajectory_figure, grad_figure = logit_figures(runs, state.trajectory, int(numbers["steps"]), logit_token,
                                                       checks)
        return ViewOutput(
            trajectory_figure, grad_figure,
            landscape_summary(dataset, surfaces, paths, numbers["w0"], numbers["b0"]),
            update_rule_markdown() + "\n\n---\n\n" + formulas_markdown(keys, link_space=True),
            self.encode_query(state),
            extras={
                "logit_readout": logit_readout(runs, state, checks),
                "surfaces": {s.key: surface_figure(s) for s in surfaces},
                "paths": {s.key: path_figure(s, path, path_token) for s, path in zip(surfaces, paths, strict=True)},
                "losses_note": hidden_losses_note(state.losses, keys, numbers["label"]),
            },
        )

    def _token(self, state: ViewState, names, with_losses: bool) -> str:
        """The inputs a part's figures depend on, as text: the browser's playback keys its cache on it."""
        parts = [f"{name}={controls.format_number(state.numbers[name])}" for name in sorted(names)]
        if with_losses:
            parts += [f"losses={','.join(self.plotted_losses(state))}", f"trajectory={state.trajectory}",
                      f"check={state.check}"]
        return "&".join(parts)

    def plan(self, previous: ViewState | None, state: ViewState) -> TrainingPlan:
        if previous is None or previous.view != state.view:
            return TrainingPlan(full=True, landscape="full")
        changed = changed_numbers(previous, state)
        logit_changed = (bool(changed & LOGIT_CONTROLS) or previous.extras != state.extras
                         or self.plotted_losses(previous) != self.plotted_losses(state))
        if changed & DATASET_CONTROLS:
            part2 = "full"
        elif changed & PATH_CONTROLS:
            part2 = "paths"
        else:
            part2 = "none"
        # Unchanged part-1 charts get the generic marker patch, which here carries only the (empty) shapes.
        return TrainingPlan(full=logit_changed, landscape=part2)

    def output_values(self, output: ViewOutput, plan: UpdatePlan) -> dict:
        part2 = plan.landscape if isinstance(plan, TrainingPlan) else "full"
        # part 1's readout changes with its runs, exactly when its charts are redrawn in full
        part1 = plan.full or not isinstance(plan, TrainingPlan)
        values = {"logit_readout": output.logit_readout if part1 else no_update}
        for key in SURFACE_KEYS:
            values[f"surface:{key}"] = output.surfaces[key] if part2 == "full" else no_update
            values[f"path:{key}"] = output.paths[key] if part2 != "none" else no_update
        return values

    def readout_component(self, output: ViewOutput) -> dict:
        """Part 2's summary: it sits at the end of the page, right below the surfaces."""
        return landscape_table(output.readout)

    # ---- getting results out ------------------------------------------------------
    def motion_figures(self, state: ViewState) -> dict[str, dict]:
        """What Download CSV exports (this view has no slider motion): every plotted trajectory, one
        chart per quantity, over the steps t = 0..T (see :func:`export_figures`)."""
        return export_figures(self.build(state), int(state.number("steps")), state.trajectory)

    def code_snippet(self, state: ViewState, output: ViewOutput | None = None) -> str:
        return code_snippet(self.title, state, self.plotted_losses(state))

    # ---- page ----------------------------------------------------------------
    def panels_above_charts(self, state: ViewState, output: ViewOutput) -> list:
        steps = int(state.number("steps"))
        return [
            html.H3("1. One logit, every loss side by side", className="training-part-title"),
            playback_bar(IDS.LOGIT_PLAYBACK, steps, (IDS.LOSS_GRAPH, IDS.GRAD_GRAPH), "the one-logit runs"),
        ]

    def panels_below_charts(self, state: ViewState, output: ViewOutput) -> list:
        steps = int(state.number("steps"))
        graphs = [
            html.Div(
                [layout.graph(IDS.SURFACE_GRAPHS[key], output.surfaces[key],
                              f"mean {registry.get(key).label} over w and b, with its descent path"),
                 dcc.Graph(id=IDS.PATH_GRAPHS[key], figure=output.paths[key], config=PATH_GRAPH_CONFIG,
                           className="chart surface-path")],
                className="surface-stack",
            )
            for key in SURFACE_KEYS
        ]
        return [
            html.Div(output.logit_readout, id=IDS.LOGIT_READOUT, className="readout training-logit-readout"),
            layout.with_attributes(html.Section(
                id=IDS.LANDSCAPE,
                className="training-landscape",
                children=[
                    html.H3("2. Two parameters: logistic regression's landscape", className="training-part-title"),
                    html.P(
                        "p̂ = σ(w·x + b) on a seeded 1-D dataset. Left, the mean BCE over (w, b); right, the mean "
                        "MSE on the sigmoid output. BCE is convex: its path heads straight for the minimum. MSE "
                        "has flat plateaus where the sigmoid saturates for most points, and a path that starts on "
                        "one barely moves. Click either surface to start there.",
                        className="intro",
                    ),
                    playback_bar(IDS.LANDSCAPE_PLAYBACK, steps, tuple(IDS.PATH_GRAPHS.values()),
                                 "the descent paths"),
                    html.Div(graphs, className="training-surfaces"),
                ],
            ), {"data-start-w": IDS.input("w0"), "data-start-b": IDS.input("b0")}),  # training.js writes clicks there
        ]


# ---------------------------------------------------------------- the core, cached


@lru_cache(maxsize=16)
def logit_runs(keys: tuple[str, ...], start: float, label: float, lr: float, steps: int,
               gamma: float) -> tuple[training.LogitRun, ...]:
    return training.descend_logit(keys, start=start, target=label, learning_rate=lr, steps=steps,
                                  params={"gamma": gamma})


@lru_cache(maxsize=16)
def logit_checks(keys: tuple[str, ...], start: float, label: float, lr: float, steps: int,
                 gamma: float) -> tuple[training.GradientCheck, ...]:
    """Each run's gradients against central finite differences of its loss (the core computes both)."""
    runs = logit_runs(keys, start, label, lr, steps, gamma)
    return tuple(training.gradient_check(run, target=label, params={"gamma": gamma}) for run in runs)


@lru_cache(maxsize=8)
def landscape(points: int, separation: float, noise: float, seed: int):
    """The dataset and its BCE and MSE-on-sigmoid surfaces (the slow part: cached per dataset)."""
    dataset = training.make_dataset(points=points, separation=separation, label_noise=noise, seed=seed)
    return dataset, training.loss_surface(dataset, SURFACE_KEYS, resolution=SURFACE_RESOLUTION)


@lru_cache(maxsize=16)
def parameter_paths(points: int, separation: float, noise: float, seed: int, w0_hex: str, b0_hex: str, lr: float,
                    steps: int) -> tuple[training.ParameterPath, ...]:
    """The descents from ``(w0, b0)``, given as ``float.hex`` text: the cache then tells a typed -0 from 0
    (-0.0 == 0.0, with one hash), and the path's first point keeps the start's sign as the core gives it."""
    dataset, _ = landscape(points, separation, noise, seed)
    start = (float.fromhex(w0_hex), float.fromhex(b0_hex))
    return training.descend_parameters(dataset, SURFACE_KEYS, start=start, learning_rate=lr, steps=steps)


# ---------------------------------------------------------------- part 1 figures


def shown_steps(diverged_at: int | None, length: int) -> int:
    """How many steps a chart draws: all of them, or up to and including the step of divergence."""
    return length if diverged_at is None else diverged_at + 1


def plottable(values: np.ndarray) -> np.ndarray:
    """Non-finite values (only ever at a diverged step) become NaN: Plotly leaves a gap."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values), values, np.nan)


def last_finite(values: np.ndarray) -> int | None:
    finite = np.flatnonzero(np.isfinite(values))
    return int(finite[-1]) if finite.size else None


def step_curve(run: training.LogitRun, values: np.ndarray, order, axes: str, legend: bool) -> dict:
    """One loss's values over the steps t = 0, 1, ... (x0 = 0, dx = 1), cut at divergence."""
    count = shown_steps(run.diverged_at, values.size)
    return {
        "type": "scatter", "mode": "lines", "name": run.label, "meta": run.key,
        "x0": 0, "dx": 1, "y": figures.typed_array(plottable(values[:count])),
        "line": figures.style_for(run.key, order) | {"width": 2.5},
        "legendgroup": run.key, "showlegend": legend,
        "xaxis": "x", "yaxis": f"y{axes}",
        "hovertemplate": "%{y:.4g}",
    }


def step_markers(curves: list[dict], values: list[np.ndarray], first_index: int, axes: str) -> dict:
    """The playback marker of one subplot: a point per curve at its last drawn step (training.js moves them).

    ``customdata`` holds the index of the curve trace each point follows.
    """
    xs, ys = [], []
    for y in values:
        index = last_finite(y)
        xs.append(index if index is not None else 0)
        ys.append(y[index] if index is not None else math.nan)
    return {
        "type": "scatter", "mode": "markers", "name": "step", "meta": "step", "showlegend": False,
        "x": xs, "y": figures.typed_array(np.array(ys, dtype=np.float64)),
        "customdata": list(range(first_index, first_index + len(curves))),
        "marker": {"size": 10, "color": [c["line"]["color"] for c in curves], "symbol": "circle",
                   "line": {"width": 1.5, "color": "#ffffff"}},
        "xaxis": "x", "yaxis": f"y{axes}", "hoverinfo": "skip",
    }


def diverged_markers(runs, values: list[np.ndarray], axes: str) -> dict:
    """A cross where each diverged run stops (at its last finite value); ``customdata`` is the step of divergence."""
    xs, ys, steps, texts = [], [], [], []
    for run, y in zip(runs, values, strict=True):
        if run.diverged_at is None:
            continue
        index = last_finite(y)
        if index is None:
            continue
        xs.append(index)
        ys.append(float(y[index]))
        steps.append(run.diverged_at)
        texts.append(f"{run.label} diverged at step {run.diverged_at}")
    return {
        "type": "scatter", "mode": "markers", "name": "diverged", "meta": "diverged", "showlegend": False,
        "x": xs, "y": figures.typed_array(np.array(ys, dtype=np.float64)), "customdata": steps, "text": texts,
        "marker": {"size": 14, "symbol": "x-thin-open", "color": figures.MARKER_COLOR, "line": {"width": 3}},
        "xaxis": "x", "yaxis": f"y{axes}", "hovertemplate": "%{text}<extra></extra>",
    }


def subplot_traces(runs, quantity: str, order, axes: str, legend: bool, first_index: int) -> list[dict]:
    """Curves, then the playback marker, then the divergence crosses, of one subplot."""
    values = [getattr(run, quantity)[: shown_steps(run.diverged_at, run.step.size)] for run in runs]
    curves = [step_curve(run, getattr(run, quantity), order, axes, legend) for run in runs]
    return [*curves, step_markers(curves, values, first_index, axes), diverged_markers(runs, values, axes)]


def logit_figures(runs, trajectory: str, steps: int, token: str, checks=None) -> tuple[dict, dict]:
    """Part 1's two linked charts: z_t or p̂_t above the loss (one shared x axis), and |dL/dz| over the steps.

    ``checks`` (the runs' :class:`losslab.training.GradientCheck`, or None): the gradient chart also
    draws each run's |finite difference| (dotted, ``meta="fd:<key>"``) after its other traces, so the
    step markers' ``customdata`` still index the curves and playback reveals the overlays with them.
    """
    order = task_order("binary")
    quantity = "probability" if trajectory == "prob" else "logit"
    upper = subplot_traces(runs, quantity, order, "", True, 0)
    lower = subplot_traces(runs, "loss", order, "2", False, len(upper))
    # One x axis for both rows (y above y2): the rows share the steps, and the page's linking and
    # panel re-gridding (assets/losslab.js) see one x axis, as for any single chart.
    top = figures.curve_layout("Trajectory and loss over the steps", "step t", TRAJECTORY_TITLES[trajectory],
                               f"training-steps-{trajectory}", [0, steps])
    top["xaxis"] |= {"anchor": "y2"}
    top["yaxis"] |= {"domain": [0.56, 1], "anchor": "x"}
    top["yaxis2"] = top["yaxis"] | {"domain": [0, 0.44], "title": {"text": "loss Lₜ"}}
    top["shapes"] = [threshold_line(THRESHOLDS[trajectory])]
    top["meta"] = {"run": token, "steps": steps}
    grad = figures.curve_layout("Gradient |dL/dz| over the steps", "step t", "|dL/dz|ₜ",
                                f"training-steps-{trajectory}", [0, steps])
    grad["shapes"] = []
    grad["meta"] = {"run": token, "steps": steps}
    grad_traces = subplot_traces(runs, "grad_norm", order, "", True, 0)
    if checks is not None:
        grad_traces += [difference_overlay(run, check) for run, check in zip(runs, checks, strict=True)]
    threshold = [THRESHOLDS[trajectory]]  # the dotted line at p̂ = 0.5 (z = 0) is on the upper axis too
    for figure_layout, name, traces, also in ((top, "yaxis", upper, threshold), (top, "yaxis2", lower, []),
                                              (grad, "yaxis", grad_traces, [])):
        span = figures.tiny_axis_range(figures.y_values(traces, "y" + name[5:]), also)
        if span is not None:
            figure_layout[name]["range"] = span
    return {"data": upper + lower, "layout": top}, {"data": grad_traces, "layout": grad}


def difference_overlay(run: training.LogitRun, check: training.GradientCheck) -> dict:
    """|central finite difference of the loss| at each z_t, drawn over |dL/dz|ₜ for the same steps."""
    count = shown_steps(run.diverged_at, run.step.size)
    return {
        "type": "scatter", "mode": "lines", "name": f"{run.label} (finite difference)", "meta": f"fd:{run.key}",
        "x0": 0, "dx": 1, "y": figures.typed_array(plottable(np.abs(check.finite_difference[:count]))),
        "line": {"color": figures.CHECK_COLOR, "width": 1.5, "dash": "dot"}, "legendgroup": run.key, "showlegend": False,
        "xaxis": "x", "yaxis": "y", "hovertemplate": "finite difference %{y:.4g}<extra></extra>",
    }


def threshold_line(y: float) -> dict:
    """Where p̂ crosses 0.5 (z = 0): the readout's first column counts the steps to get past it."""
    return {"type": "line", "xref": "x domain", "yref": "y", "x0": 0, "x1": 1, "y0": y, "y1": y,
            "line": {"color": "rgba(128,128,128,0.8)", "width": 1.5, "dash": "dot"}}


# ---------------------------------------------------------------- part 1 readout


def step_text(step: int | None, never: str = "never") -> str:
    return never if step is None else f"step {step}"


def logit_readout(runs, state: ViewState, checks=None) -> dict:
    """A row per loss: steps until p̂ crosses 0.5 and until the loss is below 10% of its start, and the end state;
    with ``checks``, a line with each run's largest relative difference between gradient and finite difference."""
    start, label = state.number("start"), state.number("label")
    steps = int(state.number("steps"))
    no_side = label == 0.5
    header = tables.element("Tr", [tables.element("Th", text) for text in (
        "loss", "p̂ crosses 0.5", "loss < 10% of start", f"p̂ at step {steps}", "run")])
    rows = []
    for run in runs:
        end_p = run.probability[-1]
        status = f"diverged at step {run.diverged_at}" if run.diverged else "finite"
        cells = [run.label,
                 "never (y = 0.5 has no side)" if no_side else step_text(run.steps_to_cross),
                 step_text(run.steps_to_tenth_loss), tables.number_text(float(end_p)), status]
        rows.append(tables.element("Tr", [tables.element("Td", text) for text in cells], data_loss=run.key,
                                   className="diverged" if run.diverged else ""))
    caption = tables.element(
        "Caption",
        f"From p̂₀ = {start:g} (z₀ = {math.log(start / (1 - start)):.4g}) with y = {label:g}, "
        f"η = {state.number('lr'):g}, {steps} steps",
    )
    table = tables.element("Table", [caption, tables.element("Thead", header), tables.element("Tbody", rows)],
                           className="readout-table")
    parts = [tables.element("P", logit_lesson(runs), className="lesson", role="status"), table]
    if checks is not None:
        parts.append(tables.element("P", gradient_check_text(checks), className="gradient-check-note"))
    return tables.element("Div", parts)


def gradient_check_text(checks) -> str:
    """The readout line of the gradient check: per loss, the largest relative difference over the steps shown."""
    if not checks:
        return "Gradient check: tick a loss to check its gradient."
    parts = ", ".join(f"{check.label} {check.relative_difference:.1e}" for check in checks)
    return ("Gradient check at every step shown, dL/dz the run used against the central difference "
            f"(ℓ(z + h) − ℓ(z − h)) / 2h of its loss (dotted): largest |difference − dL/dz| / largest |dL/dz|: "
            f"{parts}")


def logit_lesson(runs) -> str:
    """The chapter's comparison in one sentence, when BCE and MSE on the sigmoid are both shown."""
    by_key = {run.key: run for run in runs}
    bce, mse = by_key.get("bce"), by_key.get("sigmoid_mse")
    if bce is None or mse is None:
        return "Tick BCE and MSE on sigmoid to compare them: the chapter's lesson."
    diverged = [run for run in (bce, mse) if run.diverged]
    if diverged:
        return " ".join(f"{run.label} diverged at step {run.diverged_at}." for run in diverged) + (
            " The learning rate is too large for a fair comparison: lower η.")
    if bce.steps_to_cross is None or mse.steps_to_cross is None:
        texts = [f"{run.label}: {step_text(run.steps_to_cross, 'never crosses 0.5')}" for run in (bce, mse)]
        return "; ".join(texts) + "."
    if mse.steps_to_cross == 0 or bce.steps_to_cross == 0:
        return "The start is already on the label's side of 0.5: move p̂₀ to the wrong side to see the lesson."
    comparison = (f"{mse.steps_to_cross / bce.steps_to_cross:.3g} times as many"
                  if mse.steps_to_cross != bce.steps_to_cross else "as many")
    return (f"BCE's p̂ crosses 0.5 after {steps_count(bce.steps_to_cross)}, MSE on the sigmoid's after "
            f"{steps_count(mse.steps_to_cross)}: {comparison}.")


def steps_count(count: int) -> str:
    return f"{count} step" if count == 1 else f"{count} steps"


# ---------------------------------------------------------------- part 2 figures


def surface_spec(values: np.ndarray) -> dict:
    """A 2-D float64 array as one Plotly typed array (rows first, Plotly's ``shape`` convention)."""
    return figures.typed_array(values.ravel()) | {"shape": f"{values.shape[0]},{values.shape[1]}"}


def surface_layout(surface: training.LossSurface, title: str) -> dict:
    """The geometry both figures of a surface share, so the path overlay lies exactly on the contours.

    Fixed margins that never grow (the colorbar sits inside the right one), fixed ranges, a square
    plot area and no zoom or pan: the same box at the same size maps (w, b) to the same pixel.
    """
    (w_low, w_high), (b_low, b_high) = surface.w[[0, -1]], surface.b[[0, -1]]
    return {
        "title": {"text": title, "x": 0.01, "xanchor": "left"},
        "xaxis": {"title": {"text": "weight w"}, "range": [float(w_low), float(w_high)], "zeroline": False,
                  "fixedrange": True, "constrain": "domain", "gridcolor": figures.GRID_COLOR},
        "yaxis": {"title": {"text": "bias b"}, "range": [float(b_low), float(b_high)], "zeroline": False,
                  "fixedrange": True, "scaleanchor": "x", "constrain": "domain", "gridcolor": figures.GRID_COLOR},
        "margin": {"l": 56, "r": 72, "t": 48, "b": 52, "autoexpand": False},
        "showlegend": False,
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": figures.FONT,
    }


def surface_figure(surface: training.LossSurface) -> dict:
    """One loss's mean loss over the (w, b) grid as filled contours; it changes only with the dataset."""
    contour = {
        "type": "contour", "meta": "surface", "name": f"mean {surface.label}",
        "x": figures.typed_array(surface.w), "y": figures.typed_array(surface.b), "z": surface_spec(surface.loss),
        "ncontours": 24, "colorscale": SURFACE_COLORS, "contours": {"coloring": "heatmap"},
        "line": {"width": 0.6, "color": "rgba(40,40,40,0.35)"},
        "colorbar": {"title": {"text": "L", "side": "right"}, "thickness": 12, "len": 0.9, "x": 1.02,
                     "xanchor": "left", "xpad": 4},
        "hovertemplate": "w = %{x:.3g}<br>b = %{y:.3g}<br>L = %{z:.4g}<extra></extra>",
    }
    layout = surface_layout(surface, f"Mean {surface.label} over (w, b)") | {
        "hovermode": "closest", "dragmode": False, "uirevision": "training-surface",
    }
    return {"data": [contour], "layout": layout}


def path_figure(surface: training.LossSurface, path: training.ParameterPath, token: str) -> dict:
    """The descent path drawn over a surface: a transparent figure laid exactly on top of it.

    Its own figure because playback animates it (Plotly.animate without a redraw), which would drop
    the contours from a shared figure; it takes no pointer events, so hovers and clicks reach the surface.
    Traces: path (meta = loss key), start, grid minimum, step marker, divergence cross.
    """
    style = figures.style_for(surface.key, task_order("binary"))
    low = np.unravel_index(np.argmin(surface.loss), surface.loss.shape)
    count = shown_steps(path.diverged_at, path.step.size)
    w, b = path.w[:count], path.b[:count]
    end = last_finite(w + b)
    path_trace = {
        "type": "scatter", "mode": "lines+markers", "meta": surface.key, "name": f"{surface.label} path",
        "x": figures.typed_array(plottable(w)), "y": figures.typed_array(plottable(b)),
        "line": {"color": style["color"], "width": 2.5}, "marker": {"size": 4, "color": style["color"]},
    }
    start = {"type": "scatter", "mode": "markers", "meta": "start", "name": "start (w₀, b₀)",
             "x": [float(path.w[0])], "y": [float(path.b[0])],
             "marker": {"size": 13, "symbol": "circle-open", "color": "#000000", "line": {"width": 2.5}}}
    minimum = {"type": "scatter", "mode": "markers", "meta": "minimum", "name": "lowest on the grid",
               "x": [float(surface.w[low[1]])], "y": [float(surface.b[low[0]])],
               "marker": {"size": 14, "symbol": "star", "color": "#ffffff", "line": {"width": 1.5, "color": "#000"}}}
    step = {"type": "scatter", "mode": "markers", "meta": "step", "name": "step",
            "x": [float(w[end])] if end is not None else [], "y": [float(b[end])] if end is not None else [],
            "customdata": [0],  # the index of the path trace it follows
            "marker": {"size": 12, "color": style["color"], "line": {"width": 2, "color": "#ffffff"}}}
    diverged = {"type": "scatter", "mode": "markers", "meta": "diverged", "name": "diverged",
                "x": [], "y": [], "customdata": [],
                "marker": {"size": 16, "symbol": "x-thin-open", "color": figures.MARKER_COLOR, "line": {"width": 3}}}
    if path.diverged and end is not None:
        diverged |= {"x": [float(w[end])], "y": [float(b[end])], "customdata": [path.diverged_at]}
    layout = surface_layout(surface, "") | {
        "hovermode": False, "uirevision": "training-path",
        "meta": {"run": token, "steps": int(path.step[-1])},
        "annotations": divergence_note(surface.label, path),
    }
    for axis in ("xaxis", "yaxis"):  # drawn once, by the surface below
        layout[axis] |= {"showgrid": False, "showticklabels": False, "ticks": "", "title": {"text": ""}}
    return {"data": [path_trace, start, minimum, step, diverged], "layout": layout}


# Light to dark grey: a plateau is one flat shade, and both loss colours stay readable on it.
SURFACE_COLORS = [[0.0, "#f7f7f7"], [0.25, "#d9d9d9"], [0.5, "#bdbdbd"], [0.75, "#969696"], [1.0, "#636363"]]


def divergence_note(label: str, path: training.ParameterPath) -> list[dict]:
    if not path.diverged:
        return []
    return [{"text": f"<b>{label} diverged at step {path.diverged_at}</b>", "showarrow": False,
             "xref": "paper", "yref": "paper", "x": 0.02, "y": 0.98, "xanchor": "left", "yanchor": "top",
             "bgcolor": "rgba(255,255,255,0.85)", "font": {"color": figures.MARKER_COLOR}}]


# ---------------------------------------------------------------- part 2 readout


@dataclass(frozen=True)
class LandscapeRow:
    key: str
    label: str
    start_loss: float
    end_loss: float
    grid_minimum: float
    diverged_at: int | None


@dataclass(frozen=True)
class LandscapeSummary:
    points: int
    flipped: int
    start: tuple[float, float]
    steps: int
    rows: tuple[LandscapeRow, ...]


def landscape_summary(dataset, surfaces, paths, w0: float, b0: float) -> LandscapeSummary:
    rows = tuple(
        LandscapeRow(path.key, path.label, float(path.loss[0]), float(path.loss[-1]), float(surface.loss.min()),
                     path.diverged_at)
        for surface, path in zip(surfaces, paths, strict=True)
    )
    return LandscapeSummary(int(dataset.x.size), int(dataset.flipped.sum()), (w0, b0), int(paths[0].step[-1]), rows)


def landscape_table(summary: LandscapeSummary) -> dict:
    header = tables.element("Tr", [tables.element("Th", text) for text in (
        "loss", "L at the start", f"L after {summary.steps} steps", "lowest L on the grid", "run")])
    rows = [
        tables.element("Tr", [tables.element("Td", text) for text in (
            row.label, tables.number_text(row.start_loss), finite_text(row.end_loss),
            tables.number_text(row.grid_minimum),
            "finite" if row.diverged_at is None else f"diverged at step {row.diverged_at}")],
            data_loss=row.key, className="" if row.diverged_at is None else "diverged")
        for row in summary.rows
    ]
    w0, b0 = summary.start
    caption = tables.element(
        "Caption", f"Logistic regression on {summary.points} points ({summary.flipped} labels flipped), "
                   f"from (w₀, b₀) = ({w0:g}, {b0:g})")
    return tables.element("Table", [caption, tables.element("Thead", header), tables.element("Tbody", rows)],
                          className="readout-table", id=f"{NAME}-landscape-table")


def finite_text(value: float) -> str:
    return tables.number_text(value) if math.isfinite(value) else str(value)


# ---------------------------------------------------------------- getting results out

LOSS_CHART = "Loss Lₜ"
GRAD_CHART = "Gradient |dL/dz|ₜ"
PATH_CHARTS = ("Descent path wₜ", "Descent path bₜ")


def trajectory_chart(trajectory: str) -> str:
    return f"Trajectory {TRAJECTORY_TITLES[trajectory]}"


def export_figures(output: ViewOutput, steps: int, trajectory: str) -> dict[str, dict]:
    """The plotted trajectories as curves over the steps, one figure per quantity (the CSV's charts).

    Read from the figures the page draws, so the CSV holds their values exactly: z_t or p̂_t, the loss,
    |dL/dz| (and its finite differences when the check is on) of part 1, and w_t and b_t of each descent
    path of part 2. A diverged run is drawn up to its step of divergence; its columns go on as NaN to
    t = T, so every column shares the steps 0..T and the CSV is one table. The surfaces (2-D) are not curves.
    """
    charts: dict[str, list[dict]] = {trajectory_chart(trajectory): [], LOSS_CHART: [], GRAD_CHART: [],
                                     PATH_CHARTS[0]: [], PATH_CHARTS[1]: []}
    for trace in output.loss_figure["data"]:
        if trace.get("mode") == "lines":
            chart = trajectory_chart(trajectory) if trace["yaxis"] == "y" else LOSS_CHART
            charts[chart].append(step_series(trace["name"], trace["meta"], figures.decoded(trace["y"]), steps))
    for trace in output.grad_figure["data"]:
        if trace.get("mode") == "lines":
            charts[GRAD_CHART].append(step_series(trace["name"], trace["meta"], figures.decoded(trace["y"]), steps))
    for key in SURFACE_KEYS:
        path = output.paths[key]["data"][0]
        for chart, axis in zip(PATH_CHARTS, ("x", "y"), strict=True):
            charts[chart].append(step_series(registry.get(key).label, key, figures.decoded(path[axis]), steps))
    return {title: {"data": traces, "layout": {"title": {"text": title}, "xaxis": {"title": {"text": "step t"}}}}
            for title, traces in charts.items()}


def step_series(name: str, meta: str, values: np.ndarray, steps: int) -> dict:
    """A curve over t = 0..T (x0 = 0, dx = 1): the drawn values, then NaN where nothing is drawn."""
    padded = np.full(steps + 1, np.nan)
    padded[: values.size] = values
    return {"type": "scatter", "mode": "lines", "name": name, "meta": meta, "x0": 0, "dx": 1,
            "y": figures.typed_array(padded)}


def code_snippet(title: str, state: ViewState, keys: tuple[str, ...]) -> str:
    """A program that recomputes every column of the CSV with :mod:`losslab.training`."""
    numbers = state.numbers
    steps = int(numbers["steps"])
    target, params = float(numbers["label"]), {"gamma": float(numbers["gamma"])}
    quantity = "probability" if state.trajectory == "prob" else "logit"
    lines = [
        "import numpy as np",
        "from losslab import training",
        "",
        f"# {title}: gradient descent on one logit for each loss (part 1) and on logistic regression's (w, b)",
        "# (part 2). Every column runs over the steps t = 0..T; a diverged run is NaN after its step of divergence.",
        f"steps = {steps}",
        "x = np.arange(steps + 1, dtype=np.float64)  # the step t",
        "",
        "",
        "def shown(values, diverged_at):",
        '    """What a chart draws: the values up to the step of divergence, NaN after it and where not finite."""',
        "    values = np.array(values, dtype=np.float64)",
        "    if diverged_at is not None:",
        "        values[diverged_at + 1:] = np.nan",
        "    return np.where(np.isfinite(values), values, np.nan)",
        "",
        "",
        "columns = {}",
        f"target, params = {target!r}, {params!r}",
        f"runs = training.descend_logit({list(keys)!r}, start={float(numbers['start'])!r}, target=target,",
        f"                              learning_rate={float(numbers['lr'])!r}, steps=steps, params=params)",
        "for run in runs:",
        f"    columns[{trajectory_chart(state.trajectory) + ': '!r} + run.label] = shown(run.{quantity}, run.diverged_at)",
        "for run in runs:",
        f"    columns[{LOSS_CHART + ': '!r} + run.label] = shown(run.loss, run.diverged_at)",
        "for run in runs:",
        f"    columns[{GRAD_CHART + ': '!r} + run.label] = shown(run.grad_norm, run.diverged_at)",
    ]
    if state.check == "on":
        lines += [
            "for run in runs:  # the gradient check: dL/dz against a central difference of the loss at each z_t",
            "    check = training.gradient_check(run, target=target, params=params)",
            f"    columns[{GRAD_CHART + ': '!r} + run.label + ' (finite difference)'] = shown(",
            "        np.abs(check.finite_difference), run.diverged_at)",
            "    print('#', run.label, 'largest relative difference:', check.relative_difference)",
        ]
    lines += [
        f"dataset = training.make_dataset(points={int(numbers['points'])}, separation={float(numbers['separation'])!r}, "
        f"label_noise={float(numbers['noise'])!r}, seed={int(numbers['seed'])})",
        f"paths = training.descend_parameters(dataset, {list(SURFACE_KEYS)!r}, "
        f"start=({float(numbers['w0'])!r}, {float(numbers['b0'])!r}),",
        f"                                    learning_rate={float(numbers['lr'])!r}, steps=steps)",
        "for path in paths:",
        f"    columns[{PATH_CHARTS[0] + ': '!r} + path.label] = shown(path.w, path.diverged_at)",
        "for path in paths:",
        f"    columns[{PATH_CHARTS[1] + ': '!r} + path.label] = shown(path.b, path.diverged_at)",
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- page parts


def playback_bar(bar_id: str, steps: int, graph_ids: tuple[str, ...], what: str) -> html.Div:
    """Play, Pause, Step and a step slider for some charts; ``assets/training.js`` does the rest in the browser."""
    def button(action: str, text: str, label: str) -> html.Button:
        return layout.with_attributes(
            html.Button(text, id=IDS.playback_part(bar_id, action), className="playback-button", type="button",
                        title=label), {"data-action": action, "aria-label": label})

    return layout.with_attributes(html.Div(
        id=bar_id,
        className="playback",
        role="group",
        children=[
            button("play", "▶ Play", f"Play {what} from the start"),
            button("pause", "Pause", "Pause"),
            button("step", "Step ▸", "One step forward"),
            dcc.Input(id=IDS.playback_part(bar_id, "slider"), type="range", min=0, max=steps, step=1, value=steps,
                      className="playback-slider", debounce=False),
            html.Output(f"step {steps} of {steps}", id=IDS.playback_part(bar_id, "label"),
                        className="playback-label"),
        ],
    ), {"aria-label": f"Playback of {what}", "data-graphs": " ".join(graph_ids)})


def update_rule_markdown() -> str:
    return (
        "**Gradient descent** on the unreduced loss, the same rule for every loss\n\n"
        "$$\nz_{t+1} = z_t - \\eta\\,\\frac{\\partial \\ell}{\\partial z}(z_t, y),\\qquad z_0 = "
        "\\operatorname{logit}(\\hat p_0)\n$$\n\n"
        "and for logistic regression $\\hat p_i = \\sigma(w x_i + b)$ on the mean loss\n\n"
        "$$\n(w, b)_{t+1} = (w, b)_t - \\eta\\,\\frac1n\\sum_i \\frac{\\partial \\ell}{\\partial z}"
        "(w_t x_i + b_t, y_i)\\,(x_i, 1)\n$$"
    )


VIEW = TrainingView()
