r"""Regression losses of the residual :math:`r = \hat y - y` and their gradients.

Each loss is elementwise; ``reduction`` then averages or sums the elements.
Each ``*_grad`` is :math:`\partial \ell / \partial \hat y` of the unreduced
loss, shaped like ``pred`` (broadcast dimensions summed out). NaN inputs
propagate to NaN outputs, as in NumPy.
"""

from __future__ import annotations

import math

import numpy as np

from losslab._validation import (
    Interval,
    all_finite,
    blockwise,
    fits_float32,
    prepare,
    reduce,
    sum_to_shape,
    validate_reduction,
)

POSITIVE = Interval(0.0, None, low_inclusive=False)
OPEN_UNIT = Interval(0.0, 1.0, low_inclusive=False, high_inclusive=False)

# Below this |r|, log(cosh r) = log1p(sinh(r)^2) / 2 keeps full relative precision;
# above it, |r| + log1p(e^{-2|r|}) - log 2 has no cancellation and cannot overflow.
_LOG_COSH_SWITCH = 20.0
# A near-formula value below this has |r| < 19.7, short of the switch (log cosh 20 = 19.31).
_LOG_COSH_NEAR_BELOW = 19.0


def _residual(pred, target) -> tuple[np.ndarray, np.ndarray]:
    pred, target = prepare(pred, target)
    with np.errstate(over="ignore", invalid="ignore"):  # inf - inf is NaN, as in NumPy
        return pred, pred - target


def mse(pred, target, *, reduction: str = "mean"):
    r"""Squared error :math:`\ell = (\hat y - y)^2`; overflows to inf only past :math:`|r| \approx 10^{154}`."""
    validate_reduction(reduction)
    pred, target = prepare(pred, target)

    def loss_block(p, y, loss):
        np.subtract(p, y, out=loss)
        loss *= loss

    with np.errstate(over="ignore", invalid="ignore"):  # inf where the true value exceeds float max
        (loss,) = blockwise(loss_block, pred, target, outputs=1)
    return reduce(loss, reduction)


def mse_grad(pred, target):
    r""":math:`\partial \ell / \partial \hat y = 2 (\hat y - y)`."""
    pred, target = prepare(pred, target)

    def grad_block(p, y, grad):
        np.subtract(p, y, out=grad)
        grad *= 2

    with np.errstate(over="ignore", invalid="ignore"):
        (grad,) = blockwise(grad_block, pred, target, outputs=1)
    return sum_to_shape(grad, pred.shape)


def mse_and_grad(pred, target, *, reduction: str = "mean"):
    """``(mse(...), mse_grad(...))`` from one validation and one residual."""
    validate_reduction(reduction)
    pred, target = prepare(pred, target)
    loss, grad = _mse_kernel(pred, target)
    return reduce(loss, reduction), sum_to_shape(grad, pred.shape)


def _mse_kernel(pred: np.ndarray, target: np.ndarray):
    """Unchecked (loss, grad) of ``mse``, unreduced; ``pred``/``target`` must be validated float arrays."""
    with np.errstate(over="ignore", invalid="ignore"):  # inf where the true value exceeds float max
        return blockwise(_mse_block, pred, target, outputs=2)


def _mse_block(pred, target, loss, grad) -> None:
    np.subtract(pred, target, out=grad)  # the residual, then the gradient in place
    np.multiply(grad, grad, out=loss)
    grad *= 2


def mae(pred, target, *, reduction: str = "mean"):
    r"""Absolute error :math:`\ell = |\hat y - y|`."""
    validate_reduction(reduction)
    _, residual = _residual(pred, target)
    return reduce(np.abs(residual), reduction)


def mae_grad(pred, target):
    r""":math:`\operatorname{sign}(\hat y - y)`, taken as 0 at the kink :math:`r = 0`."""
    pred, residual = _residual(pred, target)
    return sum_to_shape(np.sign(residual), pred.shape)


def mae_and_grad(pred, target, *, reduction: str = "mean"):
    """``(mae(...), mae_grad(...))`` from one validation and one residual."""
    validate_reduction(reduction)
    pred, target = prepare(pred, target)
    loss, grad = _mae_kernel(pred, target)
    return reduce(loss, reduction), sum_to_shape(grad, pred.shape)


