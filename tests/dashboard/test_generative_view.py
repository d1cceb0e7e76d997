"""The Generative models view (/generative): GAN losses against D's logit d or D = σ(d), the KL term on μ.

Expected values come from PyTorch in float64 (log-sigmoid, BCE with logits, relu, and autograd for
every gradient, including dL/dD on the probability axis and dL/dμ of the KL term), never from the
view or the registry under test.
"""

from __future__ import annotations

import base64
import itertools
import math
import re
from dataclasses import replace

import dash
import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from losslab import registry
from losslab.dashboard import callbacks, controls, export, views
from losslab.dashboard.views import generative
from losslab.dashboard.views.base import UpdatePlan, family

from . import typed_values

VIEW = views.get("generative")
DEFAULT = VIEW.default_state()
GAN = ("gan_discriminator", "gan_generator_minimax", "gan_generator_nonsaturating", "wgan_critic", "wgan_generator",
       "hinge_gan_discriminator")
SIGMOID_LINK = ("gan_discriminator", "gan_generator_minimax", "gan_generator_nonsaturating")
EVERY = (*GAN, "gaussian_kl")
F = torch.nn.functional


def decode(typed: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(typed["bdata"]), dtype="<f8")


def curves_of(figure: dict) -> dict[str, dict]:
    return {t["meta"]: t for t in figure["data"] if t.get("meta") not in (None, "marker")
            and not str(t["meta"]).startswith("fd:")}


def grid_of(trace: dict) -> np.ndarray:
    return trace["x0"] + trace["dx"] * np.arange(decode(trace["y"]).size, dtype=np.float64)


def state(axis="logit", losses=EVERY, **numbers):
    return replace(DEFAULT, numbers={**DEFAULT.numbers, **numbers}, losses=tuple(losses),
                   extras={**DEFAULT.extras, "axis": axis})


# ---- references (torch, float64) ---------------------------------------------------------------


def torch_raw(key: str, x, label: int, logvar: float = 0.0):
    """Loss and dL/dx of a loss at raw output x (D's logit d, the critic's score f, or μ), by autograd."""
    t = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    if key == "gan_discriminator":  # BCE with logits: softplus(-d) for a real sample, softplus(d) for a fake
        loss = F.softplus(-t if label == 1 else t, threshold=50)
    elif key == "gan_generator_minimax":
        loss = F.logsigmoid(-t)  # log(1 - sigmoid(d))
    elif key == "gan_generator_nonsaturating":
        loss = -F.logsigmoid(t)
    elif key == "wgan_critic":
        loss = -t if label == 1 else t
    elif key == "wgan_generator":
        loss = -t
    elif key == "hinge_gan_discriminator":
        loss = F.relu(1 - t) if label == 1 else F.relu(1 + t)
    elif key == "gaussian_kl":
        s = torch.tensor(logvar, dtype=torch.float64)
        loss = 0.5 * (torch.exp(s) - 1 - s + t**2)
    else:
        raise KeyError(key)
    loss.sum().backward()
    return loss.detach().numpy(), t.grad.numpy()


def torch_prob(key: str, p, label: int):
    """Loss and dL/dD of a sigmoid-link GAN loss as a function of D, by autograd."""
    t = torch.tensor(np.asarray(p, dtype=np.float64), requires_grad=True)
    if key == "gan_discriminator":
        loss = -torch.log(t) if label == 1 else -torch.log1p(-t)
    elif key == "gan_generator_minimax":
        loss = torch.log1p(-t)
    elif key == "gan_generator_nonsaturating":
        loss = -torch.log(t)
    else:
        raise KeyError(key)
    loss.sum().backward()
    return loss.detach().numpy(), t.grad.numpy()


def sigma(d: float) -> float:
    return float(torch.sigmoid(torch.tensor(d, dtype=torch.float64)))


# ---- what is offered ---------------------------------------------------------------------------


