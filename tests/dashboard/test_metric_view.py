"""The Metric learning view (/metric): losses on their own axes, values, lessons, URL, plans and bad input.

Expected values come from closed forms (contrastive y d²/2 + (1 − y) max(0, m − d)²/2, the triplet hinge,
cosine embedding y (1 − cos θ) + (1 − y) max(0, cos θ − m), InfoNCE log(1 + 15 e^((s⁻ − s⁺)/τ))) and from
PyTorch with autograd (triplet margin loss and InfoNCE as a cross-entropy), never from the view's code.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import replace

import dash
import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit

from losslab import registry
from losslab.dashboard import callbacks, export
from losslab.dashboard import views as views_package
from losslab.dashboard.figures import decoded
from losslab.dashboard.views import base

VIEW = views_package.get("metric")
DEFAULT = VIEW.default_state()
NEGATIVES = 15


def state_with(losses=None, axis=None, **numbers):
    extras = DEFAULT.extras if axis is None else {**DEFAULT.extras, "axis": axis}
    return replace(DEFAULT, numbers={**DEFAULT.numbers, **numbers}, losses=losses or DEFAULT.losses, extras=extras)


def curve(figure: dict, meta: str) -> tuple[np.ndarray, np.ndarray]:
    [trace] = [t for t in figure["data"] if t.get("meta") == meta]
    y = decoded(trace["y"])
    return trace["x0"] + trace["dx"] * np.arange(y.size), y


def rows_of(output) -> dict:
    return {row.key: row for row in output.readout.rows}


# ---- closed forms and references -----------------------------------------------------------


def contrastive(d, y, m):
    d = np.asarray(d, dtype=float)
    short = np.maximum(m - d, 0)
    return y * d * d / 2 + (1 - y) * short * short / 2, y * d - (1 - y) * short


def triplet_torch(d, m, positive):
    """PyTorch's triplet loss with the points in 2-D (anchor at 0, positive on x, negative on y): no
    reshaping shared with the view; dL/dd by autograd."""
    d = torch.tensor(np.asarray(d, dtype=float), requires_grad=True)
    zeros = torch.zeros_like(d)
    anchor = torch.stack([zeros, zeros], -1)
    pos = torch.stack([torch.full_like(d, positive), zeros], -1)
    neg = torch.stack([zeros, d], -1)
    loss = torch.nn.functional.triplet_margin_loss(anchor, pos, neg, margin=m, eps=0.0, reduction="none")
    (grad,) = torch.autograd.grad(loss.sum(), d)
    return loss.detach().numpy(), grad.numpy()


def cosine(theta, y, m):
    theta = np.asarray(theta, dtype=float)
    c, s = np.cos(theta), np.sin(theta)
    loss = y * (1 - c) + (1 - y) * np.maximum(c - m, 0)
    return loss, y * s - (1 - y) * (c > m) * s


def info_nce(s, tau, negative):
    z = math.log(NEGATIVES) + (negative - np.asarray(s, dtype=float)) / tau
    return np.logaddexp(0, z), -expit(z) / tau


def info_nce_torch(s, tau, negative):
    s = torch.tensor(np.asarray(s, dtype=float), requires_grad=True)
    logits = torch.cat([s[:, None], torch.full((s.numel(), NEGATIVES), negative, dtype=s.dtype)], 1) / tau
    loss = torch.nn.functional.cross_entropy(logits, torch.zeros(s.numel(), dtype=torch.long), reduction="none")
    (grad,) = torch.autograd.grad(loss.sum(), s)
    return loss.detach().numpy(), grad.numpy()


# ---- axes: each loss against its own variable ------------------------------------------------


def test_each_axis_draws_only_its_losses_and_notes_the_others():
    every = ("contrastive", "triplet_margin", "cosine_embedding", "info_nce")
    expected = {"distance": ["contrastive", "triplet_margin"], "angle": ["cosine_embedding"],
                "similarity": ["info_nce"]}
    for axis, keys in expected.items():
        out = VIEW.build(state_with(losses=every, axis=axis))
        assert [t["meta"] for t in out.loss_figure["data"] if t.get("meta") != "marker"] == keys
        assert [row.key for row in out.readout.rows] == keys
        hidden = [registry.get(k).label for k in every if k not in keys]
        assert all(label in out.losses_note for label in hidden), out.losses_note
        assert not any(registry.get(k).label + " against" in out.losses_note for k in keys)
    titles = {axis: VIEW.build(state_with(losses=every, axis=axis)).loss_figure["layout"]["xaxis"]["title"]["text"]
              for axis in expected}
    assert titles["distance"].startswith("distance") and titles["angle"].startswith("angle")
    assert titles["similarity"].startswith("similarity")


def test_an_axis_without_a_ticked_loss_says_what_to_tick():
    out = VIEW.build(state_with(axis="angle"))  # contrastive and triplet ticked
    assert [t for t in out.loss_figure["data"] if t.get("meta") != "marker"] == []
    assert "tick Cosine embedding" in out.lesson
    assert "Contrastive against the distance" in out.losses_note


def test_axis_ranges():
    angle = VIEW.grid(state_with(axis="angle", x=1.0))
    assert angle.start == 0 and angle.start + angle.step * (angle.count - 1) == pytest.approx(math.pi, rel=1e-15)
    sim = VIEW.grid(state_with(axis="similarity", x=1.0))
    assert (sim.start, sim.start + sim.step * (sim.count - 1)) == (-1.0, pytest.approx(1.0, rel=1e-15))
    # the distance axis shows the triplet's kink d(a, p) + m with room, in steps of 4 * 2^k
    # (from just right of 0: at d = 0 the core's gradient is the subgradient 0, a false jump on a curve)
    for margin, positive, high in [(1, 1, 4), (2.5, 1, 8), (5, 5, 16), (100, 100, 256)]:
        grid = VIEW.grid(state_with(margin=margin, positive_distance=positive, x=0.5))
        assert 0 < grid.start < 0.01 * high and grid.start + grid.step * (grid.count - 1) == pytest.approx(high)
    far = VIEW.grid(state_with(x=100.0))
    assert far.start + far.step * (far.count - 1) > 100


# ---- every value is the core's, and matches closed forms and PyTorch -------------------------


@pytest.mark.parametrize("label", [0, 1])
@pytest.mark.parametrize(("margin", "positive"), [(1.0, 1.0), (0.3, 2.2), (4.0, 0.0)])
def test_distance_curves_are_the_core_and_match_closed_forms_and_torch(label, margin, positive):
    state = state_with(label=label, margin=margin, positive_distance=positive, x=0.7)
    out = VIEW.build(state)
    x, loss = curve(out.loss_figure, "contrastive")
    _, grad = curve(out.grad_figure, "contrastive")
    spec = registry.get("contrastive")
    assert_array_equal(loss, spec.loss(x, label, margin=margin))  # the registry's function, bit for bit
    assert_array_equal(grad, spec.grad(x, label, margin=margin))
    want_loss, want_grad = contrastive(x, label, margin)
    assert_allclose(loss, want_loss, rtol=1e-13, atol=1e-300)
    assert_allclose(grad, want_grad, rtol=1e-13, atol=1e-300)
    at_zero = rows_of(VIEW.build(replace(state, numbers={**state.numbers, "x": 0.0})))
    assert at_zero["contrastive"].grad_prediction == 0  # d = 0: the core's subgradient (no direction to push)
    assert at_zero["contrastive"].loss == (1 - label) * margin * margin / 2

    x, loss = curve(out.loss_figure, "triplet_margin")
    _, grad = curve(out.grad_figure, "triplet_margin")
    want_loss, want_grad = triplet_torch(x, margin, positive)
    assert_allclose(loss, want_loss, rtol=1e-13, atol=1e-14)
    kink = np.abs(x - (margin + positive)) < 1e-9
    assert_allclose(grad[~kink], want_grad[~kink], rtol=0, atol=0)  # exactly -1 or 0
    rows = rows_of(out)
    assert rows["contrastive"].loss == pytest.approx(float(contrastive(0.7, label, margin)[0]), rel=1e-14)
    assert rows["triplet_margin"].grad_prediction == float(triplet_torch([0.7], margin, positive)[1][0])


@pytest.mark.parametrize("label", [0, 1])
@pytest.mark.parametrize("margin", [-0.5, 0.0, 0.3])
def test_angle_curve_is_the_core_and_matches_the_closed_form(label, margin):
    state = state_with(losses=("cosine_embedding",), axis="angle", label=label, cosine_margin=margin, x=1.0)
    out = VIEW.build(state)
    x, loss = curve(out.loss_figure, "cosine_embedding")
    _, grad = curve(out.grad_figure, "cosine_embedding")
    spec = registry.get("cosine_embedding")
    assert_array_equal(loss, spec.loss(x, label, cosine_margin=margin))
    assert_array_equal(grad, spec.grad(x, label, cosine_margin=margin))
    want_loss, want_grad = cosine(x, label, margin)
    assert_allclose(loss, want_loss, rtol=1e-12, atol=1e-15)
    assert_allclose(grad, want_grad, rtol=1e-12, atol=1e-15)
    assert rows_of(out)["cosine_embedding"].grad_prediction == pytest.approx(
        float(cosine(1.0, label, margin)[1]), rel=1e-13)


@pytest.mark.parametrize(("tau", "negative"), [(0.1, 0.0), (0.05, 0.6), (1.0, -1.0), (0.01, 0.9)])
def test_similarity_curve_is_the_core_and_matches_torch(tau, negative):
    state = state_with(losses=("info_nce",), axis="similarity", temperature=tau, negative_similarity=negative,
                       x=0.25)
    out = VIEW.build(state)
    x, loss = curve(out.loss_figure, "info_nce")
    _, grad = curve(out.grad_figure, "info_nce")
    spec = registry.get("info_nce")
    assert_array_equal(loss, spec.loss(x, 0, temperature=tau, negative_similarity=negative))
    assert_array_equal(grad, spec.grad(x, 0, temperature=tau, negative_similarity=negative))
    want_loss, want_grad = info_nce_torch(x, tau, negative)
    assert_allclose(loss, want_loss, rtol=1e-12, atol=1e-15)
    assert_allclose(grad, want_grad, rtol=1e-12, atol=1e-15)
    closed_loss, closed_grad = info_nce(x, tau, negative)
    assert_allclose(loss, closed_loss, rtol=1e-12, atol=1e-15)
    assert_allclose(grad, closed_grad, rtol=1e-12, atol=1e-15)


def test_temperature_focuses_the_gradient_near_the_negatives():
    """The lesson's claim: at small τ InfoNCE's gradient lives within a few τ of the negatives' similarity."""
    def grad_at(s, tau):
        out = VIEW.build(state_with(losses=("info_nce",), axis="similarity", temperature=tau, x=s))
        return rows_of(out)["info_nce"].grad_prediction * tau  # −(1 − p): the weight left on the negatives

    assert abs(grad_at(0.5, 0.05)) < 1e-3 < abs(grad_at(0.5, 0.5))  # a lead of 10 τ: the negatives barely count
    assert abs(grad_at(0.05, 0.05)) > 0.5


