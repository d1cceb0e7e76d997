r"""More regression losses, with PyTorch's names and conventions: smooth L1, Gaussian and Poisson NLL, MSLE.

``smooth_l1``, ``gaussian_nll`` and ``poisson_nll`` follow
``torch.nn.functional.smooth_l1_loss``, ``gaussian_nll_loss`` and
``poisson_nll_loss`` (prediction first, the same keywords and defaults, and
values equal to PyTorch's in float64 to about 1e-15); ``msle`` has no PyTorch
counterpart. Each is elementwise, takes ``reduction="mean" | "sum" | "none"``
and has ``*_grad`` (derivative of the unreduced loss, shaped like its input)
and ``*_and_grad``. ``gaussian_nll`` predicts a variance as well as a mean, so
its gradient is the tuple ``(dℓ/dpred, dℓ/dvar)``.

float32 inputs are computed in float32, never through float64: ``smooth_l1`` and
``msle`` (and their gradients) in plain float32 arithmetic, within 3 ulp of the
float32-rounded exact value; ``gaussian_nll`` and ``poisson_nll`` with
double-word float32 steps where the plain forms cancel (near their optima
:math:`\log v` nearly cancels :math:`r^2/v`, :math:`e^x` nearly cancels
:math:`y x` or :math:`y`, :math:`\lambda` nearly cancels :math:`y \log \lambda`,
and NumPy's float32 ``log`` and ``exp`` are up to 2 ulp off): :math:`e^x` from
:func:`losslab._double_word.exp_scaled`, logarithms with a Newton step (a
series near 1), products as two-products, each result rounded once, and powers
of two kept apart so that nothing overflows before the result does
(``gaussian_nll``'s :math:`r^2/v` may exceed float32 max where half of it, the
loss, does not; so may ``full``'s :math:`y \log y` where the loss does not).
Measured within 1 ulp of the float32-rounded value and 0.25 ulp of the
cancelling terms (0.6 with ``full``, whose terms may exceed float32's range).
Large float32 inputs are taken in blocks of 2048 elements, so their dozen
double-word temporaries stay small. A call whose ``eps`` is not a normal
float32 value is computed in float64 and rounded once. In float32 ``eps`` is
rounded to float32 (the variance's clamp, the rate's shift), as in PyTorch.
"""

from __future__ import annotations

import math

import numpy as np

from losslab import _double_word as dw
from losslab._double_word import two_sum
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
    inputs = Inputs({"pred": pred, "target": target, "var": var}, native=True)
    mean, data, variance = inputs.arrays
    if mean.dtype == np.float32 and not fits_float32(eps):  # eps is not a float32: float64, rounded once
        mean, data, variance = (a.astype(np.float64) for a in (mean, data, variance))
    check_at_least(variance, "var", 0.0)
    # PyTorch's shapes: a var one axis short of pred (pred's shape without its last axis) is one
    # variance per row; otherwise var broadcasts against pred
    per_row = variance.ndim == mean.ndim - 1 and variance.shape == mean.shape[:-1] and variance.ndim > 0
    if per_row:
        variance = variance[..., None]
    shape = check_shapes_broadcast([mean, data, variance], ["pred", "target", "var"])
    if mean.dtype == np.float32:
        loss, pred_grad, var_grad = _in_blocks(
            lambda *arrays: _gaussian_nll_float32(*arrays, eps, full, want_loss, want_grad), mean, data, variance)
        grads = None
        if want_grad:
            var_grad = sum_to_shape(np.broadcast_to(var_grad, shape), variance.shape)
            grads = (np.broadcast_to(pred_grad, shape), np.reshape(var_grad, inputs.shapes[2]))
        return _finish_gaussian(inputs, loss, grads, reduction, want_loss, want_grad)
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
            # d/dv of (log v + r^2/v)/2 is (1 - r^2/v)/(2v); 0 where the clamp holds v at eps (v < eps; at v = eps
            # the clamp's right derivative, PyTorch's)
            var_grad = np.where(variance >= eps, 0.5 * (1 - residual * scaled) / clamped, 0.0)
            var_grad = sum_to_shape(np.broadcast_to(var_grad, shape), variance.shape)
            grads = (np.broadcast_to(scaled, shape), np.reshape(var_grad, inputs.shapes[2]))
    return _finish_gaussian(inputs, loss, grads, reduction, want_loss, want_grad)


