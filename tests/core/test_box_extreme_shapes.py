"""Box losses for boxes whose sides span the whole float range (issue 16: no overflow or underflow
where the true value is in range).

A box of area 1 and aspect 1e-300 (sides 1e-150 and 1e150), a box 1e-300 the size of its target, a
sliver at the end of a box, subnormal sides next to sides near 1e308: every true loss and gradient is
moderate or at least in the float range, but one power of two for the whole pair cannot hold the
products of their sides (the old code raised "overflow encountered in divide" or returned 0 or
garbage). Each value must be within 4 ulp of the exact one (one subnormal step below the normal range).

References: the losses written out plainly in mpmath at 5000 bits (every coordinate difference exact),
the gradients as central differences of that loss with a step 2^-300 below the smallest gap between
the coordinates (none of the test boxes has an edge on an edge of the other, so the loss is smooth there).
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest

from losslab import detection as det
from losslab import registry

ULP_BOUND = 4.0
PRECISION = 5000
KINDS = ("iou_loss", "giou", "diou", "ciou")


def exact_loss(kind, p, g, eps):
    """torchvision's box losses (see losslab.detection), plainly, in mpmath."""
    a1, b1, a2, b2 = p
    g1, h1, g2, h2 = g
    w, h, wg, hg = a2 - a1, b2 - b1, g2 - g1, h2 - h1
    iw = max(mp.mpf(0), min(a2, g2) - max(a1, g1))
    ih = max(mp.mpf(0), min(b2, h2) - max(b1, h1))
    inter = iw * ih
    union = w * h + wg * hg - inter
    if union + eps == 0:
        return mp.mpf(1)
    iou = inter / (union + eps)
    loss = 1 - iou
    cw, ch = max(a2, g2) - min(a1, g1), max(b2, h2) - min(b1, h1)
    if kind == "giou" and cw * ch + eps > 0:
        loss += (cw * ch - union) / (cw * ch + eps)
    if kind in ("diou", "ciou") and cw**2 + ch**2 + eps > 0:
        loss += (((a1 + a2 - g1 - g2) / 2) ** 2 + ((b1 + b2 - h1 - h2) / 2) ** 2) / (cw**2 + ch**2 + eps)
    if kind == "ciou":
        v = 4 / mp.pi**2 * (mp.atan2(wg, hg) - mp.atan2(w, h)) ** 2
        if 1 - iou + v + eps > 0:
            loss += v * v / (1 - iou + v + eps)
    return loss


def reference(kind, pred, target, eps, *, precision: int = PRECISION):
    """(loss, [d loss / d pred_k for k = 0..3]) as mpf, at ``precision`` bits: the loss and central
    differences with a step 2^-300 below the smallest gap."""
    with mp.workprec(precision):
        p, g, e = [mp.mpf(float(x)) for x in pred], [mp.mpf(float(x)) for x in target], mp.mpf(eps)
        gaps = [abs(x - y) for x in p + g for y in p + g if x != y] + [abs(x) for x in p + g if x != 0]
        step = min(gaps) * mp.mpf(2) ** -300
        grads = []
        for k in range(4):
            up, down = list(p), list(p)
            up[k] += step
            down[k] -= step
            grads.append((exact_loss(kind, up, g, e) - exact_loss(kind, down, g, e)) / (2 * step))
        return exact_loss(kind, p, g, e), grads


def ulps(value, exact) -> float:
    """|value - exact| in ulp of the exact value (float64; 2^-1074 below the normal range)."""
    _, exponent = mp.frexp(exact)
    ulp = mp.ldexp(1, max(int(exponent) - 53, -1074)) if exact != 0 else mp.ldexp(1, -1074)
    return float(abs(mp.mpf(float(value)) - exact) / ulp)


