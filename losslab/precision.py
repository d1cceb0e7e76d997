r"""Where the textbook formulas break: naive and stable forms side by side, with exact references.

Five pairs, each a function of one real input :math:`z` (:data:`PAIRS`):

- ``log_sigmoid``: :math:`\log \sigma(z)` as ``log(1 / (1 + exp(-z)))`` against :func:`losslab.log_sigmoid`;
- ``bce``: BCE with label :math:`y = 1` from the probability :math:`\hat p = \sigma(z)`
  (:func:`losslab.bce`, clipped at its default :math:`\epsilon = 10^{-12}`, the chapter's)
  against :func:`losslab.bce_with_logits`;
- ``softmax``: :math:`\hat p_0` of the logits :math:`(z, z - 1, z - 2)` (the chapter's
  1000, 999, 998 is :math:`z = 1000`) from :func:`losslab.softmax_naive` against :func:`losslab.softmax`;
- ``log_cosh``: ``log(cosh(z))`` against :func:`losslab.log_cosh`;
- ``cross_entropy``: cross-entropy of the logits :math:`(z, 0, 0)` with true class 0, from
  :math:`\hat p = \mathrm{softmax}` (:func:`losslab.cross_entropy_from_probs`) against
  :func:`losslab.cross_entropy`.

Every form runs in the dtype of its input (float32 in, float32 arithmetic and
float32 out): nothing is simulated. The naive forms are deliberately unstable;
their overflow warnings are silenced because the overflow is the point.

**Reference.** Each pair's exact value is a closed form evaluated in 80-bit
extended precision (``np.longdouble``: a 64-bit significand, 11 bits more than
float64, and exponents to :math:`10^{\pm 4932}`, so :math:`e^{-10^4}` is an
ordinary number) at the input *exactly as the form received it* (for the
softmax pair, at the logits :math:`z - 1` and :math:`z - 2` as rounded in the
working dtype). :data:`EXTENDED` says whether this platform's ``longdouble``
is wider than float64 (x86-64 and aarch64 Linux: yes; Windows, macOS on Apple
silicon: no, and the reference is then float64).

**Breakpoints** (:func:`breakpoints`). On each side of 0, over a grid of
:math:`|z|`, a form *fails* at a point where

- it returns inf, NaN or 0 (the exact value is never 0 there): kind ``"nonfinite"``;
- or its relative error :math:`|v - v^\ast| / |v^\ast|` exceeds :data:`THRESHOLD`
  (:math:`10^{-3}`): kind ``"inaccurate"`` (inf and NaN count as failing).

The longest run of grid points where it does not fail is its working range
on that side; a breakpoint is an end of that range, refined to a pair of
adjacent floats of the dtype, one working and one failing, between the last
working and the first failing grid point. ``edge="outer"``: it fails from
:math:`|z| = t` outwards; ``edge="inner"``: it fails at :math:`|z| = t`
going in towards 0 (naive log-cosh near 0). Where a failure sets in cleanly
(an overflow, a rounding to 1) that pair is where it starts; where a form
flickers between right and wrong over a stretch of floats (the last digits of
a rounding deciding), it is one such pair near the start of the stretch.
A breakpoint is ``unavoidable`` when the exact value itself, rounded to the
dtype, fails the same test: it overflows, underflows to 0, or lies so deep in
the subnormals that no float of that dtype is within :math:`10^{-3}` of it.

>>> from losslab import precision
>>> found = precision.breakpoints("log_sigmoid", "naive", "float64", precision.magnitude_grid(1e-3, 1e4))
>>> [(b.side, b.kind, f"{b.z:.6f}", b.what) for b in found]  # doctest: +NORMALIZE_WHITESPACE
[(-1, 'nonfinite', '-709.782713', '-inf'), (-1, 'inaccurate', '-709.782713', '-inf'),
 (1, 'nonfinite', '36.736801', '0'), (1, 'inaccurate', '29.872952', '-1.06359e-13')]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from losslab.activations import _exp_stays_normal, log_sigmoid, sigmoid, softmax, softmax_naive
from losslab.binary import bce, bce_with_logits
from losslab.multiclass import cross_entropy, cross_entropy_from_probs
from losslab.regression import log_cosh

THRESHOLD = 1e-3
DTYPES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}
EXTENDED = np.finfo(np.longdouble).nmant >= 63
REFERENCE_DTYPE = np.dtype(np.longdouble) if EXTENDED else np.dtype(np.float64)
# Relative errors beyond this are "no digit right" whatever their size; kept finite so a chart can draw them.
LARGEST_ERROR = 1e300
KINDS = ("nonfinite", "inaccurate")


# ---------------------------------------------------------------- inputs


def chapter_logits(z: np.ndarray) -> np.ndarray:
    """The logits :math:`(z, z - 1, z - 2)` on a last axis of 3, in ``z``'s dtype (the chapter's 1000, 999, 998)."""
    return np.stack([z, z - 1, z - 2], axis=-1)


def one_against_two_logits(z: np.ndarray) -> np.ndarray:
    """The logits :math:`(z, 0, 0)` on a last axis of 3, in ``z``'s dtype: class 0 is ahead by :math:`z`."""
    zeros = np.zeros_like(z)
    return np.stack([z, zeros, zeros], axis=-1)


