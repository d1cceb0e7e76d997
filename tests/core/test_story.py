"""The registry's one-variable stories (losslab/_story.py) are the public core, and agree with PyTorch.

1. Every adapter equals the public core function it wraps, called here on arguments built
   independently from the story variable: two embeddings a distance d apart in 3-D, two
   vectors at angle theta in a random plane, a box offset by x from the unit square, a
   query and 16 keys with the given similarities, score pairs with the given margin, a
   mask row per region, a real and a fake logit summed back to the core's pair loss. The
   gradient in the story variable is the core's gradient chained through that construction.
   So every value the registry plots is the core's.
2. Where PyTorch has the loss (torch.nn.functional, torch.distributions; torchvision's box
   losses as transcribed in test_detection.py, since torchvision is not installable here),
   the registry's curve and its gradient (autograd) agree with it to 1e-12 relative in float64.
"""

from __future__ import annotations

import math
import zlib

import mpmath
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numpy.testing import assert_allclose, assert_array_equal
from scipy import special

import losslab
from losslab import registry

from .atlas_checks import (
    TORCH_RTOL,
    logit_inputs,
    parameter_sets,
    prediction_inputs,
    relative_error,
    scaled_error,
)
from .test_detection import tv_ciou, tv_diou, tv_giou, tv_iou_loss

STORY_KEYS = ["gaussian_nll", "squared_hinge", "exponential", "label_smoothed_cross_entropy",
              "weighted_cross_entropy", "gan_discriminator", "gan_generator_minimax",
              "gan_generator_nonsaturating", "wgan_critic", "wgan_generator", "hinge_gan_discriminator",
              "gaussian_kl", "soft_dice", "soft_iou", "tversky", "focal_tversky", "combo", "iou_loss", "giou",
              "diou", "ciou", "contrastive", "triplet_margin", "cosine_embedding", "info_nce", "margin_ranking",
              "bpr", "ctc"]
CLOSE = 1e-14  # adapters that rebuild their arguments differently round differently, by an ulp or two


def _cases(keys):
    return [pytest.param(registry.get(key), params, id=f"{key}-" + ("-".join(f"{k}={v:g}" for k, v in params.items())
                                                                   or "defaults"))
            for key in keys for params in parameter_sets(registry.get(key))]


def _rng(spec, params):
    # a stream per case, the same in every run (str hash() is salted)
    return np.random.default_rng(zlib.crc32(f"{spec.key}{sorted(params.items())}".encode()))


def _signs(target):
    return np.where(np.asarray(target) == 1, 1.0, -1.0)


def _unit(rng, shape):
    v = rng.normal(size=shape)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_every_function_of_story_is_used_by_the_registry_and_checked_here():
    from losslab import _story

    used = {getattr(f, "__wrapped__", f) for spec in registry.LOSSES  # registry._float32_safe's guard unwrapped
            for f in (spec.loss, spec.grad, spec.loss_from_logit, spec.grad_from_logit)}
    stories = {spec.key for spec in registry.LOSSES
               if any(getattr(f, "__module__", "") == "losslab._story" for f in
                      (spec.loss, spec.grad, spec.loss_from_logit, spec.grad_from_logit) if f is not None)}
    assert stories == set(STORY_KEYS)
    public = [name for name, value in vars(_story).items()
              if callable(value) and getattr(value, "__module__", "") == "losslab._story" and not name.startswith("_")]
    unused = [name for name in public if getattr(_story, name) not in used
              and not name.startswith(("weighted_cross_entropy", "label_smoothed_ce", "gan_", "squared_hinge",
                                       "exponential"))]
    assert not unused, f"adapters no registry spec uses: {unused}"


# ------------------------------------------------------------ 1. the adapters are the core


