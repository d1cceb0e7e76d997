"""The page's first paint: the header and the view's title and introduction, as HTML in the index page.

Dash draws nothing until its scripts have run and two requests (the layout and
the route callback) have come back: on a slow phone that is several seconds of
"Loading...". The shell is the same page's top, rendered here from the same
components (``layout.app_shell`` and ``layout.view_layout``), so the student
reads the title and the introduction at once; Dash then replaces it with the
live page (same classes, same place, so nothing moves).

Only ``dash_html_components`` and ``dcc.Link`` are rendered, without ids (the
live page owns them). Text is escaped; the request's path only chooses which
registered view's shell to send and is never written into the page.
"""

from __future__ import annotations

import functools

from dash import dcc
from markupsafe import escape

from losslab.dashboard import ids, layout, views

ATTRIBUTES = {"className": "class", "title": "title", "href": "href", "role": "role"}
SHOWN_CLASSES = ("view-title", "intro")  # of a view's layout: what the shell shows of it


def shell_html(path: str) -> str:
    """The shell for the view at ``path`` (the header alone for a path that is no view)."""
    view = views.by_path(path.split("?")[0])
    return _shell(view.name if view is not None else None)


@functools.cache
def _shell(view_name: str | None) -> str:
    header = _find(layout.app_shell(views.VIEWS), "site-header")
    parts = [render(header, active=view_name), '<div class="url-notice"></div>']
    if view_name is not None:
        view = views.get(view_name)
        state = view.default_state()
        page = layout.view_layout(view, state, view.build(state))
        shown = "".join(render(_find(page, name)) for name in SHOWN_CLASSES)
        parts.append(f'<main aria-busy="true"><section class="view view-{escape(view_name)}">{shown}</section></main>')
    return f'<div class="app">{"".join(parts)}</div>'


def _find(component, class_name: str):
    """The first component in a tree whose className has ``class_name``."""
    if isinstance(component, list | tuple):
        return next((found for child in component if (found := _find(child, class_name)) is not None), None)
    props = getattr(component, "to_plotly_json", None)
    if props is None:
        return None
    if class_name in str(getattr(component, "className", "") or "").split():
        return component
    return _find(getattr(component, "children", None), class_name)


def render(component, active: str | None = None) -> str:
    """HTML of a component tree's ``html.*`` components and ``dcc.Link``; other components render as nothing."""
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(escape(str(component)))
    if isinstance(component, list | tuple):
        return "".join(render(child, active) for child in component)
    spec = component.to_plotly_json()
    props = spec["props"]
    if props.get("id") == ids.Page.NAV:  # the nav as the route callback will draw it, current view marked
        props = {**props, "children": layout.nav_links(views.VIEWS, active)}
    if spec["namespace"] == "dash_html_components":
        tag = spec["type"].lower()
    elif isinstance(component, dcc.Link):
        tag = "a"
    else:
        return ""
    attributes = "".join(f' {ATTRIBUTES[key]}="{escape(value)}"' for key, value in props.items()
                         if key in ATTRIBUTES and isinstance(value, str))
    attributes += "".join(f' {key}="{escape(value)}"' for key, value in props.items()
                          if key.startswith("aria-") and isinstance(value, str))
    return f"<{tag}{attributes}>{render(props.get('children'), active)}</{tag}>"
