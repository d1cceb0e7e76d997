"""GAN and VAE losses: PyTorch agreement, finite differences, the saturation lesson, extremes, dtypes, errors.

References: PyTorch's ``binary_cross_entropy_with_logits``, ``relu``, ``mse_loss``
and ``distributions.kl_divergence`` (float64, autograd for the gradients);
mpmath at 50 digits for the KL near the prior; 5-point central differences.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losslab
from losslab import generative as gen
from losslab.links import grad_on_probability

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

RNG = np.random.default_rng(18)
# |d| <= 6 for the PyTorch comparisons: PyTorch's BCE-with-logits takes log(e^-m + e^(-x-m)), not
# log1p, so where a term is e^-|d| small it keeps only about 16 + log10(e^-|d|) digits (at |d| = 8,
# its error reaches 1e-12; at |d| = 30, three digits are left); the tails are checked against
# mpmath below instead.
LOGITS = np.concatenate([np.clip(RNG.normal(0, 3, 30), -6, 6), [-6.0, -5.0, -1e-3, 0.0, 1e-3, 5.0, 6.0]])
OTHER_LOGITS = RNG.permutation(LOGITS)


def _bce(logits, label):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label), reduction="none")


# ------------------------------------------------------------ PyTorch agreement


def test_gan_discriminator_agrees_with_torch():
    expected, (g_real, g_fake) = torch_value_and_grads(
        lambda r, f: _bce(r, 1.0) + _bce(f, 0.0), [LOGITS, OTHER_LOGITS], [0, 1])
    loss, (d_real, d_fake) = gen.gan_discriminator_and_grad(LOGITS, OTHER_LOGITS, reduction="none")
    assert relative_error(loss, expected) < TORCH_RTOL
    assert relative_error(d_real, g_real) < TORCH_RTOL
    assert relative_error(d_fake, g_fake) < TORCH_RTOL
    assert gen.gan_discriminator(LOGITS, OTHER_LOGITS) == pytest.approx(expected.mean(), rel=TORCH_RTOL)


@pytest.mark.parametrize(("name", "reference"), [
    ("gan_generator_minimax", lambda d: -_bce(d, 0.0)),  # log(1 - sigma(d)) = -BCE(d, 0)
    ("gan_generator_nonsaturating", lambda d: _bce(d, 1.0)),  # -log sigma(d) = BCE(d, 1)
])
def test_generator_losses_agree_with_torch(name, reference):
    expected, (expected_grad,) = torch_value_and_grads(reference, [LOGITS], [0])
    loss, grad = getattr(gen, f"{name}_and_grad")(LOGITS, reduction="none")
    assert relative_error(loss, expected) < TORCH_RTOL
    assert relative_error(grad, expected_grad) < TORCH_RTOL


def test_wgan_and_hinge_losses_agree_with_torch():
    real, fake = RNG.normal(0, 2, 40), RNG.normal(0, 2, 40)
    cases = [
        (gen.wgan_critic_and_grad, (real, fake), lambda r, f: f - r),
        (gen.hinge_gan_discriminator_and_grad, (real, fake), lambda r, f: F.relu(1 - r) + F.relu(1 + f)),
        (gen.wgan_generator_and_grad, (fake,), lambda f: -f),
        (gen.hinge_gan_generator_and_grad, (fake,), lambda f: -f),
    ]
    for fused, args, reference in cases:
        expected, expected_grads = torch_value_and_grads(reference, list(args), list(range(len(args))))
        loss, grads = fused(*args, reduction="none")
        grads = grads if isinstance(grads, tuple) else (grads,)
        assert relative_error(loss, expected) < TORCH_RTOL
        for got, want in zip(grads, expected_grads, strict=True):
            assert relative_error(got, want) < TORCH_RTOL


def _torch_kl(mu, logvar):
    normal = torch.distributions.Normal
    prior = normal(torch.zeros_like(mu), torch.ones_like(mu))
    return torch.distributions.kl_divergence(normal(mu, torch.exp(logvar / 2)), prior).sum(-1)


def test_gaussian_kl_agrees_with_torch_distributions():
    mu = RNG.normal(0, 2, (12, 5))
    # |logvar| >= 0.5: there PyTorch's e^v - 1 - log(e^v) does not cancel, so it is itself accurate
    logvar = RNG.choice([-1, 1], (12, 5)) * RNG.uniform(0.5, 6, (12, 5))
    expected, (g_mu, g_logvar) = torch_value_and_grads(_torch_kl, [mu, logvar], [0, 1])
    loss, (d_mu, d_logvar) = gen.gaussian_kl_and_grad(mu, logvar, reduction="none")
    assert relative_error(loss, expected) < TORCH_RTOL
    assert relative_error(d_mu, g_mu) < TORCH_RTOL
    assert relative_error(d_logvar, g_logvar) < TORCH_RTOL


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("beta", [1.0, 0.0, 4.0])
def test_vae_elbo_agrees_with_torch(likelihood, beta):
    recon = RNG.normal(0, 3, (6, 8))
    target = RNG.uniform(0, 1, (6, 8)) if likelihood == "bernoulli" else RNG.normal(0, 1, (6, 8))
    mu, logvar = RNG.normal(0, 1, (6, 3)), RNG.uniform(-3, 3, (6, 3))

    def reference(x, y, m, v):
        if likelihood == "bernoulli":
            nll = F.binary_cross_entropy_with_logits(x, y, reduction="none").sum(-1)
        else:
            nll = 0.5 * F.mse_loss(x, y, reduction="none").sum(-1)
        return nll + beta * _torch_kl(m, v)

    expected, expected_grads = torch_value_and_grads(reference, [recon, target, mu, logvar], [0, 2, 3])
    loss, grads = gen.vae_elbo_and_grad(recon, target, mu, logvar, likelihood=likelihood, beta=beta,
                                        reduction="none")
    assert relative_error(loss, expected) < TORCH_RTOL
    for got, want in zip(grads, expected_grads, strict=True):
        assert scaled_error(got, want) < TORCH_RTOL


# ------------------------------------------------------------ the chapter's lesson


def test_minimax_generator_saturates_when_the_discriminator_is_confident():
    # D(G(z)) = 0.01: the minimax gradient is -0.01, the non-saturating one -0.99
    d = math.log(0.01 / 0.99)
    assert gen.gan_generator_minimax_grad(d) == pytest.approx(-0.01, rel=1e-14)
    assert gen.gan_generator_nonsaturating_grad(d) == pytest.approx(-0.99, rel=1e-14)
    # more confident, more vanished: at D(G(z)) = 1e-6 the ratio is a million
    d = math.log(1e-6 / (1 - 1e-6))
    assert gen.gan_generator_minimax_grad(d) == pytest.approx(-1e-6, rel=1e-12)
    assert gen.gan_generator_nonsaturating_grad(d) == pytest.approx(-(1 - 1e-6), rel=1e-14)
    far = np.array([-10.0, -20.0, -40.0])
    assert np.allclose(gen.gan_generator_minimax_grad(far), -np.exp(far), rtol=1e-8)  # ~ -e^d
    assert np.all(np.abs(gen.gan_generator_nonsaturating_grad(far) + 1) < 5e-5)


def test_both_generator_losses_push_the_same_way_and_differ_by_the_logit():
    # softplus(-d) - softplus(d) = -d: the two losses have the same fixed points
    d = np.linspace(-30, 30, 61)
    total = gen.gan_generator_minimax(d, reduction="none") + gen.gan_generator_nonsaturating(d, reduction="none")
    np.testing.assert_allclose(total, -d, rtol=1e-13, atol=1e-13)
    assert np.all(gen.gan_generator_minimax_grad(d) < 0) and np.all(gen.gan_generator_nonsaturating_grad(d) < 0)


@pytest.mark.parametrize("d", [-745.0, -300.0, -60.0, -30.0, -1e-8, 0.0, 1e-8, 30.0, 60.0, 300.0, 745.0])
def test_gan_losses_keep_their_tails_exactly(d):
    mp.mp.dps = 50
    softplus = lambda x: float(mp.log1p(mp.exp(mp.mpf(x))))  # noqa: E731
    sigmoid = lambda x: float(1 / (1 + mp.exp(-mp.mpf(x))))  # noqa: E731
    assert gen.gan_generator_minimax(d) == pytest.approx(-softplus(d), rel=2e-16, abs=0)
    assert gen.gan_generator_nonsaturating(d) == pytest.approx(softplus(-d), rel=2e-16, abs=0)
    assert gen.gan_discriminator(d, -d) == pytest.approx(2 * softplus(-d), rel=2e-16, abs=0)
    assert gen.gan_generator_minimax_grad(d) == pytest.approx(-sigmoid(d), rel=4e-16, abs=0)
    assert gen.gan_generator_nonsaturating_grad(d) == pytest.approx(-sigmoid(-d), rel=4e-16, abs=0)


def test_minimax_saturation_comes_from_the_sigmoid_not_the_probability():
    # with respect to D itself, d/dD log(1 - D) = -1/(1 - D) does not vanish as D -> 0
    p = np.array([1e-6, 0.01, 0.3, 0.9])
    from_logit = grad_on_probability(lambda z, target: gen.gan_generator_minimax_grad(z))(p, None)
    np.testing.assert_allclose(from_logit, -1 / (1 - p), rtol=1e-9)


def test_discriminator_loss_is_the_bce_of_real_as_one_and_fake_as_zero():
    loss = gen.gan_discriminator(LOGITS, OTHER_LOGITS, reduction="sum")
    concatenated = losslab.bce_with_logits(np.concatenate([LOGITS, OTHER_LOGITS]),
                                           np.concatenate([np.ones(LOGITS.size), np.zeros(LOGITS.size)]),
                                           reduction="sum")
    assert loss == pytest.approx(concatenated, rel=1e-14)
    assert gen.gan_discriminator(0.0, 0.0) == pytest.approx(2 * math.log(2), rel=1e-15)  # D = 1/2 everywhere


def test_hinge_discriminator_stops_once_confident_and_wgan_never_does():
    real, fake = np.array([1.5, 1.0, 0.5]), np.array([-2.0, -1.0, 0.0])
    np.testing.assert_array_equal(gen.hinge_gan_discriminator(real, fake, reduction="none"), [0.0, 0.0, 1.5])
    d_real, d_fake = gen.hinge_gan_discriminator_grad(real, fake)
    np.testing.assert_array_equal(d_real, [0.0, 0.0, -1.0])  # 0 on the kink at f(x) = 1
    np.testing.assert_array_equal(d_fake, [0.0, 0.0, 1.0])
    d_real, d_fake = gen.wgan_critic_grad(real * 1e6, fake * 1e6)
    np.testing.assert_array_equal(d_real, -1.0)
    np.testing.assert_array_equal(d_fake, 1.0)


# ------------------------------------------------------------ finite differences


FD_CASES = [
    (gen.gan_discriminator, gen.gan_discriminator_grad, lambda: (RNG.normal(0, 3, 6), RNG.normal(0, 3, 6)), [0, 1], {}),
    (gen.gan_generator_minimax, gen.gan_generator_minimax_grad, lambda: (RNG.normal(0, 3, 6),), [0], {}),
    (gen.gan_generator_nonsaturating, gen.gan_generator_nonsaturating_grad, lambda: (RNG.normal(0, 3, 6),), [0], {}),
    (gen.wgan_critic, gen.wgan_critic_grad, lambda: (RNG.normal(0, 3, 6), RNG.normal(0, 3, 6)), [0, 1], {}),
    (gen.wgan_generator, gen.wgan_generator_grad, lambda: (RNG.normal(0, 3, 6),), [0], {}),
    (gen.hinge_gan_generator, gen.hinge_gan_generator_grad, lambda: (RNG.normal(0, 3, 6),), [0], {}),
    # hinge kinks at real = 1 and fake = -1: values kept 0.2 away
    (gen.hinge_gan_discriminator, gen.hinge_gan_discriminator_grad,
     lambda: (np.array([-1.0, 0.3, 0.8, 1.2, 2.5]), np.array([-2.0, -1.2, -0.8, 0.4, 1.0])), [0, 1], {}),
    (gen.gaussian_kl, gen.gaussian_kl_grad, lambda: (RNG.normal(0, 1, (3, 4)), RNG.normal(0, 1.5, (3, 4))), [0, 1], {}),
    (gen.vae_elbo, gen.vae_elbo_grad,
     lambda: (RNG.normal(0, 2, (2, 5)), RNG.uniform(0, 1, (2, 5)), RNG.normal(0, 1, (2, 3)), RNG.normal(0, 1, (2, 3))),
     [0, 2, 3], {"beta": 1.0}),
    (gen.vae_elbo, gen.vae_elbo_grad,
     lambda: (RNG.normal(0, 2, (2, 5)), RNG.normal(0, 1, (2, 5)), RNG.normal(0, 1, (2, 3)), RNG.normal(0, 1, (2, 3))),
     [0, 2, 3], {"likelihood": "gaussian", "beta": 2.5}),
]


@pytest.mark.parametrize(("loss", "grad", "make", "differentiable", "params"), FD_CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(FD_CASES)])
def test_gradients_match_fourth_order_central_differences(loss, grad, make, differentiable, params):
    assert_gradients_match_differences(loss, grad, make(), differentiable, h=1e-3, **params)


def test_gradients_of_broadcast_arguments_are_summed_back():
    real = np.array([[0.5], [-1.0]])  # (2, 1) against (2, 3) fakes
    fake = RNG.normal(0, 2, (2, 3))
    assert_gradients_match_differences(gen.gan_discriminator, gen.gan_discriminator_grad, (real, fake), [0, 1], h=1e-3)
    mu = RNG.normal(0, 1, (1, 3))  # one mean shared by four samples
    logvar = RNG.normal(0, 1, (4, 3))
    assert_gradients_match_differences(gen.gaussian_kl, gen.gaussian_kl_grad, (mu, logvar), [0, 1], h=1e-3)
    recon = RNG.normal(0, 1, (1, 5))  # one reconstruction for four latent samples
    assert_gradients_match_differences(gen.vae_elbo, gen.vae_elbo_grad,
                                       (recon, RNG.uniform(0, 1, (1, 5)), mu, logvar), [0, 2, 3], h=1e-3)


@pytest.mark.parametrize(("loss", "grad", "make", "differentiable", "params"), FD_CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(FD_CASES)])
def test_fused_form_equals_the_separate_calls_and_reductions_agree(loss, grad, make, differentiable, params):
    args = make()
    fused = getattr(gen, f"{loss.__name__}_and_grad")
    assert_fused_matches(loss, grad, fused, args, **params)
    assert_reductions_agree(loss, args, **params)


# ------------------------------------------------------------ the KL near the prior


def _kl_reference(mu, v):
    mu, v = mp.mpf(mu), mp.mpf(v)
    return float((mp.expm1(v) - v + mu * mu) / 2)


@pytest.mark.parametrize("v", [1e-300, 1e-12, -1e-8, 1e-4, -0.01, 0.3, -0.49999, 0.5, -0.5, 0.51, 2.0, -40.0, 300.0])
def test_gaussian_kl_is_accurate_near_and_far_from_the_prior(v):
    mp.mp.dps = 50
    for mu in (0.0, 1e-9, 0.7):
        got = gen.gaussian_kl([mu], [v])
        want = _kl_reference(mu, v)
        assert got == pytest.approx(want, rel=4e-16, abs=0), (mu, v)


def test_gaussian_kl_is_zero_only_at_the_prior_and_positive_elsewhere():
    assert gen.gaussian_kl(np.zeros(4), np.zeros(4)) == 0.0
    mu, logvar = RNG.normal(0, 1, (50, 4)), RNG.normal(0, 1, (50, 4))
    assert np.all(gen.gaussian_kl(mu, logvar, reduction="none") > 0)
    d_mu, d_logvar = gen.gaussian_kl_grad(np.zeros(3), np.zeros(3))
    np.testing.assert_array_equal(d_mu, 0.0)
    np.testing.assert_array_equal(d_logvar, 0.0)


def test_vae_elbo_is_reconstruction_plus_beta_times_kl():
    recon, target = RNG.normal(0, 2, (3, 6)), RNG.uniform(0, 1, (3, 6))
    mu, logvar = RNG.normal(0, 1, (3, 2)), RNG.normal(0, 1, (3, 2))
    reconstruction = losslab.bce_with_logits(recon, target, reduction="none").sum(-1)
    kl = gen.gaussian_kl(mu, logvar, reduction="none")
    for beta in (0.0, 1.0, 3.5):
        np.testing.assert_allclose(gen.vae_elbo(recon, target, mu, logvar, beta=beta, reduction="none"),
                                   reconstruction + beta * kl, rtol=1e-14)


# ------------------------------------------------------------ extremes, dtypes, errors


def test_extreme_logits_give_their_limits_without_warnings():
    d = np.array([-np.inf, -1e300, -800.0, 0.0, 800.0, 1e300, np.inf])
    loss, grad = gen.gan_generator_nonsaturating_and_grad(d, reduction="none")
    np.testing.assert_array_equal(loss, [np.inf, 1e300, 800.0, math.log(2), 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(grad, [-1.0, -1.0, -1.0, -0.5, 0.0, 0.0, 0.0])
    loss, grad = gen.gan_generator_minimax_and_grad(d, reduction="none")
    np.testing.assert_array_equal(loss, [0.0, 0.0, 0.0, -math.log(2), -800.0, -1e300, -np.inf])
    np.testing.assert_array_equal(grad, [0.0, 0.0, 0.0, -0.5, -1.0, -1.0, -1.0])
    loss, (d_real, d_fake) = gen.gan_discriminator_and_grad(d, d[::-1], reduction="none")
    np.testing.assert_array_equal(loss, [np.inf, 2e300, 1600.0, 2 * math.log(2), 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(d_real, [-1.0, -1.0, -1.0, -0.5, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(d_fake, [1.0, 1.0, 1.0, 0.5, 0.0, 0.0, 0.0])


def test_extreme_scores_and_latents_overflow_only_to_their_true_infinity():
    assert gen.wgan_critic(-1e308, 1e308) == np.inf
    assert gen.hinge_gan_discriminator(-1e308, 1e308) == np.inf
    assert gen.gaussian_kl([0.0], [800.0]) == np.inf  # e^800 / 2 is past float max
    assert gen.gaussian_kl([1e200], [0.0]) == np.inf
    assert gen.gaussian_kl([0.0], [-1e300]) == pytest.approx(0.5e300, rel=1e-15)
    d_mu, d_logvar = gen.gaussian_kl_grad([1e-300], [-1e300])
    assert d_mu == 1e-300 and d_logvar == -0.5


def test_float32_stays_float32():
    d, e = as_float32(LOGITS[:6], OTHER_LOGITS[:6])
    assert_float32_kept(gen.gan_discriminator, gen.gan_discriminator_grad, (d, e), n_grads=2)
    assert_float32_kept(gen.gan_generator_minimax, gen.gan_generator_minimax_grad, (d,))
    assert_float32_kept(gen.gan_generator_nonsaturating, gen.gan_generator_nonsaturating_grad, (d,))
    assert_float32_kept(gen.wgan_critic, gen.wgan_critic_grad, (d, e), n_grads=2)
    assert_float32_kept(gen.hinge_gan_discriminator, gen.hinge_gan_discriminator_grad, (d, e), n_grads=2)
    assert_float32_kept(gen.wgan_generator, gen.wgan_generator_grad, (d,))
    assert_float32_kept(gen.hinge_gan_generator, gen.hinge_gan_generator_grad, (d,))
    mu, logvar = as_float32(RNG.normal(0, 1, (2, 3)), RNG.normal(0, 1, (2, 3)))
    assert_float32_kept(gen.gaussian_kl, gen.gaussian_kl_grad, (mu, logvar), n_grads=2)
    recon, target = as_float32(RNG.normal(0, 1, (2, 4)), RNG.uniform(0, 1, (2, 4)))
    assert_float32_kept(gen.vae_elbo, gen.vae_elbo_grad, (recon, target, mu, logvar), n_grads=3)
    # float32 results are within 4 float32 ulp of the float64 result (itself within an ulp or two of exact)
    wide = gen.gan_discriminator(d.astype(np.float64), e.astype(np.float64), reduction="none")
    narrow = gen.gan_discriminator(d, e, reduction="none")
    ulps = np.abs(narrow.astype(np.float64) - wide) / np.spacing(np.abs(wide).astype(np.float32)).astype(np.float64)
    assert ulps.max() <= 4.0, ulps


@pytest.mark.parametrize(("call", "match"), [
    (lambda: gen.gan_discriminator([0.0, np.nan], [0.0, 1.0]), "real_logits contain NaN"),
    (lambda: gen.gan_generator_minimax([np.nan]), "fake_logits contain NaN"),
    (lambda: gen.gan_discriminator(np.zeros(3), np.zeros(4)), r"real_logits with shape \(3,\).*fake_logits.*\(4,\)"),
    (lambda: gen.wgan_critic([np.inf], [0.0]), r"real_scores must be finite numbers, got inf"),
    (lambda: gen.hinge_gan_generator(["a"]), "fake_scores must be numbers"),
    (lambda: gen.wgan_generator([1.0], reduction="avg"), "reduction must be one of"),
    (lambda: gen.gaussian_kl(0.0, 0.0), "latent axis"),
    (lambda: gen.gaussian_kl([0.0], [np.nan]), "logvar must be finite numbers, got nan"),
    (lambda: gen.vae_elbo([[0.0]], [[1.5]], [[0.0]], [[0.0]]), r"target must lie in \[0, 1\], got 1.5"),
    (lambda: gen.vae_elbo([[0.0]], [[1.0]], [[0.0]], [[0.0]], beta=-1), r"beta must be in \[0, inf\), got -1"),
    (lambda: gen.vae_elbo([[0.0]], [[1.0]], [[0.0]], [[0.0]], likelihood="poisson"), "likelihood must be one of"),
    (lambda: gen.vae_elbo(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((3, 2)), np.zeros((3, 2))),
     r"sample shape \(2,\) and mu/logvar with sample shape \(3,\)"),
])
def test_bad_input_raises_a_value_error_that_names_it(call, match):
    with pytest.raises(ValueError, match=match):
        call()
