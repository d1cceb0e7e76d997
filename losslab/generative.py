r"""Losses of generative models: GANs (minimax, non-saturating, Wasserstein, hinge) and the VAE's ELBO.

GAN losses take the discriminator's raw output on a batch of real samples
:math:`x` and of generated samples :math:`G(z)`:

- the **logit** :math:`d` of a sigmoid discriminator, :math:`D = \sigma(d)`
  (``gan_discriminator``, ``gan_generator_minimax``, ``gan_generator_nonsaturating``;
  ±inf allowed, NaN rejected);
- the unbounded **critic score** :math:`f` (``wgan_*``, ``hinge_gan_*``; finite).

Every gradient is with respect to those raw outputs (the logit or the score),
the quantity back-propagation enters the discriminator with. For a gradient
with respect to the probability :math:`D = \sigma(d)` divide by
:math:`D(1 - D)` (``losslab.links.grad_on_probability``).

The chapter's lesson, in GAN form (Goodfellow et al., "Generative Adversarial
Nets", NeurIPS 2014, section 3): the generator's minimax loss
:math:`\log(1 - D(G(z)))` has :math:`\partial \ell / \partial d = -\sigma(d) = -D(G(z))`,
which vanishes exactly when the discriminator confidently rejects the fakes
(:math:`D(G(z)) \to 0`), early in training, just as squared error on a sigmoid
stops learning when confidently wrong. The non-saturating loss
:math:`-\log D(G(z))` has the same fixed points but
:math:`\partial \ell / \partial d = -(1 - D(G(z)))`, close to :math:`-1` there: at
:math:`D(G(z)) = 0.01` the two gradients are :math:`-0.01` and :math:`-0.99`.

The two-input losses (``gan_discriminator``, ``wgan_critic``,
``hinge_gan_discriminator``) pair the real and fake outputs elementwise; their
shapes must broadcast (use equal batch sizes, or call the one-sided terms
separately). Their ``*_grad`` returns a tuple ``(d/d real, d/d fake)``, each
shaped like its argument.

The VAE's negative ELBO (Kingma and Welling, "Auto-Encoding Variational Bayes",
ICLR 2014, appendix B) is a reconstruction negative log-likelihood plus the KL
divergence of the encoder's diagonal Gaussian :math:`N(\mu, e^{\log\sigma^2})`
from the prior :math:`N(0, I)`: ``gaussian_kl`` and ``vae_elbo``.

Every function here computes float32 inputs in float32 (nothing is upcast):
the GAN losses and ``gaussian_kl`` and their gradients are within 3 ulp of the
float32-rounded exact value, and overflow only where it does; ``vae_elbo`` is a
sum of ``bce_with_logits`` terms (the core's, in float32 too) and KL terms.
"""

from __future__ import annotations

import numpy as np

from losslab import _double_word as dw
from losslab._inputs import (
    Inputs,
    check_finite,
    check_not_nan,
    check_shapes_broadcast,
    sigmoid_of,
    softplus_of,
    validate_choice,
)
from losslab._validation import (
    Interval,
    check_in_closed_interval,
    fits_float32,
    validate_reduction,
)
from losslab.binary import bce_with_logits_and_grad

NON_NEGATIVE = Interval(0.0, None)
LIKELIHOODS = ("bernoulli", "gaussian")


# e^x (float64) or e^x/2 (float32) is finite up to here: past it the halves are taken first
_LARGE_EXPONENT = {np.dtype(np.float64): 709.0, np.dtype(np.float32): 88.0}


def _logits(named: dict[str, object]) -> Inputs:
    inputs = Inputs(named, native=True)
    for array, name in zip(inputs.arrays, named, strict=True):
        check_not_nan(array, name)
    check_shapes_broadcast(inputs.arrays, list(named))
    return inputs


def _scores(named: dict[str, object]) -> Inputs:
    inputs = Inputs(named, native=True)
    for array, name in zip(inputs.arrays, named, strict=True):
        check_finite(array, name)
    check_shapes_broadcast(inputs.arrays, list(named))
    return inputs


