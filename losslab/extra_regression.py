r"""More regression losses, with PyTorch's names and conventions: smooth L1, Gaussian and Poisson NLL, MSLE.

``smooth_l1``, ``gaussian_nll`` and ``poisson_nll`` follow
``torch.nn.functional.smooth_l1_loss``, ``gaussian_nll_loss`` and
``poisson_nll_loss`` (prediction first, the same keywords and defaults, and
values equal to PyTorch's in float64 to about 1e-15); ``msle`` has no PyTorch
counterpart. Each is elementwise, takes ``reduction="mean" | "sum" | "none"``
and has ``*_grad`` (derivative of the unreduced loss, shaped like its input)
and ``*_and_grad``. ``gaussian_nll`` predicts a variance as well as a mean, so
its gradient is the tuple ``(dℓ/dpred, dℓ/dvar)``.

float32 inputs: ``smooth_l1`` and ``msle`` (and their gradients) compute them
in float32, within 3 ulp of the float32-rounded exact value. ``gaussian_nll``
and ``poisson_nll`` compute them in float64 and round once: in float32 their
near-optimum points, where :math:`\log v` nearly cancels :math:`r^2/v` or
:math:`e^x` nearly cancels :math:`y x` (or :math:`y`), are only as good as
NumPy's float32 ``log`` and ``exp`` (up to 2 ulp off): 1.9 and 2.1 ulp of the
cancelling terms for the losses, 1.7 and 1.8 for the gradients (measured; the
upcast gets 0.25, and the atlas test allows 1), and ``gaussian_nll``'s
:math:`r (r/v)` overflowed float32 where half of it, the loss, does not.
"""

from __future__ import annotations

import math

import numpy as np

from losslab._inputs import (
    Inputs,
    check_at_least,
    check_finite,
    check_shapes_broadcast,
    validate_flag,
)
from losslab._validation import (
    Interval,
    fits_float32,
    sum_to_shape,
    validate_reduction,
)

NON_NEGATIVE = Interval(0.0, None)
POSITIVE = Interval(0.0, None, low_inclusive=False)
HALF_LOG_TWO_PI = 0.5 * math.log(2 * math.pi)


def _pair(pred, target, pred_name="pred", target_name="target", *, native: bool = False) -> Inputs:
    inputs = Inputs({pred_name: pred, target_name: target}, native=native)
    check_shapes_broadcast(inputs.arrays, [pred_name, target_name])
    return inputs


def _residual(inputs: Inputs) -> np.ndarray:
    pred, target = inputs.arrays
    with np.errstate(over="ignore", invalid="ignore"):  # inf - inf is NaN, as in NumPy; overflow is inf
        return pred - target


def _finish(inputs: Inputs, loss, grad, reduction, want_loss, want_grad):
    loss_value = inputs.finish_loss(loss, reduction) if want_loss else None
    grad_value = inputs.finish_grad(grad, 0) if want_grad else None
    if want_loss and want_grad:
        return loss_value, grad_value
    return loss_value if want_loss else grad_value


# ------------------------------------------------------------ smooth L1


def _smooth_l1(pred, target, beta, want_loss, want_grad, reduction="mean"):
    beta = NON_NEGATIVE.validate(beta, "beta")
    inputs = _pair(pred, target, native=fits_float32(beta))
    residual = _residual(inputs)
    size = np.abs(residual)
    loss = grad = None
    if beta == 0:  # PyTorch: beta = 0 is the L1 loss
        loss, grad = size, np.sign(residual)
    else:
        inside = size < beta  # PyTorch's branch test: quadratic strictly inside beta
        m = np.minimum(size, beta)
        if want_loss:
            # 0.5 m (m / beta) never squares a residual larger than beta
            with np.errstate(invalid="ignore"):  # inf - beta/2 in the unused branch is fine
                loss = np.where(inside, 0.5 * m * (m / beta), size - 0.5 * beta)
        if want_grad:
            # r / beta only inside: outside it overflows for a tiny beta (1e-300) where the gradient is sign(r)
            sign = np.sign(residual, out=np.empty_like(residual))  # an array also for 0-d input, for out=
            grad = np.divide(residual, beta, out=sign, where=inside)
    return _finish(inputs, loss, grad, reduction, want_loss, want_grad)


