"""Loss cards: one complete card per registry loss, the original papers, and the search over them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from losslab import cards, registry

CARD_KEYS = tuple(cards.CARDS)
REGISTRY_KEYS = tuple(spec.key for spec in registry.LOSSES)

# The original papers, as the literature cites them: (key, an author's surname, year, words of the title).
PAPERS = (
    ("huber", "Huber", 1964, "Robust Estimation of a Location Parameter"),
    ("focal", "Lin", 2017, "Focal Loss for Dense Object Detection"),
    ("barron", "Barron", 2019, "A General and Adaptive Robust Loss Function"),
    ("ctc", "Graves", 2006, "Connectionist Temporal Classification"),
    ("giou", "Rezatofighi", 2019, "Generalized Intersection over Union"),
    ("diou", "Zheng", 2020, "Distance-IoU Loss"),
    ("ciou", "Zheng", 2020, "Distance-IoU Loss"),
    ("soft_dice", "Milletari", 2016, "V-Net"),
    ("tversky", "Salehi", 2017, "Tversky Loss Function for Image Segmentation"),
    ("focal_tversky", "Abraham", 2019, "Focal Tversky Loss"),
    ("contrastive", "Hadsell", 2006, "Dimensionality Reduction by Learning an Invariant Mapping"),
    ("triplet_margin", "Schroff", 2015, "FaceNet"),
    ("info_nce", "van den Oord", 2018, "Contrastive Predictive Coding"),
    ("bpr", "Rendle", 2009, "Bayesian Personalized Ranking from Implicit Feedback"),
    ("listnet", "Cao", 2007, "From Pairwise Approach to Listwise Approach"),
    ("gan_discriminator", "Goodfellow", 2014, "Generative Adversarial Nets"),
    ("gan_generator_minimax", "Goodfellow", 2014, "Generative Adversarial Nets"),
    ("gan_generator_nonsaturating", "Goodfellow", 2014, "Generative Adversarial Nets"),
    ("wgan_critic", "Arjovsky", 2017, "Wasserstein Generative Adversarial Networks"),
    ("hinge_gan_discriminator", "Lim", 2017, "Geometric GAN"),
    ("gaussian_kl", "Kingma", 2014, "Auto-Encoding Variational Bayes"),
    ("label_smoothed_cross_entropy", "Szegedy", 2016, "Rethinking the Inception Architecture"),
    ("exponential", "Freund", 1997, "A Decision-Theoretic Generalization of On-Line Learning"),
    ("smooth_l1", "Girshick", 2015, "Fast R-CNN"),
    ("quantile", "Koenker", 1978, "Regression Quantiles"),
    ("hinge", "Cortes", 1995, "Support-Vector Networks"),
    ("kl_divergence", "Kullback", 1951, "On Information and Sufficiency"),
    ("brier", "Brier", 1950, "Verification of Forecasts Expressed in Terms of Probability"),
    ("geman_mcclure", "Geman", 1987, "Statistical Methods for Tomographic Image Reconstruction"),
)

# What "the Huber family" means for an outlier search: the losses whose pull on a far point is bounded.
BOUNDED_PULL = {"huber", "mae", "pseudo_huber", "smooth_l1", "log_cosh", "cauchy", "geman_mcclure", "tukey", "barron"}


# ---- registry and cards agree --------------------------------------------------------------------


@pytest.mark.parametrize("key", REGISTRY_KEYS)
def test_every_registry_loss_has_a_card(key):
    assert cards.card(key).key == key


def test_no_card_for_a_loss_the_registry_does_not_have():
    """Fails while a card's loss (see cards.UNREGISTERED) is not in the registry yet: that is how we know they agree."""
    assert sorted(set(CARD_KEYS) - set(REGISTRY_KEYS)) == []


@pytest.mark.parametrize("key", REGISTRY_KEYS)
def test_a_card_shows_the_registrys_label_and_formulas(key):
    spec, entry = registry.get(key), cards.card(key)
    assert (entry.label, entry.task) == (spec.label, spec.task)
    assert entry.formula == spec.latex_loss
    assert entry.gradient == spec.latex_grad
    assert entry.gradient_logit == spec.latex_grad_logit


@pytest.mark.parametrize("key", CARD_KEYS)
def test_every_card_is_complete(key):
    entry = cards.card(key)
    for name in ("label", "task", "summary", "formula", "gradient", "intuition", "when_to_use"):
        assert getattr(entry, name).strip(), f"{key}: empty {name}"
    assert len(entry.pros) >= 2 and len(entry.cons) >= 2, key
    assert all(item.strip() for item in (*entry.pros, *entry.cons, *entry.keywords)), key
    assert entry.keywords, key
    assert entry.paper.authors.strip() and entry.paper.title.strip(), key
    assert 1700 <= entry.paper.year <= 2025, key


