"""Last-bit accuracy of the margin losses (contrastive, triplet, cosine embedding, InfoNCE) and the box losses.

Targeted inputs where a naive formula cancels (issue 16): CIoU's aspect term
for boxes with nearly equal aspect ratios, a distance or cosine next to the
margin, InfoNCE with a confident positive, nearly perfect boxes. The
references are written here, in mpmath at 400 bits (about 120 digits) on the
exact float inputs, without cancellation; gradients are central differences
of the reference loss with a step of 2^-150 of the vector (truncation error
about 2^-300). A gradient vector is measured normwise, like
``bench/accuracy.py``: every component in ulp of the vector's largest one.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from losslab import detection as det
from losslab import metric

mp = mpmath.mp
PRECISION = 400
ULP_BOUND = 4.0


def X(value) -> mpmath.mpf:
    return mpmath.mpf(float(value))


def ulp_error(computed: float, exact) -> float:
    """``|computed - exact|`` in ulp (float64) of ``exact`` (below the normal range: in subnormal steps)."""
    if exact == 0:
        return 0.0 if computed == 0 else float("inf")
    _, exponent = mpmath.frexp(exact)
    return float(abs(X(computed) - exact) / mpmath.ldexp(1, max(int(exponent) - 53, -1074)))


def normwise_error(computed, exact: list) -> float:
    """Worst error of a gradient vector's components, in ulp of its largest exact component."""
    largest = max(abs(v) for v in exact)
    if largest == 0:
        return 0.0 if not np.any(computed) else float("inf")
    _, exponent = mpmath.frexp(largest)
    ulp = mpmath.ldexp(1, int(exponent) - 53)
    return max(float(abs(X(c) - e) / ulp) for c, e in zip(np.ravel(computed), exact, strict=True))


def central_difference(loss, point: list, group: int) -> list:
    """``d loss / d point[i]``: central differences at 1200 bits, step 2^-150 of the vector holding ``i``."""
    out = []
    with mpmath.workprec(1200):
        for i, value in enumerate(point):
            start = i - i % group
            size = max(abs(v) for v in point[start:start + group]) or mpmath.mpf(1)
            h = mpmath.ldexp(size, -150)
            up, down = list(point), list(point)
            up[i], down[i] = value + h, value - h
            out.append((loss(up) - loss(down)) / (2 * h))
    return [+v for v in out]


# ------------------------------------------------------------ boxes


def box_loss_exact(name, pred, target, eps):
    """The four box losses on exact coordinates (torchvision's eps placement)."""
    a1, b1, a2, b2 = pred
    g1, h1, g2, h2 = target
    inside = min(a2, g2) > max(a1, g1) and min(b2, h2) > max(b1, h1)
    inter = (min(a2, g2) - max(a1, g1)) * (min(b2, h2) - max(b1, h1)) if inside else mpmath.mpf(0)
    union = (a2 - a1) * (b2 - b1) + (g2 - g1) * (h2 - h1) - inter
    iou_part = (union - inter + eps) / (union + eps)
    loss = iou_part
    cw, ch = max(a2, g2) - min(a1, g1), max(b2, h2) - min(b1, h1)
    if name == "giou":
        loss += (cw * ch - union) / (cw * ch + eps)
    if name in ("diou", "ciou"):
        dx, dy = (a1 + a2 - g1 - g2) / 2, (b1 + b2 - h1 - h2) / 2
        loss += (dx * dx + dy * dy) / (cw * cw + ch * ch + eps)
    if name == "ciou":
        gap = mpmath.atan2(g2 - g1, h2 - h1) - mpmath.atan2(a2 - a1, b2 - b1)
        v = 4 / mpmath.pi**2 * gap * gap
        loss += v * v / (iou_part + v + eps)
    return loss


