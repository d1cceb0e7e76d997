"""CTC and next-token cross-entropy (losslab.sequence) against PyTorch, brute force and finite differences.

Expected values come from outside the code under test: torch.nn.functional.ctc_loss and
cross_entropy with their autograd, a brute-force sum over every class sequence of the frames
(collapse, compare, add up the path probabilities), closed forms for lattices with one
alignment, and central differences of the loss itself.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from losslab import sequence
from tests.core.atlas_checks import TORCH_RTOL, central_difference, relative_error, scaled_error

# ---------------------------------------------------------------- references


def torch_ctc(log_probs, targets, input_lengths, target_lengths, **kwargs):
    """PyTorch's loss and its autograd gradient with ``log_probs`` as the leaf (gradient of the reduced loss)."""
    leaf = torch.tensor(np.asarray(log_probs), requires_grad=True)
    loss = F.ctc_loss(leaf, torch.tensor(np.asarray(targets)), torch.tensor(np.asarray(input_lengths)),
                      torch.tensor(np.asarray(target_lengths)), **kwargs)
    loss.sum().backward()
    return loss.detach().numpy(), leaf.grad.numpy()


def torch_ctc_of_logits(logits, targets, input_lengths, target_lengths, **kwargs):
    """PyTorch's gradient of the logits, through log_softmax over the class axis."""
    leaf = torch.tensor(np.asarray(logits), requires_grad=True)
    loss = F.ctc_loss(torch.log_softmax(leaf, -1), torch.tensor(np.asarray(targets)),
                      torch.tensor(np.asarray(input_lengths)), torch.tensor(np.asarray(target_lengths)), **kwargs)
    loss.sum().backward()
    return loss.detach().numpy(), leaf.grad.numpy()


def collapse(path, blank):
    """CTC's many-to-one map: merge repeats, then drop blanks."""
    merged = [label for index, label in enumerate(path) if index == 0 or label != path[index - 1]]
    return tuple(label for label in merged if label != blank)


def brute_force_ctc(log_probs_tc, target, blank=0):
    """-log of the sum over every class sequence of the T frames that collapses to ``target``."""
    frames, classes = log_probs_tc.shape
    probability = math.fsum(
        math.exp(sum(log_probs_tc[t, path[t]] for t in range(frames)))
        for path in itertools.product(range(classes), repeat=frames)
        if collapse(path, blank) == tuple(target)
    )
    return -math.log(probability) if probability > 0 else math.inf


