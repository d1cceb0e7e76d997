r"""Every loss, listed once: what the dashboard and docs are generated from.

A ``LossSpec`` gives the loss in *prediction space* (:math:`\hat y` for
regression, the probability :math:`\hat p` for classification) and, for
classification, in *logit space* (the pre-activation :math:`z` with
:math:`\hat p = \sigma(z)` or :math:`\mathrm{softmax}(z)`). All functions are
elementwise or per-sample (``reduction="none"`` is applied here), take the
prediction first and the target second, and accept the spec's parameters
as keyword arguments.

Adding a loss to the lab means adding one entry to ``LOSSES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial, wraps
from typing import Literal

import numpy as np

from losslab import _story as story
from losslab import (
    binary,
    extra_classification,
    extra_regression,
    multiclass,
    ranking,
    regression,
    robust,
)
from losslab._validation import Interval, fits_float32
from losslab.links import grad_on_probability, on_probability

Task = Literal["regression", "binary", "multiclass", "robust", "counts", "generative", "segmentation", "detection",
               "metric", "ranking", "sequence"]
Link = Literal["identity", "sigmoid", "softmax"]
TASKS: tuple[Task, ...] = ("regression", "binary", "multiclass", "robust", "counts", "generative", "segmentation",
                          "detection", "metric", "ranking", "sequence")


@dataclass(frozen=True)
class Parameter:
    """A scalar hyperparameter: its valid range, default and how a slider should show it."""

    name: str
    label: str
    latex: str
    default: float
    valid: Interval
    slider_min: float
    slider_max: float
    log_scale: bool = False

    def validate(self, value) -> float:
        return self.valid.validate(value, self.name)


@dataclass(frozen=True)
class LossSpec:
    """One loss: identity, formulas and functions.

    ``loss``/``grad``: prediction space, :math:`\\ell(\\hat y, y)` and
    :math:`\\partial \\ell / \\partial \\hat y` (or :math:`\\hat p`).
    ``loss_from_logit``/``grad_from_logit``: logit space, ``None`` for the
    identity link where prediction and logit coincide.
    """

    key: str
    label: str
    task: Task
    link: Link
    summary: str
    latex_loss: str
    latex_grad: str
    loss: Callable
    grad: Callable
    latex_grad_logit: str | None = None
    loss_from_logit: Callable | None = None
    grad_from_logit: Callable | None = None
    parameters: tuple[Parameter, ...] = field(default_factory=tuple)
    hard_labels_only: bool = False

    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.parameters}

    def __post_init__(self):
        if self.parameters:  # a parameter may be past float32's range: see _float32_safe
            for name in ("loss", "grad", "loss_from_logit", "grad_from_logit"):
                if getattr(self, name) is not None:
                    object.__setattr__(self, name, _float32_safe(getattr(self, name)))


def _float32_safe(function: Callable) -> Callable:
    """``function``, with a float32 prediction computed in float64 and rounded to float32 once when a
    parameter is not a normal float32 value (a class weight of 1e300, a box aspect of 5e-324): the
    stories build their inputs from the parameters in the prediction's dtype, where those overflow."""
    @wraps(function)
    def call(x, target=None, **params):
        array = np.asarray(x)
        if array.dtype != np.float32 or fits_float32(*params.values()):
            return function(x, target, **params)
        if isinstance(target, np.ndarray | float) and np.asarray(target).dtype == np.float32:
            target = np.asarray(target, np.float64)
        with np.errstate(over="ignore"):  # a float64 result past float32 max is inf, its true size
            return np.asarray(function(array.astype(np.float64), target, **params)).astype(np.float32)

    return call


def _elementwise(function: Callable) -> Callable:
    """The unreduced form of a public loss."""
    unreduced = partial(function, reduction="none")
    unreduced.__name__ = function.__name__
    return unreduced


def _hinge_from_binary_label(score, target, **params):
    """Hinge with the lab's 0/1 labels mapped to the hinge's -1/+1."""
    return binary.hinge(score, 2 * np.asarray(target) - 1, reduction="none")


def _hinge_grad_from_binary_label(score, target, **params):
    return binary.hinge_grad(score, 2 * np.asarray(target) - 1)


DELTA = Parameter(
    "delta", "Huber delta δ", r"\delta", 1.0, regression.POSITIVE, 0.05, 10.0, log_scale=True
)
TAU = Parameter("tau", "Quantile τ", r"\tau", 0.5, regression.OPEN_UNIT, 0.01, 0.99)
GAMMA = Parameter("gamma", "Focal γ", r"\gamma", 2.0, binary.NON_NEGATIVE, 0.0, 5.0)
# One c for Cauchy, Tukey, Geman-McClure and Barron: the residual scale where each bends.
SCALE_C = Parameter("c", "Scale c", "c", 1.0, robust.SCALE, 0.05, 20.0, log_scale=True)
# Barron's shape: 2 is L2, 1 pseudo-Huber, 0 Cauchy, -2 Geman-McClure; by -10 it is close to
# Welsch (the alpha -> -inf limit, which the functions accept as -np.inf).
ALPHA = Parameter("alpha", "Barron shape α", r"\alpha", 1.0, robust.ALPHA, -10.0, 2.0)

POSITIVE = Interval(0.0, None, low_inclusive=False)
NON_NEGATIVE = Interval(0.0, None)
UNIT = Interval(0.0, 1.0)

