"""A list or an object where the renderer always sends a string: a worded 400, never a callback exception.

Each click and route body below made its callback raise (``TypeError: unhashable type``) and was
answered ``422`` with a bare reference: the route callback's page cache takes the URL's pathname and
search as its key, and the binary, segmentation and metric click callbacks look the axis radio's value
up among its choices once the click carries a usable x. Answered in process (Flask's test client).
"""

from __future__ import annotations

import json

import pytest

from . import CALLBACK_PATH

CLICK = {"points": [{"x": 0.5, "y": 0.0, "curveNumber": 0}]}  # a usable x: the callback goes on to read the axis


def _click(callbacks, view: str, target: str, axis) -> dict:
    return callbacks.body(callbacks.key(f"{view}-{target}-input.value"), {f"{view}-chart-click": CLICK}, None,
                          {f"{view}-axis": axis})


PATHNAME = "inputs[0] (url.pathname) must be a string or null; received "
SEARCH = "inputs[1] (url.search) must be a string or null; received "
BINARY_AXIS = "state[0] (binary-axis.value) must be a string or null (one of its choices: “logit” or “prob”); received "
SEGMENTATION_AXIS = "state[0] (segmentation-axis.value) must be a string or null (one of its choices: “prob” or “logit”); received "
METRIC_AXIS = ("state[0] (metric-axis.value) must be a string or null (one of its choices: “distance”, “angle” or "
               "“similarity”); received ")

# (name, bad body, the same body with the value a browser sends, the message)
CASES = [
    ("pathname a list", lambda cb: cb.route_body(["/"], ""), lambda cb: cb.route_body("/", ""), PATHNAME + "a list"),
    ("pathname an object", lambda cb: cb.route_body({"a": 1}, ""), lambda cb: cb.route_body("/", ""), PATHNAME + "an object"),
    ("pathname nested lists", lambda cb: cb.route_body([["/binary"]], "?axis=prob"),
     lambda cb: cb.route_body("/binary", "?axis=prob"), PATHNAME + "a list"),
    ("search a list", lambda cb: cb.route_body("/binary", ["?axis=prob"]), lambda cb: cb.route_body("/binary", "?axis=prob"),
     SEARCH + "a list"),
    ("search an object", lambda cb: cb.route_body("/binary", {"axis": "prob"}),
     lambda cb: cb.route_body("/binary", "?axis=prob"), SEARCH + "an object"),
    ("binary click, axis a list", lambda cb: _click(cb, "binary", "probability", ["logit"]),
     lambda cb: _click(cb, "binary", "probability", "logit"), BINARY_AXIS + "a list"),
    ("binary click, axis an object", lambda cb: _click(cb, "binary", "probability", {"value": "prob"}),
     lambda cb: _click(cb, "binary", "probability", "prob"), BINARY_AXIS + "an object"),
    ("segmentation click, axis a list", lambda cb: _click(cb, "segmentation", "x", []),
     lambda cb: _click(cb, "segmentation", "x", "prob"), SEGMENTATION_AXIS + "a list"),
    ("segmentation click, axis an object", lambda cb: _click(cb, "segmentation", "x", {}),
     lambda cb: _click(cb, "segmentation", "x", "logit"), SEGMENTATION_AXIS + "an object"),
    ("metric click, axis a list", lambda cb: _click(cb, "metric", "x", ["angle", "angle"]),
     lambda cb: _click(cb, "metric", "x", "angle"), METRIC_AXIS + "a list"),
    ("metric click, axis an object", lambda cb: _click(cb, "metric", "x", {"a": [1]}),
     lambda cb: _click(cb, "metric", "x", "distance"), METRIC_AXIS + "an object"),
]


def _post(callbacks, body: dict):
    return callbacks.client.post(CALLBACK_PATH, data=json.dumps(body), content_type="application/json")


@pytest.mark.parametrize(("name", "bad", "good", "message"), CASES, ids=[case[0] for case in CASES])
def test_a_list_or_object_for_a_string_value_is_a_worded_400(callbacks, name, bad, good, message):
    answer = _post(callbacks, bad(callbacks))
    assert answer.status_code == 400, (name, answer.status_code, answer.data[:300])
    assert answer.content_type.startswith("application/json")
    assert answer.get_json() == {"error": "Bad Request", "message": message}
    # the same request with the value a browser sends is answered
    assert _post(callbacks, good(callbacks)).status_code == 200


def test_the_main_callback_refuses_a_list_for_a_radio_group(callbacks):
    """A list for the binary axis radio (it did not raise there: the charts were left alone, with no message)."""
    body = callbacks.valid_change("/binary", "binary-axis", ["prob"])
    index = next(i for i, entry in enumerate(body["inputs"]) if entry["id"] == "binary-axis")
    answer = _post(callbacks, body)
    assert answer.status_code == 400, answer.data[:300]
    assert answer.get_json()["message"] == (f"inputs[{index}] (binary-axis.value) must be a string or null (one of "
                                            "its choices: “logit” or “prob”); received a list")