def _result(inputs: Inputs, loss, grads, reduction, want_loss, want_grad):
    """``loss``, ``grads`` or both, finished: reduced loss, gradients shaped like their inputs."""
    loss_value = inputs.finish_loss(loss, reduction) if want_loss else None
    grad_value = None
    if want_grad:
        shape = np.broadcast_shapes(*inputs.shapes)  # a broadcast argument's gradient is summed back
        finished = tuple(inputs.finish_grad(np.broadcast_to(g, shape), i) for i, g in enumerate(grads))
        grad_value = finished[0] if len(finished) == 1 else finished
    if want_loss and want_grad:
        return loss_value, grad_value
    return loss_value if want_loss else grad_value


# ------------------------------------------------------------ GAN: the original minimax game


def _gan_discriminator(real, fake, want_loss, want_grad, reduction="mean"):
    inputs = _logits({"real_logits": real, "fake_logits": fake})
    d_real, d_fake = inputs.arrays
    # -log sigma(d) = softplus(-d) and -log(1 - sigma(d)) = softplus(d): finite for every finite d
    with np.errstate(over="ignore"):  # float32: a sum past float max is inf, its true size
        loss = softplus_of(-d_real) + softplus_of(d_fake) if want_loss else None
    # sigma(d) - 1 = -sigma(-d), formed without cancellation
    grads = (-sigmoid_of(-d_real), sigmoid_of(d_fake)) if want_grad else None
    return _result(inputs, loss, grads, reduction, want_loss, want_grad)


def gan_discriminator(real_logits, fake_logits, *, reduction: str = "mean"):
    r"""The discriminator's GAN loss: binary cross-entropy with real as 1 and fake as 0.

    .. math:: \ell = -\log D(x) - \log\bigl(1 - D(G(z))\bigr)
              = \operatorname{softplus}(-d_r) + \operatorname{softplus}(d_f),
              \qquad D = \sigma(d)

    .. math:: \frac{\partial \ell}{\partial d_r} = \sigma(d_r) - 1, \qquad
              \frac{\partial \ell}{\partial d_f} = \sigma(d_f)

    ``real_logits`` (:math:`d_r`) and ``fake_logits`` (:math:`d_f`) are the
    discriminator's logits on real and generated samples, paired elementwise
    (shapes must broadcast); ``reduction="mean"`` gives
    :math:`\operatorname{mean}(-\log D(x)) + \operatorname{mean}(-\log(1 - D(G(z))))`
    for equal batch sizes. Its minimum over :math:`D` is :math:`2 \log 2` less
    twice the Jensen-Shannon divergence of the data and generator distributions.
    Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014, eq. 1.
    Same as ``bce_with_logits`` on the concatenated batch with labels 1 and 0,
    i.e. PyTorch's ``binary_cross_entropy_with_logits`` on each half.
    """
    validate_reduction(reduction)
    return _gan_discriminator(real_logits, fake_logits, True, False, reduction)


def gan_discriminator_grad(real_logits, fake_logits):
    r"""``(dℓ/d real_logits, dℓ/d fake_logits)`` = :math:`(\sigma(d_r) - 1,\ \sigma(d_f))`, each shaped like its argument."""
    return _gan_discriminator(real_logits, fake_logits, False, True)


def gan_discriminator_and_grad(real_logits, fake_logits, *, reduction: str = "mean"):
    """``(gan_discriminator(...), gan_discriminator_grad(...))`` from one validation."""
    validate_reduction(reduction)
    return _gan_discriminator(real_logits, fake_logits, True, True, reduction)


def _gan_generator_minimax(fake, want_loss, want_grad, reduction="mean"):
    inputs = _logits({"fake_logits": fake})
    (d_fake,) = inputs.arrays
    loss = -softplus_of(d_fake) if want_loss else None  # log(1 - sigma(d)) = -softplus(d)
    grads = (-sigmoid_of(d_fake),) if want_grad else None
    return _result(inputs, loss, grads, reduction, want_loss, want_grad)