# (what the pair is, pred, target, eps); no edge on an edge of the other box
PAIRS = [
    ("area 1, aspect 5e-301, inside the unit square in x", [1e-200, -1e150, 1e-150, 1e150], [0.0, 0.0, 1.0, 1.0], 1e-7),
    ("subnormal width, height 2e308", [5e-324, -1e308, 1.5e-323, 1e308], [0.0, 0.0, 1.0, 1.0], 1e-7),
    ("the same, eps = 0", [5e-324, -1e308, 1.5e-323, 1e308], [0.0, 0.0, 1.0, 1.0], 0.0),
    ("aspect 1e300 beside the unit square", [2.0, 1e-150, 1e150, 2e-150], [0.0, 0.0, 1.0, 1.0], 1e-7),
    ("a box 1e-300 the size of its target, inside", [1e-300, 2e-300, 4e-300, 3e-300], [0.0, 0.0, 1.0, 1.0], 0.0),
    ("a sliver at the end of a huge box (DIoU's c - 2d)", [-1e300, -1e300, 1e300, 1e300],
     [1e300 * (1 - 2.0**-40), 1e-300, 1e300 * (1 - 2.0**-41), 3e-300], 1e-7),
    ("boxes of 1e-200 with eps = 1e-7 (gradient iw/eps)", [-5.0285681990828547e-200, 4.983173567633304e-202,
                                                          6.730037398606384e-200, 1.1310900345394876e-200],
     [-1.2784197961419792e-200, -7.036257287328315e-201, 3.715865065146713e-200, 1.2912314082834697e-200], 1e-7),
    ("a thin box far beside a tall one", [-3.7547593874881586e-117, 271127.61672624, -3.750066383094784e-117,
                                          272403.6653188181],
     [5.065061059250417e-127, -0.0, 4.166354602132453e-117, 358014.88149842445], 1e-7),
    ("a wide box over a subnormal-height one", [1.153253539854563e-06, 3.222250373225765e-180,
                                                1.2220709022876453e111, 5.139344209032508e26],
     [-4.102039763392207e-137, 0.0, 3.389786328621775e-137, 1.504423e-317], 1e-7),
    ("boxes 2^-30 apart (GIoU's C - U, one scale)", [0.0, 0.0, 1.0, 1.0], [1.0 + 2.0**-30, -2.0**-20, 2.0, 1.0 + 2.0**-20],
     1e-7),
    ("boxes 2^-60 apart", [0.0, 0.0, 1.0, 1.0], [1.0 + 2.0**-52, 2.0**-60, 2.0, 1.0 + 2.0**-20], 0.0),
    ("right edges 2^-52 apart (one scale)", [-1.0, -1.0, 1.0 + 2.0**-52, 1.0], [-0.5, -2.0, 1.0, 3.0], 1e-7),
    ("a thin box filling a wide one's corner", [6.2e-199, -1e-300, 7.1e237, 3.28e-96],
     [-1e-310, -1.0364431356840523e-84, 1.811166268682028e-107, 8.69458316071992e-74], 1e-7),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("label", "pred", "target", "eps"), PAIRS, ids=[p[0] for p in PAIRS])
def test_box_losses_and_gradients_of_extreme_shapes_within_4_ulp(kind, label, pred, target, eps):
    loss, grad = getattr(det, f"{kind}_and_grad")(np.array(pred), np.array(target), eps=eps, reduction="none")
    exact_value, exact_grad = reference(kind, pred, target, eps)
    errors = [ulps(loss, exact_value)] + [ulps(g, e) for g, e in zip(grad, exact_grad, strict=True)]
    assert max(errors) <= ULP_BOUND, (
        f"{kind} ({label}): loss {float(loss)!r} (exact {mp.nstr(exact_value, 17)}), gradient {grad.tolist()} "
        f"(exact {[mp.nstr(x, 17) for x in exact_grad]}): {errors} ulp")


