r"""losslab: loss functions and their gradients, exact and numerically safe.

Conventions, followed by every function in the package:

- **Argument order**: prediction first, target second (as in PyTorch):
  ``mse(pred, target)``, ``bce(prob, target)``, ``cross_entropy(logits, target)``.
- **Reduction**: every loss takes ``reduction="mean" | "sum" | "none"``
  (default ``"mean"``). Losses with a class axis (``axis=-1`` by default)
  first sum over that axis to one value per sample; the reduction then runs
  over the samples. ``"none"`` returns the per-element (or per-sample) losses.
  ``"mean"`` of no samples raises ``ValueError`` (PyTorch returns nan);
  ``"sum"`` of none is 0.
- **Gradients**: every ``*_grad`` returns the elementwise derivative of the
  *unreduced* loss with respect to its first argument, shaped like that
  argument. Divide by the sample count for the gradient of the mean.
- **Loss and gradient together**: every loss ``<loss>`` has
  ``<loss>_and_grad(pred, target, ..., reduction=...)``, returning
  ``(<loss>(...), <loss>_grad(...))`` from one validation and one shared
  intermediate (residual, sigmoid, softmax); the results equal the separate
  calls to within an ulp.
  Gradients with respect to the pre-activation logit :math:`z` are the
  ``*_with_logits_grad`` functions (or ``links.sigmoid_chain`` /
  ``links.softmax_chain`` for any probability-space gradient).
- **Several predicted inputs**: a loss that compares several predicted arrays
  (embeddings, real and fake scores, a predicted variance, a VAE's mu and logvar)
  returns from ``*_grad`` a tuple with one gradient per predicted argument, in
  argument order, each shaped like its argument; targets and labels are never
  differentiated. Losses over a region or a list (segmentation maps, InfoNCE,
  ListNet) give the gradient of the sum of their unreduced losses.
- **Dtypes**: float32 in gives float32 out; ints, bools, lists and Python
  scalars are accepted and computed in float64.
- **Safety**: no stable function emits a RuntimeWarning for any finite input;
  bad input raises ``ValueError`` naming the value and what was expected.
- **Accuracy**: every loss, gradient and activation is within a few ulp of
  the exact value for every finite input, tails included (``docs/ACCURACY.md``
  says how that is measured and where soft targets make a result
  ill-conditioned).

Every loss is also listed in :mod:`losslab.registry`, with its task, link,
parameters and LaTeX, which the dashboard is generated from.

>>> import losslab
>>> losslab.softmax([1000, 999, 998])
array([0.66524096, 0.24472847, 0.09003057])
"""

