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


def test_gradient_check_toggle_overlays_finite_differences(lab):
    lab.open("/regression")
    lab.duo.find_element(".chart-options summary").click()  # folded while every option is at its default
    option_label(lab, "regression-check", "on").click()
    lab.wait_until(lambda: any(str(m).startswith("fd:") for m in lab.metas("regression-grad-graph")),
                   "the finite-difference overlay")
    assert "Gradient check" in lab.text("regression-readout")
    assert "check=on" in lab.js("return window.location.search;")
    lab.type_into("regression-delta-input", "0.5")  # the overlay is redrawn with its loss
    def overlay_peak():
        values = [y for y in lab.trace("regression-grad-graph", "fd:huber")["y"] if y is not None and y == y]
        return max(values)  # the overlay's two end points are NaN (no central difference there)

    lab.wait_until(lambda: overlay_peak() < 0.51, "the overlay at δ = 0.5")
    assert lab.duo.get_logs() == []
