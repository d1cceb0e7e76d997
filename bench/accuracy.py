"""Worst error in ulp of every loss, gradient and activation, against a high-precision reference.

Run ``python -m bench.accuracy`` (add ``--long`` for the bigger grids) to
print the table and write ``docs/ACCURACY.md``; ``tests/core/test_accuracy.py``
runs the same measurement on a smaller grid.

How the numbers are made:

- **Reference.** Every function is evaluated in mpmath at 256 bits (about 77
  digits) on the exact value of each float input, in a form without
  cancellation of rounded quantities (for example
  ``log1p(sum_{j != c} exp(z_j - z_c))`` for cross-entropy and
  ``(1 - y) sigma(z) - y sigma(-z)`` for ``sigma(z) - y``); input differences
  such as ``z_j - z_c`` are exact.
- **float64.** The error of a result ``c`` is ``|c - exact| / ulp(exact)``,
  where ``ulp(x)`` is the spacing of float64 numbers at ``x``. Where the exact
  value is below the normal range the requirement is instead that ``c`` is
  within one subnormal step of the correctly rounded value; where it rounds
  to +-inf, ``c`` must be that infinity; an infinity or NaN anywhere else is
  an infinite error.
- **float32.** The same, but against the float32-rounded reference:
  ``|c - round32(exact)| / ulp32``, the function computed on float32 inputs
  in float32.
- **Conditioning.** Some results are differences or mixed-sign sums whose terms
  cancel for *soft* targets (``sigma(z) - y`` near ``sigma(z) = y``, the softmax
  gradient near ``p_k = y_k``, KL's terms near ``p = y``, Brier-through-softmax's
  Jacobian product, ``logsumexp`` near 0). There the exact result is far smaller
  than its terms, and no formula in working precision can be within a few ulp
  of it. Each such reference also returns the size of its cancelling terms
  (the larger of two, or the sum of the absolute values of a sum's terms); a
  point whose result is less than half that size is "ill-conditioned" and is
  reported separately, as error in ulp of that size. Hard targets never
  cancel this way.

The table compares losslab with PyTorch and scikit-learn where they have the
same function (columns are skipped, with a note, when a package is missing).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import mpmath
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "ACCURACY.md"
PRECISION_BITS = 256
DTYPES = (np.float64, np.float32)

mp = mpmath.mp
mp.prec = PRECISION_BITS
ZERO = mpmath.mpf(0)
ONE = mpmath.mpf(1)


def X(value) -> mpmath.mpf:
    """The exact value of a float32 or float64 number."""
    return mpmath.mpf(float(value))


# ------------------------------------------------------------------ ulp measurement


@dataclass(frozen=True)
class Format:
    bits: int  # significand bits, including the implicit one
    min_exponent: int  # exponent of the smallest normal number, 2**min_exponent
    max_value: float

    @classmethod
    def of(cls, dtype) -> Format:
        info = np.finfo(dtype)
        return cls(info.nmant + 1, int(info.minexp), float(info.max))

    @property
    def step(self) -> mpmath.mpf:
        """The subnormal step: the smallest positive number."""
        return mpmath.ldexp(ONE, self.min_exponent - self.bits + 1)

    def ulp(self, x) -> mpmath.mpf:
        if x == 0:
            return self.step
        _, exponent = mpmath.frexp(x)  # |x| = m 2**exponent, m in [0.5, 1)
        return mpmath.ldexp(ONE, max(int(exponent) - self.bits, self.min_exponent - self.bits + 1))

    def is_subnormal(self, x) -> bool:
        return abs(x) < mpmath.ldexp(ONE, self.min_exponent)

    def round(self, x):
        """``x`` correctly rounded to this format (ties to even), as an mpf or +-inf."""
        if not mpmath.isfinite(x) or x == 0:
            return x
        if self.is_subnormal(x):
            return mpmath.nint(x / self.step) * self.step
        with mpmath.workprec(self.bits):
            rounded = +x
        return mpmath.inf * mpmath.sign(x) if abs(rounded) > self.max_value else rounded


@dataclass(frozen=True)
class Exact:
    """A reference value and the size of the largest term that cancels in it (0: none)."""

    value: mpmath.mpf
    scale: mpmath.mpf = ZERO

    def ill_conditioned(self) -> bool:
        return self.scale != 0 and abs(self.value) * 2 < self.scale


@cache
def _format(dtype_name: str) -> Format:
    return Format.of(np.dtype(dtype_name))


def error_in_ulp(computed: float, exact, dtype) -> tuple[float, bool]:
    """``(error, passes)`` for one result: error in ulp (float64) or ulp of the rounded value (float32).

    ``passes`` applies the subnormal rule (within one subnormal step of the
    correctly rounded value) and the 4-ulp rule elsewhere.
    """
    dtype = np.dtype(dtype)
    fmt = _format(dtype.name)
    if isinstance(exact, Exact):
        exact = exact.value
    if mpmath.isnan(exact):
        return (0.0, True) if math.isnan(computed) else (math.inf, False)
    if math.isnan(computed):
        return math.inf, False
    nearest = float(exact)  # the nearest float64 (inf past its range)
    if math.isfinite(nearest) and abs(nearest) >= 2.0 ** (fmt.min_exponent + 1) and abs(nearest) < fmt.max_value:
        if math.isinf(computed):
            return math.inf, False
        # the common case, in float arithmetic: normal and in range
        exponent = math.frexp(nearest)[1]
        if dtype == np.float64:
            ulp = math.ldexp(1.0, exponent - fmt.bits)
            error = float(abs(mpmath.mpf(computed) - exact)) / ulp
        else:
            rounded = float(np.float32(nearest))
            ulp = math.ldexp(1.0, math.frexp(rounded)[1] - fmt.bits)
            error = abs(computed - rounded) / ulp  # both float32 values: exact in float64
        return error, error <= 4
    rounded = fmt.round(exact)
    if mpmath.isinf(rounded):
        ok = math.isinf(computed) and (computed > 0) == (rounded > 0)
        return (0.0, True) if ok else (math.inf, False)
    if math.isinf(computed):
        return math.inf, False
    target = exact if dtype == np.float64 else rounded
    error = float(abs(X(computed) - target) / fmt.ulp(rounded if rounded != 0 else exact))
    if fmt.is_subnormal(exact):
        return error, abs(X(computed) - rounded) <= fmt.step
    return error, error <= 4


def error_in_scale_ulp(computed: float, exact: Exact, dtype) -> float:
    """Error in ulp of the largest cancelling term: the measure for ill-conditioned points."""
    fmt = _format(np.dtype(dtype).name)
    if not math.isfinite(computed):
        return math.inf
    return float(abs(X(computed) - exact.value) / fmt.ulp(exact.scale))


# ------------------------------------------------------------------ references (mpmath)


def r_sigmoid(z):
    return ONE / (ONE + mpmath.exp(-z))


def r_softplus(z):
    return mpmath.log1p(mpmath.exp(z))


def r_log_sigmoid(z):
    return -r_softplus(-z)


def r_logit(p):
    if p == 0:
        return -mpmath.inf
    if p == 1:
        return mpmath.inf
    return mpmath.log(p / (ONE - p)) if abs(p - 0.5) > 0.25 else mpmath.log1p((2 * p - 1) / (ONE - p))


def r_sigmoid_minus(z, y) -> Exact:
    """``sigma(z) - y`` as ``(1 - y) sigma(z) - y sigma(-z)``: exact for hard labels.

    The cancelling terms are ``[z >= 0] - y`` and ``sigma(-|z|)`` (their difference is
    ``sigma(z) - y``): for a hard label they never cancel; for a soft one they do near
    ``sigma(z) = y``.
    """
    a, b = (ONE - y) * r_sigmoid(z), y * r_sigmoid(-z)
    step = ONE if z >= 0 else ZERO
    return Exact(a - b, max(abs(step - y), r_sigmoid(-abs(z))))


def r_bce_with_logits(z, y):
    return y * r_softplus(-z) + (ONE - y) * r_softplus(z)


def r_bce_with_logits_grad(z, y):
    return r_sigmoid_minus(z, y)


def r_sigmoid_mse(z, y):
    d = r_sigmoid_minus(z, y)
    return Exact(d.value**2, d.scale**2)


def r_sigmoid_mse_grad(z, y):
    d = r_sigmoid_minus(z, y)
    slope = r_sigmoid(z) * r_sigmoid(-z)
    return Exact(2 * d.value * slope, 2 * d.scale * slope)


def _focal_parts(z, y, gamma, alpha):
    miss = y * r_sigmoid(-z) + (ONE - y) * r_sigmoid(z)  # 1 - p_t
    weight = ONE if alpha is None else alpha * y + (ONE - alpha) * (ONE - y)
    return miss, weight, r_bce_with_logits(z, y)


def r_focal(z, y, gamma=2.0, alpha=None):
    miss, weight, bce = _focal_parts(z, y, X(gamma), None if alpha is None else X(alpha))
    return weight * miss ** X(gamma) * bce


def r_focal_grad(z, y, gamma=2.0, alpha=None):
    g = X(gamma)
    miss, weight, bce = _focal_parts(z, y, g, None if alpha is None else X(alpha))
    d = r_sigmoid_minus(z, y)
    slope = r_sigmoid(z) * r_sigmoid(-z)
    first = d.value * miss**g
    second = g * miss ** (g - 1) * (1 - 2 * y) * slope * bce if g != 0 else ZERO
    return Exact(weight * (first + second), weight * max(abs(first), abs(second), d.scale * miss**g))


def r_hinge(s, t):
    return max(ZERO, ONE - t * s)


def r_hinge_grad(s, t):
    return -t if t * s < 1 else ZERO


def _clip(p, eps, dtype):
    if eps == 0:
        return p
    upper = min(float(dtype(1 - eps)), float(np.nextafter(dtype(1), dtype(0))))
    lower = max(float(dtype(eps)), float(np.finfo(dtype).tiny))
    return min(max(p, X(lower)), X(upper))


def r_bce(p, y, eps=1e-12, dtype=np.float64):
    p = _clip(p, eps, dtype)
    with_y = y * -mpmath.log(p) if y != 0 else ZERO
    with_not_y = (ONE - y) * -mpmath.log1p(-p) if y != 1 else ZERO
    return with_y + with_not_y


def r_bce_grad(p, y, eps=1e-12, dtype=np.float64):
    p = _clip(p, eps, dtype)
    if p in (0, 1):
        return mpmath.nan if p == y else (mpmath.inf if p > y else -mpmath.inf)
    return (p - y) / (p * (ONE - p))


def r_mse(p, t):
    return (p - t) ** 2


def r_mse_grad(p, t):
    return 2 * (p - t)


def r_mae(p, t):
    return abs(p - t)


def r_mae_grad(p, t):
    return mpmath.sign(p - t)


def r_huber(p, t, delta=1.0):
    size = abs(p - t)
    a = min(size, X(delta))
    return a * (size - a / 2)


def r_huber_grad(p, t, delta=1.0):
    return max(-X(delta), min(X(delta), p - t))


def r_log_cosh(p, t):
    r = p - t
    return mpmath.log1p(2 * mpmath.sinh(r / 2) ** 2)  # log cosh r, exact for tiny r


def r_log_cosh_grad(p, t):
    return mpmath.tanh(p - t)


def r_quantile(p, t, tau=0.5):
    u, tau = t - p, X(tau)
    return max(tau * u, (tau - 1) * u)


def r_quantile_grad(p, t, tau=0.5):
    tau = X(tau)
    return ONE - tau if p > t else (-tau if p < t else mpmath.mpf(0.5) - tau)


# --- class axis: rows are lists of mpf


def _top(z) -> int:
    return max(range(len(z)), key=lambda k: z[k])


def _exp(x):
    """``exp(x)``, with arguments below -1e5 (results far below every float) taken as 0 to save time."""
    return ZERO if x < -100_000 else mpmath.exp(x)


def _shifted_weights(z):
    """``(top index, [exp(z_k - z_top)], rest = sum over k != top)``; the differences are exact."""
    top = _top(z)
    weights = [_exp(v - z[top]) for v in z]
    return top, weights, mpmath.fsum(w for k, w in enumerate(weights) if k != top)


def r_logsumexp(z) -> Exact:
    """``log sum exp z``; its terms ``max z`` and ``log(1 + rest)`` cancel when the result is near 0."""
    top, _, rest = _shifted_weights(z)
    tail = mpmath.log1p(rest)
    return Exact(z[top] + tail, max(abs(z[top]), tail))


def r_softmax(z):
    _, weights, rest = _shifted_weights(z)
    total = ONE + rest
    return [w / total for w in weights]


def r_complements(z):
    """``1 - softmax(z)_k``: the other probabilities' sum (``rest / total`` at the top class)."""
    top, weights, rest = _shifted_weights(z)
    total = ONE + rest
    return [rest / total if k == top else ONE - w / total for k, w in enumerate(weights)]