def gan_generator_minimax(fake_logits, *, reduction: str = "mean"):
    r"""The generator's loss in the original minimax game: it minimises :math:`\log(1 - D(G(z)))`.

    .. math:: \ell = \log\bigl(1 - \sigma(d_f)\bigr) = -\operatorname{softplus}(d_f) \le 0,
              \qquad \frac{\partial \ell}{\partial d_f} = -\sigma(d_f) = -D(G(z))

    The gradient **saturates**: when the discriminator confidently rejects the
    fakes (:math:`d_f \to -\infty`, :math:`D(G(z)) \to 0`), which is where
    training starts, it is :math:`\approx -e^{d_f}`, and the generator barely
    learns (Goodfellow et al. 2014, section 3). With respect to the probability
    :math:`D` it is :math:`-1/(1 - D)`, which does not vanish: the saturation
    comes from the sigmoid, as for squared error on a sigmoid output.
    ``fake_logits``: the discriminator's logits on generated samples.
    """
    validate_reduction(reduction)
    return _gan_generator_minimax(fake_logits, True, False, reduction)


def gan_generator_minimax_grad(fake_logits):
    r""":math:`\partial \ell / \partial d_f = -\sigma(d_f)`: vanishes as :math:`D(G(z)) \to 0`."""
    return _gan_generator_minimax(fake_logits, False, True)


def gan_generator_minimax_and_grad(fake_logits, *, reduction: str = "mean"):
    """``(gan_generator_minimax(...), gan_generator_minimax_grad(...))`` from one validation."""
    validate_reduction(reduction)
    return _gan_generator_minimax(fake_logits, True, True, reduction)


def _gan_generator_nonsaturating(fake, want_loss, want_grad, reduction="mean"):
    inputs = _logits({"fake_logits": fake})
    (d_fake,) = inputs.arrays
    loss = softplus_of(-d_fake) if want_loss else None  # -log sigma(d) = softplus(-d)
    grads = (-sigmoid_of(-d_fake),) if want_grad else None  # sigma(d) - 1 without cancellation
    return _result(inputs, loss, grads, reduction, want_loss, want_grad)


def gan_generator_nonsaturating(fake_logits, *, reduction: str = "mean"):
    r"""The non-saturating generator loss: maximise :math:`\log D(G(z))` instead of minimising :math:`\log(1 - D(G(z)))`.

    .. math:: \ell = -\log \sigma(d_f) = \operatorname{softplus}(-d_f),
              \qquad \frac{\partial \ell}{\partial d_f} = \sigma(d_f) - 1 = -\bigl(1 - D(G(z))\bigr)

    The BCE-like fix of the minimax loss (Goodfellow et al. 2014, section 3):
    the same fixed point, but the gradient is close to :math:`-1` exactly where
    the minimax one vanishes, when the discriminator confidently rejects the
    fakes. It is ``bce_with_logits(fake_logits, 1)``: the generator trains on
    its fakes labelled real. ``fake_logits``: the discriminator's logits on
    generated samples.
    """
    validate_reduction(reduction)
    return _gan_generator_nonsaturating(fake_logits, True, False, reduction)


def gan_generator_nonsaturating_grad(fake_logits):
    r""":math:`\partial \ell / \partial d_f = \sigma(d_f) - 1`: about :math:`-1` when :math:`D(G(z)) \to 0`."""
    return _gan_generator_nonsaturating(fake_logits, False, True)


def gan_generator_nonsaturating_and_grad(fake_logits, *, reduction: str = "mean"):
    """``(gan_generator_nonsaturating(...), gan_generator_nonsaturating_grad(...))`` from one validation."""
    validate_reduction(reduction)
    return _gan_generator_nonsaturating(fake_logits, True, True, reduction)


# ------------------------------------------------------------ Wasserstein GAN


def _wgan_critic(real, fake, want_loss, want_grad, reduction="mean"):
    inputs = _scores({"real_scores": real, "fake_scores": fake})
    f_real, f_fake = inputs.arrays
    shape = np.broadcast_shapes(f_real.shape, f_fake.shape)
    with np.errstate(over="ignore"):  # a difference past float max: inf is its true size
        loss = f_fake - f_real if want_loss else None
    grads = (np.full(shape, -1.0, inputs.dtype), np.full(shape, 1.0, inputs.dtype)) if want_grad else None
    return _result(inputs, loss, grads, reduction, want_loss, want_grad)


