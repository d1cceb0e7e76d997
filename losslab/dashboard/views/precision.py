"""/precision: where naive formulas break, in float32 and float64, against an exact reference.

One pair of forms at a time (:data:`losslab.precision.PAIRS`), computed by NumPy in the
chosen dtype over ±|z| from ``zmin`` to ``zmax``. The loss-chart slot holds the value, the
gradient-chart slot the relative error against the exact value; both share a signed log x
axis (:class:`SignedLogAxis`). Breakpoints come from :func:`losslab.precision.sweep`: ✕ where
a form first returns inf, NaN or 0, ◆ where its relative error first passes 10⁻³, both on
the charts and, to the float, in the table below them.

Traces carry ``meta``: ``"exact"``, ``"<form>-<dtype>"`` (``"naive-float32"``) for a curve,
``"breaks-<form>-<dtype>"`` for its breakpoint markers, ``"threshold"`` for the 10⁻³ line.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import numpy as np
from dash import html

from losslab import precision
from losslab._validation import Interval
from losslab.dashboard import controls, figures, tables
from losslab.dashboard.url_state import ViewState
from losslab.dashboard.views.base import ExtraOutput, UpdatePlan, View, ViewOutput

NAME = "precision"
NOTE_ID = f"{NAME}-pair-note"
PAIR = controls.ChoiceControl(
    "pair", "Compare",
    (("log_sigmoid", "sigmoid → log vs log_sigmoid"), ("bce", "BCE from p̂ vs from z"),
     ("softmax", "naive vs stable softmax"), ("log_cosh", "naive vs stable log-cosh"),
     ("cross_entropy", "cross-entropy from p̂ vs from z")),
    "log_sigmoid",
)
DTYPE = controls.ChoiceControl(
    "dtype", "Arithmetic", (("both", "float32 and float64"), ("float32", "float32"), ("float64", "float64")), "both"
)
DTYPES_SHOWN = {"both": ("float32", "float64"), "float32": ("float32",), "float64": ("float64",)}
# 60 points a decade: 841 a side at the widest range; breakpoints are refined to the float anyway.
PER_DECADE = 60
# How each pair's value is drawn: axis type, the sign that makes it positive on a log axis, axis title.
VALUE_AXES = {
    "log_sigmoid": ("log", -1, "−log σ(z)"),
    "bce": ("log", 1, "BCE (y = 1)"),
    "softmax": ("linear", 1, "p̂₀"),
    "log_cosh": ("log", 1, "log cosh z"),
    "cross_entropy": ("log", 1, "CE (class 0)"),
}
FORM_COLORS = {"naive": figures.PALETTE[4], "stable": figures.PALETTE[0]}
DTYPE_DASHES = {"float32": "dash", "float64": "solid"}
EXACT_COLOR = figures.MARKER_COLOR
SYMBOLS = {"nonfinite": "x", "inaccurate": "diamond"}
# Errors below this (0 included, which a log axis cannot show) are drawn at it, as the chart title says;
# the extended-precision reference resolves about 1e-19 anyway.
ERROR_FLOOR = 1e-18
ERROR_RANGE = (-18.5, 1.5)  # log10: from below float64's half-ulp to just above "no digit right" (1)
UNIT_ROUNDOFF = {"float32": 2.0 ** -24, "float64": 2.0 ** -53}


class PrecisionView(View):
    name = NAME
    path = "/precision"
    title = "Precision"
    introduction = (
        "Where do the textbook formulas break? Pick a pair: a naive form and a stable one, both computed by "
        "NumPy in float32 and in float64 (real arithmetic, nothing simulated), over z from −10⁴ to 10⁴, "
        "against the exact value (a closed form in 80-bit extended precision). ✕ marks where a form first "
        "returns inf, NaN or 0; ◆ where its relative error first passes 10⁻³. The table gives each point "
        "to the float."
    )
    task = "binary"  # the page shell always draws a loss checklist; this view plots no registry loss
    default_losses = ("bce",)
    loss_checklist = False  # read by the page shell once it can leave the checklist out
    numbers = (
        controls.NumberControl("zmin", "Smallest |z|", 1e-3, Interval(1e-10, 1.0), -10.0, 0.0, 0.01, log_scale=True,
                               has_slider=False,
                               help="from 1e-10 to 1: the centre of the x axis joins −|z| and +|z| here"),
        controls.NumberControl("zmax", "Largest |z|", 1e4, Interval(10.0, 1e4), 1.0, 4.0, 0.01, log_scale=True,
                               help="from 10 to 10,000"),
    )
    extras = (PAIR, DTYPE)
    extras_position = 0
    extra_outputs: ClassVar = {"note": ExtraOutput(NOTE_ID)}
    charts_class = "linked-charts stacked"  # value above relative error, one x axis

    def build(self, state: ViewState) -> ViewOutput:
        pair = precision.get(state.pair)
        dtypes = DTYPES_SHOWN[state.dtype]
        zmin, zmax = state.number("zmin"), state.number("zmax")
        sweeps = tuple(cached_sweep(pair.key, dtype, zmin, zmax) for dtype in dtypes)
        axis = SignedLogAxis.of(zmin, zmax)
        revision = f"precision-{pair.key}-{controls.format_number(zmin)}-{controls.format_number(zmax)}"
        return ViewOutput(
            value_figure(pair, sweeps, cached_exact(pair.key, zmin, zmax), axis, revision),
            error_figure(pair, sweeps, axis, revision),
            BreakpointReadout(pair.key, dtypes, tuple(b for s in sweeps for b in s.breakpoints)),
            formulas_markdown(pair),
            self.encode_query(state),
            extras={"note": pair_note(pair)},
        )

    def plan(self, previous: ViewState | None, state: ViewState) -> UpdatePlan:
        return UpdatePlan(full=True)  # every control changes every curve: the charts are sent whole

    def motion_figures(self, state: ViewState) -> dict[str, dict]:
        """What Download CSV exports (the shared export reads a view's curves here; this view has no
        motion): the charts' curves against z itself, each as the core returned it (see :func:`export_figures`)."""
        return export_figures(self.ids, state)

    def code_snippet(self, state: ViewState, output: ViewOutput | None = None) -> str:
        return code_snippet(state)

    def readout_component(self, output: ViewOutput) -> dict:
        return breakpoint_table(output.readout)

    def panels_above_charts(self, state: ViewState, output: ViewOutput) -> list:
        return [html.P(output.note, id=NOTE_ID, className="lesson precision-note", role="status")]


