"""The views fit the screens they are used on: a 1280×720 projector and a 390×844 phone (issue 17).

Checked from element geometry in the real browser: what must be seen is inside the
viewport, and no two labels of a chart (titles, axis titles, legend) overlap.
"""

from __future__ import annotations

import pytest

LABEL_BOXES_JS = """
const frame = document.querySelector('#' + arguments[0]);
const boxes = [];
const add = (kind, el) => { const r = el.getBoundingClientRect();
  if (r.width > 0 && r.height > 0) boxes.push({kind, text: el.textContent, left: r.left, right: r.right,
                                                top: r.top, bottom: r.bottom}); };
frame.querySelectorAll('.g-xtitle text, .g-x2title text, .g-x3title text, .g-x4title text').forEach((e) => add('xtitle', e));
frame.querySelectorAll('.g-ytitle text').forEach((e) => add('ytitle', e));
frame.querySelectorAll('.annotation-text').forEach((e) => add('panel-title', e));
frame.querySelectorAll('.g-gtitle text').forEach((e) => add('title', e));
frame.querySelectorAll('.legend .bg').forEach((e) => add('legend', e));
const card = frame.getBoundingClientRect();
return {boxes, card: {left: card.left, right: card.right, top: card.top, bottom: card.bottom}};
"""


def set_viewport(lab, width: int, height: int):
    lab.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500})


def box(lab, selector: str) -> dict:
    return lab.js("const r = document.querySelector(arguments[0]).getBoundingClientRect();"
                  "return {left: r.left, right: r.right, top: r.top, bottom: r.bottom};", selector)


def overlap(a: dict, b: dict, slack: float = 1.0) -> bool:
    return (min(a["right"], b["right"]) - max(a["left"], b["left"]) > slack
            and min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > slack)


def assert_labels_apart(lab, graph_id: str):
    found = lab.js(LABEL_BOXES_JS, graph_id)
    boxes, card = found["boxes"], found["card"]
    assert any(b["kind"] == "xtitle" for b in boxes), boxes
    for i, a in enumerate(boxes):
        assert card["left"] - 1 <= a["left"] and a["right"] <= card["right"] + 1, f"{a} clipped by the card {card}"
        for b in boxes[i + 1:]:
            assert not overlap(a, b), f"#{graph_id}: {a['kind']} {a['text']!r} overlaps {b['kind']} {b['text']!r}"


def settle(lab, graph_ids):
    lab.wait_until(lambda: all(lab.js(
        "const p = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
        "return p && p._fullLayout && !p._transitioning;", g) for g in graph_ids), "charts drawn")
    lab.js("return new Promise((done) => setTimeout(done, 400));")


@pytest.mark.parametrize("present", [False, True])
def test_binary_2x2_figure_controls_and_lesson_fit_a_1280x720_projector(lab, present):
    lab.open("/binary" + ("?present=1" if present else ""))
    set_viewport(lab, 1280, 720)
    lab.js("window.dispatchEvent(new Event('resize'));")
    settle(lab, ["binary-loss-graph", "binary-grad-graph"])
    lab.js("window.scrollTo(0, 0);")
    for selector in ("#binary-loss-graph", "#binary-grad-graph", "#binary-lesson", ".panel.controls"):
        assert box(lab, selector)["bottom"] <= 720, f"{selector} ends below the fold: {box(lab, selector)}"
    for graph in ("binary-loss-graph", "binary-grad-graph"):
        assert_labels_apart(lab, graph)
    if present:
        assert lab.js("return document.documentElement.classList.contains('presenting');")
        assert not lab.js("return document.querySelector('.formulas').offsetParent;")  # folded away
    assert lab.duo.get_logs() == []


def test_presenting_mode_survives_a_control_change_and_toggles_off(lab):
    lab.open("/binary?present=1")
    lab.type_into("binary-label-input", "1")
    lab.wait_until(lambda: "label=1" in lab.js("return window.location.search;"), "the URL to follow")
    assert "present=1" in lab.js("return window.location.search;")
    lab.duo.find_element("#present-toggle").click()
    lab.wait_until(lambda: not lab.js("return document.documentElement.classList.contains('presenting');"),
                   "presenting mode off")
    assert "present" not in lab.js("return window.location.search;")
    assert lab.text("url-notice") == ""
    assert lab.duo.get_logs() == []


