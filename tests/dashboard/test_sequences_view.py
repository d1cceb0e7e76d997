"""The /sequences view through its own functions: charts against closed forms and PyTorch, the
alignment tables against a brute-force enumeration, URL state, inline messages, CSV and code.

Expected values come from outside the view: closed forms of cross-entropy with V − 1 rivals at 0,
torch.nn.functional.ctc_loss with autograd through log_softmax, and every class sequence of the
example's 4 frames collapsed by hand.
"""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from dash import no_update

from losslab import sequence
from losslab.dashboard import callbacks, export
from losslab.dashboard.figures import decoded
from losslab.dashboard.views.base import family
from losslab.dashboard.views.sequences import EXAMPLE_LOGITS, IDS, TARGETS, VIEW

FRAMES = 4


def state(query: str = ""):
    parsed = VIEW.parse_query(query)
    assert not parsed.notices, parsed.notices
    return parsed


def curve(figure: dict, meta: str) -> tuple[np.ndarray, np.ndarray]:
    (trace,) = [t for t in figure["data"] if t.get("meta") == meta]
    y = decoded(trace["y"])
    return trace["x0"] + trace["dx"] * np.arange(y.size), y


def marker(figure: dict) -> tuple[list, list]:
    (trace,) = [t for t in figure["data"] if t.get("meta") == "marker"]
    return trace["x"], trace["y"]


def collapse(path):
    merged = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
    return tuple(c for c in merged if c != 0)


def texts(element) -> list[str]:
    """Every string in a wire-format table, depth first."""
    if isinstance(element, str):
        return [element]
    if isinstance(element, dict):
        return texts(element.get("props", {}).get("children"))
    if isinstance(element, list):
        return [text for child in element for text in texts(child)]
    return []


def rows_of(table: dict) -> list[list[str]]:
    body = next(child for child in table["props"]["children"] if child["type"] == "Tbody")
    return [texts(row) for row in body["props"]["children"]]


# ---------------------------------------------------------------- next-token charts


def plain_ce(z, vocabulary):
    """-log p of the true token with V - 1 rivals at 0, and its derivative p - 1."""
    log_p = -np.logaddexp(0.0, math.log(vocabulary - 1) - z)
    return -log_p, np.exp(log_p) - 1


def smoothed_ce(z, vocabulary, epsilon):
    log_p = -np.logaddexp(0.0, math.log(vocabulary - 1) - z)
    log_rival = log_p - z  # softmax of a rival: e^0 / (e^z + V - 1)
    q = 1 - epsilon + epsilon / vocabulary
    loss = -q * log_p - (vocabulary - 1) * (epsilon / vocabulary) * log_rival
    return loss, np.exp(log_p) - q


@pytest.mark.parametrize(("query", "vocabulary", "epsilon"), [("", 10, 0.1), ("?vocab=1000&epsilon=0.3&z=-4", 1000, 0.3),
                                                             ("?vocab=2&epsilon=0", 2, 0.0)])
def test_next_token_curves_are_the_closed_forms(query, vocabulary, epsilon):
    out = VIEW.build(state(query))
    x, loss = curve(out.loss_figure, "plain_ce")
    expected_loss, expected_grad = plain_ce(x, vocabulary)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(curve(out.grad_figure, "plain_ce")[1], expected_grad, rtol=1e-12, atol=1e-16)
    expected_loss, expected_grad = smoothed_ce(x, vocabulary, epsilon)
    np.testing.assert_allclose(curve(out.loss_figure, "smoothed_ce")[1], expected_loss, rtol=1e-12)
    np.testing.assert_allclose(curve(out.grad_figure, "smoothed_ce")[1], expected_grad, rtol=1e-10, atol=1e-15)


def test_the_markers_sit_on_the_curves_at_the_controls_values():
    out = VIEW.build(state("?z=3.5&ctc_logit=-2&frame=2&label=0"))
    xs, ys = marker(out.loss_figure)
    assert xs == [3.5, 3.5]
    np.testing.assert_allclose(ys, [plain_ce(3.5, 10)[0], smoothed_ce(3.5, 10, 0.1)[0]], rtol=1e-12)
    xs, ys = marker(out.ctc_grad_figure)
    assert xs == [-2.0]
    logits = torch.tensor(EXAMPLE_LOGITS, dtype=torch.float64)
    logits[2, 0] = -2.0
    leaf = logits.requires_grad_()
    F.ctc_loss(torch.log_softmax(leaf, -1), torch.tensor([1, 2]), torch.tensor(4), torch.tensor(2),
               reduction="sum").backward()
    assert ys[0] == pytest.approx(leaf.grad[2, 0].item(), rel=1e-12)


