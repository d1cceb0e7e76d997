"""The control-change callback does only the work its answer needs (issue 11), with the same answers.

No timing here: each test checks a piece of work that is skipped or done once, against a reference
computed the slow way (the standard library's JSON reader, ``dash.Patch``, ``urlencode``, the
figure helpers called one by one).
"""

from __future__ import annotations

import json
import math
from urllib.parse import urlencode

import numpy as np
import pytest
from dash import Patch
from hypothesis import given, settings
from hypothesis import strategies as st

from losslab import registry
from losslab.dashboard import callbacks, controls, create_app, curves, figures, security, views
from losslab.dashboard.url_state import ViewState
from losslab.dashboard.views.base import UpdatePlan, View

# ---------------------------------------------------------------- one strict JSON reading


def reference_loads(text: bytes):
    """The strict reader before orjson: ``json.loads`` with the refusing hooks."""
    return json.loads(text, parse_constant=security._reject_constant, parse_float=security._parse_float,
                      parse_int=security._parse_int)


def same_json(a, b) -> bool:
    """Equal values of equal types all the way down (1 and 1.0 differ, and so do 0.0 and -0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return a == b


NUMBER_TEXTS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(10**40), 10**40).map(str),
    st.sampled_from(["5e-324", "2.4703282292062328e-324", "1e-400", "1.7976931348623157e308", "-0", "-0.0",
                     "9223372036854775807", "9223372036854775808", "-9223372036854775808",
                     "-9223372036854775809", "18446744073709551615", "18446744073709551616", "1E5",
                     "0.1000000000000000055511151231257827", "123456789012345678901234567890.5"]),
    st.tuples(st.integers(0, 10**20), st.integers(0, 10**20), st.integers(-330, 330)).map(
        lambda t: f"{t[0]}.{t[1]}e{t[2]}"),
)


@settings(max_examples=300, deadline=None)
@given(numbers=st.lists(NUMBER_TEXTS, max_size=6), text=st.text(max_size=12))
def test_strict_loads_reads_every_number_and_string_as_json_loads_does(numbers, text):
    body = ('{"inputs":[' + ",".join(numbers) + '],"s":' + json.dumps(text) + ',"e":"\\u00e9\\ud83d\\ude00"}')
    body = body.encode()
    try:
        expected = reference_loads(body)
    except ValueError as refused:  # a number that overflows a double
        with pytest.raises(ValueError, match=str(refused)):
            security.strict_loads(body)
    else:
        assert same_json(security.strict_loads(body), expected)


@pytest.mark.parametrize("body", [b'{"x":NaN}', b'{"x":Infinity}', b'{"x":1e999}', b'{"x":-1e999}',
                                  b'{"x":' + b"9" * 400 + b"}", b"[" * 40 + b"]" * 40, b"[" * 5000 + b"]" * 5000,
                                  b"[" + b",".join([b"1"] * 20001) + b"]", b"{nope", b'"a\x01b"'])
def test_strict_loads_still_refuses_with_the_same_message(body):
    with pytest.raises(ValueError) as fast:
        security.strict_loads(body)
    with pytest.raises(ValueError) as slow:
        check_reference(body)
    assert str(fast.value) == str(slow.value)


def check_reference(body: bytes):
    try:
        value = reference_loads(body)
    except RecursionError as error:
        raise ValueError("JSON nested too deeply") from error
    security.check_shape(value)


@pytest.mark.parametrize("body", [b'{"x":"\\ud800"}', b'{"x":' + b"9" * 300 + b"}", b"[" * 32 + b"]" * 32,
                                  b"[" + b",".join([b"1"] * 19999) + b"]", b'\xef\xbb\xbf{"x":1}'])
def test_strict_loads_accepts_what_it_accepted(body):
    assert same_json(security.strict_loads(body), reference_loads(body))


@pytest.fixture(scope="module")
def app():
    return create_app()


def test_a_callback_request_is_read_once(app, monkeypatch):
    """The request check reads the body; Dash then takes the same parsed body (Flask keeps it)."""
    readings = []
    original = security.strict_loads
    monkeypatch.setattr(security, "strict_loads", lambda text, **kw: readings.append(1) or original(text, **kw))
    client = app.server.test_client()
    view = views.get("regression")
    output, entry = next((o, e) for o, e in app.callback_map.items()
                         if "callback" in e and o.startswith("..regression-loss-graph.figure"))
    values = {"losses": list(view.default_losses)}
    body = {"output": output,
            "outputs": [dict(zip(("id", "property"), p.rsplit(".", 1), strict=True))
                        for p in output[2:-2].split("...")],
            "inputs": [{"id": i["id"], "property": i["property"],
                        "value": values.get(i["id"].removeprefix("regression-"), _page_value(view, i["id"]))}
                       for i in entry["inputs"]],
            "changedPropIds": [f"{entry['inputs'][0]['id']}.value"],
            "state": [{"id": s["id"], "property": s["property"], "value": None} for s in entry["state"]]}
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200, response.data[:300]
    assert len(readings) == 1


def _page_value(view, component_id):
    for control in view.numbers:
        if view.ids.input(control.name) == component_id:
            return controls.format_number(control.default)
    for control in view.extras:
        if control.input_id(view.name) == component_id:
            return control.default
    return None


def test_the_request_check_still_names_a_wrong_input(app):
    """The names worked out once per callback are the callback's own: a renamed input is refused."""
    output, entry = next((o, e) for o, e in app.callback_map.items()
                         if "callback" in e and o.startswith("..regression-loss-graph.figure"))
    good = {"output": output, "outputs": [dict(zip(("id", "property"), p.rsplit(".", 1), strict=True))
                                          for p in output[2:-2].split("...")],
            "inputs": [{"id": i["id"], "property": i["property"], "value": None} for i in entry["inputs"]],
            "state": [{"id": s["id"], "property": s["property"], "value": None} for s in entry["state"]]}
    assert security.callback_request_problem(app, good | {"changedPropIds": [f"{entry['inputs'][1]['id']}.value"]}) \
        is None
    assert security.callback_request_problem(app, good | {"changedPropIds": ["regression-nope-input.value"]}) == \
        "'changedPropIds' must name inputs of the callback"
    renamed = json.loads(json.dumps(good))
    renamed["inputs"][0]["id"] = "regression-nope-input"
    assert security.callback_request_problem(app, renamed).startswith("inputs[0] must be ")