def wgan_critic(real_scores, fake_scores, *, reduction: str = "mean"):
    r"""The Wasserstein GAN critic's loss: score the fakes low and the real samples high.

    .. math:: \ell = f(G(z)) - f(x),\qquad
              \frac{\partial \ell}{\partial f(x)} = -1,\quad \frac{\partial \ell}{\partial f(G(z))} = 1

    With a 1-Lipschitz critic :math:`f`, :math:`-\min \ell` estimates the
    Wasserstein-1 distance between the data and the generator (Arjovsky,
    Chintala and Bottou, "Wasserstein GAN", ICML 2017, eq. 3). The Lipschitz
    constraint (weight clipping, or the gradient penalty of Gulrajani et al.
    2017, which needs gradients with respect to the critic's *input*) is not
    part of this loss. Unbounded below: its gradient never saturates.
    ``real_scores``, ``fake_scores``: the critic's raw outputs, paired
    elementwise (shapes must broadcast), finite.
    """
    validate_reduction(reduction)
    return _wgan_critic(real_scores, fake_scores, True, False, reduction)


def wgan_critic_grad(real_scores, fake_scores):
    """``(dℓ/d real_scores, dℓ/d fake_scores)`` = ``(-1, +1)`` everywhere, each shaped like its argument."""
    return _wgan_critic(real_scores, fake_scores, False, True)


def wgan_critic_and_grad(real_scores, fake_scores, *, reduction: str = "mean"):
    """``(wgan_critic(...), wgan_critic_grad(...))`` from one validation."""
    validate_reduction(reduction)
    return _wgan_critic(real_scores, fake_scores, True, True, reduction)


def _negated_score(fake, want_loss, want_grad, reduction="mean"):
    inputs = _scores({"fake_scores": fake})
    (f_fake,) = inputs.arrays
    loss = -f_fake if want_loss else None
    grads = (np.full(f_fake.shape, -1.0, inputs.dtype),) if want_grad else None
    return _result(inputs, loss, grads, reduction, want_loss, want_grad)


def wgan_generator(fake_scores, *, reduction: str = "mean"):
    r"""The Wasserstein GAN generator's loss, :math:`\ell = -f(G(z))`, :math:`\partial \ell / \partial f = -1`.

    The generator raises the critic's score of its samples; the gradient is
    constant, so it never saturates (Arjovsky et al., ICML 2017, algorithm 1).
    ``fake_scores``: the critic's raw outputs on generated samples, finite.
    """
    validate_reduction(reduction)
    return _negated_score(fake_scores, True, False, reduction)


def wgan_generator_grad(fake_scores):
    r""":math:`\partial \ell / \partial f(G(z)) = -1`, shaped like ``fake_scores``."""
    return _negated_score(fake_scores, False, True)


def wgan_generator_and_grad(fake_scores, *, reduction: str = "mean"):
    """``(wgan_generator(...), wgan_generator_grad(...))`` from one validation."""
    validate_reduction(reduction)
    return _negated_score(fake_scores, True, True, reduction)


# ------------------------------------------------------------ hinge GAN


def _hinge_gan_discriminator(real, fake, want_loss, want_grad, reduction="mean"):
    inputs = _scores({"real_scores": real, "fake_scores": fake})
    f_real, f_fake = inputs.arrays
    real_slack, fake_slack = 1 - f_real, 1 + f_fake
    with np.errstate(over="ignore"):  # a sum past float max: inf is its true size
        loss = np.maximum(real_slack, 0) + np.maximum(fake_slack, 0) if want_loss else None
    shape = np.broadcast_shapes(f_real.shape, f_fake.shape)
    grads = None
    if want_grad:  # 0 on the kink (slack exactly 0), as losslab.hinge
        one, zero = inputs.dtype.type(1), inputs.dtype.type(0)
        grads = (np.broadcast_to(np.where(real_slack > 0, -one, zero), shape),
                 np.broadcast_to(np.where(fake_slack > 0, one, zero), shape))
    return _result(inputs, loss, grads, reduction, want_loss, want_grad)


