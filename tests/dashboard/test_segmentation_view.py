r"""The Segmentation view (/segmentation): curves, readout, lesson, plans, URL, motion, CSV and bad input.

The story is a region of k object pixels at probability x and m background pixels at b. Its soft
counts are TP = kx, FP = mb, FN = k(1 - x), so every loss has a closed form in x, written out here
from the papers' definitions (never from the code under test):

- Dice      L = (FP + FN) / (2TP + FP + FN + s)
- IoU       L = (FP + FN) / (TP + FP + FN + s)
- Tversky   T = (αFP + βFN) / (TP + αFP + βFN + s), focal Tversky T^γ
- BCE       the mean over the n = k + m pixels of -t log p - (1 - t) log(1 - p), p clipped to [1e-12, 1 - 1e-12]
- combo     w BCE + (1 - w) Dice

and dL/dx is their derivative by hand; dL/dz multiplies it by σ(z)(1 - σ(z)). The plotted values
must also equal, bit for bit, the public core functions called directly on the same rows.
"""

from __future__ import annotations

import base64
import math
import re

import dash
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import losslab
from losslab.dashboard import callbacks, export
from losslab.dashboard.url_state import ViewState
from losslab.dashboard.views import segmentation
from losslab.dashboard.views.base import UpdatePlan, family

VIEW = segmentation.VIEW
DEFAULT = VIEW.default_state()
EVERY_LOSS = ("soft_dice", "soft_iou", "tversky", "focal_tversky", "combo", "bce")
EPS = 1e-12


def decode(typed: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(typed["bdata"]), dtype="<f8")


def curve(figure: dict, meta: str) -> tuple[np.ndarray, np.ndarray]:
    (trace,) = [t for t in figure["data"] if t.get("meta") == meta]
    y = decode(trace["y"])
    return trace["x0"] + trace["dx"] * np.arange(y.size), y


def state(query: str = "") -> ViewState:
    parsed = VIEW.parse_query(query)
    assert not parsed.notices, parsed.notices
    return parsed


# ---------------------------------------------------------------- closed forms in x


def closed_form(key: str, x, k: int, m: int, b: float, *, smooth=1.0, alpha=0.3, beta=0.7, gamma=0.75,
                bce_weight=0.5):
    """(L, dL/dx) of the region whose k object pixels are at x and m background pixels at b."""
    x = np.asarray(x, dtype=np.float64)
    tp, fp, fn = k * x, m * b, k * (1 - x)
    if key in ("soft_dice", "combo", "bce"):
        errors, denominator = fp + fn, 2 * tp + fp + fn + smooth
        dice, d_dice = errors / denominator, (-k * denominator - errors * k) / denominator**2
        n = k + m
        # BCE unclipped, as its logit form (it was clipped at EPS: flat below x = EPS while dL/dx was not,
        # helper-62); the registry's clip stays where a background pixel is at 1 (else every value is inf)
        clipped = m > 0 and b == 1
        clipped_b = min(max(b, EPS), 1 - EPS) if clipped else b
        clipped_x = np.clip(x, EPS, 1 - EPS) if clipped else x
        bce = (-k * np.log(clipped_x) - m * math.log1p(-clipped_b)) / n
        d_bce = -k / (n * clipped_x)
        if key == "soft_dice":
            return dice, d_dice
        if key == "bce":
            return bce, d_bce
        return bce_weight * bce + (1 - bce_weight) * dice, bce_weight * d_bce + (1 - bce_weight) * d_dice
    if key == "soft_iou":
        union = tp + fp + fn  # = k + mb: moving x trades TP for FN
        return (fp + fn) / (union + smooth), -k / (union + smooth) + 0 * x
    a, b_ = (alpha, beta) if key in ("tversky", "focal_tversky") else (None, None)
    errors = a * fp + b_ * fn
    denominator = tp + errors + smooth
    tversky = errors / denominator
    d_tversky = (-b_ * k * denominator - errors * (k - b_ * k)) / denominator**2
    if key == "tversky":
        return tversky, d_tversky
    return tversky**gamma, gamma * tversky ** (gamma - 1) * d_tversky