from losslab.activations import (
    log_sigmoid,
    log_softmax,
    logit,
    logsumexp,
    sigmoid,
    softmax,
    softmax_naive,
    softplus,
)
from losslab.binary import (
    bce,
    bce_and_grad,
    bce_grad,
    bce_with_logits,
    bce_with_logits_and_grad,
    bce_with_logits_grad,
    focal,
    focal_and_grad,
    focal_grad,
    hinge,
    hinge_and_grad,
    hinge_grad,
    sigmoid_mse,
    sigmoid_mse_and_grad,
    sigmoid_mse_grad,
)
from losslab.detection import (
    ciou,
    ciou_and_grad,
    ciou_grad,
    diou,
    diou_and_grad,
    diou_grad,
    giou,
    giou_and_grad,
    giou_grad,
    iou_loss,
    iou_loss_and_grad,
    iou_loss_grad,
)
from losslab.extra_classification import (
    exponential,
    exponential_and_grad,
    exponential_grad,
    label_smoothed_cross_entropy,
    label_smoothed_cross_entropy_and_grad,
    label_smoothed_cross_entropy_grad,
    squared_hinge,
    squared_hinge_and_grad,
    squared_hinge_grad,
    weighted_cross_entropy,
    weighted_cross_entropy_and_grad,
    weighted_cross_entropy_grad,
)
from losslab.extra_regression import (
    gaussian_nll,
    gaussian_nll_and_grad,
    gaussian_nll_grad,
    msle,
    msle_and_grad,
    msle_grad,
    poisson_nll,
    poisson_nll_and_grad,
    poisson_nll_grad,
    smooth_l1,
    smooth_l1_and_grad,
    smooth_l1_grad,
)
from losslab.generative import (
    gan_discriminator,
    gan_discriminator_and_grad,
    gan_discriminator_grad,
    gan_generator_minimax,
    gan_generator_minimax_and_grad,
    gan_generator_minimax_grad,
    gan_generator_nonsaturating,
    gan_generator_nonsaturating_and_grad,
    gan_generator_nonsaturating_grad,
    gaussian_kl,
    gaussian_kl_and_grad,
    gaussian_kl_grad,
    hinge_gan_discriminator,
    hinge_gan_discriminator_and_grad,
    hinge_gan_discriminator_grad,
    hinge_gan_generator,
    hinge_gan_generator_and_grad,
    hinge_gan_generator_grad,
    vae_elbo,
    vae_elbo_and_grad,
    vae_elbo_grad,
    wgan_critic,
    wgan_critic_and_grad,
    wgan_critic_grad,
    wgan_generator,
    wgan_generator_and_grad,
    wgan_generator_grad,
)
from losslab.links import sigmoid_chain, softmax_chain
from losslab.metric import (
    contrastive,
    contrastive_and_grad,
    contrastive_grad,
    cosine_embedding,
    cosine_embedding_and_grad,
    cosine_embedding_grad,
    info_nce,
    info_nce_and_grad,
    info_nce_grad,
    info_nce_own_keys,
    info_nce_own_keys_and_grad,
    info_nce_own_keys_grad,
    triplet_margin,
    triplet_margin_and_grad,
    triplet_margin_grad,
)
from losslab.multiclass import (
    brier,
    brier_and_grad,
    brier_grad,
    brier_with_logits,
    brier_with_logits_and_grad,
    brier_with_logits_grad,
    cross_entropy,
    cross_entropy_and_grad,
    cross_entropy_from_probs,
    cross_entropy_from_probs_and_grad,
    cross_entropy_from_probs_grad,
    cross_entropy_grad,
    kl_divergence,
    kl_divergence_and_grad,
    kl_divergence_grad,
    kl_divergence_with_logits,
    kl_divergence_with_logits_and_grad,
    kl_divergence_with_logits_grad,
)
from losslab.ranking import (
    bpr,
    bpr_and_grad,
    bpr_grad,
    listnet,
    listnet_and_grad,
    listnet_grad,
    margin_ranking,
    margin_ranking_and_grad,
    margin_ranking_grad,
)
from losslab.regression import (
    huber,
    huber_and_grad,
    huber_grad,
    log_cosh,
    log_cosh_and_grad,
    log_cosh_grad,
    mae,
    mae_and_grad,
    mae_grad,
    mse,
    mse_and_grad,
    mse_grad,
    quantile,
    quantile_and_grad,
    quantile_grad,
)
from losslab.robust import (
    barron,
    barron_and_grad,
    barron_grad,
    cauchy,
    cauchy_and_grad,
    cauchy_grad,
    geman_mcclure,
    geman_mcclure_and_grad,
    geman_mcclure_grad,
    pseudo_huber,
    pseudo_huber_and_grad,
    pseudo_huber_grad,
    tukey,
    tukey_and_grad,
    tukey_grad,
)
from losslab.segmentation import (
    combo,
    combo_and_grad,
    combo_grad,
    combo_with_logits,
    combo_with_logits_and_grad,
    combo_with_logits_grad,
    focal_tversky,
    focal_tversky_and_grad,
    focal_tversky_grad,
    focal_tversky_with_logits,
    focal_tversky_with_logits_and_grad,
    focal_tversky_with_logits_grad,
    soft_dice,
    soft_dice_and_grad,
    soft_dice_grad,
    soft_dice_with_logits,
    soft_dice_with_logits_and_grad,
    soft_dice_with_logits_grad,
    soft_iou,
    soft_iou_and_grad,
    soft_iou_grad,
    soft_iou_with_logits,
    soft_iou_with_logits_and_grad,
    soft_iou_with_logits_grad,
    tversky,
    tversky_and_grad,
    tversky_grad,
    tversky_with_logits,
    tversky_with_logits_and_grad,
    tversky_with_logits_grad,
)
from losslab.sequence import (
    ctc,
    ctc_and_grad,
    ctc_grad,
    ctc_with_logits,
    ctc_with_logits_and_grad,
    ctc_with_logits_grad,
    next_token_cross_entropy,
    next_token_cross_entropy_and_grad,
    next_token_cross_entropy_grad,
)

__version__ = "0.1.0"

