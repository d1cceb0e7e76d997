"""Worst error in ulp of every loss, gradient and activation, against a high-precision reference.

Run ``python -m bench.accuracy`` (add ``--long`` for the bigger grids) to
print the tables and write them into ``docs/ACCURACY.md`` (about 6 minutes);
``tests/core/test_accuracy.py`` and ``tests/core/test_accuracy_atlas.py`` run the
same measurement on a smaller grid.

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

The loss atlas (``atlas_cases``: GANs, VAE KL, ranking, extra classification and
regression, segmentation, boxes, embeddings, CTC, next-token cross-entropy) is
measured the same way, losslab only, in a second table. Its gradients of boxes,
embeddings and CTC are 768-bit central differences of the reference loss, and a
gradient vector (box, embedding, frame) is measured normwise: a component below
half the vector's largest is reported with the ill-conditioned points, in ulp of
that largest component. ``tests/core/test_accuracy_atlas.py`` runs them.
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
    # float64's bounds in every dtype (losslab.binary.float64_clip): float32 clips at the same real numbers
    upper = min(1 - eps, float(np.nextafter(1.0, 0.0)))
    lower = max(eps, float(np.finfo(np.float64).tiny))
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
    inputs: Callable | None = None  # family "atlas": (dtype, size) -> [(kind, args, keyword arguments)]


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
    return out + atlas_cases()


def case_label(case: Case) -> str:
    shown = {k: v for k, v in case.params.items() if v is not None}
    return case.name + (f"({', '.join(f'{k}={v:g}' for k, v in shown.items())})" if shown else "")


def core_cases() -> list[Case]:
    return [c for c in cases() if c.family != "atlas"]


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
    hard_points: int = 0  # well-conditioned points with hard targets

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
        self.hard_points += other.hard_points
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
    if family == "atlas":
        calls, exact, kinds, starts = [], [], [], []
        for kind, args, keywords in case.inputs(np.dtype(dtype).type, size):
            calls.append((args, keywords))
            exact_args = [np.asarray(a, np.float64) if np.asarray(a).dtype.kind == "f" else a for a in args]
            values = ref(*exact_args, **{**params, **keywords})
            exact.extend(_as_exact(v) for v in values)
            kinds.extend([kind] * len(values))
            starts.append(len(exact))
        return Inputs((calls,), exact, kinds, {"calls": True, "ends": starts})
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
        if inputs.extra.get("calls"):
            pieces = []
            for args, keywords in inputs.args[0]:
                out = function(*args, **{**params, **keywords})
                for part in (out if isinstance(out, tuple) else (out,)):
                    pieces.append(np.asarray(part).ravel())
            return np.concatenate(pieces)
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
    if inputs.extra.get("calls"):
        ends = inputs.extra["ends"]
        call = next(j for j, end in enumerate(ends) if index < end)
        return f"call {call} element {index - (ends[call - 1] if call else 0)}"
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
        if inputs.kinds[i] == "hard":
            result.hard_points += 1
            if not (error <= result.worst_hard):
                result.worst_hard = error
        if not ok or error > result.worst:
            subnormal = mpmath.isfinite(e.value) and _format(np.dtype(dtype).name).is_subnormal(e.value)
            result.add(error, ok, describe_point(inputs, i) + f" -> {c!r}, exact {mpmath.nstr(e.value, 17)}",
                       subnormal and error <= 4)
        else:
            result.points += 1
    return result


# ------------------------------------------------------------------ the loss atlas
# Every atlas case has the family "atlas": ``case.inputs(dtype, size)`` gives the calls, a list of
# ``(kind, args)`` (``kind`` "hard" or "soft", ``args`` the positional arguments: float arrays in
# ``dtype``, integer arrays as they are), and ``case.reference(*args, **params)`` gets the same
# arguments (float arrays as float64: the exact input values) and returns one Exact or mpf per element
# of the function's result, flattened in C order; a tuple of gradients is flattened argument by
# argument. Gradients of the geometric losses (boxes, embeddings) and of CTC are central differences
# of the reference loss at 768 bits (away from kinks, which the grids avoid); the others are closed
# forms.


def M(array) -> np.ndarray:
    """An object array of the exact values of a float array."""
    a = np.asarray(array, dtype=np.float64)
    return np.array([X(v) for v in a.ravel()], dtype=object).reshape(a.shape)


def _each(function, *arrays) -> np.ndarray:
    """``function`` applied elementwise over broadcast object arrays."""
    arrays = np.broadcast_arrays(*[np.asarray(a, dtype=object) for a in arrays])
    out = [function(*values) for values in zip(*[a.ravel() for a in arrays], strict=True)]
    return np.array(out, dtype=object).reshape(arrays[0].shape) if arrays else np.array(out, dtype=object)


def _flat(*parts) -> list:
    return [v for part in parts for v in np.asarray(part, dtype=object).ravel()]


def central_difference(loss, point: list, scale=None, group: int | None = None, extra_bits: int = 0) -> list:
    """``d loss / d point[i]`` for every i, by central differences at 848 bits, plus ``extra_bits`` where
    the loss changes by far less than 2^-600 of itself over a step (``loss``: mp list -> mpf).

    The step is 2^-240 of ``scale`` (default: the largest coordinate; with ``group``, the largest
    coordinate of the vector of ``group`` coordinates that holds i): the truncation error is about
    2^-480 relative and the rounding error about 2^-600, far below any float's ulp. A slope that
    shrinks with the step (by 2^-80 from a step 2^40 times larger) is that truncation error, at a
    maximum, a minimum or along a flat direction: it is returned as 0.
    """
    out = []
    largest = max((abs(v) for v in point), default=ZERO)
    for i, value in enumerate(point):
        if scale is not None:
            size = scale
        elif group:
            start = i - i % group
            size = max(abs(v) for v in point[start:start + group])
        else:
            size = largest
        size = size if size != 0 else (largest if largest != 0 else ONE)
        # a step far below the other coordinates needs their size's worth of extra bits
        extra = max(0, int(mpmath.log(largest / size, 2))) if largest > size else 0
        with mpmath.workprec(848 + 2 * extra + extra_bits):
            slopes = []
            for step in (-200, -240):
                h = mpmath.ldexp(size, step)
                up, down = list(point), list(point)
                up[i], down[i] = value + h, value - h
                slopes.append((loss(up) - loss(down)) / (2 * h))
            # a true slope is the same at both steps; the truncation error (all there is where the
            # slope is 0) shrinks by 2^-80 with the step
            out.append(ZERO if abs(slopes[1]) < mpmath.ldexp(abs(slopes[0]), -40) else slopes[1])
    return [+v for v in out]  # rounded back to the working precision


def _normwise(values: list) -> list:
    """Gradient components of one vector, each with the vector's largest component as its scale.

    For the geometric losses a component much smaller than the gradient vector is the difference of
    rounded projections (``g - (g . x) x``) and is known only to an ulp of the vector; it is reported
    as ill-conditioned, in ulp of the largest component.
    """
    largest = max((abs(v) for v in values), default=ZERO)
    return [Exact(v, largest) for v in values]


# --- elementwise references


def r_gan_generator_minimax(d):
    return _flat(_each(lambda v: -r_softplus(v), M(d)))


def r_gan_generator_minimax_grad(d):
    return _flat(_each(lambda v: -r_sigmoid(v), M(d)))


def r_gan_generator_nonsaturating(d):
    return _flat(_each(lambda v: r_softplus(-v), M(d)))


def r_gan_generator_nonsaturating_grad(d):
    return _flat(_each(lambda v: -r_sigmoid(-v), M(d)))


def r_gan_discriminator(real, fake):
    return _flat(_each(lambda r, f: r_softplus(-r) + r_softplus(f), M(real), M(fake)))


def r_gan_discriminator_grad(real, fake):
    return _flat(_each(lambda r: -r_sigmoid(-r), M(real)), _each(r_sigmoid, M(fake)))


def r_wgan_critic(real, fake):
    return _flat(_each(lambda r, f: f - r, M(real), M(fake)))


def r_wgan_critic_grad(real, fake):
    return _flat(_each(lambda r: -ONE, M(real)), _each(lambda f: ONE, M(fake)))


def r_negated(f):
    return _flat(_each(lambda v: -v, M(f)))


def r_negated_grad(f):
    return _flat(_each(lambda v: -ONE, M(f)))


def r_hinge_gan_discriminator(real, fake):
    return _flat(_each(lambda r, f: max(ZERO, 1 - r) + max(ZERO, 1 + f), M(real), M(fake)))


def r_hinge_gan_discriminator_grad(real, fake):
    return _flat(_each(lambda r: -ONE if r < 1 else ZERO, M(real)), _each(lambda f: ONE if f > -1 else ZERO, M(fake)))


def _expm1_minus(v):
    """``e^v - 1 - v`` without cancellation (a series for tiny v)."""
    if abs(v) < mpmath.mpf(2) ** -60:
        return v * v / 2 + v**3 / 6 + v**4 / 24
    return mpmath.expm1(v) - v


def r_gaussian_kl(mu, logvar):
    mu, logvar = M(mu), M(logvar)
    return [mpmath.fsum(_expm1_minus(v) + m * m for m, v in zip(mr, vr, strict=True)) / 2
            for mr, vr in zip(mu, logvar, strict=True)]


def r_gaussian_kl_grad(mu, logvar):
    return _flat(M(mu), _each(lambda v: mpmath.expm1(v) / 2, M(logvar)))


def _slack(m, a, b, t):
    """``m - t (a - b)`` exactly (``1e-78 - 1`` is -1 at 256 bits)."""
    return mpmath.fsub(m, mpmath.fmul(t, mpmath.fsub(a, b, exact=True), exact=True), exact=True)


def r_margin_ranking(x1, x2, y, margin=0.0):
    m = X(margin)
    return _flat(_each(lambda a, b, t: +max(ZERO, _slack(m, a, b, t)), M(x1), M(x2), M(y)))


def r_margin_ranking_grad(x1, x2, y, margin=0.0):
    m = X(margin)
    g = _each(lambda a, b, t: -t if _slack(m, a, b, t) > 0 else ZERO, M(x1), M(x2), M(y))
    return _flat(g, -g)


def r_bpr(pos, neg):
    return _flat(_each(lambda a, b: r_softplus(b - a), M(pos), M(neg)))


def r_bpr_grad(pos, neg):
    g = _each(lambda a, b: -r_sigmoid(b - a), M(pos), M(neg))
    return _flat(g, -g)


def r_squared_hinge(s, t):
    return _flat(_each(lambda v, y: max(ZERO, 1 - y * v) ** 2, M(s), M(t)))


def r_squared_hinge_grad(s, t):
    return _flat(_each(lambda v, y: -2 * y * max(ZERO, 1 - y * v), M(s), M(t)))


def r_exponential(s, t):
    return _flat(_each(lambda v, y: mpmath.exp(-y * v), M(s), M(t)))


def r_exponential_grad(s, t):
    return _flat(_each(lambda v, y: -y * mpmath.exp(-y * v), M(s), M(t)))


def r_smooth_l1(p, t, beta=1.0):
    b = X(beta)
    return _flat(_each(lambda a, c: (a - c) ** 2 / (2 * b) if abs(a - c) < b else abs(a - c) - b / 2, M(p), M(t)))


def r_smooth_l1_grad(p, t, beta=1.0):
    b = X(beta)
    return _flat(_each(lambda a, c: (a - c) / b if abs(a - c) < b else mpmath.sign(a - c), M(p), M(t)))


def r_gaussian_nll(p, t, var, eps=1e-6):
    def one(a, c, v):
        v = max(v, X(eps))
        first, second = mpmath.log(v), (a - c) ** 2 / v
        return Exact((first + second) / 2, max(abs(first), second) / 2)
    return _flat(_each(one, M(p), M(t), M(var)))


def r_gaussian_nll_grad(p, t, var, eps=1e-6):
    e = X(eps)
    first = _each(lambda a, c, v: (a - c) / max(v, e), M(p), M(t), M(var))
    second = _each(lambda a, c, v: Exact((v - (a - c) ** 2) / (2 * v * v), max(v, (a - c) ** 2) / (2 * v * v))
                   if v >= e else ZERO, M(p), M(t), M(var))
    return _flat(first, second)


def r_poisson_nll(x, y):
    def one(v, c):
        rate = mpmath.exp(v)
        return Exact(rate - c * v, max(rate, abs(c * v)))
    return _flat(_each(one, M(x), M(y)))


def r_poisson_nll_grad(x, y):
    return _flat(_each(lambda v, c: Exact(mpmath.exp(v) - c, max(mpmath.exp(v), c)), M(x), M(y)))


def _log_ratio_exact(a, c):
    """``log(1 + a) - log(1 + c)`` from exact sums (``1 + 1e152`` needs more than 256 bits)."""
    ratio = mpmath.fsub(a, c, exact=True) / mpmath.fadd(1, c, exact=True)
    if -0.5 < ratio < 1:
        return mpmath.log1p(ratio)
    return mpmath.log(mpmath.fadd(1, a, exact=True)) - mpmath.log(mpmath.fadd(1, c, exact=True))  # >= log 2 apart


def r_msle(p, t):
    return _flat(_each(lambda a, c: _log_ratio_exact(a, c) ** 2, M(p), M(t)))


def r_msle_grad(p, t):
    return _flat(_each(lambda a, c: 2 * _log_ratio_exact(a, c) / (1 + a), M(p), M(t)))


# --- rows: label smoothing, class weights, ListNet, next-token CE


def _targets_as_rows(z, target, classes):
    target = np.asarray(target)
    if target.ndim == z.ndim - 1:  # class indices
        return [[ONE if j == c else ZERO for j in range(classes)] for c in target.ravel()]
    return [[X(v) for v in row] for row in target.reshape(-1, classes)]


def _smoothed(rows, epsilon, classes):
    e = X(epsilon)
    return [[(1 - e) * v + e / classes for v in row] for row in rows]


def r_label_smoothed_cross_entropy(z, target, label_smoothing=0.1):
    k = z.shape[-1]
    rows = _smoothed(_targets_as_rows(z, target, k), label_smoothing, k)
    return [r_cross_entropy([X(v) for v in zr], y) for zr, y in zip(z.reshape(-1, k), rows, strict=True)]


def r_label_smoothed_cross_entropy_grad(z, target, label_smoothing=0.1):
    k = z.shape[-1]
    rows = _smoothed(_targets_as_rows(z, target, k), label_smoothing, k)
    return [g for zr, y in zip(z.reshape(-1, k), rows, strict=True) for g in r_cross_entropy_grad([X(v) for v in zr], y)]


def _weighted(rows, weight):
    w = [X(v) for v in np.ravel(weight)]
    return [[wk * v for wk, v in zip(w, row, strict=True)] for row in rows]


def r_weighted_cross_entropy(z, target, weight):
    k = z.shape[-1]
    rows = _weighted(_targets_as_rows(z, target, k), weight)
    return [r_cross_entropy([X(v) for v in zr], y) for zr, y in zip(z.reshape(-1, k), rows, strict=True)]


def r_weighted_cross_entropy_grad(z, target, weight):
    # p_k sum_j w_j y_j - w_k y_k: the cross-entropy gradient of the target w * y
    k = z.shape[-1]
    rows = _weighted(_targets_as_rows(z, target, k), weight)
    return [g for zr, y in zip(z.reshape(-1, k), rows, strict=True) for g in r_cross_entropy_grad([X(v) for v in zr], y)]


def r_listnet(scores, relevance):
    k = scores.shape[-1]
    return [r_cross_entropy([X(v) for v in s], r_softmax([X(v) for v in r]))
            for s, r in zip(scores.reshape(-1, k), relevance.reshape(-1, k), strict=True)]


def r_listnet_grad(scores, relevance):
    k = scores.shape[-1]
    return [g for s, r in zip(scores.reshape(-1, k), relevance.reshape(-1, k), strict=True)
            for g in r_cross_entropy_grad([X(v) for v in s], r_softmax([X(v) for v in r]))]


def r_next_token_cross_entropy(z, tokens, label_smoothing=0.0):
    ignored = np.asarray(tokens) == -100  # the default ignore_index: loss and gradient 0
    values = r_label_smoothed_cross_entropy(z, np.where(ignored, 0, tokens), label_smoothing)
    return [ZERO if skip else v for skip, v in zip(ignored, values, strict=True)]


def r_next_token_cross_entropy_grad(z, tokens, label_smoothing=0.0):
    ignored = np.repeat(np.asarray(tokens) == -100, z.shape[-1])
    values = r_label_smoothed_cross_entropy_grad(z, np.where(np.asarray(tokens) == -100, 0, tokens), label_smoothing)
    return [ZERO if skip else v for skip, v in zip(ignored, values, strict=True)]


# --- segmentation: one region per row


def _overlap(p, q, t, alpha, beta, smooth):
    """``(E, D, TP)`` of a region: ``E = alpha FP + beta FN``, ``D = TP + E + s``; ``q = 1 - p`` given exactly."""
    tp = mpmath.fsum(pi * ti for pi, ti in zip(p, t, strict=True))
    fp = mpmath.fsum(pi * (1 - ti) for pi, ti in zip(p, t, strict=True))
    fn = mpmath.fsum(qi * ti for qi, ti in zip(q, t, strict=True))
    errors = alpha * fp + beta * fn
    return errors, tp + errors + smooth, tp


def _tversky_grad_terms(t, errors, denominator, tp, alpha, beta, smooth):
    """``dT/dp_i = (a_i (TP + s) - E t_i) / D^2``, ``a_i = alpha (1 - t_i) - beta t_i``, with the size of its two terms."""
    out = []
    for ti in t:
        a = alpha * (1 - ti) - beta * ti
        first, second = a * (tp + smooth), errors * ti
        out.append(Exact((first - second) / denominator**2, max(abs(first), abs(second)) / denominator**2))
    return out


OVERLAP_WEIGHTS = {"soft_dice": (0.5, 0.5, 0.5), "soft_iou": (1.0, 1.0, 1.0)}  # alpha, beta, factor of smooth


def _region_parts(name, row, trow, logits, params):
    if name in OVERLAP_WEIGHTS:
        alpha, beta, factor = (X(v) for v in OVERLAP_WEIGHTS[name])
    else:
        alpha, beta, factor = X(params.get("alpha", 0.3)), X(params.get("beta", 0.7)), ONE
    smooth = factor * X(params.get("smooth", 1.0))
    z = [X(v) for v in row]
    t = [X(v) for v in trow]
    if logits:
        p, q = [r_sigmoid(v) for v in z], [r_sigmoid(-v) for v in z]
    else:
        p, q = z, [1 - v for v in z]
    return p, q, t, alpha, beta, smooth


def _segmentation_reference(name, want_grad, logits):
    base = name.removesuffix("_with_logits")

    def reference(maps, target, **params):
        maps, target = np.broadcast_arrays(np.asarray(maps, np.float64), np.asarray(target, np.float64))
        n = maps.shape[-1]
        out = []
        for row, trow in zip(maps.reshape(-1, n), target.reshape(-1, n), strict=True):
            p, q, t, alpha, beta, smooth = _region_parts(base if base != "combo" else "soft_dice", row, trow, logits,
                                                         params)
            errors, denominator, tp = _overlap(p, q, t, alpha, beta, smooth)
            loss = errors / denominator
            slopes = [pi * qi for pi, qi in zip(p, q, strict=True)] if logits else [ONE] * n
            if base == "focal_tversky":
                gamma = X(params.get("gamma", 0.75))
                if not want_grad:
                    out.append(loss**gamma)
                    continue
                factor = gamma * loss ** (gamma - 1) if loss != 0 else (mpmath.inf if gamma < 1 else
                                                                        (ONE if gamma == 1 else ZERO))
                for g, s in zip(_tversky_grad_terms(t, errors, denominator, tp, alpha, beta, smooth), slopes,
                                strict=True):
                    out.append(Exact(factor * g.value * s, factor * g.scale * s) if g.value != 0 else ZERO)
                continue
            if base == "combo":
                w = X(params.get("alpha", 0.5))
                if logits:
                    bce = [r_bce_with_logits(zi, ti) for zi, ti in zip([X(v) for v in row], t, strict=True)]
                    bce_grad = [r_sigmoid_minus(zi, ti) for zi, ti in zip([X(v) for v in row], t, strict=True)]
                else:
                    eps = params.get("eps", 1e-12)
                    bce = [r_bce(pi, ti, eps) for pi, ti in zip(p, t, strict=True)]
                    bce_grad = [Exact(r_bce_grad(pi, ti, eps)) for pi, ti in zip(p, t, strict=True)]
                if not want_grad:
                    out.append(w * mpmath.fsum(bce) / n + (1 - w) * loss)
                    continue
                dice = _tversky_grad_terms(t, errors, denominator, tp, alpha, beta, smooth)
                for b, d, s in zip(bce_grad, dice, slopes, strict=True):
                    first, second = w * b.value / n, (1 - w) * d.value * s
                    scale = max(abs(first), abs(second), w * b.scale / n, (1 - w) * d.scale * s)
                    out.append(Exact(first + second, scale))
                continue
            if not want_grad:
                out.append(loss)
                continue
            for g, s in zip(_tversky_grad_terms(t, errors, denominator, tp, alpha, beta, smooth), slopes,
                            strict=True):
                out.append(Exact(g.value * s, g.scale * s))
        return out

    return reference


# --- detection: boxes (x1, y1, x2, y2)


def _box_loss_exact(name, pred, target, eps, prec_bits=None):
    a1, b1, a2, b2 = pred
    g1, h1, g2, h2 = target
    iw = max(ZERO, min(a2, g2) - max(a1, g1))
    ih = max(ZERO, min(b2, h2) - max(b1, h1))
    overlaps = min(a2, g2) > max(a1, g1) and min(b2, h2) > max(b1, h1)
    inter = iw * ih if overlaps else ZERO
    area, target_area = (a2 - a1) * (b2 - b1), (g2 - g1) * (h2 - h1)
    union = area + target_area - inter
    if union + eps == 0:
        return ONE
    loss = (union - inter + eps) / (union + eps)
    cw = max(a2, g2) - min(a1, g1)
    ch = max(b2, h2) - min(b1, h1)
    if name == "giou":
        enclosing = cw * ch
        if enclosing + eps != 0:
            loss += (enclosing - union) / (enclosing + eps)
        return loss
    if name in ("diou", "ciou"):
        diagonal = cw * cw + ch * ch + eps
        dx = (a1 + a2) / 2 - (g1 + g2) / 2
        dy = (b1 + b2) / 2 - (h1 + h2) / 2
        if diagonal > 0:
            loss += (dx * dx + dy * dy) / diagonal
    if name == "ciou":
        iou_loss_value = (union - inter + eps) / (union + eps)
        gap = mpmath.atan2(g2 - g1, h2 - h1) - mpmath.atan2(a2 - a1, b2 - b1)
        v = 4 / mpmath.pi**2 * gap * gap
        q = iou_loss_value + v + eps
        if q > 0:
            loss += v * v / q
    return loss


def _detection_reference(name, want_grad):
    base = name.removesuffix("_loss") if name == "iou_loss" else name

    def reference(pred, target, eps=1e-7):
        pred, target = np.broadcast_arrays(np.asarray(pred, np.float64), np.asarray(target, np.float64))
        e = X(eps)
        out = []
        for box, goal in zip(pred.reshape(-1, 4), target.reshape(-1, 4), strict=True):
            b, g = [X(v) for v in box], [X(v) for v in goal]
            if not want_grad:
                out.append(_box_loss_exact(base, b, g, e))
                continue
            scale = max(abs(v) for v in b + g)
            # boxes far below sqrt(eps): a loss near 1 moves by about 2^-240 scale^2 / eps of itself over the
            # step, which needs about 2 log2(1/scale) more bits than the default (1e-200 boxes: 1330)
            extra_bits = 2 * max(0, -int(mpmath.log(scale, 2))) if eps > 0 and scale > 0 else 0
            out.extend(_normwise(central_difference(lambda point, g=g: _box_loss_exact(base, point, g, e), b, scale,
                                                    extra_bits=extra_bits)))
        return out

    return reference


# --- metric learning


def _norm(v):
    return mpmath.sqrt(mpmath.fsum(x * x for x in v))


def _contrastive_exact(a, b, same, margin):
    d = _norm([x - y for x, y in zip(a, b, strict=True)])
    return d * d / 2 if same == 1 else max(ZERO, margin - d) ** 2 / 2


def _cosine_exact(a, b, label, margin):
    na, nb = _norm(a), _norm(b)
    if na == 0 or nb == 0:
        cos = ZERO
        one_minus = ONE
    else:
        ua, ub = [x / na for x in a], [y / nb for y in b]
        one_minus = mpmath.fsum((x - y) ** 2 for x, y in zip(ua, ub, strict=True)) / 2
        cos = 1 - one_minus
    return one_minus if label == 1 else max(ZERO, cos - margin)


def _p_norm(v, p=2.0):
    return _norm(v) if p == 2 else mpmath.fsum(abs(x) ** p for x in v) ** (ONE / p)


def _triplet_exact(anchor, positive, negative, margin, eps, p=2.0):
    p = X(p)
    d_ap = _p_norm([x - y + eps for x, y in zip(anchor, positive, strict=True)], p)
    d_an = _p_norm([x - y + eps for x, y in zip(anchor, negative, strict=True)], p)
    return max(ZERO, margin + d_ap - d_an)


def _pairs_reference(exact, want_grad, arguments: int, margin_default):
    """References of a loss of ``arguments`` embedding arrays (rows) and, for pairs, a label per row."""

    def reference(*args, margin=margin_default, **params):
        m = X(margin)
        vectors = [np.asarray(a, np.float64) for a in args[:arguments]]
        labels = np.asarray(args[arguments], np.float64).ravel() if len(args) > arguments else None
        d = vectors[0].shape[-1]
        rows = [v.reshape(-1, d) for v in vectors]
        losses, grads = [], [[] for _ in range(arguments)]
        for i in range(rows[0].shape[0]):
            point = [[X(v) for v in r[i]] for r in rows]
            extra = (labels[i],) if labels is not None else ()

            def total(flat, extra=extra):
                parts = [flat[j * d:(j + 1) * d] for j in range(arguments)]
                return exact(*parts, *[X(v) for v in extra], m, **params)

            if not want_grad:
                losses.append(total([x for part in point for x in part]))
                continue
            flat = [x for part in point for x in part]
            g = central_difference(total, flat, group=d)
            for j in range(arguments):
                grads[j].extend(_normwise(g[j * d:(j + 1) * d]))
        return losses if not want_grad else [v for part in grads for v in part]

    return reference


def _info_nce_exact(query, keys, temperature, normalize=True):
    """Cross-entropy of picking key 0 among ``keys`` by similarity / temperature (exact differences)."""
    def unit(v):
        n = _norm(v)
        return [x / n for x in v] if normalize else v
    q = unit(query)
    logits = [mpmath.fsum(a * b for a, b in zip(q, unit(k), strict=True)) / temperature for k in keys]
    top = max(logits)
    # -log softmax(logits)_0 = (top - logit_0) + log sum exp(logit - top): two terms >= 0
    return (top - logits[0]) + mpmath.log(mpmath.fsum(mpmath.exp(v - top) for v in logits))


def _info_nce_reference(want_grad, own_keys):
    def reference(query, keys, temperature=0.1, normalize=True):
        query, keys = np.asarray(query, np.float64), np.asarray(keys, np.float64)
        tau = X(temperature)
        n, d = query.shape
        keysets = [keys[i] for i in range(n)] if own_keys else [np.roll(keys, -i, axis=0) for i in range(n)]
        if not want_grad:
            return [_info_nce_exact([X(v) for v in query[i]], [[X(v) for v in k] for k in keysets[i]], tau, normalize)
                    for i in range(n)]
        if not normalize and not own_keys:
            return _info_nce_raw_grad(query, keys, tau)
        flat = [X(v) for v in query.ravel()] + [X(v) for v in keys.ravel()]

        def total(point):
            qs = [point[i * d:(i + 1) * d] for i in range(n)]
            ks = np.array(point[n * d:], dtype=object).reshape(keys.shape)
            return mpmath.fsum(
                _info_nce_exact(qs[i], list(ks[i]) if own_keys else list(np.roll(ks, -i, axis=0)), tau, normalize)
                for i in range(n))

        g = central_difference(total, flat, group=d)
        out = []
        for j in range(len(g) // d):
            out.extend(_normwise(g[j * d:(j + 1) * d]))
        return out

    return reference


def _info_nce_raw_grad(query, keys, tau) -> list:
    """InfoNCE's gradient with raw dot products (``normalize=False``) in closed form, as a
    ``_normwise`` list (query rows, then key rows): with ``p_ij = softmax_j(q_i . k_j / tau)``,
    ``d/dq_i = sum_j (p_ij - [i = j]) k_j / tau`` and ``d/dk_j = sum_i (p_ij - [i = j]) q_i / tau``
    (central differences lose a loss that changes by 2^-600 of itself at tiny embeddings)."""
    q = [[X(v) for v in row] for row in query]
    k = [[X(v) for v in row] for row in keys]
    n, m, d = len(q), len(k), len(q[0])
    weights = []
    for i in range(n):
        logits = [mpmath.fsum(a * b for a, b in zip(q[i], k[j], strict=True)) / tau for j in range(m)]
        top = max(logits)
        e = [mpmath.exp(v - top) for v in logits]
        total = mpmath.fsum(e)
        weights.append([e[j] / total - (1 if i == j else 0) for j in range(m)])
    out = []
    for i in range(n):
        out.extend(_normwise([mpmath.fsum(weights[i][j] * k[j][c] for j in range(m)) / tau for c in range(d)]))
    for j in range(m):
        out.extend(_normwise([mpmath.fsum(weights[i][j] * q[i][c] for i in range(n)) / tau for c in range(d)]))
    return out


# --- CTC


def _ctc_exact(log_probs, labels, blank=0):
    """``-log sum over alignments prod p``: the forward recursion in mpmath (``log_probs`` (T, C) mp rows)."""
    ext = [blank]
    for label in labels:
        ext += [label, blank]
    s_count, frames = len(ext), len(log_probs)
    probs = [[mpmath.exp(v) for v in row] for row in log_probs]
    alpha = [ZERO] * s_count
    alpha[0] = probs[0][ext[0]]
    if s_count > 1:
        alpha[1] = probs[0][ext[1]]
    for t in range(1, frames):
        new = [ZERO] * s_count
        for s in range(s_count):
            total = alpha[s] + (alpha[s - 1] if s >= 1 else ZERO)
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                total += alpha[s - 2]
            new[s] = total * probs[t][ext[s]]
        alpha = new
    total = alpha[-1] + (alpha[-2] if s_count > 1 else ZERO)
    return -mpmath.log(total) if total > 0 else mpmath.inf


def _log_softmax_rows(rows):
    return [r_log_softmax(list(row)) for row in rows]


def _ctc_reference(want_grad, logits):
    def reference(values, targets, input_lengths, target_lengths, **params):
        values = np.asarray(values, np.float64)  # (T, N, C)
        frames, batch, classes = values.shape
        out_loss, out_grad = [], np.empty(values.shape, dtype=object)
        for n in range(batch):
            labels = [int(v) for v in np.asarray(targets)[n][: int(target_lengths[n])]]
            length = int(input_lengths[n])
            rows = [[X(v) for v in values[t, n]] for t in range(length)]

            def loss(point, labels=labels, length=length):
                grid = [point[t * classes:(t + 1) * classes] for t in range(length)]
                return _ctc_exact(_log_softmax_rows(grid) if logits else grid, labels)

            flat = [v for row in rows for v in row]
            if not want_grad:
                out_loss.append(loss(flat))
                continue
            g = central_difference(loss, flat, scale=ONE)
            for t in range(frames):
                for k in range(classes):
                    out_grad[t, n, k] = g[t * classes + k] if t < length else ZERO
        if not want_grad:
            return out_loss
        # one frame's gradient is a vector over the classes: normwise, like the geometric losses; with
        # logits each entry is p - gamma (prediction minus occupancy), whose terms cancel where the
        # network already predicts the alignment: the larger of the two is its scale too
        result = np.empty(values.shape, dtype=object)
        for t in range(frames):
            for n in range(batch):
                entries = _normwise(list(out_grad[t, n]))
                if logits:
                    p = r_softmax([X(v) for v in values[t, n]])
                    entries = [Exact(e.value, max(e.scale, pk, pk - e.value)) for e, pk in zip(entries, p, strict=True)]
                result[t, n] = entries
        return list(result.ravel())

    return reference


# --- atlas inputs: ``(kind, args, keyword arguments)`` per call


def _finite(*arrays):
    keep = np.ones(len(arrays[0]), dtype=bool)
    for a in arrays:
        keep &= np.isfinite(a)
    return [a[keep] for a in arrays]


def atlas_logits(dtype, size):
    return [("hard", (logit_grid(dtype, size),), {})]


def atlas_pairs(dtype, size):
    """Pairs of raw outputs: the logit grid against a shuffle of itself, a close partner, a moderate one and +-1."""
    z = logit_grid(dtype, size)
    rng = np.random.default_rng(30)
    with np.errstate(over="ignore", invalid="ignore"):
        parts = [(z, rng.permutation(z)), (z, z * (1 + rng.uniform(-1e-3, 1e-3, len(z)))),
                 (z, rng.normal(0, 3, len(z))), (z, z - 1), (z, z + 1), (z, z - 0.7)]
        a = np.concatenate([p[0] for p in parts]).astype(dtype)
        b = np.concatenate([p[1] for p in parts]).astype(dtype)
    return [("hard", tuple(_finite(a, b)), {})]


def atlas_signed_pairs(dtype, size):
    """``atlas_pairs`` with a label of -1 or +1 per pair (margin ranking)."""
    (_, (a, b), _), = atlas_pairs(dtype, size)
    y = np.where(np.random.default_rng(31).random(len(a)) < 0.5, -1.0, 1.0).astype(dtype)
    return [("hard", (a, b, y), {})]


def atlas_scores_and_signs(dtype, size):
    s = logit_grid(dtype, size)
    return [("hard", (np.concatenate([s, s]), np.repeat(np.array([-1.0, 1.0], dtype), len(s))), {})]


def atlas_kl_rows(dtype, size):
    """(mu, logvar) rows of two latent dimensions: logit-grid values, logvar past both ends of exp's range."""
    z = logit_grid(dtype, size)
    rng = np.random.default_rng(32)
    v = z[np.abs(z) < 1e3]
    mu = rng.permutation(np.concatenate([z, z]))[: 2 * (len(v) // 2)].reshape(-1, 2)
    logvar = rng.permutation(np.concatenate([v, v]))[: mu.size].reshape(-1, 2)
    return [("hard", (mu.astype(dtype), logvar.astype(dtype)), {})]


def atlas_regression(dtype, size):
    """(pred, target) pairs: the logit grid against a handful of targets and against close partners."""
    z = logit_grid(dtype, size)
    targets = np.array([0.0, 1.0, -2.5, 1e-3, 3e6], dtype)
    a = np.concatenate([z for _ in targets] + [z])
    rng = np.random.default_rng(33)
    with np.errstate(over="ignore"):
        b = np.concatenate([np.full(len(z), t) for t in targets] + [z * (1 + rng.uniform(-1e-6, 1e-6, len(z)))])
    return [("hard", tuple(_finite(a.astype(dtype), b.astype(dtype))), {})]


def atlas_gaussian_nll(dtype, size):
    (_, (a, b), _), = atlas_regression(dtype, size)
    rng = np.random.default_rng(34)
    m = magnitudes(dtype, PER_DECADE[size])
    var = rng.choice(np.concatenate([m, [1e-7, 1e-6, 0.5, 1.0, 2.0]]), len(a)).astype(dtype)
    keep = np.abs(a.astype(np.float64) - b) < 1e150  # (pred - target)^2 / var within float range
    return [("hard", (a[keep], b[keep], var[keep]), {})]


def atlas_poisson(dtype, size):
    x = logit_grid(dtype, size)
    x = x[x < 700]
    counts = np.array([0.0, 1.0, 2.0, 3.0, math.e, 7.0, 100.0, 1e6], dtype)
    return [("hard", (np.tile(x, len(counts)), np.repeat(counts, len(x))), {})]


def atlas_msle(dtype, size):
    m = magnitudes(dtype, PER_DECADE[size])
    rng = np.random.default_rng(35)
    values = np.concatenate([m, -m[m < 1], [0.0, -0.5, -1 + 1e-6]]).astype(dtype)
    values = values[values > -1]
    other = rng.permutation(values)
    with np.errstate(over="ignore"):
        close = (values * (1 + rng.uniform(-1e-6, 1e-6, len(values)))).astype(dtype)
    close = np.where(close > -1, close, values)
    return [("hard", (np.concatenate([values, values]), np.concatenate([other, close])), {})]


def _row_blocks(dtype, size, soft=True, indices=True, seed=36):
    """Class rows grouped by class count, with index, one-hot and (soft) Dirichlet targets."""
    rng = np.random.default_rng(seed)
    blocks = {}
    for z, c in class_rows(dtype, size):
        blocks.setdefault(len(z), []).append((z, c))
    calls = []
    for k, rows in sorted(blocks.items()):
        zs = np.array([r[0] for r in rows], dtype)
        cs = np.array([r[1] for r in rows])
        if indices:
            calls.append(("hard", (zs, cs)))
        calls.append(("hard", (zs, np.eye(k, dtype=dtype)[cs])))
        if soft:
            calls.append(("soft", (zs, np.array([soft_targets(k, rng, "dirichlet") for _ in rows], dtype))))
    return calls


def atlas_smoothed_rows(dtype, size):
    """Index and one-hot targets, which label smoothing makes soft."""
    return [("soft", args, {}) for _, args in _row_blocks(dtype, size, soft=False)]


def atlas_weighted_rows(dtype, size):
    calls = []
    for kind, (zs, ts) in _row_blocks(dtype, size):
        k = zs.shape[-1]
        weight = np.array([5.0] + [1.0] * (k - 1), dtype)
        calls.append((kind, (zs, ts), {"weight": weight}))
    return calls


def atlas_listnet(dtype, size):
    """Score rows against random relevance scores and against graded labels (0, 1, ..., k-1 shuffled)."""
    rng = np.random.default_rng(37)
    calls = []
    for _, (zs, _) in _row_blocks(dtype, size, soft=False, indices=False):
        calls.append(("soft", (zs, rng.normal(0, 2, zs.shape).astype(dtype)), {}))
        grades = np.array([rng.permutation(zs.shape[1]) for _ in zs], dtype)
        calls.append(("soft", (zs, grades), {}))
    return calls


def atlas_next_token(dtype, size):
    calls = []
    rng = np.random.default_rng(38)
    for _, (zs, cs) in _row_blocks(dtype, size, soft=False):
        tokens = np.asarray(cs)
        if tokens.ndim != 1:
            continue
        ignored = rng.random(len(tokens)) < 0.1
        calls.append(("soft", (zs, np.where(ignored, -100, tokens)), {}))  # smoothed by the function
    return calls


def _maps(dtype, size, logits: bool, seed: int = 39):
    """Rows of 1 to 5 pixels (probabilities or logits) with hard, soft, equal and nearly equal targets."""
    rng = np.random.default_rng(seed)
    grid = logit_grid(dtype, size) if logits else probability_grid(dtype, size)
    count = {"test": 24, "small": 80, "long": 300}[size]
    calls = []
    for n in (1, 2, 5):
        values = rng.choice(grid, (count, n)).astype(dtype)
        hard = (rng.random((count, n)) < 0.5).astype(dtype)
        soft = rng.choice(np.array([0.3, 0.5, 0.9, 1e-3, 0.999]), (count, n)).astype(dtype)
        # nearly perfect maps: the prediction at (or a step from) the hard target
        if logits:
            near = np.where(hard == 1, 1, -1) * rng.choice(np.array([40.0, 100.0, 745.0, 800.0, 1e5]), (count, n))
        else:
            near = np.abs(hard - rng.choice(np.array([0.0, 1e-300, 1e-17, 2.0**-53, 1e-6]), (count, n)))
        calls += [("hard", (values, hard), {}), ("soft", (values, soft), {}),
                  ("hard", (near.astype(dtype), hard), {})]
    # a few regions of 300 pixels, mostly wrong: the loss is near 1 and 1 - loss is small
    rows = {"test": 2, "small": 4, "long": 8}[size]
    wrong = (rng.random((rows, 300)) < 0.5).astype(dtype)
    guess = np.where(wrong == 1, rng.choice(grid[grid < 0], (rows, 300)) if logits else rng.uniform(0, 0.1, (rows, 300)),
                     rng.choice(grid[grid > 0], (rows, 300)) if logits else rng.uniform(0.9, 1, (rows, 300)))
    calls.append(("hard", (guess.astype(dtype), wrong), {}))
    return calls


def atlas_prob_maps(dtype, size):
    return _maps(dtype, size, logits=False)


def atlas_logit_maps(dtype, size):
    return _maps(dtype, size, logits=True)


def atlas_boxes(dtype, size):
    """Target boxes at scales 1e-200 to 1e200 and predictions from nearly equal to disjoint (no edge on an edge)."""
    rng = np.random.default_rng(40)
    repeats = {"test": 2, "small": 6, "long": 20}[size]
    preds, targets = [], []
    for scale in _scales(dtype, (1e-200, 1e-3, 1.0, 1e5, 1e200)):
        for noise in (1e-12, 1e-3, 0.3, 3.0):
            for _ in range(repeats):
                corner = rng.normal(0, 2, 2)
                extent = np.exp(rng.normal(0, 1, 2))
                target = np.concatenate([corner, corner + extent])
                pred = target + noise * rng.normal(0, 1, 4) * np.concatenate([extent, extent])
                pred[2:] = np.maximum(pred[2:], pred[:2] + 1e-3 * extent)
                preds.append(pred * scale)
                targets.append(target * scale)
    preds, targets = np.array(preds, dtype), np.array(targets, dtype)
    # no edge on an edge of the target (a kink: float32 rounds the closest predictions onto the target)
    coordinates = np.concatenate([targets, targets[:, [2, 3, 0, 1]]], axis=1)
    keep = ~(preds[:, :, None] == coordinates[:, None, :]).any(axis=(1, 2))
    return [("hard", (preds[keep], targets[keep]), {})]


def _scales(dtype, scales):
    """The scales whose boxes or vectors stay normal and finite in ``dtype`` (1e+-30 stand in for float32)."""
    if np.dtype(dtype) == np.float64:
        return scales
    return tuple(min(max(s, 1e-30), 1e30) for s in scales)


def _embeddings(rng, count, dim, dtype):
    out = []
    for scale in _scales(dtype, (1e-150, 1e-3, 1.0, 1e3, 1e150)):
        for _ in range(count):
            out.append(rng.normal(0, 1, dim) * scale)
    return np.array(out)


def atlas_embedding_pairs(dtype, size):
    rng = np.random.default_rng(41)
    count = {"test": 3, "small": 10, "long": 40}[size]
    x1 = _embeddings(rng, count, 3, dtype)
    close = x1 * (1 + rng.normal(0, 1e-6, x1.shape))
    near = rng.normal(0, 0.3, x1.shape)  # inside the margin of a unit-scale pair
    x2 = np.concatenate([rng.permutation(x1), close, x1[:, ::-1] + near])
    x1 = np.concatenate([x1, x1, x1])
    calls = []
    for labels in ((0.0, 1.0),):
        y = rng.choice(np.array(labels), len(x1))
        calls.append(("hard", (x1.astype(dtype), x2.astype(dtype), y.astype(dtype)), {}))
    return calls


def atlas_cosine_pairs(dtype, size):
    (kind, (x1, x2, y), kw), = atlas_embedding_pairs(dtype, size)
    return [(kind, (x1, x2, np.where(y == 1, 1.0, -1.0).astype(dtype)), kw)]


def atlas_triplets(dtype, size):
    rng = np.random.default_rng(42)
    count = {"test": 6, "small": 20, "long": 80}[size]
    a = rng.normal(0, 1, (count * 3, 3))
    p = a + rng.normal(0, 0.3, a.shape) * rng.choice([1e-3, 1.0, 3.0], (len(a), 1))
    n = a + rng.normal(0, 1, a.shape) * rng.choice([0.1, 1.0, 3.0], (len(a), 1))
    return [("hard", (a.astype(dtype), p.astype(dtype), n.astype(dtype)), {})]


def atlas_info_nce(dtype, size):
    rng = np.random.default_rng(43)
    calls = []
    for scale in _scales(dtype, (1e-100, 1.0, 1e100)):
        for _ in range({"test": 1, "small": 3, "long": 10}[size]):
            q = rng.normal(0, 1, (3, 4)) * scale
            k = q * 0.8 + rng.normal(0, 0.5, (3, 4)) * scale
            calls.append(("hard", (q.astype(dtype), k.astype(dtype)), {}))
    return calls + atlas_info_nce_low_dim(dtype, size)


def atlas_info_nce_low_dim(dtype, size):
    """Two and three features, up to 16 queries and keys: each query's pulls toward its keys nearly
    cancel in so few directions, and keys mirrored about a query cancel exactly but for rounding."""
    rng = np.random.default_rng(47)
    calls = []
    counts = {"test": (6,), "small": (4, 8, 12), "long": (4, 8, 16)}[size]
    scales = (1.0,) if size == "test" else (1e-100, 1.0, 1e100)
    for dim in (2, 3):
        for count in counts:
            for scale in _scales(dtype, scales):
                q = rng.normal(0, 1, (count, dim)) * scale
                k = q * 0.5 + rng.normal(0, 1, (count, dim)) * scale
                calls.append(("hard", (q.astype(dtype), k.astype(dtype)), {}))
            q = rng.normal(0, 1, (count, dim))
            k = q.copy()
            k[1::2, 0] *= -1  # mirror every other key about the first axis
            k += rng.normal(0, 1e-3, k.shape)
            calls.append(("hard", (q.astype(dtype), k.astype(dtype)), {"temperature": 0.5}))
    return calls


def atlas_info_nce_raw(dtype, size):
    """Raw dot products (``normalize=False``): query and keys scaled apart by 1e-150 to 1e150, the logits
    of order 10 at temperatures 1e-3 to 10."""
    rng = np.random.default_rng(46)
    calls = []
    for scale in _scales(dtype, (1e-150, 1e-3, 1.0, 1e3, 1e150)):
        for tau in (1e-3, 0.1, 10.0):
            for _ in range({"test": 1, "small": 2, "long": 4}[size]):
                q = rng.normal(0, 1, (3, 4))
                k = q * 0.8 + rng.normal(0, 0.5, (3, 4))
                c = np.sqrt(tau * 10.0)
                calls.append(("hard", ((q * c * scale).astype(dtype), (k * c / scale).astype(dtype)),
                              {"temperature": tau}))
    if np.dtype(dtype) == np.float64:  # one query's entries 2^2050 apart: 1e308 beside a subnormal
        calls.append(("hard", (np.array([[1e308, 1e-310], [1.0, 2.0]]), np.array([[0.0, 1.0], [0.0, -1.0]])),
                      {"temperature": 1e-300}))
    return calls


def atlas_info_nce_own_keys(dtype, size):
    rng = np.random.default_rng(44)
    calls = []
    for scale in _scales(dtype, (1e-100, 1.0, 1e100)):
        for _ in range({"test": 1, "small": 3, "long": 10}[size]):
            q = rng.normal(0, 1, (2, 3)) * scale
            k = rng.normal(0, 1, (2, 4, 3)) * scale
            k[:, 0] = q * 0.9 + k[:, 0] * 0.1
            calls.append(("hard", (q.astype(dtype), k.astype(dtype)), {}))
    return calls


def atlas_ctc(dtype, size, logits: bool = False):
    rng = np.random.default_rng(45)
    calls = []
    for scale in (0.3, 3.0, 30.0):
        for _ in range({"test": 1, "small": 3, "long": 8}[size]):
            z = rng.normal(0, scale, (5, 2, 4))
            values = z if logits else z - np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True)) \
                - z.max(-1, keepdims=True)
            targets = rng.integers(1, 4, (2, 2))
            calls.append(("hard", (values.astype(dtype), targets, np.array([5, 4]), np.array([2, 1])), {}))
    return calls


