"""Motion (issue 10): a dragged slider moves the charts while the hand moves, and ▶ sweeps a
parameter with no server request; every frame shows the core's exact curve for its value."""

from __future__ import annotations

import math

from .conftest import grid_x
from .test_linked_charts import COUNT_CALLBACK_REQUESTS


def huber_closed_form(r, delta):
    return 0.5 * r * r if abs(r) <= delta else delta * (abs(r) - 0.5 * delta)


def focal_closed_form(z, gamma):
    """Focal loss at label y = 0: -(p̂^γ) log(1 - p̂), p̂ = σ(z)."""
    p = 1 / (1 + math.exp(-z))
    return -(p**gamma) * math.log1p(-p)


def frames(lab) -> int:
    return lab.js("return window.__losslabFrames || 0;")


def drawn(lab, graph_id, meta):
    return lab.js(
        "const p = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
        "const t = p._fullData.find((d) => d.meta === arguments[1]);"
        "return {x0: t.x0, dx: t.dx, y: Array.from(t.y)};",
        graph_id, meta,
    )


def test_dragging_delta_moves_the_huber_curves_during_the_drag_and_ends_exact(lab):
    lab.open("/regression")
    before = drawn(lab, "regression-loss-graph", "huber")["y"]
    x, y = lab.viewport_point("#regression-delta-slider [role=slider]", 0.5, 0.5)
    drag = lab.mouse().move_to_location(int(x), int(y)).click_and_hold()
    for step in range(24):
        drag = drag.move_by_offset(-3 if step < 12 else 5, 0).pause(0.06)
    drag.perform()
    # Still holding the handle: the charts have already moved, from precomputed frames.
    lab.wait_until(lambda: frames(lab) > 3, "frames during the drag")
    during = drawn(lab, "regression-loss-graph", "huber")["y"]
    assert during != before
    assert lab.value("regression-delta-input") == "1"  # nothing was released yet
    lab.mouse().release().perform()
    lab.wait_until(lambda: lab.value("regression-delta-input") != "1", "the released δ in the box")
    delta = float(lab.value("regression-delta-input"))

    def exact():
        trace = drawn(lab, "regression-loss-graph", "huber")
        return all(abs(v - huber_closed_form(x, delta)) <= 1e-6 * max(1.0, abs(v))
                   for x, v in zip(grid_x(trace), trace["y"], strict=True))

    lab.wait_until(exact, f"the Huber curve for δ = {delta}")
    assert lab.duo.get_logs() == []


def test_play_sweeps_gamma_with_no_request_and_exact_frames(lab):
    lab.open("/binary?losses=bce,focal&panels=overlay")
    lab.js(COUNT_CALLBACK_REQUESTS)
    lab.duo.find_element("button.play-button[data-play='gamma']").click()
    lab.wait_until(lambda: frames(lab) > 5, "playback to start")
    requests_at_start = lab.js("return window.__callbackRequests;")
    start_frames = frames(lab)
    lab.js("return new Promise((done) => setTimeout(done, 1500));")
    played = frames(lab) - start_frames
    assert played >= 5, played  # it moves (the frame rate is measured by the benchmark, not here)
    assert lab.js("return window.__callbackRequests;") == requests_at_start  # 0 requests while playing
    for _ in range(3):  # a few frames, each the core's curve for the value shown
        gamma, trace = lab.js(
            "const b = document.querySelector(\"button.play-button[data-play='gamma']\");"
            "const p = document.querySelector('#binary-loss-graph .js-plotly-plot');"
            "const t = p._fullData.find((d) => d.meta === 'focal');"
            "return [b.getAttribute('data-value'), {x0: t.x0, dx: t.dx, y: Array.from(t.y)}];")
        gamma = float(gamma)
        assert all(abs(v - focal_closed_form(z, gamma)) <= 1e-6 * max(1e-3, abs(v)) + 1e-12
                   for z, v in zip(grid_x(trace), trace["y"], strict=True)), gamma
    lab.duo.find_element("button.play-button[data-play='gamma']").click()  # ■ stops and keeps the value
    lab.wait_until(lambda: lab.js("return window.location.search;").find("gamma=2&") == -1
                   or lab.value("binary-gamma-input") != "2", "the stopped γ to be applied")
    stopped = lab.value("binary-gamma-input")
    lab.wait_until(lambda: f"gamma={stopped}" in lab.js("return window.location.search;"), "the URL to follow")
    assert lab.duo.get_logs() == []
