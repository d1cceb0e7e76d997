"""/sequences: next-token cross-entropy with label smoothing, and CTC as one logit of an alignment example moves.

Top pair of charts: the next-token cross-entropy of a vocabulary of V tokens as the true
token's logit z sweeps (the V - 1 rivals at 0), plain (ε = 0) and label-smoothed (the chosen
ε), with dL/dz = p̂ - q. Bottom pair: the CTC loss of a fixed example (4 frames, classes
blank, a, b; the target chosen) as one logit z[t, k] sweeps with the other 11 fixed, with
its exact gradient p_t(k) - γ_t(k). CTC sums over every alignment, so there is no single
prediction to draw it against: the view says so and lists the alignments instead.

Every plotted value is :mod:`losslab.sequence`'s: ``next_token_cross_entropy`` on a batch of
one-position sequences, ``ctc_with_logits`` on a batch of copies of the example.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from dash import html, no_update

from losslab import sequence
from losslab._validation import Interval
from losslab.activations import log_softmax, softmax
from losslab.dashboard import controls, curves, export, ids, layout, tables
from losslab.dashboard.url_state import ViewState
from losslab.dashboard.views.base import (
    ClickAction,
    ExtraOutput,
    UpdatePlan,
    View,
    ViewOutput,
    changed_numbers,
    figure_pair,
    gradient_check_code,
    gradient_check_note,
    grid_code,
    lesson_paragraph,
)
from losslab.dashboard.views.clicks import prediction_from_click
from losslab.dashboard.views.family import ATLAS

NAME = "sequences"
CLASS_NAMES = ("–", "a", "b")  # class 0 is the blank
BLANK = 0
# The example's logits, frames x classes (blank, a, b): a early, b late, blanks in between.
EXAMPLE_LOGITS = ((0.5, 2.0, -1.0),
                  (1.0, 1.0, 0.0),
                  (0.0, -0.5, 2.0),
                  (1.5, -1.0, 1.0))
FRAMES, CLASSES = len(EXAMPLE_LOGITS), len(CLASS_NAMES)
TARGETS = {"ab": (1, 2), "aa": (1, 1), "ba": (2, 1), "aba": (1, 2, 1), "a": (1,)}
TARGET = controls.ChoiceControl(
    "target", "CTC target",
    (("ab", "a b"), ("aa", "a a (a blank must separate them)"), ("ba", "b a"), ("aba", "a b a"), ("a", "a")),
    "ab",
)
HALF_WIDTH = 10.0
MAX_VOCABULARY = 1000  # the chart takes a softmax over V tokens at each of its 301 points
CE_KEYS = ("plain_ce", "smoothed_ce")
CE_LABELS = {"plain_ce": "Plain CE (ε = 0)", "smoothed_ce": "Label-smoothed CE (ε)"}
CTC_KEY = "ctc"
CTC_CONTROLS = frozenset({"frame", "label", "ctc_logit"})


@dataclass(frozen=True)
class SequencesPlan(UpdatePlan):
    """An :class:`UpdatePlan` for the next-token charts, plus ``ctc``: whether the CTC charts changed."""

    ctc: bool = True
X_TITLE = "logit: the true token's z (next-token charts), z[t, k] (CTC charts)"
LOGIT_RANGE = Interval(-100.0, 100.0)


class SequencesIds(ids.View):
    """This view's own component ids (the shared ones come from :class:`losslab.dashboard.ids.View`)."""

    def __init__(self):
        super().__init__(NAME)
        self.LESSON = f"{NAME}-lesson"
        self.CTC_LOSS_GRAPH = f"{NAME}-ctc-loss-graph"
        self.CTC_GRAD_GRAPH = f"{NAME}-ctc-grad-graph"
        self.CTC_NOTE = f"{NAME}-ctc-note"
        self.FRAME_TABLE = f"{NAME}-frame-table"
        self.ALIGNMENT_TABLE = f"{NAME}-alignment-table"


IDS = SequencesIds()

