"""losslab against PyTorch and scikit-learn, where they define the same loss: random and large inputs,
every reduction, float64 and float32 (float32 in, float32 out, against torch's float64 value of the same
float32 inputs), and every gradient against torch's autograd of the summed loss.

Differences losslab documents on purpose are compared in losslab's convention: ``bce`` clips at eps
(compared with ``eps=0`` on probabilities torch does not clamp), the weighted cross-entropy's "mean" is
over samples (PyTorch's divides by the weights, so "none" and "sum" are compared), Brier sums its classes
(scikit-learn's binary score is half of it). Where torch's float64 formula loses digits (logit tails
past |z| = 15, focal's (1 - p_t)) values near 0 are held to a few ulp of 1, not of themselves.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn import metrics

import losslab

F = torch.nn.functional

RNG = np.random.default_rng(20261129)
REDUCTIONS = ("mean", "sum", "none")
RTOL = {np.float64: 1e-12, np.float32: 4 * float(np.finfo(np.float32).eps)}


def reduced(values, reduction):
    return {"mean": values.mean(), "sum": values.sum(), "none": values}[reduction]


def tensor(values, grad=False):
    return torch.tensor(np.asarray(values, dtype=np.float64), dtype=torch.float64, requires_grad=grad)


def check(got, expected, dtype, what):
    """``got`` keeps its dtype and is within rounding of the float64 reference rounded to that dtype."""
    got = np.asarray(got)
    assert got.dtype == dtype, f"{what}: {got.dtype} out for {np.dtype(dtype)} in"
    expected = np.asarray(expected.detach().numpy() if hasattr(expected, "detach") else expected)
    # atol: torch's float64 forms cancel terms of order 1 (log1p(exp(-15)) as log(1 + 3e-7), log_softmax of a
    # dominant class as z - logsumexp(z)), so results near 0 are held to a few ulp of 1 (mpmath tests do better)
    np.testing.assert_allclose(got.astype(np.float64), expected.astype(dtype).astype(np.float64),
                               rtol=RTOL[dtype], atol=4 * float(np.finfo(dtype).eps), err_msg=what)


def residuals(dtype):
    pred = np.concatenate([RNG.normal(0, 3, 64), [1e30, -1e30, 1e-30, 0.0, 7.0, -2.5]])
    target = np.concatenate([RNG.normal(0, 3, 64), [-1e30, 1e30, 0.0, 0.0, 7.0, 2.5]])
    return pred.astype(dtype), target.astype(dtype)


REGRESSION = [
    ("mse", {}, lambda p, t, r: F.mse_loss(p, t, reduction=r)),
    ("mae", {}, lambda p, t, r: F.l1_loss(p, t, reduction=r)),
    ("huber", {"delta": 0.3}, lambda p, t, r: F.huber_loss(p, t, delta=0.3, reduction=r)),
    ("huber", {"delta": 1e4}, lambda p, t, r: F.huber_loss(p, t, delta=1e4, reduction=r)),
    ("log_cosh", {}, lambda p, t, r: reduced(torch.logaddexp(p - t, t - p) - np.log(2), r)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("name", "params", "reference"), REGRESSION, ids=lambda v: v if isinstance(v, str) else "")
def test_regression_losses_and_gradients_agree_with_torch(name, params, reference, dtype):
    pred, target = residuals(dtype)
    if name == "mse" and dtype == np.float32:  # (2e30)^2 is past float32's range in losslab and in torch
        pred, target = pred[:-6], target[:-6]
    p, t = tensor(pred, grad=True), tensor(target)
    for reduction in REDUCTIONS:
        check(getattr(losslab, name)(pred, target, reduction=reduction, **params), reference(p, t, reduction),
              dtype, f"{name} {reduction}")
    reference(p, t, "sum").backward()
    check(getattr(losslab, f"{name}_grad")(pred, target, **params), p.grad, dtype, f"{name}_grad")


@pytest.mark.parametrize("tau", [0.05, 0.5, 0.9])
def test_quantile_mean_is_scikit_learns_mean_pinball_loss(tau):
    pred, target = residuals(np.float64)
    expected = metrics.mean_pinball_loss(target[:-6], pred[:-6], alpha=tau)
    np.testing.assert_allclose(losslab.quantile(pred[:-6], target[:-6], tau=tau), expected, rtol=1e-13)


def logits_and_labels(dtype, soft):
    z = np.concatenate([RNG.normal(0, 4, 64), [-15.0, 15.0, 0.0, 1e-30, -1e-30, 12.5]]).astype(dtype)
    y = RNG.random(z.size) if soft else (RNG.random(z.size) < 0.5)
    return z, y.astype(dtype)


def torch_focal(z, y, gamma, alpha):
    """torchvision.ops.sigmoid_focal_loss, unreduced."""
    p = torch.sigmoid(z)
    p_t = p * y + (1 - p) * (1 - y)
    loss = F.binary_cross_entropy_with_logits(z, y, reduction="none") * (1 - p_t) ** gamma
    return loss if alpha is None else (alpha * y + (1 - alpha) * (1 - y)) * loss


BINARY = [
    ("bce_with_logits", {}, lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction="none")),
    ("sigmoid_mse", {}, lambda z, y: (torch.sigmoid(z) - y) ** 2),
    ("focal", {"gamma": 2.0}, lambda z, y: torch_focal(z, y, 2.0, None)),
    ("focal", {"gamma": 0.5, "alpha": 0.25}, lambda z, y: torch_focal(z, y, 0.5, 0.25)),
]


@pytest.mark.parametrize("soft", [False, True], ids=["hard", "soft"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("name", "params", "reference"), BINARY, ids=lambda v: v if isinstance(v, str) else "")
def test_logit_losses_and_gradients_agree_with_torch(name, params, reference, dtype, soft):
    z, y = logits_and_labels(dtype, soft)
    zt, yt = tensor(z, grad=True), tensor(y)
    unreduced = reference(zt, yt)
    for reduction in REDUCTIONS:
        check(getattr(losslab, name)(z, y, reduction=reduction, **params), reduced(unreduced, reduction),
              dtype, f"{name} {reduction}")
    unreduced.sum().backward()
    check(getattr(losslab, f"{name}_grad")(z, y, **params), zt.grad, dtype, f"{name}_grad")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_of_probabilities_and_hinge_agree_with_torch(dtype):
    p = RNG.uniform(1e-6, 1 - 1e-6, 70).astype(dtype)
    y = (RNG.random(70) < 0.5).astype(dtype)
    pt = tensor(p, grad=True)
    for reduction in REDUCTIONS:
        check(losslab.bce(p, y, eps=0, reduction=reduction), F.binary_cross_entropy(pt, tensor(y), reduction=reduction),
              dtype, f"bce {reduction}")
    F.binary_cross_entropy(pt, tensor(y), reduction="sum").backward()
    check(losslab.bce_grad(p, y, eps=0), pt.grad, dtype, "bce_grad")
    score, sign = RNG.normal(0, 2, 70).astype(dtype), np.where(y > 0, 1, -1).astype(dtype)
    st = tensor(score, grad=True)
    hinge = torch.clamp(1 - tensor(sign) * st, min=0)
    for reduction in REDUCTIONS:
        check(losslab.hinge(score, sign, reduction=reduction), reduced(hinge, reduction), dtype, f"hinge {reduction}")
    hinge.sum().backward()
    check(losslab.hinge_grad(score, sign), st.grad, dtype, "hinge_grad")
    np.testing.assert_allclose(losslab.hinge(score.astype(np.float64), sign), metrics.hinge_loss(sign, score), rtol=1e-13)


def class_logits(dtype, classes):
    z = RNG.normal(0, 4, (40, classes))
    z[0] = 1000.0 - np.arange(classes)  # the chapter's 1000, 999, 998
    z[1] = -1000.0 + np.arange(classes)
    z[2, 0] = 80.0
    return z.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("classes", [2, 5, 10])
def test_softmax_family_and_cross_entropy_agree_with_torch(classes, dtype):
    z = class_logits(dtype, classes)
    zt = tensor(z, grad=True)
    index = RNG.integers(0, classes, 40)
    soft = RNG.dirichlet(np.ones(classes), 40).astype(dtype)
    check(losslab.softmax(z), torch.softmax(zt, -1), dtype, "softmax")
    check(losslab.log_softmax(z), torch.log_softmax(zt, -1), dtype, "log_softmax")
    check(losslab.logsumexp(z), torch.logsumexp(zt, -1), dtype, "logsumexp")
    for reduction in REDUCTIONS:
        check(losslab.cross_entropy(z, index, reduction=reduction),
              F.cross_entropy(zt, torch.tensor(index), reduction=reduction), dtype, f"cross_entropy index {reduction}")
        check(losslab.label_smoothed_cross_entropy(z, index, label_smoothing=0.2, reduction=reduction),
              F.cross_entropy(zt, torch.tensor(index), label_smoothing=0.2, reduction=reduction), dtype,
              f"label_smoothed_cross_entropy {reduction}")
    weight = RNG.uniform(0.1, 3.0, classes)
    for reduction in ("none", "sum"):  # losslab's "mean" is over samples (documented), torch's over weights
        check(losslab.weighted_cross_entropy(z, index, weight=weight, reduction=reduction),
              F.cross_entropy(zt, torch.tensor(index), weight=tensor(weight), reduction=reduction), dtype,
              f"weighted_cross_entropy {reduction}")
    F.cross_entropy(zt, torch.tensor(index), reduction="sum").backward()
    check(losslab.cross_entropy_grad(z, index), zt.grad, dtype, "cross_entropy_grad index")
    # soft targets: the gradient p - y cancels where p ≈ y, so it is held to the size of its terms
    zt.grad = None
    F.cross_entropy(zt, tensor(soft), reduction="sum").backward()
    np.testing.assert_allclose(losslab.cross_entropy_grad(z, soft), zt.grad.numpy(), rtol=0,
                               atol=4 * float(np.finfo(dtype).eps), err_msg="cross_entropy_grad soft")
    check(losslab.cross_entropy(z, soft, reduction="none"), F.cross_entropy(zt, tensor(soft), reduction="none"),
          dtype, "cross_entropy soft")


@pytest.mark.parametrize("classes", [2, 6])
def test_kl_divergence_brier_and_log_loss_agree_with_torch_and_scikit_learn(classes):
    p = RNG.dirichlet(np.ones(classes), 50)
    y = RNG.dirichlet(np.ones(classes), 50)
    pt = tensor(p, grad=True)
    kl = F.kl_div(torch.log(pt), tensor(y), reduction="none").sum(-1)
    for reduction in REDUCTIONS:
        check(losslab.kl_divergence(p, y, reduction=reduction), reduced(kl, reduction), np.float64, f"kl {reduction}")
    np.testing.assert_allclose(losslab.kl_divergence(p, y),
                               F.kl_div(torch.log(pt), tensor(y), reduction="batchmean").item(), rtol=1e-12)
    kl.sum().backward()
    check(losslab.kl_divergence_grad(p, y), pt.grad, np.float64, "kl_divergence_grad")
    labels = RNG.integers(0, classes, 50)
    np.testing.assert_allclose(losslab.cross_entropy_from_probs(p, np.eye(classes)[labels]),
                               metrics.log_loss(labels, p, labels=list(range(classes))), rtol=1e-12)
    if classes == 2:  # scikit-learn's binary Brier score is (p1 - y1)^2; losslab sums both classes: twice it
        np.testing.assert_allclose(losslab.brier(p, np.eye(2)[labels]) / 2,
                                   metrics.brier_score_loss(labels, p[:, 1]), rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_activations_agree_with_torch(dtype):
    z = np.concatenate([RNG.normal(0, 8, 64), [-700.0, 700.0, -80.0, 80.0, 0.0, 1e-30]])
    z = z[np.abs(z) < 80].astype(dtype) if dtype == np.float32 else z.astype(dtype)
    zt = tensor(z)
    check(losslab.sigmoid(z), torch.sigmoid(zt), dtype, "sigmoid")
    check(losslab.log_sigmoid(z), F.logsigmoid(zt), dtype, "log_sigmoid")
    check(losslab.softplus(z), F.softplus(zt, threshold=1e6), dtype, "softplus")