def random_batch(seed, frames=8, batch=4, classes=5, width=4, blank=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(frames, batch, classes))
    labels = [c for c in range(classes) if c != blank]
    targets = rng.choice(labels, size=(batch, width))
    target_lengths = rng.integers(1, width + 1, size=batch)
    input_lengths = rng.integers(frames // 2 + 2, frames + 1, size=batch)
    input_lengths[0] = frames
    return logits, targets, input_lengths, target_lengths


def log_probs_of(logits):
    return torch.log_softmax(torch.tensor(logits), -1).numpy()


# ---------------------------------------------------------------- CTC loss


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_ctc_agrees_with_torch_on_random_batches_of_different_lengths(seed, reduction):
    logits, targets, input_lengths, target_lengths = random_batch(seed)
    log_probs = log_probs_of(logits)
    expected, _ = torch_ctc(log_probs, targets, input_lengths, target_lengths, reduction=reduction)
    actual = sequence.ctc(log_probs, targets, input_lengths, target_lengths, reduction=reduction)
    assert relative_error(actual, expected) <= TORCH_RTOL


def test_ctc_takes_concatenated_targets_as_torch_does():
    logits, targets, input_lengths, target_lengths = random_batch(11)
    log_probs = log_probs_of(logits)
    concatenated = np.concatenate([targets[n, :target_lengths[n]] for n in range(len(targets))])
    expected, _ = torch_ctc(log_probs, concatenated, input_lengths, target_lengths, reduction="none")
    actual = sequence.ctc(log_probs, concatenated, input_lengths, target_lengths, reduction="none")
    assert relative_error(actual, expected) <= TORCH_RTOL


@pytest.mark.parametrize("blank", [2, 4])
def test_ctc_with_a_blank_that_is_not_class_0_agrees_with_torch(blank):
    logits, targets, input_lengths, target_lengths = random_batch(5, blank=blank)
    log_probs = log_probs_of(logits)
    expected, _ = torch_ctc(log_probs, targets, input_lengths, target_lengths, blank=blank, reduction="none")
    actual = sequence.ctc(log_probs, targets, input_lengths, target_lengths, blank=blank, reduction="none")
    assert relative_error(actual, expected) <= TORCH_RTOL


@pytest.mark.parametrize(("target", "frames"), [([1, 2], 4), ([1, 1], 4), ([2, 1, 2], 5), ([1], 3), ([], 3),
                                                 ([1, 1, 1], 5), ([2, 2], 3)])
def test_ctc_equals_the_brute_force_sum_over_every_path(target, frames):
    rng = np.random.default_rng(len(target) * 10 + frames)
    log_probs = log_probs_of(rng.normal(size=(frames, 3)))
    expected = brute_force_ctc(log_probs, target)
    actual = sequence.ctc(log_probs, np.array(target, dtype=np.int64), frames, len(target), reduction="none")
    assert actual == pytest.approx(expected, rel=1e-13)


def test_a_repeated_label_needs_a_blank_between_its_copies():
    # "aa" over exactly 3 frames has one alignment, a _ a: the loss is -(log p0(a) + log p1(_) + log p2(a))
    log_probs = log_probs_of(np.random.default_rng(1).normal(size=(3, 3)))
    expected = -(log_probs[0, 1] + log_probs[1, 0] + log_probs[2, 1])
    assert sequence.ctc(log_probs, [1, 1], 3, 2) == pytest.approx(expected / 2, rel=1e-14)  # mean: / length
    assert sequence.ctc(log_probs, [1, 1], 3, 2, reduction="sum") == pytest.approx(expected, rel=1e-14)
    # with 2 frames there is no alignment at all
    assert sequence.ctc(log_probs[:2], [1, 1], 2, 2, reduction="sum") == math.inf
    assert sequence.ctc(log_probs[:2], [1, 1], 2, 2, reduction="sum", zero_infinity=True) == 0


def test_as_many_frames_as_labels_leaves_one_alignment():
    log_probs = log_probs_of(np.random.default_rng(2).normal(size=(3, 4)))
    expected = -(log_probs[0, 3] + log_probs[1, 1] + log_probs[2, 2])
    assert sequence.ctc(log_probs, [3, 1, 2], 3, 3, reduction="sum") == pytest.approx(expected, rel=1e-14)


def test_an_empty_target_costs_the_blank_at_every_frame_and_no_frames_cost_nothing():
    log_probs = log_probs_of(np.random.default_rng(3).normal(size=(4, 2, 3)))
    losses = sequence.ctc(log_probs, np.zeros((2, 1), np.int64), [4, 0], [0, 0], reduction="none")
    assert losses[0] == pytest.approx(-log_probs[:, 0, 0].sum(), rel=1e-14)
    assert losses[1] == 0
    expected, _ = torch_ctc(log_probs, np.ones((2, 1), np.int64), [4, 0], [0, 0], reduction="none")
    np.testing.assert_allclose(losses, expected, rtol=TORCH_RTOL, atol=0)


def test_impossible_alignments_are_inf_and_zero_infinity_zeroes_them_as_torch_does():
    log_probs = log_probs_of(np.random.default_rng(4).normal(size=(3, 2, 4)))
    targets = np.array([[1, 1, 1], [1, 2, 3]])  # 'aaa' needs 5 frames; the second fits exactly
    for zero_infinity in (False, True):
        expected, expected_grad = torch_ctc(log_probs, targets, [3, 3], [3, 3], reduction="none",
                                            zero_infinity=zero_infinity)
        actual = sequence.ctc(log_probs, targets, [3, 3], [3, 3], reduction="none", zero_infinity=zero_infinity)
        np.testing.assert_allclose(actual, expected, rtol=TORCH_RTOL)
        grad = sequence.ctc_with_logits_grad(log_probs, targets, [3, 3], [3, 3], zero_infinity=zero_infinity)
        np.testing.assert_allclose(grad[:, 1], expected_grad[:, 1], rtol=1e-12, atol=1e-15)
        if zero_infinity:
            assert np.all(grad[:, 0] == 0) and np.all(expected_grad[:, 0] == 0)
        else:
            assert np.all(np.isnan(grad[:, 0])) and np.all(np.isnan(expected_grad[:, 0]))  # as PyTorch


def test_a_zero_probability_on_the_only_alignment_makes_the_loss_inf_without_warnings():
    log_probs = np.array([[math.log(0.5), math.log(0.5), -math.inf],  # class 2 impossible at frame 0
                          [math.log(0.2), math.log(0.3), math.log(0.5)]])
    assert sequence.ctc(log_probs, [2, 1], 2, 2, reduction="sum") == math.inf
    # the other alignments of 'b' still count: _ b only (b b and b _ need class 2 at frame 0)
    assert sequence.ctc(log_probs, [2], 2, 1, reduction="sum") == pytest.approx(-math.log(0.5 * 0.5), rel=1e-14)


@pytest.mark.parametrize("scale", [1e2, 1e4])
def test_extreme_logits_stay_finite_and_agree_with_torch(scale):
    logits, targets, input_lengths, target_lengths = random_batch(7)
    logits = np.sign(logits) * scale
    log_probs = log_probs_of(logits)
    expected, _ = torch_ctc(log_probs, targets, input_lengths, target_lengths, reduction="none")
    actual = sequence.ctc(log_probs, targets, input_lengths, target_lengths, reduction="none")
    finite = np.isfinite(expected)
    assert np.all(np.isfinite(actual) == finite)
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=1e-12)
    _, expected_grad = torch_ctc_of_logits(logits, targets, input_lengths, target_lengths, reduction="sum")
    grad = sequence.ctc_with_logits_grad(logits, targets, input_lengths, target_lengths)
    # a logit of 1e4 is itself only known to its ulp, 1.8e-12, and a sequence that must pass through
    # improbable classes has log-probabilities of -4e4: the posteriors are conditioned to ~1e-11
    assert scaled_error(grad[:, finite], expected_grad[:, finite]) <= (1e-12 if scale < 1e3 else 1e-10)


