"""A user's path through one browser session: text the server rejects never moves a slider, a link
with hostile values opens with a notice and keeps the rest, and a copied link reopens the same state.

One dash_duo for the file (each step starts from a fresh page load, so nothing carries over but the server).
"""

from __future__ import annotations

import json

from tests.browser.test_bad_input import wait_message
from tests.browser.test_export import allow_downloads

SLIDER_NOW = "const h = document.querySelector('#' + arguments[0] + ' [role=slider]'); return h && h.getAttribute('aria-valuenow');"


def slider_position(lab, slider_id: str):
    return lab.js(SLIDER_NOW, slider_id)


def test_rejected_text_leaves_the_slider_and_a_hostile_link_keeps_the_rest_and_a_copied_link_reopens(lab, tmp_path):
    # 1. Text the server does not read as a number leaves the slider alone: JavaScript's Number() reads
    #    0x3 as 3 and the slider followed it while the server said "not a number"; the server read 1_000
    #    and the full-width １ while the slider stayed put.
    lab.open("/regression")
    graphs = ("regression-loss-graph", "regression-grad-graph")
    before = lab.snapshot(*graphs)
    for typed in ("0x3", "1_000"):  # the other forms: tests/dashboard/test_user_paths.py, same pattern
        lab.type_into("regression-target-input", typed)
        wait_message(lab, "regression-target-message", "True value y", typed, "not a number")
        assert slider_position(lab, "regression-target-slider") == "0", f"the slider followed {typed!r}"
        assert lab.snapshot(*graphs) == before
        assert "target=0&" in lab.driver.current_url or "target" not in lab.driver.current_url
    lab.type_into("regression-target-input", "2,5")
    wait_message(lab, "regression-target-message", "“2,5”", "use a point for decimals: 2.5")
    lab.type_into("regression-target-input", "2.5e0")
    lab.wait_until(lambda: slider_position(lab, "regression-target-slider") == "2.5", "the slider at 2.5")
    lab.wait_until(lambda: "target=2.5&" in lab.driver.current_url, "target=2.5 in the URL")
    # typographic minus signs (U+2212), as a copy from a slide or a PDF brings them, in the number and
    # its exponent: the server reads every one, and so must the slider mirror (it replaced only the first)
    lab.type_into("regression-target-input", "\u221225e\u22121")
    lab.wait_until(lambda: "target=-2.5&" in lab.driver.current_url, "target=-2.5 in the URL")
    lab.wait_until(lambda: slider_position(lab, "regression-target-slider") == "-2.5", "the slider at -2.5")

    # 2. A hostile link: each bad value named in the notice, the good ones kept, the page still works.
    lab.open("/binary?gamma=1e400&label=0.25&label=0.75&nonsense=%3Cb%3Ex%3C/b%3E&losses=bce,focal,nope"
             "&probability=0x10&axis=logit")
    notice = lab.wait_until(lambda: lab.text("url-notice"), "the link's notice")
    for fragment in ("1e400", "“label” appears 2 times", "nonsense", "nope", "0x10"):
        assert fragment in notice, f"{fragment!r} not in the notice {notice!r}"
    assert lab.value("binary-label-input") == "0.25" and lab.value("binary-gamma-input") == "2"
    # the address bar holds the state shown, so a link copied right away does not pass the bad values on
    lab.wait_until(lambda: "nonsense" not in lab.driver.current_url, "the link's bad settings out of the address bar")
    query = lab.js("return window.location.search;")
    for dropped in ("1e400", "0.75", "nonsense", "nope", "0x10"):
        assert dropped not in query, f"{dropped!r} still in the address bar: {query}"
    for kept in ("label=0.25", "axis=logit", "losses=bce,focal"):
        assert kept in query.replace("%2C", ","), f"{kept!r} not in the address bar: {query}"
    lab.type_into("binary-gamma-input", "0.5")
    lab.wait_until(lambda: "gamma=0.5&" in lab.driver.current_url, "gamma=0.5 in the URL")

    # 3. Round trip: typed values past the sliders, a log axis, then the copied link in a fresh page load.
    lab.open("/regression")
    lab.type_into("regression-delta-input", "3e1")  # past the slider's 10
    lab.type_into("regression-prediction-input", "-7.25")
    lab.wait_until(lambda: "delta=30&" in lab.driver.current_url and "prediction=-7.25&" in lab.driver.current_url,
                   "the typed values in the URL")
    link = lab.driver.current_url
    typed_state = {box: lab.value(f"regression-{box}-input") for box in ("target", "prediction", "delta", "tau")}
    shown_curves = json.loads(lab.snapshot(*graphs))
    lab.open(link.removeprefix(lab.base))
    assert lab.driver.current_url == link
    assert {box: lab.value(f"regression-{box}-input") for box in typed_state} == {**typed_state, "delta": "30"}
    assert lab.text("url-notice") == ""
    assert json.loads(lab.snapshot(*graphs)) == shown_curves
    assert lab.duo.get_logs() == []

    # 4. A typed value whose gradient Plotly cannot place (dL/dλ = 1 − y/λ = −1e306 at λ = 1e-300): the
    #    charts drew NaN paths with console errors; now a gap, the number in the readout.
    lab.open("/counts?rate=1e-300&count=1000000")
    assert "-1.0000e+306" in lab.text("counts-readout").replace("−", "-")  # not its 307 digits
    assert lab.duo.get_logs() == []

    # 5. Image export of a view with more than two charts: one file per chart was saved (sequences' CTC
    #    pair first lost to a name clash); now one SVG holds every chart the view shows, multiclass's
    #    probability and class-gradient bars included (tests/browser/test_image_export.py checks places).
    lab.open("/sequences")
    allow_downloads(lab, tmp_path)
    lab.duo.find_element(".image-button[data-format='svg']").click()
    lab.wait_until(lambda: (tmp_path / "losslab-sequences.svg").exists(), "losslab-sequences.svg")
    lab.open("/multiclass")
    lab.duo.find_element(".image-button[data-format='svg']").click()
    lab.wait_until(lambda: 'class="main-svg"' in (tmp_path / "losslab-multiclass.svg").read_text(),
                   "losslab-multiclass.svg")
    assert (tmp_path / "losslab-multiclass.svg").read_text().count('class="main-svg"') == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["losslab-multiclass.svg", "losslab-sequences.svg"]
    assert lab.duo.get_logs() == []
