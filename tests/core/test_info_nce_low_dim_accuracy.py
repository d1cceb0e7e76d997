r"""InfoNCE gradients with 2 or 3 features, and raw embeddings whose entries span past the float range (issue 16).

**Few features.** ``d/d q_i = (1/(tau |q_i|)) sum_j g_ij (k_j_hat - cos_ij q_i_hat)`` with
``g_ij = p_ij - [i = j]`` (and the same for the keys): with 2 features every direction lies on the
line orthogonal to ``q_i``, with 3 on a plane, and a row's terms can cancel to a small part of
themselves (a query between its keys). Each rounding of a term then shows, times that ratio. Before
this change (metric.py of 29e7570) the float64 weights ``g`` were rounded once and the directions'
coefficient ``cos`` too. Worst normwise errors of this file's cases then (the atlas's criterion below):
random rows at D = 2: 34.7 ulp (N = 5, M = 7), 16.7 (16 x 16, tau = 0.05), 86.8 (64 x 64); at D = 3
4.9 ulp of the row's largest (64 x 64); float32 1.05 ulp32 of the row's largest (D = 3, 16 x 24; the
atlas allows 1). Rows built to cancel (``_mirrored``): 738 ulp (D = 2, delta = 2^-12) to 5.6e11 (2^-40),
4.3e3 to 3.6e12 at D = 3, float32 up to 7.6e6 ulp32; ``info_nce_own_keys``: 2.4e4 and 8.5e3 ulp. With
one feature the gradients, 0 exactly, were about 1e-23. Now the weights and coefficients are double
words, and rows whose terms cancel by more than a threshold (``metric._cancelling_rows``) are
recomputed from double words good to about ``2^-100`` (``metric._exact_rows``): within 1 ulp here for
rows cancelling by up to ``2^45`` (a row cancelling by ``2^k`` is left about ``2^(k-47)`` ulp off; the
rotation's rounding of a mirrored configuration alone can make ``2^50``, so rows past ``2^45`` are
reported, not held).

Measured as ``tests/core/test_accuracy_atlas.py`` measures vector gradients (normwise): a component at
least half the row's largest in ulp of itself (float32: of the float32-rounded exact value), a smaller
one in ulp of the row's largest component (float32: held to 1 ulp32 there, as the atlas does).
The reference is mpmath at 256 bits from the exact input values: exact unit vectors, the positive's
weight as ``-sum_{j != i} p_ij`` and each direction from exact cosines, so nothing cancels but the
row's final sum, which loses about log2 of the row's cancellation ratio of its 256 bits (at most 45
for the rows held).

**Wide span, normalize=False.** A row such as ``(1e308, 1e-310)`` was taken as one power of two times
a vector of norm below 1, in which the small entries underflowed to 0: the logits lost their small
products (``q = (1e308, 1e-310)``, keys ``(0, +-1)``, ``tau = 1e-300``: the loss was ``log 2`` where
it is ``log 2 - 1e-10``: 9e5 ulp) and the gradients their small components (``d/d k`` of that query's
``1e-310`` entry: 0 instead of ``-5e-11``; ``d/d q`` of a key entry ``1e-310`` beside ``1e308``: 0
instead of ``-5e-311``). A key ``(1e-308, -1)`` (a subnormal beside 1) lost digits in its product
with a query entry ``1e308``: 13.8 ulp in a loss of ``1e290``. Now rows spanning more than ``2^400``
come in parts with their own powers of two (``metric._raw_parts``) and the gradients take each entry
with its own (``metric._raw_entries``): within 0.5 ulp, elementwise.
"""

from __future__ import annotations

import itertools
import os

import mpmath
import numpy as np
import pytest

from losslab import metric

from .atlas_checks import peak_bytes

LONG = bool(os.environ.get("LOSSLAB_LONG"))
ULP_BOUND = 4.0
CANCELLATION_HELD = 2.0**45  # rows whose terms cancel by more than this are reported, not held


def M(value) -> mpmath.mpf:
    return mpmath.mpf(float(value))


