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
from functools import partial
from typing import Literal

import numpy as np

from losslab import binary, multiclass, regression, robust
from losslab._validation import Interval
from losslab.links import grad_on_probability, on_probability

Task = Literal["regression", "binary", "multiclass", "robust"]
Link = Literal["identity", "sigmoid", "softmax"]
TASKS: tuple[Task, ...] = ("regression", "binary", "multiclass", "robust")


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
