"""Log axes (issue 16): a log loss axis and a symmetric-log gradient axis, kept in the URL."""

from __future__ import annotations

from .conftest import option_label


def test_log_scale_from_a_link_and_back_to_linear(lab):
    lab.open("/binary?scale=log&label=1&probability=0.999")
    assert lab.layout("binary-loss-graph", "yaxis.type") == "log"
    ticks = lab.layout("binary-grad-graph", "yaxis.ticktext")
    assert ticks and "0" in ticks
    option_label(lab, "binary-scale", "linear").click()
    lab.wait_until(lambda: lab.layout("binary-loss-graph", "yaxis.type") in (None, "linear", "-"), "a linear axis")
    lab.wait_until(lambda: "scale=linear" in lab.js("return window.location.search;"), "the URL to keep the choice")
    option_label(lab, "binary-scale", "log").click()
    lab.wait_until(lambda: lab.layout("binary-loss-graph", "yaxis.type") == "log", "the log axis again")
    assert lab.duo.get_logs() == []