def core_row_loss(key: str, rows: np.ndarray, mask: np.ndarray, numbers: dict):
    """The public core function of each loss, called directly on the rows (one region per row)."""
    # BCE unclipped (eps = 0), but with the default clip where a background pixel is at 1
    eps = 1e-12 if numbers["background"] and numbers["background_probability"] == 1 else 0.0
    if key == "combo" and numbers["bce_weight"] == 0:
        eps = 1e-12  # no BCE share: the clip, so that 0 times an infinite dL/dx is not NaN
    if key == "bce":
        return (losslab.bce(rows, mask, eps=eps, reduction="none").mean(axis=-1),
                losslab.bce_grad(rows, mask, eps=eps) / rows.shape[1])
    smooth = numbers["smooth"]
    functions = {
        "soft_dice": (losslab.soft_dice, losslab.soft_dice_grad, {"smooth": smooth}),
        "soft_iou": (losslab.soft_iou, losslab.soft_iou_grad, {"smooth": smooth}),
        "tversky": (losslab.tversky, losslab.tversky_grad,
                    {"smooth": smooth, "alpha": numbers["alpha"], "beta": numbers["beta"]}),
        "focal_tversky": (losslab.focal_tversky, losslab.focal_tversky_grad,
                          {"smooth": smooth, "alpha": numbers["alpha"], "beta": numbers["beta"],
                           "gamma": numbers["gamma"]}),
        "combo": (losslab.combo, losslab.combo_grad, {"smooth": smooth, "alpha": numbers["bce_weight"], "eps": eps}),
    }
    loss, grad, kwargs = functions[key]
    return loss(rows, mask, axis=-1, reduction="none", **kwargs), grad(rows, mask, axis=-1, **kwargs)


QUERIES = [
    "",
    "?losses=soft_dice,soft_iou,tversky,focal_tversky,combo,bce&x=0.2&background_probability=0.03",
    "?losses=soft_dice,soft_iou,tversky,focal_tversky,combo,bce&axis=logit&foreground=12&background=1000"
    "&background_probability=0.2&smooth=0.1&alpha=0.6&beta=0.2&gamma=1.5&bce_weight=0.8",
    "?losses=soft_iou,focal_tversky,bce&foreground=1&background=0&x=0.9&smooth=3",
]


@pytest.mark.parametrize("query", QUERIES)
def test_every_curve_is_the_closed_form_of_the_region(query):
    current = state(query)
    out = VIEW.build(current)
    k, m = current.number("foreground"), current.number("background")
    b = current.number("background_probability")
    params = {name: current.number(name) for name in ("smooth", "alpha", "beta", "gamma", "bce_weight")}
    for key in current.losses:
        x, loss = curve(out.loss_figure, key)
        _, grad = curve(out.grad_figure, key)
        probability = x if current.axis == "prob" else 1 / (1 + np.exp(-x))
        expected_loss, expected_grad = closed_form(key, probability, k, m, b, **params)
        if current.axis == "logit":
            expected_grad = expected_grad * probability * (1 - probability)
        assert_allclose(loss, expected_loss, rtol=1e-12, atol=1e-15, err_msg=key)
        assert_allclose(grad, expected_grad, rtol=1e-9, atol=1e-15, err_msg=key)


