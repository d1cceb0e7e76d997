"""InfoNCE with ``normalize=False`` (raw dot products) against an exact reference (issue 16).

Losses within 4 ulp and gradients within 4 ulp normwise (each gradient row in ulp of its largest
component, as the atlas measures a gradient vector) of mpmath at 200 bits, from the exact input
values: random inputs at scales 1e-150 to 1e150 and temperatures 1e-3 to 10, logits near ties
(keys within 1e-8 to 1e-14 of each other at logits of 1e3 to 1e8), large spreads, queries and keys
of very different sizes, embeddings near 1e200 whose dot products overflow while the loss (a
function of logit differences) does not, zero rows beside subnormal ones, softmax weights below the
normal range times embeddings of 1e200, and a huge key whose hugely negative logit must not set the
row's scale. Measured worst ulp (loss, d/d query, d/d keys) at c6962cd,
before the fix: random 149, 240, 160; past the pairwise size 252, 268, 73; own keys 4.4e7, 6.9e11,
3.4e7; near ties up to 5.6e7 (loss) and 3e13 (gradients); products past float max gave log 2 where
the exact loss is 0 (e^-8e400), or inf. After: losses within 1.6 ulp, gradients within 0.5.
"""

from __future__ import annotations

import warnings

import mpmath
import numpy as np
import pytest

from losslab import metric

ULP_BOUND = 4.0


def M(value) -> mpmath.mpf:
    return mpmath.mpf(float(value))


def _exact(query, keysets, positives, tau):
    """Per-row losses and d/d query rows and d/d key (per keyset entry) at 200 bits from the exact inputs."""
    with mpmath.workprec(200):
        t = M(tau)
        losses, d_query, d_keys = [], [], []
        for q, keys, c in zip(query, keysets, positives, strict=True):
            qs = [M(v) for v in q]
            ks = [[M(v) for v in k] for k in keys]
            logits = [mpmath.fsum(a * b for a, b in zip(qs, k, strict=True)) / t for k in ks]
            top = max(logits)
            weights = [mpmath.exp(v - top) for v in logits]
            total = mpmath.fsum(weights)
            g = [w / total - (1 if j == c else 0) for j, w in enumerate(weights)]
            if logits[c] == top:  # the loss and 1 - p_c may be far below 2^-200: from the other weights alone
                rest = mpmath.fsum(w for j, w in enumerate(weights) if j != c)
                losses.append(mpmath.log1p(rest))
                g[c] = -rest / total
            else:
                losses.append((top - logits[c]) + mpmath.log(total))
            d_query.append([mpmath.fsum(g[j] * ks[j][d] for j in range(len(ks))) / t for d in range(len(qs))])
            d_keys.append([[g[j] * qs[d] / t for d in range(len(qs))] for j in range(len(ks))])
        return losses, d_query, d_keys


def _spacing(exact, dtype) -> mpmath.mpf:
    return M(np.spacing(dtype(min(abs(exact), M(np.finfo(dtype).max)))))


def _loss_ulp(computed, exact, dtype) -> float:
    if abs(exact) > np.finfo(dtype).max:
        return 0.0 if computed == np.inf else np.inf
    if not np.isfinite(computed):
        return np.inf
    return float(abs(M(computed) - exact) / _spacing(exact, dtype))


def _row_ulp(computed, exact, dtype) -> float:
    """Normwise: the row's largest error in ulp of its largest exact component."""
    largest = max(abs(v) for v in exact)
    if largest > np.finfo(dtype).max:
        return 0.0  # an overflowing gradient row: not checked here
    if not np.all(np.isfinite(computed)):
        return np.inf
    error = max(abs(M(c) - e) for c, e in zip(computed, exact, strict=True))
    return float(error / _spacing(largest, dtype))


def _worst_info_nce(q, k, tau):
    """Worst ulp of (loss, d/d query, d/d keys) of info_nce(normalize=False) at these inputs."""
    dtype = q.dtype.type
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, (gq, gk) = metric.info_nce_and_grad(q, k, temperature=tau, normalize=False, reduction="none")
    n = len(q)
    keysets = [k] * n
    losses, d_query, d_keys = _exact(q, keysets, range(n), tau)
    with mpmath.workprec(200):
        key_totals = [[mpmath.fsum(d_keys[i][j][d] for i in range(n)) for d in range(k.shape[1])]
                      for j in range(len(k))]
    return (max(_loss_ulp(loss[i], losses[i], dtype) for i in range(n)),
            max(_row_ulp(gq[i], d_query[i], dtype) for i in range(n)),
            max(_row_ulp(gk[j], key_totals[j], dtype) for j in range(len(k))))