def _mae_kernel(pred: np.ndarray, target: np.ndarray):
    """Unchecked (loss, grad) of ``mae``, unreduced; ``pred``/``target`` must be validated float arrays."""
    with np.errstate(over="ignore", invalid="ignore"):
        residual = pred - target
    return np.abs(residual), np.sign(residual)


def huber(pred, target, *, delta: float = 1.0, reduction: str = "mean"):
    r"""Huber loss, quadratic near zero and linear beyond ``delta`` (PyTorch's ``huber_loss``).

    .. math:: \ell = \begin{cases} \tfrac12 r^2 & |r| \le \delta \\
              \delta (|r| - \tfrac12 \delta) & |r| > \delta \end{cases}

    Written as :math:`a (|r| - a/2)` with :math:`a = \min(|r|, \delta)`, one
    formula for both branches that never squares a large residual.
    ``delta`` must be > 0. Large ``delta`` tends to half the MSE; small ``delta``
    tends to ``delta`` times the MAE.
    """
    validate_reduction(reduction)
    delta = POSITIVE.validate(delta, "delta")
    pred, target = prepare(pred, target)
    wide_pred, wide_target = _widened(pred, target, delta)

    def loss_block(p, y, loss, grad, residual):
        _huber_into(p, y, delta, loss, grad, residual)

    with np.errstate(over="ignore", invalid="ignore"):
        (loss,) = blockwise(loss_block, wide_pred, wide_target, outputs=1, scratch=2)
    return reduce(_narrowed(loss, pred.dtype), reduction)


def huber_grad(pred, target, *, delta: float = 1.0):
    r""":math:`\operatorname{clip}(r, -\delta, \delta)`: the residual, bounded by ``delta``."""
    delta = POSITIVE.validate(delta, "delta")
    pred, target = prepare(pred, target)

    def grad_block(p, y, grad):
        np.subtract(p, y, out=grad)
        np.clip(grad, -delta, delta, out=grad)

    with np.errstate(over="ignore", invalid="ignore"):  # inf - inf is NaN, as in NumPy
        (grad,) = blockwise(grad_block, pred, target, outputs=1)
    return sum_to_shape(grad, pred.shape)


def huber_and_grad(pred, target, *, delta: float = 1.0, reduction: str = "mean"):
    """``(huber(...), huber_grad(...))`` from one validation and one residual."""
    validate_reduction(reduction)
    delta = POSITIVE.validate(delta, "delta")
    pred, target = prepare(pred, target)
    loss, grad = (_narrowed(a, pred.dtype) for a in _huber_kernel(*_widened(pred, target, delta), delta=delta))
    return reduce(loss, reduction), sum_to_shape(grad, pred.shape)


def _widened(pred: np.ndarray, target: np.ndarray, parameter: float) -> tuple[np.ndarray, np.ndarray]:
    """float32 inputs in float64 where float32 cannot hold ``parameter`` (a ``delta`` of 1e-45 would be 1.4e-45,
    40 % off; 1e39 would be inf), as the package docstring promises; anything else unchanged."""
    if pred.dtype == np.float32 and not fits_float32(parameter):
        return pred.astype(np.float64), target.astype(np.float64)
    return pred, target


