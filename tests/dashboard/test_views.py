"""Pure view functions and update plans (``losslab.dashboard.views``)."""

from __future__ import annotations

import base64
import itertools
import math
import re
from dataclasses import replace

import numpy as np
import pytest
from numpy.testing import assert_allclose

from losslab import registry
from losslab.dashboard import views
from losslab.dashboard.views import UpdatePlan, default_state, parse_query, update_plan
from losslab.dashboard.views import binary as binary_view


def decode(typed: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(typed["bdata"]), dtype="<f8")


def curve_at(trace: dict, x: float) -> float:
    """The curve's value at x by linear interpolation over its x0/dx grid."""
    y = decode(trace["y"])
    xs = trace["x0"] + trace["dx"] * np.arange(y.size)
    return float(np.interp(x, xs, y))


def markers(figure: dict) -> list[dict]:
    found = [t for t in figure["data"] if t.get("meta") == "marker"]
    assert found, "no marker trace"
    return found


def curves_of(figure: dict) -> list[dict]:
    return [t for t in figure["data"] if t.get("meta") != "marker"]


def marker_by_label(figure: dict) -> dict[str, float]:
    """Marker height per loss label, over every marker trace (one, or one per panel)."""
    heights = {}
    for marker in markers(figure):
        heights |= dict(zip(marker["text"], marker["y"], strict=True))
    return heights


def marker_xs(figure: dict) -> list[float]:
    return [x for marker in markers(figure) for x in marker["x"]]


def sig(z):
    return 1 / (1 + math.exp(-z))


def softmax(z):
    z = np.asarray(z, dtype=float)
    w = np.exp(z - z.max())
    return w / w.sum()


def regression_state(**numbers):
    base = default_state("regression")
    losses = numbers.pop("losses", base.losses)
    return replace(base, numbers=dict(base.numbers, **numbers), losses=tuple(losses))


def binary_state(axis="logit", losses=("bce", "sigmoid_mse"), panels="columns", **numbers):
    base = default_state("binary")
    return replace(base, numbers=dict(base.numbers, **numbers), losses=tuple(losses)).with_extras(
        axis=axis, panels=panels)


def multiclass_state(logits=(2.0, 1.0, 0.1, -1.0), losses=("cross_entropy", "brier"), **numbers):
    base = default_state("multiclass")
    return replace(base, numbers=dict(base.numbers, **numbers), losses=tuple(losses)).with_extras(logits=tuple(logits))


def assert_formulas_cover(markdown: str, keys, link_space: bool):
    for key in keys:
        spec = registry.get(key)
        assert spec.latex_loss in markdown, key
        assert spec.latex_grad in markdown, key
        if link_space and spec.latex_grad_logit:
            assert spec.latex_grad_logit in markdown, key


# ---------------------------------------------------------------- regression_view


def test_regression_view_outputs():
    state = regression_state(target=0.5, prediction=2.0, delta=0.8, tau=0.3,
                             losses=("mse", "mae", "huber", "log_cosh", "quantile"))
    out = views.build(state)
    assert parse_query("regression", out.query) == state
    r = 1.5
    expected = {
        "mse": (r**2, 2 * r),
        "mae": (abs(r), 1.0),
        "huber": (0.8 * (abs(r) - 0.4), 0.8),
        "log_cosh": (math.log(math.cosh(r)), math.tanh(r)),
        "quantile": (max(0.3 * -r, (0.3 - 1) * -r), 1 - 0.3),
    }
    rows = {row.key: row for row in out.readout.rows}
    assert list(rows) == list(state.losses)
    for key, (loss, grad) in expected.items():
        assert rows[key].loss == pytest.approx(loss, rel=1e-12), key
        assert rows[key].grad_prediction == pytest.approx(grad, rel=1e-12), key
        assert rows[key].grad_logit == pytest.approx(grad, rel=1e-12), key
    assert out.readout.prediction_value == 2.0
    assert_formulas_cover(out.formulas, state.losses, link_space=False)
    # markers sit on their curves
    for fig, idx in ((out.loss_figure, 0), (out.grad_figure, 1)):
        marks = marker_by_label(fig)
        for trace in curves_of(fig):
            if trace["meta"] in ("mae", "quantile") and idx == 1:
                continue  # step functions: interpolation across the jump is meaningless
            assert marks[trace["name"]] == pytest.approx(curve_at(trace, 2.0), rel=2e-3, abs=1e-3), trace["meta"]
        assert marker_xs(fig) == [2.0] * len(state.losses)


