r"""Sequence losses: connectionist temporal classification (CTC) and next-token cross-entropy.

``ctc`` is PyTorch's ``torch.nn.functional.ctc_loss`` (same arguments, same
order, same reductions): per-frame log-probabilities ``log_probs`` of shape
``(T, N, C)`` (frames, batch, classes including the blank) or ``(T, C)`` for one
sequence, integer ``targets`` (padded ``(N, S)`` or concatenated ``(sum S_n,)``;
``(S,)`` for one sequence), and the lengths of each input and target. Its loss
is :math:`-\log` of the total probability of every frame-by-frame alignment
that collapses to the target, computed in log space by the forward (alpha)
recursion of Graves et al. 2006, vectorised over the batch. The gradients'
occupancies come from a scaled forward-backward in probability space (Rabiner's
scaling, by powers of two), which keeps them to a few ulp; log space is kept
for the sequences whose probabilities within one frame span more than the
float range.

``next_token_cross_entropy`` is PyTorch's ``cross_entropy(..., label_smoothing=ε,
ignore_index=i)`` on logits ``(N, T, C)`` or ``(T, C)`` with token ids ``(N, T)``
or ``(T,)``, the class axis last (the layout of a language model's output).

float32 is computed in float32, with no float64 array. Its exponent range (e^-103 to e^88) is too short
for the probability-space recursion (one frame's emissions for logits of +-80 span e^160), and a plain
float32 log-space recursion would round each frame by an ulp of :math:`|\log\alpha|` (hundreds of ulp over a
long sequence), so float32 CTC runs the forward and backward recursions in log space with every value a
float32 double word (about 48 bits: ``losslab._double_word``'s error-free sums, ``exp_scaled`` to about
:math:`2^{-29}`, a Newton-corrected ``log``); the loss and each occupancy are rounded once at the end, the
occupancies of one class summed exactly (``_double_word.row_sums``). The logit forms take the log-softmax as
double words too (``log_softmax`` rounded to float32 would cost :math:`|\log p|/2` ulp). Five to ten
times the float64 time. The occupancies carry their logs' rounding, about :math:`2^{-48} |\log P|`: log-probabilities
past about 1e9 on the paths that matter (-3e38) leave them inaccurate (float64's log-space fallback has the same
limit at its own precision). A sequence whose float32 log-probabilities could leave float32's range (a frame's
logits spanning more than float32 max, where :math:`z - \log\sum e^z` is -inf in float32, or log-probabilities
whose largest values summed over the frames reach :math:`2^{126}`) is computed in float64 and rounded once, the
batch's other sequences staying in float32. Any other float dtype (longdouble) is computed in float64. Next-token
cross-entropy is label-smoothed cross-entropy's float32 computation. float32 in gives float32 out. Gradients
follow the package's convention: the derivative of the unreduced losses (each
sample's own), shaped like the first argument; the ``reduction="mean"`` variants
say how to scale them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from losslab import _double_word as dw
from losslab._double_word import two_sum
from losslab._validation import (
    Interval,
    as_float_array,
    reduce,
    result_dtype,
    validate_reduction,
)
from losslab.activations import log_softmax, softmax
from losslab.extra_classification import label_smoothed_cross_entropy_and_grad

#: more alignments than this are not listed by :func:`ctc_alignments` (they grow exponentially with T)
MAX_ALIGNMENTS = 100_000


# ------------------------------------------------------------------ validation


@dataclass(frozen=True)
class _CtcProblem:
    """Validated CTC inputs, batched: log-probabilities (T, N, C) in float32 or float64 and integer arrays
    (float32 logits forms: ``log_probs`` holds the logits too, which ``_ctc32`` normalises itself)."""

    log_probs: np.ndarray
    labels: np.ndarray  # (N, S) padded with the blank
    input_lengths: np.ndarray  # (N,)
    target_lengths: np.ndarray  # (N,)
    blank: int
    dtype: np.dtype
    unbatched: bool
    logits: np.ndarray | None = None  # (T, N, C) float64 for the logit forms: the occupancy's weights come from them


def _integers(value, name: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"{name} must be whole numbers, got {value!r}")
    if np.issubdtype(array.dtype, np.floating):
        bad = ~np.isfinite(array) | (array != np.round(array)) if array.size else np.zeros(0, bool)
        if np.any(bad):
            raise ValueError(f"{name} must be whole numbers, got {array[bad].ravel()[0].item()!r}")
    return array.astype(np.int64)


def _lengths(value, name: str, batch: int, unbatched: bool, high: int | None, what: str) -> np.ndarray:
    array = _integers(value, name)
    expected = () if unbatched else (batch,)
    if unbatched and array.shape == (1,):
        array = array.reshape(())
    if array.shape != expected:
        raise ValueError(f"{name} with shape {array.shape} does not match the batch; expected shape {expected} "
                         f"(one length per sequence)")
    bad = (array < 0) | (array > (np.iinfo(np.int64).max if high is None else high))
    if np.any(bad):
        expected = "whole numbers of at least 0" if high is None else f"whole numbers from 0 to {high}"
        raise ValueError(f"{name} has {array[bad].ravel()[0].item()}; expected {expected}{what}")
    return array.reshape(-1)


def _padded_targets(targets, target_lengths: np.ndarray, batch: int, unbatched: bool) -> np.ndarray:
    """Targets as (N, S) padded rows, from padded or concatenated (PyTorch's two layouts)."""
    array = _integers(targets, "targets")
    if unbatched:
        if array.ndim != 1:
            raise ValueError(f"targets with shape {array.shape} for one sequence; expected shape (S,)")
        return array[None, :]
    if array.ndim == 2:
        if array.shape[0] != batch:
            raise ValueError(f"targets with shape {array.shape} do not match a batch of {batch}; "
                             f"expected shape ({batch}, S) or concatenated targets of shape (sum of target_lengths,)")
        return array
    if array.ndim == 1:
        total = int(target_lengths.sum())
        if array.size != total:
            raise ValueError(f"concatenated targets have {array.size} labels but target_lengths sum to {total}; "
                             "expected one label per counted position")
        width = int(target_lengths.max(initial=0))
        padded = np.zeros((batch, width), dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(target_lengths)[:-1]]).astype(np.int64)
        for n in range(batch):  # a Python loop over sequences, not frames: only builds the layout
            padded[n, : target_lengths[n]] = array[starts[n]: starts[n] + target_lengths[n]]
        return padded
    raise ValueError(f"targets with shape {array.shape}; expected (N, S) padded or (sum of target_lengths,) "
                     "concatenated")


def _ctc_problem(log_probs, targets, input_lengths, target_lengths, blank, *, name="log_probs") -> _CtcProblem:
    dtype = result_dtype(log_probs)
    array = as_float_array(log_probs, name, dtype)
    if array.ndim not in (2, 3):
        raise ValueError(f"{name} with shape {array.shape}; expected (T, N, C) frames x batch x classes, "
                         "or (T, C) for one sequence")
    unbatched = array.ndim == 2
    # float32 is computed in float32 (see _ctc32); any other float (longdouble) in float64
    values = array if array.dtype in (np.float32, np.float64) else array.astype(np.float64)
    values = values[:, None, :] if unbatched else values
    frames, batch, classes = values.shape
    if classes == 0:
        raise ValueError(f"{name} has no classes (shape {array.shape}); expected at least the blank")
    if values.size and (np.isnan(values.min()) or np.isnan(values.max()) or values.max() == np.inf):
        bad = values[np.isnan(values) | (values == np.inf)].ravel()[0].item()
        raise ValueError(f"{name} contain {bad!r}; expected real numbers or -inf (log of a zero probability)")
    if isinstance(blank, bool) or not isinstance(blank, int | np.integer) or not 0 <= blank < classes:
        raise ValueError(f"blank must be a class index from 0 to {classes - 1}, got {blank!r}")
    inputs = _lengths(input_lengths, "input_lengths", batch, unbatched, frames,
                      f" (the {frames} frames of log_probs)")
    # the target width is known only after the lengths: check them against it below
    lengths = _lengths(target_lengths, "target_lengths", batch, unbatched, None, "")
    labels = _padded_targets(targets, lengths, batch, unbatched)
    width = labels.shape[1]
    if np.any(lengths > width):
        bad = lengths[lengths > width][0]
        raise ValueError(f"target_lengths has {bad}; expected whole numbers from 0 to {width} "
                         f"(the targets' width)")
    used = np.arange(width)[None, :] < lengths[:, None]
    wrong = used & ((labels < 0) | (labels >= classes) | (labels == blank))
    if np.any(wrong):
        label = labels[wrong][0]
        reason = f"it is the blank ({blank})" if label == blank else f"there are {classes} classes"
        raise ValueError(f"targets contain the label {label}, but {reason}; expected labels from 0 to "
                         f"{classes - 1} other than the blank {blank}")
    labels = np.where(used, labels, blank)
    return _CtcProblem(values, labels, inputs, lengths, int(blank), np.dtype(dtype), unbatched)


