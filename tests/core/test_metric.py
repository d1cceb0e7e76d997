"""Contrastive, triplet margin, cosine embedding and InfoNCE losses on embeddings.

References: PyTorch's ``triplet_margin_loss`` and ``cosine_embedding_loss``
(float64, autograd); for contrastive and InfoNCE, which PyTorch does not have
as one function, their formulas written here in PyTorch (``linalg.vector_norm``,
``normalize``, ``cross_entropy``) with autograd; 5-point central differences.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from losslab import metric

from .atlas_checks import (
    TORCH_RTOL,
    as_float32,
    assert_float32_kept,
    assert_fused_matches,
    assert_gradients_match_differences,
    assert_reductions_agree,
    relative_error,
    scaled_error,
    torch_value_and_grads,
)

RNG = np.random.default_rng(1821)
ANCHOR, POSITIVE, NEGATIVE = (RNG.normal(0, 1, (40, 6)) for _ in range(3))
X1, X2 = RNG.normal(0, 1, (40, 6)), RNG.normal(0, 1, (40, 6))


def _assert_agrees(values, grads, expected, expected_grads):
    assert relative_error(values, expected) < TORCH_RTOL
    for got, want in zip(grads, expected_grads, strict=True):
        # per-sample gradient vectors whose small components cancel: measured against the largest
        for row_got, row_want in zip(got.reshape(-1, got.shape[-1]), want.reshape(-1, want.shape[-1]), strict=True):
            assert scaled_error(row_got, row_want) < TORCH_RTOL


# ------------------------------------------------------------ PyTorch agreement


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize(("margin", "eps"), [(1.0, 1e-6), (0.3, 0.0), (2.5, 1e-3)])
def test_triplet_margin_agrees_with_torch(p, swap, margin, eps):
    expected, expected_grads = torch_value_and_grads(
        lambda a, b, c: F.triplet_margin_loss(a, b, c, margin=margin, p=p, eps=eps, swap=swap, reduction="none"),
        [ANCHOR, POSITIVE, NEGATIVE], [0, 1, 2])
    assert np.count_nonzero(expected) > 0
    if margin == 1.0:
        assert np.count_nonzero(expected) < expected.size  # both sides of the hinge are tested
    values, grads = metric.triplet_margin_and_grad(ANCHOR, POSITIVE, NEGATIVE, margin=margin, p=p, eps=eps, swap=swap,
                                                   reduction="none")
    _assert_agrees(values, grads, expected, expected_grads)
    reference = F.triplet_margin_loss(*map(torch.tensor, (ANCHOR, POSITIVE, NEGATIVE)), margin=margin, p=p, eps=eps,
                                      swap=swap).item()
    assert metric.triplet_margin(ANCHOR, POSITIVE, NEGATIVE, margin=margin, p=p, eps=eps, swap=swap) == pytest.approx(
        reference, rel=TORCH_RTOL)


@pytest.mark.parametrize("margin", [0.0, 0.4, -0.5])
def test_cosine_embedding_agrees_with_torch(margin):
    # norms of about 30: PyTorch's 1e-12 added to each squared norm changes the cosine by < 1e-15
    x1, x2 = 12 * X1, 12 * X2
    labels = RNG.choice([-1.0, 1.0], 40)
    expected, expected_grads = torch_value_and_grads(
        lambda a, b, y: F.cosine_embedding_loss(a, b, y, margin=margin, reduction="none"), [x1, x2, labels], [0, 1])
    values, grads = metric.cosine_embedding_and_grad(x1, x2, labels, margin=margin, reduction="none")
    _assert_agrees(values, grads, expected, expected_grads)


def test_cosine_embedding_differs_from_torch_only_by_its_epsilon_for_small_vectors():
    x1, x2, labels = 1e-8 * X1[:4], 1e-8 * X2[:4], np.ones(4)
    torch_loss = F.cosine_embedding_loss(*map(torch.tensor, (x1, x2, labels)), reduction="none").numpy()
    ours = metric.cosine_embedding(x1, x2, labels, reduction="none")
    assert np.all(np.abs(torch_loss - 1) < 1e-3)  # PyTorch's 1e-12 dominates squared norms of 1e-16: cosine ~ 0
    np.testing.assert_allclose(ours, metric.cosine_embedding(X1[:4], X2[:4], labels, reduction="none"), rtol=1e-14)


@pytest.mark.parametrize("margin", [0.5, 2.0])
def test_contrastive_agrees_with_its_formula_in_torch(margin):
    labels = RNG.integers(0, 2, 40).astype(np.float64)

    def reference(a, b, y):
        d = torch.linalg.vector_norm(a - b, dim=-1)
        return y * d**2 / 2 + (1 - y) * torch.clamp(margin - d, min=0) ** 2 / 2

    expected, expected_grads = torch_value_and_grads(reference, [X1, X2, labels], [0, 1])
    values, grads = metric.contrastive_and_grad(X1, X2, labels, margin=margin, reduction="none")
    _assert_agrees(values, grads, expected, expected_grads)


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize(("queries", "temperature"), [(6, 0.1), (9, 0.5), (4, 2.0)])
def test_info_nce_agrees_with_its_formula_in_torch(normalize, queries, temperature):
    scale = 1.0 if normalize else 0.3  # raw dot products over 0.1 would make some losses ~1e-6, where
    # PyTorch's log-softmax (logsumexp minus the logit) keeps only ~10 digits
    query, keys = RNG.normal(0, scale, (queries, 5)), RNG.normal(0, scale, (9, 5))
    keys[:queries] += 0.8 * query  # positives resemble their queries

    def reference(q, k):
        if normalize:
            q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        return F.cross_entropy(q @ k.T / temperature, torch.arange(q.shape[0]), reduction="none")

    expected, expected_grads = torch_value_and_grads(reference, [query, keys], [0, 1])
    values, grads = metric.info_nce_and_grad(query, keys, temperature=temperature, normalize=normalize,
                                             reduction="none")
    _assert_agrees(values, grads, expected, expected_grads)


# ------------------------------------------------------------ properties


def test_triplet_gradients_sum_to_zero_and_vanish_once_the_margin_is_met():
    d_a, d_p, d_n = metric.triplet_margin_grad(ANCHOR, POSITIVE, NEGATIVE, eps=0.0)
    np.testing.assert_allclose(d_a + d_p + d_n, 0.0, atol=1e-15)  # moving all three together changes nothing
    far = ANCHOR + 10 * np.sign(ANCHOR)  # negatives pushed far away: no violated triplet
    np.testing.assert_array_equal(metric.triplet_margin(ANCHOR, ANCHOR + 0.01, far, reduction="none"), 0.0)
    for g in metric.triplet_margin_grad(ANCHOR, ANCHOR + 0.01, far):
        np.testing.assert_array_equal(g, 0.0)
    # one hand-computed triplet: d(a, p) = 3, d(a, n) = 2 (3-4-5 and 0-2 offsets), margin 1 -> 2
    a, p, n = np.array([0.0, 0.0]), np.array([3.0, 0.0]), np.array([0.0, 2.0])
    loss, (g_a, g_p, g_n) = metric.triplet_margin_and_grad(a, p, n, eps=0.0)
    assert loss == 2.0
    np.testing.assert_allclose(g_a, [-1.0, 1.0])  # (a - p)/3 - (a - n)/2
    np.testing.assert_allclose(g_p, [1.0, 0.0])
    np.testing.assert_allclose(g_n, [0.0, -1.0])


def test_cosine_embedding_ignores_length_and_its_gradient_is_orthogonal_to_the_vector():
    labels = RNG.choice([-1.0, 1.0], 40)
    for scale in (1e-200, 1e-3, 7.0, 1e250):
        np.testing.assert_allclose(metric.cosine_embedding(scale * X1, X2, labels, reduction="none"),
                                   metric.cosine_embedding(X1, X2, labels, reduction="none"), rtol=1e-14)
    d_1, d_2 = metric.cosine_embedding_grad(X1, X2, np.ones(40))
    np.testing.assert_allclose(np.sum(d_1 * X1, axis=-1), 0.0, atol=1e-14)
    np.testing.assert_allclose(np.sum(d_2 * X2, axis=-1), 0.0, atol=1e-14)


def test_cosine_embedding_keeps_the_digits_of_nearly_parallel_vectors():
    x1 = np.array([[3.0, 4.0]])
    for angle in (1e-9, 1e-6, 1e-3):
        x2 = 5 * np.array([[math.cos(math.atan2(4, 3) + angle), math.sin(math.atan2(4, 3) + angle)]])
        expected = 2 * math.sin(angle / 2) ** 2  # 1 - cos(angle), without cancellation
        assert metric.cosine_embedding(x1, x2, [1.0]) == pytest.approx(expected, rel=1e-6 if angle < 1e-8 else 1e-9)


def test_contrastive_pulls_similar_pairs_and_releases_dissimilar_pairs_beyond_the_margin():
    x1, x2 = np.array([[0.0, 0.0], [0.0, 0.0]]), np.array([[3.0, 4.0], [3.0, 4.0]])  # d = 5
    np.testing.assert_array_equal(metric.contrastive(x1, x2, [1, 0], margin=2.0, reduction="none"), [12.5, 0.0])
    np.testing.assert_array_equal(metric.contrastive(x1, x2, [1, 0], margin=6.0, reduction="none"), [12.5, 0.5])
    g1, g2 = metric.contrastive_grad(x1, x2, [1, 0], margin=6.0)
    np.testing.assert_allclose(g1, [[-3.0, -4.0], [0.6, 0.8]])  # pull together; push apart by (m - d) along x1 - x2
    np.testing.assert_allclose(g2, -g1)
    g1, _ = metric.contrastive_grad(x1, x1, [0, 0])  # coincident dissimilar pair: direction undefined, gradient 0
    np.testing.assert_array_equal(g1, 0.0)


def test_info_nce_is_log_m_for_indistinguishable_keys_and_small_for_a_perfect_match():
    query = RNG.normal(0, 1, (4, 3))
    same = np.tile([[1.0, 2.0, 3.0]], (7, 1))
    np.testing.assert_allclose(metric.info_nce(query, same, reduction="none"), math.log(7), rtol=1e-14)
    basis = np.eye(4)
    assert metric.info_nce(basis, basis, temperature=0.01) < 1e-40  # e^{-100} scale
    d_q, _ = metric.info_nce_grad(query, RNG.normal(0, 1, (5, 3)))
    np.testing.assert_allclose(np.sum(d_q * query, axis=-1), 0.0, atol=1e-13)  # only directions matter


# ------------------------------------------------------------ finite differences, fused, reductions


FD_CASES = [
    ("contrastive", (RNG.normal(0, 1, (5, 3)), RNG.normal(0, 1, (5, 3)), np.array([1, 0, 0, 1, 0])), [0, 1],
     {"margin": 3.0}),
    ("triplet_margin", (ANCHOR[:5, :3], POSITIVE[:5, :3], NEGATIVE[:5, :3]), [0, 1, 2], {"margin": 2.0}),
    ("triplet_margin", (ANCHOR[:5, :3], POSITIVE[:5, :3], NEGATIVE[:5, :3]), [0, 1, 2],
     {"margin": 2.0, "p": 3.0, "swap": True}),
    ("triplet_margin", (ANCHOR[:5, :3], POSITIVE[:5, :3], NEGATIVE[:5, :3]), [0, 1, 2], {"margin": 2.0, "p": 1.0}),
    ("cosine_embedding", (X1[:5, :3], X2[:5, :3], np.array([1.0, -1, -1, 1, -1])), [0, 1], {"margin": -0.9}),
    ("info_nce", (RNG.normal(0, 1, (3, 4)), RNG.normal(0, 1, (5, 4))), [0, 1], {"temperature": 0.5}),
    ("info_nce", (RNG.normal(0, 1, (3, 4)), RNG.normal(0, 1, (3, 4))), [0, 1], {"normalize": False}),
]


def _check_away_from_kinks(name, args, params):
    """The central difference is only meaningful away from hinges: assert the chosen points are."""
    h = 1e-4
    if name == "triplet_margin":
        d_ap = np.linalg.norm(args[0] - args[1] + 1e-6, ord=params.get("p", 2.0), axis=-1)
        d_an = np.linalg.norm(args[0] - args[2] + 1e-6, ord=params.get("p", 2.0), axis=-1)
        d_pn = np.linalg.norm(args[1] - args[2] + 1e-6, ord=params.get("p", 2.0), axis=-1)
        d_neg = np.minimum(d_an, d_pn) if params.get("swap") else d_an
        assert np.all(np.abs(params["margin"] + d_ap - d_neg) > 100 * h)
        if params.get("swap"):
            assert np.all(np.abs(d_an - d_pn) > 100 * h)
        if params.get("p") == 1.0:
            assert np.all(np.abs(args[0][:, None] - np.stack([args[1], args[2]], 1)) > 100 * h)
    if name == "contrastive":
        assert np.all(np.abs(np.linalg.norm(args[0] - args[1], axis=-1) - params["margin"]) > 100 * h)


@pytest.mark.parametrize(("name", "args", "differentiable", "params"), FD_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(FD_CASES)])
def test_gradients_match_central_differences(name, args, differentiable, params):
    _check_away_from_kinks(name, args, params)
    assert_gradients_match_differences(getattr(metric, name), getattr(metric, f"{name}_grad"), args, differentiable,
                                       h=1e-4, **params)


@pytest.mark.parametrize(("name", "args", "differentiable", "params"), FD_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(FD_CASES)])
def test_fused_equals_separate_and_reductions_agree(name, args, differentiable, params):
    loss, grad, fused = getattr(metric, name), getattr(metric, f"{name}_grad"), getattr(metric, f"{name}_and_grad")
    assert_fused_matches(loss, grad, fused, args, **params)
    assert_reductions_agree(loss, args, **params)


def test_a_broadcast_anchor_gets_the_summed_gradient():
    anchor = RNG.normal(0, 1, (1, 3))  # one anchor against four (positive, negative) pairs
    args = (anchor, RNG.normal(0, 1, (4, 3)), RNG.normal(0, 1, (4, 3)))
    _check_away_from_kinks("triplet_margin", args, {"margin": 3.0})
    assert_gradients_match_differences(metric.triplet_margin, metric.triplet_margin_grad, args, [0, 1, 2], h=1e-4,
                                       margin=3.0)


# ------------------------------------------------------------ extremes, dtypes, errors


def test_extreme_embeddings_neither_overflow_nor_underflow_without_warnings():
    a, p, n = 1e-300 * ANCHOR[:3], 1e-300 * POSITIVE[:3], 1e-300 * NEGATIVE[:3]
    np.testing.assert_allclose(metric.triplet_margin(a, p, n, margin=1e-300, eps=0.0, reduction="none"),
                               1e-300 * metric.triplet_margin(ANCHOR[:3], POSITIVE[:3], NEGATIVE[:3], margin=1.0,
                                                              eps=0.0, reduction="none"), rtol=1e-13)
    big = 1e150 * X1[:3]
    distance = metric.contrastive(big, 0 * big, [0, 0, 0], margin=1e151, reduction="none")
    assert np.all(np.isfinite(distance)) and np.all(distance > 0)
    assert metric.contrastive(1e200 * X1[:3], 0 * big, [1, 1, 1]) == np.inf  # d^2/2 is past float max
    loss, (g1, g2) = metric.cosine_embedding_and_grad(1e300 * X1[:3], 1e-300 * X2[:3], [1, -1, 1])
    assert np.isfinite(loss) and np.all(np.isfinite(g1)) and np.all(np.isfinite(g2))
    zero = np.zeros((1, 3))
    loss, (g1, g2) = metric.cosine_embedding_and_grad(zero, X2[:1, :3], [1])
    assert loss == 1.0 and not g1.any() and not g2.any()
    assert np.isfinite(metric.info_nce(X1[:3], X2[:3], temperature=1e-300))


def test_float32_stays_float32():
    a, p, n, x1, x2 = as_float32(ANCHOR[:4], POSITIVE[:4], NEGATIVE[:4], X1[:4], X2[:4])
    assert_float32_kept(metric.triplet_margin, metric.triplet_margin_grad, (a, p, n), n_grads=3)
    assert_float32_kept(metric.contrastive, metric.contrastive_grad, (x1, x2, [1, 0, 1, 0]), n_grads=2)
    assert_float32_kept(metric.cosine_embedding, metric.cosine_embedding_grad, (x1, x2, [1, -1, 1, -1]), n_grads=2)
    assert_float32_kept(metric.info_nce, metric.info_nce_grad, (x1, x2), n_grads=2)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: metric.triplet_margin(ANCHOR, POSITIVE, NEGATIVE, margin=0), r"margin must be in \(0, inf\), got 0"),
    (lambda: metric.triplet_margin(ANCHOR, POSITIVE, NEGATIVE, p=0.5), r"p must be in \[1, inf\), got 0.5"),
    (lambda: metric.triplet_margin(ANCHOR, POSITIVE, NEGATIVE, swap="yes"), "swap must be True or False"),
    (lambda: metric.triplet_margin(ANCHOR, POSITIVE[:, :3], NEGATIVE), r"anchor with shape \(40, 6\) and positive"),
    (lambda: metric.triplet_margin(1.0, 2.0, 3.0), "anchor must have a feature axis"),
    (lambda: metric.contrastive(X1, X2, np.full(40, 2)), "target must be 0 or 1, got 2.0"),
    (lambda: metric.contrastive(X1, X2, np.ones(3)), r"target with shape \(3,\)"),
    (lambda: metric.cosine_embedding(X1, X2, np.zeros(40)), "target must be -1 or 1, got 0.0"),
    (lambda: metric.cosine_embedding(X1, X2, np.ones(40), margin=1.5), r"margin must be in \[-1, 1\], got 1.5"),
    (lambda: metric.cosine_embedding([[np.nan, 1.0]], [[1.0, 1.0]], [1]), "x1 must be finite numbers, got nan"),
    (lambda: metric.info_nce(X1[:5], X2[:4]), "keys must have at least one row per query"),
    (lambda: metric.info_nce(X1[:5, :3], X2[:5]), "query has 3 features and keys 6"),
    (lambda: metric.info_nce(X1[0], X2[0]), r"query must be a 2-D array .* got shape \(6,\)"),
    (lambda: metric.info_nce(np.zeros((2, 3)), X2[:2, :3]), "query row 0 is a zero vector"),
    (lambda: metric.info_nce(X1, X2, temperature=-1), r"temperature must be in \(0, inf\), got -1"),
])
def test_bad_input_raises_a_value_error_that_names_it(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------ InfoNCE with a key set per query


def _own_keys(queries, keys_per_query, features, scale=1.0):
    query = RNG.normal(0, scale, (queries, features))
    keys = RNG.normal(0, scale, (queries, keys_per_query, features))
    keys[:, 0] += 0.8 * query  # positives resemble their queries
    return query, keys


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize(("queries", "keys_per_query", "temperature"), [(6, 16, 0.1), (9, 3, 0.5), (1, 1, 2.0)])
def test_info_nce_own_keys_agrees_with_its_formula_in_torch(normalize, queries, keys_per_query, temperature):
    query, keys = _own_keys(queries, keys_per_query, 5, 1.0 if normalize else 0.3)

    def reference(q, k):
        if normalize:
            q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        logits = torch.einsum("nd,nmd->nm", q, k) / temperature
        return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long), reduction="none")

    expected, expected_grads = torch_value_and_grads(reference, [query, keys], [0, 1])
    values, grads = metric.info_nce_own_keys_and_grad(query, keys, temperature=temperature, normalize=normalize,
                                                      reduction="none")
    assert values.shape == (queries,) and grads[0].shape == query.shape and grads[1].shape == keys.shape
    _assert_agrees(values, grads, expected, expected_grads)


@pytest.mark.parametrize("normalize", [True, False])
def test_info_nce_own_keys_is_info_nce_of_each_query_alone(normalize):
    query, keys = _own_keys(7, 5, 4)
    loss, (d_query, d_keys) = metric.info_nce_own_keys_and_grad(query, keys, temperature=0.3, normalize=normalize,
                                                                reduction="none")
    for i in range(7):
        alone, (d_q, d_k) = metric.info_nce_and_grad(query[i:i + 1], keys[i], temperature=0.3, normalize=normalize)
        assert loss[i] == pytest.approx(alone, rel=1e-14)
        np.testing.assert_allclose(d_query[i], d_q[0], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(d_keys[i], d_k, rtol=1e-13, atol=1e-15)


def test_info_nce_own_keys_gradients_fused_form_reductions_and_float32():
    query, keys = _own_keys(3, 4, 3)
    for params in ({"temperature": 0.5}, {"temperature": 0.7, "normalize": False}):
        assert_gradients_match_differences(metric.info_nce_own_keys, metric.info_nce_own_keys_grad, (query, keys),
                                           [0, 1], h=1e-5, **params)
        assert_fused_matches(metric.info_nce_own_keys, metric.info_nce_own_keys_grad,
                             metric.info_nce_own_keys_and_grad, (query, keys), **params)
        assert_reductions_agree(metric.info_nce_own_keys, (query, keys), **params)
    assert_float32_kept(metric.info_nce_own_keys, metric.info_nce_own_keys_grad, as_float32(query, keys), n_grads=2)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: metric.info_nce_own_keys(X1[:3], X2[:3]), r"keys must be a 3-D array .* got shape \(3, 6\)"),
    (lambda: metric.info_nce_own_keys(X1[0], X2[:3, None]), r"query must be a 2-D array .* got shape \(6,\)"),
    (lambda: metric.info_nce_own_keys(X1[:3], np.zeros((2, 4, 6))), r"got query \(3, 6\) and keys \(2, 4, 6\)"),
    (lambda: metric.info_nce_own_keys(X1[:3], np.zeros((3, 0, 6))), r"M >= 1"),
    (lambda: metric.info_nce_own_keys(X1[:3], np.zeros((3, 2, 5))), r"got query \(3, 6\) and keys \(3, 2, 5\)"),
    (lambda: metric.info_nce_own_keys(X1[:2], np.ones((2, 3, 6)) * np.array([1, 0, 1])[None, :, None]),
     r"keys row \(0, 1\) is a zero vector"),
    (lambda: metric.info_nce_own_keys(X1[:2], np.full((2, 3, 6), np.nan)), "keys must be finite numbers, got nan"),
    (lambda: metric.info_nce_own_keys(X1[:2], X2[:6].reshape(2, 3, 6), temperature=0),
     r"temperature must be in \(0, inf\), got 0"),
])
def test_info_nce_own_keys_bad_input_raises_a_value_error_that_names_it(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(("positive", "temperature"), [(0.98, 0.01), (0.981, 0.01), (0.9, 0.01), (0.5, 0.01),
                                                       (0.98, 0.05), (0.3, 0.1)])
def test_info_nce_keeps_the_digits_of_a_tiny_loss(positive, temperature):
    """mpmath: l = log1p(15 e^((s- - s+)/tau)) with s- = 0, down to l ~ 4e-42 (tau = 0.01, s+ = 0.98).

    A reference written as log(1 + x) at 50 digits is itself off by ~1.7e-10 there (1 + 4e-42 keeps 8 digits),
    which is where a reported 1.5e-10 error of info_nce came from: against log1p, it is within a few ulp."""
    query, keys = np.ones((1, 1)), np.zeros((16, 1))
    keys[0, 0] = positive
    with mpmath.workdps(60):
        lead = mpmath.mpf(positive) / mpmath.mpf(temperature)
        expected = mpmath.log1p(15 * mpmath.exp(-lead))
        expected_grad = -(1 - 1 / (1 + 15 * mpmath.exp(-lead))) / mpmath.mpf(temperature)
    loss, (_, d_keys) = metric.info_nce_and_grad(query, keys, temperature=temperature, normalize=False)
    assert loss == pytest.approx(float(expected), rel=1e-14, abs=0)
    assert d_keys[0, 0] == pytest.approx(float(expected_grad), rel=1e-14, abs=0)
    own, (_, d_own) = metric.info_nce_own_keys_and_grad(query, keys[None], temperature=temperature, normalize=False)
    assert own == pytest.approx(float(expected), rel=1e-14, abs=0)
    assert d_own[0, 0, 0] == pytest.approx(float(expected_grad), rel=1e-14, abs=0)