def r_minus_log_softmax(z):
    """``-log softmax(z)_k = (z_top - z_k) + log1p(rest)``: two terms >= 0, no cancellation, no overflow."""
    top, _, rest = _shifted_weights(z)
    tail = mpmath.log1p(rest)
    return [(z[top] - v) + tail for v in z]


def r_log_softmax(z):
    return [-v for v in r_minus_log_softmax(z)]


def r_cross_entropy(z, y):
    nll = r_minus_log_softmax(z)
    return mpmath.fsum(yk * nk for yk, nk in zip(y, nll, strict=True) if yk != 0)


def _distribution_minus(p, q, y) -> list[Exact]:
    """``p_k - y_k`` as ``p_k (1 - y_k) - y_k (1 - p_k)`` with ``1 - p_k = q_k``: exact for one-hot y."""
    out = []
    for pk, qk, yk in zip(p, q, y, strict=True):
        a, b = pk * (ONE - yk), yk * qk
        out.append(Exact(a - b, max(a, b)))
    return out


def r_cross_entropy_grad(z, y):
    """``p_k sum(y) - y_k = p_k sum_{j != k} y_j - y_k (1 - p_k)``."""
    p, q = r_softmax(z), r_complements(z)
    out = []
    for k in range(len(z)):
        others = mpmath.fsum(y[j] for j in range(len(z)) if j != k)
        a, b = p[k] * others, y[k] * q[k]
        out.append(Exact(a - b, max(a, b)))
    return out


