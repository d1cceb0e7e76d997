r"""Sweeps of a prediction range: the arrays every chart and readout is drawn from.

Pure NumPy, generated from :mod:`losslab.registry`. Every sweep is a uniform
grid described by ``start`` and ``step`` (so a chart can be shifted by
changing one number), with the loss and its derivatives at each point:

- ``grad``: :math:`\partial \ell / \partial x`, the derivative along the x axis
  (the prediction :math:`\hat y`, the probability :math:`\hat p`, or the logit :math:`z`);
- ``grad_logit``: :math:`\partial \ell / \partial z`, through the output activation.

The controls have validated every value before a view calls these functions, so
the sweeps of the regression and binary losses call the core's private
unchecked kernels (one call for loss and gradient, no conversion or range
check) instead of the public functions; the result is bit-identical to the
public functions' (tests/dashboard/test_curves_kernels.py). Any other loss, or
a target outside what the kernels were written for, takes the public functions.
Swept curves are cached per loss (see :func:`cache_clear`): a slider drag
revisits values, and a delta change leaves the other losses' curves as they were.
Cached arrays are read-only.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from losslab import binary, registry, regression
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
        """``count`` points from ``low`` to ``high``, none past ``high``: a probability axis ending an
        ulp below 1 must not reach 1 through the rounding of ``low + step * (count - 1)``."""
        low, step = float(low), float(high - low) / (count - 1)
        while step > 0 and low + step * (count - 1) > high:
            step = math.nextafter(step, 0.0)
        return cls(low, step, count)

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


# ---------------------------------------------------------------- unchecked kernels

#: Cached curves per process (each about 7 KB): enough for every loss of a view at many settings.
CACHE_SIZE = 512

# (loss, dL/dx) of an identity-link loss on float64 arrays x and a 0-d target, parameters validated.
_IDENTITY_KERNELS: dict[str, Callable] = {
    "mse": lambda x, y, p: regression._mse_kernel(x, y),
    "mae": lambda x, y, p: regression._mae_kernel(x, y),
    "huber": lambda x, y, p: regression._huber_kernel(x, y, delta=p["delta"]),
    "log_cosh": lambda x, y, p: regression._log_cosh_kernel(x, y),
    "quantile": lambda x, y, p: regression._quantile_kernel(x, y, tau=p["tau"]),
}

# (loss, dL/dz) of a binary loss on float64 logits z and a 0-d label y in [0, 1], parameters validated.
_LOGIT_KERNELS: dict[str, Callable] = {
    "bce": lambda z, y, p: binary._bce_with_logits_kernel(z, y),
    "sigmoid_mse": lambda z, y, p: binary._sigmoid_mse_kernel(z, y),
    "focal": lambda z, y, p: binary._focal_kernel(z, y, gamma=p["gamma"]),
    # the registry's hinge maps the lab's 0/1 label to the hinge's -1/+1
    "hinge": lambda z, y, p: binary._hinge_kernel(z, 2 * y - 1),
}
_HARD_LABEL_KERNELS = frozenset({"hinge"})

# dL/dp of a binary loss whose registry gradient is a function of its own (the others are the registry's
# links.grad_on_probability). BCE's is unclipped (eps = 0), as the loss drawn, bce_with_logits of logit(p), is:
# clipped at 1e-12 it was flat below p = 1e-12 while the loss kept rising.
_PROBABILITY_GRAD_KERNELS: dict[str, Callable] = {
    "bce": lambda p, y: _unclipped_bce_grad(p, y),
    "sigmoid_mse": lambda p, y: regression._mse_kernel(p, y)[1],
}


def _validated(spec: registry.LossSpec, params: Mapping[str, float]) -> dict[str, float]:
    """The spec's parameters from ``params`` (defaults filled in), checked once as the public functions would."""
    return {p.name: p.validate(params.get(p.name, p.default)) for p in spec.parameters}


def _scalar(value) -> np.ndarray | None:
    """``value`` as a 0-d float64 array if it is one finite real number, else None (the public path)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return None
    number = float(value)
    return np.asarray(number) if math.isfinite(number) else None


def _label(value, key: str) -> np.ndarray | None:
    """A binary label the kernel of ``key`` accepts (in [0, 1]; 0 or 1 for hard-label losses), else None."""
    label = _scalar(value)
    if label is None or not 0 <= label <= 1 or (key in _HARD_LABEL_KERNELS and label not in (0, 1)):
        return None
    return label


def _cache_number(value) -> tuple[float, float]:
    """``(value, its sign)`` for a cache key: -0.0 == 0.0, but a residual's zero keeps its sign."""
    number = float(value)
    return number, math.copysign(1.0, number)


def _read_only(*arrays: np.ndarray) -> None:
    for array in arrays:
        array.flags.writeable = False


