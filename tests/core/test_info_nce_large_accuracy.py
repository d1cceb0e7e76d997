"""InfoNCE (``normalize=True``) gradients past the pairwise size against an exact reference (issue 16).

Above ``metric._PAIRWISE_SIZE`` (queries x keys x features) the gradients came from plain matrix
products ``others @ k_hat`` and a projection :math:`g - (g\\cdot\\hat q)\\hat q` that cancels; at
N = M = 64 queries and keys, D = 8, ``k = q + 0.3 noise`` the float64 gradient rows were up to 9.9
ulp of their largest component off. Measured worst (d/d query, d/d keys) over these cases at
228dfa4, before the fix: 16.3 and 24.9 ulp (all six cases fail); after (``_blockwise_gradients``:
sliced matrix products for pairs with |cos| <= 1/2, every near pair its own direction; by blocks
of queries when most pairs are near): 2.0 and 2.0 ulp. Every gradient row is checked
normwise (in ulp of its largest exact component) against mpmath at 200 bits from the exact input
values:

.. math:: \\frac{\\partial L}{\\partial q_i} = \\frac{g_i - (g_i\\cdot\\hat q_i)\\hat q_i}{|q_i|},\\quad
          g_i = \\frac1\\tau\\sum_j (p_{ij} - [i=j])\\,\\hat k_j,\\qquad
          \\frac{\\partial L}{\\partial k_j} = \\frac{h_j - (h_j\\cdot\\hat k_j)\\hat k_j}{|k_j|},\\quad
          h_j = \\frac1\\tau\\sum_i (p_{ij} - [i=j])\\,\\hat q_i

Not covered here: D = 2 or 3, where the pairwise sums cancel much more (every direction of a 2-D
row lies on one line) and the small path itself is up to 160 ulp off (N = M = 64, D = 2).
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from losslab import metric

ULP_BOUND = 4.0
ROWS = range(0, 64, 9)  # a handful of query rows and key rows per case (the reference is O(N M D) at 200 bits)


def M(value) -> mpmath.mpf:
    return mpmath.mpf(float(value))


def _exact_gradients(query, keys, tau, rows, key_rows=None):
    """d/d query ``rows`` and d/d keys ``key_rows`` (default ``rows``) of the summed InfoNCE loss at 200 bits."""
    with mpmath.workprec(200):
        t = M(tau)

        def units(x):
            vectors = [[M(v) for v in row] for row in x]
            norms = [mpmath.sqrt(mpmath.fsum(v * v for v in row)) for row in vectors]
            return [[v / n for v in row] for row, n in zip(vectors, norms, strict=True)], norms

        q_hat, q_norm = units(query)
        k_hat, k_norm = units(keys)
        n, m, d = len(q_hat), len(k_hat), len(q_hat[0])
        weights = []  # p_ij - [i = j]
        for i in range(n):
            logits = [mpmath.fsum(a * b for a, b in zip(q_hat[i], k, strict=True)) / t for k in k_hat]
            top = max(logits)
            e = [mpmath.exp(v - top) for v in logits]
            total = mpmath.fsum(e)
            weights.append([w / total - (1 if j == i else 0) for j, w in enumerate(e)])

        def through_norm(g, x_hat, norm):
            along = mpmath.fsum(a * b for a, b in zip(g, x_hat, strict=True))
            return [(g[c] - along * x_hat[c]) / norm for c in range(d)]

        d_query = [through_norm([mpmath.fsum(weights[i][j] * k_hat[j][c] for j in range(m)) / t for c in range(d)],
                                q_hat[i], q_norm[i]) for i in rows]
        d_keys = [through_norm([mpmath.fsum(weights[i][j] * q_hat[i][c] for i in range(n)) / t for c in range(d)],
                               k_hat[j], k_norm[j]) for j in (rows if key_rows is None else key_rows)]
        return d_query, d_keys


def _worst_row_ulp(computed, exact_rows, rows) -> float:
    """Largest row error in ulp (float64) of the row's largest exact component."""
    worst = 0.0
    for r, exact in zip(rows, exact_rows, strict=True):
        spacing = M(np.spacing(float(max(abs(v) for v in exact))))
        worst = max(worst, float(max(abs(M(computed[r, c]) - v) for c, v in enumerate(exact)) / spacing))
    return worst


@pytest.mark.parametrize(("seed", "features", "tau"), [(7, 8, 0.05), (11, 8, 0.1), (7, 16, 0.05), (11, 16, 0.1)])
def test_info_nce_gradients_past_the_pairwise_size_are_within_4_ulp(seed, features, tau):
    # D = 8: about a fifth of the pairs have |cos| > 1/2 (every pair its own direction, by blocks of queries);
    # D = 16: a few percent (sliced matrix products for the others, _far_pairs)
    rng = np.random.default_rng(seed)
    query = rng.normal(size=(64, features))
    keys = query + 0.3 * rng.normal(size=(64, features))
    assert query.shape[0] * keys.shape[0] * query.shape[1] > metric._PAIRWISE_SIZE  # the large path
    rows = list(ROWS)
    exact_q, exact_k = _exact_gradients(query, keys, tau, rows)
    d_query, d_keys = metric.info_nce_grad(query, keys, temperature=tau)
    _, (and_q, and_k) = metric.info_nce_and_grad(query, keys, temperature=tau)
    np.testing.assert_array_equal(and_q, d_query)
    np.testing.assert_array_equal(and_k, d_keys)
    worst_q, worst_k = _worst_row_ulp(d_query, exact_q, rows), _worst_row_ulp(d_keys, exact_k, rows)
    assert worst_q <= ULP_BOUND and worst_k <= ULP_BOUND, (worst_q, worst_k)


@pytest.mark.parametrize("features", [8, 16])
def test_info_nce_gradients_with_extra_keys_past_the_pairwise_size_are_within_4_ulp(features):
    # M > N (a memory bank): keys past N are negatives only, their gradient h_j has no [i = j] term; keys
    # 40 to 69 are near queries 0 to 29 too, so those queries have two nearly parallel keys each
    rng = np.random.default_rng(3)
    query = rng.normal(size=(40, features))
    keys = np.concatenate([query + 0.2 * rng.normal(size=(40, features)),
                           query[:30] + 0.2 * rng.normal(size=(30, features))])
    rows = [0, 13, 39]
    key_rows = [0, 39, 45, 69]
    exact_q, exact_k = _exact_gradients(query, keys, 0.1, rows, key_rows)
    d_query, d_keys = metric.info_nce_grad(query, keys, temperature=0.1)
    worst_q, worst_k = _worst_row_ulp(d_query, exact_q, rows), _worst_row_ulp(d_keys, exact_k, key_rows)
    assert worst_q <= ULP_BOUND and worst_k <= ULP_BOUND, (worst_q, worst_k)