def test_a_confident_right_answer_costs_almost_nothing():
    # frame labels a, b with logit 40 against 0: every other path has probability ~e^-40
    logits = np.array([[0.0, 40.0, 0.0], [0.0, 0.0, 40.0]])
    loss = sequence.ctc_with_logits(logits, [1, 2], 2, 2, reduction="sum")
    assert 0 < loss == pytest.approx(4 * math.exp(-40), rel=1e-6)  # 2 frames x 2 rival classes each
    grad = sequence.ctc_with_logits_grad(logits, [1, 2], 2, 2)
    # the winning classes: p - gamma = -(sum of the others' p) exactly, not a rounded-away 0
    assert grad[0, 1] == pytest.approx(-2 * math.exp(-40), rel=1e-6)


# ---------------------------------------------------------------- CTC gradients


@pytest.mark.parametrize("seed", range(4))
def test_logit_gradient_agrees_with_torch_autograd_through_log_softmax(seed):
    logits, targets, input_lengths, target_lengths = random_batch(seed)
    _, expected = torch_ctc_of_logits(logits, targets, input_lengths, target_lengths, reduction="sum")
    actual = sequence.ctc_with_logits_grad(logits, targets, input_lengths, target_lengths)
    assert scaled_error(actual, expected) <= TORCH_RTOL
    assert np.all(actual[np.arange(8)[:, None] >= input_lengths[None, :]] == 0)  # frames past the length
    np.testing.assert_allclose(actual.sum(axis=-1), 0, atol=1e-15)  # p and gamma both sum to 1


def test_the_gradient_of_the_mean_is_torchs():
    logits, targets, input_lengths, target_lengths = random_batch(9)
    _, expected = torch_ctc_of_logits(logits, targets, input_lengths, target_lengths, reduction="mean")
    actual = sequence.ctc_grad_logits(logits, targets, input_lengths, target_lengths, reduction="mean")
    assert scaled_error(actual, expected) <= TORCH_RTOL


def test_log_probs_gradient_is_minus_the_occupancy_and_torch_adds_the_probabilities():
    """PyTorch's backward assumes log_softmax inputs: for a log_probs leaf it returns p - gamma, ours -gamma."""
    logits, targets, input_lengths, target_lengths = random_batch(3)
    log_probs = log_probs_of(logits)
    _, torch_leaf = torch_ctc(log_probs, targets, input_lengths, target_lengths, reduction="sum")
    grad = sequence.ctc_grad(log_probs, targets, input_lengths, target_lengths)
    used = (np.arange(8)[:, None] < input_lengths[None, :])[:, :, None]
    assert scaled_error(grad + np.exp(log_probs) * used, torch_leaf) <= TORCH_RTOL
    np.testing.assert_allclose(grad.sum(axis=-1), -used[..., 0].astype(float), rtol=1e-13)  # gamma sums to 1


