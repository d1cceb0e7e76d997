r"""Bounding-box regression losses: IoU, GIoU, DIoU and CIoU, on boxes :math:`(x_1, y_1, x_2, y_2)`.

Boxes are arrays whose **last axis has length 4**, :math:`(x_1, y_1, x_2, y_2)`
with :math:`x_1 \le x_2` and :math:`y_1 \le y_2`; predicted and target boxes are
paired elementwise (leading axes broadcast), one loss per pair, then
``reduction``. Gradients are with respect to the four coordinates of the
predicted box, shaped like ``pred_boxes`` (the target is not differentiated).

``giou``, ``diou`` and ``ciou`` compute exactly torchvision's
``generalized_box_iou_loss``, ``distance_box_iou_loss`` and
``complete_box_iou_loss`` (``torchvision.ops``), including their ``eps``
(default 1e-7, added to the union, the enclosing area and the squared
diagonal), with two differences: the default ``reduction`` is losslab's
``"mean"`` (torchvision's is ``"none"``), and ``ciou_grad`` is the true
derivative of the CIoU loss, while torchvision (following the paper) treats
its trade-off weight :math:`\alpha` as a constant during back-propagation
(``torch.no_grad()``); the two differ by :math:`v\,\partial\alpha/\partial b`.
With :math:`I`, :math:`U` the intersection and union areas, :math:`C` the
area of the smallest enclosing box, :math:`\rho` the distance between the
centres and :math:`c` the diagonal of the enclosing box:

============  ======================================================================
``iou_loss``  :math:`1 - I/U`
``giou``      :math:`1 - I/U + (C - U)/C`
``diou``      :math:`1 - I/U + \rho^2/c^2`
``ciou``      :math:`1 - I/U + \rho^2/c^2 + \alpha v`
============  ======================================================================

Only ``iou_loss`` is flat (1, gradient 0) for every pair of disjoint boxes:
the others keep pulling a non-overlapping prediction towards its target.

Numerics: each pair is scaled by a power of two so that its largest
coordinate is about 1 (exact; ``eps`` is scaled with the areas), so boxes at
any scale (1e-200 or 1e300) neither overflow nor underflow. One scale cannot
hold a pair whose sides differ by more than the float range allows (a box of
aspect 1e-300, or 1e-300 the size of the other: the areas are products of a
1e150 and a 1e-150 side, the diagonal a square of the largest extent): a pair
with a side, or a side of the overlap or of the gap between the boxes, below
2^-40 of its scale is computed apart (``_Pair._extreme_pairs``, ``_x_losses``),
from the exact sides in its own units, in double words with an integer exponent
of their own, so every area, sum and ratio is in range and only the final
rounding overflows or underflows, where the true value is outside the float
range; GIoU's :math:`C - U` and gradient and DIoU's distance gradient there
(and GIoU's everywhere) are written in non-negative pieces and exact
differences of the coordinates, without the cancellations of the plain forms
where a box nearly fills the enclosing box. :math:`1 - I/U`
is computed as :math:`(U - I + \epsilon)/(U + \epsilon)` with
:math:`U - I` summed from non-negative pieces (the parts of each box outside
the other), so a nearly perfect box keeps the digits of its small loss, and
:math:`U = I + (U - I)`. The gradients avoid the differences that cancel: the
IoU term's is a product of non-negative pieces (``_Pair.iou_terms``), GIoU's
uses :math:`(U + \epsilon)/(C + \epsilon)` where the boxes cover little of their
enclosing box, DIoU's distance term and CIoU's aspect term are formed in
double words from exact differences of the coordinates (two-sum). The DIoU and
CIoU gradients carry the IoU term in double words too (``_Pair.iou_terms_double``),
CIoU's aspect gap as a double-word arctangent and its penalty's gradient, a
product of about eight factors with the gap cubed among them, in double words,
and round once. Each loss and gradient is within about 4 ulp of the exact value
(issue 16; the DIoU and CIoU gradients within 2.5).
Where the loss has a kink (an edge of the prediction exactly on an edge of the
target, or on the boundary of overlap) the gradient takes, for each
:math:`\max`/:math:`\min`, the branch of the target's coordinate.

float32 inputs are computed in float32 (no float64 array is made): the same
steps with float32's constants (``FORMATS``: the arctangent table, :math:`\pi/2`
and :math:`4/\pi^2` as float32 double words, about 48 bits; the series of
``_arctan2_double`` is already far below that at :math:`|r| \le 1/64`), the same
power-of-two scaling, and limits set by float32's 24 bits and exponents from
2^-149 to 2^128: a side below 2^-20 of its pair's scale (instead of 2^-40),
and a pair whose scaled ``eps`` exceeds 2^8 (boxes far below
:math:`\sqrt{\epsilon}`, whose IoU gradient :math:`I h/(U + \epsilon)^2` in the
scaled units would fall below float32's normal range where the gradient itself
does not), take the extended double words; ``eps/scale^2`` is kept below
2^100. ``eps`` is carried as a float32 double word (1e-7 is not a float32).
The IoU and GIoU gradients, whose float forms multiply about ten rounded
factors (4 ulp, and more than an ulp of the largest component for a small
one in float32), are formed in float32 double words from exact pieces and
rounded once (``_float32_grad``), one axis at a time so that they need no more
memory than the float64 forms. A gradient past float32's range (boxes of
1e-40 without ``eps``) is inf, without a warning. An ``eps`` outside float32's
normal range (other than 0) cannot be a float32: then float32 inputs are
computed in float64 and rounded once.
"""

from __future__ import annotations

import math

import numpy as np

from losslab import _double_word as dw
from losslab._inputs import Inputs, check_finite, check_shapes_broadcast
from losslab._validation import Interval, fits_float32, validate_reduction

NON_NEGATIVE = Interval(0.0, None)
FOUR_OVER_PI_SQUARED = 4 / math.pi**2
# 4/pi^2 and pi/2 as double words (hi + lo, from mpmath)
FOUR_OVER_PI_SQUARED_LOW = -1.5865159517757766e-17
FOUR_OVER_PI_SQUARED_PAIR = np.array([[FOUR_OVER_PI_SQUARED, 2 * FOUR_OVER_PI_SQUARED],
                                      [FOUR_OVER_PI_SQUARED_LOW, 2 * FOUR_OVER_PI_SQUARED_LOW]])  # 4/pi^2, 8/pi^2
HALF_PI, HALF_PI_LOW = 1.5707963267948966, 6.123233995736766e-17
# arctan(k/32), k = 0..32, as double words (hi + lo, from mpmath): the table of the double-word arctan
ATAN_TABLE = np.array([
    (0.0, 0.0), (0.031239833430268277, -1.188442711587748e-18), (0.06241880999595735, -1.5490756308295046e-18),
    (0.09347678115858947, -6.2844725995420954e-18), (0.12435499454676144, -3.1253241424539383e-18),
    (0.15499674192394097, 9.585415594114324e-18), (0.18534794999569476, 4.180692268843079e-18),
    (0.21535769969773805, 4.738160130078733e-19), (0.24497866312686414, 1.0698755618734451e-17),
    (0.2741674511196588, 8.261353575163773e-18), (0.3028848683749714, -1.1010827903001369e-17),
    (0.3310960767041321, -7.952610375793799e-18), (0.35877067027057225, -2.4623815582638635e-17),
    (0.38588266939807375, 2.378822732491941e-17), (0.4124104415973873, -1.587652227770689e-17),
    (0.43833655985795783, -2.494277030626541e-17), (0.4636476090008061, 2.2698777452961687e-17),
    (0.48833395105640554, -1.1373236189329585e-17), (0.5123894603107377, -2.5462781472855804e-17),
    (0.5358112379604637, -4.0637956834825575e-18), (0.5585993153435624, -5.4556305485916264e-18),
    (0.5807563535676704, -1.441464378193067e-17), (0.6022873461349642, 2.950430737228402e-17),
    (0.6231993299340659, 2.672403885140095e-17), (0.6435011087932844, 1.5834785051444286e-17),
    (0.6632029927060933, -3.076054864429649e-17), (0.6823165548747481, 6.943223671560008e-18),
    (0.7008544078844502, -1.987626234335816e-17), (0.7188299996216245, -2.1478388444456983e-17),
    (0.7362574289814281, 3.473937648299457e-17), (0.7531512809621944, -2.4256934659182068e-17),
    (0.7695264804056583, -3.704991905602721e-17), (0.7853981633974483, 3.061616997868383e-17),
]).T


class _Format:
    """What the box losses need of their working dtype: float64, or float32 computed in float32.

    The constants as double words of the dtype (from the float64 ones above, whose own errors are far below
    float32's), the size of a side (relative to its pair's scale) below which a pair takes the extended path
    (``_Pair._extreme_pairs``), and the cap on ``eps`` in the scaled units (``eps / scale^2`` below
    ``2^(2 eps_bits + 2)``, so the double words of ``U + eps`` and ``c^2 + eps`` stay in range).
    """

    def __init__(self, dtype, extreme_bits: int, eps_bits: int):
        self.dtype = np.dtype(dtype)
        kind = self.dtype.type

        def pair(high, low):  # a float64 double word as a double word of this dtype
            head = kind(high)
            return head, kind((high - float(head)) + low)

        self.one = kind(1)
        self.single = self.dtype == np.float32
        self.atan = np.array([pair(h, lo) for h, lo in ATAN_TABLE.T], self.dtype).T
        self.half_pi = pair(HALF_PI, HALF_PI_LOW)
        self.four_over_pi_squared = np.array([pair(h, lo) for h, lo in FOUR_OVER_PI_SQUARED_PAIR.T], self.dtype).T
        self.extreme = 2.0**-extreme_bits
        self.eps_bits = eps_bits
        self.huge = 2.0 ** (eps_bits + 1)  # eps (scaled) above this swamps the IoU terms' double words
        # float32: a pair whose scaled eps is above 2^8 takes the extended path (_Pair._extreme_pairs)
        self.crowded = 2.0**8 if self.dtype == np.float32 else None

    def array(self, values, shape=None):
        """A small constant array in the working dtype (signs, the unit box)."""
        out = np.array(values, self.dtype)
        return out if shape is None else out.reshape(shape)


# float32: double words of 48 bits and exponents to 2^-126, so a side must be 2^-20 of the scale for the
# scaled products (three sides: 2^-60) and their double-word errors (2^-108) to stay normal
FORMATS = {np.dtype(np.float64): _Format(np.float64, 40, 499), np.dtype(np.float32): _Format(np.float32, 20, 49)}


def _sum_of_squares(x):
    """``x_0^2 + x_1^2`` of a double word stacked on axis 0 (two entries), as a double word (exact squares)."""
    squares, errors = dw.square_unchecked(x[0])  # |x| < 4 here (scaled boxes)
    total, rounding = dw.two_sum(squares[0], squares[1])
    return dw.two_sum(total, rounding + (errors[0] + errors[1] + 2 * (x[0][0] * x[1][0] + x[0][1] * x[1][1])))


def _multiply(x_hi, x_lo, y_hi, y_lo):
    """``dw.multiply`` without its range checks, for the scaled boxes' moderate values (below about 2^990).

    Dekker's product of the Veltkamp halves and the cross terms, as in ``losslab._double_word``: the
    same results, in a third of the NumPy calls (the dashboard calls these on small arrays).
    """
    p, e = dw.two_product_unchecked(x_hi, y_hi)
    e = e + (x_hi * y_lo + x_lo * y_hi)
    total = p + e
    return total, e - (total - p)