def box_reference(name, pred, target, eps=1e-7):
    """(exact losses, exact gradients) of each pair of boxes (rows)."""
    losses, grads = [], []
    with mpmath.workprec(PRECISION):
        e = X(eps)
        for box, goal in zip(np.asarray(pred, float), np.asarray(target, float), strict=True):
            b, g = [X(v) for v in box], [X(v) for v in goal]
            losses.append(box_loss_exact(name, b, g, e))
            grads.append(central_difference(lambda point, g=g: box_loss_exact(name, point, g, e), b, 4))
    return losses, grads


def similar_aspect_boxes(scale, noise, count=6, seed=3):
    """Boxes with nearly the target's aspect ratio, at ``scale`` (where eps makes the aspect term dominate)."""
    rng = np.random.default_rng(seed)
    preds, targets = [], []
    for _ in range(count):
        corner = rng.normal(0, 2, 2)
        extent = np.exp(rng.normal(0, 1, 2))
        target = np.concatenate([corner, corner + extent])
        pred = target + noise * rng.normal(0, 1, 4) * np.concatenate([extent, extent])
        preds.append(pred * scale)
        targets.append(target * scale)
    return np.array(preds), np.array(targets)


@pytest.mark.parametrize("scale", [1e-200, 1e-30, 1e-5])
@pytest.mark.parametrize("noise", [1e-12, 1e-7])
def test_ciou_grad_keeps_the_aspect_gap_of_similar_boxes(scale, noise):
    # boxes much smaller than sqrt(eps): eps swamps the overlap and distance terms, so the gradient is
    # the aspect term's 2 v dv/Q, proportional to the cube of atan2(w_gt, h_gt) - atan2(w, h); that
    # difference of two rounded angles of rounded widths used to carry an absolute error of an ulp of 1
    pred, target = similar_aspect_boxes(scale, noise)
    _, exact = box_reference("ciou", pred, target)
    computed = det.ciou_grad(pred, target)
    worst = max(normwise_error(c, e) for c, e in zip(computed, exact, strict=True))
    assert worst <= ULP_BOUND, f"ciou_grad: {worst:.3g} ulp"
    fused = det.ciou_and_grad(pred, target, reduction="none")[1]
    assert np.array_equal(fused, computed)


def box_errors(name, pred, target):
    exact_losses, exact_grads = box_reference(name, pred, target)
    loss, grad = getattr(det, f"{name}_and_grad")(pred, target, reduction="none")
    worst_loss = max(ulp_error(c, e) for c, e in zip(loss, exact_losses, strict=True))
    worst_grad = max(normwise_error(c, e) for c, e in zip(grad, exact_grads, strict=True))
    assert np.array_equal(getattr(det, f"{name}_grad")(pred, target), grad)
    return worst_loss, worst_grad


def nearly_perfect_boxes(count=8, seed=5):
    """Predictions within 1e-3 of the target's size, away from the origin (areas and ratios cancel)."""
    rng = np.random.default_rng(seed)
    corner = rng.uniform(1, 4, (count, 2))
    extent = rng.uniform(0.2, 1.5, (count, 2))
    target = np.concatenate([corner, corner + extent], axis=1)
    pred = target + rng.normal(0, 1e-3, (count, 4)) * np.concatenate([extent, extent], axis=1)
    return pred, target


