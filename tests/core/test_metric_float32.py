"""The metric losses compute float32 inputs in float32 (issue 16), and stay accurate at float32's extremes.

``assert_computed_in_float32`` compares the peak memory of a float32 call with a float64 call's (a float64
pass with one rounding at the end allocates more than the float64 call, a float32 pass about half); the
calls that take float64 on purpose (``losslab.metric``'s docstring lists them) are left out. Accuracy on
the atlas's grid is ``test_accuracy_atlas.py``'s; here, float32 embeddings with entries near float32 max,
at the bottom of the normal range and subnormal, and margins, ``eps`` and temperatures at float32's ends
and past them (those take float64), against mpmath references written out below (closed forms at 200
bits): each result within 4 float32 ulp (below the normal range, subnormal steps; past float32 max, inf),
a gradient vector normwise, and without a RuntimeWarning or a NaN.
"""

from __future__ import annotations

import warnings

import mpmath
import numpy as np
import pytest

from losslab import metric

from .atlas_checks import assert_computed_in_float32

RNG = np.random.default_rng(3716)
ROWS = 1 << 13  # (8192, 4) embeddings: 2^15 entries, so the arrays dominate the peak


def _pairs(dim: int = 4):
    x1 = RNG.normal(0, 1, (ROWS, dim))
    x2 = np.concatenate([x1[: ROWS // 2] + RNG.normal(0, 0.3, (ROWS // 2, dim)),
                         RNG.normal(0, 0.5, (ROWS - ROWS // 2, dim))])
    return x1, x2


def _calls():
    """The fused forms (they take every path their loss and gradient take), and the variants with paths of their own."""
    x1, x2 = _pairs()
    same = RNG.integers(0, 2, ROWS).astype(np.float64)
    signs = np.where(same == 1, 1.0, -1.0)
    negative = x1 + RNG.normal(0, 1, x1.shape)
    own_query = RNG.normal(0, 1, (512, 16))
    own_keys = RNG.normal(0, 1, (512, 4, 16))
    own_keys[:, 0] = own_query * 0.9 + own_keys[:, 0] * 0.1
    return [
        ("contrastive_and_grad", lambda a, b, y: metric.contrastive_and_grad(a, b, y, reduction="none"), (x1, x2, same)),
        ("triplet_margin_and_grad", lambda a, p, n: metric.triplet_margin_and_grad(a, p, n, reduction="none"),
         (x1, x2, negative)),
        # with p other than 1 and 2 the gradient takes float64 (its two p-distance slopes cancel; the module says
        # why), the loss stays in float32
        ("triplet_margin_swap_p3",
         lambda a, p, n: metric.triplet_margin(a, p, n, p=3.0, swap=True, reduction="none"), (x1, x2, negative)),
        ("triplet_margin_and_grad_swap_p1",
         lambda a, p, n: metric.triplet_margin_and_grad(a, p, n, p=1.0, swap=True, reduction="none"), (x1, x2, negative)),
        ("cosine_embedding", lambda a, b, y: metric.cosine_embedding(a, b, y, reduction="none"), (x1, x2, signs)),
        ("cosine_embedding_and_grad", lambda a, b, y: metric.cosine_embedding_and_grad(a, b, y, reduction="none"),
         (x1, x2, signs)),
        # info_nce is computed in float32 up to 2^14 (queries x keys x features), fewer entries than the check
        # needs; larger ones, and normalize=False, take float64 (the module docstring says why)
        ("info_nce_own_keys_and_grad", lambda q, k: metric.info_nce_own_keys_and_grad(q, k, reduction="none"),
         (own_query, own_keys)),
    ]


CALLS = _calls()


@pytest.mark.parametrize("index", range(len(CALLS)), ids=[c[0] for c in CALLS])
def test_every_metric_function_computes_float32_in_float32(index):
    name, function, args = CALLS[index]
    function.__name__ = name
    assert_computed_in_float32(function, args)


# ------------------------------------------------------------ extremes in float32, against mpmath

F32 = np.float32
BIG, TINY, SUB = 1e38, float(np.finfo(F32).tiny), float(np.finfo(F32).smallest_subnormal)


def M(value) -> mpmath.mpf:
    return mpmath.mpf(float(value))


def _norm(v):
    return mpmath.sqrt(mpmath.fsum(x * x for x in v))


def _ulp32(exact) -> mpmath.mpf:
    """float32's ulp at ``exact`` (below the normal range: the subnormal step)."""
    if exact == 0:
        return M(SUB)
    _, exponent = mpmath.frexp(exact)
    return mpmath.ldexp(1, max(int(exponent) - 24, -149))


def _error(computed, exact, terms=0) -> float:
    """``|computed - exact|`` in float32 ulp of ``exact`` (an overflowing exact value must be inf), or of ``terms``,
    the size of the terms that cancel in it, if larger (the atlas's measure at ill-conditioned points)."""
    if abs(exact) > np.finfo(F32).max * (1 + 2.0**-25):
        return 0.0 if np.isinf(computed) and np.sign(computed) == mpmath.sign(exact) else float("inf")
    if not np.isfinite(computed):
        return float("inf")
    return float(abs(M(computed) - exact) / _ulp32(max(abs(exact), terms)))


def _normwise(computed, exact, terms=0) -> float:
    """A gradient vector's worst component error in float32 ulp of its largest exact component (components past
    float32 max must be inf; the others are measured against the largest of them). ``terms``: the size of the
    terms that cancel in it, if larger (the atlas's measure at ill-conditioned points)."""
    top = np.finfo(F32).max * (1 + 2.0**-25)
    over = [abs(e) > top for e in exact]
    if any(over):
        if not all(_error(c, e) == 0 for c, e, o in zip(computed, exact, over, strict=True) if o):
            return float("inf")
        kept = [(c, e) for c, e, o in zip(computed, exact, over, strict=True) if not o]
        if not kept:
            return 0.0
        computed, exact = [c for c, _ in kept], [e for _, e in kept]
    largest = max(max(abs(e) for e in exact), terms)
    return max(float(abs(M(c) - e) / _ulp32(largest)) for c, e in zip(computed, exact, strict=True))


def _contrastive_exact(a, b, same, margin):
    diff = [x - y for x, y in zip(a, b, strict=True)]
    d = _norm(diff)
    if same:
        return d * d / 2, diff, [-v for v in diff]
    short = max(mpmath.mpf(0), margin - d)
    slope = [-short * v / d if d else mpmath.mpf(0) for v in diff]
    return short * short / 2, slope, [-v for v in slope]


def _cosine_exact(a, b, label, margin):
    aa, bb, ab = (mpmath.fsum(x * y for x, y in zip(u, v, strict=True)) for u, v in ((a, a), (b, b), (a, b)))
    na, nb = mpmath.sqrt(aa), mpmath.sqrt(bb)
    cos = ab / (na * nb)
    # (b aa - ab a) / (|a|^3 |b|): exact numerators (0 for equal vectors, where a rounded cos would leave 1e-17)
    d_1 = [(y * aa - ab * x) / (aa * na * nb) for x, y in zip(a, b, strict=True)]
    d_2 = [(x * bb - ab * y) / (bb * nb * na) for x, y in zip(a, b, strict=True)]
    if label == 1:
        return 1 - cos, [-g for g in d_1], [-g for g in d_2]
    zero = [mpmath.mpf(0)] * len(a)
    return max(mpmath.mpf(0), cos - margin), d_1 if cos > margin else zero, d_2 if cos > margin else zero


def _triplet_exact(a, p, n, margin, eps):
    ap, an = ([x - y + eps for x, y in zip(a, o, strict=True)] for o in (p, n))
    d_ap, d_an = _norm(ap), _norm(an)
    slack = margin + d_ap - d_an
    if slack <= 0:
        zero = [mpmath.mpf(0)] * len(a)
        return mpmath.mpf(0), (zero, zero, zero), max(margin, d_ap, d_an)
    u_ap, u_an = ([v / d if d else mpmath.mpf(0) for v in w] for w, d in ((ap, d_ap), (an, d_an)))
    return slack, ([x - y for x, y in zip(u_ap, u_an, strict=True)], [-x for x in u_ap], u_an), max(margin, d_ap, d_an)


def _terms(slopes) -> list:
    """The size of the terms of each triplet gradient: u_ap - u_an cancels to far below them."""
    size = max(abs(v) for v in slopes[1] + slopes[2]) if slopes[1] else 0
    return [size, 0, 0]


def _info_nce_exact(query, keys, tau):
    """Per-query losses and the gradients (d/dquery, d/dkeys) of their sum, in closed form (key i: query i's positive)."""
    unit = lambda v: [x / _norm(v) for x in v]  # noqa: E731
    qs, ks = [unit(q) for q in query], [unit(k) for k in keys]
    losses, d_query, d_keys = [], [], [[mpmath.mpf(0)] * len(keys[0]) for _ in keys]
    for i, q in enumerate(qs):
        cos = [mpmath.fsum(x * y for x, y in zip(q, k, strict=True)) for k in ks]
        top = max(cos) / tau
        weights = [mpmath.exp(c / tau - top) for c in cos]
        total = mpmath.fsum(weights)
        losses.append(top - cos[i] / tau + mpmath.log(total))
        slopes = [w / total - (1 if j == i else 0) for j, w in enumerate(weights)]
        d_query.append([mpmath.fsum(s * (k[f] - c * q[f]) for s, k, c in zip(slopes, ks, cos, strict=True))
                        / (tau * _norm(query[i])) for f in range(len(q))])
        for j, (s, k, c) in enumerate(zip(slopes, ks, cos, strict=True)):
            for f in range(len(q)):
                d_keys[j][f] += s * (q[f] - c * k[f]) / (tau * _norm(keys[j]))
    return losses, d_query, d_keys


def _rows(array):
    return [[M(v) for v in row] for row in np.asarray(array).reshape(-1, np.shape(array)[-1])]


def _extreme_embeddings():
    """float32 pairs: entries near float32 max, at the normal range's bottom, subnormal, and mixed."""
    rng = np.random.default_rng(5)
    out = []
    for scale in (BIG, 3e38, TINY, 1e-41, SUB * 16, 1.0):
        x1 = rng.normal(0, 1, (4, 3)) * scale
        x1[0] = [1.0, -0.5, 0.25]
        x1[0] *= scale
        x2 = np.concatenate([x1[:2] * (1 + rng.normal(0, 1e-3, (2, 3))), rng.normal(0, 1, (2, 3)) * scale])
        x1, x2 = (np.clip(v, -3.3e38, 3.3e38).astype(F32) for v in (x1, x2))
        out.append((x1, x2))
    mixed = np.array([[3e38, 1e-45, -1e-40], [1e-45, 2e-45, -3e-45]], F32)
    out.append((mixed, mixed[::-1].copy()))
    return out


def _check_pairs(function, exact, x1, x2, labels, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, grads = function(x1, x2, labels.astype(F32), reduction="none", **params)
    assert loss.dtype == F32 and all(g.dtype == F32 for g in grads)
    assert not np.isnan(loss).any() and not any(np.isnan(g).any() for g in grads)
    worst = 0.0
    for i, (a, b, y) in enumerate(zip(_rows(x1), _rows(x2), labels, strict=True)):
        with mpmath.workprec(200):
            value, slope_1, slope_2 = exact(a, b, y, M(params.get("margin", 0.0)))
        worst = max(worst, _error(loss[i], value), _normwise(grads[0][i], slope_1), _normwise(grads[1][i], slope_2))
    return worst


@pytest.mark.parametrize("margin", [1.0, 0.1, 1e-30, TINY, 3e38, 5e-324, 1e300])
def test_contrastive_float32_extremes_are_finite_silent_and_accurate(margin):
    worst = 0.0
    for x1, x2 in _extreme_embeddings():
        for labels in (np.array([1, 0] * (len(x1) // 2), float), np.array([0, 1] * (len(x1) // 2), float)):
            worst = max(worst, _check_pairs(metric.contrastive_and_grad, lambda a, b, y, m: _contrastive_exact(
                a, b, y == 1, m), x1, x2, labels, margin=margin))
    assert worst <= 4, f"contrastive in float32 at margin {margin}: {worst:.3g} ulp"


@pytest.mark.parametrize("margin", [0.0, 0.1, -1.0, 1.0, 0.5])
def test_cosine_embedding_float32_extremes_are_finite_silent_and_accurate(margin):
    worst = 0.0
    for x1, x2 in _extreme_embeddings():
        for labels in (np.array([1, -1] * (len(x1) // 2), float), np.array([-1, 1] * (len(x1) // 2), float)):
            worst = max(worst, _check_pairs(metric.cosine_embedding_and_grad, _cosine_exact, x1, x2, labels,
                                            margin=margin))
    assert worst <= 4, f"cosine_embedding in float32 at margin {margin}: {worst:.3g} ulp"


@pytest.mark.parametrize(("margin", "eps"), [(1.0, 1e-6), (0.1, 0.0), (TINY, 0.0), (3e38, 1e-6), (5e-324, 0.0),
                                             (1e300, 1e-6), (1.0, 1e-300), (1.0, 1e300)])
def test_triplet_margin_float32_extremes_are_finite_silent_and_accurate(margin, eps):
    worst = 0.0
    for x1, x2 in _extreme_embeddings():
        negative = (x1[::-1] * F32(0.5)).astype(F32)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loss, grads = metric.triplet_margin_and_grad(x1, x2, negative, margin=margin, eps=eps, reduction="none")
        assert loss.dtype == F32 and not np.isnan(loss).any() and not any(np.isnan(g).any() for g in grads)
        for i, (a, p, n) in enumerate(zip(_rows(x1), _rows(x2), _rows(negative), strict=True)):
            with mpmath.workprec(200):
                value, slopes, terms = _triplet_exact(a, p, n, M(margin), M(eps))
            worst = max(worst, _error(loss[i], value, terms),
                        *(_normwise(g[i], s, t) for g, s, t in zip(grads, slopes, _terms(slopes), strict=True)))
    assert worst <= 4, f"triplet_margin in float32 at margin {margin}, eps {eps}: {worst:.3g} ulp"


@pytest.mark.parametrize("temperature", [0.1, 1.0, 0.01, TINY * 64, 3e38, 5e-324, 1e300])
@pytest.mark.parametrize("scale", [1.0, BIG, TINY, 1e-42])
def test_info_nce_float32_extremes_are_finite_silent_and_accurate(temperature, scale):
    rng = np.random.default_rng(11)
    query = rng.normal(0, 1, (3, 4))
    keys = query * 0.8 + rng.normal(0, 0.5, (3, 4))
    query, keys = (np.clip(v * scale, -3.3e38, 3.3e38).astype(F32) for v in (query, keys))
    for function, key_rows in ((metric.info_nce_and_grad, keys), (metric.info_nce_own_keys_and_grad, None)):
        own = key_rows is None
        args = (query, np.stack([np.roll(keys, -i, axis=0) for i in range(3)])) if own else (query, keys)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loss, (d_query, d_keys) = function(*args, temperature=temperature, reduction="none")
        assert loss.dtype == d_query.dtype == d_keys.dtype == F32
        assert not np.isnan(loss).any() and not np.isnan(d_query).any() and not np.isnan(d_keys).any()
        with mpmath.workprec(200):
            losses, exact_query, exact_keys = _info_nce_exact(_rows(query), _rows(keys), M(temperature))
        worst = max(_error(c, e) for c, e in zip(loss, losses, strict=True))
        worst = max(worst, *(_normwise(c, e) for c, e in zip(d_query, exact_query, strict=True)))
        if not own:  # (own keys: each key set's gradient is its own; the query's covers the path)
            worst = max(worst, *(_normwise(c, e) for c, e in zip(d_keys, exact_keys, strict=True)))
        assert worst <= 4, f"{function.__name__} in float32 at scale {scale}, temperature {temperature}: {worst:.3g}"
