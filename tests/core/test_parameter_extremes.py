"""Every registry loss at the ends of each parameter's accepted range, alone and in pairs.

The dashboard's text boxes accept a parameter's whole valid range (``LossParameter.valid``), not only
its slider's: 0 where it is allowed, the least float above an open 0 (5e-324), 1e-300, 1e300 for an
unbounded side, a closed end itself. test_extreme_inputs.py takes parameters to +-1e6 and open ends
to within 1e-6; here they go to the float range's edges, on the same extreme inputs. Every result
must come without a RuntimeWarning or an exception, and without NaN: an overflowing true value is
+-inf, an intermediate's overflow is a bug.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest

from losslab import registry

from .test_extreme_inputs import _extreme_inputs


def accepted_ends(valid) -> list[float]:
    """The ends of an interval a user can type: closed ends, the next float inside open ones, +-1e300 for
    unbounded sides, and 1e-300 where the interval holds it."""
    low, high = valid.low, valid.high
    ends = [-1e300 if low is None else low if valid.low_inclusive else math.nextafter(low, math.inf),
            1e300 if high is None else high if valid.high_inclusive else math.nextafter(high, -math.inf)]
    if valid.contains(1e-300):
        ends.append(1e-300)
    return [value for value in dict.fromkeys(ends) if valid.contains(value)]


def parameter_sets(spec) -> list[dict]:
    """Each parameter at each accepted end, then each pair of parameters at each pair of ends."""
    ends = {p.name: accepted_ends(p.valid) for p in spec.parameters}
    sets = [{**spec.defaults(), name: value} for name, values in ends.items() for value in values]
    for first, second in itertools.combinations(ends, 2):
        sets += [{**spec.defaults(), first: a, second: b} for a in ends[first] for b in ends[second]]
    return sets


def in_dtype(values, dtype) -> np.ndarray:
    """``values`` as ``dtype``, keeping float32's extremes inside what they were: a value past its range
    (1e300) becomes its largest finite value, not inf, and a probability strictly inside (0, 1) stays
    inside (1 - 1e-10 becomes the float32 below 1, not 1)."""
    wide = np.asarray(values, np.float64)
    info = np.finfo(dtype)
    narrow = np.clip(wide, -info.max, info.max).astype(dtype)
    inside = (wide > 0) & (wide < 1)
    narrow = np.where(inside & (narrow == 1), np.nextafter(dtype(1), dtype(0)), narrow)
    return np.where(inside & (narrow == 0), info.smallest_subnormal, narrow).astype(dtype)


def test_the_ends_reach_the_float_range():
    ends = accepted_ends(registry.get("huber").parameters[0].valid)  # delta > 0
    assert 5e-324 in ends and 1e300 in ends


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("spec", [s for s in registry.LOSSES if s.parameters], ids=lambda s: s.key)
def test_loss_and_gradient_are_silent_and_nan_free_at_every_accepted_parameter_end(spec, dtype):
    """float32 inputs too: a parameter past float32's range (a beta of 1e39) must not overflow a cast."""
    problems = {}
    for params in parameter_sets(spec):
        for function, x, target in _extreme_inputs(spec):
            x, target = in_dtype(x, dtype), in_dtype(target, dtype)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    result = np.asarray(function(x, target, **params))
                problem = "NaN in the result" if np.isnan(result).any() else None
            except Exception as error:  # collected and reported below
                problem = f"{type(error).__name__}: {error}"
            if problem:
                problems.setdefault((function.__name__, problem[:90]), params)
    assert not problems, "\n".join(f"{name} at {params}: {problem}" for (name, problem), params in problems.items())