def far_boxes(count=8, seed=6):
    """Small predictions far from a large target, disjoint or inside it (C - U close to C, or to 0)."""
    rng = np.random.default_rng(seed)
    target = np.tile([-1.0, -2.0, 3.0, 1.5], (count, 1)) + rng.normal(0, 0.1, (count, 4))
    corner = rng.uniform(-30, 30, (count, 2))
    corner[::2] = rng.uniform(-0.5, 0.5, (count // 2, 2))  # every other one inside the target
    pred = np.concatenate([corner, corner + rng.uniform(1e-3, 0.3, (count, 2))], axis=1)
    return pred, target


@pytest.mark.parametrize("name", ["iou_loss", "giou", "diou", "ciou"])
@pytest.mark.parametrize("boxes", [nearly_perfect_boxes, far_boxes])
def test_box_losses_and_gradients_of_near_and_far_boxes(name, boxes):
    # nearly perfect boxes: dI/D - (I/D)(dU/D) and the centres' offset (x1 + x2)/2 - (g1 + g2)/2 cancel;
    # far boxes: GIoU's 1 - (C - U)/C, and DIoU's D d(rho^2) - rho^2 dD
    pred, target = boxes()
    worst_loss, worst_grad = box_errors(name, pred, target)
    assert worst_loss <= ULP_BOUND, f"{name}: {worst_loss:.3g} ulp"
    assert worst_grad <= ULP_BOUND, f"{name}_grad: {worst_grad:.3g} ulp"


# ------------------------------------------------------------ embeddings near the margin


def norm(v):
    return mpmath.sqrt(mpmath.fsum(x * x for x in v))


def contrastive_exact(a, b, same, margin):
    d = norm([x - y for x, y in zip(a, b, strict=True)])
    return d * d / 2 if same == 1 else max(mpmath.mpf(0), margin - d) ** 2 / 2


def triplet_exact(a, p, n, margin, eps):
    d_ap = norm([x - y + eps for x, y in zip(a, p, strict=True)])
    d_an = norm([x - y + eps for x, y in zip(a, n, strict=True)])
    return max(mpmath.mpf(0), margin + d_ap - d_an)


def rows_reference(exact, vectors, extras, *params):
    """(losses, gradients) of ``exact(*row vectors, *row extras, *params)`` for each row."""
    losses, grads = [], []
    d = vectors[0].shape[-1]
    with mpmath.workprec(PRECISION):
        fixed = [X(v) for v in params]
        for i in range(vectors[0].shape[0]):
            extra = [X(e[i]) for e in extras]

            def total(flat, extra=extra):
                return exact(*[flat[j * d:(j + 1) * d] for j in range(len(vectors))], *extra, *fixed)

            flat = [X(v) for vector in vectors for v in vector[i]]
            losses.append(total(flat))
            g = central_difference(total, flat, d)
            grads.append([g[j * d:(j + 1) * d] for j in range(len(vectors))])
    return losses, grads


def worst_errors(loss, grads, exact_losses, exact_grads):
    worst_loss = max(ulp_error(c, e) for c, e in zip(loss, exact_losses, strict=True))
    worst_grad = max(normwise_error(grads[j][i], exact_grads[i][j])
                     for i in range(len(exact_grads)) for j in range(len(grads)))
    return worst_loss, worst_grad


def unit_directions(rng, count, dim):
    v = rng.normal(0, 1, (count, dim))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("dim", [1, 3, 40])  # one feature: the plain path wherever the difference is exact
@pytest.mark.parametrize(("offset", "margin"), [(0.0, 1.0), (1.0, 1.0), (1e3, 1.0), (1e-150, 1e-150),
                                                (3e150, 1e150)])
def test_contrastive_next_to_the_margin(dim, offset, margin):
    # dissimilar pairs a distance m (1 - delta) apart, away from the origin: m - d cancels, and the
    # rounded difference x1 - x2 and the rounded norm each used to cost up to an ulp of m
    rng = np.random.default_rng(dim)
    # (one feature: not 2e-14, which rounds onto the margin's kink, where the reference's slope is not 0)
    deltas = np.array([0.3, 1e-3, 1e-6, 1e-9, 1e-12] + ([2e-14] if dim > 1 else []))
    x1 = rng.normal(0, 1, (len(deltas), dim)) * offset
    x2 = x1 + unit_directions(rng, len(deltas), dim) * (margin * (1 - deltas))[:, None]
    same = np.zeros(len(deltas))
    exact_losses, exact_grads = rows_reference(contrastive_exact, [x1, x2], [same], margin)
    loss, grads = metric.contrastive_and_grad(x1, x2, same, margin=margin, reduction="none")
    worst_loss, worst_grad = worst_errors(loss, grads, exact_losses, exact_grads)
    assert worst_loss <= ULP_BOUND, f"contrastive: {worst_loss:.3g} ulp"
    assert worst_grad <= ULP_BOUND, f"contrastive_grad: {worst_grad:.3g} ulp"
    assert np.array_equal(metric.contrastive(x1, x2, same, margin=margin, reduction="none"), loss)
    for plain, fused in zip(metric.contrastive_grad(x1, x2, same, margin=margin), grads, strict=True):
        assert np.array_equal(plain, fused)


@pytest.mark.parametrize("dim", [1, 3, 40])
@pytest.mark.parametrize(("scale", "margin"), [(1.0, 1.0), (1.0, 1e-3), (1e100, 1e100), (1e-100, 1e-100)])
@pytest.mark.parametrize("eps", [0.0, 1e-6])
def test_triplet_margin_next_to_the_margin(dim, scale, margin, eps):
    # d(a, n) = m + d(a, p) - s with a small slack s: a difference of two rounded distances and m
    rng = np.random.default_rng(10 + dim)
    slacks = np.array([0.3, 1e-4, 1e-8, 1e-11, 3e-14])
    a = rng.normal(0, 1, (len(slacks), dim)) * scale
    d_ap = rng.uniform(0.5, 3, len(slacks)) * scale
    p = a + unit_directions(rng, len(slacks), dim) * d_ap[:, None]
    n = a + unit_directions(rng, len(slacks), dim) * ((margin + d_ap) * (1 - slacks))[:, None]
    if dim == 1 and eps == 0 and scale == 1:  # the dashboard's curves: anchor at 0, exact differences
        a = np.zeros_like(a)
        p, n = d_ap[:, None], ((margin + d_ap) * (1 - slacks))[:, None]
    eps = eps * scale
    exact_losses, exact_grads = rows_reference(triplet_exact, [a, p, n], [], margin, eps)
    loss, grads = metric.triplet_margin_and_grad(a, p, n, margin=margin, eps=eps, reduction="none")
    worst_loss, worst_grad = worst_errors(loss, grads, exact_losses, exact_grads)
    assert worst_loss <= ULP_BOUND, f"triplet_margin: {worst_loss:.3g} ulp"
    assert worst_grad <= ULP_BOUND, f"triplet_margin_grad: {worst_grad:.3g} ulp"
    assert np.array_equal(metric.triplet_margin(a, p, n, margin=margin, eps=eps, reduction="none"), loss)


def cosine_exact(a, b, label, margin):
    na, nb = norm(a), norm(b)
    one_minus = mpmath.fsum((x / na - y / nb) ** 2 for x, y in zip(a, b, strict=True)) / 2
    return one_minus if label == 1 else max(mpmath.mpf(0), 1 - one_minus - margin)


def pairs_at_cosine(rng, cosines, dim, scale1, scale2):
    """Pairs of vectors at the given cosines, of random lengths around ``scale1`` and ``scale2``."""
    x1 = rng.normal(0, 1, (len(cosines), dim))
    u1 = x1 / np.linalg.norm(x1, axis=1, keepdims=True)
    other = rng.normal(0, 1, x1.shape)
    other -= np.sum(other * u1, axis=1, keepdims=True) * u1
    other /= np.linalg.norm(other, axis=1, keepdims=True)
    x2 = cosines[:, None] * u1 + np.sqrt(1 - cosines**2)[:, None] * other
    return x1 * scale1, x2 * scale2 * rng.uniform(0.5, 2, (len(cosines), 1))


@pytest.mark.parametrize("dim", [3, 40])
@pytest.mark.parametrize(("scale1", "scale2"), [(1.0, 1.0), (1e-150, 3.0), (1e150, 1e-150)])
@pytest.mark.parametrize("margin", [0.0, 0.3, -0.6])
def test_cosine_embedding_next_to_the_margin(dim, scale1, scale2, margin):
    # dissimilar pairs with cos just above the margin (and near 0): cos - m from 1 - (1 - cos) cancels
    rng = np.random.default_rng(20 + dim)
    cosines = margin + np.array([0.2, 1e-3, 1e-7, 1e-11, 3e-15])
    x1, x2 = pairs_at_cosine(rng, cosines, dim, scale1, scale2)
    label = -np.ones(len(cosines))
    exact_losses, _ = rows_reference(cosine_exact, [x1, x2], [label], margin)
    loss = metric.cosine_embedding(x1, x2, label, margin=margin, reduction="none")
    worst = max(ulp_error(c, e) for c, e in zip(loss, exact_losses, strict=True))
    assert worst <= ULP_BOUND, f"cosine_embedding: {worst:.3g} ulp"
    fused = metric.cosine_embedding_and_grad(x1, x2, label, margin=margin, reduction="none")[0]
    assert np.array_equal(fused, loss)


@pytest.mark.parametrize(("scale1", "scale2"), [(1.0, 1.0), (400.0, 400.0), (1e-150, 1e150)])
def test_cosine_embedding_grad_of_nearly_parallel_vectors(scale1, scale2):
    # x2 = x1 (1 + 1e-6 noise) at any pair of scales: u1 - u2 is mostly the (radial) difference of the
    # norms, which the form (a |b| - b |a|)/(|a| |b|) in double words keeps exactly
    rng = np.random.default_rng(31)
    x1 = rng.normal(0, 1, (6, 3))
    x2 = x1 * (1 + rng.normal(0, 1e-6, x1.shape)) * (scale2 / scale1)
    x1 = x1 * scale1
    label = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0])
    exact_losses, exact_grads = rows_reference(cosine_exact, [x1, x2], [label], 0.0)
    loss, grads = metric.cosine_embedding_and_grad(x1, x2, label, reduction="none")
    worst_loss, worst_grad = worst_errors(loss, grads, exact_losses, exact_grads)
    assert worst_loss <= ULP_BOUND, f"cosine_embedding: {worst_loss:.3g} ulp"
    assert worst_grad <= ULP_BOUND, f"cosine_embedding_grad: {worst_grad:.3g} ulp"


