"""Every component id of the dashboard, in one place.

A typo in an id is then an AttributeError at import time instead of a
callback that silently never fires. Ids are kebab-case and say what the
component is: ``regression-loss-graph``. Numeric controls (a slider, a text
box and an inline message) are generated from the registry, so their ids
come from one function: ``number_input("regression", "delta")`` is
``regression-delta-input``.
"""

def number_input(view: str, name: str) -> str:
    return f"{view}-{name}-input"


def number_slider(view: str, name: str) -> str:
    return f"{view}-{name}-slider"


def number_message(view: str, name: str) -> str:
    return f"{view}-{name}-message"


class Page:
    LOCATION = "url"
    CONTENT = "page-content"
    NAV = "page-nav"
    URL_NOTICE = "url-notice"
    CHOOSER_TABLE = "choose-loss-table"
    PRESENT_TOGGLE = "present-toggle"


class Cards:
    """The loss cards' search box, its results and the card it opens (losslab.dashboard.cards, assets/cards.js)."""

    SEARCH = "card-search-input"
    RESULTS = "card-search-results"
    STATUS = "card-search-status"
    PANEL = "loss-card"
    TITLE = "loss-card-title"
    CLOSE = "loss-card-close"
    FORMULAS = "loss-card-formulas"
    BODY = "loss-card-body"


class View:
    """Ids every view has, prefixed by the view's name."""

    def __init__(self, view: str):
        self.name = view
        self.LOSSES = f"{view}-losses"
        self.LOSSES_MESSAGE = f"{view}-losses-message"
        self.LOSS_GRAPH = f"{view}-loss-graph"
        self.GRAD_GRAPH = f"{view}-grad-graph"
        self.READOUT = f"{view}-readout"
        self.FORMULAS = f"{view}-formulas"
        self.URL_SYNC = f"{view}-url-sync"
        self.LINK_FIX = f"{view}-link-fix"  # the query of the state shown, when the link had settings left out
        self.STATUS = f"{view}-status"
        self.CHART_CLICK = f"{view}-chart-click"  # a single click on a sweep chart, written by assets/losslab.js
        self.FAMILY = f"{view}-family"  # every position of one slider, for live motion in the browser
        self.FAMILY_REQUEST = f"{view}-family-request"  # which slider's family the browser wants
        self.CSV_BUTTON = f"{view}-csv-button"
        self.DOWNLOAD = f"{view}-download"
        self.CODE = f"{view}-code"
        self.LESSON = f"{view}-lesson"  # the sentence under the charts that says what the current point teaches
        self.CARDS = f"{view}-cards"  # the cards of the ticked losses, drawn by assets/cards.js

    def input(self, name: str) -> str:
        return number_input(self.name, name)

    def slider(self, name: str) -> str:
        return number_slider(self.name, name)

    def message(self, name: str) -> str:
        return number_message(self.name, name)


class _Regression(View):
    def __init__(self):
        super().__init__("regression")
        self.TARGET_INPUT = self.input("target")
        self.TARGET_SLIDER = self.slider("target")
        self.TARGET_MESSAGE = self.message("target")
        self.DELTA_INPUT = self.input("delta")
        self.DELTA_SLIDER = self.slider("delta")
        self.DELTA_MESSAGE = self.message("delta")
        self.PREDICTION_INPUT = self.input("prediction")


class _Binary(View):
    def __init__(self):
        super().__init__("binary")
        self.LABEL_INPUT = self.input("label")
        self.LABEL_SLIDER = self.slider("label")
        self.LABEL_MESSAGE = self.message("label")
        self.PROBABILITY_INPUT = self.input("probability")
        self.AXIS = "binary-axis"
        self.PANELS = "binary-panels"
        self.LESSON = "binary-lesson"


class _Multiclass(View):
    def __init__(self):
        super().__init__("multiclass")
        self.LOGITS_INPUT = "multiclass-logits-input"
        self.LOGITS_MESSAGE = "multiclass-logits-message"
        self.TRUE_CLASS_INPUT = self.input("true_class")
        self.TEMPERATURE_INPUT = self.input("temperature")
        self.TEMPERATURE_SLIDER = self.slider("temperature")
        self.SWEPT_CLASS_INPUT = self.input("swept_class")
        self.PROBABILITY_GRAPH = "multiclass-probability-graph"
        self.CLASS_GRAD_GRAPH = "multiclass-class-grad-graph"
        self.STABILITY_TABLE = "multiclass-stability-table"
        self.TARGET_NOTE = "multiclass-target-note"


Regression = _Regression()
Binary = _Binary()
Multiclass = _Multiclass()
