"""Regression view: the true value, Huber's delta, slider/text-box sync and the loss checklist."""

import math

from selenium.webdriver.common.keys import Keys

from losslab.dashboard import views

from .conftest import assert_close, grid_x, option_label

LOSS, GRAD = "regression-loss-graph", "regression-grad-graph"


def huber(r, delta):
    a = min(abs(r), delta)
    return a * (abs(r) - a / 2)


def test_changing_true_value_shifts_curves_and_updates_url(lab):
    lab.open("/regression")
    before = {t["meta"]: t for t in lab.traces(LOSS)}
    assert before["mse"]["x0"] == -4  # y = 0, prediction axis y - 4 .. y + 4

    lab.type_into("regression-target-input", "1.25")
    lab.wait_until(lambda: lab.trace(LOSS, "mse")["x0"] == before["mse"]["x0"] + 1.25, "loss curves to shift by 1.25")
    for graph in (LOSS, GRAD):
        for trace in lab.traces(graph)[:-1]:
            assert trace["x0"] == -4 + 1.25, (graph, trace["meta"])
    mse = lab.trace(LOSS, "mse")
    assert_close(mse["y"], [(x - 1.25) ** 2 for x in grid_x(mse)], what="MSE around y=1.25")
    mae_grad = lab.trace(GRAD, "mae")
    assert_close(mae_grad["y"], [math.copysign(1, x - 1.25) if abs(x - 1.25) > 1e-12 else 0 for x in grid_x(mae_grad)],
                 what="MAE gradient sign(ŷ - y)")
    # The marker stays at the prediction 1.5 and now sits at residual 0.25.
    points = lab.marker_points(LOSS)
    assert {x for x, _ in points} == {1.5}
    assert_close(sorted(y for _, y in points), sorted([0.25**2, 0.25, huber(0.25, 1.0), math.log(math.cosh(0.25))]))
    lab.wait_until(lambda: "target=1.25" in lab.driver.current_url, "the URL to carry target=1.25")
    assert "/regression?" in lab.driver.current_url
    assert lab.duo.get_logs() == []


def test_huber_delta_text_box_redraws_huber_with_that_delta(lab):
    lab.open("/regression")
    mse_before = lab.trace(LOSS, "mse")
    lab.type_into("regression-delta-input", "0.5")

    def huber_matches():
        trace = lab.trace(LOSS, "huber")
        return all(abs(y - huber(x, 0.5)) < 1e-9 for x, y in zip(grid_x(trace), trace["y"], strict=True))

    lab.wait_until(huber_matches, "the Huber curve to follow delta = 0.5")
    loss = lab.trace(LOSS, "huber")
    index = round((2 - loss["x0"]) / loss["dx"])  # the grid point at residual 2
    assert abs(grid_x(loss)[index] - 2) < 1e-9
    assert abs(loss["y"][index] - 0.875) < 1e-12  # 0.5 * (2 - 0.25)
    grad = lab.trace(GRAD, "huber")
    assert_close(grad["y"], [max(-0.5, min(0.5, x)) for x in grid_x(grad)], what="Huber gradient clip(r, ±0.5)")
    assert lab.trace(LOSS, "mse") == mse_before  # other losses do not depend on delta
    # The box keeps what was typed (the log-scale slider must not round it).
    assert lab.value("regression-delta-input") == "0.5"
    lab.wait_until(lambda: "delta=0.5" in lab.driver.current_url, "the URL to carry delta=0.5")
    assert lab.duo.get_logs() == []