NUMBERS = (
    controls.NumberControl("z", "True token's logit z", 2.0, LOGIT_RANGE, -HALF_WIDTH, HALF_WIDTH, 0.1,
                           help="the other V − 1 logits are 0; click the top charts to move it"),
    controls.NumberControl("epsilon", "Label smoothing ε", 0.1, Interval(0.0, 1.0), 0.0, 0.5, 0.01,
                           help="target q = (1 − ε)·one-hot + ε/V"),
    controls.NumberControl("vocab", "Vocabulary size V", 10, Interval(2, MAX_VOCABULARY), 2, MAX_VOCABULARY, 1,
                           integer=True, has_slider=False, help=f"2 to {MAX_VOCABULARY} tokens"),
    controls.NumberControl("frame", "CTC: frame t of the moving logit", 1, Interval(0, FRAMES - 1), 0,
                           FRAMES - 1, 1, integer=True, has_slider=False, help=f"0 to {FRAMES - 1}"),
    controls.NumberControl("label", "CTC: class k of the moving logit", 1, Interval(0, CLASSES - 1), 0,
                           CLASSES - 1, 1, integer=True, has_slider=False, help="0 blank (–), 1 a, 2 b"),
    controls.NumberControl("ctc_logit", "CTC: value of the moving logit z[t, k]", 1.0, LOGIT_RANGE, -HALF_WIDTH,
                           HALF_WIDTH, 0.1, help="the other 11 logits of the example stay as in the table"),
)