def _core_of_story(spec, x, target, params):
    """(loss, d loss / d x) from the public core on arguments built here from the story variable x."""
    key, rng = spec.key, np.random.default_rng(17)
    x = np.asarray(x, dtype=np.float64)
    if key == "gaussian_nll":
        var = np.full_like(x, params["var"])
        return losslab.gaussian_nll(x, target, var, reduction="none"), losslab.gaussian_nll_grad(x, target, var)[0]
    if key in ("squared_hinge", "exponential"):
        loss, grad = getattr(losslab, f"{key}_and_grad")(x, _signs(target), reduction="none")
        return loss, grad
    if key in ("gan_generator_minimax", "gan_generator_nonsaturating", "wgan_generator"):
        return getattr(losslab, key)(x, reduction="none"), getattr(losslab, f"{key}_grad")(x)
    if key in ("gan_discriminator", "wgan_critic", "hinge_gan_discriminator"):
        # the core's loss of a (real, fake) pair is the story's real loss plus its fake loss
        partner = rng.uniform(-3, 3, x.shape)
        real = np.asarray(target) == 1
        real_scores, fake_scores = np.where(real, x, partner), np.where(real, partner, x)
        pair = getattr(losslab, key)(real_scores, fake_scores, reduction="none")
        g_real, g_fake = getattr(losslab, f"{key}_grad")(real_scores, fake_scores)
        partner_story = spec.loss_from_logit or spec.loss
        partner_loss = partner_story(partner, np.where(real, 0.0, 1.0))
        return pair - partner_loss, np.where(real, g_real, g_fake)
    if key == "gaussian_kl":  # a 2-D latent whose second coordinate is already N(0, 1): KL 0
        mu = np.stack([x, np.zeros_like(x)], axis=-1)
        logvar = np.stack([np.full_like(x, params["logvar"]), np.zeros_like(x)], axis=-1)
        return losslab.gaussian_kl(mu, logvar, reduction="none"), losslab.gaussian_kl_grad(mu, logvar)[0][..., 0]
    if key in ("iou_loss", "giou", "diou", "ciou"):
        width, height = math.sqrt(params.get("aspect", 1.0)), 1 / math.sqrt(params.get("aspect", 1.0))
        boxes = np.stack([0.5 + x - width / 2, np.full_like(x, 0.5 - height / 2), 0.5 + x + width / 2,
                          np.full_like(x, 0.5 + height / 2)], axis=-1)
        unit = np.array([0.0, 0.0, 1.0, 1.0])
        box_grad = getattr(losslab, f"{key}_grad")(boxes, unit)
        return getattr(losslab, key)(boxes, unit, reduction="none"), box_grad[..., 0] + box_grad[..., 2]
    if key == "contrastive":  # two embeddings in 3-D, x apart along a random direction
        anchor, direction = rng.normal(size=(*x.shape, 3)), _unit(rng, (*x.shape, 3))
        first = anchor + x[..., None] * direction
        loss = losslab.contrastive(first, anchor, target, margin=params["margin"], reduction="none")
        g_first = losslab.contrastive_grad(first, anchor, target, margin=params["margin"])[0]
        return loss, np.sum(g_first * direction, axis=-1)
    if key == "triplet_margin":
        anchor = rng.normal(size=(*x.shape, 3))
        positive = anchor + params["positive_distance"] * _unit(rng, (*x.shape, 3))
        direction = _unit(rng, (*x.shape, 3))
        negative = anchor + x[..., None] * direction
        loss = losslab.triplet_margin(anchor, positive, negative, margin=params["margin"], eps=0.0, reduction="none")
        g_negative = losslab.triplet_margin_grad(anchor, positive, negative, margin=params["margin"], eps=0.0)[2]
        return loss, np.sum(g_negative * direction, axis=-1)
    if key == "cosine_embedding":  # vectors of random lengths at angle x in a random plane of 3-D
        e1 = _unit(rng, (*x.shape, 3))
        e2 = _unit(rng, (*x.shape, 3))
        e2 = e2 - np.sum(e2 * e1, -1, keepdims=True) * e1
        e2 /= np.linalg.norm(e2, axis=-1, keepdims=True)
        length = rng.uniform(0.5, 3.0, (*x.shape, 1))
        first = 2.0 * e1
        second = length * (np.cos(x)[..., None] * e1 + np.sin(x)[..., None] * e2)
        d_second = length * (-np.sin(x)[..., None] * e1 + np.cos(x)[..., None] * e2)
        margin = params["cosine_margin"]
        loss = losslab.cosine_embedding(first, second, _signs(target), margin=margin, reduction="none")
        g_second = losslab.cosine_embedding_grad(first, second, _signs(target), margin=margin)[1]
        return loss, np.sum(g_second * d_second, axis=-1)
    if key == "info_nce":  # a unit query; keys whose dot products with it are x and the negatives' similarity
        loss, grad = np.empty_like(x), np.empty_like(x)
        for index in np.ndindex(x.shape):
            query = np.array([[1.0, 0.0, 0.0]])
            keys = np.column_stack([np.r_[x[index], np.full(15, params["negative_similarity"])],
                                    rng.normal(size=(16, 2))])
            loss[index] = losslab.info_nce(query, keys, temperature=params["temperature"], normalize=False)
            grad[index] = losslab.info_nce_grad(query, keys, temperature=params["temperature"],
                                                normalize=False)[1][0, 0]
        return loss, grad
    if key in ("margin_ranking", "bpr"):  # scores x2 + x and x2
        second = np.full_like(x, 0.25)
        first = second + x
        if key == "bpr":
            return losslab.bpr(first, second, reduction="none"), losslab.bpr_grad(first, second)[0]
        margin = params["margin"]
        return (losslab.margin_ranking(first, second, _signs(target), margin=margin, reduction="none"),
                losslab.margin_ranking_grad(first, second, _signs(target), margin=margin)[0])
    if key == "ctc":  # one (T=4, C=3) example per value, frame 1's class-a logit replaced by it
        base = np.array([[0.5, 2.0, -1.0], [1.0, 1.0, 0.0], [0.0, -0.5, 2.0], [1.5, -1.0, 1.0]])
        losses, grads = [], []
        for value in x.ravel():
            logits = base.copy()
            logits[1, 1] = value
            loss, grad = losslab.ctc_with_logits_and_grad(logits, [1, 2], [4], [2], reduction="none")
            losses.append(float(np.squeeze(loss)))
            grads.append(float(np.squeeze(grad)[1, 1]))
        return np.reshape(losses, x.shape), np.reshape(grads, x.shape)
    raise AssertionError(key)