def test_regression_view_formulas_only_for_selected():
    out = views.build(regression_state(losses=("mse",)))
    assert registry.get("mse").latex_loss in out.formulas
    assert registry.get("huber").latex_loss not in out.formulas
    assert [t["meta"] for t in out.loss_figure["data"]] == ["mse", "marker"]


# ---------------------------------------------------------------- binary_view


@pytest.mark.parametrize("axis", ["logit", "prob"])
def test_binary_view_readout_and_marker_on_the_grad_curve(axis):
    p, y = 0.99, 0.0
    state = binary_state(axis=axis, label=y, probability=p)
    out = views.build(state)
    assert parse_query("binary", out.query) == state
    rows = {r.key: r for r in out.readout.rows}
    assert rows["bce"].loss == pytest.approx(-math.log(1 - p), rel=1e-10)
    assert rows["bce"].grad_logit == pytest.approx(p - y, rel=1e-10)
    assert rows["bce"].grad_prediction == pytest.approx((p - y) / (p * (1 - p)), rel=1e-8)
    assert rows["sigmoid_mse"].grad_logit == pytest.approx(2 * (p - y) * p * (1 - p), rel=1e-8)
    marker_x = math.log(p / (1 - p)) if axis == "logit" else p
    marks = marker_by_label(out.grad_figure)
    # the gradient chart plots dL/dz on the logit axis and dL/dp on the probability axis;
    # its marker must be the same quantity
    if axis == "logit":
        assert marks["BCE"] == pytest.approx(p - y, rel=1e-9)
        assert marks["MSE on sigmoid"] == pytest.approx(2 * (p - y) * p * (1 - p), rel=1e-8)
    else:
        assert marks["BCE"] == pytest.approx((p - y) / (p * (1 - p)), rel=1e-8)
        assert marks["MSE on sigmoid"] == pytest.approx(2 * (p - y), rel=1e-9)
    for trace in curves_of(out.grad_figure):
        assert marks[trace["name"]] == pytest.approx(curve_at(trace, marker_x), rel=2e-2), trace["meta"]
    assert marker_xs(out.grad_figure) == pytest.approx([marker_x] * 2, rel=1e-12)
    loss_marks = marker_by_label(out.loss_figure)
    assert loss_marks["BCE"] == pytest.approx(-math.log(1 - p), rel=1e-10)


def test_binary_view_chapter_lesson_text():
    out = views.build(binary_state(label=0.0, probability=0.99))
    assert "|dBCE/dz| = 0.99," in out.lesson
    assert "|dMSE/dz| = 0.0196" in out.lesson
    assert "saturated" in out.lesson  # ratio 0.99 / 0.0196 ≈ 50 >= 10
    calm = views.build(binary_state(label=0.0, probability=0.5))
    assert "similar size" in calm.lesson


def test_binary_lesson_when_the_model_is_right_does_not_claim_saturation():
    """Issue 17 bug 2: at p̂ = 0.01, y = 0 the model is right; BCE is not 'still strong'."""
    for p in (0.01, 1e-20):
        lesson = views.build(binary_state(label=0.0, probability=p)).lesson
        assert "saturated" not in lesson and "still" not in lesson, lesson
        assert "right" in lesson, lesson
        assert "0.0000" not in lesson, lesson  # tiny gradients keep their significant digits
    lesson = views.build(binary_state(label=0.0, probability=1e-20)).lesson
    assert "1e-20" in lesson