@lru_cache(maxsize=32)
def cached_sweep(pair: str, dtype: str, zmin: float, zmax: float) -> precision.Sweep:
    """The core's sweep of one pair in one dtype (pure: the same input always gives the same sweep)."""
    return precision.sweep(pair, dtype, precision.magnitude_grid(zmin, zmax, PER_DECADE))


@lru_cache(maxsize=32)
def cached_exact(pair: str, zmin: float, zmax: float) -> tuple[np.ndarray, np.ndarray]:
    """(z, the exact value rounded to float64) on the float64 grid: the exact curve, whatever dtypes are shown."""
    z = precision.signed_grid(precision.magnitude_grid(zmin, zmax, PER_DECADE))
    with np.errstate(over="ignore", under="ignore"):  # beyond float64's range: inf or 0, as float64 holds it
        return z, precision.get(pair).exact(z).astype(np.float64)


# ---------------------------------------------------------------- the x axis


@dataclass(frozen=True)
class SignedLogAxis:
    """z on a signed log scale: x = sign(z) (log10(|z| / zmin) + step/2).

    The left half is z < 0 and the right half z > 0, each decade of |z| equally wide; the
    centre, x = 0, stands for the interval (−zmin, zmin), squeezed into one grid step. With the
    half-step offset the grid of :func:`losslab.precision.signed_grid` is evenly spaced in x,
    so a curve travels as ``x0``/``dx``.
    """

    zmin: float
    zmax: float
    count: int  # grid points a side

    @classmethod
    def of(cls, zmin: float, zmax: float) -> SignedLogAxis:
        return cls(zmin, zmax, precision.magnitude_grid(zmin, zmax, PER_DECADE).size)

    @property
    def decades(self) -> float:
        return math.log10(self.zmax / self.zmin)

    @property
    def step(self) -> float:
        return self.decades / (self.count - 1)

    @property
    def x0(self) -> float:
        return -(self.decades + self.step / 2)

    def x_of(self, z: float) -> float:
        return math.copysign(math.log10(abs(z) / self.zmin) + self.step / 2, z)

    def ticks(self) -> tuple[list[float], list[str]]:
        """Decades of |z| on both sides (every ``stride``-th when there are many) and ±zmin at the centre."""
        low, high = math.log10(self.zmin), math.log10(self.zmax)
        stride = max(1, math.ceil((math.floor(high) - math.ceil(low)) / 4))
        values, texts = [0.0], [f"±{power_text(self.zmin)}"]
        decade = math.floor(high)
        while decade - low >= 0.75 * stride:
            x = decade - low + self.step / 2
            values += [-x, x]
            texts += [f"−{power_text(10.0 ** decade)}", power_text(10.0 ** decade)]
            decade -= stride
        return values, texts

    def layout(self) -> dict:
        values, texts = self.ticks()
        reach = self.decades + self.step
        # short enough for a phone's chart (the ticks already say which side is negative)
        title = f"z on a signed log scale (−{power_text(self.zmin)} and {power_text(self.zmin)} meet at the centre)"
        return {"title": {"text": title}, "tickmode": "array", "tickvals": values, "ticktext": texts,
                "range": [-reach, reach], "zeroline": False,
                "autorangeoptions": {"minallowed": -reach, "maxallowed": reach}}


