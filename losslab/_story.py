r"""The one-variable stories the registry draws for losses of embeddings, boxes, maps and scores.

The registry's functions all take ``(prediction, target, **params)`` elementwise
(or per row), while most of these families' losses take pairs of embeddings,
boxes, probability maps or real and fake scores. Each adapter here calls the
public core function and only reshapes its arguments, so every plotted value is
the core's; its first argument is the one variable that tells the family's
story:

- generative:   the discriminator's logit d, D(G(z)) = sigmoid(d) (GAN losses); the
                critic's raw score f (WGAN, hinge GAN); the encoder mean mu (VAE KL);
                target 1 is a real sample, 0 a generated one.
- segmentation: a row of per-pixel probabilities (one region per row, like a
                multiclass row); the overlap moves as one pixel's probability sweeps.
- detection:    the horizontal offset of a predicted box of area 1 against the unit
                square (0, 0, 1, 1); gradient d loss / d offset.
- metric:       the distance d between two embeddings (contrastive), the
                anchor-negative distance (triplet), the angle between two embeddings
                (cosine embedding), the positive's similarity (InfoNCE, 15 negatives).
- ranking:      the score margin x1 - x2 (margin ranking, BPR).

Labels are the lab's 0/1; margin losses read them as -1/+1.
"""

from __future__ import annotations

import math

import numpy as np

from losslab import (
    detection,
    extra_classification,
    extra_regression,
    generative,
    metric,
    multiclass,
    ranking,
    segmentation,
    sequence,
)
from losslab._validation import Interval, check_in_set
from losslab.links import grad_on_probability, on_probability

_NON_NEGATIVE = Interval(0.0, None)
INFO_NCE_NEGATIVES = 15  # a batch of 16: one positive and 15 negatives per query


def _signs(target):
    """The lab's 0/1 labels as the -1/+1 of margin losses (as _hinge_from_binary_label)."""
    return 2 * np.asarray(target) - 1


# regression and counts
def gaussian_nll(pred, target, *, var=1.0):
    return extra_regression.gaussian_nll(pred, target, var, reduction="none")


def gaussian_nll_grad(pred, target, *, var=1.0):
    return extra_regression.gaussian_nll_grad(pred, target, var)[0]


# binary margin losses (score read as the logit, labels 0/1 -> -1/+1)
def squared_hinge(score, target, **params):
    return extra_classification.squared_hinge(score, _signs(target), reduction="none")


def squared_hinge_grad(score, target, **params):
    return extra_classification.squared_hinge_grad(score, _signs(target))


def exponential(score, target, **params):
    return extra_classification.exponential(score, _signs(target), reduction="none")


def exponential_grad(score, target, **params):
    return extra_classification.exponential_grad(score, _signs(target))


# multiclass: label smoothing in probability space is the cross-entropy to the smoothed target
def _smoothed_target(target, classes, label_smoothing):
    return np.asarray(target) * (1 - label_smoothing) + label_smoothing / classes


def label_smoothed_ce_of_probs(prob, target, *, label_smoothing=0.1):
    q = _smoothed_target(target, np.shape(prob)[-1], label_smoothing)
    return multiclass.cross_entropy_from_probs(prob, q.astype(np.asarray(prob).dtype, copy=False), reduction="none")


def label_smoothed_ce_of_probs_grad(prob, target, *, label_smoothing=0.1):
    q = _smoothed_target(target, np.shape(prob)[-1], label_smoothing)
    return multiclass.cross_entropy_from_probs_grad(prob, q.astype(np.asarray(prob).dtype, copy=False))


# generative: the discriminator's logit d; target 1 = a real sample, 0 = a generated one
def _is_real(target):
    """The 0/1 labels as a mask of real samples; any other label is an error, not a generated sample."""
    target = np.asarray(target)
    check_in_set(target, "target (1 = real, 0 = generated)", (0.0, 1.0))
    return target == 1


def gan_discriminator(logits, target, **params):
    real = generative.gan_discriminator(logits, -np.inf, reduction="none")  # fake term: softplus(-inf) = 0
    fake = generative.gan_discriminator(np.inf, logits, reduction="none")  # real term: softplus(-inf) = 0
    return np.where(_is_real(target), real, fake)


def gan_discriminator_grad(logits, target, **params):
    real = generative.gan_discriminator_grad(logits, -np.inf)[0]
    fake = generative.gan_discriminator_grad(np.inf, logits)[1]
    return np.where(_is_real(target), real, fake)


def gan_generator_minimax(logits, target=None, **params):
    return generative.gan_generator_minimax(logits, reduction="none")


