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
- **Loss and gradient together**: every loss ``<loss>`` has
  ``<loss>_and_grad(pred, target, ..., reduction=...)``, returning
  ``(<loss>(...), <loss>_grad(...))`` from one validation and one shared
  intermediate (residual, sigmoid, softmax); the results equal the separate
  calls to within an ulp.
  Gradients with respect to the pre-activation logit :math:`z` are the
  ``*_with_logits_grad`` functions (or ``links.sigmoid_chain`` /
  ``links.softmax_chain`` for any probability-space gradient).
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
from losslab.links import sigmoid_chain, softmax_chain
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

__version__ = "0.1.0"

__all__ = [
    "barron", "barron_and_grad", "barron_grad", "bce", "bce_and_grad", "bce_grad",
    "bce_with_logits", "bce_with_logits_and_grad", "bce_with_logits_grad", "brier",
    "brier_and_grad", "brier_grad", "brier_with_logits", "brier_with_logits_and_grad",
    "brier_with_logits_grad", "cauchy", "cauchy_and_grad", "cauchy_grad", "cross_entropy",
    "cross_entropy_and_grad", "cross_entropy_from_probs", "cross_entropy_from_probs_and_grad",
    "cross_entropy_from_probs_grad", "cross_entropy_grad", "focal", "focal_and_grad", "focal_grad",
    "geman_mcclure", "geman_mcclure_and_grad", "geman_mcclure_grad", "hinge", "hinge_and_grad",
    "hinge_grad", "huber", "huber_and_grad", "huber_grad", "kl_divergence",
    "kl_divergence_and_grad", "kl_divergence_grad", "kl_divergence_with_logits",
    "kl_divergence_with_logits_and_grad", "kl_divergence_with_logits_grad", "log_cosh",
    "log_cosh_and_grad", "log_cosh_grad", "log_sigmoid", "log_softmax", "logit", "logsumexp",
    "mae", "mae_and_grad", "mae_grad", "mse", "mse_and_grad", "mse_grad", "pseudo_huber",
    "pseudo_huber_and_grad", "pseudo_huber_grad", "quantile", "quantile_and_grad", "quantile_grad",
    "sigmoid", "sigmoid_chain", "sigmoid_mse", "sigmoid_mse_and_grad", "sigmoid_mse_grad",
    "softmax", "softmax_chain", "softmax_naive", "softplus", "tukey", "tukey_and_grad",
    "tukey_grad",
]
