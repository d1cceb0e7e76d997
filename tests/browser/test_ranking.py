"""Ranking view in Chromium: margin ranking, BPR and ListNet render as their closed forms, the margin redraws
only the hinge (curves and URL), a click moves the score margin (markers, readout, lesson), and bad input keeps
the charts with its message. No console errors.

Closed forms along x = s₁ − s₂: the hinge max(0, m − x), BPR log(1 + e^(−x)), and ListNet on the list
(x, 0, 0) with relevance (1, 0, 0): with L = log(e^x + 2) and q₁ = e/(e + 2), the loss is
q₁ (L − x) + (1 − q₁) L and dL/ds₁ = e^x/(e^x + 2) − q₁.
"""

import math

from .conftest import assert_close, grid_x, option_label
from .test_bad_input import wait_message

LOSS, GRAD = "ranking-loss-graph", "ranking-grad-graph"
Q1 = math.e / (math.e + 2)


def listnet(x):
    log_sum = math.log(math.exp(x) + 2)
    return Q1 * (log_sum - x) + (1 - Q1) * log_sum


def shown(lab):
    return lab.snapshot(LOSS, GRAD) + lab.text("ranking-readout") + lab.text("ranking-lesson")


def test_curves_margin_click_and_bad_input(lab):
    lab.open("/ranking")
    assert lab.curves(LOSS) == ["margin_ranking", "bpr"]
    option_label(lab, "ranking-losses", "listnet").click()
    lab.wait_until(lambda: lab.curves(LOSS) == ["margin_ranking", "bpr", "listnet"], "ListNet added")
    hinge, bpr, lnet = (lab.trace(LOSS, key) for key in ("margin_ranking", "bpr", "listnet"))
    assert_close(hinge["y"], [max(0, 1 - x) for x in grid_x(hinge)], what="hinge, m = 1")
    assert_close(bpr["y"], [math.log1p(math.exp(-x)) for x in grid_x(bpr)], what="BPR")
    assert_close(lnet["y"], [listnet(x) for x in grid_x(lnet)], what="ListNet on (x, 0, 0)")
    lgrad = lab.trace(GRAD, "listnet")
    assert_close(lgrad["y"], [math.exp(x) / (math.exp(x) + 2) - Q1 for x in grid_x(lgrad)], what="dListNet/ds₁")

    lab.type_into("ranking-margin-input", "2")
    lab.wait_until(lambda: "margin=2&" in lab.driver.current_url or lab.driver.current_url.endswith("margin=2"),
                   "URL margin=2")
    lab.wait_until(lambda: abs(lab.trace(LOSS, "margin_ranking")["y"][0] - 6) < 1e-12, "the hinge for m = 2")
    assert lab.trace(LOSS, "bpr") == bpr and lab.trace(LOSS, "listnet") == lnet  # they have no margin

    x, _ = lab.click_at(f"#{LOSS} .nsewdrag", 0.85, 0.5)
    aimed = lab.plot_x_at(LOSS, x)  # about 2.8 on the -4 .. 4 axis
    assert 2 < aimed < 3.6
    lab.wait_until(lambda: lab.value("ranking-margin_score-input") != "0.5", "the score margin to follow the click")
    value = float(lab.value("ranking-margin_score-input"))
    assert abs(value - aimed) < 0.03
    lab.wait_until(lambda: {round(mx, 9) for mx, _ in lab.marker_points(GRAD)} == {value}, "the markers at x")
    lab.wait_until(lambda: "the hinge is flat" in lab.text("ranking-lesson") and "pushed back down"
                   in lab.text("ranking-lesson"), "the lesson past the margin and past ListNet's minimum")
    assert lab.text("ranking-readout").startswith(f"At s₁ − s₂ = {value:.6g}")

    before, url = shown(lab), lab.driver.current_url
    lab.type_into("ranking-margin-input", "50")
    wait_message(lab, "ranking-margin-message", "Margin m", "out of range", "from -20 to 20")
    lab.type_into("ranking-margin_score-input", "abc")
    wait_message(lab, "ranking-margin_score-message", "Score margin", "not a number")
    assert shown(lab) == before and lab.driver.current_url == url
    lab.type_into("ranking-margin-input", "1")
    lab.type_into("ranking-margin_score-input", "-1")
    lab.wait_until(lambda: lab.text("ranking-margin-message") == "" and lab.text("ranking-margin_score-message")
                   == "", "the messages to clear")
    lab.wait_until(lambda: "in the wrong order" in lab.text("ranking-lesson"), "the lesson for an inverted pair")
    assert lab.duo.get_logs() == []
