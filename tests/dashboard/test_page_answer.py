"""The page-load (route) callback's answer: Dash's wire JSON, cached per URL, the same page as before."""

from __future__ import annotations

import json

import orjson
import plotly.io.json as plotly_json
import pytest

from losslab.dashboard import callbacks, tables, views

QUERIES = {"regression": "?delta=2&losses=huber,mse", "binary": "?label=1", "multiclass": "?logits=3,1,0.5"}


@pytest.mark.parametrize("view", views.VIEWS, ids=lambda v: v.name)
def test_the_wire_form_is_the_json_dash_would_send_for_the_components(view):
    parts = callbacks.route(view.path, QUERIES.get(view.name, ""))
    expected = json.loads(plotly_json.to_json_plotly(list(parts)))  # Dash's own encoding of the components
    assert json.loads(json.dumps(tables.wire(list(parts)))) == expected


@pytest.mark.parametrize("view", views.VIEWS, ids=lambda v: v.name)
def test_a_page_answer_serialises_in_one_orjson_call(view):
    """Plotly's encoder tries orjson first and walks the whole tree in Python when that raises (a
    component object anywhere in it); the page answer must never take that path."""
    answer = callbacks.page_answer(view.path, QUERIES.get(view.name, ""))
    encoded = orjson.dumps({"response": answer}, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    assert json.loads(encoded)["response"][0]["props"]["className"].startswith("view")


def test_a_repeated_url_is_answered_from_the_cache_and_a_new_one_is_built():
    callbacks.page_answer.cache_clear()
    first = callbacks.page_answer("/regression", "?delta=1.5")
    again = callbacks.page_answer("/regression", "?delta=1.5")
    other = callbacks.page_answer("/regression", "?delta=2.5")
    assert again is first
    info = callbacks.page_answer.cache_info()
    assert (info.hits, info.misses) == (1, 2)
    assert props_of(first[0], "regression-delta-input")["value"] == "1.5"
    assert props_of(other[0], "regression-delta-input")["value"] == "2.5"


def props_of(tree, component_id: str) -> dict:
    """The props of the component with ``component_id`` in a wire-format tree."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict) and isinstance(node.get("props"), dict):
            if node["props"].get("id") == component_id:
                return node["props"]
            stack.extend(v for v in node["props"].values() if isinstance(v, list | dict))
    raise LookupError(component_id)


def test_answers_for_bad_links_and_unknown_paths_are_those_of_route():
    for path, search in (("/binary", "?label=abc"), ("/no-such-view", ""), (None, None)):
        assert json.loads(json.dumps(callbacks.page_answer(path, search))) == json.loads(
            plotly_json.to_json_plotly(list(callbacks.route(path, search))))
    assert "label" in callbacks.page_answer("/binary", "?label=abc")[1]


def test_the_app_serves_the_page_answer_for_a_route_request():
    from bench import payloads
    from losslab.dashboard import create_app

    app = create_app()
    client = app.server.test_client()
    page = client.get("/regression").get_data()
    config = json.loads(page.split(b'<script id="_dash-config" type="application/json">')[1].split(b"</script>")[0])
    url = payloads.UPDATE_PATH + (f"?endId={config['end_id']}" if config.get("end_id") else "")
    body = payloads.route_body(app.callback_map, "/regression", "?delta=2")
    answers = [client.post(url, data=body, headers={"Content-Type": "application/json"}) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].get_data() == answers[1].get_data()
    content = json.loads(answers[0].get_data())["response"]["page-content"]["children"]
    assert content == json.loads(plotly_json.to_json_plotly(callbacks.route("/regression", "?delta=2")[0]))


def test_a_slider_family_is_computed_once_per_state_and_equals_a_fresh_one():
    from losslab.dashboard import views
    from losslab.dashboard.views.base import family

    view = views.get("regression")
    query = view.encode_query(view.parse_query("?delta=1.5&losses=huber,mse"))
    callbacks.family_of.cache_clear()
    first = callbacks.motion_family(view, {"control": "delta", "at": 1}, query)
    again = callbacks.motion_family(view, {"control": "delta", "at": 2}, query)
    assert again is first
    assert callbacks.family_of.cache_info().misses == 1
    assert json.dumps(first, sort_keys=True) == json.dumps(family(view, view.parse_query(query), "delta"), sort_keys=True)
    other = callbacks.motion_family(view, {"control": "tau", "at": 3}, query)
    assert other["control"] == "tau" and callbacks.family_of.cache_info().misses == 2
    for bad in ({"control": "nope"}, None, "delta"):
        assert callbacks.motion_family(view, bad, query) is callbacks.no_update
