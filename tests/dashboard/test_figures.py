"""Plotly dict figures of ``losslab.figures``: typed arrays, trace structure, gaps, colours."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from losslab import registry
from losslab.dashboard import curves, figures


def decode(typed: dict) -> np.ndarray:
    """A Plotly typed array back to float64, independently of the encoder."""
    assert typed["dtype"] == "f8"
    raw = base64.b64decode(typed["bdata"], validate=True)
    assert len(raw) % 8 == 0
    return np.frombuffer(raw, dtype="<f8")


@pytest.mark.parametrize(
    "values",
    [
        np.array([0.0, -0.0, 1.5, -2.25, 1e-300, 5e-324, 1.7976931348623157e308, np.pi]),
        np.linspace(-8, 8, 401),
        np.array([], dtype=np.float64),
        np.arange(10, dtype=np.int64),
        np.array([0.1, 0.2], dtype=np.float32),
        np.array([np.nan, 1.0]),
        np.arange(12.0).reshape(3, 4)[:, ::2],  # non-contiguous view
    ],
)
def test_typed_array_round_trips_exactly(values):
    typed = figures.typed_array(values)
    assert set(typed) == {"dtype", "bdata"}
    assert isinstance(typed["bdata"], str)
    back = decode(typed)
    expected = np.asarray(values, dtype=np.float64).ravel()
    assert back.size == expected.size
    assert_array_equal(back, expected)  # NaN compares equal here
    assert np.signbit(back).tolist() == np.signbit(expected).tolist()


def test_typed_array_uses_little_endian_even_for_big_endian_input():
    values = np.array([1.0, -3.5, 1e10], dtype=">f8")
    assert_array_equal(decode(figures.typed_array(values)), [1.0, -3.5, 1e10])


def _regression_figure(quantity="loss", marker_x=1.5):
    keys = ["mse", "huber", "quantile"]
    swept = curves.sweep_regression(0.25, keys, {"delta": 1.0, "tau": 0.3})
    rows = curves.regression_point(marker_x, 0.25, keys, {"delta": 1.0, "tau": 0.3})
    order = [s.key for s in registry.for_task("regression")]
    fig = figures.curve_figure(
        swept, quantity, x_title="x", y_title="y", title="t", order=order,
        marker_x=marker_x, marker_ys=figures.readout_values(rows, quantity), uirevision="rev-1",
    )
    return swept, rows, fig


@pytest.mark.parametrize("quantity", ["loss", "grad", "grad_logit"])
def test_curve_figure_structure(quantity):
    swept, rows, fig = _regression_figure(quantity)
    data = fig["data"]
    assert len(data) == len(swept) + 1
    for trace, c in zip(data[:-1], swept, strict=True):
        assert trace["type"] == "scatter" and trace["mode"] == "lines"
        assert trace["meta"] == c.key
        assert trace["name"] == c.label
        assert "x" not in trace
        assert trace["x0"] == c.grid.start
        assert trace["dx"] == c.grid.step
        y = decode(trace["y"])
        assert y.size == c.grid.count
        assert_array_equal(y, getattr(c, quantity))
        # the grid the chart draws is the grid the sweep used
        assert_array_equal(trace["x0"] + trace["dx"] * np.arange(y.size), c.grid.values())
    marker = data[-1]
    assert marker["meta"] == "marker"
    assert marker["mode"] == "markers"
    assert marker["x"] == [1.5] * len(swept)
    field = {"loss": "loss", "grad": "grad_prediction", "grad_logit": "grad_logit"}[quantity]
    assert marker["y"] == [getattr(r, field) for r in rows]
    assert marker["text"] == [c.label for c in swept]
    layout = fig["layout"]
    assert layout["uirevision"] == "rev-1"
    assert [s["x0"] for s in layout["shapes"]] == [1.5]
    assert layout["shapes"][0]["x1"] == 1.5


def test_curve_figure_styles_are_distinct_per_loss():
    _, _, fig = _regression_figure()
    styles = [(t["line"]["color"], t["line"]["dash"]) for t in fig["data"][:-1]]
    assert len(set(styles)) == len(styles)


def test_curve_figure_is_json_serialisable():
    import json

    _, _, fig = _regression_figure()
    json.dumps(fig, allow_nan=False)


def test_infinite_values_become_nan_gaps():
    grid = curves.Grid(0.0, 0.5, 6)
    loss = np.array([np.inf, 1.0, -np.inf, 2.0, np.nan, 3.0])
    curve = curves.Curve("bce", "BCE", grid, loss, loss, loss)
    fig = figures.curve_figure(
        [curve], "loss", x_title="", y_title="", title="", order=["bce"],
        marker_x=0.0, marker_ys=[np.inf], uirevision="r",
    )
    y = decode(fig["data"][0]["y"])
    assert np.isnan(y[[0, 2, 4]]).all()
    assert_array_equal(y[[1, 3, 5]], [1.0, 2.0, 3.0])
    assert not np.isinf(y).any()
    marker = fig["data"][-1]
    assert marker["x"] == [] and marker["y"] == [] and marker["text"] == []


def test_marker_trace_keeps_finite_points_with_their_labels():
    trace = figures.marker_trace(0.3, [1.0, float("nan"), -2.0, float("-inf")], ["a", "b", "c", "d"])
    assert trace["y"] == [1.0, -2.0]
    assert trace["text"] == ["a", "c"]
    assert trace["x"] == [0.3, 0.3]


@pytest.mark.parametrize(("true_class", "swept"), [(0, 0), (2, 1), (4, 3)])
def test_class_bar_figure_highlights_true_class(true_class, swept):
    values = np.array([0.1, 0.2, 0.3, 0.15, 0.25])
    fig = figures.class_bar_figure(values, "title", "p", true_class, swept, y_range=(0, 1.1))
    (bar,) = fig["data"]
    assert bar["type"] == "bar"
    assert bar["x"] == [0, 1, 2, 3, 4]
    assert_array_equal(decode(bar["y"]), values)
    colors = bar["marker"]["color"]
    assert len(colors) == 5
    others = {c for k, c in enumerate(colors) if k != true_class}
    assert len(others) == 1 and colors[true_class] not in others
    widths = bar["marker"]["line"]["width"]
    assert widths[swept] > 0
    assert all(w == 0 for k, w in enumerate(widths) if k != swept)
    assert fig["layout"]["yaxis"]["range"] == [0, 1.1]
    assert fig["layout"]["xaxis"]["tickvals"] == [0, 1, 2, 3, 4]


def test_class_bar_figure_with_nan_values():
    values = np.array([np.nan, np.inf, 0.5])
    fig = figures.class_bar_figure(values, "t", "p", 0, 0)
    y = decode(fig["data"][0]["y"])
    assert np.isnan(y[:2]).all() and y[2] == 0.5
    assert fig["data"][0]["text"][0] == "nan"
    assert "range" not in fig["layout"]["yaxis"]


def test_palette_colours_are_distinct_valid_hex():
    colours = [c.lower() for c in figures.PALETTE]
    assert len(set(colours)) == len(colours)
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in colours)
    assert len(set(figures.DASHES)) == len(figures.DASHES)


@pytest.mark.parametrize("task", ["regression", "binary", "multiclass"])
def test_every_loss_of_a_task_gets_its_own_colour(task):
    order = [s.key for s in registry.for_task(task)]
    colours = [figures.style_for(k, order)["color"] for k in order]
    assert len(set(colours)) == len(colours)
    assert len(order) <= len(figures.PALETTE)


def test_style_is_stable_whatever_else_is_selected():
    order = [s.key for s in registry.for_task("regression")]
    assert figures.style_for("huber", order) == figures.style_for("huber", list(order))
    assert figures.style_for("huber", order)["color"] == figures.PALETTE[order.index("huber")]


def test_readout_values_pick_the_field():
    row = curves.PointValues("k", "K", 1.0, 2.0, 3.0)
    assert figures.readout_values([row], "loss") == [1.0]
    assert figures.readout_values([row], "grad") == [2.0]
    assert figures.readout_values([row], "grad_logit") == [3.0]


# ---- series colours: WCAG 1.4.11 contrast and colour-vision deficiencies --------------------------

CSS = (Path(__file__).resolve().parents[2] / "assets" / "losslab.css").read_text()


def _hex(colour: str) -> np.ndarray:
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", colour), colour
    return np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255.0


def _linear(colour: str) -> np.ndarray:
    """sRGB to linear light (IEC 61966-2-1, the WCAG 2 definition's 0.04045 threshold)."""
    c = _hex(colour)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _luminance(colour: str) -> float:
    return float(np.dot([0.2126, 0.7152, 0.0722], _linear(colour)))


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio (L1 + 0.05) / (L2 + 0.05), L1 the lighter relative luminance."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


# Machado, Oliveira & Fernandes (2009), severity 1.0, on linear RGB.
CVD = {
    "normal": np.eye(3),
    "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "tritanopia": np.array([[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                            [0.004733, 0.691367, 0.303900]]),
}


def _lab(linear_rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of a linear-RGB colour."""
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ np.clip(
        linear_rgb, 0, 1)
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def distance(a: str, b: str, vision: str) -> float:
    """CIELAB distance (ΔE*76) between two colours as seen with a colour-vision deficiency."""
    m = CVD[vision]
    return float(np.linalg.norm(_lab(m @ _linear(a)) - _lab(m @ _linear(b))))


def theme_colour(name: str, dark: bool) -> str:
    """A custom property of assets/losslab.css in the light (:root) or dark (media query) block."""
    blocks = re.findall(r":root\s*\{([^}]*)\}", CSS)
    found = re.search(rf"--{name}:\s*(#[0-9a-fA-F]{{6}})", blocks[1 if dark else 0])
    assert found, (name, dark)
    return found.group(1)


def dark_palette() -> list[str]:
    return [figures.DARK_SERIES_BLACK if c.lower() == "#000000" else c for c in figures.PALETTE]


def test_the_contrast_ratio_matches_wcag_reference_values():
    assert contrast("#000000", "#FFFFFF") == pytest.approx(21.0)
    assert contrast("#777777", "#FFFFFF") == pytest.approx(4.48, abs=0.005)  # WCAG's classic near-miss grey
    assert contrast("#F0E442", "#FFFFFF") < 1.5  # Okabe-Ito yellow: the colour this is about


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_every_series_colour_has_3_to_1_contrast_on_the_chart(dark):
    """WCAG 1.4.11: each curve against the chart's background (.chart uses --panel)."""
    background = theme_colour("panel", dark)
    palette = dark_palette() if dark else list(figures.PALETTE)
    ratios = {c: round(contrast(c, background), 2) for c in [*palette, figures.MARKER_COLOR, figures.CHECK_COLOR]}
    assert all(r >= 3.0 for r in ratios.values()), (background, ratios)


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
@pytest.mark.parametrize("vision", list(CVD))
def test_series_colours_stay_apart_with_colour_vision_deficiencies(dark, vision):
    palette = dark_palette() if dark else list(figures.PALETTE)
    closest = min((distance(a, b, vision), a, b) for i, a in enumerate(palette) for b in palette[i + 1:])
    assert closest[0] >= 10.0, closest


def test_okabe_ito_itself_is_no_further_apart_than_twice_our_threshold():
    """The threshold is of Okabe-Ito's order: its closest pair, under tritanopia, is about 16."""
    okabe_ito = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000")
    closest = min(distance(a, b, v) for v in CVD for i, a in enumerate(okabe_ito) for b in okabe_ito[i + 1:])
    assert 10.0 < closest < 20.0


def test_every_palette_colour_has_its_own_dash():
    assert len(figures.DASHES) == len(figures.PALETTE)
    styles = [figures.style_for(k, list("abcdefgh")) for k in "abcdefgh"]
    assert len({s["dash"] for s in styles}) == len({s["color"] for s in styles}) == 8


def test_the_dark_theme_redraws_the_palettes_black_as_figures_says():
    """assets/losslab.css swaps black series strokes for DARK_SERIES_BLACK, in the dark theme only."""
    dark_rules = re.search(r"@media \(prefers-color-scheme: dark\) \{\s*(\.chart[^}]*)\}", CSS)
    assert dark_rules, "no dark-theme rule for the series' black"
    assert 'stroke: rgb(0, 0, 0)' in dark_rules.group(1)
    assert f"stroke: {figures.DARK_SERIES_BLACK} !important" in dark_rules.group(1)


def test_the_browser_fits_legends_with_the_same_axis_room():
    """assets/losslab.js (fitLegend) sets the bottom margin to AXIS_ROOM plus the drawn legend's height."""
    script = (Path(__file__).resolve().parents[2] / "assets" / "losslab.js").read_text()
    found = re.search(r"var AXIS_ROOM = (\d+);", script)
    assert found and int(found.group(1)) == figures.AXIS_ROOM
    layout = figures.curve_layout("t", "x", "y", "rev")
    assert layout["margin"]["b"] == figures.AXIS_ROOM + figures.LEGEND_ROW
    assert (layout["legend"]["yref"], layout["legend"]["y"], layout["legend"]["yanchor"]) == ("container", 0, "bottom")


def test_more_losses_than_colours_still_get_distinct_styles():
    """The robust view orders ten losses: the ninth and tenth reuse colours, never a (colour, dash) pair."""
    order = [f"k{i}" for i in range(2 * len(figures.PALETTE))]
    styles = [(figures.style_for(k, order)["color"], figures.style_for(k, order)["dash"]) for k in order]
    assert len(set(styles)) == len(styles)