# ------------------------------------------------------------------ the recursion


def _extended_labels(problem: _CtcProblem):
    """The target with a blank before, between and after its labels: l' of length 2 S + 1 per sequence.

    Returns ``(ext, valid, skip)``, each (N, L): the labels, whether a state exists for that sequence
    (s < 2 S_n + 1), and whether state s may be entered from s - 2 (a label differing from l'_{s-2}).
    """
    batch, width = problem.labels.shape
    ext = np.full((batch, 2 * width + 1), problem.blank, dtype=np.int64)
    ext[:, 1::2] = problem.labels
    states = np.arange(2 * width + 1)
    valid = states[None, :] < 2 * problem.target_lengths[:, None] + 1
    skip = np.zeros_like(valid)
    skip[:, 2:] = (ext[:, 2:] != problem.blank) & (ext[:, 2:] != ext[:, :-2])
    return ext, valid, skip


def _shift(values: np.ndarray, by: int) -> np.ndarray:
    """``values`` moved ``by`` states along the last axis (right for > 0), -inf where nothing moved in."""
    out = np.full_like(values, -np.inf)
    if by > 0:
        out[..., by:] = values[..., :-by]
    else:
        out[..., :by] = values[..., -by:]
    return out


def _forward_backward(problem: _CtcProblem, backward: bool = True):
    """``(log P, alpha, beta, ext)``: log-probability of the target per sequence and the log-space lattices.

    ``alpha[t, n, s]``: log-probability of the frames 0..t ending in state s (emission at t included);
    ``beta[t, n, s]``: of the frames t+1..T_n-1 continuing from state s to the end (emission at t
    excluded), so ``alpha + beta - log P`` is the log-probability that state s is occupied at frame t.
    Each step is :func:`numpy.logaddexp` of at most three predecessors: no overflow, and a state no
    path reaches stays exactly -inf. ``backward=False`` skips beta (returned as None): the loss
    needs only alpha.
    """
    ext, valid, skip = _extended_labels(problem)
    frames, batch, _classes = problem.log_probs.shape
    states = ext.shape[1]
    emission = np.take_along_axis(problem.log_probs, ext[None, :, :], axis=2)  # (T, N, L)
    emission = np.where(valid[None], emission, -np.inf)
    # two states of -inf before the first: a state's predecessors are plain slices; a skip that is
    # not allowed adds -inf (and an allowed one 0, exactly)
    padded = np.full((frames, batch, states + 2), -np.inf)
    skip_penalty = np.where(skip, 0.0, -np.inf)
    if frames:
        padded[0, :, 2:4] = emission[0, :, :2]
    for t in range(1, frames):
        previous = padded[t - 1]
        from_skip = previous[:, :-2] + skip_penalty
        np.add(emission[t], np.logaddexp(previous[:, 2:], np.logaddexp(previous[:, 1:-1], from_skip)),
               out=padded[t, :, 2:])
    alpha = padded[:, :, 2:]
    lengths = problem.input_lengths
    rows = np.arange(batch)
    last_state = 2 * problem.target_lengths  # the final blank; the final label is one before it
    log_p = np.full(batch, -np.inf)
    if frames:  # (no frames at all: every length is 0, set below)
        at_end = alpha[np.maximum(lengths - 1, 0), rows]  # (N, L)
        final_blank = at_end[rows, last_state]
        final_label = np.where(last_state > 0, at_end[rows, np.maximum(last_state - 1, 0)], -np.inf)
        log_p = np.logaddexp(final_blank, final_label)
    # no frames: only the empty target has an alignment (the empty one), with probability 1
    log_p = np.where(lengths == 0, np.where(problem.target_lengths == 0, 0.0, -np.inf), log_p)
    if not backward:
        return log_p, alpha, None, ext

    state_index = np.arange(states)[None, :]
    final_states = (state_index == last_state[:, None]) | (state_index == last_state[:, None] - 1)
    end_value = np.where(final_states, 0.0, -np.inf)
    beta = np.full((frames, batch, states), -np.inf)
    for t in range(frames - 1, -1, -1):
        if t < frames - 1:
            following = emission[t + 1] + beta[t + 1]
            to_skip = _shift(np.where(skip, following, -np.inf), -2)
            recursed = np.logaddexp(following, np.logaddexp(_shift(following, -1), to_skip))
        else:
            recursed = np.full((batch, states), -np.inf)
        is_last = (t == lengths - 1)[:, None]
        inside = (t < lengths - 1)[:, None]
        beta[t] = np.where(is_last, end_value, np.where(inside, recursed, -np.inf))
    return log_p, alpha, beta, ext


def _occupancy(problem: _CtcProblem, log_p, alpha, beta, ext) -> np.ndarray:
    r""":math:`\gamma_t(k)`: the posterior probability that frame t emits class k, (T, N, C).

    Summed over the states carrying label k; 0 beyond a sequence's frames, NaN for a sequence
    with no alignment (its posterior is 0/0).
    """
    frames, batch, classes = problem.log_probs.shape
    possible = np.isfinite(log_p)
    # an impossible sequence's log P (-inf) is replaced by 0 here, and its posterior set to NaN below
    log_state = alpha + beta - np.where(possible, log_p, 0.0)[None, :, None]
    state_occupancy = np.exp(log_state)  # alpha, beta <= log P: no overflow
    gamma = np.zeros((frames, batch, classes))
    rows = np.arange(batch)
    for s in range(ext.shape[1]):  # over states; each (sequence, label) pair of one state is distinct
        gamma[:, rows, ext[:, s]] += state_occupancy[:, :, s]
    gamma[:, ~possible, :] = np.nan
    return gamma


# ------------------------------------------------------------------ the scaled recursion, for the occupancy

#: a frame whose largest scaled forward or backward value is below this, before rescaling, has lost
#: digits to the subnormal range (an emission more than ~660 nats below the frame's best one)
_LOWEST_SCALE = 2.0**-960
#: a frame whose sum of alpha-hat beta-hat is below this may have lost alignments that matter to
#: underflow: those are less than 2^-1022 of the frame's largest alpha-hat times its largest beta-hat
_LOWEST_TOTAL = 2.0**-800


def _scaled_emissions(problem: _CtcProblem, ext: np.ndarray, valid: np.ndarray) -> np.ndarray:
    r"""(T, N, L): each state's emission weight :math:`e^{v_t(l'_s) - m_t}`, 0 for a state that does not exist.

    :math:`v` is the logits for the logit forms (the log-softmax's normaliser is the same for every
    class of a frame, and the occupancy does not depend on a frame's common factor) and the
    log-probabilities otherwise; :math:`m_t` is the frame's largest :math:`v` over the sequence's
    states, so the largest weight is 1. The rounding error of :math:`v - m_t` (two-sum) is put back,
    :math:`e^{d + \epsilon} = e^d (1 + \epsilon)`: it would cost :math:`|v - m_t|/2` ulp.
    """
    source = problem.logits if problem.logits is not None else problem.log_probs
    values = np.where(valid[None], np.take_along_axis(source, ext[None, :, :], axis=2), -np.inf)
    shift = values.max(axis=2, keepdims=True)  # every sequence has a state: the first blank
    shift = np.where(np.isfinite(shift), shift, 0.0)  # a frame with no possible state: all weights 0
    with np.errstate(over="ignore", invalid="ignore"):  # -inf - m, or a spread past float max: weight 0
        difference, error = two_sum(values, -shift)
        weights = np.exp(difference)
        weights += weights * np.where(np.isfinite(error), error, 0.0)
    return weights


def _rescale(values: np.ndarray) -> np.ndarray:
    """Multiply ``values`` (N, L) in place by the power of two that brings each row's largest into [1, 2)
    (exact: only the exponent changes); returns those largest values before the scaling."""
    largest = values.max(axis=1)
    # the factor's bits from the largest's biased exponent b (largest in [2^(b-1023), 2^(b-1022))):
    # 2^(1023 - b + 1023 - 1023); a row of 0 or of subnormals (b = 0, doubtful anyway) gets 2^1023
    biased = largest.view(np.int64) >> 52
    values *= ((2046 - biased) << 52).view(np.float64)[:, None]
    return largest


