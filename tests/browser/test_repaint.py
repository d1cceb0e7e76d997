"""Repaints (issue 10): a chart whose figure the server sends again unchanged is not redrawn, and a
slider that does not move a chart draws no frames on it; what is on screen stays the server's figure.

On /sequences the CTC charts depend on the CTC controls only: an ε change leaves them alone, and the
gradient check's rebuild sends the CTC loss figure again unchanged, which is not drawn again. Expected curves are closed forms (see test_sequences) or the view's own figures for
the released value (test_motion.assert_drawn_is, which the view tests check against the core).
"""

from __future__ import annotations

from .conftest import grid_x, option_label
from .test_motion import assert_drawn_is, frames, hover
from .test_sequences import CTC_GRAD, CTC_LOSS, GRAPHS, LOSS, smoothed

# Every Plotly redraw of each chart: a full draw (plotly_afterplot) or a motion frame (plotly_animated).
COUNT_DRAWS = """
window.__draws = {};
arguments[0].forEach(function (id) {
  const plot = document.querySelector('#' + id + ' .js-plotly-plot');
  window.__draws[id] = 0;
  const count = function () { window.__draws[id] += 1; };
  plot.on('plotly_afterplot', count);
  plot.on('plotly_animated', count);
});
"""


def draws(lab) -> dict:
    return lab.js("return window.__draws;")


def count_draws_from_now(lab) -> None:
    """Count each chart's draws from here, once the page's own first redraws (titles, legends) are over."""
    lab.js(COUNT_DRAWS, list(GRAPHS))
    quiet = {"since": None, "seen": None}

    def settled():
        now = lab.js("return [performance.now(), JSON.stringify(window.__draws)];")
        if now[1] != quiet["seen"]:
            quiet["since"], quiet["seen"] = now[0], now[1]
        return now[0] - quiet["since"] >= 600

    lab.wait_until(settled, "the page's first redraws to end", poll=0.1)
    lab.js("Object.keys(window.__draws).forEach((id) => { window.__draws[id] = 0; });")


def smoothed_curve_is(lab, epsilon: float) -> bool:
    trace = lab.trace(LOSS, "smoothed_ce")
    return all(abs(y - smoothed(x, 10, epsilon)) <= 1e-9 * max(1, abs(y))
               for x, y in list(zip(grid_x(trace), trace["y"], strict=True))[::25])


def check_on(lab) -> None:
    """Turn the gradient check on, as a click on its option would (it may sit below the fold)."""
    option = option_label(lab, "sequences-check", "on")
    lab.js("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", option)


def test_a_chart_sent_again_unchanged_is_not_redrawn_and_a_changed_one_is(lab):
    lab.open("/sequences", wait_for=GRAPHS)
    ctc_before, ctc_loss_before = lab.snapshot(CTC_LOSS, CTC_GRAD), lab.snapshot(CTC_LOSS)
    count_draws_from_now(lab)
    lab.type_into("sequences-epsilon-input", "0.3")  # the server leaves the CTC charts alone (no_update)
    lab.wait_until(lambda: smoothed_curve_is(lab, 0.3), "the smoothed curve at ε = 0.3")
    lab.wait_until(lambda: "epsilon=0.3" in lab.driver.current_url, "the URL to follow")
    lab.js("return new Promise((done) => setTimeout(done, 300));")  # any late redraw would show by now
    counted = draws(lab)
    assert counted[LOSS] >= 1, counted
    assert counted[CTC_LOSS] == 0 and counted[CTC_GRAD] == 0, counted
    assert lab.snapshot(CTC_LOSS, CTC_GRAD) == ctc_before
    # The gradient check rebuilds every chart: the CTC loss figure comes back the same (only the gradient
    # chart gets the check's overlay), so it is not drawn again; the CTC gradient chart is.
    skipped = lab.js("return window.__losslabSkippedDraws;")
    check_on(lab)
    lab.wait_until(lambda: "check=on" in lab.driver.current_url, "the URL to follow")
    lab.wait_until(lambda: draws(lab)[CTC_GRAD] >= 1, "the CTC gradient chart redrawn with its check")
    lab.js("return new Promise((done) => setTimeout(done, 300));")
    assert draws(lab)[CTC_LOSS] == 0, draws(lab)
    assert lab.js("return window.__losslabSkippedDraws;") >= skipped + 1
    assert lab.snapshot(CTC_LOSS) == ctc_loss_before
    # A CTC control changes the CTC figures: they are drawn, with the new values.
    lab.type_into("sequences-ctc_logit-input", "-1")
    lab.wait_until(lambda: draws(lab)[CTC_LOSS] >= 1, "the CTC loss chart redrawn")
    lab.wait_until(lambda: lab.snapshot(CTC_LOSS) != ctc_loss_before, "the CTC loss chart to change")
    assert lab.duo.get_logs() == []


