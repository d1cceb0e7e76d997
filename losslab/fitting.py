r"""Fit a line through outliers with any regression loss, and see each point's pull.

:func:`fit_line` finds the slope and intercept minimising the mean loss

.. math:: F(a, b) = \frac1n \sum_i \ell(a x_i + b,\ y_i)

for any registry loss with the identity link (``mse``, ``mae``, ``huber``,
``log_cosh``, ``quantile`` and the robust family). It uses only the core's
functions: the gradient :math:`\psi_i = \partial\ell/\partial\hat y_i` and the
loss itself.

**Smooth losses: iteratively reweighted least squares (IRLS), finished by
Newton.** With weights :math:`w_i = \psi_i / r_i` (:math:`r_i = \hat y_i - y_i`),
one weighted least-squares solve is the step :math:`-H^{-1}\nabla F` with
:math:`H = \frac1n\sum_i w_i (x_i, 1)(x_i, 1)^\top`. For every loss here
:math:`\psi(r)/r` does not increase with :math:`|r|`, so the step is a
majorise–minimise step and never increases F. IRLS converges only linearly,
so once its steps are small (inside the basin it is heading for) the step
becomes Newton's, with :math:`\psi'` from central differences of the core's
ψ, while that Hessian is positive definite; where it is not (a non-convex loss
on a flat stretch) a full IRLS step is doubled while the loss keeps falling.
Either kind of step moves the line by at most a quarter of the y range. An
Armijo backtracking line search guards every step.
The iteration runs until the gradient has cancelled to ``tol`` of the size of
its terms, :math:`\|\nabla F\| \le \mathrm{tol}\cdot\frac1n\sum_i|\psi_i|\,
\|(u_i, 1)\|` in standardised :math:`u` (see below), or until a step
no longer changes the line in floating point (converged), or ``max_iter``
steps (not converged); ``iterations`` counts the steps. Typically 3 to 8.

**Losses with a kink at zero (``mae``, ``quantile``): exact.** Their minimum
sits on a line through two data points. For a fixed slope the best intercept is
the median (or τ-quantile) of :math:`y - a x`, and the mean loss is then convex
and piecewise linear in the slope with breaks at the pairwise slopes, so a
binary search over the sorted pairwise slopes finds the exact minimiser in
:math:`O(n^2 \log n)`. Its ``grad_norm`` is the norm of the smallest
subgradient (the gradient does not exist on the kink): 0 up to rounding at the
optimum.

**Start.** Every fit starts from the repeated-median line (Siegel 1982:
slope = median over i of the median over j of the pairwise slopes), which
tolerates up to half the points being outliers. Convex losses reach their unique
minimum from anywhere; the non-convex ones (Cauchy, Geman–McClure, Tukey,
Barron with α < 1) then settle in the minimum next to the bulk of the data,
as robust statistics recommends (an MM-estimator's start), rather than in one
pulled by the outliers. ``start="least_squares"`` starts from the
least-squares line instead (a non-convex loss can then stay near it), or pass
``(slope, intercept)``. Sweeps use one start for every value, so a frame of an
animation equals a single fit at that value. Where the loss is flat around the
start (Tukey with every residual past c) the start is already stationary and
is returned, converged, after 0 steps.

**Cost.** A fit of 50 points takes 1 to 5 ms (a few core calls per step, two
more for each rounding-level check); a sweep of 101 values of Barron's α over
50 points about 0.3 to 0.7 s on one core, all of it in the fits (the start is
computed once).

**Scales far from the data's.** Where a loss or its ψ would under- or overflow, the same
minimiser is found in other units (``_in_units``): Barron with c at least 1e100 times every
residual is least squares to far below rounding (its ρ ≈ (r/c)²/2 underflows), Cauchy with
c² below 1e-290 times the residuals is fitted as Barron at α = 0 (its loss over c²/2), and
Huber or pseudo-Huber with δ (smooth L1 with β) below 2^-52 times the residuals is the
least-absolute-deviations line, found exactly (``method="exact"``). Barron with α > 1/2 and c so far below
the residuals that its terms, about :math:`(r/c)^\alpha`, pass float max is least squares at α = 2 (at every
c), pseudo-Huber with δ = c (so the L1 line) at α = 1, and :math:`c^\alpha\rho` otherwise; such fits used to
stop at their start, "not converged". The reported mean loss, ψ and gradient norm are always the loss asked
for, to within about 1e-13 where they are the solver's rescaled (its terms overflow, the mean need not), with
``log_mean_loss`` finite where the mean itself is past float max. A point on the line to within rounding may
pull with any ψ its rounding allows, but only along its own row: a line through one point with the others'
pull turning it about that point is not converged (a redescending loss with a small c then settles on a line
through two points).

Arrays are computed in float64, for up to 5000 points with |x|, |y| up to 1e100.
Lines are fitted in standardised x (:math:`u = (x - \bar x)/s_x`, here the
centre and half-range of x, so :math:`u \in [-1, 1]`) for conditioning, and
reported in the data's units.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from losslab import registry, robust
from losslab._validation import as_float_array

__all__ = [
    "FitSweep", "LineData", "LineFit", "fit_line", "fit_lines", "influence", "line_gap",
    "line_rmse", "make_line_data", "repeated_median_line", "sweep_fit",
]

MAX_POINTS = 5000  # the start and the exact L1 search are O(n^2)
VALUE_LIMIT = 1e100  # |x|, |y|: squared residuals and their sums stay far from float max
_EPS = np.finfo(np.float64).eps
_TINY = np.finfo(np.float64).tiny
_KINKED = ("mae", "quantile")  # a kink at r = 0: exact piecewise-linear search, not IRLS
_ARMIJO = 1e-4
_NEWTON_ZONE = 1e-3  # IRLS steps below this fraction of the y range: finish with Newton
_TRUST = 0.25  # no Newton or doubled step moves the line by more than this fraction of the y range
_FUSED = {  # grad -> loss-and-grad in one call, for the losses that have one
    robust.pseudo_huber_grad: robust.pseudo_huber_and_grad,
    robust.cauchy_grad: robust.cauchy_and_grad,
    robust.geman_mcclure_grad: robust.geman_mcclure_and_grad,
    robust.tukey_grad: robust.tukey_and_grad,
    robust.barron_grad: robust.barron_and_grad,
}


# ------------------------------------------------------------------------- data


@dataclass(frozen=True)
class LineData:
    """Points on a line with Gaussian noise, some lifted by ``outlier_distance``.

    ``clean_y`` is ``y`` without the lift (the outlier-free data set, same
    noise), ``is_outlier`` marks the lifted points; ``slope``/``intercept`` are
    the true line's.
    """

    x: np.ndarray
    y: np.ndarray
    clean_y: np.ndarray
    is_outlier: np.ndarray
    slope: float
    intercept: float


def make_line_data(n: int = 50, *, outliers: int = 5, noise: float = 0.5,
                   outlier_distance: float = 10.0, slope: float = 1.0, intercept: float = 0.0,
                   x_min: float = 0.0, x_max: float = 10.0, seed: int = 0) -> LineData:
    """``n`` points on ``y = slope x + intercept`` with N(0, noise²) noise; ``outliers`` of them lifted.

    Deterministic by ``seed`` (``numpy.random.default_rng``). The draws do not
    depend on ``outliers``, ``noise`` or ``outlier_distance``: x (sorted,
    uniform in [x_min, x_max]), then n standard normals scaled by ``noise``,
    then one permutation whose first ``outliers`` entries are lifted by
    ``outlier_distance`` (negative: below the line). So raising ``outliers``
    from k to k + 1 lifts one more point and moves nothing else, and changing
    the noise scales the same draws.
    """
    n = _count(n, "n", 2, MAX_POINTS)
    outliers = _count(outliers, "outliers", 0, n - 2)
    noise = _number(noise, "noise", low=0.0)
    outlier_distance = _number(outlier_distance, "outlier_distance")
    slope = _number(slope, "slope")
    intercept = _number(intercept, "intercept")
    x_min, x_max = _number(x_min, "x_min"), _number(x_max, "x_max")
    if not x_min < x_max:
        raise ValueError(f"x_min must be below x_max, got x_min={x_min!r}, x_max={x_max!r}")
    seed = _count(seed, "seed", 0, 2**63 - 1)
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(x_min, x_max, n))
    clean_y = slope * x + intercept + noise * rng.standard_normal(n)
    is_outlier = np.zeros(n, dtype=bool)
    is_outlier[rng.permutation(n)[:outliers]] = True
    y = np.where(is_outlier, clean_y + outlier_distance, clean_y)
    return LineData(x, y, clean_y, is_outlier, slope, intercept)


# ------------------------------------------------------------------------- fits


@dataclass(frozen=True)
class LineFit:
    """A fitted line ``y = slope * x + intercept`` and how the fit went.

    ``grad_norm`` is :math:`\\|(\\frac1n\\sum\\psi_i x_i, \\frac1n\\sum\\psi_i)\\|_2`,
    the gradient of the mean loss in (slope, intercept) at the result (for
    ``mae``/``quantile`` the smallest subgradient). ``method`` is ``"irls"``
    or ``"exact"`` (``mae``, ``quantile``, and Huber, pseudo-Huber or smooth L1 with a kink below the
    rounding of the residuals);
    ``start`` the line the iteration started from.
    """

    loss: str
    params: dict[str, float]
    slope: float
    intercept: float
    mean_loss: float
    iterations: int
    grad_norm: float
    converged: bool
    method: str
    start: tuple[float, float]
    #: ln of the mean loss, finite where ``mean_loss`` is past float max (Barron with a tiny c: about
    #: (r/c)^α); -inf for a mean loss of 0, NaN for a negative one
    log_mean_loss: float = math.nan


@dataclass(frozen=True)
class FitSweep:
    """Fits of one loss as one parameter takes each of ``values`` (arrays of that length).

    ``influence[k, i]`` is :math:`|\\psi(\\hat y_i - y_i)|` for point i under
    the k-th fit: everything a browser needs to animate the fit, the
    residuals and the influence bars without asking the server again.
    """

    loss: str
    parameter: str
    values: np.ndarray
    params: dict[str, float]
    slope: np.ndarray
    intercept: np.ndarray
    mean_loss: np.ndarray
    iterations: np.ndarray
    grad_norm: np.ndarray
    converged: np.ndarray
    influence: np.ndarray


class _Problem:
    """One loss on one data set, in standardised x: ``pred = A u + B``."""

    def __init__(self, spec: registry.LossSpec, params: dict[str, float], x: np.ndarray, y: np.ndarray):
        self.spec, self.params, self.x, self.y = spec, params, x, y
        low, high = float(x.min()), float(x.max())
        self.center = low / 2 + high / 2  # halves first: no overflow
        self.spread = float(np.max(np.abs(x - self.center)))  # so u lies in [-1, 1]
        self.u = (x - self.center) / self.spread
        self.row_size = np.sqrt(self.u * self.u + 1)  # ||(u_i, 1)||
        self.y_scale = float(np.max(np.abs(y)))
        self._both = _FUSED.get(spec.grad)

    def to_line(self, theta: np.ndarray) -> tuple[float, float]:
        slope = theta[0] / self.spread
        return float(slope), float(theta[1] - slope * self.center)

    def from_line(self, slope: float, intercept: float) -> np.ndarray:
        return np.array([slope * self.spread, intercept + slope * self.center])

    def predict(self, theta: np.ndarray) -> np.ndarray:
        return theta[0] * self.u + theta[1]

    def mean_loss(self, theta: np.ndarray) -> float:
        return _mean(self.spec.loss(self.predict(theta), self.y, **self.params))

    def psi_at(self, pred: np.ndarray) -> np.ndarray:
        return np.asarray(self.spec.grad(pred, self.y, **self.params), dtype=np.float64)

    def psi(self, theta: np.ndarray) -> np.ndarray:
        return self.psi_at(self.predict(theta))

    def loss_and_psi(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Mean loss and ψ at ``theta``, in one core call where the loss has an ``_and_grad`` form."""
        pred = self.predict(theta)
        if self._both is not None:
            # unreduced: terms near float max (Barron, tiny c) would overflow the core's plain sum
            values, psi = self._both(pred, self.y, reduction="none", **self.params)
            return _mean(values), np.asarray(psi, dtype=np.float64)
        return _mean(self.spec.loss(pred, self.y, **self.params)), self.psi_at(pred)

    def gradient(self, psi: np.ndarray) -> np.ndarray:
        return np.array([_mean(psi * self.u), _mean(psi)])

    def at_rounding_level(self, theta: np.ndarray, value: float, psi: np.ndarray, gradient: np.ndarray,
                          reach: float) -> bool:
        r"""Whether rounding, not the line, decides the gradient: the fit cannot tell a better line.

        Two levels. ψ's: each prediction is only known to its rounding error
        :math:`e = 16\epsilon(|A| + |B| + \max_j|y_j|)`, over which ψ may move by
        :math:`\max_\pm|\psi(\hat y_i \pm e) - \psi_i|` (a sharp bend of a tiny δ or c included);
        summed with the rows' sizes, that is the gradient's own noise. A point within :math:`e` of
        the line may pull with any ψ in that range or within :math:`\pm|\psi_i|` (ψ ~ 1/r of Barron
        at α = 0, tiny c), but only along its own row :math:`(u_i, 1)`: the gradient left after
        the best such pulls (least squares, clipped to their ranges; as for a kink's subgradient)
        must be within the other points' noise. A single point on the line therefore cannot hide a
        gradient along the rotations about it (Cauchy with a tiny c used to stop on such a line,
        where the loss still falls). F's: a gradient whose first-order change of F over a whole step
        (``reach``) is below F's rounding, :math:`8\epsilon|F|`, points nowhere F can confirm (every
        residual far past a tiny c).
        """
        size = float(np.hypot(*gradient))
        if reach > 0 and size <= 8 * _EPS * abs(value) / reach:
            return True
        pred = self.predict(theta)
        # the rounding of the line's own solve and of y - ŷ, at the scale of the data (|u| <= 1)
        error = np.full_like(pred, 16 * _EPS * (abs(theta[0]) + abs(theta[1]) + self.y_scale))
        jitter = np.maximum(np.abs(self.psi_at(pred + error) - psi), np.abs(self.psi_at(pred - error) - psi))
        on_line = np.abs(pred - self.y) <= error
        noise = _mean(np.where(on_line, 0.0, jitter * self.row_size))
        if not on_line.any():
            return size <= noise
        # the on-line points' pulls are free within their ranges: what is left of the gradient without them
        free_range = np.maximum(jitter[on_line], np.abs(psi[on_line]))
        n = psi.size
        rows = np.stack([self.u[on_line], np.ones(int(on_line.sum()))])  # (2, m)
        top = float(np.max(np.abs(psi)))  # in units of the largest |ψ|: ψ near 1/c would overflow the solve
        if top == 0 or not math.isfinite(top):
            return size <= noise
        rest = gradient / top - rows @ (psi[on_line] / top) / n
        pulls = np.linalg.lstsq(rows / n, -rest, rcond=None)[0]
        limit = free_range / top
        left = rest + rows @ np.clip(pulls, -limit, limit) / n
        # plus the rounding of the sums themselves (the pulls may cancel the whole gradient)
        summed = 64 * _EPS * float(np.mean(np.abs(psi / top) * self.row_size))
        left_size = float(np.hypot(*left))
        if top * (left_size - summed) <= noise:
            return True
        # what is left turns the line about its points: F falls at most |left| per unit moved, until the
        # first other residual with a kink at 0 reaches it (ψ as large at r/2 as at r: a tiny δ's, where the
        # fit is L1's); if that is below F's rounding, no step can be confirmed (the last 1e-10 to an L1
        # line's second point). A smooth well (ψ ~ r) is no such limit: F keeps falling through it.
        rates = (self.u * left[0] + left[1]) / -left_size  # d r_i / d(distance) along -left
        residual = pred - self.y
        closing = ~on_line & (residual * rates < 0)
        if closing.any():
            halfway = self.spec.grad(pred[closing] - residual[closing] / 2, self.y[closing], **self.params)
            closing[closing] = np.abs(np.asarray(halfway, dtype=np.float64)) >= 0.75 * np.abs(psi[closing])
        # F near underflow (terms rounded to subnormals, up to 5000 * 2^-1074 in all): its rounding says nothing
        if not closing.any() or not abs(value) >= 1e-300:
            return False
        distance = float(np.min(np.abs(residual[closing]) / np.abs(rates[closing])))
        return distance > 0 and top * left_size <= 8 * _EPS * abs(value) / distance


