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
