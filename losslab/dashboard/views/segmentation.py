r"""/segmentation: overlap losses as a predicted mask finds its object.

The story is one region of :math:`n = k + m` pixels: :math:`k` object pixels
(target 1) and :math:`m` background pixels (target 0). The prediction puts
probability :math:`x` on every object pixel and :math:`b` on every background
pixel, so the soft overlap is :math:`\mathrm{TP} = kx` and the soft
false-positive mass :math:`\mathrm{FP} = mb`. The x axis is :math:`x` (or its
logit :math:`z`), and every value drawn is the registry's loss of that actual
probability row (one region per row, :mod:`losslab._story`). Moving :math:`x`
moves all :math:`k` object pixels at once, so by the chain rule

.. math:: \frac{dL}{dx} = \sum_{i \le k} \frac{\partial L}{\partial p_i},\qquad
          \frac{dL}{dz} = \frac{dL}{dx}\,\sigma(z)\,\sigma(-z),

summed from the registry's per-pixel gradient. The pixel-mean BCE (the
registry's elementwise BCE averaged over the region, which is combo's BCE
term) is offered beside them for the class-imbalance lesson.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
from dash import no_update

from losslab import registry
from losslab._validation import Interval
from losslab.activations import logit
from losslab.dashboard import controls, curves
from losslab.dashboard.url_state import ViewState
from losslab.dashboard.views.base import (
    ClickAction,
    ExtraOutput,
    ReadoutTable,
    UpdatePlan,
    View,
    ViewOutput,
    changed_numbers,
    chart_titles,
    figure_pair,
    formulas_markdown,
    gradient_check_code,
    gradient_check_note,
    grid_code,
    lesson_paragraph,
)
from losslab.dashboard.views.clicks import clicked_x
from losslab.dashboard.views.family import ATLAS

#: the elementwise loss averaged over the region's pixels (not an overlap loss: the imbalance reference)
PIXEL_MEAN = "bce"
OFFERED = ("soft_dice", "soft_iou", "tversky", "focal_tversky", "combo", PIXEL_MEAN)
CURVE_LABELS = {PIXEL_MEAN: "BCE (pixel mean)"}
#: losses with a BCE term, whose background pixel at b = 1 keeps the registry's clip on the logit axis too
CLIPPED_BACKGROUND = frozenset({PIXEL_MEAN, "combo"})
BCE_CLIP = 1e-12
# Each point of a curve is a whole region's row of pixels: 201 points draw these smooth curves
# and keep a slider's precomputed frames (see ``motion_controls``) affordable.
POINTS = 201
BACKGROUND_GROWTH = 10  # the lesson's "what if the background were ten times larger"
AXIS = controls.ChoiceControl("axis", "x axis", (("prob", "object probability x"), ("logit", "its logit z")), "prob")
AXIS_TITLES = {"prob": "probability x on every object pixel", "logit": "logit z of every object pixel"}
GRAD_TITLES = {"prob": "dL/dx", "logit": "dL/dz"}
CLICK_PROBABILITY_LIMIT = 1e-15
MAX_BACKGROUND = 2000  # a request recomputes POINTS whole rows of up to 2100 pixels per loss
# Every slider position's curves are sent ahead (``motion_controls``) and each is POINTS whole
# rows per loss: coarser steps than the shared default keep a slider's frames to ~1 s of work.
MOTION_STEPS = {"smooth": 0.1, "alpha": 0.05, "beta": 0.05, "gamma": 0.25, "bce_weight": 0.05}


def parameter_controls() -> tuple[controls.NumberControl, ...]:
    """The segmentation losses' hyperparameters, with the registry's ranges and the steps above."""
    return tuple(replace(control, step=MOTION_STEPS.get(control.name, control.step))
                 for control in controls.parameters_of("segmentation"))


@dataclass(frozen=True)
class Region:
    """``foreground`` object pixels at probability x, then ``background`` pixels at ``background_probability``."""

    foreground: int
    background: int
    background_probability: float

    @property
    def pixels(self) -> int:
        return self.foreground + self.background

    def mask(self) -> np.ndarray:
        return np.concatenate([np.ones(self.foreground), np.zeros(self.background)])

    def rows(self, x: np.ndarray) -> np.ndarray:
        """One row of per-pixel probabilities per value of x: shape ``(x.size, pixels)``."""
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        rows = np.empty((x.size, self.pixels))
        rows[:, : self.foreground] = x[:, None]
        rows[:, self.foreground :] = self.background_probability
        return rows

    def logit_rows(self, z: np.ndarray, bce_clip: bool = False) -> np.ndarray:
        """:meth:`rows` of logits: the object pixels at z, the background at logit(b) (±inf at b = 0 or 1).
        ``bce_clip``: b = 1 at logit(1 - 1e-12), the registry BCE's clip, as the probability axis draws it
        (a constant of z: the clip bends no curve)."""
        z = np.asarray(z, dtype=np.float64).reshape(-1)
        b = min(self.background_probability, 1 - BCE_CLIP) if bce_clip else self.background_probability
        rows = np.empty((z.size, self.pixels))
        rows[:, : self.foreground] = z[:, None]
        rows[:, self.foreground :] = logit(b)
        return rows

    def grown(self, factor: int) -> Region:
        return Region(self.foreground, self.background * factor, self.background_probability)


def region_of(state: ViewState) -> Region:
    return Region(int(state.number("foreground")), int(state.number("background")),
                  float(state.number("background_probability")))


def loss_label(key: str) -> str:
    return CURVE_LABELS.get(key, registry.get(key).label)


def row_loss_and_pixel_grads(key: str, region: Region, x, params, axis: str = "prob") -> tuple[np.ndarray, np.ndarray]:
    """The registry loss of each row (object pixels at x) and its gradient for every pixel, ``(N,)`` and ``(N, n)``.

    ``axis="logit"``: x is the object pixels' logit z, the row is of logits (the background's is logit(b)) and
    the registry's logit form gives the loss and dL/dz_i. Built from the rounded sigmoid(z) instead, the loss
    was flat where sigmoid(z) rounds to 1 (0, or BCE's 1e-12 clip; at z < -27.6 BCE's other clip) while
    dL/dz kept its true slope: the gradient chart was not the derivative of the loss chart beside it.
    """
    spec = registry.get(key)
    kwargs = {p.name: params.get(p.name, p.default) for p in spec.parameters}
    mask = region.mask()
    if axis == "logit":
        rows = region.logit_rows(x, bce_clip=key in CLIPPED_BACKGROUND)
        with np.errstate(over="ignore"):
            loss = np.asarray(spec.loss_from_logit(rows, mask, **kwargs))
            pixel_grads = np.asarray(spec.grad_from_logit(rows, mask, **kwargs))
    else:
        rows = region.rows(x)
        # BCE unclipped (eps = 0) as its logit form is: clipped at 1e-12 the loss was flat below x = 1e-12 while
        # dL/dx stayed at the clipped point's -1e12; but a background pixel at b = 1 keeps the clip (else inf)
        if unclipped_bce(key, region, kwargs):
            kwargs["eps"] = 0.0
        with np.errstate(over="ignore", divide="ignore"):  # dL/dx = -1/x past float max: -inf, its true size
            loss = np.asarray(spec.loss(rows, mask, **kwargs))
            pixel_grads = np.asarray(spec.grad(rows, mask, **kwargs))
    if key == PIXEL_MEAN:  # elementwise: the region's loss is the mean over its pixels
        loss, pixel_grads = loss.mean(axis=-1), pixel_grads / region.pixels
    return loss, pixel_grads


def unclipped_bce(key: str, region: Region, params: dict) -> bool:
    """Whether ``key``'s BCE term is taken unclipped on the probability axis: not with a background pixel at
    b = 1 (unclipped, every value would be inf), nor for combo with no BCE share (0 times BCE's dL/dx, -inf
    at x = 5e-324, would be NaN)."""
    if key not in CLIPPED_BACKGROUND or (region.background and region.background_probability == 1):
        return False
    return key == PIXEL_MEAN or params.get("bce_weight", 0.0) > 0


def object_grad(pixel_grads: np.ndarray, region: Region) -> np.ndarray:
    """dL/dx: x moves every object pixel, so the chain rule sums their gradients."""
    return pixel_grads[:, : region.foreground].sum(axis=1)


@functools.lru_cache(maxsize=512)
def _curve_values(key: str, region: Region, axis: str, grid: curves.Grid, params: tuple) -> tuple:
    """(loss, gradient along the axis), cached: a slider's frames recompute only the losses it changes."""
    loss, pixel_grads = row_loss_and_pixel_grads(key, region, grid.values(), dict(params), axis)
    grad = object_grad(pixel_grads, region)
    for array in (loss, grad):
        array.flags.writeable = False
    return loss, grad


