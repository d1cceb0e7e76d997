"""The Training view's pure functions: build, plan, URL state, bad input and what each change sends.

Expected trajectories come from hand-unrolled gradient-descent loops with the
closed-form gradients (BCE: p̂ − y; MSE on the sigmoid: 2(p̂ − y)·p̂(1 − p̂)),
never from the view or the core under test.
"""

from __future__ import annotations

import base64
import contextlib
import io
import math

import dash
import numpy as np
import orjson
import pytest
from dash import html
from hypothesis import given, settings
from hypothesis import strategies as st

from losslab.dashboard import callbacks, export, layout, views
from losslab.dashboard.url_state import ViewState
from losslab.dashboard.views import training as view_module

VIEW = views.get("training")
DEFAULT_QUERY = VIEW.encode_query(VIEW.default_state())


def decode(typed: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(typed["bdata"]), dtype="<f8")


def sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def unrolled(grad, z0: float, y: float, lr: float, steps: int) -> list[float]:
    zs = [z0]
    for _ in range(steps):
        zs.append(zs[-1] - lr * grad(zs[-1], y))
    return zs


def bce_grad(z, y):
    return sigmoid(z) - y


def mse_grad(z, y):
    p = sigmoid(z)
    return 2 * (p - y) * p * (1 - p)


def state(**changes) -> ViewState:
    """The default state with some controls changed (``losses=`` and ``trajectory=`` too)."""
    base = VIEW.default_state()
    losses = changes.pop("losses", base.losses)
    extras = {"trajectory": changes.pop("trajectory", base.trajectory), "check": changes.pop("check", base.check)}
    return ViewState("training", {**base.numbers, **changes}, tuple(losses), extras)


def raw(st_: ViewState) -> tuple[dict, list, dict]:
    """What the browser sends for a state: text in the boxes."""
    numbers = {name: str(value) for name, value in st_.numbers.items()}
    return numbers, list(st_.losses), dict(st_.extras)


def update(st_: ViewState, previous: ViewState | None = None, **typed) -> dict:
    numbers, losses, extras = raw(st_)
    numbers.update(typed)
    return callbacks.update_view(VIEW, numbers, losses, VIEW.encode_query(previous) if previous else None,
                                 frozenset(typed), **extras)


def traces(figure: dict, meta: str, yaxis: str = "y") -> list[dict]:
    return [t for t in figure["data"] if t.get("meta") == meta and t.get("yaxis", "y") == yaxis]


def one(figure: dict, meta: str, yaxis: str = "y") -> dict:
    found = traces(figure, meta, yaxis)
    assert len(found) == 1, (meta, yaxis, [t.get("meta") for t in figure["data"]])
    return found[0]


# ---------------------------------------------------------------- URL state


def test_url_keys_are_the_issue_names():
    keys = [pair.split("=")[0] for pair in DEFAULT_QUERY.lstrip("?").split("&")]
    assert {"label", "start", "lr", "steps", "losses"} <= set(keys)
    assert {"points", "separation", "noise", "seed", "w0", "b0", "gamma", "trajectory", "check"} <= set(keys)
    assert DEFAULT_QUERY.startswith("?start=0.99&label=0&lr=1&steps=100&")


def test_a_changed_state_round_trips_through_its_url():
    changed = state(start=0.8, label=0.3, lr=0.05, steps=250, gamma=0.5, points=120, separation=4.5, noise=0.25,
                    seed=7, w0=1.5, b0=-2.25, losses=("bce", "focal"), trajectory="logit", check="on")
    query = VIEW.encode_query(changed)
    for fragment in ("start=0.8", "label=0.3", "lr=0.05", "steps=250", "losses=bce,focal", "points=120",
                     "separation=4.5", "noise=0.25", "seed=7", "w0=1.5", "b0=-2.25", "trajectory=logit",
                     "check=on"):
        assert fragment in query
    assert VIEW.parse_query(query) == changed
    assert VIEW.parse_query(VIEW.build(changed).query) == changed


