"""Generative models view: the generators' saturation lesson, the d / D / μ axis choice, a click, bad input."""

import math

from .conftest import assert_close, grid_x, option_label

LOSS, GRAD = "generative-loss-graph", "generative-grad-graph"
GRAPHS = (LOSS, GRAD)


def sigmoid(z):
    return 1 / (1 + math.exp(-z))


def softplus(z):
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


def console_errors(lab):
    """Every console error of the page (a full redraw no longer re-sends unchanged formulas to MathJax)."""
    return lab.duo.get_logs()


def test_lesson_axis_choice_and_a_click_on_the_gradient_chart(lab):
    lab.open("/generative")
    assert lab.curves(LOSS) == ["gan_generator_minimax", "gan_generator_nonsaturating"]
    minimax = lab.trace(GRAD, "gan_generator_minimax")
    assert_close(minimax["y"], [-sigmoid(d) for d in grid_x(minimax)], what="minimax dL/dd = -D")
    non_saturating = lab.trace(GRAD, "gan_generator_nonsaturating")
    assert_close(non_saturating["y"], [sigmoid(d) - 1 for d in grid_x(non_saturating)], what="non-saturating D - 1")
    loss = lab.trace(LOSS, "gan_generator_minimax")
    assert_close(loss["y"], [-softplus(d) for d in grid_x(loss)], what="log(1 - σ(d))")
    lesson = lab.text("generative-lesson")
    assert "At d = -4" in lesson and "confidently rejects" in lesson
    assert f"pushes {math.exp(4):.3g}× harder" in lesson and "BCE-like fix" in lesson

    # The D axis: the probability-space functions; a critic's loss is hidden there, with a note.
    option_label(lab, "generative-losses", "wgan_critic").click()
    lab.wait_until(lambda: "wgan_critic" in lab.curves(LOSS), "the WGAN critic on the logit axis")
    option_label(lab, "generative-axis", "prob").click()
    lab.wait_until(lambda: lab.layout(GRAD, "yaxis.title.text") == "dL/dD", "the dL/dD axis")
    assert lab.curves(LOSS) == ["gan_generator_minimax", "gan_generator_nonsaturating"]
    lab.wait_until(lambda: "WGAN critic is hidden" in (lab.text("generative-losses-message") or ""), "the note")
    slope = lab.trace(GRAD, "gan_generator_minimax")
    assert_close(slope["y"], [-1 / (1 - p) for p in grid_x(slope)], tol=1e-7, what="dL/dD = -1/(1 - D)")
    assert {round(x, 12) for x, _ in lab.marker_points(LOSS)} == {round(sigmoid(-4), 12)}

    # The μ axis: the KL term alone, at the μ slider's value.
    option_label(lab, "generative-losses", "gaussian_kl").click()
    option_label(lab, "generative-axis", "mu").click()
    lab.wait_until(lambda: lab.curves(LOSS) == ["gaussian_kl"], "the KL term alone on the μ axis")
    kl = lab.trace(GRAD, "gaussian_kl")
    assert_close(kl["y"], grid_x(kl), what="dKL/dμ = μ")
    assert {x for x, _ in lab.marker_points(LOSS)} == {1.5}
    assert "dL/dμ = μ = 1.5" in lab.text("generative-lesson")

    # Back on the d axis, a click on the gradient chart moves d, the markers and the lesson.
    option_label(lab, "generative-axis", "logit").click()
    lab.wait_until(lambda: lab.layout(GRAD, "yaxis.title.text") == "dL/dd", "back to the d axis")
    x, _ = lab.click_at(f"#{GRAD} .nsewdrag", 0.75, 0.5)
    aimed = lab.plot_x_at(GRAD, x)  # about 4 on the -8 .. 8 axis
    lab.wait_until(lambda: lab.value("generative-score-input") != "-4", "the d box to move")
    d = float(lab.value("generative-score-input"))
    assert abs(d - aimed) <= 16 / 300, (d, aimed)  # the nearest grid point (step 16/300), to 3 decimals
    lab.wait_until(lambda: {x for x, _ in lab.marker_points(GRAD)} == {d}, "the markers to move to d")
    lab.wait_until(lambda: f"At d = {d:g}" in lab.text("generative-lesson"), "the lesson at the new d")
    assert "fools the discriminator" in lab.text("generative-lesson")
    lab.wait_until(lambda: f"score={d:g}" in lab.driver.current_url, "the URL to carry d")
    assert console_errors(lab) == []


def test_a_bad_typed_value_shows_a_message_and_keeps_the_charts(lab):
    lab.open("/generative?axis=prob")
    before = lab.snapshot(*GRAPHS)
    lab.type_into("generative-score-input", "40")  # σ(40) rounds to 1: the D axis cannot place it
    lab.wait_until(lambda: "rounds to 1" in (lab.text("generative-score-message") or ""), "the D-axis message")
    assert lab.snapshot(*GRAPHS) == before
    lab.type_into("generative-score-input", "1e9")
    lab.wait_until(lambda: "out of range" in (lab.text("generative-score-message") or ""), "the range message")
    assert lab.snapshot(*GRAPHS) == before
    lab.type_into("generative-score-input", "2")
    lab.wait_until(lambda: lab.text("generative-score-message") == "", "the message to clear")
    lab.wait_until(lambda: lab.snapshot(*GRAPHS) != before, "the charts to follow d = 2")
    assert {round(x, 12) for x, _ in lab.marker_points(LOSS)} == {round(sigmoid(2), 12)}
    assert console_errors(lab) == []
