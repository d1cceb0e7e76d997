"""Clicking a chart moves the prediction everywhere; zoom and hover are linked in the browser alone."""

import math

R_LOSS, R_GRAD = "regression-loss-graph", "regression-grad-graph"
B_LOSS, B_GRAD = "binary-loss-graph", "binary-grad-graph"

COUNT_CALLBACK_REQUESTS = """
window.__callbackRequests = 0;
const original = window.fetch;
window.fetch = function (input, init) {
  const url = typeof input === 'string' ? input : (input && input.url) || '';
  if (url.indexOf('_dash-update-component') !== -1) window.__callbackRequests += 1;
  return original.apply(this, arguments);
};
"""


def drag_layer(graph_id):
    return f"#{graph_id} .nsewdrag"  # the first subplot's drag layer


def marker_xs(lab, graph_id):
    return {x for x, _ in lab.marker_points(graph_id)}


def test_click_on_regression_chart_moves_prediction_markers_and_readout(lab):
    lab.open("/regression")
    assert lab.value("regression-prediction-input") == "1.5"
    x, _ = lab.click_at(drag_layer(R_LOSS), 0.25, 0.5)
    aimed = lab.plot_x_at(R_LOSS, x)  # about -2 on the -4 .. 4 axis
    assert -3 < aimed < -1
    lab.wait_until(lambda: lab.value("regression-prediction-input") != "1.5", "the prediction box to move")
    value = float(lab.value("regression-prediction-input"))
    assert abs(value - aimed) <= 0.02, (value, aimed)  # the nearest grid point (step 0.02)
    for graph in (R_LOSS, R_GRAD):
        lab.wait_until(lambda g=graph: marker_xs(lab, g) == {value}, f"the marker on #{graph} to move to {value}")
    loss_points = sorted(y for _, y in lab.marker_points(R_LOSS))
    r = value  # y = 0
    expected = sorted([r * r, abs(r), min(abs(r), 1) * (abs(r) - min(abs(r), 1) / 2), math.log(math.cosh(r))])
    assert all(abs(a - b) < 1e-9 for a, b in zip(loss_points, expected, strict=True))
    grad_points = sorted(y for _, y in lab.marker_points(R_GRAD))
    expected = sorted([2 * r, math.copysign(1, r), max(-1, min(1, r)), math.tanh(r)])
    assert all(abs(a - b) < 1e-9 for a, b in zip(grad_points, expected, strict=True))
    lab.wait_until(lambda: lab.text("regression-readout").startswith(f"At ŷ = {value:.6g}"), "the readout to move")
    mse_row = lab.js("return Array.from(document.querySelector('#regression-readout tr[data-loss=mse]').cells,"
                     " (c) => c.innerText);")
    assert mse_row == ["MSE", f"{r * r:.4f}", f"{2 * r:.4f}"]  # identity link: no separate dL/dz column
    assert lab.duo.get_logs() == []


def test_click_on_binary_gradient_chart_moves_probability_and_both_markers(lab):
    lab.open("/binary")
    x, _ = lab.click_at(drag_layer(B_GRAD), 0.75, 0.5)
    aimed = lab.plot_x_at(B_GRAD, x)  # a logit around 4 on the -8 .. 8 axis
    assert 2 < aimed < 6
    lab.wait_until(lambda: lab.value("binary-probability-input") != "0.99", "the probability box to move")
    p = float(lab.value("binary-probability-input"))
    assert abs(p - 1 / (1 + math.exp(-aimed))) < 0.01, (p, aimed)
    z = math.log(p / (1 - p))
    for graph in (B_LOSS, B_GRAD):
        lab.wait_until(lambda g=graph: all(abs(mx - z) < 1e-6 for mx in marker_xs(lab, g)), f"markers on #{graph}")
    lab.wait_until(lambda: f"|dBCE/dz| = {p:.3g}," in lab.text("binary-lesson"), "the lesson at the new point")
    assert lab.text("binary-readout").startswith(f"At p̂ = {p:.6g}")
    assert lab.duo.get_logs() == []