def test_offers_every_generative_loss_in_registry_order_and_defaults_to_the_two_generators():
    assert VIEW.loss_keys == EVERY
    assert VIEW.task == "generative"
    assert DEFAULT.losses == ("gan_generator_minimax", "gan_generator_nonsaturating")
    assert DEFAULT.axis == "logit" and DEFAULT.number("score") == -4.0 and DEFAULT.number("label") == 0
    assert [c.name for c in VIEW.numbers] == ["score", "label", "mu", "logvar"]
    assert "mu" in VIEW.motion_controls and "logvar" in VIEW.motion_controls


@pytest.mark.parametrize(("axis", "shown"), [("logit", GAN), ("prob", SIGMOID_LINK), ("mu", ("gaussian_kl",))])
def test_each_axis_draws_only_the_losses_of_its_variable_and_notes_the_rest(axis, shown):
    out = VIEW.build(state(axis))
    assert tuple(curves_of(out.loss_figure)) == shown
    assert tuple(curves_of(out.grad_figure)) == shown
    assert [row.key for row in out.readout.rows] == list(shown)
    note = out.extras["losses_note"]
    hidden = [registry.get(k).label for k in EVERY if k not in shown]
    assert note.startswith(", ".join(hidden) + (" is" if len(hidden) == 1 else " are") + " hidden on this axis: ")
    assert VIEW.build(state(axis, losses=shown)).extras["losses_note"] == ""


def test_axis_titles_say_which_variable_is_drawn():
    titles = {axis: VIEW.build(state(axis)).loss_figure["layout"]["xaxis"]["title"]["text"]
              for axis in ("logit", "prob", "mu")}
    assert "logit d" in titles["logit"] and "critic's score f" in titles["logit"]
    assert titles["prob"] == "D = σ(d)"
    assert "μ" in titles["mu"]
    grads = {axis: VIEW.build(state(axis)).grad_figure["layout"]["yaxis"]["title"]["text"]
             for axis in ("logit", "prob", "mu")}
    assert grads == {"logit": "dL/dd", "prob": "dL/dD", "mu": "dL/dμ"}


# ---- every plotted value is the core's (checked against torch) --------------------------------------


@pytest.mark.parametrize("label", [0, 1])
@pytest.mark.parametrize("score", [-4.0, 0.3, 9.5])
def test_logit_axis_curves_markers_and_readout_equal_torch(label, score):
    out = VIEW.build(state("logit", label=label, score=score))
    loss_curves, grad_curves = curves_of(out.loss_figure), curves_of(out.grad_figure)
    marker = {t: y for m in out.loss_figure["data"] if m.get("meta") == "marker" for t, y in zip(m["text"], m["y"], strict=True)}
    for key in GAN:
        x = grid_of(loss_curves[key])
        assert x[0] <= score <= x[-1]  # the grid widens to show the marker (9.5 is past the default ±8)
        loss, grad = torch_raw(key, x, label)
        assert_allclose(decode(loss_curves[key]["y"]), loss, rtol=1e-12, atol=1e-300, err_msg=key)
        assert_allclose(decode(grad_curves[key]["y"]), grad, rtol=1e-12, atol=1e-300, err_msg=key)
        row = next(r for r in out.readout.rows if r.key == key)
        at_loss, at_grad = torch_raw(key, score, label)
        assert row.loss == pytest.approx(float(at_loss), rel=1e-12, abs=1e-300)
        assert row.grad_prediction == pytest.approx(float(at_grad), rel=1e-12, abs=1e-300)
        assert marker[row.label] == row.loss
    assert out.readout.prediction_label == "d" and out.readout.prediction_value == score