def _finish_gaussian(inputs: Inputs, loss, grads, reduction, want_loss, want_grad):
    loss_value = inputs.finish_loss(loss, reduction) if want_loss else None
    if not want_grad:
        return loss_value
    finished = (inputs.finish_grad(grads[0], 0), inputs.finish_grad(grads[1], 2))
    return (loss_value, finished) if want_loss else finished


BLOCK = 2048  # elements per block of the float32 double-word kernels: their temporaries stay small


def _in_blocks(kernel, *arrays):
    """``kernel(*arrays)`` (a tuple of arrays or None, each of the arrays' broadcast shape), computed
    block by block of ``BLOCK`` elements on large inputs: the double-word kernels hold a dozen temporaries,
    which would otherwise take several times the memory of a float64 call."""
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    size = math.prod(shape)
    if size <= BLOCK:
        return kernel(*arrays)
    flat = [np.broadcast_to(a, shape).reshape(-1) for a in arrays]  # a view when no broadcasting is needed
    outputs = None
    for start in range(0, size, BLOCK):
        parts = kernel(*(f[start:start + BLOCK] for f in flat))
        if outputs is None:
            outputs = [None if p is None else np.empty(size, p.dtype) for p in parts]
        for out, part in zip(outputs, parts, strict=True):
            if out is not None:
                out[start:start + BLOCK] = part
    return tuple(None if out is None else out.reshape(shape) for out in outputs)