def core_row_logit_loss(key: str, logits: np.ndarray, mask: np.ndarray, numbers: dict):
    """The public logit-form core function of each loss on rows of logits (b < 1: no clip involved)."""
    if key == "bce":
        return (losslab.bce_with_logits(logits, mask, reduction="none").mean(axis=-1),
                losslab.bce_with_logits_grad(logits, mask) / logits.shape[1])
    smooth = numbers["smooth"]
    tversky = {"smooth": smooth, "alpha": numbers["alpha"], "beta": numbers["beta"]}
    functions = {
        "soft_dice": (losslab.soft_dice_with_logits, losslab.soft_dice_with_logits_grad, {"smooth": smooth}),
        "soft_iou": (losslab.soft_iou_with_logits, losslab.soft_iou_with_logits_grad, {"smooth": smooth}),
        "tversky": (losslab.tversky_with_logits, losslab.tversky_with_logits_grad, tversky),
        "focal_tversky": (losslab.focal_tversky_with_logits, losslab.focal_tversky_with_logits_grad,
                          tversky | {"gamma": numbers["gamma"]}),
        "combo": (losslab.combo_with_logits, losslab.combo_with_logits_grad,
                  {"smooth": smooth, "alpha": numbers["bce_weight"]}),
    }
    loss, grad, kwargs = functions[key]
    return loss(logits, mask, axis=-1, reduction="none", **kwargs), grad(logits, mask, axis=-1, **kwargs)


@pytest.mark.parametrize("query", QUERIES)
def test_every_plotted_value_is_the_public_core_function_of_the_row(query):
    current = state(query)
    out = VIEW.build(current)
    k, m = current.number("foreground"), current.number("background")
    mask = np.r_[np.ones(k), np.zeros(m)]
    for key in current.losses:
        x, loss = curve(out.loss_figure, key)
        _, grad = curve(out.grad_figure, key)
        b = current.number("background_probability")
        if current.axis == "prob":
            rows = np.hstack([np.repeat(x[:, None], k, axis=1), np.full((x.size, m), b)])
            expected_loss, pixel_grads = core_row_loss(key, rows, mask, current.numbers)
        else:
            # the rows of logits through the public *_with_logits functions: exact where sigmoid(z) rounds
            # to 1 (the loss of the sigmoid(z) row was flat there while dL/dz was not; helper-62)
            rows = np.hstack([np.repeat(x[:, None], k, axis=1), np.full((x.size, m), losslab.logit(b))])
            expected_loss, pixel_grads = core_row_logit_loss(key, rows, mask, current.numbers)
        expected_grad = pixel_grads[:, :k].sum(axis=1)
        assert_array_equal(loss, expected_loss, err_msg=key)
        assert_array_equal(grad, expected_grad, err_msg=key)


@pytest.mark.parametrize("axis", ["prob", "logit"])
def test_readout_and_markers_are_the_closed_form_at_x(axis):
    current = state(f"?axis={axis}&x=0.3&background_probability=0.05&losses=" + ",".join(EVERY_LOSS))
    out = VIEW.build(current)
    z = math.log(0.3 / 0.7)
    marker = next(t for t in out.grad_figure["data"] if t.get("meta") == "marker")
    assert marker["x"] == [0.3 if axis == "prob" else pytest.approx(z, rel=1e-15)] * len(EVERY_LOSS)
    for row, marker_y in zip(out.readout.rows, marker["y"], strict=True):
        loss, grad = closed_form(row.key, 0.3, 5, 245, 0.05)
        assert row.loss == pytest.approx(float(loss), rel=1e-12)
        assert row.grad_prediction == pytest.approx(float(grad), rel=1e-12)
        assert row.grad_logit == pytest.approx(float(grad) * 0.3 * 0.7, rel=1e-12)
        assert marker_y == (row.grad_prediction if axis == "prob" else row.grad_logit)
    assert [row.label for row in out.readout.rows][-1] == "BCE (pixel mean)"