def power_text(value: float) -> str:
    """10⁻³ as '10<sup>-3</sup>', 0.01 to 1000 as plain numbers, anything else with 3 significant digits."""
    exponent = math.log10(value)
    if abs(exponent - round(exponent)) > 1e-9:
        return f"{value:.3g}"
    exponent = round(exponent)
    return f"{10.0 ** exponent:g}" if -2 <= exponent <= 3 else f"10<sup>{exponent}</sup>"


# ---------------------------------------------------------------- figures


def typed(values: np.ndarray, drawn: bool = True) -> dict:
    """A float32 or float64 array as a Plotly typed array in its own precision; ``drawn``: inf sent as NaN
    (a gap: Plotly cannot scale to inf), else every value as it is."""
    values = np.asarray(values)
    dtype = "f4" if values.dtype == np.float32 else "f8"
    if drawn:
        values = np.where(np.isfinite(values), values, np.nan)
    data = np.ascontiguousarray(values, dtype=f"<{dtype}")
    return {"dtype": dtype, "bdata": base64.b64encode(data.tobytes()).decode("ascii")}


def plotted_values(values: np.ndarray, pair_key: str) -> np.ndarray:
    """The value as the chart draws it: signed to be positive (log axis), non-positive values on a log axis as NaN."""
    kind, sign, _ = VALUE_AXES[pair_key]
    with np.errstate(invalid="ignore"):  # inf - inf never occurs; NaN stays NaN
        shown = values * values.dtype.type(sign)
    if kind == "log":
        shown = np.where(shown > 0, shown, np.nan).astype(values.dtype)
    return shown


def curve(sweep: precision.Sweep, form: precision.Form, y: np.ndarray, axis: SignedLogAxis) -> dict:
    return {
        "type": "scatter", "mode": "lines", "name": f"{form.short} · {sweep.dtype}", "meta": f"{form.key}-{sweep.dtype}",
        "x0": axis.x0, "dx": axis.step, "y": typed(y),
        "line": {"color": FORM_COLORS[form.key], "dash": DTYPE_DASHES[sweep.dtype], "width": 2.5},
        "hovertemplate": "%{y:.7~g}",
    }


