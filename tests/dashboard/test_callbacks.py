"""Callback bodies called directly as functions (``losslab.dashboard.callbacks``)."""

from __future__ import annotations

import base64
from dataclasses import replace

import dash
import numpy as np
import orjson
import pytest
from dash import no_update
from hypothesis import given, settings
from hypothesis import strategies as st

from losslab.dashboard import callbacks, controls, ids, views
from losslab.dashboard.views import UpdatePlan, encode_query, parse_query


def chart_outputs(view: str) -> list[str]:
    return callbacks.chart_keys(views.get(view))

GOOD_NUMBERS = {
    "regression": {"target": "0.5", "prediction": "2", "delta": "1.5", "tau": "0.3", "beta": "1", "var": "1"},
    "binary": {"label": "0", "probability": "0.99", "gamma": "2"},
    "multiclass": {"true_class": "0", "temperature": "1", "swept_class": "1", "smoothing": "0",
                   "class_weight": "5"},
}
GOOD_LOSSES = {
    "regression": ["mse", "huber"],
    "binary": ["bce", "sigmoid_mse"],
    "multiclass": ["cross_entropy", "brier"],
}


def decode(typed: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(typed["bdata"]), dtype="<f8")


def extras(view: str, **overrides) -> dict:
    """The view-specific keyword arguments of update_view/read_state, with good defaults."""
    kwargs = {"scale": "linear", "check": "off"}
    if view == "binary":
        kwargs["axis"] = "logit"
        kwargs["panels"] = views.default_state("binary").panels
    if view == "multiclass":
        kwargs["logits"] = "2, 1, 0.1, -1"
    kwargs |= overrides
    return kwargs


def call_update(view, numbers=None, losses=None, previous=None, **overrides):
    raw = dict(GOOD_NUMBERS[view], **(numbers or {}))
    return callbacks.update_view(view, raw, GOOD_LOSSES[view] if losses is None else losses, previous,
                                 **extras(view, **overrides))


def walk(component):
    """Every component in a Dash tree."""
    yield component
    children = getattr(component, "children", None)
    if children is None:
        return
    for child in children if isinstance(children, list | tuple) else [children]:
        if hasattr(child, "to_plotly_json"):
            yield from walk(child)


def find(component, component_id):
    return next(c for c in walk(component) if getattr(c, "id", None) == component_id)


def is_patch(value) -> bool:
    """A Patch as the renderer receives it (callbacks return its wire JSON for orjson's fast path)."""
    return isinstance(value, dict) and value.get("__dash_patch_update") == "__dash_patch_update"


def operations(patch) -> dict[tuple, object]:
    assert is_patch(patch), patch
    plotly = patch
    assert plotly["__dash_patch_update"] == "__dash_patch_update"
    ops = {}
    for op in plotly["operations"]:
        assert op["operation"] == "Assign"
        ops[tuple(op["location"])] = op["params"]["value"]
    return ops


# ---------------------------------------------------------------- route


@pytest.mark.parametrize(
    ("path", "view"),
    [("/regression", "regression"), ("/binary", "binary"), ("/multiclass", "multiclass"),
     ("/", "regression"), ("", "regression"), (None, "regression"), ("/binary/", "binary")],
)
def test_route_each_path(path, view):
    content, notice, nav = callbacks.route(path, "")
    assert content.className == f"view view-{view}"
    assert notice == ""
    active = [link for link in nav if "active" in link.className.split()]
    assert [link.href for link in active] == [views.get(view).path]
    store = find(content, views.get(view).ids.URL_SYNC)
    assert store.data == encode_query(views.default_state(view))


def test_route_applies_the_query():
    content, notice, _ = callbacks.route("/regression", "?target=2&losses=huber")
    assert notice == ""
    store = find(content, ids.Regression.URL_SYNC)
    state = parse_query("regression", store.data)
    assert state.numbers["target"] == 2.0 and state.losses == ("huber",)
    assert find(content, ids.Regression.TARGET_INPUT).value == "2"


