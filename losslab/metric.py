r"""Contrastive and metric-learning losses on embeddings: contrastive, triplet margin, cosine embedding, InfoNCE.

Embeddings are arrays whose **last axis is the feature axis**: ``(..., D)``,
one vector per sample; the leading axes index samples and broadcast against
each other. Each loss gives one value per sample (pair, triplet or query),
then applies ``reduction``.

The losses compare *several* embeddings, and each of them is a prediction,
so ``*_grad`` returns a tuple with one gradient per embedding argument, in
argument order, each shaped like its argument (labels are not
differentiated); ``info_nce_grad`` returns ``(d/d query, d/d keys)`` for the
sum of the per-query losses. ``triplet_margin`` and ``cosine_embedding``
follow PyTorch's ``triplet_margin_loss`` and ``cosine_embedding_loss`` (names,
argument order, keywords and defaults). Every input must be finite.

Distances and norms are formed as :math:`M \sqrt{\sum (v/M)^2}` with
:math:`M = \max |v|`, so embeddings of any size (1e-200 or 1e200) neither
overflow nor underflow. Where a loss is a small difference of such rounded
quantities (:math:`m - d` near the contrastive margin, :math:`m + d(a, p) - d(a, n)`
near the triplet margin, :math:`\cos - m` near the cosine margin, the difference of
two nearly equal unit vectors) those pairs alone are recomputed in double words
(``losslab._double_word``: exact differences, products and sums of squares), so
the result keeps its digits (issue 16); the others take the plain, faster form.
InfoNCE's logits are double words (cosines, or raw dot products with ``normalize=False``,
from Ozaki's slices) whose low parts are carried into the cross-entropy and its gradient.

**float32** inputs are computed in float32 (float32 arrays only), by the same
steps with float32's constants: Veltkamp's splitting constant :math:`2^{12} + 1`,
Ozaki's slices on float32's grids (:math:`2^{-10}` and :math:`2^{-k}`,
``_slices``; InfoNCE's cosines cut twice, ``_sliced_similarities``), a margin,
``eps`` or temperature that is not a float32 (0.1) carried as a double word of
float32s, and powers of two wherever float32's exponent range (1.2e-38 to
3.4e38) would underflow or overflow an intermediate that float64 holds: each
triplet distance in units of its own power of two, InfoNCE's norms and
temperature as mantissas with their exponents applied in one ``ldexp``. Where a
plain float32 form would be more than an ulp or two off, float32 takes a
double-word form that float64 does not need: :math:`d^2/2` of similar
contrastive pairs (``_half_squared_distance``), :math:`1 - \cos`
(``_one_minus_cosine``), every active triplet's unit vectors, InfoNCE's softmax
weights (``_double_word.exp_scaled``) and gradient entries as double words
(``_gradient_double_word``). Within 2 ulp of the float32-rounded exact value on
the atlas's grid (``tests/core/test_accuracy_atlas.py``), and within 1 ulp of the
cancelling terms at its ill-conditioned points. float32 is computed in float64
and rounded once where float32 cannot hold what the result needs, and only there:

- a margin, ``eps``, ``p`` or temperature that is not 0 or a normal float32 value
  (1e300, 5e-324): the whole call, as every atlas module (``_validation.fits_float32``);
- ``triplet_margin``: rows whose differences overflow float32 (entries near its max); with ``p != 2``,
  the rows where :math:`m + d(a, p) - d(a, n)` may be positive, from float64's p-distances (a block of rows
  at a time): float32's own are a few ulp off, which the slack near the margin multiplied (110 ulp32);
  and with ``p`` other than 1 and 2 its gradients (the whole call): each slope
  :math:`\operatorname{sign}(v)(|v|/d)^{p-1}` is a few float32 roundings off, and the anchor's two nearly
  cancel when its partners lie in similar directions (1.03 ulp32 of the row at p = 1.5 on the atlas grid);
- ``cosine_embedding``'s gradient: pairs within about :math:`2^{-10}` rad of
  (anti)parallel, where :math:`b - \lambda a` cancels past what float32 double words
  hold (12 ulp at :math:`10^{-6}` rad; ``_nearly_parallel_in_float64``);
- ``info_nce`` and ``info_nce_own_keys`` with ``normalize=False``: the raw
  similarities' float32 rounding (up to :math:`D u\,|q|\,|k|/\tau`) carries into
  the loss (22 to 65 ulp measured); float64 takes them as double words (``_raw_logits``);
- their gradients where a row's logits spread by more than 50 (:math:`\tau` below
  about 0.04): softmax weights fall below float32's range and the gradient's
  :math:`1/(\tau |x|)` brings them back (``_weights_below_float32``);
- ``info_nce`` past 2^14 queries x keys x features (loss and gradients): its float32
  similarity products put the loss of clustered keys 4.6 ulp off (the gradients by
  float64's sliced products and per-pair directions, ``_blockwise_gradients``, would be
  within 1.2 ulp; 3.5 at 2 features);
- InfoNCE gradient rows whose terms cancel by more than about 64 (``_cancelling_rows``, below): those
  rows alone, from double words in float64 (``_exact_rows``); float32 double words hold about 2^-44.

InfoNCE's gradient rows (``normalize=True``) are sums :math:`\sum_j g_{ij}(\hat k_j - \cos_{ij}\hat q_i)`
whose terms can cancel: with 2 features every direction of a row lies on one line, with 3 on a plane,
and a query between its keys has a gradient far smaller than its terms (the ratio, measured on random
rows at 2 features: 2 typical, 60 at the 99th percentile, thousands at worst; any size for rows built to
cancel). The weights ``g`` and every direction are double words (about ``2^-80`` of a term at 2 features;
the cosines' error grows with ``D`` and ``1/tau``), and a row whose ratio (``_cancelling_rows``: a componentwise bound from two plain matrix products) passes
``_CANCELLING`` is recomputed from double words good to about ``2^-100`` (``_exact_rows``: unit vectors,
cosines from Ozaki's slices, an exponential to ``2^-102``, weights, directions and sums): rows cancelling
by up to about ``2^45`` are within an ulp of their largest component, and a row cancelling by ``2^k``
beyond that is about ``2^(k-47)`` ulp off (a row built to cancel exactly, then rotated, cancels by about
``2^50``). Before, the weights and the directions' coefficient were rounded once: 620 ulp at 2 features
and 64 queries, 15 ulp at 3 features, up to 1e12 on rows built to cancel. With one feature
:math:`x/|x| = \operatorname{sign}(x)` is constant and the gradients are 0 (they were about 1e-23).

With ``normalize=False`` a row whose entries span more than ``2^400`` (1 beside 1e-130, 1e308 beside
1e-310) is split into parts of its own powers of two (``_raw_parts``) for the logits, and the gradients
take every entry with its own power of two (``_raw_entries``): scaled as one row, the small entries
lost digits below the normal range or underflowed to 0, and with them the logits' small products (a
loss of ``log 2`` where ``log 2 - 1e-10`` is exact) and the gradients' small components (0 for ``-5e-11``).
"""

from __future__ import annotations

import math

import numpy as np

from losslab import _double_word as dw
from losslab._inputs import (
    Inputs,
    check_finite,
    check_labels,
    feature_axis_shapes,
    shapes_broadcast,
    validate_flag,
    vector_norm,
)
from losslab._validation import Interval, fits_float32, validate_reduction
from losslab.multiclass import _softmax_parts, cross_entropy_and_grad

POSITIVE = Interval(0.0, None, low_inclusive=False)
NON_NEGATIVE = Interval(0.0, None)
NORM_DEGREE = Interval(1.0, None)
COSINE = Interval(-1.0, 1.0)


def _embeddings(named: dict[str, object], *parameters: float) -> tuple[Inputs, tuple[int, ...]]:
    inputs = _inputs(named, *parameters)
    names = list(named)
    for array, name in zip(inputs.arrays, names, strict=True):
        check_finite(array, name)
    shape, _ = feature_axis_shapes(inputs.arrays, names)
    return inputs, shape


def _inputs(named: dict[str, object], *parameters: float) -> Inputs:
    """float32 inputs stay float32 when every parameter is 0 or a normal float32 value (computed in float32);
    with a parameter past float32's range (a margin of 1e300 or 5e-324) they are computed in float64 and
    rounded once, as every atlas module does (``_validation.fits_float32``)."""
    return Inputs(named, native=fits_float32(*parameters))


def _pair_labels(target, inputs: Inputs, shape, allowed, name="target") -> np.ndarray:
    """Labels, one per pair, in the working dtype (exact): shaped like the embeddings without the feature axis
    (or broadcastable)."""
    labels = np.asarray(target)
    try:
        labels = labels.astype(inputs.arrays[0].dtype)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers, got {target!r}") from None
    check_labels(labels, name, allowed)
    shapes_broadcast([shape[:-1], labels.shape], ["embeddings (without the feature axis)", name])
    return labels


def _p_distance(v: np.ndarray, p: float):
    r"""The p-norm :math:`d = \|v\|_p` over the last axis (keepdims) and :math:`\partial d / \partial v`.

    :math:`\partial d/\partial v_i = \operatorname{sign}(v_i)\,(|v_i|/d)^{p-1}`, formed from
    :math:`|v_i|/d \le 1`; 0 where :math:`d = 0` (a subgradient; the norm has a kink there).
    """
    scale = np.max(np.abs(v), axis=-1, keepdims=True)
    unit = np.abs(v) / np.where(scale > 0, scale, 1)
    if p == 2:
        total = np.sqrt(np.sum(unit * unit, axis=-1, keepdims=True))
    elif p == 1:
        total = np.sum(unit, axis=-1, keepdims=True)
    else:
        total = np.sum(unit**p, axis=-1, keepdims=True) ** (1 / p)
    with np.errstate(over="ignore"):  # a norm past float max: inf is its true size
        distance = scale * total
    safe = np.where(total > 0, total, 1)
    ratio = unit / safe  # |v_i| / d, in [0, 1]
    slope = np.sign(v) * (ratio if p == 2 else ratio ** (p - 1))
    return distance, np.where(total > 0, slope, 0.0)