# ---------------------------------------------------------------- the Patch, written directly


def sample_figure(yaxis: dict) -> dict:
    def trace(meta, y):
        return {"meta": meta, "x0": -1.0, "dx": 0.5, "y": figures.typed_array(np.asarray(y, dtype=float))}
    return {"data": [trace("mse", [1, 2]), trace("huber", [3, 4]), trace("fd:huber", [5, 6]),
                     {"meta": "marker", "x": [0.5], "y": [1.0]}],
            "layout": {"yaxis": yaxis, "xaxis": {"autorangeoptions": {"minallowed": -1, "maxallowed": 1}},
                       "shapes": [{"type": "line", "x0": 0.5}]}}


def reference_patch(figure: dict, plan: UpdatePlan) -> dict:
    """The update as ``dash.Patch`` builds it, by hand for this figure."""
    patch = Patch()
    yaxis = figure["layout"]["yaxis"]
    if "autorange" in yaxis:
        patch["layout"]["yaxis"]["autorange"] = yaxis["autorange"]
        if "range" in yaxis:
            patch["layout"]["yaxis"]["range"] = yaxis["range"]
        else:
            del patch["layout"]["yaxis"]["range"]
    if plan.replace_traces:
        patch["data"] = figure["data"]
        patch["layout"]["shapes"] = figure["layout"]["shapes"]
        return patch.to_plotly_json()
    for index, role in ((0, "mse"), (1, "huber"), (2, "huber")):
        if role in plan.redraw:
            patch["data"][index]["y"] = figure["data"][index]["y"]
        if plan.shift or role in plan.redraw:
            patch["data"][index]["x0"] = figure["data"][index]["x0"]
            patch["data"][index]["dx"] = figure["data"][index]["dx"]
    patch["data"][3] = figure["data"][3]
    if plan.shift:
        patch["layout"]["xaxis"]["autorangeoptions"] = figure["layout"]["xaxis"]["autorangeoptions"]
    patch["layout"]["shapes"] = figure["layout"]["shapes"]
    return patch.to_plotly_json()


@pytest.mark.parametrize("plan", [UpdatePlan(full=False), UpdatePlan(full=False, shift=True),
                                  UpdatePlan(full=False, redraw=frozenset({"huber"})),
                                  UpdatePlan(full=False, shift=True, redraw=frozenset({"mse", "huber"})),
                                  UpdatePlan(full=False, replace_traces=True)])
