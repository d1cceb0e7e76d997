"""Bugs a new user hit on the three views (issue 17), each pinned in a real browser."""

from __future__ import annotations

import time

R_LOSS, R_GRAD = "regression-loss-graph", "regression-grad-graph"


def spike_x(lab, graph_id):
    """Viewport x of the dashed hover line (spike) drawn on a chart, or None when there is none."""
    return lab.js(
        "const p = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
        "const line = p.querySelector('.spikeline');"
        "if (!line) return null;"
        "const r = line.getBoundingClientRect();"
        "return r.left + r.width / 2;",
        graph_id,
    )


def viewport_x_of(lab, graph_id, data_x):
    return lab.js(
        "const p = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
        "const drag = p.querySelector('.nsewdrag').getBoundingClientRect();"
        "return drag.left + p._fullLayout.xaxis.l2p(arguments[1]);",
        graph_id, data_x,
    )


def test_hovering_one_chart_draws_the_partner_crosshair_at_the_same_x(lab):
    lab.open("/regression")
    x, y = lab.viewport_point(f"#{R_LOSS} .nsewdrag", 0.2, 0.5)
    lab.mouse().move_to_location(int(x), int(y)).pause(0.2).move_to_location(int(x) + 2, int(y)).perform()
    hovered = lab.plot_x_at(R_LOSS, x + 2)
    lab.wait_until(lambda: spike_x(lab, R_GRAD) is not None, "a crosshair on the gradient chart")
    expected = viewport_x_of(lab, R_GRAD, hovered)
    assert abs(spike_x(lab, R_GRAD) - expected) < 6, (spike_x(lab, R_GRAD), expected)  # within a grid step
    assert abs(hovered) > 1.5  # far from x = 0, where the old crosshair stuck
    assert lab.duo.get_logs() == []


def test_double_click_resets_the_zoom_without_moving_the_prediction(lab):
    lab.open("/regression")
    lab.js("Plotly.relayout(document.querySelector('#regression-loss-graph .js-plotly-plot'),"
           " {'xaxis.range': [-1, 3]});")
    lab.wait_until(lambda: lab.layout(R_LOSS, "xaxis.autorange") is False, "the zoom")
    x, y = lab.viewport_point(f"#{R_LOSS} .nsewdrag", 0.2, 0.5)
    lab.mouse().move_to_location(int(x), int(y)).pause(0.1).double_click().perform()
    lab.wait_until(lambda: lab.layout(R_LOSS, "xaxis.autorange") is True, "the double-click to reset the zoom")
    time.sleep(1.0)  # longer than any click delay: a click, had it counted, would have arrived by now
    assert lab.value("regression-prediction-input") == "1.5"
    assert {px for px, _ in lab.marker_points(R_LOSS)} == {1.5}
    lab.click_at(f"#{R_LOSS} .nsewdrag", 0.25, 0.5)  # a single click still moves it
    lab.wait_until(lambda: lab.value("regression-prediction-input") != "1.5", "a single click to move ŷ")
    assert lab.duo.get_logs() == []


def test_a_rejected_value_leaves_its_slider_where_it_was(lab):
    lab.open("/regression")
    handle = "#regression-target-slider [role=slider]"
    before = lab.js("return document.querySelector(arguments[0]).getAttribute('aria-valuenow');", handle)
    lab.type_into("regression-target-input", "1e9")
    lab.wait_until(lambda: "out of range" in lab.text("regression-target-message"), "the message")
    time.sleep(0.3)
    assert lab.js("return document.querySelector(arguments[0]).getAttribute('aria-valuenow');", handle) == before
    lab.type_into("regression-target-input", "2")  # an accepted value moves it
    lab.wait_until(lambda: lab.js("return document.querySelector(arguments[0]).getAttribute('aria-valuenow');",
                                  handle) == "2", "the slider to follow an accepted value")
    assert lab.duo.get_logs() == []


def test_removing_logits_moves_the_class_boxes_and_redraws_with_fewer_classes(lab):
    lab.open("/multiclass?true_class=3&swept_class=3")
    lab.type_into("multiclass-logits-input", "1, 2")
    lab.wait_until(lambda: lab.value("multiclass-true_class-input") == "1", "the true class to move to 1")
    assert lab.value("multiclass-swept_class-input") == "1"
    assert lab.text("multiclass-logits-message") == ""
    assert "moved to class 1" in lab.text("multiclass-true_class-message")
    lab.wait_until(lambda: len(lab.traces("multiclass-probability-graph")[0]["x"]) == 2, "two bars")
    assert "logits=1,2" in lab.js("return window.location.search;")
    assert lab.duo.get_logs() == []


def test_no_chart_offers_to_upload_it_to_the_cloud(lab):
    lab.open("/binary")
    titles = lab.js("return Array.from(document.querySelectorAll('.modebar-btn'), (b) => b.getAttribute('data-title'));")
    assert titles, "the chart toolbar was not found"
    assert not [t for t in titles if t and ("Share" in t or "Cloud" in t or "Chart Studio" in t)], titles
    assert lab.duo.get_logs() == []