def _params_of(key: str, numbers: dict) -> tuple:
    return tuple((p.name, float(numbers[p.name])) for p in registry.get(key).parameters)


def sweep(state: ViewState, keys, grid: curves.Grid) -> list[curves.Curve]:
    region, axis = region_of(state), state.axis
    swept = []
    for key in keys:
        loss, grad = _curve_values(key, region, axis, grid, _params_of(key, state.numbers))
        swept.append(curves.Curve(key, loss_label(key), grid, loss, grad, grad))
    return swept


def point(state: ViewState, keys) -> list[curves.PointValues]:
    """Readout rows at the current x: the loss, dL/dx and dL/dz."""
    region, x = region_of(state), state.number("x")
    z = float(logit(x))
    rows = []
    for key in keys:
        loss, pixel_grads = row_loss_and_pixel_grads(key, region, x, state.numbers)
        grad = float(object_grad(pixel_grads, region)[0])
        # dL/dz from the logit form (dL/dx times the slope lost it where x rounds, e.g. -1e-288 for -0.02
        # at x = 1e-300); on the logit axis the loss too, as its curve draws it
        loss_of_z, logit_grads = row_loss_and_pixel_grads(key, region, z, state.numbers, "logit")
        if state.axis == "logit":
            loss = loss_of_z
        rows.append(curves.PointValues(key, loss_label(key), float(loss[0]), grad,
                                       float(object_grad(logit_grads, region)[0])))
    return rows