def _narrowed(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``values`` rounded once to the inputs' ``dtype`` (a float64 value past float32 max is inf, its true size)."""
    with np.errstate(over="ignore"):
        return values.astype(dtype, copy=False)


def _huber_kernel(pred: np.ndarray, target: np.ndarray, *, delta: float = 1.0):
    """Unchecked (loss, grad) of ``huber``, unreduced; inputs validated float arrays, ``delta`` > 0."""

    def block(p, y, loss, grad, residual):
        _huber_into(p, y, delta, loss, grad, residual)

    with np.errstate(over="ignore", invalid="ignore"):
        return blockwise(block, pred, target, outputs=2, scratch=1)


def _huber_into(pred, target, delta: float, loss, grad, residual) -> None:
    r"""Huber's loss and gradient into ``loss`` and ``grad`` (``residual`` is scratch): with
    :math:`c = \operatorname{clip}(r, -\delta, \delta)` (the gradient), :math:`\ell = c\,(r - c/2)`,
    which is :math:`r^2/2` inside and :math:`\delta(|r| - \delta/2)` outside.

    Call under ``np.errstate(over="ignore", invalid="ignore")``: inf - inf (infinite inputs) is NaN,
    as in NumPy, and a loss past float max is inf.
    """
    np.subtract(pred, target, out=residual)
    np.clip(residual, -delta, delta, out=grad)
    np.multiply(grad, -0.5, out=loss)
    loss += residual
    loss *= grad
    _redo_overflowed(loss, residual, pred, target, lambda h: _huber_of_half_residual(h, delta))


def _huber_of_half_residual(half_residual: np.ndarray, delta: float) -> np.ndarray:
    r"""Huber's :math:`a\,(|r| - a/2)`, :math:`a = \min(|r|, \delta)`, from :math:`h = |r|/2`, as :math:`2a\,(h - a/4)`.

    No :math:`\delta^2` (inf past 1.3e154, and inf - inf was NaN) and no :math:`|r|`; in float64, so that a float32
    residual under a ``delta`` past float32's range takes the quadratic branch, inf once rounded.
    """
    h = np.abs(half_residual).astype(np.float64)
    size = np.minimum(2 * h, delta)  # 2h past float max is inf: the linear branch, as it should be
    return 2 * size * (h - size / 4)


def _redo_overflowed(values, residual, pred, target, from_half_residual) -> None:
    r"""Where ``pred - target`` overflowed but the loss need not, recompute from :math:`|r|/2`.

    A residual past float max (``1e308 - (-1e308)``) is inf, yet ``delta |r|`` or
    ``tau |r|`` may still be a float; :math:`|r|/2 = |\hat y/2 - y/2|` cannot overflow.
    """
    if not values.size or values.max() < np.inf:  # losses are >= 0: one pass finds an overflow
        return
    if all_finite(residual) or not (all_finite(pred) and all_finite(target)):
        return
    overflowed = ~np.isfinite(residual)
    half_residual = (np.broadcast_to(pred, residual.shape)[overflowed] / 2
                     - np.broadcast_to(target, residual.shape)[overflowed] / 2)
    with np.errstate(over="ignore"):  # still beyond float max: inf is right
        values[overflowed] = from_half_residual(half_residual)


def log_cosh(pred, target, *, reduction: str = "mean"):
    r""":math:`\ell = \log\cosh(\hat y - y)`: about :math:`r^2/2` near 0 and :math:`|r| - \log 2` far out.

    Exact to rounding for any ``|r|`` (``cosh`` itself overflows past 710):
    small residuals use :math:`\tfrac12 \log(1 + \sinh^2 r)`, large ones
    :math:`|r| + \log(1 + e^{-2|r|}) - \log 2`.
    """
    validate_reduction(reduction)
    pred, target = prepare(pred, target)

    def loss_block(p, y, loss, residual):
        np.subtract(p, y, out=residual)
        _log_cosh_into(residual, loss)

    with np.errstate(over="ignore", invalid="ignore"):
        (loss,) = blockwise(loss_block, pred, target, outputs=1, scratch=1)
    return reduce(loss, reduction)


def log_cosh_grad(pred, target):
    r""":math:`\partial \ell / \partial \hat y = \tanh(\hat y - y)`, bounded by 1."""
    pred, target = prepare(pred, target)

    def grad_block(p, y, grad):
        np.subtract(p, y, out=grad)
        np.tanh(grad, out=grad)

    with np.errstate(over="ignore", invalid="ignore"):  # inf - inf is NaN, as in NumPy
        (grad,) = blockwise(grad_block, pred, target, outputs=1)
    return sum_to_shape(grad, pred.shape)


def log_cosh_and_grad(pred, target, *, reduction: str = "mean"):
    """``(log_cosh(...), log_cosh_grad(...))`` from one validation and one residual."""
    validate_reduction(reduction)
    pred, target = prepare(pred, target)
    loss, grad = _log_cosh_kernel(pred, target)
    return reduce(loss, reduction), sum_to_shape(grad, pred.shape)


def _log_cosh_kernel(pred: np.ndarray, target: np.ndarray):
    """Unchecked (loss, grad) of ``log_cosh``, unreduced; ``pred``/``target`` must be validated float arrays."""
    with np.errstate(over="ignore", invalid="ignore"):
        return blockwise(_log_cosh_block, pred, target, outputs=2)


def _log_cosh_block(pred, target, loss, grad) -> None:
    np.subtract(pred, target, out=grad)  # the residual, then its tanh in place
    _log_cosh_into(grad, loss)
    np.tanh(grad, out=grad)


def _log_cosh_into(residual: np.ndarray, value: np.ndarray) -> None:
    """log cosh of ``residual`` into ``value``; call under ``np.errstate(over="ignore")``."""
    # cosh^2 = 1 + sinh^2: log cosh r = log1p(sinh(r)^2) / 2, even in r (no |r| needed), with no
    # cancellation, and measured closer to exact than log1p(2 sinh(r/2)^2) (max 1 ulp, not 2, for
    # 1 < |r| < 20 in float64; 2.7, not 3.2, in float32). sinh(r)^2 overflows to inf only past
    # |r| of about 355 (44 in float32), where the far formula below replaces the value.
    np.sinh(residual, out=value)
    np.square(value, out=value)
    np.log1p(value, out=value)
    value *= 0.5
    if value.size and not value.max() < _LOG_COSH_NEAR_BELOW:  # one pass over the loss, not two over r
        # usually none (NaN lands here too): the far formula runs only where it is needed
        size = np.abs(residual)
        far = size >= _LOG_COSH_SWITCH
        far_size = size[far]
        # exp(-2|r|) is 0 to double precision well before |r| = 400; the cap stops -2|r| overflowing.
        value[far] = far_size + np.log1p(np.exp(-2 * np.minimum(far_size, 400.0))) - math.log(2)


def quantile(pred, target, *, tau: float = 0.5, reduction: str = "mean"):
    r"""Pinball loss for the ``tau``-quantile, with :math:`u = y - \hat y`:

    .. math:: \ell = \max(\tau u, (\tau - 1) u)

    Under-prediction costs ``tau`` per unit, over-prediction ``1 - tau``;
    ``tau = 0.5`` is half the MAE. ``tau`` must be in (0, 1).
    """
    validate_reduction(reduction)
    tau = OPEN_UNIT.validate(tau, "tau")
    pred, target = prepare(pred, target)
    return reduce(_narrowed(_quantile_loss(*_widened(pred, target, tau), tau), pred.dtype), reduction)


def quantile_grad(pred, target, *, tau: float = 0.5):
    r""":math:`-\tau` below the target, :math:`1 - \tau` above it, :math:`\tfrac12 - \tau` at the kink."""
    tau = OPEN_UNIT.validate(tau, "tau")
    pred, residual = _residual(pred, target)
    return sum_to_shape(_quantile_grad_of(residual, tau), pred.shape)


def quantile_and_grad(pred, target, *, tau: float = 0.5, reduction: str = "mean"):
    """``(quantile(...), quantile_grad(...))`` from one validation and one residual."""
    validate_reduction(reduction)
    tau = OPEN_UNIT.validate(tau, "tau")
    pred, target = prepare(pred, target)
    loss, grad = (_narrowed(a, pred.dtype) for a in _quantile_kernel(*_widened(pred, target, tau), tau=tau))
    return reduce(loss, reduction), sum_to_shape(grad, pred.shape)


def _quantile_kernel(pred: np.ndarray, target: np.ndarray, *, tau: float = 0.5):
    """Unchecked (loss, grad) of ``quantile``, unreduced; inputs validated float arrays, ``tau`` in (0, 1)."""
    loss = _quantile_loss(pred, target, tau)
    with np.errstate(over="ignore", invalid="ignore"):
        return loss, _quantile_grad_of(pred - target, tau)


def _quantile_loss(pred: np.ndarray, target: np.ndarray, tau: float) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        residual = pred - target
    shortfall = -residual
    loss = np.maximum(tau * shortfall, (tau - 1) * shortfall)
    _redo_overflowed(loss, residual, pred, target,
                     lambda half: 2 * np.maximum(-tau * half, (1 - tau) * half))
    return loss


def _quantile_grad_of(residual: np.ndarray, tau: float) -> np.ndarray:
    grad = np.where(residual > 0, 1 - tau, np.where(residual < 0, -tau, 0.5 - tau))
    return grad.astype(residual.dtype, copy=False)
