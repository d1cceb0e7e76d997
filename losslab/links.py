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

from losslab._validation import (
    all_finite,
    as_float_array,
    check_broadcast,
    normalize_axis,
    result_dtype,
)
from losslab.activations import SoftmaxParts, logit, sigmoid, softmax


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
    """A logit-space loss of a binary model as a function of :math:`\\hat p = \\sigma(z)`."""

    def loss_of_probability(prob, target, **params):
        return loss_from_logit(logit(prob), target, **params)

    loss_of_probability.__name__ = f"{loss_from_logit.__name__}_of_probability"
    return loss_of_probability


def grad_on_probability(grad_from_logit: Callable) -> Callable:
    r""":math:`\partial \ell / \partial \hat p = (\partial \ell / \partial z) / (\hat p (1 - \hat p))` for a logit-space loss.

    Defined for :math:`0 < \hat p < 1`; at the ends the logit is infinite. Near them the slope
    :math:`\hat p (1 - \hat p)` is tiny, and a gradient whose true size passes float max (the
    exponential loss near :math:`\hat p = 10^{-300}`) is ±inf, without a RuntimeWarning.
    """

    def grad_of_probability(prob, target, **params):
        z = logit(prob)
        slope = np.asarray(sigmoid(z) * sigmoid(-z))
        grad = grad_from_logit(z, target, **params)
        # over: a quotient past float max is inf, its true size; divide/invalid: the ends p = 0 or 1
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return grad / slope

    grad_of_probability.__name__ = f"{grad_from_logit.__name__}_of_probability"
    return grad_of_probability