def grid_for(axis: str, x: float) -> curves.Grid:
    """The binary view's ranges (x in [0.0025, 0.9975], z in [-8, 8]), widened to show the marker."""
    shared = curves.binary_grid(axis, curves.from_probability(x, axis))
    end = shared.start + shared.step * (shared.count - 1)
    return curves.Grid.spanning(shared.start, end, POINTS)


class SegmentationView(View):
    name = "segmentation"
    path = "/segmentation"
    title = "Segmentation"
    nav_group = ATLAS
    introduction = (
        "One region of an image: k object pixels and m background pixels. The model puts probability x on "
        "every object pixel and b on every background pixel, and the charts move x, the overlap: every value "
        "drawn is the loss of that row of pixel probabilities, and dL/dx sums the loss's gradient over the "
        "object's pixels. Dice, IoU and Tversky count no true negatives: with a clean background (b = 0) they "
        "do not change however large the background grows, while the pixel-mean BCE divides the object's pull "
        "by the region's size (grow m and watch). Tversky's β > α charges a missed object pixel more than a "
        "false alarm, favouring recall; combo adds a share α of BCE to Dice."
    )
    task = "segmentation"
    numbers = (
        controls.NumberControl("x", "Object probability x", 0.5, controls.OPEN_UNIT, 0.0, 1.0, 0.01,
                               help="strictly between 0 and 1; click a chart to move it", has_slider=False),
        controls.NumberControl("foreground", "Object pixels k", 5, Interval(1, 100), 1, 50, 1, integer=True,
                               help="a whole number from 1 to 100"),
        controls.NumberControl("background", "Background pixels m", 245, Interval(0, MAX_BACKGROUND), 0, 1000, 10,
                               integer=True, help=f"a whole number from 0 to {MAX_BACKGROUND}"),
        controls.NumberControl("background_probability", "Background probability b", 0.0, registry.UNIT,
                               0.0, 0.2, 0.01, help="on every background pixel, from 0 to 1 (the slider stops at 0.2)"),
        *parameter_controls(),
    )
    extras = (AXIS, controls.Y_SCALE, controls.GRADIENT_CHECK)
    extras_position = 1
    default_losses = ("soft_dice", "tversky", "combo", PIXEL_MEAN)
    motion_controls = ("background_probability", "smooth", "alpha", "beta", "gamma", "bce_weight")
    chooser_rows = (
        ("Segmentation (foreground vs background)", "Sigmoid (per pixel)", "Combo (BCE + Dice)",
         "?losses=soft_dice,combo,bce&x=0.5"),
        ("Segmentation of small objects where misses matter", "Sigmoid (per pixel)", "Tversky or focal Tversky (β > α)",
         "?losses=soft_dice,tversky,focal_tversky&x=0.3&background_probability=0.01"),
    )
    extra_outputs: ClassVar[dict[str, ExtraOutput]] = {"lesson": ExtraOutput("segmentation-lesson")}

    @property
    def loss_keys(self) -> tuple[str, ...]:
        return OFFERED

    def grid(self, state: ViewState) -> curves.Grid:
        return grid_for(state.axis, state.number("x"))

    def idle_control_notes(self, state: ViewState, triggered: frozenset[str]) -> dict[str, str]:
        """Also α on a clean background: the false positives it weighs all sit on the background pixels,
        so with b = 0 there are none and α moves nothing drawn."""
        notes = super().idle_control_notes(state, triggered)
        if "alpha" in triggered and "alpha" not in notes and state.number("background_probability") == 0:
            notes["alpha"] = ("False-positive weight α changes nothing while the background probability b is 0: "
                              "the background holds no false positives (FP = m·b = 0). Raise b to see it.")
        return notes

    def build(self, state: ViewState) -> ViewOutput:
        axis, x = state.axis, state.number("x")
        keys = self.plotted_losses(state)
        marker_x = curves.from_probability(x, axis)
        rows = tuple(point(state, keys))
        loss_figure, grad_figure = figure_pair(
            sweep(state, keys, self.grid(state)), rows, OFFERED, AXIS_TITLES[axis], GRAD_TITLES[axis], marker_x,
            "grad" if axis == "prob" else "grad_logit", f"segmentation-{axis}-{state.scale}",
            scale=state.scale, check=state.check,
        )
        return ViewOutput(
            loss_figure, grad_figure,
            ReadoutTable("x", x, "dL/dx", rows, logit_grad_label="dL/dz",
                         note=gradient_check_note(grad_figure, state.check)),
            formulas_text(keys),
            self.encode_query(state),
            extras={"lesson": lesson_text(state)},
        )

    def plan(self, previous: ViewState | None, state: ViewState) -> UpdatePlan:
        plan = super().plan(previous, state)
        if plan.full or plan.replace_traces:
            return plan
        if self.grid(previous) != self.grid(state):  # widened to follow a typed x
            return UpdatePlan(full=False, shift=True, redraw=frozenset(state.losses))
        if changed_numbers(previous, state) & {"foreground", "background", "background_probability"}:
            return UpdatePlan(full=False, redraw=frozenset(state.losses))
        return plan

    def panels_below_charts(self, state: ViewState, output: ViewOutput) -> list:
        return [lesson_paragraph(self.extra_outputs["lesson"].component_id, output.lesson)]

    def click_action(self) -> ClickAction:
        return ClickAction(self.ids.input("x"), probability_from_click, (AXIS.input_id(self.name),))

    def code_snippet(self, state: ViewState, output: ViewOutput | None = None) -> str:
        loss_title, grad_title = chart_titles(output or self.build(state))
        region, axis = region_of(state), state.axis
        keys = list(self.plotted_losses(state))
        params = {p.name: state.numbers[p.name] for key in keys for p in registry.get(key).parameters}
        labels = {key: loss_label(key) for key in keys}
        return "\n".join([
            "import numpy as np",
            "import losslab",
            "from losslab import registry",
            "",
            f"# {self.title}: one region of k object pixels at probability x and m background pixels at b;",
            "# each loss of that row of pixel probabilities, and its derivative along the chart's x axis",
            f"k, m, b = {region.foreground!r}, {region.background!r}, {region.background_probability!r}",
            f"params = {params!r}",
            grid_code(self.grid(state)),
            *(self._prob_rows_code() if axis == "prob" else self._logit_rows_code()),
            "mask = np.concatenate([np.ones(k), np.zeros(m)])",
            "columns = {}",
            f"for key, label in {labels!r}.items():",
            "    spec = registry.get(key)",
            "    kwargs = {p.name: params[p.name] for p in spec.parameters}",
            *([f"    if key in {sorted(k for k in keys if unclipped_bce(k, region, state.numbers))!r}:",
               "        kwargs['eps'] = 0.0  # BCE unclipped, as its logit form (not with a background pixel at 1)",
               "    with np.errstate(over='ignore', divide='ignore'):  # -1/x past float max: -inf",
               "        loss, pixel_grads = spec.loss(rows, mask, **kwargs), spec.grad(rows, mask, **kwargs)"]
              if axis == "prob" else
              [f"    rows = bce_rows if key in {sorted(CLIPPED_BACKGROUND)!r} else logit_rows",
               "    loss = spec.loss_from_logit(rows, mask, **kwargs)",
               "    pixel_grads = spec.grad_from_logit(rows, mask, **kwargs)  # dL/dz_i"]),
            f"    if key == {PIXEL_MEAN!r}:  # elementwise: the region's loss is the mean over its pixels",
            "        loss, pixel_grads = loss.mean(axis=-1), pixel_grads / (k + m)",
            "    grad = pixel_grads[:, :k].sum(axis=1)  # x moves every object pixel: chain rule",
            f"    columns[{loss_title!r} + ': ' + label] = loss",
            f"    columns[{grad_title!r} + ': ' + label] = grad",
            *gradient_check_code(state, loss_title, grad_title, self.grid(state).step),
        ]) + "\n"

    @staticmethod
    def _prob_rows_code() -> list[str]:
        return ["rows = np.empty((x.size, k + m))", "rows[:, :k] = x[:, None]", "rows[:, k:] = b"]

    @staticmethod
    def _logit_rows_code() -> list[str]:
        return [
            "# x is the object pixels' logit z: rows of logits, through the registry's logit forms (exact where",
            "# sigmoid(z) rounds to 1); BCE's background pixel at b = 1 keeps the registry's clip, 1 - 1e-12",
            "logit_rows = np.empty((x.size, k + m))",
            "logit_rows[:, :k] = x[:, None]",
            "logit_rows[:, k:] = losslab.logit(b)",
            "bce_rows = logit_rows.copy()",
            f"bce_rows[:, k:] = losslab.logit(min(b, 1 - {BCE_CLIP!r}))",
        ]


