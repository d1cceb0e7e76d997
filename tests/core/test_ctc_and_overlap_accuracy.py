"""Last-bit accuracy of CTC's gradients and of the overlap (segmentation) losses, against mpmath.

Targeted cases for issue 16, each one that the earlier forms missed by far more than 4 ulp:

- CTC's occupancy :math:`\\gamma_t(k)`, which the log-space forward-backward formed as
  ``exp(log alpha + log beta - log P)``: the rounding of logs of size ``|log P|`` became its relative
  error (tens of ulp for five frames of logits at scale 30);
- focal Tversky of a saturated logit map (``|z| > ~708``), whose ``T^gamma`` came from logarithms;
- focal Tversky of probabilities below the normal range, where ``T`` itself is subnormal;
- the other overlap gradients, where the region's sums were plain sums.

The references are written here, in mpmath at 256 bits (77 digits): CTC's forward and backward
sums in probability space (no logs, nothing cancels: every term is positive), the softmax of the
exact logits, the overlap counts as exact sums. Errors are in units in the last place of the
reference; a gradient of one CTC frame (a vector over the classes) is measured normwise, as
``bench/accuracy.py`` does: a component below half the frame's largest in ulp of that largest one,
and for logits ``p - gamma`` in ulp of the larger of ``p``, ``gamma`` and the result.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from losslab import segmentation, sequence

mp = mpmath.mp
PRECISION_BITS = 256
ULP_BOUND = 4.0


@pytest.fixture(autouse=True)
def _precision():
    with mpmath.workprec(PRECISION_BITS):
        yield


def X(value) -> mpmath.mpf:
    """The exact value of a float."""
    return mpmath.mpf(float(value))


def ulp(x, dtype=np.float64) -> mpmath.mpf:
    info = np.finfo(dtype)
    bits = info.nmant + 1
    smallest = int(info.minexp) - bits + 1
    if x == 0:
        return mpmath.ldexp(1, smallest)
    _, exponent = mpmath.frexp(x)
    return mpmath.ldexp(1, max(int(exponent) - bits, smallest))


def rounded(x, dtype):
    """``x`` correctly rounded to ``dtype`` (an mpf); below the normal range, to the nearest subnormal step."""
    if x == 0 or not mpmath.isfinite(x):
        return x
    info = np.finfo(dtype)
    bits = info.nmant + 1
    if abs(x) < mpmath.ldexp(1, int(info.minexp)):
        step = mpmath.ldexp(1, int(info.minexp) - bits + 1)
        return mpmath.nint(x / step) * step
    with mpmath.workprec(bits):
        return +x


def error_in_ulp(computed, exact, dtype=np.float64, scale=None) -> float:
    """``|computed - round(exact)|`` in ulp of ``scale`` (default ``exact``); ``exact`` rounded first in float32."""
    target = exact if dtype == np.float64 else rounded(exact, dtype)
    size = abs(exact) if scale is None else scale
    if not np.isfinite(computed):
        return float("inf")
    return float(abs(X(computed) - target) / ulp(size, dtype))


# ------------------------------------------------------------------ CTC reference


def mp_ctc(values, labels, logits: bool, blank: int = 0):
    """``(loss, gradient, probabilities, occupancy)`` of one sequence: ``values`` (T, C) floats, exact.

    The forward sums :math:`\\alpha_t(s)` (frames 0..t, emission at t included) and backward sums
    :math:`\\beta_t(s)` (frames t+1..T-1) over the states of the target with blanks around its labels,
    in probability space; :math:`\\gamma_t(k) = \\sum_{s: l'_s = k} \\alpha_t(s) \\beta_t(s) / P`.
    The gradient is :math:`-\\gamma` for log-probabilities, :math:`p - \\gamma` for logits.
    """
    rows = [[X(v) for v in row] for row in values]
    if logits:
        probs = []
        for row in rows:
            top = max(row)
            weights = [mpmath.exp(v - top) for v in row]
            total = mpmath.fsum(weights)
            probs.append([w / total for w in weights])
    else:
        probs = [[mpmath.exp(v) for v in row] for row in rows]
    ext = [blank]
    for label in labels:
        ext += [label, blank]
    states, frames = len(ext), len(rows)

    def skip(s):
        return s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]

    alpha = [[mpmath.mpf(0)] * states for _ in range(frames)]
    alpha[0][0] = probs[0][ext[0]]
    if states > 1:
        alpha[0][1] = probs[0][ext[1]]
    for t in range(1, frames):
        for s in range(states):
            total = alpha[t - 1][s] + (alpha[t - 1][s - 1] if s >= 1 else 0) + (alpha[t - 1][s - 2] if skip(s) else 0)
            alpha[t][s] = total * probs[t][ext[s]]
    beta = [[mpmath.mpf(0)] * states for _ in range(frames)]
    beta[-1][-1] = mpmath.mpf(1)
    if states > 1:
        beta[-1][-2] = mpmath.mpf(1)
    for t in range(frames - 2, -1, -1):
        for s in range(states):
            total = beta[t + 1][s] * probs[t + 1][ext[s]]
            if s + 1 < states:
                total += beta[t + 1][s + 1] * probs[t + 1][ext[s + 1]]
            if s + 2 < states and skip(s + 2):
                total += beta[t + 1][s + 2] * probs[t + 1][ext[s + 2]]
            beta[t][s] = total
    probability = alpha[-1][-1] + (alpha[-1][-2] if states > 1 else 0)
    classes = len(rows[0])
    gamma = [[mpmath.mpf(0)] * classes for _ in range(frames)]
    for t in range(frames):
        for s in range(states):
            gamma[t][ext[s]] += alpha[t][s] * beta[t][s] / probability
    grad = [[(probs[t][k] if logits else 0) - gamma[t][k] for k in range(classes)] for t in range(frames)]
    return -mpmath.log(probability), grad, probs, gamma


def frame_errors(computed_row, exact_row, probs_row=None, gamma_row=None, dtype=np.float64) -> list[float]:
    """Normwise errors of one frame's gradient (see the module docstring)."""
    largest = max(abs(v) for v in exact_row)
    out = []
    for k, (c, e) in enumerate(zip(computed_row, exact_row, strict=True)):
        scale = largest if probs_row is None else max(largest, probs_row[k], gamma_row[k])
        out.append(error_in_ulp(c, e, dtype, scale if abs(e) * 2 < scale else None))
    return out


