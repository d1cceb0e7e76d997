"""Python scalars and 0-d arrays take the same paths as arrays, at every extreme.

Regression guard for a user-visible bug: ``log_cosh(20.0, 0.0)`` raised
``TypeError`` because its far-residual branch assigned into a NumPy scalar,
so typing ŷ = 100 left the regression view frozen. Every loss and gradient in
the registry whose samples are single numbers is called here with scalar and
0-d inputs on both sides of each branch switch and at the extremes of its story
variable (logits, residuals, counts, box offsets, distances, angles, similarities,
score margins); the expected values are the same call on a one-element array.
The per-row specs (class distributions, segmentation regions, ListNet lists) are
checked in test_registry.py: a 1-D row gives a 0-d loss.
"""

from __future__ import annotations

import numpy as np
import pytest

from losslab import registry

from .atlas_checks import per_row, story_points

REGRESSION_POINTS = [(0.0, 0.0), (19.9, 0.0), (20.0, 0.0), (100.0, 0.0), (0.0, 100.0),
                     (800.0, 1.0), (-800.0, 0.0), (1e300, 0.0), (-1e300, 1.0)]
LOGIT_POINTS = [(0.0, 0.0), (20.0, 0.0), (-20.0, 1.0), (40.0, 1.0), (800.0, 0.0),
                (-800.0, 1.0), (1e300, 0.3), (-1e300, 0.7)]
WRAPS = {"python": float, "numpy-scalar": np.float64, "0-d": np.asarray}


def _points(spec):
    if spec.task in ("regression", "robust"):
        return REGRESSION_POINTS + story_points(spec)
    if spec.task == "binary" and not spec.hard_labels_only:
        return LOGIT_POINTS + story_points(spec)
    return story_points(spec)


def _cases():
    for spec in registry.LOSSES:
        if per_row(spec):
            continue
        names = ("loss_from_logit", "grad_from_logit") if spec.loss_from_logit else ("loss", "grad")
        for name in names:
            yield pytest.param(spec, name, id=f"{spec.key}-{name}")


def test_every_elementwise_spec_is_checked():
    checked = {case.values[0].key for case in _cases()}
    assert checked == {spec.key for spec in registry.LOSSES if not per_row(spec)}
    assert len(checked) >= 35


@pytest.mark.parametrize(("spec", "function"), list(_cases()))
def test_scalar_input_matches_one_element_array(spec, function):
    call = getattr(spec, function)
    params = spec.defaults()
    for prediction, target in _points(spec):
        from_array = np.asarray(call(np.array([prediction]), np.array([target]), **params))
        for wrap_name, wrap in WRAPS.items():
            from_scalar = np.asarray(call(wrap(prediction), wrap(target), **params))
            where = f"{spec.key}.{function}({prediction!r}, {target!r}) as {wrap_name}"
            assert from_scalar.shape == (), where
            assert from_scalar.dtype == np.float64, where
            np.testing.assert_array_equal(from_scalar, from_array[0], err_msg=where)
