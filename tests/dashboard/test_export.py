"""Getting results out (issue 14): every view's CSV holds exactly the plotted curves, and each
view's code snippet, run as a user would run it, recomputes the same numbers from the public API."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from losslab.dashboard import export, views
from losslab.dashboard.figures import decoded

STATES = {
    "regression": ["", "?target=1.5&prediction=9&delta=0.3&losses=mse,mae,huber,log_cosh,quantile&tau=0.2"],
    "binary": ["", "?axis=prob&label=0.3&losses=bce,sigmoid_mse,focal&gamma=0.5&panels=overlay",
               "?label=1&losses=bce,hinge,focal&scale=log"],
    "multiclass": ["", "?logits=1000,999,998&temperature=0.5&swept_class=2&true_class=1&smoothing=0.2"
                       "&losses=cross_entropy,kl_divergence,brier"],
}


@pytest.mark.parametrize("name", views.names())
def test_csv_holds_every_plotted_curve_exactly(name):
    view = views.get(name)
    state = view.default_state()
    text = view.export_csv(state)
    assert text.startswith(f"# losslab: {view.title}\n# settings: {view.encode_query(state).lstrip('?')}")
    plotted = export.curve_columns(view.motion_figures(state))
    assert plotted, "no curves"
    written = export.read_curves(text)  # wide, or one row per (curve, x, y) when the x values differ
    assert set(plotted) <= set(written)  # a view may add columns (robust: the data and outlier flags)
    for column, (x, y) in plotted.items():
        np.testing.assert_array_equal(written[column][0], x)
        np.testing.assert_array_equal(written[column][1], y)  # bit for bit: repr round-trips float64


def snippet_cases():
    """Every view's default state and, where it has the toggle, its gradient check; plus STATES."""
    cases = [(name, "") for name in views.names()]
    cases += [(name, "?check=on") for name in views.names()
              if any(c.name == "check" for c in views.get(name).extras)]
    cases += [(name, query) for name, queries in STATES.items() for query in queries if query]
    cases += [("regression", "?check=on&losses=mse,huber,quantile&delta=0.3"),
              ("binary", "?check=on&axis=prob&losses=bce,focal,hinge&label=1&panels=columns"),
              ("multiclass", "?check=on&logits=3,1,-2&swept_class=1")]
    return cases


@pytest.mark.parametrize(("name", "query"), snippet_cases())
def test_code_snippet_recomputes_the_csv_columns(name, query):
    view = views.get(name)
    state = view.parse_query(query)
    snippet = view.code_snippet(state)
    assert snippet and "losslab" in snippet
    namespace: dict = {}
    exec(compile(snippet, f"<{name} snippet>", "exec"), namespace)  # what a user pastes into Python
    text = view.export_csv(state)
    table, curves = export.read_csv(text), export.read_curves(text)
    np.testing.assert_array_equal(namespace["x"], table["x"])
    assert set(namespace["columns"]) == set(table) - {"x"}
    for column, values in namespace["columns"].items():
        np.testing.assert_allclose(np.asarray(values, dtype=np.float64), table[column], rtol=1e-15, atol=0,
                                   err_msg=column)
        # a column on another x than the sweep's (a long-form CSV) says so in curve_x
        np.testing.assert_array_equal(namespace.get("curve_x", {}).get(column, namespace["x"]), curves[column][0],
                                      err_msg=f"x of {column}")


def print_table(x, columns, curve_x=None) -> str:
    """What the end of "Show code" prints for ``x`` and ``columns`` (and ``curve_x``: PRINT_CURVES)."""
    code = "import numpy as np\n" + (export.PRINT_COLUMNS if curve_x is None else export.PRINT_CURVES)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "<print>", "exec"), {"x": x, "columns": dict(columns), "curve_x": curve_x})
    return printed.getvalue()


def table_lines(text: str) -> str:
    return "".join(line + "\n" for line in text.splitlines() if not line.startswith("#"))


X = np.array([-0.0, 0.1, 5e-324, 1e308])
ODD = np.array([np.inf, -np.inf, np.nan, -0.0])  # values whose text must survive


@pytest.mark.parametrize(("columns", "curve_x", "long"), [
    ({"A: a": ODD, "B: b": X / 3, "A: c": X}, {}, False),  # one x: wide; columns regrouped chart by chart
    ({"A: a": ODD, "B: b": X / 3, "A: c": X}, {"B: b": X.copy()}, False),  # the same x, given again
    ({"A: a": ODD, "B: b": np.array([2.0, 1.0]), "A: c": X}, {"B: b": np.array([0.0, 1.0])}, True),
    ({"A: a": ODD, "B: b": X}, {"B: b": X + 1}, True),  # as many points, other x
])
def test_print_curves_prints_what_curves_csv_writes_in_either_form(columns, curve_x, long):
    """PRINT_CURVES (views whose charts may not share one x) prints the table ``curves_csv`` writes, in its
    wide or long form as ``curves_csv`` picks it, text for text (-0.0, 5e-324, inf, nan)."""
    grouped = {name: columns[name] for name in ("A: a", "A: c", "B: b") if name in columns}  # the CSV's order
    written = export.curves_csv("t", "?q=1", "x", {name: (curve_x.get(name, X), y) for name, y in grouped.items()},
                                {"B": "k"})
    assert ("\ncurve,x,y\n" in written) is long
    assert ('\n# x of "B": k\n' in written) is long  # what x is, in the long form, for the other chart
    assert print_table(X, columns, curve_x) == table_lines(written)
    if not long:
        assert print_table(X, columns) == table_lines(written)  # as PRINT_COLUMNS prints it


def test_read_csv_reads_the_long_form_with_the_first_curves_x():
    written = export.curves_csv("t", "", "z", {"A: a": (X, ODD), "B: b": (np.array([0.0, 1.0]), np.array([1.5, -0.0])),
                                               "A: c": (X, X)}, {"A": "z", "B": "class k"})
    assert written.splitlines()[:5] == ["# losslab: t", "# settings: ", "# x: z", '# x of "B": class k', "curve,x,y"]
    table, curves = export.read_csv(written), export.read_curves(written)
    assert list(table) == ["x", "A: a", "B: b", "A: c"]
    for name, values in (("x", X), ("A: a", ODD), ("B: b", np.array([1.5, -0.0])), ("A: c", X)):
        assert table[name].tobytes() == values.tobytes(), name  # bit for bit: -0.0, 5e-324, nan
    assert curves["B: b"][0].tolist() == [0.0, 1.0]


def test_csv_of_a_symlog_chart_holds_the_exact_gradients_not_the_drawn_transform():
    view = views.get("binary")
    state = view.parse_query("?label=1&losses=bce&scale=log&panels=overlay")
    table = export.read_csv(view.export_csv(state))
    grad_column = next(c for c in table if c.startswith("Gradient"))
    z = table["x"]
    np.testing.assert_allclose(table[grad_column], -1 / (1 + np.exp(z)), rtol=1e-9)
    drawn = next(t for t in view.build(state).grad_figure["data"] if t.get("meta") == "bce")
    assert not np.allclose(decoded(drawn["y"]), table[grad_column])  # the chart shows the transform
