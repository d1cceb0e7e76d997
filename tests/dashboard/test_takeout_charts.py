"""Everything the page shows can be taken out: each chart a view draws has its curves in "Download CSV"."""

from __future__ import annotations

import numpy as np
import pytest

import losslab
from losslab import registry
from losslab.dashboard import callbacks, export, views


def shown_figures(value):
    """Every chart a view's output holds (its two sweep charts and any in its extras, nested or not)."""
    if isinstance(value, dict):
        if "data" in value and "layout" in value:
            yield value
        else:
            for item in value.values():
                yield from shown_figures(item)


@pytest.mark.parametrize("name", [
    name for name in views.names() if name != "training"  # training exports its charts regrouped (export_figures)
])
def test_every_chart_the_page_shows_has_its_curves_in_the_csv(name):
    """Everything shown can be taken out: each chart's title heads some CSV column ("<chart>: <curve>")."""
    view = views.get(name)
    state = view.default_state()
    output = view.build(state)
    columns = export.read_curves(view.export_csv(state))
    charts = [output.loss_figure, output.grad_figure, *shown_figures(output.extras)]
    missing = [title for figure in charts for title in [figure["layout"].get("title", {}).get("text", "")]
               if not any(column.startswith(f"{title}: ") for column in columns)]
    assert missing == []


def test_no_loss_label_holds_the_separator_the_shown_code_groups_columns_by():
    """The shown code regroups its columns chart by chart on the part of "<chart>: <curve>" before the last ": "
    (``export.PRINT_COLUMNS``), to print them in the CSV's order: a curve label with ": " would split its chart."""
    assert [spec.label for spec in registry.LOSSES if ": " in spec.label] == []


# ---- the bar charts and curves added to the CSV (long form), against the core called here -------------------


def downloaded(name: str, query: str) -> str:
    """The text "Download CSV" sends for the page at ``query`` (the callback's own function)."""
    return callbacks.csv_download(views.get(name), query)["content"]


@pytest.mark.parametrize(("query", "z", "T", "c", "eps"), [
    ("", (2.0, 1.0, 0.1, -1.0), 1.0, 0, 0.0),
    ("?logits=1000,999,998,-5e-324&temperature=0.5&true_class=2&smoothing=0.2&swept_class=1",
     (1000.0, 999.0, 998.0, -5e-324), 0.5, 2, 0.2),
    ("?logits=1000000,-1000000,0,3&temperature=0.01&true_class=3&swept_class=3&check=on",
     (1e6, -1e6, 0.0, 3.0), 0.01, 3, 0.0),
])
def test_downloaded_multiclass_csv_holds_the_cores_softmax_and_gradient_per_class(query, z, T, c, eps):
    """The two bar charts' values, bit for bit: p̂ = softmax(z / T) and the cross-entropy gradient / T at the
    typed logits, each on x = the class index, beside the sweep (whose x stays ``read_csv``'s "x")."""
    text = downloaded("multiclass", query)
    table, curves = export.read_csv(text), export.read_curves(text)
    assert "\ncurve,x,y\n" in text and '\n# x of "Softmax probabilities p̂": class k\n' in text
    z = np.array(z)
    target = (1.0 - eps) * np.eye(z.size)[c] + eps / z.size
    p = losslab.softmax(z / T)
    gradient = losslab.cross_entropy_grad(z / T, target) / T
    np.testing.assert_allclose(gradient, (p - target) / T, rtol=1e-12, atol=1e-15 / T)  # the closed form p̂ − y
    for column, expected in (("Softmax probabilities p̂: p̂ₖ", p), ("Cross-entropy gradient (p̂ − y) / T: dL/dzₖ", gradient)):
        np.testing.assert_array_equal(curves[column][0], np.arange(z.size, dtype=np.float64))
        np.testing.assert_array_equal(table[column], expected, err_msg=column)
        assert table[column].tobytes() == expected.tobytes(), column  # bit for bit: -0.0 too
    sweep = next(column for column in table if column.startswith("Loss: "))
    np.testing.assert_array_equal(curves[sweep][0], table["x"])  # read_csv's x: the sweep's


@pytest.mark.parametrize(("query", "label", "loss", "grad", "params"), [
    ("", "Barron (general)", losslab.barron, losslab.barron_grad, {"alpha": 1.0, "c": 1.0}),
    ("?curve=cauchy&losses=mse,cauchy&c=0.5&check=on", "Cauchy", losslab.cauchy, losslab.cauchy_grad, {"c": 0.5}),
    # ℓ ≈ |r| / c up to inf and ℓ' ≈ ±1 / c = ±4.5e307: past the 1e303 the chart can draw (gaps there)
    ("?c=2.2250738585072014e-308&alpha=1&losses=mse,barron", "Barron (general)", losslab.barron,
     losslab.barron_grad, {"alpha": 1.0, "c": 2.2250738585072014e-308}),
])
def test_downloaded_robust_csv_holds_the_cores_loss_and_derivative_on_the_residual_grid(query, label, loss, grad,
                                                                                         params):
    """The focused loss's two curves, bit for bit the core's ℓ(r) and dℓ/dr at the CSV's own x: a grid of 201
    residuals over ±max(1.1 max |rᵢ|, 1), r = 0 on it, where rᵢ are the fit's residuals (the CSV's Residuals column)."""
    text = downloaded("robust", query)
    table, curves = export.read_csv(text), export.read_curves(text)
    assert "\ncurve,x,y\n" in text and f'\n# x of "{label}: loss against the residual": residual r = ŷ − y\n' in text
    r, values = curves[f"{label}: loss against the residual: {label}"]
    residuals = table[f"Residuals rᵢ = ŷᵢ − yᵢ: {label}"]
    reach = max(1.1 * np.max(np.abs(residuals)), 1.0)
    assert r.size == 201 and r[100] == 0.0 and r[-1] == -r[0]
    np.testing.assert_allclose(r[[0, -1]], [-reach, reach], rtol=1e-15)
    np.testing.assert_allclose(np.diff(r), reach / 100, rtol=1e-12)
    expected_loss = loss(r, np.zeros_like(r), reduction="none", **params)
    expected_grad = grad(r, np.zeros_like(r), **params)
    slope_r, slopes = curves[f"{label}: dℓ/dr against the residual: {label}"]
    np.testing.assert_array_equal(slope_r, r)
    assert values.tobytes() == expected_loss.tobytes(), "loss against the residual"
    assert slopes.tobytes() == expected_grad.tobytes(), "dℓ/dr against the residual"
    np.testing.assert_array_equal(curves["data: y"][0], table["x"])  # read_csv's x: the points'
    if params["c"] < 1e-300:  # the values the chart leaves out are the core's in the CSV, not NaN
        assert np.sum(np.abs(expected_loss) > 1e303) > 100 and not np.isnan(values).any()
