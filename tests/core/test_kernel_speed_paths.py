"""The cache-sized pieces (``_validation.blockwise``) change no number, only the speed.

Large inputs run through the elementwise kernels of regression.py and binary.py
in pieces of ``BLOCK`` elements. Here the extremes sit on and around the piece
boundaries (a far log-cosh residual, an infinite logit, a probability of 0 or 1
alone in one piece), and every result is checked three ways:

- against the straightforward formula written out here, where that formula is
  exact (BCE's clipped logs, MSE, Huber, log-cosh's near form) or against SciPy
  within a few ulp where it is not;
- against the same function called on small slices, which never split;
- for strided, broadcast and scalar-target inputs, which take the one-call path.

The fused calls also keep their memory bound: at most three array-sized
temporaries (the issue's target), measured with tracemalloc.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from scipy import special

import losslab
from losslab import _validation

BLOCK = _validation.BLOCK
N = 3 * BLOCK + 123  # three whole pieces and a partial one
DTYPES = [np.float64, np.float32]


@pytest.fixture
def rng():
    return np.random.default_rng(20)


def _boundaries() -> np.ndarray:
    """Indices on and next to every piece boundary, and the last element."""
    edges = np.arange(BLOCK, N, BLOCK)
    return np.unique(np.concatenate([edges - 1, edges, edges + 1, [0, N - 1]]))


def _with_extremes(base: np.ndarray, extremes, rng) -> np.ndarray:
    """``base`` with the extremes written at the piece boundaries and at a few random places."""
    values = base.copy()
    spots = np.concatenate([_boundaries(), rng.integers(0, N, 40)])
    values[spots] = np.resize(np.asarray(extremes, dtype=values.dtype), spots.size)
    return values


def _in_slices(function, first, second, size=1000):
    """``function`` on consecutive slices short enough never to be split, concatenated."""
    parts = [function(first[i:i + size], second[i:i + size]) for i in range(0, first.size, size)]
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate([p[k] for p in parts]) for k in range(len(parts[0])))
    return np.concatenate(parts)


def _regression_pair(dtype, rng):
    top = float(np.finfo(dtype).max)
    extremes = [25.0, -400.0, 1500.0, -19.9, 20.0, 1e-20, 0.0, top, -top, np.inf]
    with np.errstate(over="ignore"):
        pred = _with_extremes(rng.normal(0, 3, N).astype(dtype), extremes, rng)
    return pred, rng.normal(0, 1, N).astype(dtype)


def _probability_pair(dtype, rng):
    extremes = [0.0, 1.0, 1e-30, 1 - 1e-7, 1e-12]
    prob = _with_extremes(rng.uniform(0, 1, N).astype(dtype), extremes, rng)
    target = rng.integers(0, 2, N).astype(dtype)
    target[rng.integers(0, N, 500)] = dtype(0.3)  # some soft labels
    return prob, target


def _logit_pair(dtype, rng, infinite=False):
    extremes = [40.0, -40.0, 700.0, -745.0, 0.0, -0.0, 1e-30] + ([np.inf, -np.inf] if infinite else [])
    with np.errstate(over="ignore"):
        logits = _with_extremes(rng.normal(0, 6, N).astype(dtype), extremes, rng)
    return logits, rng.integers(0, 2, N).astype(dtype)


# ------------------------------------------------------------ exact straightforward formulas


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_pieces_equal_the_clipped_formula_exactly(dtype, rng):
    prob, target = _probability_pair(dtype, rng)
    eps = 1e-12
    upper = min(np.asarray(1 - eps, dtype), np.nextafter(dtype(1), dtype(0)))
    q = np.clip(prob, max(np.asarray(eps, dtype), np.finfo(dtype).tiny), upper)
    expected_loss = -(target * np.log(q) + (1 - target) * np.log1p(-q))
    expected_grad = (q - target) / (q * (1 - q))
    if dtype == np.float32:  # float32 clips at float64's bounds: where 1 - 1e-12 or 1e-12 is not a float32, those
        # pixels are the float64 formula at the bound, rounded once (losslab.binary._clip_exactly32)
        wide = prob.astype(np.float64)
        for past, bound in ((wide > 1 - eps, 1 - eps), (wide < eps, eps)):
            t = target[past].astype(np.float64)
            expected_loss[past] = -(t * np.log(bound) + (1 - t) * np.log1p(-bound))
            expected_grad[past] = (bound - t) / (bound * (1 - bound))
    loss, grad = losslab.bce_and_grad(prob, target, reduction="none")
    np.testing.assert_array_equal(loss, expected_loss)
    np.testing.assert_array_equal(grad, expected_grad)
    np.testing.assert_array_equal(losslab.bce(prob, target, reduction="none"), expected_loss)
    np.testing.assert_array_equal(losslab.bce_grad(prob, target), expected_grad)
    assert loss.dtype == grad.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_mse_and_huber_pieces_equal_their_formulas_exactly(dtype, rng):
    pred, target = _regression_pair(dtype, rng)
    finite = np.isfinite(pred) & (np.abs(pred) < 1e30)
    pred, target = pred[finite], target[finite]  # the formulas below overflow where losslab does not
    residual = pred - target
    loss, grad = losslab.mse_and_grad(pred, target, reduction="none")
    np.testing.assert_array_equal(loss, residual * residual)
    np.testing.assert_array_equal(grad, 2 * residual)
    delta = 0.5
    inside = np.abs(residual) <= delta
    expected = np.where(inside, 0.5 * residual * residual, delta * (np.abs(residual) - 0.5 * delta))
    loss, grad = losslab.huber_and_grad(pred, target, delta=delta, reduction="none")
    np.testing.assert_array_equal(grad, np.clip(residual, -delta, delta))
    np.testing.assert_allclose(loss, expected, rtol=4 * np.finfo(dtype).eps, atol=0)
    np.testing.assert_array_equal(losslab.huber(pred, target, delta=delta, reduction="none"), loss)
    np.testing.assert_array_equal(losslab.huber_grad(pred, target, delta=delta), grad)


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_cosh_pieces_match_the_two_formulas(dtype, rng):
    pred, target = _regression_pair(dtype, rng)
    with np.errstate(over="ignore", invalid="ignore"):
        residual = pred - target
    loss, grad = losslab.log_cosh_and_grad(pred, target, reduction="none")
    near = np.abs(residual) < 20
    sinh = np.sinh(residual[near])
    np.testing.assert_array_equal(loss[near], np.log1p(sinh * sinh) / 2)
    far = np.isfinite(residual) & ~near
    size = np.abs(residual[far])
    np.testing.assert_allclose(loss[far], size - np.log(2) + np.log1p(np.exp(-2 * np.minimum(size, 400.0))),
                               rtol=2 * np.finfo(dtype).eps)
    assert (loss[np.isinf(residual)] == np.inf).all()
    np.testing.assert_array_equal(grad, np.tanh(residual))
    np.testing.assert_array_equal(losslab.log_cosh(pred, target, reduction="none"), loss)
    np.testing.assert_array_equal(losslab.log_cosh_grad(pred, target), grad)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_pieces_agree_with_scipy(dtype, rng):
    logits, target = _logit_pair(dtype, rng)
    wide = logits.astype(np.float64)
    expected_loss = -(target * special.log_expit(wide) + (1 - target) * special.log_expit(-wide))
    # sigma(z) - y for hard labels without cancellation: sigma(z) - 1 = -sigma(-z)
    expected_grad = np.where(target == 1, -special.expit(-wide), special.expit(wide))
    loss, grad = losslab.bce_with_logits_and_grad(logits, target, reduction="none")
    tolerance = {"rtol": 8 * np.finfo(dtype).eps, "atol": np.finfo(dtype).tiny}
    np.testing.assert_allclose(loss, expected_loss.astype(dtype), **tolerance)
    np.testing.assert_allclose(grad, expected_grad.astype(dtype), **tolerance)
    assert loss.dtype == grad.dtype == dtype


# ------------------------------------------------------------ pieces against unsplit calls

CASES = [
    ("mse", {}, _regression_pair),
    ("huber", {"delta": 0.5}, _regression_pair),
    ("huber", {"delta": 10.0}, _regression_pair),
    ("log_cosh", {}, _regression_pair),
    ("bce", {}, _probability_pair),
    ("bce", {"eps": 0.1}, _probability_pair),
    ("bce_with_logits", {}, _logit_pair),
    ("bce_with_logits", {}, lambda dtype, rng: _logit_pair(dtype, rng, infinite=True)),
]
IDS = ["mse", "huber-0.5", "huber-10", "log_cosh", "bce", "bce-eps0.1", "bce_with_logits", "bce_with_logits-inf"]


@pytest.mark.parametrize(("name", "params", "inputs"), CASES, ids=IDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_split_calls_equal_unsplit_slices(name, params, inputs, dtype, rng):
    first, second = inputs(dtype, rng)
    loss, grad = getattr(losslab, f"{name}_and_grad"), getattr(losslab, f"{name}_grad")
    single = getattr(losslab, name)
    expected_loss, expected_grad = _in_slices(lambda a, b: loss(a, b, reduction="none", **params), first, second)
    both = loss(first, second, reduction="none", **params)
    np.testing.assert_array_equal(both[0], expected_loss)
    np.testing.assert_array_equal(both[1], expected_grad)
    np.testing.assert_array_equal(single(first, second, reduction="none", **params), expected_loss)
    np.testing.assert_array_equal(grad(first, second, **params), expected_grad)
    assert both[0].dtype == both[1].dtype == dtype
    assert single(first, second, **params) == loss(first, second, **params)[0]  # the same mean


@pytest.mark.parametrize(("name", "params", "inputs"), CASES, ids=IDS)
def test_strided_broadcast_and_scalar_targets_equal_contiguous_copies(name, params, inputs, rng):
    first, second = inputs(np.float64, rng)
    fused = getattr(losslab, f"{name}_and_grad")

    def both(a, b):
        return fused(a, b, reduction="none", **params)

    strided = both(first[::2], second[::2])
    copied = both(first[::2].copy(), second[::2].copy())
    for got, expected in zip(strided, copied, strict=True):
        np.testing.assert_array_equal(got, expected)
    # a (rows, 1) prediction against a row of targets: the gradient sums over the broadcast axis
    rows, columns = first[:400].reshape(-1, 1), second[:300]
    loss, grad = both(rows, columns)
    expected = both(np.repeat(rows, 300, axis=1), np.broadcast_to(columns, (400, 300)).copy())
    np.testing.assert_array_equal(loss, expected[0])
    np.testing.assert_array_equal(grad, expected[1].sum(axis=1, keepdims=True))
    # one target for every prediction
    loss, grad = both(first, second[7])
    expected = both(first, np.full(first.shape, second[7]))
    np.testing.assert_array_equal(loss, expected[0])
    np.testing.assert_array_equal(grad, expected[1])


def test_zero_dimensional_inputs_give_scalars():
    loss, grad = losslab.log_cosh_and_grad(3.0, 1.0, reduction="none")
    assert np.ndim(loss) == np.ndim(grad) == 0
    assert loss == np.log1p(np.sinh(2.0) ** 2) / 2 and grad == np.tanh(2.0)
    loss, grad = losslab.bce_and_grad(np.float32(0.25), 1.0, reduction="none")
    assert loss.dtype == grad.dtype == np.float32 and np.ndim(loss) == 0


# ------------------------------------------------------------ memory


@pytest.mark.parametrize("name", ["mse", "huber", "log_cosh", "bce", "bce_with_logits"])
def test_fused_calls_hold_at_most_three_array_sized_temporaries(name, rng):
    if name == "bce":
        first, second = rng.uniform(0.001, 0.999, 200_000), rng.integers(0, 2, 200_000).astype(np.float64)
    else:
        first, second = rng.normal(0, 3, 200_000), rng.integers(0, 2, 200_000).astype(np.float64)
    function = getattr(losslab, f"{name}_and_grad")
    function(first, second)  # warm-up: imports and caches are not temporaries
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = function(first, second)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    del result
    assert peak / first.nbytes <= 3.0, f"{name}_and_grad peaked at {peak / first.nbytes:.2f} arrays"