def _add(x_hi, x_lo, y_hi, y_lo):
    """``dw.add`` in one two-sum, with no renormalisation or finiteness checks (moderate values): the low
    part may reach an ulp or two of the high one, which the next double-word operation absorbs."""
    s, e = dw.two_sum(x_hi, y_hi)
    return s, e + (x_lo + y_lo)


def _divide(x_hi, x_lo, y_hi, y_lo):
    """``(x_hi + x_lo)/(y_hi + y_lo)`` as a double word, for moderate values (one exact remainder)."""
    q = x_hi / y_hi
    p, e = dw.two_product_unchecked(q, y_hi)
    remainder = (((x_hi - p) - e) + x_lo - q * y_lo) / y_hi
    total = q + remainder
    return total, remainder - (total - q)


def _arctan2_double(y, y_lo, x, x_lo):
    r""":math:`\arctan(y/x)` for :math:`x \ge 0`, :math:`|y| + x > 0`, both double words, as a double word (to about
    2^-100 in float64, 2^-46 in float32, with the dtype's table in ``FORMATS``).

    The ratio of the smaller to the larger of :math:`|y|` and :math:`x`, :math:`u \in [0, 1]`, is
    reduced to :math:`r = (u - c)/(1 + u c)`, :math:`|r| \le 1/64`, around the nearest
    :math:`c = k/32` (``ATAN_TABLE``); :math:`\arctan r` is its series to :math:`r^9`, of which only
    :math:`r` needs the double word; :math:`|y| > x` takes :math:`\pi/2 - \arctan(x/|y|)`.
    """
    fmt = FORMATS[y.dtype]
    table, (half_pi, half_pi_low) = fmt.atan, fmt.half_pi
    flip = y < 0
    y, y_lo = np.where(flip, -y, y), np.where(flip, -y_lo, y_lo)
    swap = y > x
    u, u_lo = _divide(np.where(swap, x, y), np.where(swap, x_lo, y_lo),
                      np.where(swap, y, x), np.where(swap, y_lo, x_lo))
    k = np.rint(u * 32)
    c = k / 32
    p, p_lo = dw.two_product_unchecked(u, c)
    d = 1 + p  # p <= 1: 1 + p = d + (p - (d - 1)) exactly
    r, r_lo = _divide(u - c, u_lo, d, (p - (d - 1)) + (p_lo + u_lo * c))  # u - c is exact (Sterbenz)
    s = r * r
    tail = r * s * (-1 / 3 + s * (1 / 5 + s * (-1 / 7 + s / 9)))
    index = k.astype(np.intp)
    high = table[0][index] + r  # the table's entry is the larger, or 0
    low = (r - (high - table[0][index])) + (table[1][index] + r_lo + tail)
    # pi/2 - angle where |y| > x
    complement, rounding = dw.two_sum(half_pi, -high)
    high, low = np.where(swap, complement, high), np.where(swap, rounding + (half_pi_low - low), low)
    total = high + low
    low = low - (total - high)
    return np.where(flip, -total, total), np.where(flip, -low, low)


# Extended-range double words for the pairs whose sides span more than the float range allows in one
# scale (``_Pair.extreme``): a value is ``(hi + lo) 2^e`` with ``hi`` in [1/2, 1) (or 0) and an integer
# exponent ``e``, so areas, their sums and ratios never overflow or underflow on the way; only the final
# rounding does, where the true value is outside the float range.
ZERO_EXPONENT = -(1 << 40)  # the exponent of 0: below every other, so sums align on the other term
EXPONENT_GAP = 2200  # ldexp by more than this is 0 (or inf) anyway; clipped so NumPy's int conversion is safe


def _x_normal(hi, lo, exponent):
    """``(hi + lo) 2^exponent`` renormalised: ``hi`` in [1/2, 1) or 0, ``lo`` below half its ulp."""
    total = hi + lo
    lo = lo - (total - hi)
    mantissa, shift = np.frexp(total)
    return mantissa, np.ldexp(lo, -shift), np.where(total == 0, ZERO_EXPONENT, exponent + shift)


def _x_exact_difference(upper, lower):
    """``upper - lower`` exactly (two-sum); a difference past the float range is taken halved, exponent + 1."""
    hi, lo = dw.two_sum(upper, -lower)
    beyond = ~np.isfinite(hi)
    if beyond.any():  # both coordinates are above 2^970 there: halving them is exact
        half_hi, half_lo = dw.two_sum(upper / 2, -lower / 2)
        hi, lo = np.where(beyond, half_hi, hi), np.where(beyond, half_lo, lo)
    return _x_normal(hi, lo, beyond.astype(np.int64))


def _x_float(values, low=None):
    """Float values (exact; ``low`` a correction below half their ulp) as extended double words."""
    values = np.asarray(values)
    return _x_normal(values, np.zeros_like(values) if low is None else low, np.zeros(values.shape, dtype=np.int64))


def _x_multiply(x, y):
    high, low = _multiply(x[0], x[1], y[0], y[1])  # mantissas in [1/2, 1): the products are in range
    return _x_normal(high, low, x[2] + y[2])


def _x_divide(x, y):
    """``x / y`` for ``y != 0``."""
    high, low = _divide(x[0], x[1], y[0], y[1])
    return _x_normal(high, low, x[2] - y[2])


def _x_add(x, y):
    """``x + y``: both brought to the larger exponent (a term 2^-1022 below the other is below its last bit)."""
    top = np.maximum(x[2], y[2])
    x_shift, y_shift = np.maximum(x[2] - top, -EXPONENT_GAP), np.maximum(y[2] - top, -EXPONENT_GAP)
    high, low = _add(np.ldexp(x[0], x_shift), np.ldexp(x[1], x_shift), np.ldexp(y[0], y_shift),
                     np.ldexp(y[1], y_shift))
    return _x_normal(high, low, top)


def _x_negative(x):
    return -x[0], -x[1], x[2]


def _x_where(condition, x, y):
    return tuple(np.where(condition, a, b) for a, b in zip(x, y, strict=True))


def _x_rows(x, rows):
    return tuple(part[rows] for part in x)


def _x_stack(values):
    return tuple(np.stack(parts) for parts in zip(*values, strict=True))


def _x_round(x):
    """The float nearest ``x`` (once; twice below the normal range), 0 or inf past the float range."""
    with np.errstate(over="ignore"):
        return np.ldexp(x[0] + x[1], np.clip(x[2], -EXPONENT_GAP, EXPONENT_GAP))


def _x_iou(pred, target, eps, eps_low):
    r"""The IoU pieces of ``_Pair`` for pairs given in their own units, (4, m) each, in extended double words.

    Returns a dict: the exact sides and edge gaps, :math:`U - I`, :math:`D = U + \epsilon` (1 where 0),
    ``empty`` (D = 0), the IoU loss :math:`(U - I + \epsilon)/D` and what the gradients need.
    """
    (a1, b1, a2, b2), (g1, h1, g2, h2) = pred, target
    right, top, left, bottom = np.minimum(a2, g2), np.minimum(b2, h2), np.maximum(a1, g1), np.maximum(b1, h1)
    # rows: w, h, w_gt, h_gt, a2 - g2, g1 - a1, b2 - h2, h1 - b1, overlap sides, enclosing sides,
    # a2 - g1, b2 - h1, g2 - a1, h2 - b1
    sides = _x_exact_difference(np.stack([a2, b2, g2, h2, a2, g1, b2, h1, right, top, np.maximum(a2, g2),
                                          np.maximum(b2, h2), a2, b2, g2, h2]),
                                np.stack([a1, b1, g1, h1, g2, a1, h2, b1, left, bottom, np.minimum(a1, g1),
                                          np.minimum(b1, h1), g1, h1, a1, b1]))
    overlaps = (right > left) & (top > bottom)
    zero = _x_float(np.zeros_like(a1))
    edges = _x_rows(sides, slice(4, 8))
    spill, lack = _x_where(edges[0] > 0, edges, zero), _x_where(edges[0] < 0, _x_negative(edges), zero)
    # spill_x, spill_y, lack_x, lack_y; then the overlap's sides (0 where disjoint)
    pieces = _x_add(_x_stack([_x_rows(spill, 0), _x_rows(spill, 2), _x_rows(lack, 0), _x_rows(lack, 2)]),
                    _x_stack([_x_rows(spill, 1), _x_rows(spill, 3), _x_rows(lack, 1), _x_rows(lack, 3)]))
    inner = _x_where(overlaps, _x_rows(sides, slice(8, 10)), zero)
    # rows: w, h, w_gt, h_gt, spill_x, spill_y, lack_x, lack_y, iw, ih
    values = tuple(np.concatenate([s[:4], p, i]) for s, p, i in zip(sides, pieces, inner, strict=True))
    # spill_x h, iw spill_y, lack_x h_gt, iw lack_y, I = iw ih, A_gt, spill_y w, A = w h
    products = _x_multiply(_x_rows(values, [4, 8, 6, 8, 8, 2, 5, 0]), _x_rows(values, [1, 5, 3, 7, 9, 3, 0, 1]))
    halves = _x_add(_x_rows(products, [0, 2, 7]), _x_rows(products, [1, 3, 5]))
    mismatch = _x_where(overlaps, _x_add(_x_rows(halves, 0), _x_rows(halves, 1)), _x_rows(halves, 2))
    eps = _x_float(np.full(a1.shape, eps, a1.dtype), np.full(a1.shape, eps_low, a1.dtype) if eps_low else None)
    padded = _x_add(mismatch, eps)
    union = _x_add(_x_rows(products, 4), mismatch)
    denominator = _x_add(_x_rows(products, 4), padded)
    empty = denominator[0] == 0  # two empty boxes with eps = 0: loss 1, no gradient (_empty_union)
    denominator = _x_where(empty, _x_float(np.ones_like(a1)), denominator)
    return dict(sides=sides, values=values, products=products, overlaps=overlaps, eps=eps, union=union,
                denominator=denominator, empty=empty, loss=_x_divide(padded, denominator), zero=zero)


def _x_iou_grad(pred, target, parts):
    """``iou_terms``'s gradient (the IoU loss's), (4, m), from ``_x_iou``'s pieces."""
    (a1, b1, a2, b2), (g1, h1, g2, h2) = pred, target
    values, products, eps, d = parts["values"], parts["products"], parts["eps"], parts["denominator"]
    a_gt_eps = _x_add(_x_rows(products, 5), eps)
    # ih/D, iw/D, I/D, (spill_x h + A_gt + eps)/D, (spill_y w + A_gt + eps)/D, h/D, w/D
    numerators = _x_stack([_x_rows(values, 9), _x_rows(values, 8), _x_rows(products, 4),
                           _x_add(_x_rows(products, 0), a_gt_eps), _x_add(_x_rows(products, 6), a_gt_eps),
                           _x_rows(values, 1), _x_rows(values, 0)])
    ratios = _x_divide(numerators, _x_stack([d] * 7))
    # x inside, y inside, x outside, y outside
    factors = _x_multiply(_x_rows(ratios, [0, 1, 2, 2]), _x_rows(ratios, [3, 4, 5, 6]))
    inside = np.stack([a1 > g1, b1 > h1, a2 < g2, b2 < h2])
    grad = _x_where(inside, _x_rows(factors, [0, 1, 0, 1]), _x_negative(_x_rows(factors, [2, 3, 2, 3])))
    signs = np.array([1.0, 1.0, -1.0, -1.0], a1.dtype)[:, None]
    return _x_where(parts["empty"], _x_stack([parts["zero"]] * 4), (grad[0] * signs, grad[1] * signs, grad[2]))


