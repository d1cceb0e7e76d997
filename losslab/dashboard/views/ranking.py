r"""/ranking: ranking losses against the score margin s₁ − s₂ of a pair whose item 1 should rank first.

Margin ranking (the pairwise hinge) and BPR are functions of the margin
Δ = s₁ − s₂ alone: the registry's one-variable adapters, with target 1 (item 1
is the relevant one). ListNet is not a function of one pair: its registry
function takes a whole row of scores and one of relevance labels. It is drawn
along the same x honestly, as the score s₁ of item 1 in a fixed list of three,
scores (s₁, s₂, s₃) = (x, 0, 0) and relevance (1, 0, 0): with s₂ = 0, s₁ is the
margin s₁ − s₂, and dL/ds₁ is dL/d(s₁ − s₂) with the other scores held. Every
ListNet value is the registry's ``listnet`` on those rows (its gradient's
column 1); nothing is re-derived here.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from losslab import registry
from losslab._validation import Interval
from losslab.activations import softmax
from losslab.dashboard import controls, curves
from losslab.dashboard.url_state import ViewState
from losslab.dashboard.views.base import (
    ViewOutput,
    chart_titles,
    gradient_check_code,
    grid_code,
)
from losslab.dashboard.views.family import FamilyView

#: ListNet's list: item 1 is relevant, items 2 and 3 are not; items 2 and 3 score 0
LIST_RELEVANCE = (1.0, 0.0, 0.0)
LIST_OTHER_SCORES = (0.0, 0.0)
LISTWISE = "listnet"
PAIR_TARGET = 1.0  # the lab's label 1: item 1 should rank first (margin ranking's t = +1)
HALF_SPAN = 4.0
#: ListNet's name on the charts, the readout and the CSV: its curve is one list's, not a pair's
LISTNET_LABEL = "ListNet on (s₁, 0, 0)"

MARGIN_SCORE = controls.NumberControl(
    "margin_score", "Score margin s₁ − s₂", 0.5, Interval(-100.0, 100.0), -5.0, 5.0, 0.1, has_slider=False,
    help="item 1 should rank first; for ListNet, item 1's score in the list (s₁, 0, 0); click a chart to move it")


def _margin_control() -> controls.NumberControl:
    """The registry's margin slider (0 to 3), with a typed value limited to ±20 (a message past it)."""
    control = controls.parameter_control(registry.get("margin_ranking").parameters[0])
    return replace(control, valid=Interval(-20.0, 20.0),
                   help="margin ranking: a pair costs nothing once s₁ − s₂ ≥ m (m < 0 forgives a small inversion)")


class RankingView(FamilyView):
    name = "ranking"
    path = "/ranking"
    title = "Ranking"
    introduction = (
        "A ranker only cares about order: item 1 should score above item 2. The pairwise hinge (margin ranking) "
        "is flat once the pair is ordered by the margin m, so well-ordered pairs stop teaching; BPR, the "
        "logistic loss of the margin, is never exactly flat and keeps a small pull on every pair. ListNet "
        "compares a whole list's score softmax with its relevance softmax; here it is the score of item 1 in a "
        "list of three, and unlike the pairwise losses it has a minimum, at s₁ − s₂ = 1."
    )
    task = "ranking"
    x_name = "margin_score"
    x_title = "score margin s₁ − s₂"
    grad_title = "dL/d(s₁ − s₂)"
    x_symbol = "s₁ − s₂"
    fixed_target = PAIR_TARGET
    numbers = (MARGIN_SCORE, _margin_control())
    default_losses = ("margin_ranking", "bpr")
    motion_controls = ("margin",)
    chooser_rows = (
        ("Ranking and recommendation (pairs)", "Linear (score)", "BPR or margin ranking",
         "?losses=margin_ranking,bpr&margin_score=0.5"),
        ("Learning to rank (whole lists)", "Linear (score per item)", "ListNet",
         "?losses=bpr,listnet&margin_score=2"),
    )

    def grid(self, state: ViewState) -> curves.Grid:
        """±4, doubled until it shows the hinge's kink at m with room; widened to a typed x."""
        half = HALF_SPAN
        while half < 1.25 * abs(state.number("margin")):
            half *= 2
        return curves.widened(-half, half, state.number(self.x_name))

    def chart_data(self, state: ViewState, keys):
        x, grid = self.marker_x(state), self.grid(state)
        chart_curves = [listnet_curve(grid) if key == LISTWISE
                        else curves.sweep_raw(grid, PAIR_TARGET, [key], state.numbers)[0] for key in keys]
        rows = tuple(listnet_point(x) if key == LISTWISE
                     else curves.raw_point(x, PAIR_TARGET, [key], state.numbers)[0] for key in keys)
        return chart_curves, rows

    def lesson(self, state: ViewState, rows) -> str:
        return lesson_text(state, rows)

    def code_snippet(self, state: ViewState, output: ViewOutput | None = None) -> str:
        loss_title, grad_title = chart_titles(output or self.build(state))
        keys = list(self.plotted_losses(state))
        params = {p.name: state.numbers[p.name] for key in keys for p in registry.get(key).parameters}
        return "\n".join([
            "import numpy as np",
            "from losslab import registry",
            "",
            f"# {self.title}: each loss and its derivative along the chart's x axis, the score margin s1 - s2",
            f"params = {params!r}",
            f"relevance = np.array({list(LIST_RELEVANCE)!r})  # ListNet's list: item 1 relevant, items 2, 3 not",
            grid_code(self.grid(state)),
            "columns = {}",
            f"for key in {keys!r}:",
            "    spec = registry.get(key)",
            "    name = spec.label",
            "    if key == 'listnet':  # a row of scores per x: (s1, s2, s3) = (x, 0, 0); the x axis is s1",
            f"        scores = np.stack([x, *(np.full_like(x, s) for s in {LIST_OTHER_SCORES!r})], axis=-1)",
            "        loss, grad = spec.loss(scores, relevance), spec.grad(scores, relevance)[:, 0]",
            f"        name = {LISTNET_LABEL!r}",
            "    else:  # target 1: item 1 should rank first",
            "        kwargs = {p.name: params[p.name] for p in spec.parameters}",
            f"        loss, grad = spec.loss(x, {PAIR_TARGET!r}, **kwargs), spec.grad(x, {PAIR_TARGET!r}, **kwargs)",
            f"    columns[{loss_title!r} + ': ' + name] = loss",
            f"    columns[{grad_title!r} + ': ' + name] = grad",
            *gradient_check_code(state, loss_title, grad_title, self.grid(state).step),
        ]) + "\n"