def formulas_text(keys) -> str:
    """The registry's formulas with their per-pixel dL/dz, and how the region turns them into the curves."""
    notes = ["Each curve is the loss of one region's row p = (x, …, x, b, …, b) of k object and m background "
             "pixels; x moves every object pixel, so dL/dx is the sum of ∂ℓ/∂pᵢ over the k object pixels."]
    if PIXEL_MEAN in keys:
        notes.append("The BCE curve is the per-pixel BCE averaged over the region's n = k + m pixels "
                     "(combo's BCE term).")
    return formulas_markdown(keys, link_space=True) + "\n\n---\n\n" + " ".join(notes)


def probability_from_click(click_data, axis):
    """The x text box value for a click on the x or z axis (kept strictly inside (0, 1))."""
    clicked = clicked_x(click_data)
    if clicked is None:
        return no_update
    probability = curves.to_probability(clicked, axis if axis in dict(AXIS.choices) else AXIS.default)
    # 3 significant digits of the distance to the nearer end: 0.731, 0.0123, 0.99987 (never 0 or 1).
    distance = max(float(f"{min(probability, 1 - probability):.3g}"), CLICK_PROBABILITY_LIMIT)
    return controls.format_number(distance if probability <= 0.5 else 1 - distance)


# ---- the lesson: every number in it is the core's, at the current point ----------------------------