def _x_giou(pred, target, parts, want_grad):
    r"""GIoU's :math:`(C - U)/(C + \epsilon)` and its gradient, in extended double words (see ``_giou``)."""
    (a1, b1, a2, b2), (g1, h1, g2, h2) = pred, target
    sides, values, overlaps, eps, zero = parts["sides"], parts["values"], parts["overlaps"], parts["eps"], parts["zero"]
    width, height = _x_rows(sides, 10), _x_rows(sides, 11)
    enclosing = _x_multiply(width, height)
    denominator = _x_add(enclosing, eps)
    empty = denominator[0] == 0
    denominator = _x_where(empty, _x_float(np.ones_like(a1)), denominator)
    w, h, wg, hg, sx, sy, lx, ly = (_x_rows(values, i) for i in range(8))
    ox, oy = _x_rows(sides, 8), _x_rows(sides, 9)  # the overlap's signed sides
    neg = _x_negative
    # C - U from non-negative pieces (_giou_excess)
    crossed = _x_add(_x_multiply(sx, ly), _x_multiply(lx, sy))
    corner = _x_add(_x_add(_x_multiply(w, hg), _x_multiply(w, neg(oy))),
                    _x_add(_x_multiply(neg(ox), hg), _x_multiply(lx, sy)))
    apart = (ox[0] < 0) & (oy[0] < 0)
    excess = _x_where(overlaps, crossed, _x_where(apart, corner, _x_add(crossed, neg(_x_multiply(ox, oy)))))
    uncovered = _x_where(empty, zero, _x_divide(excess, denominator))
    if not want_grad:
        return uncovered, None
    # d(C - U) per edge, and the growth terms of the edges past the target's (_giou_change)
    kink = np.stack([a1 == g1, b1 == h1, a2 == g2, b2 == h2])
    pieces = _x_stack([_x_where(a1 < g1, neg(ly), sy), _x_where(b1 < h1, neg(lx), sx),
                       _x_where(a2 > g2, ly, neg(sy)), _x_where(b2 > h2, lx, neg(sx))])
    apart_pieces = _x_stack([_x_where(a1 < g1, neg(ly), h), _x_where(b1 < h1, neg(lx), w),
                             _x_where(a2 > g2, ly, neg(h)), _x_where(b2 > h2, lx, neg(w))])
    change = _x_where(overlaps & ~kink, pieces, apart_pieces)
    rows = [0, 1, 0, 1]
    other = _x_stack([height, width, height, width])
    own_lack = _x_rows(_x_stack([lx, ly]), rows)
    # w_gt l_y - l_x s_y (overlapping) or w_gt h_gt - l_x h (see _giou_excess_grad)
    own_side = _x_stack([wg, hg, wg, hg])
    kept = _x_where(overlaps, _x_stack([ly, lx, ly, lx]), _x_stack([hg, wg, hg, wg]))
    lost = _x_where(overlaps, _x_stack([sy, sx, sy, sx]), _x_stack([h, w, h, w]))
    inner = _x_add(_x_multiply(own_side, kept), neg(_x_multiply(own_lack, lost)))
    signs = np.array([-1.0, -1.0, 1.0, 1.0], a1.dtype)[:, None]
    growth = _x_multiply(other, inner)
    growth = _x_add((growth[0] * signs, growth[1] * signs, growth[2]), _x_multiply(change, _x_stack([eps] * 4)))
    grows = np.stack([a1 < g1, b1 < h1, a2 > g2, b2 > h2])
    d = _x_stack([denominator] * 4)
    numerator = _x_where(grows, growth, _x_multiply(change, d))
    term = _x_divide(_x_divide(numerator, d), d)
    return uncovered, _x_where(empty, _x_stack([zero] * 4), term)


def _x_distance(pred, target, parts, want_grad):
    r"""DIoU's :math:`\rho^2/(c^2 + \epsilon)` and its gradient, as ``distance_terms`` forms them, extended."""
    (a1, b1, a2, b2), (g1, h1, g2, h2) = pred, target
    sides, eps, zero = parts["sides"], parts["eps"], parts["zero"]
    # the centres' offsets ((a1 - g1) + (a2 - g2))/2 and the same in y, exact
    offset = _x_add(_x_rows(sides, [4, 6]), _x_negative(_x_rows(sides, [5, 7])))
    offset = offset[0], offset[1], offset[2] - 1
    enclosing = _x_rows(sides, [10, 11])
    both = tuple(np.concatenate([o, c]) for o, c in zip(offset, enclosing, strict=True))
    squares = _x_multiply(both, both)  # dx^2, dy^2, c_w^2, c_h^2
    sums = _x_add(_x_rows(squares, [0, 2]), _x_rows(squares, [1, 3]))
    rho2, diagonal = _x_rows(sums, 0), _x_add(_x_rows(sums, 1), eps)
    positive = diagonal[0] > 0  # 0 only for eps = 0 and two equal points
    diagonal = _x_where(positive, diagonal, _x_float(np.ones_like(a1)))
    ratio = _x_where(positive, _x_divide(rho2, diagonal), zero)
    if not want_grad:
        return ratio, None
    # D d(rho^2) - rho^2 dD per edge: d D alone, or d D -+ 2 rho^2 c where the edge grows the enclosing
    # box (upper edge -, lower +). That cancels where a box spans the enclosing box and the other is a
    # sliver at its end (c = 2|d| + a sliver, in either axis). With k = c -+ 2d (this axis) and
    # k_o = c_o - 2|d_o| (the other axis), it is k (c d -+ 2 d_o^2) + d (k_o^2 + 4 k_o |d_o| + eps), where
    # c + 2d = max(0, x2 - x2_gt) + max(0, x1 - x1_gt) + (x2 - x1_gt) and
    # c - 2d = max(0, x2_gt - x2) + max(0, x1_gt - x1) + (x2_gt - x1) are exact
    along = _x_multiply(_x_rows(offset, [0, 1, 0, 1]), _x_stack([diagonal] * 4))
    zero4 = _x_stack([zero] * 4)
    edges = _x_rows(sides, [4, 6, 5, 7])  # a2 - g2, b2 - h2, g1 - a1, h1 - b1
    signs = np.array([1.0, 1.0, -1.0, -1.0], a1.dtype)[:, None]
    # (a2 - g2, b2 - h2, g2 - a2, h2 - b2) and (a1 - g1, b1 - h1, g1 - a1, h1 - b1), their positive parts
    upper, lower = _x_rows(edges, [0, 1, 0, 1]), _x_rows(edges, [2, 3, 2, 3])
    upper, lower = (upper[0] * signs, upper[1] * signs, upper[2]), (-lower[0] * signs, -lower[1] * signs, lower[2])
    upper, lower = _x_where(upper[0] > 0, upper, zero4), _x_where(lower[0] > 0, lower, zero4)
    reach = _x_add(_x_add(upper, lower), _x_rows(sides, [12, 13, 14, 15]))  # k for x1, y1, x2, y2
    d_own, d_other = _x_rows(offset, [0, 1, 0, 1]), _x_rows(offset, [1, 0, 1, 0])
    k_other = _x_where(d_other[0] > 0, _x_rows(reach, [3, 2, 3, 2]), _x_rows(reach, [1, 0, 1, 0]))
    twice_square = _x_rows(squares, [1, 0, 1, 0])
    signs = np.array([2.0, 2.0, -2.0, -2.0], a1.dtype)[:, None]
    inner = _x_add(_x_multiply(_x_rows(enclosing, [0, 1, 0, 1]), d_own),
                   (twice_square[0] * signs, twice_square[1] * signs, twice_square[2]))
    magnitude = (np.abs(d_other[0]), np.where(d_other[0] < 0, -d_other[1], d_other[1]), d_other[2])
    quadratic = _x_multiply(k_other, _x_add(k_other, (4 * magnitude[0], 4 * magnitude[1], magnitude[2])))
    grown = _x_add(_x_multiply(reach, inner), _x_multiply(d_own, _x_add(quadratic, _x_stack([eps] * 4))))
    grows = np.stack([a1 < g1, b1 < h1, a2 > g2, b2 > h2])
    numerators = _x_where(grows, grown, along)
    d = _x_stack([diagonal] * 4)
    grad = _x_divide(_x_divide(numerators, d), d)
    return ratio, _x_where(positive, grad, _x_stack([zero] * 4))


def _x_ciou_grad(gap_parts, iou_loss_, iou_grad, distance_grad, eps, pred_exponent):
    """``_ciou_grad`` in extended double words: the same factors, for sides normalised per box."""
    gap, gap_low, (sides, sides_low), diagonal, _ = gap_parts
    square, square_low = dw.square_unchecked(gap)
    shape = (2,) + (1,) * gap.ndim
    constant = FORMATS[gap.dtype].four_over_pi_squared
    (v, slope), (v_low, slope_low) = _multiply(
        constant[0].reshape(shape), constant[1].reshape(shape),
        np.stack([square, gap]), np.stack([square_low + 2 * gap * gap_low, gap_low]))
    unity = np.zeros(gap.shape, dtype=np.int64)
    v, slope = _x_normal(v, v_low, unity), _x_normal(slope, slope_low, unity)
    one, two = _x_float(np.ones_like(gap)), _x_float(np.full_like(gap, 2.0))
    loss_eps = _x_add(iou_loss_, eps)
    q = _x_add(loss_eps, v)
    positive = q[0] > 0  # 0 only for two equal boxes with eps = 0: no penalty
    q = _x_where(positive, q, one)
    alpha, rest = _x_divide(v, q), _x_where(positive, _x_divide(loss_eps, q), one)
    keep = _x_multiply(rest, _x_add(one, alpha))  # 1 - alpha^2 = (1 - alpha)(1 + alpha)
    pull = _x_multiply(_x_multiply(alpha, _x_add(two, _x_negative(alpha))), slope)
    has_angle = diagonal[0] > 0  # a point box has no angle and no aspect gradient
    pull = _x_divide(pull, _x_where(has_angle, _x_normal(*diagonal, unity), one))
    turn = _x_multiply(_x_normal(sides[::-1], sides_low[::-1], np.stack([unity, unity])), _x_stack([pull, pull]))
    turn = turn[0], turn[1], turn[2] - pred_exponent  # d theta scales with 1/size: the sides' exponent
    signs = np.array([1.0, -1.0, -1.0, 1.0], gap.dtype)[:, None]
    aspect = _x_rows(turn, [0, 1, 0, 1])
    zero = _x_float(np.zeros_like(gap))
    aspect = _x_where(has_angle, (aspect[0] * signs, aspect[1] * signs, aspect[2]), _x_stack([zero] * 4))
    return _x_add(_x_add(_x_multiply(_x_stack([keep] * 4), iou_grad), distance_grad), aspect)


