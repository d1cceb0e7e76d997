"""The limits in ``losslab.dashboard.security``, at their exact boundaries (in process, no server)."""

from __future__ import annotations

import json

import pytest

from losslab.dashboard import security


def nested(depth: int):
    value = 0
    for _ in range(depth - 1):
        value = [value]
    return [value] if depth else value


def test_depth_limit_is_exact():
    security.check_shape(nested(security.MAX_JSON_DEPTH))
    with pytest.raises(ValueError, match="nested"):
        security.check_shape(nested(security.MAX_JSON_DEPTH + 1))


def test_value_count_limit_is_exact():
    security.check_shape([0] * (security.MAX_JSON_VALUES - 1))  # the list itself is one value
    with pytest.raises(ValueError, match="values"):
        security.check_shape([0] * security.MAX_JSON_VALUES)


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "[1e999]", "-1e400", "9" * 309,
                                  "[" * 50_000 + "]" * 50_000, '{"a": ' * 40 + "0" + "}" * 40])
def test_strict_loads_refuses(text):
    with pytest.raises(ValueError):
        security.strict_loads(text)


@pytest.mark.parametrize("value", [0, -0.0, 1.7976931348623157e308, 5e-324, int("9" * 308), "NaN", [None, True, {}]])
def test_strict_loads_accepts_what_a_browser_sends(value):
    assert security.strict_loads(json.dumps(value)) == value


def test_every_request_the_renderer_would_send_passes(callbacks):
    """Page loads, every control's change and chart clicks, as a tab builds them from the page load."""
    import random

    rng = random.Random(0)
    kinds = set()
    for path in callbacks.view_paths:
        tab = callbacks.tab(path, click_share=0.3)
        for control in tab.controls:
            body = json.loads(tab.change_body(control))
            assert security.callback_request_problem(callbacks.app, body) is None, (path, control)
        for _ in range(15):
            step = tab.next_step(rng)
            kinds.add(step.kind)
            assert security.callback_request_problem(callbacks.app, json.loads(step.body)) is None, (path, step)
            tab.answered(step, 200, callbacks.post(step.body))
    assert kinds == {"route", "change", "click"}, kinds  # the regression, binary and multiclass charts take clicks
    assert security.callback_request_problem(callbacks.app, callbacks.route_body("/", "")) is None


def test_an_unexpected_exception_is_a_500_without_its_trace(caplog):
    from losslab.dashboard import create_app

    app = create_app()

    @app.server.route("/reliability-boom")
    def boom():
        raise RuntimeError("secret detail")

    answer = app.server.test_client().get("/reliability-boom")
    assert answer.status_code == 500
    assert set(answer.get_json()) == {"error", "message", "reference"}
    assert b"secret detail" not in answer.data and b"Traceback" not in answer.data
    assert answer.get_json()["reference"] in caplog.text and "secret detail" in caplog.text
    assert "unsafe-eval" not in answer.headers["Content-Security-Policy"]
