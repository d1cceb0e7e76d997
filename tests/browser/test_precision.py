"""Precision view in Chromium: every pair renders, dtype and pair switches redraw and reach the URL,
a link reopens the same view, and bad input keeps the charts. No console errors anywhere.

Expected breakpoints are closed forms: exp overflows past log(float max), 1 + e^-z rounds to 1
past 53 ln 2 (float64), the softmax sum overflows at log(float max) - log(1 + e^-1 + e^-2).
"""

import math

import numpy as np

from .conftest import checked, option_label
from .test_bad_input import wait_message

VALUE, ERROR, TABLE, NOTE = ("precision-loss-graph", "precision-grad-graph", "precision-readout",
                             "precision-pair-note")
GRAPHS = (VALUE, ERROR)
LOG_MAX64 = math.log(np.finfo(np.float64).max)
# pair: (the start of its charts' titles, a breakpoint of its naive float64 form as the table writes it;
# BCE's: the clipped loss -log 1e-12 is 1e-3 below softplus(-z) from there on). The default pair comes
# last, so that every click is a change.
PAIRS = {
    "bce": ("BCE(z, y = 1)", f"from z = {-math.log(math.expm1(-math.log(1e-12) / (1 - 1e-3))):.7g}"),
    "softmax": ("p̂₀ of the logits (z, z − 1, z − 2)",
                f"0 from z = {LOG_MAX64 - math.log(1 + math.exp(-1) + math.exp(-2)):.7g}"),
    "log_cosh": ("log cosh(z)", f"inf from z = {-(LOG_MAX64 + math.log(2)):.7g}"),
    "cross_entropy": ("CE of the logits (z, 0, 0)", f"0 from z = {54 * math.log(2):.7g}"),
    "log_sigmoid": ("log σ(z)", f"-inf from z = {-LOG_MAX64:.7g}"),
}


def title(lab, graph_id):
    return lab.layout(graph_id, "title.text") or ""


def table_text(lab):
    return lab.text(TABLE) or ""


def metas(lab, graph_id):
    return sorted(m for m in lab.metas(graph_id) if m)


def test_every_pair_renders_with_its_breakpoints(lab):
    lab.open("/precision")
    assert lab.metas(VALUE)[:6] == ["z", "exact", "naive-float32", "stable-float32", "naive-float64",
                                    "stable-float64"]
    assert f"-inf from z = {-LOG_MAX64:.7g}" in table_text(lab)
    assert f"0 from z = {53 * math.log(2):.7g}" in table_text(lab)
    for pair, (words, cell) in PAIRS.items():
        option_label(lab, "precision-pair", pair).click()
        lab.wait_until(lambda w=words: title(lab, VALUE).startswith(w), f"the {pair} value chart")
        lab.wait_until(lambda c=cell: c in table_text(lab), f"the {pair} table to show {cell!r}")
        assert title(lab, ERROR).startswith(words)
        lab.wait_until(lambda p=pair: f"pair={p}" in lab.driver.current_url, f"URL pair={pair}")
        # every curve and its breakpoint markers are drawn, on both charts
        assert {"naive-float64", "breaks-naive-float64"} <= set(lab.metas(ERROR))
        naive = lab.trace(VALUE, "naive-float64")
        assert naive["x0"] is not None and any(v is not None for v in naive["y"])
    assert "(z, z − 1, z − 2)" not in lab.text(NOTE)  # log σ's note, not the softmax one
    option_label(lab, "precision-pair", "softmax").click()
    lab.wait_until(lambda: "1000, 999, 998" in (lab.text(NOTE) or ""), "the softmax note")
    assert lab.duo.get_logs() == []


def test_the_dtype_switch_redraws_one_precision_and_the_url_keeps_it(lab):
    lab.open("/precision?pair=log_cosh")
    option_label(lab, "precision-dtype", "float32").click()
    lab.wait_until(lambda: metas(lab, ERROR) == ["breaks-naive-float32", "breaks-stable-float32",
                                                 "naive-float32", "stable-float32"], "float32 curves only")
    lab.wait_until(lambda: "dtype=float32" in lab.driver.current_url, "URL dtype=float32")
    assert "float64" not in table_text(lab)
    # cosh overflows float32 past log(2 float max) = 89.416: the table gives it to the float
    assert f"inf from z = {float(np.log(2 * np.float64(np.finfo(np.float32).max))):.7g}" in table_text(lab)
    option_label(lab, "precision-dtype", "float64").click()
    lab.wait_until(lambda: metas(lab, ERROR) == ["breaks-naive-float64", "breaks-stable-float64",
                                                 "naive-float64", "stable-float64"], "float64 curves only")
    assert "float32" not in table_text(lab)
    assert lab.duo.get_logs() == []


def test_a_link_reopens_the_same_view(lab):
    lab.open("/precision?pair=softmax&dtype=float64&zmax=1000&zmin=1e-6")
    assert checked(lab, "precision-pair") == ["softmax"] and checked(lab, "precision-dtype") == ["float64"]
    assert lab.value("precision-zmax-input") == "1000" and lab.value("precision-zmin-input") == "1e-06"
    # |z| from 1e-6 to 1000: 9 decades a side, the axis ends half a step past them
    reach = lab.layout(VALUE, "xaxis.range")[1]
    assert 9 < reach < 9.05
    assert "none in range" in table_text(lab)  # the stable softmax
    assert lab.duo.get_logs() == []


HOVER_TEXT_JS = """
const layer = document.querySelector('#' + arguments[0] + ' .hoverlayer');
return layer ? layer.textContent : '';
"""


def test_hovering_one_chart_shows_z_and_the_values_on_both(lab):
    lab.open("/precision?pair=softmax&dtype=float64")
    x, y = lab.viewport_point(f"#{VALUE} .nsewdrag", 0.75, 0.5)
    lab.mouse().move_to_location(int(x), int(y)).pause(0.3).perform()
    text = lab.wait_until(lambda: "z = " in lab.js(HOVER_TEXT_JS, VALUE) and lab.js(HOVER_TEXT_JS, VALUE),
                          "the unified hover box with z")
    assert "stable · float64" in text and "0.6652" in text
    # the linked relative-error chart shows its own box at the same x
    lab.wait_until(lambda: "stable · float64" in lab.js(HOVER_TEXT_JS, ERROR), "the partner chart's hover")
    assert lab.duo.get_logs() == []


def test_a_bad_range_keeps_the_charts_and_says_what_is_expected(lab):
    lab.open("/precision")
    before = lab.snapshot(*GRAPHS) + table_text(lab)
    lab.type_into("precision-zmax-input", "1e6")
    wait_message(lab, "precision-zmax-message", "Largest |z|", "out of range", "10 to 10,000")
    assert lab.snapshot(*GRAPHS) + table_text(lab) == before
    lab.type_into("precision-zmax-input", "100")
    lab.wait_until(lambda: lab.text("precision-zmax-message") == "", "the message to clear")
    lab.wait_until(lambda: "zmax=100&" in lab.driver.current_url, "URL zmax=100")
    lab.wait_until(lambda: "-inf from z = -709" not in table_text(lab), "the table to follow the range")
    assert "none in range" in table_text(lab)  # float64 exp does not overflow below |z| = 100
    assert lab.duo.get_logs() == []
