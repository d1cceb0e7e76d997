"""The interface every view implements, and what the shared machinery reads from it.

A view is one module in this package holding one :class:`View` subclass
instance. It declares its path, title and controls, builds its figures and
readout from a :class:`~losslab.dashboard.url_state.ViewState` (pure
functions, no Dash callbacks), and says which outputs a control change
redraws. Routing, the callback wiring, URL encoding and the page shell
iterate over the registered views (``losslab.dashboard.views.VIEWS``) and
never ask which view they hold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from dash import html

from losslab import registry
from losslab.dashboard import controls, curves, export, figures, tables
from losslab.dashboard import ids as component_ids
from losslab.dashboard.url_state import ViewState, default_state, encode_query, parse_query


@dataclass(frozen=True)
class ReadoutTable:
    """Rows of (loss label, loss, dL/d prediction, dL/dz) at the current point.

    ``grad_label=None`` drops the dL/d prediction column and ``logit_grad_label=None``
    the dL/dz column, where they say nothing for the view.
    """

    prediction_label: str
    prediction_value: float
    grad_label: str | None
    rows: tuple[curves.PointValues, ...]
    logit_grad_label: str | None = "dL/dz"
    note: str = ""


@dataclass(frozen=True)
class ViewOutput:
    """What a view shows for one state. ``extras`` holds the view's own outputs
    (a lesson line, more charts...), also readable as attributes: ``output.lesson``."""

    loss_figure: dict
    grad_figure: dict
    readout: ReadoutTable | Any  # whatever the view's ``readout_component`` renders
    formulas: str
    query: str
    extras: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str):
        extras = self.__dict__.get("extras", {})
        if name in extras:
            return extras[name]
        raise AttributeError(f"ViewOutput has no {name!r}")


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


@dataclass(frozen=True)
class ExtraOutput:
    """A view-specific output: the component property it fills."""

    component_id: str
    prop: str = "children"


@dataclass(frozen=True)
class ClickAction:
    """What a click on one of the view's sweep charts changes.

    ``apply(click_data, *state_values)`` returns the new value of
    ``target_id.value`` (or ``dash.no_update``); ``state_ids`` are the
    component values it also reads.
    """

    target_id: str
    apply: Callable
    state_ids: tuple[str, ...] = ()


class View:
    """Base class of every view; subclasses set the class attributes and ``build``."""

    name: str
    path: str
    title: str
    introduction: str
    task: registry.Task
    numbers: tuple[controls.NumberControl, ...] = ()
    extras: tuple[controls.ExtraControl, ...] = ()
    default_losses: tuple[str, ...] = ()
    #: the view's own outputs, by the key its ``ViewOutput.extras`` (or ``output_values``) fills
    extra_outputs: ClassVar[dict[str, ExtraOutput]] = {}
    charts_class: str = "linked-charts"
    #: the navigation menu the view's link sits in ("" : a top-level link)
    nav_group: str = ""

    @property
    def nav_title(self) -> str:
        """The view's name in the navigation (its title unless a shorter one is set)."""
        return self.title
    #: False: the view compares no losses, so the page shows no "Losses to compare" checklist
    loss_checklist: bool = True

    @property
    def loss_keys(self) -> tuple[str, ...]:
        """The losses the view offers, in checklist order (its task's, unless it mixes tasks)."""
        return tuple(task_order(self.task))
    #: rows of the "choosing the loss" table: (task, output activation, loss, query string of the preset)
    chooser_rows: tuple[tuple[str, str, str, str], ...] = ()
    #: the extra controls are placed after this many number controls
    extras_position: int = 0

    @property
    def ids(self) -> component_ids.View:
        return component_ids.View(self.name)

    # ---- state ---------------------------------------------------------------
    def number(self, name: str) -> controls.NumberControl:
        return next(c for c in self.numbers if c.name == name)

    def default_state(self) -> ViewState:
        return default_state(self)

    def parse_query(self, search: str | None) -> ViewState:
        return parse_query(self, search)

    def encode_query(self, state: ViewState) -> str:
        return encode_query(state, self)

    def reconcile_link(self, state: ViewState) -> ViewState:
        """A state from a link whose values conflict with each other, made consistent (with a notice)."""
        return state

    #: number controls whose text box the server may rewrite (see ``reconcile_input``)
    corrected_controls: tuple[str, ...] = ()

    def reconcile_input(self, numbers: dict, extras: dict, triggered: frozenset[str]) -> tuple[dict, dict]:
        """``(numbers, notes)``: values made consistent after the controls in ``triggered`` changed
        (e.g. class indices moved when logits are removed), with a note per moved control."""
        return numbers, {}

    def idle_control_notes(self, state: ViewState, triggered: frozenset[str]) -> dict[str, str]:
        """A hint for each changed number control that changes nothing drawn (keyed by control name).

        A loss's hyperparameter (Huber's δ, focal's γ, ...) moves only that loss's curves: changed while
        none of its losses is drawn, it would look broken. The hint says which losses it belongs to and
        how to see them. Views add their own cases (a variable drawn only on another axis)."""
        drawn = set(self.plotted_losses(state))
        notes = {}
        for control in self.numbers:
            if control.name not in triggered:
                continue
            owners = [key for key in self.loss_keys
                      if any(parameter.name == control.name for parameter in registry.get(key).parameters)]
            if not owners or not drawn.isdisjoint(owners):
                continue
            names = " and ".join(registry.get(key).label for key in owners)
            if any(key in state.losses for key in owners):
                notes[control.name] = (f"{control.label} changes only {names}, which this view does not draw "
                                       "with the current settings.")
            else:
                notes[control.name] = (f"{control.label} changes only {names}: tick it under "
                                       "“Losses to compare” to see the change.")
        return notes

    def cross_check(self, numbers: dict, extras: dict, raw_numbers: dict) -> dict[str, str]:
        """Messages for controls that are valid alone but not together (keyed by control name);
        they replace the control's own message."""
        return {}

    # ---- what is shown -------------------------------------------------------
    def build(self, state: ViewState) -> ViewOutput:
        raise NotImplementedError

    def plotted_losses(self, state: ViewState) -> tuple[str, ...]:
        return state.losses

    def plan(self, previous: ViewState | None, state: ViewState) -> UpdatePlan:
        """Default plan: a new loss set replaces the traces; a changed parameter redraws its losses."""
        if previous is None or previous.view != state.view or previous.extras != state.extras:
            return UpdatePlan(full=True)
        if self.plotted_losses(previous) != self.plotted_losses(state):
            return UpdatePlan(full=False, replace_traces=True)
        changed = changed_numbers(previous, state)
        redraw = {key for key in state.losses for name in changed if name in registry.get(key).defaults()}
        return UpdatePlan(full=False, redraw=frozenset(redraw))

    def readout_component(self, output: ViewOutput) -> dict:
        """The readout below the charts, in wire form (a table of loss and gradients by default)."""
        return tables.readout_table(output.readout)

    def output_values(self, output: ViewOutput, plan: UpdatePlan) -> dict[str, Any]:
        """Values for ``extra_outputs``, in wire form; by default straight from ``output.extras``."""
        return {key: output.extras.get(key, "") for key in self.extra_outputs}

    # ---- motion ----------------------------------------------------------------
    #: sliders whose every position is precomputed, for a live drag and the ▶ sweep (see ``family``)
    motion_controls: tuple[str, ...] = ()

    def motion_figures(self, state: ViewState) -> dict[str, dict]:
        """The figures a slider moves, by graph id (the two sweep charts by default)."""
        output = self.build(state)
        return {self.ids.LOSS_GRAPH: output.loss_figure, self.ids.GRAD_GRAPH: output.grad_figure}

    # ---- getting results out ----------------------------------------------------
    def export_csv(self, state: ViewState) -> str:
        """The plotted curves as CSV (see ``export.curves_csv``)."""
        figures_by_graph = self.motion_figures(state)
        first = next(iter(figures_by_graph.values()))
        x_title = first["layout"].get("xaxis", {}).get("title", {}).get("text", "x")
        return export.curves_csv(self.title, self.encode_query(state), x_title,
                                 export.curve_columns(figures_by_graph))

    def code_snippet(self, state: ViewState, output: ViewOutput | None = None) -> str | None:
        """A short runnable Python program with the public losslab API that recomputes the CSV's
        columns: it defines ``x`` and ``columns`` (name -> array). None: the view offers no code.
        ``output``: the state's ``build()``, when the caller has it already."""
        return None

    def code(self, state: ViewState, output: ViewOutput | None = None) -> str | None:
        """"Show code": :meth:`code_snippet` ending by printing the table "Download CSV" writes (full
        precision), so the code run as a script shows the numbers; None: the view offers no code."""
        snippet = self.code_snippet(state, output)
        return None if snippet is None else snippet + export.PRINT_COLUMNS

    # ---- page ----------------------------------------------------------------
    def panels_above_charts(self, state: ViewState, output: ViewOutput) -> list:
        return []

    def panels_below_charts(self, state: ViewState, output: ViewOutput) -> list:
        return []

    def click_action(self) -> ClickAction | None:
        return None