def _x_box_sides(sides):
    """The (w, h, w_gt, h_gt) rows of ``sides`` as double words, each box's scaled by a power of two that
    puts its larger side in [1/2, 1) (its aspect is all CIoU needs), and the predicted box's exponent."""
    exponents = np.maximum(sides[2][[0, 2]], sides[2][[1, 3]])[[0, 0, 1, 1]]
    shift = np.maximum(sides[2][:4] - exponents, -EXPONENT_GAP)
    return np.ldexp(sides[0][:4], shift), np.ldexp(sides[1][:4], shift), exponents[0]


def _x_losses(pred, target, eps, eps_low, kind, want_loss, want_grad):
    """Loss (m,) and gradient (4, m) of ``kind`` for the pairs (4, m) that ``_Pair`` marks extreme,
    in their own units (no pair scale), from extended double words rounded once."""
    parts = _x_iou(pred, target, eps, eps_low)
    loss, grad = parts["loss"], _x_iou_grad(pred, target, parts) if want_grad else None
    if kind == "giou":
        extra, extra_grad = _x_giou(pred, target, parts, want_grad)
    elif kind in ("diou", "ciou"):
        extra, extra_grad = _x_distance(pred, target, parts, want_grad)
    else:
        extra, extra_grad = parts["zero"], None
    if kind == "ciou":
        sides, sides_low, pred_exponent = _x_box_sides(parts["sides"])
        if want_grad:
            gap_parts = _aspect_gap_of_sides(sides, sides_low, want_double=True)
            grad = _x_ciou_grad(gap_parts, loss, grad, extra_grad, parts["eps"], pred_exponent)
        if want_loss:
            iou_loss_, ratio = _x_round(loss), _x_round(extra)
            angle_gap = _aspect_gap_of_sides(sides, sides_low)
            v = FOUR_OVER_PI_SQUARED * angle_gap * angle_gap
            q = iou_loss_ + v + eps  # as _ciou: alpha v = v^2/Q
            loss = iou_loss_ + ratio + np.where(q > 0, v * (v / np.where(q > 0, q, 1.0)), 0.0)
    else:
        loss = _x_round(_x_add(loss, extra)) if want_loss else None
        if want_grad and extra_grad is not None:
            grad = _x_add(grad, extra_grad)
    empty = parts["empty"]  # _empty_union
    loss = np.where(empty, 1.0, loss) if want_loss else None
    grad = np.where(empty, 0.0, _x_round(grad)) if want_grad else None
    return loss, grad