def test_log_probs_gradient_matches_central_differences_even_for_unnormalised_inputs():
    rng = np.random.default_rng(12)
    log_probs = rng.normal(size=(5, 2, 3)) - 1.0  # not normalised: free variables
    targets, input_lengths, target_lengths = np.array([[1, 2], [2, 2]]), np.array([5, 4]), np.array([2, 2])
    numeric = central_difference(
        lambda x: sequence.ctc(x, targets, input_lengths, target_lengths, reduction="sum"), log_probs, 1e-4)
    analytic = sequence.ctc_grad(log_probs, targets, input_lengths, target_lengths)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-8, atol=1e-10)


def test_logit_gradient_matches_central_differences():
    rng = np.random.default_rng(13)
    logits = rng.normal(scale=2, size=(6, 3))
    numeric = central_difference(lambda x: sequence.ctc_with_logits(x, [1, 2, 1], 6, 3, reduction="sum"),
                                 logits, 1e-4)
    analytic = sequence.ctc_with_logits_grad(logits, [1, 2, 1], 6, 3)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-8, atol=1e-10)
    assert analytic.shape == logits.shape


def test_and_grad_forms_equal_the_separate_calls():
    logits, targets, input_lengths, target_lengths = random_batch(2)
    log_probs = log_probs_of(logits)
    loss, grad = sequence.ctc_and_grad(log_probs, targets, input_lengths, target_lengths, reduction="sum")
    assert loss == sequence.ctc(log_probs, targets, input_lengths, target_lengths, reduction="sum")
    np.testing.assert_array_equal(grad, sequence.ctc_grad(log_probs, targets, input_lengths, target_lengths))
    loss, grad = sequence.ctc_with_logits_and_grad(logits, targets, input_lengths, target_lengths)
    assert loss == sequence.ctc_with_logits(logits, targets, input_lengths, target_lengths)
    np.testing.assert_array_equal(grad, sequence.ctc_with_logits_grad(logits, targets, input_lengths,
                                                                      target_lengths))


def test_float32_in_gives_float32_out_close_to_torch_in_float32():
    logits, targets, input_lengths, target_lengths = random_batch(4)
    log_probs = log_probs_of(logits).astype(np.float32)
    loss = sequence.ctc(log_probs, targets, input_lengths, target_lengths, reduction="none")
    grad = sequence.ctc_with_logits_grad(logits.astype(np.float32), targets, input_lengths, target_lengths)
    assert loss.dtype == np.float32 and grad.dtype == np.float32
    expected, _ = torch_ctc(log_probs, targets, input_lengths, target_lengths, reduction="none")
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    exact = sequence.ctc(log_probs.astype(np.float64), targets, input_lengths, target_lengths, reduction="none")
    np.testing.assert_array_equal(loss, exact.astype(np.float32))  # computed in float64, rounded once


def test_one_sequence_without_a_batch_axis_gives_a_scalar_and_a_frames_by_classes_gradient():
    logits, targets, input_lengths, target_lengths = random_batch(6)
    log_probs = log_probs_of(logits)[:, 0]
    target = targets[0, :target_lengths[0]]  # PyTorch wants exactly the target's labels here
    expected, expected_grad = torch_ctc_of_logits(logits[:, 0], target, input_lengths[0], target_lengths[0],
                                                  reduction="sum")
    loss = sequence.ctc(log_probs, target, int(input_lengths[0]), int(target_lengths[0]), reduction="none")
    assert np.ndim(loss) == 0 and relative_error(loss, expected) <= TORCH_RTOL
    grad = sequence.ctc_with_logits_grad(logits[:, 0], target, input_lengths[0], target_lengths[0])
    assert grad.shape == logits[:, 0].shape and scaled_error(grad, expected_grad) <= TORCH_RTOL


def test_no_runtime_warning_for_finite_or_minus_inf_input():
    # pytest turns RuntimeWarnings into errors: this only has to run
    log_probs = np.full((4, 2, 3), -np.inf)
    log_probs[:, :, 0] = 0.0  # only the blank is possible
    assert np.all(sequence.ctc(log_probs, [[1], [2]], [4, 4], [1, 1], reduction="none") == math.inf)
    sequence.ctc_grad(log_probs, [[1], [2]], [4, 4], [1, 1], zero_infinity=True)


# ---------------------------------------------------------------- alignments