def _exact(query, keys, tau):
    """Exact ``(d/d query, d/d keys)`` rows and each row's cancellation ratio (the largest componentwise sum of
    absolute terms over the largest component of the result), at 256 bits."""
    with mpmath.workprec(256):
        t = M(tau)

        def units(x):
            vectors = [[M(v) for v in row] for row in x]
            norms = [mpmath.sqrt(mpmath.fsum(v * v for v in row)) for row in vectors]
            return [[v / n for v in row] for row, n in zip(vectors, norms, strict=True)], norms

        q, q_norm = units(query)
        k, k_norm = units(keys)
        n, m, d = len(q), len(k), len(q[0])
        cos = [[mpmath.fsum(a * b for a, b in zip(q[i], k[j], strict=True)) for j in range(m)] for i in range(n)]
        weights = []
        for i in range(n):
            top = max(cos[i])
            e = [mpmath.exp((c - top) / t) for c in cos[i]]
            total = mpmath.fsum(e)
            row = [w / total for w in e]
            row[i] = -mpmath.fsum(row[j] for j in range(m) if j != i)  # p_ii - 1, without cancellation
            weights.append(row)

        def rows(pairs, x_hat, y_hat, norms, weight):
            out, ratios = [], []
            for a in range(len(x_hat)):
                terms = [[weight(a, b) * (y_hat[b][c] - cos_of(a, b) * x_hat[a][c]) for c in range(d)]
                         for b in range(pairs)]
                scale = t * norms[a]
                result = [mpmath.fsum(term[c] for term in terms) / scale for c in range(d)]
                size = max(mpmath.fsum(abs(term[c]) for term in terms) for c in range(d)) / scale
                largest = max(abs(v) for v in result)
                out.append(result)
                ratios.append(float(size / largest) if largest else float("inf"))
            return out, ratios

        cos_of = lambda a, b: cos[a][b]  # noqa: E731
        d_q = rows(m, q, k, q_norm, lambda i, j: weights[i][j])
        cos_of = lambda a, b: cos[b][a]  # noqa: E731
        d_k = rows(n, k, q, k_norm, lambda j, i: weights[i][j])
        return d_q, d_k


def _ulp(x, dtype) -> mpmath.mpf:
    info = np.finfo(dtype)
    bits, low = info.nmant + 1, info.minexp
    if x == 0:
        return mpmath.ldexp(1, low - bits + 1)
    return mpmath.ldexp(1, max(int(mpmath.frexp(x)[1]) - bits, low - bits + 1))


def _row_errors(computed, exact_rows, dtype):
    """Per row, ``(worst error of the components >= half the largest, worst of the smaller ones)``: the first in
    ulp of the (float32-rounded) exact component, the second in ulp of the row's largest exact component."""
    out = []
    for r, row in enumerate(exact_rows):
        largest = max(abs(v) for v in row)
        well = ill = 0.0
        for c, v in enumerate(row):
            got = M(computed[r, c])
            if 2 * abs(v) < largest:
                ill = max(ill, float(abs(got - v) / _ulp(largest, dtype)))
            else:
                target = v if dtype == np.float64 else M(np.float32(float(v)))
                well = max(well, float(abs(got - target) / _ulp(target, dtype)))
        out.append((well, ill))
    return out


def _check(query, keys, tau, dtype, exact=None):
    """Worst ``(well, ill)`` errors of ``info_nce_grad`` (and its ``_and_grad`` twin, which must agree bit for bit)
    over the rows cancelling by at most ``CANCELLATION_HELD``, the largest ratio, and the number of rows left out."""
    query, keys = query.astype(dtype), keys.astype(dtype)
    (e_q, r_q), (e_k, r_k) = exact or _exact(query.astype(np.float64), keys.astype(np.float64), tau)
    d_query, d_keys = metric.info_nce_grad(query, keys, temperature=tau)
    _, (and_query, and_keys) = metric.info_nce_and_grad(query, keys, temperature=tau)
    np.testing.assert_array_equal(and_query, d_query)
    np.testing.assert_array_equal(and_keys, d_keys)
    assert d_query.dtype == dtype and d_keys.dtype == dtype
    errors = _row_errors(d_query, e_q, dtype) + _row_errors(d_keys, e_k, dtype)
    ratios = r_q + r_k
    held = [e for e, r in zip(errors, ratios, strict=True) if r <= CANCELLATION_HELD]
    worst = (max(e[0] for e in held), max(e[1] for e in held))
    return worst, max(ratios), sum(r > CANCELLATION_HELD for r in ratios)