def test_dice_and_tversky_ignore_a_clean_background_while_bce_divides_by_it():
    """The class-imbalance lesson in the curves themselves: ten times the background (b = 0)."""
    small = VIEW.build(state("?losses=" + ",".join(EVERY_LOSS)))
    large = VIEW.build(state("?background=1990&losses=" + ",".join(EVERY_LOSS)))
    for key in ("soft_dice", "soft_iou", "tversky", "focal_tversky"):
        assert_array_equal(curve(small.grad_figure, key)[1], curve(large.grad_figure, key)[1])
    _, bce_small = curve(small.grad_figure, "bce")
    _, bce_large = curve(large.grad_figure, "bce")
    assert_allclose(bce_large, bce_small * 250 / 1995, rtol=1e-12)  # the object's pull is k/n of it
    _, combo_small = curve(small.grad_figure, "combo")
    _, combo_large = curve(large.grad_figure, "combo")
    assert np.all(np.abs(combo_large) < np.abs(combo_small))  # combo inherits BCE's dilution


# ---------------------------------------------------------------- the lesson, over a grid of states


def _g(value: float) -> str:
    return f"{value:.3g}"


LESSON_GRID = [
    (k, m, b, x, alpha, beta)
    for k in (1, 40)
    for m in (0, 1, 245, 2000)
    for b in (0.0, 0.01, 0.5)
    for x in (0.01, 0.5, 0.99)
    for alpha, beta in ((0.3, 0.7), (0.7, 0.3), (0.5, 0.5), (0.0, 0.7))
]


@pytest.mark.parametrize(("k", "m", "b", "x", "alpha", "beta"), LESSON_GRID)
def test_lesson_is_true_for_every_state(k, m, b, x, alpha, beta):
    current = state(f"?foreground={k}&background={m}&background_probability={b}&x={x}&alpha={alpha}&beta={beta}"
                    "&bce_weight=0.25&smooth=0.5")
    text = segmentation.lesson_text(current)
    n = k + m
    params = {"smooth": 0.5, "alpha": alpha, "beta": beta, "bce_weight": 0.25}
    assert f"The object is {k} of {n} pixels ({_g(100 * k / n)}%)." in text
    if m == 0:
        assert "There is no background" in text and "no false alarms" in text
        assert "soft precision" not in text
    else:
        for key, name in (("soft_dice", "Soft Dice's"), ("combo", "combo's (BCE weight 0.25)"),
                          ("bce", "the pixel-mean BCE's")):
            now = float(closed_form(key, x, k, m, b, **params)[1])
            then = float(closed_form(key, x, k, 10 * m, b, **params)[1])
            claim = re.search(re.escape(name) + r" from (\S+) to (\S+) \(×(\S+)\)", text)
            assert claim, (name, text)
            assert claim.groups() == (_g(now), _g(then), _g(then / now)), (name, text)
        assert f"(m = {10 * m}, same b)" in text
        if b == 0:
            assert "Dice counts none of it" in text
            assert _g(float(closed_form("soft_dice", x, k, m, 0.0, **params)[1])) == \
                _g(float(closed_form("soft_dice", x, k, 10 * m, 0.0, **params)[1]))
        else:
            assert f"false-positive mass m·b = {_g(m * b)}" in text
        # Per pixel: Tversky's object pull against its background push (closed forms of the gradient).
        tp, fp, fn = k * x, m * b, k * (1 - x)
        denominator = tp + alpha * fp + beta * fn + 0.5
        tversky = (alpha * fp + beta * fn) / denominator
        pull = (beta + tversky * (1 - beta)) / denominator
        push = alpha * (1 - tversky) / denominator
        assert pull >= 0 and push >= 0  # "pulls up" and "pushes down" are the right directions
        if push == 0:
            assert f"pulls an object pixel up (−dL/dp = {_g(pull)}) and does not push" in text
        else:
            assert f"pulls an object pixel up {_g(pull / push)}× as hard as it pushes a background pixel down " \
                   f"(−dL/dp = {_g(pull)} against dL/dp = {_g(push)}" in text
        dice_errors, dice_denominator = fp + fn, 2 * tp + fp + fn + 0.5
        dice_loss = dice_errors / dice_denominator
        dice_pull, dice_push = (1 + dice_loss) / dice_denominator, (1 - dice_loss) / dice_denominator
        # The exact ratio can sit on a rounding tie at 3 digits (1335 at k=1, m=2000, b=x=0.5): the view's
        # correctly rounded pull and push and this closed form may land a few ulp either side of it.
        ratio = dice_pull / dice_push
        assert any(f"Dice: {shown}×, {_g(dice_pull)} against {_g(dice_push)})" in text
                   for shown in {_g(ratio * (1 - 1e-12)), _g(ratio * (1 + 1e-12))}), text
        assert f"soft precision TP/(TP + FP) = {_g(tp / (tp + fp))}" in text
    assert f"soft recall TP/(TP + FN) = x = {_g(x)}" in text
    trade = ("recall over precision" if beta > alpha else "precision over recall" if beta < alpha
             else "misses and false alarms alike")
    assert trade in text
    assert "inf" not in text and "nan" not in text


