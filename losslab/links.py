r"""Derivatives through the output activation (the link), by the chain rule.

A probability-space loss :math:`\ell(\hat p)` with :math:`\hat p = \sigma(z)` or
:math:`\hat p = \mathrm{softmax}(z)` has

.. math:: \frac{\partial \ell}{\partial z} = \frac{\partial \ell}{\partial \hat p}\,\sigma(z)\,\sigma(-z)
          \qquad\text{or}\qquad
          \frac{\partial \ell}{\partial z_k} = \hat p_k \Bigl(g_k - \sum_j g_j \hat p_j\Bigr),\;
          g = \frac{\partial \ell}{\partial \hat p}.

The saturating factor :math:`\sigma(z)\sigma(-z)` is why squared error on a
sigmoid learns slowly when confidently wrong (the chapter's point).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from losslab import _double_word
from losslab._validation import (
    all_finite,
    as_float_array,
    check_broadcast,
    normalize_axis,
    result_dtype,
)
from losslab.activations import SoftmaxParts, _scalar_or_array, logit, sigmoid, softmax


def sigmoid_chain(grad_prob, logits):
    r""":math:`\partial \ell / \partial z` from :math:`\partial \ell / \partial \hat p` through :math:`\hat p = \sigma(z)`."""
    dtype = result_dtype(grad_prob, logits)
    logits = as_float_array(logits, "logits", dtype)
    grad_prob = as_float_array(grad_prob, "grad_prob", dtype)
    check_broadcast(grad_prob, logits, "grad_prob", "logits")
    return grad_prob * sigmoid(logits) * sigmoid(-logits)


def softmax_chain(grad_prob, logits, axis: int = -1):
    r""":math:`\partial \ell / \partial z` from :math:`\partial \ell / \partial \hat p` through the softmax Jacobian.

    :math:`\hat p_k (g_k - \sum_j g_j \hat p_j)`, with the largest class's sum taken without its
    own term (see ``SoftmaxParts.backward``), so saturated rows keep their tiny gradients.
    """
    dtype = result_dtype(grad_prob, logits)
    logits = as_float_array(logits, "logits", dtype)
    grad_prob = as_float_array(grad_prob, "grad_prob", dtype)
    shape = check_broadcast(grad_prob, logits, "grad_prob", "logits")
    if not all_finite(logits) or not all_finite(grad_prob):
        p = softmax(logits, axis=axis)
        return p * (grad_prob - (grad_prob * p).sum(axis=axis, keepdims=True))
    logits = np.broadcast_to(logits, shape)
    axis = normalize_axis(axis, logits.ndim, "logits")
    parts = SoftmaxParts.of(logits, axis)
    upstream = np.array(np.broadcast_to(grad_prob, shape))  # a writable copy: backward overwrites it
    return parts.backward(upstream, parts.weights / parts.total)


def on_probability(loss_from_logit: Callable) -> Callable:
    r"""A logit-space loss of a binary model as a function of :math:`\hat p = \sigma(z)`.

    The loss is taken at the exact logit of :math:`\hat p`, not only at its rounding: at
    :math:`\hat p = 10^{-240}` an ulp of :math:`z \approx -552.6` moves :math:`e^{z}` by about 550 ulp
    (``_at_exact_logit``).
    """

    def loss_of_probability(prob, target, **params):
        _, z, remainder = _logit_parts(prob)
        return _at_exact_logit(loss_from_logit, z, remainder, target, params)

    loss_of_probability.__name__ = f"{loss_from_logit.__name__}_of_probability"
    return loss_of_probability


def grad_on_probability(grad_from_logit: Callable) -> Callable:
    r""":math:`\partial \ell / \partial \hat p = (\partial \ell / \partial z) / (\hat p (1 - \hat p))` for a logit-space loss.

    Defined for :math:`0 < \hat p < 1`; at the ends the logit is infinite. Near them the slope
    :math:`\hat p (1 - \hat p)` is tiny, and a gradient whose true size passes float max (the
    exponential loss near :math:`\hat p = 10^{-300}`) is ±inf, without a RuntimeWarning.
    The slope is formed from :math:`\hat p` itself (:math:`1 - \hat p` is exact for
    :math:`\hat p \ge 1/2`), not as :math:`\sigma(z)\sigma(-z)` of the rounded logit, which is
    hundreds of ulp from :math:`\hat p (1 - \hat p)` at the ends; :math:`\partial \ell / \partial z`
    is taken at the exact logit (``_at_exact_logit``).
    """

    def grad_of_probability(prob, target, **params):
        p, z, remainder = _logit_parts(prob)
        grad = _at_exact_logit(grad_from_logit, z, remainder, target, params)
        slope = np.abs(p) * (1 - p)  # abs: p = -0.0 is 0, as the sigmoid's slope at z = -inf
        # over: a quotient past float max is inf, its true size; divide/invalid: the ends p = 0 or 1
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return _scalar_or_array(np.asarray(grad / slope))

    grad_of_probability.__name__ = f"{grad_from_logit.__name__}_of_probability"
    return grad_of_probability


def _logit_parts(prob) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(p, z, remainder)``: ``p`` as a float array, ``z = logit(p)`` as ``logit`` rounds it, and the exact
    logit minus ``z`` (see ``_logit_remainder``)."""
    p = as_float_array(prob, "prob", result_dtype(prob))
    z = np.asarray(logit(p))
    return p, z, _logit_remainder(p, z)


