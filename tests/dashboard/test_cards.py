"""The loss cards in the dashboard: the index the browser searches, its route, and where the page shows them."""

from __future__ import annotations

import json

import pytest
from dash import dcc, html

from losslab import cards, registry
from losslab.dashboard import cards as dashboard_cards
from losslab.dashboard import create_app, ids, layout, views

INDEX_PATH = "/" + dashboard_cards.INDEX_ROUTE


@pytest.fixture(scope="module")
def client():
    app = create_app()
    dashboard_cards.install(app)
    return app.server.test_client()


@pytest.fixture(scope="module")
def index(client):
    return json.loads(client.get(INDEX_PATH).get_data(as_text=True))


def walk(component):
    """Every component in a layout tree."""
    yield component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if hasattr(child, "to_plotly_json"):
            yield from walk(child)


def test_the_index_holds_every_card_in_order(index):
    assert [entry["key"] for entry in index["cards"]] == list(cards.CARDS)
    huber = next(entry for entry in index["cards"] if entry["key"] == "huber")
    assert huber["paper"]["citation"] == "P. J. Huber (1964). Robust Estimation of a Location Parameter."
    assert huber["formula"] == registry.get("huber").latex_loss
    assert {item["key"] for item in huber["related"]} == set(cards.card("huber").related)


def test_the_index_carries_what_the_browser_needs_to_rank_as_the_core(index):
    assert index["stopwords"] == sorted(cards.STOPWORDS) and index["short_term"] == cards.SHORT_TERM
    for entry in index["cards"]:
        card = cards.card(entry["key"])
        assert entry["search"] == [list(group) for group in cards.search_groups(card)]
        assert entry["names"] == list(cards.names(card))


@pytest.mark.parametrize("key", list(cards.CARDS))
def test_a_cards_link_opens_a_view_that_plots_the_loss_with_it_ticked(index, key):
    link = next(entry["view"] for entry in index["cards"] if entry["key"] == key)
    offering = [view for view in views.VIEWS if key in view.loss_keys]
    if link is None:
        assert offering == []
        return
    path, _, query = link["href"].partition("?")
    view = views.by_path(path)
    assert view is not None and key in view.loss_keys and link["title"] == view.title
    if view.loss_checklist:
        state = view.parse_query(query)
        assert state.notices == () and state.losses == (key,)
        assert view.build(state).loss_figure["data"]  # the view draws it
    else:
        assert query == "" and not any(v.loss_checklist for v in offering)


def test_a_link_prefers_a_view_of_the_losss_own_task():
    regression = views.get("regression")
    robust = views.get("robust")
    assert "huber" in robust.loss_keys  # offered by both views
    assert dashboard_cards.view_link("huber", (robust, regression))["href"] == "/regression?losses=huber"
    assert dashboard_cards.view_link("huber", (robust,))["href"] == "/robust?losses=huber"
    assert dashboard_cards.view_link("ctc", (robust, regression)) is None


def test_the_index_is_json_with_an_etag_and_a_repeat_visit_gets_a_304(client):
    first = client.get(INDEX_PATH)
    assert first.status_code == 200 and first.mimetype == "application/json"
    etag = first.headers["ETag"]
    assert client.get(INDEX_PATH, headers={"If-None-Match": etag}).status_code == 304
    compressed = client.get(INDEX_PATH, headers={"Accept-Encoding": "br"})
    assert compressed.headers["Content-Encoding"] == "br" and len(compressed.data) < len(first.data) / 3
    repeat = client.get(INDEX_PATH, headers={"Accept-Encoding": "br", "If-None-Match": compressed.headers["ETag"]})
    assert repeat.status_code == 304


def test_installing_twice_changes_nothing():
    app = create_app()
    dashboard_cards.install(app)
    rules = sorted(rule.rule for rule in app.server.url_map.iter_rules())
    dashboard_cards.install(app)
    assert sorted(rule.rule for rule in app.server.url_map.iter_rules()) == rules
    assert rules.count(INDEX_PATH) == 1


def test_the_app_serves_the_card_index():
    """create_app installs the route (fails until app_factory calls losslab.dashboard.cards.install)."""
    response = create_app().server.test_client().get(INDEX_PATH)
    # Without the route, Dash's catch-all answers any path with the page (200, HTML).
    assert response.status_code == 200 and response.mimetype == "application/json"


def test_every_page_has_the_labelled_search_box_and_the_card_panel():
    shell = list(walk(layout.app_shell(views.VIEWS)))
    box = [c for c in shell if getattr(c, "id", None) == ids.Cards.SEARCH]
    assert len(box) == 1 and isinstance(box[0], dcc.Input) and box[0].type == "search"
    labels = [c for c in shell if isinstance(c, html.Label) and getattr(c, "htmlFor", None) == ids.Cards.SEARCH]
    assert len(labels) == 1 and labels[0].children
    results = next(c for c in shell if getattr(c, "id", None) == ids.Cards.RESULTS)
    assert results.role == "listbox" and getattr(results, "aria-label")
    status = next(c for c in shell if getattr(c, "id", None) == ids.Cards.STATUS)
    assert status.role == "status"
    panel = next(c for c in shell if getattr(c, "id", None) == ids.Cards.PANEL)
    assert panel.hidden is True and getattr(panel, "aria-labelledby") == ids.Cards.TITLE
    header = next(c for c in shell if isinstance(c, html.Header))
    assert any(getattr(c, "id", None) == ids.Cards.SEARCH for c in walk(header))


@pytest.mark.parametrize("view", views.VIEWS, ids=lambda view: view.name)
def test_a_view_with_a_checklist_has_a_cards_panel_reading_it(view):
    state = view.default_state()
    page = list(walk(layout.view_layout(view, state, view.build(state))))
    panels = [c for c in page if "view-cards" in str(getattr(c, "className", "")).split()]
    if not view.loss_checklist:
        assert panels == []
        return
    assert len(panels) == 1 and isinstance(panels[0], html.Details)
    assert getattr(panels[0], "data-checklist") == view.ids.LOSSES
    assert any(getattr(c, "id", None) == view.ids.CARDS for c in walk(panels[0]))
