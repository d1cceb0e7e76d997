"""Lazy formulas in headless Chromium (assets/formulas.js, issue 15).

A view's formulas are a ``dcc.Markdown(mathjax=False, className="lazy-math")``: MathJax (Dash's 2 MB
bundle) is downloaded only when the Formulas panel comes within a screen of the viewport, or when a
loss card's formulas are shown. These tests check, on a phone-sized window where the panel starts far
below the fold, that nothing of MathJax is fetched before that, that every display formula is typeset
once the panel is scrolled to (no "$$" left), that formulas changed by a control afterwards are typeset
too, that a card opened first still gets its formulas typeset, and that the console stays clean.
"""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.keys import Keys

from losslab.dashboard import ids
from losslab.dashboard.views import VIEWS

from .conftest import option_label

PHONE = (390, 844)
BY_PATH = {view.path: view for view in VIEWS}

MATHJAX_FETCHED = ("performance.getEntriesByType('resource')"
                   ".some((e) => e.name.indexOf('async-mathjax') !== -1)")


def expected_displays(view, query: str = "") -> int:
    """How many display formulas ($$ ... $$) the view's formulas hold for a state (from the view's own
    Markdown source, which the browser must typeset one MathJax container each)."""
    formulas = view.build(view.parse_query(query)).formulas
    assert formulas.count("$$") % 2 == 0
    return formulas.count("$$") // 2


def open_on_phone(lab, path: str):
    lab.driver.set_window_size(*PHONE)
    lab.open(path)


def typeset_state(lab, element_id: str) -> dict:
    return lab.js(
        "const e = document.getElementById(arguments[0]);"
        "return {containers: e.querySelectorAll('mjx-container').length,"
        "        svgs: e.querySelectorAll('mjx-container svg').length,"
        "        raw: e.innerText.indexOf('$$') !== -1};",
        element_id,
    )


def wait_for_typeset(lab, element_id: str, count: int) -> dict:
    return lab.wait_until(
        lambda: (lambda s: s if s["containers"] == count and s["svgs"] == count and not s["raw"] else None)(
            typeset_state(lab, element_id)),
        f"{count} typeset formulas in #{element_id} (now {typeset_state(lab, element_id)})", timeout=25)


def scroll_to(lab, element_id: str):
    lab.js("document.getElementById(arguments[0]).scrollIntoView({block: 'center'});", element_id)


def assert_panel_far_below(lab, element_id: str):
    """The panel starts more than two screens down: formulas.js's one-screen margin does not reach it."""
    top, height = lab.js("return [document.getElementById(arguments[0]).getBoundingClientRect().top,"
                         " window.innerHeight];", element_id)
    assert top > 2 * height, (top, height)


@pytest.mark.parametrize("path", ["/regression", "/binary", "/segmentation", "/sequences", "/generative"])
def test_formulas_are_typeset_when_scrolled_to_and_not_before(lab, path):
    view = BY_PATH[path]
    formulas_id = view.ids.FORMULAS
    open_on_phone(lab, path)
    assert_panel_far_below(lab, formulas_id)
    time.sleep(1.0)  # well past formulas.js's quiet time: it would have turned MathJax on by now
    assert not lab.js(f"return {MATHJAX_FETCHED} || !!window.MathJax;"), "MathJax loaded before it was needed"
    state = typeset_state(lab, formulas_id)
    assert state["containers"] == 0 and state["raw"], state
    scroll_to(lab, formulas_id)
    wait_for_typeset(lab, formulas_id, expected_displays(view))
    assert lab.js(f"return {MATHJAX_FETCHED};")
    assert lab.duo.get_logs() == []


def test_formulas_changed_by_a_control_after_mathjax_is_on_are_typeset(lab):
    view = BY_PATH["/regression"]
    formulas_id = view.ids.FORMULAS
    open_on_phone(lab, "/regression")
    scroll_to(lab, formulas_id)
    default = expected_displays(view)
    wait_for_typeset(lab, formulas_id, default)
    ticked = list(view.default_state().losses)
    extra = next(key for key in view.loss_keys if key not in ticked)
    label = option_label(lab, view.ids.LOSSES, extra)
    lab.js("arguments[0].scrollIntoView({block: 'center'});", label)
    label.click()
    query = "?losses=" + ",".join(key for key in view.loss_keys if key in [*ticked, extra])
    count = expected_displays(view, query)
    assert count > default
    scroll_to(lab, formulas_id)
    wait_for_typeset(lab, formulas_id, count)
    time.sleep(0.5)  # a late second typeset would log its NaN-size error here
    assert lab.duo.get_logs() == []


def test_a_card_opened_before_the_formulas_panel_is_seen_gets_its_formulas_typeset(lab):
    view = BY_PATH["/binary"]
    open_on_phone(lab, "/binary")
    assert_panel_far_below(lab, view.ids.FORMULAS)
    time.sleep(1.0)
    assert not lab.js("return !!window.MathJax;")
    box = lab.duo.find_element(f"#{ids.Cards.SEARCH}")
    box.click()
    box.send_keys("huber")
    lab.wait_until(lambda: lab.js("return !!document.getElementById('card-option-huber');"), "Huber in the results")
    box.send_keys(Keys.ENTER)
    lab.wait_until(f"document.querySelectorAll('#{ids.Cards.FORMULAS} mjx-container svg').length >= 2",
                   "the card's formulas typeset by MathJax", timeout=25)
    assert "\\[" not in lab.text(ids.Cards.FORMULAS)
    # The view's own panel was turned on for it, and is typeset too when the reader gets there.
    scroll_to(lab, view.ids.FORMULAS)
    wait_for_typeset(lab, view.ids.FORMULAS, expected_displays(view))
    assert lab.duo.get_logs() == []


def test_control_changes_while_mathjax_comes_on_log_no_error(lab):
    """On a tall window the panel is within a screen from the start, so MathJax comes on once the page is
    quiet: control changes around that moment must not make it typeset a formula that was replaced."""
    view = BY_PATH["/regression"]
    lab.open("/regression")
    assert not lab.js("return !!window.MathJax;")
    for delay in (0.35, 0.5, 0.45, 0.6, 0.4, 0.7, 0.55, 0.8):
        option_label(lab, view.ids.LOSSES, "quantile").click()
        time.sleep(delay)
    lab.wait_until(lambda: lab.curves(view.ids.LOSS_GRAPH) == list(view.default_state().losses), "the default losses")
    scroll_to(lab, view.ids.FORMULAS)
    wait_for_typeset(lab, view.ids.FORMULAS, expected_displays(view))
    time.sleep(0.5)
    assert lab.duo.get_logs() == []