def _assert_within(worst, dtype, label):
    well, ill = worst
    ill_bound = ULP_BOUND if dtype == np.float64 else 1.0  # the atlas holds float32's small components to 1 ulp32
    assert well <= ULP_BOUND and ill <= ill_bound, f"{label}: {well:.3g} ulp, small components {ill:.3g} ulp"


# ------------------------------------------------------------ random rows

RANDOM_CASES = [(2, 2, 2, 0.1), (2, 5, 7, 1.0), (2, 8, 8, 1.0), (2, 16, 16, 0.05), (2, 64, 64, 0.1),
                (3, 3, 3, 0.1), (3, 8, 8, 1.0), (3, 16, 24, 0.1), (3, 64, 64, 1.0)]
if LONG:
    RANDOM_CASES += [(d, n, m, tau) for d in (2, 3) for n, m in ((4, 4), (32, 32), (40, 64), (64, 64))
                     for tau in (0.02, 0.1, 1.0, 10.0)]


def _random(features, n, m, seed):
    """Queries and keys (near copies of the queries, and random extra keys), float32 values (so that one
    reference serves both dtypes)."""
    rng = np.random.default_rng(seed)
    query = rng.normal(size=(n, features))
    keys = np.concatenate([query + 0.4 * rng.normal(size=(n, features)), rng.normal(size=(m - n, features))])
    return query.astype(np.float32).astype(np.float64), keys.astype(np.float32).astype(np.float64)


@pytest.mark.parametrize(("features", "n", "m", "tau"), RANDOM_CASES)
def test_random_rows_are_within_4_ulp(features, n, m, tau):
    query, keys = _random(features, n, m, seed=features * 1000 + n * 10 + m)
    exact = _exact(query, keys, tau)
    for dtype in (np.float64, np.float32):
        worst, _, _ = _check(query, keys, tau, dtype, exact)
        _assert_within(worst, dtype, f"D={features} N={n} M={m} tau={tau} {np.dtype(dtype).name}")


# ------------------------------------------------------------ rows built to cancel


def _mirrored(orbits: int, features: int, delta: float, seed: int):
    """Query 0 and key 0 on the first axis and ``orbits`` (query, key) pairs each copied under every sign flip
    of the other axes, so that query 0's and key 0's gradients cancel exactly; then query 1 and key 1 (near
    the first axis, so that they weigh in row 0) turned by ``delta`` rad: rows 0 cancel to about ``delta``
    of their terms. Then norms from 1/2 to 2 and a random rotation (whose rounding alone leaves about 2^-50)."""
    rng = np.random.default_rng(seed)
    first = np.eye(features)[0]
    query, keys = [first], [first.copy()]
    for orbit in range(orbits):
        a, b = rng.normal(size=(2, features)) * (0.5 if orbit == 0 else 1.0)
        a[0] += 1.0
        b[0] += 1.0
        for signs in itertools.product((1.0, -1.0), repeat=features - 1):
            flip = np.array((1.0, *signs))
            query.append(a * flip)
            keys.append(b * flip)
    query, keys = np.array(query), np.array(keys)
    turn = np.array([[np.cos(delta), -np.sin(delta)], [np.sin(delta), np.cos(delta)]])
    for x in (query, keys):
        x[1, :2] = turn @ x[1, :2]
    scales = rng.uniform(0.5, 2.0, (2, len(query), 1))
    rotation = np.linalg.qr(rng.normal(size=(features, features)))[0]
    return (query * scales[0]) @ rotation, (keys * scales[1]) @ rotation


ADVERSARIAL_CASES = [(2, 4, 2.0**-12, 0.1), (2, 4, 2.0**-28, 1.0), (2, 4, 2.0**-40, 0.1),
                     (3, 2, 2.0**-12, 1.0), (3, 2, 2.0**-28, 0.1), (3, 2, 2.0**-40, 1.0)]