@pytest.mark.parametrize("path", ["/nope", "/Regression", "/regression/extra", "/<script>", "//binary"])
def test_route_unknown_path(path):
    content, notice, nav = callbacks.route(path, "?target=1")
    assert notice == ""
    texts = [c.children for c in walk(content) if isinstance(getattr(c, "children", None), str)]
    assert "No such view" in texts
    assert all("active" not in link.className.split() for link in nav)
    code = next(c for c in walk(content) if type(c).__name__ == "Code")
    assert code.children == path[:80]


def test_route_notice_for_bad_query_is_plain_text():
    _, notice, _ = callbacks.route("/binary", "?label=abc&bogus=%3Cb%3Ehi%3C/b%3E")
    assert type(notice) is str
    assert notice.startswith("Some settings in the link were not used:")
    assert "True label y: “abc” is not a number" in notice
    assert "Ignored the unknown setting “bogus”." in notice  # the key is named, as plain text


def test_route_notice_for_class_beyond_logits():
    content, notice, _ = callbacks.route("/multiclass", "?logits=1,2&true_class=3")
    assert "Class 3 does not exist with 2 logits" in notice
    assert parse_query("multiclass", find(content, ids.Multiclass.URL_SYNC).data).numbers["true_class"] == 0


# ---------------------------------------------------------------- read_state


@pytest.mark.parametrize("view", ["regression", "binary", "multiclass"])
def test_read_state_valid(view):
    state, messages = callbacks.read_state(view, GOOD_NUMBERS[view], GOOD_LOSSES[view], **extras(view))
    assert messages == {}
    assert state.view == view
    assert state.losses == tuple(GOOD_LOSSES[view])
    for name, raw in GOOD_NUMBERS[view].items():
        assert state.numbers[name] == float(raw)
    if view == "multiclass":
        assert state.logits == (2.0, 1.0, 0.1, -1.0)
        assert isinstance(state.numbers["true_class"], int)
    if view == "binary":
        assert state.axis == "logit"
    # the state is exactly what its own URL describes
    assert parse_query(view, encode_query(state)) == state


# ---------------------------------------------------------------- update_view


@pytest.mark.parametrize("view", ["regression", "binary", "multiclass"])
def test_update_view_valid_without_previous_is_full(view):
    result = call_update(view)
    state, _ = callbacks.read_state(view, GOOD_NUMBERS[view], GOOD_LOSSES[view], **extras(view))
    expected = views.build(state)
    assert all(result[f"message:{c.name}"] == "" for c in views.get(view).numbers)
    assert result["message:losses"] == "" and result.get("message:logits", "") == ""
    assert result["loss_figure"] == expected.loss_figure
    assert result["grad_figure"] == expected.grad_figure
    assert result["query"] == encode_query(state)
    assert result["formulas"] == expected.formulas
    if view == "binary":
        assert result["lesson"] == expected.lesson
    if view == "multiclass":
        assert result["probability_figure"] == expected.probability_figure
        assert result["class_grad_figure"] == expected.class_grad_figure
    assert result["readout"]["type"] == "Table"
    assert result["readout"]["namespace"] == "dash_html_components"
    # Wire JSON only: orjson must serialise the whole response without the slow fallback.
    orjson.dumps({key: value for key, value in result.items() if value is not dash.no_update})