def fit_line(x, y, loss="mse", params: Mapping[str, float] | None = None, *,
             start="robust", tol: float = 1e-10, max_iter: int = 500) -> LineFit:
    """Fit ``y ≈ slope * x + intercept`` by minimising the mean of ``loss``.

    ``loss`` is a registry key or :class:`~losslab.registry.LossSpec` with the
    identity link; ``params`` override its defaults (e.g. ``{"alpha": 0.0}``;
    Barron's ``alpha`` may be ``-inf``). ``start`` is ``"robust"`` (repeated
    median), ``"least_squares"`` or a ``(slope, intercept)`` pair. ``tol`` is
    the relative gradient tolerance of the IRLS iteration (see the module
    docstring), ``max_iter`` its step limit. x needs at least two distinct values.
    """
    spec, merged = _loss_and_params(loss, params)
    x, y = _points(x, y)
    problem = _Problem(spec, merged, x, y)
    theta0 = _start_theta(problem, start)
    return _fit(problem, theta0, _tolerance(tol), _count(max_iter, "max_iter", 0, 100_000))


def fit_lines(x, y, losses: Mapping[str, Mapping[str, float] | None] | Iterable[str], *,
              start="robust", tol: float = 1e-10, max_iter: int = 500) -> dict[str, LineFit]:
    """:func:`fit_line` for several losses on the same points: ``{key: LineFit}``.

    ``losses`` is a list of registry keys or ``{key: params}``. The points are
    checked and the start computed once.
    """
    chosen = dict(losses) if isinstance(losses, Mapping) else dict.fromkeys(losses)
    x, y = _points(x, y)
    tol = _tolerance(tol)
    max_iter = _count(max_iter, "max_iter", 0, 100_000)
    fits, theta_start = {}, None
    for key, params in chosen.items():
        spec, merged = _loss_and_params(key, params)
        problem = _Problem(spec, merged, x, y)
        if theta_start is None or not isinstance(start, str):
            theta_start = _start_theta(problem, start)
        fits[spec.key] = _fit(problem, theta_start, tol, max_iter)
    return fits