def cache_clear() -> None:
    """Empty the curve caches (tests, and anyone timing the uncached path)."""
    for cached in (_raw_curve, _raw_row, _binary_curve, _binary_row, _multiclass_curve, _multiclass_row,
                   _softmax_state, _logit_of):
        cached.cache_clear()


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
    curves = []
    for key in keys:
        spec = registry.get(key)
        values = _params_for(spec, params)
        if key in _IDENTITY_KERNELS and _scalar(target) is not None:
            values = _validated(spec, values)
            curves.append(_raw_curve(key, grid, *_cache_number(target), tuple(values.items())))
            continue
        loss_function, grad_function = raw_functions(spec)
        x = grid.values()
        grad = np.asarray(grad_function(x, target, **values))
        curves.append(Curve(key, spec.label, grid, np.asarray(loss_function(x, target, **values)), grad, grad))
    return curves


@functools.lru_cache(maxsize=CACHE_SIZE)
def _raw_curve(key: str, grid: Grid, target: float, sign: float, params: tuple[tuple[str, float], ...]) -> Curve:
    loss, grad = _IDENTITY_KERNELS[key](grid.values(), np.asarray(target), dict(params))
    _read_only(loss, grad)
    return Curve(key, registry.get(key).label, grid, loss, grad, grad)


def raw_point(x: float, target, keys: Iterable[str], params: Mapping[str, float]) -> list[PointValues]:
    """Readout rows at one raw output x: the loss and dL/dx (twice: dL/dx is the gradient drawn)."""
    rows = []
    point, label = _scalar(x), _scalar(target)
    for key in keys:
        spec = registry.get(key)
        values = _params_for(spec, params)
        if key in _IDENTITY_KERNELS and point is not None and label is not None:
            rows.append(_raw_row(key, *_cache_number(point), *_cache_number(label),
                                 _frozen(_validated(spec, values))))
            continue
        loss_function, grad_function = raw_functions(spec)
        grad = float(grad_function(x, target, **values))
        rows.append(PointValues(key, spec.label, float(loss_function(x, target, **values)), grad, grad))
    return rows


@functools.lru_cache(maxsize=CACHE_SIZE)
def _raw_row(key: str, x: float, x_sign: float, target: float, target_sign: float, params) -> PointValues:
    """:func:`raw_point`'s kernel row (cached per loss: a parameter change leaves the other rows as they were)."""
    loss, grad = _IDENTITY_KERNELS[key](np.asarray(x), np.asarray(target), _thawed(params))
    return PointValues(key, registry.get(key).label, float(loss), float(grad), float(grad))


def binary_grid(axis: BinaryAxis, include: float | None = None) -> Grid:
    """Logits in [-8, 8], or probabilities in [0.0025, 0.9975] (the ends are infinitely far in z),
    widened to show ``include``; on the probability axis only ever to halfway to 0 or 1."""
    if axis == "logit":
        return widened(-LOGIT_HALF_WIDTH, LOGIT_HALF_WIDTH, include)
    low, high = PROBABILITY_MARGIN, 1 - PROBABILITY_MARGIN
    if include is not None:
        # Halfway to 0 or 1 can round to 0 or 1 itself (include = 5e-324, or an ulp below 1), where the
        # logit is infinite: the marker then ends the axis.
        halfway_down, halfway_up = include / 2, 1 - (1 - include) / 2
        low = min(low, halfway_down if halfway_down > 0 else include)
        high = max(high, halfway_up if halfway_up < 1 else include)
    return Grid.spanning(low, high)


def _binary_logits(x: np.ndarray | float, axis: BinaryAxis):
    return x if axis == "logit" else logit(x)


def sweep_binary(
    target: float, axis: BinaryAxis, keys: Iterable[str], params: Mapping[str, float],
    include: float | None = None,
) -> list[Curve]:
    """Each binary loss against :math:`\\hat p` or :math:`z`, with dL/dx matching the axis."""
    grid = binary_grid(axis, include)
    curves = []
    shared = None
    for key in keys:
        spec = registry.get(key)
        values = _params_for(spec, params)
        if key in _LOGIT_KERNELS and _label(target, key) is not None:
            values = _validated(spec, values)
            curves.append(_binary_curve(key, axis, grid, *_cache_number(target), tuple(values.items())))
            continue
        if shared is None:
            x = grid.values()
            shared = x, _binary_logits(x, axis)
        x, logits = shared
        loss = np.asarray(spec.loss_from_logit(logits, target, **values) if axis == "logit"
                          else spec.loss(x, target, **values))  # at p̂ itself, not at its rounded logit
        grad_logit = np.asarray(spec.grad_from_logit(logits, target, **values))
        grad = grad_logit if axis == "logit" else np.asarray(spec.grad(x, target, **values))
        curves.append(Curve(key, spec.label, grid, loss, grad, grad_logit))
    return curves