class SequencesView(View):
    name = NAME
    path = "/sequences"
    title = "Sequences"
    nav_group = ATLAS
    introduction = (
        "Sequence models are trained with a loss per position. Top: next-token cross-entropy against the true "
        "token's logit; label smoothing ε gives it a finite best logit, where plain CE keeps pushing. Bottom: "
        "CTC, which scores a whole unaligned target by summing over every alignment, shown as one logit of a "
        "small example moves. In both, the gradient of a logit is what the model predicts minus what the "
        "target asks for."
    )
    task = "multiclass"  # the page shell reads a task; this view draws its own losses, not the registry's
    default_losses = ("cross_entropy",)

    @property
    def loss_keys(self) -> tuple[str, ...]:
        """The registry losses this view draws (no checklist: it shows them all), so cards link here."""
        return ("cross_entropy", "label_smoothed_cross_entropy", "ctc")
    loss_checklist = False
    numbers = NUMBERS
    extras = (TARGET, controls.Y_SCALE, controls.GRADIENT_CHECK)
    extras_position = 3  # the CTC target after the next-token controls
    motion_controls = ("epsilon",)
    chooser_rows = (
        ("Language modelling (next token)", "Softmax over the vocabulary", "Label-smoothed CE",
         "?epsilon=0.1&vocab=1000&z=5"),
        ("Speech / handwriting (unaligned)", "Log-softmax per frame", "CTC", "?target=ab&frame=1&label=1"),
    )
    extra_outputs: ClassVar = {
        "lesson": ExtraOutput(IDS.LESSON),
        "ctc_loss_figure": ExtraOutput(IDS.CTC_LOSS_GRAPH, "figure"),
        "ctc_grad_figure": ExtraOutput(IDS.CTC_GRAD_GRAPH, "figure"),
        "ctc_note": ExtraOutput(IDS.CTC_NOTE),
        "frame_table": ExtraOutput(IDS.FRAME_TABLE),
        "alignment_table": ExtraOutput(IDS.ALIGNMENT_TABLE),
    }

    @property
    def ids(self) -> SequencesIds:
        return IDS

    def build(self, state: ViewState) -> ViewOutput:
        charts = sweep_charts(state)
        logits = example_logits(state)
        readout = readout_rows(state, charts.ce_rows, charts.ctc_row, logits)
        return ViewOutput(
            charts.loss_figure, charts.grad_figure, (readout, charts.check_note(state.check)), formulas_text(),
            self.encode_query(state),
            extras={
                "lesson": lesson_text(state),
                "ctc_loss_figure": charts.ctc_loss_figure,
                "ctc_grad_figure": charts.ctc_grad_figure,
                "ctc_note": ctc_note(state, charts.ctc_row.loss),
                "frame_table": frame_table(state, logits),
                "alignment_table": alignment_table(state, logits),
            },
        )

    def plan(self, previous: ViewState | None, state: ViewState) -> SequencesPlan:
        """A new scale or gradient check rebuilds the top charts; anything else re-sends their curves and
        markers (the axes stay, so do the formulas). The CTC charts are small and sent whole, but only
        when they change: a CTC control, the CTC target, or the x grid the four charts share."""
        if (previous is None or previous.view != state.view or previous.scale != state.scale
                or previous.check != state.check):
            return SequencesPlan(full=True)
        ctc = (bool(changed_numbers(previous, state) & CTC_CONTROLS) or previous.extras != state.extras
               or sweep_grid(previous) != sweep_grid(state))
        return SequencesPlan(full=False, shift=True, redraw=frozenset(CE_KEYS), ctc=ctc)

    def output_values(self, output: ViewOutput, plan: UpdatePlan) -> dict:
        values = super().output_values(output, plan)
        if isinstance(plan, SequencesPlan) and not plan.ctc:
            values["ctc_loss_figure"] = values["ctc_grad_figure"] = no_update
        return values

    def motion_figures(self, state: ViewState) -> dict[str, dict]:
        """All four sweep charts (they share the x grid): the ε slider's frames, and what Download CSV writes."""
        return sweep_charts(state).by_graph()

    def export_csv(self, state: ViewState) -> str:
        return export.curves_csv(self.title, self.encode_query(state), X_TITLE,
                                 export.curve_columns(self.motion_figures(state)))

    def readout_component(self, output: ViewOutput) -> dict:
        rows, note = output.readout
        return readout_table(rows, note)

    def code_snippet(self, state: ViewState, output: ViewOutput | None = None) -> str:
        titles = chart_titles(state)
        t, k = moving_logit(state)
        step = sweep_grid(state).step
        return "\n".join([
            "import numpy as np",
            "from losslab import sequence",
            "",
            f"# {self.title}: next-token CE as the true token's logit sweeps (rivals at 0), and the CTC",
            "# loss of the alignment example as one of its logits sweeps (the others fixed)",
            grid_code(sweep_grid(state)),
            f"V, eps = {int(state.number('vocab'))}, {state.number('epsilon')!r}",
            "logits = np.zeros((x.size, V))",
            "logits[:, 0] = x  # token 0 is the true one",
            "tokens = np.zeros(x.size, dtype=np.int64)",
            "columns = {}",
            f"for name, e in (({CE_LABELS['plain_ce']!r}, 0.0), ({CE_LABELS['smoothed_ce']!r}, eps)):",
            f"    columns[{titles[0]!r} + ': ' + name] = sequence.next_token_cross_entropy(",
            "        logits, tokens, label_smoothing=e, reduction='none')",
            f"    columns[{titles[1]!r} + ': ' + name] = sequence.next_token_cross_entropy_grad(",
            "        logits, tokens, label_smoothing=e)[:, 0]",
            f"example = np.array({[list(row) for row in EXAMPLE_LOGITS]!r})  # frames x (blank, a, b)",
            f"t, k, target = {t}, {k}, {list(TARGETS[state.target])!r}",
            "batch = np.repeat(example[:, None, :], x.size, axis=1)  # (frames, points, classes)",
            "batch[t, :, k] = x",
            "targets = np.tile(target, (x.size, 1))",
            f"lengths = (np.full(x.size, {FRAMES}), np.full(x.size, len(target)))",
            f"columns[{titles[2]!r} + ': ' + {ctc_label(state)!r}] = sequence.ctc_with_logits(",
            "    batch, targets, *lengths, reduction='none')",
            f"columns[{titles[3]!r} + ': ' + {ctc_label(state)!r}] = sequence.ctc_with_logits_grad(",
            "    batch, targets, *lengths)[t, :, k]",
            *gradient_check_code(state, titles[0], titles[1], step),
            *gradient_check_code(state, titles[2], titles[3], step),
        ]) + "\n"

    def panels_above_charts(self, state: ViewState, output: ViewOutput) -> list:
        return [lesson_paragraph(IDS.LESSON, output.lesson)]

    def panels_below_charts(self, state: ViewState, output: ViewOutput) -> list:
        return [
            html.Section(
                className="panel ctc",
                children=[
                    html.H3("CTC: a loss over alignments"),
                    html.P(output.ctc_note, id=IDS.CTC_NOTE, className="lesson", role="status"),
                    html.Div(
                        [layout.graph(IDS.CTC_LOSS_GRAPH, output.ctc_loss_figure, "CTC loss chart"),
                         layout.graph(IDS.CTC_GRAD_GRAPH, output.ctc_grad_figure, "CTC gradient chart")],
                        className="linked-charts",
                    ),
                    html.Div(output.frame_table, id=IDS.FRAME_TABLE, className="readout"),
                    html.Div(output.alignment_table, id=IDS.ALIGNMENT_TABLE, className="readout"),
                ],
            ),
        ]

    def click_action(self) -> ClickAction:
        return ClickAction(self.ids.input("z"), prediction_from_click)


