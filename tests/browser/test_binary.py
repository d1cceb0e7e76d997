"""Binary view: logit/probability axis, the chapter's BCE-vs-MSE lesson, and the label."""

import math

from .conftest import assert_close, grid_x, option_label

LOSS, GRAD = "binary-loss-graph", "binary-grad-graph"


def sigmoid(z):
    return 1 / (1 + math.exp(-z))


def check_default_lesson(lab):
    """The chapter's numbers at the default p̂ = 0.99, y = 0: BCE keeps its gradient, MSE loses it."""
    p, y = 0.99, 0.0
    bce = abs(p - y)
    mse = abs(2 * (p - y) * p * (1 - p))
    assert (f"{bce:.4f}", f"{mse:.4f}") == ("0.9900", "0.0196")
    lesson = lab.duo.find_element("#binary-lesson")
    assert lesson.is_displayed()
    assert "|dBCE/dz| = 0.99," in lesson.text
    assert "|dMSE/dz| = 0.0196" in lesson.text
    assert lab.text("binary-readout").startswith("At p̂ = 0.99")


def test_default_lesson_and_axis_radio_between_logit_and_probability(lab):
    lab.open("/binary")
    check_default_lesson(lab)
    assert lab.layout(LOSS, "xaxis.title.text") == "logit z"
    assert lab.layout(GRAD, "yaxis.title.text") == "dL/dz"
    bce = lab.trace(GRAD, "bce")
    assert_close(bce["y"], [sigmoid(z) - 0 for z in grid_x(bce)], what="dBCE/dz = p - y")
    mse = lab.trace(GRAD, "sigmoid_mse")
    assert_close(mse["y"], [2 * sigmoid(z) * sigmoid(z) * (1 - sigmoid(z)) for z in grid_x(mse)],
                 what="dMSE/dz = 2 (p - y) p (1 - p)")

    option_label(lab, "binary-axis", "prob").click()
    lab.wait_until(lambda: lab.layout(LOSS, "xaxis.title.text") == "predicted probability p̂", "probability axis")
    lab.wait_until(lambda: lab.layout(GRAD, "yaxis.title.text") == "dL/dp̂", "dL/dp̂ axis title")
    assert lab.layout(GRAD, "xaxis.title.text") == "predicted probability p̂"
    bce = lab.trace(GRAD, "bce")
    assert abs(bce["x0"] - 0.0025) < 1e-12
    assert_close(bce["y"], [(p - 0) / (p * (1 - p)) for p in grid_x(bce)], tol=1e-7, what="dBCE/dp = (p - y)/(p(1 - p))")
    mse = lab.trace(GRAD, "sigmoid_mse")
    assert_close(mse["y"], [2 * (p - 0) for p in grid_x(mse)], what="dMSE/dp = 2 (p - y)")
    loss = lab.trace(LOSS, "bce")
    assert_close(loss["y"], [-math.log(1 - p) for p in grid_x(loss)], tol=1e-7, what="BCE = -log(1 - p)")
    assert {x for x, _ in lab.marker_points(LOSS)} == {0.99}  # the marker sits at p̂ on this axis
    lab.wait_until(lambda: "axis=prob" in lab.driver.current_url, "URL axis=prob")

    option_label(lab, "binary-axis", "logit").click()
    lab.wait_until(lambda: lab.layout(LOSS, "xaxis.title.text") == "logit z", "back to the logit axis")
    lab.wait_until(lambda: lab.layout(GRAD, "yaxis.title.text") == "dL/dz", "dL/dz axis title")
    marker_x = {x for x, _ in lab.marker_points(GRAD)}
    assert len(marker_x) == 1 and abs(marker_x.pop() - math.log(0.99 / 0.01)) < 1e-9
    assert lab.duo.get_logs() == []


def test_changing_label_redraws_curves_and_lesson(lab):
    lab.open("/binary")
    before = lab.snapshot(LOSS, GRAD)
    lab.type_into("binary-label-input", "1")
    lab.wait_until(lambda: lab.snapshot(LOSS, GRAD) != before, "curves to change with the label")
    loss = lab.trace(LOSS, "bce")
    assert_close(loss["y"], [math.log1p(math.exp(-z)) for z in grid_x(loss)], tol=1e-7, what="BCE(z, 1) = log(1 + e^-z)")
    grad = lab.trace(GRAD, "bce")
    assert_close(grad["y"], [sigmoid(z) - 1 for z in grid_x(grad)], what="dBCE/dz = p - 1")
    mse = lab.trace(LOSS, "sigmoid_mse")
    assert_close(mse["y"], [(sigmoid(z) - 1) ** 2 for z in grid_x(mse)], what="(σ(z) - 1)^2")
    p = 0.99
    lab.wait_until(lambda: f"|dBCE/dz| = {abs(p - 1):.3g}," in lab.text("binary-lesson"), "lesson for y = 1")
    assert f"|dMSE/dz| = {abs(2 * (p - 1) * p * (1 - p)):.3g}" in lab.text("binary-lesson")
    assert "right" in lab.text("binary-lesson") and "saturated" not in lab.text("binary-lesson")

    # A soft label: BCE = -(y log p + (1 - y) log(1 - p)).
    lab.type_into("binary-label-input", "0.3")
    def soft_bce_drawn():
        trace = lab.trace(LOSS, "bce")
        return all(abs(v - (-(0.3 * math.log(sigmoid(z)) + 0.7 * math.log(1 - sigmoid(z))))) < 1e-6
                   for z, v in zip(grid_x(trace), trace["y"], strict=True))
    lab.wait_until(soft_bce_drawn, "BCE for the soft label 0.3")
    lab.wait_until(lambda: "label=0.3" in lab.driver.current_url, "URL label=0.3")
    assert lab.duo.get_logs() == []


def test_hinge_and_focal_can_be_added(lab):
    lab.open("/binary")
    option_label(lab, "binary-losses", "hinge").click()
    lab.wait_until(lambda: lab.curves(LOSS) == ["bce", "sigmoid_mse", "hinge"], "hinge trace")
    hinge = lab.trace(LOSS, "hinge")  # y = 0 is the sign -1: max(0, 1 + z)
    assert_close(hinge["y"], [max(0.0, 1 + z) for z in grid_x(hinge)], what="hinge for y = 0")
    option_label(lab, "binary-losses", "focal").click()
    lab.wait_until(lambda: lab.curves(GRAD) == ["bce", "sigmoid_mse", "focal", "hinge"], "focal trace")
    focal = lab.trace(LOSS, "focal")  # gamma = 2, y = 0: -p^2 log(1 - p)
    assert_close(focal["y"], [sigmoid(z) ** 2 * math.log1p(math.exp(z)) for z in grid_x(focal)], tol=1e-7,
                 what="focal gamma=2")
    assert lab.duo.get_logs() == []