def _gaussian_nll_float32(mean, data, variance, eps, full, want_loss, want_grad):
    r"""Gaussian NLL and its gradients of float32 arrays, computed in float32: ``(loss, dpred, dvar)``.

    The residual :math:`r = \hat y - y` is a double word (two-sum; from the halves where it overflows),
    and :math:`r` and :math:`v` are taken apart as :math:`r = \rho\,2^k`, :math:`v = \nu\,2^m` with
    :math:`\rho, \nu \in [1/2, 1)`, so :math:`Q = \rho^2/\nu` (a double word in [1/4, 2)) and the
    powers of two :math:`r^2/v = Q\,2^{2k-m}` neither over- nor underflow before the result does.
    :math:`\log v` is a double word (:func:`_log_double_word`); the loss
    :math:`\tfrac12 \log v + Q\,2^{2k-m-1}` and :math:`\partial\ell/\partial v =
    (2^{-c} - Q\,2^{2k-m-c})/\nu \cdot 2^{c-m-1}` (:math:`c = \max(2k - m, 0)`) are rounded once, so
    where their terms cancel (:math:`\log v \approx -r^2/v`, :math:`r^2 \approx v`) they keep their
    digits. Inputs that are not finite take the plain formula (its infinities and NaN).
    """
    eps32 = np.float32(eps)
    # v >= eps exactly (the clamp holds v only below eps, as PyTorch's): eps32 may be eps rounded up or down, and
    # no float32 lies between them
    above = variance >= eps32 if float(eps32) >= eps else variance > eps32
    clamped = np.maximum(variance, eps32)  # PyTorch's clamp, in the input's dtype as PyTorch's
    loss = pred_grad = var_grad = None
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # overflow only where the true value does
        residual, residual_low = two_sum(mean, -data)
        overflowed = ~np.isfinite(residual_low)  # |r| past float32 max: the difference of the halves, exact
        halved = overflowed.any()
        if halved:
            half, half_low = two_sum(mean * np.float32(0.5), data * np.float32(-0.5))
            residual, residual_low = np.where(overflowed, half, residual), np.where(overflowed, half_low, residual_low)
        rho, k = np.frexp(residual)
        rho_low = np.ldexp(residual_low, -k)
        if halved:
            k += overflowed
        nu, m = np.frexp(clamped)
        # Q = (rho + rho_low)^2 / nu as a double word; r^2/v = Q 2^(2k - m)
        square, square_low = dw.two_product_unchecked(rho, rho)
        square_low += np.float32(2) * rho * rho_low
        q_hi, q_lo = dw.divide_unchecked(square, square_low, nu, np.float32(0))
        power = 2 * k - m
        if want_loss:
            log_hi, log_lo = _log_double_word(clamped)
            log_hi, log_lo = log_hi * np.float32(0.5), log_lo * np.float32(0.5)
            if full:
                log_hi, log_lo = dw.add_unchecked(log_hi, log_lo, *_HALF_LOG_TWO_PI_32)
            # past 2^100 the logarithm is far below half an ulp of r^2/2v, and the sum would overflow early
            term_power = np.minimum(power - 1, 100)
            value, _ = dw.add_unchecked(log_hi, log_lo, np.ldexp(q_hi, term_power), np.ldexp(q_lo, term_power))
            alone = power - 1 > 100
            if not full:
                alone |= log_hi == 0  # v = 1: r^2/2 alone, rounded once even below the normal range
            loss = np.where(alone, np.ldexp(q_hi, power - 1), value)  # q_hi: Q rounded once
        if want_grad:
            ratio, _ = dw.divide_unchecked(rho, rho_low, nu, np.float32(0))
            pred_grad = np.ldexp(ratio, k - m)
            shift = np.maximum(power, 0)  # (1 - r^2/v)/2v = (2^-c - Q 2^(2k-m-c)) 2^c / 2v, each term <= 2
            bracket, bracket_low = two_sum(np.ldexp(np.float32(1), -shift), -np.ldexp(q_hi, power - shift))
            bracket_low -= np.ldexp(q_lo, power - shift)
            bracket, bracket_low = two_sum(bracket, bracket_low)
            quotient, _ = dw.divide_unchecked(bracket, bracket_low, nu, np.float32(0))
            var_grad = np.where(above, np.ldexp(quotient, shift - m - 1), np.float32(0))
        finite = np.isfinite(mean) & np.isfinite(data) & np.isfinite(variance)
        if not finite.all():  # infinities and NaN: the plain formula's limits
            plain_residual = mean - data
            scaled = plain_residual / clamped
            if want_loss:
                plain = np.float32(0.5) * (np.log(clamped) + plain_residual * scaled)
                loss = np.where(finite, loss, plain + np.float32(HALF_LOG_TWO_PI) if full else plain)
            if want_grad:
                plain_var = np.where(above, np.float32(0.5) * (1 - plain_residual * scaled) / clamped, np.float32(0))
                pred_grad, var_grad = np.where(finite, pred_grad, scaled), np.where(finite, var_grad, plain_var)
    return loss, pred_grad, var_grad