def test_a_figure_drawn_over_since_is_drawn_again_even_when_the_server_repeats_it(lab):
    """Anything else that drew on the chart (here a restyle, as training's playback does) means the screen
    no longer shows the last figure: the repeated figure must be drawn."""
    lab.open("/sequences", wait_for=GRAPHS)
    ctc_before = lab.snapshot(CTC_LOSS)
    lab.js("const p = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
           "return window.Plotly.restyle(p, {y: [[0, 0, 0]]}, [0]).then(() => true);", CTC_LOSS)
    assert lab.snapshot(CTC_LOSS) != ctc_before
    count_draws_from_now(lab)
    check_on(lab)  # the server sends the same CTC loss figure again
    lab.wait_until(lambda: lab.snapshot(CTC_LOSS) == ctc_before, "the server's CTC figure back on the chart")
    assert draws(lab)[CTC_LOSS] >= 1
    assert lab.duo.get_logs() == []


def test_an_epsilon_drag_draws_no_frames_on_the_ctc_charts_and_ends_exact(lab):
    from losslab.dashboard.views import get

    view = get("sequences")
    lab.open("/sequences", wait_for=GRAPHS)
    query = lab.js("return window.location.search;")
    ctc_before = lab.snapshot(CTC_LOSS, CTC_GRAD)
    handle = "#sequences-epsilon-slider [role=slider]"
    x, y = lab.viewport_point(handle, 0.5, 0.5)
    lab.mouse().move_to_location(int(x), int(y)).perform()  # the frames are fetched
    lab.wait_until(lambda: lab.js("const s = window.dash_component_api.getLayout('sequences-family');"
                                  "return !!(s && s.props.data && s.props.data.control === 'epsilon');"),
                   "the ε frames")
    count_draws_from_now(lab)
    start_frames = frames(lab)
    drag = lab.mouse().move_to_location(int(x), int(y)).click_and_hold()
    for _ in range(10):
        drag = drag.move_by_offset(6, 0).pause(0.05)
    drag.perform()
    lab.wait_until(lambda: frames(lab) > start_frames + 2, "frames during the drag")
    during = draws(lab)
    assert during[LOSS] >= 1 and during[CTC_LOSS] == 0 and during[CTC_GRAD] == 0, during
    lab.mouse().release().perform()
    lab.wait_until(lambda: lab.value("sequences-epsilon-input") != "0.1", "the released ε in the box")
    released = float(lab.value("sequences-epsilon-input"))
    lab.wait_until(lambda: f"epsilon={lab.value('sequences-epsilon-input')}" in lab.driver.current_url,
                   "the URL to follow")

    def at_released():
        try:
            assert_drawn_is(lab, view, LOSS, query, "epsilon", released)
        except AssertionError:
            return False
        return lab.layout(LOSS, "yaxis.autorange") is True

    lab.wait_until(at_released, f"the loss chart at the released ε = {released}")
    for graph_id in (CTC_LOSS, CTC_GRAD):  # untouched, and still the server's figure for the released state
        assert_drawn_is(lab, view, graph_id, query, "epsilon", released)
    assert draws(lab)[CTC_LOSS] == 0 and draws(lab)[CTC_GRAD] == 0
    assert lab.snapshot(CTC_LOSS, CTC_GRAD) == ctc_before
    assert lab.duo.get_logs() == []


# Each full draw of a chart (plotly_afterplot) after the page saw the pointer let go of the slider.
COUNT_DRAWS_AFTER_RELEASE = """
window.__releasedAt = null; window.__fullDraws = [];
window.addEventListener('pointerup', () => { window.__releasedAt = performance.now(); }, true);
document.querySelectorAll('.js-plotly-plot').forEach((plot) => {
  const id = plot.closest('[id]').id;
  plot.on('plotly_afterplot', () => window.__fullDraws.push([id, performance.now()]));
});
"""

DELAY_ANSWERS = """
const delayedFetch = window.fetch, delay = arguments[0];
window.fetch = function (input, init) {
  const body = init && typeof init.body === 'string' ? init.body : '';
  const answer = delayedFetch.apply(this, arguments);
  if (body.indexOf('-family-request') !== -1 || body.indexOf('-url-sync') === -1) return answer;
  return answer.then((response) => new Promise((done) => setTimeout(() => done(response), delay)));
};
"""