def test_ctc_story_agrees_with_torch():
    import torch  # a dev requirement: a missing torch fails here instead of skipping
    spec = registry.get("ctc")
    base = torch.tensor([[0.5, 2.0, -1.0], [1.0, 1.0, 0.0], [0.0, -0.5, 2.0], [1.5, -1.0, 1.0]], dtype=torch.float64)
    for value in (-3.0, 0.0, 1.7, 6.0):
        logits = base.clone()
        logits[1, 1] = value
        logits.requires_grad_(True)
        log_probs = torch.log_softmax(logits, dim=-1)[:, None, :]
        loss = torch.nn.functional.ctc_loss(log_probs, torch.tensor([[1, 2]]), [4], [2], reduction="sum")
        loss.backward()
        assert_allclose(spec.loss(value), loss.item(), rtol=1e-12)
        assert_allclose(spec.grad(value), logits.grad[1, 1].item(), rtol=1e-12, atol=1e-15)


ELEMENTWISE_STORIES = [k for k in STORY_KEYS if registry.get(k).task not in ("multiclass", "segmentation")]


@pytest.mark.parametrize(("spec", "params"), _cases(ELEMENTWISE_STORIES))
def test_story_equals_the_core_on_arguments_built_from_the_story_variable(spec, params):
    if spec.loss_from_logit is not None:
        x, target = logit_inputs(spec, params, _rng(spec, params))
        loss, grad = spec.loss_from_logit, spec.grad_from_logit
    else:
        x, target, _ = prediction_inputs(spec, params, _rng(spec, params))
        loss, grad = spec.loss, spec.grad
    expected_loss, expected_grad = _core_of_story(spec, x, target, params)
    assert_allclose(loss(x, target, **params), expected_loss, rtol=1e-12, atol=1e-15)
    assert_allclose(grad(x, target, **params), expected_grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("spec", "params"), _cases(["soft_dice", "soft_iou", "tversky", "focal_tversky", "combo"]))
def test_segmentation_story_is_the_core_loss_of_each_row_as_one_region(spec, params):
    z, target = logit_inputs(spec, params, _rng(spec, params))
    prob = special.expit(z)
    core = {("alpha" if name == "bce_weight" else name): value for name, value in params.items()}
    loss, grad = getattr(losslab, spec.key), getattr(losslab, f"{spec.key}_grad")
    rows = np.array([loss(p, t, **core) for p, t in zip(prob, target, strict=True)])  # axis=None: all of it
    row_grads = np.array([grad(p, t, **core) for p, t in zip(prob, target, strict=True)])
    assert_array_equal(spec.loss(prob, target, **params), rows)
    assert_array_equal(spec.grad(prob, target, **params), row_grads)
    assert_allclose(spec.loss_from_logit(z, target, **params), rows, rtol=CLOSE)
    assert_allclose(spec.grad_from_logit(z, target, **params), row_grads * prob * (1 - prob), rtol=1e-12,
                    atol=1e-300)


