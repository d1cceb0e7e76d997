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


WATCH_FAMILY_REQUESTS = """
window.__familyRequests = [];
const originalFetch = window.fetch;
window.fetch = function (input, init) {
  const body = init && typeof init.body === 'string' ? init.body : '';
  if (body.indexOf('-family-request') !== -1) window.__familyRequests.push(body);
  return originalFetch.apply(this, arguments);
};
"""


def test_a_pointer_over_a_motion_slider_fetches_its_frames_before_any_drag(lab):
    lab.open("/regression")
    lab.js(WATCH_FAMILY_REQUESTS)
    assert lab.js("return window.__familyRequests.length;") == 0
    x, y = lab.viewport_point("#regression-delta-slider", 0.3, 0.5)
    lab.mouse().move_to_location(int(x), int(y)).perform()  # no button pressed
    lab.wait_until(lambda: lab.js("return window.__familyRequests.length;") == 1, "the δ family to be requested")
    assert '"control":"delta"' in lab.js("return window.__familyRequests[0];").replace(" ", "")
    lab.wait_until(lambda: lab.js("const s = window.dash_component_api.getLayout('regression-family');"
                                  "return !!(s && s.props.data && s.props.data.control === 'delta');"),
                   "the δ frames to arrive")
    before = frames(lab)
    handle_x, handle_y = lab.viewport_point("#regression-delta-slider [role=slider]", 0.5, 0.5)
    drag = lab.mouse().move_to_location(int(handle_x), int(handle_y)).click_and_hold()
    drag.move_by_offset(-6, 0).pause(0.05).move_by_offset(-6, 0).perform()
    # the first moves are drawn from the prefetched frames: no second request, no wait for one
    lab.wait_until(lambda: frames(lab) > before, "a frame on the first moves", timeout=2)
    assert lab.js("return window.__familyRequests.length;") == 1
    lab.mouse().release().perform()
    lab.wait_until(lambda: lab.value("regression-delta-input") != "1", "the released δ in the box")
    assert lab.duo.get_logs() == []


SLOW_FAMILIES = """
const slowFetch = window.fetch;
window.fetch = function (input, init) {
  const body = init && typeof init.body === 'string' ? init.body : '';
  const answer = slowFetch.apply(this, arguments);
  if (body.indexOf('-family-request') === -1) return answer;
  return answer.then((response) => new Promise((done) => setTimeout(() => done(response), 1500)));
};
"""


def family_received(lab, view: str, name: str) -> bool:
    return lab.js("const s = window.dash_component_api.getLayout(arguments[0] + '-family');"
                  "return !!(s && s.props.data && s.props.data.control === arguments[1]);", view, name)


def hover(lab, selector: str) -> None:
    x, y = lab.viewport_point(selector, 0.3, 0.5)
    lab.mouse().move_to_location(int(x), int(y)).perform()


def test_each_slider_keeps_its_frames_and_a_superseded_request_is_asked_again(lab):
    lab.open("/regression")
    lab.js(WATCH_FAMILY_REQUESTS)
    hover(lab, "#regression-delta-slider")
    lab.wait_until(lambda: family_received(lab, "regression", "delta"), "the δ frames")
    hover(lab, "#regression-tau-slider")
    lab.wait_until(lambda: family_received(lab, "regression", "tau"), "the τ frames")
    hover(lab, "#regression-delta-slider")  # δ's frames are still at hand: no second request
    lab.js("return new Promise((done) => setTimeout(done, 300));")
    assert lab.js("return window.__familyRequests.length;") == 2
    # Two requests in quick succession share one store: the first answer may be dropped, and its
    # slider must still get its frames when dragged.
    lab.open("/regression?delta=2")
    lab.js(WATCH_FAMILY_REQUESTS + SLOW_FAMILIES)
    hover(lab, "#regression-delta-slider")
    hover(lab, "#regression-tau-slider")
    start_frames = frames(lab)
    x, y = lab.viewport_point("#regression-delta-slider [role=slider]", 0.5, 0.5)
    drag = lab.mouse().move_to_location(int(x), int(y)).click_and_hold()
    for _ in range(4):
        drag = drag.move_by_offset(-5, 0).pause(0.04)
    drag.perform()
    lab.wait_until(lambda: frames(lab) > start_frames, "δ frames after a superseded request", timeout=15)
    lab.mouse().release().perform()
    lab.wait_until(lambda: lab.value("regression-delta-input") != "2", "the released δ in the box")
    assert lab.duo.get_logs() == []