BAD_INPUTS = [
    ("regression", {"numbers": {"target": "abc"}}, "message:target", "“abc” is not a number"),
    ("regression", {"numbers": {"target": ""}}, "message:target", "empty"),
    ("regression", {"numbers": {"prediction": "1e400"}}, "message:prediction", "not a finite number"),
    ("regression", {"numbers": {"delta": "0"}}, "message:delta", "out of range"),
    ("regression", {"numbers": {"tau": "nan"}}, "message:tau", "not a finite number"),
    ("regression", {"numbers": {"target": None}}, "message:target", "empty"),
    ("regression", {"losses": []}, "message:losses", "nothing is selected"),
    ("regression", {"losses": ["bce"]}, "message:losses", "no loss called"),
    ("binary", {"numbers": {"label": "2"}}, "message:label", "out of range"),
    ("binary", {"numbers": {"probability": "1"}}, "message:probability", "out of range"),
    ("binary", {"numbers": {"probability": "−0.1"}}, "message:probability", "-0.1 is out of range"),
    ("binary", {"numbers": {"gamma": "-1"}}, "message:gamma", "out of range"),
    ("binary", {"losses": "bce"}, "message:losses", "expected a list"),
    ("multiclass", {"numbers": {"temperature": "0"}}, "message:temperature", "out of range"),
    ("multiclass", {"numbers": {"true_class": "1.5"}}, "message:true_class", "whole number"),
    ("multiclass", {"numbers": {"true_class": "5"}}, "message:true_class", "class 5 does not exist with 4 logits; expected a whole number from 0 to 3"),
    ("multiclass", {"numbers": {"swept_class": "4"}}, "message:swept_class", "class 4 does not exist"),
    ("multiclass", {"logits": "1,,2"}, "message:logits", "empty entry"),
    ("multiclass", {"logits": "1," * 5000}, "message:logits", "characters long"),
    ("multiclass", {"logits": "5"}, "message:logits", "got 1 value(s)"),
    ("multiclass", {"logits": "1e7, 1"}, "message:logits", "beyond ±1e6"),
    ("multiclass", {"logits": None}, "message:logits", "empty"),
    ("multiclass", {"losses": ["mse"]}, "message:losses", "no loss called"),
]


@pytest.mark.parametrize(("view", "change", "key", "fragment"), BAD_INPUTS)
def test_update_view_bad_input_gives_message_and_no_chart_update(view, change, key, fragment):
    change = dict(change)
    numbers = change.pop("numbers", None)
    losses = change.pop("losses", GOOD_LOSSES[view])
    previous = encode_query(views.default_state(view))
    result = call_update(view, numbers, losses, previous, **change)
    assert fragment in result[key]
    for other in result:
        if other.startswith("message:") and other != key:
            assert result[other] == "", other
    for output in chart_outputs(view):
        assert result[output] is no_update, output


def test_update_view_bad_axis_keeps_the_charts():
    result = call_update("binary", axis="z")
    for output in chart_outputs("binary"):
        assert result[output] is no_update


def test_update_view_prediction_only_sends_marker_patch():
    previous = encode_query(callbacks.read_state("regression", GOOD_NUMBERS["regression"],
                                                 GOOD_LOSSES["regression"], **extras("regression"))[0])
    result = call_update("regression", {"prediction": "-1"}, previous=previous)
    for name in ("loss_figure", "grad_figure"):
        assert is_patch(result[name])
        figure = call_update("regression", {"prediction": "-1"})[name]  # the full figure, for its roles
        assert set(operations(result[name])) == _marker_locations(figure)
    assert result["formulas"] is no_update
    assert parse_query("regression", result["query"]).numbers["prediction"] == -1.0


def test_update_view_moving_swept_logit_updates_the_class_charts():
    """Moving z0 (the swept logit) changes softmax(z): the probability and gradient bars must follow."""
    previous = encode_query(views.default_state("multiclass"))  # logits 2, 1, 0.1, -1; swept 0
    result = call_update("multiclass", {"swept_class": "0"}, previous=previous, logits="3, 1, 0.1, -1")
    assert is_patch(result["loss_figure"])  # the sweep curves themselves are unchanged
    z = np.array([3.0, 1.0, 0.1, -1.0])
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    probability = result["probability_figure"]
    assert probability is not no_update, "probability chart left at the old logits' softmax"
    assert np.allclose(decode(probability["data"][0]["y"]), p)
    grad = result["class_grad_figure"]
    assert grad is not no_update, "gradient-per-class chart left at the old logits"
    assert np.allclose(decode(grad["data"][0]["y"]), p - np.eye(4)[0])
    assert result["stability"] is not no_update


# ---------------------------------------------------------------- figure_update


def _figure(view="regression", losses=("mse", "huber", "log_cosh")):
    state = replace(views.default_state(view), losses=tuple(losses))
    return views.build(state).loss_figure


