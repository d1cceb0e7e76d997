"""The numbers printed in the source chapter, reproduced through the public API.

Expected values are the chapter's printed output and closed forms written here
(e.g. 2 p (p - y)(1 - p)), never losslab's own output.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import losslab
from losslab import links

REPO_ROOT = Path(__file__).resolve().parents[2]

P_WRONG = 0.99  # predicted 0.99 but the true label is 0
STABLE_1000 = [0.66524096, 0.24472847, 0.09003057]  # printed by the chapter


def _closed_form_softmax(row):
    weights = [math.exp(v - max(row)) for v in row]
    total = math.fsum(weights)
    return [w / total for w in weights]


def test_bce_logit_gradient_for_confident_wrong_prediction_is_0_9900():
    z = losslab.logit(P_WRONG)
    grad = losslab.bce_with_logits_grad(z, 0)
    assert f"{abs(grad):.4f}" == "0.9900"
    assert_allclose(grad, P_WRONG - 0, rtol=1e-13)


def test_sigmoid_mse_logit_gradient_for_confident_wrong_prediction_is_0_0196():
    z = losslab.logit(P_WRONG)
    grad = losslab.sigmoid_mse_grad(z, 0)
    assert f"{abs(grad):.4f}" == "0.0196"
    assert_allclose(grad, 2 * (P_WRONG - 0) * P_WRONG * (1 - P_WRONG), rtol=1e-12)


def test_bce_probability_gradient_chained_through_sigmoid_gives_0_9900():
    z = losslab.logit(P_WRONG)
    grad = links.sigmoid_chain(losslab.bce_grad(P_WRONG, 0), z)
    assert f"{abs(grad):.4f}" == "0.9900"
    assert_allclose(grad, P_WRONG, rtol=1e-12)


def test_mse_probability_gradient_chained_through_sigmoid_gives_0_0196():
    z = losslab.logit(P_WRONG)
    grad = losslab.sigmoid_chain(losslab.mse_grad(P_WRONG, 0), z)
    assert f"{abs(grad):.4f}" == "0.0196"
    assert_allclose(grad, 2 * P_WRONG * P_WRONG * (1 - P_WRONG), rtol=1e-12)


def test_bce_gradient_is_fifty_times_the_mse_gradient_when_confidently_wrong():
    z = losslab.logit(P_WRONG)
    ratio = losslab.bce_with_logits_grad(z, 0) / losslab.sigmoid_mse_grad(z, 0)
    # (p - y) / (2 (p - y) p (1 - p)) = 1 / (2 * 0.99 * 0.01)
    assert_allclose(ratio, 1 / (2 * P_WRONG * (1 - P_WRONG)), rtol=1e-12)


@pytest.mark.parametrize(
    ("row", "printed"),
    [
        ([2.0, 1.0, 0.1, -1.0], [0.638, 0.235, 0.095, 0.032]),
        ([5.0, 1.0, 0.1, -1.0], [0.973, 0.018, 0.007, 0.002]),
        ([50.0, 1.0, 0.1, -1.0], [1.0, 0.0, 0.0, 0.0]),
    ],
)
def test_softmax_rows_round_to_the_chapter_values(row, printed):
    probabilities = losslab.softmax(row)
    assert_array_equal(np.round(probabilities, 3), printed)
    assert_allclose(probabilities, _closed_form_softmax(row), rtol=1e-13, atol=1e-300)


def test_softmax_over_a_batch_matches_each_row_of_the_chapter_table():
    logits = np.array([[2.0, 1.0, 0.1, -1.0], [5.0, 1.0, 0.1, -1.0], [50.0, 1.0, 0.1, -1.0]])
    expected = [_closed_form_softmax(list(row)) for row in logits]
    assert_allclose(losslab.softmax(logits), expected, rtol=1e-13, atol=1e-300)
    # The chapter's own layout: classes down axis 0.
    assert_allclose(losslab.softmax(logits.T, axis=0), np.array(expected).T, rtol=1e-13, atol=1e-300)


def test_naive_softmax_of_large_logits_is_all_nan():
    result = losslab.softmax_naive([1000.0, 999.0, 998.0])
    assert result.shape == (3,)
    assert np.isnan(result).all()


def test_stable_softmax_of_large_logits_matches_the_chapter_printout():
    result = losslab.softmax([1000, 999, 998])
    assert_allclose(result, STABLE_1000, rtol=1e-7)
    # closed form: e^{-k} / (1 + e^{-1} + e^{-2})
    total = 1 + math.exp(-1) + math.exp(-2)
    assert_allclose(result, [1 / total, math.exp(-1) / total, math.exp(-2) / total], rtol=1e-14)


def test_stable_softmax_equals_naive_softmax_where_naive_does_not_overflow():
    z = np.array([3.0, 2.0, 1.0])
    assert_allclose(losslab.softmax(z), losslab.softmax_naive(z), rtol=1e-14)
    assert_allclose(losslab.softmax(z + 997.0), STABLE_1000, rtol=1e-7)


def test_package_docstring_example_prints_the_chapter_values_in_a_fresh_interpreter():
    completed = subprocess.run(
        [
            sys.executable,
            "-W",
            "error::RuntimeWarning",
            "-c",
            "import losslab; print(losslab.softmax([1000, 999, 998]))",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    printed = completed.stdout.strip()
    assert printed.startswith("[") and printed.endswith("]"), printed
    values = [float(token) for token in printed.strip("[]").split()]
    assert_allclose(values, STABLE_1000, rtol=1e-7)
    assert printed == "[0.66524096 0.24472847 0.09003057]"