@functools.lru_cache(maxsize=CACHE_SIZE)
def _binary_curve(key: str, axis: BinaryAxis, grid: Grid, target: float, sign: float,
                  params: tuple[tuple[str, float], ...]) -> Curve:
    x = grid.values()
    label = np.asarray(target)
    logits = np.asarray(_binary_logits(x, axis), dtype=np.float64)
    values = dict(params)
    loss, grad_logit = _LOGIT_KERNELS[key](logits, label, values)
    if axis == "prob":
        loss = _probability_loss(key, x, label, values)
    grad = grad_logit if axis == "logit" else _probability_grad(key, x, label, values)
    _read_only(loss, grad, grad_logit)
    return Curve(key, registry.get(key).label, grid, loss, grad, grad_logit)


def _probability_loss(key: str, prob, label, values) -> np.ndarray:
    """The loss at ``prob`` itself, as the registry's ``loss`` gives it (BCE unclipped, eps = 0): the loss of the
    rounded logit(prob) is up to hundreds of ulp off far out (BCE 87 ulp at p = 1e-100, focal 200)."""
    if key == "bce":
        return binary._unclipped_bce_loss(prob, label)
    if key == "sigmoid_mse":
        return regression._mse_kernel(prob, label)[0]
    return np.asarray(registry.get(key).loss(prob, label, **values))


def _probability_grad(key: str, prob, label, values) -> np.ndarray:
    """dL/dp at ``prob``, as the registry's ``grad`` gives it (BCE unclipped)."""
    if key in _PROBABILITY_GRAD_KERNELS:
        return _PROBABILITY_GRAD_KERNELS[key](prob, label)
    # links.grad_on_probability: the slope p (1 - p) from p itself and dL/dz at p's exact logit, not at its
    # rounding (hundreds of ulp apart at p = 1e-240)
    return np.asarray(registry.get(key).grad(prob, label, **values))


def _unclipped_bce_grad(p, y) -> np.ndarray:
    with np.errstate(over="ignore"):  # (p - y) / (p (1 - p)) past float max is -inf, its true size
        return binary._bce_kernel(p, y, eps=0)[1]


def binary_point(
    x: float, axis: BinaryAxis, target: float, keys: Iterable[str], params: Mapping[str, float]
) -> list[PointValues]:
    """Readout rows at one point of the axis: loss, dL/dp̂ and dL/dz."""
    z = float(_binary_logits(x, axis))
    p = float(x) if axis == "prob" else float(sigmoid(z))  # sigmoid(logit(x)) is hundreds of ulp from x at 1e-200
    rows = []
    for key in keys:
        spec = registry.get(key)
        values = _params_for(spec, params)
        label = _label(target, key)
        if key in _LOGIT_KERNELS and label is not None and math.isfinite(z):
            rows.append(_binary_row(key, *_cache_number(z), *_cache_number(p), *_cache_number(label),
                                    _frozen(_validated(spec, values)), axis == "prob"))
            continue
        rows.append(
            PointValues(
                key,
                spec.label,
                float(spec.loss_from_logit(z, target, **values) if axis == "logit" or not 0 < p < 1
                      else spec.loss(p, target, **values)),
                float(spec.grad(p, target, **values)) if 0 < p < 1 else float("nan"),
                float(spec.grad_from_logit(z, target, **values)),
            )
        )
    return rows


@functools.lru_cache(maxsize=CACHE_SIZE)
def _binary_row(key: str, z: float, z_sign: float, p: float, p_sign: float, target: float, target_sign: float,
                params, at_probability: bool = False) -> PointValues:
    """:func:`binary_point`'s kernel row at logit ``z`` = its probability ``p`` (cached per loss); the loss at
    ``p`` itself when ``p`` is the point typed (the probability axis), else at ``z``."""
    values = _thawed(params)
    label = np.asarray(target)
    loss, grad_logit = _LOGIT_KERNELS[key](np.asarray(z), label, values)
    if at_probability and 0 < p < 1:
        loss = _probability_loss(key, np.asarray(p), label, values)
    grad = float("nan")
    if 0 < p < 1:
        # the registry's dL/dp takes p itself: logit(p) is not z to the last bit
        grad = float(_probability_grad(key, np.asarray(p), label, values))
    return PointValues(key, registry.get(key).label, float(loss), grad, float(grad_logit))


def to_probability(x: float, axis: BinaryAxis) -> float:
    return float(x) if axis == "prob" else float(sigmoid(x))


def from_probability(p: float, axis: BinaryAxis) -> float:
    if axis == "prob":
        return float(p)
    if type(p) is float:  # a view asks for the same point's logit several times a request (grid, plan, code)
        return _logit_of(p, math.copysign(1.0, p))
    return float(logit(p))


