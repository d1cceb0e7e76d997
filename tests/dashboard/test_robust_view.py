"""The Robust regression view (/robust): data, fits, influence, readout, plans, sweeps, URL and bad input.

Expected values come from closed forms (least squares by ``np.polyfit``, |2r|, clip(r, ±δ),
Barron at α = 1 as √(1 + (r/c)²) − 1) and, for the fits the view must simply show, from the
core's ``fitting.fit_line`` on the same points, which the view must reproduce exactly.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import replace

import dash
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from losslab import fitting, registry
from losslab.dashboard import callbacks, controls, export, views
from losslab.dashboard.views import robust

from . import typed_values

VIEW = views.get("robust")
DEFAULT = VIEW.default_state()
EVERY_LOSS = ("mse", "mae", "huber", "log_cosh", "quantile", "pseudo_huber", "cauchy", "geman_mcclure", "tukey",
              "barron")


def decode(typed: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(typed["bdata"]), dtype="<f8")


def values(trace: dict, axis: str) -> np.ndarray:
    value = trace[axis]
    return decode(value) if isinstance(value, dict) else np.asarray(value, dtype=float)


def trace(figure: dict, meta: str) -> dict:
    found = [t for t in figure["data"] if t.get("meta") == meta]
    assert len(found) == 1, f"expected one trace {meta!r}, got {len(found)}"
    return found[0]


def state_with(state=DEFAULT, losses=None, curve=None, **numbers):
    extras = state.extras if curve is None else {**state.extras, "curve": curve}
    return replace(state, numbers={**state.numbers, **numbers}, losses=losses or state.losses, extras=extras)


def points(state=DEFAULT) -> fitting.LineData:
    n = state.numbers
    return fitting.make_line_data(n["n"], outliers=n["k"], noise=n["noise"], outlier_distance=n["distance"],
                                  seed=n["seed"])


def least_squares(x, y) -> tuple[float, float]:
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


def raw_controls(state):
    return typed_values(VIEW, state)


# ---------------------------------------------------------------- losses offered


def test_offers_every_loss_with_the_identity_link_in_registry_order():
    assert robust.LOSS_KEYS == EVERY_LOSS
    assert VIEW.loss_keys == EVERY_LOSS
    assert controls.parse_losses(["barron", "mse"], VIEW.loss_keys) == (("mse", "barron"), None)
    parsed, problem = controls.parse_losses(["bce"], VIEW.loss_keys)
    assert parsed is None and "no loss called “bce”" in problem
    assert VIEW.task == "robust"


# ---------------------------------------------------------------- what is drawn


def test_data_trace_holds_the_seeded_points_with_the_outliers_marked():
    output = VIEW.build(DEFAULT)
    data = points()
    drawn = trace(output.loss_figure, "data")
    assert_array_equal(values(drawn, "x"), data.x)
    assert_array_equal(values(drawn, "y"), data.y)
    lifted = np.flatnonzero(data.y - data.clean_y)
    assert lifted.size == 5 and np.allclose((data.y - data.clean_y)[lifted], 10.0)
    symbols = drawn["marker"]["symbol"]
    assert {i for i, s in enumerate(symbols) if s == robust.OUTLIER_SYMBOL} == set(lifted.tolist())


def test_mse_line_is_the_least_squares_line():
    for state in (DEFAULT, state_with(k=20, distance=-7.5, seed=3, n=80)):
        data = points(state)
        slope, intercept = least_squares(data.x, data.y)
        line = values(trace(VIEW.build(state).loss_figure, "mse"), "y")
        assert_allclose(line, slope * data.x + intercept, rtol=0, atol=1e-9)


@pytest.mark.parametrize("key", EVERY_LOSS)
def test_each_line_is_the_core_fit_of_that_loss(key):
    state = state_with(losses=(key,), alpha=-2.0, c=0.7, delta=0.5, tau=0.3)
    data = points(state)
    params = {name: state.numbers[name] for name in registry.get(key).defaults()}
    fit = fitting.fit_line(data.x, data.y, key, params, max_iter=robust.MAX_ITERATIONS)
    assert fit.converged
    output = VIEW.build(state)
    assert_array_equal(values(trace(output.loss_figure, key), "y"), fit.slope * data.x + fit.intercept)
    row = output.readout.rows[0]
    assert (row.slope, row.intercept, row.iterations, row.grad_norm) == (
        fit.slope, fit.intercept, fit.iterations, fit.grad_norm)


def test_mae_line_passes_through_two_points_and_balances_them():
    """An L1 line goes through at least two data points, with at most half the points on either side."""
    data = points()
    row = VIEW.build(state_with(losses=("mae",))).readout.rows[0]
    residual = row.slope * data.x + row.intercept - data.y
    assert np.sum(np.abs(residual) < 1e-9) >= 2
    assert np.sum(residual > 1e-9) <= data.x.size / 2 and np.sum(residual < -1e-9) <= data.x.size / 2


def test_influence_bars_are_the_size_of_each_loss_gradient():
    state = state_with(losses=("mse", "mae", "huber"), delta=0.8)
    output = VIEW.build(state)
    data = points(state)
    for key in ("mse", "mae", "huber"):
        line = values(trace(output.loss_figure, key), "y")
        residual = line - data.y
        bars = values(trace(output.grad_figure, key), "y")
        expected = {"mse": np.abs(2 * residual), "mae": np.where(residual == 0, 0.0, 1.0),
                    "huber": np.minimum(np.abs(residual), 0.8)}[key]
        assert_allclose(bars, expected, rtol=1e-12, atol=1e-12, err_msg=key)
        assert_array_equal(values(trace(output.grad_figure, key), "x"), data.x)
    assert trace(output.grad_figure, "mse")["type"] == "bar"


def test_residual_chart_shows_prediction_minus_target():
    output = VIEW.build(DEFAULT)
    data = points()
    for key in DEFAULT.losses:
        line = values(trace(output.loss_figure, key), "y")
        assert_array_equal(values(trace(output.residual_figure, key), "y"), line - data.y)


def test_curve_chart_draws_the_chosen_loss_with_the_residuals_on_it():
    state = state_with(curve="barron", c=2.0)  # alpha = 1: sqrt(1 + (r/c)^2) - 1
    figure = VIEW.build(state).curve_figure
    curve = trace(figure, "barron")
    r = curve["x0"] + curve["dx"] * np.arange(robust.CURVE_POINTS)
    assert_allclose(values(curve, "y"), np.sqrt(1 + (r / 2.0) ** 2) - 1, rtol=1e-12, atol=1e-15)
    assert abs(r[robust.CURVE_POINTS // 2]) < 1e-12  # r = 0 on the grid
    marks = trace(figure, "residuals")
    data = points(state)
    row = next(row for row in VIEW.build(state).readout.rows if row.key == "barron")
    residual = row.slope * data.x + row.intercept - data.y
    assert_array_equal(values(marks, "x"), residual)
    assert_allclose(values(marks, "y"), np.sqrt(1 + (residual / 2.0) ** 2) - 1, rtol=1e-12, atol=1e-15)
    assert abs(r[0] + r[-1]) < 1e-12 and r[-1] >= np.max(np.abs(residual))


def test_curve_chart_fits_a_loss_that_is_not_ticked():
    state = state_with(losses=("mse",), curve="tukey")
    marks = trace(VIEW.build(state).curve_figure, "residuals")
    data = points(state)
    fit = fitting.fit_line(data.x, data.y, "tukey", {"c": 1.0}, max_iter=robust.MAX_ITERATIONS)
    assert_array_equal(values(marks, "x"), fit.slope * data.x + fit.intercept - data.y)


def test_readout_reports_inlier_rmse_and_how_far_the_outliers_moved_the_line():
    output = VIEW.build(DEFAULT)
    data = points()
    row = next(row for row in output.readout.rows if row.key == "mse")
    slope, intercept = least_squares(data.x, data.y)
    inliers = data.y == data.clean_y
    assert math.isclose(row.inlier_rmse, math.sqrt(np.mean((slope * data.x[inliers] + intercept
                                                           - data.y[inliers]) ** 2)), rel_tol=1e-9)
    clean_slope, clean_intercept = least_squares(data.x, data.clean_y)
    gap = (slope - clean_slope) * data.x + (intercept - clean_intercept)
    assert math.isclose(row.moved, math.sqrt(np.mean(gap**2)), rel_tol=1e-9)
    assert row.converged and row.method == "irls"
    mae = next(row for row in output.readout.rows if row.key == "mae")
    assert mae.method == "exact" and mae.moved < row.moved / 3  # the lesson: MAE barely moves
    table = json.dumps(VIEW.readout_component(output), ensure_ascii=False)
    for text in ("slope a", "intercept b", "mean loss", "RMSE on the inliers", "moved by the outliers",
                 "iterations", "‖∇F‖", f"{row.slope:.4f}", f"{row.intercept:.4f}", "exact ("):
        assert text in table, text
    assert f"MSE's line moved {row.moved:.3g}" in output.lesson


def test_without_outliers_every_fit_is_its_own_outlier_free_fit():
    output = VIEW.build(state_with(k=0))
    assert all(row.moved == 0 for row in output.readout.rows)
    assert output.lesson.startswith("No outliers")


def test_every_trace_carries_its_role_as_meta():
    output = VIEW.build(DEFAULT)
    keys = list(DEFAULT.losses)
    assert [t["meta"] for t in output.loss_figure["data"]] == ["data", "true", *keys]
    assert [t["meta"] for t in output.grad_figure["data"]] == keys
    assert [t["meta"] for t in output.residual_figure["data"]] == keys
    assert [t["meta"] for t in output.curve_figure["data"]] == ["barron", "residuals"]
    json.dumps(output.loss_figure), json.dumps(output.curve_figure)  # wire-ready


# ---------------------------------------------------------------- plans and patches


def test_plan_redraws_only_the_losses_a_parameter_shapes_and_sweeps_it():
    state = state_with(losses=("mse", "huber", "cauchy", "barron"))
    assert VIEW.plan(None, state).full
    assert VIEW.plan(state, state_with(state, k=6)).full
    assert VIEW.plan(state, state_with(state, losses=("mse",))).full
    plan = VIEW.plan(state, state_with(state, alpha=0.5))  # the curve chart shows Barron
    assert (plan.full, plan.redraw, plan.sweep, plan.curve) == (False, frozenset({"barron"}), ("alpha",), True)
    plan = VIEW.plan(state, state_with(state, c=2.0))
    assert (plan.redraw, plan.sweep) == (frozenset({"cauchy", "barron"}), ("c",))
    plan = VIEW.plan(state, state_with(state, delta=2.0))
    assert (plan.redraw, plan.sweep, plan.curve) == (frozenset({"huber"}), ("delta",), False)
    plan = VIEW.plan(state, state_with(state, tau=0.2))  # no quantile ticked: nothing to redraw or sweep
    assert (plan.full, plan.redraw, plan.sweep, plan.curve) == (False, frozenset(), (), False)
    plan = VIEW.plan(state, state_with(state, curve="mse"))
    assert (plan.full, plan.redraw, plan.sweep, plan.curve) == (False, frozenset(), (), True)
    unticked = state_with(state, curve="tukey")  # its c moves the curve chart though no line shows Tukey
    assert VIEW.plan(unticked, state_with(unticked, c=2.0)).curve


def test_a_parameter_change_patches_its_lines_and_sends_its_sweep():
    numbers, losses, extras = raw_controls(DEFAULT)
    numbers["alpha"] = "0.5"
    result = callbacks.update_view(VIEW, numbers, losses, VIEW.encode_query(DEFAULT), **extras)
    assert result["message:alpha"] == ""
    assert "operations" in result["loss_figure"]  # a patch, not the whole figure
    state = state_with(alpha=0.5)
    full = VIEW.build(state).loss_figure
    patched = json.dumps(result["loss_figure"])
    barron_y = trace(full, "barron")["y"]["bdata"]
    assert barron_y in patched and trace(full, "mse")["y"]["bdata"] not in patched
    assert result["formulas"] is dash.no_update
    residuals = json.dumps(result["residual_figure"])
    assert "operations" in result["residual_figure"]
    assert trace(VIEW.build(state).residual_figure, "barron")["y"]["bdata"] in residuals
    assert trace(VIEW.build(state).residual_figure, "mse")["y"]["bdata"] not in residuals
    assert result["curve_figure"] == VIEW.build(state).curve_figure
    sweep = json.loads(result["sweep"])
    assert sweep["parameter"] == "alpha" and list(sweep["losses"]) == ["barron"]
    assert sweep["token"] == json.loads(result["fit_state"])["tokens"]["alpha"]


def test_a_data_change_redraws_everything_and_sends_no_sweep():
    numbers, losses, extras = raw_controls(DEFAULT)
    numbers["k"] = "9"
    result = callbacks.update_view(VIEW, numbers, losses, VIEW.encode_query(DEFAULT), **extras)
    assert result["loss_figure"] == VIEW.build(state_with(k=9)).loss_figure
    assert result["sweep"] is dash.no_update
    assert result["formulas"] is dash.no_update  # the same losses: the formulas on the page stay
    assert json.loads(result["fit_state"])["query"] == VIEW.encode_query(state_with(k=9))


# ---------------------------------------------------------------- sweeps for the browser


def test_slider_stops_are_whole_steps_with_the_values_the_text_box_gets():
    positions, stops = robust.slider_stops(robust.CONTROLS["alpha"])
    assert positions == [-10 + 0.25 * i for i in range(49)] and stops == positions
    positions, stops = robust.slider_stops(robust.CONTROLS["c"])
    assert len(positions) == 27 and positions[0] == -1.3 and positions[-1] == 1.3 and 0.0 in positions
    assert stops[positions.index(0.0)] == 1.0
    assert all(s == float(f"{10 ** p:.4g}") for p, s in zip(positions, stops, strict=True))
    assert stops[0] == 0.05012 and stops[-1] == 19.95
    for name in robust.PARAMETERS:  # the default is a stop: a drag from it starts on a frame
        control = robust.CONTROLS[name]
        assert control.default in robust.slider_stops(control)[1], name


def test_every_frame_of_a_sweep_is_the_core_fit_at_that_value():
    state = state_with(losses=("huber", "barron"), c=0.5)
    sweep = json.loads(robust.sweep_text(state, "alpha"))
    data = points(state)
    assert_array_equal(decode(sweep["x"]), data.x)
    assert_array_equal(decode(sweep["y"]), data.y)
    assert list(sweep["losses"]) == ["barron"]
    frames = sweep["losses"]["barron"]
    influence = decode(frames["influence"]).reshape(len(sweep["values"]), data.x.size)
    for k in (0, 20, 36, 44, 48):  # alpha = -10, -5, -1, 1, 2
        alpha = sweep["values"][k]
        fit = fitting.fit_line(data.x, data.y, "barron", {"alpha": alpha, "c": 0.5}, max_iter=robust.MAX_ITERATIONS)
        assert (frames["slope"][k], frames["intercept"][k]) == (fit.slope, fit.intercept), alpha
        residual = fit.slope * data.x + fit.intercept - data.y
        x = residual / 0.5
        closed = {-10: None, 2: np.abs(residual) / 0.25, 1: np.abs(residual) / 0.25 / np.sqrt(x * x + 1)}.get(alpha)
        if closed is not None:
            assert_allclose(influence[k], closed, rtol=1e-12, atol=1e-15)
        assert_allclose(influence[k], fitting.influence(data.x, data.y, fit.slope, fit.intercept, "barron",
                                                        {"alpha": alpha, "c": 0.5}), rtol=0, atol=0)


def test_a_frame_equals_what_the_server_draws_once_the_slider_is_released():
    sweep = json.loads(robust.sweep_text(DEFAULT, "alpha"))
    k = sweep["positions"].index(-2.0)
    released = VIEW.build(state_with(alpha=sweep["values"][k]))
    data = points()
    line = sweep["losses"]["barron"]["slope"][k] * data.x + sweep["losses"]["barron"]["intercept"][k]
    assert_array_equal(values(trace(released.loss_figure, "barron"), "y"), line)
    bars = decode(sweep["losses"]["barron"]["influence"]).reshape(len(sweep["values"]), -1)[k]
    assert_array_equal(values(trace(released.grad_figure, "barron"), "y"), bars)


def test_sweep_token_names_everything_but_the_swept_parameter():
    token = robust.sweep_token(DEFAULT, "alpha")
    assert token == robust.sweep_token(state_with(alpha=-3.0), "alpha")
    assert token != robust.sweep_token(state_with(c=2.0), "alpha")
    assert token != robust.sweep_token(state_with(noise=0.6), "alpha")
    assert token == robust.sweep_token(state_with(losses=("huber", "barron")), "alpha")  # Huber has no α
    assert token != robust.sweep_token(state_with(losses=("cauchy",)), "alpha") == ""  # Cauchy has no α
    assert robust.sweep_token(DEFAULT, "tau") == ""  # no quantile ticked
    assert robust.sweep_token(DEFAULT, "delta") == robust.sweep_token(state_with(delta=2.0), "delta") != ""
    state = json.loads(VIEW.build(DEFAULT).fit_state)
    assert state["values"] == {"delta": 1.0, "tau": 0.5, "c": 1.0, "alpha": 1.0}
    assert state["tokens"]["alpha"] == token and state["tokens"]["tau"] == ""


# ---------------------------------------------------------------- URL and bad input


def test_a_non_default_state_round_trips_through_its_url():
    state = state_with(losses=("mae", "tukey", "barron"), curve="tukey", n=30, k=7, noise=1.25, distance=-4.5,
                       seed=12, alpha=-2.5, c=3.0, delta=0.2, tau=0.9)
    query = VIEW.encode_query(state)
    for key in ("n=30", "noise=1.25", "k=7", "distance=-4.5", "seed=12", "alpha=-2.5", "curve=tukey",
                "losses=mae,tukey,barron"):
        assert key in query, key
    assert VIEW.parse_query(query) == state
    assert VIEW.parse_query(VIEW.build(state).query) == state
    _, notice, _ = callbacks.route("/robust", query)
    assert notice == ""


def test_more_outliers_than_n_minus_two_is_an_inline_message_and_keeps_the_charts():
    numbers, losses, extras = raw_controls(DEFAULT)
    numbers["k"] = "49"
    result = callbacks.update_view(VIEW, numbers, losses, VIEW.encode_query(DEFAULT), **extras)
    assert result["message:k"].startswith("Outliers k: 49 is more than n − 2 = 48")
    assert all(result[key] is dash.no_update for key in callbacks.chart_keys(VIEW))


@pytest.mark.parametrize(("name", "raw", "start"), [
    ("n", "2", "Points n: 2 is out of range"), ("n", "12.5", "Points n: 12.5 is not a whole number"),
    ("noise", "-1", "Noise σ: -1 is out of range"), ("c", "0", "Scale c: 0 is out of range"),
    ("alpha", "3", "Barron shape α: 3 is out of range"), ("seed", "x", "Seed: “x” is not a number"),
])
def test_bad_values_get_their_message_and_keep_the_charts(name, raw, start):
    numbers, losses, extras = raw_controls(DEFAULT)
    numbers[name] = raw
    result = callbacks.update_view(VIEW, numbers, losses, VIEW.encode_query(DEFAULT), **extras)
    assert result[f"message:{name}"].startswith(start), result[f"message:{name}"]
    assert all(result[key] is dash.no_update for key in callbacks.chart_keys(VIEW))


def test_a_link_with_too_many_outliers_uses_n_minus_two_and_says_so():
    state = VIEW.parse_query("?n=10&k=20")
    assert state.number("k") == 8
    assert any("k: 20 is more than n − 2 = 8" in notice for notice in state.notices)
    _, notice, _ = callbacks.route("/robust", "?n=10&k=20&losses=mse,nonsense")
    assert "using 8" in notice and "no loss called “nonsense”" in notice


def test_csv_has_a_row_per_point_with_each_fit_its_influence_and_residual():
    text = VIEW.export_csv(DEFAULT)
    assert text.startswith("# losslab: Robust regression\n# settings: n=50&noise=0.5&k=5")
    table = export.read_csv(text)
    data = points()
    assert_array_equal(table["x"], data.x)
    assert_array_equal(table["data: y"], data.y)
    assert_array_equal(table["data: outlier (1 = lifted)"], (data.y != data.clean_y).astype(float))
    slope, intercept = least_squares(data.x, data.y)
    line = table["Data and each loss's fitted line: MSE"]
    assert_allclose(line, slope * data.x + intercept, rtol=0, atol=1e-9)
    assert_array_equal(table["Influence: each point's pull |dℓ/dŷᵢ| on the fit: MSE"], np.abs(2 * (line - data.y)))
    assert_array_equal(table["Residuals rᵢ = ŷᵢ − yᵢ: MSE"], line - data.y)
    assert_array_equal(table["Data and each loss's fitted line: true line y = x"], data.x)
    assert len(table) == 3 + 1 + 3 * len(DEFAULT.losses) + 2  # and the curve charts' ℓ(r), dℓ/dr (long form)


def test_choosing_the_curve_redraws_only_the_curve_chart():
    numbers, losses, _ = raw_controls(DEFAULT)
    _, _, extras = raw_controls(DEFAULT)
    result = callbacks.update_view(VIEW, numbers, losses, VIEW.encode_query(DEFAULT), **{**extras, "curve": "mae"})
    assert result["curve_figure"] == VIEW.build(state_with(curve="mae")).curve_figure
    assert trace(result["curve_figure"], "mae")["name"] == "MAE"
    assert result["residual_figure"] is dash.no_update and result["sweep"] is dash.no_update
    assert result["formulas"] is dash.no_update
    assert "curve=mae" in result["query"]


# ---------------------------------------------------------------- extremes the controls accept


@pytest.mark.parametrize("typed", [
    {"c": 1e-300, "alpha": 1.0}, {"c": 1e-300, "alpha": -2.0}, {"c": 1e300, "delta": 1e-300, "tau": 1e-300},
    {"n": 3, "k": 1, "noise": 100.0, "distance": 1000.0, "alpha": -1e300, "c": 1e-8},
    {"n": 200, "k": 198, "noise": 0.0, "distance": -1000.0, "delta": 1e300, "tau": 1 - 1e-16, "c": 20.0},
    {"n": 10, "k": 3, "noise": 0.0, "distance": -20.0, "seed": 2, "alpha": -5.25, "c": 0.1995},
], ids=str)
def test_values_typed_far_outside_the_sliders_fit_every_loss_to_convergence(typed):
    # pytest turns any RuntimeWarning into an error: none may come from the fits, figures or sweeps
    state = state_with(losses=EVERY_LOSS, **typed)
    assert VIEW.parse_query(VIEW.encode_query(state)) == state  # accepted, not corrected
    output = VIEW.build(state)
    for row in output.readout.rows:
        assert row.converged, (row.key, row.iterations, row.grad_norm)
    json.dumps(VIEW.readout_component(output)), json.dumps(output.loss_figure)
    for parameter in robust.PARAMETERS:
        sweep = json.loads(robust.sweep_text(state, parameter))
        assert all(s is not None for frames in sweep["losses"].values() for s in frames["slope"])


def test_a_loss_whose_terms_overflow_at_a_typed_scale_still_fits_its_line():
    # Barron at alpha = 2 is (r/c)^2 / 2, least squares at every c: past float max for c = 1e-300 on every line,
    # where the fit used to stop at its start, "not converged". The mean loss, about e^1400, is inf, its true size
    output = VIEW.build(state_with(losses=("mse", "barron"), c=1e-300, alpha=2.0))
    row = next(row for row in output.readout.rows if row.key == "barron")
    data = points()
    assert row.converged and row.mean_loss == math.inf
    assert (row.slope, row.intercept) == pytest.approx(least_squares(data.x, data.y), rel=1e-12)
    assert "not converged" not in json.dumps(VIEW.readout_component(output), ensure_ascii=False)


# ---------------------------------------------------------------- moved points (dragged or typed)


@pytest.mark.parametrize(("raw", "expected"), [
    ("", ()), ("  ", ()), (None, ()), ("3:4.5:7.2", (3.0, 4.5, 7.2)),
    ("10:2:-1; 3:4.5:7.2;", (3.0, 4.5, 7.2, 10.0, 2.0, -1.0)),  # sorted by index, a trailing ; is fine
    ("3, 4.5, 7.2, 10, 2, −1", (3.0, 4.5, 7.2, 10.0, 2.0, -1.0)),  # the numbers alone, three per point
    ("0:1e6:-1e6", (0.0, 1e6, -1e6)),
    ("199:1:1", (199.0, 1.0, 1.0)),  # past n = 50 but within n's range: kept, and noted as not applied
])
def test_moved_points_parse_from_the_link_form_and_from_plain_numbers(raw, expected):
    assert robust.parse_moved(raw) == (expected, None)


@pytest.mark.parametrize(("raw", "start"), [
    ("3:abc:1", "Moved points: x of point 3: “abc” is not a number"),
    ("3:1", "Moved points: “3:1” is not index:x:y"),
    ("1.5:1:2", "Moved points: the index “1.5” in “1.5:1:2” is not a whole number ≥ 0"),
    ("-1:1:2", "Moved points: the index “-1”"),
    ("3:1:2;3:4:5", "Moved points: point 3 appears twice"),
    ("3:2e6:1", "Moved points: x = 2e6 of point 3 is beyond ±1e6"),
    ("3:1:inf", "Moved points: y of point 3: “inf” is not a finite number"),
    ("1, 2, 3, 4", "Moved points: 4 numbers is not a whole number of points"),
    (";".join(f"{i}:1:1" for i in range(21)), "Moved points: 21 points"),
    # an index no n reaches: 1e308 went into the link as 309 digits, and into the readout's note
    ("1e308:1:1", "Moved points: the index “1e308” in “1e308:1:1” is past the last point (199: n is at most 200)"),
    ("200:1:1", "Moved points: the index “200” in “200:1:1” is past the last point (199: n is at most 200)"),
    # Move pressed with the point's box empty: nothing happened, with no word why
    (":1:1", "Moved points: no point index in “:1:1”; type the point's index (0 to n − 1) first"),
])
def test_bad_moved_points_are_named_in_the_message(raw, start):
    value, problem = robust.parse_moved(raw)
    assert value is None and problem.startswith(start), problem


def test_moved_points_move_the_data_and_every_fit_is_the_core_fit_of_the_moved_data():
    state = VIEW.parse_query("?moved=3:4.5:7.2;10:2:-1&losses=mse,huber,tukey,mae")
    assert "moved=3:4.5:7.2;10:2:-1" in VIEW.encode_query(state)  # readable, and it round-trips
    assert VIEW.parse_query(VIEW.encode_query(state)) == state
    data = points()
    x, y = data.x.copy(), data.y.copy()
    x[3], y[3], x[10], y[10] = 4.5, 7.2, 2.0, -1.0
    output = VIEW.build(state)
    drawn = trace(output.loss_figure, "data")
    assert_array_equal(values(drawn, "x"), x)
    assert_array_equal(values(drawn, "y"), y)
    assert [drawn["marker"]["symbol"][i] for i in (3, 10)] == [robust.MOVED_SYMBOL] * 2
    slope, intercept = least_squares(x, y)
    assert_allclose(values(trace(output.loss_figure, "mse"), "y"), slope * x + intercept, rtol=0, atol=1e-9)
    for key, params in (("huber", {"delta": 1.0}), ("tukey", {"c": 1.0}), ("mae", {})):
        fit = fitting.fit_line(x, y, key, params, max_iter=robust.MAX_ITERATIONS)
        assert_array_equal(values(trace(output.loss_figure, key), "y"), fit.slope * x + fit.intercept)
    row = output.readout.rows[0]
    inliers = (data.y == data.clean_y) & (np.arange(x.size) != 3) & (np.arange(x.size) != 10)
    assert math.isclose(row.inlier_rmse, math.sqrt(np.mean((slope * x[inliers] + intercept - y[inliers]) ** 2)),
                        rel_tol=1e-9)
    clean_slope, clean_intercept = least_squares(data.x, data.clean_y)  # the seeded points, unlifted, unmoved
    gap = (slope - clean_slope) * data.x + (intercept - clean_intercept)
    assert math.isclose(row.moved, math.sqrt(np.mean(gap**2)), rel_tol=1e-9)
    assert "2 moved by you" in json.dumps(VIEW.readout_component(output), ensure_ascii=False)
    assert json.loads(output.fit_state)["moved"] == [[3, 4.5, 7.2], [10, 2.0, -1.0]]


def test_a_move_redraws_everything_and_a_reset_brings_the_seeded_points_back():
    moved = state_with(**{})
    moved = replace(moved, extras={**moved.extras, "moved": (3.0, 4.5, 7.2)})
    assert VIEW.plan(DEFAULT, moved).full and VIEW.plan(moved, DEFAULT).full
    numbers, losses, extras = raw_controls(DEFAULT)
    result = callbacks.update_view(VIEW, numbers, losses, VIEW.encode_query(moved), **{**extras, "moved": ""})
    assert result["loss_figure"] == VIEW.build(DEFAULT).loss_figure
    assert "moved" not in result["query"]
    assert robust.sweep_token(moved, "alpha") != robust.sweep_token(DEFAULT, "alpha")


def test_moved_points_past_n_are_left_out_and_said_so():
    state = VIEW.parse_query("?n=10&k=2&moved=3:1:1;40:2:2")
    output = VIEW.build(state)
    assert output.readout.moved == 1 and output.readout.ignored == (40,)
    assert "Moved point(s) 40 not applied" in json.dumps(VIEW.readout_component(output), ensure_ascii=False)


def test_moving_every_point_to_one_x_is_an_inline_message():
    moves = ";".join(f"{i}:5:{i}" for i in range(5))
    numbers, losses, extras = raw_controls(state_with(n=5, k=0))
    result = callbacks.update_view(VIEW, numbers, losses, VIEW.encode_query(DEFAULT), **{**extras, "moved": moves})
    assert result["message:moved"].startswith("Moved points: every point would sit at x = 5")
    assert all(result[key] is dash.no_update for key in callbacks.chart_keys(VIEW))
    state = VIEW.parse_query(f"?n=5&k=0&moved={moves}")
    assert state.extras["moved"] == () and any("every point would sit" in n for n in state.notices)


# ---------------------------------------------------------------- show code and the gradient check (issue 14)


@pytest.mark.parametrize("query", ["", "?moved=3:4.5:7.2;10:2:-1&losses=mse,mae,huber,log_cosh,quantile,pseudo_huber,"
                                       "cauchy,geman_mcclure,tukey,barron&alpha=-2&c=0.5&tau=0.2&delta=0.3&n=30&k=4"])
def test_the_code_snippet_recomputes_the_csv_columns(query):
    state = VIEW.parse_query(query)
    snippet = VIEW.code_snippet(state)
    assert "from losslab import fitting, registry" in snippet
    namespace: dict = {}
    exec(compile(snippet, "<robust snippet>", "exec"), namespace)  # what a user pastes into Python
    table = export.read_csv(VIEW.export_csv(state))
    assert_array_equal(namespace["x"], table["x"])
    assert set(namespace["columns"]) == set(table) - {"x"}
    for column, computed in namespace["columns"].items():
        assert_array_equal(np.asarray(computed, dtype=np.float64), table[column], err_msg=column)


def test_gradient_check_overlays_the_finite_difference_of_the_curve_and_notes_the_misfit():
    off = VIEW.build(state_with(curve="cauchy"))
    assert [t["meta"] for t in off.curve_grad_figure["data"]] == ["cauchy"] and off.readout.check_note == ""
    curve = trace(off.curve_grad_figure, "cauchy")
    r = curve["x0"] + curve["dx"] * np.arange(robust.CURVE_POINTS)
    assert_allclose(values(curve, "y"), r / (1 + r * r), rtol=1e-12, atol=1e-15)  # Cauchy, c = 1: r / (1 + r²)
    state = replace(state_with(curve="cauchy"), extras={**state_with(curve="cauchy").extras, "check": "on"})
    output = VIEW.build(state)
    overlay = trace(output.curve_grad_figure, "fd:cauchy")
    loss = values(trace(output.curve_figure, "cauchy"), "y")
    dx = trace(output.curve_figure, "cauchy")["dx"]
    difference = values(overlay, "y")  # on the curve's grid; no central difference at its two ends
    assert overlay["x0"] == trace(output.curve_figure, "cauchy")["x0"] and np.isnan(difference[[0, -1]]).all()
    assert_allclose(difference[1:-1], (loss[2:] - loss[:-2]) / (2 * dx), rtol=1e-12, atol=1e-15)
    misfit = output.curve_grad_figure["layout"]["meta"]["gradient_check"]["cauchy"]
    assert 0 < misfit < 1e-4  # a smooth loss and its right gradient: Simpson's error on the grid only
    assert output.readout.check_note.startswith("Gradient check") and "Cauchy" in output.readout.check_note
    assert "robust-check-note" in json.dumps(VIEW.readout_component(output))
    plan = VIEW.plan(state_with(curve="cauchy"), state)
    assert (plan.full, plan.redraw, plan.curve) == (False, frozenset(), True)


@pytest.mark.parametrize("query", ["?delta=5e-324&tau=5e-324&losses=huber,quantile,pseudo_huber",
                                   "?delta=1e-310&losses=huber"])
def test_pulls_all_below_1e_300_get_an_axis_plotly_can_scale(query):
    """Plotly scales an axis by pixels / span, which overflows for a span below about 1e-305: Huber and
    quantile pulls of 5e-324 (δ = τ = 5e-324) left the influence chart empty, with "Cannot read properties
    of undefined (reading 'val')" in the console."""
    figure = VIEW.build(VIEW.parse_query(query)).grad_figure
    pulls = np.concatenate([values(t, "y") for t in figure["data"]])
    low, high = figure["layout"]["yaxis"].get("range") or (min(0.0, pulls.min()), pulls.max())
    assert high - low >= 1e-300 and low <= pulls.min() and pulls.max() <= high, (low, high)


