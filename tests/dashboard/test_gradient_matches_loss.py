"""Each gradient curve is the derivative of the loss curve drawn beside it, and the readout's gradient is the
curve's at the marker.

The reference is independent of the view: the registry's loss of the logits (``loss_from_logit``, exact
where the probability rounds to 1) differenced at a relative step of 1e-6, or the closed form. A curve built
from the rounded probability sigmoid(z) is flat (0, or BCE's clip at 1e-12) where the true loss still falls
like e^-z, while its gradient kept falling: the two charts disagreed. ``LOSSLAB_LONG=1`` also sweeps
random states of every Tversky-type parameter.
"""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

from losslab import registry
from losslab.activations import logit
from losslab.dashboard import export, views

SEGMENTATION = views.get("segmentation")
KEYS = ("soft_dice", "soft_iou", "tversky", "focal_tversky", "combo", "bce")


def reference_loss(key: str, z: np.ndarray, numbers: dict) -> np.ndarray:
    """The region's loss at object logits z, from the registry's logit form (mpmath-free, independent of the view)."""
    k, m, b = int(numbers["foreground"]), int(numbers["background"]), float(numbers["background_probability"])
    spec = registry.get(key)
    rows = np.empty((z.size, k + m))
    rows[:, :k] = z[:, None]
    # BCE's background pixel at b = 1 keeps the registry's clip (1 - 1e-12), as on the probability axis;
    # it is a constant of z, so the clip never bends a curve
    rows[:, k:] = logit(min(b, 1 - 1e-12) if key in ("bce", "combo") else b)
    mask = np.concatenate([np.ones(k), np.zeros(m)])
    kwargs = {p.name: float(numbers[p.name]) for p in spec.parameters}
    with np.errstate(over="ignore"):
        loss = np.asarray(spec.loss_from_logit(rows, mask, **kwargs), dtype=np.float64)
    return loss.mean(axis=-1) if key == "bce" else loss


def charted(view, state) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return export.curve_columns(view.motion_figures(state))


def assert_segmentation_logit_axis_matches(query: str) -> None:
    state = SEGMENTATION.parse_query(query)
    assert state.notices == ()
    columns = charted(SEGMENTATION, state)
    numbers = state.numbers
    problems = []
    for key in state.losses:
        label = "BCE (pixel mean)" if key == "bce" else registry.get(key).label
        x, loss = columns[f"Loss: {label}"]
        _, grad = columns[f"Gradient dL/dz: {label}"]
        inner = x[1:-1]
        step = 1e-6 * np.maximum(np.abs(inner), 1.0)
        with np.errstate(over="ignore", invalid="ignore"):
            expected_grad = (reference_loss(key, inner + step, numbers)
                             - reference_loss(key, inner - step, numbers)) / (2 * step)
        expected_loss = reference_loss(key, x, numbers)
        # where the loss's rounding (about 2e-16 |L| over the step) is not 1e-5 of the slope, the difference
        # measures rounding, not the slope: not compared there
        noise = 2.3e-16 * np.maximum(np.abs(expected_loss[:-2]), np.abs(expected_loss[2:])) / step
        usable = np.isfinite(expected_grad) & (np.abs(expected_grad) > np.maximum(1e5 * noise, 1e-280))
        finite_loss = expected_loss[np.isfinite(expected_loss)]
        if not usable.any() and finite_loss.size and np.ptp(finite_loss) > 0:
            problems.append(f"{key}: the loss varies but no point's slope is measurable: nothing compared")
        if not np.allclose(grad[1:-1][usable], expected_grad[usable], rtol=1e-4, atol=0):
            worst = np.argmax(np.abs(grad[1:-1][usable] - expected_grad[usable]) / np.abs(expected_grad[usable]))
            problems.append(f"{key} dL/dz at z={inner[usable][worst]!r}: drawn {grad[1:-1][usable][worst]!r}, "
                            f"derivative {expected_grad[usable][worst]!r}")
        if not np.allclose(loss, expected_loss, rtol=1e-9, atol=0):
            worst = np.argmax(np.abs(loss - expected_loss) / np.maximum(np.abs(expected_loss), 1e-300))
            problems.append(f"{key} loss at z={x[worst]!r}: drawn {loss[worst]!r}, exact {expected_loss[worst]!r}")
    assert not problems, "\n".join(problems)


# x typed next to 0 or 1 widens the logit axis to where sigmoid(z) rounds to 0 or 1.
SEGMENTATION_LOGIT_QUERIES = [
    "?axis=logit&x=0.9999999999999999&background=0&losses=" + ",".join(KEYS),
    "?axis=logit&x=0.9999999999999998&losses=" + ",".join(KEYS),
    "?axis=logit&x=1e-300&losses=" + ",".join(KEYS),
    "?axis=logit&x=0.9999999999999999&background=2000&background_probability=0.9999999999999999&smooth=1.5e41"
    "&alpha=1e-300&beta=4.7e75&losses=tversky,soft_dice",
    "?axis=logit&x=0.5&background_probability=1&losses=" + ",".join(KEYS),
]