def test_the_lesson_names_the_best_logit_where_the_smoothed_gradient_vanishes():
    out = VIEW.build(state("?epsilon=0.2&vocab=50"))
    best = math.log(1 + 50 * 0.8 / 0.2)
    assert f"z* = log(1 + V(1 − ε)/ε) = {best:.4g}" in out.lesson
    assert abs(smoothed_ce(best, 50, 0.2)[1]) < 1e-15
    x, grad = curve(out.grad_figure, "smoothed_ce")
    assert np.all(grad[x < best - 0.1] < 0) and np.all(grad[x > best + 0.1] > 0)
    assert "never stops" in out.lesson and "without end" in VIEW.build(state("?epsilon=0")).lesson


# ---------------------------------------------------------------- CTC charts


def torch_ctc_slice(values, t, k, target):
    """PyTorch's CTC loss and dL/dz[t, k] of the example with z[t, k] set to each value."""
    batch = torch.tensor(EXAMPLE_LOGITS, dtype=torch.float64)[:, None, :].repeat(1, len(values), 1)
    batch[t, :, k] = torch.tensor(values)
    leaf = batch.requires_grad_()
    losses = F.ctc_loss(torch.log_softmax(leaf, -1), torch.tensor([target] * len(values)),
                        torch.full((len(values),), FRAMES), torch.full((len(values),), len(target)), reduction="none")
    losses.sum().backward()
    return losses.detach().numpy(), leaf.grad[t, :, k].numpy()


@pytest.mark.parametrize(("query", "t", "k", "target"), [("", 1, 1, "ab"), ("?frame=0&label=2&target=aa", 0, 2, "aa"),
                                                        ("?frame=3&label=0&target=aba&ctc_logit=12", 3, 0, "aba"),
                                                        ("?frame=2&label=1&target=ba", 2, 1, "ba")])
def test_ctc_curves_are_torchs_loss_and_autograd_gradient(query, t, k, target):
    out = VIEW.build(state(query))
    x, loss = curve(out.ctc_loss_figure, "ctc")
    expected_loss, expected_grad = torch_ctc_slice(x, t, k, list(TARGETS[target]))
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-12)
    grad = curve(out.ctc_grad_figure, "ctc")[1]
    assert np.max(np.abs(grad - expected_grad)) <= 1e-12 * np.max(np.abs(expected_grad))
    assert f"z[{t}, " in out.ctc_grad_figure["layout"]["xaxis"]["title"]["text"]


def test_ctc_curve_is_the_brute_force_sum_over_every_path_at_a_few_points():
    out = VIEW.build(state())
    x, loss = curve(out.ctc_loss_figure, "ctc")
    for i in (0, 100, 150, 300):
        logits = np.array(EXAMPLE_LOGITS)
        logits[1, 1] = x[i]
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        total = math.fsum(math.prod(p[t, c] for t, c in enumerate(path))
                          for path in itertools.product(range(3), repeat=FRAMES) if collapse(path) == (1, 2))
        assert loss[i] == pytest.approx(-math.log(total), rel=1e-13)


def test_a_logit_no_alignment_uses_makes_the_loss_grow_linearly():
    # 'b' at frame 0: no alignment of "ab" starts with b, so as z[0, b] grows every alignment loses p_0(b)
    out = VIEW.build(state("?frame=0&label=2"))
    grad = curve(out.ctc_grad_figure, "ctc")[1]
    assert np.all(grad > 0) and grad[-1] == pytest.approx(1.0, abs=1e-3)  # p - gamma -> 1 - 0


@pytest.mark.parametrize("target", list(TARGETS))
def test_the_alignment_table_lists_every_path_that_collapses_to_the_target(target):
    out = VIEW.build(state(f"?target={target}"))
    rows = rows_of(out.alignment_table)
    expected = {path for path in itertools.product(range(3), repeat=FRAMES) if collapse(path) == TARGETS[target]}
    names = {"–": 0, "a": 1, "b": 2}
    shown = {tuple(names[c] for c in row[0].replace("← best path", "").split()) for row in rows}
    assert shown == expected and len(rows) == len(expected)
    p = np.exp(np.array(EXAMPLE_LOGITS)) / np.exp(np.array(EXAMPLE_LOGITS)).sum(axis=1, keepdims=True)
    probability = {path: math.prod(p[t, c] for t, c in enumerate(path)) for path in expected}
    assert rows[0][0].endswith("← best path")
    shown_best = tuple(names[c] for c in rows[0][0].replace("← best path", "").split())
    assert probability[shown_best] == max(probability.values())  # frame 1 ties blank and a: either may lead
    total = sum(probability.values())
    assert f"P = {total:.4g}" in texts(out.alignment_table)[0]
    loss = -math.log(total)
    assert f"({len(expected)} alignments of “{target}”" in out.ctc_note and f"L = {loss:.4g}" in out.ctc_note


