"""The loss cards in the page: a search box in the header, the card it opens, and each view's cards panel.

The cards (:mod:`losslab.cards`) travel once, as a JSON index served at
:data:`INDEX_ROUTE` (:func:`install`); ``assets/cards.js`` fetches it the first
time something is typed in the search box or a view's cards panel is opened, and
then searches and draws cards in the browser with no server round trip. The
index is the same bytes for the life of a process and carries an ETag, so a
repeat visit's check of it is an empty 304.

The browser ranks results exactly as :func:`losslab.cards.search` does: the
index carries each card's search groups, names, the stop words and the short-word
rule, and ``cards.js`` only tokenises the query. A card's formulas are typeset
by the MathJax that the views' formula panels load (lazily: ``assets/formulas.js``
turns it on, also for an open card): the card adds no Markdown component and never loads MathJax itself (until
MathJax is there, the formulas show as LaTeX source).
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import TYPE_CHECKING

from dash import dcc, html
from flask import Response, request

from losslab import cards, registry
from losslab.dashboard import ids

if TYPE_CHECKING:
    import dash

    from losslab.dashboard.views.base import View

#: Where the index is served, under the app's routes prefix.
INDEX_ROUTE = "_losslab/cards.json"
_ENDPOINT = "losslab_card_index"


# ---- the index ---------------------------------------------------------------------------------


def view_link(key: str, views: tuple[View, ...]) -> dict | None:
    """The view that plots ``key`` as ``{"title", "href"}``, or None if no view offers it.

    A view of the loss's own task comes first, then any view that offers it, each in ``views`` order;
    the link preselects the loss (``?losses=<key>``) where the view has a loss checklist.
    """
    spec = registry.BY_KEY.get(key)
    offering = [view for view in views if key in view.loss_keys]
    if not offering:
        return None
    with_checklist = [view for view in offering if view.loss_checklist]
    own_task = [view for view in with_checklist if spec is not None and view.task == spec.task]
    view = (own_task or with_checklist or offering)[0]
    return {"title": view.title, "href": view.path + (f"?losses={key}" if view.loss_checklist else "")}


def card_entry(entry: cards.Card, views: tuple[View, ...]) -> dict:
    """One card as the browser reads it."""
    paper = entry.paper
    return {
        "key": entry.key, "label": entry.label, "task": entry.task, "summary": entry.summary,
        "formula": entry.formula, "gradient": entry.gradient, "gradient_logit": entry.gradient_logit,
        "intuition": entry.intuition, "when_to_use": entry.when_to_use,
        "pros": list(entry.pros), "cons": list(entry.cons),
        "related": [{"key": key, "label": cards.card(key).label} for key in entry.related],
        "paper": {"authors": paper.authors, "year": paper.year, "title": paper.title, "note": paper.note,
                  "citation": paper.citation()},
        "view": view_link(entry.key, views),
        "names": list(cards.names(entry)),
        "search": [[weight, words] for weight, words in cards.search_groups(entry)],
    }


def card_index(views: tuple[View, ...]) -> dict:
    """Every card, in registry order, with what the browser's search needs."""
    return {"stopwords": sorted(cards.STOPWORDS), "short_term": cards.SHORT_TERM,
            "cards": [card_entry(entry, views) for entry in cards.CARDS.values()]}


@functools.cache
def index_bytes(views: tuple[View, ...]) -> bytes:
    return json.dumps(card_index(views), ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def install(app: dash.Dash) -> None:
    """Serve the card index at :data:`INDEX_ROUTE` (once per app; calling again changes nothing)."""
    # Imported here: the view modules import the layout, which imports this module.
    from losslab.dashboard import views

    if _ENDPOINT in app.server.view_functions:
        return

    def card_index_response() -> Response:
        body = index_bytes(views.VIEWS)
        response = Response(body, mimetype="application/json")
        response.set_etag(hashlib.sha256(body).hexdigest()[:32])
        return response.make_conditional(request)

    app.server.add_url_rule("/" + (app.config.routes_pathname_prefix + INDEX_ROUTE).lstrip("/"), _ENDPOINT,
                            card_index_response, methods=["GET"])


# ---- the page ----------------------------------------------------------------------------------


def _with_attributes(component, attributes: dict[str, str]):
    """``data-*``/``aria-*`` attributes set in name order (see ``layout.with_attributes``: same bytes in every worker)."""
    for name in sorted(attributes):
        setattr(component, name, attributes[name])
    return component


def search_box() -> html.Div:
    """The header's search: a labelled box, the results (a listbox) and a live status line.

    ``assets/cards.js`` makes the box a combobox (arrows move through the results, Enter opens a card,
    Escape closes the list).
    """
    results = _with_attributes(html.Ul(id=ids.Cards.RESULTS, className="card-results", role="listbox", hidden=True),
                               {"aria-label": "Matching loss cards"})
    return _with_attributes(
        html.Div(
            className="card-search",
            role="search",
            children=[
                html.Label("Loss cards", htmlFor=ids.Cards.SEARCH, className="card-search-label"),
                dcc.Input(id=ids.Cards.SEARCH, type="search", placeholder="Search loss cards…",
                          autoComplete="off", spellCheck=False, className="card-search-input"),
                # Floats under the box: showing results never moves the page.
                html.Div(className="card-popup", children=[
                    html.P(id=ids.Cards.STATUS, className="card-search-status", role="status"),
                    results,
                ]),
            ],
        ),
        {"data-index": INDEX_ROUTE},
    )


def card_panel() -> html.Section:
    """The card opened from the search, hidden until then. ``assets/cards.js`` draws it (no Dash component
    inside: its formulas are typeset by the MathJax the page has already loaded, see the module docstring)."""
    return _with_attributes(html.Section(id=ids.Cards.PANEL, className="panel loss-card", hidden=True),
                            {"aria-labelledby": ids.Cards.TITLE})


def view_panel(view: View) -> list:
    """A view's cards: a folded panel that shows the cards of the losses ticked in its checklist when opened
    (``assets/cards.js`` fetches the index then); nothing for a view without a checklist."""
    if not view.loss_checklist:
        return []
    return [_with_attributes(
        html.Details(
            className="panel view-cards",
            children=[
                html.Summary("Loss cards of the ticked losses"),
                html.P("Summary, intuition, when to use it, pros and cons, related losses and the original paper; "
                       "the formulas are in the panel above.", className="view-cards-note"),
                html.Div(id=view.ids.CARDS, className="view-cards-list"),
            ],
        ),
        {"data-checklist": view.ids.LOSSES, "data-view": view.name},
    )]