class _Pair:
    """Scaled coordinates of predicted and target boxes and the geometry every loss shares."""

    def __init__(self, pred_boxes, target_boxes, eps, kind):
        self.kind, self.eps_value, self.extreme = kind, eps, None
        # float32 in float32 (an eps outside float32's normal range: in float64, rounded once)
        native = fits_float32(eps)
        self.inputs = Inputs({"pred_boxes": pred_boxes, "target_boxes": target_boxes}, native=native)
        pred, target = self.inputs.arrays
        self.format = fmt = FORMATS[pred.dtype]
        # eps as a double word of the working dtype (float32's nearest and the rest; float64's is exact)
        self.eps_low_value = float(eps - float(fmt.dtype.type(eps))) if fmt.single else 0.0
        for array, name in ((pred, "pred_boxes"), (target, "target_boxes")):
            if array.ndim == 0 or array.shape[-1] != 4:
                raise ValueError(f"{name} must have a last axis of length 4 (x1, y1, x2, y2); got shape {array.shape}")
            check_finite(array, name)
            bad = (array[..., 2] < array[..., 0]) | (array[..., 3] < array[..., 1])
            if bad.any():
                box = array[bad][0].tolist()
                raise ValueError(f"{name} must have x1 <= x2 and y1 <= y2; got the box {box}")
        self.shape = check_shapes_broadcast([pred, target], ["pred_boxes", "target_boxes"])
        pred, target = np.broadcast_to(pred, self.shape), np.broadcast_to(target, self.shape)
        # scale each pair by a power of two (exact) so that its largest |coordinate| is in [1, 2):
        # widths, areas and squared diagonals then neither overflow nor underflow
        largest = np.maximum(np.abs(pred).max(axis=-1), np.abs(target).max(axis=-1))
        _, exponent = np.frexp(np.where(largest > 0, largest, 1.0))
        if eps > 0:  # eps is an area and scales with the square: keep eps / scale^2 below 2^1000 (float32 2^100)
            exponent = np.maximum(exponent, math.ceil(math.log2(eps) / 2) - fmt.eps_bits)
        self._scale(pred, target, exponent, eps)
        extreme = self._extreme_pairs(pred, target)
        if extreme is not None:
            # set aside for _x_losses (``finish`` puts their values in), unit boxes in their place here
            self.extreme = extreme
            self.extreme_boxes = np.moveaxis(pred[extreme], -1, 0), np.moveaxis(target[extreme], -1, 0)
            unit = fmt.array([0.0, 0.0, 1.0, 1.0])
            pred, target = np.where(extreme[..., None], unit, pred), np.where(extreme[..., None], unit, target)
            floor = math.ceil(math.log2(eps) / 2) - fmt.eps_bits if eps > 0 else 1
            self._scale(pred, target, np.where(extreme, max(floor, 1), exponent), eps)
        self._overlap()

    def _scale(self, pred, target, exponent, eps):
        """The pairs times 2^(1 - exponent), their sides, edge gaps and the overlap's signed sides."""
        self.scale = np.ldexp(self.format.one, exponent - 1)
        self.eps = eps / self.scale / self.scale
        self.eps_low = self.eps_low_value / self.scale / self.scale if self.eps_low_value else 0.0
        s = self.scale[..., None]
        self.pred, self.target = np.moveaxis(pred / s, -1, 0), np.moveaxis(target / s, -1, 0)  # (4, ...)
        (self.a1, self.b1, self.a2, self.b2) = self.pred
        (self.g1, self.h1, self.g2, self.h2) = self.target
        self.width, self.height = self.a2 - self.a1, self.b2 - self.b1
        self.target_width, self.target_height = self.g2 - self.g1, self.h2 - self.h1
        # the edges' gaps a2 - g2, g1 - a1, b2 - h2, h1 - b1, and right - left, top - bottom (< 0: apart)
        self.gaps = (self.a2 - self.g2, self.g1 - self.a1, self.b2 - self.h2, self.h1 - self.b1)
        self.ox = np.minimum(self.a2, self.g2) - np.maximum(self.a1, self.g1)
        self.oy = np.minimum(self.b2, self.h2) - np.maximum(self.b1, self.h1)

    def _extreme_pairs(self, pred, target):
        """The pairs one scale cannot hold (a boolean array, or None if there are none).

        A side or a side of the overlap (or of the gap between disjoint boxes) below 2^-40 of the pair's
        scale, such as a box of aspect 1e-300 or a box 1e-300 the size of the other, has products with
        the others' sides that leave the float range, or cancellations (in GIoU's and DIoU's gradients)
        that the floats and double words here do not hold; so does a coordinate that scaling rounded
        to 0. These pairs take ``_x_losses``: extended double words, exact sides in the boxes' own
        units, every area, sum and ratio with an exponent of its own. (A small gap between two edges,
        x2 - x2_gt, enters only in sums with the others and in DIoU's offsets, which are exact; the
        cancelling sums, such as c + 2d = max(0, x2 - x2_gt) + max(0, x1 - x1_gt) + (x2 - x1_gt), are
        at least one of the sides checked.)
        """
        sizes = np.stack([self.width, self.height, self.target_width, self.target_height, self.ox, self.oy])
        sizes = np.abs(sizes, out=sizes)
        # one reduction where (as usual) no size is below 2^-40, or 0
        limit = self.format.extreme
        extreme = ((sizes < limit) & (sizes > 0)).any(axis=0) if sizes.size and sizes.min() < limit else None
        crowded = self.format.crowded
        if crowded is not None and np.size(self.eps) and np.max(self.eps) > crowded:
            # float32: eps swamps the boxes, and I h / (U + eps)^2 (the gradient in the scaled units) can
            # fall below the normal range where the gradient itself does not (1/scale brings it back)
            extreme = self.eps > crowded if extreme is None else extreme | (self.eps > crowded)
        # a nonzero coordinate below 2^-1075 of its pair's scale became 0 (its gaps with its neighbours too):
        # only where the scale is above 2 (2^-1074 is the smallest nonzero coordinate)
        if (self.scale.size and self.scale.max() > 2 and np.count_nonzero(self.pred) + np.count_nonzero(self.target)
                != np.count_nonzero(pred) + np.count_nonzero(target)):
            for scaled, original in ((self.pred, pred), (self.target, target)):
                lost = ((scaled == 0) & (np.moveaxis(original, -1, 0) != 0)).any(axis=0)
                extreme = lost if extreme is None else extreme | lost
        return extreme if extreme is not None and extreme.any() else None

    def _overlap(self):
        r"""Intersection :math:`I`, union :math:`U`, and :math:`U - I` from non-negative pieces."""
        self.overlaps = (self.ox > 0) & (self.oy > 0)  # torchvision's test (right > left, top > bottom)
        self.inter_width = np.where(self.overlaps, self.ox, 0.0)
        self.inter_height = np.where(self.overlaps, self.oy, 0.0)
        self.inter = self.inter_width * self.inter_height
        area = self.width * self.height
        target_area = self.target_width * self.target_height
        # the prediction outside the target: w h - iw ih = (w - iw) h + iw (h - ih), where
        # w - iw = max(0, a2 - g2) + max(0, g1 - a1) is a sum of non-negative terms (same in y)
        right, left, top, bottom = self.gaps
        spill_x, spill_y = np.maximum(right, 0) + np.maximum(left, 0), np.maximum(top, 0) + np.maximum(bottom, 0)
        lack_x, lack_y = -(np.minimum(right, 0) + np.minimum(left, 0)), -(np.minimum(top, 0) + np.minimum(bottom, 0))
        self.spill_x, self.spill_y, self.lack_x, self.lack_y = spill_x, spill_y, lack_x, lack_y
        pred_only = spill_x * self.height + self.inter_width * spill_y
        target_only = lack_x * self.target_height + self.inter_width * lack_y
        self.mismatch = np.where(self.overlaps, pred_only + target_only, area + target_area)
        self.target_area = target_area
        # U = I + (U - I): a sum of non-negative pieces (area + target_area - I cancels in part)
        self.union = self.inter + self.mismatch

    def iou_terms(self, want_grad: bool = True):
        r""":math:`1 - I/(U + \epsilon)` and its gradient :math:`-\partial(I/(U+\epsilon))/\partial b`, shape (4, ...) (None without ``want_grad``)."""
        denominator = self.union + self.eps
        loss = (self.mismatch + self.eps) / denominator
        if not want_grad:
            return loss, None
        # -d(I/D) = (I dA - dI (D + I))/D^2 with D = U + eps and U = A + A_gt - I. An edge inside the
        # target (dI = -+ ih for x1, x2) gives -+ ih (D + I - iw h)/D^2, and D + I - iw h =
        # (w - iw) h + A_gt + eps is a sum of non-negative terms (the plain difference of the two
        # rounded ratios cancels for a nearly perfect box); an edge outside gives +- I h / D^2.
        # (a/D)(b/D), not a b/D^2: D^2 can overflow where eps dominates tiny boxes
        x_inside = (self.inter_height / denominator) * ((self.spill_x * self.height + self.target_area + self.eps)
                                                        / denominator)
        y_inside = (self.inter_width / denominator) * ((self.spill_y * self.width + self.target_area + self.eps)
                                                       / denominator)
        share = self.inter / denominator
        x_outside = share * (self.height / denominator)
        y_outside = share * (self.width / denominator)
        grad = np.stack([np.where(self.a1 > self.g1, x_inside, -x_outside),
                         np.where(self.b1 > self.h1, y_inside, -y_outside),
                         np.where(self.a2 < self.g2, -x_inside, x_outside),
                         np.where(self.b2 < self.h2, -y_inside, y_outside)])
        return loss, grad

    def iou_terms_double(self):
        r"""``iou_terms``'s loss and gradient as double words, each to about 2^-100 of itself.

        The same formulas from exact pieces: the sides, the edges' spills and lacks and the overlap's
        sides are exact differences of the coordinates (two-sum), the areas and :math:`U - I` double-word
        products and sums, :math:`(a/D)(b/D)` double-word quotients and products. The IoU gradient is a
        product of about ten rounded factors in floats (up to 4 ulp); here it is rounded once, by the
        caller, after the DIoU and CIoU terms are added to it. A pair whose ``eps`` (in the scaled
        units) is above 2^500 (boxes about 2^-250 of ``sqrt(eps)`` or smaller, where the IoU terms are
        2^-500 of the others) takes ``iou_terms``'s floats: its double words would overflow.
        """
        huge = self.eps > self.format.huge
        eps, eps_low = self.eps, self.eps_low
        if huge.any():
            eps, eps_low = np.where(huge, 0.0, eps), np.where(huge, 0.0, eps_low)
        pred, target = self.pred, self.target
        # (a1, b1, a2, b2, g1, h1, g2, h2, right, top, left, bottom), then the exact differences w, h, w_gt,
        # h_gt; a2 - g2, g1 - a1, b2 - h2, h1 - b1; the overlap's sides (right - left, top - bottom)
        corners = np.concatenate([pred, target, np.minimum(pred[2:], target[2:]), np.maximum(pred[:2], target[:2])])
        sides, sides_low = dw.two_sum(corners[[2, 3, 6, 7, 2, 4, 3, 5, 8, 9]], -corners[[0, 1, 4, 5, 6, 0, 7, 1, 10, 11]])
        # spill_x, spill_y (the prediction past the target's edges), lack_x, lack_y (short of them)
        edges, edges_low = np.concatenate([sides[4:8], -sides[4:8]]), np.concatenate([sides_low[4:8], -sides_low[4:8]])
        out = edges > 0
        pieces, pieces_low = np.where(out, edges, 0.0), np.where(out, edges_low, 0.0)
        spill, spill_low = _add(pieces[0::2], pieces_low[0::2], pieces[1::2], pieces_low[1::2])
        # rows: w, h, w_gt, h_gt, spill_x, spill_y, lack_x, lack_y, the overlap's iw, ih (0 where disjoint)
        values = np.concatenate([sides[:4], spill, np.where(self.overlaps, sides[8:], 0.0)])
        values_low = np.concatenate([sides_low[:4], spill_low, np.where(self.overlaps, sides_low[8:], 0.0)])
        # spill_x h, iw spill_y, lack_x h_gt, iw lack_y, I = iw ih, A_gt, spill_y w, A = w h
        x, y = [4, 8, 6, 8, 8, 2, 5, 0], [1, 5, 3, 7, 9, 3, 0, 1]
        products, products_low = _multiply(values[x], values_low[x], values[y], values_low[y])
        # U - I: the parts of each box outside the other (overlapping), or both areas (disjoint)
        halves = _add(products[[0, 5]], products_low[[0, 5]], products[[1, 7]], products_low[[1, 7]])
        lacks = _add(products[2], products_low[2], products[3], products_low[3])
        pred_only = (np.where(self.overlaps, halves[0][0], halves[0][1]),
                     np.where(self.overlaps, halves[1][0], halves[1][1]))
        target_only = np.where(self.overlaps, lacks[0], 0.0), np.where(self.overlaps, lacks[1], 0.0)
        mismatch = _add(*pred_only, *target_only)
        # M + eps and A_gt + eps; D = U + eps = I + (M + eps); A_gt + eps + spill_x h, A_gt + eps + spill_y w
        padded = _add(np.stack([mismatch[0], products[5]]), np.stack([mismatch[1], products_low[5]]), eps, eps_low)
        denominator = _add(products[4], products_low[4], padded[0][0], padded[1][0])
        numerators = _add(products[[0, 6]], products_low[[0, 6]], padded[0][1], padded[1][1])
        empty = denominator[0] == 0  # two empty boxes with eps = 0 (_empty_union)
        d = np.where(empty, 1.0, denominator[0]), np.where(empty, 0.0, denominator[1])
        # (M + eps)/D (the loss), then ih/D, iw/D, I/D and (A_gt + eps + spill_x h)/D,
        # (A_gt + eps + spill_y w)/D, h/D, w/D
        ratios = _divide(np.concatenate([padded[0][:1], values[[9, 8]], products[4:5], numerators[0], values[[1, 0]]]),
                         np.concatenate([padded[1][:1], values_low[[9, 8]], products_low[4:5], numerators[1],
                                         values_low[[1, 0]]]), *d)
        loss = ratios[0][0], ratios[1][0]
        factors = _multiply(ratios[0][[1, 2, 3, 3]], ratios[1][[1, 2, 3, 3]], ratios[0][[4, 5, 6, 7]],
                            ratios[1][[4, 5, 6, 7]])  # x inside, y inside, x outside, y outside
        inside = np.stack([self.a1 > self.g1, self.b1 > self.h1, self.a2 < self.g2, self.b2 < self.h2])
        signs = self.format.array([1.0, 1.0, -1.0, -1.0], (4,) + (1,) * (inside.ndim - 1))
        grad = tuple(np.where(inside, part[[0, 1, 0, 1]], -part[[2, 3, 2, 3]]) * signs for part in factors)
        if huge.any():
            plain_loss, plain_grad = self.iou_terms()
            loss = np.where(huge, plain_loss, loss[0]), np.where(huge, 0.0, loss[1])
            grad = np.where(huge, plain_grad, grad[0]), np.where(huge, 0.0, grad[1])
        return loss, grad

    def enclosing(self):
        """Width and height of the smallest box enclosing both."""
        width = np.maximum(self.a2, self.g2) - np.minimum(self.a1, self.g1)
        height = np.maximum(self.b2, self.h2) - np.minimum(self.b1, self.h1)
        return width, height

    def distance_terms(self, want_grad: bool = True):
        r""":math:`\rho^2/(c^2 + \epsilon)` and its gradient, shape (4, ...), to an ulp or two.

        :math:`\partial(\rho^2/D)/\partial b = (D\,\partial\rho^2/\partial b - \rho^2\,\partial D/\partial b)/D^2`
        with :math:`\partial\rho^2/\partial x_{1,2} = \Delta x` (the centres' offset) and
        :math:`\partial D/\partial x_1 = -2 c_w [x_1 < x_{1,gt}]`, ... The numerator is a difference of
        two products that cancel in part, so it is formed in double words from exact differences of the
        coordinates (two-sum): the offsets :math:`((x_1 - x_{1,gt}) + (x_2 - x_{2,gt}))/2`, the enclosing
        box's sides and :math:`D = c_w^2 + c_h^2 + \epsilon`.
        """
        # x and y stacked on axis 0 (and the four edges for the gradient): one call per step
        pred, target = self.pred, self.target
        high, low = dw.two_sum(pred, -target)
        offset = dw.add(high[:2], low[:2], high[2:], low[2:])
        offset = (offset[0] / 2, offset[1] / 2)  # (dx, dy), exact
        sides = dw.two_sum(np.maximum(pred[2:], target[2:]), -np.minimum(pred[:2], target[:2]))  # (c_w, c_h)
        rho2 = _sum_of_squares(offset)
        diagonal = dw.add(*_sum_of_squares(sides), self.eps, self.eps_low)
        d = diagonal[0]
        positive = d > 0  # 0 only for eps = 0 and two equal points
        safe = np.where(positive, d, 1.0)
        ratio = np.where(positive, rho2[0] / safe, 0.0)
        if not want_grad:
            return ratio, None
        # D up to 2^1000 where eps swamps tiny boxes: the checked product there (its split scales D down)
        huge = (self.eps > self.format.huge).any()
        along = dw.multiply(*offset, *diagonal) if huge else _multiply(*offset, *diagonal)
        stretch = _multiply(2 * rho2[0], 2 * rho2[1], *sides)  # sides and rho^2 below 2^6
        # D d(rho^2) - rho^2 dD per edge (x1, y1, x2, y2): along + stretch where x1 or y1 grows the
        # enclosing side, along - stretch where x2 or y2 does, along alone otherwise
        along = (np.concatenate([along[0], along[0]]), np.concatenate([along[1], along[1]]))
        stretch = (np.concatenate([stretch[0], -stretch[0]]), np.concatenate([stretch[1], -stretch[1]]))
        grows = np.concatenate([pred[:2] < target[:2], pred[2:] > target[2:]])
        total, low = _add(*along, *stretch)
        numerators = np.where(grows, total + low, along[0])
        return ratio, np.where(positive, (numerators / safe) / safe, 0.0)

    def finish(self, loss, grad, reduction, want_loss, want_grad):
        if want_grad:
            grad = np.moveaxis(grad, 0, -1)
            if self.format.single:  # past float32 max where the gradient is (boxes of 1e-40)
                with np.errstate(over="ignore"):
                    grad = grad / self.scale[..., None]
            else:
                grad = grad / self.scale[..., None]  # d/d(coordinate) = (1/scale) d/d(scaled)
        if self.extreme is not None:
            with np.errstate(over="ignore", invalid="ignore"):
                extreme_loss, extreme_grad = _x_losses(*self.extreme_boxes, self.eps_value, self.eps_low_value,
                                                       self.kind, want_loss, want_grad)
            if want_loss:
                loss = np.array(loss, dtype=self.format.dtype)
                loss[self.extreme] = extreme_loss
            if want_grad:
                grad = np.array(grad, dtype=self.format.dtype)
                grad[self.extreme] = extreme_grad.T
        loss_value = self.inputs.finish_loss(loss, reduction) if want_loss else None
        grad_value = self.inputs.finish_grad(grad, 0) if want_grad else None
        if want_loss and want_grad:
            return loss_value, grad_value
        return loss_value if want_loss else grad_value


def _eps(eps) -> float:
    return NON_NEGATIVE.validate(eps, "eps")


def _iou_loss(pred_boxes, target_boxes, eps, want_loss, want_grad, reduction="mean"):
    pair = _Pair(pred_boxes, target_boxes, _eps(eps), "iou_loss")
    with np.errstate(divide="ignore", invalid="ignore"):
        native = want_grad and pair.format.single
        loss, grad = pair.iou_terms(want_grad and not native)
        if native:
            grad = _float32_grad(pair, giou=False)
        loss, grad = _empty_union(pair, loss, grad)
    return pair.finish(loss, grad, reduction, want_loss, want_grad)


