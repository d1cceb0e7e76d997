"""The Counts view (/counts): the Poisson NLL of a log-rate and MSLE of a count, on the count or log-rate axis.

Expected values come from PyTorch in float64: ``poisson_nll_loss`` (log input) and a hand-written
MSLE, differentiated by autograd. On the count axis the Poisson loss's dL/dλ is autograd through
x = log λ with λ the leaf, so the view's chain rule is checked against an independent derivative.
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

from losslab.dashboard import callbacks, export, views
from losslab.dashboard.views import counts
from losslab.dashboard.views.base import UpdatePlan, family

from . import typed_values

VIEW = views.get("counts")
DEFAULT = VIEW.default_state()
BOTH = ("poisson_nll", "msle")


def decode(typed: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(typed["bdata"]), dtype="<f8")


def curves_of(figure: dict) -> dict[str, dict]:
    return {t["meta"]: t for t in figure["data"] if t.get("meta") not in (None, "marker")
            and not str(t["meta"]).startswith("fd:")}


def grid_of(trace: dict) -> np.ndarray:
    return trace["x0"] + trace["dx"] * np.arange(decode(trace["y"]).size, dtype=np.float64)


def state(axis="count", losses=BOTH, panels="columns", **numbers):
    return replace(DEFAULT, numbers={**DEFAULT.numbers, **numbers}, losses=tuple(losses),
                   extras={**DEFAULT.extras, "axis": axis, "panels": panels})


def _torch_loss(key: str, log_rate, lam, count: float):
    y = torch.full_like(lam, float(count))
    if key == "poisson_nll":
        return torch.nn.functional.poisson_nll_loss(log_rate, y, log_input=True, full=False, reduction="none")
    return (torch.log1p(lam) - torch.log1p(y)) ** 2


def torch_count_axis(key: str, rate, count: float):
    """Loss, dL/dλ and dL/d log λ at the predicted count λ, by autograd twice: with λ the leaf (the Poisson
    loss through x = log λ) and with x = log λ the leaf (MSLE through λ = e^x)."""
    lam = torch.tensor(np.asarray(rate, dtype=np.float64), requires_grad=True)
    loss = _torch_loss(key, torch.log(lam), lam, count)
    loss.sum().backward()
    log_rate = torch.log(torch.tensor(np.asarray(rate, dtype=np.float64))).requires_grad_(True)
    _torch_loss(key, log_rate, lam.detach() if key == "poisson_nll" else torch.exp(log_rate), count).sum().backward()
    return loss.detach().numpy(), lam.grad.numpy(), log_rate.grad.numpy()


def torch_log_rate_axis(x, count: float):
    """Poisson NLL and dL/dx at the log-rate x."""
    t = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    loss = torch.nn.functional.poisson_nll_loss(t, torch.full_like(t, float(count)), log_input=True,
                                                reduction="none")
    loss.sum().backward()
    return loss.detach().numpy(), t.grad.numpy()


# ---- what is offered ---------------------------------------------------------------------------


def test_offers_both_count_losses_and_opens_on_the_count_axis():
    assert VIEW.loss_keys == BOTH and VIEW.task == "counts"
    assert DEFAULT.losses == BOTH and DEFAULT.axis == "count" and DEFAULT.panels == "columns"
    assert DEFAULT.number("rate") == 1.0 and DEFAULT.number("count") == 3
    assert VIEW.motion_controls == ("count",)


def test_log_rate_axis_draws_only_the_poisson_loss_and_notes_msle():
    out = VIEW.build(state("log_rate"))
    assert tuple(curves_of(out.loss_figure)) == ("poisson_nll",) == tuple(curves_of(out.grad_figure))
    assert out.extras["losses_note"].startswith("MSLE is hidden on the log-rate axis")
    assert VIEW.build(state("count")).extras["losses_note"] == ""
    empty = VIEW.build(state("log_rate", losses=("msle",)))
    assert not curves_of(empty.loss_figure) and "no ticked loss lives on this axis" in empty.lesson


def test_axis_titles():
    count, log_rate = (VIEW.build(state(a)) for a in ("count", "log_rate"))
    assert count.loss_figure["layout"]["xaxis"]["title"]["text"].startswith("predicted count λ")
    assert log_rate.loss_figure["layout"]["xaxis"]["title"]["text"] == "predicted log-rate x = log λ"
    assert "dL/dλ" in count.grad_figure["layout"]["title"]["text"]
    assert "dL/d log λ" in log_rate.grad_figure["layout"]["title"]["text"]


# ---- every plotted value is the core's (checked against torch) --------------------------------------


@pytest.mark.parametrize(("rate", "count"), [(1.0, 3), (0.002, 0), (12.5, 20), (4e3, 1000)])
@pytest.mark.parametrize("panels", ["columns", "overlay"])
def test_count_axis_curves_and_readout_equal_torch_with_the_chain_rule(rate, count, panels):
    out = VIEW.build(state("count", panels=panels, rate=rate, count=count))
    loss_curves, grad_curves = curves_of(out.loss_figure), curves_of(out.grad_figure)
    for key in BOTH:
        lam = grid_of(loss_curves[key])
        assert 0 < lam[0] <= rate <= lam[-1] and lam[-1] >= 2 * count
        loss, grad, _ = torch_count_axis(key, lam, count)
        assert_allclose(decode(loss_curves[key]["y"]), loss, rtol=1e-12, atol=1e-15, err_msg=key)
        assert_allclose(decode(grad_curves[key]["y"]), grad, rtol=1e-12, atol=1e-15, err_msg=key)
        row = next(r for r in out.readout.rows if r.key == key)
        at_loss, at_grad, at_grad_log = torch_count_axis(key, rate, count)
        assert row.loss == pytest.approx(float(at_loss), rel=1e-12, abs=1e-15)
        assert row.grad_prediction == pytest.approx(float(at_grad), rel=1e-12, abs=1e-15)
        assert row.grad_logit == pytest.approx(float(at_grad_log), rel=1e-12, abs=1e-15)
    assert out.readout.prediction_label == "λ" and out.readout.prediction_value == rate
    assert (out.readout.grad_label, out.readout.logit_grad_label) == ("dL/dλ", "dL/d log λ")
    assert {x for m in out.loss_figure["data"] if m.get("meta") == "marker" for x in m["x"]} == {rate}


@pytest.mark.parametrize(("rate", "count"), [(1.0, 3), (0.002, 0), (12.5, 20), (1e6, 1000000)])
def test_log_rate_axis_is_the_poisson_loss_of_x_with_the_cores_gradient(rate, count):
    out = VIEW.build(state("log_rate", rate=rate, count=count))
    loss, grad = curves_of(out.loss_figure)["poisson_nll"], curves_of(out.grad_figure)["poisson_nll"]
    x = grid_of(loss)
    assert x[0] <= math.log(rate) <= x[-1]
    expected_loss, expected_grad = torch_log_rate_axis(x, count)
    assert_allclose(decode(loss["y"]), expected_loss, rtol=1e-12, atol=1e-12)
    assert_allclose(decode(grad["y"]), expected_grad, rtol=1e-12, atol=1e-12)
    assert_allclose(decode(grad["y"]), np.exp(x) - count, rtol=1e-12, atol=1e-9)  # prediction minus target
    row = out.readout.rows[0]
    at_loss, at_grad = torch_log_rate_axis(math.log(rate), count)
    assert (row.loss, row.grad_prediction) == (pytest.approx(float(at_loss), rel=1e-12, abs=1e-9),
                                               pytest.approx(float(at_grad), rel=1e-12, abs=1e-9))
    assert out.readout.prediction_label == "log λ" and out.readout.prediction_value == math.log(rate)


# ---- the lesson line: true in every state -------------------------------------------------------------

RATES = [1e-300, 0.002, 0.5, 1.0, 2.9, 3.0, 3.000000001, 3.1, 5.0, 7.0, 100.0, 1e6]
COUNTS = [0, 1, 3, 10, 1000000]


@pytest.mark.parametrize(("rate", "count"), list(itertools.product(RATES, COUNTS)))
def test_lesson_states_the_poisson_gradient_as_prediction_minus_target(rate, count):
    lesson = VIEW.build(state("count", rate=rate, count=count)).lesson
    _, _, grad_log = torch_count_axis("poisson_nll", rate, count)
    stated = float(re.search(r"λ − y is (\S+), prediction minus target", lesson).group(1))
    assert stated == pytest.approx(float(grad_log), rel=2e-3, abs=1e-9 * max(1, count))
    assert stated == pytest.approx(rate - count, rel=2e-3, abs=1e-9 * max(1, count))
    assert ("positive: λ overshoots y" in lesson) == (rate > count)
    assert ("negative: λ undershoots y" in lesson) == (rate < count)
    if rate < count:
        assert f"never below −y = {-count:g}" in lesson


@pytest.mark.parametrize(("rate", "count"), list(itertools.product(RATES, COUNTS)))
def test_lesson_compares_msle_for_the_same_error_under_and_over(rate, count):
    lesson = VIEW.build(state("count", rate=rate, count=count)).lesson
    error = rate - count
    if error == 0:
        assert "MSLE: λ = y, so its loss and gradient are 0." in lesson
        return
    mirror = count - error
    if mirror <= -1:
        assert f"be ŷ = {mirror:.4g}, below −1" in lesson
        return
    under, over = sorted([rate, mirror])
    under_loss, _, _ = torch_count_axis("msle", under, count)
    over_loss, _, _ = torch_count_axis("msle", over, count)
    assert f"predicting {under:.6g} (under by {abs(error):.4g}) costs {float(under_loss):.3g}" in lesson
    assert f"predicting {over:.6g} (over by as much) costs {float(over_loss):.3g}" in lesson
    if over_loss == 0:
        assert "underflow" in lesson
    elif under_loss / over_loss > 1.001:
        assert f"under-prediction costs {float(under_loss / over_loss):.3g}× as much" in lesson
    else:
        assert "nearly the same" in lesson
    # the asymmetry itself, from torch: under-predicting never costs less
    assert under_loss >= over_loss


def test_lesson_follows_the_ticked_losses():
    poisson_only = VIEW.build(state("count", losses=("poisson_nll",))).lesson
    msle_only = VIEW.build(state("count", losses=("msle",))).lesson
    assert "Poisson NLL" in poisson_only and "MSLE" not in poisson_only
    assert "MSLE" in msle_only and "Poisson" not in msle_only
    on_log_axis = VIEW.build(state("log_rate")).lesson
    assert "Poisson NLL" in on_log_axis and "MSLE" not in on_log_axis


# ---- URL, bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("query", [
    "", "?axis=log_rate&rate=0.25&count=7&losses=poisson_nll", "?rate=1e-5&count=0&panels=overlay&scale=log",
    "?losses=msle&check=on&rate=40&count=12",
])
def test_state_round_trips_through_the_url(query):
    parsed = VIEW.parse_query(query)
    assert not parsed.notices
    assert VIEW.parse_query(VIEW.encode_query(parsed)) == parsed
    assert VIEW.parse_query(VIEW.build(parsed).query) == parsed


def raw_controls(state):
    return typed_values(VIEW, state)


@pytest.mark.parametrize(("name", "raw", "words"), [
    ("rate", "0", "out of range"), ("rate", "-2", "out of range"), ("rate", "2e6", "out of range"),
    ("rate", "abc", "not a number"), ("count", "2.5", "not a whole number"), ("count", "-1", "out of range"),
    ("count", "1e9", "out of range"), ("count", "", "the box is empty"),
])
def test_a_bad_typed_value_gives_its_message_and_keeps_the_charts(name, raw, words):
    numbers, losses, extras = raw_controls(DEFAULT)
    numbers[name] = raw
    result = callbacks.update_view(VIEW, numbers, losses, VIEW.encode_query(DEFAULT), **extras)
    message = result[f"message:{name}"]
    assert message.startswith(VIEW.number(name).label) and words in message
    assert all(result[key] is dash.no_update for key in callbacks.chart_keys(VIEW))


def test_a_bad_link_value_falls_back_with_a_notice():
    parsed = VIEW.parse_query("?rate=0&count=-3&axis=log")
    assert parsed.number("rate") == 1.0 and parsed.number("count") == 3 and parsed.axis == "count"
    assert len(parsed.notices) == 3


# ---- plans, clicks, motion ---------------------------------------------------------------------------


def test_update_plans():
    assert VIEW.plan(None, DEFAULT).full
    assert VIEW.plan(DEFAULT, state("log_rate")).full
    moved = replace(DEFAULT, numbers={**DEFAULT.numbers, "rate": 2.0})
    assert VIEW.plan(DEFAULT, moved) == UpdatePlan(full=False)
    new_count = replace(DEFAULT, numbers={**DEFAULT.numbers, "count": 4})
    plan = VIEW.plan(DEFAULT, new_count)
    assert not plan.full and plan.redraw == frozenset(BOTH)
    # one panel per loss: another set of losses is another set of subplots
    assert VIEW.plan(DEFAULT, replace(DEFAULT, losses=("msle",))).full
    overlay = state("count", panels="overlay")
    assert VIEW.plan(overlay, replace(overlay, losses=("msle",))).replace_traces


def test_click_sets_the_predicted_count_on_either_axis():
    assert counts.rate_from_click({"points": [{"x": 2.34567}]}, "count") == "2.35"
    assert counts.rate_from_click({"points": [{"x": 1.0}]}, "log_rate") == "2.72"
    assert counts.rate_from_click({"points": [{"x": 20.0}]}, "log_rate") == "1000000"  # capped at the box's limit
    assert counts.rate_from_click({"points": [{"x": -0.5}]}, "count") is dash.no_update
    assert counts.rate_from_click({"points": [{"x": -900.0}]}, "log_rate") is dash.no_update  # e^x underflows
    assert counts.rate_from_click(None, "count") is dash.no_update
    assert VIEW.click_action().target_id == VIEW.ids.input("rate")


@pytest.mark.parametrize("axis", ["count", "log_rate"])
def test_count_slider_frames_equal_the_server_charts(axis):
    s = state(axis)
    frames = family(VIEW, s, "count")
    assert "unsupported" not in frames and frames["values"] == list(range(21))
    server = VIEW.build(replace(s, numbers={**s.numbers, "count": 7}))
    for curve in frames["graphs"][VIEW.ids.GRAD_GRAPH]["curves"]:
        rows = np.frombuffer(base64.b64decode(curve["y"]["bdata"]), dtype="<f4").reshape(-1, curve["points"])
        trace = server.grad_figure["data"][curve["index"]]
        assert_allclose(rows[curve["row"][7]], decode(trace["y"]), rtol=1e-6, atol=1e-30)
        assert (curve["x0"][7], curve["dx"][7]) == (trace["x0"], trace["dx"])


# ---- gradient check, CSV and code, chooser ---------------------------------------------------------------


@pytest.mark.parametrize("axis", ["count", "log_rate"])
@pytest.mark.parametrize("count", [0, 3, 20])
def test_gradient_check_agrees_with_finite_differences(axis, count):
    s = replace(state(axis, count=count), extras={**state(axis).extras, "check": "on"})
    out = VIEW.build(s)
    checks = out.grad_figure["layout"]["meta"]["gradient_check"]
    assert set(checks) == set(VIEW.plotted_losses(s))
    # On the count axis the Poisson dL/dλ = 1 − y/λ is singular just left of the grid (λ → 0), so the
    # check's difference-versus-Simpson misfit is a few 1e-3 at the first points there, as on /binary's p̂ axis.
    assert all(misfit < (0.05 if axis == "count" else 1e-6) for misfit in checks.values()), checks
    # Away from λ = 0 the finite difference of the plotted loss is the plotted gradient, as closely as Simpson can tell.
    gradients = curves_of(out.grad_figure)
    for overlay in (t for t in out.grad_figure["data"] if str(t.get("meta")).startswith("fd:")):
        gradient = decode(gradients[overlay["meta"][3:]]["y"])
        mean = (gradient[:-2] + 4 * gradient[1:-1] + gradient[2:]) / 6
        start = 10 if axis == "count" else 0
        difference = decode(overlay["y"])  # on the loss curve's grid, NaN at both ends
        assert overlay["x0"] == gradients[overlay["meta"][3:]]["x0"] and np.isnan(difference[[0, -1]]).all()
        assert_allclose(difference[1:-1][start:], mean[start:], rtol=1e-5,
                        atol=1e-7 * np.abs(gradient).max(), err_msg=overlay["meta"])


@pytest.mark.parametrize("query", ["", "?axis=log_rate&rate=0.25&count=7", "?panels=overlay&rate=1e-5&count=0",
                                   "?losses=msle&rate=40&count=12&scale=log", "?rate=500&count=20",
                                   "?check=on", "?check=on&axis=log_rate&count=0", "?check=on&panels=overlay"])
def test_code_snippet_recomputes_the_csv(query):
    s = VIEW.parse_query(query)
    namespace: dict = {}
    exec(compile(VIEW.code_snippet(s), "<counts snippet>", "exec"), namespace)
    table = export.read_csv(VIEW.export_csv(s))
    np.testing.assert_array_equal(namespace["x"], table["x"])
    assert set(namespace["columns"]) == set(table) - {"x"}
    for column, values in namespace["columns"].items():
        assert_allclose(np.asarray(values, dtype=np.float64), table[column], rtol=1e-15, atol=0, err_msg=column)


def test_chooser_rows_open_presets_without_notices_where_the_losses_differ():
    assert [row[2] for row in VIEW.chooser_rows] == ["Poisson NLL", "MSLE"]
    for _task, _activation, _loss, query in VIEW.chooser_rows:
        s = VIEW.parse_query(query)
        assert not s.notices, query
        out = VIEW.build(s)
        drawn = [decode(t["y"]) for t in curves_of(out.loss_figure).values()]
        assert drawn and not out.extras["losses_note"], query
        for a, b in itertools.pairwise(drawn):
            assert not np.allclose(a, b), query