def test_the_lesson_is_what_the_page_shows():
    out = VIEW.build(DEFAULT)
    assert out.lesson == segmentation.lesson_text(DEFAULT)
    assert out.lesson.startswith("The object is 5 of 250 pixels (2%).")
    assert "Soft Dice's from -0.761 to -0.761 (×1)" in out.lesson


# ---------------------------------------------------------------- URL state, plans, clicks, motion


@pytest.mark.parametrize("query", [*QUERIES, "?scale=log&check=on"])
def test_state_round_trips_through_the_url(query):
    current = state(query)
    assert VIEW.parse_query(VIEW.encode_query(current)) == current
    assert VIEW.parse_query(VIEW.build(current).query) == current


def test_a_link_with_bad_values_falls_back_with_notices():
    parsed = VIEW.parse_query("?x=1&background=99999&foreground=2.5&losses=dice")
    assert parsed.numbers == DEFAULT.numbers and parsed.losses == DEFAULT.losses
    notices = " ".join(parsed.notices)
    assert "Object probability x: 1 is out of range" in notices
    assert "Background pixels m: 99999 is out of range" in notices
    assert "Object pixels k: 2.5 is not a whole number" in notices
    assert "no loss called “dice”" in notices


def _with(current: ViewState, **numbers) -> ViewState:
    return ViewState(current.view, {**current.numbers, **numbers}, current.losses, current.extras)


@pytest.mark.parametrize(("change", "plan"), [
    ({"x": 0.7}, UpdatePlan(full=False)),
    ({"x": 0.999}, UpdatePlan(full=False, shift=True, redraw=frozenset(DEFAULT.losses))),
    ({"background": 1000}, UpdatePlan(full=False, redraw=frozenset(DEFAULT.losses))),
    ({"foreground": 2}, UpdatePlan(full=False, redraw=frozenset(DEFAULT.losses))),
    ({"background_probability": 0.1}, UpdatePlan(full=False, redraw=frozenset(DEFAULT.losses))),
    ({"alpha": 0.5}, UpdatePlan(full=False, redraw=frozenset({"tversky"}))),
    ({"bce_weight": 0.9}, UpdatePlan(full=False, redraw=frozenset({"combo"}))),
    ({"smooth": 2.0}, UpdatePlan(full=False, redraw=frozenset({"soft_dice", "tversky", "combo"}))),
    ({"gamma": 2.0}, UpdatePlan(full=False)),  # focal Tversky is not drawn
])
def test_plan_redraws_exactly_the_curves_that_change(change, plan):
    after = _with(DEFAULT, **change)
    assert VIEW.plan(DEFAULT, after) == plan
    before, now = VIEW.build(DEFAULT), VIEW.build(after)
    for key in DEFAULT.losses:
        x_before, y_before = curve(before.loss_figure, key)
        x_now, y_now = curve(now.loss_figure, key)
        if key not in plan.redraw:
            assert_array_equal(y_now, y_before)
        if not plan.shift:
            assert_array_equal(x_now, x_before)