@pytest.mark.parametrize("yaxis", [{}, {"autorange": True}, {"autorange": False, "range": [0, 1e-300]}])
def test_figure_update_writes_the_operations_dash_patch_writes(plan, yaxis):
    figure = sample_figure(yaxis)
    assert callbacks.figure_update(figure, plan) == reference_patch(figure, plan)


# ---------------------------------------------------------------- curve encodings


def slow_encoding(values) -> tuple[dict, dict]:
    return figures.typed_array(figures.plottable(values)), figures.exact_values(values)


ARRAYS = [np.linspace(-3, 3, 301), np.array([0.0, -0.0, 5e-324, -1e303, 1e303]),
          np.array([1.0, np.inf, -np.inf, np.nan, 2e303, -1e306, 3.0]), np.array([np.nan, np.nan]),
          np.array([], dtype=float)]


@pytest.mark.parametrize("values", ARRAYS)
@pytest.mark.parametrize("frozen", [False, True])
def test_plotted_values_are_the_slow_encoding(values, frozen):
    values = values.copy()
    values.flags.writeable = not frozen
    for _ in range(2):  # the second call of a frozen array is the kept encoding
        y, exact = figures.plotted_values(values)
        assert (y, exact) == slow_encoding(values)


def test_a_frozen_array_is_encoded_once_and_a_writable_one_every_time():
    frozen = np.linspace(0, 1, 301).copy()  # owning its data, as a cached curve's arrays do
    frozen.flags.writeable = False
    assert figures.plotted_values(frozen)[0] is figures.plotted_values(frozen)[0]
    writable = np.linspace(0, 1, 301)
    first = figures.plotted_values(writable)[0]
    writable[0] = 7.0  # a caller may reuse its array: its next encoding must show the change
    assert figures.decoded(figures.plotted_values(writable)[0])[0] == 7.0
    assert figures.decoded(first)[0] == 0.0
    view = frozen[::2]  # read-only but not owning its data: never kept
    assert figures.plotted_values(view)[0] is not figures.plotted_values(view)[0]


def test_a_kept_encoding_leaves_with_its_array():
    array = np.linspace(0, 2, 301).copy()
    array.flags.writeable = False
    figures.plotted_values(array)
    key = id(array)
    assert key in figures._ENCODED
    del array
    assert key not in figures._ENCODED


# ---------------------------------------------------------------- the query string


def reference_encode_query(state: ViewState, view) -> str:
    """The query string the slow way: every piece through ``urlencode``."""
    pairs = [(name, controls.format_number(value)) for name, value in state.numbers.items()]
    pairs.append(("losses", ",".join(state.losses)))
    pairs += [(c.name, c.format(state.extras[c.name])) for c in view.extras]
    return "?" + urlencode(pairs, safe=",")


QUERY_NUMBERS = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-10**6, 10**6))


@pytest.mark.parametrize("view", [v for v in views.VIEWS if type(v).encode_query is View.encode_query],
                         ids=lambda v: v.name)
def test_encode_query_is_urlencodes_text_for_every_view(view):
    state = view.default_state()
    assert view.encode_query(state) == reference_encode_query(state, view)
    odd = ViewState(view.name, {name: value for name, value in zip(state.numbers, (1e308, -5e-324, -0.0, 1e-300,
                                                                                     12345.678, -1.5) * 4,
                                                                    strict=False)},
                    state.losses[::-1], state.extras)
    assert view.encode_query(odd) == reference_encode_query(odd, view)


@settings(max_examples=60, deadline=None)
@given(numbers=st.lists(QUERY_NUMBERS, min_size=1, max_size=8),
       names=st.lists(st.text(max_size=6), min_size=1, max_size=8))
def test_encode_query_escapes_what_urlencode_escapes(numbers, names):
    view = views.get("regression")
    state = ViewState(view.name, dict(zip(names, numbers, strict=False)), tuple(names), view.default_state().extras)
    assert view.encode_query(state) == reference_encode_query(state, view)


# ---------------------------------------------------------------- work per control change


def count_kernel_calls(monkeypatch) -> dict[str, int]:
    calls: dict[str, int] = {}
    for key, kernel in list(curves._IDENTITY_KERNELS.items()):
        def counted(x, y, p, key=key, kernel=kernel):
            calls[key] = calls.get(key, 0) + 1
            return kernel(x, y, p)
        monkeypatch.setitem(curves._IDENTITY_KERNELS, key, counted)
    return calls