@pytest.mark.parametrize("label", [0, 1])
@pytest.mark.parametrize("score", [-4.0, 1.2, 30.0])
def test_probability_axis_uses_the_probability_space_functions_and_reads_out_both_gradients(label, score):
    out = VIEW.build(state("prob", label=label, score=score))
    loss_curves, grad_curves = curves_of(out.loss_figure), curves_of(out.grad_figure)
    p = sigma(score)
    for key in SIGMOID_LINK:
        x = grid_of(loss_curves[key])
        assert 0 < x[0] and x[-1] < 1 and x[0] <= p <= x[-1]
        loss, grad = torch_prob(key, x, label)
        assert_allclose(decode(loss_curves[key]["y"]), loss, rtol=1e-11, atol=1e-300, err_msg=key)
        assert_allclose(decode(grad_curves[key]["y"]), grad, rtol=1e-11, atol=1e-300, err_msg=key)
        row = next(r for r in out.readout.rows if r.key == key)
        # at the marker's own D (σ(30) is 1 − 1e-13: torch's σ may differ by an ulp, i.e. 1e-3 in 1 − D)
        at_loss, at_grad = torch_prob(key, out.readout.prediction_value, label)
        _, at_grad_logit = torch_raw(key, score, label)
        assert row.loss == pytest.approx(float(at_loss), rel=1e-11)
        assert row.grad_prediction == pytest.approx(float(at_grad), rel=1e-11)
        assert row.grad_logit == pytest.approx(float(at_grad_logit), rel=1e-12, abs=1e-300)
    assert out.readout.prediction_label == "D" and out.readout.prediction_value == pytest.approx(p, rel=1e-15)
    assert out.readout.logit_grad_label == "dL/dd"
    marker_x = {x for m in out.loss_figure["data"] if m.get("meta") == "marker" for x in m["x"]}
    assert marker_x == {out.readout.prediction_value}


@pytest.mark.parametrize(("mu", "logvar"), [(1.5, 0.0), (-3.0, 2.5), (7.0, -4.0)])
def test_mu_axis_draws_the_kl_term_with_log_variance_as_its_parameter(mu, logvar):
    out = VIEW.build(state("mu", losses=("gaussian_kl",), mu=mu, logvar=logvar, score=123.0))
    loss, grad = (curves_of(f)["gaussian_kl"] for f in (out.loss_figure, out.grad_figure))
    x = grid_of(loss)
    assert x[0] <= mu <= x[-1]
    expected_loss, expected_grad = torch_raw("gaussian_kl", x, 0, logvar)
    assert_allclose(decode(loss["y"]), expected_loss, rtol=1e-12, atol=1e-15)
    assert_allclose(decode(grad["y"]), expected_grad, rtol=1e-12, atol=1e-300)
    row = out.readout.rows[0]
    at_loss, at_grad = torch_raw("gaussian_kl", mu, 0, logvar)
    assert row.loss == pytest.approx(float(at_loss), rel=1e-12)
    assert row.grad_prediction == pytest.approx(float(at_grad), rel=1e-12)
    assert out.readout.prediction_label == "μ" and out.readout.prediction_value == mu
    # d plays no part on the μ axis: the marker sits at μ whatever d is.
    assert {x for m in out.loss_figure["data"] if m.get("meta") == "marker" for x in m["x"]} == {mu}


# ---- the lesson line: true in every state ---------------------------------------------------------

SCORES = [-800.0, -40.0, -8.0, -4.0, -2.4, -2.3, -1.0, -1e-9, 0.0, 1e-9, 0.5, 3.0, 36.0, 40.0, 800.0]


