"""ListNet's exact gradient, and the atlas modules that compute float32 in float32 (issue 16).

- ``listnet_grad`` is :math:`\\operatorname{softmax}(s) - \\operatorname{softmax}(r)` from two double
  words rounded once; the reference is the same difference in mpmath at 200 bits (closed form, exact
  input values). It was 5 ulp off where nothing cancels and hundreds of ulp (of the result) where the
  two softmaxes nearly cancel.
- ``generative``, the ranking losses and ListNet's gradient, ``smooth_l1``, ``msle``, ``poisson_nll``
  (of a log-rate) and ``gaussian_nll`` compute float32 inputs in float32: a float32 call allocates about
  half of what the same float64 call does (an upcast allocates more, the float64 copies). ``tracemalloc``
  sees NumPy's allocations. (``poisson_nll``, ``gaussian_nll`` and ``listnet_grad`` allocated 1.05 to 2.25
  times the float64 peak before they did.)
- float32's own overflow threshold: ``gaussian_kl`` keeps :math:`e^v/2` finite up to float32 max.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from losslab import extra_regression, generative, ranking

from .atlas_checks import assert_computed_in_float32

mpmath.mp.prec = 200


def exact_listnet_grad(scores, relevance) -> list:
    weights = [mpmath.exp(mpmath.mpf(float(v))) for v in scores]
    targets = [mpmath.exp(mpmath.mpf(float(v))) for v in relevance]
    total, target_total = sum(weights), sum(targets)
    return [w / total - t / target_total for w, t in zip(weights, targets, strict=True)]


def ulp_errors(computed, exact) -> list[float]:
    """|computed - exact| in ulp of the exact value (float64)."""
    return [float(abs(mpmath.mpf(float(c)) - e) / mpmath.mpf(float(np.spacing(abs(float(e))))))
            for c, e in zip(computed, exact, strict=True)]


# rows of the bench's accuracy grid where the old gradient (the cross-entropy gradient of the rounded
# softmax(r)) was worst: 5.0 ulp where nothing cancels (the last entry of the first row), 433 and 419 ulp
# of the result where the two softmaxes nearly cancel
WORST_ROWS = [
    ([-42.428047813471565, -0.1690815576622296, -0.5273177988465736, 4.159885135823659, -0.6311230293692761,
      0.4900492606314407, -4.428047813471569, 1.5138715825039137, 1.2429398953447826, 1.6068950566271094],
     [8.0, 2.0, 1.0, 5.0, 7.0, 3.0, 4.0, 0.0, 9.0, 6.0]),
    ([-42.428047813471565, -0.1690815576622296, -0.5273177988465736, 4.159885135823659, -0.6311230293692761,
      0.4900492606314407, -4.428047813471569, 1.5138715825039137, 1.2429398953447826, 1.6068950566271094],
     [1.3350202412210612, -2.227736718607109, -0.014672052260536835, 0.3047311925042457, -0.9689305181122541,
      -0.9744594968982346, 1.581891639202593, -1.3588373547076273, 1.725838442221217, -0.16685087066067408]),
    ([-5.926227297862789, -0.6770381717570142, 1.9961890700435965, -1.4498479835602178, -0.4303518270451766,
      -0.8622928358043986, 1.1765076643927146, 0.9309951415898783, 2.219232878533676],
     [2.566144455953808, -0.552126575283486, -0.1651907030929535, -4.7741190105845615, 2.545777451794824,
      0.7331132224194161, 1.677811741448707, -1.6469969932360629, 1.5732795725335176]),
]


@pytest.mark.parametrize("row", range(len(WORST_ROWS)))
def test_listnet_grad_is_within_an_ulp_of_the_exact_difference_of_softmaxes(row):
    scores, relevance = (np.array(v) for v in WORST_ROWS[row])
    exact = exact_listnet_grad(scores, relevance)
    for grad in (ranking.listnet_grad(scores, relevance), ranking.listnet_and_grad(scores, relevance)[1]):
        errors = ulp_errors(grad, exact)
        assert max(errors) <= 1.0, (row, errors)


@pytest.mark.parametrize("noise", [1e-2, 1e-6])
def test_listnet_grad_keeps_its_digits_where_the_scores_nearly_follow_the_relevance(noise):
    """Scores close to the relevance plus a shift: every entry is a small difference of two softmaxes.

    The double words carry about 2^-66 of the larger softmax (their weights from
    _double_word.exp_double_word, 2^-68.7; the plain gradient had about 2^-52: 2 ulp of it, 2000 ulp of the
    result at noise 1e-2), so each entry is within an ulp of itself plus 2^-70 of that larger term (the
    errors of the two softmaxes, from nearly the same gaps, largely cancel: 2^-79.5 measured; ranking's
    own exponential, 2^-65.7, reached 2^-67.0 at noise 1e-6, and _double_word.exp_scaled 2^-64.3).
    """
    rng = np.random.default_rng(1016)
    relevance = rng.permutation(np.tile(np.arange(8.0), (12, 1)), axis=1)
    scores = relevance + 3.0 + rng.normal(0, noise, relevance.shape)
    grad = ranking.listnet_grad(scores, relevance)
    for s, r, g in zip(scores, relevance, grad, strict=True):
        weights = [mpmath.exp(mpmath.mpf(float(v))) for v in s]
        targets = [mpmath.exp(mpmath.mpf(float(v))) for v in r]
        p = [w / sum(weights) for w in weights]
        y = [t / sum(targets) for t in targets]
        for value, p_k, y_k in zip(g, p, y, strict=True):
            exact = p_k - y_k
            allowed = mpmath.mpf(float(np.spacing(abs(float(exact))))) + max(p_k, y_k) * mpmath.mpf(2) ** -70
            assert abs(mpmath.mpf(float(value)) - exact) <= allowed, (s, r, g)
    if noise == 1e-2:  # and there, within an ulp of the result
        for s, r, g in zip(scores, relevance, grad, strict=True):
            assert max(ulp_errors(g, exact_listnet_grad(s, r))) <= 1.0


def test_listnet_grad_tails_and_spreads_past_the_float_range():
    # e^-800 is below the float range: that probability is 0, and the rest keep their digits
    scores = np.array([[0.0, -800.0, 1.0], [1e300, -1e300, 0.0], [700.0, -700.0, 0.0]])
    relevance = np.array([[1.0, 0.0, -750.0], [0.0, 800.0, 1.0], [-700.0, 700.0, 0.0]])
    grad = ranking.listnet_grad(scores, relevance)
    assert np.all(np.isfinite(grad))
    for s, r, g in zip(scores, relevance, grad, strict=True):
        exact = exact_listnet_grad(s, r)
        for value, want in zip(g, exact, strict=True):
            assert abs(mpmath.mpf(float(value)) - want) <= mpmath.mpf(2.0**-1074) + abs(want) * 2.0**-53, (s, r, g)


# ------------------------------------------------------------ float32 in float32

N = 1 << 15
RNG = np.random.default_rng(32)
A, B = RNG.normal(0, 3, N), RNG.normal(0, 3, N)
ROWS_A, ROWS_B = A.reshape(-1, 8), B.reshape(-1, 8)
NATIVE = [
    (generative.gan_discriminator_and_grad, (A, B)),
    (generative.gan_generator_minimax_and_grad, (A,)),
    (generative.gan_generator_nonsaturating_and_grad, (A,)),
    (generative.wgan_critic_and_grad, (A, B)),
    (generative.wgan_generator_and_grad, (A,)),
    (generative.hinge_gan_discriminator_and_grad, (A, B)),
    (generative.hinge_gan_generator_and_grad, (A,)),
    (generative.gaussian_kl_and_grad, (ROWS_A, ROWS_B)),
    (generative.vae_elbo_and_grad, (ROWS_A, np.abs(np.tanh(ROWS_B)), ROWS_A, ROWS_B)),
    (ranking.margin_ranking_and_grad, (A, B, np.sign(B))),
    (ranking.bpr_and_grad, (A, B)),
    (ranking.listnet, (ROWS_A, ROWS_B)),
    (extra_regression.smooth_l1_and_grad, (A, B)),
    (extra_regression.msle_and_grad, (np.abs(A), np.abs(B))),
    (extra_regression.poisson_nll_and_grad, (A, np.abs(np.rint(B)))),
    (extra_regression.poisson_nll_grad, (A, np.abs(np.rint(B)))),
    (extra_regression.gaussian_nll_and_grad, (A, B, np.abs(B))),
    (extra_regression.gaussian_nll_grad, (A, B, np.abs(B))),
    (ranking.listnet_grad, (ROWS_A, ROWS_B)),
    (ranking.listnet_and_grad, (ROWS_A, ROWS_B)),
]


@pytest.mark.parametrize(("function", "args"), NATIVE, ids=[f.__name__ for f, _ in NATIVE])
def test_float32_inputs_are_computed_in_float32(function, args):
    assert_computed_in_float32(function, args)


def test_gaussian_kl_in_float32_overflows_only_past_float32_max():
    # (e^v - 1)/2 and (e^v - 1 - v)/2 are below float32 max up to v = 89.41, where e^v itself overflowed
    # at 88.72 (a float64 threshold would keep e^v there and overflow)
    logvar = np.array([[88.0, 88.9, 89.25, 89.4, 89.5]], np.float32)
    mu = np.zeros_like(logvar)
    terms = [generative.gaussian_kl(mu[:, [i]], logvar[:, [i]], reduction="none")[0] for i in range(5)]
    grad = generative.gaussian_kl_grad(mu, logvar)[1][0]
    for i, v in enumerate(logvar[0]):
        v = mpmath.mpf(float(v))
        for got, want in ((grad[i], (mpmath.exp(v) - 1) / 2), (terms[i], (mpmath.exp(v) - 1 - v) / 2)):
            rounded = np.float32(float(want)) if want < 3.4028234663852886e38 else np.float32(np.inf)
            if np.isinf(rounded):
                assert np.isinf(got)
            else:
                assert abs(float(got) - float(rounded)) <= 4 * float(np.spacing(rounded)), (float(v), got, rounded)
    assert np.isfinite(grad[3]) and np.isinf(grad[4])
