"""Counts view: Poisson NLL and MSLE on the count axis, the log-rate axis, the observed count, a click, bad input."""

import math

from .conftest import assert_close, grid_x, option_label

LOSS, GRAD = "counts-loss-graph", "counts-grad-graph"
GRAPHS = (LOSS, GRAD)


def console_errors(lab):
    """Every console error of the page (a full redraw no longer re-sends unchanged formulas to MathJax)."""
    return lab.duo.get_logs()


def poisson_gradient_is_for(lab, count) -> bool:
    trace = lab.trace(GRAD, "poisson_nll")
    return all(abs(g - (1 - count / lam)) <= 1e-9 * max(1, abs(g)) for lam, g in zip(grid_x(trace), trace["y"], strict=True))


def test_count_axis_observed_count_log_rate_axis_and_a_click(lab):
    lab.open("/counts")
    assert lab.curves(LOSS) == ["poisson_nll", "msle"]
    poisson = lab.trace(GRAD, "poisson_nll")
    assert_close(poisson["y"], [1 - 3 / lam for lam in grid_x(poisson)], what="dPoisson/dλ = 1 − y/λ")
    msle = lab.trace(LOSS, "msle")
    assert_close(msle["y"], [(math.log1p(lam) - math.log(4)) ** 2 for lam in grid_x(msle)], what="MSLE at y = 3")
    lesson = lab.text("counts-lesson")
    assert "λ − y is -2, prediction minus target" in lesson
    assert "under-prediction costs 2.92× as much" in lesson

    # The observed count redraws both losses and the lesson.
    lab.type_into("counts-count-input", "6")
    lab.wait_until(lambda: "y = 6" in lab.text("counts-lesson"), "the lesson for y = 6")
    lab.wait_until(lambda: poisson_gradient_is_for(lab, 6), "the Poisson gradient for y = 6")
    msle = lab.trace(LOSS, "msle")
    assert_close(msle["y"], [(math.log1p(lam) - math.log(7)) ** 2 for lam in grid_x(msle)], what="MSLE at y = 6")
    lab.wait_until(lambda: "count=6" in lab.driver.current_url, "the URL to carry y = 6")

    # The log-rate axis: the Poisson loss's own variable, its gradient e^x − y; MSLE is hidden with a note.
    option_label(lab, "counts-axis", "log_rate").click()
    lab.wait_until(lambda: lab.curves(LOSS) == ["poisson_nll"], "the Poisson NLL alone")
    lab.wait_until(lambda: "MSLE is hidden" in (lab.text("counts-losses-message") or ""), "the note on MSLE")
    poisson = lab.trace(GRAD, "poisson_nll")
    assert_close(poisson["y"], [math.exp(x) - 6 for x in grid_x(poisson)], what="dPoisson/dx = e^x − y")
    assert lab.layout(LOSS, "xaxis.title.text") == "predicted log-rate x = log λ"

    # A click at x sets λ = e^x (3 significant digits), the markers and the readout follow.
    x, _ = lab.click_at(f"#{GRAD} .nsewdrag", 0.7, 0.5)
    aimed = lab.plot_x_at(GRAD, x)
    lab.wait_until(lambda: lab.value("counts-rate-input") != "1", "the λ box to move")
    rate = float(lab.value("counts-rate-input"))
    assert abs(math.log(rate) - aimed) < 0.05, (rate, aimed)
    lab.wait_until(lambda: all(abs(mx - math.log(rate)) < 1e-12 for mx, _ in lab.marker_points(GRAD)),
                   "the marker at log λ")
    lab.wait_until(lambda: lab.text("counts-readout").startswith(f"At log λ = {math.log(rate):.6g}"), "the readout")
    assert console_errors(lab) == []


def test_a_bad_typed_value_shows_a_message_and_keeps_the_charts(lab):
    lab.open("/counts")
    before = lab.snapshot(*GRAPHS)
    lab.type_into("counts-rate-input", "0")
    lab.wait_until(lambda: "out of range" in (lab.text("counts-rate-message") or ""), "the λ message")
    assert lab.text("counts-rate-message").startswith("Predicted count λ")
    assert lab.snapshot(*GRAPHS) == before
    lab.type_into("counts-count-input", "2.5")
    lab.wait_until(lambda: "not a whole number" in (lab.text("counts-count-message") or ""), "the y message")
    assert lab.snapshot(*GRAPHS) == before
    lab.type_into("counts-rate-input", "8")
    lab.type_into("counts-count-input", "2")
    lab.wait_until(lambda: lab.text("counts-rate-message") == "" and lab.text("counts-count-message") == "",
                   "the messages to clear")
    lab.wait_until(lambda: {x for x, _ in lab.marker_points(LOSS)} == {8.0}, "the markers at λ = 8")
    lab.wait_until(lambda: "over-prediction by 6 costs" in lab.text("counts-lesson"), "the lesson at λ = 8, y = 2")
    assert console_errors(lab) == []
