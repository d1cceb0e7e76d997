"""Line fits at the ends of what the /robust view accepts: huge and tiny scales, extreme shapes.

Expected values are computed independently of the fitter: least squares by
``numpy.linalg.lstsq`` (every M-estimator tends to it as its scale c grows past
the residuals), the least-absolute-deviations line by a linear program
(scipy.optimize.linprog; Huber and pseudo-Huber tend to it as δ -> 0) and, for
Cauchy with a tiny c (whose mean loss is then (c²/2)·Σ 2 log|r_i| up to a
constant), the one-dimensional objective along rotations about a point of the
line evaluated directly with NumPy.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import optimize

from losslab import fitting

FLOAT_MAX = float(np.finfo(np.float64).max)
TINY = float(np.finfo(np.float64).tiny)
VIEW_STEPS = 100  # the /robust view's step limit


def quietly(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return function(*args, **kwargs)


@pytest.fixture(scope="module")
def data():
    # the /robust view's default data set: 50 points on y = x, noise 0.5, five lifted by 10
    return fitting.make_line_data(50, outliers=5, noise=0.5, outlier_distance=10.0, seed=0)


def least_squares(x, y):
    design = np.stack([x, np.ones_like(x)], axis=1)
    return np.linalg.lstsq(design, y, rcond=None)[0]


def least_absolute_deviations(x, y):
    """min sum |a x + b - y| as a linear program in (a, b, e+, e-)."""
    n = x.size
    cost = np.concatenate([[0.0, 0.0], np.ones(2 * n)])
    equal = np.hstack([np.stack([x, np.ones(n)], axis=1), -np.eye(n), np.eye(n)])
    bounds = [(None, None)] * 2 + [(0, None)] * (2 * n)
    return optimize.linprog(cost, A_eq=equal, b_eq=y, bounds=bounds, method="highs").x[:2]


# ------------------------------------------------------------ a scale c far above the residuals


@pytest.mark.parametrize("c", [1e160, 1e200, 1e308, FLOAT_MAX])
@pytest.mark.parametrize("alpha", [-1e9, -math.inf, -10.0, 0.0, 1.0, 1.5, 2.0])
def test_barron_with_a_scale_far_above_the_residuals_fits_the_least_squares_line(data, alpha, c):
    # rho = (r/c)^2/2 underflows for every residual: the fit used to return the start after 0 steps,
    # "converged" (c >= 1e200), or stop short of the line (c = 1e160: slope 1.069556 for 1.069581)
    expected = least_squares(data.x, data.y)
    fit = quietly(fitting.fit_line, data.x, data.y, "barron", {"alpha": alpha, "c": c}, max_iter=VIEW_STEPS)
    assert fit.converged and fit.iterations >= 1
    assert fit.slope == pytest.approx(expected[0], rel=1e-12)
    assert fit.intercept == pytest.approx(expected[1], rel=1e-11)
    assert 0 <= fit.mean_loss < 1e-300 and fit.grad_norm >= 0  # the true values, below or near float's range


def test_a_barron_sweep_at_a_huge_scale_is_least_squares_in_every_frame(data):
    expected = least_squares(data.x, data.y)
    sweep = quietly(fitting.sweep_fit, data.x, data.y, "barron", "alpha", [-1e9, -10.0, 0.0, 2.0], {"c": 1e300},
                    max_iter=VIEW_STEPS)
    assert sweep.converged.all()
    np.testing.assert_allclose(sweep.slope, expected[0], rtol=1e-12)
    np.testing.assert_allclose(sweep.intercept, expected[1], rtol=1e-11)


# ------------------------------------------------------------ Cauchy with a scale c far below the residuals


def cauchy_objective_in_units(x, y, slope, intercept, c):
    """sum_i log(1 + (r_i/c)^2), the mean Cauchy loss times 2n/c^2, without forming c^2 or (r/c)^2."""
    size = np.abs(slope * x + intercept - y)
    far = size > c
    terms = np.log1p(np.square(size[~far] / c))
    far_size = size[far]
    return float(terms.sum() + np.sum(2 * (np.log(far_size) - math.log(c)) + np.log1p(np.square(c / far_size))))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(("key", "params"), [
    ("cauchy", {"c": 1e-100}), ("cauchy", {"c": 1e-170}), ("cauchy", {"c": 1e-300}), ("cauchy", {"c": TINY}),
    ("barron", {"alpha": 0.0, "c": 1e-100}), ("barron", {"alpha": 0.0, "c": 1e-300}),
])
def test_cauchy_with_a_tiny_scale_settles_on_a_line_through_two_points(key, params, seed):
    # With c far below every residual the mean Cauchy loss is (c^2/2n) sum 2 log|r_i| plus a constant:
    # along a rotation about one point of the line each log|r_i| is concave, so the only local minima
    # are the lines through two data points (each inside its well of width c). The fit used to stop at
    # its start after 0 steps, "converged" (c <= 1e-170: c^2 log|r| underflows), or on a line through
    # one point only, where the objective still falls along the rotation (c = 1e-100, Barron at 1e-300).
    # seed 0: the view's default data; seed 1 (no outliers): a second point within 1e-12 of the line, which the
    # fit's Newton step used to throw out of its well (then stuck: "not converged")
    data = fitting.make_line_data(50, outliers=5 if seed == 0 else 0, noise=0.5, outlier_distance=10.0, seed=seed)
    c = params["c"] * (math.sqrt(2) if key == "barron" else 1.0)  # Barron alpha = 0 at c is Cauchy at c sqrt 2
    fit = quietly(fitting.fit_line, data.x, data.y, key, params, max_iter=VIEW_STEPS)
    residual = np.sort(np.abs(fit.slope * data.x + fit.intercept - data.y))
    assert fit.converged and fit.iterations >= 1
    assert residual[1] <= 1e-13, residual[:3]  # two points on the line to rounding ...
    assert residual[2] > 1e-6  # ... and no third (the data have no three collinear points)
    start = cauchy_objective_in_units(data.x, data.y, *fit.start, c)
    assert cauchy_objective_in_units(data.x, data.y, fit.slope, fit.intercept, c) < start - 100


# ------------------------------------------------------------ a kink narrower than any float


@pytest.mark.parametrize("key", ["huber", "pseudo_huber"])
@pytest.mark.parametrize("delta", [1e-315, 1e-320, 5e-324])
def test_a_subnormal_delta_fits_the_least_absolute_deviations_line(data, key, delta):
    # delta -> 0: Huber/delta -> |r|, the L1 line (a linear program). The view accepts any delta > 0; with
    # a subnormal delta psi = ±delta has 1 to 20 significant bits and IRLS used to stop on a wrong line
    # ("converged": slope 0.98649 for 0.98623 at 1e-320) or at its start after 0 steps (5e-324)
    expected = least_absolute_deviations(data.x, data.y)
    best = np.mean(np.abs(expected[0] * data.x + expected[1] - data.y))
    fit = quietly(fitting.fit_line, data.x, data.y, key, {"delta": delta}, max_iter=VIEW_STEPS)
    assert fit.converged
    assert np.mean(np.abs(fit.slope * data.x + fit.intercept - data.y)) == pytest.approx(best, rel=1e-12)
    assert (fit.slope, fit.intercept) == pytest.approx(tuple(expected), rel=1e-9)


@pytest.mark.parametrize(("key", "name"), [("huber", "delta"), ("pseudo_huber", "delta"), ("smooth_l1", "beta")])
@pytest.mark.parametrize("seed", [2, 6, 856])
@pytest.mark.parametrize("delta", [1e-16, 1e-100, 1e-300])
def test_a_delta_far_below_the_residuals_fits_the_least_absolute_deviations_line(key, name, seed, delta):
    # Not only a subnormal delta: any delta below the rounding of the residuals leaves psi a sign and the
    # kink narrower than a float step of the line. Five noisy points (helper-57's review): Huber "converged"
    # with mean |r| 6.5 % (seed 2), 43 % (seed 6, delta 1e-300) and 5.3 % (seed 856) above the L1 optimum.
    data = fitting.make_line_data(5, outliers=0, noise=2.0, outlier_distance=-30.0, seed=seed)
    expected = least_absolute_deviations(data.x, data.y)
    best = np.mean(np.abs(expected[0] * data.x + expected[1] - data.y))
    fit = quietly(fitting.fit_line, data.x, data.y, key, {name: delta}, max_iter=VIEW_STEPS)
    assert fit.converged
    assert np.mean(np.abs(fit.slope * data.x + fit.intercept - data.y)) == pytest.approx(best, rel=1e-12)


# ------------------------------------------------------------ "converged" on a line through one point


def geman_mcclure_mean(x, y, slope, intercept, c):
    r = slope * x + intercept - y
    return float(np.mean(r * r / 2 / (1 + (r / c) ** 2)))


@pytest.mark.parametrize(("key", "params", "scale"), [
    ("geman_mcclure", {"c": 0.05}, 1.0), ("barron", {"alpha": -2.0, "c": 0.025}, 4 / 0.05**2),
])
@pytest.mark.parametrize("noise", [0.0, 3.0])
def test_three_points_settle_on_a_line_through_two_of_them(key, params, scale, noise):
    # Three points, one lifted by -1000, c far below their spread: the local minima are the lines through
    # two points (F = c^2/6 from the third) against c^2/3 for a line through one. The fit used to stop at
    # its start, a line through one point, after 0 steps, "converged" with F = c^2/3: the point on the line
    # hid the pull of the other two, which turns the line about it. Geman-McClure at c is
    # Barron at alpha = -2, c/2, times c^2/4.
    d = fitting.make_line_data(3, outliers=1, noise=noise, outlier_distance=-1000.0, seed=0)
    x, y = d.x, d.y
    pairs = [((y[j] - y[i]) / (x[j] - x[i]), y[i] - (y[j] - y[i]) / (x[j] - x[i]) * x[i])
             for i, j in ((0, 1), (0, 2), (1, 2))]
    fit = quietly(fitting.fit_line, x, y, key, params, max_iter=VIEW_STEPS)
    assert fit.converged and fit.iterations >= 1
    nearest = min(pairs, key=lambda line: abs(line[0] - fit.slope))
    assert (fit.slope, fit.intercept) == pytest.approx(nearest, rel=1e-9)
    expected = geman_mcclure_mean(x, y, *nearest, 0.05)
    assert expected == pytest.approx(0.05**2 / 6, rel=1e-6)
    assert fit.mean_loss / scale == pytest.approx(expected, rel=1e-6)


# ------------------------------------------------------------ Barron with alpha > 0 and a scale c far below the residuals

SMALLEST_C = TINY  # the smallest scale the view accepts (2.2250738585072014e-308)


def l_alpha_line(x, y, alpha, start):
    """min sum |a x + b - y|^alpha (1 < alpha < 2) by scipy's BFGS with the exact gradient: the limit of Barron's
    minimiser as c -> 0, its c^alpha rho being (b/alpha)(|r|/sqrt b)^alpha (1 + O(c^2/r^2))."""

    def value_and_gradient(theta):
        r = theta[0] * x + theta[1] - y
        pull = alpha * np.sign(r) * np.abs(r) ** (alpha - 1)
        return float(np.sum(np.abs(r) ** alpha)), np.array([pull @ x, pull.sum()])

    found = optimize.minimize(value_and_gradient, start, jac=True, method="BFGS", options={"gtol": 1e-13})
    return found.x


@pytest.mark.parametrize("c", [1e-200, 1e-300, SMALLEST_C])
def test_barron_at_alpha_2_with_a_tiny_scale_fits_the_least_squares_line(data, c):
    # rho = (r/c)^2/2 is least squares at every c; its values pass float max here, and the fit used to return
    # its start, "not converged" after 0 steps, with a mean loss of inf
    expected = least_squares(data.x, data.y)
    fit = quietly(fitting.fit_line, data.x, data.y, "barron", {"alpha": 2.0, "c": c}, max_iter=VIEW_STEPS)
    assert fit.converged
    assert fit.slope == pytest.approx(expected[0], rel=1e-12)
    assert fit.intercept == pytest.approx(expected[1], rel=1e-11)
    r = expected[0] * data.x + expected[1] - data.y
    log_mean = math.log(float(np.mean(r * r)) / 2) - 2 * math.log(c)  # mean (r/c)^2 / 2, past float max
    assert log_mean > math.log(FLOAT_MAX) and fit.mean_loss == math.inf
    assert fit.log_mean_loss == pytest.approx(log_mean, rel=1e-12)


@pytest.mark.parametrize("c", [1e-200, SMALLEST_C])
@pytest.mark.parametrize("alpha", [1.2, 1.5, 1.9])
def test_barron_between_1_and_2_with_a_tiny_scale_fits_the_rescaled_optimum(data, alpha, c):
    # (r/c)^alpha passes float max: the fit used to stop at its start, "not converged", mean loss inf
    start = least_squares(data.x, data.y)
    expected = l_alpha_line(data.x, data.y, alpha, start)
    fit = quietly(fitting.fit_line, data.x, data.y, "barron", {"alpha": alpha, "c": c}, max_iter=VIEW_STEPS)
    assert fit.converged
    assert (fit.slope, fit.intercept) == pytest.approx(tuple(expected), rel=1e-7)
    b = 2 - alpha
    r = expected[0] * data.x + expected[1] - data.y
    log_mean = math.log(b / alpha * float(np.mean((np.abs(r) / math.sqrt(b)) ** alpha))) - alpha * math.log(c)
    assert fit.log_mean_loss == pytest.approx(log_mean, rel=1e-12)
    assert fit.mean_loss == (math.inf if log_mean > math.log(FLOAT_MAX) else pytest.approx(math.exp(log_mean),
                                                                                            rel=1e-10))


@pytest.mark.parametrize("c", [1e-300, SMALLEST_C])
def test_barron_at_alpha_1_with_a_tiny_scale_fits_the_l1_line_with_finite_pulls(data, c):
    # c^2 rho is pseudo-Huber with delta = c, here far below rounding: the least-absolute-deviations line. At
    # the smallest c the terms |r|/c pass float max for |r| > 4 while their mean does not: the fit used to stop
    # at its start, "not converged", mean loss inf
    expected = least_absolute_deviations(data.x, data.y)
    fit = quietly(fitting.fit_line, data.x, data.y, "barron", {"alpha": 1.0, "c": c}, max_iter=VIEW_STEPS)
    assert fit.converged
    assert (fit.slope, fit.intercept) == pytest.approx(tuple(expected), rel=1e-9)
    r = expected[0] * data.x + expected[1] - data.y
    assert fit.mean_loss == pytest.approx(float(np.mean(np.abs(r))) / c, rel=1e-9)  # sqrt(u^2 + 1) - 1 ~ |u|
    pulls = fitting.influence(data.x, data.y, fit.slope, fit.intercept, "barron", {"alpha": 1.0, "c": c})
    off_line = np.abs(r) > 1e-9
    assert np.isfinite(pulls).all()
    np.testing.assert_allclose(pulls[off_line], 1 / c, rtol=1e-15)  # |r|/c^2 / sqrt(1 + (r/c)^2) -> 1/c


def test_a_barron_sweep_at_the_smallest_scale_converges_in_every_frame(data):
    values = [0.0, 0.5, 1.0, 1.5, 2.0]
    sweep = quietly(fitting.sweep_fit, data.x, data.y, "barron", "alpha", values, {"c": SMALLEST_C},
                    max_iter=VIEW_STEPS)
    assert sweep.converged.all(), sweep.values[~sweep.converged]
    np.testing.assert_allclose([sweep.slope[-1], sweep.intercept[-1]], least_squares(data.x, data.y), rtol=1e-11)
    assert np.isfinite(sweep.influence[:3]).all()  # alpha <= 1: |psi| <= 1/c; past 1, r c^-alpha passes float max
