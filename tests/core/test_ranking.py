"""Margin ranking, BPR and ListNet losses.

References: PyTorch's ``margin_ranking_loss`` (float64, autograd); BPR and ListNet
written out in PyTorch (``logsigmoid``, ``softmax``/``log_softmax``) with autograd;
mpmath for BPR's tails; 5-point central differences.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from losslab import ranking

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

RNG = np.random.default_rng(1822)
S1, S2 = RNG.normal(0, 2, 50), RNG.normal(0, 2, 50)
LABELS = RNG.choice([-1.0, 1.0], 50)


# ------------------------------------------------------------ PyTorch agreement


@pytest.mark.parametrize("margin", [0.0, 0.5, 2.0, -1.0])
def test_margin_ranking_agrees_with_torch(margin):
    expected, expected_grads = torch_value_and_grads(
        lambda a, b, y: F.margin_ranking_loss(a, b, y, margin=margin, reduction="none"), [S1, S2, LABELS], [0, 1])
    assert 0 < np.count_nonzero(expected) < expected.size
    loss, grads = ranking.margin_ranking_and_grad(S1, S2, LABELS, margin=margin, reduction="none")
    assert relative_error(loss, expected) < TORCH_RTOL
    for got, want in zip(grads, expected_grads, strict=True):
        assert relative_error(got, want) < TORCH_RTOL
    for reduction in ("mean", "sum"):
        reference = F.margin_ranking_loss(*map(torch.tensor, (S1, S2, LABELS)), margin=margin,
                                          reduction=reduction).item()
        assert ranking.margin_ranking(S1, S2, LABELS, margin=margin, reduction=reduction) == pytest.approx(
            reference, rel=TORCH_RTOL)


def test_bpr_agrees_with_its_formula_in_torch():
    positive, negative = S1 / 2, S2 / 2  # |margins| below ~8: PyTorch's logsigmoid is accurate there
    expected, expected_grads = torch_value_and_grads(lambda p, n: -F.logsigmoid(p - n), [positive, negative], [0, 1])
    loss, grads = ranking.bpr_and_grad(positive, negative, reduction="none")
    assert relative_error(loss, expected) < TORCH_RTOL
    for got, want in zip(grads, expected_grads, strict=True):
        assert relative_error(got, want) < TORCH_RTOL


@pytest.mark.parametrize("axis", [-1, 0])
def test_listnet_agrees_with_its_formula_in_torch(axis):
    scores, relevance = RNG.normal(0, 2, (6, 5)), RNG.integers(0, 5, (6, 5)).astype(np.float64)

    def reference(s, r):
        return -(F.softmax(r, dim=axis) * F.log_softmax(s, dim=axis)).sum(dim=axis)

    expected, (expected_grad,) = torch_value_and_grads(reference, [scores, relevance], [0])
    loss, grad = ranking.listnet_and_grad(scores, relevance, axis=axis, reduction="none")
    assert relative_error(loss, expected) < TORCH_RTOL
    assert scaled_error(grad, expected_grad) < TORCH_RTOL


# ------------------------------------------------------------ properties


def test_margin_ranking_is_a_hinge_on_the_score_margin():
    # y (x1 - x2) = 0.3 with margin 1: costs 0.7 and pushes x1 up, x2 down
    loss, (g1, g2) = ranking.margin_ranking_and_grad([1.3, 1.0], [1.0, 1.3], [1.0, -1.0], margin=1.0,
                                                     reduction="none")
    np.testing.assert_allclose(loss, [0.7, 0.7], rtol=1e-15)
    np.testing.assert_array_equal(g1, [-1.0, 1.0])
    np.testing.assert_array_equal(g2, [1.0, -1.0])
    loss, (g1, g2) = ranking.margin_ranking_and_grad(3.0, 1.0, 1.0, margin=1.0)
    assert loss == 0.0 and g1 == 0.0 and g2 == 0.0
    loss, (g1, _) = ranking.margin_ranking_and_grad(2.0, 1.0, 1.0, margin=1.0)  # on the kink: 0
    assert loss == 0.0 and g1 == 0.0


def test_bpr_depends_only_on_the_margin_and_is_never_flat():
    shift = 123.456
    np.testing.assert_allclose(ranking.bpr(S1 + shift, S2 + shift, reduction="none"),
                               ranking.bpr(S1, S2, reduction="none"), rtol=1e-12)
    assert ranking.bpr(0.0, 0.0) == pytest.approx(math.log(2), rel=1e-15)
    g_pos, g_neg = ranking.bpr_grad(S1, S2)
    np.testing.assert_array_equal(g_pos, -g_neg)
    assert np.all((g_pos < 0) & (g_pos > -1))


@pytest.mark.parametrize("margin", [-745.0, -40.0, -1e-9, 0.0, 1e-9, 40.0, 745.0, 1e300, -1e300])
def test_bpr_keeps_its_tails_exactly(margin):
    mp.mp.dps = 50
    exact_loss = float(mp.log1p(mp.exp(-mp.mpf(margin))))
    exact_grad = -float(1 / (1 + mp.exp(mp.mpf(margin))))
    assert ranking.bpr(margin, 0.0) == pytest.approx(exact_loss, rel=2e-16, abs=0)
    assert ranking.bpr_grad(margin, 0.0)[0] == pytest.approx(exact_grad, rel=4e-16, abs=0)


def test_listnet_is_cross_entropy_to_the_relevance_softmax_and_shift_invariant():
    scores, relevance = RNG.normal(0, 2, (4, 6)), RNG.integers(0, 5, (4, 6)).astype(float)
    np.testing.assert_allclose(ranking.listnet(scores + 50.0, relevance - 3.0, reduction="none"),
                               ranking.listnet(scores, relevance, reduction="none"), rtol=1e-13)
    # the minimum is at scores = relevance (+ a shift), where the loss is the target's entropy
    target = np.exp(relevance) / np.exp(relevance).sum(-1, keepdims=True)
    entropy = -(target * np.log(target)).sum(-1)
    np.testing.assert_allclose(ranking.listnet(relevance + 7.0, relevance, reduction="none"), entropy, rtol=1e-13)
    np.testing.assert_allclose(ranking.listnet_grad(relevance + 7.0, relevance), 0.0, atol=1e-15)
    np.testing.assert_allclose(ranking.listnet_grad(scores, relevance).sum(-1), 0.0, atol=1e-15)


# ------------------------------------------------------------ finite differences, fused, reductions


FD_CASES = [
    ("margin_ranking", (np.array([0.3, -1.0, 2.0, 0.5, -0.4]), np.array([1.0, 0.2, -0.5, 0.5, 1.9]),
                        np.array([1.0, -1.0, -1.0, 1.0, 1.0])), [0, 1], {"margin": 0.5}),
    ("bpr", (S1[:6], S2[:6]), [0, 1], {}),
    ("listnet", (RNG.normal(0, 2, (3, 4)), RNG.integers(0, 4, (3, 4)).astype(float)), [0], {}),
    ("listnet", (RNG.normal(0, 2, (3, 4)), RNG.normal(0, 1, (3, 4))), [0], {"axis": 0}),
]


@pytest.mark.parametrize(("name", "args", "differentiable", "params"), FD_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(FD_CASES)])
def test_gradients_match_central_differences(name, args, differentiable, params):
    assert_gradients_match_differences(getattr(ranking, name), getattr(ranking, f"{name}_grad"), args,
                                       differentiable, h=1e-4, **params)


@pytest.mark.parametrize(("name", "args", "differentiable", "params"), FD_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(FD_CASES)])
def test_fused_equals_separate_and_reductions_agree(name, args, differentiable, params):
    loss, grad, fused = getattr(ranking, name), getattr(ranking, f"{name}_grad"), getattr(ranking, f"{name}_and_grad")
    assert_fused_matches(loss, grad, fused, args, **params)
    assert_reductions_agree(loss, args, **params)


def test_one_positive_against_several_negatives_gets_the_summed_gradient():
    positive = np.array([[0.4], [-0.3]])  # each user's observed item against three unobserved ones
    negative = RNG.normal(0, 1, (2, 3))
    assert_gradients_match_differences(ranking.bpr, ranking.bpr_grad, (positive, negative), [0, 1], h=1e-4)
    assert_gradients_match_differences(ranking.margin_ranking, ranking.margin_ranking_grad,
                                       (positive, negative, 1.0), [0, 1], h=1e-4, margin=5.0)


# ------------------------------------------------------------ extremes, dtypes, errors


def test_extreme_scores_without_warnings():
    assert ranking.bpr(-1e308, 1e308) == np.inf  # the margin overflows, and so does the true loss
    assert ranking.bpr_grad(-1e308, 1e308) == (-1.0, 1.0)
    assert ranking.margin_ranking(-1e308, 1e308, 1.0) == np.inf
    scores = np.array([[1e300, -1e300, 0.0]])
    loss, grad = ranking.listnet_and_grad(scores, np.array([[0.0, 800.0, 1.0]]))
    assert loss == pytest.approx(2e300, rel=1e-12) and np.all(np.isfinite(grad))


def test_float32_stays_float32():
    s1, s2, labels = as_float32(S1[:5], S2[:5], LABELS[:5])
    assert_float32_kept(ranking.margin_ranking, ranking.margin_ranking_grad, (s1, s2, labels), n_grads=2, margin=0.5)
    assert_float32_kept(ranking.bpr, ranking.bpr_grad, (s1, s2), n_grads=2)
    scores, relevance = as_float32(RNG.normal(0, 1, (2, 3)), RNG.normal(0, 1, (2, 3)))
    assert_float32_kept(ranking.listnet, ranking.listnet_grad, (scores, relevance))


@pytest.mark.parametrize(("call", "match"), [
    (lambda: ranking.margin_ranking(S1, S2, np.zeros(50)), r"target \(ranking labels\) must be -1 or 1, got 0.0"),
    (lambda: ranking.margin_ranking(S1, S2, LABELS, margin=np.inf), "margin must be a finite number, got inf"),
    (lambda: ranking.margin_ranking(S1, S2[:3], LABELS), r"x1 with shape \(50,\) and x2 with shape \(3,\)"),
    (lambda: ranking.bpr([np.nan], [0.0]), "positive_scores must be finite numbers, got nan"),
    (lambda: ranking.listnet(np.zeros((2, 0)), np.zeros((2, 0))), "empty list axis"),
    (lambda: ranking.listnet(np.zeros((2, 3)), np.zeros((2, 3)), axis=2), "axis 2 is out of range"),
    (lambda: ranking.listnet([1.0], [np.inf]), "relevance must be finite numbers, got inf"),
])
def test_bad_input_raises_a_value_error_that_names_it(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_listnet_gradient_is_exactly_zero_where_the_scores_are_the_relevance_shifted():
    """softmax is shift-invariant: scores = relevance + c (exactly) is the minimum, gradient 0 exactly."""
    relevance = np.array([[3.0, 1.0, 0.0, 2.0], [0.25, 0.5, 0.75, 1.0], [1.0, 0.0, 0.0, 0.0]])
    for shift in (0.0, 1.0, -0.5, 2.0**-20):
        scores = relevance + shift
        assert np.all(scores - shift == relevance)  # the shift is exact for these rows
        for dtype in (np.float64, np.float32):
            grad = ranking.listnet_grad(scores.astype(dtype), relevance.astype(dtype))
            assert grad.dtype == dtype and np.all(grad == 0), (shift, dtype, grad)
            _, fused = ranking.listnet_and_grad(scores.astype(dtype), relevance.astype(dtype))
            assert np.all(fused == 0)
    near = relevance.copy()
    near[0, 0] += 1e-9  # not a shift: a real (tiny) gradient
    assert np.any(ranking.listnet_grad(near, relevance)[0] != 0)
    assert np.all(ranking.listnet_grad(near, relevance)[1:] == 0)