def atlas_ctc_logits(dtype, size):
    return atlas_ctc(dtype, size, logits=True)


def atlas_cases() -> list[Case]:
    """The loss atlas (``losslab.registry``'s families past the chapter's core) as accuracy cases."""
    out = []

    def add(name, inputs, loss_ref, grad_ref, params=None):
        params = params or {}
        out.append(Case(name, "atlas", loss_ref, dict(params), inputs=inputs))
        out.append(Case(f"{name}_grad", "atlas", grad_ref, dict(params), inputs=inputs))

    add("gan_discriminator", atlas_pairs, r_gan_discriminator, r_gan_discriminator_grad)
    add("gan_generator_minimax", atlas_logits, r_gan_generator_minimax, r_gan_generator_minimax_grad)
    add("gan_generator_nonsaturating", atlas_logits, r_gan_generator_nonsaturating,
        r_gan_generator_nonsaturating_grad)
    add("wgan_critic", atlas_pairs, r_wgan_critic, r_wgan_critic_grad)
    add("wgan_generator", atlas_logits, r_negated, r_negated_grad)
    add("hinge_gan_discriminator", atlas_pairs, r_hinge_gan_discriminator, r_hinge_gan_discriminator_grad)
    add("hinge_gan_generator", atlas_logits, r_negated, r_negated_grad)
    add("gaussian_kl", atlas_kl_rows, r_gaussian_kl, r_gaussian_kl_grad)
    for margin in (0.0, 1.0):
        add("margin_ranking", atlas_signed_pairs, r_margin_ranking, r_margin_ranking_grad, {"margin": margin})
    add("bpr", atlas_pairs, r_bpr, r_bpr_grad)
    add("listnet", atlas_listnet, r_listnet, r_listnet_grad)
    add("squared_hinge", atlas_scores_and_signs, r_squared_hinge, r_squared_hinge_grad)
    add("exponential", atlas_scores_and_signs, r_exponential, r_exponential_grad)
    add("label_smoothed_cross_entropy", atlas_smoothed_rows, r_label_smoothed_cross_entropy,
        r_label_smoothed_cross_entropy_grad)
    add("weighted_cross_entropy", atlas_weighted_rows, r_weighted_cross_entropy, r_weighted_cross_entropy_grad)
    add("next_token_cross_entropy", atlas_next_token, r_next_token_cross_entropy, r_next_token_cross_entropy_grad,
        {"label_smoothing": 0.1})
    add("smooth_l1", atlas_regression, r_smooth_l1, r_smooth_l1_grad)
    add("gaussian_nll", atlas_gaussian_nll, r_gaussian_nll, r_gaussian_nll_grad)
    add("poisson_nll", atlas_poisson, r_poisson_nll, r_poisson_nll_grad)
    add("msle", atlas_msle, r_msle, r_msle_grad)
    for name in ("soft_dice", "soft_iou", "tversky", "focal_tversky", "combo"):
        add(name, atlas_prob_maps, _segmentation_reference(name, False, False),
            _segmentation_reference(name, True, False))
        add(f"{name}_with_logits", atlas_logit_maps, _segmentation_reference(name, False, True),
            _segmentation_reference(name, True, True))
    for name in ("iou_loss", "giou", "diou", "ciou"):
        add(name, atlas_boxes, _detection_reference(name, False), _detection_reference(name, True))
    add("contrastive", atlas_embedding_pairs, _pairs_reference(_contrastive_exact, False, 2, 1.0),
        _pairs_reference(_contrastive_exact, True, 2, 1.0))
    add("cosine_embedding", atlas_cosine_pairs, _pairs_reference(_cosine_exact, False, 2, 0.0),
        _pairs_reference(_cosine_exact, True, 2, 0.0))
    triplet = partial_kw(_triplet_exact, eps=X(1e-6))
    add("triplet_margin", atlas_triplets, _pairs_reference(triplet, False, 3, 1.0),
        _pairs_reference(triplet, True, 3, 1.0))
    for power in (1.0, 1.5):
        add("triplet_margin", atlas_triplets, _pairs_reference(triplet, False, 3, 1.0),
            _pairs_reference(triplet, True, 3, 1.0), {"p": power})
    add("info_nce", atlas_info_nce, _info_nce_reference(False, False), _info_nce_reference(True, False))
    add("info_nce", atlas_info_nce_raw, _info_nce_reference(False, False), _info_nce_reference(True, False),
        {"normalize": False})
    add("info_nce_own_keys", atlas_info_nce_own_keys, _info_nce_reference(False, True),
        _info_nce_reference(True, True))
    add("ctc", atlas_ctc, _ctc_reference(False, False), _ctc_reference(True, False))
    add("ctc_with_logits", atlas_ctc_logits, _ctc_reference(False, True), _ctc_reference(True, True))
    return out