def changed_numbers(previous: ViewState, state: ViewState) -> set[str]:
    return {name for name, value in state.numbers.items() if previous.numbers.get(name) != value}


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


def figure_pair(chart_curves, rows, order: Sequence[str], x_title: str, grad_title: str, marker_x: float,
                marker_grad: str, revision: str, panels: str = "overlay", scale: str = "linear",
                check: str = "off") -> tuple[dict, dict]:
    """Loss and gradient charts; ``marker_grad`` names the readout field matching the gradient's axis;
    ``scale="log"``: log loss axis, symmetric-log gradient axis."""
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
    if check == "on" and scale != "log":
        grad_figure, checks = figures.with_gradient_check(loss_figure, grad_figure)
        grad_figure["layout"]["meta"] = {"gradient_check": checks}
    return figures.with_y_scale(loss_figure, scale, "loss"), figures.with_y_scale(grad_figure, scale, "grad")


def gradient_check_note(grad_figure: dict, check: str) -> str:
    """The readout's line for the gradient check: the largest relative difference per loss."""
    if check != "on":
        return ""
    checks = grad_figure["layout"].get("meta", {}).get("gradient_check")
    if not checks:
        return "Gradient check: switch the y axis to linear to see it."
    labels = {t.get("meta"): t.get("name") for t in grad_figure["data"]}
    parts = ", ".join(f"{labels.get(key, key)} {value:.1e}" if value is not None
                      else f"{labels.get(key, key)} not compared (gradients too small, or too large, to compare)"
                      for key, value in checks.items())
    return f"Gradient check (largest |finite difference − gradient| / largest |gradient|): {parts}"


