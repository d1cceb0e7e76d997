"""Getting results out (issue 14): every view's CSV holds exactly the plotted curves, and each
view's code snippet, run as a user would run it, recomputes the same numbers from the public API."""

from __future__ import annotations

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
    table = export.read_csv(view.export_csv(state))
    np.testing.assert_array_equal(namespace["x"], table["x"])
    assert set(namespace["columns"]) == set(table) - {"x"}
    for column, values in namespace["columns"].items():
        np.testing.assert_allclose(np.asarray(values, dtype=np.float64), table[column], rtol=1e-15, atol=0,
                                   err_msg=column)


def test_csv_of_a_symlog_chart_holds_the_exact_gradients_not_the_drawn_transform():
    view = views.get("binary")
    state = view.parse_query("?label=1&losses=bce&scale=log&panels=overlay")
    table = export.read_csv(view.export_csv(state))
    grad_column = next(c for c in table if c.startswith("Gradient"))
    z = table["x"]
    np.testing.assert_allclose(table[grad_column], -1 / (1 + np.exp(z)), rtol=1e-9)
    drawn = next(t for t in view.build(state).grad_figure["data"] if t.get("meta") == "bce")
    assert not np.allclose(decoded(drawn["y"]), table[grad_column])  # the chart shows the transform
