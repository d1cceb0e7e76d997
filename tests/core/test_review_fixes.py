"""Review fixes of session 6's float32 work (helper-41's review), each pinned by a test that failed before.

1. float32 CTC and next-token cross-entropy where a frame's logits span more than float32 max: the float32
   log-probabilities ``z - logsumexp`` overflow to -inf (and so did log P), which gave NaN gradients, an inf
   loss where the true one is finite, and a RuntimeWarning. Such sequences (rows) are computed in float64 and
   rounded once.
2. Empty batches in float32: IndexError in the double-word softmax weights where float64 returns empty
   arrays (or the documented ValueError of reduction="mean").
3. ``triplet_margin``'s gradient with a huge margin (1e300, 1.7e308) was 0 in float64 until 1a4a732: it is
   the margin-free unit vectors of the definition, checked here against the closed form at 200 bits.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from losslab import extra_classification as ec
from losslab import metric, sequence

F32 = np.float32

# ------------------------------------------------------------ 1. spreads past float32 max

WIDE_FRAME = [3e38, -3e38, 0.0]  # log-softmax (0, -6e38, -3e38): -6e38 is past float32 max


def _ctc_logits_inputs():
    return (np.array([[WIDE_FRAME]] * 4, F32), np.array([[1]]), np.array([4]), np.array([1]))


def _float64_rounded(function, args, **kwargs):
    """The float64 computation of the same float32 inputs, each result rounded once to float32."""
    wide = (args[0].astype(np.float64), *args[1:])
    with np.errstate(over="ignore"):  # a loss past float32 max rounds to inf
        result = function(*wide, **kwargs)
        return tuple(np.asarray(r).astype(F32) for r in result) if isinstance(result, tuple) \
            else np.asarray(result).astype(F32)


def test_ctc_with_logits_spanning_past_float32_max_gives_float64s_rounded_gradient():
    args = _ctc_logits_inputs()
    loss, grad = sequence.ctc_with_logits_and_grad(*args, reduction="none")
    assert grad.dtype == F32 and np.isfinite(grad).all()
    # the reviewer's float64 answer of the old code (float64 rounds log P = -6e38 + log 4 to -6e38)
    np.testing.assert_array_equal(grad[:, 0], [[0, -1, 0], [1, -1, 0], [1, -1, 0], [0, -1, 0]])
    # -log P = 6e38 - log 4: past float32 max
    assert loss.dtype == F32 and loss[0] == np.inf
    np.testing.assert_array_equal(sequence.ctc_with_logits_grad(*args), grad)
    np.testing.assert_array_equal(sequence.ctc_grad_logits(*args, reduction="mean"),
                                  _float64_rounded(sequence.ctc_with_logits_grad, args, reduction="mean"))
    assert sequence.ctc_with_logits(*args, reduction="sum") == np.inf


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_ctc_with_logits_keeps_the_other_sequences_in_float32_and_rounds_the_wide_one_once(reduction):
    rng = np.random.default_rng(42)
    logits = rng.normal(0, 3, (6, 3, 4)).astype(F32)
    logits[:, 1] = [2e38, -2e38, 0, 1]  # the second sequence's frames span 4e38
    args = (logits, np.array([[1, 2], [1, 3], [2, 2]]), np.array([6, 5, 6]), np.array([2, 2, 2]))
    loss, grad = sequence.ctc_with_logits_and_grad(*args, reduction=reduction)
    expected_loss, expected_grad = _float64_rounded(sequence.ctc_with_logits_and_grad, args, reduction=reduction)
    assert np.isfinite(grad).all()
    np.testing.assert_array_equal(grad[:, 1], expected_grad[:, 1])
    np.testing.assert_allclose(grad, expected_grad, rtol=0, atol=4e-7)
    if reduction == "none":
        np.testing.assert_array_equal(loss[1], expected_loss[1])  # 2e38 + 2e38 (+ log terms): 4e38 -> inf
        np.testing.assert_allclose(loss, expected_loss, rtol=3e-7)


def test_ctc_of_log_probabilities_whose_sum_passes_float32_max():
    # two labels over four frames cost -3e38 each: log P = -6e38 + log 2, past float32's range
    log_probs = np.array([[[0.0, -3e38, -3e38]]] * 4, F32)
    args = (log_probs, np.array([[1, 1]]), np.array([4]), np.array([2]))
    # mean: each loss by its target length, 6e38 / 2 = 3e38, a float32 number (it was inf)
    assert sequence.ctc(*args) == F32(3e38)
    loss, grad = sequence.ctc_and_grad(*args, reduction="none")
    assert loss[0] == np.inf and grad.dtype == F32 and np.isfinite(grad).all()
    np.testing.assert_array_equal(grad, _float64_rounded(sequence.ctc_grad, args))
    np.testing.assert_array_equal(sequence.ctc_grad(*args, zero_infinity=True), grad)


@pytest.mark.parametrize("function", [sequence.next_token_cross_entropy_and_grad, ec.label_smoothed_cross_entropy_and_grad])
def test_label_smoothed_cross_entropy_of_logits_spanning_past_float32_max(function):
    epsilon = 0.1
    logits = np.array([[WIDE_FRAME, WIDE_FRAME]], F32)
    loss, grad = function(logits, np.array([[0, 2]]), label_smoothing=epsilon, reduction="none")
    # -sum q_k log p_k with log p = (0, -6e38, -3e38) and q = eps/3 off the target, 1 - eps + eps/3 on it
    share = epsilon / 3
    expected = [share * 9e38, (1 - epsilon + share) * 3e38 + share * 6e38]
    assert loss.dtype == F32
    np.testing.assert_allclose(loss[0], expected, rtol=2e-7)  # 3e37 and 3e38 (the first was inf)
    # softmax (1, 0, 0) minus q
    np.testing.assert_allclose(grad[0], [[epsilon - share, -share, -share], [1 - share, -share, -(1 - epsilon + share)]],
                               rtol=2e-7)
    got = function(logits, np.array([[0, 2]]), label_smoothing=epsilon, reduction="sum")
    wanted = _float64_rounded(function, (logits, np.array([[0, 2]])), label_smoothing=epsilon, reduction="sum")
    for value, expected_value in zip(got, wanted, strict=True):
        np.testing.assert_array_equal(value, expected_value)


def test_next_token_cross_entropy_grad_of_logits_spanning_past_float32_max():
    logits = np.array([[WIDE_FRAME]], F32)
    grad = sequence.next_token_cross_entropy_grad(logits, np.array([[1]]), label_smoothing=0.3)
    np.testing.assert_allclose(grad[0, 0], [1 - 0.1, -(0.7 + 0.1), -0.1], rtol=2e-7)


def test_weighted_cross_entropy_of_logits_spanning_past_float32_max():
    logits = np.array([WIDE_FRAME], F32)
    # -log p_1 = 6e38, weighted by 1/100: 6e36 (it was inf times 0.01)
    loss = ec.weighted_cross_entropy(logits, np.array([1]), weight=np.array([1.0, 0.01, 1.0]), reduction="none")
    np.testing.assert_allclose(loss, [6e36], rtol=2e-7)
    grad = ec.weighted_cross_entropy_grad(logits, np.array([[0.0, 0.5, 0.5]], F32), weight=np.array([1.0, 0.01, 1.0]))
    # p sum(w y) - w y with p = (1, 0, 0)
    np.testing.assert_allclose(grad, [[0.505, -0.005, -0.5]], rtol=2e-7)


# ------------------------------------------------------------ 2. empty batches


def _empty_calls(dtype):
    z = np.zeros((0, 3), dtype)
    index = np.zeros(0, int)
    ctc_args = (np.zeros((4, 0, 3), dtype), np.zeros((0, 2), int), np.zeros(0, int), np.zeros(0, int))
    scores = (np.zeros(0, dtype), np.zeros(0, dtype))
    calls = {
        "weighted_cross_entropy index": (ec.weighted_cross_entropy, (z, index), {"weight": np.ones(3)}),
        "weighted_cross_entropy probabilities": (ec.weighted_cross_entropy, (z, np.zeros((0, 3), dtype)),
                                                 {"weight": np.ones(3)}),
        "label_smoothed_cross_entropy": (ec.label_smoothed_cross_entropy, (z, index), {}),
        "label_smoothed_cross_entropy probabilities": (ec.label_smoothed_cross_entropy,
                                                       (z, np.zeros((0, 3), dtype)), {}),
        "squared_hinge": (ec.squared_hinge, scores, {}),
        "exponential": (ec.exponential, scores, {}),
        "ctc": (sequence.ctc, ctc_args, {}),
        "ctc_with_logits": (sequence.ctc_with_logits, ctc_args, {}),
        "next_token_cross_entropy": (sequence.next_token_cross_entropy,
                                     (np.zeros((0, 5, 3), dtype), np.zeros((0, 5), int)), {}),
    }
    return calls


def _forms(function):
    """The loss, its _grad and its _and_grad, with whether each takes a reduction."""
    module = sequence if function.__module__ == sequence.__name__ else ec
    return [(function, True), (getattr(module, function.__name__ + "_grad"), function.__name__.startswith("ctc")),
            (getattr(module, function.__name__ + "_and_grad"), True)]


def _outcome(function, args, kwargs):
    try:
        result = function(*args, **kwargs)
    except ValueError as error:
        return ("ValueError", str(error))
    return tuple(np.asarray(r) for r in (result if isinstance(result, tuple) else (result,)))


@pytest.mark.parametrize("name", sorted(_empty_calls(np.float64)))
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_an_empty_batch_gives_float64s_results_in_float32(name, reduction):
    function, args64, kwargs = _empty_calls(np.float64)[name]
    args32 = _empty_calls(F32)[name][1]
    for form, reduces in _forms(function):
        options = {**kwargs, "reduction": reduction} if reduces else kwargs
        expected, got = _outcome(form, args64, options), _outcome(form, args32, options)
        if isinstance(expected[0], str):
            assert got == expected, form.__name__
            continue
        assert len(got) == len(expected), form.__name__
        for value, wanted in zip(got, expected, strict=True):
            assert value.dtype == F32 and value.shape == wanted.shape, (form.__name__, value.dtype, value.shape)
            np.testing.assert_array_equal(value, wanted.astype(F32))


def test_an_empty_batch_of_float32_logits_gives_empty_arrays():
    # the reviewer's reproducer: IndexError before
    loss = ec.weighted_cross_entropy(np.zeros((0, 3), F32), np.zeros(0, int), weight=np.ones(3), reduction="none")
    assert loss.shape == (0,) and loss.dtype == F32
    grad = ec.label_smoothed_cross_entropy_grad(np.zeros((0, 3), F32), np.zeros(0, int))
    assert grad.shape == (0, 3) and grad.dtype == F32
    with pytest.raises(ValueError, match="empty input"):
        ec.weighted_cross_entropy(np.zeros((0, 3), F32), np.zeros(0, int), weight=np.ones(3))


# ------------------------------------------------------------ 3. triplet margin with a huge margin


def _unit(x, y, eps):
    """The gradient of d(x, y) = ||x - y + eps||_2 with respect to x: (x - y + eps) / d, at 200 bits."""
    with mpmath.workprec(200):
        v = [mpmath.mpf(float(a)) - mpmath.mpf(float(b)) + mpmath.mpf(eps) for a, b in zip(x, y, strict=True)]
        d = mpmath.sqrt(mpmath.fsum(c * c for c in v))
        return [c / d for c in v]


@pytest.mark.parametrize("dtype", [np.float64, np.longdouble])
@pytest.mark.parametrize("margin", [1.0, 1e300, 1.7e308])
@pytest.mark.parametrize("eps", [1e-6, 0.0])
def test_triplet_margin_gradient_with_a_huge_margin_is_the_unit_vectors(dtype, margin, eps):
    anchor, positive, negative = [0.0, 0.0], [3.0, 4.0], [1.0, 0.0]
    # the margin is violated (m + d(a, p) - d(a, n) = m + 4 > 0): dl/da = u_ap - u_an, dl/dp = -u_ap, dl/dn = u_an
    u_ap = _unit(anchor, positive, eps)
    u_an = _unit(anchor, negative, eps)
    with mpmath.workprec(200):
        expected = ([a - b for a, b in zip(u_ap, u_an, strict=True)], [-a for a in u_ap], u_an)
    loss, grads = metric.triplet_margin_and_grad(
        np.array([anchor], dtype), np.array([positive], dtype), np.array([negative], dtype),
        margin=margin, eps=eps, reduction="none")
    assert loss[0] > 0
    for grad, wanted in zip(grads, expected, strict=True):
        assert grad.dtype == dtype
        wanted = np.array([float(w) for w in wanted])
        np.testing.assert_allclose(grad[0].astype(np.float64), wanted, rtol=4e-16, atol=1e-300)
    np.testing.assert_array_equal(metric.triplet_margin_grad(
        np.array([anchor], dtype), np.array([positive], dtype), np.array([negative], dtype),
        margin=margin, eps=eps)[0], grads[0])


# ------------------------------------------------------------ CTC over no frames at all


@pytest.mark.parametrize("dtype", [np.float64, F32, np.longdouble])
@pytest.mark.parametrize("logits", [False, True], ids=["log_probs", "logits"])
def test_ctc_over_zero_frames_gives_0_for_an_empty_target_and_inf_otherwise(dtype, logits):
    # T = 0: only the empty target has an alignment (the empty one, probability 1); float64 raised IndexError
    loss_and_grad = sequence.ctc_with_logits_and_grad if logits else sequence.ctc_and_grad
    args = (np.zeros((0, 2, 3), dtype), np.ones((2, 1), int), np.zeros(2, int), np.array([0, 1]))
    loss, grad = loss_and_grad(*args, reduction="none")
    assert loss.dtype == grad.dtype == dtype and grad.shape == (0, 2, 3)
    assert loss.tolist() == [0.0, np.inf]
    only_loss = sequence.ctc_with_logits if logits else sequence.ctc
    assert only_loss(*args, reduction="sum") == np.inf
    assert only_loss(args[0], args[1], args[2], np.array([0, 0]), reduction="mean") == 0