def gradient_check_code(state: ViewState, loss_title: str, grad_title: str, step: float) -> list[str]:
    """Snippet lines that add the gradient check's columns (with ``check=on``): each loss column's
    central difference on the same grid, NaN at the two ends, as ``figures.with_gradient_check`` draws it.
    ``step``: the grid's step (the snippet's ``x``); the snippet must have defined ``columns``."""
    if state.check != "on" or state.scale == "log":
        return []
    return [
        "# the gradient check: central differences of each loss column, (L[i+1] - L[i-1]) / (2 dx)",
        f"for name in [n for n in columns if n.startswith({loss_title + ': '!r})]:",
        "    L = np.asarray(columns[name], dtype=np.float64)",
        "    with np.errstate(invalid='ignore', over='ignore'):",
        "        fd = np.concatenate(([np.nan], (L[2:] - L[:-2]) / (2 * " + repr(step) + "), [np.nan]))",
        "    fd[~np.isfinite(fd)] = np.nan",
        f"    columns[{grad_title + ': '!r} + name[{len(loss_title) + 2}:] + ' (finite difference)'] = fd",
    ]


def task_order(task: registry.Task) -> list[str]:
    """A task's loss keys in registry order: each loss keeps its colour wherever it is drawn."""
    return [spec.key for spec in registry.for_task(task)]


