r"""Robust regression losses of the residual :math:`r = \hat y - y` and their gradients.

Each loss grows more slowly than the squared error, so a far-off point pulls
less on a fit. All are about :math:`r^2/2` near zero; they differ in how hard
a large residual still pulls, which is the gradient
:math:`\psi(r) = \partial \ell / \partial \hat y`:

============================  ==========================  =================
loss                          far-out growth              far-out pull
============================  ==========================  =================
``pseudo_huber`` (δ)          :math:`\delta |r|`          bounded by δ
``cauchy`` (c)                :math:`c^2 \log |r|`        :math:`\to 0`
``geman_mcclure`` (c)         bounded by :math:`c^2/2`    :math:`\to 0`
``tukey`` (c)                 :math:`c^2/6` past ``c``    0 past ``c``
``barron`` (α, c)             all of the above            by α
============================  ==========================  =================

Barron's general loss (Barron, "A General and Adaptive Robust Loss Function",
CVPR 2019) is, with :math:`u = r/c`,

.. math:: \rho(r, \alpha, c) = \frac{|\alpha - 2|}{\alpha}
          \left(\left(\frac{u^2}{|\alpha - 2|} + 1\right)^{\alpha/2} - 1\right)

and passes through the others: α = 2 is :math:`u^2/2`, α = 1 pseudo-Huber,
α = 0 Cauchy, α = −2 Geman–McClure, α → −∞ Welsch. It is dimensionless (the
paper's convention), so :math:`c^2 \rho` matches the named losses:
``c**2 * barron(alpha=1, c=k) == pseudo_huber(delta=k)``,
``c**2 * barron(alpha=0, c=k) == cauchy(c=sqrt(2)*k)`` and
``c**2 * barron(alpha=-2, c=k) == geman_mcclure(c=2*k)``.

Each loss comes as ``name(pred, target, *, params, reduction="mean")``,
``name_grad(pred, target, *, params)`` (elementwise, shaped like ``pred``) and
``name_and_grad(pred, target, *, params, reduction="mean")``, which returns
``(loss, grad)`` from one validation and shared intermediates.

Numerics, shared by all five: the residual size :math:`a = |r|` is only ever
compared with the loss's scale :math:`s` through :math:`m = \min(a, s)` and
the ratio :math:`q = \min(a, s) / \max(a, s) \in [0, 1]`, so nothing is squared
past its scale and nothing overflows for any finite input (1e300, float max,
1e-300). Far from zero the logarithm of :math:`a/s` is taken as
:math:`-\log q`. NaN propagates, as in NumPy. A residual that itself
overflows (:math:`\hat y - y` past float max, both finite) is evaluated from
:math:`r/2` with the scale halved, so a loss that is still a float there
(Cauchy's logarithm, :math:`\delta |r|` for a small δ) comes out right.
float32 inputs are computed in float64 and rounded to float32 once, at the
end (float32 in, float32 out).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from losslab import _double_word
from losslab._validation import (
    Interval,
    all_finite,
    prepare,
    reduce,
    sum_to_shape,
    validate_reduction,
)

POSITIVE = Interval(0.0, None, low_inclusive=False)
#: The scale c of Cauchy, Tukey, Geman-McClure and Barron: any normal positive float (Barron's
#: formulas divide by c twice and by c sqrt|alpha - 2|, which a subnormal c would turn to 0).
SCALE = Interval(float(np.finfo(np.float64).tiny), None)
#: Barron's α for a slider: finite values up to 2; the functions also accept ``-np.inf``.
ALPHA = Interval(None, 2.0)


def _validate_alpha(alpha) -> float:
    """Barron's shape: any number up to 2, or -inf (the Welsch limit)."""
    try:
        number = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"alpha must be a number in [-inf, 2], got {alpha!r}") from None
    if number == -math.inf or ALPHA.contains(number):
        return number
    raise ValueError(f"alpha must be in [-inf, 2] (-inf is Welsch's loss), got {alpha!r}")


def _working(values: np.ndarray) -> np.ndarray:
    """``values`` in the dtype the formulas run in: float32 is computed in float64.

    The far-out formulas go through logarithms and exponentials of up to ~90
    in float32, which would cost several ulps, and a parameter beyond
    float32's range would overflow when cast; the float64 result is rounded
    back to float32 once, at the end. (So a float32 residual never overflows.)
    """
    return values.astype(np.float64) if values.dtype.itemsize < 8 else values