def _roles(figure):
    return [t.get("meta") for t in figure["data"]]


def _marker_locations(figure):
    return {("data", i) for i, role in enumerate(_roles(figure)) if role == "marker"} | {("layout", "shapes")}


def test_figure_update_full_returns_the_figure():
    figure = _figure()
    assert callbacks.figure_update(figure, UpdatePlan(full=True)) is figure


def test_figure_update_marker_only_patch():
    figure = _figure()
    patch = callbacks.figure_update(figure, UpdatePlan(full=False))
    assert is_patch(patch)
    ops = operations(patch)
    assert set(ops) == _marker_locations(figure)
    last = len(figure["data"]) - 1
    assert ops[("data", last)] == figure["data"][last]
    assert ops[("layout", "shapes")] == figure["layout"]["shapes"]


def test_figure_update_shift_patch_moves_every_curve():
    figure = _figure()
    ops = operations(callbacks.figure_update(figure, UpdatePlan(full=False, shift=True)))
    curves = [i for i, role in enumerate(_roles(figure)) if role != "marker"]
    expected = _marker_locations(figure) | {("data", i, k) for i in curves for k in ("x0", "dx")}
    # The swept interval moves with the curves, so the axis range travels with them.
    expected |= {("layout", "xaxis", "autorangeoptions")}
    assert set(ops) == expected
    for i in curves:
        assert ops[("data", i, "x0")] == figure["data"][i]["x0"]
    assert ops[("layout", "xaxis", "autorangeoptions")] == figure["layout"]["xaxis"]["autorangeoptions"]


def test_figure_update_redraw_patch_touches_only_that_curve():
    figure = _figure()
    huber = _roles(figure).index("huber")
    ops = operations(callbacks.figure_update(figure, UpdatePlan(full=False, redraw=frozenset({"huber"}))))
    expected = _marker_locations(figure) | {("data", huber, k) for k in ("y", "x0", "dx")}
    assert set(ops) == expected
    assert ops[("data", huber, "y")] == figure["data"][huber]["y"]


def test_figure_update_patch_on_binary_figures():
    figure = _figure("binary", ("bce", "sigmoid_mse", "focal"))
    focal = _roles(figure).index("focal")
    ops = operations(callbacks.figure_update(figure, UpdatePlan(full=False, redraw=frozenset({"focal"}))))
    assert set(ops) == _marker_locations(figure) | {("data", focal, k) for k in ("y", "x0", "dx")}


# ---------------------------------------------------------------- clicks


def click(x):
    return {"points": [{"x": x, "y": 0.0, "curveNumber": 0}]}


def on_click(view: str, click_data, *state_values):
    """What a click on the view's sweep charts writes into its target box."""
    return views.get(view).click_action().apply(click_data, *state_values)


MALFORMED = [None, {}, {"points": []}, {"points": None}, {"points": [{}]}, {"points": [{"x": None}]},
             {"points": [{"x": "abc"}]}, {"points": [{"x": [1]}]}, {"points": "x"}, "x", [],
             click(float("nan")), click(float("inf")), click("nan"), click(1e13)]


@pytest.mark.parametrize("data", MALFORMED)
def test_prediction_from_click_ignores_malformed_clicks(data):
    assert on_click("regression", data) is no_update
    assert on_click("binary", data, "logit") is no_update
    assert on_click("binary", data, "prob") is no_update


@pytest.mark.parametrize("data", MALFORMED)
def test_logits_from_click_ignores_malformed_clicks(data):
    assert on_click("multiclass", data, "2, 1, 0.1, -1", "0") is no_update


@pytest.mark.parametrize(("x", "text"), [(1.23456, "1.235"), (-2.0, "-2"), (0.0004, "0"), ("3.5", "3.5")])
def test_prediction_from_click_regression(x, text):
    assert on_click("regression", click(x)) == text