if LONG:
    ADVERSARIAL_CASES += [(d, orbits, 2.0**-e, tau) for d, orbits in ((2, 1), (2, 12), (3, 1), (3, 6))
                          for e in (8, 20, 32, 40) for tau in (0.05, 0.5, 5.0)]


@pytest.mark.parametrize(("features", "orbits", "delta", "tau"), ADVERSARIAL_CASES)
def test_rows_built_to_cancel_are_within_4_ulp(features, orbits, delta, tau):
    query, keys = _mirrored(orbits, features, delta, seed=features * 100 + orbits)
    worst, ratio, left_out = _check(query, keys, tau, np.float64)
    label = f"D={features} N={len(query)} delta=2^{np.log2(delta):.0f} tau={tau}"
    assert ratio >= min(2.0**40, 0.05 / delta), f"{label}: the rows cancel by only {ratio:.3g}"  # the case bites
    assert left_out <= 2, label
    _assert_within(worst, np.float64, label)
    # float32: its rounding of the inputs breaks the symmetry by about 2^-24 (every such row cancels by about that)
    worst, ratio, _ = _check(query, keys, tau, np.float32)
    assert ratio >= min(2.0**10, 0.05 / delta), f"{label} float32: the rows cancel by only {ratio:.3g}"
    _assert_within(worst, np.float32, label + " float32")


def test_float32_recomputes_only_its_cancelling_rows_in_float64(monkeypatch):
    # a few cancelling rows among many: only they go through float64 (_exact_rows), so the float32 call still
    # allocates well under the float64 call's peak (tests.core.atlas_checks.assert_computed_in_float32's
    # criterion; its 2^15-entry inputs are past float32 InfoNCE's native size)
    rng = np.random.default_rng(5)
    query = rng.normal(size=(64, 3))
    keys = query + 0.4 * rng.normal(size=(64, 3))
    query[:9], keys[:9] = _mirrored(2, 3, 2.0**-20, seed=1)
    recomputed = []
    exact_rows = metric._exact_rows

    def spy(q, k, tau, query_rows, key_rows):
        recomputed.append((q.dtype, len(query_rows), len(key_rows)))
        return exact_rows(q, k, tau, query_rows, key_rows)

    monkeypatch.setattr(metric, "_exact_rows", spy)
    f32 = peak_bytes(metric.info_nce_and_grad, (query.astype(np.float32), keys.astype(np.float32)))
    assert recomputed and all(0 < n + m <= 16 for _, n, m in recomputed), recomputed
    f64 = peak_bytes(metric.info_nce_and_grad, (query, keys))
    assert f32 < 0.75 * f64, (f32, f64)


@pytest.mark.parametrize("features", [2, 3])
def test_own_keys_query_rows_built_to_cancel_are_within_4_ulp(features):
    # info_nce_own_keys: query i against keys[i] alone, i.e. info_nce(query[i:i+1], keys[i]); each query here
    # is the cancelling row 0 of a _mirrored configuration (its keys those of the configuration), or random
    cases = [_mirrored(2, features, delta, seed=seed) for delta, seed in ((2.0**-14, 1), (2.0**-30, 2), (2.0**-42, 3))]
    rng = np.random.default_rng(features)
    query = np.array([q[0] for q, _ in cases] + [rng.normal(size=features)])
    keys = np.array([k for _, k in cases] + [rng.normal(size=cases[0][1].shape)])
    held = []
    for dtype in (np.float64, np.float32):
        q, k = query.astype(dtype), keys.astype(dtype)
        d_query = metric.info_nce_own_keys_grad(q, k, temperature=0.2)[0]
        assert d_query.dtype == dtype
        for i in range(len(q)):
            (exact, ratio), _ = _exact(q[i:i + 1].astype(np.float64), k[i].astype(np.float64), 0.2)
            if ratio[0] > CANCELLATION_HELD:
                continue
            held.append(ratio[0])
            _assert_within(_row_errors(d_query[i:i + 1], exact, dtype)[0], dtype,
                           f"D={features} query {i} {np.dtype(dtype).name} (ratio {ratio[0]:.3g})")
    assert max(held) > 2.0**20  # the cases bite