@pytest.mark.parametrize(("target", "frames"), [([1, 2], 4), ([1, 1], 4), ([1, 2, 1], 4), ([1, 1, 1], 4), ([], 2),
                                                 ([2], 1)])
def test_alignments_are_exactly_the_paths_that_collapse_to_the_target(target, frames):
    expected = {path for path in itertools.product(range(3), repeat=frames) if collapse(path, 0) == tuple(target)}
    actual = sequence.ctc_alignments(target, frames)
    assert actual.shape == (len(expected), frames)
    assert {tuple(row) for row in actual} == expected


def test_the_alignment_probabilities_add_up_to_the_ctc_probability():
    log_probs = log_probs_of(np.random.default_rng(8).normal(size=(4, 3)))
    paths = sequence.ctc_alignments([1, 2], 4)
    total = math.fsum(math.exp(log_probs[np.arange(4), path].sum()) for path in paths)
    assert -math.log(total) == pytest.approx(sequence.ctc(log_probs, [1, 2], 4, 2, reduction="sum"), rel=1e-14)


# ---------------------------------------------------------------- next-token cross-entropy


def torch_next_token(logits, targets, **kwargs):
    leaf = torch.tensor(logits, requires_grad=True)
    classes = logits.shape[-1]
    loss = F.cross_entropy(leaf.reshape(-1, classes), torch.tensor(targets).reshape(-1), **kwargs)
    if kwargs.get("reduction") == "none":
        loss = loss.reshape(targets.shape)
    loss.sum().backward()
    return loss.detach().numpy(), leaf.grad.numpy()


def token_batch(seed, shape=(3, 6), classes=7, pad=-100):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=3.0, size=(*shape, classes))
    targets = rng.integers(0, classes, size=shape)
    targets[..., -2:] = pad  # padding at the end of every sequence
    return logits, targets


@pytest.mark.parametrize("epsilon", [0.0, 0.1, 0.3])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("shape", [(3, 6), (6,)])
def test_next_token_ce_agrees_with_torch_with_smoothing_and_padding(epsilon, reduction, shape):
    logits, targets = token_batch(1, shape)
    expected, _ = torch_next_token(logits, targets, label_smoothing=epsilon, reduction=reduction)
    actual = sequence.next_token_cross_entropy(logits, targets, label_smoothing=epsilon, reduction=reduction)
    assert np.shape(actual) == np.shape(expected)
    assert relative_error(actual, expected) <= TORCH_RTOL


@pytest.mark.parametrize("epsilon", [0.0, 0.2])
def test_next_token_gradient_agrees_with_torch_and_is_zero_at_ignored_positions(epsilon):
    logits, targets = token_batch(2, pad=0)  # a pad token id that is also a class, as in many tokenizers
    _, expected = torch_next_token(logits, targets, label_smoothing=epsilon, ignore_index=0, reduction="sum")
    grad = sequence.next_token_cross_entropy_grad(logits, targets, label_smoothing=epsilon, ignore_index=0)
    assert scaled_error(grad, expected) <= TORCH_RTOL
    assert np.all(grad[targets == 0] == 0)
    loss, fused = sequence.next_token_cross_entropy_and_grad(logits, targets, label_smoothing=epsilon,
                                                             ignore_index=0)
    np.testing.assert_array_equal(fused, grad)
    assert loss == sequence.next_token_cross_entropy(logits, targets, label_smoothing=epsilon, ignore_index=0)


def test_next_token_gradient_matches_central_differences():
    logits, targets = token_batch(3, (2, 3), classes=4)
    numeric = central_difference(lambda x: sequence.next_token_cross_entropy(
        x, targets, label_smoothing=0.1, reduction="sum"), logits, 1e-4)
    analytic = sequence.next_token_cross_entropy_grad(logits, targets, label_smoothing=0.1)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-8, atol=1e-10)


def test_next_token_extremes_and_float32():
    logits, targets = token_batch(4)
    extreme = np.sign(logits) * 1e4
    expected, expected_grad = torch_next_token(extreme, targets, label_smoothing=0.1, reduction="none")
    actual = sequence.next_token_cross_entropy(extreme, targets, label_smoothing=0.1, reduction="none")
    assert relative_error(actual, expected) <= TORCH_RTOL
    grad = sequence.next_token_cross_entropy_grad(extreme, targets, label_smoothing=0.1)
    assert scaled_error(grad, expected_grad) <= TORCH_RTOL
    single = sequence.next_token_cross_entropy(logits.astype(np.float32), targets, label_smoothing=0.1)
    assert single.dtype == np.float32
    assert single == pytest.approx(sequence.next_token_cross_entropy(logits, targets, label_smoothing=0.1),
                                   rel=1e-6)


