"""Every component id of the dashboard, in one place.

A typo in an id is then an AttributeError at import time instead of a
callback that silently never fires. Ids are kebab-case and say what the
component is: ``regression-loss-graph``.
"""


class Page:
    LOCATION = "url"
    CONTENT = "page-content"
    NAV = "page-nav"
    URL_NOTICE = "url-notice"
    URL_SYNC = "url-sync"
    CHOOSER_TABLE = "choose-loss-table"


class Regression:
    TARGET_SLIDER = "regression-target-slider"
    TARGET_INPUT = "regression-target-input"
    TARGET_MESSAGE = "regression-target-message"
    DELTA_SLIDER = "regression-delta-slider"
    DELTA_INPUT = "regression-delta-input"
    DELTA_MESSAGE = "regression-delta-message"
    LOSSES = "regression-losses"
    LOSS_GRAPH = "regression-loss-graph"
    GRAD_GRAPH = "regression-grad-graph"
    READOUT = "regression-readout"
    FORMULAS = "regression-formulas"
