"""Hyperparameters near float max give their true values (inf past the range) without a RuntimeWarning."""

from __future__ import annotations

import math
import warnings
from fractions import Fraction

import numpy as np
import pytest

import losslab

FLOAT64_MAX = float(np.finfo(np.float64).max)


def _rounded_product(a: float, b: float) -> float:
    exact = Fraction(a) * Fraction(b)
    return float(exact) if abs(exact) <= Fraction(FLOAT64_MAX) else (math.inf if exact > 0 else -math.inf)


@pytest.mark.parametrize("beta", [FLOAT64_MAX, 1e300])
def test_vae_elbo_mu_gradient_with_beta_near_float_max_is_beta_mu_without_a_warning(beta):
    rng = np.random.default_rng(61)
    recon, target = rng.uniform(0.1, 0.9, size=(4, 3)), (rng.uniform(size=(4, 3)) > 0.5).astype(float)
    mu, logvar = rng.normal(size=(4, 2)), rng.normal(size=(4, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # beta * mu overflowed with 'overflow encountered in multiply'
        _, (_, grad_mu, _) = losslab.vae_elbo_and_grad(recon, target, mu, logvar, beta=beta, reduction="none")
        separate = losslab.vae_elbo_grad(recon, target, mu, logvar, beta=beta)[1]
    expected = np.array([[_rounded_product(beta, m) for m in row] for row in mu])
    np.testing.assert_array_equal(grad_mu, expected)
    np.testing.assert_array_equal(separate, expected)