@pytest.mark.parametrize("key", CARD_KEYS)
def test_a_summary_is_one_line(key):
    summary = cards.card(key).summary
    assert "\n" not in summary and len(summary) <= 130, (key, len(summary))


@pytest.mark.parametrize("key", CARD_KEYS)
def test_related_losses_are_other_registry_losses(key):
    related = cards.card(key).related
    assert related, key
    assert len(set(related)) == len(related), key
    assert key not in related
    assert set(related) <= set(REGISTRY_KEYS), sorted(set(related) - set(REGISTRY_KEYS))


@pytest.mark.parametrize("key", CARD_KEYS)
def test_every_formula_is_a_loss_and_every_gradient_a_derivative(key):
    entry = cards.card(key)
    assert entry.formula.startswith(r"\ell = ")
    assert entry.gradient.startswith(r"\frac{\partial \ell}{\partial")
    assert entry.gradient_logit is None or entry.gradient_logit.startswith(r"\frac{\partial \ell}{\partial")


def test_an_unknown_key_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="'nope'"):
        cards.card("nope")


# ---- papers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "author", "year", "title"), PAPERS, ids=[row[0] for row in PAPERS])
def test_a_card_cites_the_paper_that_introduced_its_loss(key, author, year, title):
    paper = cards.card(key).paper
    assert author in paper.authors
    assert paper.year == year
    assert title.lower() in paper.title.lower()


def test_mse_says_there_is_no_single_paper_and_names_legendre_and_gauss():
    paper = cards.card("mse").paper
    assert paper.year == 1805 and "Legendre" in paper.authors
    assert "No single paper" in paper.note and "Gauss" in paper.note and "1809" in paper.note


def test_a_citation_reads_authors_year_title():
    assert cards.card("huber").paper.citation() == "P. J. Huber (1964). Robust Estimation of a Location Parameter."


# ---- search ----------------------------------------------------------------------------------------


def test_tokens_fold_case_accents_punctuation_and_plurals():
    assert cards.tokens("Geman–McClure") == ["geman", "mcclure"]
    assert cards.tokens("S. Fernández, OUTLIERS!") == ["s", "fernandez", "outlier"]
    assert cards.tokens("boxes losses class loss") == ["box", "loss", "class", "loss"]
    assert cards.tokens("") == []


def test_outlier_finds_huber_first_and_the_bounded_pull_losses_next():
    found = cards.search("outlier")
    assert found[0] == "huber"
    assert set(found[:6]) <= BOUNDED_PULL, found[:6]
    assert "mse" not in found[:6]


def test_outliers_and_case_find_the_same_as_outlier():
    assert cards.search("Outliers") == cards.search("outlier")


def test_overlap_finds_dice_and_iou_losses():
    found = cards.search("overlap")
    assert {"soft_dice", "soft_iou", "iou_loss"} <= set(found[:6])
    assert {registry.get(key).task for key in found[:6]} <= {"segmentation", "detection"}


def test_gan_finds_every_gan_loss_and_only_generative_ones():
    found = cards.search("GAN")
    gan_keys = {spec.key for spec in registry.LOSSES if "GAN" in spec.label or spec.key.startswith("gan_")}
    assert gan_keys and gan_keys <= set(found)
    assert {cards.card(key).task for key in found} == {"generative"}


def test_a_short_word_matches_whole_words_only():
    """'GAN' must not find BPR through its author Gantner; 'KL' finds the KL losses only."""
    assert "bpr" not in cards.search("gan")
    assert set(cards.search("kl")) == {"kl_divergence", "gaussian_kl"}


def test_a_query_naming_a_loss_ranks_it_first():
    assert cards.search("MSE")[0] == "mse"
    assert cards.search("log cosh")[0] == "log_cosh"
    assert cards.search("mse on sigmoid")[0] == "sigmoid_mse"


def test_more_matched_words_rank_higher():
    found = cards.search("segmentation imbalance recall")
    assert found[0] == "tversky"


def test_stop_words_are_ignored_unless_they_are_the_whole_query():
    assert cards.search("focal loss") == cards.search("focal")
    assert cards.search("loss")  # searched as typed


def test_an_empty_query_finds_nothing():
    assert cards.search("") == [] and cards.search("  ,; ") == []


def test_a_query_matching_nothing_finds_nothing():
    assert cards.search("zzzqqq") == []


def test_search_groups_hold_the_label_first_with_the_highest_weight():
    groups = cards.search_groups(cards.card("huber"))
    weights = [weight for weight, _ in groups]
    assert weights == sorted(weights, reverse=True)
    assert groups[0] == (4, "huber huber")


# ---- layering ----------------------------------------------------------------------------------------


def test_cards_import_no_web_module():
    probe = "import sys, losslab.cards; print(','.join(m for m in ('dash', 'plotly', 'flask') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""
