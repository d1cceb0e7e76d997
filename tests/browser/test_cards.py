"""Loss cards in headless Chromium: the header's search on any view, the card it opens, its link to the
view that plots the loss, keyboard use, each view's cards panel, and the index fetched once."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.keys import Keys

from losslab import cards
from losslab.dashboard import cards as dashboard_cards
from losslab.dashboard import ids

from .conftest import checked, option_label

SEARCH = ids.Cards.SEARCH
HUBER_CITATION = "P. J. Huber (1964). Robust Estimation of a Location Parameter."


@pytest.fixture
def lab(lab, monkeypatch):
    """The dashboard with its card index served (``create_app`` does it once the app factory calls
    ``losslab.dashboard.cards.install``; installing twice changes nothing)."""
    import losslab.dashboard

    create_app = losslab.dashboard.create_app

    def create_app_with_cards():
        app = create_app()
        dashboard_cards.install(app)
        return app

    monkeypatch.setattr(losslab.dashboard, "create_app", create_app_with_cards)
    return lab


def type_query(lab, text: str):
    box = lab.duo.find_element(f"#{SEARCH}")
    box.click()
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE)
    box.send_keys(text)
    return box


def result_keys(lab) -> list[str]:
    return lab.js("return Array.from(document.querySelectorAll('#' + arguments[0] + ' [role=option]'),"
                  " (o) => o.dataset.key);", ids.Cards.RESULTS)


def wait_for_results(lab, what: str) -> list[str]:
    return lab.wait_until(lambda: not lab.js("return document.getElementById(arguments[0]).hidden;", ids.Cards.RESULTS)
                          and result_keys(lab), f"results for {what}")


def card_open(lab) -> str | None:
    return lab.js("const p = document.getElementById(arguments[0]); return p.hidden ? null : p.dataset.key;",
                  ids.Cards.PANEL)


def wait_for_typeset_formulas(lab):
    lab.wait_until(f"document.querySelectorAll('#{ids.Cards.FORMULAS} mjx-container').length >= 2",
                   "the card's formulas typeset by MathJax", timeout=20)


@pytest.mark.parametrize("path", ["/regression", "/binary"])
def test_searching_outlier_shows_hubers_card_with_its_paper(lab, path):
    lab.open(path)
    type_query(lab, "outlier")
    found = wait_for_results(lab, "outlier")
    assert found == cards.search("outlier")[:12] and found[0] == "huber"
    assert "match" in lab.text(ids.Cards.STATUS) and "outlier" in lab.text(ids.Cards.STATUS)
    lab.duo.find_element("#card-option-huber").click()
    lab.wait_until(lambda: card_open(lab) == "huber", "Huber's card to open")
    assert lab.text(ids.Cards.TITLE) == "Huber"
    body = lab.text(ids.Cards.BODY)
    assert HUBER_CITATION in body
    for heading in ("Intuition", "When to use it", "Pros", "Cons", "Related losses", "Original paper"):
        assert heading in body
    assert lab.js("return document.activeElement.id;") == ids.Cards.TITLE
    wait_for_typeset_formulas(lab)
    assert lab.js("return document.getElementById(arguments[0]).hidden;", ids.Cards.RESULTS)
    assert lab.duo.get_logs() == []


def test_a_cards_link_opens_the_view_that_plots_the_loss_with_it_ticked(lab):
    lab.open("/binary")
    type_query(lab, "huber")
    assert wait_for_results(lab, "huber")[0] == "huber"
    lab.duo.find_element(f"#{SEARCH}").send_keys(Keys.ENTER)
    lab.wait_until(lambda: card_open(lab) == "huber", "Huber's card to open")
    link = lab.duo.find_element(".card-view-link")
    assert link.text == "Plot Huber in the Regression view"
    link.click()
    lab.wait_until("window.location.pathname === '/regression'", "the regression view")
    lab.wait_until(lambda: lab.curves("regression-loss-graph") == ["huber"], "Huber alone on the chart", timeout=20)
    assert checked(lab, "regression-losses") == ["huber"]
    assert "losses=huber" in lab.js("return window.location.search;")
    assert lab.duo.get_logs() == []


def test_the_browser_ranks_results_as_the_core_search_does(lab):
    lab.open("/regression")
    queries = ["outlier", "overlap", "GAN", "gans", "Outliers", "MSE", "log cosh", "focal loss", "kl", "box",
               "segmentation imbalance recall", "Geman–McClure", "Fernández", "loss", "the", "zzzqqq", ""]
    got = lab.duo.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "window.losslabCards.load().then(() => done(arguments[0].map((q) => window.losslabCards.search(q))),"
        " (e) => done(String(e)));",
        queries,
    )
    assert got == [cards.search(query) for query in queries]
    assert lab.duo.get_logs() == []


def test_the_search_box_works_from_the_keyboard(lab):
    lab.open("/multiclass")
    box = type_query(lab, "overlap")
    found = wait_for_results(lab, "overlap")
    assert box.get_attribute("role") == "combobox" and box.get_attribute("aria-expanded") == "true"
    box.send_keys(Keys.ARROW_DOWN)
    box.send_keys(Keys.ARROW_DOWN)
    assert box.get_attribute("aria-activedescendant") == f"card-option-{found[1]}"
    assert lab.js("return document.getElementById(arguments[0]).getAttribute('aria-selected');",
                  f"card-option-{found[1]}") == "true"
    box.send_keys(Keys.ARROW_UP)
    assert box.get_attribute("aria-activedescendant") == f"card-option-{found[0]}"
    box.send_keys(Keys.ESCAPE)
    assert box.get_attribute("aria-expanded") == "false" and lab.value(SEARCH) == "overlap"
    box.send_keys(Keys.ARROW_DOWN)
    assert box.get_attribute("aria-expanded") == "true"
    box.send_keys(Keys.ENTER)
    lab.wait_until(lambda: card_open(lab) == found[0], "the first result's card to open")
    assert lab.js("return document.activeElement.id;") == ids.Cards.TITLE
    lab.duo.find_element(f"#{ids.Cards.CLOSE}").send_keys(Keys.ENTER)
    lab.wait_until(lambda: card_open(lab) is None, "the card to close")
    assert lab.js("return document.activeElement.id;") == SEARCH
    assert box.get_attribute("aria-expanded") == "true"  # back in the box: its results again
    box.send_keys(Keys.ESCAPE)
    assert box.get_attribute("aria-expanded") == "false" and lab.value(SEARCH) == "overlap"
    box.send_keys(Keys.ESCAPE)  # the list is closed: a second Escape empties the box
    lab.wait_until(lambda: lab.value(SEARCH) == "", "the box to be cleared")
    assert lab.text(ids.Cards.STATUS) == ""
    assert lab.duo.get_logs() == []


def test_a_query_matching_nothing_says_so(lab):
    lab.open("/regression")
    type_query(lab, "zzzqqq")
    lab.wait_until(lambda: "No card matches" in (lab.text(ids.Cards.STATUS) or ""), "the no-match status")
    assert result_keys(lab) == [] and lab.js("return document.getElementById(arguments[0]).hidden;", ids.Cards.RESULTS)
    assert lab.duo.get_logs() == []


def test_a_related_loss_opens_its_own_card(lab):
    lab.open("/regression")
    type_query(lab, "huber")
    wait_for_results(lab, "huber")
    lab.duo.find_element(f"#{SEARCH}").send_keys(Keys.ENTER)
    lab.wait_until(lambda: card_open(lab) == "huber", "Huber's card")
    lab.duo.find_element(f"#{ids.Cards.BODY} button[data-card='pseudo_huber']").click()
    lab.wait_until(lambda: card_open(lab) == "pseudo_huber", "the pseudo-Huber card")
    assert "Charbonnier" in lab.text(ids.Cards.BODY)
    assert lab.duo.get_logs() == []


def test_a_views_cards_panel_shows_the_ticked_losses_and_follows_the_checklist(lab):
    lab.open("/regression")
    assert lab.js("return performance.getEntriesByType('resource').filter("
                  "(e) => e.name.includes('cards.json')).length;") == 0  # nothing fetched before it is wanted
    lab.duo.find_element("details.view-cards > summary").click()
    view = ids.View("regression")

    def drawn():
        return lab.js("return Array.from(document.querySelectorAll('#' + arguments[0] + ' .mini-card'),"
                      " (c) => c.dataset.key);", view.CARDS)

    ticked = checked(lab, view.LOSSES)
    lab.wait_until(lambda: drawn() == ticked, "a card per ticked loss")
    assert "Huber (1964)" in lab.text(view.CARDS)
    option_label(lab, view.LOSSES, "mae").click()
    lab.wait_until(lambda: drawn() == [key for key in ticked if key != "mae"], "the MAE card to go")
    lab.duo.find_element(f"#{view.CARDS} .mini-card[data-key='huber'] .mini-card-open").click()
    lab.wait_until(lambda: card_open(lab) == "huber", "the full Huber card")
    wait_for_typeset_formulas(lab)
    assert lab.duo.get_logs() == []


def test_the_index_is_fetched_once_however_much_is_searched(lab):
    lab.open("/regression")
    for query in ("outlier", "overlap", "GAN"):
        type_query(lab, query)
        wait_for_results(lab, query)
    lab.duo.find_element("details.view-cards > summary").click()
    lab.wait_until(f"document.querySelectorAll('#{ids.View('regression').CARDS} .mini-card').length > 0",
                   "the view's cards")
    fetched = lab.js("return performance.getEntriesByType('resource').filter("
                     "(e) => e.name.includes(arguments[0])).length;", dashboard_cards.INDEX_ROUTE)
    assert fetched == 1
    assert lab.duo.get_logs() == []