@pytest.mark.parametrize("swap", [False, True])
def test_triplet_margin_grad_of_a_negative_behind_the_positive(swap):
    # the negative beyond the positive, nearly in its direction: the anchor's gradient u_ap - u_an is
    # a small difference of two unit vectors, each rounded to an ulp of 1 in the plain form
    rng = np.random.default_rng(12)
    a = rng.normal(0, 1, (8, 5)) * 100
    direction = unit_directions(rng, 8, 5)
    p = a + direction * rng.uniform(0.5, 2, (8, 1))
    n = a + (direction + rng.normal(0, 1e-3, (8, 5))) * rng.uniform(2, 2.5, (8, 1))
    exact_losses, exact_grads = rows_reference(triplet_exact if not swap else triplet_swap_exact, [a, p, n], [],
                                               1.0, 1e-6)
    loss, grads = metric.triplet_margin_and_grad(a, p, n, swap=swap, reduction="none")
    worst_loss, worst_grad = worst_errors(loss, grads, exact_losses, exact_grads)
    assert worst_loss <= ULP_BOUND, f"triplet_margin: {worst_loss:.3g} ulp"
    assert worst_grad <= ULP_BOUND, f"triplet_margin_grad: {worst_grad:.3g} ulp"


def triplet_swap_exact(a, p, n, margin, eps):
    d_ap = norm([x - y + eps for x, y in zip(a, p, strict=True)])
    d_an = norm([x - y + eps for x, y in zip(a, n, strict=True)])
    d_pn = norm([x - y + eps for x, y in zip(p, n, strict=True)])
    return max(mpmath.mpf(0), margin + d_ap - min(d_an, d_pn))


