"""The sequence losses and the extra classification losses compute float32 in float32 (issue 16).

``assert_computed_in_float32`` compares the peak memory of a float32 call with a float64 call's (a float64
pass rounded once at the end allocates more than the float64 call, a float32 pass about half). Accuracy on
the atlas grid is ``test_accuracy_atlas.py``'s (float32 within 4 ulp of the float32-rounded mpmath
reference); here, CTC where float32's exponent range is too short for a probability-space recursion (250
frames, and 1000 with LOSSLAB_LONG; logits of +-80, targets longer than half the frames), against the float64
computation of the same float32 inputs, and parameters float32 cannot hold.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from losslab import extra_classification as ec
from losslab import sequence

from .atlas_checks import assert_computed_in_float32

RNG = np.random.default_rng(1638)
ROWS, CLASSES = 4096, 8  # 2^15 logits, so the arrays dominate the peak
FRAMES, BATCH, CTC_CLASSES, LABELS = 64, 32, 16, 12  # 2^15 log-probabilities


def _rows():
    logits = RNG.normal(0, 3, (ROWS, CLASSES))
    index = RNG.integers(0, CLASSES, ROWS)
    soft = RNG.dirichlet(np.ones(CLASSES), ROWS)
    return logits, index, soft


def _ctc_inputs(logits: bool):
    z = RNG.normal(0, 3, (FRAMES, BATCH, CTC_CLASSES))
    values = z if logits else z - np.log(np.exp(z).sum(-1, keepdims=True))
    targets = RNG.integers(1, CTC_CLASSES, (BATCH, LABELS))
    input_lengths = RNG.integers(FRAMES // 2, FRAMES + 1, BATCH)
    target_lengths = RNG.integers(1, LABELS + 1, BATCH)
    return values, targets, input_lengths, target_lengths


def _calls():
    logits, index, soft = _rows()
    weight = np.linspace(0.5, 3.0, CLASSES)
    scores = RNG.normal(0, 3, 1 << 15)
    signs = RNG.choice(np.array([-1.0, 1.0]), scores.size)
    tokens = np.where(RNG.random(ROWS) < 0.1, -100, index).reshape(64, 64)
    sequence_logits = logits.reshape(64, 64, CLASSES)
    calls = []
    for kind, target in (("index", index), ("soft", soft)):
        calls += [
            (f"weighted_cross_entropy[{kind}]",
             lambda z, y, w: ec.weighted_cross_entropy(z, y, weight=w, reduction="none"), (logits, target, weight)),
            (f"weighted_cross_entropy_grad[{kind}]",
             lambda z, y, w: ec.weighted_cross_entropy_grad(z, y, weight=w), (logits, target, weight)),
            (f"weighted_cross_entropy_and_grad[{kind}]",
             lambda z, y, w: ec.weighted_cross_entropy_and_grad(z, y, weight=w, reduction="none"),
             (logits, target, weight)),
            (f"label_smoothed_cross_entropy[{kind}]",
             lambda z, y: ec.label_smoothed_cross_entropy(z, y, reduction="none"), (logits, target)),
            (f"label_smoothed_cross_entropy_grad[{kind}]", ec.label_smoothed_cross_entropy_grad, (logits, target)),
            (f"label_smoothed_cross_entropy_and_grad[{kind}]",
             lambda z, y: ec.label_smoothed_cross_entropy_and_grad(z, y, reduction="none"), (logits, target)),
        ]
    calls += [
        ("squared_hinge", lambda s, t: ec.squared_hinge(s, t, reduction="none"), (scores, signs)),
        ("squared_hinge_grad", ec.squared_hinge_grad, (scores, signs)),
        ("squared_hinge_and_grad", lambda s, t: ec.squared_hinge_and_grad(s, t, reduction="none"), (scores, signs)),
        ("exponential", lambda s, t: ec.exponential(s, t, reduction="none"), (scores, signs)),
        ("exponential_grad", ec.exponential_grad, (scores, signs)),
        ("exponential_and_grad", lambda s, t: ec.exponential_and_grad(s, t, reduction="none"), (scores, signs)),
        ("next_token_cross_entropy",
         lambda z, y: sequence.next_token_cross_entropy(z, y, label_smoothing=0.1, reduction="none"),
         (sequence_logits, tokens)),
        ("next_token_cross_entropy_grad",
         lambda z, y: sequence.next_token_cross_entropy_grad(z, y, label_smoothing=0.1), (sequence_logits, tokens)),
        ("next_token_cross_entropy_and_grad",
         lambda z, y: sequence.next_token_cross_entropy_and_grad(z, y, label_smoothing=0.1, reduction="none"),
         (sequence_logits, tokens)),
    ]
    log_probs, logit_inputs = _ctc_inputs(False), _ctc_inputs(True)
    # ctc_grad and ctc_with_logits_grad take the _and_grad forms' path (with the loss left out)
    for name in ("ctc", "ctc_and_grad", "ctc_with_logits", "ctc_with_logits_and_grad"):
        function = getattr(sequence, name)
        calls.append((name, (lambda f: lambda *a: f(*a, reduction="none"))(function),
                      logit_inputs if "logits" in name else log_probs))
    return calls


CALLS = _calls()


@pytest.mark.parametrize("index", range(len(CALLS)), ids=[c[0] for c in CALLS])
def test_float32_is_computed_in_float32(index):
    _name, function, args = CALLS[index]
    assert_computed_in_float32(function, args)


# ------------------------------------------------------------ CTC past float32's exponent range


def _confident_ctc(seed: int, *, correct: bool, frames: int = 1000, classes: int = 30, labels: int = 600):
    """One sequence of ``frames`` frames with logits of +-80 and a target of ``labels`` labels (more than half
    the frames): the logits favour an alignment of the target (``correct``) or random classes."""
    rng = np.random.default_rng(seed)
    target = rng.integers(1, classes, labels)
    for i in range(1, labels):  # no repeated neighbours: the alignment needs no blank between them
        while target[i] == target[i - 1]:
            target[i] = rng.integers(1, classes)
    # an alignment: each label on one or two frames, blanks where frames are left
    path = np.zeros(frames, np.int64)
    starts = np.sort(rng.choice(frames - 1, labels, replace=False))
    path[starts] = target
    favoured = path if correct else rng.integers(0, classes, frames)
    logits = rng.uniform(-80, 80, (frames, classes))
    logits[np.arange(frames), favoured] = 80.0
    return logits.astype(np.float32), target


def _ulp32(x: np.ndarray) -> np.ndarray:
    return np.spacing(np.abs(x).astype(np.float32)).astype(np.float64)


def _assert_close_to_float64(loss32, grad32, loss64, grad64, *, terms=None):
    """The loss within 2 ulp; each frame's gradient normwise, within 2 ulp of its largest component, or, where
    that component is below half the largest term it is the difference of (``terms``: the softmax p, which
    gamma then equals to within that component), within 1 ulp of that term (the atlas's ill-conditioned
    measure)."""
    assert np.isfinite(loss32) and np.all(np.isfinite(grad32))
    assert abs(float(loss32) - loss64) <= 2 * _ulp32(loss64), (float(loss32), loss64)
    largest = np.abs(grad64).max(axis=-1, keepdims=True)
    tolerance = 2 * _ulp32(largest)
    if terms is not None:
        term = terms.max(axis=-1, keepdims=True)
        tolerance = np.where(largest < term / 2, _ulp32(term), tolerance)
    error = np.abs(grad32 - grad64)
    assert np.all(error <= tolerance), np.max(error / tolerance)


def _softmax64(logits):
    z = logits.astype(np.float64)
    w = np.exp(z - z.max(axis=-1, keepdims=True))
    return w / w.sum(axis=-1, keepdims=True)


# the 1000-frame cases take a few seconds each: collected with LOSSLAB_LONG=1 only (not skipped)
LONG = bool(os.environ.get("LOSSLAB_LONG"))
LOSS_CASES = [("random-250", 250, 130, False)]  # the loss-only recursion over a long sequence, always
LOSS_CASES += [("random-1000", 1000, 600, False), ("aligned-1000", 1000, 600, True)] if LONG else []


@pytest.mark.parametrize(("frames", "labels", "correct"), [case[1:] for case in LOSS_CASES],
                         ids=[case[0] for case in LOSS_CASES])
def test_ctc_loss_with_logits_of_80_over_long_sequences_is_accurate_in_float32(frames, labels, correct):
    logits, target = _confident_ctc(7 + correct, correct=correct, frames=frames, labels=labels)
    lengths = (np.array(len(logits)), np.array(len(target)))
    loss32 = sequence.ctc_with_logits(logits, target, *lengths, reduction="sum")
    loss64 = sequence.ctc_with_logits(logits.astype(np.float64), target, *lengths, reduction="sum")
    assert loss32.dtype == np.float32 and np.isfinite(loss32)
    assert abs(float(loss32) - loss64) <= 2 * _ulp32(loss64), (float(loss32), loss64)


@pytest.mark.parametrize(("frames", "labels"), [(250, 130), *([(1000, 600)] if LONG else [])])
@pytest.mark.parametrize("correct", [False, True], ids=["random", "aligned"])
def test_ctc_gradient_with_logits_of_80_over_long_sequences_is_accurate_in_float32(correct, frames, labels):
    logits, target = _confident_ctc(7 + correct, correct=correct, frames=frames, labels=labels)
    lengths = (np.array(len(logits)), np.array(len(target)))
    loss32, grad32 = sequence.ctc_with_logits_and_grad(logits, target, *lengths, reduction="sum")
    loss64, grad64 = sequence.ctc_with_logits_and_grad(logits.astype(np.float64), target, *lengths, reduction="sum")
    assert loss32.dtype == np.float32 and grad32.dtype == np.float32
    _assert_close_to_float64(loss32, grad32, loss64, grad64, terms=_softmax64(logits))


@pytest.mark.parametrize(("frames", "labels"), [(250, 130), *([(1000, 520)] if LONG else [])])
def test_ctc_of_log_probabilities_of_a_long_confident_sequence_is_accurate_in_float32(frames, labels):
    logits, target = _confident_ctc(11, correct=False, frames=frames, labels=labels)
    log_probs = (logits - np.log(np.exp(logits.astype(np.float64) - logits.max(-1, keepdims=True)).sum(-1,
                 keepdims=True)) - logits.max(-1, keepdims=True)).astype(np.float32)
    lengths = (np.array(len(logits)), np.array(len(target)))
    loss32, grad32 = sequence.ctc_and_grad(log_probs, target, *lengths, reduction="sum")
    loss64, grad64 = sequence.ctc_and_grad(log_probs.astype(np.float64), target, *lengths, reduction="sum")
    _assert_close_to_float64(loss32, grad32, loss64, grad64)


def test_a_tiny_ctc_loss_keeps_its_digits_in_float32():
    # nearly certain frames (margins of 12): the loss, about 1e-4, is far below the ulp of the
    # log-probabilities' sums a plain float32 recursion would carry; it is computed to an ulp
    rng = np.random.default_rng(5)
    frames, classes = 200, 6
    target = np.array([1, 2, 3, 4, 5] * 20)
    path = np.zeros(frames, np.int64)
    path[np.arange(0, 200, 2)] = target
    logits = np.where(np.arange(classes)[None, :] == path[:, None], 12.0, rng.uniform(-2, 0, (frames, classes)))
    logits = logits.astype(np.float32)
    lengths = (np.array(frames), np.array(target.size))
    loss32 = sequence.ctc_with_logits(logits, target, *lengths, reduction="sum")
    loss64 = sequence.ctc_with_logits(logits.astype(np.float64), target, *lengths, reduction="sum")
    assert 1e-5 < loss64 < 1e-2
    assert abs(float(loss32) - loss64) <= 2 * np.spacing(np.float32(loss64))


def test_an_impossible_ctc_target_gives_inf_and_nan_in_float32_as_in_float64():
    log_probs = np.log(np.full((2, 3), 1 / 3, np.float32))
    target, lengths = np.array([1, 1]), (np.array(2), np.array(2))  # "aa" needs 3 frames
    assert sequence.ctc(log_probs, target, *lengths) == np.inf
    assert np.all(np.isnan(sequence.ctc_grad(log_probs, target, *lengths)))
    loss, grad = sequence.ctc_and_grad(log_probs, target, *lengths, zero_infinity=True)
    assert loss == 0 and np.all(grad == 0) and grad.dtype == np.float32


# ------------------------------------------------------------ parameters float32 cannot hold


def test_a_class_weight_past_float32_max_sends_float32_to_float64():
    logits = np.array([[1.0, 2.0, -1.0]], np.float32)
    weight = np.array([1e39, 1.0, 2.0])
    loss, grad = ec.weighted_cross_entropy_and_grad(logits, np.array([0]), weight=weight, reduction="none")
    p = np.exp(logits[0].astype(np.float64)) / np.exp(logits[0].astype(np.float64)).sum()
    # 1e39 (1 - p_0) and 1e39 p_1 are past float32 max, 1e39 p_2 = 3.5e37 is not (a float32 weight of inf
    # would make it inf)
    assert loss.dtype == grad.dtype == np.float32
    assert loss[0] == np.inf and grad[0, 0] == -np.inf and grad[0, 1] == np.inf
    assert grad[0, 2] == np.float32(1e39 * p[2])


def test_label_smoothing_below_float32s_range_is_computed_in_float64():
    logits = np.array([[0.5, -3.0, 1.0]], np.float32)
    loss, grad = ec.label_smoothed_cross_entropy_and_grad(logits, np.array([1]), label_smoothing=1e-300,
                                                          reduction="none")
    z = logits.astype(np.float64)[0]
    p = np.exp(z) / np.exp(z).sum()
    assert loss.dtype == grad.dtype == np.float32
    assert loss[0] == np.float32(-np.log(p[1]))
    assert np.array_equal(grad[0], (p - np.eye(3)[1]).astype(np.float32))