def test_plan_for_the_axis_and_the_losses():
    assert VIEW.plan(DEFAULT, DEFAULT.with_extras(axis="logit")).full
    fewer = ViewState(DEFAULT.view, DEFAULT.numbers, ("soft_dice",), DEFAULT.extras)
    assert VIEW.plan(DEFAULT, fewer) == UpdatePlan(full=False, replace_traces=True)


@pytest.mark.parametrize(("clicked", "axis", "typed"), [
    (0.7314, "prob", "0.731"),
    (math.log(3), "logit", "0.75"),
    (-40.0, "logit", "1e-15"),  # never 0: kept 1e-15 from the end
    (40.0, "logit", str(1 - 1e-15)),
])
def test_a_click_moves_x_to_the_clicked_probability(clicked, axis, typed):
    assert segmentation.probability_from_click({"points": [{"x": clicked}]}, axis) == typed
    assert segmentation.probability_from_click({"points": []}, axis) is dash.no_update


@pytest.mark.parametrize("name", VIEW.motion_controls)
def test_every_motion_slider_precomputes_its_frames(name):
    frames = family(VIEW, DEFAULT, name)
    assert "unsupported" not in frames
    assert 10 <= len(frames["positions"]) <= 31  # every position is POINTS whole rows per loss: kept few


def test_a_motion_frame_is_what_the_server_draws_after_release():
    frames = family(VIEW, DEFAULT, "beta")
    index = frames["values"].index(0.25)
    after = VIEW.build(_with(DEFAULT, beta=0.25))
    (moved,) = frames["graphs"][VIEW.ids.LOSS_GRAPH]["curves"]
    assert VIEW.build(DEFAULT).loss_figure["data"][moved["index"]]["meta"] == "tversky"
    rows = np.frombuffer(base64.b64decode(moved["y"]["bdata"]), dtype="<f4").reshape(-1, moved["points"])
    assert_allclose(rows[moved["row"][index]], curve(after.loss_figure, "tversky")[1], rtol=1e-7)


# ---------------------------------------------------------------- bad input, CSV and code


def raw_controls(current: ViewState) -> tuple[dict, list, dict]:
    return ({c.name: str(current.numbers[c.name]) for c in VIEW.numbers}, list(current.losses),
            dict(current.extras))


@pytest.mark.parametrize(("name", "typed", "fragments"), [
    ("x", "1", ("Object probability x", "out of range", "strictly between 0 and 1")),
    ("x", "abc", ("Object probability x", "not a number")),
    ("background", "1e9", ("Background pixels m", "out of range", "from 0 to 2,000")),
    ("background", "10.5", ("Background pixels m", "not a whole number")),
    ("foreground", "0", ("Object pixels k", "out of range", "from 1 to 100")),
    ("background_probability", "-0.1", ("Background probability b", "out of range")),
    ("bce_weight", "2", ("BCE weight α", "out of range", "from 0 to 1")),
    ("smooth", "0", ("Smoothing s", "out of range", "greater than 0")),
])
def test_bad_input_gets_its_message_and_keeps_the_charts(name, typed, fragments):
    numbers, losses, extras = raw_controls(DEFAULT)
    numbers[name] = typed
    result = callbacks.update_view(VIEW, numbers, losses, VIEW.encode_query(DEFAULT), **extras)
    assert all(fragment in result[f"message:{name}"] for fragment in fragments), result[f"message:{name}"]
    assert all(result[key] is dash.no_update for key in callbacks.chart_keys(VIEW))


def test_good_input_draws_and_clears_every_message():
    numbers, losses, extras = raw_controls(DEFAULT)
    numbers["background"] = "1000"
    result = callbacks.update_view(VIEW, numbers, losses, VIEW.encode_query(DEFAULT), **extras)
    assert all(result[key] == "" for key in callbacks.message_keys(VIEW))
    assert "background=1000&" in result["query"]
    assert result["lesson"].startswith("The object is 5 of 1005 pixels")