def test_a_delta_change_computes_only_hubers_curve_and_row(monkeypatch):
    """Huber's δ changes one loss: the other losses' curves and readout rows are the kept ones."""
    curves.cache_clear()
    calls = count_kernel_calls(monkeypatch)
    losses = ["mse", "mae", "huber", "log_cosh"]
    view = views.get("regression")
    raw = {c.name: controls.format_number(c.default) for c in view.numbers}
    extras = {c.name: c.default for c in view.extras}
    first = callbacks.update_view("regression", raw, losses, None, frozenset(), **extras)
    assert first["query"].startswith("?")
    assert calls == dict.fromkeys(losses, 2)  # each loss: its curve and its readout row
    calls.clear()
    second = callbacks.update_view("regression", raw | {"delta": "2"}, losses, first["query"],
                                   frozenset({"delta"}), **extras)
    assert calls == {"huber": 2}
    operations = second["loss_figure"]["operations"]
    redrawn = {tuple(op["location"]) for op in operations if op["location"][-1] == "y"}
    assert redrawn == {("data", losses.index("huber"), "y")}


def test_the_readout_rows_kept_are_the_computed_ones():
    curves.cache_clear()
    keys = ["mse", "huber", "quantile"]
    params = {"delta": 0.75, "tau": 0.2}
    first = curves.raw_point(1.5, -0.25, keys, params)
    again = curves.raw_point(1.5, -0.25, keys, params)
    assert first == again
    for row, key in zip(first, keys, strict=True):
        spec = registry.get(key)
        kwargs = {p.name: params.get(p.name, p.default) for p in spec.parameters}
        assert row.loss == float(spec.loss(1.5, -0.25, **kwargs))
        assert row.grad_prediction == float(spec.grad(1.5, -0.25, **kwargs))
    # a zero's sign is part of the key: -0.0 and 0.0 are different points for a residual
    assert curves._raw_row.cache_info().currsize == 3
    curves.raw_point(-0.0, 0.0, ["mse"], params)
    curves.raw_point(0.0, 0.0, ["mse"], params)
    assert curves._raw_row.cache_info().currsize == 5


# ---------------------------------------------------------------- control callbacks answered directly


def control_request(app, view_name: str, changes: dict) -> dict:
    """A renderer-shaped request for a view's control callback, at the view's defaults plus ``changes``."""
    view = views.get(view_name)
    callback_id = next(o for o, e in app.callback_map.items()
                       if "callback" in e and o.startswith(f"..{view.ids.LOSS_GRAPH}.figure"))
    entry = app.callback_map[callback_id]
    values = {view.ids.LOSSES: list(view.default_losses)}
    values |= {view.ids.input(c.name): controls.format_number(c.default) for c in view.numbers}
    values |= {c.input_id(view.name): c.format(c.default) if c.has_message else c.default for c in view.extras}
    values |= changes
    return {"output": callback_id,
            "outputs": [dict(zip(("id", "property"), p.rsplit(".", 1), strict=True))
                        for p in callback_id[2:-2].split("...")],
            "inputs": [{"id": i["id"], "property": i["property"], "value": values.get(i["id"])}
                       for i in entry["inputs"]],
            "changedPropIds": [f"{next(iter(changes))}.value"] if changes else [],
            "state": [{"id": s["id"], "property": s["property"], "value": None} for s in entry["state"]]}


def answers(app, body: dict, direct: bool):
    """Status and bytes of the answer, with the direct answer on or off (then Dash dispatches)."""
    kept = dict(callbacks.fast_callbacks(app))
    if not direct:
        callbacks.fast_callbacks(app).clear()
    try:
        response = app.server.test_client().post("/_dash-update-component", json=body)
    finally:
        callbacks.fast_callbacks(app).update(kept)
    return response.status_code, response.data


@pytest.mark.parametrize(("view_name", "changes"), [
    ("regression", {"regression-delta-input": "2"}),
    ("regression", {"regression-target-input": "1e308"}),
    ("regression", {"regression-target-input": "abc"}),  # a message, charts not updated
    ("binary", {"binary-label-input": "1"}),
    ("multiclass", {"multiclass-logits-input": "2, 1, 0.5, -1"}),
    ("robust", {}),
])
def test_a_direct_answer_is_dashs_answer_byte_for_byte(app, view_name, changes):
    direct = answers(app, control_request(app, view_name, changes), direct=True)
    dispatched = answers(app, control_request(app, view_name, changes), direct=False)
    assert direct[0] == 200
    assert direct == dispatched