BETA_SMOOTH_L1 = Parameter("beta", "Smooth-L1 β", r"\beta", 1.0, NON_NEGATIVE, 0.05, 10.0, log_scale=True)
VARIANCE = Parameter("var", "Predicted variance σ²", r"\sigma^2", 1.0, POSITIVE, 0.01, 100.0, log_scale=True)
CLASS_WEIGHT = Parameter("class_weight", "Weight of class 0 w₀", "w_0", 5.0, NON_NEGATIVE, 0.0, 20.0)
LABEL_SMOOTHING = Parameter("label_smoothing", "Label smoothing ε", r"\varepsilon", 0.1, UNIT, 0.0, 0.5)
LOGVAR = Parameter("logvar", "Encoder log-variance log σ²", r"\log\sigma^2", 0.0, Interval(-50.0, 50.0), -4.0, 4.0)
SMOOTH = Parameter("smooth", "Smoothing s", "s", 1.0, POSITIVE, 0.01, 10.0, log_scale=True)
TVERSKY_ALPHA = Parameter("alpha", "False-positive weight α", r"\alpha", 0.3, NON_NEGATIVE, 0.0, 1.0)
TVERSKY_BETA = Parameter("beta", "False-negative weight β", r"\beta", 0.7, NON_NEGATIVE, 0.0, 1.0)
FOCAL_TVERSKY_GAMMA = Parameter("gamma", "Focal-Tversky exponent γ", r"\gamma", 0.75, POSITIVE, 0.25, 3.0)
COMBO_ALPHA = Parameter("bce_weight", "BCE weight α", r"\alpha", 0.5, UNIT, 0.0, 1.0)
BOX_ASPECT = Parameter("aspect", "Predicted box aspect w/h", r"\frac{w}{h}", 1.0, POSITIVE, 0.25, 4.0, log_scale=True)
CONTRASTIVE_MARGIN = Parameter("margin", "Margin m", "m", 1.0, POSITIVE, 0.1, 5.0)
TRIPLET_MARGIN = Parameter("margin", "Margin m", "m", 1.0, POSITIVE, 0.1, 5.0)
POSITIVE_DISTANCE = Parameter("positive_distance", "Anchor-positive distance d(a, p)", "d(a, p)", 1.0,
                              NON_NEGATIVE, 0.0, 5.0)
COSINE_MARGIN = Parameter("cosine_margin", "Cosine margin m", "m", 0.0, Interval(-1.0, 1.0), -1.0, 1.0)
TEMPERATURE = Parameter("temperature", "Temperature τ", r"\tau", 0.1, POSITIVE, 0.01, 2.0, log_scale=True)
NEGATIVE_SIMILARITY = Parameter("negative_similarity", "Negatives' similarity", r"s^-", 0.0, Interval(-1.0, 1.0),
                                -1.0, 1.0)
RANKING_MARGIN = Parameter("margin", "Margin m", "m", 1.0, Interval(-1e6, 1e6), 0.0, 3.0)


def _segmentation_spec(key, label, functions, summary, latex_loss, latex_grad, parameters):
    loss, grad, loss_from_logit, grad_from_logit = functions
    return LossSpec(
        key=key, label=label, task="segmentation", link="sigmoid", summary=summary,
        latex_loss=latex_loss, latex_grad=latex_grad,
        latex_grad_logit=r"\frac{\partial \ell}{\partial z_i} = \frac{\partial \ell}{\partial p_i}\,p_i (1 - p_i)",
        loss=loss, grad=grad, loss_from_logit=loss_from_logit, grad_from_logit=grad_from_logit,
        parameters=parameters,
    )


def _detection_spec(key, label, functions, summary, latex_loss, latex_grad, parameters=()):
    loss, grad = functions
    return LossSpec(key=key, label=label, task="detection", link="identity", summary=summary,
                    latex_loss=latex_loss, latex_grad=latex_grad, loss=loss, grad=grad, parameters=parameters)


_BCE_LOGIT = binary.bce_with_logits
_FOCAL_LOGIT = _elementwise(binary.focal)