def _log_double_word(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`\log v` of positive finite float32 ``v`` as a float32 double word, to about :math:`2^{-29}` of itself.

    NumPy's float32 ``log`` is up to about an ulp off. Near 1 (:math:`|v - 1| < 1/8`, where
    :math:`u = v - 1` is exact) it is the series :math:`u - u^2/2 + u^3/3 - \dots - u^{12}/12` with
    :math:`u^2` exact (the next term is below :math:`2^{-33} u`); elsewhere ``log`` gets one Newton step,
    :math:`\log v = L + \log(v e^{-L})` with :math:`v e^{-L} - 1` from :func:`_double_word.exp_scaled`
    (:math:`2^{-29.7}`, below :math:`2^{-26.6}` of :math:`|\log v| \ge \log(9/8)`).
    """
    u = v - np.float32(1)
    near = np.abs(u) < np.float32(0.125)
    if not near.any():
        return _log_newton(v)
    u = np.clip(u, np.float32(-0.125), np.float32(0.125))  # the series is kept only there
    square, square_low = dw.two_product_unchecked(u, u)
    series = np.float32(-1 / 12) * u
    for n in range(11, 2, -1):
        series += np.float32((-1) ** (n + 1) / n)
        series *= u
    series *= square
    near_hi, near_lo = two_sum(u, square * np.float32(-0.5))
    near_lo += series - square_low * np.float32(0.5)
    if near.all():
        return dw.fast_two_sum_unchecked(near_hi, near_lo)
    log_hi, log_lo = _log_newton(v)
    return dw.fast_two_sum_unchecked(np.where(near, near_hi, log_hi), np.where(near, near_lo, log_lo))


def _log_newton(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log(v)`` and one Newton step, :math:`v e^{-L} - 1`, as a float32 double word (not yet renormalized)."""
    log_hi = np.log(v)
    back_hi, back_lo, back_power = dw.exp_scaled(-log_hi)
    scaled = np.ldexp(v, back_power)  # v 2^q: exact, and near 1/back_hi
    p, e = dw.two_product_unchecked(scaled, back_hi)
    log_lo = p - np.float32(1)  # exact (Sterbenz): p is within 2^-20 of 1
    log_lo += e + scaled * back_lo
    return log_hi, log_lo


_HALF_LOG_TWO_PI_32 = (np.float32(HALF_LOG_TWO_PI), np.float32(HALF_LOG_TWO_PI - float(np.float32(HALF_LOG_TWO_PI))))


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

    float32 is computed in float32: :math:`r` as a double word, :math:`r^2/v` as a double word times a
    power of two, :math:`\log v` as a double word, each result rounded once (see the module docstring).
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
    inputs = _pair(pred, target, "pred" if not log_input else "log_rate", "target", native=True)
    value, counts = inputs.arrays
    if value.dtype == np.float32 and not (log_input or fits_float32(eps)):  # float64, rounded once
        value, counts = value.astype(np.float64), counts.astype(np.float64)
    check_at_least(counts, "target (counts)", 0.0)
    check_finite(counts, "target (counts)")
    if log_input:
        check_finite(value, "log_rate")
    else:
        check_finite(value, "pred (a rate)")
        check_at_least(value, "pred (a rate)", 0.0)
    if value.dtype == np.float32:
        def kernel(x, y):  # eps shifts a rate only
            if log_input:
                return _poisson_log_rate_float32(x, y, full, want_loss, want_grad)
            return _poisson_rate_float32(x, y, eps, full, want_loss, want_grad)

        loss, grad = _in_blocks(kernel, value, counts)
        return _finish(inputs, loss, grad, reduction, want_loss, want_grad)
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
    if want_loss and log_input and np.isnan(loss).any():  # inf - inf: e^x and y x past float max
        overflowed = np.isnan(loss)
        value, counts = (np.broadcast_to(a, loss.shape)[overflowed] for a in (value, counts))
        loss[overflowed] = _poisson_log_rate_scaled(value, counts, full)
    return _finish(inputs, loss, grad, reduction, want_loss, want_grad)


