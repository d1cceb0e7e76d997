"""The loss atlas against reference libraries: every registry loss that PyTorch, scikit-learn or scipy also
implements, beyond the chapter's losses of test_reference_libraries.py (same style: random and edge inputs,
every reduction, float64 and float32 (float32 in, float32 out, against the reference's float64 value of the
same float32 inputs, rounded), and every gradient against torch's autograd of the summed unreduced loss).
test_every_registry_loss_is_compared_with_a_reference_library_or_listed_as_having_none keeps the list whole.

References: torch.nn.functional (smooth_l1_loss, gaussian_nll_loss, poisson_nll_loss, multi_margin_loss,
binary_cross_entropy(_with_logits), cross_entropy, triplet_margin_loss, cosine_embedding_loss,
margin_ranking_loss, logsigmoid, relu, ctc_loss), torch.distributions' Gaussian KL, scikit-learn
(mean_squared_log_error, f1_score, jaccard_score, and the private sklearn._loss ExponentialLoss and
HalfPoissonLoss), scipy.optimize.least_squares' robust losses (soft_l1, cauchy, huber; the private
construct_loss_function). torchvision cannot be imported here: its only build for torch 2.13 (0.28.0, a CUDA
build on PyPI) needs libc10_cuda.so, which the CPU torch lacks ("operator torchvision::nms does not exist" at
import). Its box losses are transcribed below from torchvision 0.28.0's ops/_utils.py, giou_loss.py,
diou_loss.py and ciou_loss.py; the transcription was checked against the real code (loaded without its C
extension) on these inputs: equal bit for bit, losses and autograd gradients.

Where losslab documents a different convention the documented relation is asserted instead, at each test:
reduction="mean" of no samples raises (torch returns nan; losslab/__init__.py), gaussian_nll's variance gradient
0 below eps (torch: the formula at eps), bce_grad at the clipped p (torch's clamp passes no gradient),
margin_ranking's and triplet_margin's 0 where the hinge is exactly 0 (torch's clamp_min passes the slope),
cosine_embedding's exact cosine (torch adds 1e-12 to the squared norms), ctc_grad's derivative with log_probs
free (torch's autograd on a log_probs leaf is p - gamma, ctc_with_logits_grad), next_token_cross_entropy's
error for "mean" over no position (torch: nan), the box losses' target branch at kinks and CIoU's exact
gradient (torchvision holds alpha constant). Where the reference loses the answer the comparison is with mpmath
or held to the size of the reference's terms, and the test says why: differences that overflow (bpr),
cancellation (1 - cos, e^v - 1 - v, e^x - y x, log1p(p) - log1p(t), softmax - one-hot at a low temperature),
torch's log-space CTC backward (|log P| ulp), binary_cross_entropy's log clamped at -100 and its backward's
denominator clamped at 1e-12.

Bigger grids and the remaining parameter combinations run with LOSSLAB_LONG=1.
"""

from __future__ import annotations

import os

import mpmath
import numpy as np
import pytest
import torch
from scipy.optimize._lsq.least_squares import construct_loss_function
from sklearn import metrics
from sklearn._loss import loss as sklearn_loss

import losslab

from .test_detection import (
    _tv_inter_union as tv_inter_union,  # torchvision.ops._utils._loss_inter_union
)

F = torch.nn.functional
LONG = os.environ.get("LOSSLAB_LONG") == "1"
SIZE = 2000 if LONG else 60
REDUCTIONS = ("mean", "sum", "none")
DTYPES = [np.float64, np.float32]
RTOL = {np.float64: 1e-12, np.float32: 4 * float(np.finfo(np.float32).eps)}
# mpmath: tests/core/conftest.py gives every test 300 bits


def rng(seed):
    return np.random.default_rng([20261129, seed])


def reduced(values, reduction):
    return {"mean": values.mean(), "sum": values.sum(), "none": values}[reduction]


def tensor(values, grad=False):
    return torch.tensor(np.asarray(values, dtype=np.float64), dtype=torch.float64, requires_grad=grad)


def numpy(value):
    return np.asarray(value.detach().numpy() if hasattr(value, "detach") else value, dtype=np.float64)


def check(got, expected, dtype, what, *, rtol=None, atol=None):
    """``got`` keeps ``dtype`` and is within rounding of the float64 reference rounded to ``dtype``; ``atol``
    (default 4 ulp of 1) for results near 0 that the reference forms by cancelling terms of order 1."""
    got = np.asarray(got)
    assert got.dtype == dtype, f"{what}: {got.dtype} out for {np.dtype(dtype)} in"
    with np.errstate(over="ignore"):
        expected = numpy(expected).astype(dtype).astype(np.float64)
    np.testing.assert_allclose(got.astype(np.float64), expected, rtol=RTOL[dtype] if rtol is None else rtol,
                               atol=4 * float(np.finfo(dtype).eps) if atol is None else atol, err_msg=what)


def check_scaled(got, expected, scale, dtype, what):
    """Within 4 ulp of ``scale`` (the size of the terms the result cancels from, per element) of the reference."""
    got = np.asarray(got)
    assert got.dtype == dtype, f"{what}: {got.dtype} out for {np.dtype(dtype)} in"
    with np.errstate(over="ignore"):
        expected = numpy(expected).astype(dtype).astype(np.float64)
    error = np.abs(got.astype(np.float64) - expected)
    bound = 4 * float(np.finfo(dtype).eps) * np.maximum(np.abs(expected), scale)
    ratio = np.divide(error, bound, out=np.where(error > 0, np.inf, 0.0), where=bound > 0)
    assert np.all(error <= bound), f"{what}: worst {np.max(ratio) * 4:.3g} ulp of the terms at {np.argmax(ratio)}"


def check_reductions(function, args, unreduced, dtype, what, **kwargs):
    for reduction in REDUCTIONS:
        if unreduced.numel() == 0 and reduction == "mean":  # losslab/__init__.py: an error, torch's nan
            assert torch.isnan(unreduced.mean())
            with pytest.raises(ValueError, match="empty"):
                function(*args, reduction=reduction)
            continue
        check(function(*args, reduction=reduction), reduced(unreduced, reduction), dtype, f"{what} {reduction}",
              **kwargs)


def grads(loss, *leaves):
    loss.sum().backward()
    return [leaf.grad if leaf.grad is not None else torch.zeros_like(leaf) for leaf in leaves]


# ------------------------------------------------------------------ regression and counts


def residual_pairs(dtype, seed):
    r = rng(seed)
    info = np.finfo(dtype)
    pred = np.concatenate([r.normal(0, 3, SIZE), [0.0, 2.0, -2.0, 1.0, 1e-30, 1e30, float(info.max) / 4, 0.5,
                                                  float(info.tiny), 3.0]])
    target = np.concatenate([r.normal(0, 3, SIZE), [0.0, 1.0, -1.0, 1.0, -1e-30, -1e30, -float(info.max) / 4,
                                                    0.5 + 2.0**-20, 0.0, 3.0 - 2.0**-40]])
    return pred.astype(dtype), target.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("beta", [1.0, 0.0, 1e-3, 0.5, 1e6])
def test_smooth_l1_agrees_with_torch(beta, dtype):
    pred, target = residual_pairs(dtype, 1)
    if beta == 1.0:  # ties: |r| = beta exactly (torch takes the linear branch there, as the docstring says)
        pred, target = np.append(pred, [2.0, -1.0]).astype(dtype), np.append(target, [1.0, 0.0]).astype(dtype)
    p = tensor(pred, grad=True)
    unreduced = F.smooth_l1_loss(p, tensor(target), beta=beta, reduction="none")
    check_reductions(lambda *a, **k: losslab.smooth_l1(*a, beta=beta, **k), (pred, target), unreduced, dtype,
                     f"smooth_l1 beta={beta}")
    (grad,) = grads(unreduced, p)
    check(losslab.smooth_l1_grad(pred, target, beta=beta), grad, dtype, "smooth_l1_grad")


EMPTY = [
    ("bce", 2, lambda a, b: F.binary_cross_entropy(a, b, reduction="none")),
    ("bce_with_logits", 2, lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction="none")),
    ("smooth_l1", 2, lambda a, b: F.smooth_l1_loss(a, b, reduction="none")),
    ("gaussian_nll", 3, lambda a, b, v: F.gaussian_nll_loss(a, b, v, reduction="none")),
    ("poisson_nll", 2, lambda a, b: F.poisson_nll_loss(a, b, reduction="none")),
    ("msle", 2, lambda a, b: (torch.log1p(a) - torch.log1p(b)) ** 2),
    ("squared_hinge", 2, lambda a, b: torch.clamp(1 - a * b, min=0) ** 2),
    ("margin_ranking", 3, lambda a, b, y: F.margin_ranking_loss(a, b, y, reduction="none")),
    ("bpr", 2, lambda a, b: -F.logsigmoid(a - b)),
    ("gan_discriminator", 2, lambda a, b: F.softplus(-a) + F.softplus(b)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "arguments", "reference"), EMPTY, ids=[name for name, _, _ in EMPTY])
def test_losses_of_no_samples_agree_with_torch(name, arguments, reference, dtype):
    """"sum" and "none" of zero-length inputs are torch's (0 and an empty array); "mean" raises, where torch
    returns nan (losslab/__init__.py); the gradients are empty."""
    empty = [np.zeros(0, dtype)] * arguments
    check_reductions(getattr(losslab, name), empty, reference(*(tensor(e) for e in empty)), dtype, f"{name} empty")
    grad = getattr(losslab, f"{name}_grad")(*empty)
    for part in grad if isinstance(grad, tuple) else (grad,):
        assert part.shape == (0,) and part.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("full", "eps"), [(False, 1e-6), (True, 1e-6), (False, 1e-2), (True, 1e-300), (False, 0.25)])
def test_gaussian_nll_agrees_with_torch(full, eps, dtype):
    pred, target = residual_pairs(dtype, 2)
    pred, target = pred[:-6], target[:-6]  # r^2 of 1e30 or float max would overflow in torch's float64 too
    # var = eps gets the formula: the clamp holds v only below eps
    var = np.concatenate([rng(3).lognormal(0, 2, pred.size - 6), [1e-300 if dtype == np.float64 else 1e-40, 1e-7,
                                                                  eps, 1.0, 1e30, 0.0]])
    var = var.astype(dtype)
    p, v = tensor(pred, grad=True), tensor(var, grad=True)
    unreduced = F.gaussian_nll_loss(p, tensor(target), v, full=full, eps=eps, reduction="none")
    check_reductions(lambda *a, **k: losslab.gaussian_nll(*a, full=full, eps=eps, **k), (pred, target, var),
                     unreduced, dtype, "gaussian_nll")
    grad_pred, grad_var = grads(unreduced, p, v)
    mine_pred, mine_var = losslab.gaussian_nll_grad(pred, target, var, full=full, eps=eps)
    check(mine_pred, grad_pred, dtype, "gaussian_nll_grad pred")
    clamped = var.astype(np.float64) < eps  # documented: 0 there (the loss is flat); torch: the formula at v = eps
    assert np.all(mine_var[clamped] == 0)
    check(mine_var[~clamped], grad_var[torch.from_numpy(~clamped)], dtype, "gaussian_nll_grad var")
    if np.any(clamped):
        r2 = (pred[clamped].astype(np.float64) - target[clamped]) ** 2
        np.testing.assert_allclose(numpy(grad_var)[clamped], (1 - r2 / eps) / (2 * eps), rtol=1e-12)


