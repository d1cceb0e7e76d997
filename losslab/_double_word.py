r"""Double-word ("double-double") arithmetic on NumPy arrays, for the few places that need it.

A double word is a pair of same-dtype arrays ``(hi, lo)`` standing for the unevaluated sum
``hi + lo`` with ``|lo| <= ulp(hi)/2``: about twice the working precision (106 bits in float64, 48 in
float32). It is what a loss uses where a result is a small difference of rounded quantities (a
margin minus a distance, ``p - y`` near ``p = y``, the difference of two angles) and the terms must
carry their own rounding error for the difference to keep its digits.

The error-free transformations are Knuth's two-sum and Dekker's two-product (NumPy has no fused
multiply-add). They are exact for finite inputs as long as nothing overflows and, for two-product,
the product's rounding error is not below the normal range (``|a b| >~ 2^-969`` in float64); outside
that the pair is still the rounded result plus an approximate error, never worse than the plain
operation. Everything here works elementwise with broadcasting, in the inputs' dtype.

References: T. J. Dekker, "A floating-point technique for extending the available precision" (1971);
T. Ogita, S. M. Rump, S. Oishi, "Accurate sum and dot product" (2005), whose ``Sum2`` and ``Dot2``
``sum`` and ``dot`` follow.
"""

from __future__ import annotations

import functools

import numpy as np


def two_sum(a, b) -> tuple[np.ndarray, np.ndarray]:
    """``a + b = s + e`` exactly, with ``s = fl(a + b)``; no assumption on the sizes of ``a`` and ``b``."""
    s = a + b
    b_virtual = s - a
    return s, (a - (s - b_virtual)) + (b - b_virtual)


