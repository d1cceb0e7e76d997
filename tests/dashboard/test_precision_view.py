"""The Precision view's pure functions: URL state, the signed log axis, the charts, the breakpoint table.

Expected numbers are closed forms (log of float max, powers of two) and the naive
formulas written out here in NumPy, never the view's or the core's own results.
"""

from __future__ import annotations

import base64
import math

import dash
import numpy as np
import orjson
import pytest

from losslab import precision
from losslab.dashboard import callbacks, export, views
from losslab.dashboard.url_state import ViewState
from losslab.dashboard.views import precision as view_module

VIEW = views.get("precision")
LOG_MAX64 = math.log(np.finfo(np.float64).max)  # 709.782712893384
LOG_MAX32 = float(np.log(np.float64(np.finfo(np.float32).max)))  # 88.72283905206835


def decode(typed: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(typed["bdata"]), dtype="<" + typed["dtype"])


def state(**changes) -> ViewState:
    base = VIEW.default_state()
    extras = {name: changes.pop(name, base.extras[name]) for name in ("pair", "dtype")}
    return ViewState("precision", {**base.numbers, **changes}, base.losses, extras)


def one(figure: dict, meta: str) -> dict:
    found = [t for t in figure["data"] if t.get("meta") == meta]
    assert len(found) == 1, (meta, [t.get("meta") for t in figure["data"]])
    return found[0]


def table_rows(readout: dict) -> list[list[str]]:
    body = readout["props"]["children"][2]
    return [[cell["props"]["children"] for cell in row["props"]["children"]] for row in body["props"]["children"]]


def update(st: ViewState, **typed) -> dict:
    numbers = {name: str(value) for name, value in st.numbers.items()} | typed
    return callbacks.update_view(VIEW, numbers, list(st.losses), None, frozenset(typed), **st.extras)


# ---------------------------------------------------------------- URL state


def test_the_url_keeps_the_pair_the_dtype_and_the_range():
    assert VIEW.path == "/precision"
    default = VIEW.encode_query(VIEW.default_state())
    # (losses=bce rides along while the page shell gives every view a loss checklist; this view ignores it)
    assert default.startswith("?zmin=0.001&zmax=10000&")
    assert {"pair=log_sigmoid", "dtype=both"} <= set(default.lstrip("?").split("&"))
    changed = state(pair="softmax", dtype="float32", zmin=1e-6, zmax=1000.0)
    query = VIEW.encode_query(changed)
    assert {"pair=softmax", "dtype=float32", "zmin=1e-06", "zmax=1000"} <= set(query.lstrip("?").split("&"))
    assert VIEW.parse_query(query) == changed
    assert VIEW.parse_query(VIEW.build(changed).query) == changed


@pytest.mark.parametrize(("query", "fragment"), [
    ("?pair=sigmoid", "Compare"), ("?dtype=float16", "Arithmetic"), ("?zmin=0", "Smallest |z|"),
    ("?zmax=1e5", "Largest |z|"), ("?zmin=abc", "Smallest |z|"),
])
def test_a_bad_link_value_falls_back_to_the_default_with_a_notice(query, fragment):
    parsed = VIEW.parse_query(query)
    assert parsed == VIEW.default_state()
    assert any(fragment in notice for notice in parsed.notices), parsed.notices


@pytest.mark.parametrize(("name", "bad", "message"), [
    ("zmin", "2", "Smallest |z|: 2 is out of range; expected a number from 1e-10 to 1"),
    ("zmax", "1e9", "Largest |z|: 1000000000 is out of range; expected a number from 10 to 10,000"),
    ("zmin", "tiny", "Smallest |z|: “tiny” is not a number"),
])
def test_a_bad_range_gets_its_inline_message_and_keeps_the_charts(name, bad, message):
    result = update(VIEW.default_state(), **{name: bad})
    assert result[f"message:{name}"].startswith(message)
    assert all(result[key] is dash.no_update for key in callbacks.chart_keys(VIEW))