# ---------------------------------------------------------------- the sweeps, from the core


def moving_logit(state: ViewState) -> tuple[int, int]:
    return int(state.number("frame")), int(state.number("label"))


def sweep_grid(state: ViewState) -> curves.Grid:
    """z from -10 to 10, stretched past either chart's marker by a tenth of the span (both charts share it)."""
    markers = (state.number("z"), state.number("ctc_logit"))
    low, high = min(-HALF_WIDTH, *markers), max(HALF_WIDTH, *markers)
    pad = 0.1 * (high - low)
    return curves.Grid.spanning(low - (pad if low < -HALF_WIDTH else 0.0), high + (pad if high > HALF_WIDTH else 0.0))


def _token_batch(z: np.ndarray, vocabulary: int) -> tuple[np.ndarray, np.ndarray]:
    """One-position sequences: logits (points, V) with the true token 0 at ``z`` and its rivals at 0."""
    logits = np.zeros((z.size, vocabulary))
    logits[:, 0] = z
    return logits, np.zeros(z.size, dtype=np.int64)


def _next_token(z: np.ndarray, vocabulary: int, epsilon: float) -> tuple[np.ndarray, np.ndarray]:
    logits, tokens = _token_batch(z, vocabulary)
    loss, grad = sequence.next_token_cross_entropy_and_grad(logits, tokens, label_smoothing=epsilon, reduction="none")
    return loss, grad[:, 0]


def next_token_curves(state: ViewState, grid: curves.Grid):
    vocabulary, epsilon, z = int(state.number("vocab")), state.number("epsilon"), state.number("z")
    chart_curves, rows = [], []
    for key, value in zip(CE_KEYS, (0.0, epsilon), strict=True):
        loss, grad = _next_token(grid.values(), vocabulary, value)
        chart_curves.append(curves.Curve(key, CE_LABELS[key], grid, loss, grad, grad))
        at_loss, at_grad = _next_token(np.array([z]), vocabulary, value)
        rows.append(curves.PointValues(key, CE_LABELS[key], float(at_loss[0]), float(at_grad[0]),
                                       float(at_grad[0])))
    return chart_curves, tuple(rows)


def example_logits(state: ViewState) -> np.ndarray:
    """The example's (frames, classes) logits with the moving one at its current value."""
    t, k = moving_logit(state)
    logits = np.array(EXAMPLE_LOGITS, dtype=np.float64)
    logits[t, k] = state.number("ctc_logit")
    return logits


def _ctc(values: np.ndarray, state: ViewState) -> tuple[np.ndarray, np.ndarray]:
    """CTC loss and dL/dz[t, k] of the example with z[t, k] set to each of ``values``."""
    t, k = moving_logit(state)
    target = list(TARGETS[state.target])
    batch = np.repeat(np.array(EXAMPLE_LOGITS, dtype=np.float64)[:, None, :], values.size, axis=1)
    batch[t, :, k] = values
    targets = np.tile(target, (values.size, 1))
    lengths = (np.full(values.size, FRAMES), np.full(values.size, len(target)))
    loss, grad = sequence.ctc_with_logits_and_grad(batch, targets, *lengths, reduction="none")
    return loss, grad[t, :, k]