def _axis_pieces(low, high, target_low, target_high, overlaps):
    """One axis of a scaled float32 pair as exact double words ``(hi, lo)``: the predicted side, the target's,
    the prediction's spill past the target's edges, its lack of them, and the overlap's side (0 where the
    boxes are apart); each a sum of exact differences of the coordinates (two-sum)."""
    side, target_side = dw.two_sum(high, -low), dw.two_sum(target_high, -target_low)
    upper, lower = dw.two_sum(high, -target_high), dw.two_sum(target_low, -low)  # > 0: past that edge
    out_up, out_down = upper[0] > 0, lower[0] > 0
    spill = _add(np.where(out_up, upper[0], 0), np.where(out_up, upper[1], 0),
                 np.where(out_down, lower[0], 0), np.where(out_down, lower[1], 0))
    lack = _add(np.where(out_up, 0, -upper[0]), np.where(out_up, 0, -upper[1]),
                np.where(out_down, 0, -lower[0]), np.where(out_down, 0, -lower[1]))
    inner = dw.two_sum(np.minimum(high, target_high), -np.maximum(low, target_low))
    inner = np.where(overlaps, inner[0], 0), np.where(overlaps, inner[1], 0)
    return side, target_side, spill, lack, inner


def _float32_grad(pair: _Pair, giou: bool):
    r"""The IoU loss's gradient (with ``giou`` GIoU's), shape (4, ...), of a scaled float32 pair, in
    double words of float32 from exact pieces, each component rounded once.

    In float32 the float forms (``iou_terms``, ``_giou_excess_grad``) multiply about ten rounded factors:
    up to 4 ulp off, and a small component more than an ulp of the largest. Here, with
    :math:`D = U + \epsilon = I + (U - I) + \epsilon` and :math:`R = 1/D^2`: an edge inside the target
    (x1) :math:`i_h (s_x h + A_{gt} + \epsilon) R`, one outside :math:`-I h R` (the signs of
    ``iou_terms``); GIoU adds, with :math:`E = C + \epsilon`, :math:`\partial(C - U)/E` for an edge that
    does not grow the enclosing box and the non-cancelling numerator of ``_giou_excess_grad`` over
    :math:`E^2` for one that does. Written one axis at a time, so its temporaries stay below the float64
    form's (no float64 array and no larger peak: float32 is computed in float32).
    """
    one, eps, overlaps = pair.format.one, (pair.eps, pair.eps_low), pair.overlaps
    w, wg, sx, lx, iw = _axis_pieces(pair.a1, pair.a2, pair.g1, pair.g2, overlaps)
    h, hg, sy, ly, ih = _axis_pieces(pair.b1, pair.b2, pair.h1, pair.h2, overlaps)
    # U - I (as _overlap): overlapping s_x h + i_w s_y + l_x h_gt + i_w l_y, else A + A_gt; the pieces
    # are dropped as soon as they are used (the IoU loss's gradient needs only i_w, i_h, s_x, s_y, w, h)
    target_area = _multiply(*wg, *hg)
    mismatch = _add(*_multiply(*lx, *hg), *_multiply(*iw, *ly))
    if not giou:
        del wg, hg, lx, ly
    mismatch = _add(*mismatch, *_add(*_multiply(*sx, *h), *_multiply(*iw, *sy)))
    apart = _add(*_multiply(*w, *h), *target_area)
    mismatch = np.where(overlaps, mismatch[0], apart[0]), np.where(overlaps, mismatch[1], apart[1])
    del apart
    padded_target = _add(*target_area, *eps)  # A_gt + eps
    del target_area
    inter = _multiply(*iw, *ih)
    denominator = _add(*inter, *_add(*mismatch, *eps))
    del mismatch
    reciprocal = _divide(np.broadcast_to(one, denominator[0].shape), 0, *denominator)
    del denominator
    reciprocal = _multiply(*reciprocal, *reciprocal)  # 1/D^2
    if giou:
        enclosing = (dw.two_sum(np.maximum(pair.a2, pair.g2), -np.minimum(pair.a1, pair.g1)),
                     dw.two_sum(np.maximum(pair.b2, pair.h2), -np.minimum(pair.b1, pair.h1)))
        outer = _add(*_multiply(*enclosing[0], *enclosing[1]), *eps)  # E = C + eps
        empty = outer[0] == 0
        outer_reciprocal = _divide(np.broadcast_to(one, outer[0].shape), 0, np.where(empty, one, outer[0]),
                                   np.where(empty, 0, outer[1]))
        del outer
        outer_square = _multiply(*outer_reciprocal, *outer_reciprocal)
    else:
        wg = hg = lx = ly = None
    grad = np.empty((4, *overlaps.shape), pair.format.dtype)
    # x1, x2 (rows 0, 2) from the x pieces and h; y1, y2 (rows 1, 3) from the y pieces and w
    for rows, inner_other, spill, other, other_target, own_lack, other_lack, other_spill, own_target, first, \
            second in (((0, 2), ih, sx, h, hg, lx, ly, sy, wg, (pair.a1, pair.g1), (pair.a2, pair.g2)),
                       ((1, 3), iw, sy, w, wg, ly, lx, sx, hg, (pair.b1, pair.h1), (pair.b2, pair.h2))):
        # inside: i_h (s_x h + A_gt + eps) / D^2; outside: I h / D^2
        inside = _multiply(*inner_other, *_add(*_multiply(*spill, *other), *padded_target))
        inside = _multiply(*inside, *reciprocal)
        outside = _multiply(*_multiply(*inter, *other), *reciprocal)
        if not giou:  # each rounded once; a row takes one of them
            inside, outside = inside[0] + inside[1], outside[0] + outside[1]
        for row, is_inside, sign in ((rows[0], first[0] > first[1], 1), (rows[1], second[0] < second[1], -1)):
            if not giou:
                grad[row] = np.where(is_inside, inside, -outside) if sign > 0 else np.where(is_inside, -inside, outside)
                continue
            value = (np.where(is_inside, inside[0], -outside[0]) * sign,
                     np.where(is_inside, inside[1], -outside[1]) * sign)
            term = _giou_term(pair, row, sign, enclosing, outer_reciprocal, outer_square, eps, other,
                              other_target, own_lack, other_lack, other_spill, own_target,
                              first if sign > 0 else second)
            if empty.any():  # C + eps = 0 (eps = 0, two points): no GIoU term
                term = np.where(empty, 0, term[0]), np.where(empty, 0, term[1])
            value = _add(*value, *term)
            grad[row] = value[0] + value[1]
        del inside, outside
    return grad


def _giou_term(pair, row, sign, enclosing, reciprocal, square, eps, other, other_target, own_lack, other_lack,
               other_spill, own_target, edge):
    r"""One edge's :math:`\partial((C - U)/(C + \epsilon))` for ``_float32_grad``, as a double word."""
    overlaps = pair.overlaps
    grows = edge[0] < edge[1] if sign > 0 else edge[0] > edge[1]
    kink = edge[0] == edge[1]
    # not growing the enclosing box: d(C - U)/E, d(C - U) = +-(the other axis's spill) or +-(the other side)
    inside = overlaps & ~kink
    change = (np.where(inside, other_spill[0], other[0]) * sign, np.where(inside, other_spill[1], other[1]) * sign)
    plain = _multiply(*change, *reciprocal)
    # growing it: (c_other (w_gt l_y - l_x s_y) (overlapping) or c_other (w_gt h_gt - l_x h), signed,
    # + l_y eps) / E^2 (``_giou_excess_grad``)
    kept = np.where(overlaps, other_lack[0], other_target[0]), np.where(overlaps, other_lack[1], other_target[1])
    lost = np.where(overlaps, other_spill[0], other[0]), np.where(overlaps, other_spill[1], other[1])
    product = _multiply(*own_lack, *lost)
    inner = _add(*_multiply(*own_target, *kept), -product[0], -product[1])
    across = enclosing[1] if row % 2 == 0 else enclosing[0]
    growth = _multiply(*across, *inner)
    lack = _multiply(*other_lack, *eps)
    growth = _add(-sign * growth[0], -sign * growth[1], -sign * lack[0], -sign * lack[1])
    grown = _multiply(*growth, *square)
    return np.where(grows, grown[0], plain[0]), np.where(grows, grown[1], plain[1])


def _empty_union(pair: _Pair, loss, grad):
    """Two empty boxes with eps = 0: IoU is 0/0; taken as 0 (loss 1, no gradient), as for disjoint boxes."""
    empty = (pair.union + pair.eps) == 0
    if not empty.any():
        return loss, grad
    return np.where(empty, 1.0, loss), (None if grad is None else np.where(empty, 0.0, grad))


def iou_loss(pred_boxes, target_boxes, *, eps: float = 1e-7, reduction: str = "mean"):
    r"""IoU loss of a predicted box: one minus its intersection over union with the target box.

    .. math:: \ell = 1 - \frac{I}{U + \epsilon},\qquad
              \frac{\partial \ell}{\partial b} = -\frac{\partial I/\partial b}{U + \epsilon}
              + \frac{I\,(\partial A/\partial b - \partial I/\partial b)}{(U + \epsilon)^2}

    where :math:`A = (x_2 - x_1)(y_2 - y_1)` is the predicted box's area,
    :math:`U = A + A_{gt} - I`, and :math:`\partial I/\partial x_1 = -(\text{overlap height})`
    while :math:`x_1` lies inside the target (likewise for the other edges).
    Scale-invariant, unlike an L1/L2 loss on coordinates; but flat, with zero
    gradient, for every pair of disjoint boxes. ``eps`` >= 0 (default 1e-7, as
    torchvision) keeps empty boxes finite. Yu et al., "UnitBox: An Advanced
    Object Detection Network", ACM MM 2016 (which uses :math:`-\log \mathrm{IoU}`).
    """
    validate_reduction(reduction)
    return _iou_loss(pred_boxes, target_boxes, eps, True, False, reduction)


def iou_loss_grad(pred_boxes, target_boxes, *, eps: float = 1e-7):
    r""":math:`\partial \ell / \partial (x_1, y_1, x_2, y_2)` of the predicted box, shaped like ``pred_boxes``."""
    return _iou_loss(pred_boxes, target_boxes, eps, False, True)


def iou_loss_and_grad(pred_boxes, target_boxes, *, eps: float = 1e-7, reduction: str = "mean"):
    """``(iou_loss(...), iou_loss_grad(...))`` from one validation and one overlap."""
    validate_reduction(reduction)
    return _iou_loss(pred_boxes, target_boxes, eps, True, True, reduction)