def _split(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Veltkamp's split ``a = high + low`` with each part holding half the significand (exact).

    Values near the top of the float range are scaled down by a power of two first (exact), so the
    multiplication by ``2^s + 1`` cannot overflow.
    """
    a = np.asarray(a)
    info = np.finfo(a.dtype)
    half = (info.nmant + 2) // 2
    factor = a.dtype.type(2.0**half + 1)
    big = np.abs(a) > info.max / 2.0 ** (half + 1)
    if np.any(big):
        scale = np.where(big, a.dtype.type(2.0 ** -(half + 1)), a.dtype.type(1))
        scaled = a * scale
        c = scaled * factor
        with np.errstate(over="ignore"):
            high = (c - (c - scaled)) / scale
        rounded_up = np.isinf(high) & np.isfinite(a)
        if np.any(rounded_up):  # within half a step of the top: high rounded to 2^emax, past float max
            # take the half-significand value below it instead; low has one bit more, which a product with
            # any half-significand split still holds (two_product of float max was NaN)
            top = np.ldexp(a.dtype.type(2) - a.dtype.type(2.0 ** (half - info.nmant)), info.maxexp - 1)
            high = np.where(rounded_up, np.copysign(top, a), high)
    else:
        c = a * factor
        high = c - (c - a)
    return high, a - high


def two_product(a, b) -> tuple[np.ndarray, np.ndarray]:
    """``a b = p + e`` exactly, with ``p = fl(a b)`` (Dekker's product of the Veltkamp halves)."""
    a, b = np.broadcast_arrays(np.asarray(a), np.asarray(b))
    p = a * b
    a_high, a_low = _split(a)
    b_high, b_low = _split(b)
    with np.errstate(invalid="ignore", over="ignore"):
        e = ((a_high * b_high - p) + a_high * b_low + a_low * b_high) + a_low * b_low
    return p, np.where(np.isfinite(p), e, 0).astype(p.dtype, copy=False)


def square(a) -> tuple[np.ndarray, np.ndarray]:
    """``a^2 = p + e`` exactly (two-product of ``a`` with itself, one split)."""
    a = np.asarray(a)
    p = a * a
    high, low = _split(a)
    with np.errstate(invalid="ignore", over="ignore"):
        e = ((high * high - p) + 2 * high * low) + low * low
    return p, np.where(np.isfinite(p), e, 0).astype(p.dtype, copy=False)


#: The dtypes the double-word kernels compute in (their splitting constants and exponent layouts); a caller
#: computes any other float (longdouble) in float64 and rounds once (:func:`in_float64`).
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def in_float64(kernel, first: np.ndarray, second: np.ndarray, *args, **options):
    """``kernel(first, second, *args, **options)`` on float64 copies of the two arrays, each of its results
    (an array, None, or a tuple of them) rounded once to ``first``'s dtype."""
    dtype = first.dtype
    results = kernel(first.astype(np.float64), np.asarray(second, np.float64), *args, **options)
    with np.errstate(over="ignore"):  # a float64 value past float32 max is inf, its true size
        if isinstance(results, tuple):
            return tuple(None if r is None else np.asarray(r).astype(dtype) for r in results)
        return np.asarray(results).astype(dtype)


def split_unchecked(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Veltkamp's split of values well below float max (about 2^996 in float64, 2^115 in float32), with
    no range check.

    The same halves as the checked split in a third of the NumPy calls, for callers whose values are
    known to be moderate (probabilities, scaled boxes and vectors; the dashboard calls the losses on
    small arrays, where each call counts)."""
    constant = _VELTKAMP.get(a.dtype)
    if constant is None:  # another float (longdouble): its own constant
        constant = a.dtype.type(2.0 ** ((np.finfo(a.dtype).nmant + 2) // 2) + 1)
    high = a * constant
    high -= high - a
    return high, a - high


#: Veltkamp's splitting constant 2^ceil(p/2) + 1 per dtype (p: the significand's bits), looked up once.
_VELTKAMP = {np.dtype(t): np.dtype(t).type(2.0 ** ((np.finfo(t).nmant + 2) // 2) + 1) for t in (np.float32, np.float64)}


def two_product_unchecked(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`two_product` of values whose product and halves stay in range (see :func:`split_unchecked`):
    ``a b = p + e`` exactly, with the error's temporaries reused in place."""
    p = a * b
    a_high, a_low = split_unchecked(a)
    b_high, b_low = split_unchecked(b)
    e = a_high * b_high
    e -= p
    e += a_high * b_low
    e += a_low * b_high
    e += a_low * b_low
    return p, e


def square_unchecked(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`square` of values in range (see :func:`split_unchecked`): ``a^2 = p + e`` exactly."""
    high, low = split_unchecked(a)
    p = a * a
    return p, ((high * high - p) + 2 * high * low) + low * low


def add(x_hi, x_lo, y_hi, y_lo) -> tuple[np.ndarray, np.ndarray]:
    """The double word nearest ``(x_hi + x_lo) + (y_hi + y_lo)`` (relative error about ``4 u^2``)."""
    s, e = two_sum(x_hi, y_hi)
    t, f = two_sum(x_lo, y_lo)
    e = e + t
    s, e = _fast_two_sum(s, e)
    e = e + f
    return _fast_two_sum(s, e)


def multiply(x_hi, x_lo, y_hi, y_lo) -> tuple[np.ndarray, np.ndarray]:
    """``(x_hi + x_lo) (y_hi + y_lo)`` as a double word (relative error about ``7 u^2``)."""
    p, e = two_product(x_hi, y_hi)
    e = e + (x_hi * y_lo + x_lo * y_hi)
    return _fast_two_sum(p, e)


def divide(x_hi, x_lo, y) -> tuple[np.ndarray, np.ndarray]:
    """``(x_hi + x_lo) / y`` for a float ``y``, as a double word (one Newton correction)."""
    q = x_hi / y
    p, e = two_product(q, y)
    with np.errstate(invalid="ignore"):
        remainder = ((x_hi - p) - e) + x_lo
    return _fast_two_sum(q, np.where(np.isfinite(q), remainder / y, 0).astype(q.dtype, copy=False))


def sqrt(x_hi, x_lo) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`\sqrt{x_{hi} + x_{lo}}` as a double word, for ``x_hi >= 0`` (one Newton correction)."""
    root = np.sqrt(x_hi)
    p, e = square(root)
    with np.errstate(invalid="ignore", divide="ignore"):
        correction = (((x_hi - p) - e) + x_lo) / (2 * root)
    correction = np.where(root > 0, correction, 0).astype(root.dtype, copy=False)
    correction = np.where(np.isfinite(root), correction, 0).astype(root.dtype, copy=False)
    return _fast_two_sum(root, correction)


def total(values, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """The sum of ``values`` along ``axis`` as a double word (Ogita-Rump-Oishi ``Sum2``).

    As accurate as if summed in twice the working precision and then rounded to a double word:
    the error is about ``u^2 n`` times the sum of absolute values. One Python-level step per entry of
    ``axis``, so meant for the short axes of the losses (classes, coordinates, features).
    """
    values = np.moveaxis(np.asarray(values), axis, 0)
    if values.shape[0] == 0:
        zero = np.zeros(values.shape[1:], dtype=values.dtype)
        return zero, zero.copy()
    s = values[0].copy()
    error = np.zeros_like(s)
    for value in values[1:]:
        s, e = two_sum(s, value)
        error += e
    return _fast_two_sum(s, error)


def shifted_exp_rows(rows: np.ndarray, exp=None) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`e^{z_k - \max_j z_j}` of each row of finite ``rows`` (rows, entries) as a double word ``(hi, lo)``,
    the softmax's weights before their sum: the gap with its rounding error (two-sum), then
    :func:`exp_weights`. A gap past float max is a weight of 0."""
    with np.errstate(over="ignore", invalid="ignore"):  # a gap past float max is -inf: weight 0
        gap, gap_low = two_sum(rows, -rows.max(axis=1, keepdims=True))
    return exp_weights(gap, gap_low, exp)


def exp_weights(hi: np.ndarray, lo: np.ndarray | None, exp=None) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`e^{hi + lo}` as a double word for ``hi`` at most a few: ``exp`` (:func:`exp_double_word` by
    default, about :math:`2^{-68}`, or :func:`exp_scaled`, about :math:`2^{-29}`) scaled by its power of two.
    Weights below the normal range keep the digits they can hold; 0 below the range (and for -inf).
    ``lo`` (a scratch array) is overwritten."""
    if lo is not None:  # past this the weight is 0 after scaling; ``exp`` clips hi but not a huge (or NaN) lo
        np.copyto(lo, 0, where=~(hi > _NO_WEIGHT_GAP[hi.dtype]))
    high, low, power = (exp or exp_double_word)(hi, lo)
    with np.errstate(under="ignore"):  # weights below the normal range keep the digits they can hold
        return np.ldexp(high, power, out=high), np.ldexp(low, power, out=low)


#: gaps below which e^gap is 0 even as a subnormal (e^-1000 < 2^-1075, e^-150 < 2^-150), and where a low
#: part of half an ulp of the gap is still at most 2^-44 (float32: 2^-17)
_NO_WEIGHT_GAP = {np.dtype(np.float64): -1000.0, np.dtype(np.float32): -150.0}


def row_sums(values: np.ndarray, bound: np.ndarray, *, high: np.ndarray, low: np.ndarray):
    r"""Row sums of non-negative finite ``values`` (rows, classes) as double words ``(hi, lo)``, exact to about :math:`u^2`.

    Rump, Ogita and Oishi's extraction: with :math:`\sigma` a power of two at least
    :math:`2^M` times every entry (:math:`2^M \ge` classes + 2; ``bound`` is at least every
    entry of its row), the high parts :math:`q = (\sigma + v) - \sigma` are exact and so is
    their sum ``hi``, and the low parts :math:`v - q` are below :math:`u \sigma`, so their
    rounded sum ``lo`` errs by about :math:`K^2 u^2 \sigma`; the pair is then renormalized
    (``lo`` is far below ``hi``, so Dekker's fast two-sum). Long rows in float32 take a second extraction.
    ``high`` and ``low`` are buffers shaped like ``values`` (``low`` may be ``values``); rows
    so large that :math:`\sigma` would overflow are summed by :func:`total` instead.
    """
    classes = values.shape[-1]
    dtype = values.dtype
    info = np.finfo(dtype)
    margin = _MARGINS.get(classes) or _MARGINS.setdefault(classes, int(np.ceil(np.log2(classes + 2))) + 1)
    levels = extraction_levels(classes, dtype)
    ceiling = float(info.max) / 2.0 ** (levels * margin + 2)
    # 2 * 2^floor(log2 bound) >= every entry; a subnormal or 0 bound gives the smallest normal
    power = np.maximum(exponent_of(bound), info.tiny)
    large_rows = None
    if power.size:
        largest, smallest = float(power.max()), float(power.min())
        # one sigma for every row (a scalar: faster) while it is not so much larger than a row's sum
        # that the low parts' rounding, K^2 u^2 sigma, reaches u/64 of that sum
        if largest <= ceiling and largest <= smallest / (float(info.eps) * 2.0 ** (margin + 6) * classes**2):
            power = largest
        elif largest > ceiling:
            large_rows = np.flatnonzero(power > ceiling)
            large_sums = total(values[large_rows])  # before values is overwritten
            power[large_rows] = 0  # summed plainly here, replaced below
    sigma = power * dtype.type(2.0 ** (margin + 1))
    if np.ndim(sigma):
        sigma = sigma[:, None]
    hi = None
    for level in range(levels):
        if level:
            sigma = sigma * dtype.type(2.0 ** (margin - info.nmant))
        np.add(values, sigma, out=high)
        high -= sigma
        np.subtract(values, high, out=low)
        values = low
        part = np.einsum("rk->r", high)
        hi = part if hi is None else (hi, part)
    lo = np.einsum("rk->r", low)
    if levels == 2:
        hi, lo = hi[0], hi[1] + lo
    # lo is far below hi but, with one sigma for rows of different sizes, not below half its ulp
    rounded = hi + lo
    lo -= rounded - hi
    hi = rounded
    if large_rows is not None:
        hi[large_rows], lo[large_rows] = large_sums
    return hi, lo


_MARGINS: dict[int, int] = {}


def extraction_levels(classes: int, dtype) -> int:
    """Extractions :func:`row_sums` takes: one while the low parts' rounding, about ``8 K^3 eps`` of ``u``, stays
    below ``u/256``; two for long rows in float32."""
    return 1 if 8.0 * classes**2 * (classes + 2) * float(np.finfo(dtype).eps) < 2.0**-8 else 2


def exponent_of(x: np.ndarray) -> np.ndarray:
    """The power of two ``2^floor(log2 x)`` for normal ``x > 0`` (0 for subnormal ``x``), from the exponent bits."""
    unsigned, mask = _EXPONENT_BITS[x.dtype]
    return (x.view(unsigned) & mask).view(x.dtype)


_EXPONENT_BITS = {np.dtype(np.float64): (np.uint64, np.uint64(0x7FF0000000000000)),
                  np.dtype(np.float32): (np.uint32, np.uint32(0x7F800000))}


def dot(a, b, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """``sum(a * b)`` along ``axis`` as a double word (Ogita-Rump-Oishi ``Dot2``): every product exact."""
    p, e = two_product(a, b)
    p = np.moveaxis(p, axis, 0)
    e = np.moveaxis(e, axis, 0)
    if p.shape[0] == 0:
        zero = np.zeros(p.shape[1:], dtype=p.dtype)
        return zero, zero.copy()
    s = p[0].copy()
    error = e[0].copy()
    for product, product_error in zip(p[1:], e[1:], strict=True):
        s, rounding = two_sum(s, product)
        error += rounding + product_error
    return _fast_two_sum(s, error)


def _fast_two_sum(a, b) -> tuple[np.ndarray, np.ndarray]:
    """``a + b = s + e`` exactly when ``|a| >= |b|`` (or ``a`` is 0); ``e`` is 0 where ``s`` is not finite."""
    s = a + b
    with np.errstate(invalid="ignore"):
        e = b - (s - a)
    return s, np.where(np.isfinite(s), e, 0).astype(s.dtype, copy=False)


def exp(hi, lo=None) -> np.ndarray:
    r""":math:`e^{hi + lo}` rounded to the inputs' dtype, within about half an ulp in float32, computed in float32.

    NumPy's float32 ``exp`` is up to about 2.4 ulp off (float64's within 0.7), and a loss that squares
    or multiplies softmax weights doubles that. In float32 the argument is reduced by
    :math:`\ln 2 / 32` in the Cody-Waite way (:math:`n \ln 2 / 32` from pieces of 9 and 11 bits, whose
    products are exact, and a tail), :math:`2^{j/32}` is a double-word table entry and
    :math:`e^r - 1 - r` for :math:`|r| \le \ln 2 / 64` a degree-4 polynomial, so
    :math:`2^{j/32} (1 + r + q)` is carried to about :math:`2^{-35}` before the one rounding (about
    10 times the time of ``np.exp``). A result below the normal range is rounded twice (within a
    subnormal step). float64 takes ``np.exp(hi)`` and the first-order term of ``lo``. ``lo``
    (default 0) is a small correction, as the error of a two-sum.
    """
    hi = np.asarray(hi)
    if hi.dtype != np.float32:
        out = np.exp(hi)
        if lo is not None:
            out += out * lo
        return out
    head, middle, tail, table_hi, table_lo = _EXP32
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # past float32's range: inf and 0
        clipped = np.clip(hi, -110, 100)  # e^hi is 0 or inf there already; then |n| < 2^13
        if lo is not None:
            lo = np.where(clipped == hi, lo, np.float32(0))
        hi = clipped
        n = np.rint(hi * np.float32(32 / np.log(2)))
        r = hi - n * head  # exact: n * head has at most 22 bits and is close to hi (Sterbenz)
        r, r_low = two_sum(r, -(n * middle))  # n * middle is exact too
        r_low -= n * tail  # far below an ulp of r: its rounding is negligible
        if lo is not None:
            r_low += lo
        # e^r - 1 - r = r^2 (1/2 + r/6 + r^2/24) + O(r^5), |r| <= ln2/64: the terms left out are below 2^-38
        q = r * np.float32(1 / 24)
        q += np.float32(1 / 6)
        q *= r
        q += np.float32(0.5)
        q *= r * r
        q += r_low  # e^(r + r_low) = e^r (1 + r_low): r_low (1 + r) is added to 1 + r + q
        q += r_low * r
        one_plus, one_plus_low = two_sum(np.float32(1), r)
        one_plus_low += q
        index = n.astype(np.int32)
        j = index & 31
        scale_hi, scale_lo = np.take(table_hi, j), np.take(table_lo, j)
        value, value_low = two_product_unchecked(scale_hi, one_plus)
        value_low += scale_hi * one_plus_low
        value_low += scale_lo * one_plus
        value += value_low
        # times 2^m as two exact powers of two (each in range), so only the last product rounds
        index -= j
        index >>= 5
        half = index >> 1
        value *= ((half + 127) << 23).view(np.float32)
        index -= half
        value *= ((index + 127) << 23).view(np.float32)
        return value


def exp_by_blocks(x: np.ndarray, block: int) -> np.ndarray:
    """:func:`exp` of an array, ``block`` elements at a time: its ten or so temporaries stay small beside the
    array (float32; elementwise, so the blocks do not change the result)."""
    if x.size <= block:
        return exp(x)
    flat = x.reshape(-1)
    out = np.empty_like(flat)
    for start in range(0, flat.size, block):
        out[start:start + block] = exp(flat[start:start + block])
    return out.reshape(x.shape)


def _exp32_constants():
    """Cody-Waite's ln2/32 as two float32 pieces of at most 11 bits and a float32 tail, and 2^(j/32), j = 0..31, as float32
    double words (from float64 values: their errors are far below float32's)."""
    import math
    from fractions import Fraction

    step = Fraction(math.log(2)) / 32
    pieces = []
    for shift in (14, 26):  # 9 and 11 significant bits
        piece = Fraction(round(step * 2**shift), 2**shift)
        pieces.append(np.float32(piece))
        step -= piece
    pieces.append(np.float32(step))
    powers = [2.0 ** (j / 32) for j in range(32)]
    table_hi = np.array(powers, np.float32)
    table_lo = np.array([p - float(h) for p, h in zip(powers, table_hi, strict=True)], np.float32)
    return (*pieces, table_hi, table_lo)


_EXP32 = _exp32_constants()


# ------------------------------------------------------------------ unchecked double-word arithmetic and a scaled exp
# For finite values whose products and Veltkamp halves stay in range (probabilities, sigmoids, labels,
# moderate logits): the same error-free steps as above, with no range or finiteness checks, since the
# binary losses call them on the dashboard's small arrays on every control change.


def fast_two_sum_unchecked(a, b) -> tuple[np.ndarray, np.ndarray]:
    """``a + b = s + e`` exactly for finite ``|a| >= |b|`` (or ``a`` 0), with ``s = fl(a + b)``."""
    s = a + b
    return s, b - (s - a)


def add_unchecked(x_hi, x_lo, y_hi, y_lo) -> tuple[np.ndarray, np.ndarray]:
    """:func:`add` of finite double words: ``(x_hi + x_lo) + (y_hi + y_lo)`` (relative error about ``2 u^2``
    when the terms do not cancel)."""
    s, e = two_sum(x_hi, y_hi)
    e += x_lo + y_lo
    return fast_two_sum_unchecked(s, e)


def multiply_unchecked(x_hi, x_lo, y_hi, y_lo) -> tuple[np.ndarray, np.ndarray]:
    """:func:`multiply` of double words in range (see :func:`split_unchecked`), about ``4 u^2`` relative."""
    p, e = two_product_unchecked(x_hi, y_hi)
    e += x_hi * y_lo + x_lo * y_hi
    return fast_two_sum_unchecked(p, e)


def divide_unchecked(x_hi, x_lo, y_hi, y_lo) -> tuple[np.ndarray, np.ndarray]:
    """``(x_hi + x_lo) / (y_hi + y_lo)`` as a double word, for values in range and ``y_hi != 0``
    (one correction of the float quotient from the exact remainder)."""
    q = x_hi / y_hi
    p, e = two_product_unchecked(q, y_hi)
    remainder = ((x_hi - p) - e) + (x_lo - q * y_lo)
    return fast_two_sum_unchecked(q, remainder / y_hi)


class _ExpTable:
    """Constants of :func:`exp_scaled` for one dtype: ``2^(k/N)`` as double words and ``ln 2 / N`` in
    three parts (Cody and Waite), the first two short enough that ``n`` times them is exact."""

    def __init__(self, dtype: np.dtype):
        from decimal import Decimal, localcontext

        info = np.finfo(dtype)
        self.bits = 10 if info.nmant > 40 else 6  # |r| <= ln2 / 2^(bits+1): a short polynomial is then enough
        size = 2**self.bits
        # beyond +-limit every result is far outside the range (0 or inf); n then needs these many bits
        self.limit = dtype.type(1500.0 if info.nmant > 40 else 200.0)
        n_bits = int(np.ceil(np.log2(float(self.limit) * size / np.log(2)))) + 1
        short = info.nmant + 1 - n_bits
        with localcontext() as context:
            context.prec = 80
            step = Decimal(2).ln() / size
            parts = []
            rest = step
            for bits in (short, short, None):
                if bits is None:
                    part = dtype.type(float(rest))
                else:
                    exponent = int(np.floor(np.log2(float(rest))))
                    unit = Decimal(2) ** (exponent - bits + 1)
                    part = dtype.type(float((rest / unit).to_integral_value(rounding="ROUND_DOWN") * unit))
                parts.append(part)
                rest -= Decimal(float(part))
            self.step1, self.step2, self.step3 = parts
            self.inverse_step = dtype.type(float(size / Decimal(2).ln()))
            hi, lo = [], []
            factor = (Decimal(2).ln() / size).exp()
            value = Decimal(1)
            for _ in range(size):  # 2^(k/N) by repeated products: the 80 digits absorb the 1024 roundings
                high = dtype.type(float(value))
                hi.append(high)
                lo.append(dtype.type(float(value - Decimal(float(high)))))
                value *= factor
        self.hi = np.array(hi, dtype)
        self.lo = np.array(lo, dtype)
        self.hi_halves = split_unchecked(self.hi)  # Veltkamp's halves of the table, for exp_double_word's product
        self.c2, self.c3, self.c4 = dtype.type(1 / 2), dtype.type(1 / 6), dtype.type(1 / 24)


_EXP_TABLES: dict = {}


def _arrays_of_scalars(exponential):
    """``exponential(x_hi, x_lo)`` of a 0-d ``x_hi`` through a one-element array (its steps work in place)."""

    @functools.wraps(exponential)
    def wrapped(x_hi, x_lo=None):
        x_hi = np.asarray(x_hi)
        if x_hi.ndim == 0:
            hi, lo, power = exponential(x_hi.reshape(1), x_lo)
            return hi[0], lo[0], power[0]
        return exponential(x_hi, x_lo)

    return wrapped


def _reduction(x_hi: np.ndarray):
    r"""``(table, x, n)``: the dtype's :class:`_ExpTable`, ``x_hi`` clipped to its range (a new array) and
    :math:`n = \operatorname{rint}(x N/\ln 2)` (another), the start of both exponentials' reduction."""
    table = _EXP_TABLES.get(x_hi.dtype)
    if table is None:
        table = _EXP_TABLES[x_hi.dtype] = _ExpTable(x_hi.dtype)
    x = np.clip(x_hi, -table.limit, table.limit)
    n = x * table.inverse_step
    return table, x, np.rint(n, out=n)


@_arrays_of_scalars
def exp_scaled(x_hi, x_lo=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r""":math:`e^{x_{hi} + x_{lo}} = (hi + lo)\,2^{q}` with ``hi + lo`` in about [1, 2), as a double word and
    an integer exponent ``q``: relative error about ``2^-62`` in float64 (``2^-29`` in float32), where
    ``np.exp`` is up to an ulp off (2 in float32).

    ``x = n ln2/N + r`` with ``N = 2^10`` (float64; ``2^6`` in float32), ``n`` an integer and
    :math:`|r| \le \ln 2/2N` computed exactly enough (``ln2/N`` in three parts, Cody and Waite);
    then :math:`e^x = 2^{\lfloor n/N \rfloor}\,2^{(n \bmod N)/N}\,(1 + v)` with the table of
    :math:`2^{k/N}` as double words and :math:`v = e^r - 1` a degree-4 polynomial, whose rounding is far
    below an ulp of the result. Keeping the power of two apart lets a caller round a product of tiny factors
    once (results below the normal range). ``x`` beyond about +-1500 (+-200 in float32) is taken at
    that bound: its exponential is 0 or inf anyway. For finite ``x`` only; ``q`` is int32 (``np.ldexp``
    is slow with int64 exponents).
    """
    # in place on four buffers: a fresh array per step costs more than the arithmetic on mid-sized inputs
    table, x, n = _reduction(x_hi)
    r = n * table.step1
    r = np.subtract(x, r, out=r)  # exact: n step1 is a float and close to x (Sterbenz)
    buffer = np.multiply(n, table.step2, out=x)  # n step2 exact; the difference rounds by at most ulp(r)/2
    r -= buffer
    buffer = np.multiply(n, table.step3, out=buffer)
    if x_lo is not None:
        buffer -= x_lo
    r -= buffer
    # v = e^r - 1 = r + r^2 (1/2 + r/6 + r^2/24): the terms left out are below 2^-64 (2^-44 in float32)
    v = np.multiply(r, table.c4, out=buffer)
    v += table.c3
    v *= r
    v += table.c2
    v *= r
    v *= r
    v += r
    index = n.astype(np.int32)  # int32: np.ldexp with int64 exponents takes a slow loop
    k = index & (len(table.hi) - 1)
    high = table.hi.take(k)
    low = np.multiply(high, v, out=r)
    low += table.lo.take(k, out=n)
    hi = np.add(high, low, out=v)  # fast two-sum: |low| < high
    high -= hi
    low += high
    index >>= table.bits
    return hi, low, index


@_arrays_of_scalars
def exp_double_word(x_hi, x_lo=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r""":math:`e^{x_{hi} + x_{lo}} = (hi + lo)\,2^{q}` as :func:`exp_scaled` gives it, but carried as double words
    throughout: relative error about ``2^-68`` in float64 (``2^-35`` in float32), where :func:`exp_scaled`'s
    single-word reduced argument, polynomial and table product leave about ``2^-62`` (``2^-30``).

    The same reduction and table (:math:`x = n \ln 2/N + r`, :math:`2^{k/N}` as a double word), with the
    reduced argument a double word :math:`r + r_{lo}` (in float32 :math:`n` times the step's third part is
    as large as :math:`r`: an exact two-product), then :math:`e^{r + r_{lo}} - 1 = r + s` with
    :math:`s = r^2 (1/2 + r/6 + r^2/24 + r^3/120) + r_{lo} (1 + r)` (the terms left out are below
    ``2^-78``; ``2^-52`` in float32), :math:`2^{k/N} r` an exact two-product and the sum renormalized
    once; float32's remaining error is the rounding of :math:`s` (about ``2^-16``) and of the terms
    added to it. For a small difference of exponentials (ListNet's softmaxes) or a double word rounded
    once after further double-word steps. ``x_lo``: at most a few ulp of ``x_hi``.
    """
    dtype = x_hi.dtype
    # in place on a few buffers, as exp_scaled: fresh arrays cost more than the arithmetic on mid-sized inputs
    table, x, n = _reduction(x_hi)
    index = n.astype(np.int32)
    low_part = n * table.step1
    low_part = np.subtract(x, low_part, out=low_part)  # exact: n step1 is a float and close to x (Sterbenz)
    # r + r_low = low_part - n step2 exactly (n step2 is exact): Knuth's two-sum, in place
    step = np.multiply(n, -table.step2, out=x)
    r = low_part + step
    virtual = r - low_part
    step -= virtual
    np.subtract(r, virtual, out=virtual)
    low_part -= virtual
    low_part += step  # r_low
    if dtype.itemsize == 8:  # n step3 is below 2^-50 of r: its rounding is below 2^-100
        low_part -= np.multiply(n, table.step3, out=step)
    else:  # in float32 n step3 is as large as r: exact, and r's error as a two-sum
        third, third_low = two_product_unchecked(n, table.step3)
        r, error = two_sum(r, -third)
        low_part += error
        low_part -= third_low
    if x_lo is not None:
        low_part += x_lo
    # s = r^2 (1/2 + r/6 + r^2/24 + r^3/120) + r_low (1 + r): e^(r + r_low) - 1 = r + s
    s = np.multiply(r, dtype.type(1 / 120), out=step)
    s += table.c4
    s *= r
    s += table.c3
    s *= r
    s += table.c2
    s *= r
    s *= r
    low_part *= np.add(r, 1, out=n)
    s += low_part
    k = index & (len(table.hi) - 1)
    high, low = table.hi.take(k), table.lo.take(k, out=n)
    # 2^(k/N) (1 + r + s) = high + high r + (high s + low (1 + r + s)), high r exact
    tail = np.multiply(high, s, out=low_part)
    s += r
    s += 1
    s *= low
    tail += s
    # high r = product + its error exactly (Dekker), with the table's halves looked up, not split
    product = high * r
    r_high, r_low = split_unchecked(r)
    high_high, high_low = table.hi_halves[0].take(k), table.hi_halves[1].take(k)
    error = np.multiply(high_high, r_high, out=r)
    error -= product
    error += np.multiply(high_high, r_low, out=high_high)
    error += np.multiply(high_low, r_high, out=r_high)
    error += np.multiply(high_low, r_low, out=r_low)
    tail += error
    hi = high + product  # |product| < high / 2^bits: Dekker's fast two-sum
    high -= hi
    high += product  # the sum's rounding error
    tail += high
    total = hi + tail  # |tail| < ulp(hi): Dekker's fast two-sum
    hi -= total
    tail += hi
    index >>= table.bits
    return total, tail, index


# ------------------------------------------------------------------ a double-word logarithm
# For a power (1 - p)^gamma = e^(gamma log(1 - p)) with a large gamma: the exponential's relative error is
# gamma times the logarithm's absolute error, and gamma |log(1 - p)| is at most about 745 wherever the
# power is not 0, so the logarithm is needed to a relative accuracy far beyond a float's.


class _LogConstants:
    """Constants of :func:`log_pair` for one dtype: ``ln 2`` in two parts (Cody and Waite: the first short
    enough that ``k`` times it is exact for every binary exponent ``k``), ``1/3`` and ``1/5`` as double words and
    the coefficients ``1/7, 1/9, ...`` of the series' float tail."""

    def __init__(self, dtype: np.dtype):
        from decimal import Decimal, localcontext

        info = np.finfo(dtype)
        k_bits = int(np.ceil(np.log2(-info.minexp + info.nmant + 2)))  # |k| <= 1075 (float32: 150)
        with localcontext() as context:
            context.prec = 60
            ln2 = Decimal(2).ln()
            unit = Decimal(2) ** (-(info.nmant + 1 - k_bits))  # ln 2 < 1: its leading bit is 2^-1
            high = (ln2 / unit).to_integral_value(rounding="ROUND_DOWN") * unit
            self.ln2_hi = dtype.type(float(high))
            self.ln2_lo = dtype.type(float(ln2 - high))
            third, fifth = dtype.type(1 / 3), dtype.type(1 / 5)
            self.third_hi, self.third_lo = third, dtype.type(float(Decimal(1) / 3 - Decimal(float(third))))
            self.fifth_hi, self.fifth_lo = fifth, dtype.type(float(Decimal(1) / 5 - Decimal(float(fifth))))
        # 2 atanh(s) = 2s (1 + u/3 + u^2/5 + ...), u = s^2 <= 0.0295: terms to u^12/25 (float32: u^7/15) leave
        # out less than 2^-70 (2^-39) of the sum
        last = 12 if info.nmant > 40 else 7
        self.tail = [dtype.type(1 / (2 * n + 1)) for n in range(last, 3, -1)]  # 1/25 ... 1/9, for Horner
        self.seventh = dtype.type(1 / 7)
        self.sqrt_half = dtype.type(np.sqrt(0.5))


_LOG_CONSTANTS = {np.dtype(t): _LogConstants(np.dtype(t)) for t in (np.float32, np.float64)}


def log_pair(x_hi, x_lo, v_hi, v_lo) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`\log x` as a double word for a double word :math:`x > 0`, given both :math:`x` and
    :math:`v = x - 1` as (normalized) double words (``x`` is used away from 1, ``v`` near it, where ``x`` has lost
    the digits of ``v``): relative error about ``2^-69`` in float64 (``2^-40`` in float32), where
    ``np.log`` and ``np.log1p`` are within about half an ulp (float32 up to 1.7).

    :math:`x = f\,2^k` with :math:`f \in [1/\sqrt 2, \sqrt 2)` (``np.frexp`` of ``x_hi``; ``x_lo`` scaled
    by the same exact power of two), then :math:`\log x = k \ln 2 + 2\,\mathrm{atanh}(s)`,
    :math:`s = (f - 1)/(f + 1)` (:math:`v/(2 + v)` where :math:`k = 0`: no cancellation), a double word with
    :math:`|s| \le 0.1716`; :math:`2\,\mathrm{atanh}(s) = 2s\,(1 + u/3 + u^2/5 + \dots)` with
    :math:`u = s^2`, summed as :math:`u\,(1/3 + u\,(1/5 + u\,c))` with the two outer steps in double words
    and :math:`c = 1/7 + u/9 + \dots` a float Horner sum, whose rounding (times :math:`u^2 < 2^{-10}`) and
    the terms left out are the error left. :math:`k \ln 2` is exact in its first part (Cody and
    Waite). Elementwise; for finite ``x > 0`` (a subnormal ``x_hi`` included); ``x = 0`` gives a finite
    value, not ``-inf``, so a caller masks it.
    """
    dtype = x_hi.dtype
    constants = _LOG_CONSTANTS[dtype]
    mantissa, k = np.frexp(x_hi)  # x_hi = mantissa 2^k, mantissa in [1/2, 1)
    below = mantissa < constants.sqrt_half
    f = np.where(below, mantissa + mantissa, mantissa)  # in [1/sqrt2, sqrt2)
    k -= below
    near = k == 0
    f_lo = np.ldexp(x_lo, -k)
    # the numerator f - 1 + f_lo (f - 1 exact, Sterbenz; |f_lo| <= ulp(f)/2 <= |f - 1| unless f = 1), or v
    f -= 1
    n_hi, n_lo = fast_two_sum_unchecked(f, f_lo)
    n_hi = np.where(near, v_hi, n_hi)
    n_lo = np.where(near, v_lo, n_lo)
    d_hi, d_lo = two_sum(n_hi, dtype.type(2))  # the denominator f + 1 = numerator + 2
    d_lo += n_lo
    # 2s rather than s: a subnormal v / (2 + v) would lose the last bit of a subnormal log1p(v)
    s_hi, s_lo = divide_unchecked(n_hi + n_hi, n_lo + n_lo, d_hi, d_lo)
    with np.errstate(under="ignore"):  # s below 2^-500: u is 0 and only 2s counts
        u_hi, u_lo = square_unchecked(s_hi)
        u_lo += 2 * s_hi * s_lo
        u_hi *= dtype.type(0.25)  # u = s^2 = (2s)^2 / 4
        u_lo *= dtype.type(0.25)
        # t = u/3 + u^2/5 + ... = u (1/3 + u (1/5 + u c)): c = 1/7 + u/9 + ... in float by Horner (its
        # rounding, times u^2, is below 2^-63), the two outer steps in double words
        tail = constants.tail
        c = u_hi * tail[0]
        for coefficient in tail[1:]:
            c += coefficient
            c *= u_hi
        c += constants.seventh
        c *= u_hi
        a_hi, a_lo = fast_two_sum_unchecked(constants.fifth_hi, c)
        a_lo += constants.fifth_lo
        b_hi, b_lo = multiply_unchecked(u_hi, u_lo, a_hi, a_lo)
        b_hi, e = fast_two_sum_unchecked(constants.third_hi, b_hi)
        b_lo += e
        b_lo += constants.third_lo
        t_hi, t_lo = multiply_unchecked(u_hi, u_lo, b_hi, b_lo)
        # 2 atanh(s) = 2s + 2s t: 2s t is below 2s / 100, so fast two-sums
        p, e = two_product_unchecked(s_hi, t_hi)
        e += s_hi * t_lo + s_lo * t_hi
    h_hi, h_lo = fast_two_sum_unchecked(s_hi, p)
    h_lo += s_lo + e
    # k ln2 + 2 atanh(s): k ln2_hi is exact, and at least ln 2 > 2 |atanh(s)| where k != 0
    kf = k.astype(dtype)
    l_hi, l_lo = fast_two_sum_unchecked(kf * constants.ln2_hi, h_hi)
    l_lo += h_lo + kf * constants.ln2_lo
    return fast_two_sum_unchecked(l_hi, l_lo)


def log(x_hi, x_lo) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`\log(x_{hi} + x_{lo})` as a double word for finite :math:`x > 0` (see :func:`log_pair`)."""
    x_hi = np.asarray(x_hi)
    x_lo = np.asarray(x_lo, dtype=x_hi.dtype)
    with np.errstate(over="ignore", invalid="ignore"):  # x - 1 is only used near x = 1, where it is exact
        v_hi, v_lo = two_sum(x_hi, x_hi.dtype.type(-1))
        v_lo += x_lo
        v_hi, v_lo = two_sum(v_hi, v_lo)  # v_hi may be 0 with all of x - 1 in v_lo (x_hi = 1)
    return log_pair(x_hi, x_lo, v_hi, v_lo)


def log1p(v_hi, v_lo) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`\log(1 + v)` as a double word for a finite double word :math:`v > -1` (see :func:`log_pair`):
    to a relative accuracy for tiny ``v`` too. Near ``v = -1``, ``1 + v`` is only as accurate as ``v`` is
    in absolute terms: a caller that has ``1 + v`` to a relative accuracy passes it to :func:`log_pair`."""
    v_hi = np.asarray(v_hi)
    v_lo = np.asarray(v_lo, dtype=v_hi.dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        x_hi, x_lo = two_sum(v_hi, v_hi.dtype.type(1))
        x_lo += v_lo
        x_hi, x_lo = two_sum(x_hi, x_lo)  # x_hi may be 0 with all of 1 + v in x_lo (v near -1)
    return log_pair(x_hi, x_lo, v_hi, v_lo)
