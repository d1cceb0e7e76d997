r"""Ranking losses of scores: margin ranking (pairwise hinge), BPR and ListNet.

A ranking loss does not care about a score's value, only about its order
against other scores. The pairwise losses (``margin_ranking``, ``bpr``) are
functions of the **score margin** :math:`\Delta = s_1 - s_2` of a pair, which
should be positive when item 1 ranks above item 2: the hinge
:math:`\max(0, m - \Delta)` stops at a margin, BPR's
:math:`\log(1 + e^{-\Delta})` never quite does (it is the logistic loss of the
margin). ``listnet`` compares whole lists through their softmax.

Pairwise losses take two score arrays (broadcast elementwise) and return the
gradient tuple ``(d/d first, d/d second)``, each shaped like its argument;
the second is always minus the first, summed to its shape. ``margin_ranking``
follows PyTorch's ``margin_ranking_loss`` (names, argument order, labels
:math:`y \in \{1, -1\}`, ``margin``).

float32 inputs are computed in float32 by every function here (within 3 ulp
of the float32-rounded exact value). ``listnet_grad`` (and the gradient of
``listnet_and_grad``) is :math:`\operatorname{softmax}(s) -
\operatorname{softmax}(r)` from two double words rounded once, their weights
from :func:`losslab._double_word.exp_double_word` (about :math:`2^{-68}` in
float64 and :math:`2^{-35}` in float32, where NumPy's ``exp`` is up to an ulp
off, 2 in float32: the plain float32 form was 5 ulp off, and 6.5 ulp of the
cancelling terms where the two softmaxes nearly cancel): correctly rounded
unless the difference cancels to below about :math:`2^{-13}` of its terms
(:math:`2^{-9}` in float32) or lies within about :math:`2^{-66}`
(:math:`2^{-33}`) of them from a rounding boundary.
"""

from __future__ import annotations

import numpy as np

from losslab import _double_word as dw
from losslab._double_word import two_sum
from losslab._inputs import (
    Inputs,
    check_finite,
    check_labels,
    check_shapes_broadcast,
    sigmoid_of,
    softplus_of,
)
from losslab._validation import normalize_axis, validate_reduction
from losslab.activations import softmax
from losslab.multiclass import _divide, cross_entropy