@pytest.mark.parametrize(("path", "graphs"), [
    ("/binary?losses=bce,sigmoid_mse,focal,hinge", ["binary-loss-graph", "binary-grad-graph"]),
    ("/binary?losses=bce,sigmoid_mse,focal,hinge&panels=overlay", ["binary-loss-graph", "binary-grad-graph"]),
    ("/regression?losses=mse,mae,huber,log_cosh,quantile", ["regression-loss-graph", "regression-grad-graph"]),
    ("/multiclass", ["multiclass-loss-graph", "multiclass-grad-graph", "multiclass-probability-graph"]),
])
def test_phone_390x844_charts_have_no_overlapping_or_clipped_labels(lab, path, graphs):
    lab.open(path)
    set_viewport(lab, 390, 844)
    lab.js("window.dispatchEvent(new Event('resize'));")
    settle(lab, graphs)
    assert lab.js("return document.documentElement.scrollWidth;") <= 390  # no sideways scrolling
    for graph in graphs:
        assert_labels_apart(lab, graph)
    assert lab.duo.get_logs() == []


@pytest.mark.parametrize("width", [1400, 1280, 390])
def test_legends_never_cover_the_x_axis_title(lab, width):
    lab.open("/regression?losses=mse,mae,huber,log_cosh,quantile")
    set_viewport(lab, width, 900)
    lab.js("window.dispatchEvent(new Event('resize'));")
    settle(lab, ["regression-loss-graph", "regression-grad-graph"])
    for graph in ("regression-loss-graph", "regression-grad-graph"):
        assert_labels_apart(lab, graph)
    assert lab.duo.get_logs() == []


def test_each_view_keeps_its_state_when_you_come_back_and_reset_forgets_it(lab):
    lab.open("/regression")
    lab.type_into("regression-target-input", "2")
    lab.wait_until(lambda: "target=2" in lab.js("return window.location.search;"), "the URL to follow")
    lab.duo.find_element("#page-nav a[href='/binary']").click()
    lab.wait_until(lambda: lab.traces("binary-loss-graph"), "the binary view")
    lab.duo.find_element("#page-nav a[href='/regression']").click()
    lab.wait_until(lambda: lab.value("regression-target-input") == "2", "regression to reopen at y = 2")
    assert "target=2" in lab.js("return window.location.search;")
    lab.duo.find_element("a.reset-view").click()
    lab.wait_until(lambda: lab.value("regression-target-input") == "0", "the defaults")
    lab.duo.find_element("#page-nav a[href='/binary']").click()
    lab.wait_until(lambda: lab.traces("binary-loss-graph"), "the binary view")
    lab.duo.find_element("#page-nav a[href='/regression']").click()
    lab.wait_until(lambda: lab.traces("regression-loss-graph") and lab.value("regression-target-input") == "0",
                   "regression at its defaults after the reset")
    assert lab.duo.get_logs() == []


# Each legend's box, and the x tick labels and x-axis titles it must not cover.
LEGEND_AND_AXIS_JS = """
const frame = document.querySelector('#' + arguments[0]);
const box = (kind, el) => { const r = el.getBoundingClientRect();
  return {kind, text: el.textContent, left: r.left, right: r.right, top: r.top, bottom: r.bottom}; };
const visible = (b) => b.right - b.left > 0 && b.bottom - b.top > 0;
const legends = Array.from(frame.querySelectorAll('.legend .bg'), (e) => box('legend', e)).filter(visible);
const labels = [
  ...Array.from(frame.querySelectorAll('[class^="g-x"][class$="title"] text'), (e) => box('x-axis title', e)),
  ...Array.from(frame.querySelectorAll('.xaxislayer-above .xtick text, [class*="x"][class$="tick"] text'),
                (e) => box('x tick label', e)),
].filter(visible);
return {legends, labels};
"""


