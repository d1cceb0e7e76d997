r"""A card for every loss: what it is, its formula and gradient, when to use it, and where it comes from.

Pure data (no web imports): the dashboard's search box and its per-view card
panels are generated from :data:`CARDS`, and :func:`search` ranks them.

A :class:`Card` takes its label, formula and gradients from the loss's
:class:`~losslab.registry.LossSpec`, so a card always shows what the views
plot; everything else (summary, intuition, when to use it, pros, cons,
related losses, the original paper, search keywords) is written here. A loss
that is not in the registry yet (see :data:`UNREGISTERED`) carries its own
label and formulas until it is.

>>> from losslab import cards
>>> cards.card("huber").paper.citation()
'P. J. Huber (1964). Robust Estimation of a Location Parameter.'
>>> cards.search("outlier")[0]
'huber'
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from losslab import registry

__all__ = ["CARDS", "SHORT_TERM", "STOPWORDS", "UNREGISTERED", "Card", "Paper", "card", "names", "search", "search_groups", "tokens"]


@dataclass(frozen=True)
class Paper:
    """The paper that introduced (or popularised) a loss. ``note`` says so when there is no single one."""

    authors: str
    year: int
    title: str
    note: str = ""

    def citation(self) -> str:
        return f"{self.authors} ({self.year}). {self.title}."


@dataclass(frozen=True)
class Card:
    """One loss's card. ``formula`` and ``gradient`` are LaTeX, as in the registry;
    ``gradient_logit`` is the gradient in the pre-activation logit (None for an identity link)."""

    key: str
    label: str
    task: str
    summary: str
    formula: str
    gradient: str
    gradient_logit: str | None
    intuition: str
    when_to_use: str
    pros: tuple[str, ...]
    cons: tuple[str, ...]
    related: tuple[str, ...]
    paper: Paper
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class _Pending:
    """What the registry will give a loss that is not in it yet."""

    label: str
    task: str
    formula: str
    gradient: str
    gradient_logit: str | None = None


#: Losses with a card whose registry entry is still being written (label, task and formulas until then).
UNREGISTERED: dict[str, _Pending] = {
    "ctc": _Pending(
        label="CTC",
        task="sequence",
        formula=r"\ell = -\log \sum_{\pi \in \mathcal{B}^{-1}(y)} \prod_{t=1}^{T} \hat p_{t,\pi_t}",
        gradient=(r"\frac{\partial \ell}{\partial \hat p_{t,k}} = -\frac{1}{p(y \mid x)\,\hat p_{t,k}}"
                  r"\sum_{s:\, y'_s = k} \alpha_t(s)\,\beta_t(s)"),
        gradient_logit=(r"\frac{\partial \ell}{\partial z_{t,k}} = \hat p_{t,k} - \frac{1}{p(y \mid x)}"
                        r"\sum_{s:\, y'_s = k} \alpha_t(s)\,\beta_t(s)"),
    ),
}

_GOODFELLOW = Paper("I. Goodfellow; J. Pouget-Abadie; M. Mirza; B. Xu; D. Warde-Farley; S. Ozair; A. Courville; "
                    "Y. Bengio", 2014, "Generative Adversarial Nets")
_ARJOVSKY = Paper("M. Arjovsky; S. Chintala; L. Bottou", 2017, "Wasserstein Generative Adversarial Networks")
_ZHENG = ("Z. Zheng; P. Wang; W. Liu; J. Li; R. Ye; D. Ren", 2020,
          "Distance-IoU Loss: Faster and Better Learning for Bounding Box Regression")

# key -> the card's own text (everything the registry does not hold), in registry order.
_TEXT: dict[str, dict] = {
    "mse": dict(
        summary="Mean squared error: the Gaussian negative log-likelihood; its minimiser is the conditional mean.",
        intuition="Each error costs its square, so the pull back to the target grows in proportion to the error. "
                  "Large errors dominate the average: one far outlier can outweigh many small errors.",
        when_to_use="Regression with roughly Gaussian noise and no gross outliers, or whenever the conditional "
                    "mean is what you want to predict.",
        pros=("Smooth and convex, with a gradient linear in the error",
              "Closed-form least-squares solution for linear models",
              "Estimates the conditional mean"),
        cons=("Sensitive to outliers: an error's pull grows without bound",
              "Scale-dependent: its value is in the target's units squared",
              "On a sigmoid output its gradient vanishes at saturation (see MSE on sigmoid)"),
        related=("mae", "huber", "log_cosh", "gaussian_nll", "sigmoid_mse"),
        paper=Paper("A.-M. Legendre; C. F. Gauss", 1805,
                    "Nouvelles méthodes pour la détermination des orbites des comètes",
                    note="No single paper introduced it: Legendre published least squares in 1805, and Gauss "
                         "derived it as maximum likelihood under Gaussian errors in Theoria motus corporum "
                         "coelestium (1809)."),
        keywords=("L2", "least squares", "squared error", "gaussian", "mean"),
    ),
    "mae": dict(
        summary="Mean absolute error (L1): its minimiser is the conditional median; every error pulls equally hard.",
        intuition="The gradient is ±1 whatever the size of the error, so a far outlier pulls no harder than a "
                  "near point. The fit settles where as many points lie above as below: the median.",
        when_to_use="Regression with heavy-tailed noise or outliers, or when the median is the quantity you want.",
        pros=("Robust to outliers: bounded influence",
              "In the target's own units, easy to read",
              "Estimates the conditional median"),
        cons=("Kink at zero: the gradient does not shrink near the optimum, so fixed steps oscillate",
              "The minimiser may not be unique",
              "Slower convergence than smooth losses"),
        related=("mse", "huber", "quantile", "smooth_l1", "log_cosh"),
        paper=Paper("R. J. Boscovich", 1757, "De litteraria expeditione per pontificiam ditionem",
                    note="No single modern paper: Boscovich fitted the Earth's shape by least absolute deviations "
                         "in 1757, and Laplace gave the method an algorithm in 1789."),
        keywords=("L1", "absolute error", "median", "least absolute deviations", "robust", "outliers"),
    ),
    "huber": dict(
        summary="Squared error near the target, absolute error beyond δ: an outlier's pull is capped at δ.",
        intuition="Inside |r| ≤ δ it is half the squared error, so small errors are fitted smoothly; outside it "
                  "grows linearly, so a far point pulls with force δ and never more. δ sets where noise ends "
                  "and outliers begin.",
        when_to_use="Regression with mostly Gaussian noise plus some outliers: a robust default when you can "
                    "choose a scale δ (about 1.35 times the noise's standard deviation is the classic choice).",
        pros=("Bounded influence of outliers",
              "Convex and continuously differentiable",
              "Nearly as efficient as MSE on clean Gaussian data"),
        cons=("δ must be chosen, in the target's units",
              "The second derivative jumps at |r| = δ",
              "Far outliers still pull with force δ (it does not redescend)"),
        related=("mse", "mae", "pseudo_huber", "smooth_l1", "log_cosh", "tukey"),
        paper=Paper("P. J. Huber", 1964, "Robust Estimation of a Location Parameter"),
        keywords=("robust", "outliers", "M-estimator", "L1", "L2", "delta"),
    ),
    "log_cosh": dict(
        summary="log(cosh r): about r²/2 for small errors and |r| − log 2 for large ones, smooth everywhere.",
        intuition="Its gradient tanh(r) rises linearly near zero and levels off at ±1, like Huber with δ = 1 "
                  "but with no kink anywhere: a robust loss with every derivative.",
        when_to_use="When you want Huber-like robustness with smooth second derivatives (Newton-type solvers, "
                    "gradient boosting).",
        pros=("Smooth and convex",
              "Bounded gradient: an outlier pulls with force at most 1",
              "No threshold to choose"),
        cons=("Fixed scale: it bends at |r| ≈ 1 in the target's units, so rescale the target",
              "The naive log(cosh r) overflows past |r| ≈ 710 and needs a stable form",
              "Less common, so less tooling"),
        related=("huber", "pseudo_huber", "mae", "mse"),
        paper=Paper("P. J. Green", 1990,
                    "Bayesian Reconstructions From Emission Tomography Data Using a Modified EM Algorithm",
                    note="No single paper introduced log-cosh as a regression loss; Green's log cosh potential "
                         "for edge-preserving image reconstruction is an early use."),
        keywords=("smooth", "robust", "outliers", "tanh"),
    ),
    "quantile": dict(
        summary="Pinball loss: asymmetric absolute error whose minimiser is the τ-quantile.",
        intuition="Under-predictions cost τ per unit and over-predictions 1 − τ. At the optimum a fraction τ "
                  "of the targets lie below the prediction: τ = 0.5 gives the median, τ = 0.9 an upper band.",
        when_to_use="Prediction intervals and risk estimates: fit several τ to describe the spread, not only "
                    "the centre.",
        pros=("Estimates any quantile without assuming a distribution",
              "Robust like MAE",
              "A pair of τ gives a prediction interval"),
        cons=("Kink at zero: the same optimisation issues as MAE",
              "Separately fitted quantiles can cross",
              "Extreme τ need much data"),
        related=("mae", "huber", "mse"),
        paper=Paper("R. Koenker; G. Bassett", 1978, "Regression Quantiles"),
        keywords=("pinball", "quantile", "percentile", "asymmetric", "prediction interval", "uncertainty"),
    ),
    "bce": dict(
        summary="Binary cross-entropy (log loss): the Bernoulli negative log-likelihood of a predicted probability.",
        intuition="A confident wrong answer costs −log of a tiny number, without bound. Through the sigmoid the "
                  "gradient in the logit is just p̂ − y: it stays large exactly when the model is confidently "
                  "wrong.",
        when_to_use="Binary and multi-label classification with a sigmoid output: the default choice.",
        pros=("dL/dz = p̂ − y never vanishes while the prediction is wrong",
              "A proper scoring rule: it rewards calibrated probabilities",
              "Convex in the logit"),
        cons=("Unbounded: mislabelled points can dominate",
              "Needs a stable form from logits (log σ(z) = −softplus(−z))",
              "Class imbalance needs weights or a focal term"),
        related=("focal", "sigmoid_mse", "hinge", "cross_entropy", "exponential"),
        paper=Paper("D. R. Cox", 1958, "The Regression Analysis of Binary Sequences",
                    note="Logistic regression fitted by maximum likelihood; the loss is the cross-entropy of "
                         "information theory (Shannon, 1948) for a Bernoulli target."),
        keywords=("log loss", "logistic", "cross entropy", "sigmoid", "probability", "likelihood"),
    ),
    "sigmoid_mse": dict(
        summary="Squared error on the sigmoid's probability: bounded, but its gradient vanishes when the "
                "sigmoid saturates.",
        intuition="dL/dz = 2(p̂ − y)·p̂(1 − p̂): the factor p̂(1 − p̂) is tiny when p̂ is near 0 or 1, so a "
                  "confidently wrong model barely learns. BCE's logarithm cancels that factor.",
        when_to_use="Rarely for training a classifier; as a measure of probabilistic forecasts it is the Brier "
                    "score.",
        pros=("Bounded: robust to label noise",
              "Equals the Brier score, a proper scoring rule"),
        cons=("Vanishing gradient for confident mistakes (saturation)",
              "Not convex in the logit: plateaus and slow training"),
        related=("bce", "brier", "mse"),
        paper=Paper("D. E. Rumelhart; G. E. Hinton; R. J. Williams", 1986,
                    "Learning Representations by Back-propagating Errors",
                    note="Back-propagation was introduced with squared error on sigmoid units; their saturation "
                         "is why cross-entropy replaced it."),
        keywords=("saturation", "vanishing gradient", "sigmoid", "squared error", "Brier"),
    ),
    "focal": dict(
        summary="BCE scaled by (1 − p_t)^γ: easy, well-classified examples are down-weighted so hard ones dominate.",
        intuition="When p_t is near 1 the factor (1 − p_t)^γ is near 0, so thousands of easy background examples "
                  "stop drowning out the few hard ones. γ = 0 is plain BCE; γ = 2 is the usual choice.",
        when_to_use="Severe class imbalance with many easy negatives: dense object detection, rare events.",
        pros=("Focuses training on hard, misclassified examples",
              "Handles extreme imbalance without resampling",
              "Reduces to BCE at γ = 0"),
        cons=("Another hyperparameter γ (often with a class weight α)",
              "Can under-train easy examples and hurt calibration",
              "Not a proper scoring rule for γ > 0"),
        related=("bce", "cross_entropy", "focal_tversky", "weighted_cross_entropy"),
        paper=Paper("T.-Y. Lin; P. Goyal; R. Girshick; K. He; P. Dollár", 2017,
                    "Focal Loss for Dense Object Detection"),
        keywords=("focal", "imbalance", "hard examples", "object detection", "RetinaNet", "gamma"),
    ),
    "hinge": dict(
        summary="max(0, 1 − t·z): zero once a point is on the right side by a margin of 1, linear otherwise.",
        intuition="Only points inside the margin or on the wrong side contribute; confidently correct points "
                  "are ignored, so the solution depends on a few support vectors.",
        when_to_use="Maximum-margin classifiers (linear SVMs) when you need a decision, not a probability.",
        pros=("Sparse: only margin violators matter",
              "Convex, with a bounded gradient",
              "Encourages a margin, which generalises well"),
        cons=("No probabilities: scores are not calibrated",
              "Not differentiable at t·z = 1",
              "Linear growth still lets gross mislabels pull"),
        related=("squared_hinge", "bce", "exponential", "margin_ranking", "hinge_gan_discriminator"),
        paper=Paper("C. Cortes; V. Vapnik", 1995, "Support-Vector Networks"),
        keywords=("SVM", "support vector machine", "margin", "max margin"),
    ),
    "cross_entropy": dict(
        summary="Categorical cross-entropy of softmax probabilities: the multinomial negative log-likelihood.",
        intuition="Only the true class's log-probability counts, but the softmax couples all logits: "
                  "dL/dz = p̂ − y pushes the true class up and every other class down in proportion to its "
                  "probability.",
        when_to_use="Single-label multiclass classification; the default for image classifiers and language "
                    "models (next-token prediction).",
        pros=("Simple gradient p̂ − y, no saturation",
              "A proper scoring rule: calibrated probabilities",
              "Convex in the logits"),
        cons=("Rewards ever-larger logits: over-confidence (label smoothing helps)",
              "Sensitive to label noise",
              "Needs log-sum-exp for numerical stability"),
        related=("kl_divergence", "label_smoothed_cross_entropy", "weighted_cross_entropy", "bce", "brier",
                 "focal"),
        paper=Paper("J. S. Bridle", 1990,
                    "Probabilistic Interpretation of Feedforward Classification Network Outputs, with "
                    "Relationships to Statistical Pattern Recognition",
                    note="Named the softmax and trained it by cross-entropy; cross-entropy itself comes from "
                         "information theory (Shannon, 1948)."),
        keywords=("softmax", "log loss", "negative log likelihood", "NLL", "multinomial", "categorical",
                  "next token"),
    ),
    "kl_divergence": dict(
        summary="KL(y ‖ p̂): cross-entropy minus the target's entropy, zero exactly when p̂ = y.",
        intuition="It counts the extra nats needed to code samples of y with a code built for p̂. The target's "
                  "entropy is a constant, so the gradient equals cross-entropy's; only the value differs, "
                  "reaching 0 at a perfect fit even for soft targets.",
        when_to_use="Soft targets: knowledge distillation, label distributions, matching a teacher or a prior.",
        pros=("Zero at the optimum, even for soft targets",
              "The same gradient as cross-entropy",
              "An information-theoretic meaning"),
        cons=("Asymmetric: KL(y ‖ p̂) ≠ KL(p̂ ‖ y)",
              "Infinite where p̂ = 0 but y > 0",
              "Needs the convention 0 log 0 = 0"),
        related=("cross_entropy", "label_smoothed_cross_entropy", "gaussian_kl", "listnet"),
        paper=Paper("S. Kullback; R. A. Leibler", 1951, "On Information and Sufficiency"),
        keywords=("relative entropy", "divergence", "distillation", "soft targets", "distribution",
                  "information"),
    ),
    "brier": dict(
        summary="Squared error of the whole probability vector: a bounded, proper score for probabilistic forecasts.",
        intuition="It rewards putting probability where the outcome lands and penalises spreading it elsewhere, "
                  "but an error costs at most 2. Through the softmax its gradient shrinks as the probabilities "
                  "saturate, like MSE on a sigmoid.",
        when_to_use="Evaluating and calibrating probabilistic classifiers; training when robustness to label "
                    "noise matters more than speed.",
        pros=("A proper scoring rule",
              "Bounded: robust to label noise",
              "Decomposes into calibration and refinement"),
        cons=("Vanishing gradients at saturation",
              "A weak penalty for confident mistakes",
              "Trains more slowly than cross-entropy"),
        related=("sigmoid_mse", "cross_entropy", "mse"),
        paper=Paper("G. W. Brier", 1950, "Verification of Forecasts Expressed in Terms of Probability"),
        keywords=("Brier score", "calibration", "proper scoring rule", "probability", "squared error",
                  "forecast"),
    ),
    "pseudo_huber": dict(
        summary="A smooth Huber: δ²(√(1 + (r/δ)²) − 1), about r²/2 near the target and δ|r| far away.",
        intuition="As with Huber, the pull grows linearly for small errors and levels off at δ for large ones, "
                  "but the transition is smooth, so every derivative exists.",
        when_to_use="Robust fitting where second derivatives are needed (Gauss–Newton, bundle adjustment, "
                    "image restoration).",
        pros=("Smooth everywhere and convex",
              "Bounded influence (at most δ)",
              "One scale δ, as for Huber"),
        cons=("δ to choose",
              "Reaches its linear regime only gradually",
              "Far outliers still pull with a force near δ"),
        related=("huber", "log_cosh", "cauchy", "barron", "smooth_l1"),
        paper=Paper("P. Charbonnier; L. Blanc-Féraud; G. Aubert; M. Barlaud", 1994,
                    "Two Deterministic Half-Quadratic Regularization Algorithms for Computed Imaging",
                    note="The Charbonnier penalty; the name pseudo-Huber comes from Hartley and Zisserman's "
                         "Multiple View Geometry (2000)."),
        keywords=("Charbonnier", "smooth Huber", "robust", "outliers", "L1-L2"),
    ),
    "cauchy": dict(
        summary="(c²/2)·log(1 + (r/c)²): grows only logarithmically, so a far point's pull decays like c²/r.",
        intuition="It is the negative log-likelihood of Cauchy (Lorentzian) noise. A point's influence rises, "
                  "peaks at |r| = c and then falls: distant outliers are progressively ignored, but never "
                  "completely.",
        when_to_use="Regression with many large outliers, started from a robust initial fit (the loss is "
                    "not convex).",
        pros=("Redescending influence: far outliers barely matter",
              "Smooth",
              "A nonzero gradient everywhere, unlike Tukey's"),
        cons=("Not convex: local minima, needs a good start",
              "Scale c to choose",
              "Less efficient than Huber on clean data"),
        related=("geman_mcclure", "tukey", "barron", "pseudo_huber", "huber"),
        paper=Paper("P. W. Holland; R. E. Welsch", 1977,
                    "Robust Regression Using Iteratively Reweighted Least-Squares",
                    note="The Cauchy weight is one of the M-estimators compared there; the loss is the Cauchy "
                         "distribution's negative log-likelihood."),
        keywords=("Lorentzian", "robust", "outliers", "redescending", "M-estimator", "heavy tails"),
    ),
    "geman_mcclure": dict(
        summary="(r²/2)/(1 + (r/c)²): bounded by c²/2, so a far point's pull fades like 1/r³.",
        intuition="Quadratic near the target, flat far away: an outlier adds almost nothing to the cost and "
                  "pulls almost nothing.",
        when_to_use="Fits with gross outliers, as in image registration and other vision problems, started "
                    "from a reasonable estimate.",
        pros=("Bounded loss: strongly redescending",
              "Smooth",
              "Outliers are effectively rejected"),
        cons=("Not convex: sensitive to the starting point",
              "Scale c to choose",
              "Far points get almost no gradient, so a bad start may not recover"),
        related=("cauchy", "tukey", "barron"),
        paper=Paper("S. Geman; D. E. McClure", 1987, "Statistical Methods for Tomographic Image Reconstruction"),
        keywords=("robust", "outliers", "redescending", "bounded", "vision", "M-estimator"),
    ),
    "tukey": dict(
        summary="Tukey's biweight: a bounded loss, constant past c, so points farther than c have no pull at all.",
        intuition="A point's influence rises, falls back and reaches exactly zero at |r| = c: far outliers are "
                  "ignored completely, a hard rejector.",
        when_to_use="Robust regression with gross outliers, usually refining an initial robust fit (MAE or "
                    "Huber).",
        pros=("Rejects far outliers completely",
              "About 95% as efficient as least squares on Gaussian data with c = 4.685σ",
              "Smooth inside the cutoff"),
        cons=("Not convex: many local minima",
              "Zero gradient beyond c: a bad start cannot recover",
              "The scale c is critical"),
        related=("geman_mcclure", "cauchy", "huber", "barron"),
        paper=Paper("A. E. Beaton; J. W. Tukey", 1974,
                    "The Fitting of Power Series, Meaning Polynomials, Illustrated on Band-Spectroscopic Data"),
        keywords=("biweight", "bisquare", "robust", "outliers", "redescending", "M-estimator"),
    ),
    "barron": dict(
        summary="One loss with a shape α: L2 (α = 2), pseudo-Huber (1), Cauchy (0), Geman–McClure (−2), "
                "Welsch (−∞).",
        intuition="α sets how fast a far point's influence dies and c where errors count as far. Sweeping α "
                  "moves continuously from least squares to hard rejection; α can even be learned with the "
                  "model.",
        when_to_use="When you do not know how robust the fit should be: tune or learn α instead of picking a loss.",
        pros=("One family spans the classic robust losses",
              "Smooth in α and in r",
              "α can adapt during training"),
        cons=("Two parameters (α, c) to set",
              "Not convex for α < 1",
              "Special values of α need limit forms to be evaluated stably"),
        related=("pseudo_huber", "cauchy", "geman_mcclure", "mse", "tukey"),
        paper=Paper("J. T. Barron", 2019, "A General and Adaptive Robust Loss Function"),
        keywords=("general", "adaptive", "robust", "outliers", "Welsch", "shape"),
    ),
    "smooth_l1": dict(
        summary="Huber divided by β: quadratic inside β, L1 outside, with a gradient bounded by 1.",
        intuition="Small offsets cost like squared error divided by β, large ones like absolute error, so badly "
                  "placed boxes do not produce exploding gradients.",
        when_to_use="Bounding-box regression in detectors (Fast and Faster R-CNN), and anywhere a Huber loss "
                    "with a gradient bounded by 1 is wanted.",
        pros=("Robust to outliers, like Huber",
              "Gradient at most 1 whatever β",
              "Smooth at zero"),
        cons=("β to tune",
              "As β → 0 it becomes L1 and loses its smoothness",
              "Treats box coordinates independently (IoU losses do not)"),
        related=("huber", "mae", "mse", "iou_loss", "giou"),
        paper=Paper("R. Girshick", 2015, "Fast R-CNN"),
        keywords=("Huber", "robust", "outliers", "bounding box", "detection", "Fast R-CNN"),
    ),
    "gaussian_nll": dict(
        summary="Gaussian negative log-likelihood with a predicted variance: squared error over σ² plus log σ².",
        intuition="The model says how sure it is: a large σ² shrinks the squared error's weight but pays "
                  "log σ². Errors are judged relative to the model's own uncertainty.",
        when_to_use="Heteroscedastic regression: when the model should predict its uncertainty as well as "
                    "the mean.",
        pros=("Learns a per-sample uncertainty",
              "Down-weights noisy samples automatically",
              "A proper likelihood"),
        cons=("Can shrink σ² on easy points and overfit them",
              "Training can be unstable; the variance needs a floor",
              "Assumes Gaussian noise"),
        related=("mse", "poisson_nll", "gaussian_kl"),
        paper=Paper("D. A. Nix; A. S. Weigend", 1994,
                    "Estimating the Mean and Variance of the Target Probability Distribution"),
        keywords=("heteroscedastic", "variance", "uncertainty", "likelihood", "gaussian"),
    ),
    "poisson_nll": dict(
        summary="Poisson negative log-likelihood of a log-rate x: e^x − y·x, for counts.",
        intuition="Predict the log of the expected count. The gradient e^x − y is predicted rate minus "
                  "observed count, the same shape as BCE's p̂ − y.",
        when_to_use="Count targets: events per interval, clicks, photon counts, anything non-negative and "
                    "integer-like.",
        pros=("Matches count noise (variance equal to the mean)",
              "Simple gradient, convex in the log-rate",
              "The log link keeps rates positive"),
        cons=("Assumes variance = mean; over-dispersed counts need a negative binomial",
              "e^x overflows for large log-rates",
              "Counts only (y ≥ 0)"),
        related=("gaussian_nll", "msle", "bce"),
        paper=Paper("J. A. Nelder; R. W. M. Wedderburn", 1972, "Generalized Linear Models",
                    note="Poisson regression with the log link as a generalised linear model."),
        keywords=("count", "poisson", "rate", "log link", "likelihood", "GLM"),
    ),
    "msle": dict(
        summary="Squared error of log(1 + ŷ) against log(1 + y): relative errors count, under-prediction "
                "costs more.",
        intuition="On the log scale, predicting 110 for 100 costs about as much as 1100 for 1000. Because of "
                  "the logarithm, missing low costs more than missing high by the same amount.",
        when_to_use="Non-negative targets spanning orders of magnitude (prices, counts, demand) where the "
                    "relative error matters.",
        pros=("Relative errors: large targets do not dominate",
              "Smooth",
              "Simple to add to any regression model"),
        cons=("Only for ŷ, y > −1 (in practice ≥ 0)",
              "Asymmetric: under-prediction costs more",
              "Its minimiser is a geometric-type mean, not the mean"),
        related=("mse", "poisson_nll", "gaussian_nll"),
        paper=Paper("G. E. P. Box; D. R. Cox", 1964, "An Analysis of Transformations",
                    note="No single paper introduced MSLE: it is least squares after a log transform, the kind "
                         "of transformation Box and Cox analysed."),
        keywords=("log", "relative error", "RMSLE", "counts", "skewed"),
    ),
    "squared_hinge": dict(
        summary="The hinge squared, max(0, 1 − t·z)²: the L2-SVM loss, smooth at the margin.",
        intuition="Like the hinge it ignores points beyond the margin, but violations cost quadratically: the "
                  "gradient fades smoothly to zero at the margin and grows for bad mistakes.",
        when_to_use="Linear SVMs trained with smooth optimisers, or a margin loss on a network's output.",
        pros=("Differentiable everywhere",
              "Margin and sparsity, like the hinge",
              "Punishes large violations strongly"),
        cons=("Quadratic growth: more sensitive to outliers than the hinge",
              "No probabilities"),
        related=("hinge", "mse", "bce"),
        paper=Paper("Y. Tang", 2013, "Deep Learning using Linear Support Vector Machines",
                    note="Squared slacks give the L2-SVM of the SVM literature; Tang's paper popularised it as a "
                         "network's output loss."),
        keywords=("L2-SVM", "SVM", "margin", "squared hinge"),
    ),
    "exponential": dict(
        summary="e^(−t·z): AdaBoost's loss, smooth and convex, but a confident mistake costs exponentially.",
        intuition="Correct points with a large margin cost almost nothing; a misclassified point's cost and "
                  "gradient grow exponentially with its margin, so boosting keeps re-weighting the hardest "
                  "examples.",
        when_to_use="Boosting; rarely for neural networks, because of its sensitivity to label noise.",
        pros=("Smooth and convex",
              "Gives AdaBoost's simple re-weighting",
              "Its population minimiser is half the log-odds, as for the logistic loss"),
        cons=("Very sensitive to outliers and label noise",
              "Overflows for large negative margins",
              "No direct probability output"),
        related=("bce", "hinge", "squared_hinge"),
        paper=Paper("Y. Freund; R. E. Schapire", 1997,
                    "A Decision-Theoretic Generalization of On-Line Learning and an Application to Boosting",
                    note="AdaBoost; Friedman, Hastie and Tibshirani (2000) showed that it minimises this "
                         "exponential loss."),
        keywords=("AdaBoost", "boosting", "margin", "exponential"),
    ),
    "label_smoothed_cross_entropy": dict(
        summary="Cross-entropy to a smoothed target (1 − ε)·y + ε/C: the best logit gap stays finite.",
        intuition="With a one-hot target, cross-entropy is minimised only as the logits run to infinity. Mixing "
                  "in ε of the uniform distribution makes p̂ = q the optimum, so the model stops pushing its "
                  "confidence.",
        when_to_use="Large classifiers and sequence models (translation, next-token prediction) that become "
                    "over-confident.",
        pros=("Better calibration; a regulariser",
              "Only a change of target",
              "The same simple gradient p̂ − q"),
        cons=("Teachers trained with it distil worse",
              "The loss never reaches 0",
              "ε to choose"),
        related=("cross_entropy", "kl_divergence", "weighted_cross_entropy"),
        paper=Paper("C. Szegedy; V. Vanhoucke; S. Ioffe; J. Shlens; Z. Wojna", 2016,
                    "Rethinking the Inception Architecture for Computer Vision"),
        keywords=("label smoothing", "regularisation", "regularization", "calibration", "overconfidence",
                  "next token", "sequence"),
    ),
    "weighted_cross_entropy": dict(
        summary="Cross-entropy with a weight per class: mistakes on rare or costly classes count more.",
        intuition="Multiplying a class's log-loss by w_k is like seeing its examples w_k times. Weights "
                  "proportional to inverse class frequency balance each class's total pull.",
        when_to_use="Imbalanced classification or unequal error costs, when resampling is impractical.",
        pros=("A simple fix for imbalance",
              "Keeps cross-entropy's clean gradient",
              "Encodes real misclassification costs"),
        cons=("Shifts the predicted probabilities: they are no longer calibrated",
              "Weights to choose",
              "Large weights add variance"),
        related=("cross_entropy", "focal", "label_smoothed_cross_entropy", "bce"),
        paper=Paper("C. Elkan", 2001, "The Foundations of Cost-Sensitive Learning",
                    note="Class weighting has no single origin; Elkan's paper is the standard account of "
                         "re-weighting by costs."),
        keywords=("class weight", "imbalance", "cost-sensitive", "rare class"),
    ),
    "gan_discriminator": dict(
        summary="The GAN discriminator's BCE: real samples labelled 1, generated ones 0.",
        intuition="D is a binary classifier between data and the generator's samples. At its optimum "
                  "D(x) = p_data/(p_data + p_g), and the generator then minimises a Jensen–Shannon divergence.",
        when_to_use="Training the discriminator of a standard GAN.",
        pros=("Plain binary classification, well understood",
              "Its optimum ties the game to the Jensen–Shannon divergence"),
        cons=("A too-good discriminator starves the minimax generator of gradient",
              "The game can oscillate or collapse to a few modes"),
        related=("gan_generator_minimax", "gan_generator_nonsaturating", "bce", "wgan_critic",
                 "hinge_gan_discriminator"),
        paper=_GOODFELLOW,
        keywords=("GAN", "adversarial", "discriminator", "generative", "Jensen-Shannon"),
    ),
    "gan_generator_minimax": dict(
        summary="The generator's original loss log(1 − D(G(z))): it saturates when D confidently rejects the fakes.",
        intuition="Its gradient in D's logit is −D(G(z)), near zero exactly when the discriminator is sure the "
                  "samples are fake, which is early in training: the same saturation as MSE on a sigmoid.",
        when_to_use="For the theory of the minimax game; in practice use the non-saturating form.",
        pros=("Exactly the two-player minimax game",
              "Clean theory: Jensen–Shannon divergence at the optimal D"),
        cons=("Vanishing gradient early in training",
              "The generator learns slowly or not at all"),
        related=("gan_generator_nonsaturating", "gan_discriminator", "sigmoid_mse", "wgan_generator"),
        paper=_GOODFELLOW,
        keywords=("GAN", "minimax", "saturation", "vanishing gradient", "generator", "generative", "adversarial"),
    ),
    "gan_generator_nonsaturating": dict(
        summary="The generator's −log D(G(z)): the same fixed point, with strong gradients when D rejects the fakes.",
        intuition="Instead of minimising the chance of being caught, maximise the chance of fooling D. In D's "
                  "logit the gradient is D − 1 ≈ −1 when D is confident: the BCE-like fix.",
        when_to_use="The default generator loss of a standard GAN.",
        pros=("No saturation early in training",
              "The same fixed point as the minimax game"),
        cons=("No longer zero-sum: training can be unstable or collapse to a few modes",
              "Large gradients once D is fooled"),
        related=("gan_generator_minimax", "gan_discriminator", "bce", "wgan_generator"),
        paper=Paper(_GOODFELLOW.authors, _GOODFELLOW.year, _GOODFELLOW.title,
                    note="Proposed in the same paper as the practical alternative to the minimax generator loss."),
        keywords=("GAN", "non-saturating", "generator", "generative", "adversarial"),
    ),
    "wgan_critic": dict(
        summary="The WGAN critic's f(G(z)) − f(x): with a Lipschitz critic, it estimates the Wasserstein-1 distance.",
        intuition="The critic gives a real-valued score, not a probability, and the loss is linear in it: no "
                  "sigmoid, so no saturation. With f 1-Lipschitz, the largest E f(x) − E f(G(z)) is the earth "
                  "mover's distance.",
        when_to_use="GANs whose standard losses are unstable or collapse, with a gradient penalty or spectral "
                    "normalisation on the critic.",
        pros=("Never saturates: useful gradients everywhere",
              "Its value tracks sample quality",
              "More stable training"),
        cons=("Needs a Lipschitz constraint (clipping, gradient penalty)",
              "Unbounded scores without that constraint",
              "Several critic steps per generator step"),
        related=("wgan_generator", "gan_discriminator", "hinge_gan_discriminator"),
        paper=_ARJOVSKY,
        keywords=("WGAN", "GAN", "Wasserstein", "earth mover", "critic", "Lipschitz", "generative",
                  "adversarial"),
    ),
    "wgan_generator": dict(
        summary="The generator's −f(G(z)): raise the critic's score of the fakes, with a constant gradient.",
        intuition="The generator moves its samples in whatever direction the critic scores higher; the "
                  "gradient with respect to the score is −1 whatever the score.",
        when_to_use="The generator of WGAN, WGAN-GP and hinge GANs (SNGAN, BigGAN).",
        pros=("Never saturates",
              "Simple"),
        cons=("Only meaningful with a constrained critic",
              "Its value has no absolute meaning"),
        related=("wgan_critic", "hinge_gan_discriminator", "gan_generator_nonsaturating"),
        paper=Paper(_ARJOVSKY.authors, _ARJOVSKY.year, _ARJOVSKY.title,
                    note="Also the hinge GAN's generator loss (Lim and Ye, 2017; Miyato et al., 2018)."),
        keywords=("WGAN", "GAN", "hinge GAN", "generator", "Wasserstein", "generative", "adversarial"),
    ),
    "hinge_gan_discriminator": dict(
        summary="max(0, 1 − f(x)) + max(0, 1 + f(G(z))): the discriminator stops pushing once scores clear "
                "the margins.",
        intuition="An SVM-style margin on the score: a real sample is done once f(x) ≥ 1 and a fake once "
                  "f(G(z)) ≤ −1, so the discriminator does not keep sharpening on confident examples.",
        when_to_use="GANs with spectral normalisation (SNGAN, SAGAN, BigGAN).",
        pros=("Stable in practice and widely used",
              "No pull from samples already past the margin",
              "Pairs well with spectral normalisation"),
        cons=("Kinks at the margins",
              "Still needs a regularised discriminator"),
        related=("wgan_critic", "hinge", "gan_discriminator", "wgan_generator"),
        paper=Paper("J. H. Lim; J. C. Ye", 2017, "Geometric GAN",
                    note="Popularised with spectral normalisation by Miyato, Kataoka, Koyama and Yoshida (2018), "
                         "Spectral Normalization for Generative Adversarial Networks."),
        keywords=("hinge GAN", "GAN", "margin", "discriminator", "spectral normalization", "generative",
                  "adversarial"),
    ),
    "gaussian_kl": dict(
        summary="KL(N(μ, σ²) ‖ N(0, 1)): the VAE's regulariser, in closed form.",
        intuition="It charges the encoder for moving its posterior away from the prior: μ² pulls the mean to 0 "
                  "and σ² − 1 − log σ² pulls the variance to 1. Against the reconstruction loss it keeps the "
                  "latent space smooth.",
        when_to_use="The KL term of a variational autoencoder's ELBO, added to a reconstruction loss.",
        pros=("Closed form for Gaussians",
              "Regularises the latent space",
              "Simple gradients: μ, and (σ² − 1)/2 in log σ²"),
        cons=("Posterior collapse: the KL term can switch latents off",
              "Usually needs a weight (β) or a warm-up schedule",
              "Assumes a diagonal Gaussian posterior"),
        related=("kl_divergence", "gaussian_nll", "mse"),
        paper=Paper("D. P. Kingma; M. Welling", 2014, "Auto-Encoding Variational Bayes"),
        keywords=("VAE", "variational autoencoder", "ELBO", "KL", "latent", "prior", "generative"),
    ),
    "soft_dice": dict(
        summary="One minus the soft Dice coefficient: twice the overlap over the total size of prediction and mask.",
        intuition="The Dice coefficient is a mask's F1 score. Normalised by the regions' sizes, a small object "
                  "counts as much as a large one and the vast background does not swamp the loss.",
        when_to_use="Segmentation of small foreground structures (medical images), where pixel-wise BCE is "
                    "dominated by the background.",
        pros=("Insensitive to class imbalance",
              "Directly optimises the evaluation overlap",
              "Differentiable with soft probabilities"),
        cons=("Noisy gradients for tiny or empty masks (the smoothing s helps)",
              "Not per pixel: poorer calibration",
              "Can be unstable early in training"),
        related=("soft_iou", "tversky", "focal_tversky", "combo", "iou_loss"),
        paper=Paper("F. Milletari; N. Navab; S.-A. Ahmadi", 2016,
                    "V-Net: Fully Convolutional Neural Networks for Volumetric Medical Image Segmentation",
                    note="The coefficient itself is from L. R. Dice (1945), Measures of the Amount of Ecologic "
                         "Association Between Species."),
        keywords=("Dice", "F1", "overlap", "segmentation", "imbalance", "medical imaging", "mask"),
    ),
    "soft_iou": dict(
        summary="One minus the soft intersection over union (Jaccard index) of a predicted mask and the truth.",
        intuition="IoU is overlap over union; with probabilities the intersection is Σpt and the union "
                  "Σp + Σt − Σpt. It ranks masks like Dice but penalises mediocre overlap more.",
        when_to_use="Segmentation evaluated by IoU (mIoU), especially with imbalanced classes.",
        pros=("Matches the IoU metric",
              "Handles imbalance like Dice"),
        cons=("The same noisy gradients on tiny masks as Dice",
              "Soft IoU is only a surrogate for the hard metric"),
        related=("soft_dice", "tversky", "iou_loss", "combo"),
        paper=Paper("M. A. Rahman; Y. Wang", 2016,
                    "Optimizing Intersection-Over-Union in Deep Neural Networks for Image Segmentation",
                    note="The index is Jaccard's (1912)."),
        keywords=("IoU", "Jaccard", "intersection over union", "overlap", "segmentation", "mask"),
    ),
    "tversky": dict(
        summary="A Dice loss with separate weights: α for false positives, β for false negatives.",
        intuition="α = β = 0.5 is Dice and α = β = 1 is IoU. Raising β above α makes missed foreground cost "
                  "more than false alarms, trading precision for recall.",
        when_to_use="Segmentation of small lesions, where missing foreground is worse than over-segmenting.",
        pros=("A tunable precision/recall trade-off",
              "Generalises Dice and IoU",
              "Handles imbalance"),
        cons=("Two weights to choose",
              "The same noisy gradients on tiny masks as Dice"),
        related=("soft_dice", "soft_iou", "focal_tversky", "combo"),
        paper=Paper("S. S. M. Salehi; D. Erdogmus; A. Gholipour", 2017,
                    "Tversky Loss Function for Image Segmentation Using 3D Fully Convolutional Deep Networks",
                    note="After Tversky's index of similarity (1977)."),
        keywords=("Tversky", "recall", "precision", "false negatives", "overlap", "segmentation", "imbalance"),
    ),
    "focal_tversky": dict(
        summary="The Tversky loss raised to a power γ: reshapes how much nearly right and badly wrong regions count.",
        intuition="With γ < 1 the small losses of nearly right regions are lifted and their slope steepened, so "
                  "training keeps improving them; γ > 1 does the opposite and focuses on poor regions.",
        when_to_use="Small-lesion segmentation with heavy imbalance, when the Tversky loss alone plateaus.",
        pros=("Extra control over easy against hard regions",
              "Keeps Tversky's precision/recall control"),
        cons=("Three parameters (α, β, γ)",
              "For γ < 1 the gradient grows without bound as the loss nears 0",
              "Papers differ on whether the exponent is γ or 1/γ"),
        related=("tversky", "soft_dice", "focal"),
        paper=Paper("N. Abraham; N. M. Khan", 2019,
                    "A Novel Focal Tversky Loss Function with Improved Attention U-Net for Lesion Segmentation",
                    note="The paper writes the exponent as 1/γ with γ from 1 to 3; here γ is the exponent itself."),
        keywords=("focal", "Tversky", "lesion", "segmentation", "overlap", "imbalance"),
    ),
    "combo": dict(
        summary="α·(pixel-mean BCE) + (1 − α)·(Dice loss): per-pixel gradients plus region overlap.",
        intuition="BCE gives smooth, well-behaved per-pixel gradients; the Dice term counters the imbalance "
                  "between foreground and background. Together they train stably and still care about small "
                  "structures.",
        when_to_use="Imbalanced segmentation, when the Dice loss alone trains unstably.",
        pros=("Stable gradients from the BCE term",
              "Imbalance handled by the Dice term",
              "One weight to tune"),
        cons=("The weight α to choose",
              "The two terms have different scales"),
        related=("soft_dice", "bce", "tversky", "soft_iou"),
        paper=Paper("S. A. Taghanaki; Y. Zheng; S. K. Zhou; B. Georgescu; P. Sharma; D. Xu; D. Comaniciu; "
                    "G. Hamarneh", 2019,
                    "Combo Loss: Handling Input and Output Imbalance in Multi-Organ Segmentation",
                    note="The paper's cross-entropy term also weighs false positives against false negatives; "
                         "here it is plain BCE."),
        keywords=("combo", "Dice", "BCE", "segmentation", "overlap", "imbalance"),
    ),
    "iou_loss": dict(
        summary="1 − IoU of two boxes: scale-invariant, but flat once the boxes stop overlapping.",
        intuition="It measures boxes as the evaluation does, whatever their size. But disjoint boxes have "
                  "IoU = 0 at any distance, so the gradient is zero and a far box gets no signal.",
        when_to_use="Box regression once predictions already overlap their targets (refinement stages).",
        pros=("Matches the IoU metric",
              "Scale-invariant",
              "Couples the four coordinates"),
        cons=("Zero gradient for boxes that do not overlap",
              "Kinks where edges cross"),
        related=("giou", "diou", "ciou", "smooth_l1", "soft_iou"),
        paper=Paper("J. Yu; Y. Jiang; Z. Wang; Z. Cao; T. Huang", 2016,
                    "UnitBox: An Advanced Object Detection Network",
                    note="UnitBox used −ln IoU; 1 − IoU is the common form."),
        keywords=("IoU", "intersection over union", "overlap", "bounding box", "detection", "boxes"),
    ),
    "giou": dict(
        summary="IoU loss plus the empty fraction of the smallest enclosing box: disjoint boxes still get "
                "pulled together.",
        intuition="C is the smallest box holding both. (C − U)/C is zero when the boxes fill C and grows as "
                  "they drift apart, so there is a gradient even without overlap.",
        when_to_use="Box regression where predictions may start far from their targets (one-stage and "
                    "DETR-style detectors).",
        pros=("A gradient for boxes that do not overlap",
              "Still scale-invariant",
              "Equals the IoU loss when the boxes fill their hull"),
        cons=("Slow when one box contains the other (the extra term is then zero)",
              "Tends to grow the box before moving it"),
        related=("iou_loss", "diou", "ciou", "smooth_l1"),
        paper=Paper("H. Rezatofighi; N. Tsoi; J. Gwak; A. Sadeghian; I. Reid; S. Savarese", 2019,
                    "Generalized Intersection over Union: A Metric and A Loss for Bounding Box Regression"),
        keywords=("GIoU", "IoU", "enclosing box", "overlap", "bounding box", "detection"),
    ),
    "diou": dict(
        summary="IoU loss plus the squared centre distance over the enclosing box's squared diagonal.",
        intuition="The extra term pulls the centres together directly, whatever the overlap, so it converges "
                  "faster than GIoU, above all when one box contains the other.",
        when_to_use="Bounding-box regression, and as the criterion of DIoU non-maximum suppression.",
        pros=("A direct pull on the centre distance",
              "A gradient without overlap",
              "Faster convergence than GIoU"),
        cons=("Ignores the aspect ratio (CIoU adds it)",
              "The normalising diagonal changes as the boxes move"),
        related=("giou", "ciou", "iou_loss"),
        paper=Paper(*_ZHENG),
        keywords=("DIoU", "IoU", "centre distance", "center distance", "overlap", "bounding box", "detection"),
    ),
    "ciou": dict(
        summary="DIoU plus an aspect-ratio term αv: overlap, centre distance and shape in one loss.",
        intuition="v measures how far apart the boxes' aspect-ratio angles are; its weight α grows with the "
                  "IoU, so the shape is refined once the boxes already overlap.",
        when_to_use="Bounding-box regression where box shape matters (YOLO-style detectors).",
        pros=("Accounts for overlap, distance and shape",
              "Fast convergence"),
        cons=("More terms and a more involved gradient",
              "The aspect term ignores absolute size"),
        related=("diou", "giou", "iou_loss"),
        paper=Paper(*_ZHENG, note="The same paper introduces DIoU and CIoU."),
        keywords=("CIoU", "IoU", "aspect ratio", "centre distance", "overlap", "bounding box", "detection", "YOLO"),
    ),
    "contrastive": dict(
        summary="Pairs: similar ones pulled together by d²/2, dissimilar ones pushed until they are a margin apart.",
        intuition="Similar pairs act like springs pulling to distance 0; dissimilar pairs feel a repelling "
                  "spring only inside the margin, so well-separated negatives cost nothing.",
        when_to_use="Siamese networks for verification and dimensionality reduction with pair labels "
                    "(same or different).",
        pros=("Simple: needs only pair labels",
              "The margin stops negatives being pushed forever"),
        cons=("Needs careful pair mining",
              "An absolute margin: depends on the embedding's scale",
              "Pulls all positives to a single point"),
        related=("triplet_margin", "cosine_embedding", "info_nce", "margin_ranking"),
        paper=Paper("R. Hadsell; S. Chopra; Y. LeCun", 2006, "Dimensionality Reduction by Learning an Invariant Mapping"),
        keywords=("siamese", "pairs", "margin", "metric learning", "embedding", "distance", "similarity"),
    ),
    "triplet_margin": dict(
        summary="max(0, m + d(a, p) − d(a, n)): the negative must be a margin farther from the anchor than "
                "the positive.",
        intuition="Only relative distances matter: an anchor should be closer to its positive than to a "
                  "negative by m. Triplets that already satisfy this cost nothing, so training focuses on the "
                  "violating ones.",
        when_to_use="Face recognition, re-identification and retrieval: embeddings learned from relative "
                    "similarity.",
        pros=("A relative constraint: no absolute distance needed",
              "Directly optimises retrieval order"),
        cons=("Needs hard or semi-hard triplet mining",
              "Most triplets are uninformative (zero loss)",
              "The margin to tune"),
        related=("contrastive", "info_nce", "margin_ranking", "cosine_embedding"),
        paper=Paper("F. Schroff; D. Kalenichenko; J. Philbin", 2015,
                    "FaceNet: A Unified Embedding for Face Recognition and Clustering",
                    note="Large-margin triplet constraints appear earlier in metric learning (Weinberger, "
                         "Blitzer and Saul's large-margin nearest neighbours, 2005)."),
        keywords=("triplet", "anchor", "positive", "negative", "margin", "metric learning", "embedding",
                  "distance", "face recognition", "FaceNet"),
    ),
    "cosine_embedding": dict(
        summary="1 − cos θ for similar pairs, max(0, cos θ − m) for dissimilar ones: only the angle matters.",
        intuition="Lengths are ignored: similar pairs are rotated together, dissimilar pairs pushed apart until "
                  "their cosine falls below the margin m.",
        when_to_use="Learning embeddings compared by cosine similarity (text, images, retrieval).",
        pros=("Scale-invariant: ignores the embeddings' norms",
              "Bounded between 0 and 2",
              "Matches cosine-similarity retrieval"),
        cons=("No gradient along the norm",
              "The gradient in θ vanishes at θ = 0 and at θ = π, the worst case for a similar pair",
              "The margin to choose"),
        related=("contrastive", "info_nce", "triplet_margin"),
        paper=Paper("J. Bromley; I. Guyon; Y. LeCun; E. Säckinger; R. Shah", 1993,
                    "Signature Verification using a \"Siamese\" Time Delay Neural Network",
                    note="Siamese networks compared by the cosine of their outputs; the margin form here is "
                         "PyTorch's CosineEmbeddingLoss, which no single paper introduced."),
        keywords=("cosine", "angle", "similarity", "siamese", "pairs", "embedding", "metric learning"),
    ),
    "info_nce": dict(
        summary="Cross-entropy of picking the positive key among negatives by similarity / τ.",
        intuition="Each query must recognise its positive among a batch of negatives; a softmax over the "
                  "similarities turns this into classification. A lower τ sharpens the softmax, so the hardest "
                  "negatives dominate the gradient.",
        when_to_use="Self-supervised and contrastive representation learning (CPC, SimCLR, MoCo, CLIP).",
        pros=("Uses many negatives at once",
              "A lower bound on mutual information",
              "No margin to tune"),
        cons=("Needs large batches or a memory bank of negatives",
              "The temperature τ is critical",
              "Pushes apart false negatives (samples of the same class)"),
        related=("cross_entropy", "contrastive", "triplet_margin", "cosine_embedding"),
        paper=Paper("A. van den Oord; Y. Li; O. Vinyals", 2018, "Representation Learning with Contrastive Predictive Coding"),
        keywords=("InfoNCE", "NT-Xent", "contrastive", "SimCLR", "CLIP", "temperature", "negatives",
                  "self-supervised", "mutual information", "embedding"),
    ),
    "margin_ranking": dict(
        summary="A hinge on the score difference: a pair ordered correctly by at least m costs nothing.",
        intuition="Ranking becomes classification of pairs: for each pair that should be ordered x₁ > x₂, the "
                  "loss grows linearly until the score gap reaches the margin.",
        when_to_use="Pairwise learning to rank (RankSVM), and margin losses between two scores.",
        pros=("Simple pairwise supervision",
              "The margin adds robustness",
              "Convex in the scores"),
        cons=("The number of pairs grows quadratically",
              "Ignores position: an error at the top costs as much as one at the bottom",
              "A kink at the margin"),
        related=("bpr", "hinge", "triplet_margin", "listnet"),
        paper=Paper("R. Herbrich; T. Graepel; K. Obermayer", 2000,
                    "Large Margin Rank Boundaries for Ordinal Regression",
                    note="RankSVM; Joachims (2002) applied it to search engines' click data."),
        keywords=("ranking", "pairwise", "hinge", "margin", "RankSVM", "learning to rank"),
    ),
    "bpr": dict(
        summary="−log σ(s⁺ − s⁻): the log-probability that a user prefers the observed item to an unobserved one.",
        intuition="A logistic loss on the score gap: every pair still pulls a little, and a badly ordered pair "
                  "pulls with a slope of up to 1. It optimises a smooth version of the AUC.",
        when_to_use="Recommendation from implicit feedback (clicks, purchases) with sampled negative items.",
        pros=("Smooth, never exactly flat",
              "Optimises pairwise order (AUC)",
              "Works with implicit feedback"),
        cons=("Depends on the negative sampling",
              "Pairwise: ignores position in the list",
              "Uniformly sampled negatives are often too easy"),
        related=("margin_ranking", "bce", "listnet"),
        paper=Paper("S. Rendle; C. Freudenthaler; Z. Gantner; L. Schmidt-Thieme", 2009,
                    "BPR: Bayesian Personalized Ranking from Implicit Feedback"),
        keywords=("BPR", "ranking", "recommendation", "recommender", "implicit feedback", "pairwise", "AUC",
                  "logistic"),
    ),
    "listnet": dict(
        summary="Cross-entropy between the top-one probabilities (softmax) of the relevance labels and of the scores.",
        intuition="Scores become a distribution over which item ranks first and are compared with the same "
                  "distribution from the true relevances: a listwise loss with softmax cross-entropy's gradient.",
        when_to_use="Listwise learning to rank for search and recommendation, with graded relevance.",
        pros=("Listwise: uses the whole list at once",
              "A simple gradient, softmax(s) − softmax(r)",
              "Linear in the list's length"),
        cons=("The top-one approximation ignores the rest of the permutation",
              "Not a ranking metric such as NDCG"),
        related=("cross_entropy", "kl_divergence", "bpr", "margin_ranking"),
        paper=Paper("Z. Cao; T. Qin; T.-Y. Liu; M.-F. Tsai; H. Li", 2007,
                    "Learning to Rank: From Pairwise Approach to Listwise Approach"),
        keywords=("ListNet", "listwise", "ranking", "learning to rank", "softmax", "search", "relevance"),
    ),
    "ctc": dict(
        summary="Connectionist temporal classification: −log of a label sequence's probability summed over all "
                "its alignments to the input frames.",
        intuition="The network emits a label or a blank at every frame; many frame-level paths collapse "
                  "(repeats merged, blanks dropped) to the same transcript. CTC sums them all by dynamic "
                  "programming, so no frame-level alignment is needed.",
        when_to_use="Sequence labelling with unknown alignment: speech recognition, handwriting and OCR.",
        pros=("No pre-segmented training data needed",
              "Exact and efficient (forward-backward)",
              "Outputs independent per frame: fast decoding"),
        cons=("Assumes the outputs are independent given the input",
              "The input must be at least as long as the labels (plus repeats)",
              "Peaky, blank-dominated outputs"),
        related=("cross_entropy", "label_smoothed_cross_entropy"),
        paper=Paper("A. Graves; S. Fernández; F. Gomez; J. Schmidhuber", 2006,
                    "Connectionist Temporal Classification: Labelling Unsegmented Sequence Data with Recurrent "
                    "Neural Networks"),
        keywords=("CTC", "sequence", "alignment", "speech", "OCR", "handwriting", "blank", "transcription"),
    ),
}


def _build(key: str, text: dict) -> Card:
    spec = registry.BY_KEY.get(key)
    if spec is not None:
        label, task = spec.label, spec.task
        formula, gradient, gradient_logit = spec.latex_loss, spec.latex_grad, spec.latex_grad_logit
    else:
        pending = UNREGISTERED[key]
        label, task = pending.label, pending.task
        formula, gradient, gradient_logit = pending.formula, pending.gradient, pending.gradient_logit
    return Card(key=key, label=label, task=task, formula=formula, gradient=gradient,
                gradient_logit=gradient_logit, **text)


#: Every card by loss key: the registry's losses in registry order, then those not registered yet.
CARDS: dict[str, Card] = {
    key: _build(key, _TEXT[key])
    for key in [*(spec.key for spec in registry.LOSSES if spec.key in _TEXT),
                *(key for key in _TEXT if key not in registry.BY_KEY)]
}


def card(key: str) -> Card:
    """The card of loss ``key``; a ValueError lists the known keys."""
    try:
        return CARDS[key]
    except KeyError:
        raise ValueError(f"no card for loss {key!r}; expected one of {sorted(CARDS)}") from None


# ---- search ----------------------------------------------------------------------------------

#: Query words that say nothing about which loss is meant.
STOPWORDS = frozenset({"a", "an", "and", "by", "for", "function", "in", "is", "loss", "losses", "of", "on", "or",
                       "the", "to", "with"})
_WORD = re.compile(r"[0-9a-z]+")
#: Query words this short are abbreviations (GAN, IoU, KL): they match whole words only.
SHORT_TERM = 3


def tokens(text: str) -> list[str]:
    """Lower-case ASCII words of ``text``, accents dropped and a plural cut (``Outliers`` -> ``outlier``).

    The browser's search (assets/cards.js) tokenises a query the same way.
    """
    folded = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).lower()
    return [_singular(word) for word in _WORD.findall(folded)]


def _singular(word: str) -> str:
    if word.endswith(("xes", "sses", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def search_groups(entry: Card) -> tuple[tuple[int, str], ...]:
    """What a query is matched against, with each group's weight: (weight, space-separated words).

    Label and key 4, keywords and task 3, summary 2; intuition, when to use it and the paper 1.
    """
    groups = (
        (4, f"{entry.label} {entry.key.replace('_', ' ')}"),
        (3, f"{' '.join(entry.keywords)} {entry.task}"),
        (2, entry.summary),
        (1, f"{entry.intuition} {entry.when_to_use} {entry.paper.authors} {entry.paper.year} {entry.paper.title}"),
    )
    return tuple((weight, " ".join(tokens(text))) for weight, text in groups)


def names(entry: Card) -> tuple[str, str]:
    """The card's label and key as words: a query equal to one of them ranks the card first."""
    return " ".join(tokens(entry.label)), " ".join(tokens(entry.key.replace("_", " ")))