@pytest.mark.parametrize(("spec", "params"), _cases(["label_smoothed_cross_entropy", "weighted_cross_entropy"]))
def test_multiclass_story_of_probabilities_is_the_core_of_their_logarithms(spec, params):
    prob, target, _ = prediction_inputs(spec, params, _rng(spec, params))
    prob = prob / prob.sum(-1, keepdims=True)  # log p are logits whose softmax is p
    if spec.key == "weighted_cross_entropy":
        weight = np.r_[params["class_weight"], np.ones(prob.shape[-1] - 1)]
        core_loss = losslab.weighted_cross_entropy(np.log(prob), target, weight=weight, reduction="none")
        core_logit_loss = losslab.weighted_cross_entropy
        z = np.log(prob) + 3.0  # softmax is shift-invariant
        assert_array_equal(spec.loss_from_logit(z, target, **params), core_logit_loss(z, target, weight=weight,
                                                                                     reduction="none"))
        assert_array_equal(spec.grad_from_logit(z, target, **params),
                           losslab.weighted_cross_entropy_grad(z, target, weight=weight))
        expected_grad = -weight * target / prob
    else:
        eps = params["label_smoothing"]
        core_loss = losslab.label_smoothed_cross_entropy(np.log(prob), target, label_smoothing=eps, reduction="none")
        expected_grad = -((1 - eps) * target + eps / prob.shape[-1]) / prob
    assert_allclose(spec.loss(prob, target, **params), core_loss, rtol=1e-13)
    assert_allclose(spec.grad(prob, target, **params), expected_grad, rtol=1e-14)


def test_exponential_probability_gradient_overflows_to_inf_without_a_warning():
    spec = registry.get("exponential")
    p = np.array([1e-300, 1e-300, 0.5])
    grad = spec.grad(p, np.array([1.0, 0.0, 1.0]))  # a RuntimeWarning would be an error here
    assert grad[0] == -np.inf  # -e^690.8 / 1e-300: beyond float max
    assert_allclose(grad[1:], [1.0, -1.0 / 0.25], rtol=1e-12)  # e^-690.8 / 1e-300 = 1 (p = sigmoid(z))


# ------------------------------------------------------------ 2. PyTorch agrees


def _t(a):
    return torch.tensor(np.asarray(a, dtype=np.float64))


def _torch_box_loss(name):
    reference = {"iou_loss": tv_iou_loss, "giou": tv_giou, "diou": tv_diou, "ciou": tv_ciou}[name]

    def loss(x, target, aspect=1.0):
        width, height = math.sqrt(aspect), 1 / math.sqrt(aspect)
        centre = 0.5 + x
        boxes = torch.stack([centre - width / 2, torch.full_like(x, 0.5 - height / 2), centre + width / 2,
                             torch.full_like(x, 0.5 + height / 2)], dim=-1)
        return reference(boxes, torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64).expand_as(boxes))

    return loss


def _torch_cosine(x, target, cosine_margin):
    first = torch.stack([torch.ones_like(x), torch.zeros_like(x)], dim=-1)
    second = torch.stack([torch.cos(x), torch.sin(x)], dim=-1)
    return F.cosine_embedding_loss(first.reshape(-1, 2), second.reshape(-1, 2), (2 * target - 1).reshape(-1),
                                   margin=cosine_margin, reduction="none").reshape(x.shape)


def _torch_triplet(x, target, margin, positive_distance):
    anchor = torch.zeros(x.numel(), 1, dtype=torch.float64)
    positive = torch.full_like(anchor, positive_distance)
    return F.triplet_margin_loss(anchor, positive, x.reshape(-1, 1), margin=margin, eps=0.0,
                                 reduction="none").reshape(x.shape)


def _torch_info_nce(x, target, temperature, negative_similarity):
    logits = torch.cat([x.reshape(-1, 1), torch.full((x.numel(), 15), negative_similarity, dtype=torch.float64)], 1)
    return F.cross_entropy(logits / temperature, torch.zeros(x.numel(), dtype=torch.long),
                           reduction="none").reshape(x.shape)