def _difference(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""``a - b`` as a float and its rounding error (Knuth's TwoSum): ``a - b = difference + error`` exactly.

    The error is 0 where the difference overflows (its limit is then what counts).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        difference = a - b
        back = difference - a
        error = (a - (difference - back)) + (-b - back)
    return difference, np.where(np.isfinite(error), error, 0.0)


def _split(loss, grads, want_loss, want_grad):
    if want_loss and want_grad:
        return loss, grads
    return loss if want_loss else grads


def _pair_result(inputs: Inputs, loss, grad_first, shape, reduction, want_loss, want_grad):
    loss_value = inputs.finish_loss(loss, reduction) if want_loss else None
    grads = None
    if want_grad:
        grad_first = np.broadcast_to(grad_first, shape)
        grads = (inputs.finish_grad(grad_first, 0), inputs.finish_grad(-grad_first, 1))
    return _split(loss_value, grads, want_loss, want_grad)


# ------------------------------------------------------------ margin ranking


def _margin_ranking(x1, x2, target, margin, want_loss, want_grad, reduction="mean"):
    try:
        margin = float(margin)
    except (TypeError, ValueError):
        raise ValueError(f"margin must be a number, got {margin!r}") from None
    if not np.isfinite(margin):
        raise ValueError(f"margin must be a finite number, got {margin!r}")
    inputs = Inputs({"x1": x1, "x2": x2, "target": target}, native=True)
    first, second, label = inputs.arrays
    check_finite(first, "x1")
    check_finite(second, "x2")
    check_labels(label, "target (ranking labels)", (-1.0, 1.0))
    shape = check_shapes_broadcast(inputs.arrays, ["x1", "x2", "target"])
    # x1 - x2 with its rounding error: a pair at the margin (m - y(x1 - x2) small) keeps its digits
    difference, error = _difference(first, second)
    with np.errstate(over="ignore", invalid="ignore"):  # a margin past float max: inf, its true size
        slack = (margin - label * difference) - label * error
    loss = np.maximum(slack, 0) if want_loss else None
    # 0 on the kink (slack exactly 0), as losslab.hinge; PyTorch takes the active side there
    grad_first = np.where(slack > 0, -label, 0.0) if want_grad else None
    return _pair_result(inputs, loss, grad_first, shape, reduction, want_loss, want_grad)


def margin_ranking(x1, x2, target, *, margin: float = 0.0, reduction: str = "mean"):
    r"""Margin ranking loss (PyTorch's ``margin_ranking_loss``): a hinge on the score difference.

    .. math:: \ell = \max\bigl(0,\ m - y\,(x_1 - x_2)\bigr),\qquad
              \frac{\partial \ell}{\partial x_1} = -\frac{\partial \ell}{\partial x_2}
              = -y\,[\,y (x_1 - x_2) < m\,]

    ``target`` :math:`y = 1` says :math:`x_1` should rank above :math:`x_2`,
    :math:`y = -1` the opposite; the pair costs nothing once it is ordered by
    at least ``margin`` (default 0, PyTorch's; any finite number). The pairwise
    hinge of RankSVM: Herbrich, Graepel and Obermayer, "Large Margin Rank
    Boundaries for Ordinal Regression", 2000; Joachims, "Optimizing Search
    Engines using Clickthrough Data", KDD 2002. Gradient ``(d/d x1, d/d x2)``,
    0 on the kink.
    """
    validate_reduction(reduction)
    return _margin_ranking(x1, x2, target, margin, True, False, reduction)


def margin_ranking_grad(x1, x2, target, *, margin: float = 0.0):
    r"""``(dℓ/dx1, dℓ/dx2)`` = :math:`(-y, y)` while the pair is inside the margin, else 0."""
    return _margin_ranking(x1, x2, target, margin, False, True)


def margin_ranking_and_grad(x1, x2, target, *, margin: float = 0.0, reduction: str = "mean"):
    """``(margin_ranking(...), margin_ranking_grad(...))`` from one validation and one difference."""
    validate_reduction(reduction)
    return _margin_ranking(x1, x2, target, margin, True, True, reduction)


# ------------------------------------------------------------ BPR


def _bpr(positive, negative, want_loss, want_grad, reduction="mean"):
    inputs = Inputs({"positive_scores": positive, "negative_scores": negative}, native=True)
    pos, neg = inputs.arrays
    check_finite(pos, "positive_scores")
    check_finite(neg, "negative_scores")
    shape = check_shapes_broadcast(inputs.arrays, ["positive_scores", "negative_scores"])
    # neg - pos = d + e exactly (a difference past float max: +-inf, whose limits are right, and e = 0);
    # softplus and sigmoid of d + e to first order in e: in the tails softplus(d) ~ e^d, and e
    # (up to half an ulp of d) would otherwise be a relative error |d| ulp/2 there
    reversed_margin, error = _difference(neg, pos)
    probability = sigmoid_of(reversed_margin)
    # -log sigma(pos - neg) = softplus(neg - pos), finite for every finite margin
    loss = softplus_of(reversed_margin) + probability * error if want_loss else None
    grad_first = -(probability + probability * sigmoid_of(-reversed_margin) * error) if want_grad else None
    return _pair_result(inputs, loss, grad_first, shape, reduction, want_loss, want_grad)


def bpr(positive_scores, negative_scores, *, reduction: str = "mean"):
    r"""Bayesian personalised ranking loss: the logistic loss of the margin between a preferred and another item.

    .. math:: \ell = -\log \sigma(s^+ - s^-) = \log\bigl(1 + e^{-(s^+ - s^-)}\bigr)

    .. math:: \frac{\partial \ell}{\partial s^+} = -\frac{\partial \ell}{\partial s^-} = -\sigma(s^- - s^+)

    For implicit feedback: a user's observed item :math:`s^+` should score above
    an unobserved one :math:`s^-`. Unlike the hinge, the gradient never becomes
    exactly 0, and it tends to :math:`-1` for a badly ordered pair (the
    chapter's BCE lesson, on a margin). The prior (L2) term of the paper is
    left to the optimiser's weight decay. Rendle et al., "BPR: Bayesian
    Personalized Ranking from Implicit Feedback", UAI 2009, eq. 4.
    Gradient ``(d/d positive_scores, d/d negative_scores)``.
    """
    validate_reduction(reduction)
    return _bpr(positive_scores, negative_scores, True, False, reduction)


def bpr_grad(positive_scores, negative_scores):
    r"""``(dℓ/ds+, dℓ/ds-)`` = :math:`(-\sigma(s^- - s^+),\ \sigma(s^- - s^+))`."""
    return _bpr(positive_scores, negative_scores, False, True)


def bpr_and_grad(positive_scores, negative_scores, *, reduction: str = "mean"):
    """``(bpr(...), bpr_grad(...))`` from one validation and one margin."""
    validate_reduction(reduction)
    return _bpr(positive_scores, negative_scores, True, True, reduction)


# ------------------------------------------------------------ ListNet


def _listnet(scores, relevance, axis, want_loss, want_grad, reduction="mean"):
    inputs = Inputs({"scores": scores, "relevance": relevance}, native=True)
    predicted, labels = inputs.arrays
    check_finite(predicted, "scores")
    check_finite(labels, "relevance")
    shape = check_shapes_broadcast(inputs.arrays, ["scores", "relevance"])
    axis = normalize_axis(axis, len(shape), "scores")
    if shape[axis] == 0:
        raise ValueError(f"scores have an empty list axis (shape {shape}); expected at least one item")
    # the top-one probabilities of the relevance labels, computed once per distinct list (a relevance
    # broadcast over many score lists, as the dashboard's, is one list)
    labels = labels.reshape((1,) * (len(shape) - labels.ndim) + labels.shape)
    labels = np.broadcast_to(labels, tuple(shape[i] if i == axis else n for i, n in enumerate(labels.shape)))
    predicted = np.broadcast_to(predicted, shape)
    loss = grad = None
    if want_loss:  # the cross-entropy of the rounded target: a sum of terms >= 0, nothing cancels
        loss = cross_entropy(predicted, np.broadcast_to(softmax(labels, axis=axis), shape), axis=axis,
                             reduction="none")
    if want_grad:
        # softmax(s) - softmax(r) from two double words (about 2^-66 of each probability in float64, 2^-33
        # in float32), rounded once: the rounding of the weights, the row sums and the quotients is not in
        # the difference, so it is correctly rounded unless it cancels to below 2^-13 (2^-9) of its terms
        target, target_low = (np.broadcast_to(t, shape) for t in _softmax_double_word(labels, axis))
        probability, probability_low = _softmax_double_word(predicted, axis)
        grad, error = _two_sum_in_place(probability, np.negative(target))
        error += probability_low
        error -= target_low
        grad += error
        # a list whose scores are its relevance plus a constant is at the minimum: the two double words
        # are then the same and the gradient exactly 0; the mask keeps that whatever the arithmetic
        grad[np.broadcast_to(_exact_shift_of(predicted, np.broadcast_to(labels, shape), axis), shape)] = 0
    loss_value = inputs.finish_loss(loss, reduction) if want_loss else None
    grad_value = inputs.finish_grad(grad, 0) if want_grad else None
    return _split(loss_value, grad_value, want_loss, want_grad)


def _softmax_double_word(values: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`\operatorname{softmax}` along ``axis`` of finite float64 or float32 ``values`` as a double word ``(hi, lo)``, to about :math:`2^{-66}` (float32: :math:`2^{-33}`).

    :math:`v_k = e^{x_k - \max x}` is a double word (the gap with its rounding error, then
    :func:`_double_word.exp_double_word`, about :math:`2^{-68}` in float64 and :math:`2^{-35}` in float32,
    scaled by its power of two), its row sum :math:`V` exact to about :math:`u^2` (Rump-Ogita-Oishi
    extraction, ``_double_word.row_sums``), and each :math:`v_k / V` a quotient with its remainder,
    renormalized so that ``hi`` is the correctly rounded probability. Probabilities near the bottom
    of the float range keep fewer digits in ``lo`` (it is subnormal), never fewer than ``hi``.
    """
    count = values.shape[axis]
    rows = np.moveaxis(values, axis, -1).reshape(-1, count)
    weight, weight_low = dw.shifted_exp_rows(rows)  # weights in [0, 1], 1 at a largest entry
    total, total_low = dw.row_sums(weight.copy(), np.ones(len(rows)), high=np.empty_like(weight),
                                 low=np.empty_like(weight))
    total_low += np.einsum("rk->r", weight_low)
    quotient, remainder = _divide(weight, weight_low, total[:, None], total_low[:, None])
    probability = quotient + remainder  # |remainder| <= ulp(quotient): Dekker's fast two-sum
    low = remainder - (probability - quotient)
    shape = np.moveaxis(values, axis, -1).shape
    return (np.moveaxis(probability.reshape(shape), -1, axis), np.moveaxis(low.reshape(shape), -1, axis))


def _two_sum_in_place(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knuth's two-sum, ``a + b = s + e`` exactly, with two new arrays instead of six: ``a`` and ``b``
    (same shape, the caller's to overwrite) become scratch, and ``e`` is returned in ``a``."""
    total = a + b
    virtual = total - a  # the part of b in total
    b -= virtual
    np.subtract(total, virtual, out=virtual)  # the part of a in total
    a -= virtual
    a += b
    return total, a


def _exact_shift_of(scores: np.ndarray, relevance: np.ndarray, axis: int) -> np.ndarray:
    """Whether each list's scores are exactly its relevance plus one constant (keepdims along ``axis``)."""
    with np.errstate(over="ignore", invalid="ignore"):
        difference, error = two_sum(scores, -relevance)
    first = np.take(difference, [0], axis=axis)
    return np.all((difference == first) & (error == 0), axis=axis, keepdims=True)


def listnet(scores, relevance, *, axis: int = -1, reduction: str = "mean"):
    r"""ListNet's listwise loss: cross-entropy between the top-one probabilities of the labels and of the scores.

    .. math:: \ell = -\sum_j \operatorname{softmax}(r)_j \log \operatorname{softmax}(s)_j,\qquad
              \frac{\partial \ell}{\partial s_j} = \operatorname{softmax}(s)_j - \operatorname{softmax}(r)_j

    ``scores`` :math:`s` and graded ``relevance`` :math:`r` (any finite numbers,
    e.g. 0-4 stars) are lists along ``axis`` (default the last); one loss per
    list. The loss is smallest when the scores equal the relevance up to a
    shift (it is :math:`H(\operatorname{softmax}(r))` there, not 0), and only
    differences of scores within a list matter. Cao et al., "Learning to
    Rank: From Pairwise Approach to Listwise Approach", ICML 2007, with the
    exponential as their increasing function :math:`\phi`.
    """
    validate_reduction(reduction)
    return _listnet(scores, relevance, axis, True, False, reduction)


def listnet_grad(scores, relevance, *, axis: int = -1):
    r""":math:`\operatorname{softmax}(s) - \operatorname{softmax}(r)` along the list axis, shaped like ``scores``.

    The difference of the two softmaxes carried as double words, rounded once: within half an ulp
    unless it cancels to below about :math:`2^{-13}` of the larger probability (then within about
    :math:`2^{-66}` of it), and exactly 0 where the scores are the relevance plus a constant. float32 is
    computed in float32, the same way: :math:`2^{-9}` and :math:`2^{-33}`.
    """
    return _listnet(scores, relevance, axis, False, True)


def listnet_and_grad(scores, relevance, *, axis: int = -1, reduction: str = "mean"):
    """``(listnet(...), listnet_grad(...))`` from one validation and one pair of softmaxes."""
    validate_reduction(reduction)
    return _listnet(scores, relevance, axis, True, True, reduction)
