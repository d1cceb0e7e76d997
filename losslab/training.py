r"""Gradient descent driven by each binary loss: the arrays the Training view animates.

Pure NumPy, generated from :mod:`losslab.registry` (every ``task="binary"``
entry, with its ``loss_from_logit`` and ``grad_from_logit``). Two settings:

1. **One logit.** :func:`descend_logit` runs plain gradient descent on a single
   logit, :math:`z_{t+1} = z_t - \eta\,\partial\ell/\partial z(z_t)`, on the
   unreduced loss :math:`\ell(z, y)` of every selected loss, from
   :math:`z_0 = \operatorname{logit}(\hat p_0)`. With the defaults
   (:math:`\hat p_0 = 0.99`, :math:`y = 0`, :math:`\eta = 1`) BCE's
   :math:`\hat p` crosses 0.5 after 6 steps and MSE on the sigmoid needs 59:
   the chapter's lesson, in motion.
2. **Two parameters.** Logistic regression :math:`\hat p_i = \sigma(w x_i + b)`
   on a seeded 1-D dataset (:func:`make_dataset`): :func:`loss_surface` gives
   the mean loss :math:`L(w, b) = \frac1n \sum_i \ell(w x_i + b, y_i)` over a
   grid, :func:`descend_parameters` the descent path in :math:`(w, b)`.

Conventions:

- Every array is float64 (the step index ``step`` is int64), one-dimensional
  over the steps :math:`t = 0, \dots, T` (length ``steps + 1``) unless stated,
  and read-only, so a result can be cached and shared between requests.
- Results are small frozen dataclasses, one per loss, in the order the loss
  keys were given; ``key``/``label`` are the registry's.
- Loss parameters (focal's ``gamma``) come in one mapping, ``params``, shared
  by all losses; a loss takes the entries it knows and its defaults for the rest.
- **Divergence.** A run *diverges* at step :math:`t` when the update produces
  a parameter that is not finite or exceeds ``DIVERGENCE_LIMIT`` (:math:`10^6`)
  in magnitude, or when the gradient is not finite. The run then stops: every
  array holds its value at ``diverged_at`` to the end, ``diverged`` is True.
  Held values may be huge or :math:`\pm\infty`, never NaN; a loss or gradient
  that is undefined there (such as :math:`0 \cdot \infty`) is reported as +inf.
- Bad input raises ``ValueError`` naming the value and the expected range,
  before any work is done.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from losslab import registry
from losslab._validation import Interval
from losslab.activations import logit, sigmoid

MAX_STEPS = 1000
# Past |z| = 1e6 the sigmoid is exactly 0 or 1 in float64 (it already is past ~745):
# nothing is left to learn, so a run that gets there has diverged.
DIVERGENCE_LIMIT = 1e6

LEARNING_RATE = Interval(0.0, None, low_inclusive=False)
START_PROBABILITY = Interval(0.0, 1.0, low_inclusive=False, high_inclusive=False)
TARGET = Interval(0.0, 1.0)
STEPS = Interval(1, MAX_STEPS)

DEFAULT_START_PROBABILITY = 0.99
DEFAULT_TARGET = 0.0
DEFAULT_LOGIT_LEARNING_RATE = 1.0
DEFAULT_LOGIT_STEPS = 100

POINTS = Interval(2, 500)
SEPARATION = Interval(0.0, 10.0)
LABEL_NOISE = Interval(0.0, 0.5)
SEED = Interval(0, 2**32 - 1)
DEFAULT_POINTS = 40
DEFAULT_SEPARATION = 2.0
DEFAULT_LABEL_NOISE = 0.1
DEFAULT_SEED = 0

# A start on MSE's plateau for the default dataset: BCE is within 1% of its minimum
# after 18 steps; MSE on the sigmoid stalls at a mean loss near 0.48 (its minimum is 0.14).
DEFAULT_PARAMETER_START = (-6.0, 4.0)
DEFAULT_PARAMETER_LEARNING_RATE = 1.0
DEFAULT_PARAMETER_STEPS = 200
# Wide enough that the sigmoid saturates for most points near the edges: MSE's
# plateaus (and BCE's straight walls) fill the corners of the default view.
DEFAULT_W_RANGE = (-8.0, 8.0)
DEFAULT_B_RANGE = (-8.0, 8.0)
# Odd, so w = 0 and b = 0 are grid points.
DEFAULT_RESOLUTION = 121
RESOLUTION = Interval(2, 401)
# Grid points x data points evaluated at once: about 2 MB per float64 temporary.
SURFACE_CHUNK_ELEMENTS = 2**18

BINARY_KEYS: tuple[str, ...] = tuple(spec.key for spec in registry.for_task("binary"))


# ------------------------------------------------------------------ results


@dataclass(frozen=True)
class LogitRun:
    r"""One loss's gradient descent on a single logit, over steps :math:`t = 0..T`.

    ``step``, ``logit`` (:math:`z_t`), ``probability`` (:math:`\hat p_t = \sigma(z_t)`),
    ``loss`` (:math:`\ell(z_t, y)`), ``gradient`` (:math:`\partial\ell/\partial z(z_t)`, the
    value the update used) and ``grad_norm`` (its magnitude) all have shape ``(steps + 1,)``;
    index ``t`` is the state *before* update ``t + 1``.

    ``steps_to_cross``: the first ``t`` at which :math:`\hat p_t` lies strictly on the
    label's side of 0.5 (:math:`\hat p_t < 0.5` for :math:`y < 0.5`, :math:`> 0.5` for
    :math:`y > 0.5`); 0 if the start already does; ``None`` if no step does, and
    always ``None`` for :math:`y = 0.5`, which has no side.
    ``steps_to_tenth_loss``: the first ``t`` with ``loss[t] <= 0.1 * loss[0]``, else ``None`` (always
    ``None`` when ``loss[0]`` is inf: the exponential loss from :math:`\hat p_0 = 10^{-320}`, y = 1).
    Both read the arrays as returned, held values of a diverged run included.
    ``diverged_at``: the step of divergence (module docstring), ``None`` when ``diverged`` is False.
    """

    key: str
    label: str
    step: np.ndarray
    logit: np.ndarray
    probability: np.ndarray
    loss: np.ndarray
    gradient: np.ndarray
    grad_norm: np.ndarray
    steps_to_cross: int | None
    steps_to_tenth_loss: int | None
    diverged: bool
    diverged_at: int | None


@dataclass(frozen=True)
class Dataset:
    """A 1-D binary dataset: ``x``, labels ``y`` in {0, 1} and which labels were ``flipped`` by noise.

    All three have shape ``(n,)``; ``x`` and ``y`` are float64, ``flipped`` is bool.
    Built by :func:`make_dataset`; constructing one directly validates the arrays.
    """

    x: np.ndarray
    y: np.ndarray
    flipped: np.ndarray

    def __post_init__(self):
        x = _read_only(np.asarray(self.x, dtype=np.float64))
        y = _read_only(np.asarray(self.y, dtype=np.float64))
        flipped = _read_only(np.asarray(self.flipped, dtype=bool))
        if x.ndim != 1 or x.size < 1 or y.shape != x.shape or flipped.shape != x.shape:
            raise ValueError(
                f"dataset arrays must be 1-D of one length n >= 1, got x {x.shape}, "
                f"y {y.shape}, flipped {flipped.shape}"
            )
        if not np.isfinite(x).all():
            raise ValueError("dataset x must be finite numbers, got NaN or inf")
        if not np.isin(y, (0.0, 1.0)).all():
            raise ValueError(f"dataset labels y must be 0 or 1, got {y[~np.isin(y, (0.0, 1.0))][0].item()!r}")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "flipped", flipped)


@dataclass(frozen=True)
class LossSurface:
    r"""The mean loss :math:`L(w, b)` of one loss over a grid.

    ``w`` has shape ``(resolution,)``, ``b`` shape ``(resolution,)``, and ``loss``
    shape ``(len(b), len(w))``: ``loss[i, j]`` is :math:`L(w_j, b_i)`, rows along
    ``b`` (Plotly's contour layout: ``go.Contour(x=w, y=b, z=loss)``).
    """

    key: str
    label: str
    w: np.ndarray
    b: np.ndarray
    loss: np.ndarray


@dataclass(frozen=True)
class ParameterPath:
    r"""One loss's gradient-descent path in :math:`(w, b)`, over steps :math:`t = 0..T`.

    ``step``, ``w``, ``b``, ``loss`` (the mean loss :math:`L(w_t, b_t)`) and the
    gradient of the mean loss ``grad_w`` (:math:`\partial L/\partial w`) and
    ``grad_b`` (:math:`\partial L/\partial b`) all have shape ``(steps + 1,)``;
    :math:`(w_{t+1}, b_{t+1}) = (w_t, b_t) - \eta\,(\partial_w L, \partial_b L)(w_t, b_t)`.
    ``diverged``/``diverged_at`` as for :class:`LogitRun`.
    """

    key: str
    label: str
    step: np.ndarray
    w: np.ndarray
    b: np.ndarray
    loss: np.ndarray
    grad_w: np.ndarray
    grad_b: np.ndarray
    diverged: bool
    diverged_at: int | None


# ------------------------------------------------------------------ part 1: one logit


def descend_logit(
    keys: Iterable[str] = BINARY_KEYS,
    *,
    start: float = DEFAULT_START_PROBABILITY,
    target: float = DEFAULT_TARGET,
    learning_rate: float = DEFAULT_LOGIT_LEARNING_RATE,
    steps: int = DEFAULT_LOGIT_STEPS,
    params: Mapping[str, float] | None = None,
) -> tuple[LogitRun, ...]:
    r"""Gradient descent on one logit for each binary loss in ``keys``, side by side.

    .. math:: z_0 = \operatorname{logit}(\hat p_0), \qquad
              z_{t+1} = z_t - \eta\,\frac{\partial \ell}{\partial z}(z_t, y),
              \quad t = 0, \dots, T - 1

    Parameters
    ----------
    keys : binary loss keys of :mod:`losslab.registry` (default: all of them).
    start : :math:`\hat p_0` in (0, 1), the starting probability.
    target : the label :math:`y` in [0, 1]; losses with ``hard_labels_only``
        (hinge) need :math:`y \in \{0, 1\}`.
    learning_rate : :math:`\eta > 0`.
    steps : :math:`T`, an integer in [1, 1000].
    params : loss parameters by name, such as ``{"gamma": 2.0}``.

    Returns
    -------
    One :class:`LogitRun` per key, in order; every array has shape ``(steps + 1,)``.
    """
    specs = _binary_specs(keys)
    start = START_PROBABILITY.validate(start, "start")
    target = TARGET.validate(target, "target")
    learning_rate = LEARNING_RATE.validate(learning_rate, "learning_rate")
    steps = _integer(steps, "steps", STEPS)
    for spec in specs:
        if spec.hard_labels_only and target not in (0.0, 1.0):
            raise ValueError(
                f"{spec.label} needs a hard label, target 0 or 1, got {target!r}; "
                "leave it out for soft labels"
            )
    values = _loss_parameters(specs, params)
    z0 = np.array([float(logit(start))])
    return tuple(
        _logit_run(spec, values[spec.key], z0, target, learning_rate, steps) for spec in specs
    )


def _logit_run(spec, values, z0, target, learning_rate, steps) -> LogitRun:
    def gradient(z: np.ndarray) -> np.ndarray:
        return np.array([spec.grad_from_logit(z[0], target, **values)], dtype=np.float64)

    def loss(z: np.ndarray) -> np.ndarray:
        return np.asarray(spec.loss_from_logit(z[:, 0], target, **values), dtype=np.float64)

    descent = _gradient_descent(gradient, loss, z0, learning_rate, steps)
    z = descent.parameters[:, 0]
    probability = np.asarray(sigmoid(z), dtype=np.float64)
    return LogitRun(
        key=spec.key,
        label=spec.label,
        step=_read_only(np.arange(steps + 1)),
        logit=_read_only(z),
        probability=_read_only(probability),
        loss=_read_only(descent.loss),
        gradient=_read_only(descent.gradients[:, 0]),
        grad_norm=_read_only(np.abs(descent.gradients[:, 0])),
        steps_to_cross=_steps_to_cross(probability, target),
        # an infinite start (exp(-z) past float max) has no tenth: inf <= inf would say step 0
        steps_to_tenth_loss=(_first(descent.loss <= 0.1 * descent.loss[0]) if math.isfinite(descent.loss[0])
                             else None),
        diverged=descent.diverged_at is not None,
        diverged_at=descent.diverged_at,
    )


def _steps_to_cross(probability: np.ndarray, target: float) -> int | None:
    if target < 0.5:
        return _first(probability < 0.5)
    if target > 0.5:
        return _first(probability > 0.5)
    return None


def _first(condition: np.ndarray) -> int | None:
    hits = np.flatnonzero(condition)
    return int(hits[0]) if hits.size else None


@dataclass(frozen=True)
class GradientCheck:
    r"""A logit run's gradients against central finite differences of its loss, step by step.

    ``gradient`` is the run's :math:`g_t = \partial\ell/\partial z(z_t)`, the value each update
    used; ``finite_difference`` is

    .. math:: d_t = \frac{\ell(z_t + h_t, y) - \ell(z_t - h_t, y)}{(z_t + h_t) - (z_t - h_t)},
              \qquad h_t = \epsilon^{1/3} \max(1, |z_t|)

    with :math:`\epsilon` float64's machine epsilon (the step that balances the
    :math:`O(h^2)` truncation against the rounding of :math:`\ell`). Both have shape
    ``(steps + 1,)``; ``finite_difference`` is NaN where it was not computed.
    ``checked`` (bool, same shape) marks the steps compared: those the charts show (up to and
    including the step of divergence) where :math:`z_t`, :math:`g_t` and :math:`d_t` are finite.

    ``relative_difference`` is :math:`\max_t |d_t - g_t| \,/\, \max_t |g_t|` over the checked
    steps: about 1e-9 or less for a right gradient of a smooth loss, order one for a wrong one,
    and large where a step lands within :math:`h_t` of a kink (hinge at :math:`z s = 1`).
    It is 0 when no step is checked or both are 0 at every checked step, and inf when the
    gradient is 0 at every checked step and the difference is not.
    """

    key: str
    label: str
    gradient: np.ndarray
    finite_difference: np.ndarray
    checked: np.ndarray
    relative_difference: float


# The central difference's best step for float64: truncation h^2 against rounding eps / h.
_DIFFERENCE_STEP = float(np.finfo(np.float64).eps) ** (1 / 3)


def gradient_check(
    run: LogitRun, *, target: float, params: Mapping[str, float] | None = None
) -> GradientCheck:
    r"""Check the gradients a :func:`descend_logit` run used against its loss, step by step.

    ``target`` and ``params`` must be the run's own (the label :math:`y` and the loss
    parameters given to :func:`descend_logit`); the loss is evaluated at
    :math:`z_t \pm h_t` by the registry's ``loss_from_logit``, one vectorised call each.
    See :class:`GradientCheck` for what is compared and returned.
    """
    (spec,) = _binary_specs([run.key])
    target = TARGET.validate(target, "target")
    if spec.hard_labels_only and target not in (0.0, 1.0):
        raise ValueError(f"{spec.label} needs a hard label, target 0 or 1, got {target!r}")
    values = _loss_parameters([spec], params)[spec.key]
    z = np.asarray(run.logit, dtype=np.float64)
    gradient = np.asarray(run.gradient, dtype=np.float64)
    shown = np.arange(z.size) <= (z.size - 1 if run.diverged_at is None else run.diverged_at)
    at = np.flatnonzero(shown & np.isfinite(z))
    difference = np.full(z.size, np.nan)
    if at.size:
        step = _DIFFERENCE_STEP * np.maximum(1.0, np.abs(z[at]))
        # Held values of a diverged run may be near float64's limit: z + h overflows, the
        # losses there are inf and their difference NaN; such steps are simply not checked.
        with np.errstate(over="ignore", invalid="ignore"):
            upper, lower = z[at] + step, z[at] - step
            losses = np.asarray(spec.loss_from_logit(np.concatenate([upper, lower]), target, **values),
                                dtype=np.float64)
            # divide by the spacing of the points actually evaluated, not by 2h (z + h is rounded)
            difference[at] = (losses[: at.size] - losses[at.size :]) / (upper - lower)
    checked = shown & np.isfinite(z) & np.isfinite(gradient) & np.isfinite(difference)
    misfit = float(np.max(np.abs(difference[checked] - gradient[checked]), initial=0.0))
    scale = float(np.max(np.abs(gradient[checked]), initial=0.0))
    relative = misfit / scale if scale > 0 else (0.0 if misfit == 0 else math.inf)
    return GradientCheck(
        key=spec.key,
        label=spec.label,
        gradient=_read_only(gradient),
        finite_difference=_read_only(difference),
        checked=_read_only(checked),
        relative_difference=relative,
    )


# ------------------------------------------------------------------ part 2: two parameters


def make_dataset(
    *,
    points: int = DEFAULT_POINTS,
    separation: float = DEFAULT_SEPARATION,
    label_noise: float = DEFAULT_LABEL_NOISE,
    seed: int = DEFAULT_SEED,
) -> Dataset:
    r"""A seeded 1-D two-class dataset for logistic regression.

    The first ``points // 2`` points have true label 0, the rest 1; each
    :math:`x_i \sim \mathcal N(\pm s/2, 1)` with :math:`s` = ``separation`` (the
    sign is the class's: :math:`-` for 0, :math:`+` for 1). Then exactly
    ``round(label_noise * points)`` labels, chosen without replacement, are
    flipped. Deterministic: ``numpy.random.default_rng(seed)`` draws the
    normals first, then the flipped indices.

    Ranges: ``points`` an integer in [2, 500], ``separation`` in [0, 10],
    ``label_noise`` in [0, 0.5], ``seed`` an integer in [0, 2**32 - 1].
    """
    points = _integer(points, "points", POINTS)
    separation = SEPARATION.validate(separation, "separation")
    label_noise = LABEL_NOISE.validate(label_noise, "label_noise")
    seed = _integer(seed, "seed", SEED)
    rng = np.random.default_rng(seed)
    true_label = (np.arange(points) >= points // 2).astype(np.float64)
    x = rng.standard_normal(points) + (true_label - 0.5) * separation
    flipped = np.zeros(points, dtype=bool)
    flipped[rng.choice(points, size=round(label_noise * points), replace=False)] = True
    return Dataset(x=x, y=np.where(flipped, 1 - true_label, true_label), flipped=flipped)


def mean_loss(
    dataset: Dataset, key: str, w, b, *, params: Mapping[str, float] | None = None
) -> np.ndarray:
    r"""The mean loss :math:`L(w, b) = \frac1n \sum_i \ell(w x_i + b, y_i)` at broadcast ``w``, ``b``.

    ``w`` and ``b`` are array-likes that broadcast together; the result has
    their broadcast shape (float64). Large inputs are evaluated in chunks.
    """
    (spec,) = _binary_specs([key])
    values = _loss_parameters([spec], params)[spec.key]
    w, b = _parameter_arrays(w, b)
    return _mean_losses([spec], [values], dataset, w, b)[0]


def loss_surface(
    dataset: Dataset,
    keys: Iterable[str] = ("bce", "sigmoid_mse"),
    *,
    w_range: tuple[float, float] = DEFAULT_W_RANGE,
    b_range: tuple[float, float] = DEFAULT_B_RANGE,
    resolution: int = DEFAULT_RESOLUTION,
    params: Mapping[str, float] | None = None,
) -> tuple[LossSurface, ...]:
    r"""The mean loss of each binary loss over a ``resolution`` x ``resolution`` grid of :math:`(w, b)`.

    ``w`` runs evenly over ``w_range`` and ``b`` over ``b_range`` (both ends
    included; each range ``(low, high)`` finite, low < high, within
    :math:`\pm 10^6`); ``resolution`` is an integer in [2, 401]. The grid times
    the data points is broadcast in one array, in chunks of about
    ``SURFACE_CHUNK_ELEMENTS`` elements, and the logits of a chunk are shared
    by all the losses.

    Returns one :class:`LossSurface` per key, ``loss`` of shape
    ``(resolution, resolution)`` indexed ``[b, w]``.
    """
    specs = _binary_specs(keys)
    values = _loss_parameters(specs, params)
    w = _grid_axis(w_range, "w_range", resolution)
    b = _grid_axis(b_range, "b_range", resolution)
    surfaces = _mean_losses(specs, [values[s.key] for s in specs], dataset, w[None, :], b[:, None])
    w, b = _read_only(w), _read_only(b)
    return tuple(
        LossSurface(spec.key, spec.label, w, b, _read_only(surface))
        for spec, surface in zip(specs, surfaces, strict=True)
    )


def descend_parameters(
    dataset: Dataset,
    keys: Iterable[str] = ("bce", "sigmoid_mse"),
    *,
    start: tuple[float, float] = DEFAULT_PARAMETER_START,
    learning_rate: float = DEFAULT_PARAMETER_LEARNING_RATE,
    steps: int = DEFAULT_PARAMETER_STEPS,
    params: Mapping[str, float] | None = None,
) -> tuple[ParameterPath, ...]:
    r"""Gradient descent on the mean loss :math:`L(w, b)` for each loss in ``keys``, from ``start``.

    .. math:: \begin{pmatrix} w \\ b \end{pmatrix}_{t+1} =
              \begin{pmatrix} w \\ b \end{pmatrix}_t - \eta\,\frac1n \sum_i
              \frac{\partial \ell}{\partial z}(w_t x_i + b_t, y_i)
              \begin{pmatrix} x_i \\ 1 \end{pmatrix}

    ``start`` is :math:`(w_0, b_0)`, finite and within :math:`\pm 10^6`;
    ``learning_rate`` :math:`\eta > 0`; ``steps`` an integer in [1, 1000].
    Each step is one vectorised gradient call over the data points per loss;
    the losses along the path are one call per loss at the end.

    Returns one :class:`ParameterPath` per key; every array has shape ``(steps + 1,)``.
    """
    specs = _binary_specs(keys)
    values = _loss_parameters(specs, params)
    theta0 = _start_point(start)
    learning_rate = LEARNING_RATE.validate(learning_rate, "learning_rate")
    steps = _integer(steps, "steps", STEPS)
    return tuple(
        _parameter_path(spec, values[spec.key], dataset, theta0, learning_rate, steps)
        for spec in specs
    )


def _parameter_path(spec, values, dataset, theta0, learning_rate, steps) -> ParameterPath:
    x, y = dataset.x, dataset.y

    def gradient(theta: np.ndarray) -> np.ndarray:
        slope = np.asarray(spec.grad_from_logit(theta[0] * x + theta[1], y, **values))
        # the means as a dot product and a sum over n: one pass each, a third of np.mean's overhead
        return np.array([np.dot(slope, x), slope.sum()]) / x.size

    def loss(thetas: np.ndarray) -> np.ndarray:
        return _mean_losses([spec], [values], dataset, thetas[:, :1], thetas[:, 1:])[0][:, 0]

    descent = _gradient_descent(gradient, loss, theta0, learning_rate, steps)
    return ParameterPath(
        key=spec.key,
        label=spec.label,
        step=_read_only(np.arange(steps + 1)),
        w=_read_only(descent.parameters[:, 0]),
        b=_read_only(descent.parameters[:, 1]),
        loss=_read_only(descent.loss),
        grad_w=_read_only(descent.gradients[:, 0]),
        grad_b=_read_only(descent.gradients[:, 1]),
        diverged=descent.diverged_at is not None,
        diverged_at=descent.diverged_at,
    )


def _mean_losses(specs, values, dataset: Dataset, w: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    """Mean loss of each spec at broadcast ``w``, ``b``: grid points x data points, in chunks."""
    shape = np.broadcast_shapes(w.shape, b.shape)
    w_flat = np.broadcast_to(w, shape).ravel()
    b_flat = np.broadcast_to(b, shape).ravel()
    results = [np.empty(w_flat.size) for _ in specs]
    chunk = max(1, SURFACE_CHUNK_ELEMENTS // dataset.x.size)
    for begin in range(0, w_flat.size, chunk):
        part = slice(begin, begin + chunk)
        logits = w_flat[part, None] * dataset.x + b_flat[part, None]
        for spec, spec_values, result in zip(specs, values, results, strict=True):
            result[part] = np.asarray(spec.loss_from_logit(logits, dataset.y, **spec_values)).mean(axis=-1)
    return [result.reshape(shape) for result in results]


# ------------------------------------------------------------------ gradient descent


@dataclass(frozen=True)
class _Descent:
    parameters: np.ndarray  # (steps + 1, k)
    gradients: np.ndarray  # (steps + 1, k)
    loss: np.ndarray  # (steps + 1,)
    diverged_at: int | None


def _gradient_descent(
    gradient: Callable[[np.ndarray], np.ndarray],
    loss: Callable[[np.ndarray], np.ndarray],
    start: np.ndarray,
    learning_rate: float,
    steps: int,
) -> _Descent:
    """Run ``theta -= learning_rate * gradient(theta)``, stopping and holding at divergence.

    ``gradient`` maps a parameter vector (k,) to its gradient (k,); ``loss``
    maps a stack of parameter vectors (m, k) to their losses (m,).
    """
    parameters = np.empty((steps + 1, start.size))
    gradients = np.empty((steps + 1, start.size))
    parameters[0] = start
    diverged_at = None
    # A huge step overflows to inf, and a slope that overflows (the exponential loss far from the
    # data) makes a mean inf or NaN: both end the run as divergence, caught below, not as warnings.
    # One errstate for the whole loop, and the checks on the k (1 or 2) values as Python floats:
    # per step, entering an errstate or a NumPy reduction costs more than the step's arithmetic.
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps + 1):
            gradients[t] = gradient(parameters[t])
            if t == steps:
                break
            slope = gradients[t].tolist()
            if not all(map(math.isfinite, slope)):
                diverged_at = t
                break
            if not any(slope):  # a zero gradient is a fixed point: fill the rest, no more calls
                parameters[t + 1 :] = parameters[t]
                gradients[t + 1 :] = 0.0
                break
            parameters[t + 1] = parameters[t] - learning_rate * gradients[t]
            if not all(math.isfinite(v) and abs(v) <= DIVERGENCE_LIMIT for v in parameters[t + 1].tolist()):
                diverged_at = t + 1
                break
    if diverged_at is None:
        return _Descent(parameters, gradients, loss(parameters), None)
    return _held(parameters, gradients, loss, gradient, diverged_at)


def _held(parameters, gradients, loss, gradient, diverged_at: int) -> _Descent:
    """Hold the state at ``diverged_at`` to the end; undefined values there become +inf."""
    held = parameters[diverged_at].copy()
    parameters[diverged_at:] = held
    gradients[diverged_at:] = _undefined_as_inf(gradient, held)
    losses = np.empty(parameters.shape[0])
    losses[:diverged_at] = loss(parameters[:diverged_at])
    losses[diverged_at:] = _undefined_as_inf(loss, held[None, :])[0]
    return _Descent(parameters, gradients, losses, diverged_at)


def _undefined_as_inf(function: Callable[[np.ndarray], np.ndarray], theta: np.ndarray) -> np.ndarray:
    """``function(theta)`` at a diverged point, with NaN (undefined) reported as +inf."""
    # Past the limit, products such as 0 * inf and inf - inf are expected: no warnings,
    # and a NaN logit (which the registry rejects with ValueError) means "undefined" too.
    with np.errstate(all="ignore"):
        try:
            values = np.asarray(function(theta), dtype=np.float64)
        except ValueError:
            return np.full(theta.shape[-1] if theta.ndim == 1 else theta.shape[0], np.inf)
    return np.where(np.isnan(values), np.inf, values)


def _within_limit(theta: np.ndarray) -> bool:
    return bool(np.isfinite(theta).all() and np.abs(theta).max() <= DIVERGENCE_LIMIT)


# ------------------------------------------------------------------ validation


def _binary_specs(keys: Iterable[str]) -> list[registry.LossSpec]:
    if isinstance(keys, str):
        raise ValueError(f"losses must be a sequence of loss keys, got the string {keys!r}")
    keys = list(keys)
    for key in keys:
        if key not in BINARY_KEYS:
            raise ValueError(f"unknown binary loss {key!r}; expected some of {list(BINARY_KEYS)}")
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(f"losses must each appear once, got {repeated[0]!r} more than once")
    return [registry.get(key) for key in keys]


def _loss_parameters(specs, params: Mapping[str, float] | None) -> dict[str, dict[str, float]]:
    """Each spec's validated parameters: its entries from ``params``, defaults for the rest."""
    params = dict(params or {})
    known = {p.name for key in BINARY_KEYS for p in registry.get(key).parameters}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"unknown loss parameter {unknown[0]!r}; expected some of {sorted(known)}")
    return {
        spec.key: {p.name: p.validate(params.get(p.name, p.default)) for p in spec.parameters}
        for spec in specs
    }


