"""Robust regression view: renders the fits, follows k and α, plays α's frames with no round trip,
links a hovered point across its charts, keeps its charts on bad input, lets a point be dragged
(real pointer actions) or moved by keyboard and refits on the server, and shows the gradient check.

Expected lines: least squares (``np.polyfit``) for MSE; for the other losses the core's
``fitting.fit_line`` on the same seeded points, which the charts must show exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
from selenium.webdriver.common.keys import Keys

from losslab import fitting

from .conftest import assert_close
from .test_bad_input import wait_message

DATA, INFLUENCE = "robust-loss-graph", "robust-grad-graph"
RESIDUALS, CURVE = "robust-residual-graph", "robust-curve-graph"
GRAPHS = (DATA, INFLUENCE, RESIDUALS, CURVE)
ALPHA_HANDLE = "#robust-alpha-slider [role=slider]"

# Callback requests are held (not sent) while window.__held is a list; __release() sends them.
HOLD_REQUESTS = """
window.__held = [];
window.__requests = 0;
const original = window.fetch;
window.__release = function () { const queue = window.__held; window.__held = null; queue.forEach((send) => send()); };
window.fetch = function (input, init) {
  const url = typeof input === 'string' ? input : (input && input.url) || '';
  if (url.indexOf('_dash-update-component') === -1) return original.apply(this, arguments);
  window.__requests += 1;
  if (!window.__held) return original.apply(this, arguments);
  const self = this, args = arguments;
  return new Promise((resolve, reject) => window.__held.push(() => original.apply(self, args).then(resolve, reject)));
};
"""


def open_robust(lab, query=""):
    lab.open("/robust" + query, wait_for=GRAPHS)


def seeded(n=50, k=5, noise=0.5, distance=10.0, seed=0):
    return fitting.make_line_data(n, outliers=k, noise=noise, outlier_distance=distance, seed=seed)


def least_squares_line(data):
    slope, intercept = np.polyfit(data.x, data.y, 1)
    return list(slope * data.x + intercept)


def readout_rows(lab):
    return lab.js("return Array.from(document.querySelectorAll('#robust-fit-table tbody tr'),"
                  " (r) => Array.from(r.cells, (c) => c.innerText));")


def press(lab, selector, key, times=1):
    handle = lab.duo.find_element(selector)
    for _ in range(times):
        handle.send_keys(key)


def test_renders_the_seeded_points_each_fit_and_the_readout(lab):
    open_robust(lab)
    data = seeded()
    points = lab.trace(DATA, "data")
    assert_close(points["x"], list(data.x), tol=0, what="x")
    assert_close(points["y"], list(data.y), tol=0, what="y")
    assert_close(lab.trace(DATA, "mse")["y"], least_squares_line(data), tol=1e-9, what="MSE = least squares")
    barron = fitting.fit_line(data.x, data.y, "barron", {"alpha": 1.0, "c": 1.0})
    assert_close(lab.trace(DATA, "barron")["y"], list(barron.slope * data.x + barron.intercept), tol=0,
                 what="Barron's line")
    assert lab.curves(INFLUENCE) == ["mse", "mae", "huber", "barron"]
    mse_bars = lab.trace(INFLUENCE, "mse")["y"]
    assert_close(mse_bars, [abs(2 * (p - y)) for p, y in zip(least_squares_line(data), data.y, strict=True)],
                 tol=1e-9, what="|dMSE/dŷ| = |2r|")
    assert lab.metas(CURVE) == ["barron", "residuals"]
    rows = readout_rows(lab)
    assert [row[0] for row in rows] == ["MSE", "MAE", "Huber", "Barron (general)"]
    assert rows[3][1] == f"{barron.slope:.4f}" and rows[3][2] == f"{barron.intercept:.4f}"
    assert rows[1][6].startswith("exact (")
    assert "MSE's line moved" in lab.text("robust-lesson")
    assert lab.duo.get_logs() == []


def test_more_outliers_redraw_every_fit_and_the_url(lab):
    open_robust(lab)
    lab.type_into("robust-k-input", "12")
    data = seeded(k=12)
    lab.wait_until(lambda: lab.trace(DATA, "data")["y"] == list(data.y), "12 lifted points")
    lab.wait_until(lambda: all(abs(a - b) < 1e-9 for a, b in zip(lab.trace(DATA, "mse")["y"],
                                                                  least_squares_line(data), strict=True)),
                   "MSE's line through the new points")
    huber = fitting.fit_line(data.x, data.y, "huber", {"delta": 1.0})
    assert_close(lab.trace(DATA, "huber")["y"], list(huber.slope * data.x + huber.intercept), tol=0, what="Huber")
    lab.wait_until(lambda: "k=12&" in lab.driver.current_url, "k=12 in the URL")
    lab.wait_until(lambda: "12 of 50 points" in lab.text("robust-lesson"), "the lesson for k = 12")
    assert lab.duo.get_logs() == []


def test_alpha_slider_moves_barron_fit_in_the_browser_then_the_server_confirms(lab):
    open_robust(lab)
    data = seeded()
    lab.duo.find_element(ALPHA_HANDLE).click()
    press(lab, ALPHA_HANDLE, Keys.ARROW_LEFT)  # ArrowLeft: α = 0.75, whose answer brings α's frames
    lab.wait_until("document.getElementById('robust-sweep').textContent.indexOf('\"alpha\"') !== -1",
                   "the α sweep to arrive")
    lab.wait_until(lambda: "alpha=0.75&" in lab.driver.current_url, "α = 0.75 drawn")
    lab.js(HOLD_REQUESTS)
    press(lab, ALPHA_HANDLE, Keys.ARROW_LEFT, times=3)  # α = 0: Cauchy-like, while no request gets through
    cauchy_like = fitting.fit_line(data.x, data.y, "barron", {"alpha": 0.0, "c": 1.0})
    expected = list(cauchy_like.slope * data.x + cauchy_like.intercept)
    lab.wait_until(lambda: lab.trace(DATA, "barron")["y"] == expected, "Barron's line at α = 0, from the frames")
    residual = [e - y for e, y in zip(expected, data.y, strict=True)]
    assert lab.trace(RESIDUALS, "barron")["y"] == residual
    pull = fitting.influence(data.x, data.y, cauchy_like.slope, cauchy_like.intercept, "barron",
                             {"alpha": 0.0, "c": 1.0})
    assert_close(lab.trace(INFLUENCE, "barron")["y"], list(pull), tol=0, what="Barron's bars at α = 0")
    assert lab.js("return window.__robustFrames") >= 1
    assert lab.js("return window.__held.length") >= 1  # the server has not answered any of it
    assert "alpha=0.75&" in lab.driver.current_url and "robust-previewing" in lab.js(
        "return document.querySelector('.view-robust').className")
    lab.js("window.__release();")
    lab.wait_until(lambda: "alpha=0&" in lab.driver.current_url, "the server's answer for α = 0")
    lab.wait_until(lambda: "robust-previewing" not in lab.js("return document.querySelector('.view-robust').className"),
                   "the readout confirmed")
    assert lab.trace(DATA, "barron")["y"] == expected
    assert readout_rows(lab)[3][1] == f"{cauchy_like.slope:.4f}"
    assert lab.duo.get_logs() == []


def test_hovering_a_point_shows_it_on_every_chart(lab):
    open_robust(lab)
    data = seeded()
    i = int(np.flatnonzero(data.y != data.clean_y)[0])
    x, y = lab.js(
        "const p = document.querySelector('#robust-loss-graph .js-plotly-plot');"
        "p.scrollIntoView({block: 'center'});"
        "const t = p._fullData.find((d) => d.meta === 'data');"
        "const area = p.querySelector('.nsewdrag').getBoundingClientRect();"
        "return [area.left + p._fullLayout.xaxis.l2p(t.x[arguments[0]]),"
        "        area.top + p._fullLayout.yaxis.l2p(t.y[arguments[0]])];", i)
    lab.mouse().move_to_location(int(x), int(y)).pause(0.3).perform()

    def hovered(graph_id):
        return lab.js("const p = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
                      "return (p._hoverdata || []).map((h) => [h.fullData.meta, h.pointNumber]);", graph_id)

    lab.wait_until(lambda: ["residuals", i] in hovered(CURVE), "the point marked on the loss curve")
    assert ["mse", i] in hovered(RESIDUALS) and ["mse", i] in hovered(INFLUENCE)
    assert ["data", i] in hovered(DATA)
    assert lab.duo.get_logs() == []


def test_bad_input_keeps_the_charts_with_a_message(lab):
    open_robust(lab)
    before = lab.snapshot(*GRAPHS) + lab.text("robust-readout")
    lab.type_into("robust-n-input", "abc")
    wait_message(lab, "robust-n-message", "Points n", "not a number")
    assert lab.snapshot(*GRAPHS) + lab.text("robust-readout") == before
    lab.type_into("robust-n-input", "50")
    lab.wait_until(lambda: lab.text("robust-n-message") == "", "the n message to clear")
    lab.wait_until(lambda: "n=50&" in lab.driver.current_url, "the URL")
    url = lab.driver.current_url
    lab.type_into("robust-k-input", "49")
    wait_message(lab, "robust-k-message", "Outliers k: 49 is more than n − 2 = 48")
    lab.type_into("robust-alpha-input", "3")
    wait_message(lab, "robust-alpha-message", "Barron shape α", "out of range")
    assert lab.snapshot(*GRAPHS) + lab.text("robust-readout") == before
    assert lab.driver.current_url == url
    lab.type_into("robust-k-input", "48")
    lab.wait_until(lambda: lab.text("robust-k-message") == "", "the k message to clear")
    assert lab.duo.get_logs() == []


# ---------------------------------------------------------------- moving points (issue 13) and the gradient check


def point_on_screen(lab, i):
    return lab.js(
        "const p = document.querySelector('#robust-loss-graph .js-plotly-plot');"
        "p.scrollIntoView({block: 'center'});"
        "const t = p._fullData.find((d) => d.meta === 'data');"
        "const area = p.querySelector('.nsewdrag').getBoundingClientRect();"
        "return [area.left + p._fullLayout.xaxis.l2p(t.x[arguments[0]]),"
        "        area.top + p._fullLayout.yaxis.l2p(t.y[arguments[0]])];", i)


def moved_in_url(lab):
    query = lab.driver.current_url.split("?", 1)[1]
    value = next((part.split("=", 1)[1] for part in query.split("&") if part.startswith("moved=")), "")
    return [tuple(float(v) for v in group.split(":")) for group in value.replace("%3A", ":").replace(
        "%3B", ";").split(";") if group]


def moved_data(moves, data=None):
    data = data or seeded()
    x, y = data.x.copy(), data.y.copy()
    for index, new_x, new_y in moves:
        x[int(index)], y[int(index)] = new_x, new_y
    return x, y


def core_line(x, y, key, params):
    fit = fitting.fit_line(x, y, key, params, max_iter=100)
    return fit, list(fit.slope * x + fit.intercept)


def test_dragging_a_point_moves_it_live_and_the_server_refits_every_loss_to_the_moved_data(lab):
    open_robust(lab)
    data = seeded()
    i = 20
    x0, y0 = point_on_screen(lab, i)
    before = lab.trace(DATA, "huber")["y"]
    lab.mouse().move_to_location(int(x0), int(y0)).pause(0.2).click_and_hold().move_by_offset(0, -60) \
        .pause(0.2).perform()
    held = lab.trace(DATA, "data")
    assert held["y"][i] > data.y[i] + 1 and held["y"][:i] == list(data.y[:i])  # follows the pointer, alone
    assert lab.trace(DATA, "huber")["y"] == before  # nothing refitted in the browser
    lab.mouse().move_by_offset(15, -20).pause(0.1).release().perform()
    lab.wait_until(lambda: moved_in_url(lab), "the moved point in the URL")
    moves = moved_in_url(lab)
    assert [int(m[0]) for m in moves] == [i] and moves[0][2] > data.y[i] + 1
    x, y = moved_data(moves)
    huber, expected = core_line(x, y, "huber", {"delta": 1.0})
    lab.wait_until(lambda: lab.trace(DATA, "huber")["y"] == expected, "Huber refitted by the server")
    assert lab.trace(DATA, "data")["y"][i] == y[i] and lab.trace(DATA, "data")["x"][i] == x[i]
    slope, intercept = np.polyfit(x, y, 1)
    assert_close(lab.trace(DATA, "mse")["y"], list(slope * x + intercept), tol=1e-9, what="MSE through the moved data")
    _, barron = core_line(x, y, "barron", {"alpha": 1.0, "c": 1.0})
    assert lab.trace(DATA, "barron")["y"] == barron
    assert expected != before
    row = readout_rows(lab)[2]
    assert row[1] == f"{huber.slope:.4f}" and row[2] == f"{huber.intercept:.4f}"
    assert "1 moved by you" in lab.text("robust-fit-table")
    assert lab.js("return window.__robustDrops") == 1
    # the link reproduces the moved data
    url = lab.driver.current_url
    lab.driver.get(url)
    lab.wait_until(lambda: lab.trace(DATA, "huber")["y"] == expected, "the link's fit")
    assert lab.duo.get_logs() == []


def test_a_point_is_moved_by_keyboard_and_reset_puts_every_point_back(lab):
    open_robust(lab, "?moved=3:4.5:7.2")
    data = seeded()
    x, y = moved_data([(3, 4.5, 7.2)])
    _, expected = core_line(x, y, "huber", {"delta": 1.0})
    assert lab.trace(DATA, "huber")["y"] == expected
    lab.type_into("robust-move-point", "7")
    lab.wait_until(lambda: lab.value("robust-move-x") != "", "x and y of point 7 filled in")
    assert float(lab.value("robust-move-x")) == pytest.approx(data.x[7], rel=1e-5)
    lab.type_into("robust-move-x", "2.5", enter=False)
    lab.type_into("robust-move-y", "30")  # Enter moves it
    lab.wait_until(lambda: moved_in_url(lab) == [(3, 4.5, 7.2), (7, 2.5, 30.0)], "both moves in the URL")
    x, y = moved_data(moved_in_url(lab))
    _, expected = core_line(x, y, "huber", {"delta": 1.0})
    lab.wait_until(lambda: lab.trace(DATA, "huber")["y"] == expected, "Huber through both moved points")
    lab.duo.find_element("#robust-reset-points").click()
    lab.wait_until(lambda: "moved=" not in lab.driver.current_url, "no moves in the URL")
    _, home = core_line(data.x, data.y, "huber", {"delta": 1.0})
    lab.wait_until(lambda: lab.trace(DATA, "huber")["y"] == home, "the seeded points' fit")
    assert lab.trace(DATA, "data")["y"] == list(data.y)
    assert lab.duo.get_logs() == []


def test_bad_moved_points_get_a_message_and_keep_the_charts(lab):
    open_robust(lab)
    before = lab.snapshot(*GRAPHS)
    lab.type_into("robust-moved-input", "3:abc:1")
    wait_message(lab, "robust-moved-message", "Moved points: x of point 3", "not a number")
    lab.type_into("robust-moved-input", "3:1:2; 3:4:5")
    wait_message(lab, "robust-moved-message", "Moved points: point 3 appears twice")
    assert lab.snapshot(*GRAPHS) == before
    lab.type_into("robust-moved-input", "")
    lab.wait_until(lambda: lab.text("robust-moved-message") == "", "the message to clear")
    assert lab.duo.get_logs() == []


def test_gradient_check_overlays_the_curves_finite_difference_and_reports_the_misfit(lab):
    open_robust(lab, "?check=on&curve=huber")
    lab.wait_until(lambda: "fd:huber" in lab.metas("robust-curve-grad-graph"), "the finite-difference overlay")
    note = lab.text("robust-check-note")
    assert note.startswith("Gradient check") and "Huber" in note
    misfit = float(note.rsplit(" ", 1)[1])
    assert 0 < misfit < 0.05  # a kink at ±δ between grid points: a few percent at most; a wrong gradient ~1
    lab.duo.find_element("#robust-check input[value=off]").click()
    lab.wait_until(lambda: lab.metas("robust-curve-grad-graph") == ["huber"], "the overlay gone")
    assert lab.duo.get_logs() == []