HAND_BACK_MS = 1500  # assets/losslab.js: the axes held for a motion come back without an answer after this


def draws_after_release(lab, graph_id: str) -> int:
    return lab.js("return window.__fullDraws.filter(([id, t]) => id === arguments[0]"
                  " && window.__releasedAt !== null && t > window.__releasedAt).length;", graph_id)


def drag_delta(lab) -> str:
    """Drag /regression's δ a little (frames held on fixed axes) and let go; the released value."""
    lab.wait_until(lambda: lab.js("const s = window.dash_component_api.getLayout('regression-family');"
                                  "return !!(s && s.props.data && s.props.data.control === 'delta');"), "the δ frames")
    start_frames = frames(lab)
    x, y = lab.viewport_point("#regression-delta-slider [role=slider]", 0.5, 0.5)
    drag = lab.mouse().move_to_location(int(x), int(y)).click_and_hold()
    for _ in range(8):
        drag = drag.move_by_offset(6, 0).pause(0.05)
    drag.perform()
    lab.wait_until(lambda: frames(lab) > start_frames + 1, "frames during the drag")
    assert lab.layout("regression-loss-graph", "yaxis.autorange") is False  # held for the motion
    lab.mouse().release().perform()
    lab.wait_until(lambda: lab.value("regression-delta-input") != "1", "the released δ in the box")
    return lab.value("regression-delta-input")


def huber_is_drawn_at(lab, delta: float) -> bool:
    from .test_motion import drawn, huber_closed_form

    trace = drawn(lab, "regression-loss-graph", "huber")
    return all(abs(v - huber_closed_form(x, delta)) <= 1e-9 * max(1.0, abs(v))
               for x, v in zip(grid_x(trace), trace["y"], strict=True))


def test_after_a_drag_each_chart_is_drawn_once_with_its_axes_given_back(lab):
    """The released value's answer is drawn on autoranged axes in one draw (before: a relayout that gave
    the axes back, then the answer's redraw), and shows the server's exact curve."""
    lab.open("/regression")
    lab.js(COUNT_DRAWS_AFTER_RELEASE)
    hover(lab, "#regression-delta-slider")
    delta = float(drag_delta(lab))
    lab.wait_until(lambda: huber_is_drawn_at(lab, delta), f"the Huber curve for δ = {delta}")
    for graph_id in ("regression-loss-graph", "regression-grad-graph"):
        lab.wait_until(lambda g=graph_id: lab.layout(g, "yaxis.autorange") is True
                       and lab.layout(g, "xaxis.autorange") is True, f"{graph_id}'s axes autoranged")
    lab.js("return new Promise((done) => setTimeout(done, 2000));")  # past the hand-back's fallback
    for graph_id in ("regression-loss-graph", "regression-grad-graph"):
        # An answer later than assets/losslab.js's HAND_BACK_MS (1.5 s, a very loaded machine) finds the
        # axes already given back by the fallback's relayout: then, and only then, a second draw may come.
        late = lab.js("const d = window.__fullDraws.filter(([id, t]) => id === arguments[0]"
                      " && t > window.__releasedAt); return d.length ? d[0][1] - window.__releasedAt : null;",
                      graph_id) >= HAND_BACK_MS - 100
        assert draws_after_release(lab, graph_id) in ((1, 2) if late else (1,)), graph_id
    assert lab.layout("regression-loss-graph", "yaxis.autorange") is True
    assert lab.duo.get_logs() == []


def test_when_the_answer_is_late_the_axes_are_given_back_without_it(lab):
    lab.open("/regression")
    lab.js(COUNT_DRAWS_AFTER_RELEASE)
    lab.js(DELAY_ANSWERS, 8000)  # far past the fallback and the wait below, on a loaded machine too
    hover(lab, "#regression-delta-slider")
    delta = float(drag_delta(lab))
    # No answer yet: after the fallback's wait the frame (float32 rows) stays, on autoranged axes.
    lab.wait_until(lambda: lab.layout("regression-loss-graph", "yaxis.autorange") is True, "the axes back",
                   timeout=3.5)
    assert not huber_is_drawn_at(lab, delta)  # the answer (4 s late) has not come: the axes came back without it
    lab.wait_until(lambda: huber_is_drawn_at(lab, delta), f"the server's Huber curve for δ = {delta}", timeout=15)
    lab.wait_until(lambda: lab.layout("regression-loss-graph", "yaxis.autorange") is True, "autorange kept")
    assert lab.duo.get_logs() == []
