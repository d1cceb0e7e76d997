"""Browser tests: the dashboard in headless Chromium, driven through dash_duo.

Chromium and ChromeDriver are the Debian packages at fixed paths. Without
them the tests skip on a developer machine and fail under CI (``CI`` set to
anything but '', '0', 'false' or 'no': ``bench.harness.on_ci``, which .ci/run
sets), where a silently skipped browser suite would hide a broken dashboard.

The ``lab`` fixture gives every test what it needs: the app on a free port,
opening a path, running JavaScript, polling a condition, reading a chart's
plotted data, and typing into a text box like a user. One Chromium and one
server serve the whole session, reset to a fresh state before each test
(:class:`SharedBrowser`).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.keys import Keys

from bench.harness import CHROMIUM, chromium_problem, free_port, missing_tool

HERE = Path(__file__).resolve().parent
WINDOW = (1280, 1000)  # a fresh browser's window: width, height
CHROME_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--window-size={},{}".format(*WINDOW),
)


def _is_browser_test(item) -> bool:
    return HERE in Path(str(item.fspath)).resolve().parents


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _is_browser_test(item):
            item.add_marker(pytest.mark.browser)
            # Selenium 4.2 calls a urllib3 API deprecated upstream on every command: not ours to fix.
            item.add_marker(pytest.mark.filterwarnings("ignore::DeprecationWarning:selenium.webdriver.remote.remote_connection"))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before any fixture starts a browser: fail on CI, skip elsewhere, if Chromium is missing."""
    if not _is_browser_test(item):
        return
    problem = chromium_problem()
    if problem is not None:
        missing_tool(problem)


def pytest_setup_options():
    """Chrome options for dash_duo (the dash testing plugin's hook)."""
    options = Options()
    options.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    if not os.environ.get("DISPLAY"):
        options.add_argument("--headless=new")
    return options


# Plotted data of one graph, as plain lists (typed arrays converted; NaN comes back as None).
TRACES_JS = """
const plot = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
if (!plot || !plot._fullData) return null;
const list = (a) => (a === undefined || a === null) ? null : Array.from(a, (v) => (typeof v === 'number' && !isFinite(v)) ? null : v);
return plot._fullData.map((t) => ({
  meta: t.meta === undefined ? null : t.meta, name: t.name, type: t.type,
  x0: t.x0 === undefined ? null : t.x0, dx: t.dx === undefined ? null : t.dx,
  x: t.x ? list(t.x) : null, y: list(t.y),
}));
"""


