r"""Sweeps of a prediction range: the arrays every chart and readout is drawn from.

Pure NumPy, generated from :mod:`losslab.registry`. Every sweep is a uniform
grid described by ``start`` and ``step`` (so a chart can be shifted by
changing one number), with the loss and its derivatives at each point:

- ``grad``: :math:`\partial \ell / \partial x`, the derivative along the x axis
  (the prediction :math:`\hat y`, the probability :math:`\hat p`, or the logit :math:`z`);
- ``grad_logit``: :math:`\partial \ell / \partial z`, through the output activation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from losslab import registry
from losslab.activations import logit, sigmoid, softmax, softmax_naive

# Odd, so the centre of a sweep is a grid point; 301 points draw every curve smoothly at
# chart sizes and keep a control change's response under 25 KB.
POINTS = 301
REGRESSION_HALF_WIDTH = 4.0
LOGIT_HALF_WIDTH = 8.0
PROBABILITY_MARGIN = 0.0025
MULTICLASS_HALF_WIDTH = 10.0

BinaryAxis = Literal["prob", "logit"]


@dataclass(frozen=True)
class Grid:
    """``count`` points ``start + i * step``."""

    start: float
    step: float
    count: int = POINTS

    @classmethod
    def spanning(cls, low: float, high: float, count: int = POINTS) -> Grid:
        return cls(float(low), float(high - low) / (count - 1), count)

    def values(self) -> np.ndarray:
        return self.start + self.step * np.arange(self.count, dtype=np.float64)


@dataclass(frozen=True)
class Curve:
    """One loss swept over a grid: per-point loss, dL/dx and dL/dz arrays."""

    key: str
    label: str
    grid: Grid
    loss: np.ndarray
    grad: np.ndarray
    grad_logit: np.ndarray


@dataclass(frozen=True)
class PointValues:
    """One loss at the current prediction: the readout row."""

    key: str
    label: str
    loss: float
    grad_prediction: float
    grad_logit: float


def _params_for(spec: registry.LossSpec, params: Mapping[str, float]) -> dict[str, float]:
    return {p.name: params.get(p.name, p.default) for p in spec.parameters}


def widened(low: float, high: float, include: float | None) -> Grid:
    """The grid over [low, high], stretched past ``include`` (the marker) by a tenth of its span if outside."""
    if include is None or low < include < high:
        return Grid.spanning(low, high)
    pad = 0.1 * (max(high, include) - min(low, include))
    return Grid.spanning(min(low, include - pad), max(high, include + pad))


def regression_grid(target: float, include: float | None = None) -> Grid:
    """Predictions from ``target - 4`` to ``target + 4``, widened to show ``include``."""
    return widened(target - REGRESSION_HALF_WIDTH, target + REGRESSION_HALF_WIDTH, include)


def sweep_regression(
    target: float, keys: Iterable[str], params: Mapping[str, float], include: float | None = None
) -> list[Curve]:
    """Loss and :math:`\\partial \\ell / \\partial \\hat y` of each regression loss over :func:`regression_grid`."""
    return sweep_raw(regression_grid(target, include), target, keys, params)


def regression_point(
    prediction: float, target: float, keys: Iterable[str], params: Mapping[str, float]
) -> list[PointValues]:
    """Readout rows at one prediction; for the identity link dL/dz equals dL/dŷ."""
    return raw_point(prediction, target, keys, params)


def raw_functions(spec: registry.LossSpec):
    """``(loss, dL/dx)`` of a loss against its model's raw output x: the logit for a sigmoid or
    softmax link, the prediction itself for the identity link."""
    if spec.link == "identity":
        return spec.loss, spec.grad
    return spec.loss_from_logit, spec.grad_from_logit


def sweep_raw(grid: Grid, target, keys: Iterable[str], params: Mapping[str, float]) -> list[Curve]:
    """Each loss and its derivative against the raw output x over ``grid`` (see :func:`raw_functions`):
    the family views' one story variable (a box offset, a distance, a score margin, D's logit)."""
    x = grid.values()
    curves = []
    for key in keys:
        spec = registry.get(key)
        loss_function, grad_function = raw_functions(spec)
        values = _params_for(spec, params)
        grad = np.asarray(grad_function(x, target, **values))
        curves.append(Curve(key, spec.label, grid, np.asarray(loss_function(x, target, **values)), grad, grad))
    return curves


def raw_point(x: float, target, keys: Iterable[str], params: Mapping[str, float]) -> list[PointValues]:
    """Readout rows at one raw output x: the loss and dL/dx (twice: dL/dx is the gradient drawn)."""
    rows = []
    for key in keys:
        spec = registry.get(key)
        loss_function, grad_function = raw_functions(spec)
        values = _params_for(spec, params)
        grad = float(grad_function(x, target, **values))
        rows.append(PointValues(key, spec.label, float(loss_function(x, target, **values)), grad, grad))
    return rows


def binary_grid(axis: BinaryAxis, include: float | None = None) -> Grid:
    """Logits in [-8, 8], or probabilities in [0.0025, 0.9975] (the ends are infinitely far in z),
    widened to show ``include``; on the probability axis only ever to halfway to 0 or 1."""
    if axis == "logit":
        return widened(-LOGIT_HALF_WIDTH, LOGIT_HALF_WIDTH, include)
    low, high = PROBABILITY_MARGIN, 1 - PROBABILITY_MARGIN
    if include is not None:
        low, high = min(low, include / 2), max(high, 1 - (1 - include) / 2)
    return Grid.spanning(low, high)


def _binary_logits(x: np.ndarray | float, axis: BinaryAxis):
    return x if axis == "logit" else logit(x)


def sweep_binary(
    target: float, axis: BinaryAxis, keys: Iterable[str], params: Mapping[str, float],
    include: float | None = None,
) -> list[Curve]:
    """Each binary loss against :math:`\\hat p` or :math:`z`, with dL/dx matching the axis."""
    grid = binary_grid(axis, include)
    x = grid.values()
    logits = _binary_logits(x, axis)
    curves = []
    for key in keys:
        spec = registry.get(key)
        values = _params_for(spec, params)
        loss = np.asarray(spec.loss_from_logit(logits, target, **values))
        grad_logit = np.asarray(spec.grad_from_logit(logits, target, **values))
        grad = grad_logit if axis == "logit" else np.asarray(spec.grad(x, target, **values))
        curves.append(Curve(key, spec.label, grid, loss, grad, grad_logit))
    return curves


def binary_point(
    x: float, axis: BinaryAxis, target: float, keys: Iterable[str], params: Mapping[str, float]
) -> list[PointValues]:
    """Readout rows at one point of the axis: loss, dL/dp̂ and dL/dz."""
    z = float(_binary_logits(x, axis))
    p = float(sigmoid(z))
    rows = []
    for key in keys:
        spec = registry.get(key)
        values = _params_for(spec, params)
        rows.append(
            PointValues(
                key,
                spec.label,
                float(spec.loss_from_logit(z, target, **values)),
                float(spec.grad(p, target, **values)) if 0 < p < 1 else float("nan"),
                float(spec.grad_from_logit(z, target, **values)),
            )
        )
    return rows


def to_probability(x: float, axis: BinaryAxis) -> float:
    return float(x) if axis == "prob" else float(sigmoid(x))


def from_probability(p: float, axis: BinaryAxis) -> float:
    return float(p) if axis == "prob" else float(logit(p))


@dataclass(frozen=True)
class SoftmaxState:
    """The multiclass view at the current logits: per-class probabilities and gradients."""

    logits: np.ndarray
    temperature: float
    true_class: int
    probabilities: np.ndarray
    naive_probabilities: np.ndarray
    grad_logit: np.ndarray
    loss: float


def softmax_state(logits: np.ndarray, true_class: int, temperature: float, smoothing: float = 0.0) -> SoftmaxState:
    r"""Softmax of :math:`z / T`, its naive twin, and the cross-entropy gradient :math:`(\hat p - y) / T`."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    target = smoothed_target(true_class, scaled.size, smoothing)
    spec = registry.get("cross_entropy")
    return SoftmaxState(
        logits=np.asarray(logits, dtype=np.float64),
        temperature=temperature,
        true_class=true_class,
        probabilities=softmax(scaled),
        naive_probabilities=softmax_naive(scaled),
        grad_logit=spec.grad_from_logit(scaled, target) / temperature,
        loss=float(spec.loss_from_logit(scaled, target)),
    )


