"""The Ranking view (/ranking): the pairwise losses and ListNet on one row, values, lessons, URL and bad input.

Expected values come from PyTorch (``margin_ranking_loss``, ``logsigmoid``, and ListNet as the
cross-entropy of softmax(relevance) against log_softmax(scores) on the list (s₁, 0, 0), with autograd
for every gradient), never from the view's code.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import replace

import dash
import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal

from losslab import ranking, registry
from losslab.dashboard import callbacks, export
from losslab.dashboard import views as views_package
from losslab.dashboard.figures import decoded
from losslab.dashboard.views import base

VIEW = views_package.get("ranking")
DEFAULT = VIEW.default_state()
EVERY = ("margin_ranking", "bpr", "listnet")


def state_with(losses=None, **numbers):
    return replace(DEFAULT, numbers={**DEFAULT.numbers, **numbers}, losses=losses or DEFAULT.losses)


def curve(figure: dict, meta: str) -> tuple[np.ndarray, np.ndarray]:
    [trace] = [t for t in figure["data"] if t.get("meta") == meta]
    y = decoded(trace["y"])
    return trace["x0"] + trace["dx"] * np.arange(y.size), y


def rows_of(output) -> dict:
    return {row.key: row for row in output.readout.rows}


def torch_losses(x, margin):
    """Margin ranking, BPR and ListNet (list (x, 0, 0), relevance (1, 0, 0)) and d/dx, by PyTorch."""
    x = torch.tensor(np.asarray(x, dtype=float), requires_grad=True)
    zero = torch.zeros_like(x)
    hinge = torch.nn.functional.margin_ranking_loss(x, zero, torch.ones_like(x), margin=margin, reduction="none")
    bpr = -torch.nn.functional.logsigmoid(x)
    scores = torch.stack([x, zero, zero], -1)
    target = torch.softmax(torch.tensor([1.0, 0.0, 0.0], dtype=x.dtype), 0)
    listnet = -(target * torch.log_softmax(scores, -1)).sum(-1)
    out = {}
    for key, loss in (("margin_ranking", hinge), ("bpr", bpr), ("listnet", listnet)):
        (grad,) = torch.autograd.grad(loss.sum(), x, retain_graph=True)
        out[key] = (loss.detach().numpy(), grad.numpy())
    return out


@pytest.mark.parametrize("margin", [1.0, 0.0, 2.5, -0.7, 15.0])
def test_every_curve_is_the_core_and_matches_torch(margin):
    out = VIEW.build(state_with(losses=EVERY, margin=margin, margin_score=0.3))
    x, _ = curve(out.loss_figure, "bpr")
    expected = torch_losses(x, margin)
    for key in EVERY:
        xs, loss = curve(out.loss_figure, key)
        _, grad = curve(out.grad_figure, key)
        assert_array_equal(xs, x)
        want_loss, want_grad = expected[key]
        assert_allclose(loss, want_loss, rtol=1e-13, atol=1e-15, err_msg=key)
        kink = np.abs(x - margin) < 1e-9 if key == "margin_ranking" else np.zeros(x.size, bool)
        assert_allclose(grad[~kink], want_grad[~kink], rtol=1e-13, atol=1e-15, err_msg=key)
    # bit for bit the registry's functions: pairs with target 1, ListNet on the rows (x, 0, 0)
    spec = registry.get("margin_ranking")
    assert_array_equal(curve(out.loss_figure, "margin_ranking")[1], spec.loss(x, 1.0, margin=margin))
    rows = np.stack([x, np.zeros_like(x), np.zeros_like(x)], axis=-1)
    assert_array_equal(curve(out.loss_figure, "listnet")[1], ranking.listnet(rows, [1.0, 0.0, 0.0], reduction="none"))
    assert_array_equal(curve(out.grad_figure, "listnet")[1], ranking.listnet_grad(rows, [1.0, 0.0, 0.0])[:, 0])
    point = torch_losses([0.3], margin)
    for key, row in rows_of(out).items():
        assert row.loss == pytest.approx(float(point[key][0][0]), rel=1e-13, abs=1e-15)
        assert row.grad_prediction == pytest.approx(float(point[key][1][0]), rel=1e-13, abs=1e-15)


def test_listnet_has_its_minimum_at_the_relevance_gap_and_the_pairwise_losses_none():
    out = VIEW.build(state_with(losses=EVERY, margin_score=1.0))
    x, listnet = curve(out.loss_figure, "listnet")
    assert x[np.argmin(listnet)] == pytest.approx(1.0, abs=x[1] - x[0])
    assert rows_of(out)["listnet"].grad_prediction == 0
    for key in ("margin_ranking", "bpr"):
        assert np.all(np.diff(curve(out.loss_figure, key)[1]) <= 0)  # never rising with the margin
    _, bpr_grad = curve(out.grad_figure, "bpr")
    assert np.all(bpr_grad < 0)  # never exactly flat
    _, hinge_grad = curve(out.grad_figure, "margin_ranking")
    assert np.all(hinge_grad[x >= 1.0] == 0) and np.all(hinge_grad[x < 1.0] == -1)


def test_axis_grows_to_show_a_large_margin_and_a_far_x():
    for margin, half in [(1.0, 4), (3.0, 4), (4.0, 8), (-20.0, 32)]:
        grid = VIEW.grid(state_with(margin=margin, margin_score=0.0))
        assert (grid.start, grid.start + grid.step * (grid.count - 1)) == (-half, pytest.approx(half))
    far = VIEW.grid(state_with(margin_score=100.0))
    assert far.start + far.step * (far.count - 1) > 100


# ---- the lesson line is true for every state ---------------------------------------------------


def _number_after(text: str, prefix: str) -> float:
    match = re.search(re.escape(prefix) + r"\s*(-?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)", text)
    assert match, (prefix, text)
    return float(match.group(1))


@pytest.mark.parametrize("margin", [-20.0, -1.0, 0.0, 0.5, 1.0, 3.0, 20.0])
def test_lesson_is_true(margin):
    xs = [-100.0, -3.0, -0.5, 0.0, 0.5, 1.0, 2.0, 25.0, 100.0]
    expected = torch_losses(xs, margin)
    for i, x in enumerate(xs):
        out = VIEW.build(state_with(losses=EVERY, margin=margin, margin_score=x))
        lesson, rows = out.lesson, rows_of(out)
        hinge_loss, hinge_grad = (float(v[i]) for v in expected["margin_ranking"])
        if x >= margin:
            assert "the hinge is flat: loss 0 and gradient 0" in lesson and hinge_loss == 0
            assert rows["margin_ranking"].loss == 0 and rows["margin_ranking"].grad_prediction == 0
        else:
            assert "pushes with its full gradient -1" in lesson and hinge_grad == -1
            assert _number_after(lesson, "(loss") == pytest.approx(hinge_loss, rel=5e-3)
            assert ("wrong order" in lesson) == (x < 0) and ("tied" in lesson) == (x == 0)
        bpr_loss, bpr_grad = (float(v[i]) for v in expected["bpr"])
        assert "never exactly flat" in lesson and bpr_loss > 0 and bpr_grad < 0
        assert rows["bpr"].loss > 0 and rows["bpr"].grad_prediction < 0
        assert _number_after(lesson, "−σ(s₂ − s₁) =") == pytest.approx(bpr_grad, rel=5e-3)
        _, listnet_grad = (float(v[i]) for v in expected["listnet"])
        if x < 1:
            assert "pushed up" in lesson and listnet_grad < 0
        elif x > 1:
            assert "pushed back down" in lesson and listnet_grad > 0
        else:
            assert "ListNet's minimum, gradient 0" in lesson and rows["listnet"].grad_prediction == 0
        assert _number_after(lesson, "dL/ds₁ =") == pytest.approx(listnet_grad, rel=5e-3) if x != 1 else True


def test_lesson_covers_exactly_the_losses_drawn():
    assert "ListNet" not in VIEW.build(DEFAULT).lesson
    only = VIEW.build(state_with(losses=("listnet",))).lesson
    assert only.startswith("ListNet") and "BPR" not in only and "Margin ranking" not in only


# ---- URL, plans, bad input ---------------------------------------------------------------------


def test_state_round_trips_through_the_url():
    for query in ["?losses=bpr,listnet&margin_score=-2.5&margin=0.25", "?losses=margin_ranking&margin=-3"]:
        state = VIEW.parse_query(query)
        assert not state.notices
        assert VIEW.parse_query(VIEW.encode_query(state)) == state
        assert VIEW.parse_query(VIEW.build(state).query) == state


def raw(state, **changes):
    numbers = {c.name: str(state.numbers[c.name]) for c in VIEW.numbers} | changes
    extras = {c.name: state.extras[c.name] for c in VIEW.extras}
    return numbers, list(state.losses), extras


@pytest.mark.parametrize(("name", "text"), [("margin_score", "1000"), ("margin_score", "-1e9"), ("margin", "50"),
                                            ("margin", "-1e6"), ("margin", "nan"), ("margin_score", "")])
def test_bad_input_gets_a_message_and_keeps_the_charts(name, text):
    numbers, losses, extras = raw(DEFAULT, **{name: text})
    result = callbacks.update_view(VIEW, numbers, losses, VIEW.encode_query(DEFAULT), **extras)
    message = result[f"message:{name}"]
    assert message.startswith(VIEW.number(name).label) and "expected" in message
    assert all(result[key] is dash.no_update for key in callbacks.chart_keys(VIEW))


def test_plans():
    assert VIEW.plan(DEFAULT, state_with(margin_score=2.0)) == base.UpdatePlan(full=False)
    assert VIEW.plan(DEFAULT, state_with(margin=2.0)).redraw == {"margin_ranking"}
    assert VIEW.plan(DEFAULT, state_with(margin=6.0)).shift
    assert VIEW.plan(DEFAULT, state_with(losses=EVERY)).replace_traces


def test_margin_slider_frames_are_supported_and_match_the_build():
    family = base.family(VIEW, state_with(losses=EVERY), "margin")
    assert "unsupported" not in family
    index = family["values"].index(2.0)
    out = VIEW.build(state_with(losses=EVERY, margin=2.0))
    [frame] = [c for c in family["graphs"][VIEW.ids.LOSS_GRAPH]["curves"]]  # only the hinge moves
    assert out.loss_figure["data"][frame["index"]]["meta"] == "margin_ranking"
    rows = decoded(frame["y"]).reshape(-1, frame["points"])
    assert_allclose(rows[frame["row"][index]], decoded(out.loss_figure["data"][frame["index"]]["y"]), rtol=1e-6)


# ---- chooser rows, CSV and code ----------------------------------------------------------------


def test_chooser_rows_open_a_state_that_draws_their_losses():
    assert len(VIEW.chooser_rows) >= 2
    for _task, _activation, _loss, query in VIEW.chooser_rows:
        state = VIEW.parse_query(query)
        assert not state.notices, (query, state.notices)
        out = VIEW.build(state)
        ys = [decoded(t["y"]) for t in out.loss_figure["data"] if t.get("meta") != "marker"]
        assert len(ys) == len(state.losses)
        for a, b in itertools.pairwise(ys):
            assert not np.allclose(a, b)


@pytest.mark.parametrize("query", ["", "?losses=margin_ranking,bpr,listnet&margin=2&margin_score=-1",
                                   "?losses=listnet&margin_score=30",
                                   "?check=on&losses=margin_ranking,bpr,listnet&margin=5"])
def test_code_snippet_recomputes_the_csv(query):
    state = VIEW.parse_query(query)
    namespace: dict = {}
    exec(compile(VIEW.code_snippet(state), "<ranking snippet>", "exec"), namespace)
    table = export.read_csv(VIEW.export_csv(state))
    np.testing.assert_array_equal(namespace["x"], table["x"])
    assert set(namespace["columns"]) == set(table) - {"x"}
    for column, values in namespace["columns"].items():
        np.testing.assert_allclose(np.asarray(values, dtype=np.float64), table[column], rtol=1e-15, atol=0,
                                   err_msg=column)


def test_gradient_check_passes_for_the_smooth_losses():
    out = VIEW.build(VIEW.parse_query("?losses=bpr,listnet&check=on"))
    checks = out.grad_figure["layout"]["meta"]["gradient_check"]
    assert checks["bpr"] < 1e-5 and checks["listnet"] < 1e-5