def smooth_l1(pred, target, *, beta: float = 1.0, reduction: str = "mean"):
    r"""Smooth L1 loss (PyTorch's ``smooth_l1_loss``): quadratic below ``beta``, L1 beyond.

    .. math:: \ell = \begin{cases} \tfrac{1}{2} r^2 / \beta & |r| < \beta \\
              |r| - \tfrac{1}{2}\beta & |r| \ge \beta \end{cases},\qquad
              \frac{\partial \ell}{\partial \hat y} = \begin{cases} r / \beta & |r| < \beta \\
              \operatorname{sign}(r) & |r| \ge \beta \end{cases},\qquad r = \hat y - y

    Huber's loss divided by ``beta``: the gradient is bounded by 1 for every
    ``beta`` (Huber's by δ). ``beta`` >= 0 (default 1); ``beta = 0`` is the L1
    loss, as in PyTorch. Girshick, "Fast R-CNN", ICCV 2015, eq. 3 (there with
    ``beta = 1``), where it regresses box offsets.
    """
    validate_reduction(reduction)
    return _smooth_l1(pred, target, beta, True, False, reduction)


def smooth_l1_grad(pred, target, *, beta: float = 1.0):
    r""":math:`r/\beta` inside ``beta``, :math:`\operatorname{sign}(r)` beyond (0 at :math:`r = 0`)."""
    return _smooth_l1(pred, target, beta, False, True)


def smooth_l1_and_grad(pred, target, *, beta: float = 1.0, reduction: str = "mean"):
    """``(smooth_l1(...), smooth_l1_grad(...))`` from one validation and one residual."""
    validate_reduction(reduction)
    return _smooth_l1(pred, target, beta, True, True, reduction)


# ------------------------------------------------------------ Gaussian NLL


def _gaussian_nll(pred, target, var, full, eps, want_loss, want_grad, reduction="mean"):
    full = validate_flag(full, "full")
    eps = POSITIVE.validate(eps, "eps")
    inputs = Inputs({"pred": pred, "target": target, "var": var})
    mean, data, variance = inputs.arrays
    check_at_least(variance, "var", 0.0)
    # PyTorch's shapes: a var one axis short of pred (pred's shape without its last axis) is one
    # variance per row; otherwise var broadcasts against pred
    per_row = variance.ndim == mean.ndim - 1 and variance.shape == mean.shape[:-1] and variance.ndim > 0
    if per_row:
        variance = variance[..., None]
    shape = check_shapes_broadcast([mean, data, variance], ["pred", "target", "var"])
    clamped = np.maximum(variance, eps)  # PyTorch's clamp for stability
    with np.errstate(over="ignore", invalid="ignore"):  # overflow only where the true value overflows
        residual = mean - data
        scaled = residual / clamped
        loss = grads = None
        if want_loss:
            loss = 0.5 * (np.log(clamped) + residual * scaled)  # r (r/v), not r^2/v: no early overflow
            if full:
                loss = loss + HALF_LOG_TWO_PI
        if want_grad:
            # d/dv of (log v + r^2/v)/2 is (1 - r^2/v)/(2v); 0 where the clamp holds v at eps
            var_grad = np.where(variance > eps, 0.5 * (1 - residual * scaled) / clamped, 0.0)
            var_grad = sum_to_shape(np.broadcast_to(var_grad, shape), variance.shape)
            grads = (np.broadcast_to(scaled, shape), np.reshape(var_grad, inputs.shapes[2]))
    loss_value = inputs.finish_loss(loss, reduction) if want_loss else None
    if not want_grad:
        return loss_value
    finished = (inputs.finish_grad(grads[0], 0), inputs.finish_grad(grads[1], 2))
    return (loss_value, finished) if want_loss else finished


def gaussian_nll(pred, target, var, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):
    r"""Gaussian negative log-likelihood with a predicted variance (PyTorch's ``gaussian_nll_loss``).

    .. math:: \ell = \tfrac12 \Bigl(\log v + \frac{(\hat y - y)^2}{v}\Bigr)
              \;\bigl[+ \tfrac12 \log 2\pi \text{ if full}\bigr],\qquad v = \max(\mathrm{var}, \epsilon)

    .. math:: \frac{\partial \ell}{\partial \hat y} = \frac{\hat y - y}{v},\qquad
              \frac{\partial \ell}{\partial\,\mathrm{var}} = \frac{1}{2v}\Bigl(1 - \frac{(\hat y - y)^2}{v}\Bigr)
              \;(0 \text{ where } \mathrm{var} < \epsilon)

    A network that predicts its own variance pays :math:`\log v` for doubt and
    :math:`r^2/v` for overconfidence; for a fixed ``var`` it is half the MSE
    over ``var`` plus a constant (the chapter: MSE is the Gaussian NLL). The
    optimum variance is :math:`r^2`. Nix and Weigend, "Estimating the mean and
    variance of the target probability distribution", ICNN 1994.

    PyTorch's conventions: ``var`` >= 0, shaped like ``pred``, broadcastable to
    it, or ``pred``'s shape without its last axis (one variance per row);
    ``eps`` (default 1e-6) clamps the variance from below; ``full`` adds the
    constant. One difference: PyTorch clamps without recording the clamp, so
    its autograd gradient with respect to ``var`` below ``eps`` is the formula
    above at :math:`v = \epsilon`; here it is 0, the derivative of the clamped
    loss (the loss is flat there). Gradient: the tuple ``(dℓ/dpred, dℓ/dvar)``.
    """
    validate_reduction(reduction)
    return _gaussian_nll(pred, target, var, full, eps, True, False, reduction)