def exact_curves(pair: precision.Pair, exact: tuple[np.ndarray, np.ndarray], axis: SignedLogAxis) -> list[dict]:
    """The exact value, rounded to float64 for drawing (it stops where float64 can no longer hold it), and
    an invisible trace that puts z at the top of the hover box (the axis coordinate is not z)."""
    z, values = exact
    shown = typed(plotted_values(values, pair.key))
    return [
        {"type": "scatter", "mode": "markers", "name": "z", "meta": "z", "showlegend": False,
         "x0": axis.x0, "dx": axis.step, "y": shown, "customdata": figures.typed_array(z),
         "marker": {"size": 1, "opacity": 0}, "hovertemplate": "z = %{customdata:.7~g}<extra></extra>"},
        {"type": "scatter", "mode": "lines", "name": "exact", "meta": "exact", "x0": axis.x0, "dx": axis.step,
         "y": shown, "line": {"color": EXACT_COLOR, "dash": "dot", "width": 2}, "hovertemplate": "%{y:.7~g}"},
    ]


def breakpoint_markers(sweep: precision.Sweep, form: precision.Form, axis: SignedLogAxis, y_of) -> dict:
    """One form's breakpoints in one dtype: ✕ first inf/NaN/0, ◆ relative error first above 10⁻³."""
    points = [b for b in sweep.breakpoints if b.form == form.key]
    ys = [y_of(b) for b in points]
    shown = [(b, y) for b, y in zip(points, ys, strict=True) if y is not None and math.isfinite(y)]
    open_suffix = "-open" if sweep.dtype == "float32" else ""
    return {
        "type": "scatter", "mode": "markers", "name": f"{form.label} · {sweep.dtype}: breakpoints",
        "meta": f"breaks-{form.key}-{sweep.dtype}", "showlegend": False,
        "x": [axis.x_of(b.z) for b, _ in shown], "y": [y for _, y in shown],
        "text": [breakpoint_text(b) for b, _ in shown],
        "marker": {"symbol": [SYMBOLS[b.kind] + open_suffix for b, _ in shown], "size": 13,
                   "color": FORM_COLORS[form.key], "line": {"width": 2, "color": FORM_COLORS[form.key]}},
        # The unified hover box would list every marker trace's nearest point, however far: the
        # table below the charts says the same to the float.
        "hoverinfo": "skip",
    }


def value_figure(pair: precision.Pair, sweeps, exact, axis: SignedLogAxis, revision: str) -> dict:
    kind, sign, title = VALUE_AXES[pair.key]

    def marker_y(b: precision.Breakpoint) -> float | None:
        value = b.last_good_value if b.kind == "nonfinite" or not math.isfinite(b.value) else b.value
        shown = sign * value
        return shown if kind == "linear" or shown > 0 else None

    traces = exact_curves(pair, exact, axis)
    for sweep in sweeps:
        traces += [curve(sweep, form, plotted_values(sweep.values[form.key], pair.key), axis) for form in pair.forms]
    for sweep in sweeps:
        traces += [breakpoint_markers(sweep, form, axis, marker_y) for form in pair.forms]
    layout = chart_layout(f"{pair.quantity}: value", title, revision, axis,
                          "✕ first inf, NaN or 0 · ◆ relative error first above 10⁻³ · open: float32, filled: float64")
    layout["yaxis"] |= {"type": kind, "exponentformat": "power"}
    if kind == "linear":
        layout["yaxis"]["range"] = [-0.05, 1.05]
    layout["shapes"] = range_bands(sweeps, axis)
    layout["annotations"] = band_labels(sweeps, axis)
    return {"data": traces, "layout": layout}