def test_the_note_says_why_ctc_is_not_one_curve():
    note = VIEW.build(state()).ctc_note
    assert note.startswith("CTC cannot be drawn as one curve of a prediction")
    assert "sums over every alignment" in note and "a slice" in note


def test_the_frame_table_shows_p_and_the_occupancy_that_make_the_gradient():
    out = VIEW.build(state("?frame=2&label=2&ctc_logit=0.5"))
    rows = rows_of(out.frame_table)
    logits = torch.tensor(EXAMPLE_LOGITS, dtype=torch.float64)
    logits[2, 2] = 0.5
    leaf = logits.requires_grad_()
    F.ctc_loss(torch.log_softmax(leaf, -1), torch.tensor([1, 2]), torch.tensor(4), torch.tensor(2),
               reduction="sum").backward()
    p = torch.softmax(logits.detach(), -1).numpy()
    gamma = p - leaf.grad.numpy()
    for t in range(FRAMES):
        for k in range(3):
            cell = rows[t][1 + k]
            assert f"p {p[t, k]:.3f} · γ {abs(gamma[t, k]):.3f}" in cell, (t, k, cell)
            assert cell.startswith("▶") == ((t, k) == (2, 2))


# ---------------------------------------------------------------- readout, controls, URL


def test_the_readout_shows_the_gradient_as_prediction_minus_target():
    out = VIEW.build(state())
    rows = VIEW.readout_component(out)["props"]["children"][2]["props"]["children"]
    cells = [texts(row) for row in rows]
    assert [row[0] for row in cells] == ["Plain CE (ε = 0)", "Label-smoothed CE (ε = 0.1)", "CTC, target “ab”"]
    p = 1 / (1 + 9 * math.exp(-2))
    assert cells[0][3] == f"{p - 1:.4f}" and cells[0][4] == f"{p:.4f}" and cells[0][5] == "q = 1.0000"
    assert cells[1][5] == "q = 0.9100" and cells[1][3] == f"{p - 0.91:.4f}"


@pytest.mark.parametrize(("name", "raw", "fragment"), [
    ("frame", "4", "CTC: frame t of the moving logit: 4 is out of range; expected a whole number from 0 to 3"),
    ("label", "1.5", "is not a whole number; expected a whole number from 0 to 2"),
    ("vocab", "1", "Vocabulary size V: 1 is out of range; expected a whole number from 2 to 1,000"),
    ("epsilon", "abc", "Label smoothing ε: “abc” is not a number"),
    ("ctc_logit", "", "the box is empty"),
])
def test_bad_input_gets_its_message_and_keeps_the_charts(name, raw, fragment):
    default = VIEW.default_state()
    numbers = {c.name: str(default.numbers[c.name]) for c in VIEW.numbers}
    numbers[name] = raw
    result = callbacks.update_view(VIEW, numbers, list(default.losses), VIEW.encode_query(default),
                                   target="ab", scale="linear", check="off")
    assert fragment in result[f"message:{name}"]
    assert result["loss_figure"] is callbacks.no_update and result["ctc_loss_figure"] is callbacks.no_update


def test_good_input_fills_every_output_of_the_view():
    default = VIEW.default_state()
    numbers = {c.name: str(default.numbers[c.name]) for c in VIEW.numbers} | {"frame": "3", "label": "2"}
    result = callbacks.update_view(VIEW, numbers, list(default.losses), VIEW.encode_query(default),
                                   target="aba", scale="log", check="off")
    assert all(result[key] == "" for key in callbacks.message_keys(VIEW))
    assert result["ctc_loss_figure"]["layout"]["yaxis"]["type"] == "log"
    assert "target=aba" in result["query"] and "frame=3" in result["query"]
    assert "“aba”" in result["ctc_note"]


@pytest.mark.parametrize("query", ["?z=-3&epsilon=0.25&vocab=100&frame=3&label=2&ctc_logit=4.5&target=aba&scale=log",
                                   "?check=on&target=aa"])
def test_a_state_round_trips_through_its_url(query):
    parsed = state(query)
    assert VIEW.parse_query(VIEW.encode_query(parsed)) == parsed
    assert VIEW.parse_query(VIEW.build(parsed).query) == parsed


def test_chooser_presets_open_without_notices():
    for _task, _activation, _loss, query in VIEW.chooser_rows:
        VIEW.build(state(query))
    assert any(loss == "CTC" for _t, _a, loss, _q in VIEW.chooser_rows)


def test_the_gradient_check_covers_both_gradient_charts_and_passes():
    out = VIEW.build(state("?check=on"))
    note = out.readout[1]
    assert "Plain CE (ε = 0)" in note and "Label-smoothed CE (ε)" in note and "CTC, target “ab”" in note
    misfits = [float(value) for value in re.findall(r"\d\.\de[-+]\d+", note)]
    assert len(misfits) == 3 and max(misfits) < 1e-5
    assert any(t.get("meta") == "fd:ctc" for t in out.ctc_grad_figure["data"])