def hinge_gan_discriminator(real_scores, fake_scores, *, reduction: str = "mean"):
    r"""The hinge GAN discriminator's loss: margins of 1 on each side.

    .. math:: \ell = \max(0,\ 1 - f(x)) + \max(0,\ 1 + f(G(z)))

    .. math:: \frac{\partial \ell}{\partial f(x)} = -[f(x) < 1],\qquad
              \frac{\partial \ell}{\partial f(G(z))} = [f(G(z)) > -1]

    (0 on the kinks). Real samples scored above 1 and fakes below -1 cost
    nothing, so the discriminator stops pushing once it is confident (Lim and
    Ye, "Geometric GAN", 2017; Miyato et al., "Spectral Normalization for
    GANs", ICLR 2018, eq. 16). ``real_scores``, ``fake_scores``: raw outputs,
    paired elementwise (shapes must broadcast), finite.
    """
    validate_reduction(reduction)
    return _hinge_gan_discriminator(real_scores, fake_scores, True, False, reduction)


def hinge_gan_discriminator_grad(real_scores, fake_scores):
    """``(dℓ/d real_scores, dℓ/d fake_scores)``: ``-1`` below a real score of 1, ``+1`` above a fake score of -1, else 0."""
    return _hinge_gan_discriminator(real_scores, fake_scores, False, True)


def hinge_gan_discriminator_and_grad(real_scores, fake_scores, *, reduction: str = "mean"):
    """``(hinge_gan_discriminator(...), hinge_gan_discriminator_grad(...))`` from one validation."""
    validate_reduction(reduction)
    return _hinge_gan_discriminator(real_scores, fake_scores, True, True, reduction)


def hinge_gan_generator(fake_scores, *, reduction: str = "mean"):
    r"""The hinge GAN generator's loss, :math:`\ell = -f(G(z))` (no hinge on the generator's side).

    :math:`\partial \ell / \partial f = -1`: the same as ``wgan_generator``
    (Miyato et al., ICLR 2018, eq. 17); only the discriminators differ.
    ``fake_scores``: the discriminator's raw outputs on generated samples, finite.
    """
    validate_reduction(reduction)
    return _negated_score(fake_scores, True, False, reduction)


def hinge_gan_generator_grad(fake_scores):
    r""":math:`\partial \ell / \partial f(G(z)) = -1`, shaped like ``fake_scores``."""
    return _negated_score(fake_scores, False, True)


def hinge_gan_generator_and_grad(fake_scores, *, reduction: str = "mean"):
    """``(hinge_gan_generator(...), hinge_gan_generator_grad(...))`` from one validation."""
    validate_reduction(reduction)
    return _negated_score(fake_scores, True, True, reduction)


# ------------------------------------------------------------ VAE


def _exp_minus_one_minus(x: np.ndarray) -> np.ndarray:
    r""":math:`e^x - 1 - x \ge 0` to a few ulp: a Taylor series for :math:`|x| < 1/2`, where
    ``expm1(x) - x`` would cancel (it loses :math:`\log_2(2/|x|)` bits), ``expm1(x) - x`` beyond."""
    small = np.abs(x) < 0.5
    xs = np.where(small, x, 0.0)
    # x^2/2! + x^3/3! + ... + x^17/17!, Horner from the top (the x^18 term is below 1e-17 relative)
    series = np.ones_like(xs)
    for k in range(17, 2, -1):
        series = 1 + series * xs / k
    series *= xs * xs / 2
    with np.errstate(over="ignore"):  # e^x past float max: inf is the true size
        large = np.expm1(np.where(small, 1.0, x)) - np.where(small, 1.0, x)
    near = ~small & (np.abs(x) < 40)
    if near.any():  # expm1(x) - x still cancels by up to 2 bits (expm1's ulp became 2.7 ulp at x = 0.51)
        large = np.where(near, _exp_minus_one_minus_double_word(np.where(near, x, 1.0)), large)
    return np.where(small, series, large)