def sweep_fit(x, y, loss, parameter: str, values, params: Mapping[str, float] | None = None, *,
              start="robust", tol: float = 1e-10, max_iter: int = 500) -> FitSweep:
    """Fit ``loss`` once for each value of one parameter (e.g. Barron's α over a grid).

    Every fit starts from the same line, so entry k equals
    ``fit_line(x, y, loss, {**params, parameter: values[k]})``. Returns arrays
    for the slider to play through in the browser, including each point's
    influence under each fit.
    """
    spec, merged = _loss_and_params(loss, params)
    if parameter not in merged:
        raise ValueError(f"{spec.key} has no parameter {parameter!r}; expected one of {sorted(merged)}")
    grid = as_float_array(values, "values", np.dtype(np.float64)).reshape(-1)
    if grid.size == 0:
        raise ValueError("values is empty; expected at least one parameter value")
    for value in grid.tolist():  # every value checked before any fit runs
        _loss_and_params(spec, {**merged, parameter: value})
    x, y = _points(x, y)
    tol = _tolerance(tol)
    max_iter = _count(max_iter, "max_iter", 0, 100_000)
    rows, theta0 = [], None
    for value in grid.tolist():
        problem = _Problem(spec, {**merged, parameter: value}, x, y)
        if theta0 is None:
            theta0 = _start_theta(problem, start)
        fit = _fit(problem, theta0, tol, max_iter)
        rows.append((fit, np.abs(problem.psi_at(fit.slope * x + fit.intercept))))
    fits = [fit for fit, _ in rows]
    return FitSweep(
        loss=spec.key, parameter=parameter, values=grid, params=merged,
        slope=np.array([f.slope for f in fits]), intercept=np.array([f.intercept for f in fits]),
        mean_loss=np.array([f.mean_loss for f in fits]),
        iterations=np.array([f.iterations for f in fits]),
        grad_norm=np.array([f.grad_norm for f in fits]),
        converged=np.array([f.converged for f in fits]),
        influence=np.stack([pull for _, pull in rows]),
    )


def influence(x, y, slope: float, intercept: float, loss="mse",
              params: Mapping[str, float] | None = None) -> np.ndarray:
    """Each point's pull on the line: :math:`|\\partial \\ell / \\partial \\hat y_i|` at ``slope x + intercept``.

    The unreduced gradient's size (divide by n for the mean's); for a fitted
    line the signed pulls balance, so the big bars show who holds the line.
    """
    spec, merged = _loss_and_params(loss, params)
    x, y = _points(x, y, need_spread=False)
    slope, intercept = _number(slope, "slope"), _number(intercept, "intercept")
    return np.abs(np.asarray(spec.grad(slope * x + intercept, y, **merged), dtype=np.float64))


