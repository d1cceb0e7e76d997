"""The chain rule through the output link: losslab.links.

References are closed forms (sigmoid'(z) = sigma(z) sigma(-z), the softmax Jacobian written out) and
the registry's own logit-space gradients divided by hand; no RuntimeWarning is allowed for finite input.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

from losslab import links, registry

from .atlas_checks import parameter_extremes, parameter_sets, per_row

EDGE_PROBABILITIES = [1e-300, 1 - 1e-16]  # the logit is about -690.8 and 36.7: the slope p (1 - p) is tiny


def quietly(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return function(*args, **kwargs)


def _sigmoid_cases():
    for spec in registry.LOSSES:
        if spec.link != "sigmoid":
            continue
        seen = []
        for params in [*parameter_sets(spec), *parameter_extremes(spec)]:
            if params not in seen:
                seen.append(params)
                label = "-".join(f"{k}={v:g}" for k, v in params.items()) or "defaults"
                yield pytest.param(spec, params, id=f"{spec.key}-{label}")


@pytest.mark.parametrize(("spec", "params"), list(_sigmoid_cases()))
def test_probability_space_gradients_of_sigmoid_specs_are_silent_near_zero_and_one(spec, params):
    """An overflowing d loss / dp (the exponential loss near p = 1 - 1e-16 with t = 0) is inf, without a warning."""
    if per_row(spec):
        prob = np.array([EDGE_PROBABILITIES, EDGE_PROBABILITIES[::-1], EDGE_PROBABILITIES])
        target = np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 1.0]])
    else:
        prob = np.repeat(EDGE_PROBABILITIES, 2)
        target = np.tile([0.0, 1.0], 2)
    gradient = quietly(spec.grad, prob, target, **params)
    assert not np.isnan(gradient).any(), gradient
    quietly(spec.loss, prob, target, **params)


def _exponential_of_logit(z, target):
    """e^(-yz) with y = 2t - 1, and its z-derivative -y e^(-yz): no overflow checks, a plain closed form."""
    y = 2 * np.asarray(target) - 1
    return -y * np.exp(-y * z)


def test_grad_on_probability_divides_by_the_sigmoid_slope_and_overflows_to_inf_silently():
    grad = links.grad_on_probability(_exponential_of_logit)
    p = np.array([0.25, 0.5, 0.9])
    z = np.log(p) - np.log1p(-p)
    assert_allclose(grad(p, np.array([1.0, 0.0, 1.0])),
                    _exponential_of_logit(z, np.array([1.0, 0.0, 1.0])) / (p * (1 - p)), rtol=1e-14)
    # p = 1e-300 with t = 1: -e^(690.8) / 1e-300 passes float max; next to it, finite values stay exact
    p = np.array([1e-300, 1 - 1e-16, 1e-300])
    result = quietly(grad, p, np.array([1.0, 0.0, 0.0]))
    assert np.isneginf(result[0]), result
    z = np.log(p[1:]) - np.log1p(-p[1:])
    assert_allclose(result[1:], np.exp(z) / (p[1:] * (1 - p[1:])), rtol=1e-12)
