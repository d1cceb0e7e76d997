"""Motion (issue 10): chart repaints per second while a slider is dragged fast, and during ▶ playback.

``python -m bench.motion`` serves losslab and a plain Dash baseline (bench/slider_app.py: one
slider with updatemode="drag" and two figures) with gunicorn on loopback, drags each slider in
headless Chromium at about 50 pointer moves a second, and counts Plotly redraws of the view's two
sweep charts during the drag (``plotly_afterplot`` for a full redraw, ``plotly_animated`` for a
frame that re-plots only the traces; each chart counts, so one frame of two charts is 2). It also times the release
to the last repaint, and counts frames and callback requests during 3 s of playback. Results are
ratios against the baseline measured in the same run (medians over ``--rounds``); the targets
live in the report this prints, never in CI.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.browser import available, chromium
from bench.common import SKIP, Mode, Row, ratio, verdict
from bench.harness import Gunicorn, on_ci, serve

COUNT_PAINTS = """
window.__paints = 0; window.__requests = 0;
window.__positions = 0;
new MutationObserver((records) => { window.__positions += records.length; }).observe(
  document.documentElement, {attributes: true, attributeFilter: ['aria-valuenow'], subtree: true});
const painted = () => { window.__paints += 1; window.__lastPaint = performance.now(); };
// The release as the page sees it (window capture: before the page's own handlers), not when WebDriver
// returns from it: under load that round trip took longer than the repaint it was meant to time.
window.__releasedAt = null;
if (!window.__releaseWatched) {
  window.__releaseWatched = true;
  window.addEventListener('pointerup', () => { window.__releasedAt = performance.now(); }, true);
}
document.querySelectorAll(arguments[0]).forEach((plot) => {
  plot.on('plotly_afterplot', painted); plot.on('plotly_animated', painted); });
