"""Segmentation view in Chromium: the overlap curves render as their closed forms, growing the background
leaves Dice's pull untouched and divides BCE's (curves, lesson and URL), the axis switches to the logit, a
click moves x, and bad input keeps the charts with its message. No console errors anywhere.

Expected values are closed forms of the default region (k = 5 object pixels at x, m = 245 background
pixels at b = 0, s = 1): Dice L = k(1 - x) / (kx + k + s), dL/dx = -k(2k + s) / (kx + k + s)^2, and the
pixel-mean BCE's dL/dx = -k / (n x).
"""

import math

from .conftest import assert_close, grid_x, option_label
from .test_bad_input import wait_message

LOSS, GRAD = "segmentation-loss-graph", "segmentation-grad-graph"


def dice(x, k=5, s=1.0):
    return k * (1 - x) / (k * x + k + s)


def dice_grad(x, k=5, s=1.0):
    return -k * (2 * k + s) / (k * x + k + s) ** 2


def open_segmentation(lab, query=""):
    """Open the view and wait for MathJax's first typeset of the formulas: a control change that resends
    them while it runs makes MathJax log an SVG "NaNex" width error (reported; not this view's own)."""
    lab.open("/segmentation" + query)
    lab.wait_until("document.querySelectorAll('#segmentation-formulas mjx-container').length >= 4",
                   "the formulas typeset by MathJax", timeout=20)


def shown(lab):
    return lab.snapshot(LOSS, GRAD) + lab.text("segmentation-readout") + lab.text("segmentation-lesson")


def test_background_size_moves_bce_but_not_dice_in_curves_lesson_and_url(lab):
    open_segmentation(lab)
    assert lab.curves(LOSS) == ["soft_dice", "tversky", "combo", "bce"]
    trace = lab.trace(LOSS, "soft_dice")
    assert_close(trace["y"], [dice(x) for x in grid_x(trace)], what="Dice of the default region")
    dice_before = lab.trace(GRAD, "soft_dice")
    assert_close(dice_before["y"], [dice_grad(x) for x in grid_x(dice_before)], what="dDice/dx")
    bce = lab.trace(GRAD, "bce")
    assert_close(bce["y"], [-5 / (250 * x) for x in grid_x(bce)], what="pixel-mean dBCE/dx = -k/(nx)")
    assert lab.text("segmentation-lesson").startswith("The object is 5 of 250 pixels (2%).")

    lab.type_into("segmentation-background-input", "1995")
    lab.wait_until(lambda: "background=1995&" in lab.driver.current_url, "URL background=1995")
    lab.wait_until(lambda: abs(lab.trace(GRAD, "bce")["y"][100] - -5 / (2000 * grid_x(bce)[100])) < 1e-12,
                   "BCE's pull to shrink by the region's size")
    assert lab.trace(GRAD, "soft_dice")["y"] == dice_before["y"]  # a clean background: Dice does not see it
    lab.wait_until(lambda: lab.text("segmentation-lesson").startswith("The object is 5 of 2000 pixels (0.25%)."),
                   "the lesson for the larger background")
    assert "Dice counts none of it" in lab.text("segmentation-lesson")
    assert lab.duo.get_logs() == []


def test_logit_axis_click_and_bad_input(lab):
    open_segmentation(lab, "?background_probability=0.02")
    option_label(lab, "segmentation-axis", "logit").click()
    lab.wait_until(lambda: lab.layout(GRAD, "yaxis.title.text") == "dL/dz", "the dL/dz axis")
    assert lab.layout(LOSS, "xaxis.title.text") == "logit z of every object pixel"
    lab.wait_until(lambda: "axis=logit" in lab.driver.current_url, "URL axis=logit")

    x, _ = lab.click_at(f"#{GRAD} .nsewdrag", 0.75, 0.5)
    aimed = lab.plot_x_at(GRAD, x)  # about 4 on the -8 .. 8 axis
    lab.wait_until(lambda: lab.value("segmentation-x-input") != "0.5", "the x box to follow the click")
    p = float(lab.value("segmentation-x-input"))
    assert abs(p - 1 / (1 + math.exp(-aimed))) < 0.01, (p, aimed)
    z = math.log(p / (1 - p))
    lab.wait_until(lambda: all(abs(mx - z) < 1e-6 for mx, _ in lab.marker_points(GRAD)), "the markers at z")
    lab.wait_until(lambda: lab.text("segmentation-readout").startswith(f"At x = {p:.6g}"), "the readout at x")
    lab.wait_until(lambda: f"soft recall TP/(TP + FN) = x = {p:.3g}" in lab.text("segmentation-lesson"),
                   "the lesson at x")

    before, url = shown(lab), lab.driver.current_url
    lab.type_into("segmentation-background-input", "1e9")
    wait_message(lab, "segmentation-background-message", "Background pixels m", "out of range", "2,000")
    lab.type_into("segmentation-x-input", "1")
    wait_message(lab, "segmentation-x-message", "Object probability x", "strictly between 0 and 1")
    assert shown(lab) == before and lab.driver.current_url == url
    lab.type_into("segmentation-background-input", "245")
    lab.type_into("segmentation-x-input", "0.25")
    lab.wait_until(lambda: lab.text("segmentation-x-message") == "" and lab.text("segmentation-background-message")
                   == "", "the messages to clear")
    lab.wait_until(lambda: "x=0.25&" in lab.driver.current_url, "URL x=0.25")
    assert lab.duo.get_logs() == []
