"""States a demanding user reaches by typing values far outside the sliders, in Chromium: every chart
drawn, no console error, and the state kept through a copied link.

Found in session 7's bug hunt (helper-48); each test failed before its fix.
"""

from __future__ import annotations

import pytest

from .test_training import ALL_GRAPHS, LOSS


def test_training_start_on_the_labels_side_at_a_subnormal_probability_draws_every_curve(lab):
    # p̂₀ = 1e-310 with y = 0: every loss and |dL/dz| below 1e-309. Plotly's axis scaling overflowed
    # ("Something went wrong with axis scaling"; at 5e-324 "Cannot read properties of undefined
    # (reading 'val')") and the part-1 charts were empty.
    for start in ("1e-310", "5e-324"):
        lab.open(f"/training?start={start}", wait_for=ALL_GRAPHS)
        lab.wait_until(lambda: lab.js(
            "return document.querySelectorAll('#' + arguments[0] + ' .scatterlayer .trace path.js-line').length;",
            LOSS) >= 4, "the loss chart's curves (two losses, two rows)")
        span = lab.layout(LOSS, "yaxis2.range")
        assert span[1] - span[0] >= 1e-300, span
        assert lab.duo.get_logs() == [], start


# Click ▶ on /metric's label (0 and 1), and click it again (stop) the moment the sweep is back on 0.
PLAY_AND_STOP_AT_THE_START = """
const button = document.querySelector(".play-button[data-play='label']");
let left = false;
window.__stoppedAt = null;
new MutationObserver(() => {
  const shown = button.getAttribute('data-value');
  if (shown === null || window.__stoppedAt !== null) return;
  if (shown !== '0') left = true;
  else if (left) { window.__stoppedAt = shown; button.click(); }
}).observe(button, {attributes: true, attributeFilter: ['data-value']});
button.click();
"""


def test_a_sweep_stopped_where_it_started_leaves_the_servers_exact_curves(lab):
    # Frames are float32 (they keep a family small); the server's answer to the value a sweep stops at
    # replaces them with its float64 curves. Stopped at the value it started from, the sweep sends no
    # new value, no answer came, and the charts kept the frame's float32 curves (0.4960080087184906 for
    # 0.496008): a copied link then drew other numbers, and the charts disagreed with the CSV. The same
    # for a slider dragged away and let go where it started.
    graphs = ("metric-loss-graph", "metric-grad-graph")
    lab.open("/metric")
    exact = lab.snapshot(*graphs)
    lab.js(PLAY_AND_STOP_AT_THE_START)
    lab.wait_until(lambda: lab.js("return window.__stoppedAt;") == "0", "the sweep stopped back on label 0")
    assert lab.value("metric-label-input") == "0"
    lab.wait_until(lambda: lab.snapshot(*graphs) == exact, "the server's curves back on the charts", timeout=5)
    assert lab.layout("metric-loss-graph", "yaxis.autorange") is True
    assert lab.duo.get_logs() == []


PLOT_HEIGHTS_JS = """
return Array.from(document.querySelectorAll('.linked-charts .js-plotly-plot'),
                  (p) => [p.closest('[id]').id, p._fullLayout._size.h]);
"""


@pytest.mark.parametrize("path", ["/precision", "/robust?losses=mse,mae,huber,cauchy,tukey,barron"])
def test_a_legend_of_many_rows_leaves_a_phone_chart_a_plot_area_to_read(lab, path):
    # At 390 px each legend entry takes a row: precision's five forms left its plot area 42 px tall (four
    # powers of ten overprinted on each other), robust's data and six fits less. The chart now grows.
    lab.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    lab.open(path)
    lab.js("return new Promise((done) => setTimeout(done, 600));")
    heights = lab.wait_until(lambda: (lambda h: h if all(v >= 159 for _, v in h) else None)(lab.js(PLOT_HEIGHTS_JS)),
                             "every linked chart's plot area at least 160 px tall", timeout=5)
    assert heights
    assert lab.js("return document.documentElement.scrollWidth;") <= 390
    assert lab.duo.get_logs() == []


def test_robust_move_with_no_point_index_or_an_index_past_any_n_says_so(lab):
    # Move with the point's box empty did nothing, with no word why; an index of 1e308 went into the link
    # as a 309-digit number (and into the readout's "not applied" note).
    lab.open("/robust", wait_for=("robust-loss-graph", "robust-grad-graph"))
    before = lab.snapshot("robust-loss-graph")
    lab.type_into("robust-move-x", "1", enter=False)
    lab.type_into("robust-move-y", "2", enter=False)
    lab.duo.find_element("#robust-move-button").click()
    lab.wait_until(lambda: "no point index" in (lab.text("robust-moved-message") or ""), "the empty index named")
    lab.type_into("robust-move-point", "1e308", enter=False)
    lab.duo.find_element("#robust-move-button").click()
    lab.wait_until(lambda: "past the last point" in (lab.text("robust-moved-message") or ""), "the index refused")
    assert "moved=" not in lab.js("return window.location.search;")
    assert lab.snapshot("robust-loss-graph") == before
    assert lab.duo.get_logs() == []