class Lab:
    """A running dashboard in a browser, with helpers phrased as a user would act."""

    def __init__(self, duo):
        self.duo = duo
        self.driver = duo.driver
        self.base = None

    # -- navigation ------------------------------------------------------------------
    def open(self, path: str = "/regression", wait_for: tuple[str, ...] | None = None):
        """Open ``path`` and wait until its charts are drawn (the ids in ``wait_for``, default: the view's two)."""
        if self.base is None:
            from losslab.dashboard import create_app

            self.duo.start_server(create_app(), navigate=False, port=free_port())
            self.base = self.duo.server.url.rstrip("/")
        self.duo.wait_for_page(url=self.base + path, timeout=20)
        if wait_for is None:
            view = path.split("?")[0].strip("/") or "regression"
            wait_for = (f"{view}-loss-graph", f"{view}-grad-graph")
        for graph_id in wait_for:
            self.wait_until(lambda g=graph_id: self.traces(g), f"chart #{graph_id} to be drawn", timeout=20)

    # -- JavaScript --------------------------------------------------------------------
    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def wait_until(self, condition, what: str, timeout: float = 10.0, poll: float = 0.05):
        """Poll ``condition`` (a callable or a JS expression) until truthy; return its value."""
        if isinstance(condition, str):
            expression = condition
            condition = lambda: self.js(f"return ({expression});")  # noqa: E731
        deadline = time.monotonic() + timeout
        last_error = None
        while True:
            try:
                value = condition()
                if value:
                    return value
            except Exception as error:  # a half-rendered page can throw; keep polling
                last_error = error
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what} (last error: {last_error})")
            time.sleep(poll)

    # -- reading what is shown --------------------------------------------------------
    def traces(self, graph_id: str):
        return self.js(TRACES_JS, graph_id)

    def trace(self, graph_id: str, meta: str):
        matches = [t for t in self.traces(graph_id) or [] if t["meta"] == meta]
        assert len(matches) == 1, f"expected one trace {meta!r} in #{graph_id}, got {len(matches)}"
        return matches[0]

    def metas(self, graph_id: str) -> list:
        """The role of every trace in drawing order: loss keys, then ``"marker"`` (one per subplot)."""
        return [t["meta"] for t in self.traces(graph_id) or []]

    def curves(self, graph_id: str) -> list:
        """The loss keys plotted as curves, in order."""
        return [m for m in self.metas(graph_id) if m != "marker"]

    def marker_points(self, graph_id: str) -> list[tuple[float, float]]:
        """Every current-prediction point drawn on a graph, over all its marker traces."""
        return [
            (x, y)
            for t in self.traces(graph_id) or []
            if t["meta"] == "marker"
            for x, y in zip(t["x"], t["y"], strict=True)
        ]

    def layout(self, graph_id: str, path: str):
        """A value from the drawn layout, e.g. ``layout(g, "xaxis.range")``."""
        return self.js(
            "const p = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
            "return arguments[1].split('.').reduce((o, k) => (o == null ? o : o[k]), p._fullLayout);",
            graph_id, path,
        )

    def snapshot(self, *graph_ids: str) -> str:
        """Everything plotted on some graphs, as a string to compare before and after."""
        return json.dumps([self.traces(g) for g in graph_ids], sort_keys=True)

    def text(self, element_id: str) -> str:
        return self.js("const e = document.getElementById(arguments[0]); return e ? e.innerText : null;", element_id)

    def value(self, element_id: str) -> str:
        return self.js("return document.getElementById(arguments[0]).value;", element_id)

    # -- acting like a user ------------------------------------------------------------
    def type_into(self, element_id: str, text: str, enter: bool = True):
        """Replace a text box's content by typing (select all, then the new text), then Enter.

        Text boxes apply on Enter or blur (``debounce=True``); ``enter=False`` leaves the text pending.
        """
        box = self.duo.find_element(f"#{element_id}")
        box.click()
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.BACKSPACE)
        if text:
            box.send_keys(text)
        if enter:
            box.send_keys(Keys.ENTER)
        return box

    def paste_into(self, element_id: str, text: str):
        """Put a long text into a box at once, as a paste does (React sees one input event)."""
        self.js(
            "const box = document.getElementById(arguments[0]);"
            "box.focus();"
            "const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;"
            "setter.call(box, arguments[1]);"
            "box.dispatchEvent(new Event('input', {bubbles: true}));"
            "box.blur();",  # leaving the box applies it, as Enter does
            element_id, text,
        )

    def viewport_point(self, selector: str, fx: float, fy: float):
        """Viewport coordinates of a point at fractions (fx, fy) of an element's box (scrolled into view)."""
        return self.js(
            "const e = document.querySelector(arguments[0]);"
            "e.scrollIntoView({block: 'center', inline: 'center'});"
            "const r = e.getBoundingClientRect();"
            "return [r.left + r.width * arguments[1], r.top + r.height * arguments[2]];",
            selector, fx, fy,
        )

    def mouse(self) -> ActionChains:
        """Pointer and key actions; each pointer move takes 50 ms (Selenium's default is 250 ms)."""
        return ActionChains(self.driver, duration=50)

    def click_at(self, selector: str, fx: float, fy: float):
        x, y = self.viewport_point(selector, fx, fy)
        self.mouse().move_to_location(int(x), int(y)).pause(0.1).click().perform()
        return int(x), int(y)

    def plot_x_at(self, graph_id: str, viewport_x: float) -> float:
        """The data x under a viewport x coordinate on a graph's plot area."""
        return self.js(
            "const p = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
            "const drag = p.querySelector('.nsewdrag').getBoundingClientRect();"
            "return p._fullLayout.xaxis.p2l(arguments[1] - drag.left);",
            graph_id, viewport_x,
        )