def partial_kw(function, **fixed):
    return lambda *args, **kw: function(*args, **{**fixed, **kw})


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
    """The core table (losslab, fused, torch, scikit-learn) and the atlas table (losslab only)."""
    notes = table.get("_notes", {})
    rows = {k: v for k, v in table.items() if k != "_notes"}
    order = [c.name for c in cases()]
    atlas_names = {c.name for c in atlas_cases()}
    labels = sorted({lab for (lab, _) in rows}, key=lambda s: order.index(s.split("(")[0]))
    core = [lab for lab in labels if lab.split("(")[0] not in atlas_names]
    atlas = [lab for lab in labels if lab.split("(")[0] in atlas_names]
    out = _markdown_rows(rows, core, ["losslab", "losslab fused", "torch", "scikit-learn"])
    if notes:
        out += "\n\n" + "\n".join(f"- {n}" for n in notes.values())
    if atlas:
        out += ATLAS_SEPARATOR + _markdown_rows(rows, atlas, ["losslab", "losslab fused"])
    return out


ATLAS_SEPARATOR = "\n<!-- accuracy-table:atlas -->\n"


def _markdown_rows(rows: dict, labels: list, libs: list) -> str:
    lines = ["| function | losslab f64, hard targets | " + " | ".join(f"{lib} f64 | {lib} f32" for lib in libs)
             + " | ill-conditioned points (f64, error in ulp of the largest term) |",
             "|" + "---|" * (3 + 2 * len(libs))]
    for label in labels:
        r64 = rows.get((label, "float64"), {}).get("losslab")
        hard = "—" if r64 is None or not r64.hard_points else (
            f"{r64.worst_hard:.2f}" if r64.worst_hard < 100 else f"{r64.worst_hard:.3g}")
        cells = [hard] + [format_ulp(rows.get((label, dt), {}).get(lib)) for lib in libs for dt in ("float64", "float32")]
        ill = f"{r64.ill_points} points, worst {r64.worst_ill:.3g}" if r64 is not None and r64.ill_points else ""
        lines.append(f"| `{label}` | " + " | ".join(cells) + f" | {ill} |")
    return "\n".join(lines)


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
    """Put the core table between the accuracy-table markers and the atlas table between the atlas markers."""
    core, _, atlas = table_text.partition(ATLAS_SEPARATOR)
    doc = DOC.read_text() if DOC.exists() else ""
    for name, text in (("accuracy-table", core), ("accuracy-atlas-table", atlas)):
        if not text:
            continue
        begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
        block = f"{begin}\n{text}\n{end}"
        if begin in doc and end in doc:
            doc = doc[: doc.index(begin)] + block + doc[doc.index(end) + len(end):]
        else:
            doc = doc + "\n" + block + "\n"
    DOC.write_text(doc)


if __name__ == "__main__":
    sys.exit(main())