def test_zoom_on_one_chart_moves_the_other(lab):
    lab.open("/regression")
    lab.js("Plotly.relayout(document.querySelector('#regression-loss-graph .js-plotly-plot'), {'xaxis.range': [0, 1]});")
    lab.wait_until(lambda: lab.layout(R_GRAD, "xaxis.range") == [0, 1], "the gradient chart to zoom to [0, 1]")

    # A real drag-zoom across the middle of the gradient chart moves the loss chart.
    (x0, y), (x1, _) = lab.viewport_point(drag_layer(R_GRAD), 0.3, 0.5), lab.viewport_point(drag_layer(R_GRAD), 0.7, 0.5)
    (lab.mouse().move_to_location(int(x0), int(y)).click_and_hold().move_to_location(int(x0) + 20, int(y))
        .move_to_location(int(x1), int(y)).release().perform())
    lab.wait_until(lambda: lab.layout(R_GRAD, "xaxis.range") != [0, 1], "the drag to zoom the gradient chart")
    grad_range = lab.layout(R_GRAD, "xaxis.range")
    assert 0.2 < grad_range[0] < grad_range[1] < 0.8, grad_range
    lab.wait_until(lambda: lab.layout(R_LOSS, "xaxis.range") == grad_range, "the loss chart to follow the drag")

    lab.js("Plotly.relayout(document.querySelector('#regression-grad-graph .js-plotly-plot'), {'xaxis.autorange': true});")
    lab.wait_until(lambda: lab.layout(R_LOSS, "xaxis.range") == [-4, 4], "autoscale to be linked too")

    # Binary charts have one panel per loss: zooming the second panel moves the partner too.
    lab.open("/binary?panels=columns")
    assert lab.curves(B_GRAD) == ["bce", "sigmoid_mse"] and lab.layout(B_GRAD, "xaxis2.matches") == "x"
    lab.js("Plotly.relayout(document.querySelector('#binary-grad-graph .js-plotly-plot'), {'xaxis2.range': [-2, 3]});")
    lab.wait_until(lambda: lab.layout(B_LOSS, "xaxis.range") == [-2, 3], "the loss chart to follow a zoom of panel 2")
    assert lab.duo.get_logs() == []


def test_hover_shows_on_partner_without_server_requests(lab):
    lab.open("/regression")
    lab.js(COUNT_CALLBACK_REQUESTS)
    left, y = lab.viewport_point(drag_layer(R_LOSS), 0.1, 0.5)
    right, _ = lab.viewport_point(drag_layer(R_LOSS), 0.9, 0.5)
    chain = lab.mouse()
    for i in range(20):
        chain.move_to_location(int(left + (right - left) * i / 19), int(y)).pause(0.02)
    chain.perform()
    labels = "return document.querySelector('#' + arguments[0] + ' .hoverlayer').children.length;"
    lab.wait_until(lambda: lab.js(labels, R_LOSS) > 0, "a hover label on the hovered chart")
    lab.wait_until(lambda: lab.js(labels, R_GRAD) > 0, "a hover label on the partner chart")
    assert lab.js("return window.__callbackRequests;") == 0

    # The counter does see callback requests: a control change makes one.
    lab.type_into("regression-target-input", "1")
    lab.wait_until(lambda: lab.js("return window.__callbackRequests;") > 0, "the counter to see a callback request")
    assert lab.duo.get_logs() == []


def test_zoom_survives_control_changes(lab):
    """uirevision: a user's drag-zoom stays while losses, y and delta change (the curves move under it)."""
    lab.open("/regression")
    (x0, y), (x1, _) = lab.viewport_point(drag_layer(R_LOSS), 0.3, 0.5), lab.viewport_point(drag_layer(R_LOSS), 0.6, 0.5)
    (lab.mouse().move_to_location(int(x0), int(y)).click_and_hold().move_to_location(int(x0) + 20, int(y))
        .move_to_location(int(x1), int(y)).release().perform())
    lab.wait_until(lambda: lab.layout(R_LOSS, "xaxis.range") != [-4, 4], "the drag to zoom the loss chart")
    zoomed = lab.layout(R_LOSS, "xaxis.range")
    lab.wait_until(lambda: lab.layout(R_GRAD, "xaxis.range") == zoomed, "the gradient chart to follow")

    before = lab.curves(R_LOSS)
    lab.js("document.querySelector('#regression-losses input[value=mae]').click();")
    lab.wait_until(lambda: lab.curves(R_LOSS) != before, "the MAE curve to go")
    lab.type_into("regression-target-input", "0.5")
    lab.wait_until(lambda: lab.trace(R_LOSS, "mse")["x0"] == -3.5, "the curves to shift to y = 0.5")
    lab.type_into("regression-delta-input", "2")
    lab.wait_until(lambda: "delta=2" in lab.duo.driver.current_url, "the delta change to land")
    for graph in (R_LOSS, R_GRAD):
        assert lab.layout(graph, "xaxis.range") == zoomed, graph
    assert lab.duo.get_logs() == []