def test_label_smoothing_moves_the_best_logit_gap_to_a_finite_value():
    # V tokens, rivals at 0: the smoothed loss is smallest at z = log(1 + V (1 - eps) / eps)
    vocabulary, epsilon = 10, 0.1
    best = math.log(1 + vocabulary * (1 - epsilon) / epsilon)
    logits = np.zeros((3, vocabulary))
    logits[:, 0] = [best - 1e-3, best, best + 1e-3]
    grad = sequence.next_token_cross_entropy_grad(logits, np.zeros(3, np.int64), label_smoothing=epsilon)
    assert grad[0, 0] < 0 < grad[2, 0]
    assert abs(grad[1, 0]) < 1e-15


# ---------------------------------------------------------------- validation


LP = np.log(np.full((4, 2, 3), 1 / 3))


@pytest.mark.parametrize(("call", "fragment"), [
    (lambda: sequence.ctc(np.full((4, 3), np.nan), [1], 4, 1), "log_probs contain nan"),
    (lambda: sequence.ctc(np.full((4, 3), np.inf), [1], 4, 1), "log_probs contain inf"),
    (lambda: sequence.ctc(np.zeros(4), [1], 4, 1), "expected (T, N, C)"),
    (lambda: sequence.ctc(LP, [[1], [2]], [4, 4], [1, 1], blank=3), "blank must be a class index from 0 to 2, got 3"),
    (lambda: sequence.ctc(LP, [[1], [0]], [4, 4], [1, 1]), "the label 0, but it is the blank (0)"),
    (lambda: sequence.ctc(LP, [[1], [5]], [4, 4], [1, 1]), "the label 5, but there are 3 classes"),
    (lambda: sequence.ctc(LP, [[1], [2]], [4, 5], [1, 1]), "input_lengths has 5; expected whole numbers from 0 to 4"),
    (lambda: sequence.ctc(LP, [[1], [2]], [4, 4], [1, 2]), "target_lengths has 2; expected whole numbers from 0 to 1"),
    (lambda: sequence.ctc(LP, [[1], [2]], [4, 4], [1, -1]), "target_lengths has -1"),
    (lambda: sequence.ctc(LP, [1, 2, 1], [4, 4], [1, 1]), "concatenated targets have 3 labels but target_lengths sum to 2"),
    (lambda: sequence.ctc(LP, [[1], [2]], [4.5, 4], [1, 1]), "input_lengths must be whole numbers, got 4.5"),
    (lambda: sequence.ctc(LP, [[1], [2]], [4], [1, 1]), "input_lengths with shape (1,) does not match the batch"),
    (lambda: sequence.ctc(LP, [[1], [2]], [4, 4], [1, 1], reduction="avg"), "reduction must be one of"),
    (lambda: sequence.ctc(LP, [[1], [2]], [4, 4], [1, 1], zero_infinity="yes"), "zero_infinity must be True or False"),
    (lambda: sequence.ctc_alignments([1, 0], 3), "the label 0; expected labels of at least 0 other than the blank 0"),
    (lambda: sequence.ctc_alignments([1, 2] * 6, 40), "alignments of 12 labels over 40 frames is more than 100000"),
    (lambda: sequence.next_token_cross_entropy(np.zeros((2, 3)), [0, 1.0]), "targets must be integer token ids"),
    (lambda: sequence.next_token_cross_entropy(np.zeros((2, 3)), np.array([0, 3])), "token id 3 is out of range; expected 0 to 2"),
    (lambda: sequence.next_token_cross_entropy(np.zeros((2, 3)), np.array([0])), "expected shape (2,)"),
    (lambda: sequence.next_token_cross_entropy(np.zeros((2, 3)), np.array([0, 1]), label_smoothing=1.5),
     "label_smoothing must be in [0, 1], got 1.5"),
    (lambda: sequence.next_token_cross_entropy(np.zeros((2, 3)), np.array([-100, -100])),
     "every target equal to ignore_index=-100 is 0/0"),
    (lambda: sequence.next_token_cross_entropy(np.zeros(3), np.array(0)), "expected (N, T, C)"),
])
def test_bad_input_raises_a_message_that_names_it(call, fragment):
    with pytest.raises(ValueError) as error:
        call()
    assert fragment.lower() in str(error.value).lower()