def _exp_minus_one_minus_double_word(x: np.ndarray) -> np.ndarray:
    r""":math:`e^x - 1 - x` for moderate ``x`` (:math:`|x| < 40`) from :math:`e^x` as a double word (relative
    error about ``2^-62``, float32 ``2^-29``) and exact two-sums, rounded once."""
    high, low, power = dw.exp_scaled(x)
    high, low = np.ldexp(high, power), np.ldexp(low, power)  # exact: e^x is a normal float for |x| < 40
    first, first_error = dw.two_sum(high, -np.ones_like(x))
    second, second_error = dw.two_sum(first, -x)
    return second + (first_error + second_error + low)


def _kl_inputs(mu, logvar):
    inputs = Inputs({"mu": mu, "logvar": logvar}, native=True)
    mean, log_variance = inputs.arrays
    check_finite(mean, "mu")
    check_finite(log_variance, "logvar")
    shape = check_shapes_broadcast([mean, log_variance], ["mu", "logvar"])
    if not shape:
        raise ValueError("mu and logvar must have a latent axis (the last axis); got scalars")
    return inputs, shape


def _half_expm1(x: np.ndarray) -> np.ndarray:
    r""":math:`(e^x - 1)/2`, also where :math:`e^x` overflows and its half does not (:math:`709.78 < x \le 710.47` in float64, :math:`88.72 < x \le 89.42` in float32)."""
    with np.errstate(over="ignore"):  # past float max: inf is the true size
        big = x > _LARGE_EXPONENT[x.dtype]
        if x.dtype == np.float64:
            half = np.exp(np.where(big, x, 0.0) / 2)  # x/2 is exact
            return np.where(big, (0.5 * half) * half, 0.5 * np.expm1(np.where(big, 0.0, x)))
        # float32: the square of e^(x/2) doubles float32 exp's error (4 ulp); e^x/2 = 2^127 e^(x - 128 log 2)
        # instead, the reduction exact (Cody-Waite: 128 times a 16-bit head of log 2, then its tail)
        reduced = (np.where(big, x, _LOG_TWO_HEAD_128) - _LOG_TWO_HEAD_128) - _LOG_TWO_TAIL_128
        return np.where(big, np.ldexp(np.exp(reduced), 127), 0.5 * np.expm1(np.where(big, 0, x)))


_LOG_TWO_HEAD_128 = np.float32(128 * 0.693145751953125)  # 88.72265625, exact
_LOG_TWO_TAIL_128 = np.float32(128 * 1.428606765330187e-06)


def _kl_terms(mean, log_variance, want_loss, want_grad):
    """Per-dimension KL terms and their gradients (unsummed)."""
    terms = grads = None
    with np.errstate(over="ignore"):  # mu^2/2 or e^logvar/2 past float max: inf is their true size
        if want_loss:
            # halves taken before the sums: e^v/2 and mu^2/2 stay finite a little past e^v and mu^2
            big = log_variance > _LARGE_EXPONENT[log_variance.dtype]
            halved = np.where(big, _half_expm1(log_variance) - 0.5 * log_variance,
                              0.5 * _exp_minus_one_minus(np.where(big, 0.0, log_variance)))
            terms = halved + (0.5 * mean) * mean
        if want_grad:
            shape = np.broadcast_shapes(mean.shape, log_variance.shape)
            grads = (np.broadcast_to(mean, shape), np.broadcast_to(_half_expm1(log_variance), shape))
    return terms, grads


def _gaussian_kl(mu, logvar, want_loss, want_grad, reduction="mean"):
    inputs, _ = _kl_inputs(mu, logvar)
    terms, grads = _kl_terms(*inputs.arrays, want_loss, want_grad)
    with np.errstate(over="ignore"):  # float32: a sum past float max is inf, its true size
        loss = terms.sum(axis=-1) if want_loss else None
    return _result(inputs, loss, grads, reduction, want_loss, want_grad)