@pytest.mark.parametrize(("query", "fragment"), [
    ("?lr=0", "Learning rate η"), ("?steps=1001", "Steps T"), ("?start=1", "Start probability"),
    ("?w0=9", "Start weight"), ("?points=1", "Data points"), ("?seed=-1", "Seed"),
])
def test_a_bad_link_value_falls_back_to_the_default_with_a_notice(query, fragment):
    parsed = VIEW.parse_query(query)
    assert parsed == VIEW.default_state()
    assert any(fragment in notice for notice in parsed.notices), parsed.notices


# ---------------------------------------------------------------- part 1


def test_default_build_reproduces_the_chapter_from_a_hand_unrolled_loop():
    output = VIEW.build(VIEW.default_state())
    z0 = math.log(0.99 / 0.01)
    expected = {"bce": unrolled(bce_grad, z0, 0.0, 1.0, 100), "sigmoid_mse": unrolled(mse_grad, z0, 0.0, 1.0, 100)}
    grads = {"bce": bce_grad, "sigmoid_mse": mse_grad}
    for key, zs in expected.items():
        trajectory = one(output.loss_figure, key, "y")
        assert (trajectory["x0"], trajectory["dx"], trajectory["xaxis"]) == (0, 1, "x")
        np.testing.assert_allclose(decode(trajectory["y"]), [sigmoid(z) for z in zs], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(decode(one(output.grad_figure, key)["y"]), [abs(grads[key](z, 0.0)) for z in zs],
                                   rtol=1e-10, atol=1e-15)
    loss = decode(one(output.loss_figure, "bce", "y2")["y"])
    np.testing.assert_allclose(loss, [math.log1p(math.exp(z)) for z in expected["bce"]], rtol=1e-12)
    # The chapter's numbers, from the loop: BCE crosses p̂ = 0.5 after 6 steps, MSE after 59.
    crossings = {key: next(t for t, z in enumerate(zs) if sigmoid(z) < 0.5) for key, zs in expected.items()}
    assert crossings == {"bce": 6, "sigmoid_mse": 59}
    rows = readout_rows(output.logit_readout)
    assert [row[:2] for row in rows] == [["BCE", "step 6"], ["MSE on sigmoid", "step 59"]]
    assert "after 6 steps" in lesson(output.logit_readout) and "after 59" in lesson(output.logit_readout)
    assert output.loss_figure["layout"]["meta"]["steps"] == output.grad_figure["layout"]["meta"]["steps"] == 100


def test_trajectory_switch_draws_the_logit():
    output = VIEW.build(state(trajectory="logit", steps=20))
    zs = unrolled(mse_grad, math.log(0.99 / 0.01), 0.0, 1.0, 20)
    np.testing.assert_allclose(decode(one(output.loss_figure, "sigmoid_mse", "y")["y"]), zs, rtol=1e-12)
    assert output.loss_figure["layout"]["yaxis"]["title"]["text"] == "zₜ"
    assert output.loss_figure["layout"]["shapes"][0]["y0"] == 0.0  # p̂ = 0.5 is z = 0


def test_both_rows_share_one_x_axis():
    """One x axis: losslab.js links it and never re-grids the rows into panels side by side."""
    layout = VIEW.build(VIEW.default_state()).loss_figure["layout"]
    assert [key for key in layout if key.startswith("xaxis")] == ["xaxis"]
    assert layout["yaxis"]["domain"][0] > layout["yaxis2"]["domain"][1]


def readout_rows(readout: dict) -> list[list[str]]:
    table = readout["props"]["children"][1]
    body = table["props"]["children"][2]
    return [[cell["props"]["children"] for cell in row["props"]["children"]] for row in body["props"]["children"]]


def lesson(readout: dict) -> str:
    return readout["props"]["children"][0]["props"]["children"]


def test_readout_says_never_when_a_run_does_not_get_there():
    output = VIEW.build(state(steps=10))
    rows = readout_rows(output.logit_readout)
    assert rows[0][1] == "step 6" and rows[1][1] == "never" and rows[1][2] == "never"
    assert "never crosses 0.5" in lesson(output.logit_readout)
    rows = readout_rows(VIEW.build(state(label=0.5)).logit_readout)
    assert rows[0][1] == "never (y = 0.5 has no side)"


def test_lesson_counts_steps_in_words():
    # η = 10 from p̂₀ = 0.6: one BCE step of 10 · 0.6 takes z from 0.41 to -5.6; MSE's 10 · 0.288 to -2.5.
    assert lesson(VIEW.build(state(start=0.6, lr=10.0, steps=5)).logit_readout) == (
        "BCE's p̂ crosses 0.5 after 1 step, MSE on the sigmoid's after 1 step: as many.")


@pytest.mark.parametrize("label", [0.3, 0.5, 0.99])
def test_hinge_is_left_out_for_a_soft_label_with_a_note(label):
    output = VIEW.build(state(label=label, losses=("bce", "hinge")))
    assert [t["meta"] for t in output.loss_figure["data"] if t["meta"] not in ("step", "diverged")] == ["bce", "bce"]
    assert "Hinge" in output.losses_note and f"y = {label:g}" in output.losses_note


def test_hinge_is_drawn_for_a_hard_label():
    output = VIEW.build(state(label=1.0, losses=("bce", "hinge")))
    hinge = decode(one(output.grad_figure, "hinge")["y"])
    assert hinge[0] == 0.0  # z0 = 4.6 with y = 1 (sign +1): z·s >= 1, hinge is flat
    assert output.losses_note == ""


def test_a_diverging_run_is_cut_at_its_step_and_marked():
    output = VIEW.build(state(lr=1e7, steps=20))
    bce = decode(one(output.loss_figure, "bce", "y")["y"])
    assert bce.size == 2 and np.isfinite(bce).all()  # steps 0 and 1: the jump past |z| = 1e6 is shown
    cross = one(output.loss_figure, "diverged", "y")
    assert cross["x"] == [1] and cross["customdata"] == [1] and "diverged at step 1" in cross["text"][0]
    mse = decode(one(output.loss_figure, "sigmoid_mse", "y")["y"])
    assert mse.size == 21  # one step to z ≈ -2e5, where its gradient is exactly 0: finite, not diverged
    rows = readout_rows(output.logit_readout)
    assert rows[0][4] == "diverged at step 1" and rows[1][4] == "finite"
    assert lesson(output.logit_readout).startswith("BCE diverged at step 1. The learning rate is too large")
    # Part 2 diverges too: the path stops there, and the figure says so.
    summary = output.readout
    assert summary.rows[0].diverged_at == 1
    path = output.paths["bce"]
    assert decode(path["data"][0]["x"]).size == 2
    assert path["layout"]["annotations"][0]["text"] == "<b>BCE diverged at step 1</b>"
    for figure in (output.loss_figure, output.grad_figure, *output.paths.values()):
        orjson.dumps(figure)  # no NaN or inf outside typed arrays: plain JSON


# ---------------------------------------------------------------- part 2


def test_surfaces_are_the_mean_losses_over_the_grid():
    output = VIEW.build(VIEW.default_state())
    from losslab import training

    dataset = training.make_dataset(points=40, separation=2.0, label_noise=0.1, seed=0)
    grid = np.linspace(-8, 8, 61)
    for key, loss in (("bce", lambda z, y: np.logaddexp(0, z) - y * z),
                      ("sigmoid_mse", lambda z, y: (1 / (1 + np.exp(-z)) - y) ** 2)):
        contour = output.surfaces[key]["data"][0]
        assert contour["type"] == "contour" and contour["z"]["shape"] == "61,61"
        z = decode(contour["z"]).reshape(61, 61)
        np.testing.assert_array_equal(decode(contour["x"]), grid)
        assert z[30, 30] == pytest.approx(math.log(2) if key == "bce" else 0.25, rel=1e-14)
        for i, j in ((0, 0), (12, 47), (60, 5)):  # z[i, j] = L(w_j, b_i)
            expected = np.mean(loss(grid[j] * dataset.x + grid[i], dataset.y))
            assert z[i, j] == pytest.approx(expected, rel=1e-10)


def test_paths_start_at_the_start_point_and_follow_a_hand_step():
    from losslab import training

    output = VIEW.build(state(w0=2.0, b0=-3.0, lr=0.5, steps=5))
    dataset = training.make_dataset(points=40, separation=2.0, label_noise=0.1, seed=0)
    p = 1 / (1 + np.exp(-(2.0 * dataset.x - 3.0)))
    slope = {"bce": p - dataset.y, "sigmoid_mse": 2 * (p - dataset.y) * p * (1 - p)}
    for key in ("bce", "sigmoid_mse"):
        path = output.paths[key]["data"][0]
        assert path["meta"] == key
        w, b = decode(path["x"]), decode(path["y"])
        assert (w[0], b[0]) == (2.0, -3.0) and w.size == 6
        assert w[1] == pytest.approx(2.0 - 0.5 * np.mean(slope[key] * dataset.x), rel=1e-12)
        assert b[1] == pytest.approx(-3.0 - 0.5 * np.mean(slope[key]), rel=1e-12)
        step = output.paths[key]["data"][3]
        assert step["meta"] == "step" and (step["x"], step["y"]) == ([w[-1]], [b[-1]])


def test_path_overlay_has_the_surface_geometry():
    output = VIEW.build(VIEW.default_state())
    for key in ("bce", "sigmoid_mse"):
        surface, path = output.surfaces[key]["layout"], output.paths[key]["layout"]
        assert surface["margin"] == path["margin"] and surface["margin"]["autoexpand"] is False
        for axis in ("xaxis", "yaxis"):
            for prop in ("range", "constrain", "fixedrange"):
                assert surface[axis][prop] == path[axis][prop]
        assert surface["yaxis"]["scaleanchor"] == path["yaxis"]["scaleanchor"] == "x"


def test_the_landscape_lesson_at_the_default_start():
    """From (-6, 4) BCE reaches its minimum; MSE on the sigmoid stalls on its plateau far above its own."""
    rows = {row.key: row for row in VIEW.build(VIEW.default_state()).readout.rows}
    assert rows["bce"].end_loss == pytest.approx(rows["bce"].grid_minimum, abs=0.01)
    assert rows["sigmoid_mse"].end_loss > 3 * rows["sigmoid_mse"].grid_minimum
    table = VIEW.readout_component(VIEW.build(VIEW.default_state()))
    assert table["props"]["id"] == "training-landscape-table"


# ---------------------------------------------------------------- plan and what each change sends


@pytest.mark.parametrize(("change", "full", "landscape"), [
    ({"lr": 0.5}, True, "paths"),
    ({"steps": 30}, True, "paths"),
    ({"start": 0.9}, True, "none"),
    ({"label": 1.0}, True, "none"),
    ({"gamma": 1.0}, True, "none"),
    ({"trajectory": "logit"}, True, "none"),
    ({"check": "on"}, True, "none"),
    ({"losses": ("bce",)}, True, "none"),
    ({"w0": 1.0}, False, "paths"),
    ({"b0": 1.0}, False, "paths"),
    ({"points": 60}, False, "full"),
    ({"seed": 3}, False, "full"),
    ({"noise": 0.0}, False, "full"),
    ({}, False, "none"),
])
def test_plan_redraws_only_the_part_a_control_drives(change, full, landscape):
    plan = VIEW.plan(VIEW.default_state(), state(**change))
    assert (plan.full, plan.landscape) == (full, landscape)
    assert VIEW.plan(None, state(**change)) == view_module.TrainingPlan(full=True, landscape="full")


def test_a_start_point_change_sends_only_the_paths():
    result = update(VIEW.default_state(), VIEW.default_state(), w0="1.5")
    assert result["message:w0"] == ""
    assert all(result[f"surface:{key}"] is dash.no_update for key in ("bce", "sigmoid_mse"))
    assert result["logit_readout"] is dash.no_update  # part 1's readout: its runs did not change
    assert decode(result["path:bce"]["data"][0]["x"])[0] == 1.5
    for name in ("loss_figure", "grad_figure"):  # part 1 unchanged: a patch with its (fixed) shapes only
        ops = result[name]["operations"]
        assert [op["location"] for op in ops] == [["layout", "shapes"]]
    assert len(orjson.dumps({k: v for k, v in result.items() if v is not dash.no_update})) < 15_000


def test_a_learning_rate_change_resends_part_1_and_the_paths_not_the_surfaces():
    result = update(VIEW.default_state(), VIEW.default_state(), lr="0.5")
    assert result["loss_figure"]["data"] and result["path:bce"]["data"]
    assert result["surface:bce"] is dash.no_update
    assert "lr=0.5" in result["query"]
    assert len(orjson.dumps({k: v for k, v in result.items() if v is not dash.no_update})) < 30_000


def test_a_dataset_change_resends_the_surfaces():
    result = update(VIEW.default_state(), VIEW.default_state(), seed="5")
    assert result["surface:bce"]["data"][0]["type"] == "contour"
    assert result["loss_figure"]["operations"]  # part 1 is only patched


def test_the_first_answer_is_small():
    result = update(VIEW.default_state())
    size = len(orjson.dumps({k: v for k, v in result.items() if v is not dash.no_update}))
    assert size < 150_000, size


BAD = [
    ("lr", "0", "Learning rate η"), ("lr", "-1", "Learning rate η"), ("lr", "NaN", "Learning rate η"),
    ("lr", "abc", "Learning rate η"), ("lr", "1e999", "Learning rate η"), ("steps", "1001", "Steps T"),
    ("steps", "10.5", "Steps T"), ("steps", "0", "Steps T"), ("start", "0", "Start probability"),
    ("start", "1", "Start probability"), ("start", "1.5", "Start probability"), ("label", "-0.1", "True label"),
    ("points", "501", "Data points"), ("noise", "0.6", "Label noise"), ("w0", "8.5", "Start weight"),
    ("b0", "", "Start bias"), ("seed", "1.5", "Seed"),
]


@pytest.mark.parametrize(("name", "typed", "label"), BAD)
def test_bad_input_gets_its_message_and_keeps_every_chart(name, typed, label):
    result = update(VIEW.default_state(), VIEW.default_state(), **{name: typed})
    assert result[f"message:{name}"].startswith(label), result[f"message:{name}"]
    assert all(result[key] is dash.no_update for key in callbacks.chart_keys(VIEW))


RAW = st.one_of(st.none(), st.booleans(), st.text(max_size=12), st.floats(), st.integers(-(10**30), 10**30),
                st.sampled_from(["1e-300", "1e9", "1e10", "−3", "0.5", "2"]))


@settings(max_examples=60, deadline=None)
@given(raw_values=st.dictionaries(st.sampled_from(["start", "label", "lr", "gamma", "separation", "noise", "seed",
                                                   "w0", "b0"]), RAW),
       trajectory=st.one_of(st.none(), st.text(max_size=8), st.sampled_from(["prob", "logit"])),
       check=st.one_of(st.none(), st.text(max_size=4), st.sampled_from(["off", "on"])))
def test_update_never_raises_on_hostile_values(raw_values, trajectory, check):
    numbers, losses, _ = raw(state(steps=20, points=10))
    numbers.update(raw_values)
    result = callbacks.update_view(VIEW, numbers, losses, DEFAULT_QUERY, frozenset(raw_values),
                                   trajectory=trajectory, check=check)
    failed = (any(result[key] for key in callbacks.message_keys(VIEW) if key != "message:losses")
              or trajectory not in ("prob", "logit") or check not in ("off", "on"))  # radio groups have no message
    assert (result["loss_figure"] is dash.no_update) == failed


# ---------------------------------------------------------------- gradient check (issue 14)

EPS_CBRT = np.finfo(np.float64).eps ** (1 / 3)


def two_point_difference(loss, z: float) -> float:
    """The central difference (ℓ(z + h) − ℓ(z − h)) / ((z + h) − (z − h)), h = ε^(1/3) max(1, |z|), by hand."""
    h = EPS_CBRT * max(1.0, abs(z))
    return (loss(z + h) - loss(z - h)) / ((z + h) - (z - h))


def bce_loss(z, y):
    return max(z, 0.0) + math.log1p(math.exp(-abs(z))) - y * z  # softplus(z) − y z


def mse_loss(z, y):
    return (sigmoid(z) - y) ** 2


def check_line(readout: dict) -> str:
    last = readout["props"]["children"][-1]
    return last["props"]["children"] if last["props"].get("className") == "gradient-check-note" else ""


def check_values(readout: dict) -> dict[str, float]:
    """{loss label: largest relative difference} from the readout's gradient-check line."""
    pairs = check_line(readout).rsplit(": ", 1)[1].split(", ")
    return {pair.rsplit(" ", 1)[0]: float(pair.rsplit(" ", 1)[1]) for pair in pairs}


def test_gradient_check_overlays_the_central_difference_of_each_loss_at_each_step():
    output = VIEW.build(state(check="on"))
    z0 = math.log(0.99 / 0.01)
    for key, grad, loss in (("bce", bce_grad, bce_loss), ("sigmoid_mse", mse_grad, mse_loss)):
        zs = unrolled(grad, z0, 0.0, 1.0, 100)
        overlay = one(output.grad_figure, f"fd:{key}")
        assert (overlay["x0"], overlay["dx"], overlay["line"]["dash"]) == (0, 1, "dot")
        drawn = decode(overlay["y"])
        scale = max(abs(grad(z, 0.0)) for z in zs)
        by_hand = [abs(two_point_difference(lambda v, loss=loss: loss(v, 0.0), z)) for z in zs]
        # closed form and core differ by a few ulp of the loss, divided by h: ~1e-10 of the largest gradient
        np.testing.assert_allclose(drawn, by_hand, rtol=0, atol=1e-8 * scale)
        np.testing.assert_allclose(drawn, [abs(grad(z, 0.0)) for z in zs], rtol=0, atol=1e-8 * scale)
    # The step markers still follow the curves (the overlays come after them).
    marker = one(output.grad_figure, "step")
    assert [output.grad_figure["data"][i]["meta"] for i in marker["customdata"]] == ["bce", "sigmoid_mse"]
    values = check_values(output.logit_readout)
    assert set(values) == {"BCE", "MSE on sigmoid"} and all(0 <= v < 1e-8 for v in values.values()), values
    assert "largest |difference − dL/dz| / largest |dL/dz|" in check_line(output.logit_readout)


def test_gradient_check_off_draws_no_overlay_and_no_line():
    output = VIEW.build(VIEW.default_state())
    assert VIEW.default_state().check == "off"
    assert not [t for t in output.grad_figure["data"] if str(t.get("meta")).startswith("fd:")]
    assert check_line(output.logit_readout) == ""


def test_gradient_check_reports_a_step_on_the_hinge_kink():
    # y = 1: z0 = −1, then 0, then 1, hinge's kink, where (0 − h) / 2h = −1/2 meets a gradient of 0 or −1.
    output = VIEW.build(state(start=1 / (1 + math.e), label=1.0, lr=1.0, steps=3, losses=("bce", "hinge"), check="on"))
    values = check_values(output.logit_readout)
    assert values["Hinge"] == pytest.approx(0.5, rel=1e-2) and values["BCE"] < 1e-8
    assert decode(one(output.grad_figure, "fd:hinge")["y"])[2] == pytest.approx(0.5, rel=1e-6)


def test_gradient_check_of_a_diverging_run_stops_with_it():
    output = VIEW.build(state(lr=1e7, steps=20, check="on"))
    assert decode(one(output.grad_figure, "fd:bce")["y"]).size == 2  # as its curve: steps 0 and 1
    assert decode(one(output.grad_figure, "fd:sigmoid_mse")["y"]).size == 21
    orjson.dumps(output.grad_figure)


def test_the_check_toggle_gives_part_1_a_new_playback_token():
    """training.js re-reads a chart's traces when layout.meta.run changes: the overlays add traces."""
    off, on = VIEW.build(VIEW.default_state()), VIEW.build(state(check="on"))
    assert off.grad_figure["layout"]["meta"]["run"] != on.grad_figure["layout"]["meta"]["run"]
    assert off.paths["bce"]["layout"]["meta"]["run"] == on.paths["bce"]["layout"]["meta"]["run"]
    result = update(state(check="on"), VIEW.default_state())
    assert [t["meta"] for t in result["grad_figure"]["data"]][-2:] == ["fd:bce", "fd:sigmoid_mse"]
    assert result["surface:bce"] is dash.no_update and result["path:bce"] is dash.no_update


# ---------------------------------------------------------------- CSV and Show code (issue 14)

SNIPPET_QUERIES = [
    "",
    "?check=on",
    "?trajectory=logit&lr=1e7&steps=20&check=on",
    "?label=0.3&losses=bce,hinge,focal&gamma=0.5",
    "?label=1&losses=bce,sigmoid_mse,focal,hinge,squared_hinge,exponential&start=0.2&w0=3&b0=-1.5&seed=4"
    "&points=100&noise=0.25&separation=0.5&check=on",
]


@pytest.mark.parametrize("query", SNIPPET_QUERIES)
def test_code_snippet_recomputes_the_csv_bit_for_bit(query):
    st_ = VIEW.parse_query(query)
    assert not st_.notices, st_.notices
    snippet = VIEW.code_snippet(st_)
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        exec(compile(snippet, "<training snippet>", "exec"), namespace)  # what a user pastes into Python
    table = export.read_csv(VIEW.export_csv(st_))
    np.testing.assert_array_equal(namespace["x"], table["x"])
    assert set(namespace["columns"]) == set(table) - {"x"}
    for column, values in namespace["columns"].items():
        np.testing.assert_array_equal(values, table[column], err_msg=column)  # NaN where nothing is drawn
    assert ("largest relative difference" in printed.getvalue()) == (st_.check == "on")


def test_csv_holds_every_plotted_trajectory_over_the_steps():
    st_ = VIEW.default_state()
    text = VIEW.export_csv(st_)
    assert text.startswith("# losslab: Training\n# settings: start=0.99&label=0&lr=1&steps=100")
    assert "# x: step t\n" in text
    table = export.read_csv(text)
    labels = ("BCE", "MSE on sigmoid")
    charts = ("Trajectory p̂ₜ", "Loss Lₜ", "Gradient |dL/dz|ₜ", "Descent path wₜ", "Descent path bₜ")
    assert set(table) == {"x"} | {f"{chart}: {label}" for chart in charts for label in labels}
    np.testing.assert_array_equal(table["x"], np.arange(101))
    zs = unrolled(bce_grad, math.log(0.99 / 0.01), 0.0, 1.0, 100)
    np.testing.assert_allclose(table["Trajectory p̂ₜ: BCE"], [sigmoid(z) for z in zs], rtol=1e-12)
    np.testing.assert_allclose(table["Loss Lₜ: BCE"], [bce_loss(z, 0.0) for z in zs], rtol=1e-12)
    # exactly what the charts draw
    output = VIEW.build(st_)
    np.testing.assert_array_equal(table["Loss Lₜ: MSE on sigmoid"], decode(one(output.loss_figure, "sigmoid_mse", "y2")["y"]))
    np.testing.assert_array_equal(table["Gradient |dL/dz|ₜ: BCE"], decode(one(output.grad_figure, "bce")["y"]))
    path = output.paths["sigmoid_mse"]["data"][0]
    np.testing.assert_array_equal(table["Descent path wₜ: MSE on sigmoid"], decode(path["x"]))
    np.testing.assert_array_equal(table["Descent path bₜ: MSE on sigmoid"], decode(path["y"]))
    assert (table["Descent path wₜ: BCE"][0], table["Descent path bₜ: BCE"][0]) == (-6.0, 4.0)


def test_csv_of_a_diverged_run_is_nan_after_its_step_and_has_the_check_columns():
    table = export.read_csv(VIEW.export_csv(state(lr=1e7, steps=20, check="on", trajectory="logit")))
    for column in ("Trajectory zₜ: BCE", "Loss Lₜ: BCE", "Gradient |dL/dz|ₜ: BCE",
                   "Gradient |dL/dz|ₜ: BCE (finite difference)", "Descent path wₜ: BCE"):
        assert np.isfinite(table[column][:2]).all() and np.isnan(table[column][2:]).all(), column
    assert np.isfinite(table["Trajectory zₜ: MSE on sigmoid"]).all()
    assert table["Trajectory zₜ: BCE"][1] == pytest.approx(math.log(99) - 1e7 * 0.99, rel=1e-12)


def test_show_code_is_on_the_page_and_follows_the_controls():
    st_ = state(check="on")
    assert callbacks.has_code(VIEW)
    bar = layout.export_bar(VIEW, st_, VIEW.build(st_))
    (details,) = [child for child in bar.children if isinstance(child, html.Details)]
    assert details.children[0].children == "Show code"
    code = details.children[1].children
    assert code.id == VIEW.ids.CODE and code.children == VIEW.code(st_)
    result = update(VIEW.default_state(), VIEW.default_state(), lr="0.5")
    assert "learning_rate=0.5" in result["code"] and "gradient_check" not in result["code"]


# ---------------------------------------------------------------- axes Plotly can scale


def axis_values(figure: dict, yaxis: str) -> np.ndarray:
    values = [decode(t["y"]) if isinstance(t["y"], dict) else np.asarray(t["y"], dtype=float)
              for t in figure["data"] if t.get("yaxis", "y") == yaxis and t.get("y") is not None]
    values = np.concatenate(values) if values else np.array([])
    return values[np.isfinite(values)]


@pytest.mark.parametrize("query", ["start=1e-310", "start=5e-324", "start=1e-308&check=on", "start=1e-305"])
def test_every_axis_of_part_1_spans_what_plotly_can_scale(query):
    """Plotly scales an axis by pixels / (top - bottom), which overflows for a span below about 1e-305:
    a start at p̂₀ = 1e-310 on its label's side (every loss and |dL/dz| under 1e-309) drew empty charts
    with "Something went wrong with axis scaling" in the console, p̂₀ = 5e-324 "reading 'val'"."""
    output = VIEW.build(VIEW.parse_query("?" + query))
    for figure in (output.loss_figure, output.grad_figure):
        for axis in ("y", "y2"):
            layout_axis = figure["layout"].get("yaxis" + axis[1:])
            values = axis_values(figure, axis)
            if layout_axis is None or not values.size:
                continue
            low, high = layout_axis.get("range") or (values.min(), values.max())
            assert high - low == 0 or high - low >= 1e-300, (query, axis, low, high)
            assert low <= values.min() and values.max() <= high, (query, axis, low, high)