def test_frames_that_arrive_while_the_handle_is_held_still_are_drawn_at_once(lab):
    """A family can take a second on the server; the hand may have stopped by then."""
    lab.open("/regression")
    lab.js(SLOW_FAMILIES)
    before = drawn(lab, "regression-loss-graph", "huber")["y"]
    start_frames = frames(lab)
    x, y = lab.viewport_point("#regression-delta-slider [role=slider]", 0.5, 0.5)
    drag = lab.mouse().move_to_location(int(x), int(y)).click_and_hold()
    for _ in range(4):
        drag = drag.move_by_offset(-5, 0).pause(0.04)
    drag.perform()  # moved, then held still while the frames are still on their way
    assert frames(lab) == start_frames
    lab.wait_until(lambda: frames(lab) > start_frames, "a frame once the family arrives, hand still held")
    assert drawn(lab, "regression-loss-graph", "huber")["y"] != before
    assert lab.value("regression-delta-input") == "1"  # still held: nothing released
    lab.mouse().release().perform()
    lab.wait_until(lambda: lab.value("regression-delta-input") != "1", "the released δ in the box")
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
            "const p = document.querySelector('#binary-loss-graph .js-plotly-plot');"
            "const t = p._fullData.find((d) => d.meta === 'focal');"
            "return [p.getAttribute('data-frame-value'), {x0: t.x0, dx: t.dx, y: Array.from(t.y)}];")
        gamma = float(gamma)
        assert all(abs(v - focal_closed_form(z, gamma)) <= 1e-6 * max(1e-3, abs(v)) + 1e-12
                   for z, v in zip(grid_x(trace), trace["y"], strict=True)), gamma
    lab.duo.find_element("button.play-button[data-play='gamma']").click()  # ■ stops and keeps the value
    lab.wait_until(lambda: lab.js("return window.location.search;").find("gamma=2&") == -1
                   or lab.value("binary-gamma-input") != "2", "the stopped γ to be applied")
    stopped = lab.value("binary-gamma-input")
    lab.wait_until(lambda: f"gamma={stopped}" in lab.js("return window.location.search;"), "the URL to follow")
    assert lab.duo.get_logs() == []


# ---- every view with a motion slider: the charts follow the drag, each frame exact -------------

def expected_traces(view, query: str, name: str, value: float, graph_id: str) -> list[dict]:
    """What the server draws on ``graph_id`` for the state in ``query`` with slider ``name`` at
    ``value`` (the view's own figures; they are checked against the core in the view tests)."""
    from losslab.dashboard import figures
    from losslab.dashboard.views.base import state_with

    figure = view.motion_figures(state_with(view.parse_query(query), name, value))[graph_id]
    return [{"x0": t.get("x0"), "dx": t.get("dx"),
             "y": [float(v) for v in (figures.decoded(t["y"]) if isinstance(t["y"], dict) else t["y"])]}
            for t in figure["data"]]


def assert_drawn_is(lab, view, graph_id, query, name, value):
    drawn_traces = lab.traces(graph_id)
    expected = expected_traces(view, query, name, value, graph_id)
    assert len(drawn_traces) == len(expected), (view.name, name, value)
    for index, (got, want) in enumerate(zip(drawn_traces, expected, strict=True)):
        what = f"/{view.name} {name}={value}: trace {index} ({got['meta']})"
        if want["x0"] is not None:
            assert got["x0"] == want["x0"] and got["dx"] == want["dx"], what
        assert len(got["y"]) == len(want["y"]), what
        for g, w in zip(got["y"], want["y"], strict=True):
            if w != w or abs(w) == float("inf"):  # NaN and ±inf come back from the page as None
                assert g is None, what
            else:
                assert g is not None and abs(g - w) <= 1e-6 * max(1e-6, abs(w)) + 1e-30, (what, g, w)


# Where the default state's curves do not depend on any motion slider (the GAN losses on
# /generative; μ and log σ² move the VAE's KL term).
START_QUERY = {"generative": "?losses=gaussian_kl&axis=mu"}


def motion_views():
    from losslab.dashboard.views import VIEWS

    return [view for view in VIEWS if view.motion_controls]


def test_every_motion_view_follows_a_drag_with_exact_frames_and_ends_at_the_released_value(lab):
    for view in motion_views():
        drag_and_check(lab, view)
    assert lab.duo.get_logs() == []