def test_the_direct_answer_skips_dashs_dispatch(app, monkeypatch):
    """Dash's dispatch is not entered for a control callback (it is for the page-load callback)."""
    entered = []
    original = type(app)._initialize_context
    monkeypatch.setattr(type(app), "_initialize_context", lambda self, body: entered.append(1) or original(self, body))
    status, _ = answers(app, control_request(app, "regression", {"regression-delta-input": "3"}), direct=True)
    assert status == 200 and not entered
    status, _ = answers(app, control_request(app, "regression", {"regression-delta-input": "3"}), direct=False)
    assert status == 200 and entered


def test_an_exception_in_a_directly_answered_callback_is_the_same_422(app, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(callbacks, "update_view", broken)
    body = control_request(app, "regression", {"regression-delta-input": "2"})
    for direct in (True, False):
        status, data = answers(app, body, direct)
        payload = json.loads(data)
        assert status == 422
        assert payload["error"] == "Unprocessable Entity" and len(payload["reference"]) == 12
        assert "boom" not in data.decode() and "Traceback" not in data.decode()
        assert payload["reference"] in caplog.text


def test_an_answer_with_every_output_no_update_is_dashs_answer(app, monkeypatch):
    """Dash answers a callback with outputs whose values are all no_update with 200 and an empty
    response (it raises PreventUpdate only for callbacks without outputs); the direct answer was 204."""
    from collections import defaultdict

    from dash import no_update

    monkeypatch.setattr(callbacks, "update_view", lambda *args, **kwargs: defaultdict(lambda: no_update))
    body = control_request(app, "regression", {"regression-delta-input": "2"})
    direct, dispatched = answers(app, body, direct=True), answers(app, body, direct=False)
    assert dispatched[0] == 200
    assert direct == dispatched


def test_a_bad_request_to_a_control_callback_is_still_refused(app):
    body = control_request(app, "regression", {"regression-delta-input": "2"})
    body["inputs"] = body["inputs"][1:]
    status, data = answers(app, body, direct=True)
    assert status == 400 and b"inputs must list" in data


@pytest.mark.parametrize("p", [0.5, 0.2, 1e-9, 5e-324, 0.0, 1.0, 1 - 2**-53, 0.7310585786300049])
def test_from_probability_is_the_logit_and_is_worked_out_once(p, monkeypatch):
    from losslab.activations import logit

    curves.cache_clear()
    calls = []
    monkeypatch.setattr(curves, "logit", lambda value: calls.append(value) or logit(value))
    first = curves.from_probability(p, "logit")
    assert same_json(first, float(logit(p)))
    assert same_json(curves.from_probability(p, "logit"), first)
    assert len(calls) == 1
    assert curves.from_probability(p, "prob") == p


def one_change(view) -> dict:
    """The first number control moved to another slider value (the view's first other choice without one)."""
    for control in view.numbers:
        if control.has_slider:
            moved = [control.value_at(p) for p in control.family_positions()]
            value = next((v for v in moved if v != control.default), None)
            if value is not None:
                return {view.ids.input(control.name): controls.format_number(value)}
    control = next(c for c in view.extras if getattr(c, "choices", None))
    other = next(value for value, _ in control.choices if value != control.default)
    return {control.input_id(view.name): other}


@pytest.mark.parametrize("changed", [False, True], ids=["default", "one-change"])
@pytest.mark.parametrize("view", views.VIEWS, ids=lambda v: v.name)
def test_every_views_direct_answer_is_dashs_answer_byte_for_byte(app, view, changed):
    """A Dash upgrade that changes the answer's form (or the arguments' order) fails here."""
    body = control_request(app, view.name, one_change(view) if changed else {})
    direct = answers(app, body, direct=True)
    assert direct[0] == 200
    assert b'"figure"' in direct[1]  # charts drawn: the request was a valid state, not only messages
    assert direct == answers(app, body, direct=False)


def test_with_dev_tools_on_dash_answers_and_times_the_callback():
    """LOSSLAB_DEBUG=1 turns Dash's dev tools on: the callback graph's timing comes from Dash's dispatch."""
    debug_app = create_app()
    debug_app.enable_dev_tools(debug=True, dev_tools_hot_reload=False)  # no file-watching thread
    body = control_request(debug_app, "regression", {"regression-delta-input": "2"})
    response = debug_app.server.test_client().post("/_dash-update-component", json=body)
    assert response.status_code == 200
    assert "__dash_server" in response.headers.get("Server-Timing", "")
    assert response.data == answers(create_app(), body, direct=True)[1]