def test_every_change_redraws_whole_charts():
    before, after = VIEW.default_state(), state(dtype="float32")
    assert VIEW.plan(before, after).full and VIEW.plan(None, before).full
    result = update(after)
    assert isinstance(result["loss_figure"], dict) and "data" in result["loss_figure"]


# ---------------------------------------------------------------- the signed log axis


def test_the_axis_puts_each_decade_of_z_at_an_even_step_both_sides_of_the_centre():
    axis = view_module.SignedLogAxis.of(1e-3, 1e4)
    assert axis.count == 7 * 60 + 1
    step = 7 / (7 * 60)
    assert axis.step == pytest.approx(step)
    assert axis.x_of(1e-3) == pytest.approx(step / 2) and axis.x_of(-1e-3) == pytest.approx(-step / 2)
    assert axis.x_of(-1e4) == pytest.approx(axis.x0) and axis.x_of(10.0) == pytest.approx(4 + step / 2)
    # the grid sent as x0/dx lands on the same x as x_of, on both sides
    grid = np.logspace(-3, 4, axis.count)
    z = np.concatenate([-grid[::-1], grid])
    np.testing.assert_allclose(axis.x0 + axis.step * np.arange(z.size), [axis.x_of(v) for v in z], atol=1e-12)
    values, texts = axis.ticks()
    assert texts[0] == "±10<sup>-3</sup>" and values[0] == 0
    assert dict(zip(texts, values, strict=True))["10<sup>4</sup>"] == pytest.approx(axis.x_of(1e4))
    assert dict(zip(texts, values, strict=True))["−100"] == pytest.approx(axis.x_of(-100.0))


# ---------------------------------------------------------------- the charts


def test_default_charts_show_both_forms_in_both_dtypes_and_the_exact_value():
    output = VIEW.build(VIEW.default_state())
    curves = ["naive-float32", "stable-float32", "naive-float64", "stable-float64"]
    breaks = [f"breaks-{m}" for m in curves]
    assert [t["meta"] for t in output.loss_figure["data"]] == ["z", "exact", *curves, *breaks]
    assert [t["meta"] for t in output.grad_figure["data"]] == [*curves, *breaks]
    assert output.loss_figure["layout"]["yaxis"]["type"] == "log"
    assert output.grad_figure["layout"]["yaxis"]["type"] == "log"
    assert output.loss_figure["layout"]["hovermode"] == "x unified"


def test_the_naive_curve_is_numpys_own_float32_arithmetic():
    output = VIEW.build(VIEW.default_state())
    z32 = np.concatenate([-np.logspace(-3, 4, 421)[::-1], np.logspace(-3, 4, 421)]).astype(np.float32)
    with np.errstate(over="ignore", divide="ignore"):
        expected = -np.log(np.float32(1) / (np.float32(1) + np.exp(-z32)))  # -log sigma, drawn on a log axis
    expected = np.where(np.isfinite(expected) & (expected > 0), expected, np.nan).astype(np.float32)  # gaps
    naive = one(output.loss_figure, "naive-float32")
    assert naive["y"]["dtype"] == "f4"  # sent in the precision it was computed in
    np.testing.assert_array_equal(decode(naive["y"]), expected)
    # an invisible trace carries z for the hover box; the exact curve is -log sigma(z) = softplus(-z)
    z = decode(one(output.loss_figure, "z")["customdata"])
    np.testing.assert_allclose(z, z32.astype(np.float64), rtol=1e-7)
    shown = decode(one(output.loss_figure, "exact")["y"])
    assert shown[0] == pytest.approx(1e4) and shown[420] == pytest.approx(math.log1p(math.exp(1e-3)))  # z = -1e-3