def repeated_median_line(x, y) -> tuple[float, float]:
    """Siegel's repeated-median line: slope = median_i median_{j≠i} (y_j - y_i)/(x_j - x_i).

    Intercept = median of ``y - slope x``. Up to half the points can be
    arbitrarily wrong without moving it far; pairs with equal x are skipped.
    """
    x, y = _points(x, y)
    return _repeated_median(x, y)


def line_rmse(x, y, slope: float, intercept: float) -> float:
    """Root-mean-square vertical distance of the points from the line (pass the inliers for an inlier RMSE)."""
    x, y = _points(x, y, need_spread=False, minimum=1)
    return float(np.sqrt(np.mean((slope * x + intercept - y) ** 2)))


def line_gap(x, slope_a: float, intercept_a: float, slope_b: float, intercept_b: float) -> float:
    """How far apart two lines are over ``x``: the RMS of their vertical gap at those x."""
    x, _ = _points(x, x, need_spread=False, minimum=1)
    gap = (slope_a - slope_b) * x + (intercept_a - intercept_b)
    return float(np.sqrt(np.mean(gap * gap)))


# ------------------------------------------------------------------- the solvers


def _gradient_norm(psi: np.ndarray, x: np.ndarray) -> float:
    """``hypot(mean(ψ x), mean(ψ))``, the mean loss's gradient norm in (slope, intercept), with ψ scaled
    by its largest magnitude first: ψ near 1/c for a tiny scale c makes ``ψ x`` overflow while the
    norm itself is finite. Infinite only if the norm is past the float range or ψ overflowed."""
    if not np.all(np.isfinite(psi)):  # the core's ψ overflowed: no gradient to speak of
        return math.inf
    largest = float(np.max(np.abs(psi), initial=0.0))
    if largest == 0.0:
        return 0.0
    unit = psi / largest
    return largest * float(np.hypot(_mean(unit * x), _mean(unit)))  # Python floats: inf past the range, no warning


def _fit(problem: _Problem, theta0: np.ndarray, tol: float, max_iter: int) -> LineFit:
    solver, units, log_scale = _in_units(problem, theta0)
    if solver.spec.key in _KINKED:
        theta, iterations = _exact_kinked(solver)
        theta = theta / units
        method, converged = "exact", True
        value = problem.mean_loss(theta)
        grad_norm = _smallest_subgradient(problem, theta)
        solver_value, solver_grad_norm = solver.mean_loss(theta), _smallest_subgradient(solver, theta)
    else:
        theta, iterations, converged, value, psi = _irls(solver, units * theta0, tol, max_iter)
        theta = theta / units
        method = "irls"
        solver_value, solver_grad_norm = value, math.nan
        if solver is not problem:  # report the loss asked for, at the line found in the solver's units
            solver_grad_norm = _gradient_norm(psi, problem.x)
            value, psi = problem.loss_and_psi(theta)
        grad_norm = _gradient_norm(psi, problem.x)
    log_mean_loss = math.log(value) if 0 < value < math.inf else -math.inf if value == 0 else math.nan
    if log_scale is not None:
        # the asked loss's terms (or ψ) past float max, its mean and gradient perhaps not: the solver's, rescaled
        log_mean_loss = _log_of(solver_value) + log_scale
        if not math.isfinite(value):
            value = _rescaled(solver_value, log_scale)
        if not math.isfinite(grad_norm):
            grad_norm = _rescaled(solver_grad_norm, log_scale)
    slope, intercept = problem.to_line(theta)
    return LineFit(
        loss=problem.spec.key, params=dict(problem.params), slope=slope, intercept=intercept,
        mean_loss=value, iterations=iterations, grad_norm=grad_norm,
        converged=converged, method=method, start=problem.to_line(theta0), log_mean_loss=log_mean_loss,
    )


def _log_of(value: float) -> float:
    return math.log(value) if value > 0 else -math.inf if value == 0 else math.nan


def _rescaled(value: float, log_scale: float) -> float:
    """``value * e^log_scale`` where the factor alone may over- or underflow (inf past float max, no warning);
    within about 1e-13 relative (the rounding of the logarithms, up to about 1500)."""
    if not value > 0 or not math.isfinite(value):
        return value
    with np.errstate(over="ignore", under="ignore"):
        return float(np.exp(math.log(value) + log_scale))


# Barron's rho is dimensionless, about (r/c)^2/2: with c this far above every residual it underflows
_QUADRATIC_LIMIT = 1e100
# Cauchy's far-out psi is about c^2/r: below this times sqrt(|r|) it is near or past float's smallest normal
_LOGARITHMIC_LIMIT = 1e-145
# the losses with an L1 tail past a kink of this width parameter, and how far below the residuals the kink
# must be for the line to be the least-absolute-deviations one to rounding
_KINK_PARAMETER = {"huber": "delta", "pseudo_huber": "delta", "smooth_l1": "beta"}
_KINK_BELOW_ROUNDING = 2.0**52


def _in_units(problem: _Problem, theta0: np.ndarray) -> tuple[_Problem, float, float | None]:
    r"""``(solver, k, log_scale)``: a problem with the same minimiser in ``k`` times the data's units, whose loss
    and ψ do not under- or overflow at this scale; ``problem`` itself, 1 and None almost always. ``log_scale``,
    where not None, is the log of the asked mean loss over the solver's (Barron with terms past float max).

    ``reach`` is the size of the residuals the fit can meet: those of the start line, or the y range.

    - Barron with :math:`c \ge 10^{100}` reach: :math:`c^2\rho = \frac{r^2}{2}(1 - \frac{u^2}{4} + \dots)`
      is :math:`r^2/2` to far below rounding for every α (the next terms are :math:`u^2` and
      :math:`u^2 \cdot u^2/|\alpha - 2|` relative, :math:`u = r/c`), so the line is the least-squares
      one; ρ itself and its ψ ≈ r/c² underflow there (to 0 past :math:`c \approx 10^{160}`), and the
      fit used to stop at its start.
    - Cauchy with :math:`c^2 < 10^{-290}` reach: its loss :math:`\frac{c^2}{2}\log(1 + (r/c)^2)` is
      :math:`c^2/2` times Barron's at α = 0 and scale :math:`c/\sqrt2`, which is
      Barron's at scale :math:`c\sqrt2` on the data doubled (exact: a power of two), and keeps
      :math:`\log(1 + (r/c)^2)` and its ψ ≈ 2/r where :math:`c^2 \log` and :math:`c^2/r` underflow.
    - Huber and pseudo-Huber with δ, and smooth L1 with β, below :math:`2^{-52}` reach: the loss is
      :math:`\delta|r|` (smooth L1: :math:`|r|`) to within :math:`\delta/|r|` relative, at or below
      rounding, so the line is the least-absolute-deviations one to rounding, found exactly
      (``method="exact"``). IRLS stopped on wrong lines there, "converged" with a mean :math:`|r|` up
      to 43 % above the optimum (a kink narrower than a float step of the line; with a subnormal δ,
      ψ = ±δ keeps 1 to 52 significant bits), or at its start.
    - Barron with 1/2 < α <= 2 whose largest term would pass float max: :func:`_barron_rescaled`.
    """
    key, params = problem.spec.key, problem.params
    if key not in ("barron", "cauchy", *_KINK_PARAMETER):
        return problem, 1.0, None
    with np.errstate(over="ignore", invalid="ignore"):  # a start line past float max: no change of units
        residual = float(np.max(np.abs(problem.predict(theta0) - problem.y)))
    reach = max(residual, float(np.ptp(problem.y)))
    # Python floats below: inf past the range, no warning; a NaN reach changes nothing
    if key == "barron" and params["c"] >= _QUADRATIC_LIMIT * reach:
        return _Problem(registry.get("mse"), {}, problem.x, problem.y), 1.0, None
    if key == "barron" and _barron_overflows(params["alpha"], params["c"], reach):
        return _barron_rescaled(problem, theta0, params["alpha"], params["c"])
    if key == "cauchy" and params["c"] < _LOGARITHMIC_LIMIT * math.sqrt(reach):
        barron = registry.get("barron")
        return _Problem(barron, {**barron.defaults(), "alpha": 0.0, "c": params["c"] * math.sqrt(2)},
                        problem.x, 2 * problem.y), 2.0, None
    kink = _KINK_PARAMETER.get(key)
    if kink is not None and params[kink] * _KINK_BELOW_ROUNDING <= reach:
        return _Problem(registry.get("mae"), {}, problem.x, problem.y), 1.0, None
    return problem, 1.0, None