def _integer(value, name: str, valid: Interval) -> int:
    """An integral number (``10`` or ``10.0``, not ``10.5`` or True) within ``valid``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not number.is_integer() or not valid.contains(number):
        raise ValueError(f"{name} must be an integer in {valid.describe()}, got {value!r}")
    return int(number)


def _start_point(start) -> np.ndarray:
    try:
        theta = np.asarray(start, dtype=np.float64)
    except (TypeError, ValueError):
        theta = np.full(1, np.nan)
    if theta.shape != (2,) or not _within_limit(theta):
        raise ValueError(
            f"start must be two finite numbers (w, b), each within [-{DIVERGENCE_LIMIT:g}, "
            f"{DIVERGENCE_LIMIT:g}], got {start!r}"
        )
    return theta


def _parameter_arrays(w, b) -> tuple[np.ndarray, np.ndarray]:
    w = np.asarray(w, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if not (np.isfinite(w).all() and np.isfinite(b).all()):
        raise ValueError("w and b must be finite numbers, got NaN or inf")
    try:
        np.broadcast_shapes(w.shape, b.shape)
    except ValueError:
        raise ValueError(
            f"w with shape {w.shape} and b with shape {b.shape} do not broadcast together"
        ) from None
    return w, b


def _grid_axis(bounds, name: str, resolution) -> np.ndarray:
    resolution = _integer(resolution, "resolution", RESOLUTION)
    try:
        low, high = (float(v) for v in bounds)
    except (TypeError, ValueError):
        low = high = math.nan
    if not (-DIVERGENCE_LIMIT <= low < high <= DIVERGENCE_LIMIT):
        raise ValueError(
            f"{name} must be (low, high) with low < high, both finite within "
            f"[-{DIVERGENCE_LIMIT:g}, {DIVERGENCE_LIMIT:g}], got {bounds!r}"
        )
    return np.linspace(low, high, resolution)


def _read_only(array: np.ndarray) -> np.ndarray:
    array = np.array(array, copy=True)
    array.flags.writeable = False
    return array