def test_relative_errors_are_drawn_with_a_floor_and_the_threshold_line():
    output = VIEW.build(VIEW.default_state())
    errors = decode(one(output.grad_figure, "stable-float64")["y"])
    finite = errors[np.isfinite(errors)]
    assert finite.min() >= view_module.ERROR_FLOOR and finite.size == errors.size
    # float64 log_sigmoid stays within a few half-ulps (2^-53) while the exact value is a normal float64
    assert np.nanmax(errors[421:421 + 7 * 60 - 100]) < 8 * 2.0**-53
    lines = [s["y0"] for s in output.grad_figure["layout"]["shapes"] if s["type"] == "line"]
    assert 1e-3 in lines and 2.0**-24 in lines and 2.0**-53 in lines


def test_breakpoint_markers_sit_where_exp_overflows():
    output = VIEW.build(VIEW.default_state())
    axis = view_module.SignedLogAxis.of(1e-3, 1e4)
    markers = one(output.loss_figure, "breaks-naive-float64")
    texts = markers["text"]
    assert "sigmoid, then log, float64: returns -inf from z = -709.7827" in texts
    index = texts.index("sigmoid, then log, float64: returns -inf from z = -709.7827")
    assert markers["x"][index] == pytest.approx(axis.x_of(-LOG_MAX64), abs=1e-9)
    assert markers["y"][index] == pytest.approx(LOG_MAX64, rel=1e-9)  # -log sigma just before: about |z|
    assert markers["marker"]["symbol"][index] == "x"
    float32 = one(output.grad_figure, "breaks-naive-float32")
    assert any(text.startswith("sigmoid, then log, float32: returns -inf from z = -88.7228") for text in float32["text"])
    assert all(symbol.endswith("-open") for symbol in float32["marker"]["symbol"])


def test_the_table_gives_each_breakpoint_per_form_dtype_and_side():
    rows = table_rows(VIEW.readout_component(VIEW.build(VIEW.default_state())))
    assert [row[0] for row in rows] == ["sigmoid, then log · float32", "losslab.log_sigmoid · float32",
                                        "sigmoid, then log · float64", "losslab.log_sigmoid · float64"]
    naive64 = rows[2]
    assert naive64[1] == f"-inf from z = {-LOG_MAX64:.7g}"
    assert naive64[3] == f"0 from z = {53 * math.log(2):.7g}"  # 1 + e^-z rounds to 1: sigma = 1, log = 0
    assert rows[0][1] == f"-inf from z = {-LOG_MAX32:.7g}"
    assert rows[1][1] == rows[1][2] == "none in range"
    assert rows[3][3] == f"0 from z = {1075 * math.log(2):.7g} (unavoidable)"  # -e^-z below half of 2^-1074


def test_the_softmax_pair_says_what_its_one_dimensional_input_is():
    output = VIEW.build(state(pair="softmax", dtype="float64"))
    assert "(z, z − 1, z − 2)" in output.note and "1000, 999, 998" in output.note and "p̂₀" in output.note
    assert output.loss_figure["layout"]["yaxis"]["type"] == "linear"
    stable = decode(one(output.loss_figure, "stable-float64")["y"])
    z = decode(one(output.loss_figure, "z")["customdata"])
    gap1, gap2 = (z - 1) - z, (z - 2) - z  # -1 and -2 as float64 rounds z - 1 and z - 2 (the differences are exact)
    np.testing.assert_allclose(stable, 1 / (1 + np.exp(gap1) + np.exp(gap2)), rtol=3e-16 * 4)
    rows = table_rows(VIEW.readout_component(output))
    naive = rows[0]
    # the sum e^z (1 + e^-1 + e^-2) overflows first: finite / inf = 0; 0 / 0 = NaN once e^z underflows
    assert naive[3].startswith(f"0 from z = {LOG_MAX64 - math.log(1 + math.exp(-1) + math.exp(-2)):.7g}")
    assert naive[1].startswith(f"nan from z = {-1075 * math.log(2):.7g}")
    assert rows[1][1:] == ["none in range"] * 4