# ---- the lesson line is true for every state ---------------------------------------------------


def _number_after(text: str, prefix: str) -> float:
    match = re.search(re.escape(prefix) + r"\s*(-?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)", text)
    assert match, (prefix, text)
    return float(match.group(1))


DISTANCES = [0.0, 0.3, 0.5, 1.0, 1.5, 2.0, 2.7, 100.0]


@pytest.mark.parametrize(("label", "margin", "positive"),
                         itertools.product([0, 1], [0.01, 0.5, 1.0, 2.5], [0.0, 1.0, 1.5]))
def test_distance_lesson_is_true(label, margin, positive):
    for d in DISTANCES:
        out = VIEW.build(state_with(label=label, margin=margin, positive_distance=positive, x=d))
        lesson, rows = out.lesson, rows_of(out)
        loss, grad = (float(v) for v in contrastive(d, label, margin))
        if label == 1 and d > 0:
            assert "pulled in at every distance" in lesson and grad > 0
            assert _number_after(lesson, "dL/dd = d =") == pytest.approx(d, rel=5e-3)
        elif label == 1:
            assert "similar pair at d = 0" in lesson and rows["contrastive"].loss == 0
        elif d >= margin:
            assert "past the margin it costs nothing" in lesson and loss == 0
            assert rows["contrastive"].loss == 0 and rows["contrastive"].grad_prediction == 0
        elif d == 0:
            assert "subgradient 0" in lesson and rows["contrastive"].grad_prediction == 0
        else:
            assert "pushed apart" in lesson and grad < 0
            assert _number_after(lesson, "−(m − d) =") == pytest.approx(grad, rel=5e-3)
        t_loss, t_grad = (float(v[0]) for v in triplet_torch([d], margin, positive))
        if d >= positive + margin:
            # at the kink itself PyTorch takes the other one-sided derivative, -1; the core's 0 is also a subgradient
            assert "the triplet is satisfied" in lesson and t_loss == 0 and t_grad in ((0, -1) if d == positive + margin
                                                                                   else (0,))
            assert rows["triplet_margin"].loss == 0 and rows["triplet_margin"].grad_prediction == 0
        elif d == 0:
            assert "sits on the anchor" in lesson and rows["triplet_margin"].grad_prediction == 0
        else:
            assert "violated by" in lesson and t_grad == -1
            assert _number_after(lesson, "violated by") == pytest.approx(margin + positive - d, rel=5e-3)