def r_kl_divergence_with_logits(z, y):
    """``sum_k y_k (log y_k - log p_k)``: the logs cancel where ``p_k`` is near ``y_k``, and the terms of the sum cancel too."""
    nll = r_minus_log_softmax(z)
    pairs = [(yk, nk) for yk, nk in zip(y, nll, strict=True) if yk != 0]
    terms = [yk * (mpmath.log(yk) + nk) for yk, nk in pairs]
    scale = mpmath.fsum(yk * max(abs(mpmath.log(yk)), nk) for yk, nk in pairs)
    return Exact(mpmath.fsum(terms), scale)


def r_brier_with_logits(z, y):
    p, q = r_softmax(z), r_complements(z)
    differences = _distribution_minus(p, q, y)
    return Exact(mpmath.fsum(d.value**2 for d in differences), mpmath.fsum(d.scale**2 for d in differences))


def r_brier_with_logits_grad(z, y):
    """``p_k (g_k - sum_j g_j p_j)`` written as ``p_k (g_k (1 - p_k) - sum_{j != k} g_j p_j)``."""
    p, q = r_softmax(z), r_complements(z)
    differences = _distribution_minus(p, q, y)
    g = [2 * d.value for d in differences]
    g_scale = [2 * max(d.scale, abs(d.value)) for d in differences]  # p - y itself may have cancelled
    out = []
    for k in range(len(z)):
        terms = [g[k] * q[k]] + [-g[j] * p[j] for j in range(len(z)) if j != k]
        scales = [g_scale[k] * q[k]] + [g_scale[j] * p[j] for j in range(len(z)) if j != k]
        out.append(Exact(p[k] * mpmath.fsum(terms), p[k] * mpmath.fsum(scales)))
    return out


def r_cross_entropy_from_probs(p, y):
    if any(pk == 0 and yk != 0 for pk, yk in zip(p, y, strict=True)):
        return mpmath.inf
    return mpmath.fsum(-yk * mpmath.log(pk) for pk, yk in zip(p, y, strict=True) if yk != 0)


def r_cross_entropy_from_probs_grad(p, y):
    return [ZERO if yk == 0 else (-yk / pk if pk != 0 else -mpmath.inf) for pk, yk in zip(p, y, strict=True)]