def _logit_remainder(p: np.ndarray, z: np.ndarray) -> np.ndarray:
    r"""The exact :math:`\log(\hat p / (1 - \hat p))` minus the float ``z``, rounded to a float (0 at
    :math:`\hat p` = 0, 1/2 and 1).

    :math:`|z| = \log(1 + (1 - 2s)/s)` with :math:`s = \min(\hat p, 1 - \hat p)` (exact), in double words;
    below :math:`s = 2^{-60}` (float32: :math:`2^{-30}`), where the quotient would pass float max for a
    subnormal :math:`s`, :math:`|z| = -\log s - \log(1 - s) = -\log s + s` to well below an ulp of the
    remainder.
    """
    dtype = z.dtype
    if not z.size:
        return np.zeros_like(z)
    one = dtype.type(1)
    smaller = np.abs(np.minimum(p, one - p))  # 1 - p is exact for p >= 1/2; abs: -0.0
    interior = (smaller > 0) & np.isfinite(z)
    tiny = interior & (smaller < dtype.type(2.0**-60 if dtype == np.float64 else 2.0**-30))
    ordinary = interior & ~tiny
    magnitude_hi, magnitude_lo = np.zeros_like(z), np.zeros_like(z)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        if ordinary.any():  # each branch only on its own entries: the double-word logarithms cost most of a call
            s = smaller[ordinary]
            numerator_hi, numerator_lo = _double_word.two_sum(one, -2 * s)  # 1 - 2s, exact
            gap_hi, gap_lo = _double_word.divide(numerator_hi, numerator_lo, s)
            magnitude_hi[ordinary], magnitude_lo[ordinary] = _double_word.log1p(gap_hi, gap_lo)
        if tiny.any():
            s = smaller[tiny]
            log_hi, log_lo = _double_word.log(s, np.zeros_like(s))
            magnitude_hi[tiny], magnitude_lo[tiny] = -log_hi, s - log_lo
        sign = np.where(p < dtype.type(0.5), -one, one)
        # the magnitude's high part is within an ulp or two of |z|: the difference is exact (Sterbenz)
        remainder = (sign * magnitude_hi - z) + sign * magnitude_lo
    return np.where(interior, remainder, dtype.type(0))


def _at_exact_logit(function: Callable, z: np.ndarray, remainder: np.ndarray, target, params) -> np.ndarray:
    r"""``function(z + remainder, target, **params)`` for a float ``z`` and a remainder below its ulp.

    ``function`` is evaluated at ``z`` and at the next float toward the exact logit, and the two values are
    interpolated geometrically, :math:`f_0 (f_1 / f_0)^w` with :math:`w` = remainder / step: exact for
    :math:`e^{az}`, the tails' shape (:math:`\sigma(z)^\gamma`, :math:`e^{-tz}`, softplus), and within
    :math:`w(1-w)/8` of the step's change squared for the rest. Where the two values differ in sign, one is 0
    or not finite, or they differ by more than :math:`2^{-10}` of their size (a kink or a jump between two
    adjacent floats, or a value changing too fast for a step to be a small change), the value at ``z`` is kept.
    """
    value = np.asarray(function(z, target, **params))
    if not np.any(remainder):
        return _scalar_or_array(value)
    moved = remainder != 0  # never at z = +-inf (p = 0 or 1)
    neighbour = np.where(moved, np.nextafter(z, np.copysign(np.inf, remainder).astype(z.dtype)), z)
    other = np.asarray(function(neighbour, target, **params))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        weight = np.where(moved, remainder / (neighbour - z), 0).astype(z.dtype)  # the step is exact
        change = (other - value) / value
        correction = value * np.expm1(weight * np.log1p(change))
        usable = (np.abs(change) <= 2.0**-10) & np.isfinite(correction) & (weight != 0)
    return _scalar_or_array(np.asarray(np.where(usable, value + correction, value), dtype=value.dtype))