def test_slider_keyboard_moves_text_box_and_text_box_moves_slider(lab):
    lab.open("/regression")
    thumb = lab.duo.find_element("#regression-target-slider [role=slider]")
    assert thumb.get_attribute("aria-valuenow") == "0"
    lab.js("arguments[0].focus();", thumb)
    thumb.send_keys(Keys.ARROW_RIGHT)
    lab.duo.wait_for_text_to_equal("#regression-target-input", "0.1")  # dcc.Input text is its value
    lab.wait_until(lambda: abs(lab.trace(LOSS, "mse")["x0"] - (0.1 - 4)) < 1e-9, "curves to follow the slider")

    # Log-scale slider: one step right is 10 ** step in the box.
    delta_thumb = lab.duo.find_element("#regression-delta-slider [role=slider]")
    lab.js("arguments[0].focus();", delta_thumb)
    delta_thumb.send_keys(Keys.ARROW_RIGHT)
    expected = f"{10 ** views.get('regression').number('delta').step:.4g}"
    lab.wait_until(lambda: lab.value("regression-delta-input") == expected, f"delta box to show {expected}")
    lab.wait_until(lambda: abs(max(lab.trace(GRAD, "huber")["y"]) - float(expected)) < 1e-9,
                   "Huber gradient to saturate at the new delta")

    # And the other way: the box moves the slider.
    lab.type_into("regression-target-input", "-2")
    lab.wait_until(lambda: thumb.get_attribute("aria-valuenow") == "-2", "slider to follow the box")
    lab.wait_until(lambda: lab.trace(LOSS, "mse")["x0"] == -6, "curves to follow the box")
    assert lab.duo.get_logs() == []


def test_slider_drag_moves_text_box(lab):
    lab.open("/regression")
    thumb_x, thumb_y = lab.viewport_point("#regression-target-slider [role=slider]", 0.5, 0.5)
    track_x, _ = lab.viewport_point("#regression-target-slider .dash-slider-track", 0.75, 0.5)
    (lab.mouse().move_to_location(int(thumb_x), int(thumb_y)).click_and_hold().pause(0.1)
        .move_to_location(int(track_x), int(thumb_y)).pause(0.1).release().perform())
    value = float(lab.wait_until(lambda: lab.value("regression-target-input") not in ("0", "") and
                                 lab.value("regression-target-input"), "the box to follow the drag"))
    assert 1.5 <= value <= 3.5, value  # about three quarters of -5 .. 5
    lab.wait_until(lambda: abs(lab.trace(LOSS, "mse")["x0"] - (value - 4)) < 1e-9, "curves to follow the drag")
    assert lab.duo.get_logs() == []


def test_loss_checklist_removes_and_adds_traces(lab):
    lab.open("/regression")
    assert lab.curves(LOSS) == ["mse", "mae", "huber", "log_cosh"]
    option_label(lab, "regression-losses", "mae").click()
    for graph in (LOSS, GRAD):
        lab.wait_until(lambda g=graph: lab.curves(g) == ["mse", "huber", "log_cosh"], f"MAE to leave #{graph}")
    assert len(lab.marker_points(LOSS)) == 3

    option_label(lab, "regression-losses", "quantile").click()
    for graph in (LOSS, GRAD):
        lab.wait_until(lambda g=graph: lab.curves(g) == ["mse", "huber", "log_cosh", "quantile"],
                       f"quantile to join #{graph}")
    quantile = lab.trace(LOSS, "quantile")
    assert_close(quantile["y"], [max(0.5 * -x, -0.5 * -x) for x in grid_x(quantile)], what="pinball tau=0.5")
    lab.wait_until(lambda: "losses=mse,huber,log_cosh,quantile" in lab.driver.current_url, "URL losses")
    assert lab.duo.get_logs() == []


def test_typed_value_applies_after_a_pause_without_enter(lab):
    """Enter is not needed: a pause in typing applies the box, once, with the whole value."""
    lab.open("/regression")
    lab.js("window.__posts = 0; const f = window.fetch; window.fetch = function (u) {"
           " if (String(u && u.url || u).includes('_dash-update-component')) window.__posts += 1;"
           " return f.apply(this, arguments); };")
    lab.type_into("regression-delta-input", "0.25", enter=False)
    lab.wait_until(lambda: "delta=0.25" in lab.driver.current_url, "the pause to apply delta 0.25")
    huber_trace = lab.trace(LOSS, "huber")
    assert_close(huber_trace["y"], [huber(x, 0.25) for x in grid_x(huber_trace)], 1e-12, "Huber with delta 0.25")
    assert lab.js("return window.__posts;") == 1  # "0", "0.", "0.2" never went to the server
    assert lab.duo.get_logs() == []
