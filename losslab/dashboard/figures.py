"""Plotly figures from curve arrays, as plain dicts (no Dash, no ``go.Figure``).

Building dicts directly is several times faster than validating
``go.Figure`` objects on every request. Arrays travel as Plotly typed
arrays (base64 ``bdata``), and sweeps as ``x0``/``dx`` instead of x arrays,
so moving a curve costs a few bytes.

Trace roles are in ``meta``: a loss key for a curve, ``"marker"`` for the
current-prediction points, so updates can find them by role, not position.
"""

from __future__ import annotations

import base64
import math
import weakref
from collections.abc import Sequence

import numpy as np

from losslab.dashboard.curves import Curve, PointValues

# Okabe-Ito's hues, each at least 3:1 against the chart's background in both themes (WCAG 1.4.11,
# non-text contrast; tests/dashboard/test_figures.py computes the ratios): Okabe-Ito's orange
# (#E69F00), sky blue (#56B4E9) and yellow (#F0E442) are 2.3, 2.3 and 1.3 to 1 on white, so they are
# darker here (brown, cerulean, ochre), picked so that no two colours come closer than 10 (CIELAB
# distance) in normal vision or under simulated protanopia, deuteranopia or tritanopia (Okabe-Ito's
# closest pair is 16). Black is kept for the light theme; assets/losslab.css draws it as
# DARK_SERIES_BLACK in the dark theme.
PALETTE = ("#0072B2", "#9F6A28", "#009E73", "#CC79A7", "#D55E00", "#009BD1", "#A78E2A", "#000000")
DARK_SERIES_BLACK = "#C8CCD2"
# One dash per palette colour, so a series never depends on its colour alone.
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot", "2px,5px", "12px,4px,2px,4px,2px,4px")
# Neutral grey: no loss's palette colour, so the marker never reads as one of the curves.
MARKER_COLOR = "#7F7F7F"
# The gradient check's finite-difference overlay: a grey with 3:1 contrast on both themes' charts.
CHECK_COLOR = "#767676"
TRUE_CLASS_COLOR = PALETTE[2]
SWEPT_OUTLINE_COLOR = PALETTE[4]
FONT = {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 14}
GRID_COLOR = "rgba(128,128,128,0.25)"
# Below the plot area: the x tick labels and the x-axis title (AXIS_ROOM), then the legend (one row
# is LEGEND_ROW tall at FONT's size, padding included). When the legend wraps into more rows,
# assets/losslab.js (fitLegend, with the same AXIS_ROOM) sets the bottom margin to AXIS_ROOM plus
# the drawn legend's height.
AXIS_ROOM = 70
LEGEND_ROW = 32


def typed_array(values: np.ndarray, dtype: str = "<f8") -> dict:
    """An array as a Plotly typed array (base64 ``bdata``): float64 by default, 8 bytes a point, exact."""
    data = np.ascontiguousarray(values, dtype=dtype)
    return {"dtype": np.dtype(dtype).str.lstrip("<>|="), "bdata": base64.b64encode(data.tobytes()).decode("ascii")}


def decoded(typed: dict) -> np.ndarray:
    """The array a :func:`typed_array` dict holds."""
    return np.frombuffer(base64.b64decode(typed["bdata"]), dtype="<" + typed["dtype"])