@pytest.mark.parametrize("pair", ["log_sigmoid", "bce", "softmax", "log_cosh", "cross_entropy"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_dtype_shows_only_its_own_curves(pair, dtype):
    output = VIEW.build(state(pair=pair, dtype=dtype))
    metas = {t["meta"] for t in output.grad_figure["data"]}
    assert metas == {f"naive-{dtype}", f"stable-{dtype}", f"breaks-naive-{dtype}", f"breaks-stable-{dtype}"}
    assert len(table_rows(VIEW.readout_component(output))) == 2
    assert output.formulas.startswith(f"**{precision.get(pair).label}**")


def test_grey_bands_mark_where_float32_cannot_hold_the_exact_value():
    output = VIEW.build(state(dtype="float32"))
    bands = [s for s in output.loss_figure["layout"]["shapes"] if s["type"] == "rect"]
    assert len(bands) == 1 and bands[0]["name"] == "beyond float32"
    axis = view_module.SignedLogAxis.of(1e-3, 1e4)
    # e^-z is held to 1e-3 while half the float32 subnormal spacing 2^-150 is below 1e-3 of it: z < 97.06
    assert axis.x_of(90.0) < bands[0]["x0"] < axis.x_of(104.0)
    assert bands[0]["x1"] >= axis.x_of(1e4)


def test_a_narrower_range_moves_the_axis_and_its_ticks():
    output = VIEW.build(state(zmin=1e-6, zmax=100.0))
    layout = output.loss_figure["layout"]["xaxis"]
    axis = view_module.SignedLogAxis.of(1e-6, 100.0)
    assert layout["range"] == [-(8 + axis.step), 8 + axis.step]
    assert "−10<sup>-6</sup>" in layout["title"]["text"]
    assert one(output.loss_figure, "exact")["x0"] == pytest.approx(axis.x0)


def test_the_default_answer_is_small():
    result = update(VIEW.default_state())
    size = len(orjson.dumps({key: value for key, value in result.items() if value is not dash.no_update}))
    assert size < 200_000, size


# ---------------------------------------------------------------- getting the numbers out


def test_the_csv_holds_z_and_what_numpy_returned_inf_included():
    table = export.read_csv(VIEW.export_csv(VIEW.default_state()))
    grid = np.logspace(-3, 4, 421)
    np.testing.assert_allclose(table["x"], np.concatenate([-grid[::-1], grid]), rtol=1e-13)
    z32 = table["x"].astype(np.float32)
    with np.errstate(over="ignore", divide="ignore"):
        naive32 = np.log(np.float32(1) / (np.float32(1) + np.exp(-z32)))
    np.testing.assert_array_equal(table["log σ(z): value: σ then log · float32"], naive32.astype(np.float64))
    assert np.isneginf(table["log σ(z): value: σ then log · float64"][0])  # z = -1e4: exp(1e4) overflowed
    exact = table["log σ(z): value: exact"]
    z = table["x"]
    np.testing.assert_allclose(exact[z < 0], z[z < 0] - np.log1p(np.exp(z[z < 0])), rtol=1e-15)
    errors = table["log σ(z): relative error: σ then log · float64"]
    assert np.isinf(errors[0]) and errors[-1] == 1.0  # -inf; then 0 where -e^-z is the truth


@pytest.mark.parametrize("query", ["", "?pair=softmax&dtype=float32&zmax=1000", "?pair=cross_entropy&zmin=1e-6",
                                   "?pair=log_cosh&dtype=float64&zmin=1e-9&zmax=100"])
def test_the_code_snippet_recomputes_the_csv_bit_for_bit(query):
    state_ = VIEW.parse_query(query)
    snippet = VIEW.code_snippet(state_)
    namespace: dict = {}
    exec(compile(snippet, "<precision snippet>", "exec"), namespace)  # as a user runs it
    table = export.read_csv(VIEW.export_csv(state_))
    np.testing.assert_array_equal(namespace["x"], table["x"])
    assert list(namespace["columns"]) == [name for name in table if name != "x"]
    for name, values in namespace["columns"].items():
        np.testing.assert_array_equal(np.asarray(values, dtype=np.float64), table[name], err_msg=name)