def error_figure(pair: precision.Pair, sweeps, axis: SignedLogAxis, revision: str) -> dict:
    def marker_y(b: precision.Breakpoint) -> float:
        return precision.THRESHOLD if b.kind == "inaccurate" else 1.0

    traces = []
    for sweep in sweeps:
        for form in pair.forms:
            errors = np.maximum(sweep.errors[form.key], ERROR_FLOOR)
            traces.append(curve(sweep, form, errors, axis) | {"hovertemplate": "%{y:.3~g}"})
    for sweep in sweeps:
        traces += [breakpoint_markers(sweep, form, axis, marker_y) for form in pair.forms]
    layout = chart_layout(f"{pair.quantity}: relative error", "|v − exact| / |exact|", revision, axis,
                          "dashed: 10⁻³ · dotted: half an ulp of 1 · errors below 10⁻¹⁸ are drawn at 10⁻¹⁸")
    layout["yaxis"] |= {"type": "log", "range": list(ERROR_RANGE), "exponentformat": "power", "dtick": 3}
    lines = [level_line(precision.THRESHOLD, "10⁻³", "dash", 0.9)]
    lines += [level_line(UNIT_ROUNDOFF[s.dtype], f"{s.dtype} ½ulp", "dot", 0.45) for s in sweeps]
    layout["shapes"] = range_bands(sweeps, axis) + [line for line, _ in lines]
    layout["annotations"] = [note for _, note in lines]
    return {"data": traces, "layout": layout}


def chart_layout(title: str, y_title: str, revision: str, axis: SignedLogAxis, subtitle: str) -> dict:
    layout = figures.curve_layout(title, "", y_title, revision)
    layout["title"]["subtitle"] = {"text": subtitle, "font": {"size": 12}}
    layout["margin"] |= {"t": 72, "r": 40, "l": 80}  # room for 10⁻³¹² tick labels and the y title
    layout["xaxis"] |= axis.layout()
    layout["hovermode"] = "x unified"
    # Only points under the cursor (the grid is denser than the pixels): a curve with a gap there (inf, NaN,
    # or 0 on a log axis) is left out of the box rather than shown with a neighbour's value.
    layout["hoverdistance"] = 1
    # The unified box's title would be the x coordinate, which is not z: the exact curve's row gives z.
    layout["xaxis"]["unifiedhovertitle"] = {"text": "at the cursor"}
    return layout


def level_line(y: float, label: str, dash: str, opacity: float) -> tuple[dict, dict]:
    line = {"type": "line", "xref": "x domain", "yref": "y", "x0": 0, "x1": 1, "y0": y, "y1": y,
            "line": {"color": f"rgba(128,128,128,{opacity})", "width": 1.5, "dash": dash}}
    note = {"text": label, "xref": "x domain", "yref": "y", "x": 1, "y": math.log10(y), "xanchor": "right",
            "yanchor": "bottom", "showarrow": False, "font": {"size": 11, "color": "rgba(128,128,128,1)"}}
    return line, note


def range_bands(sweeps, axis: SignedLogAxis) -> list[dict]:
    """Grey bands where the exact value itself cannot be held in a dtype to 10⁻³ (overflow, underflow)."""
    bands = []
    for sweep in sweeps:
        bands += [band for band, _ in dtype_bands(sweep, axis, 0)]
    return bands


def band_labels(sweeps, axis: SignedLogAxis) -> list[dict]:
    """'beyond float32' over each band (float64's a little lower, so the two never overlap)."""
    return [label for row, sweep in enumerate(sweeps) for _, label in dtype_bands(sweep, axis, row)]


def dtype_bands(sweep, axis: SignedLogAxis, row: int) -> list[tuple[dict, dict]]:
    """(band shape, its label) for each run of the grid where the exact value is beyond the sweep's dtype."""
    bands = []
    outside = ~sweep.representable
    edges = np.flatnonzero(np.diff(np.concatenate([[0], outside.astype(np.int8), [0]])))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        x0 = axis.x0 + (int(start) - 0.5) * axis.step
        x1 = axis.x0 + (int(stop) - 0.5) * axis.step
        band = {"type": "rect", "xref": "x", "yref": "y domain", "x0": x0, "x1": x1, "y0": 0, "y1": 1,
                "fillcolor": "rgba(128,128,128,0.12)", "line": {"width": 0}, "layer": "below",
                "name": f"beyond {sweep.dtype}"}
        # Labelled at the band's outer end, inside it: the bands of both dtypes share that end.
        label = {"text": f"beyond {sweep.dtype}", "xref": "x", "yref": "y domain", "x": x1 if x0 > 0 else x0,
                 "y": 1 - 0.08 * row, "xanchor": "right" if x0 > 0 else "left", "yanchor": "top",
                 "showarrow": False, "font": {"size": 11, "color": "rgba(128,128,128,1)"}}
        bands.append((band, label))
    return bands


