"""Stateless callbacks: one session's callbacks replayed across two servers give the same answers as one.

The session is what a browser tab sends: open a view (the route callback),
change controls one at a time with the previous answer's query string as the
State, click a chart, move to the next view. It is replayed twice: step by
step alternating between two independent gunicorn servers (each with two
workers, so the requests also hop between processes), and all on one server.
Every answer must be byte-identical, which can only hold if no callback keeps
state on the server between requests.
"""

from __future__ import annotations

import json
import random

from . import (
    CALLBACK_PATH,
    JSON_HEADERS,
    LONG,
    KeepAliveClient,
    new_session,
    next_change,
    query_from_answer,
)

STEPS = 600 if LONG else 90
CLICK_TARGETS = {"regression": "regression-prediction-input.value", "binary": "binary-probability-input.value",
                 "multiclass": "multiclass-logits-input.value"}


def session_steps(callbacks, steps: int, seed: int):
    """A generator of request bodies; send it each answer (``.send(answer)``) to get the next body."""
    rng = random.Random(seed)
    sessions = {view: new_session(callbacks, view, seed) for view in CLICK_TARGETS}
    view = "regression"
    answer = None
    for step in range(steps):
        session = sessions[view]
        phase = step % 10
        if phase == 0:
            body = callbacks.route_body(f"/{view}", session.query or "")
        elif phase == 9:
            key = callbacks.key(CLICK_TARGETS[view])
            spec = callbacks.map[key]
            click = {"points": [{"x": round(rng.uniform(-4, 4), 3), "y": 1.0, "curveNumber": 0}]}
            values = {entry["id"]: click for entry in spec["inputs"]}
            state = {"binary-axis": session.values.get("binary-axis"),
                     "multiclass-logits-input": session.values.get("multiclass-logits-input"),
                     "multiclass-swept_class-input": session.values.get("multiclass-swept_class-input")}
            body = callbacks.body(key, values, [f"{spec['inputs'][0]['id']}.clickData"], state)
        else:
            body = next_change(callbacks, session, rng)
        answer = yield json.dumps(body).encode()
        query = query_from_answer(callbacks, view, answer or b"")
        if query is not None:
            session.query = query
        if phase == 9:
            view = {"regression": "binary", "binary": "multiclass", "multiclass": "regression"}[view]


def replay(callbacks, clients: list[KeepAliveClient], steps: int, seed: int):
    exchanges = []
    steps_gen = session_steps(callbacks, steps, seed)
    body = next(steps_gen)
    for index in range(steps):
        status, _, answer = clients[index % len(clients)].post_json(CALLBACK_PATH, body, JSON_HEADERS)
        exchanges.append((body, status, answer))
        try:
            body = steps_gen.send(answer if status == 200 else None)
        except StopIteration:
            break
    return exchanges


def test_session_replayed_across_two_servers_equals_one(server, start_server, callbacks, figures):
    first, second = start_server(name="stateless-a"), start_server(name="stateless-b")
    spread_clients = [KeepAliveClient(first.port), KeepAliveClient(second.port)]
    single_client = [KeepAliveClient(server.port)]
    try:
        spread = replay(callbacks, spread_clients, STEPS, seed=7)
        single = replay(callbacks, single_client, STEPS, seed=7)
    finally:
        for client in spread_clients + single_client:
            client.close()
    assert len(spread) == len(single) == STEPS
    byte_equal = json_equal = 0
    statuses = {}
    for step, ((body_a, status_a, answer_a), (body_b, status_b, answer_b)) in enumerate(zip(spread, single, strict=True)):
        assert body_a == body_b, f"step {step}: the two replays sent different requests"
        assert status_a == status_b, f"step {step}: {status_a} != {status_b}"
        statuses[status_a] = statuses.get(status_a, 0) + 1
        if answer_a == answer_b:
            byte_equal += 1
        else:
            assert json.loads(answer_a) == json.loads(answer_b), f"step {step}: answers differ"
            json_equal += 1
    figures["stateless replay"] = {"steps": STEPS, "byte_identical": byte_equal, "json_equal_only": json_equal,
                                   "statuses": statuses}
    assert set(statuses) <= {200, 204}, statuses
    assert statuses.get(200, 0) >= STEPS * 0.8
    assert byte_equal == STEPS