# ------------------------------------------------------------ InfoNCE


def info_nce_exact(query, keys, temperature):
    def unit(v):
        n = norm(v)
        return [x / n for x in v]

    q = unit(query)
    logits = [mpmath.fsum(a * b for a, b in zip(q, unit(k), strict=True)) / temperature for k in keys]
    top = max(logits)
    return (top - logits[0]) + mpmath.log(mpmath.fsum(mpmath.exp(v - top) for v in logits))


def test_info_nce_own_keys_grad_of_a_positive_key_nearly_parallel_to_its_query():
    # the positive key's gradient is g (q_hat - cos k_hat)/|k|: for a key within 1e-6 of its query the
    # plain projection (g q_hat) - (g q_hat . k_hat) k_hat loses all but a few digits of that small vector
    rng = np.random.default_rng(50)
    q = rng.normal(0, 1, (4, 3))
    keys = rng.normal(0, 1, (4, 3, 3))
    keys[:, 0] = q * (1 + rng.normal(0, 1e-6, q.shape)) * 3
    _, d_keys = metric.info_nce_own_keys_grad(q, keys, temperature=0.5)
    with mpmath.workprec(PRECISION):
        for i in range(4):
            flat = [X(v) for v in keys[i, 0]]

            def loss(point, i=i):
                rest = [[X(v) for v in key] for key in keys[i, 1:]]
                return info_nce_exact([X(v) for v in q[i]], [point, *rest], X(0.5))

            exact = central_difference(loss, flat, 3)
            error = normwise_error(d_keys[i, 0], exact)
            assert error <= ULP_BOUND, f"info_nce_own_keys_grad (positive key {i}): {error:.3g} ulp"