def _as_input(z) -> np.ndarray:
    z = np.asarray(z)
    return z if z.dtype in (np.float32, np.float64) else z.astype(np.float64)


def takes_unshifted_path(z: np.ndarray, logits_of: Callable) -> np.ndarray:
    """Per z: would a call with the one row ``logits_of(z)`` take losslab's unshifted softmax path?

    losslab decides per call (``activations._exp_stays_normal``: plain :math:`e^{z}` when every
    exponential is normal and no sum or ratio can overflow, else exponentials shifted by the row
    maximum). For the one-parameter rows used here that set of z is an interval, found once per
    row family and dtype by asking the core's own rule (:func:`_unshifted_interval`).
    """
    low, high = _unshifted_interval(logits_of, np.asarray(z).dtype)
    return (z >= low) & (z <= high)


@cache
def _unshifted_interval(logits_of: Callable, dtype: np.dtype) -> tuple[float, float]:
    """The least and the greatest z whose row ``logits_of(z)`` takes the unshifted path (z = 0 does)."""

    def unshifted(z: float) -> bool:
        return _exp_stays_normal(logits_of(np.asarray(z, dtype)), 3)

    return -_last_float_where(lambda m: unshifted(-m), dtype), _last_float_where(unshifted, dtype)


def _last_float_where(holds: Callable, dtype: np.dtype) -> float:
    """The largest float m >= 0 of ``dtype`` with ``holds(m)``, for a ``holds`` true on [0, m*] and false past it."""
    bits = np.dtype(np.int32) if dtype == np.float32 else np.dtype(np.int64)
    low, high = 0, int(np.asarray(np.finfo(dtype).max, dtype).view(bits))
    if holds(float(np.finfo(dtype).max)):
        return float(np.finfo(dtype).max)
    while high - low > 1:  # holds at low, not at high
        middle = (low + high) // 2
        if holds(float(np.asarray(middle, bits).view(dtype))):
            low = middle
        else:
            high = middle
    return float(np.asarray(low, bits).view(dtype))


def _per_sample(function: Callable, z: np.ndarray, logits_of: Callable) -> np.ndarray:
    """``function(logits_of(z))`` (one value per z) with every z computed as a call with its row alone.

    The two softmax paths agree to about an ulp, but near a breakpoint an ulp decides: rows are
    split by path, so a value never depends on the other z in the batch.
    """
    logits = logits_of(z)
    unshifted = takes_unshifted_path(z, logits_of)
    if unshifted.all() or not unshifted.any():
        return function(logits)
    out = np.empty(z.shape, z.dtype)
    out[unshifted] = function(logits[unshifted])
    out[~unshifted] = function(logits[~unshifted])
    return out


# ---------------------------------------------------------------- the forms