def gan_generator_minimax_grad(logits, target=None, **params):
    return generative.gan_generator_minimax_grad(logits)


def gan_generator_nonsaturating(logits, target=None, **params):
    return generative.gan_generator_nonsaturating(logits, reduction="none")


def gan_generator_nonsaturating_grad(logits, target=None, **params):
    return generative.gan_generator_nonsaturating_grad(logits)


def wgan_critic(score, target, **params):
    real = generative.wgan_critic(score, 0.0, reduction="none")  # -f
    fake = generative.wgan_critic(0.0, score, reduction="none")  # +f
    return np.where(_is_real(target), real, fake)


def wgan_critic_grad(score, target, **params):
    real = generative.wgan_critic_grad(score, 0.0)[0]
    fake = generative.wgan_critic_grad(0.0, score)[1]
    return np.where(_is_real(target), real, fake)


def wgan_generator(score, target=None, **params):
    return generative.wgan_generator(score, reduction="none")


def wgan_generator_grad(score, target=None, **params):
    return generative.wgan_generator_grad(score)


def hinge_gan_discriminator(score, target, **params):
    real = generative.hinge_gan_discriminator(score, -1.0, reduction="none")  # max(0, 1 + (-1)) = 0
    fake = generative.hinge_gan_discriminator(1.0, score, reduction="none")  # max(0, 1 - 1) = 0
    return np.where(_is_real(target), real, fake)


def hinge_gan_discriminator_grad(score, target, **params):
    real = generative.hinge_gan_discriminator_grad(score, -1.0)[0]
    fake = generative.hinge_gan_discriminator_grad(1.0, score)[1]
    return np.where(_is_real(target), real, fake)


def gaussian_kl(mu, target=None, *, logvar=0.0):
    return generative.gaussian_kl(np.asarray(mu)[..., None], logvar, reduction="none")  # a 1-D latent


def gaussian_kl_grad(mu, target=None, *, logvar=0.0):
    return generative.gaussian_kl_grad(np.asarray(mu)[..., None], logvar)[0][..., 0]


# segmentation: one region per row (axis=-1); the logit forms go through the sigmoid
def _core_names(params):
    """Combo's α is ``bce_weight`` in the lab: Tversky's α shares the segmentation page."""
    return {("alpha" if name == "bce_weight" else name): value for name, value in params.items()}


def _segmentation_story(name):
    loss_function = getattr(segmentation, name)
    grad_function = getattr(segmentation, f"{name}_grad")
    # the logit forms count 1 - p as sigmoid(-z): through sigmoid(z) a saturated row loses its errors
    logit_loss_function = getattr(segmentation, f"{name}_with_logits")
    logit_grad_function = getattr(segmentation, f"{name}_with_logits_grad")

    def loss(prob, target, **params):
        return loss_function(prob, target, axis=-1, reduction="none", **_core_names(params))

    def grad(prob, target, **params):
        return grad_function(prob, target, axis=-1, **_core_names(params))

    def loss_from_logit(logits, target, **params):
        return logit_loss_function(logits, target, axis=-1, reduction="none", **_core_names(params))

    def grad_from_logit(logits, target, **params):
        return logit_grad_function(logits, target, axis=-1, **_core_names(params))

    for function, suffix in ((loss, ""), (grad, "_grad"), (loss_from_logit, "_from_logit"),
                             (grad_from_logit, "_grad_from_logit")):
        function.__name__ = f"{name}{suffix}"
    return loss, grad, loss_from_logit, grad_from_logit


# detection: a box of area 1 and aspect w/h, offset horizontally from the unit square (0, 0, 1, 1)
def _offset_boxes(offset, aspect):
    offset = np.asarray(offset)
    dtype = offset.dtype if offset.dtype.kind == "f" else np.float64
    width, height = math.sqrt(aspect), 1 / math.sqrt(aspect)
    x_centre = 0.5 + offset.astype(dtype)
    boxes = np.stack([x_centre - width / 2, np.full_like(x_centre, 0.5 - height / 2),
                      x_centre + width / 2, np.full_like(x_centre, 0.5 + height / 2)], axis=-1)
    return boxes, np.array([0.0, 0.0, 1.0, 1.0], dtype=dtype)


def _detection_story(name):
    loss_function = getattr(detection, name)
    grad_function = getattr(detection, f"{name}_grad")

    def loss(offset, target=None, *, aspect=1.0):
        return loss_function(*_offset_boxes(offset, aspect), reduction="none")

    def grad(offset, target=None, *, aspect=1.0):
        box_grad = grad_function(*_offset_boxes(offset, aspect))
        return box_grad[..., 0] + box_grad[..., 2]  # moving the box moves x1 and x2 together

    loss.__name__, grad.__name__ = f"{name}", f"{name}_grad"
    return loss, grad


