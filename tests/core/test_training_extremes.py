"""Gradient descent on one logit from the ends of what the /training view accepts (p̂₀ = 5e-324, ...).

Expected values come from closed forms: the exponential loss of a logit z with label 1 is exp(-z),
and from p̂₀ = 5e-324 (z₀ = log(5e-324) ≈ -744.44) that is about 1e323, past float max, as is its
gradient -exp(-z).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from losslab import training


def quietly(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return function(*args, **kwargs)


@pytest.mark.parametrize("start", [5e-324, 1e-320])
def test_a_run_whose_start_loss_overflows_never_reaches_a_tenth_of_it(start):
    # exp(-z0) = 1 / start > float max: loss[0] is inf, the gradient -inf, the run diverges at step 0 and
    # holds inf. "loss <= 0.1 * loss[0]" read inf <= inf and reported a tenth of the start at step 0
    z0 = math.log(start)
    assert -z0 > math.log(np.finfo(np.float64).max)  # the true start loss exp(-z0) is past float max
    (run,) = quietly(training.descend_logit, ["exponential"], start=start, target=1.0, learning_rate=1.0, steps=20)
    assert run.loss[0] == math.inf and run.diverged and run.diverged_at == 0
    assert run.steps_to_tenth_loss is None


def test_a_finite_start_loss_still_counts_its_tenth():
    # exp(-z) from p0 = 0.01, y = 1: z0 = log(0.01/0.99); z_{t+1} = z_t + eta exp(-z_t), unrolled by hand
    z, losses = math.log(0.01 / 0.99), []
    for _ in range(21):
        losses.append(math.exp(-z))
        z += 0.1 * math.exp(-z)
    expected = next(t for t, value in enumerate(losses) if value <= 0.1 * losses[0])
    (run,) = quietly(training.descend_logit, ["exponential"], start=0.01, target=1.0, learning_rate=0.1, steps=20)
    np.testing.assert_allclose(run.loss, losses, rtol=1e-12)
    assert run.steps_to_tenth_loss == expected