def test_binary_lesson_when_confidently_wrong_names_the_ratio():
    lesson = views.build(binary_state(label=1.0, probability=0.01)).lesson
    assert "wrong" in lesson and "saturated" in lesson
    assert "50" in lesson  # |dBCE/dz| / |dMSE/dz| = 1 / (2 p (1 - p)) = 50.5


def test_binary_lesson_keeps_a_probability_near_one_distinguishable_from_one():
    lesson = views.build(binary_state(label=0.0, probability=0.9999999)).lesson
    assert re.search(r"p̂ = 1(?! −)", lesson) is None, lesson
    assert "1 − 1e-07" in lesson


def test_binary_lesson_speaks_only_of_the_selected_losses():
    lesson = views.build(binary_state(label=1.0, probability=0.01, losses=("focal", "hinge"))).lesson
    assert "|dBCE" not in lesson and "|dMSE" not in lesson and "saturated" not in lesson, lesson
    assert "Focal" in lesson and "Hinge" in lesson


def test_binary_view_formulas_include_logit_gradient():
    keys = ("bce", "sigmoid_mse", "focal", "hinge")
    out = views.build(binary_state(label=1.0, losses=keys))
    assert_formulas_cover(out.formulas, keys, link_space=True)
    assert [r.key for r in out.readout.rows] == list(keys)


@pytest.mark.parametrize("label", [0.3, 0.5, 0.999])
def test_binary_view_drops_hinge_for_a_soft_label(label):
    state = binary_state(label=label, losses=("bce", "hinge"))
    out = views.build(state)
    assert [r.key for r in out.readout.rows] == ["bce"]
    assert [t["meta"] for t in out.loss_figure["data"]] == ["bce", "marker"]
    assert [t["meta"] for t in out.grad_figure["data"]] == ["bce", "marker"]
    assert registry.get("hinge").latex_loss not in out.formulas
    assert registry.get("bce").latex_loss in out.formulas
    assert parse_query("binary", out.query).losses == ("bce", "hinge")  # the selection itself is kept


@pytest.mark.parametrize("label", [0.0, 1.0])
def test_binary_view_keeps_hinge_for_a_hard_label(label):
    out = views.build(binary_state(label=label, losses=("bce", "hinge")))
    assert [r.key for r in out.readout.rows] == ["bce", "hinge"]
    z = math.log(0.99 / 0.01)
    t = 2 * label - 1
    assert out.readout.rows[1].loss == pytest.approx(max(0.0, 1 - t * z), rel=1e-10)


def test_usable_binary_losses():
    assert binary_view.usable_binary_losses(("bce", "hinge"), 0.2) == ("bce",)
    assert binary_view.usable_binary_losses(("bce", "hinge"), 1.0) == ("bce", "hinge")