# metric
def contrastive(distance, target, *, margin=1.0):
    d = np.asarray(distance)[..., None]
    return metric.contrastive(d, np.zeros_like(d), target, margin=margin, reduction="none")


def contrastive_grad(distance, target, *, margin=1.0):
    d = np.asarray(distance)[..., None]
    return metric.contrastive_grad(d, np.zeros_like(d), target, margin=margin)[0][..., 0]


def _triplet_points(negative_distance, positive_distance):
    positive_distance = _NON_NEGATIVE.validate(positive_distance, "positive_distance")  # a length, not a coordinate
    n = np.asarray(negative_distance)[..., None]
    return np.zeros_like(n), np.full_like(n, positive_distance), n


def triplet_margin(negative_distance, target=None, *, margin=1.0, positive_distance=1.0):
    # eps = 0: the plain distances (PyTorch's default eps = 1e-6 shifts them by about 1e-6)
    return metric.triplet_margin(*_triplet_points(negative_distance, positive_distance), margin=margin, eps=0.0,
                                 reduction="none")


def triplet_margin_grad(negative_distance, target=None, *, margin=1.0, positive_distance=1.0):
    return metric.triplet_margin_grad(*_triplet_points(negative_distance, positive_distance), margin=margin,
                                      eps=0.0)[2][..., 0]


def _angle_pair(angle):
    angle = np.asarray(angle)
    dtype = angle.dtype if angle.dtype.kind == "f" else np.float64
    angle = angle.astype(dtype)
    first = np.stack([np.ones_like(angle), np.zeros_like(angle)], axis=-1)
    second = np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    return first, second, angle


def cosine_embedding(angle, target, *, cosine_margin=0.0):
    first, second, _ = _angle_pair(angle)
    return metric.cosine_embedding(first, second, _signs(target), margin=cosine_margin, reduction="none")


def cosine_embedding_grad(angle, target, *, cosine_margin=0.0):
    first, second, angle = _angle_pair(angle)
    d_second = metric.cosine_embedding_grad(first, second, _signs(target), margin=cosine_margin)[1]
    return d_second[..., 0] * -np.sin(angle) + d_second[..., 1] * np.cos(angle)  # chain rule through the angle


def _info_nce_grid(similarity, temperature, negative_similarity, want_grad):
    """One ``info_nce_own_keys`` call for the whole grid: query 1 against its own keys (s, s-, ..., s-)."""
    similarity = np.asarray(similarity)
    dtype = similarity.dtype if similarity.dtype.kind == "f" else np.dtype(np.float64)
    flat = similarity.astype(dtype).reshape(-1)
    if not flat.size:
        return np.empty(similarity.shape, dtype)
    # each value is its own query's positive: the other values are not its negatives
    keys = np.full((flat.size, 1 + INFO_NCE_NEGATIVES, 1), negative_similarity, dtype)
    keys[:, 0, 0] = flat
    query = np.ones((flat.size, 1), dtype)
    if want_grad:
        values = metric.info_nce_own_keys_grad(query, keys, temperature=temperature, normalize=False)[1][:, 0, 0]
    else:
        values = metric.info_nce_own_keys(query, keys, temperature=temperature, normalize=False, reduction="none")
    return _shaped(values, similarity.shape)


def info_nce(similarity, target=None, *, temperature=0.1, negative_similarity=0.0):
    return _info_nce_grid(similarity, temperature, negative_similarity, want_grad=False)


def info_nce_grad(similarity, target=None, *, temperature=0.1, negative_similarity=0.0):
    return _info_nce_grid(similarity, temperature, negative_similarity, want_grad=True)


# ranking: the score margin x1 - x2 (target 1: item 1 should rank first; 0: item 2)
def margin_ranking(margin_score, target, *, margin=1.0):
    return ranking.margin_ranking(margin_score, 0.0, _signs(target), margin=margin, reduction="none")


def margin_ranking_grad(margin_score, target, *, margin=1.0):
    return ranking.margin_ranking_grad(margin_score, 0.0, _signs(target), margin=margin)[0]


def bpr(margin_score, target=None, **params):
    return ranking.bpr(margin_score, 0.0, reduction="none")


def bpr_grad(margin_score, target=None, **params):
    return ranking.bpr_grad(margin_score, 0.0)[0]