def _evaluate(kernel: Callable, pred, target, *, loss: bool, grad: bool, reduction: str = "none",
              **params):
    """Run an elementwise ``kernel(r, want_loss, want_grad, **params)`` on the residual ``pred - target``.

    The kernel sees a flat array; this restores the shape and dtype, reduces
    the loss and sums the gradient back to ``pred``'s shape.
    """
    pred, target = prepare(pred, target)
    dtype = pred.dtype
    pred_w, target_w = _working(pred), _working(target)
    with np.errstate(over="ignore", invalid="ignore"):  # inf - inf is NaN, as in NumPy; overflow: below
        residual = np.asarray(pred_w - target_w)
    values, slopes = kernel(residual.reshape(-1), loss, grad, **params)
    if not all_finite(residual):
        _redo_overflowed(kernel, values, slopes, pred_w, target_w, residual, params)
    with np.errstate(over="ignore"):  # a float64 result past float32 max becomes inf, its true size
        values = None if values is None else values.astype(dtype, copy=False).reshape(residual.shape)
        slopes = None if slopes is None else slopes.astype(dtype, copy=False).reshape(residual.shape)
    loss_value = None if values is None else reduce(values, reduction)
    grad_value = None if slopes is None else sum_to_shape(slopes, pred.shape)
    if loss and grad:
        return loss_value, grad_value
    return loss_value if loss else grad_value


def _redo_overflowed(kernel, values, slopes, pred, target, residual, params) -> None:
    r"""Where ``pred - target`` overflowed (both finite), recompute from :math:`r/2 = \hat y/2 - y/2`.

    Every loss here is :math:`s^2 f(r/s)` for its scale s (Barron's: :math:`f(r/c)`), so
    :math:`\ell(r; s) = 4\,\ell(r/2; s/2)` and :math:`\psi(r; s) = 2\,\psi(r/2; s/2)`
    (Barron: factors 1 and 1/2); :math:`r/2` cannot overflow, and a loss that is
    finite at :math:`|r| > ` float max (Cauchy's log, δ|r| for a small δ) stays finite.
    """
    overflowed = np.isinf(residual) & np.isfinite(pred) & np.isfinite(target)
    if not overflowed.any():
        return
    with np.errstate(over="ignore", invalid="ignore"):
        half = np.broadcast_to(pred / 2 - target / 2, residual.shape)[overflowed]
    name, loss_factor, grad_factor = _HALVING[kernel]
    half_scale = params[name] / 2
    if kernel is _pseudo_huber and half_scale * 2 != params[name]:
        # delta / 2 is not a float (a subnormal delta): this far past delta the loss is delta |r| and psi is
        # +-delta to far below rounding (delta/|r| < 2^-2000), so from r/2 with delta itself, factors 2 and 1
        half_scale, loss_factor, grad_factor = params[name], 2.0, 1.0
    half_values, half_slopes = kernel(half, values is not None, slopes is not None,
                                      **{**params, name: half_scale})
    where = overflowed.reshape(-1)
    with np.errstate(over="ignore"):  # 4 * loss past float max: the true loss is too
        if values is not None:
            values[where] = loss_factor * half_values
        if slopes is not None:
            slopes[where] = grad_factor * half_slopes


def _split(size: np.ndarray, scale: float):
    """Compare ``|r|`` with a scale: ``m = min(|r|, s)``, ``q = min/max`` in [0, 1], ``near = |r| <= s``.

    ``q`` is :math:`|r|/s` near zero and :math:`s/|r|` far out; neither can overflow.
    """
    m = np.minimum(size, scale)
    return m, m / np.maximum(size, scale), size <= scale


def _log_excess(size: np.ndarray, scale: float, q: np.ndarray, near: np.ndarray) -> np.ndarray:
    r""":math:`\log(\max(|r|, s)/s) \ge 0`: 0 near zero, :math:`-\log q` far out.

    :math:`-\log q` keeps full precision where :math:`|r| \approx s`; only where
    q underflows (:math:`|r|/s` past 1/tiny) is it :math:`\log|r| - \log s`.
    """
    tiny = np.finfo(q.dtype).tiny
    excess = np.where(near, 0, -np.log(np.maximum(q, tiny)))
    lost = ~near & (q < tiny)
    if lost.any():
        excess[lost] = np.log(size[lost]) - math.log(scale)
    return excess


def _log1p_ratio(z: np.ndarray, log1p_z: np.ndarray) -> np.ndarray:
    r""":math:`\log(1 + z)/z`, with its limit 1 at z = 0 (so :math:`z \cdot` it never loses a tiny z)."""
    zero = z == 0
    return np.where(zero, 1, log1p_z / np.where(zero, 1, z))


# ------------------------------------------------------------------ pseudo-Huber