def pixel_grads_at(key: str, region: Region, x: float, numbers: dict) -> np.ndarray:
    """dL/dp_i of one row, for every pixel (object pixels first)."""
    return row_loss_and_pixel_grads(key, region, x, numbers)[1][0]


def object_pull(key: str, region: Region, x: float, numbers: dict) -> float:
    """dL/dx of one row."""
    return float(pixel_grads_at(key, region, x, numbers)[: region.foreground].sum())


def _times(new: float, old: float) -> str:
    return f"×{new / old:.3g}" if old else "from zero"


def imbalance_sentence(region: Region, x: float, numbers: dict) -> str:
    """How Dice, combo and the pixel-mean BCE pull on the object, and what ten times the background does."""
    k, m, b = region.foreground, region.background, region.background_probability
    share = f"The object is {k} of {region.pixels} pixels ({100 * k / region.pixels:.3g}%)."
    if m == 0:
        return f"{share} There is no background: no loss has true negatives to ignore or to average over."
    bigger = region.grown(BACKGROUND_GROWTH)
    changes = []
    for key, name in (("soft_dice", "Soft Dice's"), ("combo", f"combo's (BCE weight {numbers['bce_weight']:g})"),
                      (PIXEL_MEAN, "the pixel-mean BCE's")):
        now, then = object_pull(key, region, x, numbers), object_pull(key, bigger, x, numbers)
        changes.append(f"{name} from {now:.3g} to {then:.3g} ({_times(then, now)})")
    counterfactual = (f"With {BACKGROUND_GROWTH}× the background (m = {bigger.background}, same b), dL/dx would "
                      f"go: {'; '.join(changes)}.")
    if b == 0:
        why = ("With a clean background (b = 0) Dice counts none of it, while the BCE's mean over every pixel "
               "dilutes the object's pull by the region's size.")
    else:
        why = (f"Dice counts no true negatives, only the background's false-positive mass m·b = {m * b:.3g}; "
               "the BCE's mean over every pixel dilutes the object's pull by the region's size.")
    return f"{share} {counterfactual} {why}"