def _giou(pred_boxes, target_boxes, eps, want_loss, want_grad, reduction="mean"):
    pair = _Pair(pred_boxes, target_boxes, _eps(eps), "giou")
    with np.errstate(divide="ignore", invalid="ignore"):
        native = want_grad and pair.format.single
        loss, grad = pair.iou_terms(want_grad and not native)
        width, height = pair.enclosing()
        enclosing = width * height
        denominator = enclosing + pair.eps
        # (C - U)/(C + eps): the enclosing box's area that neither box covers, as a fraction
        empty = denominator == 0
        safe = np.where(empty, 1.0, denominator)
        # C - U from non-negative pieces (no cancellation where the boxes nearly fill their enclosing box):
        # with o_x the overlap's signed width, s_x, l_x the prediction's spill past and lack of the
        # target's edges, w = o_x + s_x, w_gt = o_x + l_x and c_w = o_x + s_x + l_x (the same in y), so
        # C - U = s_x l_y + l_x s_y - o_x o_y + I: overlapping s_x l_y + l_x s_y, apart in one axis
        # + |o_x o_y|, apart in both w h_gt + w |o_y| + |o_x| h_gt + l_x s_y
        ox, oy = pair.ox, pair.oy
        sx, sy, lx, ly = pair.spill_x, pair.spill_y, pair.lack_x, pair.lack_y
        w, hg = pair.width, pair.target_height
        crossed = sx * ly + lx * sy
        excess = np.where(pair.overlaps, crossed,
                          np.where((ox < 0) & (oy < 0), (w * hg - w * oy) + (lx * sy - ox * hg), crossed - ox * oy))
        uncovered = excess / safe
        loss = loss + np.where(empty, 0.0, uncovered)
        if not want_grad:  # a loss-only call
            return pair.finish(_empty_union(pair, loss, None)[0], None, reduction, want_loss, want_grad)
        if native:
            grad = _float32_grad(pair, giou=True)
        else:
            grad = grad + np.where(empty, 0.0, _giou_excess_grad(pair, width, height, safe, uncovered))
        loss, grad = _empty_union(pair, loss, grad)
    return pair.finish(loss, grad, reduction, want_loss, want_grad)


def _giou_excess_grad(pair: _Pair, width, height, denominator, uncovered):
    r""":math:`\partial((C - U)/(C + \epsilon))`, shape (4, ...), from the non-negative pieces of ``_giou``.

    :math:`\partial(C - U)` per edge: for overlapping boxes (an edge outside the target moves
    :math:`C - U` by the other axis's lack, one inside by its spill), else :math:`\mp l` or :math:`\pm h`.
    An edge that does not grow the enclosing box gives :math:`\partial(C - U)/(C + \epsilon)`; one that
    does (x2 past the target's) gives :math:`(\partial(C - U)(C + \epsilon) - (C - U) c_h)/(C + \epsilon)^2`,
    whose numerator is :math:`c_h (o_x l_y + l_x (h_{gt} - h)) + l_y \epsilon` (:math:`o_x h_{gt}`
    for :math:`o_x l_y` where the boxes are apart), that is :math:`c_h (w_{gt} l_y - l_x s_y) + l_y \epsilon`
    (apart: :math:`c_h (w_{gt} h_{gt} - l_x h) + l_y \epsilon`): the plain difference cancels where the
    boxes nearly fill their enclosing box.
    """
    sx, sy, lx, ly = pair.spill_x, pair.spill_y, pair.lack_x, pair.lack_y
    w, h = pair.width, pair.height
    kink = np.stack([pair.a1 == pair.g1, pair.b1 == pair.h1, pair.a2 == pair.g2, pair.b2 == pair.h2])
    grows = np.stack([pair.a1 < pair.g1, pair.b1 < pair.h1, pair.a2 > pair.g2, pair.b2 > pair.h2])
    lacks = np.stack([-ly, -lx, ly, lx])
    change = np.where(grows, lacks, np.where(pair.overlaps & ~kink, np.stack([sy, sx, -sy, -sx]),
                                             np.stack([h, w, -h, -w])))
    # c_h (o_x l_y + l_x (h_gt - h)) = c_h (w_gt l_y - l_x s_y) (overlapping) or c_h (w_gt h_gt - l_x h)
    wg, hg = pair.target_width, pair.target_height
    overlapping = pair.overlaps
    inner = (np.stack([wg, hg]) * np.where(overlapping, np.stack([ly, lx]), np.stack([hg, wg]))
             - np.stack([lx, ly]) * np.where(overlapping, np.stack([sy, sx]), np.stack([h, w])))
    growth = np.stack([height, width]) * inner
    growth = np.concatenate([-growth, growth]) + lacks * pair.eps
    # where it does not cancel, the direct form is more accurate (fewer rounded factors): dC - dU -
    # dC (C - U)/(C + eps), or dC (U + eps)/(C + eps) - dU where the boxes cover little of the enclosing box
    stretch = np.stack([-height, -width, height, width])  # dC of a growing edge; its dU is dA = (-h, -w, h, w)
    small = uncovered <= 0.5
    first = np.where(small, change, stretch * ((pair.union + pair.eps) / denominator))
    second = np.where(small, stretch * uncovered, np.stack([-h, -w, h, w]))
    direct = first - second
    keeps = np.abs(direct) >= 0.5 * np.maximum(np.abs(first), np.abs(second))
    return np.where(grows & ~keeps, (growth / denominator) / denominator, np.where(grows, direct, change) / denominator)


def giou(pred_boxes, target_boxes, *, eps: float = 1e-7, reduction: str = "mean"):
    r"""Generalized IoU loss (torchvision's ``generalized_box_iou_loss``).

    .. math:: \ell = 1 - \frac{I}{U + \epsilon} + \frac{C - U}{C + \epsilon}

    .. math:: \frac{\partial \ell}{\partial b} = \frac{\partial \ell_{\mathrm{IoU}}}{\partial b}
              + \frac{\partial C/\partial b - \partial U/\partial b}{C + \epsilon}
              - \frac{(C - U)\,\partial C/\partial b}{(C + \epsilon)^2}

    with :math:`C` the area of the smallest box enclosing both. In [0, 2):
    for disjoint boxes the IoU term is stuck at 1 but the second term still
    shrinks as the boxes approach, so the gradient does not vanish.
    ``eps`` >= 0 (default 1e-7, torchvision's). Rezatofighi et al.,
    "Generalized Intersection over Union", CVPR 2019, algorithm 2.
    """
    validate_reduction(reduction)
    return _giou(pred_boxes, target_boxes, eps, True, False, reduction)


def giou_grad(pred_boxes, target_boxes, *, eps: float = 1e-7):
    r""":math:`\partial \ell / \partial (x_1, y_1, x_2, y_2)` of the predicted box, shaped like ``pred_boxes``."""
    return _giou(pred_boxes, target_boxes, eps, False, True)


def giou_and_grad(pred_boxes, target_boxes, *, eps: float = 1e-7, reduction: str = "mean"):
    """``(giou(...), giou_grad(...))`` from one validation and one overlap."""
    validate_reduction(reduction)
    return _giou(pred_boxes, target_boxes, eps, True, True, reduction)


def _diou(pred_boxes, target_boxes, eps, want_loss, want_grad, reduction="mean"):
    pair = _Pair(pred_boxes, target_boxes, _eps(eps), "diou")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio, distance_grad = pair.distance_terms(want_grad)  # torchvision adds eps to the squared diagonal
        loss = pair.iou_terms(want_grad=False)[0] + ratio if want_loss else ratio
        grad = None
        if want_grad:
            # the IoU gradient as a double word, rounded once with the distance term
            _, (iou_grad, iou_grad_low) = pair.iou_terms_double()
            grad, low = dw.two_sum(iou_grad, distance_grad)
            grad = grad + (low + iou_grad_low)
        loss, grad = _empty_union(pair, loss, grad)
    return pair.finish(loss, grad, reduction, want_loss, want_grad)


def diou(pred_boxes, target_boxes, *, eps: float = 1e-7, reduction: str = "mean"):
    r"""Distance-IoU loss (torchvision's ``distance_box_iou_loss``): IoU loss plus the normalised centre distance.

    .. math:: \ell = 1 - \frac{I}{U + \epsilon} + \frac{\rho^2}{c^2 + \epsilon}

    .. math:: \frac{\partial \ell}{\partial b} = \frac{\partial \ell_{\mathrm{IoU}}}{\partial b}
              + \frac{\partial \rho^2/\partial b - (\rho^2/(c^2 + \epsilon))\,\partial c^2/\partial b}{c^2 + \epsilon}

    :math:`\rho` is the distance between the boxes' centres
    (:math:`\partial \rho^2/\partial x_1 = \partial \rho^2/\partial x_2 = \Delta x`, the centres'
    horizontal offset), :math:`c` the diagonal of the smallest enclosing box.
    The penalty pulls the centres together directly, which converges faster
    than GIoU's area term. In [0, 2). ``eps`` >= 0 (default 1e-7,
    torchvision's). Zheng et al., "Distance-IoU Loss: Faster and Better
    Learning for Bounding Box Regression", AAAI 2020, eq. 6.
    """
    validate_reduction(reduction)
    return _diou(pred_boxes, target_boxes, eps, True, False, reduction)


def diou_grad(pred_boxes, target_boxes, *, eps: float = 1e-7):
    r""":math:`\partial \ell / \partial (x_1, y_1, x_2, y_2)` of the predicted box, shaped like ``pred_boxes``."""
    return _diou(pred_boxes, target_boxes, eps, False, True)


def diou_and_grad(pred_boxes, target_boxes, *, eps: float = 1e-7, reduction: str = "mean"):
    """``(diou(...), diou_grad(...))`` from one validation and one overlap."""
    validate_reduction(reduction)
    return _diou(pred_boxes, target_boxes, eps, True, True, reduction)


def _aspect_gap(pair: _Pair, want_double: bool = False):
    r""":math:`\arctan(w_{gt}/h_{gt}) - \arctan(w/h)`, to an ulp or two of itself also for nearly equal aspect ratios.

    The difference of the two rounded angles is off by an ulp of :math:`\pi/2`, which for similar
    boxes is most of it. Both angles are in :math:`[0, \pi/2]`, so the difference is the angle of
    :math:`(h_{gt} h + w_{gt} w,\ w_{gt} h - h_{gt} w)`: the widths are taken exactly (two-sum of the
    corners) and the cross term :math:`w_{gt} h - h_{gt} w` in double words (two-products), so it keeps
    its digits where it cancels. A box of zero width and height (no angle) takes the plain difference.
    With ``want_double``, for the gradient: the gap as a double word (:func:`_arctan2_double`), the
    predicted box's exact sides ``(w, h)`` times a power of two ``2^-m`` that brings the larger into
    [1/2, 1) (double words stacked on axis 0), their :math:`w^2 + h^2` (a double word) and ``2^-m``.
    """
    # (w, h, w_gt, h_gt) stacked on axis 0, then the four products (w_gt h, h_gt w, h_gt h, w_gt w) at once
    sides, sides_low = dw.two_sum(np.concatenate([pair.pred[2:], pair.target[2:]]),
                                  -np.concatenate([pair.pred[:2], pair.target[:2]]))
    return _aspect_gap_of_sides(sides, sides_low, want_double)