def gaussian_kl(mu, logvar, *, reduction: str = "mean"):
    r"""KL divergence of a diagonal Gaussian from the standard normal, summed over the latent axis.

    .. math:: \ell = \mathrm{KL}\bigl(N(\mu, \operatorname{diag} e^{v})\,\|\,N(0, I)\bigr)
              = \tfrac12 \sum_j \bigl(e^{v_j} - 1 - v_j + \mu_j^2\bigr),
              \qquad v = \log \sigma^2

    .. math:: \frac{\partial \ell}{\partial \mu_j} = \mu_j,\qquad
              \frac{\partial \ell}{\partial v_j} = \tfrac12 \bigl(e^{v_j} - 1\bigr)

    The VAE's regulariser (Kingma and Welling, ICLR 2014, appendix B, where it
    is :math:`-D_{KL}`). ``mu`` and ``logvar`` are the encoder's outputs,
    shaped ``(..., latent)``; the last axis is summed, leading axes are samples
    (they must broadcast). Returns the tuple ``(dℓ/dmu, dℓ/dlogvar)`` as
    gradient. Equals PyTorch's
    ``kl_divergence(Normal(mu, exp(logvar / 2)), Normal(0, 1)).sum(-1)``.

    :math:`e^v - 1 - v` is a Taylor series for :math:`|v| < 1/2` (the direct
    form cancels there: at :math:`v = 10^{-4}` it keeps only 4 digits), so a
    posterior close to the prior keeps its small divergence exactly.
    """
    validate_reduction(reduction)
    return _gaussian_kl(mu, logvar, True, False, reduction)


def gaussian_kl_grad(mu, logvar):
    r"""``(dℓ/dmu, dℓ/dlogvar)`` = :math:`(\mu,\ \tfrac12(e^{v} - 1))`, each shaped like its argument."""
    return _gaussian_kl(mu, logvar, False, True)


def gaussian_kl_and_grad(mu, logvar, *, reduction: str = "mean"):
    """``(gaussian_kl(...), gaussian_kl_grad(...))`` from one validation."""
    validate_reduction(reduction)
    return _gaussian_kl(mu, logvar, True, True, reduction)


def _vae_elbo(recon, target, mu, logvar, likelihood, beta, want_loss, want_grad, reduction="mean"):
    likelihood = validate_choice(likelihood, "likelihood", LIKELIHOODS)
    beta = NON_NEGATIVE.validate(beta, "beta")
    inputs = Inputs({"recon": recon, "target": target, "mu": mu, "logvar": logvar}, native=fits_float32(beta))
    decoded, data, mean, log_variance = inputs.arrays
    if likelihood == "bernoulli":
        check_not_nan(decoded, "recon (decoder logits)")
        check_in_closed_interval(data, "target", 0.0, 1.0)
    else:
        check_finite(decoded, "recon (decoder means)")
        check_finite(data, "target")
    check_finite(mean, "mu")
    check_finite(log_variance, "logvar")
    data_shape = check_shapes_broadcast([decoded, data], ["recon", "target"])
    latent_shape = check_shapes_broadcast([mean, log_variance], ["mu", "logvar"])
    if not data_shape or not latent_shape:
        raise ValueError("recon/target and mu/logvar must each have a feature axis (the last axis); got scalars")
    try:
        samples = np.broadcast_shapes(data_shape[:-1], latent_shape[:-1])
    except ValueError:
        raise ValueError(
            f"recon/target with sample shape {data_shape[:-1]} and mu/logvar with sample shape "
            f"{latent_shape[:-1]} do not broadcast; expected the same samples (leading axes)"
        ) from None
    if likelihood == "bernoulli":
        nll, nll_grad = bce_with_logits_and_grad(np.broadcast_to(decoded, data_shape), data, reduction="none")
    else:
        with np.errstate(over="ignore"):  # squares past float max: inf is their true size
            residual = decoded - data
            nll, nll_grad = 0.5 * residual * residual, residual
    if beta == 0:  # no KL at all, even where it would be infinite (0 * inf)
        terms = np.zeros(latent_shape, inputs.dtype)
        kl_grads = (terms, terms)
    else:
        terms, kl_grads = _kl_terms(mean, log_variance, want_loss, want_grad)
    loss = grads = None
    if want_loss:
        with np.errstate(over="ignore"):  # a sum past float max: inf is its true size
            loss = nll.sum(axis=-1) + beta * terms.sum(axis=-1)
    if want_grad:
        # every per-sample loss depends on its own rows; a broadcast sample axis sums its gradients
        with np.errstate(over="ignore"):  # a beta near float max: a gradient past it is inf, its true size
            kl_mean, kl_log_variance = beta * kl_grads[0], beta * kl_grads[1]
        grads = (np.broadcast_to(nll_grad, samples + data_shape[-1:]),
                 np.broadcast_to(kl_mean, samples + latent_shape[-1:]),
                 np.broadcast_to(kl_log_variance, samples + latent_shape[-1:]))
    loss_value = inputs.finish_loss(loss, reduction) if want_loss else None
    if not want_grad:
        return loss_value
    finished = tuple(inputs.finish_grad(g, i) for g, i in zip(grads, (0, 2, 3), strict=True))
    return (loss_value, finished) if want_loss else finished