def lesson_paragraph(component_id: str, text: str) -> html.P:
    return html.P(text, id=component_id, className="lesson", role="status")


# ---- motion: every slider position's curves, computed ahead for the browser -------------------


def family(view: View, state: ViewState, name: str) -> dict:
    """The sweep charts at every position of slider ``name``, the other controls as in ``state``.

    Built by the view's own ``motion_figures`` at each position's value (the value the text box
    would show), so a frame is exactly what the server draws after release. Only what varies is
    sent: per graph, the curve traces whose y (or x0/dx) change, as float32 rows (float32 keeps
    1e-7 relative, well inside the 1e-6 the charts promise; each distinct row once, ``row`` gives
    a frame's row), and
    the marker traces' x and y per frame. ``{"unsupported": reason}`` when the traces themselves
    change across positions (e.g. a loss hidden for soft labels).
    """
    if state.extras.get(controls.Y_SCALE.name) == "log":
        return {"view": view.name, "control": name, "unsupported": "log axes rescale with every frame"}
    control = view.number(name)
    positions = control.family_positions()
    frames = [view.motion_figures(state_with(state, name, control.value_at(p))) for p in positions]
    graphs = {}
    for graph_id in frames[0]:
        figures_at = [frame[graph_id] for frame in frames]
        metas = [[trace.get("meta") for trace in figure["data"]] for figure in figures_at]
        if any(m != metas[0] for m in metas):
            return {"view": view.name, "control": name, "unsupported": "the charts' traces change across the slider"}
        graphs[graph_id] = _varying_traces(figures_at)
    return {"view": view.name, "control": name, "query": view.encode_query(state), "positions": positions,
            "values": [control.value_at(p) for p in positions], "step": control.step, "graphs": graphs}


def state_with(state: ViewState, name: str, value: float) -> ViewState:
    return ViewState(state.view, {**state.numbers, name: value}, state.losses, state.extras)


def _varying_traces(figures_at: list[dict]) -> dict:
    curves, markers = [], []
    for index, trace in enumerate(figures_at[0]["data"]):
        traces = [figure["data"][index] for figure in figures_at]
        if trace.get("mode") == "markers":
            markers.append({"index": index, "x": [t["x"] for t in traces], "y": [t["y"] for t in traces]})
            continue
        ys = np.stack([figures.decoded(t["y"]) for t in traces])
        x0 = [t["x0"] for t in traces]
        dx = [t["dx"] for t in traces]
        if np.array_equal(ys, np.broadcast_to(ys[0], ys.shape), equal_nan=True) and len(set(x0)) == len(set(dx)) == 1:
            continue
        # Frames often repeat a curve (a sweep that only shifts): send each distinct row once.
        rows, row_of_frame = np.unique(ys.astype("<f4"), axis=0, return_inverse=True)
        curves.append({"index": index, "points": int(ys.shape[1]), "x0": x0, "dx": dx,
                       "row": row_of_frame.ravel().tolist(), "y": figures.typed_array(rows.ravel(), dtype="<f4")})
    return {"curves": curves, "markers": markers}


def grid_code(grid: curves.Grid, name: str = "x") -> str:
    """The line that rebuilds a sweep grid with the same float arithmetic as ``curves.Grid.values``."""
    return f"{name} = {grid.start!r} + {grid.step!r} * np.arange({grid.count}, dtype=np.float64)"


def chart_titles(output: ViewOutput) -> tuple[str, str]:
    return output.loss_figure["layout"]["title"]["text"], output.grad_figure["layout"]["title"]["text"]