def _torch_kl(x, target, logvar):
    normal = torch.distributions.Normal
    posterior = normal(x, torch.exp(torch.tensor(logvar / 2, dtype=torch.float64)))
    return torch.distributions.kl_divergence(posterior, normal(torch.zeros_like(x), torch.ones_like(x)))


# key -> (space, torch function of (x, target, **params)); "logit" compares loss_from_logit/grad_from_logit
TORCH = {
    "mse": ("prediction", lambda x, y: F.mse_loss(x, y, reduction="none")),
    "mae": ("prediction", lambda x, y: F.l1_loss(x, y, reduction="none")),
    "huber": ("prediction", lambda x, y, delta: F.huber_loss(x, y, delta=delta, reduction="none")),
    "smooth_l1": ("prediction", lambda x, y, beta: F.smooth_l1_loss(x, y, beta=beta, reduction="none")),
    "gaussian_nll": ("prediction", lambda x, y, var: F.gaussian_nll_loss(x, y, torch.full_like(x, var),
                                                                        reduction="none")),
    "poisson_nll": ("prediction", lambda x, y: F.poisson_nll_loss(x, y, log_input=True, reduction="none")),
    "bce": ("logit", lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction="none")),
    "sigmoid_mse": ("logit", lambda z, y: F.mse_loss(torch.sigmoid(z), y, reduction="none")),
    "cross_entropy": ("logit", lambda z, y: F.cross_entropy(z, y, reduction="none")),
    "kl_divergence": ("logit", lambda z, y: F.kl_div(F.log_softmax(z, -1), y, reduction="none").sum(-1)),
    "label_smoothed_cross_entropy": ("logit", lambda z, y, label_smoothing: F.cross_entropy(
        z, y, label_smoothing=label_smoothing, reduction="none")),
    "weighted_cross_entropy": ("logit", lambda z, y, class_weight: F.cross_entropy(
        z, y, weight=torch.tensor([class_weight] + [1.0] * (z.shape[-1] - 1), dtype=torch.float64),
        reduction="none")),
    "gan_discriminator": ("logit", lambda d, y: F.binary_cross_entropy_with_logits(d, y, reduction="none")),
    "gan_generator_minimax": ("logit", lambda d, y: -F.binary_cross_entropy_with_logits(
        d, torch.zeros_like(d), reduction="none")),  # log(1 - sigmoid(d))
    "gan_generator_nonsaturating": ("logit", lambda d, y: F.binary_cross_entropy_with_logits(
        d, torch.ones_like(d), reduction="none")),
    "gaussian_kl": ("prediction", _torch_kl),
    "iou_loss": ("prediction", _torch_box_loss("iou_loss")),
    "giou": ("prediction", _torch_box_loss("giou")),
    "diou": ("prediction", _torch_box_loss("diou")),
    "ciou": ("prediction", _torch_box_loss("ciou")),
    "triplet_margin": ("prediction", _torch_triplet),
    "cosine_embedding": ("prediction", _torch_cosine),
    "info_nce": ("prediction", _torch_info_nce),
    "margin_ranking": ("prediction", lambda x, y, margin: F.margin_ranking_loss(
        x, torch.zeros_like(x), 2 * y - 1, margin=margin, reduction="none")),
    "bpr": ("prediction", lambda x, y: F.soft_margin_loss(x, torch.ones_like(x), reduction="none")),
    "listnet": ("prediction", lambda s, r: F.cross_entropy(s, F.softmax(r, -1), reduction="none")),
}


# The size of the terms PyTorch's formula subtracts: 1 - cos(theta) from the normalised vectors'
# dot product (about 1), and cross-entropy's logsumexp minus the positive's logit (about |s| / tau).
TORCH_CANCELS = {
    "cosine_embedding": lambda x, params: 1.0 + abs(params["cosine_margin"]),
    "info_nce": lambda x, params: (np.abs(x) + abs(params["negative_similarity"])) / params["temperature"] + 3.0,
}