def _numbers(text: str) -> list[float]:
    return [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?", text)]


@pytest.mark.parametrize(("axis", "score"), [("logit", d) for d in SCORES]
                         # the D axis cannot place a d whose σ(d) rounds to 0 or 1 (see the bad-input tests)
                         + [("prob", d) for d in SCORES if -745 < d < 37])
def test_generator_lesson_states_torchs_gradients_and_the_right_verdict(axis, score):
    lesson = VIEW.build(state(axis, losses=("gan_generator_minimax", "gan_generator_nonsaturating"),
                              score=score)).lesson
    _, minimax = torch_raw("gan_generator_minimax", score, 0)
    _, non_saturating = torch_raw("gan_generator_nonsaturating", score, 0)
    minimax, non_saturating = float(minimax) + 0.0, float(non_saturating) + 0.0
    assert f"−D(G(z)) is {minimax:.3g}," in lesson
    assert f"D(G(z)) − 1 is {non_saturating:.3g}." in lesson
    D = sigma(score)
    assert ("confidently rejects" in lesson) == (D < 0.1)
    assert ("fools the discriminator" in lesson) == (D > 0.5)
    # Mathematically |D − 1| / |−D| = e^(−d): the verdict follows it.
    if minimax == 0:
        assert "vanished entirely" in lesson
    elif D < 0.1:  # where the discriminator confidently rejects the fake: the saturation
        assert f"pushes {math.exp(-score):.3g}× harder" in lesson and "saturates" in lesson
    elif math.exp(-score) > 1.001:
        assert f"pushes {math.exp(-score):.3g}× harder" in lesson and "saturates" not in lesson
    elif math.exp(-score) >= 0.999:
        assert "about equal" in lesson
    elif non_saturating != 0:
        assert f"the minimax gradient is the larger ({math.exp(score):.3g}×)" in lesson
    else:
        assert "underflows to 0" in lesson
    assert f"At d = {score:g}" in lesson
    if axis == "prob":  # on the D axis, the lesson says where the saturation lives
        _, slope = torch_prob("gan_generator_minimax", D, 0)
        assert f"dL/dD = −1/(1 − D) is {float(slope):.3g}" in lesson


@pytest.mark.parametrize("losses", [("gan_discriminator",), ("wgan_critic", "hinge_gan_discriminator"),
                                    ("gan_generator_minimax", "wgan_generator"), ("gaussian_kl",)])
@pytest.mark.parametrize("label", [0, 1])
def test_lesson_without_both_generators_lists_the_shown_gradients_and_says_how_to_see_the_lesson(losses, label):
    out = VIEW.build(state("logit", losses=losses, label=label, score=-2.0))
    shown = [k for k in losses if k in GAN]
    if not shown:
        assert "No ticked loss lives on this axis" in out.lesson
        return
    for key in shown:
        _, grad = torch_raw(key, -2.0, label)
        row = next(r for r in out.readout.rows if r.key == key)
        assert f"{row.label} {float(grad) + 0.0:.3g}" in out.lesson
    assert "Tick both generator losses" in out.lesson
    if "gan_discriminator" in shown:
        assert f"D − y = {sigma(-2.0) - label:.3g} (y = {label})" in out.lesson


@pytest.mark.parametrize(("mu", "logvar"), list(itertools.product([-3.0, 0.0, 0.7, 250.0], [-4.0, 0.0, 1.0, 30.0])))
def test_vae_lesson_states_torchs_kl_its_mu_gradient_and_the_log_variance_floor(mu, logvar):
    lesson = VIEW.build(state("mu", losses=("gaussian_kl",), mu=mu, logvar=logvar)).lesson
    loss, grad = torch_raw("gaussian_kl", mu, 0, logvar)
    floor, _ = torch_raw("gaussian_kl", 0.0, 0, logvar)
    assert f"the KL term is {float(loss):.4g}" in lesson
    assert f"dL/dμ = μ = {float(grad) + 0.0:.4g}" in lesson
    assert f"= {float(floor):.4g}, the KL at μ = 0" in lesson
    assert VIEW.build(state("mu", losses=("gan_discriminator",), mu=mu)).lesson.endswith(
        "tick the VAE KL term, the only loss on the μ axis.")


# ---- URL, bad input, links -------------------------------------------------------------------------


@pytest.mark.parametrize("query", [
    "", "?axis=prob&score=2.5&label=1&losses=gan_discriminator,gan_generator_minimax",
    "?axis=mu&mu=-2&logvar=1.5&losses=gaussian_kl,wgan_critic&scale=log&check=on",
    "?losses=wgan_critic,wgan_generator,hinge_gan_discriminator&score=-0.25",
])
def test_state_round_trips_through_the_url(query):
    parsed = VIEW.parse_query(query)
    assert not parsed.notices
    assert VIEW.parse_query(VIEW.encode_query(parsed)) == parsed
    assert VIEW.parse_query(VIEW.build(parsed).query) == parsed


def raw_controls(state):
    return typed_values(VIEW, state)


@pytest.mark.parametrize(("name", "raw", "words"), [
    ("score", "1e9", "out of range"), ("score", "abc", "not a number"), ("mu", "", "the box is empty"),
    ("logvar", "80", "out of range"), ("label", "0.5", "not a whole number"), ("label", "2", "out of range"),
])
def test_a_bad_typed_value_gives_its_message_and_keeps_the_charts(name, raw, words):
    numbers, losses, extras = raw_controls(DEFAULT)
    numbers[name] = raw
    result = callbacks.update_view(VIEW, numbers, losses, VIEW.encode_query(DEFAULT), **extras)
    message = result[f"message:{name}"]
    assert message.startswith(VIEW.number(name).label) and words in message
    assert all(result[key] is dash.no_update for key in callbacks.chart_keys(VIEW))


@pytest.mark.parametrize("score", ["40", "-800"])
def test_a_d_the_probability_axis_cannot_place_gives_a_message_and_keeps_the_charts(score):
    numbers, losses, extras = raw_controls(DEFAULT)
    numbers["score"], extras["axis"] = score, "prob"
    result = callbacks.update_view(VIEW, numbers, losses, VIEW.encode_query(DEFAULT), **extras)
    assert "rounds to" in result["message:score"] and "logit axis" in result["message:score"]
    assert all(result[key] is dash.no_update for key in callbacks.chart_keys(VIEW))
    extras["axis"] = "logit"  # the same d on the logit axis is fine
    result = callbacks.update_view(VIEW, numbers, losses, VIEW.encode_query(DEFAULT), **extras)
    assert result["message:score"] == "" and result["loss_figure"] is not dash.no_update


def test_a_link_to_the_probability_axis_at_an_unplaceable_d_opens_on_the_logit_axis_with_a_notice():
    parsed = VIEW.parse_query("?axis=prob&score=50")
    assert parsed.axis == "logit" and parsed.number("score") == 50
    assert any("rounds to 1" in notice and "Showing the logit axis" in notice for notice in parsed.notices)
    assert VIEW.parse_query("?axis=prob&score=30").axis == "prob"


def test_good_input_redraws_with_no_message():
    numbers, losses, extras = raw_controls(DEFAULT)
    numbers["score"] = "-6"
    result = callbacks.update_view(VIEW, numbers, losses, VIEW.encode_query(DEFAULT), **extras)
    assert all(result[key] == "" for key in callbacks.message_keys(VIEW))
    assert "score=-6" in result["query"]
    assert "At d = -6" in result["lesson"]


# ---- plans, clicks, motion ---------------------------------------------------------------------------


def test_update_plans():
    assert VIEW.plan(None, DEFAULT).full
    assert VIEW.plan(DEFAULT, state("prob", losses=DEFAULT.losses)).full  # a new axis is a new chart
    moved = replace(DEFAULT, numbers={**DEFAULT.numbers, "score": -3.0})
    assert VIEW.plan(DEFAULT, moved) == UpdatePlan(full=False)  # only the marker moves
    on_mu = state("mu", losses=("gaussian_kl",))
    kl = VIEW.plan(on_mu, replace(on_mu, numbers={**on_mu.numbers, "logvar": 1.0}))
    assert not kl.full and "gaussian_kl" in kl.redraw
    far = replace(DEFAULT, numbers={**DEFAULT.numbers, "score": -20.0})
    assert VIEW.plan(DEFAULT, far).shift  # the grid widens to show d
    added = replace(DEFAULT, losses=(*DEFAULT.losses, "wgan_generator"))
    assert VIEW.plan(DEFAULT, added).replace_traces


def test_click_moves_d_on_the_d_and_probability_axes_and_nothing_on_the_mu_axis():
    click = {"points": [{"x": -2.34567}]}
    assert generative.score_from_click(click, "logit") == "-2.346"
    p = sigma(1.7)
    assert float(generative.score_from_click({"points": [{"x": p}]}, "prob")) == pytest.approx(1.7, rel=1e-2)
    assert generative.score_from_click({"points": [{"x": 1.0}]}, "prob") == controls.format_number(
        float(f"{math.log((1 - 1e-15) / 1e-15):.3g}"))  # a click at the end stays finite
    assert generative.score_from_click(click, "mu") is dash.no_update
    assert generative.score_from_click({"points": []}, "logit") is dash.no_update
    action = VIEW.click_action()
    assert action.target_id == VIEW.ids.input("score")


@pytest.mark.parametrize(("control", "axis"), [("logvar", "mu"), ("mu", "mu"), ("logvar", "logit")])
def test_sliders_have_precomputed_frames_equal_to_the_server_charts(control, axis):
    s = state(axis, losses=("gaussian_kl", "gan_generator_minimax"))
    frames = family(VIEW, s, control)
    assert "unsupported" not in frames
    positions = VIEW.number(control).family_positions()
    assert len(frames["values"]) == len(positions)
    index = len(positions) // 3
    value = frames["values"][index]
    server = VIEW.build(replace(s, numbers={**s.numbers, control: value}))
    for curve in frames["graphs"][VIEW.ids.LOSS_GRAPH]["curves"]:
        rows = np.frombuffer(base64.b64decode(curve["y"]["bdata"]), dtype="<f4").reshape(-1, curve["points"])
        drawn = decode(server.loss_figure["data"][curve["index"]]["y"])
        assert_allclose(rows[curve["row"][index]], drawn, rtol=1e-6)


# ---- gradient check, CSV and code, chooser ---------------------------------------------------------------


@pytest.mark.parametrize(("axis", "label"), [("logit", 0), ("logit", 1), ("prob", 0), ("prob", 1), ("mu", 0)])
def test_gradient_check_agrees_with_finite_differences_except_at_the_hinge_kink(axis, label):
    s = replace(state(axis, label=label), extras={**state(axis).extras, "check": "on"})
    out = VIEW.build(s)
    checks = out.grad_figure["layout"]["meta"]["gradient_check"]
    assert set(checks) == set(VIEW.plotted_losses(s))
    for key, misfit in checks.items():
        limit = 0.6 if key == "hinge_gan_discriminator" else 0.05 if axis == "prob" else 1e-6
        assert misfit < limit, (key, misfit)
    assert "Gradient check" in out.readout.note


@pytest.mark.parametrize("query", [
    "", "?axis=prob&label=1&losses=gan_discriminator,gan_generator_minimax,gan_generator_nonsaturating",
    "?axis=mu&mu=-2&logvar=1.5&losses=gaussian_kl", "?losses=" + ",".join(GAN) + "&label=1&score=12",
    "?axis=prob&scale=log&score=-9", "?check=on&losses=" + ",".join(GAN) + "&label=1",
    "?axis=prob&check=on&score=2", "?axis=mu&check=on&losses=gaussian_kl&logvar=-1",
])
def test_code_snippet_recomputes_the_csv(query):
    s = VIEW.parse_query(query)
    namespace: dict = {}
    exec(compile(VIEW.code_snippet(s), "<generative snippet>", "exec"), namespace)
    table = export.read_csv(VIEW.export_csv(s))
    np.testing.assert_array_equal(namespace["x"], table["x"])
    assert set(namespace["columns"]) == set(table) - {"x"}
    for column, values in namespace["columns"].items():
        assert_allclose(np.asarray(values, dtype=np.float64), table[column], rtol=1e-15, atol=0, err_msg=column)


def test_chooser_rows_open_presets_without_notices_where_the_losses_differ():
    assert {row[0] for row in VIEW.chooser_rows} == {"GAN generator", "GAN discriminator or critic",
                                                      "VAE latent regulariser"}
    for _task, _activation, _loss, query in VIEW.chooser_rows:
        s = VIEW.parse_query(query)
        assert not s.notices, query
        out = VIEW.build(s)
        drawn = [decode(t["y"]) for t in curves_of(out.loss_figure).values()]
        assert drawn and not out.extras["losses_note"], query
        for a, b in itertools.pairwise(drawn):
            assert not np.allclose(a, b, equal_nan=True), query
