"""IoU, GIoU, DIoU and CIoU losses on boxes (x1, y1, x2, y2).

torchvision cannot be installed here, so the references are: boxes worked out
by hand from the papers' formulas (exact fractions), those formulas evaluated
in mpmath, torchvision's published code transcribed into PyTorch below (for
its values, its eps placement and, through autograd, the exact gradients),
and 5-point central differences.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
import torch

from losslab import detection as det

from .atlas_checks import (
    as_float32,
    assert_float32_kept,
    assert_fused_matches,
    assert_gradients_match_differences,
    assert_reductions_agree,
    relative_error,
    scaled_error,
    torch_value_and_grads,
)

RNG = np.random.default_rng(1823)
NAMES = ("iou_loss", "giou", "diou", "ciou")


def random_boxes(n, low=0.0, high=10.0, size=(0.5, 5.0)):
    corner = RNG.uniform(low, high, (n, 2))
    extent = RNG.uniform(*size, (n, 2))
    return np.concatenate([corner, corner + extent], axis=-1)


PRED, TARGET = random_boxes(300), random_boxes(300)


# ------------------------------------------------------------ torchvision's code, transcribed


def _tv_inter_union(b1, b2):
    x1, y1, x2, y2 = b1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = b2.unbind(dim=-1)
    xkis1, ykis1 = torch.max(x1, x1g), torch.max(y1, y1g)
    xkis2, ykis2 = torch.min(x2, x2g), torch.min(y2, y2g)
    intsctk = torch.zeros_like(x1)
    mask = (ykis2 > ykis1) & (xkis2 > xkis1)
    intsctk[mask] = (xkis2[mask] - xkis1[mask]) * (ykis2[mask] - ykis1[mask])
    unionk = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - intsctk
    return intsctk, unionk


def tv_iou_loss(b1, b2, eps=1e-7):
    intsct, union = _tv_inter_union(b1, b2)
    return 1 - intsct / (union + eps)


def tv_giou(b1, b2, eps=1e-7):  # torchvision.ops.generalized_box_iou_loss
    intsctk, unionk = _tv_inter_union(b1, b2)
    iouk = intsctk / (unionk + eps)
    x1, y1, x2, y2 = b1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = b2.unbind(dim=-1)
    area_c = (torch.max(x2, x2g) - torch.min(x1, x1g)) * (torch.max(y2, y2g) - torch.min(y1, y1g))
    return 1 - (iouk - ((area_c - unionk) / (area_c + eps)))


def _tv_diou_iou(b1, b2, eps=1e-7):  # torchvision.ops.diou_loss._diou_iou_loss
    intsct, union = _tv_inter_union(b1, b2)
    iou = intsct / (union + eps)
    x1, y1, x2, y2 = b1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = b2.unbind(dim=-1)
    diagonal = (torch.max(x2, x2g) - torch.min(x1, x1g)) ** 2 + (torch.max(y2, y2g) - torch.min(y1, y1g)) ** 2 + eps
    centres = ((x2 + x1) / 2 - (x1g + x2g) / 2) ** 2 + ((y2 + y1) / 2 - (y1g + y2g) / 2) ** 2
    return 1 - iou + centres / diagonal, iou


def tv_diou(b1, b2, eps=1e-7):
    return _tv_diou_iou(b1, b2, eps)[0]


def tv_ciou(b1, b2, eps=1e-7, alpha_constant=False):  # torchvision.ops.complete_box_iou_loss
    diou, iou = _tv_diou_iou(b1, b2, eps)
    x1, y1, x2, y2 = b1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = b2.unbind(dim=-1)
    v = (4 / (torch.pi**2)) * torch.pow(torch.atan((x2g - x1g) / (y2g - y1g)) - torch.atan((x2 - x1) / (y2 - y1)), 2)
    if alpha_constant:  # what torchvision does: alpha under torch.no_grad()
        with torch.no_grad():
            alpha = v / (1 - iou + v + eps)
    else:
        alpha = v / (1 - iou + v + eps)
    return diou + alpha * v


TRANSCRIBED = {"iou_loss": tv_iou_loss, "giou": tv_giou, "diou": tv_diou, "ciou": tv_ciou}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("eps", [1e-7, 0.0, 0.5])
def test_values_and_exact_gradients_agree_with_torchvisions_formulas(name, eps):
    # a mix of overlapping, nested and disjoint pairs (random boxes in a 10 x 10 field)
    overlap = np.minimum(PRED[:, 2:], TARGET[:, 2:]) > np.maximum(PRED[:, :2], TARGET[:, :2])
    assert 0 < np.count_nonzero(overlap.all(-1)) < len(PRED)
    expected, (expected_grad,) = torch_value_and_grads(lambda p, t: TRANSCRIBED[name](p, t, eps), [PRED, TARGET], [0])
    loss, grad = getattr(det, f"{name}_and_grad")(PRED, TARGET, eps=eps, reduction="none")
    assert relative_error(loss, expected) < 1e-12
    for row, want in zip(grad, expected_grad, strict=True):
        assert scaled_error(row, want) < 1e-12


def test_ciou_gradient_differs_from_torchvisions_constant_alpha_update_by_v_times_dalpha():
    _, (full,) = torch_value_and_grads(lambda p, t: tv_ciou(p, t), [PRED, TARGET], [0])
    _, (constant_alpha,) = torch_value_and_grads(lambda p, t: tv_ciou(p, t, alpha_constant=True), [PRED, TARGET], [0])
    ours = det.ciou_grad(PRED, TARGET)
    assert scaled_error(ours, full) < 1e-12
    assert np.max(np.abs(ours - constant_alpha)) > 1e-3  # a real difference, not rounding


# ------------------------------------------------------------ hand-computed boxes


def _v(w, h, wg, hg):
    return 4 / math.pi**2 * (math.atan(wg / hg) - math.atan(w / h)) ** 2


HAND = [
    # shifted squares: I = 1, U = 7, C = 9, rho^2 = 2, c^2 = 18
    ((0, 0, 2, 2), (1, 1, 3, 3), {"iou_loss": 6 / 7, "giou": 6 / 7 + 2 / 9, "diou": 6 / 7 + 1 / 9,
                                  "ciou": 6 / 7 + 1 / 9}),
    # a wide and a tall box on one corner: I = 4, U = 12, C = 16, rho^2 = 2, c^2 = 32
    ((0, 0, 4, 2), (0, 0, 2, 4), {"iou_loss": 2 / 3, "giou": 2 / 3 + 1 / 4, "diou": 2 / 3 + 1 / 16,
                                  "ciou": 2 / 3 + 1 / 16 + _v(4, 2, 2, 4) ** 2 / (2 / 3 + _v(4, 2, 2, 4))}),
    # disjoint unit boxes: I = 0, U = 2, C = 3, rho^2 = 4, c^2 = 10
    ((0, 0, 1, 1), (2, 0, 3, 1), {"iou_loss": 1.0, "giou": 1 + 1 / 3, "diou": 1 + 4 / 10, "ciou": 1 + 4 / 10}),
    # nested: the target inside the prediction, same centre: I = 4, U = 16, C = 16
    ((0, 0, 4, 4), (1, 1, 3, 3), {"iou_loss": 3 / 4, "giou": 3 / 4, "diou": 3 / 4, "ciou": 3 / 4}),
    # the same box
    ((1, 2, 4, 7), (1, 2, 4, 7), {"iou_loss": 0.0, "giou": 0.0, "diou": 0.0, "ciou": 0.0}),
]


@pytest.mark.parametrize(("pred", "target", "expected"), HAND, ids=["shifted", "aspect", "disjoint", "nested", "same"])
def test_hand_computed_boxes(pred, target, expected):
    for name, value in expected.items():
        assert getattr(det, name)(np.array(pred, float), np.array(target, float), eps=0.0) == pytest.approx(
            value, rel=1e-15, abs=1e-300), name


def test_only_the_iou_loss_is_flat_for_disjoint_boxes():
    pred, target = np.array([0.0, 0.0, 1.0, 1.0]), np.array([2.0, 0.5, 3.0, 1.5])
    np.testing.assert_array_equal(det.iou_loss_grad(pred, target), 0.0)
    towards = np.array([1.0, 0.0, 1.0, 0.0])  # moving the prediction right, towards the target
    for name in ("giou", "diou", "ciou"):
        grad = getattr(det, f"{name}_grad")(pred, target)
        assert np.dot(grad, towards) < 0, name  # the loss decreases as the box approaches


def _exact_iou_loss(p, t):
    mp.mp.dps = 50
    p, t = [mp.mpf(v) for v in p], [mp.mpf(v) for v in t]
    iw = max(0, min(p[2], t[2]) - max(p[0], t[0]))
    ih = max(0, min(p[3], t[3]) - max(p[1], t[1]))
    inter = iw * ih
    union = (p[2] - p[0]) * (p[3] - p[1]) + (t[2] - t[0]) * (t[3] - t[1]) - inter
    return float(1 - inter / union)


@pytest.mark.parametrize("delta", [1e-13, 1e-9, 1e-5])
def test_a_nearly_perfect_box_keeps_the_digits_of_its_small_loss(delta):
    target = np.array([1.0, 2.0, 4.0, 7.0])
    for shift in ([delta, 0, delta, 0], [0, -delta, 0, 2 * delta], [delta, delta, -delta, 3 * delta]):
        pred = target + np.array(shift)
        expected = _exact_iou_loss(pred, target)
        assert det.iou_loss(pred, target, eps=0.0) == pytest.approx(expected, rel=1e-12)  # 1 - I/U keeps ~log10(1/delta) fewer


# ------------------------------------------------------------ properties


@pytest.mark.parametrize("name", NAMES)
def test_losses_without_eps_are_invariant_to_scale_and_translation(name):
    loss = getattr(det, name)(PRED, TARGET, eps=0.0, reduction="none")
    grad = getattr(det, f"{name}_grad")(PRED, TARGET, eps=0.0)
    for scale in (1e-150, 3.0, 1e150):
        np.testing.assert_allclose(getattr(det, name)(scale * PRED, scale * TARGET, eps=0.0, reduction="none"),
                                   loss, rtol=1e-13)
        np.testing.assert_allclose(getattr(det, f"{name}_grad")(scale * PRED, scale * TARGET, eps=0.0), grad / scale,
                                   rtol=1e-12, atol=1e-13 / scale)
    offset = np.array([1e3, -2e3, 1e3, -2e3])
    np.testing.assert_allclose(getattr(det, name)(PRED + offset, TARGET + offset, eps=0.0, reduction="none"), loss,
                               rtol=1e-9, atol=1e-12)


def test_loss_ranges():
    values = {name: getattr(det, name)(PRED, TARGET, reduction="none") for name in NAMES}
    assert np.all((values["iou_loss"] >= 0) & (values["iou_loss"] <= 1))
    for name in ("giou", "diou", "ciou"):
        assert np.all((values[name] >= values["iou_loss"] - 1e-15) & (values[name] < 2 + 1e-15))
    assert np.all(values["ciou"] >= values["diou"] - 1e-15)


# ------------------------------------------------------------ finite differences, fused, reductions


def _away_from_kinks(pred, target, h):
    """Pairs whose edges are not within the stencil of a target edge or of the overlap boundary."""
    keep = np.ones(len(pred), bool)
    for i in range(4):
        for j in range(4):
            keep &= np.abs(pred[:, i] - target[:, j]) > 5 * h
    return pred[keep], target[keep]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("eps", [1e-7, 0.0])
def test_gradients_match_central_differences(name, eps):
    h = 1e-5
    pred, target = _away_from_kinks(random_boxes(12, high=4.0), random_boxes(12, high=4.0), h)
    assert len(pred) >= 6
    assert_gradients_match_differences(getattr(det, name), getattr(det, f"{name}_grad"), (pred, target), [0], h=h,
                                       rtol=1e-6, atol=1e-8, eps=eps)


@pytest.mark.parametrize("name", NAMES)
def test_fused_equals_separate_and_reductions_agree(name):
    loss, grad, fused = getattr(det, name), getattr(det, f"{name}_grad"), getattr(det, f"{name}_and_grad")
    assert_fused_matches(loss, grad, fused, (PRED[:20], TARGET[:20]))
    assert_reductions_agree(loss, (PRED[:20], TARGET[:20]))


def test_one_prediction_against_several_targets_gets_the_summed_gradient():
    pred = np.array([[1.0, 1.0, 3.5, 2.5]])
    target, _ = _away_from_kinks(random_boxes(5, high=3.0), np.repeat(pred, 5, 0), 1e-5)
    for name in NAMES:
        assert_gradients_match_differences(getattr(det, name), getattr(det, f"{name}_grad"), (pred, target), [0],
                                           h=1e-5, rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------ extremes, dtypes, errors


@pytest.mark.parametrize("name", NAMES)
def test_extreme_boxes_without_warnings(name):
    huge = np.array([[-1e308, -1e308, 1e308, 1e308]])  # its width overflows without the per-pair scaling
    half = np.array([[0.0, 0.0, 1e308, 1e308]])
    loss, grad = getattr(det, f"{name}_and_grad")(huge, half)
    unit = getattr(det, name)(np.array([[-1, -1, 1, 1.0]]), np.array([[0, 0, 1, 1.0]]), eps=0.0)
    assert loss == pytest.approx(unit, rel=1e-15)  # eps is nothing against areas of 1e616
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)
    tiny = np.array([[0.0, 0.0, 1e-300, 2e-300]])
    for shifted in (tiny, tiny + 1e-300):
        # eps = 1e-7 dwarfs areas of 1e-600 in every ratio: the loss is 1 (torchvision's value, which
        # underflows its areas to 0); without eps the loss is the same as at any other scale
        loss, grad = getattr(det, f"{name}_and_grad")(tiny, shifted)
        assert loss == pytest.approx(1.0, rel=1e-15)
        assert np.all(np.isfinite(grad))
        assert getattr(det, name)(tiny, shifted, eps=0.0) == pytest.approx(
            getattr(det, name)(tiny * 1e300, shifted * 1e300, eps=0.0), rel=1e-14)
    point = np.array([[1.0, 1.0, 1.0, 1.0]])  # empty boxes: eps = 0 makes IoU 0/0, taken as 0
    loss, grad = getattr(det, f"{name}_and_grad")(point, point, eps=0.0)
    assert loss == 1.0 and np.all(grad == 0)


def test_tiny_boxes_are_dominated_by_eps_as_in_torchvision():
    tiny = np.array([[0.0, 0.0, 1e-6, 1e-6]])  # area 1e-12, far below eps = 1e-7
    assert det.iou_loss(tiny, tiny) == pytest.approx(1 - 1e-12 / (1e-12 + 1e-7), rel=1e-15)
    assert det.iou_loss(tiny, tiny, eps=0.0) == 0.0


def test_float32_stays_float32():
    pred, target = as_float32(PRED[:5], TARGET[:5])
    for name in NAMES:
        assert_float32_kept(getattr(det, name), getattr(det, f"{name}_grad"), (pred, target))


@pytest.mark.parametrize(("call", "match"), [
    (lambda: det.giou(np.zeros((2, 3)), np.zeros((2, 3))), r"pred_boxes must have a last axis of length 4.*\(2, 3\)"),
    (lambda: det.diou([0.0, 0, 1, 1], [2.0, 0, 1, 1]), r"target_boxes must have x1 <= x2 and y1 <= y2; got the box \[2.0, 0.0, 1.0, 1.0\]"),
    (lambda: det.ciou([0.0, 0, 1, np.inf], [0.0, 0, 1, 1]), "pred_boxes must be finite numbers, got inf"),
    (lambda: det.iou_loss([0.0, 0, 1, 1], [0.0, 0, 1, 1], eps=-1), r"eps must be in \[0, inf\), got -1"),
    (lambda: det.giou(PRED[:3], TARGET[:2]), r"pred_boxes with shape \(3, 4\) and target_boxes with shape \(2, 4\)"),
])
def test_bad_input_raises_a_value_error_that_names_it(call, match):
    with pytest.raises(ValueError, match=match):
        call()