def test_gaussian_nll_one_variance_per_row_agrees_with_torch():
    r = rng(4)
    pred, target, var = r.normal(size=(7, 5)), r.normal(size=(7, 5)), r.lognormal(size=7)
    p, v = tensor(pred, grad=True), tensor(var, grad=True)
    # torch broadcasts a variance of pred's shape without its last axis after unsqueezing it
    unreduced = F.gaussian_nll_loss(p, tensor(target), v[:, None], reduction="none")
    check(losslab.gaussian_nll(pred, target, var, reduction="none"), unreduced, np.float64, "per-row var")
    check(losslab.gaussian_nll(pred, target, var), unreduced.mean(), np.float64, "per-row var mean")
    grad_pred, grad_var = grads(unreduced, p, v)
    mine_pred, mine_var = losslab.gaussian_nll_grad(pred, target, var)
    check(mine_pred, grad_pred, np.float64, "per-row dpred")
    check(mine_var, grad_var, np.float64, "per-row dvar")


def counts_and_predictions(dtype, log_input, seed):
    r = rng(seed)
    y = np.concatenate([r.poisson(3.0, SIZE).astype(float), r.uniform(0, 5, 10), [0.0, 1.0, 1.0, 2.0, 0.5, 1e6, 0.0,
                                                                                   7.0]])
    if log_input:
        x = np.concatenate([r.normal(0, 2, SIZE + 10), [-700.0 if dtype == np.float64 else -80.0, 0.0, 1e-30, 30.0,
                                                        -1e-30, np.log(1e6), 80.0, 2.0]])
    else:
        x = np.concatenate([r.lognormal(0, 2, SIZE + 10), [0.0, 1.0, 1e-30, 2.0, 0.0, 1e6, 1e-12, 7.0]])
    return x.astype(dtype), y.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("log_input", [True, False])
def test_poisson_nll_agrees_with_torch(log_input, full, dtype):
    """e^x - y x (and the gradient e^x - y) cancel where e^x ~ y x: held, as bench/accuracy.py holds them, to
    a few ulp of the larger term (x = float32(log 1e6), y = 1e6 leaves 0.19 of 1e6)."""
    x, y = counts_and_predictions(dtype, log_input, 5)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    for eps in (1e-8, 0.5) if not log_input else (1e-8,):
        xt = tensor(x, grad=True)
        unreduced = F.poisson_nll_loss(xt, tensor(y), log_input=log_input, full=full, eps=eps, reduction="none")
        rate = np.exp(np.minimum(x64, 700)) if log_input else x64
        log_rate = x64 if log_input else np.log(x64 + eps)
        stirling = np.where(y64 > 1, y64 * np.log(np.maximum(y64, 1)) + y64, 0) if full else 0
        scale = rate + np.abs(y64 * log_rate) + stirling
        mine = losslab.poisson_nll(x, y, log_input=log_input, full=full, eps=eps, reduction="none")
        what = f"poisson_nll log_input={log_input} full={full} eps={eps}"
        check_scaled(mine, unreduced, scale, dtype, what)
        check_scaled(losslab.poisson_nll(x, y, log_input=log_input, full=full, eps=eps, reduction="sum"),
                     unreduced.sum(), scale.sum(), dtype, f"{what} sum")
        check_scaled(losslab.poisson_nll(x, y, log_input=log_input, full=full, eps=eps), unreduced.mean(),
                     scale.mean(), dtype, f"{what} mean")
        (grad,) = grads(unreduced, xt)
        check_scaled(losslab.poisson_nll_grad(x, y, log_input=log_input, full=full, eps=eps), grad,
                     rate + y64 if log_input else 1 + y64 / (x64 + eps), dtype, "poisson_nll_grad")


def test_poisson_nll_agrees_with_scikit_learns_half_poisson_loss():
    x, y = counts_and_predictions(np.float64, True, 6)
    half_poisson = sklearn_loss.HalfPoissonLoss()  # exp(raw) - y raw, the same loss and gradient
    loss, grad = half_poisson.loss_gradient(y, x)
    check(losslab.poisson_nll(x, y, reduction="none"), loss, np.float64, "poisson_nll vs HalfPoissonLoss",
          atol=1e-12)
    check(losslab.poisson_nll_grad(x, y), grad, np.float64, "poisson_nll_grad vs HalfPoissonLoss")


@pytest.mark.parametrize("dtype", DTYPES)
def test_msle_agrees_with_scikit_learn_and_torch(dtype):
    r = rng(7)
    pred = np.concatenate([r.lognormal(0, 3, SIZE), [0.0, 1e-30, 1e30, 5.0, 3.0, 0.0]]).astype(dtype)
    target = np.concatenate([r.lognormal(0, 3, SIZE), [0.0, 0.0, 1e-30, 5.0 + 2.0**-20, 3.0, 1e30]]).astype(dtype)
    expected = metrics.mean_squared_log_error(target.astype(np.float64), pred.astype(np.float64))
    check(losslab.msle(pred, target), expected, dtype, "msle vs scikit-learn")
    p = tensor(pred, grad=True)
    unreduced = (torch.log1p(p) - torch.log1p(tensor(target))) ** 2
    # log1p(p) - log1p(t) cancels in torch for close p and t (5 + 2^-20 vs 5): held to its terms' size
    # torch's log1p(p) - log1p(t) cancels for close p and t (5 + 2^-20 against 5): held to its terms' size there,
    # that pair against mpmath below
    logs = np.maximum(np.abs(np.log1p(pred.astype(np.float64))), np.abs(np.log1p(target.astype(np.float64))))
    difference = np.sqrt(numpy(unreduced))
    check_scaled(losslab.msle(pred, target, reduction="none"), unreduced, 2 * difference * logs, dtype, "msle")
    check(losslab.msle(pred[:-3], target[:-3], reduction="sum"), unreduced[:-3].sum(), dtype, "msle sum")
    check(losslab.msle(pred[:-3], target[:-3]), unreduced[:-3].mean(), dtype, "msle mean")
    (grad,) = grads(unreduced, p)
    check_scaled(losslab.msle_grad(pred, target), grad, 2 * logs / (1 + pred.astype(np.float64)), dtype, "msle_grad")
    close = mpmath.log1p(mpmath.mpf(float(pred[-3]))) - mpmath.log1p(mpmath.mpf(float(target[-3])))
    check(losslab.msle(pred[-3:-2], target[-3:-2]), float(close**2), dtype, "msle close pair vs mpmath")


# ------------------------------------------------------------------ binary margin losses


def scores_and_labels(dtype, seed):
    r = rng(seed)
    s = np.concatenate([r.normal(0, 2, SIZE), [1.0, -1.0, 0.0, 1e-30, 1 - 2.0**-30, 40.0, -40.0, 1e15]])
    t = np.concatenate([np.where(r.random(SIZE) < 0.5, 1.0, -1.0), [1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, 1.0]])
    return s.astype(dtype), t.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "power"), [("squared_hinge", 2), ("hinge", 1)])
def test_hinges_are_twice_torchs_two_class_multi_margin_loss(name, power, dtype):
    """multi_margin_loss of the scores (-s/2, s/2) for class (t + 1)/2 is max(0, 1 - t s)^p / 2."""
    s, t = scores_and_labels(dtype, 8)
    if power == 2:
        s = s[:-1]  # (1 + 1e15)^2 is fine, but keep float32's square of the margin in range
        t = t[:-1]
    st = tensor(s, grad=True)
    scores = torch.stack([-st / 2, st / 2], dim=-1)
    unreduced = 2 * F.multi_margin_loss(scores, torch.tensor((t > 0).astype(np.int64)), p=power, margin=1.0,
                                        reduction="none")
    check_reductions(getattr(losslab, name), (s, t), unreduced, dtype, name)
    (grad,) = grads(unreduced, st)
    check(getattr(losslab, f"{name}_grad")(s, t), grad, dtype, f"{name}_grad")


@pytest.mark.parametrize("dtype", DTYPES)
def test_exponential_agrees_with_scikit_learns_exponential_loss(dtype):
    s, t = scores_and_labels(dtype, 9)
    keep = np.abs(s) < (700 if dtype == np.float64 else 80)
    s, t = s[keep], t[keep]
    reference = sklearn_loss.ExponentialLoss()  # labels 0/1, raw prediction s: exp(-(2y - 1) s)
    loss, grad = reference.loss_gradient((t > 0).astype(np.float64), s.astype(np.float64))
    check_reductions(losslab.exponential, (s, t), torch.from_numpy(loss), dtype, "exponential")
    check(losslab.exponential_grad(s, t), grad, dtype, "exponential_grad")


# ------------------------------------------------------------------ generative


def gan_logits(dtype, seed):
    r = rng(seed)
    big = 700.0 if dtype == np.float64 else 80.0
    real = np.concatenate([r.normal(0, 4, SIZE), [0.0, big, -big, 1e-30, 1.0, -1.0, 40.0]]).astype(dtype)
    fake = np.concatenate([r.normal(0, 4, SIZE), [0.0, -big, big, -1e-30, -1.0, 1.0, -40.0]]).astype(dtype)
    return real, fake