def test_the_epsilon_slider_moves_only_the_smoothed_curves():
    frames = family(VIEW, state(), "epsilon")
    assert "unsupported" not in frames
    moving = {graph: [c["index"] for c in data["curves"]] for graph, data in frames["graphs"].items()}
    assert moving == {IDS.LOSS_GRAPH: [1], IDS.GRAD_GRAPH: [1], IDS.CTC_LOSS_GRAPH: [], IDS.CTC_GRAD_GRAPH: []}


# ---------------------------------------------------------------- getting results out


@pytest.mark.parametrize("query", ["", "?z=12&epsilon=0.3&vocab=7&frame=0&label=0&ctc_logit=-15&target=aa",
                                   "?target=aba&frame=3&label=1&scale=log", "?check=on&target=aa&z=-11"])
def test_the_csv_holds_all_four_charts_and_the_code_recomputes_it_bit_for_bit(query):
    parsed = state(query)
    text = VIEW.export_csv(parsed)
    table = export.read_csv(text)  # one x column: the four charts share their grid
    plotted = export.curve_columns(VIEW.motion_figures(parsed))
    assert set(table) - {"x"} == set(plotted)
    assert len(plotted) == (9 if parsed.check == "on" else 6)  # 3 losses, 3 gradients (+ 3 finite differences)
    namespace: dict = {}
    exec(compile(VIEW.code_snippet(parsed), "<sequences snippet>", "exec"), namespace)
    np.testing.assert_array_equal(namespace["x"], table["x"])
    assert set(namespace["columns"]) == set(table) - {"x"}
    for column, values in namespace["columns"].items():
        np.testing.assert_array_equal(np.asarray(values, dtype=np.float64), table[column], err_msg=column)


def test_the_code_uses_only_the_public_sequence_api():
    snippet = VIEW.code_snippet(state())
    assert "from losslab import sequence" in snippet and "losslab.dashboard" not in snippet
    assert sequence.ctc_with_logits.__name__ in snippet and "next_token_cross_entropy" in snippet


def test_a_control_change_patches_the_top_charts_and_leaves_the_formulas_alone():
    """Re-sent formulas make MathJax retypeset mid-update (NaN-sized SVGs in the browser): only the first
    draw sends them (and a change that changes them)."""
    default = VIEW.default_state()
    numbers = {c.name: str(default.numbers[c.name]) for c in VIEW.numbers} | {"z": "12", "label": "0"}
    result = callbacks.update_view(VIEW, numbers, list(default.losses), VIEW.encode_query(default),
                                   target="ab", scale="linear", check="off")
    assert result["formulas"] is callbacks.no_update
    assert "operations" in result["loss_figure"]  # a Patch in wire form, not a whole figure
    assert result["ctc_grad_figure"]["layout"]["xaxis"]["title"]["text"].startswith("logit z[1, –]")
    grid_top = VIEW.build(VIEW.parse_query(result["query"])).loss_figure["layout"]["xaxis"]["autorangeoptions"]
    assert grid_top["maxallowed"] > 12  # the sweep widened to show the marker, and the patch carries it
    assert str(grid_top["maxallowed"]) in str(result["loss_figure"])
    result = callbacks.update_view(VIEW, numbers, list(default.losses), VIEW.encode_query(default),
                                   target="ab", scale="log", check="off")
    assert result["formulas"] is callbacks.no_update and "data" in result["loss_figure"]  # redrawn, same formulas


@pytest.mark.parametrize(("typed", "ctc_changes"), [
    ({"epsilon": "0.3"}, False), ({"vocab": "50"}, False), ({"z": "3"}, False),
    ({"z": "40"}, True),  # the shared x grid stretches past the marker: the CTC curves are sampled anew
    ({"ctc_logit": "-2"}, True), ({"frame": "2"}, True), ({"label": "2"}, True),
])
def test_the_ctc_charts_are_sent_only_when_they_change(typed, ctc_changes):
    """A next-token control leaves the CTC charts as they are: they are not sent again (the browser would
    compare them and Dash render them for nothing). Where they are not sent, a fresh load draws the same."""
    before = VIEW.default_state()
    numbers = {name: str(value) for name, value in before.numbers.items()} | typed
    result = callbacks.update_view(VIEW, numbers, list(before.losses), VIEW.encode_query(before),
                                   frozenset(typed), **dict(before.extras))
    after = VIEW.parse_query(result["query"])
    fresh, old = VIEW.build(after).extras, VIEW.build(before).extras
    for key in ("ctc_loss_figure", "ctc_grad_figure"):
        if ctc_changes:
            assert result[key] == fresh[key] and fresh[key] != old[key], key
        else:
            assert result[key] is no_update, key
            assert fresh[key] == old[key], key