# ---------------------------------------------------------------- multiclass_view


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_multiclass_view_outputs(temperature):
    logits = (2.0, 1.0, 0.1, -1.0)
    true_class, swept = 0, 1
    keys = ("cross_entropy", "kl_divergence", "brier")
    state = multiclass_state(logits, keys, true_class=true_class, swept_class=swept, temperature=temperature)
    out = views.build(state)
    assert parse_query("multiclass", out.query) == state
    p = softmax(np.array(logits) / temperature)
    y = np.eye(4)[true_class]
    rows = {r.key: r for r in out.readout.rows}
    assert rows["cross_entropy"].loss == pytest.approx(-math.log(p[0]), rel=1e-10)
    assert rows["kl_divergence"].loss == pytest.approx(-math.log(p[0]), rel=1e-10)
    assert rows["brier"].loss == pytest.approx(((p - y) ** 2).sum(), rel=1e-10)
    assert rows["cross_entropy"].grad_logit == pytest.approx((p[swept] - y[swept]) / temperature, rel=1e-10)
    assert out.readout.prediction_value == logits[swept]
    assert_formulas_cover(out.formulas, keys, link_space=True)
    # sweep grad chart plots dL/dz_k; its marker must be dL/dz_k and lie on the curve
    marks = marker_by_label(out.grad_figure)
    assert marks["Cross-entropy"] == pytest.approx((p[swept] - y[swept]) / temperature, rel=1e-9)
    for trace in curves_of(out.grad_figure):
        assert marks[trace["name"]] == pytest.approx(curve_at(trace, logits[swept]), rel=1e-2), trace["meta"]
    for trace in curves_of(out.loss_figure):
        assert marker_by_label(out.loss_figure)[trace["name"]] == pytest.approx(
            curve_at(trace, logits[swept]), rel=1e-2)
    # class charts
    assert_allclose(decode(out.probability_figure["data"][0]["y"]), p, rtol=1e-12)
    assert_allclose(decode(out.class_grad_figure["data"][0]["y"]), (p - y) / temperature, rtol=1e-12, atol=1e-15)
    assert out.class_grad_figure["layout"]["yaxis"]["range"] == pytest.approx([-1.1 / temperature, 1.1 / temperature])
    colours = out.probability_figure["data"][0]["marker"]["color"]
    assert colours.count(colours[true_class]) == 1


def test_multiclass_view_stability_rows_show_naive_nan():
    out = views.build(multiclass_state((1000.0, 999.0, 998.0), true_class=0, swept_class=0))
    w = np.exp([0.0, -1.0, -2.0])
    stable = w / w.sum()
    assert len(out.stability_rows) == 3
    for k, (cls, naive, stable_text) in enumerate(out.stability_rows):
        assert cls == str(k)
        assert naive == "nan"
        assert float(stable_text) == pytest.approx(stable[k], abs=1e-8)


# ---------------------------------------------------------------- update_plan


def test_plan_full_without_previous_or_other_view():
    state = regression_state()
    assert update_plan(None, state).full
    assert update_plan(default_state("binary"), state).full


def test_plan_marker_only_when_only_prediction_changes():
    before = regression_state(prediction=1.0)
    after = regression_state(prediction=2.0)
    assert update_plan(before, after) == UpdatePlan(full=False, shift=False, redraw=frozenset())
    assert update_plan(after, after) == UpdatePlan(full=False)
    b1, b2 = binary_state(probability=0.3), binary_state(probability=0.7)
    assert update_plan(b1, b2) == UpdatePlan(full=False)


def test_plan_shift_for_regression_target():
    plan = update_plan(regression_state(target=0.0), regression_state(target=1.0))
    assert plan == UpdatePlan(full=False, shift=True, redraw=frozenset())


def test_shift_plan_is_right_curves_only_move_sideways():
    """Regression losses depend on ŷ − y, so a target change only changes x0."""
    a = views.build(regression_state(target=0.0))
    b = views.build(regression_state(target=1.25))
    for ta, tb in zip(curves_of(a.loss_figure), curves_of(b.loss_figure), strict=True):
        assert_allclose(decode(ta["y"]), decode(tb["y"]), rtol=1e-9, atol=1e-12)
        assert tb["x0"] == pytest.approx(ta["x0"] + 1.25)


def test_plan_redraws_only_huber_for_delta():
    before = regression_state(delta=1.0, losses=("mse", "huber", "quantile"))
    after = regression_state(delta=2.0, losses=("mse", "huber", "quantile"))
    assert update_plan(before, after) == UpdatePlan(full=False, shift=False, redraw=frozenset({"huber"}))
    after_tau = regression_state(tau=0.9, losses=("mse", "huber", "quantile"))
    assert update_plan(before, after_tau).redraw == frozenset({"quantile"})


