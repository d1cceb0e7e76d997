"""Last-bit accuracy of the embedding gradients (issue 16): cosine embedding and InfoNCE.

References are closed forms evaluated in mpmath at 200 bits from the exact input values:
``d cos / d x1 = (x2_hat - cos x1_hat) / |x1|`` and, for InfoNCE,
``d L / d q_i = sum_m (softmax(s_i)_m - [m = 0]) (k_hat_im - cos_im q_hat_i) / (tau |q_i|)``.
As in ``bench/accuracy.py``, a gradient vector is measured normwise: components at least half its
largest are held to a bound in ulp of themselves, the smaller ones in ulp of the largest.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from losslab import metric

mpmath.mp.prec = 200


def _ulp(value: float) -> float:
    return float(np.spacing(abs(np.float64(value))))


def _normwise_errors(computed: np.ndarray, exact: list) -> tuple[float, float]:
    """(worst error in ulp of the component, over components >= half the largest; worst error of the
    others in ulp of the largest component)."""
    largest = max(abs(e) for e in exact)
    worst = worst_small = 0.0
    for c, e in zip(computed, exact, strict=True):
        error = abs(mpmath.mpf(float(c)) - e)
        if 2 * abs(e) >= largest:
            worst = max(worst, float(error / mpmath.mpf(_ulp(float(e)))))
        else:
            worst_small = max(worst_small, float(error / mpmath.mpf(_ulp(float(largest)))))
    return worst, worst_small


def _unit(v):
    norm = mpmath.sqrt(mpmath.fsum(x * x for x in v))
    return [x / norm for x in v], norm


def _cosine_gradient_exact(x1, x2):
    (u1, n1), (u2, n2) = _unit([mpmath.mpf(float(v)) for v in x1]), _unit([mpmath.mpf(float(v)) for v in x2])
    cos = mpmath.fsum(a * b for a, b in zip(u1, u2, strict=True))
    return ([(b - cos * a) / n1 for a, b in zip(u1, u2, strict=True)],
            [(a - cos * b) / n2 for a, b in zip(u1, u2, strict=True)])


def _assert_cosine_gradient_within(x1, x2, bound):
    d1, d2 = metric.cosine_embedding_grad(x1, x2, np.ones(len(x1)))
    for row in range(len(x1)):
        e1, e2 = _cosine_gradient_exact(x1[row], x2[row])
        for computed, exact, name in ((-d1[row], e1, "x1"), (-d2[row], e2, "x2")):
            worst, worst_small = _normwise_errors(computed, exact)
            assert worst <= bound and worst_small <= bound, (
                f"d/d{name} of row {row} ({x1[row].tolist()}, {x2[row].tolist()}): {worst:.3g} ulp "
                f"(small components {worst_small:.3g} ulp of the largest), allowed {bound}")


def test_cosine_embedding_grad_is_within_an_ulp_or_so_at_moderate_angles():
    # the LOSSLAB_LONG grid's worst points before (5.7 and 4.3 ulp: the projection through rounded
    # unit vectors, cos = -0.07 and 0.19)
    x1 = np.array([[0.0008297031487462635, -0.0008995903634315246, -0.0012850416213888096],
                   [1095.5293548157376, 1072.0417848058166, 382.2516059919888]])
    x2 = np.array([[0.22444899843612476, -0.08562425857763681, 0.23684954191192065],
                   [-0.0007675546976282682, 0.0014228184784255047, -0.0004935930363688879]])
    _assert_cosine_gradient_within(x1, x2, 1.5)


@pytest.mark.parametrize("dim", [2, 3, 17])
def test_cosine_embedding_grad_is_within_an_ulp_or_so_at_every_angle(dim):
    rng = np.random.default_rng(dim)
    x1 = rng.normal(size=(40, dim)) * np.exp(rng.normal(0, 20, (40, 1)))
    # random directions, nearly parallel and nearly opposite ones, at unrelated scales
    closeness = rng.choice([1.0, 1e-3, 1e-7], (40, 1))
    x2 = (rng.choice([-1.0, 1.0], (40, 1)) * x1 + closeness * np.abs(x1).max(-1, keepdims=True)
          * rng.normal(size=(40, dim))) * np.exp(rng.normal(0, 20, (40, 1)))
    _assert_cosine_gradient_within(x1, x2, 1.5)


def test_cosine_embedding_grad_is_exactly_zero_for_parallel_vectors():
    x1 = np.array([[0.3, -1.7, 2.9], [1e-200, 3e-201, -2e-200], [5.0, 0.0, 0.0]])
    for x2 in (x1, 8 * x1, 2.0**-100 * x1):
        for label in (1.0, -1.0):
            for d in metric.cosine_embedding_grad(x1, x2, np.full(3, label), margin=0.5):
                assert np.all(d == 0), (x2.tolist(), label, d)


def test_cosine_embedding_grad_keeps_the_scale_of_huge_and_tiny_vectors():
    x1 = np.array([[1e300, -1e300, 1e300], [3e-300, 1e-300, -2e-300]])
    x2 = np.array([[1e300, 1e300, 0.0], [1e-300, 1e-300, 1e-300]])
    _assert_cosine_gradient_within(x1, x2, 1.5)


def _info_nce_own_keys_gradient_exact(query, keys, tau):
    tau = mpmath.mpf(tau)
    grads_q, grads_k = [], []
    for q_row, key_set in zip(query, keys, strict=True):
        q_hat, q_norm = _unit([mpmath.mpf(float(v)) for v in q_row])
        units = [_unit([mpmath.mpf(float(v)) for v in k]) for k in key_set]
        cos = [mpmath.fsum(a * b for a, b in zip(q_hat, k_hat, strict=True)) for k_hat, _ in units]
        top = max(cos)
        weights = [mpmath.exp((c - top) / tau) for c in cos]
        total = mpmath.fsum(weights)
        g = [w / total - (1 if m == 0 else 0) for m, w in enumerate(weights)]
        grads_q.append([mpmath.fsum(g[m] * (k_hat[i] - cos[m] * q_hat[i]) for m, (k_hat, _) in enumerate(units))
                        / (tau * q_norm) for i in range(len(q_hat))])
        grads_k.append([[g[m] * (q_hat[i] - cos[m] * k_hat[i]) / (tau * k_norm) for i in range(len(q_hat))]
                        for m, (k_hat, k_norm) in enumerate(units)])
    return grads_q, grads_k


def test_info_nce_own_keys_grad_carries_the_rounding_of_its_directions_and_sums():
    # the LOSSLAB_LONG grid's worst point before: 4.06 ulp (a sum over the keys with terms of both signs)
    query = np.array([[1.4165810317134125e+100, 1.0894488422999962e+100, -1.508690844443194e+100],
                      [4.273239477341074e+99, 1.0931433368494833e+100, -1.5279562126105415e+100]])
    keys = np.array([[[1.1968879512675212e+100, 1.3267262018959374e+100, -1.3457766359647262e+100],
                      [-4.0576470462157716e+99, 6.925013081621035e+98, -8.157773668828674e+99],
                      [1.4401197642358882e+99, 2.620990193146931e+99, -2.473861678878248e+99],
                      [1.4543248572543781e+100, 1.7468803809078213e+100, 1.0789127025780361e+100]],
                     [[3.1140372091214705e+99, 9.357503008565016e+99, -1.505668116311825e+100],
                      [4.32609094309173e+99, -4.363156271120026e+99, -5.224753281425221e+99],
                      [-6.477985113314537e+99, 2.6948363491571927e+99, 1.8654614761520554e+99],
                      [-1.1208867504229936e+100, 1.5526336988267846e+100, 2.0355485439741205e+99]]])
    d_query, d_keys = metric.info_nce_own_keys_grad(query, keys, temperature=0.1)
    exact_q, exact_k = _info_nce_own_keys_gradient_exact(query, keys, 0.1)
    for row in range(2):
        worst, worst_small = _normwise_errors(d_query[row], exact_q[row])
        assert worst <= 3.5 and worst_small <= 3.5, (row, worst, worst_small)
        for m in range(4):
            worst, worst_small = _normwise_errors(d_keys[row, m], exact_k[row][m])
            assert worst <= 3.5 and worst_small <= 3.5, (row, m, worst, worst_small)


def test_cosine_embedding_of_a_zero_vector_is_finite_and_quiet():
    # a zero vector has cosine 0 and gradient 0 (the docstring's convention), with no RuntimeWarning
    x1 = np.array([[0.3, -1.7, 2.9], [1e-200, 3e-201, -2e-200]])
    x2 = np.zeros((2, 3))
    for label in (1.0, -1.0):
        loss, (d1, d2) = metric.cosine_embedding_and_grad(x1, x2, np.full(2, label), margin=-0.5, reduction="none")
        assert np.all(loss == (1.0 if label == 1 else 0.5))
        assert np.all(d1 == 0) and np.all(d2 == 0)


def _info_nce_gradient_exact(query, keys, tau):
    tau = mpmath.mpf(tau)
    qs = [_unit([mpmath.mpf(float(v)) for v in row]) for row in query]
    ks = [_unit([mpmath.mpf(float(v)) for v in row]) for row in keys]
    cos = [[mpmath.fsum(a * b for a, b in zip(q_hat, k_hat, strict=True)) for k_hat, _ in ks] for q_hat, _ in qs]
    g = []
    for i, row in enumerate(cos):
        weights = [mpmath.exp((c - max(row)) / tau) for c in row]
        g.append([w / mpmath.fsum(weights) - (1 if j == i else 0) for j, w in enumerate(weights)])
    dims = range(len(query[0]))
    d_query = [[mpmath.fsum(g[i][j] * (ks[j][0][d] - cos[i][j] * q_hat[d]) for j in range(len(ks))) / (tau * q_norm)
                for d in dims] for i, (q_hat, q_norm) in enumerate(qs)]
    d_keys = [[mpmath.fsum(g[i][j] * (qs[i][0][d] - cos[i][j] * k_hat[d]) for i in range(len(qs))) / (tau * k_norm)
               for d in dims] for j, (k_hat, k_norm) in enumerate(ks)]
    return d_query, d_keys


def test_info_nce_grad_carries_the_rounding_of_its_directions_and_sums():
    # the test grid's worst point before: 4.003 ulp (a key's gradient, a sum over the queries whose
    # largest terms have opposite signs)
    query = np.array([[6.258407046445027e+99, -5.717971089993171e+99, -5.328625860015204e+99, 6.405816830656459e+99],
                      [-6.171512238777086e+99, 3.360206914446697e+99, -8.945955292809645e+98, -1.1942715158413305e+100],
                      [9.663907689328148e+99, -1.289361949802304e+100, 2.3296344452977214e+99, 6.698467909483406e+98]])
    keys = np.array([[1.133978172362567e+100, -1.0172502989511938e+100, -6.978884195830022e+99, 4.623120740491023e+99],
                     [-4.0329744736062333e+99, 7.030451250246151e+99, 8.398164750325172e+98, -9.429869215680885e+99],
                     [1.2872815100729017e+100, 1.6542211513809402e+98, -4.913917651790999e+99, 5.07144499512329e+98]])
    d_query, d_keys = metric.info_nce_grad(query, keys, temperature=0.1)
    exact_q, exact_k = _info_nce_gradient_exact(query, keys, 0.1)
    for computed, exact in ((d_query, exact_q), (d_keys, exact_k)):
        for row in range(3):
            worst, worst_small = _normwise_errors(computed[row], exact[row])
            assert worst <= 3.5 and worst_small <= 3.5, (row, worst, worst_small)


def test_cosine_embedding_grad_of_similar_pairs_alone_matches_the_fused_call():
    # a gradient-only call whose pairs are all similar skips the cosine (it only decides dissimilar
    # pairs' margins): the same numbers as with it
    rng = np.random.default_rng(7)
    x1, x2 = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    for labels in (np.ones(50), rng.choice([-1.0, 1.0], 50)):
        alone = metric.cosine_embedding_grad(x1, x2, labels, margin=0.2)
        fused = metric.cosine_embedding_and_grad(x1, x2, labels, margin=0.2)[1]
        for a, b in zip(alone, fused, strict=True):
            np.testing.assert_array_equal(a, b)