def style_for(key: str, order: Sequence[str]) -> dict:
    """A loss keeps its colour and dash wherever it appears (its place among its task's losses)."""
    index = list(order).index(key) if key in order else 0
    # Past the palette's length the dashes shift by one, so the ninth loss is not drawn as the first.
    dash = DASHES[(index + index // len(PALETTE)) % len(DASHES)]
    return {"color": PALETTE[index % len(PALETTE)], "dash": dash, "width": 2.5}


def curve_trace(curve: Curve, values: np.ndarray, order: Sequence[str]) -> dict:
    y, exact = plotted_values(values)
    return {
        "type": "scatter",
        "mode": "lines",
        "name": curve.label,
        "meta": curve.key,
        "x0": curve.grid.start,
        "dx": curve.grid.step,
        "y": y,
        "line": style_for(curve.key, order),
        "hovertemplate": "%{y:.4g}",
        **exact,
    }


# Encodings of the frozen arrays of cached curves (curves.py), by array identity: a curve revisited
# (a slider drag, the other losses on a parameter change) is not encoded again. An entry leaves
# with its array (a weak reference), so the cache never outgrows the curve caches.
_ENCODED: dict[int, tuple[weakref.ref, dict, dict]] = {}


def plotted_values(values: np.ndarray) -> tuple[dict, dict]:
    """``(typed_array(plottable(values)), exact_values(values))``, the y of a curve trace.

    Bit for bit those two calls: when every value is plottable (the usual case) the array is
    encoded as it is, without the copy :func:`plottable` makes. A read-only array that owns its
    data (a cached curve's: nothing can change it) is encoded once and its encoding kept.
    """
    frozen = (isinstance(values, np.ndarray) and values.dtype == np.float64 and values.base is None
              and not values.flags.writeable)
    if frozen:
        kept = _ENCODED.get(id(values))
        if kept is not None and kept[0]() is values:
            return kept[1], kept[2]
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):  # NaN is not plottable, and stays NaN
        inside = np.abs(values) <= PLOTTABLE_LIMIT
    if inside.all():
        encoded = typed_array(values), {}
    else:
        encoded = typed_array(np.where(inside, values, np.nan)), exact_values(values)
    if frozen:
        key = id(values)
        _ENCODED[key] = (weakref.ref(values, lambda _ref, key=key: _forget(key, _ref)), *encoded)
    return encoded


def _forget(key: int, ref: weakref.ref) -> None:
    kept = _ENCODED.get(key)
    if kept is not None and kept[0] is ref:
        del _ENCODED[key]


def marker_trace(x: float, ys: Sequence[float], labels: Sequence[str], axis_suffix: str = "") -> dict:
    # the readout gives every value; a marker past PLOTTABLE_LIMIT would break the whole chart
    finite = [(y, label) for y, label in zip(ys, labels, strict=True) if math.isfinite(y) and abs(y) <= PLOTTABLE_LIMIT]
    return {
        "type": "scatter",
        "mode": "markers",
        "name": "current prediction",
        "meta": "marker",
        "showlegend": False,
        "x": [x] * len(finite),
        "y": [y for y, _ in finite],
        "text": [label for _, label in finite],
        "xaxis": f"x{axis_suffix}",
        "yaxis": f"y{axis_suffix}",
        "marker": {"size": 11, "color": MARKER_COLOR, "symbol": "circle-open", "line": {"width": 3}},
        "hovertemplate": "%{text}: %{y:.4g}<extra>current</extra>",
    }


def marker_line(x: float, axis_suffix: str = "") -> dict:
    return {
        "type": "line",
        "xref": f"x{axis_suffix}",
        "yref": f"y{axis_suffix} domain",
        "x0": x,
        "x1": x,
        "y0": 0,
        "y1": 1,
        "line": {"color": MARKER_COLOR, "width": 1.5, "dash": "dot"},
    }


def curve_figure(
    curves: Sequence[Curve],
    quantity: str,
    *,
    x_title: str,
    y_title: str,
    title: str,
    order: Sequence[str],
    marker_x: float,
    marker_ys: Sequence[float],
    uirevision: str,
    panels: str = "overlay",
) -> dict:
    """Loss or gradient curves with the current-prediction marker.

    ``quantity`` names the Curve field to plot: ``"loss"``, ``"grad"`` or ``"grad_logit"``.
    ``panels="overlay"`` draws every curve on one pair of axes (then one marker
    trace, last); ``"columns"`` gives each curve its own subplot with its own y
    scale and a shared x axis, as in the chapter's BCE-versus-MSE figure (curves
    first, then one marker trace per subplot). Marker traces have ``meta="marker"``,
    curve traces the loss key.
    """
    if panels == "columns" and len(curves) > 1:
        return _column_figure(curves, quantity, x_title, y_title, title, order, marker_x, marker_ys, uirevision)
    traces = [curve_trace(c, getattr(c, quantity), order) for c in curves]
    traces.append(marker_trace(marker_x, marker_ys, [c.label for c in curves]))
    layout = curve_layout(title, x_title, y_title, uirevision, _grid_range(curves))
    layout["shapes"] = [marker_line(marker_x)]
    return {"data": traces, "layout": layout}


def _column_figure(curves, quantity, x_title, y_title, title, order, marker_x, marker_ys, uirevision) -> dict:
    count = len(curves)
    gap = 0.08
    layout = curve_layout(title, x_title, y_title, uirevision, _grid_range(curves))
    layout["showlegend"] = False
    layout["margin"]["b"] = 56
    traces, markers, shapes, annotations = [], [], [], []
    for index, (curve, marker_y) in enumerate(zip(curves, marker_ys, strict=True)):
        suffix = "" if index == 0 else str(index + 1)
        traces.append(curve_trace(curve, getattr(curve, quantity), order) | {"xaxis": f"x{suffix}", "yaxis": f"y{suffix}"})
        markers.append(marker_trace(marker_x, [marker_y], [curve.label], suffix))
        shapes.append(marker_line(marker_x, suffix))
        domain = [index / count + (gap / 2 if index else 0), (index + 1) / count - (gap / 2 if index < count - 1 else 0)]
        layout[f"xaxis{suffix}"] = layout["xaxis"] | {"domain": domain, "anchor": f"y{suffix}"}
        layout[f"yaxis{suffix}"] = layout["yaxis"] | {"anchor": f"x{suffix}"}
        if index:
            layout[f"xaxis{suffix}"]["matches"] = "x"
            layout[f"yaxis{suffix}"]["title"] = {"text": ""}
        # Tied to its panel's own domain, so the panel title follows when the browser re-grids panels.
        annotations.append({"text": f"<b>{curve.label}</b>", "showarrow": False, "xref": f"x{suffix} domain",
                            "yref": f"y{suffix} domain", "x": 0.5, "y": 1.0, "yanchor": "bottom",
                            "xanchor": "center"})
    layout["shapes"] = shapes
    layout["annotations"] = annotations
    layout["title"]["text"] = f"{title} (one panel per loss)"
    return {"data": traces + markers, "layout": layout}


def _grid_range(curves: Sequence[Curve]) -> list[float] | None:
    """The swept interval: autorange stays inside it, so markers' padding never shows p̂ > 1."""
    if not curves:
        return None
    grid = curves[0].grid
    return [grid.start, grid.start + grid.step * (grid.count - 1)]


def curve_layout(title: str, x_title: str, y_title: str, uirevision: str, x_range=None) -> dict:
    spikes = {"showspikes": True, "spikemode": "across", "spikethickness": 1, "spikedash": "dot",
              "spikecolor": "#777", "spikesnap": "hovered data"}
    return {
        "title": {"text": title, "x": 0.01, "xanchor": "left"},
        # hovered data: a partner chart hovered from script has no cursor, and would draw its spike at x = 0.
        "xaxis": {"title": {"text": x_title}, "gridcolor": GRID_COLOR, "zeroline": False, **spikes,
                  "hoverformat": ".4~g",
                  **({"autorangeoptions": {"minallowed": x_range[0], "maxallowed": x_range[1]}}
                     if x_range else {})},
        "yaxis": {"title": {"text": y_title}, "gridcolor": GRID_COLOR, "zerolinecolor": "rgba(128,128,128,0.6)"},
        "hovermode": "x",
        "uirevision": uirevision,
        "margin": {"l": 64, "r": 16, "t": 56, "b": AXIS_ROOM + LEGEND_ROW},
        # At the bottom of the whole figure, below the x-axis title (see AXIS_ROOM).
        "legend": {"orientation": "h", "x": 0, "y": 0, "yanchor": "bottom", "yref": "container"},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": FONT,
    }


def class_bar_figure(
    values: np.ndarray, title: str, y_title: str, true_class: int, swept_class: int, y_range=None
) -> dict:
    """One bar per class; the true class is highlighted and the swept class outlined."""
    classes = len(values)
    colors = [TRUE_CLASS_COLOR if k == true_class else PALETTE[0] for k in range(classes)]
    outline = [3 if k == swept_class else 0 for k in range(classes)]
    layout = {
        "title": {"text": title, "x": 0.01, "xanchor": "left",
                  "subtitle": {"text": "green bar: true class · outlined bar: swept logit"}},
        "xaxis": {"title": {"text": "class k"}, "tickmode": "array", "tickvals": list(range(classes)),
                  "ticktext": [_class_tick(k, true_class, swept_class) for k in range(classes)]},
        "yaxis": {"title": {"text": y_title}, "gridcolor": GRID_COLOR},
        "margin": {"l": 64, "r": 16, "t": 64, "b": 52},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": FONT,
        "uirevision": "classes",
        "showlegend": False,
    }
    if y_range is not None:
        layout["yaxis"]["range"] = list(y_range)
    bar = {
        "type": "bar",
        "x": list(range(classes)),
        "y": typed_array(plottable(values)),
        "marker": {"color": colors, "line": {"width": outline, "color": SWEPT_OUTLINE_COLOR}},
        "text": [_format(v) for v in values],
        "textposition": "outside",
        "cliponaxis": False,
        "hovertemplate": "class %{x}: %{y:.4g}<extra></extra>",
    }
    return {"data": [bar], "layout": layout}


def _class_tick(k: int, true_class: int, swept_class: int) -> str:
    roles = [role for role, index in (("true", true_class), ("swept", swept_class)) if index == k]
    return f"{k} ({', '.join(roles)})" if roles else str(k)


def readout_values(rows: Sequence[PointValues], quantity: str) -> list[float]:
    """The marker heights on a chart plotting ``quantity`` ('loss', 'grad' or 'grad_logit')."""
    field = {"loss": "loss", "grad": "grad_prediction", "grad_logit": "grad_logit"}[quantity]
    return [getattr(row, field) for row in rows]


# Plotly.js 4 draws nothing right on a linear axis once a value passes about 2e304 (its pixel and tick
# arithmetic overflows: NaN paths and console errors, the whole chart broken), a factor 20 above this.
PLOTTABLE_LIMIT = 1e303


def plottable(values: np.ndarray) -> np.ndarray:
    """Infinite values, and finite ones past PLOTTABLE_LIMIT, become NaN, which Plotly draws as a gap
    instead of failing to scale (the exact values travel beside them: :func:`exact_values`)."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):  # NaN stays NaN
        return np.where(np.abs(values) <= PLOTTABLE_LIMIT, values, np.nan)

# Plotly scales an axis by pixels / (top - bottom): a span under about 1e-305 overflows it ("Something
# went wrong with axis scaling", an empty chart), e.g. /training's losses from p̂₀ = 1e-310 on the label's
# side, /robust's Huber pulls at δ = 5e-324. Such an axis gets a range of this size; hover gives each value.
SMALLEST_AXIS_SPAN = 1e-300


def tiny_axis_range(arrays, also=()) -> list[float] | None:
    """``[low, high]`` for an axis whose finite values (in ``arrays`` and ``also``) all lie within
    ±SMALLEST_AXIS_SPAN and are not all 0, else None (Plotly's autorange scales it)."""
    values = np.concatenate([np.asarray(also, dtype=np.float64).ravel(),
                             *(np.asarray(a, dtype=np.float64).ravel() for a in arrays)])
    values = values[np.isfinite(values)]
    if not values.size or not np.any(values) or np.max(np.abs(values)) >= SMALLEST_AXIS_SPAN:
        return None
    return [-SMALLEST_AXIS_SPAN if values.min() < 0 else 0.0, SMALLEST_AXIS_SPAN if values.max() > 0 else 0.0]


def y_values(traces: list[dict], axis: str | None = None) -> list[np.ndarray]:
    """The y arrays of ``traces`` (typed arrays decoded); with ``axis`` ("y", "y2", ...) only those drawn on it."""
    return [decoded(t["y"]) if isinstance(t["y"], dict) else np.asarray(t["y"], dtype=np.float64)
            for t in traces if t.get("y") is not None and (axis is None or t.get("yaxis", "y") == axis)]


def scalable_y(figure: dict, also=()) -> dict:
    """``figure`` (one y axis) with :func:`tiny_axis_range`'s range when all its y values are that small, and
    ``autorange`` set either way."""
    span = tiny_axis_range(y_values(figure["data"]), also)
    yaxis = figure["layout"].setdefault("yaxis", {})
    if span is not None:
        yaxis["range"], yaxis["autorange"] = span, False
    else:  # said outright, so a Patch hands an axis that was tiny back to autorange (callbacks.figure_update)
        yaxis["autorange"] = True
    return figure


def _format(value: float) -> str:
    return f"{value:.3f}" if math.isfinite(value) else str(value)


def exact_values(values: np.ndarray) -> dict:
    """``{"unplotted": {"index": [...], "value": [...]}}`` for the values :func:`plottable` leaves out
    (±inf, and finite ones past PLOTTABLE_LIMIT), else ``{}``.

    The plotted ``y`` has NaN there (a gap), but the CSV must hold the core's numbers, not a NaN it never
    computed (``export.curve_columns`` puts them back, see :func:`exact_trace_values`), and a symmetric-log
    axis can draw the finite ones. The values travel as ``repr`` text ("inf", "-1e+306"): nothing sent to
    the browser is an infinite number, and an ordinary curve carries nothing more. Plotly ignores the key.
    """
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        where = np.flatnonzero(np.abs(values) > PLOTTABLE_LIMIT)
    if not where.size:
        return {}
    return {"unplotted": {"index": where.tolist(), "value": [repr(float(v)) for v in values[where]]}}


def with_y_scale(figure: dict, scale: str, quantity: str) -> dict:
    """The figure with a log y axis (``quantity="loss"``) or a symmetric-log one (gradients), for
    ``scale="log"``; unchanged for ``"linear"``.

    Plotly has no symmetric-log axis, so gradients are drawn as
    :math:`\\operatorname{sign}(y)\\,(1 + \\log_{10}(|y|/\\tau))` beyond a threshold τ (and
    :math:`y/\\tau` inside it), with ticks labelled in the original values and the exact value in
    each hover (``customdata``). τ is the power of ten at or below the smallest non-zero |y|
    drawn (at least 1e-300), so the tails that decay like e^(−z) stay visible.
    """
    if scale != "log":
        return figure
    axes = [key for key in figure["layout"] if key.startswith("yaxis")]
    if quantity == "loss":
        for key in axes:
            figure["layout"][key] = figure["layout"][key] | {"type": "log", "exponentformat": "power"}
        for trace in figure["data"]:
            if trace.get("unplotted") and isinstance(trace["y"], dict):  # 1e306 is fine on a log axis
                exact = exact_trace_values(trace)
                trace["y"] = typed_array(np.where(np.isfinite(exact), exact, np.nan))
        return figure
    values = [exact_trace_values(trace) for trace in figure["data"]]
    # τ from the curves only, so a moved marker (sent alone) never needs other ticks.
    curve_values = [v for v, t in zip(values, figure["data"], strict=True) if isinstance(t["y"], dict) and v.size]
    magnitudes = np.abs(np.concatenate(curve_values or [np.zeros(1)]))
    positive = magnitudes[np.isfinite(magnitudes) & (magnitudes > 0)]
    tau = 10.0 ** math.floor(math.log10(max(positive.min(), 1e-300))) if positive.size else 1.0
    # in logs: max/τ overflows for gradients from 1e-300 to 1e300 (a counts rate typed near 0)
    top = math.ceil(math.log10(positive.max()) - math.log10(tau)) if positive.size else 1
    for trace, original in zip(figure["data"], values, strict=True):
        finite = np.where(np.isfinite(original), original, np.nan)  # a gap where the value is ±inf
        shown = symlog(finite, tau)  # past PLOTTABLE_LIMIT too: 1e306 is drawn at 1 + 306 - log10(τ)
        if isinstance(trace["y"], dict):
            trace["y"] = typed_array(shown)
            trace["customdata"] = typed_array(finite)  # exact for hover and CSV (±inf: "unplotted")
            trace["hovertemplate"] = "%{customdata:.4g}"
        else:
            trace["y"] = shown.tolist()
            trace["customdata"] = original.tolist()
            trace["hovertemplate"] = "%{text}: %{customdata:.4g}<extra>current</extra>"
    ticks = _symlog_ticks(tau, top)
    for key in axes:
        figure["layout"][key] = figure["layout"][key] | {"tickmode": "array", "tickvals": [t for t, _ in ticks],
                                                         "ticktext": [text for _, text in ticks]}
    return figure


def symlog(values: np.ndarray, tau: float) -> np.ndarray:
    """sign(y)(1 + log10(|y|/τ)) for |y| ≥ τ, y/τ inside: continuous, odd and monotone."""
    values = np.asarray(values, dtype=np.float64)
    size = np.abs(values)
    # Each branch is computed everywhere and the other's values are dropped: the outside one sees 0 (log10)
    # and the inside one |y| near 1e300 over τ near 1e-300 (overflow). log10(|y|) - log10(τ), not
    # log10(|y|/τ), so the values kept never overflow.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        outside = np.sign(values) * (1.0 + (np.log10(size) - math.log10(tau)))
        inside = values / tau
    return np.where(size >= tau, outside, inside)


def _symlog_ticks(tau: float, top: int) -> list[tuple[float, str]]:
    every = max(1, math.ceil((top + 1) / 5))  # about five ticks a side
    powers = range(0, top + 1, every)
    lowest = round(math.log10(tau))  # exponents, not values: τ 10^k can pass 1e308 on the way to the top tick
    positive = [(1.0 + k, _power_text(lowest + k)) for k in powers]
    return [(-at, "−" + text) for at, text in reversed(positive)] + [(0.0, "0")] + positive


def _power_text(exponent: int) -> str:
    return f"1e{exponent}" if abs(exponent) >= 3 else f"{10.0**exponent:g}"


def exact_trace_values(trace: dict, values: np.ndarray | None = None) -> np.ndarray:
    """A trace's values as computed: ``values`` (default: its ``y``) with the values of :func:`exact_values`
    put back where the plotted values have gaps."""
    values = _trace_values(trace) if values is None else np.array(values, dtype=np.float64)
    unplotted = trace.get("unplotted")
    if unplotted:
        values[np.asarray(unplotted["index"], dtype=np.intp)] = [float(v) for v in unplotted["value"]]
    return values


def _trace_values(trace: dict) -> np.ndarray:
    y = trace["y"]
    return decoded(y).astype(np.float64) if isinstance(y, dict) else np.asarray(y, dtype=np.float64)


SMALLEST_NORMAL = float(np.finfo(np.float64).tiny)


def with_gradient_check(loss_figure: dict, grad_figure: dict) -> tuple[dict, dict[str, float | None]]:
    """The gradient chart with each loss's central finite difference of its loss curve laid over it
    (dotted, ``meta="fd:<key>"``), and per loss the largest misfit relative to the gradient curve's
    largest magnitude: a right gradient gives about 1e-6 or less, a kink between grid points a few
    percent, a wrong gradient order one. None where the gradient's largest magnitude is subnormal (or the
    ratio is past the float range): the check cannot compare at that scale.

    The difference :math:`(L_{i+1} - L_{i-1}) / (2\\,dx)` is exactly the mean of the gradient over
    :math:`[x_i - dx, x_i + dx]`, compared with Simpson's estimate of that mean,
    :math:`(g_{i-1} + 4 g_i + g_{i+1}) / 6`; it checks the gradient along the chart's own x axis. Both
    curves are taken as computed (:func:`exact_trace_values`), not as plotted (gaps past PLOTTABLE_LIMIT),
    so the overlay, and the CSV's column made from it, is the difference the shown code computes.
    """
    losses = {t["meta"]: t for t in loss_figure["data"] if t.get("mode") == "lines" and "dx" in t}
    checks: dict[str, float | None] = {}
    overlays = []
    for trace in grad_figure["data"]:
        loss = losses.get(trace.get("meta"))
        if loss is None or "dx" not in trace:
            continue
        values = exact_trace_values(loss)
        with np.errstate(invalid="ignore", over="ignore"):
            difference = (values[2:] - values[:-2]) / (2 * loss["dx"])
        full = exact_trace_values(trace, decoded(trace.get("customdata", trace["y"])).astype(np.float64))
        # The two-step difference is exactly the mean of the gradient over [x - dx, x + dx];
        # Simpson's rule gives that mean to O(dx^4), so a right gradient leaves only kinks visible.
        with np.errstate(invalid="ignore", over="ignore"):
            mean_gradient = (full[:-2] + 4 * full[1:-1] + full[2:]) / 6
        finite = np.isfinite(difference) & np.isfinite(mean_gradient)
        scale = np.max(np.abs(full[1:-1][finite]), initial=0.0)
        # A subnormal largest gradient has lost bits to underflow (misfit / scale overflowed at 5e-324),
        # a misfit of two finite values can overflow (1e308 and -1e308), and where no point has both a
        # finite difference and a finite mean nothing was compared: no comparison there.
        with np.errstate(invalid="ignore", over="ignore"):
            misfit = np.max(np.abs(difference[finite] - mean_gradient[finite]), initial=0.0)
            relative = float(misfit / scale) if scale else 0.0
        comparable = bool(finite.any()) and not 0 < scale < SMALLEST_NORMAL and math.isfinite(relative)
        checks[trace["meta"]] = relative if comparable else None
        # On the loss curve's own grid (NaN at the two ends), so a CSV keeps one x column.
        on_grid = np.concatenate(([np.nan], np.where(np.isfinite(difference), difference, np.nan), [np.nan]))
        y, exact = plotted_values(on_grid)
        overlay = {"type": "scatter", "mode": "lines", "name": f"{trace['name']} (finite difference)",
                   "meta": f"fd:{trace['meta']}", "x0": loss["x0"], "dx": loss["dx"],
                   "y": y, **exact, "showlegend": False,
                   "line": {"color": CHECK_COLOR, "width": 1.5, "dash": "dot"},
                   "hovertemplate": "finite difference %{y:.4g}<extra></extra>"}
        for axis in ("xaxis", "yaxis"):
            if axis in trace:
                overlay[axis] = trace[axis]
        overlays.append(overlay)
    if overlays and "customdata" in grad_figure["data"][0]:
        return grad_figure, checks  # a symmetric-log chart: the overlay would need the same transform
    markers = [t for t in grad_figure["data"] if t.get("meta") == "marker"]
    curves = [t for t in grad_figure["data"] if t.get("meta") != "marker"]
    grad_figure["data"] = curves + overlays + markers
    return grad_figure, checks