def _mp_story(key, x, target, params):
    """The exact story value at x (an mpf), in mpmath."""
    if key == "cosine_embedding":
        cosine = mpmath.cos(x)
        return 1 - cosine if target == 1 else max(mpmath.mpf(0), cosine - mpmath.mpf(params["cosine_margin"]))
    tau, negative = mpmath.mpf(params["temperature"]), mpmath.mpf(params["negative_similarity"])
    return mpmath.log1p(15 * mpmath.exp((negative - x) / tau))


@pytest.mark.parametrize(("spec", "params"), _cases(list(TORCH_CANCELS)))
def test_where_pytorch_cancels_the_registry_curve_and_gradient_match_mpmath(spec, params):
    x, target, _ = prediction_inputs(spec, params, _rng(spec, params))
    value, gradient = spec.loss(x, target, **params), spec.grad(x, target, **params)
    with mpmath.workdps(40):
        for index in np.ndindex(x.shape):
            at = mpmath.mpf(float(x[index]))
            exact = _mp_story(spec.key, at, target[index], params)
            slope = mpmath.diff(lambda v, t=target[index]: _mp_story(spec.key, v, t, params), at)
            if exact == 0:
                assert value[index] == 0 and gradient[index] == 0
                continue
            if exact < 1e-30:  # info_nce at tau = 0.01, s+ ~ 1: 15 e^-98 to 1.5e-10 relative (metric.py)
                assert abs(value[index] / exact - 1) < 1e-9 and abs(gradient[index] / slope - 1) < 1e-9
                continue
            assert abs(value[index] / exact - 1) < TORCH_RTOL, (spec.key, x[index], value[index], exact)
            assert abs(gradient[index] / slope - 1) < TORCH_RTOL, (spec.key, x[index], gradient[index], slope)


def test_torch_references_name_registry_losses():
    assert set(TORCH) <= set(registry.BY_KEY)
    assert len(TORCH) >= 25


@pytest.mark.parametrize(("spec", "params"), _cases(list(TORCH)))
def test_registry_curve_and_gradient_agree_with_pytorch(spec, params):
    space, reference = TORCH[spec.key]
    rng = _rng(spec, params)
    if space == "logit":
        x, target = logit_inputs(spec, params, rng)
        loss, grad = spec.loss_from_logit, spec.grad_from_logit
    else:
        x, target, _ = prediction_inputs(spec, params, rng)
        loss, grad = spec.loss, spec.grad
    tensor = _t(x).requires_grad_(True)
    expected = reference(tensor, _t(target), **params)
    expected.sum().backward()
    value, gradient = loss(x, target, **params), grad(x, target, **params)
    torch_value, torch_grad = expected.detach().numpy(), tensor.grad.numpy()
    if spec.key in TORCH_CANCELS:
        # PyTorch's own formula cancels here (mpmath below shows the core's value is the accurate one):
        # agreement is measured in units of the terms that cancel.
        scale = TORCH_CANCELS[spec.key](x, params)
        assert np.max(np.abs(value - torch_value) / scale) < TORCH_RTOL, spec.key
        assert np.max(np.abs(gradient - torch_grad) / scale) < TORCH_RTOL, spec.key
        return
    assert relative_error(value, torch_value) < TORCH_RTOL, spec.key
    if spec.task in ("multiclass",) or spec.key == "listnet":
        # p - y per row: components cancel, so the error is relative to the row's largest
        for row, want in zip(gradient, torch_grad, strict=True):
            assert scaled_error(row, want) < TORCH_RTOL, spec.key
    else:
        assert relative_error(gradient, torch_grad) < TORCH_RTOL, spec.key


@pytest.mark.parametrize("key", ["bce", "gan_discriminator", "gan_generator_minimax", "gan_generator_nonsaturating"])
def test_probability_space_of_the_gan_and_bce_stories_agrees_with_pytorchs_bce(key):
    spec = registry.get(key)
    rng = np.random.default_rng(23)
    prob = rng.uniform(0.05, 0.95, 40)
    target = rng.integers(0, 2, 40).astype(np.float64)
    tensor = _t(prob).requires_grad_(True)
    if key == "bce":
        expected = F.binary_cross_entropy(tensor, _t(target), reduction="none")
    elif key == "gan_discriminator":
        expected = F.binary_cross_entropy(tensor, _t(target), reduction="none")
    elif key == "gan_generator_minimax":
        expected = -F.binary_cross_entropy(tensor, torch.zeros_like(tensor), reduction="none")
    else:
        expected = F.binary_cross_entropy(tensor, torch.ones_like(tensor), reduction="none")
    expected.sum().backward()
    assert relative_error(spec.loss(prob, target), expected.detach().numpy()) < TORCH_RTOL
    assert relative_error(spec.grad(prob, target), tensor.grad.numpy()) < 1e-11


