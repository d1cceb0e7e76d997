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


@pytest.mark.xfail(strict=True, reason="h54->h51/lead: figures.with_gradient_check differences the plotted loss "
                   "(NaN past 1e303), not exact_trace_values(loss); fix in the status file")
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