def test_plan_delta_change_without_huber_redraws_nothing():
    before = regression_state(delta=1.0, losses=("mse",))
    after = regression_state(delta=3.0, losses=("mse",))
    assert update_plan(before, after) == UpdatePlan(full=False)


def test_plan_for_loss_or_axis_change():
    # New curves on the same axes: traces are replaced and the layout (the user's zoom) stays.
    overlay = update_plan(regression_state(losses=("mse",)), regression_state(losses=("mse", "mae")))
    assert overlay == UpdatePlan(full=False, replace_traces=True)
    # One panel per loss: the subplots change, so the figure is rebuilt.
    assert update_plan(binary_state(losses=("bce",)), binary_state(losses=("bce", "focal"))).full
    assert update_plan(binary_state(axis="logit"), binary_state(axis="prob")).full


def test_plan_binary_label_and_gamma():
    keys = ("bce", "focal", "hinge")
    label_flip = update_plan(binary_state(label=0.0, losses=keys), binary_state(label=1.0, losses=keys))
    assert label_flip == UpdatePlan(full=False, redraw=frozenset(keys))
    soft = update_plan(binary_state(label=0.0, losses=keys), binary_state(label=0.5, losses=keys))
    assert soft.full  # hinge disappears
    gamma = update_plan(binary_state(gamma=2.0, losses=keys), binary_state(gamma=1.0, losses=keys))
    assert gamma == UpdatePlan(full=False, redraw=frozenset({"focal"}))


def test_plan_multiclass_moving_swept_logit_is_marker_only():
    before = multiclass_state((2.0, 1.0, 0.1, -1.0), swept_class=0)
    after = multiclass_state((3.5, 1.0, 0.1, -1.0), swept_class=0)
    assert update_plan(before, after) == UpdatePlan(full=False)


def test_marker_only_plan_is_right_for_the_sweep_charts():
    """Moving only the swept logit leaves every sweep curve unchanged (the premise of the plan)."""
    a = views.build(multiclass_state((2.0, 1.0, 0.1, -1.0), swept_class=0))
    b = views.build(multiclass_state((3.5, 1.0, 0.1, -1.0), swept_class=0))
    for fa, fb in ((a.loss_figure, b.loss_figure), (a.grad_figure, b.grad_figure)):
        for ta, tb in zip(curves_of(fa), curves_of(fb), strict=True):
            assert ta == tb


def test_plan_multiclass_moving_another_logit_redraws():
    keys = ("cross_entropy", "brier")
    before = multiclass_state((2.0, 1.0, 0.1, -1.0), keys, swept_class=0)
    after = multiclass_state((2.0, 1.5, 0.1, -1.0), keys, swept_class=0)
    assert update_plan(before, after) == UpdatePlan(full=False, shift=True, redraw=frozenset(keys))


@pytest.mark.parametrize(
    ("change", "full"),
    [({"true_class": 2}, False), ({"temperature": 3.0}, False), ({"swept_class": 2}, True)],
)
def test_plan_multiclass_other_numbers(change, full):
    keys = ("cross_entropy",)
    before = multiclass_state(losses=keys)
    after = replace(before, numbers=dict(before.numbers, **change))
    plan = update_plan(before, after)
    assert plan.full is full
    if not full:
        assert plan.redraw == frozenset(keys)


def test_plan_multiclass_logit_count_change_is_full():
    assert update_plan(multiclass_state((1.0, 2.0, 3.0)), multiclass_state((1.0, 2.0, 3.0, 4.0))).full


