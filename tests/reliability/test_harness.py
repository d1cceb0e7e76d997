"""The shared harness itself (bench/harness.py, bench/payloads.py's Tab), in process: no server.

Percentiles against numpy's, the one reading of CI, the skip-or-fail rule, and
that the chart tally catches traffic that never reaches the charts (what the
hard-coded control lists used to send to the binary view).
"""

from __future__ import annotations

import json
import random
import socket

import numpy as np
import pytest

from bench import harness

from . import ChartTally


@pytest.mark.parametrize("n", [1, 2, 3, 10, 101, 1000])
def test_percentile_is_numpys_linear_interpolation(n):
    rng = random.Random(n)
    values = [rng.lognormvariate(0, 1) for _ in range(n)]
    for q in (0, 1, 25, 50, 90, 99, 99.9, 100):
        assert harness.percentile(values, q) == pytest.approx(float(np.percentile(values, q)), rel=1e-12, abs=0)
    assert harness.median(values) == pytest.approx(float(np.median(values)), rel=1e-12)


def test_percentile_by_hand():
    # positions (n - 1) q / 100 = 3 * 0.5 = 1.5 and 3 * 0.99 = 2.97 between the sorted 1, 2, 4, 8
    assert harness.percentile([8, 1, 4, 2], 50) == 3.0
    assert harness.percentile([8, 1, 4, 2], 99) == pytest.approx(4 + 0.97 * 4)
    assert harness.percentile([], 50) != harness.percentile([], 50)  # NaN
    with pytest.raises(ValueError, match="101"):
        harness.percentile([1.0], 101)


@pytest.mark.parametrize(("value", "expected"), [
    (None, False), ("", False), ("0", False), ("false", False), ("FALSE", False), (" no ", False),
    ("1", True), ("true", True), ("yes", True), ("github-actions", True),
])
def test_one_reading_of_ci(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert harness.on_ci() is expected
    monkeypatch.setenv("LOSSLAB_SOME_FLAG", value or "")
    assert harness.env_flag("LOSSLAB_SOME_FLAG") is expected


def test_a_missing_tool_fails_on_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setattr(harness, "CHROMIUM", "/nonexistent/chromium")
    problem = harness.chromium_problem()
    assert problem and "/nonexistent/chromium" in problem
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI is set but"):
        harness.missing_tool(problem)
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        harness.missing_tool(problem)


def test_free_port_is_bindable_on_loopback():
    port = harness.free_port()
    assert 1024 <= port < 65536
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def _drive(callbacks, tab, steps: int, rng: random.Random) -> None:
    for _ in range(steps):
        step = tab.next_step(rng)
        answer = callbacks.client.post(harness.CALLBACK_PATH, data=step.body, content_type="application/json")
        tab.answered(step, answer.status_code, answer.data)


def test_tabs_reach_the_charts_of_every_view(callbacks):
    tally = ChartTally()
    rng = random.Random(5)
    clickable = set()
    for path in callbacks.view_paths:
        tab = callbacks.tab(path, tally, typo_share=0.25, click_share=0.3)
        if tab.clicks:
            clickable.add(tab.view)
        _drive(callbacks, tab, 30, rng)
    report = tally.report()
    assert sorted(report) == sorted(callbacks.views)
    assert tally.problems(callbacks.views) == [], report
    assert {"regression", "binary", "multiclass"} <= clickable, clickable
    for view, row in report.items():
        assert row["typos"] and row["typos_with_charts"] == 0, report
        assert bool(row["clicks"]) == (view in clickable), report


def test_every_control_of_the_page_is_sent(callbacks):
    """The request carries every input the main callback declares, with the page's own values."""
    tab = callbacks.tab("/binary")
    body = json.loads(tab.change_body(next(iter(tab.controls))))
    sent = {entry["id"]: entry["value"] for entry in body["inputs"]}
    assert set(sent) == set(tab.controls)
    assert "binary-panels" in sent and sent["binary-panels"] is not None


def test_the_tally_catches_traffic_that_misses_the_charts(callbacks):
    """Drop one control's value, as the old hard-coded lists did with binary-panels: the check fails."""
    tally = ChartTally()
    tab = callbacks.tab("/binary", tally, route_share=0)
    rng = random.Random(6)
    original_change = tab.change_body

    def without_panels(cid, value=None):
        tab.values[("binary-panels", "value")] = None
        return original_change(cid, value)

    tab.change_body = without_panels
    _drive(callbacks, tab, 30, rng)
    problems = tally.problems(["binary"])
    # only the changes of the panels control itself carry a panels value
    assert problems and tally.share("binary") < 0.5, (problems, tally.report())


def test_the_traffic_reaches_every_registered_view():
    """The load, fault and stateless runs read the views from the page's navigation: menus included."""
    from losslab.dashboard import views

    from . import Callbacks

    assert Callbacks().views == list(views.names())
