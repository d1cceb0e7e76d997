"""Bad input raises ValueError whose message names the problem."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import losslab
from losslab import links, registry

from .atlas_checks import logit_inputs, prediction_inputs


def assert_message_mentions(error: pytest.ExceptionInfo, *fragments: str) -> None:
    message = str(error.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)


# ------------------------------------------------------------ shapes


PAIRWISE = [
    losslab.mse, losslab.mse_grad, losslab.mae, losslab.mae_grad, losslab.huber, losslab.huber_grad,
    losslab.log_cosh, losslab.log_cosh_grad, losslab.quantile, losslab.quantile_grad,
    losslab.bce, losslab.bce_grad, losslab.bce_with_logits, losslab.bce_with_logits_grad,
    losslab.sigmoid_mse, losslab.sigmoid_mse_grad, losslab.focal, losslab.focal_grad,
]


@pytest.mark.parametrize("function", PAIRWISE, ids=lambda f: f.__name__)
def test_non_broadcasting_shapes_raise_a_value_error_naming_both_shapes(function):
    with pytest.raises(ValueError, match="broadcast") as error:
        function([0.1, 0.2, 0.3], [0.0, 1.0])
    assert_message_mentions(error, "(3,)", "(2,)")


@pytest.mark.parametrize("function", [losslab.hinge, losslab.hinge_grad], ids=lambda f: f.__name__)
def test_hinge_with_non_broadcasting_shapes_names_both_shapes(function):
    with pytest.raises(ValueError, match="broadcast") as error:
        function([0.1, 0.2, 0.3], [1.0, -1.0])
    assert_message_mentions(error, "(3,)", "(2,)")


CLASS_AXIS = [
    losslab.cross_entropy, losslab.cross_entropy_grad, losslab.cross_entropy_from_probs,
    losslab.cross_entropy_from_probs_grad, losslab.kl_divergence, losslab.kl_divergence_grad,
    losslab.kl_divergence_with_logits, losslab.kl_divergence_with_logits_grad,
    losslab.brier, losslab.brier_grad, losslab.brier_with_logits, losslab.brier_with_logits_grad,
]


@pytest.mark.parametrize("function", CLASS_AXIS, ids=lambda f: f.__name__)
def test_class_axis_losses_with_non_broadcasting_shapes_name_both_shapes(function):
    with pytest.raises(ValueError, match="broadcast") as error:
        function(np.full((2, 3), 0.3), np.full((3, 2), 0.5))
    assert_message_mentions(error, "(2, 3)", "(3, 2)")


@pytest.mark.parametrize("chain", [links.sigmoid_chain, links.softmax_chain], ids=lambda f: f.__name__)
def test_link_chains_with_non_broadcasting_shapes_name_both_arguments_and_shapes(chain):
    with pytest.raises(ValueError, match="broadcast") as error:
        chain([1.0, 2.0, 3.0], [0.5, -0.5])
    assert_message_mentions(error, "(3,)", "(2,)", "grad_prob", "logits")


def test_class_indices_of_the_wrong_shape_are_rejected_with_both_shapes():
    with pytest.raises(ValueError) as error:
        losslab.cross_entropy(np.zeros((2, 3)), np.array([[0, 1], [2, 0]]))
    assert_message_mentions(error, "(2, 3)", "(2, 2)")


# ------------------------------------------------------------ probabilities and labels


@pytest.mark.parametrize("function", [losslab.bce, losslab.bce_grad], ids=lambda f: f.__name__)
def test_bce_rejects_a_probability_above_one(function):
    with pytest.raises(ValueError, match=r"prob must lie in \[0, 1\], got 1\.5"):
        function(1.5, 1.0)


@pytest.mark.parametrize(
    "function",
    [losslab.bce, losslab.bce_grad, losslab.bce_with_logits, losslab.bce_with_logits_grad,
     losslab.focal, losslab.focal_grad, losslab.sigmoid_mse, losslab.sigmoid_mse_grad],
    ids=lambda f: f.__name__,
)
def test_binary_losses_reject_a_negative_target(function):
    with pytest.raises(ValueError, match=r"target must lie in \[0, 1\], got -0\.1"):
        function(0.5, [1.0, -0.1])


def test_binary_losses_reject_a_target_above_one():
    with pytest.raises(ValueError, match=r"target.*\[0, 1\].*1\.2"):
        losslab.focal(0.5, 1.2)


@pytest.mark.parametrize(
    "function",
    [losslab.cross_entropy_from_probs, losslab.kl_divergence, losslab.brier, losslab.cross_entropy_from_probs_grad],
    ids=lambda f: f.__name__,
)
def test_probability_vectors_outside_the_unit_interval_are_rejected(function):
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\], got 1\.5"):
        function([0.5, 1.5], [0.5, 0.5])
    with pytest.raises(ValueError, match=r"target must lie in \[0, 1\], got -0\.1"):
        function([0.5, 0.5], [1.0, -0.1])


def test_cross_entropy_rejects_soft_targets_outside_the_unit_interval():
    with pytest.raises(ValueError, match=r"target probabilities must lie in \[0, 1\], got -0\.1"):
        losslab.cross_entropy([0.0, 1.0], [1.0, -0.1])


def test_logit_rejects_probabilities_outside_the_unit_interval():
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\], got 1\.5"):
        losslab.logit([0.5, 1.5])
    with pytest.raises(ValueError, match=r"got -0\.25"):
        losslab.logit(-0.25)


@pytest.mark.parametrize("label", [0.0, 0.5, 2.0, -0.5])
@pytest.mark.parametrize("function", [losslab.hinge, losslab.hinge_grad], ids=lambda f: f.__name__)
def test_hinge_rejects_labels_other_than_minus_one_and_plus_one(function, label):
    with pytest.raises(ValueError, match=r"hinge labels.*\{-1, 1\}.*got " + re.escape(repr(label))):
        function([0.3, 0.3], [1.0, label])


def test_nan_logits_are_rejected_by_logit_losses():
    for function in (losslab.bce_with_logits, losslab.focal, losslab.cross_entropy):
        with pytest.raises(ValueError, match="NaN"):
            function([np.nan, 0.0], [1.0, 0.0])


# ------------------------------------------------------------ hyperparameters


@pytest.mark.parametrize("delta", [0, 0.0, -1.0, np.nan, np.inf])
@pytest.mark.parametrize("function", [losslab.huber, losslab.huber_grad], ids=lambda f: f.__name__)
def test_huber_rejects_a_delta_that_is_not_positive_and_finite(function, delta):
    with pytest.raises(ValueError, match=r"delta must be in \(0, inf\)"):
        function(1.0, 2.0, delta=delta)


@pytest.mark.parametrize("tau", [0.0, 1.0, -0.2, 1.5, np.nan])
@pytest.mark.parametrize("function", [losslab.quantile, losslab.quantile_grad], ids=lambda f: f.__name__)
def test_quantile_rejects_tau_outside_the_open_unit_interval(function, tau):
    with pytest.raises(ValueError, match=r"tau must be in \(0, 1\)"):
        function(1.0, 2.0, tau=tau)


@pytest.mark.parametrize("function", [losslab.focal, losslab.focal_grad], ids=lambda f: f.__name__)
def test_focal_rejects_a_negative_gamma_and_an_alpha_outside_zero_one(function):
    with pytest.raises(ValueError, match=r"gamma must be in \[0, inf\), got -0\.5"):
        function(1.0, 1.0, gamma=-0.5)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\], got 1\.5"):
        function(1.0, 1.0, alpha=1.5)


@pytest.mark.parametrize("eps", [0.5, 0.7, -1e-3, np.nan])
@pytest.mark.parametrize("function", [losslab.bce, losslab.bce_grad], ids=lambda f: f.__name__)
def test_bce_rejects_eps_outside_zero_to_one_half(function, eps):
    with pytest.raises(ValueError, match=r"eps must be in \[0, 0\.5\)"):
        function(0.5, 1.0, eps=eps)


def test_a_non_numeric_hyperparameter_is_rejected_with_its_name():
    with pytest.raises(ValueError, match="delta must be a number"):
        losslab.huber(1.0, 2.0, delta="big")


# ------------------------------------------------------------ class indices and axes


@pytest.mark.parametrize("index", [3, -1, 10])
@pytest.mark.parametrize(
    "function",
    [losslab.cross_entropy, losslab.cross_entropy_grad, losslab.kl_divergence_with_logits, losslab.brier_with_logits],
    ids=lambda f: f.__name__,
)
def test_class_indices_out_of_range_are_rejected(function, index):
    with pytest.raises(ValueError, match=rf"class index {index} is out of range; expected 0 to 2"):
        function(np.zeros((2, 3)), np.array([0, index]))


def test_float_class_indices_that_cannot_be_probabilities_are_rejected():
    # [0.5, 1.5] looks like class indices but is neither integer nor a (2, 3) target
    with pytest.raises(ValueError) as error:
        losslab.cross_entropy(np.zeros((2, 3)), np.array([0.5, 1.5]))
    assert_message_mentions(error, "(2, 3)", "(2,)")
    # float "indices" that happen to broadcast as a probability row are out of [0, 1]
    with pytest.raises(ValueError, match=r"target.*\[0, 1\].*2\.0"):
        losslab.cross_entropy(np.zeros((3, 3)), np.array([0.0, 2.0, 1.0]))


@pytest.mark.parametrize(
    ("function", "name"),
    [
        (losslab.softmax, "z"), (losslab.log_softmax, "z"), (losslab.logsumexp, "z"),
        (losslab.softmax_naive, "z"),
    ],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_activations_reject_an_empty_class_axis(function, name):
    with pytest.raises(ValueError, match=rf"{name} has an empty class axis.*at least one class"):
        function(np.zeros((2, 0)))


@pytest.mark.parametrize("function", CLASS_AXIS, ids=lambda f: f.__name__)
def test_class_axis_losses_reject_an_empty_class_axis(function):
    with pytest.raises(ValueError, match="empty class axis"):
        function(np.zeros((2, 0)), np.zeros((2, 0)))


def test_cross_entropy_with_indices_rejects_an_empty_class_axis():
    with pytest.raises(ValueError, match="empty class axis"):
        losslab.cross_entropy(np.zeros((2, 0)), np.array([0, 0]))


def test_out_of_range_axis_and_scalar_logits_are_rejected():
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        losslab.softmax([1.0, 2.0], axis=3)
    with pytest.raises(ValueError, match="class axis"):
        losslab.softmax(3.0)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        losslab.cross_entropy(np.zeros((2, 3)), np.full((2, 3), 1 / 3), axis=2)


# ------------------------------------------------------------ reductions


ALL_LOSSES = [
    (losslab.mse, 1.0, 2.0), (losslab.mae, 1.0, 2.0), (losslab.huber, 1.0, 2.0),
    (losslab.log_cosh, 1.0, 2.0), (losslab.quantile, 1.0, 2.0), (losslab.bce, 0.5, 1.0),
    (losslab.bce_with_logits, 0.5, 1.0), (losslab.sigmoid_mse, 0.5, 1.0), (losslab.focal, 0.5, 1.0),
    (losslab.hinge, 0.5, 1.0), (losslab.cross_entropy, [1.0, 2.0], [0.0, 1.0]),
    (losslab.cross_entropy_from_probs, [0.5, 0.5], [0.0, 1.0]), (losslab.kl_divergence, [0.5, 0.5], [0.0, 1.0]),
    (losslab.kl_divergence_with_logits, [1.0, 2.0], [0.0, 1.0]), (losslab.brier, [0.5, 0.5], [0.0, 1.0]),
    (losslab.brier_with_logits, [1.0, 2.0], [0.0, 1.0]),
]


@pytest.mark.parametrize("reduction", ["avg", "MEAN", "", None, "max"])
@pytest.mark.parametrize(("loss", "first", "second"), ALL_LOSSES, ids=lambda v: getattr(v, "__name__", ""))
def test_unknown_reduction_is_rejected_with_the_valid_choices(loss, first, second, reduction):
    with pytest.raises(ValueError, match=r"reduction must be one of \('mean', 'sum', 'none'\)"):
        loss(first, second, reduction=reduction)


def test_mean_of_an_empty_input_is_rejected_but_sum_is_zero():
    with pytest.raises(ValueError, match="empty"):
        losslab.mse([], [])
    assert losslab.mse([], [], reduction="sum") == 0.0


# ------------------------------------------------------------ non-numeric input


@pytest.mark.parametrize(("loss", "first", "second"), ALL_LOSSES, ids=lambda v: getattr(v, "__name__", ""))
def test_strings_as_predictions_are_rejected(loss, first, second):
    with pytest.raises(ValueError, match="must be numbers"):
        loss("abc", second)


@pytest.mark.parametrize(("loss", "first", "second"), ALL_LOSSES, ids=lambda v: getattr(v, "__name__", ""))
def test_strings_as_targets_are_rejected(loss, first, second):
    with pytest.raises(ValueError, match="must be numbers"):
        loss(first, ["x"] * np.size(first))


@pytest.mark.parametrize(
    "function",
    [losslab.sigmoid, losslab.log_sigmoid, losslab.softplus, losslab.logit, losslab.softmax,
     losslab.log_softmax, losslab.logsumexp],
    ids=lambda f: f.__name__,
)
def test_activations_reject_strings_and_complex_numbers(function):
    with pytest.raises(ValueError, match=r"(z|p) must be numbers"):
        function("abc")
    with pytest.raises(ValueError, match="real numbers"):
        function([1 + 2j, 0.5])


def test_mixed_object_input_is_rejected_as_not_numbers():
    with pytest.raises(ValueError, match="pred must be numbers"):
        losslab.mse([1.0, "2"], [1.0, 2.0])
    with pytest.raises(ValueError, match="pred must be numbers"):
        losslab.mse([[1.0], [1.0, 2.0]], [1.0])


def test_link_chains_reject_strings():
    with pytest.raises(ValueError, match="grad_prob must be numbers"):
        links.sigmoid_chain("a", [1.0])
    with pytest.raises(ValueError, match="logits must be numbers"):
        links.softmax_chain([1.0], "a")


# ------------------------------------------------------------ registry


def test_unknown_registry_key_lists_the_known_keys():
    with pytest.raises(ValueError, match=r"unknown loss 'nope'; expected one of \[.*'mse'.*\]"):
        registry.get("nope")


def test_unknown_task_is_rejected():
    with pytest.raises(ValueError, match=r"unknown task 'sequences'; expected one of \(.*'ranking'"):
        registry.for_task("sequences")


@pytest.mark.parametrize("spec", [s for s in registry.LOSSES if s.parameters], ids=lambda s: s.key)
def test_every_registry_parameter_rejects_values_outside_its_range_by_name(spec):
    for parameter in spec.parameters:
        outside = [math.nan, math.inf]
        if parameter.valid.low is not None:
            outside.append(parameter.valid.low - 1.0)
        if parameter.valid.high is not None:
            outside.append(parameter.valid.high + 1.0)
        for value in outside:
            with pytest.raises(ValueError, match=parameter.name):
                parameter.validate(value)


# Story parameters that are inputs of the core function (an encoder's log-variance, the negatives'
# similarity), not hyperparameters: any real value is a valid input there, and the range in the
# registry is the slider's.
CORE_INPUTS = {("gaussian_kl", "logvar"), ("info_nce", "negative_similarity")}


@pytest.mark.parametrize("spec", [s for s in registry.LOSSES if s.parameters], ids=lambda s: s.key)
def test_every_registry_function_rejects_a_hyperparameter_below_its_range(spec):
    """The functions themselves (not only the slider's Parameter) refuse a value below the valid range."""
    pred, target, _ = prediction_inputs(spec, spec.defaults(), np.random.default_rng(10))
    functions = [f for f in (spec.loss, spec.grad, spec.loss_from_logit, spec.grad_from_logit) if f]
    for parameter in spec.parameters:
        low = parameter.valid.low
        if low is None or low - 1.0 < -1e6 or (spec.key, parameter.name) in CORE_INPUTS:
            continue
        for function in functions:
            for value in (low - 1.0, math.nan):
                with pytest.raises(ValueError):
                    function(pred, target, **{**spec.defaults(), parameter.name: value})


def test_registry_parameters_validate_with_their_name():
    delta = registry.get("huber").parameters[0]
    with pytest.raises(ValueError, match="delta"):
        delta.validate(0.0)
    assert delta.validate("2.5") == 2.5


@pytest.mark.parametrize("spec", [s for s in registry.LOSSES if s.hard_labels_only], ids=lambda s: s.key)
@pytest.mark.parametrize("label", [0.3, 2.0, -1.0, math.nan])
def test_hard_label_registry_functions_reject_any_other_label(spec, label):
    """0/1 only: a soft, out-of-range or NaN label is an error, not read silently as one of the classes."""
    rng = np.random.default_rng(12)
    pred, target, _ = prediction_inputs(spec, spec.defaults(), rng)
    pairs = [(spec.loss, pred), (spec.grad, pred)]
    if spec.loss_from_logit is not None:
        z, _ = logit_inputs(spec, spec.defaults(), rng)
        pairs += [(spec.loss_from_logit, z), (spec.grad_from_logit, z)]
    target = target.copy()
    target.flat[3] = label
    for function, x in pairs:
        with pytest.raises(ValueError, match="target"):
            function(x, target, **spec.defaults())