def ctc_label(state: ViewState) -> str:
    return f"CTC, target “{state.target}”"


def ctc_curve_and_point(state: ViewState, grid: curves.Grid):
    loss, grad = _ctc(grid.values(), state)
    at_loss, at_grad = _ctc(np.array([state.number("ctc_logit")]), state)
    label = ctc_label(state)
    return (curves.Curve(CTC_KEY, label, grid, loss, grad, grad),
            curves.PointValues(CTC_KEY, label, float(at_loss[0]), float(at_grad[0]), float(at_grad[0])))


def _retitle(figure: dict, title: str) -> dict:
    figure["layout"]["title"]["text"] = title
    return figure


def chart_titles(state: ViewState) -> tuple[str, str, str, str]:
    """The four sweep charts' titles: the CSV's column names start with them."""
    return ("Next-token CE: loss", "Next-token CE: gradient dL/dz",
            f"CTC loss of “{state.target}” over {FRAMES} frames", "CTC: gradient dL/dz[t, k] = p − γ")


@dataclass(frozen=True)
class SweepCharts:
    """The four sweep charts of a state, and the values at their markers."""

    loss_figure: dict
    grad_figure: dict
    ctc_loss_figure: dict
    ctc_grad_figure: dict
    ce_rows: tuple[curves.PointValues, ...]
    ctc_row: curves.PointValues

    def by_graph(self) -> dict[str, dict]:
        return {IDS.LOSS_GRAPH: self.loss_figure, IDS.GRAD_GRAPH: self.grad_figure,
                IDS.CTC_LOSS_GRAPH: self.ctc_loss_figure, IDS.CTC_GRAD_GRAPH: self.ctc_grad_figure}

    def check_note(self, check: str) -> str:
        """One gradient-check line for both gradient charts."""
        both = {"layout": {"meta": {"gradient_check": {
                    **self.grad_figure["layout"].get("meta", {}).get("gradient_check", {}),
                    **self.ctc_grad_figure["layout"].get("meta", {}).get("gradient_check", {})}}},
                "data": self.grad_figure["data"] + self.ctc_grad_figure["data"]}
        return gradient_check_note(both, check)


def sweep_charts(state: ViewState) -> SweepCharts:
    grid = sweep_grid(state)
    ce_curves, ce_rows = next_token_curves(state, grid)
    ctc_curve, ctc_row = ctc_curve_and_point(state, grid)
    check, scale = state.check, state.scale
    titles = chart_titles(state)
    loss_figure, grad_figure = figure_pair(
        ce_curves, ce_rows, CE_KEYS, "true token's logit z (rivals at 0)", "dL/dz",
        state.number("z"), "grad", f"{NAME}-ce-{scale}", scale=scale, check=check)
    t, k = moving_logit(state)
    ctc_loss_figure, ctc_grad_figure = figure_pair(
        [ctc_curve], [ctc_row], (CTC_KEY,), f"logit z[{t}, {CLASS_NAMES[k]}] (the other 11 fixed)",
        f"dL/dz[{t}, {CLASS_NAMES[k]}]", state.number("ctc_logit"), "grad", f"{NAME}-ctc-{scale}",
        scale=scale, check=check)
    return SweepCharts(_retitle(loss_figure, titles[0]), _retitle(grad_figure, titles[1]),
                       _retitle(ctc_loss_figure, titles[2]), _retitle(ctc_grad_figure, titles[3]), ce_rows, ctc_row)


# ---------------------------------------------------------------- readout, notes and tables


def posterior_and_occupancy(logits: np.ndarray, state: ViewState) -> tuple[np.ndarray, np.ndarray]:
    """p_t(k) = softmax(z_t) and γ_t(k), the posterior of emitting k at frame t given the target (frames, classes)."""
    target = list(TARGETS[state.target])
    gamma = -sequence.ctc_grad(log_softmax(logits, axis=-1), target, FRAMES, len(target))
    return softmax(logits, axis=-1), gamma