def vae_elbo(recon, target, mu, logvar, *, likelihood: str = "bernoulli", beta: float = 1.0,
             reduction: str = "mean"):
    r"""The VAE's loss, the negative evidence lower bound: reconstruction plus KL to the prior.

    .. math:: \ell = \sum_i \mathrm{NLL}(\hat x_i, x_i)
              + \beta\,\tfrac12 \sum_j \bigl(e^{v_j} - 1 - v_j + \mu_j^2\bigr)

    with the reconstruction term, per data dimension :math:`i`,

    - ``likelihood="bernoulli"`` (default): ``recon`` holds the decoder's
      logits :math:`\hat x` and :math:`\mathrm{NLL} = \mathrm{BCE}(\sigma(\hat x), x)`,
      :math:`\partial/\partial \hat x = \sigma(\hat x) - x`; ``target`` in [0, 1]
      (binarised or grey-level pixels, as in Kingma and Welling's MNIST model);
    - ``likelihood="gaussian"``: ``recon`` holds the decoder's means and
      :math:`\mathrm{NLL} = \tfrac12 (\hat x - x)^2` (unit variance, the constant
      :math:`\tfrac12 \log 2\pi` per dimension dropped),
      :math:`\partial/\partial \hat x = \hat x - x`.

    The KL gradients are :math:`\beta \mu` and :math:`\tfrac{\beta}{2}(e^{v} - 1)`
    (see ``gaussian_kl``). ``beta`` = 1 is the ELBO (Kingma and Welling,
    "Auto-Encoding Variational Bayes", ICLR 2014, eq. 10); ``beta`` > 1 is
    Higgins et al.'s β-VAE (ICLR 2017). The chapter: "the ELBO loss combines
    reconstruction CE and KL divergence".

    Shapes: ``recon``/``target`` ``(..., data)`` and ``mu``/``logvar``
    ``(..., latent)``; each last axis is summed, the leading (sample) axes must
    broadcast. The per-sample losses are then reduced. The gradient is the
    tuple ``(dℓ/drecon, dℓ/dmu, dℓ/dlogvar)``, each shaped like its argument
    (``target`` is not differentiated).
    """
    validate_reduction(reduction)
    return _vae_elbo(recon, target, mu, logvar, likelihood, beta, True, False, reduction)


def vae_elbo_grad(recon, target, mu, logvar, *, likelihood: str = "bernoulli", beta: float = 1.0):
    r"""``(dℓ/drecon, dℓ/dmu, dℓ/dlogvar)``: :math:`(\sigma(\hat x) - x` or :math:`\hat x - x,\ \beta\mu,\ \tfrac{\beta}{2}(e^{v} - 1))`."""
    return _vae_elbo(recon, target, mu, logvar, likelihood, beta, False, True)


def vae_elbo_and_grad(recon, target, mu, logvar, *, likelihood: str = "bernoulli", beta: float = 1.0,
                      reduction: str = "mean"):
    """``(vae_elbo(...), vae_elbo_grad(...))`` from one validation and one reconstruction pass."""
    validate_reduction(reduction)
    return _vae_elbo(recon, target, mu, logvar, likelihood, beta, True, True, reduction)