def r_kl_divergence(p, y):
    if any(pk == 0 and yk != 0 for pk, yk in zip(p, y, strict=True)):
        return Exact(mpmath.inf)
    terms = [yk * mpmath.log(yk / pk) for pk, yk in zip(p, y, strict=True) if yk != 0]
    return Exact(mpmath.fsum(terms), mpmath.fsum(abs(t) for t in terms))


def r_kl_divergence_grad(p, y):
    return r_cross_entropy_from_probs_grad(p, y)


def r_brier(p, y):
    return mpmath.fsum((pk - yk) ** 2 for pk, yk in zip(p, y, strict=True))


def r_brier_grad(p, y):
    return [2 * (pk - yk) for pk, yk in zip(p, y, strict=True)]


# ------------------------------------------------------------------ input grids


def magnitudes(dtype, per_decade: float) -> np.ndarray:
    """Powers of ten from the smallest subnormal to the largest float, plus the edges and the tails' landmarks."""
    info = np.finfo(dtype)
    low = math.log10(float(info.smallest_subnormal))
    high = math.log10(float(info.max))
    decades = np.arange(math.ceil(low), math.floor(high) + 1, 1 / per_decade)
    landmarks = [0.5, 1, 2, 3, 5, 10, 15, 17, 20, 30, 36, 37, 38, 40, 50, 87, 88, 89, 100, 103, 104,
                 500, 700, 708, 709, 710, 740, 745, 746, 800]
    with np.errstate(over="ignore", under="ignore"):  # past the float range: dropped just below
        values = np.concatenate([10.0**decades, landmarks, [float(info.max), float(info.tiny),
                                                            float(info.smallest_subnormal)]])
        values = values.astype(dtype)
    return np.unique(values[np.isfinite(values) & (values > 0)])