def _pseudo_huber(r, want_loss, want_grad, *, delta):
    size = np.abs(r)
    m, q, near = _split(size, delta)
    h = np.hypot(1, q)
    loss = grad = None
    if want_loss:
        # delta^2 (sqrt(1+u^2) - 1) as u^2/(sqrt(1+u^2)+1) near zero (no cancellation) and
        # delta |r| / (sqrt(1+q^2)+q) far out (q = delta/|r|); |r| times a ratio, so never squared
        with np.errstate(over="ignore"):  # only where delta |r| truly exceeds float max
            loss = size * (m / np.where(near, 1 + h, h + q))
    if want_grad:
        grad = np.copysign(m / h, r)  # r / sqrt(1 + (r/delta)^2), and delta/sqrt(1 + q^2) far out
    return loss, grad


def pseudo_huber(pred, target, *, delta: float = 1.0, reduction: str = "mean"):
    r"""Pseudo-Huber (Charbonnier) loss: a smooth Huber, quadratic near zero and linear far out.

    .. math:: \ell = \delta^2 \left(\sqrt{1 + (r/\delta)^2} - 1\right),\qquad
              \frac{\partial \ell}{\partial \hat y} = \frac{r}{\sqrt{1 + (r/\delta)^2}},
              \qquad r = \hat y - y

    About :math:`r^2/2` for :math:`|r| \ll \delta` and :math:`\delta(|r| - \delta)`
    for :math:`|r| \gg \delta`; the gradient is bounded by ``delta`` and, unlike
    Huber's, has no kink. Convex. Barron's loss at α = 1 times :math:`c^2`.
    ``delta`` must be > 0.

    Computed as :math:`r^2 / (\sqrt{1+u^2} + 1)` for :math:`|r| \le \delta` and
    :math:`\delta |r| / (\sqrt{1+q^2} + q)`, :math:`q = \delta/|r|`, beyond: no
    cancellation near zero and no squaring of a large residual.
    """
    validate_reduction(reduction)
    delta = POSITIVE.validate(delta, "delta")
    return _evaluate(_pseudo_huber, pred, target, loss=True, grad=False,
                     reduction=reduction, delta=delta)


def pseudo_huber_grad(pred, target, *, delta: float = 1.0):
    r""":math:`r / \sqrt{1 + (r/\delta)^2}`: about ``r`` near zero, tending to :math:`\pm\delta`."""
    delta = POSITIVE.validate(delta, "delta")
    return _evaluate(_pseudo_huber, pred, target, loss=False, grad=True, delta=delta)


def pseudo_huber_and_grad(pred, target, *, delta: float = 1.0, reduction: str = "mean"):
    """``(pseudo_huber(...), pseudo_huber_grad(...))`` from one validation and shared intermediates."""
    validate_reduction(reduction)
    delta = POSITIVE.validate(delta, "delta")
    return _evaluate(_pseudo_huber, pred, target, loss=True, grad=True,
                     reduction=reduction, delta=delta)


# ------------------------------------------------------------------------ Cauchy


def _cauchy(r, want_loss, want_grad, *, c):
    size = np.abs(r)
    m, q, near = _split(size, c)
    z = q * q
    log1p_z = np.log1p(z)
    loss = grad = None
    if want_loss:
        excess = _log_excess(size, c, q, near)
        with np.errstate(over="ignore"):  # only past c ~ 1e154, where c^2 log(...) truly exceeds float max
            # near: (r^2/2) log1p(u^2)/u^2 keeps a tiny r's r^2/2 even when u^2 underflows;
            # far: log(1 + u^2) = log1p(q^2) + 2 log(|r|/c), no u^2 formed
            loss = np.where(near, m * (m * _log1p_ratio(z, log1p_z) / 2),
                            c * (c * (log1p_z + 2 * excess) / 2))
    if want_grad:
        # r/(1+u^2) near zero; far out the same value is c q/(1+q^2) with q = c/|r| (no u^2 formed)
        grad = np.where(near, r, np.copysign(c * q, r)) / (1 + z)
    return loss, grad


def cauchy(pred, target, *, c: float = 1.0, reduction: str = "mean"):
    r"""Cauchy (Lorentzian) loss: logarithmic growth, so far points pull ever less.

    .. math:: \ell = \frac{c^2}{2} \log\left(1 + (r/c)^2\right),\qquad
              \frac{\partial \ell}{\partial \hat y} = \frac{r}{1 + (r/c)^2},
              \qquad r = \hat y - y

    About :math:`r^2/2` for :math:`|r| \ll c`; the gradient peaks at
    :math:`|r| = c` (value :math:`c/2`) and decays like :math:`c^2/r`.
    Non-convex past :math:`|r| = c`. Barron's loss at α = 0, scale
    :math:`c/\sqrt2`, times :math:`c^2/2`. ``c`` must be > 0.

    Far out, :math:`\log(1 + u^2)` is :math:`2\log(|r|/c) + \log(1 + (c/r)^2)`,
    which never squares a large residual; near zero :math:`(r^2/2)\,
    \log(1+u^2)/u^2` keeps the loss of a tiny residual from underflowing.
    """
    validate_reduction(reduction)
    c = SCALE.validate(c, "c")
    return _evaluate(_cauchy, pred, target, loss=True, grad=False, reduction=reduction, c=c)


