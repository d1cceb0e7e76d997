"""A typed change (issue 10) that only moves curves is drawn without Plotly.react's full redraw
(assets/losslab.js, drawMovedCurves): the new arrays go into the chart, Plotly recomputes what it
plots, and a relayout draws the axes again. What is drawn must still be the core's values, on axes
that hold them all and that a full redraw would give too.

Expected values come from losslab's functions, called here on the plotted x; "drawn" is Plotly's
calcdata (what it actually plots), not the figure the server sent.
"""

from __future__ import annotations

import numpy as np

import losslab

from .conftest import assert_close

LOSS, GRAD = "regression-loss-graph", "regression-grad-graph"
PROBS, CLASS_GRAD = "multiclass-probability-graph", "multiclass-class-grad-graph"

# Each trace as Plotly plots it: its meta and the (x, y) of every point; every axis's range.
DRAWN_JS = """
const plot = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
const full = plot._fullLayout;
return {
  traces: plot.calcdata.map((cd) => ({meta: cd[0].trace.meta === undefined ? null : cd[0].trace.meta,
                                       x: cd.map((p) => p.x), y: cd.map((p) => p.y)})),
  ranges: Object.fromEntries(Object.keys(full).filter((k) => /^[xy]axis\\d*$/.test(k))
                                                .map((k) => [k, [full[k].range[0], full[k].range[1]]])),
  shapes: (full.shapes || []).map((s) => [s.x0, s.x1]),
  shapePaths: Array.from(plot.querySelectorAll('.shapelayer path'), (p) => p.getAttribute('d')),
  lines: Array.from(plot.querySelectorAll('.scatterlayer .js-line'), (p) => p.getAttribute('d')),
  bars: Array.from(plot.querySelectorAll('.barlayer .point path'), (p) => p.getAttribute('d')),
};
"""

# Plotly's own full redraw of the chart as it stands, for comparison (its result, then resolved).
REDRAW_JS = """
const plot = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
return window.Plotly.redraw(plot).then(() => true);
"""


def drawn(lab, graph_id: str) -> dict:
    return lab.js(DRAWN_JS, graph_id)


def moved_draws(lab) -> int:
    return lab.js("return window.__losslabMovedDraws || 0;")


def assert_ranges_hold(state: dict) -> None:
    for trace in state["traces"]:
        xs = [v for v in trace["x"] if v is not None]
        ys = [v for v in trace["y"] if v is not None]
        low_x, high_x = state["ranges"]["xaxis"]
        low_y, high_y = state["ranges"]["yaxis"]
        assert low_x <= min(xs) and max(xs) <= high_x, (trace["meta"], state["ranges"]["xaxis"])
        assert low_y <= min(ys) and max(ys) <= high_y, (trace["meta"], state["ranges"]["yaxis"])


def assert_same_as_a_full_redraw(lab, graph_id: str) -> None:
    state = drawn(lab, graph_id)
    lab.js(REDRAW_JS, graph_id)
    again = drawn(lab, graph_id)
    for key in ("ranges", "shapes", "shapePaths", "lines", "bars"):
        assert state[key] == again[key], (graph_id, key)


REGRESSION = {  # meta -> (loss, dL/dŷ) of the view's default losses (delta = 1)
    "mse": (losslab.mse, losslab.mse_grad),
    "mae": (losslab.mae, losslab.mae_grad),
    "huber": (losslab.huber, losslab.huber_grad),
    "log_cosh": (losslab.log_cosh, losslab.log_cosh_grad),
}


def core(function, pred, target: float) -> np.ndarray:
    pred = np.asarray(pred, dtype=np.float64)
    values = function(pred, np.full_like(pred, target), **({"reduction": "none"} if "grad" not in function.__name__ else {}))
    return np.asarray(values, dtype=np.float64)


def test_a_typed_true_value_and_prediction_show_the_cores_curves_on_axes_that_hold_them(lab):
    lab.open("/regression")
    start = moved_draws(lab)
    lab.type_into("regression-target-input", "0.5")
    lab.wait_until(lambda: drawn(lab, LOSS)["ranges"]["xaxis"] == [-3.5, 4.5]
                   and drawn(lab, GRAD)["ranges"]["xaxis"] == [-3.5, 4.5], "both charts swept around y = 0.5")
    lab.type_into("regression-prediction-input", "2.5")  # the marker and its line move; the curves stay
    lab.wait_until(lambda: drawn(lab, LOSS)["shapes"] == [[2.5, 2.5]] and drawn(lab, GRAD)["shapes"] == [[2.5, 2.5]],
                   "the marker line at ŷ = 2.5")
    # Both changes were drawn the light way, on both charts (not by Plotly.react).
    lab.wait_until(lambda: moved_draws(lab) >= start + 4, "four light draws")
    for graph_id, which in ((LOSS, 0), (GRAD, 1)):
        state = drawn(lab, graph_id)
        curves = [t for t in state["traces"] if t["meta"] != "marker"]
        assert sorted(t["meta"] for t in curves) == sorted(REGRESSION)
        for trace in curves:
            assert_close(trace["y"], core(REGRESSION[trace["meta"]][which], trace["x"], 0.5),
                         what=f"{graph_id} {trace['meta']} at y = 0.5")
        marker = next(t for t in state["traces"] if t["meta"] == "marker")
        assert set(marker["x"]) == {2.5}
        expected = sorted(float(core(REGRESSION[m][which], [2.5], 0.5)[0]) for m in REGRESSION)
        assert_close(sorted(marker["y"]), expected, what=f"{graph_id} marker at ŷ = 2.5")
        assert_ranges_hold(state)
        assert state["ranges"]["xaxis"] == [-3.5, 4.5]  # the swept interval (autorange kept inside it)
        assert_same_as_a_full_redraw(lab, graph_id)
    assert lab.duo.get_logs() == []


def test_typed_logits_show_the_cores_softmax_on_the_fixed_probability_axis(lab):
    lab.open("/multiclass", wait_for=("multiclass-loss-graph", "multiclass-grad-graph", PROBS, CLASS_GRAD))
    before = drawn(lab, PROBS)["ranges"]["yaxis"]
    start = moved_draws(lab)
    logits = [2.0, 1.0, 0.5, -1.0]
    expected = np.asarray(losslab.softmax(np.asarray(logits)), dtype=np.float64)
    lab.type_into("multiclass-logits-input", "2, 1, 0.5, -1")
    lab.wait_until(lambda: np.allclose(drawn(lab, PROBS)["traces"][0]["y"], expected, rtol=0, atol=1e-15),
                   "the probability bars for the typed logits")
    lab.wait_until(lambda: moved_draws(lab) >= start + 4, "four light draws")
    probs = drawn(lab, PROBS)
    assert_close(probs["traces"][0]["y"], expected, tol=1e-15, what="softmax of the typed logits")
    assert probs["ranges"]["yaxis"] == before  # the server's own range for p̂, kept
    assert_ranges_hold(probs)
    grads = drawn(lab, CLASS_GRAD)
    assert_close(grads["traces"][0]["y"], expected - np.eye(4)[0], tol=1e-15, what="p̂ - y for class 0")
    assert_ranges_hold(grads)
    for graph_id in (PROBS, CLASS_GRAD):
        assert_same_as_a_full_redraw(lab, graph_id)
    assert lab.duo.get_logs() == []
