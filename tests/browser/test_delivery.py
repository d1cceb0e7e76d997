"""In the browser: the partial plotly.js bundle draws every trace type we use, and a repeat visit hits the cache."""

from __future__ import annotations

from plotly.offline import get_plotlyjs_version

from losslab.dashboard.views import VIEWS

# Draw one trace of a type into a scratch element; what plotly.js made of it.
DRAW_JS = """
const done = arguments[arguments.length - 1];
const div = document.createElement('div');
div.style.width = '300px'; div.style.height = '200px';
document.body.appendChild(div);
const z = [[1, 2, 3], [2, 3, 4], [3, 4, 6]];
const traces = {
  scatter: {type: 'scatter', x: [0, 1, 2], y: [1, 0, 1]},
  bar: {type: 'bar', x: ['a', 'b'], y: [2, 3]},
  contour: {type: 'contour', z: z},
  heatmap: {type: 'heatmap', z: z},
};
Plotly.newPlot(div, [traces[arguments[0]]], {}, {staticPlot: true}).then(
  () => { const type = div._fullData[0].type; const drawn = div.querySelectorAll('.main-svg *').length;
          Plotly.purge(div); div.remove(); done([type, drawn]); },
  (error) => done(['error', String(error)]));
"""

RESOURCES_JS = """
return performance.getEntriesByType('resource').map((e) => [e.name, e.initiatorType, e.transferSize]);
"""


def test_the_partial_plotly_bundle_draws_every_trace_type_we_use(lab):
    view = VIEWS[0]
    lab.open(view.path, wait_for=(view.ids.LOSS_GRAPH, view.ids.GRAD_GRAPH))
    assert lab.js("return Plotly.version;") == get_plotlyjs_version()
    loaded = [url for url, _, _ in lab.js(RESOURCES_JS)]
    assert any("/vendor/plotly-cartesian-" in url for url in loaded), loaded
    assert not any("plotly.min.js" in url for url in loaded), loaded
    lab.driver.set_script_timeout(20)
    for trace_type in ("scatter", "bar", "contour", "heatmap"):
        drawn_type, elements = lab.driver.execute_async_script(DRAW_JS, trace_type)
        assert drawn_type == trace_type, (trace_type, elements)
        assert elements > 5, (trace_type, elements)
    assert lab.duo.get_logs() == []


def test_a_repeat_visit_takes_every_bundle_from_the_cache(lab):
    view = VIEWS[1]
    wait = (view.ids.LOSS_GRAPH, view.ids.GRAD_GRAPH)
    lab.open(view.path, wait_for=wait)
    lab.driver.get("about:blank")
    lab.open(view.path, wait_for=wait)
    again = lab.js(RESOURCES_JS)
    scripts = [(url, size) for url, kind, size in again if kind in ("script", "link")]
    # dcc's lazily loaded chunks carry their bundle's fingerprint (assets/bundles.js), so they are cached too
    assert any("/dcc/async-graph.v" in url for url, _ in scripts), scripts
    fetched = [url for url, size in scripts if size > 0]
    assert not fetched, f"fetched again on a repeat visit: {fetched}"
    assert lab.duo.get_logs() == []


def test_mathjax_is_fetched_once_fingerprinted_and_cached_for_the_next_visit(lab):
    """assets/formulas.js downloads dcc's MathJax chunk itself before turning the formulas on: one request
    (Dash's loader finds the chunk there and does not ask again), under the bundle's fingerprint, so a
    repeat visit takes it from the cache."""
    view = VIEWS[0]
    wait = (view.ids.LOSS_GRAPH, view.ids.GRAD_GRAPH)
    mathjax = "return performance.getEntriesByType('resource').filter((e) => e.name.includes('async-mathjax'))" \
              ".map((e) => [e.name, e.transferSize]);"
    typeset = f"document.querySelectorAll('#{view.ids.FORMULAS} mjx-container svg').length > 0"
    for visit in ("first", "repeat"):
        if visit == "repeat":
            lab.driver.get("about:blank")
        lab.open(view.path, wait_for=wait)
        lab.js("document.getElementById(arguments[0]).scrollIntoView();", view.ids.FORMULAS)
        lab.wait_until(typeset, f"the formulas typeset on the {visit} visit", timeout=25)
        fetched = lab.js(mathjax)
        assert len(fetched) == 1, fetched
        url, size = fetched[0]
        assert "/dcc/async-mathjax.v" in url, url
        assert (size > 100_000) if visit == "first" else (size == 0), (visit, url, size)
    assert lab.duo.get_logs() == []