def cauchy_grad(pred, target, *, c: float = 1.0):
    r""":math:`r / (1 + (r/c)^2)`: largest (:math:`\pm c/2`) at :math:`|r| = c`, then decaying like :math:`c^2/r`."""
    c = SCALE.validate(c, "c")
    return _evaluate(_cauchy, pred, target, loss=False, grad=True, c=c)


def cauchy_and_grad(pred, target, *, c: float = 1.0, reduction: str = "mean"):
    """``(cauchy(...), cauchy_grad(...))`` from one validation and shared intermediates."""
    validate_reduction(reduction)
    c = SCALE.validate(c, "c")
    return _evaluate(_cauchy, pred, target, loss=True, grad=True, reduction=reduction, c=c)


# -------------------------------------------------------------------------- Tukey


def _tukey(r, want_loss, want_grad, *, c):
    m = np.minimum(np.abs(r), c)
    q = m / c  # |r|/c, capped at 1
    loss = grad = None
    if want_loss:
        a = q * q
        # c^2/6 (1 - (1 - a)^3) = m^2 (3 - 3a + a^2)/6: no cancellation for small a; a = 1 past c
        with np.errstate(over="ignore"):  # only past c ~ 1e154, where c^2/6 truly exceeds float max
            loss = m * (m * (3 - 3 * a + a * a) / 6)
    if want_grad:
        # r (1 - u^2)^2 with 1 - u^2 as (1-q)(1+q) (accurate near |r| = c), 0 past c; m, not r,
        # so an infinite residual gives 0, not inf * 0
        grad = np.copysign(m * ((1 - q) * (1 + q)) ** 2, r)
    return loss, grad


def tukey(pred, target, *, c: float = 1.0, reduction: str = "mean"):
    r"""Tukey's biweight (bisquare) loss: constant past ``c``, so far points have no pull at all.

    .. math:: \ell = \begin{cases} \frac{c^2}{6}\left(1 - \left(1 - (r/c)^2\right)^3\right) & |r| \le c \\
              \frac{c^2}{6} & |r| > c \end{cases},\qquad
              \frac{\partial \ell}{\partial \hat y} = \begin{cases} r\left(1 - (r/c)^2\right)^2 & |r| \le c \\
              0 & |r| > c \end{cases}

    About :math:`r^2/2` near zero, twice continuously differentiable, and
    non-convex past :math:`|r| = c/\sqrt5`. ``c = 4.685`` σ gives 95 % efficiency
    under Gaussian noise of scale σ (the default 1 matches the other losses here).
    ``c`` must be > 0.

    The loss is :math:`m^2 (3 - 3a + a^2)/6` with :math:`m = \min(|r|, c)` and
    :math:`a = (m/c)^2`: no cancellation near zero, no squaring past ``c``.
    """
    validate_reduction(reduction)
    c = SCALE.validate(c, "c")
    return _evaluate(_tukey, pred, target, loss=True, grad=False, reduction=reduction, c=c)


def tukey_grad(pred, target, *, c: float = 1.0):
    r""":math:`r (1 - (r/c)^2)^2` for :math:`|r| \le c`, 0 beyond: it redescends to zero at ``c``."""
    c = SCALE.validate(c, "c")
    return _evaluate(_tukey, pred, target, loss=False, grad=True, c=c)


def tukey_and_grad(pred, target, *, c: float = 1.0, reduction: str = "mean"):
    """``(tukey(...), tukey_grad(...))`` from one validation and shared intermediates."""
    validate_reduction(reduction)
    c = SCALE.validate(c, "c")
    return _evaluate(_tukey, pred, target, loss=True, grad=True, reduction=reduction, c=c)


# -------------------------------------------------------------------- Geman-McClure


def _geman_mcclure(r, want_loss, want_grad, *, c):
    size = np.abs(r)
    m, q, near = _split(size, c)
    z1 = 1 + q * q
    loss = grad = None
    if want_loss:
        # (r^2/2)/(1+u^2) is m^2/(2(1+q^2)) on both sides: m = |r|, q = |r|/c near; m = c, q = c/|r| far
        with np.errstate(over="ignore"):  # only past c ~ 1e154, where c^2/2 truly exceeds float max
            loss = m * (m / (2 * z1))
    if want_grad:
        # r/(1+u^2)^2; far out that is c q^3/(1+q^2)^2 (no u^2 formed, and 0 for an infinite r)
        grad = np.copysign(np.where(near, m, c * q * q * q) / (z1 * z1), r)
    return loss, grad