def smoothed_target(index: int, classes: int, smoothing: float = 0.0) -> np.ndarray:
    r"""Label smoothing: :math:`y = (1 - \varepsilon)\,\mathrm{onehot} + \varepsilon / K`; ε = 0 is one-hot."""
    return (1.0 - smoothing) * one_hot(index, classes) + smoothing / classes


def target_entropy(target: np.ndarray) -> float:
    r""":math:`H(y) = -\sum_k y_k \log y_k` in nats (0 log 0 = 0): the gap between cross-entropy and KL."""
    positive = target[target > 0]
    return float(-(positive * np.log(positive)).sum()) + 0.0  # + 0.0: a one-hot target has H = 0, not -0


def one_hot(index: int, classes: int) -> np.ndarray:
    target = np.zeros(classes)
    target[index] = 1.0
    return target


def multiclass_grid(logits: np.ndarray, swept_class: int) -> Grid:
    """The swept logit over ±10 around the largest *other* logit, so the grid stays put as it moves
    (widened when the swept logit itself is outside)."""
    logits = np.asarray(logits, dtype=np.float64)
    others = np.delete(logits, swept_class)
    centre = float(others.max()) if others.size else 0.0
    return widened(centre - MULTICLASS_HALF_WIDTH, centre + MULTICLASS_HALF_WIDTH, float(logits[swept_class]))


