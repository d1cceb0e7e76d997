"""The Dash app object: builds, serves the page and health check, registers the view callbacks."""

from __future__ import annotations

import dash
import pytest

from losslab.dashboard import create_app, ids, views


@pytest.fixture(scope="module")
def app():
    return create_app()


@pytest.fixture(scope="module")
def client(app):
    return app.server.test_client()


def test_create_app_builds_a_dash_app(app):
    assert isinstance(app, dash.Dash)
    assert app.layout is not None
    assert callable(app.server.wsgi_app)


def test_index_page(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "text/html" in response.content_type
    assert b"losslab" in response.data


@pytest.mark.parametrize("path", ["/regression", "/binary?label=1", "/multiclass", "/no-such-view"])
def test_view_paths_serve_the_single_page(client, path):
    assert client.get(path).status_code == 200


def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200


def test_dash_layout_and_dependencies(client):
    assert client.get("/_dash-layout").status_code == 200
    dependencies = client.get("/_dash-dependencies")
    assert dependencies.status_code == 200
    assert isinstance(dependencies.get_json(), list)


def _outputs(app) -> set[str]:
    found = set()
    for key in app.callback_map:
        found |= {part for part in key.strip(".").split("...")}
    return found


def test_callback_map_contains_the_route_callback(app):
    outputs = _outputs(app)
    assert {f"{ids.Page.CONTENT}.children", f"{ids.Page.URL_NOTICE}.children", f"{ids.Page.NAV}.children"} <= outputs


@pytest.mark.parametrize("view", views.names())
def test_callback_map_contains_the_view_callbacks(app, view):
    outputs = _outputs(app)
    spec = views.get(view)
    view_ids = spec.ids
    expected = {
        f"{view_ids.LOSS_GRAPH}.figure",
        f"{view_ids.GRAD_GRAPH}.figure",
        f"{view_ids.READOUT}.children",
        f"{view_ids.FORMULAS}.children",
        f"{view_ids.URL_SYNC}.data",
        f"{view_ids.LOSSES_MESSAGE}.children",
    }
    expected |= {f"{ids.number_message(view, c.name)}.children" for c in spec.numbers}
    expected |= {f"{out.component_id}.{out.prop}" for out in spec.extra_outputs.values()}
    if spec.click_action() is not None:
        expected.add(f"{spec.click_action().target_id}.value")
    missing = expected - outputs
    assert not missing


def test_the_click_callbacks_write_the_prediction_boxes(app):
    outputs = _outputs(app)
    assert {f"{ids.Regression.PREDICTION_INPUT}.value", f"{ids.Binary.PROBABILITY_INPUT}.value",
            f"{ids.Multiclass.LOGITS_INPUT}.value"} <= outputs


def test_view_callback_inputs_are_the_controls(app):
    key = next(k for k in app.callback_map if f"{ids.Regression.LOSS_GRAPH}.figure" in k)
    inputs = {f"{i['id']}.{i['property']}" for i in app.callback_map[key]["inputs"]}
    for control in views.get("regression").numbers:
        assert f"{ids.number_input('regression', control.name)}.value" in inputs
    assert f"{ids.Regression.LOSSES}.value" in inputs


def test_route_callback_over_http(app, client):
    """The real request the renderer sends when the page opens at /binary?label=abc."""
    key = next(k for k in app.callback_map if f"{ids.Page.CONTENT}.children" in k)
    body = {
        "output": key,
        "outputs": [{"id": ids.Page.CONTENT, "property": "children"},
                    {"id": ids.Page.URL_NOTICE, "property": "children"},
                    {"id": ids.Page.NAV, "property": "children"}],
        "inputs": [{"id": ids.Page.LOCATION, "property": "pathname", "value": "/binary"},
                   {"id": ids.Page.LOCATION, "property": "search", "value": "?label=abc"}],
        "changedPropIds": [f"{ids.Page.LOCATION}.pathname"],
        "state": [],
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200
    notice = response.get_json()["response"][ids.Page.URL_NOTICE]["children"]
    assert isinstance(notice, str)
    assert "“abc” is not a number" in notice


def test_create_app_twice_gives_independent_apps():
    a, b = create_app(), create_app()
    assert a is not b and a.server is not b.server
    assert set(a.callback_map) == set(b.callback_map)