def drag_and_check(lab, view) -> None:
    """Drag the view's busiest motion slider: frames while held, each exact; the released value after."""
    from losslab.dashboard.views.base import family

    graph_id = view.ids.LOSS_GRAPH
    start = START_QUERY.get(view.name, "")
    # The slider with the most positions among those that move the loss chart's curves.
    moving = [n for n in view.motion_controls
              if family(view, view.parse_query(start), n).get("graphs", {}).get(graph_id, {}).get("curves")]
    assert moving, f"/{view.name}{start}: no motion slider moves the loss chart"
    name = max(moving, key=lambda n: len(view.number(n).family_positions()))
    lab.open(view.path + start)
    query = lab.js("return window.location.search;")
    box = f"{view.name}-{name}-input"
    start_value = lab.value(box)
    before = lab.snapshot(graph_id)
    start_frames = frames(lab)
    handle = f"#{view.name}-{name}-slider [role=slider]"
    x, y = lab.viewport_point(handle, 0.5, 0.5)
    lab.mouse().move_to_location(int(x), int(y)).perform()  # a hand comes to the handle: frames are fetched
    lab.wait_until(lambda: lab.js("const s = window.dash_component_api.getLayout(arguments[0]);"
                                  "return !!(s && s.props.data && s.props.data.control === arguments[1]);",
                                  view.ids.FAMILY, name), f"/{view.name}'s {name} frames")
    step = -6 if lab.js(  # towards the far end of the slider
        "const h = document.querySelector(arguments[0]);"
        "return 2 * h.getAttribute('aria-valuenow') > +h.getAttribute('aria-valuemin') + +h.getAttribute('aria-valuemax');",
        handle) else 6
    drag = lab.mouse().move_to_location(int(x), int(y)).click_and_hold()
    for _ in range(12):
        drag = drag.move_by_offset(step, 0).pause(0.05)
    drag.perform()
    # Still holding: the chart has moved, and the frame on it is the server's drawing of its value.
    lab.wait_until(lambda: frames(lab) > start_frames + 2, f"frames during a drag on /{view.name}")
    assert lab.snapshot(graph_id) != before, view.name
    frame_value, drawn_now = lab.js(
        "const p = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
        "return [p.getAttribute('data-frame-value'), p._fullData.length];", graph_id)
    assert drawn_now and frame_value is not None, view.name
    assert lab.value(box) == start_value, f"/{view.name}: nothing is released yet"
    assert_drawn_is(lab, view, graph_id, query, name, float(frame_value))
    lab.mouse().release().perform()
    lab.wait_until(lambda: lab.value(box) != start_value, f"the released {name} in /{view.name}'s box")
    released = float(lab.value(box))
    lab.wait_until(lambda: f"{name}=" in lab.js("return window.location.search;"), "the URL to follow")

    def at_released():
        try:
            assert_drawn_is(lab, view, graph_id, query, name, released)
        except AssertionError:
            return False
        # The axes held during the drag autorange again, as the server's figure asks.
        return lab.layout(graph_id, "yaxis.autorange") is True and lab.layout(graph_id, "xaxis.autorange") is True

    lab.wait_until(at_released, f"/{view.name}'s chart at the released {name} = {released}")


def test_the_mu_slider_moves_in_steps_of_0_05_and_ends_on_the_servers_values(lab):
    """μ's slider stops every 0.05 (twice as many positions as at 0.1, so a fast hand passes twice as many
    frames a second); a position between the old stops is drawn exactly, as the server draws it."""
    from selenium.webdriver.common.keys import Keys

    from losslab.dashboard.views import get

    view = get("generative")
    lab.open("/generative" + START_QUERY["generative"])
    query = lab.js("return window.location.search;")
    handle = "#generative-mu-slider [role=slider]"
    hover(lab, handle)  # the frames are fetched
    lab.wait_until(lambda: family_received(lab, "generative", "mu"), "the μ frames")
    lab.duo.find_element(handle).send_keys(Keys.ARROW_RIGHT)
    lab.wait_until(lambda: lab.value("generative-mu-input") != "1.5", "the new μ in the box")
    assert lab.value("generative-mu-input") == "1.55"  # one step from 1.5
    lab.wait_until(lambda: "mu=1.55" in lab.js("return window.location.search;"), "the URL to follow")

    def at_new_mu():
        try:
            for graph_id in (view.ids.LOSS_GRAPH, view.ids.GRAD_GRAPH):
                assert_drawn_is(lab, view, graph_id, query, "mu", 1.55)
        except AssertionError:
            return False
        return True

    lab.wait_until(at_new_mu, "both charts at μ = 1.55")
    assert any(abs(x - 1.55) < 1e-12 for x, _ in lab.marker_points(view.ids.LOSS_GRAPH))
    assert lab.duo.get_logs() == []
