"""The sigmoid-link losses as functions of the probability p (``links.on_probability``, ``links.grad_on_probability``)
against mpmath closed forms in p, from p = 5e-324 to 1 - 2^-53, float64 and float32.

The references are written in p itself (no logit is rounded): hinge max(0, 1 - t z) with z = log(p / (1 - p)) and
t = 2y - 1, its derivative -t / (p (1 - p)); the exponential loss (q/p)^t with q = 1 - p, derivative -t e^(-tz) /
(p q); the GAN losses' -log p, -log(1 - p), log(1 - p) and -1/p, 1/(1 - p), -1/(1 - p); focal (1 - p_t)^gamma times
BCE(p, y). ``LOSSLAB_LONG=1`` runs a denser grid of p.
"""

from __future__ import annotations

import math
import os

import mpmath
import numpy as np
import pytest

from losslab import registry

LONG = bool(os.environ.get("LOSSLAB_LONG"))
BOUND = 4.0  # ulp, the project's bound where the function is well-conditioned


def _probabilities(dtype) -> list[float]:
    """Tiny, ordinary and near-1 probabilities of ``dtype``: the ends, where the logit is far from 0."""
    info = np.finfo(dtype)
    smallest = float(np.nextafter(dtype(0), dtype(1)))
    exponents = range(-1074 if dtype == np.float64 else -149, 0, 3 if LONG else 37)
    tiny = [smallest, float(info.tiny), *(math.ldexp(1.0, e) * 1.37 for e in exponents)]
    near_one = [1 - math.ldexp(1.0, -k) for k in range(1, info.nmant + 2, 1 if LONG else 4)]
    near_one.append(float(np.nextafter(dtype(1), dtype(0))))
    values = [float(dtype(p)) for p in [*tiny, 1e-240, 1e-12, 0.01, 0.2689, 0.3, 0.5, 0.7311, 0.9, *near_one]]
    return sorted({p for p in values if 0 < p < 1})


def _hinge_t(y):
    return 2 * y - 1


def _z(p):
    return mpmath.log(p / (1 - p))


def _bce(p, y):
    return -(y * mpmath.log(p) + (1 - y) * mpmath.log1p(-p)) if y not in (0, 1) else (
        -mpmath.log(p) if y == 1 else -mpmath.log1p(-p))


def _focal(p, y, gamma):
    a = y * (1 - p) + (1 - y) * p  # 1 - p_t, written without cancelling
    return a**gamma * _bce(p, y)


def _focal_grad(p, y, gamma):
    a = y * (1 - p) + (1 - y) * p
    bce_slope = (p - y) / (p * (1 - p))
    first = gamma * a ** (gamma - 1) * (1 - 2 * y) * _bce(p, y) if gamma else 0
    return first + a**gamma * bce_slope


# key: (loss(p, y, params), dloss/dp(p, y, params), labels)
REFERENCES = {
    "hinge": (lambda p, y, k: max(0, 1 - _hinge_t(y) * _z(p)),
              lambda p, y, k: -_hinge_t(y) / (p * (1 - p)) if _hinge_t(y) * _z(p) < 1 else 0, (0.0, 1.0)),
    "squared_hinge": (lambda p, y, k: max(0, 1 - _hinge_t(y) * _z(p)) ** 2,
                      lambda p, y, k: -2 * _hinge_t(y) * max(0, 1 - _hinge_t(y) * _z(p)) / (p * (1 - p)),
                      (0.0, 1.0)),
    "exponential": (lambda p, y, k: ((1 - p) / p) ** _hinge_t(y),
                    lambda p, y, k: -_hinge_t(y) * ((1 - p) / p) ** _hinge_t(y) / (p * (1 - p)), (0.0, 1.0)),
    "gan_discriminator": (lambda p, y, k: -mpmath.log(p) if y else -mpmath.log1p(-p),
                          lambda p, y, k: -1 / p if y else 1 / (1 - p), (0.0, 1.0)),
    "gan_generator_minimax": (lambda p, y, k: mpmath.log1p(-p), lambda p, y, k: -1 / (1 - p), (0.0,)),
    "gan_generator_nonsaturating": (lambda p, y, k: -mpmath.log(p), lambda p, y, k: -1 / p, (0.0,)),
    "focal": (lambda p, y, k: _focal(p, y, k["gamma"]), lambda p, y, k: _focal_grad(p, y, k["gamma"]),
              (0.0, 1.0, 0.25)),
}
PARAMETERS = {"focal": [{"gamma": 2.0}, {"gamma": 0.5}, {"gamma": 5.0}]}