@pytest.mark.parametrize("dtype", DTYPES)
def test_gan_losses_are_torchs_bce_with_logits(dtype):
    real, fake = gan_logits(dtype, 10)
    r, f = tensor(real, grad=True), tensor(fake, grad=True)
    bce = F.binary_cross_entropy_with_logits
    cases = [
        ("gan_discriminator", (real, fake), (r, f),
         lambda: bce(r, torch.ones_like(r), reduction="none") + bce(f, torch.zeros_like(f), reduction="none")),
        ("gan_generator_minimax", (fake,), (f,), lambda: -bce(f, torch.zeros_like(f), reduction="none")),
        ("gan_generator_nonsaturating", (fake,), (f,), lambda: bce(f, torch.ones_like(f), reduction="none")),
    ]
    for name, args, leaves, reference in cases:
        for leaf in leaves:
            leaf.grad = None
        unreduced = reference()
        # torch's softplus keeps log1p(e^-|z|) + max(z, 0) and rounds an ulp of 1 near 0
        check_reductions(getattr(losslab, name), args, unreduced, dtype, name)
        expected = grads(unreduced, *leaves)
        mine = getattr(losslab, f"{name}_grad")(*args)
        for got, want, leaf_name in zip(mine if isinstance(mine, tuple) else (mine,), expected, ("d1", "d2"),
                                        strict=False):
            check(got, want, dtype, f"{name}_grad {leaf_name}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_hinge_gan_losses_agree_with_torch_relu_except_on_the_kink(dtype):
    real, fake = gan_logits(dtype, 11)
    real, fake = np.append(real, [1.0, 2.0]).astype(dtype), np.append(fake, [0.0, -1.0]).astype(dtype)  # kinks
    r, f = tensor(real, grad=True), tensor(fake, grad=True)
    unreduced = F.relu(1 - r) + F.relu(1 + f)
    check_reductions(losslab.hinge_gan_discriminator, (real, fake), unreduced, dtype, "hinge_gan_discriminator")
    grad_real, grad_fake = grads(unreduced, r, f)
    mine_real, mine_fake = losslab.hinge_gan_discriminator_grad(real, fake)
    # documented: 0 on the kinks, where torch's relu also gives 0 (relu'(0) = 0)
    check(mine_real, grad_real, dtype, "hinge_gan_discriminator_grad real")
    check(mine_fake, grad_fake, dtype, "hinge_gan_discriminator_grad fake")
    assert mine_real[-2] == 0 and mine_fake[-1] == 0
    check_reductions(losslab.hinge_gan_generator, (fake,), -tensor(fake), dtype, "hinge_gan_generator")
    check_reductions(losslab.wgan_generator, (fake,), -tensor(fake), dtype, "wgan_generator")
    check_reductions(losslab.wgan_critic, (real, fake), tensor(fake) - tensor(real), dtype, "wgan_critic")


def torch_gaussian_kl(mu, logvar):
    normal = torch.distributions.Normal
    return torch.distributions.kl_divergence(normal(mu, torch.exp(logvar / 2)), normal(torch.zeros_like(mu),
                                                                                       torch.ones_like(mu))).sum(-1)


def mp_gaussian_kl(mu, logvar):
    return sum(mpmath.mpf(0.5) * (mpmath.expm1(mpmath.mpf(float(v))) - mpmath.mpf(float(v)) + mpmath.mpf(float(m))**2)
               for m, v in zip(mu, logvar, strict=True))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gaussian_kl_agrees_with_torch_distributions(dtype):
    r = rng(12)
    mu = r.normal(0, 2, (SIZE // 4 + 4, 4))
    logvar = r.normal(0, 2, mu.shape)
    logvar[-1] = [50.0, -50.0, 30.0, -30.0]  # the registry's bounds
    mu, logvar = mu.astype(dtype), logvar.astype(dtype)
    m, v = tensor(mu, grad=True), tensor(logvar, grad=True)
    unreduced = torch_gaussian_kl(m, v)
    check_reductions(losslab.gaussian_kl, (mu, logvar), unreduced, dtype, "gaussian_kl")
    grad_mu, grad_logvar = grads(unreduced, m, v)
    mine_mu, mine_logvar = losslab.gaussian_kl_grad(mu, logvar)
    check(mine_mu, grad_mu, dtype, "gaussian_kl_grad mu")
    check(mine_logvar, grad_logvar, dtype, "gaussian_kl_grad logvar")


@pytest.mark.parametrize("dtype", DTYPES)
def test_gaussian_kl_near_the_prior_against_mpmath(dtype):
    """Near the prior the KL is a tiny difference of terms of order 1 (torch's float64 keeps about 9 digits of
    it here): the reference is mpmath, held to a few ulp of the value itself."""
    mu = np.array([[0.0, 1e-8, 0.0], [1e-20, 0.0, 3e-5], [0.0, 0.0, 0.0]], dtype)
    logvar = np.array([[1e-4, -1e-4, 1e-8], [0.0, 1e-30, -3e-3], [1e-6, 0.0, 0.0]], dtype)
    expected = [float(mp_gaussian_kl(row_mu, row_v)) for row_mu, row_v in zip(mu, logvar, strict=True)]
    check(losslab.gaussian_kl(mu, logvar, reduction="none"), np.array(expected), dtype, "gaussian_kl vs mpmath",
          atol=0)
    np.testing.assert_allclose(numpy(torch_gaussian_kl(tensor(mu), tensor(logvar))), expected, rtol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_vae_elbo_is_torchs_reconstruction_plus_kl(likelihood, dtype):
    r = rng(13)
    recon, target = r.normal(0, 3, (6, 10)), r.random((6, 10))
    target[0] = target[0] > 0.5
    mu, logvar = r.normal(0, 1, (6, 3)), r.normal(0, 1, (6, 3))
    recon, target, mu, logvar = (a.astype(dtype) for a in (recon, target, mu, logvar))
    x, m, v = tensor(recon, grad=True), tensor(mu, grad=True), tensor(logvar, grad=True)
    if likelihood == "bernoulli":
        reconstruction = F.binary_cross_entropy_with_logits(x, tensor(target), reduction="none").sum(-1)
    else:
        reconstruction = 0.5 * F.mse_loss(x, tensor(target), reduction="none").sum(-1)
    unreduced = reconstruction + 2.5 * torch_gaussian_kl(m, v)
    check_reductions(lambda *a, **k: losslab.vae_elbo(*a, likelihood=likelihood, beta=2.5, **k),
                     (recon, target, mu, logvar), unreduced, dtype, f"vae_elbo {likelihood}")
    expected = grads(unreduced, x, m, v)
    mine = losslab.vae_elbo_grad(recon, target, mu, logvar, likelihood=likelihood, beta=2.5)
    for got, want, name in zip(mine, expected, ("recon", "mu", "logvar"), strict=True):
        check(got, want, dtype, f"vae_elbo_grad {name}")


# ------------------------------------------------------------------ sequences and multiclass


@pytest.mark.parametrize(("label_smoothing", "dtype"), [(0.1, np.float64), (1.0, np.float64), (0.1, np.float32)] + (
    [(0.0, np.float64), (0.0, np.float32), (1.0, np.float32)] if LONG else []))
def test_next_token_cross_entropy_agrees_with_torch(label_smoothing, dtype):
    r = rng(14)
    logits = r.normal(0, 4, (3, 9, 6))
    logits[0, 0] = 1000.0 - np.arange(6)  # the chapter's saturated softmax
    logits[0, 1, 2] = -1000.0
    targets = r.integers(0, 6, (3, 9))
    targets[1, 3:] = -100  # padding
    targets[2, :4] = 7  # another ignore_index below
    logits = logits.astype(dtype)
    for ignore_index in (-100, 7):
        z = tensor(logits, grad=True)
        # targets that are neither ignored nor classes: the other ignore value is made class 0 for both sides
        cleaned = np.where(targets == (7 if ignore_index == -100 else -100), 0, targets)
        flat = torch.from_numpy(cleaned.reshape(-1))
        unreduced = F.cross_entropy(z.reshape(-1, 6), flat, ignore_index=ignore_index,
                                    label_smoothing=label_smoothing, reduction="none").reshape(3, 9)
        kwargs = {"label_smoothing": label_smoothing, "ignore_index": ignore_index}
        what = f"next_token_cross_entropy eps={label_smoothing} ignore={ignore_index}"
        for reduction in ("none", "sum"):
            check(losslab.next_token_cross_entropy(logits, cleaned, reduction=reduction, **kwargs),
                  reduced(unreduced, reduction), dtype, f"{what} {reduction}")
        check(losslab.next_token_cross_entropy(logits, cleaned, **kwargs),
              F.cross_entropy(z.reshape(-1, 6), flat, ignore_index=ignore_index, label_smoothing=label_smoothing),
              dtype, f"{what} mean")
        (grad,) = grads(unreduced, z)
        # p - q cancels where p ~ q: held to its terms' size (as test_reference_libraries' soft targets)
        check(losslab.next_token_cross_entropy_grad(logits, cleaned, **kwargs), grad, dtype, f"{what} grad", rtol=0)


def test_next_token_cross_entropy_with_every_position_ignored():
    """Documented: "mean" over no position is an error (torch: nan); "none" and "sum" are torch's zeros."""
    logits, targets = np.zeros((2, 3, 4)), np.full((2, 3), -100)
    z = tensor(logits, grad=True)
    assert torch.isnan(F.cross_entropy(z.reshape(-1, 4), torch.from_numpy(targets.reshape(-1))))
    with pytest.raises(ValueError):
        losslab.next_token_cross_entropy(logits, targets)
    unreduced = F.cross_entropy(z.reshape(-1, 4), torch.from_numpy(targets.reshape(-1)), reduction="none")
    check(losslab.next_token_cross_entropy(logits, targets, reduction="none"), unreduced.reshape(2, 3), np.float64,
          "all ignored none")
    check(losslab.next_token_cross_entropy(logits, targets, reduction="sum"), unreduced.sum(), np.float64, "sum")
    (grad,) = grads(unreduced, z)
    check(losslab.next_token_cross_entropy_grad(logits, targets), grad, np.float64, "all ignored grad")


def ctc_batch(dtype, seed, *, frames=12, batch=5, classes=5, blank=0):
    r = rng(seed)
    logits = r.normal(0, 3, (frames, batch, classes))
    logits[:, 0] *= 30  # confident frames: log-probabilities of -1e2 to -1e3
    labels = [c for c in range(classes) if c != blank]
    target_lengths = np.array([3, 0, 5, 4, 2])[:batch]
    input_lengths = np.array([frames, frames - 2, frames, 5, 3])[:batch]  # sequence 4: "aa" needs 3 frames
    targets = np.full((batch, 5), blank if blank == 0 else 1)
    for n, length in enumerate(target_lengths):
        targets[n, :length] = r.choice(labels, length)
    targets[3, :4] = [labels[0], labels[0], labels[1], labels[1]]  # repeats need blanks: 6 frames, has 5: inf
    targets[4, :2] = [labels[2], labels[2]]
    return logits.astype(dtype), targets, input_lengths, target_lengths


def torch_log_softmax_leaf(logits):
    z = tensor(logits, grad=True)
    return z, torch.log_softmax(z, -1)


CTC_CASES = [(False, 0, np.float64), (True, 4, np.float32), (False, 4, np.float32)] + (
    [(True, 0, np.float64), (True, 4, np.float64), (False, 4, np.float64), (False, 0, np.float32),
     (True, 0, np.float32)] if LONG else [])


@pytest.mark.parametrize(("zero_infinity", "blank", "dtype"), CTC_CASES)
def test_ctc_agrees_with_torch(zero_infinity, blank, dtype):
    logits, targets, input_lengths, target_lengths = ctc_batch(dtype, 15, blank=blank)
    log_probs = np.asarray(losslab.log_softmax(logits))
    args = (targets, input_lengths, target_lengths)
    lengths = (torch.from_numpy(targets), torch.from_numpy(input_lengths), torch.from_numpy(target_lengths))
    kwargs = {"blank": blank, "zero_infinity": zero_infinity}
    lp = tensor(log_probs, grad=True)
    unreduced = F.ctc_loss(lp, *lengths, reduction="none", **kwargs)
    assert np.isinf(unreduced[3].item()) != zero_infinity  # the impossible alignment
    for reduction in REDUCTIONS:
        expected = F.ctc_loss(tensor(log_probs), *lengths, reduction=reduction, **kwargs)
        check(losslab.ctc(log_probs, *args, reduction=reduction, **kwargs), expected, dtype, f"ctc {reduction}")
        check(losslab.ctc_with_logits(logits, *args, reduction=reduction, **kwargs), expected, dtype,
              f"ctc_with_logits {reduction}")
    z, log_softmax = torch_log_softmax_leaf(logits)
    (logit_grad,) = grads(F.ctc_loss(log_softmax, *lengths, reduction="none", **kwargs), z)
    losses = numpy(unreduced)
    finite = np.isfinite(numpy(F.ctc_loss(tensor(log_probs), *lengths, reduction="none", blank=blank)))
    # torch's backward is exp(log alpha + log beta - log P) in log space: it carries the rounding of |log P|
    # (550 ulp at the confident sequence's log P = -637), so each sequence is held to ulp of 1 + |log P|
    scale = (1 + np.where(finite, np.abs(losses), 0))[None, :, None]
    mine = losslab.ctc_with_logits_grad(logits, *args, **kwargs)
    check_scaled(mine[:, finite], logit_grad[:, torch.from_numpy(finite)], scale[:, finite], dtype,
                 "ctc_with_logits_grad")
    if zero_infinity:
        assert np.all(mine[:, ~finite] == 0) and torch.all(logit_grad[:, torch.from_numpy(~finite)] == 0)
    else:  # torch's gradient of an infinite loss is nan, as documented
        assert np.all(np.isnan(mine[:input_lengths[3], 3])) and np.all(np.isnan(numpy(logit_grad)[:5, 3]))
    # documented: ctc_grad is -gamma, the derivative with log_probs free; torch's leaf gradient is p - gamma
    (leaf_grad,) = grads(F.ctc_loss(lp, *lengths, reduction="none", **kwargs), lp)
    mask = np.arange(logits.shape[0])[:, None] < input_lengths[None, :]
    expected = np.where(mask[..., None], numpy(leaf_grad) - np.exp(log_probs.astype(np.float64)), 0.0)
    mine = losslab.ctc_grad(log_probs, *args, **kwargs)
    check_scaled(mine[:, finite], expected[:, finite], scale[:, finite], dtype, "ctc_grad")
    assert np.all(mine[:, ~finite] == 0) if zero_infinity else np.all(np.isnan(mine[:input_lengths[3], 3]))
    # the "mean" gradient is torch's autograd of the mean
    z.grad = None
    (mean_grad,) = grads(F.ctc_loss(torch.log_softmax(z, -1), *lengths, reduction="mean", zero_infinity=True,
                                    blank=blank), z)
    check_scaled(losslab.ctc_with_logits_grad(logits, *args, blank=blank, zero_infinity=True, reduction="mean"),
                 mean_grad, scale, dtype, "ctc_with_logits_grad mean")


@pytest.mark.parametrize("dtype", DTYPES)
def test_ctc_concatenated_targets_and_one_sequence_agree_with_torch(dtype):
    logits, targets, input_lengths, target_lengths = ctc_batch(dtype, 16)
    concatenated = np.concatenate([targets[n, :length] for n, length in enumerate(target_lengths)])
    lengths = (torch.from_numpy(concatenated), torch.from_numpy(input_lengths), torch.from_numpy(target_lengths))
    log_probs = np.asarray(losslab.log_softmax(logits))
    expected = F.ctc_loss(tensor(log_probs), *lengths, reduction="none")
    check(losslab.ctc(log_probs, concatenated, input_lengths, target_lengths, reduction="none"), expected, dtype,
          "ctc concatenated")
    one = F.ctc_loss(tensor(log_probs[:, 2]), torch.from_numpy(targets[2, :5]), torch.tensor(12), torch.tensor(5),
                     reduction="none")
    check(losslab.ctc(log_probs[:, 2], targets[2, :5], 12, 5, reduction="none"), one, dtype, "ctc unbatched")


@pytest.mark.parametrize("dtype", [*DTYPES, np.longdouble])
@pytest.mark.parametrize("frames", [0, 3])
def test_ctc_of_an_empty_target_over_no_frames_is_plus_zero(frames, dtype):
    """A sequence of no frames (input length 0) and an empty target has probability 1: its loss is +0.0 (it was
    -0.0, -log P of log P = 0; torch 2.13 returns -0.0 too, which equals 0 but prints as "-0")."""
    log_probs = np.log(np.full((frames, 2, 3), 1 / 3)).astype(dtype)
    empty, none = np.zeros((2, 0), np.int64), np.zeros(2, np.int64)
    expected = F.ctc_loss(tensor(np.log(np.full((max(frames, 1), 2, 3), 1 / 3))), torch.from_numpy(empty),
                          torch.from_numpy(none), torch.from_numpy(none), reduction="none")
    assert np.all(expected.numpy() == 0)
    for function, values in ((losslab.ctc, log_probs), (losslab.ctc_with_logits, np.zeros_like(log_probs))):
        for reduction in REDUCTIONS:
            loss = np.asarray(function(values, empty, none, none, reduction=reduction))
            assert np.all(loss == 0) and not np.any(np.signbit(loss)), f"{function.__name__} {reduction}: {loss!r}"
        loss, _ = getattr(losslab, f"{function.__name__}_and_grad")(values, empty, none, none, reduction="none")
        assert not np.any(np.signbit(loss)), f"{function.__name__}_and_grad: {loss!r}"


# ------------------------------------------------------------------ metric learning


def embedding_triplets(dtype, seed, size=None):
    r = rng(seed)
    n = size or SIZE // 2
    anchor = r.normal(0, 1, (n, 6))
    positive = anchor + r.normal(0, 0.7, (n, 6))
    negative = anchor + r.normal(0, 1.2, (n, 6))
    positive[0] = anchor[0]  # d(a, p) = 0 with eps = 0
    negative[1] = positive[1]  # swap ties d(p, n) = 0
    return anchor.astype(dtype), positive.astype(dtype), negative.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("p", "eps", "swap", "margin"), [(2.0, 1e-6, False, 1.0), (2.0, 0.0, True, 0.5),
                                                          (1.0, 1e-6, True, 2.0), (3.0, 1e-3, False, 1e-3),
                                                          (1.5, 0.0, False, 100.0)])
def test_triplet_margin_agrees_with_torch(p, eps, swap, margin, dtype):
    anchor, positive, negative = embedding_triplets(dtype, 17)
    leaves = [tensor(x, grad=True) for x in (anchor, positive, negative)]
    unreduced = F.triplet_margin_loss(*leaves, margin=margin, p=p, eps=eps, swap=swap, reduction="none")
    kwargs = {"margin": margin, "p": p, "eps": eps, "swap": swap}
    # torch's float64 forms m + d(a, p) - d(a, n) plainly (1e-13 of the terms near the margin for p != 2): enough
    # for float32 and for float64's rtol here; the exact comparison is with mpmath below
    check_reductions(lambda *a, **k: losslab.triplet_margin(*a, **kwargs, **k), (anchor, positive, negative),
                     unreduced, dtype, f"triplet_margin {kwargs}")
    expected = grads(unreduced, *leaves)
    mine = losslab.triplet_margin_grad(anchor, positive, negative, **kwargs)
    for got, want, name in zip(mine, expected, ("anchor", "positive", "negative"), strict=True):
        check(got, want, dtype, f"triplet_margin_grad {name} {kwargs}")


def mp_triplet(anchor, positive, negative, margin, p):
    def distance(x, y):
        return mpmath.fsum(abs(mpmath.mpf(float(u)) - mpmath.mpf(float(v))) ** p for u, v in zip(x, y, strict=True)) \
            ** (1 / mpmath.mpf(p))
    return max(mpmath.mpf(0), margin + distance(anchor, positive) - distance(anchor, negative))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [1.0, 1.5])
def test_triplet_margin_near_the_margin_with_p_other_than_2_against_mpmath(p, dtype):
    """Within 4 ulp of their own size, as for p = 2 (docs/ACCURACY.md: the margin's difference from double-word
    distances). torch cannot be the reference here: its float64 forms the plain difference (this failed before
    6affee2: float64 768 ulp at p = 1, 1644 at p = 1.5; float32 64 and 110)."""
    anchor, positive, negative = embedding_triplets(dtype, 27, size=100)
    expected = np.array([float(mp_triplet(a, b, c, 1.0, p)) for a, b, c in zip(anchor, positive, negative,
                                                                                  strict=True)])
    check(losslab.triplet_margin(anchor, positive, negative, margin=1.0, p=p, eps=0.0, reduction="none"),
          expected, dtype, f"triplet_margin p={p} vs mpmath", rtol=4 * float(np.finfo(dtype).eps), atol=0)


def test_triplet_margin_on_the_kink_has_zero_gradient_where_torchs_clamp_passes_the_slope():
    """Documented: the gradient is 0 where the loss is 0 (here margin + d(a, p) - d(a, n) = 0 exactly)."""
    anchor, positive, negative = np.zeros((1, 2)), np.array([[1.0, 0.0]]), np.array([[2.0, 0.0]])
    leaves = [tensor(x, grad=True) for x in (anchor, positive, negative)]
    unreduced = F.triplet_margin_loss(*leaves, margin=1.0, eps=0.0, reduction="none")
    assert unreduced.item() == 0
    expected = grads(unreduced, *leaves)
    assert torch.any(expected[1] != 0)  # torch's clamp_min passes the gradient at 0
    for got in losslab.triplet_margin_grad(anchor, positive, negative, margin=1.0, eps=0.0):
        assert np.all(got == 0)


def mp_cosine_loss(x1, x2, y, margin):
    a = [mpmath.mpf(float(v)) for v in x1]
    b = [mpmath.mpf(float(v)) for v in x2]
    na, nb = mpmath.sqrt(mpmath.fsum(v * v for v in a)), mpmath.sqrt(mpmath.fsum(v * v for v in b))
    if na == 0 or nb == 0:
        cos = mpmath.mpf(0)
    else:
        cos = mpmath.fsum(u * v for u, v in zip(a, b, strict=True)) / (na * nb)
    return 1 - cos if y > 0 else max(mpmath.mpf(0), cos - margin)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("margin", [0.0, 0.5, -0.5, 1.0, -1.0])
def test_cosine_embedding_agrees_with_torch(margin, dtype):
    """Embeddings of norm ~1e3, where torch's 1e-12 added to each squared norm is far below an ulp; the
    cancelling 1 - cos of nearly parallel pairs and tiny or zero vectors against mpmath below."""
    r = rng(18)
    x1 = r.normal(0, 1e3, (SIZE // 2, 5))
    x2 = x1 * r.uniform(0.2, 3, (SIZE // 2, 1)) + r.normal(0, 1e3, (SIZE // 2, 5)) * r.uniform(0, 1.5, (SIZE // 2, 1))
    y = np.where(r.random(SIZE // 2) < 0.5, 1.0, -1.0)
    x1, x2, y = x1.astype(dtype), x2.astype(dtype), y.astype(dtype)
    a, b = tensor(x1, grad=True), tensor(x2, grad=True)
    unreduced = F.cosine_embedding_loss(a, b, tensor(y), margin=margin, reduction="none")
    # 1 - cos and cos - m cancel in torch's float64 (and are formed exactly here): a few ulp of 1
    check_reductions(lambda *args, **k: losslab.cosine_embedding(*args, margin=margin, **k), (x1, x2, y), unreduced,
                     dtype, f"cosine_embedding margin={margin}", atol=8 * float(np.finfo(dtype).eps))
    expected = grads(unreduced, a, b)
    mine = losslab.cosine_embedding_grad(x1, x2, y, margin=margin)
    scale = 8 * float(np.finfo(dtype).eps) / np.linalg.norm(x1.astype(np.float64), axis=-1, keepdims=True)
    for got, want, name in zip(mine, expected, ("x1", "x2"), strict=True):
        np.testing.assert_allclose(got, numpy(want), rtol=RTOL[dtype], atol=float(scale.max()),
                                   err_msg=f"cosine_embedding_grad {name}")
        assert got.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_cosine_embedding_edges_against_mpmath(dtype):
    """Nearly parallel pairs (1 - cos of 1e-18, which torch's float64 returns as 0 or 1e-16), tiny vectors
    (torch's 1e-12 dominates their squared norms: cos -> 0), a zero vector (cosine 0 by convention)."""
    x1 = np.array([[1.0, 0.0, 0.0], [3.0, 4.0, 0.0], [1e-10, 2e-10, 0.0], [0.0, 0.0, 0.0], [1e-20, 0.0, 1e-20],
                   [1.0, 1e-4, 0.0]])
    x2 = np.array([[1.0, 1e-9, 0.0], [3.0, 4.0, 1e-7], [2e-10, 4e-10, 0.0], [1.0, 1.0, 1.0], [3e-20, 0.0, 3e-20],
                   [1.0, 0.0, 0.0]])
    x1, x2 = x1.astype(dtype), x2.astype(dtype)
    for y, margin in ((1.0, 0.0), (-1.0, 0.5), (-1.0, -0.5)):
        target = np.full(len(x1), y, dtype)
        expected = np.array([float(mp_cosine_loss(a, b, y, margin)) for a, b in zip(x1, x2, strict=True)])
        check(losslab.cosine_embedding(x1, x2, target, margin=margin, reduction="none"), expected, dtype,
              f"cosine_embedding y={y} vs mpmath", atol=1e-50)  # mpmath's 200-bit rounding of an exact 0
        torch_loss = numpy(F.cosine_embedding_loss(tensor(x1), tensor(x2), tensor(target), margin=margin,
                                                   reduction="none"))
        if y > 0:  # the reason for mpmath: torch's 1 - cos of the tiny parallel pair is 1 (its eps), not 0
            assert torch_loss[2] > 0.5 and abs(expected[2]) < 1e-50


def mp_info_nce(query, keys, temperature, normalize, own=False):
    """Per-query losses and the gradients of their sum, in mpmath: (losses, d query, d keys)."""
    def unit(row):
        row = [mpmath.mpf(float(v)) for v in row]
        if not normalize:
            return row, mpmath.mpf(1)
        norm = mpmath.sqrt(mpmath.fsum(v * v for v in row))
        return [v / norm for v in row], norm

    def project(g, direction, norm):  # d/dx of g . (x / |x|)
        if not normalize:
            return g
        along = mpmath.fsum(a * b for a, b in zip(g, direction, strict=True))
        return [(a - along * b) / norm for a, b in zip(g, direction, strict=True)]

    tau = mpmath.mpf(temperature)
    queries = [unit(q) for q in query]
    key_sets = [[unit(k) for k in row] for row in keys] if own else [[unit(k) for k in keys]] * len(query)
    losses, d_query = [], []
    d_keys = [[[mpmath.mpf(0)] * len(query[0]) for _ in row] for row in (keys if own else [keys])]
    for i, (q, q_norm) in enumerate(queries):
        row = key_sets[i]
        scores = [mpmath.fsum(a * b for a, b in zip(q, k, strict=True)) / tau for k, _ in row]
        positive = 0 if own else i
        top = max(scores)
        total = mpmath.fsum(mpmath.exp(v - top) for v in scores)
        losses.append(top + mpmath.log(total) - scores[positive])
        weights = [mpmath.exp(v - top) / total - (1 if j == positive else 0) for j, v in enumerate(scores)]
        g = [mpmath.fsum(w * k[d] for w, (k, _) in zip(weights, row, strict=True)) / tau for d in range(len(q))]
        d_query.append(project(g, q, q_norm))
        for j, (w, (k, k_norm)) in enumerate(zip(weights, row, strict=True)):
            h = project([w * v / tau for v in q], k, k_norm)
            target = d_keys[i if own else 0][j]
            for d in range(len(h)):
                target[d] += h[d]
    as_array = np.vectorize(float, otypes=[np.float64])
    return (as_array(np.array(losses, dtype=object)), as_array(np.array(d_query, dtype=object)),
            as_array(np.array(d_keys if own else d_keys[0], dtype=object)))


def info_nce_inputs(dtype, normalize):
    r = rng(19)
    query = r.normal(0, 1, (6, 4))
    keys = np.concatenate([query + r.normal(0, 0.5, (6, 4)), r.normal(0, 1, (3, 4))])  # 3 extra negatives
    if not normalize:
        query, keys = query / 3, keys / 3
    own = np.stack([np.roll(keys[:6], -i, axis=0) for i in range(6)])  # query i's positive first
    return query.astype(dtype), keys.astype(dtype), own.astype(dtype)


@pytest.mark.parametrize(("temperature", "normalize", "dtype"),
                         [(0.1, True, np.float64), (1.0, False, np.float64), (0.1, True, np.float32),
                          (0.1, False, np.float32)] + (
                             [(1.0, True, np.float64), (0.1, False, np.float64), (1.0, True, np.float32),
                              (1.0, False, np.float32)] if LONG else []))
def test_info_nce_is_torchs_cross_entropy_of_the_similarities(temperature, normalize, dtype):
    query, keys, own = info_nce_inputs(dtype, normalize)
    kwargs = {"temperature": temperature, "normalize": normalize}
    for function, key_values, positive in ((losslab.info_nce, keys, torch.arange(6)),
                                           (losslab.info_nce_own_keys, own, torch.zeros(6, dtype=torch.int64))):
        q, k = tensor(query, grad=True), tensor(key_values, grad=True)
        qn, kn = (F.normalize(q, dim=-1), F.normalize(k, dim=-1)) if normalize else (q, k)
        similarity = (qn @ kn.T if k.ndim == 2 else torch.einsum("nd,nmd->nm", qn, kn)) / temperature
        unreduced = F.cross_entropy(similarity, positive, reduction="none")
        what = f"{function.__name__} {kwargs}"
        check_reductions(lambda *a, f=function, **kw: f(*a, **kwargs, **kw), (query, key_values), unreduced, dtype,
                         what, rtol=RTOL[dtype] * 4)
        expected = grads(unreduced, q, k)
        mine = getattr(losslab, f"{function.__name__}_grad")(query, key_values, **kwargs)
        for got, want, name in zip(mine, expected, ("query", "keys"), strict=True):
            # softmax - one-hot cancels in torch where the positive's weight is near 1: ulp of the terms
            check_scaled(got, want, 1 / temperature, dtype, f"{what} grad {name}")


@pytest.mark.parametrize(("temperature", "normalize", "dtype"),
                         [(0.01, True, np.float64), (0.01, False, np.float64), (0.1, True, np.float32)] + (
                             [(t, n, d) for t in (0.01, 0.1, 1.0) for n in (True, False) for d in DTYPES
                              if (t, n, d) not in ((0.01, True, np.float64), (0.01, False, np.float64),
                                                   (0.1, True, np.float32))] if LONG else []))
def test_info_nce_against_mpmath(temperature, normalize, dtype):
    """The same losses against mpmath, down to the low temperature where torch's p - 1 has cancelled (its
    gradients of 1e-11 keep 5 digits)."""
    query, keys, own = info_nce_inputs(dtype, normalize)
    kwargs = {"temperature": temperature, "normalize": normalize}
    for function, key_values, is_own in ((losslab.info_nce, keys, False), (losslab.info_nce_own_keys, own, True)):
        losses, d_query, d_keys = mp_info_nce(query, key_values, temperature, normalize, own=is_own)
        what = f"{function.__name__} {kwargs} vs mpmath"
        check(function(query, key_values, reduction="none", **kwargs), losses, dtype, what, atol=0)
        mine_query, mine_keys = getattr(losslab, f"{function.__name__}_grad")(query, key_values, **kwargs)
        # each component held to 4 ulp of its row's largest (the project's bound for these vector gradients)
        for got, want, name in ((mine_query, d_query, "query"), (mine_keys, d_keys, "keys")):
            check_scaled(got, want, np.abs(want).max(axis=-1, keepdims=True), dtype, f"{what} grad {name}")


# ------------------------------------------------------------------ ranking


def score_pairs(dtype, seed):
    r = rng(seed)
    big = float(np.finfo(dtype).max) / 4
    x1 = np.concatenate([r.normal(0, 3, SIZE), [1.0, 2.0, 0.0, 1e-30, big, -big, 5.0]]).astype(dtype)
    x2 = np.concatenate([r.normal(0, 3, SIZE), [1.0, 1.0, 0.0, -1e-30, -big, big, 4.0]]).astype(dtype)
    y = np.concatenate([np.where(r.random(SIZE) < 0.5, 1.0, -1.0), [1.0, -1.0, 1.0, -1.0, 1.0, 1.0, 1.0]])
    return x1, x2, y.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("margin", [0.0, 1.0, -0.5, 1e6])
def test_margin_ranking_agrees_with_torch_off_the_kink(margin, dtype):
    x1, x2, y = score_pairs(dtype, 20)
    a, b = tensor(x1, grad=True), tensor(x2, grad=True)
    unreduced = F.margin_ranking_loss(a, b, tensor(y), margin=margin, reduction="none")
    check_reductions(lambda *args, **k: losslab.margin_ranking(*args, margin=margin, **k), (x1, x2, y), unreduced,
                     dtype, f"margin_ranking m={margin}")
    grad_1, grad_2 = grads(unreduced, a, b)
    mine_1, mine_2 = losslab.margin_ranking_grad(x1, x2, y, margin=margin)
    on_kink = margin - y.astype(np.float64) * (x1.astype(np.float64) - x2.astype(np.float64)) == 0
    # documented: 0 on the kink (torch's clamp_min passes the slope there)
    assert np.all(mine_1[on_kink] == 0) and np.all(mine_2[on_kink] == 0)
    keep = torch.from_numpy(~on_kink)
    check(mine_1[~on_kink], grad_1[keep], dtype, "margin_ranking_grad x1")
    check(mine_2[~on_kink], grad_2[keep], dtype, "margin_ranking_grad x2")
    if margin == 0:
        assert on_kink[SIZE] and on_kink[SIZE + 2] and numpy(grad_1)[SIZE] != 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_bpr_agrees_with_torch_and_mpmath_where_the_difference_overflows(dtype):
    positive, negative, _ = score_pairs(dtype, 21)
    a, b = tensor(positive, grad=True), tensor(negative, grad=True)
    unreduced = -F.logsigmoid(a - b)
    finite = np.isfinite(positive.astype(np.float64) - negative)  # float64 differences of float32 never overflow
    if dtype == np.float64:  # 2^1022 - (-2^1022) overflows in torch (loss 0 or inf): the exact margin here
        margins = [mpmath.mpf(float(p)) - mpmath.mpf(float(n)) for p, n in zip(positive, negative, strict=True)]
        expected = np.array([float(mpmath.log1p(mpmath.exp(-m))) for m in margins])
        check(losslab.bpr(positive, negative, reduction="none"), expected, dtype, "bpr vs mpmath", atol=0)
        grad_expected = np.array([float(-1 / (1 + mpmath.exp(m))) for m in margins])
        mine_p, mine_n = losslab.bpr_grad(positive, negative)
        check(mine_p, grad_expected, dtype, "bpr_grad vs mpmath", atol=0)
        check(mine_n, -grad_expected, dtype, "bpr_grad vs mpmath", atol=0)
    check_reductions(losslab.bpr, (positive[finite], negative[finite]), unreduced[torch.from_numpy(finite)], dtype,
                     "bpr")
    grad_p, grad_n = grads(unreduced[torch.from_numpy(finite)], a, b)
    mine_p, mine_n = losslab.bpr_grad(positive, negative)
    check(mine_p[finite], grad_p[torch.from_numpy(finite)], dtype, "bpr_grad positive")
    check(mine_n[finite], grad_n[torch.from_numpy(finite)], dtype, "bpr_grad negative")


@pytest.mark.parametrize("dtype", DTYPES)
def test_listnet_is_torchs_cross_entropy_to_the_relevance_softmax(dtype):
    r = rng(22)
    scores = r.normal(0, 3, (SIZE // 4 + 3, 6))
    relevance = r.integers(0, 5, scores.shape).astype(float)
    scores[-1] = 1000.0 - np.arange(6)
    scores[-2] = 0.0
    relevance[-3] = [1e3, 0, 0, 0, 0, 0]
    scores, relevance = scores.astype(dtype), relevance.astype(dtype)
    s = tensor(scores, grad=True)
    unreduced = F.cross_entropy(s, torch.softmax(tensor(relevance), -1), reduction="none")
    check_reductions(losslab.listnet, (scores, relevance), unreduced, dtype, "listnet")
    (grad,) = grads(unreduced, s)
    # softmax(s) - softmax(r) cancels where they are close: held to its terms' size
    check(losslab.listnet_grad(scores, relevance), grad, dtype, "listnet_grad", rtol=0)


# ------------------------------------------------------------------ object detection (torchvision 0.28.0's code)


def tv_iou_loss(boxes1, boxes2, eps=1e-7):  # 1 - IoU with torchvision's eps placement
    intsctk, unionk = tv_inter_union(boxes1, boxes2)
    return 1 - intsctk / (unionk + eps)


def tv_giou(boxes1, boxes2, eps=1e-7):  # torchvision.ops.generalized_box_iou_loss, reduction="none"
    intsctk, unionk = tv_inter_union(boxes1, boxes2)
    iouk = intsctk / (unionk + eps)
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    xc1, yc1 = torch.min(x1, x1g), torch.min(y1, y1g)
    xc2, yc2 = torch.max(x2, x2g), torch.max(y2, y2g)
    area_c = (xc2 - xc1) * (yc2 - yc1)
    miouk = iouk - ((area_c - unionk) / (area_c + eps))
    return 1 - miouk


def tv_diou_iou(boxes1, boxes2, eps=1e-7):  # torchvision.ops.diou_loss._diou_iou_loss
    intsct, union = tv_inter_union(boxes1, boxes2)
    iou = intsct / (union + eps)
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    xc1, yc1 = torch.min(x1, x1g), torch.min(y1, y1g)
    xc2, yc2 = torch.max(x2, x2g), torch.max(y2, y2g)
    diagonal_distance_squared = ((xc2 - xc1) ** 2) + ((yc2 - yc1) ** 2) + eps
    x_p, y_p = (x2 + x1) / 2, (y2 + y1) / 2
    x_g, y_g = (x1g + x2g) / 2, (y1g + y2g) / 2
    centers_distance_squared = ((x_p - x_g) ** 2) + ((y_p - y_g) ** 2)
    return 1 - iou + (centers_distance_squared / diagonal_distance_squared), iou


def tv_diou(boxes1, boxes2, eps=1e-7):  # torchvision.ops.distance_box_iou_loss
    return tv_diou_iou(boxes1, boxes2, eps)[0]


def tv_ciou(boxes1, boxes2, eps=1e-7, alpha_constant=True):  # torchvision.ops.complete_box_iou_loss
    diou_loss, iou = tv_diou_iou(boxes1, boxes2)  # sic: torchvision passes no eps here (its default, 1e-7)
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    w_pred, h_pred = x2 - x1, y2 - y1
    w_gt, h_gt = x2g - x1g, y2g - y1g
    v = (4 / (torch.pi**2)) * torch.pow((torch.atan(w_gt / h_gt) - torch.atan(w_pred / h_pred)), 2)
    if alpha_constant:  # torchvision: alpha under torch.no_grad()
        with torch.no_grad():
            alpha = v / (1 - iou + v + eps)
    else:  # the true derivative, losslab's ciou_grad (documented in losslab.detection)
        alpha = v / (1 - iou + v + eps)
    return diou_loss + alpha * v


BOX_LOSSES = [("iou_loss", tv_iou_loss), ("giou", tv_giou), ("diou", tv_diou), ("ciou", tv_ciou)]


def box_pairs(dtype, seed, scale=1.0):
    r = rng(seed)
    n = SIZE // 2
    corner = r.uniform(-2, 2, (n, 2))
    pred = np.concatenate([corner, corner + r.uniform(0.05, 3, (n, 2))], axis=-1)
    corner = corner + r.normal(0, 1, (n, 2))
    target = np.concatenate([corner, corner + r.uniform(0.05, 3, (n, 2))], axis=-1)
    return (pred * scale).astype(dtype), (target * scale).astype(dtype)


def edge_box_pairs(dtype):
    """Ties (kinks): identical boxes, shared edges, touching and nested boxes, a thin box, far-apart boxes."""
    pred = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [1, 0, 2, 1], [0.25, 0.25, 0.75, 0.75], [0, 0, 1, 1e-3],
                     [100, 100, 101, 102], [0, 0, 2, 1], [-1, -1, 1, 1]], float)
    target = np.array([[0, 0, 1, 1], [0, 0, 1, 2], [0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1],
                       [0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1]], float)
    return pred.astype(dtype), target.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1.0, 1e-3, 1e100])
@pytest.mark.parametrize(("name", "reference"), BOX_LOSSES, ids=[name for name, _ in BOX_LOSSES])
def test_box_losses_agree_with_torchvision(name, reference, scale, dtype):
    if dtype == np.float32 and scale == 1e100:
        scale = 1e15  # areas of 1e30
    pred, target = box_pairs(dtype, 23, scale)
    b = tensor(pred, grad=True)
    unreduced = reference(b, tensor(target))
    # torchvision's 1 - I/U and (C - U)/C cancel where a box nearly fills the other: held to ulp of 1
    check_reductions(getattr(losslab, name), (pred, target), unreduced, dtype, f"{name} scale={scale}",
                     atol=8 * float(np.finfo(dtype).eps))
    if name == "ciou":  # documented: losslab's gradient is the true derivative (torchvision holds alpha fixed)
        b.grad = None
        unreduced = tv_ciou(b, tensor(target), alpha_constant=False)
    (grad,) = grads(unreduced, b)
    check_scaled(getattr(losslab, f"{name}_grad")(pred, target), grad, 1 / scale, dtype, f"{name}_grad")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "reference"), BOX_LOSSES, ids=[name for name, _ in BOX_LOSSES])
def test_box_losses_at_ties_agree_with_torchvision(name, reference, dtype):
    """Values at the kinks equal torchvision's; gradients there take the target's branch (documented), where
    torch's min and max split the gradient between tied arguments: compared with a one-sided nudge."""
    pred, target = edge_box_pairs(dtype)
    unreduced = reference(tensor(pred), tensor(target))
    check_reductions(getattr(losslab, name), (pred, target), unreduced, dtype, f"{name} at ties",
                     atol=8 * float(np.finfo(dtype).eps))
    empty = np.zeros((0, 4), dtype)
    check_reductions(getattr(losslab, name), (empty, empty), reference(tensor(empty), tensor(empty)), dtype,
                     f"{name} of no boxes")


def test_ciou_gradient_differs_from_torchvisions_by_v_times_the_alpha_derivative():
    pred, target = box_pairs(np.float64, 24)
    b = tensor(pred, grad=True)
    (constant,) = grads(tv_ciou(b, tensor(target)), b)
    b.grad = None
    (exact,) = grads(tv_ciou(b, tensor(target), alpha_constant=False), b)
    mine = losslab.ciou_grad(pred, target)
    check_scaled(mine, exact, 1.0, np.float64, "ciou_grad")
    assert np.abs(mine - numpy(constant)).max() > 1e-3  # the documented difference is not a rounding


# ------------------------------------------------------------------ probabilities: BCE's clip, segmentation


def clipped_probabilities(dtype):
    tiny = float(np.finfo(dtype).tiny)
    eps32 = float(np.float32(1e-12))  # 1e-12 rounded down in float32: below the bound
    p = np.array([1.0, 0.0, 1 - 2.0**-24, 1 - 2.0**-53, eps32, np.nextafter(np.float32(1e-12), np.float32(1)), tiny,
                  5e-13, 0.5, 0.25, 1e-30, 0.9999])
    return p.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [1e-12, 1e-3, 0.25, 1e-45])
def test_bce_clips_at_the_same_bounds_in_float32_as_torch_after_clamping(eps, dtype):
    """bce is torch's binary_cross_entropy of p clamped to [eps, 1 - eps] (real bounds, so float32 clips at
    float64's 1 - 1e-12: a float32 1 with label 0 costs 27.6, not the 16.6 of float32's 1 - 2^-24), and
    bce_grad is documented as the gradient at the clipped p (torch's clamp passes none: a leaf at the clamp).
    torch's binary_cross_entropy clamps its logs at -100 (eps = 1e-45 costs 103.6) and its backward divides by
    max(p (1 - p), 1e-12) (1e12 at p = 1 - 1e-12, where the derivative is 1.00002e12): the reference is then
    the formula -(y log q + (1 - y) log(1 - q)) in torch, with its autograd."""
    p = clipped_probabilities(dtype)
    p, y = np.repeat(p, 3), np.tile(np.array([0.0, 1.0, 0.3], dtype), p.size)
    lower, upper = max(eps, float(np.finfo(np.float64).tiny)), min(1 - eps, float(np.nextafter(1.0, 0.0)))
    q = tensor(np.clip(p.astype(np.float64), lower, upper), grad=True)
    unreduced = -(tensor(y) * torch.log(q) + (1 - tensor(y)) * torch.log1p(-q))
    if eps >= 1e-12:
        check(numpy(unreduced), F.binary_cross_entropy(q, tensor(y), reduction="none"), np.float64,
              "the formula is torch's")
    check_reductions(lambda *a, **k: losslab.bce(*a, eps=eps, **k), (p, y), unreduced, dtype, f"bce eps={eps}")
    (grad,) = grads(unreduced, q)
    check(losslab.bce_grad(p, y, eps=eps), grad, dtype, f"bce_grad eps={eps}")
    loss, grad_together = losslab.bce_and_grad(p, y, eps=eps, reduction="none")
    check(loss, unreduced, dtype, "bce_and_grad loss")
    check(grad_together, grad, dtype, "bce_and_grad grad")
    # one map, one clip: combo's BCE term (alpha = 1) is bce's mean in every dtype; combo_with_logits' (no clip)
    # torch's binary_cross_entropy_with_logits
    z = np.array([-800.0, -40.0, -1.0, 0.0, 1e-30, 2.5, 40.0, 800.0], dtype)
    t = np.array([1.0, 0.0, 0.3, 1.0, 0.0, 1.0, 0.0, 1.0], dtype)
    zt = tensor(z, grad=True)
    logit_bce = F.binary_cross_entropy_with_logits(zt, tensor(t))
    check(losslab.combo_with_logits(z[None], t[None], alpha=1.0, reduction="none"), logit_bce, dtype,
          "combo_with_logits alpha=1")
    (logit_grad,) = grads(logit_bce, zt)
    check(losslab.combo_with_logits_grad(z[None], t[None], alpha=1.0)[0], logit_grad, dtype,
          "combo_with_logits_grad alpha=1")
    check(losslab.combo(p[None], y[None], alpha=1.0, eps=eps, reduction="none"), unreduced.mean(), dtype,
          "combo alpha=1")
    check(losslab.combo_grad(p[None], y[None], alpha=1.0, eps=eps)[0], grad / p.size, dtype, "combo_grad alpha=1")


def hard_masks(dtype, seed):
    r = rng(seed)
    target = r.random((SIZE // 4 + 4, 30)) < r.uniform(0.05, 0.6, (SIZE // 4 + 4, 1))
    prob = np.where(r.random(target.shape) < 0.8, target, ~target)
    target[-1], prob[-1] = True, True  # a perfect mask
    target[-2], prob[-2] = False, False
    target[-2, 0] = True  # one object pixel, missed
    target[-3], prob[-3] = False, True  # an empty target, all predicted
    target[-4, :] = False
    target[-4, :2], prob[-4, :] = True, False  # only a tiny object
    prob[-4, :2] = True
    return prob.astype(dtype), target.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dice_iou_and_tversky_of_hard_masks_are_scikit_learns_f1_and_jaccard(dtype):
    """With a negligible smooth (1e-300) and 0/1 masks, soft Dice is 1 - F1, soft IoU 1 - Jaccard, Tversky with
    alpha = beta = 1/2 is Dice and with alpha = beta = 1 is IoU (per row: axis=-1)."""
    prob, target = hard_masks(dtype, 25)
    # one call each: the rows as the labels of a multilabel problem, scored per label
    f1 = metrics.f1_score(target.T.astype(bool), prob.T.astype(bool), average=None)
    jaccard = metrics.jaccard_score(target.T.astype(bool), prob.T.astype(bool), average=None)
    kwargs = {"smooth": 1e-300, "axis": -1}
    for name, params, expected in (("soft_dice", {}, 1 - f1), ("soft_iou", {}, 1 - jaccard),
                                   ("tversky", {"alpha": 0.5, "beta": 0.5}, 1 - f1),
                                   ("tversky", {"alpha": 1.0, "beta": 1.0}, 1 - jaccard),
                                   ("focal_tversky", {"alpha": 0.5, "beta": 0.5, "gamma": 1.0}, 1 - f1)):
        check_reductions(lambda *a, n=name, p=params, **k: getattr(losslab, n)(*a, **p, **kwargs, **k),
                         (prob, target), torch.from_numpy(expected), dtype, f"{name} {params} vs scikit-learn")


ROBUST = [("pseudo_huber", "delta", "soft_l1"), ("cauchy", "c", "cauchy"), ("huber", "delta", "huber")]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1.0, 0.05, 20.0])
@pytest.mark.parametrize(("name", "parameter", "scipy_loss"), ROBUST, ids=[name for name, _, _ in ROBUST])
def test_robust_losses_are_scipys_least_squares_losses(name, parameter, scipy_loss, scale, dtype):
    """scipy.optimize.least_squares' robust losses: its cost is 1/2 sum f_scale^2 rho(r^2 / f_scale^2), the
    gradient of each term rho'(r^2 / f_scale^2) r. soft_l1's 2 (sqrt(1 + z) - 1) cancels for small z, so the
    values are held to ulp of f_scale^2 + r^2/2 (the size of its terms)."""
    pred, target = residual_pairs(dtype, 26)
    pred, target = pred[:-6], target[:-6]  # scipy squares r: no overflow cases
    residual = pred.astype(np.float64) - target.astype(np.float64)
    rho = construct_loss_function(residual.size, scipy_loss, scale)(residual)
    loss, slope = rho[0] / 2, rho[1] * residual
    terms = scale**2 + residual**2 / 2
    mine = getattr(losslab, name)(pred, target, reduction="none", **{parameter: scale})
    check_scaled(mine, loss, terms, dtype, f"{name} vs scipy {scipy_loss}")
    check_scaled(getattr(losslab, name)(pred, target, reduction="sum", **{parameter: scale}), loss.sum(),
                 terms.sum(), dtype, f"{name} sum")
    check_scaled(getattr(losslab, name)(pred, target, **{parameter: scale}), loss.mean(), terms.mean(), dtype,
                 f"{name} mean")
    check(getattr(losslab, f"{name}_grad")(pred, target, **{parameter: scale}), slope, dtype, f"{name}_grad")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c", [1.0, 0.05, 20.0])
def test_tukey_and_geman_mcclure_agree_with_their_formulas_in_torch(c, dtype):
    """No reference library has them: the documented formulas in torch, with autograd, held to the size of their
    terms (Tukey's 1 - (1 - x)^3 cancels for a small residual; losslab keeps those digits)."""
    pred, target = residual_pairs(dtype, 31)
    pred, target = pred[:-6], target[:-6]
    t = tensor(target)

    def tukey(p):
        x = ((p - t) / c) ** 2
        return torch.where(x <= 1, c**2 / 6 * (1 - (1 - x) ** 3), torch.full_like(x, c**2 / 6))

    def geman_mcclure(p):
        return (p - t) ** 2 / 2 / (1 + ((p - t) / c) ** 2)

    residual = pred.astype(np.float64) - target
    for name, formula, scale in (("tukey", tukey, np.full(residual.shape, c**2 / 6)),
                                 ("geman_mcclure", geman_mcclure, np.zeros(residual.shape))):
        p = tensor(pred, grad=True)
        unreduced = formula(p)
        check_scaled(getattr(losslab, name)(pred, target, c=c, reduction="none"), unreduced, scale, dtype, name)
        check_scaled(getattr(losslab, name)(pred, target, c=c, reduction="sum"), unreduced.sum(), scale.sum(), dtype,
                     f"{name} sum")
        (grad,) = grads(unreduced, p)
        check_scaled(getattr(losslab, f"{name}_grad")(pred, target, c=c), grad, np.abs(residual), dtype,
                     f"{name}_grad")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("margin", [1.0, 0.1, 5.0])
def test_contrastive_agrees_with_its_formula_in_torch(margin, dtype):
    """torch has no contrastive loss: y d^2/2 + (1 - y) max(0, m - d)^2/2 with d = |x1 - x2| in torch, with
    autograd (the dissimilar pair at d = 0 has gradient 0, documented, as torch's norm gives)."""
    r = rng(32)
    x1 = r.normal(0, 1, (SIZE // 2, 4))
    x2 = x1 + r.normal(0, 0.6, x1.shape) * r.uniform(0, 2, (SIZE // 2, 1))
    x2[0] = x1[0]  # d = 0
    y = (r.random(SIZE // 2) < 0.5).astype(float)
    y[0] = 0.0
    x1, x2, y = x1.astype(dtype), x2.astype(dtype), y.astype(dtype)
    a, b = tensor(x1, grad=True), tensor(x2, grad=True)
    d = torch.linalg.vector_norm(a - b, dim=-1)
    unreduced = tensor(y) * d**2 / 2 + (1 - tensor(y)) * torch.clamp(margin - d, min=0) ** 2 / 2
    # m - d cancels near the margin in torch's float64: held to ulp of m^2
    scale = np.full(y.shape, margin**2)
    check_scaled(losslab.contrastive(x1, x2, y, margin=margin, reduction="none"), unreduced, scale, dtype,
                 "contrastive")
    check_scaled(losslab.contrastive(x1, x2, y, margin=margin, reduction="sum"), unreduced.sum(), scale.sum(), dtype,
                 "contrastive sum")
    expected = grads(unreduced, a, b)
    mine = losslab.contrastive_grad(x1, x2, y, margin=margin)
    for got, want, name in zip(mine, expected, ("x1", "x2"), strict=True):
        check_scaled(got, want, margin * np.ones((y.size, 1)), dtype, f"contrastive_grad {name}")
    assert np.all(mine[0][0] == 0)


# ------------------------------------------------------------------ coverage of the registry

#: registry losses compared with a reference library in this file (or the chapter's file) and those no reference
#: library here implements (their tests compare with mpmath and closed forms: test_accuracy_atlas.py and others)
COMPARED = {
    "mse", "mae", "huber", "log_cosh", "quantile", "bce", "sigmoid_mse", "focal", "hinge", "cross_entropy",
    "kl_divergence", "brier", "label_smoothed_cross_entropy", "weighted_cross_entropy",  # test_reference_libraries
    "pseudo_huber", "cauchy", "smooth_l1", "gaussian_nll", "poisson_nll", "msle", "squared_hinge", "exponential",
    "gan_discriminator", "gan_generator_minimax", "gan_generator_nonsaturating", "wgan_critic", "wgan_generator",
    "hinge_gan_discriminator", "gaussian_kl", "soft_dice", "soft_iou", "tversky", "focal_tversky", "combo",
    "iou_loss", "giou", "diou", "ciou", "triplet_margin", "cosine_embedding", "info_nce", "margin_ranking", "bpr",
    "listnet", "ctc",
}
NO_REFERENCE = {  # the first three are compared with their documented formulas in torch and its autograd above
    "geman_mcclure": "not in torch, scikit-learn or scipy",
    "tukey": "statsmodels' TukeyBiweight is not a dependency",
    "contrastive": "torch has no contrastive loss (hinge_embedding_loss is another, unsquared loss)",
    "barron": "robust_loss_pytorch is not a dependency",
}


def test_every_registry_loss_is_compared_with_a_reference_library_or_listed_as_having_none():
    from losslab import registry
    keys = {spec.key for spec in registry.LOSSES}
    assert keys == COMPARED | set(NO_REFERENCE), (keys - COMPARED - set(NO_REFERENCE), (COMPARED | set(NO_REFERENCE))
                                                   - keys)
    assert not COMPARED & set(NO_REFERENCE)


# ------------------------------------------------------------------ torch's other names for the chapter's losses


@pytest.mark.parametrize("dtype", DTYPES)
def test_soft_margin_and_multilabel_soft_margin_losses_are_bce_with_logits(dtype):
    """torch's soft_margin_loss log(1 + e^{-y x}) is bce_with_logits of the label (y + 1)/2, and
    multilabel_soft_margin_loss the class mean of bce_with_logits: separate implementations of the same loss."""
    r = rng(28)
    big = 700.0 if dtype == np.float64 else 80.0
    x = np.concatenate([r.normal(0, 4, (SIZE // 4, 5)), [[big, -big, 0.0, 1e-30, 30.0]]]).astype(dtype)
    sign = np.where(r.random(x.shape) < 0.5, 1.0, -1.0).astype(dtype)
    xt = tensor(x, grad=True)
    unreduced = F.soft_margin_loss(xt, tensor(sign), reduction="none")
    check_reductions(losslab.bce_with_logits, (x, (sign + 1) / 2), unreduced, dtype, "soft_margin_loss")
    (grad,) = grads(unreduced, xt)
    check(losslab.bce_with_logits_grad(x, (sign + 1) / 2), grad, dtype, "soft_margin_loss grad")
    labels = ((sign + 1) / 2).astype(dtype)
    per_sample = F.multilabel_soft_margin_loss(tensor(x), tensor(labels), reduction="none")
    check(np.asarray(losslab.bce_with_logits(x, labels, reduction="none")).mean(-1, dtype=dtype), per_sample, dtype,
          "multilabel_soft_margin_loss")


@pytest.mark.parametrize("dtype", DTYPES)
def test_kl_with_logits_and_cross_entropy_from_probs_agree_with_kl_div_and_nll_loss(dtype):
    r = rng(29)
    z = r.normal(0, 4, (SIZE // 2, 5))
    z[0] = 1000.0 - np.arange(5)
    y = r.dirichlet(np.ones(5), SIZE // 2)
    y[1] = [1.0, 0.0, 0.0, 0.0, 0.0]  # a target at the simplex's corner: 0 log 0 = 0
    z, y = z.astype(dtype), y.astype(dtype)
    zt = tensor(z, grad=True)
    unreduced = F.kl_div(F.log_softmax(zt, -1), tensor(y), reduction="none").sum(-1)
    check_reductions(losslab.kl_divergence_with_logits, (z, y), unreduced, dtype, "kl_divergence_with_logits")
    check(losslab.kl_divergence_with_logits(z, y), F.kl_div(F.log_softmax(zt, -1), tensor(y), reduction="batchmean"),
          dtype, "kl batchmean")
    (grad,) = grads(unreduced, zt)
    # p - y cancels where p ~ y: held to its terms' size
    check(losslab.kl_divergence_with_logits_grad(z, y), grad, dtype, "kl_divergence_with_logits_grad", rtol=0)
    p = r.dirichlet(np.ones(5), SIZE // 2).astype(dtype)
    index = r.integers(0, 5, SIZE // 2)
    pt = tensor(p, grad=True)
    unreduced = F.nll_loss(torch.log(pt), torch.from_numpy(index), reduction="none")
    check_reductions(losslab.cross_entropy_from_probs, (p, np.eye(5, dtype=dtype)[index]), unreduced, dtype,
                     "cross_entropy_from_probs vs nll_loss")
    (grad,) = grads(unreduced, pt)
    check(losslab.cross_entropy_from_probs_grad(p, np.eye(5, dtype=dtype)[index]), grad, dtype,
          "cross_entropy_from_probs_grad")


def torch_tversky(p, t, alpha, beta, smooth):
    """The documented formula in torch, per row, in its second form (alpha FP + beta FN)/(TP + alpha FP + beta FN
    + s): 1 - (TP + s)/(...) cancels for a nearly perfect map (T of 1e-6 keeps 10 digits, and focal Tversky's
    T^(gamma - 1) carries that)."""
    tp = (p * t).sum(-1)
    fp = (p * (1 - t)).sum(-1)
    fn = ((1 - p) * t).sum(-1)
    return (alpha * fp + beta * fn) / (tp + alpha * fp + beta * fn + smooth)


SEGMENTATION = [
    ("soft_dice", {"smooth": 1.0}, lambda p, t: torch_tversky(p, t, 0.5, 0.5, 0.5)),
    ("soft_iou", {"smooth": 1e-3}, lambda p, t: torch_tversky(p, t, 1.0, 1.0, 1e-3)),
    ("tversky", {"alpha": 0.3, "beta": 0.7, "smooth": 1.0}, lambda p, t: torch_tversky(p, t, 0.3, 0.7, 1.0)),
    ("tversky", {"alpha": 0.0, "beta": 1.0, "smooth": 1e-6}, lambda p, t: torch_tversky(p, t, 0.0, 1.0, 1e-6)),
    ("focal_tversky", {"alpha": 0.3, "beta": 0.7, "gamma": 0.75, "smooth": 1.0},
     lambda p, t: torch_tversky(p, t, 0.3, 0.7, 1.0) ** 0.75),
    ("focal_tversky", {"alpha": 0.5, "beta": 0.5, "gamma": 3.0, "smooth": 1.0},
     lambda p, t: torch_tversky(p, t, 0.5, 0.5, 1.0) ** 3.0),
    ("combo", {"alpha": 0.5, "smooth": 1.0},
     lambda p, t: 0.5 * F.binary_cross_entropy(p.clamp(1e-12, 1 - 1e-12), t, reduction="none").mean(-1)
     + 0.5 * torch_tversky(p, t, 0.5, 0.5, 0.5)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "params", "reference"), SEGMENTATION,
                         ids=[f"{name}-{i}" for i, (name, _, _) in enumerate(SEGMENTATION)])
def test_segmentation_losses_of_soft_maps_and_their_gradients_agree_with_torch_autograd(name, params, reference,
                                                                                        dtype):
    """Soft maps (scikit-learn's scores only take hard masks): the documented formula in torch and its autograd,
    per row (axis=-1), with an empty target, a perfect and an all-wrong map among the rows. combo's clip holds
    no pixel here (p in [1e-6, 1 - 1e-6]), where torch's clamp would pass no gradient."""
    r = rng(30)
    prob = r.uniform(1e-6, 1 - 1e-6, (SIZE // 4 + 3, 40))
    target = (r.random(prob.shape) < r.uniform(0.05, 0.5, (prob.shape[0], 1))).astype(float)
    target[-1] = 0.0  # an empty target
    target[-2] = r.random(40) < 0.3
    prob[-2] = np.where(target[-2] > 0, 1 - 1e-6, 1e-6)  # nearly perfect
    prob[-3] = np.where(target[-3] > 0, 1e-6, 1 - 1e-6)  # all wrong
    soft = r.random(prob.shape) < 0.2
    target[soft] = r.random(soft.sum())  # some soft targets
    prob, target = prob.astype(dtype), target.astype(dtype)
    p = tensor(prob, grad=True)
    unreduced = reference(p, tensor(target))
    function = getattr(losslab, name)
    check_reductions(lambda *a, **k: function(*a, axis=-1, **params, **k), (prob, target), unreduced, dtype,
                     f"{name} {params}", atol=8 * float(np.finfo(dtype).eps))
    (grad,) = grads(unreduced, p)
    # the gradient's terms (a_i and T (t_i + a_i) over the denominator) cancel in torch's autograd of the ratio:
    # held to 16 ulp of the row's largest component (focal Tversky, gamma = 3, LOSSLAB_LONG row 444: torch 9 ulp
    # of it from mpmath, losslab 1)
    scale = 4 * np.abs(numpy(grad)).max(axis=-1, keepdims=True)
    check_scaled(getattr(losslab, f"{name}_grad")(prob, target, axis=-1, **params), grad, scale, dtype,
                 f"{name}_grad {params}")