def geman_mcclure(pred, target, *, c: float = 1.0, reduction: str = "mean"):
    r"""Geman–McClure loss: bounded by :math:`c^2/2`, with a pull that fades like :math:`1/r^3`.

    .. math:: \ell = \frac{r^2/2}{1 + (r/c)^2},\qquad
              \frac{\partial \ell}{\partial \hat y} = \frac{r}{\left(1 + (r/c)^2\right)^2},
              \qquad r = \hat y - y

    About :math:`r^2/2` near zero (like the other losses here), tending to
    :math:`c^2/2`; ``c`` is the residual scale where it bends. Non-convex past
    :math:`|r| = c/\sqrt3`. Barron's loss at α = −2, scale :math:`c/2`, times
    :math:`c^2/4`. ``c`` must be > 0.

    Written as :math:`m^2 / (2(1 + q^2))` with :math:`m = \min(|r|, c)` and
    :math:`q = \min(|r|, c)/\max(|r|, c)`, the same expression on both sides of
    ``c`` with nothing squared past it.
    """
    validate_reduction(reduction)
    c = SCALE.validate(c, "c")
    return _evaluate(_geman_mcclure, pred, target, loss=True, grad=False,
                     reduction=reduction, c=c)


def geman_mcclure_grad(pred, target, *, c: float = 1.0):
    r""":math:`r / (1 + (r/c)^2)^2`: largest at :math:`|r| = c/\sqrt3`, then decaying like :math:`c^4/r^3`."""
    c = SCALE.validate(c, "c")
    return _evaluate(_geman_mcclure, pred, target, loss=False, grad=True, c=c)


def geman_mcclure_and_grad(pred, target, *, c: float = 1.0, reduction: str = "mean"):
    """``(geman_mcclure(...), geman_mcclure_grad(...))`` from one validation and shared intermediates."""
    validate_reduction(reduction)
    c = SCALE.validate(c, "c")
    return _evaluate(_geman_mcclure, pred, target, loss=True, grad=True,
                     reduction=reduction, c=c)


# -------------------------------------------------------------------------- Barron

_WELSCH_CAP = 1e8  # exp(-u^2/2) is exactly 0 long before u = 1e8, in float32 and float64
_TINY = float(np.finfo(np.float64).tiny)


def _barron_quadratic(r, want_loss, want_grad, c):
    """α = 2: :math:`u^2/2` and :math:`r/c^2`."""
    with np.errstate(over="ignore"):  # past float max only when the true value is
        u = r / c
        return (u * (u / 2) if want_loss else None), (u / c if want_grad else None)


def _barron_welsch(r, want_loss, want_grad, c):
    """α → −∞: :math:`1 - e^{-u^2/2}` and :math:`(r/c^2) e^{-u^2/2}`."""
    with np.errstate(over="ignore"):  # |r|/c past float max is inf, then capped
        u = np.minimum(np.abs(r) / c, _WELSCH_CAP)
    half_u2 = u * (u / 2)
    loss = -np.expm1(-half_u2) if want_loss else None  # expm1: full precision for small u
    grad = np.copysign(_gaussian_slope(np.abs(r), u, c), r) if want_grad else None
    return loss, grad


def _gaussian_slope(size: np.ndarray, u: np.ndarray, c: float) -> np.ndarray:
    r""":math:`(u/c)\,e^{-h}`, :math:`h = u^2/2`, with :math:`u = |r|/c` (``u``: its rounding, capped) and
    :math:`h` as double words, and :math:`e^{-h} = (e + e_{lo})\,2^q` from ``_double_word.exp_double_word``;
    c is split into its significand and power of two, so the one scaling by :math:`2^{q - E}` is the only
    step that can underflow. :math:`e^{-h}` of a rounded :math:`h` is off by about :math:`h` ulp (1,401 ulp
    at u = 36); this is within about 2 ulp. NaN stays NaN."""
    nan = np.isnan(u)
    u = np.where(nan, 0, u)
    capped = u >= _WELSCH_CAP
    with np.errstate(over="ignore", invalid="ignore"):
        u_hi, u_lo = _double_word.divide(np.where(capped | nan, 0, size), np.zeros_like(u), c)
    u_hi = np.where(capped, u, u_hi)  # e^-h is 0 there: the cap's rounding does not matter
    u_lo = np.where(capped | ~np.isfinite(u_lo), 0, u_lo).astype(u.dtype, copy=False)
    h_hi, h_lo = _double_word.square(u_hi)
    h_lo = h_lo + 2 * u_hi * u_lo
    h_hi, h_lo = h_hi / 2, h_lo / 2  # exact (h is 0 or far above the subnormal range, or its low part is)
    e_hi, e_lo, power = _double_word.exp_double_word(-h_hi, -h_lo)
    significand, exponent = math.frexp(c)
    slope = (e_hi + e_lo) * u_hi + e_hi * u_lo
    slope /= u.dtype.type(significand)
    result = np.ldexp(slope, power - exponent)
    return np.where(nan, np.nan, result).astype(u.dtype, copy=False)