# Barron's largest term past this (and its ψ/r, about its size over r^2): solved with c^α ρ instead
_OVERFLOW_LOG = math.log(1e280)


def _barron_overflows(alpha: float, c: float, reach: float) -> bool:
    r"""Whether Barron's terms reach float max at residuals up to ``reach``: ρ is about
    :math:`(b/\alpha)(r^2 / (b c^2))^{\alpha/2}` far out, past float max for α > 0 and a c tiny against ``reach``."""
    # below alpha = 1/2 no term can: (r/c)^alpha <= (1e100 / 2.2e-308)^(1/2), and b/alpha's size is cancelled
    if not (0.5 < alpha <= 2 and 0 < reach < math.inf):
        return False
    b = 2 - alpha
    if b == 0:
        return 2 * (math.log(reach) - math.log(c)) > _OVERFLOW_LOG
    return math.log(b / alpha) + alpha * (math.log(reach) - math.log(c) - math.log(b) / 2) > _OVERFLOW_LOG


def _barron_rescaled(problem: _Problem, theta0: np.ndarray, alpha: float, c: float):
    r"""``(solver, 1, ln k)`` for Barron whose terms overflow (:func:`_barron_overflows`): a problem with the same
    minimiser whose mean loss is :math:`1/k` times Barron's.

    - α = 2: :math:`\rho = r^2/(2c^2)`, least squares at every c (k = :math:`1/(2c^2)`, MSE's mean being
      :math:`\overline{r^2}`).
    - α = 1: :math:`c^2\rho` is pseudo-Huber with δ = c, itself the least-absolute-deviations line once c is
      below the residuals' rounding (``_in_units``; k = :math:`1/c^2`, or :math:`1/c` for the L1 line,
      whose mean |r| is :math:`c\rho` to within c/|r|).
    - other α in (1/2, 2) (below 1/2 no term overflows): :math:`c^\alpha\rho` (:class:`_ScaledBarron`, k = :math:`c^{-\alpha}`), which
      neither over- nor underflows where the data's residuals are.
    """
    if alpha == 2:
        return _Problem(registry.get("mse"), {}, problem.x, problem.y), 1.0, -math.log(2) - 2 * math.log(c)
    if alpha == 1:
        huber = _Problem(registry.get("pseudo_huber"), {"delta": c}, problem.x, problem.y)
        solver, units, _ = _in_units(huber, theta0)
        if solver.spec.key == "mae":
            return solver, units, -math.log(c)
        return solver, units, -2 * math.log(c)
    return _Problem(_ScaledBarron(alpha, c), {}, problem.x, problem.y), 1.0, -alpha * math.log(c)


class _ScaledBarron:
    r"""Barron's loss times :math:`c^\alpha` for 1/2 < α < 2, α ≠ 1, as a loss of ``(pred, target)`` for the
    solver: with :math:`b = 2 - \alpha`, :math:`a = |r|/\sqrt b`, :math:`m = \max(a, c)` and
    :math:`q = \min(a, c)/m`,

    .. math:: c^\alpha\rho = \frac{b}{\alpha}\bigl((a^2 + c^2)^{\alpha/2} - c^\alpha\bigr)
              = \frac{b}{\alpha} m^\alpha \bigl((1 + q^2)^{\alpha/2} - (c/m)^\alpha\bigr),\qquad
              c^\alpha\psi = r\,(a^2 + c^2)^{\alpha/2 - 1} = r\, m^{\alpha - 2}(1 + q^2)^{\alpha/2 - 1}

    (near zero, m = c, the bracket is :math:`\mathrm{expm1}(\frac\alpha2 \log(1 + q^2))`). Nothing is
    squared past the data's size, and ψ is :math:`(r/m)\,m^{\alpha-1}\cdots` with :math:`|r|/m \le \sqrt b`
    and :math:`m^{\alpha-1} \le c^{-1/2}`: finite for a normal c where
    Barron's own terms, about :math:`(r/c)^\alpha`, pass float max.
    """

    key = "barron"

    def __init__(self, alpha: float, c: float):
        self.alpha, self.c, self.b = alpha, c, 2 - alpha

    def _parts(self, pred, target):
        residual = np.asarray(pred, dtype=np.float64) - np.asarray(target, dtype=np.float64)
        a = np.abs(residual) / math.sqrt(self.b)
        m = np.maximum(a, self.c)
        q = np.minimum(a, self.c) / m
        return residual, m, q, a <= self.c

    def loss(self, pred, target, **params) -> np.ndarray:
        _, m, q, near = self._parts(pred, target)
        alpha = self.alpha
        with np.errstate(under="ignore"):  # terms near zero, about c^α, vanish beside the far ones
            power = (alpha / 2) * np.log1p(q * q)
            bracket = np.where(near, np.expm1(power), np.exp(power) - np.exp(alpha * np.log(self.c / m)))
            return (self.b / alpha) * m**alpha * bracket

    def grad(self, pred, target, **params) -> np.ndarray:
        residual, m, q, _ = self._parts(pred, target)
        with np.errstate(under="ignore"):  # r / m <= sqrt(b): m^(alpha - 2) alone would overflow near zero
            return (residual / m) * m ** (self.alpha - 1) * np.exp((self.alpha / 2 - 1) * np.log1p(q * q))


