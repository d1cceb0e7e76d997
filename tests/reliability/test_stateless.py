"""Stateless callbacks: one session's callbacks replayed across two servers give the same answers as one.

The session is what a browser tab sends (bench.payloads.Tab): open a view (the
route callback), change controls one at a time with the previous answer's
query string as the State, click a chart, then follow the link to the next
view. It is replayed twice: step by step alternating between two independent
gunicorn servers (each with two workers, so the requests also hop between
processes), and all on one server. Every answer must be byte-identical, which
can only hold if no callback keeps state on the server between requests; and
at least 95% of each view's meant-valid requests must return charts.
"""

from __future__ import annotations

import json
import random

from . import CALLBACK_PATH, LONG, MIN_CHART_SHARE, ChartTally, Client, Tab

STEPS_PER_VISIT = 10
VISITS_PER_VIEW = 6 if LONG else 1  # every registered view is visited (the count follows the views)


def session_steps(callbacks, steps: int, seed: int, tally: ChartTally):
    """A generator of :class:`Step`s; send it each answer's ``(status, body)`` to get the next step."""
    rng = random.Random(seed)
    tabs = {path: Tab(callbacks.callback_map, path, tally=tally) for path in callbacks.view_paths}
    order = list(tabs)
    for step in range(steps):
        tab = tabs[order[(step // STEPS_PER_VISIT) % len(order)]]
        if step % STEPS_PER_VISIT == 0:
            tab.navigate()  # arriving by the nav link: a page load with the tab's current query
        # each visit ends with a click on a chart (a click's value is applied by the next visit's steps)
        current = tab.click_step(rng) if step % STEPS_PER_VISIT == STEPS_PER_VISIT - 1 else tab.next_step(rng)
        status, answer = yield current
        tab.answered(current, status, answer)


def replay(callbacks, clients: list[Client], steps: int, seed: int, tally: ChartTally):
    exchanges = []
    steps_gen = session_steps(callbacks, steps, seed, tally)
    step = next(steps_gen)
    for index in range(steps):
        status, _, answer = clients[index % len(clients)].post(CALLBACK_PATH, step.body)
        exchanges.append((step, status, answer))
        try:
            step = steps_gen.send((status, answer))
        except StopIteration:
            break
    return exchanges


def test_session_replayed_across_two_servers_equals_one(server, start_server, callbacks, figures):
    first, second = start_server("stateless-a"), start_server("stateless-b")
    spread_clients = [Client(first.port), Client(second.port)]
    single_client = [Client(server.port)]
    spread_tally, single_tally = ChartTally(), ChartTally()
    try:
        steps = STEPS_PER_VISIT * VISITS_PER_VIEW * len(callbacks.view_paths)
        spread = replay(callbacks, spread_clients, steps, 7, spread_tally)
        single = replay(callbacks, single_client, steps, 7, single_tally)
    finally:
        for client in spread_clients + single_client:
            client.close()
    assert len(spread) == len(single) == steps
    byte_equal = 0
    json_equal: dict[str, list[str]] = {}  # view -> "step kind" of answers equal as JSON only
    statuses = {}
    for index, ((step_a, status_a, answer_a), (step_b, status_b, answer_b)) in enumerate(
            zip(spread, single, strict=True)):
        assert step_a.body == step_b.body, f"step {index}: the two replays sent different requests"
        assert status_a == status_b, f"step {index}: {status_a} != {status_b}"
        statuses[status_a] = statuses.get(status_a, 0) + 1
        if answer_a == answer_b:
            byte_equal += 1
        else:
            assert json.loads(answer_a) == json.loads(answer_b), f"step {index} ({step_a.view}): answers differ"
            json_equal.setdefault(step_a.view, []).append(f"{index} {step_a.kind} {step_a.changed}".strip())
    figures["stateless replay"] = {"steps": steps, "byte_identical": byte_equal, "json_equal_only": json_equal,
                                   "statuses": statuses, "reached_charts": spread_tally.report()}
    assert set(statuses) <= {200, 204}, statuses
    assert byte_equal == steps, f"answers equal as JSON but not byte for byte: {json_equal}"
    problems = spread_tally.problems(callbacks.views, MIN_CHART_SHARE)
    assert not problems, (problems, spread_tally.report())
    assert spread_tally.report() == single_tally.report()
    clickable = [path.strip("/") for path in callbacks.view_paths if callbacks.tab(path).clicks]
    assert {"regression", "binary", "multiclass"} <= set(clickable), clickable
    assert all(spread_tally.report()[view]["clicks"] for view in clickable), spread_tally.report()