def gaussian_nll_grad(pred, target, var, *, full: bool = False, eps: float = 1e-6):
    r"""``(dℓ/dpred, dℓ/dvar)`` = :math:`\bigl(r/v,\ (1 - r^2/v)/(2v)\bigr)`, the second 0 where ``var`` < ``eps``."""
    return _gaussian_nll(pred, target, var, full, eps, False, True)


def gaussian_nll_and_grad(pred, target, var, *, full: bool = False, eps: float = 1e-6,
                          reduction: str = "mean"):
    """``(gaussian_nll(...), gaussian_nll_grad(...))`` from one validation and one residual."""
    validate_reduction(reduction)
    return _gaussian_nll(pred, target, var, full, eps, True, True, reduction)


# ------------------------------------------------------------ Poisson NLL


def _stirling(target: np.ndarray) -> np.ndarray:
    r"""PyTorch's ``full`` term: :math:`y \log y - y + \tfrac12 \log(2\pi y)` for :math:`y > 1`, else 0."""
    counts = np.where(target > 1, target, 1.0)
    with np.errstate(over="ignore", invalid="ignore"):  # y log y past float max: inf
        value = counts * np.log(counts) - counts + 0.5 * np.log(2 * math.pi * counts)
    return np.where(target > 1, value, 0.0)


def _poisson_nll(pred, target, log_input, full, eps, want_loss, want_grad, reduction="mean"):
    log_input = validate_flag(log_input, "log_input")
    full = validate_flag(full, "full")
    eps = POSITIVE.validate(eps, "eps")
    inputs = _pair(pred, target, "pred" if not log_input else "log_rate", "target")
    value, counts = inputs.arrays
    check_at_least(counts, "target (counts)", 0.0)
    check_finite(counts, "target (counts)")
    if log_input:
        check_finite(value, "log_rate")
    else:
        check_finite(value, "pred (a rate)")
        check_at_least(value, "pred (a rate)", 0.0)
    loss = grad = None
    with np.errstate(over="ignore", invalid="ignore"):  # e^x past float max: inf, its true size
        if log_input:
            rate = np.exp(value)
            if want_loss:
                loss = rate - counts * value
            if want_grad:
                grad = rate - counts
        else:
            shifted = value + eps
            if want_loss:
                loss = value - counts * np.log(shifted)
            if want_grad:
                grad = 1 - counts / shifted
        if want_loss and full:
            loss = loss + _stirling(counts)
    return _finish(inputs, loss, grad, reduction, want_loss, want_grad)


def poisson_nll(pred, target, *, log_input: bool = True, full: bool = False, eps: float = 1e-8,
                reduction: str = "mean"):
    r"""Poisson negative log-likelihood of counts (PyTorch's ``poisson_nll_loss``).

    With ``log_input=True`` (default) ``pred`` is the log-rate :math:`x = \log\lambda`:

    .. math:: \ell = e^{x} - y\,x,\qquad \frac{\partial \ell}{\partial x} = e^{x} - y

    (convex; the exponential is the canonical link, so the gradient is
    "prediction minus target", like BCE's :math:`\hat p - y`). With
    ``log_input=False`` ``pred`` is the rate :math:`\lambda \ge 0`:

    .. math:: \ell = \lambda - y \log(\lambda + \epsilon),\qquad
              \frac{\partial \ell}{\partial \lambda} = 1 - \frac{y}{\lambda + \epsilon}

    ``full=True`` adds Stirling's approximation of :math:`\log y!`,
    :math:`y \log y - y + \tfrac12 \log(2\pi y)`, for :math:`y > 1` (0 otherwise),
    as PyTorch does; it does not depend on the prediction. ``target``: counts
    :math:`y \ge 0` (non-integers accepted). ``eps`` > 0 (default 1e-8). Without
    ``full`` the loss omits :math:`\log y!`, so its minimum, at :math:`\lambda = y`,
    is not 0. Nelder and Wedderburn, "Generalized Linear Models", JRSS A 1972.
    """
    validate_reduction(reduction)
    return _poisson_nll(pred, target, log_input, full, eps, True, False, reduction)