def test_one_feature_gradients_are_zero():
    # x / |x| = sign(x) is constant, so every gradient is 0 exactly (the unit vectors' low parts left about 1e-23)
    rng = np.random.default_rng(9)
    query, keys = rng.normal(size=(5, 1)), rng.normal(size=(7, 1))
    for dtype in (np.float64, np.float32):
        q, k = query.astype(dtype), keys.astype(dtype)
        for grads in (metric.info_nce_grad(q, k), metric.info_nce_own_keys_grad(q, np.stack([k[:5]] * 3, axis=1))):
            for grad in grads:
                assert grad.dtype == dtype and not grad.any(), grad


# ------------------------------------------------------------ normalize=False, entries spanning past 2^1074


def _raw_exact(query, keys, tau):
    """Loss per query and ``(d/d query, d/d keys)`` of raw-dot-product InfoNCE in closed form, at 300 bits."""
    with mpmath.workprec(300):
        t = M(tau)
        q = [[M(v) for v in row] for row in query]
        k = [[M(v) for v in row] for row in keys]
        n, m, d = len(q), len(k), len(q[0])
        losses, weights = [], []
        for i in range(n):
            logits = [mpmath.fsum(a * b for a, b in zip(q[i], k[j], strict=True)) / t for j in range(m)]
            top = max(logits)
            e = [mpmath.exp(v - top) for v in logits]
            total = mpmath.fsum(e)
            losses.append((top - logits[i]) + mpmath.log(total))
            weights.append([e[j] / total - (1 if i == j else 0) for j in range(m)])
        d_q = [[mpmath.fsum(weights[i][j] * k[j][c] for j in range(m)) / t for c in range(d)] for i in range(n)]
        d_k = [[mpmath.fsum(weights[i][j] * q[i][c] for i in range(n)) / t for c in range(d)] for j in range(m)]
        return losses, d_q, d_k


def _elementwise_ulp(computed, exact) -> float:
    """Worst error in float64 ulp of each exact value (below the normal range: in subnormal steps; past float max:
    0 for an infinity of the right sign)."""
    worst = 0.0
    for got, want in zip(np.ravel(computed), exact, strict=True):
        if abs(want) > np.finfo(np.float64).max:  # past float max: inf of the same sign is exact
            worst = max(worst, 0.0 if got == (np.inf if want > 0 else -np.inf) else np.inf)
            continue
        worst = max(worst, float(abs(M(got) - want) / _ulp(want, np.float64)))
    return worst


WIDE = [
    # the query's 1e-310 is all its logits see: keys orthogonal to its 1e308
    (np.array([[1e308, 1e-310]]), np.array([[0.0, 1.0], [0.0, -1.0]]), 1e-300),
    (np.array([[1e308, 3e-300]]), np.array([[0.0, 1.0], [1e-308, -1.0]]), 1e-290),
    # keys spanning 1e308 to 1e-310 (the query sees only their difference)
    (np.array([[1.0, 1.0]]), np.array([[1e308, 1e-310], [1e308, 0.0]]), 1.0),
    (np.array([[1e-300, 1.0]]), np.array([[1e300, 5e-324], [-1e300, 1e-320]]), 1e10),
    # two queries, a wide one and an ordinary one, three keys
    (np.array([[1e300, 1e-20, 0.5], [1.0, 2.0, 3.0]]),
     np.array([[1e-10, 1.0, 0.0], [0.0, -1.0, 1e-300], [3.0, 1e-310, 1.0]]), 1e-10),
]


@pytest.mark.parametrize("index", range(len(WIDE)))
def test_raw_rows_spanning_past_the_float_range_keep_their_small_entries(index):
    query, keys, tau = WIDE[index]
    losses, d_q, d_k = _raw_exact(query, keys, tau)
    loss = metric.info_nce(query, keys, temperature=tau, normalize=False, reduction="none")
    grad_q, grad_k = metric.info_nce_grad(query, keys, temperature=tau, normalize=False)
    errors = (_elementwise_ulp(loss, losses), _elementwise_ulp(grad_q, [v for row in d_q for v in row]),
              _elementwise_ulp(grad_k, [v for row in d_k for v in row]))
    assert max(errors) <= ULP_BOUND, f"case {index}: loss, d/d query, d/d keys {errors} ulp"
