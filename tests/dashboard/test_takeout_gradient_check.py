"""The gradient check's columns in Download CSV (``check=on``): each is the central difference of its own
loss column, (L[i+1] - L[i-1]) / (2 dx), as the shown code computes it, also where the losses pass the
1e303 that Plotly can place (the chart draws a gap there; the CSV holds the numbers)."""

from __future__ import annotations

import numpy as np
import pytest

from losslab.dashboard import export, views


def central_differences(x: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """NaN at the two ends and where the difference is not finite (as the check draws it)."""
    step = (x[-1] - x[0]) / (x.size - 1)
    with np.errstate(over="ignore", invalid="ignore"):
        inner = (loss[2:] - loss[:-2]) / (2 * step)
    return np.concatenate(([np.nan], np.where(np.isfinite(inner), inner, np.nan), [np.nan]))


@pytest.mark.parametrize(("name", "query"), [
    ("multiclass", "?check=on&class_weight=1e308&losses=weighted_cross_entropy"),
    ("binary", "?check=on&label=1&probability=1e-306&losses=exponential,bce&panels=overlay"),
])
def test_finite_difference_columns_difference_the_exported_losses(name, query):
    view = views.get(name)
    state = view.parse_query(query)
    assert state.notices == ()
    table = export.read_csv(view.export_csv(state))
    x = table["x"]
    checked = 0
    for column in [c for c in table if c.endswith(" (finite difference)")]:
        label = column.split(": ", 1)[1].removesuffix(" (finite difference)")
        loss = table[next(c for c in table if c.startswith("Loss") and c.endswith(f": {label}"))]
        expected = central_differences(x, loss)
        assert np.isfinite(expected).sum() > 100, "no finite differences to compare"
        np.testing.assert_array_equal(np.isnan(table[column]), np.isnan(expected), err_msg=column)
        np.testing.assert_allclose(table[column], expected, rtol=1e-9, err_msg=column)
        checked += 1
    assert checked


# The gradient check where the gradient curve's largest magnitude is subnormal: its misfit over that
# magnitude overflowed (RuntimeWarning, so the callback failed and the charts were not updated). The
# check cannot compare at that scale, and the readout's note says so for that loss.
SUBNORMAL_SCALE_CASES = [
    ("regression", {"target": "0", "prediction": "-1e6", "delta": "1e-300", "tau": "1e-323", "beta": "0",
                    "var": "1e300"}, None),
]


@pytest.mark.parametrize(("name", "numbers", "losses"), SUBNORMAL_SCALE_CASES, ids=[c[0] for c in SUBNORMAL_SCALE_CASES])
def test_the_check_at_a_subnormal_gradient_scale_draws_and_says_it_cannot_compare(name, numbers, losses):
    from losslab.dashboard import callbacks, controls

    view = views.get(name)
    state = view.default_state()
    raw = {c.name: controls.format_number(c.default) for c in view.numbers} | numbers
    extras = state.extras | {"check": "on"}
    result = callbacks.update_view(view, raw, list(losses or view.loss_keys), None, **extras)  # no RuntimeWarning
    assert isinstance(result["query"], str), "the charts were not updated"
    checks = result["grad_figure"]["layout"]["meta"]["gradient_check"]
    assert all(value is None or np.isfinite(value) for value in checks.values())
    assert None in checks.values()
    note = result["readout"]["props"]["children"][0]["props"]["children"]
    assert "not compared (gradients too small, or too large, to compare)" in note


def test_a_check_that_compared_no_point_reports_none_not_a_perfect_score():
    """Where no point has both a finite difference and a finite Simpson mean (here every difference and
    mean overflows), nothing was compared: the check must say so, not report a relative misfit of 0."""
    from losslab.dashboard import figures

    grid = {"x0": 0.0, "dx": 0.5}
    loss = {"type": "scatter", "mode": "lines", "meta": "k", **grid,
            "y": figures.typed_array(np.array([-1.7e308, 1.7e308, -1.7e308]))}
    grad = {"type": "scatter", "mode": "lines", "meta": "k", "name": "k", **grid,
            "y": figures.typed_array(np.array([1.7e308, -1.7e308, 1.7e308]))}
    _, checks = figures.with_gradient_check({"data": [loss], "layout": {}}, {"data": [grad], "layout": {}})
    assert checks == {"k": None}