def _scaled_occupancy(problem: _CtcProblem, ext: np.ndarray, valid: np.ndarray,
                      skip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""``(gamma, doubtful)``: the occupancy :math:`\gamma_t(k)` (T, N, C) from a scaled forward-backward.

    Rabiner's scaling: :math:`\hat\alpha_t` and :math:`\hat\beta_t` are the forward and backward sums
    (see :func:`_forward_backward`) in probability space, each frame multiplied by a power of two
    (exact) that keeps its largest entry in [1, 2), and

    .. math:: \gamma_t(s) = \hat\alpha_t(s)\,\hat\beta_t(s) \Big/ \sum_{s'} \hat\alpha_t(s')\,\hat\beta_t(s')

    since :math:`\sum_s \alpha_t(s) \beta_t(s) = P` at every frame and the scales cancel. Every step
    adds and multiplies positive numbers, so each occupancy keeps a few ulp; in log space
    :math:`\exp(\log\alpha + \log\beta - \log P)` carried the rounding of logs of size
    :math:`|\log P|` (hundreds of ulp). ``doubtful`` (N,) marks the sequences for which this cannot
    be trusted, because weights of one frame span more than the float range (a frame's largest value
    fell below ``_LOWEST_SCALE``, or the frame's sum below ``_LOWEST_TOTAL``), because no alignment
    exists, or because the sequence has no frames: the caller computes those in log space.
    """
    emission = _scaled_emissions(problem, ext, valid)
    frames, batch, states = emission.shape
    lengths = problem.input_lengths
    # two states of zeros before the first (alpha) and after the last (beta): the predecessors and
    # successors of every state are then plain slices; a skip's weight is 1 or 0 (exact)
    skips = np.zeros((batch, states + 2))
    skips[:, 2:] = skip  # skips[:, s + 2]: state s entered from s - 2
    skips_ahead = np.zeros((batch, states))
    skips_ahead[:, :-2] = skip[:, 2:]  # skips_ahead[:, s]: state s + 2 entered from s
    alpha = np.zeros((frames, batch, states + 2))
    beta = np.zeros((frames, batch, states + 2))
    largest_alpha = np.zeros((frames, batch))
    largest_beta = np.ones((frames, batch))
    if frames:
        alpha[0, :, 2:4] = emission[0, :, :2]
        largest_alpha[0] = _rescale(alpha[0, :, 2:])
    for t in range(1, frames):
        previous = alpha[t - 1]
        now = alpha[t, :, 2:]
        np.add(previous[:, 2:], previous[:, 1:-1], out=now)
        now += previous[:, :-2] * skips[:, 2:]
        now *= emission[t]
        largest_alpha[t] = _rescale(now)
    last_state = 2 * problem.target_lengths
    state_index = np.arange(states)[None, :]
    end_value = ((state_index == last_state[:, None]) | (state_index == last_state[:, None] - 1)).astype(float)
    frame_index = np.arange(frames)[:, None]
    inside = (frame_index < lengths[None, :] - 1).astype(float)[:, :, None]  # (T, N, 1): 1 or 0
    ends = frame_index == lengths[None, :] - 1
    following = np.zeros((batch, states + 2))
    any_end = ends.any(axis=1).tolist()
    for t in range(frames - 1, -1, -1):
        now = beta[t, :, :states]
        if t < frames - 1:
            np.multiply(emission[t + 1], beta[t + 1, :, :states], out=following[:, :states])
            np.add(following[:, :states], following[:, 1:-1], out=now)
            now += following[:, 2:] * skips_ahead
            now *= inside[t]
        if any_end[t]:
            now[ends[t]] = end_value[ends[t]]
        largest_beta[t] = _rescale(now)
    alpha, beta = alpha[:, :, 2:], beta[:, :, :states]
    products = alpha * beta
    total = products.sum(axis=2, keepdims=True)
    used = frame_index < lengths[None, :]
    doubtful = (lengths == 0) | np.any(used & ~((largest_alpha >= _LOWEST_SCALE) & (total[:, :, 0] >= _LOWEST_TOTAL)),
                                       axis=0)
    doubtful |= np.any((inside[:, :, 0] > 0) & ~(largest_beta >= _LOWEST_SCALE), axis=0)
    products /= np.where(total > 0, total, 1.0)
    # gamma_t(k): the states carrying label k added up, as a product with each sequence's one-hot labels
    labels = np.zeros((batch, states, problem.log_probs.shape[2]))
    np.put_along_axis(labels, ext[:, :, None], 1.0, axis=2)
    gamma = np.matmul(products.transpose(1, 0, 2), labels).transpose(1, 0, 2)
    return np.ascontiguousarray(gamma), doubtful


def _sequences(problem: _CtcProblem, chosen: np.ndarray) -> _CtcProblem:
    """The sub-problem of the sequences where ``chosen`` (N,) is True."""
    return _CtcProblem(problem.log_probs[:, chosen], problem.labels[chosen], problem.input_lengths[chosen],
                       problem.target_lengths[chosen], problem.blank, problem.dtype, False,
                       None if problem.logits is None else problem.logits[:, chosen])


def _occupancy_and_log_p(problem: _CtcProblem, want_loss: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(gamma, log P)``: the occupancy from the scaled recursion, and from log space where that is doubtful.

    ``log P`` comes from the log-space forward recursion (accurate where the loss is tiny, which a
    product of scale factors is not) when ``want_loss``; otherwise it is only what the gradient
    needs: 0 (any finite value) for the sequences the scaled recursion computed, which have alignments.
    """
    ext, valid, skip = _extended_labels(problem)
    gamma, doubtful = _scaled_occupancy(problem, ext, valid, skip)
    log_p = _forward_backward(problem, backward=False)[0] if want_loss else np.zeros(len(doubtful))
    if np.any(doubtful):
        # weights of one frame beyond the float range of each other (or no alignment): log space,
        # where the occupancy is exp(log alpha + log beta - log P), as accurate as |log P| allows
        part = _sequences(problem, doubtful)
        part_log_p, alpha, beta, part_ext = _forward_backward(part)
        gamma[:, doubtful] = _occupancy(part, part_log_p, alpha, beta, part_ext)
        log_p[doubtful] = part_log_p
    return gamma, log_p


def _frame_mask(problem: _CtcProblem) -> np.ndarray:
    """(T, N, 1): True on the frames each sequence uses."""
    frames = problem.log_probs.shape[0]
    return (np.arange(frames)[:, None] < problem.input_lengths[None, :])[:, :, None]


# ------------------------------------------------------------------ float32: double words in log space
# float32's exponent range (e^-103 to e^88) is too short for the probability-space recursion above (a frame's
# emissions of logits +-80 span e^160), and a float32 log-space recursion rounds every step by an ulp of
# |log alpha|, hundreds of ulp over a long sequence. float32 keeps log space, with every log-probability as a
# double word (about 48 bits) and each log-sum-exp, exp and log carried to about 2^-29 (``exp_scaled``,
# one Newton step for the log): the loss and the occupancies are then rounded once, at the end.


def _log_dw(s_hi: np.ndarray, s_lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`\log(s_{hi} + s_{lo})` as a double word for :math:`s_{hi}` near or above 1: float32's ``log`` (a
    few ulp) corrected by one Newton step, :math:`L + (s_{hi} - e^L)/s_{hi} + \log(1 + s_{lo}/s_{hi})`."""
    log = np.log(s_hi)
    e_hi, e_lo = dw.exp_weights(log, None, dw.exp_scaled)
    ratio = s_lo / s_hi
    low = s_hi - e_hi  # exact: they are a few ulp apart
    low -= e_lo
    low /= s_hi
    low += ratio
    ratio *= ratio
    ratio *= np.float32(0.5)
    low -= ratio
    return dw.fast_two_sum_unchecked(log, low)


def _log_sum_exp_dw(his: np.ndarray, los: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`\log \sum_i e^{h_i + l_i}` over the first axis of ``(K, ...)`` double words, -inf (low part 0)
    where every term is -inf."""
    top = his.max(axis=0)
    dead = ~(top > -np.inf)
    np.copyto(top, 0, where=dead)
    # the largest double word (the largest low part among equal high parts): every difference is then <= 0,
    # also where the low parts are large (log-probabilities of 1e30, whose ulp is 1e23)
    top_lo = np.where(his == top, los, -np.inf).max(axis=0)
    np.copyto(top_lo, 0, where=dead)
    with np.errstate(invalid="ignore"):  # -inf terms: NaN low parts, dropped below
        d_hi, d_lo = dw.two_sum(his, -top)
    small = ~(d_hi > -150)  # e^d is 0 in float32: no low part (-inf's is NaN, a far term's may be 1e23)
    d_lo += los - top_lo
    np.copyto(d_lo, 0, where=small)
    np.maximum(d_hi, -200, out=d_hi)
    d_hi, d_lo = dw.two_sum(d_hi, d_lo)
    w_hi, w_lo = dw.exp_weights(d_hi, d_lo, dw.exp_scaled)
    s_hi, s_lo = w_hi[0], w_lo[0]  # the largest term is about 1
    for k in range(1, len(his)):
        s_hi, error = dw.two_sum(s_hi, w_hi[k])
        s_lo += error
        s_lo += w_lo[k]
    np.copyto(s_hi, 1, where=dead)  # log 1 = 0: replaced by -inf below
    log_hi, log_lo = _log_dw(s_hi, s_lo)
    out_hi, error = dw.two_sum(top, log_hi)
    error += log_lo
    error += top_lo
    out_hi, out_lo = dw.two_sum(out_hi, error)
    np.copyto(out_hi, -np.inf, where=dead)
    np.copyto(out_lo, 0, where=dead)
    return out_hi, out_lo


def _add_dw(a_hi, a_lo, b_hi, b_lo) -> tuple[np.ndarray, np.ndarray]:
    """``a + b`` for double words that may be -inf (the sum then -inf, its low part 0); past float max: -inf."""
    with np.errstate(invalid="ignore", over="ignore"):
        s, e = dw.two_sum(a_hi, b_hi)
        e += a_lo
        e += b_lo
        s, e = dw.fast_two_sum_unchecked(s, e)
    dead = ~np.isfinite(s)
    np.copyto(s, -np.inf, where=dead)
    np.copyto(e, 0, where=dead)
    return s, e


#: rows of (frames x batch, classes) logits normalised at a time: bounded scratch memory
_CHUNK_ROWS = 512


def _normalizers32(problem: _CtcProblem) -> tuple[np.ndarray, np.ndarray]:
    r"""(T, N) double words :math:`\log \sum_k e^{z_t(k)}` of the logits (the log-softmax's normaliser):
    the weights :math:`e^{z - \max z}` as double words, their sum by ``_double_word.row_sums`` and its log."""
    frames, batch, classes = problem.logits.shape
    logits = problem.logits.reshape(frames * batch, classes)
    norm_hi = np.empty(frames * batch, np.float32)
    norm_lo = np.empty(frames * batch, np.float32)
    for start in range(0, frames * batch, _CHUNK_ROWS):
        z = logits[start:start + _CHUNK_ROWS]
        top = z.max(axis=1, keepdims=True)
        top[~(top > -np.inf)] = 0  # a frame of -inf logits: log 0, as in float64
        with np.errstate(invalid="ignore"):  # -inf logits: weight 0
            d_hi, d_lo = dw.two_sum(z, -top)
        w_hi, w_lo = dw.exp_weights(d_hi, d_lo, dw.exp_scaled)
        s_hi, s_lo = dw.row_sums(w_hi, w_hi.max(axis=1), high=d_hi, low=w_hi)
        s_lo += w_lo.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_hi, log_lo = _log_dw(s_hi, s_lo)
        norm_hi[start:start + _CHUNK_ROWS], norm_lo[start:start + _CHUNK_ROWS] = _add_dw(
            top[:, 0], np.zeros_like(log_hi), log_hi, log_lo)
    return norm_hi.reshape(frames, batch), norm_lo.reshape(frames, batch)


def _emissions32(problem: _CtcProblem, t: int, ext: np.ndarray, valid: np.ndarray, norm) -> tuple:
    """(N, L) double words: the log-probability each state emits at frame t, -inf where no state exists."""
    rows = np.arange(ext.shape[0])[:, None]
    if problem.logits is None:
        hi = problem.log_probs[t][rows, ext]
        lo = np.zeros_like(hi)
    else:
        with np.errstate(invalid="ignore"):  # a -inf logit: -inf, with a NaN low part set to 0 below
            hi, lo = dw.two_sum(problem.logits[t][rows, ext], -norm[0][t][:, None])
            lo -= norm[1][t][:, None]
        lo[~np.isfinite(hi)] = 0
    hi[~valid] = -np.inf
    lo[~valid] = 0
    return hi, lo


def _ctc32(problem: _CtcProblem, *, want_grad: bool):
    r"""float32 CTC: ``(log P as a double word (N,), gradient (T, N, C) or None)`` in double-word log space.

    ``alpha`` as in :func:`_forward_backward`, each state a double word; the gradient is :math:`-\gamma`
    (``log_probs``) or :math:`p - \gamma` (logits), with :math:`\gamma_t(s) = e^{\alpha + \beta - \log P}`
    summed over the states of each class exactly (``_double_word.row_sums``) and rounded once.
    """
    ext, valid, skip = _extended_labels(problem)
    frames, batch, _classes = problem.log_probs.shape
    states = ext.shape[1]
    lengths = problem.input_lengths
    norm = _normalizers32(problem) if problem.logits is not None else None
    minus_inf = np.float32(-np.inf)
    # alpha with two states of -inf before the first: a state's predecessors are slices
    alpha_hi = np.full((batch, states + 2), minus_inf)
    alpha_lo = np.zeros((batch, states + 2), np.float32)
    stored = (np.empty((frames, batch, states), np.float32), np.empty((frames, batch, states), np.float32)) \
        if want_grad else None
    last_state = 2 * problem.target_lengths
    log_p_hi = np.where(problem.target_lengths == 0, np.float32(0), minus_inf)  # no frames
    log_p_lo = np.zeros(batch, np.float32)
    ends_at = lengths - 1
    for t in range(frames):
        em_hi, em_lo = _emissions32(problem, t, ext, valid, norm)
        if t == 0:
            now_hi = np.full((batch, states), minus_inf)
            now_lo = np.zeros((batch, states), np.float32)
            now_hi[:, :2], now_lo[:, :2] = em_hi[:, :2], em_lo[:, :2]
        else:
            his = np.stack([alpha_hi[:, 2:], alpha_hi[:, 1:-1], np.where(skip, alpha_hi[:, :-2], minus_inf)])
            los = np.stack([alpha_lo[:, 2:], alpha_lo[:, 1:-1], np.where(skip, alpha_lo[:, :-2], 0)])
            now_hi, now_lo = _add_dw(em_hi, em_lo, *_log_sum_exp_dw(his, los))
        alpha_hi[:, 2:], alpha_lo[:, 2:] = now_hi, now_lo
        if stored is not None:
            stored[0][t], stored[1][t] = now_hi, now_lo
        ending = np.flatnonzero(ends_at == t)
        if ending.size:
            final = last_state[ending]
            label = np.maximum(final - 1, 0)
            his = np.stack([now_hi[ending, final], np.where(final > 0, now_hi[ending, label], minus_inf)])
            los = np.stack([now_lo[ending, final], np.where(final > 0, now_lo[ending, label], 0)])
            log_p_hi[ending], log_p_lo[ending] = _log_sum_exp_dw(his, los)
    if not want_grad:
        return (log_p_hi, log_p_lo), None
    return (log_p_hi, log_p_lo), _occupancy_grad32(problem, stored, (log_p_hi, log_p_lo), ext, valid, skip, norm)


#: a sequence whose largest log-probabilities, summed over its frames, reach this could overflow float32 in
#: log space (alpha + beta - log P is up to twice that sum): it is computed in float64 (``_ctc32_or_wide``)
_WIDE_LOG_SUM = np.float32(2.0**126)


def _largest_log_probs32(problem: _CtcProblem) -> np.ndarray:
    r"""(T, N) float32: each frame's largest finite :math:`|\log p_t(k)|`, bounded from above for the logits
    (the spread of the finite logits plus :math:`\log C`); inf where that spread passes float32 max."""
    frames, batch, classes = problem.log_probs.shape
    rows = problem.log_probs.reshape(frames * batch, classes)
    largest = np.empty(frames * batch, np.float32)
    for start in range(0, frames * batch, _CHUNK_ROWS):
        chunk = rows[start:start + _CHUNK_ROWS]
        top = chunk.max(axis=1)
        finite_top = np.where(top > -np.inf, top, 0)
        bottom = np.where(chunk > -np.inf, chunk, finite_top[:, None]).min(axis=1)
        with np.errstate(over="ignore"):  # a spread past float32 max: inf, sent to float64
            if problem.logits is None:
                largest[start:start + _CHUNK_ROWS] = np.maximum(np.abs(finite_top), np.abs(bottom))
            else:
                largest[start:start + _CHUNK_ROWS] = (finite_top - bottom) + np.float32(np.log(classes))
    return largest.reshape(frames, batch)


def _wide_sequences32(problem: _CtcProblem) -> np.ndarray:
    """(N,) True for the sequences whose float32 log-space recursion could overflow (see ``_WIDE_LOG_SUM``)."""
    largest = _largest_log_probs32(problem)
    used = np.arange(largest.shape[0])[:, None] < problem.input_lengths[None, :]
    with np.errstate(over="ignore"):  # a sum past float32 max is inf: wide
        total = np.where(used, largest, np.float32(0)).sum(axis=0)
    return total >= _WIDE_LOG_SUM


def _ctc32_or_wide(problem: _CtcProblem, *, want_grad: bool):
    """``_ctc32``'s ``(log P, gradient)``, with the sequences whose log-probabilities or their sums could pass
    float32's range (logits spanning more than float32 max in a frame: ``z - logsumexp`` is -inf) computed
    by the float64 path instead: ``log P`` is then ``(hi, lo, (index, log P, gradient))``, the float64
    sequences' values kept in float64 for ``_finish_loss32``/``_finish_grad`` to round once."""
    wide = _wide_sequences32(problem)
    if not wide.any():
        return _ctc32(problem, want_grad=want_grad)
    frames, batch, classes = problem.log_probs.shape
    log_p_hi = np.full(batch, np.float32(-np.inf))
    log_p_lo = np.zeros(batch, np.float32)
    grad = np.zeros((frames, batch, classes), np.float32) if want_grad else None
    narrow = ~wide
    if narrow.any():
        (hi, lo), part_grad = _ctc32(_sequences(problem, narrow), want_grad=want_grad)
        log_p_hi[narrow], log_p_lo[narrow] = hi, lo
        if want_grad:
            grad[:, narrow] = part_grad
    part = _sequences(problem, wide)
    values = part.log_probs.astype(np.float64)
    logits = None
    if part.logits is not None:
        logits = values
        values = log_softmax(logits, axis=-1)
    part = _CtcProblem(values, part.labels, part.input_lengths, part.target_lengths, part.blank, part.dtype,
                       False, logits)
    wide_grad = None
    if want_grad:
        gamma, wide_log_p = _occupancy_and_log_p(part, True)
        wide_grad = _posterior_minus_occupancy(part, gamma) if logits is not None else -gamma
        wide_grad = np.where(_frame_mask(part), wide_grad, 0)
    else:
        wide_log_p = _forward_backward(part, backward=False)[0]
    return (log_p_hi, log_p_lo, (np.flatnonzero(wide), wide_log_p, wide_grad)), grad


def _occupancy_grad32(problem, alpha, log_p, ext, valid, skip, norm) -> np.ndarray:
    r"""The backward recursion, and at each frame :math:`-\gamma_t` or :math:`p_t - \gamma_t` (T, N, C)."""
    frames, batch, classes = problem.log_probs.shape
    states = ext.shape[1]
    lengths = problem.input_lengths
    minus_inf = np.float32(-np.inf)
    possible = log_p[0] > -np.inf
    p_hi = np.where(possible, log_p[0], np.float32(0))
    p_lo = np.where(possible, log_p[1], np.float32(0))
    last_state = 2 * problem.target_lengths
    state_index = np.arange(states)[None, :]
    final_states = (state_index == last_state[:, None]) | (state_index == last_state[:, None] - 1)
    end_value = np.where(final_states, np.float32(0), minus_inf)
    skips_ahead = np.zeros((batch, states), bool)
    skips_ahead[:, :-2] = skip[:, 2:]  # state s + 2 entered from s
    slots, present = _class_slots(ext)
    grad = np.zeros((frames, batch, classes), np.float32)
    following_hi = np.full((batch, states + 2), minus_inf)
    following_lo = np.zeros((batch, states + 2), np.float32)
    beta_hi = beta_lo = None
    for t in range(frames - 1, -1, -1):
        if t < frames - 1:
            em_hi, em_lo = _emissions32(problem, t + 1, ext, valid, norm)
            following_hi[:, :states], following_lo[:, :states] = _add_dw(em_hi, em_lo, beta_hi, beta_lo)
            his = np.stack([following_hi[:, :states], following_hi[:, 1:-1],
                            np.where(skips_ahead, following_hi[:, 2:], minus_inf)])
            los = np.stack([following_lo[:, :states], following_lo[:, 1:-1],
                            np.where(skips_ahead, following_lo[:, 2:], 0)])
            beta_hi, beta_lo = _log_sum_exp_dw(his, los)
        else:
            beta_hi = np.full((batch, states), minus_inf)
            beta_lo = np.zeros((batch, states), np.float32)
        is_last = (t == lengths - 1)[:, None]
        inside = (t < lengths - 1)[:, None]
        beta_hi = np.where(is_last, end_value, np.where(inside, beta_hi, minus_inf))
        beta_lo = np.where(inside, beta_lo, np.float32(0))
        used = t < lengths
        if not used.any():
            continue
        log_hi, log_lo = _add_dw(alpha[0][t], alpha[1][t], beta_hi, beta_lo)
        log_hi, log_lo = _add_dw(log_hi, log_lo, -p_hi[:, None], -p_lo[:, None])
        # gamma <= 1: log-probabilities of 1e30 carry rounding errors of 1e15 in their logs
        np.copyto(log_lo, np.minimum(log_lo, 0), where=log_hi >= 0)
        np.minimum(log_hi, 0, out=log_hi)
        g_hi, g_lo = dw.exp_weights(log_hi, log_lo, dw.exp_scaled)
        gamma_hi, gamma_lo = _class_sums(g_hi, g_lo, slots, present, classes, problem.blank)
        grad[t] = _frame_grad32(problem, t, gamma_hi, gamma_lo, norm)
    grad[:, ~possible, :] = np.nan
    return grad


def _class_slots(ext: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(slots, present)``: the classes the batch's targets hold (P,), and (N, P, R) state indices, the odd
    (label) states carrying each of them, padded with ``L`` (a column of 0s appended to the states); R is the
    most states one class has in one sequence."""
    batch, states = ext.shape
    labels = ext[:, 1::2]
    present, codes = np.unique(labels, return_inverse=True)
    codes = codes.reshape(labels.shape)
    order = np.argsort(codes, axis=1, kind="stable")
    ordered = np.take_along_axis(codes, order, axis=1)
    positions = np.arange(labels.shape[1])[None, :]
    run_start = np.where(np.diff(ordered, axis=1, prepend=-1) != 0, positions, 0)
    rank = positions - np.maximum.accumulate(run_start, axis=1)
    slots = np.full((batch, present.size, int(rank.max(initial=-1)) + 1), states, np.int64)
    slots[np.arange(batch)[:, None], ordered, rank] = 2 * order + 1
    return slots, present


def _class_sums(g_hi, g_lo, slots, present, classes: int, blank: int):
    """(N, C) double words: the sums of the (N, L) state values ``g`` over the states carrying each class,
    exact to about u^2 (``_double_word.row_sums``): the blank's from the even states, each label's from its slots."""
    batch, count, _repeats = slots.shape
    padded_hi = np.concatenate([g_hi, np.zeros((batch, 1), np.float32)], axis=1)
    padded_lo = np.concatenate([g_lo, np.zeros((batch, 1), np.float32)], axis=1)
    rows = np.arange(batch)[:, None, None]
    hi = np.zeros((batch, classes), np.float32)
    lo = np.zeros((batch, classes), np.float32)
    if count:
        values = padded_hi[rows, slots].reshape(batch * count, -1)
        sums = dw.row_sums(values, values.max(axis=1, initial=0), high=np.empty_like(values), low=values)
        hi[:, present] = sums[0].reshape(batch, count)
        lo[:, present] = sums[1].reshape(batch, count) + padded_lo[rows, slots].sum(axis=2)
    blanks = np.ascontiguousarray(g_hi[:, ::2])
    hi[:, blank], lo[:, blank] = dw.row_sums(blanks, blanks.max(axis=1), high=np.empty_like(blanks), low=blanks)
    lo[:, blank] += g_lo[:, ::2].sum(axis=1)
    return hi, lo


def _frame_grad32(problem, t, gamma_hi, gamma_lo, norm) -> np.ndarray:
    r"""(N, C): :math:`-\gamma_t`, or :math:`p_t - \gamma_t` for the logits, the most probable class as
    :math:`\sum_{j \ne k} \gamma_t(j) - \sum_{j \ne k} p_t(j)` where those remainders are the smaller."""
    if problem.logits is None:
        return -(gamma_hi + gamma_lo)
    z = problem.logits[t]
    with np.errstate(invalid="ignore"):  # -inf logits: probability 0
        d_hi, d_lo = dw.two_sum(z, -norm[0][t][:, None])
        d_lo -= norm[1][t][:, None]
    prob_hi, prob_lo = dw.exp_weights(d_hi, d_lo, dw.exp_scaled)
    diff_hi, error = dw.two_sum(prob_hi, -gamma_hi)
    diff = diff_hi + (error + (prob_lo - gamma_lo))
    top = np.argmax(z, axis=-1)[:, None]
    rest_p = _rest_sum(prob_hi, prob_lo, top)
    rest_gamma = _rest_sum(gamma_hi, gamma_lo, top)
    rest_hi, error = dw.two_sum(rest_gamma[0], -rest_p[0])
    from_rest = rest_hi + (error + (rest_gamma[1] - rest_p[1]))
    larger = np.maximum(np.take_along_axis(prob_hi, top, axis=1), np.take_along_axis(gamma_hi, top, axis=1))
    direct = np.take_along_axis(diff, top, axis=1)
    smaller = np.maximum(rest_p[0], rest_gamma[0]) < larger
    np.put_along_axis(diff, top, np.where(smaller, from_rest, direct), axis=1)
    return diff


def _rest_sum(hi, lo, top) -> tuple[np.ndarray, np.ndarray]:
    """(N, 1) double words: the row sums of non-negative ``hi + lo`` without the class at ``top``."""
    values = hi.copy()
    np.put_along_axis(values, top, 0, axis=1)
    lows = lo.copy()
    np.put_along_axis(lows, top, 0, axis=1)
    s_hi, s_lo = dw.row_sums(values, values.max(axis=1), high=np.empty_like(values), low=values)
    return s_hi[:, None], (s_lo + lows.sum(axis=1))[:, None]


# ------------------------------------------------------------------ results


def _scaled_by_reduction(problem: _CtcProblem, reduction: str) -> np.ndarray:
    """Per-sequence factor of the gradient: 1 for the unreduced losses and "sum", torch's "mean" otherwise."""
    validate_reduction(reduction)
    batch = problem.labels.shape[0]
    if reduction != "mean":
        return np.ones(batch)
    return 1.0 / (np.maximum(problem.target_lengths, 1) * batch)


def _finish_loss(problem: _CtcProblem, log_p, reduction: str, zero_infinity: bool):
    if isinstance(log_p, tuple):  # float32: a double word, rounded once
        return _finish_loss32(problem, log_p, reduction, zero_infinity)
    # 0 - log P, not -log P: a certain alignment (log P = 0: an empty target over no frames) costs +0, not -0
    losses = _losses64(0.0 - log_p, problem.target_lengths, reduction, zero_infinity, problem.dtype)
    if problem.unbatched:
        losses = losses.reshape(())
    return reduce(losses, reduction)


def _finish_loss32(problem: _CtcProblem, log_p, reduction: str, zero_infinity: bool):
    hi, lo = np.float32(0) - log_p[0], np.float32(0) - log_p[1]  # +0, not -0, for log P = 0 (see _finish_loss)
    if zero_infinity:
        hi = np.where(np.isinf(hi), np.float32(0), hi)
    if reduction == "mean":  # PyTorch: each by its target length, the double word rounded once
        with np.errstate(invalid="ignore"):  # an infinite loss: inf, with a low part of 0
            hi, lo = dw.divide(hi, lo, np.maximum(problem.target_lengths, 1).astype(np.float32))
    losses = hi + lo
    if len(log_p) == 3:  # the sequences computed in float64 (``_ctc32_or_wide``)
        index, wide_log_p, _grad = log_p[2]
        losses[index] = _losses64(0.0 - wide_log_p, problem.target_lengths[index], reduction, zero_infinity,
                                  losses.dtype)
    if problem.unbatched:
        losses = losses.reshape(())
    return reduce(losses, reduction)


def _losses64(losses: np.ndarray, target_lengths: np.ndarray, reduction: str, zero_infinity: bool, dtype):
    """float64 losses of each sequence (before the batch's reduction) in ``dtype``, rounded once."""
    if zero_infinity:
        losses = np.where(np.isinf(losses), 0.0, losses)
    if reduction == "mean":
        losses = losses / np.maximum(target_lengths, 1)  # PyTorch: each by its target length
    with np.errstate(over="ignore"):  # a float64 loss past float32 max rounds to inf, its true size
        return losses.astype(dtype)


def _finish_grad(problem: _CtcProblem, grad: np.ndarray, log_p, reduction: str,
                 zero_infinity: bool) -> np.ndarray:
    wide = None
    if isinstance(log_p, tuple):
        wide = log_p[2] if len(log_p) == 3 else None
        log_p = log_p[0]
    if zero_infinity:
        grad[:, ~np.isfinite(log_p), :] = 0
    if grad.dtype == np.float32:
        if reduction == "mean":  # one rounding: a division by the exact count
            batch = problem.labels.shape[0]
            grad /= (np.maximum(problem.target_lengths, 1) * batch).astype(np.float32)[None, :, None]
        if wide is not None:  # the sequences computed in float64, scaled as float64's and rounded once
            index, wide_log_p, wide_grad = wide
            if zero_infinity:
                wide_grad[:, ~np.isfinite(wide_log_p), :] = 0
            grad[:, index] = wide_grad * _scaled_by_reduction(problem, reduction)[index][None, :, None]
    else:
        grad *= _scaled_by_reduction(problem, reduction)[None, :, None]
    grad = grad.astype(problem.dtype, copy=False)
    return grad[:, 0, :] if problem.unbatched else grad


def _flags(zero_infinity) -> bool:
    if not isinstance(zero_infinity, bool | np.bool_):
        raise ValueError(f"zero_infinity must be True or False, got {zero_infinity!r}")
    return bool(zero_infinity)


def ctc(log_probs, targets, input_lengths, target_lengths, *, blank: int = 0, reduction: str = "mean",
        zero_infinity: bool = False):
    r"""Connectionist temporal classification loss (PyTorch's ``ctc_loss``, same arguments).

    .. math:: \ell_n = -\log \sum_{\pi \in \mathcal B^{-1}(y_n)} \prod_{t=0}^{T_n - 1} p_t(\pi_t),
              \qquad \log p_t = \texttt{log\_probs}[t, n, :]

    where :math:`\mathcal B` removes repeated labels, then blanks: an alignment :math:`\pi` is one
    class per frame, and every alignment that collapses to the target :math:`y_n` counts. A repeated
    label (``"aa"``) needs a blank between its copies, so a target of :math:`S` labels with :math:`r`
    adjacent repeats needs :math:`T_n \ge S + r` frames; with fewer there is no alignment and the loss
    is ``inf`` (0 with ``zero_infinity=True``, as in PyTorch).

    Parameters
    ----------
    log_probs : (T, N, C) or (T, C) array
        Per-frame log-probabilities (normally ``log_softmax`` of the logits over C classes, the
        blank included); -inf (a zero probability) is allowed, NaN and +inf are not.
    targets : (N, S) padded or (sum of target_lengths,) concatenated integers; (S,) for one sequence
        Labels in ``[0, C)``, never ``blank``.
    input_lengths, target_lengths : (N,) integers, () for one sequence
        :math:`T_n \le T` frames and :math:`S_n \le S` labels of each sequence.
    blank : int
        The blank's class index (default 0).
    reduction : "mean", "sum" or "none"
        ``"mean"`` divides each sequence's loss by its target length (at least 1), then averages
        over the batch (PyTorch's convention); ``"none"`` gives one loss per sequence.

    Notes
    -----
    The forward (alpha) recursion runs in log space with :func:`numpy.logaddexp`, so confident
    logits (log-probabilities of -1e4) neither underflow nor overflow; the loss is then accurate to
    about an ulp of the log-probabilities it sums (a loss below 1e-16 is resolved in absolute terms
    only). Graves, Fernández, Gomez and Schmidhuber, "Connectionist Temporal Classification:
    Labelling Unsegmented Sequence Data with Recurrent Neural Networks", ICML 2006.
    """
    validate_reduction(reduction)
    zero_infinity = _flags(zero_infinity)
    problem = _ctc_problem(log_probs, targets, input_lengths, target_lengths, blank)
    return _finish_loss(problem, _log_likelihood(problem), reduction, zero_infinity)


def ctc_grad(log_probs, targets, input_lengths, target_lengths, *, blank: int = 0, reduction: str = "none",
             zero_infinity: bool = False):
    r""":math:`\partial \ell_n / \partial \log p_t(k) = -\gamma_t(k)`, the posterior occupancy, shaped like ``log_probs``.

    .. math:: \gamma_t(k) = \frac{1}{P} \sum_{s:\, l'_s = k} \alpha_t(s)\,\beta_t(s)

    is the probability, given the target, that frame t emits class k (:math:`l'` the target with
    blanks around every label, :math:`\alpha` and :math:`\beta` the forward and backward sums).
    This is the derivative with ``log_probs`` as free variables, which finite differences of
    :func:`ctc` confirm. PyTorch's autograd returns :math:`p_t(k) - \gamma_t(k)` for a
    ``log_probs`` leaf instead (its backward assumes the log-probabilities come from
    ``log_softmax``, and returns the gradient of the logits: :func:`ctc_with_logits_grad`).

    Frames past a sequence's length get 0; a sequence with no alignment gets NaN (as PyTorch),
    or 0 with ``zero_infinity=True``. ``reduction``: ``"none"`` or ``"sum"`` give each sequence's
    own gradient; ``"mean"`` scales sequence n by :math:`1 / (N \max(S_n, 1))`, the gradient of
    ``ctc(..., reduction="mean")``.

    :math:`\alpha` and :math:`\beta` are computed in probability space, each frame scaled by a power
    of two, and :math:`\gamma_t(s) = \hat\alpha_t(s) \hat\beta_t(s) / \sum_{s'} \hat\alpha_t(s')
    \hat\beta_t(s')`: within a few ulp (``exp(log alpha + log beta - log P)`` would carry the
    rounding of logs of size :math:`|\log P|`, hundreds of ulp). Where one frame's probabilities
    span more than the float range (log-probabilities more than about 660 apart on the paths
    that matter), that sequence is computed in log space instead.
    float32: in double-word log space (see the module docstring), rounded once.
    """
    zero_infinity = _flags(zero_infinity)
    validate_reduction(reduction)
    problem = _ctc_problem(log_probs, targets, input_lengths, target_lengths, blank)
    return _ctc_and_grad(problem, "none", zero_infinity, logits=False, grad_reduction=reduction,
                         want_loss=False)[1]


def ctc_and_grad(log_probs, targets, input_lengths, target_lengths, *, blank: int = 0, reduction: str = "mean",
                 zero_infinity: bool = False):
    """``(ctc(..., reduction=reduction), ctc_grad(...))`` from one forward-backward pass (the gradient unreduced)."""
    zero_infinity = _flags(zero_infinity)
    validate_reduction(reduction)
    problem = _ctc_problem(log_probs, targets, input_lengths, target_lengths, blank)
    return _ctc_and_grad(problem, reduction, zero_infinity, logits=False)


def _log_likelihood(problem: _CtcProblem):
    """log P per sequence: float64 from the log-space forward recursion, float32 as a double word (``_ctc32``)."""
    if problem.log_probs.dtype == np.float32:
        return _ctc32_or_wide(problem, want_grad=False)[0]
    return _forward_backward(problem, backward=False)[0]


def _ctc_and_grad(problem: _CtcProblem, reduction: str, zero_infinity: bool, *, logits: bool,
                  grad_reduction: str = "none", want_loss: bool = True):
    """(loss with ``reduction``, gradient scaled for ``grad_reduction``); the loss None unless ``want_loss``."""
    if problem.log_probs.dtype == np.float32:
        log_p, grad = _ctc32_or_wide(problem, want_grad=True)
    else:
        gamma, log_p = _occupancy_and_log_p(problem, want_loss)
        grad = _posterior_minus_occupancy(problem, gamma) if logits else -gamma
    grad = np.where(_frame_mask(problem), grad, 0)
    return (_finish_loss(problem, log_p, reduction, zero_infinity) if want_loss else None,
            _finish_grad(problem, grad, log_p, grad_reduction, zero_infinity))


def _posterior_minus_occupancy(problem: _CtcProblem, gamma: np.ndarray) -> np.ndarray:
    r""":math:`p_t(k) - \gamma_t(k)`, with the frame's most probable class written as
    :math:`\sum_{j \ne k} \gamma_t(j) - \sum_{j \ne k} p_t(j)` where those remainders are the smaller
    (both :math:`p` and :math:`\gamma` close to 1): the difference of the small remainders keeps the
    digits that :math:`p - \gamma` would round away (and where they are not smaller, e.g. four classes
    near 1/4, it would lose the digits that :math:`p - \gamma` keeps). :math:`p` is the softmax of
    the logits (within a few ulp), not :math:`e^{\log p}` of a rounded log-probability, which would
    be off by :math:`|\log p|/2` ulp."""
    log_probs = problem.log_probs
    probabilities = np.asarray(softmax(problem.logits, axis=-1))
    grad = probabilities - gamma
    top = np.argmax(log_probs, axis=-1)[..., None]
    rest_p = _sum_without(probabilities, top)
    rest_gamma = _sum_without(gamma, top)
    larger = np.maximum(np.take_along_axis(probabilities, top, axis=-1), np.take_along_axis(gamma, top, axis=-1))
    direct = np.take_along_axis(grad, top, axis=-1)
    np.put_along_axis(grad, top, np.where(np.maximum(rest_p, rest_gamma) < larger, rest_gamma - rest_p, direct),
                      axis=-1)
    return grad


def _sum_without(values: np.ndarray, top: np.ndarray) -> np.ndarray:
    """The sum over the class axis leaving out the class at ``top``, summed without it (no cancellation)."""
    others = values.copy()
    np.put_along_axis(others, top, 0.0, axis=-1)
    return others.sum(axis=-1, keepdims=True)


def ctc_with_logits(logits, targets, input_lengths, target_lengths, *, blank: int = 0, reduction: str = "mean",
                    zero_infinity: bool = False):
    r"""CTC of :math:`\log p_t = \operatorname{log\_softmax}(z_t)`: :func:`ctc` of the logits' log-softmax over classes."""
    validate_reduction(reduction)
    zero_infinity = _flags(zero_infinity)
    problem = _logits_problem(logits, targets, input_lengths, target_lengths, blank)
    return _finish_loss(problem, _log_likelihood(problem), reduction, zero_infinity)


def ctc_with_logits_grad(logits, targets, input_lengths, target_lengths, *, blank: int = 0,
                         reduction: str = "none", zero_infinity: bool = False):
    r"""The classic CTC gradient of the logits, :math:`\partial \ell_n / \partial z_t(k) = p_t(k) - \gamma_t(k)`.

    :math:`p_t = \operatorname{softmax}(z_t)` is what the network predicts at frame t and
    :math:`\gamma_t` (see :func:`ctc_grad`) what the target says it should have emitted, averaged
    over the alignments; both sum to 1 over the classes, so the gradient of each frame sums to 0.
    Like cross-entropy's :math:`\hat p - y` it is bounded by 1 in size. Equal to PyTorch's
    autograd through ``log_softmax``. Frames past a sequence's length get 0; ``reduction`` and
    ``zero_infinity`` as in :func:`ctc_grad`.
    """
    zero_infinity = _flags(zero_infinity)
    validate_reduction(reduction)
    problem = _logits_problem(logits, targets, input_lengths, target_lengths, blank)
    return _ctc_and_grad(problem, "none", zero_infinity, logits=True, grad_reduction=reduction,
                         want_loss=False)[1]


#: the name used in issue 18 (``ctc_grad_logits``) for :func:`ctc_with_logits_grad`
ctc_grad_logits = ctc_with_logits_grad


def ctc_with_logits_and_grad(logits, targets, input_lengths, target_lengths, *, blank: int = 0,
                             reduction: str = "mean", zero_infinity: bool = False):
    """``(ctc_with_logits(..., reduction=reduction), ctc_with_logits_grad(...))`` from one log-softmax and one
    forward-backward pass (the gradient unreduced)."""
    zero_infinity = _flags(zero_infinity)
    validate_reduction(reduction)
    problem = _logits_problem(logits, targets, input_lengths, target_lengths, blank)
    return _ctc_and_grad(problem, reduction, zero_infinity, logits=True)


def _logits_problem(logits, targets, input_lengths, target_lengths, blank) -> _CtcProblem:
    dtype = result_dtype(logits)
    array = as_float_array(logits, "logits", dtype)
    if array.size and (np.isnan(array.min()) or np.isnan(array.max())):
        raise ValueError("logits contain NaN; expected real numbers")
    if array.ndim not in (2, 3):
        raise ValueError(f"logits with shape {array.shape}; expected (T, N, C) frames x batch x classes, "
                         "or (T, C) for one sequence")
    if array.shape[-1] == 0:
        raise ValueError(f"logits has no classes (shape {array.shape}); expected at least the blank")
    if array.size and array.max() == np.inf:
        raise ValueError("logits contain inf; expected real numbers or -inf")
    if array.dtype == np.float32:  # _ctc32 takes the log-softmax itself, as double words
        problem = _ctc_problem(array, targets, input_lengths, target_lengths, blank, name="logits")
        return _CtcProblem(problem.log_probs, problem.labels, problem.input_lengths, problem.target_lengths,
                           problem.blank, np.dtype(dtype), problem.unbatched, problem.log_probs)
    log_probs = log_softmax(array.astype(np.float64, copy=False), axis=-1)
    problem = _ctc_problem(log_probs, targets, input_lengths, target_lengths, blank, name="logits")
    logit_values = array.astype(np.float64, copy=False)
    return _CtcProblem(problem.log_probs, problem.labels, problem.input_lengths, problem.target_lengths,
                       problem.blank, np.dtype(dtype), problem.unbatched,
                       logit_values[:, None, :] if problem.unbatched else logit_values)


# ------------------------------------------------------------------ alignments, for showing them


def ctc_alignments(target, input_length: int, *, blank: int = 0) -> np.ndarray:
    r"""Every alignment of ``target`` over ``input_length`` frames: the (A, T) class sequences that collapse to it.

    An alignment is a path through the lattice of :math:`l'` (the target with blanks around its
    labels): it starts in the first blank or the first label, ends in the last label or the last
    blank, and at each frame stays, moves one state on, or skips a blank between two different
    labels. The CTC probability of the target is the sum over these rows of
    :math:`\prod_t p_t(\pi_t)`. Rows are in lexicographic order of their states; an empty (0, T)
    array means no alignment fits (the loss is inf). At most ``MAX_ALIGNMENTS`` rows.
    """
    labels = _integers(target, "target").reshape(-1)
    frames = int(_integers(input_length, "input_length"))
    if frames < 0:
        raise ValueError(f"input_length must be a whole number of at least 0, got {frames}")
    if isinstance(blank, bool) or not isinstance(blank, int | np.integer) or blank < 0:
        raise ValueError(f"blank must be a class index of at least 0, got {blank!r}")
    if np.any((labels < 0) | (labels == blank)):
        bad = labels[(labels < 0) | (labels == blank)][0]
        raise ValueError(f"target contains the label {bad}; expected labels of at least 0 other than the blank {blank}")
    ext = np.full(2 * labels.size + 1, blank, dtype=np.int64)
    ext[1::2] = labels
    last = ext.size - 1
    if frames == 0:
        return np.zeros((1 if labels.size == 0 else 0, 0), dtype=np.int64)
    def steps(s):
        skip = s + 2 <= last and ext[s + 2] != blank and ext[s + 2] != ext[s]
        return [step for step in (s, s + 1, s + 2 if skip else last + 1) if step <= last]

    # count first (exact integers, the alpha recursion with 1 for every probability), list after
    counts = [1 if s <= 1 else 0 for s in range(last + 1)]
    for _ in range(1, frames):
        moved = [0] * (last + 1)
        for s, count in enumerate(counts):
            for step in steps(s):
                moved[step] += count
        counts = moved
    total = counts[last] + (counts[last - 1] if last >= 1 else 0)
    if total > MAX_ALIGNMENTS:
        raise ValueError(f"{total} alignments of {labels.size} labels over {frames} frames is more than "
                         f"{MAX_ALIGNMENTS}; expected a smaller example")
    paths = [[s] for s in (0, 1) if s <= last]
    for t in range(1, frames):
        # a path that can no longer reach the end in the frames left is dropped as it goes
        paths = [[*path, step] for path in paths for step in steps(path[-1]) if last - 1 - step <= 2 * (frames - 1 - t)]
    ends = [path for path in paths if path[-1] >= last - 1]
    return ext[np.array(ends, dtype=np.int64).reshape(len(ends), frames)] if ends else np.zeros((0, frames), np.int64)


# ------------------------------------------------------------------ next-token cross-entropy

UNIT = Interval(0.0, 1.0)


def _next_token(logits, targets, label_smoothing, ignore_index, reduction, want_loss, want_grad):
    validate_reduction(reduction)
    epsilon = UNIT.validate(label_smoothing, "label_smoothing")
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int | np.integer):
        raise ValueError(f"ignore_index must be a whole number, got {ignore_index!r}")
    array = as_float_array(logits, "logits", result_dtype(logits))
    if array.ndim not in (2, 3):
        raise ValueError(f"logits with shape {array.shape}; expected (N, T, C) batch x positions x vocabulary, "
                         "or (T, C) for one sequence")
    tokens = np.asarray(targets)
    if not np.issubdtype(tokens.dtype, np.integer) or tokens.dtype == bool:
        raise ValueError(f"targets must be integer token ids, got dtype {tokens.dtype}")
    if tokens.shape != array.shape[:-1]:
        raise ValueError(f"targets with shape {tokens.shape} do not match logits with shape {array.shape}; "
                         f"expected shape {array.shape[:-1]} (one token id per position)")
    ignored = tokens == ignore_index
    counted = int(tokens.size - np.count_nonzero(ignored))
    if reduction == "mean" and counted == 0 and want_loss:
        raise ValueError(f"reduction='mean' with every target equal to ignore_index={ignore_index} is 0/0 "
                         "(PyTorch returns nan); expected at least one position that is not ignored")
    classes = array.shape[-1]
    bad = ~ignored & ((tokens < 0) | (tokens >= classes))
    if np.any(bad):
        raise ValueError(f"target token id {tokens[bad].ravel()[0].item()} is out of range; expected 0 to "
                         f"{classes - 1}, or ignore_index={ignore_index}")
    # an ignored position is computed with token 0 and then zeroed: one vectorised call, no gaps
    loss, grad = label_smoothed_cross_entropy_and_grad(array, np.where(ignored, 0, tokens), label_smoothing=epsilon,
                                                       reduction="none")
    loss = np.where(ignored, loss.dtype.type(0), loss)
    grad = np.where(ignored[..., None], grad.dtype.type(0), grad)
    loss_value = None
    if want_loss:
        loss_value = reduce(loss, "sum") / loss.dtype.type(counted) if reduction == "mean" else reduce(loss, reduction)
    if want_loss and want_grad:
        return loss_value, grad
    return loss_value if want_loss else grad


def next_token_cross_entropy(logits, targets, *, label_smoothing: float = 0.0, ignore_index: int = -100,
                             reduction: str = "mean"):
    r"""Next-token cross-entropy of a sequence model, with label smoothing and ignored positions.

    .. math:: q = (1 - \varepsilon)\,e_{y_t} + \varepsilon / C,\qquad
              \ell_t = -\sum_k q_k \log \operatorname{softmax}(z_t)_k\quad (0 \text{ where } y_t = i)

    PyTorch's ``cross_entropy(logits.reshape(-1, C), targets.reshape(-1), label_smoothing=ε,
    ignore_index=i)`` for ``logits`` of shape (N, T, C) or (T, C) (the class axis last) and integer
    ``targets`` of shape (N, T) or (T,). Positions whose target equals ``ignore_index`` (padding)
    cost 0; ``reduction="mean"`` divides the sum by the number of positions that are not ignored
    (an error if there are none, where PyTorch returns nan); ``"none"`` gives (N, T) or (T,).
    Built on :func:`losslab.extra_classification.label_smoothed_cross_entropy`: with ε > 0 the best
    logit gap over C - 1 equal rivals is :math:`\log(1 + C (1 - \varepsilon)/\varepsilon)`, finite.
    Vaswani et al., "Attention Is All You Need", NeurIPS 2017 (ε = 0.1); Szegedy et al., CVPR 2016.
    """
    return _next_token(logits, targets, label_smoothing, ignore_index, reduction, True, False)


def next_token_cross_entropy_grad(logits, targets, *, label_smoothing: float = 0.0, ignore_index: int = -100):
    r""":math:`\partial \ell_t / \partial z_t = \operatorname{softmax}(z_t) - q`, 0 at ignored positions, shaped like ``logits``.

    The gradient of the unreduced losses; divide by the number of positions that are not ignored
    for the gradient of ``reduction="mean"``.
    """
    return _next_token(logits, targets, label_smoothing, ignore_index, "none", False, True)


def next_token_cross_entropy_and_grad(logits, targets, *, label_smoothing: float = 0.0, ignore_index: int = -100,
                                      reduction: str = "mean"):
    """``(next_token_cross_entropy(...), next_token_cross_entropy_grad(...))`` from one softmax."""
    return _next_token(logits, targets, label_smoothing, ignore_index, reduction, True, True)