def readout_rows(state: ViewState, ce_rows, ctc_row, logits: np.ndarray) -> tuple[tuple[str, ...], ...]:
    """(loss, moving logit and value, L, dL/dz, p̂, what the target asks) per row, as text."""
    vocabulary, epsilon, z = int(state.number("vocab")), state.number("epsilon"), state.number("z")
    p_true = float(softmax(np.array([z] + [0.0] * (vocabulary - 1)))[0])
    rows = []
    for row, value in zip(ce_rows, (0.0, epsilon), strict=True):
        asked = 1 - value + value / vocabulary
        rows.append((f"{CE_LABELS[row.key].replace('(ε)', f'(ε = {value:g})')}", f"z = {z:g}",
                     tables.number_text(row.loss), tables.number_text(row.grad_prediction),
                     tables.number_text(p_true), f"q = {tables.number_text(asked)}"))
    t, k = moving_logit(state)
    p, gamma = posterior_and_occupancy(logits, state)
    rows.append((ctc_row.label, f"z[{t}, {CLASS_NAMES[k]}] = {state.number('ctc_logit'):g}",
                 tables.number_text(ctc_row.loss), tables.number_text(ctc_row.grad_prediction),
                 tables.number_text(float(p[t, k])), f"γ = {tables.number_text(float(gamma[t, k]))}"))
    return tuple(rows)


def readout_table(rows, note: str) -> dict:
    header = tables.element("Tr", [tables.element("Th", text) for text in (
        "loss", "moving logit", "L", "dL/dz", "p̂ (predicted)", "asked by the target")])
    body = [tables.element("Tr", [tables.element("Td", cell) for cell in row]) for row in rows]
    caption = tables.element("Caption", "At the current logits: dL/dz = p̂ − (what the target asks)"
                             + (f". {note}" if note else ""))
    return tables.element("Table", [caption, tables.element("Thead", header), tables.element("Tbody", body)],
                          className="readout-table")


def best_logit(vocabulary: int, epsilon: float) -> float:
    """Where the smoothed loss is smallest with V - 1 rivals at 0: p̂ = q, i.e. z* = log(1 + V (1 - ε) / ε)."""
    return math.log1p(vocabulary * (1 - epsilon) / epsilon) if epsilon > 0 else math.inf


def lesson_text(state: ViewState) -> str:
    vocabulary, epsilon = int(state.number("vocab")), state.number("epsilon")
    if epsilon == 0:
        return ("With ε = 0 the target is one-hot: dL/dz = p̂ − 1 < 0 for every z, so plain cross-entropy keeps "
                "pushing the true token's logit up, without end. Raise ε to give the loss a minimum.")
    target = 1 - epsilon + epsilon / vocabulary
    return (f"With ε = {epsilon:g} and V = {vocabulary}, the target asks for p̂ = 1 − ε + ε/V = {target:.4g}, "
            f"not 1: the smoothed loss is smallest at z* = log(1 + V(1 − ε)/ε) = {best_logit(vocabulary, epsilon):.4g}, "
            "and beyond it the gradient turns positive and pulls the logit back. Plain CE (ε = 0) never stops "
            "pushing.")


def ctc_note(state: ViewState, loss: float) -> str:
    target = state.target
    count = len(sequence.ctc_alignments(list(TARGETS[target]), FRAMES, blank=BLANK))
    return (f"CTC cannot be drawn as one curve of a prediction: its loss L = −log Σ_π Π_t p_t(π_t) sums over every "
            f"alignment π of the target to the frames ({count} alignments of “{target}” over {FRAMES} frames, "
            f"listed below), so it depends on all {FRAMES} × {CLASSES} frame probabilities at once. What can be "
            f"drawn honestly is a slice: the loss as one logit z[t, k] moves with the other {FRAMES * CLASSES - 1} "
            f"fixed. At the current logits L = {loss:.4g}, so the alignments' probabilities add up to "
            f"e^(−L) = {math.exp(-loss):.4g}.")