# ---------------------------------------------------------------- getting the numbers out


EXPORT_X_TITLE = "z (float32 columns: computed at z rounded to float32)"


def export_figures(view_ids, state: ViewState) -> dict[str, dict]:
    """The two charts' curves for the CSV: x is z (the float64 grid), y what the core returned (inf, NaN and
    0 included, log σ not negated) and the relative errors uncapped by the axis. :func:`code_snippet` recomputes
    the same columns from the public API."""
    pair = precision.get(state.pair)
    zmin, zmax = state.number("zmin"), state.number("zmax")
    z, exact = cached_exact(pair.key, zmin, zmax)
    x = figures.typed_array(z)

    def column(name: str, meta: str, values: np.ndarray) -> dict:
        return {"type": "scatter", "mode": "lines", "name": name, "meta": meta, "x": x, "y": typed(values, drawn=False)}

    value = [column("exact", "exact", exact)]
    error = []
    for dtype in DTYPES_SHOWN[state.dtype]:
        sweep = cached_sweep(pair.key, dtype, zmin, zmax)
        for form in pair.forms:
            name, meta = f"{form.short} · {dtype}", f"{form.key}-{dtype}"
            value.append(column(name, meta, sweep.values[form.key]))
            error.append(column(name, meta, sweep.errors[form.key]))

    def chart(title: str, traces: list[dict]) -> dict:
        return {"data": traces, "layout": {"title": {"text": title}, "xaxis": {"title": {"text": EXPORT_X_TITLE}}}}

    return {view_ids.LOSS_GRAPH: chart(f"{pair.quantity}: value", value),
            view_ids.GRAD_GRAPH: chart(f"{pair.quantity}: relative error", error)}


def code_snippet(state: ViewState) -> str:
    """A runnable program on the public API that recomputes the CSV's columns (``x`` and ``columns``)."""
    pair = precision.get(state.pair)
    zmin, zmax = state.number("zmin"), state.number("zmax")
    return f"""import numpy as np
from losslab import precision

pair = precision.get({pair.key!r})  # {pair.label}
x = precision.signed_grid(precision.magnitude_grid({zmin!r}, {zmax!r}, {PER_DECADE}))  # z, float64
columns = {{"{pair.quantity}: value: exact": pair.exact(x).astype(np.float64)}}  # exact (np.longdouble), rounded
errors = {{}}
for dtype in {DTYPES_SHOWN[state.dtype]!r}:
    z = x.astype(dtype)  # the form runs in this dtype
    exact = pair.exact(z)
    for form in pair.forms:
        values = form.function(z)
        columns[f"{pair.quantity}: value: {{form.short}} · {{dtype}}"] = values
        errors[f"{pair.quantity}: relative error: {{form.short}} · {{dtype}}"] = precision.relative_error(values, exact)
columns.update(errors)
"""


# ---------------------------------------------------------------- text


def breakpoint_text(b: precision.Breakpoint) -> str:
    """One breakpoint in words: 'naive, float64: returns -inf from z = -709.7827'."""
    form = precision.get(b.pair).form(b.form).label
    where = breakpoint_place(b)
    what = f"returns {b.what}" if b.kind == "nonfinite" else "relative error above 10⁻³"
    text = f"{form}, {b.dtype}: {what} {where}"
    if b.kind == "inaccurate" and math.isfinite(b.relative_error):
        text += f" (there {b.relative_error:.5g}, returns {b.what})"
    if b.unavoidable:
        text += f"; unavoidable: no {b.dtype} is within 10⁻³ of the exact value"
    return text


