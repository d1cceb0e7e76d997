"""The registered views. Adding a view is one module in this package plus one line in ``VIEWS``.

Everything else (routing, navigation, the callback wiring, URL state, the
security checks) iterates over ``VIEWS`` and reads each view only through
the :class:`~losslab.dashboard.views.base.View` interface.
"""

from __future__ import annotations

from losslab.dashboard.url_state import ViewState
from losslab.dashboard.views import (
    binary,
    counts,
    detection,
    generative,
    metric,
    multiclass,
    precision,
    ranking,
    regression,
    robust,
    segmentation,
    sequences,
    training,
)
from losslab.dashboard.views.base import ReadoutTable, UpdatePlan, View, ViewOutput

VIEWS: tuple[View, ...] = (
    regression.VIEW,
    binary.VIEW,
    multiclass.VIEW,
    training.VIEW,
    robust.VIEW,
    precision.VIEW,
    counts.VIEW,
    detection.VIEW,
    segmentation.VIEW,
    metric.VIEW,
    ranking.VIEW,
    generative.VIEW,
    sequences.VIEW,
)

_BY_NAME = {view.name: view for view in VIEWS}
DEFAULT_VIEW = VIEWS[0]


def get(name: str) -> View:
    return _BY_NAME[name]


def names() -> tuple[str, ...]:
    return tuple(_BY_NAME)


def by_path(pathname: str) -> View | None:
    """The view served at a path ('/' and '' open the first view); None if there is none."""
    path = pathname.rstrip("/")
    if path == "":
        return DEFAULT_VIEW
    return next((view for view in VIEWS if view.path == path), None)


def default_state(name: str) -> ViewState:
    return get(name).default_state()


def parse_query(name: str, search: str | None) -> ViewState:
    return get(name).parse_query(search)


def encode_query(state: ViewState) -> str:
    return get(state.view).encode_query(state)


def build(state: ViewState) -> ViewOutput:
    return get(state.view).build(state)


def update_plan(previous: ViewState | None, state: ViewState) -> UpdatePlan:
    return get(state.view).plan(previous, state)


__all__ = ["VIEWS", "ReadoutTable", "UpdatePlan", "View", "ViewOutput", "build", "by_path", "default_state",
           "encode_query", "get", "names", "parse_query", "update_plan"]