def _aspect_gap_of_sides(sides, sides_low, want_double: bool = False):
    """``_aspect_gap`` from the sides (w, h, w_gt, h_gt) as double words stacked on axis 0 (each box's
    in a scale of its own)."""
    w, h, wg, hg = sides
    if want_double:
        # each box's sides by a power of two (exact), its largest in [1/2, 1): the gap is a ratio, and
        # w^2 + h^2 and the products stay in range for boxes far below the scaled pair's size
        _, exponents = np.frexp(np.maximum(sides[[0, 2]], sides[[1, 3]]))
        sides, sides_low = np.ldexp(sides, -exponents[[0, 0, 1, 1]]), np.ldexp(sides_low, -exponents[[0, 0, 1, 1]])
    # (with want_double also w^2 and h^2, for the gradient's w^2 + h^2)
    order_x, order_y = ([2, 3, 3, 2, 0, 1], [1, 0, 1, 0, 0, 1]) if want_double else ([2, 3, 3, 2], [1, 0, 1, 0])
    products = _multiply(sides[order_x], sides_low[order_x], sides[order_y], sides_low[order_y])
    high, low = products  # cross = w_gt h - h_gt w and dot = h_gt h + w_gt w in one double-word addition
    (cross, dot), (cross_low, dot_low) = dw.add(high[[0, 2]], low[[0, 2]], np.stack([-high[1], high[3]]),
                                                np.stack([-low[1], low[3]]))
    degenerate = ((w == 0) & (h == 0)) | ((wg == 0) & (hg == 0))
    if want_double:
        # the gap's rounding counts three times in the gradient (alpha dv is the gap cubed): a double word;
        # cross = dot = 0 (products below the float range: a tiny box far from the other) as the loss's
        plain = degenerate | ((cross == 0) & (dot == 0))
        gap, gap_low = _arctan2_double(cross, cross_low, np.where(plain, 1.0, dot), dot_low)
        if plain.any():
            gap = np.where(degenerate, np.arctan2(wg, hg) - np.arctan2(w, h), np.where(plain, 0.0, gap))
            gap_low = np.where(plain, 0.0, gap_low)
        return (gap, gap_low, (sides[:2], sides_low[:2]), _add(high[4], low[4], high[5], low[5]),
                np.ldexp(FORMATS[gap.dtype].one, -exponents[0]))
    # the tangent of the gap, cross / dot, to half an ulp (both double words), then one arctan
    positive = dot > 0
    safe = np.where(positive, dot, 1.0)
    tangent, tangent_low = dw.divide(cross, cross_low, safe)
    tangent = tangent - tangent * (dot_low / safe) + tangent_low
    gap = np.where(positive, np.arctan(tangent), np.arctan2(cross, dot))
    if degenerate.any():
        gap = np.where(degenerate, np.arctan2(wg, hg) - np.arctan2(w, h), gap)
    return gap


def _ciou_grad(pair: _Pair, iou_loss_, iou_grad, distance_grad, eps):
    r"""CIoU's gradient :math:`(1 - \alpha^2)\,\partial\ell_{IoU} + \partial(\rho^2/c^2) - A\,\partial\theta`, shape (4, ...).

    :math:`\partial(\alpha v) = \alpha(2 - \alpha)\,\partial v - \alpha^2 \partial\ell_{IoU}` with
    :math:`\partial v = -2 (4/\pi^2)\,g\,\partial\theta` (:math:`g` the aspect gap, :math:`\theta = \arctan(w/h)`),
    so :math:`A = \alpha (2 - \alpha)\, 2 (4/\pi^2)\, g`, a product of about eight factors with :math:`g`
    cubed in it (:math:`\alpha \propto g^2`): it is formed in double words from the double-word gap and
    the exact sides, and :math:`1 - \alpha^2 = (1 - \alpha)(1 + \alpha)`, :math:`1 - \alpha = (\ell_{IoU} + \epsilon)/Q`
    (no cancellation where :math:`\alpha` is near 1). The three terms are added in double words and
    rounded once.
    """
    gap, gap_low, (sides, sides_low), diagonal, unscale = _aspect_gap(pair, want_double=True)
    square, square_low = dw.square_unchecked(gap)
    # v = (4/pi^2) g^2 and the slope (8/pi^2) g in one double-word product, (2, ...)
    shape = (2,) + (1,) * gap.ndim
    fmt = pair.format
    (v, slope), (v_low, slope_low) = _multiply(
        fmt.four_over_pi_squared[0].reshape(shape), fmt.four_over_pi_squared[1].reshape(shape),
        np.stack([square, gap]), np.stack([square_low + 2 * gap * gap_low, gap_low]))
    # Q = (1 - IoU) + v + eps, alpha = v/Q and 1 - alpha = ((1 - IoU) + eps)/Q (eps not scaled: Q is a ratio)
    loss_eps, loss_eps_low = dw.two_sum(iou_loss_[0], eps)
    loss_eps_low = loss_eps_low + iou_loss_[1]
    if pair.eps_low_value:  # float32: the rest of eps
        loss_eps_low = loss_eps_low + pair.eps_low_value
    # for eps above 2^500 (float32 2^50), Q' = Q shrink with a power of two shrink (in range for the double words),
    # alpha' = v/Q' = alpha/shrink, and the shrink goes into the aspect term at the end
    shrink = 2.0 ** -math.frexp(eps)[1] if eps > fmt.huge else 1.0
    loss_eps, loss_eps_low = loss_eps * shrink, loss_eps_low * shrink
    q, q_low = _add(loss_eps, loss_eps_low, v * shrink, v_low * shrink)
    positive = q > 0  # 0 only for two equal boxes with eps = 0: no penalty
    q, q_low = np.where(positive, q, 1.0), np.where(positive, q_low, 0.0)
    (alpha, rest), (alpha_low, rest_low) = _divide(np.stack([v, loss_eps]), np.stack([v_low, loss_eps_low]), q, q_low)
    rest, rest_low = np.where(positive, rest, 1.0), np.where(positive, rest_low, 0.0)
    # 1 - alpha^2 = (1 - alpha)(1 + alpha) and alpha (2 - alpha), then A = alpha (2 - alpha) (8/pi^2) g
    shifted, shifted_low = dw.two_sum(fmt.array([1.0, 2.0], shape), np.stack([alpha, -alpha]) * shrink)
    (keep, pull), (keep_low, pull_low) = _multiply(np.stack([rest, alpha]), np.stack([rest_low, alpha_low]),
                                                   shifted, shifted_low + np.stack([alpha_low, -alpha_low]) * shrink)
    pull = _multiply(pull, pull_low, slope, slope_low)
    # d theta = (h dw - w dh)/(w^2 + h^2): (A h, A w)/(w^2 + h^2), (2, ...)
    has_angle = diagonal[0] > 0  # a point box has no angle and no aspect gradient
    pull = _divide(*pull, np.where(has_angle, diagonal[0], 1.0), np.where(has_angle, diagonal[1], 0.0))
    turn = _multiply(sides[::-1], sides_low[::-1], np.where(has_angle, pull[0], 0.0), pull[1])
    # the sides' power of two (d theta scales with 1/size) and eps's shrink, exact
    unscale = unscale * shrink
    turn = turn[0] * unscale, turn[1] * unscale
    # -A d theta for (x1, y1, x2, y2) = (A h, -A w, -A h, A w)/(w^2 + h^2)
    signs = fmt.array([1.0, -1.0, -1.0, 1.0], (4,) + (1,) * gap.ndim)
    aspect, aspect_low = signs * turn[0][[0, 1, 0, 1]], signs * np.where(has_angle, turn[1], 0.0)[[0, 1, 0, 1]]
    kept, kept_low = _multiply(*np.broadcast_arrays(keep, keep_low, iou_grad[0])[:2], *iou_grad)
    total, low = dw.two_sum(kept, distance_grad)
    total, rounding = dw.two_sum(total, aspect)
    return total + (low + rounding + kept_low + aspect_low)


def _ciou(pred_boxes, target_boxes, eps, want_loss, want_grad, reduction="mean"):
    eps = _eps(eps)
    pair = _Pair(pred_boxes, target_boxes, eps, "ciou")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio, distance_grad = pair.distance_terms(want_grad)  # torchvision adds eps to the squared diagonal
        grad = _ciou_grad(pair, *pair.iou_terms_double(), distance_grad, eps) if want_grad else None
        loss = ratio
        if want_loss:
            iou_loss_ = pair.iou_terms(want_grad=False)[0]
            # v: squared difference of the aspect angles atan(w/h) (atan2: pi/2 for a box of zero height)
            angle_gap = _aspect_gap(pair)
            v = FOUR_OVER_PI_SQUARED * angle_gap * angle_gap
            # alpha v = v^2 / Q with Q = (1 - IoU) + v + eps; Q is a ratio, so its eps is not scaled
            q = iou_loss_ + v + eps
            loss = iou_loss_ + ratio + np.where(q > 0, v * (v / np.where(q > 0, q, 1.0)), 0.0)
        loss, grad = _empty_union(pair, loss, grad)
    return pair.finish(loss, grad, reduction, want_loss, want_grad)




def ciou(pred_boxes, target_boxes, *, eps: float = 1e-7, reduction: str = "mean"):
    r"""Complete-IoU loss (torchvision's ``complete_box_iou_loss``): DIoU plus an aspect-ratio term.

    .. math:: \ell = \ell_{\mathrm{DIoU}} + \alpha v,\qquad
              v = \frac{4}{\pi^2}\Bigl(\arctan\frac{w_{gt}}{h_{gt}} - \arctan\frac{w}{h}\Bigr)^2,\qquad
              \alpha = \frac{v}{(1 - \mathrm{IoU}) + v + \epsilon}

    .. math:: \frac{\partial (\alpha v)}{\partial b} = \frac{2v\,\partial v/\partial b}{Q}
              - \frac{v^2\,(\partial v/\partial b - \partial \mathrm{IoU}/\partial b)}{Q^2},\qquad
              Q = 1 - \mathrm{IoU} + v + \epsilon,\qquad
              \frac{\partial v}{\partial b} = -\frac{8}{\pi^2}\Bigl(\arctan\frac{w_{gt}}{h_{gt}} - \arctan\frac{w}{h}\Bigr)
              \frac{h\,\partial w/\partial b - w\,\partial h/\partial b}{w^2 + h^2}

    The three geometric factors of a box fit: overlap, centre distance and
    aspect ratio. ``eps`` >= 0 (default 1e-7, torchvision's). Zheng et al.,
    "Distance-IoU Loss", AAAI 2020, eqs. 9-11. The loss values are
    torchvision's; the gradient is the full derivative of this loss, with
    :math:`\alpha` differentiated too. torchvision (and the paper) hold
    :math:`\alpha` constant in back-propagation, and the paper also drops the
    factor :math:`1/(w^2 + h^2)` from :math:`\partial v/\partial b`; both give a
    different, non-gradient update. :math:`\arctan(w/h)` is taken as
    ``arctan2(w, h)``, which is :math:`\pi/2` for a box of zero height. The
    difference of the two angles is computed as one angle,
    :math:`\arctan\bigl((w_{gt} h - h_{gt} w)/(h_{gt} h + w_{gt} w)\bigr)`, with exact widths and
    double-word products, so boxes of nearly the target's aspect ratio keep its digits.
    """
    validate_reduction(reduction)
    return _ciou(pred_boxes, target_boxes, eps, True, False, reduction)


def ciou_grad(pred_boxes, target_boxes, *, eps: float = 1e-7):
    r""":math:`\partial \ell / \partial (x_1, y_1, x_2, y_2)` of the predicted box (α differentiated), shaped like ``pred_boxes``."""
    return _ciou(pred_boxes, target_boxes, eps, False, True)


def ciou_and_grad(pred_boxes, target_boxes, *, eps: float = 1e-7, reduction: str = "mean"):
    """``(ciou(...), ciou_grad(...))`` from one validation and one overlap."""
    validate_reduction(reduction)
    return _ciou(pred_boxes, target_boxes, eps, True, True, reduction)
