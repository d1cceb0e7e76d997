"""Every registered view, through the one ``View`` interface the shared machinery uses.

A new view added to ``losslab.dashboard.views.VIEWS`` is covered here with no
change to this file: it must render, keep its whole state in the URL, and
answer bad input with its inline message while keeping its charts.
"""

from __future__ import annotations

import ast
import pathlib
import sys

import dash
import pytest

from losslab.dashboard import callbacks, views
from losslab.dashboard.views.base import View

VIEW_NAMES = views.names()
DASHBOARD = pathlib.Path(views.__file__).resolve().parents[1]


def walk(component):
    yield component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if hasattr(child, "to_plotly_json"):
            yield from walk(child)


def raw_controls(view: View, state) -> tuple[dict, list, dict]:
    """The control values the browser sends for ``state`` (text boxes hold text)."""
    numbers = {c.name: str(state.numbers[c.name]) for c in view.numbers}
    extras = {c.name: c.format(state.extras[c.name]) if c.has_message else state.extras[c.name]
              for c in view.extras}
    return numbers, list(state.losses), extras


@pytest.mark.parametrize("name", VIEW_NAMES)
def test_view_renders_its_path_with_every_control_and_chart(name):
    view = views.get(name)
    content, notice, nav = callbacks.route(view.path, "")
    assert notice == ""
    found = {getattr(c, "id", None) for c in walk(content)}
    assert {view.ids.LOSS_GRAPH, view.ids.GRAD_GRAPH, view.ids.READOUT, view.ids.URL_SYNC} <= found
    assert {view.ids.input(c.name) for c in view.numbers} <= found
    assert {c.input_id(name) for c in view.extras} <= found
    assert {out.component_id for out in view.extra_outputs.values()} <= found
    links = [c for item in nav for c in walk(item) if isinstance(c, dash.dcc.Link)]
    assert [link.href for link in links if "active" in link.className] == [view.path]
    assert {link.href for link in links} == {v.path for v in views.VIEWS}


@pytest.mark.parametrize("name", VIEW_NAMES)
def test_view_state_round_trips_through_its_url(name):
    view = views.get(name)
    state = view.default_state()
    assert view.parse_query(view.encode_query(state)) == state
    assert view.parse_query(view.build(state).query) == state


@pytest.mark.parametrize("name", VIEW_NAMES)
@pytest.mark.parametrize("bad", ["abc", "", "1e999"])
def test_view_answers_a_bad_number_with_its_message_and_keeps_its_charts(name, bad):
    view = views.get(name)
    state = view.default_state()
    numbers, losses, extras = raw_controls(view, state)
    control = view.numbers[0]
    numbers[control.name] = bad
    result = callbacks.update_view(view, numbers, losses, view.encode_query(state), **extras)
    assert result[f"message:{control.name}"].startswith(control.label)
    assert all(result[key] is dash.no_update for key in callbacks.chart_keys(view))


@pytest.mark.parametrize("name", VIEW_NAMES)
def test_view_answers_good_input_with_charts_and_no_message(name):
    view = views.get(name)
    state = view.default_state()
    numbers, losses, extras = raw_controls(view, state)
    result = callbacks.update_view(view, numbers, losses, None, **extras)
    assert all(result[key] == "" for key in callbacks.message_keys(view))
    assert result["loss_figure"]["data"] and result["grad_figure"]["data"]


def _string_constants(path: pathlib.Path) -> set[str]:
    return {node.value for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def test_no_shared_module_names_a_view():
    """Adding a view is one module plus one line: nothing outside a view's own file may ask for it by name."""
    view_modules = {pathlib.Path(sys.modules[type(view).__module__].__file__).resolve() for view in views.VIEWS}
    shared = [p for p in DASHBOARD.rglob("*.py") if p.resolve() not in view_modules and p.name != "ids.py"]
    for path in shared:
        named = _string_constants(path) & set(VIEW_NAMES)
        assert not named, f"{path.relative_to(DASHBOARD)} names the view(s) {sorted(named)}"


def test_every_page_is_the_same_bytes_in_every_worker():
    """Two gunicorn workers have different hash seeds; a page must not depend on it (Dash orders
    keyword data-*/aria-* attributes by a hash-seeded set: layout.with_attributes fixes their order)."""
    import subprocess
    import sys

    probe = ("import hashlib, json; from losslab.dashboard import callbacks, views\n"
             "print([hashlib.sha256(json.dumps(callbacks.route(v.path, '')[0].to_plotly_json(),"
             " default=lambda o: o.to_plotly_json()).encode()).hexdigest() for v in views.VIEWS])")
    pages = {subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            env={"PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")}
    assert len(pages) == 1, pages
