"""Metric learning view in Chromium: the distance losses render as their closed forms and follow the pair's
label (curves, lesson, URL); the x axis switches to the similarity (InfoNCE drawn, the distance losses noted as
hidden) and to the angle, where a click moves x; an x that is not on a new axis is moved with a note; bad input
keeps the charts with its message. No console errors anywhere.

Closed forms: contrastive y d²/2 + (1 − y) max(0, m − d)²/2, triplet max(0, m + d(a, p) − d(a, n)),
InfoNCE log(1 + 15 e^((s⁻ − s⁺)/τ)), cosine embedding's dL/dθ = sin θ for a similar pair.
"""

import math

from .conftest import assert_close, checked, grid_x, option_label
from .test_bad_input import wait_message

LOSS, GRAD = "metric-loss-graph", "metric-grad-graph"


def shown(lab):
    return lab.snapshot(LOSS, GRAD) + lab.text("metric-readout") + lab.text("metric-lesson")


def test_label_and_axis_change_curves_lesson_and_url(lab):
    lab.open("/metric")
    assert lab.curves(LOSS) == ["contrastive", "triplet_margin"]
    trace = lab.trace(LOSS, "contrastive")
    assert_close(trace["y"], [max(0, 1 - d) ** 2 / 2 for d in grid_x(trace)], what="contrastive, dissimilar pair")
    trace = lab.trace(LOSS, "triplet_margin")
    assert_close(trace["y"], [max(0, 2 - d) for d in grid_x(trace)], what="triplet, d(a, p) = m = 1")
    assert "pushed apart" in lab.text("metric-lesson")

    lab.type_into("metric-label-input", "1")
    lab.wait_until(lambda: "label=1&" in lab.driver.current_url, "URL label=1")
    lab.wait_until(lambda: abs(lab.trace(GRAD, "contrastive")["y"][150] - grid_x(trace)[150]) < 1e-12,
                   "the similar pair's pull dL/dd = d")
    lab.wait_until(lambda: "pulled in at every distance" in lab.text("metric-lesson"), "the lesson for a similar pair")

    option_label(lab, "metric-losses", "info_nce").click()
    lab.wait_until(lambda: "InfoNCE against the similarity" in lab.text("metric-losses-message"),
                   "the note that InfoNCE lives on another axis")
    assert lab.curves(LOSS) == ["contrastive", "triplet_margin"]
    option_label(lab, "metric-axis", "similarity").click()
    lab.wait_until(lambda: lab.curves(LOSS) == ["info_nce"], "InfoNCE alone on the similarity axis")
    assert lab.layout(LOSS, "xaxis.title.text").startswith("similarity s⁺")
    trace = lab.trace(LOSS, "info_nce")
    assert_close(trace["y"], [math.log1p(15 * math.exp(-s / 0.1)) for s in grid_x(trace)], what="InfoNCE, s⁻ = 0")
    assert "Contrastive against the distance" in lab.text("metric-losses-message")
    lab.wait_until(lambda: "InfoNCE at τ = 0.1" in lab.text("metric-lesson"), "the InfoNCE lesson")
    assert lab.value("metric-x-input") == "0.5"  # on every axis: kept
    lab.wait_until(lambda: "axis=similarity" in lab.driver.current_url, "URL axis=similarity")
    assert checked(lab, "metric-losses") == ["contrastive", "triplet_margin", "info_nce"]
    assert lab.duo.get_logs() == []


def test_angle_axis_click_moved_x_and_bad_input(lab):
    lab.open("/metric?axis=angle&losses=cosine_embedding&label=1&x=1")
    assert lab.layout(GRAD, "yaxis.title.text") == "dL/dθ"
    grad = lab.trace(GRAD, "cosine_embedding")
    assert_close(grad["y"], [math.sin(t) for t in grid_x(grad)], what="dL/dθ = sin θ")

    x, _ = lab.click_at(f"#{GRAD} .nsewdrag", 0.75, 0.5)
    aimed = lab.plot_x_at(GRAD, x)  # about 2.4 on the 0 .. π axis
    assert 1.8 < aimed < 2.9
    lab.wait_until(lambda: lab.value("metric-x-input") != "1", "the x box to follow the click")
    theta = float(lab.value("metric-x-input"))
    assert abs(theta - aimed) < 0.02
    lab.wait_until(lambda: {round(mx, 9) for mx, _ in lab.marker_points(GRAD)} == {theta}, "the marker at θ")
    lab.wait_until(lambda: f"sin θ = {math.sin(theta):.3g}" in lab.text("metric-lesson"), "the lesson at θ")

    before, url = shown(lab), lab.driver.current_url
    lab.type_into("metric-x-input", "5")
    wait_message(lab, "metric-x-message", "Current x", "not an angle", "from 0 to 3.14159")
    lab.type_into("metric-temperature-input", "0")
    wait_message(lab, "metric-temperature-message", "Temperature τ", "out of range")
    assert shown(lab) == before and lab.driver.current_url == url
    lab.type_into("metric-temperature-input", "0.2")
    lab.type_into("metric-x-input", "3")
    lab.wait_until(lambda: lab.text("metric-x-message") == "" and lab.text("metric-temperature-message") == "",
                   "the messages to clear")
    lab.wait_until(lambda: "x=3&" in lab.driver.current_url, "URL x=3")

    # θ = 3 is no similarity: choosing that axis moves x to 0.5, with a note
    option_label(lab, "metric-losses", "info_nce").click()
    option_label(lab, "metric-axis", "similarity").click()
    lab.wait_until(lambda: lab.value("metric-x-input") == "0.5", "x moved onto the similarity axis")
    lab.wait_until(lambda: lab.curves(LOSS) == ["info_nce"], "InfoNCE drawn")
    lab.wait_until(lambda: "x=0.5&" in lab.driver.current_url and "temperature=0.2" in lab.driver.current_url,
                   "URL x=0.5")
    assert lab.duo.get_logs() == []