def _pairwise_total(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sum over the last axis as a double word: two-sums of neighbours, halving the axis each step.

    A vectorised Sum2 (Ogita, Rump and Oishi) in ``log2(n)`` NumPy steps instead of ``n``: every
    addition's rounding error is kept (two-sum) and the errors are summed plainly, which costs an
    error of about ``u^2 log2(n)^2`` times the sum of absolute values.
    """
    n = values.shape[-1]
    error = np.zeros(values.shape[:-1], dtype=values.dtype)
    if n == 0:
        return error, error.copy()
    width = 1 << (n - 1).bit_length()
    if width != n:  # zeros up to a power of two: every step then halves evenly
        values = np.concatenate([values, np.zeros((*values.shape[:-1], width - n), values.dtype)], axis=-1)
    while values.shape[-1] > 1:
        half = values.shape[-1] // 2
        values, rounding = dw.two_sum(values[..., :half], values[..., half:])
        error += np.sum(rounding, axis=-1)
    return dw.two_sum(values[..., 0], error)


_square = dw.square_unchecked  # |a| within a few orders of 1: no range checks
_product = dw.two_product_unchecked


def _squared_norm(high: np.ndarray, low: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`\sum_i (h_i + l_i)^2` over the last axis as a double word, for ``|h_i|`` at most about 1.

    ``h + l`` is a double word per entry; the squares are exact (``_square``), their sum a double
    word (``_pairwise_total``), and the small terms (the squares' errors, :math:`2 h_i l_i`) are summed
    plainly. Entries far below 1 lose their squares' last bits to underflow, which is far below an ulp
    of the total.
    """
    square, square_error = _square(high)
    total, total_error = _pairwise_total(square)
    small = square_error if low is None else square_error + 2 * high * low
    return dw.two_sum(total, total_error + np.sum(small, axis=-1))


def _exact_squared_distance(x: np.ndarray, y: np.ndarray, scale, eps: float = 0.0):
    r""":math:`\|x - y + \epsilon\|_2^2 / s^2` over the last axis as a double word, and :math:`x - y + \epsilon` as one per entry.

    ``x - y`` is exact as a two-sum, ``eps`` is added by another (its error joins the low part), the
    squares are exact and their sum a double word: good to about ``u^2``, where a plain distance is
    off by an ulp or two of itself. ``scale`` (a power of two, broadcasting against the rows, at least
    the distance) keeps the squares in range.
    """
    high, low = dw.two_sum(x, -y)
    if eps:
        high, rounding = dw.two_sum(high, eps)
        low = low + rounding
        eps_low = _double_word(eps, high.dtype)[1]
        if eps_low:  # float32: eps's own rounding (1e-6 is not a float32)
            low = low + eps_low
    return _squared_norm(high / scale, low / scale), (high, low)


def _exact_differences(x: np.ndarray, y: np.ndarray, eps: float) -> np.ndarray:
    """Where ``x - y + eps`` (one feature, squeezed) is computed without rounding: two-sums with no error."""
    with np.errstate(over="ignore", invalid="ignore"):  # inf - inf: not exact
        difference, error = dw.two_sum(x, -y)
        exact = error == 0
        if eps:
            exact &= dw.two_sum(difference, eps)[1] == 0
    return exact[..., 0]


def _power_of_two_at(value) -> np.ndarray:
    """The power of two ``s`` with ``value / s`` in [1, 2) (1 for 0), in ``value``'s dtype: finite up to float max."""
    value = np.asarray(value)
    _, exponent = np.frexp(np.where(value > 0, value, 1.0))
    return np.ldexp(value.dtype.type(1), exponent - 1)


def _double_word(value: float, dtype) -> tuple:
    """A Python float as a double word ``(hi, lo)`` of ``dtype``: ``lo`` is 0 in float64, and in float32
    what rounding to float32 drops (a margin of 0.1 or a temperature of 0.1 keeps 48 bits)."""
    high = dtype.type(value)
    return high, dtype.type(value - float(high))


# Per dtype: a rounded margin slack or distance is trusted only this far (relative) from the margin (about
# 2^13 ulp). Veltkamp's splitting constant per dtype is _double_word's (dw._VELTKAMP).
_TRUST = {np.dtype(np.float64): 2.0**-40, np.dtype(np.float32): 2.0**-11}


def _split(values: tuple, want_loss: bool, want_grad: bool):
    loss, grads = values
    if want_loss and want_grad:
        return loss, grads
    return loss if want_loss else grads


# ------------------------------------------------------------ contrastive


def _contrastive(x1, x2, target, margin, want_loss, want_grad, reduction="mean"):
    margin = POSITIVE.validate(margin, "margin")
    inputs, shape = _embeddings({"x1": x1, "x2": x2}, margin)
    first, second = inputs.arrays
    same = _pair_labels(target, inputs, shape, (0.0, 1.0))
    with np.errstate(over="ignore", invalid="ignore"):  # a difference past float max: inf
        difference = first - second
    distance, slope = _p_distance(difference, 2.0)
    same_k = same[..., None]
    shortfall = np.maximum(margin - distance, 0)  # how far a dissimilar pair is inside the margin
    # m - d of a rounded d is off by an ulp of d: where d > m/5 (and not clearly past m) the
    # dissimilar pair's loss and gradient come from m - d = (m^2 - d^2)/(m + d) in double words
    near = ((distance > margin / 5) & (distance < margin * (1 + _TRUST[first.dtype])))[..., 0]
    if np.broadcast_shapes(same.shape, near.shape) == near.shape:  # similar pairs have no margin
        near &= same != 1
    if shape[-1] == 1 and near.any():  # one feature: d = |x1 - x2| is exact where the difference is,
        near &= ~_exact_differences(first, second, 0.0)  # and m - d then has one rounding
    exact = _inside_margin(*np.broadcast_arrays(first, second), near, margin) if near.any() else None
    loss = grads = None
    if want_loss:
        with np.errstate(over="ignore"):  # d^2/2 or (m - d)^2/2 past float max: inf, its true size
            apart = 0.5 * shortfall * shortfall
            if exact is not None:
                apart[near] = exact[0]
            together = 0.5 * distance * distance
            if first.dtype == np.float32 and (same == 1).any():  # d^2/2 rounded once (plainly 4 float32 ulp off)
                together = _by_blocks(_half_squared_distance, shape, first, second, distance)
            per_pair = np.where(same_k == 1, together, apart)
        loss = inputs.finish_loss(np.squeeze(per_pair, axis=-1), reduction)
    if want_grad:
        # similar: d * dd/dx1 = x1 - x2; dissimilar: -(m - d) * (x1 - x2)/d
        with np.errstate(over="ignore", invalid="ignore"):
            apart = -shortfall * slope
            if exact is not None:
                apart[near] = exact[1]
            grad = np.where(same_k == 1, difference, apart)
        grad = np.broadcast_to(grad, shape)
        grads = (inputs.finish_grad(grad, 0), inputs.finish_grad(-grad, 1))
    return _split((loss, grads), want_loss, want_grad)


_BLOCK = 1 << 14  # float32's double-word forms of whole rows go in blocks of about this many entries


def _by_blocks(kernel, shape, *arrays) -> np.ndarray:
    """``kernel(*blocks, block_shape)`` over blocks of rows (the leading axes of ``shape`` flattened), each array
    broadcast to ``shape`` but for its last axis: a row form's temporaries (a dozen arrays of the rows' size)
    then stay small. The result is keepdims, shaped ``shape[:-1] + (1,)``."""
    rows = int(np.prod(shape[:-1]))
    step = max(1, _BLOCK // shape[-1])
    if rows <= step:
        return kernel(*arrays, shape)
    flat = [np.broadcast_to(a, (*shape[:-1], a.shape[-1])).reshape(rows, a.shape[-1]) for a in arrays]
    out = np.empty((rows, 1), flat[0].dtype)
    for start in range(0, rows, step):
        block = [a[start:start + step] for a in flat]
        out[start:start + step] = kernel(*block, (len(block[0]), shape[-1]))
    return out.reshape(*shape[:-1], 1)


def _half_squared_distance(first, second, distance, shape) -> np.ndarray:
    r""":math:`\tfrac12 \|x_1 - x_2\|^2` (keepdims), rounded once, from the exact differences (float32's similar pairs).

    ``_exact_squared_distance`` in units of the power of two at the rounded distance ``d``, then scaled
    back by that power twice (exact but for a result below the normal range, which stays within a
    subnormal step); ``0.5 d d`` of the rounded distance was off by up to 4 float32 ulp. A distance
    past float max stays inf, its true size.
    """
    scale = _power_of_two_at(np.minimum(distance, np.finfo(distance.dtype).max))
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):  # huge differences: masked below
        (total, _), _ = _exact_squared_distance(np.broadcast_to(first, shape), np.broadcast_to(second, shape), scale)
        half = 0.5 * total[..., None] * scale * scale
    return np.where(np.isfinite(distance), half, distance)


def _inside_margin(first, second, rows, margin):
    r""":math:`\tfrac12 \max(0, m - d)^2` and :math:`-\max(0, m - d)(x_1 - x_2)/d` of the selected rows, to an ulp or two.

    :math:`m - d = (m^2 - d^2)/(m + d)`, with :math:`d^2` (of the exact difference) and :math:`m^2` in
    double words, so the difference keeps its digits however close :math:`d` is to :math:`m`. Computed
    in units of the power of two next to :math:`m` (exact), so nothing overflows; in float32 :math:`m` is
    a double word (``_double_word``).
    """
    dtype = first.dtype
    scale = _power_of_two_at(dtype.type(margin))
    m, m_low = _double_word(margin / float(scale), dtype)
    squared, (high, low) = _exact_squared_distance(first[rows], second[rows], scale)
    m_squared = dw.square(m)
    if m_low:  # float32: (m + m_low)^2 to about 2^-48
        m_squared = (m_squared[0], m_squared[1] + 2 * m * m_low)
    difference = dw.add(*m_squared, -squared[0], -squared[1])  # m^2 - d^2
    d, d_low = dw.sqrt(*squared)
    total, total_low = dw.add(m, m_low, d, d_low)  # m + d
    shortfall, shortfall_low = dw.divide(*difference, total)
    shortfall_low = shortfall_low - shortfall * (total_low / total)
    inside = shortfall > 0
    # -(m - d)(x1 - x2)/d with (m - d)/d (scale-free) as one rounded factor
    factor, factor_low = dw.divide(shortfall, shortfall_low, d)
    factor = (factor + (factor_low - factor * (d_low / d)))[:, None]
    grad = -(factor * high + factor * low)
    # the loss (m - d)^2 / 2 from the double word (m - d) s, its square's rounding error kept
    shortfall, shortfall_low = shortfall * scale, shortfall_low * scale
    with np.errstate(over="ignore", invalid="ignore"):  # a loss past float max: inf, its true size
        square, square_error = dw.square(shortfall)
        correction = np.where(np.isfinite(square), square_error + 2 * shortfall * shortfall_low, 0.0)
        loss = 0.5 * (square + correction)
    return np.where(inside, loss, 0.0)[:, None], np.where(inside[:, None], grad, 0.0)


def contrastive(x1, x2, target, *, margin: float = 1.0, reduction: str = "mean"):
    r"""Contrastive loss of a pair of embeddings (Hadsell, Chopra and LeCun's Siamese loss).

    .. math:: \ell = y\,\tfrac12 d^2 + (1 - y)\,\tfrac12 \max(0,\ m - d)^2,
              \qquad d = \|x_1 - x_2\|_2

    .. math:: \frac{\partial \ell}{\partial x_1} = -\frac{\partial \ell}{\partial x_2}
              = \begin{cases} x_1 - x_2 & y = 1 \\
              -\max(0,\ m - d)\,\dfrac{x_1 - x_2}{d} & y = 0 \end{cases}

    Similar pairs (``target`` 1) are pulled together; dissimilar pairs
    (``target`` 0) are pushed apart until they are ``margin`` apart, and then
    cost nothing. Note the label convention: Hadsell et al. write :math:`Y = 0`
    for similar pairs; here 1 means similar, as in most code. ``margin`` > 0
    (default 1). At :math:`d = 0` a dissimilar pair's direction is undefined:
    its gradient is taken as 0. ``target``: one label per pair, shaped like
    the embeddings without the feature axis. Hadsell, Chopra and LeCun,
    "Dimensionality Reduction by Learning an Invariant Mapping", CVPR 2006, eq. 4.
    """
    validate_reduction(reduction)
    return _contrastive(x1, x2, target, margin, True, False, reduction)


def contrastive_grad(x1, x2, target, *, margin: float = 1.0):
    r"""``(dℓ/dx1, dℓ/dx2)``: :math:`\pm(x_1 - x_2)` for similar pairs, :math:`\mp(m - d)(x_1 - x_2)/d` inside the margin."""
    return _contrastive(x1, x2, target, margin, False, True)


def contrastive_and_grad(x1, x2, target, *, margin: float = 1.0, reduction: str = "mean"):
    """``(contrastive(...), contrastive_grad(...))`` from one validation and one distance."""
    validate_reduction(reduction)
    return _contrastive(x1, x2, target, margin, True, True, reduction)


# ------------------------------------------------------------ triplet margin


def _triplet(anchor, positive, negative, margin, p, eps, swap, want_loss, want_grad, reduction="mean"):
    margin = POSITIVE.validate(margin, "margin")
    p = NORM_DEGREE.validate(p, "p")
    eps = NON_NEGATIVE.validate(eps, "eps")
    swap = validate_flag(swap, "swap")
    inputs, shape = _embeddings({"anchor": anchor, "positive": positive, "negative": negative}, margin, p, eps)
    a, pos, neg = inputs.arrays
    if want_grad and a.dtype == np.float32 and p not in (1.0, 2.0) and np.isfinite(p):
        # each slope sign(v) (|v|/d)^(p-1) is a few float32 roundings off, and the anchor's two nearly cancel
        # when its partners lie in similar directions: in float64, each result rounded once
        loss, grads = _triplet(*(np.broadcast_to(v, shape).astype(np.float64) for v in (a, pos, neg)), margin, p,
                               eps, swap, True, True, "none")
        loss = inputs.finish_loss(loss, reduction) if want_loss else None
        return _split((loss, tuple(inputs.finish_grad(g, i) for i, g in enumerate(grads))), want_loss, True)
    trust = _TRUST[a.dtype]
    m_low, eps_low = _double_word(margin, a.dtype)[1], _double_word(eps, a.dtype)[1]
    with np.errstate(over="ignore", invalid="ignore"):  # differences past float max: inf
        # PyTorch's pairwise_distance: ||x1 - x2 + eps||_p
        d_ap, g_ap = _p_distance(a - pos + eps, p)
        d_an, g_an = _p_distance(a - neg + eps, p)
        swapped = np.zeros(d_an.shape, dtype=bool)
        if swap:  # the harder of the two negatives' distances (Balntas et al.'s swap)
            d_pn, g_pn = _p_distance(pos - neg + eps, p)
            swapped = d_pn < d_an
            d_neg = np.where(swapped, d_pn, d_an)
        else:
            d_neg = d_an
        slack = margin + d_ap - d_neg
    wide = None
    if a.dtype == np.float32:  # a difference past float32 max (entries near it): those rows in float64, below
        finite = np.isfinite(d_ap) & np.isfinite(d_an) & (np.isfinite(d_pn) if swap else True)
        if not finite.all():
            wide = ~np.broadcast_to(finite, (*shape[:-1], 1))[..., 0]
            slack = np.where(finite, slack, -np.inf)
    if p == 2:
        # m + d(a, p) - d(a, n) of rounded distances is off by ulps of the distances: where it may be
        # positive, take it from the distances in double words (_exact_squared_distance)
        with np.errstate(over="ignore"):  # m + d past float max: every such slack is kept
            rows = (slack > -(margin + d_ap + d_neg) * trust)[..., 0]
        if shape[-1] == 1 and rows.any() and not eps_low:  # (float32's eps of 1e-6 is not exact: no shortcut)
            # one feature: the distances are the differences' sizes, exact where the differences are;
            # there m + d(a, p) - d(a, n) = ((m + d(a, p)) - d(a, n)) + e, e the two-sum error of m + d(a, p),
            # to an ulp (the subtraction is exact where it cancels), and the unit vectors are +-1
            plain = _exact_differences(a, pos, eps) & _exact_differences(a, neg, eps)
            if swap:
                plain &= _exact_differences(pos, neg, eps)
            if plain.any():
                with np.errstate(over="ignore", invalid="ignore"):  # m + d past float max: as before
                    total, error = dw.two_sum(margin, d_ap)
                    if m_low:  # float32: the margin's own rounding
                        error += m_low
                    slack = np.where(plain[..., None] & np.isfinite(total), (total - d_neg) + error, slack)
                rows = rows & ~plain
        exact = None
        if rows.any():
            close = None
            if want_grad and shape[-1] == 1:  # one feature: the unit vectors are exactly +-1 (or 0)
                close = np.zeros(int(np.count_nonzero(rows)), dtype=bool)
            elif want_grad and a.dtype == np.float32:  # every row: each float32 gradient then rounds once
                close = np.ones(int(np.count_nonzero(rows)), dtype=bool)
            elif want_grad:  # the anchor's (swapped: the positive's) two unit vectors less than 60 degrees apart
                pair = g_ap - g_an if not swap else np.where(swapped, g_ap + g_pn, g_ap - g_an)
                close = np.broadcast_to((np.sum(pair * pair, axis=-1) < 1), rows.shape)[rows]
            exact = _exact_triplet(*np.broadcast_arrays(a, pos, neg), rows, margin, eps, swapped, d_ap, d_neg,
                                   want_grad, close)
            slack = slack.copy()
            slack[rows] = exact[0]
    elif np.isfinite(p):
        # the same for other p: each plain p-distance is a few ulp off, which the slack near the margin
        # multiplied; the rows where it may be positive from double-word distances (_exact_p_slack), in float64
        # (float32: those rows only, rounded once)
        with np.errstate(over="ignore", invalid="ignore"):
            rows = ((slack > -(margin + d_ap + d_neg) * trust) & np.isfinite(d_ap) & np.isfinite(d_neg))[..., 0]
        if rows.any():
            slack = slack.copy()
            where = np.nonzero(rows)
            vectors = np.broadcast_arrays(a, pos, neg)
            turned = np.broadcast_to(swapped, slack.shape)[..., 0]
            step = max(1, _BLOCK // shape[-1])  # a block of rows at a time (float32: its float64 copies bounded)
            for start in range(0, len(where[0]), step):
                block = tuple(w[start:start + step] for w in where)
                a_rows, p_rows, n_rows = (v[block].astype(np.float64) for v in vectors)
                if a.dtype == np.float32:  # float64's plain distances: their few 2^-53 are far below float32's ulp
                    exact = _plain_p_slack(a_rows, p_rows, n_rows, turned[block], margin, eps, p)
                else:
                    exact = _exact_p_slack(a_rows, p_rows, n_rows, turned[block], margin, eps, p)
                with np.errstate(over="ignore"):  # float32: a slack past its max is inf
                    slack[block] = exact[:, None]
    loss = grads = None
    if wide is not None:
        wide_loss, wide_grads = _triplet(*(np.broadcast_to(v, shape)[wide].astype(np.float64) for v in (a, pos, neg)),
                                         margin, p, eps, swap, True, True, "none")
    if want_loss:
        per_triplet = np.squeeze(np.maximum(slack, 0), axis=-1)
        if wide is not None:
            with np.errstate(over="ignore"):  # a float64 loss past float32 max: inf, its true size
                per_triplet = np.array(np.broadcast_to(per_triplet, wide.shape))
                per_triplet[wide] = wide_loss.astype(np.float32)
        loss = inputs.finish_loss(per_triplet, reduction)
    if want_grad:
        active = (slack > 0).astype(a.dtype)
        g_a = active * (g_ap - np.where(swapped, 0.0, g_an))
        g_p = active * (-g_ap - (np.where(swapped, g_pn, 0.0) if swap else 0.0))
        g_n = active * (np.where(swapped, 0.0, g_an) + (np.where(swapped, g_pn, 0.0) if swap else 0.0))
        g_a, g_p, g_n = (np.broadcast_to(g, shape) for g in (g_a, g_p, g_n))
        if a.dtype == np.float64 and p not in (1.0, 2.0) and np.isfinite(p):
            g_a, g_p, g_n = _exact_p_rows((g_a, g_p, g_n), (a, pos, neg), slack, swapped, shape, eps, p, swap)
        if p == 2 and exact is not None and exact[1] is not None:
            # active triplets whose two unit vectors nearly cancel: the unit vectors in double words
            where = np.flatnonzero(rows.ravel())[close]
            g_a, g_p, g_n = (g.reshape(-1, shape[-1]).copy() for g in (g_a, g_p, g_n))
            on = slack.reshape(-1, 1)[where] > 0
            for g, part in zip((g_a, g_p, g_n), exact[1:], strict=True):
                g[where] = np.where(on, part, 0.0)
            g_a, g_p, g_n = (g.reshape(shape) for g in (g_a, g_p, g_n))
        if wide is not None:
            g_a, g_p, g_n = (np.array(g) for g in (g_a, g_p, g_n))
            for g, part in zip((g_a, g_p, g_n), wide_grads, strict=True):
                g[wide] = part.astype(np.float32)
        grads = tuple(inputs.finish_grad(g, i) for i, g in enumerate((g_a, g_p, g_n)))
    return _split((loss, grads), want_loss, want_grad)


def _exact_triplet(a, pos, neg, rows, margin, eps, swapped, d_ap, d_neg, want_grad, close=None):
    r""":math:`m + d(a, p) - d(a, n)` (keepdims) of the selected rows from distances in double words, and the gradients.

    The distances come from the exact differences (``_exact_squared_distance``) and their double-word
    square roots, in units of the power of two next to the largest of :math:`m` and the distances;
    the sum then has one rounding. ``swapped`` rows take :math:`d(p, n)` for :math:`d(a, n)`. With
    ``want_grad``, also the three gradients of an active triplet, :math:`(u_{ap} - u_{an}, -u_{ap}, u_{an})`
    (swapped: :math:`(u_{ap}, -u_{ap} - u_{pn}, u_{pn})`), with the unit vectors :math:`(x - y + \epsilon)/d`
    as double words, so their difference keeps its digits where the two nearly agree (``close``, a
    mask of the selected rows: elsewhere None, and the plain gradients stand).
    """
    scale = _power_of_two_at(np.maximum(margin, np.maximum(d_ap, d_neg))[rows])
    # each distance in units of its own power of two where one is far below m (float32 always): in m's units
    # its square would underflow (1e-41 / 0.1 in float32, 1e38 / 1e300 in float64); brought to m's units for
    # the slack (exact scalings, so rows that need none come out the same)
    own = a.dtype == np.float32 or bool(np.any(np.minimum(d_ap, d_neg)[rows] < scale * 2.0**-400))
    scales = (_power_of_two_at(d_ap[rows]), _power_of_two_at(d_neg[rows])) if own else (scale, scale)
    a, pos, neg, swapped = a[rows], pos[rows], neg[rows], np.broadcast_to(swapped, (*rows.shape, 1))[rows]
    squared, (high, low) = _exact_squared_distance(a, pos, scales[0], eps)
    d_ap = dw.sqrt(*squared)
    squared, (high_n, low_n) = _exact_squared_distance(np.where(swapped, pos, a) if swapped.any() else a, neg,
                                                       scales[1], eps)
    d_neg = dw.sqrt(*squared)
    m, m_low = _double_word(margin, a.dtype)
    in_scale = d_ap, d_neg
    if own:
        ratios = (scales[0] / scale)[:, 0], (scales[1] / scale)[:, 0]
        in_scale = tuple((d[0] * r, d[1] * r) for d, r in zip(in_scale, ratios, strict=True))
    total = dw.add(*dw.add(m / scale[:, 0], m_low / scale[:, 0], *in_scale[0]), -in_scale[1][0], -in_scale[1][1])
    with np.errstate(over="ignore"):  # a slack past float max: inf, its true size
        slack = (total[0] * scale[:, 0])[:, None]
    if not want_grad or not close.any():
        return slack, None, None, None
    swapped, high, low, high_n, low_n = (v[close] for v in (swapped, high, low, high_n, low_n))
    scales = tuple(s[close] for s in scales)
    d_ap, d_neg = (d_ap[0][close], d_ap[1][close]), (d_neg[0][close], d_neg[1][close])

    def unit(high, low, distance, scale):  # (high + low) / (distance s), distance = d / s a double word; 0 at d = 0
        positive = (distance[0] > 0)[:, None]
        safe = np.where(positive, distance[0][:, None], 1.0)
        quotient, quotient_low = dw.divide(high / scale, low / scale, safe)
        quotient_low = quotient_low - quotient * (distance[1][:, None] / safe)
        return np.where(positive, quotient, 0.0), np.where(positive, quotient_low, 0.0)

    u_ap, u_neg = unit(high, low, d_ap, scales[0]), unit(high_n, low_n, d_neg, scales[1])
    difference = dw.add(*u_ap, -u_neg[0], -u_neg[1])[0]
    total = dw.add(*u_ap, *u_neg)[0]
    g_a = np.where(swapped, u_ap[0], difference)
    g_p = np.where(swapped, -total, -u_ap[0])
    return slack, g_a, g_p, u_neg[0]



def _exact_p_slack(a, pos, neg, swapped, margin: float, eps: float, p: float) -> np.ndarray:
    r""":math:`m + d_p(a, p) - d_p(a, n)` of float64 rows ``(K, D)`` for ``p != 2``, rounded once (``swapped``
    rows take :math:`d_p(p, n)`).

    The plain p-distances are a few ulp off (``**`` and the sum), which :math:`m + d - d'` near the margin
    multiplied by :math:`d/(m + d - d')` (768 ulp at ``p = 1``, 1644 at ``p = 1.5`` on random triplets).
    Here the differences :math:`x - y + \epsilon` are double words (two-sums), in units of a power of two
    near the largest of them and :math:`m` (exact), each distance a double word (``_exact_p_norm``, about
    ``2^-100``) and the slack their double-word sum, so it keeps its digits unless it cancels by more than
    about ``2^45``."""
    differences = []
    for x, y in ((a, pos), (np.where(swapped[:, None], pos, a), neg)):
        high, low = dw.two_sum(x, -y)
        if eps:
            high, error = dw.two_sum(high, eps)
            low = low + error
        differences.append(dw.two_sum(high, low))
    largest = np.maximum(np.max(np.abs(differences[0][0]), axis=-1), np.max(np.abs(differences[1][0]), axis=-1))
    scale = _power_of_two_at(np.maximum(largest, margin))
    d_ap, d_neg = (_exact_p_norm(high / scale[:, None], low / scale[:, None], p) for high, low in differences)
    total = dw.add(*dw.add(margin / scale, np.zeros_like(scale), *d_ap), -d_neg[0], -d_neg[1])
    with np.errstate(over="ignore"):  # a slack past float max: inf, its true size
        return total[0] * scale



def _exact_p_slopes(high, low, p: float) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`\partial d_p/\partial v_i = \operatorname{sign}(v_i)\,(|v_i|/d)^{p-1}` of double-word rows
    ``v = high + low`` (entries at most about 2; ``1 < p < inf``), as double words to about ``2^-100``:
    :math:`|v_i|/d` a double-word quotient of ``_exact_p_norm``'s distance, raised to :math:`p - 1` as
    :math:`e^{(p-1)\log r}` (``_exact_log``, ``_exact_exp``). Entries below :math:`2^{-900} d` take the plain
    power (far below an ulp of the row's largest slope, which is at least :math:`D^{-(p-1)/p}`); 0 where
    :math:`d = 0`."""
    distance, distance_low, relative = _exact_p_norm_parts(high, low, p)
    positive = (distance > 0)[:, None]
    if relative is not None:  # p past 2^53: see _huge_p_slopes
        return _huge_p_slopes(high, relative, positive, p)
    negative = high < 0
    magnitude, magnitude_low = np.abs(high), np.where(negative, -low, low)
    r, r_low = dw.divide_unchecked(magnitude, magnitude_low, np.where(positive, distance[:, None], 1.0),
                                   np.where(positive, distance_low[:, None], 0.0))
    alive = r > 2.0**-900
    log, log_low = _exact_log(np.where(alive, r, 1.0), np.where(alive, r_low, 0.0))
    degree, degree_low = dw.two_sum(p, -1.0)
    power, power_low = dw.two_product(np.full_like(log, degree), log)
    power_low += degree * log_low + degree_low * log
    slope, slope_low, exponent = _exact_exp(power, power_low)
    slope, slope_low = np.ldexp(slope, exponent), np.ldexp(slope_low, exponent)
    with np.errstate(under="ignore"):
        tiny = r ** degree
    slope, slope_low = np.where(alive, slope, tiny), np.where(alive, slope_low, 0.0)
    slope, slope_low = np.where(positive, slope, 0.0), np.where(positive, slope_low, 0.0)
    return np.where(negative, -slope, slope), np.where(negative, -slope_low, slope_low)


#: Past this norm degree ``_exact_p_norm_parts`` takes each row's largest power out first and the slopes
#: come from ``_huge_p_slopes``: ``(|v_i|/d)^(p-1)`` would multiply the quotient's ``2^-106`` by ``p``.
_HUGE_P = 2.0**53


def _huge_p_slopes(high, relative, positive, p: float) -> tuple[np.ndarray, np.ndarray]:
    r"""The slopes for a huge ``p`` (past ``_HUGE_P``, where :math:`(|v_i|/d)^{p-1}` would magnify the
    quotient's ``2^-106`` by ``p``): with :math:`\rho_i = p(\log r_i - \log r_{top})` (``_exact_p_norm_parts``'s
    relative powers) and :math:`S = \sum_j e^{\rho_j}`, :math:`(|v_i|/d)^{p-1} = e^{(1 - 1/p)(\rho_i - \log S)}`:
    the row's largest entries take :math:`S^{-(1 - 1/p)}` (1 for a single largest), the others 0 or their tiny
    powers."""
    power, power_low, alive, log_sum, log_sum_low = relative
    power, power_low = np.where(alive, power, 0.0), np.where(alive, power_low, 0.0)  # dead entries: 0 below
    shifted, error = dw.two_sum(power, -log_sum[:, None])
    shifted_low = power_low - log_sum_low[:, None] + error
    factor = 1.0 - 1.0 / p  # 1 past p = 2^53: the 1/p left out is far below an ulp of the exponent
    scaled, scaled_error = dw.two_product(shifted, np.full_like(shifted, factor))
    scaled_low = scaled_error + shifted_low * factor
    dead = ~alive | (scaled < -1400.0)
    slope, slope_low, exponent = _exact_exp(np.where(dead, 0.0, scaled), np.where(dead, 0.0, scaled_low))
    slope, slope_low = np.where(dead, 0.0, np.ldexp(slope, exponent)), np.where(dead, 0.0, np.ldexp(slope_low, exponent))
    slope, slope_low = np.where(positive, slope, 0.0), np.where(positive, slope_low, 0.0)
    negative = high < 0
    return np.where(negative, -slope, slope), np.where(negative, -slope_low, slope_low)


def _exact_p_rows(grads, vectors, slack, swapped, shape, eps: float, p: float, swap: bool):
    """``grads`` (three arrays shaped ``shape``) with the active rows replaced by ``_exact_p_gradients``,
    a block of rows at a time."""
    active = np.flatnonzero((np.broadcast_to(slack, (*shape[:-1], 1)) > 0).ravel())
    if not active.size:
        return grads
    grads = [np.array(g).reshape(-1, shape[-1]) for g in grads]
    rows = [np.broadcast_to(v, shape).reshape(-1, shape[-1]) for v in vectors]
    turned = np.broadcast_to(swapped, (*shape[:-1], 1)).ravel()
    step = max(1, _BLOCK // shape[-1])
    for start in range(0, active.size, step):
        block = active[start:start + step]
        exact = _exact_p_gradients(*(v[block] for v in rows), turned[block], eps, p, swap)
        for g, part in zip(grads, exact, strict=True):
            g[block] = part
    return tuple(g.reshape(shape) for g in grads)


def _exact_p_gradients(a, pos, neg, swapped, eps: float, p: float, swap: bool) -> tuple[np.ndarray, ...]:
    r"""The three gradients of active triplets, float64 rows ``(K, D)``, ``1 < p < inf``, each rounded once.

    Each slope is a few ulp off in plain float64 (the norm's powers and sum, the quotient, the power),
    and the anchor's two slopes :math:`s(a - p) - s(a - n)` cancel where its partners lie in similar
    directions (5.9 ulp at ``p = 1.5``): here the differences are double words (two-sums), each row in
    units of its own power of two (the slopes do not depend on the scale), the slopes
    ``_exact_p_slopes`` and their sums double words."""
    pairs = [(a, pos), (a, neg)] + ([(pos, neg)] if swap else [])
    slopes = []
    for x, y in pairs:
        high, low = dw.two_sum(x, -y)
        if eps:
            high, error = dw.two_sum(high, eps)
            low = low + error
        high, low = dw.two_sum(high, low)
        scale = _power_of_two_at(np.max(np.abs(high), axis=-1))[:, None]
        scale = np.where(scale > 0, scale, 1.0)
        slopes.append(_exact_p_slopes(high / scale, low / scale, p))
    zero = np.zeros_like(a)
    s_ap, s_an = slopes[0], slopes[1]
    s_pn = slopes[2] if swap else (zero, zero)
    turned = swapped[:, None]
    s_neg = tuple(np.where(turned, 0.0, part) for part in s_an)
    s_swap = tuple(np.where(turned, part, 0.0) for part in s_pn)
    g_a = dw.add(*s_ap, -s_neg[0], -s_neg[1])[0]
    g_p = dw.add(-s_ap[0], -s_ap[1], -s_swap[0], -s_swap[1])[0]
    g_n = dw.add(*s_neg, *s_swap)[0]
    return g_a, g_p, g_n


def _plain_p_slack(a, pos, neg, swapped, margin: float, eps: float, p: float) -> np.ndarray:
    """float32's ``_exact_p_slack``: :math:`m + d_p(a, p) - d_p(a, n)` of float64 rows from float64's plain
    p-distances (``_p_distance``, a few ``2^-53`` of themselves): within an ulp of float32 of the slack unless it
    cancels by more than about ``2^26``."""
    d_ap = _p_distance(a - pos + eps, p)[0][:, 0]
    d_neg = _p_distance(np.where(swapped[:, None], pos, a) - neg + eps, p)[0][:, 0]
    with np.errstate(over="ignore", invalid="ignore"):
        return (margin + d_ap) - d_neg

def _exact_p_norm(high, low, p: float) -> tuple[np.ndarray, np.ndarray]:
    """The norm of ``_exact_p_norm_parts`` alone, as a double word."""
    return _exact_p_norm_parts(high, low, p)[:2]


def _exact_p_norm_parts(high, low, p: float):
    r""":math:`(\sum_i |v_i|^p)^{1/p}` of double-word rows ``v = high + low`` (entries at most about 2) as a double
    word to about ``2^-100``: :math:`M \,(\sum_i r_i^p)^{1/p}` with :math:`M = \max |v_i|` and :math:`r = |v|/M`
    double words, :math:`r^p = e^{p \log r}` and :math:`T^{1/p} = e^{\log(T)/p}` from ``_exact_log`` and
    ``_exact_exp`` (``p = 1``: the sum itself). Entries below :math:`2^{-900} M` count as 0 (their powers are
    far below an ulp of the sum, which is at least 1). Returns ``(norm, norm_low, relative)``: ``relative`` is
    None up to ``_HUGE_P``; past it, ``(power, power_low, alive, log_sum, log_sum_low)``, each entry's
    :math:`\rho_i = p(\log r_i - \log r_{top})` as a double word, which entries count, and
    :math:`\log \sum_j e^{\rho_j}` as a double word, for ``_huge_p_slopes``."""
    negative = high < 0
    high, low = np.abs(high), np.where(negative, -low, low)
    largest = np.max(high, axis=-1, keepdims=True)
    safe = np.where(largest > 0, largest, 1.0)
    r, r_low = dw.divide(high, low, safe)
    top = None
    if p != 1:
        alive = r > 2.0**-900
        log, log_low = _exact_log(np.where(alive, r, 1.0), np.where(alive, r_low, 0.0))
        with np.errstate(over="ignore", invalid="ignore"):  # p near float max: p log r past it is -inf, r^p 0
            power, power_low = dw.two_product(np.full_like(log, p), log)
            power_low += p * log_low
        alive &= np.isfinite(power)
        power, power_low = np.where(alive, power, -np.inf), np.where(alive, power_low, 0.0)
        if p > _HUGE_P:
            # the largest entry's r is 1 + its low part / M, and r^p = e^(p log r) overflows past p of about 1e19;
            # each row's largest power is taken out first (r_i^p / r_top^p <= 1) and r_top put back at the end
            top = np.argmax(np.where(alive, power, -np.inf), axis=-1)[:, None]
            top_power = np.take_along_axis(power, top, -1), np.take_along_axis(power_low, top, -1)
            with np.errstate(invalid="ignore"):  # -inf powers (r^p = 0) stay dead: masked below
                power, error = dw.two_sum(power, -top_power[0])
                power_low = power_low - top_power[1] + error
            top = np.take_along_axis(log, top, -1)[:, 0], np.take_along_axis(log_low, top, -1)[:, 0]
        alive &= power > -1400.0  # e^-1400 is 0 in any float (and a huge power's low part would upset the exp)
        relative = (power, power_low, alive) if top is not None else None
        r, r_low, exponent = _exact_exp(np.where(alive, power, 0.0), np.where(alive, power_low, 0.0))
        r, r_low = np.where(alive, np.ldexp(r, exponent), 0.0), np.where(alive, np.ldexp(r_low, exponent), 0.0)
    total, total_low = _pairwise_total(r)
    total_low += np.sum(r_low, axis=-1)
    if p != 1:
        positive = total > 0
        log, log_low = _exact_log(np.where(positive, total, 1.0), np.where(positive, total_low, 0.0))
        if top is not None:
            relative = (*relative, log, log_low)
        quotient, quotient_low = dw.divide(log, log_low, p)
        if top is not None:  # log of (sum r_i^p / r_top^p)^(1/p) r_top
            quotient, quotient_low = dw.add(quotient, quotient_low, *top)
        total, total_low, exponent = _exact_exp(quotient, quotient_low)
        total, total_low = np.ldexp(total, exponent), np.ldexp(total_low, exponent)
        total, total_low = np.where(positive, total, 0.0), np.where(positive, total_low, 0.0)
    distance, error = dw.two_product(largest[:, 0], total)
    return distance, error + largest[:, 0] * total_low, (relative if p != 1 else None)


def _exact_log(x_hi, x_lo) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`\log(x_{hi} + x_{lo})` (positive, normal) as a double word to about ``2^-100``: one Newton step
    from :math:`y = \log x_{hi}`, :math:`\log x = y + \log(1 + \delta)` with :math:`\delta = x e^{-y} - 1`
    (``_exact_exp``, an exact two-product and Sterbenz's exact difference) and :math:`\log(1+\delta) =
    \delta - \delta^2/2` (:math:`|\delta|` about ``2^-53``)."""
    y = np.log(x_hi)
    high, low, exponent = _exact_exp(-y, np.zeros_like(y))
    high, low = np.ldexp(high, exponent), np.ldexp(low, exponent)  # e^-y, within 2^1022 for x above 2^-1000
    product, error = dw.two_product(x_hi, high)
    delta = (product - 1) + ((error + x_hi * low) + x_lo * high)
    return dw.two_sum(y, delta - 0.5 * delta * delta)

def triplet_margin(anchor, positive, negative, *, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6,
                   swap: bool = False, reduction: str = "mean"):
    r"""Triplet margin loss (PyTorch's ``triplet_margin_loss``): the positive closer than the negative by a margin.

    .. math:: \ell = \max\bigl(0,\ m + d(a, p) - d(a, n)\bigr),\qquad
              d(x, y) = \|x - y + \epsilon\|_p

    .. math:: \frac{\partial \ell}{\partial a} = u_{ap} - u_{an},\quad
              \frac{\partial \ell}{\partial p} = -u_{ap},\quad
              \frac{\partial \ell}{\partial n} = u_{an}\qquad (\ell > 0;\ \text{else } 0)

    where :math:`u_{xy} = \partial d(x, y)/\partial x`, the unit vector from
    :math:`y` to :math:`x` for :math:`p = 2` (componentwise
    :math:`\operatorname{sign}(v_i)(|v_i|/d)^{p-1}` in general; 0 at :math:`d = 0`).
    Only triplets that violate the margin move. PyTorch's conventions:
    ``margin`` > 0 (default 1), norm degree ``p`` >= 1 (default 2), ``eps``
    (default 1e-6) is added to the *difference* before the norm (set 0 for the
    plain distance), ``swap=True`` uses :math:`\min(d(a, n), d(p, n))` as the
    negative distance (Balntas et al., BMVC 2016). Schroff, Kalenichenko and
    Philbin, "FaceNet", CVPR 2015, eq. 1 (with squared distances there);
    Weinberger and Saul, JMLR 2009. Gradient: ``(d/d anchor, d/d positive, d/d negative)``.
    Where :math:`m + d(a, p) - d(a, n)` may be positive it is taken from distances in double words
    (``p = 2``: exact squares; other ``p``: ``_exact_p_slack``, about 2 to 12 times the plain cost),
    so the loss keeps its digits near the margin.
    """
    validate_reduction(reduction)
    return _triplet(anchor, positive, negative, margin, p, eps, swap, True, False, reduction)


def triplet_margin_grad(anchor, positive, negative, *, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6,
                        swap: bool = False):
    r"""``(dℓ/danchor, dℓ/dpositive, dℓ/dnegative)`` = :math:`(u_{ap} - u_{an}, -u_{ap}, u_{an})` where the margin is violated, else 0."""
    return _triplet(anchor, positive, negative, margin, p, eps, swap, False, True)


def triplet_margin_and_grad(anchor, positive, negative, *, margin: float = 1.0, p: float = 2.0,
                            eps: float = 1e-6, swap: bool = False, reduction: str = "mean"):
    """``(triplet_margin(...), triplet_margin_grad(...))`` from one validation and one set of distances."""
    validate_reduction(reduction)
    return _triplet(anchor, positive, negative, margin, p, eps, swap, True, True, reduction)


# ------------------------------------------------------------ cosine embedding


def _unit_vectors(x: np.ndarray):
    """``x / ||x||`` and ``||x||`` (keepdims); a zero vector stays 0."""
    norm = _norm(x)
    return x / np.where(norm > 0, norm, 1), norm


def _norm(x: np.ndarray) -> np.ndarray:
    """``vector_norm(x)`` (keepdims); a norm past float max (float32 entries near its max) is inf, its true size."""
    with np.errstate(over="ignore"):
        return vector_norm(x)


def _unit_gap(x1, x2, u1, u2, n1, n2, sign: float = 1.0, below: float = 1.0):
    r""":math:`\hat x_1 - \hat x_2` (``sign`` -1: :math:`\hat x_1 + \hat x_2`), to an ulp or two of itself also when it is small.

    ``u1 - u2`` of the rounded unit vectors is off by an ulp of 1 in every component, which for
    nearly equal vectors is most of the difference (and of :math:`1 - \cos`, its square). Pairs
    whose difference is shorter than ``below`` (default 1) take :math:`(a\,|b| - b\,|a|)/(|a|\,|b|)` instead, with
    :math:`a`, :math:`b` the vectors scaled by powers of two (exact) to norms near 1, the norms as
    double words (``_squared_norm``) and the products exact (two-products): the difference of the
    two products keeps its digits, whatever part of it is along the vectors. Only those pairs pay for it.
    """
    x1, x2, u1, u2 = np.broadcast_arrays(x1, x2, u1, u2)
    n1, n2 = np.broadcast_arrays(n1, n2)
    gap = u1 - sign * u2
    # a zero vector's gap is the other unit vector, exactly: only pairs of nonzero vectors are recomputed
    rows = (np.sum(gap * gap, axis=-1) < below * below) & (n1 > 0)[..., 0] & (n2 > 0)[..., 0]
    if not rows.any():
        return gap
    a = x1[rows] / _power_of_two_at(n1[rows])
    b = sign * x2[rows] / _power_of_two_at(n2[rows])
    na, na_low = dw.sqrt(*_squared_norm(a))
    nb, nb_low = dw.sqrt(*_squared_norm(b))
    first, first_error = _product(a, nb[:, None])
    second, second_error = _product(b, na[:, None])
    difference, rounding = dw.two_sum(first, -second)
    numerator = difference + (rounding + ((first_error - second_error) + (a * nb_low[:, None] - b * na_low[:, None])))
    denominator, denominator_low = dw.multiply(na, na_low, nb, nb_low)
    ratio = (numerator / denominator[:, None])
    gap[rows] = ratio - ratio * (denominator_low / denominator)[:, None]
    return gap


def _exact_cosine(x1: np.ndarray, x2: np.ndarray, n1: np.ndarray, n2: np.ndarray):
    r""":math:`\cos(x_1, x_2) = x_1 \cdot x_2 / (|x_1|\,|x_2|)` of rows as a double word (nonzero vectors, ``n`` their norms).

    The vectors are scaled by powers of two to norms near 1 (exact), the dot product is a sum of exact
    products and the norms are double words (``_squared_norm``): good to about ``u^2``, where the
    plain cosine is off by an ulp of 1, which is most of :math:`\cos - m` near the margin.
    """
    top = np.finfo(x1.dtype).max  # a norm past float max (inf): the largest power of two
    a = x1 / _power_of_two_at(np.minimum(n1, top))
    b = x2 / _power_of_two_at(np.minimum(n2, top))
    # a.b, a.a and b.b from one Veltkamp split of each vector, summed together (one pairwise Sum2)
    a_high, a_low = dw.split_unchecked(a)
    b_high, b_low = dw.split_unchecked(b)
    products = np.stack([a * b, a * a, b * b])
    errors = np.stack([((a_high * b_high - products[0]) + a_high * b_low + a_low * b_high) + a_low * b_low,
                       ((a_high * a_high - products[1]) + 2 * a_high * a_low) + a_low * a_low,
                       ((b_high * b_high - products[2]) + 2 * b_high * b_low) + b_low * b_low])
    total, total_low = _pairwise_total(products)
    (dot, aa, bb), (dot_low, aa_low, bb_low) = dw.two_sum(total, total_low + np.sum(errors, axis=-1))
    norms, norms_low = dw.sqrt(*dw.multiply(aa, aa_low, bb, bb_low))
    cos, cos_low = dw.divide(dot, dot_low, norms)
    return cos, cos_low - cos * (norms_low / norms)


def _slices(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""Ozaki's error-free cut of vectors of norm below 2: :math:`v = v_1 + v_2 + v_3`, and :math:`r = v_2 + v_3`.

    :math:`v_1` is :math:`v` rounded to the grid :math:`2^{-g}` and :math:`v_2` the rest rounded to
    :math:`2^{-k}`, :math:`k = p - 2 - \lceil \log_2 D \rceil / 2` (``D`` features, the last axis;
    :math:`p` the significand's bits, 53 or 24; :math:`g = \lfloor (p - 3)/2 \rfloor`: 25 or 10), so
    that the sums :math:`\sum v_1 w_1` and :math:`\sum (v_1 w_2 + v_2 w_1)` of two such vectors are
    exact in any order (every partial sum is a multiple of the grid below :math:`2^{p}` of its
    steps, by Cauchy-Schwarz): one ``einsum`` each, with no error-free summation.
    """
    bits = np.finfo(v.dtype).nmant + 1
    k = bits - 2 - (v.shape[-1] - 1).bit_length() // 2
    first = v.dtype.type(0.75 * 2.0 ** (bits - (bits - 3) // 2))  # (x + first) - first: x on the grid 2^-g
    second = v.dtype.type(0.75 * 2.0 ** (bits - k))
    v1 = v + first
    v1 -= first
    rest = v - v1
    v2 = rest + second
    v2 -= second
    return v1, v2, rest - v2, rest


def _sliced_dot(first: tuple, second: tuple, x: np.ndarray, y: np.ndarray):
    r""":math:`x \cdot y` over the last axis as a double word ``(high, low)`` from the ``_slices`` of ``x`` and ``y``.

    :math:`x_1 \cdot y_1` and :math:`x_1 \cdot y_2 + x_2 \cdot y_1` are exact; the rest
    :math:`x_1 \cdot y_3 + x_2 \cdot (y_2 + y_3) + x_3 \cdot y` is below :math:`2^{-k}\sqrt D` and
    rounded plainly: about :math:`2^{-100}` (``D`` = 3) to :math:`2^{-90}` (``D`` = 1000) of :math:`|x|\,|y|`.
    """
    (x1, x2, x3, _), (y1, y2, y3, y_rest) = first, second
    dot = lambda u, v: np.einsum("...d,...d->...", u, v)  # noqa: E731
    exact = dot(x1, y2)
    exact += dot(x2, y1)
    high, low = dw.two_sum(dot(x1, y1), exact)
    low += dot(x1, y3)
    low += dot(x2, y_rest)
    low += dot(x3, y)
    return dw.two_sum(high, low)  # normalised: equal dot products give equal pairs


def _cosine_gradient(x1: np.ndarray, x2: np.ndarray, n1: np.ndarray, n2: np.ndarray):
    r""":math:`\partial \cos/\partial x_1` and :math:`\partial \cos/\partial x_2`, each to about an ulp of its largest components.

    With :math:`a = x_1/s_1`, :math:`b = x_2/s_2` (``s`` the powers of two at the norms ``n1``, ``n2``,
    keepdims: exact scaling to norms in [1, 2)) and :math:`A = a\cdot a`, :math:`B = b \cdot b`,
    :math:`P = a \cdot b` as double words (``_sliced_dot``),

    .. math:: \frac{\partial \cos}{\partial x_1} = \frac{\hat x_2 - \cos\,\hat x_1}{|x_1|}
              = \frac{b - \lambda a}{\sqrt{A B}\ s_1},\qquad \lambda = P / A

    with :math:`\lambda a` an exact two-product (Dekker), :math:`b - \lambda a` a two-sum, and
    :math:`\lambda` and :math:`1/\sqrt{AB}` double words: the projection, which cancels for every pair
    that is not nearly orthogonal (through rounded unit vectors and cosine it lost up to 5.7 ulp at
    moderate angles), keeps its digits, and each gradient is rounded about once. Both gradients are
    computed together on the stacked vectors, in place: the (2, ..., D) arrays are the cost. Zero
    vectors get 0.
    """
    x = np.stack(np.broadcast_arrays(x1, x2))
    norm = np.stack(np.broadcast_arrays(n1, n2))
    scale = _power_of_two_at(np.minimum(norm, np.finfo(x.dtype).max))  # a norm past float max: 2^1023 (2^127)
    x /= scale
    parts = _slices(x)
    squares, squares_low = (v[..., None] for v in _sliced_dot(parts, parts, x, x))  # A and B
    dot, dot_low = (v[..., None] for v in _sliced_dot(*[tuple(p[i] for p in parts) for i in (0, 1)], x[0], x[1]))
    with np.errstate(divide="ignore", invalid="ignore"):  # zero vectors: masked below
        # 1/sqrt(AB), P/A and P/B as double words (Dekker's products: A, B and |P| are below 4)
        product, error = _product(squares[0], squares[1])
        error += squares[0] * squares_low[1] + squares_low[0] * squares[1]
        root = np.sqrt(product)
        root_low = (((product - (square := _square(root))[0]) - square[1]) + error) / (2 * root)
        factor = 1 / root
        product, error = _product(factor, root)
        factor_low = ((1 - product) - error - factor * root_low) / root
        ratio = dot / squares
        product, error = _product(ratio, squares)
        ratio_low = (((dot - product) - error) + (dot_low - ratio * squares_low)) / squares
    ratio_high, ratio_split = dw.split_unchecked(ratio)
    # the slices are spent: their memory holds Veltkamp's halves of x, the product and the two-sum
    x_high, spare, x_low, product = parts
    np.multiply(x, dw._VELTKAMP[x.dtype], out=x_high)
    np.subtract(x_high, x, out=spare)
    x_high -= spare
    np.subtract(x, x_high, out=x_low)
    with np.errstate(invalid="ignore"):  # zero vectors: masked below
        np.multiply(ratio, x, out=product)  # (P/A) a = product + error exactly
        error = ratio_high * x_high
        error -= product
        error += np.multiply(ratio_high, x_low, out=spare)
        error += np.multiply(ratio_split, x_high, out=spare)
        error += np.multiply(ratio_split, x_low, out=spare)
        other = x[::-1]
        high = np.subtract(other, product, out=x_high)  # b - (P/A) a = high + low exactly
        virtual = np.subtract(high, other, out=x_low)
        low = np.subtract(other, np.subtract(high, virtual, out=spare), out=spare)
        low -= np.add(product, virtual, out=product)
        low -= error
        low -= np.multiply(ratio_low, x, out=product)
        low *= factor
        low += np.multiply(high, factor_low, out=product)
        high *= factor
        high += low
    with np.errstate(over="ignore"):  # a vector near 0: a gradient past float max
        high /= scale
    nonzero = np.all(norm > 0, axis=0)
    np.copyto(high, 0.0, where=~nonzero)
    if x.dtype == np.float32:
        _nearly_parallel_in_float64(high, x1, x2, squares, dot, nonzero)
    return high[0], high[1]


def _nearly_parallel_in_float64(high, x1, x2, squares, dot, nonzero) -> None:
    r"""float32 ``_cosine_gradient``: the pairs less than about :math:`2^{-10}` rad from (anti)parallel, recomputed
    in float64 and rounded once (in place in ``high``, the stacked gradients).

    There :math:`b - \lambda a` cancels to :math:`\sin\theta` of its terms, and float32 double words
    (:math:`A`, :math:`B`, :math:`P` to about :math:`2^{-44}`) leave an error of :math:`2^{-44}/\sin\theta`
    of it: 12 ulp of the cancelling terms at :math:`\theta = 10^{-6}` (the atlas allows 1). Only those rows
    are copied to float64 (none for most inputs); elsewhere the error is below :math:`2^{-9}` ulp.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # sin^2 = 1 - P^2/(AB), from the rounded A, B, P
        product = squares[0] * squares[1]
        near = ((product - dot * dot) < 2.0**-20 * product)[..., 0] & nonzero[..., 0]
    if not near.any():
        return
    shape = high.shape[1:]
    first, second = (np.broadcast_to(v, shape)[near].astype(np.float64) for v in (x1, x2))
    gradients = _cosine_gradient(first, second, _norm(first), _norm(second))
    with np.errstate(over="ignore"):  # a float64 gradient past float32 max: inf, its true size
        for i, gradient in enumerate(gradients):
            high[i][near] = gradient.astype(np.float32)


def _cosine_excess(first, second, n1, n2, label, cos, margin, shape):
    r""":math:`\cos - m` per pair (keepdims), from the double-word cosine where it is in (0, 1/2).

    ``1 - (1 - cos) - m`` is off by an ulp of 1 (the unit vectors' rounding), which near the margin
    (and near :math:`\cos = 0` for the default :math:`m = 0`) is most of it; pairs labelled -1 whose
    rounded :math:`\cos - m` is in (0, 1/2) take ``_exact_cosine`` instead. Which pairs are past the
    margin is still decided by the rounded cosine, as before (a pair at the margin to within
    rounding, such as :math:`\theta = \pi` for :math:`m = -1`, costs nothing).
    """
    m, m_low = _double_word(margin, cos.dtype)
    excess = np.broadcast_to(cos - margin if not m_low else (cos - m) - m_low, (*shape[:-1], 1))
    rows = ((label == -1) & (n1 > 0) & (n2 > 0) & (excess > 0) & (excess < 0.5))[..., 0]
    rows = np.broadcast_to(rows, shape[:-1])
    if not rows.any():
        return excess
    n1, n2 = np.broadcast_to(n1, (*shape[:-1], 1)), np.broadcast_to(n2, (*shape[:-1], 1))
    cos_high, cos_low = _exact_cosine(np.broadcast_to(first, shape)[rows], np.broadcast_to(second, shape)[rows],
                                      n1[rows], n2[rows])
    excess = excess.copy()
    excess[rows] = dw.add(cos_high, cos_low, -m, -m_low if m_low else 0.0)[0][:, None]
    return excess


def _one_minus_cosine(x1, x2, n1, n2, shape) -> np.ndarray:
    r""":math:`1 - \cos(x_1, x_2) = \tfrac12 |a\,|b| - b\,|a||^2 / (|a|\,|b|)^2` (keepdims), rounded once: float32's form.

    :math:`a`, :math:`b` are the vectors scaled by powers of two (exact) to norms near 1, the norms double
    words (``_squared_norm``), the products :math:`a_i |b|` exact (two-products) and each component of
    the difference a double word, so its squares' sum (``_squared_norm``) and the quotient keep about
    :math:`2^{-44}` however small the angle: no cancellation, where :math:`\|\hat x_1 - \hat x_2\|^2/2` of
    rounded unit vectors was off by 3 to 4 float32 ulp. A zero vector gives 1 (cosine 0).
    """
    x1, x2 = np.broadcast_to(x1, shape), np.broadcast_to(x2, shape)
    n1, n2 = np.broadcast_to(n1, (*shape[:-1], 1)), np.broadcast_to(n2, (*shape[:-1], 1))
    nonzero = ((n1 > 0) & (n2 > 0))[..., 0]
    top = np.finfo(x1.dtype).max  # a norm past float max (inf): scaled by the largest power of two
    a = x1 / _power_of_two_at(np.minimum(n1, top))
    b = x2 / _power_of_two_at(np.minimum(n2, top))
    with np.errstate(divide="ignore", invalid="ignore"):  # zero vectors: masked below
        na, na_low = dw.sqrt(*_squared_norm(a))
        nb, nb_low = dw.sqrt(*_squared_norm(b))
        first, first_error = _product(a, nb[..., None])
        second, second_error = _product(b, na[..., None])
        high, low = dw.two_sum(first, -second)
        low += (first_error - second_error) + (a * nb_low[..., None] - b * na_low[..., None])
        total, total_low = _squared_norm(*dw.two_sum(high, low))  # renormalised: high may be as small as low
        norms = dw.multiply(na, na_low, nb, nb_low)
        ratio = dw.divide_unchecked(total, total_low, *dw.multiply(*norms, *norms))[0]
    return np.where(nonzero, 0.5 * ratio, 1)[..., None]


def _cosine(x1, x2, target, margin, want_loss, want_grad, reduction="mean"):
    margin = COSINE.validate(margin, "margin")
    inputs, shape = _embeddings({"x1": x1, "x2": x2}, margin)
    first, second = inputs.arrays
    label = _pair_labels(target, inputs, shape, (-1.0, 1.0))[..., None]
    similar_only = not want_loss and not (label == -1).any()  # the gradient of similar pairs: no cosine needed
    if similar_only:
        n1, n2 = _norm(first), _norm(second)
    elif first.dtype == np.float32:  # 1 - cos rounded once (the gap's form below is off by 3 to 4 float32 ulp)
        n1, n2 = _norm(first), _norm(second)
        one_minus_cos = _by_blocks(_one_minus_cosine, shape, first, second, n1, n2)
        cos = 1 - one_minus_cos
        excess = _cosine_excess(first, second, n1, n2, label, cos, margin, shape)
    else:
        u1, n1 = _unit_vectors(first)
        u2, n2 = _unit_vectors(second)
        nonzero = (n1 > 0) & (n2 > 0)
        gap = _unit_gap(first, second, u1, u2, n1, n2)
        # 1 - cos = ||u1 - u2||^2 / 2 for unit vectors: no cancellation for nearly parallel ones
        one_minus_cos = np.where(nonzero, 0.5 * np.sum(gap * gap, axis=-1, keepdims=True), 1.0)
        cos = 1 - one_minus_cos
        excess = _cosine_excess(first, second, n1, n2, label, cos, margin, shape)
    loss = grads = None
    if want_loss:
        per_pair = np.where(label == 1, one_minus_cos, np.maximum(excess, 0))
        loss = inputs.finish_loss(np.squeeze(per_pair, axis=-1), reduction)
    if want_grad:
        d_cos_1, d_cos_2 = _cosine_gradient(first, second, n1, n2)
        one = first.dtype.type(1)
        sign = -one if similar_only else np.where(label == 1, -one, np.where(excess > 0, one, 0))
        with np.errstate(invalid="ignore"):  # float32: an inactive pair's gradient may be inf (0 inf): 0 below
            d_cos_1, d_cos_2 = sign * d_cos_1, sign * d_cos_2
        if first.dtype == np.float32 and not similar_only:
            np.copyto(d_cos_1, 0, where=sign == 0)
            np.copyto(d_cos_2, 0, where=sign == 0)
        grads = (inputs.finish_grad(np.broadcast_to(d_cos_1, shape), 0),
                 inputs.finish_grad(np.broadcast_to(d_cos_2, shape), 1))
    return _split((loss, grads), want_loss, want_grad)


def cosine_embedding(x1, x2, target, *, margin: float = 0.0, reduction: str = "mean"):
    r"""Cosine embedding loss (PyTorch's ``cosine_embedding_loss``): align similar pairs, separate dissimilar ones.

    .. math:: \ell = \begin{cases} 1 - \cos(x_1, x_2) & y = 1 \\
              \max\bigl(0,\ \cos(x_1, x_2) - m\bigr) & y = -1 \end{cases},\qquad
              \cos(x_1, x_2) = \frac{x_1 \cdot x_2}{\|x_1\|\,\|x_2\|}

    .. math:: \frac{\partial \cos}{\partial x_1} = \frac{1}{\|x_1\|}\bigl(\hat x_2 - \cos\,\hat x_1\bigr),\qquad
              \frac{\partial \ell}{\partial x_1} = -\frac{\partial \cos}{\partial x_1}\ (y = 1),\quad
              [\cos > m]\,\frac{\partial \cos}{\partial x_1}\ (y = -1)

    and the same with 1 and 2 exchanged. Only the angle matters, not the
    length. ``target``: 1 or -1 per pair; ``margin`` in [-1, 1] (default 0;
    PyTorch suggests 0 to 0.5). :math:`1 - \cos` is computed as
    :math:`\|\hat x_1 - \hat x_2\|^2/2`, so nearly parallel vectors keep the
    digits of their small loss. PyTorch adds 1e-12 to each squared norm (a
    relative change of about :math:`10^{-12}/\|x\|^2`); here the cosine is
    exact, and a zero vector has cosine 0 and gradient 0.
    Gradient: ``(d/d x1, d/d x2)``. Comparing two embeddings by the cosine of
    their angle goes back to Siamese networks: Bromley et al., "Signature
    Verification using a Siamese Time Delay Neural Network", NeurIPS 1993.
    """
    validate_reduction(reduction)
    return _cosine(x1, x2, target, margin, True, False, reduction)


def cosine_embedding_grad(x1, x2, target, *, margin: float = 0.0):
    r"""``(dℓ/dx1, dℓ/dx2)``: :math:`\mp (\hat x_2 - \cos \hat x_1)/\|x_1\|` and its mirror image."""
    return _cosine(x1, x2, target, margin, False, True)


def cosine_embedding_and_grad(x1, x2, target, *, margin: float = 0.0, reduction: str = "mean"):
    """``(cosine_embedding(...), cosine_embedding_grad(...))`` from one validation and one pair of norms."""
    validate_reduction(reduction)
    return _cosine(x1, x2, target, margin, True, True, reduction)


# ------------------------------------------------------------ InfoNCE


def _directions(x_hi, x_lo, y_hi, y_lo, cos, cos_low):
    r""":math:`\hat x - \cos\,\hat y` of unit vectors given as double words, as a double word (broadcasting; ``cos`` keepdims).

    Written as :math:`(\hat x - \sigma \hat y) + (\sigma - \cos)\,\hat y` with
    :math:`\sigma = \operatorname{sign}(\cos)` for nearly (anti)parallel pairs (:math:`|\cos| > 1/2`),
    else 0: the short vector :math:`\hat x - \sigma\hat y` is a two-sum of the high parts, so the pair
    keeps the digits that the plain projection :math:`\hat x - (\hat x \cdot \hat y)\hat y` cancels.
    :math:`\sigma - \cos` is a double word: :math:`\sigma - \cos_{hi}` (exact) and :math:`-\cos_{lo}` up to
    :math:`|\cos| = 0.999`, past which it is :math:`\sigma\,\tfrac12|\hat x - \sigma \hat y|^2` (``_squared_norm``:
    relative to itself, where the cosine's absolute error would show); its product with :math:`\hat y` is
    exact (Dekker) plus the cross terms, and the sum one more two-sum. (Rounded to one word, the coefficient
    put :math:`u\,|\cos|` into every direction, which rows whose directions cancel multiplied: 620 ulp at 2
    features.)
    """
    one = cos.dtype.type(1)
    sign = np.where(cos > 0.5, one, np.where(cos < -0.5, -one, 0))
    gap, gap_low = dw.two_sum(x_hi, -sign * y_hi)
    gap_low += x_lo - sign * y_lo
    # the coefficient as a double word: rounded, it put u |cos| into every direction, which rows whose
    # directions cancel (2 or 3 features) multiplied (up to 700 ulp)
    coefficient, coefficient_low = sign - cos, np.negative(cos_low)  # sign - cos is exact (Sterbenz)
    steep = np.nonzero(np.abs(cos[..., 0]) > 0.999)  # cos has the pairs' shape (keepdims)
    if len(steep[0]):
        half, half_low = _squared_norm(gap[steep], gap_low[steep])
        coefficient[steep] = sign[steep] * 0.5 * half[:, None]
        coefficient_low[steep] = sign[steep] * 0.5 * half_low[:, None]
    product, error = _product(coefficient, y_hi)  # each factor split in its own shape
    high, low = dw.two_sum(gap, product)
    low += gap_low + error + coefficient * y_lo + coefficient_low * y_hi
    return high, low


_PAIRWISE_SIZE = 1 << 14  # info_nce_grad: (queries x keys x features) up to which all pairs go in one pass
_BLOCK_SIZE = 1 << 16  # past it, (queries x keys x features) per block of queries (_blockwise_gradients)
_SLICE = 0.75 * 2.0**27  # (x + _SLICE) - _SLICE rounds |x| <= 1 to a multiple of 2^-26
# temperatures whose Veltkamp halves and products with the logits (up to 1/tau) stay in range, per dtype
_TAU_RANGE = {np.dtype(np.float64): 2.0**900, np.dtype(np.float32): 2.0**100}


def _unit_rows(x: np.ndarray):
    r"""``x / |x|`` per row as a double word ``(hi, lo)`` good to about ``2^-64``, and ``|x|`` (keepdims) as one.

    Zero rows give 0. The rows are scaled by powers of two (exact) to a largest entry in [1, 2); the
    squared norm is split like the cosines (``_similarity_logits``): with :math:`a = a_1 + a_r`, :math:`a_1`
    on a grid fine enough that :math:`\sum a_1^2` is exact in any order (at most :math:`4D` in units
    of the grid squared, below :math:`2^{53}`), :math:`|a|^2 = \sum a_1^2 + \sum (a_1 + a)\,a_r` with the
    second sum small and rounded plainly. ``lo`` is the quotient's rounding error
    :math:`(a - h n)/n` (``h n`` an exact two-product) and the norm's low part, to first order.
    """
    scale = _power_of_two_at(np.max(np.abs(x), axis=-1, keepdims=True))
    a = x / scale
    if a.dtype == np.float32:  # the rest of one cut would be rounded to about 2^-12 D u: exact squares, summed
        squared = _squared_norm(a)  # as a double word instead
        norm, norm_low = dw.sqrt(squared[0][..., None], squared[1][..., None])
    else:
        bits = (51 - max(1, (x.shape[-1] - 1).bit_length())) // 2
        grid = 0.75 * 2.0 ** (53 - bits)
        a1 = (a + grid) - grid
        rest = a - a1
        exact = np.einsum("...d,...d->...", a1, a1)[..., None]
        norm, norm_low = dw.sqrt(*dw.two_sum(exact, np.einsum("...d,...d->...", a1 + a, rest)[..., None]))
    safe = np.where(norm > 0, norm, 1.0)
    high = a / safe
    product, error = _product(high, safe)
    low = ((a - product) - error) / safe - high * (norm_low / safe)
    if a.dtype == np.float32:  # the norm in units of the scale: its low part would be subnormal for rows near 1e-30
        return high, low, (norm, norm_low, scale)
    return high, low, (norm * scale, norm_low * scale)


def _cosines(logits: np.ndarray, low: np.ndarray, temperature: float) -> tuple[np.ndarray, np.ndarray]:
    """The cosines :math:`\\tau\\,(z + \\delta)` of logits ``z`` and their low parts ``delta`` as a double word."""
    product, error = dw.two_product(logits, np.float64(temperature))  # float64 (float32 keeps its cosines)
    return product, error + low * temperature


def _over_norm(d_hat: np.ndarray, norm: tuple, temperature: float, d_low=None) -> np.ndarray:
    r""":math:`g / (\tau\,|x|)` with :math:`|x|` a double word: one rounded factor instead of two divisions by rounded values.

    ``d_low``, if given, is the low part of :math:`g` as a double word ``(d_hat, d_low)``. A third entry of
    ``norm`` (float32) is a power of two the norm is in units of: the result is divided by it last (exact).
    """
    exponent = 0
    if len(norm) == 3:  # tau = mantissa 2^e: tau |x| = (mantissa n) 2^(e + k), the powers of two applied last
        temperature, exponent = math.frexp(temperature)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # a vector near 0: a gradient past float max
        scale, scale_low = dw.multiply(norm[0], norm[1], *_double_word(temperature, d_hat.dtype))
        factor, factor_low = dw.divide(1.0, 0.0, scale)
        factor_low = factor_low - factor * (scale_low / scale)
        if np.all(np.isfinite(factor)) and np.all(np.isfinite(factor_low)):
            low = d_hat * factor_low if d_low is None else d_hat * factor_low + d_low * factor
            result = d_hat * factor + low
        else:
            result = d_hat / _double_word(temperature, d_hat.dtype)[0] / norm[0]
        if len(norm) == 3:  # one rounding, also for a result below the normal range
            return np.ldexp(result, -(exponent + np.frexp(norm[2])[1] - 1))
        return result


def _weighted_sum(weights: np.ndarray, directions: tuple, axis: int | None, weights_low=None):
    """``sum(weights * directions, axis)`` (``axis`` None: the products) as a double word, ``directions`` one too
    (and ``weights``, with ``weights_low``): exact products (Dekker) summed by ``_pairwise_total``, so that terms
    of both signs cancel without losing digits."""
    product, error = _product(weights, directions[0])  # |weights| <= 1, |directions| <= 2
    error += weights * directions[1]
    if weights_low is not None:
        error += weights_low * directions[0]
    if axis is None:
        return product, error
    high, low = _pairwise_total(np.moveaxis(product, axis, -1))
    return high, low + np.sum(error, axis=axis)


def _blockwise_gradients(g, g_low, cos, q_hat, q_low, k_hat, k_low):
    r"""The small path's :math:`\sum_j g_{ij}(\hat k_j - \cos_{ij}\hat q_i)` and :math:`\sum_i g_{ij}(\hat q_i -
    \cos_{ij}\hat k_j)` as double words in bounded memory (about ``_BLOCK_SIZE`` per array).

    Plain matrix products ``g @ k_hat`` and the projection :math:`d - (d \cdot \hat q)\hat q` cancel (7.6 ulp
    of a row's largest entry measured at N = M = 64, D = 8). Pairs with :math:`|\cos| \le 1/2` (whose
    directions are long) are summed as :math:`\sum_j g_{ij}\hat k_j - (\sum_j g_{ij}\cos_{ij})\,\hat q_i` with the
    matrix product from Ozaki's slices (``_sliced_matmul``) and everything a double word (``_far_pairs``);
    the nearly (anti)parallel pairs, where the two terms cancel, each take their own direction
    (``_directions``, ``_near_pairs``). When more than an eighth of the pairs are near, every pair takes its
    own direction, a block of queries at a time (``_pairwise_blocks``). ``g`` ``(N, M)`` with its low part
    ``g_low`` (or None), ``cos`` the pairs' cosines as a double word.
    """
    near = np.abs(cos[0]) > 0.5  # as in _directions
    if 8 * np.count_nonzero(near) > near.size:
        return _pairwise_blocks(g, g_low, cos, q_hat, q_low, k_hat, k_low)
    w = np.where(near, 0.0, g)
    w_low = None if g_low is None else np.where(near, 0.0, g_low)
    transposed = (None if g_low is None else g_low.T, None if w_low is None else w_low.T)
    d_q = _far_pairs(w, w_low, q_hat, q_low, k_hat, k_low, cos)
    d_k = _far_pairs(w.T, transposed[1], k_hat, k_low, q_hat, q_low, (cos[0].T, cos[1].T))
    d_q = _near_pairs(d_q, np.nonzero(near), g, g_low, q_hat, q_low, k_hat, k_low, cos)
    return d_q, _near_pairs(d_k, np.nonzero(near.T), g.T, transposed[0], k_hat, k_low, q_hat, q_low,
                            (cos[0].T, cos[1].T))


def _far_pairs(w, w_low, x_hat, x_low, y_hat, y_low, cos):
    r""":math:`\sum_j w_{ij}(\hat y_j - \cos_{ij}\hat x_i) = (w\,\hat y)_i - (\sum_j w_{ij}\cos_{ij})\,\hat x_i` as a
    double word: the matrix product from Ozaki's slices, the weighted cosines exact products summed by
    ``_pairwise_total``, their product with :math:`\hat x` exact (Dekker), the difference a two-sum."""
    high, low = _sliced_matmul(w, y_hat.T)
    low += w @ y_low if w_low is None else w @ y_low + w_low @ y_hat
    product, error = _product(w, cos[0])
    error += w * cos[1] if w_low is None else w * cos[1] + w_low * cos[0]
    s, s_low = _pairwise_total(product)
    s, s_low = s[:, None], (s_low + np.sum(error, axis=-1))[:, None]
    along, along_error = _product(np.broadcast_to(s, x_hat.shape), x_hat)
    total, total_low = dw.two_sum(high, -along)
    return total, total_low + (low - (along_error + s * x_low + s_low * x_hat))


def _near_pairs(total, pairs, w, w_low, x_hat, x_low, y_hat, y_low, cos):
    r"""``total`` plus :math:`w_{ij}(\hat y_j - \cos_{ij}\hat x_i)` (``_directions``) for the ``pairs`` ``(i, j)``
    (sorted by ``i``), added to row ``i`` as double words, a chunk of about ``_BLOCK_SIZE`` entries at a time
    and within it one pair per row at a time (a fancy-indexed add would drop repeated rows)."""
    high, low = total
    step = max(1, _BLOCK_SIZE // x_hat.shape[1])
    for start in range(0, len(pairs[0]), step):
        i, j = pairs[0][start:start + step], pairs[1][start:start + step]
        c = cos[0][i, j][:, None], cos[1][i, j][:, None]
        direction = _directions(y_hat[j], y_low[j], x_hat[i], x_low[i], *c)
        terms = _weighted_sum(w[i, j][:, None], direction, None, None if w_low is None else w_low[i, j][:, None])
        rank = np.arange(len(i)) - np.searchsorted(i, i)
        for r in range(int(rank.max()) + 1):
            pick = rank == r
            rows = i[pick]
            high[rows], low[rows] = dw.add_unchecked(high[rows], low[rows], terms[0][pick], terms[1][pick])
    return high, low


def _pairwise_blocks(g, g_low, cos, q_hat, q_low, k_hat, k_low):
    """Every pair's own direction (``_directions``), a block of queries at a time: the keys' sums added across
    blocks as double words (``add_unchecked``) and rounded once, in ``_over_norm``."""
    step = max(1, _BLOCK_SIZE // (k_hat.shape[0] * k_hat.shape[1]))
    d_q = np.empty_like(q_hat), np.empty_like(q_hat)
    d_k = np.zeros_like(k_hat), np.zeros_like(k_hat)
    for start in range(0, q_hat.shape[0], step):
        rows = slice(start, start + step)
        q, q_lo = q_hat[rows, None], q_low[rows, None]
        c = cos[0][rows, :, None], cos[1][rows, :, None]
        w, w_low = g[rows, :, None], None if g_low is None else g_low[rows, :, None]
        d_q[0][rows], d_q[1][rows] = _weighted_sum(w, _directions(k_hat, k_low, q, q_lo, *c), 1, w_low)
        d_k = dw.add_unchecked(*d_k, *_weighted_sum(w, _directions(q, q_lo, k_hat, k_low, *c), 0, w_low))
    return d_q, d_k


# ------------------------------------------------------------ InfoNCE: rows whose directions cancel

# A gradient row whose terms g_ij (y_j - cos_ij x_i) cancel by more than a threshold (the bound below over the
# row's largest entry) is recomputed by _exact_rows. The fast path's pieces are double words: its error is
# about ratio x 2^-29 ulp (float64, tau >= 1 and 2 features: the cosines, to about 2^-79 D over tau, dominate;
# 2^-21 at tau = 0.02) and ratio x 2^-11 ulp32 (float32 at tau >= 0.1: the weights): these thresholds, over D
# and 1/tau (float64) or 0.1/tau (float32), leave more than a factor 16 to the first error of 2 ulp measured.
_CANCELLING = {np.dtype(np.float64): 2.0**20, np.dtype(np.float32): 2.0**6}


def _cancelling_rows(d_hat, g, cos, x_hat, y_hat, temperature: float, bound=None) -> np.ndarray:
    r"""Rows ``i`` of :math:`d_i = \sum_j g_{ij}(\hat y_j - \cos_{ij}\hat x_i)` (``d_hat``, the fast path's sum) that
    are small beside their terms: :math:`\max_c B_{ic} > T\,\max_c |d_{ic}|` with the componentwise bound
    :math:`B = |g|\,|\hat y| + (\sum_j |g_{ij}|\,|\cos_{ij}|)\,|\hat x|` (two plain products: cheap), ``T`` from
    ``_CANCELLING`` (scaled down for small temperatures: the logits' error grows as ``1/tau``).

    With many features the directions point every way and the ratio is a few; with 2 or 3 they lie on a
    line or a plane and a row can cancel to nothing (a query between its keys)."""
    if d_hat.shape[-1] == 1:  # one feature: x / |x| = sign(x), the gradients are 0 (the callers set them)
        return np.empty(0, dtype=np.intp)
    if bound is None:
        weights = np.abs(g)
        bound = weights @ np.abs(y_hat)
        bound += np.sum(weights * np.abs(cos), axis=-1, keepdims=True) * np.abs(x_hat)
    if d_hat.dtype == np.float64:
        threshold = _CANCELLING[d_hat.dtype] / (d_hat.shape[-1] * max(1.0, 1 / temperature))
    else:
        threshold = _CANCELLING[d_hat.dtype] / max(1.0, 0.1 / temperature)
    return np.flatnonzero(~(np.max(bound, axis=-1) <= threshold * np.max(np.abs(d_hat), axis=-1)))


def _exact_units(x: np.ndarray):
    """float64 rows ``x / |x|`` as double words to about ``2^-104`` (exact squares summed by ``_pairwise_total``,
    a double-word square root and quotient), and ``|x| = n 2^s`` as ``(n_hi, n_lo, s)`` (keepdims)."""
    scale = _power_of_two_at(np.max(np.abs(x), axis=-1, keepdims=True))
    a = x / scale
    norm, norm_low = dw.sqrt(*(v[..., None] for v in _squared_norm(a)))
    high, low = dw.divide_unchecked(a, np.zeros_like(a), norm, norm_low)
    return high, low, (norm, norm_low, np.frexp(scale)[1] - 1)


def _exact_exp(x_hi, x_lo):
    r""":math:`e^{x_{hi} + x_{lo}} = (hi + lo)\,2^{q}` with a relative error of about ``2^-102`` (float64,
    :math:`x \le 0`), where ``_double_word.exp_double_word`` leaves ``2^-68``: the same reduction
    (:math:`x = n \ln 2/1024 + r`, :math:`|r| \le 2^{-11.5}`, the step in three parts: :math:`n` times the
    third is a two-product here), then :math:`e^r - 1 = r + r^2/2 + r^3/6 + r^4 h` with :math:`r^2` and
    :math:`r^3` exact two-products, :math:`1/6` a double word and :math:`h` (degree 4) plain, below ``2^-50``."""
    table, x, n = dw._reduction(x_hi)
    index = n.astype(np.int32)
    r, r_low = dw.two_sum(x - n * table.step1, -(n * table.step2))  # both products exact, the first difference too
    third, third_low = dw.two_product(n, table.step3)
    r, error = dw.two_sum(r, -third)
    r_low += error - third_low + x_lo
    r, r_low = dw.fast_two_sum_unchecked(r, r_low)
    square, square_low = _square(r)
    cube, cube_low = _product(r, square)
    cube_low += r * square_low
    sixth, sixth_error = _product(cube, np.float64(_SIXTH[0]))
    sixth_error += cube * _SIXTH[1] + cube_low * _SIXTH[0]
    h = r * (1 / 40320)
    h += 1 / 5040
    h *= r
    h += 1 / 720
    h *= r
    h += 1 / 120
    h *= r
    h += 1 / 24
    h *= square * square
    t, t_low = dw.two_sum(0.5 * square, sixth)
    t_low += 0.5 * square_low + sixth_error + h
    v, v_low = dw.two_sum(r, t)
    v_low += t_low
    v_low += r_low * (1 + v)  # e^(r + r_low) - 1 = v + r_low (1 + v)
    k = index & (len(table.hi) - 1)
    high, low = table.hi.take(k), table.lo.take(k)
    product, product_error = _product(high, v)  # 2^(k/N) (1 + v): high + high v + (low (1 + v) + high v_low)
    total, total_low = dw.fast_two_sum_unchecked(high, product)
    total_low += product_error + high * v_low + low * (1 + v)
    total, total_low = dw.fast_two_sum_unchecked(total, total_low)
    return total, total_low, index >> table.bits


_SIXTH = (1 / 6, float.fromhex("0x1.5555555555555p-57"))  # 1/6 as a double word (1/6 - fl(1/6) = 2^-55 / 3)


def _exact_weights(cos_hi, cos_lo, positives, temperature: float):
    r""":math:`p_{ij} - [j = c_i]` of the cosines ``cos_hi + cos_lo`` (rows) over ``temperature`` as double words
    to about ``2^-100``: each row's largest cosine taken off (two-sums), the quotient by :math:`\tau = m 2^t`
    a double word with its power of two applied last (no overflow for any temperature), the weights from
    ``_exact_exp`` (below ``-1400``: 0), :math:`p_c - 1 = -\sum_{j \ne c} w_j / \sum_j w_j`."""
    top = np.argmax(cos_hi + cos_lo, axis=-1)[:, None]
    difference, error = dw.two_sum(cos_hi, -np.take_along_axis(cos_hi, top, axis=-1))
    error += cos_lo - np.take_along_axis(cos_lo, top, axis=-1)
    mantissa, exponent = math.frexp(temperature)
    quotient = difference / mantissa
    product, product_error = dw.two_product(quotient, mantissa)
    quotient_low = (((difference - product) - product_error) + error) / mantissa
    with np.errstate(over="ignore", invalid="ignore"):  # cosines far apart over a tiny temperature: -inf, weight 0
        x_hi, x_lo = np.ldexp(quotient, -exponent), np.ldexp(quotient_low, -exponent)
        alive = x_hi > -1400.0
    high, low, power = _exact_exp(np.where(alive, x_hi, 0.0), np.where(alive, x_lo, 0.0))
    high, low = np.ldexp(high, power), np.ldexp(low, power)  # weights below 2^-1022 lose digits (as plain ones)
    high[~alive] = 0.0
    low[~alive] = 0.0
    return _weights_minus_positives(high, low, positives)


def _weights_minus_positives(high, low, positives) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`w_j / \sum_k w_k - [j = c]` per row of the double-word weights ``high + low`` (overwritten), as
    double words: sums by ``_pairwise_total``, double-word quotients, and the positive's
    :math:`p_c - 1 = -\sum_{j \ne c} w_j / \sum_k w_k` (no cancellation)."""
    rows = np.arange(len(positives))
    total, total_low = _pairwise_total(high)
    total_low += np.sum(low, axis=-1)
    total, total_low = total[:, None], total_low[:, None]
    weight, weight_low = dw.divide_unchecked(high, low, total, total_low)
    high[rows, positives] = 0.0
    low[rows, positives] = 0.0
    rest, rest_low = _pairwise_total(high)
    rest_low += np.sum(low, axis=-1)
    complement, complement_low = dw.divide_unchecked(rest[:, None], rest_low[:, None], total, total_low)
    weight[rows, positives], weight_low[rows, positives] = -complement[:, 0], -complement_low[:, 0]
    return weight, weight_low


def _exact_directions(x_hi, x_lo, y_hi, y_lo, cos_hi, cos_lo):
    r""":math:`\hat x - \cos\,\hat y` of double words as a double word, to about ``2^-104`` (broadcasting; ``cos``
    keepdims): :math:`\cos\,\hat y` an exact two-product of the high parts plus the cross terms, the
    difference a two-sum (the high parts' cancellation is exact)."""
    product, error = _product(cos_hi, y_hi)
    high, low = dw.two_sum(x_hi, -product)
    low += x_lo - ((error + cos_hi * y_lo) + cos_lo * y_hi)
    return high, low


def _exact_over_norm(total: tuple, norm: tuple, temperature: float) -> np.ndarray:
    r""":math:`d / (\tau\,|x|)` for a double word ``d`` and :math:`|x| = (n_{hi} + n_{lo})\,2^{s}`
    (``_exact_units``), with :math:`\tau = m\,2^t`: the quotient by the double word :math:`m\,n` rounded once,
    then the power of two :math:`2^{-(s + t)}` (exact unless the result is below the normal range)."""
    mantissa, exponent = math.frexp(temperature)
    scale, scale_low = _product(norm[0], np.float64(mantissa))
    scale_low += norm[1] * mantissa
    quotient, quotient_low = dw.divide_unchecked(*total, scale, scale_low)
    with np.errstate(over="ignore"):
        return np.ldexp(quotient + quotient_low, -(norm[2] + exponent))


def _exact_rows(q, k, temperature: float, query_rows, key_rows):
    r"""float64 ``(d/d query[query_rows], d/d keys[key_rows])`` of InfoNCE (``normalize=True``) from double words
    good to about ``2^-100``: the unit vectors (``_exact_units``), the cosines (Ozaki's slices,
    ``_sliced_matmul``, and the low parts' cross products), the weights (``_exact_weights``), every pair's
    direction (``_exact_directions``) and the sums over pairs (``_weighted_sum``). For rows whose terms cancel
    (``_cancelling_rows``): a cancellation by ``2^k`` leaves about ``2^(k-47)`` ulp, so rows cancelling by up to
    about ``2^45`` are within half an ulp. ``q`` and ``k`` float64 (a float32 call's rows are rounded once
    by the caller); a block of rows at a time (about ``_BLOCK_SIZE`` entries per array)."""
    q_hi, q_lo, q_norm = _exact_units(q)
    k_hi, k_lo, k_norm = _exact_units(k)
    # every row's weights if a key is recomputed (a key's gradient sums over every query), else those rows'
    rows = np.arange(len(q)) if len(key_rows) else np.asarray(query_rows)
    cos_hi, cos_lo = _sliced_matmul(q_hi[rows], k_hi)
    cos_lo += q_hi[rows] @ k_lo.T + q_lo[rows] @ k_hi.T
    g, g_low = _exact_weights(cos_hi, cos_lo, rows, temperature)
    place = np.empty(len(q), dtype=np.intp)
    place[rows] = np.arange(len(rows))
    d_q = np.empty((len(query_rows), q.shape[1]))
    step = max(1, _BLOCK_SIZE // (k.shape[0] * k.shape[1]))
    for start in range(0, len(query_rows), step):
        i = place[query_rows[start:start + step]]
        r = rows[i]
        direction = _exact_directions(k_hi, k_lo, q_hi[r, None], q_lo[r, None], cos_hi[i, :, None], cos_lo[i, :, None])
        total = _weighted_sum(g[i, :, None], direction, 1, g_low[i, :, None])
        d_q[start:start + step] = _exact_over_norm(total, tuple(v[r] for v in q_norm), temperature)
    d_k = np.empty((len(key_rows), k.shape[1]))
    step = max(1, _BLOCK_SIZE // (q.shape[0] * q.shape[1]))
    for start in range(0, len(key_rows), step):
        j = key_rows[start:start + step]
        direction = _exact_directions(q_hi[:, None], q_lo[:, None], k_hi[j], k_lo[j], cos_hi[:, j, None],
                                      cos_lo[:, j, None])
        total = _weighted_sum(g[:, j, None], direction, 0, g_low[:, j, None])
        d_k[start:start + step] = _exact_over_norm(total, tuple(v[j] for v in k_norm), temperature)
    return d_q, d_k



def _exact_own_rows(q, k, temperature: float, query_rows) -> np.ndarray:
    r"""``_exact_rows`` for ``info_nce_own_keys``: float64 ``d/d query[query_rows]``, each query against its own
    keys ``k[i]`` (key 0 its positive); the cosines are ``_sliced_dot``\ s of the double-word unit vectors. (A
    key's gradient there is one term, which cannot cancel.)"""
    q_hi, q_lo, q_norm = _exact_units(q[query_rows])
    k_hi, k_lo, _ = _exact_units(k[query_rows])
    q_hi, q_lo = q_hi[:, None], q_lo[:, None]
    parts = _slices(np.broadcast_to(q_hi, k_hi.shape))
    cos_hi, cos_lo = _sliced_dot(parts, _slices(k_hi), np.broadcast_to(q_hi, k_hi.shape), k_hi)
    cos_lo += np.einsum("nmd,nmd->nm", np.broadcast_to(q_hi, k_lo.shape), k_lo)
    cos_lo += np.einsum("nmd,nmd->nm", np.broadcast_to(q_lo, k_hi.shape), k_hi)
    g, g_low = _exact_weights(cos_hi, cos_lo, np.zeros(len(query_rows), dtype=np.intp), temperature)
    direction = _exact_directions(k_hi, k_lo, q_hi, q_lo, cos_hi[..., None], cos_lo[..., None])
    return _exact_over_norm(_weighted_sum(g[..., None], direction, 1, g_low[..., None]), q_norm, temperature)

def _similarity_logits(q_hi, q_lo, k_hi, k_lo, temperature: float, multiply):
    r"""Logits :math:`\hat q \cdot \hat k / \tau` of unit vectors given as double words: rounded, and what they miss.

    The cosines come from Ozaki's error-free splitting in its cheapest form: each unit vector is
    cut once, :math:`\hat x = x_1 + x_r` with :math:`x_1` on the grid :math:`2^{-26}` and the rest
    below it. Every product of two leading slices is a multiple of :math:`2^{-52}` below 1 and
    every partial sum of them is below :math:`|x_1|\,|y_1| \approx 1` (Cauchy-Schwarz), so
    :math:`x_1 \cdot y_1` is exact in any order of summation (any BLAS, any dimension). The rest
    :math:`x_1 \cdot y_r + x_r \cdot y` (one product over twice the features) is below
    :math:`2^{-25}\sqrt D`, so its plain rounding (at most :math:`2Du` of that) is far below what
    the logits need: the cosine to about :math:`2^{-66}` for three times the flops of the float
    cosine matrix (Ozaki's usual scheme takes six exact products), whose error, up to :math:`D u`
    over :math:`\tau`, is most of a small loss's last digits. ``multiply`` is the matrix product
    over the feature axis. The second result is
    :math:`(c - z\tau)/\tau` for :math:`c` = leading + rest and :math:`z = \mathrm{fl}(c/\tau)`, with
    :math:`z\tau` an exact two-product (Dekker). Written with in-place operations: the (queries, keys)
    arrays are the cost. float32 cuts each vector twice (``_sliced_similarities``: one cut leaves a rest
    whose float32 rounding would show) and takes :math:`\tau` as a double word (``_double_word``). The third
    result is the cosines as a double word where the caller cannot take them from the logits
    (``_cosines``): float32 (a logit below float32's normal range has lost them) and a temperature so
    small that logits overflow (``_far_logits``); else None.
    """
    dtype = q_hi.dtype
    if dtype == np.float32:
        leading, rest = _sliced_similarities(q_hi, q_lo, k_hi, k_lo, multiply)
        # the cosines themselves for _directions: from the logits (tau (z + low)) they would lose their
        # digits where cos / tau is below the normal range (a temperature above about 1e38)
        cosines = dw.two_sum(leading, rest)
    else:
        cosines = None
        q1 = (q_hi + _SLICE) - _SLICE
        k1 = (k_hi + _SLICE) - _SLICE
        leading = multiply(q1, k1)  # exact
        # the rest; the differences x_hi - x_1 are exact and the low parts' rounding is below 2^-79
        rest = multiply(np.concatenate([q1, (q_hi - q1) + q_lo], axis=-1),
                        np.concatenate([(k_hi - k1) + k_lo, k_hi], axis=-1))
    tau, tau_rest = _double_word(temperature, dtype)
    if tau_rest:  # float32: c - z (tau + tau_rest) = (c - z tau) - z tau_rest, the last term into the rest
        rest -= ((leading + rest) / tau) * tau_rest
    with np.errstate(over="ignore"):  # cos / tau past float max (tau below about 1e-308): inf logits
        logits = leading + rest
        logits /= tau if tau_rest else temperature
    if cosines is None and not np.isfinite(logits).all():
        return _far_logits(leading, rest, tau)
    if not 1 / _TAU_RANGE[dtype] < tau < _TAU_RANGE[dtype]:  # the two-product that scales its halves (no overflow)
        with np.errstate(invalid="ignore", over="ignore"):  # inf logits (tau 5e-324): their low part is 0 below
            product, error = dw.two_product(logits, tau)
            low = (((leading - product) - error) + rest) / tau
        return logits, np.where(np.isfinite(logits), low, 0.0), cosines
    splitter = dw._VELTKAMP[dtype]
    c = tau * splitter
    tau_high = c - (c - tau)
    tau_low = tau - tau_high
    high = logits * splitter  # Veltkamp's split of the logits, in place
    low = high - logits
    high -= low
    np.subtract(logits, high, out=low)
    product = logits * tau
    error = high * tau_low
    high *= tau_high
    high -= product
    high += error
    np.multiply(low, tau_high, out=error)
    high += error
    low *= tau_low
    high += low  # the two-product's error: logits tau = product + high exactly
    leading -= product
    leading -= high
    leading += rest
    leading /= tau
    return logits, leading, cosines


def _far_logits(leading, rest, tau):
    r"""Logits of cosines ``leading + rest`` over a temperature so small that some overflow (5e-324): each row's
    largest cosine taken off first, exactly (two-sums), as ``_raw_logits`` does.

    The loss and gradient depend on differences of logits only; :math:`(c - c_{top})/\tau` is 0 at the
    top and :math:`-\infty` (a weight of 0) wherever the cosines differ by more than :math:`\tau` times
    float max. The low parts are 0 (a logit's rounding matters only within about 700 of the top, and
    those cosines agree with the top's to about 1e-320), and the cosines are returned for the gradient's
    directions, which ``_cosines`` would take from the infinite logits.
    """
    cosines = dw.two_sum(leading, rest)
    top = cosines[0].max(axis=-1, keepdims=True)
    difference, error = dw.two_sum(cosines[0], -top)
    with np.errstate(over="ignore"):
        logits = (difference + (error + cosines[1])) / tau
    return logits, np.zeros_like(logits), cosines


def _sliced_similarities(q_hi, q_lo, k_hi, k_lo, multiply):
    r"""float32 cosines :math:`\hat q \cdot \hat k` of unit double words as ``leading + rest``: ``leading`` exact,
    ``rest`` to about :math:`2^{-40}` (``D`` up to a few hundred).

    One cut (``_similarity_logits``) leaves in float32 a rest of about :math:`2^{-12}\sqrt D` whose
    rounding (:math:`D u` of it) would reach an ulp of a small loss. Here each high part is cut twice
    (``_slices``: grids :math:`2^{-10}` and :math:`2^{-k}`), :math:`x_1 \cdot y_1` and
    :math:`x_1 \cdot y_2 + x_2 \cdot y_1` are exact in any order, their sum a two-sum, and the rest
    :math:`x_1 \cdot (y_3 + y_{lo}) + x_2 \cdot (y_r + y_{lo}) + (x_3 + x_{lo}) \cdot y_{hi}` is below
    :math:`2^{-k}\sqrt D`: six matrix products over the features, each in place of a wider concatenation.
    """
    q1, q2, q3, _ = _slices(q_hi)
    k1, k2, k3, k_rest = _slices(k_hi)
    # each product below and the sum of the first two are exact (every partial sum is on the grid)
    leading, middle = dw.two_sum(multiply(q1, k1), multiply(q1, k2) + multiply(q2, k1))
    q3 += q_lo
    k3 += k_lo
    k_rest += k_lo
    middle += multiply(q1, k3)
    middle += multiply(q2, k_rest)
    middle += multiply(q3, k_hi)
    return leading, middle


def _cross_entropy_rows(logits: np.ndarray, positives: np.ndarray, want_grad: bool = False):
    r"""Per-row cross-entropy of the logits (rows: queries) with class indices ``positives``, and its gradient.

    float64 takes ``cross_entropy_and_grad``. In float32 its weights would come from NumPy's float32
    ``exp`` (up to about 2 ulp off), which every gradient entry carries; here they come from
    ``multiclass._softmax_parts`` (``_double_word.exp``, within half an ulp, computed in float32), with
    :math:`-\log p_c = (z_t - z_c) + \log(1 + \text{rest}/w_t)` and :math:`p_c - 1 = -(1 - p_c)` from
    ``SoftmaxParts`` (no cancellation). The third result is None, or with ``want_grad`` in float32 the
    gradient's low part (``_gradient_double_word``).
    """
    if logits.dtype != np.float32 or not np.isfinite(logits).all():
        return (*cross_entropy_and_grad(logits, positives, reduction="none"), None)
    parts = _softmax_parts(logits, -1)
    rows = np.arange(len(positives))
    loss = parts.minus_log_probabilities(logits)[rows, positives]
    if want_grad:
        return (loss, *_gradient_double_word(logits, positives))
    complement = parts.complements()[rows, positives]
    grad = np.divide(parts.weights, parts.total, out=parts.weights)
    grad[rows, positives] = -complement
    return loss, grad, None


def _gradient_double_word(logits: np.ndarray, positives: np.ndarray, low=None,
                          exp=dw.exp_scaled) -> tuple[np.ndarray, np.ndarray]:
    r"""float32 :math:`p_j - [j = c]` per row as a double word, :math:`p = \operatorname{softmax}(z)`.

    Rounded to float32, each :math:`p_j` is off by half an ulp or more, and a key's gradient sums
    :math:`p_{ij}` times directions over the queries, where terms of both signs cancel to about an ulp
    of themselves (the atlas allows 1): the weights :math:`e^{z_j - z_t}` come from
    ``_double_word.exp_scaled`` (about :math:`2^{-29}`; the spread of a row is at most 50 here, so they
    stay normal), their sums are double words, and :math:`p_j` and
    :math:`p_c - 1 = -\sum_{j \ne c} w_j / \sum_j w_j` double-word quotients. ``low``: the logits' low
    parts (0 where a logit is -inf); ``exp``: ``_double_word.exp_double_word`` for float64's raw logits.
    """
    shifted, error = dw.two_sum(logits, -logits.max(axis=-1, keepdims=True))
    if low is not None:
        error += low
    high, low, power = exp(shifted, error)
    high, low = np.ldexp(high, power), np.ldexp(low, power)
    return _weights_minus_positives(high, low, positives)


def _corrected_cross_entropy(logits, low, positives, temperature: float, want_grad: bool):
    r"""Cross-entropy (per row) and its gradient at the logits ``logits + low``, to first order in ``low``.

    .. math:: \ell(z + \delta) = \ell(z) + \sum_j (p_j - y_j)\,\delta_j,\qquad
              p_j(z + \delta) = p_j\,\bigl(1 + \delta_j - \textstyle\sum_k p_k \delta_k\bigr)

    ``low`` is below an ulp of the logits, so the second-order terms are far below an ulp of the
    results. A loss-only call skips the correction when no row needs it: the rounded logits are off
    by at most :math:`u|z| \le u/\tau`, which moves a row's loss by at most
    :math:`(2u/\tau)(1 - p_{pos})`, :math:`1 - p_{pos} = -\mathrm{expm1}(-\ell)`; within ``2u`` of
    :math:`\ell` where :math:`1.1\,(-\mathrm{expm1}(-\ell)) \le \tau \ell` (a large loss, or
    :math:`\tau` above 1).
    """
    loss, d_logits, d_low = _cross_entropy_rows(logits, positives, want_grad)
    with np.errstate(over="ignore"):  # tau l past float max (tau near it): inf, and the test holds
        enough = np.all(1.1 * -np.expm1(-loss) <= temperature * loss)
    if not want_grad and enough:
        return loss, d_logits, d_low
    loss = loss + np.sum(d_logits * low, axis=-1)
    if want_grad and d_low is None and np.isfinite(logits).all():
        # float64: the gradient as a double word too (the loss above keeps its old, rounded weights): a
        # row's directions can cancel (2 or 3 features), and then each weight's rounding shows
        d_logits, d_low = _gradient_double_word(logits, positives, exp=dw.exp_double_word)
    if want_grad:
        probabilities = d_logits.copy()
        probabilities[np.arange(len(positives)), positives] += 1
        # p_j (delta_j - sum_k p_k delta_k) = p_j ((delta_j - delta_t) - sum_k p_k (delta_k - delta_t)), t the
        # row's largest p: at t (p_t near 1 in a confident row) the plain sum cancels to far below its
        # rounding, which float32's logits (u/tau absolute) make 20 ulp of a small gradient (float64 too: a
        # query whose others weigh e^-50 had its positive's weight 2^25 ulp off, seen where directions cancel)
        top = probabilities.argmax(axis=-1)[:, None]
        low -= np.take_along_axis(low, top, axis=-1)
        low -= np.sum(probabilities * low, axis=-1, keepdims=True)
        low *= probabilities
        if d_low is None:
            d_logits += low
        else:  # float32: the gradient is a double word (d_logits, d_low)
            d_low += low
    return loss, d_logits, d_low


_SPREAD32 = 50.0  # float32 logits spread wider than this in a row: softmax weights below e^-50 (see below)


def _weights_below_float32(logits: np.ndarray) -> bool:
    r"""Whether a float32 gradient of these logits would need softmax weights below float32's normal range.

    A weight :math:`e^{-50}` times a direction (down to about :math:`10^{-11}` for nearly parallel pairs)
    nears float32's smallest normal number, and the gradient multiplies it by :math:`1/(\tau |x|)`, which
    can bring an underflowed product back into range (a key whose every query ranks it far below the
    others has a gradient made of nothing else: 0 where 4e-44 is exact). Such calls (logits spread by more
    than 50 in a row: :math:`\tau` below about 0.04 with normalised vectors) are computed in float64.
    """
    if logits.dtype != np.float32 or not logits.size:
        return False
    with np.errstate(invalid="ignore"):  # inf - inf: NaN, and a NaN spread is taken as too wide
        spread = logits.max(axis=-1) - logits.min(axis=-1)
    return not bool(np.all(spread <= _SPREAD32))


_ZERO_ROW = -(1 << 20)  # _raw_rows' exponent of a zero row: far below 2^-1074 (int32 sums stay in range)
_ALWAYS = 2.0**-1000  # _corrected_cross_entropy's temperature for raw logits: always corrected (unless every loss is 0)


def _raw_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``x = a 2^e`` (exactly): ``a`` of norm in [1/2, 1) (zero rows: 0) and the integer exponents ``e``
    (keepdims), by two powers of two (the largest entry's, then the norm's): no row overflows or underflows.
    A zero row's exponent is ``_ZERO_ROW``, below every other: it must not set the scale of the rows it joins."""
    largest = np.max(np.abs(x), axis=-1, keepdims=True, initial=0.0)
    first = _power_of_two_at(largest)
    a = x / first
    second = 2 * _power_of_two_at(np.sqrt(np.einsum("...d,...d->...", a, a))[..., None])
    a /= second
    return a, np.where(largest > 0, (np.frexp(first)[1] - 1) + (np.frexp(second)[1] - 1), _ZERO_ROW)


def _raw_parts(x: np.ndarray) -> list:
    r"""Rows ``x`` as a sum of ``_raw_rows`` parts :math:`\sum_p a_p 2^{e_p}`, exactly, each part holding the
    entries within ``_BAND`` of its largest: one part unless a row's entries span more than that (1 beside 1e-130,
    1e308 beside 1e-310), whose small entries would lose digits below the normal range in :math:`a_1` and in
    their products (or underflow to 0); they make the next part, in units of their own power of two."""
    parts = []
    while True:
        a, e = _raw_rows(x)
        small = (np.abs(a) < _BAND) & (x != 0)
        if not small.any():
            parts.append((a, e))
            return parts
        parts.append((np.where(small, 0.0, a), e))
        x = np.where(small, x, 0.0)


_BAND = 2.0**-400  # _raw_parts: entries and their slices' products stay far above 2^-1022


def _sum_of_parts(terms: list) -> tuple:
    r"""The double words :math:`(h + l)\,2^{E}` of ``terms`` summed elementwise as one, in units of the largest
    power among the nonzero terms (the others' parts below :math:`2^{-1074}` of it underflow: far below
    the products' own error): ``(high, low, exponent)``."""
    terms = [(*dw.two_sum(high, low), exponent) for high, low, exponent in terms]  # high 0 only for a 0 term
    top = terms[0][2] * 0 + _ZERO_ROW
    for high, _, exponent in terms:
        top = np.maximum(top, np.where(high != 0, exponent, _ZERO_ROW))
    total, total_low = np.zeros(top.shape), np.zeros(top.shape)
    for high, low, exponent in terms:
        shift = np.where(high != 0, exponent - top, 0)
        total, error = dw.two_sum(total, np.ldexp(high, shift))
        total_low += error + np.ldexp(low, shift)
    total, total_low = dw.two_sum(total, total_low)
    return total, total_low, np.where(top == _ZERO_ROW, 0, top)


def _raw_entries(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x = a 2^e`` entry by entry (``np.frexp``: ``a`` in [1/2, 1)), zeros with the exponent ``_ZERO_ROW``."""
    a, e = np.frexp(x)
    return a, np.where(x != 0, e, np.int32(_ZERO_ROW)).astype(np.int32)


def _raw_logits(q: np.ndarray, k: np.ndarray, temperature: float, multiply):
    r"""Logits :math:`q_i \cdot k_j / \tau` of raw embeddings, each row shifted by its largest, as a double word.

    With :math:`q_i = a_i 2^{e_i}`, :math:`k_j = b_j 2^{f_j}` (``_raw_rows``: norms below 1) and
    :math:`\tau = m\,2^{g}`, :math:`m \in [1/2, 1)`, the logit is :math:`(a_i \cdot b_j\,2^{f_j - F_i}/m)\,
    2^{e_i + F_i - g}` with :math:`F_i` the largest :math:`f_j` of the row. :math:`a \cdot b` is a double
    word from Ozaki's slices (``_slices``, as ``_sliced_dot``: about :math:`2^{-100}` of :math:`|a|\,|b|`
    where the plain product is off by up to :math:`D u`, which the loss, a small difference of large
    logits, carried: 4 to 54 ulp), the quotient by :math:`m` a double word (Dekker's two-product), and the
    row's largest is taken off (a two-sum) before the power of two is applied: the loss and its gradient
    depend on logit differences only, so products past float max (embeddings of 1e200) give the finite
    loss, and a difference past float max is -inf (a weight of 0), as exactly. Returns ``(logits, low)``,
    low parts 0 where a logit is -inf. ``multiply`` is the matrix product over the feature axis. Rows whose
    entries span more than ``_BAND`` come in parts (``_raw_parts``), each pair of parts a sliced product
    with its own power of two, summed as double words (``_sum_of_parts``).
    """
    terms = []
    for a, e in _raw_parts(q):
        for b, f in _raw_parts(k):
            (a1, a2, a3, _), (b1, b2, b3, b_rest) = _slices(a), _slices(b)
            high, low = dw.two_sum(multiply(a1, b1), multiply(a1, b2) + multiply(a2, b1))  # both exact
            low += multiply(a1, b3)
            low += multiply(a2, b_rest)
            low += multiply(a3, b)
            terms.append((high, low, e + f[..., 0]))  # a . b 2^(e + f)
    high, low, exponent = terms[0] if len(terms) == 1 else _sum_of_parts(terms)
    mantissa, g = math.frexp(temperature)
    quotient = high / mantissa
    product, error = dw.two_product(quotient, mantissa)
    quotient, low = dw.two_sum(quotient, (((high - product) - error) + low) / mantissa)
    exponent = exponent - g  # logit = (quotient + low) 2^exponent, |quotient| < 2
    unit = _top_exponent(quotient, exponent)
    with np.errstate(over="ignore", invalid="ignore"):  # logits far below the top: -inf, their weight 0
        quotient, low = np.ldexp(quotient, exponent - unit), np.ldexp(low, exponent - unit)
        low = np.where(np.isfinite(quotient), low, 0.0)
        # the row's largest double word: the largest high part, and of those the largest low part (a key within
        # an ulp of the top one would otherwise be left above 0, and its difference could overflow to +inf)
        leading = quotient == quotient.max(axis=-1, keepdims=True)
        top = np.argmax(np.where(leading, low, -np.inf), axis=-1)[:, None]
        difference, rounding = dw.two_sum(quotient, -np.take_along_axis(quotient, top, axis=-1))
        rounding += low - np.take_along_axis(low, top, axis=-1)
        difference, rounding = dw.two_sum(difference, np.where(np.isfinite(difference), rounding, 0.0))
        logits = np.ldexp(difference, unit)  # differences past float max: -inf, their weight 0
        low = np.ldexp(rounding, unit)
    return logits, np.where(np.isfinite(logits), low, 0.0)


def _top_exponent(quotient: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    r"""Per row, the power of two to take the logits :math:`x\,2^{E}` in (keepdims): 0, or the size of the
    row's largest logit where that is past 1 (the largest positive one, else the negative one nearest 0), so
    that the top logit does not overflow, every logit above it is in range and only logits below
    :math:`2^{-1074}` of it underflow."""
    size = np.where(quotient != 0, np.frexp(quotient)[1] + exponent, _ZERO_ROW)
    positive = quotient > 0
    largest = np.max(np.where(positive, size, _ZERO_ROW), axis=-1, keepdims=True)
    nearest = np.min(np.where(quotient < 0, size, -_ZERO_ROW), axis=-1, keepdims=True)
    top = np.where(positive.any(axis=-1, keepdims=True), largest,
                   np.where((quotient == 0).any(axis=-1, keepdims=True), 0, nearest))
    return np.maximum(top, 0)


def _over_temperature(high: np.ndarray, low: np.ndarray, exponent, temperature: float) -> np.ndarray:
    r""":math:`(h + l)\,2^{E} / \tau` rounded about once: the quotient by :math:`\tau`'s mantissa a double word,
    its exponent and ``E`` applied last (exact unless the result is subnormal or past float max: inf)."""
    mantissa, g = math.frexp(temperature)
    quotient = high / mantissa
    product, error = dw.two_product(quotient, mantissa)
    quotient += (((high - product) - error) + low) / mantissa
    with np.errstate(over="ignore"):
        return np.ldexp(quotient, exponent - g)


def _sliced_matmul(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`x y^T` (the last axes summed) as a double word from Ozaki's slices (``_slices``, ``_sliced_dot``):
    every row scaled by its own powers of two (``_raw_rows``, exact) to a norm below 1, so that small rows keep
    their relative accuracy (a confident query's weights are all tiny), six matrix products."""
    (x, x_exponent), (y, y_exponent) = _raw_rows(x), _raw_rows(y)
    (x1, x2, x3, _), (y1, y2, y3, y_rest) = _slices(x), _slices(y)
    high, low = dw.two_sum(x1 @ y1.T, x1 @ y2.T + x2 @ y1.T)  # both exact
    low += x1 @ y3.T
    low += x2 @ y_rest.T
    low += x3 @ y.T
    exponent = x_exponent + y_exponent.T
    return np.ldexp(high, exponent), np.ldexp(low, exponent)


def _raw_weights(logits: np.ndarray, low: np.ndarray, positives: np.ndarray):
    r""":math:`p_{ij} - [j = c]` of the raw logits ``logits + low`` as ``(high, low, exponent)``: a double word of
    size about 1 times :math:`2^{\mathrm{exponent}}`, so that weights below the normal range (a row's logits
    spread past 708) keep their digits, which the gradient's huge embeddings can bring back into range.

    The weights :math:`e^{z_j}` come from ``_double_word.exp_double_word`` (about :math:`2^{-68}`, their
    powers of two apart), their total (at least 1: the largest logit is 0) is a double word, and
    :math:`p_c - 1 = -\sum_{j \ne c} w_j / \sum_j w_j` with the others' sum in units of their largest power.
    """
    # below -1400 (and -inf): a weight of 0 (exp_double_word clips its argument near -1500, and a weight of
    # e^-1400 = 2^-2020 times an embedding over the temperature stays below 2^-1074 of the other terms)
    alive = logits > -1400.0
    high, low, power = dw.exp_double_word(np.where(alive, logits, 0.0), np.where(alive, low, 0.0))
    high[~alive] = 0.0
    low[~alive] = 0.0
    power[~alive] = _ZERO_ROW  # below every live weight's: the sums are taken in units of the largest
    total, total_low = _pairwise_total(np.ldexp(high, power))
    total_low += np.sum(np.ldexp(low, power), axis=-1)
    total, total_low = total[:, None], total_low[:, None]
    rows = np.arange(len(positives))
    others = power.copy()
    others[rows, positives] = _ZERO_ROW
    largest = others.max(axis=-1, keepdims=True)
    shift = np.where(others == _ZERO_ROW, _ZERO_ROW, others - largest)
    rest, rest_low = _pairwise_total(np.ldexp(high, shift))
    rest_low += np.sum(np.ldexp(low, shift), axis=-1)
    weight, weight_low = dw.divide_unchecked(high, low, total, total_low)
    complement, complement_low = dw.divide_unchecked(rest[:, None], rest_low[:, None], total, total_low)
    weight[rows, positives], weight_low[rows, positives] = -complement[:, 0], -complement_low[:, 0]
    power[rows, positives] = largest[:, 0]
    return weight, weight_low, power


def _scaled_total(product: tuple, exponent: np.ndarray, axis: int):
    r"""The sum along ``axis`` of double-word terms :math:`(h + l)\,2^{E}` (``exponent`` broadcast against
    them) as a double word in units of the largest power, which is returned too (keepdims)."""
    largest = exponent.max(axis=axis, keepdims=True)
    high, low = (np.ldexp(v, exponent - largest) for v in product)
    total, total_low = _pairwise_total(np.moveaxis(high, axis, -1))
    return (total, total_low + np.sum(low, axis=axis)), np.squeeze(largest, axis)


def _raw_gradients(q, k, logits, low, positives, temperature, own_keys: bool):
    r"""``(d/d query, d/d keys)`` of InfoNCE with raw embeddings from the double-word logits ``_raw_logits``.

    The softmax weights :math:`p_{ij} - [j = c]` are double words with their powers of two apart
    (``_raw_weights``). :math:`\partial/\partial q_i = \tau^{-1}\sum_{j \ne c} p_{ij}(k_j - k_c)`
    (:math:`\sum_j p_{ij} = 1`): the differences are two-sums of the two keys' entries in units of the
    larger's power of two (each entry its own, ``_raw_entries``: a row's entries may span past the float
    range), so keys near their positive (near ties) do not cancel the positive's term; the products are
    exact (``_weighted_sum``) and summed in units of each component's largest term (``_scaled_total``). :math:`\partial/\partial k_j = \tau^{-1}\sum_i (p_{ij} - [i = j])\,q_i` the
    same way; the temperature comes last (``_over_temperature``). Past ``_PAIRWISE_SIZE`` (queries x
    keys x features) ``info_nce`` takes sliced matrix products (``_sliced_matmul``) of the weights instead.
    """
    g, g_low, power = _raw_weights(logits, low, positives)
    rows = np.arange(len(positives))
    small = q.shape[0] * k.shape[0] * q.shape[1] <= _PAIRWISE_SIZE
    if own_keys or small:
        # each entry as its own mantissa and power of two: a row's entries may span past the float range
        # (1e308 beside 1e-310), and every component of the gradients is a sum of its own column's terms
        (a, e), (b, f) = _raw_entries(q), _raw_entries(k)
    if own_keys:
        key, key_exponent = b, f  # (N, M, D)
        positive, positive_exponent = b[rows, positives][:, None, :], f[rows, positives][:, None, :]  # (N, 1, D)
    elif small:
        key, key_exponent = b[None, :, :], f[None, :, :]
        positive, positive_exponent = b[positives][:, None, :], f[positives][:, None, :]
    else:  # the weights' terms cancel (p_ii - 1 against the others): products exact to about 2^-100
        (a, e), (b, f) = _raw_rows(q), _raw_rows(k)
        top_key, top_query = int(f.max()), int(e.max())
        keys, query = np.ldexp(b, f - top_key), np.ldexp(a, e - top_query)
        g, g_low = np.ldexp(g, power), np.ldexp(g_low, power)
        d_q, d_k = _sliced_matmul(g, keys.T), _sliced_matmul(g.T, query.T)
        d_q, d_k = (d_q[0], d_q[1] + g_low @ keys), (d_k[0], d_k[1] + g_low.T @ query)
        return (_over_temperature(*d_q, top_key, temperature), _over_temperature(*d_k, top_query, temperature))
    pair = np.maximum(key_exponent, positive_exponent)  # each difference in units of the larger entry
    gap = dw.two_sum(np.ldexp(key, key_exponent - pair), -np.ldexp(positive, positive_exponent - pair))
    product = _weighted_sum(g[..., None], gap, None, g_low[..., None])
    d_q, d_q_exponent = _scaled_total(product, power[..., None] + pair, 1)
    query = a[:, None, :]
    product = _weighted_sum(g[..., None], (query, 0.0), None, g_low[..., None])
    exponent = power[..., None] + e[:, None, :]
    if own_keys:
        return (_over_temperature(*d_q, d_q_exponent, temperature),
                _over_temperature(*product, exponent, temperature))
    d_k, d_k_exponent = _scaled_total(product, exponent, 0)
    return (_over_temperature(*d_q, d_q_exponent, temperature), _over_temperature(*d_k, d_k_exponent, temperature))


def _info_nce(query, keys, temperature, normalize, want_loss, want_grad, reduction="mean", native=True):
    temperature = POSITIVE.validate(temperature, "temperature")
    normalize = validate_flag(normalize, "normalize")
    # float32 in float32 with normalised vectors only (the module docstring says why)
    named = {"query": query, "keys": keys}
    inputs = _inputs(named, temperature) if native and normalize else Inputs(named)
    q, k = inputs.arrays
    for array, name in ((q, "query"), (k, "keys")):
        check_finite(array, name)
        if array.ndim != 2:
            raise ValueError(f"{name} must be a 2-D array (samples, features); got shape {array.shape}")
    if q.shape[1] != k.shape[1]:
        raise ValueError(f"query has {q.shape[1]} features and keys {k.shape[1]}; expected the same number")
    if q.shape[0] == 0 or k.shape[0] < q.shape[0]:
        raise ValueError(f"keys must have at least one row per query (row i is query i's positive); "
                         f"got {q.shape[0]} queries and {k.shape[0]} keys")
    positives = np.arange(q.shape[0])
    if normalize:
        q_hat, q_low, q_norm = _unit_rows(q)
        k_hat, k_low, k_norm = _unit_rows(k)
        for norm, name in ((q_norm[0], "query"), (k_norm[0], "keys")):
            if (norm == 0).any():
                row = int(np.flatnonzero(norm.ravel() == 0)[0])
                raise ValueError(f"{name} row {row} is a zero vector; its cosine similarity is undefined")
        # cosines to about 2^-66 (_similarity_logits), their rounding carried into the cross-entropy
        small = q.shape[0] * k.shape[0] * q.shape[1] <= _PAIRWISE_SIZE
        if q.dtype == np.float32 and not small:  # its similarity products: see the module docstring
            return _info_nce(query, keys, temperature, normalize, want_loss, want_grad, reduction, native=False)
        logits, low, cosines = _similarity_logits(q_hat, q_low, k_hat, k_low, temperature, lambda x, y: x @ y.T)
        if want_grad and _weights_below_float32(logits):
            return _info_nce(query, keys, temperature, normalize, want_loss, want_grad, reduction, native=False)
        if want_grad:  # every pair's cosine for _directions (low is spent below)
            cos = cosines if cosines is not None else _cosines(logits, low, temperature)
        loss, d_logits, d_low = _corrected_cross_entropy(logits, low, positives, temperature, want_grad)
    else:  # raw dot products as double words, their low parts carried (_raw_logits)
        logits, low = _raw_logits(q, k, temperature, lambda x, y: x @ y.T)
        loss = _corrected_cross_entropy(logits, low, positives, _ALWAYS, False)[0] if want_loss else None
    grads = None
    if want_grad and normalize:
        # through x / |x|: (g - (g . x_hat) x_hat) / |x|, whose projection cancels for nearly parallel pairs
        if small:
            # small problems: every pair's own k_hat - cos q_hat and q_hat - cos k_hat (_directions)
            c = (cos[0][:, :, None], cos[1][:, :, None])
            g, g_low = d_logits[:, :, None], None if d_low is None else d_low[:, :, None]
            d_q_hat = _weighted_sum(g, _directions(k_hat, k_low, q_hat[:, None], q_low[:, None], *c), 1, g_low)
            d_k_hat = _weighted_sum(g, _directions(q_hat[:, None], q_low[:, None], k_hat, k_low, *c), 0, g_low)
        else:  # the same directions, a block of queries at a time (bounded memory)
            d_q_hat, d_k_hat = _blockwise_gradients(d_logits, d_low, cos, q_hat, q_low, k_hat, k_low)
        d_q = _over_norm(*d_q_hat[:1], q_norm, temperature, d_q_hat[1])
        d_k = _over_norm(*d_k_hat[:1], k_norm, temperature, d_k_hat[1])
        # rows whose terms cancel (few features): recomputed from double words good to about 2^-100
        query_rows = _cancelling_rows(d_q_hat[0], d_logits, cos[0], q_hat, k_hat, temperature)
        key_rows = _cancelling_rows(d_k_hat[0], d_logits.T, cos[0].T, k_hat, q_hat, temperature)
        if len(query_rows) or len(key_rows):
            exact_q, exact_k = _exact_rows(q.astype(np.float64), k.astype(np.float64), temperature, query_rows,
                                           key_rows)
            with np.errstate(over="ignore"):  # float32: a gradient past its max is inf
                d_q[query_rows], d_k[key_rows] = exact_q, exact_k
        if q.shape[1] == 1:  # x / |x| = sign(x) is constant: 0 exactly (the unit vectors' low parts left 1e-23)
            d_q[...], d_k[...] = 0, 0
        grads = (inputs.finish_grad(d_q, 0), inputs.finish_grad(d_k, 1))
    elif want_grad:
        d_q, d_k = _raw_gradients(q, k, logits, low, positives, temperature, own_keys=False)
        grads = (inputs.finish_grad(d_q, 0), inputs.finish_grad(d_k, 1))
    return _split((inputs.finish_loss(loss, reduction) if want_loss else None, grads), want_loss, want_grad)


def info_nce(query, keys, *, temperature: float = 0.1, normalize: bool = True, reduction: str = "mean"):
    r"""InfoNCE: cross-entropy of picking each query's positive key among all keys.

    .. math:: s_{ij} = \frac{\hat q_i \cdot \hat k_j}{\tau},\qquad
              \ell_i = -\log \frac{e^{s_{ii}}}{\sum_j e^{s_{ij}}},\qquad
              \hat x = x / \|x\|

    .. math:: \frac{\partial \ell}{\partial s_{ij}} = \operatorname{softmax}(s_i)_j - [i = j],\qquad
              \frac{\partial \ell}{\partial \hat q_i} = \frac{1}{\tau} \sum_j \frac{\partial \ell}{\partial s_{ij}}\,\hat k_j

    and through the normalisation :math:`\partial/\partial q = (g - (g \cdot \hat q)\hat q)/\|q\|`.
    ``query`` ``(N, D)`` and ``keys`` ``(M, D)``, :math:`M \ge N`: key :math:`i`
    is query :math:`i`'s positive (e.g. another view of the same image), every
    other key a negative (rows past :math:`N` are extra negatives, as a memory
    bank). A lower ``temperature`` :math:`\tau` (> 0, default 0.1) sharpens the
    softmax onto the hardest negatives. ``normalize=False`` uses raw dot
    products (as double words, each row's largest taken off before the
    temperature's power of two: embeddings of 1e200 give the finite loss, and
    :math:`\partial/\partial q_i = \tau^{-1}\sum_{j} p_{ij}(k_j - k_i)`,
    ``_raw_gradients``). The loss is :math:`\ge 0` and at most :math:`\log M` away from a
    lower bound on the mutual information. One loss per query; the gradient
    is ``(d/d query, d/d keys)`` of the *sum* of the per-query losses (each
    key appears in every query's loss). With ``normalize=True`` every pair
    (query, key) has its own direction :math:`\hat k_j - \cos_{ij}\hat q_i` as a
    double word, so the gradients stay within 4 ulp where plain matrix products
    and the projection cancel (``_blockwise_gradients``). Past 2^14 queries x keys
    x features, pairs with :math:`|\cos_{ij}| \le 1/2` go through sliced matrix
    products (about 3 times the plain ones: 58 ms instead of 18 ms at N = M = 256,
    D = 128; 0.63 s instead of 0.19 s at N = M = 1024, D = 64); when more than an
    eighth of the pairs are nearer than that (clustered embeddings, few features)
    every pair takes its own direction, a block of queries at a time, at 25 to 60
    times the plain cost (2.1 s and 12 s at those sizes). Rows whose terms cancel (few features:
    with 2 every direction of a row lies on one line) are recomputed from double words good to
    about ``2^-100`` (``_cancelling_rows``, ``_exact_rows``; see the module docstring). Van den Oord, Li and Vinyals,
    "Representation Learning with Contrastive Predictive Coding", 2018, eq. 4;
    with cosine similarity and a temperature as in Chen et al.'s SimCLR
    (ICML 2020, whose NT-Xent also counts the other queries as negatives).
    """
    validate_reduction(reduction)
    return _info_nce(query, keys, temperature, normalize, True, False, reduction)


def info_nce_grad(query, keys, *, temperature: float = 0.1, normalize: bool = True):
    r"""``(dL/dquery, dL/dkeys)`` for :math:`L = \sum_i \ell_i`, each shaped like its argument."""
    return _info_nce(query, keys, temperature, normalize, False, True)


def info_nce_and_grad(query, keys, *, temperature: float = 0.1, normalize: bool = True, reduction: str = "mean"):
    """``(info_nce(...), info_nce_grad(...))`` from one validation and one softmax."""
    validate_reduction(reduction)
    return _info_nce(query, keys, temperature, normalize, True, True, reduction)


# ------------------------------------------------------------ InfoNCE with a key set per query


def _info_nce_own_keys(query, keys, temperature, normalize, want_loss, want_grad, reduction="mean", native=True):
    temperature = POSITIVE.validate(temperature, "temperature")
    normalize = validate_flag(normalize, "normalize")
    # float32 in float32 with normalised vectors only (the module docstring says why)
    named = {"query": query, "keys": keys}
    inputs = _inputs(named, temperature) if native and normalize else Inputs(named)
    q, k = inputs.arrays
    for array, name in ((q, "query"), (k, "keys")):
        check_finite(array, name)
    if q.ndim != 2:
        raise ValueError(f"query must be a 2-D array (queries, features); got shape {q.shape}")
    if k.ndim != 3:
        raise ValueError(f"keys must be a 3-D array (queries, keys per query, features); got shape {k.shape}")
    if k.shape[0] != q.shape[0] or k.shape[2] != q.shape[1] or k.shape[1] == 0:
        raise ValueError(f"keys must be (N, M, D) with M >= 1 for a query (N, D) (key 0 of each row is its "
                         f"positive); got query {q.shape} and keys {k.shape}")
    positives = np.zeros(q.shape[0], dtype=np.intp)
    if normalize:
        q_hat, q_low, q_norm = _unit_rows(q)
        k_hat, k_low, k_norm = _unit_rows(k)
        for norm, name in ((q_norm[0], "query"), (k_norm[0], "keys")):
            if (norm == 0).any():
                row = np.unravel_index(int(np.flatnonzero(norm.ravel() == 0)[0]), norm.shape[:-1])
                raise ValueError(f"{name} row {tuple(int(i) for i in row)} is a zero vector; its cosine similarity "
                                 f"is undefined")
        # (N, M, D) @ (N, D, 1): each query against its own keys; cosines to about 2^-66 (_similarity_logits)
        logits, low, cosines = _similarity_logits(q_hat, q_low, k_hat, k_low, temperature,
                                         lambda x, y: (y @ x[:, :, None])[:, :, 0])
        if want_grad and _weights_below_float32(logits):
            return _info_nce_own_keys(query, keys, temperature, normalize, want_loss, want_grad, reduction, False)
        cos = (cosines if cosines is not None else _cosines(logits, low, temperature)) if want_grad else None
        loss, d_logits, d_low = _corrected_cross_entropy(logits, low, positives, temperature, want_grad)
    else:  # raw dot products as double words, their low parts carried (_raw_logits)
        logits, low = _raw_logits(q, k, temperature, lambda x, y: np.einsum("nmd,nd->nm", y, x))
        loss = _corrected_cross_entropy(logits, low, positives, _ALWAYS, False)[0] if want_loss else None
    grads = None
    if want_grad and normalize:
        # through x / |x|: (g - (g . x_hat) x_hat) / |x|, as every pair's own k_hat - cos q_hat and
        # q_hat - cos k_hat (_directions: the plain projection cancels for nearly parallel pairs)
        g, c = d_logits[:, :, None], (cos[0][:, :, None], cos[1][:, :, None])
        g_low = None if d_low is None else d_low[:, :, None]
        d_q_hat = _weighted_sum(g, _directions(k_hat, k_low, q_hat[:, None], q_low[:, None], *c), 1, g_low)
        d_k_hat = _weighted_sum(g, _directions(q_hat[:, None], q_low[:, None], k_hat, k_low, *c), None, g_low)
        d_q = _over_norm(d_q_hat[0], q_norm, temperature, d_q_hat[1])
        # a query's terms can cancel (few features): those rows from double words good to about 2^-100
        bound = np.einsum("nm,nmd->nd", np.abs(d_logits), np.abs(k_hat))
        bound += np.sum(np.abs(d_logits * cos[0]), axis=-1, keepdims=True) * np.abs(q_hat)
        query_rows = _cancelling_rows(d_q_hat[0], None, None, None, None, temperature, bound)
        if len(query_rows):
            with np.errstate(over="ignore"):  # float32: a gradient past its max is inf
                d_q[query_rows] = _exact_own_rows(q.astype(np.float64), k.astype(np.float64), temperature,
                                                  query_rows)
        d_k = _over_norm(d_k_hat[0], k_norm, temperature, d_k_hat[1])
        if q.shape[1] == 1:  # x / |x| = sign(x) is constant: 0 exactly (the unit vectors' low parts left 1e-23)
            d_q[...], d_k[...] = 0, 0
        grads = (inputs.finish_grad(d_q, 0), inputs.finish_grad(d_k, 1))
    elif want_grad:
        d_q, d_k = _raw_gradients(q, k, logits, low, positives, temperature, own_keys=True)
        grads = (inputs.finish_grad(d_q, 0), inputs.finish_grad(d_k, 1))
    return _split((inputs.finish_loss(loss, reduction) if want_loss else None, grads), want_loss, want_grad)


def info_nce_own_keys(query, keys, *, temperature: float = 0.1, normalize: bool = True, reduction: str = "mean"):
    r"""InfoNCE where each query has its own keys: key 0 of its row is the positive, the others its negatives.

    .. math:: s_{im} = \frac{\hat q_i \cdot \hat k_{im}}{\tau},\qquad
              \ell_i = -\log \frac{e^{s_{i0}}}{\sum_m e^{s_{im}}},\qquad
              \frac{\partial \ell_i}{\partial s_{im}} = \operatorname{softmax}(s_i)_m - [m = 0]

    ``query`` ``(N, D)``, ``keys`` ``(N, M, D)``: query :math:`i` is scored
    against ``keys[i]`` only (no key is shared, unlike ``info_nce``, where
    every query sees every key). Query :math:`i` alone with ``keys[i]`` gives
    the same loss and gradients as ``info_nce(query[i:i+1], keys[i])``; this
    form scores a whole grid of such one-query problems in one call.
    ``temperature``, ``normalize`` and ``reduction`` as in ``info_nce``;
    one loss per query; the gradient is ``(d/d query, d/d keys)`` of the sum
    of the per-query losses, shaped like the arguments.
    """
    validate_reduction(reduction)
    return _info_nce_own_keys(query, keys, temperature, normalize, True, False, reduction)


def info_nce_own_keys_grad(query, keys, *, temperature: float = 0.1, normalize: bool = True):
    r"""``(dL/dquery, dL/dkeys)`` for :math:`L = \sum_i \ell_i` of ``info_nce_own_keys``, shaped like the arguments."""
    return _info_nce_own_keys(query, keys, temperature, normalize, False, True)


def info_nce_own_keys_and_grad(query, keys, *, temperature: float = 0.1, normalize: bool = True,
                               reduction: str = "mean"):
    """``(info_nce_own_keys(...), info_nce_own_keys_grad(...))`` from one validation and one softmax."""
    validate_reduction(reduction)
    return _info_nce_own_keys(query, keys, temperature, normalize, True, True, reduction)