@pytest.mark.parametrize("query", [*QUERIES, "?check=on", "?check=on&axis=logit&" + QUERIES[1][1:]])
def test_code_snippet_recomputes_the_csv_columns(query):
    current = state(query)
    snippet = VIEW.code_snippet(current)
    namespace: dict = {}
    exec(compile(snippet, "<segmentation snippet>", "exec"), namespace)
    table = export.read_csv(VIEW.export_csv(current))
    assert_array_equal(namespace["x"], table["x"])
    assert set(namespace["columns"]) == set(table) - {"x"}
    for column, values in namespace["columns"].items():
        assert_allclose(np.asarray(values, dtype=np.float64), table[column], rtol=1e-15, atol=0, err_msg=column)
    assert any(column.endswith("(finite difference)") for column in table) == ("check=on" in query)


ALL = "&losses=soft_dice,soft_iou,tversky,focal_tversky,combo,bce"
# On the x axis BCE's gradient -k/(nx) is singular just before the axis's start (x = 0), and focal
# Tversky's just past its end on a clean background (x = 1, b = 0: T -> 0 with γ < 1): Simpson's
# estimate is off there by a few percent. Elsewhere a right gradient leaves only O(dx^4).
SINGULAR_ON_X = {"bce": 0.1, "combo": 0.1, "focal_tversky": 0.01}


@pytest.mark.parametrize(("query", "singular"), [
    ("?check=on" + ALL, SINGULAR_ON_X),
    ("?check=on&background_probability=0.1" + ALL, {"bce": 0.1, "combo": 0.1}),
    ("?check=on&axis=logit" + ALL, {}),
    ("?check=on&axis=logit&background_probability=0.1&foreground=30&smooth=0.05" + ALL, {}),
])
def test_gradient_check_agrees_with_finite_differences(query, singular):
    out = VIEW.build(state(query))
    checks = out.grad_figure["layout"]["meta"]["gradient_check"]
    assert set(checks) == set(EVERY_LOSS)
    for key, value in checks.items():
        assert value < singular.get(key, 1e-6), (key, checks)
    assert "Gradient check" in out.readout.note


def test_every_chooser_preset_opens_cleanly_with_distinct_curves():
    for _task, _activation, _loss, query in VIEW.chooser_rows:
        out = VIEW.build(state(query))
        drawn = [decode(t["y"]) for t in out.loss_figure["data"] if t.get("meta") != "marker"]
        for first in range(len(drawn)):
            for second in range(first + 1, len(drawn)):
                assert not np.allclose(drawn[first], drawn[second]), query


def test_alpha_on_a_clean_background_says_why_nothing_moves():
    """α weighs the false positives, which all sit on the background: with b = 0 there are none
    (FP = m·b = 0), so α moved nothing (▶ on α swept a still chart) and nothing said why."""
    row = np.array([0.5] * 5 + [0.0] * 245)
    target = np.array([1.0] * 5 + [0.0] * 245)
    losses = {losslab.tversky(row, target, alpha=a, beta=0.7) for a in (0.0, 0.3, 0.9, 1e6)}
    assert len(losses) == 1  # the premise: α changes nothing at b = 0
    clean = VIEW.parse_query("?background_probability=0&alpha=0.9")
    note = VIEW.idle_control_notes(clean, frozenset({"alpha"}))["alpha"]
    assert "background probability b is 0" in note and "false positives" in note, note
    assert "alpha" not in VIEW.idle_control_notes(VIEW.parse_query("?background_probability=0.05&alpha=0.9"),
                                                  frozenset({"alpha"}))
    # unticked Tversky: the generic note stays
    unticked = VIEW.parse_query("?losses=soft_dice&alpha=0.9")
    assert "tick it" in VIEW.idle_control_notes(unticked, frozenset({"alpha"}))["alpha"]