OUTSIDE_TITLES_JS = """
const out = [];
document.querySelectorAll('.view .js-plotly-plot').forEach((plot) => {
  const chart = plot.getBoundingClientRect();
  plot.querySelectorAll('.gtitle, .gtitle-subtitle, [class^="g-x"][class$="title"] text').forEach((t) => {
    const r = t.getBoundingClientRect();
    if (r.width && (r.left < chart.left - 1 || r.right > chart.right + 1))
      out.push(plot.closest('[id]').id + ': "' + t.textContent + '"');
  });
});
return out;
"""


@pytest.mark.parametrize("path", ["/precision", "/robust", "/counts", "/detection"])
def test_phone_chart_titles_and_axis_titles_stay_inside_their_charts(lab, path):
    # At 390 px, robust's "Influence: each point's pull |dℓ/dŷᵢ| on the fit" ended at "o", precision's
    # key to its symbols and its x-axis title were cut at both edges, counts' right panel title and
    # detection's x title ran past the chart's edge.
    lab.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    lab.open(path)
    lab.wait_until(lambda: lab.js(OUTSIDE_TITLES_JS) == [], "every title inside its chart", timeout=5)
    lab.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})  # a wide window: one line again
    lab.js("window.dispatchEvent(new Event('resize'));")
    lab.wait_until(lambda: "<br>" not in str(lab.layout(f"{path.strip('/')}-grad-graph", "title.text")),
                   "the titles back on one line")
    assert lab.duo.get_logs() == []


def test_robust_pulls_of_5e_324_draw_their_bars(lab):
    # δ = τ = 5e-324: every Huber and quantile pull is 5e-324 or 0, Plotly's axis scaling overflowed
    # ("Cannot read properties of undefined (reading 'val')") and the influence chart stayed empty.
    lab.open("/robust?delta=5e-324&tau=5e-324&check=on&losses=huber,quantile,pseudo_huber",
             wait_for=("robust-loss-graph", "robust-grad-graph"))
    lab.wait_until(lambda: lab.js("return document.querySelectorAll('#robust-grad-graph .bars .point').length;"),
                   "the influence bars")
    assert lab.duo.get_logs() == []


@pytest.mark.parametrize(("link", "typed", "largest"), [
    ("/robust?delta=1&tau=5e-324&losses=huber,quantile", "5e-324", 1e-300),
    ("/robust?delta=5e-324&tau=5e-324&losses=huber,quantile", "1", None),
], ids=["into-5e-324", "out-of-5e-324"])
def test_robust_delta_typed_into_and_out_of_5e_324_draws_the_servers_pulls(lab, link, typed, largest):
    # Reached by typing, not by a link: the fixed range of a tiny axis came only with whole figures
    # (out of it: the axis stayed at [0, 1e-300] under pulls of 1, about 50 SEVERE path errors), and typed
    # into it the δ slider's handle rested on its lowest stop, whose precomputed pulls (up to 0.05)
    # robust.js drew over the server's on that axis.
    lab.open(link, wait_for=("robust-loss-graph", "robust-grad-graph"))
    lab.wait_until(lambda: lab.js("return document.querySelectorAll('#robust-grad-graph .bars .point').length;"),
                   "the influence bars")
    lab.duo.get_logs()
    lab.type_into("robust-delta-input", typed)
    lab.wait_until(lambda: f"delta={typed}" in lab.js("return window.location.search;"), "δ in the link")
    def huber_pulls():
        return max(abs(v) for v in lab.trace("robust-grad-graph", "huber")["y"])

    if largest is None:
        lab.wait_until(lambda: lab.layout("robust-grad-graph", "yaxis.autorange") is True, "autorange back")
        lab.wait_until(lambda: huber_pulls() > 0.5, "Huber's pulls of the server's fit at δ = 1")
    else:
        lab.wait_until(lambda: huber_pulls() <= largest, f"Huber's pulls at most {largest}")
        assert lab.layout("robust-grad-graph", "yaxis.range") == [0, 1e-300]
    assert lab.duo.get_logs() == []


def test_play_on_a_log_scale_says_why_it_cannot_sweep(lab):
    # A log axis rescales with every frame, so the view sends no frames for it ("unsupported"): ▶ turned
    # into ■ and stayed so, with nothing moving and no word why.
    lab.open("/detection?scale=log")
    lab.duo.find_element(".play-button[data-play='aspect']").click()
    lab.wait_until(lambda: "log axes" in (lab.text("detection-aspect-message") or ""), "the reason under the slider")
    button = lab.duo.find_element(".play-button[data-play='aspect']")
    assert button.text == "▶" and button.get_attribute("aria-pressed") == "false"
    assert lab.value("detection-aspect-input") == "1"
    # again, with the answer already in hand (no new request): the same, at once
    lab.js("window.dash_clientside.set_props('detection-aspect-message', {children: ''});")
    button.click()
    lab.wait_until(lambda: "log axes" in (lab.text("detection-aspect-message") or ""), "the reason again")
    assert button.text == "▶"
    # back on a linear axis the sweep plays
    option = lab.driver.find_element("xpath", "//*[@id='detection-scale']//input[@value='linear']/ancestor::label")
    lab.js("document.querySelectorAll('.view details').forEach((d) => { d.open = true; });")
    option.click()
    lab.wait_until(lambda: "scale=linear" in lab.js("return window.location.search;"), "the linear scale")
    button.click()
    lab.wait_until(lambda: button.get_attribute("data-value") is not None, "frames of the sweep")
    button.click()
    assert lab.duo.get_logs() == []