def _irls(problem: _Problem, theta: np.ndarray, tol: float, max_iter: int):
    """Damped IRLS from ``theta``, finished by Newton steps: (theta, steps, converged, F, ψ).

    Converged: the gradient has cancelled to ``tol`` of its terms, or sunk to its rounding level
    (:meth:`_Problem.at_rounding_level`, checked from the start and once steps are small), or a step
    no longer changes the line in floating point.
    """
    u, y = problem.u, problem.y
    scale = float(np.max(np.abs(y))) or 1.0  # no absolute floor: y of size 1e-200 is fitted in its own units
    spread = float(np.ptp(y)) + _EPS * scale
    zone, radius = _NEWTON_ZONE * spread, _TRUST * spread
    value, psi = problem.loss_and_psi(theta)
    if not (math.isfinite(value) and np.all(np.isfinite(psi))):
        return theta, 0, False, value, psi  # the loss overflows here (e.g. Barron, alpha > 1, c ~ 1e-300)
    near = True  # at the start, or after a small step: worth checking the rounding level
    for step in range(max_iter + 1):
        gradient = problem.gradient(psi)
        size = float(np.hypot(*gradient))
        if size <= tol * _mean(np.abs(psi) * problem.row_size) or (
            near and problem.at_rounding_level(theta, value, psi, gradient, radius)
        ):
            return theta, step, True, value, psi
        if step == max_iter:
            break
        pred = problem.predict(theta)
        well, narrow, on_line = _well_weight(problem, theta, pred)
        direction = _irls_direction(psi, pred - y, u, gradient, well, narrow, on_line)
        creeping = bool(np.max(np.abs(direction)) <= zone)
        # not where points sit in wells narrower than rounding: central differences cannot see them
        if creeping and not narrow:
            newton = _newton_step(problem, pred, gradient, psi)
            if newton is not None:
                direction, creeping = newton * min(1.0, radius / np.max(np.abs(newton))), False
        found = _line_search(problem, theta, value, gradient, direction, radius if creeping else 0.0)
        if found is None:
            return theta, step, False, value, psi  # no descent along a descent direction: stuck
        trial, trial_value, trial_psi = found
        moved = np.abs(trial - theta)
        theta, value, psi = trial, trial_value, trial_psi
        if np.all(moved <= 4 * _EPS * (np.abs(theta) + scale)):
            return theta, step + 1, True, value, psi  # the line no longer changes in floating point
        near = bool(np.max(moved) <= zone)
    return theta, max_iter, False, value, psi


def _line_search(problem: _Problem, theta, value, gradient, direction, reach: float):
    """Armijo backtracking from t = 1; with ``reach`` > 0, an accepted full step is doubled while F falls.

    Doubling is for IRLS creeping along a flat valley of a non-convex loss, with
    each step at most ``reach`` in (A, B). Returns (theta, F, ψ), or None.
    """
    slope_along = float(gradient @ direction)
    t = 1.0
    while True:
        trial = theta + t * direction
        trial_value, trial_psi = problem.loss_and_psi(trial)
        # a full step may tie F to rounding (near the optimum F is flat to eps)
        if trial_value <= value + _ARMIJO * t * slope_along or (
            t == 1.0 and trial_value <= value + 8 * _EPS * abs(value)
        ):
            break
        t /= 2
        if t < 1e-12:
            return None
    while t == 1.0 or t >= 2.0:
        if reach <= 0 or 2 * t * np.max(np.abs(direction)) > reach:
            break
        further = theta + 2 * t * direction
        further_value, further_psi = problem.loss_and_psi(further)
        if not further_value < trial_value:
            break
        t, trial, trial_value, trial_psi = 2 * t, further, further_value, further_psi
    return trial, trial_value, trial_psi


def _well_weight(problem: _Problem, theta: np.ndarray, pred: np.ndarray) -> tuple[float, bool, np.ndarray]:
    r"""``(w, narrow, on_line)``: the IRLS weight ψ(e)/e of the points on the line, e their rounding level
    (0 if there are none), whether the loss's well around r = 0 is narrower than e, and which points
    those are: exactly on the line, or within e of it for a narrow well.

    IRLS gives a point exactly on the line (0/0) the largest weight seen, a fine proxy unless its
    own curvature dwarfs every other weight by 1e10 or more (the others far out on a redescending
    loss: Cauchy with c = 1e-8, weight ~ 1 on the line, ~ c²/r² ~ 1e-22 off it); then it gets
    ψ(e)/e, about ψ'(0). A well narrower than e (Cauchy with c = 1e-100: ψ ~ c²/r at e; Huber with
    a tiny δ) bends ψ(r)/r already between e/2 and e (a wider one keeps it flat there); the points
    within e of the line, whose terms of F are then rounding noise, are kept on the line while the
    line turns about them (:func:`_irls_direction`).
    """
    residual = np.abs(pred - problem.y)
    error = 16 * _EPS * (abs(theta[0]) + abs(theta[1]) + problem.y_scale)
    near = residual <= error
    # e near or below float's smallest normal (data of size 1e-300): ψ(e)/e has too few bits to say anything
    if not (near.any() and _TINY / _EPS <= error < math.inf):
        return 0.0, False, pred == problem.y
    y = problem.y[near]
    with np.errstate(over="ignore"):  # ψ(e)/e past float max: as large as a weight can be
        weight = np.abs(np.asarray(problem.spec.grad(y + error, y, **problem.params), dtype=np.float64) / error)
        half = np.abs(np.asarray(problem.spec.grad(y + error / 2, y, **problem.params), dtype=np.float64)
                      / (error / 2))
    # ψ(r)/r falling by a third or more from e/2 to e: the well's edge is inside (past float max: cannot tell)
    narrow = np.isfinite(half) & (half >= 1.5 * weight)
    if narrow.any():
        return float(np.max(weight[narrow])), True, near
    zero = pred == problem.y
    return float(np.max(weight[zero[near]], initial=0.0)), False, zero


def _irls_direction(psi: np.ndarray, residual: np.ndarray, u: np.ndarray, gradient: np.ndarray,
                    well: float = 0.0, narrow: bool = False, on_line: np.ndarray | None = None) -> np.ndarray:
    """The IRLS step :math:`-H^{-1}\\nabla F`, :math:`H = \\frac1n\\sum_i w_i (u_i, 1)(u_i, 1)^\\top`, :math:`w_i = \\psi_i/r_i`.

    ψ is divided by its largest |ψ| and the weights by their largest (H and the gradient scale
    alike, so the step does not change): ψ near 1/c with c ~ 1e-300, or ψ/r over a residual at
    rounding level, would overflow. Where one point outweighs the others so far that H is
    singular in floating point, the step is solved in coordinates along that point's residual
    and along the turns about it (:func:`_step_about`), where the others' curvature is not lost
    next to its own; only where no weight bends the turns (Tukey with the other residuals past c)
    is H regularised. ``well`` is :func:`_well_weight`'s weight for the points ``on_line``; where
    it dwarfs every other weight it is theirs, and for a ``narrow`` well those points stay on the
    line: the step turns the line about one of them, and with two of them (distinct u) there is
    no step.
    """
    top = float(np.max(np.abs(psi)))
    if top == 0:
        return np.zeros(2)
    weight, weight_scale, pinned = _irls_weights(psi / top, residual, well / top, narrow, on_line)
    unit_gradient = gradient / top
    if pinned is not None:
        if np.ptp(u[pinned]) > 0:
            return np.zeros(2)
        step = _step_about(weight, u, int(np.flatnonzero(pinned)[0]), unit_gradient, turn_only=True)
        return np.zeros(2) if step is None else step / weight_scale
    h = np.array([[np.mean(weight * u * u), np.mean(weight * u)], [np.mean(weight * u), np.mean(weight)]])
    floor = 1e-10
    if np.linalg.det(h) <= 1e-12 * h[0, 0] * h[1, 1] or h[1, 1] <= floor:
        step = _step_about(weight, u, int(np.argmax(weight)), unit_gradient, below=floor)
        if step is not None:
            return step / weight_scale
        # fewer than two points carry weight (e.g. Tukey with most residuals past c): regularise
        h = h + floor * np.eye(2)
    return -np.linalg.solve(h, unit_gradient) / weight_scale


