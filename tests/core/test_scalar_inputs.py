"""Python scalars and 0-d arrays take the same paths as arrays, at every extreme.

Regression guard for a user-visible bug: ``log_cosh(20.0, 0.0)`` raised
``TypeError`` because its far-residual branch assigned into a NumPy scalar,
so typing ŷ = 100 left the regression view frozen. Every loss and gradient in
the registry is called here with scalar and 0-d inputs on both sides of each
branch switch; the expected values are the same call on a one-element array.
"""

from __future__ import annotations

import numpy as np
import pytest

from losslab import registry

REGRESSION_POINTS = [(0.0, 0.0), (19.9, 0.0), (20.0, 0.0), (100.0, 0.0), (0.0, 100.0),
                     (800.0, 1.0), (-800.0, 0.0), (1e300, 0.0), (-1e300, 1.0)]
LOGIT_POINTS = [(0.0, 0.0), (20.0, 0.0), (-20.0, 1.0), (40.0, 1.0), (800.0, 0.0),
                (-800.0, 1.0), (1e300, 0.3), (-1e300, 0.7)]


def _cases():
    for spec in registry.LOSSES:
        if spec.task in ("regression", "robust"):
            for point in REGRESSION_POINTS:
                yield pytest.param(spec, "loss", point, id=f"{spec.key}-loss-{point}")
                yield pytest.param(spec, "grad", point, id=f"{spec.key}-grad-{point}")
        if spec.task == "binary":
            for point in LOGIT_POINTS:
                if spec.hard_labels_only and point[1] not in (0.0, 1.0):
                    continue
                yield pytest.param(spec, "loss_from_logit", point, id=f"{spec.key}-loss-{point}")
                yield pytest.param(spec, "grad_from_logit", point, id=f"{spec.key}-grad-{point}")


@pytest.mark.parametrize(("spec", "function", "point"), list(_cases()))
@pytest.mark.parametrize("wrap", [float, np.float64, np.asarray], ids=["python", "numpy-scalar", "0-d"])
def test_scalar_input_matches_one_element_array(spec, function, point, wrap):
    call = getattr(spec, function)
    prediction, target = point
    from_array = np.asarray(call(np.array([prediction]), target))
    from_scalar = np.asarray(call(wrap(prediction), wrap(target)))
    assert from_scalar.shape == ()
    np.testing.assert_array_equal(from_scalar, from_array[0])