@pytest.mark.parametrize(("label", "margin"), itertools.product([0, 1], [-1.0, -0.5, 0.0, 0.5, 0.99]))
def test_angle_lesson_is_true(label, margin):
    for theta in [0.0, 0.3, 1.0, math.pi / 2, 2.0, 3.0, math.pi]:
        out = VIEW.build(state_with(losses=("cosine_embedding",), axis="angle", label=label, cosine_margin=margin,
                                    x=theta))
        lesson = out.lesson
        loss, grad = (float(v) for v in cosine(theta, label, margin))
        if label == 1 and theta == 0:
            assert "aligned" in lesson and loss == 0 and grad == 0
        elif label == 1:
            assert "pulled towards θ = 0" in lesson and grad >= 0
            assert _number_after(lesson, "sin θ =") == pytest.approx(grad, rel=5e-3)
        elif math.cos(theta) <= margin:
            assert "past the margin" in lesson and loss == 0
        elif theta == 0:
            assert "flat here" in lesson and grad == 0 and loss > 0
        else:
            assert "pushed apart" in lesson and grad < 0
            assert _number_after(lesson, "−sin θ =") == pytest.approx(grad, rel=5e-3)


@pytest.mark.parametrize(("tau", "negative"), itertools.product([0.001, 0.1, 1.0, 100.0], [-1.0, 0.0, 0.9]))
def test_similarity_lesson_is_true(tau, negative):
    for s in [-1.0, 0.0, 0.5, 0.9, 1.0]:
        out = VIEW.build(state_with(losses=("info_nce",), axis="similarity", temperature=tau,
                                    negative_similarity=negative, x=s))
        lesson = out.lesson
        lead = (s - negative) / tau
        assert _number_after(lesson, "(s⁺ − s⁻)/τ =") == pytest.approx(lead, rel=5e-3, abs=1e-12)
        _, grad = info_nce([s], tau, negative)
        assert _number_after(lesson, "−(1 − p)/τ =") == pytest.approx(float(grad[0]), rel=5e-3)
        p_text = re.search(r"softmax probability p is (.*?) and", lesson).group(1)
        rest = -math.expm1(-math.log1p(NEGATIVES * math.exp(-lead))) if lead > -700 else 1.0  # 1 − p
        if p_text.startswith("1 − "):
            value = p_text.removeprefix("1 − ")
            assert rest < 1e-3
            assert (value == "(below 1e-300)" and rest < 1e-300) or float(value) == pytest.approx(rest, rel=5e-3)
        elif p_text == "below 1e-300":
            assert lead < -690
        else:
            assert float(p_text) == pytest.approx(1 - rest, rel=5e-3)
        assert "small τ makes only the negatives close to the positive" in lesson