def test_a_huber_curve_at_delta_5e_324_gets_axes_plotly_can_scale():
    """The same overflow on the curve charts: Huber's loss and dℓ/dr against r at δ = 5e-324 are at most
    5.4e-323 and 5e-324."""
    output = VIEW.build(VIEW.parse_query("?delta=5e-324&curve=huber&losses=huber"))
    for figure in (output.curve_figure, output.curve_grad_figure):
        drawn = np.concatenate([values(t, "y") for t in figure["data"]])
        drawn = drawn[np.isfinite(drawn)]
        low, high = figure["layout"]["yaxis"].get("range") or (drawn.min(), drawn.max())
        assert high - low >= 1e-300 and low <= drawn.min() and drawn.max() <= high, (low, high)


@pytest.mark.parametrize(("before", "after"), [
    ("?delta=5e-324&tau=5e-324&losses=huber,quantile", "?delta=1&tau=5e-324&losses=huber,quantile"),
    ("?delta=1&tau=5e-324&losses=huber,quantile", "?delta=5e-324&tau=5e-324&losses=huber,quantile"),
    ("?delta=1&tau=0.5&losses=huber,quantile", "?delta=2&tau=0.5&losses=huber,quantile"),
], ids=["out-of-tiny", "into-tiny", "ordinary"])
def test_a_typed_change_draws_the_influence_axis_a_fresh_load_draws(before, after):
    """The influence chart's fixed range for pulls all near 0 (figures.scalable_y) comes and goes with a Patch
    too: typed into δ = 5e-324 the axis must not autorange a span Plotly cannot scale, and typed out of it
    the axis must not stay at [0, 1e-300] while the pulls reach 1."""
    from tests.dashboard.test_callbacks import apply_patch, assert_bit_identical, is_patch

    previous, state = VIEW.parse_query(before), VIEW.parse_query(after)
    update = callbacks.figure_update(VIEW.build(state).grad_figure, VIEW.plan(previous, state))
    shown = apply_patch(VIEW.build(previous).grad_figure, update) if is_patch(update) else update
    fresh = VIEW.build(state).grad_figure
    assert shown["layout"]["yaxis"] == fresh["layout"]["yaxis"]
    assert_bit_identical(shown, fresh, "influence")