LOSSES: tuple[LossSpec, ...] = (
    LossSpec(
        key="mse", label="MSE", task="regression", link="identity",
        summary="Squared error: the Gaussian negative log-likelihood; gradient grows with the error.",
        latex_loss=r"\ell = (\hat y - y)^2",
        latex_grad=r"\frac{\partial \ell}{\partial \hat y} = 2(\hat y - y)",
        loss=_elementwise(regression.mse), grad=regression.mse_grad,
    ),
    LossSpec(
        key="mae", label="MAE", task="regression", link="identity",
        summary="Absolute error: robust to outliers; constant-size gradient.",
        latex_loss=r"\ell = |\hat y - y|",
        latex_grad=r"\frac{\partial \ell}{\partial \hat y} = \operatorname{sign}(\hat y - y)",
        loss=_elementwise(regression.mae), grad=regression.mae_grad,
    ),
    LossSpec(
        key="huber", label="Huber", task="regression", link="identity",
        summary="Quadratic within δ of the target, linear beyond: gradient bounded by δ.",
        latex_loss=(
            r"\ell = \begin{cases} \tfrac12 r^2 & |r| \le \delta \\ "
            r"\delta\,(|r| - \tfrac12\delta) & |r| > \delta \end{cases},\quad r = \hat y - y"
        ),
        latex_grad=r"\frac{\partial \ell}{\partial \hat y} = \operatorname{clip}(r, -\delta, \delta)",
        loss=_elementwise(regression.huber), grad=regression.huber_grad, parameters=(DELTA,),
    ),
    LossSpec(
        key="log_cosh", label="log-cosh", task="regression", link="identity",
        summary="Smooth everywhere: like half the MSE near the target and the MAE far away.",
        latex_loss=r"\ell = \log\cosh(\hat y - y)",
        latex_grad=r"\frac{\partial \ell}{\partial \hat y} = \tanh(\hat y - y)",
        loss=_elementwise(regression.log_cosh), grad=regression.log_cosh_grad,
    ),
    LossSpec(
        key="quantile", label="Quantile (pinball)", task="regression", link="identity",
        summary="Asymmetric absolute error: its minimiser is the τ-quantile.",
        latex_loss=r"\ell = \max\bigl(\tau (y - \hat y),\ (\tau - 1)(y - \hat y)\bigr)",
        latex_grad=(
            r"\frac{\partial \ell}{\partial \hat y} = "
            r"\begin{cases} -\tau & \hat y < y \\ 1 - \tau & \hat y > y \end{cases}"
        ),
        loss=_elementwise(regression.quantile), grad=regression.quantile_grad, parameters=(TAU,),
    ),
    LossSpec(
        key="bce", label="BCE", task="binary", link="sigmoid",
        summary="Bernoulli negative log-likelihood: dL/dz = p̂ − y never vanishes when wrong.",
        latex_loss=r"\ell = -\bigl(y \log \hat p + (1 - y)\log(1 - \hat p)\bigr)",
        latex_grad=r"\frac{\partial \ell}{\partial \hat p} = \frac{\hat p - y}{\hat p\,(1 - \hat p)}",
        latex_grad_logit=r"\frac{\partial \ell}{\partial z} = \hat p - y",
        loss=_elementwise(binary.bce), grad=binary.bce_grad,
        loss_from_logit=_elementwise(_BCE_LOGIT), grad_from_logit=binary.bce_with_logits_grad,
    ),
    LossSpec(
        key="sigmoid_mse", label="MSE on sigmoid", task="binary", link="sigmoid",
        summary="Squared error on the probability: its dL/dz vanishes when the sigmoid saturates.",
        latex_loss=r"\ell = (\hat p - y)^2",
        latex_grad=r"\frac{\partial \ell}{\partial \hat p} = 2(\hat p - y)",
        latex_grad_logit=r"\frac{\partial \ell}{\partial z} = 2(\hat p - y)\,\hat p\,(1 - \hat p)",
        loss=_elementwise(regression.mse), grad=regression.mse_grad,
        loss_from_logit=_elementwise(binary.sigmoid_mse), grad_from_logit=binary.sigmoid_mse_grad,
    ),
    LossSpec(
        key="focal", label="Focal", task="binary", link="sigmoid",
        summary="BCE scaled by (1 − p_t)^γ: easy, confident examples count less.",
        latex_loss=r"\ell = -(1 - p_t)^\gamma \log p_t,\quad p_t = y\hat p + (1 - y)(1 - \hat p)",
        latex_grad=r"\frac{\partial \ell}{\partial \hat p} = \frac{\partial \ell / \partial z}{\hat p\,(1 - \hat p)}",
        latex_grad_logit=(
            r"\frac{\partial \ell}{\partial z} = (\hat p - y)(1 - p_t)^\gamma"
            r" + \gamma (1 - p_t)^{\gamma - 1}(1 - 2y)\,\hat p (1 - \hat p)\,(-\log p_t)"
        ),
        loss=on_probability(_FOCAL_LOGIT), grad=grad_on_probability(binary.focal_grad),
        loss_from_logit=_FOCAL_LOGIT, grad_from_logit=binary.focal_grad, parameters=(GAMMA,),
    ),
    LossSpec(
        key="hinge", label="Hinge", task="binary", link="sigmoid",
        summary="Margin loss on the score z (read here as the logit), t = 2y − 1: zero once t·z ≥ 1.",
        latex_loss=r"\ell = \max(0,\ 1 - t z),\quad t = 2y - 1",
        latex_grad=r"\frac{\partial \ell}{\partial \hat p} = \frac{\partial \ell / \partial z}{\hat p\,(1 - \hat p)}",
        latex_grad_logit=r"\frac{\partial \ell}{\partial z} = \begin{cases} -t & t z < 1 \\ 0 & t z > 1 \end{cases}",
        loss=on_probability(_hinge_from_binary_label),
        grad=grad_on_probability(_hinge_grad_from_binary_label),
        loss_from_logit=_hinge_from_binary_label, grad_from_logit=_hinge_grad_from_binary_label,
        hard_labels_only=True,
    ),
    LossSpec(
        key="cross_entropy", label="Cross-entropy", task="multiclass", link="softmax",
        summary="Categorical negative log-likelihood: dL/dz = p̂ − y, the universal choice.",
        latex_loss=r"\ell = -\sum_k y_k \log \hat p_k,\quad \hat p = \operatorname{softmax}(z)",
        latex_grad=r"\frac{\partial \ell}{\partial \hat p_k} = -\frac{y_k}{\hat p_k}",
        latex_grad_logit=r"\frac{\partial \ell}{\partial z_k} = \hat p_k - y_k",
        loss=_elementwise(multiclass.cross_entropy_from_probs),
        grad=multiclass.cross_entropy_from_probs_grad,
        loss_from_logit=_elementwise(multiclass.cross_entropy),
        grad_from_logit=multiclass.cross_entropy_grad,
    ),
    LossSpec(
        key="kl_divergence", label="KL divergence", task="multiclass", link="softmax",
        summary="KL(y ‖ p̂): cross-entropy minus the target's entropy; same gradient in z.",
        latex_loss=r"\ell = \sum_k y_k \log \frac{y_k}{\hat p_k}",
        latex_grad=r"\frac{\partial \ell}{\partial \hat p_k} = -\frac{y_k}{\hat p_k}",
        latex_grad_logit=r"\frac{\partial \ell}{\partial z_k} = \hat p_k - y_k",
        loss=_elementwise(multiclass.kl_divergence), grad=multiclass.kl_divergence_grad,
        loss_from_logit=_elementwise(multiclass.kl_divergence_with_logits),
        grad_from_logit=multiclass.kl_divergence_with_logits_grad,
    ),
    LossSpec(
        key="brier", label="Brier (MSE on softmax)", task="multiclass", link="softmax",
        summary="Squared error of the probability vector: gradients vanish at saturation.",
        latex_loss=r"\ell = \sum_k (\hat p_k - y_k)^2",
        latex_grad=r"\frac{\partial \ell}{\partial \hat p_k} = 2(\hat p_k - y_k)",
        latex_grad_logit=(
            r"\frac{\partial \ell}{\partial z_k} = \hat p_k\Bigl(g_k - \sum_j g_j \hat p_j\Bigr),"
            r"\ g = 2(\hat p - y)"
        ),
        loss=_elementwise(multiclass.brier), grad=multiclass.brier_grad,
        loss_from_logit=_elementwise(multiclass.brier_with_logits),
        grad_from_logit=multiclass.brier_with_logits_grad,
    ),
    LossSpec(
        key="pseudo_huber", label="Pseudo-Huber", task="robust", link="identity",
        summary="A smooth Huber: about r²/2 near the target, δ|r| far away; pull bounded by δ.",
        latex_loss=r"\ell = \delta^2\left(\sqrt{1 + (r/\delta)^2} - 1\right),\quad r = \hat y - y",
        latex_grad=r"\frac{\partial \ell}{\partial \hat y} = \frac{r}{\sqrt{1 + (r/\delta)^2}}",
        loss=_elementwise(robust.pseudo_huber), grad=robust.pseudo_huber_grad, parameters=(DELTA,),
    ),
    LossSpec(
        key="cauchy", label="Cauchy", task="robust", link="identity",
        summary="Logarithmic growth: a far point's pull decays like c²/r.",
        latex_loss=r"\ell = \frac{c^2}{2}\log\left(1 + (r/c)^2\right),\quad r = \hat y - y",
        latex_grad=r"\frac{\partial \ell}{\partial \hat y} = \frac{r}{1 + (r/c)^2}",
        loss=_elementwise(robust.cauchy), grad=robust.cauchy_grad, parameters=(SCALE_C,),
    ),
    LossSpec(
        key="geman_mcclure", label="Geman–McClure", task="robust", link="identity",
        summary="Bounded by c²/2: a far point's pull fades like 1/r³.",
        latex_loss=r"\ell = \frac{r^2/2}{1 + (r/c)^2},\quad r = \hat y - y",
        latex_grad=r"\frac{\partial \ell}{\partial \hat y} = \frac{r}{\left(1 + (r/c)^2\right)^2}",
        loss=_elementwise(robust.geman_mcclure), grad=robust.geman_mcclure_grad,
        parameters=(SCALE_C,),
    ),
    LossSpec(
        key="tukey", label="Tukey biweight", task="robust", link="identity",
        summary="Constant past c: points further than c have no pull at all.",
        latex_loss=(
            r"\ell = \begin{cases} \frac{c^2}{6}\left(1 - \left(1 - (r/c)^2\right)^3\right) & |r| \le c \\ "
            r"\frac{c^2}{6} & |r| > c \end{cases},\quad r = \hat y - y"
        ),
        latex_grad=(
            r"\frac{\partial \ell}{\partial \hat y} = \begin{cases} r\left(1 - (r/c)^2\right)^2 & |r| \le c \\ "
            r"0 & |r| > c \end{cases}"
        ),
        loss=_elementwise(robust.tukey), grad=robust.tukey_grad, parameters=(SCALE_C,),
    ),
    LossSpec(
        key="barron", label="Barron (general)", task="robust", link="identity",
        summary="One shape α: L2 (2), pseudo-Huber (1), Cauchy (0), Geman–McClure (−2), Welsch (−∞).",
        latex_loss=(
            r"\ell = \frac{|\alpha - 2|}{\alpha}\left(\left(\frac{(r/c)^2}{|\alpha - 2|} + 1\right)^{\alpha/2}"
            r" - 1\right),\quad r = \hat y - y"
        ),
        latex_grad=(
            r"\frac{\partial \ell}{\partial \hat y} = \frac{r}{c^2}"
            r"\left(\frac{(r/c)^2}{|\alpha - 2|} + 1\right)^{\alpha/2 - 1}"
        ),
        loss=_elementwise(robust.barron), grad=robust.barron_grad, parameters=(ALPHA, SCALE_C),
    ),
    # regression
    LossSpec(
        key="smooth_l1", label="Smooth L1", task="regression", link="identity",
        summary="Huber divided by β: quadratic inside β, L1 outside; gradient bounded by 1 (Fast R-CNN's box loss).",
        latex_loss=(r"\ell = \begin{cases} \tfrac12 r^2/\beta & |r| < \beta \\ "
                    r"|r| - \tfrac12\beta & |r| \ge \beta \end{cases},\quad r = \hat y - y"),
        latex_grad=(r"\frac{\partial \ell}{\partial \hat y} = \begin{cases} r/\beta & |r| < \beta \\ "
                    r"\operatorname{sign}(r) & |r| \ge \beta \end{cases}"),
        loss=_elementwise(extra_regression.smooth_l1), grad=extra_regression.smooth_l1_grad,
        parameters=(BETA_SMOOTH_L1,),
    ),
    LossSpec(
        key="gaussian_nll", label="Gaussian NLL", task="regression", link="identity",
        summary="Negative log-likelihood with a predicted variance: MSE over σ² plus log σ² (PyTorch's gaussian_nll_loss).",
        latex_loss=r"\ell = \tfrac12\left(\log \sigma^2 + \frac{(\hat y - y)^2}{\sigma^2}\right)",
        latex_grad=r"\frac{\partial \ell}{\partial \hat y} = \frac{\hat y - y}{\sigma^2}",
        loss=story.gaussian_nll, grad=story.gaussian_nll_grad, parameters=(VARIANCE,),
    ),
    # counts: targets >= 0
    LossSpec(
        key="poisson_nll", label="Poisson NLL", task="counts", link="identity",
        summary="Poisson negative log-likelihood of a log-rate x: e^x − y x; gradient e^x − y, like BCE's p̂ − y.",
        latex_loss=r"\ell = e^{x} - y\,x,\quad x = \log \lambda",
        latex_grad=r"\frac{\partial \ell}{\partial x} = e^{x} - y",
        loss=_elementwise(extra_regression.poisson_nll), grad=extra_regression.poisson_nll_grad,
    ),
    LossSpec(
        key="msle", label="MSLE", task="counts", link="identity",
        summary="Squared error of log(1 + ·): relative errors count, and under-prediction costs more.",
        latex_loss=r"\ell = \bigl(\log(1 + \hat y) - \log(1 + y)\bigr)^2",
        latex_grad=r"\frac{\partial \ell}{\partial \hat y} = \frac{2\bigl(\log(1 + \hat y) - \log(1 + y)\bigr)}{1 + \hat y}",
        loss=_elementwise(extra_regression.msle), grad=extra_regression.msle_grad,
    ),
    # binary
    LossSpec(
        key="squared_hinge", label="Squared hinge", task="binary", link="sigmoid",
        summary="The L2-SVM loss: the hinge squared, smooth at the margin; t = 2y − 1.",
        latex_loss=r"\ell = \max(0,\ 1 - t z)^2,\quad t = 2y - 1",
        latex_grad=r"\frac{\partial \ell}{\partial \hat p} = \frac{\partial \ell / \partial z}{\hat p\,(1 - \hat p)}",
        latex_grad_logit=r"\frac{\partial \ell}{\partial z} = -2t\,\max(0,\ 1 - t z)",
        loss=story.SQUARED_HINGE_PROB, grad=grad_on_probability(story.squared_hinge_grad),
        loss_from_logit=story.squared_hinge, grad_from_logit=story.squared_hinge_grad, hard_labels_only=True,
    ),
    LossSpec(
        key="exponential", label="Exponential", task="binary", link="sigmoid",
        summary="AdaBoost's loss e^{−tz}: smooth and convex, but a confident mistake costs exponentially; t = 2y − 1.",
        latex_loss=r"\ell = e^{-t z},\quad t = 2y - 1",
        latex_grad=r"\frac{\partial \ell}{\partial \hat p} = \frac{\partial \ell / \partial z}{\hat p\,(1 - \hat p)}",
        latex_grad_logit=r"\frac{\partial \ell}{\partial z} = -t\,e^{-t z}",
        loss=story.EXPONENTIAL_PROB, grad=story.exponential_grad_of_probability,
        loss_from_logit=story.exponential, grad_from_logit=story.exponential_grad, hard_labels_only=True,
    ),
    # multiclass
    LossSpec(
        key="label_smoothed_cross_entropy", label="Label-smoothed CE", task="multiclass", link="softmax",
        summary="Cross-entropy to (1 − ε) y + ε/C: a finite optimum logit gap, so no over-confidence.",
        latex_loss=r"\ell = -\sum_k q_k \log \hat p_k,\quad q = (1 - \varepsilon)\,y + \varepsilon / C",
        latex_grad=r"\frac{\partial \ell}{\partial \hat p_k} = -\frac{q_k}{\hat p_k}",
        latex_grad_logit=r"\frac{\partial \ell}{\partial z_k} = \hat p_k - q_k",
        loss=story.label_smoothed_ce_of_probs, grad=story.label_smoothed_ce_of_probs_grad,
        loss_from_logit=_elementwise(extra_classification.label_smoothed_cross_entropy),
        grad_from_logit=extra_classification.label_smoothed_cross_entropy_grad,
        parameters=(LABEL_SMOOTHING,),
    ),
    LossSpec(
        key="weighted_cross_entropy", label="Weighted CE", task="multiclass", link="softmax",
        summary="Cross-entropy with a weight per class (here w₀ on class 0, 1 elsewhere): rare classes count more.",
        latex_loss=r"\ell = -\sum_k w_k\, y_k \log \hat p_k,\quad w = (w_0, 1, \dots, 1)",
        latex_grad=r"\frac{\partial \ell}{\partial \hat p_k} = -\frac{w_k y_k}{\hat p_k}",
        latex_grad_logit=r"\frac{\partial \ell}{\partial z_k} = \hat p_k \sum_j w_j y_j - w_k y_k",
        loss=story.weighted_cross_entropy_of_probs, grad=story.weighted_cross_entropy_of_probs_grad,
        loss_from_logit=story.weighted_cross_entropy, grad_from_logit=story.weighted_cross_entropy_grad,
        parameters=(CLASS_WEIGHT,),
    ),
    # generative: GANs against D(G(z)) = sigmoid(d)
    LossSpec(
        key="gan_discriminator", label="GAN discriminator", task="generative", link="sigmoid",
        summary="BCE with real as 1 and fake as 0: −log D(x) for real samples, −log(1 − D(G(z))) for fakes.",
        latex_loss=r"\ell = -\log D(x) \ \text{(real)},\quad -\log\bigl(1 - D(G(z))\bigr)\ \text{(fake)},\quad D = \sigma(d)",
        latex_grad=r"\frac{\partial \ell}{\partial D} = -\frac{1}{D}\ \text{(real)},\quad \frac{1}{1 - D}\ \text{(fake)}",
        latex_grad_logit=r"\frac{\partial \ell}{\partial d} = D - 1\ \text{(real)},\quad D\ \text{(fake)}",
        loss=story.GAN_DISCRIMINATOR_PROB, grad=grad_on_probability(story.gan_discriminator_grad),
        loss_from_logit=story.gan_discriminator, grad_from_logit=story.gan_discriminator_grad,
        hard_labels_only=True,
    ),
    LossSpec(
        key="gan_generator_minimax", label="Generator, minimax", task="generative", link="sigmoid",
        summary="log(1 − D(G(z))): its gradient in the logit, −D(G(z)), vanishes when D confidently rejects the fakes.",
        latex_loss=r"\ell = \log\bigl(1 - D(G(z))\bigr),\quad D = \sigma(d)",
        latex_grad=r"\frac{\partial \ell}{\partial D} = -\frac{1}{1 - D}",
        latex_grad_logit=r"\frac{\partial \ell}{\partial d} = -D(G(z))",
        loss=story.GAN_MINIMAX_PROB, grad=grad_on_probability(story.gan_generator_minimax_grad),
        loss_from_logit=story.gan_generator_minimax, grad_from_logit=story.gan_generator_minimax_grad,
    ),
    LossSpec(
        key="gan_generator_nonsaturating", label="Generator, non-saturating", task="generative", link="sigmoid",
        summary="−log D(G(z)): the same fixed point, with gradient −(1 − D) ≈ −1 where the minimax one vanishes.",
        latex_loss=r"\ell = -\log D(G(z)),\quad D = \sigma(d)",
        latex_grad=r"\frac{\partial \ell}{\partial D} = -\frac{1}{D}",
        latex_grad_logit=r"\frac{\partial \ell}{\partial d} = D(G(z)) - 1",
        loss=story.GAN_NONSATURATING_PROB, grad=grad_on_probability(story.gan_generator_nonsaturating_grad),
        loss_from_logit=story.gan_generator_nonsaturating, grad_from_logit=story.gan_generator_nonsaturating_grad,
    ),
    # generative: critics' raw scores
    LossSpec(
        key="wgan_critic", label="WGAN critic", task="generative", link="identity",
        summary="f(G(z)) − f(x): unbounded and linear, so its gradient never saturates (needs a Lipschitz critic).",
        latex_loss=r"\ell = -f(x)\ \text{(real)},\quad f(G(z))\ \text{(fake)}",
        latex_grad=r"\frac{\partial \ell}{\partial f} = -1\ \text{(real)},\quad 1\ \text{(fake)}",
        loss=story.wgan_critic, grad=story.wgan_critic_grad, hard_labels_only=True,
    ),
    LossSpec(
        key="wgan_generator", label="WGAN / hinge generator", task="generative", link="identity",
        summary="−f(G(z)): raise the critic's score of the fakes; constant gradient (the hinge GAN's generator too).",
        latex_loss=r"\ell = -f(G(z))",
        latex_grad=r"\frac{\partial \ell}{\partial f} = -1",
        loss=story.wgan_generator, grad=story.wgan_generator_grad,
    ),
    LossSpec(
        key="hinge_gan_discriminator", label="Hinge GAN discriminator", task="generative", link="identity",
        summary="max(0, 1 − f(x)) + max(0, 1 + f(G(z))): stops pushing once real scores pass 1 and fakes −1.",
        latex_loss=r"\ell = \max(0,\ 1 - f(x))\ \text{(real)},\quad \max(0,\ 1 + f(G(z)))\ \text{(fake)}",
        latex_grad=r"\frac{\partial \ell}{\partial f} = -[f(x) < 1]\ \text{(real)},\quad [f(G(z)) > -1]\ \text{(fake)}",
        loss=story.hinge_gan_discriminator, grad=story.hinge_gan_discriminator_grad, hard_labels_only=True,
    ),
    LossSpec(
        key="gaussian_kl", label="VAE KL term", task="generative", link="identity",
        summary="KL(N(μ, σ²) ‖ N(0, 1)), the ELBO's regulariser: pulls the encoder's μ to 0 and σ² to 1.",
        latex_loss=r"\ell = \tfrac12\left(e^{\log\sigma^2} - 1 - \log\sigma^2 + \mu^2\right)",
        latex_grad=r"\frac{\partial \ell}{\partial \mu} = \mu,\quad \frac{\partial \ell}{\partial \log\sigma^2} = \tfrac12\left(e^{\log\sigma^2} - 1\right)",
        loss=story.gaussian_kl, grad=story.gaussian_kl_grad, parameters=(LOGVAR,),
    ),
    # segmentation: one region per row
    _segmentation_spec(
        "soft_dice", "Soft Dice", story.DICE,
        "One minus the soft F1 overlap: blind to the background's size, so small objects count.",
        r"\ell = 1 - \frac{2\sum p t + s}{\sum p + \sum t + s}",
        r"\frac{\partial \ell}{\partial p_i} = \frac{1 - 2t_i - \ell}{\sum p + \sum t + s}",
        (SMOOTH,),
    ),
    _segmentation_spec(
        "soft_iou", "Soft IoU (Jaccard)", story.IOU,
        "One minus the soft intersection over union; ranks masks like Dice but punishes poor ones more.",
        r"\ell = 1 - \frac{\sum p t + s}{\sum p + \sum t - \sum p t + s}",
        r"\frac{\partial \ell}{\partial p_i} = \frac{1 - 2t_i - \ell\,(1 - t_i)}{\sum p + \sum t - \sum p t + s}",
        (SMOOTH,),
    ),
    _segmentation_spec(
        "tversky", "Tversky", story.TVERSKY,
        "Dice with separate weights for false positives (α) and false negatives (β): β > α favours recall.",
        r"\ell = 1 - \frac{\mathrm{TP} + s}{\mathrm{TP} + \alpha\,\mathrm{FP} + \beta\,\mathrm{FN} + s}",
        r"\frac{\partial \ell}{\partial p_i} = \frac{a_i - \ell\,(t_i + a_i)}{\mathrm{TP} + \alpha\,\mathrm{FP} + \beta\,\mathrm{FN} + s},\ a_i = \alpha(1 - t_i) - \beta t_i",
        (TVERSKY_ALPHA, TVERSKY_BETA, SMOOTH),
    ),
    _segmentation_spec(
        "focal_tversky", "Focal Tversky", story.FOCAL_TVERSKY,
        "The Tversky loss to the power γ: γ < 1 lifts and steepens the small losses of nearly right regions.",
        r"\ell = T^{\gamma},\quad T = 1 - \frac{\mathrm{TP} + s}{\mathrm{TP} + \alpha\,\mathrm{FP} + \beta\,\mathrm{FN} + s}",
        r"\frac{\partial \ell}{\partial p_i} = \gamma\,T^{\gamma - 1}\,\frac{\partial T}{\partial p_i}",
        (TVERSKY_ALPHA, TVERSKY_BETA, FOCAL_TVERSKY_GAMMA, SMOOTH),
    ),
    _segmentation_spec(
        "combo", "Combo (BCE + Dice)", story.COMBO,
        "α times the pixel-mean BCE plus (1 − α) times the Dice loss: smooth gradients and imbalance-proof.",
        r"\ell = \alpha\,\frac{1}{n}\sum_i \mathrm{BCE}(p_i, t_i) + (1 - \alpha)\left(1 - \frac{2\sum p t + s}{\sum p + \sum t + s}\right)",
        r"\frac{\partial \ell}{\partial p_i} = \frac{\alpha}{n}\,\frac{p_i - t_i}{p_i (1 - p_i)} + (1 - \alpha)\,\frac{\partial \ell_{\mathrm{Dice}}}{\partial p_i}",
        (COMBO_ALPHA, SMOOTH),
    ),
    # detection: against the horizontal offset of the predicted box
    _detection_spec(
        "iou_loss", "IoU loss", story.BOX_IOU,
        "1 − IoU: scale-invariant, but flat (zero gradient) once the boxes stop overlapping.",
        r"\ell = 1 - \frac{I}{U}",
        r"\frac{\partial \ell}{\partial x} = -\frac{\partial I/\partial x}{U} + \frac{I\,\partial U/\partial x}{U^2}",
    ),
    _detection_spec(
        "giou", "GIoU", story.GIOU,
        "IoU loss plus the empty fraction of the enclosing box: still pulls disjoint boxes together.",
        r"\ell = 1 - \frac{I}{U} + \frac{C - U}{C}",
        r"\frac{\partial \ell}{\partial x} = \frac{\partial \ell_{\mathrm{IoU}}}{\partial x} + \frac{\partial (C - U)/\partial x}{C} - \frac{(C - U)\,\partial C/\partial x}{C^2}",
    ),
    _detection_spec(
        "diou", "DIoU", story.DIOU,
        "IoU loss plus the squared centre distance over the enclosing diagonal: pulls centres together directly.",
        r"\ell = 1 - \frac{I}{U} + \frac{\rho^2}{c^2}",
        r"\frac{\partial \ell}{\partial x} = \frac{\partial \ell_{\mathrm{IoU}}}{\partial x} + \frac{\partial \rho^2/\partial x}{c^2} - \frac{\rho^2\,\partial c^2/\partial x}{c^4}",
    ),
    _detection_spec(
        "ciou", "CIoU", story.CIOU,
        "DIoU plus an aspect-ratio term αv: overlap, centre distance and shape in one loss.",
        r"\ell = 1 - \frac{I}{U} + \frac{\rho^2}{c^2} + \alpha v,\ v = \frac{4}{\pi^2}\Bigl(\arctan\frac{w_{gt}}{h_{gt}} - \arctan\frac{w}{h}\Bigr)^2",
        r"\frac{\partial \ell}{\partial x} = \frac{\partial \ell_{\mathrm{DIoU}}}{\partial x} + \frac{\partial (v^2/Q)}{\partial x},\ Q = 1 - \mathrm{IoU} + v",
        (BOX_ASPECT,),
    ),
    # metric learning
    LossSpec(
        key="contrastive", label="Contrastive", task="metric", link="identity",
        summary="Pull similar pairs together (d²/2), push dissimilar ones until they are a margin apart.",
        latex_loss=r"\ell = y\,\tfrac12 d^2 + (1 - y)\,\tfrac12\max(0,\ m - d)^2",
        latex_grad=r"\frac{\partial \ell}{\partial d} = y\,d - (1 - y)\max(0,\ m - d)",
        loss=story.contrastive, grad=story.contrastive_grad, parameters=(CONTRASTIVE_MARGIN,),
        hard_labels_only=True,
    ),
    LossSpec(
        key="triplet_margin", label="Triplet margin", task="metric", link="identity",
        summary="The negative must be a margin farther from the anchor than the positive; satisfied triplets are free.",
        latex_loss=r"\ell = \max\bigl(0,\ m + d(a, p) - d(a, n)\bigr)",
        latex_grad=r"\frac{\partial \ell}{\partial d(a, n)} = -[\,m + d(a, p) - d(a, n) > 0\,]",
        loss=story.triplet_margin, grad=story.triplet_margin_grad,
        parameters=(TRIPLET_MARGIN, POSITIVE_DISTANCE),
    ),
    LossSpec(
        key="cosine_embedding", label="Cosine embedding", task="metric", link="identity",
        summary="1 − cos θ for similar pairs, max(0, cos θ − m) for dissimilar ones: only the angle matters.",
        latex_loss=r"\ell = y\,(1 - \cos\theta) + (1 - y)\max(0,\ \cos\theta - m)",
        latex_grad=r"\frac{\partial \ell}{\partial \theta} = y \sin\theta - (1 - y)\,[\cos\theta > m]\,\sin\theta",
        loss=story.cosine_embedding, grad=story.cosine_embedding_grad, parameters=(COSINE_MARGIN,),
        hard_labels_only=True,
    ),
    LossSpec(
        key="info_nce", label="InfoNCE", task="metric", link="identity",
        summary="Cross-entropy of picking the positive among 16 keys by similarity/τ; low τ focuses on hard negatives.",
        latex_loss=r"\ell = -\log\frac{e^{s^+/\tau}}{e^{s^+/\tau} + \sum_{j=1}^{15} e^{s^-/\tau}}",
        latex_grad=r"\frac{\partial \ell}{\partial s^+} = -\frac{1}{\tau}\left(1 - \frac{e^{s^+/\tau}}{e^{s^+/\tau} + 15\,e^{s^-/\tau}}\right)",
        loss=story.info_nce, grad=story.info_nce_grad, parameters=(TEMPERATURE, NEGATIVE_SIMILARITY),
    ),
    # ranking: against the score margin x1 - x2
    LossSpec(
        key="margin_ranking", label="Margin ranking (pairwise hinge)", task="ranking", link="identity",
        summary="A hinge on the score margin: pairs ordered by at least m cost nothing (PyTorch's margin_ranking_loss).",
        latex_loss=r"\ell = \max\bigl(0,\ m - t\,(x_1 - x_2)\bigr),\quad t = 2y - 1",
        latex_grad=r"\frac{\partial \ell}{\partial (x_1 - x_2)} = -t\,[\,t\,(x_1 - x_2) < m\,]",
        loss=story.margin_ranking, grad=story.margin_ranking_grad, parameters=(RANKING_MARGIN,),
        hard_labels_only=True,
    ),
    LossSpec(
        key="bpr", label="BPR", task="ranking", link="identity",
        summary="The logistic loss of the score margin: never exactly flat, gradient → −1 for a badly ordered pair.",
        latex_loss=r"\ell = -\log \sigma(s^+ - s^-)",
        latex_grad=r"\frac{\partial \ell}{\partial (s^+ - s^-)} = -\sigma(s^- - s^+)",
        loss=story.bpr, grad=story.bpr_grad,
    ),
    LossSpec(
        key="listnet", label="ListNet", task="ranking", link="identity",
        summary="Cross-entropy between the top-one probabilities (softmax) of the relevance labels and of the scores.",
        latex_loss=r"\ell = -\sum_j \operatorname{softmax}(r)_j \log \operatorname{softmax}(s)_j",
        latex_grad=r"\frac{\partial \ell}{\partial s_j} = \operatorname{softmax}(s)_j - \operatorname{softmax}(r)_j",
        loss=_elementwise(ranking.listnet), grad=ranking.listnet_grad,
    ),
    LossSpec(
        key="ctc", label="CTC", task="sequence", link="identity",
        summary=("−log of the target's probability summed over every alignment to the frames; drawn as one "
                 "logit z[1, a] of a 4-frame example moves."),
        latex_loss=(r"\ell = -\log \sum_{\pi \in \mathcal B^{-1}(y)} \prod_t p_t(\pi_t),"
                    r"\quad p_t = \operatorname{softmax}(z_t)"),
        latex_grad=(r"\frac{\partial \ell}{\partial z_t(k)} = p_t(k) - \gamma_t(k),\quad "
                    r"\gamma_t(k) = \frac{1}{P}\sum_{s:\, l'_s = k} \alpha_t(s)\,\beta_t(s)"),
        loss=story.ctc_example, grad=story.ctc_example_grad,
    ),
)

BY_KEY: dict[str, LossSpec] = {spec.key: spec for spec in LOSSES}


def get(key: str) -> LossSpec:
    """The spec for ``key``; a ValueError lists the known keys."""
    try:
        return BY_KEY[key]
    except KeyError:
        raise ValueError(f"unknown loss {key!r}; expected one of {sorted(BY_KEY)}") from None


def for_task(task: Task) -> tuple[LossSpec, ...]:
    """The losses of one task, in registry order."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    return tuple(spec for spec in LOSSES if spec.task == task)