@pytest.mark.parametrize("query", SEGMENTATION_LOGIT_QUERIES)
def test_segmentation_logit_axis_draws_the_loss_of_z_and_its_derivative(query):
    assert_segmentation_logit_axis_matches(query)


@pytest.mark.parametrize("query", SEGMENTATION_LOGIT_QUERIES)
def test_segmentation_readout_is_the_curve_at_the_marker(query):
    """The readout's loss and dL/dz at the typed x equal the reference at z = logit(x)."""
    state = SEGMENTATION.parse_query(query)
    z = np.array([float(logit(state.number("x")))])
    rows = {row.key: row for row in SEGMENTATION.build(state).readout.rows}
    for key in state.losses:
        step = 1e-6 * max(abs(z[0]), 1.0)
        with np.errstate(over="ignore", invalid="ignore"):
            derivative = float((reference_loss(key, z + step, state.numbers)
                                - reference_loss(key, z - step, state.numbers))[0] / (2 * step))
        expected_loss = float(reference_loss(key, z, state.numbers)[0])
        assert rows[key].loss == pytest.approx(expected_loss, rel=1e-9), key
        noise = 2.3e-16 * abs(expected_loss) / step
        if abs(derivative) > max(1e5 * noise, 1e-280):
            assert rows[key].grad_logit == pytest.approx(derivative, rel=1e-4), key


def test_segmentation_logit_axis_matches_over_random_states():
    """60 random states with LOSSLAB_LONG=1 (about a second each); by default one state with x inside (0, 1),
    where every point of every curve is compared (random x near 0 leave only a few points comparable)."""
    if not os.environ.get("LOSSLAB_LONG"):
        assert_segmentation_logit_axis_matches(
            "?axis=logit&x=0.37&foreground=7&background=300&background_probability=0.2&smooth=0.5&alpha=0.3"
            "&beta=0.7&gamma=1.5&bce_weight=0.4&losses=" + ",".join(KEYS))
        return
    rng = random.Random(62)
    for _ in range(60):
        x = rng.choice([10 ** -rng.uniform(0, 300), 1 - 10 ** -rng.uniform(1, 16), rng.random()])
        query = (f"?axis=logit&x={x!r}&foreground={rng.randint(1, 100)}&background={rng.randint(0, 2000)}"
                 f"&background_probability={rng.choice([0.0, 1.0, rng.random()])!r}"
                 f"&smooth={10 ** rng.uniform(-3, 3)!r}&alpha={rng.random()!r}&beta={rng.random()!r}"
                 f"&gamma={rng.uniform(0.5, 3)!r}&bce_weight={rng.random()!r}&losses=" + ",".join(KEYS))
        assert_segmentation_logit_axis_matches(query)


@pytest.mark.parametrize("x", ["1e-300", "1e-13", "5e-324"])
def test_segmentation_probability_axis_bce_is_unclipped_like_its_gradient(x):
    """Below x = 1e-12 the BCE curve was the registry's clip (flat at 27.6 k/n) while dL/dx stayed at the clipped
    point's -1e12 k/n, not the flat loss's 0: now both unclipped, -k log(x)/n and -k/(n x) with b = 0."""
    state = SEGMENTATION.parse_query(f"?x={x}&background_probability=0&bce_weight=1&losses=bce,combo")
    k, n = state.number("foreground"), state.number("foreground") + state.number("background")
    columns = charted(SEGMENTATION, state)
    rows = {row.key: row for row in SEGMENTATION.build(state).readout.rows}
    for key, label in (("bce", "BCE (pixel mean)"), ("combo", "Combo (BCE + Dice)")):
        first, loss = columns[f"Loss: {label}"]
        _, grad = columns[f"Gradient dL/dx: {label}"]
        for at, drawn_loss, drawn_grad in ((first[0], loss[0], grad[0]),
                                           (float(x), rows[key].loss, rows[key].grad_prediction)):
            assert drawn_loss == pytest.approx(-k * np.log(at) / n, rel=1e-12), (key, at)
            with np.errstate(over="ignore", divide="ignore"):
                expected_grad = -k / (n * at)
            assert drawn_grad == pytest.approx(expected_grad, rel=1e-12), (key, at)


def test_segmentation_combo_with_no_bce_share_is_dice_at_the_smallest_x():
    """bce_weight = 0: combo is the Dice loss; 0 times the unclipped BCE's dL/dx (-inf at x = 5e-324) must
    not make it NaN (a RuntimeWarning, so no chart at all)."""
    state = SEGMENTATION.parse_query("?x=5e-324&bce_weight=0&losses=combo,soft_dice")
    columns = charted(SEGMENTATION, state)
    for chart in ("Loss", "Gradient dL/dx"):
        np.testing.assert_allclose(columns[f"{chart}: Combo (BCE + Dice)"][1], columns[f"{chart}: Soft Dice"][1],
                                   rtol=1e-12)
    rows = {row.key: row for row in SEGMENTATION.build(state).readout.rows}
    assert rows["combo"].loss == pytest.approx(rows["soft_dice"].loss, rel=1e-12)
    assert rows["combo"].grad_prediction == pytest.approx(rows["soft_dice"].grad_prediction, rel=1e-12)