@functools.lru_cache(maxsize=CACHE_SIZE)
def _logit_of(p: float, sign: float) -> float:
    return float(logit(p))


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
    r"""Softmax of :math:`z / T`, its naive twin, and the cross-entropy gradient :math:`(\hat p - y) / T` (cached)."""
    logits_key = np.ascontiguousarray(logits, dtype=np.float64).tobytes()
    return _softmax_state(logits_key, true_class, temperature, *_cache_number(temperature)[1:],
                          smoothing, *_cache_number(smoothing)[1:])


@functools.lru_cache(maxsize=CACHE_SIZE)
def _softmax_state(logits: bytes, true_class: int, temperature: float, temperature_sign: float,
                   smoothing: float, smoothing_sign: float) -> SoftmaxState:
    logits_array = np.frombuffer(logits, dtype=np.float64)
    scaled = logits_array / temperature
    target = smoothed_target(true_class, scaled.size, smoothing)
    spec = registry.get("cross_entropy")
    state = SoftmaxState(
        logits=logits_array,
        temperature=temperature,
        true_class=true_class,
        probabilities=np.array(softmax(scaled)),
        naive_probabilities=np.array(softmax_naive(scaled)),
        grad_logit=np.array(spec.grad_from_logit(scaled, target) / temperature),
        loss=float(spec.loss_from_logit(scaled, target)),
    )
    _read_only(state.probabilities, state.naive_probabilities, state.grad_logit)
    return state


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
    of the temperature. Computed by the public functions, and cached per loss.
    """
    setting = _multiclass_setting(logits, true_class, temperature, swept_class, smoothing)
    return [_multiclass_curve(key, *setting, _frozen(_params_for(registry.get(key), params or {})))
            for key in keys]


@functools.lru_cache(maxsize=CACHE_SIZE)
def _multiclass_curve(key: str, logits: bytes, true_class: int, temperature: float, temperature_sign: float,
                      swept_class: int, smoothing: float, smoothing_sign: float, params) -> Curve:
    logits_array = np.frombuffer(logits, dtype=np.float64)
    grid = multiclass_grid(logits_array, swept_class)
    batch = np.repeat(logits_array[None, :], grid.count, axis=0)
    batch[:, swept_class] = grid.values()
    scaled = batch / temperature
    target = smoothed_target(true_class, batch.shape[1], smoothing)
    spec = registry.get(key)
    values = _thawed(params)
    loss = np.array(spec.loss_from_logit(scaled, target, **values))  # np.array: our own copy to freeze
    grad = np.asarray(spec.grad_from_logit(scaled, target, **values))[:, swept_class] / temperature
    _read_only(loss, grad)
    return Curve(key, spec.label, grid, loss, grad, grad)


def multiclass_point(
    logits: np.ndarray, true_class: int, temperature: float, swept_class: int, keys: Iterable[str],
    smoothing: float = 0.0, params: Mapping[str, float] | None = None,
) -> list[PointValues]:
    """Readout rows at the current logits: loss, dL/dp̂_k and dL/dz_k for the swept class k (cached per loss)."""
    setting = _multiclass_setting(logits, true_class, temperature, swept_class, smoothing)
    return [_multiclass_row(key, *setting, _frozen(_params_for(registry.get(key), params or {}))) for key in keys]


@functools.lru_cache(maxsize=CACHE_SIZE)
def _multiclass_row(key: str, logits: bytes, true_class: int, temperature: float, temperature_sign: float,
                    swept_class: int, smoothing: float, smoothing_sign: float, params) -> PointValues:
    scaled = np.frombuffer(logits, dtype=np.float64) / temperature
    target = smoothed_target(true_class, scaled.size, smoothing)
    probabilities = softmax(scaled)
    spec = registry.get(key)
    values = _thawed(params)
    return PointValues(
        key,
        spec.label,
        float(spec.loss_from_logit(scaled, target, **values)),
        float(np.asarray(spec.grad(probabilities, target, **values))[swept_class]),
        float(np.asarray(spec.grad_from_logit(scaled, target, **values))[swept_class] / temperature),
    )


def _multiclass_setting(logits, true_class, temperature, swept_class, smoothing) -> tuple:
    """The multiclass arguments as a cache key: the logits' exact bytes, and every number with its sign."""
    return (np.ascontiguousarray(logits, dtype=np.float64).tobytes(), true_class, *_cache_number(temperature),
            swept_class, *_cache_number(smoothing))


def _frozen(values: Mapping[str, float]) -> tuple:
    """Parameters as a cache key, each with its sign (anything not a number goes to the public function as is)."""
    return tuple((name, value, math.copysign(1.0, value) if isinstance(value, int | float) else 1.0)
                 for name, value in values.items())


def _thawed(frozen: tuple) -> dict[str, float]:
    return {name: value for name, value, _sign in frozen}
