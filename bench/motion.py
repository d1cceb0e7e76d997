"""Motion (issue 10): chart repaints per second while a slider is dragged fast, and during ▶ playback.

``python -m bench.motion`` serves losslab and a plain Dash baseline (bench/slider_app.py: one
slider with updatemode="drag" and two figures) with gunicorn on loopback, drags each slider in
headless Chromium at about 50 pointer moves a second, and counts Plotly redraws
(``plotly_afterplot``) of the view's two sweep charts during the drag. It also times the release
to the last repaint, and counts frames and callback requests during 3 s of playback. Results are
ratios against the baseline measured in the same run (medians over ``--rounds``); the targets
live in the report this prints, never in CI.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.browser import chromium
from bench.harness import Gunicorn, serve

COUNT_PAINTS = """
window.__paints = 0; window.__requests = 0;
document.querySelectorAll(arguments[0]).forEach((plot) => plot.on('plotly_afterplot', () => {
  window.__paints += 1; window.__lastPaint = performance.now(); }));
const original = window.fetch;
window.fetch = function (input) {
  const url = typeof input === 'string' ? input : (input && input.url) || '';
  if (url.indexOf('_dash-update-component') !== -1) window.__requests += 1;
  return original.apply(this, arguments);
};
"""

SLIDERS = [("regression", "delta", "/regression"), ("regression", "target", "/regression"),
           ("binary", "label", "/binary"), ("binary", "gamma", "/binary?losses=bce,focal"),
           ("multiclass", "temperature", "/multiclass")]
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
    paints = driver.execute_script("return window.__paints;")
    ActionChains(driver, duration=0).release().perform()
    released = driver.execute_script("return performance.now();")
    time.sleep(1.5)
    last = driver.execute_script("return window.__lastPaint || 0;")
    return {"paints_per_s": paints / held, "release_ms": max(0.0, last - released),
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


def run(rounds: int) -> list[str]:
    lines = []
    with serve(Gunicorn(), Gunicorn("bench.slider_app:server", ready_path="/", name="slider-app")) as ports, \
            chromium() as driver:
        app_port, base_port = ports
        baseline = []
        for _ in range(rounds):
            driver.get(f"http://127.0.0.1:{base_port}/")
            baseline.append(drag(driver, "#delta [role=slider]", "#grad .js-plotly-plot, #loss .js-plotly-plot"))
        base_rate = statistics.median(r["paints_per_s"] for r in baseline)
        lines.append(f"| plain Dash slider (baseline) | {base_rate:.1f} | 1.00 | "
                     f"{statistics.median(r['release_ms'] for r in baseline):.0f} |")
        for view, name, path in SLIDERS:
            samples = []
            for _ in range(rounds):
                driver.get(f"http://127.0.0.1:{app_port}{path}")
                samples.append(drag(driver, f"#{view}-{name}-slider [role=slider]",
                                    f"#{view}-loss-graph .js-plotly-plot, #{view}-grad-graph .js-plotly-plot"))
            rate = statistics.median(r["paints_per_s"] for r in samples)
            release = statistics.median(r["release_ms"] for r in samples)
            lines.append(f"| {view} {name} | {rate:.1f} | {rate / base_rate:.2f} | {release:.0f} |")
        play = []
        for view, name, path in SLIDERS[:1] + SLIDERS[3:4]:
            driver.get(f"http://127.0.0.1:{app_port}{path}")
            wait_for(driver, f"button.play-button[data-play='{name}']")
            result = playback(driver, view, name)
            play.append(f"| ▶ {view} {name} | {result['frames_per_s']:.1f} frames/s | {result['requests']} requests |")
    return ["| slider | repaints/s during a fast drag | ratio to baseline | release to last repaint (ms) |",
            "|---|---|---|---|", *lines, "", "| playback | frames | requests during playback |", "|---|---|---|",
            *play]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print("\n".join(run(args.rounds)))
    print("\nTargets (issue 10): >= 30 repaints/s on every slider, release painted within 100 ms, "
          ">= 30 frames/s and 0 requests during playback.")


if __name__ == "__main__":
    main()
