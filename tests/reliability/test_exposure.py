"""Exposure: debug off and loopback by default, security headers, no script from a URL, CSP in a browser."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import subprocess
import sys
import time
from html.parser import HTMLParser
from urllib.parse import quote

import pytest

from bench.harness import (
    chromium,
    chromium_problem,
    missing_tool,
    process_log,
    start_process,
    stop_process,
    wait_for_200,
)

from . import CALLBACK_PATH, JSON_HEADERS, free_port, request, tcp_sockets

PAYLOADS = (
    "<script>window.__xss=1</script>",
    "<img src=x onerror=window.__xss=2>",
    "\"><svg onload=window.__xss=3>",
    "javascript:window.__xss=4",
)


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def assert_security_headers(headers: dict, what: str) -> None:
    csp = headers.get("content-security-policy")
    assert csp, f"{what}: no Content-Security-Policy"
    directives = csp_directives(csp)
    script_src = directives.get("script-src", [])
    assert script_src and script_src[0] == "'self'", (what, csp)
    for forbidden in ("'unsafe-eval'", "'unsafe-inline'", "*", "data:", "http:", "https:"):
        assert forbidden not in script_src, f"{what}: script-src allows {forbidden}"
    assert "'unsafe-eval'" not in csp, what
    assert directives.get("default-src") == ["'self'"], (what, csp)
    assert directives.get("object-src") == ["'none'"], (what, csp)
    assert directives.get("frame-ancestors") == ["'self'"], (what, csp)
    assert headers.get("x-content-type-options") == "nosniff", what
    assert headers.get("referrer-policy"), what
    assert headers.get("x-frame-options") == "SAMEORIGIN", what


# -- python app.py -----------------------------------------------------------------------


def _listening_addresses(port: int) -> set[str]:
    """Local addresses in LISTEN state on ``port``, from /proc/net/tcp and tcp6."""
    return {address for address, local_port, state, _ in tcp_sockets() if local_port == port and state == "0A"}


@contextlib.contextmanager
def python_app_py(env: dict, drop_env: tuple, ready_path: str):
    """``python app.py`` on a free port, answering ``ready_path``: yields (port, a list that holds the
    process's output once it has stopped)."""
    port = free_port()
    process = start_process([sys.executable, "app.py"], env={"PORT": str(port), **env}, drop_env=drop_env)
    output: list[str] = []
    try:
        try:
            wait_for_200(port, ready_path, timeout=30, interval=0.2, process=process)
        except RuntimeError as error:
            pytest.fail(f"python app.py ({env}) did not answer {ready_path}: {error}")
        yield port, output
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            pass
        output.append(process_log(process, limit=None))
        stop_process(process)


def test_python_app_py_is_loopback_and_not_debug(callbacks):
    with python_app_py({}, ("HOST", "LOSSLAB_DEBUG", "PORT"), "/health") as (port, log):
        addresses = _listening_addresses(port)
        assert addresses == {"0100007F"}, f"python app.py listens on {addresses} (0100007F is 127.0.0.1)"
        status, headers, body = request(port, "GET", "/?__debugger__=yes&cmd=resource&f=debugger.js")
        assert b"__debugger__" not in body and b"Werkzeug" not in body
        assert_security_headers(headers, "python app.py /")
        # A value the renderer never sends (a list as the URL store's query): answered as
        # a handled response or a 4xx, never a traceback.
        bad = callbacks.valid_change("/regression", "regression-delta-input", "2")
        bad["state"][0]["value"] = ["?a=1"]
        status, headers, body = request(port, "POST", CALLBACK_PATH, json.dumps(bad).encode(), JSON_HEADERS)
        assert status in (200, 422) and b"Traceback" not in body, (status, body[:300])
    output = log[0]
    assert "Debugger is active" not in output and "Debug mode: on" not in output, output
    assert "Debug mode: off" in output, output


def test_python_app_py_with_losslab_debug_starts_in_debug_mode():
    """README and app.py offer LOSSLAB_DEBUG=1 for Dash's dev tools: the app must start and serve.
    It did not: the setup request made at import (finish_setup) meant Flask refused the dev tools'
    error handler ("can no longer be called on the application")."""
    with python_app_py({"LOSSLAB_DEBUG": "1"}, ("HOST", "PORT"), "/regression") as (port, log):
        status, _, body = request(port, "GET", "/_dash-layout")
        assert status == 200 and b"regression" in body.lower()
    assert "Debug mode: on" in log[0], log[0]


# -- headers on gunicorn -------------------------------------------------------------------


class _Scripts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.inline: list[str] = []
        self.sources: list[str] = []
        self._in_inline = False

    def handle_starttag(self, tag, attrs):
        if tag != "script":
            return
        attrs = dict(attrs)
        if attrs.get("src"):
            self.sources.append(attrs["src"])
        elif attrs.get("type", "text/javascript") not in ("application/json",):
            self._in_inline = True
            self.inline.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_inline = False

    def handle_data(self, data):
        if self._in_inline:
            self.inline[-1] += data


def test_every_response_carries_the_security_headers(server, callbacks):
    status, headers, page = request(server.port, "GET", "/regression")
    assert status == 200
    scripts = _Scripts()
    scripts.feed(page.decode())
    good = json.dumps(callbacks.valid_change("/regression", "regression-delta-input", "2")).encode()
    checks = [
        ("GET", "/", None, 200), ("GET", "/binary?label=1", None, 200), ("GET", "/health", None, 200),
        ("GET", "/_dash-layout", None, 200), ("GET", "/_dash-dependencies", None, 200),
        ("GET", scripts.sources[0], None, 200), ("GET", "/assets/losslab.css", None, 200),
        ("GET", "/_dash-component-suites/nope/x.js", None, 404),
        ("POST", CALLBACK_PATH, good, 200), ("POST", CALLBACK_PATH, b"{", 400),
        ("POST", CALLBACK_PATH, b"x" * 300_000, 413),
    ]
    for method, path, body, expected in checks:
        status, headers, _ = request(server.port, method, path, body, JSON_HEADERS if body else {})
        assert status == expected, (method, path, status)
        assert_security_headers(headers, f"{method} {path}")


def test_inline_scripts_are_exactly_the_hashed_ones(server):
    _, headers, page = request(server.port, "GET", "/multiclass")
    scripts = _Scripts()
    scripts.feed(page.decode())
    script_src = csp_directives(headers["content-security-policy"])["script-src"]
    assert scripts.inline, "Dash's index page has an inline renderer script"
    for script in scripts.inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in script_src, f"inline script not in the CSP: {script[:80]!r}"
    assert all(source.startswith("/") and not source.startswith("//") for source in scripts.sources), scripts.sources


# -- hostile URLs ------------------------------------------------------------------------------


def _strings_with(value, needle: str, path=()):
    """Paths to every string in a JSON value that contains ``needle``."""
    if isinstance(value, str):
        if needle in value:
            yield path
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from _strings_with(child, needle, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _strings_with(child, needle, (*path, index))


def _component_at(tree, path):
    """The innermost Dash component (a dict with 'type' and 'props') on ``path``."""
    component, node = None, tree
    for key in path:
        if isinstance(node, dict) and "type" in node and "props" in node:
            component = node
        node = node[key]
    return component


def test_script_in_url_never_reaches_html_unescaped(server, callbacks):
    for payload in PAYLOADS:
        for path in (f"/regression?{quote(payload)}=1", f"/regression?prediction={quote(payload)}",
                     f"/{quote(payload, safe='')}", f"/multiclass?logits={quote(payload)}"):
            status, headers, page = request(server.port, "GET", path)
            assert status == 200 and payload.encode() not in page, path
            assert headers["content-type"].startswith("text/html")
        # what the page's route callback answers for that URL: the payload only as plain text
        for pathname, search in ((f"/{payload}", ""), ("/regression", f"?{payload}=1"),
                                 ("/regression", f"?prediction={payload}"), ("/multiclass", f"?logits={payload}")):
            body = json.dumps(callbacks.route_body(pathname, search)).encode()
            status, headers, answer = request(server.port, "POST", CALLBACK_PATH, body, JSON_HEADERS)
            assert status == 200 and headers["content-type"].startswith("application/json")
            tree = json.loads(answer)["response"]
            for where in _strings_with(tree, payload[:12]):
                assert where[-1] == "children", f"{payload!r} reached the property {where}"
                component = _component_at(tree, where)
                if component is not None:
                    assert component["namespace"] == "dash_html_components", (where, component["type"])
                    assert component["type"] not in ("Iframe", "Script", "ObjectEl", "Embed"), where


# -- the browser ------------------------------------------------------------------------------

VIOLATION_LISTENER = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__violations.push([e.violatedDirective, e.blockedURI, e.sourceFile, e.lineNumber].join(' '));
});
"""
NOTICE_JS = "const e = document.getElementById('url-notice'); return e ? e.innerText : '';"
READY_JS = ("return document.querySelectorAll('.js-plotly-plot .main-svg').length >= 2 && "
            "!!document.querySelector('.formulas mjx-container svg');")
Y_OF_JS = """
const plot = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
if (!plot || !plot.data) return null;
return JSON.stringify(plot.data.map((t) => Array.from(t.y || [])));
"""


@pytest.fixture
def browser():
    problem = chromium_problem()
    if problem:
        missing_tool(problem)
    with chromium(1280, 1000, startup_script=VIOLATION_LISTENER) as driver:
        yield driver


def _wait(condition, what: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _keys():
    from selenium.webdriver.common.keys import Keys

    return Keys


def _problems(driver) -> list[str]:
    logs = [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" or re.search(r"Content.Security.Policy|Refused to", entry["message"])]
    return logs + (driver.execute_script("return window.__violations || []") or [])


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_app_works_in_a_browser_under_the_csp(server, browser, figures):
    seen_problems = []
    for path in ("/binary", "/multiclass?logits=1000,999,998", "/regression"):
        browser.get(server.base + path)
        _wait(lambda: browser.execute_script(READY_JS), f"charts and MathJax formulas on {path}")
        seen_problems += _problems(browser)
    Keys = _keys()
    # a user edits the Huber δ box: the loss chart is redrawn and the URL follows
    before = browser.execute_script(Y_OF_JS, "regression-loss-graph")
    box = browser.find_element("css selector", "#regression-delta-input")
    box.click()
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("3", Keys.ENTER)
    _wait(lambda: browser.execute_script(Y_OF_JS, "regression-loss-graph") != before,
          "the loss chart to change after δ = 3")
    _wait(lambda: "delta=3" in browser.execute_script("return window.location.search"), "the URL to say delta=3")
    seen_problems += _problems(browser)
    # hostile links: shown as text, never run
    for payload in PAYLOADS[:3]:
        browser.get(f"{server.base}/regression?prediction={quote(payload)}&{quote(payload)}=1")
        notice = _wait(lambda: browser.execute_script(NOTICE_JS), "the link notice")
        assert payload[:10] in notice, notice
        assert browser.execute_script("return window.__xss === undefined && !document.querySelector('img[src=x], svg[onload]')")
        seen_problems += _problems(browser)
    figures["browser under CSP"] = {"pages": 3 + len(PAYLOADS[:3]), "csp_violations_and_console_errors": len(seen_problems)}
    assert not seen_problems, seen_problems