# ------------------------------------------------------------ the ends of the float range


def test_margins_near_float_max_and_vectors_near_zero_stay_silent_and_keep_their_true_size():
    # pytest turns RuntimeWarnings into errors; a result past float max is inf (its true size)
    x1, x2 = np.array([[0.0, 0.0]]), np.array([[9e307, 0.0]])
    loss, (g1, _) = metric.contrastive_and_grad(x1, x2, np.array([0.0]), margin=1e308, reduction="none")
    assert loss[0] == np.inf and g1[0, 0] == pytest.approx(1e307, rel=1e-15)  # (m - d)^2/2 = 5e613
    loss, grads = metric.triplet_margin_and_grad(x1, x2 * 0.9, x2 / 0.9, margin=1.5e308, eps=0.0,
                                                 reduction="none")
    assert loss[0] == pytest.approx(1.5e308 - 1e308 + 8.1e307, rel=1e-15)
    assert np.isfinite(np.concatenate(grads)).all()
    # cos = 1e-321/1e-320 ... of vectors near the smallest subnormal: gradients ~1/|x| past float max
    tiny = np.array([[1e-320, 0.0]])
    _, (g1, _) = metric.cosine_embedding_and_grad(tiny, tiny + np.array([0, 1e-320]), np.array([1.0]), reduction="none")
    assert np.isinf(g1).any()
    q = np.array([[1e-320, 3e-321], [1.0, -1.0]])
    k = np.array([[1e-320, 3.1e-321], [1.0, -1.1], [1.0, 2.0]])
    loss, (d_q, _) = metric.info_nce_and_grad(q, k, reduction="none")
    assert np.isfinite(loss).all() and np.isinf(d_q[0]).all() and np.isfinite(d_q[1]).all()


def info_nce_inputs(n, m, dim, seed, scale=1.0):
    """Queries and keys whose positives are close (cos about 0.9) and negatives spread: a loss of ~0.1 to 1."""
    rng = np.random.default_rng(seed)
    q = rng.normal(0, 1, (n, dim)) * scale
    k = rng.normal(0, 1, (m, dim)) * scale
    k[:n] = q + rng.normal(0, 0.4, (n, dim)) * scale
    return q, k