@pytest.mark.parametrize(
    ("x", "axis", "text"),
    [(0.0, "logit", "0.5"), (2.0, "logit", "0.881"), (-3.0, "logit", "0.0474"), (0.3, "prob", "0.3"),
     (0.1234567, "prob", "0.123"), (25.0, "logit", "0.9999999999861"), (-25.0, "logit", "1.39e-11"),
     (0.0, None, "0.5"), (0.9998765, "prob", "0.999876")],
)
def test_prediction_from_click_binary_is_rounded_for_reading(x, axis, text):
    """3 significant digits of the distance to the nearer end: readable, and never 0 or 1 (issue 17)."""
    assert on_click("binary", click(x), axis) == text
    value, problem = views.get("binary").number("probability").parse(text)
    assert problem is None and 0 < value < 1


@settings(max_examples=60, deadline=None)
@given(x=st.floats(-1e11, 1e11, allow_nan=False), axis=st.sampled_from(["logit", "prob"]))
def test_binary_click_always_gives_a_valid_probability(x, axis):
    if axis == "prob":
        x = min(max(x, 0.0025), 0.9975)  # the probability chart spans [0.0025, 0.9975]
    text = on_click("binary", click(x), axis)
    assert views.get("binary").number("probability").parse(text)[1] is None


def test_logits_from_click_moves_the_swept_logit():
    assert on_click("multiclass", click(3.14159), "2, 1, 0.1, -1", "1") == "2, 3.142, 0.1, -1"
    assert on_click("multiclass", click(-7), "[1 2 3]", 2) == "1, 2, -7"
    moved = on_click("multiclass", click(0.5), "1000, 999, 998", "0")
    assert controls.parse_logits(moved) == ((0.5, 999.0, 998.0), None)


@pytest.mark.parametrize(
    ("logits", "swept"),
    [("1,,2", "0"), ("", "0"), (None, "0"), ("1, 2", "2"), ("1, 2", "abc"), ("1, 2", "0.5"), ("1, 2", None),
     ("1, 2", "-1")],
)
def test_logits_from_click_ignores_invalid_state(logits, swept):
    assert on_click("multiclass", click(1.0), logits, swept) is no_update


# ---------------------------------------------------------------- patch + previous figure == new figure


def apply_patch(figure: dict, patch: dict) -> dict:
    """What the browser does with a Patch (Assign and Delete operations)."""
    import copy

    result = copy.deepcopy(figure)
    assert is_patch(patch), patch
    for op in patch["operations"]:
        *path, last = op["location"]
        target = result
        for step in path:
            target = target.setdefault(step, {}) if isinstance(target, dict) else target[step]
        if op["operation"] == "Delete":  # the renderer's dissocPath: a missing key is no error
            target.pop(last, None)
        else:
            assert op["operation"] == "Assign", op
            target[last] = copy.deepcopy(op["params"]["value"])
    return result


TRANSITIONS = [
    ("regression", {}, {"prediction": "-2.5"}, {}),
    ("regression", {}, {"target": "1.75"}, {}),
    ("regression", {}, {"delta": "0.3"}, {}),
    ("regression", {}, {"tau": "0.8"}, {"losses": ["mse", "quantile"]}),
    ("binary", {}, {"probability": "0.2"}, {}),
    ("binary", {}, {"label": "1"}, {}),
    ("binary", {}, {"label": "0.3"}, {}),
    ("binary", {}, {"gamma": "0.5"}, {"losses": ["bce", "focal"]}),
    ("binary", {}, {"probability": "0.6"}, {"axis": "prob"}),
    ("multiclass", {}, {"temperature": "2"}, {}),
    ("multiclass", {}, {"true_class": "2"}, {}),
    ("multiclass", {"swept_class": "0"}, {"swept_class": "0"}, {"logits": "4, 1, 0.1, -1"}),
    ("multiclass", {"swept_class": "0"}, {"swept_class": "0"}, {"logits": "2, 3, 0.1, -1"}),
    # A y change that keeps ŷ − y's grid start: each residual (start + i·step) − y may still round differently.
    ("regression", {"target": "0.1"}, {"target": "0.3"}, {}),
    ("regression", {"target": "-2.7"}, {"target": "3.3"}, {}),
    ("regression", {"target": "0"}, {"target": "0.7"}, {"losses": ["mse", "mae", "huber", "log_cosh", "quantile"]}),
    ("regression", {"target": "1.1", "prediction": "9"}, {"target": "2.3", "prediction": "9"}, {}),
]