# ---- URL, plans, bad input ---------------------------------------------------------------------


@pytest.mark.parametrize("query", [
    "?axis=angle&losses=cosine_embedding&label=1&x=2&cosine_margin=0.25",
    "?axis=similarity&losses=info_nce,contrastive&x=-0.5&temperature=0.02&negative_similarity=0.3",
    "?axis=distance&losses=triplet_margin&x=7.5&margin=3&positive_distance=2",
])
def test_state_round_trips_through_the_url(query):
    state = VIEW.parse_query(query)
    assert not state.notices
    assert VIEW.parse_query(VIEW.encode_query(state)) == state
    assert VIEW.parse_query(VIEW.build(state).query) == state


def test_a_link_with_x_off_its_axis_gets_a_notice_and_x_on_the_axis():
    state = VIEW.parse_query("?axis=similarity&losses=info_nce&x=3")
    assert state.number("x") == 0.5
    assert any("3 is not a cosine similarity" in n for n in state.notices)
    assert not VIEW.parse_query("?axis=angle&x=3.14").notices


def raw(state, **changes):
    numbers = {c.name: str(state.numbers[c.name]) for c in VIEW.numbers} | changes
    extras = {c.name: state.extras[c.name] for c in VIEW.extras}
    return numbers, list(state.losses), extras


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("x", "5", "not a cosine similarity"),
    ("x", "-0.2", "not a cosine similarity"),  # typed on the distance axis below
    ("margin", "1e6", "out of range"),
    ("margin", "0", "out of range"),
    ("temperature", "0", "out of range"),
    ("temperature", "1e9", "out of range"),
    ("positive_distance", "-1", "out of range"),
    ("x", "abc", "not a number"),
])
def test_bad_input_gets_a_message_and_keeps_the_charts(name, text, expected):
    axis = "distance" if text == "-0.2" else "similarity"
    state = state_with(losses=("info_nce", "contrastive"), axis=axis)
    numbers, losses, extras = raw(state, **{name: text})
    result = callbacks.update_view(VIEW, numbers, losses, VIEW.encode_query(state), **extras)
    message = result[f"message:{name}"]
    label = VIEW.number(name).label
    assert message.startswith(label)
    assert (expected if text != "-0.2" else "not a distance") in message
    assert all(result[key] is dash.no_update for key in callbacks.chart_keys(VIEW))