def _poisson_log_rate_scaled(x: np.ndarray, y: np.ndarray, full: bool) -> np.ndarray:
    r"""float64 :math:`e^x - y x` (plus ``full``'s term) where :math:`e^x` and :math:`y x` (or :math:`y \log y`)
    overflow but their difference need not: every term is scaled by :math:`2^{-t}`, :math:`t` the larger of the
    exponents of :math:`e^x` and :math:`y`, first, as in :func:`_poisson_log_rate_float32` (``x`` past 1500,
    where :math:`e^x` dwarfs any :math:`y x`, is taken at 1500: the loss is inf either way)."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        rate_hi, rate_lo, rate_power = dw.exp_scaled(np.minimum(x, 1500.0))
        mantissa, count_power = np.frexp(y)
        power = np.maximum(rate_power, count_power)
        rate_hi, rate_lo = np.ldexp(rate_hi, rate_power - power), np.ldexp(rate_lo, rate_power - power)
        count = np.ldexp(mantissa, count_power - power)
        product, product_low = dw.two_product(count, x)
        difference, error = two_sum(rate_hi, -product)
        error += rate_lo - product_low
        if full:  # y log y - y + log(2 pi y)/2, scaled, for y > 1
            log_y = np.log(np.maximum(y, 1.0))  # 2 pi y may overflow: its log in two parts
            stirling = count * (log_y - 1) + np.ldexp(0.5 * (log_y + math.log(2 * math.pi)), -power)
            error += np.where(y > 1, stirling, 0.0)
        return np.ldexp(difference + error, power)


def _poisson_log_rate_float32(x, y, full, want_loss, want_grad):
    r""":math:`e^x - y x` and :math:`e^x - y` of float32 arrays, computed in float32 and rounded once.

    :math:`e^x = (h + l)\,2^q` is a double word and a power of two (:func:`_double_word.exp_scaled`,
    about :math:`2^{-29.7}`), :math:`y = \eta\,2^\sigma` with :math:`\eta \in [1/2, 1)`; both terms are
    scaled by :math:`2^{-t}`, :math:`t = \max(q, \sigma)`, so the smaller one may underflow but nothing
    overflows before the result does, :math:`\eta\,2^{\sigma - t} x` is an exact two-product, and the
    difference is rounded once and scaled back. Where :math:`e^x \approx y x` (or :math:`y`) the
    difference keeps its digits. ``full``'s Stirling term joins the sum before that rounding.
    Below :math:`x = -104` the exponential is under half the smallest subnormal: the loss is
    :math:`-y x`; above 104 both overflow for every count.
    """
    loss = grad = None
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # overflow only where the true value does
        clipped = np.clip(x, np.float32(-104), np.float32(104))
        rate_hi, rate_lo, rate_power = dw.exp_scaled(clipped)
        mantissa, count_power = np.frexp(y)
        power = np.maximum(rate_power, count_power)
        rate_hi, rate_lo = np.ldexp(rate_hi, rate_power - power), np.ldexp(rate_lo, rate_power - power)
        count = np.ldexp(mantissa, count_power - power)
        if want_grad:
            difference, error = two_sum(rate_hi, -count)
            error += rate_lo
            grad = np.ldexp(difference + error, power)
        if want_loss:
            product, product_low = dw.two_product_unchecked(count, clipped)
            difference, error = two_sum(rate_hi, -product)
            error += rate_lo - product_low
            if full:
                difference, error = dw.add_unchecked(difference, error, *_stirling_float32(y, power))
            loss = np.ldexp(difference + error, power)
            below = x < np.float32(-104)
            if below.any():  # e^x is below half the smallest subnormal: -y x, rounded once
                tail = -(y * x)
                if full:
                    tail = tail + _stirling(y)
                loss = np.where(below, tail, loss)
    return loss, grad


def _poisson_rate_float32(rate, y, eps, full, want_loss, want_grad):
    r""":math:`\lambda - y \log(\lambda + \epsilon)` and :math:`1 - y/(\lambda + \epsilon)` of float32 arrays,
    computed in float32 and rounded once.

    :math:`a = \lambda + \epsilon` is a double word (``eps`` rounded to float32, as a float32 tensor in
    PyTorch), :math:`\log a` a double word (:func:`_log_double_word` and :math:`a_{lo}/a_{hi}`);
    :math:`\lambda = \mu\,2^\tau` and :math:`y = \eta\,2^\sigma` are scaled by :math:`2^{-\max(\sigma, \tau)}`,
    so :math:`\eta' \log a` is an exact two-product and nothing overflows before the result; the
    gradient is :math:`2^c\,(2^{-c} - (\eta/\alpha)\,2^{\sigma - \rho - c})` with :math:`a = \alpha\,2^\rho`,
    :math:`c = \max(\sigma - \rho, 0)`. Where :math:`\lambda \approx y \log a` or :math:`y \approx a` the
    difference keeps its digits.
    """
    loss = grad = None
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # overflow only where the true value does
        shifted, shifted_low = two_sum(rate, np.float32(eps))
        eta, count_power = np.frexp(y)
        if want_loss:
            log_hi, log_lo = _log_double_word(shifted)
            log_lo += shifted_low / shifted  # log(a + a_lo) = log a + a_lo/a, to 2^-48 of a_lo/a
            mu, rate_power = np.frexp(rate)
            power = np.maximum(count_power, rate_power)
            count = np.ldexp(eta, count_power - power)
            product, product_low = dw.two_product_unchecked(count, log_hi)
            product_low += count * log_lo
            difference, error = two_sum(np.ldexp(mu, rate_power - power), -product)
            error -= product_low
            if full:
                difference, error = dw.add_unchecked(difference, error, *_stirling_float32(y, power))
            loss = np.ldexp(difference + error, power)
        if want_grad:
            alpha, shift_power = np.frexp(shifted)
            quotient, quotient_low = dw.divide_unchecked(eta, np.float32(0), alpha, np.ldexp(shifted_low, -shift_power))
            power = count_power - shift_power
            top = np.maximum(power, 0)  # 1 - y/a = 2^c (2^-c - (eta/alpha) 2^(sigma - rho - c)), each term <= 2
            bracket, bracket_low = two_sum(np.ldexp(np.float32(1), -top), -np.ldexp(quotient, power - top))
            bracket_low -= np.ldexp(quotient_low, power - top)
            grad = np.ldexp(bracket + bracket_low, top)
    return loss, grad


def _stirling_float32(counts: np.ndarray, power: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""``full``'s term :math:`(y + \tfrac12) \log y - y + \tfrac12 \log 2\pi` for :math:`y > 1` (else 0) times
    :math:`2^{-power}`, as a float32 double word: its terms cancel near :math:`y = 1` (-0.08 from terms near
    1), and the loss's :math:`y - y \log y` cancels most of it near the optimum. Counts above
    :math:`2^{64}` take :math:`(y\,2^{-power}) (\log y - 1)` (the rest is below :math:`2^{-60}` of it, and
    :math:`y \log y` itself may overflow where the loss does not)."""
    big = counts > np.float32(2.0**64)
    y = np.where((counts > 1) & ~big, counts, np.float32(2))
    log_hi, log_lo = _log_double_word(y)
    factor, factor_low = two_sum(y, np.float32(0.5))
    hi, lo = dw.multiply_unchecked(factor, factor_low, log_hi, log_lo)
    hi, lo = dw.add_unchecked(hi, lo, -y, np.float32(0))
    hi, lo = dw.add_unchecked(hi, lo, *_HALF_LOG_TWO_PI_32)
    hi, lo = np.ldexp(hi, -power), np.ldexp(lo, -power)
    zero = np.float32(0)
    if big.any():
        scaled = np.ldexp(counts, -power)
        log_hi, log_lo = _log_double_word(np.where(big, counts, np.float32(2.0**65)))
        big_hi, big_lo = dw.two_product_unchecked(scaled, log_hi - np.float32(1))  # log y - 1: exact
        big_lo += scaled * log_lo
        hi, lo = np.where(big, big_hi, hi), np.where(big, big_lo, lo)
    inside = counts > 1
    return np.where(inside, hi, zero), np.where(inside, lo, zero)


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

    float32 is computed in float32: :math:`e^x` as a double word and a power of two (or
    :math:`\log(\lambda + \epsilon)` as a double word), :math:`y x` (:math:`y \log(\lambda + \epsilon)`) as a
    two-product, the difference (with ``full``'s term) rounded once (see the module docstring).
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