# ------------------------------------------------------------ InfoNCE: one core call per grid


def _info_nce_point_by_point(similarity, temperature, negative_similarity, want_grad):
    """The registry's former path, kept as the reference: one core call per point (query 1, keys (s, s-, ...))."""
    similarity = np.asarray(similarity)
    dtype = similarity.dtype if similarity.dtype.kind == "f" else np.float64
    out = np.empty(similarity.shape, dtype)
    query = np.ones((1, 1), dtype)
    for index in np.ndindex(similarity.shape):
        keys = np.full((16, 1), negative_similarity, dtype)
        keys[0, 0] = similarity[index]
        if want_grad:
            out[index] = losslab.info_nce_grad(query, keys, temperature=temperature, normalize=False)[1][0, 0]
        else:
            out[index] = losslab.info_nce(query, keys, temperature=temperature, normalize=False)
    return out


def _ulps_apart(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
    return np.abs(a - b) / np.spacing(np.maximum(np.abs(a), np.abs(b)).astype(a.dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("temperature", [0.01, 0.05, 0.1, 0.5, 2.0])
@pytest.mark.parametrize("negative_similarity", [-1.0, 0.0, 0.6, 1.0])
def test_info_nce_story_scores_a_whole_grid_in_one_call_as_the_point_by_point_path_did(dtype, temperature,
                                                                                       negative_similarity):
    spec = registry.get("info_nce")
    grid = np.linspace(-1, 1, 301).astype(dtype)
    params = {"temperature": temperature, "negative_similarity": negative_similarity}
    for function, want_grad in ((spec.loss, False), (spec.grad, True)):
        got = function(grid, None, **params)
        expected = _info_nce_point_by_point(grid, temperature, negative_similarity, want_grad)
        assert _ulps_apart(got, expected).max() <= 1, (function.__name__, _ulps_apart(got, expected).max())
    # shapes: a 0-d point stays 0-d, a 2-D grid keeps its shape
    point = spec.loss(dtype(0.3), None, **params)
    assert np.ndim(point) == 0 and point == _info_nce_point_by_point(dtype(0.3), temperature, negative_similarity,
                                                                    False)[()]
    square = grid[:300].reshape(20, 15)
    assert_array_equal(spec.grad(square, None, **params), spec.grad(grid[:300], None, **params).reshape(20, 15))
    assert spec.loss(np.zeros(0, dtype), None, **params).shape == (0,)


def test_info_nce_story_grid_agrees_with_torch():
    spec = registry.get("info_nce")
    for temperature, negative_similarity in ((0.1, 0.0), (0.02, 0.5), (1.5, -0.7)):
        x = torch.linspace(-1, 1, 301, dtype=torch.float64, requires_grad=True)
        expected = _torch_info_nce(x, None, temperature, negative_similarity)
        expected.sum().backward()
        params = {"temperature": temperature, "negative_similarity": negative_similarity}
        grid = x.detach().numpy()
        # PyTorch's log-softmax (logsumexp minus the logit) has an absolute error of about |logit| ulp
        assert_allclose(spec.loss(grid, None, **params), expected.detach().numpy(), rtol=1e-12, atol=1e-14)
        # and its softmax - 1 at the positive an absolute error of about 1 ulp of 1/temperature
        assert_allclose(spec.grad(grid, None, **params), x.grad.numpy(), rtol=1e-12, atol=1e-14 / temperature)


def test_info_nce_story_makes_one_core_call_per_grid(monkeypatch):
    """The point-by-point path made 301 core calls for a 301-point curve (~50 ms, too slow for a live slider)."""
    from losslab import metric

    calls = []
    for name in ("_info_nce", "_info_nce_own_keys"):
        original = getattr(metric, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(metric, name, counted)
    spec = registry.get("info_nce")
    grid = np.linspace(-1, 1, 301)
    spec.loss(grid, None, **spec.defaults())
    spec.grad(grid, None, **spec.defaults())
    assert len(calls) == 2, f"{len(calls)} core calls for two 301-point curves"