def sigmoid_then_log(z):
    r"""The textbook :math:`\log \sigma(z)`: :math:`\sigma(z) = 1 / (1 + e^{-z})` first, then the log.

    For :math:`z \ll 0`, :math:`e^{-z}` overflows (past :math:`z = -\log(\text{float max})`:
    -709.78 in float64, -88.72 in float32), :math:`\sigma` becomes 0 and the log -inf.
    For :math:`z \gg 0`, :math:`\sigma(z)` rounds to 1 and the log to 0, while the true
    value is :math:`\approx -e^{-z}`. Compare :func:`losslab.log_sigmoid`.
    """
    z = _as_input(z)
    with np.errstate(over="ignore", divide="ignore"):  # the overflow and log(0) are what this form shows
        return np.log(1 / (1 + np.exp(-z)))


def bce_from_probability(z):
    r"""BCE with label 1 the way a probability output computes it: :math:`\hat p = \sigma(z)`, then
    :func:`losslab.bce` (:math:`\hat p` clipped to :math:`[10^{-12}, 1 - 10^{-12}]`, the chapter's).

    The clip caps a confident mistake at :math:`-\log 10^{-12} \approx 27.63` whatever
    :math:`z` is, and floors a confident success at :math:`\approx 10^{-12}` (in float32,
    where :math:`1 - 10^{-12}` rounds to 1, at the largest float below 1: :math:`\approx 6 \cdot 10^{-8}`).
    """
    z = _as_input(z)
    return bce(sigmoid(z), 1, reduction="none")


def bce_from_logit(z):
    r"""BCE with label 1 from the logit: :func:`losslab.bce_with_logits`, :math:`\operatorname{softplus}(-z)`."""
    z = _as_input(z)
    return bce_with_logits(z, 1, reduction="none")


def softmax_first_naive(z):
    r""":math:`\hat p_0` of :func:`chapter_logits` by :func:`losslab.softmax_naive`, :math:`e^{z_0} / \sum_j e^{z_j}`.

    inf / inf = NaN once :math:`e^{z}` overflows; 0 / 0 = NaN once every :math:`e^{z_k}`
    underflows; in between, subnormal exponentials lose digits.
    """
    z = _as_input(z)
    return softmax_naive(chapter_logits(z))[..., 0]


def softmax_first(z):
    r""":math:`\hat p_0` of :func:`chapter_logits` by :func:`losslab.softmax` (shifted by the largest logit)."""
    z = _as_input(z)
    return _per_sample(lambda logits: softmax(logits)[..., 0], z, chapter_logits)


def log_cosh_naive(z):
    r"""The textbook :math:`\log(\cosh z)`.

    :math:`\cosh z` overflows past :math:`|z| = \log(2 \cdot \text{float max})` (710.48 in
    float64, 89.42 in float32) and the log is inf. Near 0, :math:`\cosh z = 1 + z^2/2`
    keeps :math:`z^2/2` only to an absolute :math:`\epsilon/2`: the relative error grows
    like :math:`\epsilon / z^2`, and the result is 0 once :math:`\cosh z` rounds to 1.
    Compare :func:`losslab.log_cosh`.
    """
    z = _as_input(z)
    with np.errstate(over="ignore"):  # cosh overflowing is what this form shows
        return np.log(np.cosh(z))


def log_cosh_stable(z):
    r""":func:`losslab.log_cosh` of the residual :math:`z` (prediction :math:`z`, target 0)."""
    z = _as_input(z)
    return log_cosh(z, np.zeros((), z.dtype), reduction="none")


def cross_entropy_from_probability(z):
    r"""Cross-entropy of :func:`one_against_two_logits` with true class 0, from probabilities:
    :math:`\hat p = \mathrm{softmax}(z, 0, 0)` (:func:`losslab.softmax`), then
    :func:`losslab.cross_entropy_from_probs`, :math:`-\log \hat p_0` (no clip).

    :math:`\hat p_0` underflows to 0 for :math:`z \ll 0` (the loss is inf) and rounds to 1
    for :math:`z \gg 0` (the loss is 0, the truth :math:`\approx 2 e^{-z}`).
    """
    z = _as_input(z)
    return _per_sample(_cross_entropy_of_softmax, z, one_against_two_logits)


