r"""losslab: loss functions and their gradients, exact and numerically safe.

Conventions, followed by every function in the package:

- **Argument order**: prediction first, target second (as in PyTorch):
  ``mse(pred, target)``, ``bce(prob, target)``, ``cross_entropy(logits, target)``.
- **Reduction**: every loss takes ``reduction="mean" | "sum" | "none"``
  (default ``"mean"``). Losses with a class axis (``axis=-1`` by default)
  first sum over that axis to one value per sample; the reduction then runs
  over the samples. ``"none"`` returns the per-element (or per-sample) losses.
- **Gradients**: every ``*_grad`` returns the elementwise derivative of the
  *unreduced* loss with respect to its first argument, shaped like that
  argument. Divide by the sample count for the gradient of the mean.
  Gradients with respect to the pre-activation logit :math:`z` are the
  ``*_with_logits_grad`` functions (or ``links.sigmoid_chain`` /
  ``links.softmax_chain`` for any probability-space gradient).
- **Dtypes**: float32 in gives float32 out; ints, bools, lists and Python
  scalars are accepted and computed in float64.
- **Safety**: no stable function emits a RuntimeWarning for any finite input;
  bad input raises ``ValueError`` naming the value and what was expected.

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
    bce_grad,
    bce_with_logits,
    bce_with_logits_grad,
    focal,
    focal_grad,
    hinge,
    hinge_grad,
    sigmoid_mse,
    sigmoid_mse_grad,
)
from losslab.links import sigmoid_chain, softmax_chain
from losslab.multiclass import (
    brier,
    brier_grad,
    brier_with_logits,
    brier_with_logits_grad,
    cross_entropy,
    cross_entropy_from_probs,
    cross_entropy_from_probs_grad,
    cross_entropy_grad,
    kl_divergence,
    kl_divergence_grad,
    kl_divergence_with_logits,
    kl_divergence_with_logits_grad,
)
from losslab.regression import (
    huber,
    huber_grad,
    log_cosh,
    log_cosh_grad,
    mae,
    mae_grad,
    mse,
    mse_grad,
    quantile,
    quantile_grad,
)

__version__ = "0.1.0"

__all__ = [
    "bce", "bce_grad", "bce_with_logits", "bce_with_logits_grad", "brier", "brier_grad",
    "brier_with_logits", "brier_with_logits_grad", "cross_entropy", "cross_entropy_from_probs",
    "cross_entropy_from_probs_grad", "cross_entropy_grad", "focal", "focal_grad", "hinge",
    "hinge_grad", "huber", "huber_grad", "kl_divergence", "kl_divergence_grad",
    "kl_divergence_with_logits", "kl_divergence_with_logits_grad", "log_cosh", "log_cosh_grad",
    "log_sigmoid", "log_softmax", "logit", "logsumexp", "mae", "mae_grad", "mse", "mse_grad",
    "quantile", "quantile_grad", "sigmoid", "sigmoid_chain", "sigmoid_mse", "sigmoid_mse_grad",
    "softmax", "softmax_chain", "softmax_naive", "softplus",
]