def test_a_new_axis_moves_an_x_that_is_not_on_it():
    state = state_with(x=3.0)
    numbers, losses, extras = raw(state)
    extras["axis"] = "similarity"
    result = callbacks.update_view(VIEW, numbers, [*losses, "info_nce"], VIEW.encode_query(state),
                                   frozenset({"axis"}), **extras)
    assert result["value:x"] == "0.5"
    assert "moved to 0.5" in result["message:x"]
    assert result["loss_figure"]["data"][0]["meta"] == "info_nce"
    kept = callbacks.update_view(VIEW, raw(state, x="0.25")[0], losses, None, frozenset({"axis"}),
                                 **{**extras, "axis": "angle"})
    assert kept["value:x"] is dash.no_update and kept["message:x"] == ""


def test_hidden_losses_note_reaches_the_checklist_message():
    numbers, _, extras = raw(DEFAULT)
    result = callbacks.update_view(VIEW, numbers, ["contrastive", "info_nce"], None, **extras)
    assert "InfoNCE against the similarity" in result["message:losses"]


def test_plans():
    moved = state_with(x=0.8)
    assert VIEW.plan(DEFAULT, moved) == base.UpdatePlan(full=False)
    plan = VIEW.plan(DEFAULT, state_with(margin=1.2))
    assert not plan.full and plan.redraw == {"contrastive", "triplet_margin"} and not plan.shift
    assert VIEW.plan(DEFAULT, state_with(margin=4.0)).shift  # the axis grows to show d(a, p) + m
    assert VIEW.plan(DEFAULT, state_with(label=1)).redraw == {"contrastive", "triplet_margin"}
    assert VIEW.plan(DEFAULT, state_with(axis="angle")).full
    # ticking a loss of another axis draws nothing new; unticking one drawn replaces the traces
    assert VIEW.plan(DEFAULT, state_with(losses=("contrastive", "triplet_margin", "info_nce"))) == base.UpdatePlan(
        full=False)
    assert VIEW.plan(DEFAULT, state_with(losses=("contrastive", "info_nce"))).replace_traces