def _pull_against_push(grads: np.ndarray, k: int) -> tuple[float, float, float]:
    """(−dL/dp of an object pixel, dL/dp of a background pixel, their ratio; inf if the push is 0)."""
    pull, push = float(-grads[0]), float(grads[k])
    return pull, push, (pull / push if push else float("inf"))


def tversky_sentence(region: Region, x: float, numbers: dict) -> str:
    """Tversky's per-pixel pull on an object pixel against its push on a background pixel, beside Dice's."""
    alpha, beta = numbers["alpha"], numbers["beta"]
    k, m = region.foreground, region.background
    tversky, dice = pixel_grads_at("tversky", region, x, numbers), pixel_grads_at("soft_dice", region, x, numbers)
    name = f"Tversky (α = {alpha:g}, β = {beta:g})"
    if m == 0:
        pull = (f"{name} pulls each object pixel up with −dL/dp = {-tversky[0]:.3g} (Dice: {-dice[0]:.3g}); "
                "with no background there are no false alarms to weigh.")
    else:
        pull, push, ratio = _pull_against_push(tversky, k)
        dice_pull, dice_push, dice_ratio = _pull_against_push(dice, k)
        dice = f"Dice: {dice_ratio:.3g}×, {dice_pull:.3g} against {dice_push:.3g}"
        if push == 0:
            pull = (f"Per pixel, {name} pulls an object pixel up (−dL/dp = {pull:.3g}) and does not push "
                    f"background pixels down at all (dL/dp = 0; {dice}).")
        else:
            pull = (f"Per pixel, {name} pulls an object pixel up {ratio:.3g}× as hard as it pushes a background "
                    f"pixel down (−dL/dp = {pull:.3g} against dL/dp = {push:.3g}; {dice}).")
    if beta > alpha:
        trade = "β > α charges a miss more than a false alarm: recall over precision"
    elif beta < alpha:
        trade = "α > β charges a false alarm more than a miss: precision over recall"
    else:
        trade = "α = β charges misses and false alarms alike, as Dice and IoU do"
    scores = f"soft recall TP/(TP + FN) = x = {x:.3g}"
    if m:
        scores += f", soft precision TP/(TP + FP) = {k * x / (k * x + m * region.background_probability):.3g}"
    return f"{pull} {trade} ({scores})."


def lesson_text(state: ViewState) -> str:
    region, x = region_of(state), state.number("x")
    return f"{imbalance_sentence(region, x, state.numbers)} {tversky_sentence(region, x, state.numbers)}"


VIEW = SegmentationView()