def sweep_multiclass(
    logits: np.ndarray, true_class: int, temperature: float, swept_class: int, keys: Iterable[str],
    smoothing: float = 0.0, params: Mapping[str, float] | None = None,
) -> list[Curve]:
    r"""Each multiclass loss as logit ``swept_class`` moves with the others fixed.

    ``grad`` and ``grad_logit`` are both :math:`\partial \ell / \partial z_k` for
    the swept class :math:`k` (the x axis is a logit), including the :math:`1/T`
    of the temperature.
    """
    grid = multiclass_grid(logits, swept_class)
    batch = np.repeat(np.asarray(logits, dtype=np.float64)[None, :], grid.count, axis=0)
    batch[:, swept_class] = grid.values()
    scaled = batch / temperature
    target = smoothed_target(true_class, batch.shape[1], smoothing)
    curves = []
    for key in keys:
        spec = registry.get(key)
        values = _params_for(spec, params or {})
        loss = np.asarray(spec.loss_from_logit(scaled, target, **values))
        grad = np.asarray(spec.grad_from_logit(scaled, target, **values))[:, swept_class] / temperature
        curves.append(Curve(key, spec.label, grid, loss, grad, grad))
    return curves


def multiclass_point(
    logits: np.ndarray, true_class: int, temperature: float, swept_class: int, keys: Iterable[str],
    smoothing: float = 0.0, params: Mapping[str, float] | None = None,
) -> list[PointValues]:
    """Readout rows at the current logits: loss, dL/dp̂_k and dL/dz_k for the swept class k."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    target = smoothed_target(true_class, scaled.size, smoothing)
    probabilities = softmax(scaled)
    rows = []
    for key in keys:
        spec = registry.get(key)
        values = _params_for(spec, params or {})
        rows.append(
            PointValues(
                key,
                spec.label,
                float(spec.loss_from_logit(scaled, target, **values)),
                float(np.asarray(spec.grad(probabilities, target, **values))[swept_class]),
                float(np.asarray(spec.grad_from_logit(scaled, target, **values))[swept_class] / temperature),
            )
        )
    return rows