def _query_terms(query: str) -> list[str]:
    words = tokens(query)
    terms = [word for word in words if word not in STOPWORDS] or words
    return list(dict.fromkeys(terms))


def _matches(term: str, word: str) -> bool:
    return word == term if len(term) <= SHORT_TERM else word.startswith(term)


def search(query: str) -> list[str]:
    """Loss keys whose card matches ``query``, best first.

    A query word matches a card's group when it begins one of the group's words (a word of three letters or
    fewer, such as ``GAN`` or ``IoU``, must equal one: ``GAN`` does not match ``Gantner``). A query that is a
    card's label or key (``MSE``, ``log cosh``) ranks that card first; the others are ranked by how many
    of the query's words they match, then by the summed weights of the groups matched (see
    :func:`search_groups`), then in registry order. Stop words are dropped unless the query has nothing else;
    an empty query matches nothing.
    """
    terms = _query_terms(query)
    if not terms:
        return []
    phrase = " ".join(tokens(query))
    ranked = []
    for order, entry in enumerate(CARDS.values()):
        groups = [(weight, words.split()) for weight, words in search_groups(entry)]
        matched = score = 0
        for term in terms:
            weights = [weight for weight, words in groups if any(_matches(term, word) for word in words)]
            if weights:
                matched += 1
                score += sum(weights)
        if matched:
            ranked.append((phrase not in names(entry), -matched, -score, order, entry.key))
    return [key for *_, key in sorted(ranked)]