def _decayed(u: np.ndarray, h: np.ndarray, c: float) -> np.ndarray:
    r""":math:`u e^{-h} / c`, from logs where :math:`e^{-h}` would underflow before the division by c."""
    tiny = np.finfo(u.dtype).tiny
    deep = h > -0.9 * math.log(tiny)
    with np.errstate(over="ignore"):  # past float max only where the true value is too
        plain = u * np.exp(-h) / c
        if not deep.any():
            return plain
        return np.where(deep, np.exp(np.log(np.maximum(u, tiny)) - h - math.log(c)), plain)


def _barron(r, want_loss, want_grad, *, alpha, c):
    if alpha == 2:
        return _barron_quadratic(r, want_loss, want_grad, c)
    if alpha == -math.inf:
        return _barron_welsch(r, want_loss, want_grad, c)
    b = 2 - alpha  # |alpha - 2| > 0, exact for alpha near 2
    scale = c * math.sqrt(b)  # where u^2/b = 1; a Python float gives inf past float max
    if scale == math.inf or scale < _TINY:
        # c sqrt(b) past float max (then c > 1e154 and r/c cannot overflow) or subnormal (alpha
        # near 2 with c near the smallest float, where r/c overflows only if rho does): in units of c
        with np.errstate(over="ignore"):
            loss, grad = _barron(r / c, want_loss, want_grad, alpha=alpha, c=1.0)
            return loss, (None if grad is None else grad / c)
    size = np.abs(r)
    m, q, near = _split(size, scale)
    z = q * q  # u^2/b near zero, b/u^2 far out
    log1p_z = np.log1p(z)
    ratio = _log1p_ratio(z, log1p_z)
    u = m / c  # |r|/c where used (near zero), at most sqrt(b)
    half_u2 = u * (u / 2)
    excess = _log_excess(size, scale, q, near)  # log(|r|/scale) far out, else 0
    loss = grad = None
    with np.errstate(over="ignore"):  # every overflow here is a true inf, or an exp(-inf) = 0 factor
        if want_loss:
            loss = _barron_loss(alpha, b, c, size, near, log1p_z, ratio, half_u2, excess)
        if want_grad:
            # d rho/d r = (1/c) u (1 + u^2/b)^(alpha/2 - 1). Near zero the power is
            # exp(-(u^2/2) log1p(z)/z); far out (u/c)(1+u^2/b)^(alpha/2-1) is
            # (sqrt(b)/c) (|r|/scale)^(alpha-1) (1+q^2)^(-b/2), from significands and powers of two
            # (_far_slope; one exp of the logarithms only where even those leave the range).
            slope = 0 if alpha == 1 else (alpha - 1) * excess  # alpha = 1: no inf * 0 at r = inf
            far = _far_slope(b, c, alpha, size, log1p_z, slope)
            grad = np.copysign(np.where(near, _decayed(u, half_u2 * ratio, c), far), r)
    return loss, grad


def _far_slope(b: float, c: float, alpha: float, size: np.ndarray, log1p_z: np.ndarray, slope: np.ndarray):
    r"""Barron's :math:`|\psi|` past its scale: :math:`(\sqrt b/c)\,q^{1-\alpha}(1 + q^2)^{-b/2}`, q = scale/|r|.

    With c, |r| and the scale each split into a significand and a power of two (:func:`_power_of_ratio`),
    so that neither a quotient that underflows (|r|/scale past 2^1022) nor a product on the way loses digits;
    where even the significands' product leaves the range (α far below 0), as one exponential of the
    logarithms, which never over- or underflows but carries the rounding of a logarithm of up to about 1500
    (``slope``, the middle factor's, is :math:`(\alpha - 1)\log(|r|/\text{scale})`): that form alone was
    2000 ulp off at a scale of 1e-307.
    """
    tiny = np.finfo(size.dtype).tiny
    logs = np.exp((math.log(b) / 2 - math.log(c)) + slope - (b / 2) * log1p_z)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        # (sqrt(b)/c) (c sqrt(b)/|r|)^(1 - alpha) = b^(b/2) (c/|r|)^(1 - alpha) / c: no rounded scale raised to
        # a power (alpha = -10: 5.5 ulp from c sqrt(b)'s rounding alone)
        power = 1 - alpha
        significand, exponent = _power_of_ratio(c, size, (power, (1 - power) - alpha))
        c_significand, c_exponent = math.frexp(c)
        lead = np.power(size.dtype.type(b), b / 2)  # inf past float max (alpha below about -300): the logs
        significand = significand * (lead / c_significand) * np.exp(-(b / 2) * log1p_z)
        split = np.ldexp(significand, np.clip(exponent - c_exponent, -4000, 4000).astype(np.int32))
        usable = (significand >= tiny) & np.isfinite(significand) & np.isfinite(split)
    return np.where(usable, split, logs)