const original = window.fetch;
window.fetch = function (input) {
  const url = typeof input === 'string' ? input : (input && input.url) || '';
  if (url.indexOf('_dash-update-component') !== -1) window.__requests += 1;
  return original.apply(this, arguments);
};
"""

SLIDERS = [("regression", "delta", "/regression"), ("regression", "target", "/regression"),
           ("binary", "label", "/binary"), ("binary", "gamma", "/binary?losses=bce,focal"),
           ("multiclass", "temperature", "/multiclass"),
           # one slider on each other view with motion sliders
           ("regression", "tau", "/regression?losses=quantile"), ("multiclass", "smoothing", "/multiclass"),
           ("counts", "count", "/counts"), ("detection", "aspect", "/detection"),
           ("segmentation", "smooth", "/segmentation"), ("metric", "margin", "/metric"),
           ("ranking", "margin", "/ranking"), ("generative", "mu", "/generative?losses=gaussian_kl&axis=mu"),
           ("sequences", "epsilon", "/sequences")]
MOVES, MOVE_SECONDS = 100, 0.02  # about 50 pointer moves a second for 2 s


def wait_for(driver, selector: str, seconds: float = 30) -> None:
    deadline = time.time() + seconds
    while not driver.execute_script("return !!document.querySelector(arguments[0]);", selector):
        if time.time() > deadline:
            raise RuntimeError(f"{selector} did not appear within {seconds} s")
        time.sleep(0.1)
    time.sleep(0.5)  # the first charts' own redraws settle


def drag(driver, handle_selector: str, charts: str) -> dict:
    from selenium.webdriver.common.action_chains import ActionChains

    wait_for(driver, handle_selector)
    wait_for(driver, charts)
    driver.execute_script(COUNT_PAINTS, charts)
    handle = driver.find_element("css selector", handle_selector)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", handle)
    chain = ActionChains(driver, duration=0).click_and_hold(handle)
    for step in range(MOVES):  # back and forth across a fifth of the slider, 4 px a move
        chain = chain.move_by_offset(-4 if (step // 25) % 2 else 4, 0).pause(MOVE_SECONDS)
    started = time.perf_counter()
    chain.perform()
    held = time.perf_counter() - started
    paints, positions = driver.execute_script("return [window.__paints, window.__positions];")
    ActionChains(driver, duration=0).release().perform()
    time.sleep(1.5)
    released, last = driver.execute_script("return [window.__releasedAt, window.__lastPaint || 0];")
    if released is None:
        raise RuntimeError(f"{handle_selector}: the page saw no pointerup for the release")
    return {"paints_per_s": paints / held, "release_ms": max(0.0, last - released),
            "positions_per_s": positions / held, "paints_per_position": paints / max(positions, 1),
            "requests": driver.execute_script("return window.__requests;")}


def playback(driver, view: str, name: str) -> dict:
    driver.execute_script(COUNT_PAINTS, f"#{view}-loss-graph .js-plotly-plot, #{view}-grad-graph .js-plotly-plot")
    driver.find_element("css selector", f"button.play-button[data-play='{name}']").click()
    deadline = time.time() + 10
    while driver.execute_script("return (window.__losslabFrames || 0);") < 3 and time.time() < deadline:
        time.sleep(0.05)
    frames, requests = (driver.execute_script("return [window.__losslabFrames, window.__requests];"))
    time.sleep(3)
    frames2, requests2 = driver.execute_script("return [window.__losslabFrames, window.__requests];")
    driver.find_element("css selector", f"button.play-button[data-play='{name}']").click()
    return {"frames_per_s": (frames2 - frames) / 3, "requests": requests2 - requests}


# Injected before any page script: the time (ms from navigation start) when every chart in
# window.__charts has drawn its curves (a Plotly main-svg with at least one line path).
FIRST_PAINT = r"""
(function () {
  function check() {
    var ids = window.__charts || [];
    var drawn = ids.length && ids.every(function (id) {
      var g = document.getElementById(id);
      return !!(g && g.querySelector('.main-svg .scatterlayer path.js-line'));
    });
    if (drawn) { window.__chartsDrawnAt = performance.now(); return; }
    requestAnimationFrame(check);
  }
  requestAnimationFrame(check);
})();
"""

FIRST_PAINT_VIEWS = ("regression", "binary", "multiclass")


def first_paint(driver, url: str, charts: list[str], rounds: int) -> float:
    """Median over ``rounds`` warm-cache loads of ``url``: navigation start to every chart drawn (ms)."""
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                           {"source": f"window.__charts = {charts!r};" + FIRST_PAINT})
    times = []
    for attempt in range(rounds + 1):  # the first load fills the cache
        driver.get("about:blank")
        driver.get(url)
        deadline = time.time() + 30
        while (drawn := driver.execute_script("return window.__chartsDrawnAt || 0;")) == 0:
            if time.time() > deadline:
                raise RuntimeError(f"{url}: charts {charts} not drawn within 30 s")
            time.sleep(0.02)
        if attempt:
            times.append(drawn)
    return statistics.median(times)


DRAG_TARGET, RELEASE_TARGET_MS, PLAYBACK_TARGET, FIRST_PAINT_TARGET = 30.0, 100.0, 30.0, 1.1
PLAYED = SLIDERS[:1] + SLIDERS[3:4]


def row_keys() -> list[str]:
    return ([f"motion.drag.{view}-{name}" for view, name, _ in SLIDERS]
            + [f"motion.playback.{view}-{name}" for view, name, _ in PLAYED]
            + [f"motion.first-paint.{view}" for view in FIRST_PAINT_VIEWS])


def rows(mode: Mode) -> list[Row]:
    """``python -m bench`` rows: per slider, repaints a second during a fast drag (ratio to the plain
    Dash slider of the same run) and release to last repaint; per ▶ button, frames a second and requests."""
    why_not = available()
    if why_not and on_ci():
        raise RuntimeError(f"CI is set but {why_not}")
    if mode.quick or why_not:
        why = why_not or "about 2 minutes of real drags: `make bench` (or `python -m bench.motion`) runs it"
        return [Row(key, "not run", "", "", SKIP, why) for key in row_keys()]
    measured = measure(rounds=3)
    base = measured["baseline"]
    out = []
    for (view, name, _), result in zip(SLIDERS, measured["drags"], strict=True):
        ok = result["paints_per_s"] >= DRAG_TARGET and result["release_ms"] <= RELEASE_TARGET_MS
        out.append(Row(f"motion.drag.{view}-{name}",
                       f"{result['paints_per_s']:.1f} repaints/s ({ratio(result['paints_per_s'], base):.2f}× plain Dash)",
                       f"plain Dash slider {base:.1f}/s; the hand passed {result['positions_per_s']:.1f} slider "
                       f"positions/s, {result['paints_per_position']:.2f} chart repaints per position "
                       f"(2 charts); release to last repaint {result['release_ms']:.0f} ms",
                       f">= {DRAG_TARGET:.0f}/s, release <= {RELEASE_TARGET_MS:.0f} ms", verdict(ok)))
    for (view, name, _), result in zip(PLAYED, measured["playback"], strict=True):
        ok = result["frames_per_s"] >= PLAYBACK_TARGET and result["requests"] == 0
        out.append(Row(f"motion.playback.{view}-{name}", f"{result['frames_per_s']:.1f} frames/s",
                       f"{result['requests']} requests during 3 s", f">= {PLAYBACK_TARGET:.0f}/s, 0 requests",
                       verdict(ok)))
    plain = measured["first_paint_baseline"]
    for view in FIRST_PAINT_VIEWS:
        ms = measured["first_paint"][view]
        out.append(Row(f"motion.first-paint.{view}", f"{ms:.0f} ms ({ratio(ms, plain):.2f}× plain Dash)",
                       f"plain Dash app {plain:.0f} ms; navigation start to both charts drawn, warm cache, "
                       f"median of {FIRST_PAINT_ROUNDS}", f"<= {FIRST_PAINT_TARGET}× plain Dash",
                       verdict(ms <= FIRST_PAINT_TARGET * plain)))
    return out


def measure(rounds: int) -> dict:
    """Medians over ``rounds`` of each slider's drag, the plain Dash baseline's, and one playback each."""
    with serve(Gunicorn(), Gunicorn("bench.slider_app:server", ready_path="/", name="slider-app")) as ports, \
            chromium() as driver:
        app_port, base_port = ports
        baseline = []
        for _ in range(rounds):
            driver.get(f"http://127.0.0.1:{base_port}/")
            baseline.append(drag(driver, "#delta [role=slider]", "#grad .js-plotly-plot, #loss .js-plotly-plot"))
        baseline = {key: statistics.median(r[key] for r in baseline) for key in baseline[0]}
        drags = []
        for view, name, path in SLIDERS:
            samples = []
            for _ in range(rounds):
                driver.get(f"http://127.0.0.1:{app_port}{path}")
                samples.append(drag(driver, f"#{view}-{name}-slider [role=slider]",
                                    f"#{view}-loss-graph .js-plotly-plot, #{view}-grad-graph .js-plotly-plot"))
            drags.append({key: statistics.median(r[key] for r in samples) for key in samples[0]})
        play = []
        for view, name, path in PLAYED:
            driver.get(f"http://127.0.0.1:{app_port}{path}")
            wait_for(driver, f"button.play-button[data-play='{name}']")
            play.append(playback(driver, view, name))
    paint = measure_first_paint(FIRST_PAINT_ROUNDS)
    return {"baseline": baseline["paints_per_s"], "baseline_drag": baseline, "drags": drags, "playback": play,
            "first_paint_baseline": paint["baseline"], "first_paint": paint["views"]}


FIRST_PAINT_ROUNDS = 7


def measure_first_paint(rounds: int) -> dict:
    """First paint of each view and of the plain Dash app (bench/plain_dash_app.py), interleaved per round
    so a burst of load hits both; a fresh browser for each page, so one's startup script is alone."""
    with serve(Gunicorn(), Gunicorn("bench.plain_dash_app:server", ready_path="/", name="plain-dash")) as ports:
        app_port, plain_port = ports
        pages = {"baseline": (f"http://127.0.0.1:{plain_port}/", ["loss", "gradient"])}
        for view in FIRST_PAINT_VIEWS:
            pages[view] = (f"http://127.0.0.1:{app_port}/{view}", [f"{view}-loss-graph", f"{view}-grad-graph"])
        samples = {key: [] for key in pages}
        for _ in range(rounds):
            for key, (url, charts) in pages.items():
                with chromium() as driver:
                    samples[key].append(first_paint(driver, url, charts, rounds=1))
    medians = {key: statistics.median(values) for key, values in samples.items()}
    return {"baseline": medians.pop("baseline"), "views": medians}