def poisson_nll_grad(pred, target, *, log_input: bool = True, full: bool = False, eps: float = 1e-8):
    r""":math:`e^{x} - y` for a log-rate, :math:`1 - y/(\lambda + \epsilon)` for a rate (``full`` does not change it)."""
    return _poisson_nll(pred, target, log_input, full, eps, False, True)


def poisson_nll_and_grad(pred, target, *, log_input: bool = True, full: bool = False, eps: float = 1e-8,
                         reduction: str = "mean"):
    """``(poisson_nll(...), poisson_nll_grad(...))`` from one validation and one exponential."""
    validate_reduction(reduction)
    return _poisson_nll(pred, target, log_input, full, eps, True, True, reduction)


# ------------------------------------------------------------ MSLE


def _log_ratio(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    r""":math:`\log(1 + \hat y) - \log(1 + y)` without cancellation.

    Where :math:`r = (1 + \hat y)/(1 + y)` is within a factor 2 of 1 it is
    :math:`\log(1 + (\hat y - y)/(1 + y))`, whose difference is exact (Sterbenz)
    or nearly so. Elsewhere it is :math:`\log r` (a few rounded factors, and
    :math:`|\log r| > \log 2`), not the difference of the two logs: those can be
    far larger than their difference (:math:`\log 10^{300} - \log 10^{299}`), and
    each carries an error of half an ulp of itself. Only where :math:`r` overflows
    or underflows are the two logs subtracted; they differ by hundreds there.
    """
    with np.errstate(over="ignore", divide="ignore", invalid="ignore", under="ignore"):
        ratio_minus_one = (pred - target) / (1 + target)
        close = (ratio_minus_one > -0.5) & (ratio_minus_one < 1)
        ratio = (1 + pred) / (1 + target)
        representable = np.isfinite(ratio) & (ratio >= np.finfo(ratio.dtype).tiny)
        far = np.where(representable, np.log(np.where(representable, ratio, 1)), np.log1p(pred) - np.log1p(target))
        return np.where(close, np.log1p(np.where(close, ratio_minus_one, 0)), far)


def _msle(pred, target, want_loss, want_grad, reduction="mean"):
    inputs = _pair(pred, target, native=True)
    prediction, data = inputs.arrays
    check_at_least(prediction, "pred", -1.0, strict=True)
    check_at_least(data, "target", -1.0, strict=True)
    difference = _log_ratio(prediction, data)
    loss = difference * difference if want_loss else None
    grad = None
    if want_grad:
        with np.errstate(over="ignore", invalid="ignore"):
            grad = 2 * difference / (1 + prediction)
    return _finish(inputs, loss, grad, reduction, want_loss, want_grad)


def msle(pred, target, *, reduction: str = "mean"):
    r"""Mean squared logarithmic error: squared error of :math:`\log(1 + \cdot)`.

    .. math:: \ell = \bigl(\log(1 + \hat y) - \log(1 + y)\bigr)^2,\qquad
              \frac{\partial \ell}{\partial \hat y} = \frac{2\bigl(\log(1 + \hat y) - \log(1 + y)\bigr)}{1 + \hat y}

    Penalises the *ratio* :math:`(1 + \hat y)/(1 + y)`, so relative errors count
    and under-prediction costs more than over-prediction by the same amount; for
    targets spanning orders of magnitude (counts, prices). As in scikit-learn's
    ``mean_squared_log_error`` and Keras' ``MeanSquaredLogarithmicError``
    (scikit-learn asks for values >= 0; here anything > -1 is accepted, where
    the logarithm is defined). The log difference is taken as
    :math:`\log(1 + (\hat y - y)/(1 + y))` when the two are close, so a nearly
    right prediction keeps the digits of its tiny loss. It has no single
    original paper: it is the square of the RMSLE metric of forecasting and
    data-science competitions, i.e. the MSE of a model fitted to
    :math:`\log(1 + y)`, which assumes multiplicative (log-normal-like) noise.
    """
    validate_reduction(reduction)
    return _msle(pred, target, True, False, reduction)


def msle_grad(pred, target):
    r""":math:`2(\log(1 + \hat y) - \log(1 + y)) / (1 + \hat y)`."""
    return _msle(pred, target, False, True)


def msle_and_grad(pred, target, *, reduction: str = "mean"):
    """``(msle(...), msle_grad(...))`` from one validation and one log ratio."""
    validate_reduction(reduction)
    return _msle(pred, target, True, True, reduction)
