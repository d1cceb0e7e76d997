"""What a user gets out of the dashboard at the states our other tests do not visit: the code shown
under "Show code" run in a fresh Python, the CSV's numbers against the core's at full precision
(infinities included), and the text a user types or a link carries, read by one grammar.

One subprocess runs every snippet (a fresh interpreter, as a user pastes it), so the file stays fast.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from losslab import registry
from losslab.dashboard import controls, export, figures, tables, views

ROOT = Path(__file__).resolve().parents[2]

# States a user reaches by ticking boxes or typing values past the sliders, where the snippet or the
# CSV went wrong: every regression loss ticked (smooth L1's β, Gaussian NLL's σ²), a probability of
# 5e-324 on the logit axis (the exponential loss is inf at the sweep's left end), a count rate of
# 5e-324 (dL/dλ past the float range), a robust scale c at the float minimum (every pull inf).
STATES = [
    ("regression", "?losses=mse,mae,huber,log_cosh,quantile,smooth_l1,gaussian_nll&beta=0.5&var=2"),
    ("regression", "?losses=smooth_l1,gaussian_nll&check=on"),
    ("binary", "?label=1&probability=5e-324&axis=logit&losses=exponential,bce"),
    ("counts", "?rate=5e-324&count=1000000&losses=poisson_nll,msle"),
    ("robust", "?c=2.2250738585072014e-308&alpha=2&losses=barron,mse"),
    # finite values Plotly cannot place (past about 2e304): e^704 at p̂ = 1e-306, dL/dλ = -1e306 at λ = 1e-300
    ("binary", "?label=1&probability=1e-306&axis=logit&losses=exponential,bce"),
    ("binary", "?label=1&probability=1e-306&axis=logit&losses=exponential,bce&scale=log"),
    ("counts", "?rate=1e-300&count=1000000&losses=poisson_nll,msle"),
    *[(name, "") for name in views.names()],
]


def run_snippets(cases: list[tuple[str, str]]) -> dict:
    """Each view's code (what "Show code" shows) run in one fresh interpreter, each in its own namespace:
    its printed output, its x and columns (as float lists, ±inf and NaN as strings), and any error."""
    program = "\n".join([
        "import contextlib, io, json, sys, warnings",
        "import numpy as np",
        "warnings.simplefilter('error')  # a RuntimeWarning in pasted code is a bug too",
        "def plain(values):",
        "    return [v if np.isfinite(v) else repr(v) for v in np.asarray(values, dtype=np.float64).tolist()]",
        "results = []",
        "for code in json.load(sys.stdin):",
        "    namespace, printed = {}, io.StringIO()",
        "    try:",
        "        with contextlib.redirect_stdout(printed):",
        "            exec(compile(code, '<snippet>', 'exec'), namespace)",
        "        results.append({'printed': printed.getvalue(), 'x': plain(namespace['x']),",
        "                        'columns': {k: plain(v) for k, v in namespace['columns'].items()},",
        "                        'curve_x': {k: plain(v) for k, v in namespace.get('curve_x', {}).items()}})",
        "    except Exception as error:",
        "        results.append({'error': f'{type(error).__name__}: {error}'})",
        "json.dump(results, sys.stdout)",
    ])
    codes = [views.get(name).code(views.get(name).parse_query(query)) for name, query in cases]
    done = subprocess.run([sys.executable, "-c", program], input=json.dumps(codes), capture_output=True,
                          text=True, check=True, cwd=ROOT, timeout=120)
    return dict(zip(cases, json.loads(done.stdout), strict=True))


@pytest.fixture(scope="module")
def snippet_runs():
    return run_snippets(STATES)


@pytest.fixture(scope="module")
def csv_texts():
    return {(name, query): views.get(name).export_csv(views.get(name).parse_query(query)) for name, query in STATES}


def as_floats(values) -> np.ndarray:
    return np.array([float(v) for v in values], dtype=np.float64)


@pytest.mark.parametrize(("name", "query"), STATES)
def test_shown_code_runs_in_a_fresh_python_and_recomputes_the_csv_bit_for_bit(snippet_runs, csv_texts, name, query):
    run = snippet_runs[(name, query)]
    assert "error" not in run, f"{name}{query}: the shown code fails: {run.get('error')}"
    written = export.read_curves(csv_texts[(name, query)])
    assert set(run["columns"]) == set(written)
    for column, values in run["columns"].items():
        x, y = written[column]
        at = run["curve_x"].get(column, run["x"])  # curve_x: the columns on another x (long-form CSV)
        np.testing.assert_array_equal(as_floats(at), x, err_msg=f"{name}{query}: x of {column}")
        # bit for bit, ±inf where the core's value is past the float range (NaN only where it is NaN)
        np.testing.assert_array_equal(as_floats(values), y, err_msg=f"{name}{query}: {column}")


@pytest.mark.parametrize(("name", "query"), STATES)
def test_shown_code_prints_the_numbers_of_the_csv(snippet_runs, csv_texts, name, query):
    """Run as a script, the code prints the table "Download CSV" writes (full precision), not nothing."""
    run = snippet_runs[(name, query)]
    assert "error" not in run, run.get("error")
    csv_text = csv_texts[(name, query)]
    if "\ncurve,x,y\n" in csv_text:  # a long-form CSV (curves on different x): the same rows, curve by curve
        printed, written = export.read_curves(run["printed"]), export.read_curves(csv_text)
        assert list(printed) == list(written)
        for column, (x, y) in written.items():
            np.testing.assert_array_equal(printed[column][0], x, err_msg=f"x of {column}")
            np.testing.assert_array_equal(printed[column][1], y, err_msg=column)
        return
    printed, written = export.read_csv(run["printed"]), export.read_csv(csv_text)
    assert list(printed) == ["x", *run["columns"]]
    assert set(printed) == set(written)
    for column, values in written.items():
        np.testing.assert_array_equal(printed[column], values, err_msg=column)


def test_csv_keeps_an_infinite_core_value_as_inf_not_nan():
    """At p̂ = 5e-324 the logit sweep starts at z = −745.1, where e^{−z} (the exponential loss of y = 1)
    is past the float range: the core says inf, and so must the CSV (the chart draws a gap)."""
    view = views.get("binary")
    state = view.parse_query("?label=1&probability=5e-324&axis=logit&losses=exponential")
    table = export.read_csv(view.export_csv(state))
    loss_column = next(c for c in table if c.startswith("Loss"))
    spec = registry.get("exponential")
    with np.errstate(over="ignore"):
        expected = spec.loss_from_logit(table["x"], 1.0)
    assert np.isinf(expected[0])
    np.testing.assert_array_equal(table[loss_column], expected)


# ---------------------------------------------------------------- one grammar for typed numbers

# Python's float() and JavaScript's Number() disagree on these: the server accepted what the slider
# ignored (1_000, full-width or Arabic-Indic digits) or rejected what the slider followed (0x3).
NOT_DECIMAL = ["0x3", "0X1f", "0b11", "0o7", "1_000", "1__0", "１", "٣", "1e1_0", "infinity1", "+-1", "1e", ".", "e3"]


@pytest.mark.parametrize("raw", NOT_DECIMAL)
def test_a_typed_number_is_plain_decimal_or_it_is_rejected_by_name(raw):
    value, problem = controls.parse_number(raw)
    assert value is None, f"{raw!r} was read as {value!r}"
    assert f"“{raw}”" in problem and "not a number" in problem


@pytest.mark.parametrize(("raw", "expected"), [
    ("1e3", 1000.0), ("1E-3", 0.001), ("  -2.5  ", -2.5), (".5", 0.5), ("5.", 5.0), ("+7", 7.0),
    ("−4", -4.0), ("-0", -0.0), ("1e-400", 0.0), ("00012", 12.0), ("4.9e-324", 5e-324),
])
def test_plain_decimal_numbers_are_read_as_python_reads_them(raw, expected):
    value, problem = controls.parse_number(raw)
    assert problem is None
    assert value == expected and math.copysign(1, value) == math.copysign(1, expected)


def test_a_comma_decimal_is_rejected_with_a_hint_to_use_a_point():
    _, problem = controls.parse_number("2,5")
    assert "“2,5”" in problem and "2.5" in problem


@pytest.mark.parametrize("raw", ["0x3", "1_000", "１"])
def test_a_link_with_a_non_decimal_number_keeps_the_default_with_a_notice(raw):
    view = views.get("regression")
    state = view.parse_query(f"?target={raw}&delta=2")
    assert state.numbers["target"] == 0.0 and state.numbers["delta"] == 2.0
    assert any(raw in notice and "True value y" in notice for notice in state.notices)


def test_the_browser_reads_numbers_with_the_same_pattern_as_the_server():
    """assets/losslab.js moves a slider only for text the server accepts: it holds the same pattern."""
    script = (ROOT / "assets" / "losslab.js").read_text(encoding="utf-8")
    assert f"/{controls.DECIMAL_NUMBER.pattern}/" in script


def numbers_sent(value):
    """Every number a figure sends to be drawn: typed arrays and plain numbers, at any depth."""
    if isinstance(value, dict):
        if {"dtype", "bdata"} <= set(value):
            yield from figures.decoded(value).tolist()
        else:
            for key, item in value.items():
                if key != "customdata":  # hover text only: never placed on an axis
                    yield from numbers_sent(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from numbers_sent(item)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield float(value)


@pytest.mark.parametrize(("name", "query"), [
    ("binary", "?label=1&probability=1e-306&axis=logit&losses=exponential,bce"),
    ("counts", "?rate=1e-300&count=1000000&losses=poisson_nll,msle"),
    ("counts", "?rate=1e-300&count=1000000&losses=poisson_nll,msle&panels=overlay&scale=log"),
    ("robust", "?c=1e-160&alpha=2&losses=barron,mse"),
])
def test_no_chart_gets_a_value_plotly_cannot_place(name, query):
    """Plotly.js draws NaN paths (console errors, a broken chart) for values past about 2e304 on a
    linear axis: /counts?rate=1e-300&count=1000000 broke both charts (dL/dλ = 1 − y/λ = −1e306)."""
    view = views.get(name)
    output = view.build(view.parse_query(query))
    for figure in view.motion_figures(view.parse_query(query)).values():
        linear = [k for k, axis in figure["layout"].items() if k.startswith("yaxis") and axis.get("type") != "log"]
        if not linear:
            continue
        largest = max((abs(v) for v in numbers_sent(figure["data"]) if math.isfinite(v)), default=0.0)
        assert largest <= figures.PLOTTABLE_LIMIT, f"{name}{query}: {largest:g} sent to a linear chart"
    assert output.query


@pytest.mark.parametrize(("value", "text"), [
    (-1e306, "-1.0000e+306"), (1e15, "1.0000e+15"), (999999999999999.9, "999999999999999.8750"),
    (2.5, "2.5000"), (-0.0005, "-5.0000e-04"), (0.0, "0.0000"), (float("inf"), "inf"), (float("nan"), "—"),
])
def test_readout_numbers_stay_short_at_any_magnitude(value, text):
    """/counts?rate=1e-300&count=1000000 printed dL/dλ = −1e306 with all its 307 digits and 4 decimals."""
    assert tables.number_text(value) == text


def test_a_link_full_of_unknown_keys_gives_a_short_notice_and_keeps_the_known_ones():
    """300 unknown keys in a 2000-character link made 301 notices (10,425 characters) above the page."""
    view = views.get("regression")
    query = "?delta=2&" + "&".join(f"k{i}=1" for i in range(330))
    state = view.parse_query(query[:2000])
    assert state.numbers["delta"] == 2.0
    notice = " ".join(state.notices)
    assert len(state.notices) <= 6 and len(notice) < 400, notice
    assert "“k0”" in notice and "more unknown settings" in notice


def test_the_robust_point_box_reads_an_index_as_plain_digits():
    """Typing 0x3 as the point to move moved point 3 (JavaScript's Number("0x3")) where the server's
    answer for that text is "not a whole number ≥ 0": assets/robust.js now sends such text as typed."""
    script = (ROOT / "assets" / "robust.js").read_text(encoding="utf-8")
    assert r"/^\+?\d+$/.test(text)" in script
    assert not re.search(r'(?<!whole)Number\((index|boxValue\("robust-move-point"\))\)', script)
    assert controls.parse_number("0x3")[1] is not None


@pytest.mark.parametrize(("view_name", "query", "kept"), [
    ("binary", "?losses=bce,focal,nope", ("bce", "focal")),
    ("regression", "?losses=nope,huber,,mse", ("mse", "huber")),
    ("multiclass", "?losses=cross_entropy,%3Cb%3E", ("cross_entropy",)),
])
def test_a_link_with_one_unknown_loss_keeps_the_losses_it_names_that_exist(view_name, query, kept):
    """An unknown loss name is named in the notice and dropped; the good names of the list stay ticked
    (the whole list fell back to the view's default losses)."""
    state = views.parse_query(view_name, query)
    assert state.losses == kept
    assert any("there is no loss called" in notice and f"using {', '.join(kept)}." in notice
               for notice in state.notices), state.notices


def test_a_comma_before_three_digits_is_not_read_as_a_decimal_comma_only():
    """'1,000' is one thousand to many readers and 1.0 to others: the hint names both ways to write it
    (it said only 'use a point for decimals: 1.000', which gives 1)."""
    value, problem = controls.parse_number("1,000")
    assert value is None
    assert "1.000" in problem and "no separator for thousands: 1000" in problem
    assert controls.parse_number("2,5")[1].endswith("(use a point for decimals: 2.5)")
    # a comma that cannot separate thousands gets the decimal hint only; several separators the thousands one
    assert controls.parse_number("0,001")[1].endswith("(use a point for decimals: 0.001)")
    assert controls.parse_number("1,000,000")[1].endswith("(no separator for thousands: 1000000)")