DICE = _segmentation_story("soft_dice")
IOU = _segmentation_story("soft_iou")
TVERSKY = _segmentation_story("tversky")
FOCAL_TVERSKY = _segmentation_story("focal_tversky")
COMBO = _segmentation_story("combo")
BOX_IOU = _detection_story("iou_loss")
GIOU = _detection_story("giou")
DIOU = _detection_story("diou")
CIOU = _detection_story("ciou")
GAN_DISCRIMINATOR_PROB = on_probability(gan_discriminator)
GAN_MINIMAX_PROB = on_probability(gan_generator_minimax)
GAN_NONSATURATING_PROB = on_probability(gan_generator_nonsaturating)
SQUARED_HINGE_PROB = on_probability(squared_hinge)
EXPONENTIAL_PROB = on_probability(exponential)
# -t e^(-tz) / (p (1 - p)): near p = 0 or 1 its true size passes float max (inf, without a warning: links)
exponential_grad_of_probability = grad_on_probability(exponential_grad)


# multiclass: class weights (1, ..., 1) with class 0 weighted by class_weight (the rare class)
def _class_weights(classes: int, class_weight: float, dtype) -> np.ndarray:
    # the probability-space forms skip the core's weight check: validate here, as the core would
    class_weight = _NON_NEGATIVE.validate(class_weight, "class_weight")
    weights = np.ones(classes, dtype)
    weights[0] = class_weight
    return weights


def weighted_cross_entropy(logits, target, *, class_weight=5.0):
    logits = np.asarray(logits)
    weights = _class_weights(logits.shape[-1], class_weight, logits.dtype if logits.dtype.kind == "f" else None)
    return extra_classification.weighted_cross_entropy(logits, target, weight=weights, reduction="none")


def weighted_cross_entropy_grad(logits, target, *, class_weight=5.0):
    logits = np.asarray(logits)
    weights = _class_weights(logits.shape[-1], class_weight, logits.dtype if logits.dtype.kind == "f" else None)
    return extra_classification.weighted_cross_entropy_grad(logits, target, weight=weights)


def weighted_cross_entropy_of_probs(prob, target, *, class_weight=5.0):
    prob, target, axis = multiclass._distributions(prob, target, -1, "prob")
    weights = _class_weights(prob.shape[-1], class_weight, prob.dtype)
    return multiclass._cross_entropy_from_probs_loss(prob, weights * target, axis)


def weighted_cross_entropy_of_probs_grad(prob, target, *, class_weight=5.0):
    prob, target, _ = multiclass._distributions(prob, target, -1, "prob")
    weights = _class_weights(prob.shape[-1], class_weight, prob.dtype)
    return multiclass._minus_target_over_prob(prob, weights * target)


# sequences: the CTC loss of a 4-frame example (classes blank, a, b; target "ab") as one logit moves
CTC_EXAMPLE_LOGITS = ((0.5, 2.0, -1.0), (1.0, 1.0, 0.0), (0.0, -0.5, 2.0), (1.5, -1.0, 1.0))  # frames x classes
CTC_EXAMPLE_TARGET = (1, 2)  # "ab"
CTC_MOVING = (1, 1)  # the logit that moves: frame 1, class a


def _ctc_example_batch(logit):
    values = np.asarray(logit)
    dtype = values.dtype if values.dtype.kind == "f" else np.dtype(np.float64)
    flat = values.astype(dtype).reshape(-1)
    batch = np.repeat(np.array(CTC_EXAMPLE_LOGITS, dtype=dtype)[:, None, :], flat.size, axis=1)
    batch[CTC_MOVING[0], :, CTC_MOVING[1]] = flat
    lengths = (np.full(flat.size, len(CTC_EXAMPLE_LOGITS)), np.full(flat.size, len(CTC_EXAMPLE_TARGET)))
    return batch, np.tile(CTC_EXAMPLE_TARGET, (flat.size, 1)), lengths, values.shape


def _shaped(values, shape):
    values = values.reshape(shape)
    return values[()] if values.ndim == 0 else values


def ctc_example(logit, target=None, **params):
    batch, targets, lengths, shape = _ctc_example_batch(logit)
    return _shaped(sequence.ctc_with_logits(batch, targets, *lengths, reduction="none"), shape)


def ctc_example_grad(logit, target=None, **params):
    batch, targets, lengths, shape = _ctc_example_batch(logit)
    grad = sequence.ctc_with_logits_grad(batch, targets, *lengths)
    return _shaped(grad[CTC_MOVING[0], :, CTC_MOVING[1]], shape)
