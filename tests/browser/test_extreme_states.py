"""States a demanding user reaches by typing values far outside the sliders, in Chromium: every chart
drawn, no console error, and the state kept through a copied link.

Found in session 7's bug hunt (helper-48); each test failed before its fix.
"""

from __future__ import annotations

from .test_training import ALL_GRAPHS, LOSS


def test_training_start_on_the_labels_side_at_a_subnormal_probability_draws_every_curve(lab):
    # p̂₀ = 1e-310 with y = 0: every loss and |dL/dz| below 1e-309. Plotly's axis scaling overflowed
    # ("Something went wrong with axis scaling"; at 5e-324 "Cannot read properties of undefined
    # (reading 'val')") and the part-1 charts were empty.
    for start in ("1e-310", "5e-324"):
        lab.open(f"/training?start={start}", wait_for=ALL_GRAPHS)
        lab.wait_until(lambda: lab.js(
            "return document.querySelectorAll('#' + arguments[0] + ' .scatterlayer .trace path.js-line').length;",
            LOSS) >= 4, "the loss chart's curves (two losses, two rows)")
        span = lab.layout(LOSS, "yaxis2.range")
        assert span[1] - span[0] >= 1e-300, span
        assert lab.duo.get_logs() == [], start
