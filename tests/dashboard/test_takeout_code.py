"""Taking results out, as a user does it: "Show code" run as a script prints exactly the table
"Download CSV" writes (same columns, same order, same text for every number), at the defaults and
at extreme typed values; the numbers are the core's, called directly.

The state is the one the page shows after typing (``callbacks.read_state``), and the CSV is made
from the page's link (``csv_download`` parses the URL store), so a link that lost a bit shows too.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from losslab import training
from losslab.dashboard import callbacks, controls, export, views


def typed_state(name: str, typed: dict[str, str] | None = None, **extras):
    """The state the page draws after the user types ``typed`` (text, as in the boxes) into a view."""
    view = views.get(name)
    default = view.default_state()
    raw = {c.name: controls.format_number(default.numbers[c.name]) for c in view.numbers} | (typed or {})
    raw_extras = {c.name: extras.get(c.name, default.extras[c.name]) for c in view.extras}
    raw_extras = {c.name: c.display(v) if hasattr(c, "display") else v
                  for c, v in zip(view.extras, raw_extras.values(), strict=True)}
    state, messages = callbacks.read_state(view, raw, list(extras.pop("losses", default.losses)), **raw_extras)
    assert state is not None, messages
    return view, state


def printed_by_code(view, state) -> str:
    """What the shown code prints when run as a script (each in its own namespace)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(view.code(state), f"<{view.name} code>", "exec"), {})
    return printed.getvalue()


def csv_table(view, state) -> str:
    """The downloaded CSV without its ``#`` lines: the CSV is made from the page's link."""
    text = view.export_csv(view.parse_query(view.build(state).query))
    return "".join(line + "\n" for line in text.splitlines() if not line.startswith("#"))


CASES = [
    *[(name, {}, {}) for name in views.names()],
    ("regression", {"target": "-0", "delta": "5e-324", "beta": "0", "var": "1e308"},
     {"losses": ("mse", "mae", "huber", "log_cosh", "quantile", "smooth_l1", "gaussian_nll")}),
    ("binary", {"label": "1", "probability": "5e-324", "gamma": "1e308"},
     {"losses": ("bce", "focal", "exponential"), "axis": "logit"}),
    ("multiclass", {"temperature": "0.01", "true_class": "9", "swept_class": "9", "class_weight": "1e308"},
     {"logits": (1e6, -1e6, 0.0, -0.0, 5e-324, -5e-324, 1e-310, 3.0, 0.1, 999999.9999999999),
      "losses": ("cross_entropy", "kl_divergence", "brier", "weighted_cross_entropy")}),
    ("counts", {"rate": "5e-324", "count": "1000000"}, {"axis": "log_rate"}),
    ("robust", {"c": "2.2250738585072014e-308", "alpha": "-1e308", "distance": "-1000"},
     {"moved": (0.0, 1e6, -1e6, 7.0, 5e-324, -0.0)}),
    # long-form CSVs (charts on different x) with the gradient check's columns: the curve chart's ℓ past 1e303
    ("robust", {"c": "2.2250738585072014e-308", "alpha": "1"}, {"check": "on", "losses": ("mse", "barron")}),
    ("robust", {"c": "0.5"}, {"check": "on", "curve": "cauchy", "losses": ("mae", "cauchy")}),
    ("multiclass", {"temperature": "0.5", "smoothing": "0.2", "swept_class": "2"},
     {"check": "on", "logits": (1000.0, 999.0, 998.0)}),
    ("segmentation", {"x": "5e-324", "smooth": "5e-324", "background": "2000"}, {"axis": "logit"}),
    ("metric", {"x": "100", "temperature": "0.001", "label": "1", "cosine_margin": "-1"},
     {"losses": ("contrastive", "triplet_margin", "cosine_embedding", "info_nce")}),
    ("generative", {"logvar": "50", "mu": "-1000000"}, {"axis": "mu", "losses": ("gaussian_kl",)}),
    ("generative", {"score": "36", "label": "1"}, {"axis": "prob", "losses": views.get("generative").loss_keys}),
    ("sequences", {"z": "-100", "vocab": "1000", "epsilon": "1"}, {}),
    ("detection", {"offset": "1000000", "aspect": "1e308"}, {}),
]


@pytest.mark.parametrize(("name", "typed", "extras"), CASES,
                         ids=[f"{name}-{'-'.join(typed) or 'default'}" for name, typed, _ in CASES])
def test_shown_code_prints_the_downloaded_csv_text_for_text(name, typed, extras):
    """Same header in the same order, and every number written identically (so ``diff`` finds nothing)."""
    view, state = typed_state(name, typed, **extras)
    printed, written = printed_by_code(view, state), csv_table(view, state)
    assert printed.splitlines()[0] == written.splitlines()[0], "the columns are in another order"
    assert printed == written


def test_training_gradient_check_code_prints_only_the_table():
    """With the gradient check on, the training code printed "BCE largest relative difference: ..." lines
    above the table: ``python code.py > out.csv`` gave a file no CSV reader reads. The check's
    figure belongs on a ``#`` line, which the CSV's own header lines use (``export.read_csv`` skips them)."""
    view, state = typed_state("training", check="on")
    printed = printed_by_code(view, state)
    assert [line for line in printed.splitlines() if not line.startswith("#")] == csv_table(view, state).splitlines()


def test_training_csv_after_typing_minus_zero_then_zero_holds_the_cores_zero():
    """The core is cached on float arguments, and -0.0 == 0.0 (same hash): typing -0 as w₀, then 0, drew and
    exported the cached -0.0 run. The core's own first w is +0.0 for a start at 0."""
    view = views.get("training")
    for w0 in ("-0", "0"):
        _, state = typed_state("training", {"w0": w0})
        view.build(state)  # what the page draws after each typing
    text = view.export_csv(view.parse_query(view.build(state).query))
    table = {k: v for k, v in export.read_csv(text).items()}
    column = next(c for c in table if c.startswith("Descent path wₜ"))
    dataset = training.make_dataset(points=40, separation=2.0, label_noise=0.1, seed=0)
    core = training.descend_parameters(dataset, ("bce",), start=(0.0, 4.0), learning_rate=1.0, steps=100)
    assert np.signbit(core[0].w[0]) == np.signbit(0.0)
    assert np.signbit(table[column][0]) == np.signbit(core[0].w[0]), f"{column}[0] is {table[column][0]!r}"


def test_focal_at_a_typed_gamma_of_1e308_exports_zero_gradients_and_a_still_training_run():
    """Typed γ = 1e308 (the box takes any γ ≥ 0): (1 - p_t)^γ ≤ 0.982^1e308 underflows on the whole grid, so the
    gradient is ±0 (|dL/dz| ≤ (1 - p_t)^γ (1 + γ σ BCE), e^(-1.8e306) here), not NaN, and a training run does not move."""
    view, state = typed_state("binary", {"gamma": "1e308"}, losses=("focal",))
    table = export.read_csv(csv_table(view, state))
    gradient = next(c for c in table if c.startswith("Gradient"))
    assert np.all(table[gradient] == 0), table[gradient][:3]
    view, state = typed_state("training", {"gamma": "1e308"}, losses=("focal",))
    table = export.read_csv(csv_table(view, state))
    trajectory = next(c for c in table if c.startswith("Trajectory"))
    np.testing.assert_array_equal(table[trajectory], np.full(101, 0.99))