def breakpoint_place(b: precision.Breakpoint) -> str:
    if b.edge == "outer":
        return f"from z = {b.z:.7g}"
    if b.edge == "inner":
        return f"at |z| ≤ {abs(b.z):.7g}"
    return "at every |z| shown"


def cell_text(points) -> str:
    """A table cell: where a form fails, or that it does not in the range shown."""
    if not points:
        return "none in range"
    texts = []
    for b in points:
        text = f"{b.what} {breakpoint_place(b)}" if b.kind == "nonfinite" else breakpoint_place(b)
        texts.append(text + (" (unavoidable)" if b.unavoidable else ""))
    return "; ".join(texts)


COLUMNS = ((-1, "nonfinite", "z < 0: inf, NaN or 0"), (-1, "inaccurate", "z < 0: error > 10⁻³"),
           (1, "nonfinite", "z > 0: inf, NaN or 0"), (1, "inaccurate", "z > 0: error > 10⁻³"))


@dataclass(frozen=True)
class BreakpointReadout:
    """What the table below the charts shows: every breakpoint of a pair's forms in the dtypes shown."""

    pair: str
    dtypes: tuple[str, ...]
    points: tuple[precision.Breakpoint, ...]


def breakpoint_table(readout: BreakpointReadout) -> dict:
    """A row per form and dtype; a column per side of 0 and kind of failure."""
    pair = precision.get(readout.pair)
    header = tables.element("Tr", [tables.element("Th", text) for text in ("form", *(c[2] for c in COLUMNS))])
    rows = []
    for dtype in readout.dtypes:
        for form in pair.forms:
            cells = [cell_text([b for b in readout.points
                                if (b.form, b.dtype, b.side, b.kind) == (form.key, dtype, side, kind)])
                     for side, kind, _ in COLUMNS]
            rows.append(tables.element("Tr", [tables.element("Td", f"{form.label} · {dtype}"),
                                              *(tables.element("Td", text) for text in cells)],
                                       data_form=form.key, data_dtype=dtype))
    caption = tables.element(
        "Caption",
        "Breakpoints, each to the float: ✕ first inf, NaN or 0 and ◆ relative error first above 10⁻³, "
        "going out from the range where the form works (|z| ≤ t: going in towards 0). "
        "Unavoidable: no float of that dtype is within 10⁻³ of the exact value there.",
    )
    return tables.element("Table", [caption, tables.element("Thead", header), tables.element("Tbody", rows)],
                          className="readout-table precision-table", id=f"{NAME}-breakpoints")


def pair_note(pair: precision.Pair) -> str:
    naive, stable = pair.forms
    return (f"{pair.input_note} Naive: {naive.code}. Stable: {stable.code}. Each is computed by NumPy in the "
            "dtype shown (float32 arithmetic for float32), and compared with the exact value at the same input.")


def formulas_markdown(pair: precision.Pair) -> str:
    naive, stable = pair.forms
    reference = ("80-bit extended precision (`np.longdouble`: a 64-bit significand and exponents to 10^±4932)"
                 if precision.EXTENDED else "float64 (this platform has no wider `np.longdouble`)")
    return "\n\n".join([
        f"**{pair.label}** — {pair.input_note}",
        f"Naive, {naive.label}: `{naive.code}`\n\n$$\n{naive.latex}\n$$",
        f"Stable, {stable.label}: `{stable.code}`\n\n$$\n{stable.latex}\n$$",
        f"Exact\n\n$$\n{pair.exact_latex}\n$$",
        f"The exact value is this closed form evaluated in {reference} at the input exactly as the form "
        "received it; the relative error is\n\n$$\n\\frac{|v - v^\\ast|}{|v^\\ast|}\n$$\n\n"
        "computed in the same precision. Grey bands: the exact value cannot be held to 10⁻³ in that dtype "
        "(it overflows, underflows to 0, or lies deep among the subnormals), so every form fails there.",
    ])


VIEW = PrecisionView()