def logit_grid(dtype, size: str) -> np.ndarray:
    rng = np.random.default_rng(16)
    m = magnitudes(dtype, PER_DECADE[size])
    count = RANDOM_POINTS[size]
    random = np.concatenate([rng.normal(0, 3, count), rng.normal(0, 30, count // 2),
                             np.sign(rng.normal(size=count)) * 10 ** rng.uniform(-5, 2.5, count)])
    return np.unique(np.concatenate([[0.0], m, -m, random]).astype(dtype))


def probability_grid(dtype, size: str) -> np.ndarray:
    rng = np.random.default_rng(17)
    m = magnitudes(dtype, PER_DECADE[size])
    m = m[m < 0.5]
    count = RANDOM_POINTS[size]
    one = dtype(1)
    near_one = (one - m.astype(dtype))
    values = np.concatenate([[0.0, 0.5, 1.0, 0.25, 0.75], m, near_one, rng.uniform(0, 1, count),
                             10 ** rng.uniform(-6, 0, count // 2)])
    values = values.astype(dtype)
    return np.unique(values[(values >= 0) & (values <= 1)])


# Grid sizes: "test" for the test suite (seconds), "small" for the bench table, "long" (minutes).
PER_DECADE = {"test": 1 / 5, "small": 1, "long": 2}
RANDOM_POINTS = {"test": 40, "small": 150, "long": 600}
ROW_REPEATS = {"test": 1, "small": 2, "long": 5}

HARD = (0.0, 1.0)
SOFT = (0.3, 0.5, 0.9, 1e-3, 0.999)


def class_rows(dtype, size: str, rng_seed: int = 18):
    """Logit rows for 2..10 classes with their true class: random scales, big leads and trails, ties."""
    rng = np.random.default_rng(rng_seed)
    info = np.finfo(dtype)
    big = float(info.max) / 4
    repeats = ROW_REPEATS[size]
    leads = [0.0, 1e-10, 0.5, 1, 3, 10, 20, 36, 37, 38, 40, 80, 100, 700, 745, 800, 1e4, 1e30, big]
    if size == "test":
        leads = [0.0, 1e-10, 1, 10, 37, 40, 100, 745, 800, 1e30, big]
    rows = []
    for classes in range(2, 11):
        for _ in range(repeats):
            scales = (1e-300, 1e-30, 1e-3, 1, 3, 10, 100, 1e4, 1e30, 1e300)
            for scale in ((*scales[::2], 3.0) if size == "test" else scales):
                z = rng.normal(0, scale, classes)
                rows.append((z, int(rng.integers(classes))))
            for lead in leads:
                c = int(rng.integers(classes))
                z = rng.normal(0, 2, classes) + rng.choice([0.0, 50.0, -50.0, 1e3])
                z[c] = np.delete(z, c).max() + lead
                rows.append((z, c))
                trail = z.copy()
                trail[c] = np.delete(z, c).min() - lead
                rows.append((trail, c))
            tie = np.full(classes, rng.normal(0, 10))
            tie[: classes // 2] -= rng.uniform(0, 5)
            rows.append((tie, int(rng.integers(classes))))
    out = []
    with np.errstate(over="ignore"):
        for z, c in rows:
            z = z.astype(dtype)
            if np.isfinite(z).all():
                out.append((z, c))
    return out


def soft_targets(classes: int, rng, kind: str) -> np.ndarray:
    if kind == "dirichlet":
        return rng.dirichlet(np.full(classes, 0.7))
    y = np.zeros(classes)  # soft with empty classes
    chosen = rng.choice(classes, size=max(1, classes // 2), replace=False)
    y[chosen] = rng.dirichlet(np.ones(len(chosen)))
    return y


def probability_rows(dtype, size: str):
    """Probability rows (sums within rounding of 1), including tiny and near-one entries, with targets."""
    rows = []
    for z, c in class_rows(np.float64, size, rng_seed=20):
        if np.abs(z).max() > 1e4:
            continue
        shifted = np.exp(z - z.max())
        p = (shifted / shifted.sum()).astype(dtype)
        rows.append((p, c))
    return rows


# ------------------------------------------------------------------ cases


@dataclass
class Case:
    """One function measured over one family of inputs."""

    name: str
    family: str  # "unary", "binary", "prob", "regression", "rows", "prob_rows"
    reference: Callable
    params: dict = field(default_factory=dict)
    targets: str = "hard+soft"
    per_class: bool = False  # the result has the class axis (gradients, softmax)
    sum_axis: bool = False  # activation over the class axis (logsumexp: one value per row)


def cases() -> list[Case]:
    out = [
        Case("sigmoid", "unary", r_sigmoid),
        Case("log_sigmoid", "unary", r_log_sigmoid),
        Case("softplus", "unary", r_softplus),
        Case("logit", "prob1", r_logit),
        Case("logsumexp", "rows1", r_logsumexp),
        Case("softmax", "rows1", r_softmax, per_class=True),
        Case("log_softmax", "rows1", r_log_softmax, per_class=True),
        Case("mse", "regression", r_mse), Case("mse_grad", "regression", r_mse_grad),
        Case("mae", "regression", r_mae), Case("mae_grad", "regression", r_mae_grad),
        Case("log_cosh", "regression", r_log_cosh), Case("log_cosh_grad", "regression", r_log_cosh_grad),
    ]
    for delta in (1.0, 0.05, 10.0):
        out += [Case("huber", "regression", r_huber, {"delta": delta}),
                Case("huber_grad", "regression", r_huber_grad, {"delta": delta})]
    for tau in (0.5, 0.1, 0.9):
        out += [Case("quantile", "regression", r_quantile, {"tau": tau}),
                Case("quantile_grad", "regression", r_quantile_grad, {"tau": tau})]
    for eps in (1e-12, 0.0):
        out += [Case("bce", "prob", r_bce, {"eps": eps}), Case("bce_grad", "prob", r_bce_grad, {"eps": eps})]
    out += [
        Case("bce_with_logits", "binary", r_bce_with_logits),
        Case("bce_with_logits_grad", "binary", r_bce_with_logits_grad),
        Case("sigmoid_mse", "binary", r_sigmoid_mse),
        Case("sigmoid_mse_grad", "binary", r_sigmoid_mse_grad),
    ]
    for gamma, alpha in ((2.0, None), (0.0, None), (0.5, 0.25), (3.7, 0.9)):
        out += [Case("focal", "binary", r_focal, {"gamma": gamma, "alpha": alpha}),
                Case("focal_grad", "binary", r_focal_grad, {"gamma": gamma, "alpha": alpha})]
    out += [
        Case("hinge", "binary", r_hinge, targets="sign"), Case("hinge_grad", "binary", r_hinge_grad, targets="sign"),
        Case("cross_entropy", "rows", r_cross_entropy),
        Case("cross_entropy_grad", "rows", r_cross_entropy_grad, per_class=True),
        Case("kl_divergence_with_logits", "rows", r_kl_divergence_with_logits),
        Case("kl_divergence_with_logits_grad", "rows", r_cross_entropy_grad, per_class=True),
        Case("brier_with_logits", "rows", r_brier_with_logits),
        Case("brier_with_logits_grad", "rows", r_brier_with_logits_grad, per_class=True),
        Case("cross_entropy_from_probs", "prob_rows", r_cross_entropy_from_probs),
        Case("cross_entropy_from_probs_grad", "prob_rows", r_cross_entropy_from_probs_grad, per_class=True),
        Case("kl_divergence", "prob_rows", r_kl_divergence),
        Case("kl_divergence_grad", "prob_rows", r_kl_divergence_grad, per_class=True),
        Case("brier", "prob_rows", r_brier),
        Case("brier_grad", "prob_rows", r_brier_grad, per_class=True),
    ]
    return out


def case_label(case: Case) -> str:
    shown = {k: v for k, v in case.params.items() if v is not None}
    return case.name + (f"({', '.join(f'{k}={v:g}' for k, v in shown.items())})" if shown else "")


# ------------------------------------------------------------------ measuring


@dataclass
class Inputs:
    """Inputs of one family in one dtype, and the exact reference for each output element."""

    args: tuple  # arrays passed to the function (pred, target) or (z,)
    exact: list  # one Exact/mpf per output element, flattened in C order
    kinds: list  # "hard" or "soft" per output element
    extra: dict = field(default_factory=dict)


@dataclass
class Result:
    worst: float = 0.0  # worst error in ulp over well-conditioned points
    where: str = ""
    failures: int = 0
    points: int = 0
    ill_points: int = 0
    worst_ill: float = 0.0  # ill-conditioned points: error in ulp of the largest cancelling term
    subnormal_misses: int = 0  # results below the normal range more than one step from the rounded value
    subnormal_where: str = ""
    worst_hard: float = 0.0  # the worst error with hard targets (one-hot, class indices, 0/1 labels) only

    def add(self, error: float, ok: bool, where: str, subnormal: bool = False) -> None:
        self.points += 1
        if not ok:
            self.failures += 1
            if subnormal:
                self.subnormal_misses += 1
                self.subnormal_where = where
                return
        if error > self.worst or (math.isnan(error)):
            self.worst, self.where = error, where

    def merge(self, other: Result) -> None:
        if other.worst > self.worst:
            self.worst, self.where = other.worst, other.where
        self.failures += other.failures
        self.subnormal_misses += other.subnormal_misses
        self.worst_hard = max(self.worst_hard, other.worst_hard)
        self.points += other.points
        self.ill_points += other.ill_points
        self.worst_ill = max(self.worst_ill, other.worst_ill)


def _as_exact(value) -> Exact:
    return value if isinstance(value, Exact) else Exact(value)


def build_inputs(case: Case, dtype, size: str) -> Inputs:
    """Inputs and references for ``case``: the expensive part, cached by family and parameters."""
    family = case.family
    ref = case.reference
    params = dict(case.params)
    if family == "unary":
        z = logit_grid(dtype, size)
        return Inputs((z,), [_as_exact(ref(X(v))) for v in z], ["hard"] * len(z))
    if family == "prob1":
        p = probability_grid(dtype, size)
        return Inputs((p,), [_as_exact(ref(X(v))) for v in p], ["hard"] * len(p))
    if family in ("binary", "prob", "regression"):
        if family == "binary":
            xs = logit_grid(dtype, size)
        elif family == "prob":
            xs = probability_grid(dtype, size)
        else:
            xs = logit_grid(dtype, size)
        if case.targets == "sign":
            targets = [(-1.0, "hard"), (1.0, "hard")]
        elif family == "regression":
            targets = [(0.0, "hard"), (1.0, "hard"), (-2.5, "hard"), (1e-3, "hard"), (3e6, "hard")]
        else:
            targets = [(t, "hard") for t in HARD] + [(t, "soft") for t in (SOFT[:3] if size == "test" else SOFT)]
        preds, ys, kinds, exact = [], [], [], []
        if family == "prob":
            params["dtype"] = dtype
        for t, kind in targets:
            t = dtype(t)
            for v in xs:
                preds.append(v)
                ys.append(t)
                kinds.append(kind)
                exact.append(_as_exact(ref(X(v), X(t), **params)))
        if family == "regression":  # pairs of huge opposite values: overflow of the residual
            info = np.finfo(dtype)
            for a, b in ((info.max, -info.max), (info.max / 2, -info.max / 2), (-info.max * 0.75, info.max * 0.5)):
                preds.append(dtype(a))
                ys.append(dtype(b))
                kinds.append("hard")
                exact.append(_as_exact(ref(X(dtype(a)), X(dtype(b)), **params)))
        return Inputs((np.array(preds, dtype), np.array(ys, dtype)), exact, kinds)
    if family == "rows1":
        groups = {}
        for z, _ in class_rows(dtype, size):
            groups.setdefault(len(z), []).append(z)
        exact, arrays = [], []
        for k in sorted(groups):
            block = np.array(groups[k], dtype)
            arrays.append(block)
            for row in block:
                value = ref([X(v) for v in row])
                exact.extend(_as_exact(v) for v in (value if case.per_class else [value]))
        return Inputs((arrays,), exact, ["hard"] * len(exact), {"blocks": True})
    if family in ("rows", "prob_rows"):
        rng = np.random.default_rng(21)
        source = class_rows(dtype, size) if family == "rows" else probability_rows(dtype, size)
        blocks = {}  # (classes, kind) -> (rows, targets)
        for z, c in source:
            k = len(z)
            one_hot = np.zeros(k, dtype)
            one_hot[c] = 1
            blocks.setdefault((k, "index"), ([], []))
            if family == "rows" and case.name.startswith("cross_entropy"):
                blocks[(k, "index")][0].append(z)
                blocks[(k, "index")][1].append(c)
            blocks.setdefault((k, "hard"), ([], []))[0].append(z)
            blocks[(k, "hard")][1].append(one_hot)
            for kind in ("dirichlet", "sparse"):
                blocks.setdefault((k, "soft"), ([], []))[0].append(z)
                blocks[(k, "soft")][1].append(soft_targets(k, rng, kind).astype(dtype))
        exact, kinds, arrays = [], [], []
        for (k, kind), (zs, ts) in sorted(blocks.items()):
            if not zs:
                continue
            zs = np.array(zs, dtype)
            ts = np.array(ts) if kind == "index" else np.array(ts, dtype)
            arrays.append((zs, ts))
            for row, t in zip(zs, ts, strict=True):
                y = [ONE if j == t else ZERO for j in range(k)] if kind == "index" else [X(v) for v in t]
                value = ref([X(v) for v in row], y)
                values = value if case.per_class else [value]
                exact.extend(_as_exact(v) for v in values)
                kinds.extend([("soft" if kind == "soft" else "hard")] * len(values))
        return Inputs((arrays,), exact, kinds, {"blocks": True})
    raise ValueError(family)


def evaluate(function: Callable, case: Case, inputs: Inputs) -> np.ndarray:
    """Call ``function`` on the inputs (block by block for class rows); flattened float results."""
    params = {k: v for k, v in case.params.items()}
    with np.errstate(all="ignore"):
        if inputs.extra.get("blocks"):
            pieces = []
            for block in inputs.args[0]:
                if isinstance(block, tuple):
                    out = function(block[0], block[1], **params)
                else:
                    out = function(block, **params)
                pieces.append(np.asarray(out).ravel())
            return np.concatenate(pieces)
        return np.asarray(function(*inputs.args, **params)).ravel()


def describe_point(inputs: Inputs, index: int) -> str:
    if inputs.extra.get("blocks"):
        return f"element {index}"
    values = [np.asarray(a).ravel()[index] for a in inputs.args]
    return "(" + ", ".join(f"{float(v):.17g}" for v in values) + ")"


def measure(function: Callable, case: Case, inputs: Inputs, dtype) -> Result:
    """Worst ulp error of ``function`` over the inputs, against their references."""
    computed = evaluate(function, case, inputs)
    result = Result()
    if len(computed) != len(inputs.exact):
        result.add(math.inf, False, f"shape: {len(computed)} results for {len(inputs.exact)} references")
        return result
    for i, (c, e) in enumerate(zip(computed, inputs.exact, strict=True)):
        c = float(c)
        if e.ill_conditioned():
            result.ill_points += 1
            result.worst_ill = max(result.worst_ill, error_in_scale_ulp(c, e, dtype))
            continue
        error, ok = error_in_ulp(c, e.value, dtype)
        if inputs.kinds[i] == "hard" and not (error <= result.worst_hard):
            result.worst_hard = error
        if not ok or error > result.worst:
            subnormal = mpmath.isfinite(e.value) and _format(np.dtype(dtype).name).is_subnormal(e.value)
            result.add(error, ok, describe_point(inputs, i) + f" -> {c!r}, exact {mpmath.nstr(e.value, 17)}",
                       subnormal and error <= 4)
        else:
            result.points += 1
    return result


# ------------------------------------------------------------------ implementations


def losslab_functions() -> dict[str, Callable]:
    import losslab

    def unreduced(name):
        loss = getattr(losslab, name)
        return lambda *a, **k: loss(*a, reduction="none", **k)

    names = [c.name for c in cases()]
    out = {}
    for name in names:
        if name.endswith("_grad") or name in {"sigmoid", "log_sigmoid", "softplus", "logit", "logsumexp",
                                               "softmax", "log_softmax"}:
            out[name] = getattr(losslab, name)
        else:
            out[name] = unreduced(name)
    for name in [n for n in names if not n.endswith("_grad")]:
        fused = getattr(losslab, f"{name}_and_grad", None)
        if fused is not None:
            out[f"{name}_and_grad[loss]"] = (lambda f: lambda *a, **k: f(*a, reduction="none", **k)[0])(fused)
            out[f"{name}_and_grad[grad]"] = (lambda f: lambda *a, **k: f(*a, reduction="none", **k)[1])(fused)
    return out


def torch_functions() -> dict[str, Callable] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    F = torch.nn.functional

    def tensor(a):
        return torch.from_numpy(np.ascontiguousarray(a))

    def value(fn):
        def run(*arrays, **params):
            with torch.no_grad():
                return fn(*[tensor(a) if isinstance(a, np.ndarray) else a for a in arrays], **params).numpy()
        return run

    def grad(fn):
        def run(x, t, **params):
            x = tensor(x).clone().requires_grad_(True)
            t = tensor(t) if isinstance(t, np.ndarray) else t
            fn(x, t, **params).sum().backward()
            return x.grad.numpy()
        return run

    def ce(x, t):
        if t.dtype in (torch.int64, torch.int32):
            return F.cross_entropy(x, t, reduction="none")
        return F.cross_entropy(x, t, reduction="none")

    def kl_logits(x, t):
        return F.kl_div(F.log_softmax(x, dim=-1), t, reduction="none").sum(-1)

    return {
        "sigmoid": value(torch.sigmoid), "log_sigmoid": value(F.logsigmoid), "softplus": value(F.softplus),
        "logit": value(torch.logit), "logsumexp": value(lambda x: torch.logsumexp(x, -1)),
        "softmax": value(lambda x: torch.softmax(x, -1)), "log_softmax": value(lambda x: F.log_softmax(x, -1)),
        "mse": value(lambda x, t: F.mse_loss(x, t, reduction="none")),
        "mse_grad": grad(lambda x, t: F.mse_loss(x, t, reduction="none")),
        "mae": value(lambda x, t: F.l1_loss(x, t, reduction="none")),
        "mae_grad": grad(lambda x, t: F.l1_loss(x, t, reduction="none")),
        "huber": value(lambda x, t, delta: F.huber_loss(x, t, reduction="none", delta=delta)),
        "huber_grad": grad(lambda x, t, delta: F.huber_loss(x, t, reduction="none", delta=delta)),
        "bce_with_logits": value(lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction="none")),
        "bce_with_logits_grad": grad(lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction="none")),
        "cross_entropy": value(ce), "cross_entropy_grad": grad(ce),
        "kl_divergence_with_logits": value(kl_logits), "kl_divergence_with_logits_grad": grad(kl_logits),
    }


def sklearn_functions() -> dict[str, Callable] | None:
    try:
        from sklearn._loss import loss as skloss
    except ImportError:
        return None

    def binomial(kind):
        def run(z, y):
            loss = skloss.HalfBinomialLoss()
            return getattr(loss, kind)(y_true=y, raw_prediction=z)
        return run

    def multinomial(kind):
        def run(z, t):
            if t.ndim != 1:  # scikit-learn takes class indices only
                raise NotImplementedError
            loss = skloss.HalfMultinomialLoss(n_classes=z.shape[1])
            return getattr(loss, kind)(y_true=t.astype(z.dtype), raw_prediction=np.ascontiguousarray(z))
        return run

    def squared(kind):
        def run(p, t):
            out = getattr(skloss.HalfSquaredError(), kind)(y_true=t, raw_prediction=p)
            return 2 * out  # half squared error: doubling is exact
        return run

    def absolute(kind):
        return lambda p, t: getattr(skloss.AbsoluteError(), kind)(y_true=t, raw_prediction=p)

    def pinball(kind):
        return lambda p, t, tau: getattr(skloss.PinballLoss(quantile=tau), kind)(y_true=t, raw_prediction=p)

    return {
        "bce_with_logits": binomial("loss"), "bce_with_logits_grad": binomial("gradient"),
        "cross_entropy": multinomial("loss"), "cross_entropy_grad": multinomial("gradient"),
        "mse": squared("loss"), "mse_grad": squared("gradient"),
        "mae": absolute("loss"), "mae_grad": absolute("gradient"),
        "quantile": pinball("loss"), "quantile_grad": pinball("gradient"),
    }


def supports(library: str, case: Case, inputs: Inputs) -> bool:
    """Whether a reference library has this exact function (same definition) for these inputs."""
    return True


# ------------------------------------------------------------------ the table


def run(size: str = "small", libraries: Iterable[str] = ("losslab",), names: Iterable[str] | None = None,
        dtypes=DTYPES, progress=None) -> dict:
    """``{(label, dtype name): {library: Result}}`` for every case."""
    functions = {"losslab": losslab_functions()}
    notes = {}
    for lib, loader in (("torch", torch_functions), ("scikit-learn", sklearn_functions)):
        if lib in libraries:
            loaded = loader()
            if loaded is None:
                notes[lib] = f"{lib} is not installed: its column is skipped"
            else:
                functions[lib] = loaded
    wanted = set(names) if names else None
    table = {}
    cache: dict = {}
    for case in cases():
        if wanted and case.name not in wanted:
            continue
        for dtype in dtypes:
            key = (case.family, case.name, tuple(sorted(case.params.items(), key=lambda kv: kv[0])),
                   np.dtype(dtype).name)
            if key not in cache:
                cache[key] = build_inputs(case, dtype, size)
            inputs = cache[key]
            row = {}
            for lib, fns in functions.items():
                variants = [case.name] + ([f"{case.name}_and_grad[loss]"] if lib == "losslab" and
                                          f"{case.name}_and_grad[loss]" in fns else [])
                if case.name.endswith("_grad") and lib == "losslab":
                    fused = f"{case.name[:-5]}_and_grad[grad]"
                    if fused in fns:
                        variants.append(fused)
                for variant in variants:
                    fn = fns.get(variant)
                    if fn is None:
                        continue
                    try:
                        result = measure(fn, case, inputs, dtype)
                    except NotImplementedError:
                        continue
                    except Exception as error:  # a library rejecting an input is reported, not fatal
                        result = Result(math.inf, f"raised {type(error).__name__}: {error}", 1, 1)
                    label = lib if variant == case.name else f"{lib} fused"
                    row[label] = result
            table[(case_label(case), np.dtype(dtype).name)] = row
            if progress:
                progress(case_label(case), np.dtype(dtype).name, row)
    table["_notes"] = notes
    return table


def format_ulp(result: Result | None) -> str:
    if result is None:
        return "—"
    if math.isinf(result.worst):
        return "inf"
    text = f"{result.worst:.2f}" if result.worst < 100 else f"{result.worst:.3g}"
    if result.subnormal_misses:
        text += f" ({result.subnormal_misses} subnormal > 1 step)"
    return text + ("" if result.failures == 0 else " ✗")


def markdown(table: dict, size: str) -> str:
    notes = table.get("_notes", {})
    rows = {k: v for k, v in table.items() if k != "_notes"}
    labels = sorted({lab for (lab, _) in rows}, key=lambda s: [c.name for c in cases()].index(s.split("(")[0]))
    libs = ["losslab", "losslab fused", "torch", "scikit-learn"]
    lines = []
    header = "| function | " + " | ".join(f"{lib} f64 | {lib} f32" for lib in libs) + " | ill-conditioned points (f64, error in ulp of the largest term) |"
    lines.append(header)
    lines.append("|" + "---|" * (2 + 2 * len(libs)))
    for label in labels:
        cells = []
        ill = ""
        for lib in libs:
            for dt in ("float64", "float32"):
                cells.append(format_ulp(rows.get((label, dt), {}).get(lib)))
        r64 = rows.get((label, "float64"), {}).get("losslab")
        if r64 is not None and r64.ill_points:
            ill = f"{r64.ill_points} points, worst {r64.worst_ill:.3g}"
        lines.append(f"| `{label}` | " + " | ".join(cells) + f" | {ill} |")
    out = "\n".join(lines)
    if notes:
        out += "\n\n" + "\n".join(f"- {n}" for n in notes.values())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", action="store_true", help="bigger grids (minutes)")
    parser.add_argument("--only", nargs="*", help="function names to measure")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/ACCURACY.md alone")
    args = parser.parse_args(argv)
    size = "long" if args.long else "small"

    def progress(label, dt, row):
        cells = ", ".join(f"{lib} {format_ulp(r)}" for lib, r in row.items())
        print(f"{label:40s} {dt}: {cells}", flush=True)
        for lib, r in row.items():
            if r.failures:
                print(f"    {lib}: {r.failures}/{r.points} over, worst at {r.where}", flush=True)
            if r.subnormal_misses:
                print(f"    {lib}: subnormal miss at {r.subnormal_where}", flush=True)

    table = run(size, ("losslab", "torch", "scikit-learn"), args.only, progress=progress)
    text = markdown(table, size)
    print(text)
    if not args.no_write and not args.only:
        write_doc(text, size)
    return 0


def write_doc(table_text: str, size: str) -> None:
    doc = DOC.read_text() if DOC.exists() else ""
    begin, end = "<!-- accuracy-table:begin -->", "<!-- accuracy-table:end -->"
    block = f"{begin}\n{table_text}\n{end}"
    if begin in doc and end in doc:
        doc = doc[: doc.index(begin)] + block + doc[doc.index(end) + len(end):]
    else:
        doc = doc + "\n" + block + "\n"
    DOC.write_text(doc)


if __name__ == "__main__":
    sys.exit(main())