def ctc_problems(logits: bool, seed: int, scale: float, count: int = 3):
    """Batches of two sequences (5 and 4 frames of 4 classes; targets of 2 and 1 labels)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        z = rng.normal(0, scale, (5, 2, 4))
        if not logits:  # log_softmax in mpmath, rounded once: exact floats for the reference to read
            z = np.array([[[float(v) for v in _mp_log_softmax(row)] for row in frame] for frame in z])
        out.append((z, rng.integers(1, 4, (2, 2)), np.array([5, 4]), np.array([2, 1])))
    return out


def _mp_log_softmax(row):
    values = [X(v) for v in row]
    top = max(values)
    return [v - top - mpmath.log(mpmath.fsum(mpmath.exp(w - top) for w in values)) for v in values]


def worst_ctc_errors(logits: bool, seed: int, scale: float, dtype=np.float64):
    """``(worst gradient error, worst loss error)`` over a few batches, in ulp."""
    grad_function = sequence.ctc_with_logits_grad if logits else sequence.ctc_grad
    loss_function = sequence.ctc_with_logits if logits else sequence.ctc
    worst_grad = worst_loss = 0.0
    for values, targets, input_lengths, target_lengths in ctc_problems(logits, seed, scale):
        values = values.astype(dtype)
        grad = grad_function(values, targets, input_lengths, target_lengths)
        loss = loss_function(values, targets, input_lengths, target_lengths, reduction="none")
        assert grad.dtype == dtype and loss.dtype == dtype
        for n in range(values.shape[1]):
            frames = int(input_lengths[n])
            labels = [int(v) for v in targets[n, : target_lengths[n]]]
            exact_loss, exact_grad, probs, gamma = mp_ctc(values[:frames, n].astype(np.float64), labels, logits)
            worst_loss = max(worst_loss, error_in_ulp(loss[n], exact_loss, dtype))
            for t in range(frames):
                errors = frame_errors(grad[t, n], exact_grad[t], probs[t] if logits else None,
                                      gamma[t] if logits else None, dtype)
                worst_grad = max(worst_grad, *errors)
            assert np.all(grad[frames:, n] == 0)
    return worst_grad, worst_loss


def test_the_ctc_reference_is_the_sum_over_alignments():
    # one label over two frames: alignments "a a", "a _", "_ a"; P = p0(a) p1(a) + p0(a) p1(_) + p0(_) p1(a)
    values = np.log(np.array([[0.25, 0.75], [0.5, 0.5]]))
    loss, grad, _, gamma = mp_ctc(values, [1], logits=False)
    p = [[mpmath.exp(X(v)) for v in row] for row in values]
    total = p[0][1] * p[1][1] + p[0][1] * p[1][0] + p[0][0] * p[1][1]
    assert abs(loss + mpmath.log(total)) < mpmath.mpf(10) ** -70
    assert abs(gamma[0][1] - (p[0][1] * p[1][1] + p[0][1] * p[1][0]) / total) < mpmath.mpf(10) ** -70
    assert abs(grad[1][0] + p[0][1] * p[1][0] / total) < mpmath.mpf(10) ** -70


@pytest.mark.parametrize("logits", [False, True], ids=["log_probs", "logits"])
@pytest.mark.parametrize(("seed", "scale"), [(1, 3.0), (2, 30.0), (3, 30.0), (4, 100.0)])
def test_ctc_gradients_within_4_ulp(logits, seed, scale):
    worst_grad, worst_loss = worst_ctc_errors(logits, seed, scale)
    assert worst_loss <= ULP_BOUND, f"loss: {worst_loss:.3g} ulp"
    assert worst_grad <= ULP_BOUND, f"gradient: {worst_grad:.3g} ulp"


@pytest.mark.parametrize("logits", [False, True], ids=["log_probs", "logits"])
def test_ctc_gradients_in_float32_within_4_ulp_of_the_rounded_reference(logits):
    worst_grad, worst_loss = worst_ctc_errors(logits, 5, 30.0, np.float32)
    assert worst_loss <= ULP_BOUND and worst_grad <= ULP_BOUND, (worst_loss, worst_grad)


def test_ctc_gradient_where_the_scaled_recursion_underflows_still_matches_the_reference():
    """Probabilities of e^-1000 next to 1 in one frame: beyond float64's range relative to each other.

    The alignments of "a" over two frames: "_ a" and "a _" and "a a"; with p(a) = e^-1000 at both
    frames each has probability about e^-1000 and P = 2 e^-1000 (1 + e^-1000 / 2).
    """
    values = np.array([[0.0, -1000.0], [0.0, -1000.0]])
    grad = sequence.ctc_grad(values, [1], 2, 1)
    loss = sequence.ctc(values, [1], 2, 1, reduction="sum")
    exact_loss, exact_grad, _, _ = mp_ctc(values, [1], logits=False)
    assert error_in_ulp(loss, exact_loss) <= ULP_BOUND
    # log space: the occupancy is exp of a difference of logs of size 1000 (about 1000 ulp, not 1e16)
    for t in range(2):
        assert max(frame_errors(grad[t], exact_grad[t])) <= 2000


def test_a_sequence_computed_in_log_space_leaves_the_others_of_its_batch_exact():
    rng = np.random.default_rng(6)
    values = np.array([_mp_log_softmax(row) for row in rng.normal(0, 30, (5, 4))], dtype=float)
    batch = np.stack([np.array([[0.0, -1000.0, -1000.0, -1000.0]] * 5), values], axis=1)  # (5, 2, 4)
    targets = np.array([[1, 2], [3, 1]])
    grad = sequence.ctc_grad(batch, targets, [5, 5], [2, 2])
    _, exact_grad, _, _ = mp_ctc(values, [3, 1], logits=False)
    assert max(max(frame_errors(grad[t, 1], exact_grad[t])) for t in range(5)) <= ULP_BOUND
    _, exact_first, _, _ = mp_ctc(batch[:, 0], [1, 2], logits=False)
    assert max(max(frame_errors(grad[t, 0], exact_first[t])) for t in range(5)) <= 1e4


# ------------------------------------------------------------------ overlap losses
# Each row of ``maps`` is one region. The counts are exact sums of exact products (1 - p for a
# probability, sigma(-z) for a logit, so a saturated pixel keeps its false-negative mass), and a
# result below the normal range must be within one subnormal step of the correctly rounded value.


def mp_overlap(row, target_row, logits: bool, alpha, beta, smooth, gamma=None, want_scales=False):
    """``(loss, gradient)`` of Tversky (``gamma`` None) or focal Tversky of one region, exactly.

    :math:`T = A/D`, :math:`A = \\alpha\\,FP + \\beta\\,FN`, :math:`D = TP + A + s`;
    :math:`\\partial T/\\partial p_i = (a_i (TP + s) - A t_i)/D^2`, :math:`a_i = \\alpha(1 - t_i) - \\beta t_i`;
    focal: :math:`T^\\gamma` and :math:`\\gamma T^{\\gamma - 1} \\partial T/\\partial p_i`; logits: times
    :math:`\\sigma(z_i)\\sigma(-z_i)`. ``want_scales``: also the size of the larger of the gradient's two
    terms, :math:`\\max(|a_i (TP + s)|, |A t_i|)/D^2` (times the same factors).
    """
    alpha, beta, smooth = X(alpha), X(beta), X(smooth)
    t = [X(v) for v in target_row]
    if logits:
        z = [X(v) for v in row]
        p = [1 / (1 + mpmath.exp(-v)) for v in z]
        q = [1 / (1 + mpmath.exp(v)) for v in z]
    else:
        p = [X(v) for v in row]
        q = [1 - v for v in p]
    tp = mpmath.fsum(pi * ti for pi, ti in zip(p, t, strict=True))
    fp = mpmath.fsum(pi * (1 - ti) for pi, ti in zip(p, t, strict=True))
    fn = mpmath.fsum(qi * ti for qi, ti in zip(q, t, strict=True))
    errors = alpha * fp + beta * fn
    denominator = tp + errors + smooth
    loss = errors / denominator
    grad, scales = [], []
    for pi, qi, ti in zip(p, q, t, strict=True):
        a = alpha * (1 - ti) - beta * ti
        g = (a * (tp + smooth) - errors * ti) / denominator**2
        # the larger of the two terms that cancel for a soft target (see ``ill_conditioned``)
        scale = max(abs(a * (tp + smooth)), abs(errors * ti)) / denominator**2
        factor = X(gamma) * loss ** (X(gamma) - 1) if gamma is not None else 1
        slope = pi * qi if logits else 1
        grad.append(g * factor * slope)
        scales.append(scale * factor * slope)
    if want_scales:
        return (loss if gamma is None else loss ** X(gamma)), grad, scales
    return (loss if gamma is None else loss ** X(gamma)), grad


def result_error(computed, exact, dtype=np.float64) -> float:
    """Error in ulp; below the normal range, in subnormal steps beyond the first (0 when within one step)."""
    info = np.finfo(dtype)
    if abs(exact) < mpmath.mpf(float(info.tiny)):
        step = ulp(0, dtype)
        steps = float(abs(X(computed) - rounded(exact, dtype)) / step)
        return 0.0 if steps <= 1 else steps
    return error_in_ulp(computed, exact, dtype)


def worst_overlap_errors(name, maps, targets, logits, dtype=np.float64, **params):
    """``(worst loss error, worst gradient error, where)`` of ``segmentation.<name>`` over the rows (regions)."""
    maps, targets = np.asarray(maps, dtype), np.asarray(targets, dtype)
    loss = getattr(segmentation, name)(maps, targets, reduction="none", **params)
    grad = getattr(segmentation, f"{name}_grad")(maps, targets, **params)
    assert loss.dtype == dtype and grad.dtype == dtype
    base = name.removesuffix("_with_logits")
    weights = {"soft_dice": (0.5, 0.5, 0.5), "soft_iou": (1.0, 1.0, 1.0)}.get(
        base, (params.get("alpha", 0.3), params.get("beta", 0.7), 1.0))
    gamma = params.get("gamma", 0.75) if base == "focal_tversky" else None
    worst_loss = worst_grad = 0.0
    where_loss = where_grad = ""
    for r, (row, target_row) in enumerate(zip(maps, targets, strict=True)):
        exact_loss, exact_grad, scales = mp_overlap(row.astype(np.float64), target_row.astype(np.float64), logits,
                                                    weights[0], weights[1], weights[2] * params.get("smooth", 1.0),
                                                    gamma, want_scales=True)
        error = result_error(loss[r], exact_loss, dtype)
        if error > worst_loss:
            worst_loss = error
            where_loss = f"loss of row {r}: {loss[r]!r}, exact {mpmath.nstr(exact_loss, 17)}"
        for i, (e, scale) in enumerate(zip(exact_grad, scales, strict=True)):
            # ill-conditioned (soft targets, terms cancelling by more than 2): in ulp of the larger term,
            # as bench/accuracy.py measures it (no formula in working precision does better)
            error = (error_in_ulp(grad[r, i], e, dtype, scale) if abs(e) * 2 < scale
                     else result_error(grad[r, i], e, dtype))
            if error > worst_grad:
                worst_grad = error
                where_grad = f"gradient {r}, {i} of {row[i]!r}, {target_row[i]!r}: {grad[r, i]!r}, exact {mpmath.nstr(e, 17)}"
    return worst_loss, worst_grad, f"{where_loss}; {where_grad}"


def test_the_overlap_reference_is_the_closed_form():
    # Tversky of p = (1, 0), t = (1, 1), alpha = 0.3, beta = 0.7, s = 1: A = 0.7, D = 1 + 0.7 + 1
    # (the weights are the floats nearest 0.3 and 0.7, exactly)
    loss, grad = mp_overlap([1.0, 0.0], [1.0, 1.0], False, 0.3, 0.7, 1.0)
    beta = X(0.7)
    assert abs(loss - beta / (2 + beta)) < mpmath.mpf(10) ** -70
    # dT/dp_1 = (a (TP + s) - A t)/D^2 with a = -beta, TP + s = 2, A = beta: -3 beta / (2 + beta)^2
    assert abs(grad[1] + 3 * beta / (2 + beta) ** 2) < mpmath.mpf(10) ** -70


# every pixel saturated and right: T = A/D with A about e^-|z|, far below float64's range, T^gamma not
SATURATED = [([800.0, -800.0, 745.0], [1.0, 0.0, 1.0]), ([-1e5, 900.0, -750.0], [0.0, 1.0, 0.0]),
             ([710.0, -720.0, 730.0], [1.0, 0.0, 1.0]), ([-800.0, -800.0, 800.0], [0.0, 0.0, 1.0]),
             ([1000.0, -1000.0, 1200.0], [1.0, 0.0, 1.0])]


@pytest.mark.parametrize("gamma", [0.75, 0.5, 1.5])
def test_focal_tversky_with_logits_of_a_saturated_map_within_4_ulp(gamma):
    maps = np.array([m for m, _ in SATURATED])
    targets = np.array([t for _, t in SATURATED])
    worst_loss, worst_grad, where = worst_overlap_errors("focal_tversky_with_logits", maps, targets, True,
                                                         gamma=gamma)
    assert worst_loss <= ULP_BOUND and worst_grad <= ULP_BOUND, (worst_loss, worst_grad, where)


# probabilities below the normal range on the background: T below it too, T^gamma normal
SUBNORMAL = [([1e-310, 0.0, 1.0], [0.0, 0.0, 1.0]), ([5e-324, 3e-320, 1.0], [0.0, 0.0, 1.0]),
             ([2e-308, 1e-315, 1.0], [0.0, 0.0, 1.0]), ([1e-300, 1e-310, 1.0], [0.0, 0.0, 1.0]),
             ([1e-311, 1e-309, 0.0], [0.0, 0.0, 0.0])]


@pytest.mark.parametrize("gamma", [0.75, 0.5, 1.5])
def test_focal_tversky_of_probabilities_below_the_normal_range_within_4_ulp(gamma):
    maps = np.array([m for m, _ in SUBNORMAL])
    targets = np.array([t for _, t in SUBNORMAL])
    worst_loss, worst_grad, where = worst_overlap_errors("focal_tversky", maps, targets, False, gamma=gamma)
    assert worst_loss <= ULP_BOUND and worst_grad <= ULP_BOUND, (worst_loss, worst_grad, where)


# soft targets where a_i = alpha (1 - t) - beta t cancels (t = 0.3 with alpha = 0.3, beta = 0.7) or
# a_i (TP + s) - A t_i does (a_i > 0 and t_i > 0): the rounding of the region's sums is magnified
SOFT_ROWS = {
    False: ([0.999999999, 0.5206812772659678], [0.9, 0.3]),  # tversky_grad was 6.6 ulp off
    True: ([3.1622776601683792e-127, -3.162277660168379e-64, 3.1622776601683796e+194, 1e+265,
            3.1622776601683794e-289], [0.5, 0.3, 0.5, 0.999, 0.3]),  # soft_iou_with_logits_grad: 5.8
}


def overlap_regions(logits: bool, seed: int = 7):
    """The hand-picked soft rows, random 5-pixel soft rows, and 300-pixel regions, mostly wrong (loss near 1)."""
    rng = np.random.default_rng(seed)
    grid = np.concatenate([-np.logspace(-300, 300, 121), np.logspace(-300, 300, 121), rng.normal(0, 5, 60)]) \
        if logits else np.concatenate([np.logspace(-300, 0, 121), 1 - np.logspace(-16, 0, 40), rng.random(60)])
    regions = []
    row, target_row = SOFT_ROWS[logits]
    regions.append((np.array([row]), np.array([target_row])))
    values = rng.choice(grid, (20, 5))
    regions.append((values, rng.choice(np.array([0.3, 0.5, 0.9, 1e-3, 0.999]), (20, 5))))
    wrong = (rng.random((4, 300)) < 0.5).astype(float)
    if logits:
        guess = np.where(wrong == 1, rng.choice(grid[grid < 0], (4, 300)), rng.choice(grid[grid > 0], (4, 300)))
    else:
        guess = np.where(wrong == 1, rng.uniform(0, 0.1, (4, 300)), rng.uniform(0.9, 1, (4, 300)))
    regions.append((guess, wrong))
    return regions


@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("name", ["soft_dice", "soft_iou", "tversky", "focal_tversky"])
def test_overlap_losses_and_gradients_within_4_ulp(name, logits):
    function = f"{name}_with_logits" if logits else name
    worst = (0.0, 0.0, "")
    for maps, targets in overlap_regions(logits):
        result = worst_overlap_errors(function, maps, targets, logits)
        worst = max(worst, result, key=lambda r: max(r[0], r[1]))
    assert worst[0] <= ULP_BOUND and worst[1] <= ULP_BOUND, worst


@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
def test_overlap_gradients_in_float32_within_4_ulp_of_the_rounded_reference(logits):
    for name in ("soft_iou", "tversky", "focal_tversky"):
        function = f"{name}_with_logits" if logits else name
        for maps, targets in overlap_regions(logits, seed=8)[:2]:
            with np.errstate(over="ignore", under="ignore"):
                maps32 = maps.astype(np.float32)
            maps32 = np.where(np.isfinite(maps32), maps32, np.sign(maps32) * np.float32(1e30))
            worst_loss, worst_grad, where = worst_overlap_errors(function, maps32, targets, logits, np.float32)
            assert worst_loss <= ULP_BOUND and worst_grad <= ULP_BOUND, (function, where)


def test_a_large_map_keeps_a_nearly_perfect_regions_small_counts():
    # 4096 pixels (the 1e-17 pixels are far below an ulp of the foreground's sum, as in a 256x256 map,
    # at a sixteenth of the reference's time): background pixels of 1e-17 next to a foreground of ones;
    # exact sums keep FP
    prob = np.ones((1, 64, 64))
    target = np.ones((1, 64, 64))
    prob[0, 0, :7] = 1e-17
    target[0, 0, :7] = 0.0
    prob[0, 1, :5] = 1 - 2.0**-53
    maps, targets = prob.reshape(1, -1), target.reshape(1, -1)
    for name in ("soft_dice", "tversky"):
        worst_loss, worst_grad, where = worst_overlap_errors(name, maps, targets, False)
        assert worst_loss <= ULP_BOUND and worst_grad <= ULP_BOUND, (name, where)