def assert_bit_identical(got, want, path="figure"):
    """Every plotted number the same float: what the screen shows after a patch is the fresh figure."""
    if isinstance(want, dict) and set(want) == {"dtype", "bdata"}:
        g, w = decode(got), decode(want)
        assert g.dtype == w.dtype and g.shape == w.shape, path
        differ = np.flatnonzero(~((g == w) | (np.isnan(g) & np.isnan(w))))
        assert not len(differ), f"{path}: {len(differ)} points differ, first at {differ[0]}: {g[differ[0]]!r} != {w[differ[0]]!r}"
    elif isinstance(want, dict):
        assert set(got) == set(want), path
        for key in want:
            assert_bit_identical(got[key], want[key], f"{path}.{key}")
    elif isinstance(want, list):
        assert len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_bit_identical(g, w, f"{path}[{i}]")
    else:
        assert got == want, path


@pytest.mark.parametrize(("view", "before", "after", "other"), TRANSITIONS)
def test_patch_applied_to_previous_figure_is_bit_identical_to_a_fresh_load(view, before, after, other):
    """The browser applies the Patch to what it shows: the result must be the fresh figure, bit for bit, so a
    link copied after the change redraws exactly what was on screen."""
    other = dict(other)
    losses = other.pop("losses", None)
    first = call_update(view, before, losses, None, **{k: v for k, v in other.items() if k != "logits"})
    second = call_update(view, after, losses, first["query"], **other)
    fresh = call_update(view, after, losses, None, **other)  # no previous: full figures
    for name in ("loss_figure", "grad_figure"):
        update = second[name]
        shown = apply_patch(first[name], update) if is_patch(update) else update
        assert_bit_identical(shown, fresh[name], name)


RAW_VALUES = st.one_of(
    st.none(), st.booleans(), st.text(max_size=30), st.floats(), st.integers(-(10**300), 10**300),
    st.lists(st.integers(), max_size=3), st.sampled_from(["−3", "1e-320", " 2 ", "0x10", "1_0", "١٢"]),
)


@settings(max_examples=150, deadline=None)
@given(
    view=st.sampled_from(["regression", "binary", "multiclass"]),
    raw=st.dictionaries(st.sampled_from(["target", "prediction", "delta", "tau", "label", "probability", "gamma",
                                         "true_class", "temperature", "swept_class"]), RAW_VALUES),
    losses=st.one_of(st.none(), st.text(max_size=10),
                     st.lists(st.sampled_from(["mse", "huber", "bce", "focal", "hinge", "brier", "x", ""]),
                              max_size=4)),
    extra=st.one_of(st.none(), st.text(max_size=40), st.sampled_from(["logit", "prob", "1, 2", "1000, 999, 998"])),
)
def test_update_view_never_raises_on_hostile_control_values(view, raw, losses, extra):
    import warnings

    kwargs = extras(view)
    if view == "binary":
        kwargs["axis"] = extra if extra in ("logit", "prob") else kwargs["axis"]
    if view == "multiclass":
        kwargs["logits"] = extra
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # extreme-but-valid values may warn in the core
        result = callbacks.update_view(view, raw, losses, None, **kwargs)
    assert all(isinstance(result[f"message:{c.name}"], str) for c in views.get(view).numbers)
    assert set(chart_outputs(view)) <= set(result)
    failed = any(result[k] for k in result if k.startswith("message:"))
    assert (result["loss_figure"] is no_update) == failed


# ---------------------------------------------------------------- removing logits (issue 17 bug 7)