def run(rounds: int) -> list[str]:
    """The measurements of :func:`measure` as Markdown tables."""
    measured = measure(rounds)
    base, base_rate = measured["baseline_drag"], measured["baseline"]

    def drag_line(label: str, result: dict) -> str:
        return (f"| {label} | {result['paints_per_s']:.1f} | {result['paints_per_s'] / base_rate:.2f} | "
                f"{result['release_ms']:.0f} | {result['paints_per_position']:.2f} |")

    lines = [drag_line("plain Dash slider (baseline)", base)] + [
        drag_line(f"{view} {name}", result) for (view, name, _), result in zip(SLIDERS, measured["drags"], strict=True)]
    play = [f"| ▶ {view} {name} | {result['frames_per_s']:.1f} frames/s | {result['requests']} requests |"
            for (view, name, _), result in zip(PLAYED, measured["playback"], strict=True)]
    plain = measured["first_paint_baseline"]
    paints = [f"| plain Dash app | {plain:.0f} | 1.00 |"] + [
        f"| {view} | {ms:.0f} | {ms / plain:.2f} |" for view, ms in measured["first_paint"].items()]
    return ["| page | first paint of both charts (ms, warm cache) | ratio |", "|---|---|---|", *paints, "",
            "| slider | repaints/s during a fast drag | ratio to baseline | release to last repaint (ms) "
            "| chart repaints per slider position |", "|---|---|---|---|---|", *lines, "",
            "| playback | frames | requests during playback |", "|---|---|---|", *play]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--first-paint-only", action="store_true")
    args = parser.parse_args()
    if args.first_paint_only:
        paint = measure_first_paint(rounds=FIRST_PAINT_ROUNDS)
        print(f"plain Dash {paint['baseline']:.0f} ms; " + ", ".join(
            f"{view} {ms:.0f} ms ({ms / paint['baseline']:.2f}x)" for view, ms in paint["views"].items()))
        return
    print("\n".join(run(args.rounds)))
    print("\nTargets (issue 10): >= 30 repaints/s on every slider, release painted within 100 ms, "
          ">= 30 frames/s and 0 requests during playback.")


if __name__ == "__main__":
    main()