def ulp_error(computed: float, exact, dtype) -> float:
    """Error in ulp of the exact value (float64) or of the float32-rounded one (float32); inf where the exact
    value is finite in ``dtype`` and the computed one is not (or the other way round)."""
    info = np.finfo(dtype)
    bits, smallest = (53, -1074) if dtype == np.float64 else (24, -149)
    nearest = float(dtype(float(exact))) if abs(exact) <= info.max else math.copysign(math.inf, exact)
    if math.isinf(nearest) or math.isinf(computed):
        return 0.0 if computed == nearest else math.inf
    ulp = max(math.ldexp(1.0, math.frexp(nearest)[1] - bits), math.ldexp(1.0, smallest)) if nearest else (
        math.ldexp(1.0, smallest))
    reference = exact if dtype == np.float64 else mpmath.mpf(nearest)
    return float(abs(mpmath.mpf(computed) - reference)) / ulp


def _well_conditioned(key, p, y, k) -> bool:
    """Away from the hinges' kink t z = 1 (where the loss passes through 0 and p -> z cannot be exact) and
    focal's soft-label zero of the gradient."""
    if key in ("hinge", "squared_hinge"):
        return abs(1 - _hinge_t(y) * _z(p)) > 1e-6
    if key == "focal" and y not in (0, 1):
        return abs(p - y) > 0.05
    return True


def _logit_gradient_underflows(grad, p, dtype) -> bool:
    """dL/dz = dL/dp p (1 - p) below the normal range while dL/dp is not (focal, y = 0, p^(gamma + 1) tiny): the
    logit-space gradient the chain rule divides has lost its digits (a limit of the logit-space kernels)."""
    return 0 < abs(grad * p * (1 - p)) < np.finfo(dtype).tiny


def _cases():
    for key, (_, _, labels) in REFERENCES.items():
        for params in PARAMETERS.get(key, [{}]):
            for dtype in (np.float64, np.float32):
                label = "-".join(f"{n}={v:g}" for n, v in params.items()) or "defaults"
                yield pytest.param(key, params, dtype, labels, id=f"{key}-{label}-{dtype.__name__}")


@pytest.mark.parametrize(("key", "params", "dtype", "labels"), list(_cases()))
def test_probability_space_loss_and_gradient_are_within_4_ulp_of_mpmath(key, params, dtype, labels):
    spec = registry.get(key)
    loss_reference, grad_reference, _ = REFERENCES[key]
    p = np.array(_probabilities(dtype), dtype=dtype)
    worst = {"loss": (0.0, None), "grad": (0.0, None)}
    with mpmath.workdps(60):
        for y in labels:
            target = np.full_like(p, y)
            got = {"loss": np.asarray(spec.loss(p, target, **params)), "grad": np.asarray(spec.grad(p, target, **params))}
            assert got["loss"].dtype == dtype and got["grad"].dtype == dtype
            for i, pi in enumerate(p):
                exact_p = mpmath.mpf(float(pi))
                if not _well_conditioned(key, exact_p, y, params):
                    continue
                for name, reference in (("loss", loss_reference), ("grad", grad_reference)):
                    if name == "grad" and _logit_gradient_underflows(grad_reference(exact_p, y, params), exact_p, dtype):
                        continue
                    error = ulp_error(float(got[name][i]), reference(exact_p, y, params), dtype)
                    if error > worst[name][0]:
                        worst[name] = (error, (float(pi), y, float(got[name][i])))
    assert worst["loss"][0] <= BOUND and worst["grad"][0] <= BOUND, worst