def _power_of_ratio(scale: float, size: np.ndarray, power: float):
    r"""``(m, n)`` with :math:`(\text{scale}/|r|)^{p} \approx m\,2^n`, n an integer, for any positive ``size`` and
    p given as a double word ``(high, low)``:
    with ``scale`` = :math:`S 2^{e_s}` and :math:`|r| = R\,2^{e_r}` (``frexp``), it is
    :math:`(S/R)^p\,2^{(e_s - e_r)p}`, S/R a double word ``h + l`` (its power :math:`h^p (1 + p\,l/h)`: the
    quotient's rounding would be multiplied by p), the exponent's product exact as a double word and
    :math:`2^{x + y} = 2^{\lfloor x\rfloor}\,2^{x - \lfloor x\rfloor}(1 + y \ln 2)`."""
    power, power_low = power
    s_significand, s_exponent = math.frexp(scale)
    r_significand, r_exponent = np.frexp(size)
    ratio, ratio_low = _double_word.divide(np.full_like(size, s_significand), np.zeros_like(size), r_significand)
    k = (s_exponent - r_exponent).astype(size.dtype)  # exact integers
    high, low = _double_word.two_product(k, size.dtype.type(power))
    low += k * power_low  # p's own rounding (1 - alpha for a tiny alpha), times k up to 2100, is not negligible
    whole = np.floor(high)
    fraction = high - whole  # exact: |high| < 2^53
    correction = 1 + (power * (ratio_low / ratio) + power_low * np.log(ratio) + low * math.log(2))
    return np.power(ratio, power) * np.exp2(fraction) * correction, whole


def _barron_loss(alpha, b, c, size, near, log1p_z, ratio, half_u2, excess):
    r"""ρ from :math:`L = \log(1 + u^2/b)` as :math:`(b/\alpha)\,\mathrm{expm1}(\alpha L/2)`.

    Near zero :math:`\alpha L/2` is :math:`(\alpha/b)(u^2/2)\log(1+z)/z`, which keeps a
    small u's :math:`u^2/2` even for huge b (α → −∞), and ρ is :math:`h\,\mathrm{expm1}(t)/t` with
    :math:`h = (u^2/2)\log(1+z)/z` and :math:`t = (\alpha/b) h` (a subnormal t, α = 1e-9 with a tiny u, kept
    only a few digits of :math:`(b/\alpha)\,\mathrm{expm1}(t)`); far out
    :math:`L = \log(1+q^2) + 2\log(|r|/\text{scale})`. expm1 keeps full precision
    as α → 0 (where (b/α) expm1(αL/2) → L) and no division by b appears, so α
    near 2 is exact too. Where αL/2 > 1 (α > 0), :math:`e^{\alpha L/2} = b^{-\alpha/2} (c/|r|)^{-\alpha}
    (1 + q^2)^{\alpha/2}` with c and |r| split into significands and powers of two
    (:func:`_power_of_ratio`): :math:`e^{\alpha L/2}` of a rounded αL/2 of up to 700 was hundreds of ulp off.
    Past that (b/α tiny beside ρ, or the pieces out of range), :math:`e^{\log(b/\alpha) + \alpha L/2}`.
    """
    h = half_u2 * ratio
    if abs(alpha) < _alpha_as_zero(log1p_z.dtype):
        # alpha within float noise of 0: the alpha = 0 limit log(1 + u^2/2) differs by ~alpha L^2
        return np.where(near, h, log1p_z + 2 * excess)
    t = np.where(near, (alpha / b) * h, (alpha / 2) * (log1p_z + 2 * excess))
    k = b / alpha
    with np.errstate(invalid="ignore"):
        near_value = h * _expm1_over(t)
    if alpha < 0:
        return np.where(near, near_value, k * np.expm1(t))  # t <= 0: bounded loss -k = b/|alpha|
    top = math.log(np.finfo(t.dtype).max) - 8
    far = np.where(t > top, np.exp(math.log(k) + t), k * np.expm1(np.minimum(t, top)))
    large = ~near & (t > 1)
    if large.any():
        tiny = np.finfo(t.dtype).tiny
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            significand, exponent = _power_of_ratio(c, size[large], (-alpha, 0.0))
            significand = significand * (k * b ** (-alpha / 2)) * np.exp((alpha / 2) * log1p_z[large])
            value = np.ldexp(significand, np.clip(exponent, -4000, 4000).astype(np.int32)) - k
            usable = (significand >= tiny) & np.isfinite(significand) & ~np.isnan(value)
        far[large] = np.where(usable, value, far[large])
    return np.where(near, near_value, far)