def _worst_own_keys(q, k, tau):
    dtype = q.dtype.type
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, (gq, gk) = metric.info_nce_own_keys_and_grad(q, k, temperature=tau, normalize=False,
                                                           reduction="none")
    n = len(q)
    losses, d_query, d_keys = _exact(q, list(k), [0] * n, tau)
    return (max(_loss_ulp(loss[i], losses[i], dtype) for i in range(n)),
            max(_row_ulp(gq[i], d_query[i], dtype) for i in range(n)),
            max(_row_ulp(gk[i, m], d_keys[i][m], dtype) for i in range(n) for m in range(k.shape[1])))


def _random_cases(seed: int, count: int):
    """(query, keys, temperature): scales 1e-150..1e150 (query and keys apart), temperatures 1e-3..10,
    half of them scaled so that the logits are of order 1 to 50, where their last digits show."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        n, d = int(rng.integers(2, 5)), int(rng.integers(2, 6))
        m = n + int(rng.integers(0, 3))
        tau = float(10 ** rng.uniform(-3, 1))
        q_scale = 10 ** rng.uniform(-150, 150)
        if index % 2:  # logits of order 1 to 50
            k_scale = tau * 10 ** rng.uniform(0, 1.7) / q_scale
        else:
            k_scale = 10 ** rng.uniform(-150, 150) if rng.random() < 0.5 else 10 ** rng.uniform(-3, 3) / q_scale
        q = rng.normal(size=(n, d)) * q_scale
        k = rng.normal(size=(m, d)) * k_scale
        yield q, k, tau


def _adversarial_cases():
    """Near ties of large logits, wide spreads, and embeddings whose dot products overflow."""
    rng = np.random.default_rng(7)
    cases = []
    for gap in (1e-8, 1e-11, 1e-14):  # keys within gap of each other: logits of 1e3..1e8 within about 1
        for size in (1e3, 1e8):
            tau = float(10 ** rng.uniform(-3, 1))
            scale = np.sqrt(size * tau / 4)
            q = rng.normal(size=(3, 4)) * scale
            base = rng.normal(size=4)
            k = (base + gap * rng.normal(size=(4, 4))) * scale
            cases.append((q, k, tau))
            cases.append((q * 2.0**400, k * 2.0**-400, tau))  # sizes far apart, the same logits
            # queries nearly equal too: the key gradients' terms cancel
            cases.append(((base + gap * rng.normal(size=(3, 4))) * scale, k, tau))
    for spread in (100.0, 1e4):  # logits spread widely: confident rows, tiny losses and gradients
        tau = 0.1
        q = rng.normal(size=(3, 3))
        k = np.vstack([q + 0.3 * rng.normal(size=(3, 3)), rng.normal(size=(2, 3))])
        cases.append((q * np.sqrt(spread * tau), k * np.sqrt(spread * tau), tau))
    for big in (1e154, 1e200, 1e300):  # dot products past float max
        q = rng.normal(size=(3, 3)) * big
        v = rng.normal(size=3) * big
        cases.append((q, np.stack([v] * 4), 1.0))  # exact ties: every loss log 4
        cases.append((q, np.stack([v, v, v * (1 + 2.0**-52), -v]), 0.5))  # differences past float max too
        cases.append((q, q * (1 + 1e-15 * rng.normal(size=(3, 3))), 2.0))
        cases.append((q * 2.0**-600, q * (1 + 1e-15 * rng.normal(size=(3, 3))) * 2.0**-400, 1e-3))
    # a zero row among subnormal keys or queries: it must not set the scale that the others are taken in
    q = rng.normal(size=(3, 2)) * 1e307
    k = np.vstack([np.zeros((1, 2)), rng.normal(size=(3, 2)) * 1e-310])
    cases.append((q, k, 1e-3))
    cases.append((np.vstack([np.zeros((1, 2)), k[1:3]]), q[:, ::-1], 3e-3))
    # softmax weights below the normal range (logits spread past 708) times embeddings of 1e200
    q = rng.normal(size=(3, 3)) * 1e-200
    cases.append((q, np.vstack([q * 1e200 * 1e200 * 0.9, rng.normal(size=(2, 3)) * 1e200]), 1e-3))
    # a key far larger than the others whose logit is hugely negative: it must not set the row's scale
    q = np.array([[1e-30, 1.0, 1e-200], [2.0, -1.0, 1e-200]])
    k = np.array([[1e30, -1e-31, 0.5e30], [-1.0, 2.0, 1e-31], [1.5, 0.5, -1e308]])
    cases.append((q, k, 1e-300))
    return cases


def test_info_nce_raw_random_inputs_float64_within_4_ulp():
    worst = np.zeros(3)
    for q, k, tau in _random_cases(16, 60):
        worst = np.maximum(worst, _worst_info_nce(q, k, tau))
    assert worst.max() <= ULP_BOUND, f"worst ulp (loss, d/dq, d/dk): {worst}"


def test_info_nce_raw_near_ties_spreads_and_overflowing_products_float64_within_4_ulp():
    worst = np.zeros(3)
    for q, k, tau in _adversarial_cases():
        worst = np.maximum(worst, _worst_info_nce(q, k, tau))
    assert worst.max() <= ULP_BOUND, f"worst ulp (loss, d/dq, d/dk): {worst}"


def test_info_nce_raw_dot_products_past_float_max_give_the_finite_loss():
    q = np.array([[1e200, 2e200, -1e200], [3e200, 0.0, 1e200]])
    k = q * (1 + np.array([[1e-16], [0.0]]))  # every dot product about 1e401
    loss = metric.info_nce(q, k, temperature=0.5, normalize=False, reduction="none")
    losses, _, _ = _exact(q, [k, k], range(2), 0.5)
    assert max(_loss_ulp(v, e, np.float64) for v, e in zip(loss, losses, strict=True)) <= ULP_BOUND


def test_info_nce_own_keys_raw_float64_within_4_ulp():
    rng = np.random.default_rng(17)
    worst = np.zeros(3)
    for q, k, tau in _random_cases(18, 20):
        n = len(q)
        keys = k[rng.integers(0, len(k), size=(n, 4))]
        keys[:, 0] = keys[:, 0] * 0.5 + q * (np.linalg.norm(k) / np.linalg.norm(q)) * 0.5
        worst = np.maximum(worst, _worst_own_keys(q, keys, tau))
    for q, k, tau in _adversarial_cases()[:9]:
        worst = np.maximum(worst, _worst_own_keys(q, np.stack([k[:3]] * len(q)), tau))
    assert worst.max() <= ULP_BOUND, f"worst ulp (loss, d/dq, d/dk): {worst}"


@pytest.mark.parametrize("function", ["info_nce", "info_nce_own_keys"])
def test_info_nce_raw_float32_within_4_ulp(function):
    worst = np.zeros(3)
    rng = np.random.default_rng(32)
    for q, k, tau in _random_cases(33, 20):
        scale = 10.0 ** np.round(np.log10(np.abs(q).max()))
        q, k = (q / scale).astype(np.float32), (k * scale).astype(np.float32)
        tau = float(np.float32(tau))
        if function == "info_nce":
            worst = np.maximum(worst, _worst_info_nce(q, k, tau))
        else:
            keys = k[rng.integers(0, len(k), size=(len(q), 3))]
            worst = np.maximum(worst, _worst_own_keys(q, keys, tau))
    assert worst.max() <= ULP_BOUND, f"worst ulp (loss, d/dq, d/dk): {worst}"


def test_info_nce_raw_past_the_pairwise_size_float64_within_4_ulp():
    # 36 x 40 x 12 > metric._PAIRWISE_SIZE: the gradients from sliced matrix products, not pair by pair
    rng = np.random.default_rng(40)
    q = rng.normal(size=(36, 12)) * 0.5
    k = np.vstack([q + 0.1 * rng.normal(size=q.shape), rng.normal(size=(4, 12))])
    assert q.size * len(k) > metric._PAIRWISE_SIZE
    worst = np.array(_worst_info_nce(q, k, 0.05))
    assert worst.max() <= ULP_BOUND, f"worst ulp (loss, d/dq, d/dk): {worst}"