def test_removing_logits_moves_class_indices_that_no_longer_exist():
    previous = encode_query(views.default_state("multiclass"))
    result = call_update("multiclass", {"true_class": "3", "swept_class": "3"}, previous=previous,
                         logits="1, 2", triggered=frozenset({"logits"}))
    assert result["message:logits"] == ""
    assert result["value:true_class"] == "1" and result["value:swept_class"] == "1"
    assert "moved to class 1" in result["message:true_class"]
    assert "moved to class 1" in result["message:swept_class"]
    assert result["loss_figure"] is not no_update
    assert len(result["probability_figure"]["data"][0]["x"]) == 2
    state = parse_query("multiclass", result["query"])
    assert state.logits == (1.0, 2.0) and state.numbers["true_class"] == 1 and state.numbers["swept_class"] == 1


def test_a_typed_class_index_beyond_the_logits_is_refused_with_the_current_range():
    for typed in ("5", "12"):
        result = call_update("multiclass", {"true_class": typed}, triggered=frozenset({"true_class"}))
        assert result["message:true_class"].endswith("expected a whole number from 0 to 3"), result["message:true_class"]
        assert result["value:true_class"] is no_update
        assert result["loss_figure"] is no_update


# ---------------------------------------------------------------- log axes (issue 16)


def test_log_scale_draws_log_loss_axes_and_symlog_gradients_with_exact_hover_values():
    result = call_update("binary", {"label": "1", "probability": "0.999999"}, scale="log", panels="overlay")
    loss, grad = result["loss_figure"], result["grad_figure"]
    assert loss["layout"]["yaxis"]["type"] == "log"
    bce = next(t for t in grad["data"] if t.get("meta") == "bce")
    z = bce["x0"] + bce["dx"] * np.arange(decode(bce["y"]).size)
    exact = -1 / (1 + np.exp(z))  # dBCE/dz at y = 1: σ(z) − 1 = −σ(−z), tiny but not 0 in the tail
    np.testing.assert_allclose(decode(bce["customdata"]), exact, rtol=1e-9)
    shown = decode(bce["y"])
    assert np.all(np.diff(shown) >= 0)  # the transform keeps the order of the values
    ticks = grad["layout"]["yaxis"]["ticktext"]
    assert "0" in ticks and any(t.startswith("−1e-") for t in ticks), ticks
    state = parse_query("binary", result["query"])
    assert state.scale == "log"


def test_a_full_redraw_resends_the_formulas_only_when_they_changed():
    """Resending the same formulas makes MathJax typeset them again, which can overlap a running typeset."""
    first = call_update("binary", previous=None)
    assert first["formulas"] is not no_update  # a first draw sends them
    axis_switched = call_update("binary", previous=first["query"], axis="prob")
    assert axis_switched["loss_figure"] is not no_update  # a full redraw of the charts ...
    assert axis_switched["formulas"] is no_update  # ... with the same formulas
    scale_switched = call_update("regression", previous=call_update("regression")["query"], scale="log")
    assert scale_switched["formulas"] is no_update
    more_losses = call_update("binary", losses=["bce", "sigmoid_mse", "focal"], previous=first["query"])
    assert "Focal" in more_losses["formulas"]


def test_a_link_with_a_hidden_loss_says_so_on_first_paint():
    """The note under the checklist came only with the first control change; a link must show it at once."""
    content, _, _ = callbacks.route("/binary", "?label=0.5&losses=bce,hinge")
    message = next(c for c in walk(content) if getattr(c, "id", None) == ids.View("binary").LOSSES_MESSAGE)
    assert "Hinge needs a hard label" in str(message.children)
    content, _, _ = callbacks.route("/binary", "?label=1&losses=bce,hinge")
    message = next(c for c in walk(content) if getattr(c, "id", None) == ids.View("binary").LOSSES_MESSAGE)
    assert not message.children


def test_logits_read_with_spaces_in_the_box_and_without_in_the_link():
    content, _, _ = callbacks.route("/multiclass", "?logits=1000,999,998")
    box = next(c for c in walk(content) if getattr(c, "id", None) == ids.Multiclass.LOGITS_INPUT)
    assert box.value == "1000, 999, 998"
    view = views.get("multiclass")
    assert "logits=1000,999,998&" in view.encode_query(view.parse_query("?logits=1000,999,998")) + "&"