__all__ = [
    "barron", "barron_and_grad", "barron_grad", "bce", "bce_and_grad", "bce_grad",
    "bce_with_logits", "bce_with_logits_and_grad", "bce_with_logits_grad", "bpr", "bpr_and_grad",
    "bpr_grad", "brier", "brier_and_grad", "brier_grad", "brier_with_logits",
    "brier_with_logits_and_grad", "brier_with_logits_grad", "cauchy", "cauchy_and_grad",
    "cauchy_grad", "ciou", "ciou_and_grad", "ciou_grad", "combo", "combo_and_grad", "combo_grad",
    "combo_with_logits", "combo_with_logits_and_grad", "combo_with_logits_grad", "contrastive",
    "contrastive_and_grad", "contrastive_grad", "cosine_embedding", "cosine_embedding_and_grad",
    "cosine_embedding_grad", "cross_entropy", "cross_entropy_and_grad", "cross_entropy_from_probs",
    "cross_entropy_from_probs_and_grad", "cross_entropy_from_probs_grad", "cross_entropy_grad",
    "ctc", "ctc_and_grad", "ctc_grad", "ctc_with_logits", "ctc_with_logits_and_grad",
    "ctc_with_logits_grad", "diou", "diou_and_grad", "diou_grad", "exponential",
    "exponential_and_grad", "exponential_grad", "focal", "focal_and_grad", "focal_grad",
    "focal_tversky", "focal_tversky_and_grad", "focal_tversky_grad", "focal_tversky_with_logits",
    "focal_tversky_with_logits_and_grad", "focal_tversky_with_logits_grad", "gan_discriminator",
    "gan_discriminator_and_grad", "gan_discriminator_grad", "gan_generator_minimax",
    "gan_generator_minimax_and_grad", "gan_generator_minimax_grad", "gan_generator_nonsaturating",
    "gan_generator_nonsaturating_and_grad", "gan_generator_nonsaturating_grad", "gaussian_kl",
    "gaussian_kl_and_grad", "gaussian_kl_grad", "gaussian_nll", "gaussian_nll_and_grad",
    "gaussian_nll_grad", "geman_mcclure", "geman_mcclure_and_grad", "geman_mcclure_grad", "giou",
    "giou_and_grad", "giou_grad", "hinge", "hinge_and_grad", "hinge_gan_discriminator",
    "hinge_gan_discriminator_and_grad", "hinge_gan_discriminator_grad", "hinge_gan_generator",
    "hinge_gan_generator_and_grad", "hinge_gan_generator_grad", "hinge_grad", "huber",
    "huber_and_grad", "huber_grad", "info_nce", "info_nce_and_grad", "info_nce_grad",
    "info_nce_own_keys", "info_nce_own_keys_and_grad", "info_nce_own_keys_grad", "iou_loss",
    "iou_loss_and_grad", "iou_loss_grad", "kl_divergence", "kl_divergence_and_grad",
    "kl_divergence_grad", "kl_divergence_with_logits", "kl_divergence_with_logits_and_grad",
    "kl_divergence_with_logits_grad", "label_smoothed_cross_entropy",
    "label_smoothed_cross_entropy_and_grad", "label_smoothed_cross_entropy_grad", "listnet",
    "listnet_and_grad", "listnet_grad", "log_cosh", "log_cosh_and_grad", "log_cosh_grad",
    "log_sigmoid", "log_softmax", "logit", "logsumexp", "mae", "mae_and_grad", "mae_grad",
    "margin_ranking", "margin_ranking_and_grad", "margin_ranking_grad", "mse", "mse_and_grad",
    "mse_grad", "msle", "msle_and_grad", "msle_grad", "next_token_cross_entropy",
    "next_token_cross_entropy_and_grad", "next_token_cross_entropy_grad", "poisson_nll",
    "poisson_nll_and_grad", "poisson_nll_grad", "pseudo_huber", "pseudo_huber_and_grad",
    "pseudo_huber_grad", "quantile", "quantile_and_grad", "quantile_grad", "sigmoid",
    "sigmoid_chain", "sigmoid_mse", "sigmoid_mse_and_grad", "sigmoid_mse_grad", "smooth_l1",
    "smooth_l1_and_grad", "smooth_l1_grad", "soft_dice", "soft_dice_and_grad", "soft_dice_grad",
    "soft_dice_with_logits", "soft_dice_with_logits_and_grad", "soft_dice_with_logits_grad",
    "soft_iou", "soft_iou_and_grad", "soft_iou_grad", "soft_iou_with_logits",
    "soft_iou_with_logits_and_grad", "soft_iou_with_logits_grad", "softmax", "softmax_chain",
    "softmax_naive", "softplus", "squared_hinge", "squared_hinge_and_grad", "squared_hinge_grad",
    "triplet_margin", "triplet_margin_and_grad", "triplet_margin_grad", "tukey", "tukey_and_grad",
    "tukey_grad", "tversky", "tversky_and_grad", "tversky_grad", "tversky_with_logits",
    "tversky_with_logits_and_grad", "tversky_with_logits_grad", "vae_elbo", "vae_elbo_and_grad",
    "vae_elbo_grad", "weighted_cross_entropy", "weighted_cross_entropy_and_grad",
    "weighted_cross_entropy_grad", "wgan_critic", "wgan_critic_and_grad", "wgan_critic_grad",
    "wgan_generator", "wgan_generator_and_grad", "wgan_generator_grad",
]