class SharedBrowser:
    """One dashboard server and one Chromium for the whole browser session, reset before each test.

    Starting Chromium and a server costs 1.5 to 3 s a test, a third of the browser suite's time. What a
    fresh browser would give each test is restored instead: a blank page, no cookies, storage or HTTP cache
    for the dashboard's origin, the default window size, no emulated media or device metrics, no log
    entries left over. The server keeps only its caches of computed curves and pages, which are keyed by
    their inputs. After a failed test the browser is replaced, so one failure cannot spill into the next.
    """

    def __init__(self, config, download_path: str):
        from dash.testing.application_runners import ThreadedRunner

        self.config, self.download_path = config, download_path
        self.runner = ThreadedRunner()
        self.duo = None
        self.base = None

    def composite(self):
        from dash.testing.composite import DashComposite

        option = self.config.getoption
        return DashComposite(
            server=self.runner, browser=option("webdriver"), remote=option("remote"),
            remote_url=option("remote_url"), headless=option("headless"),
            options=self.config.hook.pytest_setup_options(), download_path=self.download_path,
            percy_assets_root=option("percy_assets"), percy_finalize=option("nopercyfinalize"),
            pause=option("pause"),
        )

    def lab(self) -> Lab:
        if self.duo is None:
            self.duo = self.composite()
        if self.base is None:
            from losslab.dashboard import create_app

            self.duo.start_server(create_app(), navigate=False, port=free_port())
            self.base = self.runner.url.rstrip("/")
        try:
            self.reset()
        except Exception:  # a browser that died in the last test: start another
            self.discard()
            self.duo = self.composite()
            self.reset()
        lab = Lab(self.duo)
        lab.base = self.base
        return lab

    def reset(self):
        driver = self.duo.driver
        first, *others = driver.window_handles  # windows a test opened (window.open, target=_blank)
        for handle in others:
            driver.switch_to.window(handle)
            driver.close()
        driver.switch_to.window(first)
        driver.get("about:blank")
        # Chromium sends the next page a mouseover at the pointer's last position: park it in the corner,
        # where a fresh browser's pointer starts (the views fetch a slider's frames when hovered).
        pointer = ActionBuilder(driver)
        pointer.clear_actions()  # keys and buttons a failed test left held down
        pointer.pointer_action.move_to_location(0, 0)
        pointer.perform()
        driver.execute_cdp_cmd("Network.clearBrowserCache", {})
        driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        driver.execute_cdp_cmd("Storage.clearDataForOrigin", {"origin": self.base, "storageTypes": "all"})
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "", "features": []})
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "default"})
        if driver.get_window_size() != dict(zip(("width", "height"), WINDOW, strict=True)):
            driver.set_window_size(*WINDOW)
        driver.get_log("browser")  # what the last test left in the log
        self.duo._last_ts = 0

    def discard(self):
        if self.duo is not None:
            self.duo.__exit__(None, None, None)
            self.duo = None

    def close(self):
        self.discard()
        self.runner.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.browser_test_failed = report.failed


@pytest.fixture(scope="session")
def shared_browser(request, tmp_path_factory):
    shared = SharedBrowser(request.config, str(tmp_path_factory.mktemp("download")))
    yield shared
    shared.close()


@pytest.fixture
def lab(request, shared_browser):
    """The dashboard in Chromium, shared with the other browser tests and reset to a fresh state."""
    lab = shared_browser.lab()
    yield lab
    if getattr(request.node, "browser_test_failed", True):
        shared_browser.discard()


def option_label(lab: Lab, group_id: str, value: str):
    """The clickable label of a checklist or radio option, found by its value."""
    return lab.driver.find_element(
        "xpath", f"//*[@id='{group_id}']//input[@value='{value}']/ancestor::label"
    )


def grid_x(trace: dict) -> list[float]:
    """The x of every point of a trace drawn from ``x0``/``dx``."""
    return [trace["x0"] + i * trace["dx"] for i in range(len(trace["y"]))]


def assert_close(got, expected, tol: float = 1e-9, what: str = "values"):
    """Elementwise |got - expected| <= tol * max(1, |expected|), with a readable failure."""
    assert len(got) == len(expected), f"{what}: {len(got)} points, expected {len(expected)}"
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert g is not None and abs(g - e) <= tol * max(1.0, abs(e)), f"{what}[{i}]: got {g}, expected {e}"


def checked(lab: Lab, group_id: str) -> list[str]:
    """Values of the ticked options of a checklist or radio group."""
    return lab.js(
        "return Array.from(document.querySelectorAll('#' + arguments[0] + ' input:checked'), (i) => i.value);",
        group_id,
    )
