"""Sequences view in Chromium: the four charts and the alignment table render, ε and the CTC target redraw
and reach the URL, a click moves the true token's logit, a link reopens the state, and bad input keeps the
charts with its message. No console errors anywhere.

Expected values are closed forms: cross-entropy with V − 1 rivals at 0 is log(1 + (V − 1) e^−z), its
label-smoothed form −q log p − (ε/V)(V − 1) log p_rival; the alignments of a target are counted by hand.
"""

import math

from .conftest import grid_x, option_label
from .test_bad_input import wait_message

LOSS, GRAD, CTC_LOSS, CTC_GRAD = ("sequences-loss-graph", "sequences-grad-graph", "sequences-ctc-loss-graph",
                                  "sequences-ctc-grad-graph")
GRAPHS = (LOSS, GRAD, CTC_LOSS, CTC_GRAD)


def smoothed(z, vocabulary, epsilon):
    log_p = -math.log1p((vocabulary - 1) * math.exp(-z))
    q = 1 - epsilon + epsilon / vocabulary
    return -q * log_p - (vocabulary - 1) * (epsilon / vocabulary) * (log_p - z)


def alignment_rows(lab):
    return lab.js("return document.querySelectorAll('#sequences-alignments tbody tr').length;")


def test_the_view_draws_both_families_and_the_alignments(lab):
    lab.open("/sequences", wait_for=GRAPHS)
    assert lab.curves(LOSS) == ["plain_ce", "smoothed_ce"] and lab.curves(CTC_LOSS) == ["ctc"]
    trace = lab.trace(LOSS, "smoothed_ce")
    for x, y in list(zip(grid_x(trace), trace["y"], strict=True))[::50]:
        assert abs(y - smoothed(x, 10, 0.1)) <= 1e-9 * max(1, abs(y))
    assert "CTC cannot be drawn as one curve" in lab.text("sequences-ctc-note")
    assert alignment_rows(lab) == 15  # "ab" over 4 frames
    assert "best path" in lab.text("sequences-alignments")
    assert lab.duo.get_logs() == []


def test_epsilon_and_the_target_redraw_and_reach_the_url(lab):
    lab.open("/sequences", wait_for=GRAPHS)
    lab.type_into("sequences-epsilon-input", "0.3")
    lab.wait_until(lambda: "epsilon=0.3" in lab.driver.current_url, "URL epsilon=0.3")
    trace = lab.wait_until(
        lambda: (t := lab.trace(LOSS, "smoothed_ce")) and abs(t["y"][150] - smoothed(grid_x(t)[150], 10, 0.3)) < 1e-9
        and t, "the smoothed curve to follow ε = 0.3")
    assert trace["y"][150] is not None
    assert "z* = log(1 + V(1 − ε)/ε) = 3.192" in lab.text("sequences-lesson")  # log(1 + 10 * 0.7 / 0.3)
    before = lab.trace(CTC_LOSS, "ctc")["y"]
    option_label(lab, "sequences-target", "aa").click()
    lab.wait_until(lambda: "target=aa" in lab.driver.current_url, "URL target=aa")
    lab.wait_until(lambda: alignment_rows(lab) == 5, "the 5 alignments of 'aa' over 4 frames: a – a needs the blank")
    assert lab.trace(CTC_LOSS, "ctc")["y"] != before
    assert "“aa”" in lab.layout(CTC_LOSS, "title.text")
    assert lab.duo.get_logs() == []


def test_a_click_on_the_top_charts_moves_the_true_tokens_logit(lab):
    lab.open("/sequences", wait_for=GRAPHS)
    x, _ = lab.click_at(f"#{LOSS} .nsewdrag", 0.75, 0.5)
    expected = lab.plot_x_at(LOSS, x)
    assert 3 < expected < 7  # about 5 on the -10 .. 10 axis
    # the nearest grid point (step 20/300), to 3 decimals
    lab.wait_until(lambda: abs(float(lab.value("sequences-z-input")) - expected) <= 20 / 300, "the z box to follow")
    lab.wait_until(lambda: {px for px, _ in lab.marker_points(LOSS)} == {float(lab.value("sequences-z-input"))},
                   "the marker at the clicked z")
    assert lab.duo.get_logs() == []


def test_a_link_reopens_the_state_and_bad_input_keeps_the_charts(lab):
    lab.open("/sequences?frame=0&label=2&ctc_logit=3&target=ba&vocab=50", wait_for=GRAPHS)
    assert "z[0, b]" in lab.layout(CTC_GRAD, "xaxis.title.text")
    assert lab.value("sequences-vocab-input") == "50"
    assert {px for px, _ in lab.marker_points(CTC_LOSS)} == {3.0}
    before = lab.snapshot(*GRAPHS) + lab.text("sequences-readout")
    lab.type_into("sequences-frame-input", "9")
    wait_message(lab, "sequences-frame-message", "frame t of the moving logit", "9", "from 0 to 3")
    lab.type_into("sequences-ctc_logit-input", "1e9")
    wait_message(lab, "sequences-ctc_logit-message", "out of range")
    assert lab.snapshot(*GRAPHS) + lab.text("sequences-readout") == before
    lab.type_into("sequences-frame-input", "3")
    lab.wait_until(lambda: lab.text("sequences-frame-message") == "", "the frame message to clear")
    assert lab.duo.get_logs() == []