def _expm1_over(t: np.ndarray) -> np.ndarray:
    """expm1(t)/t, with its limit 1 at t = 0."""
    zero = t == 0
    return np.where(zero, 1, np.expm1(t) / np.where(zero, 1, t))


def _alpha_as_zero(dtype) -> float:
    """Below this |α| the α = 0 formula is exact in ``dtype`` (and b/α would not fit)."""
    return math.sqrt(np.finfo(dtype).tiny)


# The scale each kernel's loss is homogeneous in, and the factors for (loss, grad) of r/2 with it halved.
_HALVING = {
    _pseudo_huber: ("delta", 4.0, 2.0),
    _cauchy: ("c", 4.0, 2.0),
    _geman_mcclure: ("c", 4.0, 2.0),
    _tukey: ("c", 4.0, 2.0),
    _barron: ("c", 1.0, 0.5),
}


def barron(pred, target, *, alpha: float = 1.0, c: float = 1.0, reduction: str = "mean"):
    r"""Barron's general robust loss: one shape parameter α spans L2, pseudo-Huber, Cauchy, Geman–McClure and Welsch.

    With :math:`u = r/c`, :math:`r = \hat y - y` and :math:`b = |\alpha - 2|`:

    .. math:: \rho = \frac{b}{\alpha}\left(\left(\frac{u^2}{b} + 1\right)^{\alpha/2} - 1\right),
              \qquad \frac{\partial \rho}{\partial \hat y} = \frac{r}{c^2}\left(\frac{u^2}{b} + 1\right)^{\alpha/2 - 1}

    and its limits: :math:`u^2/2` at α = 2, :math:`\log(u^2/2 + 1)` at α = 0
    (Cauchy), :math:`1 - e^{-u^2/2}` as α → −∞ (Welsch); α = 1 is
    :math:`\sqrt{u^2 + 1} - 1` (pseudo-Huber / Charbonnier) and α = −2
    :math:`2u^2/(u^2 + 4)` (Geman–McClure). Lower α is more robust; the loss is
    convex for α ≥ 1, bounded (by :math:`b/|\alpha|`) for α < 0, and
    monotone in α. ``alpha`` must be in [−∞, 2] (``-np.inf`` is accepted),
    ``c`` > 0. About :math:`u^2/2` near zero for every α (Barron, CVPR 2019).

    Computed from :math:`L = \log(1 + u^2/b)` as :math:`(b/\alpha)\,
    \mathrm{expm1}(\alpha L / 2)`, which has no division by zero at α = 2 or
    b, and at α = 0 (taken as its limit :math:`L` when :math:`|\alpha|` is
    below float noise) keeps full precision nearby, so the loss is continuous
    and accurate across 0 and 2 and tends to Welsch as α → −∞. See the module
    docstring for how large residuals are kept from overflowing.
    """
    validate_reduction(reduction)
    alpha = _validate_alpha(alpha)
    c = SCALE.validate(c, "c")
    return _evaluate(_barron, pred, target, loss=True, grad=False,
                     reduction=reduction, alpha=alpha, c=c)


def barron_grad(pred, target, *, alpha: float = 1.0, c: float = 1.0):
    r""":math:`\frac{r}{c^2}\left(\frac{(r/c)^2}{|\alpha-2|} + 1\right)^{\alpha/2 - 1}`, with its limits at α = 2 and −∞.

    :math:`r/c^2` at α = 2, :math:`r/(c^2 + r^2/2)` at α = 0, :math:`(r/c^2)e^{-u^2/2}`
    as α → −∞. Bounded for α ≤ 1; it redescends to 0 far out for α < 1.
    """
    alpha = _validate_alpha(alpha)
    c = SCALE.validate(c, "c")
    return _evaluate(_barron, pred, target, loss=False, grad=True,
                     alpha=alpha, c=c)


def barron_and_grad(pred, target, *, alpha: float = 1.0, c: float = 1.0, reduction: str = "mean"):
    """``(barron(...), barron_grad(...))`` from one validation and shared intermediates."""
    validate_reduction(reduction)
    alpha = _validate_alpha(alpha)
    c = SCALE.validate(c, "c")
    return _evaluate(_barron, pred, target, loss=True, grad=True,
                     reduction=reduction, alpha=alpha, c=c)