def test_slider_motion_frames_are_the_built_charts():
    for name in VIEW.motion_controls:
        family = base.family(VIEW, DEFAULT, name)
        assert "unsupported" not in family, (name, family)
    family = base.family(VIEW, DEFAULT, "margin")
    index = family["values"].index(2.0)
    out = VIEW.build(state_with(margin=2.0))
    graph = family["graphs"][VIEW.ids.LOSS_GRAPH]
    traces = {t["index"]: t for t in graph["curves"]}
    for index_in_figure, trace in enumerate(out.loss_figure["data"]):
        if trace.get("meta") == "marker" or index_in_figure not in traces:
            continue
        frame = traces[index_in_figure]
        rows = decoded(frame["y"]).reshape(-1, frame["points"])
        assert_allclose(rows[frame["row"][index]], decoded(trace["y"]), rtol=1e-6)


# ---- chooser rows, CSV and code ----------------------------------------------------------------


def test_chooser_rows_open_a_state_that_draws_their_losses():
    assert len(VIEW.chooser_rows) >= 2
    for _task, _activation, _loss, query in VIEW.chooser_rows:
        state = VIEW.parse_query(query)
        assert not state.notices, (query, state.notices)
        out = VIEW.build(state)
        drawn = [t["meta"] for t in out.loss_figure["data"] if t.get("meta") != "marker"]
        assert drawn == list(state.losses) and out.losses_note == ""
        ys = [decoded(t["y"]) for t in out.loss_figure["data"] if t.get("meta") != "marker"]
        for a, b in itertools.pairwise(ys):
            assert not np.allclose(a, b)


@pytest.mark.parametrize("query", [
    "", "?label=1&margin=2.5&positive_distance=0.5&x=3",
    "?axis=angle&losses=cosine_embedding&cosine_margin=0.2",
    "?axis=similarity&losses=info_nce&temperature=0.05&negative_similarity=0.4",
    "?check=on&axis=angle&losses=cosine_embedding&label=1", "?check=on&margin=3&x=9",
])
def test_code_snippet_recomputes_the_csv(query):
    state = VIEW.parse_query(query)
    namespace: dict = {}
    exec(compile(VIEW.code_snippet(state), "<metric snippet>", "exec"), namespace)
    table = export.read_csv(VIEW.export_csv(state))
    np.testing.assert_array_equal(namespace["x"], table["x"])
    assert set(namespace["columns"]) == set(table) - {"x"}
    for column, values in namespace["columns"].items():
        np.testing.assert_allclose(np.asarray(values, dtype=np.float64), table[column], rtol=1e-15, atol=0,
                                   err_msg=column)


def test_gradient_check_passes_away_from_kinks():
    out = VIEW.build(VIEW.parse_query("?axis=similarity&losses=info_nce&check=on"))
    assert out.grad_figure["layout"]["meta"]["gradient_check"]["info_nce"] < 1e-5
    out = VIEW.build(VIEW.parse_query("?axis=angle&losses=cosine_embedding&label=1&check=on"))
    assert out.grad_figure["layout"]["meta"]["gradient_check"]["cosine_embedding"] < 1e-5


def test_a_click_off_the_chosen_axis_lands_on_its_nearest_valid_x():
    from losslab.dashboard.views.metric import x_from_click

    def click(x):
        return {"points": [{"x": x}]}

    assert x_from_click(click(4.326), "angle") == "3.142"  # a distance-sized x on the angle axis: θ = π
    assert x_from_click(click(-0.3), "angle") == "0"
    assert x_from_click(click(1.7), "similarity") == "1"
    assert x_from_click(click(2.5), "distance") == "2.5"