@pytest.mark.parametrize("probability", [0.3, 1e-300, 1e-310])
def test_focal_with_gamma_0_reads_out_as_bce(probability):
    """γ = 0 turns focal into BCE; the readout must agree at every valid p̂ (the control accepts 1e-310)."""
    import warnings

    state = binary_state(label=0.0, probability=probability, gamma=0.0, losses=("bce", "focal"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # report the value, not the warning
        rows = {r.key: r for r in views.build(state).readout.rows}
    p = probability
    assert rows["focal"].loss == pytest.approx(-math.log1p(-p), rel=1e-9, abs=1e-320)
    assert rows["focal"].grad_logit == pytest.approx(p, rel=1e-6, abs=1e-320), "dL/dz = p̂ − y"
    assert rows["focal"].grad_prediction == pytest.approx(1 / (1 - p), rel=1e-6), "dL/dp̂ = (p̂ − y) / (p̂(1 − p̂))"


# ---------------------------------------------------------------- a marker is never off-chart (issue 17 bug 6)


def swept_range(figure: dict) -> tuple[float, float]:
    options = figure["layout"]["xaxis"]["autorangeoptions"]
    return options["minallowed"], options["maxallowed"]


def assert_marker_on_chart(out, marker_x: float):
    for figure in (out.loss_figure, out.grad_figure):
        low, high = swept_range(figure)
        assert low < marker_x < high, (low, marker_x, high)
        for trace in curves_of(figure):
            end = trace["x0"] + trace["dx"] * (decode(trace["y"]).size - 1)
            assert trace["x0"] < marker_x < end, (trace["meta"], trace["x0"], marker_x, end)


@pytest.mark.parametrize("prediction", [12.0, -40.0, 1e6, 4.5])
def test_regression_sweep_follows_a_prediction_outside_the_default_range(prediction):
    assert_marker_on_chart(views.build(regression_state(target=0.0, prediction=prediction)), prediction)


@pytest.mark.parametrize("probability", [0.9999, 1e-5, 1 - 1e-9])
@pytest.mark.parametrize("axis", ["logit", "prob"])
def test_binary_sweep_follows_a_probability_beyond_the_default_range(probability, axis):
    out = views.build(binary_state(axis=axis, probability=probability, panels="overlay"))
    marker_x = probability if axis == "prob" else math.log(probability / (1 - probability))
    assert_marker_on_chart(out, marker_x)


def test_multiclass_sweep_follows_a_swept_logit_far_from_the_others():
    out = views.build(multiclass_state(logits=(40.0, 1.0, 0.0), swept_class=0))
    assert_marker_on_chart(out, 40.0)


def test_moving_the_prediction_past_the_sweep_redraws_the_curves():
    previous = regression_state(prediction=1.5)
    plan = update_plan(previous, regression_state(prediction=12.0))
    assert plan.shift and plan.redraw == frozenset(previous.losses)
    assert update_plan(previous, regression_state(prediction=2.5)) == UpdatePlan(full=False)


# ---------------------------------------------------------------- what the readout and presets say (issue 17)


def readout_headings(out) -> list[str]:
    from losslab.dashboard import tables

    table = tables.readout_table(out.readout)
    head = table["props"]["children"][1]["props"]["children"]
    return [cell["props"]["children"] for cell in head["props"]["children"]]


def test_readout_shows_only_gradients_that_mean_something_for_the_view():
    assert readout_headings(views.build(regression_state())) == ["loss", "L", "dL/dŷ"]
    assert readout_headings(views.build(binary_state(axis="logit"))) == ["loss", "L", "dL/dz"]
    assert readout_headings(views.build(binary_state(axis="prob"))) == ["loss", "L", "dL/dp̂", "dL/dz"]


def test_label_smoothing_separates_kl_from_cross_entropy_by_the_target_entropy():
    eps, logits = 0.3, (2.0, 1.0, 0.1, -1.0)
    state = multiclass_state(logits=logits, losses=("cross_entropy", "kl_divergence"), smoothing=eps)
    out = views.build(state)
    target = np.full(4, eps / 4)
    target[0] += 1 - eps
    entropy = -(target * np.log(target)).sum()
    rows = {r.key: r for r in out.readout.rows}
    assert rows["cross_entropy"].loss - rows["kl_divergence"].loss == pytest.approx(entropy, rel=1e-12)
    assert rows["cross_entropy"].grad_logit == pytest.approx(rows["kl_divergence"].grad_logit, rel=1e-12)
    assert f"{entropy:.4g}" in out.target_note
    ce, kl = (decode(trace["y"]) for trace in curves_of(out.loss_figure))
    assert_allclose(ce - kl, entropy, rtol=1e-10)
    p = softmax(logits)
    assert_allclose(decode(out.class_grad_figure["data"][0]["y"]), p - target, atol=1e-15)
    one_hot = views.build(multiclass_state(losses=("cross_entropy", "kl_divergence"))).target_note
    assert "same curve" in one_hot and "-0" not in one_hot


@pytest.mark.parametrize("name", ["regression", "binary", "multiclass"])
def test_every_chooser_preset_opens_a_point_where_its_losses_differ(name):
    view = views.get(name)
    for _task, _activation, _loss, query in view.chooser_rows:
        state = view.parse_query(query)
        assert not state.notices, (query, state.notices)
        out = view.build(state)
        loss_curves = [decode(t["y"]) for t in curves_of(out.loss_figure)]
        for a, b in itertools.pairwise(loss_curves):
            assert not np.allclose(a, b), query  # two losses drawn as one curve teach nothing


# ---------------------------------------------------------------- gradient check (issue 14)


@pytest.mark.parametrize("query", ["?check=on&losses=mse,mae,huber,log_cosh,quantile", "?check=on&panels=overlay"
                                   "&losses=bce,sigmoid_mse,focal,hinge&label=1", "?check=on&axis=prob",
                                   "?check=on&losses=cross_entropy,kl_divergence,brier&smoothing=0.1"])
def test_gradient_check_overlays_central_differences_that_match_the_gradient(query):
    name = "binary" if "label" in query or "axis" in query else "multiclass" if "cross" in query else "regression"
    view = views.get(name)
    out = view.build(view.parse_query(query))
    loss_curves = {t["meta"]: t for t in curves_of(out.loss_figure)}
    overlays = [t for t in out.grad_figure["data"] if str(t.get("meta")).startswith("fd:")]
    assert {t["meta"][3:] for t in overlays} == set(loss_curves)
    for overlay in overlays:
        loss = decode(loss_curves[overlay["meta"][3:]]["y"])
        by_hand = (loss[2:] - loss[:-2]) / (2 * overlay["dx"])  # the central difference, computed here
        assert overlay["x0"] == loss_curves[overlay["meta"][3:]]["x0"]  # on the loss curve's grid ...
        drawn = decode(overlay["y"])
        assert np.isnan(drawn[0]) and np.isnan(drawn[-1])  # ... with no difference at its two ends
        assert_allclose(drawn[1:-1], by_hand, rtol=1e-12, atol=1e-300)
    checks = out.grad_figure["layout"]["meta"]["gradient_check"]
    kinked = {"mae", "quantile", "hinge", "huber"}  # a kink between grid points is a real misfit
    # On the p̂ axis BCE's gradient is singular just past the grid's ends; elsewhere a right gradient
    # leaves only Simpson's O(dx^4) error.
    tolerance = 0.05 if "axis=prob" in query else 1e-5
    assert all(value < tolerance for key, value in checks.items() if key not in kinked), checks
    assert "Gradient check" in out.readout.note


def test_gradient_check_would_catch_a_wrong_gradient():
    from losslab.dashboard import figures

    out = views.build(regression_state(losses=("mse",)))
    wrong = {**out.grad_figure, "data": [dict(t) for t in out.grad_figure["data"]]}
    mse = next(t for t in wrong["data"] if t.get("meta") == "mse")
    mse["y"] = figures.typed_array(decode(mse["y"]) * 0.5)  # half the true derivative
    _, checks = figures.with_gradient_check(out.loss_figure, wrong)
    assert checks["mse"] > 0.1