def _cross_entropy_of_softmax(logits: np.ndarray) -> np.ndarray:
    one_hot = np.zeros_like(logits)
    one_hot[..., 0] = 1
    return cross_entropy_from_probs(softmax(logits), one_hot, reduction="none")


def cross_entropy_from_logit(z):
    r"""Cross-entropy of :func:`one_against_two_logits` with true class 0: :func:`losslab.cross_entropy`,
    :math:`\log(1 + 2 e^{-z})`."""
    z = _as_input(z)
    return _per_sample(lambda logits: cross_entropy(logits, np.zeros(logits.shape[:-1], np.intp), reduction="none"),
                       z, one_against_two_logits)


# ---------------------------------------------------------------- exact references


def _extended(z: np.ndarray) -> np.ndarray:
    """``z`` in the reference dtype: exact, since float32 and float64 values are longdoubles too."""
    return np.asarray(z).astype(REFERENCE_DTYPE)


def _softplus_exact(x: np.ndarray) -> np.ndarray:
    r""":math:`\log(1 + e^{x}) = \max(x, 0) + \log(1 + e^{-|x|})`: two terms :math:`\ge 0`, no overflow."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def exact_log_sigmoid(z) -> np.ndarray:
    r""":math:`\log \sigma(z) = -\operatorname{softplus}(-z)`, in the reference dtype."""
    return -_softplus_exact(-_extended(z))


def exact_bce_label_one(z) -> np.ndarray:
    r"""BCE with label 1 at the logit :math:`z`: :math:`\operatorname{softplus}(-z)`, in the reference dtype."""
    return _softplus_exact(-_extended(z))


def exact_softmax_first(z) -> np.ndarray:
    r""":math:`\hat p_0 = 1 / (1 + e^{z_1 - z_0} + e^{z_2 - z_0})` of :func:`chapter_logits` as rounded in ``z``'s dtype.

    Mathematically :math:`1 / (1 + e^{-1} + e^{-2}) \approx 0.6652` for every :math:`z`; in float32
    :math:`z - 1` and :math:`z - 2` are rounded (by up to :math:`2^{-11}` at :math:`|z| = 10^4`), and
    the reference is that of the logits the form really received. The differences are exact in the
    reference dtype (64 bits hold both logits' significands at these magnitudes).
    """
    z = _as_input(z)
    logits = _extended(chapter_logits(z))
    gaps = logits[..., 1:] - logits[..., :1]
    return 1 / (1 + np.exp(gaps).sum(axis=-1))


def exact_log_cosh(z) -> np.ndarray:
    r""":math:`\log \cosh z`: :math:`\log(1 + 2 \sinh^2(z/2))` for :math:`|z| < 20`, else
    :math:`|z| + \log(1 + e^{-2|z|}) - \log 2` (neither cancels), in the reference dtype."""
    size = np.abs(_extended(z))
    near = np.log1p(2 * np.sinh(np.minimum(size, 20) / 2) ** 2)
    far = size + np.log1p(np.exp(-2 * size)) - np.log(REFERENCE_DTYPE.type(2))
    return np.where(size < 20, near, far)


def exact_cross_entropy(z) -> np.ndarray:
    r""":math:`-\log \hat p_0` of the logits :math:`(z, 0, 0)`: :math:`\log(1 + 2 e^{-z})`, in the reference dtype.

    :math:`e^{-z}` stays finite in the reference dtype for :math:`z \ge -11000`; below that,
    :math:`-z + \log(2 + e^{z})` (the same value, no overflow).
    """
    z = _extended(z)
    with np.errstate(over="ignore"):  # the far branch replaces the overflowed one
        direct = np.log1p(2 * np.exp(-z))
    far = -z + np.log(2 + np.exp(np.minimum(z, 0)))
    return np.where(np.isfinite(direct), direct, far)


# ---------------------------------------------------------------- the pairs


@dataclass(frozen=True)
class Form:
    """One way of computing a pair's quantity: ``function(z)`` keeps ``z``'s dtype."""

    key: str  # "naive" or "stable"
    label: str
    short: str  # a few words, for a legend
    code: str  # what it computes, as Python a reader would write
    latex: str
    function: Callable


@dataclass(frozen=True)
class Pair:
    """A quantity of one real input :math:`z`, two forms of it, and its exact value."""

    key: str
    label: str
    quantity: str  # the plotted quantity, in words: "log σ(z)"
    input_note: str  # what z is, honestly, for this pair
    naive: Form
    stable: Form
    exact: Callable  # z (float32/float64) -> the exact value in REFERENCE_DTYPE
    exact_latex: str

    @property
    def forms(self) -> tuple[Form, Form]:
        return (self.naive, self.stable)

    def form(self, key: str) -> Form:
        if key not in ("naive", "stable"):
            raise ValueError(f"form {key!r} is unknown; expected 'naive' or 'stable'")
        return self.naive if key == "naive" else self.stable


PAIRS: dict[str, Pair] = {
    "log_sigmoid": Pair(
        "log_sigmoid", "log σ(z): sigmoid, then log, against log_sigmoid", "log σ(z)",
        "z is the logit.",
        Form("naive", "sigmoid, then log", "σ then log", "np.log(1 / (1 + np.exp(-z)))",
             r"\log\left(\frac{1}{1 + e^{-z}}\right)", sigmoid_then_log),
        Form("stable", "losslab.log_sigmoid", "log_sigmoid", "losslab.log_sigmoid(z)",
             r"\min(z, 0) - \log\left(1 + e^{-|z|}\right)", log_sigmoid),
        exact_log_sigmoid, r"\log \sigma(z) = -\log\left(1 + e^{-z}\right)",
    ),
    "bce": Pair(
        "bce", "BCE: from probabilities, against from logits", "BCE(z, y = 1)",
        "z is the logit and the label is y = 1 (y = 0 is the mirror image, z → −z): z < 0 is confidently wrong, "
        "z > 0 confidently right.",
        Form("naive", "from p̂ = σ(z) (clipped at ε = 1e-12)", "from p̂", "losslab.bce(losslab.sigmoid(z), 1, reduction='none')",
             r"-\log \operatorname{clip}\left(\sigma(z),\ 10^{-12},\ 1 - 10^{-12}\right)", bce_from_probability),
        Form("stable", "from the logit z", "from z", "losslab.bce_with_logits(z, 1, reduction='none')",
             r"\max(-z, 0) + \log\left(1 + e^{-|z|}\right)", bce_from_logit),
        exact_bce_label_one, r"-\log \sigma(z) = \log\left(1 + e^{-z}\right)",
    ),
    "softmax": Pair(
        "softmax", "softmax: naive against stable", "p̂₀ of the logits (z, z − 1, z − 2)",
        "The logits are (z, z − 1, z − 2): the chapter's 1000, 999, 998 is z = 1000. The plotted value is p̂₀, "
        "the first class's probability; exactly 1 / (1 + e⁻¹ + e⁻²) ≈ 0.6652 for every z.",
        Form("naive", "naive exp(z)/Σexp(z)", "naive", "losslab.softmax_naive([z, z - 1, z - 2])[0]",
             r"\frac{e^{z_0}}{\sum_j e^{z_j}}", softmax_first_naive),
        Form("stable", "losslab.softmax", "stable", "losslab.softmax([z, z - 1, z - 2])[0]",
             r"\frac{e^{z_0 - m}}{\sum_j e^{z_j - m}},\ m = \max_j z_j", softmax_first),
        exact_softmax_first, r"\hat p_0 = \frac{1}{1 + e^{z_1 - z_0} + e^{z_2 - z_0}} = \frac{1}{1 + e^{-1} + e^{-2}}",
    ),
    "log_cosh": Pair(
        "log_cosh", "log-cosh: naive against stable", "log cosh(z)",
        "z is the residual ŷ − y.",
        Form("naive", "log(cosh(z))", "log(cosh z)", "np.log(np.cosh(z))", r"\log(\cosh z)", log_cosh_naive),
        Form("stable", "losslab.log_cosh", "log_cosh", "losslab.log_cosh(z, 0, reduction='none')",
             r"\tfrac12\log\left(1 + \sinh^2 z\right)\ \text{or}\ |z| + \log\left(1 + e^{-2|z|}\right) - \log 2",
             log_cosh_stable),
        exact_log_cosh, r"\log \cosh z",
    ),
    "cross_entropy": Pair(
        "cross_entropy", "cross-entropy: from probabilities, against from logits", "CE of the logits (z, 0, 0)",
        "The logits are (z, 0, 0) and the true class is 0: z > 0 is confidently right, z < 0 confidently wrong.",
        Form("naive", "from p̂ = softmax(z)", "from p̂", "losslab.cross_entropy_from_probs(losslab.softmax(logits), one_hot)",
             r"-\log \hat p_0,\ \hat p = \mathrm{softmax}(z, 0, 0)", cross_entropy_from_probability),
        Form("stable", "from the logits", "from z", "losslab.cross_entropy(logits, 0)",
             r"\log\left(1 + \textstyle\sum_{j \ne 0} e^{z_j - z_0}\right)", cross_entropy_from_logit),
        exact_cross_entropy, r"\log\left(1 + 2 e^{-z}\right)",
    ),
}


def get(key: str) -> Pair:
    if key not in PAIRS:
        raise ValueError(f"pair {key!r} is unknown; expected one of {', '.join(PAIRS)}")
    return PAIRS[key]


def dtype_of(name: str) -> np.dtype:
    if name not in DTYPES:
        raise ValueError(f"dtype {name!r} is unknown; expected 'float32' or 'float64'")
    return DTYPES[name]


# ---------------------------------------------------------------- errors and failures


def relative_error(values, exact) -> np.ndarray:
    r""":math:`|v - v^\ast| / |v^\ast|` as float64, computed in the reference dtype.

    inf or NaN values have error inf; a finite value's error, however large, is capped at
    :data:`LARGEST_ERROR` so a chart can draw it. Where the exact value is 0 (only with a float64
    reference whose true value underflowed) a returned 0 has error 0 and anything else the cap.
    """
    values = np.asarray(values).astype(REFERENCE_DTYPE)
    exact = np.asarray(exact, dtype=REFERENCE_DTYPE)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        error = np.abs(values - exact) / np.abs(exact)
    error = np.where(exact == 0, np.where(values == 0, 0, np.inf), error)
    error = np.where(np.isfinite(values), np.minimum(error, LARGEST_ERROR), np.inf)  # after: 1/0 is capped too
    return error.astype(np.float64)


def fails(kind: str, values, exact) -> np.ndarray:
    """Where ``values`` fail: ``"nonfinite"`` (inf, NaN, or 0 where the exact value is not) or
    ``"inaccurate"`` (relative error above :data:`THRESHOLD`, inf and NaN included)."""
    values = np.asarray(values)
    if kind == "nonfinite":
        exact = np.asarray(exact)
        return ~np.isfinite(values) | ((values == 0) & (exact != 0))
    if kind == "inaccurate":
        return ~(relative_error(values, exact) <= THRESHOLD)
    raise ValueError(f"kind {kind!r} is unknown; expected one of {KINDS}")


def rounded_exact(exact, dtype) -> np.ndarray:
    """The exact values rounded to ``dtype`` (inf where they overflow it, 0 where they underflow)."""
    with np.errstate(over="ignore", under="ignore"):
        return np.asarray(exact).astype(dtype)


# ---------------------------------------------------------------- grids and breakpoints


def magnitude_grid(z_min: float, z_max: float, per_decade: int = 60) -> np.ndarray:
    """|z| from ``z_min`` to ``z_max``, evenly spaced in :math:`\\log_{10}|z|`, float64 (both ends included)."""
    if not 0 < z_min < z_max or not math.isfinite(z_max):
        raise ValueError(f"expected 0 < z_min < z_max, finite; got z_min={z_min!r}, z_max={z_max!r}")
    if per_decade < 1:
        raise ValueError(f"per_decade must be at least 1, got {per_decade!r}")
    count = max(2, round(math.log10(z_max / z_min) * per_decade) + 1)
    return np.logspace(math.log10(z_min), math.log10(z_max), count)


@dataclass(frozen=True)
class Breakpoint:
    """One end of a form's working range on one side of 0 (see the module docstring).

    ``z`` is the failing float nearest the working range and ``value`` what the form returns
    there; ``last_good_z`` / ``last_good_value`` its neighbour inside the range (the adjacent
    float of the dtype, or the first grid point when ``edge="everywhere"``: no working range).
    """

    pair: str
    form: str
    dtype: str
    side: int  # -1: z < 0, +1: z > 0
    kind: str  # "nonfinite" or "inaccurate"
    edge: str  # "outer", "inner" or "everywhere"
    z: float
    value: float
    relative_error: float
    last_good_z: float
    last_good_value: float
    unavoidable: bool

    @property
    def what(self) -> str:
        """What the form returns at the breakpoint, in words: '-inf', 'nan', '0' or the number."""
        if self.kind == "nonfinite" or not math.isfinite(self.value) or self.value == 0:
            return "0" if self.value == 0 else str(self.value)
        return f"{self.value:.6g}"


def evaluate(pair: Pair, form: Form, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the form's values, the exact values) at ``z`` (float32 or float64; the form keeps the dtype)."""
    return form.function(z), pair.exact(z)


def breakpoints(pair_key: str, form_key: str, dtype_name: str, magnitudes: np.ndarray) -> tuple[Breakpoint, ...]:
    """Every breakpoint of one form in one dtype, on both sides of 0, for both kinds, over ``magnitudes`` (|z| > 0)."""
    pair, dtype = get(pair_key), dtype_of(dtype_name)
    form = pair.form(form_key)
    z = signed_grid(magnitudes.astype(dtype))
    return _breakpoints_from(pair, form, dtype_name, z, *evaluate(pair, form, z))


def signed_grid(magnitudes: np.ndarray) -> np.ndarray:
    """``-magnitudes`` (reversed) then ``magnitudes``: ascending z, negative side first, in their dtype."""
    return np.concatenate([np.negative(magnitudes[::-1]), magnitudes])


def _breakpoints_from(pair, form, dtype_name, z, values, exact) -> tuple[Breakpoint, ...]:
    """Breakpoints from a form's values on a :func:`signed_grid`, each side read outwards from 0."""
    half = z.size // 2
    found = []
    for side, part in ((-1, slice(half - 1, None, -1)), (1, slice(half, None))):
        for kind in KINDS:
            bad = fails(kind, values[part], exact[part])
            found += _side_breakpoints(pair, form, dtype_name, side, kind, z[part], bad)
    return tuple(found)


def _side_breakpoints(pair, form, dtype_name, side, kind, z, bad) -> list[Breakpoint]:
    if not bad.any():
        return []
    start, stop = _longest_good_run(bad)
    if start == stop:  # fails at every grid point
        return [_breakpoint(pair, form, dtype_name, side, kind, "everywhere", z[0], z[0])]
    found = []
    if start > 0:
        good, failing = _straddle(pair, form, kind, z[start], z[start - 1])
        found.append(_breakpoint(pair, form, dtype_name, side, kind, "inner", failing, good))
    if stop < z.size:
        good, failing = _straddle(pair, form, kind, z[stop - 1], z[stop])
        found.append(_breakpoint(pair, form, dtype_name, side, kind, "outer", failing, good))
    return found


def _longest_good_run(bad: np.ndarray) -> tuple[int, int]:
    """``(start, stop)`` of the longest run of ``False`` in ``bad`` (the first if several); (0, 0) if none."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], (~bad).astype(np.int8), [0]])))
    starts, stops = edges[::2], edges[1::2]
    if not starts.size:
        return 0, 0
    longest = int(np.argmax(stops - starts))
    return int(starts[longest]), int(stops[longest])


def _straddle(pair: Pair, form: Form, kind: str, good: np.generic, bad: np.generic):
    """Adjacent floats ``(g, b)`` between ``good`` and ``bad`` (same sign, same dtype) where the form
    works at ``g`` and fails at ``b``, by a 256-way search over the floats' bit patterns (ordered
    like the values for floats of one sign): each round keeps the interval before the first
    failing sample, so it ends at the first failure it sees going out from ``good``."""
    dtype = np.asarray(good).dtype
    bits = np.dtype(np.int32) if dtype == np.float32 else np.dtype(np.int64)
    low, high = int(np.asarray(good).view(bits)), int(np.asarray(bad).view(bits))
    while abs(high - low) > 1:
        gap = high - low
        count = min(abs(gap) - 1, 255)
        steps = [low + gap * k // (count + 1) for k in range(1, count + 1)]
        z = np.array(steps, bits).view(dtype)
        failing = fails(kind, *evaluate(pair, form, z))
        if not failing.any():
            low = steps[-1]
            continue
        first = int(np.argmax(failing))
        high = steps[first]
        if first:
            low = steps[first - 1]
    return np.array(low, bits).view(dtype)[()], np.array(high, bits).view(dtype)[()]


def _breakpoint(pair: Pair, form: Form, dtype_name: str, side: int, kind: str, edge: str,
                failing: np.generic, good: np.generic) -> Breakpoint:
    z = np.array([failing, good])
    values, exact = evaluate(pair, form, z)
    dtype = z.dtype
    unavoidable = bool(fails(kind, rounded_exact(exact[:1], dtype), exact[:1])[0])
    return Breakpoint(
        pair=pair.key, form=form.key, dtype=dtype_name, side=side, kind=kind, edge=edge,
        z=float(failing), value=float(values[0]), relative_error=float(relative_error(values[:1], exact[:1])[0]),
        last_good_z=float(good), last_good_value=float(values[1]), unavoidable=unavoidable,
    )


# ---------------------------------------------------------------- a whole sweep


@dataclass(frozen=True)
class Sweep:
    """One pair in one dtype over :math:`\\pm` a magnitude grid.

    ``z``: the grid, negative side first, ascending, in the dtype; ``exact``: reference values
    (reference dtype); ``values`` / ``errors``: per form key, the form's values (the dtype) and
    relative errors (float64); ``representable``: where the exact value rounded to the dtype is
    itself finite, non-zero and within :data:`THRESHOLD`; ``breakpoints``: both forms'.
    """

    pair: str
    dtype: str
    z: np.ndarray
    exact: np.ndarray
    values: dict[str, np.ndarray]
    errors: dict[str, np.ndarray]
    representable: np.ndarray
    breakpoints: tuple[Breakpoint, ...]


def sweep(pair_key: str, dtype_name: str, magnitudes: np.ndarray) -> Sweep:
    """Both forms of a pair, their errors, and their breakpoints, at :math:`z = \\pm` ``magnitudes``."""
    pair, dtype = get(pair_key), dtype_of(dtype_name)
    z = signed_grid(magnitudes.astype(dtype))
    exact = pair.exact(z)
    values = {form.key: form.function(z) for form in pair.forms}
    errors = {key: relative_error(v, exact) for key, v in values.items()}
    rounded = rounded_exact(exact, dtype)
    representable = ~(fails("nonfinite", rounded, exact) | fails("inaccurate", rounded, exact))
    found = tuple(b for form in pair.forms
                  for b in _breakpoints_from(pair, form, dtype_name, z, values[form.key], exact))
    return Sweep(pair_key, dtype_name, z, exact, values, errors, representable, found)