def frame_table(state: ViewState, logits: np.ndarray) -> dict:
    """Per frame and class: the logit, p_t(k) and γ_t(k); the moving logit's cell is marked."""
    t_moving, k_moving = moving_logit(state)
    p, gamma = posterior_and_occupancy(logits, state)
    header = tables.element("Tr", [tables.element("Th", "frame t"),
                                   *(tables.element("Th", f"class {name}") for name in CLASS_NAMES)])
    body = []
    for t in range(FRAMES):
        cells = [tables.element("Td", str(t))]
        for k in range(CLASSES):
            text = f"z {logits[t, k]:.3g} · p {p[t, k]:.3f} · γ {gamma[t, k]:.3f}"
            moving = (t, k) == (t_moving, k_moving)
            cells.append(tables.element("Td", ("▶ " if moving else "") + text,
                                        className="moving-logit" if moving else ""))
        body.append(tables.element("Tr", cells))
    caption = tables.element(
        "Caption", "The example's frames: logit z, predicted p = softmax(z) and γ, the probability that the "
                   "frame emits the class given the target (▶: the moving logit; dL/dz = p − γ)")
    return tables.element("Table", [caption, tables.element("Thead", header), tables.element("Tbody", body)],
                          className="readout-table", id=f"{NAME}-frames")


def alignment_table(state: ViewState, logits: np.ndarray) -> dict:
    """Every alignment of the target with its probability Π_t p_t(π_t), most probable (the best path) first."""
    paths = sequence.ctc_alignments(list(TARGETS[state.target]), FRAMES, blank=BLANK)
    log_p = log_softmax(logits, axis=-1)
    path_log_probs = log_p[np.arange(FRAMES)[None, :], paths].sum(axis=1)
    total = float(np.exp(path_log_probs).sum())
    order = np.argsort(-path_log_probs, kind="stable")
    header = tables.element("Tr", [tables.element("Th", text) for text in (
        "alignment π (one class per frame)", "Π p_t(π_t)", "share of P")])
    body = [
        tables.element("Tr", [
            tables.element("Td", " ".join(CLASS_NAMES[c] for c in paths[i]) + ("  ← best path" if rank == 0 else "")),
            tables.element("Td", f"{math.exp(path_log_probs[i]):.4g}"),
            tables.element("Td", f"{math.exp(path_log_probs[i]) / total:.1%}"),
        ])
        for rank, i in enumerate(order)
    ]
    caption = tables.element(
        "Caption", f"The {len(paths)} alignments that collapse to “{state.target}” (merge repeats, then drop the "
                   f"blanks –); their probabilities add up to P = {total:.4g}")
    return tables.element("Table", [caption, tables.element("Thead", header), tables.element("Tbody", body)],
                          className="readout-table", id=f"{NAME}-alignments")


def formulas_text() -> str:
    next_token = "\n\n".join([
        "**Next-token cross-entropy with label smoothing** — the target q puts 1 − ε + ε/V on the true token "
        "and ε/V on each other token; positions equal to `ignore_index` (padding) cost 0.",
        "$$\n\\ell_t = -\\sum_k q_k \\log \\hat p_k,\\quad q = (1 - \\varepsilon)\\,e_{y_t} + \\varepsilon / V,"
        "\\quad \\hat p = \\operatorname{softmax}(z_t)\n$$",
        "$$\n\\frac{\\partial \\ell_t}{\\partial z_k} = \\hat p_k - q_k\n$$",
    ])
    ctc = "\n\n".join([
        "**CTC** — the probability of the target y summed over every alignment π that collapses to it "
        "(merge repeats, then drop blanks), by the forward-backward recursion over the lattice of y with blanks.",
        "$$\n\\ell = -\\log \\sum_{\\pi \\in \\mathcal B^{-1}(y)} \\prod_{t} p_t(\\pi_t),\\quad "
        "p_t = \\operatorname{softmax}(z_t)\n$$",
        "$$\n\\frac{\\partial \\ell}{\\partial z_t(k)} = p_t(k) - \\gamma_t(k),\\quad "
        "\\gamma_t(k) = \\frac{1}{P}\\sum_{s:\\, l'_s = k} \\alpha_t(s)\\,\\beta_t(s)\n$$",
    ])
    return next_token + "\n\n---\n\n" + ctc


VIEW = SequencesView()