@pytest.mark.parametrize("viewport", [(1280, 720), (390, 844)])
@pytest.mark.parametrize(("path", "rows"), [
    ("/regression?losses=mse,mae,huber,log_cosh,quantile,smooth_l1,gaussian_nll", 3),
    ("/ranking?losses=margin_ranking,bpr,listnet", 2),
])
def test_legends_of_several_rows_cover_no_tick_label_or_axis_title(lab, path, rows, viewport):
    """Legends that wrap onto several rows (seven regression losses, three ranking losses) sit below the
    x tick labels and the x-axis title, on a projector and on a phone."""
    view = path.split("?")[0].strip("/")
    graphs = [f"{view}-loss-graph", f"{view}-grad-graph"]
    lab.open(path)
    set_viewport(lab, *viewport)
    lab.js("window.dispatchEvent(new Event('resize'));")
    settle(lab, graphs)
    for graph in graphs:
        found = lab.js(LEGEND_AND_AXIS_JS, graph)
        legends, labels = found["legends"], found["labels"]
        assert len(legends) == 1, legends
        legend = legends[0]
        # The case this is about: a legend of several rows (one row is about 32 px).
        assert legend["bottom"] - legend["top"] > 32 + 18 * (rows - 2), (viewport, legend)
        assert any(b["kind"] == "x-axis title" for b in labels) and any(b["kind"] == "x tick label" for b in labels)
        for label in labels:
            assert not overlap(legend, label), f"#{graph} at {viewport}: the legend covers the {label['kind']} {label['text']!r}"
        assert legend["bottom"] <= box(lab, f"#{graph}")["bottom"] + 1, "legend clipped at the chart's bottom"
    assert lab.duo.get_logs() == []


# Every drawn curve's and legend line's stroke, as the page computes it (CSS included), and the chart's background.
STROKES_JS = """
const frame = document.querySelector('#' + arguments[0]);
const lines = frame.querySelectorAll('.scatterlayer .js-line, .legendlines path');
const strokes = Array.from(lines, (e) => getComputedStyle(e))
  .filter((s) => s.stroke && s.stroke !== 'none' && Number(s.strokeOpacity) > 0).map((s) => s.stroke);
return {strokes: Array.from(new Set(strokes)), background: getComputedStyle(frame.closest('.chart')).backgroundColor};
"""


def _rgb(css: str) -> tuple[int, int, int]:
    parts = css[css.index("(") + 1:css.index(")")].split(",")
    return tuple(int(float(p)) for p in parts[:3])


def _luminance(rgb) -> float:
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (v / 255 for v in rgb)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a, b) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize(("path", "graphs"), [
    ("/regression?losses=mse,mae,huber,log_cosh,quantile,smooth_l1,gaussian_nll&check=on",
     ["regression-loss-graph", "regression-grad-graph"]),
    ("/generative?losses=gan_discriminator,gan_generator_minimax,gan_generator_nonsaturating,wgan_critic,"
     "wgan_generator,hinge_gan_discriminator,gaussian_kl", ["generative-loss-graph", "generative-grad-graph"]),
    ("/robust?losses=mse,mae,huber,log_cosh,quantile,pseudo_huber,cauchy,geman_mcclure,tukey,barron",
     ["robust-loss-graph", "robust-grad-graph"]),
])
def test_every_drawn_series_has_3_to_1_contrast_on_its_chart(lab, path, graphs, scheme):
    """WCAG 1.4.11 in the real page, both themes: the Okabe-Ito yellow (the 7th loss: Gaussian NLL, the
    VAE's KL term) and the palette's black (the 8th, robust's Geman-McClure) included."""
    lab.driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                               {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
    lab.open(path, wait_for=tuple(graphs))
    settle(lab, graphs)
    seen = 0
    for graph in graphs:
        found = lab.js(STROKES_JS, graph)
        background = _rgb(found["background"])
        assert (_luminance(background) < 0.2) == (scheme == "dark"), found["background"]
        for stroke in found["strokes"]:
            ratio = _contrast(_rgb(stroke), background)
            assert ratio >= 3.0, f"#{graph} ({scheme}): {stroke} on {found['background']} is {ratio:.2f}:1"
        seen += len(found["strokes"])
    assert seen >= 7
    assert lab.duo.get_logs() == []