def _irls_weights(unit_psi: np.ndarray, residual: np.ndarray, unit_well: float = 0.0, narrow: bool = False,
                  on_line: np.ndarray | None = None) -> tuple[np.ndarray, float, np.ndarray | None]:
    """(w / s, s, pinned): the IRLS weights of ψ scaled to at most 1, divided by their largest s; ``pinned``
    marks the points kept on the line (None: none; see :func:`_irls_direction`)."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # past float max: handled next
        ratio = unit_psi / residual
    nonzero = (residual != 0) & np.isfinite(ratio)  # ψ/r beyond float max is treated like r = 0
    weight = np.zeros_like(unit_psi)
    weight[nonzero] = np.maximum(ratio[nonzero], 0)
    top = float(weight.max()) if weight.size else 0.0
    pinned = None
    off_line = weight if on_line is None else np.where(on_line, 0.0, weight)
    top_off = float(off_line.max()) if weight.size else 0.0
    if narrow and on_line is not None and top_off > 0:
        # a well narrower than rounding (see _well_weight): its points weigh more than any matrix here
        # can hold next to the others', and their terms of F are rounding noise: kept on the line instead
        pinned = on_line
        weight = off_line
        top = top_off
    elif top > 0 and unit_well > 1e10 * top and math.isfinite(unit_well):
        # the curvature of a point on the line dwarfs every other weight (by more than H's regularisation
        # would leave of them): its own, not the largest seen
        top = unit_well
        weight[~nonzero] = top
    else:
        # psi/r is largest at r -> 0 for these losses, so an exact-zero residual gets the largest weight seen
        weight[~nonzero] = top if top > 0 else 1.0
    scale = top if top > 0 else 1.0
    return weight / scale, scale, pinned


def _step_about(weight: np.ndarray, u: np.ndarray, p: int, gradient: np.ndarray, *,
                turn_only: bool = False, below: float = math.inf) -> np.ndarray | None:
    r"""The IRLS step in the coordinates :math:`(a, t)`, :math:`d = a\,(u_p, 1)/(u_p^2 + 1) + t\,(1, -u_p)`.

    ``a`` moves point p's residual by ``a`` and ``t`` turns the line about p, so p adds
    :math:`w_p` to the (a, a) entry and nothing else: the turns' curvature
    :math:`\frac1n\sum_i w_i (u_i - u_p)^2` is summed from the other points alone and survives next
    to a :math:`w_p` billions of times larger. Jacobi-scaled; None if no weight bends the turns or
    the scaled matrix is singular, or if the turns' curvature is not ``below`` (the regularisation it
    replaces: only where that would swamp the curvature). ``turn_only``: p stays on the line (a = 0).
    """
    centre = float(u[p])
    along = (u * centre + 1) / (centre * centre + 1)  # d(residual_i)/da
    turns = u - centre  # d(residual_i)/dt; exactly 0 for p
    h_tt = float(np.mean(weight * turns * turns))
    if not 0 < h_tt < below:
        return None
    towards = np.array([centre, 1.0]) / (centre * centre + 1)
    turn = np.array([1.0, -centre])
    g_a, g_t = float(towards @ gradient), float(turn @ gradient)
    if turn_only:
        return -(g_t / h_tt) * turn
    h_aa = float(np.mean(weight * along * along))
    h_at = float(np.mean(weight * along * turns))
    if not h_aa > 0:
        return None
    size = np.sqrt([h_aa, h_tt])
    unit = np.array([[1.0, h_at / (size[0] * size[1])], [h_at / (size[0] * size[1]), 1.0]])
    if not np.linalg.det(unit) > 1e-12:
        return None
    a, t = np.linalg.solve(unit, -np.array([g_a, g_t]) / size) / size
    return a * towards + t * turn


def _newton_step(problem: _Problem, pred: np.ndarray, gradient: np.ndarray, psi: np.ndarray) -> np.ndarray | None:
    """The Newton step, with ψ' from central differences of the core's ψ; None unless the Hessian is positive definite.

    Used only once IRLS steps are small, i.e. inside the basin IRLS is heading
    for, and capped at a quarter of the data's y range per step.
    """
    top = float(np.max(np.abs(psi)))
    if top == 0:
        return None
    residual = np.abs(pred - problem.y)
    # small against the residuals, yet far above each prediction's rounding (else pred + h == pred)
    h = 1e-6 * residual + 1024 * _EPS * (np.abs(pred) + np.abs(problem.y)) + _TINY
    above, below = pred + h, pred - h
    with np.errstate(over="ignore", invalid="ignore"):  # a slope past float max: no Newton step
        curvature = (problem.psi_at(above) / top - problem.psi_at(below) / top) / (above - below)
        u = problem.u
        hessian = np.array([[np.mean(curvature * u * u), np.mean(curvature * u)],
                            [np.mean(curvature * u), np.mean(curvature)]])
    size = float(np.max(np.abs(hessian)))
    if not 0 < size < math.inf:
        return None
    unit = hessian / size  # its determinant could overflow (data of size 1e-200: ψ' ~ 1e200)
    if not (unit[0, 0] > 0 and np.linalg.det(unit) > 1e-12 * unit[0, 0] * unit[1, 1]):
        return None
    return -np.linalg.solve(unit, gradient / top) / size


def _exact_kinked(problem: _Problem) -> tuple[np.ndarray, int]:
    """Exact minimiser of a mean of absolute / pinball losses: (theta, binary-search steps)."""
    u, y = problem.u, problem.y
    i, j = np.triu_indices(u.size, k=1)
    distinct = u[i] != u[j]
    candidates = np.unique((y[j] - y[i])[distinct] / (u[j] - u[i])[distinct])
    cache: dict[int, tuple[float, np.ndarray]] = {}

    def value_at(k: int) -> float:
        if k not in cache:
            theta = np.array([candidates[k], _best_intercept(problem, candidates[k])])
            pred = problem.predict(theta)
            # a point on the line up to rounding counts as on it: with a tiny τ its (1 - τ)|r| ~ 1e-15
            # would outweigh every τ-term and steer the search away from the lines through points
            pred = np.where(np.abs(pred - y) <= 16 * _EPS * (np.abs(theta).sum() + problem.y_scale), y, pred)
            cache[k] = (_mean(problem.spec.loss(pred, y, **problem.params)), theta)
        return cache[k][0]

    low, high, steps = 0, candidates.size - 1, 0
    while low < high:  # the mean loss is convex along the sorted breakpoints
        middle = (low + high) // 2
        if value_at(middle) <= value_at(middle + 1):
            high = middle
        else:
            low = middle + 1
        steps += 1
    value_at(low)
    return cache[low][1], steps


def _best_intercept(problem: _Problem, slope: float) -> float:
    """The intercept minimising the mean loss for this slope: the median (MAE) or τ-quantile of y - slope u."""
    offsets = problem.y - slope * problem.u
    if problem.spec.key == "quantile":
        return float(np.quantile(offsets, problem.params["tau"], method="inverted_cdf"))
    return float(np.median(offsets))


def _smallest_subgradient(problem: _Problem, theta: np.ndarray) -> float:
    """Norm of the smallest subgradient of the mean loss at ``theta``, in (slope, intercept).

    Points on the line (|r| at rounding level) may take any derivative between
    the loss's one-sided slopes; the rest take ψ. The free ones are solved by
    least squares and clipped to their range: exact when at most two points
    lie on the line (the generic case), an upper bound otherwise.
    """
    pred = problem.predict(theta)
    residual = pred - problem.y
    on_line = np.abs(residual) <= 16 * _EPS * (np.abs(problem.y) + np.abs(pred)) + 1e-300
    psi = problem.psi(theta)
    left, right = np.asarray(problem.spec.grad(np.array([-1.0, 1.0]), 0.0, **problem.params), float)
    # in units of the largest pull: ψ near 1/c (Barron at α = 1, a tiny c) would overflow the sums
    top = max(float(np.max(np.abs(psi), initial=0.0)), abs(float(left)), abs(float(right)))
    if top == 0 or not math.isfinite(top):
        return 0.0 if top == 0 else math.inf
    psi, left, right = psi / top, left / top, right / top
    n = problem.x.size
    rows = np.stack([problem.x, np.ones(n)])  # (2, n): d pred_i / d(slope, intercept)
    fixed = rows[:, ~on_line] @ psi[~on_line]
    if on_line.any():
        free = np.linalg.lstsq(rows[:, on_line], -fixed, rcond=None)[0]
        fixed = fixed + rows[:, on_line] @ np.clip(free, left, right)
    return float(np.hypot(*fixed) / n) * top  # Python floats: inf past float max, no warning


def _mean(values: np.ndarray) -> float:
    """The mean, summed in units of the largest |value| so that terms near float max do not overflow the sum."""
    values = np.asarray(values, dtype=np.float64)
    top = float(np.max(np.abs(values))) if values.size else 0.0
    if top <= 1e300:  # the sum of at most MAX_POINTS such terms stays finite
        return float(np.mean(values))
    if top == math.inf:
        return math.inf  # only the losses' values can be inf here
    return top * float(np.mean(values / top))


# --------------------------------------------------------------------- the start


def _start_theta(problem: _Problem, start) -> np.ndarray:
    if isinstance(start, str):
        if start == "robust":
            return problem.from_line(*_repeated_median(problem.x, problem.y))
        if start == "least_squares":
            slope, intercept = np.polynomial.polynomial.polyfit(problem.x, problem.y, 1)[::-1]
            return problem.from_line(float(slope), float(intercept))
        raise ValueError(f"start must be 'robust', 'least_squares' or (slope, intercept), got {start!r}")
    try:
        slope, intercept = start
    except (TypeError, ValueError):
        raise ValueError(f"start must be 'robust', 'least_squares' or (slope, intercept), got {start!r}") from None
    return problem.from_line(_number(slope, "start slope"), _number(intercept, "start intercept"))


def _repeated_median(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    dx = x[None, :] - x[:, None]
    dy = y[None, :] - y[:, None]
    off_diagonal = ~np.eye(x.size, dtype=bool)
    if np.count_nonzero(dx) == x.size * (x.size - 1):  # all x distinct: plain medians of n - 1 slopes
        slopes = (dy[off_diagonal] / dx[off_diagonal]).reshape(x.size, x.size - 1)
        per_point = np.median(slopes, axis=1)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):  # equal-x pairs are masked to NaN next
            slopes = np.where(dx != 0, dy / dx, np.nan)
        has_pair = (dx != 0).any(axis=1)
        per_point = np.nanmedian(slopes[has_pair], axis=1)
    slope = float(np.median(per_point))
    return slope, float(np.median(y - slope * x))


# ---------------------------------------------------------------- input checks


def _loss_and_params(loss, params) -> tuple[registry.LossSpec, dict[str, float]]:
    spec = loss if isinstance(loss, registry.LossSpec) else registry.get(loss)
    if spec.link != "identity":
        raise ValueError(f"fit_line needs a regression loss (identity link); {spec.key!r} has link {spec.link!r}")
    merged = spec.defaults()
    for name, value in dict(params or {}).items():
        if name not in merged:
            raise ValueError(f"{spec.key} has no parameter {name!r}; expected one of {sorted(merged)}")
        merged[name] = value
    spec.loss(np.zeros(1), np.zeros(1), **merged)  # the core validates the values, naming any bad one
    return spec, merged


def _points(x, y, *, need_spread: bool = True, minimum: int = 2) -> tuple[np.ndarray, np.ndarray]:
    x = as_float_array(x, "x", np.dtype(np.float64))
    y = as_float_array(y, "y", np.dtype(np.float64))
    if x.ndim != 1 or y.ndim != 1 or x.size != y.size:
        raise ValueError(f"x and y must be 1-d and of equal length, got shapes {x.shape} and {y.shape}")
    if not minimum <= x.size <= MAX_POINTS:
        raise ValueError(f"a fit needs {minimum} to {MAX_POINTS} points, got {x.size}")
    for name, values in (("x", x), ("y", y)):
        outside = ~(np.abs(values) <= VALUE_LIMIT)  # NaN too
        if outside.any():
            index = int(np.argmax(outside))
            raise ValueError(f"{name} must be finite numbers within ±1e100 (squared losses of larger "
                             f"data overflow), got {float(values[index])!r} at index {index}")
    if need_spread and x.min() == x.max():
        raise ValueError(f"x must have at least two distinct values to fit a line, got all x = {float(x[0])!r}")
    return x, y


def _count(value, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        if not (isinstance(value, float) and value.is_integer()):
            raise ValueError(f"{name} must be a whole number in [{low}, {high}], got {value!r}")
    number = int(value)
    if not low <= number <= high:
        raise ValueError(f"{name} must be a whole number in [{low}, {high}], got {value!r}")
    return number


def _number(value, name: str, *, low: float | None = None) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number, got {value!r}") from None
    if not math.isfinite(number) or (low is not None and number < low):
        expected = "a finite number" if low is None else f"a finite number >= {low:g}"
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return number


def _tolerance(tol) -> float:
    tol = _number(tol, "tol", low=0.0)
    if not 0 < tol < 1:
        raise ValueError(f"tol must be in (0, 1), got {tol!r}")
    return tol