def random_extreme_pairs(count, seed, dtype=np.float64, corners=(-320, 300), sides=(-300, 300)):
    """Boxes with corners of random magnitudes 10^corners and sides of 10^sides (1e-320..1e300 in
    float64), beside random other boxes, in ``dtype`` (each corner rounded to it before its sides add)."""
    rng = np.random.default_rng(seed)
    pairs = []
    while len(pairs) < count:
        boxes = []
        for _ in range(2):
            corner = rng.choice([-1.0, 1.0], 2) * 10.0 ** rng.uniform(*corners, 2) * rng.choice([0.0, 1.0, 1.0], 2)
            corner = corner.astype(dtype).astype(np.float64)
            boxes.append(np.concatenate([corner, corner + 10.0 ** rng.uniform(*sides, 2)]).astype(dtype))
        pred, target = boxes
        xs, ys = np.concatenate([pred[0::2], target[0::2]]), np.concatenate([pred[1::2], target[1::2]])
        if (pred[2:] > pred[:2]).all() and (target[2:] > target[:2]).all() and len(set(xs)) == 4 and len(set(ys)) == 4:
            pairs.append((pred, target))
    return pairs


@pytest.mark.parametrize("kind", KINDS)
def test_box_losses_of_random_extreme_pairs_within_4_ulp(kind):
    pairs = random_extreme_pairs(6, seed=11)
    pred, target = np.array([p for p, _ in pairs]), np.array([t for _, t in pairs])
    loss, grad = getattr(det, f"{kind}_and_grad")(pred, target, reduction="none")
    for i, (p, t) in enumerate(pairs):
        exact_value, exact_grad = reference(kind, p, t, 1e-7)
        errors = [ulps(loss[i], exact_value)] + [ulps(g, e) for g, e in zip(grad[i], exact_grad, strict=True)]
        assert max(errors) <= ULP_BOUND, f"{kind}: pair {p.tolist()}, {t.tolist()}: {errors} ulp"


def test_extreme_pairs_in_a_batch_match_the_pairs_alone():
    # extreme and ordinary pairs mixed, the target broadcast, reductions and float32
    pred = np.array([[1e-200, -1e150, 1e-150, 1e150], [0.1, 0.2, 1.3, 0.9], [5e-324, -1e308, 1.5e-323, 1e308],
                     [0.3, 0.1, 0.7, 1.2]])
    target = np.array([0.0, 0.0, 1.0, 1.0])
    for kind in KINDS:
        loss, grad = getattr(det, f"{kind}_and_grad")(pred, target, reduction="none")
        for i in range(len(pred)):
            alone_loss, alone_grad = getattr(det, f"{kind}_and_grad")(pred[i], target, reduction="none")
            assert loss[i] == alone_loss and np.array_equal(grad[i], alone_grad), kind
        assert getattr(det, kind)(pred, target, reduction="sum") == pytest.approx(loss.sum(), rel=1e-15)
        assert np.array_equal(getattr(det, f"{kind}_grad")(pred[:, None, :], target[None, None, :]), grad[:, None, :])
        # float32 boxes of aspect 1e-60: computed in float32 (extended double words), rounded once: the same
        # floats as the float64 results rounded to float32
        thin = np.array([[1e-38, -1e30, 3e-38, 1e30], [0.1, 0.2, 1.3, 0.9]], dtype=np.float32)
        single = getattr(det, f"{kind}_grad")(thin, target.astype(np.float32))
        double = getattr(det, f"{kind}_grad")(thin.astype(np.float64), target)
        assert single.dtype == np.float32 and np.array_equal(single, double.astype(np.float32))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("aspect", [5e-324, 1e-300, 1e-30, 1e30, 1e300])
def test_dashboard_story_at_extreme_aspect_ratios_is_finite(kind, aspect):
    # the /detection view's boxes (_story._offset_boxes): area 1, aspect w/h, offset horizontally. At
    # aspect 5e-324 the old code raised "overflow encountered in divide" (RuntimeWarning -> error here)
    story = registry.get(kind)
    offsets = np.linspace(-3.0, 3.0, 13)
    loss, grad = story.loss(offsets, None, aspect=aspect), story.grad(offsets, None, aspect=aspect)
    assert np.isfinite(loss).all() and np.isfinite(grad).all()
    assert ((loss >= 0) & (loss <= 2.0)).all()