def list_scores(x) -> np.ndarray:
    """Rows (s₁, s₂, s₃) = (x, 0, 0): ListNet's list with item 1's score at each x."""
    x = np.asarray(x, dtype=np.float64)
    return np.stack([x, *(np.full_like(x, s) for s in LIST_OTHER_SCORES)], axis=-1)


def listnet_curve(grid: curves.Grid) -> curves.Curve:
    """The registry's ListNet on one list per grid point, and its gradient's item-1 column."""
    spec = registry.get(LISTWISE)
    scores = list_scores(grid.values())
    relevance = np.asarray(LIST_RELEVANCE)
    grad = np.asarray(spec.grad(scores, relevance))[:, 0]
    return curves.Curve(LISTWISE, LISTNET_LABEL, grid, np.asarray(spec.loss(scores, relevance)), grad, grad)


def listnet_point(x: float) -> curves.PointValues:
    spec = registry.get(LISTWISE)
    scores = list_scores(x)
    relevance = np.asarray(LIST_RELEVANCE)
    grad = float(np.asarray(spec.grad(scores, relevance))[0])
    return curves.PointValues(LISTWISE, LISTNET_LABEL, float(spec.loss(scores, relevance)), grad, grad)


# ---- the lesson line ------------------------------------------------------------------


def lesson_text(state: ViewState, rows) -> str:
    """What the current point teaches, for every loss drawn; true for every state (where a loss is
    flat is read from the core's own values, so the sentence and the readout agree at the margin)."""
    return " ".join(_SENTENCES[row.key](state, row) for row in rows)


def _margin_ranking(state: ViewState, row) -> str:
    x, m = state.number("margin_score"), state.number("margin")
    if row.loss == 0:
        return (f"Margin ranking: s₁ − s₂ = {x:g} ≥ m = {m:g}, so the hinge is flat: loss 0 and gradient 0; a pair "
                "ordered by the margin stops teaching.")
    order = "in the wrong order" if x < 0 else "tied" if x == 0 else "ordered, but by less than the margin"
    return (f"Margin ranking: the pair is {order} (s₁ − s₂ = {x:g} < m = {m:g}): the hinge pushes with its full "
            f"gradient {row.grad_prediction:g} (loss {row.loss:.3g}) until the margin is reached.")


def _bpr(state: ViewState, row) -> str:
    x = state.number("margin_score")
    where = ("however well the pair is ordered, its pull shrinks but never reaches 0" if x > 0
             else "a tie gets half the full pull" if x == 0
             else "a pair in the wrong order is pulled harder the worse it is, towards the hinge's full −1")
    return (f"BPR: −log σ(s₁ − s₂) = {row.loss:.3g} with gradient −σ(s₂ − s₁) = {row.grad_prediction:.3g}: "
            f"never exactly flat; {where}.")


def _listnet(state: ViewState, row) -> str:
    x = state.number("margin_score")
    p = float(softmax(list_scores(x))[0])
    q = float(softmax(np.asarray(LIST_RELEVANCE))[0])
    start = (f"ListNet (scores ({x:g}, 0, 0), relevance (1, 0, 0)): item 1's top-one probability "
             f"softmax(s)₁ = {p:.3g}")
    if row.grad_prediction < 0:
        return f"{start} is below the relevance's {q:.3g}, so s₁ is pushed up (dL/ds₁ = {row.grad_prediction:.3g})."
    if row.grad_prediction > 0:
        return (f"{start} is above the relevance's {q:.3g}, so s₁ is pushed back down "
                f"(dL/ds₁ = {row.grad_prediction:.3g}): ListNet matches the whole score distribution to the "
                "relevance's, so its minimum is at s₁ − s₂ = r₁ − r₂ = 1, not at +∞.")
    return (f"{start} equals the relevance's: ListNet's minimum, gradient 0, where the loss is the relevance "
            f"softmax's entropy ({row.loss:.3g}), not 0.")


_SENTENCES = {"margin_ranking": _margin_ranking, "bpr": _bpr, "listnet": _listnet}


VIEW = RankingView()