@pytest.mark.parametrize("temperature", [0.05, 0.1, 0.5])
@pytest.mark.parametrize("dim", [3, 64])
def test_info_nce_keeps_the_digits_of_the_similarities(temperature, dim):
    # the rounded cosines are off by up to D ulp of 1, which over the temperature is most of the
    # loss's last digits (before: 9-27 ulp); the cosines are now good to about 2^-66
    q, k = info_nce_inputs(6, 9, dim, seed=dim)
    loss = metric.info_nce(q, k, temperature=temperature, reduction="none")
    loss_fused, _ = metric.info_nce_and_grad(q, k, temperature=temperature, reduction="none")
    keys_own = np.stack([np.roll(k, -i, axis=0) for i in range(6)])
    loss_own = metric.info_nce_own_keys(q, keys_own, temperature=temperature, reduction="none")
    with mpmath.workprec(PRECISION):
        tau = X(temperature)
        keys = [[X(v) for v in key] for key in k]
        for i in range(6):
            exact = info_nce_exact([X(v) for v in q[i]], keys[i:] + keys[:i], tau)
            for name, value in (("info_nce", loss[i]), ("info_nce_and_grad", loss_fused[i]),
                                ("info_nce_own_keys", loss_own[i])):
                error = ulp_error(value, exact)
                assert error <= ULP_BOUND, f"{name} (query {i}): {error:.3g} ulp"


def info_nce_total(q_rows, k_rows, tau, own_keys):
    if own_keys:
        return mpmath.fsum(info_nce_exact(q, keys, tau) for q, keys in zip(q_rows, k_rows, strict=True))
    return mpmath.fsum(info_nce_exact(q, k_rows[i:] + k_rows[:i], tau) for i, q in enumerate(q_rows))


@pytest.mark.parametrize("own_keys", [False, True])
@pytest.mark.parametrize("temperature", [0.05, 0.2])
def test_info_nce_gradients_keep_the_digits_of_the_similarities(own_keys, temperature):
    # softmax(z) - y of rounded logits and the projections (g - (g.x_hat) x_hat)/|x| were off by
    # 6-40 ulp (normwise per vector); now the softmax of the corrected logits and every pair's own direction
    n, m, dim = 3, 4, 5
    q, k = info_nce_inputs(n, m, dim, seed=7 + own_keys, scale=1e-3)
    if own_keys:
        rng = np.random.default_rng(11)
        k = np.stack([np.concatenate([k[i:i + 1], rng.normal(0, 1e-3, (m - 1, dim))]) for i in range(n)])
        k[0, 2] = q[0] * 2 + 1e-9  # a negative key nearly parallel to its query
        d_q, d_k = metric.info_nce_own_keys_grad(q, k, temperature=temperature)
    else:
        d_q, d_k = metric.info_nce_grad(q, k, temperature=temperature)
    with mpmath.workprec(PRECISION):
        tau = X(temperature)
        point = [X(v) for v in q.ravel()] + [X(v) for v in k.ravel()]

        def total(p):
            q_rows = [p[i * dim:(i + 1) * dim] for i in range(n)]
            flat = p[n * dim:]
            k_rows = [flat[j * dim:(j + 1) * dim] for j in range(len(flat) // dim)]
            if own_keys:
                k_rows = [k_rows[i * m:(i + 1) * m] for i in range(n)]
            return info_nce_total(q_rows, k_rows, tau, own_keys)

        exact = central_difference(total, point, dim)
    computed = np.concatenate([d_q.ravel(), d_k.ravel()])
    for v in range(len(point) // dim):
        error = normwise_error(computed[v * dim:(v + 1) * dim], exact[v * dim:(v + 1) * dim])
        assert error <= ULP_BOUND, f"vector {v} of the gradient: {error:.3g} ulp"
